//! The itinerary agent: a day-by-day plan for one destination, with the currency tools.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::agent::{Agent, Role};
use crate::currency::ExchangeRate;
use crate::destination_brief::DestinationBrief;
use crate::money::Cost;
use crate::roster::AgentName;

/// The day-by-day plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Itinerary {
    /// The destination the plan is for.
    pub destination: String,
    /// One entry per day of the trip, in order.
    pub days: Vec<ItineraryDay>,
    /// Every rate the currency tools reported while planning (filled in by code, not the model).
    #[schemars(skip)]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchange_rates: Vec<ExchangeRate>,
}

/// One day of the trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItineraryDay {
    /// 1 for the first day.
    #[schemars(range(min = 1))]
    pub day: u32,
    /// The calendar date (YYYY-MM-DD) when the start date is known, otherwise null.
    pub date: Option<NaiveDate>,
    /// A short theme for the day.
    pub theme: String,
    /// Two to five activities, in time order.
    #[schemars(length(min = 2, max = 5))]
    pub activities: Vec<Activity>,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub time_slot: TimeSlot,
    pub name: String,
    pub description: String,
    /// Where it happens (neighbourhood, address or landmark).
    pub location: String,
    /// Per person.
    pub estimated_cost: Cost,
}

/// When in the day an activity happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeSlot {
    Morning,
    Midday,
    Afternoon,
    Evening,
    Night,
}

impl TimeSlot {
    /// The name in JSON: `morning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Morning => "morning",
            Self::Midday => "midday",
            Self::Afternoon => "afternoon",
            Self::Evening => "evening",
            Self::Night => "night",
        }
    }
}

impl Itinerary {
    /// Every problem for a trip of `days` days.
    pub fn problems(&self, days: u32) -> Vec<String> {
        let mut problems = Vec::new();
        if self.days.len() != days as usize {
            problems.push(format!(
                "expected one entry per day for {days} days, got {} entries",
                self.days.len()
            ));
        }
        for (i, day) in self.days.iter().enumerate() {
            let expected = i as u32 + 1;
            if day.day != expected {
                problems.push(format!(
                    "entry {expected} is numbered day {} instead of {expected}",
                    day.day
                ));
            }
            if !(2..=5).contains(&day.activities.len()) {
                problems.push(format!(
                    "day {}: {} activities, expected 2 to 5",
                    day.day,
                    day.activities.len()
                ));
            }
            for activity in &day.activities {
                if activity.name.trim().is_empty() {
                    problems.push(format!("day {}: an activity has no name", day.day));
                }
                if let Some(problem) = activity.estimated_cost.problem() {
                    problems.push(format!("day {}, {}: {problem}", day.day, activity.name));
                }
            }
        }
        problems
    }

    /// Sets each day's date from the start date (or clears them when it is unknown): dates are
    /// arithmetic, not the model's business.
    fn set_dates(&mut self, date_of_day: impl Fn(u32) -> Option<NaiveDate>) {
        for day in &mut self.days {
            day.date = date_of_day(day.day);
        }
    }
}

const INSTRUCTIONS: &str = "You are an itinerary planner. Plan the trip to the given destination day by day: \
exactly one entry per day of the trip (day 1 first), each with a theme and two to five activities in time \
order, each with its time slot, name, description, location and estimated cost per person in the local \
currency (or free). Respect the budget, the preferences and the special requirements. Use get_exchange_rate \
and convert_currency to check costs against the traveller's budget currency before you answer; never invent \
exchange rates. Give dates (YYYY-MM-DD) only when the start date is known, otherwise null.";

/// Plans the days at the destination, checking costs with the currency tools.
#[derive(Debug)]
pub struct ItineraryPlanner;

/// The itinerary agent.
pub type ItineraryAgent = Agent<ItineraryPlanner>;

impl Role for ItineraryPlanner {
    type Input = DestinationBrief;
    type Output = Itinerary;
    /// The rate each currency tool call used.
    type Finding = ExchangeRate;
    const NAME: AgentName = AgentName::Itinerary;
    const INSTRUCTIONS: &'static str = INSTRUCTIONS;

    fn input_problems(brief: &DestinationBrief) -> Vec<String> {
        brief.traveller.problems()
    }

    fn problems(brief: &DestinationBrief, itinerary: &Itinerary) -> Vec<String> {
        itinerary.problems(brief.traveller.duration_days)
    }

    /// Exactly one entry per day of this trip, numbered 1 to its length.
    fn schema(brief: &DestinationBrief) -> serde_json::Value {
        let days = brief.traveller.duration_days;
        let mut schema = crate::strict_schema::strict_schema_for::<Itinerary>();
        let list = &mut schema["properties"]["days"];
        list["minItems"] = days.into();
        list["maxItems"] = days.into();
        list["items"]["properties"]["day"]["maximum"] = days.into();
        schema
    }

    /// Costs at a destination whose currency is not the budget's can only be checked with a
    /// rate: the instructions say never to invent one.
    fn needs_tools(brief: &DestinationBrief) -> bool {
        brief.destination.currency != brief.traveller.budget.currency
    }

    /// About 500 tokens a day (up to five activities with their costs), and room to start.
    fn output_cap(brief: &DestinationBrief) -> u32 {
        600 + 500 * brief.traveller.duration_days
    }

    /// Dates are arithmetic from the start date, and the rates are those the tools gave.
    fn complete(
        brief: &DestinationBrief,
        mut itinerary: Itinerary,
        rates: Vec<ExchangeRate>,
    ) -> Itinerary {
        itinerary.set_dates(|n| brief.traveller.date_of_day(n));
        itinerary.exchange_rates = rates;
        itinerary
    }
}
