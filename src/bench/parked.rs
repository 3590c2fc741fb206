//! N trips parked at the approval wait, as a service holding a week of pending approvals would
//! be: the process' memory, the store's bytes per trip, how fast they parked, then approvals of
//! trips picked at random (one at a time, approve to booked) and the trips list's first page.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use travel_orchestration::management::InstanceQuery;
use travel_orchestration::{ApprovalDecision, TripState};

use super::driver::{Driver, Started};
use super::{BenchArgs, Samples, Scratch, idle_transactions_per_second, memory_mib, round1};

/// Times the trips list's first page is read.
const LIST_READS: usize = 200;

pub async fn run(args: &BenchArgs, scratch: &Scratch) -> anyhow::Result<serde_json::Value> {
    let running = scratch.start_service(args).await?;
    let result = measure(args, &running).await;
    let idle = idle_transactions_per_second(&running, args.idle_secs).await;
    running.engine.shutdown(Duration::from_secs(2)).await;
    let mut report = result?;
    report["idleStoreTransactionsPerSecond"] = serde_json::json!(idle);
    report["peakRssMiB"] = serde_json::json!(memory_mib("self", "VmHWM:"));
    Ok(report)
}

async fn measure(
    args: &BenchArgs,
    running: &travel_planner::serve::Running,
) -> anyhow::Result<serde_json::Value> {
    let trips = &running.trips;
    // The housekeeping a running service does every 30 s (see `Running::housekeeping`) runs
    // here too, and once more before each measure.
    running.housekeeping().await;
    let _housekeeping = running.repair_now_and_then();
    let store_before = trips.store().size_bytes().await?;
    // Only the trips to be approved are remembered, so that the benchmark's own bookkeeping
    // does not count in the memory reported.
    let mut to_approve = BTreeSet::new();
    let wanted = args.approve.min(args.park);
    while to_approve.len() < wanted {
        to_approve.insert(fastrand::usize(..args.park));
    }
    let to_approve = Arc::new(to_approve);

    let driver = Arc::new(Driver::InProcess(Box::new(trips.clone())));
    let Parked {
        chosen,
        failures,
        seconds: park_seconds,
    } = park(args, &driver, to_approve).await?;
    let parked = args.park - failures.len();
    running.housekeeping().await;
    let rss_parked = memory_mib("self", "VmRSS:");
    let store_bytes = trips
        .store()
        .size_bytes()
        .await?
        .saturating_sub(store_before);

    let (decide, approve_to_booked) = approve_one_at_a_time(trips, &driver, &chosen).await?;
    let list = list_reads(trips, parked == chosen.len()).await?;

    Ok(serde_json::json!({
        "parked": parked,
        "failed": failures.len(),
        "failures": failures.iter().take(5).collect::<Vec<_>>(),
        "concurrency": args.concurrency,
        "secondsToPark": round1(park_seconds),
        "parkedPerSecond": round1(parked as f64 / park_seconds),
        "rssMiBWhileParked": rss_parked,
        "storeBytesPerParkedTrip": (store_bytes as f64 / parked.max(1) as f64).round(),
        "approved": chosen.len(),
        "decideCallMs": decide.summary(),
        "approveToBookedMs": approve_to_booked.summary(),
        "listFirstPageByStatusMs": list.summary(),
    }))
}

/// The trips parked at the approval wait: those picked for approval, and what failed.
struct Parked {
    chosen: Vec<Started>,
    failures: Vec<String>,
    seconds: f64,
}

/// Starts `args.park` trips, `args.concurrency` at a time, each until it waits for approval.
async fn park(
    args: &BenchArgs,
    driver: &Arc<Driver>,
    to_approve: Arc<BTreeSet<usize>>,
) -> anyhow::Result<Parked> {
    let slots = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let poll = super::whole_trips::poll_interval(args);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut chosen = Vec::new();
    let mut failures = Vec::new();
    let mut collect =
        |outcome: Result<anyhow::Result<Option<Started>>, tokio::task::JoinError>| match outcome {
            Ok(Ok(Some(trip))) => chosen.push(trip),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => failures.push(format!("{e:#}")),
            Err(e) => failures.push(e.to_string()),
        };
    for n in 0..args.park {
        let permit = slots.clone().acquire_owned().await?;
        let (driver, to_approve) = (driver.clone(), to_approve.clone());
        let request = super::request(n, args.days);
        tasks.spawn(async move {
            let _permit = permit;
            let trip = driver.start(n, &request).await?;
            driver
                .wait_for(n, &trip.id, TripState::AwaitingApproval, poll)
                .await?;
            anyhow::Ok(to_approve.contains(&n).then_some(trip))
        });
        while let Some(outcome) = tasks.try_join_next() {
            collect(outcome);
        }
        if n > 0 && n % 10_000 == 0 {
            eprintln!(
                "bench: {n} trips parked in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    while let Some(outcome) = tasks.join_next().await {
        collect(outcome);
    }
    Ok(Parked {
        seconds: started.elapsed().as_secs_f64(),
        chosen,
        failures,
    })
}

/// Approvals, one at a time: from the decision's call to the booking, as the service recorded it.
/// Answers the `decide` calls' times and approve-to-booked.
async fn approve_one_at_a_time(
    trips: &travel_orchestration::Trips,
    driver: &Driver,
    chosen: &[Started],
) -> anyhow::Result<(Samples, Samples)> {
    let mut decide = Samples::default();
    let mut approve_to_booked = Samples::default();
    for trip in chosen {
        let approved_at = Utc::now();
        let called = Instant::now();
        let decision = ApprovalDecision::new(true, None);
        trips.decide(&trip.id, Some(&trip.token), decision).await?;
        decide.push(called.elapsed());
        let booked = driver
            .wait_for(0, &trip.id, TripState::Booked, Duration::from_micros(500))
            .await?;
        if let Some(us) = booked
            .updated
            .and_then(|b| (b - approved_at).num_microseconds())
        {
            approve_to_booked.push_ms(us as f64 / 1000.0);
        }
    }
    Ok((decide, approve_to_booked))
}

/// The operators' list, filtered by status, first page.
async fn list_reads(
    trips: &travel_orchestration::Trips,
    may_be_empty: bool,
) -> anyhow::Result<Samples> {
    let mut list = Samples::default();
    let query = InstanceQuery {
        status: Some(TripState::AwaitingApproval),
        ..Default::default()
    };
    for _ in 0..LIST_READS {
        let called = Instant::now();
        let page = trips.instances(&query).await?;
        list.push(called.elapsed());
        anyhow::ensure!(!page.items.is_empty() || may_be_empty, "the list is empty");
    }
    Ok(list)
}
