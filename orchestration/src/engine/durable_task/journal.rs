//! duroxide's history inside the protocol's. Each turn's new events are written, as duroxide's
//! own JSON, into the input of one activity named [`JOURNAL_ACTIVITY`] that the turn's completion
//! schedules with its real actions (so both are recorded at once, or neither). Reading an
//! instance's history back is reading those inputs in turn order. The scheduler keeps an
//! activity's input verbatim (checked against the Python test backend: `docs/durable-task-store/`,
//! section 4.0); the provider completes these activities itself, at once.

use duroxide::{ErrorDetails, Event, EventKind};
use travel_durable_task::protocol::{
    HistoryEvent, OrchestratorAction, ScheduleTaskAction, history_event, orchestrator_action,
};

use super::TranslationError;
use super::ids::ActionId;

/// The name of the journal's activities.
pub const JOURNAL_ACTIVITY: &str = "__dx_journal";

/// The journal entry of the instance's `turn`-th turn (from 1), holding its new events.
pub fn entry(turn: u64, delta: &[Event]) -> Result<OrchestratorAction, TranslationError> {
    let input =
        serde_json::to_string(delta).map_err(|e| TranslationError::Journal(e.to_string()))?;
    Ok(OrchestratorAction {
        id: ActionId::Journal { turn }.to_protocol()?,
        orchestrator_action_type: Some(orchestrator_action::OrchestratorActionType::ScheduleTask(
            ScheduleTaskAction {
                name: JOURNAL_ACTIVITY.to_owned(),
                input: Some(input),
                ..Default::default()
            },
        )),
    })
}

/// What the protocol's history holds of duroxide's.
#[derive(Debug, Default, PartialEq)]
pub struct Journal {
    /// duroxide's history, every turn's events in order.
    pub events: Vec<Event>,
    /// The turns recorded: the next one is `turns + 1`.
    pub turns: u64,
    /// Journal entries whose activity the scheduler has seen completed.
    pub completed: u64,
}

impl Journal {
    /// Reads the journal out of an instance's protocol history (the events the scheduler
    /// delivered before, then the new ones, as they came).
    pub fn read<'a>(
        history: impl IntoIterator<Item = &'a HistoryEvent>,
    ) -> Result<Self, TranslationError> {
        let mut entries = Vec::new();
        let mut completed = 0;
        for event in history {
            match &event.event_type {
                Some(history_event::EventType::TaskScheduled(scheduled))
                    if scheduled.name == JOURNAL_ACTIVITY =>
                {
                    let Some(ActionId::Journal { turn }) = ActionId::from_protocol(event.event_id)
                    else {
                        return Err(TranslationError::Journal(format!(
                            "entry with id {}",
                            event.event_id
                        )));
                    };
                    entries.push((turn, scheduled.input.clone().unwrap_or_default()));
                }
                Some(history_event::EventType::TaskCompleted(done))
                    if matches!(
                        ActionId::from_protocol(done.task_scheduled_id),
                        Some(ActionId::Journal { .. })
                    ) =>
                {
                    completed += 1;
                }
                _ => {}
            }
        }
        entries.sort_by_key(|(turn, _)| *turn);
        let mut events = Vec::new();
        for (expected, (turn, input)) in (1..).zip(&entries) {
            if *turn != expected {
                return Err(TranslationError::Journal(format!(
                    "turn {expected} is missing (found turn {turn})"
                )));
            }
            let delta: Vec<Event> = serde_json::from_str(input)
                .map_err(|e| TranslationError::Journal(format!("turn {turn}: {e}")))?;
            events.extend(delta);
        }
        Ok(Self {
            events,
            turns: entries.len() as u64,
            completed,
        })
    }

    /// The instance's custom status: the last one a turn set (`None` when none did, or the
    /// last reset it).
    pub fn custom_status<'a>(events: impl IntoIterator<Item = &'a Event>) -> Option<String> {
        events
            .into_iter()
            .filter_map(|e| match &e.kind {
                EventKind::CustomStatusUpdated { status } => Some(status.clone()),
                _ => None,
            })
            .last()
            .flatten()
    }

    /// How the instance ended, when it has.
    pub fn end(&self) -> Option<End> {
        End::of(&self.events)
    }

    /// Every entry's activity has come back: nothing of the instance is still under way.
    pub fn settled(&self) -> bool {
        self.completed >= self.turns
    }
}

/// An instance's end, as duroxide recorded it.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    Completed(String),
    Failed(ErrorDetails),
}

impl End {
    /// How the instance whose history is `events` ended, when it has.
    pub fn of(events: &[Event]) -> Option<Self> {
        events.iter().rev().find_map(|e| match &e.kind {
            EventKind::OrchestrationCompleted { output } => Some(Self::Completed(output.clone())),
            EventKind::OrchestrationFailed { details } => Some(Self::Failed(details.clone())),
            _ => None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use travel_durable_task::protocol::{TaskCompletedEvent, TaskScheduledEvent, TimerFiredEvent};

    pub(crate) fn event(event_id: u64, kind: EventKind) -> Event {
        Event {
            event_id,
            source_event_id: None,
            instance_id: "trip-1".into(),
            execution_id: 1,
            timestamp_ms: 1_700_000_000_000 + event_id,
            duroxide_version: "0.1.32".into(),
            kind,
        }
    }

    /// The protocol event the scheduler records for `action` (its `eventId` is the action's id).
    pub(crate) fn recorded(action: &OrchestratorAction) -> HistoryEvent {
        let Some(orchestrator_action::OrchestratorActionType::ScheduleTask(task)) =
            &action.orchestrator_action_type
        else {
            panic!("not an activity: {action:?}")
        };
        HistoryEvent {
            event_id: action.id,
            timestamp: None,
            event_type: Some(history_event::EventType::TaskScheduled(
                TaskScheduledEvent {
                    name: task.name.clone(),
                    input: task.input.clone(),
                    ..Default::default()
                },
            )),
        }
    }

    fn completed(id: i32) -> HistoryEvent {
        HistoryEvent {
            event_id: -1,
            timestamp: None,
            event_type: Some(history_event::EventType::TaskCompleted(
                TaskCompletedEvent {
                    task_scheduled_id: id,
                    result: None,
                },
            )),
        }
    }

    #[test]
    fn the_history_read_back_is_every_turn_as_written_whatever_else_is_around_it() {
        let first = vec![
            event(
                1,
                EventKind::OrchestrationStarted {
                    name: "PlanTrip".into(),
                    version: "5.0.0".into(),
                    input: r#"{"travelerName":"Ada"}"#.into(),
                    parent_instance: None,
                    parent_id: None,
                    parent_execution_id: None,
                    carry_forward_events: None,
                    initial_custom_status: None,
                },
            ),
            event(
                2,
                EventKind::CustomStatusUpdated {
                    status: Some(r#"{"step":"destinations"}"#.into()),
                },
            ),
            event(
                3,
                EventKind::QueueSubscribed {
                    name: "Approval".into(),
                },
            ),
        ];
        let second = vec![event(
            4,
            EventKind::OrchestrationCompleted {
                output: r#"{"booked":true}"#.into(),
            },
        )];
        let (one, two) = (entry(1, &first).unwrap(), entry(2, &second).unwrap());
        let native = |n| HistoryEvent {
            event_id: n,
            timestamp: None,
            event_type: Some(history_event::EventType::TimerFired(
                TimerFiredEvent::default(),
            )),
        };
        // Written in any order (a later turn's entry may be listed first), among native events.
        let history = [
            native(7),
            recorded(&two),
            completed(one.id),
            recorded(&one),
            native(8),
        ];
        let journal = Journal::read(&history).unwrap();
        assert_eq!(journal.events, [first, second].concat());
        assert_eq!(journal.turns, 2);
        assert_eq!(journal.completed, 1);
        assert!(!journal.settled(), "turn 2's entry is still out");
        assert_eq!(
            journal.end(),
            Some(End::Completed(r#"{"booked":true}"#.into()))
        );
        assert_eq!(
            Journal::custom_status(&journal.events).as_deref(),
            Some(r#"{"step":"destinations"}"#)
        );
    }

    #[test]
    fn a_missing_turn_or_an_unreadable_entry_is_an_error_not_a_shorter_history() {
        let (one, three) = (
            entry(
                1,
                &[event(1, EventKind::QueueSubscribed { name: "A".into() })],
            )
            .unwrap(),
            entry(
                3,
                &[event(2, EventKind::QueueSubscribed { name: "B".into() })],
            )
            .unwrap(),
        );
        assert!(matches!(
            Journal::read(&[recorded(&one), recorded(&three)]),
            Err(TranslationError::Journal(why)) if why.contains("turn 2 is missing")
        ));
        let mut broken = recorded(&one);
        if let Some(history_event::EventType::TaskScheduled(task)) = &mut broken.event_type {
            task.input = Some("[{".into());
        }
        assert!(Journal::read(&[broken]).is_err());
        assert_eq!(Journal::read(&[]).unwrap(), Journal::default());
    }

    #[test]
    fn a_reset_clears_the_custom_status() {
        let events = [
            event(
                1,
                EventKind::CustomStatusUpdated {
                    status: Some("x".into()),
                },
            ),
            event(2, EventKind::CustomStatusUpdated { status: None }),
        ];
        assert_eq!(Journal::custom_status(&events), None);
        assert_eq!(Journal::custom_status(&events[..1]).as_deref(), Some("x"));
    }
}
