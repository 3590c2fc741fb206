//! Shared set-up for the agent tests: a demo model and a client pointed at it.
#![allow(dead_code)]

use std::sync::Arc;

use chrono::NaiveDate;
use travel_agents::{
    CurrencyCode, DestinationBrief, LlmClient, LlmSettings, Money, ReferenceRates, TravelAgents,
    TravellerBrief,
};
use travel_demo_model::{DemoModel, DemoModelConfig};

/// A demo model that also answers the names the provider tests configure (an Azure deployment,
/// a local server's model).
pub async fn demo() -> DemoModel {
    DemoModel::start(DemoModelConfig {
        names: vec![
            "travel-gpt4o".into(),
            "llama3.1:8b".into(),
            "o4-mini".into(),
        ],
        ..Default::default()
    })
    .await
    .expect("demo model starts")
}

pub fn client(settings: LlmSettings) -> LlmClient {
    LlmClient::new(settings, travel_platform::http::shared_client(), None).expect("client")
}

pub fn agents(demo: &DemoModel) -> TravelAgents {
    TravelAgents::new(client(demo.settings()), Arc::new(ReferenceRates))
}

/// The agents on `demo`, with its client's settings tuned.
pub fn agents_with(demo: &DemoModel, tune: impl FnOnce(&mut LlmSettings)) -> TravelAgents {
    let mut settings = demo.settings();
    tune(&mut settings);
    TravelAgents::new(client(settings), Arc::new(ReferenceRates))
}

pub fn traveller(preferences: &str, days: u32) -> TravellerBrief {
    TravellerBrief {
        preferences: preferences.into(),
        duration_days: days,
        budget: Money::new(
            travel_agents::Amount::units(2500),
            CurrencyCode::parse("USD").unwrap(),
        ),
        start_date: NaiveDate::from_ymd_opt(2027, 5, 10),
        travel_dates: None,
        special_requirements: Some("vegetarian".into()),
    }
}

pub async fn destination_brief(demo: &DemoModel, preferences: &str, days: u32) -> DestinationBrief {
    let traveller = traveller(preferences, days);
    let reply = agents(demo)
        .destination
        .run(&traveller)
        .await
        .expect("destinations");
    DestinationBrief {
        destination: reply.output.top().unwrap().clone(),
        traveller,
        feedback: None,
    }
}
