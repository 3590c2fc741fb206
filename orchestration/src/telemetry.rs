//! What the trips tell the process' metrics (the `metrics` facade; the service renders them at
//! `GET /metrics`): trips started and finished by outcome, trips by state (set when the metrics
//! are read), the intake conversations (opened, replies, trips they started), how long approvals
//! waited, the plan store's latency and errors, and the
//! notifications' delivery attempts. The engine's own metrics (`duroxide_*`) come through the
//! same facade.

use std::time::Duration;

use crate::progress::TripState;

pub(crate) fn trip_started() {
    metrics::counter!("travel_trips_started_total").increment(1);
}

pub(crate) fn trip_finished(state: TripState) {
    metrics::counter!("travel_trips_finished_total", "outcome" => state.as_str()).increment(1);
}

/// An intake conversation was opened.
pub(crate) fn conversation_opened() {
    metrics::counter!("travel_conversations_opened_total").increment(1);
}

/// The intake agent replied, in words or with a call of its tool.
pub(crate) fn conversation_reply(in_words: bool) {
    let kind = if in_words { "text" } else { "tool_call" };
    metrics::counter!("travel_conversation_replies_total", "kind" => kind).increment(1);
}

/// An intake conversation started its trip.
pub(crate) fn conversation_started_trip() {
    metrics::counter!("travel_conversations_started_trip_total").increment(1);
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
