//! Who in this process waits for a trip's next turn, woken when this process records one: a
//! trip being started (it answers once the engine ran the first turn) and the trip's event
//! streams.
//!
//! Starting a trip answers once the engine has run the trip's first turn (before it, the trip
//! could not be managed). The trips index says so when it records a turn of a trip someone
//! waits for, rather than being asked: asking it every 2 ms costs about 90 reads a trip when a
//! thousand trips start at once, every one of them queued behind the same turns
//! (`docs/benchmarks.md`). A turn run by another process sharing the store is seen by a slow
//! look.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use duroxide::Event;
use tokio::sync::Notify;

/// The trips someone in this process waits on, and each of their waiters.
#[derive(Debug, Default)]
pub struct TurnWaiters {
    waiting: Mutex<HashMap<String, Vec<Arc<Waiter>>>>,
}

/// One waiter: its wake-up, and the new events of the turns recorded since it last took them
/// (for an event stream, which then need not read the history again).
#[derive(Debug, Default)]
struct Waiter {
    notify: Notify,
    turns: Mutex<Turns>,
}

/// The turns a waiter has not taken yet.
#[derive(Debug, Default)]
struct Turns {
    events: Vec<Arc<[Event]>>,
    /// More came than [`MAX_TURNS_KEPT`]: they were dropped, the waiter reads the history.
    overflowed: bool,
}

/// The most turns kept for a waiter that does not take them (a stream whose client reads
/// slowly): past it they are dropped and the stream reads the history when it goes on.
pub const MAX_TURNS_KEPT: usize = 64;

impl TurnWaiters {
    /// Starts waiting for `instance_id`'s turns; the wait ends when the returned guard is
    /// dropped.
    pub fn wait_for(self: &Arc<Self>, instance_id: &str) -> Waiting {
        let waiter = Arc::new(Waiter::default());
        self.lock()
            .entry(instance_id.to_owned())
            .or_default()
            .push(waiter.clone());
        Waiting {
            waiters: self.clone(),
            instance_id: instance_id.to_owned(),
            waiter,
        }
    }

    /// Whether anyone in this process waits on `instance_id`.
    pub fn waited_for(&self, instance_id: &str) -> bool {
        self.lock().contains_key(instance_id)
    }

    /// A turn of `instance_id` was recorded, with its new events when they were kept: wakes
    /// whoever waits on it, and hands each waiter the events.
    pub fn recorded(&self, instance_id: &str, events: Option<&Arc<[Event]>>) {
        for waiter in self.lock().get(instance_id).into_iter().flatten() {
            if let Some(events) = events {
                let mut turns = waiter.turns.lock().unwrap_or_else(|e| e.into_inner());
                if turns.events.len() < MAX_TURNS_KEPT {
                    turns.events.push(events.clone());
                } else {
                    turns.events.clear();
                    turns.overflowed = true;
                }
            }
            // Keeps a permit when the waiter is between two looks.
            waiter.notify.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Arc<Waiter>>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One waiter of [`TurnWaiters`].
pub struct Waiting {
    waiters: Arc<TurnWaiters>,
    instance_id: String,
    waiter: Arc<Waiter>,
}

impl Waiting {
    /// Until a turn of the trip is recorded in this process (then `true`), or `at_most` passed.
    pub async fn next(&self, at_most: std::time::Duration) -> bool {
        tokio::time::timeout(at_most, self.waiter.notify.notified())
            .await
            .is_ok()
    }

    /// The new events of the turns recorded since the last call, oldest first; `None` when
    /// some were dropped (more than [`MAX_TURNS_KEPT`] waited): read the history instead.
    pub fn take_turns(&self) -> Option<Vec<Arc<[Event]>>> {
        let mut turns = self.waiter.turns.lock().unwrap_or_else(|e| e.into_inner());
        let taken = std::mem::take(&mut *turns);
        (!taken.overflowed).then_some(taken.events)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut waiting = self.waiters.lock();
        if let Some(list) = waiting.get_mut(&self.instance_id) {
            list.retain(|w| !Arc::ptr_eq(w, &self.waiter));
            if list.is_empty() {
                waiting.remove(&self.instance_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_recorded_turn_wakes_its_waiters_and_no_other() {
        let waiters = Arc::new(TurnWaiters::default());
        let trip = waiters.wait_for("trip-1");
        let same_trip = waiters.wait_for("trip-1");
        let other = waiters.wait_for("trip-2");
        // Recorded before the waiters look: the wake is kept, not lost.
        waiters.recorded("trip-1", None);
        assert!(trip.next(Duration::ZERO).await);
        assert!(same_trip.next(Duration::ZERO).await);
        assert!(!other.next(Duration::ZERO).await);
        assert!(!trip.next(Duration::ZERO).await, "one wake a turn");
    }

    #[test]
    fn a_waiter_gets_each_turn_s_events_until_too_many_wait() {
        let waiters = Arc::new(TurnWaiters::default());
        let stream = waiters.wait_for("trip-1");
        assert!(waiters.waited_for("trip-1") && !waiters.waited_for("trip-2"));
        let turn: Arc<[Event]> = Arc::from(Vec::new());
        waiters.recorded("trip-1", Some(&turn));
        waiters.recorded("trip-1", None);
        waiters.recorded("trip-1", Some(&turn));
        assert_eq!(stream.take_turns().map(|t| t.len()), Some(2));
        assert_eq!(stream.take_turns().map(|t| t.len()), Some(0), "taken once");
        for _ in 0..=MAX_TURNS_KEPT {
            waiters.recorded("trip-1", Some(&turn));
        }
        assert!(stream.take_turns().is_none(), "dropped: read the history");
        assert_eq!(stream.take_turns().map(|t| t.len()), Some(0));
    }

    #[test]
    fn a_finished_wait_is_forgotten() {
        let waiters = Arc::new(TurnWaiters::default());
        let kept = waiters.wait_for("trip-1");
        drop(waiters.wait_for("trip-1"));
        assert!(waiters.waited_for("trip-1"), "by the other waiter");
        drop(kept);
        waiters.recorded("trip-1", None);
        assert!(waiters.lock().is_empty());
    }
}
