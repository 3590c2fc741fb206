//! The SQLite store's one writer connection, on a thread of its own, shared by the engine's
//! queues ([`super::sqlite_queues`]) and the trips index's frequent writes.
//!
//! Writes to the file take turns anyway (SQLite lets one transaction write at a time), so one
//! connection serves them all, with its statements prepared once and kept. It lives on its own
//! thread: a write is a job sent to it, and the async runtime's threads never wait on the file.
//!
//! The thread commits in groups: it takes every job waiting (up to [`MOST_IN_ONE_COMMIT`]), runs
//! each in a savepoint of one `BEGIN IMMEDIATE` transaction (a job that fails or rolls back undoes
//! only its own writes), commits once, and then answers each job. With thousands of trips in
//! flight the jobs come in bursts, and one commit writes the pages they share (the queues' tables
//! and indexes) once instead of once a job. A job is answered only after its group is committed;
//! when the commit fails, every job of the group is told so.
//!
//! The few writes that go through sqlx's pool (duroxide's rarely used calls, migrations, the
//! index's rare writes) take the store's write turn ([`super::write_turns`]); the thread holds
//! that same turn while it runs a group, so they never meet.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// The most jobs committed together.
const MOST_IN_ONE_COMMIT: usize = 256;

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

/// Why a job got no answer from the writer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriterError {
    #[error("the group of writes this one was in could not be committed: {0}")]
    Commit(String),
    #[error("the SQLite writer thread has stopped")]
    Stopped,
}

/// What a job hands back once it ran: how to answer it when its group is committed (or not).
type Answer = Box<dyn FnOnce(Result<(), WriterError>) + Send>;
type Job = Box<dyn FnOnce(&InGroup<'_>) -> Answer + Send>;

/// The writer thread's handle. Dropping it ends the thread once the jobs sent are done.
pub struct SqliteWriter {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWriter").finish_non_exhaustive()
    }
}

impl SqliteWriter {
    /// Opens the writer on a file that exists and is already migrated, with the settings of
    /// duroxide's own connections (its `synchronous = WAL` means NORMAL), and starts its thread.
    /// The thread holds `turn` while it writes.
    pub fn open(path: &Path, turn: Arc<tokio::sync::Mutex<()>>) -> Result<Self, rusqlite::Error> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(Duration::from_secs(60))?;
        connection.set_prepared_statement_cache_capacity(64);
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_in_groups(&connection, &queue, &turn))
            .map_err(|e| {
                rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(format!(
                    "the SQLite writer thread could not start: {e}"
                ))))
            })?;
        Ok(Self { jobs })
    }

    /// Runs `work` on the writer's thread, in the next group; answers once the group is
    /// committed.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&InGroup<'_>) -> T + Send + 'static,
    ) -> Result<T, WriterError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |group| {
            let outcome = work(group);
            Box::new(move |committed: Result<(), WriterError>| {
                let _ = answer.send(committed.map(|()| outcome));
            })
        });
        self.jobs.send(job).map_err(|_| WriterError::Stopped)?;
        answered.await.unwrap_or(Err(WriterError::Stopped))
    }
}

/// The writer thread: a group of jobs at a time, in one transaction, while holding the turn.
fn write_in_groups(
    connection: &Connection,
    queue: &mpsc::Receiver<Job>,
    turn: &tokio::sync::Mutex<()>,
) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MOST_IN_ONE_COMMIT {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let _turn = turn.blocking_lock();
        let group = InGroup { connection };
        let begun = connection.execute_batch("BEGIN IMMEDIATE");
        let answers: Vec<Answer> = match &begun {
            Ok(()) => jobs.into_iter().map(|job| job(&group)).collect(),
            Err(_) => Vec::new(),
        };
        let committed = match begun {
            Err(e) => Err(WriterError::Commit(e.to_string())),
            Ok(()) => connection.execute_batch("COMMIT").map_err(|e| {
                let _ = connection.execute_batch("ROLLBACK");
                WriterError::Commit(e.to_string())
            }),
        };
        drop(_turn);
        for answer in answers {
            answer(committed.clone());
        }
    }
}

/// The writer's connection inside a group's transaction, as a job sees it.
pub struct InGroup<'c> {
    connection: &'c Connection,
}

impl InGroup<'_> {
    /// Runs `work` as a transaction of its own within the group (a savepoint): committed with
    /// the group, or rolled back alone, as it says. `E` is the caller's error; the savepoint's
    /// own failures become one with `fail`.
    pub fn transaction<T, E>(
        &self,
        fail: impl Fn(rusqlite::Error) -> E,
        work: impl FnOnce(&Connection) -> Result<Finish<T>, E>,
    ) -> Result<T, E> {
        let connection = self.connection;
        let statement = |sql: &str| connection.prepare_cached(sql)?.execute([]).map(|_| ());
        statement("SAVEPOINT job").map_err(&fail)?;
        let outcome = work(connection);
        let undo = |fail: &dyn Fn(rusqlite::Error) -> E| {
            statement("ROLLBACK TO job")
                .and_then(|()| statement("RELEASE job"))
                .map_err(fail)
        };
        match outcome {
            Ok(Finish::Commit(value)) => match statement("RELEASE job") {
                Ok(()) => Ok(value),
                Err(e) => {
                    undo(&fail)?;
                    Err(fail(e))
                }
            },
            Ok(Finish::Rollback(value)) => undo(&fail).map(|()| value),
            Err(error) => {
                undo(&fail)?;
                Err(error)
            }
        }
    }

    /// One statement; returns the rows it changed (a statement that fails changes nothing).
    pub fn execute(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.connection.prepare_cached(sql)?.execute(params)
    }

    /// `statements`, all or none; returns the rows each changed.
    pub fn write_all(&self, statements: &[Statement]) -> rusqlite::Result<Vec<usize>> {
        self.transaction(
            |e| e,
            |connection| {
                let mut changed = Vec::with_capacity(statements.len());
                for statement in statements {
                    let values = rusqlite::params_from_iter(statement.values.iter());
                    changed.push(connection.prepare_cached(&statement.sql)?.execute(values)?);
                }
                Ok(Finish::Commit(changed))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, SqliteWriter) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        let writer = SqliteWriter::open(&path, Default::default()).unwrap();
        (dir, writer)
    }

    fn count(group: &InGroup<'_>) -> i64 {
        group
            .connection
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn a_job_that_fails_or_rolls_back_undoes_only_its_own_writes() {
        let (_dir, writer) = writer();
        let insert = |n: i64| {
            move |group: &InGroup<'_>| {
                group.transaction(
                    |e| e.to_string(),
                    |c| {
                        c.execute("INSERT INTO t (n) VALUES (?1)", [n])
                            .map_err(|e| e.to_string())?;
                        if n == 2 {
                            return Ok(Finish::Rollback(()));
                        }
                        if n == 3 {
                            return Err("refused".to_string());
                        }
                        Ok(Finish::Commit(()))
                    },
                )
            }
        };
        let (one, two, three, four) = tokio::join!(
            writer.run(insert(1)),
            writer.run(insert(2)),
            writer.run(insert(3)),
            writer.run(insert(4)),
        );
        assert_eq!(one.unwrap(), Ok(()));
        assert_eq!(two.unwrap(), Ok(()));
        assert_eq!(three.unwrap(), Err("refused".to_string()));
        assert_eq!(four.unwrap(), Ok(()));
        let rows: Vec<i64> = writer
            .run(|group| {
                let mut s = group
                    .connection
                    .prepare("SELECT n FROM t ORDER BY n")
                    .unwrap();
                s.query_map([], |r| r.get(0))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            })
            .await
            .unwrap();
        assert_eq!(rows, vec![1, 4]);
    }

    #[tokio::test]
    async fn jobs_sent_together_are_committed_together_and_answered_after() {
        let (_dir, writer) = writer();
        let writer = Arc::new(writer);
        let jobs: Vec<_> = (0..500)
            .map(|n| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .run(move |group| {
                            group.write_all(&[Statement {
                                sql: "INSERT INTO t (n) VALUES ($1)".into(),
                                values: vec![Value::Int(Some(n))],
                            }])
                        })
                        .await
                })
            })
            .collect();
        for job in jobs {
            assert_eq!(job.await.unwrap().unwrap().unwrap(), vec![1]);
        }
        assert_eq!(writer.run(|group| count(group)).await.unwrap(), 500);
    }

    #[tokio::test]
    async fn the_writer_waits_for_the_turn_of_a_write_made_elsewhere() {
        let turn: Arc<tokio::sync::Mutex<()>> = Default::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        let writer = SqliteWriter::open(&path, turn.clone()).unwrap();
        let held = turn.lock().await;
        let write = writer.run(|group| group.execute("INSERT INTO t (n) VALUES (1)", []));
        tokio::pin!(write);
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut write)
                .await
                .is_err(),
            "no write while another holds the turn"
        );
        drop(held);
        assert_eq!(write.await.unwrap().unwrap(), 1);
    }
}
