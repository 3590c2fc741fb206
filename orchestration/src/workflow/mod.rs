//! The durable trip workflow: [`plan_trip`], in five steps.
//!
//! 1. the destination agent recommends three destinations; the trip goes to the first;
//! 2. the itinerary agent and the local-tips agent plan for it, in parallel;
//! 3. the totals are computed in code and the plan is saved through the plan store;
//! 4. a durable wait for the approval event ([`boundary::APPROVAL`]) races the approval window
//!    (7 days by default), with nothing in flight (revisions 1 to 3 announce it first with a step
//!    of their own; from revision 4 the notifications of every state change do, see
//!    `crate::notifications`);
//!    the reviewer may ask for changes instead (revision 4 on): the itinerary and tips are
//!    planned again with their comments, for another recommended destination if they chose one,
//!    saved as the next revision, and the wait starts again (at most `max_revisions` times);
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
//! * **Revisions.** A change of shape is a new revision: raise [`WORKFLOW_REVISION`] and keep the
//!   old steps behind `input.workflow_revision`, so each trip runs the revision it started with.
//!   Check it the way `tests/workflow_revisions.rs` does: a store recorded by the previous release
//!   (checked in under `tests/fixtures/`) must still finish on the new code.
//! * **Records.** What the workflow takes and passes ([`types`]) lives in histories: change it
//!   only in ways old records still read (`#[serde(default)]` on new fields).

pub mod boundary;
mod durable;
mod types;

use std::time::Duration;

use chrono::{DateTime, Utc};
use duroxide::{Either2, OrchestrationContext};
use travel_agents::{
    AgentReply, DestinationBrief, DestinationRecommendations, DestinationSuggestion, Itinerary,
    LocalTips, ReviewerFeedback,
};

pub use types::{
    ActivityFailure, ApprovalAnnounced, ApprovalRequest, PlanSaved, Retry, RetrySettings, Reused,
    TripInput,
};

use crate::booking::BookingRequest;
use crate::plan::{CostSummary, TripPlan};
use crate::progress::{
    ApprovalDecision, ApprovalWindow, ChangeRequest, PlanRevision, ReviewAnswer, SavedPlan,
    TripOutcome, TripState, TripStep,
};
use boundary::Activity;
use durable::{Progress, call};

/// The orchestration's registered name.
pub const ORCHESTRATION: &str = "TripPlanning";

/// The revision of the workflow new trips run. A trip keeps the revision it started with for its
/// whole life (it may wait days for approval), so every revision's steps stay in [`plan_trip`]:
///
/// 1. the first: a `utc_now` step stamps the plan, then `SavePlan`; the approval is always
///    announced (an activity that does nothing without a webhook);
/// 2. `SaveNewPlan` stamps the plan as it saves it (one step fewer), and the announcement step
///    runs only when a webhook is configured;
/// 3. a step tried again after a failure says so in the progress (`retrying`), and again when it
///    goes through;
/// 4. the reviewer may ask for a revised plan while the plan awaits approval ([`ReviewAnswer`]),
///    and the progress lists every saved revision (`revisions`); the approval is announced by the
///    notifications of every state change (`crate::notifications`), not by a step.
pub const WORKFLOW_REVISION: u32 = 4;

/// The orchestration.
pub async fn plan_trip(ctx: OrchestrationContext, input: TripInput) -> Result<TripOutcome, String> {
    let mut progress = Progress::start(&ctx);
    let traveller = input.request.brief();

    // 1. Destinations.
    let destinations: AgentReply<DestinationRecommendations> = call_or_reuse(
        &ctx,
        &input,
        (boundary::DESTINATION_AGENT, false),
        &traveller,
        &progress,
    )
    .await?;
    let destination = top_destination(&destinations.output)?;
    progress.now.destination = Some(place(&destination));
    progress.enter(
        TripStep::ItineraryAndTips,
        format!(
            "Planning the days in {} and gathering local tips",
            destination.name
        ),
    );

    // 2. Itinerary and local tips, in parallel.
    let brief = DestinationBrief {
        destination,
        traveller,
        feedback: None,
    };
    let (itinerary, tips) = plan_days_and_tips(&ctx, &input, &brief, &progress).await?;

    // 3. The plan, saved.
    progress.enter(TripStep::Saving, "Saving the plan");
    let plan = assemble_plan(&ctx, &input, &brief, &destinations, itinerary, tips);
    let (saved, saved_at) = save_plan(&ctx, &input, plan, &mut progress).await?;

    // 4 and 5, with revisions on the reviewer's request (revision 4 on).
    if input.workflow_revision >= 4 {
        let round = Round {
            destinations,
            brief,
            saved,
            saved_at,
        };
        return review(&ctx, &input, progress, round).await;
    }

    // 4. Approval.
    let window = approval_window(saved_at, input.approval_timeout_secs);
    announce_approval(&ctx, &input, &progress, &saved, &window).await?;
    progress.now.approval = Some(window);
    progress.enter(TripStep::AwaitingApproval, "Waiting for approval");
    let decision = wait_for_decision(&ctx, input.approval_timeout_secs).await;

    // 5. Booked, or finished without booking.
    conclude(&ctx, &input, progress, saved, decision).await
}

/// "Lisbon, Portugal".
fn place(destination: &DestinationSuggestion) -> String {
    format!("{}, {}", destination.name, destination.country)
}

/// The plan under review and what it was made from.
struct Round {
    destinations: AgentReply<DestinationRecommendations>,
    brief: DestinationBrief,
    saved: SavedPlan,
    saved_at: DateTime<Utc>,
}

/// Steps 4 and 5 from revision 4 on: each saved revision waits for the reviewer; asked for
/// changes, the workflow plans the next revision and waits again; approved, rejected or expired,
/// the trip ends as before.
async fn review(
    ctx: &OrchestrationContext,
    input: &TripInput,
    mut progress: Progress<'_>,
    mut round: Round,
) -> Result<TripOutcome, String> {
    loop {
        // Announced by the notifications (`crate::notifications`), not by a step of its own.
        let window = approval_window(round.saved_at, input.approval_timeout_secs);
        progress.now.approval = Some(window.clone());
        let waiting = match round.saved.revision {
            1 => "Waiting for approval".to_owned(),
            n => format!("Waiting for approval of revision {n}"),
        };
        progress.enter(TripStep::AwaitingApproval, waiting);
        match wait_for_answer(ctx, input, &window, round.saved.revision).await? {
            Some(ReviewAnswer::Changes { changes }) => {
                round = revise(ctx, input, &mut progress, round, changes).await?;
            }
            Some(ReviewAnswer::Decision(decision)) => {
                return conclude(ctx, input, progress, round.saved, Some(decision)).await;
            }
            None => return conclude(ctx, input, progress, round.saved, None).await,
        }
    }
}

/// The reviewer's answer on `revision`, or `None` when the window closes first. An answer that
/// cannot apply (about another revision, or changes beyond `max_revisions`: the API refuses
/// both before they get here) is set aside, and the wait goes on until the window closes.
async fn wait_for_answer(
    ctx: &OrchestrationContext,
    input: &TripInput,
    window: &ApprovalWindow,
    revision: u32,
) -> Result<Option<ReviewAnswer>, String> {
    let mut wait = Duration::from_secs(input.approval_timeout_secs);
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
            matches!(answer, ReviewAnswer::Changes { .. }) && revision > input.max_revisions;
        if !other_revision && !over_limit {
            return Ok(Some(answer));
        }
        ctx.trace_warn(format!(
            "an answer that cannot apply to revision {revision} was set aside: {data}"
        ));
        let now: DateTime<Utc> = ctx.utc_now().await?.into();
        match (window.expires_at - now).to_std() {
            Ok(left) if !left.is_zero() => wait = left,
            _ => return Ok(None),
        }
    }
}

/// The next revision, as the reviewer asked: the itinerary and tips planned again with their
/// comments, for another of the recommended destinations if they chose one (the destination
/// agent is not asked again), then saved.
async fn revise(
    ctx: &OrchestrationContext,
    input: &TripInput,
    progress: &mut Progress<'_>,
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
    progress.now.destination = Some(place(&brief.destination));
    progress.now.approval = None;
    // Only its words may change from release to release: a replay checks that a progress
    // report happens here, not what it says.
    let city = &brief.destination.name;
    progress.enter(
        TripStep::ItineraryAndTips,
        if *city == replaced {
            format!("Revising the plan as asked: planning the days in {city} again (revision {revision})")
        } else {
            format!("Replacing the plan for {replaced} with one for {city}, as asked (revision {revision})")
        },
    );
    let (itinerary, tips) = plan_days_and_tips(ctx, input, &brief, progress).await?;
    progress.enter(TripStep::Saving, format!("Saving revision {revision}"));
    let mut plan = assemble_plan(ctx, input, &brief, &round.destinations, itinerary, tips);
    plan.revision = revision;
    plan.changes = Some(changes);
    let (saved, saved_at) = save_plan(ctx, input, plan, progress).await?;
    Ok(Round {
        destinations: round.destinations,
        brief,
        saved,
        saved_at,
    })
}

/// Where retries are reported: revision 3 on (earlier revisions recorded no such reports, and
/// their replay must not make any).
fn retries_shown<'p, 'c>(
    input: &TripInput,
    progress: &'p Progress<'c>,
) -> Option<&'p Progress<'c>> {
    (input.workflow_revision >= 3).then_some(progress)
}

/// An agent's step: its answer from the failed trip this one retries, when that trip got it
/// (recorded in the input, so replays see the same), else the agent is asked. A revision's
/// calls (`revising`) are always asked: the failed trip's answers are for the first plan.
async fn call_or_reuse<I: serde::Serialize, O: serde::de::DeserializeOwned>(
    ctx: &OrchestrationContext,
    input: &TripInput,
    (activity, revising): (Activity<I, O>, bool),
    arguments: &I,
    progress: &Progress<'_>,
) -> Result<O, String> {
    let name = activity.name();
    let reused = input.reused.as_ref().filter(|_| !revising);
    if let Some(result) = reused.and_then(|r| r.results.get(name)) {
        return serde_json::from_value(result.clone()).map_err(|e| {
            format!("{name}: the answer reused from the failed trip is unreadable: {e}")
        });
    }
    let retry = &input.retries.agents;
    call(
        ctx,
        activity,
        arguments,
        retry,
        retries_shown(input, progress),
    )
    .await
}

fn top_destination(
    recommendations: &DestinationRecommendations,
) -> Result<DestinationSuggestion, String> {
    recommendations
        .top()
        .cloned()
        .ok_or_else(|| "the destination agent recommended nothing".to_owned())
}

async fn plan_days_and_tips(
    ctx: &OrchestrationContext,
    input: &TripInput,
    brief: &DestinationBrief,
    progress: &Progress<'_>,
) -> Result<(AgentReply<Itinerary>, AgentReply<LocalTips>), String> {
    let revising = brief.feedback.is_some();
    let (itinerary, tips) = ctx
        .join2(
            call_or_reuse(
                ctx,
                input,
                (boundary::ITINERARY_AGENT, revising),
                brief,
                progress,
            ),
            call_or_reuse(
                ctx,
                input,
                (boundary::LOCAL_TIPS_AGENT, revising),
                brief,
                progress,
            ),
        )
        .await;
    Ok((itinerary?, tips?))
}

/// The plan (its first revision), totals computed in code; stamped when it is saved.
fn assemble_plan(
    ctx: &OrchestrationContext,
    input: &TripInput,
    brief: &DestinationBrief,
    destinations: &AgentReply<DestinationRecommendations>,
    itinerary: AgentReply<Itinerary>,
    tips: AgentReply<LocalTips>,
) -> TripPlan {
    TripPlan {
        instance_id: ctx.instance_id(),
        revision: 1,
        // Stamped by `save_plan`: by the workflow (revision 1) or as the plan is saved.
        created_at: DateTime::<Utc>::UNIX_EPOCH,
        request: input.request.clone(),
        costs: CostSummary::compute(&itinerary.output, &brief.traveller.budget),
        demo: destinations.thread.demo || itinerary.thread.demo || tips.thread.demo,
        recommendations: destinations.output.clone(),
        destination: brief.destination.clone(),
        itinerary: itinerary.output,
        local_tips: tips.output,
        changes: None,
    }
}

/// Saves the plan and says where, and when it was stamped; the progress shows it (and, from
/// revision 4 on, lists it among the revisions).
async fn save_plan(
    ctx: &OrchestrationContext,
    input: &TripInput,
    mut plan: TripPlan,
    progress: &mut Progress<'_>,
) -> Result<(SavedPlan, DateTime<Utc>), String> {
    let revision = PlanRevision {
        revision: plan.revision,
        destination: place(&plan.destination),
        days: plan.itinerary.days.len() as u32,
        total: plan.costs.total.clone(),
        over_budget: plan.costs.over_budget,
        changes: plan.changes.clone(),
    };
    let retry = &input.retries.storage;
    let shown = retries_shown(input, progress);
    let (location, saved_at) = if input.workflow_revision >= 2 {
        let saved = call(ctx, boundary::SAVE_NEW_PLAN, &plan, retry, shown).await?;
        (saved.location, saved.saved_at)
    } else {
        let now: DateTime<Utc> = ctx.utc_now().await?.into();
        plan.created_at = now;
        let location = call(ctx, boundary::SAVE_PLAN, &plan, retry, shown).await?;
        (location, now)
    };
    let saved = SavedPlan {
        revision: plan.revision,
        location,
        total: plan.costs.total.clone(),
        over_budget: plan.costs.over_budget,
    };
    progress.now.plan = Some(saved.clone());
    if input.workflow_revision >= 4 {
        progress.now.revisions.push(revision);
    }
    Ok((saved, saved_at))
}

fn approval_window(requested_at: DateTime<Utc>, timeout_secs: u64) -> ApprovalWindow {
    let timeout = chrono::Duration::from_std(Duration::from_secs(timeout_secs))
        .unwrap_or(chrono::Duration::days(7));
    ApprovalWindow {
        requested_at,
        expires_at: requested_at + timeout,
    }
}

/// Tells the approvers (the webhook). Revision 1 always runs the step.
async fn announce_approval(
    ctx: &OrchestrationContext,
    input: &TripInput,
    progress: &Progress<'_>,
    saved: &SavedPlan,
    window: &ApprovalWindow,
) -> Result<(), String> {
    if input.workflow_revision >= 2 && !input.announce_approval {
        return Ok(());
    }
    let approval = ApprovalRequest {
        instance_id: ctx.instance_id(),
        traveller_name: input.request.traveller_name.clone(),
        destination: progress.now.destination.clone().unwrap_or_default(),
        plan: saved.clone(),
        window: window.clone(),
    };
    call(
        ctx,
        boundary::REQUEST_APPROVAL,
        &approval,
        &input.retries.storage,
        retries_shown(input, progress),
    )
    .await?;
    Ok(())
}

/// The decision, or `None` when the window closes first.
async fn wait_for_decision(
    ctx: &OrchestrationContext,
    timeout_secs: u64,
) -> Option<ApprovalDecision> {
    let timer = ctx.schedule_timer(Duration::from_secs(timeout_secs));
    // Revisions 1 to 3 read the event's data as a decision (changes could not be asked for).
    let approval = ctx.dequeue_event(boundary::APPROVAL.name());
    match ctx.select2(timer, approval).await {
        Either2::First(()) => None,
        Either2::Second(data) => Some(serde_json::from_str(&data).unwrap_or_else(|_| {
            ApprovalDecision::new(false, Some(format!("unreadable decision rejected: {data}")))
        })),
    }
}

/// Books an approved plan; ends the trip either way.
async fn conclude(
    ctx: &OrchestrationContext,
    input: &TripInput,
    mut progress: Progress<'_>,
    plan: SavedPlan,
    decision: Option<ApprovalDecision>,
) -> Result<TripOutcome, String> {
    let Some(decision) = decision else {
        progress.finish(
            TripState::Expired,
            "The approval window closed; nothing was booked",
        );
        return Ok(TripOutcome::unbooked(TripState::Expired, plan, None));
    };
    progress.now.decision = Some(decision.clone());
    if !decision.approved {
        progress.finish(
            TripState::Rejected,
            "The plan was rejected; nothing was booked",
        );
        return Ok(TripOutcome::unbooked(
            TripState::Rejected,
            plan,
            Some(decision),
        ));
    }
    progress.enter(TripStep::Booking, "Approved: booking the trip");
    let request = BookingRequest {
        idempotency_key: ctx.instance_id(),
        traveller_name: input.request.traveller_name.clone(),
        destination: progress.now.destination.clone().unwrap_or_default(),
        duration_days: input.request.duration_days,
        plan_revision: plan.revision,
    };
    let booking = call(
        ctx,
        boundary::BOOK_TRIP,
        &request,
        &input.retries.booking,
        retries_shown(input, &progress),
    )
    .await?;
    progress.finish(
        TripState::Booked,
        format!("Booked: confirmation {}", booking.confirmation_code),
    );
    Ok(TripOutcome {
        state: TripState::Booked,
        plan,
        decision: Some(decision),
        booking: Some(booking),
    })
}
