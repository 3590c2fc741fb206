//! The management API (operators): instances, history, events, terminate, purge, and the
//! metrics.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use travel_orchestration::TripId;
use travel_orchestration::{HistoryEvent, InstanceDetail, InstancePage, InstanceQuery};

use crate::AppState;
use crate::error::{ApiError, ErrorCode, JsonBody};
use crate::trip_path::{TripInPath, trip_id};

/// The last page a list may ask for.
pub use travel_orchestration::management::MAX_PAGE;

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/instances", get(list))
        .route("/api/instances/{instance_id}", get(detail).delete(purge))
        .route("/api/instances/{instance_id}/history", get(history))
        .route("/api/instances/{instance_id}/events/{event}", post(raise))
        .route("/api/instances/{instance_id}/terminate", post(terminate))
        .route("/metrics", get(crate::metrics::render))
        .with_state(state)
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<InstanceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InstancePage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(ErrorCode::InvalidQuery, e.body_text()))?;
    if query.page.is_some_and(|n| !(1..=MAX_PAGE).contains(&n))
        || query.page_size.is_some_and(|n| !(1..=200).contains(&n))
    {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("`page` is 1 to {MAX_PAGE}, and `pageSize` is 1 to 200."),
        ));
    }
    Ok(Json(state.trips.instances(&query).await?))
}

async fn detail(
    State(state): State<AppState>,
    TripInPath(id): TripInPath,
) -> Result<Json<InstanceDetail>, ApiError> {
    Ok(Json(state.trips.detail(&id).await?))
}

async fn history(
    State(state): State<AppState>,
    TripInPath(id): TripInPath,
) -> Result<Json<Vec<HistoryEvent>>, ApiError> {
    Ok(Json(state.trips.history(&id).await?))
}

async fn raise(
    State(state): State<AppState>,
    Path((id, event)): Path<(String, String)>,
    JsonBody(data): JsonBody<Value>,
) -> Result<(StatusCode, Json<Raised>), ApiError> {
    let id = trip_id(id)?;
    state.trips.raise_event(&id, &event, &data).await?;
    let raised = Raised {
        instance_id: id,
        event,
        raised: true,
    };
    Ok((StatusCode::ACCEPTED, Json(raised)))
}

/// The answer to raising an event.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Raised {
    pub instance_id: TripId,
    pub event: String,
    pub raised: bool,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct TerminateRequest {
    /// Why (at most 500 characters, no control or text-direction characters); "terminated by
    /// an operator" when absent or blank.
    #[serde(default)]
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
}

/// The answer to a terminate request: the instance stops at its next turn and ends `failed`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Terminated {
    pub instance_id: TripId,
    pub terminated: bool,
    /// The reason recorded.
    pub reason: String,
}

/// The answer to a purge.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Purged {
    pub instance_id: TripId,
    pub purged: bool,
    /// The saved plan documents deleted with it (the JSON and Markdown of each revision).
    pub plan_documents_deleted: u32,
}

async fn terminate(
    State(state): State<AppState>,
    TripInPath(id): TripInPath,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Terminated>), ApiError> {
    let malformed = |detail: String| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("The body must be {{\"reason\": string}} or empty{detail}"),
        )
    };
    let request: TerminateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TerminateRequest::default()
    } else {
        // An object only: serde would also read a struct from an array (`[]`).
        match serde_json::from_slice::<Value>(&body).map_err(|e| malformed(format!(": {e}")))? {
            object @ Value::Object(_) => {
                serde_json::from_value(object).map_err(|e| malformed(format!(": {e}")))?
            }
            _ => return Err(malformed(String::new())),
        }
    };
    let reason = request
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "terminated by an operator".into());
    state.trips.terminate(&id, &reason).await?;
    let terminated = Terminated {
        instance_id: id,
        terminated: true,
        reason,
    };
    Ok((StatusCode::ACCEPTED, Json(terminated)))
}

#[derive(Debug, Default, Deserialize)]
struct PurgeQuery {
    #[serde(default)]
    force: bool,
}

async fn purge(
    State(state): State<AppState>,
    TripInPath(id): TripInPath,
    Query(q): Query<PurgeQuery>,
) -> Result<Json<Purged>, ApiError> {
    let documents = state.trips.purge(&id, q.force).await?;
    Ok(Json(Purged {
        instance_id: id,
        purged: true,
        plan_documents_deleted: documents,
    }))
}
