//! The intake conversations (see [`crate::intake`]), one row each in the store the trips use:
//! the messages (the traveller's, the agent's, the tool's results), the trip it started, when
//! it was last spoken in and when it expires, who is answering it now (a lease, so that two
//! messages are never answered at once, by one process or several), and the tokens it spent.
//! Every write names the version it read: a write that lost a race changes nothing.

use travel_agents::{ThreadMessage, TokenUsage};

use super::{IndexError, TripIndex};
use crate::database::on_db;
use crate::database::sqlite_writer::{Statement, Value};

/// One conversation as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    pub id: String,
    /// The SHA-256 of its token (the token itself is shown once, never stored).
    pub token_sha256: String,
    pub messages: Vec<ThreadMessage>,
    /// The trip it started, once it has.
    pub trip_id: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// When it expires unless spoken in again (a conversation that started a trip does not).
    pub expires_ms: i64,
    /// Until when a reply is being written (a process answering it holds this lease).
    pub answering_until_ms: Option<i64>,
    /// The model that answered it last, and whether that was the demo model.
    pub model: Option<String>,
    pub demo: bool,
    /// Summed over every reply.
    pub usage: TokenUsage,
    /// Counts its writes.
    pub version: i64,
}

type RowTuple = (
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    bool,
    (i64, i64, i64, i64),
);

const COLUMNS: &str = "id, token_sha256, messages, trip_id, created_ms, updated_ms, expires_ms, \
     answering_until_ms, model, demo, prompt_tokens, cached_tokens, completion_tokens, version";

impl TripIndex {
    /// The conversations' table, the index the dashboard reads it by, and the one the
    /// housekeeping finds the expired ones by (only those whose messages are still kept).
    pub(super) fn intake_schema(&self, int: &str, boolean: &str) -> [String; 3] {
        [
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    id TEXT PRIMARY KEY,
                    token_sha256 TEXT NOT NULL,
                    messages TEXT NOT NULL,
                    trip_id TEXT,
                    created_ms {int} NOT NULL,
                    updated_ms {int} NOT NULL,
                    expires_ms {int} NOT NULL,
                    answering_until_ms {int},
                    model TEXT,
                    demo {boolean} NOT NULL,
                    prompt_tokens {int} NOT NULL,
                    cached_tokens {int} NOT NULL,
                    completion_tokens {int} NOT NULL,
                    version {int} NOT NULL
                )",
                self.intake
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS intake_conversations_by_created ON {} (created_ms DESC, id DESC)",
                self.intake
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS intake_conversations_kept_by_expiry ON {} (expires_ms)
                 WHERE trip_id IS NULL AND messages <> '[]'",
                self.intake
            ),
        ]
    }

    /// Keeps a new conversation.
    pub async fn create_conversation(&self, row: &ConversationRow) -> Result<(), IndexError> {
        let sql = format!(
            "INSERT INTO {} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            self.intake
        );
        let statement = Statement {
            sql,
            values: values(row),
        };
        self.write_all(vec![statement]).await?;
        Ok(())
    }

    /// Writes `row` over the stored one if that one is still at `row.version - 1`; answers
    /// whether it was (a write that lost a race changes nothing).
    pub async fn update_conversation(&self, row: &ConversationRow) -> Result<bool, IndexError> {
        // In order of appearance: SQLite numbers `$n` parameters as they come.
        let sql = format!(
            "UPDATE {} SET token_sha256 = $1, messages = $2, trip_id = $3, created_ms = $4,
                updated_ms = $5, expires_ms = $6, answering_until_ms = $7, model = $8, demo = $9,
                prompt_tokens = $10, cached_tokens = $11, completion_tokens = $12, version = $13
             WHERE id = $14 AND version = $15",
            self.intake
        );
        let mut values = values(row);
        let id = values.remove(0);
        values.extend([id, Value::Int(Some(row.version - 1))]);
        let changed = self.write_all(vec![Statement { sql, values }]).await?;
        Ok(changed.first().copied() == Some(1))
    }

    /// One conversation.
    pub async fn conversation_row(&self, id: &str) -> Result<Option<ConversationRow>, IndexError> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE id = $1", self.intake);
        let row = on_db!(&self.db, |pool| sqlx::query(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await
            .and_then(|r| r
                .as_ref()
                .map(ConversationColumns::conversation)
                .transpose()))?;
        Ok(row)
    }

    /// The newest conversations, newest first, at most `limit`.
    pub async fn recent_conversations(
        &self,
        limit: u32,
    ) -> Result<Vec<ConversationRow>, IndexError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} ORDER BY created_ms DESC, id DESC LIMIT $1",
            self.intake
        );
        let rows = on_db!(&self.db, |pool| sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .and_then(|rows| rows
                .iter()
                .map(ConversationColumns::conversation)
                .collect::<Result<Vec<_>, _>>()))?;
        Ok(rows)
    }

    /// Forgets the messages of the conversations that expired before `now_ms` without starting
    /// a trip (their tokens stay counted); answers how many.
    pub async fn forget_expired_conversations(&self, now_ms: i64) -> Result<u64, IndexError> {
        let sql = format!(
            "UPDATE {} SET messages = '[]', version = version + 1
             WHERE trip_id IS NULL AND expires_ms < $1 AND messages <> '[]'",
            self.intake
        );
        let changed = self
            .write_all(vec![Statement {
                sql,
                values: vec![Value::Int(Some(now_ms))],
            }])
            .await?;
        Ok(changed.first().copied().unwrap_or(0))
    }
}

/// The row's values in the order of [`COLUMNS`].
fn values(row: &ConversationRow) -> Vec<Value> {
    let messages = serde_json::to_string(&row.messages).expect("messages serialise");
    let tokens = |n: u64| Value::Int(Some(n as i64));
    vec![
        Value::Text(Some(row.id.clone())),
        Value::Text(Some(row.token_sha256.clone())),
        Value::Text(Some(messages)),
        Value::Text(row.trip_id.clone()),
        Value::Int(Some(row.created_ms)),
        Value::Int(Some(row.updated_ms)),
        Value::Int(Some(row.expires_ms)),
        Value::Int(row.answering_until_ms),
        Value::Text(row.model.clone()),
        Value::Bool(Some(row.demo)),
        tokens(row.usage.prompt_tokens),
        tokens(row.usage.cached_tokens),
        tokens(row.usage.completion_tokens),
        Value::Int(Some(row.version)),
    ]
}

/// Reads a row of [`COLUMNS`] from either store.
trait ConversationColumns {
    fn tuple(&self) -> Result<RowTuple, sqlx::Error>;

    fn conversation(&self) -> Result<ConversationRow, sqlx::Error> {
        from_tuple(self.tuple())
    }
}

macro_rules! columns_of {
    ($row:ty) => {
        impl ConversationColumns for $row {
            fn tuple(&self) -> Result<RowTuple, sqlx::Error> {
                use sqlx::Row;
                Ok((
                    self.try_get(0)?,
                    self.try_get(1)?,
                    self.try_get(2)?,
                    self.try_get(3)?,
                    self.try_get(4)?,
                    self.try_get(5)?,
                    self.try_get(6)?,
                    self.try_get(7)?,
                    self.try_get(8)?,
                    self.try_get(9)?,
                    (
                        self.try_get(10)?,
                        self.try_get(11)?,
                        self.try_get(12)?,
                        self.try_get(13)?,
                    ),
                ))
            }
        }
    };
}
columns_of!(sqlx::sqlite::SqliteRow);
columns_of!(sqlx::postgres::PgRow);

fn from_tuple(tuple: Result<RowTuple, sqlx::Error>) -> Result<ConversationRow, sqlx::Error> {
    let (
        id,
        token_sha256,
        messages,
        trip_id,
        created_ms,
        updated_ms,
        expires_ms,
        answering,
        model,
        demo,
        usage,
    ) = tuple?;
    let (prompt, cached, completion, version) = usage;
    let n = |v: i64| v.max(0) as u64;
    Ok(ConversationRow {
        id,
        token_sha256,
        // Written by this module only; unreadable text would be a bug, shown as no messages.
        messages: serde_json::from_str(&messages).unwrap_or_default(),
        trip_id,
        created_ms,
        updated_ms,
        expires_ms,
        answering_until_ms: answering,
        model,
        demo,
        usage: TokenUsage {
            prompt_tokens: n(prompt),
            cached_tokens: n(cached),
            completion_tokens: n(completion),
            total_tokens: n(prompt) + n(completion),
        },
        version,
    })
}
