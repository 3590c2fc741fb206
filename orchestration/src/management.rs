//! What operators do with workflow instances: list and filter, inspect (input, output, custom
//! status, history, timeline, agent threads), raise the approval event, terminate, purge.
//! Shared by the management API, the dashboard and the `instances` command.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use duroxide::EventKind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use travel_agents::TokenUsage;

use crate::progress::{ApprovalDecision, TripState, TripStep};
use crate::timeline::{TimelineRow, utc_from_ms};
use crate::trip_id::TripId;
use crate::trip_index::{RowQuery, TripRow};
use crate::trips::{TripError, Trips};
use crate::workflow::boundary::APPROVAL;

/// The one event the workflow listens to, by the name the management API takes.
const APPROVAL_EVENT: &str = APPROVAL.name();

use crate::workflow::TripInput;

/// How long a purge waits for the engine to record the end of a trip the trips index has seen
/// end (see [`Trips::purge`]).
const ENGINE_CATCHES_UP: std::time::Duration = std::time::Duration::from_secs(5);

/// One instance in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceSummary {
    pub instance_id: TripId,
    pub status: TripState,
    pub step: Option<TripStep>,
    pub destination: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// How long the trip has taken: from its start to its end once it has ended, to now while
    /// it plans, waits for approval or books.
    pub duration_ms: Option<u64>,
    /// Tokens its agents spent so far (absent before the first agent finished).
    pub tokens: Option<u64>,
    /// What they cost, in US dollars (absent when a model's price is not known).
    pub cost_usd: Option<f64>,
}

/// Filters and paging for the instance list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct InstanceQuery {
    pub status: Option<TripState>,
    /// Instance ids starting with this.
    pub prefix: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// 1-based.
    pub page: Option<usize>,
    /// 1 to 200; 25 by default.
    pub page_size: Option<usize>,
}

/// A page of instances, newest first, and the counts per status of all instances.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstancePage {
    pub items: Vec<InstanceSummary>,
    pub page: usize,
    pub page_size: usize,
    /// Instances matching the filters.
    pub total: usize,
    pub counts: BTreeMap<String, usize>,
    /// What the instances matching the filters cost, on every page: given for a period
    /// (`createdAfter` and/or `createdBefore`), so that an unbounded list stays one quick query.
    pub costs: Option<crate::costs::ListCosts>,
}

/// One event of an instance's history.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    pub event_id: u64,
    /// The event that scheduled this one (for completions).
    pub source_event_id: Option<u64>,
    #[serde(rename = "type")]
    pub kind: String,
    pub time: Option<DateTime<Utc>>,
    /// The activity, timer, event or orchestration name, when the event has one.
    pub name: Option<String>,
    /// Inputs, results, errors and statuses (JSON when they are JSON).
    pub payload: Option<Value>,
}

/// Everything about one instance.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceDetail {
    #[serde(flatten)]
    pub summary: InstanceSummary,
    /// `Running`, `Completed` or `Failed` as the engine says.
    pub runtime_status: String,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub custom_status: Option<Value>,
    pub error: Option<String>,
    /// Every step, with those of earlier plan revisions ("Itinerary (revision 1)").
    pub timeline: Vec<TimelineRow>,
    /// Tokens used by the instance's agents (reused answers of a retried trip excluded).
    pub tokens: TokenUsage,
    /// Each agent's tokens and their price, and the trip's cost.
    pub costs: crate::costs::TripCosts,
}

/// What the operator's instance page shows.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub detail: InstanceDetail,
    pub history: Vec<HistoryEvent>,
    /// The agents that have finished, in the workflow's order.
    pub threads: Vec<travel_agents::AgentThread>,
}

/// Why a management action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    #[error(transparent)]
    Trip(#[from] TripError),
    #[error("instance `{0}` has already finished")]
    Finished(String),
    #[error("instance `{0}` is still running; terminate it first or purge with force")]
    StillRunning(String),
    #[error("the workflow listens only to `{APPROVAL_EVENT}`, not `{0}`")]
    UnknownEvent(String),
    #[error("`{APPROVAL_EVENT}` needs {{\"approved\": bool, \"comments\": string?}}: {0}")]
    BadEventData(String),
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

impl From<TripRow> for InstanceSummary {
    fn from(row: TripRow) -> Self {
        InstanceSummary {
            duration_ms: match (row.created_at, row.updated_at) {
                (Some(c), Some(u)) => {
                    let end = if row.state.is_final() { u } else { Utc::now() };
                    Some((end - c).num_milliseconds().max(0) as u64)
                }
                _ => None,
            },
            instance_id: row.instance_id,
            status: row.state,
            step: row.step,
            destination: row.destination,
            created_at: row.created_at,
            updated_at: row.updated_at,
            tokens: None,
            cost_usd: None,
        }
    }
}

/// The last page of a list (the API refuses a later one; the dashboard stops there).
pub const MAX_PAGE: usize = 1_000_000;

/// A store the service cannot work without, found unreachable by [`Trips::check_stores`].
#[derive(Debug, thiserror::Error)]
pub enum StoreCheck {
    #[error("the workflow store is not reachable: {0}")]
    WorkflowStore(String),
    #[error("the plan store ({store}) is not reachable: {error}")]
    PlanStore { store: String, error: String },
}

/// Whether `look` answered without error within `wait`; what went wrong otherwise.
async fn within<T, E: std::fmt::Display>(
    wait: std::time::Duration,
    look: impl std::future::Future<Output = Result<T, E>>,
) -> Result<(), String> {
    match tokio::time::timeout(wait, look).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {wait:?}")),
    }
}

impl Trips {
    /// Whether the service can work now: the workflow store and the plan store each answer a
    /// read (of a trip that does not exist) within `wait`.
    pub async fn check_stores(&self, wait: std::time::Duration) -> Result<(), StoreCheck> {
        const NO_SUCH_TRIP: &str = "trip-00000000000000000000";
        within(wait, self.store().index.get(NO_SUCH_TRIP))
            .await
            .map_err(StoreCheck::WorkflowStore)?;
        within(wait, self.plans().load(NO_SUCH_TRIP, Some(1)))
            .await
            .map_err(|error| StoreCheck::PlanStore {
                store: self.plans().describe(),
                error,
            })
    }

    /// The engine's queues: messages for workflow turns, activities, timers.
    pub async fn queue_depths(&self) -> Result<duroxide::providers::QueueDepths, TripError> {
        Ok(self.client().get_queue_depths().await?)
    }

    /// The engine's counts: instances, running ones, history events.
    pub async fn engine_counts(&self) -> Result<duroxide::providers::SystemMetrics, TripError> {
        Ok(self.client().get_system_metrics().await?)
    }

    /// Whether trip changes are sent to a webhook (`APPROVAL_WEBHOOK_URL`).
    pub fn notifications_enabled(&self) -> bool {
        self.store().index.notifications_enabled()
    }

    /// Instances newest first, filtered and paged, with counts per status: one indexed query.
    pub async fn instances(&self, query: &InstanceQuery) -> Result<InstancePage, TripError> {
        let page_size = query.page_size.unwrap_or(25).clamp(1, 200);
        let page = query.page.unwrap_or(1).clamp(1, MAX_PAGE);
        let selection = RowQuery {
            state: query.status,
            prefix: query.prefix.clone(),
            created_after: query.created_after,
            created_before: query.created_before,
            offset: (page - 1).saturating_mul(page_size),
            limit: page_size,
        };
        let index = &self.store().index;
        let rows =
            crate::trips::within_read_wait(async { Ok(index.page(&selection).await?) }).await?;
        let mut items: Vec<InstanceSummary> =
            rows.rows.into_iter().map(InstanceSummary::from).collect();
        let ids: Vec<String> = items.iter().map(|i| i.instance_id.to_string()).collect();
        let prices = self.prices();
        for (id, _, spent) in index.usage_of(&ids).await? {
            if let Some(item) = items.iter_mut().find(|i| *i.instance_id == *id) {
                let cost = crate::costs::cost_of(&spent, prices);
                item.cost_usd = match item.tokens {
                    None => cost,
                    Some(_) => item.cost_usd.zip(cost).map(|(a, b)| a + b),
                };
                *item.tokens.get_or_insert(0) += spent.usage.total_tokens;
            }
        }
        let costs = if query.created_after.is_some() || query.created_before.is_some() {
            let (usage, trips) = index.usage_matching(&selection).await?;
            Some(crate::costs::ListCosts::of(&usage, trips, prices))
        } else {
            None
        };
        Ok(InstancePage {
            items,
            page,
            page_size,
            total: rows.total,
            counts: rows.counts,
            costs,
        })
    }

    /// The instance's history, every event.
    pub async fn history(&self, instance_id: &TripId) -> Result<Vec<HistoryEvent>, TripError> {
        self.status(instance_id).await?;
        Ok(self
            .whole_history(instance_id)
            .await?
            .iter()
            .map(history_event)
            .collect())
    }

    /// Every execution's events, oldest first.
    async fn whole_history(&self, instance_id: &TripId) -> Result<Vec<duroxide::Event>, TripError> {
        let mut events = Vec::new();
        for execution in self.client().list_executions(instance_id).await? {
            events.extend(
                self.client()
                    .read_execution_history(instance_id.as_str(), execution)
                    .await?,
            );
        }
        Ok(events)
    }

    /// Everything the operator's instance page shows (the instance, its history and its agents'
    /// conversations), from one read of the history.
    pub async fn inspect(&self, instance_id: &TripId) -> Result<Inspection, TripError> {
        let row = self.row(instance_id).await?;
        let history = self.whole_history(instance_id).await?;
        let first_execution: Vec<duroxide::Event> = history
            .iter()
            .filter(|e| e.execution_id == 1)
            .cloned()
            .collect();
        let mut threads = Vec::new();
        for agent in travel_agents::AgentName::ALL {
            if let Some(thread) = self.thread_in(instance_id, &history, agent).await? {
                threads.push(thread);
            }
        }
        Ok(Inspection {
            detail: detail_from(row, &first_execution, self.costs_in(&first_execution)),
            history: history.iter().map(history_event).collect(),
            threads,
        })
    }

    /// Everything about one instance: its row and one read of its history.
    pub async fn detail(&self, instance_id: &TripId) -> Result<InstanceDetail, TripError> {
        let row = self.row(instance_id).await?;
        let history = self
            .client()
            .read_execution_history(instance_id.as_str(), 1)
            .await?;
        let costs = self.costs_in(&history);
        Ok(detail_from(row, &history, costs))
    }

    /// Raises an event as an operator (no approval token needed: operators are trusted). The
    /// decision is recorded like a traveller's, so both agree on the one that won.
    pub async fn raise_event(
        &self,
        instance_id: &TripId,
        name: &str,
        data: &Value,
    ) -> Result<(), ManagementError> {
        let row = self.row(instance_id).await?;
        if name != APPROVAL_EVENT {
            return Err(ManagementError::UnknownEvent(name.to_owned()));
        }
        let body: EventDecision = serde_json::from_value(data.clone())
            .map_err(|e| ManagementError::BadEventData(e.to_string()))?;
        let decision = ApprovalDecision::new(body.approved, body.comments);
        self.decide_on(row, decision).await
    }

    /// Approves or rejects as an operator (the dashboard, the `instances` command): the
    /// approval event with this decision.
    pub async fn decide_as_operator(
        &self,
        instance_id: &TripId,
        decision: ApprovalDecision,
    ) -> Result<(), ManagementError> {
        let row = self.row(instance_id).await?;
        self.decide_on(row, decision).await
    }

    async fn decide_on(
        &self,
        row: crate::trip_index::TripRow,
        decision: ApprovalDecision,
    ) -> Result<(), ManagementError> {
        let instance_id = row.instance_id.clone();
        let instance_id = instance_id.as_str();
        if row.state != TripState::AwaitingApproval {
            return Err(TripError::NotWaiting(Box::new(row.into())).into());
        }
        let approved = decision.approved;
        self.record_decision(row, decision, crate::trips::Reviewer::operator())
            .await?;
        tracing::info!(instance_id = %instance_id,
            approved,
            "approval event raised by an operator"
        );
        Ok(())
    }

    /// Stops a running instance; it ends `failed` with the reason.
    pub async fn terminate(
        &self,
        instance_id: &TripId,
        reason: &str,
    ) -> Result<(), ManagementError> {
        if let Some(problem) =
            crate::free_text::problem("reason", reason, crate::free_text::MAX_REASON)
        {
            return Err(TripError::Invalid(vec![problem]).into());
        }
        let status = self.status(instance_id).await?;
        if status.status.is_final() {
            return Err(ManagementError::Finished(instance_id.to_string()));
        }
        self.client()
            .cancel_instance(instance_id.as_str(), reason)
            .await
            .map_err(TripError::from)?;
        tracing::info!(instance_id = %instance_id, reason, "instance terminated by an operator");
        Ok(())
    }

    /// Deletes an instance: its saved plans, then its workflow state. A running one only with
    /// `force` (it is terminated first). Answers how many plan documents were deleted.
    pub async fn purge(&self, instance_id: &TripId, force: bool) -> Result<u32, ManagementError> {
        let status = self.status(instance_id).await?;
        if !status.status.is_final() {
            if !force {
                return Err(ManagementError::StillRunning(instance_id.to_string()));
            }
            self.client()
                .cancel_instance(instance_id.as_str(), "purged")
                .await
                .map_err(TripError::from)?;
        }
        // The plans first: should their store be out, nothing is purged and the purge can be
        // asked again.
        let documents = self
            .plans()
            .delete(instance_id)
            .await
            .map_err(TripError::from)?;
        let deleted = match self
            .client()
            .delete_instance(instance_id.as_str(), force)
            .await
        {
            // The trips index saw the trip end, the engine not yet: a Durable Task scheduler
            // records an end a moment after the worker reports it. Deleted once it has.
            Err(duroxide::ClientError::InstanceStillRunning { .. }) if !force => {
                let _ = self
                    .client()
                    .wait_for_orchestration(instance_id.as_str(), ENGINE_CATCHES_UP)
                    .await;
                self.client()
                    .delete_instance(instance_id.as_str(), force)
                    .await
            }
            deleted => deleted,
        };
        match deleted {
            Err(duroxide::ClientError::InstanceStillRunning { .. }) => {
                return Err(ManagementError::StillRunning(instance_id.to_string()));
            }
            deleted => deleted.map_err(TripError::from)?,
        };
        tracing::info!(instance_id = %instance_id,
            force,
            documents,
            "instance purged by an operator"
        );
        Ok(documents)
    }
}
/// One event of a history as the operator reads it: its type, time, name and payload.
fn history_event(event: &duroxide::Event) -> HistoryEvent {
    let json = serde_json::to_value(&event.kind).unwrap_or(Value::Null);
    let kind = json
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("Unknown")
        .to_owned();
    let (name, payload) = match &event.kind {
        EventKind::OrchestrationStarted { name, input, .. } => {
            (Some(name.clone()), Some(parse_json(input)))
        }
        EventKind::OrchestrationCompleted { output } => (None, Some(parse_json(output))),
        EventKind::ActivityScheduled { name, input, .. } => {
            (Some(name.clone()), Some(parse_json(input)))
        }
        EventKind::ActivityCompleted { result } => (None, Some(parse_json(result))),
        EventKind::ExternalEvent { name, data } | EventKind::QueueEventDelivered { name, data } => {
            (Some(name.clone()), Some(parse_json(data)))
        }
        EventKind::ExternalSubscribed { name } | EventKind::QueueSubscribed { name } => {
            (Some(name.clone()), None)
        }
        EventKind::CustomStatusUpdated { status } => (None, status.as_deref().map(parse_json)),
        _ => {
            let mut rest = json.clone();
            if let Some(obj) = rest.as_object_mut() {
                obj.remove("type");
            }
            (
                None,
                (rest != Value::Null && rest != serde_json::json!({})).then_some(rest),
            )
        }
    };
    HistoryEvent {
        event_id: event.event_id,
        source_event_id: event.source_event_id,
        kind,
        time: utc_from_ms(event.timestamp_ms),
        name,
        payload,
    }
}

/// The instance as its row and its (first execution's) history tell it.
fn detail_from(
    row: TripRow,
    history: &[duroxide::Event],
    costs: crate::costs::TripCosts,
) -> InstanceDetail {
    let runtime_status = history
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::OrchestrationCompleted { .. } => Some("Completed"),
            EventKind::OrchestrationFailed { .. } => Some("Failed"),
            _ => None,
        })
        .unwrap_or("Running");
    let input = history.iter().find_map(|e| match &e.kind {
        EventKind::OrchestrationStarted { input, .. } => {
            serde_json::from_str::<TripInput>(input).ok()
        }
        _ => None,
    });
    let input = input.map(|mut i| {
        // The token digest is not the operator's business.
        i.approval_token_sha256 = "(hidden)".into();
        serde_json::to_value(i).unwrap_or(Value::Null)
    });
    let timeline =
        crate::timeline::timeline_with_revisions(history, row.state.is_final(), Utc::now());
    InstanceDetail {
        runtime_status: runtime_status.to_owned(),
        input,
        output: row
            .outcome
            .as_ref()
            .and_then(|o| serde_json::to_value(o).ok()),
        custom_status: row
            .progress
            .as_ref()
            .and_then(|p| serde_json::to_value(p).ok()),
        error: row.error.clone(),
        summary: row.into(),
        timeline,
        tokens: costs.tokens,
        costs,
    }
}

/// The data of an `ApprovalEvent` an operator raises (who decided, how and when are recorded by
/// the service, not taken from the caller).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventDecision {
    approved: bool,
    #[serde(default)]
    comments: Option<String>,
}
