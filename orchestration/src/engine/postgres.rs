//! The shared store: duroxide-pg on PostgreSQL, for any number of `serve` processes.
//!
//! Each process listens on one channel of the database; whenever it enqueues work it says so with
//! `NOTIFY` (payload: the queue), and the others wake a waiting dispatcher at once instead of
//! finding the work at their next safety tick.

use std::sync::Arc;
use std::time::Duration;

use duroxide_pg::{EntraAuthOptions, PostgresProvider, ProviderConfig};

use super::EngineError;
use super::store::Peers;
use super::wakeups::{AbortOnDrop, Queue, Wakeups};

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    pub url: String,
    pub schema: String,
    /// Sign in with a Microsoft Entra token (Azure Database for PostgreSQL) instead of a password.
    pub entra: bool,
}

/// Shows the URL without its password.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(unparsable database URL)".into(),
    }
}

pub async fn open(settings: &PostgresSettings) -> Result<PostgresProvider, EngineError> {
    let failed = |message: String| EngineError::Store {
        location: redacted(&settings.url),
        message,
    };
    let mut config = if settings.entra {
        let url = url::Url::parse(&settings.url).map_err(|e| failed(e.to_string()))?;
        let host = url
            .host_str()
            .ok_or_else(|| failed("the URL names no host".into()))?
            .to_owned();
        let database = url.path().trim_start_matches('/').to_owned();
        let user = percent_decode(url.username());
        if user.is_empty() || database.is_empty() {
            return Err(failed("with Microsoft Entra sign-in the URL must name the user (the Entra principal's role) and the database".into()));
        }
        ProviderConfig::entra(
            host,
            url.port().unwrap_or(5432),
            database,
            user,
            EntraAuthOptions::new(),
        )
    } else {
        ProviderConfig::url(settings.url.clone())
    };
    config.schema_name = Some(settings.schema.clone());
    PostgresProvider::new_with_config(config)
        .await
        .map_err(|e| failed(format!("{e:#}")))
}

/// Drops a schema and everything in it: for throwaway stores such as the benchmark's.
pub async fn drop_schema(url: &str, schema: &str) -> Result<(), sqlx::Error> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    // Unquoted, as duroxide-pg and the trips index name it.
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("u={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The channel the processes of one schema share.
fn channel(schema: &str) -> String {
    format!("{schema}_work")
}

/// Announces enqueued work to the other processes.
#[derive(Debug)]
pub struct NotifyPeers {
    pool: sqlx::PgPool,
    channel: String,
}

impl NotifyPeers {
    pub fn new(pool: sqlx::PgPool, schema: &str) -> Self {
        Self {
            pool,
            channel: channel(schema),
        }
    }
}

impl Peers for NotifyPeers {
    fn announce(&self, queue: Queue) {
        let pool = self.pool.clone();
        let channel = self.channel.clone();
        // Not awaited: a late or lost notice only delays the others until their safety tick.
        tokio::spawn(async move {
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(&channel)
                .bind(queue.as_str())
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %e, "could not notify the other processes");
            }
        });
    }
}

/// Listens for the other processes' notices and wakes this process' dispatchers; reconnects after
/// a lost connection.
pub fn listen(pool: sqlx::PgPool, schema: &str, wakeups: Arc<Wakeups>) -> AbortOnDrop {
    let channel = channel(schema);
    AbortOnDrop(tokio::spawn(async move {
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other processes' work; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(&channel).await {
                tracing::warn!(error = %e, "cannot listen for other processes' work; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            loop {
                match listener.recv().await {
                    Ok(notice) => {
                        if let Some(queue) = Queue::parse(notice.payload()) {
                            wakeups.work_arrived(queue, 1);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the notification connection; reconnecting");
                        break;
                    }
                }
            }
        }
    }))
}
