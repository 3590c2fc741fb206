//! The HTTP path under async-openai: our timeout, our authentication, our errors, and no
//! retries: a failed request fails the agent call, and the durable workflow, the one place that
//! retries, decides whether and when to call the agent again (`workflow/durable.rs`), so tries
//! never multiply across layers.
//!
//! async-openai's own retry obeys any `Retry-After` without limit, does not retry timeouts and
//! loses the status of a non-JSON error body, so this tower service replaces it (through the
//! crate's `middleware` feature):
//!
//! * 429: the provider's `Retry-After` is carried in the error (the workflow waits it out as a
//!   durable timer); `insufficient_quota` is marked for no retry at all;
//! * 5xx, connect errors and timeouts: transient errors (the workflow backs off);
//! * other 4xx: permanent errors;
//! * the whole exchange, headers and body, runs under the per-request timeout; a streamed reply
//!   (asked with `Accept: text/event-stream`) is handed on as it arrives once its headers came,
//!   its body cut at the same deadline, and keeps its place among the calls in flight until its
//!   body ends or is dropped;
//! * Azure OpenAI without a key: an Entra bearer token is added to every request;
//! * every request waits for its admission first ([`super::admission`]): a place among the calls
//!   in flight to the provider, and the provider's rate-limit budget as its last answer told it;
//!   a 429 holds the provider's next calls back for what it asked.
//!
//! A failure becomes an [`LlmError`] that names the provider, the status and the message.

use std::sync::Arc;
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use futures::StreamExt;
use futures::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use travel_platform::azure::EntraTokenSource;

use super::admission::{self, Admission, Admitted};
use crate::error::LlmError;

/// The media type of a streamed reply: asked for in `Accept`, it makes the transport hand the
/// body on as it arrives.
pub(crate) const EVENT_STREAM: &str = "text/event-stream";

/// What ends a streamed reply whose body outlasts the request's timeout.
const BODY_TIMED_OUT: &str = "the streamed reply did not end within the request timeout";

#[derive(Clone, Debug)]
pub struct ResilientTransport {
    pub(crate) http: reqwest::Client,
    pub(crate) provider: String,
    pub(crate) timeout: Duration,
    pub(crate) entra: Option<EntraTokenSource>,
    pub(crate) admission: Arc<Admission>,
}

impl tower::Service<HttpRequestFactory> for ResilientTransport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = BoxFuture<'static, Result<reqwest::Response, OpenAIError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), OpenAIError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            this.send(factory)
                .await
                .map_err(|e| OpenAIError::Boxed(Box::new(e)))
        })
    }
}

impl ResilientTransport {
    /// One request: its answer, or what went wrong (counted for the metrics).
    async fn send(&self, factory: HttpRequestFactory) -> Result<reqwest::Response, LlmError> {
        let sent = self.attempt(&factory).await;
        if let Err(error) = &sent {
            crate::telemetry::llm_error(&self.provider, error);
        }
        sent
    }

    async fn attempt(&self, factory: &HttpRequestFactory) -> Result<reqwest::Response, LlmError> {
        let mut request = factory
            .build()
            .await
            .map_err(|e| self.setup_error(e.to_string()))?;
        self.authorize(&mut request).await?;
        let tokens = request.body().and_then(reqwest::Body::as_bytes).map_or(
            admission::DEFAULT_COMPLETION_ESTIMATE,
            admission::estimated_tokens,
        );
        let streamed = request
            .headers()
            .get(reqwest::header::ACCEPT)
            .is_some_and(|accept| accept.as_bytes() == EVENT_STREAM.as_bytes());
        let admitted = self.admission.admit(tokens).await;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let exchanged = self.exchange(request, streamed).await;
        if let Ok(response) = &exchanged {
            self.admission.observe(&admitted, response.headers());
        }
        let response = exchanged?;
        if response.status().is_success() {
            return Ok(if streamed {
                holding_its_place(response, admitted, deadline)
            } else {
                response
            });
        }
        drop(admitted);
        let (status, headers) = (response.status(), response.headers().clone());
        let body = tokio::time::timeout(self.timeout, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Err(self.refused(status, &headers, &body))
    }

    /// Azure OpenAI without a key: a Microsoft Entra bearer token on every request.
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<(), LlmError> {
        let Some(entra) = &self.entra else {
            return Ok(());
        };
        let token = entra
            .token()
            .await
            .map_err(|e| self.setup_error(format!("no Microsoft Entra token: {e}")))?;
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| self.setup_error("the Entra token is not a valid header".into()))?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }

    /// Sends the request and reads the whole answer, headers and body, within the timeout; the
    /// answer comes back with its body in memory (a `streamed` one only with its headers). Every
    /// error here (timeout, connection) is transient.
    async fn exchange(
        &self,
        request: reqwest::Request,
        streamed: bool,
    ) -> Result<reqwest::Response, LlmError> {
        let exchange = async {
            let response = self.http.execute(request).await?;
            if streamed {
                return Ok(response);
            }
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            let mut buffered = http::Response::new(body);
            *buffered.status_mut() = status;
            *buffered.headers_mut() = headers;
            Ok::<_, reqwest::Error>(reqwest::Response::from(buffered))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(LlmError::Timeout {
                provider: self.provider.clone(),
                after: self.timeout,
            }),
            Ok(Err(e)) => Err(LlmError::Unreachable {
                provider: self.provider.clone(),
                message: error_chain(&e),
            }),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// What an error status means (see [`LlmError::is_transient`]): a 429 with `Retry-After`
    /// carries the wait, and holds the provider's next calls back for it.
    fn refused(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> LlmError {
        let (message, code) = error_message(body);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        match (status.as_u16(), retry_after) {
            (429, Some(retry_after)) if code.as_deref() != Some("insufficient_quota") => {
                self.admission.refused_for(retry_after);
                LlmError::RateLimited {
                    provider: self.provider.clone(),
                    retry_after,
                }
            }
            (status, _) => {
                if status == 429 && code.as_deref() != Some("insufficient_quota") {
                    // Busy, without saying for how long: a moment's rest for the next calls.
                    self.admission.refused_for(Duration::from_secs(1));
                }
                LlmError::Status {
                    provider: self.provider.clone(),
                    status,
                    code,
                    message,
                }
            }
        }
    }

    fn setup_error(&self, message: String) -> LlmError {
        LlmError::Setup {
            provider: self.provider.clone(),
            message,
        }
    }
}

/// A streamed reply whose body keeps the call's place among the calls in flight until it ends
/// or its reader drops it, and ends with [`BODY_TIMED_OUT`] at `deadline` (the request's
/// timeout, counted from when it was sent).
fn holding_its_place(
    response: reqwest::Response,
    admitted: Admitted,
    deadline: tokio::time::Instant,
) -> reqwest::Response {
    type Chunk = Result<bytes::Bytes, Box<dyn std::error::Error + Send + Sync>>;
    let (status, headers) = (response.status(), response.headers().clone());
    // One timer for the whole body (a chunk comes every few milliseconds).
    let timer = Box::pin(tokio::time::sleep_until(deadline));
    let body = futures::stream::unfold(
        (response.bytes_stream(), Some(admitted), timer),
        |(mut body, admitted, mut timer)| async move {
            // Gone once the body ended or timed out: the place is given back.
            let admitted = admitted?;
            let next: Chunk = tokio::select! {
                chunk = body.next() => chunk?.map_err(Into::into),
                () = &mut timer => return Some((Err(BODY_TIMED_OUT.into()), (body, None, timer))),
            };
            Some((next, (body, Some(admitted), timer)))
        },
    );
    let mut live = http::Response::new(reqwest::Body::wrap_stream(body));
    *live.status_mut() = status;
    *live.headers_mut() = headers;
    reqwest::Response::from(live)
}

/// `Retry-After` as seconds (possibly fractional) or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The provider's error message and code, from an OpenAI-style JSON body or the raw text.
fn error_message(body: &[u8]) -> (String, Option<String>) {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let error = value.get("error").unwrap_or(&value);
        let message = error
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_owned);
        let code = error
            .get("code")
            .and_then(|c| c.as_str())
            .map(str::to_owned);
        if let Some(message) = message {
            return (message, code);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        ("(empty body)".into(), None)
    } else {
        (crate::text_start(text, 300), None)
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn error_bodies_keep_their_message_whatever_their_shape() {
        let (message, code) =
            error_message(br#"{"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}"#);
        assert_eq!(message, "You exceeded your current quota");
        assert_eq!(code.as_deref(), Some("insufficient_quota"));
        assert_eq!(
            error_message(b"<html>Bad Gateway</html>").0,
            "<html>Bad Gateway</html>"
        );
        assert_eq!(error_message(b"").0, "(empty body)");
    }
}
