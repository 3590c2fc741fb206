//! What can go wrong when an agent runs.

use std::time::Duration;

use crate::roster::AgentName;

/// A failure talking to the LLM provider. Every variant names the provider.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("{provider} answered HTTP {status}: {message}")]
    Status {
        provider: String,
        status: u16,
        code: Option<String>,
        message: String,
    },
    #[error("{provider} is rate limiting (HTTP 429) and asks to wait {retry_after:?}")]
    RateLimited {
        provider: String,
        retry_after: Duration,
    },
    #[error("{provider} did not answer within {after:?}")]
    Timeout { provider: String, after: Duration },
    #[error("{provider} could not be reached: {message}")]
    Unreachable { provider: String, message: String },
    #[error(
        "{provider} sent a reply that is not a chat completion: {message}; reply starts: {reply_start}"
    )]
    MalformedReply {
        provider: String,
        message: String,
        reply_start: String,
    },
    #[error("{provider} could not be used: {message}")]
    Setup { provider: String, message: String },
}

impl LlmError {
    /// Whether trying the same call again later may succeed (the durable workflow retries those).
    pub fn is_transient(&self) -> bool {
        match self {
            // Out of quota is a 429 too, but waiting does not bring quota back.
            LlmError::Status { status, code, .. } => {
                (*status == 429 && code.as_deref() != Some("insufficient_quota")) || *status >= 500
            }
            LlmError::RateLimited { .. }
            | LlmError::Timeout { .. }
            | LlmError::Unreachable { .. } => true,
            LlmError::MalformedReply { .. } => true,
            LlmError::Setup { .. } => false,
        }
    }
}

/// A failure of one agent call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AgentError {
    #[error("the {agent} agent's call to its model failed: {source}")]
    Llm { agent: AgentName, source: LlmError },
    #[error(
        "the {agent} agent's reply was unusable twice (after one repair turn): {problem}; the reply starts: {reply_start}"
    )]
    InvalidOutput {
        agent: AgentName,
        problem: String,
        reply_start: String,
    },
    #[error("the model refused the {agent} agent's request: {message}")]
    Refused { agent: AgentName, message: String },
    #[error(
        "the {agent} agent's reply was cut off at the length limit (finish reason `length`; its cap was {max_output_tokens} tokens, AGENT_MAX_OUTPUT_TOKENS)"
    )]
    Truncated {
        agent: AgentName,
        max_output_tokens: u32,
    },
    #[error("the {agent} agent was still calling tools after {rounds} rounds, the most allowed")]
    TooManyToolRounds { agent: AgentName, rounds: usize },
    #[error("the {agent} agent was given invalid input: {problem}")]
    InvalidInput { agent: AgentName, problem: String },
}

impl AgentError {
    pub fn agent(&self) -> AgentName {
        match self {
            AgentError::Llm { agent, .. }
            | AgentError::InvalidOutput { agent, .. }
            | AgentError::Refused { agent, .. }
            | AgentError::Truncated { agent, .. }
            | AgentError::TooManyToolRounds { agent, .. }
            | AgentError::InvalidInput { agent, .. } => *agent,
        }
    }

    /// How long the model's provider asked to be left alone (`Retry-After` on a 429): the
    /// workflow waits that long, durably, before it tries again.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            AgentError::Llm {
                source: LlmError::RateLimited { retry_after, .. },
                ..
            } => Some(*retry_after),
            _ => None,
        }
    }

    /// Whether running the same agent call again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            AgentError::Llm { source, .. } => source.is_transient(),
            AgentError::Truncated { .. } | AgentError::InvalidOutput { .. } => true,
            _ => false,
        }
    }
}
