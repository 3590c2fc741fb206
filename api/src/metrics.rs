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

/// Buckets of `gen_ai_client_token_usage`, as the GenAI conventions advise.
const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Installs the process' metrics recorder, once (later calls answer the same handle); `None` if
/// another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full("gen_ai_client_token_usage".into()),
                    TOKEN_BUCKETS,
                )
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

/// What every family means (`# HELP`), the engine's included: Prometheus' tools want one.
const FAMILIES: &[(&str, &str)] = &[
    (
        "travel_trips_started_total",
        "Trips started (retries of failed trips included).",
    ),
    (
        "travel_trips_finished_total",
        "Trips that ended, by how they ended (outcome).",
    ),
    (
        "travel_trips",
        "Trips by state, read from the trips index when the metrics are read.",
    ),
    (
        "travel_approval_wait_seconds",
        "From a plan being ready for review to its decision.",
    ),
    (
        "travel_plan_store_seconds",
        "Plan store calls (save, load), by operation.",
    ),
    (
        "travel_plan_store_errors_total",
        "Plan store calls that failed, by operation.",
    ),
    (
        "travel_notifications_total",
        "Webhook delivery attempts, by event and outcome.",
    ),
    (
        "travel_event_streams_open",
        "Trips' live event streams open in this process (trip pages, dashboard pages, API clients).",
    ),
    (
        "travel_agent_calls_total",
        "Agent calls, by agent, model and outcome.",
    ),
    (
        "travel_agent_call_seconds",
        "An agent call, all its rounds, by agent and model.",
    ),
    (
        "travel_agent_round_seconds",
        "One model request of an agent, by agent and model.",
    ),
    (
        "travel_agent_tokens_total",
        "Tokens the model counted, by agent, model and kind (input, cached, output).",
    ),
    (
        "travel_llm_errors_total",
        "Failed model requests, by provider and kind.",
    ),
    (
        "travel_llm_calls_in_flight",
        "Model requests in flight now.",
    ),
    (
        "travel_llm_calls_held_back_total",
        "Model requests held back for the provider's rate-limit budget.",
    ),
    (
        "gen_ai_client_operation_duration_seconds",
        "The GenAI conventions' gen_ai.client.operation.duration: one request to the model, by operation, provider and model (error_type when it failed).",
    ),
    (
        "gen_ai_client_token_usage",
        "The GenAI conventions' gen_ai.client.token.usage: the tokens of one request to the model, by operation, provider, model and token type (input, output).",
    ),
    (
        "duroxide_active_orchestrations",
        "Trips whose workflow is still running (planning, awaiting approval, booking), read from the trips index when the metrics are read (the engine's own count goes wrong).",
    ),
    (
        "duroxide_orchestration_completions_total",
        "Workflows that ended, by name, version, status and turns.",
    ),
    (
        "duroxide_orchestration_duration_seconds",
        "From a workflow's start to its end.",
    ),
    (
        "duroxide_orchestration_turns",
        "Turns a workflow took, counted when it ends.",
    ),
    (
        "duroxide_orchestration_history_size",
        "History events of a workflow, counted when it ends.",
    ),
    (
        "duroxide_orchestration_failures_total",
        "Workflows that failed, by name, version, error type and category.",
    ),
    (
        "duroxide_orchestration_infrastructure_errors_total",
        "Workflow failures of the engine or its store.",
    ),
    (
        "duroxide_orchestration_configuration_errors_total",
        "Workflow failures of configuration (an unknown activity, nondeterminism).",
    ),
    (
        "duroxide_orchestration_poison_total",
        "Workflow messages given up as poison.",
    ),
    (
        "duroxide_orchestration_continue_as_new_total",
        "Workflows continued as new.",
    ),
    (
        "duroxide_orchestration_dispatcher_items_fetched",
        "Workflow turns fetched by a dispatcher.",
    ),
    (
        "duroxide_orchestration_dispatcher_processing_duration_ms",
        "A workflow turn, fetched to acknowledged, in milliseconds.",
    ),
    (
        "duroxide_activity_executions_total",
        "Activities run, by name, outcome, retry and tag.",
    ),
    (
        "duroxide_activity_duration_seconds",
        "An activity's run, by name, outcome and tag.",
    ),
    (
        "duroxide_activity_infrastructure_errors_total",
        "Activities that failed in the engine or its store.",
    ),
    (
        "duroxide_activity_configuration_errors_total",
        "Activities that failed for configuration (not registered).",
    ),
    (
        "duroxide_activity_poison_total",
        "Activity messages given up as poison.",
    ),
    (
        "duroxide_worker_dispatcher_items_fetched",
        "Activities fetched by a dispatcher.",
    ),
    (
        "duroxide_worker_dispatcher_execution_duration_ms",
        "An activity, fetched to acknowledged, in milliseconds.",
    ),
    (
        "duroxide_suborchestration_calls_total",
        "Sub-workflows called.",
    ),
    (
        "duroxide_suborchestration_duration_seconds",
        "A sub-workflow's run.",
    ),
    (
        "duroxide_orchestrator_queue_depth",
        "Messages waiting for workflows (timers of waiting trips included), read when the metrics are read.",
    ),
    (
        "duroxide_worker_queue_depth",
        "Activities waiting to run, read when the metrics are read.",
    ),
    (
        "duroxide_provider_operation_duration_seconds",
        "Calls to the engine's store, by operation and status.",
    ),
    (
        "duroxide_provider_errors_total",
        "Calls to the engine's store that failed, by operation.",
    ),
];

/// Gives every family its help text (kept however the family is recorded).
fn describe() {
    for (name, help) in FAMILIES {
        metrics::describe_counter!(*name, *help);
    }
}

/// The engine's series that would mislead, corrected on our side (duroxide 0.1.32):
///
/// * `duroxide_orchestration_starts_total` is counted at every turn of a workflow, not once at
///   its start (38 for 5 trips): dropped; `travel_trips_started_total` counts starts;
/// * `duroxide_active_orchestrations` counts down when a workflow ends but not always up when it
///   starts, and goes below zero: its value is replaced by `running`, the trips still running
///   as the trips index has them;
/// * `duroxide_activity_executions_total` and the workflow failure counters are counted twice,
///   once with their labels and once more with only the outcome or error type, so a `sum()`
///   counts everything twice: the second series is dropped.
fn corrected(text: &str, running: u64) -> String {
    const DROPPED: &str = "duroxide_orchestration_starts_total";
    const ACTIVE: &str = "duroxide_active_orchestrations";
    // Families recorded twice, and the label only the full series carries.
    const DOUBLED: &[(&str, &str)] = &[
        ("duroxide_activity_executions_total", "activity_name="),
        (
            "duroxide_orchestration_failures_total",
            "orchestration_name=",
        ),
        (
            "duroxide_orchestration_infrastructure_errors_total",
            "orchestration_name=",
        ),
        (
            "duroxide_orchestration_configuration_errors_total",
            "orchestration_name=",
        ),
    ];
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let name = match line.strip_prefix("# ") {
            Some(comment) => comment.split_whitespace().nth(1).unwrap_or_default(),
            None => line.split(['{', ' ']).next().unwrap_or_default(),
        };
        if name == DROPPED {
            continue;
        }
        if name == ACTIVE && !line.starts_with('#') {
            out.push_str(&format!("{ACTIVE} {running}\n"));
            continue;
        }
        if !line.starts_with('#')
            && let Some((_, label)) = DOUBLED.iter().find(|(family, _)| *family == name)
            && !line.contains(label)
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
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
    let running: u64 = travel_orchestration::TripState::ALL
        .into_iter()
        .filter(|state| !state.is_final())
        .filter_map(|state| counts.get(state.as_str()))
        .map(|n| *n as u64)
        .sum();
    // The engine's queue depths too: on SQLite duroxide does not recount them by itself (see
    // `engine_gauge_recount`).
    match state.trips.queue_depths().await {
        Ok(depths) => travel_orchestration::telemetry::engine_queue_depths(&depths),
        Err(e) => tracing::warn!(error = %e, "the engine's queue depths could not be read"),
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        corrected(&handle.render(), running),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_misleading_series_are_corrected() {
        let rendered = "\
# TYPE duroxide_orchestration_starts_total counter
duroxide_orchestration_starts_total{orchestration_name=\"TripPlanning\",version=\"1.0.0\",initiated_by=\"client\"} 25
# TYPE duroxide_active_orchestrations gauge
duroxide_active_orchestrations -3
# TYPE duroxide_activity_executions_total counter
duroxide_activity_executions_total{activity_name=\"BookTrip\",outcome=\"success\",retry_attempt=\"0\",tag=\"default\"} 3
duroxide_activity_executions_total{outcome=\"success\"} 3
# TYPE travel_trips_started_total counter
travel_trips_started_total 5
";
        let fixed = corrected(rendered, 2);
        assert!(
            !fixed.contains("duroxide_orchestration_starts_total"),
            "{fixed}"
        );
        assert!(
            fixed.contains("duroxide_active_orchestrations 2\n"),
            "{fixed}"
        );
        assert!(fixed.contains("# TYPE duroxide_active_orchestrations gauge"));
        assert!(fixed.contains("activity_name=\"BookTrip\""));
        assert!(
            !fixed.contains("duroxide_activity_executions_total{outcome="),
            "{fixed}"
        );
        assert!(fixed.contains("travel_trips_started_total 5\n"));
    }
}
