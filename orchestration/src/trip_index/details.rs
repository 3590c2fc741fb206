//! What the API shows of one trip besides its row (what its agents spent, the answers on its
//! plans, the trips that retry it or that it retries), read in one statement, with the row or
//! without: a trip's view is what clients poll, and each statement is a round trip to the store
//! (three on PostgreSQL, where the pool checks the connection before and after it).

use sqlx::{FromRow, Row};
use travel_agents::AgentName;

use super::answers::read_all;
use super::retries::links_of;
use super::rows::{COLUMNS, RowTuple, row_from};
use super::usage::{UsageTuple, usage_from};
use super::{IndexError, ModelUsage, RecordedAnswer, RetryLinks, TripIndex, TripRow};
use crate::database::{Db, on_db};

/// One trip's details, as [`TripIndex::usage_of`], [`TripIndex::answers`] and
/// [`TripIndex::retries`] read them one by one.
#[derive(Debug, Clone, PartialEq)]
pub struct TripDetails {
    /// Each agent's calls, per plan revision, the first revision's first.
    pub usage: Vec<(AgentName, ModelUsage)>,
    /// The answers on its plan revisions, the first revision's first.
    pub answers: Vec<RecordedAnswer>,
    pub retries: RetryLinks,
}

/// A call's tokens as the statement lists them: agent, revision, model, demo (a boolean on
/// PostgreSQL, 0 or 1 on SQLite), prompt, cached and completion tokens.
type UsageItem = (String, i64, String, serde_json::Value, i64, i64, i64);

/// The three parts as the statement answers them: JSON arrays of the calls, the answers and the
/// retry links.
type DetailsTuple = (String, String, String);

impl TripIndex {
    /// The trip's details, in one statement.
    pub async fn details(&self, instance_id: &str) -> Result<TripDetails, IndexError> {
        let sql = format!("SELECT {}", self.details_columns());
        let parts: DetailsTuple = on_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(instance_id)
            .fetch_one(pool)
            .await)?;
        details_from(instance_id, parts)
    }

    /// The trip's row and its details, in one statement; `None` when the index has no row.
    pub async fn row_and_details(
        &self,
        instance_id: &str,
    ) -> Result<Option<(TripRow, TripDetails)>, IndexError> {
        let sql = format!(
            "SELECT {COLUMNS}, {} FROM {} WHERE id = $1",
            self.details_columns(),
            self.trips
        );
        // The row's columns first (read as the row alone is), then the three parts.
        let found: Option<(RowTuple, DetailsTuple)> = on_db!(&self.db, |pool| {
            let found = sqlx::query(&sql)
                .bind(instance_id)
                .fetch_optional(pool)
                .await?;
            found
                .map(|r| {
                    let row = RowTuple::from_row(&r)?;
                    Ok::<_, sqlx::Error>((row, (r.try_get(12)?, r.try_get(13)?, r.try_get(14)?)))
                })
                .transpose()
        })?;
        let Some((row, parts)) = found else {
            return Ok(None);
        };
        Ok(Some((row_from(row), details_from(instance_id, parts)?)))
    }

    /// The three parts, each a JSON array made by the database, for the trip named `$1`.
    fn details_columns(&self) -> String {
        let (usage, answers, retries) = (&self.usage, &self.answers, &self.retries);
        match &self.db {
            Db::Sqlite(_) => format!(
                "(SELECT json_group_array(json_array(agent, revision, model, demo, prompt_tokens,
                         cached_tokens, completion_tokens)) FROM {usage} WHERE id = $1),
                 (SELECT json_group_array(json_array(revision, answer)) FROM {answers} WHERE id = $1),
                 (SELECT json_group_array(json_array(failed_id, retry_id)) FROM {retries}
                   WHERE failed_id = $1 OR retry_id = $1)"
            ),
            Db::Postgres(..) => format!(
                "(SELECT COALESCE(json_agg(json_build_array(agent, revision, model, demo,
                         prompt_tokens, cached_tokens, completion_tokens)), '[]') FROM {usage}
                   WHERE id = $1)::text,
                 (SELECT COALESCE(json_agg(json_build_array(revision, answer)), '[]')
                   FROM {answers} WHERE id = $1)::text,
                 (SELECT COALESCE(json_agg(json_build_array(failed_id, retry_id)), '[]')
                   FROM {retries} WHERE failed_id = $1 OR retry_id = $1)::text"
            ),
        }
    }
}

/// The details of `instance_id` from the statement's three parts.
fn details_from(
    instance_id: &str,
    (usage, answers, retries): DetailsTuple,
) -> Result<TripDetails, IndexError> {
    let id = || instance_id.to_owned();
    let mut usage: Vec<(AgentName, ModelUsage)> = parsed::<UsageItem>(&usage)?
        .into_iter()
        .filter_map(|(agent, revision, model, demo, p, c, o)| {
            let demo = demo.as_bool().unwrap_or(demo.as_i64() == Some(1));
            let row: UsageTuple = (id(), agent, revision, model, demo, p, c, o);
            usage_from(row).map(|(_, agent, spent)| (agent, spent))
        })
        .collect();
    usage.sort_by_key(|(_, spent)| spent.revision);
    let answers = parsed::<(i64, String)>(&answers)?
        .into_iter()
        .map(|(revision, answer)| (id(), revision, answer));
    let mut answers = read_all(answers.collect());
    answers.sort_by_key(|a| a.revision);
    Ok(TripDetails {
        usage,
        answers,
        retries: links_of(instance_id, parsed(&retries)?),
    })
}

/// A JSON array the statement made, its items read as `T` (rows this build cannot read, such as
/// an answer of an unknown kind, are left out, as the reads one by one leave them).
fn parsed<T: serde::de::DeserializeOwned>(json: &str) -> Result<Vec<T>, IndexError> {
    let items: Vec<serde_json::Value> =
        serde_json::from_str(json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(items
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::write_turns::WriteTurns;
    use crate::progress::{ApprovalDecision, ReviewAnswer};

    /// Two trips' records (one the retry of the other), then each read one way and the other.
    async fn details_read_as_one_by_one(index: &TripIndex) {
        let insert = format!(
            "INSERT INTO {} (id, agent, model, demo, prompt_tokens, cached_tokens, completion_tokens, revision)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            index.usage
        );
        let calls = [
            ("failed", "destination", "gpt-x", false, 10, 2, 5, 1),
            ("failed", "itinerary", "demo", true, 7, 0, 3, 2),
            ("failed", "destination", "demo", true, 1, 1, 1, 2),
            ("failed", "itinerary", "gpt-x", false, 70, 30, 20, 1),
            ("failed", "no-such-agent", "gpt-x", false, 1, 1, 1, 1),
            ("retry", "packing", "gpt-x", false, 3, 0, 3, 1),
        ];
        for (id, agent, model, demo, p, c, o, revision) in calls {
            on_db!(&index.db, |pool| sqlx::query(&insert)
                .bind(id)
                .bind(agent)
                .bind(model)
                .bind(demo)
                .bind(p as i64)
                .bind(c as i64)
                .bind(o as i64)
                .bind(revision as i64)
                .execute(pool)
                .await
                .map(|_| ()))
            .unwrap();
        }
        for (revision, approved) in [(2, true), (1, false)] {
            let answer =
                ReviewAnswer::Decision(ApprovalDecision::new(approved, Some("why".into())));
            index
                .claim_answer("failed", revision, &answer)
                .await
                .unwrap();
        }
        assert!(index.claim_retry("failed", "retry").await.unwrap());

        for id in ["failed", "retry", "nobody"] {
            let details = index.details(id).await.unwrap();
            let usage: Vec<_> = index
                .usage_of(&[id.to_owned()])
                .await
                .unwrap()
                .into_iter()
                .map(|(_, agent, spent)| (agent, spent))
                .collect();
            let mut by_revision = details.usage.clone();
            let mut expected = usage.clone();
            for list in [&mut by_revision, &mut expected] {
                list.sort_by(|a, b| {
                    (a.1.revision, a.0.as_str()).cmp(&(b.1.revision, b.0.as_str()))
                });
            }
            assert_eq!(by_revision, expected, "{id}");
            assert!(
                details.usage.is_sorted_by_key(|(_, spent)| spent.revision),
                "{id}"
            );
            assert_eq!(details.answers, index.answers(id).await.unwrap(), "{id}");
            assert_eq!(details.retries, index.retries(id).await.unwrap(), "{id}");
        }
        // With the row: the row as read alone, the same details; no row, nothing.
        let started = crate::trip_index::Started {
            traveller: "Ada".into(),
            created_ms: 1,
            token_sha256: "digest".into(),
        };
        index.started("failed", &started).await.unwrap();
        let (row, details) = index.row_and_details("failed").await.unwrap().unwrap();
        assert_eq!(Some(row), index.get("failed").await.unwrap());
        assert_eq!(details, index.details("failed").await.unwrap());
        assert!(index.row_and_details("retry").await.unwrap().is_none());
        let failed = index.details("failed").await.unwrap();
        assert_eq!(failed.usage.len(), 4, "the unknown agent left out");
        assert!(failed.usage.iter().any(|(_, spent)| spent.demo));
        assert_eq!(failed.answers.len(), 2);
        assert_eq!(failed.retries.retried_by.as_deref(), Some("retry"));
    }

    #[tokio::test]
    async fn sqlite_details_read_as_the_reads_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("index.db"))
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let (index, _) = TripIndex::open(Db::Sqlite(pool), WriteTurns::concurrent())
            .await
            .unwrap();
        details_read_as_one_by_one(&index).await;
    }

    #[tokio::test]
    async fn postgres_details_read_as_the_reads_one_by_one() {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("details_{}", travel_platform::secret::random_hex(6));
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&format!("{url}?sslmode=disable"))
            .await
            .unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await
            .unwrap();
        let (index, _) = TripIndex::open(
            Db::Postgres(pool.clone(), schema.clone()),
            WriteTurns::concurrent(),
        )
        .await
        .unwrap();
        details_read_as_one_by_one(&index).await;
        pool.close().await;
        crate::engine::postgres::drop_schema(&url, &schema)
            .await
            .unwrap();
    }
}
