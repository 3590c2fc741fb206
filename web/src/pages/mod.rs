//! The pages and their form handlers.

mod chat;
mod decision;
mod form;
mod trip;

pub use chat::{ConversationInPath, conversation_page, first_message, new_chat, next_message};
pub use decision::decide;
pub use form::{new_trip, submit_trip};
pub(crate) use trip::{notice, revisions_left};
pub use trip::{trip_page, try_again};

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::WebState;
use crate::cookies;
use crate::respond::{error_page, render};
use crate::views::{self};

#[derive(Template)]
#[template(path = "trips.html")]
struct TripsPage {
    trips: Vec<views::TripRow>,
}

pub async fn my_trips(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let mut trips = Vec::new();
    for id in cookies::trip_ids(&headers) {
        if let Ok(status) = state.trips.status(&id).await {
            let request = state.trips.input(&id).await.ok().map(|i| i.request);
            trips.push((status, request));
        }
    }
    trips.sort_by_key(|(t, _)| std::cmp::Reverse(t.created_at));
    render(
        StatusCode::OK,
        &TripsPage {
            trips: trips
                .iter()
                .map(|(status, request)| views::TripRow::new(status, request.as_ref()))
                .collect(),
        },
    )
}

pub async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
    )
}
