//! When each step of a trip ran, read from the workflow history (for progress pages and the
//! operator's timeline). A revised plan's steps replace the earlier plan's from the itinerary
//! on: the rows show the plan under review.

use chrono::{DateTime, TimeZone, Utc};
use duroxide::{Event, EventKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use travel_agents::AgentName;

use crate::workflow::boundary::{BOOK_TRIP, REQUEST_APPROVAL, SAVE_NEW_PLAN, SAVE_PLAN};

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
    /// Not run: its answer was taken from the failed trip this one tries again.
    Reused,
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
            Self::Reused => "reused",
        }
    }
}

/// The steps after the agents', with the activities that run each (of every workflow revision).
const AFTER_AGENTS: [(&str, &str, &[&str]); 3] = [
    (
        "saving",
        "Saving the plan",
        &[SAVE_PLAN.name(), SAVE_NEW_PLAN.name()],
    ),
    (
        "approval",
        "Waiting for approval",
        &[REQUEST_APPROVAL.name()],
    ),
    ("booking", "Booking", &[BOOK_TRIP.name()]),
];

/// The rows: the agents', in the order of their table, then [`AFTER_AGENTS`]; each with its key,
/// its label and the activities that run it.
static ROWS: std::sync::LazyLock<Vec<(&str, &str, Vec<&str>)>> = std::sync::LazyLock::new(|| {
    AgentName::ALL
        .map(AgentName::info)
        .iter()
        .map(|a| (a.key, a.label, vec![a.activity]))
        .chain(AFTER_AGENTS.map(|(key, label, activities)| (key, label, activities.to_vec())))
        .collect()
});
/// The step (its row's key and label) an activity runs, if it runs one.
pub(crate) fn step_of(activity: &str) -> Option<(&'static str, &'static str)> {
    ROWS.iter()
        .find(|(_, _, names)| names.contains(&activity))
        .map(|(key, label, _)| (*key, *label))
}

/// The first of the rows a revision plans again: the agents after the destination's (step 2),
/// then saving and the approval.
static FIRST_REVISED_ROW: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    AgentName::ALL
        .iter()
        .position(|a| a.info().step > 1)
        .expect("agents plan for the destination")
});
/// The approval's row, which a revision plans up to.
static APPROVAL_ROW: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    let after = AFTER_AGENTS
        .iter()
        .position(|(key, _, _)| *key == "approval");
    AgentName::ALL.len() + after.expect("the approval has a row")
});

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

/// The timeline of one execution's history, as of `now`: the steps of the plan under review.
pub fn timeline(history: &[Event], finished: bool, now: DateTime<Utc>) -> Vec<TimelineRow> {
    read(history).settle(finished, now).0
}

/// The whole timeline, for operators: the destination step, then the steps of each earlier
/// plan revision (labelled with it: "Itinerary (revision 1)"), then those of the plan under
/// review.
pub fn timeline_with_revisions(
    history: &[Event],
    finished: bool,
    now: DateTime<Utc>,
) -> Vec<TimelineRow> {
    let (mut rows, earlier) = read(history).settle(finished, now);
    let rest = rows.split_off(*FIRST_REVISED_ROW);
    rows.extend(earlier);
    rows.extend(rest);
    rows
}

fn read(history: &[Event]) -> Timeline {
    let mut timeline = Timeline {
        rows: ROWS
            .iter()
            .map(|(key, label, _)| TimelineRow::pending(key, label))
            .collect(),
        scheduled: Vec::new(),
        earlier: Vec::new(),
        revision: 1,
    };
    for event in history {
        timeline.see(event);
    }
    timeline
}

/// The rows while the history is read, and which row each scheduled activity belongs to.
struct Timeline {
    rows: Vec<TimelineRow>,
    /// (the scheduling event's id, the row)
    scheduled: Vec<(u64, usize)>,
    /// The rows of earlier plan revisions, replaced by a revision's.
    earlier: Vec<TimelineRow>,
    /// The plan revision the rows from the itinerary on are for.
    revision: u32,
}

impl Timeline {
    fn see(&mut self, event: &Event) {
        let at = utc_from_ms(event.timestamp_ms);
        match &event.kind {
            // A retried trip: the steps whose answers it took from the failed one.
            EventKind::OrchestrationStarted { input, .. } => {
                let reused = serde_json::from_str::<crate::workflow::TripInput>(input)
                    .ok()
                    .and_then(|input| input.reused);
                for name in reused.iter().flat_map(|r| r.results.keys()) {
                    if let Some(i) = ROWS.iter().position(|(_, _, n)| n.contains(&name.as_str())) {
                        self.rows[i].state = RowState::Reused;
                    }
                }
            }
            EventKind::ActivityScheduled { name, .. } => {
                if let Some(i) = ROWS.iter().position(|(_, _, n)| n.contains(&name.as_str())) {
                    // The agents asked again once the approval wait began: a revision of the
                    // plan, whose steps the rows show from here on.
                    let revising = (*FIRST_REVISED_ROW..AgentName::ALL.len()).contains(&i)
                        && self.rows[*APPROVAL_ROW].state != RowState::Pending;
                    if revising {
                        let revision = self.revision;
                        for row in &mut self.rows[*FIRST_REVISED_ROW..=*APPROVAL_ROW] {
                            let mut earlier = row.clone();
                            earlier.label = format!("{} (revision {revision})", row.label);
                            self.earlier.push(earlier);
                            let label = ROWS
                                .iter()
                                .find(|(k, _, _)| *k == row.key)
                                .map_or("", |r| r.1);
                            *row = TimelineRow::pending(
                                &row.key,
                                &format!("{label} (revision {})", revision + 1),
                            );
                        }
                        self.revision += 1;
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
            EventKind::QueueSubscribed { name }
                if name == crate::workflow::boundary::APPROVAL.name() =>
            {
                let approval = &mut self.rows[*APPROVAL_ROW];
                if approval.state == RowState::Pending {
                    approval.attempts = approval.attempts.max(1);
                    approval.started_at = at;
                    approval.state = RowState::Running;
                }
            }
            EventKind::QueueEventDelivered { .. } | EventKind::TimerFired { .. } => {
                let approval = &mut self.rows[*APPROVAL_ROW];
                if approval.state == RowState::Running {
                    approval.finished_at = at;
                    approval.state = RowState::Done;
                }
            }
            _ => {}
        }
    }

    /// The rows once the whole history is read, with each one's time as of `now`, and the
    /// earlier revisions' rows.
    fn settle(
        mut self,
        finished: bool,
        now: DateTime<Utc>,
    ) -> (Vec<TimelineRow>, Vec<TimelineRow>) {
        for row in self.rows.iter_mut().chain(&mut self.earlier) {
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
        (self.rows, self.earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_states_are_named_as_in_json() {
        use RowState::*;
        for state in [Pending, Running, Done, Failed, Skipped, Reused] {
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
                "packing",
                "saving",
                "approval",
                "booking"
            ]
        );
        assert_eq!(rows[*APPROVAL_ROW].key, "approval");
        assert!(rows.iter().all(|r| r.state == RowState::Pending));
        let finished = timeline(&[], true, now);
        assert!(finished.iter().all(|r| r.state == RowState::Skipped));
    }
}
