//! `travel-planner bench`: whole trips through the real engine, stores and agents (against the
//! demo model with no added latency), timed; reports trips per second and peak memory.

use std::time::{Duration, Instant};

use travel_orchestration::request::Budget;
use travel_orchestration::{ApprovalDecision, EngineTuning, TripRequest, TripState};

use crate::serve::{self, ServeArgs};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Trips to run.
    #[arg(long, default_value_t = 50)]
    trips: usize,
    /// Trips in flight at once.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Trip length in days.
    #[arg(long, default_value_t = 4)]
    days: u32,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let data = std::env::temp_dir().join(format!("travel-planner-bench-{}", std::process::id()));
    let serve_args = ServeArgs {
        bind: "127.0.0.1:0".parse()?,
        data_dir: data.clone(),
        approval_timeout_secs: 3600,
        approval_webhook_url: None,
        public_base_url: None,
        admin_token: None,
        store: Default::default(),
        tuning: Default::default(),
    };
    let tuning = EngineTuning::default();
    let running = serve::start(&serve_args, &tuning).await?;
    let trips = running.trips.clone();
    let started = Instant::now();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let mut tasks = Vec::new();
    for n in 0..args.trips {
        let trips = trips.clone();
        let permit = semaphore.clone().acquire_owned().await?;
        let days = args.days;
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let request = TripRequest {
                traveler_name: format!("Bench traveller {n}"),
                preferences: [
                    "quiet beaches, seafood",
                    "temples and food",
                    "hiking and mountains",
                    "museums and art",
                ][n % 4]
                    .into(),
                duration_days: days,
                budget: Budget {
                    amount: 3000.0,
                    currency: "USD".into(),
                },
                start_date: None,
                travel_dates: None,
                special_requirements: None,
            };
            let t0 = Instant::now();
            let trip = trips.start(request).await?;
            let token = trip.approval_token.clone();
            wait_for(&trips, &trip.instance_id, TripState::AwaitingApproval).await?;
            let planned = t0.elapsed();
            trips
                .decide(
                    &trip.instance_id,
                    Some(&token),
                    ApprovalDecision {
                        approved: true,
                        comments: None,
                    },
                )
                .await?;
            wait_for(&trips, &trip.instance_id, TripState::Booked).await?;
            anyhow::Ok((planned, t0.elapsed()))
        }));
    }
    let mut planned = Vec::new();
    let mut whole = Vec::new();
    for task in tasks {
        let (p, w) = task.await??;
        planned.push(p);
        whole.push(w);
    }
    let elapsed = started.elapsed();
    planned.sort();
    whole.sort();
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize].as_millis();
    let report = serde_json::json!({
        "trips": args.trips,
        "concurrency": args.concurrency,
        "days": args.days,
        "seconds": (elapsed.as_secs_f64() * 100.0).round() / 100.0,
        "tripsPerSecond": ((args.trips as f64 / elapsed.as_secs_f64()) * 10.0).round() / 10.0,
        "planToApprovalMs": {"p50": pct(&planned, 0.5), "p95": pct(&planned, 0.95)},
        "wholeTripMs": {"p50": pct(&whole, 0.5), "p95": pct(&whole, 0.95)},
        "peakRssMiB": peak_rss_mib(),
        "tuning": format!("{tuning:?}"),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    running.engine.shutdown(Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

async fn wait_for(
    trips: &travel_orchestration::Trips,
    id: &str,
    state: TripState,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let status = trips.status(id).await?;
        if status.status == state {
            return Ok(());
        }
        if status.status.is_final() || Instant::now() > deadline {
            anyhow::bail!(
                "trip {id} is {} (waiting for {state}): {:?}",
                status.status,
                status.error
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}
