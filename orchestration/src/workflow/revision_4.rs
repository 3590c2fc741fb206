//! Revision 4, the one new trips run: the reviewer may ask for a revised plan while the plan
//! awaits approval, and the progress lists every saved revision; the approval is announced by
//! the notifications of every state change (`crate::notifications`), not by a step.

use std::time::Duration;

use chrono::{DateTime, Utc};
use duroxide::{Either2, OrchestrationContext};
use travel_agents::ReviewerFeedback;

use super::boundary;
use super::trip::{Round, Stamp, Trip, place};
use super::types::TripInput;
use crate::plan::TripPlan;
use crate::progress::{
    ApprovalDecision, ApprovalWindow, ChangeRequest, PlanRevision, ReviewAnswer, TripOutcome,
    TripStep,
};

/// The workflow of revision 4.
pub async fn plan_trip(ctx: OrchestrationContext, input: TripInput) -> Result<TripOutcome, String> {
    let mut trip = Trip::start(&ctx, input, true);

    // 1. Destinations: three recommended; the trip goes to the first.
    let (destinations, brief) = trip.recommend_destinations().await?;

    // 2. Itinerary and local tips, in parallel.
    let (itinerary, tips) = trip.plan_days_and_tips(&brief).await?;

    // 3. The plan, totals computed in code, saved as revision 1.
    trip.progress.enter(TripStep::Saving, "Saving the plan");
    let plan = trip.assemble_plan(&brief, &destinations, itinerary, tips);
    let (saved, saved_at) = save(&mut trip, plan).await?;
    let mut round = Round {
        destinations,
        brief,
        saved,
        saved_at,
    };

    // 4. The reviewer's answer on each revision in turn: asked for changes, the next revision
    //    is planned and saved, and the wait starts again.
    loop {
        match wait_for_answer(&mut trip, &round).await? {
            Some(ReviewAnswer::Changes { changes }) => {
                round = revise(&mut trip, round, changes).await?;
            }
            // 5. Booked, or finished without booking.
            Some(ReviewAnswer::Decision(decision)) => {
                return trip.conclude(round.saved, Some(decision)).await;
            }
            None => return trip.conclude(round.saved, None).await,
        }
    }
}

/// Saves a revision of the plan; the progress lists it among the revisions.
async fn save(
    trip: &mut Trip<'_>,
    plan: TripPlan,
) -> Result<(crate::progress::SavedPlan, DateTime<Utc>), String> {
    let listed = PlanRevision {
        revision: plan.revision,
        destination: place(&plan.destination),
        days: plan.itinerary.days.len() as u32,
        total: plan.costs.total.clone(),
        over_budget: plan.costs.over_budget,
        changes: plan.changes.clone(),
    };
    let saved = trip.save(plan, Stamp::AsSaved).await?;
    trip.progress.now.revisions.push(listed);
    Ok(saved)
}

/// The reviewer's answer on the plan under review, or `None` when its window closes first. The
/// approval is announced by the notifications, not by a step. An answer that cannot apply
/// (about another revision, or changes beyond `max_revisions`: the API refuses both before
/// they get here) is set aside, and the wait goes on until the window closes.
async fn wait_for_answer(
    trip: &mut Trip<'_>,
    round: &Round,
) -> Result<Option<ReviewAnswer>, String> {
    let revision = round.saved.revision;
    let window = trip.approval_window(round.saved_at);
    trip.progress.now.approval = Some(window.clone());
    let waiting = match revision {
        1 => "Waiting for approval".to_owned(),
        n => format!("Waiting for approval of revision {n}"),
    };
    trip.progress.enter(TripStep::AwaitingApproval, waiting);
    let ctx = trip.ctx;
    let mut wait = Duration::from_secs(trip.input.approval_timeout_secs);
    loop {
        let timer = ctx.schedule_timer(wait);
        let data = match ctx
            .select2(timer, ctx.dequeue_event(boundary::APPROVAL.name()))
            .await
        {
            Either2::First(()) => return Ok(None),
            Either2::Second(data) => data,
        };
        let answer = boundary::APPROVAL.read_data(&data).unwrap_or_else(|_| {
            ReviewAnswer::Decision(ApprovalDecision::new(
                false,
                Some(format!("unreadable decision rejected: {data}")),
            ))
        });
        let other_revision = answer.revision().is_some_and(|r| r != revision);
        let over_limit =
            matches!(answer, ReviewAnswer::Changes { .. }) && revision > trip.input.max_revisions;
        if !other_revision && !over_limit {
            return Ok(Some(answer));
        }
        ctx.trace_warn(format!(
            "an answer that cannot apply to revision {revision} was set aside: {data}"
        ));
        match time_left(ctx, &window).await? {
            Some(left) => wait = left,
            None => return Ok(None),
        }
    }
}

/// What is left of the window, by the engine's recorded clock; `None` once it has closed.
async fn time_left(
    ctx: &OrchestrationContext,
    window: &ApprovalWindow,
) -> Result<Option<Duration>, String> {
    let now: DateTime<Utc> = ctx.utc_now().await?.into();
    Ok((window.expires_at - now)
        .to_std()
        .ok()
        .filter(|left| !left.is_zero()))
}

/// The next revision, as the reviewer asked: the itinerary and tips planned again with their
/// comments, for another of the recommended destinations if they chose one (the destination
/// agent is not asked again), then saved.
async fn revise(
    trip: &mut Trip<'_>,
    round: Round,
    changes: ChangeRequest,
) -> Result<Round, String> {
    let revision = round.saved.revision + 1;
    let mut brief = round.brief;
    let replaced = brief.destination.name.clone();
    let chosen = changes
        .destination
        .and_then(|n| round.destinations.output.destinations.get(usize::from(n)));
    if let Some(chosen) = chosen {
        brief.destination = chosen.clone();
    }
    brief.feedback = Some(ReviewerFeedback {
        revision,
        comments: changes.comments.clone(),
    });
    trip.progress.now.destination = Some(place(&brief.destination));
    trip.progress.now.approval = None;
    // Only its words may change from release to release: a replay checks that a progress
    // report happens here, not what it says.
    let city = &brief.destination.name;
    trip.progress.enter(
        TripStep::ItineraryAndTips,
        if *city == replaced {
            format!("Revising the plan as asked: planning the days in {city} again (revision {revision})")
        } else {
            format!("Replacing the plan for {replaced} with one for {city}, as asked (revision {revision})")
        },
    );
    let (itinerary, tips) = trip.plan_days_and_tips(&brief).await?;
    trip.progress
        .enter(TripStep::Saving, format!("Saving revision {revision}"));
    let mut plan = trip.assemble_plan(&brief, &round.destinations, itinerary, tips);
    plan.revision = revision;
    plan.changes = Some(changes);
    let (saved, saved_at) = save(trip, plan).await?;
    Ok(Round {
        destinations: round.destinations,
        brief,
        saved,
        saved_at,
    })
}
