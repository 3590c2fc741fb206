//! duroxide's store on a Durable Task scheduler: a [`Provider`] whose queues, timers and
//! history are the scheduler's. The scheduler pushes work on one stream; duroxide's dispatchers
//! pull it: a task reads the stream into two local queues (turns, activities), and the
//! provider's fetches take from them. What the protocol has no call for is kept here, for this
//! process: the leases of the work taken (the protocol has no renewal: a lease lasts until the
//! work is completed or handed back), attempt counts, and the delay of work handed back.
//!
//! Every work item taken is written down until it is completed or handed back (`held_work`):
//! a process started after a crash hands back the turns the dead one held and runs its
//! activities again, since the protocol has no lease that would bring them back.
//!
//! A turn whose new events mean nothing to duroxide (only the journal's activities coming back)
//! is answered here, never shown to duroxide; so is the end of an instance, sent once the
//! journal entry of its last turn has come back (`to_scheduler`, top).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use duroxide::providers::{
    DispatcherCapabilityFilter, ExecutionMetadata, OrchestrationItem, Provider, ProviderError,
    ScheduledActivityIdentifier, SessionFetchConfig, TagFilter, WorkItem,
};
use duroxide::{Event, EventKind};
use tokio::sync::{Mutex, mpsc};
use travel_durable_task::protocol::{
    ActivityRequest, ActivityResponse, CreateInstanceRequest, GetWorkItemsRequest,
    OrchestratorRequest, OrchestratorResponse, work_item,
};
use travel_durable_task::{Connection, ProtocolError};

use super::TranslationError;
use super::from_scheduler::{self, EXTERNAL_PREFIX};
use super::held_work::{Arrival, Held, HeldWork, HeldWorkError, Leftover};
use super::ids::ActionId;
use super::journal::{JOURNAL_ACTIVITY, Journal};
use super::to_scheduler::{self, Turn};
use crate::engine::wakeups::{AbortOnDrop, Queue, Wakeups};

/// Work read ahead of the dispatchers, per queue.
const READ_AHEAD: usize = 256;

/// How long work this process has just handed the scheduler may take to come back on the stream
/// (the Python test backend looks for work every 100 ms): a fetch waits that long after a hand-
/// over rather than answer that there is nothing, as a store with its own queues would not.
const IN_FLIGHT: Duration = Duration::from_secs(1);

/// duroxide's store on a Durable Task scheduler.
pub struct DurableTaskProvider {
    scheduler: Connection,
    turns: Mutex<mpsc::Receiver<(OrchestratorRequest, String)>>,
    activities: Mutex<mpsc::Receiver<(ActivityRequest, String, u32)>>,
    /// For work handed back: the protocol's own hand-back loses an activity on the Python test
    /// backend, so an activity goes back into the local queue instead.
    activities_again: mpsc::Sender<(ActivityRequest, String, u32)>,
    leases: std::sync::Mutex<HashMap<String, Lease>>,
    /// Tries of each turn handed back (by its completion token).
    turn_attempts: std::sync::Mutex<HashMap<String, u32>>,
    /// When this process last handed the scheduler work (a start, an event, a turn's actions).
    handed_over: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// Told of work as it arrives, when a store's dispatchers wait on them (then a fetch does
    /// not wait for work on its way back: the dispatchers are woken when it comes).
    wakeups: Option<Arc<Wakeups>>,
    /// The work taken and not yet completed or handed back.
    held: Arc<HeldWork>,
    _reader: AbortOnDrop,
}

enum Lease {
    Turn {
        instance: String,
        completion_token: String,
        /// Journal entries so far.
        turns: u64,
        custom_status: Option<String>,
    },
    Activity {
        request: ActivityRequest,
        completion_token: String,
        attempts: u32,
    },
}

impl DurableTaskProvider {
    /// Starts reading the scheduler's work (for the orchestrations and activities the scheduler
    /// would give any worker of the task hub), keeping what it holds in this process only.
    pub fn start(scheduler: Connection) -> Arc<Self> {
        Self::with_reader(
            scheduler,
            None,
            Some((HeldWork::in_memory(), Leftover::default())),
        )
    }

    /// The same, telling `wakeups` of the work as it arrives, and writing down the work held in
    /// the folder `held_work`: first handing back, or running again, what the last process
    /// there held.
    pub fn start_with(
        scheduler: Connection,
        wakeups: Option<Arc<Wakeups>>,
        held_work: &Path,
    ) -> Result<Arc<Self>, HeldWorkError> {
        let held = HeldWork::open(held_work)?;
        if !(held.1.turns.is_empty() && held.1.activities.is_empty()) {
            tracing::info!(
                turns = held.1.turns.len(),
                activities = held.1.activities.len(),
                "handing back the turns and running again the activities the last process held"
            );
        }
        Ok(Self::with_reader(scheduler, wakeups, Some(held)))
    }

    /// The client side only (start, raise, stop, read): no work is taken from the scheduler,
    /// for a short command beside the process that does the work.
    pub fn client(scheduler: Connection) -> Arc<Self> {
        Self::with_reader(scheduler, None, None)
    }

    fn with_reader(
        scheduler: Connection,
        wakeups: Option<Arc<Wakeups>>,
        works: Option<(HeldWork, Leftover)>,
    ) -> Arc<Self> {
        let (turns_tx, turns) = mpsc::channel(READ_AHEAD);
        let (activities_tx, activities) = mpsc::channel(READ_AHEAD);
        let (held, leftover) = match works {
            Some((held, leftover)) => (Arc::new(held), Some(leftover)),
            None => (Arc::new(HeldWork::in_memory()), None),
        };
        let reader = if let Some(leftover) = leftover {
            tokio::spawn(read_work(
                Reader {
                    scheduler: scheduler.clone(),
                    turns: turns_tx,
                    activities: activities_tx.clone(),
                    wakeups: wakeups.clone(),
                    held: held.clone(),
                },
                leftover,
            ))
        } else {
            // Keeps the queues open, and empty.
            tokio::spawn(async move {
                let _open = turns_tx;
                std::future::pending::<()>().await
            })
        };
        Arc::new(Self {
            scheduler,
            turns: Mutex::new(turns),
            activities: Mutex::new(activities),
            activities_again: activities_tx,
            leases: Default::default(),
            turn_attempts: Default::default(),
            handed_over: Default::default(),
            wakeups,
            held,
            _reader: AbortOnDrop(reader),
        })
    }

    /// Notes that work was just handed to the scheduler.
    fn handing_over(&self) {
        *self.handed_over.lock().unwrap() = Some(tokio::time::Instant::now());
    }

    /// How long a fetch asked to wait `poll_timeout` waits: longer while work handed over is
    /// still on its way back.
    fn fetch_deadline(&self, poll_timeout: Duration) -> tokio::time::Instant {
        let asked = tokio::time::Instant::now() + poll_timeout;
        match *self.handed_over.lock().unwrap() {
            Some(at) if self.wakeups.is_none() => asked.max(at + IN_FLIGHT),
            _ => asked,
        }
    }

    /// The connection to the scheduler.
    pub(super) fn scheduler(&self) -> &Connection {
        &self.scheduler
    }

    fn lease(&self, lease: Lease) -> String {
        let token = travel_platform::secret::random_hex(16);
        self.leases.lock().unwrap().insert(token.clone(), lease);
        token
    }

    fn take_lease(&self, operation: &str, token: &str) -> Result<Lease, ProviderError> {
        self.leases
            .lock()
            .unwrap()
            .remove(token)
            .ok_or_else(|| ProviderError::permanent(operation, "the lock was lost"))
    }

    fn holds(&self, operation: &str, token: &str) -> Result<(), ProviderError> {
        if self.leases.lock().unwrap().contains_key(token) {
            Ok(())
        } else {
            Err(ProviderError::permanent(operation, "the lock was lost"))
        }
    }

    /// Answers a turn duroxide need not see: with the end, when duroxide ended the instance
    /// and every journal entry is back; else with nothing (and the custom status again).
    async fn answer_here(
        &self,
        turn: &OrchestratorRequest,
        token: &str,
        journal: &Journal,
    ) -> Result<(), ProviderError> {
        let custom_status = Journal::custom_status(&journal.events);
        let response = match journal.end() {
            Some(end) if journal.settled() => to_scheduler::completion(
                &turn.instance_id,
                token,
                journal.turns + 1,
                &end,
                custom_status,
            )
            .map_err(|e| translation("fetch_orchestration_item", e))?,
            _ => OrchestratorResponse {
                instance_id: turn.instance_id.clone(),
                completion_token: token.to_owned(),
                custom_status,
                ..Default::default()
            },
        };
        self.scheduler
            .complete_turn(response)
            .await
            .map_err(|e| protocol("fetch_orchestration_item", e))?;
        self.held.done(&Held::turn(turn, token));
        Ok(())
    }
}

/// What the stream reader puts its work into.
struct Reader {
    scheduler: Connection,
    turns: mpsc::Sender<(OrchestratorRequest, String)>,
    activities: mpsc::Sender<(ActivityRequest, String, u32)>,
    wakeups: Option<Arc<Wakeups>>,
    held: Arc<HeldWork>,
}

impl Reader {
    /// Puts an activity in the local queue (a journal entry is completed at once); false when
    /// the provider is gone.
    async fn activity(&self, activity: ActivityRequest, token: String, attempts: u32) -> bool {
        if activity.name == JOURNAL_ACTIVITY {
            let held = Held::activity(&activity);
            if complete_journal_entry(&self.scheduler, activity, token).await {
                self.held.done(&held);
            }
            return true;
        }
        let sent = self
            .activities
            .send((activity, token, attempts))
            .await
            .is_ok();
        self.arrived(Queue::Activities);
        sent
    }

    fn arrived(&self, queue: Queue) {
        if let Some(wakeups) = &self.wakeups {
            wakeups.work_arrived(queue, 1);
        }
    }

    /// What the last process held: its turns handed back (the scheduler gives them again), its
    /// activities run again.
    async fn take_over(&self, leftover: Leftover) -> bool {
        for (turn, token) in leftover.turns {
            if let Err(e) = hand_back(&self.scheduler, &self.held, &turn.instance_id, &token).await
            {
                tracing::warn!(error = %e, instance = %turn.instance_id, "a turn the last process held could not be handed back");
            }
        }
        for (activity, token) in leftover.activities {
            if !self.activity(activity, token, 2).await {
                return false;
            }
        }
        true
    }
}

/// Reads the scheduler's stream into the local queues, completing the journal's activities at
/// once, each work item written down first; opens it again (after 1 s, doubling to 30 s) when
/// it fails or ends. Before the first read, takes over what the last process held.
async fn read_work(reader: Reader, leftover: Leftover) {
    if !reader.take_over(leftover).await {
        return;
    }
    let mut pause = Duration::from_secs(1);
    loop {
        let mut work = reader
            .scheduler
            .work_items(GetWorkItemsRequest::default(), 16);
        loop {
            let item = match work.next().await {
                Ok(item) => item,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?pause, "the scheduler's work stream stopped; opening it again");
                    break;
                }
            };
            pause = Duration::from_secs(1);
            match reader.held.arrived(&item) {
                Ok(Arrival::New) => {}
                Ok(Arrival::AlreadyHeld) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "a work item could not be written down: a crash now would lose it");
                }
            }
            let token = item.completion_token;
            let sent = match item.request {
                Some(work_item::Request::OrchestratorRequest(turn)) => {
                    let sent = reader.turns.send((turn, token)).await.is_ok();
                    reader.arrived(Queue::Orchestrations);
                    sent
                }
                Some(work_item::Request::ActivityRequest(activity)) => {
                    reader.activity(activity, token, 1).await
                }
                Some(work_item::Request::HealthPing(_)) | None => true,
            };
            if !sent {
                return;
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

/// Hands a turn back to the scheduler (which gives it again) and crosses it out, unless the
/// scheduler was not reached: then it stays held, for a later try or the next process.
async fn hand_back(
    scheduler: &Connection,
    held: &HeldWork,
    instance: &str,
    token: &str,
) -> Result<(), ProtocolError> {
    let handed = scheduler.abandon_turn(token).await;
    // Handed back, or no longer the scheduler's to give (completed, or given again).
    if !handed.as_ref().is_err_and(ProtocolError::is_transient) {
        held.done(&Held::Turn {
            instance: instance.to_owned(),
            token: token.to_owned(),
        });
    }
    handed
}

/// The journal's activities do nothing: their input is the record. True once completed.
async fn complete_journal_entry(
    scheduler: &Connection,
    entry: ActivityRequest,
    token: String,
) -> bool {
    let instance_id = entry
        .orchestration_instance
        .map(|i| i.instance_id)
        .unwrap_or_default();
    let done = ActivityResponse {
        instance_id,
        task_id: entry.task_id,
        result: Some(String::new()),
        completion_token: token,
        ..Default::default()
    };
    match scheduler.complete_activity(done).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "a journal entry's activity could not be completed");
            false
        }
    }
}

/// A call to the scheduler that failed, as duroxide's error: to be tried again when the
/// scheduler was not reached.
pub(super) fn protocol(operation: &str, error: ProtocolError) -> ProviderError {
    if error.is_transient() {
        ProviderError::retryable(operation, error.to_string())
    } else {
        ProviderError::permanent(operation, error.to_string())
    }
}

fn translation(operation: &str, error: TranslationError) -> ProviderError {
    ProviderError::permanent(operation, error.to_string())
}

fn unsupported(operation: &str, what: &str) -> ProviderError {
    ProviderError::permanent(
        operation,
        format!("the Durable Task protocol has no {what}"),
    )
}

/// The orchestration's name and version: from its start in the history, else from the start
/// being delivered.
fn name_and_version(history: &[Event], messages: &[WorkItem]) -> Option<(String, String)> {
    history
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::OrchestrationStarted { name, version, .. } => {
                Some((name.clone(), version.clone()))
            }
            _ => None,
        })
        .or_else(|| {
            messages.iter().find_map(|m| match m {
                WorkItem::StartOrchestration {
                    orchestration,
                    version,
                    ..
                } => Some((
                    orchestration.clone(),
                    version.clone().unwrap_or_else(|| "unknown".to_owned()),
                )),
                _ => None,
            })
        })
}

#[async_trait]
impl Provider for DurableTaskProvider {
    fn name(&self) -> &str {
        "durable-task"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn as_management_capability(&self) -> Option<&dyn duroxide::providers::ProviderAdmin> {
        Some(self)
    }

    async fn fetch_orchestration_item(
        &self,
        _lock_timeout: Duration,
        poll_timeout: Duration,
        _filter: Option<&DispatcherCapabilityFilter>,
    ) -> Result<Option<(OrchestrationItem, String, u32)>, ProviderError> {
        const OPERATION: &str = "fetch_orchestration_item";
        let deadline = self.fetch_deadline(poll_timeout);
        loop {
            let next = {
                let mut turns = self.turns.lock().await;
                tokio::time::timeout_at(deadline, turns.recv()).await
            };
            let (turn, token) = match next {
                Err(_) => return Ok(None),
                Ok(None) => {
                    return Err(ProviderError::retryable(OPERATION, "the work stream ended"));
                }
                Ok(Some(next)) => next,
            };
            let past = if turn.requires_history_streaming {
                match self.scheduler.history(&turn.instance_id).await {
                    Ok(history) => history,
                    Err(e) => {
                        // Given again by the scheduler, for a later fetch.
                        let _ =
                            hand_back(&self.scheduler, &self.held, &turn.instance_id, &token).await;
                        return Err(protocol(OPERATION, e));
                    }
                }
            } else {
                turn.past_events.clone()
            };
            let journal = Journal::read(past.iter().chain(&turn.new_events))
                .map_err(|e| translation(OPERATION, e))?;
            let messages = from_scheduler::work_items(&turn.instance_id, &turn.new_events)
                .map_err(|e| translation(OPERATION, e))?;
            let named = name_and_version(&journal.events, &messages);
            let Some((orchestration_name, version)) =
                named.filter(|_| journal.end().is_none() && !messages.is_empty())
            else {
                self.answer_here(&turn, &token, &journal).await?;
                continue;
            };
            let attempts = {
                let mut tries = self.turn_attempts.lock().unwrap();
                let count = tries.entry(token.clone()).or_insert(0);
                *count += 1;
                *count
            };
            let custom_status = Journal::custom_status(&journal.events);
            let lock_token = self.lease(Lease::Turn {
                instance: turn.instance_id.clone(),
                completion_token: token,
                turns: journal.turns,
                custom_status,
            });
            let item = OrchestrationItem {
                instance: turn.instance_id,
                orchestration_name,
                execution_id: 1,
                version,
                history: journal.events,
                messages,
                history_error: None,
                kv_snapshot: HashMap::new(),
            };
            return Ok(Some((item, lock_token, attempts)));
        }
    }

    async fn ack_orchestration_item(
        &self,
        lock_token: &str,
        _execution_id: u64,
        history_delta: Vec<Event>,
        worker_items: Vec<WorkItem>,
        orchestrator_items: Vec<WorkItem>,
        _metadata: ExecutionMetadata,
        _cancelled_activities: Vec<ScheduledActivityIdentifier>,
    ) -> Result<(), ProviderError> {
        const OPERATION: &str = "ack_orchestration_item";
        let Lease::Turn {
            instance,
            completion_token,
            turns,
            custom_status,
        } = self.take_lease(OPERATION, lock_token)?
        else {
            return Err(ProviderError::permanent(OPERATION, "not a turn's lock"));
        };
        let updated = history_delta
            .iter()
            .any(|e| matches!(e.kind, EventKind::CustomStatusUpdated { .. }));
        let response = to_scheduler::completion_of(Turn {
            instance: &instance,
            completion_token: &completion_token,
            turn: turns + 1,
            delta: &history_delta,
            worker_items: &worker_items,
            orchestrator_items: &orchestrator_items,
            custom_status: if updated {
                Journal::custom_status(&history_delta)
            } else {
                custom_status
            },
        })
        .map_err(|e| translation(OPERATION, e))?;
        self.handing_over();
        self.scheduler
            .complete_turn(response)
            .await
            .map_err(|e| protocol(OPERATION, e))?;
        self.turn_attempts.lock().unwrap().remove(&completion_token);
        self.held.done(&Held::Turn {
            instance,
            token: completion_token,
        });
        Ok(())
    }

    async fn abandon_orchestration_item(
        &self,
        lock_token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        const OPERATION: &str = "abandon_orchestration_item";
        let Lease::Turn {
            instance,
            completion_token,
            ..
        } = self.take_lease(OPERATION, lock_token)?
        else {
            return Err(ProviderError::permanent(OPERATION, "not a turn's lock"));
        };
        if ignore_attempt
            && let Some(count) = self
                .turn_attempts
                .lock()
                .unwrap()
                .get_mut(&completion_token)
        {
            *count = count.saturating_sub(1);
        }
        // The protocol hands back at once; a delay is waited out here, the turn held meanwhile.
        let scheduler = self.scheduler.clone();
        let held = self.held.clone();
        tokio::spawn(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            if let Err(e) = hand_back(&scheduler, &held, &instance, &completion_token).await {
                tracing::warn!(error = %e, "a turn could not be handed back");
            }
        });
        Ok(())
    }

    async fn read(&self, instance: &str) -> Result<Vec<Event>, ProviderError> {
        let history = match self.scheduler.history(instance).await {
            Ok(history) => history,
            // Like duroxide's own stores: no instance, no history.
            Err(ProtocolError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(protocol("read", e)),
        };
        Ok(Journal::read(&history)
            .map_err(|e| translation("read", e))?
            .events)
    }

    async fn read_with_execution(
        &self,
        instance: &str,
        execution_id: u64,
    ) -> Result<Vec<Event>, ProviderError> {
        if execution_id == 1 {
            self.read(instance).await
        } else {
            Ok(Vec::new())
        }
    }

    async fn append_with_execution(
        &self,
        _instance: &str,
        _execution_id: u64,
        _new_events: Vec<Event>,
    ) -> Result<(), ProviderError> {
        Err(unsupported(
            "append_with_execution",
            "way to add history outside a turn",
        ))
    }

    async fn enqueue_for_worker(&self, _item: WorkItem) -> Result<(), ProviderError> {
        Err(unsupported(
            "enqueue_for_worker",
            "way to queue an activity outside a turn",
        ))
    }

    async fn fetch_work_item(
        &self,
        _lock_timeout: Duration,
        poll_timeout: Duration,
        _session: Option<&SessionFetchConfig>,
        tag_filter: &TagFilter,
    ) -> Result<Option<(WorkItem, String, u32)>, ProviderError> {
        const OPERATION: &str = "fetch_work_item";
        if !tag_filter.matches(None) {
            // Every activity here is untagged (the protocol's tags are not kept by every
            // scheduler), so a worker for tagged work only gets nothing.
            tokio::time::sleep(poll_timeout).await;
            return Ok(None);
        }
        let deadline = self.fetch_deadline(poll_timeout);
        let next = {
            let mut activities = self.activities.lock().await;
            tokio::time::timeout_at(deadline, activities.recv()).await
        };
        let (request, completion_token, attempts) = match next {
            Err(_) => return Ok(None),
            Ok(None) => return Err(ProviderError::retryable(OPERATION, "the work stream ended")),
            Ok(Some(next)) => next,
        };
        let Some(ActionId::Event { execution, event }) = ActionId::from_protocol(request.task_id)
        else {
            return Err(ProviderError::permanent(
                OPERATION,
                format!(
                    "activity {} was not scheduled by this worker",
                    request.task_id
                ),
            ));
        };
        let item = WorkItem::ActivityExecute {
            instance: request
                .orchestration_instance
                .as_ref()
                .map(|i| i.instance_id.clone())
                .unwrap_or_default(),
            execution_id: execution,
            id: event,
            name: request.name.clone(),
            input: request.input.clone().unwrap_or_default(),
            session_id: None,
            tag: None,
        };
        let token = self.lease(Lease::Activity {
            request,
            completion_token,
            attempts,
        });
        Ok(Some((item, token, attempts)))
    }

    async fn ack_work_item(
        &self,
        token: &str,
        completion: Option<WorkItem>,
    ) -> Result<(), ProviderError> {
        const OPERATION: &str = "ack_work_item";
        let Lease::Activity {
            request,
            completion_token,
            ..
        } = self.take_lease(OPERATION, token)?
        else {
            return Err(ProviderError::permanent(
                OPERATION,
                "not an activity's lock",
            ));
        };
        let held = Held::activity(&request);
        let mut done = ActivityResponse {
            instance_id: request
                .orchestration_instance
                .map(|i| i.instance_id)
                .unwrap_or_default(),
            task_id: request.task_id,
            // The newest: the scheduler may have given it again while it ran.
            completion_token: self.held.token(&held).unwrap_or(completion_token),
            ..Default::default()
        };
        match completion {
            Some(WorkItem::ActivityCompleted { result, .. }) => done.result = Some(result),
            Some(WorkItem::ActivityFailed { details, .. }) => {
                done.failure_details = Some(super::failures::to_protocol(&details));
            }
            // Cancelled: completed all the same, so that the scheduler does not give it again
            // (duroxide drops the late result).
            None => done.result = Some(String::new()),
            Some(other) => {
                return Err(ProviderError::permanent(
                    OPERATION,
                    format!("an activity cannot end as {other:?}"),
                ));
            }
        }
        self.handing_over();
        self.scheduler
            .complete_activity(done)
            .await
            .map_err(|e| protocol(OPERATION, e))?;
        self.held.done(&held);
        Ok(())
    }

    async fn renew_work_item_lock(
        &self,
        token: &str,
        _extend_for: Duration,
    ) -> Result<(), ProviderError> {
        self.holds("renew_work_item_lock", token)
    }

    async fn renew_session_lock(
        &self,
        _owner_ids: &[&str],
        _extend_for: Duration,
        _idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        Ok(0)
    }

    async fn cleanup_orphaned_sessions(
        &self,
        _idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        Ok(0)
    }

    async fn abandon_work_item(
        &self,
        token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        const OPERATION: &str = "abandon_work_item";
        let Lease::Activity {
            request,
            completion_token,
            attempts,
        } = self.take_lease(OPERATION, token)?
        else {
            return Err(ProviderError::permanent(
                OPERATION,
                "not an activity's lock",
            ));
        };
        let attempts = if ignore_attempt {
            attempts
        } else {
            attempts + 1
        };
        let again = self.activities_again.clone();
        tokio::spawn(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let _ = again.send((request, completion_token, attempts)).await;
        });
        Ok(())
    }

    async fn renew_orchestration_item_lock(
        &self,
        token: &str,
        _extend_for: Duration,
    ) -> Result<(), ProviderError> {
        self.holds("renew_orchestration_item_lock", token)
    }

    async fn enqueue_for_orchestrator(
        &self,
        item: WorkItem,
        _delay: Option<Duration>,
    ) -> Result<(), ProviderError> {
        const OPERATION: &str = "enqueue_for_orchestrator";
        self.handing_over();
        let sent = match item {
            WorkItem::StartOrchestration {
                instance,
                orchestration,
                input,
                version,
                parent_instance: None,
                ..
            } => {
                let start = CreateInstanceRequest {
                    instance_id: instance,
                    name: orchestration,
                    version,
                    input: Some(input),
                    ..Default::default()
                };
                match self.scheduler.start(start).await {
                    Err(ProtocolError::AlreadyExists(_)) => Ok(()),
                    other => other.map(|_| ()),
                }
            }
            WorkItem::ExternalRaised {
                instance,
                name,
                data,
            } => {
                let name = format!("{EXTERNAL_PREFIX}{name}");
                self.scheduler
                    .raise_event(&instance, &name, Some(data))
                    .await
            }
            WorkItem::QueueMessage {
                instance,
                name,
                data,
            } => {
                self.scheduler
                    .raise_event(&instance, &name, Some(data))
                    .await
            }
            WorkItem::CancelInstance { instance, reason } => {
                self.scheduler.terminate(&instance, &reason).await
            }
            other => {
                return Err(ProviderError::permanent(
                    OPERATION,
                    format!("the Durable Task protocol cannot queue {other:?}"),
                ));
            }
        };
        match sent {
            // Like duroxide's own stores: an event for an instance not started is dropped.
            Err(ProtocolError::NotFound(instance)) => {
                tracing::warn!(%instance, "an event for an instance that does not exist was dropped");
                Ok(())
            }
            other => other.map_err(|e| protocol(OPERATION, e)),
        }
    }

    async fn get_custom_status(
        &self,
        instance: &str,
        last_seen_version: u64,
    ) -> Result<Option<(Option<String>, u64)>, ProviderError> {
        // The protocol keeps only the latest value: the version is the number of updates in
        // duroxide's history.
        let history = self.read(instance).await?;
        let version = history
            .iter()
            .filter(|e| matches!(e.kind, EventKind::CustomStatusUpdated { .. }))
            .count() as u64;
        Ok((version > last_seen_version).then(|| (Journal::custom_status(&history), version)))
    }

    async fn get_kv_value(
        &self,
        _instance: &str,
        _key: &str,
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    async fn get_kv_all_values(
        &self,
        _instance: &str,
    ) -> Result<HashMap<String, String>, ProviderError> {
        Ok(HashMap::new())
    }

    async fn get_instance_stats(
        &self,
        _instance: &str,
    ) -> Result<Option<duroxide::SystemStats>, ProviderError> {
        Ok(None)
    }
}
