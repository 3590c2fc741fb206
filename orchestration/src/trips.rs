//! What the HTTP API (and the command line) can do with trips: start one, read its status, plan
//! and agent threads, and decide on it. One place turns the engine's view into the traveller's.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use duroxide::providers::Provider;
use duroxide::{AppErrorKind, Client, ClientError, ErrorDetails, EventKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use travel_agents::{AgentName, AgentThread};

use crate::engine::Store;
use crate::free_text;
use crate::links::LinkParams;
use crate::plan::TripPlan;
use crate::progress::{
    ApprovalDecision, ChangeRequest, DecidedVia, ReviewAnswer, TripOutcome, TripProgress, TripState,
};
use crate::request::{FieldError, TripRequest};
use crate::store::{PlanStore, StoreError};
use crate::trip_id::TripId;
use crate::trip_index::{Claim, IndexError, RetryLinks, Started, TripRow};
use crate::workflow::boundary::APPROVAL;
use crate::workflow::{ORCHESTRATION, RetrySettings, Reused, TripInput};

use crate::free_text::MAX_COMMENTS;

/// A trip that was just started.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartedTrip {
    pub instance_id: TripId,
    /// Needed to approve or reject the plan; shown once, never stored.
    pub approval_token: String,
}

/// Everything known about a trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TripStatus {
    pub instance_id: TripId,
    pub status: TripState,
    /// The workflow's latest progress report.
    pub progress: Option<TripProgress>,
    /// How it ended, once it has.
    pub outcome: Option<TripOutcome>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl TripStatus {
    /// The decision recorded by the workflow, if any.
    pub fn decision(&self) -> Option<&ApprovalDecision> {
        self.outcome
            .as_ref()
            .and_then(|o| o.decision.as_ref())
            .or_else(|| self.progress.as_ref().and_then(|p| p.decision.as_ref()))
    }
}

/// Why a trip operation did not happen.
/// What a trip's view shows besides its status ([`Trips::view`]).
#[derive(Debug, Clone)]
pub struct TripRecords {
    pub retries: RetryLinks,
    pub costs: crate::costs::TripCosts,
    pub answers: Vec<ReviewAnswer>,
}

#[derive(Debug, thiserror::Error)]
pub enum TripError {
    #[error("some fields are invalid")]
    Invalid(Vec<FieldError>),
    #[error("no trip has the id `{}`", travel_agents::text_start(.0, 64))]
    NotFound(String),
    #[error("no plan has been saved for trip `{0}` yet")]
    NoPlanYet(String),
    #[error("trip `{instance_id}` has no plan revision {revision}")]
    NoSuchRevision { instance_id: String, revision: u32 },
    #[error("the {agent} agent has not finished for trip `{instance_id}`")]
    NoThread {
        instance_id: String,
        agent: AgentName,
    },
    #[error("an approval token is required: send `Authorization: Bearer <approvalToken>`")]
    MissingToken,
    #[error("the approval token does not belong to this trip")]
    WrongToken,
    #[error("the trip is not waiting for approval (it is {})", .0.status)]
    NotWaiting(Box<TripStatus>),
    #[error("a different answer was already given on this plan")]
    AlreadyDecided(Box<TripStatus>),
    #[error(
        "a trip's plan may be revised at most {max} times (MAX_REVISIONS), and this one was: approve or reject it"
    )]
    RevisionLimit { max: u32 },
    #[error("this trip was started before plans could be revised: approve or reject it")]
    RevisionsUnsupported,
    #[error(transparent)]
    Link(#[from] crate::links::LinkError),
    #[error("only a failed trip can be tried again (this one is {})", .0.status)]
    NotFailed(Box<TripStatus>),
    #[error("an operator stopped this trip; only an operator can start it again")]
    StoppedByOperator(Box<TripStatus>),
    #[error("this trip was already tried again, as `{retried_by}`")]
    AlreadyRetried { retried_by: String },
    #[error("the workflow engine failed: {0}")]
    Engine(String),
    /// The workflow store cannot be reached now (what it said is logged, not answered).
    #[error("the workflow store cannot be reached just now")]
    StoreUnreachable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ClientError> for TripError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::InstanceNotFound { instance_id } => TripError::NotFound(instance_id),
            other if other.is_retryable() => {
                tracing::warn!(error = %other, "the workflow store cannot be reached");
                TripError::StoreUnreachable
            }
            other => TripError::Engine(other.to_string()),
        }
    }
}

/// How long a read for a person (a trip's status, a page of trips) waits for the workflow store
/// before it answers that the store cannot be reached: without it, a store refusing connections
/// keeps a request waiting for the pool's 30 s.
pub const STORE_READ_WAIT: Duration = Duration::from_secs(5);

/// `read`, or [`TripError::StoreUnreachable`] once it has taken [`STORE_READ_WAIT`].
pub(crate) async fn within_read_wait<T>(
    read: impl std::future::Future<Output = Result<T, TripError>>,
) -> Result<T, TripError> {
    match tokio::time::timeout(STORE_READ_WAIT, read).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("the workflow store did not answer a read in time");
            Err(TripError::StoreUnreachable)
        }
    }
}

/// Settings fixed into every new trip.
#[derive(Debug, Clone)]
pub struct TripSettings {
    pub approval_timeout: Duration,
    pub retries: RetrySettings,
    /// Whether plans awaiting approval are announced (a webhook is configured): without one,
    /// new trips skip the announcement step.
    pub announce_approval: bool,
    /// What the models' tokens cost (for the trips' costs).
    pub prices: travel_agents::pricing::PriceTable,
    /// How many revised plans a reviewer may ask for, per trip.
    pub max_revisions: u32,
    /// The approvers' signed review links (`APPROVERS`), when there are approvers.
    pub links: Option<crate::links::ApprovalLinks>,
}

/// How many revised plans a reviewer may ask for unless configured otherwise.
pub const DEFAULT_MAX_REVISIONS: u32 = 3;

/// How long a plan waits for approval unless configured otherwise: seven days.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

impl Default for TripSettings {
    fn default() -> Self {
        Self {
            approval_timeout: DEFAULT_APPROVAL_TIMEOUT,
            retries: RetrySettings::default(),
            announce_approval: true,
            prices: Default::default(),
            max_revisions: DEFAULT_MAX_REVISIONS,
            links: None,
        }
    }
}

/// The trips of this service.
#[derive(Clone)]
pub struct Trips {
    client: Client,
    store: Store,
    plans: Arc<dyn PlanStore>,
    settings: TripSettings,
}

impl std::fmt::Debug for Trips {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trips")
            .field("store", &self.store)
            .field("plans", &self.plans)
            .field("settings", &self.settings)
            .finish()
    }
}

use travel_platform::secret::{constant_time_eq, random_hex, sha256_hex as token_digest};

impl From<IndexError> for TripError {
    fn from(error: IndexError) -> Self {
        if error.is_unreachable() {
            tracing::warn!(error = %error, "the workflow store cannot be reached");
            return TripError::StoreUnreachable;
        }
        TripError::Engine(error.to_string())
    }
}

impl From<TripRow> for TripStatus {
    fn from(row: TripRow) -> Self {
        let mut progress = row.progress;
        if row.state.is_final()
            && let Some(progress) = &mut progress
        {
            // A trip that ended is no longer trying anything again.
            progress.retrying = None;
            // Its last report was made while it ran ("Planning the days in ..."); a failure
            // makes none of its own.
            if row.state == TripState::Failed {
                progress.message = "The trip failed (see `error`).".into();
            }
        }
        TripStatus {
            instance_id: row.instance_id,
            status: row.state,
            progress,
            outcome: row.outcome,
            error: row.error,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// How long an undelivered decision or a trip row that may be behind is left alone before the
/// repair pass looks at it (a live process finishes either within milliseconds).
const REPAIR_GRACE: Duration = Duration::from_secs(10);

impl Trips {
    pub fn new(store: Store, plans: Arc<dyn PlanStore>, settings: TripSettings) -> Self {
        Self {
            client: store.client(),
            store,
            plans,
            settings,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn plans(&self) -> &Arc<dyn PlanStore> {
        &self.plans
    }

    pub fn settings(&self) -> &TripSettings {
        &self.settings
    }

    /// Validates and starts a trip; its status answers at once.
    pub async fn start(&self, request: TripRequest) -> Result<StartedTrip, TripError> {
        request.validate().map_err(TripError::Invalid)?;
        let instance_id = TripId::new_random();
        let span = tracing::info_span!("start_trip", otel.name = "start trip");
        travel_platform::trace::within_trip(&span, &instance_id);
        self.start_as(instance_id, request, None, Token::New)
            .instrument(span)
            .await
    }

    /// Validates and starts the trip an intake conversation gathered, as `instance_id` (which
    /// follows from the conversation's), approved with the conversation's token. Starting it
    /// again is a no-op: a conversation that a stopped process left mid-call settles it so.
    pub async fn start_from_conversation(
        &self,
        instance_id: TripId,
        request: TripRequest,
        token_sha256: &str,
    ) -> Result<(), TripError> {
        request.validate().map_err(TripError::Invalid)?;
        match self.row(&instance_id).await {
            Ok(_) => return Ok(()),
            Err(TripError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
        let span = tracing::info_span!("start_trip", otel.name = "start trip");
        travel_platform::trace::within_trip(&span, &instance_id);
        let token = Token::Kept(token_sha256.to_owned());
        self.start_as(instance_id, request, None, token)
            .instrument(span)
            .await
            .map(|_| ())
    }

    async fn start_as(
        &self,
        instance_id: TripId,
        request: TripRequest,
        reused: Option<Reused>,
        token: Token,
    ) -> Result<StartedTrip, TripError> {
        let (approval_token, approval_token_sha256) = match token {
            Token::New => {
                let token = random_hex(32);
                let digest = token_digest(&token);
                (token, digest)
            }
            Token::Kept(digest) => (String::new(), digest),
        };
        let input = TripInput {
            request,
            approval_token_sha256,
            approval_timeout_secs: self.settings.approval_timeout.as_secs().max(1),
            retries: self.settings.retries.clone(),
            workflow_revision: crate::workflow::WORKFLOW_REVISION,
            announce_approval: self.settings.announce_approval,
            reused,
            max_revisions: self.settings.max_revisions,
        };
        let started = Started {
            traveller: input.request.traveller_name.clone(),
            created_ms: Utc::now().timestamp_millis() as u64,
            token_sha256: input.approval_token_sha256.clone(),
        };
        self.client
            .start_orchestration_versioned_typed(
                instance_id.as_str(),
                ORCHESTRATION,
                crate::workflow::WORKFLOW_VERSION,
                &input,
            )
            .await?;
        // Were this process to die now, the engine's first turn would create the row itself.
        self.store.index.started(&instance_id, &started).await?;
        crate::telemetry::trip_started();
        tracing::info!(instance_id = %instance_id, "trip started");
        // The engine creates the instance on its first turn (a millisecond or two); until then
        // it could not be managed (terminated, purged), so answer once it has.
        self.store
            .index
            .wait_for_first_turn(&instance_id, Duration::from_secs(5))
            .await?;
        Ok(StartedTrip {
            instance_id,
            approval_token,
        })
    }

    /// Starts a failed trip again, for its requester (who holds its approval token): a new trip
    /// with the same request that reuses every agent answer the failed one had got, so only
    /// what failed runs again. The two are linked both ways (`retry_of`, `retried_by`); a trip
    /// is retried once.
    pub async fn retry(
        &self,
        instance_id: &TripId,
        token: Option<&str>,
    ) -> Result<StartedTrip, TripError> {
        let row = self.row(instance_id).await?;
        self.check_token(&row, token).await?;
        // A trip an operator stopped stays stopped, as far as its requester is concerned.
        if row.state == TripState::Failed && self.stopped_by_operator(instance_id).await?.is_some()
        {
            return Err(TripError::StoppedByOperator(Box::new(TripStatus::from(
                row,
            ))));
        }
        let mut started = self.retry_unchecked(row).await?;
        // The requester's token works for the new trip too.
        started.approval_token = token.unwrap_or_default().to_owned();
        Ok(started)
    }

    /// Why an operator stopped the trip (terminated it), when one did: read from the engine's
    /// record of how the trip ended, never from the error's text (which carries the operator's
    /// own words).
    pub async fn stopped_by_operator(
        &self,
        instance_id: &TripId,
    ) -> Result<Option<String>, TripError> {
        let history = self
            .store
            .provider
            .read(instance_id)
            .await
            .map_err(|e| TripError::Engine(e.to_string()))?;
        Ok(history.iter().rev().find_map(|event| match &event.kind {
            EventKind::OrchestrationFailed {
                details:
                    ErrorDetails::Application {
                        kind: AppErrorKind::Cancelled { reason },
                        ..
                    },
            } => Some(reason.clone()),
            _ => None,
        }))
    }

    /// [`Self::retry`] for an operator (no approval token needed: operators are trusted). The
    /// requester's approval token works for the new trip.
    pub async fn retry_as_operator(&self, instance_id: &TripId) -> Result<StartedTrip, TripError> {
        let row = self.row(instance_id).await?;
        self.retry_unchecked(row).await
    }

    async fn retry_unchecked(&self, row: TripRow) -> Result<StartedTrip, TripError> {
        let failed = row.instance_id.clone();
        let status = TripStatus::from(row);
        if status.status != TripState::Failed {
            return Err(TripError::NotFailed(Box::new(status)));
        }
        if let Some(retried_by) = self.store.index.retries(&failed).await?.retried_by {
            return Err(TripError::AlreadyRetried { retried_by });
        }
        let history = self.client.read_execution_history(&failed, 1).await?;
        let input = self.input(&failed).await?;
        // The request is checked again: its start date may have passed meanwhile.
        input.request.validate().map_err(TripError::Invalid)?;
        let reused = Reused {
            retry_of: failed.to_string(),
            results: reusable_results(&history, input.reused.as_ref()),
        };
        let retry = TripId::new_random();
        if !self.store.index.claim_retry(&failed, &retry).await? {
            let retried_by = self.store.index.retries(&failed).await?.retried_by;
            return Err(TripError::AlreadyRetried {
                retried_by: retried_by.unwrap_or_default(),
            });
        }
        let started = self
            .start_retry(&failed, retry.clone(), input, reused)
            .await;
        if started.is_err() {
            // Nothing started: the failed trip may be tried again.
            self.store.index.release_retry(&failed, &retry).await?;
        }
        started
    }

    /// Starts `retry` with the failed trip's request and approval token, and the answers it
    /// reuses (with their kept conversations).
    async fn start_retry(
        &self,
        failed: &TripId,
        retry: TripId,
        failed_input: TripInput,
        reused: Reused,
    ) -> Result<StartedTrip, TripError> {
        let agents: Vec<AgentName> = AgentName::ALL
            .into_iter()
            .filter(|a| reused.results.contains_key(a.info().activity))
            .collect();
        // The failed trip holds the conversations of everything it reused too (copied when it
        // was started).
        self.store
            .index
            .copy_conversations(failed, &retry, &agents)
            .await?;
        tracing::info!(%failed, %retry, reused = ?agents, "failed trip started again");
        let span = tracing::info_span!("retry_trip", otel.name = "retry trip", retry_of = %failed);
        travel_platform::trace::within_trip(&span, &retry);
        let token = Token::Kept(failed_input.approval_token_sha256);
        self.start_as(retry, failed_input.request, Some(reused), token)
            .instrument(span)
            .await
    }

    /// What the trip's own agent calls cost so far: each agent's tokens and their price (one
    /// indexed read; answers a retried trip reused are counted with the trip that got them).
    pub async fn costs(&self, instance_id: &TripId) -> Result<crate::costs::TripCosts, TripError> {
        let spent = self
            .store
            .index
            .usage_of(&[instance_id.to_string()])
            .await?;
        Ok(crate::costs::TripCosts::of_usage(
            spent.into_iter().map(|(_, agent, usage)| (agent, usage)),
            self.prices(),
        ))
    }

    /// What the models' tokens cost.
    pub(crate) fn prices(&self) -> &travel_agents::pricing::PriceTable {
        &self.settings.prices
    }

    /// [`Self::costs`] from a history read already.
    pub(crate) fn costs_in(&self, history: &[duroxide::Event]) -> crate::costs::TripCosts {
        let own: Vec<(u32, AgentThread)> = AgentName::ALL
            .into_iter()
            .flat_map(|agent| threads(history, agent))
            .collect();
        let reused: Vec<(u32, AgentThread)> = AgentName::ALL
            .into_iter()
            .filter(|agent| own.iter().all(|(r, t)| t.agent != *agent || *r != 1))
            .filter_map(|agent| reused_thread(history, agent))
            .map(|thread| (1, thread))
            .collect();
        crate::costs::TripCosts::of(own, reused, self.prices())
    }

    /// Every answer given on the trip's plan revisions, the first revision's first: who gave
    /// it, how, when, and what it was (the audit trail).
    pub async fn answers(&self, instance_id: &TripId) -> Result<Vec<ReviewAnswer>, TripError> {
        let recorded = self.store.index.answers(instance_id).await?;
        Ok(recorded.into_iter().map(|r| r.answer).collect())
    }

    /// Which trip this one retries, and which retried it.
    pub async fn retries(&self, instance_id: &TripId) -> Result<RetryLinks, TripError> {
        Ok(self.store.index.retries(instance_id).await?)
    }

    /// The trip's status with [`Self::retries`], [`Self::costs`] and [`Self::answers`]: what its
    /// view shows, in one statement when the index has its row (else as [`Self::status`] finds
    /// it, then the rest).
    pub async fn view(&self, instance_id: &TripId) -> Result<(TripStatus, TripRecords), TripError> {
        let found =
            within_read_wait(async { Ok(self.store.index.row_and_details(instance_id).await?) })
                .await?;
        if let Some((row, details)) = found {
            return Ok((row.into(), self.records_of(details)));
        }
        let status = self.status(instance_id).await?;
        let details = self.store.index.details(instance_id).await?;
        Ok((status, self.records_of(details)))
    }

    fn records_of(&self, details: crate::trip_index::TripDetails) -> TripRecords {
        TripRecords {
            retries: details.retries,
            costs: crate::costs::TripCosts::of_usage(details.usage, self.prices()),
            answers: details.answers.into_iter().map(|r| r.answer).collect(),
        }
    }

    /// The trip's row in the index (one indexed read); when the index has none, the engine's
    /// history is read and the row written.
    async fn index_row(&self, instance_id: &TripId) -> Result<TripRow, TripError> {
        if let Some(row) = self.store.index.get(instance_id).await? {
            return Ok(row);
        }
        self.store
            .index
            .refresh(self.store.provider.as_ref(), instance_id)
            .await?
            .ok_or_else(|| TripError::NotFound(instance_id.to_string()))
    }

    pub(crate) async fn row(&self, instance_id: &TripId) -> Result<TripRow, TripError> {
        within_read_wait(self.index_row(instance_id)).await
    }

    pub async fn status(&self, instance_id: &TripId) -> Result<TripStatus, TripError> {
        Ok(self.row(instance_id).await?.into())
    }

    /// Repairs what a process that died may have left half done: index rows behind the engine,
    /// decisions recorded but never delivered. Cheap; `serve` runs it now and then.
    pub async fn repair(&self) -> Result<(), TripError> {
        let looked_at = self
            .store
            .index
            .reconcile(self.store.provider.as_ref(), REPAIR_GRACE)
            .await?;
        if looked_at > 0 {
            tracing::debug!(
                looked_at,
                "checked trip rows that may have been behind the engine"
            );
        }
        for recorded in self.store.index.undelivered(REPAIR_GRACE).await? {
            tracing::info!(
                instance_id = %recorded.instance_id,
                revision = recorded.revision,
                "delivering an answer recorded by a process that stopped"
            );
            let (id, revision) = (&recorded.instance_id, recorded.revision);
            self.deliver(id, revision, &recorded.answer).await?;
        }
        Ok(())
    }

    /// When each step ran.
    pub async fn timeline(
        &self,
        instance_id: &TripId,
    ) -> Result<Vec<crate::timeline::TimelineRow>, TripError> {
        let status = self.status(instance_id).await?;
        let history = self.workflow_history(instance_id).await?;
        Ok(crate::timeline::timeline(
            &history,
            status.status.is_final(),
            Utc::now(),
        ))
    }

    /// The trip's workflow history (its one execution).
    pub(crate) async fn workflow_history(
        &self,
        instance_id: &TripId,
    ) -> Result<Vec<duroxide::Event>, TripError> {
        let read = self.client.read_execution_history(instance_id.as_str(), 1);
        within_read_wait(async { Ok(read.await?) }).await
    }

    /// The latest saved plan.
    pub async fn plan(&self, instance_id: &TripId) -> Result<TripPlan, TripError> {
        self.plan_revision(instance_id, None).await
    }

    /// A saved plan revision (the latest when `None`).
    /// The plan revision a status names (the one under review, or the one booked), once one
    /// was saved; read without reading the status again.
    pub async fn saved_plan(&self, status: &TripStatus) -> Result<Option<TripPlan>, TripError> {
        let Some(saved) = status.progress.as_ref().and_then(|p| p.plan.as_ref()) else {
            return Ok(None);
        };
        Ok(self
            .plans
            .load(&status.instance_id, Some(saved.revision))
            .await?)
    }

    pub async fn plan_revision(
        &self,
        instance_id: &TripId,
        revision: Option<u32>,
    ) -> Result<TripPlan, TripError> {
        self.status(instance_id).await?;
        let plan = self.plans.load(instance_id, revision).await?;
        plan.ok_or_else(|| match revision {
            Some(revision) => TripError::NoSuchRevision {
                instance_id: instance_id.to_string(),
                revision,
            },
            None => TripError::NoPlanYet(instance_id.to_string()),
        })
    }

    /// The workflow's input, read from its history.
    pub async fn input(&self, instance_id: &TripId) -> Result<TripInput, TripError> {
        let history = self.workflow_history(instance_id).await?;
        history
            .iter()
            .find_map(|event| match &event.kind {
                EventKind::OrchestrationStarted { input, .. } => serde_json::from_str(input).ok(),
                _ => None,
            })
            .ok_or_else(|| TripError::NotFound(instance_id.to_string()))
    }

    /// The conversation of the agent's last completed call: its summary from the workflow
    /// history, its messages from there (older trips) or from where they are kept apart.
    pub async fn agent_thread(
        &self,
        instance_id: &TripId,
        agent: AgentName,
    ) -> Result<AgentThread, TripError> {
        self.status(instance_id).await?;
        let history = self.workflow_history(instance_id).await?;
        self.thread_in(instance_id, &history, agent)
            .await?
            .ok_or(TripError::NoThread {
                instance_id: instance_id.to_string(),
                agent,
            })
    }

    /// The agent's last conversation in a history read already, when it finished one.
    pub(crate) async fn thread_in(
        &self,
        instance_id: &TripId,
        history: &[duroxide::Event],
        agent: AgentName,
    ) -> Result<Option<AgentThread>, TripError> {
        let Some(mut thread) =
            last_thread(history, agent).or_else(|| reused_thread(history, agent))
        else {
            return Ok(None);
        };
        // Trips planned since the messages were kept apart carry only the thread's summary.
        if thread.messages.is_empty()
            && let Some(messages) = self.store().index.conversation(instance_id, agent).await?
        {
            thread.messages = messages;
        }
        Ok(Some(thread))
    }

    /// Records a decision, once across every process: the token must be the trip's; the trip
    /// must be waiting; the first decision recorded wins (a row keyed by the trip in the store),
    /// the same decision sent again answers as the first did, another one is a conflict. Answers
    /// as soon as the decision is durably recorded and queued for the workflow.
    pub async fn decide(
        &self,
        instance_id: &TripId,
        token: Option<&str>,
        decision: ApprovalDecision,
    ) -> Result<TripStatus, TripError> {
        let span = tracing::info_span!("decide", approved = decision.approved);
        travel_platform::trace::within_trip(&span, instance_id);
        self.decide_checked(instance_id, token, decision)
            .instrument(span)
            .await
    }

    async fn decide_checked(
        &self,
        instance_id: &TripId,
        token: Option<&str>,
        decision: ApprovalDecision,
    ) -> Result<TripStatus, TripError> {
        let row = self.row(instance_id).await?;
        self.check_token(&row, token).await?;
        self.record_decision(row, decision, Reviewer::requester())
            .await
    }

    /// Asks for a revised plan, for the requester (who holds the approval token): the
    /// workflow plans the itinerary and tips again with the comments, for another recommended
    /// destination if one is chosen, and waits for approval of the new revision. Recorded like
    /// a decision: once per plan revision across processes, so a request racing an approval
    /// resolves to one of them.
    pub async fn revise(
        &self,
        instance_id: &TripId,
        token: Option<&str>,
        changes: ChangeRequest,
    ) -> Result<TripStatus, TripError> {
        let span = tracing::info_span!("revise", otel.name = "ask for a revised plan");
        travel_platform::trace::within_trip(&span, instance_id);
        async {
            let row = self.row(instance_id).await?;
            self.check_token(&row, token).await?;
            self.record_changes(row, changes, Reviewer::requester())
                .await
        }
        .instrument(span)
        .await
    }

    /// The approvers' signed review links, when there are approvers.
    pub fn links(&self) -> Option<&crate::links::ApprovalLinks> {
        self.settings.links.as_ref()
    }

    /// The approvers' links for the plan revision awaiting approval (none when the trip is not
    /// waiting, or there are no approvers).
    pub async fn approver_links(
        &self,
        instance_id: &TripId,
    ) -> Result<Vec<crate::links::ApprovalLink>, TripError> {
        let status = self.status(instance_id).await?;
        let progress = status.progress.as_ref();
        let window = progress.and_then(|p| p.approval.as_ref());
        let revision = progress
            .and_then(|p| p.plan.as_ref())
            .map_or(1, |p| p.revision);
        Ok(match (self.links(), window) {
            (Some(links), Some(window)) if status.status == TripState::AwaitingApproval => {
                links.for_approvers(instance_id, revision, window.expires_at)
            }
            _ => Vec::new(),
        })
    }

    /// The trip's notifications and how their delivery went (the delivery log).
    pub async fn notifications(
        &self,
        instance_id: &TripId,
    ) -> Result<Vec<crate::trip_index::Notice>, TripError> {
        Ok(self.store.index.notices_of(instance_id).await?)
    }

    /// The latest notifications of every trip, newest first (the dashboard's delivery log).
    pub async fn recent_notifications(
        &self,
        limit: i64,
    ) -> Result<Vec<crate::trip_index::Notice>, TripError> {
        Ok(self.store.index.recent_notices(limit).await?)
    }

    /// Checks an approver's review link for the trip (signature, expiry, approver) and answers
    /// the trip's status. Whether it may still act is [`Self::link_acts`].
    pub async fn open_link(
        &self,
        instance_id: &TripId,
        link: &LinkParams,
    ) -> Result<TripStatus, TripError> {
        let links = self.links().ok_or(crate::links::LinkError::BadSignature)?;
        links.verify(instance_id, link, Utc::now())?;
        self.status(instance_id).await
    }

    /// Whether a link opened for `status` may act: its revision is the plan awaiting approval.
    pub fn link_acts(status: &TripStatus, link: &LinkParams) -> Result<(), TripError> {
        let now = status
            .progress
            .as_ref()
            .and_then(|p| p.plan.as_ref())
            .map_or(1, |p| p.revision);
        if link.revision != now {
            return Err(crate::links::LinkError::OldRevision {
                link: link.revision,
                now,
            }
            .into());
        }
        Ok(())
    }

    /// An approver's answer through their signed link: approve, reject or ask for changes on
    /// the revision the link was made for, recorded as theirs (`via: link`).
    pub async fn answer_by_link(
        &self,
        instance_id: &TripId,
        link: &LinkParams,
        answer: LinkAnswer,
    ) -> Result<TripStatus, TripError> {
        let links = self.links().ok_or(crate::links::LinkError::BadSignature)?;
        links.verify(instance_id, link, Utc::now())?;
        // The revision is checked on the row the answer is recorded with: an answer is
        // recorded for that row's revision only.
        let row = self.row(instance_id).await?;
        let now = plan_revision(&row);
        if link.revision != now {
            let link = link.revision;
            return Err(crate::links::LinkError::OldRevision { link, now }.into());
        }
        let by = Reviewer {
            name: link.approver.clone(),
            via: DecidedVia::Link,
        };
        match answer {
            LinkAnswer::Decide(decision) => self.record_decision(row, decision, by).await,
            LinkAnswer::Change(changes) => self.record_changes(row, changes, by).await,
        }
    }

    /// The token must be the trip's approval token.
    async fn check_token(&self, row: &TripRow, token: Option<&str>) -> Result<(), TripError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(TripError::MissingToken)?;
        let expected = match &row.token_sha256 {
            Some(digest) => digest.clone(),
            None => self.input(&row.instance_id).await?.approval_token_sha256,
        };
        if !constant_time_eq(token_digest(token).as_bytes(), expected.as_bytes()) {
            return Err(TripError::WrongToken);
        }
        Ok(())
    }

    /// Records a decision for a trip whose caller (`by`) is entitled to make it (see
    /// [`Self::decide`]), on the plan revision awaiting approval.
    pub(crate) async fn record_decision(
        &self,
        row: TripRow,
        mut decision: ApprovalDecision,
        by: Reviewer,
    ) -> Result<TripStatus, TripError> {
        decision.comments = free_text::trimmed(decision.comments);
        if let Some(comments) = &decision.comments
            && let Some(problem) = free_text::problem("comments", comments, MAX_COMMENTS)
        {
            return Err(TripError::Invalid(vec![problem]));
        }
        decision.revision = Some(plan_revision(&row));
        decision.decided_by = Some(by.name);
        decision.via = Some(by.via);
        decision.decided_at = Some(Utc::now());
        self.record_answer(row, ReviewAnswer::Decision(decision))
            .await
    }

    /// Records a request for a revised plan from a caller (`by`) entitled to make it (see
    /// [`Self::revise`]).
    pub(crate) async fn record_changes(
        &self,
        row: TripRow,
        mut changes: ChangeRequest,
        by: Reviewer,
    ) -> Result<TripStatus, TripError> {
        changes.comments = free_text::trimmed(changes.comments);
        check_changes(&changes).map_err(TripError::Invalid)?;
        if row.state == TripState::AwaitingApproval
            && changes.comments.is_none()
            && let Some(chosen) = changes.destination
        {
            self.check_another_destination(&row, chosen).await?;
        }
        let input = self.input(&row.instance_id).await?;
        if input.workflow_revision < 4 {
            return Err(TripError::RevisionsUnsupported);
        }
        let revision = plan_revision(&row);
        if row.state == TripState::AwaitingApproval && revision > input.max_revisions {
            return Err(TripError::RevisionLimit {
                max: input.max_revisions,
            });
        }
        changes.revision = Some(revision);
        changes.requested_by = Some(by.name);
        changes.via = Some(by.via);
        changes.requested_at = Some(Utc::now());
        self.record_answer(row, ReviewAnswer::Changes { changes })
            .await
    }

    /// A request whose only change is the destination must name another one than the plan's:
    /// the same again would use up a revision to change nothing.
    async fn check_another_destination(&self, row: &TripRow, chosen: u8) -> Result<(), TripError> {
        let plan = self
            .plan_revision(&row.instance_id, Some(plan_revision(row)))
            .await?;
        let same = plan
            .recommendations
            .destinations
            .get(usize::from(chosen))
            .is_some_and(|d| {
                d.name == plan.destination.name && d.country == plan.destination.country
            });
        if same {
            return Err(TripError::Invalid(vec![FieldError::new(
                "destination",
                "this is the plan's destination already: choose another, or say in comments what to change",
            )]));
        }
        Ok(())
    }

    /// Records an answer on the plan revision awaiting approval: the first answer recorded
    /// wins (a row keyed by the trip and the revision in the store); the same answer sent again
    /// answers as the first did, another one is a conflict. Answers as soon as the answer is
    /// durably recorded and queued for the workflow.
    async fn record_answer(
        &self,
        row: TripRow,
        answer: ReviewAnswer,
    ) -> Result<TripStatus, TripError> {
        let instance_id = row.instance_id.clone();
        let revision = plan_revision(&row);
        let window_closed = row.expires_at.is_some_and(|at| at <= Utc::now());
        let status = TripStatus::from(row);
        if let Some(first) = self.store.index.answer(&instance_id, revision).await? {
            return Self::answer_again(status, &first, &answer);
        }
        if status.status != TripState::AwaitingApproval || window_closed {
            return match status.decision() {
                Some(first) => {
                    let first = ReviewAnswer::Decision(first.clone());
                    Self::answer_again(status, &first, &answer)
                }
                None => Err(TripError::NotWaiting(Box::new(status))),
            };
        }
        match self
            .store
            .index
            .claim_answer(&instance_id, revision, &answer)
            .await?
        {
            Claim::Won => {
                self.deliver(&instance_id, revision, &answer).await?;
                Self::recorded(&status, &answer);
                Ok(Self::with_answer(status, &answer))
            }
            Claim::Taken(first) => Self::answer_again(status, &first, &answer),
        }
    }

    /// Logs and counts an answer that was just recorded.
    fn recorded(status: &TripStatus, answer: &ReviewAnswer) {
        let instance_id = &status.instance_id;
        match answer {
            ReviewAnswer::Decision(decision) => {
                if let Some(window) = status.progress.as_ref().and_then(|p| p.approval.as_ref()) {
                    let waited = (Utc::now() - window.requested_at)
                        .to_std()
                        .unwrap_or_default();
                    crate::telemetry::approval_waited(waited);
                }
                tracing::info!(instance_id = %instance_id,
                    approved = decision.approved,
                    revision = decision.revision,
                    "approval decision recorded"
                );
            }
            ReviewAnswer::Changes { changes } => tracing::info!(instance_id = %instance_id,
                revision = changes.revision,
                destination = changes.destination,
                "a revised plan was asked for"
            ),
        }
    }

    /// Hands a recorded answer to the workflow's event queue and notes that it did.
    async fn deliver(
        &self,
        instance_id: &TripId,
        revision: u32,
        answer: &ReviewAnswer,
    ) -> Result<(), TripError> {
        self.client
            .enqueue_event(
                instance_id.as_str(),
                APPROVAL.name(),
                APPROVAL.data_text(answer),
            )
            .await?;
        self.store.index.delivered(instance_id, revision).await?;
        Ok(())
    }

    /// The answer to an answer on a plan that already has `first`: the same answer again gets
    /// the same reply; a different one is a conflict.
    fn answer_again(
        status: TripStatus,
        first: &ReviewAnswer,
        asked: &ReviewAnswer,
    ) -> Result<TripStatus, TripError> {
        let same = match (first, asked) {
            (ReviewAnswer::Decision(first), ReviewAnswer::Decision(asked)) => {
                first.approved == asked.approved
            }
            (
                ReviewAnswer::Changes { changes: first },
                ReviewAnswer::Changes { changes: asked },
            ) => (&first.comments, first.destination) == (&asked.comments, asked.destination),
            _ => false,
        };
        let status = Self::with_answer(status, first);
        if same {
            Ok(status)
        } else if status.status.is_final() && matches!(asked, ReviewAnswer::Changes { .. }) {
            // Changes to a trip that ended (booked, rejected, expired): say how it ended, rather
            // than only that another answer won.
            Err(TripError::NotWaiting(Box::new(status)))
        } else {
            Err(TripError::AlreadyDecided(Box::new(status)))
        }
    }

    /// The status with a recorded decision shown, before the workflow has taken it.
    fn with_answer(mut status: TripStatus, answer: &ReviewAnswer) -> TripStatus {
        if let ReviewAnswer::Decision(decision) = answer
            && status.decision().is_none()
            && let Some(progress) = status.progress.as_mut()
        {
            progress.decision = Some(decision.clone());
        }
        status
    }
}

/// What an approver does through their link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAnswer {
    Decide(ApprovalDecision),
    Change(ChangeRequest),
}

/// Who answers on a plan, and how they reached the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewer {
    /// `requester`, `operator`, or an approver's name.
    pub name: String,
    pub via: DecidedVia,
}

impl Reviewer {
    /// The traveller who asked for the trip (they hold its approval token).
    pub fn requester() -> Self {
        Self {
            name: "requester".into(),
            via: DecidedVia::Token,
        }
    }

    /// An operator, from the dashboard or the management API.
    pub fn operator() -> Self {
        Self {
            name: "operator".into(),
            via: DecidedVia::Operator,
        }
    }
}

/// The plan revision a trip shows (1 before its first plan is saved).
fn plan_revision(row: &TripRow) -> u32 {
    row.progress
        .as_ref()
        .and_then(|p| p.plan.as_ref())
        .map_or(1, |plan| plan.revision)
}

/// Every problem with a request for changes.
fn check_changes(changes: &ChangeRequest) -> Result<(), Vec<FieldError>> {
    let mut problems = Vec::new();
    if changes.comments.is_none() && changes.destination.is_none() {
        problems.push(FieldError::new(
            "comments",
            "say what to change, or choose another destination",
        ));
    }
    if let Some(comments) = &changes.comments {
        problems.extend(free_text::problem("comments", comments, MAX_COMMENTS));
    }
    if changes.destination.is_some_and(|n| n > 2) {
        problems.push(FieldError::new(
            "destination",
            "choose 0, 1 or 2: one of the three recommended destinations",
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The approval token of a new trip: a new one, or the failed trip's (a retry).
enum Token {
    New,
    Kept(String),
}

/// What a retry of a failed trip can reuse: the answers the failed trip reused itself, with
/// those of the agents that finished in its history laid over them (their first plan's: a
/// revision's answers were for what its reviewer asked). The itinerary and the tips are planned
/// for the destination, so they are reused only with it.
fn reusable_results(
    history: &[duroxide::Event],
    reused_before: Option<&Reused>,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut results = reused_before.map(|r| r.results.clone()).unwrap_or_default();
    for agent in AgentName::ALL {
        let name = agent.info().activity;
        let first = completed_calls(history, name).into_iter().next();
        if let Some(result) = first.and_then(|(_, r)| serde_json::from_str(r).ok()) {
            results.insert(name.to_owned(), result);
        }
    }
    if !results.contains_key(AgentName::Destination.info().activity) {
        results.clear();
    }
    results
}

/// The conversation of the agent's last completed call in a history.
pub(crate) fn last_thread(history: &[duroxide::Event], agent: AgentName) -> Option<AgentThread> {
    let (_, result) = completed_calls(history, agent.info().activity).pop()?;
    serde_json::from_str::<travel_agents::AgentReply<serde_json::Value>>(result)
        .ok()
        .map(|o| o.thread)
}

/// The conversations of every completed call of the agent in a history, with the plan revision
/// each was for (from its input: a revision's brief carries `feedback`).
pub(crate) fn threads(history: &[duroxide::Event], agent: AgentName) -> Vec<(u32, AgentThread)> {
    completed_calls(history, agent.info().activity)
        .into_iter()
        .filter_map(|(input, result)| {
            let revision = serde_json::from_str::<serde_json::Value>(input)
                .ok()
                .and_then(|i| i["feedback"]["revision"].as_u64())
                .map_or(1, |r| r as u32);
            let reply: travel_agents::AgentReply<serde_json::Value> =
                serde_json::from_str(result).ok()?;
            Some((revision, reply.thread))
        })
        .collect()
}

/// The conversation a retried trip reused from the failed one (recorded in its input).
fn reused_thread(history: &[duroxide::Event], agent: AgentName) -> Option<AgentThread> {
    let input = history.iter().find_map(|e| match &e.kind {
        EventKind::OrchestrationStarted { input, .. } => {
            serde_json::from_str::<TripInput>(input).ok()
        }
        _ => None,
    })?;
    let result = input.reused?.results.remove(agent.info().activity)?;
    serde_json::from_value::<travel_agents::AgentReply<serde_json::Value>>(result)
        .ok()
        .map(|o| o.thread)
}

/// The completed calls of `activity` in a history, in the order they completed: (input, result).
fn completed_calls<'h>(history: &'h [duroxide::Event], activity: &str) -> Vec<(&'h str, &'h str)> {
    let scheduled: std::collections::BTreeMap<u64, &str> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActivityScheduled { name, input, .. } if name == activity => {
                Some((e.event_id, input.as_str()))
            }
            _ => None,
        })
        .collect();
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActivityCompleted { result } => {
                let input = scheduled.get(&e.source_event_id?)?;
                Some((*input, result.as_str()))
            }
            _ => None,
        })
        .collect()
}
