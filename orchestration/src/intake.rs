//! The conversational intake: a traveller talks with the intake agent
//! ([`travel_agents::intake`]) until it can start their trip, whose request then goes through
//! the very checks the form's and the API's do ([`Trips::start_from_conversation`]).
//!
//! A conversation is kept in the store the trips use ([`crate::trip_index::ConversationRow`]):
//! it survives a restart and is shared by every process on PostgreSQL. Its token is shown once,
//! when it is opened; it is needed to read it and to speak in it, and it is the approval token
//! of the trip it starts. A conversation expires after an idle time (`CONVERSATION_IDLE_SECS`)
//! unless it started a trip; the repair pass forgets an expired one's messages (its tokens stay
//! counted).
//!
//! One message at a time: speaking takes a lease on the conversation until the reply is kept
//! (a second message meanwhile is refused as busy). Each step is kept as it happens: the
//! traveller's message, the agent's call of `start_trip` before it runs, its result after. The
//! trip's id follows from the conversation's, so a call that a stopped process left without its
//! result is settled on the next message without ever starting a second trip; a finished model
//! call is never asked again.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use travel_agents::intake::START_TRIP;
use travel_agents::thread::ToolCall;
use travel_agents::{IntakeAgent, IntakeError, ThreadMessage, TokenUsage};

use crate::request::{FieldError, MAX_TEXT, TripRequest};
use crate::trip_id::TripId;
use crate::trip_index::{ConversationRow, IndexError, ModelUsage};
use crate::trips::{TripError, Trips};

/// How long a conversation waits for its traveller unless configured otherwise: a day.
pub const DEFAULT_IDLE_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// The most rounds the agent gets for one message (a reply, or a tool call and a reply).
const MAX_ROUNDS: usize = 3;

/// What the conversation says first (the service's words, not a model's).
pub const GREETING: &str = "Hello! Tell me about the trip you would like: what you enjoy, how many days, \
your budget and its currency, and your name. I will ask for anything missing, then plan it for you.";

/// What is said when a trip started but the model could not say so.
const STARTED_FALLBACK: &str = "Your trip is being planned; its progress shows here as it goes.";

/// A conversation's id: `chat-` and 20 hexadecimal digits. The trip it starts has the same
/// digits after `trip-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct ConversationId(String);

/// Text that is not a conversation's id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}` is not a conversation id (`chat-` and 20 hexadecimal digits)", travel_agents::text_start(.0, 64))]
pub struct NotAConversationId(pub String);

const ID_PREFIX: &str = "chat-";

impl ConversationId {
    pub fn new_random() -> Self {
        Self(format!(
            "{ID_PREFIX}{}",
            travel_platform::secret::random_hex(10)
        ))
    }

    pub fn parse(text: &str) -> Result<Self, NotAConversationId> {
        let digits = text.strip_prefix(ID_PREFIX).unwrap_or_default();
        if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(NotAConversationId(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the trip this conversation starts.
    pub fn trip_id(&self) -> TripId {
        TripId::recorded(format!("trip-{}", &self.0[ID_PREFIX.len()..]))
    }
}

impl TryFrom<String> for ConversationId {
    type Error = NotAConversationId;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<ConversationId> for String {
    fn from(id: ConversationId) -> String {
        id.0
    }
}

impl std::fmt::Display for ConversationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// Waiting for the traveller.
    Open,
    /// A reply is being written.
    Answering,
    /// It started its trip (`tripId`); it takes no more messages.
    TripStarted,
    /// Nobody spoke in it for the idle time; it takes no more messages.
    Expired,
}

impl ConversationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Answering => "answering",
            Self::TripStarted => "trip_started",
            Self::Expired => "expired",
        }
    }
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Traveller,
    Assistant,
}

/// A message as the traveller reads it (the agent's tool calls and their results are not
/// shown: the trip they started is, as `tripId`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub from: Speaker,
    pub text: String,
}

/// A conversation, as its traveller reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    pub conversation_id: ConversationId,
    pub state: ConversationState,
    pub messages: Vec<ChatMessage>,
    /// The trip it started, once it has (its approval token is the conversation's token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trip_id: Option<TripId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it expires unless spoken in again (absent once it started a trip).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A conversation, as operators see it in a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSummary {
    pub conversation_id: String,
    pub state: ConversationState,
    /// The traveller's messages and the replies.
    pub messages: usize,
    pub trip_id: Option<TripId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What the agent's replies spent, with the model that wrote the last one.
    pub spent: ModelUsage,
    /// In US dollars, when the model's prices are known.
    pub cost_usd: Option<f64>,
}

/// A conversation just opened, with its token (shown once, never stored).
#[derive(Debug, Clone)]
pub struct OpenedConversation {
    pub conversation: ConversationView,
    pub token: String,
}

/// Why a conversation did not go on.
#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("no conversation has the id `{}`", travel_agents::text_start(.0, 64))]
    NotFound(String),
    #[error("the message is invalid")]
    Invalid(Vec<FieldError>),
    #[error("a conversation token is required: send `Authorization: Bearer <conversationToken>`")]
    MissingToken,
    #[error("the conversation token does not belong to this conversation")]
    WrongToken,
    #[error("this conversation expired after {idle_secs} s without a message; start a new one")]
    Expired { idle_secs: u64 },
    #[error("a reply to this conversation is being written; send the next message once it is")]
    Busy,
    #[error(
        "this conversation started its trip `{0}`; follow the trip, or start a new conversation"
    )]
    TripStarted(TripId),
    #[error(
        "the assistant could not answer just now ({0}); the message was not kept: send it again"
    )]
    Model(String),
    #[error(transparent)]
    Trip(#[from] TripError),
}

impl From<IndexError> for ConversationError {
    fn from(error: IndexError) -> Self {
        ConversationError::Trip(error.into())
    }
}

/// The intake's settings.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    /// A conversation expires after this long without a message (`CONVERSATION_IDLE_SECS`).
    pub idle_expiry: Duration,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            idle_expiry: DEFAULT_IDLE_EXPIRY,
        }
    }
}

/// The conversations of this service.
#[derive(Clone)]
pub struct Conversations {
    trips: Trips,
    agent: IntakeAgent,
    settings: IntakeSettings,
}

impl std::fmt::Debug for Conversations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversations")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn time_of(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

use travel_platform::secret::{constant_time_eq, random_hex, sha256_hex};

impl Conversations {
    pub fn new(trips: Trips, agent: IntakeAgent, settings: IntakeSettings) -> Self {
        Self {
            trips,
            agent,
            settings,
        }
    }

    pub fn trips(&self) -> &Trips {
        &self.trips
    }

    pub fn settings(&self) -> &IntakeSettings {
        &self.settings
    }

    /// How long a round of the reply may take before another message may be answered instead
    /// (the lease is renewed at each step): the model's timeout and a little.
    fn lease(&self) -> i64 {
        let timeout = self.agent.llm().settings().timeout;
        (timeout + Duration::from_secs(15)).as_millis() as i64
    }

    /// Opens a conversation, greeted.
    pub async fn open(&self) -> Result<OpenedConversation, ConversationError> {
        let token = random_hex(32);
        let now = now_ms();
        let row = ConversationRow {
            id: ConversationId::new_random().0,
            token_sha256: sha256_hex(&token),
            messages: vec![ThreadMessage::Assistant {
                content: Some(GREETING.to_owned()),
                refusal: None,
                tool_calls: Vec::new(),
            }],
            trip_id: None,
            created_ms: now,
            updated_ms: now,
            expires_ms: now + self.idle_ms(),
            answering_until_ms: None,
            model: None,
            demo: false,
            usage: TokenUsage::default(),
            version: 1,
        };
        self.index().create_conversation(&row).await?;
        crate::telemetry::conversation_opened();
        Ok(OpenedConversation {
            conversation: view(&row, now),
            token,
        })
    }

    /// A conversation, for the holder of its token.
    pub async fn get(
        &self,
        id: &ConversationId,
        token: Option<&str>,
    ) -> Result<ConversationView, ConversationError> {
        let row = self.row_for(id, token).await?;
        Ok(view(&row, now_ms()))
    }

    /// The traveller says `text`: the message is kept and the conversation taken for the
    /// reply, which [`Turn::reply`] writes. Refused (and nothing kept) when the message is not
    /// one, the token is not the conversation's, or the conversation is not open.
    pub async fn say(
        &self,
        id: &ConversationId,
        token: Option<&str>,
        text: &str,
    ) -> Result<Turn, ConversationError> {
        check_message(text)?;
        let text = text.trim();
        let mut row = self.row_for(id, token).await?;
        match state_of(&row, now_ms()) {
            ConversationState::Open => {}
            ConversationState::Answering => return Err(ConversationError::Busy),
            ConversationState::TripStarted => {
                return Err(ConversationError::TripStarted(id.trip_id()));
            }
            ConversationState::Expired => return Err(self.expired()),
        }
        let before = row.messages.clone();
        row.messages.push(ThreadMessage::User {
            content: text.to_owned(),
        });
        // Taken for the reply (`save` renews the lease at each step).
        row.answering_until_ms = Some(now_ms() + self.lease());
        self.save(&mut row).await?;
        Ok(Turn {
            conversations: self.clone(),
            id: id.clone(),
            row,
            before,
        })
    }

    /// The agent's rounds until it replies in words (its tool calls run between them).
    async fn answer(
        &self,
        id: &ConversationId,
        row: &mut ConversationRow,
        mut written: Option<&mut (dyn FnMut(&str) + Send)>,
    ) -> Result<(), ConversationError> {
        self.settle_calls(id, row).await?;
        let schema = travel_agents::strict_schema::strict_schema_for::<TripRequest>();
        let today = Utc::now().date_naive();
        for _ in 0..MAX_ROUNDS {
            let written = written
                .as_mut()
                .map(|w| &mut **w as &mut (dyn FnMut(&str) + Send));
            let reply = self
                .agent
                .reply(today, &row.messages, &schema, written)
                .await
                .map_err(model_error)?;
            row.usage.add(reply.usage);
            row.model = Some(self.agent.llm().model().to_owned());
            row.demo = self.agent.llm().is_demo();
            crate::telemetry::conversation_reply(reply.tool_calls().is_empty());
            let calls = reply.tool_calls().to_vec();
            row.messages.push(reply.message);
            if calls.is_empty() {
                return Ok(());
            }
            // Kept before it runs: a process that stops now leaves it to settle.
            self.save(row).await?;
            for call in &calls {
                let result = self.run_call(id, row, call).await?;
                row.messages.push(result);
            }
            self.save(row).await?;
        }
        Err(ConversationError::Model(format!(
            "it did not reply in words within {MAX_ROUNDS} rounds"
        )))
    }

    /// Runs the calls of the last reply that have no result yet (a process stopped between
    /// keeping a call and its result).
    async fn settle_calls(
        &self,
        id: &ConversationId,
        row: &mut ConversationRow,
    ) -> Result<(), ConversationError> {
        let Some(last_calls) = row.messages.iter().rposition(
            |m| matches!(m, ThreadMessage::Assistant { tool_calls, .. } if !tool_calls.is_empty()),
        ) else {
            return Ok(());
        };
        let ThreadMessage::Assistant { tool_calls, .. } = &row.messages[last_calls] else {
            unreachable!("found above");
        };
        let answered = |call: &ToolCall, messages: &[ThreadMessage]| {
            messages.iter().any(|m| matches!(m, ThreadMessage::Tool { tool_call_id, .. } if *tool_call_id == call.id))
        };
        let pending: Vec<ToolCall> = tool_calls
            .iter()
            .filter(|c| !answered(c, &row.messages[last_calls..]))
            .cloned()
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        tracing::info!(conversation = %id, calls = pending.len(), "settling the calls a stopped process left");
        // Each result right after the calls (the model reads a call's result there), before the
        // traveller's message that came since.
        let mut at = last_calls + 1;
        while matches!(row.messages.get(at), Some(ThreadMessage::Tool { .. })) {
            at += 1;
        }
        for call in &pending {
            let result = self.run_call(id, row, call).await?;
            row.messages.insert(at, result);
            at += 1;
        }
        self.save(row).await
    }

    /// Runs one call of the agent's tool; answers its result for the model.
    async fn run_call(
        &self,
        id: &ConversationId,
        row: &mut ConversationRow,
        call: &ToolCall,
    ) -> Result<ThreadMessage, ConversationError> {
        let result = if call.name != START_TRIP {
            serde_json::json!({"error": format!("unknown tool `{}`: only {START_TRIP} is available", call.name)})
        } else if let Some(trip) = &row.trip_id {
            serde_json::json!({"error": format!("the trip `{trip}` was started already; it cannot be started twice")})
        } else {
            match serde_json::from_str::<TripRequest>(&call.arguments) {
                Err(e) => {
                    serde_json::json!({"error": format!("the arguments do not follow the schema: {e}")})
                }
                Ok(request) => {
                    let trip = id.trip_id();
                    let started = self
                        .trips
                        .start_from_conversation(trip.clone(), request, &row.token_sha256)
                        .await;
                    match started {
                        Ok(()) => {
                            row.trip_id = Some(trip.to_string());
                            crate::telemetry::conversation_started_trip();
                            serde_json::json!({"started": true, "instanceId": trip})
                        }
                        Err(TripError::Invalid(fields)) => {
                            serde_json::json!({"error": "some fields are invalid", "fieldErrors": fields})
                        }
                        Err(other) => return Err(other.into()),
                    }
                }
            }
        };
        Ok(ThreadMessage::Tool {
            tool_call_id: call.id.clone(),
            name: call.name.clone(),
            content: result.to_string(),
        })
    }

    /// The newest conversations, for operators.
    pub async fn recent(&self, limit: u32) -> Result<Vec<ConversationSummary>, ConversationError> {
        let now = now_ms();
        let rows = self.index().recent_conversations(limit).await?;
        Ok(rows.iter().map(|row| self.summary(row, now)).collect())
    }

    /// One conversation with every message kept (the agent's calls of its tool and their
    /// results among them), for operators: no token is asked, the caller checks who asks.
    pub async fn inspect(
        &self,
        id: &ConversationId,
    ) -> Result<(ConversationSummary, Vec<ThreadMessage>), ConversationError> {
        let row = self.row(id).await?;
        Ok((self.summary(&row, now_ms()), row.messages))
    }

    fn summary(&self, row: &ConversationRow, now: i64) -> ConversationSummary {
        let spent = ModelUsage {
            model: row.model.clone().unwrap_or_default(),
            demo: row.demo,
            usage: row.usage,
            revision: 1,
        };
        ConversationSummary {
            conversation_id: row.id.clone(),
            state: state_of(row, now),
            messages: shown(&row.messages).count(),
            trip_id: row.trip_id.clone().map(TripId::recorded),
            created_at: time_of(row.created_ms),
            updated_at: time_of(row.updated_ms),
            cost_usd: crate::costs::cost_of(&spent, &self.trips.settings().prices),
            spent,
        }
    }

    /// Forgets the messages of expired conversations (the repair pass calls it).
    pub async fn forget_expired(&self) -> Result<u64, ConversationError> {
        Ok(self.index().forget_expired_conversations(now_ms()).await?)
    }

    /// The conversation as stored (a read for a person: it waits for the store as long as theirs
    /// do).
    async fn row(&self, id: &ConversationId) -> Result<ConversationRow, ConversationError> {
        crate::trips::within_read_wait(async {
            Ok(self.index().conversation_row(id.as_str()).await?)
        })
        .await?
        .ok_or_else(|| ConversationError::NotFound(id.to_string()))
    }

    /// The conversation, for the holder of its token.
    async fn row_for(
        &self,
        id: &ConversationId,
        token: Option<&str>,
    ) -> Result<ConversationRow, ConversationError> {
        let row = self.row(id).await?;
        let token = token.ok_or(ConversationError::MissingToken)?;
        if !constant_time_eq(sha256_hex(token).as_bytes(), row.token_sha256.as_bytes()) {
            return Err(ConversationError::WrongToken);
        }
        Ok(row)
    }

    /// Writes the conversation as it is now, if nobody else wrote it since it was read.
    async fn save(&self, row: &mut ConversationRow) -> Result<(), ConversationError> {
        let now = now_ms();
        row.version += 1;
        row.updated_ms = now;
        if row.answering_until_ms.is_some() {
            // Renewed at each step: a process that stops holds the conversation a round at most.
            row.answering_until_ms = Some(now + self.lease());
            row.expires_ms = now + self.idle_ms();
        }
        if self.index().update_conversation(row).await? {
            Ok(())
        } else {
            Err(ConversationError::Busy)
        }
    }

    fn index(&self) -> &crate::trip_index::TripIndex {
        &self.trips.store().index
    }

    fn idle_ms(&self) -> i64 {
        self.settings.idle_expiry.as_millis().max(1) as i64
    }

    fn expired(&self) -> ConversationError {
        ConversationError::Expired {
            idle_secs: self.settings.idle_expiry.as_secs(),
        }
    }
}

/// A message kept, its reply still to be written. Run [`Self::reply`] to its end (in a task of
/// its own where the asker may go away): until then the conversation takes no other message
/// (for a round's time at most, should the process stop).
pub struct Turn {
    conversations: Conversations,
    id: ConversationId,
    row: ConversationRow,
    /// The messages before the traveller's.
    before: Vec<ThreadMessage>,
}

impl Turn {
    /// The agent's reply, kept; `written` is handed its text as it is written. When the model
    /// cannot answer, the conversation is left as it was before the message (send it again).
    pub async fn reply(
        self,
        written: Option<&mut (dyn FnMut(&str) + Send)>,
    ) -> Result<ConversationView, ConversationError> {
        let Turn {
            conversations,
            id,
            mut row,
            before,
        } = self;
        let answered = conversations.answer(&id, &mut row, written).await;
        row.answering_until_ms = None;
        if let Err(error) = &answered {
            if row.trip_id.is_some() {
                // The trip started; only the model's words about it are missing.
                tracing::warn!(conversation = %id, %error, "the intake agent could not close the conversation");
                row.messages.push(assistant_text(STARTED_FALLBACK));
            } else {
                // Nothing came of it (a refused call at most): the conversation is as it was,
                // the message to be sent again. The tokens spent stay counted.
                row.messages = before;
            }
        }
        conversations.save(&mut row).await?;
        match answered {
            Err(error) if row.trip_id.is_none() => Err(error),
            _ => Ok(view(&row, now_ms())),
        }
    }
}

/// Whether `text` can be a traveller's message: 1 to [`MAX_TEXT`] characters besides spaces,
/// under the policy every text people write follows ([`crate::free_text`]).
pub fn check_message(text: &str) -> Result<(), ConversationError> {
    let text = text.trim();
    let problem = match text.is_empty() {
        true => Some(FieldError::new(
            "text",
            format!("Write a message of 1 to {MAX_TEXT} characters."),
        )),
        false => crate::free_text::problem("text", text, MAX_TEXT),
    };
    match problem {
        Some(problem) => Err(ConversationError::Invalid(vec![problem])),
        None => Ok(()),
    }
}

fn model_error(error: IntakeError) -> ConversationError {
    tracing::warn!(%error, "the intake agent gave no reply");
    let said = match &error {
        IntakeError::Llm(e) => travel_agents::telemetry::kind(e).replace('_', " "),
        IntakeError::Refused(_) => "it refused".into(),
        IntakeError::Truncated(_) => "its reply was cut short".into(),
        IntakeError::Empty => "it answered nothing".into(),
    };
    ConversationError::Model(said)
}

fn assistant_text(text: &str) -> ThreadMessage {
    ThreadMessage::Assistant {
        content: Some(text.to_owned()),
        refusal: None,
        tool_calls: Vec::new(),
    }
}

fn state_of(row: &ConversationRow, now: i64) -> ConversationState {
    if row.trip_id.is_some() {
        ConversationState::TripStarted
    } else if row.answering_until_ms.is_some_and(|until| until > now) {
        ConversationState::Answering
    } else if row.expires_ms < now {
        ConversationState::Expired
    } else {
        ConversationState::Open
    }
}

/// The messages the traveller reads: their own and the agent's words.
fn shown(messages: &[ThreadMessage]) -> impl Iterator<Item = ChatMessage> + '_ {
    messages.iter().filter_map(|m| match m {
        ThreadMessage::User { content } => Some(ChatMessage {
            from: Speaker::Traveller,
            text: content.clone(),
        }),
        ThreadMessage::Assistant {
            content: Some(text),
            ..
        } if !text.trim().is_empty() => Some(ChatMessage {
            from: Speaker::Assistant,
            text: text.clone(),
        }),
        _ => None,
    })
}

fn view(row: &ConversationRow, now: i64) -> ConversationView {
    ConversationView {
        conversation_id: ConversationId(row.id.clone()),
        state: state_of(row, now),
        messages: shown(&row.messages).collect(),
        trip_id: row.trip_id.clone().map(TripId::recorded),
        created_at: time_of(row.created_ms),
        updated_at: time_of(row.updated_ms),
        expires_at: row.trip_id.is_none().then(|| time_of(row.expires_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_id_names_its_trip() {
        let id = ConversationId::new_random();
        let again = ConversationId::parse(id.as_str()).unwrap();
        assert_eq!(id, again);
        let trip = id.trip_id();
        assert_eq!(&trip.as_str()[5..], &id.as_str()[5..]);
        assert!(TripId::parse(trip.as_str()).is_ok());
        for bad in [
            "",
            "chat-",
            "chat-xyz",
            "trip-0123456789abcdef0123",
            "chat-0123456789abcdef012",
        ] {
            assert!(ConversationId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_traveller_reads_words_only() {
        let messages = vec![
            assistant_text(GREETING),
            ThreadMessage::User {
                content: "yes".into(),
            },
            ThreadMessage::Assistant {
                content: None,
                refusal: None,
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: START_TRIP.into(),
                    arguments: "{}".into(),
                }],
            },
            ThreadMessage::Tool {
                tool_call_id: "c1".into(),
                name: START_TRIP.into(),
                content: "{}".into(),
            },
            assistant_text("Planning it."),
        ];
        let shown: Vec<Speaker> = shown(&messages).map(|m| m.from).collect();
        assert_eq!(
            shown,
            [Speaker::Assistant, Speaker::Traveller, Speaker::Assistant]
        );
    }
}
