//! One agent, written once. What makes each agent different is its [`Role`]: the data it is
//! given, the typed answer it gives, its instructions, the problems an answer must not have,
//! and what code adds to the answer. [`Agent`] runs any role the same way: the input checked,
//! the conversation with the model ([`crate::runner`]: strict structured output, the tool loop,
//! one repair turn), the answer completed.
//!
//! Adding an agent: a module with its output type and its role, a row in the agent table
//! ([`crate::roster`]), and its answers in the demo model.

use std::fmt::Debug;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AgentReply;
use crate::error::AgentError;
use crate::live::ReplyWatcher;
use crate::llm::LlmClient;
use crate::roster::AgentName;
use crate::runner::{Task, converse};
use crate::tools::Toolbox;

/// What one agent is.
pub trait Role: Send + Sync + 'static {
    /// What the agent is given: sent to the model as the traveller's data.
    type Input: Serialize + Sync;
    /// Its answer, whose strict JSON Schema goes to the model as the response format.
    type Output: DeserializeOwned + Serialize + JsonSchema + Send;
    /// What its tools report besides their text (`()` for an agent without tools).
    type Finding: Send + 'static;
    /// Its row in the agent table.
    const NAME: AgentName;
    /// Its system instructions.
    const INSTRUCTIONS: &'static str;

    /// Why the input cannot be planned from, if it cannot (the model is not asked then).
    fn input_problems(_input: &Self::Input) -> Vec<String> {
        Vec::new()
    }

    /// Every problem a usable answer to `input` must not have; the model is asked once to
    /// repair an answer that has any.
    fn problems(input: &Self::Input, output: &Self::Output) -> Vec<String>;

    /// The strict JSON Schema the answer to `input` must follow: the output type's, made
    /// exact for the request where the type alone cannot say it (a server that constrains its
    /// output with a grammar follows the schema and nothing else).
    fn schema(_input: &Self::Input) -> serde_json::Value {
        crate::strict_schema::strict_schema_for::<Self::Output>()
    }

    /// The most tokens the answer to `input` may take unless `AGENT_MAX_OUTPUT_TOKENS` says
    /// otherwise: room for a good answer, not for a runaway one.
    fn output_cap(input: &Self::Input) -> u32;

    /// Whether no good answer to `input` can do without a tool call (then, with tools first,
    /// the first round requires one: a small model would otherwise answer from memory).
    fn needs_tools(_input: &Self::Input) -> bool {
        false
    }

    /// The answer as the service keeps it: completed by code from the input and what the tools
    /// found (as it is, by default).
    fn complete(
        _input: &Self::Input,
        output: Self::Output,
        _findings: Vec<Self::Finding>,
    ) -> Self::Output {
        output
    }
}

/// An agent playing `R` on an LLM client, with its tools.
pub struct Agent<R: Role> {
    llm: LlmClient,
    tools: Toolbox<R::Finding>,
}

impl<R: Role> Clone for Agent<R> {
    fn clone(&self) -> Self {
        Self {
            llm: self.llm.clone(),
            tools: self.tools.clone(),
        }
    }
}

impl<R: Role> Debug for Agent<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("name", &R::NAME)
            .field("tools", &self.tools.names())
            .finish_non_exhaustive()
    }
}

impl<R: Role> Agent<R> {
    /// Without tools.
    pub fn new(llm: LlmClient) -> Self {
        Self::with_tools(llm, Toolbox::none())
    }

    pub fn with_tools(llm: LlmClient, tools: Toolbox<R::Finding>) -> Self {
        Self { llm, tools }
    }

    /// Asks the model, and answers the typed, checked, completed answer with the conversation
    /// that produced it.
    pub async fn run(&self, input: &R::Input) -> Result<AgentReply<R::Output>, AgentError> {
        self.run_watched(input, None).await
    }

    /// As [`Self::run`], telling `watcher` the replies as the model writes them while it follows
    /// ([`crate::live`]).
    pub async fn run_watched(
        &self,
        input: &R::Input,
        watcher: Option<&dyn ReplyWatcher>,
    ) -> Result<AgentReply<R::Output>, AgentError> {
        let agent = R::NAME;
        let problems = R::input_problems(input);
        if !problems.is_empty() {
            return Err(AgentError::InvalidInput {
                agent,
                problem: problems.join("; "),
            });
        }
        let data = serde_json::to_value(input).expect("agent inputs serialise");
        let validate = |output: &R::Output| match R::problems(input, output) {
            problems if problems.is_empty() => Ok(()),
            problems => Err(problems),
        };
        let finished = converse(
            &self.llm,
            Task {
                agent,
                schema_name: agent.info().schema_name,
                instructions: R::INSTRUCTIONS,
                data: &data,
                schema: R::schema(input),
                max_output_tokens: {
                    let settings = self.llm.settings();
                    settings
                        .output_caps
                        .for_agent(agent)
                        .unwrap_or_else(|| R::output_cap(input) + settings.reasoning_allowance())
                },
                tools: &self.tools,
                needs_tools: R::needs_tools(input),
                validate: &validate,
                watcher,
            },
        )
        .await?;
        Ok(AgentReply {
            output: R::complete(input, finished.output, finished.findings),
            thread: finished.thread,
        })
    }
}
