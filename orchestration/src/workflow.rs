//! The durable trip workflow. Orchestration code here is deterministic: no clocks, randomness or
//! I/O; every side effect is an activity (see [`crate::activities`]).
//!
//! 1. destination agent → the top match;
//! 2. itinerary agent and local-tips agent in parallel;
//! 3. totals computed in code; the plan saved through the plan store;
//! 4. approval requested, then a durable wait for `ApprovalEvent` raced against a timer
//!    (7 days by default) with nothing in flight;
//! 5. approved → booked (idempotently, keyed by the instance id); rejected or timed out →
//!    finished without booking.

use std::time::Duration;

use chrono::{DateTime, Utc};
use duroxide::{Either2, OrchestrationContext};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use travel_agents::{
    AgentThread, DestinationBrief, DestinationRecommendations, Itinerary, LocalTips,
};

use crate::booking::{BookingConfirmation, BookingRequest};
use crate::plan::{CostSummary, TripPlan};
use crate::progress::{
    ApprovalDecision, ApprovalWindow, SavedPlan, TripOutcome, TripProgress, TripState, TripStep,
};
use crate::request::TripRequest;
use crate::store::PlanLocation;

/// The orchestration's registered name.
pub const ORCHESTRATION: &str = "TripPlanning";
/// The external event (a durable queue) the approval arrives on.
pub const APPROVAL_EVENT: &str = "ApprovalEvent";

/// Activity names.
pub mod activity {
    pub const DESTINATION_AGENT: &str = "RunDestinationAgent";
    pub const ITINERARY_AGENT: &str = "RunItineraryAgent";
    pub const LOCAL_TIPS_AGENT: &str = "RunLocalTipsAgent";
    /// Revision 1: saves a plan stamped by the workflow (after a `utc_now` step).
    pub const SAVE_PLAN: &str = "SavePlan";
    /// Revision 2: stamps the plan with the time it is first saved, and says when that was.
    pub const SAVE_NEW_PLAN: &str = "SaveNewPlan";
    pub const REQUEST_APPROVAL: &str = "RequestApproval";
    pub const BOOK_TRIP: &str = "BookTrip";
}

/// The revision of the workflow new trips run. A trip keeps the revision it started with for its
/// whole life (it may wait days for approval), so every revision's steps stay in [`plan_trip`]:
///
/// 1. the first: a `utc_now` step stamps the plan, then `SavePlan`; the approval is always
///    announced (an activity that does nothing without a webhook);
/// 2. `SaveNewPlan` stamps the plan as it saves it (one step fewer), and the announcement step
///    runs only when a webhook is configured.
pub const WORKFLOW_REVISION: u32 = 2;

/// The workflow's input: fixed when the trip starts, so every replay sees the same values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TripInput {
    pub request: TripRequest,
    /// SHA-256 (hex) of the approval token handed to the requester; the token itself is never stored.
    pub approval_token_sha256: String,
    pub approval_timeout_secs: u64,
    pub retries: RetrySettings,
    /// The workflow revision the trip runs ([`WORKFLOW_REVISION`] when it started; 1 for trips
    /// started before revisions were recorded).
    #[serde(default = "first_revision")]
    pub workflow_revision: u32,
    /// Whether the approval request is announced (a webhook is configured). Revision 2 skips the
    /// announcement step otherwise.
    #[serde(default = "announce_by_default")]
    pub announce_approval: bool,
}

fn first_revision() -> u32 {
    1
}

fn announce_by_default() -> bool {
    true
}

/// What `SaveNewPlan` answers: where the plan is, and when it was first saved (its stamp).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSaved {
    pub location: PlanLocation,
    pub saved_at: DateTime<Utc>,
}

/// How patiently each kind of activity is retried after a transient failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrySettings {
    pub agents: Retry,
    pub storage: Retry,
    pub booking: Retry,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            agents: Retry {
                max_attempts: 3,
                first_delay_ms: 2_000,
                max_delay_ms: 30_000,
            },
            // Storage outages are waited out: about 25 minutes in all.
            storage: Retry {
                max_attempts: 60,
                first_delay_ms: 1_000,
                max_delay_ms: 30_000,
            },
            booking: Retry {
                max_attempts: 10,
                first_delay_ms: 2_000,
                max_delay_ms: 60_000,
            },
        }
    }
}

/// Exponential back-off without jitter (it must replay identically).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    pub max_attempts: u32,
    pub first_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Retry {
    fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .first_delay_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        Duration::from_millis(exp.min(self.max_delay_ms))
    }
}

/// An agent's typed output and its thread, as an agent activity returns them. Since the
/// messages are kept apart (`agent_conversations`), `thread.messages` is empty in new histories;
/// older histories carry them inline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentOutcome<T> {
    pub output: T,
    pub thread: AgentThread,
}

/// How an activity failed: the orchestration retries only transient failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityFailure {
    pub transient: bool,
    pub message: String,
}

impl ActivityFailure {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            transient: true,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            transient: false,
            message: message.into(),
        }
    }

    /// The error string an activity returns.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("failures serialise")
    }

    /// Reads an activity's error string (anything unexpected, such as a panic, counts as transient).
    pub fn decode(raw: &str) -> Self {
        serde_json::from_str(raw).unwrap_or_else(|_| Self::transient(raw))
    }
}

/// What the approval activity records and announces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    pub instance_id: String,
    pub traveler_name: String,
    pub destination: String,
    pub plan: SavedPlan,
    pub window: ApprovalWindow,
}

/// Runs an activity, retrying transient failures with durable back-off timers.
async fn call<I: Serialize, O: DeserializeOwned>(
    ctx: &OrchestrationContext,
    name: &str,
    input: &I,
    retry: &Retry,
) -> Result<O, String> {
    let input =
        serde_json::to_string(input).map_err(|e| format!("{name}: input not serialisable: {e}"))?;
    let mut attempt = 1;
    loop {
        match ctx.schedule_activity(name, input.clone()).await {
            Ok(output) => {
                return serde_json::from_str(&output)
                    .map_err(|e| format!("{name} returned unreadable output: {e}"));
            }
            Err(raw) => {
                let failure = ActivityFailure::decode(&raw);
                if !failure.transient || attempt >= retry.max_attempts {
                    return Err(failure.message);
                }
                ctx.trace_warn(format!(
                    "{name} attempt {attempt}/{} failed: {}; retrying",
                    retry.max_attempts, failure.message
                ));
                ctx.schedule_timer(retry.delay(attempt)).await;
                attempt += 1;
            }
        }
    }
}

fn report(ctx: &OrchestrationContext, progress: &TripProgress) {
    ctx.set_custom_status(serde_json::to_string(progress).expect("progress serialises"));
}

/// The orchestration.
pub async fn plan_trip(ctx: OrchestrationContext, input: TripInput) -> Result<TripOutcome, String> {
    let instance_id = ctx.instance_id();
    let request = &input.request;
    let traveller = request.brief();
    let mut progress = TripProgress::starting();
    report(&ctx, &progress);

    let destinations: AgentOutcome<DestinationRecommendations> = call(
        &ctx,
        activity::DESTINATION_AGENT,
        &traveller,
        &input.retries.agents,
    )
    .await?;
    let destination = destinations
        .output
        .top()
        .cloned()
        .ok_or("the destination agent recommended nothing")?;
    progress.destination = Some(format!("{}, {}", destination.name, destination.country));
    progress.at(
        TripState::Planning,
        TripStep::ItineraryAndTips,
        35,
        format!(
            "Planning the days in {} and gathering local tips",
            destination.name
        ),
    );
    report(&ctx, &progress);

    let brief = DestinationBrief {
        destination: destination.clone(),
        traveller: traveller.clone(),
    };
    let (itinerary, tips) = ctx
        .join2(
            call::<_, AgentOutcome<Itinerary>>(
                &ctx,
                activity::ITINERARY_AGENT,
                &brief,
                &input.retries.agents,
            ),
            call::<_, AgentOutcome<LocalTips>>(
                &ctx,
                activity::LOCAL_TIPS_AGENT,
                &brief,
                &input.retries.agents,
            ),
        )
        .await;
    let (itinerary, tips) = (itinerary?, tips?);

    progress.at(TripState::Planning, TripStep::Saving, 75, "Saving the plan");
    report(&ctx, &progress);
    let costs = CostSummary::compute(&itinerary.output, &traveller.budget);
    let mut plan = TripPlan {
        instance_id: instance_id.clone(),
        revision: 1,
        // Stamped below: by the workflow (revision 1) or as the plan is saved (revision 2).
        created_at: DateTime::<Utc>::UNIX_EPOCH,
        request: request.clone(),
        recommendations: destinations.output,
        destination: destination.clone(),
        itinerary: itinerary.output,
        local_tips: tips.output,
        costs,
        demo: destinations.thread.demo || itinerary.thread.demo || tips.thread.demo,
    };
    let (location, now) = if input.workflow_revision >= 2 {
        let saved: PlanSaved =
            call(&ctx, activity::SAVE_NEW_PLAN, &plan, &input.retries.storage).await?;
        (saved.location, saved.saved_at)
    } else {
        let now: DateTime<Utc> = ctx.utc_now().await?.into();
        plan.created_at = now;
        let location: PlanLocation =
            call(&ctx, activity::SAVE_PLAN, &plan, &input.retries.storage).await?;
        (location, now)
    };
    let saved = SavedPlan {
        revision: plan.revision,
        location,
        total: plan.costs.total.clone(),
        over_budget: plan.costs.over_budget,
    };
    progress.plan = Some(saved.clone());

    let timeout = Duration::from_secs(input.approval_timeout_secs);
    let window = ApprovalWindow {
        requested_at: now,
        expires_at: now + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::days(7)),
    };
    let approval = ApprovalRequest {
        instance_id: instance_id.clone(),
        traveler_name: request.traveler_name.clone(),
        destination: progress.destination.clone().unwrap_or_default(),
        plan: saved.clone(),
        window: window.clone(),
    };
    if input.workflow_revision < 2 || input.announce_approval {
        call::<_, serde_json::Value>(
            &ctx,
            activity::REQUEST_APPROVAL,
            &approval,
            &input.retries.storage,
        )
        .await?;
    }
    progress.approval = Some(window);
    progress.at(
        TripState::AwaitingApproval,
        TripStep::AwaitingApproval,
        85,
        "Waiting for approval",
    );
    report(&ctx, &progress);

    let decision = match ctx
        .select2(
            ctx.schedule_timer(timeout),
            ctx.dequeue_event(APPROVAL_EVENT),
        )
        .await
    {
        Either2::First(()) => None,
        Either2::Second(data) => Some(serde_json::from_str::<ApprovalDecision>(&data).unwrap_or(
            ApprovalDecision {
                approved: false,
                comments: Some(format!("unreadable decision rejected: {data}")),
            },
        )),
    };
    let outcome = match decision {
        None => {
            progress.at(
                TripState::Expired,
                TripStep::Done,
                100,
                "The approval window closed; nothing was booked",
            );
            TripOutcome {
                state: TripState::Expired,
                plan: saved,
                decision: None,
                booking: None,
            }
        }
        Some(decision) if !decision.approved => {
            progress.decision = Some(decision.clone());
            progress.at(
                TripState::Rejected,
                TripStep::Done,
                100,
                "The plan was rejected; nothing was booked",
            );
            TripOutcome {
                state: TripState::Rejected,
                plan: saved,
                decision: Some(decision),
                booking: None,
            }
        }
        Some(decision) => {
            progress.decision = Some(decision.clone());
            progress.at(
                TripState::Booking,
                TripStep::Booking,
                90,
                "Approved: booking the trip",
            );
            report(&ctx, &progress);
            let booking_request = BookingRequest {
                idempotency_key: instance_id.clone(),
                traveler_name: request.traveler_name.clone(),
                destination: progress.destination.clone().unwrap_or_default(),
                duration_days: request.duration_days,
                plan_revision: saved.revision,
            };
            let booking: BookingConfirmation = call(
                &ctx,
                activity::BOOK_TRIP,
                &booking_request,
                &input.retries.booking,
            )
            .await?;
            progress.at(
                TripState::Booked,
                TripStep::Done,
                100,
                format!("Booked: confirmation {}", booking.confirmation_code),
            );
            TripOutcome {
                state: TripState::Booked,
                plan: saved,
                decision: Some(decision),
                booking: Some(booking),
            }
        }
    };
    report(&ctx, &progress);
    Ok(outcome)
}
