//! The web pages: the trip form, live progress, the plan review with approve/reject, and the
//! trips this browser started. Server-rendered (askama, escaped by default), usable without
//! JavaScript; HTMX (vendored from npm, served from the binary) makes progress live.

mod assets;
mod cookies;
mod pages;
mod views;

use axum::Router;
use axum::routing::{get, post};

/// What the pages share.
#[derive(Debug, Clone)]
pub struct WebState {
    pub trips: travel_orchestration::Trips,
}

/// The page routes; merge them with the API's.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(pages::new_trip).post(pages::submit_trip))
        .route("/trips", get(pages::my_trips))
        .route("/trips/{instance_id}", get(pages::trip_page))
        .route("/trips/{instance_id}/decision", post(pages::decide))
        .route("/static/htmx.min.js", get(assets::htmx))
        .route("/static/app.css", get(assets::css))
        .with_state(state)
}

/// The page shown for an unknown address that is not under `/api`.
pub use pages::not_found;
