//! Turn-taking for the store's writes. SQLite lets one transaction write at a time, and a
//! transaction that read first and then finds another's commit fails at once
//! (`SQLITE_BUSY_SNAPSHOT`) instead of waiting; so on SQLite every write in this process, the
//! engine's and the trips index's alike, takes turns: the frequent ones are handed to the store's
//! writer ([`super::sqlite_writer`]), whose thread holds the turn for each group of writes it
//! commits, and the rare ones that go through sqlx's pool wait for the turn here. PostgreSQL
//! needs no turns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::{Mutex, MutexGuard};

use super::sqlite_writer::{Counters, SqliteWriter};

/// Shared by the engine's store and the trips index of one store.
#[derive(Debug, Clone, Default)]
pub struct WriteTurns {
    /// `None`: writes run concurrently (PostgreSQL).
    lock: Option<Arc<Mutex<()>>>,
    /// SQLite: the writer the frequent writes are handed to (the rest go through sqlx's pool).
    writer: Option<Arc<SqliteWriter>>,
    /// Writes and turns so far (each one store transaction, however committed): how hard the
    /// process works its store; commits; and how long the turn was held (SQLite: writes take
    /// turns, so this is how busy the one line every write waits in was).
    counters: Arc<Counters>,
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
    /// One write at a time (SQLite), the frequent ones handed to `writer`.
    pub fn one_at_a_time(writer: Arc<SqliteWriter>) -> Self {
        Self {
            lock: Some(writer.turn().clone()),
            counters: writer.counters().clone(),
            writer: Some(writer),
        }
    }

    /// The SQLite store's writer, for the frequent writes. Never called while holding a turn
    /// taken with [`Self::take`]: the writer's thread waits for the same turn.
    pub fn sqlite_writer(&self) -> Option<&SqliteWriter> {
        self.writer.as_deref()
    }

    /// Writes run concurrently (PostgreSQL).
    pub fn concurrent() -> Self {
        Self::default()
    }

    /// Waits for this process' turn to write through a connection of sqlx's pool. Writes
    /// handed to the writer ([`Self::sqlite_writer`]) take no turn here, and are never made
    /// while holding one (its thread waits for the same turn).
    pub async fn take(&self) -> WriteTurn<'_> {
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        WriteTurn {
            guard: match &self.lock {
                Some(lock) => Some((
                    lock.lock().await,
                    Instant::now(),
                    &self.counters.held_micros,
                )),
                None => None,
            },
        }
    }

    /// Counts a transaction made while holding a turn already taken (the index's upsert after
    /// the engine's acknowledgement, PostgreSQL).
    pub fn count_one_more(&self) {
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether writes take turns.
    pub fn one_at_a_time_enabled(&self) -> bool {
        self.lock.is_some()
    }

    /// Turns taken so far: fetches and writes of the engine and the index, each one transaction.
    pub fn taken(&self) -> u64 {
        self.counters.writes.load(Ordering::Relaxed)
    }

    /// Commits the writer made so far, each for a group of writes (SQLite; zero elsewhere).
    pub fn commits(&self) -> u64 {
        self.counters.commits.load(Ordering::Relaxed)
    }

    /// How long turns were held so far (SQLite; zero where writes do not take turns).
    pub fn held(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.counters.held_micros.load(Ordering::Relaxed))
    }
}
