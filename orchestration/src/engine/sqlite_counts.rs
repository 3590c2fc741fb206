//! Counts over the whole SQLite store, on a connection of their own with a small page cache:
//! duroxide's system metrics (instances by status, executions, history events) and queue depths.
//!
//! duroxide counts every instance and every history row for its gauges when the engine starts,
//! and `GET /metrics` counts the queues when it is read. On duroxide's own connections every page
//! such a count reads stays in a page cache of up to 64 MB: with 20,000 trips a restart takes
//! 59 MB of memory for its first count that way. Here the pages pass through [`CACHE_KIB`] and are dropped.
//! The SQL is duroxide's own (its SQLite provider, version 0.1.32), so the answers are the same;
//! duroxide's provider conformance suite checks them (`orchestration/tests/store_conformance.rs`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duroxide::providers::{ProviderError, QueueDepths, SystemMetrics};
use rusqlite::Connection;

/// The counting connection's page cache.
const CACHE_KIB: i64 = 512;

/// The counting connection. Counts are rare (start-up, a metrics scrape), so one at a time.
pub struct SqliteCounts {
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteCounts").finish_non_exhaustive()
    }
}

fn count_failed(operation: &str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::retryable(operation, format!("counting the SQLite store: {e}"))
}

impl SqliteCounts {
    /// Opens the counting connection on a store that exists and is already migrated.
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "cache_size", -CACHE_KIB)?;
        connection.busy_timeout(Duration::from_secs(60))?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    /// Runs `count` on the connection, on tokio's blocking pool: a count reads the whole store.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        operation: &'static str,
        count: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ProviderError> {
        let counts = self.clone();
        tokio::task::spawn_blocking(move || {
            let connection = counts
                .connection
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            count(&connection)
        })
        .await
        .map_err(|e| count_failed(operation, e))?
        .map_err(|e| count_failed(operation, e))
    }

    pub async fn system_metrics(self: &Arc<Self>) -> Result<SystemMetrics, ProviderError> {
        self.run("get_system_metrics", |connection| {
            let tx = connection.unchecked_transaction()?;
            let (total, running, completed, failed): (i64, i64, i64, i64) = tx.query_row(
                "SELECT COUNT(*),
                        COALESCE(SUM(CASE WHEN e.status = 'Running' THEN 1 ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN e.status = 'Completed' THEN 1 ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN e.status = 'Failed' THEN 1 ELSE 0 END), 0)
                 FROM instances i
                 LEFT JOIN executions e
                   ON i.instance_id = e.instance_id AND i.current_execution_id = e.execution_id",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )?;
            let executions: i64 =
                tx.query_row("SELECT COUNT(*) FROM executions", [], |row| row.get(0))?;
            let events: i64 = tx.query_row("SELECT COUNT(*) FROM history", [], |row| row.get(0))?;
            Ok(SystemMetrics {
                total_instances: total as u64,
                total_executions: executions as u64,
                running_instances: running as u64,
                completed_instances: completed as u64,
                failed_instances: failed as u64,
                total_events: events as u64,
            })
        })
        .await
    }

    pub async fn queue_depths(self: &Arc<Self>) -> Result<QueueDepths, ProviderError> {
        self.run("get_queue_depths", |connection| {
            let tx = connection.unchecked_transaction()?;
            let waiting = |table: &str| -> rusqlite::Result<usize> {
                let sql = format!("SELECT COUNT(*) FROM {table} WHERE lock_token IS NULL");
                tx.query_row(&sql, [], |row| row.get::<_, i64>(0))
                    .map(|n| n as usize)
            };
            Ok(QueueDepths {
                orchestrator_queue: waiting("orchestrator_queue")?,
                worker_queue: waiting("worker_queue")?,
                // Timers wait in the orchestrator queue (duroxide's provider answers 0 too).
                timer_queue: 0,
            })
        })
        .await
    }
}
