//! Turn-taking for the store's writes. SQLite lets one transaction write at a time, and a
//! transaction that read first and then finds another's commit fails at once
//! (`SQLITE_BUSY_SNAPSHOT`) instead of waiting; so on SQLite every write in this process, the
//! engine's and the trips index's alike, waits for its turn here, and the frequent ones run on
//! the store's one writer connection ([`super::sqlite_writer`]). PostgreSQL needs no turns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::{Mutex, MutexGuard};

use super::sqlite_writer::SqliteWriter;

/// Shared by the engine's store and the trips index of one store.
#[derive(Debug, Clone, Default)]
pub struct WriteTurns {
    /// `None`: writes run concurrently (PostgreSQL).
    lock: Option<Arc<Mutex<()>>>,
    /// SQLite: the connection the turn's holder writes with (the frequent writes; the rest go
    /// through sqlx's pool).
    writer: Option<Arc<SqliteWriter>>,
    /// Turns taken so far (each one store transaction): how hard the process works its store.
    taken: Arc<AtomicU64>,
    /// Microseconds the turn was held so far (SQLite): writes take turns, so this is how busy
    /// the one line every write waits in was.
    held_micros: Arc<AtomicU64>,
}

/// Held while writing: the process' turn (SQLite), or nothing to hold (PostgreSQL).
#[derive(Debug)]
pub struct WriteTurn<'a> {
    guard: Option<(MutexGuard<'a, ()>, Instant, &'a AtomicU64)>,
}

impl Drop for WriteTurn<'_> {
    fn drop(&mut self) {
        if let Some((_, since, held)) = &self.guard {
            held.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }
}

impl WriteTurns {
    /// One write at a time (SQLite), the frequent ones on `writer`.
    pub fn one_at_a_time(writer: Arc<SqliteWriter>) -> Self {
        Self {
            lock: Some(Arc::new(Mutex::new(()))),
            writer: Some(writer),
            ..Default::default()
        }
    }

    /// The SQLite store's writer connection, for a caller holding its turn.
    pub fn sqlite_writer(&self) -> Option<&SqliteWriter> {
        self.writer.as_deref()
    }

    /// Writes run concurrently (PostgreSQL).
    pub fn concurrent() -> Self {
        Self::default()
    }

    /// Waits for this process' turn to write.
    pub async fn take(&self) -> WriteTurn<'_> {
        self.taken.fetch_add(1, Ordering::Relaxed);
        WriteTurn {
            guard: match &self.lock {
                Some(lock) => Some((lock.lock().await, Instant::now(), &*self.held_micros)),
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

    /// How long turns were held so far (SQLite; zero where writes do not take turns).
    pub fn held(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.held_micros.load(Ordering::Relaxed))
    }
}
