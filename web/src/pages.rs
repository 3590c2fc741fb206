//! The pages and their form handlers.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use travel_orchestration::presentation::PlanPresentation;
use travel_orchestration::request::Budget;
use travel_orchestration::{ApprovalDecision, TripError, TripRequest, TripState, TripStatus};

use travel_api::ErrorCode;

use crate::WebState;
use crate::cookies;
use crate::revisions::RevisionView;
use crate::views::{self, TimelineView};

pub(crate) fn render<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    message: String,
}

pub(crate) fn error_page(status: StatusCode, title: &str, message: impl Into<String>) -> Response {
    render(
        status,
        &ErrorPage {
            title: title.into(),
            message: message.into(),
        },
    )
}

/// The page for an answer whose fields were refused (`TripError::Invalid`): what was wrong.
pub(crate) fn invalid_fields_page(
    title: &str,
    fields: &[travel_orchestration::FieldError],
) -> Response {
    let problems: Vec<&str> = fields.iter().map(|f| f.message.as_str()).collect();
    error_page(StatusCode::UNPROCESSABLE_ENTITY, title, problems.join("; "))
}

/// A trip error as a page, with the status the API gives it (see [`ErrorCode`]).
pub(crate) fn trip_error(error: TripError) -> Response {
    let code = ErrorCode::from(&error);
    let (title, message) = match (&error, code) {
        (TripError::NotFound(id), _) => (
            "Trip not found",
            format!("There is no trip `{id}`. It may have been purged, or the link is mistyped."),
        ),
        (TripError::StoreUnreachable, _) => (
            "Temporarily unavailable",
            "Trips cannot be read just now. Nothing is lost: try again in a minute.".into(),
        ),
        (_, ErrorCode::StoreUnavailable) => (
            "Temporarily unavailable",
            "Saved plans cannot be read just now. Nothing is lost: try again in a minute.".into(),
        ),
        // What failed inside (a driver's words, an address) is logged, not shown.
        (_, ErrorCode::Internal) => {
            tracing::error!(error = %error, "a page failed");
            (
                "Something went wrong",
                "Something went wrong on our side; it was logged. Try again in a minute.".into(),
            )
        }
        (_, ErrorCode::NotYetAvailable) => ("Not ready yet", error.to_string()),
        (TripError::Invalid(fields), _) => {
            return invalid_fields_page("Your answer was not recorded", fields);
        }
        _ => ("Something went wrong", error.to_string()),
    };
    error_page(code.status(), title, message)
}

/// The form's values, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FormValues {
    /// Spelled `travelerName` in JSON (the API's and recorded histories' name).
    #[serde(rename = "travelerName")]
    pub traveller_name: String,
    pub preferences: String,
    pub duration_days: String,
    pub budget_amount: String,
    pub budget_currency: String,
    pub start_date: String,
    pub travel_dates: String,
    pub special_requirements: String,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage {
    values: FormValues,
    errors: HashMap<String, String>,
    csrf: String,
    currencies: Vec<&'static str>,
}

impl FormPage {
    fn has_error(&self, field: &str) -> bool {
        self.errors.contains_key(field)
    }

    fn error(&self, field: &str) -> &str {
        self.errors
            .get(field)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

pub(crate) fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn form_page(
    state: &WebState,
    status: StatusCode,
    values: FormValues,
    errors: HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let (csrf, cookie) = state.forms.of(headers);
    let currencies = travel_agents::ReferenceRates::currencies().collect();
    with_cookie(
        render(
            status,
            &FormPage {
                values,
                errors,
                csrf,
                currencies,
            },
        ),
        cookie,
    )
}

pub async fn new_trip(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let values = FormValues {
        duration_days: "4".into(),
        budget_amount: "2500".into(),
        budget_currency: "USD".into(),
        ..Default::default()
    };
    form_page(&state, StatusCode::OK, values, HashMap::new(), &headers)
}

/// A form posted from this site's own pages. A post from another site, or without the CSRF
/// token of this browser's cookie, is refused with the "Form expired" page before the handler
/// runs.
pub struct SameSiteForm<T>(pub T);

/// A form that carries the CSRF token its page was served with.
pub(crate) trait CarriesCsrf {
    fn csrf(&self) -> &str;
}

impl<S, T> axum::extract::FromRequest<S> for SameSiteForm<T>
where
    S: Send + Sync,
    WebState: axum::extract::FromRef<S>,
    T: serde::de::DeserializeOwned + CarriesCsrf,
{
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let headers = request.headers().clone();
        // A body that is not the form (none, another type) is answered as a page too.
        let Form(form) = Form::<T>::from_request(request, state)
            .await
            .map_err(|rejection| {
                error_page(
                    rejection.status(),
                    "Form not understood",
                    "This address takes the form of this service's own page. Reload the page and try again.",
                )
            })?;
        let web = <WebState as axum::extract::FromRef<S>>::from_ref(state);
        if web.forms.refuses(&headers, form.csrf()) {
            return Err(forbidden_post());
        }
        Ok(Self(form))
    }
}

pub(crate) fn forbidden_post() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form could not be verified (it came from another site, or its session expired). Reload the page and try again.",
    )
}

/// The trip the form asks for, and what is wrong with it, by form field.
fn request_from(values: &FormValues) -> (TripRequest, HashMap<String, String>) {
    let mut errors = HashMap::new();
    let duration_days = values
        .duration_days
        .trim()
        .parse::<u32>()
        .unwrap_or_else(|_| {
            errors.insert(
                "durationDays".to_owned(),
                "Enter a whole number of days from 1 to 21.".to_owned(),
            );
            0
        });
    let amount = values
        .budget_amount
        .trim()
        .parse::<f64>()
        .unwrap_or_else(|_| {
            errors.insert(
                "budgetAmount".to_owned(),
                "Enter the budget as a number, e.g. 2500.".to_owned(),
            );
            0.0
        });
    let start_date = match values.start_date.trim() {
        "" => None,
        text => match text.parse() {
            Ok(date) => Some(date),
            Err(_) => {
                errors.insert(
                    "startDate".to_owned(),
                    "Enter the date as YYYY-MM-DD.".to_owned(),
                );
                None
            }
        },
    };
    let optional = |v: &str| Some(v.trim().to_owned()).filter(|s| !s.is_empty());
    let request = TripRequest {
        traveller_name: values.traveller_name.trim().to_owned(),
        preferences: values.preferences.trim().to_owned(),
        duration_days,
        budget: Budget {
            amount,
            currency: values.budget_currency.trim().to_uppercase(),
        },
        start_date,
        travel_dates: optional(&values.travel_dates),
        special_requirements: optional(&values.special_requirements),
    };
    if let Err(fields) = request.validate() {
        for field in fields {
            let name = match field.field.as_str() {
                "budget.amount" => "budgetAmount".to_owned(),
                "budget.currency" => "budgetCurrency".to_owned(),
                other => other.to_owned(),
            };
            errors.entry(name).or_insert(field.message);
        }
    }
    (request, errors)
}

pub async fn submit_trip(
    State(state): State<WebState>,
    headers: HeaderMap,
    SameSiteForm(values): SameSiteForm<FormValues>,
) -> Response {
    let (request, errors) = request_from(&values);
    if !errors.is_empty() {
        return form_page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            values,
            errors,
            &headers,
        );
    }
    match state.trips.start(request).await {
        Ok(started) => to_new_trip(started),
        Err(TripError::Invalid(_)) => form_page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            values,
            errors,
            &headers,
        ),
        Err(other) => trip_error(other),
    }
}

/// The page of a trip just started, with its approval token in this browser's cookie.
fn to_new_trip(started: travel_orchestration::trips::StartedTrip) -> Response {
    let response = Redirect::to(&format!("/trips/{}", started.instance_id)).into_response();
    let cookie = cookies::set_approval_token(&started.instance_id, &started.approval_token);
    with_cookie(response, Some(cookie))
}

/// A form whose only field is its CSRF token (a button that acts).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

impl CarriesCsrf for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl CarriesCsrf for FormValues {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl CarriesCsrf for DecisionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// "Try again" on a trip that failed: a new trip with the same request, started by the browser
/// that started the first one.
pub async fn try_again(
    State(state): State<WebState>,
    Path(id): Path<String>,
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
    polling: bool,
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
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
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
        id: id.clone(),
        destination: progress.as_ref().and_then(|p| p.destination.clone()),
        demo: plan.as_ref().is_some_and(|p| p.demo),
        status: status.status.as_str().to_owned(),
        status_label: views::status_label(status.status).to_owned(),
        message: headline(&status),
        percent: percent(&status),
        polling: matches!(status.status, TripState::Planning | TripState::Booking),
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
    id: &str,
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
        crate::dashboard::usd(costs.cost_usd, false)
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

/// Approve or reject, from the review page or the operator's instance page.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    decision: String,
    #[serde(default)]
    comments: String,
    #[serde(default)]
    pub(crate) csrf: String,
}

impl DecisionForm {
    /// The decision, or the page saying the form was not filled in as offered.
    pub(crate) fn decision(&self) -> Result<ApprovalDecision, Box<Response>> {
        let approved = match self.decision.as_str() {
            "approve" => true,
            "reject" => false,
            _ => {
                return Err(Box::new(error_page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Unknown decision",
                    "Choose Approve or Reject.",
                )));
            }
        };
        let comments = Some(self.comments.trim().to_owned()).filter(|c| !c.is_empty());
        Ok(ApprovalDecision::new(approved, comments))
    }
}

pub async fn decide(
    State(state): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    SameSiteForm(form): SameSiteForm<DecisionForm>,
) -> Response {
    let decision = match form.decision() {
        Ok(decision) => decision,
        Err(page) => return *page,
    };
    let token = cookies::approval_token(&headers, &id);
    match state.trips.decide(&id, token.as_deref(), decision).await {
        Ok(_) | Err(TripError::NotWaiting(_)) | Err(TripError::AlreadyDecided(_)) => {
            // The page shows how the trip ended: give the workflow a moment to take the decision.
            for _ in 0..100 {
                match state.trips.status(&id).await {
                    Ok(now)
                        if now.status != TripState::AwaitingApproval
                            && now.status != TripState::Booking =>
                    {
                        break;
                    }
                    _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                }
            }
            Redirect::to(&format!("/trips/{id}")).into_response()
        }
        Err(TripError::MissingToken) | Err(TripError::WrongToken) => error_page(
            StatusCode::FORBIDDEN,
            "Not your trip to approve",
            "Only the browser that started this trip can approve or reject it.",
        ),
        Err(other) => trip_error(other),
    }
}

#[derive(Template)]
#[template(path = "trips.html")]
struct TripsPage {
    trips: Vec<views::TripRow>,
}

pub async fn my_trips(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let mut trips = Vec::new();
    for id in cookies::trip_ids(&headers) {
        if let Ok(status) = state.trips.status(&id).await {
            let request = state.trips.input(&id).await.ok().map(|i| i.request);
            trips.push((status, request));
        }
    }
    trips.sort_by_key(|(t, _)| std::cmp::Reverse(t.created_at));
    render(
        StatusCode::OK,
        &TripsPage {
            trips: trips
                .iter()
                .map(|(status, request)| views::TripRow::new(status, request.as_ref()))
                .collect(),
        },
    )
}

pub async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
    )
}
