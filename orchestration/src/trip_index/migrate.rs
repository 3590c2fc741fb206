//! Brings the tables of earlier releases forward, once, at start-up, each in one transaction:
//!
//! * `trip_decisions` (one decision per trip) becomes answers on revision 1 in `plan_answers`;
//! * `agent_usage` (one row per trip and agent) becomes revision 1's rows in `agent_call_usage`.
//!
//! The old table is dropped in the same transaction. On PostgreSQL, processes starting together
//! take an advisory lock, and the one that comes second finds nothing left to move.

use super::{Db, IndexError, TripIndex};
use crate::progress::{ApprovalDecision, ReviewAnswer};

/// Held by a migrating process until its transaction ends (PostgreSQL).
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7_310_422_019)";

type DecisionTuple = (String, bool, Option<String>, i64, Option<i64>);

impl TripIndex {
    pub(super) async fn migrate(&self) -> Result<(), IndexError> {
        if self.has_table("trip_decisions").await? {
            self.move_decisions().await?;
        }
        if self.has_table("agent_usage").await? {
            self.move_usage().await?;
        }
        Ok(())
    }

    /// The statement that says whether a table is there (`$1`: its name as `has_table` takes).
    fn table_exists_sql(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => {
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = $1"
            }
            Db::Postgres(..) => "SELECT to_regclass($1) IS NOT NULL",
        }
    }

    async fn move_decisions(&self) -> Result<(), IndexError> {
        let old = format!("{}trip_decisions", self.prefix);
        let select = format!("SELECT id, approved, comments, decided_ms, delivered_ms FROM {old}");
        let insert = format!(
            "INSERT INTO {} (id, revision, answer, decided_ms, delivered_ms)
             VALUES ($1, 1, $2, $3, $4) ON CONFLICT (id, revision) DO NOTHING",
            self.answers
        );
        let drop = format!("DROP TABLE {old}");
        let postgres = matches!(self.db, Db::Postgres(..));
        let exists = self.table_exists_sql();
        let name = if postgres {
            old.clone()
        } else {
            "trip_decisions".to_owned()
        };
        let _turn = self.writes.take().await;
        let moved = on_db!(&self.db, |pool| async {
            let mut tx = pool.begin().await?;
            if postgres {
                sqlx::query(MIGRATION_LOCK).execute(&mut *tx).await?;
            }
            let still_there: bool = sqlx::query_scalar(exists)
                .bind(&name)
                .fetch_one(&mut *tx)
                .await?;
            if !still_there {
                return Ok::<_, sqlx::Error>(0);
            }
            let rows: Vec<DecisionTuple> = sqlx::query_as(&select).fetch_all(&mut *tx).await?;
            for (id, approved, comments, decided_ms, delivered_ms) in &rows {
                let mut decision = ApprovalDecision::new(*approved, comments.clone());
                decision.revision = Some(1);
                let answer = serde_json::to_string(&ReviewAnswer::Decision(decision))
                    .expect("answers serialise");
                sqlx::query(&insert)
                    .bind(id)
                    .bind(answer)
                    .bind(decided_ms)
                    .bind(delivered_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(&drop).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(rows.len())
        }
        .await)?;
        tracing::info!(moved, "decisions moved to the answers ledger");
        Ok(())
    }

    async fn move_usage(&self) -> Result<(), IndexError> {
        let old = format!("{}agent_usage", self.prefix);
        let copy = format!(
            "INSERT INTO {} (id, agent, revision, model, demo, prompt_tokens, cached_tokens, completion_tokens)
             SELECT id, agent, 1, model, demo, prompt_tokens, cached_tokens, completion_tokens FROM {old}
             WHERE true ON CONFLICT (id, agent, revision) DO NOTHING",
            self.usage
        );
        // (`WHERE true`: SQLite's parser needs it between an INSERT's SELECT and its upsert.)
        let drop = format!("DROP TABLE {old}");
        let postgres = matches!(self.db, Db::Postgres(..));
        let exists = self.table_exists_sql();
        let name = if postgres {
            old.clone()
        } else {
            "agent_usage".to_owned()
        };
        let _turn = self.writes.take().await;
        let moved = on_db!(&self.db, |pool| async {
            let mut tx = pool.begin().await?;
            if postgres {
                sqlx::query(MIGRATION_LOCK).execute(&mut *tx).await?;
            }
            let still_there: bool = sqlx::query_scalar(exists)
                .bind(&name)
                .fetch_one(&mut *tx)
                .await?;
            if !still_there {
                return Ok::<_, sqlx::Error>(0);
            }
            let moved = sqlx::query(&copy).execute(&mut *tx).await?.rows_affected();
            sqlx::query(&drop).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(moved)
        }
        .await)?;
        tracing::info!(
            moved,
            "agents' token counts moved to one row per plan revision"
        );
        Ok(())
    }
}
