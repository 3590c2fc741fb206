//! The fetches of a turn and of an activity on PostgreSQL, made to look only at the queue's
//! next candidates.
//!
//! duroxide-pg 0.1.38's fetches cost more with every trip in flight:
//!
//! * `fetch_orchestration_item` finds the trip to run next with one query that joins the queue
//!   to every trip's instance and execution rows (for the runtime's version filter, which
//!   duroxide always passes): a read of the whole store per fetch. Two fetches side by side
//!   then pick the same trip, and the second waits on the trip's advisory lock for the first's
//!   whole fetch.
//! * `fetch_work_item` asks for "an activity nobody holds **or** whose lease ran out", an `OR` no
//!   index answers: every fetch reads every activity in flight, each agent call waiting on the
//!   model included.
//!
//! The functions installed here (`postgres_fetches.sql`) read the turn queue in order through
//! its index and check each candidate's lease by key, stopping at the first free trip; take a
//! trip's advisory lock only if it is free at once, passing over a trip another fetch or
//! acknowledgement holds (when no other is free, waiting for the first held, at most 100 ms);
//! check the version of that one trip under the lock; and look for an
//! activity whose lease ran out through an index of leases by their end (the one that ended
//! first), then for the oldest free one. An activity whose lease ran out goes before a free one
//! (upstream takes the older of the two). What they claim, read and return is upstream's, line
//! for line.
//!
//! They replace upstream's only on the schema version they were written for: a duroxide-pg whose
//! migrations go further keeps its own.

use sqlx::PgPool;

/// The last duroxide-pg migration the functions were written against (0026, which left the
/// fetches of migrations 0025 and 0016 in place).
const WRITTEN_FOR_MIGRATION: i64 = 26;

const FUNCTIONS: &str = include_str!("postgres_fetches.sql");

/// Installs the fetches in `schema` if its migrations stop at [`WRITTEN_FOR_MIGRATION`];
/// returns whether it did. The statements go as one batch, one transaction, in which processes
/// starting together take turns (a transaction-scoped advisory lock).
pub async fn install(pool: &PgPool, schema: &str) -> Result<bool, sqlx::Error> {
    let migrated: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT MAX(version) FROM {schema}._duroxide_migrations"
    ))
    .fetch_one(pool)
    .await?;
    if migrated != Some(WRITTEN_FOR_MIGRATION) {
        tracing::warn!(
            schema,
            migrated,
            "duroxide-pg's schema is not the one the store's fetches were written for; keeping duroxide-pg's own"
        );
        return Ok(false);
    }
    let batch = format!(
        "SELECT pg_advisory_xact_lock(hashtext('travel_planner:fetches:{schema}'));\n{}",
        FUNCTIONS.replace("{schema}", schema)
    );
    sqlx::raw_sql(&batch).execute(pool).await?;
    Ok(true)
}
