//! What the operator's instance page shows of a trip's review: every answer given on its plan
//! revisions (who, how, when, what), what each agent's calls cost per revision, and the
//! notifications sent about it (the delivery log).

use travel_orchestration::costs::TripCosts;
use travel_orchestration::trip_index::Notice;
use travel_orchestration::{DecidedVia, ReviewAnswer};

/// One answer on a plan revision.
pub struct AnswerRow {
    pub revision: String,
    /// "approved", "rejected" or "asked for changes".
    pub answer: &'static str,
    pub by: String,
    pub via: &'static str,
    pub at: String,
    /// The comments, and the destination asked for.
    pub detail: String,
}

impl AnswerRow {
    /// The answers, naming a destination asked for from `destinations` (the recommendations,
    /// in their order: "Porto, Portugal").
    pub fn list(answers: &[ReviewAnswer], destinations: &[String]) -> Vec<Self> {
        answers.iter().map(|a| Self::new(a, destinations)).collect()
    }

    fn new(answer: &ReviewAnswer, destinations: &[String]) -> Self {
        let text = |value: Option<String>| value.unwrap_or_else(|| "—".to_owned());
        let at = |time: Option<chrono::DateTime<chrono::Utc>>| {
            text(time.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()))
        };
        match answer {
            ReviewAnswer::Decision(d) => Self {
                revision: text(d.revision.map(|r| r.to_string())),
                answer: if d.approved { "approved" } else { "rejected" },
                by: text(d.decided_by.clone()),
                via: via(d.via),
                at: at(d.decided_at),
                detail: d.comments.clone().unwrap_or_default(),
            },
            ReviewAnswer::Changes { changes: c } => {
                let destination = c
                    .destination
                    .map(|n| match destinations.get(usize::from(n)) {
                        Some(name) => format!("plan {name} instead"),
                        None => format!("plan recommendation {} instead", u32::from(n) + 1),
                    });
                let detail = [destination, c.comments.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ");
                Self {
                    revision: text(c.revision.map(|r| r.to_string())),
                    answer: "asked for changes",
                    by: text(c.requested_by.clone()),
                    via: via(c.via),
                    at: at(c.requested_at),
                    detail,
                }
            }
        }
    }
}

fn via(via: Option<DecidedVia>) -> &'static str {
    match via {
        Some(DecidedVia::Token) => "approval token",
        Some(DecidedVia::Link) => "signed link",
        Some(DecidedVia::Operator) => "operator",
        None => "—",
    }
}

/// One agent's call for one plan revision, and what it cost.
pub struct CostRow {
    pub agent: String,
    pub revision: u32,
    pub model: String,
    /// `2,492`.
    pub tokens: String,
    pub cost: String,
}

impl CostRow {
    pub fn list(costs: &TripCosts) -> Vec<Self> {
        costs
            .agents
            .iter()
            .map(|c| CostRow {
                agent: c.agent.as_str().to_owned(),
                revision: c.revision,
                model: c.model.clone(),
                tokens: crate::views::count(c.tokens.total_tokens),
                cost: crate::views::usd(c.cost_usd, c.reused),
            })
            .collect()
    }
}

/// One notification and how its delivery went.
pub struct DeliveryRow {
    pub event: &'static str,
    pub revision: u32,
    pub queued: String,
    pub attempts: u32,
    /// "delivered 12:00:01", "next attempt 12:00:09", "given up".
    pub state: String,
    /// The last answer or error ("the receiver answered 500 Internal Server Error").
    pub last: String,
}

impl DeliveryRow {
    pub fn list(notices: &[Notice]) -> Vec<Self> {
        notices.iter().map(Self::new).collect()
    }

    pub fn new(notice: &Notice) -> Self {
        let at = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        };
        let state = match (notice.delivered_ms, notice.next_ms) {
            (Some(ms), _) => format!("delivered {}", at(ms)),
            (None, Some(ms)) => format!("next attempt {}", at(ms)),
            (None, None) => "given up".to_owned(),
        };
        let last = match (&notice.last_error, notice.status_code) {
            (Some(error), _) => error.clone(),
            (None, Some(code)) => format!("HTTP {code}"),
            (None, None) => String::new(),
        };
        Self {
            event: notice.event.as_str(),
            revision: notice.revision,
            queued: at(notice.created_ms),
            attempts: notice.attempts,
            state,
            last,
        }
    }
}

/// The dashboard's delivery log: the latest notifications of every trip.
#[derive(askama::Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    rows: Vec<(String, DeliveryRow)>,
    /// Whether a webhook is configured (notifications are being queued).
    webhook: bool,
}

/// How many notifications the delivery log shows.
const RECENT_NOTIFICATIONS: i64 = 200;

pub async fn notifications(
    axum::extract::State(state): axum::extract::State<crate::WebState>,
) -> axum::response::Response {
    let notices = match state.trips.recent_notifications(RECENT_NOTIFICATIONS).await {
        Ok(notices) => notices,
        Err(e) => return crate::respond::trip_error(e),
    };
    let page = NotificationsPage {
        rows: notices
            .iter()
            .map(|n| (n.instance_id.clone(), DeliveryRow::new(n)))
            .collect(),
        webhook: state.trips.notifications_enabled(),
    };
    crate::respond::render(axum::http::StatusCode::OK, &page)
}
