//! Revising a plan from its review page: "Ask for changes" (the reviewer's comments) and "Plan
//! this one instead" (another recommended destination), and the list of revisions with what
//! changed from one to the next.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use travel_orchestration::{ChangeRequest, PlanRevision, TripError, TripState, TripStatus};

use crate::WebState;
use crate::cookies;
use crate::respond::{CarriesCsrf, SameSiteForm, TripInPath, error_page, trip_error};

/// One saved revision, as the trip page lists it.
pub struct RevisionView {
    pub revision: u32,
    pub destination: String,
    pub days: u32,
    pub total: String,
    pub over_budget: bool,
    /// What the reviewer asked for ("Plan another destination" when they only chose one).
    pub asked: String,
    /// What differs from the revision before: "destination Porto, Portugal (was Lisbon,
    /// Portugal); total 1,210.00 EUR (was 1,480.00 EUR)".
    pub changed: String,
}

impl RevisionView {
    /// The trip's revisions, the first one first; empty until there are two.
    pub fn list(status: &TripStatus) -> Vec<Self> {
        let Some(revisions) = status.progress.as_ref().map(|p| &p.revisions) else {
            return Vec::new();
        };
        if revisions.len() < 2 {
            return Vec::new();
        }
        let mut before: Option<&PlanRevision> = None;
        let mut views = Vec::new();
        for revision in revisions {
            views.push(Self::new(revision, before));
            before = Some(revision);
        }
        views
    }

    fn new(revision: &PlanRevision, before: Option<&PlanRevision>) -> Self {
        let asked = match &revision.changes {
            None => "The first plan".to_owned(),
            Some(changes) => match (&changes.comments, changes.destination) {
                (Some(comments), _) => format!("“{comments}”"),
                (None, _) => "Plan another of the recommended destinations".to_owned(),
            },
        };
        Self {
            revision: revision.revision,
            destination: revision.destination.clone(),
            days: revision.days,
            total: revision.total.to_string(),
            over_budget: revision.over_budget,
            asked,
            changed: before.map(|b| changed(b, revision)).unwrap_or_default(),
        }
    }
}

/// What differs between two revisions, in words ("nothing in brief" when only the details did).
fn changed(before: &PlanRevision, after: &PlanRevision) -> String {
    let mut said = Vec::new();
    if before.destination != after.destination {
        said.push(format!(
            "destination {} (was {})",
            after.destination, before.destination
        ));
    }
    if before.days != after.days {
        said.push(format!("{} days (was {})", after.days, before.days));
    }
    if before.total != after.total {
        said.push(format!("total {} (was {})", after.total, before.total));
    }
    if said.is_empty() {
        "same destination, days and total; the details changed".to_owned()
    } else {
        said.join("; ")
    }
}

/// Gives the workflow a moment (2 s at most) to take the request, so that the page it redirects
/// to shows the revision being planned (and keeps itself up to date) rather than the old plan.
async fn wait_until_revising(state: &WebState, id: &travel_orchestration::TripId) {
    for _ in 0..100 {
        match state.trips.status(id).await {
            Ok(now) if now.status != TripState::AwaitingApproval => return,
            _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
}

/// "Ask for changes" or "Plan this one instead".
#[derive(Debug, Deserialize)]
pub struct RevisionForm {
    #[serde(default)]
    comments: String,
    /// The recommendation to plan instead (its position), from "Plan this one instead".
    #[serde(default)]
    destination: Option<String>,
    #[serde(default)]
    csrf: String,
}

impl CarriesCsrf for RevisionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Asks for a revised plan for the browser that started the trip, then shows the trip (which
/// is planning the revision).
pub async fn ask_for_changes(
    State(state): State<WebState>,
    TripInPath(id): TripInPath,
    headers: HeaderMap,
    SameSiteForm(form): SameSiteForm<RevisionForm>,
) -> Response {
    let destination = match form.destination.as_deref().map(str::parse::<u8>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unknown destination",
                "Choose one of the recommended destinations.",
            );
        }
    };
    let changes = ChangeRequest {
        comments: Some(form.comments),
        destination,
        ..ChangeRequest::default()
    };
    let token = cookies::approval_token(&headers, &id);
    match state.trips.revise(&id, token.as_deref(), changes).await {
        Ok(_) => {
            wait_until_revising(&state, &id).await;
            Redirect::to(&format!("/trips/{id}")).into_response()
        }
        Err(TripError::MissingToken) | Err(TripError::WrongToken) => error_page(
            StatusCode::FORBIDDEN,
            "Not your trip to change",
            "Only the browser that started this trip can ask for changes to its plan.",
        ),
        Err(other) => trip_error(other),
    }
}
