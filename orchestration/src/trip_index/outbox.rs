//! The notifications outbox: one row per trip event (`planned`, `revised`, `approved`, ...,
//! keyed by the trip, the event and the plan revision), queued in the same write turn as the
//! index row that records the change, and delivered by [`crate::notifications`]. The key makes a
//! notification unique however often a turn is recorded (a repair, a rebuild), and is the
//! idempotency key the webhook receives. The rows are the delivery log.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Finished, IndexError, TripIndex, TurnRecord, now_ms};
use crate::database::on_db;
use crate::progress::{TripOutcome, TripProgress, TripState};

/// What happened to a trip (the webhook's `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TripEvent {
    /// The first plan awaits approval.
    Planned,
    /// A revised plan awaits approval.
    Revised,
    Approved,
    Rejected,
    Expired,
    Booked,
    Failed,
}

impl TripEvent {
    pub const ALL: [TripEvent; 7] = [
        Self::Planned,
        Self::Revised,
        Self::Approved,
        Self::Rejected,
        Self::Expired,
        Self::Booked,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Revised => "revised",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Booked => "booked",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }

    /// Where the event comes in a trip's life (events queued in the same instant go in this
    /// order).
    pub(crate) fn rank(self) -> usize {
        Self::ALL.iter().position(|e| *e == self).unwrap_or(0)
    }
}

/// A trip's state when an event happened: what its notification says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub progress: Option<TripProgress>,
    pub outcome: Option<TripOutcome>,
    pub error: Option<String>,
}

/// One queued notification and how its delivery went.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub instance_id: String,
    pub event: TripEvent,
    pub revision: u32,
    pub snapshot: Snapshot,
    pub created_ms: i64,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (none once delivered or given up).
    pub next_ms: Option<i64>,
    pub delivered_ms: Option<i64>,
    /// The receiver's last HTTP status, if it answered.
    pub status_code: Option<u16>,
    pub last_error: Option<String>,
}

impl Notice {
    /// The idempotency key the receiver gets: the same for every attempt.
    pub fn key(&self) -> String {
        format!(
            "{}:{}:{}",
            self.instance_id,
            self.event.as_str(),
            self.revision
        )
    }
}

/// How much older than now a recorded change may be and still be announced: a rebuild of the
/// index from old histories announces nothing.
const ANNOUNCE_WITHIN_MS: i64 = 3_600_000;

/// The events a turn (or a whole history) records, with the plan revision each concerns.
pub(super) fn events_of(record: &TurnRecord) -> Vec<(TripEvent, u32)> {
    let mut events = Vec::new();
    for &(state, revision) in &record.reports {
        match state {
            TripState::AwaitingApproval => {
                let event = if revision > 1 {
                    TripEvent::Revised
                } else {
                    TripEvent::Planned
                };
                events.push((event, revision));
            }
            TripState::Booking => events.push((TripEvent::Approved, revision)),
            _ => {}
        }
    }
    match &record.finished {
        Some(Finished::Completed(outcome)) => {
            let revision = outcome.plan.revision;
            let ended = match outcome.state {
                TripState::Booked => {
                    events.push((TripEvent::Approved, revision));
                    Some(TripEvent::Booked)
                }
                TripState::Rejected => Some(TripEvent::Rejected),
                TripState::Expired => Some(TripEvent::Expired),
                _ => None,
            };
            events.extend(ended.map(|e| (e, revision)));
        }
        // A trip fails once; a turn's record may not know its plan's revision (the history
        // does), so the key has none, whichever one records it.
        Some(Finished::Failed(_)) => events.push((TripEvent::Failed, 0)),
        None => {}
    }
    events.dedup();
    events
}

type NoticeTuple = (
    String,
    String,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

const NOTICE_COLUMNS: &str = "id, event, revision, snapshot, created_ms, attempts, next_ms, delivered_ms, status_code, last_error";

fn notice_from(t: NoticeTuple) -> Option<Notice> {
    let (id, event, revision, snapshot, created, attempts, next, delivered, status, error) = t;
    Some(Notice {
        instance_id: id,
        event: TripEvent::parse(&event)?,
        revision: u32::try_from(revision).ok()?,
        snapshot: serde_json::from_str(&snapshot).ok()?,
        created_ms: created,
        attempts: attempts.max(0) as u32,
        next_ms: next,
        delivered_ms: delivered,
        status_code: status.and_then(|s| u16::try_from(s).ok()),
        last_error: error,
    })
}

impl TripIndex {
    /// Queues the notifications a turn's changes call for (when notifications are on), while
    /// the caller holds the write turn. Already queued ones are left as they are.
    pub(super) async fn queue_notices(&self, record: &TurnRecord) -> Result<(), IndexError> {
        if !self.notifications_enabled() || now_ms() - record.updated_ms as i64 > ANNOUNCE_WITHIN_MS
        {
            return Ok(());
        }
        let events = events_of(record);
        if events.is_empty() {
            return Ok(());
        }
        let snapshot = serde_json::to_string(&Snapshot {
            progress: record.progress.clone(),
            outcome: match &record.finished {
                Some(Finished::Completed(outcome)) => Some((**outcome).clone()),
                _ => None,
            },
            error: match &record.finished {
                Some(Finished::Failed(error)) => Some(error.clone()),
                _ => None,
            },
        })
        .expect("snapshots serialise");
        let sql = format!(
            "INSERT INTO {} (id, event, revision, snapshot, created_ms, attempts, next_ms)
             VALUES ($1, $2, $3, $4, $5, 0, $5) ON CONFLICT (id, event, revision) DO NOTHING",
            self.outbox
        );
        let mut queued = 0;
        for (event, revision) in events {
            queued += on_db!(&self.db, |pool| sqlx::query(&sql)
                .bind(&record.instance_id)
                .bind(event.as_str())
                .bind(i64::from(revision))
                .bind(&snapshot)
                .bind(now_ms())
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?;
        }
        if queued > 0 {
            self.notices_queued.notify_one();
        }
        Ok(())
    }

    /// Notifications due now that no process is delivering (oldest first, at most `limit`).
    pub async fn due_notices(&self, limit: i64) -> Result<Vec<Notice>, IndexError> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM {} WHERE next_ms IS NOT NULL AND next_ms <= $1
             AND (lease_ms IS NULL OR lease_ms < $1) ORDER BY next_ms LIMIT $2",
            self.outbox
        );
        let rows: Vec<NoticeTuple> = on_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(now_ms())
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().filter_map(notice_from).collect())
    }

    /// When the next undelivered notification is due, if any is waiting.
    pub async fn next_notice_ms(&self) -> Result<Option<i64>, IndexError> {
        let sql = format!(
            "SELECT MIN(next_ms) FROM {} WHERE next_ms IS NOT NULL",
            self.outbox
        );
        Ok(on_db!(&self.db, |pool| sqlx::query_scalar(&sql)
            .fetch_one(pool)
            .await)?)
    }

    /// Gives back every notification leased for delivery: for a store this process holds alone
    /// (SQLite), at start-up, where every lease belongs to a process that is gone, so what it
    /// was delivering goes out again at once instead of when its lease runs out.
    pub async fn release_notice_leases(&self) -> Result<u64, IndexError> {
        let sql = format!(
            "UPDATE {} SET lease_ms = NULL WHERE lease_ms IS NOT NULL",
            self.outbox
        );
        let _turn = self.writes.take().await;
        Ok(on_db!(&self.db, |pool| sqlx::query(&sql)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Takes a due notification for `lease_ms` milliseconds: `false` when another process has it.
    pub async fn claim_notice(&self, notice: &Notice, lease_ms: i64) -> Result<bool, IndexError> {
        let sql = format!(
            "UPDATE {} SET lease_ms = $1 WHERE id = $2 AND event = $3 AND revision = $4
             AND next_ms IS NOT NULL AND (lease_ms IS NULL OR lease_ms < $5)",
            self.outbox
        );
        let now = now_ms();
        let _turn = self.writes.take().await;
        let claimed = on_db!(&self.db, |pool| sqlx::query(&sql)
            .bind(now + lease_ms)
            .bind(&notice.instance_id)
            .bind(notice.event.as_str())
            .bind(i64::from(notice.revision))
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(claimed == 1)
    }

    /// Records an attempt: delivered (`next_ms` none and `delivered`), to be tried again at
    /// `next_ms`, or given up (neither).
    pub async fn notice_attempted(
        &self,
        notice: &Notice,
        outcome: Attempt,
    ) -> Result<(), IndexError> {
        let sql = format!(
            "UPDATE {} SET attempts = attempts + 1, next_ms = $1, delivered_ms = $2, status_code = $3,
             last_error = $4, lease_ms = NULL WHERE id = $5 AND event = $6 AND revision = $7",
            self.outbox
        );
        let _turn = self.writes.take().await;
        on_db!(&self.db, |pool| sqlx::query(&sql)
            .bind(outcome.next_ms)
            .bind(outcome.delivered.then(now_ms))
            .bind(outcome.status_code.map(i64::from))
            .bind(&outcome.error)
            .bind(&notice.instance_id)
            .bind(notice.event.as_str())
            .bind(i64::from(notice.revision))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A trip's notifications, in the order they were queued (its delivery log).
    pub async fn notices_of(&self, instance_id: &str) -> Result<Vec<Notice>, IndexError> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM {} WHERE id = $1 ORDER BY created_ms, revision",
            self.outbox
        );
        let rows: Vec<NoticeTuple> = on_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(instance_id)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().filter_map(notice_from).collect())
    }

    /// The latest notifications of every trip, newest first (the dashboard's delivery log).
    pub async fn recent_notices(&self, limit: i64) -> Result<Vec<Notice>, IndexError> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM {} ORDER BY created_ms DESC LIMIT $1",
            self.outbox
        );
        let rows: Vec<NoticeTuple> = on_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().filter_map(notice_from).collect())
    }
}

/// How one delivery attempt went.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub delivered: bool,
    /// When to try again; `None` when delivered or given up.
    pub next_ms: Option<i64>,
    pub status_code: Option<u16>,
    pub error: Option<String>,
}
