//! Building the agents from the environment: the provider, the Entra credential when needed,
//! the demo model when nothing is configured, and the rates provider.

use std::sync::Arc;

use travel_infra::azure::{CredentialChoice, EntraTokenSource};

use crate::TravelAgents;
use crate::currency::{HttpRates, RatesProvider, ReferenceRates};
use crate::demo_model::{DemoModel, DemoModelConfig};
use crate::llm::{AZURE_OPENAI_SCOPE, LlmClient, LlmSettings};

/// The agents, ready to run, and the demo model they talk to when no provider is configured
/// (keep it alive as long as the agents).
#[derive(Debug)]
pub struct ConfiguredAgents {
    pub agents: TravelAgents,
    pub llm: LlmClient,
    pub rates: Arc<dyn RatesProvider>,
    pub demo: Option<DemoModel>,
}

/// Why the agents could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("LLM configuration: {0}")]
    Settings(#[from] crate::llm::SettingsError),
    #[error("the demo model could not start: {0}")]
    Demo(String),
    #[error("no Microsoft Entra credential for Azure OpenAI ({choice}): {message}")]
    Credential { choice: String, message: String },
    #[error(transparent)]
    Llm(#[from] crate::error::LlmError),
}

/// Reads the environment (see the README's configuration table) and builds the agents.
pub async fn agents_from_env() -> Result<ConfiguredAgents, SetupError> {
    let var = |name: &str| std::env::var(name).ok();
    let http = travel_infra::http::shared_client();
    let (settings, demo) = match LlmSettings::from_env_with(var)? {
        Some(settings) => (settings, None),
        None => {
            let config = DemoModelConfig::from_env_with(var).map_err(SetupError::Demo)?;
            let demo = DemoModel::start(config)
                .await
                .map_err(|e| SetupError::Demo(e.to_string()))?;
            let mut settings = demo.settings();
            settings.apply_tuning(&|name: &str| var(name).filter(|v| !v.trim().is_empty()))?;
            tracing::warn!(base_url = %demo.base_url(), "no LLM provider configured: using the built-in demo model; plans are marked demo");
            (settings, Some(demo))
        }
    };
    let entra = if settings.provider.uses_entra() {
        let choice = CredentialChoice::from_env();
        tracing::info!(credential = %choice.describe(), "Azure OpenAI authenticates with Microsoft Entra");
        let credential = choice
            .build(http.clone())
            .map_err(|e| SetupError::Credential {
                choice: choice.describe(),
                message: e.to_string(),
            })?;
        let tokens = EntraTokenSource::new(credential, AZURE_OPENAI_SCOPE);
        tokens.token().await.map_err(|e| SetupError::Credential {
            choice: choice.describe(),
            message: e.to_string(),
        })?;
        Some(tokens)
    } else {
        None
    };
    tracing::info!(provider = settings.provider.label(), model = %settings.model, "LLM configured");
    let llm = LlmClient::new(settings, http.clone(), entra)?;
    let rates: Arc<dyn RatesProvider> = match var("RATES_URL").filter(|v| !v.trim().is_empty()) {
        Some(url) => Arc::new(HttpRates::new(url, http)),
        None => Arc::new(ReferenceRates),
    };
    Ok(ConfiguredAgents {
        agents: TravelAgents::new(llm.clone(), rates.clone()),
        llm,
        rates,
        demo,
    })
}
