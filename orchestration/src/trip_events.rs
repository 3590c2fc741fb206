//! A trip's changes as events, read from its workflow history (the record), and followed as they
//! happen: what `GET /api/trips/{id}/events` streams.
//!
//! Each event is numbered by the history event it was read from, so the numbers only grow, are
//! the same in every process sharing the store, and a client that reconnects with the last one
//! it saw gets what it missed, in order, nothing twice. Nothing here is kept apart from the
//! history: a replayed turn adds no event, and an event is never shown that the record does not
//! hold.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use duroxide::{Event, EventKind};
use futures::Stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::live_replies::{LiveFollow, ReplyPiece};
use crate::progress::{TripOutcome, TripProgress, TripState};
use crate::timeline::{step_of, utc_from_ms};
use crate::trip_id::TripId;
use crate::trips::{TripError, Trips};
use crate::workflow::ActivityFailure;

/// One change of a trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TripEvent {
    /// Grows with every event of the trip (the history event it was read from; not
    /// consecutive). A client that reconnects sends the last one it saw (`Last-Event-ID`).
    pub id: u64,
    /// When the workflow recorded it.
    pub at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub change: TripChange,
}

/// What changed; `type` names it (and is the server-sent event's name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TripChange {
    /// The trip's progress, as its status shows it from now on: state, step, message,
    /// percentage, the retry under way, the saved plan, the approval window, the decision.
    Progress { progress: Box<TripProgress> },
    /// A step (an agent, saving, the approval request, booking) started, finished, or failed a
    /// try (a `progress` event follows saying whether it is tried again).
    Step {
        /// `destination`, `itinerary`, `local-tips`, `packing`, `saving`, `approval`, `booking`.
        key: String,
        label: String,
        state: StepChange,
        /// Which try of the step this is (1 for the first).
        attempt: u32,
        /// Why a try failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The trip ended (booked, rejected, expired or failed): no event follows.
    Finished {
        state: TripState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

impl TripChange {
    /// The server-sent event's name: `progress`, `step` or `finished`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Progress { .. } => "progress",
            Self::Step { .. } => "step",
            Self::Finished { .. } => "finished",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepChange {
    Started,
    Done,
    Failed,
}

/// The events a history holds, in order.
pub fn trip_events(history: &[Event]) -> Vec<TripEvent> {
    EventReader::default().read(history.iter())
}

/// Reads a trip's history into events, from its start, a turn at a time: it remembers what
/// each scheduled activity is and the tries of each step so far.
#[derive(Debug, Default)]
pub struct EventReader {
    /// The step and try of each scheduled activity.
    scheduled: HashMap<u64, (&'static str, &'static str, u32)>,
    /// The tries of each step so far.
    tries: HashMap<&'static str, u32>,
    /// The last history event read.
    pub last_read: u64,
    /// The trip has finished.
    pub finished: bool,
}

impl EventReader {
    /// The events of the next history events (each after the last read), in order.
    pub fn read<'e>(&mut self, history: impl Iterator<Item = &'e Event>) -> Vec<TripEvent> {
        let mut events = Vec::new();
        for event in history {
            self.last_read = self.last_read.max(event.event_id);
            if let Some(change) = self.change(event) {
                self.finished |= matches!(change, TripChange::Finished { .. });
                events.push(TripEvent {
                    id: event.event_id,
                    at: utc_from_ms(event.timestamp_ms),
                    change,
                });
            }
        }
        events
    }

    /// Reads a turn's new events when they follow the last read (those already read are
    /// skipped); `None` when some are missing between (a turn this process did not see).
    pub fn read_turn(&mut self, turn: &[Event]) -> Option<Vec<TripEvent>> {
        let mut new = turn
            .iter()
            .filter(|e| e.event_id > self.last_read)
            .peekable();
        match new.peek() {
            None => Some(Vec::new()),
            Some(first) if first.event_id == self.last_read + 1 => {
                let new: Vec<&Event> = new.collect();
                Some(self.read(new.into_iter()))
            }
            Some(_) => None,
        }
    }

    fn change(&mut self, event: &Event) -> Option<TripChange> {
        let step = |state, (key, label, attempt): (&str, &str, u32), error| TripChange::Step {
            key: key.to_owned(),
            label: label.to_owned(),
            state,
            attempt,
            error,
        };
        match &event.kind {
            EventKind::CustomStatusUpdated {
                status: Some(status),
            } => serde_json::from_str::<TripProgress>(status)
                .ok()
                .map(|progress| TripChange::Progress {
                    progress: Box::new(progress),
                }),
            EventKind::ActivityScheduled { name, .. } => step_of(name).map(|(key, label)| {
                let attempt = self.tries.entry(key).or_insert(0);
                *attempt += 1;
                self.scheduled
                    .insert(event.event_id, (key, label, *attempt));
                step(StepChange::Started, (key, label, *attempt), None)
            }),
            EventKind::ActivityCompleted { .. } => {
                completed(&self.scheduled, event).map(|(key, label, attempt)| {
                    self.tries.remove(key);
                    step(StepChange::Done, (key, label, attempt), None)
                })
            }
            EventKind::ActivityFailed { details } => completed(&self.scheduled, event).map(|row| {
                let message = ActivityFailure::decode(&details.display_message()).message;
                step(StepChange::Failed, row, Some(message))
            }),
            EventKind::OrchestrationCompleted { output } => {
                Some(match serde_json::from_str::<TripOutcome>(output) {
                    Ok(outcome) => TripChange::Finished {
                        state: outcome.state,
                        error: None,
                    },
                    Err(e) => TripChange::Finished {
                        state: TripState::Failed,
                        error: Some(format!("unreadable workflow output: {e}")),
                    },
                })
            }
            EventKind::OrchestrationFailed { details } => Some(TripChange::Finished {
                state: TripState::Failed,
                error: Some(details.display_message()),
            }),
            _ => None,
        }
    }
}

/// The step and try of the activity an event completes.
fn completed(
    scheduled: &HashMap<u64, (&'static str, &'static str, u32)>,
    event: &Event,
) -> Option<(&'static str, &'static str, u32)> {
    event
        .source_event_id
        .and_then(|id| scheduled.get(&id))
        .copied()
}

/// How long a stream goes without looking at the store for turns run by another process (a
/// turn this process records wakes it at once): on PostgreSQL, where other processes run trips.
pub const OTHER_PROCESS_LOOK: Duration = Duration::from_millis(500);

/// The same where this process runs every turn (a SQLite file it holds, a Durable Task
/// scheduler it alone works for): only a safety look, for a row the repair pass brought up to
/// date.
pub const SAFETY_LOOK: Duration = Duration::from_secs(5);

impl Trips {
    /// The trip's events after event `after` (all of them with 0).
    pub async fn events(
        &self,
        instance_id: &TripId,
        after: u64,
    ) -> Result<Vec<TripEvent>, TripError> {
        Ok(self.read_events(instance_id, after).await?.0)
    }

    /// The trip's events after `after`, and the reader that read its whole history.
    async fn read_events(
        &self,
        instance_id: &TripId,
        after: u64,
    ) -> Result<(Vec<TripEvent>, EventReader), TripError> {
        let history = self.workflow_history(instance_id).await?;
        let mut reader = EventReader::default();
        let events = reader.read(history.iter());
        Ok((
            events.into_iter().filter(|e| e.id > after).collect(),
            reader,
        ))
    }

    /// The newest event the trip's status already reflects (0 before its first turn): a page
    /// rendered after reading it follows the events after it, and misses none.
    pub async fn last_event_shown(&self, instance_id: &TripId) -> Result<u64, TripError> {
        Ok(self
            .store()
            .index
            .seq(instance_id.as_str())
            .await?
            .unwrap_or(0))
    }

    /// The trip's events after event `after`, then each as it is recorded, until the trip
    /// finishes (the stream then ends). Reads the history once, then is handed the new events of
    /// each turn this process records; it reads the history again only when the trips index
    /// says it moved past them (a turn of another process, looked for every
    /// [`OTHER_PROCESS_LOOK`] on PostgreSQL and [`SAFETY_LOOK`] elsewhere, or turns dropped
    /// while its client was slow).
    ///
    /// Between the events come the agents' replies as the model writes them, when the trip's
    /// agents run in this process ([`crate::live_replies`]): never the record, and never sent
    /// again.
    ///
    /// The history is read before this returns: a trip that does not exist is an error here,
    /// and [`FollowedTrip::has_ended`] says whether anything will come at all.
    pub async fn follow(&self, instance_id: TripId, after: u64) -> Result<FollowedTrip, TripError> {
        let look = match self.store().location {
            crate::StoreLocation::Postgres(_) => OTHER_PROCESS_LOOK,
            _ => SAFETY_LOOK,
        };
        let index = &self.store().index;
        let mut follower = Follower {
            look,
            waiting: index.watch(instance_id.as_str()),
            live: index.live_replies().follow(instance_id.as_str()),
            trips: self.clone(),
            instance_id,
            after,
            read_up_to: None,
            reader: None,
            ready: VecDeque::new(),
            done: false,
            look_due: true,
        };
        follower.read_history_if_moved().await?;
        Ok(FollowedTrip(follower))
    }
}

/// A trip being followed, its history read once.
pub struct FollowedTrip(Follower);

/// What a follower is told.
#[derive(Debug, Clone)]
pub enum Followed {
    /// A change of the trip, as recorded.
    Event(TripEvent),
    /// A piece of an agent's reply as the model writes it (not the record: it has no id).
    Reply(Arc<ReplyPiece>),
}

impl FollowedTrip {
    /// The trip has finished and no event is left after the one asked for: nothing will come.
    pub fn has_ended(&self) -> bool {
        self.0.done && self.0.ready.is_empty()
    }

    /// The events, then each as it is recorded, with the replies as they are written, until the
    /// trip finishes.
    pub fn into_stream(self) -> impl Stream<Item = Result<Followed, TripError>> + Send + 'static {
        futures::stream::unfold(self.0, |mut follower| async move {
            let next = follower.next().await?;
            Some((next, follower))
        })
    }
}

/// One stream's place in a trip's events.
struct Follower {
    /// How long it waits for a turn of this process before it looks at the store.
    look: Duration,
    trips: Trips,
    instance_id: TripId,
    waiting: crate::turn_waiters::Waiting,
    /// The agents' replies as they are written (in this process).
    live: LiveFollow,
    /// The last event sent.
    after: u64,
    /// The index's `seq` when the history was last read.
    read_up_to: Option<u64>,
    /// What was read of the history so far, to read the turns this process hands over.
    reader: Option<EventReader>,
    ready: VecDeque<TripEvent>,
    done: bool,
    /// Whether to look at the index before waiting again.
    look_due: bool,
}

impl Follower {
    async fn next(&mut self) -> Option<Result<Followed, TripError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                self.after = event.id;
                return Some(Ok(Followed::Event(event)));
            }
            if self.done {
                return None;
            }
            // The turns this process recorded since: read as they are, unless one is missing.
            if self.read_handed_over_turns() {
                continue;
            }
            // After a wait for a turn (not after a piece of a reply: hundreds come in a round).
            if std::mem::take(&mut self.look_due) {
                match self.read_history_if_moved().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => return self.fail(e),
                }
            }
            let (live, waiting) = (&mut self.live, &self.waiting);
            tokio::select! {
                // Pieces first: those of a step come before the turn that records its end.
                biased;
                piece = live.next() => return Some(Ok(Followed::Reply(piece))),
                _ = waiting.next(self.look) => self.look_due = true,
            }
        }
    }

    /// Reads the history when the trips index says it moved past what was read (the first
    /// time, always); says whether it did.
    async fn read_history_if_moved(&mut self) -> Result<bool, TripError> {
        let id = self.instance_id.as_str();
        let seq = self.trips.store().index.seq(id).await?;
        let seq = seq.ok_or_else(|| TripError::NotFound(id.to_owned()))?;
        if self.read_up_to.is_some_and(|read| seq <= read) {
            return Ok(false);
        }
        // Taken before the read: whatever comes after it is a turn the read may miss.
        let _ = self.waiting.take_turns();
        // After what is sent, or queued to be (turns read before a gap).
        let queued = self.ready.back().map_or(self.after, |e| e.id);
        let (events, reader) = self.trips.read_events(&self.instance_id, queued).await?;
        self.ready.extend(events);
        self.done = reader.finished;
        self.read_up_to = Some(seq.max(reader.last_read));
        self.reader = Some(reader);
        Ok(true)
    }

    /// Reads the turns handed over since the last look; says whether it read any. Without a
    /// reader yet, or with a turn missing (dropped, or run elsewhere), it reads none and the
    /// history is read instead.
    fn read_handed_over_turns(&mut self) -> bool {
        let Some(reader) = self.reader.as_mut() else {
            return false;
        };
        let Some(turns) = self.waiting.take_turns() else {
            self.read_up_to = None;
            return false;
        };
        let mut read_any = false;
        for turn in turns {
            let Some(events) = reader.read_turn(&turn) else {
                // A gap: the history holds what is missing (what was read is sent first).
                self.read_up_to = None;
                return read_any;
            };
            read_any = true;
            let after = self.after;
            self.ready
                .extend(events.into_iter().filter(|e| e.id > after));
        }
        if read_any {
            self.done = reader.finished;
            self.read_up_to = Some(reader.last_read);
        }
        read_any
    }

    fn fail(&mut self, error: TripError) -> Option<Result<Followed, TripError>> {
        self.done = true;
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::TripStep;
    use crate::workflow::boundary::{BOOK_TRIP, SAVE_PLAN};

    fn event(id: u64, source: Option<u64>, kind: EventKind) -> Event {
        Event {
            event_id: id,
            source_event_id: source,
            instance_id: "trip-1".into(),
            execution_id: 1,
            timestamp_ms: 1_800_000_000_000 + id,
            duroxide_version: "0.1.32".into(),
            kind,
        }
    }

    fn scheduled(id: u64, name: &str) -> Event {
        event(
            id,
            None,
            EventKind::ActivityScheduled {
                name: name.into(),
                input: "{}".into(),
                session_id: None,
                tag: None,
            },
        )
    }

    #[test]
    fn a_history_reads_as_progress_steps_and_the_end() {
        let mut progress = TripProgress::starting();
        let status = |p: &TripProgress| EventKind::CustomStatusUpdated {
            status: Some(serde_json::to_string(p).unwrap()),
        };
        let failure = ActivityFailure::transient("Storage is unavailable").encode();
        let history = vec![
            event(1, None, status(&progress)),
            scheduled(2, SAVE_PLAN.name()),
            event(
                3,
                Some(2),
                EventKind::ActivityFailed {
                    details: duroxide::ErrorDetails::Application {
                        kind: duroxide::AppErrorKind::ActivityFailed,
                        message: failure,
                        retryable: false,
                    },
                },
            ),
            event(4, None, EventKind::TimerCreated { fire_at_ms: 5 }),
            scheduled(5, SAVE_PLAN.name()),
            event(
                6,
                Some(5),
                EventKind::ActivityCompleted {
                    result: "{}".into(),
                },
            ),
            scheduled(7, "SomethingElse"),
            scheduled(8, BOOK_TRIP.name()),
        ];
        progress.enter(TripStep::Booking, "Booking");
        let mut history = history;
        history.push(event(9, None, status(&progress)));
        let events = trip_events(&history);
        let summary: Vec<(u64, &str, Option<StepChange>, Option<u32>)> = events
            .iter()
            .map(|e| match &e.change {
                TripChange::Step { state, attempt, .. } => {
                    (e.id, e.change.name(), Some(*state), Some(*attempt))
                }
                other => (e.id, other.name(), None, None),
            })
            .collect();
        assert_eq!(
            summary,
            [
                (1, "progress", None, None),
                (2, "step", Some(StepChange::Started), Some(1)),
                (3, "step", Some(StepChange::Failed), Some(1)),
                (5, "step", Some(StepChange::Started), Some(2)),
                (6, "step", Some(StepChange::Done), Some(2)),
                (8, "step", Some(StepChange::Started), Some(1)),
                (9, "progress", None, None),
            ]
        );
        let TripChange::Step { key, error, .. } = &events[2].change else {
            panic!("a step")
        };
        assert_eq!(key, "saving");
        assert_eq!(error.as_deref(), Some("Storage is unavailable"));
        let json = serde_json::to_value(&events[6]).unwrap();
        assert_eq!(json["type"], "progress");
        assert_eq!(json["id"], 9);
        assert_eq!(json["progress"]["step"], "booking");

        // Read a turn at a time, as a stream handed each turn reads it: the same events; a turn
        // read twice adds nothing; a turn after a gap is not read.
        let mut reader = EventReader::default();
        let mut by_turns = reader.read(history[..4].iter());
        by_turns.extend(reader.read_turn(&history[2..6]).unwrap());
        assert_eq!(reader.read_turn(&history[..6]), Some(Vec::new()));
        assert_eq!(reader.read_turn(&history[7..]), None, "event 7 is missing");
        by_turns.extend(reader.read_turn(&history[6..]).unwrap());
        assert_eq!(by_turns, events);
        assert_eq!(reader.last_read, 9);
        assert!(!reader.finished);
    }
}
