//! The store the engine runs on, as this service uses it: duroxide's SQLite or PostgreSQL
//! provider, wrapped so that
//!
//! * dispatchers wait for work instead of polling: every enqueue in this process wakes a waiting
//!   dispatcher at once (a few microseconds instead of half a poll interval), another process
//!   sharing a PostgreSQL store is told with `NOTIFY`, and a slow tick is the safety net;
//! * on SQLite, write transactions take turns inside the process instead of failing with
//!   "database is locked" and backing off (the file is this process' alone, see
//!   [`super::sqlite`]);
//! * every orchestration turn is told to the trips index as it is acknowledged, and every purge
//!   ([`TurnObserver`]);
//! * on SQLite, counts over the whole store run on a connection with a small page cache
//!   ([`super::sqlite_counts`]);
//! * on SQLite, the history a turn leaves answers the reads of the activities it scheduled
//!   ([`super::recent_histories`]).
//!
//! Everything else is passed through unchanged; duroxide's provider conformance suite checks the
//! wrapped providers (`orchestration/tests/store_conformance.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use duroxide::Event;
use duroxide::providers::{
    DeleteInstanceResult, DispatcherCapabilityFilter, ExecutionInfo, ExecutionMetadata,
    InstanceFilter, InstanceInfo, InstanceTree, OrchestrationItem, Provider, ProviderAdmin,
    ProviderError, PruneOptions, PruneResult, QueueDepths, ScheduledActivityIdentifier,
    SessionFetchConfig, SystemMetrics, TagFilter, WorkItem,
};

use super::first_in_line;
use super::recent_histories::RecentHistories;
use super::sqlite_counts::SqliteCounts;
use super::wakeups::{AbortOnDrop, Queue, Wakeups, due_in};
use crate::database::turn_observer::TurnObserver;
use crate::database::write_turns::{WriteTurn, WriteTurns};

/// Tells other processes sharing the store that work was enqueued.
pub trait Peers: Send + Sync + std::fmt::Debug {
    fn announce(&self, queue: Queue);
}

/// Moves what a person waits for ahead of the queue, for a provider that does not do so itself
/// (see [`super::first_in_line`]).
#[async_trait]
pub trait GoesFirst: Send + Sync + std::fmt::Debug {
    /// An activity was fetched.
    fn fetched(&self, fetched: &Option<(WorkItem, String, u32)>);
    /// The activity leased with `token` was given up; it will be fetched again.
    fn abandoned(&self, token: &str);
    /// The activity leased with `token` was acknowledged, its result queued for `instance`.
    async fn acknowledged(&self, token: &str, instance: Option<&str>) -> Result<(), ProviderError>;
    /// A decision was queued for `instance` ([`super::first_in_line::decision_for`]).
    async fn decision_queued(&self, instance: &str) -> Result<(), ProviderError>;
}

/// duroxide's provider with wake-ups, turn-taking writes (SQLite) and a turn observer.
pub struct WorkflowStore {
    inner: Arc<dyn Provider>,
    /// SQLite: one write transaction at a time in this process, shared with the trips index.
    writes: WriteTurns,
    /// Whether the provider takes the write turns itself (ours on SQLite).
    store_takes_turns: bool,
    wakeups: Arc<Wakeups>,
    peers: Option<Arc<dyn Peers>>,
    counts: Option<Arc<SqliteCounts>>,
    observer: Option<Arc<dyn TurnObserver>>,
    goes_first: Option<Arc<dyn GoesFirst>>,
    /// A store this process holds alone: the histories its turns leave, for their activities.
    recent: Option<RecentHistories>,
    /// Fetches that found nothing (a wake-up that another dispatcher answered first, the
    /// safety tick).
    empty_fetches: std::sync::atomic::AtomicU64,
    _safety_tick: AbortOnDrop,
    _keep_alive: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for WorkflowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowStore")
            .field("provider", &self.inner.name())
            .field("writes_take_turns", &self.writes.one_at_a_time_enabled())
            .field("peers", &self.peers)
            .finish_non_exhaustive()
    }
}

/// How the wrapper is put together (see [`super::open`]).
pub struct StoreParts {
    pub provider: Arc<dyn Provider>,
    pub writes: WriteTurns,
    /// Whether `provider` takes the write turns itself (ours on SQLite, see
    /// [`super::sqlite_queues`]).
    pub store_takes_turns: bool,
    pub wakeups: Arc<Wakeups>,
    pub peers: Option<Arc<dyn Peers>>,
    /// SQLite: whole-store counts (system metrics, queue depths) on a connection of their own
    /// with a small page cache ([`super::sqlite_counts`]).
    pub counts: Option<Arc<SqliteCounts>>,
    /// Told of every turn and purge: the trips index.
    pub observer: Option<Arc<dyn TurnObserver>>,
    /// PostgreSQL: what a person waits for goes first (SQLite's provider does it itself).
    pub goes_first: Option<Arc<dyn GoesFirst>>,
    /// Whether this process holds the store alone (SQLite): then the history a turn leaves is
    /// kept for the activities it scheduled ([`super::recent_histories`]).
    pub held_alone: bool,
    pub safety_poll: Duration,
    /// Kept for the life of the store (the SQLite file lock, the PostgreSQL listener).
    pub keep_alive: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl WorkflowStore {
    pub fn new(parts: StoreParts) -> Self {
        let tick = parts.wakeups.tick_every(parts.safety_poll);
        Self {
            inner: parts.provider,
            writes: parts.writes,
            store_takes_turns: parts.store_takes_turns,
            wakeups: parts.wakeups,
            peers: parts.peers,
            counts: parts.counts,
            observer: parts.observer,
            goes_first: parts.goes_first,
            recent: parts.held_alone.then(RecentHistories::default),
            empty_fetches: Default::default(),
            _safety_tick: tick,
            _keep_alive: parts.keep_alive,
        }
    }

    /// Fetches and writes made so far by this process, the index's included (each one store
    /// transaction): what an idle service costs its store is the growth of this number.
    pub fn transactions(&self) -> u64 {
        self.writes.taken()
    }

    /// Commits made so far by the SQLite store's writer, each for a group of writes (see
    /// [`WriteTurns::commits`]).
    pub fn commits(&self) -> u64 {
        self.writes.commits()
    }

    /// How long this process' writes held their turn so far (SQLite: see [`WriteTurns::held`]).
    pub fn write_turns_held(&self) -> Duration {
        self.writes.held()
    }

    /// Fetches made so far that found nothing.
    pub fn empty_fetches(&self) -> u64 {
        self.empty_fetches
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits for this process' turn to write (SQLite only).
    async fn write_turn(&self) -> WriteTurn<'_> {
        self.writes.take().await
    }

    /// The write turn for a call to the provider, unless the provider takes it itself (ours on
    /// SQLite takes it around its transactions only, and serialises and parses outside it).
    async fn turn_for_provider(&self) -> Option<WriteTurn<'_>> {
        if self.store_takes_turns {
            None
        } else {
            Some(self.writes.take().await)
        }
    }

    /// Work was enqueued: wake this process' dispatchers and tell the other processes.
    fn arrived(&self, queue: Queue, count: usize) {
        if count == 0 {
            return;
        }
        self.wakeups.work_arrived(queue, count);
        if let Some(peers) = &self.peers {
            peers.announce(queue);
        }
    }

    fn due(&self, queue: Queue, delay: Duration) {
        if delay.is_zero() {
            self.arrived(queue, 1);
        } else {
            self.wakeups.work_due(queue, delay);
        }
    }

    /// Fetches from `queue` with `fetch`, waiting for a wake-up while there is nothing, up to
    /// `poll_timeout`. A dispatcher that is ready to wait (the engine's, which waits up to its
    /// long poll) looks only when something may have arrived since a look found nothing (see
    /// [`Wakeups::seen`]); a caller that asks what is there now (`poll_timeout` zero, with
    /// whatever filter) always looks. The engine's dispatchers of one queue all fetch alike (no
    /// sessions, no tags), so what one found holds for the others.
    async fn wait_for_work<T, F, Fut>(
        &self,
        queue: Queue,
        poll_timeout: Duration,
        fetch: F,
    ) -> Result<Option<T>, ProviderError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
    {
        let deadline = Instant::now() + poll_timeout;
        loop {
            // Registered before looking, so that work enqueued while we look is not missed.
            let woken = self.wakeups.signal(queue).notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let seen = self.wakeups.seen(queue);
            let waits = !poll_timeout.is_zero();
            if !(waits && seen.known_empty) {
                let found = {
                    let _turn = self.turn_for_provider().await;
                    fetch().await?
                };
                if found.is_some() {
                    return Ok(found);
                }
                if waits {
                    self.wakeups.found_empty(queue, seen);
                }
                self.empty_fetches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, woken).await.is_err() {
                return Ok(None);
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[async_trait]
impl Provider for WorkflowStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn version(&self) -> &str {
        self.inner.version()
    }

    async fn fetch_orchestration_item(
        &self,
        lock_timeout: Duration,
        poll_timeout: Duration,
        filter: Option<&DispatcherCapabilityFilter>,
    ) -> Result<Option<(OrchestrationItem, String, u32)>, ProviderError> {
        let fetched = self
            .wait_for_work(Queue::Orchestrations, poll_timeout, || {
                self.inner
                    .fetch_orchestration_item(lock_timeout, Duration::ZERO, filter)
            })
            .await?;
        if let (Some(recent), Some((item, token, _))) = (&self.recent, &fetched) {
            recent.fetched(item, token);
        }
        Ok(fetched)
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
        let observed = self
            .observer
            .clone()
            .and_then(|observer| observer.observe(&history_delta));
        let activities = worker_items.len();
        // What the turn leaves, for its activities: kept once it is acknowledged.
        let left = self.recent.as_ref().map(|_| {
            (
                history_delta.clone(),
                RecentHistories::activities(&worker_items),
            )
        });
        let now = now_ms();
        let delays: Vec<Duration> = orchestrator_items
            .iter()
            .map(|item| due_in(item, now))
            .collect();
        {
            let turn = self.turn_for_provider().await;
            let acknowledged = self
                .inner
                .ack_orchestration_item(
                    lock_token,
                    execution_id,
                    history_delta,
                    worker_items,
                    orchestrator_items,
                    metadata,
                    cancelled_activities,
                )
                .await;
            if let Some(recent) = &self.recent {
                match (&acknowledged, left) {
                    (Ok(()), Some((appended, activities))) => {
                        recent.acknowledged(lock_token, execution_id, appended, activities)
                    }
                    _ => recent.abandoned(lock_token),
                }
            }
            acknowledged?;
            if let Some(observed) = observed {
                observed.record(turn.as_ref()).await;
            }
        }
        self.arrived(Queue::Activities, activities);
        for delay in delays {
            self.due(Queue::Orchestrations, delay);
        }
        // Messages that arrived for this instance while it was locked are fetchable now.
        self.wakeups.work_arrived(Queue::Orchestrations, 1);
        Ok(())
    }

    async fn abandon_orchestration_item(
        &self,
        lock_token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        if let Some(recent) = &self.recent {
            recent.abandoned(lock_token);
        }
        {
            let _turn = self.turn_for_provider().await;
            self.inner
                .abandon_orchestration_item(lock_token, delay, ignore_attempt)
                .await?;
        }
        self.due(Queue::Orchestrations, delay.unwrap_or_default());
        Ok(())
    }

    async fn read(&self, instance: &str) -> Result<Vec<Event>, ProviderError> {
        if let Some(history) = self.recent.as_ref().and_then(|r| r.read(instance)) {
            return Ok(history);
        }
        self.inner.read(instance).await
    }

    async fn read_with_execution(
        &self,
        instance: &str,
        execution_id: u64,
    ) -> Result<Vec<Event>, ProviderError> {
        self.inner.read_with_execution(instance, execution_id).await
    }

    async fn append_with_execution(
        &self,
        instance: &str,
        execution_id: u64,
        new_events: Vec<Event>,
    ) -> Result<(), ProviderError> {
        let _turn = self.turn_for_provider().await;
        let appended = self
            .inner
            .append_with_execution(instance, execution_id, new_events)
            .await;
        if let Some(recent) = &self.recent {
            recent.forget(instance);
        }
        appended
    }

    async fn enqueue_for_worker(&self, item: WorkItem) -> Result<(), ProviderError> {
        {
            let _turn = self.turn_for_provider().await;
            self.inner.enqueue_for_worker(item).await?;
        }
        self.arrived(Queue::Activities, 1);
        Ok(())
    }

    async fn fetch_work_item(
        &self,
        lock_timeout: Duration,
        poll_timeout: Duration,
        session: Option<&SessionFetchConfig>,
        tag_filter: &TagFilter,
    ) -> Result<Option<(WorkItem, String, u32)>, ProviderError> {
        let fetched = self
            .wait_for_work(Queue::Activities, poll_timeout, || {
                self.inner
                    .fetch_work_item(lock_timeout, Duration::ZERO, session, tag_filter)
            })
            .await?;
        if let Some(goes_first) = &self.goes_first {
            goes_first.fetched(&fetched);
        }
        Ok(fetched)
    }

    async fn ack_work_item(
        &self,
        token: &str,
        completion: Option<WorkItem>,
    ) -> Result<(), ProviderError> {
        let completes = completion.is_some();
        let instance = match &completion {
            Some(WorkItem::ActivityCompleted { instance, .. })
            | Some(WorkItem::ActivityFailed { instance, .. }) => Some(instance.clone()),
            _ => None,
        };
        {
            let _turn = self.turn_for_provider().await;
            self.inner.ack_work_item(token, completion).await?;
        }
        if let Some(goes_first) = &self.goes_first
            && let Err(e) = goes_first.acknowledged(token, instance.as_deref()).await
        {
            // The result is queued; it only waits its turn as usual.
            tracing::warn!(error = %e, "could not move an activity's result ahead of the queue");
        }
        if completes {
            self.arrived(Queue::Orchestrations, 1);
        }
        Ok(())
    }

    async fn renew_work_item_lock(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        let _turn = self.turn_for_provider().await;
        self.inner.renew_work_item_lock(token, extend_for).await
    }

    async fn renew_session_lock(
        &self,
        owner_ids: &[&str],
        extend_for: Duration,
        idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        let _turn = self.turn_for_provider().await;
        self.inner
            .renew_session_lock(owner_ids, extend_for, idle_timeout)
            .await
    }

    async fn cleanup_orphaned_sessions(
        &self,
        idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        let _turn = self.turn_for_provider().await;
        self.inner.cleanup_orphaned_sessions(idle_timeout).await
    }

    async fn abandon_work_item(
        &self,
        token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        if let Some(goes_first) = &self.goes_first {
            goes_first.abandoned(token);
        }
        {
            let _turn = self.turn_for_provider().await;
            self.inner
                .abandon_work_item(token, delay, ignore_attempt)
                .await?;
        }
        self.due(Queue::Activities, delay.unwrap_or_default());
        Ok(())
    }

    async fn renew_orchestration_item_lock(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        let _turn = self.turn_for_provider().await;
        self.inner
            .renew_orchestration_item_lock(token, extend_for)
            .await
    }

    async fn enqueue_for_orchestrator(
        &self,
        item: WorkItem,
        delay: Option<Duration>,
    ) -> Result<(), ProviderError> {
        let due = delay.unwrap_or_default().max(due_in(&item, now_ms()));
        let decision = delay
            .is_none()
            .then(|| first_in_line::decision_for(&item).map(str::to_owned))
            .flatten();
        {
            let _turn = self.turn_for_provider().await;
            self.inner.enqueue_for_orchestrator(item, delay).await?;
        }
        if let (Some(goes_first), Some(instance)) = (&self.goes_first, decision)
            && let Err(e) = goes_first.decision_queued(&instance).await
        {
            // The decision is queued; it only waits its turn as usual.
            tracing::warn!(error = %e, "could not move a decision ahead of the queue");
        }
        self.due(Queue::Orchestrations, due);
        Ok(())
    }

    fn as_management_capability(&self) -> Option<&dyn ProviderAdmin> {
        self.inner
            .as_management_capability()
            .map(|_| self as &dyn ProviderAdmin)
    }

    async fn get_custom_status(
        &self,
        instance: &str,
        last_seen_version: u64,
    ) -> Result<Option<(Option<String>, u64)>, ProviderError> {
        self.inner
            .get_custom_status(instance, last_seen_version)
            .await
    }

    async fn get_kv_value(
        &self,
        instance: &str,
        key: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.inner.get_kv_value(instance, key).await
    }

    async fn get_kv_all_values(
        &self,
        instance: &str,
    ) -> Result<HashMap<String, String>, ProviderError> {
        self.inner.get_kv_all_values(instance).await
    }

    async fn get_instance_stats(
        &self,
        instance: &str,
    ) -> Result<Option<duroxide::SystemStats>, ProviderError> {
        self.inner.get_instance_stats(instance).await
    }
}

impl WorkflowStore {
    fn admin(&self) -> &dyn ProviderAdmin {
        self.inner
            .as_management_capability()
            .expect("checked by as_management_capability")
    }

    /// Forgets the histories kept of `ids` (all of them with `None`), before they are deleted.
    fn forget_histories(&self, ids: Option<&[String]>) {
        if let Some(recent) = &self.recent {
            match ids {
                Some(ids) => ids.iter().for_each(|id| recent.forget(id)),
                None => recent.forget_all(),
            }
        }
    }

    /// Tells the observer of deleted instances (and forgets their histories, once more: a turn
    /// acknowledged meanwhile may have left one).
    async fn forget(&self, ids: &[String]) {
        self.forget_histories(Some(ids));
        if let Some(observer) = &self.observer {
            observer.forget(ids).await;
        }
    }
}

#[async_trait]
impl ProviderAdmin for WorkflowStore {
    async fn list_instances(&self) -> Result<Vec<String>, ProviderError> {
        self.admin().list_instances().await
    }

    async fn list_instances_by_status(&self, status: &str) -> Result<Vec<String>, ProviderError> {
        self.admin().list_instances_by_status(status).await
    }

    async fn list_executions(&self, instance: &str) -> Result<Vec<u64>, ProviderError> {
        self.admin().list_executions(instance).await
    }

    async fn read_history_with_execution_id(
        &self,
        instance: &str,
        execution_id: u64,
    ) -> Result<Vec<Event>, ProviderError> {
        self.admin()
            .read_history_with_execution_id(instance, execution_id)
            .await
    }

    async fn read_history(&self, instance: &str) -> Result<Vec<Event>, ProviderError> {
        self.admin().read_history(instance).await
    }

    async fn latest_execution_id(&self, instance: &str) -> Result<u64, ProviderError> {
        self.admin().latest_execution_id(instance).await
    }

    async fn get_instance_info(&self, instance: &str) -> Result<InstanceInfo, ProviderError> {
        self.admin().get_instance_info(instance).await
    }

    async fn get_execution_info(
        &self,
        instance: &str,
        execution_id: u64,
    ) -> Result<ExecutionInfo, ProviderError> {
        self.admin()
            .get_execution_info(instance, execution_id)
            .await
    }

    async fn get_system_metrics(&self) -> Result<SystemMetrics, ProviderError> {
        match &self.counts {
            Some(counts) => counts.system_metrics().await,
            None => self.admin().get_system_metrics().await,
        }
    }

    async fn get_queue_depths(&self) -> Result<QueueDepths, ProviderError> {
        match &self.counts {
            Some(counts) => counts.queue_depths().await,
            None => self.admin().get_queue_depths().await,
        }
    }

    async fn list_children(&self, instance_id: &str) -> Result<Vec<String>, ProviderError> {
        self.admin().list_children(instance_id).await
    }

    async fn get_parent_id(&self, instance_id: &str) -> Result<Option<String>, ProviderError> {
        self.admin().get_parent_id(instance_id).await
    }

    async fn get_instance_tree(&self, instance_id: &str) -> Result<InstanceTree, ProviderError> {
        self.admin().get_instance_tree(instance_id).await
    }

    async fn delete_instances_atomic(
        &self,
        ids: &[String],
        force: bool,
    ) -> Result<DeleteInstanceResult, ProviderError> {
        self.forget_histories(Some(ids));
        let result = {
            let _turn = self.write_turn().await;
            self.admin().delete_instances_atomic(ids, force).await?
        };
        self.forget(ids).await;
        Ok(result)
    }

    async fn delete_instance(
        &self,
        instance_id: &str,
        force: bool,
    ) -> Result<DeleteInstanceResult, ProviderError> {
        self.forget_histories(Some(&[instance_id.to_owned()]));
        let result = {
            let _turn = self.write_turn().await;
            self.admin().delete_instance(instance_id, force).await?
        };
        self.forget(&[instance_id.to_owned()]).await;
        Ok(result)
    }

    async fn delete_instance_bulk(
        &self,
        filter: InstanceFilter,
    ) -> Result<DeleteInstanceResult, ProviderError> {
        let ids = filter.instance_ids.clone();
        self.forget_histories(ids.as_deref());
        let result = {
            let _turn = self.write_turn().await;
            self.admin().delete_instance_bulk(filter).await?
        };
        if let Some(ids) = ids {
            self.forget(&ids).await;
        }
        Ok(result)
    }

    async fn prune_executions(
        &self,
        instance_id: &str,
        options: PruneOptions,
    ) -> Result<PruneResult, ProviderError> {
        let _turn = self.write_turn().await;
        self.admin().prune_executions(instance_id, options).await
    }

    async fn prune_executions_bulk(
        &self,
        filter: InstanceFilter,
        options: PruneOptions,
    ) -> Result<PruneResult, ProviderError> {
        let _turn = self.write_turn().await;
        self.admin().prune_executions_bulk(filter, options).await
    }
}
