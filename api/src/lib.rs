//! The HTTP API (axum): trips, approval, health and the OpenAPI description.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/trips` | start a trip (202 with `instanceId`, `statusUrl`, `approvalToken`) |
//! | `GET /api/trips/{instanceId}` | status, progress, the plan once saved, the outcome |
//! | `GET /api/trips/{instanceId}/plan` and `/plan.md` | the saved plan |
//! | `GET /api/trips/{instanceId}/agents/{agent}` | an agent's thread and token usage |
//! | `GET /api/trips/{instanceId}/events` | the trip's changes: JSON, or a live, resumable stream ([`events`]) |
//! | `POST /approve/{instanceId}` | approve or reject (Bearer approval token) |
//! | `POST /api/conversations`, `…/{conversationId}/messages`, `GET …/{conversationId}` | the conversational intake ([`conversations`]) |
//! | `POST /mcp` | the planner as MCP tools ([`mcp`]) |
//! | `GET /healthz`, `GET /readyz` | liveness, readiness |
//! | `GET /api/openapi.json` | this API, described |
//! | `/api/instances...` | the management API (operators; see [`management`]) |

pub mod admin;
mod bodies;
pub mod conversations;
pub mod credentials;
mod error;
pub mod events;
pub mod guard;
pub mod management;
pub mod mcp;
pub mod metrics;
pub mod openapi;
mod routes;
pub mod trip_path;

pub use bodies::{ApproveRequest, TripCreated, TripView};
pub use error::{ApiError, ErrorBody, ErrorCode, JsonBody};
pub use routes::{finish, not_found, router, routes};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub trips: travel_orchestration::Trips,
    /// The intake conversations.
    pub conversations: travel_orchestration::Conversations,
    /// The trips' event streams open in this process, and how many may be.
    pub events: events::EventStreams,
}
