//! What the workflow takes, passes to its activities and gets back from them. Each of these is
//! recorded in trips' histories, which live for days: change a field only in a way old records
//! still read (a new field has a `#[serde(default)]`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::progress::{ApprovalWindow, SavedPlan};
use crate::request::TripRequest;
use crate::store::PlanLocation;

/// The workflow's input: fixed when the trip starts, so every replay sees the same values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TripInput {
    pub request: TripRequest,
    /// SHA-256 (hex) of the approval token handed to the requester; the token itself is never stored.
    pub approval_token_sha256: String,
    pub approval_timeout_secs: u64,
    pub retries: RetrySettings,
    /// The workflow revision the trip runs ([`WORKFLOW_REVISION`] when it started; 1 for trips
    /// started before revisions were recorded).
    #[serde(default = "first_revision")]
    pub workflow_revision: u32,
    /// Whether the approval request is announced (a webhook is configured). Revision 2 skips the
    /// announcement step otherwise.
    #[serde(default = "announce_by_default")]
    pub announce_approval: bool,
    /// A trip started again after another failed: the answers that one had already got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused: Option<Reused>,
    /// How many times the reviewer may ask for a revised plan (revision 4 on; 0 for trips
    /// started before revisions could be asked for).
    #[serde(default)]
    pub max_revisions: u32,
}

/// What a trip started again after a failure takes from the failed one (`retry_of`): the
/// results of the steps it had finished, by activity name, exactly as recorded. The workflow
/// uses them instead of running those steps (no agent is asked, and no token spent, twice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reused {
    pub retry_of: String,
    pub results: std::collections::BTreeMap<String, serde_json::Value>,
}

fn first_revision() -> u32 {
    1
}

fn announce_by_default() -> bool {
    true
}

/// What `RequestApproval` answers: whether the webhook took the announcement, and when not,
/// its answer's status or the error reaching it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovalAnnounced {
    pub notified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `SaveNewPlan` answers: where the plan is, and when it was first saved (its stamp).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSaved {
    pub location: PlanLocation,
    pub saved_at: DateTime<Utc>,
}

/// How patiently each kind of activity is retried after a transient failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrySettings {
    pub agents: Retry,
    pub storage: Retry,
    pub booking: Retry,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            agents: Retry::AGENT_CALLS,
            // Storage outages are waited out: about 25 minutes in all.
            storage: Retry {
                max_attempts: 60,
                first_delay_ms: 1_000,
                max_delay_ms: 30_000,
                budget_ms: None,
            },
            booking: Retry {
                max_attempts: 10,
                first_delay_ms: 2_000,
                max_delay_ms: 60_000,
                budget_ms: None,
            },
        }
    }
}

/// Exponential back-off without jitter (it must replay identically).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    pub max_attempts: u32,
    pub first_delay_ms: u64,
    pub max_delay_ms: u64,
    /// The most time the tries and the waits between them may take in all (agent calls, from
    /// this release on): no try is made that would start past it. Trips started before have
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_ms: Option<u64>,
}

impl Retry {
    /// An agent call (the one retry policy of model calls: the client makes one request a try):
    /// 4 tries, 1 s doubling to 30 s between them, 5 minutes in all.
    pub const AGENT_CALLS: Retry = Retry {
        max_attempts: 4,
        first_delay_ms: 1_000,
        max_delay_ms: 30_000,
        budget_ms: Some(300_000),
    };

    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .first_delay_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        Duration::from_millis(exp.min(self.max_delay_ms))
    }
}

/// How an activity failed: the orchestration retries only transient failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityFailure {
    pub transient: bool,
    pub message: String,
    /// How long the other side asked to be left alone (a 429's `Retry-After`): the workflow
    /// waits that long, durably, before the next try.
    #[serde(
        default,
        rename = "retryAfterSecs",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after_secs: Option<u64>,
    /// How long the failed try took (agent calls), counted against its retry's budget.
    #[serde(default, rename = "elapsedMs", skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
}

impl ActivityFailure {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            transient: true,
            message: message.into(),
            retry_after_secs: None,
            elapsed_ms: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            transient: false,
            message: message.into(),
            retry_after_secs: None,
            elapsed_ms: None,
        }
    }

    /// The error string an activity returns.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("failures serialise")
    }

    /// Reads an activity's error string (anything unexpected, such as a panic, counts as transient).
    pub fn decode(raw: &str) -> Self {
        serde_json::from_str(raw).unwrap_or_else(|_| Self::transient(raw))
    }
}

/// What the approval activity records and announces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    pub instance_id: String,
    /// Spelled `travelerName` in JSON (the API's and recorded histories' name).
    #[serde(rename = "travelerName")]
    pub traveller_name: String,
    pub destination: String,
    pub plan: SavedPlan,
    pub window: ApprovalWindow,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let agents = RetrySettings::default().agents;
        let delays: Vec<u64> = (1..=6)
            .map(|a| agents.delay(a).as_millis() as u64)
            .collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000]);
        // No overflow however long it goes on.
        assert_eq!(agents.delay(u32::MAX).as_millis(), 30_000);
    }

    #[test]
    fn inputs_recorded_before_revisions_read_as_revision_one() {
        let mut input = serde_json::to_value(TripInput {
            request: serde_json::from_value(serde_json::json!({
                "travelerName": "Ada",
                "preferences": "sea",
                "durationDays": 2,
                "budget": {"amount": 100, "currency": "EUR"}
            }))
            .unwrap(),
            approval_token_sha256: "00".into(),
            approval_timeout_secs: 60,
            retries: RetrySettings::default(),
            workflow_revision: 2,
            reused: None,
            announce_approval: false,
            max_revisions: 3,
        })
        .unwrap();
        let object = input.as_object_mut().unwrap();
        object.remove("workflowRevision");
        object.remove("announceApproval");
        object.remove("maxRevisions");
        let old: TripInput = serde_json::from_value(input).unwrap();
        assert_eq!((old.workflow_revision, old.announce_approval), (1, true));
        assert_eq!(
            old.max_revisions, 0,
            "no revisions for trips that could not have them"
        );
    }

    #[test]
    fn activity_failures_travel_as_text_and_anything_else_is_transient() {
        let permanent = ActivityFailure::permanent("no rate for KPW");
        assert_eq!(ActivityFailure::decode(&permanent.encode()), permanent);
        let panic = ActivityFailure::decode("activity panicked");
        assert!(panic.transient);
        assert_eq!(panic.message, "activity panicked");
    }
}
