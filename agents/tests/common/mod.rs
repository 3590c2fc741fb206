//! Shared set-up for the agent tests: a demo model and a client pointed at it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::NaiveDate;
use travel_agents::{
    CurrencyCode, DestinationBrief, LivePiece, LlmClient, LlmSettings, Money, ReferenceRates,
    ReplyWatcher, TravelAgents, TravellerBrief,
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

/// A client with `settings`, and the agents on it (the client's admission can be read).
pub fn client_and_agents(settings: LlmSettings) -> (LlmClient, TravelAgents) {
    let llm = client(settings);
    let agents = TravelAgents::new(llm.clone(), Arc::new(ReferenceRates));
    (llm, agents)
}

/// Records what a followed agent is told as its replies are written: each piece, when it came,
/// and how many calls were in flight to the client's provider then.
pub struct Follower {
    pub following: bool,
    llm: LlmClient,
    pub pieces: Mutex<Vec<(Instant, usize, LivePiece)>>,
}

impl Follower {
    pub fn new(llm: &LlmClient, following: bool) -> Self {
        Self {
            following,
            llm: llm.clone(),
            pieces: Mutex::default(),
        }
    }

    /// The text told, every round's, put together.
    pub fn text(&self) -> String {
        self.pieces
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, _, piece)| match piece {
                LivePiece::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

impl ReplyWatcher for Follower {
    fn following(&self) -> bool {
        self.following
    }

    fn piece(&self, piece: LivePiece) {
        let in_flight = self.llm.admission().in_flight;
        self.pieces
            .lock()
            .unwrap()
            .push((Instant::now(), in_flight, piece));
    }
}
