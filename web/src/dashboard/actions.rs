//! What operators do to an instance (raise the approval, terminate, retry, purge), and their
//! sign-in.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use travel_orchestration::ManagementError;

use travel_api::admin::{self, ADMIN_COOKIE};

use crate::WebState;
use crate::respond::{
    CarriesCsrf, CsrfForm, DecisionForm, SameSiteForm, TripInPath, error_page, forbidden_post,
    render, trip_error, with_cookie,
};

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
    TripInPath(id): TripInPath,
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
    TripInPath(id): TripInPath,
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
    TripInPath(id): TripInPath,
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
    TripInPath(id): TripInPath,
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
                id: id.to_string(),
                running: !status.status.is_final(),
                csrf,
            },
        ),
        cookie,
    )
}

pub async fn purge(
    State(state): State<WebState>,
    TripInPath(id): TripInPath,
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
