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
//! acknowledge, renew, abandon, enqueue) itself, on the store's writer
//! ([`crate::database::sqlite_writer`]):
//!
//! * each call is one write handed to the writer's thread, which commits the writes waiting for
//!   it in groups (see [`crate::database::sqlite_writer`]), with statements prepared once and
//!   kept;
//! * only the statements run there: events and messages are serialised before, and a fetched
//!   history is parsed after, on the caller's task;
//! * the SQL, the tables and the rules are duroxide's own (its provider, version 0.1.32, is the
//!   model this follows call by call), so both work on the same file side by side. Two
//!   differences: a fetch takes the instance whose message has been visible longest, where
//!   duroxide takes the lowest queue position (see `FETCH_ANY`); and an activity's fetch looks
//!   for a free one and for one whose lease ran out separately, each through an index (one of
//!   them ours, made beside duroxide's: see `worker::next_activity_sql`);
//! * duroxide's provider conformance suite checks the result
//!   (`orchestration/tests/store_conformance.rs`);
//! * what a person waits for goes first ([`super::first_in_line`]): a decision raised from
//!   outside (an approval), and the result of the activities named so (the booking), are queued
//!   as if they had been visible for a day.
//!
//! Here: the store, what both sides share (queueing a message, errors, time) and duroxide's
//! `Provider` calls mapped onto the sides: the orchestrator's fetch ([`fetch_turn`]) and
//! acknowledgement ([`ack_turn`]) of a turn, and the workers' activities ([`worker`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use duroxide::Event;
use duroxide::providers::sqlite::SqliteProvider;
use duroxide::providers::{
    DispatcherCapabilityFilter, ExecutionMetadata, Provider, ProviderAdmin, ProviderError,
    ScheduledActivityIdentifier, SessionFetchConfig, TagFilter, WorkItem,
};
use rusqlite::{Connection, params};

use super::first_in_line::{self, FirstInLine};
use crate::database::sqlite_writer::{Finish, SqliteWriter};
use crate::database::write_turns::WriteTurns;

mod ack_turn;
mod fetch_turn;
mod worker;

use ack_turn::Turn;
use fetch_turn::{Fetched, FetchedRaw};

/// duroxide's SQLite provider, with its hot path done on the store's writer connection.
pub struct SqliteStore {
    /// Reads, management and sessions.
    duroxide: SqliteProvider,
    /// The writer that fetches, acknowledgements, renewals, abandons and enqueues are handed
    /// to; the rarer writes made through duroxide's provider take its turn.
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
    /// duroxide's provider, opened (and migrated) on the file `writer` writes; adds the index
    /// this store's fetches use beside duroxide's.
    pub async fn new(
        duroxide: SqliteProvider,
        writer: Arc<SqliteWriter>,
    ) -> rusqlite::Result<Self> {
        writer.execute(worker::CREATE_LEASES_BY_END, ()).await?;
        Ok(Self {
            duroxide,
            writes: WriteTurns::one_at_a_time(writer),
            first: FirstInLine::default(),
        })
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

    /// Runs `work` as one write on the writer (see [`SqliteWriter::transaction`]).
    async fn transaction<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Connection) -> Result<Finish<T>, ProviderError> + Send + 'static,
    ) -> Result<T, ProviderError> {
        self.writer()
            .transaction(move |e| store_error(operation, e), work)
            .await
    }

    /// One statement as a write of its own.
    async fn execute(
        &self,
        operation: &'static str,
        sql: &'static str,
        params: impl rusqlite::Params + Send + 'static,
    ) -> Result<usize, ProviderError> {
        self.writer()
            .execute(sql, params)
            .await
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
    tx: &Connection,
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

impl SqliteStore {
    async fn enqueue_orchestration(
        &self,
        item: &WorkItem,
        delay: Option<Duration>,
    ) -> Result<(), ProviderError> {
        const OP: &str = "enqueue_for_orchestrator";
        let instance = orchestration_of(item)
            .ok_or_else(|| ProviderError::permanent(OP, "Invalid work item type"))?;
        let instance = instance.to_owned();
        let text = to_json(OP, item)?;
        let decision = first_in_line::decision_for(item).is_some();
        let visible_at = match delay {
            Some(delay) => now_millis().saturating_add(millis(delay)),
            None => visible_from(now_millis(), decision),
        };
        self.transaction(OP, move |tx| {
            insert_orchestrator_item(tx, OP, &instance, &text, visible_at)?;
            Ok(Finish::Commit(()))
        })
        .await
    }

    async fn enqueue_activity(&self, item: WorkItem) -> Result<(), ProviderError> {
        const OP: &str = "enqueue_for_worker";
        let text = to_json(OP, &item)?;
        self.transaction(OP, move |tx| {
            insert_worker_item(tx, OP, &item, &text, now_millis())?;
            Ok(Finish::Commit(()))
        })
        .await
    }
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
        let fetched = self.fetch_orchestration(lock_timeout, filter).await?;
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
        self.acknowledge(lock_token, turn).await
    }

    async fn abandon_orchestration_item(
        &self,
        lock_token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        self.abandon_orchestration(lock_token, delay, ignore_attempt)
            .await
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
        self.enqueue_activity(item).await
    }

    async fn fetch_work_item(
        &self,
        lock_timeout: Duration,
        _poll_timeout: Duration,
        session: Option<&SessionFetchConfig>,
        tag_filter: &TagFilter,
    ) -> Result<Option<(WorkItem, String, u32)>, ProviderError> {
        let fetched = self
            .fetch_activity(lock_timeout, session, tag_filter)
            .await?;
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
        self.renew_activity(token, extend_for).await
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
        self.abandon_activity(token, delay, ignore_attempt).await
    }

    async fn renew_orchestration_item_lock(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        self.renew_orchestration(token, extend_for).await
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
