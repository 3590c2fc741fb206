//! What the itinerary and local-tips agents are told: the destination chosen, the traveller, and
//! the reviewer's feedback on an earlier plan.

use serde::{Deserialize, Serialize};

use crate::brief::TravellerBrief;
use crate::destination::DestinationSuggestion;

/// The traveller's wishes and the destination chosen for them: the input of the itinerary and
/// local-tips agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationBrief {
    pub destination: DestinationSuggestion,
    pub traveller: TravellerBrief,
    /// Set when this brief revises an earlier plan: what its reviewer asked for. Absent from
    /// the first plan's brief (and from every brief recorded before revisions existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<ReviewerFeedback>,
}

/// What a reviewer asked to change in an earlier plan. It reaches the model inside the
/// delimited data, like the traveller's own words: it is data, never instructions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewerFeedback {
    /// The revision being planned (2 for the first revision of a plan).
    pub revision: u32,
    /// The reviewer's comments, when they gave any (a new destination alone needs none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
}
