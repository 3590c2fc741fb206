//! The operators' list of instances: filters, counts, queue depths, a page of trips.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use travel_orchestration::{InstanceQuery, TripState, TripStep};

use crate::WebState;
use crate::respond::{render, trip_error};
use crate::views;
use crate::views::usd;

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

/// An intake conversation in the dashboard's list.
pub struct ConversationRow {
    id: String,
    state: &'static str,
    messages: usize,
    trip: Option<String>,
    created: String,
    updated: String,
    tokens: String,
    cost: String,
}

/// How many of the newest conversations the dashboard lists.
const CONVERSATIONS_LISTED: u32 = 10;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    /// The newest intake conversations.
    conversations: Vec<ConversationRow>,
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

pub(crate) fn time(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

pub(crate) fn duration(ms: Option<u64>) -> String {
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
    let conversations = state
        .conversations
        .recent(CONVERSATIONS_LISTED)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|c| ConversationRow {
            id: c.conversation_id,
            state: c.state.as_str(),
            messages: c.messages,
            trip: c.trip_id.map(|t| t.to_string()),
            created: time(Some(c.created_at)),
            updated: time(Some(c.updated_at)),
            tokens: format!("{} tokens", views::count(c.spent.usage.total_tokens)),
            cost: match c.spent.model.is_empty() {
                true => String::new(),
                false => usd(c.cost_usd, false),
            },
        })
        .collect();
    let view = DashboardPage {
        conversations,
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
                id: i.instance_id.to_string(),
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
