//! The history of a trip whose turn just scheduled activities, kept in memory until those
//! activities have started.
//!
//! duroxide reads an instance's whole history before every activity it runs, only to put the
//! orchestration's name and version in the activity's context: on SQLite that is a read through
//! the shared connection pool (where it waits behind every other read) and a parse of the whole
//! history (33 KB for a planned trip), five times a trip, each on the trip's path before an
//! agent's call, a save or the booking. The turn that scheduled those activities had the
//! history in hand: what it fetched, plus what it appended. Kept here from the turn's
//! acknowledgement, it answers those reads; each entry goes when its activities have read it,
//! when the trip's next turn is fetched (from then on the history may change), or when the trip
//! is deleted.
//!
//! Only for a store that one process holds alone (SQLite): nothing else can change a history
//! between a turn's acknowledgement and this process' next one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use duroxide::Event;
use duroxide::providers::{OrchestrationItem, WorkItem};

/// Histories kept at most: past it, reads go to the store as before (each entry is a history,
/// tens of KB).
const MOST_KEPT: usize = 2_048;

/// Turns in flight kept at most (each with the history it fetched), and how long one is kept
/// when it is never acknowledged nor abandoned (its lease ran out).
const MOST_TURNS: usize = 1_024;
const TURN_FORGOTTEN_AFTER: Duration = Duration::from_secs(300);

/// How long an entry answers at most (its activities may never start: cancelled, or the
/// process stopping).
const KEPT_FOR: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct RecentHistories {
    inner: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    /// Turns fetched and not yet acknowledged, by lock token.
    turns: HashMap<String, InTurn>,
    /// Histories as their last turn left them, by instance.
    histories: HashMap<String, Recent>,
}

#[derive(Debug)]
struct InTurn {
    instance: String,
    execution_id: u64,
    history: Vec<Event>,
    since: Instant,
}

#[derive(Debug)]
struct Recent {
    history: Vec<Event>,
    /// Reads still expected: one for each activity the turn scheduled.
    reads_left: usize,
    since: Instant,
}

impl RecentHistories {
    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A turn was fetched with `token`: what was kept of its trip goes (the turn may change
    /// it), and its history is remembered until it is acknowledged.
    pub fn fetched(&self, item: &OrchestrationItem, token: &str) {
        // Copied before the lock: other turns and reads wait for it.
        let history = item.history_error.is_none().then(|| item.history.clone());
        let mut kept = self.kept();
        kept.histories.remove(&item.instance);
        let Some(history) = history else {
            return;
        };
        if !room_in(&mut kept.turns, MOST_TURNS, TURN_FORGOTTEN_AFTER, |t| {
            t.since
        }) {
            return;
        }
        kept.turns.insert(
            token.to_owned(),
            InTurn {
                instance: item.instance.clone(),
                execution_id: item.execution_id,
                history,
                since: Instant::now(),
            },
        );
    }

    /// The turn leased with `token` was given up, or its acknowledgement failed: the store's
    /// history is as it was.
    pub fn abandoned(&self, token: &str) {
        self.kept().turns.remove(token);
    }

    /// The activities among a turn's `worker_items`: each reads the history once.
    pub fn activities(worker_items: &[WorkItem]) -> usize {
        worker_items
            .iter()
            .filter(|item| matches!(item, WorkItem::ActivityExecute { .. }))
            .count()
    }

    /// The turn leased with `token` was acknowledged for `execution_id`, appending `appended`
    /// and scheduling `activities`: the history it leaves is kept for them to read.
    pub fn acknowledged(
        &self,
        token: &str,
        execution_id: u64,
        appended: Vec<Event>,
        activities: usize,
    ) {
        let mut kept = self.kept();
        let Some(turn) = kept.turns.remove(token) else {
            return;
        };
        // A turn that began another execution leaves a history the fetch did not hold.
        if activities == 0 || turn.execution_id != execution_id {
            return;
        }
        if !room_in(&mut kept.histories, MOST_KEPT, KEPT_FOR, |r| r.since) {
            return;
        }
        let mut history = turn.history;
        history.extend(appended);
        kept.histories.insert(
            turn.instance,
            Recent {
                history,
                reads_left: activities,
                since: Instant::now(),
            },
        );
    }

    /// The history of `instance`'s current execution, when its last turn left it here.
    pub fn read(&self, instance: &str) -> Option<Vec<Event>> {
        let mut kept = self.kept();
        let recent = kept.histories.get_mut(instance)?;
        if recent.since.elapsed() >= KEPT_FOR {
            kept.histories.remove(instance);
            return None;
        }
        recent.reads_left = recent.reads_left.saturating_sub(1);
        if recent.reads_left > 0 {
            return Some(recent.history.clone());
        }
        kept.histories.remove(instance).map(|recent| recent.history)
    }

    /// `instance`'s history was changed other than by a turn, or deleted.
    pub fn forget(&self, instance: &str) {
        self.kept().histories.remove(instance);
    }

    /// Instances not named were deleted.
    pub fn forget_all(&self) {
        self.kept().histories.clear();
    }
}

/// Whether `map` can take one more entry (it holds at most `most`), once the entries older than
/// `age` are dropped (looked for only when it is full).
fn room_in<T>(
    map: &mut HashMap<String, T>,
    most: usize,
    age: Duration,
    since: impl Fn(&T) -> Instant,
) -> bool {
    if map.len() >= most {
        map.retain(|_, entry| since(entry).elapsed() < age);
    }
    map.len() < most
}

#[cfg(test)]
mod tests {
    use super::*;
    use duroxide::EventKind;

    fn event(id: u64, instance: &str) -> Event {
        Event::with_event_id(
            id,
            instance,
            1,
            None,
            EventKind::ActivityScheduled {
                name: format!("step {id}"),
                input: String::new(),
                session_id: None,
                tag: None,
            },
        )
    }

    fn activity(instance: &str, id: u64) -> WorkItem {
        WorkItem::ActivityExecute {
            instance: instance.into(),
            execution_id: 1,
            id,
            name: "step".into(),
            input: String::new(),
            session_id: None,
            tag: None,
        }
    }

    fn item(instance: &str, execution_id: u64, history: Vec<Event>) -> OrchestrationItem {
        OrchestrationItem {
            instance: instance.into(),
            orchestration_name: "trip".into(),
            execution_id,
            version: "1".into(),
            history,
            messages: Vec::new(),
            history_error: None,
            kv_snapshot: Default::default(),
        }
    }

    #[test]
    fn a_turn_s_history_answers_one_read_per_activity_it_scheduled() {
        let kept = RecentHistories::default();
        kept.fetched(&item("trip-1", 1, vec![event(1, "trip-1")]), "t1");
        kept.acknowledged(
            "t1",
            1,
            vec![event(2, "trip-1")],
            RecentHistories::activities(&[activity("trip-1", 2), activity("trip-1", 3)]),
        );
        for _ in 0..2 {
            let read = kept.read("trip-1").expect("kept for its activities");
            assert_eq!(
                read.iter().map(|e| e.event_id()).collect::<Vec<_>>(),
                [1, 2]
            );
        }
        assert!(
            kept.read("trip-1").is_none(),
            "gone once each activity read it"
        );
    }

    #[test]
    fn nothing_is_kept_that_the_store_may_not_hold() {
        let kept = RecentHistories::default();
        // No activity scheduled.
        kept.fetched(&item("trip-1", 1, vec![event(1, "trip-1")]), "t1");
        kept.acknowledged("t1", 1, vec![event(2, "trip-1")], 0);
        assert!(kept.read("trip-1").is_none());
        // Another execution begun.
        kept.fetched(&item("trip-1", 1, vec![event(1, "trip-1")]), "t2");
        kept.acknowledged("t2", 2, vec![event(1, "trip-1")], 1);
        assert!(kept.read("trip-1").is_none());
        // Abandoned, then acknowledged with the lost token.
        kept.fetched(&item("trip-1", 1, vec![event(1, "trip-1")]), "t3");
        kept.abandoned("t3");
        kept.acknowledged("t3", 1, vec![event(2, "trip-1")], 1);
        assert!(kept.read("trip-1").is_none());
        // Deleted after its turn.
        kept.fetched(&item("trip-1", 1, vec![event(1, "trip-1")]), "t4");
        kept.acknowledged("t4", 1, vec![event(2, "trip-1")], 1);
        kept.forget("trip-1");
        assert!(kept.read("trip-1").is_none());
        // The trip's next turn fetched: the entry of the turn before goes.
        kept.fetched(&item("trip-1", 1, vec![event(1, "trip-1")]), "t5");
        kept.acknowledged("t5", 1, vec![event(2, "trip-1")], 1);
        kept.fetched(
            &item("trip-1", 1, vec![event(1, "trip-1"), event(2, "trip-1")]),
            "t6",
        );
        assert!(kept.read("trip-1").is_none());
        kept.acknowledged("t6", 1, vec![event(3, "trip-1")], 0);
        assert!(kept.read("trip-1").is_none());
    }
}
