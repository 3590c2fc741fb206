//! The web pages: the trip form, live progress, the plan review with approve/reject, and the
//! trips this browser started. Server-rendered (askama, escaped by default), usable without
//! JavaScript; HTMX (vendored from npm, served from the binary) makes progress live.

mod assets;
mod cookies;
mod dashboard;
mod form_tokens;
mod pages;
mod respond;
mod review_links;
mod review_trail;
mod revisions;
mod views;

use axum::Router;
use axum::routing::{get, post};

/// What the pages share.
#[derive(Debug, Clone)]
pub struct WebState {
    pub trips: travel_orchestration::Trips,
    /// The intake conversations (the chat page).
    pub conversations: travel_orchestration::Conversations,
    /// Who may act as an operator (shared with the API's check).
    pub admin: travel_api::admin::AdminAccess,
    /// The forms' CSRF tokens.
    pub forms: FormTokens,
}

pub use form_tokens::FormTokens;

/// The page routes; merge them with the API's.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(pages::new_trip).post(pages::submit_trip))
        .route("/trips", get(pages::my_trips))
        .route(
            "/plan/chat",
            get(pages::new_chat).post(pages::first_message),
        )
        .route(
            "/plan/chat/{conversation_id}",
            get(pages::conversation_page).post(pages::next_message),
        )
        .route("/trips/{instance_id}", get(pages::trip_page))
        .route("/trips/{instance_id}/decision", post(pages::decide))
        .route("/trips/{instance_id}/again", post(pages::try_again))
        .route(
            "/trips/{instance_id}/revisions",
            post(revisions::ask_for_changes),
        )
        .route(
            "/review/{instance_id}",
            get(review_links::review_page).post(review_links::review_answer),
        )
        .route("/static/htmx.min.js", get(assets::htmx))
        .route("/static/htmx-ext-sse.min.js", get(assets::htmx_sse))
        .route("/static/live-replies.js", get(assets::live_replies))
        .route("/static/chat.js", get(assets::chat))
        .route("/static/app.css", get(assets::css))
        .route("/static/favicon.svg", get(assets::favicon))
        .route("/favicon.ico", get(assets::favicon))
        .with_state(state)
}

/// The operator dashboard (put it behind the admin check).
pub fn dashboard_router(state: WebState) -> Router {
    Router::new()
        .route("/dashboard", get(dashboard::dashboard))
        .route(
            "/dashboard/instances/{instance_id}",
            get(dashboard::instance),
        )
        .route("/dashboard/notifications", get(review_trail::notifications))
        .route(
            "/dashboard/conversations/{conversation_id}",
            get(dashboard::conversation),
        )
        .route(
            "/dashboard/instances/{instance_id}/approval",
            post(dashboard::approval),
        )
        .route(
            "/dashboard/instances/{instance_id}/terminate",
            post(dashboard::terminate),
        )
        .route(
            "/dashboard/instances/{instance_id}/retry",
            post(dashboard::retry),
        )
        .route(
            "/dashboard/instances/{instance_id}/purge",
            get(dashboard::confirm_purge).post(dashboard::purge),
        )
        .with_state(state)
}

/// The dashboard's sign-in form (outside the admin check).
pub fn login_router(state: WebState) -> Router {
    Router::new()
        .route(
            "/dashboard/login",
            get(dashboard::login_form).post(dashboard::login),
        )
        .with_state(state)
}

/// The page shown for an unknown address that is not under `/api`.
pub use pages::not_found;
