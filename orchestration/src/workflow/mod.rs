//! The durable trip workflow, in five steps (`review::plan_and_review`, with the step 2 of
//! [`revision_5`], the revision new trips run):
//!
//! 1. the destination agent recommends three destinations; the trip goes to the first;
//! 2. the itinerary, local-tips and packing agents plan for it, in parallel;
//! 3. the totals are computed in code and the plan is saved through the plan store;
//! 4. a durable wait for the reviewer's answer ([`boundary::APPROVAL`]) races the approval window
//!    (7 days by default), with nothing in flight; the notifications of every state change
//!    announce it (`crate::notifications`). The reviewer may ask for changes instead: the
//!    itinerary and tips are planned again with their comments, for another recommended
//!    destination if they chose one, saved as the next revision, and the wait starts again (at
//!    most `max_revisions` times);
//! 5. approved: booked (idempotently, keyed by the trip); rejected or expired: finished unbooked.
//!
//! # Changing the workflow safely
//!
//! A trip waits up to seven days, and at every turn the engine replays the trip's recorded
//! history through this code. So:
//!
//! * **Deterministic.** No clock, randomness, environment, I/O or iteration over unordered maps
//!   here: every side effect and every reading of the outside world is an activity
//!   ([`crate::activities`]), whose result is recorded. Time comes from an activity
//!   (`SaveNewPlan` stamps the plan) or from the engine (`ctx.utc_now()`, recorded).
//! * **Recorded shape.** Each activity call (name and input), timer, event wait and progress
//!   report is checked on replay against the history. Adding, removing or reordering any of them
//!   breaks every trip recorded before the change.
//! * **Revisions.** A change of shape is a new revision, with a module of its own registered
//!   with the engine as its own version ([`registry`]): write `revision_N.rs` (revisions 4 and
//!   5 differ in their step 2 only, so each module is its `plan_for`; a revision that changes
//!   more brings its own flow), raise [`WORKFLOW_REVISION`], and leave the old module as it is
//!   (it is frozen: trips started on it replay through it). The engine records each
//!   trip's version when it starts and runs that version's handler at every turn. Steps that
//!   revisions share live in [`trip`] (all of them) and [`review`] (4 on): change them only in
//!   words. Check a new revision
//!   the way `tests/workflow_revisions.rs` does: a store recorded by the previous release
//!   (checked in under `tests/fixtures/workflow-revisions/`) must still finish on the new code.
//! * **Records.** What the workflow takes and passes ([`types`]) lives in histories: change it
//!   only in ways old records still read (`#[serde(default)]` on new fields).
//!
//! # Versions
//!
//! | Engine version | Trips | Handler |
//! |---|---|---|
//! | 1.0.0 | started before each revision had its own version (releases up to revision 4) | by the revision in their input: [`revisions_1_to_3`] or [`revision_4`] |
//! | 4.0.0 | started by revision 4 after it had its version | [`revision_4`] |
//! | 5.0.0 | started by revision 5 (a packing list) | [`revision_5`] |
//!
//! During a rolling upgrade on PostgreSQL, a process without a trip's version sets the trip
//! aside (the engine retries it later, with back-off) and a process that has it runs it.

pub mod boundary;
mod durable;
mod review;
pub mod revision_4;
pub mod revision_5;
pub mod revisions_1_to_3;
mod trip;
mod types;

use duroxide::{OrchestrationContext, OrchestrationRegistry};

pub use types::{
    ActivityFailure, ApprovalAnnounced, ApprovalRequest, PlanSaved, Retry, RetrySettings, Reused,
    TripInput,
};

use crate::progress::TripOutcome;
use review::plan_and_review;

/// The orchestration's registered name.
pub const ORCHESTRATION: &str = "TripPlanning";

/// The revision of the workflow new trips run; recorded in their input.
pub const WORKFLOW_REVISION: u32 = 5;

/// The engine version new trips start on: the revision's.
pub const WORKFLOW_VERSION: &str = "5.0.0";

/// The engine version of every trip started before revisions had versions of their own.
pub const FIRST_VERSION: &str = "1.0.0";

/// The workflow's registry: every version a recorded trip may be on, the newest last (the
/// engine starts a trip without a version on the newest).
pub fn registry() -> OrchestrationRegistry {
    OrchestrationRegistry::builder()
        .register_versioned_typed::<TripInput, TripOutcome, _, _>(
            ORCHESTRATION,
            FIRST_VERSION,
            by_recorded_revision,
        )
        .register_versioned_typed::<TripInput, TripOutcome, _, _>(
            ORCHESTRATION,
            "4.0.0",
            |ctx, input| plan_and_review(ctx, input, revision_4::plan_for),
        )
        .register_versioned_typed::<TripInput, TripOutcome, _, _>(
            ORCHESTRATION,
            WORKFLOW_VERSION,
            |ctx, input| plan_and_review(ctx, input, revision_5::plan_for),
        )
        .build_result()
        .expect("each version registered once, in order")
}

/// Trips at [`FIRST_VERSION`]: their input says which revision they run.
async fn by_recorded_revision(
    ctx: OrchestrationContext,
    input: TripInput,
) -> Result<TripOutcome, String> {
    match input.workflow_revision {
        1..=3 => revisions_1_to_3::plan_trip(ctx, input).await,
        _ => plan_and_review(ctx, input, revision_4::plan_for).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_trips_start_on_the_version_of_their_revision_the_newest_registered() {
        assert_eq!(WORKFLOW_VERSION, format!("{WORKFLOW_REVISION}.0.0"));
        let newest = registry().resolve_version(ORCHESTRATION).unwrap();
        assert_eq!(newest.to_string(), WORKFLOW_VERSION);
    }
}
