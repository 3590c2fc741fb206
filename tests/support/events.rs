//! A trip's live events as a browser's `EventSource` reads them (`GET /api/trips/{id}/events`
//! with `Accept: text/event-stream`), one event at a time, on either backing.

use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::http::{Method, Request, StatusCode, header};
use futures::StreamExt;
use serde_json::Value;
use tower::ServiceExt;

use super::service::{Answer, Runs, TestService};

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SentEvent {
    pub id: Option<u64>,
    pub event: String,
    pub data: Value,
}

/// An open stream.
pub struct EventStream {
    source: Source,
    text: String,
    /// The `reply` events read so far (the agents' replies as written: not changes, no id),
    /// each with how many changes came before it.
    pub replies: Vec<(usize, SentEvent)>,
    /// How many changes were read.
    changes: usize,
}

enum Source {
    InProcess(BodyDataStream),
    Binary(reqwest::Response),
}

/// The longest a test waits for the next event.
const NEXT_EVENT_WAIT: Duration = Duration::from_secs(30);

impl EventStream {
    /// The next change (a `reply` is kept in [`Self::replies`]), or `None` once the server
    /// ended the stream.
    pub async fn next(&mut self) -> Option<SentEvent> {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                match parse(&block) {
                    Some(event) if event.event == "reply" => {
                        self.replies.push((self.changes, event));
                    }
                    Some(event) => {
                        self.changes += 1;
                        return Some(event);
                    }
                    None => {}
                }
                continue;
            }
            let chunk = tokio::time::timeout(NEXT_EVENT_WAIT, self.chunk())
                .await
                .expect("an event within 30 s")?;
            self.text.push_str(&String::from_utf8(chunk).unwrap());
        }
    }

    /// Events until one for which `last` holds (included), or the end of the stream.
    pub async fn until(&mut self, last: impl Fn(&SentEvent) -> bool) -> Vec<SentEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            let done = last(&event);
            events.push(event);
            if done {
                break;
            }
        }
        events
    }

    async fn chunk(&mut self) -> Option<Vec<u8>> {
        match &mut self.source {
            Source::InProcess(body) => body.next().await.map(|c| c.unwrap().to_vec()),
            Source::Binary(response) => response.chunk().await.unwrap().map(|c| c.to_vec()),
        }
    }
}

/// An event's block of lines (`None` for a comment, such as a keep-alive, or a `retry` alone).
/// Every event of a whole stream's text (a stream that ended).
pub fn all(text: &str) -> Vec<SentEvent> {
    text.split("\n\n").filter_map(parse).collect()
}

fn parse(block: &str) -> Option<SentEvent> {
    let (mut id, mut event, mut data) = (None, "message".to_owned(), None::<String>);
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.parse().expect("numeric ids")),
            "event" => event = value.to_owned(),
            "data" => {
                let data = data.get_or_insert_with(String::new);
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            _ => {}
        }
    }
    let data = data?;
    Some(SentEvent {
        id,
        event,
        data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
    })
}

impl TestService {
    /// Opens the trip's event stream (after `last_event_id`, as a reconnecting browser), or the
    /// answer that is not one.
    pub async fn events(
        &self,
        id: &str,
        last_event_id: Option<u64>,
    ) -> Result<EventStream, Answer> {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(format!("/api/trips/{id}/events"))
            .header(header::ACCEPT, "text/event-stream");
        if let Some(last) = last_event_id {
            request = request.header("last-event-id", last.to_string());
        }
        let request = request.body(Body::empty()).unwrap();
        let streaming = |status: StatusCode, headers: &axum::http::HeaderMap| {
            status == StatusCode::OK
                && headers[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/event-stream")
        };
        let source = match &self.runs {
            Runs::InProcess(service) => {
                let response = service.app.clone().oneshot(request).await.unwrap();
                if !streaming(response.status(), response.headers()) {
                    return Err(Answer::read(response).await);
                }
                Source::InProcess(response.into_body().into_data_stream())
            }
            Runs::Binary { base_url, .. } => {
                let (parts, _) = request.into_parts();
                let response = self
                    .http
                    .get(format!("{base_url}{}", parts.uri))
                    .headers(parts.headers)
                    .send()
                    .await
                    .unwrap();
                if !streaming(response.status(), response.headers()) {
                    return Err(Answer {
                        status: response.status(),
                        headers: response.headers().clone(),
                        body: response.bytes().await.unwrap().to_vec(),
                    });
                }
                Source::Binary(response)
            }
        };
        Ok(EventStream {
            source,
            text: String::new(),
            replies: Vec::new(),
            changes: 0,
        })
    }
}
