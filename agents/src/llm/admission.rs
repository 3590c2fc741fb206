//! Which calls to the model provider go out now, and which wait.
//!
//! A call to a model waits on the network for seconds, so a process can hold thousands at once:
//! what bounds them is what the provider allows, not the process. Two things hold a call back:
//!
//! * a limit on calls in flight to the provider (`LLM_MAX_IN_FLIGHT`, high by default);
//! * the provider's own rate-limit headers, which OpenAI and Azure OpenAI send with every answer
//!   (`x-ratelimit-limit-requests` / `-tokens`, `x-ratelimit-remaining-requests` / `-tokens`,
//!   `x-ratelimit-reset-requests` / `-tokens`). Both budgets are kept as the buckets the
//!   providers describe: they fill at a steady rate up to their limit, and a call takes one
//!   request and its estimated tokens. A call that would overdraw either waits until the bucket
//!   has refilled enough, instead of being sent, refused with a 429 and retried.
//!
//! The headers describe the provider's count when it answered one call; calls sent after that
//! one and still unanswered are not in it, so they are taken off again here. A call's tokens are
//! estimated as the providers estimate them for their limits: a token for every four characters
//! of the request, plus the completion tokens it may produce (`max_completion_tokens` or
//! `max_tokens`, or [`DEFAULT_COMPLETION_ESTIMATE`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The completion tokens counted for a request that does not cap them.
pub const DEFAULT_COMPLETION_ESTIMATE: u64 = 256;

/// How fast a budget is assumed to refill when the provider says how much is left but not when
/// it refills: one call a second (each answer then tells more).
const UNKNOWN_REFILL_PER_SECOND: f64 = 1.0;

/// Calls to one provider: in flight, and what its rate-limit headers allow.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    in_flight: Arc<Semaphore>,
    budgets: Mutex<Budgets>,
    current: AtomicUsize,
    peak: AtomicUsize,
    held_back: AtomicU64,
    provider: String,
}

/// What the provider's headers said, and the calls sent since that it had not counted yet.
#[derive(Debug, Default)]
struct Budgets {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    next_call: u64,
    /// Calls sent and not answered yet: their number and estimated tokens.
    unanswered: BTreeMap<u64, u64>,
}

/// A budget that refills at `per_second` up to `limit`; `level` was left at `at`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    limit: f64,
    level: f64,
    per_second: f64,
    at: Instant,
}

impl Bucket {
    fn level_at(&self, now: Instant) -> f64 {
        let refilled = self.per_second * now.saturating_duration_since(self.at).as_secs_f64();
        (self.level + refilled).min(self.limit)
    }

    /// How long until `need` is there (a need above the limit waits for a full bucket).
    fn wait_for(&self, need: f64, now: Instant) -> Duration {
        let need = need.min(self.limit);
        let short = need - self.level_at(now);
        if short <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(short / self.per_second.max(f64::MIN_POSITIVE)).min(MAX_WAIT)
        }
    }

    fn take(&mut self, amount: f64, now: Instant) {
        self.level = self.level_at(now) - amount;
        self.at = now;
    }

    /// The bucket as one answer's headers describe it, less what was sent after that answer's
    /// call and is not answered yet.
    fn from_headers(seen: Seen, not_counted: f64, now: Instant, before: Option<Bucket>) -> Self {
        let limit = seen
            .limit
            .or(before.map(|b| b.limit))
            .unwrap_or(seen.remaining)
            .max(seen.remaining);
        let per_second = match seen.reset {
            Some(reset) if !reset.is_zero() && limit > seen.remaining => {
                (limit - seen.remaining) / reset.as_secs_f64()
            }
            _ => before.map_or(UNKNOWN_REFILL_PER_SECOND, |b| b.per_second),
        };
        Self {
            limit,
            level: seen.remaining - not_counted,
            per_second,
            at: now,
        }
    }
}

/// The longest a call is held back at once before it looks again.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// One budget as an answer's headers gave it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    limit: Option<f64>,
    remaining: f64,
    reset: Option<Duration>,
}

/// A call let through: holds its place in flight until dropped (a streamed reply's body holds
/// it until the body ends).
#[derive(Debug)]
pub struct Admitted {
    admission: Arc<Admission>,
    call: u64,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let admission = &self.admission;
        admission.budgets().unanswered.remove(&self.call);
        let now = admission.current.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("travel_llm_calls_in_flight", "provider" => admission.provider.clone())
            .set(now as f64);
    }
}

/// How many calls were in flight and held back so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionStats {
    pub limit: usize,
    pub in_flight: usize,
    pub peak_in_flight: usize,
    /// Calls that waited for the provider's budget before they were sent.
    pub held_back: u64,
}

impl Admission {
    /// At most `limit` calls to `provider` in flight at once.
    pub fn new(provider: &str, limit: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            limit,
            in_flight: Arc::new(Semaphore::new(limit)),
            budgets: Mutex::default(),
            current: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            held_back: AtomicU64::new(0),
            provider: provider.to_owned(),
        }
    }

    fn budgets(&self) -> std::sync::MutexGuard<'_, Budgets> {
        self.budgets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn stats(&self) -> AdmissionStats {
        AdmissionStats {
            limit: self.limit,
            in_flight: self.current.load(Ordering::Relaxed),
            peak_in_flight: self.peak.load(Ordering::Relaxed),
            held_back: self.held_back.load(Ordering::Relaxed),
        }
    }

    /// Waits until a call of `tokens` (estimated) may go out: a place in flight, and the
    /// provider's budgets as last seen.
    pub async fn admit(self: &Arc<Self>, tokens: u64) -> Admitted {
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut waited = false;
        let call = loop {
            let wait = {
                let mut budgets = self.budgets();
                let now = Instant::now();
                let wait = budgets.wait_for(tokens as f64, now);
                if wait.is_zero() {
                    break budgets.take(tokens, now);
                }
                wait
            };
            if !waited {
                waited = true;
                self.held_back.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("travel_llm_calls_held_back_total", "provider" => self.provider.clone())
                    .increment(1);
            }
            // A little later than the budget's refill, spread, so that the calls woken together
            // do not all look at once.
            tokio::time::sleep(wait + Duration::from_millis(fastrand::u64(0..20))).await;
        };
        let now = self.current.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        metrics::gauge!("travel_llm_calls_in_flight", "provider" => self.provider.clone())
            .set(now as f64);
        Admitted {
            admission: self.clone(),
            call,
            _permit: permit,
        }
    }

    /// Takes in what the provider's answer to `call` says of its budgets (any answer: a 429's
    /// headers count too).
    pub fn observe(&self, call: &Admitted, headers: &HeaderMap) {
        let requests = seen(headers, "requests");
        let tokens = seen(headers, "tokens");
        if requests.is_none() && tokens.is_none() {
            return;
        }
        let mut budgets = self.budgets();
        let now = Instant::now();
        let (calls_after, tokens_after) = budgets
            .unanswered
            .range(call.call + 1..)
            .fold((0.0, 0.0), |(n, t), (_, tokens)| {
                (n + 1.0, t + *tokens as f64)
            });
        if let Some(seen) = requests {
            budgets.requests = Some(Bucket::from_headers(
                seen,
                calls_after,
                now,
                budgets.requests,
            ));
        }
        if let Some(seen) = tokens {
            budgets.tokens = Some(Bucket::from_headers(
                seen,
                tokens_after,
                now,
                budgets.tokens,
            ));
        }
    }

    /// The provider refused `call` for its rate (429) for `retry_after`: nothing more goes out
    /// before then, whatever the headers said.
    pub fn refused_for(&self, retry_after: Duration) {
        let mut budgets = self.budgets();
        let now = Instant::now();
        let bucket = budgets.requests.get_or_insert(Bucket {
            limit: 1.0,
            level: 0.0,
            per_second: UNKNOWN_REFILL_PER_SECOND,
            at: now,
        });
        // Empty until `retry_after`, at the bucket's own pace.
        bucket.level = -(bucket.per_second * retry_after.as_secs_f64()).max(0.0);
        bucket.at = now;
    }
}

impl Budgets {
    fn wait_for(&self, tokens: f64, now: Instant) -> Duration {
        let requests = self
            .requests
            .map_or(Duration::ZERO, |b| b.wait_for(1.0, now));
        let tokens = self
            .tokens
            .map_or(Duration::ZERO, |b| b.wait_for(tokens, now));
        requests.max(tokens)
    }

    /// Takes one call of `tokens` from the budgets; returns the call's number.
    fn take(&mut self, tokens: u64, now: Instant) -> u64 {
        if let Some(bucket) = &mut self.requests {
            bucket.take(1.0, now);
        }
        if let Some(bucket) = &mut self.tokens {
            bucket.take(tokens as f64, now);
        }
        let call = self.next_call;
        self.next_call += 1;
        self.unanswered.insert(call, tokens);
        call
    }
}

/// One budget (`requests` or `tokens`) from an answer's headers, when it says what is left.
fn seen(headers: &HeaderMap, budget: &str) -> Option<Seen> {
    let number = |name: String| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    let remaining = number(format!("x-ratelimit-remaining-{budget}"))?;
    Some(Seen {
        limit: number(format!("x-ratelimit-limit-{budget}")),
        remaining,
        reset: headers
            .get(format!("x-ratelimit-reset-{budget}"))
            .and_then(|v| v.to_str().ok())
            .and_then(parse_reset),
    })
}

/// A reset time as the providers write it: `1s`, `6m0s`, `20ms`, `1m30.5s`, `1h2m`, or plain
/// seconds (`0.5`).
pub fn parse_reset(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += value * seconds;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total))
}

/// A request's tokens as the providers estimate them for their limits: a token for every four
/// characters of the body, plus the completion tokens it may produce. Only the two caps are read
/// (the rest of the body is skipped, not built into values: this runs for every call).
pub fn estimated_tokens(body: &[u8]) -> u64 {
    #[derive(serde::Deserialize)]
    struct Caps {
        max_completion_tokens: Option<u64>,
        max_tokens: Option<u64>,
    }
    let completion = serde_json::from_slice::<Caps>(body)
        .ok()
        .and_then(|caps| caps.max_completion_tokens.or(caps.max_tokens))
        .unwrap_or(DEFAULT_COMPLETION_ESTIMATE);
    body.len() as u64 / 4 + completion
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn reset_times_read_as_the_providers_write_them() {
        assert_eq!(parse_reset("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_reset("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_reset("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(parse_reset("1m30.5s"), Some(Duration::from_millis(90_500)));
        assert_eq!(parse_reset("1h2m"), Some(Duration::from_secs(3720)));
        assert_eq!(parse_reset("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_reset("soon"), None);
        assert_eq!(parse_reset("5x"), None);
    }

    #[test]
    fn tokens_are_estimated_from_the_body_and_the_completion_cap() {
        let body = br#"{"model":"m","max_tokens":100,"messages":[]}"#;
        assert_eq!(estimated_tokens(body), body.len() as u64 / 4 + 100);
        let uncapped = br#"{"model":"m","messages":[]}"#;
        assert_eq!(
            estimated_tokens(uncapped),
            uncapped.len() as u64 / 4 + DEFAULT_COMPLETION_ESTIMATE
        );
    }

    #[tokio::test(start_paused = true)]
    async fn calls_in_flight_stop_at_the_limit() {
        let admission = Arc::new(Admission::new("test", 2));
        let a = admission.admit(10).await;
        let _b = admission.admit(10).await;
        assert!(
            tokio::time::timeout(Duration::from_secs(5), admission.admit(10))
                .await
                .is_err(),
            "a third call waits"
        );
        drop(a);
        let _c = admission.admit(10).await;
        let stats = admission.stats();
        assert_eq!((stats.in_flight, stats.peak_in_flight), (2, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_request_budget_holds_calls_until_it_refills() {
        let admission = Arc::new(Admission::new("test", 100));
        let first = admission.admit(10).await;
        // 60 a minute, none left: one more in a second.
        admission.observe(
            &first,
            &headers(&[
                ("x-ratelimit-limit-requests", "60"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "60s"),
            ]),
        );
        drop(first);
        let started = tokio::time::Instant::now();
        let _second = admission.admit(10).await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_millis(1100),
            "waited {waited:?}"
        );
        assert_eq!(admission.stats().held_back, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_sent_after_the_answered_one_are_taken_off_what_the_headers_say() {
        let admission = Arc::new(Admission::new("test", 100));
        let first = admission.admit(100).await;
        let _second = admission.admit(100).await;
        // The answer to the first: 250 tokens left of 1,000 a minute. The second call's 100 are
        // not in that count yet, so 150 are left: a call of 200 waits, for 50 tokens at 12.5 a
        // second (750 used, back in 60 s).
        admission.observe(
            &first,
            &headers(&[
                ("x-ratelimit-limit-tokens", "1000"),
                ("x-ratelimit-remaining-tokens", "250"),
                ("x-ratelimit-reset-tokens", "1m0s"),
            ]),
        );
        let started = tokio::time::Instant::now();
        let _third = admission.admit(200).await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(4) && waited < Duration::from_millis(4100),
            "waited {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_holds_every_call_for_its_retry_after() {
        let admission = Arc::new(Admission::new("test", 100));
        let first = admission.admit(10).await;
        admission.observe(
            &first,
            &headers(&[
                ("x-ratelimit-limit-requests", "600"),
                ("x-ratelimit-remaining-requests", "10"),
                ("x-ratelimit-reset-requests", "59s"),
            ]),
        );
        admission.refused_for(Duration::from_secs(3));
        drop(first);
        let started = tokio::time::Instant::now();
        let _next = admission.admit(10).await;
        assert!(started.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test]
    async fn answers_without_rate_headers_change_nothing() {
        let admission = Arc::new(Admission::new("test", 1));
        let call = admission.admit(10).await;
        admission.observe(&call, &HeaderMap::new());
        assert!(admission.budgets().requests.is_none());
        assert!(admission.budgets().tokens.is_none());
    }
}
