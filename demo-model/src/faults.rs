//! Faults the demo model can be told to inject, for tests and benchmarks.

use serde::{Deserialize, Serialize};

use travel_agents::AgentName;

/// One misbehaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// HTTP 429 with `Retry-After` (seconds, may be fractional).
    RateLimited { retry_after_secs: f64 },
    /// HTTP 429 `insufficient_quota`, which must not be retried.
    QuotaExceeded,
    /// HTTP 500 with a plain-text body.
    ServerError,
    /// HTTP 200 whose body is not JSON.
    MalformedJson,
    /// A reply whose JSON does not follow the output schema.
    SchemaMismatch,
    /// A reply that follows the schema but breaks a rule (two destinations, a missing day, a
    /// rating of 7.5).
    InvalidOutput,
    /// The answer arrives only after this long.
    Slow { millis: u64 },
    /// The model refuses.
    Refusal,
    /// The reply is cut at the length limit.
    Truncated,
    /// The model calls a tool it was not offered (as a prompt-injected model might).
    ForeignToolCall,
    /// The model calls the currency tools again although it already has their answers.
    ToolLoop,
}

/// A fault, which agent it hits (any when `None`), and how many times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    #[serde(flatten)]
    pub fault: Fault,
    #[serde(default)]
    pub agent: Option<AgentName>,
    #[serde(default = "once")]
    pub times: u32,
}

fn once() -> u32 {
    1
}

impl FaultRule {
    pub fn once(fault: Fault) -> Self {
        Self {
            fault,
            agent: None,
            times: 1,
        }
    }

    pub fn for_agent(mut self, agent: AgentName) -> Self {
        self.agent = Some(agent);
        self
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }
}

impl Fault {
    /// Whether the fault spoils a final answer (and so waits for one, letting tool-call rounds pass).
    fn spoils_the_answer(&self) -> bool {
        matches!(
            self,
            Fault::SchemaMismatch | Fault::InvalidOutput | Fault::Refusal | Fault::Truncated
        )
    }
}

/// Takes the first rule that applies to `agent` in this round, counting it down.
pub(crate) fn take(
    rules: &mut Vec<FaultRule>,
    agent: Option<AgentName>,
    tool_round: bool,
) -> Option<Fault> {
    let index = rules.iter().position(|r| {
        r.times > 0
            && (r.agent.is_none() || r.agent == agent)
            && !(tool_round && r.fault.spoils_the_answer())
    })?;
    let rule = &mut rules[index];
    rule.times -= 1;
    let fault = rule.fault.clone();
    if rule.times == 0 {
        rules.remove(index);
    }
    Some(fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_from_json_and_count_down_per_agent() {
        let mut rules: Vec<FaultRule> = serde_json::from_str(
            r#"[{"kind": "server_error", "agent": "itinerary", "times": 2}, {"kind": "rate_limited", "retry_after_secs": 1}]"#,
        )
        .unwrap();
        assert_eq!(
            take(&mut rules, Some(AgentName::Itinerary), false),
            Some(Fault::ServerError)
        );
        assert_eq!(
            take(&mut rules, Some(AgentName::Destination), false),
            Some(Fault::RateLimited {
                retry_after_secs: 1.0
            })
        );
        assert_eq!(take(&mut rules, Some(AgentName::Destination), false), None);
        assert_eq!(
            take(&mut rules, Some(AgentName::Itinerary), false),
            Some(Fault::ServerError)
        );
        assert!(rules.is_empty());
    }

    #[test]
    fn answer_spoiling_faults_wait_for_the_answer_round() {
        let mut rules = vec![FaultRule::once(Fault::InvalidOutput)];
        assert_eq!(take(&mut rules, Some(AgentName::Itinerary), true), None);
        assert_eq!(
            take(&mut rules, Some(AgentName::Itinerary), false),
            Some(Fault::InvalidOutput)
        );
    }
}
