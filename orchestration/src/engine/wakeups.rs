//! Wake-ups instead of polling: the store's dispatchers wait on these until work is enqueued
//! (in this process, or in another one sharing a PostgreSQL store), with a slow tick as the
//! safety net for what nobody announces (timers due later, leases of a process that died).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use duroxide::providers::WorkItem;
use tokio::sync::Notify;

/// The engine's two queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Orchestration turns: starts, completions, timers, events.
    Orchestrations,
    /// Activities: agent calls, saves, bookings.
    Activities,
}

impl Queue {
    pub fn as_str(self) -> &'static str {
        match self {
            Queue::Orchestrations => "orchestrations",
            Queue::Activities => "activities",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "orchestrations" => Some(Queue::Orchestrations),
            "activities" => Some(Queue::Activities),
            _ => None,
        }
    }
}

/// Delayed work further away than this is left to the safety tick rather than given a timer task
/// of its own (a plan waits days for approval; thousands of such waits need no task each).
const LONGEST_EXACT_WAKE: Duration = Duration::from_secs(300);

/// The wake-up signals of one process.
#[derive(Debug, Default)]
pub struct Wakeups {
    orchestrations: Signal,
    activities: Signal,
}

/// One queue's signal, and what is known of the queue: a dispatcher that finds it empty says so,
/// and until something arrives the others wait without looking. A process holds thousands of
/// activity dispatchers (each waits on a model call's answer most of its time); without this,
/// each would look at the store once on starting and once every long poll.
#[derive(Debug)]
struct Signal {
    notify: Notify,
    /// Counts arrivals (and safety ticks).
    arrivals: AtomicU64,
    /// `arrivals` as it stood before the last look that found the queue empty.
    empty_since: AtomicU64,
}

impl Default for Signal {
    fn default() -> Self {
        Self {
            notify: Notify::new(),
            arrivals: AtomicU64::new(0),
            empty_since: AtomicU64::new(u64::MAX),
        }
    }
}

/// What a dispatcher saw of its queue before looking at the store.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    arrivals: u64,
    /// Nothing arrived since a look found the queue empty.
    pub known_empty: bool,
}

impl Wakeups {
    fn queue(&self, queue: Queue) -> &Signal {
        match queue {
            Queue::Orchestrations => &self.orchestrations,
            Queue::Activities => &self.activities,
        }
    }

    pub fn signal(&self, queue: Queue) -> &Notify {
        &self.queue(queue).notify
    }

    /// Read before looking at the store (after registering for the signal).
    pub fn seen(&self, queue: Queue) -> Seen {
        let signal = self.queue(queue);
        let arrivals = signal.arrivals.load(Ordering::Acquire);
        Seen {
            arrivals,
            known_empty: signal.empty_since.load(Ordering::Acquire) == arrivals,
        }
    }

    /// A look at the store that began when `seen` was read found nothing.
    pub fn found_empty(&self, queue: Queue, seen: Seen) {
        self.queue(queue)
            .empty_since
            .store(seen.arrivals, Ordering::Release);
    }

    /// `count` items were enqueued on `queue`: wake as many waiting dispatchers.
    pub fn work_arrived(&self, queue: Queue, count: usize) {
        let signal = self.queue(queue);
        signal.arrivals.fetch_add(1, Ordering::AcqRel);
        for _ in 0..count {
            signal.notify.notify_one();
        }
    }

    /// An item on `queue` becomes visible after `delay`.
    pub fn work_due(self: &std::sync::Arc<Self>, queue: Queue, delay: Duration) {
        if delay.is_zero() {
            return self.work_arrived(queue, 1);
        }
        if delay <= LONGEST_EXACT_WAKE {
            let this = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                this.work_arrived(queue, 1);
            });
        }
    }

    /// Wakes one dispatcher of each queue every `period` (the safety net), until the returned
    /// handle is dropped.
    pub fn tick_every(self: &std::sync::Arc<Self>, period: Duration) -> AbortOnDrop {
        let this = std::sync::Arc::downgrade(self);
        AbortOnDrop(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(this) = this.upgrade() else { return };
                this.work_arrived(Queue::Orchestrations, 1);
                this.work_arrived(Queue::Activities, 1);
            }
        }))
    }
}

/// Milliseconds from now until an orchestrator item is due, when it is a timer.
pub fn due_in(item: &WorkItem, now_ms: u64) -> Duration {
    match item {
        WorkItem::TimerFired { fire_at_ms, .. } => {
            Duration::from_millis(fire_at_ms.saturating_sub(now_ms))
        }
        _ => Duration::ZERO,
    }
}

pub use crate::database::AbortOnDrop;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_found_empty_is_known_empty_until_work_arrives() {
        let wakeups = Wakeups::default();
        let seen = wakeups.seen(Queue::Activities);
        assert!(!seen.known_empty, "nobody has looked yet");
        wakeups.found_empty(Queue::Activities, seen);
        assert!(wakeups.seen(Queue::Activities).known_empty);
        assert!(
            !wakeups.seen(Queue::Orchestrations).known_empty,
            "each queue on its own"
        );
        wakeups.work_arrived(Queue::Activities, 1);
        assert!(!wakeups.seen(Queue::Activities).known_empty);
    }

    #[test]
    fn work_that_arrives_during_a_look_is_not_hidden_by_it() {
        let wakeups = Wakeups::default();
        let before = wakeups.seen(Queue::Orchestrations);
        wakeups.work_arrived(Queue::Orchestrations, 1);
        wakeups.found_empty(Queue::Orchestrations, before);
        assert!(!wakeups.seen(Queue::Orchestrations).known_empty);
    }
}
