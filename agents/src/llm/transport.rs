//! The HTTP path under async-openai: our retries, our timeout, our authentication, our errors.
//!
//! async-openai's own retry obeys any `Retry-After` without limit, does not retry timeouts and
//! loses the status of a non-JSON error body, so this tower service replaces it (through the
//! crate's `middleware` feature):
//!
//! * 429: waits for `Retry-After` when it is within the cap, fails at once when it asks for
//!   more; `insufficient_quota` is never retried;
//! * 5xx, connect errors and timeouts: exponential back-off with jitter;
//! * other 4xx: fails at once;
//! * the whole exchange, headers and body, runs under the per-request timeout;
//! * Azure OpenAI without a key: an Entra bearer token is added to every attempt;
//! * every attempt waits for its admission first ([`super::admission`]): a place among the calls
//!   in flight to the provider, and the provider's rate-limit budget as its last answer told it.
//!
//! A failure becomes an [`LlmError`] that names the provider, the status and the message.

use std::sync::Arc;
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use futures::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use travel_platform::azure::EntraTokenSource;

use super::admission::{self, Admission};
use super::settings::RetryPolicy;
use crate::error::LlmError;

#[derive(Clone, Debug)]
pub struct ResilientTransport {
    pub(crate) http: reqwest::Client,
    pub(crate) provider: String,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) entra: Option<EntraTokenSource>,
    pub(crate) admission: Arc<Admission>,
}

/// What one attempt came to.
enum Attempt {
    Done(reqwest::Response),
    Retry { after: Duration, error: LlmError },
    Fail(LlmError),
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
    async fn send(&self, factory: HttpRequestFactory) -> Result<reqwest::Response, LlmError> {
        let mut retries = 0;
        loop {
            let attempts = retries + 1;
            match self.attempt(&factory, attempts).await {
                Attempt::Done(response) => return Ok(response),
                Attempt::Fail(error) => {
                    crate::telemetry::llm_error(&self.provider, &error);
                    return Err(error);
                }
                Attempt::Retry { error, .. } if retries >= self.retry.max_retries => {
                    crate::telemetry::llm_error(&self.provider, &error);
                    return Err(error);
                }
                Attempt::Retry { after, error } => {
                    crate::telemetry::llm_error(&self.provider, &error);
                    tracing::warn!(provider = %self.provider, attempt = attempts, wait_ms = after.as_millis() as u64, %error, "LLM request failed; retrying");
                    tokio::time::sleep(after).await;
                    retries += 1;
                }
            }
        }
    }

    async fn attempt(&self, factory: &HttpRequestFactory, attempts: u32) -> Attempt {
        let mut request = match factory.build().await {
            Ok(request) => request,
            Err(e) => return Attempt::Fail(self.setup_error(e.to_string())),
        };
        if let Err(error) = self.authorize(&mut request).await {
            return Attempt::Fail(error);
        }
        let tokens = request.body().and_then(reqwest::Body::as_bytes).map_or(
            admission::DEFAULT_COMPLETION_ESTIMATE,
            admission::estimated_tokens,
        );
        let admitted = self.admission.admit(tokens).await;
        let exchanged = self.exchange(request, attempts).await;
        if let Ok(response) = &exchanged {
            self.admission.observe(&admitted, response.headers());
        }
        drop(admitted);
        let response = match exchanged {
            Ok(response) => response,
            Err(error) => {
                return Attempt::Retry {
                    after: self.backoff(attempts),
                    error,
                };
            }
        };
        if response.status().is_success() {
            return Attempt::Done(response);
        }
        let (status, headers) = (response.status(), response.headers().clone());
        // The body is already in memory (see `exchange`).
        let body = response.bytes().await.unwrap_or_default();
        self.refused(status, &headers, &body, attempts)
    }

    /// Azure OpenAI without a key: a Microsoft Entra bearer token on every attempt.
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
    /// answer comes back with its body in memory. Every error here (timeout, connection) is
    /// worth another attempt.
    async fn exchange(
        &self,
        request: reqwest::Request,
        attempts: u32,
    ) -> Result<reqwest::Response, LlmError> {
        let exchange = async {
            let response = self.http.execute(request).await?;
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
                attempts,
            }),
            Ok(Err(e)) => Err(LlmError::Unreachable {
                provider: self.provider.clone(),
                message: error_chain(&e),
                attempts,
            }),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// What an error status means: retry (429 within the cap, 5xx) or fail (the rest).
    fn refused(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        attempts: u32,
    ) -> Attempt {
        let (message, code) = error_message(body);
        let error = LlmError::Status {
            provider: self.provider.clone(),
            status: status.as_u16(),
            code: code.clone(),
            message,
        };
        match status.as_u16() {
            429 if code.as_deref() == Some("insufficient_quota") => Attempt::Fail(error),
            429 => match headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after)
            {
                Some(wait) if wait > self.retry.retry_after_cap => {
                    Attempt::Fail(LlmError::RateLimited {
                        provider: self.provider.clone(),
                        retry_after: wait,
                        cap: self.retry.retry_after_cap,
                    })
                }
                Some(wait) => {
                    self.admission.refused_for(wait);
                    Attempt::Retry { after: wait, error }
                }
                None => {
                    let after = self.backoff(attempts);
                    self.admission.refused_for(after);
                    Attempt::Retry { after, error }
                }
            },
            500..=599 => Attempt::Retry {
                after: self.backoff(attempts),
                error,
            },
            _ => Attempt::Fail(error),
        }
    }

    /// Exponential back-off with full jitter in its upper half.
    fn backoff(&self, attempts: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1 << attempts.saturating_sub(1).min(16));
        let capped = exp.min(self.retry.max_delay);
        capped.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    fn setup_error(&self, message: String) -> LlmError {
        LlmError::Setup {
            provider: self.provider.clone(),
            message,
        }
    }
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
