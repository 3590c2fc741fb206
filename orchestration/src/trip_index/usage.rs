//! The tokens each agent's calls spent, per trip and plan revision, and summed per model over
//! the trips a query selects: what the costs are computed from.

use travel_agents::AgentName;

use super::rows::{Arg, filter};
use super::{IndexError, RowQuery, TripIndex};
use crate::database::on_db;

/// Tokens spent with one model (by one agent, or summed).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelUsage {
    pub model: String,
    pub demo: bool,
    pub usage: travel_agents::TokenUsage,
    /// The plan revision the call was for (1 when summed).
    pub revision: u32,
}

impl ModelUsage {
    fn new(model: String, demo: bool, prompt: i64, cached: i64, completion: i64) -> Self {
        let n = |v: i64| v.max(0) as u64;
        Self {
            model,
            demo,
            usage: travel_agents::TokenUsage {
                prompt_tokens: n(prompt),
                cached_tokens: n(cached),
                completion_tokens: n(completion),
                total_tokens: n(prompt) + n(completion),
            },
            revision: 1,
        }
    }
}

/// A row of the agents' calls: trip, agent, revision, model, demo, prompt, cached and completion
/// tokens.
pub(super) type UsageTuple = (String, String, i64, String, bool, i64, i64, i64);

/// A row as (trip, agent, tokens); `None` for an agent this build does not know.
pub(super) fn usage_from(
    (id, agent, revision, model, demo, p, c, o): UsageTuple,
) -> Option<(String, AgentName, ModelUsage)> {
    let agent = AgentName::ALL.into_iter().find(|a| a.as_str() == agent)?;
    let mut spent = ModelUsage::new(model, demo, p, c, o);
    spent.revision = revision.max(1) as u32;
    Some((id, agent, spent))
}

impl TripIndex {
    /// The tokens each of `ids` spent: (trip, agent, tokens), an agent's calls for every plan
    /// revision in revision order.
    pub async fn usage_of(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, AgentName, ModelUsage)>, IndexError> {
        let sql = format!(
            "SELECT id, agent, revision, model, demo, prompt_tokens, cached_tokens, completion_tokens
             FROM {} WHERE id = $1 ORDER BY revision",
            self.usage
        );
        let mut found = Vec::new();
        for id in ids {
            let rows: Vec<UsageTuple> = on_db!(&self.db, |pool| sqlx::query_as(&sql)
                .bind(id)
                .fetch_all(pool)
                .await)?;
            found.extend(rows.into_iter().filter_map(usage_from));
        }
        Ok(found)
    }

    /// The tokens the trips a query selects spent, summed per model (paging ignored), and how
    /// many of them spent any.
    pub async fn usage_matching(
        &self,
        query: &RowQuery,
    ) -> Result<(Vec<ModelUsage>, usize), IndexError> {
        let (filter, args) = filter(query);
        let selected = format!("SELECT id FROM {} {filter}", self.trips);
        let sums = format!(
            "SELECT model, demo, CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(cached_tokens) AS BIGINT),
                    CAST(SUM(completion_tokens) AS BIGINT)
             FROM {} WHERE id IN ({selected}) GROUP BY model, demo",
            self.usage
        );
        let count = format!(
            "SELECT COUNT(DISTINCT id) FROM {} WHERE id IN ({selected})",
            self.usage
        );
        let (rows, trips) = on_db!(&self.db, |pool| {
            let mut rows = sqlx::query_as::<_, (String, bool, i64, i64, i64)>(&sums);
            let mut trips = sqlx::query_scalar::<_, i64>(&count);
            for a in &args {
                (rows, trips) = match a {
                    Arg::Text(s) => (rows.bind(s.clone()), trips.bind(s.clone())),
                    Arg::Int(i) => (rows.bind(*i), trips.bind(*i)),
                };
            }
            let rows = rows.fetch_all(pool).await?;
            let trips = trips.fetch_one(pool).await?;
            Ok::<_, sqlx::Error>((rows, trips))
        })?;
        let usage = rows
            .into_iter()
            .map(|(model, demo, p, c, o)| ModelUsage::new(model, demo, p, c, o))
            .collect();
        Ok((usage, trips as usize))
    }
}
