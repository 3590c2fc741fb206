//! The trips' traces: the workflow's spans of each trip, exported as its turns are recorded.

use std::sync::Arc;
use std::time::Duration;

use super::{TripIndex, TurnRecord};
use crate::progress::TripState;

/// The trip's trace gets its spans of the workflow, exported in the background, off the
/// engine's path, from what the trips index has of the trip (its start, its plan awaiting
/// approval):
///
/// * when its first plan awaits approval (a turn that reports it), the root, from the trip's
///   start to then: the trace of a trip waiting for days has its root;
/// * when it ends: the review, from the last plan's approval request to the end, when a plan
///   awaited approval; otherwise the root, from the start to the end.
pub(super) fn trip_traced(index: Arc<TripIndex>, record: &TurnRecord) {
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
