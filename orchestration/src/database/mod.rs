//! The database plumbing the workflow store and the trips index share: which SQL database they
//! live in ([`Db`], one of the two pool types, with [`on_db!`] to run the same code on either),
//! SQLite's one writer (a thread of its own committing writes in groups: [`sqlite_writer`]) and
//! the turn every write takes ([`write_turns`]), how the store tells the trips index of each turn ([`turn_observer`]), and
//! the background tasks that serve them ([`AbortOnDrop`]).

pub mod sqlite_writer;
pub mod turn_observer;
pub mod write_turns;

/// The SQL database behind the store (the same one duroxide uses).
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(sqlx::SqlitePool),
    /// With the schema the tables live in.
    Postgres(sqlx::PgPool, String),
}

/// Runs the same code on either pool type.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::database::Db::Sqlite($pool) => $body,
            $crate::database::Db::Postgres($pool, _) => $body,
        }
    };
}
pub(crate) use on_db;

/// A background task that stops when this is dropped.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
