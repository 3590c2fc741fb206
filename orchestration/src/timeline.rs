//! When each step of a trip ran, read from the workflow history (for progress pages and the
//! operator's timeline). A revised plan's steps replace the earlier plan's from the itinerary
//! on: the rows show the plan under review.

use chrono::{DateTime, TimeZone, Utc};
use duroxide::{Event, EventKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use travel_agents::{AgentInfo, AgentName};

use crate::workflow::activity_name;

/// One row of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineRow {
    /// `destination`, `itinerary`, `local-tips`, `saving`, `approval`, `booking`.
    pub key: String,
    pub label: String,
    pub state: RowState,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Finished minus started, or until now while running.
    pub elapsed_ms: Option<u64>,
    /// How many times the step was tried.
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

impl RowState {
    /// The name in JSON: `running`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

const DESTINATION: AgentInfo = AgentName::Destination.info();
const ITINERARY: AgentInfo = AgentName::Itinerary.info();
const LOCAL_TIPS: AgentInfo = AgentName::LocalTips.info();

/// The rows, with the activities that run each (of every workflow revision); the agents' from
/// their table.
const ROWS: &[(&str, &str, &[&str])] = &[
    (DESTINATION.key, DESTINATION.label, &[DESTINATION.activity]),
    (ITINERARY.key, ITINERARY.label, &[ITINERARY.activity]),
    (LOCAL_TIPS.key, LOCAL_TIPS.label, &[LOCAL_TIPS.activity]),
    (
        "saving",
        "Saving the plan",
        &[activity_name::SAVE_PLAN, activity_name::SAVE_NEW_PLAN],
    ),
    (
        "approval",
        "Waiting for approval",
        &[activity_name::REQUEST_APPROVAL],
    ),
    ("booking", "Booking", &[activity_name::BOOK_TRIP]),
];
const ITINERARY_ROW: usize = 1;
const LOCAL_TIPS_ROW: usize = 2;
const APPROVAL_ROW: usize = 4;

impl TimelineRow {
    fn pending(key: &str, label: &str) -> Self {
        Self {
            key: key.into(),
            label: label.into(),
            state: RowState::Pending,
            started_at: None,
            finished_at: None,
            elapsed_ms: None,
            attempts: 0,
        }
    }
}

/// The time of an engine record (milliseconds since 1970).
pub(crate) fn utc_from_ms(ms: u64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms as i64).single()
}

/// The timeline of one execution's history, as of `now`.
pub fn timeline(history: &[Event], finished: bool, now: DateTime<Utc>) -> Vec<TimelineRow> {
    let mut timeline = Timeline {
        rows: ROWS
            .iter()
            .map(|(key, label, _)| TimelineRow::pending(key, label))
            .collect(),
        scheduled: Vec::new(),
    };
    for event in history {
        timeline.see(event);
    }
    timeline.settle(finished, now)
}

/// The rows while the history is read, and which row each scheduled activity belongs to.
struct Timeline {
    rows: Vec<TimelineRow>,
    /// (the scheduling event's id, the row)
    scheduled: Vec<(u64, usize)>,
}

impl Timeline {
    fn see(&mut self, event: &Event) {
        let at = utc_from_ms(event.timestamp_ms);
        match &event.kind {
            EventKind::ActivityScheduled { name, .. } => {
                if let Some(i) = ROWS.iter().position(|(_, _, n)| n.contains(&name.as_str())) {
                    // The agents asked again once the approval wait began: a revision of the
                    // plan, whose steps the rows show from here on.
                    let revising = [ITINERARY_ROW, LOCAL_TIPS_ROW].contains(&i)
                        && self.rows[APPROVAL_ROW].state != RowState::Pending;
                    if revising {
                        for row in &mut self.rows[ITINERARY_ROW..=APPROVAL_ROW] {
                            *row = TimelineRow::pending(&row.key, &row.label);
                        }
                    }
                    self.scheduled.push((event.event_id, i));
                    let row = &mut self.rows[i];
                    row.attempts += 1;
                    row.started_at = row.started_at.or(at);
                    row.state = RowState::Running;
                }
            }
            EventKind::ActivityCompleted { .. } | EventKind::ActivityFailed { .. } => {
                let failed = matches!(event.kind, EventKind::ActivityFailed { .. });
                let scheduled = event
                    .source_event_id
                    .and_then(|source| self.scheduled.iter().find(|(id, _)| *id == source));
                let Some(&(_, i)) = scheduled else {
                    return;
                };
                let row = &mut self.rows[i];
                // The approval step goes on until the decision or the timeout.
                if row.key != "approval" || failed {
                    row.finished_at = at;
                    row.state = if failed {
                        RowState::Failed
                    } else {
                        RowState::Done
                    };
                }
            }
            // Without an announcement step (revision 2, no webhook) the wait starts here.
            EventKind::QueueSubscribed { name } if name == crate::workflow::APPROVAL_EVENT => {
                let approval = &mut self.rows[APPROVAL_ROW];
                if approval.state == RowState::Pending {
                    approval.attempts = approval.attempts.max(1);
                    approval.started_at = at;
                    approval.state = RowState::Running;
                }
            }
            EventKind::QueueEventDelivered { .. } | EventKind::TimerFired { .. } => {
                let approval = &mut self.rows[APPROVAL_ROW];
                if approval.state == RowState::Running {
                    approval.finished_at = at;
                    approval.state = RowState::Done;
                }
            }
            _ => {}
        }
    }

    /// The rows once the whole history is read, with each one's time as of `now`.
    fn settle(mut self, finished: bool, now: DateTime<Utc>) -> Vec<TimelineRow> {
        for row in &mut self.rows {
            // A failed attempt followed by a retry is still running.
            if row.state == RowState::Failed && !finished {
                row.state = RowState::Running;
                row.finished_at = None;
            }
            if finished && row.state == RowState::Pending {
                row.state = RowState::Skipped;
            }
            if finished && row.state == RowState::Running {
                row.state = RowState::Failed;
            }
            row.elapsed_ms = row.started_at.map(|s| {
                let end = row.finished_at.unwrap_or(now);
                (end - s).num_milliseconds().max(0) as u64
            });
        }
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_states_are_named_as_in_json() {
        use RowState::*;
        for state in [Pending, Running, Done, Failed, Skipped] {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
    }

    #[test]
    fn an_empty_history_is_every_row_pending_then_skipped_once_finished() {
        let now = Utc::now();
        let rows = timeline(&[], false, now);
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "destination",
                "itinerary",
                "local-tips",
                "saving",
                "approval",
                "booking"
            ]
        );
        assert_eq!(rows[APPROVAL_ROW].key, "approval");
        assert!(rows.iter().all(|r| r.state == RowState::Pending));
        let finished = timeline(&[], true, now);
        assert!(finished.iter().all(|r| r.state == RowState::Skipped));
    }
}
