//! What a trip's plan cost: each agent's tokens for each plan revision, priced by its model
//! (`travel_agents::pricing`), read from the trip's history or the trips index. A call is
//! counted once however often it was retried (only the completed one is in the history with its
//! usage; the index keeps one row per agent and revision), and the answers a retried trip reused
//! from the failed one are shown but not counted again.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use travel_agents::pricing::PriceTable;
use travel_agents::{AgentName, AgentThread, TokenUsage};

use crate::trip_index::ModelUsage;

/// The cost of one agent's answer for one plan revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentCost {
    pub agent: AgentName,
    /// The plan revision the answer was for (1: the first plan).
    #[serde(default = "first_revision")]
    pub revision: u32,
    pub model: String,
    pub tokens: TokenUsage,
    /// US dollars; absent when the model's price is not known (set `LLM_PRICES`).
    pub cost_usd: Option<f64>,
    /// Reused from the failed trip this one retries: paid there, not counted here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
}

fn first_revision() -> u32 {
    1
}

/// The cost of a trip's plan: per agent and revision, and in all (revisions included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TripCosts {
    pub agents: Vec<AgentCost>,
    /// The tokens this trip spent (reused answers excluded).
    pub tokens: TokenUsage,
    /// US dollars this trip spent; absent when a model's price is not known.
    pub cost_usd: Option<f64>,
}

impl TripCosts {
    /// The costs of the agents' answers, each with the plan revision it was for: `own` ones
    /// (this trip's calls) and `reused` ones.
    pub fn of(
        own: impl IntoIterator<Item = (u32, AgentThread)>,
        reused: impl IntoIterator<Item = (u32, AgentThread)>,
        prices: &PriceTable,
    ) -> Self {
        let priced = |(revision, thread): (u32, AgentThread), reused: bool| AgentCost {
            agent: thread.agent,
            revision,
            cost_usd: prices.cost_of(&thread),
            model: thread.model,
            tokens: thread.usage,
            reused,
        };
        let own = own.into_iter().map(|t| priced(t, false));
        Self::counted(own.chain(reused.into_iter().map(|t| priced(t, true))))
    }

    /// The costs of the tokens each agent spent (as the trips index keeps them).
    pub fn of_usage(
        spent: impl IntoIterator<Item = (AgentName, ModelUsage)>,
        prices: &PriceTable,
    ) -> Self {
        Self::counted(spent.into_iter().map(|(agent, spent)| AgentCost {
            agent,
            revision: spent.revision,
            cost_usd: cost_of(&spent, prices),
            model: spent.model,
            tokens: spent.usage,
            reused: false,
        }))
    }

    /// The agents' costs in the workflow's order, and the sum of those not reused.
    fn counted(agents: impl IntoIterator<Item = AgentCost>) -> Self {
        let mut costs = TripCosts {
            cost_usd: Some(0.0),
            ..Default::default()
        };
        for cost in agents {
            if !cost.reused {
                costs.tokens.add(cost.tokens);
                costs.cost_usd = costs.cost_usd.zip(cost.cost_usd).map(|(a, b)| a + b);
            }
            costs.agents.push(cost);
        }
        costs.agents.sort_by_key(|c| {
            let agent = AgentName::ALL.iter().position(|a| *a == c.agent);
            (c.revision, agent)
        });
        costs
    }
}

/// What the trips of a list cost (all pages of it): the trips with a cost, their tokens, and
/// the US dollars (absent when a model's price is not known).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListCosts {
    pub trips: usize,
    pub tokens: TokenUsage,
    pub cost_usd: Option<f64>,
}

impl ListCosts {
    /// Sums tokens spent per model into tokens and money.
    pub fn of(usage: &[ModelUsage], trips: usize, prices: &PriceTable) -> Self {
        let mut costs = ListCosts {
            trips,
            cost_usd: Some(0.0),
            ..Default::default()
        };
        for spent in usage {
            costs.tokens.add(spent.usage);
            costs.cost_usd = costs
                .cost_usd
                .zip(cost_of(spent, prices))
                .map(|(a, b)| a + b);
        }
        costs
    }
}

/// What tokens spent with one model cost (the demo model is free).
pub fn cost_of(spent: &ModelUsage, prices: &PriceTable) -> Option<f64> {
    if spent.demo {
        return Some(0.0);
    }
    prices.price(&spent.model).map(|p| p.cost(&spent.usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(agent: AgentName, model: &str, prompt: u64, completion: u64) -> AgentThread {
        let mut thread: AgentThread = serde_json::from_value(serde_json::json!({
            "agent": agent, "provider": "openai", "model": model, "demo": false,
            "startedAt": "2026-11-30T00:00:00Z", "durationMs": 1, "messages": [],
            "usage": {"promptTokens": 0, "completionTokens": 0, "cachedTokens": 0, "totalTokens": 0},
            "rounds": []
        }))
        .unwrap();
        thread.usage.prompt_tokens = prompt;
        thread.usage.completion_tokens = completion;
        thread.usage.total_tokens = prompt + completion;
        thread
    }

    #[test]
    fn a_trip_costs_its_own_calls_not_the_ones_it_reused() {
        let prices = PriceTable::default();
        let costs = TripCosts::of(
            [(1, thread(AgentName::LocalTips, "gpt-4o-mini", 1_000_000, 0))],
            [(
                1,
                thread(AgentName::Destination, "gpt-4o-mini", 1_000_000, 1_000_000),
            )],
            &prices,
        );
        assert_eq!(costs.tokens.total_tokens, 1_000_000);
        assert!((costs.cost_usd.unwrap() - 0.15).abs() < 1e-9);
        assert_eq!(costs.agents.len(), 2);
        assert_eq!(
            costs.agents[0].agent,
            AgentName::Destination,
            "the workflow's order"
        );
        assert!(costs.agents[0].reused && !costs.agents[1].reused);

        let unknown = TripCosts::of(
            [(1, thread(AgentName::Itinerary, "llama3", 10, 10))],
            [],
            &prices,
        );
        assert_eq!(unknown.cost_usd, None, "an unknown price is not a zero one");
        assert_eq!(unknown.tokens.total_tokens, 20);
    }

    #[test]
    fn every_revision_counts_and_reads_in_order() {
        let prices = PriceTable::default();
        let costs = TripCosts::of(
            [
                (2, thread(AgentName::Itinerary, "gpt-4o-mini", 1_000_000, 0)),
                (1, thread(AgentName::Itinerary, "gpt-4o-mini", 1_000_000, 0)),
                (
                    1,
                    thread(AgentName::Destination, "gpt-4o-mini", 1_000_000, 0),
                ),
            ],
            [],
            &prices,
        );
        assert_eq!(costs.tokens.prompt_tokens, 3_000_000);
        assert!((costs.cost_usd.unwrap() - 0.45).abs() < 1e-9);
        let order: Vec<(u32, AgentName)> =
            costs.agents.iter().map(|c| (c.revision, c.agent)).collect();
        assert_eq!(
            order,
            [
                (1, AgentName::Destination),
                (1, AgentName::Itinerary),
                (2, AgentName::Itinerary)
            ]
        );
    }
}
