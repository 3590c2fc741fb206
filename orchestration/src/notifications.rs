//! Notifications on every change of a trip's state, through the webhook
//! (`APPROVAL_WEBHOOK_URL`): `planned`, `revised`, `approved`, `rejected`, `expired`, `booked`,
//! `failed`.
//!
//! Each change is queued in the workflow store as the trips index records it (the outbox,
//! [`crate::trip_index::Notice`]), then POSTed by a [`Notifier`]: each with an idempotency key
//! (the same on every attempt: `{instanceId}:{event}:{revision}`), signed with HMAC-SHA-256
//! under `WEBHOOK_SECRET`, and tried again with back-off (1 s doubling to 10 minutes) until the
//! receiver answers 2xx, for about three hours. Up to 20 go out at once, each trip's in the
//! order they were queued. The outbox survives restarts and is shared by every process of a
//! PostgreSQL store (a notification is leased to one of them at a time); the process that
//! queued it is woken at once, the others look every 30 seconds. Delivery is at least once: a
//! receiver that answered but whose answer was lost with a killed process gets the notification
//! again, with the same key.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use travel_agents::Money;

use crate::booking::BookingConfirmation;
use crate::database::AbortOnDrop;
use crate::links::{ApprovalLink, ApprovalLinks};
use crate::progress::{ApprovalDecision, TripState};
pub use crate::trip_index::TripEvent;
use crate::trip_index::{Attempt, Notice, TripIndex};

/// Attempts before a notification is given up (about three hours of back-off).
pub const MAX_ATTEMPTS: u32 = 25;
/// Notifications one process sends at once.
const AT_ONCE: i64 = 20;
/// How long one process may hold a notification it is delivering.
const LEASE_MS: i64 = 30_000;
/// How often a process looks for notifications it was not woken for (another process queued
/// them and stopped, or a retry came due).
const LOOK_EVERY: Duration = Duration::from_secs(30);

/// The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA-256 of "t.body">`.
pub const SIGNATURE_HEADER: &str = "x-travel-signature";
/// The header carrying the idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The wait before attempt `failed + 1`, after `failed` failed attempts.
pub fn back_off(failed: u32) -> Duration {
    let secs = 1u64 << failed.saturating_sub(1).min(20);
    Duration::from_secs(secs.min(600))
}

/// The signature header's value for `body` sent at `unix` seconds.
pub fn signature(secret: &str, unix: i64, body: &str) -> String {
    let mac =
        travel_platform::secret::hmac_sha256_hex(secret.as_bytes(), &format!("{unix}.{body}"));
    format!("t={unix},v1={mac}")
}

/// Delivers the outbox's notifications to the webhook.
#[derive(Debug, Clone)]
pub struct Notifier {
    pub index: Arc<TripIndex>,
    /// Must not follow redirects (see `travel_platform::http::client_without_redirects`).
    pub http: reqwest::Client,
    pub url: String,
    /// Signs each notification (`x-travel-signature`); unsigned without one.
    pub secret: Option<String>,
    /// How people reach the service, for the links in the notifications.
    pub public_base_url: String,
    /// Signed review links for the approvers, when `APPROVERS` is set.
    pub links: Option<ApprovalLinks>,
}

impl Notifier {
    /// Turns notifications on and delivers them until the returned handle is dropped.
    pub fn start(self) -> AbortOnDrop {
        self.index.turn_notifications_on();
        AbortOnDrop(tokio::spawn(async move { self.run().await }))
    }

    async fn run(&self) {
        let woken = self.index.notices_queued();
        loop {
            let wait = match self.deliver_due().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "notifications could not be read; trying again");
                    Duration::from_secs(5)
                }
            };
            let _ = tokio::time::timeout(wait, woken.notified()).await;
        }
    }

    /// Delivers what is due, up to [`AT_ONCE`] at a time: the trips' side by side (a slow
    /// receiver holds up no more), each trip's in the order they were queued. Answers how long
    /// until the next one is due.
    async fn deliver_due(&self) -> Result<Duration, crate::trip_index::IndexError> {
        loop {
            let due = self.index.due_notices(AT_ONCE).await?;
            if due.is_empty() {
                break;
            }
            let mut by_trip: Vec<Vec<Notice>> = Vec::new();
            for notice in due {
                match by_trip
                    .iter_mut()
                    .find(|t| t[0].instance_id == notice.instance_id)
                {
                    Some(trip) => trip.push(notice),
                    None => by_trip.push(vec![notice]),
                }
            }
            for notices in &mut by_trip {
                notices.sort_by_key(|n| (n.created_ms, n.event.rank()));
            }
            let trips = by_trip.iter().map(|notices| async move {
                for notice in notices {
                    if self.index.claim_notice(notice, LEASE_MS).await? {
                        let outcome = self.deliver(notice).await;
                        self.index.notice_attempted(notice, outcome).await?;
                    }
                }
                Ok::<_, crate::trip_index::IndexError>(())
            });
            for delivered in futures::future::join_all(trips).await {
                delivered?;
            }
        }
        let next = self.index.next_notice_ms().await?;
        let now = Utc::now().timestamp_millis();
        Ok(next.map_or(LOOK_EVERY, |at| {
            Duration::from_millis((at - now).clamp(0, LOOK_EVERY.as_millis() as i64) as u64)
        }))
    }

    /// One attempt: POSTs the notification and says what to do next.
    async fn deliver(&self, notice: &Notice) -> Attempt {
        let body =
            serde_json::to_string(&self.body(notice).await).expect("notifications serialise");
        let mut request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, notice.key())
            .header("x-travel-event", notice.event.as_str())
            .timeout(Duration::from_secs(10));
        if let Some(secret) = &self.secret {
            let unix = Utc::now().timestamp();
            request = request.header(SIGNATURE_HEADER, signature(secret, unix, &body));
        }
        let (status_code, error) = match request.body(body).send().await {
            Ok(r) if r.status().is_success() => {
                tracing::info!(key = %notice.key(), "notification delivered");
                crate::telemetry::notification_attempt(notice.event.as_str(), "delivered");
                return Attempt {
                    delivered: true,
                    next_ms: None,
                    status_code: Some(r.status().as_u16()),
                    error: None,
                };
            }
            Ok(r) if r.status().is_redirection() => (
                Some(r.status().as_u16()),
                format!(
                    "the receiver answered {} (a redirect is not followed: set APPROVAL_WEBHOOK_URL to where it points)",
                    r.status()
                ),
            ),
            Ok(r) => (
                Some(r.status().as_u16()),
                format!("the receiver answered {}", r.status()),
            ),
            Err(e) => (None, format!("the receiver could not be reached: {e}")),
        };
        let attempts = notice.attempts + 1;
        let next_ms = (attempts < MAX_ATTEMPTS)
            .then(|| Utc::now().timestamp_millis() + back_off(attempts).as_millis() as i64);
        tracing::warn!(key = %notice.key(), attempts, %error, gave_up = next_ms.is_none(), "a notification was not delivered");
        let outcome = if next_ms.is_some() {
            "retrying"
        } else {
            "given_up"
        };
        crate::telemetry::notification_attempt(notice.event.as_str(), outcome);
        Attempt {
            delivered: false,
            next_ms,
            status_code,
            error: Some(error),
        }
    }

    /// What the receiver gets: the event, the trip as it was when it happened, and the links.
    async fn body(&self, notice: &Notice) -> Notification {
        let id = &notice.instance_id;
        let base = self.public_base_url.trim_end_matches('/');
        let progress = notice.snapshot.progress.as_ref();
        let outcome = notice.snapshot.outcome.as_ref();
        let plan = outcome
            .map(|o| &o.plan)
            .or_else(|| progress.and_then(|p| p.plan.as_ref()));
        let window = progress.and_then(|p| p.approval.as_ref());
        let awaiting = matches!(notice.event, TripEvent::Planned | TripEvent::Revised);
        let approval_links = match (&self.links, window) {
            (Some(links), Some(window)) if awaiting => {
                links.for_approvers(id, notice.revision, window.expires_at)
            }
            _ => Vec::new(),
        };
        Notification {
            event: notice.event,
            instance_id: id.clone(),
            revision: notice.revision,
            occurred_at: crate::timeline::utc_from_ms(notice.created_ms.max(0) as u64),
            state: match notice.event {
                TripEvent::Failed => Some(TripState::Failed),
                _ => outcome.map(|o| o.state).or(progress.map(|p| p.state)),
            },
            traveller_name: match self.index.get(id).await {
                Ok(Some(row)) => row.traveller,
                _ => None,
            },
            destination: progress.and_then(|p| p.destination.clone()),
            total: plan.map(|p| p.total.clone()),
            over_budget: plan.map(|p| p.over_budget),
            expires_at: window.filter(|_| awaiting).map(|w| w.expires_at),
            decision: outcome
                .and_then(|o| o.decision.clone())
                .or_else(|| progress.and_then(|p| p.decision.clone())),
            booking: outcome.and_then(|o| o.booking.clone()),
            error: notice.snapshot.error.clone(),
            review_url: format!("{base}/trips/{id}"),
            status_url: format!("{base}/api/trips/{id}"),
            approve_url: format!("{base}/approve/{id}"),
            approval_links,
        }
    }
}

/// The body of a notification (`POST` to `APPROVAL_WEBHOOK_URL`). Never carries the approval
/// token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub event: TripEvent,
    pub instance_id: String,
    /// The plan revision the event concerns (0 for `failed`).
    pub revision: u32,
    pub occurred_at: Option<DateTime<Utc>>,
    pub state: Option<TripState>,
    #[serde(rename = "travelerName")]
    pub traveller_name: Option<String>,
    /// "Lisbon, Portugal".
    pub destination: Option<String>,
    pub total: Option<Money>,
    pub over_budget: Option<bool>,
    /// When the approval window closes (`planned` and `revised`).
    pub expires_at: Option<DateTime<Utc>>,
    pub decision: Option<ApprovalDecision>,
    pub booking: Option<BookingConfirmation>,
    /// Why the trip failed (`failed`).
    pub error: Option<String>,
    /// The trip's page, where its requester reviews the plan.
    pub review_url: String,
    pub status_url: String,
    pub approve_url: String,
    /// Each approver's signed review link (`planned` and `revised`, with `APPROVERS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approval_links: Vec<ApprovalLink>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_ten_minutes() {
        let waits: Vec<u64> = (1..=12).map(|n| back_off(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        let total: u64 = (1..MAX_ATTEMPTS).map(|n| back_off(n).as_secs()).sum();
        assert!((2 * 3600..4 * 3600).contains(&total), "{total} s in all");
    }

    #[test]
    fn a_signature_binds_the_time_and_the_body() {
        let signed = signature("s3cret", 1_700_000_000, "{\"a\":1}");
        assert!(signed.starts_with("t=1700000000,v1="));
        assert_ne!(signed, signature("s3cret", 1_700_000_001, "{\"a\":1}"));
        assert_ne!(signed, signature("s3cret", 1_700_000_000, "{\"a\":2}"));
        assert_ne!(signed, signature("other", 1_700_000_000, "{\"a\":1}"));
    }

    #[test]
    fn event_names_are_the_json_names() {
        for event in TripEvent::ALL {
            assert_eq!(serde_json::to_value(event).unwrap(), event.as_str());
            assert_eq!(TripEvent::parse(event.as_str()), Some(event));
        }
    }
}
