//! Typed LLM agents that plan a trip.
//!
//! Four agents, each an [`Agent`] playing its [`Role`], called as `agent.run(input)` and
//! answering `(typed output, thread)`:
//!
//! * [`DestinationAgent`]: three ranked destinations for the traveller's wishes;
//! * [`ItineraryAgent`]: a day-by-day plan for one destination, using the currency tools;
//! * [`LocalTipsAgent`]: attractions, restaurants and insider tips;
//! * [`PackingAgent`]: what to pack (workflow revision 5 on).
//!
//! Beside them, the [`IntakeAgent`] talks with a traveller until it can start their trip
//! ([`intake`]).
//!
//! Every output is a Rust type whose schema goes to the model as *strict* structured output
//! ([`strict_schema`]); replies are parsed, validated and repaired once ([`runner`]). All agents
//! share one [`LlmClient`] (one connection pool) for OpenAI, Azure OpenAI, any OpenAI-compatible
//! server, or the built-in demo model (the `travel-demo-model` crate).

pub mod agent;
pub mod amount;
pub mod brief;
pub mod currency;
pub mod destination;
pub mod destination_brief;
pub mod error;
pub mod intake;
pub mod itinerary;
pub mod live;
pub mod llm;
pub mod local_tips;
pub mod money;
pub mod packing;
pub mod pricing;
pub mod roster;
pub mod runner;
pub mod setup;
pub mod strict_schema;
pub mod telemetry;
pub mod thread;
pub mod tools;

use std::sync::Arc;

pub use agent::{Agent, Role};
pub use brief::TravellerBrief;
pub use currency::{
    ConvertCurrency, ExchangeRate, GetExchangeRate, HttpRates, RatesError, RatesProvider,
    ReferenceRates, currency_tools,
};
pub use destination::{
    DestinationAgent, DestinationExpert, DestinationRecommendations, DestinationSuggestion,
};
pub use destination_brief::{DestinationBrief, ReviewerFeedback};
pub use error::{AgentError, LlmError};
pub use intake::{IntakeAgent, IntakeError, IntakeReply};
pub use itinerary::{
    Activity, Itinerary, ItineraryAgent, ItineraryDay, ItineraryPlanner, TimeSlot,
};
pub use live::{LivePiece, ReplyWatcher};
pub use llm::{LlmClient, LlmSettings, Provider};
pub use local_tips::{
    Attraction, AttractionCategory, LocalGuide, LocalTips, LocalTipsAgent, PriceRange, Restaurant,
};
pub use money::{Amount, Cost, CurrencyCode, Money};
pub use packing::{PackingAdvisor, PackingAgent, PackingCategory, PackingItem, PackingList};
pub use roster::{AgentInfo, AgentName};
pub use thread::{AgentThread, ThreadMessage, TokenUsage};
pub use tools::{Tool, ToolResult, Toolbox};

/// What an agent call answers: its typed output and the conversation that produced it. An agent
/// activity records it in the trip's history, where `thread.messages` is empty since the
/// messages are kept apart (older histories carry them inline).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentReply<T> {
    pub output: T,
    pub thread: AgentThread,
}

/// The agents over one LLM client.
#[derive(Debug, Clone)]
pub struct TravelAgents {
    pub destination: DestinationAgent,
    pub itinerary: ItineraryAgent,
    pub local_tips: LocalTipsAgent,
    pub packing: PackingAgent,
}

impl TravelAgents {
    pub fn new(llm: LlmClient, rates: Arc<dyn RatesProvider>) -> Self {
        Self {
            destination: DestinationAgent::new(llm.clone()),
            itinerary: ItineraryAgent::with_tools(llm.clone(), currency_tools(rates)),
            local_tips: LocalTipsAgent::new(llm.clone()),
            packing: PackingAgent::new(llm),
        }
    }
}

/// The first `max` characters of `text`, with an ellipsis when cut (for error messages).
pub fn text_start(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
