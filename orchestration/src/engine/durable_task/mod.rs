//! The engine's turns on the Durable Task protocol (issue 26; `docs/durable-task-store/` has the
//! research this follows, with the evidence). The protocol records activities, timers, events
//! and an end, but not the rest of what duroxide checks on replay (its queue subscriptions,
//! custom-status updates, cancellations, its own event ids and versions), so duroxide's history
//! travels whole inside the protocol's: each turn's new events are the input of one
//! `__dx_journal` activity, scheduled in the same completion as the turn's real actions.
//!
//! * [`ids`]: the protocol's action ids, carrying duroxide's execution and event ids;
//! * [`journal`]: duroxide's history, written into and read back from the protocol's;
//! * [`from_scheduler`]: what the scheduler delivers, as duroxide's work items;
//! * [`to_scheduler`]: a turn's outcome, as the scheduler's actions;
//! * [`failures`]: duroxide's error details in the protocol's failure details and back;
//! * [`held_work`]: the work this process holds, written down so that a crash loses none;
//! * [`provider`]: duroxide's store on a scheduler, made of the above;
//! * [`admin`]: its management view (listing, inspecting, deleting).
//!
//! `StoreLocation::DurableTask` (`DURABLE_TASK_ENDPOINT`) puts them under the store's wrapper.

pub mod admin;
pub mod failures;
pub mod from_scheduler;
pub mod held_work;
pub mod ids;
pub mod journal;
pub mod provider;
pub mod to_scheduler;

/// What cannot be translated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TranslationError {
    #[error("{what} {id} is beyond what an action id can carry")]
    IdOutOfRange { what: &'static str, id: u64 },
    #[error("the protocol cannot carry {0}")]
    Unsupported(String),
    #[error("a journal entry cannot be read: {0}")]
    Journal(String),
}
