//! A trip's page: its progress live, the plan under review, the decision and changes forms, and
//! "Try again" on a trip that failed.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use travel_orchestration::presentation::PlanPresentation;
use travel_orchestration::{TripState, TripStatus};

use crate::WebState;
use crate::cookies;
use crate::respond::{
    CsrfForm, SameSiteForm, TripInPath, forbidden_post, render, trip_error, with_cookie,
};
use crate::revisions::RevisionView;
use crate::views::{self, TimelineView};

use super::form::to_new_trip;

/// "Try again" on a trip that failed: a new trip with the same request, started by the browser
/// that started the first one.
pub async fn try_again(
    State(state): State<WebState>,
    TripInPath(id): TripInPath,
    headers: HeaderMap,
    SameSiteForm(_): SameSiteForm<CsrfForm>,
) -> Response {
    let Some(token) = cookies::approval_token(&headers, &id) else {
        return forbidden_post();
    };
    // A new trip with the same request, reusing what the failed one had done.
    match state.trips.retry(&id, Some(&token)).await {
        Ok(started) => to_new_trip(started),
        Err(e) => trip_error(e),
    }
}

/// What the traveller reads about a trip an operator stopped (the operator's reason is theirs).
const STOPPED_BY_OPERATOR: &str = "An operator stopped this trip.";

/// Why a trip failed, in words for the traveller (the details are on the operators' pages).
pub(crate) fn plain_reason(error: &str) -> &'static str {
    let error = error.to_lowercase();
    if error.contains("quota") {
        "The AI service has run out of credit; try again later."
    } else if error.contains("rate limiting")
        || error.contains("call to its model failed")
        || error.contains("could not reach its model")
    {
        "The AI service could not be reached or was too busy, even after waiting."
    } else if error.contains("unusable") || error.contains("refused") || error.contains("cut off") {
        "The AI service did not give a usable plan for this request."
    } else if error.contains("sav") || error.contains("storage") || error.contains("blob") {
        "The plan could not be saved."
    } else {
        "Something went wrong while planning."
    }
}

#[derive(Template)]
#[template(path = "trip.html")]
struct TripPage {
    id: String,
    destination: Option<String>,
    demo: bool,
    status: String,
    status_label: String,
    message: String,
    percent: u8,
    /// Without JavaScript, the page reloads itself every 3 s while planning or booking.
    polling: bool,
    /// With JavaScript, the page follows the trip's events until it finishes, and shows itself
    /// again after each one.
    live: bool,
    /// The newest event this page shows (it follows those after it).
    seen: u64,
    /// A step being tried again after a failure, and which attempt comes next.
    retrying: Option<String>,
    /// Why it failed, in plain words.
    error: Option<&'static str>,
    can_try_again: bool,
    /// The trip that tried this one again.
    retried_by: Option<String>,
    notice: Option<String>,
    request: Option<travel_orchestration::TripRequest>,
    request_title: &'static str,
    rows_before: Vec<TimelineView>,
    rows_parallel: Vec<TimelineView>,
    rows_after: Vec<TimelineView>,
    plan: Option<PlanPresentation>,
    can_decide: bool,
    /// How many more revisions the reviewer may ask for (0: approve or reject only).
    revisions_left: u32,
    /// Offer "Plan this one instead" beside the other recommended destinations.
    plan_instead: bool,
    /// Beside each recommended destination.
    marks: Vec<&'static str>,
    /// While a revised plan is made: what is being replaced, and by what.
    replacing: Option<String>,
    /// The saved revisions, once there are two or more.
    revisions: Vec<RevisionView>,
    /// For operators: each agent's calls per revision and their cost, and the trip's total.
    costs: Option<(Vec<crate::review_trail::CostRow>, String)>,
    waiting_elsewhere: bool,
    csrf: String,
}

pub(crate) fn notice(status: &TripStatus) -> Option<String> {
    let outcome = status.outcome.as_ref()?;
    let comments = outcome
        .decision
        .as_ref()
        .and_then(|d| d.comments.clone())
        .map(|c| format!(" Comments: “{c}”"))
        .unwrap_or_default();
    Some(match outcome.state {
        TripState::Booked => {
            let code = outcome
                .booking
                .as_ref()
                .map(|b| b.confirmation_code.clone())
                .unwrap_or_default();
            format!("Booked. Your confirmation code is {code}.{comments}")
        }
        TripState::Rejected => {
            let by = outcome
                .decision
                .as_ref()
                .and_then(|d| d.decided_by.as_deref())
                .filter(|by| *by != "requester")
                .map(|by| format!(" by {by}"))
                .unwrap_or_default();
            format!("The plan was rejected{by}; nothing was booked.{comments}")
        }
        TripState::Expired => {
            "The approval window closed before a decision; nothing was booked.".to_owned()
        }
        _ => return None,
    })
}

/// What the trip is doing, in a few words under its status.
fn headline(status: &TripStatus) -> String {
    match status.status {
        TripState::Failed => "Planning stopped".into(),
        state => {
            let message = status
                .progress
                .as_ref()
                .map(|p| p.message.clone())
                .unwrap_or_else(|| "Starting".into());
            views::without_label(state, message)
        }
    }
}

pub async fn trip_page(
    State(state): State<WebState>,
    TripInPath(id): TripInPath,
    headers: HeaderMap,
) -> Response {
    // Read first: whatever is read after it reflects at least this event.
    let seen = state.trips.last_event_shown(&id).await.unwrap_or(0);
    let status = match state.trips.status(&id).await {
        Ok(status) => status,
        Err(e) => return trip_error(e),
    };
    let timeline = state.trips.timeline(&id).await.unwrap_or_default();
    let input = state.trips.input(&id).await.ok();
    let plan = match state.trips.saved_plan(&status).await {
        Ok(plan) => plan,
        Err(e) => return trip_error(e),
    };
    let holds_token = cookies::approval_token(&headers, &id).is_some();
    let retries = state.trips.retries(&id).await.unwrap_or_default();
    let waiting = status.status == TripState::AwaitingApproval;
    let stopped = match status.status {
        TripState::Failed => state.trips.stopped_by_operator(&id).await.ok().flatten(),
        _ => None,
    };
    let (csrf, cookie) = state.forms.of(&headers);
    let progress = status.progress.clone();
    let (rows_before, rows_parallel, rows_after) = views::split_timeline(&timeline);
    let left = input.as_ref().map_or(0, |i| revisions_left(i, &status));
    let presented = plan.as_ref().map(PlanPresentation::of);
    // Planning with a plan saved: a revision is being made, and the saved one stays shown.
    let planning = progress
        .as_ref()
        .and_then(|p| p.destination.as_deref())
        .filter(|_| status.status == TripState::Planning);
    let replacing = match (&presented, planning, &plan) {
        (Some(shown), Some(next), Some(saved)) => Some(replacing(shown, next, saved.revision)),
        _ => None,
    };
    let marks = presented
        .as_ref()
        .map(|p| views::destination_marks(p, planning.filter(|next| *next != p.title)))
        .unwrap_or_default();
    let page = TripPage {
        marks,
        replacing,
        id: id.to_string(),
        destination: progress.as_ref().and_then(|p| p.destination.clone()),
        demo: plan.as_ref().is_some_and(|p| p.demo),
        status: status.status.as_str().to_owned(),
        status_label: views::status_label(status.status).to_owned(),
        message: headline(&status),
        percent: percent(&status),
        polling: matches!(status.status, TripState::Planning | TripState::Booking),
        live: !status.status.is_final(),
        seen,
        retrying: progress
            .as_ref()
            .and_then(|p| p.retrying.clone())
            .filter(|_| !status.status.is_final()),
        error: match stopped {
            Some(_) => Some(STOPPED_BY_OPERATOR),
            None => status.error.as_deref().map(plain_reason),
        },
        can_try_again: status.status == TripState::Failed
            && stopped.is_none()
            && holds_token
            && retries.retried_by.is_none(),
        retried_by: retries.retried_by.clone(),
        notice: notice(&status),
        revisions_left: left,
        plan_instead: waiting && holds_token && left > 0,
        revisions: RevisionView::list(&status),
        costs: operator_costs(&state, &headers, &id).await,
        request: input.map(|input| input.request),
        request_title: "Your request",
        rows_before,
        rows_parallel,
        rows_after,
        // Where the plan is stored (a path on the server, a storage URL) is the operators'
        // business: the page links to it through the API.
        plan: presented,
        can_decide: waiting && holds_token,
        waiting_elsewhere: waiting && !holds_token,
        csrf,
    };
    with_cookie(render(StatusCode::OK, &page), cookie)
}

/// What a revision being planned replaces: "Planning Porto, Portugal in place of Lisbon,
/// Portugal (revision 2). Revision 1 stays below until it is ready."
fn replacing(shown: &PlanPresentation, next: &str, revision: u32) -> String {
    let until = format!(
        "Revision {revision} stays below until revision {} is ready.",
        revision + 1
    );
    if next == shown.title {
        format!("Revising the plan for {next}. {until}")
    } else {
        format!("Planning {next} in place of {}. {until}", shown.title)
    }
}

/// How far along the trip is, for its progress bar.
fn percent(status: &TripStatus) -> u8 {
    match &status.progress {
        _ if status.status.is_final() => 100,
        Some(progress) => progress.percent,
        None => 0,
    }
}

/// What the trip's agents cost, for an operator's eyes only.
async fn operator_costs(
    state: &WebState,
    headers: &HeaderMap,
    id: &travel_orchestration::TripId,
) -> Option<(Vec<crate::review_trail::CostRow>, String)> {
    if !state.admin.seen_by_operator(headers) {
        return None;
    }
    let costs = state.trips.costs(id).await.ok()?;
    let rows = crate::review_trail::CostRow::list(&costs);
    // No agent call yet (or every answer reused): nothing to add up.
    if rows.is_empty() {
        return None;
    }
    let total = format!(
        "{} tokens, {}",
        views::count(costs.tokens.total_tokens),
        crate::views::usd(costs.cost_usd, false)
    );
    Some((rows, total))
}

/// How many more revised plans the trip's reviewer may ask for.
pub(crate) fn revisions_left(
    input: &travel_orchestration::workflow::TripInput,
    status: &TripStatus,
) -> u32 {
    if input.workflow_revision < 4 {
        return 0;
    }
    let revision = status
        .progress
        .as_ref()
        .and_then(|p| p.plan.as_ref())
        .map_or(1, |p| p.revision);
    (input.max_revisions + 1).saturating_sub(revision)
}
