//! `travel-planner bench`: whole trips through the real engine, stores and agents, against the
//! built-in demo model, timed. Four measurements (`docs/benchmarks.md` has the figures):
//!
//! * whole trips (plan → approve → book) at a concurrency, in this process ([`whole_trips`]);
//! * the same over HTTP against N `serve` processes sharing one PostgreSQL store ([`processes`]);
//! * N trips parked at the approval wait: memory, store size, approval latency, list latency
//!   ([`parked`]);
//! * N travellers planning by chat at once: each reply's time, from "yes" to the trip started
//!   ([`conversations`]).
//!
//! Each run uses a throwaway data folder (and, on PostgreSQL, its own schema), removed at the end.

mod conversations;
mod driver;
mod parked;
mod processes;
mod whole_trips;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use travel_orchestration::TripRequest;
use travel_orchestration::request::Budget;

use travel_planner::serve::{self, Running, ServeArgs};
use travel_planner::store_args::{StoreArgs, TuningArgs};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Whole trips to run (plan, approve, book).
    #[arg(long, default_value_t = 50)]
    trips: usize,
    /// Trips in flight at once.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Trip length in days.
    #[arg(long, default_value_t = 4)]
    days: u32,
    /// Delay the demo model adds to every call, in milliseconds (a real model takes seconds).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The demo model's rate limit, requests a minute: it sends OpenAI's rate-limit headers and
    /// refuses what the budget does not hold with 429.
    #[arg(long)]
    model_requests_per_minute: Option<u64>,
    /// The demo model's rate limit, tokens a minute (see --model-requests-per-minute).
    #[arg(long)]
    model_tokens_per_minute: Option<u64>,
    /// Run on this PostgreSQL database (in a schema of its own, dropped afterwards) instead of a
    /// SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// Run on this Durable Task scheduler instead (its task hub `default`: a backend on this
    /// machine, such as `scripts/durable-task-backend`'s), the trips index in a SQLite file.
    #[arg(long, conflicts_with_all = ["database_url", "processes"])]
    durable_task_endpoint: Option<String>,
    /// Drive N `serve` processes over HTTP instead of running trips in this process (N > 1 needs
    /// --database-url: the processes share one PostgreSQL store). They run on the demo model,
    /// without webhook or blob container; --idle-secs does not apply.
    #[arg(long, default_value_t = 0)]
    processes: usize,
    /// Park N trips at the approval wait, then report memory, store bytes per trip, approval
    /// latency and the trips list's latency (instead of whole trips).
    #[arg(long, default_value_t = 0)]
    park: usize,
    /// Run N intake conversations instead (each opened, three messages, the trip started on
    /// "yes"), --concurrency at once: each reply's time, and from "yes" to the trip started.
    #[arg(long, default_value_t = 0, conflicts_with_all = ["processes", "park", "follow"])]
    conversations: usize,
    /// With --park: how many parked trips to approve, one at a time, picked at random.
    #[arg(long, default_value_t = 200)]
    approve: usize,
    /// How often each waiting trip's status is read, in milliseconds, as a trip page would (by
    /// default about 2,500 reads a second in all, each trip at least every 2 s). The times
    /// reported come from the service's records and do not depend on it.
    #[arg(long)]
    status_poll_ms: Option<u64>,
    /// Follow each trip by its event stream, as an open trip page does (`GET
    /// /api/trips/{id}/events`; over HTTP on the process after the one that started it), instead
    /// of reading its status every --status-poll-ms.
    #[arg(long, conflicts_with_all = ["park", "status_poll_ms"])]
    follow: bool,
    /// After the run, how long to stay idle while counting the store transactions (0: skip).
    #[arg(long, default_value_t = 5)]
    idle_secs: u64,
    #[command(flatten)]
    tuning: TuningArgs,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.processes > 1 && args.database_url.is_none() {
        anyhow::bail!(
            "--processes {} needs --database-url: processes share a PostgreSQL store, never a SQLite file",
            args.processes
        );
    }
    if args.processes > 0 && args.park > 0 {
        anyhow::bail!("--park measures one process from the inside: leave out --processes");
    }
    let scratch = Scratch::new(
        args.database_url.clone(),
        args.durable_task_endpoint.clone(),
    );
    let file_create_us = file_create_us(&scratch.data_dir);
    let report = if args.processes > 0 {
        processes::run(&args, &scratch).await
    } else if args.park > 0 {
        parked::run(&args, &scratch).await
    } else if args.conversations > 0 {
        conversations::run(&args, &scratch).await
    } else {
        whole_trips::run(&args, &scratch).await
    };
    scratch.remove().await;
    let mut report = report?;
    report["tuning"] = serde_json::json!(format!("{:?}", args.tuning.tuning()));
    report["store"] = serde_json::json!(if args.database_url.is_some() {
        "postgresql"
    } else if args.durable_task_endpoint.is_some() {
        "durable-task"
    } else {
        "sqlite"
    });
    report["latencyMsPerModelCall"] = serde_json::json!(args.latency_ms);
    report["fileCreateMicros"] = serde_json::json!(file_create_us);
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// The run's throwaway data folder and PostgreSQL schema.
struct Scratch {
    data_dir: PathBuf,
    database_url: Option<String>,
    durable_task_endpoint: Option<String>,
    schema: String,
}

impl Scratch {
    fn new(database_url: Option<String>, durable_task_endpoint: Option<String>) -> Self {
        let id = std::process::id();
        Self {
            data_dir: std::env::temp_dir().join(format!("travel-planner-bench-{id}")),
            database_url,
            durable_task_endpoint,
            schema: format!("travel_planner_bench_{id}"),
        }
    }

    fn store_args(&self) -> StoreArgs {
        StoreArgs {
            database_url: self.database_url.clone(),
            database_schema: self.schema.clone(),
            database_entra_auth: false,
            durable_task_endpoint: self.durable_task_endpoint.clone(),
            durable_task_hub: None,
        }
    }

    /// Starts the whole service in this process, on the demo model with `latency`. Plans go
    /// where the environment says (the throwaway data folder unless a blob container is set).
    async fn start_service(&self, args: &BenchArgs) -> anyhow::Result<Running> {
        let serve_args = ServeArgs {
            store: self.store_args(),
            tuning: args.tuning.clone(),
            ..ServeArgs::on_data_dir(&self.data_dir)
        };
        let running = serve::start(&serve_args, &args.tuning.tuning()).await?;
        let demo = running.demo_model().context(
            "bench measures the service against the built-in demo model: unset the LLM settings (OPENAI_*, AZURE_OPENAI_*)",
        )?;
        demo.set_latency(Duration::from_millis(args.latency_ms));
        demo.set_rate_limit(args.model_rate_limit());
        Ok(running)
    }

    async fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(url) = &self.database_url {
            match travel_orchestration::engine::postgres::drop_schema(url, &self.schema).await {
                Ok(()) => {}
                Err(e) => eprintln!("bench: could not drop schema {}: {e}", self.schema),
            }
        }
    }
}

impl BenchArgs {
    fn model_rate_limit(&self) -> travel_demo_model::RateLimit {
        travel_demo_model::RateLimit {
            requests_per_minute: self.model_requests_per_minute,
            tokens_per_minute: self.model_tokens_per_minute,
        }
    }
}

/// The calls to the model: how many were in flight at most, as the service counted them and as
/// the model saw them, how many waited for the model's rate-limit budget, and how many the model
/// refused for its rate limit (429).
fn model_calls(running: &Running) -> serde_json::Value {
    let admission = running.llm().admission();
    let (refused, answered_at_once) = running
        .demo_model()
        .map(|demo| demo.rate_limited_and_peak())
        .unwrap_or_default();
    serde_json::json!({
        "limitInFlight": admission.limit,
        "peakInFlight": admission.peak_in_flight,
        "heldBackForRateLimit": admission.held_back,
        "peakAnsweredAtOnceByModel": answered_at_once,
        "refusedByModelWith429": refused,
    })
}

/// The n-th benchmark traveller's request (four kinds of preferences, so four destinations).
fn request(n: usize, days: u32) -> TripRequest {
    TripRequest {
        traveller_name: format!("Bench traveller {n}"),
        preferences: [
            "quiet beaches, seafood",
            "temples and food",
            "hiking and mountains",
            "museums and art",
        ][n % 4]
            .into(),
        duration_days: days,
        budget: Budget {
            amount: travel_agents::Amount::units(3000),
            currency: "USD".into(),
        },
        start_date: None,
        travel_dates: None,
        special_requirements: None,
    }
}

/// Sorted samples, in milliseconds.
#[derive(Debug, Default)]
struct Samples(Vec<f64>);

impl Samples {
    fn push(&mut self, value: Duration) {
        self.0.push(value.as_secs_f64() * 1000.0);
    }

    fn push_ms(&mut self, ms: f64) {
        self.0.push(ms);
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(i).map(|v| (v * 10.0).round() / 10.0)
    }

    fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.0.len(),
            "p50": self.percentile(0.5),
            "p95": self.percentile(0.95),
            "max": self.percentile(1.0),
        })
    }
}

/// A process' memory (Linux) in MiB: `field` is `VmRSS:` (now) or `VmHWM:` (the peak);
/// `process` is `self` or a process id.
fn memory_mib(process: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

/// Files created in the probe of [`file_create_us`].
const FILE_PROBES: usize = 200;

/// What creating a small file costs in the run's data folder, in microseconds, measured before
/// the run. With the local plan store each trip creates four (its plan's folder, the plan's two
/// documents, its booking), and on this kind of machine that costs 20 µs on a fresh filesystem
/// but 200-900 µs where many files were deleted in the minutes before (ext4 passes over recently
/// freed inodes one by one): a quarter of the CPU of a run at c=50. Runs compare only when this
/// does (`docs/benchmarks.md`).
fn file_create_us(dir: &std::path::Path) -> Option<f64> {
    let probe = dir.join("file-create-probe");
    std::fs::create_dir_all(&probe).ok()?;
    let started = Instant::now();
    for n in 0..FILE_PROBES {
        std::fs::write(probe.join(n.to_string()), [0u8; 4096]).ok()?;
    }
    Some(round1(
        started.elapsed().as_secs_f64() * 1e6 / FILE_PROBES as f64,
    ))
}

/// Store transactions per second while the service sits idle for `secs`.
async fn idle_transactions_per_second(running: &Running, secs: u64) -> Option<f64> {
    if secs == 0 {
        return None;
    }
    // Let the last trips' follow-up turns settle first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let store = &running.trips.store().provider;
    let before = store.transactions();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let per_second = (store.transactions() - before) as f64 / started.elapsed().as_secs_f64();
    Some((per_second * 100.0).round() / 100.0)
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
