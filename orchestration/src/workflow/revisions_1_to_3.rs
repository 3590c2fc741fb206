//! Revisions 1 to 3, frozen: trips started by those releases may still be waiting for their
//! approval, and replay through this code. No new trip runs it.
//!
//! 1. the first: a `utc_now` step stamps the plan, then `SavePlan`; the approval is always
//!    announced (an activity that does nothing without a webhook);
//! 2. `SaveNewPlan` stamps the plan as it saves it (one step fewer), and the announcement step
//!    runs only when a webhook is configured;
//! 3. a step tried again after a failure says so in the progress (`retrying`), and again when it
//!    goes through.
//!
//! The plan is approved or rejected as it is: changes cannot be asked for.

use std::time::Duration;

use duroxide::{Either2, OrchestrationContext};

use super::boundary;
use super::trip::{Stamp, Trip};
use super::types::{ApprovalRequest, TripInput};
use crate::progress::{ApprovalDecision, ApprovalWindow, SavedPlan, TripOutcome, TripStep};

/// The workflow of revisions 1 to 3, as `input.workflow_revision` says.
pub async fn plan_trip(ctx: OrchestrationContext, input: TripInput) -> Result<TripOutcome, String> {
    let revision = input.workflow_revision;
    let mut trip = Trip::start(&ctx, input, revision >= 3);

    // 1. Destinations, 2. itinerary and local tips, 3. the plan, saved.
    let (destinations, brief) = trip.recommend_destinations().await?;
    let (itinerary, tips) = trip.plan_days_and_tips(&brief).await?;
    trip.progress.enter(TripStep::Saving, "Saving the plan");
    let plan = trip.assemble_plan(&brief, &destinations, itinerary, tips);
    let stamp = match revision {
        1 => Stamp::BeforeSaving,
        _ => Stamp::AsSaved,
    };
    let (saved, saved_at) = trip.save(plan, stamp).await?;

    // 4. Approval, announced by a step of its own.
    let window = trip.approval_window(saved_at);
    if revision == 1 || trip.input.announce_approval {
        announce_approval(&trip, &saved, &window).await?;
    }
    trip.progress.now.approval = Some(window);
    trip.progress
        .enter(TripStep::AwaitingApproval, "Waiting for approval");
    let decision = wait_for_decision(&trip).await;

    // 5. Booked, or finished without booking.
    trip.conclude(saved, decision).await
}

/// Tells the approvers (the webhook).
async fn announce_approval(
    trip: &Trip<'_>,
    saved: &SavedPlan,
    window: &ApprovalWindow,
) -> Result<(), String> {
    let approval = ApprovalRequest {
        instance_id: trip.ctx.instance_id(),
        traveller_name: trip.input.request.traveller_name.clone(),
        destination: trip.progress.now.destination.clone().unwrap_or_default(),
        plan: saved.clone(),
        window: window.clone(),
    };
    let retry = &trip.input.retries.storage;
    trip.run(boundary::REQUEST_APPROVAL, &approval, retry)
        .await?;
    Ok(())
}

/// The decision, or `None` when the window closes first. The event's data is read as a
/// decision: changes could not be asked for.
async fn wait_for_decision(trip: &Trip<'_>) -> Option<ApprovalDecision> {
    let ctx = trip.ctx;
    let timer = ctx.schedule_timer(Duration::from_secs(trip.input.approval_timeout_secs));
    let approval = ctx.dequeue_event(boundary::APPROVAL.name());
    match ctx.select2(timer, approval).await {
        Either2::First(()) => None,
        Either2::Second(data) => Some(serde_json::from_str(&data).unwrap_or_else(|_| {
            ApprovalDecision::new(false, Some(format!("unreadable decision rejected: {data}")))
        })),
    }
}
