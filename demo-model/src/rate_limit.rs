//! A rate limit like OpenAI's and Azure OpenAI's, for testing how the service keeps within one:
//! requests and tokens a minute, each a budget that refills steadily up to its limit. Every
//! answer carries the budgets in OpenAI's headers (`x-ratelimit-limit-requests`,
//! `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests`, and the same for tokens); a
//! request that finds a budget short is refused with 429 and `Retry-After`. A request's tokens
//! are counted as OpenAI counts them for its limits (see
//! [`travel_agents::llm::admission::estimated_tokens`]).

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

/// The limits, per minute; either may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
}

impl RateLimit {
    pub fn is_set(&self) -> bool {
        self.requests_per_minute.is_some() || self.tokens_per_minute.is_some()
    }
}

/// The budgets as they stand.
#[derive(Debug)]
pub struct Budgets {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    limit: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn full(per_minute: u64, now: Instant) -> Self {
        Self {
            limit: per_minute as f64,
            level: per_minute as f64,
            at: now,
        }
    }

    fn per_second(&self) -> f64 {
        self.limit / 60.0
    }

    fn level_at(&self, now: Instant) -> f64 {
        let refilled = self.per_second() * now.saturating_duration_since(self.at).as_secs_f64();
        (self.level + refilled).min(self.limit)
    }

    /// How long until `need` is there.
    fn short_for(&self, need: f64, now: Instant) -> Option<Duration> {
        let short = need.min(self.limit) - self.level_at(now);
        (short > 0.0).then(|| Duration::from_secs_f64(short / self.per_second()))
    }

    fn take(&mut self, amount: f64, now: Instant) {
        self.level = self.level_at(now) - amount;
        self.at = now;
    }

    /// Until the budget is full again.
    fn reset(&self, now: Instant) -> Duration {
        let missing = (self.limit - self.level_at(now)).max(0.0);
        Duration::from_secs_f64(missing / self.per_second())
    }
}

/// What a request came to.
pub enum Verdict {
    /// Answer it, with these headers.
    Allowed(HeaderMap),
    /// Refuse it with 429: retry after this long, these headers.
    Refused(Duration, HeaderMap),
}

impl Budgets {
    pub fn new(limit: RateLimit) -> Self {
        let now = Instant::now();
        Self {
            requests: limit.requests_per_minute.map(|n| Bucket::full(n, now)),
            tokens: limit.tokens_per_minute.map(|n| Bucket::full(n, now)),
        }
    }

    /// Takes a request of `tokens` from the budgets, or refuses it.
    pub fn take(&mut self, tokens: u64) -> Verdict {
        let now = Instant::now();
        let short = [
            self.requests.and_then(|b| b.short_for(1.0, now)),
            self.tokens.and_then(|b| b.short_for(tokens as f64, now)),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = short {
            return Verdict::Refused(wait, self.headers(now));
        }
        if let Some(bucket) = &mut self.requests {
            bucket.take(1.0, now);
        }
        if let Some(bucket) = &mut self.tokens {
            bucket.take(tokens as f64, now);
        }
        Verdict::Allowed(self.headers(now))
    }

    fn headers(&self, now: Instant) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (kind, bucket) in [("requests", self.requests), ("tokens", self.tokens)] {
            let Some(bucket) = bucket else { continue };
            for (name, value) in [
                ("limit", format!("{}", bucket.limit as u64)),
                (
                    "remaining",
                    format!("{}", bucket.level_at(now).max(0.0).floor() as u64),
                ),
                ("reset", go_duration(bucket.reset(now))),
            ] {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(format!("x-ratelimit-{name}-{kind}")),
                    HeaderValue::try_from(value),
                ) {
                    headers.insert(name, value);
                }
            }
        }
        headers
    }
}

/// A duration as OpenAI writes its reset times: `20ms`, `1.5s`, `6m0s`.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (minutes, seconds) = (ms / 60_000, (ms % 60_000) as f64 / 1000.0);
    if minutes == 0 {
        format!("{seconds}s")
    } else {
        format!("{minutes}m{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use travel_agents::llm::admission::parse_reset;

    #[test]
    fn a_budget_refuses_what_it_does_not_have_and_says_when_to_come_back() {
        let mut budgets = Budgets::new(RateLimit {
            requests_per_minute: Some(2),
            tokens_per_minute: Some(1000),
        });
        let Verdict::Allowed(headers) = budgets.take(100) else {
            panic!("the first request fits")
        };
        assert_eq!(headers["x-ratelimit-remaining-requests"], "1");
        assert_eq!(headers["x-ratelimit-remaining-tokens"], "900");
        assert_eq!(headers["x-ratelimit-limit-tokens"], "1000");
        let reset = parse_reset(headers["x-ratelimit-reset-tokens"].to_str().unwrap()).unwrap();
        assert!(
            (5900..=6000).contains(&(reset.as_millis() as u64)),
            "{reset:?}"
        );
        assert!(matches!(budgets.take(100), Verdict::Allowed(_)));
        let Verdict::Refused(wait, headers) = budgets.take(100) else {
            panic!("no request left")
        };
        assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
        assert!(wait > Duration::from_secs(29) && wait <= Duration::from_secs(30));
    }

    #[test]
    fn reset_times_read_back() {
        for ms in [20, 999, 1500, 61_500, 360_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_reset(&go_duration(d)), Some(d), "{}", go_duration(d));
        }
    }
}
