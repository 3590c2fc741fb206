//! One client path for every provider: OpenAI, Azure OpenAI (key or Entra token), any
//! OpenAI-compatible server, and the built-in demo model. All of them go through async-openai
//! over the process' shared connection pool and [`transport::ResilientTransport`].

pub mod admission;
mod settings;
mod streamed;
mod transport;

use std::sync::Arc;

use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::traits::RequestOptionsBuilder;
use async_openai::types::chat::{
    ChatCompletionStreamOptions, ChatCompletionStreamResponseDelta, CreateChatCompletionRequest,
    CreateChatCompletionResponse,
};
use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::SecretString;
use travel_platform::azure::EntraTokenSource;

pub use admission::AdmissionStats;
pub use settings::{
    AZURE_OPENAI_SCOPE, DEFAULT_AZURE_API_VERSION, DEFAULT_OPENAI_MODEL, DEMO_MODEL_NAME,
    LlmSettings, OPENAI_BASE_URL, OutputCaps, Provider, Rounds, SettingsError, Streaming,
};
pub use transport::ResilientTransport;

use admission::Admission;

use crate::error::LlmError;

/// async-openai's view of where requests go and which headers they carry.
#[derive(Debug, Clone)]
struct ProviderConfig {
    provider: Provider,
    api_key: SecretString,
}

impl Config for ProviderConfig {
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let key = match &self.provider {
            Provider::OpenAi { api_key, .. } => api_key
                .as_deref()
                .map(|k| (AUTHORIZATION, format!("Bearer {k}"))),
            Provider::AzureOpenAi { api_key, .. } => api_key.as_deref().map(|k| {
                (
                    reqwest::header::HeaderName::from_static("api-key"),
                    k.to_owned(),
                )
            }),
            Provider::Demo { .. } => None,
        };
        if let Some((name, value)) = key
            && let Ok(mut value) = HeaderValue::from_str(&value)
        {
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        headers
    }

    fn url(&self, path: &str) -> String {
        match &self.provider {
            Provider::OpenAi { base_url, .. } | Provider::Demo { base_url } => {
                format!("{}{path}", base_url.trim_end_matches('/'))
            }
            Provider::AzureOpenAi {
                endpoint,
                deployment,
                ..
            } => {
                format!(
                    "{}/openai/deployments/{deployment}{path}",
                    endpoint.trim_end_matches('/')
                )
            }
        }
    }

    fn query(&self) -> Vec<(&str, &str)> {
        match &self.provider {
            Provider::AzureOpenAi { api_version, .. } => {
                vec![("api-version", api_version.as_str())]
            }
            _ => vec![],
        }
    }

    fn api_base(&self) -> &str {
        match &self.provider {
            Provider::OpenAi { base_url, .. } | Provider::Demo { base_url } => base_url,
            Provider::AzureOpenAi { endpoint, .. } => endpoint,
        }
    }

    fn api_key(&self) -> &SecretString {
        &self.api_key
    }
}

/// A chat-completions client for one provider and model. Cheap to clone.
#[derive(Clone)]
pub struct LlmClient {
    inner: Arc<async_openai::Client<ProviderConfig>>,
    settings: Arc<LlmSettings>,
    admission: Arc<Admission>,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("settings", &self.settings)
            .finish()
    }
}

impl LlmClient {
    /// A client over `http` (pass [`travel_platform::http::shared_client`] so every agent shares one
    /// pool). `entra` must be given for Azure OpenAI without a key.
    pub fn new(
        settings: LlmSettings,
        http: reqwest::Client,
        entra: Option<EntraTokenSource>,
    ) -> Result<Self, LlmError> {
        let provider = settings.provider.label().to_owned();
        let admission = Arc::new(Admission::new(&provider, settings.max_in_flight));
        if settings.provider.uses_entra() && entra.is_none() {
            return Err(LlmError::Setup {
                provider,
                message:
                    "Azure OpenAI without AZURE_OPENAI_API_KEY needs a Microsoft Entra credential"
                        .into(),
            });
        }
        let transport = ResilientTransport {
            http,
            provider,
            timeout: settings.timeout,
            entra: if settings.provider.uses_entra() {
                entra
            } else {
                None
            },
            admission: admission.clone(),
        };
        let config = ProviderConfig {
            provider: settings.provider.clone(),
            api_key: SecretString::default(),
        };
        let inner = async_openai::Client::with_config(config).with_http_service(transport);
        Ok(Self {
            inner: Arc::new(inner),
            settings: Arc::new(settings),
            admission,
        })
    }

    /// The calls to the provider in flight, at their peak, and held back for its budget.
    pub fn admission(&self) -> AdmissionStats {
        self.admission.stats()
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// `openai`, `azure-openai`, `openai-compatible` or `demo`.
    pub fn provider_label(&self) -> &'static str {
        self.settings.provider.label()
    }

    pub fn model(&self) -> &str {
        &self.settings.model
    }

    pub fn is_demo(&self) -> bool {
        matches!(self.settings.provider, Provider::Demo { .. })
    }

    /// Sends one chat completion request (retried as the transport decides).
    pub async fn complete(
        &self,
        request: CreateChatCompletionRequest,
    ) -> Result<CreateChatCompletionResponse, LlmError> {
        self.inner
            .chat()
            .create(request)
            .await
            .map_err(|e| self.classify(e))
    }

    /// Sends one chat completion request with `stream`, handing `seen` each delta of the reply
    /// as it arrives, and answers the whole reply put together, usage included (asked for with
    /// `stream_options.include_usage`). The whole reply must arrive within the timeout, counted
    /// from when the request is sent (the transport cuts its body there).
    pub async fn complete_streamed(
        &self,
        mut request: CreateChatCompletionRequest,
        seen: &mut (dyn FnMut(&ChatCompletionStreamResponseDelta) + Send),
    ) -> Result<CreateChatCompletionResponse, LlmError> {
        let started = std::time::Instant::now();
        request.stream_options = Some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        });
        let chat = self
            .inner
            .chat()
            .header(reqwest::header::ACCEPT, transport::EVENT_STREAM)
            .map_err(|e| self.classify(e))?;
        let mut chunks = chat
            .create_stream(request)
            .await
            .map_err(|e| self.classify(e))?;
        let mut reply = streamed::StreamedReply::default();
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(chunk) => reply.add(chunk, seen),
                // Broken off at the deadline: the transport cut it (its message does not come
                // through async-openai's stream, whose errors are text).
                Err(OpenAIError::StreamError(_)) if started.elapsed() >= self.settings.timeout => {
                    let error = LlmError::Timeout {
                        provider: self.provider_label().to_owned(),
                        after: self.settings.timeout,
                    };
                    crate::telemetry::llm_error(self.provider_label(), &error);
                    return Err(error);
                }
                Err(e) => {
                    let error = self.classify(e);
                    crate::telemetry::llm_error(self.provider_label(), &error);
                    return Err(error);
                }
            }
        }
        Ok(reply.finish())
    }

    fn classify(&self, error: OpenAIError) -> LlmError {
        let provider = self.provider_label().to_owned();
        match error {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<LlmError>() {
                Ok(llm) => *llm,
                Err(other) => LlmError::Setup {
                    provider,
                    message: other.to_string(),
                },
            },
            OpenAIError::JSONDeserialize(e, content) => LlmError::MalformedReply {
                provider,
                message: e.to_string(),
                reply_start: crate::text_start(&content, 200),
            },
            // The reply broke off (the connection, or a chunk the SSE parser could not read).
            OpenAIError::StreamError(e) => LlmError::Unreachable {
                provider,
                message: format!("the streamed reply broke off: {e}"),
            },
            OpenAIError::ApiError(api) => LlmError::Status {
                provider,
                status: api.status_code.as_u16(),
                code: api.api_error.code.clone(),
                message: api.api_error.message.clone(),
            },
            other => LlmError::Setup {
                provider,
                message: other.to_string(),
            },
        }
    }
}
