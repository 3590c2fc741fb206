//! What the scheduler delivers to an instance (a turn's new protocol events) as the work items
//! duroxide's runtime takes: the start, activities' results and failures, timers, events, and a
//! request to stop. The journal's own activities coming back, and the scheduler's bookkeeping
//! (a turn's start and end), mean nothing to duroxide and are left out.

use duroxide::providers::WorkItem;
use travel_durable_task::protocol::{HistoryEvent, history_event::EventType};

use super::TranslationError;
use super::failures;
use super::ids::ActionId;

/// The protocol has one kind of event; duroxide has two. An event raised by name on the
/// protocol (by the scheduler's dashboard, an official SDK's client, this service) is a message
/// for duroxide's queue of that name (`enqueue_event` / `dequeue_event`: the approval), which
/// keeps it until the workflow asks. duroxide's other kind (`raise_event`, dropped unless a wait
/// is already open; the workflow does not use it) is named with this prefix.
pub const EXTERNAL_PREFIX: &str = "duroxide.external:";

/// The first (and, without continue-as-new, only) execution of an instance.
const FIRST_EXECUTION: u64 = 1;

/// duroxide's work items for `new_events` delivered to `instance`, in their order.
pub fn work_items(
    instance: &str,
    new_events: &[HistoryEvent],
) -> Result<Vec<WorkItem>, TranslationError> {
    let mut items = Vec::new();
    for event in new_events {
        let Some(kind) = &event.event_type else {
            continue;
        };
        let item = match kind {
            EventType::ExecutionStarted(started) => {
                let parent = started.parent_instance.as_ref();
                WorkItem::StartOrchestration {
                    instance: instance.to_owned(),
                    orchestration: started.name.clone(),
                    input: started.input.clone().unwrap_or_default(),
                    version: started.version.clone(),
                    parent_instance: parent
                        .and_then(|p| p.orchestration_instance.as_ref())
                        .map(|i| i.instance_id.clone()),
                    parent_id: parent.and_then(|p| {
                        match ActionId::from_protocol(p.task_scheduled_id) {
                            Some(ActionId::Event { event, .. }) => Some(event),
                            _ => None,
                        }
                    }),
                    parent_execution_id: None,
                    execution_id: FIRST_EXECUTION,
                }
            }
            EventType::TaskCompleted(done) => match scheduled(done.task_scheduled_id)? {
                None => continue,
                Some((execution_id, id)) => WorkItem::ActivityCompleted {
                    instance: instance.to_owned(),
                    execution_id,
                    id,
                    result: done.result.clone().unwrap_or_default(),
                },
            },
            EventType::TaskFailed(failed) => match scheduled(failed.task_scheduled_id)? {
                None => continue,
                Some((execution_id, id)) => WorkItem::ActivityFailed {
                    instance: instance.to_owned(),
                    execution_id,
                    id,
                    details: failed
                        .failure_details
                        .as_ref()
                        .map(failures::from_protocol)
                        .unwrap_or_else(|| failures::from_protocol(&Default::default())),
                },
            },
            EventType::TimerFired(fired) => match scheduled(fired.timer_id)? {
                None => continue,
                Some((execution_id, id)) => WorkItem::TimerFired {
                    instance: instance.to_owned(),
                    execution_id,
                    id,
                    fire_at_ms: fired.fire_at.as_ref().map(millis).unwrap_or_default(),
                },
            },
            EventType::EventRaised(raised) => {
                let data = raised.input.clone().unwrap_or_default();
                match raised.name.strip_prefix(EXTERNAL_PREFIX) {
                    Some(name) => WorkItem::ExternalRaised {
                        instance: instance.to_owned(),
                        name: name.to_owned(),
                        data,
                    },
                    None => WorkItem::QueueMessage {
                        instance: instance.to_owned(),
                        name: raised.name.clone(),
                        data,
                    },
                }
            }
            EventType::ExecutionTerminated(terminated) => WorkItem::CancelInstance {
                instance: instance.to_owned(),
                reason: terminated.input.clone().unwrap_or_default(),
            },
            EventType::SubOrchestrationInstanceCompleted(_)
            | EventType::SubOrchestrationInstanceFailed(_) => {
                return Err(TranslationError::Unsupported(
                    "a sub-orchestration's end (the workflow starts none)".into(),
                ));
            }
            EventType::ContinueAsNew(_) => {
                return Err(TranslationError::Unsupported(
                    "continue-as-new (the workflow does not use it)".into(),
                ));
            }
            // The scheduler's bookkeeping, and what duroxide recorded itself (in the journal).
            EventType::OrchestratorStarted(_)
            | EventType::OrchestratorCompleted(_)
            | EventType::ExecutionCompleted(_)
            | EventType::TaskScheduled(_)
            | EventType::TimerCreated(_)
            | EventType::EventSent(_)
            | EventType::SubOrchestrationInstanceCreated(_)
            | EventType::GenericEvent(_)
            | EventType::HistoryState(_)
            | EventType::ExecutionSuspended(_)
            | EventType::ExecutionResumed(_) => continue,
        };
        items.push(item);
    }
    Ok(items)
}

/// The duroxide execution and event a completion's action id names; `None` for the journal's
/// own activities.
fn scheduled(action: i32) -> Result<Option<(u64, u64)>, TranslationError> {
    match ActionId::from_protocol(action) {
        Some(ActionId::Event { execution, event }) => Ok(Some((execution, event))),
        Some(ActionId::Journal { .. }) => Ok(None),
        None => Err(TranslationError::Unsupported(format!(
            "a completion of action {action}, which this worker did not schedule"
        ))),
    }
}

/// A protocol time in milliseconds since 1970 (0 before it).
pub(super) fn millis(at: &prost_types::Timestamp) -> u64 {
    let millis = at.seconds.saturating_mul(1000) + i64::from(at.nanos / 1_000_000);
    u64::try_from(millis).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use duroxide::{AppErrorKind, ErrorDetails};
    use travel_durable_task::protocol::{
        EventRaisedEvent, ExecutionStartedEvent, ExecutionTerminatedEvent,
        OrchestratorStartedEvent, TaskCompletedEvent, TaskFailedEvent, TaskFailureDetails,
        TimerFiredEvent,
    };

    fn delivered(kind: EventType) -> HistoryEvent {
        HistoryEvent {
            event_id: -1,
            timestamp: None,
            event_type: Some(kind),
        }
    }

    fn id(execution: u64, event: u64) -> i32 {
        ActionId::Event { execution, event }.to_protocol().unwrap()
    }

    #[test]
    fn each_delivered_event_becomes_the_work_item_duroxide_expects() {
        let events = [
            delivered(EventType::OrchestratorStarted(
                OrchestratorStartedEvent::default(),
            )),
            delivered(EventType::ExecutionStarted(ExecutionStartedEvent {
                name: "PlanTrip".into(),
                version: Some("5.0.0".into()),
                input: Some("{}".into()),
                ..Default::default()
            })),
            delivered(EventType::TaskCompleted(TaskCompletedEvent {
                task_scheduled_id: id(1, 4),
                result: Some(r#"{"destination":"Lisbon"}"#.into()),
            })),
            delivered(EventType::TaskCompleted(TaskCompletedEvent {
                task_scheduled_id: ActionId::Journal { turn: 2 }.to_protocol().unwrap(),
                result: None,
            })),
            delivered(EventType::TaskFailed(TaskFailedEvent {
                task_scheduled_id: id(1, 5),
                failure_details: Some(TaskFailureDetails {
                    error_message: "no credit".into(),
                    is_non_retriable: true,
                    ..Default::default()
                }),
            })),
            delivered(EventType::TimerFired(TimerFiredEvent {
                fire_at: Some(prost_types::Timestamp {
                    seconds: 1_800_000_000,
                    nanos: 250_000_000,
                }),
                timer_id: id(1, 6),
            })),
            delivered(EventType::EventRaised(EventRaisedEvent {
                name: "Approval".into(),
                input: Some(r#"{"approved":true}"#.into()),
            })),
            delivered(EventType::EventRaised(EventRaisedEvent {
                name: "duroxide.external:Nudge".into(),
                input: None,
            })),
            delivered(EventType::ExecutionTerminated(ExecutionTerminatedEvent {
                input: Some("stopped by an operator".into()),
                recurse: false,
            })),
        ];
        let trip = |s: &str| s.to_owned();
        assert_eq!(
            work_items("trip-1", &events).unwrap(),
            [
                WorkItem::StartOrchestration {
                    instance: trip("trip-1"),
                    orchestration: trip("PlanTrip"),
                    input: trip("{}"),
                    version: Some(trip("5.0.0")),
                    parent_instance: None,
                    parent_id: None,
                    parent_execution_id: None,
                    execution_id: 1,
                },
                WorkItem::ActivityCompleted {
                    instance: trip("trip-1"),
                    execution_id: 1,
                    id: 4,
                    result: trip(r#"{"destination":"Lisbon"}"#),
                },
                WorkItem::ActivityFailed {
                    instance: trip("trip-1"),
                    execution_id: 1,
                    id: 5,
                    details: ErrorDetails::Application {
                        kind: AppErrorKind::ActivityFailed,
                        message: trip("no credit"),
                        retryable: false,
                    },
                },
                WorkItem::TimerFired {
                    instance: trip("trip-1"),
                    execution_id: 1,
                    id: 6,
                    fire_at_ms: 1_800_000_000_250,
                },
                WorkItem::QueueMessage {
                    instance: trip("trip-1"),
                    name: trip("Approval"),
                    data: trip(r#"{"approved":true}"#),
                },
                WorkItem::ExternalRaised {
                    instance: trip("trip-1"),
                    name: trip("Nudge"),
                    data: String::new(),
                },
                WorkItem::CancelInstance {
                    instance: trip("trip-1"),
                    reason: trip("stopped by an operator"),
                },
            ]
        );
    }

    #[test]
    fn a_completion_this_worker_did_not_schedule_is_an_error() {
        let foreign = delivered(EventType::TaskCompleted(TaskCompletedEvent {
            task_scheduled_id: 3,
            result: None,
        }));
        assert!(matches!(
            work_items("trip-1", &[foreign]),
            Err(TranslationError::Unsupported(_))
        ));
    }
}
