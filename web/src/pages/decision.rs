//! Approve or reject, from the trip's page.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use travel_orchestration::{TripError, TripState};

use crate::WebState;
use crate::cookies;
use crate::respond::{DecisionForm, SameSiteForm, TripInPath, error_page, trip_error};

pub async fn decide(
    State(state): State<WebState>,
    TripInPath(id): TripInPath,
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
