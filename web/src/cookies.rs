//! The cookies the pages use: a CSRF token (signed double submit, see [`crate::form_tokens`]),
//! per trip this browser started its approval token, and per conversation it opened its token. Both HttpOnly and SameSite=Strict; the approval token never appears in a
//! URL or in the HTML.

use axum::http::HeaderMap;
use travel_api::credentials;
use travel_orchestration::TripId;

pub const CSRF: &str = "tp_csrf";
const TRIP_PREFIX: &str = "tp_trip_";
const CHAT_PREFIX: &str = "tp_chat_";
/// Approval cookies outlive the 7-day approval window a little.
const TRIP_MAX_AGE: u64 = 8 * 24 * 3600;

pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    credentials::cookie(headers, name).map(str::to_owned)
}

/// The approval token this browser holds for a trip.
pub fn approval_token(headers: &HeaderMap, instance_id: &str) -> Option<String> {
    get(headers, &format!("{TRIP_PREFIX}{instance_id}"))
}

/// The trips this browser started.
pub fn trip_ids(headers: &HeaderMap) -> Vec<TripId> {
    credentials::cookies(headers)
        .filter_map(|(n, _)| TripId::parse(n.strip_prefix(TRIP_PREFIX)?).ok())
        .collect()
}

/// The token of a conversation this browser opened.
pub fn conversation_token(headers: &HeaderMap, conversation_id: &str) -> Option<String> {
    get(headers, &format!("{CHAT_PREFIX}{conversation_id}"))
}

/// Conversations outlive their idle time only when they started a trip, whose approval cookie
/// then takes over.
pub fn set_conversation_token(conversation_id: &str, token: &str) -> String {
    format!(
        "{CHAT_PREFIX}{conversation_id}={token}; Path=/; Max-Age={TRIP_MAX_AGE}; HttpOnly; SameSite=Strict"
    )
}

pub fn set_approval_token(instance_id: &str, token: &str) -> String {
    format!(
        "{TRIP_PREFIX}{instance_id}={token}; Path=/; Max-Age={TRIP_MAX_AGE}; HttpOnly; SameSite=Strict"
    )
}

/// A fresh random token (hex).
pub fn random_token() -> String {
    travel_platform::secret::random_hex(16)
}
