//! The embedded store: one SQLite file that this process holds alone, worked by duroxide's SQLite
//! provider and, for the calls every workflow step makes, by [`super::sqlite_queues`].
//!
//! SQLite's write-ahead log serves one writer well and several processes badly (and not at all on
//! network file shares), so the first `serve` on a data folder takes an exclusive lock beside the
//! file and a second one refuses to start. Holding the file alone also means that every lease in
//! it at start-up belongs to a process that is gone: they are released at once, so work in flight
//! when the last process died resumes immediately rather than when its lease runs out.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use duroxide::providers::sqlite::SqliteProvider;

use super::EngineError;
use super::sqlite_counts::SqliteCounts;
use super::sqlite_queues::SqliteStore;
use crate::database::Db;
use crate::database::sqlite_writer::SqliteWriter;

/// The open store, its counting connection, and the lock that keeps it this process' own (when
/// taken).
pub struct Opened {
    pub provider: SqliteStore,
    pub counts: Arc<SqliteCounts>,
    pub lock: Option<File>,
}

/// Opens (creating if needed) the SQLite store at `path`. With `exclusive`, takes the data
/// folder's lock first and releases every lease left by a previous process. SQLite keeps at most
/// `cache_bytes` of pages in memory for the whole process.
pub async fn open(path: &Path, exclusive: bool, cache_bytes: u64) -> Result<Opened, EngineError> {
    let failed = |message: String| EngineError::Store {
        location: path.display().to_string(),
        message,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
    }
    let lock = if exclusive {
        Some(lock_beside(path)?)
    } else {
        None
    };
    if !path.exists() {
        std::fs::File::create(path).map_err(|e| failed(e.to_string()))?;
    }
    let url = format!("sqlite:{}", path.display());
    let provider = SqliteProvider::new(&url, None)
        .await
        .map_err(|e| failed(e.to_string()))?;
    bound_memory(provider.get_pool(), cache_bytes)
        .await
        .map_err(|e| failed(format!("bounding SQLite's memory: {e}")))?;
    if exclusive {
        release_leases(provider.get_pool())
            .await
            .map_err(|e| failed(format!("releasing old leases: {e}")))?;
    }
    let writer = Arc::new(SqliteWriter::open(path).map_err(|e| failed(e.to_string()))?);
    let counts = Arc::new(SqliteCounts::open(path).map_err(|e| failed(e.to_string()))?);
    let provider = SqliteStore::new(provider, writer)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(Opened {
        provider,
        counts,
        lock,
    })
}

/// `workflows.db.lock` (or `trips.db.lock`), held with an exclusive advisory lock for the life
/// of the process.
pub(super) fn lock_beside(path: &Path) -> Result<File, EngineError> {
    let lock_path = path.with_extension("db.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| EngineError::Store {
            location: lock_path.display().to_string(),
            message: e.to_string(),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(EngineError::InUse {
            path: path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(EngineError::Store {
            location: lock_path.display().to_string(),
            message: e.to_string(),
        }),
    }
}

/// duroxide gives each of its connections a 64 MB page cache, which fills as the file outgrows it.
/// SQLite's soft heap limit bounds them all together: it holds for the whole process (the trips
/// index's connections included), and once reached SQLite reuses cached pages instead of
/// allocating more.
async fn bound_memory(pool: &sqlx::SqlitePool, bytes: u64) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("PRAGMA soft_heap_limit = {bytes}"))
        .execute(pool)
        .await
        .map(|_| ())
}

/// Every lease in the file belongs to a process that is gone: make its work fetchable now.
async fn release_leases(pool: &sqlx::SqlitePool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for statement in [
        "DELETE FROM instance_locks",
        "UPDATE orchestrator_queue SET lock_token = NULL, locked_until = NULL WHERE lock_token IS NOT NULL",
        "UPDATE worker_queue SET lock_token = NULL, locked_until = NULL WHERE lock_token IS NOT NULL",
        "DELETE FROM sessions",
    ] {
        let released = sqlx::query(statement)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if released > 0 {
            tracing::info!(
                released,
                statement,
                "released leases left by a previous process"
            );
        }
    }
    tx.commit().await
}

/// Copies the write-ahead log into the database and truncates it. SQLite does the copying by
/// itself as it goes, but the log file keeps the size it reached under load; this gives the disk
/// back. It waits at most 100 ms for readers to leave the log (the caller holds the write turn,
/// so the engine's writes wait meanwhile), and gives up until next time if they do not.
pub async fn truncate_log(pool: &sqlx::SqlitePool) -> Result<(), sqlx::Error> {
    let mut connection = pool.acquire().await?;
    sqlx::query("PRAGMA busy_timeout = 100")
        .execute(&mut *connection)
        .await?;
    let checkpoint = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut *connection)
        .await;
    // duroxide's own setting for its connections.
    sqlx::query("PRAGMA busy_timeout = 60000")
        .execute(&mut *connection)
        .await?;
    checkpoint.map(|_| ())
}

/// A SQLite file of its own for the trips index (when the workflows are kept elsewhere: a
/// Durable Task scheduler), with the settings of the store's: its pool, and its writer.
pub async fn index_file(path: &Path) -> Result<(Db, Arc<SqliteWriter>), EngineError> {
    let failed = |message: String| EngineError::Store {
        location: path.display().to_string(),
        message,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(60));
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let writer = SqliteWriter::open(path).map_err(|e| failed(e.to_string()))?;
    Ok((Db::Sqlite(pool), Arc::new(writer)))
}
