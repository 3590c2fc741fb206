//! Logs, and traces over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! The `tracing` spans the crates already make (HTTP requests, workflow activities, agent calls in
//! the OpenTelemetry GenAI conventions, tool calls) become OpenTelemetry spans, exported over OTLP
//! / HTTP (`http/protobuf`, or `http/json` with `OTEL_EXPORTER_OTLP_PROTOCOL`) through the
//! process' one HTTP client. A trip's spans share one trace, derived from its id
//! (`travel_platform::trace`), however many days and processes its work spans.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How logs are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The running telemetry; [`Telemetry::shutdown`] sends the spans still buffered.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops the trace export (when there is one).
    pub async fn shutdown(self) {
        let Some(provider) = self.traces else {
            return;
        };
        // The flush waits for the export task, which runs on this runtime.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = flushed {
            eprintln!("travel-planner: the last traces could not be sent: {e}");
        }
    }
}

/// Installs the process' subscriber: logs filtered by `RUST_LOG` (or the default, `quiet` for
/// commands whose output is their report), and the OTLP trace export when it is configured.
/// Must run inside the Tokio runtime (the exporter's batches are sent from a task).
pub fn init(format: LogFormat, quiet: bool) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // duroxide's dispatchers log retried store errors as warnings; they show when RUST_LOG
        // asks for them.
        EnvFilter::new(if quiet {
            "error"
        } else {
            "info,duroxide=warn,duroxide::runtime::dispatchers=error"
        })
    });
    // Colours only for a person at a terminal: a log written to a file or a pipe stays plain
    // text (and NO_COLOR turns them off anyway).
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colours);
    let logs = match format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs.json().boxed(),
    }
    .with_filter(filter);
    let traces = trace_provider()?;
    let trace_layer = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("travel-planner"))
            // Spans of the service's own crates and requests; not the engine's internals.
            .with_filter(EnvFilter::new(
                "travel_planner=info,travel_api=info,travel_orchestration=info,travel_agents=info,tower_http=debug",
            ))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(trace_layer)
        .init();
    if let Some(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|_| traces.is_some())
    {
        tracing::info!(%endpoint, "exporting traces over OTLP");
    }
    Ok(Telemetry { traces })
}

/// The trace exporter, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces' own endpoint
/// variable) is set.
fn trace_provider() -> anyhow::Result<Option<SdkTracerProvider>> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
        Ok("http/json") => Protocol::HttpJson,
        Ok("http/protobuf") | Ok("") | Err(_) => Protocol::HttpBinary,
        Ok(other) => {
            // Not fatal: a platform may set its own collector's protocol (gRPC) for every app.
            eprintln!(
                "travel-planner: OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported (this service sends `http/protobuf` or `http/json`); traces are not exported"
            );
            return Ok(None);
        }
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(travel_platform::http::shared_client())
        .with_protocol(protocol)
        .build()?;
    let batches = BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    let resource = Resource::builder()
        .with_service_name("travel-planner")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(batches)
        .with_resource(resource)
        .with_id_generator(TripIds::default())
        .build();
    // The trips' root spans are built with the global tracer (`travel_platform::trace`).
    opentelemetry::global::set_tracer_provider(provider.clone());
    travel_platform::trace::exporting();
    Ok(Some(provider))
}

/// Random span and trace ids, except for a trip's root span, which takes the ids derived from
/// the trip's id (see `travel_platform::trace::export_trip_root`).
#[derive(Debug, Default)]
struct TripIds {
    random: opentelemetry_sdk::trace::RandomIdGenerator,
}

impl opentelemetry_sdk::trace::IdGenerator for TripIds {
    fn new_trace_id(&self) -> opentelemetry::trace::TraceId {
        match travel_platform::trace::chosen_ids() {
            Some((trace_id, _)) => trace_id,
            None => self.random.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        match travel_platform::trace::chosen_ids() {
            Some((_, span_id)) => span_id,
            None => self.random.new_span_id(),
        }
    }
}
