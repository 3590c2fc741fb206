//! Trips' rows as the pages and the API read them: one trip, or a page of trips filtered by state,
//! id prefix and creation time, with the counts per state; and the rows of purged trips removed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{IndexError, TripIndex};
use crate::database::on_db;
use crate::progress::{TripOutcome, TripProgress, TripState, TripStep};
use crate::timeline::utc_from_ms;
use crate::trip_id::TripId;

/// A value bound into a query built at run time.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Text(String),
    Int(i64),
}

/// One trip as the index has it.
#[derive(Debug, Clone, PartialEq)]
pub struct TripRow {
    pub instance_id: TripId,
    pub state: TripState,
    pub step: Option<TripStep>,
    pub destination: Option<String>,
    pub traveller: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub progress: Option<TripProgress>,
    pub outcome: Option<TripOutcome>,
    pub error: Option<String>,
    pub token_sha256: Option<String>,
}

/// Filters and paging of [`TripIndex::page`].
#[derive(Debug, Clone, Default)]
pub struct RowQuery {
    pub state: Option<TripState>,
    pub prefix: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub offset: usize,
    pub limit: usize,
}

/// A page of rows, the number matching, and the counts per state of all trips.
#[derive(Debug, Clone)]
pub struct RowPage {
    pub rows: Vec<TripRow>,
    pub total: usize,
    pub counts: BTreeMap<String, usize>,
}

pub(super) const COLUMNS: &str = "id, state, step, destination, traveller, created_ms, updated_ms, expires_ms, progress, outcome, error, token_sha256";

pub(super) type RowTuple = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The `WHERE` clause of a trips query and its arguments (`$1`, `$2`, ...).
pub(super) fn filter(query: &RowQuery) -> (String, Vec<Arg>) {
    let mut conditions = Vec::new();
    let mut args = Vec::new();
    let mut arg = |condition: &str, value: Arg| {
        args.push(value);
        conditions.push(condition.replace('?', &format!("${}", args.len())));
    };
    if let Some(state) = query.state {
        arg("state = ?", Arg::Text(state.as_str().to_owned()));
    }
    if let Some(prefix) = query
        .prefix
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        arg(
            &format!("substr(id, 1, {}) = ?", prefix.chars().count()),
            Arg::Text(prefix.to_owned()),
        );
    }
    if let Some(after) = query.created_after {
        arg("created_ms >= ?", Arg::Int(after.timestamp_millis()));
    }
    if let Some(before) = query.created_before {
        arg("created_ms < ?", Arg::Int(before.timestamp_millis()));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    (filter, args)
}

pub(super) fn row_from(t: RowTuple) -> TripRow {
    let (
        instance_id,
        state,
        step,
        destination,
        traveller,
        created,
        updated,
        expires,
        progress,
        outcome,
        error,
        token,
    ) = t;
    TripRow {
        instance_id: TripId::recorded(instance_id),
        state: TripState::parse(&state).unwrap_or(TripState::Planning),
        step: step.as_deref().and_then(TripStep::parse),
        destination,
        traveller,
        created_at: utc_from_ms(created as u64),
        updated_at: utc_from_ms(updated as u64),
        expires_at: expires.and_then(|ms| utc_from_ms(ms as u64)),
        progress: progress.and_then(|p| serde_json::from_str(&p).ok()),
        outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
        error,
        token_sha256: token,
    }
}

impl TripIndex {
    /// One trip's row.
    pub async fn get(&self, instance_id: &str) -> Result<Option<TripRow>, IndexError> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE id = $1", self.trips);
        let row: Option<RowTuple> = on_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(instance_id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(row_from))
    }

    /// Trips newest first, filtered and paged, with the counts per state of all trips.
    pub async fn page(&self, query: &RowQuery) -> Result<RowPage, IndexError> {
        let (filter, args) = filter(query);
        let t = &self.trips;
        let rows_sql = format!(
            "SELECT {COLUMNS} FROM {t} {filter} ORDER BY created_ms DESC, id DESC LIMIT {} OFFSET {}",
            query.limit, query.offset
        );
        let total_sql = format!("SELECT COUNT(*) FROM {t} {filter}");
        let counts_sql = format!("SELECT state, COUNT(*) FROM {t} GROUP BY state");
        let (rows, total, counts) = on_db!(&self.db, |pool| {
            let mut rows = sqlx::query_as::<_, RowTuple>(&rows_sql);
            let mut total = sqlx::query_scalar::<_, i64>(&total_sql);
            for a in &args {
                (rows, total) = match a {
                    Arg::Text(s) => (rows.bind(s.clone()), total.bind(s.clone())),
                    Arg::Int(i) => (rows.bind(*i), total.bind(*i)),
                };
            }
            let rows = rows.fetch_all(pool).await?;
            let total = total.fetch_one(pool).await?;
            let counts: Vec<(String, i64)> = sqlx::query_as(&counts_sql).fetch_all(pool).await?;
            Ok::<_, sqlx::Error>((rows, total, counts))
        })?;
        Ok(RowPage {
            rows: rows.into_iter().map(row_from).collect(),
            total: total as usize,
            counts: counts
                .into_iter()
                .map(|(state, n)| (state, n as usize))
                .collect(),
        })
    }

    /// Purged instances leave the index and the ledger.
    pub async fn forget(&self, ids: &[String]) -> Result<(), IndexError> {
        let _turn = self.writes.take().await;
        let retries = format!(
            "DELETE FROM {} WHERE failed_id = $1 OR retry_id = $1",
            self.retries
        );
        let mut statements: Vec<String> =
            [&self.trips, &self.answers, &self.conversations, &self.usage]
                .iter()
                .map(|table| format!("DELETE FROM {table} WHERE id = $1"))
                .collect();
        statements.push(retries);
        for sql in &statements {
            for id in ids {
                on_db!(&self.db, |pool| sqlx::query(sql)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected()))?;
            }
        }
        Ok(())
    }
}
