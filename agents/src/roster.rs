//! Every agent, once: the one table the rest of the service reads to know the agents (workflow
//! activities, timeline rows, labels, the dashboard's panels, the demo model's routing).
//!
//! Adding an agent: a module beside the others (its output type and its [`crate::agent::Role`]),
//! a variant of [`AgentName`] with its row in [`AgentName::info`], and the line of the workflow
//! that calls it (a new workflow revision in `orchestration/src/workflow/`, with its activity in
//! `orchestration/src/activities.rs`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which agent spoke.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum AgentName {
    Destination,
    Itinerary,
    LocalTips,
    Packing,
}

/// What the service knows about an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentInfo {
    /// In URLs and JSON: `destination`, `itinerary`, `local-tips`.
    pub key: &'static str,
    /// For people: a timeline row, a dashboard panel.
    pub label: &'static str,
    /// The name of its structured output's schema, sent as the response format's name (the demo
    /// model recognises the agent by it).
    pub schema_name: &'static str,
    /// The workflow activity that runs it. Recorded in every trip's history: never rename one.
    pub activity: &'static str,
    /// The step of the plan it belongs to: 1 chooses the destination, 2 plans for it. Agents of
    /// one step run side by side.
    pub step: u8,
}

impl AgentName {
    /// Every agent, in the order the plan runs them.
    pub const ALL: [AgentName; 4] = [
        Self::Destination,
        Self::Itinerary,
        Self::LocalTips,
        Self::Packing,
    ];

    /// The table.
    pub const fn info(self) -> AgentInfo {
        match self {
            Self::Destination => AgentInfo {
                key: "destination",
                label: "Destinations",
                schema_name: "destination_recommendations",
                activity: "RunDestinationAgent",
                step: 1,
            },
            Self::Itinerary => AgentInfo {
                key: "itinerary",
                label: "Itinerary",
                schema_name: "itinerary",
                activity: "RunItineraryAgent",
                step: 2,
            },
            Self::LocalTips => AgentInfo {
                key: "local-tips",
                label: "Local tips",
                schema_name: "local_tips",
                activity: "RunLocalTipsAgent",
                step: 2,
            },
            Self::Packing => AgentInfo {
                key: "packing",
                label: "Packing list",
                schema_name: "packing_list",
                activity: "RunPackingAgent",
                step: 2,
            },
        }
    }

    pub const fn as_str(self) -> &'static str {
        self.info().key
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The agent whose structured output has this schema name.
    pub fn by_schema_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.info().schema_name == name)
    }
}

impl std::fmt::Display for AgentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent_with_the_json_names() {
        for agent in AgentName::ALL {
            let info = agent.info();
            assert_eq!(
                serde_json::to_value(agent).unwrap(),
                serde_json::json!(info.key),
                "{agent:?}"
            );
            assert_eq!(AgentName::parse(info.key), Some(agent));
            assert_eq!(AgentName::by_schema_name(info.schema_name), Some(agent));
        }
        let steps: Vec<u8> = AgentName::ALL.iter().map(|a| a.info().step).collect();
        assert!(steps.is_sorted(), "ALL is in the order the plan runs them");
    }
}
