//! The durable boundary, typed: every activity the workflow calls and the event it waits for,
//! each with the name recorded in the trips' histories and the types that cross it.
//!
//! The workflow's calls ([`super::durable::call`]), the activity registry
//! ([`crate::activities`]) and the senders of the approval event ([`crate::trips`], and through
//! it the API, the pages, the dashboard and the `instances` command) all go through these values:
//! a misspelt name, or an input or output of the wrong type, does not compile. Names and JSON are
//! exactly what earlier releases recorded (the replay fixtures of `tests/workflow_revisions.rs`
//! prove it): never rename one, and change a type only in ways old records still read.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use travel_agents::{
    AgentName, AgentReply, DestinationBrief, DestinationRecommendations, Itinerary, LocalTips,
    PackingList, TravellerBrief,
};

use super::types::{ApprovalAnnounced, ApprovalRequest, PlanSaved};
use crate::booking::{BookingConfirmation, BookingRequest};
use crate::plan::TripPlan;
use crate::progress::ReviewAnswer;
use crate::store::PlanLocation;

/// An activity: its recorded name, what it takes (`I`) and what it answers (`O`), both as JSON.
pub struct Activity<I, O> {
    name: &'static str,
    types: PhantomData<fn(I) -> O>,
}

impl<I, O> Activity<I, O> {
    const fn named(name: &'static str) -> Self {
        Self {
            name,
            types: PhantomData,
        }
    }

    /// The name recorded in histories.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

// By hand: derived, they would ask `I` and `O` to be `Clone` and `Copy` too.
impl<I, O> Clone for Activity<I, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I, O> Copy for Activity<I, O> {}

impl<I: Serialize, O: DeserializeOwned> Activity<I, O> {
    /// The input as the workflow schedules it.
    pub(crate) fn input_text(&self, input: &I) -> Result<String, String> {
        serde_json::to_string(input)
            .map_err(|e| format!("{}: input not serialisable: {e}", self.name))
    }

    /// The output as the workflow reads it back.
    pub(crate) fn read_output(&self, text: &str) -> Result<O, String> {
        serde_json::from_str(text)
            .map_err(|e| format!("{} returned unreadable output: {e}", self.name))
    }
}

impl<I: DeserializeOwned, O: Serialize> Activity<I, O> {
    /// The input as the activity reads it.
    pub(crate) fn read_input(&self, text: &str) -> Result<I, String> {
        serde_json::from_str(text).map_err(|e| format!("{}: unreadable input: {e}", self.name))
    }

    /// The output as the activity answers it.
    pub(crate) fn output_text(&self, output: &O) -> Result<String, String> {
        serde_json::to_string(output)
            .map_err(|e| format!("{}: output not serialisable: {e}", self.name))
    }
}

/// The destination agent (see `travel_agents::roster`).
pub const DESTINATION_AGENT: Activity<TravellerBrief, AgentReply<DestinationRecommendations>> =
    Activity::named(AgentName::Destination.info().activity);
/// The itinerary agent.
pub const ITINERARY_AGENT: Activity<DestinationBrief, AgentReply<Itinerary>> =
    Activity::named(AgentName::Itinerary.info().activity);
/// The local-tips agent.
pub const LOCAL_TIPS_AGENT: Activity<DestinationBrief, AgentReply<LocalTips>> =
    Activity::named(AgentName::LocalTips.info().activity);
/// From workflow revision 5.
pub const PACKING_AGENT: Activity<DestinationBrief, AgentReply<PackingList>> =
    Activity::named(AgentName::Packing.info().activity);
/// Revision 1: saves a plan stamped by the workflow (after a `utc_now` step).
pub const SAVE_PLAN: Activity<TripPlan, PlanLocation> = Activity::named("SavePlan");
/// Revision 2 on: stamps the plan with the time it is first saved, and says when that was.
pub const SAVE_NEW_PLAN: Activity<TripPlan, PlanSaved> = Activity::named("SaveNewPlan");
/// Revisions 1 to 3: announces the plan awaiting approval to the webhook.
pub const REQUEST_APPROVAL: Activity<ApprovalRequest, ApprovalAnnounced> =
    Activity::named("RequestApproval");
/// Books an approved plan (idempotently, keyed by the trip).
pub const BOOK_TRIP: Activity<BookingRequest, BookingConfirmation> = Activity::named("BookTrip");

/// An external event: its recorded name (a durable queue the workflow reads) and its data.
pub struct Event<T> {
    name: &'static str,
    data: PhantomData<fn() -> T>,
}

impl<T> Event<T> {
    const fn named(name: &'static str) -> Self {
        Self {
            name,
            data: PhantomData,
        }
    }

    /// The name recorded in histories.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<T: Serialize + DeserializeOwned> Event<T> {
    /// The data as it is queued.
    pub(crate) fn data_text(&self, data: &T) -> String {
        serde_json::to_string(data).expect("event data serialises")
    }

    /// The data as the workflow reads it.
    pub(crate) fn read_data(&self, text: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// The reviewer's answer on the plan awaiting approval: a decision, or (revision 4 on) changes.
pub const APPROVAL: Event<ReviewAnswer> = Event::named("ApprovalEvent");
