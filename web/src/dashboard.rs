//! The operator dashboard: instances with filters, counts and queue depths; one instance's
//! history, timeline (Gantt), agent threads and actions (raise ApprovalEvent, terminate, purge).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;
use travel_agents::ThreadMessage;
use travel_orchestration::{
    HistoryEvent, Inspection, InstanceQuery, ManagementError, TimelineRow, TripState, TripStep,
};

use travel_api::admin::{self, ADMIN_COOKIE};

use crate::WebState;
use crate::pages::{
    CarriesCsrf, CsrfForm, DecisionForm, SameSiteForm, error_page, forbidden_post, render,
    trip_error, with_cookie,
};
use crate::review_trail::{AnswerRow, CostRow, DeliveryRow};
use crate::views;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Filters {
    status: String,
    prefix: String,
    created_after: String,
    created_before: String,
    page: Option<usize>,
}

impl DashboardPage {
    fn is_status(&self, s: &str) -> bool {
        self.status == s
    }
}

pub struct InstanceRow {
    id: String,
    status: &'static str,
    /// The step, where it says more than the status (empty otherwise).
    step: String,
    destination: String,
    created: String,
    updated: String,
    duration: String,
    /// Tokens, or empty before the first agent finished.
    tokens: String,
    /// Their cost, or empty before the first agent finished.
    cost: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    /// What the matching trips cost, on every page.
    costs: String,
    self_url: String,
    counts: Vec<(String, usize)>,
    statuses: [&'static str; 7],
    status: String,
    prefix: String,
    created_after: String,
    created_before: String,
    items: Vec<InstanceRow>,
    total: usize,
    page: usize,
    pages: usize,
    prev_url: Option<String>,
    next_url: Option<String>,
    queue_orchestrations: usize,
    queue_activities: usize,
    queue_timers: usize,
    total_instances: u64,
    running_instances: u64,
    total_events: u64,
}

fn time(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn duration(ms: Option<u64>) -> String {
    ms.map(crate::views::duration_text).unwrap_or_default()
}

fn day(text: &str) -> Option<chrono::DateTime<Utc>> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Utc.from_utc_datetime(&d))
}

fn url_with(filters: &Filters, page: usize) -> String {
    let query: String = url_encode(&[
        ("status", filters.status.as_str()),
        ("prefix", filters.prefix.as_str()),
        ("createdAfter", filters.created_after.as_str()),
        ("createdBefore", filters.created_before.as_str()),
        ("page", &page.to_string()),
    ]);
    format!("/dashboard?{query}")
}

fn url_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", travel_platform::http::percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub async fn dashboard(State(state): State<WebState>, Query(filters): Query<Filters>) -> Response {
    let status = TripState::parse(&filters.status);
    let query = InstanceQuery {
        status,
        prefix: Some(filters.prefix.clone()).filter(|p| !p.trim().is_empty()),
        created_after: day(&filters.created_after),
        created_before: day(&filters.created_before).map(|d| d + chrono::Duration::days(1)),
        page: filters.page,
        page_size: Some(25),
    };
    let page = match state.trips.instances(&query).await {
        Ok(page) => page,
        Err(e) => return trip_error(e),
    };
    let queues = state.trips.queue_depths().await.unwrap_or_default();
    let metrics = state.trips.engine_counts().await.unwrap_or_default();
    let pages = page.total.div_ceil(page.page_size).max(1);
    let view = DashboardPage {
        self_url: url_with(&filters, page.page),
        counts: page.counts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        statuses: TripState::ALL.map(TripState::as_str),
        status: filters.status.clone(),
        prefix: filters.prefix.clone(),
        created_after: filters.created_after.clone(),
        created_before: filters.created_before.clone(),
        items: page
            .items
            .iter()
            .map(|i| InstanceRow {
                id: i.instance_id.clone(),
                status: i.status.as_str(),
                step: i
                    .step
                    .map(TripStep::as_str)
                    .filter(|step| *step != i.status.as_str())
                    .unwrap_or_default()
                    .to_owned(),
                destination: i.destination.clone().unwrap_or_default(),
                created: time(i.created_at),
                updated: time(i.updated_at),
                duration: duration(i.duration_ms),
                tokens: i
                    .tokens
                    .map(|t| format!("{} tokens", views::count(t)))
                    .unwrap_or_default(),
                cost: i.tokens.map(|_| usd(i.cost_usd, false)).unwrap_or_default(),
            })
            .collect(),
        costs: match &page.costs {
            Some(costs) => format!(
                "{} trip(s) with agent calls spent {} tokens, {}",
                costs.trips,
                views::count(costs.tokens.total_tokens),
                usd(costs.cost_usd, false)
            ),
            None => "choose a period (created after / before) for its total cost".into(),
        },
        total: page.total,
        page: page.page,
        pages,
        prev_url: (page.page > 1).then(|| url_with(&filters, page.page - 1)),
        next_url: (page.page < pages).then(|| url_with(&filters, page.page + 1)),
        queue_orchestrations: queues.orchestrator_queue,
        queue_activities: queues.worker_queue,
        queue_timers: queues.timer_queue,
        total_instances: metrics.total_instances,
        running_instances: metrics.running_instances,
        total_events: metrics.total_events,
    };
    render(StatusCode::OK, &view)
}

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
    role: &'static str,
    title: String,
    body: String,
}

impl MessageView {
    /// Long messages (the agents' instructions, whole JSON replies) start folded.
    fn folded(&self) -> bool {
        self.body.len() > 600 || self.body.lines().count() > 12
    }

    /// What a folded message shows: its first line, shortened, and its length.
    fn preview(&self) -> String {
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
    running: bool,
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

/// A cost in US dollars, as operators read it.
pub(crate) fn usd(cost: Option<f64>, reused: bool) -> String {
    match (cost, reused) {
        (_, true) => "reused from the failed trip (paid there)".into(),
        (Some(cost), false) => format!("${cost:.4}"),
        (None, false) => "cost unknown (no price for the model: set LLM_PRICES)".into(),
    }
}

/// A reply that is JSON, indented for reading; any other text as it is.
fn pretty_json_text(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

/// One message of an agent's conversation, as the operator reads it.
fn message_view(message: &ThreadMessage) -> MessageView {
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
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Response {
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
        id: id.clone(),
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
    id: &str,
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

fn management_error(error: ManagementError) -> Response {
    match error {
        ManagementError::Trip(e) => trip_error(e),
        other => error_page(
            travel_api::ErrorCode::from(&other).status(),
            "Not done",
            other.to_string(),
        ),
    }
}

/// Where an operator's action leads: back to `to`, or the page saying why it was not done.
fn after_action(result: Result<(), ManagementError>, to: &str) -> Response {
    match result {
        Ok(()) => Redirect::to(to).into_response(),
        Err(e) => management_error(e),
    }
}

pub async fn approval(
    State(state): State<WebState>,
    Path(id): Path<String>,
    SameSiteForm(form): SameSiteForm<DecisionForm>,
) -> Response {
    let decision = match form.decision() {
        Ok(decision) => decision,
        Err(page) => return *page,
    };
    let raised = state.trips.decide_as_operator(&id, decision).await;
    after_action(
        raised,
        &format!("/dashboard/instances/{id}?done=ApprovalEvent+raised"),
    )
}

pub async fn terminate(
    State(state): State<WebState>,
    Path(id): Path<String>,
    SameSiteForm(_): SameSiteForm<CsrfForm>,
) -> Response {
    let terminated = state
        .trips
        .terminate(&id, "terminated from the dashboard")
        .await;
    after_action(
        terminated,
        &format!("/dashboard/instances/{id}?done=Termination+requested"),
    )
}

/// Starts a failed trip again, reusing what it had done; shows the new trip.
pub async fn retry(
    State(state): State<WebState>,
    Path(id): Path<String>,
    SameSiteForm(_): SameSiteForm<CsrfForm>,
) -> Response {
    match state.trips.retry_as_operator(&id).await {
        Ok(started) => Redirect::to(&format!(
            "/dashboard/instances/{}?done=Started+again+from+{id}",
            started.instance_id
        ))
        .into_response(),
        Err(e) => trip_error(e),
    }
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    id: String,
    running: bool,
    csrf: String,
}

pub async fn confirm_purge(
    State(state): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let status = match state.trips.status(&id).await {
        Ok(s) => s,
        Err(e) => return trip_error(e),
    };
    let (csrf, cookie) = state.forms.of(&headers);
    with_cookie(
        render(
            StatusCode::OK,
            &ConfirmPage {
                id,
                running: !status.status.is_final(),
                csrf,
            },
        ),
        cookie,
    )
}

pub async fn purge(
    State(state): State<WebState>,
    Path(id): Path<String>,
    SameSiteForm(_): SameSiteForm<CsrfForm>,
) -> Response {
    after_action(state.trips.purge(&id, true).await.map(|_| ()), "/dashboard")
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    failed: bool,
    /// Minutes before this address may try again, when it tried too often.
    wait_minutes: Option<u64>,
    csrf: String,
}

pub async fn login_form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let (csrf, cookie) = state.forms.of(&headers);
    with_cookie(
        render(
            StatusCode::OK,
            &LoginPage {
                failed: false,
                wait_minutes: None,
                csrf,
            },
        ),
        cookie,
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

impl CarriesCsrf for LoginForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn login(
    State(state): State<WebState>,
    peer: admin::Peer,
    headers: HeaderMap,
    SameSiteForm(form): SameSiteForm<LoginForm>,
) -> Response {
    let verdict = match state.admin.is_configured() {
        true => state
            .admin
            .check(&form.token, state.admin.client(peer, &headers)),
        false => admin::Verdict::Wrong,
    };
    let (status, wait_minutes) = match verdict {
        admin::Verdict::Admitted => (StatusCode::OK, None),
        admin::Verdict::Wrong => (StatusCode::UNAUTHORIZED, None),
        admin::Verdict::Refused { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            Some(retry_after.as_secs().div_ceil(60).max(1)),
        ),
    };
    if status != StatusCode::OK {
        let (csrf, cookie) = state.forms.of(&headers);
        let page = LoginPage {
            failed: wait_minutes.is_none(),
            wait_minutes,
            csrf,
        };
        return with_cookie(render(status, &page), cookie);
    }
    let Some(session) = state.admin.open_session(admin::unix_now()) else {
        return forbidden_post();
    };
    let cookie = format!(
        "{ADMIN_COOKIE}={session}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict",
        admin::SESSION_LENGTH.as_secs()
    );
    with_cookie(Redirect::to("/dashboard").into_response(), Some(cookie))
}
