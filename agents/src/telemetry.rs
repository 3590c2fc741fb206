//! What the agents tell operators: metrics (the `metrics` facade, which the service renders at
//! `GET /metrics` in Prometheus' text format: each model round's tokens and time, each agent
//! call's outcome and time, each failed request to the model by kind) and spans that follow the
//! OpenTelemetry GenAI conventions (`invoke_agent {agent}`, `chat {model}`, `execute_tool
//! {tool}` with their `gen_ai.*` attributes; message content only when
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`).

use std::sync::OnceLock;
use std::time::Duration;

use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::error::LlmError;
use crate::{AgentName, TokenUsage};

/// One round with the model: its tokens by kind and how long it took.
pub(crate) fn round(agent: &'static str, model: &str, usage: &TokenUsage, took: Duration) {
    let model = model.to_owned();
    metrics::histogram!("travel_agent_round_seconds", "agent" => agent, "model" => model.clone())
        .record(took.as_secs_f64());
    for (kind, tokens) in [
        (
            "input",
            usage.prompt_tokens.saturating_sub(usage.cached_tokens),
        ),
        ("cached_input", usage.cached_tokens),
        ("output", usage.completion_tokens),
    ] {
        metrics::counter!("travel_agent_tokens_total", "agent" => agent, "model" => model.clone(), "kind" => kind)
            .increment(tokens);
    }
}

/// The GenAI conventions' client metrics (`gen_ai.client.operation.duration`, in Prometheus'
/// text `gen_ai_client_operation_duration_seconds`): one request to the model, answered or
/// failed (then with `error_type`).
pub(crate) fn operation(
    provider_label: &str,
    model: &str,
    took: Duration,
    error: Option<&LlmError>,
) {
    let provider = provider_name(provider_label);
    let seconds = took.as_secs_f64();
    match error {
        None => metrics::histogram!(
            "gen_ai_client_operation_duration_seconds",
            "gen_ai_operation_name" => "chat",
            "gen_ai_provider_name" => provider,
            "gen_ai_request_model" => model.to_owned()
        )
        .record(seconds),
        Some(error) => metrics::histogram!(
            "gen_ai_client_operation_duration_seconds",
            "gen_ai_operation_name" => "chat",
            "gen_ai_provider_name" => provider,
            "gen_ai_request_model" => model.to_owned(),
            "error_type" => kind(error)
        )
        .record(seconds),
    }
}

/// The GenAI conventions' `gen_ai.client.token.usage` (`gen_ai_client_token_usage`): a request's
/// input and output tokens, each a sample of the histogram.
pub(crate) fn token_usage(provider_label: &str, model: &str, usage: &TokenUsage) {
    let provider = provider_name(provider_label);
    for (kind, tokens) in [
        ("input", usage.prompt_tokens),
        ("output", usage.completion_tokens),
    ] {
        metrics::histogram!(
            "gen_ai_client_token_usage",
            "gen_ai_operation_name" => "chat",
            "gen_ai_provider_name" => provider,
            "gen_ai_request_model" => model.to_owned(),
            "gen_ai_token_type" => kind
        )
        .record(tokens as f64);
    }
}

/// One agent call, from its first request to its typed answer or its failure.
pub(crate) fn call(agent: AgentName, model: &str, outcome: &'static str, took: Duration) {
    let (agent, model) = (agent.as_str(), model.to_owned());
    metrics::histogram!("travel_agent_call_seconds", "agent" => agent, "model" => model.clone())
        .record(took.as_secs_f64());
    metrics::counter!("travel_agent_calls_total", "agent" => agent, "model" => model, "outcome" => outcome)
        .increment(1);
}

/// A request to the model that failed (each attempt counts, retried or not).
pub(crate) fn llm_error(provider: &str, error: &LlmError) {
    metrics::counter!("travel_llm_errors_total", "provider" => provider.to_owned(), "kind" => kind(error))
        .increment(1);
}

/// The kind of a failed request, as operators group them.
pub fn kind(error: &LlmError) -> &'static str {
    match error {
        LlmError::Status {
            status: 429, code, ..
        } if code.as_deref() == Some("insufficient_quota") => "quota_exceeded",
        LlmError::Status { status: 429, .. } | LlmError::RateLimited { .. } => "rate_limited",
        LlmError::Status { status, .. } if *status >= 500 => "server_error",
        LlmError::Status { .. } => "client_error",
        LlmError::Timeout { .. } => "timeout",
        LlmError::Unreachable { .. } => "unreachable",
        LlmError::MalformedReply { .. } => "malformed_reply",
        LlmError::Setup { .. } => "setup",
    }
}

/// The GenAI conventions' name of a provider (`gen_ai.provider.name`).
pub fn provider_name(label: &str) -> &'static str {
    match label {
        "azure-openai" => "azure.ai.openai",
        "demo" => "travel_planner.demo",
        _ => "openai",
    }
}

/// Whether spans may carry the messages exchanged with the model
/// (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`); off by default, as they hold the
/// traveller's words.
pub fn capture_message_content() -> bool {
    static CAPTURE: OnceLock<bool> = OnceLock::new();
    *CAPTURE.get_or_init(|| {
        std::env::var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
    })
}

/// The span of one round with the model (`chat {model}`), with the messages sent when content
/// capture is on; [`answered`] completes it.
pub(crate) fn chat_span(
    agent: &str,
    provider_label: &str,
    model: &str,
    messages: &impl serde::Serialize,
) -> tracing::Span {
    let span = tracing::info_span!(
        "chat",
        otel.name = %format!("chat {model}"),
        // A call to another service (the model's provider).
        otel.kind = "client",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = provider_name(provider_label),
        gen_ai.request.model = model,
        gen_ai.agent.name = agent,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        gen_ai.input.messages = tracing::field::Empty,
        gen_ai.output.messages = tracing::field::Empty,
        error.r#type = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if capture_message_content() {
        span.record(
            "gen_ai.input.messages",
            serde_json::to_string(messages).unwrap_or_default(),
        );
    }
    span
}

/// The tokens the provider counted, on the round's `chat` span: integers (tracing would export a
/// `u64` as text).
pub(crate) fn used(span: &tracing::Span, usage: &crate::thread::TokenUsage) {
    span.record(
        "gen_ai.usage.input_tokens",
        i64::try_from(usage.prompt_tokens).unwrap_or(i64::MAX),
    );
    span.record(
        "gen_ai.usage.output_tokens",
        i64::try_from(usage.completion_tokens).unwrap_or(i64::MAX),
    );
}

/// A failed round on its `chat` span: the status, and what kind of failure (`error.type`).
pub(crate) fn failed(span: &tracing::Span, error: &LlmError) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", kind(error));
}

/// A round the model answered: its tokens on its span, its metrics (per agent, per the GenAI
/// conventions, the tokens by kind).
pub(crate) fn round_answered(
    span: &tracing::Span,
    agent: &'static str,
    provider_label: &str,
    model: &str,
    usage: &TokenUsage,
    took: Duration,
) {
    used(span, usage);
    round(agent, model, usage, took);
    operation(provider_label, model, took, None);
    token_usage(provider_label, model, usage);
}

/// The model's answer on its `chat` span: why it stopped, and the message when content capture
/// is on.
pub(crate) fn answered(
    span: &tracing::Span,
    finish_reason: Option<&str>,
    message: &impl serde::Serialize,
) {
    if let Some(reason) = finish_reason {
        // A string array, as the conventions say (tracing's fields hold no arrays).
        span.set_attribute(
            "gen_ai.response.finish_reasons",
            opentelemetry::Value::Array(
                vec![opentelemetry::StringValue::from(reason.to_owned())].into(),
            ),
        );
    }
    if capture_message_content() {
        span.record(
            "gen_ai.output.messages",
            serde_json::to_string(message).unwrap_or_default(),
        );
    }
}
