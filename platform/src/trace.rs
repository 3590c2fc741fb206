//! One trace per trip. A trip's work is spread over days and processes (the request that starts
//! it, every activity, the approval, the booking), so its trace context is not passed along but
//! derived from the trip's id: the trace id and the root span id are the first 24 bytes of the
//! id's SHA-256. Anything that knows the id puts its spans in the trip's trace with
//! [`within_trip`], after a restart and on any process alike; nothing is stored, and the workflow
//! (whose recorded history must not change) is not involved.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

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
    let (trace_id, span_id) = trip_trace(instance_id);
    let root = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(root));
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
