//! The workflow as revisions 4 on run it ([`plan_and_review`]): the plan, then each saved
//! revision of it waiting for the reviewer's answer, a request for changes making the next
//! revision. What differs between these revisions is their step 2 (which agents plan, and how
//! the plan is assembled), which each passes in. Shared by revisions 4 and 5: like `trip.rs`,
//! change it only in words.

use std::time::Duration;

use chrono::{DateTime, Utc};
use duroxide::{Either2, OrchestrationContext};
use travel_agents::{AgentReply, DestinationBrief, DestinationRecommendations, ReviewerFeedback};

use super::boundary;
use super::trip::{Round, Stamp, Trip, place};
use super::types::TripInput;
use crate::plan::TripPlan;
use crate::progress::{
    ApprovalDecision, ApprovalWindow, ChangeRequest, PlanRevision, ReviewAnswer, SavedPlan,
    TripOutcome, TripStep,
};

/// A revision's step 2: its agents plan for the brief (the first plan's, or a revision's), and
/// the plan is assembled from their answers and the recommended destinations.
pub(super) trait PlanFor:
    AsyncFn(
    &Trip<'_>,
    &DestinationBrief,
    &AgentReply<DestinationRecommendations>,
) -> Result<TripPlan, String>
{
}

impl<F> PlanFor for F where
    F: AsyncFn(
        &Trip<'_>,
        &DestinationBrief,
        &AgentReply<DestinationRecommendations>,
    ) -> Result<TripPlan, String>
{
}

/// The five steps, with `plan` as step 2 for the first plan and every revision.
pub(super) async fn plan_and_review(
    ctx: OrchestrationContext,
    input: TripInput,
    plan: impl PlanFor,
) -> Result<TripOutcome, String> {
    let mut trip = Trip::start(&ctx, input, true);

    // 1. Destinations: three recommended; the trip goes to the first.
    let (destinations, brief) = trip.recommend_destinations().await?;

    // 2. The revision's agents plan for it, in parallel; the plan, totals computed in code.
    let first = plan(&trip, &brief, &destinations).await?;

    // 3. Saved as revision 1.
    let round = save_first(&mut trip, destinations, brief, first).await?;

    // 4. The reviewer's answer on each revision in turn: asked for changes, the next revision
    //    is planned and saved, and the wait starts again. 5. Booked, or finished unbooked.
    review(trip, round, plan).await
}

/// Steps 4 and 5: the reviewer's answer on each revision in turn; asked for changes, the next
/// revision is planned by the revision's own `plan` (step 2 and the plan assembled) for the
/// brief as the reviewer asked, saved, and the wait starts again; approved, rejected or expired,
/// the trip ends (booked, or unbooked).
async fn review(
    mut trip: Trip<'_>,
    mut round: Round,
    plan: impl PlanFor,
) -> Result<TripOutcome, String> {
    loop {
        let changes = match wait_for_answer(&mut trip, &round).await? {
            Some(ReviewAnswer::Changes { changes }) => changes,
            Some(ReviewAnswer::Decision(decision)) => {
                return trip.conclude(round.saved, Some(decision)).await;
            }
            None => return trip.conclude(round.saved, None).await,
        };
        let (brief, revision) = revised_brief(&mut trip, &round, &changes);
        let next = plan(&trip, &brief, &round.destinations).await?;
        round = save_revision(&mut trip, round, (brief, revision), next, changes).await?;
    }
}

/// The end of step 3: the first plan saved; it is the plan under review.
async fn save_first(
    trip: &mut Trip<'_>,
    destinations: AgentReply<DestinationRecommendations>,
    brief: DestinationBrief,
    plan: TripPlan,
) -> Result<Round, String> {
    trip.progress.enter(TripStep::Saving, "Saving the plan");
    let (saved, saved_at) = save(trip, plan).await?;
    Ok(Round {
        destinations,
        brief,
        saved,
        saved_at,
    })
}

/// Saves a revision of the plan; the progress lists it among the revisions.
async fn save(trip: &mut Trip<'_>, plan: TripPlan) -> Result<(SavedPlan, DateTime<Utc>), String> {
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

/// The brief of the next revision, as the reviewer asked: the comments added, and another of the
/// recommended destinations if they chose one (the destination agent is not asked again); the
/// progress says what is being planned. Answers the brief and the revision's number.
fn revised_brief(
    trip: &mut Trip<'_>,
    round: &Round,
    changes: &ChangeRequest,
) -> (DestinationBrief, u32) {
    let revision = round.saved.revision + 1;
    let mut brief = round.brief.clone();
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
    (brief, revision)
}

/// Saves the plan of a revision the reviewer asked for; it is the plan under review now.
async fn save_revision(
    trip: &mut Trip<'_>,
    round: Round,
    (brief, revision): (DestinationBrief, u32),
    mut plan: TripPlan,
    changes: ChangeRequest,
) -> Result<Round, String> {
    trip.progress
        .enter(TripStep::Saving, format!("Saving revision {revision}"));
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
