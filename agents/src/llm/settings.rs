//! Which LLM provider to use, and how patiently, read from the environment.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::roster::AgentName;

/// Where the chat completions go.
#[derive(Clone, PartialEq, Eq)]
pub enum Provider {
    /// OpenAI, or any server that speaks its Chat Completions API (Ollama, vLLM, llama.cpp).
    OpenAi {
        base_url: String,
        api_key: Option<String>,
    },
    /// Azure OpenAI: a deployment of a resource, with an API key or a Microsoft Entra token.
    AzureOpenAi {
        endpoint: String,
        deployment: String,
        api_version: String,
        api_key: Option<String>,
    },
    /// The built-in demo model on a loopback port.
    Demo { base_url: String },
}

impl std::fmt::Debug for Provider {
    // Never prints a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provider::OpenAi { base_url, api_key } => f
                .debug_struct("OpenAi")
                .field("base_url", base_url)
                .field("api_key", &api_key.as_ref().map(|_| "<set>"))
                .finish(),
            Provider::AzureOpenAi {
                endpoint,
                deployment,
                api_version,
                api_key,
            } => f
                .debug_struct("AzureOpenAi")
                .field("endpoint", endpoint)
                .field("deployment", deployment)
                .field("api_version", api_version)
                .field(
                    "auth",
                    &if api_key.is_some() {
                        "api key"
                    } else {
                        "Microsoft Entra"
                    },
                )
                .finish(),
            Provider::Demo { base_url } => {
                f.debug_struct("Demo").field("base_url", base_url).finish()
            }
        }
    }
}

/// The model name the built-in demo model reports.
pub const DEMO_MODEL_NAME: &str = "travel-demo";
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";
/// The Azure OpenAI data-plane version used (GA, supports strict structured output).
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";
/// The Entra scope of Azure OpenAI.
pub const AZURE_OPENAI_SCOPE: &str = "https://cognitiveservices.azure.com/.default";

impl Provider {
    /// A short name for logs, errors and threads.
    pub fn label(&self) -> &'static str {
        match self {
            Provider::OpenAi { base_url, .. }
                if base_url.trim_end_matches('/') == OPENAI_BASE_URL =>
            {
                "openai"
            }
            Provider::OpenAi { .. } => "openai-compatible",
            Provider::AzureOpenAi { .. } => "azure-openai",
            Provider::Demo { .. } => "demo",
        }
    }

    /// True when an Azure deployment must be reached with an Entra token.
    pub fn uses_entra(&self) -> bool {
        matches!(self, Provider::AzureOpenAi { api_key: None, .. })
    }
}

/// How an agent with tools asks: its rounds' shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounds {
    /// Every round offers the tools and asks for the answer's schema together: one round fewer
    /// (OpenAI, Azure OpenAI).
    Together,
    /// While tools may still be called, rounds offer them without the answer's schema; the
    /// answer comes in a round of its own, with the schema and no tools. For servers that build
    /// a grammar from the schema alone when one is sent (llama.cpp, Ollama, vLLM): with both,
    /// their model can never call a tool.
    ToolsFirst,
}

impl Rounds {
    /// The setting's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Rounds::Together => "together",
            Rounds::ToolsFirst => "tools-first",
        }
    }

    /// The shape a provider gets unless `LLM_ROUNDS` says otherwise: tools first on any server
    /// other than OpenAI's, Azure's and the demo model.
    pub fn default_for(provider: &Provider) -> Self {
        match provider.label() {
            "openai-compatible" => Rounds::ToolsFirst,
            _ => Rounds::Together,
        }
    }
}

/// The most tokens each agent's reply may have (`max_tokens` / `max_completion_tokens`): where
/// set, for all agents or per agent; otherwise the agent's own default for the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputCaps {
    pub all: Option<u32>,
    pub by_agent: BTreeMap<AgentName, u32>,
}

impl OutputCaps {
    /// The cap set for `agent`, if any.
    pub fn for_agent(&self, agent: AgentName) -> Option<u32> {
        self.by_agent.get(&agent).copied().or(self.all)
    }

    /// `2000`, or `itinerary=6000,destination=1500` (agents not named keep their defaults).
    fn parse(value: &str) -> Result<Self, String> {
        let number = |n: &str| {
            n.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("`{n}` is not a positive whole number of tokens"))
        };
        if !value.contains('=') {
            return Ok(Self {
                all: Some(number(value)?),
                by_agent: BTreeMap::new(),
            });
        }
        let mut caps = Self::default();
        for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, n) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not agent=tokens"))?;
            let agent = AgentName::parse(name.trim()).ok_or_else(|| {
                let names: Vec<&str> = AgentName::ALL.iter().map(|a| a.as_str()).collect();
                format!("`{}` is not an agent ({})", name.trim(), names.join(", "))
            })?;
            caps.by_agent.insert(agent, number(n)?);
        }
        Ok(caps)
    }
}

/// Everything the LLM client needs to know.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub provider: Provider,
    /// The model (for Azure, the deployment name).
    pub model: String,
    /// How long one request may take, headers and body.
    pub timeout: Duration,
    /// How many rounds of tool calls an agent may make before it fails.
    pub max_tool_rounds: usize,
    /// How many calls to the provider may be in flight at once (the provider's rate-limit
    /// headers hold calls back before this does, see [`super::admission`]).
    pub max_in_flight: usize,
    /// How an agent with tools shapes its rounds.
    pub rounds: Rounds,
    /// The replies' token caps that were set.
    pub output_caps: OutputCaps,
    /// Whether a reply is streamed while someone follows its trip.
    pub streaming: Streaming,
}

/// When a reply is asked for as a stream (`LLM_STREAM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Streaming {
    /// A round streams when someone follows the trip as it starts (its text, its tool calls and
    /// the answer's list elements go to them as they come); otherwise it is asked whole.
    #[default]
    Followed,
    /// Never: for a server that cannot stream, or that leaves the usage out of a stream.
    Off,
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: String,
}

impl LlmSettings {
    /// Room added to an agent's default output cap on a reasoning model, whose hidden reasoning
    /// counts against the same cap.
    pub const REASONING_ALLOWANCE: u32 = 8_000;

    /// The room a reasoning model needs besides its answer, guessed from its name (OpenAI's
    /// o-series and GPT-5): an Azure deployment named otherwise sets `AGENT_MAX_OUTPUT_TOKENS`.
    pub fn reasoning_allowance(&self) -> u32 {
        let model = self.model.to_ascii_lowercase();
        let reasoning = ["o1", "o3", "o4", "gpt-5"].iter().any(|family| {
            model
                .strip_prefix(family)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        });
        if reasoning {
            Self::REASONING_ALLOWANCE
        } else {
            0
        }
    }

    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
    pub const DEFAULT_MAX_TOOL_ROUNDS: usize = 6;
    /// A call waits on the network, not on this process: thousands fit at once. What the
    /// provider allows is told by its rate-limit headers, which hold calls back well before this.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 4_000;

    /// Settings for `provider` with every default.
    pub fn new(provider: Provider, model: impl Into<String>) -> Self {
        Self {
            rounds: Rounds::default_for(&provider),
            provider,
            model: model.into(),
            timeout: Self::DEFAULT_TIMEOUT,
            max_tool_rounds: Self::DEFAULT_MAX_TOOL_ROUNDS,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            output_caps: OutputCaps::default(),
            streaming: Streaming::default(),
        }
    }

    /// Reads the provider from the environment; `None` when no provider is configured (then the
    /// caller starts the demo model).
    ///
    /// A demo model running elsewhere when `DEMO_MODEL_URL` is set; Azure OpenAI when
    /// `AZURE_OPENAI_ENDPOINT` is set; OpenAI when `OPENAI_API_KEY` is set; an
    /// OpenAI-compatible server when only `OPENAI_BASE_URL` is set.
    pub fn from_env_with(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, SettingsError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let provider = if let Some(base_url) = get("DEMO_MODEL_URL") {
            check_url("DEMO_MODEL_URL", &base_url)?;
            Provider::Demo { base_url }
        } else if let Some(endpoint) = get("AZURE_OPENAI_ENDPOINT") {
            check_url("AZURE_OPENAI_ENDPOINT", &endpoint)?;
            let deployment = get("AZURE_OPENAI_DEPLOYMENT").ok_or(SettingsError {
                variable: "AZURE_OPENAI_DEPLOYMENT",
                problem: "must name the model deployment when AZURE_OPENAI_ENDPOINT is set".into(),
            })?;
            Provider::AzureOpenAi {
                endpoint,
                deployment,
                api_version: get("AZURE_OPENAI_API_VERSION")
                    .unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.into()),
                api_key: get("AZURE_OPENAI_API_KEY"),
            }
        } else if get("OPENAI_API_KEY").is_some() || get("OPENAI_BASE_URL").is_some() {
            let base_url = get("OPENAI_BASE_URL").unwrap_or_else(|| OPENAI_BASE_URL.into());
            check_url("OPENAI_BASE_URL", &base_url)?;
            Provider::OpenAi {
                base_url,
                api_key: get("OPENAI_API_KEY"),
            }
        } else {
            return Ok(None);
        };
        let model = match &provider {
            Provider::AzureOpenAi { deployment, .. } => deployment.clone(),
            Provider::Demo { .. } => DEMO_MODEL_NAME.to_owned(),
            _ => get("OPENAI_MODEL").unwrap_or_else(|| DEFAULT_OPENAI_MODEL.into()),
        };
        let mut settings = Self::new(provider, model);
        settings.apply_tuning(&get)?;
        Ok(Some(settings))
    }

    /// Reads the timeouts and limits (`LLM_TIMEOUT_SECS`, `AGENT_MAX_TOOL_ROUNDS`,
    /// `LLM_MAX_IN_FLIGHT`, `AGENT_MAX_OUTPUT_TOKENS`), the rounds' shape (`LLM_ROUNDS`) and
    /// streaming (`LLM_STREAM`). The client does not retry (the workflow does, `LLM_MAX_ATTEMPTS`):
    /// the settings of earlier releases that made it are refused rather than ignored.
    pub fn apply_tuning(
        &mut self,
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), SettingsError> {
        for variable in ["LLM_MAX_RETRIES", "LLM_RETRY_AFTER_CAP_SECS"] {
            if get(variable).is_some() {
                return Err(SettingsError {
                    variable,
                    problem: "no longer read: the workflow retries an agent call, as LLM_MAX_ATTEMPTS says, and waits out every Retry-After durably; unset it".into(),
                });
            }
        }
        if let Some(secs) = number(get, "LLM_TIMEOUT_SECS")? {
            self.timeout = Duration::from_secs_f64(secs);
        }
        if let Some(n) = number(get, "AGENT_MAX_TOOL_ROUNDS")? {
            self.max_tool_rounds = (n as usize).max(1);
        }
        if let Some(n) = number(get, "LLM_MAX_IN_FLIGHT")? {
            self.max_in_flight = (n as usize).max(1);
        }
        let streaming = [("followed", Streaming::Followed), ("off", Streaming::Off)];
        if let Some(streaming) = one_of(get, "LLM_STREAM", &streaming)? {
            self.streaming = streaming;
        }
        let rounds = [
            ("together", Rounds::Together),
            ("tools-first", Rounds::ToolsFirst),
        ];
        if let Some(rounds) = one_of(get, "LLM_ROUNDS", &rounds)? {
            self.rounds = rounds;
        }
        if let Some(value) = get("AGENT_MAX_OUTPUT_TOKENS") {
            self.output_caps = OutputCaps::parse(&value).map_err(|problem| SettingsError {
                variable: "AGENT_MAX_OUTPUT_TOKENS",
                problem,
            })?;
        }
        Ok(())
    }
}

/// The choice `variable` names, when set: one of `choices` by its name.
fn one_of<T: Copy>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    choices: &[(&str, T)],
) -> Result<Option<T>, SettingsError> {
    let Some(value) = get(variable) else {
        return Ok(None);
    };
    match choices.iter().find(|(name, _)| *name == value) {
        Some((_, choice)) => Ok(Some(*choice)),
        None => {
            let names: Vec<String> = choices
                .iter()
                .map(|(name, _)| format!("`{name}`"))
                .collect();
            Err(SettingsError {
                variable,
                problem: format!("`{value}` is not one of {}", names.join(", ")),
            })
        }
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<f64>, SettingsError> {
    get(variable)
        .map(|v| {
            v.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or(SettingsError {
                    variable,
                    problem: format!("`{v}` is not a non-negative number"),
                })
        })
        .transpose()
}

fn check_url(variable: &'static str, value: &str) -> Result<(), SettingsError> {
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        _ => Err(SettingsError {
            variable,
            problem: format!("`{value}` is not an http(s) URL"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Option<LlmSettings>, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LlmSettings::from_env_with(|n| map.get(n).cloned())
    }

    #[test]
    fn nothing_configured_means_the_demo_model() {
        assert!(read(&[]).unwrap().is_none());
    }

    #[test]
    fn openai_with_defaults_and_compatible_servers_by_base_url() {
        let openai = read(&[("OPENAI_API_KEY", "sk-test")]).unwrap().unwrap();
        assert_eq!(openai.model, "gpt-4o-mini");
        assert_eq!(openai.provider.label(), "openai");
        let ollama = read(&[
            ("OPENAI_BASE_URL", "http://localhost:11434/v1"),
            ("OPENAI_MODEL", "llama3.1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(ollama.provider.label(), "openai-compatible");
        assert_eq!(ollama.model, "llama3.1");
    }

    #[test]
    fn azure_needs_a_deployment_and_falls_back_to_entra_without_a_key() {
        let err = read(&[("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com")]).unwrap_err();
        assert_eq!(err.variable, "AZURE_OPENAI_DEPLOYMENT");
        let azure = read(&[
            ("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com"),
            ("AZURE_OPENAI_DEPLOYMENT", "gpt-4o"),
        ])
        .unwrap()
        .unwrap();
        assert!(azure.provider.uses_entra());
        assert_eq!(azure.model, "gpt-4o");
        assert!(
            !format!(
                "{:?}",
                read(&[
                    ("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com"),
                    ("AZURE_OPENAI_DEPLOYMENT", "gpt-4o"),
                    ("AZURE_OPENAI_API_KEY", "secret-key"),
                ])
                .unwrap()
                .unwrap()
            )
            .contains("secret-key")
        );
    }

    #[test]
    fn tuning_values_are_checked() {
        let err = read(&[("OPENAI_API_KEY", "k"), ("LLM_TIMEOUT_SECS", "soon")]).unwrap_err();
        assert_eq!(err.variable, "LLM_TIMEOUT_SECS");
        let s = read(&[
            ("OPENAI_API_KEY", "k"),
            ("AGENT_MAX_TOOL_ROUNDS", "2"),
            ("LLM_MAX_IN_FLIGHT", "300"),
            ("LLM_STREAM", "off"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.max_tool_rounds, 2);
        assert_eq!(s.max_in_flight, 300);
        assert_eq!(s.streaming, Streaming::Off);
        let err = read(&[("OPENAI_API_KEY", "k"), ("LLM_STREAM", "yes")]).unwrap_err();
        assert_eq!(err.variable, "LLM_STREAM");
        // The client's retries of earlier releases: refused, not silently ignored.
        for gone in ["LLM_MAX_RETRIES", "LLM_RETRY_AFTER_CAP_SECS"] {
            let err = read(&[("OPENAI_API_KEY", "k"), (gone, "3")]).unwrap_err();
            assert_eq!(err.variable, gone);
        }
    }

    #[test]
    fn rounds_default_by_provider_and_can_be_chosen() {
        let openai = read(&[("OPENAI_API_KEY", "k")]).unwrap().unwrap();
        assert_eq!(openai.rounds, Rounds::Together);
        let llama = read(&[("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")])
            .unwrap()
            .unwrap();
        assert_eq!(llama.rounds, Rounds::ToolsFirst);
        let azure = read(&[
            ("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com"),
            ("AZURE_OPENAI_DEPLOYMENT", "gpt-4o"),
            ("LLM_ROUNDS", "tools-first"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(azure.rounds, Rounds::ToolsFirst);
        let err = read(&[("OPENAI_API_KEY", "k"), ("LLM_ROUNDS", "both")]).unwrap_err();
        assert_eq!(err.variable, "LLM_ROUNDS");
    }

    #[test]
    fn reasoning_models_get_room_to_reason_in_their_default_caps() {
        let with = |model: &str| {
            LlmSettings::new(
                Provider::OpenAi {
                    base_url: OPENAI_BASE_URL.into(),
                    api_key: None,
                },
                model,
            )
            .reasoning_allowance()
        };
        for model in ["o4-mini", "o3", "gpt-5", "gpt-5-mini", "o1-2024-12-17"] {
            assert_eq!(with(model), LlmSettings::REASONING_ALLOWANCE, "{model}");
        }
        for model in [
            "gpt-4o-mini",
            "gpt-4.1",
            "llama3.1:8b",
            "o4mini-ish",
            "travel-demo",
        ] {
            assert_eq!(with(model), 0, "{model}");
        }
    }

    #[test]
    fn output_caps_for_all_agents_or_each() {
        let all = read(&[("OPENAI_API_KEY", "k"), ("AGENT_MAX_OUTPUT_TOKENS", "2000")])
            .unwrap()
            .unwrap();
        assert_eq!(all.output_caps.for_agent(AgentName::Itinerary), Some(2000));
        let each = read(&[
            ("OPENAI_API_KEY", "k"),
            (
                "AGENT_MAX_OUTPUT_TOKENS",
                "itinerary=6000, destination=1500",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(each.output_caps.for_agent(AgentName::Itinerary), Some(6000));
        assert_eq!(
            each.output_caps.for_agent(AgentName::Destination),
            Some(1500)
        );
        assert_eq!(each.output_caps.for_agent(AgentName::LocalTips), None);
        for bad in ["0", "lots", "itinerary=many", "hotel=100", "itinerary"] {
            let err = read(&[("OPENAI_API_KEY", "k"), ("AGENT_MAX_OUTPUT_TOKENS", bad)]);
            assert_eq!(
                err.as_ref().map(|_| ()).unwrap_err().variable,
                "AGENT_MAX_OUTPUT_TOKENS",
                "{bad}"
            );
        }
    }
}
