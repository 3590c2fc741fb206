//! What the workflow tells the world while it runs (its custom status) and when it ends (its
//! output).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use travel_agents::Money;

use crate::booking::BookingConfirmation;

/// Where a saved plan can be found (as the plan store answered when it saved it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanLocation {
    /// The JSON document.
    pub json: String,
    /// The readable Markdown document.
    pub markdown: String,
}

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

    /// Every state, in the order a trip may go through them.
    pub const ALL: [TripState; 7] = [
        Self::Planning,
        Self::AwaitingApproval,
        Self::Booking,
        Self::Booked,
        Self::Rejected,
        Self::Expired,
        Self::Failed,
    ];

    /// The state named `text` (as in JSON: `awaiting_approval`).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
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

impl TripStep {
    pub const ALL: [TripStep; 6] = [
        Self::Destinations,
        Self::ItineraryAndTips,
        Self::Saving,
        Self::AwaitingApproval,
        Self::Booking,
        Self::Done,
    ];

    /// The name in JSON: `itinerary_and_tips`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Destinations => "destinations",
            Self::ItineraryAndTips => "itinerary_and_tips",
            Self::Saving => "saving",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Booking => "booking",
            Self::Done => "done",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// How far along a trip is once it enters this step.
    pub fn percent(self) -> u8 {
        match self {
            Self::Destinations => 5,
            Self::ItineraryAndTips => 35,
            Self::Saving => 75,
            Self::AwaitingApproval => 85,
            Self::Booking => 90,
            Self::Done => 100,
        }
    }

    /// The trip's state during this step (`None` for [`TripStep::Done`]: how it ended).
    pub fn state(self) -> Option<TripState> {
        match self {
            Self::Destinations | Self::ItineraryAndTips | Self::Saving => Some(TripState::Planning),
            Self::AwaitingApproval => Some(TripState::AwaitingApproval),
            Self::Booking => Some(TripState::Booking),
            Self::Done => None,
        }
    }
}

/// The human decision on a plan, and who made it, how, when and on which revision (the audit
/// trail; absent from decisions recorded before it was kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalDecision {
    pub approved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
    /// The plan revision decided on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// Who decided: `requester`, `operator`, or an approver's name from `APPROVERS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<DecidedVia>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
}

impl ApprovalDecision {
    /// A decision with no audit details yet (they are added as it is recorded).
    pub fn new(approved: bool, comments: Option<String>) -> Self {
        Self {
            approved,
            comments,
            revision: None,
            decided_by: None,
            via: None,
            decided_at: None,
        }
    }
}

/// How a decision or a change request reached the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecidedVia {
    /// The requester's approval token (the API, or the trip's page).
    Token,
    /// An approver's signed link.
    Link,
    /// An operator, from the dashboard.
    Operator,
}

/// A reviewer's request for a revised plan: comments for the itinerary and tips agents, and
/// optionally another of the three recommended destinations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeRequest {
    /// What should change, in the reviewer's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
    /// The recommendation (0, 1 or 2, in the order the destination agent gave them) to plan
    /// instead; absent keeps the destination of the plan under review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<u8>,
    /// The plan revision this asks to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<DecidedVia>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<DateTime<Utc>>,
}

/// What a reviewer answered on a plan awaiting approval: the data of the approval event.
/// Serialised as the decision itself, or as `{"changes": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ReviewAnswer {
    /// A revised plan is asked for (workflow revision 4 on).
    Changes {
        changes: ChangeRequest,
    },
    Decision(ApprovalDecision),
}

impl ReviewAnswer {
    /// The plan revision the answer is about, when it says.
    pub fn revision(&self) -> Option<u32> {
        match self {
            Self::Changes { changes } => changes.revision,
            Self::Decision(decision) => decision.revision,
        }
    }
}

/// One saved revision of a trip's plan, in brief, and what was asked for to get it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanRevision {
    pub revision: u32,
    /// "Lisbon, Portugal".
    pub destination: String,
    pub days: u32,
    pub total: Money,
    pub over_budget: bool,
    /// What the reviewer asked for (absent for the first plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<ChangeRequest>,
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
    /// While a step is tried again after a failure: what failed and which attempt comes next
    /// ("Storage is unavailable; trying again (attempt 3 of 60)"). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrying: Option<String>,
    /// Every plan revision saved so far, the first one first (workflow revision 4 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<PlanRevision>,
}

impl TripProgress {
    pub fn starting() -> Self {
        Self {
            state: TripState::Planning,
            step: TripStep::Destinations,
            message: "Finding destinations that match the request".into(),
            percent: TripStep::Destinations.percent(),
            destination: None,
            plan: None,
            approval: None,
            decision: None,
            retrying: None,
            revisions: Vec::new(),
        }
    }

    /// The trip enters `step`, which is not the last: its state and percentage follow.
    pub fn enter(&mut self, step: TripStep, message: impl Into<String>) {
        self.state = step.state().unwrap_or(self.state);
        self.step = step;
        self.percent = step.percent();
        self.message = message.into();
    }

    /// The trip ends in `state`.
    pub fn finish(&mut self, state: TripState, message: impl Into<String>) {
        self.enter(TripStep::Done, message);
        self.state = state;
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

impl TripOutcome {
    /// A trip that ended without booking (rejected or expired).
    pub fn unbooked(state: TripState, plan: SavedPlan, decision: Option<ApprovalDecision>) -> Self {
        Self {
            state,
            plan,
            decision,
            booking: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_owns_its_state_and_percentage() {
        let mut progress = TripProgress::starting();
        assert_eq!((progress.state, progress.percent), (TripState::Planning, 5));
        let mut last = progress.percent;
        for (step, state) in [
            (TripStep::ItineraryAndTips, TripState::Planning),
            (TripStep::Saving, TripState::Planning),
            (TripStep::AwaitingApproval, TripState::AwaitingApproval),
            (TripStep::Booking, TripState::Booking),
        ] {
            progress.enter(step, "next");
            assert_eq!((progress.step, progress.state), (step, state));
            assert!(progress.percent > last, "{step:?} moves the trip forward");
            last = progress.percent;
        }
        progress.finish(TripState::Booked, "done");
        assert_eq!(
            (progress.step, progress.state, progress.percent),
            (TripStep::Done, TripState::Booked, 100)
        );
        assert!(progress.state.is_final());
    }

    #[test]
    fn names_are_the_json_names() {
        for state in TripState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
            assert_eq!(TripState::parse(state.as_str()), Some(state));
        }
        for step in TripStep::ALL {
            assert_eq!(serde_json::to_value(step).unwrap(), step.as_str());
            assert_eq!(TripStep::parse(step.as_str()), Some(step));
        }
    }
}
