//! The SQLite store's one writer connection, shared by the engine's queues
//! ([`super::sqlite_queues`]) and the trips index's frequent writes.
//!
//! Writes to the file take turns in this process anyway ([`super::write_turns`]), so one
//! connection serves them all. It is a `rusqlite` connection used in place: a write here is a
//! function call with statements prepared once and kept, where sqlx would hand every statement
//! to a worker thread and back (a thread switch inside the write turn, which every other write
//! waits behind). Transactions begin `IMMEDIATE`: they take the write lock before reading, so
//! they never fail with `SQLITE_BUSY_SNAPSHOT`.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// The writer connection. Callers hold the write turn, so its lock is never contended.
pub struct SqliteWriter {
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWriter").finish_non_exhaustive()
    }
}

/// How a transaction ends.
pub enum Finish<T> {
    Commit(T),
    Rollback(T),
}

/// A value bound into a statement, typed even when null (PostgreSQL needs the type).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
}

/// One statement of a write, with its values in the order of `$1`, `$2`, ...
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: String,
    pub values: Vec<Value>,
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Value::Int(v) => v.to_sql(),
            Value::Real(v) => v.to_sql(),
            Value::Text(v) => v.to_sql(),
            Value::Bool(v) => v.to_sql(),
        }
    }
}

impl SqliteWriter {
    /// Opens the writer on a file that exists and is already migrated, with the settings of
    /// duroxide's own connections (its `synchronous = WAL` means NORMAL).
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(Duration::from_secs(60))?;
        connection.set_prepared_statement_cache_capacity(64);
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction, committed or rolled back as it says.
    /// `E` is the caller's error; the transaction's own failures become one with `fail`.
    pub fn transaction<T, E>(
        &self,
        fail: impl Fn(rusqlite::Error) -> E,
        work: impl FnOnce(&Transaction<'_>) -> Result<Finish<T>, E>,
    ) -> Result<T, E> {
        let mut connection = self.connection();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&fail)?;
        match work(&tx)? {
            Finish::Commit(value) => {
                tx.commit().map_err(&fail)?;
                Ok(value)
            }
            // Dropping the transaction rolls it back.
            Finish::Rollback(value) => Ok(value),
        }
    }

    /// One statement in a transaction of its own; returns the rows it changed.
    pub fn execute(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.connection().prepare_cached(sql)?.execute(params)
    }

    /// `statements` in one transaction; returns the rows each changed.
    pub fn write_all(&self, statements: &[Statement]) -> rusqlite::Result<Vec<usize>> {
        self.transaction(
            |e| e,
            |tx| {
                let mut changed = Vec::with_capacity(statements.len());
                for statement in statements {
                    let values = rusqlite::params_from_iter(statement.values.iter());
                    changed.push(tx.prepare_cached(&statement.sql)?.execute(values)?);
                }
                Ok(Finish::Commit(changed))
            },
        )
    }
}
