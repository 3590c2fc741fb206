//! The JSON bodies the API takes and answers (the OpenAPI document describes them from these
//! types).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use travel_agents::AgentThread;
use travel_orchestration::TripId;
use travel_orchestration::{TripPlan, TripStatus};

/// Answer to `POST /api/trips`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TripCreated {
    pub instance_id: TripId,
    pub status_url: String,
    /// Send as `Authorization: Bearer <approvalToken>` to `POST /approve/{instanceId}`. Shown once.
    pub approval_token: String,
}

/// A trip as the API shows it.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TripView {
    #[serde(flatten)]
    pub trip: TripStatus,
    /// The saved plan, once there is one.
    pub plan: Option<TripPlan>,
    /// The failed trip this one retries, and the trip that retried this one.
    #[serde(flatten)]
    pub retries: travel_orchestration::RetryLinks,
    /// What the plan cost so far: each agent's tokens and their price, per plan revision.
    pub costs: travel_orchestration::costs::TripCosts,
    /// Every answer given on the plan's revisions, the first revision's first: a decision
    /// (`approved`) or a request for changes (`changes`), each saying who gave it (`decidedBy`
    /// / `requestedBy`), how (`via`), when and on which revision.
    pub answers: Vec<travel_orchestration::ReviewAnswer>,
    pub links: TripLinks,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TripLinks {
    pub status: String,
    pub plan: String,
    pub plan_markdown: String,
    /// `POST` here (with the approval token) to approve or reject: while the plan awaits
    /// approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approve: Option<String>,
    /// `POST` here (with the approval token) to ask for a revised plan: while the plan awaits
    /// approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revisions: Option<String>,
    /// `POST` here (with the approval token) to try a failed trip again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<String>,
}

/// Body of `POST /approve/{instanceId}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    pub approved: bool,
    #[serde(default)]
    pub comments: Option<String>,
}

/// Body of `POST /api/trips/{instanceId}/revisions`: what to change in the plan awaiting
/// approval. At least one of the two.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevisionRequest {
    /// What should change, for the itinerary and local-tips agents (at most 2000 characters).
    #[serde(default)]
    #[schemars(length(max = 2000))]
    pub comments: Option<String>,
    /// Plan another of the three recommended destinations instead (0, 1 or 2, in the order of
    /// the plan's `recommendations`); absent keeps the destination.
    #[serde(default, deserialize_with = "whole_number")]
    #[schemars(range(max = 2))]
    pub destination: Option<u8>,
}

/// A whole number as JSON Schema's `integer` allows it: `1` or `1.0`.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let number: Option<f64> = Option::deserialize(d)?;
    number
        .map(|n| match n {
            n if n.fract() == 0.0 && (0.0..=255.0).contains(&n) => Ok(n as u8),
            _ => Err(serde::de::Error::custom(
                "expected a whole number from 0 to 2",
            )),
        })
        .transpose()
}

/// `?revision=n`: a plan revision (the latest when absent).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct RevisionQuery {
    #[schemars(range(min = 1))]
    pub revision: Option<u32>,
}

/// An agent's conversation, with its token usage.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentThreadView {
    pub instance_id: TripId,
    #[serde(flatten)]
    pub thread: AgentThread,
}

#[derive(Serialize, JsonSchema)]
pub struct Health {
    pub status: &'static str,
}
