//! The workflow's side effects. Each activity may run more than once (after a crash, or a retry),
//! so each is safe to repeat: agents are pure calls, saves write the same bytes to the same
//! names, bookings are keyed by the instance id.

use std::future::Future;
use std::sync::Arc;

use duroxide::ActivityContext;
use duroxide::runtime::registry::{ActivityRegistry, ActivityRegistryBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use travel_agents::{
    Agent, AgentError, AgentReply, AgentThread, DestinationBrief, DestinationRecommendations,
    Itinerary, LocalTips, PackingList, RatesError, RatesProvider, Role, TravelAgents,
    TravellerBrief,
};

use crate::booking::{BookingError, BookingProvider, BookingRequest};
use crate::plan::{CostSummary, TripPlan};
use crate::store::{PlanStore, StoreError};
use crate::trip_index::TripIndex;
use crate::workflow::boundary::{self, Activity};
use crate::workflow::{ActivityFailure, ApprovalAnnounced, ApprovalRequest, PlanSaved};

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
    /// Where the agents' messages are kept (beside the trips index, in the workflow store), so
    /// that the history carries only a summary of each thread.
    pub conversations: Arc<TripIndex>,
    pub bookings: Arc<dyn BookingProvider>,
    pub webhook: Option<ApprovalWebhook>,
    pub http: reqwest::Client,
    pub slots: ActivitySlots,
}

/// Saves and bookings run at once, each kind within its own slots: agent calls wait on the model
/// and are admitted by its provider (see `travel_agents::llm::admission`), but a burst of plans
/// finished together should not open thousands of writes to the plan store, nor of calls to the
/// booking provider, at once.
#[derive(Debug, Clone)]
pub struct ActivitySlots {
    saves: Arc<tokio::sync::Semaphore>,
    bookings: Arc<tokio::sync::Semaphore>,
}

impl ActivitySlots {
    pub fn new(saves: usize, bookings: usize) -> Self {
        Self {
            saves: Arc::new(tokio::sync::Semaphore::new(saves.max(1))),
            bookings: Arc::new(tokio::sync::Semaphore::new(bookings.max(1))),
        }
    }
}

/// Plan saves one process runs at once, unless configured (`ENGINE_SAVE_SLOTS`).
pub const DEFAULT_SAVE_SLOTS: usize = 32;
/// Bookings one process runs at once, unless configured (`ENGINE_BOOKING_SLOTS`).
pub const DEFAULT_BOOKING_SLOTS: usize = 32;

impl Default for ActivitySlots {
    fn default() -> Self {
        Self::new(DEFAULT_SAVE_SLOTS, DEFAULT_BOOKING_SLOTS)
    }
}

/// Waits for a slot of `slots`.
async fn slot(slots: &tokio::sync::Semaphore) -> tokio::sync::SemaphorePermit<'_> {
    slots.acquire().await.expect("the slots are never closed")
}

type Outcome<T> = Result<T, ActivityFailure>;

/// An agent call's failure, with how long it took (counted against its retry budget).
fn agent_failure(started: std::time::Instant) -> impl FnOnce(AgentError) -> ActivityFailure {
    move |error| ActivityFailure {
        transient: error.is_transient(),
        message: error.to_string(),
        retry_after_secs: error.retry_after().map(|d| d.as_secs_f64().ceil() as u64),
        elapsed_ms: Some(started.elapsed().as_millis() as u64),
    }
}

/// Registers `activity` to run `run(activities, trip id, input)`, in a span of the trip's trace.
fn register<I, O, F, Fut>(
    this: &Arc<Activities>,
    builder: ActivityRegistryBuilder,
    activity: Activity<I, O>,
    run: F,
) -> ActivityRegistryBuilder
where
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    F: Fn(Arc<Activities>, String, I) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Outcome<O>> + Send + 'static,
{
    let this = this.clone();
    let name = activity.name();
    builder.register(name, move |ctx: ActivityContext, input: String| {
        let (this, run) = (this.clone(), run.clone());
        let span = tracing::info_span!(
            "activity",
            otel.name = %format!("activity {name}"),
            name,
            instance_id = %ctx.instance_id(),
            otel.status_code = tracing::field::Empty,
        );
        travel_platform::trace::within_trip(&span, ctx.instance_id());
        tracing::Instrument::instrument(
            async move {
                let result = match activity.read_input(&input) {
                    Ok(input) => run(this, ctx.instance_id().to_owned(), input).await,
                    Err(unreadable) => Err(ActivityFailure::permanent(unreadable)),
                };
                if result.is_err() {
                    tracing::Span::current().record("otel.status_code", "ERROR");
                }
                match result {
                    Ok(output) => activity
                        .output_text(&output)
                        .map_err(|e| ActivityFailure::permanent(e).encode()),
                    Err(failure) => Err(failure.encode()),
                }
            },
            span,
        )
    })
}

/// The plan revision an itinerary or tips call is for.
fn revision_of(brief: &DestinationBrief) -> u32 {
    brief.feedback.as_ref().map_or(1, |f| f.revision)
}

impl Activities {
    /// Registers every activity of the workflow, each under its typed descriptor
    /// ([`boundary`]): its input is read, and its output written, as the workflow's calls write
    /// and read them.
    pub fn registry(self: Arc<Self>) -> ActivityRegistry {
        let builder = ActivityRegistry::builder();
        let builder = register(
            &self,
            builder,
            boundary::DESTINATION_AGENT,
            |this, trip, brief| this.destinations(trip, brief),
        );
        let builder = register(
            &self,
            builder,
            boundary::ITINERARY_AGENT,
            |this, trip, brief| this.itinerary(trip, brief),
        );
        let builder = register(
            &self,
            builder,
            boundary::LOCAL_TIPS_AGENT,
            |this, trip, brief| this.local_tips(trip, brief),
        );
        let builder = register(
            &self,
            builder,
            boundary::PACKING_AGENT,
            |this, trip, brief| this.packing(trip, brief),
        );
        let builder = register(&self, builder, boundary::SAVE_PLAN, |this, _, plan| {
            this.save_plan(plan)
        });
        let builder = register(&self, builder, boundary::SAVE_NEW_PLAN, |this, _, plan| {
            this.save_new_plan(plan)
        });
        let builder = register(
            &self,
            builder,
            boundary::REQUEST_APPROVAL,
            |this, _, request| this.request_approval(request),
        );
        let builder = register(&self, builder, boundary::BOOK_TRIP, |this, _, request| {
            this.book(request)
        });
        builder.build_result().expect("activity names are unique")
    }

    /// Keeps the thread's messages apart from the history and returns the outcome the workflow
    /// records: the output and the thread's summary (provider, model, usage, rounds). The
    /// tokens are kept for the plan revision the call was for.
    async fn outcome<T>(
        &self,
        (instance_id, revision): (&str, u32),
        output: T,
        mut thread: AgentThread,
    ) -> Outcome<AgentReply<T>> {
        let messages = std::mem::take(&mut thread.messages);
        self.conversations
            .save_agent_call(instance_id, revision, &thread, &messages)
            .await
            .map_err(|e| ActivityFailure::transient(e.to_string()))?;
        Ok(AgentReply { output, thread })
    }

    /// An agent's call for a trip's plan revision: its answer, with its conversation and the
    /// tokens it spent kept apart from the history.
    async fn ask<R: Role>(
        &self,
        agent: &Agent<R>,
        (instance_id, revision): (&str, u32),
        input: &R::Input,
    ) -> Outcome<AgentReply<R::Output>> {
        let started = std::time::Instant::now();
        let watcher = self.conversations.live_replies().watcher(instance_id);
        let reply = agent
            .run_watched(input, Some(&watcher))
            .await
            .map_err(agent_failure(started))?;
        self.outcome((instance_id, revision), reply.output, reply.thread)
            .await
    }

    async fn destinations(
        self: Arc<Self>,
        instance_id: String,
        brief: TravellerBrief,
    ) -> Outcome<AgentReply<DestinationRecommendations>> {
        self.ask(&self.agents.destination, (&instance_id, 1), &brief)
            .await
    }

    async fn itinerary(
        self: Arc<Self>,
        instance_id: String,
        brief: DestinationBrief,
    ) -> Outcome<AgentReply<Itinerary>> {
        let started = std::time::Instant::now();
        let watcher = self.conversations.live_replies().watcher(&instance_id);
        let mut reply = self
            .agents
            .itinerary
            .run_watched(&brief, Some(&watcher))
            .await
            .map_err(agent_failure(started))?;
        // Totals need a rate for every currency the costs use; ask the provider for any the
        // model did not look up. A currency it has no rate for will not get one by asking again
        // (nor by paying for the agent again): its amounts stay out of the total, named
        // (`CostSummary::unconverted`). A rates service that is down is worth another try.
        let budget = &brief.traveller.budget.currency;
        for currency in CostSummary::missing_currencies(&reply.output, budget) {
            match self.rates.rate(&currency, budget).await {
                Ok(rate) => reply.output.exchange_rates.push(rate),
                Err(RatesError::Unknown { .. }) => {
                    tracing::warn!(%instance_id, %currency, %budget, "no exchange rate: its costs stay out of the total");
                }
                Err(e) => return Err(ActivityFailure::transient(e.to_string())),
            }
        }
        self.outcome(
            (&instance_id, revision_of(&brief)),
            reply.output,
            reply.thread,
        )
        .await
    }

    async fn local_tips(
        self: Arc<Self>,
        instance_id: String,
        brief: DestinationBrief,
    ) -> Outcome<AgentReply<LocalTips>> {
        let revision = revision_of(&brief);
        self.ask(&self.agents.local_tips, (&instance_id, revision), &brief)
            .await
    }

    async fn packing(
        self: Arc<Self>,
        instance_id: String,
        brief: DestinationBrief,
    ) -> Outcome<AgentReply<PackingList>> {
        let revision = revision_of(&brief);
        self.ask(&self.agents.packing, (&instance_id, revision), &brief)
            .await
    }

    async fn save_plan(self: Arc<Self>, plan: TripPlan) -> Outcome<crate::store::PlanLocation> {
        self.save(&plan)
            .await
            .map_err(|e| self.save_failed(&plan.instance_id, e))
    }

    /// Saves through the plan store, timed for the metrics.
    async fn save(&self, plan: &TripPlan) -> Result<crate::store::PlanLocation, StoreError> {
        let _slot = slot(&self.slots.saves).await;
        let started = std::time::Instant::now();
        let saved = self.plans.save(plan).await;
        let failed = saved
            .as_ref()
            .is_err_and(|e| !matches!(e, StoreError::Conflict(_)));
        crate::telemetry::plan_store("save", started.elapsed(), failed);
        saved
    }

    /// A failed save, logged, as the activity reports it (outages are retried).
    fn save_failed(&self, instance_id: &str, e: StoreError) -> ActivityFailure {
        tracing::warn!(instance_id = %instance_id, error = %e, store = %self.plans.describe(), "saving the plan failed");
        match e.is_transient() {
            true => ActivityFailure::transient(e.to_string()),
            false => ActivityFailure::permanent(e.to_string()),
        }
    }

    /// Stamps the plan with the time it is first saved and saves it. Run again (after a crash,
    /// or a retry), it finds the revision already saved and keeps that one's stamp, so the same
    /// bytes are written again. Two runs at once (a lease that ran out while the first still
    /// ran): the second finds the first's documents and answers with them.
    async fn save_new_plan(self: Arc<Self>, mut plan: TripPlan) -> Outcome<PlanSaved> {
        let instance_id = plan.instance_id.clone();
        let failed = |e: StoreError| self.save_failed(&instance_id, e);
        plan.created_at = match self.saved_stamp(&plan).await.map_err(failed)? {
            Some(stamp) => stamp,
            None => chrono::Utc::now(),
        };
        let location = match self.save(&plan).await {
            Err(StoreError::Conflict(_)) => {
                plan.created_at = self
                    .saved_stamp(&plan)
                    .await
                    .map_err(failed)?
                    .ok_or_else(|| ActivityFailure::transient("the saved plan vanished"))?;
                self.save(&plan).await.map_err(failed)?
            }
            saved => saved.map_err(failed)?,
        };
        Ok(PlanSaved {
            location,
            saved_at: plan.created_at,
        })
    }

    /// The stamp of the plan's revision if it is saved already.
    async fn saved_stamp(
        &self,
        plan: &TripPlan,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        let saved = self
            .plans
            .load(&plan.instance_id, Some(plan.revision))
            .await?;
        Ok(saved.map(|saved| saved.created_at))
    }

    async fn request_approval(
        self: Arc<Self>,
        request: ApprovalRequest,
    ) -> Outcome<ApprovalAnnounced> {
        tracing::info!(instance_id = %request.instance_id, expires_at = %request.window.expires_at, "approval requested");
        let Some(webhook) = &self.webhook else {
            return Ok(ApprovalAnnounced::default());
        };
        let base = webhook.public_base_url.trim_end_matches('/');
        let body = serde_json::json!({
            "instanceId": request.instance_id,
            "travelerName": request.traveller_name,
            "destination": request.destination,
            "total": request.plan.total,
            "overBudget": request.plan.over_budget,
            "expiresAt": request.window.expires_at,
            "reviewUrl": format!("{base}/trips/{}", request.instance_id),
            "statusUrl": format!("{base}/api/trips/{}", request.instance_id),
            "approveUrl": format!("{base}/approve/{}", request.instance_id),
        });
        // A webhook that fails does not stop the trip: the approval can still be given on the
        // trip's page. It is tried once (10 s at most), and the failure is logged and recorded
        // in the activity's result.
        match self
            .http
            .post(&webhook.url)
            .json(&body)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Ok(ApprovalAnnounced {
                notified: true,
                ..Default::default()
            }),
            Ok(r) => {
                tracing::warn!(status = %r.status(), "the approval webhook refused the announcement");
                Ok(ApprovalAnnounced {
                    status: Some(r.status().as_u16()),
                    ..Default::default()
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "the approval webhook could not be reached");
                Ok(ApprovalAnnounced {
                    error: Some(e.to_string()),
                    ..Default::default()
                })
            }
        }
    }

    async fn book(
        self: Arc<Self>,
        request: BookingRequest,
    ) -> Outcome<crate::booking::BookingConfirmation> {
        let _slot = slot(&self.slots.bookings).await;
        self.bookings.book(&request).await.map_err(|e| match e {
            BookingError::Unavailable(m) => ActivityFailure::transient(m),
            BookingError::Refused(m) => ActivityFailure::permanent(m),
        })
    }
}
