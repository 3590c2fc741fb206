//! Wake-ups instead of polling: the store's dispatchers wait on these until work is enqueued
//! (in this process, or in another one sharing a PostgreSQL store), with a slow tick as the
//! safety net for what nobody announces (timers due later, leases of a process that died).

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
    orchestrations: Notify,
    activities: Notify,
}

impl Wakeups {
    pub fn signal(&self, queue: Queue) -> &Notify {
        match queue {
            Queue::Orchestrations => &self.orchestrations,
            Queue::Activities => &self.activities,
        }
    }

    /// `count` items were enqueued on `queue`: wake as many waiting dispatchers.
    pub fn work_arrived(&self, queue: Queue, count: usize) {
        for _ in 0..count {
            self.signal(queue).notify_one();
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

/// A background task that stops when this is dropped.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
