//! `GET /metrics`: the process' metrics in Prometheus' text format, behind the admin token like
//! the other operator routes. Everything recorded through the `metrics` facade shows: the
//! engine's own (`duroxide_*`), the agents' (`travel_agent_*`, `travel_llm_errors_total`) and the
//! trips' (`travel_trips*`, `travel_approval_wait_seconds`, `travel_plan_store_*`).

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{ApiError, AppState, ErrorCode};

/// Buckets of the `_seconds` histograms: from a fast store write to a slow model call.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
    86400.0, 604800.0,
];

/// Installs the process' metrics recorder, once (later calls answer the same handle); `None` if
/// another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .ok()?;
            builder.install_recorder().ok()
        })
        .as_ref()
}

pub(crate) async fn render(State(state): State<AppState>) -> Result<Response, ApiError> {
    let handle = install().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotReady,
            "Metrics are not being recorded in this process.",
        )
    })?;
    // Trips by state come from the index at the time of reading.
    let counts = state.trips.instances(&Default::default()).await?.counts;
    travel_orchestration::telemetry::trips_by_state(&counts);
    // The engine's queue depths too: on SQLite duroxide does not recount them by itself (see
    // `engine_gauge_recount`).
    match state.trips.client().get_queue_depths().await {
        Ok(depths) => travel_orchestration::telemetry::engine_queue_depths(&depths),
        Err(e) => tracing::warn!(error = %e, "the engine's queue depths could not be read"),
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response())
}
