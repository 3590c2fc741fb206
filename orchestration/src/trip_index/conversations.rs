//! Each agent's messages, kept apart from the history (which the engine reads back at every
//! turn): saved with the tokens the call spent, read for the agent-thread API, copied to a trip
//! that retries a failed one.

use travel_agents::{AgentName, ThreadMessage};

use super::{IndexError, TripIndex};
use crate::database::on_db;
use crate::database::sqlite_writer::{Statement, Value};

impl TripIndex {
    /// Copies agents' kept messages from one trip to another (a retry reusing their answers).
    pub async fn copy_conversations(
        &self,
        from: &str,
        to: &str,
        agents: &[AgentName],
    ) -> Result<(), IndexError> {
        let sql = format!(
            "INSERT INTO {t} (id, agent, messages) SELECT $1, agent, messages FROM {t} WHERE id = $2 AND agent = $3
             ON CONFLICT (id, agent) DO NOTHING",
            t = self.conversations
        );
        let _turn = self.writes.take().await;
        for agent in agents {
            on_db!(&self.db, |pool| sqlx::query(&sql)
                .bind(to)
                .bind(from)
                .bind(agent.as_str())
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    /// Keeps an agent's finished call for a plan revision of a trip: its messages (the latest
    /// call's are kept) and the tokens it spent (one row per revision: a call run again after
    /// a crash is counted once), in one transaction.
    pub async fn save_agent_call(
        &self,
        instance_id: &str,
        revision: u32,
        thread: &travel_agents::AgentThread,
        messages: &[ThreadMessage],
    ) -> Result<(), IndexError> {
        let conversation = format!(
            "INSERT INTO {} (id, agent, messages) VALUES ($1, $2, $3)
             ON CONFLICT (id, agent) DO UPDATE SET messages = excluded.messages",
            self.conversations
        );
        let usage_sql = format!(
            "INSERT INTO {} (id, agent, model, demo, prompt_tokens, cached_tokens, completion_tokens, revision)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id, agent, revision) DO UPDATE SET model = excluded.model, demo = excluded.demo,
                prompt_tokens = excluded.prompt_tokens, cached_tokens = excluded.cached_tokens,
                completion_tokens = excluded.completion_tokens",
            self.usage
        );
        let messages = serde_json::to_string(messages).expect("messages serialise");
        let (agent, usage) = (thread.agent.as_str(), &thread.usage);
        let id = Value::Text(Some(instance_id.to_owned()));
        let agent = Value::Text(Some(agent.to_owned()));
        let statements = [
            Statement {
                sql: conversation,
                values: vec![id.clone(), agent.clone(), Value::Text(Some(messages))],
            },
            Statement {
                sql: usage_sql,
                values: vec![
                    id,
                    agent,
                    Value::Text(Some(thread.model.clone())),
                    Value::Bool(Some(thread.demo)),
                    Value::Int(Some(usage.prompt_tokens as i64)),
                    Value::Int(Some(usage.cached_tokens as i64)),
                    Value::Int(Some(usage.completion_tokens as i64)),
                    Value::Int(Some(i64::from(revision))),
                ],
            },
        ];
        self.write_all(statements.into()).await?;
        Ok(())
    }

    /// An agent's messages for a trip, if they were kept apart from the history.
    pub async fn conversation(
        &self,
        instance_id: &str,
        agent: AgentName,
    ) -> Result<Option<Vec<ThreadMessage>>, IndexError> {
        let sql = format!(
            "SELECT messages FROM {} WHERE id = $1 AND agent = $2",
            self.conversations
        );
        let text: Option<String> = on_db!(&self.db, |pool| sqlx::query_scalar(&sql)
            .bind(instance_id)
            .bind(agent.as_str())
            .fetch_optional(pool)
            .await)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }
}
