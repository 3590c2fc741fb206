//! The workflow's side effects. Each activity may run more than once (after a crash, or a retry),
//! so each is safe to repeat: agents are pure calls, saves write the same bytes to the same
//! names, bookings are keyed by the instance id.

use std::sync::Arc;

use duroxide::ActivityContext;
use duroxide::runtime::registry::ActivityRegistry;
use serde::Serialize;
use travel_agents::{
    AgentError, DestinationBrief, DestinationRecommendations, Itinerary, LocalTips, RatesProvider,
    TravelAgents, TravellerBrief,
};

use crate::booking::{BookingError, BookingProvider, BookingRequest};
use crate::plan::{CostSummary, TripPlan};
use crate::store::PlanStore;
use crate::workflow::{ActivityFailure, AgentOutcome, ApprovalRequest, activity};

/// Where the approval request is announced.
#[derive(Debug, Clone)]
pub struct ApprovalWebhook {
    pub url: String,
    /// How people reach this service (for the links in the announcement).
    pub public_base_url: String,
}

/// Everything the activities need.
#[derive(Debug, Clone)]
pub struct Activities {
    pub agents: TravelAgents,
    pub rates: Arc<dyn RatesProvider>,
    pub plans: Arc<dyn PlanStore>,
    pub bookings: Arc<dyn BookingProvider>,
    pub webhook: Option<ApprovalWebhook>,
    pub http: reqwest::Client,
}

type Outcome<T> = Result<T, ActivityFailure>;

fn agent_failure(error: AgentError) -> ActivityFailure {
    ActivityFailure {
        transient: error.is_transient(),
        message: error.to_string(),
    }
}

fn encode<T: Serialize>(result: Outcome<T>) -> Result<String, String> {
    match result {
        Ok(value) => serde_json::to_string(&value)
            .map_err(|e| ActivityFailure::permanent(e.to_string()).encode()),
        Err(failure) => Err(failure.encode()),
    }
}

fn decode<T: serde::de::DeserializeOwned>(name: &str, input: &str) -> Outcome<T> {
    serde_json::from_str(input)
        .map_err(|e| ActivityFailure::permanent(format!("{name}: unreadable input: {e}")))
}

impl Activities {
    /// Registers every activity of the workflow.
    pub fn registry(self: Arc<Self>) -> ActivityRegistry {
        macro_rules! activity {
            ($builder:expr, $name:expr, $method:ident) => {{
                let this = self.clone();
                $builder.register($name, move |ctx: ActivityContext, input: String| {
                    let this = this.clone();
                    let span = tracing::info_span!("activity", name = $name, instance_id = %ctx.instance_id());
                    tracing::Instrument::instrument(async move { encode(this.$method(&input).await) }, span)
                })
            }};
        }
        let builder = ActivityRegistry::builder();
        let builder = activity!(builder, activity::DESTINATION_AGENT, destinations);
        let builder = activity!(builder, activity::ITINERARY_AGENT, itinerary);
        let builder = activity!(builder, activity::LOCAL_TIPS_AGENT, local_tips);
        let builder = activity!(builder, activity::SAVE_PLAN, save_plan);
        let builder = activity!(builder, activity::REQUEST_APPROVAL, request_approval);
        let builder = activity!(builder, activity::BOOK_TRIP, book);
        builder.build_result().expect("activity names are unique")
    }

    async fn destinations(&self, input: &str) -> Outcome<AgentOutcome<DestinationRecommendations>> {
        let brief: TravellerBrief = decode(activity::DESTINATION_AGENT, input)?;
        let reply = self
            .agents
            .destination
            .run(&brief)
            .await
            .map_err(agent_failure)?;
        Ok(AgentOutcome {
            output: reply.output,
            thread: reply.thread,
        })
    }

    async fn itinerary(&self, input: &str) -> Outcome<AgentOutcome<Itinerary>> {
        let brief: DestinationBrief = decode(activity::ITINERARY_AGENT, input)?;
        let mut reply = self
            .agents
            .itinerary
            .run(&brief)
            .await
            .map_err(agent_failure)?;
        // Totals need a rate for every currency the costs use; ask the provider for any the
        // model did not look up.
        let budget = &brief.traveller.budget.currency;
        for currency in CostSummary::missing_currencies(&reply.output, budget) {
            let rate = self
                .rates
                .rate(&currency, budget)
                .await
                .map_err(|e| ActivityFailure::transient(e.to_string()))?;
            reply.output.exchange_rates.push(rate);
        }
        Ok(AgentOutcome {
            output: reply.output,
            thread: reply.thread,
        })
    }

    async fn local_tips(&self, input: &str) -> Outcome<AgentOutcome<LocalTips>> {
        let brief: DestinationBrief = decode(activity::LOCAL_TIPS_AGENT, input)?;
        let reply = self
            .agents
            .local_tips
            .run(&brief)
            .await
            .map_err(agent_failure)?;
        Ok(AgentOutcome {
            output: reply.output,
            thread: reply.thread,
        })
    }

    async fn save_plan(&self, input: &str) -> Outcome<crate::store::PlanLocation> {
        let plan: TripPlan = decode(activity::SAVE_PLAN, input)?;
        self.plans.save(&plan).await.map_err(|e| {
            tracing::warn!(instance_id = %plan.instance_id, error = %e, store = %self.plans.describe(), "saving the plan failed");
            ActivityFailure { transient: e.is_transient(), message: e.to_string() }
        })
    }

    async fn request_approval(&self, input: &str) -> Outcome<serde_json::Value> {
        let request: ApprovalRequest = decode(activity::REQUEST_APPROVAL, input)?;
        tracing::info!(instance_id = %request.instance_id, expires_at = %request.window.expires_at, "approval requested");
        let Some(webhook) = &self.webhook else {
            return Ok(serde_json::json!({"notified": false}));
        };
        let base = webhook.public_base_url.trim_end_matches('/');
        let body = serde_json::json!({
            "instanceId": request.instance_id,
            "travelerName": request.traveler_name,
            "destination": request.destination,
            "total": request.plan.total,
            "overBudget": request.plan.over_budget,
            "expiresAt": request.window.expires_at,
            "reviewUrl": format!("{base}/trips/{}", request.instance_id),
            "statusUrl": format!("{base}/api/trips/{}", request.instance_id),
            "approveUrl": format!("{base}/approve/{}", request.instance_id),
        });
        // A webhook that fails does not stop the trip: the approval can still be given on the
        // trip's page. It is retried a few times with the activity, then given up.
        match self
            .http
            .post(&webhook.url)
            .json(&body)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Ok(serde_json::json!({"notified": true})),
            Ok(r) => {
                tracing::warn!(status = %r.status(), "the approval webhook refused the announcement");
                Ok(serde_json::json!({"notified": false, "status": r.status().as_u16()}))
            }
            Err(e) => {
                tracing::warn!(error = %e, "the approval webhook could not be reached");
                Ok(serde_json::json!({"notified": false, "error": e.to_string()}))
            }
        }
    }

    async fn book(&self, input: &str) -> Outcome<crate::booking::BookingConfirmation> {
        let request: BookingRequest = decode(activity::BOOK_TRIP, input)?;
        self.bookings.book(&request).await.map_err(|e| match e {
            BookingError::Unavailable(m) => ActivityFailure::transient(m),
            BookingError::Refused(m) => ActivityFailure::permanent(m),
        })
    }
}
