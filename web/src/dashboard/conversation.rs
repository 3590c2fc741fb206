//! One intake conversation as operators read it: its state, the trip it started, the model, its
//! tokens and cost, and every message kept (the traveller's, the agent's, its calls of
//! `start_trip` and their results).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::WebState;
use crate::pages::ConversationInPath;
use crate::respond::{error_page, render};
use crate::views;
use crate::views::usd;

use super::instance::{MessageView, message_view};
use super::list::time;

#[derive(Template)]
#[template(path = "dashboard_conversation.html")]
struct ConversationPage {
    id: String,
    state: &'static str,
    trip: Option<String>,
    created: String,
    updated: String,
    model: String,
    tokens: String,
    cost: String,
    messages: Vec<MessageView>,
}

pub async fn conversation(
    State(state): State<WebState>,
    ConversationInPath(id): ConversationInPath,
) -> Response {
    let (summary, messages) = match state.conversations.inspect(&id).await {
        Ok(found) => found,
        Err(error) => {
            let status = travel_api::ErrorCode::from(&error).status();
            return error_page(status, "Conversation not found", error.to_string());
        }
    };
    let spent = &summary.spent;
    let page = ConversationPage {
        id: summary.conversation_id.clone(),
        state: summary.state.as_str(),
        trip: summary.trip_id.as_ref().map(|t| t.to_string()),
        created: time(Some(summary.created_at)),
        updated: time(Some(summary.updated_at)),
        model: match spent.model.as_str() {
            "" => "none yet".to_owned(),
            model if spent.demo => format!("{model} (the demo model)"),
            model => model.to_owned(),
        },
        tokens: format!("{} tokens", views::count(spent.usage.total_tokens)),
        cost: usd(summary.cost_usd, false),
        messages: messages.iter().map(message_view).collect(),
    };
    render(StatusCode::OK, &page)
}
