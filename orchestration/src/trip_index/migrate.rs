//! Brings the tables of earlier releases forward, once, at start-up, each in one transaction:
//!
//! * `trip_decisions` (one decision per trip) becomes answers on revision 1 in `plan_answers`;
//! * `agent_usage` (one row per trip and agent) becomes revision 1's rows in `agent_call_usage`.
//!
//! The old table is dropped in the same transaction. On PostgreSQL, processes starting together
//! take an advisory lock, and the one that comes second finds nothing left to move.

use super::{Db, IndexError, TripIndex};
use crate::database::on_db;

/// Held by a migrating process until its transaction ends (PostgreSQL).
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7310422019)";

impl TripIndex {
    pub(super) async fn migrate(&self) -> Result<(), IndexError> {
        if self.has_table("trip_decisions").await? {
            let old = format!("{}trip_decisions", self.prefix);
            // The decision as `ReviewAnswer::Decision` writes it: {"approved", "comments", "revision"}.
            let answer = match self.db {
                Db::Sqlite(_) => {
                    "json_object('approved', json(CASE WHEN approved THEN 'true' ELSE 'false' END), \
                     'comments', comments, 'revision', 1)"
                }
                Db::Postgres(..) => {
                    "json_build_object('approved', approved, 'comments', comments, 'revision', 1)::text"
                }
            };
            let copy = format!(
                "INSERT INTO {} (id, revision, answer, decided_ms, delivered_ms)
                 SELECT id, 1, {answer}, decided_ms, delivered_ms FROM {old}
                 WHERE true ON CONFLICT (id, revision) DO NOTHING",
                self.answers
            );
            self.move_forward("trip_decisions", &copy).await?;
        }
        if self.has_table("agent_usage").await? {
            let copy = format!(
                "INSERT INTO {} (id, agent, revision, model, demo, prompt_tokens, cached_tokens, completion_tokens)
                 SELECT id, agent, 1, model, demo, prompt_tokens, cached_tokens, completion_tokens
                 FROM {}agent_usage WHERE true ON CONFLICT (id, agent, revision) DO NOTHING",
                self.usage, self.prefix
            );
            self.move_forward("agent_usage", &copy).await?;
        }
        Ok(())
    }

    /// Runs `copy` (an `INSERT ... SELECT` from the old table `name`; SQLite's parser needs the
    /// `WHERE true` between such a SELECT and its upsert), then drops the old table, in one
    /// transaction; nothing when another process has done it meanwhile.
    async fn move_forward(&self, name: &str, copy: &str) -> Result<(), IndexError> {
        let (postgres, exists) = match self.db {
            Db::Sqlite(_) => (
                false,
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = $1",
            ),
            Db::Postgres(..) => (true, "SELECT to_regclass($1) IS NOT NULL"),
        };
        let old = format!("{}{name}", self.prefix);
        let checked = if postgres {
            old.clone()
        } else {
            name.to_owned()
        };
        let drop = format!("DROP TABLE {old}");
        let _turn = self.writes.take().await;
        let moved = on_db!(&self.db, |pool| async {
            let mut tx = pool.begin().await?;
            if postgres {
                sqlx::query(MIGRATION_LOCK).execute(&mut *tx).await?;
            }
            let still_there: bool = sqlx::query_scalar(exists)
                .bind(&checked)
                .fetch_one(&mut *tx)
                .await?;
            if !still_there {
                return Ok::<_, sqlx::Error>(0);
            }
            let moved = sqlx::query(copy).execute(&mut *tx).await?.rows_affected();
            sqlx::query(&drop).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(moved)
        }
        .await)?;
        tracing::info!(
            table = name,
            moved,
            "a table of an earlier release was moved forward"
        );
        Ok(())
    }
}
