//! A turn's outcome, as duroxide acknowledges it (its new events, the activities to run, its
//! own timers, messages to other instances), as one completion the scheduler records at once:
//! the real actions, the journal entry with the new events, and the custom status (sent every
//! time: the scheduler clears it otherwise).
//!
//! The end of an instance is sent one turn later, in a completion of its own
//! ([`completion`]), once the journal entry of the turn that ended it has come back: sent with
//! the entry, it would make the scheduler run that activity against an instance already
//! finished, and record the end twice (seen on the Python test backend).

use duroxide::Event;
use duroxide::providers::WorkItem;
use travel_durable_task::protocol::{
    CompleteOrchestrationAction, CreateTimerAction, OrchestrationInstance, OrchestrationStatus,
    OrchestratorAction, OrchestratorResponse, ScheduleTaskAction, SendEventAction,
    orchestrator_action::OrchestratorActionType,
};

use super::TranslationError;
use super::failures;
use super::from_scheduler::EXTERNAL_PREFIX;
use super::ids::ActionId;
use super::journal::{self, End};

/// One turn of an instance, as duroxide acknowledged it.
pub struct Turn<'a> {
    pub instance: &'a str,
    /// The work item's completion token, from the scheduler.
    pub completion_token: &'a str,
    /// The instance's turn, from 1 (the journal's entries so far, plus one).
    pub turn: u64,
    /// The turn's new history events.
    pub delta: &'a [Event],
    /// Activities to run.
    pub worker_items: &'a [WorkItem],
    /// The instance's timers, and events for instances (itself or others).
    pub orchestrator_items: &'a [WorkItem],
    /// The instance's custom status after the turn.
    pub custom_status: Option<String>,
}

/// The completion that records `turn`.
pub fn completion_of(turn: Turn<'_>) -> Result<OrchestratorResponse, TranslationError> {
    let mut actions = Vec::new();
    for item in turn.worker_items {
        actions.push(activity(turn.instance, item)?);
    }
    for item in turn.orchestrator_items {
        actions.push(orchestrator_item(turn.instance, item)?);
    }
    actions.push(journal::entry(turn.turn, turn.delta)?);
    Ok(OrchestratorResponse {
        instance_id: turn.instance.to_owned(),
        completion_token: turn.completion_token.to_owned(),
        actions,
        custom_status: turn.custom_status,
        ..Default::default()
    })
}

/// The completion that ends an instance as duroxide ended it (`next_turn`: the journal's
/// entries so far, plus one, for the action's id).
pub fn completion(
    instance: &str,
    completion_token: &str,
    next_turn: u64,
    end: &End,
    custom_status: Option<String>,
) -> Result<OrchestratorResponse, TranslationError> {
    let complete = match end {
        End::Completed(output) => CompleteOrchestrationAction {
            orchestration_status: OrchestrationStatus::Completed as i32,
            result: Some(output.clone()),
            ..Default::default()
        },
        End::Failed(details) => CompleteOrchestrationAction {
            orchestration_status: OrchestrationStatus::Failed as i32,
            failure_details: Some(failures::to_protocol(details)),
            ..Default::default()
        },
    };
    Ok(OrchestratorResponse {
        instance_id: instance.to_owned(),
        completion_token: completion_token.to_owned(),
        actions: vec![OrchestratorAction {
            id: ActionId::Journal { turn: next_turn }.to_protocol()?,
            orchestrator_action_type: Some(OrchestratorActionType::CompleteOrchestration(complete)),
        }],
        custom_status,
        ..Default::default()
    })
}

fn activity(instance: &str, item: &WorkItem) -> Result<OrchestratorAction, TranslationError> {
    let WorkItem::ActivityExecute {
        instance: of,
        execution_id,
        id,
        name,
        input,
        session_id,
        tag,
    } = item
    else {
        return Err(unsupported(item));
    };
    if of != instance || session_id.is_some() || tag.is_some() {
        return Err(TranslationError::Unsupported(format!(
            "an activity with a session or a tag, or for another instance ({name} of {of})"
        )));
    }
    Ok(OrchestratorAction {
        id: event_id(*execution_id, *id)?,
        orchestrator_action_type: Some(OrchestratorActionType::ScheduleTask(ScheduleTaskAction {
            name: name.clone(),
            input: Some(input.clone()),
            ..Default::default()
        })),
    })
}

fn orchestrator_item(
    instance: &str,
    item: &WorkItem,
) -> Result<OrchestratorAction, TranslationError> {
    let (action_id, action) = match item {
        WorkItem::TimerFired {
            instance: of,
            execution_id,
            id,
            fire_at_ms,
        } if of == instance => (
            event_id(*execution_id, *id)?,
            OrchestratorActionType::CreateTimer(CreateTimerAction {
                fire_at: Some(timestamp(*fire_at_ms)),
            }),
        ),
        WorkItem::QueueMessage {
            instance: to,
            name,
            data,
        } => (0, send_event(to, name, data)),
        WorkItem::ExternalRaised {
            instance: to,
            name,
            data,
        } => (0, send_event(to, &format!("{EXTERNAL_PREFIX}{name}"), data)),
        other => return Err(unsupported(other)),
    };
    Ok(OrchestratorAction {
        id: action_id,
        orchestrator_action_type: Some(action),
    })
}

fn send_event(to: &str, name: &str, data: &str) -> OrchestratorActionType {
    OrchestratorActionType::SendEvent(SendEventAction {
        instance: Some(OrchestrationInstance {
            instance_id: to.to_owned(),
            execution_id: None,
        }),
        name: name.to_owned(),
        data: Some(data.to_owned()),
    })
}

fn event_id(execution: u64, event: u64) -> Result<i32, TranslationError> {
    ActionId::Event { execution, event }.to_protocol()
}

fn timestamp(millis: u64) -> prost_types::Timestamp {
    let millis = i64::try_from(millis).unwrap_or(i64::MAX);
    prost_types::Timestamp {
        seconds: millis / 1000,
        nanos: i32::try_from((millis % 1000) * 1_000_000).unwrap_or_default(),
    }
}

fn unsupported(item: &WorkItem) -> TranslationError {
    let kind = format!("{item:?}");
    let kind = kind.split([' ', '{']).next().unwrap_or_default().to_owned();
    TranslationError::Unsupported(format!("a {kind} work item in a turn's outcome"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::durable_task::from_scheduler::work_items;
    use crate::engine::durable_task::journal::Journal;
    use crate::engine::durable_task::journal::tests::{event, recorded};
    use duroxide::{AppErrorKind, ErrorDetails, EventKind};
    use travel_durable_task::protocol::{
        HistoryEvent, TaskCompletedEvent, TimerFiredEvent, history_event::EventType,
    };

    #[test]
    fn a_turn_records_its_activities_timers_and_events_for_others_with_its_journal_entry() {
        let delta = [
            event(
                2,
                EventKind::ActivityScheduled {
                    name: "RunDestinationAgent".into(),
                    input: "{}".into(),
                    session_id: None,
                    tag: None,
                },
            ),
            event(
                3,
                EventKind::TimerCreated {
                    fire_at_ms: 1_800_000_000_250,
                },
            ),
        ];
        let worker_items = [WorkItem::ActivityExecute {
            instance: "trip-1".into(),
            execution_id: 1,
            id: 2,
            name: "RunDestinationAgent".into(),
            input: "{}".into(),
            session_id: None,
            tag: None,
        }];
        let orchestrator_items = [
            WorkItem::TimerFired {
                instance: "trip-1".into(),
                execution_id: 1,
                id: 3,
                fire_at_ms: 1_800_000_000_250,
            },
            WorkItem::QueueMessage {
                instance: "trip-2".into(),
                name: "Approval".into(),
                data: "{}".into(),
            },
        ];
        let response = completion_of(Turn {
            instance: "trip-1",
            completion_token: "7",
            turn: 1,
            delta: &delta,
            worker_items: &worker_items,
            orchestrator_items: &orchestrator_items,
            custom_status: Some("planning".into()),
        })
        .unwrap();
        assert_eq!(response.completion_token, "7");
        assert_eq!(response.custom_status.as_deref(), Some("planning"));
        let actions: Vec<_> = response
            .actions
            .iter()
            .map(|a| a.orchestrator_action_type.clone().unwrap())
            .collect();
        let [
            OrchestratorActionType::ScheduleTask(task),
            OrchestratorActionType::CreateTimer(timer),
            OrchestratorActionType::SendEvent(sent),
            OrchestratorActionType::ScheduleTask(entry),
        ] = &actions[..]
        else {
            panic!("{actions:?}")
        };
        assert_eq!(
            (task.name.as_str(), task.input.as_deref()),
            ("RunDestinationAgent", Some("{}"))
        );
        assert_eq!(timer.fire_at.unwrap().seconds, 1_800_000_000);
        assert_eq!(sent.name, "Approval");
        assert_eq!(sent.instance.as_ref().unwrap().instance_id, "trip-2");
        assert_eq!(entry.name, journal::JOURNAL_ACTIVITY);

        // The scheduler's record of it reads back as the turn, and what it later delivers for
        // the activity and the timer reads back as the items duroxide sent.
        let history: Vec<HistoryEvent> = [recorded(&response.actions[3])].into();
        assert_eq!(Journal::read(&history).unwrap().events, delta);
        let back = [
            HistoryEvent {
                event_id: -1,
                timestamp: None,
                event_type: Some(EventType::TaskCompleted(TaskCompletedEvent {
                    task_scheduled_id: response.actions[0].id,
                    result: Some("{}".into()),
                })),
            },
            HistoryEvent {
                event_id: -1,
                timestamp: None,
                event_type: Some(EventType::TimerFired(TimerFiredEvent {
                    fire_at: timer.fire_at,
                    timer_id: response.actions[1].id,
                })),
            },
        ];
        let items = work_items("trip-1", &back).unwrap();
        assert!(matches!(
            items[0],
            WorkItem::ActivityCompleted {
                id: 2,
                execution_id: 1,
                ..
            }
        ));
        assert_eq!(items[1], orchestrator_items[0]);
    }

    #[test]
    fn the_end_goes_out_as_duroxide_recorded_it_and_what_cannot_be_carried_is_refused() {
        let failed = ErrorDetails::Application {
            kind: AppErrorKind::Cancelled {
                reason: "stopped by an operator".into(),
            },
            message: "canceled: stopped by an operator".into(),
            retryable: false,
        };
        let response = completion("trip-1", "9", 5, &End::Failed(failed.clone()), None).unwrap();
        let Some(OrchestratorActionType::CompleteOrchestration(end)) =
            &response.actions[0].orchestrator_action_type
        else {
            panic!("{response:?}")
        };
        assert_eq!(end.orchestration_status, OrchestrationStatus::Failed as i32);
        assert_eq!(
            failures::from_protocol(end.failure_details.as_ref().unwrap()),
            failed
        );
        let done = completion("trip-1", "9", 5, &End::Completed("{}".into()), None).unwrap();
        let Some(OrchestratorActionType::CompleteOrchestration(end)) =
            &done.actions[0].orchestrator_action_type
        else {
            panic!("{done:?}")
        };
        assert_eq!(end.result.as_deref(), Some("{}"));

        let child = WorkItem::StartOrchestration {
            instance: "trip-1-child".into(),
            orchestration: "Child".into(),
            input: "{}".into(),
            version: None,
            parent_instance: Some("trip-1".into()),
            parent_id: Some(4),
            parent_execution_id: Some(1),
            execution_id: 1,
        };
        let refused = completion_of(Turn {
            instance: "trip-1",
            completion_token: "1",
            turn: 1,
            delta: &[],
            worker_items: &[],
            orchestrator_items: &[child],
            custom_status: None,
        });
        assert!(
            matches!(&refused, Err(TranslationError::Unsupported(what)) if what.contains("StartOrchestration")),
            "{refused:?}"
        );
    }
}
