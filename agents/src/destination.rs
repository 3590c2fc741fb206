//! The destination agent: three ranked destinations for the traveller's wishes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::AgentReply;
use crate::brief::TravellerBrief;
use crate::error::AgentError;
use crate::llm::LlmClient;
use crate::money::CurrencyCode;
use crate::roster::AgentName;
use crate::runner::{Task, converse};
use crate::tools::Toolbox;

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

/// Recommends destinations.
#[derive(Debug, Clone)]
pub struct DestinationAgent {
    llm: LlmClient,
}

impl DestinationAgent {
    pub const SCHEMA_NAME: &'static str = "destination_recommendations";

    pub fn new(llm: LlmClient) -> Self {
        Self { llm }
    }

    pub async fn run(
        &self,
        brief: &TravellerBrief,
    ) -> Result<AgentReply<DestinationRecommendations>, AgentError> {
        let agent = AgentName::Destination;
        let problems = brief.problems();
        if !problems.is_empty() {
            return Err(AgentError::InvalidInput {
                agent,
                problem: problems.join("; "),
            });
        }
        let data = serde_json::to_value(brief).expect("briefs serialise");
        let validate = |r: &DestinationRecommendations| as_result(r.problems());
        let finished = converse(
            &self.llm,
            Task {
                agent,
                schema_name: Self::SCHEMA_NAME,
                instructions: INSTRUCTIONS,
                data: &data,
                tools: &Toolbox::none(),
                validate: &validate,
            },
        )
        .await?;
        Ok(AgentReply {
            output: finished.output,
            thread: finished.thread,
        })
    }
}

pub(crate) fn as_result(problems: Vec<String>) -> Result<(), Vec<String>> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
