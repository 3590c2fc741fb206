//! Which model the agents talk to: the LLM provider the environment configures, or else the
//! built-in demo model, started here on a loopback port so that the very same client path runs.

use anyhow::Context;
use travel_agents::setup::{self, ConfiguredAgents};
use travel_demo_model::{DemoModel, DemoModelConfig};

use crate::serve::Settings;

/// The agents, and the demo model they talk to when no provider is configured (it lives as long
/// as this value).
#[derive(Debug)]
pub struct Agents {
    pub configured: ConfiguredAgents,
    pub demo: Option<DemoModel>,
}

/// Reads `settings` (the service's environment; see the README's configuration table) and
/// builds the agents.
pub async fn agents_from(settings: Settings<'_>) -> anyhow::Result<Agents> {
    let var = |name: &str| settings(name).filter(|v| !v.trim().is_empty());
    let (llm, demo) = match setup::settings_from(settings)? {
        Some(llm) => (llm, None),
        None => {
            let config = DemoModelConfig::from_env_with(var)
                .map_err(anyhow::Error::msg)
                .context("the demo model's settings")?;
            if !config.faults.is_empty() {
                tracing::warn!(
                    faults = config.faults.len(),
                    "DEMO_MODEL_FAULTS is set: the demo model will fail on purpose as it says"
                );
            }
            let demo = DemoModel::start(config)
                .await
                .context("the demo model could not start")?;
            let mut llm = demo.settings();
            llm.apply_tuning(&var)?;
            tracing::warn!(base_url = %demo.base_url(), "no LLM provider configured: using the built-in demo model; plans are marked demo");
            (llm, Some(demo))
        }
    };
    Ok(Agents {
        configured: setup::agents_with(llm, settings).await?,
        demo,
    })
}
