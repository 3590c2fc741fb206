//! Building the agents from settings and the environment: the Entra credential when needed and
//! the rates provider. Which model to talk to when nothing is configured (the built-in demo
//! model) is the binary's choice, not this crate's.

use std::sync::Arc;

use travel_platform::azure::{CredentialChoice, EntraTokenSource};

use crate::TravelAgents;
use crate::currency::{HttpRates, RatesProvider, ReferenceRates};
use crate::llm::{AZURE_OPENAI_SCOPE, LlmClient, LlmSettings};

/// The agents, ready to run.
#[derive(Debug, Clone)]
pub struct ConfiguredAgents {
    pub agents: TravelAgents,
    pub llm: LlmClient,
    pub rates: Arc<dyn RatesProvider>,
}

/// Why the agents could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("LLM configuration: {0}")]
    Settings(#[from] crate::llm::SettingsError),
    #[error("no Microsoft Entra credential for Azure OpenAI ({choice}): {message}")]
    Credential { choice: String, message: String },
    #[error(transparent)]
    Llm(#[from] crate::error::LlmError),
}

/// The LLM provider the settings `var` reads configure (see the README's configuration table;
/// the service reads the environment), or `None` when none is.
pub fn settings_from(
    var: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Option<LlmSettings>, SetupError> {
    Ok(LlmSettings::from_env_with(var)?)
}

/// Builds the agents over `settings`: signs in to Microsoft Entra first when the provider needs
/// it, and reads the rates provider (`RATES_URL`) and the credential's settings through `var`.
pub async fn agents_with(
    settings: LlmSettings,
    var: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<ConfiguredAgents, SetupError> {
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let http = travel_platform::http::shared_client();
    let entra = if settings.provider.uses_entra() {
        Some(entra_tokens(http.clone(), CredentialChoice::from_env_with(var)).await?)
    } else {
        None
    };
    tracing::info!(provider = settings.provider.label(), model = %settings.model, "LLM configured");
    let llm = LlmClient::new(settings, http.clone(), entra)?;
    let rates: Arc<dyn RatesProvider> = match var("RATES_URL") {
        Some(url) => Arc::new(HttpRates::new(url, http)),
        None => Arc::new(ReferenceRates),
    };
    Ok(ConfiguredAgents {
        agents: TravelAgents::new(llm.clone(), rates.clone()),
        llm,
        rates,
    })
}

/// The Microsoft Entra credential `choice`, checked by fetching a token.
async fn entra_tokens(
    http: reqwest::Client,
    choice: CredentialChoice,
) -> Result<EntraTokenSource, SetupError> {
    tracing::info!(credential = %choice.describe(), "Azure OpenAI authenticates with Microsoft Entra");
    let failed = |message: String| SetupError::Credential {
        choice: choice.describe(),
        message,
    };
    let credential = choice.build(http).map_err(|e| failed(e.to_string()))?;
    let tokens = EntraTokenSource::new(credential, AZURE_OPENAI_SCOPE);
    tokens.token().await.map_err(|e| failed(e.to_string()))?;
    Ok(tokens)
}
