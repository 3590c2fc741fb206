//! The durable trip workflow and everything it touches.
//!
//! * [`workflow`]: the deterministic orchestration (duroxide);
//! * [`activities`]: its side effects (agents, plan store, approval announcement, booking);
//! * [`engine`]: the duroxide runtime on its store (SQLite or PostgreSQL), tuned in one place;
//! * [`trip_index`]: the trips index, the answers ledger and the notifications outbox kept in
//!   that store;
//! * [`trips`]: what callers do with trips (start, status, plan, threads, decide, revise);
//! * [`intake`]: the conversations in which the intake agent gathers a trip request;
//! * [`notifications`]: every change of a trip's state, delivered to the webhook;
//! * [`links`]: the approvers' signed review links;
//! * [`request`], [`plan`], [`progress`]: the traveller-facing types;
//! * [`store`], [`booking`]: the plan store and booking provider traits, with local defaults.

pub mod activities;
pub mod booking;
pub mod costs;
pub mod database;
pub mod engine;
pub mod field_error;
pub mod free_text;
pub mod intake;
pub mod links;
pub mod live_replies;
pub mod management;
pub mod notifications;
pub mod plan;
pub mod presentation;
pub mod progress;
pub mod request;
pub mod store;
pub mod telemetry;
pub mod timeline;
pub mod trip_events;
pub mod trip_id;
pub mod trip_index;
pub mod trips;
pub mod turn_waiters;
pub mod workflow;

pub use activities::{Activities, ActivitySlots, ApprovalWebhook};
pub use booking::{BookingConfirmation, BookingProvider, BookingRequest, SandboxBookings};
pub use engine::{Engine, EngineTuning, PostgresSettings, SchedulerSettings, Store, StoreLocation};
pub use intake::{
    ChatMessage, ConversationError, ConversationId, ConversationState, ConversationSummary,
    ConversationView, Conversations, IntakeSettings, OpenedConversation, Speaker, Turn,
};
pub use management::{
    HistoryEvent, Inspection, InstanceDetail, InstancePage, InstanceQuery, InstanceSummary,
    ManagementError,
};
pub use plan::{CostSummary, TripPlan};
pub use progress::{
    ApprovalDecision, ChangeRequest, DecidedVia, PlanRevision, ReviewAnswer, TripOutcome,
    TripProgress, TripState, TripStep,
};
pub use request::{FieldError, TripRequest};
pub use store::{
    BlobCredential, BlobPlanStore, BlobStoreConfig, LocalPlanStore, PlanLocation, PlanStore,
    StoreError,
};
pub use timeline::{RowState, TimelineRow};
pub use trip_events::{Followed, StepChange, TripChange, TripEvent};
pub use trip_id::{NotATripId, TripId};
pub use trip_index::RetryLinks;
pub use trips::{StartedTrip, TripError, TripRecords, TripSettings, TripStatus, Trips};
