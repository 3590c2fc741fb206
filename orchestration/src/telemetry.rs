//! What the trips tell the process' metrics (the `metrics` facade; the service renders them at
//! `GET /metrics`): trips started and finished by outcome, trips by state (set when the metrics
//! are read), how long approvals waited, the plan store's latency and errors, and the
//! notifications' delivery attempts. The engine's own metrics (`duroxide_*`) come through the
//! same facade.

use std::time::Duration;

use crate::progress::TripState;
use crate::trip_index::TurnRecord;

pub(crate) fn trip_started() {
    metrics::counter!("travel_trips_started_total").increment(1);
}

pub(crate) fn trip_finished(state: TripState) {
    metrics::counter!("travel_trips_finished_total", "outcome" => state.as_str()).increment(1);
}

/// The trip's trace gets its spans of the workflow, exported in the background, off the
/// engine's path, from what the trips index has of the trip (its start, its plan awaiting
/// approval):
///
/// * when its first plan awaits approval (a turn that reports it), the root, from the trip's
///   start to then: the trace of a trip waiting for days has its root;
/// * when it ends: the review, from the last plan's approval request to the end, when a plan
///   awaited approval; otherwise the root, from the start to the end.
pub(crate) fn trip_traced(
    index: std::sync::Arc<crate::trip_index::TripIndex>,
    record: &TurnRecord,
) {
    let first_plan_waits = record.reports.contains(&(TripState::AwaitingApproval, 1));
    if !travel_platform::trace::is_exporting() || record.finished.is_none() && !first_plan_waits {
        return;
    }
    let (id, state) = (record.instance_id.clone(), record.state());
    let at = std::time::UNIX_EPOCH + Duration::from_millis(record.updated_ms);
    let ended = record.finished.is_some();
    tokio::spawn(async move {
        let row = index.get(&id).await.ok().flatten();
        let started = row
            .as_ref()
            .and_then(|row| row.created_at)
            .map(std::time::SystemTime::from)
            .unwrap_or(at)
            .min(at);
        // The plan under review when the trip ended, and since when it awaited approval.
        let reviewed = row
            .as_ref()
            .and_then(|row| row.progress.as_ref())
            .filter(|progress| progress.plan.is_some())
            .map(|progress| {
                let requested = progress.approval.as_ref().map(|w| w.requested_at);
                let revision = progress.plan.as_ref().map_or(1, |p| p.revision);
                (requested, revision)
            });
        match (ended, reviewed) {
            // The root went out when the first plan awaited approval.
            (true, Some((requested, revision))) => {
                let requested = requested
                    .map(std::time::SystemTime::from)
                    .unwrap_or(at)
                    .min(at);
                travel_platform::trace::export_trip_review(
                    &id,
                    requested,
                    at,
                    state.as_str(),
                    revision,
                );
            }
            (true, None) => {
                travel_platform::trace::export_trip_root(&id, started, at, state.as_str())
            }
            (false, _) => travel_platform::trace::export_trip_root(
                &id,
                started,
                at,
                TripState::AwaitingApproval.as_str(),
            ),
        }
    });
}

/// From the plan being ready for review to the decision.
pub(crate) fn approval_waited(waited: Duration) {
    metrics::histogram!("travel_approval_wait_seconds").record(waited.as_secs_f64());
}

/// One plan-store operation (the workflow's `save`), and whether it failed.
pub(crate) fn plan_store(operation: &'static str, took: Duration, failed: bool) {
    metrics::histogram!("travel_plan_store_seconds", "operation" => operation)
        .record(took.as_secs_f64());
    if failed {
        metrics::counter!("travel_plan_store_errors_total", "operation" => operation).increment(1);
    }
}

/// The trips in each state, from the trips index (a gauge per state, set just before the
/// metrics are rendered).
pub fn trips_by_state(counts: &std::collections::BTreeMap<String, usize>) {
    for state in TripState::ALL {
        let n = counts.get(state.as_str()).copied().unwrap_or(0);
        metrics::gauge!("travel_trips", "state" => state.as_str()).set(n as f64);
    }
}

/// The engine's queues as last counted (duroxide's own gauges, set when the metrics are read):
/// orchestration work waiting, timers not yet due included, and activities waiting.
pub fn engine_queue_depths(depths: &duroxide::providers::QueueDepths) {
    metrics::gauge!("duroxide_orchestrator_queue_depth").set(depths.orchestrator_queue as f64);
    metrics::gauge!("duroxide_worker_queue_depth").set(depths.worker_queue as f64);
}

/// One attempt at delivering a notification: `delivered`, `retrying` or `given_up`.
pub(crate) fn notification_attempt(event: &'static str, outcome: &'static str) {
    metrics::counter!("travel_notifications_total", "event" => event, "outcome" => outcome)
        .increment(1);
}
