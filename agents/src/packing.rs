//! The packing agent: what to pack for the destination, the season and the traveller's needs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::agent::{Agent, Role};
use crate::destination_brief::DestinationBrief;
use crate::roster::AgentName;

/// What to take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackingList {
    /// Five to twenty things to pack, the most important first.
    #[schemars(length(min = 5, max = 20))]
    pub items: Vec<PackingItem>,
}

/// One thing to pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackingItem {
    pub name: String,
    pub category: PackingCategory,
    /// How many.
    #[schemars(range(min = 1))]
    pub quantity: u32,
    /// Why, for this trip.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PackingCategory {
    Documents,
    Clothing,
    Footwear,
    Health,
    Electronics,
    Gear,
    Other,
}

impl PackingCategory {
    /// For people: "Documents".
    pub fn label(self) -> &'static str {
        match self {
            Self::Documents => "Documents",
            Self::Clothing => "Clothing",
            Self::Footwear => "Footwear",
            Self::Health => "Health",
            Self::Electronics => "Electronics",
            Self::Gear => "Gear",
            Self::Other => "Other",
        }
    }
}

impl PackingList {
    /// Every problem a usable list must not have.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(5..=20).contains(&self.items.len()) {
            problems.push(format!("{} items, expected 5 to 20", self.items.len()));
        }
        let mut names: Vec<String> = Vec::new();
        for item in &self.items {
            let name = item.name.trim().to_lowercase();
            if name.is_empty() {
                problems.push("an item has no name".to_owned());
            } else if names.contains(&name) {
                problems.push(format!("{} is listed twice", item.name));
            }
            if item.quantity == 0 {
                problems.push(format!("{}: the quantity is 0", item.name));
            }
            if item.reason.trim().is_empty() {
                problems.push(format!("{}: no reason given", item.name));
            }
            names.push(name);
        }
        problems
    }
}

const INSTRUCTIONS: &str = "You are a travel packing advisor. For the given destination, trip length, \
dates (when known), planned style of travel and special requirements, list the things worth packing, \
most important first: each with its category, how many, and why it matters on this trip (the climate \
and season, the activities the traveller wants, their needs such as diet, mobility or children). Leave \
out what every traveller takes anyway unless the trip makes it special.";

/// Knows what to take.
#[derive(Debug)]
pub struct PackingAdvisor;

/// The packing agent.
pub type PackingAgent = Agent<PackingAdvisor>;

impl Role for PackingAdvisor {
    type Input = DestinationBrief;
    type Output = PackingList;
    type Finding = ();
    const NAME: AgentName = AgentName::Packing;
    const INSTRUCTIONS: &'static str = INSTRUCTIONS;

    fn problems(_: &DestinationBrief, list: &PackingList) -> Vec<String> {
        list.problems()
    }

    /// Up to twenty items with their reasons.
    fn output_cap(_: &DestinationBrief) -> u32 {
        1_500
    }
}
