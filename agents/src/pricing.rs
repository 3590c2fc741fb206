//! What the model's tokens cost: a price table per model (input, cached input and output, in US
//! dollars per million tokens), built in for the common OpenAI models and overridable with
//! `LLM_PRICES` (JSON) or `LLM_PRICES_FILE` (a JSON file). The demo model costs nothing; a model
//! the table does not know has no cost (`None`), rather than a made-up one.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AgentThread, TokenUsage};

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    /// Input tokens served from the provider's prompt cache (the input price when absent).
    #[serde(default)]
    pub cached_input: Option<f64>,
    pub output: f64,
}

impl Price {
    /// What `usage` costs at this price, in US dollars.
    pub fn cost(&self, usage: &TokenUsage) -> f64 {
        let cached = usage.cached_tokens.min(usage.prompt_tokens);
        let fresh = usage.prompt_tokens - cached;
        (fresh as f64 * self.input
            + cached as f64 * self.cached_input.unwrap_or(self.input)
            + usage.completion_tokens as f64 * self.output)
            / 1_000_000.0
    }
}

/// Built-in list prices (OpenAI's standard tier, US dollars per million tokens, as published in
/// 2025). Azure OpenAI bills its global deployments the same; set `LLM_PRICES` for others.
const BUILT_IN: &[(&str, f64, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.075, 0.60),
    ("gpt-4o", 2.50, 1.25, 10.00),
    ("gpt-4.1", 2.00, 0.50, 8.00),
    ("gpt-4.1-mini", 0.40, 0.10, 1.60),
    ("gpt-4.1-nano", 0.10, 0.025, 0.40),
    ("o4-mini", 1.10, 0.275, 4.40),
    ("gpt-5", 1.25, 0.125, 10.00),
    ("gpt-5-mini", 0.25, 0.025, 2.00),
    ("gpt-5-nano", 0.05, 0.005, 0.40),
];

/// The price of each model, by the name the provider reports (or the deployment's name).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl Default for PriceTable {
    fn default() -> Self {
        let mut prices: BTreeMap<String, Price> = BUILT_IN
            .iter()
            .map(|&(model, input, cached, output)| {
                let price = Price {
                    input,
                    cached_input: Some(cached),
                    output,
                };
                (model.to_owned(), price)
            })
            .collect();
        let free = Price {
            input: 0.0,
            cached_input: None,
            output: 0.0,
        };
        prices.insert(crate::llm::DEMO_MODEL_NAME.to_owned(), free);
        Self { prices }
    }
}

impl PriceTable {
    /// The built-in table with `LLM_PRICES` (a JSON object of model to price) and then the file
    /// `LLM_PRICES_FILE` laid over it, read through `var`.
    pub fn from_env_with(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut table = Self::default();
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(json) = set("LLM_PRICES") {
            table
                .lay_over(&json)
                .map_err(|e| format!("LLM_PRICES: {e}"))?;
        }
        if let Some(path) = set("LLM_PRICES_FILE") {
            let json = std::fs::read_to_string(&path)
                .map_err(|e| format!("LLM_PRICES_FILE {path}: {e}"))?;
            table
                .lay_over(&json)
                .map_err(|e| format!("LLM_PRICES_FILE {path}: {e}"))?;
        }
        Ok(table)
    }

    fn lay_over(&mut self, json: &str) -> Result<(), String> {
        let prices: BTreeMap<String, Price> =
            serde_json::from_str(json).map_err(|e| e.to_string())?;
        for (model, price) in prices {
            let values = [Some(price.input), price.cached_input, Some(price.output)];
            if values
                .into_iter()
                .flatten()
                .any(|v| !v.is_finite() || v < 0.0)
            {
                return Err(format!("the price of `{model}` must be zero or more"));
            }
            self.prices.insert(model, price);
        }
        Ok(())
    }

    /// The price of `model`: its own, or that of the name without a `-YYYY-MM-DD` snapshot date
    /// (`gpt-4o-mini-2024-07-18` is priced as `gpt-4o-mini`; `gpt-5-pro` is not priced as
    /// `gpt-5`).
    pub fn price(&self, model: &str) -> Option<&Price> {
        self.prices.get(model).or_else(|| {
            let (name, date) = model.len().checked_sub(11).map(|at| model.split_at(at))?;
            let is_date = date.len() == 11
                && date.starts_with('-')
                && date[1..].chars().enumerate().all(|(i, c)| {
                    if i == 4 || i == 7 {
                        c == '-'
                    } else {
                        c.is_ascii_digit()
                    }
                });
            is_date.then(|| self.prices.get(name)).flatten()
        })
    }

    /// What an agent's conversation cost, when its model's price is known.
    pub fn cost_of(&self, thread: &AgentThread) -> Option<f64> {
        if thread.demo {
            return Some(0.0);
        }
        self.price(&thread.model).map(|p| p.cost(&thread.usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(prompt: u64, cached: u64, completion: u64) -> TokenUsage {
        TokenUsage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_tokens: cached,
            total_tokens: prompt + completion,
        }
    }

    #[test]
    fn tokens_cost_what_the_table_says_cached_input_at_its_own_price() {
        let table = PriceTable::default();
        let price = table.price("gpt-4o-mini").unwrap();
        // 1M fresh input, 1M cached input, 1M output.
        let cost = price.cost(&usage(2_000_000, 1_000_000, 1_000_000));
        assert!((cost - (0.15 + 0.075 + 0.60)).abs() < 1e-9, "{cost}");
        assert_eq!(
            table.price("gpt-4o-mini-2024-07-18"),
            Some(price),
            "a dated name"
        );
        assert_eq!(table.price("gpt-4o-2024-08-06").unwrap().input, 2.50);
        assert_eq!(table.price("llama3.1:8b"), None);
        assert_eq!(
            table.price("gpt-5-pro"),
            None,
            "another model of the family"
        );
        assert_eq!(table.price("o4-mini-deep-research"), None);
        assert_eq!(
            table.price(crate::llm::DEMO_MODEL_NAME).unwrap().output,
            0.0
        );
    }

    #[test]
    fn prices_can_be_overridden_and_bad_ones_are_refused() {
        let env =
            |json: &'static str| move |name: &str| (name == "LLM_PRICES").then(|| json.to_owned());
        let table = PriceTable::from_env_with(env(
            r#"{"my-deployment": {"input": 1.0, "output": 2.0}, "gpt-4o-mini": {"input": 0.2, "output": 0.8}}"#,
        ))
        .unwrap();
        let mine = table.price("my-deployment").unwrap();
        assert_eq!(
            mine.cost(&usage(1_000_000, 500_000, 0)),
            1.0,
            "cached at the input price"
        );
        assert_eq!(table.price("gpt-4o-mini").unwrap().input, 0.2);
        assert!(PriceTable::from_env_with(env(r#"{"x": {"input": -1, "output": 1}}"#)).is_err());
        assert!(PriceTable::from_env_with(env(r#"{"x": {"input": 1}}"#)).is_err());
    }
}
