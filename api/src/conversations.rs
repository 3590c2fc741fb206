//! The conversational intake over HTTP (see `travel_orchestration::intake`):
//!
//! * `POST /api/conversations`: opens one (201 with its id, its token, shown once, and the
//!   greeting);
//! * `POST /api/conversations/{conversationId}/messages`: the traveller's message; the answer is
//!   the conversation with the agent's reply, as JSON, or, for a client that accepts
//!   `text/event-stream`, as server-sent events: `text` events with the reply's text as the model
//!   writes it, then one `conversation` event (the conversation as JSON) or one `error` event (the
//!   API's error body);
//! * `GET /api/conversations/{conversationId}`: the conversation.
//!
//! Each needs the conversation's token (`Authorization: Bearer <conversationToken>`), which is
//! also the approval token of the trip the conversation starts. The reply is written in a task
//! of its own: a client that goes away does not stop it, and the conversation keeps it.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use travel_orchestration::{
    ChatMessage, ConversationError, ConversationId, ConversationView, Speaker, Turn,
};

use crate::AppState;
use crate::credentials::ApprovalToken;
use crate::error::{ApiError, ErrorBody, ErrorCode, JsonBody};

/// Body of `POST /api/conversations`: an empty object (it may take settings one day).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenConversation {}

/// Answer to `POST /api/conversations`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationOpened {
    /// Send as `Authorization: Bearer <conversationToken>` with every request about the
    /// conversation; it is also the approval token of the trip the conversation starts. Shown
    /// once.
    pub conversation_token: String,
    pub conversation: ConversationView,
    pub links: ConversationLinks,
}

/// Body of `POST /api/conversations/{conversationId}/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TravellerMessage {
    /// What the traveller says (1 to 2000 characters).
    #[schemars(length(min = 1, max = 2000))]
    pub text: String,
}

/// A conversation with where to go from it.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAnswer {
    /// The agent's latest words (absent before it said any but the greeting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<ChatMessage>,
    pub conversation: ConversationView,
    pub links: ConversationLinks,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationLinks {
    pub conversation: String,
    /// `POST` the traveller's messages here (while the conversation is open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<String>,
    /// The trip it started: its status, and its events as they come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip_events: Option<String>,
}

/// One `text` event of a streamed reply.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ReplyText {
    /// More of the reply's text.
    pub text: String,
}

/// The conversation a URL names.
pub struct ConversationInPath(pub ConversationId);

impl<S: Send + Sync> FromRequestParts<S> for ConversationInPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let text = crate::trip_path::path_text(parts, state).await?;
        ConversationId::parse(&text)
            .map(Self)
            .map_err(|_| ConversationError::NotFound(text).into())
    }
}

pub(crate) async fn open(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, ApiError> {
    // An object without fields (`OpenConversation`; serde would take `[]` for such a struct).
    if let Some(field) = body.keys().next() {
        let field = travel_orchestration::FieldError::new(
            travel_agents::text_start(field, 64),
            "Not a field of this request: it takes none.",
        );
        return Err(ApiError::validation(
            "Some fields are invalid; see `fields`.",
            vec![field],
        ));
    }
    let opened = state.conversations.open().await?;
    let links = links(&opened.conversation);
    let body = ConversationOpened {
        conversation_token: opened.token,
        conversation: opened.conversation,
        links,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(crate) async fn get(
    State(state): State<AppState>,
    ConversationInPath(id): ConversationInPath,
    token: ApprovalToken,
) -> Result<Json<ConversationAnswer>, ApiError> {
    let conversation = state.conversations.get(&id, token.as_deref()).await?;
    Ok(Json(answer(conversation)))
}

pub(crate) async fn say(
    State(state): State<AppState>,
    ConversationInPath(id): ConversationInPath,
    token: ApprovalToken,
    headers: HeaderMap,
    JsonBody(message): JsonBody<TravellerMessage>,
) -> Result<Response, ApiError> {
    let turn = state
        .conversations
        .say(&id, token.as_deref(), &message.text)
        .await?;
    if crate::events::wants_stream(&headers) {
        return Ok(streamed(turn));
    }
    // In a task of its own: the reply is written and kept even if the client goes away.
    let replied = tokio::spawn(turn.reply(None))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))??;
    Ok(Json(answer(replied)).into_response())
}

/// The reply as server-sent events: its text as it is written, then the conversation.
fn streamed(turn: Turn) -> Response {
    reply_stream(
        turn,
        |text| {
            let text = ReplyText {
                text: text.to_owned(),
            };
            Event::default()
                .event("text")
                .json_data(text)
                .unwrap_or_default()
        },
        |replied| {
            match replied {
                Ok(conversation) => Event::default()
                    .event("conversation")
                    .json_data(answer(conversation)),
                Err(error) => {
                    let ApiError { detail, .. } = error.into();
                    Event::default()
                        .event("error")
                        .json_data(ErrorBody { error: detail })
                }
            }
            .unwrap_or_default()
        },
    )
}

/// A turn's reply as server-sent events: `text` of each piece of its text as the model writes
/// it, then `end` of how the turn ended. The reply is written and kept in a task of its own:
/// a client that goes away stops nothing.
pub fn reply_stream(
    turn: Turn,
    text: impl Fn(&str) -> Event + Send + 'static,
    end: impl FnOnce(Result<ConversationView, ConversationError>) -> Event + Send + 'static,
) -> Response {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Event>();
    tokio::spawn(async move {
        let texts = sender.clone();
        let mut written = move |piece: &str| {
            // The client may be gone: the reply is written and kept all the same.
            let _ = texts.send(text(piece));
        };
        let replied = turn.reply(Some(&mut written)).await;
        let _ = sender.send(end(replied));
    });
    let events = futures::stream::poll_fn(move |cx| {
        receiver.poll_recv(cx).map(|e| e.map(Ok::<_, Infallible>))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn answer(conversation: ConversationView) -> ConversationAnswer {
    let reply = conversation
        .messages
        .last()
        .filter(|m| m.from == Speaker::Assistant && conversation.messages.len() > 1)
        .cloned();
    ConversationAnswer {
        reply,
        links: links(&conversation),
        conversation,
    }
}

fn links(conversation: &ConversationView) -> ConversationLinks {
    let id = &conversation.conversation_id;
    let open = conversation.state == travel_orchestration::ConversationState::Open;
    ConversationLinks {
        conversation: format!("/api/conversations/{id}"),
        messages: open.then(|| format!("/api/conversations/{id}/messages")),
        trip: conversation
            .trip_id
            .as_ref()
            .map(|t| format!("/api/trips/{t}")),
        trip_events: conversation
            .trip_id
            .as_ref()
            .map(|t| format!("/api/trips/{t}/events")),
    }
}
