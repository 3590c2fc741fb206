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
        // An item a small model repeats is named once, with how often it came (a runaway list
        // repeats one item to the cap: the repair turn must say so in a line, not in fifty).
        let mut repeated: Vec<(String, &str, usize)> = Vec::new();
        for item in &self.items {
            let name = item.name.trim().to_lowercase();
            if name.is_empty() {
                problems.push("an item has no name".to_owned());
                continue;
            }
            if let Some(seen) = repeated.iter_mut().find(|(n, _, _)| *n == name) {
                seen.2 += 1;
                continue;
            }
            if item.quantity == 0 {
                problems.push(format!("{}: the quantity is 0", item.name));
            }
            if item.reason.trim().is_empty() {
                problems.push(format!("{}: no reason given", item.name));
            }
            repeated.push((name, &item.name, 1));
        }
        for (_, name, times) in repeated.into_iter().filter(|r| r.2 > 1) {
            problems.push(match times {
                2 => format!("{name} is listed twice"),
                n => format!("{name} is listed {n} times"),
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, quantity: u32) -> PackingItem {
        PackingItem {
            name: name.into(),
            category: PackingCategory::Gear,
            quantity,
            reason: "for the trip".into(),
        }
    }

    #[test]
    fn an_item_repeated_is_one_problem_saying_how_often() {
        let mut items = vec![item("Passport", 1), item("Raincoat", 1), item("Hat", 0)];
        items.extend((0..6).map(|_| item("The City of Dreams", 1)));
        items.push(item("raincoat ", 2));
        let list = PackingList { items };
        assert_eq!(
            list.problems(),
            [
                "Hat: the quantity is 0",
                "Raincoat is listed twice",
                "The City of Dreams is listed 6 times",
            ]
        );
        let fine = PackingList {
            items: ["Passport", "Raincoat", "Hat", "Adapter", "Boots"]
                .map(|n| item(n, 1))
                .to_vec(),
        };
        assert!(fine.problems().is_empty());
    }
}
