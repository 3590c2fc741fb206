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

use tokio::sync::Notify;

/// The trips someone in this process waits on, and each of their waiters.
#[derive(Debug, Default)]
pub struct TurnWaiters {
    waiting: Mutex<HashMap<String, Vec<Arc<Notify>>>>,
}

impl TurnWaiters {
    /// Starts waiting for `instance_id`'s turns; the wait ends when the returned guard is
    /// dropped.
    pub fn wait_for(self: &Arc<Self>, instance_id: &str) -> Waiting {
        let notify = Arc::new(Notify::new());
        self.lock()
            .entry(instance_id.to_owned())
            .or_default()
            .push(notify.clone());
        Waiting {
            waiters: self.clone(),
            instance_id: instance_id.to_owned(),
            notify,
        }
    }

    /// A turn of `instance_id` was recorded: wakes whoever waits on it.
    pub fn recorded(&self, instance_id: &str) {
        for notify in self.lock().get(instance_id).into_iter().flatten() {
            // Keeps a permit when the waiter is between two looks.
            notify.notify_one();
        }
    }

    /// How many waiters there are (the event streams open in this process among them).
    pub fn count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Arc<Notify>>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One waiter of [`TurnWaiters`].
pub struct Waiting {
    waiters: Arc<TurnWaiters>,
    instance_id: String,
    notify: Arc<Notify>,
}

impl Waiting {
    /// Until a turn of the trip is recorded in this process (then `true`), or `at_most` passed.
    pub async fn next(&self, at_most: std::time::Duration) -> bool {
        tokio::time::timeout(at_most, self.notify.notified())
            .await
            .is_ok()
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut waiting = self.waiters.lock();
        if let Some(list) = waiting.get_mut(&self.instance_id) {
            list.retain(|n| !Arc::ptr_eq(n, &self.notify));
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
        waiters.recorded("trip-1");
        assert!(trip.next(Duration::ZERO).await);
        assert!(same_trip.next(Duration::ZERO).await);
        assert!(!other.next(Duration::ZERO).await);
        assert!(!trip.next(Duration::ZERO).await, "one wake a turn");
    }

    #[test]
    fn a_finished_wait_is_forgotten() {
        let waiters = Arc::new(TurnWaiters::default());
        let kept = waiters.wait_for("trip-1");
        drop(waiters.wait_for("trip-1"));
        assert_eq!(waiters.count(), 1);
        drop(kept);
        waiters.recorded("trip-1");
        assert!(waiters.lock().is_empty());
    }
}
