//! The trips index: one row per trip (state, step, destination, traveller, times, approval
//! expiry, total, decision, error), kept in the workflow store itself and updated as each
//! orchestration turn is acknowledged (see [`crate::engine::store`]). Trip status, the progress
//! pages and the instance list read it with one indexed query, whatever the size of a trip's
//! history or the number of trips.
//!
//! The engine's history stays the truth: the index can be rebuilt from it ([`TripIndex::rebuild`])
//! and repaired where it fell behind ([`TripIndex::reconcile`], e.g. a process killed between a
//! turn and its index update). Rows only move forward: each carries the last history event id it
//! reflects (`seq`), and an older turn never overwrites a newer one.
//!
//! Beside it, `plan_answers` records each answer on a plan revision once (approve, reject or ask
//! for changes; its primary key is the trip and the revision, see [`answers`]), so that
//! processes racing on one trip agree on the answer that won, and `agent_conversations` keeps
//! each agent's messages, so that the history (read back at every turn) carries only the agents'
//! outputs and a summary of their threads. Tables of earlier releases are brought forward at
//! start-up ([`migrate`]).
//!
//! Here: the index itself and the writes every part shares. Beside: the trips' rows as read
//! ([`rows`]), what each turn writes into them and the repair pass ([`turns`]), the tables
//! ([`schema`]), the tokens spent ([`usage`]), the agents' messages ([`conversations`]), retry
//! links ([`retries`]), answers ([`answers`]), the notifications outbox ([`outbox`]) and the
//! intake conversations ([`intake`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::database::on_db;
use crate::database::sqlite_writer::{Statement, Value};
use crate::database::write_turns::WriteTurns;
use crate::live_replies::LiveReplies;
use crate::turn_waiters::TurnWaiters;

pub use crate::database::Db;

mod answers;
mod conversations;
mod details;
mod intake;
mod migrate;
mod outbox;
mod retries;
mod rows;
mod schema;
mod traces;
mod turns;
mod usage;

pub use answers::{Claim, RecordedAnswer};
pub use details::TripDetails;
pub use intake::ConversationRow;
pub use outbox::{Attempt, Notice, Snapshot, TripEvent};
pub use retries::RetryLinks;
pub use rows::{RowPage, RowQuery, TripRow};
pub use turns::{Finished, Started, TurnRecord};
pub use usage::ModelUsage;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("the trips index failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the trips index failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the engine's history could not be read: {0}")]
    Engine(#[from] duroxide::providers::ProviderError),
}

impl IndexError {
    /// Whether the store could not be reached (down, refusing connections, out of connections,
    /// shutting down): worth trying again shortly, unlike a query the store refused.
    pub fn is_unreachable(&self) -> bool {
        match self {
            IndexError::Database(e) => unreachable(e),
            IndexError::Sqlite(_) => false,
            IndexError::Engine(e) => e.is_retryable(),
        }
    }
}

/// Whether `e` says the database could not be reached: no connection (refused, reset, TLS, the
/// pool's wait ran out) or the server refusing work for now (SQLSTATE classes 08, connection
/// exceptions; 57P, operator intervention such as a shutdown; 53300, too many connections).
pub fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300"),
        _ => false,
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The index and the decision ledger.
#[derive(Debug, Clone)]
pub struct TripIndex {
    db: Db,
    /// Shared with the engine's store: on SQLite the index's writes take turns with the engine's.
    writes: WriteTurns,
    /// `trips` or `"schema".trips`.
    trips: String,
    answers: String,
    conversations: String,
    retries: String,
    usage: String,
    outbox: String,
    keys: String,
    intake: String,
    /// `""` or `"schema".`: what the table names start with.
    prefix: String,
    /// Whether changes are queued as notifications (a webhook is configured).
    notifications: Arc<AtomicBool>,
    /// Woken when notifications were queued.
    notices_queued: Arc<tokio::sync::Notify>,
    /// Trips whose next turn someone in this process waits for (a start, an event stream).
    turn_waiters: Arc<TurnWaiters>,
    /// The agents' replies as they are written, for the streams following a trip here.
    live_replies: Arc<LiveReplies>,
}

impl TripIndex {
    /// Creates the tables when missing. Returns the index and whether the trips table had to be
    /// created (then [`Self::rebuild`] fills it from the engine).
    pub async fn open(db: Db, writes: WriteTurns) -> Result<(Self, bool), IndexError> {
        let (prefix, int, real, boolean) = match &db {
            Db::Sqlite(_) => (String::new(), "INTEGER", "REAL", "INTEGER"),
            Db::Postgres(_, schema) => (
                format!("{schema}."),
                "BIGINT",
                "DOUBLE PRECISION",
                "BOOLEAN",
            ),
        };
        let index = TripIndex {
            trips: format!("{prefix}trips"),
            answers: format!("{prefix}plan_answers"),
            conversations: format!("{prefix}agent_conversations"),
            retries: format!("{prefix}trip_retries"),
            usage: format!("{prefix}agent_call_usage"),
            outbox: format!("{prefix}trip_notifications"),
            keys: format!("{prefix}service_keys"),
            intake: format!("{prefix}intake_conversations"),
            prefix,
            notifications: Arc::default(),
            notices_queued: Arc::default(),
            turn_waiters: Arc::default(),
            live_replies: Arc::default(),
            db,
            writes,
        };
        let existed = index.has_table("trips").await?;
        let statements = index.schema(int, real, boolean);
        for statement in statements {
            on_db!(&index.db, |pool| sqlx::query(&statement)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?;
        }
        index.migrate().await?;
        Ok((index, !existed))
    }

    /// The service's key `name`, made (at random) the first time it is asked for.
    pub async fn service_key(&self, name: &str) -> Result<Vec<u8>, IndexError> {
        let insert = format!(
            "INSERT INTO {} (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            self.keys
        );
        let select = format!("SELECT secret FROM {} WHERE name = $1", self.keys);
        {
            let _turn = self.writes.take().await;
            on_db!(&self.db, |pool| sqlx::query(&insert)
                .bind(name)
                .bind(travel_platform::secret::random_hex(32))
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?;
        }
        let secret: String = on_db!(&self.db, |pool| sqlx::query_scalar(&select)
            .bind(name)
            .fetch_one(pool)
            .await)?;
        Ok(secret.into_bytes())
    }

    /// From now on, trip changes are queued as notifications (see [`crate::notifications`]).
    pub fn turn_notifications_on(&self) {
        self.notifications.store(true, Ordering::Relaxed);
    }

    /// Whether trip changes are queued as notifications (a webhook is configured).
    pub fn notifications_enabled(&self) -> bool {
        self.notifications.load(Ordering::Relaxed)
    }

    /// Woken whenever notifications were queued by this process.
    pub fn notices_queued(&self) -> Arc<tokio::sync::Notify> {
        self.notices_queued.clone()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The store's write turns (shared with the engine).
    pub fn writes(&self) -> &WriteTurns {
        &self.writes
    }

    /// Runs `statements` in one transaction and returns the rows each changed. On SQLite they
    /// are one write handed to the store's writer (the caller holds no write turn); on
    /// PostgreSQL they run in the pool.
    pub(crate) async fn write_all(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<u64>, IndexError> {
        if let Some(writer) = self.writes.sqlite_writer() {
            let changed = writer.write_all(statements).await?;
            return Ok(changed.into_iter().map(|n| n as u64).collect());
        }
        macro_rules! bound {
            ($statement:expr) => {{
                let mut query = sqlx::query(&$statement.sql);
                for value in &$statement.values {
                    query = match value {
                        Value::Int(v) => query.bind(*v),
                        Value::Real(v) => query.bind(*v),
                        Value::Text(v) => query.bind(v.clone()),
                        Value::Bool(v) => query.bind(*v),
                    };
                }
                query
            }};
        }
        let mut changed = Vec::with_capacity(statements.len());
        on_db!(&self.db, |pool| {
            if let [statement] = statements.as_slice() {
                changed.push(bound!(statement).execute(pool).await?.rows_affected());
            } else {
                let mut tx = pool.begin().await?;
                for statement in &statements {
                    changed.push(bound!(statement).execute(&mut *tx).await?.rows_affected());
                }
                tx.commit().await?;
            }
        });
        Ok(changed)
    }
}
