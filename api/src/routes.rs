//! The handlers.

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use travel_agents::AgentName;
use travel_orchestration::{
    ApprovalDecision, ChangeRequest, TripId, TripPlan, TripRequest, TripState, TripStatus,
};

use crate::bodies::{
    AgentThreadView, ApproveRequest, Health, RevisionQuery, RevisionRequest, TripCreated,
    TripLinks, TripView,
};
use crate::credentials::ApprovalToken;
use crate::error::{ApiError, ErrorCode, JsonBody};
use crate::trip_path::TripInPath;
use crate::{AppState, MAX_BODY_BYTES};

/// The API's routes, without fallback or layers (see [`finish`]).
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/trips", post(start_trip))
        .route("/api/trips/{instance_id}", get(trip))
        .route("/api/trips/{instance_id}/plan", get(plan_json))
        .route("/api/trips/{instance_id}/plan.md", get(plan_markdown))
        .route("/api/trips/{instance_id}/agents/{agent}", get(agent_thread))
        .route(
            "/api/trips/{instance_id}/events",
            get(crate::events::trip_events),
        )
        .route("/api/conversations", post(crate::conversations::open))
        .route(
            "/api/conversations/{conversation_id}",
            get(crate::conversations::get),
        )
        .route(
            "/api/conversations/{conversation_id}/messages",
            post(crate::conversations::say),
        )
        .route("/approve/{instance_id}", post(approve))
        .route("/api/trips/{instance_id}/revisions", post(revise))
        .route("/api/trips/{instance_id}/retry", post(retry))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/api/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .with_state(state)
}

/// The API alone, finished (JSON 404s, limits, tracing).
pub fn router(state: AppState) -> Router {
    finish(routes(state).fallback(not_found))
}

/// The answer for an unknown API address.
pub async fn not_found() -> ApiError {
    ApiError::not_found("No such route; see /api/openapi.json for what this service offers.")
}

/// Adds what every route gets: the body limit and a tracing span per request, as the
/// OpenTelemetry HTTP server conventions name it (`{method} {route}`, kind SERVER,
/// `http.request.method`, `url.path`, `http.route`, `http.response.status_code`), carrying the
/// instance id once a handler knows it.
pub fn finish(router: Router) -> Router {
    let trace = tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(|request: &axum::extract::Request| {
            let method = request.method().as_str();
            let route = request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(|path| path.as_str().to_owned());
            let name = match &route {
                Some(route) => format!("{method} {route}"),
                None => method.to_owned(),
            };
            tracing::info_span!(
                "request",
                otel.name = %name,
                otel.kind = "server",
                http.request.method = method,
                url.path = request.uri().path(),
                http.route = route.as_deref(),
                http.response.status_code = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
                instance_id = tracing::field::Empty,
            )
        })
        .on_response(
            |response: &axum::response::Response, _: std::time::Duration, span: &tracing::Span| {
                let status = response.status();
                span.record("http.response.status_code", i64::from(status.as_u16()));
                if status.is_server_error() {
                    span.record("otel.status_code", "ERROR");
                }
            },
        );
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(trace)
}

/// Where to go from a trip in `state`: what can be done with it now.
fn links(id: &str, state: TripState) -> TripLinks {
    let waiting = state == TripState::AwaitingApproval;
    TripLinks {
        status: format!("/api/trips/{id}"),
        plan: format!("/api/trips/{id}/plan"),
        plan_markdown: format!("/api/trips/{id}/plan.md"),
        approve: waiting.then(|| format!("/approve/{id}")),
        revisions: waiting.then(|| format!("/api/trips/{id}/revisions")),
        retry: (state == TripState::Failed).then(|| format!("/api/trips/{id}/retry")),
    }
}

async fn start_trip(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<TripRequest>,
) -> Result<Response, ApiError> {
    let started = state.trips.start(request).await?;
    Ok(created(started))
}

/// 202 with where to follow the new trip, and its approval token.
fn created(started: travel_orchestration::StartedTrip) -> Response {
    tracing::Span::current().record("instance_id", started.instance_id.as_str());
    let status_url = format!("/api/trips/{}", started.instance_id);
    let body = TripCreated {
        instance_id: started.instance_id,
        status_url: status_url.clone(),
        approval_token: started.approval_token,
    };
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, status_url)],
        Json(body),
    )
        .into_response()
}

/// Starts a failed trip again, reusing what it had done (the trip's approval token as bearer).
async fn retry(
    State(state): State<AppState>,
    TripInPath(instance_id): TripInPath,
    token: ApprovalToken,
) -> Result<Response, ApiError> {
    let started = state.trips.retry(&instance_id, token.as_deref()).await?;
    Ok(created(started))
}

async fn trip(
    State(state): State<AppState>,
    TripInPath(instance_id): TripInPath,
) -> Result<Json<TripView>, ApiError> {
    Ok(Json(trip_view(&state, &instance_id).await?))
}

/// A trip as the API shows it (and the MCP tool `get_trip`).
pub(crate) async fn trip_view(
    state: &AppState,
    instance_id: &TripId,
) -> Result<TripView, ApiError> {
    let (trip, records) = state.trips.view(instance_id).await?;
    let plan = state.trips.saved_plan(&trip).await?;
    let links = links(instance_id, trip.status);
    Ok(TripView {
        trip,
        plan,
        retries: records.retries,
        costs: records.costs,
        answers: records.answers,
        links,
    })
}

/// The revision asked for in the query (`None`: the latest), or a 400.
fn revision_asked(
    query: Result<Query<RevisionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Option<u32>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(ErrorCode::InvalidQuery, e.body_text()))?;
    if query.revision == Some(0) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "Plan revisions start at 1.",
        ));
    }
    Ok(query.revision)
}

async fn plan_json(
    State(state): State<AppState>,
    TripInPath(instance_id): TripInPath,
    query: Result<Query<RevisionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TripPlan>, ApiError> {
    let revision = revision_asked(query)?;
    Ok(Json(
        state.trips.plan_revision(&instance_id, revision).await?,
    ))
}

async fn plan_markdown(
    State(state): State<AppState>,
    TripInPath(instance_id): TripInPath,
    query: Result<Query<RevisionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let revision = revision_asked(query)?;
    let plan = state.trips.plan_revision(&instance_id, revision).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        travel_orchestration::presentation::PlanPresentation::of(&plan).to_markdown(),
    )
        .into_response())
}

async fn agent_thread(
    State(state): State<AppState>,
    Path((instance_id, agent)): Path<(String, String)>,
) -> Result<Json<AgentThreadView>, ApiError> {
    let instance_id = crate::trip_path::trip_id(instance_id)?;
    let agent = AgentName::parse(&agent).ok_or_else(|| {
        let known: Vec<&str> = AgentName::ALL.iter().map(|a| a.info().key).collect();
        ApiError::not_found(format!(
            "No agent `{agent}`; the agents are {}.",
            known.join(", ")
        ))
    })?;
    let thread = state.trips.agent_thread(&instance_id, agent).await?;
    Ok(Json(AgentThreadView {
        instance_id,
        thread,
    }))
}

async fn approve(
    State(state): State<AppState>,
    TripInPath(instance_id): TripInPath,
    token: ApprovalToken,
    JsonBody(body): JsonBody<ApproveRequest>,
) -> Result<Json<TripStatus>, ApiError> {
    // The comments are checked where every decision is recorded (`Trips::record_decision`).
    let decision = ApprovalDecision::new(body.approved, body.comments);
    Ok(Json(
        state
            .trips
            .decide(&instance_id, token.as_deref(), decision)
            .await?,
    ))
}

/// Asks for a revised plan (the trip's approval token as bearer): 202 with the trip's status;
/// the new revision is planned in the background.
async fn revise(
    State(state): State<AppState>,
    TripInPath(instance_id): TripInPath,
    token: ApprovalToken,
    JsonBody(body): JsonBody<RevisionRequest>,
) -> Result<Response, ApiError> {
    let changes = ChangeRequest {
        comments: body.comments,
        destination: body.destination,
        ..ChangeRequest::default()
    };
    let status = state
        .trips
        .revise(&instance_id, token.as_deref(), changes)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready when the workflow store answers and the plan store can be read. Both are asked for a
/// trip that does not exist: a read by key, which costs the same with 10 or 100,000 trips but
/// needs the store to answer (probes come every few seconds).
/// How long `/readyz` waits for each store: a store refusing connections would hold a read for
/// the pool's 30 s.
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    use travel_orchestration::management::StoreCheck;
    match state.trips.check_stores(READY_WAIT).await {
        Ok(()) => Ok(Json(Health { status: "ready" })),
        Err(unreachable) => {
            tracing::warn!(error = %unreachable, "readiness: a store is not reachable");
            Err(ApiError::new(
                ErrorCode::NotReady,
                match unreachable {
                    StoreCheck::WorkflowStore(_) => {
                        "The workflow store is not reachable; see the service's log."
                    }
                    StoreCheck::PlanStore { .. } => {
                        "The plan store (Blob Storage or the data folder) is not reachable; see the service's log."
                    }
                },
            ))
        }
    }
}
