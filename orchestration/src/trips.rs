//! What the HTTP API (and the command line) can do with trips: start one, read its status, plan
//! and agent threads, and decide on it. One place turns the engine's view into the traveller's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use duroxide::{Client, ClientError, EventKind, OrchestrationStatus};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use travel_agents::{AgentName, AgentThread};

use crate::plan::TripPlan;
use crate::progress::{ApprovalDecision, TripOutcome, TripProgress, TripState};
use crate::request::{FieldError, TripRequest};
use crate::store::{PlanStore, StoreError};
use crate::workflow::{APPROVAL_EVENT, ORCHESTRATION, RetrySettings, TripInput, activity};

/// The longest approval comment accepted.
pub const MAX_COMMENTS: usize = 2000;

/// A trip that was just started.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartedTrip {
    pub instance_id: String,
    /// Needed to approve or reject the plan; shown once, never stored.
    pub approval_token: String,
}

/// Everything known about a trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TripStatus {
    pub instance_id: String,
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
#[derive(Debug, thiserror::Error)]
pub enum TripError {
    #[error("the trip request is invalid")]
    Invalid(Vec<FieldError>),
    #[error("no trip has the id `{0}`")]
    NotFound(String),
    #[error("no plan has been saved for trip `{0}` yet")]
    NoPlanYet(String),
    #[error("the {agent} agent has not finished for trip `{instance_id}`")]
    NoThread { instance_id: String, agent: AgentName },
    #[error("an approval token is required: send `Authorization: Bearer <approvalToken>`")]
    MissingToken,
    #[error("the approval token does not belong to this trip")]
    WrongToken,
    #[error("the trip is not waiting for approval (it is {})", .0.status)]
    NotWaiting(Box<TripStatus>),
    #[error("a different decision was already made on this trip")]
    AlreadyDecided(Box<TripStatus>),
    #[error("the workflow engine failed: {0}")]
    Engine(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ClientError> for TripError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::InstanceNotFound { instance_id } => TripError::NotFound(instance_id),
            other => TripError::Engine(other.to_string()),
        }
    }
}

/// Settings fixed into every new trip.
#[derive(Debug, Clone)]
pub struct TripSettings {
    pub approval_timeout: Duration,
    pub retries: RetrySettings,
}

impl Default for TripSettings {
    fn default() -> Self {
        Self { approval_timeout: Duration::from_secs(7 * 24 * 3600), retries: RetrySettings::default() }
    }
}

/// The trips of this service.
#[derive(Clone)]
pub struct Trips {
    client: Client,
    plans: Arc<dyn PlanStore>,
    settings: TripSettings,
    /// Serialises decisions on one trip within this process.
    deciding: Arc<tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl std::fmt::Debug for Trips {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trips").field("plans", &self.plans).field("settings", &self.settings).finish()
    }
}

use travel_infra::secret::{constant_time_eq, random_hex, sha256_hex as token_digest};

fn ms_to_time(ms: u64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms as i64).single()
}

/// Instance ids this service makes: `trip-` and 20 hex digits.
pub fn is_trip_id(id: &str) -> bool {
    id.strip_prefix("trip-").is_some_and(|hex| hex.len() == 20 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Trips {
    pub fn new(client: Client, plans: Arc<dyn PlanStore>, settings: TripSettings) -> Self {
        Self { client, plans, settings, deciding: Arc::default() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn plans(&self) -> &Arc<dyn PlanStore> {
        &self.plans
    }

    /// Validates and starts a trip; returns once the workflow has begun.
    pub async fn start(&self, request: TripRequest) -> Result<StartedTrip, TripError> {
        request.validate().map_err(TripError::Invalid)?;
        let instance_id = format!("trip-{}", random_hex(10));
        let approval_token = random_hex(32);
        let input = TripInput {
            request,
            approval_token_sha256: token_digest(&approval_token),
            approval_timeout_secs: self.settings.approval_timeout.as_secs().max(1),
            retries: self.settings.retries.clone(),
        };
        self.client.start_orchestration_typed(&instance_id, ORCHESTRATION, &input).await?;
        tracing::info!(instance_id = %instance_id, "trip started");
        // Until the engine's first turn the instance has no history; wait for it so that the
        // status URL answers at once.
        for _ in 0..200 {
            if !matches!(self.client.get_orchestration_status(&instance_id).await?, OrchestrationStatus::NotFound) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(StartedTrip { instance_id, approval_token })
    }

    pub async fn status(&self, instance_id: &str) -> Result<TripStatus, TripError> {
        let found = self.client.get_orchestration_status(instance_id).await?;
        let progress_of = |custom: &Option<String>| custom.as_deref().and_then(|s| serde_json::from_str::<TripProgress>(s).ok());
        let (status, progress, outcome, error) = match found {
            OrchestrationStatus::NotFound => return Err(TripError::NotFound(instance_id.to_owned())),
            OrchestrationStatus::Running { custom_status, .. } => {
                let progress = progress_of(&custom_status);
                (progress.as_ref().map(|p| p.state).unwrap_or(TripState::Planning), progress, None, None)
            }
            OrchestrationStatus::Completed { output, custom_status, .. } => {
                let outcome: TripOutcome = serde_json::from_str(&output)
                    .map_err(|e| TripError::Engine(format!("unreadable workflow output: {e}")))?;
                (outcome.state, progress_of(&custom_status), Some(outcome), None)
            }
            OrchestrationStatus::Failed { details, custom_status, .. } => {
                (TripState::Failed, progress_of(&custom_status), None, Some(details.display_message()))
            }
        };
        // The SQLite provider reports instance times as 0, so they come from the history.
        let history = self.client.read_execution_history(instance_id, 1).await.unwrap_or_default();
        Ok(TripStatus {
            instance_id: instance_id.to_owned(),
            status,
            progress,
            outcome,
            error,
            created_at: history.first().and_then(|e| ms_to_time(e.timestamp_ms)),
            updated_at: history.last().and_then(|e| ms_to_time(e.timestamp_ms)),
        })
    }

    /// When each step ran.
    pub async fn timeline(&self, instance_id: &str) -> Result<Vec<crate::timeline::TimelineRow>, TripError> {
        let status = self.status(instance_id).await?;
        let history = self.client.read_execution_history(instance_id, 1).await?;
        Ok(crate::timeline::timeline(&history, status.status.is_final(), Utc::now()))
    }

    /// The latest saved plan.
    pub async fn plan(&self, instance_id: &str) -> Result<TripPlan, TripError> {
        self.status(instance_id).await?;
        self.plans.load(instance_id, None).await?.ok_or_else(|| TripError::NoPlanYet(instance_id.to_owned()))
    }

    /// The workflow's input, read from its history.
    pub async fn input(&self, instance_id: &str) -> Result<TripInput, TripError> {
        let history = self.client.read_execution_history(instance_id, 1).await?;
        history
            .iter()
            .find_map(|event| match &event.kind {
                EventKind::OrchestrationStarted { input, .. } => serde_json::from_str(input).ok(),
                _ => None,
            })
            .ok_or_else(|| TripError::NotFound(instance_id.to_owned()))
    }

    /// The conversation of the agent's last completed call, read from the workflow history.
    pub async fn agent_thread(&self, instance_id: &str, agent: AgentName) -> Result<AgentThread, TripError> {
        self.status(instance_id).await?;
        let name = match agent {
            AgentName::Destination => activity::DESTINATION_AGENT,
            AgentName::Itinerary => activity::ITINERARY_AGENT,
            AgentName::LocalTips => activity::LOCAL_TIPS_AGENT,
        };
        let history = self.client.read_execution_history(instance_id, 1).await?;
        let scheduled: Vec<u64> = history
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::ActivityScheduled { name: n, .. } if n == name))
            .map(|e| e.event_id)
            .collect();
        history
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::ActivityCompleted { result } if e.source_event_id.is_some_and(|s| scheduled.contains(&s)) => {
                    serde_json::from_str::<crate::workflow::AgentOutcome<serde_json::Value>>(result).ok().map(|o| o.thread)
                }
                _ => None,
            })
            .ok_or(TripError::NoThread { instance_id: instance_id.to_owned(), agent })
    }

    /// Records a decision, once: the token must be the trip's; the trip must be waiting; the
    /// same decision sent again answers the first outcome without a second event.
    pub async fn decide(&self, instance_id: &str, token: Option<&str>, decision: ApprovalDecision) -> Result<TripStatus, TripError> {
        let status = self.status(instance_id).await?;
        let token = token.filter(|t| !t.is_empty()).ok_or(TripError::MissingToken)?;
        let input = self.input(instance_id).await?;
        if !constant_time_eq(token_digest(token).as_bytes(), input.approval_token_sha256.as_bytes()) {
            return Err(TripError::WrongToken);
        }
        let lock = {
            let mut locks = self.deciding.lock().await;
            locks.entry(instance_id.to_owned()).or_default().clone()
        };
        let _held = lock.lock().await;
        let status = if status.status == TripState::AwaitingApproval { self.status(instance_id).await? } else { status };
        if status.status != TripState::AwaitingApproval {
            return match status.decision() {
                Some(first) if first.approved == decision.approved => Ok(status),
                Some(_) => Err(TripError::AlreadyDecided(Box::new(status))),
                None => Err(TripError::NotWaiting(Box::new(status))),
            };
        }
        let data = serde_json::to_string(&decision).expect("decisions serialise");
        self.client.enqueue_event(instance_id, APPROVAL_EVENT, data).await?;
        tracing::info!(instance_id, approved = decision.approved, "approval decision sent");
        // Answer with the workflow's own record of the decision.
        for _ in 0..300 {
            let now = self.status(instance_id).await?;
            if now.decision().is_some() || now.status != TripState::AwaitingApproval {
                return Ok(now);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.status(instance_id).await
    }
}
