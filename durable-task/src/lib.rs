//! The Durable Task protocol: the gRPC service (`TaskHubSidecarService`) that every Durable Task
//! SDK speaks to Azure's Durable Task Scheduler, and that the Python SDK's test backend
//! implements. This crate knows the protocol and nothing of trips: the messages
//! ([`protocol`], generated from `proto/orchestrator_service.proto`), where the scheduler is and
//! how to sign in to it ([`SchedulerSettings`]), and one [`Connection`] that makes the client's
//! calls (start, read, raise an event, terminate, purge) and the worker's (the stream of work
//! items, their completions).

mod connection;
mod settings;

pub use connection::{Connection, ProtocolError, WorkItems};
pub use settings::{SchedulerSettings, SettingsError};

/// The protocol's messages and its client, as `proto/orchestrator_service.proto` defines them
/// (names in Rust's case: `instanceId` is `instance_id`; `google.protobuf.StringValue` is an
/// `Option<String>`).
#[allow(clippy::all, missing_docs)]
pub mod protocol {
    include!(concat!(env!("OUT_DIR"), "/_.rs"));
}
