//! The answers ledger: each answer on a plan revision (approve, reject, or ask for changes),
//! recorded once. Its primary key is the trip and the revision, so processes racing on one
//! trip agree on the answer that won; an answer is delivered to the workflow's queue after it
//! is recorded, and the repair pass delivers those a stopped process left undelivered.

use super::{IndexError, TripIndex, now_ms};
use crate::database::on_db;
use crate::database::sqlite_writer::{Statement, Value};
use crate::progress::ReviewAnswer;
use crate::trip_id::TripId;

/// An answer as the ledger keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedAnswer {
    pub instance_id: TripId,
    pub revision: u32,
    pub answer: ReviewAnswer,
}

/// Rows of (id, revision, answer) as recorded answers (unreadable ones left out).
pub(super) fn read_all(rows: Vec<(String, i64, String)>) -> Vec<RecordedAnswer> {
    rows.into_iter()
        .filter_map(|(instance_id, revision, answer)| {
            Some(RecordedAnswer {
                instance_id: TripId::recorded(instance_id),
                revision: u32::try_from(revision).ok()?,
                answer: serde_json::from_str(&answer).ok()?,
            })
        })
        .collect()
}

/// Whose answer a plan revision has.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This caller's answer was recorded first: it must now be delivered to the workflow.
    Won,
    /// An answer was recorded before (this one, or another).
    Taken(crate::progress::ReviewAnswer),
}

impl TripIndex {
    /// Records `answer` on `revision` unless one is recorded already (the first one wins,
    /// across processes).
    pub async fn claim_answer(
        &self,
        instance_id: &str,
        revision: u32,
        answer: &ReviewAnswer,
    ) -> Result<Claim, IndexError> {
        let insert = format!(
            "INSERT INTO {} (id, revision, answer, decided_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id, revision) DO NOTHING",
            self.answers
        );
        let text = serde_json::to_string(answer).expect("answers serialise");
        let values = vec![
            Value::Text(Some(instance_id.to_owned())),
            Value::Int(Some(i64::from(revision))),
            Value::Text(Some(text)),
            Value::Int(Some(now_ms())),
        ];
        let inserted = self
            .write_all(vec![Statement {
                sql: insert,
                values,
            }])
            .await?;
        if inserted == [1] {
            return Ok(Claim::Won);
        }
        Ok(Claim::Taken(
            self.answer(instance_id, revision)
                .await?
                .unwrap_or_else(|| answer.clone()),
        ))
    }

    /// The answer recorded on a trip's plan revision, if any.
    pub async fn answer(
        &self,
        instance_id: &str,
        revision: u32,
    ) -> Result<Option<ReviewAnswer>, IndexError> {
        let sql = format!(
            "SELECT answer FROM {} WHERE id = $1 AND revision = $2",
            self.answers
        );
        let text: Option<String> = on_db!(&self.db, |pool| sqlx::query_scalar(&sql)
            .bind(instance_id)
            .bind(i64::from(revision))
            .fetch_optional(pool)
            .await)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Every answer recorded on a trip, the first revision's first: its audit trail.
    pub async fn answers(&self, instance_id: &str) -> Result<Vec<RecordedAnswer>, IndexError> {
        let sql = format!(
            "SELECT id, revision, answer FROM {} WHERE id = $1 ORDER BY revision",
            self.answers
        );
        let rows = on_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(instance_id)
            .fetch_all(pool)
            .await)?;
        Ok(read_all(rows))
    }

    /// The recorded answer reached the workflow's queue.
    pub async fn delivered(&self, instance_id: &str, revision: u32) -> Result<(), IndexError> {
        let sql = format!(
            "UPDATE {} SET delivered_ms = $1 WHERE id = $2 AND revision = $3",
            self.answers
        );
        let values = vec![
            Value::Int(Some(now_ms())),
            Value::Text(Some(instance_id.to_owned())),
            Value::Int(Some(i64::from(revision))),
        ];
        self.write_all(vec![Statement { sql, values }]).await?;
        Ok(())
    }

    /// Answers recorded more than `grace` ago and never delivered (the process that recorded
    /// them stopped in between).
    pub async fn undelivered(
        &self,
        grace: std::time::Duration,
    ) -> Result<Vec<RecordedAnswer>, IndexError> {
        let sql = format!(
            "SELECT id, revision, answer FROM {} WHERE delivered_ms IS NULL AND decided_ms < $1",
            self.answers
        );
        let cutoff = now_ms() - grace.as_millis() as i64;
        let rows = on_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(cutoff)
            .fetch_all(pool)
            .await)?;
        Ok(read_all(rows))
    }
}
