//! The destination agent: three ranked destinations for the traveller's wishes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::agent::{Agent, Role};
use crate::brief::TravellerBrief;
use crate::money::CurrencyCode;
use crate::roster::AgentName;

/// Exactly three destinations, best match first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRecommendations {
    /// Exactly three destinations, ranked best match first.
    #[schemars(length(min = 3, max = 3))]
    pub destinations: Vec<DestinationSuggestion>,
}

/// One recommended destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationSuggestion {
    /// City or region.
    pub name: String,
    pub country: String,
    /// The local currency.
    pub currency: CurrencyCode,
    /// What the place is like, for the traveller.
    pub description: String,
    /// Why it fits this traveller's wishes.
    pub reasoning: String,
    /// How well it matches, 0 to 100.
    #[schemars(range(min = 0, max = 100))]
    pub match_score: u32,
}

impl DestinationRecommendations {
    /// The best match: the highest score, the earlier one on a tie.
    pub fn top(&self) -> Option<&DestinationSuggestion> {
        self.destinations.iter().rev().max_by_key(|d| d.match_score)
    }

    /// Every problem a usable answer must not have.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.destinations.len() != 3 {
            problems.push(format!(
                "expected exactly 3 destinations, got {}",
                self.destinations.len()
            ));
        }
        for (i, d) in self.destinations.iter().enumerate() {
            let n = i + 1;
            if d.match_score > 100 {
                problems.push(format!(
                    "destination {n}: matchScore {} is above 100",
                    d.match_score
                ));
            }
            for (field, value) in [
                ("name", &d.name),
                ("country", &d.country),
                ("description", &d.description),
                ("reasoning", &d.reasoning),
            ] {
                if value.trim().is_empty() {
                    problems.push(format!("destination {n}: {field} is empty"));
                }
            }
        }
        let mut names: Vec<String> = self
            .destinations
            .iter()
            .map(|d| d.name.trim().to_lowercase())
            .collect();
        names.sort();
        names.dedup();
        if names.len() != self.destinations.len() {
            problems.push("the destinations must be distinct".to_owned());
        }
        problems
    }
}

const INSTRUCTIONS: &str = "You are a travel destination expert. Recommend exactly three real destinations \
(a city or region) that best fit the traveller's preferences, trip length, budget, dates and special \
requirements. For each give the country, the ISO 4217 code of the local currency, a short description, \
the reasoning that ties it to the traveller's wishes, and a match score from 0 to 100. Rank them best first.";

/// Recommends destinations: three, ranked, for the traveller's wishes.
#[derive(Debug)]
pub struct DestinationExpert;

/// The destination agent.
pub type DestinationAgent = Agent<DestinationExpert>;

impl Role for DestinationExpert {
    type Input = TravellerBrief;
    type Output = DestinationRecommendations;
    type Finding = ();
    const NAME: AgentName = AgentName::Destination;
    const INSTRUCTIONS: &'static str = INSTRUCTIONS;

    fn input_problems(brief: &TravellerBrief) -> Vec<String> {
        brief.problems()
    }

    fn problems(_: &TravellerBrief, recommendations: &DestinationRecommendations) -> Vec<String> {
        recommendations.problems()
    }

    /// Three destinations of a few hundred tokens each.
    fn output_cap(_: &TravellerBrief) -> u32 {
        1_500
    }
}
