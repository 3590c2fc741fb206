//! `GET /api/trips/{instanceId}/events`: a trip's changes, as JSON or as a live stream of
//! server-sent events that resumes where a dropped connection left off.
//!
//! A client that asks for `text/event-stream` (a browser's `EventSource` does) gets the events so
//! far, then each one as the workflow records it, until the trip finishes; any other client gets
//! the events so far as a JSON array. Both start after the event named by `Last-Event-ID` (sent
//! by `EventSource` when it reconnects) or `?after=`. The events are read from the workflow's
//! history (`travel_orchestration::trip_events`), so a stream served by one process shows a trip
//! run by another, and a reconnect to any process misses nothing and repeats nothing.
//!
//! Between them a stream carries `reply` events: the agents' replies as the model writes them
//! (text, tool calls begun, list elements complete), when this process runs the trip's agents.
//! They have no id (a browser's `Last-Event-ID` stays the last change's) and are never sent
//! again: the change that ends the step holds the reply as recorded.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use travel_orchestration::live_replies::ReplyPiece;
use travel_orchestration::{Followed, TripError, TripEvent};

use crate::AppState;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::trip_path::TripInPath;

/// How many event streams a process keeps open by default (`MAX_EVENT_STREAMS`).
pub const DEFAULT_MAX_EVENT_STREAMS: usize = 10_000;

/// A comment sent on a quiet stream this often, so that proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a browser waits before it reconnects a dropped stream (the `retry` field).
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// The event streams open in this process, how many may be, and the signal that ends them all
/// (the process is stopping: their browsers reconnect elsewhere, or here after the restart).
#[derive(Debug, Clone)]
pub struct EventStreams {
    open: Arc<AtomicUsize>,
    max: usize,
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl EventStreams {
    pub fn new(max: usize) -> Self {
        Self {
            open: Arc::default(),
            max,
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// Ends every stream open now or opened later (a graceful shutdown waits for them).
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Self::close_all`] was called.
    fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }

    /// How many are open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// A place for one more stream, while there is one.
    fn admit(&self) -> Option<OpenStream> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()?;
        gauge(self.open());
        Some(OpenStream(self.open.clone()))
    }
}

impl Default for EventStreams {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_STREAMS)
    }
}

/// One open stream, counted until it is dropped (the client went away, or the trip finished).
struct OpenStream(Arc<AtomicUsize>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        let open = self.0.fetch_sub(1, Ordering::AcqRel) - 1;
        gauge(open);
    }
}

fn gauge(open: usize) {
    metrics::gauge!("travel_event_streams_open").set(open as f64);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    /// Only the events after this one.
    after: Option<u64>,
}

/// The handler.
pub(crate) async fn trip_events(
    State(state): State<AppState>,
    TripInPath(instance_id): TripInPath,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(ErrorCode::InvalidQuery, e.body_text()))?;
    let after = match last_event_id(&headers)? {
        Some(id) => id,
        None => query.after.unwrap_or(0),
    };
    if !wants_stream(&headers) {
        state.trips.status(&instance_id).await?;
        let events = state.trips.events(&instance_id, after).await?;
        return Ok(Json(events).into_response());
    }
    let followed = state.trips.follow(instance_id.clone(), after).await?;
    if followed.has_ended() {
        // Nothing will follow: 204 tells a browser's EventSource to stop reconnecting.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let Some(open) = state.events.admit() else {
        let mut refused = ApiError::new(
            ErrorCode::TooManyStreams,
            format!(
                "This process has {} event streams open, as many as it keeps \
                 (MAX_EVENT_STREAMS); try again shortly, or poll GET /api/trips/{instance_id}.",
                state.events.max
            ),
        )
        .into_response();
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(5));
        return Ok(refused);
    };
    let events = followed.into_stream();
    let events = events.take_until(state.events.closed()).map(move |next| {
        let _counted = &open;
        Ok::<_, Infallible>(match next {
            Ok(Followed::Event(event)) => sse_event(&event),
            Ok(Followed::Reply(piece)) => reply_event(&piece),
            Err(error) => error_event(error),
        })
    });
    // First, how soon to reconnect: said at once, also on a stream that stays quiet for days.
    let reconnect = Event::default().retry(RECONNECT_AFTER);
    let stream = futures::stream::once(async move { Ok(reconnect) }).chain(events);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// `Last-Event-ID`, when sent: a number, or a 400.
fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidHeader,
            "Last-Event-ID must be the id of an event of this trip (up to 19 digits).",
        )
    };
    let digits = value.as_bytes();
    if digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    if digits.is_empty() {
        // EventSource sends it empty before it has seen an event with an id.
        return Ok(None);
    }
    value
        .to_str()
        .ok()
        .and_then(|text| text.parse().ok())
        .map(Some)
        .ok_or_else(invalid)
}

/// Whether the client asked for `text/event-stream`.
pub fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| accept.contains("text/event-stream"))
}

fn sse_event(event: &TripEvent) -> Event {
    Event::default()
        .id(event.id.to_string())
        .event(event.change.name())
        .json_data(event)
        .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()))
}

/// A piece of an agent's reply: no id, since it is not the record.
fn reply_event(piece: &ReplyPiece) -> Event {
    Event::default()
        .event("reply")
        .json_data(piece)
        .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()))
}

/// What ends a stream that could not go on (the store could not be read): the API's error body
/// as an `error` event; the browser reconnects and resumes.
fn error_event(error: TripError) -> Event {
    let ApiError { detail, .. } = ApiError::from(error);
    Event::default()
        .event("error")
        .json_data(ErrorBody { error: detail })
        .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()))
}
