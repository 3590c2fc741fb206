//! Turn-taking for the store's writes. SQLite lets one transaction write at a time, and a
//! transaction that read first and then finds another's commit fails at once
//! (`SQLITE_BUSY_SNAPSHOT`) instead of waiting; so on SQLite every write in this process, the
//! engine's and the trips index's alike, takes its turn. The frequent ones are jobs for the
//! store's writer thread ([`super::sqlite_writer`], which holds the turn while it writes); the
//! rare ones through sqlx's pool wait for the turn here. PostgreSQL needs no turns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Mutex, MutexGuard};

use super::sqlite_writer::{InGroup, SqliteWriter, WriterError};

/// Shared by the engine's store and the trips index of one store.
#[derive(Debug, Clone, Default)]
pub struct WriteTurns {
    /// `None`: writes run concurrently (PostgreSQL).
    lock: Option<Arc<Mutex<()>>>,
    /// SQLite: the writer thread the frequent writes are sent to (the rest go through sqlx's
    /// pool, holding the turn).
    writer: Option<Arc<SqliteWriter>>,
    /// Turns taken so far (each one store transaction): how hard the process works its store.
    taken: Arc<AtomicU64>,
}

/// Held while writing: the process' turn (SQLite), or nothing to hold (PostgreSQL).
#[derive(Debug)]
pub struct WriteTurn<'a> {
    _guard: Option<MutexGuard<'a, ()>>,
}

impl WriteTurns {
    /// One write at a time on the SQLite file at `path`, the frequent ones on a writer thread
    /// of its own.
    pub fn one_at_a_time(path: &std::path::Path) -> Result<Self, rusqlite::Error> {
        let lock = Arc::new(Mutex::new(()));
        let writer = SqliteWriter::open(path, lock.clone())?;
        Ok(Self {
            lock: Some(lock),
            writer: Some(Arc::new(writer)),
            ..Default::default()
        })
    }

    /// Whether the frequent writes go to a writer thread (SQLite).
    pub fn has_writer(&self) -> bool {
        self.writer.is_some()
    }

    /// Runs `work` on the SQLite store's writer thread, counted as one transaction; `None` on
    /// PostgreSQL. The caller must not hold the turn (the thread takes it).
    pub async fn on_writer<T: Send + 'static>(
        &self,
        work: impl FnOnce(&InGroup<'_>) -> T + Send + 'static,
    ) -> Option<Result<T, WriterError>> {
        let writer = self.writer.as_ref()?;
        self.taken.fetch_add(1, Ordering::Relaxed);
        Some(writer.run(work).await)
    }

    /// Writes run concurrently (PostgreSQL).
    pub fn concurrent() -> Self {
        Self::default()
    }

    /// Waits for this process' turn to write.
    pub async fn take(&self) -> WriteTurn<'_> {
        self.taken.fetch_add(1, Ordering::Relaxed);
        WriteTurn {
            _guard: match &self.lock {
                Some(lock) => Some(lock.lock().await),
                None => None,
            },
        }
    }

    /// Counts a transaction made while holding a turn already taken (the index's upsert after
    /// the engine's acknowledgement).
    pub fn count_one_more(&self) {
        self.taken.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether writes take turns.
    pub fn one_at_a_time_enabled(&self) -> bool {
        self.lock.is_some()
    }

    /// Turns taken so far: fetches and writes of the engine and the index, each one transaction.
    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }
}
