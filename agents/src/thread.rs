//! The record of one agent call: every message, tool call, token and round, kept beside the
//! typed output so the orchestration can store it and operators can read it.

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, FunctionCall,
};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::roster::AgentName;

/// One agent call, start to finish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentThread {
    pub agent: AgentName,
    /// `openai`, `azure-openai`, `openai-compatible` or `demo`.
    pub provider: String,
    pub model: String,
    /// True when the built-in demo model answered: nothing in it came from a real LLM.
    pub demo: bool,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub messages: Vec<ThreadMessage>,
    /// Summed over every round.
    pub usage: TokenUsage,
    pub rounds: Vec<Round>,
}

/// A message of the conversation, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "role", rename_all = "camelCase")]
pub enum ThreadMessage {
    System {
        content: String,
    },
    User {
        content: String,
    },
    #[serde(rename_all = "camelCase")]
    Assistant {
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        refusal: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    #[serde(rename_all = "camelCase")]
    Tool {
        tool_call_id: String,
        name: String,
        content: String,
    },
}

impl ThreadMessage {
    /// The message as the next request to the model carries it.
    pub fn to_request(&self) -> ChatCompletionRequestMessage {
        match self {
            ThreadMessage::System { content } => {
                ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                    content: ChatCompletionRequestSystemMessageContent::Text(content.clone()),
                    name: None,
                })
            }
            ThreadMessage::User { content } => {
                ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                    content: ChatCompletionRequestUserMessageContent::Text(content.clone()),
                    name: None,
                })
            }
            ThreadMessage::Assistant {
                content,
                refusal,
                tool_calls,
            } => {
                let calls = tool_calls
                    .iter()
                    .map(|c| {
                        ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                            id: c.id.clone(),
                            function: FunctionCall {
                                name: c.name.clone(),
                                arguments: c.arguments.clone(),
                            },
                        })
                    })
                    .collect::<Vec<_>>();
                ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                    content: content
                        .clone()
                        .map(ChatCompletionRequestAssistantMessageContent::Text),
                    refusal: refusal.clone(),
                    tool_calls: (!calls.is_empty()).then_some(calls),
                    ..Default::default()
                })
            }
            ThreadMessage::Tool {
                tool_call_id,
                content,
                ..
            } => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
                content: ChatCompletionRequestToolMessageContent::Text(content.clone()),
                tool_call_id: tool_call_id.clone(),
            }),
        }
    }
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments exactly as the model wrote them (JSON text).
    pub arguments: String,
}

/// Tokens, as the provider counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens served from the provider's cache.
    pub cached_tokens: u64,
    pub total_tokens: u64,
}

impl TokenUsage {
    pub fn add(&mut self, other: TokenUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cached_tokens += other.cached_tokens;
        self.total_tokens += other.total_tokens;
    }
}

impl From<&async_openai::types::chat::CompletionUsage> for TokenUsage {
    fn from(usage: &async_openai::types::chat::CompletionUsage) -> Self {
        Self {
            prompt_tokens: usage.prompt_tokens.into(),
            completion_tokens: usage.completion_tokens.into(),
            cached_tokens: usage
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0)
                .into(),
            total_tokens: usage.total_tokens.into(),
        }
    }
}

/// One request to the model and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Round {
    /// 1-based.
    pub number: u32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// Why the model stopped: `stop`, `tool_calls`, `length`, `content_filter`.
    pub finish_reason: String,
    pub usage: TokenUsage,
}
