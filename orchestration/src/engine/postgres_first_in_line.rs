//! What a person waits for goes first on PostgreSQL ([`super::first_in_line`]).
//!
//! duroxide-pg queues every message as visible from the moment it is queued, and its fetch
//! takes the trip whose message has been visible longest. Right after it has queued a decision
//! (an approval), or the result of an activity that goes first (the booking), the trip's
//! messages that wait visible and untaken are moved a day earlier, so the next free turn takes
//! that trip. One more short transaction for each: two a trip, against about forty. Messages not
//! yet visible (timers) stay where they are; the others keep their order, as a fetch takes all
//! of a trip's visible messages at once.

use async_trait::async_trait;
use duroxide::providers::{ProviderError, WorkItem};

use super::first_in_line::{self, FirstInLine};
use super::store::GoesFirst;

/// Moves decisions and the named activities' results ahead of the queue of one schema.
#[derive(Debug)]
pub struct PostgresFirstInLine {
    pool: sqlx::PgPool,
    /// `UPDATE … orchestrator_queue …` for this schema.
    move_ahead: String,
    first: FirstInLine,
}

impl PostgresFirstInLine {
    pub fn new(pool: sqlx::PgPool, schema: &str, activities: &'static [&'static str]) -> Self {
        Self {
            pool,
            move_ahead: format!(
                "UPDATE {schema}.orchestrator_queue
                 SET visible_at = visible_at - make_interval(secs => $3 / 1000.0)
                 WHERE instance_id = $1 AND lock_token IS NULL
                   AND visible_at <= TO_TIMESTAMP($2 / 1000.0)"
            ),
            first: FirstInLine::new(activities),
        }
    }

    async fn move_ahead(&self, instance: &str) -> Result<(), ProviderError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        sqlx::query(&self.move_ahead)
            .bind(instance)
            .bind(now_ms)
            .bind(first_in_line::LEAD_MS)
            .execute(&self.pool)
            .await
            .map_err(|e| ProviderError::retryable("first_in_line", e.to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl GoesFirst for PostgresFirstInLine {
    fn fetched(&self, fetched: &Option<(WorkItem, String, u32)>) {
        self.first.fetched(fetched);
    }

    fn abandoned(&self, token: &str) {
        self.first.finished(token);
    }

    async fn acknowledged(&self, token: &str, instance: Option<&str>) -> Result<(), ProviderError> {
        match instance {
            Some(instance) if self.first.finished(token) => self.move_ahead(instance).await,
            _ => {
                self.first.finished(token);
                Ok(())
            }
        }
    }

    async fn decision_queued(&self, instance: &str) -> Result<(), ProviderError> {
        self.move_ahead(instance).await
    }
}
