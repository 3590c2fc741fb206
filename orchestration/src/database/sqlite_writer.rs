//! The SQLite store's one writer: a thread of its own with one connection, which every frequent
//! write of the process is handed to (the engine's queues, `engine/sqlite_queues`, and the trips
//! index's writes).
//!
//! SQLite lets one transaction write at a time, so the writes of this process form one line
//! whatever runs them. Run by a thread of their own they follow each other without a gap (no
//! waiting for the next writer's task to be scheduled on the async runtime, whose threads meanwhile
//! run no blocking database call), and they **commit in groups**: the thread begins a transaction,
//! runs every write waiting for it (up to [`GROUP_LIMIT`]), each in a savepoint of its own (a write
//! that fails or rolls back undoes only itself), and commits them together. A write is answered
//! once its group is committed, so nothing is reported written before it is; one that wrote
//! nothing (a fetch that found nothing, a refusal) is answered at once. With one write waiting, a
//! group is that write alone; with hundreds of trips in flight, one commit serves many writes, and
//! the pages they share (the queues' tables and indexes) are logged once per group instead of once
//! per write.
//!
//! Statements are prepared once and kept. Transactions begin `IMMEDIATE`: they take the write lock
//! before reading, so they never fail with `SQLITE_BUSY_SNAPSHOT`. The rarer writes that go
//! through sqlx's pool (duroxide's own calls, management) take the process' write turn
//! ([`super::write_turns`]), which the thread holds for each group.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Commits between two checkpoints (the log's pages copied into the database file), which a
/// thread of its own makes ([`Checkpoints`]) so that the writes never wait for one. SQLite's own
/// would run inside a commit every thousand pages of log, about as often.
const COMMITS_A_CHECKPOINT: u64 = 32;

/// The most writes one commit serves: enough that a group's commit costs little per write, few
/// enough that the first write of a group is not kept long waiting for the last.
const GROUP_LIMIT: usize = 64;

/// The writer: a handle on its thread. Dropping the last one ends the thread once the writes
/// handed to it are done.
pub struct SqliteWriter {
    writes: mpsc::Sender<Write>,
    /// Held by the thread for each group, and by whoever writes to the file through another
    /// connection (see [`super::write_turns`]).
    turn: Arc<tokio::sync::Mutex<()>>,
    counters: Arc<Counters>,
}

/// What the writer did so far.
#[derive(Debug, Default)]
pub struct Counters {
    /// Writes done (each as one transaction would have been), and turns taken by others.
    pub writes: AtomicU64,
    /// Commits made: each a group of writes.
    pub commits: AtomicU64,
    /// Microseconds the turn was held (by the writer's groups and by others).
    pub held_micros: AtomicU64,
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

/// A write handed to the thread: run in its group's transaction (or told the group could not
/// begin), it returns what to do once the group is committed (or failed to commit).
type Write = Box<dyn FnOnce(Result<&Connection, &rusqlite::Error>) -> Option<Answer> + Send>;

/// Answers a write that changed something, with the fate of its group's commit.
type Answer = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;

impl SqliteWriter {
    /// Opens the writer on a file that exists and is already migrated, with the settings of
    /// duroxide's own connections (its `synchronous = WAL` means NORMAL), and starts its thread.
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // Each write's savepoint keeps the pages it changes in a sub-journal; past 64 KB SQLite
        // moves it to a temporary file, created and deleted for the write. In memory it stays,
        // bounded by what one group changes.
        connection.pragma_update(None, "temp_store", "MEMORY")?;
        connection.busy_timeout(Duration::from_secs(60))?;
        connection.set_prepared_statement_cache_capacity(64);
        // Checkpoints are made by a thread of their own, never inside the writer's commits.
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpoints = Checkpoints::start(path)?;
        let (writes, waiting) = mpsc::channel();
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        let counters = Arc::new(Counters::default());
        let thread = Line {
            connection,
            checkpoints,
            waiting,
            turn: turn.clone(),
            counters: counters.clone(),
        };
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || thread.run())
            .map_err(|e| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("starting the writer's thread: {e}")),
                )
            })?;
        Ok(Self {
            writes,
            turn,
            counters,
        })
    }

    /// The process' write turn, which the thread holds for each group.
    pub fn turn(&self) -> &Arc<tokio::sync::Mutex<()>> {
        &self.turn
    }

    /// What the writer did so far.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Runs `work` as one write: in a savepoint of its group's transaction, kept and answered
    /// once the group is committed (`Finish::Commit`), or undone and answered at once
    /// (`Finish::Rollback`, or an error). `E` is the caller's error; the store's own failures
    /// become one with `fail`.
    pub async fn transaction<T, E, F, W>(&self, fail: F, work: W) -> Result<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: Fn(rusqlite::Error) -> E + Clone + Send + 'static,
        W: FnOnce(&Connection) -> Result<Finish<T>, E> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let fail_here = fail.clone();
        let write: Write = Box::new(move |group| {
            let connection = match group {
                Ok(connection) => connection,
                Err(e) => {
                    let _ = answer.send(Err(fail(copy_error(e))));
                    return None;
                }
            };
            match in_savepoint(connection, work, &fail) {
                Ok(Finish::Commit(value)) => {
                    Some(Box::new(move |committed: Option<&rusqlite::Error>| {
                        let _ = answer.send(match committed {
                            None => Ok(value),
                            Some(e) => Err(fail(copy_error(e))),
                        });
                    }) as Answer)
                }
                Ok(Finish::Rollback(value)) => {
                    let _ = answer.send(Ok(value));
                    None
                }
                Err(e) => {
                    let _ = answer.send(Err(e));
                    None
                }
            }
        });
        // Not answered: the thread stopped, or a write of the group panicked.
        let stopped = || {
            fail_here(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some("the store's writer did not finish this write".into()),
            ))
        };
        if self.writes.send(write).is_err() {
            return Err(stopped());
        }
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// One statement as a write of its own; returns the rows it changed.
    pub async fn execute<P>(&self, sql: &'static str, params: P) -> rusqlite::Result<usize>
    where
        P: rusqlite::Params + Send + 'static,
    {
        self.transaction(
            |e| e,
            move |connection| {
                let changed = connection.prepare_cached(sql)?.execute(params)?;
                Ok(Finish::Commit(changed))
            },
        )
        .await
    }

    /// `statements` as one write; returns the rows each changed.
    pub async fn write_all(&self, statements: Vec<Statement>) -> rusqlite::Result<Vec<usize>> {
        self.transaction(
            |e| e,
            move |connection| {
                let mut changed = Vec::with_capacity(statements.len());
                for statement in &statements {
                    let values = rusqlite::params_from_iter(statement.values.iter());
                    changed.push(connection.prepare_cached(&statement.sql)?.execute(values)?);
                }
                Ok(Finish::Commit(changed))
            },
        )
        .await
    }
}

/// `work` between `SAVEPOINT` and `RELEASE`, rolled back to the savepoint unless it commits.
fn in_savepoint<T, E>(
    connection: &Connection,
    work: impl FnOnce(&Connection) -> Result<Finish<T>, E>,
    fail: &impl Fn(rusqlite::Error) -> E,
) -> Result<Finish<T>, E> {
    let run = |sql: &str| {
        connection
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
    };
    run("SAVEPOINT write").map_err(fail)?;
    let result = work(connection);
    if !matches!(result, Ok(Finish::Commit(_))) {
        run("ROLLBACK TO write").map_err(fail)?;
    }
    run("RELEASE write").map_err(fail)?;
    result
}

/// A store error again, for each write of a group that failed to commit.
fn copy_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// The writer's thread: the connection and the writes waiting for it.
struct Line {
    connection: Connection,
    checkpoints: Checkpoints,
    waiting: mpsc::Receiver<Write>,
    turn: Arc<tokio::sync::Mutex<()>>,
    counters: Arc<Counters>,
}

impl Line {
    /// Runs groups until every handle is dropped: each of the writes waiting, in the order
    /// they came, up to [`GROUP_LIMIT`].
    fn run(self) {
        let mut group = Vec::with_capacity(GROUP_LIMIT);
        while let Ok(first) = self.waiting.recv() {
            group.push(first);
            while group.len() < GROUP_LIMIT {
                match self.waiting.try_recv() {
                    Ok(write) => group.push(write),
                    Err(_) => break,
                }
            }
            self.commit_group(&mut group);
        }
    }

    /// Runs `group`'s writes in one transaction and answers them. A write that panics undoes
    /// the group: its writes are answered with an error (by their answers being dropped).
    fn commit_group(&self, group: &mut Vec<Write>) {
        let _turn = self.turn.blocking_lock();
        let since = Instant::now();
        // Counted before the writes are answered, so that a caller answered sees its own.
        let writes = group.len() as u64;
        self.counters.writes.fetch_add(writes, Ordering::Relaxed);
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        let run = std::panic::AssertUnwindSafe(|| self.run_group(group));
        if std::panic::catch_unwind(run).is_err() {
            group.clear();
            if !self.connection.is_autocommit() {
                let _ = self.connection.execute_batch("ROLLBACK");
            }
        }
        self.counters
            .held_micros
            .fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    fn run_group(&self, group: &mut Vec<Write>) {
        let begun = self
            .connection
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]));
        let answers: Vec<Answer> = match &begun {
            Ok(_) => group
                .drain(..)
                .filter_map(|write| write(Ok(&self.connection)))
                .collect(),
            Err(e) => {
                for write in group.drain(..) {
                    write(Err(e));
                }
                Vec::new()
            }
        };
        if begun.is_ok() {
            let committed = self
                .connection
                .prepare_cached("COMMIT")
                .and_then(|mut s| s.execute([]));
            if committed.is_err() && !self.connection.is_autocommit() {
                let _ = self.connection.execute_batch("ROLLBACK");
            }
            for answer in answers {
                answer(committed.as_ref().err());
            }
            let commits = self.counters.commits.load(Ordering::Relaxed);
            if commits.is_multiple_of(COMMITS_A_CHECKPOINT) {
                self.checkpoints.due();
            }
        }
    }
}

/// The thread that copies the write-ahead log into the database file (a passive checkpoint: it
/// never waits for readers or the writer, and copies what they no longer need), asked to by the
/// writer every [`COMMITS_A_CHECKPOINT`] commits.
struct Checkpoints {
    due: mpsc::SyncSender<()>,
}

impl Checkpoints {
    fn start(path: &Path) -> Result<Self, rusqlite::Error> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(1))?;
        let (due, asked) = mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoints".into())
            .spawn(move || {
                while asked.recv().is_ok() {
                    let made = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    if let Err(e) = made {
                        tracing::debug!(error = %e, "checkpoint not made; the next one copies more");
                    }
                }
            })
            .map_err(|e| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("starting the checkpoints' thread: {e}")),
                )
            })?;
        Ok(Self { due })
    }

    /// Asks for a checkpoint, unless one is already asked for.
    fn due(&self) {
        let _ = self.due.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, Arc<SqliteWriter>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("writes.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE rows (n INTEGER PRIMARY KEY, text TEXT NOT NULL);
                 INSERT INTO rows VALUES (-1, 'there before')",
            )
            .unwrap();
        (dir, Arc::new(SqliteWriter::open(&path).unwrap()))
    }

    async fn count(writer: &SqliteWriter) -> i64 {
        writer
            .transaction(
                |e| e,
                |c| {
                    let n =
                        c.query_row("SELECT COUNT(*) FROM rows WHERE n >= 0", [], |r| r.get(0))?;
                    Ok(Finish::Rollback(n))
                },
            )
            .await
            .unwrap()
    }

    /// Writes handed at once share commits, and each keeps its own fate: one refused by the
    /// database, one rolled back and one whose work failed undo only themselves.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_grouped_in_one_commit_fail_alone() {
        let (_dir, writer) = writer();
        let tasks: Vec<_> = (0..300i64)
            .map(|n| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .transaction(
                            |e| e.to_string(),
                            move |c| {
                                // 8 writes a row that is there already: it is refused
                                // (whatever order the writes arrive in).
                                let key = if n == 8 { -1 } else { n };
                                c.execute("INSERT INTO rows VALUES (?1, 'x')", [key])
                                    .map_err(|e| e.to_string())?;
                                match n {
                                    9 => Ok(Finish::Rollback(n)),
                                    10 => Err("the work failed after writing".to_owned()),
                                    _ => Ok(Finish::Commit(n)),
                                }
                            },
                        )
                        .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        assert!(answers[8].as_ref().unwrap_err().contains("UNIQUE"));
        assert_eq!(answers[9], Ok(9));
        assert_eq!(answers[10], Err("the work failed after writing".to_owned()));
        assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 298);
        assert_eq!(count(&writer).await, 297, "all but the three undone");
        assert_eq!(writer.counters().writes.load(Ordering::Relaxed), 301);
    }

    /// A write that panics fails its group (nothing of it is kept) and the writer goes on.
    #[tokio::test]
    async fn a_panicking_write_fails_its_group_and_the_writer_goes_on() {
        let (_dir, writer) = writer();
        let panicked = writer
            .transaction(
                |e| e,
                |c| -> Result<Finish<()>, rusqlite::Error> {
                    c.execute("INSERT INTO rows VALUES (1, 'x')", [])?;
                    panic!("a bug in a write");
                },
            )
            .await;
        assert!(panicked.is_err());
        let changed = writer
            .execute("INSERT INTO rows VALUES (2, 'y')", ())
            .await
            .unwrap();
        assert_eq!(changed, 1);
        assert_eq!(count(&writer).await, 1, "the panicking write's row is gone");
    }
}
