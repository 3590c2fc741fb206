//! The orchestrator's side, acknowledging: a turn recorded (its messages consumed, its history
//! appended, its execution's state and outcome, its key-value writes, the work it queued and
//! cancelled) and the instance unlocked, all in one transaction.

use duroxide::providers::{
    ExecutionMetadata, ProviderError, ScheduledActivityIdentifier, WorkItem,
};
use duroxide::{Event, EventKind};
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    SqliteStore, insert_orchestrator_item, insert_worker_item, now_millis, orchestration_of,
    store_error, to_json,
};
use crate::database::sqlite_writer::Finish;

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

/// What an orchestration turn leaves behind, as the runtime hands it to the store, with what
/// is written serialised before the write turn is taken.
pub(super) struct Turn {
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
    pub(super) fn new(
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

/// The instance and execution rows, created on the first turn and kept current.
fn record_execution(tx: &Connection, instance: &str, turn: &Turn) -> Result<(), rusqlite::Error> {
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

fn append_history(tx: &Connection, instance: &str, turn: &Turn) -> Result<(), ProviderError> {
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
fn record_outcome(tx: &Connection, instance: &str, turn: &Turn) -> Result<(), rusqlite::Error> {
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
    tx: &Connection,
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
    tx: &Connection,
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

impl SqliteStore {
    /// Records a turn: its messages consumed, its history, its execution's state, what it
    /// scheduled and cancelled, and the instance unlocked; all or nothing, and only while the
    /// lock is still this turn's.
    pub(super) async fn acknowledge(&self, token: &str, turn: Turn) -> Result<(), ProviderError> {
        const OP: &str = "ack_orchestration_item";
        let err = |e| store_error(OP, e);
        let token = token.to_owned();
        self.transaction(OP, move |tx| {
            let token = token.as_str();
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
        .await
    }
}
