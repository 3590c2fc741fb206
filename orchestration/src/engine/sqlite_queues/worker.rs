//! The workers' side: the next activity leased to a worker (within its sessions and tags), its
//! result acknowledged (queued for its orchestration), its lease renewed or given up.

use std::time::Duration;

use duroxide::providers::{ProviderError, SessionFetchConfig, TagFilter, WorkItem};
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    SqliteStore, insert_orchestrator_item, millis, new_lock_token, now_millis, store_error,
    to_json, visible_from,
};
use crate::database::sqlite_writer::Finish;

/// Our index of the activities' leases by when they end, beside duroxide's (see
/// [`next_activity_sql`]); made when the store is opened.
pub(super) const LEASES_BY_END: &str = "travel_worker_leases_by_end";

/// Makes [`LEASES_BY_END`] if the file does not have it yet.
pub(super) const CREATE_LEASES_BY_END: &str = "CREATE INDEX IF NOT EXISTS travel_worker_leases_by_end \
     ON worker_queue(locked_until) WHERE lock_token IS NOT NULL";

/// The worker-queue statement that finds the next activity for a fetch.
fn next_activity_sql(session: bool, tag_filter: &TagFilter) -> (String, Vec<String>) {
    // Parameters: ?1 now, ?2 the session owner (session fetches), then the tags.
    let first_tag = if session { 3 } else { 2 };
    let mut tags: Vec<String> = match tag_filter {
        TagFilter::Tags(set) | TagFilter::DefaultAnd(set) => set.iter().cloned().collect(),
        _ => Vec::new(),
    };
    tags.sort();
    let placeholders = (0..tags.len())
        .map(|i| format!("?{}", first_tag + i))
        .collect::<Vec<_>>()
        .join(", ");
    let tag_clause = match tag_filter {
        TagFilter::DefaultOnly => "q.tag IS NULL".to_owned(),
        TagFilter::Tags(_) => format!("q.tag IN ({placeholders})"),
        TagFilter::DefaultAnd(_) => format!("(q.tag IS NULL OR q.tag IN ({placeholders}))"),
        TagFilter::Any => "1".to_owned(),
        TagFilter::None => "0".to_owned(),
    };
    // Two searches, each answered by an index, and the lower queue position of what they find:
    // a free activity (duroxide's index on the lease's token, in queue order), and one whose
    // lease ran out (our index of the leases by their end, `LEASES_BY_END`). duroxide's single
    // search ("free or ran out") reads every leased activity on every fetch: with 2,500 agent
    // calls waiting on the model, 90 µs a fetch instead of 5 (`docs/benchmarks.md`, nineteenth
    // session). `INDEXED BY`: left to itself, SQLite picks the session's or the
    // tag's index, which are worse still.
    let (from, session_clause) = if session {
        (
            "worker_queue q INDEXED BY {index} \
             LEFT JOIN sessions s ON s.session_id = q.session_id AND s.locked_until > ?1",
            "(q.session_id IS NULL OR s.worker_id = ?2 OR s.session_id IS NULL)",
        )
    } else {
        ("worker_queue q INDEXED BY {index}", "q.session_id IS NULL")
    };
    let search = |index: &str, lease: &str| {
        format!(
            "SELECT * FROM (SELECT q.id, q.work_item, q.attempt_count, q.session_id FROM {} \
             WHERE {lease} AND q.visible_at <= ?1 AND {session_clause} AND ({tag_clause}) \
             ORDER BY q.id LIMIT 1)",
            from.replace("{index}", index)
        )
    };
    let sql = format!(
        "{} UNION ALL {} ORDER BY 1 LIMIT 1",
        search("idx_worker_available", "q.lock_token IS NULL"),
        search(
            LEASES_BY_END,
            "q.lock_token IS NOT NULL AND q.locked_until <= ?1"
        ),
    );
    (sql, tags)
}

type NextActivity = (i64, String, i64, Option<String>);

/// Marks a session used now, unless another worker took it over (best effort, as duroxide).
fn touch_session(tx: &Connection, session_id: &str, now: i64) {
    let _ = tx
        .prepare_cached(
            "UPDATE sessions SET last_activity_at = ?1 WHERE session_id = ?2 AND locked_until > ?1",
        )
        .and_then(|mut s| s.execute(params![now, session_id]));
}

impl SqliteStore {
    /// The next visible, unleased activity this worker may run, leased to it.
    pub(super) async fn fetch_activity(
        &self,
        lock_timeout: Duration,
        session: Option<&SessionFetchConfig>,
        tag_filter: &TagFilter,
    ) -> Result<Option<(WorkItem, String, u32)>, ProviderError> {
        const OP: &str = "fetch_work_item";
        let err = |e| store_error(OP, e);
        if matches!(tag_filter, TagFilter::None) {
            return Ok(None);
        }
        let (sql, tags) = next_activity_sql(session.is_some(), tag_filter);
        let session = session.cloned();
        self.transaction(OP, move |tx| {
            let session = session.as_ref();
            let token = new_lock_token();
            let locked_until = now_millis() + millis(lock_timeout);
            let now = now_millis();
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![&now];
            if let Some(config) = session {
                values.push(&config.owner_id);
            }
            values.extend(tags.iter().map(|t| t as &dyn rusqlite::ToSql));
            let next: Option<NextActivity> = tx
                .prepare_cached(&sql)
                .and_then(|mut s| {
                    s.query_row(values.as_slice(), |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()
                })
                .map_err(err)?;
            let Some((id, work_item, attempts, session_id)) = next else {
                return Ok(Finish::Rollback(None));
            };
            tx.prepare_cached(
                "UPDATE worker_queue SET lock_token = ?1, locked_until = ?2, attempt_count = attempt_count + 1 WHERE id = ?3",
            )
            .and_then(|mut s| s.execute(params![token, locked_until, id]))
            .map_err(err)?;
            if let (Some(session_id), Some(config)) = (&session_id, session) {
                let claimed = tx
                    .prepare_cached(
                        "INSERT INTO sessions (session_id, worker_id, locked_until, last_activity_at) \
                         VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (session_id) DO UPDATE SET worker_id = ?2, locked_until = ?3, last_activity_at = ?4 \
                         WHERE sessions.locked_until <= ?4 OR sessions.worker_id = ?2",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            session_id,
                            config.owner_id,
                            now + millis(config.lock_timeout),
                            now
                        ])
                    })
                    .map_err(err)?;
                // Another worker holds the session: leave the activity for it.
                if claimed == 0 {
                    return Ok(Finish::Rollback(None));
                }
            }
            let item: WorkItem = serde_json::from_str(&work_item).map_err(|e| {
                ProviderError::permanent(OP, format!("Deserialization error: {e}"))
            })?;
            Ok(Finish::Commit(Some((item, token, attempts as u32 + 1))))
        })
        .await
    }

    /// Removes a finished activity (while its lease holds) and queues its result.
    pub(super) async fn acknowledge_activity(
        &self,
        token: &str,
        completion: Option<WorkItem>,
    ) -> Result<(), ProviderError> {
        let first = self.first.finished(token);
        const OP: &str = "ack_work_item";
        let err = |e| store_error(OP, e);
        // The result's message, made before the write turn (a wrong kind is refused below, in
        // duroxide's order: after a missing activity).
        let message = completion.map(|completion| match &completion {
            WorkItem::ActivityCompleted { instance, .. }
            | WorkItem::ActivityFailed { instance, .. } => {
                Ok((instance.clone(), to_json(OP, &completion)?))
            }
            _ => Err(ProviderError::permanent(
                OP,
                "Invalid completion type for worker ack",
            )),
        });
        let token = token.to_owned();
        self.transaction(OP, move |tx| {
            let token = token.as_str();
            let now = now_millis();
            let deleted: Option<Option<String>> = tx
                .prepare_cached(
                    "DELETE FROM worker_queue WHERE lock_token = ?1 AND locked_until > ?2 RETURNING session_id",
                )
                .and_then(|mut s| s.query_row(params![token, now], |r| r.get(0)).optional())
                .map_err(err)?;
            let Some(session_id) = deleted else {
                return Err(ProviderError::permanent(
                    OP,
                    "Activity was cancelled or lock expired (worker queue row not found or lock invalid)",
                ));
            };
            if let Some(session_id) = session_id {
                touch_session(tx, &session_id, now);
            }
            if let Some(message) = message {
                let (instance, text) = message?;
                let visible_at = visible_from(now_millis(), first);
                insert_orchestrator_item(tx, OP, &instance, &text, visible_at)?;
            }
            Ok(Finish::Commit(()))
        })
        .await
    }

    pub(super) async fn renew_activity(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        const OP: &str = "renew_work_item_lock";
        let token = token.to_owned();
        self.transaction(OP, move |tx| {
            let token = token.as_str();
            let now = now_millis();
            let renewed: Option<Option<String>> = tx
                .prepare_cached(
                    "UPDATE worker_queue SET locked_until = ?1 WHERE lock_token = ?2 AND locked_until > ?3 \
                     RETURNING session_id",
                )
                .and_then(|mut s| {
                    s.query_row(params![now + millis(extend_for), token, now], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| store_error(OP, e))?;
            match renewed {
                None => Err(ProviderError::permanent(
                    OP,
                    "Lock renewal failed - activity was cancelled or lock expired",
                )),
                Some(session_id) => {
                    if let Some(session_id) = session_id {
                        touch_session(tx, &session_id, now);
                    }
                    Ok(Finish::Commit(()))
                }
            }
        })
        .await
    }

    pub(super) async fn abandon_activity(
        &self,
        token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        const OP: &str = "abandon_work_item";
        let visible_at = now_millis() + delay.map(millis).unwrap_or(0);
        let sql = if ignore_attempt {
            "UPDATE worker_queue SET lock_token = NULL, locked_until = NULL, visible_at = ?1, \
             attempt_count = MAX(0, attempt_count - 1) WHERE lock_token = ?2"
        } else {
            "UPDATE worker_queue SET lock_token = NULL, locked_until = NULL, visible_at = ?1 WHERE lock_token = ?2"
        };
        if self
            .execute(OP, sql, (visible_at, token.to_owned()))
            .await?
            == 0
        {
            return Err(ProviderError::permanent(
                OP,
                "Invalid lock token or already acked",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the worker's sessions and tags, the next activity is found through the two
    /// indexes, never by reading the queue through.
    #[tokio::test]
    async fn the_next_activity_is_searched_through_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("workflows.db");
        let _store = crate::engine::sqlite::open(&path, false, 1 << 20)
            .await
            .unwrap();
        let connection = rusqlite::Connection::open(&path).unwrap();
        let tags: std::collections::HashSet<String> = ["saves".to_owned()].into();
        let filters = [
            TagFilter::DefaultOnly,
            TagFilter::Any,
            TagFilter::Tags(tags.clone()),
            TagFilter::DefaultAnd(tags),
        ];
        for session in [false, true] {
            for filter in &filters {
                let (sql, _) = next_activity_sql(session, filter);
                let mut statement = connection
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .unwrap();
                let nulls = vec![rusqlite::types::Null; statement.parameter_count()];
                let plan: Vec<String> = statement
                    .query_map(rusqlite::params_from_iter(nulls), |row| row.get(3))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let worker_queue: Vec<&String> =
                    plan.iter().filter(|step| step.contains(" q ")).collect();
                assert_eq!(
                    worker_queue.len(),
                    2,
                    "two searches of the queue ({session}, {filter:?}): {plan:?}"
                );
                assert!(
                    worker_queue[0].starts_with("SEARCH q USING INDEX idx_worker_available")
                        && worker_queue[1]
                            .starts_with(&format!("SEARCH q USING INDEX {LEASES_BY_END}")),
                    "{session}, {filter:?}: {plan:?}"
                );
            }
        }
    }
}
