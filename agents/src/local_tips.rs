//! The local-tips agent: attractions, restaurants and insider tips for one destination.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::agent::{Agent, Role};
use crate::destination_brief::DestinationBrief;
use crate::money::Cost;
use crate::roster::AgentName;

/// What a local would tell the traveller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalTips {
    /// Three to ten attractions.
    #[schemars(length(min = 3, max = 10))]
    pub attractions: Vec<Attraction>,
    /// Two to eight restaurants.
    #[schemars(length(min = 2, max = 8))]
    pub restaurants: Vec<Restaurant>,
    /// Three to ten practical tips a visitor would not easily find.
    #[schemars(length(min = 3, max = 10))]
    pub insider_tips: Vec<String>,
}

/// The ratings a model may give: half steps from 0 to 5. An `enum`, because servers that
/// constrain their output with a grammar enforce one and ignore `minimum`/`maximum` on numbers.
/// (Records with other ratings still read.)
pub const RATINGS: [f64; 11] = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0];

fn rating_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "number", "enum": RATINGS})
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attraction {
    pub name: String,
    pub category: AttractionCategory,
    pub description: String,
    pub location: String,
    /// A typical visit, in minutes.
    #[schemars(range(min = 1))]
    pub visit_duration_minutes: u32,
    /// Entry per person.
    pub cost: Cost,
    /// 0 to 5, in half steps.
    #[schemars(schema_with = "rating_schema")]
    pub rating: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttractionCategory {
    History,
    Museum,
    Nature,
    Religious,
    Landmark,
    Market,
    Park,
    Beach,
    Viewpoint,
    Neighbourhood,
    Entertainment,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Restaurant {
    pub name: String,
    pub cuisine: String,
    pub price_range: PriceRange,
    /// 0 to 5, in half steps.
    #[schemars(schema_with = "rating_schema")]
    pub rating: f64,
    pub location: String,
    /// The dish to order.
    pub signature_dish: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceRange {
    Budget,
    Moderate,
    Upscale,
    FineDining,
}

impl LocalTips {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let count = |what: &str, n: usize, min: usize, max: usize, problems: &mut Vec<String>| {
            if !(min..=max).contains(&n) {
                problems.push(format!("{n} {what}, expected {min} to {max}"));
            }
        };
        count("attractions", self.attractions.len(), 3, 10, &mut problems);
        count("restaurants", self.restaurants.len(), 2, 8, &mut problems);
        count(
            "insider tips",
            self.insider_tips.len(),
            3,
            10,
            &mut problems,
        );
        let rating_ok = |r: f64| RATINGS.contains(&r);
        for a in &self.attractions {
            if !rating_ok(a.rating) {
                problems.push(format!(
                    "attraction {}: rating {} is not one of 0, 0.5, 1, ... 5",
                    a.name, a.rating
                ));
            }
            if a.visit_duration_minutes == 0 {
                problems.push(format!("attraction {}: the visit takes no time", a.name));
            }
            if let Some(problem) = a.cost.problem() {
                problems.push(format!("attraction {}: {problem}", a.name));
            }
        }
        for r in &self.restaurants {
            if !rating_ok(r.rating) {
                problems.push(format!(
                    "restaurant {}: rating {} is not one of 0, 0.5, 1, ... 5",
                    r.name, r.rating
                ));
            }
        }
        if self.insider_tips.iter().any(|t| t.trim().is_empty()) {
            problems.push("an insider tip is empty".to_owned());
        }
        problems
    }
}

const INSTRUCTIONS: &str = "You are a local guide. For the given destination list the attractions worth the \
traveller's time (category, description, location, typical visit duration in minutes, entry cost per person \
in the local currency or free, rating 0-5), restaurants (cuisine, price range, rating 0-5, location, the dish \
to order) and practical insider tips. Respect the preferences and special requirements (diet, mobility).";

/// Knows the place: attractions, restaurants and insider tips for the destination.
#[derive(Debug)]
pub struct LocalGuide;

/// The local-tips agent.
pub type LocalTipsAgent = Agent<LocalGuide>;

impl Role for LocalGuide {
    type Input = DestinationBrief;
    type Output = LocalTips;
    type Finding = ();
    const NAME: AgentName = AgentName::LocalTips;
    const INSTRUCTIONS: &'static str = INSTRUCTIONS;

    fn problems(_: &DestinationBrief, tips: &LocalTips) -> Vec<String> {
        tips.problems()
    }

    /// Up to ten attractions, eight restaurants and ten tips.
    fn output_cap(_: &DestinationBrief) -> u32 {
        3_000
    }
}
