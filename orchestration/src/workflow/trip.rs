//! What the revisions share: [`Trip`], the one value every step takes (the engine's context, the
//! trip's input and its progress), and the steps whose recorded shape no revision has changed.
//!
//! A change here changes every revision that uses it: it may change words and what the
//! progress shows, never which activities, timers, waits and progress reports are made, nor in
//! which order (see the module documentation of `workflow`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use duroxide::OrchestrationContext;
use serde::Serialize;
use serde::de::DeserializeOwned;
use travel_agents::{
    AgentReply, DestinationBrief, DestinationRecommendations, DestinationSuggestion, Itinerary,
    LocalTips,
};

use super::boundary::{self, Activity};
use super::durable::{Progress, call};
use super::types::{Retry, TripInput};
use crate::booking::BookingRequest;
use crate::plan::{CostSummary, TripPlan};
use crate::progress::{
    ApprovalDecision, ApprovalWindow, SavedPlan, TripOutcome, TripState, TripStep,
};

/// A trip as its workflow runs: what every step needs.
pub(super) struct Trip<'c> {
    pub ctx: &'c OrchestrationContext,
    pub input: TripInput,
    pub progress: Progress<'c>,
    /// Whether a step tried again says so in the progress (revision 3 on; earlier revisions
    /// recorded no such reports, and their replay must not make any).
    reports_retries: bool,
}

/// How the plan is saved, and stamped.
pub(super) enum Stamp {
    /// Revision 1: a `utc_now` step stamps the plan, then `SavePlan` saves it.
    BeforeSaving,
    /// Revision 2 on: `SaveNewPlan` stamps the plan as it saves it (one step fewer).
    AsSaved,
}

/// The plan under review and what it was made from.
pub(super) struct Round {
    pub destinations: AgentReply<DestinationRecommendations>,
    pub brief: DestinationBrief,
    pub saved: SavedPlan,
    pub saved_at: DateTime<Utc>,
}

impl<'c> Trip<'c> {
    /// The trip begins: its first progress report says it is looking for destinations.
    pub fn start(ctx: &'c OrchestrationContext, input: TripInput, reports_retries: bool) -> Self {
        Self {
            ctx,
            input,
            progress: Progress::start(ctx),
            reports_retries,
        }
    }

    /// Runs an activity, retried as `retry` says (see [`call`]).
    pub async fn run<I: Serialize, O: DeserializeOwned>(
        &self,
        activity: Activity<I, O>,
        arguments: &I,
        retry: &Retry,
    ) -> Result<O, String> {
        let shown = self.reports_retries.then_some(&self.progress);
        call(self.ctx, activity, arguments, retry, shown).await
    }

    /// An agent's step: its answer from the failed trip this one retries, when that trip got it
    /// (recorded in the input, so replays see the same), else the agent is asked. A revision's
    /// calls (`revising`) are always asked: the failed trip's answers are for the first plan.
    pub async fn ask<I: Serialize, O: DeserializeOwned>(
        &self,
        agent: Activity<I, O>,
        arguments: &I,
        revising: bool,
    ) -> Result<O, String> {
        let name = agent.name();
        let reused = self.input.reused.as_ref().filter(|_| !revising);
        if let Some(result) = reused.and_then(|r| r.results.get(name)) {
            return serde_json::from_value(result.clone()).map_err(|e| {
                format!("{name}: the answer reused from the failed trip is unreadable: {e}")
            });
        }
        self.run(agent, arguments, &self.input.retries.agents).await
    }

    /// Step 1: the destination agent recommends three destinations; the trip goes to the
    /// first, and the progress says the days and tips there are being planned.
    pub async fn recommend_destinations(
        &mut self,
    ) -> Result<(AgentReply<DestinationRecommendations>, DestinationBrief), String> {
        let traveller = self.input.request.brief();
        let destinations: AgentReply<DestinationRecommendations> = self
            .ask(boundary::DESTINATION_AGENT, &traveller, false)
            .await?;
        let destination = destinations
            .output
            .top()
            .cloned()
            .ok_or("the destination agent recommended nothing")?;
        self.progress.now.destination = Some(place(&destination));
        self.progress.enter(
            TripStep::ItineraryAndTips,
            format!(
                "Planning the days in {} and gathering local tips",
                destination.name
            ),
        );
        let brief = DestinationBrief {
            destination,
            traveller,
            feedback: None,
        };
        Ok((destinations, brief))
    }

    /// Step 2: the itinerary agent and the local-tips agent plan for `brief`, in parallel.
    pub async fn plan_days_and_tips(
        &self,
        brief: &DestinationBrief,
    ) -> Result<(AgentReply<Itinerary>, AgentReply<LocalTips>), String> {
        let revising = brief.feedback.is_some();
        let (itinerary, tips) = self
            .ctx
            .join2(
                self.ask(boundary::ITINERARY_AGENT, brief, revising),
                self.ask(boundary::LOCAL_TIPS_AGENT, brief, revising),
            )
            .await;
        Ok((itinerary?, tips?))
    }

    /// Step 3: the plan (its first revision), totals computed in code; stamped as it is saved.
    pub fn assemble_plan(
        &self,
        brief: &DestinationBrief,
        destinations: &AgentReply<DestinationRecommendations>,
        itinerary: AgentReply<Itinerary>,
        tips: AgentReply<LocalTips>,
    ) -> TripPlan {
        TripPlan {
            instance_id: self.ctx.instance_id(),
            revision: 1,
            // Stamped by `save`.
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            request: self.input.request.clone(),
            costs: CostSummary::compute(&itinerary.output, &brief.traveller.budget),
            demo: destinations.thread.demo || itinerary.thread.demo || tips.thread.demo,
            recommendations: destinations.output.clone(),
            destination: brief.destination.clone(),
            itinerary: itinerary.output,
            local_tips: tips.output,
            packing: None,
            changes: None,
        }
    }

    /// Saves the plan and says where, and when it was stamped; the progress shows it.
    pub async fn save(
        &mut self,
        mut plan: TripPlan,
        stamp: Stamp,
    ) -> Result<(SavedPlan, DateTime<Utc>), String> {
        let retry = &self.input.retries.storage;
        let (location, saved_at) = match stamp {
            Stamp::AsSaved => {
                let saved = self.run(boundary::SAVE_NEW_PLAN, &plan, retry).await?;
                (saved.location, saved.saved_at)
            }
            Stamp::BeforeSaving => {
                let now: DateTime<Utc> = self.ctx.utc_now().await?.into();
                plan.created_at = now;
                let location = self.run(boundary::SAVE_PLAN, &plan, retry).await?;
                (location, now)
            }
        };
        let saved = SavedPlan {
            revision: plan.revision,
            location,
            total: plan.costs.total.clone(),
            over_budget: plan.costs.over_budget,
        };
        self.progress.now.plan = Some(saved.clone());
        Ok((saved, saved_at))
    }

    /// The approval window of a plan saved at `saved_at`.
    pub fn approval_window(&self, saved_at: DateTime<Utc>) -> ApprovalWindow {
        let timeout = Duration::from_secs(self.input.approval_timeout_secs);
        let timeout = chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::days(7));
        ApprovalWindow {
            requested_at: saved_at,
            expires_at: saved_at + timeout,
        }
    }

    /// Step 5: an approved plan is booked (idempotently, keyed by the trip); rejected or
    /// expired (no decision), the trip ends unbooked.
    pub async fn conclude(
        mut self,
        plan: SavedPlan,
        decision: Option<ApprovalDecision>,
    ) -> Result<TripOutcome, String> {
        let Some(decision) = decision else {
            self.progress.finish(
                TripState::Expired,
                "The approval window closed; nothing was booked",
            );
            return Ok(TripOutcome::unbooked(TripState::Expired, plan, None));
        };
        self.progress.now.decision = Some(decision.clone());
        if !decision.approved {
            self.progress.finish(
                TripState::Rejected,
                "The plan was rejected; nothing was booked",
            );
            return Ok(TripOutcome::unbooked(
                TripState::Rejected,
                plan,
                Some(decision),
            ));
        }
        self.progress
            .enter(TripStep::Booking, "Approved: booking the trip");
        let request = BookingRequest {
            idempotency_key: self.ctx.instance_id(),
            traveller_name: self.input.request.traveller_name.clone(),
            destination: self.progress.now.destination.clone().unwrap_or_default(),
            duration_days: self.input.request.duration_days,
            plan_revision: plan.revision,
        };
        let booking = self
            .run(boundary::BOOK_TRIP, &request, &self.input.retries.booking)
            .await?;
        self.progress.finish(
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
}

/// "Lisbon, Portugal".
pub(super) fn place(destination: &DestinationSuggestion) -> String {
    format!("{}, {}", destination.name, destination.country)
}
