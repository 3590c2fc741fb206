//! The protocol's action ids (`OrchestratorAction.id`, a history event's `eventId`, a
//! completion's `taskScheduledId` / `timerId`) are 32-bit numbers the worker chooses. Each one
//! here carries the duroxide execution and event it stands for, so that a completion names
//! exactly what it completes (and a late one from an earlier execution is recognised):
//! `execution · 2^20 + event` for activities and timers, `2^30 + turn` for the journal's own
//! activities.

use super::TranslationError;

/// Events one execution may have (duroxide's event ids are positions in an execution).
const EVENTS_PER_EXECUTION: u64 = 1 << 20;
/// Executions of one instance (continue-as-new starts another).
const EXECUTIONS: u64 = 1 << 10;
/// Where the journal's ids start.
const JOURNAL_BASE: u64 = 1 << 30;

/// What an action id stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionId {
    /// duroxide's event `event` (an activity's or a timer's scheduling) of execution `execution`.
    Event { execution: u64, event: u64 },
    /// The journal entry of a turn (the instance's `turn`-th, from 1).
    Journal { turn: u64 },
}

impl ActionId {
    pub fn to_protocol(self) -> Result<i32, TranslationError> {
        let id = match self {
            Self::Event { execution, event } => {
                if execution == 0 || execution >= EXECUTIONS {
                    return Err(TranslationError::IdOutOfRange {
                        what: "execution",
                        id: execution,
                    });
                }
                if event == 0 || event >= EVENTS_PER_EXECUTION {
                    return Err(TranslationError::IdOutOfRange {
                        what: "event",
                        id: event,
                    });
                }
                execution * EVENTS_PER_EXECUTION + event
            }
            Self::Journal { turn } => {
                if turn == 0 || turn >= JOURNAL_BASE {
                    return Err(TranslationError::IdOutOfRange {
                        what: "turn",
                        id: turn,
                    });
                }
                JOURNAL_BASE + turn
            }
        };
        Ok(i32::try_from(id).expect("below 2^31 by construction"))
    }

    /// `None` for an id this encoding never makes (another worker's).
    pub fn from_protocol(id: i32) -> Option<Self> {
        let id = u64::try_from(id).ok()?;
        if id > JOURNAL_BASE {
            return Some(Self::Journal {
                turn: id - JOURNAL_BASE,
            });
        }
        let (execution, event) = (id / EVENTS_PER_EXECUTION, id % EVENTS_PER_EXECUTION);
        (execution > 0 && event > 0).then_some(Self::Event { execution, event })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_comes_back_as_what_it_stood_for_and_the_ranges_do_not_meet() {
        for id in [
            ActionId::Event {
                execution: 1,
                event: 1,
            },
            ActionId::Event {
                execution: 3,
                event: 41,
            },
            ActionId::Event {
                execution: EXECUTIONS - 1,
                event: EVENTS_PER_EXECUTION - 1,
            },
            ActionId::Journal { turn: 1 },
            ActionId::Journal {
                turn: JOURNAL_BASE - 1,
            },
        ] {
            let wire = id.to_protocol().unwrap();
            assert!(wire > 0);
            assert_eq!(ActionId::from_protocol(wire), Some(id), "{wire}");
        }
        let last_event = ActionId::Event {
            execution: EXECUTIONS - 1,
            event: EVENTS_PER_EXECUTION - 1,
        };
        assert!(
            last_event.to_protocol().unwrap()
                < ActionId::Journal { turn: 1 }.to_protocol().unwrap()
        );
    }

    #[test]
    fn what_does_not_fit_is_refused_and_foreign_ids_are_not_taken_for_ours() {
        assert!(
            ActionId::Event {
                execution: 1,
                event: EVENTS_PER_EXECUTION
            }
            .to_protocol()
            .is_err()
        );
        assert!(
            ActionId::Event {
                execution: EXECUTIONS,
                event: 1
            }
            .to_protocol()
            .is_err()
        );
        assert!(
            ActionId::Event {
                execution: 0,
                event: 1
            }
            .to_protocol()
            .is_err()
        );
        // The official SDKs number their actions 0, 1, 2, ...
        for foreign in [-1, 0, 1, 2, 77] {
            assert_eq!(ActionId::from_protocol(foreign), None, "{foreign}");
        }
    }
}
