//! What each orchestration turn says about a trip ([`TurnRecord`]), written into the trip's row
//! as the engine acknowledges the turn; the wait for a trip's first turn; and the repair pass
//! that brings rows that fell behind up to the engine's history.

use std::sync::Arc;

use async_trait::async_trait;
use duroxide::providers::Provider;
use duroxide::{Event, EventKind};

use super::{IndexError, TripIndex, TripRow, now_ms};
use crate::database::on_db;
use crate::database::sqlite_writer::{Statement, Value};
use crate::database::turn_observer::{ObservedTurn, TurnObserver};
use crate::database::write_turns::WriteTurn;
use crate::progress::{ApprovalDecision, TripOutcome, TripProgress, TripState, TripStep};
use crate::workflow::{ORCHESTRATION, TripInput};

/// What one orchestration turn (or a whole history) says about a trip.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRecord {
    pub instance_id: String,
    /// The last history event id this record reflects.
    pub seq: u64,
    pub updated_ms: u64,
    pub started: Option<Started>,
    /// The last progress report.
    pub progress: Option<TripProgress>,
    /// The state and plan revision of every progress report, in order (the changes the turn
    /// made, for notifications).
    pub reports: Vec<(TripState, u32)>,
    pub finished: Option<Finished>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub traveller: String,
    pub created_ms: u64,
    pub token_sha256: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    Completed(Box<TripOutcome>),
    Failed(String),
}

impl TurnRecord {
    /// Reads the events of a turn (or a whole history); `None` when they say nothing the index
    /// keeps.
    pub fn from_events(events: &[Event]) -> Option<Self> {
        let last = events.iter().max_by_key(|e| e.event_id)?;
        let mut record = TurnRecord {
            instance_id: last.instance_id.clone(),
            seq: last.event_id,
            updated_ms: events.iter().map(|e| e.timestamp_ms).max().unwrap_or(0),
            started: None,
            progress: None,
            reports: Vec::new(),
            finished: None,
        };
        for event in events {
            match &event.kind {
                EventKind::OrchestrationStarted { name, input, .. } if name == ORCHESTRATION => {
                    if let Ok(input) = serde_json::from_str::<TripInput>(input) {
                        record.started = Some(Started {
                            traveller: input.request.traveller_name,
                            created_ms: event.timestamp_ms,
                            token_sha256: input.approval_token_sha256,
                        });
                    }
                }
                EventKind::CustomStatusUpdated {
                    status: Some(status),
                } => {
                    if let Ok(progress) = serde_json::from_str::<TripProgress>(status) {
                        let revision = progress.plan.as_ref().map_or(1, |p| p.revision);
                        record.reports.push((progress.state, revision));
                        record.progress = Some(progress);
                    }
                }
                EventKind::OrchestrationCompleted { output } => {
                    record.finished = Some(match serde_json::from_str(output) {
                        Ok(outcome) => Finished::Completed(Box::new(outcome)),
                        Err(e) => Finished::Failed(format!("unreadable workflow output: {e}")),
                    });
                }
                EventKind::OrchestrationFailed { details } => {
                    record.finished = Some(Finished::Failed(details.display_message()))
                }
                _ => {}
            }
        }
        (record.started.is_some() || record.progress.is_some() || record.finished.is_some())
            .then_some(record)
    }

    pub(crate) fn state(&self) -> TripState {
        match &self.finished {
            Some(Finished::Completed(outcome)) => outcome.state,
            Some(Finished::Failed(_)) => TripState::Failed,
            None => self
                .progress
                .as_ref()
                .map(|p| p.state)
                .unwrap_or(TripState::Planning),
        }
    }

    fn decision(&self) -> Option<&ApprovalDecision> {
        match &self.finished {
            Some(Finished::Completed(outcome)) if outcome.decision.is_some() => {
                outcome.decision.as_ref()
            }
            _ => self.progress.as_ref().and_then(|p| p.decision.as_ref()),
        }
    }
}

/// The longest [`TripIndex::wait_for_first_turn`] goes without looking at the index for a first
/// turn that another process may have run.
const FIRST_TURN_LOOK: std::time::Duration = std::time::Duration::from_millis(100);

impl TripIndex {
    /// A trip was just started: its row exists before the engine's first turn.
    pub async fn started(&self, instance_id: &str, started: &Started) -> Result<(), IndexError> {
        let sql = format!(
            "INSERT INTO {} (id, state, step, traveller, created_ms, updated_ms, token_sha256, seq) VALUES ($1, $2, $3, $4, $5, $5, $6, 0)
             ON CONFLICT (id) DO NOTHING",
            self.trips
        );
        let values = vec![
            Value::Text(Some(instance_id.to_owned())),
            Value::Text(Some(TripState::Planning.as_str().to_owned())),
            Value::Text(Some(TripStep::Destinations.as_str().to_owned())),
            Value::Text(Some(started.traveller.clone())),
            Value::Int(Some(started.created_ms as i64)),
            Value::Text(Some(started.token_sha256.clone())),
        ];
        self.write_all(vec![Statement { sql, values }]).await?;
        Ok(())
    }

    /// Brings a trip's row up to `record`, unless the row already reflects a later turn. Turns of
    /// instances that are not trips change nothing.
    pub async fn record_turn(&self, record: &TurnRecord) -> Result<(), IndexError> {
        self.record_turn_with(record, None).await
    }

    /// [`Self::record_turn`], handing the turn's new events (when kept) to whoever in this
    /// process follows the trip.
    async fn record_turn_with(
        &self,
        record: &TurnRecord,
        events: Option<&Arc<[Event]>>,
    ) -> Result<(), IndexError> {
        let statement = self.turn_statement(record);
        self.write_all(vec![statement]).await?;
        self.turn_waiters.recorded(&record.instance_id, events);
        self.queue_notices(record).await
    }

    /// [`Self::record_turn`] while the caller holds the write turn (the engine's store, right
    /// after it acknowledged the turn).
    pub async fn record_turn_during(
        &self,
        _turn: &WriteTurn<'_>,
        record: &TurnRecord,
        events: Option<&Arc<[Event]>>,
    ) -> Result<(), IndexError> {
        self.writes.count_one_more();
        let statement = self.turn_statement(record);
        self.write_all(vec![statement]).await?;
        self.turn_waiters.recorded(&record.instance_id, events);
        self.queue_notices(record).await
    }

    /// The upsert that brings a trip's row up to `record`.
    fn turn_statement(&self, record: &TurnRecord) -> Statement {
        let sql = self.turn_upsert_sql();
        let progress = record.progress.as_ref();
        let plan = progress.and_then(|p| p.plan.as_ref());
        let (outcome, error) = match &record.finished {
            Some(Finished::Completed(outcome)) => (serde_json::to_string(outcome).ok(), None),
            Some(Finished::Failed(error)) => (None, Some(error.clone())),
            None => (None, None),
        };
        let created = record
            .started
            .as_ref()
            .map_or(record.updated_ms, |s| s.created_ms) as i64;
        let values = vec![
            Value::Text(Some(record.instance_id.clone())),
            Value::Text(Some(record.state().as_str().to_owned())),
            Value::Text(progress.map(|p| p.step.as_str().to_owned())),
            Value::Text(progress.and_then(|p| p.destination.clone())),
            Value::Text(record.started.as_ref().map(|s| s.traveller.clone())),
            Value::Int(Some(created)),
            Value::Int(Some(record.updated_ms as i64)),
            Value::Int(
                progress
                    .and_then(|p| p.approval.as_ref())
                    .map(|a| a.expires_at.timestamp_millis()),
            ),
            Value::Real(plan.map(|p| p.total.amount.to_f64())),
            Value::Text(plan.map(|p| p.total.currency.to_string())),
            Value::Text(
                record
                    .decision()
                    .map(|d| if d.approved { "approved" } else { "rejected" }.to_owned()),
            ),
            Value::Text(error),
            Value::Text(progress.and_then(|p| serde_json::to_string(p).ok())),
            Value::Text(outcome),
            Value::Text(record.started.as_ref().map(|s| s.token_sha256.clone())),
            Value::Int(Some(record.seq as i64)),
            // Rows are created for trips only: by `started`, or by the turn that starts one.
            Value::Bool(Some(record.started.is_some())),
        ];
        Statement { sql, values }
    }

    /// Inserts or brings up to date a trip's row from a turn (`$1`..`$16` the columns, `$17`
    /// whether the turn may create the row); a row that reflects a later turn is left alone.
    fn turn_upsert_sql(&self) -> String {
        let t = &self.trips;
        format!(
            "INSERT INTO {t} (id, state, step, destination, traveller, created_ms, updated_ms, expires_ms, total_amount,
                              total_currency, decision, error, progress, outcome, token_sha256, seq)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
             WHERE $17 OR EXISTS (SELECT 1 FROM {t} WHERE id = $1)
             ON CONFLICT (id) DO UPDATE SET
                state = CASE WHEN excluded.progress IS NULL AND excluded.outcome IS NULL AND excluded.error IS NULL
                             THEN trips.state ELSE excluded.state END,
                step = COALESCE(excluded.step, trips.step),
                destination = COALESCE(excluded.destination, trips.destination),
                traveller = COALESCE(excluded.traveller, trips.traveller),
                created_ms = CASE WHEN excluded.created_ms < trips.created_ms THEN excluded.created_ms ELSE trips.created_ms END,
                updated_ms = CASE WHEN excluded.updated_ms > trips.updated_ms THEN excluded.updated_ms ELSE trips.updated_ms END,
                expires_ms = COALESCE(excluded.expires_ms, trips.expires_ms),
                total_amount = COALESCE(excluded.total_amount, trips.total_amount),
                total_currency = COALESCE(excluded.total_currency, trips.total_currency),
                decision = COALESCE(excluded.decision, trips.decision),
                error = COALESCE(excluded.error, trips.error),
                progress = COALESCE(excluded.progress, trips.progress),
                outcome = COALESCE(excluded.outcome, trips.outcome),
                token_sha256 = COALESCE(excluded.token_sha256, trips.token_sha256),
                seq = excluded.seq
             WHERE trips.seq < excluded.seq"
        )
    }

    /// Whether the engine has run a turn of the trip (its row reflects one).
    pub async fn has_run(&self, instance_id: &str) -> Result<bool, IndexError> {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE id = $1 AND seq > 0",
            self.trips
        );
        let n: i64 = on_db!(&self.db, |pool| sqlx::query_scalar(&sql)
            .bind(instance_id)
            .fetch_one(pool)
            .await)?;
        Ok(n > 0)
    }

    /// The last history event of the trip its row reflects (0 before the first turn; `None`
    /// for no such trip): an event stream reads the history again only when it moved.
    pub async fn seq(&self, instance_id: &str) -> Result<Option<u64>, IndexError> {
        let sql = format!("SELECT seq FROM {} WHERE id = $1", self.trips);
        let seq: Option<i64> = on_db!(&self.db, |pool| sqlx::query_scalar(&sql)
            .bind(instance_id)
            .fetch_optional(pool)
            .await)?;
        Ok(seq.map(|s| s.max(0) as u64))
    }

    /// Waits for the trip's next turn recorded in this process (see
    /// [`crate::turn_waiters::TurnWaiters`]).
    pub fn watch(&self, instance_id: &str) -> crate::turn_waiters::Waiting {
        self.turn_waiters.wait_for(instance_id)
    }

    /// The agents' replies as they are written, in this process.
    pub fn live_replies(&self) -> &Arc<crate::live_replies::LiveReplies> {
        &self.live_replies
    }

    /// Waits until the engine has run a turn of the trip, or `at_most` passed; says whether it
    /// has. A turn this process records ends the wait at once; one run by another process
    /// sharing the store is seen by a look after 10 ms, then at doubling intervals up to
    /// [`FIRST_TURN_LOOK`].
    pub async fn wait_for_first_turn(
        &self,
        instance_id: &str,
        at_most: std::time::Duration,
    ) -> Result<bool, IndexError> {
        let deadline = tokio::time::Instant::now() + at_most;
        let waiting = self.turn_waiters.wait_for(instance_id);
        let mut look = FIRST_TURN_LOOK / 10;
        loop {
            if self.has_run(instance_id).await? {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            waiting.next(left.min(look)).await;
            look = (look * 2).min(FIRST_TURN_LOOK);
        }
    }

    /// Rows that may be behind the engine: trips in a passing state not updated for `grace`,
    /// and waits whose approval window closed more than `grace` ago.
    pub async fn suspect(&self, grace: std::time::Duration) -> Result<Vec<String>, IndexError> {
        let sql = self.suspect_sql();
        let cutoff = now_ms() - grace.as_millis() as i64;
        Ok(on_db!(&self.db, |pool| sqlx::query_scalar(&sql)
            .bind(cutoff)
            .fetch_all(pool)
            .await)?)
    }

    /// The repair pass's query: it runs every 30 s, so it reads only the rows it finds, through
    /// `trips_by_state` and `trips_awaiting_by_expiry`, never every parked trip.
    fn suspect_sql(&self) -> String {
        format!(
            "SELECT id FROM {} WHERE (state IN ('planning', 'booking') AND updated_ms < $1)
                OR (state = 'awaiting_approval' AND expires_ms < $1)",
            self.trips
        )
    }

    /// Brings one trip's row up to date from the engine's history.
    pub async fn refresh(
        &self,
        store: &dyn Provider,
        instance_id: &str,
    ) -> Result<Option<TripRow>, IndexError> {
        let history = store.read(instance_id).await?;
        if let Some(record) = TurnRecord::from_events(&history) {
            self.record_turn(&record).await?;
        }
        self.get(instance_id).await
    }

    /// Repairs rows that fell behind (see [`Self::suspect`]). Returns how many were looked at.
    pub async fn reconcile(
        &self,
        store: &dyn Provider,
        grace: std::time::Duration,
    ) -> Result<usize, IndexError> {
        let suspects = self.suspect(grace).await?;
        for id in &suspects {
            self.refresh(store, id).await?;
        }
        Ok(suspects.len())
    }

    /// Fills the index from every instance the engine has.
    pub async fn rebuild(&self, store: &dyn Provider) -> Result<usize, IndexError> {
        let Some(admin) = store.as_management_capability() else {
            return Ok(0);
        };
        let ids = admin.list_instances().await?;
        for id in &ids {
            self.refresh(store, id).await?;
        }
        Ok(ids.len())
    }
}

/// The index follows the engine: each acknowledged turn of a trip is written into its row (and
/// counted, and traced), and purged instances leave it.
#[async_trait]
impl TurnObserver for TripIndex {
    fn observe(self: Arc<Self>, history_delta: &[Event]) -> Option<Box<dyn ObservedTurn>> {
        let record = TurnRecord::from_events(history_delta)?;
        // Kept only when someone here follows the trip (its event streams).
        let events = self
            .turn_waiters
            .waited_for(&record.instance_id)
            .then(|| Arc::from(history_delta));
        Some(Box::new(ObservedTrip {
            index: self,
            record,
            events,
        }))
    }

    async fn forget(&self, ids: &[String]) {
        if let Err(e) = TripIndex::forget(self, ids).await {
            tracing::warn!(error = %e, "the trips index could not forget purged instances");
        }
    }
}

/// A trip's turn, to be recorded once the engine acknowledged it.
struct ObservedTrip {
    index: Arc<TripIndex>,
    record: TurnRecord,
    /// The turn's new events, when someone in this process follows the trip.
    events: Option<Arc<[Event]>>,
}

#[async_trait]
impl ObservedTurn for ObservedTrip {
    async fn record(self: Box<Self>, turn: Option<&WriteTurn<'_>>) {
        let ObservedTrip {
            index,
            record,
            events,
        } = *self;
        // Counted here, once, as the engine acknowledges the trip's last turn.
        if record.finished.is_some() {
            crate::telemetry::trip_finished(record.state());
        }
        super::traces::trip_traced(index.clone(), &record);
        // The turn is durable; a failure here leaves the index behind, which the repair pass
        // brings up to date (see `TripIndex::reconcile`).
        let recorded = match turn {
            Some(turn) => {
                index
                    .record_turn_during(turn, &record, events.as_ref())
                    .await
            }
            None => index.record_turn_with(&record, events.as_ref()).await,
        };
        if let Err(e) = recorded {
            tracing::warn!(instance_id = %record.instance_id, error = %e, "the trips index could not record a turn");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::Db;
    use crate::database::write_turns::WriteTurns;

    /// A trips index on a SQLite file of its own, removed when the folder is dropped.
    async fn sqlite_index() -> (TripIndex, sqlx::SqlitePool, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("index.db"))
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let (index, _) = TripIndex::open(Db::Sqlite(pool.clone()), WriteTurns::concurrent())
            .await
            .unwrap();
        (index, pool, dir)
    }

    /// Starting a trip answers once its first turn is recorded: the turn this process records
    /// wakes the start, one another process records is found by looking, and a trip nobody runs
    /// ends the wait when its time is up.
    #[tokio::test]
    async fn a_start_waits_for_the_first_turn_and_no_longer() {
        let (index, pool, _dir) = sqlite_index().await;
        let started = Started {
            traveller: "Ada".into(),
            created_ms: 1,
            token_sha256: "digest".into(),
        };
        for trip in ["here", "elsewhere", "nowhere"] {
            index.started(trip, &started).await.unwrap();
        }
        let wait = std::time::Duration::from_millis(30);

        let waiting = index.turn_waiters.wait_for("here");
        let record = TurnRecord {
            instance_id: "here".into(),
            seq: 1,
            updated_ms: 2,
            started: Some(started.clone()),
            progress: None,
            reports: Vec::new(),
            finished: None,
        };
        index.record_turn(&record).await.unwrap();
        assert!(waiting.next(std::time::Duration::ZERO).await, "woken");
        drop(waiting);
        assert!(index.wait_for_first_turn("here", wait).await.unwrap());

        let (seen, ()) = tokio::join!(
            index.wait_for_first_turn("elsewhere", std::time::Duration::from_secs(60)),
            async {
                // Another process's turn, while this one waits.
                tokio::time::sleep(wait).await;
                sqlx::query("UPDATE trips SET seq = 1 WHERE id = 'elsewhere'")
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        );
        assert!(seen.unwrap());

        assert!(!index.wait_for_first_turn("nowhere", wait).await.unwrap());
    }

    /// The repair pass runs every 30 s: with 100,000 trips parked, reading every row would fill
    /// SQLite's whole page cache each time.
    #[tokio::test]
    async fn the_repair_pass_reads_through_indexes_only() {
        let (index, pool, _dir) = sqlite_index().await;
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", index.suspect_sql()))
                .bind(0_i64)
                .fetch_all(&pool)
                .await
                .unwrap();
        let steps: Vec<&str> = plan.iter().map(|(.., step)| step.as_str()).collect();
        assert!(
            steps.iter().any(|s| s.contains("trips_awaiting_by_expiry")),
            "{steps:?}"
        );
        assert!(!steps.iter().any(|s| s.starts_with("SCAN")), "{steps:?}");
    }
}
