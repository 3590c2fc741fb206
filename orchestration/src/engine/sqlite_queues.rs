//! The engine's queues on the embedded SQLite file, worked through one connection of our own.
//!
//! duroxide's SQLite provider runs every statement of a fetch or an acknowledgement as a
//! separate hand-off to sqlx's worker thread (about ten of them per transaction), begins its
//! transactions deferred, and counts the whole queue after every fetch that finds nothing. On
//! the trip's path that is most of the time a write turn is held, and SQLite's writes take turns
//! (see [`crate::database::write_turns`]).
//!
//! [`SqliteStore`] keeps duroxide's provider for everything that is rarely called (reads for
//! people, management, sessions) and does the calls every workflow step makes (fetch,
//! acknowledge, renew, abandon, enqueue) itself, on the store's writer connection
//! ([`crate::database::sqlite_writer`]):
//!
//! * each call is one `BEGIN IMMEDIATE` transaction run in place, with statements prepared once
//!   and kept;
//! * it takes the write turn around that transaction only: events and messages are serialised
//!   before it, and a fetched history is parsed after it;
//! * the SQL, the tables and the rules are duroxide's own (its provider, version 0.1.32, is the
//!   model this follows call by call), so both work on the same file side by side. One
//!   difference: a fetch takes the instance whose message has been visible longest, where
//!   duroxide takes the lowest queue position (see `FETCH_ANY`);
//! * duroxide's provider conformance suite checks the result
//!   (`orchestration/tests/store_conformance.rs`);
//! * what a person waits for goes first ([`super::first_in_line`]): a decision raised from
//!   outside (an approval), and the result of the activities named so (the booking), are queued
//!   as if they had been visible for a day.
//!
//! The calls run on the caller's thread: a transaction here takes a fraction of a millisecond,
//! less than handing it to another thread would cost (measured: `docs/benchmarks.md`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use duroxide::providers::sqlite::SqliteProvider;
use duroxide::providers::{
    DispatcherCapabilityFilter, ExecutionMetadata, KvEntry, OrchestrationItem, Provider,
    ProviderAdmin, ProviderError, ScheduledActivityIdentifier, SessionFetchConfig, TagFilter,
    WorkItem,
};
use duroxide::{Event, EventKind};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::first_in_line::{self, FirstInLine};
use crate::database::sqlite_writer::{Finish, SqliteWriter};
use crate::database::write_turns::WriteTurns;

/// duroxide's SQLite provider, with its hot path done on the store's writer connection.
pub struct SqliteStore {
    /// Reads, management and sessions.
    duroxide: SqliteProvider,
    /// Taken by every write here, around the transaction only (serialising and parsing are
    /// done outside it); holds the writer connection that fetches, acknowledgements, renewals,
    /// abandons and enqueues run on.
    writes: WriteTurns,
    first: FirstInLine,
}

/// When a message queued `now` becomes visible: a day before when it goes first.
fn visible_from(now: i64, first: bool) -> i64 {
    if first {
        now - first_in_line::LEAD_MS
    } else {
        now
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// duroxide's provider, opened (and migrated) on the file `writer` writes.
    pub fn new(duroxide: SqliteProvider, writer: Arc<SqliteWriter>) -> Self {
        Self {
            duroxide,
            writes: WriteTurns::one_at_a_time(writer),
            first: FirstInLine::default(),
        }
    }

    /// The results of `activities` go ahead of the queue (see [`FirstInLine`]).
    pub fn with_first_in_line(mut self, activities: &'static [&'static str]) -> Self {
        self.first.activities = activities;
        self
    }

    /// The turns this store's writes take: everything else that writes to the file takes them
    /// too (the trips index).
    pub fn writes(&self) -> &WriteTurns {
        &self.writes
    }

    /// duroxide's provider on the same file.
    pub fn duroxide(&self) -> &SqliteProvider {
        &self.duroxide
    }

    fn writer(&self) -> &SqliteWriter {
        self.writes
            .sqlite_writer()
            .expect("the store's turns are made with its writer")
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction on the writer.
    fn transaction<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Transaction<'_>) -> Result<Finish<T>, ProviderError>,
    ) -> Result<T, ProviderError> {
        self.writer()
            .transaction(|e| store_error(operation, e), work)
    }

    /// One statement in a transaction of its own.
    fn execute(
        &self,
        operation: &'static str,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize, ProviderError> {
        self.writer()
            .execute(sql, params)
            .map_err(|e| store_error(operation, e))
    }
}

/// duroxide's classification of its SQLite errors: locks and connections are worth retrying,
/// constraint violations are not, the rest is retried to be safe.
fn store_error(operation: &str, e: rusqlite::Error) -> ProviderError {
    let message = e.to_string();
    if let rusqlite::Error::SqliteFailure(failure, _) = &e {
        match failure.code {
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                return ProviderError::retryable(operation, format!("Database locked: {message}"));
            }
            rusqlite::ErrorCode::ConstraintViolation => {
                return ProviderError::permanent(
                    operation,
                    format!("Constraint violation: {message}"),
                );
            }
            _ => {}
        }
    }
    ProviderError::retryable(operation, message)
}

fn to_json<T: serde::Serialize>(operation: &str, value: &T) -> Result<String, ProviderError> {
    serde_json::to_string(value)
        .map_err(|e| ProviderError::permanent(operation, format!("Serialization error: {e}")))
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn millis(duration: Duration) -> i64 {
    duration.as_millis().min(i64::MAX as u128) as i64
}

fn new_lock_token() -> String {
    format!("lock_{:032x}", fastrand::u128(..))
}

/// The instance whose orchestrator queue an item goes to; `None` for items that do not go there.
fn orchestration_of(item: &WorkItem) -> Option<&str> {
    match item {
        WorkItem::StartOrchestration { instance, .. }
        | WorkItem::ActivityCompleted { instance, .. }
        | WorkItem::ActivityFailed { instance, .. }
        | WorkItem::TimerFired { instance, .. }
        | WorkItem::ExternalRaised { instance, .. }
        | WorkItem::QueueMessage { instance, .. }
        | WorkItem::CancelInstance { instance, .. }
        | WorkItem::ContinueAsNew { instance, .. } => Some(instance),
        WorkItem::SubOrchCompleted {
            parent_instance, ..
        }
        | WorkItem::SubOrchFailed {
            parent_instance, ..
        } => Some(parent_instance),
        _ => None,
    }
}

fn insert_orchestrator_item(
    tx: &Transaction<'_>,
    operation: &'static str,
    instance: &str,
    work_item: &str,
    visible_at: i64,
) -> Result<(), ProviderError> {
    tx.prepare_cached(
        "INSERT INTO orchestrator_queue (instance_id, work_item, visible_at) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut s| s.execute(params![instance, work_item, visible_at]))
    .map_err(|e| store_error(operation, e))?;
    Ok(())
}

/// Inserts an activity (`work_item` is `item` serialised) into the worker queue, with the
/// identity columns cancellation uses.
fn insert_worker_item(
    connection: &Connection,
    operation: &'static str,
    item: &WorkItem,
    work_item: &str,
    now: i64,
) -> Result<(), ProviderError> {
    let (instance, execution_id, activity_id, session_id, tag) = match item {
        WorkItem::ActivityExecute {
            instance,
            execution_id,
            id,
            session_id,
            tag,
            ..
        } => (
            Some(instance.as_str()),
            Some(*execution_id as i64),
            Some(*id as i64),
            session_id.as_deref(),
            tag.as_deref(),
        ),
        _ => (None, None, None, None, None),
    };
    connection
        .prepare_cached(
            "INSERT INTO worker_queue (work_item, visible_at, instance_id, execution_id, activity_id, session_id, tag) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            s.execute(params![
                work_item,
                now,
                instance,
                execution_id,
                activity_id,
                session_id,
                tag
            ])
        })
        .map_err(|e| store_error(operation, e))?;
    Ok(())
}

/// The name duroxide stores beside each history event.
fn event_type(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::OrchestrationStarted { .. } => "OrchestrationStarted",
        EventKind::OrchestrationCompleted { .. } => "OrchestrationCompleted",
        EventKind::OrchestrationFailed { .. } => "OrchestrationFailed",
        EventKind::OrchestrationContinuedAsNew { .. } => "OrchestrationContinuedAsNew",
        EventKind::ActivityScheduled { .. } => "ActivityScheduled",
        EventKind::ActivityCompleted { .. } => "ActivityCompleted",
        EventKind::ActivityFailed { .. } => "ActivityFailed",
        EventKind::ActivityCancelRequested { .. } => "ActivityCancelRequested",
        EventKind::TimerCreated { .. } => "TimerCreated",
        EventKind::TimerFired { .. } => "TimerFired",
        EventKind::ExternalSubscribed { .. } => "ExternalSubscribed",
        EventKind::ExternalEvent { .. } => "ExternalEvent",
        EventKind::SubOrchestrationScheduled { .. } => "SubOrchestrationScheduled",
        EventKind::SubOrchestrationCompleted { .. } => "SubOrchestrationCompleted",
        EventKind::SubOrchestrationFailed { .. } => "SubOrchestrationFailed",
        EventKind::SubOrchestrationCancelRequested { .. } => "SubOrchestrationCancelRequested",
        EventKind::OrchestrationCancelRequested { .. } => "OrchestrationCancelRequested",
        EventKind::ExternalSubscribedCancelled { .. } => "ExternalSubscribedCancelled",
        EventKind::QueueSubscribed { .. } => "ExternalSubscribedPersistent",
        EventKind::QueueEventDelivered { .. } => "ExternalEventPersistent",
        EventKind::QueueSubscriptionCancelled { .. } => "ExternalSubscribedPersistentCancelled",
        EventKind::OrchestrationChained { .. } => "OrchestrationChained",
        EventKind::CustomStatusUpdated { .. } => "CustomStatusUpdated",
        EventKind::KeyValueSet { .. } => "KeyValueSet",
        EventKind::KeyValueCleared { .. } => "KeyValueCleared",
        EventKind::KeyValuesCleared => "KeyValuesCleared",
    }
}

/// An execution's history as stored, in order (read inside the transaction, parsed after it).
fn history_text(
    tx: &Transaction<'_>,
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

fn read_history(
    tx: &Transaction<'_>,
    instance: &str,
    execution_id: i64,
) -> Result<Vec<Event>, String> {
    let text = history_text(tx, instance, execution_id).map_err(|e| e.to_string())?;
    parse_history(instance, execution_id, &text)
}

fn kv_snapshot(
    tx: &Transaction<'_>,
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

fn locked_messages(tx: &Transaction<'_>, token: &str) -> Result<Locked, rusqlite::Error> {
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

type Fetched = Option<(OrchestrationItem, String, u32)>;

/// A fetch as the transaction leaves it: the item, and its history still as stored (parsed
/// after the write turn, which others wait for).
struct FetchedRaw {
    item: OrchestrationItem,
    token: String,
    max_attempts: u32,
    /// The current execution's events, when the instance is known.
    history: Option<(i64, Result<Vec<String>, String>)>,
}

impl FetchedRaw {
    fn parsed(self) -> (OrchestrationItem, String, u32) {
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

impl SqliteStore {
    /// The next instance with visible messages and no live lock, locked with all its visible
    /// messages, its current execution's history and its key-value snapshot.
    fn fetch_orchestration(
        &self,
        lock_timeout: Duration,
        filter: Option<&DispatcherCapabilityFilter>,
    ) -> Result<Option<FetchedRaw>, ProviderError> {
        const OP: &str = "fetch_orchestration_item";
        let err = |e| store_error(OP, e);
        self.transaction(OP, |tx| {
            let now = now_millis();
            let candidate: Option<String> = match filter {
                None => tx
                    .prepare_cached(FETCH_ANY)
                    .and_then(|mut s| s.query_row([now], |r| r.get(0)).optional()),
                // Empty supported versions: this dispatcher runs nothing.
                Some(filter) => match filter.supported_duroxide_versions.first() {
                    None => return Ok(Finish::Rollback(None)),
                    Some(range) => {
                        let packed = |major: u64, minor: u64, patch: u64| {
                            major as i64 * 1_000_000 + minor as i64 * 1_000 + patch as i64
                        };
                        let (low, high) = (&range.min, &range.max);
                        let min = packed(low.major, low.minor, low.patch);
                        let max = packed(high.major, high.minor, high.patch);
                        tx.prepare_cached(FETCH_COMPATIBLE).and_then(|mut s| {
                            s.query_row(params![now, min, max], |r| r.get(0)).optional()
                        })
                    }
                },
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
            self.fetched(tx, instance, token, locked)
        })
    }

    /// The rest of a fetch, once the instance and its messages are locked.
    fn fetched(
        &self,
        tx: &Transaction<'_>,
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
            None => match self.unknown_instance(tx, &instance, &locked.items, &token)? {
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
        &self,
        tx: &Transaction<'_>,
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

/// What an orchestration turn leaves behind, as the runtime hands it to the store, with what
/// is written serialised before the write turn is taken.
struct Turn {
    execution_id: u64,
    history_delta: Vec<Event>,
    /// Each event of `history_delta`, serialised.
    events_json: Vec<String>,
    /// The activities scheduled, each with its serialised form.
    activities: Vec<(WorkItem, String)>,
    /// Messages to orchestrations: the instance, the message serialised, when it is visible.
    messages: Vec<(String, String, i64)>,
    metadata: ExecutionMetadata,
    cancelled_activities: Vec<ScheduledActivityIdentifier>,
}

impl Turn {
    fn new(
        execution_id: u64,
        history_delta: Vec<Event>,
        worker_items: Vec<WorkItem>,
        orchestrator_items: Vec<WorkItem>,
        metadata: ExecutionMetadata,
        cancelled_activities: Vec<ScheduledActivityIdentifier>,
    ) -> Result<Self, ProviderError> {
        const OP: &str = "ack_orchestration_item";
        // The runtime numbers events; the store never does.
        if history_delta.iter().any(|e| e.event_id() == 0) {
            return Err(ProviderError::permanent(
                OP,
                "Failed to append history: event_id must be set by runtime",
            ));
        }
        let events_json = history_delta
            .iter()
            .map(|e| to_json(OP, e))
            .collect::<Result<_, _>>()?;
        let activities = worker_items
            .into_iter()
            .map(|item| to_json(OP, &item).map(|text| (item, text)))
            .collect::<Result<_, _>>()?;
        let now = now_millis();
        let mut messages = Vec::with_capacity(orchestrator_items.len());
        for item in &orchestrator_items {
            let Some(target) = orchestration_of(item) else {
                continue;
            };
            let visible_at = match item {
                WorkItem::TimerFired { fire_at_ms, .. } => *fire_at_ms as i64,
                _ => now,
            };
            messages.push((target.to_owned(), to_json(OP, item)?, visible_at));
        }
        Ok(Self {
            execution_id,
            history_delta,
            events_json,
            activities,
            messages,
            metadata,
            cancelled_activities,
        })
    }
}

impl SqliteStore {
    /// Records a turn: its messages consumed, its history, its execution's state, what it
    /// scheduled and cancelled, and the instance unlocked; all or nothing, and only while the
    /// lock is still this turn's.
    fn acknowledge(&self, token: &str, turn: Turn) -> Result<(), ProviderError> {
        const OP: &str = "ack_orchestration_item";
        let err = |e| store_error(OP, e);
        self.transaction(OP, |tx| {
            let instance: String = tx
                .prepare_cached("SELECT instance_id FROM instance_locks WHERE lock_token = ?1")
                .and_then(|mut s| s.query_row([token], |r| r.get(0)).optional())
                .map_err(err)?
                .ok_or_else(|| ProviderError::permanent(OP, "Invalid lock token"))?;
            tx.prepare_cached("DELETE FROM orchestrator_queue WHERE lock_token = ?1")
                .and_then(|mut s| s.execute([token]))
                .map_err(err)?;
            record_execution(tx, &instance, &turn).map_err(err)?;
            append_history(tx, &instance, &turn)?;
            record_outcome(tx, &instance, &turn).map_err(err)?;
            let now = now_millis();
            for (item, text) in &turn.activities {
                insert_worker_item(tx, OP, item, text, now)?;
            }
            cancel_activities(tx, &turn.cancelled_activities).map_err(err)?;
            for (target, text, visible_at) in &turn.messages {
                insert_orchestrator_item(tx, OP, target, text, *visible_at)?;
            }
            let released = tx
                .prepare_cached(
                    "DELETE FROM instance_locks WHERE instance_id = ?1 AND lock_token = ?2 AND locked_until > ?3",
                )
                .and_then(|mut s| s.execute(params![instance, token, now_millis()]))
                .map_err(err)?;
            if released == 0 {
                tracing::warn!(instance = %instance, "instance lock expired or taken over; the turn is not recorded");
                return Err(ProviderError::permanent(OP, "Instance lock expired"));
            }
            Ok(Finish::Commit(()))
        })
    }
}

/// The instance and execution rows, created on the first turn and kept current.
fn record_execution(
    tx: &Transaction<'_>,
    instance: &str,
    turn: &Turn,
) -> Result<(), rusqlite::Error> {
    let execution_id = turn.execution_id as i64;
    let metadata = &turn.metadata;
    if let (Some(name), Some(version)) = (
        &metadata.orchestration_name,
        &metadata.orchestration_version,
    ) {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO instances \
             (instance_id, orchestration_name, orchestration_version, current_execution_id, parent_instance_id) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![instance, name, version, execution_id, metadata.parent_instance_id])?;
        tx.prepare_cached(
            "UPDATE instances SET orchestration_name = ?1, orchestration_version = ?2 WHERE instance_id = ?3",
        )?
        .execute(params![name, version, instance])?;
    }
    tx.prepare_cached(
        "INSERT OR IGNORE INTO executions (instance_id, execution_id, status) VALUES (?1, ?2, 'Running')",
    )?
    .execute(params![instance, execution_id])?;
    if let Some(pinned) = &metadata.pinned_duroxide_version {
        tx.prepare_cached(
            "UPDATE executions SET duroxide_version_major = ?1, duroxide_version_minor = ?2, duroxide_version_patch = ?3 \
             WHERE instance_id = ?4 AND execution_id = ?5",
        )?
        .execute(params![
            pinned.major as i64,
            pinned.minor as i64,
            pinned.patch as i64,
            instance,
            execution_id
        ])?;
    }
    tx.prepare_cached(
        "UPDATE instances SET current_execution_id = MAX(current_execution_id, ?1) WHERE instance_id = ?2",
    )?
    .execute(params![execution_id, instance])?;
    Ok(())
}

fn append_history(tx: &Transaction<'_>, instance: &str, turn: &Turn) -> Result<(), ProviderError> {
    const OP: &str = "ack_orchestration_item";
    let mut statement = tx
        .prepare_cached(
            "INSERT INTO history (instance_id, execution_id, event_id, event_type, event_data) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(|e| store_error(OP, e))?;
    for (event, data) in turn.history_delta.iter().zip(&turn.events_json) {
        statement
            .execute(params![
                instance,
                turn.execution_id as i64,
                event.event_id() as i64,
                event_type(&event.kind),
                data
            ])
            .map_err(|e| ProviderError::permanent(OP, format!("Failed to append history: {e}")))?;
    }
    Ok(())
}

/// The execution's status and output, the custom status and the key-value changes of the turn.
fn record_outcome(
    tx: &Transaction<'_>,
    instance: &str,
    turn: &Turn,
) -> Result<(), rusqlite::Error> {
    let execution_id = turn.execution_id as i64;
    let metadata = &turn.metadata;
    if let Some(status) = &metadata.status {
        tx.prepare_cached(
            "UPDATE executions SET status = ?1, output = ?2, completed_at = ?3 \
             WHERE instance_id = ?4 AND execution_id = ?5",
        )?
        .execute(params![
            status,
            metadata.output,
            now_millis(),
            instance,
            execution_id
        ])?;
    }
    let custom_status = turn.history_delta.iter().rev().find_map(|e| match &e.kind {
        EventKind::CustomStatusUpdated { status } => Some(status.as_deref()),
        _ => None,
    });
    if let Some(custom_status) = custom_status {
        tx.prepare_cached(
            "UPDATE instances SET custom_status = ?1, custom_status_version = custom_status_version + 1 \
             WHERE instance_id = ?2",
        )?
        .execute(params![custom_status, instance])?;
    }
    for event in &turn.history_delta {
        record_key_value(tx, instance, &event.kind)?;
    }
    let terminal = matches!(
        metadata.status.as_deref(),
        Some("Completed" | "ContinuedAsNew" | "Failed")
    );
    if terminal {
        // The execution's key-value changes become the instance's.
        for sql in [
            "INSERT INTO kv_store (instance_id, key, value, last_updated_at_ms) \
             SELECT instance_id, key, value, last_updated_at_ms FROM kv_delta \
             WHERE instance_id = ?1 AND value IS NOT NULL \
             ON CONFLICT(instance_id, key) DO UPDATE SET value = excluded.value, last_updated_at_ms = excluded.last_updated_at_ms",
            "DELETE FROM kv_store WHERE instance_id = ?1 \
             AND key IN (SELECT key FROM kv_delta WHERE instance_id = ?1 AND value IS NULL)",
            "DELETE FROM kv_delta WHERE instance_id = ?1",
        ] {
            tx.prepare_cached(sql)?.execute([instance])?;
        }
    }
    Ok(())
}

/// One key-value event of the turn, kept in the execution's changes (a tombstone for a clear).
fn record_key_value(
    tx: &Transaction<'_>,
    instance: &str,
    kind: &EventKind,
) -> Result<(), rusqlite::Error> {
    match kind {
        EventKind::KeyValueSet {
            key,
            value,
            last_updated_at_ms,
        } => {
            tx.prepare_cached(
                "INSERT INTO kv_delta (instance_id, key, value, last_updated_at_ms) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(instance_id, key) DO UPDATE SET value = excluded.value, last_updated_at_ms = excluded.last_updated_at_ms",
            )?
            .execute(params![instance, key, value, *last_updated_at_ms as i64])?;
        }
        EventKind::KeyValueCleared { key } => {
            tx.prepare_cached(
                "INSERT INTO kv_delta (instance_id, key, value, last_updated_at_ms) VALUES (?1, ?2, NULL, ?3) \
                 ON CONFLICT(instance_id, key) DO UPDATE SET value = NULL, last_updated_at_ms = excluded.last_updated_at_ms",
            )?
            .execute(params![instance, key, now_millis()])?;
        }
        EventKind::KeyValuesCleared => {
            let cleared_at = now_millis();
            tx.prepare_cached(
                "UPDATE kv_delta SET value = NULL, last_updated_at_ms = ?1 WHERE instance_id = ?2",
            )?
            .execute(params![cleared_at, instance])?;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO kv_delta (instance_id, key, value, last_updated_at_ms) \
                 SELECT instance_id, key, NULL, ?1 FROM kv_store WHERE instance_id = ?2",
            )?
            .execute(params![cleared_at, instance])?;
        }
        _ => {}
    }
    Ok(())
}

/// Activities the turn cancelled: removed from the worker queue, so a worker running one fails
/// to renew or acknowledge it.
fn cancel_activities(
    tx: &Transaction<'_>,
    cancelled: &[ScheduledActivityIdentifier],
) -> Result<(), rusqlite::Error> {
    let mut statement = tx.prepare_cached(
        "DELETE FROM worker_queue WHERE instance_id = ?1 AND execution_id = ?2 AND activity_id = ?3",
    )?;
    for activity in cancelled {
        statement.execute(params![
            activity.instance,
            activity.execution_id as i64,
            activity.activity_id as i64
        ])?;
    }
    Ok(())
}

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
    let sql = if session {
        format!(
            "SELECT q.id, q.work_item, q.attempt_count, q.session_id FROM worker_queue q \
             LEFT JOIN sessions s ON s.session_id = q.session_id AND s.locked_until > ?1 \
             WHERE q.visible_at <= ?1 AND (q.lock_token IS NULL OR q.locked_until <= ?1) \
               AND (q.session_id IS NULL OR s.worker_id = ?2 OR s.session_id IS NULL) \
               AND ({tag_clause}) ORDER BY q.id LIMIT 1"
        )
    } else {
        format!(
            "SELECT q.id, q.work_item, q.attempt_count, q.session_id FROM worker_queue q \
             WHERE q.visible_at <= ?1 AND (q.lock_token IS NULL OR q.locked_until <= ?1) \
               AND q.session_id IS NULL AND ({tag_clause}) ORDER BY q.id LIMIT 1"
        )
    };
    (sql, tags)
}

type NextActivity = (i64, String, i64, Option<String>);

impl SqliteStore {
    /// The next visible, unleased activity this worker may run, leased to it.
    fn fetch_activity(
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
        self.transaction(OP, |tx| {
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
    }

    /// Removes a finished activity (while its lease holds) and queues its result.
    async fn acknowledge_activity(
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
        let _turn = self.writes.take().await;
        self.transaction(OP, |tx| {
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
    }

    fn renew_activity(&self, token: &str, extend_for: Duration) -> Result<(), ProviderError> {
        const OP: &str = "renew_work_item_lock";
        self.transaction(OP, |tx| {
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
    }

    fn abandon_activity(
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
        if self.execute(OP, sql, params![visible_at, token])? == 0 {
            return Err(ProviderError::permanent(
                OP,
                "Invalid lock token or already acked",
            ));
        }
        Ok(())
    }

    fn renew_orchestration(&self, token: &str, extend_for: Duration) -> Result<(), ProviderError> {
        const OP: &str = "renew_orchestration_item_lock";
        let now = now_millis();
        let renewed = self.execute(
            OP,
            "UPDATE instance_locks SET locked_until = ?1 WHERE lock_token = ?2 AND locked_until > ?3",
            params![now + millis(extend_for), token, now],
        )?;
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
    fn abandon_orchestration(
        &self,
        token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        const OP: &str = "abandon_orchestration_item";
        let err = |e| store_error(OP, e);
        self.transaction(OP, |tx| {
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
    }

    async fn enqueue_orchestration(
        &self,
        item: &WorkItem,
        delay: Option<Duration>,
    ) -> Result<(), ProviderError> {
        const OP: &str = "enqueue_for_orchestrator";
        let instance = orchestration_of(item)
            .ok_or_else(|| ProviderError::permanent(OP, "Invalid work item type"))?;
        let text = to_json(OP, item)?;
        let decision = first_in_line::decision_for(item).is_some();
        let visible_at = match delay {
            Some(delay) => now_millis().saturating_add(millis(delay)),
            None => visible_from(now_millis(), decision),
        };
        let _turn = self.writes.take().await;
        self.transaction(OP, |tx| {
            insert_orchestrator_item(tx, OP, instance, &text, visible_at)?;
            Ok(Finish::Commit(()))
        })
    }

    async fn enqueue_activity(&self, item: &WorkItem) -> Result<(), ProviderError> {
        const OP: &str = "enqueue_for_worker";
        let text = to_json(OP, item)?;
        let _turn = self.writes.take().await;
        self.transaction(OP, |tx| {
            insert_worker_item(tx, OP, item, &text, now_millis())?;
            Ok(Finish::Commit(()))
        })
    }
}

/// Marks a session used now, unless another worker took it over (best effort, as duroxide).
fn touch_session(tx: &Transaction<'_>, session_id: &str, now: i64) {
    let _ = tx
        .prepare_cached(
            "UPDATE sessions SET last_activity_at = ?1 WHERE session_id = ?2 AND locked_until > ?1",
        )
        .and_then(|mut s| s.execute(params![now, session_id]));
}

#[async_trait]
impl Provider for SqliteStore {
    fn name(&self) -> &str {
        self.duroxide.name()
    }

    fn version(&self) -> &str {
        self.duroxide.version()
    }

    async fn fetch_orchestration_item(
        &self,
        lock_timeout: Duration,
        _poll_timeout: Duration,
        filter: Option<&DispatcherCapabilityFilter>,
    ) -> Result<Fetched, ProviderError> {
        let fetched = {
            let _turn = self.writes.take().await;
            self.fetch_orchestration(lock_timeout, filter)?
        };
        Ok(fetched.map(FetchedRaw::parsed))
    }

    async fn ack_orchestration_item(
        &self,
        lock_token: &str,
        execution_id: u64,
        history_delta: Vec<Event>,
        worker_items: Vec<WorkItem>,
        orchestrator_items: Vec<WorkItem>,
        metadata: ExecutionMetadata,
        cancelled_activities: Vec<ScheduledActivityIdentifier>,
    ) -> Result<(), ProviderError> {
        let turn = Turn::new(
            execution_id,
            history_delta,
            worker_items,
            orchestrator_items,
            metadata,
            cancelled_activities,
        )?;
        let _turn = self.writes.take().await;
        self.acknowledge(lock_token, turn)
    }

    async fn abandon_orchestration_item(
        &self,
        lock_token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        let _turn = self.writes.take().await;
        self.abandon_orchestration(lock_token, delay, ignore_attempt)
    }

    async fn read(&self, instance: &str) -> Result<Vec<Event>, ProviderError> {
        self.duroxide.read(instance).await
    }

    async fn read_with_execution(
        &self,
        instance: &str,
        execution_id: u64,
    ) -> Result<Vec<Event>, ProviderError> {
        self.duroxide
            .read_with_execution(instance, execution_id)
            .await
    }

    async fn append_with_execution(
        &self,
        instance: &str,
        execution_id: u64,
        new_events: Vec<Event>,
    ) -> Result<(), ProviderError> {
        let _turn = self.writes.take().await;
        self.duroxide
            .append_with_execution(instance, execution_id, new_events)
            .await
    }

    async fn enqueue_for_worker(&self, item: WorkItem) -> Result<(), ProviderError> {
        self.enqueue_activity(&item).await
    }

    async fn fetch_work_item(
        &self,
        lock_timeout: Duration,
        _poll_timeout: Duration,
        session: Option<&SessionFetchConfig>,
        tag_filter: &TagFilter,
    ) -> Result<Option<(WorkItem, String, u32)>, ProviderError> {
        let fetched = {
            let _turn = self.writes.take().await;
            self.fetch_activity(lock_timeout, session, tag_filter)?
        };
        self.first.fetched(&fetched);
        Ok(fetched)
    }

    async fn ack_work_item(
        &self,
        token: &str,
        completion: Option<WorkItem>,
    ) -> Result<(), ProviderError> {
        self.acknowledge_activity(token, completion).await
    }

    async fn renew_work_item_lock(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        let _turn = self.writes.take().await;
        self.renew_activity(token, extend_for)
    }

    async fn renew_session_lock(
        &self,
        owner_ids: &[&str],
        extend_for: Duration,
        idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        let _turn = self.writes.take().await;
        self.duroxide
            .renew_session_lock(owner_ids, extend_for, idle_timeout)
            .await
    }

    async fn cleanup_orphaned_sessions(
        &self,
        idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        let _turn = self.writes.take().await;
        self.duroxide.cleanup_orphaned_sessions(idle_timeout).await
    }

    async fn abandon_work_item(
        &self,
        token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        self.first.finished(token);
        let _turn = self.writes.take().await;
        self.abandon_activity(token, delay, ignore_attempt)
    }

    async fn renew_orchestration_item_lock(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        let _turn = self.writes.take().await;
        self.renew_orchestration(token, extend_for)
    }

    async fn enqueue_for_orchestrator(
        &self,
        item: WorkItem,
        delay: Option<Duration>,
    ) -> Result<(), ProviderError> {
        self.enqueue_orchestration(&item, delay).await
    }

    fn as_management_capability(&self) -> Option<&dyn ProviderAdmin> {
        self.duroxide.as_management_capability()
    }

    async fn get_custom_status(
        &self,
        instance: &str,
        last_seen_version: u64,
    ) -> Result<Option<(Option<String>, u64)>, ProviderError> {
        self.duroxide
            .get_custom_status(instance, last_seen_version)
            .await
    }

    async fn get_kv_value(
        &self,
        instance: &str,
        key: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.duroxide.get_kv_value(instance, key).await
    }

    async fn get_kv_all_values(
        &self,
        instance: &str,
    ) -> Result<HashMap<String, String>, ProviderError> {
        self.duroxide.get_kv_all_values(instance).await
    }

    async fn get_instance_stats(
        &self,
        instance: &str,
    ) -> Result<Option<duroxide::SystemStats>, ProviderError> {
        self.duroxide.get_instance_stats(instance).await
    }
}
