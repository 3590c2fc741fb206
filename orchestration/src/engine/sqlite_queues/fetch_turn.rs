//! The orchestrator's side, fetching: the next instance with visible messages locked for a turn,
//! with those messages, its history and its key-value snapshot; and a turn's lock renewed or
//! given up.

use std::collections::HashMap;
use std::time::Duration;

use duroxide::providers::{
    DispatcherCapabilityFilter, KvEntry, OrchestrationItem, ProviderError, WorkItem,
};
use duroxide::{Event, EventKind};
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, millis, new_lock_token, now_millis, store_error};
use crate::database::sqlite_writer::Finish;

/// An execution's history as stored, in order (read inside the transaction, parsed after it).
fn history_text(
    tx: &Connection,
    instance: &str,
    execution_id: i64,
) -> Result<Vec<String>, rusqlite::Error> {
    let mut statement = tx.prepare_cached(
        "SELECT event_data FROM history WHERE instance_id = ?1 AND execution_id = ?2 ORDER BY event_id",
    )?;
    let rows = statement.query_map(params![instance, execution_id], |r| r.get(0))?;
    rows.collect()
}

/// A stored history, parsed. A failure to read an event is an error (a newer duroxide's event
/// must not be dropped silently).
fn parse_history(instance: &str, execution_id: i64, text: &[String]) -> Result<Vec<Event>, String> {
    text.iter()
        .enumerate()
        .map(|(position, data)| {
            serde_json::from_str::<Event>(data).map_err(|e| {
                format!(
                    "Failed to deserialize history event at position {position} for instance '{instance}' execution {execution_id}: {e}"
                )
            })
        })
        .collect()
}

fn read_history(tx: &Connection, instance: &str, execution_id: i64) -> Result<Vec<Event>, String> {
    let text = history_text(tx, instance, execution_id).map_err(|e| e.to_string())?;
    parse_history(instance, execution_id, &text)
}

fn kv_snapshot(
    tx: &Connection,
    instance: &str,
) -> Result<HashMap<String, KvEntry>, rusqlite::Error> {
    let mut statement = tx.prepare_cached(
        "SELECT key, value, last_updated_at_ms FROM kv_store WHERE instance_id = ?1",
    )?;
    let rows = statement.query_map([instance], |row| {
        Ok((
            row.get::<_, String>(0)?,
            KvEntry {
                value: row.get(1)?,
                last_updated_at_ms: row.get::<_, i64>(2)? as u64,
            },
        ))
    })?;
    rows.collect()
}

/// The messages a fetch locked, and the most times any of them was fetched.
struct Locked {
    rows: usize,
    items: Vec<WorkItem>,
    max_attempts: u32,
}

fn locked_messages(tx: &Connection, token: &str) -> Result<Locked, rusqlite::Error> {
    let mut statement = tx.prepare_cached(
        "SELECT work_item, attempt_count FROM orchestrator_queue WHERE lock_token = ?1 ORDER BY id",
    )?;
    let mut rows = statement.query([token])?;
    let mut locked = Locked {
        rows: 0,
        items: Vec::new(),
        max_attempts: 0,
    };
    while let Some(row) = rows.next()? {
        locked.rows += 1;
        let attempts: i64 = row.get(1)?;
        locked.max_attempts = locked.max_attempts.max(attempts as u32);
        // As duroxide: an item that cannot be read is left out of the turn.
        if let Ok(item) = serde_json::from_str(&row.get::<_, String>(0)?) {
            locked.items.push(item);
        }
    }
    Ok(locked)
}

// The next instance to run: the one whose message has been visible longest (ties in the order
// they were queued). duroxide orders by queue position alone, which makes SQLite sort every
// visible message at each fetch (100 µs with 50 trips waiting, more with more); the visible time
// is what the queue's index is ordered by, so the first match ends the search.
const FETCH_ANY: &str = "SELECT q.instance_id FROM orchestrator_queue q \
     LEFT JOIN instance_locks il ON q.instance_id = il.instance_id \
     WHERE q.visible_at <= ?1 AND (il.instance_id IS NULL OR il.locked_until <= ?1) \
     ORDER BY q.visible_at, q.id LIMIT 1";

const FETCH_COMPATIBLE: &str = "SELECT q.instance_id FROM orchestrator_queue q \
     LEFT JOIN instance_locks il ON q.instance_id = il.instance_id \
     LEFT JOIN instances i ON q.instance_id = i.instance_id \
     LEFT JOIN executions e ON i.instance_id = e.instance_id AND i.current_execution_id = e.execution_id \
     WHERE q.visible_at <= ?1 AND (il.instance_id IS NULL OR il.locked_until <= ?1) \
       AND (e.duroxide_version_major IS NULL \
            OR (e.duroxide_version_major * 1000000 + e.duroxide_version_minor * 1000 + e.duroxide_version_patch) BETWEEN ?2 AND ?3) \
     ORDER BY q.visible_at, q.id LIMIT 1";

pub(super) type Fetched = Option<(OrchestrationItem, String, u32)>;

/// A fetch as the transaction leaves it: the item, and its history still as stored (parsed
/// after the write turn, which others wait for).
pub(super) struct FetchedRaw {
    item: OrchestrationItem,
    token: String,
    max_attempts: u32,
    /// The current execution's events, when the instance is known.
    history: Option<(i64, Result<Vec<String>, String>)>,
}

impl FetchedRaw {
    pub(super) fn parsed(self) -> (OrchestrationItem, String, u32) {
        let mut item = self.item;
        if let Some((execution_id, text)) = self.history {
            match text.and_then(|text| parse_history(&item.instance, execution_id, &text)) {
                Ok(history) => item.history = history,
                Err(e) => {
                    // Locked and counted: the runtime's poison check takes it from here.
                    let error = format!("Failed to deserialize history: {e}");
                    tracing::warn!(instance = %item.instance, error = %error, "history deserialization failed");
                    item.history_error = Some(error);
                }
            }
        }
        (item, self.token, self.max_attempts)
    }
}

enum Unknown {
    Starts {
        name: String,
        version: String,
        history: Vec<Event>,
    },
    Dropped,
    NotYet,
}

impl SqliteStore {
    /// The next instance with visible messages and no live lock, locked with all its visible
    /// messages, its current execution's history and its key-value snapshot.
    pub(super) async fn fetch_orchestration(
        &self,
        lock_timeout: Duration,
        filter: Option<&DispatcherCapabilityFilter>,
    ) -> Result<Option<FetchedRaw>, ProviderError> {
        const OP: &str = "fetch_orchestration_item";
        let err = |e| store_error(OP, e);
        // The versions this dispatcher runs, packed as the query compares them (`None`: any).
        let versions = match filter {
            None => None,
            // Empty supported versions: this dispatcher runs nothing.
            Some(filter) => match filter.supported_duroxide_versions.first() {
                None => return Ok(None),
                Some(range) => {
                    let packed = |major: u64, minor: u64, patch: u64| {
                        major as i64 * 1_000_000 + minor as i64 * 1_000 + patch as i64
                    };
                    let (low, high) = (&range.min, &range.max);
                    Some((
                        packed(low.major, low.minor, low.patch),
                        packed(high.major, high.minor, high.patch),
                    ))
                }
            },
        };
        self.transaction(OP, move |tx| {
            let now = now_millis();
            let candidate: Option<String> = match versions {
                None => tx
                    .prepare_cached(FETCH_ANY)
                    .and_then(|mut s| s.query_row([now], |r| r.get(0)).optional()),
                Some((min, max)) => tx.prepare_cached(FETCH_COMPATIBLE).and_then(|mut s| {
                    s.query_row(params![now, min, max], |r| r.get(0)).optional()
                }),
            }
            .map_err(err)?;
            let Some(instance) = candidate else {
                return Ok(Finish::Rollback(None));
            };
            let token = new_lock_token();
            let locked_until = now_millis() + millis(lock_timeout);
            let taken = tx
                .prepare_cached(
                    "INSERT INTO instance_locks (instance_id, lock_token, locked_until, locked_at) \
                     VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT(instance_id) DO UPDATE SET lock_token = ?2, locked_until = ?3, locked_at = ?4 \
                     WHERE locked_until <= ?4",
                )
                .and_then(|mut s| s.execute(params![instance, token, locked_until, now]))
                .map_err(err)?;
            if taken == 0 {
                return Ok(Finish::Rollback(None));
            }
            // Every visible message of the instance, expired earlier fetches' included.
            tx.prepare_cached(
                "UPDATE orchestrator_queue SET lock_token = ?1, attempt_count = attempt_count + 1 \
                 WHERE instance_id = ?2 AND visible_at <= ?3",
            )
            .and_then(|mut s| s.execute(params![token, instance, now]))
            .map_err(err)?;
            let locked = locked_messages(tx, &token).map_err(err)?;
            if locked.rows == 0 {
                return Ok(Finish::Rollback(None));
            }
            fetched(tx, instance, token, locked)
        })
        .await
    }
}

/// The rest of a fetch, once the instance and its messages are locked.
fn fetched(
    tx: &Connection,
    instance: String,
    token: String,
    locked: Locked,
) -> Result<Finish<Option<FetchedRaw>>, ProviderError> {
    const OP: &str = "fetch_orchestration_item";
    let err = |e| store_error(OP, e);
    let known: Option<(String, Option<String>, i64)> = tx
        .prepare_cached(
            "SELECT orchestration_name, orchestration_version, current_execution_id \
                 FROM instances WHERE instance_id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([&instance], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(err)?;
    // A known instance's history is parsed after the transaction; a new one's is at hand.
    let (name, version, execution_id, history, stored) = match known {
        Some((name, version, execution_id)) => {
            let text = history_text(tx, &instance, execution_id).map_err(|e| e.to_string());
            let version = version.unwrap_or_else(|| "unknown".to_owned());
            let stored = Some((execution_id, text));
            (name, version, execution_id as u64, Vec::new(), stored)
        }
        None => match unknown_instance(tx, &instance, &locked.items, &token)? {
            Unknown::Starts {
                name,
                version,
                history,
            } => (name, version, 1, history, None),
            Unknown::Dropped => return Ok(Finish::Commit(None)),
            Unknown::NotYet => return Ok(Finish::Rollback(None)),
        },
    };
    let item = OrchestrationItem {
        kv_snapshot: kv_snapshot(tx, &instance).map_err(err)?,
        instance,
        orchestration_name: name,
        execution_id,
        version,
        history,
        messages: locked.items,
        history_error: None,
    };
    Ok(Finish::Commit(Some(FetchedRaw {
        item,
        token,
        max_attempts: locked.max_attempts,
        history: stored,
    })))
}

/// An instance without an `instances` row: a new one starting, or messages that came first.
fn unknown_instance(
    tx: &Connection,
    instance: &str,
    items: &[WorkItem],
    token: &str,
) -> Result<Unknown, ProviderError> {
    const OP: &str = "fetch_orchestration_item";
    let err = |e| store_error(OP, e);
    let latest: i64 = tx
        .prepare_cached(
            "SELECT COALESCE(MAX(execution_id), 1) FROM executions WHERE instance_id = ?1",
        )
        .and_then(|mut s| s.query_row([instance], |r| r.get(0)))
        .map_err(err)?;
    let history = read_history(tx, instance, latest).unwrap_or_default();
    let started = history.iter().find_map(|e| match &e.kind {
        EventKind::OrchestrationStarted { name, version, .. } => {
            Some((name.clone(), version.clone()))
        }
        _ => None,
    });
    if let Some((name, version)) = started {
        return Ok(Unknown::Starts {
            name,
            version,
            history,
        });
    }
    let start = items.iter().find_map(|item| match item {
        WorkItem::StartOrchestration {
            orchestration,
            version,
            ..
        }
        | WorkItem::ContinueAsNew {
            orchestration,
            version,
            ..
        } => Some((orchestration.clone(), version.clone())),
        _ => None,
    });
    if let Some((name, version)) = start {
        return Ok(Unknown::Starts {
            name,
            version: version.unwrap_or_else(|| "unknown".to_owned()),
            history: Vec::new(),
        });
    }
    if items
        .iter()
        .all(|item| matches!(item, WorkItem::QueueMessage { .. }))
    {
        // Events queued for an orchestration that never started: dropped, as duroxide does.
        tracing::warn!(
            instance,
            messages = items.len(),
            "dropping queue messages sent before the orchestration started"
        );
        for sql in [
            "DELETE FROM orchestrator_queue WHERE lock_token = ?1",
            "DELETE FROM instance_locks WHERE lock_token = ?1",
        ] {
            tx.prepare_cached(sql)
                .and_then(|mut s| s.execute([token]))
                .map_err(err)?;
        }
        return Ok(Unknown::Dropped);
    }
    // Other messages racing the start: left for the next fetch.
    Ok(Unknown::NotYet)
}

impl SqliteStore {
    pub(super) async fn renew_orchestration(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        const OP: &str = "renew_orchestration_item_lock";
        let now = now_millis();
        let renewed = self
            .execute(
                OP,
                "UPDATE instance_locks SET locked_until = ?1 WHERE lock_token = ?2 AND locked_until > ?3",
                (now + millis(extend_for), token.to_owned(), now),
            )
            .await?;
        if renewed == 0 {
            return Err(ProviderError::permanent(
                OP,
                "Lock token invalid, expired, or already acked",
            ));
        }
        Ok(())
    }

    /// Unlocks an instance without recording a turn; its messages are fetched again (after
    /// `delay`, and without counting this attempt with `ignore_attempt`).
    pub(super) async fn abandon_orchestration(
        &self,
        token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        const OP: &str = "abandon_orchestration_item";
        let err = |e| store_error(OP, e);
        let token = token.to_owned();
        self.transaction(OP, move |tx| {
            let token = token.as_str();
            let removed = tx
                .prepare_cached("DELETE FROM instance_locks WHERE lock_token = ?1")
                .and_then(|mut s| s.execute([token]))
                .map_err(err)?;
            if removed == 0 {
                return Err(ProviderError::permanent(OP, "Invalid lock token"));
            }
            if ignore_attempt {
                tx.prepare_cached(
                    "UPDATE orchestrator_queue SET attempt_count = MAX(0, attempt_count - 1) WHERE lock_token = ?1",
                )
                .and_then(|mut s| s.execute([token]))
                .map_err(err)?;
            }
            if let Some(delay) = delay {
                tx.prepare_cached(
                    "UPDATE orchestrator_queue SET visible_at = ?1 WHERE lock_token = ?2",
                )
                .and_then(|mut s| {
                    s.execute(params![now_millis().saturating_add(millis(delay)), token])
                })
                .map_err(err)?;
            }
            Ok(Finish::Commit(()))
        })
        .await
    }
}
