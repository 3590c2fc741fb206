//! One instance as operators read it: its timeline, answers, costs, notifications, the agents'
//! conversations, input, output and history.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;
use travel_agents::ThreadMessage;
use travel_orchestration::{HistoryEvent, Inspection, TimelineRow, TripState};

use crate::WebState;
use crate::respond::{TripInPath, render, trip_error, with_cookie};
use crate::review_trail::{AnswerRow, CostRow, DeliveryRow};
use crate::views;
use crate::views::usd;

use super::list::{duration, time};

pub struct GanttRow {
    key: String,
    label: String,
    state: &'static str,
    left: String,
    width: String,
    elapsed: String,
    title: String,
}

pub struct MessageView {
    pub(super) role: &'static str,
    pub(super) title: String,
    pub(super) body: String,
}

impl MessageView {
    /// Long messages (the agents' instructions, whole JSON replies) start folded.
    pub(super) fn folded(&self) -> bool {
        self.body.len() > 600 || self.body.lines().count() > 12
    }

    /// What a folded message shows: its first line, shortened, and its length.
    pub(super) fn preview(&self) -> String {
        let first = self.body.lines().next().unwrap_or_default();
        format!(
            "{} ({} lines, {} characters)",
            travel_agents::text_start(first, 100),
            self.body.lines().count(),
            self.body.chars().count()
        )
    }
}

pub struct ThreadView {
    agent: String,
    model: String,
    provider: String,
    tokens: String,
    rounds: String,
    messages: Vec<MessageView>,
}

pub struct EventView {
    id: u64,
    kind: String,
    time: String,
    name: String,
    payload: String,
    preview: String,
    folded: bool,
}

#[derive(Template)]
#[template(path = "instance.html")]
struct InstancePage {
    id: String,
    status: &'static str,
    runtime_status: String,
    destination: String,
    created: String,
    duration: String,
    error: Option<String>,
    notice: Option<String>,
    gantt: Vec<GanttRow>,
    tokens: String,
    can_approve: bool,
    /// Not finished: with JavaScript the page follows the trip's events and shows itself again
    /// after each one.
    running: bool,
    /// The newest event this page shows (it follows those after it).
    seen: u64,
    /// Failed and not retried yet.
    can_retry: bool,
    retries: travel_orchestration::RetryLinks,
    csrf: String,
    /// Every answer given on the plan's revisions (the audit trail).
    answers: Vec<AnswerRow>,
    /// Each agent's calls per plan revision, and their cost.
    costs: Vec<CostRow>,
    /// The approvers' signed links to the plan awaiting approval (`APPROVERS`).
    approver_links: Vec<travel_orchestration::links::ApprovalLink>,
    /// The notifications sent about the trip (with a webhook).
    deliveries: Vec<DeliveryRow>,
    threads: Vec<ThreadView>,
    input: String,
    output: String,
    custom_status: String,
    history: Vec<EventView>,
}

fn pretty(value: &Option<Value>) -> String {
    value
        .as_ref()
        .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
        .unwrap_or_else(|| "—".into())
}

/// A reply that is JSON, indented for reading; any other text as it is.
fn pretty_json_text(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

/// One message of an agent's conversation, as the operator reads it.
pub(super) fn message_view(message: &ThreadMessage) -> MessageView {
    match message {
        ThreadMessage::System { content } => MessageView {
            role: "system",
            title: String::new(),
            body: content.clone(),
        },
        ThreadMessage::User { content } => MessageView {
            role: "user",
            title: String::new(),
            body: content.clone(),
        },
        ThreadMessage::Assistant {
            content,
            refusal,
            tool_calls,
        } => {
            let mut body = content
                .as_deref()
                .map(pretty_json_text)
                .or_else(|| refusal.clone())
                .unwrap_or_default();
            for call in tool_calls {
                body.push_str(&format!(
                    "\ntool call {} {}({})",
                    call.id, call.name, call.arguments
                ));
            }
            MessageView {
                role: "assistant",
                title: if tool_calls.is_empty() {
                    String::new()
                } else {
                    format!("{} tool call(s)", tool_calls.len())
                },
                body: body.trim().to_owned(),
            }
        }
        ThreadMessage::Tool {
            tool_call_id,
            name,
            content,
        } => MessageView {
            role: "tool",
            title: format!("{name} ← {tool_call_id}"),
            body: pretty_json_text(content),
        },
    }
}

fn thread_view(thread: travel_agents::AgentThread) -> ThreadView {
    let messages = thread.messages.iter().map(message_view).collect();
    ThreadView {
        agent: thread.agent.as_str().to_owned(),
        model: thread.model.clone(),
        provider: if thread.demo && thread.provider != "demo" {
            format!("{}, demo", thread.provider)
        } else {
            thread.provider.clone()
        },
        tokens: format!(
            "{} tokens ({} prompt, {} cached, {} completion)",
            thread.usage.total_tokens,
            thread.usage.prompt_tokens,
            thread.usage.cached_tokens,
            thread.usage.completion_tokens
        ),
        rounds: thread
            .rounds
            .iter()
            .map(|r| {
                format!(
                    "round {}: {} ms, {}",
                    r.number, r.duration_ms, r.finish_reason
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        messages,
    }
}

/// The agents' threads as the operator reads them, each with the cost of its call (the latest
/// revision's: the thread shown is that call's).
fn priced_threads(
    threads: Vec<travel_agents::AgentThread>,
    costs: &travel_orchestration::costs::TripCosts,
) -> Vec<ThreadView> {
    threads
        .into_iter()
        .map(|thread| {
            let cost = costs
                .agents
                .iter()
                .rfind(|c| c.agent == thread.agent)
                .map(|c| usd(c.cost_usd, c.reused));
            let mut view = thread_view(thread);
            view.tokens = format!("{}, {}", view.tokens, cost.unwrap_or_default());
            view
        })
        .collect()
}

pub async fn instance(
    State(state): State<WebState>,
    TripInPath(id): TripInPath,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Response {
    // Read first: whatever is read after it reflects at least this event.
    let seen = state.trips.last_event_shown(&id).await.unwrap_or(0);
    let Inspection {
        detail,
        history,
        threads,
    } = match state.trips.inspect(&id).await {
        Ok(inspection) => inspection,
        Err(e) => return trip_error(e),
    };
    let threads = priced_threads(threads, &detail.costs);
    let retries = state.trips.retries(&id).await.unwrap_or_default();
    let answers = state.trips.answers(&id).await.unwrap_or_default();
    let recommended = recommended_destinations(&state, &id, &answers).await;
    let approver_links = state.trips.approver_links(&id).await.unwrap_or_default();
    let notices = state.trips.notifications(&id).await.unwrap_or_default();
    let gantt = gantt_rows(&detail.timeline);
    let (csrf, cookie) = state.forms.of(&headers);
    let status = detail.summary.status;
    let page = InstancePage {
        id: id.to_string(),
        status: status.as_str(),
        runtime_status: detail.runtime_status.clone(),
        destination: detail.summary.destination.clone().unwrap_or_default(),
        created: time(detail.summary.created_at),
        duration: duration(detail.summary.duration_ms),
        error: detail.error.clone(),
        notice: q.done,
        gantt,
        tokens: match detail.tokens.total_tokens {
            0 => "none: no agent answered this trip".to_owned(),
            total => format!(
                "{} in all ({} prompt, {} cached, {} completion), {}",
                views::count(total),
                views::count(detail.tokens.prompt_tokens),
                views::count(detail.tokens.cached_tokens),
                views::count(detail.tokens.completion_tokens),
                usd(detail.costs.cost_usd, false)
            ),
        },
        can_approve: status == TripState::AwaitingApproval,
        running: !status.is_final(),
        seen,
        can_retry: status == TripState::Failed && retries.retried_by.is_none(),
        retries,
        csrf,
        answers: AnswerRow::list(&answers, &recommended),
        costs: CostRow::list(&detail.costs),
        approver_links,
        deliveries: DeliveryRow::list(&notices),
        threads,
        input: pretty(&detail.input),
        output: pretty(&detail.output),
        custom_status: pretty(&detail.custom_status),
        history: history.iter().map(event_view).collect(),
    };
    with_cookie(render(StatusCode::OK, &page), cookie)
}

/// The destinations recommended for a trip ("Porto, Portugal"), in their order, when one of its
/// answers asked for another of them (read from its saved plan).
async fn recommended_destinations(
    state: &WebState,
    id: &travel_orchestration::TripId,
    answers: &[travel_orchestration::ReviewAnswer],
) -> Vec<String> {
    let asked = answers.iter().any(|a| {
        matches!(a, travel_orchestration::ReviewAnswer::Changes { changes } if changes.destination.is_some())
    });
    if !asked {
        return Vec::new();
    }
    let plan = state.trips.plan_revision(id, None).await.ok();
    plan.map(|p| {
        p.recommendations
            .destinations
            .iter()
            .map(|d| format!("{}, {}", d.name, d.country))
            .collect()
    })
    .unwrap_or_default()
}

/// The timeline as bars on one time axis, from the first start to the last end (or now).
fn gantt_rows(timeline: &[TimelineRow]) -> Vec<GanttRow> {
    let origin = timeline.iter().filter_map(|r| r.started_at).min();
    let end = timeline
        .iter()
        .filter_map(|r| r.finished_at.or(r.started_at.map(|_| Utc::now())))
        .max();
    let span = match (origin, end) {
        (Some(o), Some(e)) => (e - o).num_milliseconds().max(1) as f64,
        _ => 1.0,
    };
    timeline
        .iter()
        .map(|r| {
            let (left, width) = match (origin, r.started_at) {
                (Some(o), Some(s)) => {
                    let left = (s - o).num_milliseconds() as f64 / span * 100.0;
                    let width = r.elapsed_ms.unwrap_or(0) as f64 / span * 100.0;
                    (left, width.max(0.5).min(100.0 - left))
                }
                _ => (0.0, 0.0),
            };
            GanttRow {
                key: r.key.clone(),
                label: r.label.clone(),
                state: r.state.as_str(),
                left: format!("{left:.2}"),
                width: format!("{width:.2}"),
                elapsed: duration(r.elapsed_ms),
                title: format!("{} → {}", time(r.started_at), time(r.finished_at)),
            }
        })
        .collect()
}

fn event_view(e: &HistoryEvent) -> EventView {
    let payload = e
        .payload
        .as_ref()
        .map(|p| serde_json::to_string_pretty(p).unwrap_or_default())
        .unwrap_or_default();
    EventView {
        id: e.event_id,
        kind: e.kind.clone(),
        time: e
            .time
            .map(|t| t.format("%H:%M:%S%.3f").to_string())
            .unwrap_or_default(),
        name: e.name.clone().unwrap_or_default(),
        preview: format!("{} characters", payload.chars().count()),
        folded: payload.len() > 240,
        payload,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    done: Option<String>,
}
