//! The chat page (`/plan/chat`): a trip planned by talking with the intake agent. Each message is
//! a form post answered by the conversation's page (no JavaScript needed); with JavaScript
//! (`/static/chat.js`, ours) the same post asks for `text/event-stream` and the reply shows as
//! it is written. Once the conversation started its trip, its page follows the trip live (the
//! trip page's live part, loaded by HTMX), with its review and decision.
//!
//! The conversation's token lives in this browser's cookie (`tp_chat_<id>`, HttpOnly); it is
//! also the trip's approval token, set as the trip's cookie once it starts.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use travel_orchestration::{
    ChatMessage, ConversationError, ConversationId, ConversationView, Speaker,
};

use crate::WebState;
use crate::cookies;
use crate::respond::{CarriesCsrf, SameSiteForm, error_page, render, with_cookie};

/// A message typed on the page.
#[derive(Debug, Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    csrf: String,
}

impl CarriesCsrf for MessageForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Template)]
#[template(path = "chat.html")]
struct ChatPage {
    /// `None` before the first message.
    id: Option<String>,
    messages: Vec<ChatMessage>,
    state: &'static str,
    /// The trip it started.
    trip: Option<String>,
    /// What went wrong with the last message, if anything.
    problem: Option<String>,
    /// The message to show again in the box (it was not kept).
    draft: String,
    csrf: String,
}

impl ChatPage {
    fn said_by_traveller(&self, message: &ChatMessage) -> bool {
        message.from == Speaker::Traveller
    }

    fn open(&self) -> bool {
        self.trip.is_none() && self.state != "expired"
    }
}

fn page(
    state: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    conversation: Option<&ConversationView>,
    problem: Option<String>,
    draft: String,
) -> Response {
    let (csrf, cookie) = state.forms.of(headers);
    let greeting = ChatMessage {
        from: Speaker::Assistant,
        text: travel_orchestration::intake::GREETING.to_owned(),
    };
    let page = ChatPage {
        id: conversation.map(|c| c.conversation_id.to_string()),
        messages: conversation.map_or_else(|| vec![greeting], |c| c.messages.clone()),
        state: conversation.map_or("open", |c| c.state.as_str()),
        trip: conversation.and_then(|c| c.trip_id.as_ref().map(|t| t.to_string())),
        problem,
        draft,
        csrf,
    };
    with_cookie(render(status, &page), cookie)
}

/// The page of a new conversation: the greeting and the first message's box.
pub async fn new_chat(State(state): State<WebState>, headers: HeaderMap) -> Response {
    page(&state, &headers, StatusCode::OK, None, None, String::new())
}

/// The first message: the conversation is opened and answered, its token kept in this browser.
pub async fn first_message(
    State(state): State<WebState>,
    headers: HeaderMap,
    SameSiteForm(form): SameSiteForm<MessageForm>,
) -> Response {
    // Checked first: an empty box opens no conversation.
    if let Err(error) = travel_orchestration::intake::check_message(&form.text) {
        return refused(&state, &headers, None, error, form.text);
    }
    let opened = match state.conversations.open().await {
        Ok(opened) => opened,
        Err(error) => return refused(&state, &headers, None, error, form.text),
    };
    let id = opened.conversation.conversation_id.clone();
    let cookie = cookies::set_conversation_token(id.as_str(), &opened.token);
    let answered = say(&state, &headers, &id, &opened.token, form).await;
    with_cookie(answered, Some(cookie))
}

/// A conversation's page, for the browser that holds its token.
pub async fn conversation_page(
    State(state): State<WebState>,
    ConversationInPath(id): ConversationInPath,
    headers: HeaderMap,
) -> Response {
    let token = cookies::conversation_token(&headers, id.as_str());
    match state.conversations.get(&id, token.as_deref()).await {
        Ok(conversation) => {
            let trip_cookie = trip_cookie(&conversation, token.as_deref());
            let shown = page(
                &state,
                &headers,
                StatusCode::OK,
                Some(&conversation),
                None,
                String::new(),
            );
            with_cookie(shown, trip_cookie)
        }
        Err(error) => refused(&state, &headers, None, error, String::new()),
    }
}

/// A message in a conversation: answered by the conversation's page, or, for `chat.js`, by the
/// reply's text as it is written (server-sent events).
pub async fn next_message(
    State(state): State<WebState>,
    ConversationInPath(id): ConversationInPath,
    headers: HeaderMap,
    SameSiteForm(form): SameSiteForm<MessageForm>,
) -> Response {
    let Some(token) = cookies::conversation_token(&headers, id.as_str()) else {
        return refused(
            &state,
            &headers,
            None,
            ConversationError::MissingToken,
            form.text,
        );
    };
    say(&state, &headers, &id, &token, form).await
}

async fn say(
    state: &WebState,
    headers: &HeaderMap,
    id: &ConversationId,
    token: &str,
    form: MessageForm,
) -> Response {
    let turn = match state.conversations.say(id, Some(token), &form.text).await {
        Ok(turn) => turn,
        Err(error) => {
            let conversation = state.conversations.get(id, Some(token)).await.ok();
            return refused(state, headers, conversation.as_ref(), error, form.text);
        }
    };
    if travel_api::events::wants_stream(headers) {
        return stream(turn, format!("/plan/chat/{id}"));
    }
    // In a task of its own: the reply is kept even if the browser goes away.
    match tokio::spawn(turn.reply(None)).await {
        Ok(Ok(conversation)) => {
            let to = Redirect::to(&format!("/plan/chat/{id}")).into_response();
            with_cookie(to, trip_cookie(&conversation, Some(token)))
        }
        Ok(Err(error)) => {
            let conversation = state.conversations.get(id, Some(token)).await.ok();
            refused(state, headers, conversation.as_ref(), error, form.text)
        }
        Err(e) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            e.to_string(),
        ),
    }
}

/// The reply as `text` events while it is written, then `done` (its data the conversation's
/// page, to show next) or `problem` (what went wrong, in words).
fn stream(turn: travel_orchestration::Turn, page: String) -> Response {
    travel_api::conversations::reply_stream(
        turn,
        |text| Event::default().event("text").data(text),
        |replied| match replied {
            // The trip's cookie cannot ride on a stream already begun: the conversation's page
            // sets it when it is shown next.
            Ok(_) => Event::default().event("done").data(page),
            Err(error) => Event::default().event("problem").data(in_words(&error)),
        },
    )
}

/// The trip's approval cookie, once the conversation started its trip (the conversation's
/// token approves it).
fn trip_cookie(conversation: &ConversationView, token: Option<&str>) -> Option<String> {
    let trip = conversation.trip_id.as_ref()?;
    Some(cookies::set_approval_token(trip, token?))
}

/// A message not answered: the conversation's page again with what went wrong and the message
/// back in its box, or an error page when there is no conversation to show.
fn refused(
    state: &WebState,
    headers: &HeaderMap,
    conversation: Option<&ConversationView>,
    error: ConversationError,
    draft: String,
) -> Response {
    let status = travel_api::ErrorCode::from(&error).status();
    match &error {
        ConversationError::NotFound(_) => {
            error_page(status, "Conversation not found", in_words(&error))
        }
        ConversationError::MissingToken | ConversationError::WrongToken => error_page(
            status,
            "Not your conversation",
            "This conversation belongs to the browser that started it.",
        ),
        _ if conversation.is_some() || matches!(error, ConversationError::Invalid(_)) => page(
            state,
            headers,
            status,
            conversation,
            Some(in_words(&error)),
            draft,
        ),
        _ => error_page(status, "Something went wrong", in_words(&error)),
    }
}

/// What went wrong, for the traveller.
fn in_words(error: &ConversationError) -> String {
    match error {
        ConversationError::Invalid(fields) => fields
            .iter()
            .map(|f| f.message.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        ConversationError::NotFound(_) => {
            "There is no such conversation; it may have been mistyped.".into()
        }
        ConversationError::Trip(_) => {
            "The conversation cannot be saved just now. Nothing is lost: try again in a minute."
                .into()
        }
        other => {
            let mut text = other.to_string();
            if let Some(first) = text.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            format!("{text}.")
        }
    }
}

/// The conversation a page's address names; text that cannot be one names none.
pub struct ConversationInPath(pub ConversationId);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConversationInPath {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Response> {
        let text = crate::respond::path_text(parts, state).await?;
        ConversationId::parse(&text).map(Self).map_err(|_| {
            error_page(
                StatusCode::NOT_FOUND,
                "Conversation not found",
                "There is no such conversation; it may have been mistyped.",
            )
        })
    }
}
