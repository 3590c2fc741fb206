//! Tools an agent may call. A tool is a name, a description, an argument type whose schema goes to
//! the model as *strict* JSON Schema, and `run`; each agent gets its own [`Toolbox`] (the
//! itinerary agent the currency tools, the others none). Nothing outside an agent's toolbox is
//! ever run: a call to anything else answers the model an error.
//!
//! Besides its text for the model, a call may report a finding of the agent's own kind (`F`:
//! the currency tools report the exchange rate they used), which the agent keeps with its answer.

use std::fmt::Debug;
use std::sync::Arc;

use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

/// The result of one tool call, as sent back to the model and kept in the thread.
#[derive(Debug, Clone)]
pub struct ToolResult<F> {
    /// JSON text for the model.
    pub content: String,
    /// What the call found that the agent keeps with its answer, when anything (the exchange
    /// rate a currency tool used: totals are computed from the rates the model was given).
    pub finding: Option<F>,
}

impl<F> ToolResult<F> {
    /// A failure, for the model to read.
    pub fn error(message: impl std::fmt::Display) -> Self {
        Self {
            content: serde_json::json!({ "error": message.to_string() }).to_string(),
            finding: None,
        }
    }
}

/// A tool with typed arguments.
#[async_trait]
pub trait Tool: Send + Sync + Debug + 'static {
    /// What the model sends; its schema is the tool's parameters.
    type Args: JsonSchema + DeserializeOwned + Send;
    /// What a call reports besides its text (see [`ToolResult::finding`]).
    type Finding: Send;
    const NAME: &'static str;
    const DESCRIPTION: &'static str;

    /// Runs the call; an `Err` is a message for the model.
    async fn run(&self, args: Self::Args) -> Result<ToolResult<Self::Finding>, String>;
}

/// A tool with its arguments still text: what a [`Toolbox`] holds.
#[async_trait]
trait AnyTool<F>: Send + Sync + Debug {
    fn name(&self) -> &'static str;
    fn definition(&self) -> ChatCompletionTools;
    async fn call(&self, arguments: &str) -> ToolResult<F>;
}

#[async_trait]
impl<T: Tool> AnyTool<T::Finding> for T {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn definition(&self) -> ChatCompletionTools {
        ChatCompletionTools::Function(ChatCompletionTool {
            function: FunctionObject {
                name: T::NAME.into(),
                description: Some(T::DESCRIPTION.into()),
                parameters: Some(crate::strict_schema::strict_schema_for::<T::Args>()),
                strict: Some(true),
            },
        })
    }

    async fn call(&self, arguments: &str) -> ToolResult<T::Finding> {
        let args = match serde_json::from_str::<T::Args>(arguments) {
            Ok(args) => args,
            Err(e) => return ToolResult::error(format!("invalid arguments for {}: {e}", T::NAME)),
        };
        self.run(args).await.unwrap_or_else(ToolResult::error)
    }
}

/// The tools one agent may call, each reporting findings of kind `F`.
#[derive(Debug)]
pub struct Toolbox<F> {
    tools: Vec<Arc<dyn AnyTool<F>>>,
}

impl<F> Clone for Toolbox<F> {
    fn clone(&self) -> Self {
        Self {
            tools: self.tools.clone(),
        }
    }
}

impl<F: Send + 'static> Toolbox<F> {
    /// No tools.
    pub fn none() -> Self {
        Self { tools: Vec::new() }
    }

    pub fn with(mut self, tool: impl Tool<Finding = F>) -> Self {
        self.tools.push(Arc::new(tool));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.tools.iter().map(|t| t.name()).collect()
    }

    /// The definitions sent to the model (`None` without tools).
    pub fn definitions(&self) -> Option<Vec<ChatCompletionTools>> {
        (!self.is_empty()).then(|| self.tools.iter().map(|t| t.definition()).collect())
    }

    /// Runs one call. Failures (unknown tool, bad arguments, the tool's own) come back as a JSON
    /// error for the model to read.
    pub async fn call(&self, name: &str, arguments: &str) -> ToolResult<F> {
        match self.tools.iter().find(|t| t.name() == name) {
            Some(tool) => tool.call(arguments).await,
            None if self.is_empty() => {
                ToolResult::error(format!("no tools are available; `{name}` was not run"))
            }
            None => ToolResult::error(format!(
                "unknown tool `{name}`: only {} are available",
                self.names().join(" and ")
            )),
        }
    }
}
