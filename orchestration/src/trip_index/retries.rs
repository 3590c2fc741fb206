//! Which failed trip was tried again by which trip: each failed trip is retried once, whichever
//! process is asked first.

use super::{IndexError, TripIndex};
use crate::database::on_db;

/// A trip's retry links: the failed trip it retries, and the trip that retried it.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct RetryLinks {
    pub retry_of: Option<String>,
    pub retried_by: Option<String>,
}

impl TripIndex {
    /// Links `failed` to the trip that retries it, unless another one did first (`false`).
    pub async fn claim_retry(&self, failed: &str, retry: &str) -> Result<bool, IndexError> {
        let sql = format!(
            "INSERT INTO {} (failed_id, retry_id) VALUES ($1, $2) ON CONFLICT (failed_id) DO NOTHING",
            self.retries
        );
        let _turn = self.writes.take().await;
        let inserted = on_db!(&self.db, |pool| sqlx::query(&sql)
            .bind(failed)
            .bind(retry)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(inserted == 1)
    }

    /// Undoes [`Self::claim_retry`] when the retry could not start (and the conversations
    /// copied for it).
    pub async fn release_retry(&self, failed: &str, retry: &str) -> Result<(), IndexError> {
        let links = format!(
            "DELETE FROM {} WHERE failed_id = $1 AND retry_id = $2",
            self.retries
        );
        let copied = format!("DELETE FROM {} WHERE id = $1", self.conversations);
        let _turn = self.writes.take().await;
        on_db!(&self.db, |pool| sqlx::query(&links)
            .bind(failed)
            .bind(retry)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        on_db!(&self.db, |pool| sqlx::query(&copied)
            .bind(retry)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Which trip `instance_id` retries, and which retried it.
    pub async fn retries(&self, instance_id: &str) -> Result<RetryLinks, IndexError> {
        let sql = format!(
            "SELECT failed_id, retry_id FROM {} WHERE failed_id = $1 OR retry_id = $1",
            self.retries
        );
        let links: Vec<(String, String)> = on_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(instance_id)
            .fetch_all(pool)
            .await)?;
        Ok(links_of(instance_id, links))
    }
}

/// The links of `instance_id` among (failed, retry) pairs naming it.
pub(super) fn links_of(instance_id: &str, pairs: Vec<(String, String)>) -> RetryLinks {
    let mut found = RetryLinks::default();
    for (failed, retry) in pairs {
        if failed == instance_id {
            found.retried_by = Some(retry);
        } else {
            found.retry_of = Some(failed);
        }
    }
    found
}
