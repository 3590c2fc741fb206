//! What the workflow tells the world while it runs (its custom status) and when it ends (its
//! output).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use travel_agents::Money;

use crate::booking::BookingConfirmation;
use crate::store::PlanLocation;

/// Where a trip stands, as travellers and operators see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TripState {
    Planning,
    AwaitingApproval,
    Booking,
    Booked,
    Rejected,
    Expired,
    Failed,
}

impl TripState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planning => "planning",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Booking => "booking",
            Self::Booked => "booked",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Booked | Self::Rejected | Self::Expired | Self::Failed
        )
    }
}

impl std::fmt::Display for TripState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The workflow's steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TripStep {
    Destinations,
    ItineraryAndTips,
    Saving,
    AwaitingApproval,
    Booking,
    Done,
}

/// The human decision on a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalDecision {
    pub approved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
}

/// The approval window of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalWindow {
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A saved plan revision, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    pub revision: u32,
    pub location: PlanLocation,
    pub total: Money,
    pub over_budget: bool,
}

/// The workflow's custom status, updated at every stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TripProgress {
    pub state: TripState,
    pub step: TripStep,
    pub message: String,
    /// 0 to 100.
    pub percent: u8,
    /// "Lisbon, Portugal" once chosen.
    pub destination: Option<String>,
    pub plan: Option<SavedPlan>,
    pub approval: Option<ApprovalWindow>,
    pub decision: Option<ApprovalDecision>,
}

impl TripProgress {
    pub fn starting() -> Self {
        Self {
            state: TripState::Planning,
            step: TripStep::Destinations,
            message: "Finding destinations that match the request".into(),
            percent: 5,
            destination: None,
            plan: None,
            approval: None,
            decision: None,
        }
    }

    pub fn at(
        &mut self,
        state: TripState,
        step: TripStep,
        percent: u8,
        message: impl Into<String>,
    ) {
        self.state = state;
        self.step = step;
        self.percent = percent;
        self.message = message.into();
    }
}

/// How a trip ended (the workflow's output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TripOutcome {
    /// `booked`, `rejected` or `expired`.
    pub state: TripState,
    pub plan: SavedPlan,
    pub decision: Option<ApprovalDecision>,
    pub booking: Option<BookingConfirmation>,
}
