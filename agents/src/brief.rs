//! What the agents are told about the traveller.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::money::Money;

/// The longest trip the agents plan.
pub const MAX_DURATION_DAYS: u32 = 21;

/// The traveller's wishes, as every agent receives them. Their name is not part of it: the
/// agents do not need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TravellerBrief {
    /// Free text from the traveller.
    pub preferences: String,
    pub duration_days: u32,
    pub budget: Money,
    /// The first day of the trip, when known.
    pub start_date: Option<NaiveDate>,
    /// Free-text dates ("early May"), when no start date is given.
    pub travel_dates: Option<String>,
    pub special_requirements: Option<String>,
}

impl TravellerBrief {
    /// Every problem with the brief, for an `InvalidInput` error.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.preferences.trim().is_empty() {
            problems.push("preferences are empty".to_owned());
        }
        if !(1..=MAX_DURATION_DAYS).contains(&self.duration_days) {
            problems.push(format!(
                "duration must be 1 to {MAX_DURATION_DAYS} days, not {}",
                self.duration_days
            ));
        }
        if self.budget.amount <= crate::Amount::ZERO {
            problems.push("the budget must be a positive amount".to_owned());
        }
        problems
    }

    /// The date of day `n` (1-based) of the trip, when the start date is known.
    pub fn date_of_day(&self, n: u32) -> Option<NaiveDate> {
        self.start_date.and_then(|start| {
            start.checked_add_days(chrono::Days::new(u64::from(n.saturating_sub(1))))
        })
    }
}
