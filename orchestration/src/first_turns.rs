//! Who waits for a trip's first turn, woken when this process records it.
//!
//! Starting a trip answers once the engine has run the trip's first turn (before it, the trip
//! could not be managed). The trips index says so when it records a first turn of a trip someone
//! waits for, rather than being asked: asking it every 2 ms costs about 90 reads a trip when a
//! thousand trips start at once, every one of them queued behind the same turns
//! (`docs/benchmarks.md`). A turn run by another process sharing the store is seen by a slow
//! look.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The trips someone in this process waits on.
#[derive(Debug, Default)]
pub struct FirstTurns {
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
}

impl FirstTurns {
    /// Starts waiting for `instance_id`; the wait ends when the returned guard is dropped.
    pub fn wait_for(self: &Arc<Self>, instance_id: &str) -> Waiting {
        let notify = self
            .lock()
            .entry(instance_id.to_owned())
            .or_default()
            .clone();
        Waiting {
            turns: self.clone(),
            instance_id: instance_id.to_owned(),
            notify,
        }
    }

    /// A turn of `instance_id` was recorded: wakes whoever waits on it.
    pub fn recorded(&self, instance_id: &str) {
        if let Some(notify) = self.lock().get(instance_id) {
            // Keeps a permit when the waiter is between two looks.
            notify.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One waiter of [`FirstTurns`].
pub struct Waiting {
    turns: Arc<FirstTurns>,
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
        self.turns.lock().remove(&self.instance_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_recorded_turn_wakes_its_waiter_and_no_other() {
        let turns = Arc::new(FirstTurns::default());
        let trip = turns.wait_for("trip-1");
        let other = turns.wait_for("trip-2");
        // Recorded before the waiter looks: the wake is kept, not lost.
        turns.recorded("trip-1");
        assert!(trip.next(Duration::ZERO).await);
        assert!(!other.next(Duration::ZERO).await);
        assert!(!trip.next(Duration::ZERO).await, "one wake a turn");
    }

    #[test]
    fn a_finished_wait_is_forgotten() {
        let turns = Arc::new(FirstTurns::default());
        drop(turns.wait_for("trip-1"));
        turns.recorded("trip-1");
        assert!(turns.lock().is_empty());
    }
}
