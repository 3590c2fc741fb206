//! One trace per trip. A trip's work is spread over days and processes (the request that starts
//! it, every activity, the approval, the booking), so its trace context is not passed along but
//! derived from the trip's id: the trace id and the root span id are the first 24 bytes of the
//! id's SHA-256. Anything that knows the id puts its spans in the trip's trace with
//! [`within_trip`], after a restart and on any process alike; nothing is stored, and the workflow
//! (whose recorded history must not change) is not involved.

use std::cell::Cell;
use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Whether spans are exported (an OTLP endpoint is configured): without it, the trips' own spans
/// are not built at all, nor what they need read.
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Spans are exported from now on (called once the process' tracer provider is installed).
pub fn exporting() {
    EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether spans are exported.
pub fn is_exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

thread_local! {
    /// The ids the next span built on this thread must take (a trip's root span), read by the
    /// process' id generator ([`chosen_ids`]).
    static CHOSEN: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// The ids a span being built on this thread must take, when it is a trip's root span: the
/// process' OpenTelemetry id generator answers these instead of random ones.
pub fn chosen_ids() -> Option<(TraceId, SpanId)> {
    CHOSEN.with(Cell::get)
}

/// Exports the trip's root span, `invoke_workflow TripPlanning`, with the ids every span of the
/// trip already names as their parent ([`trip_trace`]): from the trip's start until its first
/// plan awaits approval (`state` `awaiting_approval`), or until its end when it ends before
/// (`state` the final one). A span cannot stay open for the days a trip may wait, and the trace of
/// a waiting trip needs its root: it is sent once, by the process that ran that turn; what
/// follows the wait is [`export_trip_review`]. A no-op without a trace exporter.
pub fn export_trip_root(instance_id: &str, started: SystemTime, ended: SystemTime, state: &str) {
    let tracer = opentelemetry::global::tracer("travel-planner");
    let builder = SpanBuilder::from_name("invoke_workflow TripPlanning")
        .with_kind(SpanKind::Internal)
        .with_start_time(started)
        .with_attributes([
            KeyValue::new("gen_ai.operation.name", "invoke_workflow"),
            KeyValue::new("trip.id", instance_id.to_owned()),
            KeyValue::new("trip.state", state.to_owned()),
        ]);
    CHOSEN.with(|chosen| chosen.set(Some(trip_trace(instance_id))));
    let mut span = tracer.build(builder);
    CHOSEN.with(|chosen| chosen.set(None));
    span.end_with_timestamp(ended);
}

/// Exports the end of a trip whose plan awaited approval, `review TripPlanning`, a child of the
/// trip's root: from the approval request of the plan decided on (the last revision) to the
/// trip's end, with its `outcome` (booked, rejected, expired, failed). Sent once, when the trip
/// ends. A no-op without a trace exporter.
pub fn export_trip_review(
    instance_id: &str,
    requested: SystemTime,
    ended: SystemTime,
    outcome: &str,
    revision: u32,
) {
    let tracer = opentelemetry::global::tracer("travel-planner");
    let builder = SpanBuilder::from_name("review TripPlanning")
        .with_kind(SpanKind::Internal)
        .with_start_time(requested)
        .with_attributes([
            KeyValue::new("trip.id", instance_id.to_owned()),
            KeyValue::new("trip.outcome", outcome.to_owned()),
            KeyValue::new("trip.revision", i64::from(revision)),
        ]);
    let mut span = tracer.build_with_context(builder, &trip_context(instance_id));
    span.end_with_timestamp(ended);
}

/// A context whose span is the trip's root (remote: exported by whichever process did).
fn trip_context(instance_id: &str) -> opentelemetry::Context {
    let (trace_id, span_id) = trip_trace(instance_id);
    let root = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    opentelemetry::Context::new().with_remote_span_context(root)
}

/// The trace id and root span id of a trip.
pub fn trip_trace(instance_id: &str) -> (TraceId, SpanId) {
    let digest = ring::digest::digest(&ring::digest::SHA256, instance_id.as_bytes());
    let bytes = digest.as_ref();
    let mut trace = [0u8; 16];
    let mut span = [0u8; 8];
    trace.copy_from_slice(&bytes[..16]);
    span.copy_from_slice(&bytes[16..24]);
    (TraceId::from_bytes(trace), SpanId::from_bytes(span))
}

/// Makes `span` a child of the trip's root, so that it lands in the trip's trace (a no-op when
/// no OpenTelemetry layer is installed).
pub fn within_trip(span: &tracing::Span, instance_id: &str) {
    // The request (or whatever ran) before the span joined the trip stays linked to it.
    let before = tracing::Span::current()
        .context()
        .span()
        .span_context()
        .clone();
    if before.is_valid() {
        span.add_link(before);
    }
    let _ = span.set_parent(trip_context(instance_id));
    span.set_attribute("trip.id", instance_id.to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trip_always_has_the_same_trace_and_another_trip_another() {
        let (trace, root) = trip_trace("trip-8bf6ad5353528b89ad52");
        assert_eq!(trip_trace("trip-8bf6ad5353528b89ad52"), (trace, root));
        assert_ne!(trip_trace("trip-8bf6ad5353528b89ad53").0, trace);
        assert_ne!(trace, TraceId::INVALID);
        assert_ne!(root, SpanId::INVALID);
    }
}
