//! `travel-planner`: the one binary of the service.

mod bench;
mod instances;

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use travel_agents::{CurrencyCode, DestinationBrief, Money, TravellerBrief};
use travel_demo_model::DemoModelConfig;
use travel_planner::{serve, shutdown_signal};

/// Durable, agent-driven trip planning with human approval.
///
/// Configuration comes from environment variables (a `.env` file is read if present) and these
/// flags; the README has the full table.
#[derive(Debug, Parser)]
#[command(name = "travel-planner", version, about, long_about = None)]
struct Cli {
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: HTTP API and durable workflows on embedded defaults (SQLite file, plans
    /// in the data folder, the demo model when no LLM is configured).
    Serve(serve::ServeArgs),
    /// Run the three agents once for a request and print the plan (no workflow, nothing saved).
    Plan(PlanArgs),
    /// Inspect and manage workflow instances (list, show, history, approve, terminate, purge).
    Instances(instances::InstancesArgs),
    /// Time whole trips (plan, approve, book) through the real engine against the demo model.
    Bench(bench::BenchArgs),
    /// Serve the built-in demo model (an OpenAI-compatible Chat Completions endpoint) alone.
    DemoModel {
        /// Address to listen on.
        #[arg(long, env = "DEMO_MODEL_BIND", default_value = "127.0.0.1:8081")]
        bind: SocketAddr,
    },
}

#[derive(Debug, clap::Args)]
struct PlanArgs {
    /// What the traveller wants, in their own words.
    #[arg(long)]
    preferences: String,
    /// Trip length in days (1-21).
    #[arg(long, default_value_t = 4)]
    days: u32,
    /// Budget amount.
    #[arg(long, default_value_t = 2500.0)]
    budget: f64,
    /// Budget currency (ISO 4217).
    #[arg(long, default_value = "USD")]
    currency: String,
    /// First day of the trip (YYYY-MM-DD).
    #[arg(long)]
    start_date: Option<chrono::NaiveDate>,
    /// Free-text travel dates, when there is no start date.
    #[arg(long)]
    travel_dates: Option<String>,
    /// Special requirements (diet, mobility, ...).
    #[arg(long)]
    requirements: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // The benchmark's own output is its report; the service's routine logs would drown it.
    let quiet = matches!(cli.command, Command::Bench(_));
    init_tracing(cli.log_format, quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Plan(args) => plan(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Instances(args) => instances::run(args).await,
            Command::DemoModel { bind } => serve_demo_model(bind).await,
        }
    })
}

fn init_tracing(format: LogFormat, quiet: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // duroxide's dispatchers log retried store errors as warnings; they show when RUST_LOG
        // asks for them.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(if quiet {
                "error"
            } else {
                "info,duroxide=warn,duroxide::runtime::dispatchers=error"
            })
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn plan(args: PlanArgs) -> anyhow::Result<()> {
    let currency = CurrencyCode::parse(&args.currency).context("--currency")?;
    let traveller = TravellerBrief {
        preferences: args.preferences,
        duration_days: args.days,
        budget: Money::new(args.budget, currency),
        start_date: args.start_date,
        travel_dates: args.travel_dates,
        special_requirements: args.requirements,
    };
    let running = travel_planner::model::agents_from_env().await?;
    let agents = &running.configured.agents;
    let destinations = agents.destination.run(&traveller).await?;
    let top = destinations.output.top().context("no destination")?.clone();
    let brief = DestinationBrief {
        destination: top,
        traveller,
    };
    let (itinerary, tips) =
        tokio::join!(agents.itinerary.run(&brief), agents.local_tips.run(&brief));
    let (itinerary, tips) = (itinerary?, tips?);
    let threads = [&destinations.thread, &itinerary.thread, &tips.thread];
    let plan = serde_json::json!({
        "demo": running.configured.llm.is_demo(),
        "destinations": destinations.output,
        "chosen": brief.destination,
        "itinerary": itinerary.output,
        "localTips": tips.output,
        "usage": threads.iter().map(|t| serde_json::json!({"agent": t.agent, "usage": t.usage, "rounds": t.rounds.len()})).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&plan)?);
    Ok(())
}

async fn serve_demo_model(bind: SocketAddr) -> anyhow::Result<()> {
    let config =
        DemoModelConfig::from_env_with(|n| std::env::var(n).ok()).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(base_url = %travel_demo_model::base_url(listener.local_addr()?), "demo model listening");
    travel_demo_model::serve(listener, config, shutdown_signal()).await?;
    Ok(())
}
