//! What a person waits for goes first: a decision raised from outside (an approval), and the
//! result of the activities named so (the booking), are queued as if they had been visible for a
//! day, so the next free turn takes their trip ahead of the trips that are planning (whose next
//! step waits on the model for seconds anyway). Within one trip, messages keep the order they
//! came in: a fetch takes all of a trip's visible messages at once, in the order they were
//! queued.
//!
//! On SQLite the store queues them so itself ([`super::sqlite_queues`]); on PostgreSQL the
//! trip's waiting messages are moved ahead right after duroxide-pg queued them
//! ([`super::postgres_first_in_line`]).

use std::collections::HashSet;
use std::sync::Mutex;

use duroxide::providers::WorkItem;

/// How long a message that goes first is taken to have been visible already.
pub const LEAD_MS: i64 = 24 * 3600 * 1000;

/// The activities whose results go first, and those of them running now: their leases are kept
/// to know them when they are acknowledged (after a restart they simply queue as usual).
#[derive(Debug, Default)]
pub struct FirstInLine {
    pub activities: &'static [&'static str],
    running: Mutex<HashSet<String>>,
}

impl FirstInLine {
    pub fn new(activities: &'static [&'static str]) -> Self {
        Self {
            activities,
            running: Mutex::default(),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A fetched activity: remembered when its result goes first.
    pub fn fetched(&self, fetched: &Option<(WorkItem, String, u32)>) {
        if let Some((WorkItem::ActivityExecute { name, .. }, token, _)) = fetched
            && self.activities.contains(&name.as_str())
        {
            self.running().insert(token.clone());
        }
    }

    /// Whether the result of the activity leased with `token` goes first (forgetting it).
    pub fn finished(&self, token: &str) -> bool {
        self.running().remove(token)
    }
}

/// The trip `item` decides for, when it is a decision raised from outside the workflow (an
/// approval).
pub fn decision_for(item: &WorkItem) -> Option<&str> {
    match item {
        WorkItem::ExternalRaised { instance, .. } | WorkItem::QueueMessage { instance, .. } => {
            Some(instance)
        }
        _ => None,
    }
}
