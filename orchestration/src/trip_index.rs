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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use duroxide::providers::Provider;
use duroxide::{Event, EventKind};
use travel_agents::{AgentName, ThreadMessage};

use crate::database::sqlite_writer::{Statement, Value};
use crate::database::write_turns::{WriteTurn, WriteTurns};
use crate::first_turns::FirstTurns;
use crate::progress::{ApprovalDecision, TripOutcome, TripProgress, TripState, TripStep};
use crate::timeline::utc_from_ms;
use crate::workflow::{ORCHESTRATION, TripInput};
pub use answers::RecordedAnswer;

pub use crate::database::Db;
use crate::database::on_db;

mod answers;
mod migrate;
mod outbox;

pub use outbox::{Attempt, Notice, Snapshot, TripEvent};

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

/// A value bound into a query built at run time.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

/// What one orchestration turn (or a whole history) says about a trip.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRecord {
    pub instance_id: String,
    /// The last history event id this record reflects.
    pub seq: u64,
    pub updated_ms: u64,
    pub started: Option<Started>,
    /// The last progress report.
    pub progress: Option<TripProgress>,
    /// The state and plan revision of every progress report, in order (the changes the turn
    /// made, for notifications).
    pub reports: Vec<(TripState, u32)>,
    pub finished: Option<Finished>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub traveller: String,
    pub created_ms: u64,
    pub token_sha256: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    Completed(Box<TripOutcome>),
    Failed(String),
}

impl TurnRecord {
    /// Reads the events of a turn (or a whole history); `None` when they say nothing the index
    /// keeps.
    pub fn from_events(events: &[Event]) -> Option<Self> {
        let last = events.iter().max_by_key(|e| e.event_id)?;
        let mut record = TurnRecord {
            instance_id: last.instance_id.clone(),
            seq: last.event_id,
            updated_ms: events.iter().map(|e| e.timestamp_ms).max().unwrap_or(0),
            started: None,
            progress: None,
            reports: Vec::new(),
            finished: None,
        };
        for event in events {
            match &event.kind {
                EventKind::OrchestrationStarted { name, input, .. } if name == ORCHESTRATION => {
                    if let Ok(input) = serde_json::from_str::<TripInput>(input) {
                        record.started = Some(Started {
                            traveller: input.request.traveller_name,
                            created_ms: event.timestamp_ms,
                            token_sha256: input.approval_token_sha256,
                        });
                    }
                }
                EventKind::CustomStatusUpdated {
                    status: Some(status),
                } => {
                    if let Ok(progress) = serde_json::from_str::<TripProgress>(status) {
                        let revision = progress.plan.as_ref().map_or(1, |p| p.revision);
                        record.reports.push((progress.state, revision));
                        record.progress = Some(progress);
                    }
                }
                EventKind::OrchestrationCompleted { output } => {
                    record.finished = Some(match serde_json::from_str(output) {
                        Ok(outcome) => Finished::Completed(Box::new(outcome)),
                        Err(e) => Finished::Failed(format!("unreadable workflow output: {e}")),
                    });
                }
                EventKind::OrchestrationFailed { details } => {
                    record.finished = Some(Finished::Failed(details.display_message()))
                }
                _ => {}
            }
        }
        (record.started.is_some() || record.progress.is_some() || record.finished.is_some())
            .then_some(record)
    }

    pub(crate) fn state(&self) -> TripState {
        match &self.finished {
            Some(Finished::Completed(outcome)) => outcome.state,
            Some(Finished::Failed(_)) => TripState::Failed,
            None => self
                .progress
                .as_ref()
                .map(|p| p.state)
                .unwrap_or(TripState::Planning),
        }
    }

    fn decision(&self) -> Option<&ApprovalDecision> {
        match &self.finished {
            Some(Finished::Completed(outcome)) if outcome.decision.is_some() => {
                outcome.decision.as_ref()
            }
            _ => self.progress.as_ref().and_then(|p| p.decision.as_ref()),
        }
    }
}

/// One trip as the index has it.
#[derive(Debug, Clone, PartialEq)]
pub struct TripRow {
    pub instance_id: String,
    pub state: TripState,
    pub step: Option<TripStep>,
    pub destination: Option<String>,
    pub traveller: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub progress: Option<TripProgress>,
    pub outcome: Option<TripOutcome>,
    pub error: Option<String>,
    pub token_sha256: Option<String>,
}

/// Filters and paging of [`TripIndex::page`].
#[derive(Debug, Clone, Default)]
pub struct RowQuery {
    pub state: Option<TripState>,
    pub prefix: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub offset: usize,
    pub limit: usize,
}

/// A page of rows, the number matching, and the counts per state of all trips.
#[derive(Debug, Clone)]
pub struct RowPage {
    pub rows: Vec<TripRow>,
    pub total: usize,
    pub counts: BTreeMap<String, usize>,
}

/// Whose answer a plan revision has.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This caller's answer was recorded first: it must now be delivered to the workflow.
    Won,
    /// An answer was recorded before (this one, or another).
    Taken(crate::progress::ReviewAnswer),
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// The longest [`TripIndex::wait_for_first_turn`] goes without looking at the index for a first
/// turn that another process may have run.
const FIRST_TURN_LOOK: std::time::Duration = std::time::Duration::from_millis(100);

const COLUMNS: &str = "id, state, step, destination, traveller, created_ms, updated_ms, expires_ms, progress, outcome, error, token_sha256";

type RowTuple = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The `WHERE` clause of a trips query and its arguments (`$1`, `$2`, ...).
fn filter(query: &RowQuery) -> (String, Vec<Arg>) {
    let mut conditions = Vec::new();
    let mut args = Vec::new();
    let mut arg = |condition: &str, value: Arg| {
        args.push(value);
        conditions.push(condition.replace('?', &format!("${}", args.len())));
    };
    if let Some(state) = query.state {
        arg("state = ?", Arg::Text(state.as_str().to_owned()));
    }
    if let Some(prefix) = query
        .prefix
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        arg(
            &format!("substr(id, 1, {}) = ?", prefix.chars().count()),
            Arg::Text(prefix.to_owned()),
        );
    }
    if let Some(after) = query.created_after {
        arg("created_ms >= ?", Arg::Int(after.timestamp_millis()));
    }
    if let Some(before) = query.created_before {
        arg("created_ms < ?", Arg::Int(before.timestamp_millis()));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    (filter, args)
}

fn row_from(t: RowTuple) -> TripRow {
    let (
        instance_id,
        state,
        step,
        destination,
        traveller,
        created,
        updated,
        expires,
        progress,
        outcome,
        error,
        token,
    ) = t;
    TripRow {
        instance_id,
        state: TripState::parse(&state).unwrap_or(TripState::Planning),
        step: step.as_deref().and_then(TripStep::parse),
        destination,
        traveller,
        created_at: utc_from_ms(created as u64),
        updated_at: utc_from_ms(updated as u64),
        expires_at: expires.and_then(|ms| utc_from_ms(ms as u64)),
        progress: progress.and_then(|p| serde_json::from_str(&p).ok()),
        outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
        error,
        token_sha256: token,
    }
}

/// Tokens spent with one model (by one agent, or summed).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelUsage {
    pub model: String,
    pub demo: bool,
    pub usage: travel_agents::TokenUsage,
    /// The plan revision the call was for (1 when summed).
    pub revision: u32,
}

impl ModelUsage {
    fn new(model: String, demo: bool, prompt: i64, cached: i64, completion: i64) -> Self {
        let n = |v: i64| v.max(0) as u64;
        Self {
            model,
            demo,
            usage: travel_agents::TokenUsage {
                prompt_tokens: n(prompt),
                cached_tokens: n(cached),
                completion_tokens: n(completion),
                total_tokens: n(prompt) + n(completion),
            },
            revision: 1,
        }
    }
}

type UsageTuple = (String, String, i64, String, bool, i64, i64, i64);

/// A trip's retry links: the failed trip it retries, and the trip that retried it.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct RetryLinks {
    pub retry_of: Option<String>,
    pub retried_by: Option<String>,
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
    /// `""` or `"schema".`: what the table names start with.
    prefix: String,
    /// Whether changes are queued as notifications (a webhook is configured).
    notifications: Arc<AtomicBool>,
    /// Woken when notifications were queued.
    notices_queued: Arc<tokio::sync::Notify>,
    /// Trips whose first turn someone in this process waits for.
    first_turns: Arc<FirstTurns>,
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
            prefix,
            notifications: Arc::default(),
            notices_queued: Arc::default(),
            first_turns: Arc::default(),
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

    /// Whether the store has the table `name` (in the schema, on PostgreSQL).
    async fn has_table(&self, name: &str) -> Result<bool, IndexError> {
        Ok(match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = $1",
                )
                .bind(name)
                .fetch_one(pool)
                .await?
            }
            Db::Postgres(pool, _) => {
                sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                    .bind(format!("{}{name}", self.prefix))
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    /// The tables and indexes, in the store's dialect (its integer, real and boolean types).
    fn schema(&self, int: &str, real: &str, boolean: &str) -> Vec<String> {
        let mut statements = self.trips_schema(int, real).to_vec();
        statements.extend(self.retries_and_usage_schema(int, boolean));
        statements.extend(self.outbox_and_keys_schema(int));
        statements
    }

    /// The notifications outbox (see [`outbox`]) and the service's keys.
    fn outbox_and_keys_schema(&self, int: &str) -> [String; 4] {
        [
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    id TEXT NOT NULL,
                    event TEXT NOT NULL,
                    revision {int} NOT NULL,
                    snapshot TEXT NOT NULL,
                    created_ms {int} NOT NULL,
                    attempts {int} NOT NULL,
                    next_ms {int},
                    lease_ms {int},
                    delivered_ms {int},
                    status_code {int},
                    last_error TEXT,
                    PRIMARY KEY (id, event, revision)
                )",
                self.outbox
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS trip_notifications_due ON {} (next_ms)
                 WHERE next_ms IS NOT NULL",
                self.outbox
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS trip_notifications_by_created ON {} (created_ms DESC)",
                self.outbox
            ),
            // Keys the service signs with (review links), made once, shared by every process.
            format!(
                "CREATE TABLE IF NOT EXISTS {} (name TEXT PRIMARY KEY, secret TEXT NOT NULL)",
                self.keys
            ),
        ]
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

    /// The trips, the decision ledger and the agents' kept messages.
    fn trips_schema(&self, int: &str, real: &str) -> [String; 6] {
        [
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (
                    id TEXT PRIMARY KEY,
                    state TEXT NOT NULL,
                    step TEXT,
                    destination TEXT,
                    traveller TEXT,
                    created_ms {int} NOT NULL,
                    updated_ms {int} NOT NULL,
                    expires_ms {int},
                    total_amount {real},
                    total_currency TEXT,
                    decision TEXT,
                    error TEXT,
                    progress TEXT,
                    outcome TEXT,
                    token_sha256 TEXT,
                    seq {int} NOT NULL
                )",
                t = self.trips
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS trips_by_created ON {} (created_ms DESC, id DESC)",
                self.trips
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS trips_by_state ON {} (state, created_ms DESC, id DESC)",
                self.trips
            ),
            // For the repair pass's look at closed approval windows (see `suspect`): without
            // it, that look reads every parked trip's row.
            format!(
                "CREATE INDEX IF NOT EXISTS trips_awaiting_by_expiry ON {} (state, expires_ms)
                 WHERE state = 'awaiting_approval'",
                self.trips
            ),
            // Each answer on a plan revision (a `ReviewAnswer` as JSON), recorded once.
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    id TEXT NOT NULL,
                    revision {int} NOT NULL,
                    answer TEXT NOT NULL,
                    decided_ms {int} NOT NULL,
                    delivered_ms {int},
                    PRIMARY KEY (id, revision)
                )",
                self.answers
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    id TEXT NOT NULL,
                    agent TEXT NOT NULL,
                    messages TEXT NOT NULL,
                    PRIMARY KEY (id, agent)
                )",
                self.conversations
            ),
        ]
    }

    /// Which trip retried which, and the tokens each agent's finished call spent.
    fn retries_and_usage_schema(&self, int: &str, boolean: &str) -> [String; 4] {
        [
            // A failed trip and the trip that retried it (each failed trip is retried once).
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    failed_id TEXT PRIMARY KEY,
                    retry_id TEXT NOT NULL
                )",
                self.retries
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS trip_retries_by_retry ON {} (retry_id)",
                self.retries
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS plan_answers_undelivered ON {} (decided_ms)
                 WHERE delivered_ms IS NULL",
                self.answers
            ),
            // The tokens of each agent's finished call for each plan revision, for costs.
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    id TEXT NOT NULL,
                    agent TEXT NOT NULL,
                    revision {int} NOT NULL,
                    model TEXT NOT NULL,
                    demo {boolean} NOT NULL,
                    prompt_tokens {int} NOT NULL,
                    cached_tokens {int} NOT NULL,
                    completion_tokens {int} NOT NULL,
                    PRIMARY KEY (id, agent, revision)
                )",
                self.usage
            ),
        ]
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The store's write turns (shared with the engine).
    pub fn writes(&self) -> &WriteTurns {
        &self.writes
    }

    /// PostgreSQL: the bytes every table of the schema takes, with its indexes and TOAST (the
    /// engine's tables and this index). SQLite: 0 (see the file's size instead).
    pub async fn schema_size_bytes(&self) -> Result<u64, IndexError> {
        let Db::Postgres(pool, schema) = &self.db else {
            return Ok(0);
        };
        let bytes: Option<i64> = sqlx::query_scalar(
            "SELECT SUM(pg_total_relation_size(c.oid))::BIGINT FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = lower($1) AND c.relkind = 'r'",
        )
        .bind(schema)
        .fetch_one(pool)
        .await?;
        Ok(bytes.unwrap_or(0).max(0) as u64)
    }

    /// A trip was just started: its row exists before the engine's first turn.
    pub async fn started(&self, instance_id: &str, started: &Started) -> Result<(), IndexError> {
        let sql = format!(
            "INSERT INTO {} (id, state, step, traveller, created_ms, updated_ms, token_sha256, seq) VALUES ($1, $2, $3, $4, $5, $5, $6, 0)
             ON CONFLICT (id) DO NOTHING",
            self.trips
        );
        let values = vec![
            Value::Text(Some(instance_id.to_owned())),
            Value::Text(Some(TripState::Planning.as_str().to_owned())),
            Value::Text(Some(TripStep::Destinations.as_str().to_owned())),
            Value::Text(Some(started.traveller.clone())),
            Value::Int(Some(started.created_ms as i64)),
            Value::Text(Some(started.token_sha256.clone())),
        ];
        let _turn = self.writes.take().await;
        self.write_all(&[Statement { sql, values }]).await?;
        Ok(())
    }

    /// Runs `statements` in one transaction and returns the rows each changed. On SQLite the
    /// caller holds the write turn and they run on the store's writer connection; on PostgreSQL
    /// they run in the pool.
    pub(crate) async fn write_all(&self, statements: &[Statement]) -> Result<Vec<u64>, IndexError> {
        if let Some(writer) = self.writes.sqlite_writer() {
            let changed = writer.write_all(statements)?;
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
            if let [statement] = statements {
                changed.push(bound!(statement).execute(pool).await?.rows_affected());
            } else {
                let mut tx = pool.begin().await?;
                for statement in statements {
                    changed.push(bound!(statement).execute(&mut *tx).await?.rows_affected());
                }
                tx.commit().await?;
            }
        });
        Ok(changed)
    }

    /// Brings a trip's row up to `record`, unless the row already reflects a later turn. Turns of
    /// instances that are not trips change nothing.
    pub async fn record_turn(&self, record: &TurnRecord) -> Result<(), IndexError> {
        let statement = self.turn_statement(record);
        let _turn = self.writes.take().await;
        self.write_all(&[statement]).await?;
        self.first_turns.recorded(&record.instance_id);
        self.queue_notices(record).await
    }

    /// [`Self::record_turn`] while the caller holds the write turn (the engine's store, right
    /// after it acknowledged the turn).
    pub async fn record_turn_during(
        &self,
        _turn: &WriteTurn<'_>,
        record: &TurnRecord,
    ) -> Result<(), IndexError> {
        self.writes.count_one_more();
        let statement = self.turn_statement(record);
        self.write_all(&[statement]).await?;
        self.first_turns.recorded(&record.instance_id);
        self.queue_notices(record).await
    }

    /// The upsert that brings a trip's row up to `record`.
    fn turn_statement(&self, record: &TurnRecord) -> Statement {
        let sql = self.turn_upsert_sql();
        let progress = record.progress.as_ref();
        let plan = progress.and_then(|p| p.plan.as_ref());
        let (outcome, error) = match &record.finished {
            Some(Finished::Completed(outcome)) => (serde_json::to_string(outcome).ok(), None),
            Some(Finished::Failed(error)) => (None, Some(error.clone())),
            None => (None, None),
        };
        let created = record
            .started
            .as_ref()
            .map_or(record.updated_ms, |s| s.created_ms) as i64;
        let values = vec![
            Value::Text(Some(record.instance_id.clone())),
            Value::Text(Some(record.state().as_str().to_owned())),
            Value::Text(progress.map(|p| p.step.as_str().to_owned())),
            Value::Text(progress.and_then(|p| p.destination.clone())),
            Value::Text(record.started.as_ref().map(|s| s.traveller.clone())),
            Value::Int(Some(created)),
            Value::Int(Some(record.updated_ms as i64)),
            Value::Int(
                progress
                    .and_then(|p| p.approval.as_ref())
                    .map(|a| a.expires_at.timestamp_millis()),
            ),
            Value::Real(plan.map(|p| p.total.amount)),
            Value::Text(plan.map(|p| p.total.currency.to_string())),
            Value::Text(
                record
                    .decision()
                    .map(|d| if d.approved { "approved" } else { "rejected" }.to_owned()),
            ),
            Value::Text(error),
            Value::Text(progress.and_then(|p| serde_json::to_string(p).ok())),
            Value::Text(outcome),
            Value::Text(record.started.as_ref().map(|s| s.token_sha256.clone())),
            Value::Int(Some(record.seq as i64)),
            // Rows are created for trips only: by `started`, or by the turn that starts one.
            Value::Bool(Some(record.started.is_some())),
        ];
        Statement { sql, values }
    }

    /// Inserts or brings up to date a trip's row from a turn (`$1`..`$16` the columns, `$17`
    /// whether the turn may create the row); a row that reflects a later turn is left alone.
    fn turn_upsert_sql(&self) -> String {
        let t = &self.trips;
        format!(
            "INSERT INTO {t} (id, state, step, destination, traveller, created_ms, updated_ms, expires_ms, total_amount,
                              total_currency, decision, error, progress, outcome, token_sha256, seq)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
             WHERE $17 OR EXISTS (SELECT 1 FROM {t} WHERE id = $1)
             ON CONFLICT (id) DO UPDATE SET
                state = CASE WHEN excluded.progress IS NULL AND excluded.outcome IS NULL AND excluded.error IS NULL
                             THEN trips.state ELSE excluded.state END,
                step = COALESCE(excluded.step, trips.step),
                destination = COALESCE(excluded.destination, trips.destination),
                traveller = COALESCE(excluded.traveller, trips.traveller),
                created_ms = CASE WHEN excluded.created_ms < trips.created_ms THEN excluded.created_ms ELSE trips.created_ms END,
                updated_ms = CASE WHEN excluded.updated_ms > trips.updated_ms THEN excluded.updated_ms ELSE trips.updated_ms END,
                expires_ms = COALESCE(excluded.expires_ms, trips.expires_ms),
                total_amount = COALESCE(excluded.total_amount, trips.total_amount),
                total_currency = COALESCE(excluded.total_currency, trips.total_currency),
                decision = COALESCE(excluded.decision, trips.decision),
                error = COALESCE(excluded.error, trips.error),
                progress = COALESCE(excluded.progress, trips.progress),
                outcome = COALESCE(excluded.outcome, trips.outcome),
                token_sha256 = COALESCE(excluded.token_sha256, trips.token_sha256),
                seq = excluded.seq
             WHERE trips.seq < excluded.seq"
        )
    }

    /// Whether the engine has run a turn of the trip (its row reflects one).
    pub async fn has_run(&self, instance_id: &str) -> Result<bool, IndexError> {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE id = $1 AND seq > 0",
            self.trips
        );
        let n: i64 = on_db!(&self.db, |pool| sqlx::query_scalar(&sql)
            .bind(instance_id)
            .fetch_one(pool)
            .await)?;
        Ok(n > 0)
    }

    /// Waits until the engine has run a turn of the trip, or `at_most` passed; says whether it
    /// has. A turn this process records ends the wait at once; one run by another process
    /// sharing the store is seen by a look after 10 ms, then at doubling intervals up to
    /// [`FIRST_TURN_LOOK`].
    pub async fn wait_for_first_turn(
        &self,
        instance_id: &str,
        at_most: std::time::Duration,
    ) -> Result<bool, IndexError> {
        let deadline = tokio::time::Instant::now() + at_most;
        let waiting = self.first_turns.wait_for(instance_id);
        let mut look = FIRST_TURN_LOOK / 10;
        loop {
            if self.has_run(instance_id).await? {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            waiting.next(left.min(look)).await;
            look = (look * 2).min(FIRST_TURN_LOOK);
        }
    }

    /// One trip's row.
    pub async fn get(&self, instance_id: &str) -> Result<Option<TripRow>, IndexError> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE id = $1", self.trips);
        let row: Option<RowTuple> = on_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(instance_id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(row_from))
    }

    /// Trips newest first, filtered and paged, with the counts per state of all trips.
    pub async fn page(&self, query: &RowQuery) -> Result<RowPage, IndexError> {
        let (filter, args) = filter(query);
        let t = &self.trips;
        let rows_sql = format!(
            "SELECT {COLUMNS} FROM {t} {filter} ORDER BY created_ms DESC, id DESC LIMIT {} OFFSET {}",
            query.limit, query.offset
        );
        let total_sql = format!("SELECT COUNT(*) FROM {t} {filter}");
        let counts_sql = format!("SELECT state, COUNT(*) FROM {t} GROUP BY state");
        let (rows, total, counts) = on_db!(&self.db, |pool| {
            let mut rows = sqlx::query_as::<_, RowTuple>(&rows_sql);
            let mut total = sqlx::query_scalar::<_, i64>(&total_sql);
            for a in &args {
                (rows, total) = match a {
                    Arg::Text(s) => (rows.bind(s.clone()), total.bind(s.clone())),
                    Arg::Int(i) => (rows.bind(*i), total.bind(*i)),
                };
            }
            let rows = rows.fetch_all(pool).await?;
            let total = total.fetch_one(pool).await?;
            let counts: Vec<(String, i64)> = sqlx::query_as(&counts_sql).fetch_all(pool).await?;
            Ok::<_, sqlx::Error>((rows, total, counts))
        })?;
        Ok(RowPage {
            rows: rows.into_iter().map(row_from).collect(),
            total: total as usize,
            counts: counts
                .into_iter()
                .map(|(state, n)| (state, n as usize))
                .collect(),
        })
    }

    /// Purged instances leave the index and the ledger.
    pub async fn forget(&self, ids: &[String]) -> Result<(), IndexError> {
        let _turn = self.writes.take().await;
        let retries = format!(
            "DELETE FROM {} WHERE failed_id = $1 OR retry_id = $1",
            self.retries
        );
        let mut statements: Vec<String> =
            [&self.trips, &self.answers, &self.conversations, &self.usage]
                .iter()
                .map(|table| format!("DELETE FROM {table} WHERE id = $1"))
                .collect();
        statements.push(retries);
        for sql in &statements {
            for id in ids {
                on_db!(&self.db, |pool| sqlx::query(sql)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected()))?;
            }
        }
        Ok(())
    }

    /// The tokens each of `ids` spent: (trip, agent, tokens), an agent's calls for every plan
    /// revision in revision order.
    pub async fn usage_of(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, AgentName, ModelUsage)>, IndexError> {
        let sql = format!(
            "SELECT id, agent, revision, model, demo, prompt_tokens, cached_tokens, completion_tokens
             FROM {} WHERE id = $1 ORDER BY revision",
            self.usage
        );
        let mut found = Vec::new();
        for id in ids {
            let rows: Vec<UsageTuple> = on_db!(&self.db, |pool| sqlx::query_as(&sql)
                .bind(id)
                .fetch_all(pool)
                .await)?;
            found.extend(rows.into_iter().filter_map(
                |(id, agent, revision, model, demo, p, c, o)| {
                    let agent = AgentName::ALL.into_iter().find(|a| a.as_str() == agent)?;
                    let mut spent = ModelUsage::new(model, demo, p, c, o);
                    spent.revision = revision.max(1) as u32;
                    Some((id, agent, spent))
                },
            ));
        }
        Ok(found)
    }

    /// The tokens the trips a query selects spent, summed per model (paging ignored), and how
    /// many of them spent any.
    pub async fn usage_matching(
        &self,
        query: &RowQuery,
    ) -> Result<(Vec<ModelUsage>, usize), IndexError> {
        let (filter, args) = filter(query);
        let selected = format!("SELECT id FROM {} {filter}", self.trips);
        let sums = format!(
            "SELECT model, demo, CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(cached_tokens) AS BIGINT),
                    CAST(SUM(completion_tokens) AS BIGINT)
             FROM {} WHERE id IN ({selected}) GROUP BY model, demo",
            self.usage
        );
        let count = format!(
            "SELECT COUNT(DISTINCT id) FROM {} WHERE id IN ({selected})",
            self.usage
        );
        let (rows, trips) = on_db!(&self.db, |pool| {
            let mut rows = sqlx::query_as::<_, (String, bool, i64, i64, i64)>(&sums);
            let mut trips = sqlx::query_scalar::<_, i64>(&count);
            for a in &args {
                (rows, trips) = match a {
                    Arg::Text(s) => (rows.bind(s.clone()), trips.bind(s.clone())),
                    Arg::Int(i) => (rows.bind(*i), trips.bind(*i)),
                };
            }
            let rows = rows.fetch_all(pool).await?;
            let trips = trips.fetch_one(pool).await?;
            Ok::<_, sqlx::Error>((rows, trips))
        })?;
        let usage = rows
            .into_iter()
            .map(|(model, demo, p, c, o)| ModelUsage::new(model, demo, p, c, o))
            .collect();
        Ok((usage, trips as usize))
    }

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
        let mut found = RetryLinks::default();
        for (failed, retry) in links {
            if failed == instance_id {
                found.retried_by = Some(retry);
            } else {
                found.retry_of = Some(failed);
            }
        }
        Ok(found)
    }

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
        let _turn = self.writes.take().await;
        self.write_all(&statements).await?;
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

    /// Rows that may be behind the engine: trips in a passing state not updated for `grace`,
    /// and waits whose approval window closed more than `grace` ago.
    pub async fn suspect(&self, grace: std::time::Duration) -> Result<Vec<String>, IndexError> {
        let sql = self.suspect_sql();
        let cutoff = now_ms() - grace.as_millis() as i64;
        Ok(on_db!(&self.db, |pool| sqlx::query_scalar(&sql)
            .bind(cutoff)
            .fetch_all(pool)
            .await)?)
    }

    /// The repair pass's query: it runs every 30 s, so it reads only the rows it finds, through
    /// `trips_by_state` and `trips_awaiting_by_expiry`, never every parked trip.
    fn suspect_sql(&self) -> String {
        format!(
            "SELECT id FROM {} WHERE (state IN ('planning', 'booking') AND updated_ms < $1)
                OR (state = 'awaiting_approval' AND expires_ms < $1)",
            self.trips
        )
    }

    /// Brings one trip's row up to date from the engine's history.
    pub async fn refresh(
        &self,
        store: &dyn Provider,
        instance_id: &str,
    ) -> Result<Option<TripRow>, IndexError> {
        let history = store.read(instance_id).await?;
        if let Some(record) = TurnRecord::from_events(&history) {
            self.record_turn(&record).await?;
        }
        self.get(instance_id).await
    }

    /// Repairs rows that fell behind (see [`Self::suspect`]). Returns how many were looked at.
    pub async fn reconcile(
        &self,
        store: &dyn Provider,
        grace: std::time::Duration,
    ) -> Result<usize, IndexError> {
        let suspects = self.suspect(grace).await?;
        for id in &suspects {
            self.refresh(store, id).await?;
        }
        Ok(suspects.len())
    }

    /// Fills the index from every instance the engine has.
    pub async fn rebuild(&self, store: &dyn Provider) -> Result<usize, IndexError> {
        let Some(admin) = store.as_management_capability() else {
            return Ok(0);
        };
        let ids = admin.list_instances().await?;
        for id in &ids {
            self.refresh(store, id).await?;
        }
        Ok(ids.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trips index on a SQLite file of its own, removed when the folder is dropped.
    async fn sqlite_index() -> (TripIndex, sqlx::SqlitePool, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("index.db"))
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let (index, _) = TripIndex::open(Db::Sqlite(pool.clone()), WriteTurns::concurrent())
            .await
            .unwrap();
        (index, pool, dir)
    }

    /// Starting a trip answers once its first turn is recorded: the turn this process records
    /// wakes the start, one another process records is found by looking, and a trip nobody runs
    /// ends the wait when its time is up.
    #[tokio::test]
    async fn a_start_waits_for_the_first_turn_and_no_longer() {
        let (index, pool, _dir) = sqlite_index().await;
        let started = Started {
            traveller: "Ada".into(),
            created_ms: 1,
            token_sha256: "digest".into(),
        };
        for trip in ["here", "elsewhere", "nowhere"] {
            index.started(trip, &started).await.unwrap();
        }
        let wait = std::time::Duration::from_millis(30);

        let waiting = index.first_turns.wait_for("here");
        let record = TurnRecord {
            instance_id: "here".into(),
            seq: 1,
            updated_ms: 2,
            started: Some(started.clone()),
            progress: None,
            reports: Vec::new(),
            finished: None,
        };
        index.record_turn(&record).await.unwrap();
        assert!(waiting.next(std::time::Duration::ZERO).await, "woken");
        drop(waiting);
        assert!(index.wait_for_first_turn("here", wait).await.unwrap());

        let (seen, ()) = tokio::join!(
            index.wait_for_first_turn("elsewhere", std::time::Duration::from_secs(60)),
            async {
                // Another process's turn, while this one waits.
                tokio::time::sleep(wait).await;
                sqlx::query("UPDATE trips SET seq = 1 WHERE id = 'elsewhere'")
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        );
        assert!(seen.unwrap());

        assert!(!index.wait_for_first_turn("nowhere", wait).await.unwrap());
    }

    /// The repair pass runs every 30 s: with 100,000 trips parked, reading every row would fill
    /// SQLite's whole page cache each time.
    #[tokio::test]
    async fn the_repair_pass_reads_through_indexes_only() {
        let (index, pool, _dir) = sqlite_index().await;
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", index.suspect_sql()))
                .bind(0_i64)
                .fetch_all(&pool)
                .await
                .unwrap();
        let steps: Vec<&str> = plan.iter().map(|(.., step)| step.as_str()).collect();
        assert!(
            steps.iter().any(|s| s.contains("trips_awaiting_by_expiry")),
            "{steps:?}"
        );
        assert!(!steps.iter().any(|s| s.starts_with("SCAN")), "{steps:?}");
    }
}
