//! The index's tables and indexes, in each store's dialect, and the room they take.

use super::{Db, IndexError, TripIndex};

impl TripIndex {
    /// Whether the store has the table `name` (in the schema, on PostgreSQL).
    pub(super) async fn has_table(&self, name: &str) -> Result<bool, IndexError> {
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
    pub(super) fn schema(&self, int: &str, real: &str, boolean: &str) -> Vec<String> {
        let mut statements = self.trips_schema(int, real).to_vec();
        statements.extend(self.retries_and_usage_schema(int, boolean));
        statements.extend(self.outbox_and_keys_schema(int));
        statements.extend(self.intake_schema(int, boolean));
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
}
