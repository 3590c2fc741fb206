//! Whole trips (plan → approve → book) at a concurrency. Times come from the service's own
//! records (the trips index's created and updated times), so the benchmark's polling is not
//! counted in them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use travel_orchestration::TripState;

use super::driver::{Driver, Started};
use super::{
    BenchArgs, Samples, Scratch, idle_transactions_per_second, memory_mib, model_calls, round1,
};

/// Trips whose model calls are counted for the critical path (reading three agent threads each),
/// spread evenly over the run.
const CRITICAL_PATH_SAMPLE: usize = 50;

pub async fn run(args: &BenchArgs, scratch: &Scratch) -> anyhow::Result<serde_json::Value> {
    let running = scratch.start_service(args).await?;
    let driver = Arc::new(Driver::InProcess(Box::new(running.trips.clone())));
    let store = &running.trips.store().provider;
    let (transactions_before, empty_before) = (store.transactions(), store.empty_fetches());
    let held_before = store.write_turns_held();
    let commits_before = store.commits();
    let started = std::time::Instant::now();
    let result = drive(&driver, args).await;
    let run_time = started.elapsed();
    let held = store.write_turns_held() - held_before;
    let transactions = store.transactions() - transactions_before;
    let commits = store.commits() - commits_before;
    let empty_fetches = store.empty_fetches() - empty_before;
    let idle = idle_transactions_per_second(&running, args.idle_secs).await;
    let calls = model_calls(&running);
    running.engine.shutdown(Duration::from_secs(2)).await;
    let mut report = result?;
    report["modelCalls"] = calls;
    report["peakRssMiB"] = serde_json::json!(memory_mib("self", "VmHWM:"));
    report["idleStoreTransactionsPerSecond"] = serde_json::json!(idle);
    let per_trip = |n: u64| round1(n as f64 / args.trips.max(1) as f64);
    report["storeTransactionsPerTrip"] = serde_json::json!(per_trip(transactions));
    report["emptyFetchesPerTrip"] = serde_json::json!(per_trip(empty_fetches));
    // SQLite's writes take turns: the share of the run one of them was under way.
    if !held.is_zero() {
        report["writeTurnBusyPercent"] =
            serde_json::json!(round1(held.as_secs_f64() / run_time.as_secs_f64() * 100.0));
        report["writeTurnMicrosPerTrip"] =
            serde_json::json!(round1(held.as_secs_f64() * 1e6 / args.trips.max(1) as f64));
    }
    // SQLite's writer commits its writes in groups: how many a commit served.
    if commits > 0 {
        report["writesPerCommit"] = serde_json::json!(round1(transactions as f64 / commits as f64));
    }
    Ok(report)
}

struct Trip {
    n: usize,
    id: travel_orchestration::TripId,
    /// The service's own times of its start and of its plan awaiting approval.
    created: Option<chrono::DateTime<Utc>>,
    planned: Option<chrono::DateTime<Utc>>,
    plan_ms: Option<f64>,
    whole_ms: Option<f64>,
    approve_to_booked_ms: Option<f64>,
    /// How long the approval itself took to answer (recorded and queued for the workflow).
    decide_call_ms: f64,
}

/// Runs `args.trips` whole trips, `args.concurrency` at a time, and reports.
pub async fn drive(driver: &Arc<Driver>, args: &BenchArgs) -> anyhow::Result<serde_json::Value> {
    let poll = poll_interval(args);
    let follow = args.follow;
    let slots = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.trips);
    for n in 0..args.trips {
        let permit = slots.clone().acquire_owned().await?;
        let driver = driver.clone();
        let request = super::request(n, args.days);
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            whole_trip(&driver, n, &request, poll, follow).await
        }));
    }
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for task in tasks {
        match task.await? {
            Ok(trip) => done.push(trip),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    let [mut plan, mut whole, mut approval, mut decide_call] =
        std::array::from_fn::<Samples, 4, _>(|_| Samples::default());
    for trip in &done {
        for (samples, value) in [
            (&mut plan, trip.plan_ms),
            (&mut whole, trip.whole_ms),
            (&mut approval, trip.approve_to_booked_ms),
            (&mut decide_call, Some(trip.decide_call_ms)),
        ] {
            if let Some(ms) = value {
                samples.push_ms(ms);
            }
        }
    }
    let mut report = serde_json::json!({
        "trips": args.trips,
        "concurrency": args.concurrency,
        "days": args.days,
        "followedByEvents": args.follow,
        "booked": done.len(),
        "failed": failures.len(),
        "failures": failures.iter().take(5).collect::<Vec<_>>(),
        "seconds": round1(seconds),
        "tripsPerSecond": round1(done.len() as f64 / seconds),
        "planToApprovalMs": plan.summary(),
        "wholeTripMs": whole.summary(),
        "approveToBookedMs": approval.summary(),
        "decideCallMs": decide_call.summary(),
    });
    if args.latency_ms > 0 {
        report["modelCriticalPath"] = critical_path(driver, &done, args.latency_ms).await?;
    }
    Ok(report)
}

/// One trip: started, planned, approved, booked.
async fn whole_trip(
    driver: &Driver,
    n: usize,
    request: &travel_orchestration::TripRequest,
    poll: Duration,
    follow: bool,
) -> anyhow::Result<Trip> {
    let trip: Started = driver.start(n, request).await?;
    let (planned, approved_at, answered, booked) = match follow {
        // As a trip page does: the trip's events, one stream from start to end.
        true => {
            let mut events = driver.follow(n, &trip.id).await?;
            events.until(TripState::AwaitingApproval).await?;
            let planned = driver.status(n, &trip.id).await?;
            let approved_at = Utc::now();
            driver.approve(n, &trip).await?;
            let answered = Utc::now();
            events.until(TripState::Booked).await?;
            (
                planned,
                approved_at,
                answered,
                driver.status(n, &trip.id).await?,
            )
        }
        false => {
            let planned = driver
                .wait_for(n, &trip.id, TripState::AwaitingApproval, poll)
                .await?;
            let approved_at = Utc::now();
            driver.approve(n, &trip).await?;
            let answered = Utc::now();
            let booked = driver
                .wait_for(n, &trip.id, TripState::Booked, poll)
                .await?;
            (planned, approved_at, answered, booked)
        }
    };
    Ok(Trip {
        n,
        plan_ms: planned.elapsed_ms(),
        created: planned.created,
        planned: planned.updated,
        whole_ms: booked.elapsed_ms(),
        approve_to_booked_ms: booked
            .updated
            .and_then(|b| (b - approved_at).num_microseconds())
            .map(|us| us as f64 / 1000.0),
        decide_call_ms: (answered - approved_at)
            .num_microseconds()
            .map_or(0.0, |us| us as f64 / 1000.0),
        id: trip.id,
    })
}

/// Plan time against the model's critical path: the sequential model calls on the path that
/// ended last (the destination agent's, then the later of the two that run in parallel), as long
/// as the agents measured them (the demo model's added latency and its own work). What is left is
/// the service's own overhead, and where it went: before the first agent call (the start's turn,
/// the activity's fetch), between the agents (the answer's acknowledgement, a turn, the next
/// fetch), inside the agents but not waiting on the model (admission, tools, parsing), and after
/// the last answer (turns, the plan's save) until the plan awaits approval.
async fn critical_path(
    driver: &Driver,
    done: &[Trip],
    latency_ms: u64,
) -> anyhow::Result<serde_json::Value> {
    let mut calls_on_path = Samples::default();
    let mut path = Samples::default();
    let mut overhead = Samples::default();
    let mut overhead_percent = Samples::default();
    let [mut before, mut between, mut inside, mut after] =
        std::array::from_fn::<Samples, 4, _>(|_| Samples::default());
    let every = (done.len() / CRITICAL_PATH_SAMPLE).max(1);
    for trip in done.iter().step_by(every).take(CRITICAL_PATH_SAMPLE) {
        let (Some(plan_ms), Some(created), Some(planned)) =
            (trip.plan_ms, trip.created, trip.planned)
        else {
            continue;
        };
        let time = driver
            .critical_path(trip.n, &trip.id)
            .await?
            .plan_time(created, planned);
        calls_on_path.push_ms(time.calls as f64);
        path.push_ms(time.model_ms);
        overhead.push_ms(plan_ms - time.model_ms);
        overhead_percent.push_ms((plan_ms - time.model_ms) / time.model_ms * 100.0);
        for (samples, ms) in [
            (&mut before, time.before_first_agent_ms),
            (&mut between, time.between_agents_ms),
            (&mut inside, time.in_agents_not_model_ms),
            (&mut after, time.after_last_agent_ms),
        ] {
            samples.push_ms(ms);
        }
    }
    Ok(serde_json::json!({
        "callsOnPath": calls_on_path.summary(),
        "addedLatencyPerCallMs": latency_ms,
        "pathMs": path.summary(),
        "overheadMs": overhead.summary(),
        "overheadPercentOfPath": overhead_percent.summary(),
        "overheadWhereMs": {
            "beforeFirstAgent": before.summary(),
            "betweenAgents": between.summary(),
            "inAgentsNotModel": inside.summary(),
            "afterLastAgent": after.summary(),
        },
    }))
}

/// How often a waiting trip is looked at (`--status-poll-ms`), by default often enough at low
/// concurrency not to slow one trip down, rarely enough at high concurrency not to load the
/// store with status reads: about 2,500 reads a second in all, each trip at least every 2 s (as
/// the trip page polls). The times reported come from the service's records, so they do not
/// depend on this; only when the approval is given does.
pub(super) fn poll_interval(args: &BenchArgs) -> Duration {
    match args.status_poll_ms {
        Some(ms) => Duration::from_millis(ms.max(1)),
        None => Duration::from_micros((args.concurrency as u64 * 400).clamp(1_000, 2_000_000)),
    }
}
