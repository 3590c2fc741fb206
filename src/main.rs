//! `travel-planner`: the one binary of the service.

mod bench;
mod instances;
mod plan_once;

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use travel_demo_model::DemoModelConfig;
use travel_planner::telemetry::{self, LogFormat};
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: HTTP API and durable workflows on embedded defaults (SQLite file, plans
    /// in the data folder, the demo model when no LLM is configured).
    Serve(serve::ServeArgs),
    /// Plan a trip once, through the same workflow as `serve` on a throwaway store, and print
    /// the plan (nothing is kept, nothing is booked).
    Plan(plan_once::PlanArgs),
    /// Inspect and manage workflow instances (list, show, history, approve, terminate, purge).
    Instances(instances::InstancesArgs),
    /// Time whole trips (plan, approve, book) through the real engine against the demo model.
    Bench(bench::BenchArgs),
    /// Check that a running service answers `/healthz` (exit 0) or not (exit 1): the container
    /// image's health check, which has no shell or curl.
    Health {
        /// The URL to ask; by default `/healthz` on the address `serve` binds (`BIND`), through
        /// loopback.
        #[arg(long)]
        url: Option<String>,
        /// The address `serve` binds.
        #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
    },
    /// Serve the built-in demo model (an OpenAI-compatible Chat Completions endpoint) alone.
    DemoModel {
        /// Address to listen on.
        #[arg(long, env = "DEMO_MODEL_BIND", default_value = "127.0.0.1:8081")]
        bind: SocketAddr,
    },
}

#[global_allocator]
static ALLOCATOR: travel_platform::memory::Allocator = travel_platform::memory::Allocator;

/// Tunes the allocator before it starts: a constructor that runs ahead of mimalloc's own (see
/// `travel_platform::memory`).
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00101")]
static TUNE_ALLOCATOR: extern "C" fn() = travel_platform::memory::tune_allocator;

fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // The benchmark's, the plan's and the health check's own output is their report; routine
    // logs would drown it.
    let quiet = matches!(
        cli.command,
        Command::Bench(_) | Command::Plan(_) | Command::Health { .. }
    );
    travel_platform::memory::share_arenas();
    travel_platform::open_files::raise_to_hard_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let telemetry = telemetry::init(cli.log_format, quiet)?;
        let result = match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Plan(args) => plan_once::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Instances(args) => instances::run(args).await,
            Command::Health { url, bind } => health(url, bind).await,
            Command::DemoModel { bind } => serve_demo_model(bind).await,
        };
        telemetry.shutdown().await;
        result
    })
}

/// Exits 1 (through the error) unless `url`, or `/healthz` at `bind`, answers 200 within 5 s.
async fn health(url: Option<String>, bind: SocketAddr) -> anyhow::Result<()> {
    let url = url.unwrap_or_else(|| {
        let mut local = bind;
        if local.ip().is_unspecified() {
            local.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{local}/healthz")
    });
    let response = travel_platform::http::shared_client()
        .get(&url)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .with_context(|| format!("{url} did not answer"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    println!("{url}: {}", response.status());
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
