//! The shared store: duroxide-pg on PostgreSQL, for any number of `serve` processes.
//!
//! Each process listens on one channel of the database; whenever it enqueues work it says so with
//! `NOTIFY`, and the others wake waiting dispatchers at once instead of finding the work at their
//! next safety tick. With thousands of trips in flight work is enqueued thousands of times a
//! second, so the notices are gathered: one `NOTIFY` at a time per process, saying how many
//! items arrived on each queue since the last one (payload `activities:37:<process>`), and a
//! process skips its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use duroxide_pg::{PostgresProvider, ProviderConfig};
use sqlx::postgres::PgConnectOptions;
use travel_platform::azure::EntraTokenSource;

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

/// The audience of Azure Database for PostgreSQL's Microsoft Entra tokens.
pub const ENTRA_SCOPE: &str = "https://ossrdbms-aad.database.windows.net/.default";

/// How often the Entra token of the pool's new connections is renewed (tokens last about an
/// hour; the token source replaces one five minutes before it expires).
const TOKEN_RENEWAL: Duration = Duration::from_secs(240);

/// The provider, and with Entra sign-in the task that keeps its token fresh (it stops when
/// dropped).
pub struct Opened {
    pub provider: PostgresProvider,
    pub token_renewal: Option<AbortOnDrop>,
}

pub async fn open(settings: &PostgresSettings) -> Result<Opened, EngineError> {
    if !settings.entra {
        return Ok(Opened {
            provider: provider(settings, settings.url.clone()).await?,
            token_renewal: None,
        });
    }
    let http = travel_platform::http::shared_client();
    let choice = travel_platform::azure::CredentialChoice::from_env();
    tracing::info!(credential = %choice.describe(), "signing in to PostgreSQL with Microsoft Entra");
    let credential = choice.build(http).map_err(|e| EngineError::Store {
        location: redacted(&settings.url),
        message: format!("no Microsoft Entra credential ({}): {e}", choice.describe()),
    })?;
    let tokens = EntraTokenSource::new(credential, ENTRA_SCOPE);
    open_with_entra(settings, tokens, TOKEN_RENEWAL).await
}

/// Signs in with tokens from `tokens` (the service's own credential choice: workload identity,
/// a system- or user-assigned managed identity, or developer tools), and renews the token of the
/// pool's new connections every `renewal`.
pub async fn open_with_entra(
    settings: &PostgresSettings,
    tokens: EntraTokenSource,
    renewal: Duration,
) -> Result<Opened, EngineError> {
    let failed = |message: String| EngineError::Store {
        location: redacted(&settings.url),
        message,
    };
    let token = tokens
        .token()
        .await
        .map_err(|e| failed(format!("no Microsoft Entra token for PostgreSQL: {e}")))?;
    let provider = provider(settings, url_with_token(&settings.url, &token)?).await?;
    let pool = provider.pool().clone();
    let url = settings.url.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(renewal).await;
            let renewed = match tokens.token().await {
                Ok(token) => url_with_token(&url, &token).and_then(|u| {
                    u.parse::<PgConnectOptions>()
                        .map_err(|e| failed_url(&url, e))
                }),
                Err(e) => Err(failed_url(&url, e)),
            };
            match renewed {
                Ok(options) => pool.set_connect_options(options),
                Err(e) => {
                    tracing::warn!(error = %e, "could not renew the PostgreSQL Entra token; trying again")
                }
            }
        }
    });
    Ok(Opened {
        provider,
        token_renewal: Some(AbortOnDrop(task)),
    })
}

pub(super) fn failed_url(url: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Store {
        location: redacted(url),
        message: e.to_string(),
    }
}

/// The URL with `token` as its password; TLS with the server's name checked unless the URL says
/// otherwise (`sslmode=...`).
pub fn url_with_token(url: &str, token: &str) -> Result<String, EngineError> {
    let mut parsed = url::Url::parse(url).map_err(|e| failed_url(url, e))?;
    if parsed.username().is_empty() || parsed.path().trim_start_matches('/').is_empty() {
        return Err(failed_url(
            url,
            "with Microsoft Entra sign-in the URL must name the user (the Entra principal's role) and the database",
        ));
    }
    parsed
        .set_password(Some(token))
        .map_err(|()| failed_url(url, "the URL cannot carry a password"))?;
    if !parsed.query_pairs().any(|(k, _)| k == "sslmode") {
        parsed
            .query_pairs_mut()
            .append_pair("sslmode", "verify-full");
    }
    Ok(parsed.to_string())
}

/// The URL to connect with: one that names this machine (`localhost`, `127.0.0.1`, `::1`) and
/// does not set `sslmode` gets `sslmode=disable`. TLS to the same machine protects nothing
/// (the bytes never leave it), yet sqlx, like libpq, tries it first by default, and encrypting
/// every round trip of the store's forty-odd transactions a trip cost a quarter of the
/// machine's CPU at 1,000 trips in flight (`docs/benchmarks.md`). Any other URL is unchanged.
fn without_tls_to_this_machine(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    // `postgres:` is not a scheme the URL standard knows, so its host is a plain name.
    let this_machine = parsed.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    let tls_chosen = parsed
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("sslmode") || k.eq_ignore_ascii_case("ssl-mode"));
    if !this_machine || tls_chosen {
        return url.to_owned();
    }
    parsed.query_pairs_mut().append_pair("sslmode", "disable");
    parsed.to_string()
}

async fn provider(
    settings: &PostgresSettings,
    url: String,
) -> Result<PostgresProvider, EngineError> {
    let mut config = ProviderConfig::url(without_tls_to_this_machine(&url));
    config.schema_name = Some(settings.schema.clone());
    PostgresProvider::new_with_config(config)
        .await
        .map_err(|e| failed_url(&settings.url, format!("{e:#}")))
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

/// The channel the processes of one schema share.
fn channel(schema: &str) -> String {
    format!("{schema}_work")
}

/// Announces enqueued work to the other processes.
#[derive(Debug)]
pub struct NotifyPeers {
    shared: Arc<Announcing>,
}

/// What is waiting to be announced, and whether a notice is being sent.
#[derive(Debug)]
struct Announcing {
    pool: sqlx::PgPool,
    channel: String,
    /// This process, so that it skips its own notices.
    process: String,
    /// Items enqueued since the last notice: orchestrations, activities.
    arrived: [AtomicUsize; 2],
    sending: AtomicBool,
}

/// The most dispatchers one notice wakes.
const MOST_WOKEN_BY_A_NOTICE: usize = 256;

impl NotifyPeers {
    pub fn new(pool: sqlx::PgPool, schema: &str) -> Self {
        Self {
            shared: Arc::new(Announcing {
                pool,
                channel: channel(schema),
                process: travel_platform::secret::random_hex(8),
                arrived: Default::default(),
                sending: AtomicBool::new(false),
            }),
        }
    }

    /// The name this process signs its notices with.
    pub fn process(&self) -> &str {
        &self.shared.process
    }
}

fn slot(queue: Queue) -> usize {
    match queue {
        Queue::Orchestrations => 0,
        Queue::Activities => 1,
    }
}

impl Peers for NotifyPeers {
    fn announce(&self, queue: Queue) {
        let shared = &self.shared;
        shared.arrived[slot(queue)].fetch_add(1, Ordering::AcqRel);
        if shared.sending.swap(true, Ordering::AcqRel) {
            // The notice being sent, or the next one, carries it.
            return;
        }
        let shared = shared.clone();
        // Not awaited: a late or lost notice only delays the others until their safety tick.
        tokio::spawn(async move {
            loop {
                for queue in [Queue::Orchestrations, Queue::Activities] {
                    let count = shared.arrived[slot(queue)].swap(0, Ordering::AcqRel);
                    if count > 0 {
                        shared.send(queue, count).await;
                    }
                }
                shared.sending.store(false, Ordering::Release);
                // Announced meanwhile, after the counts were taken: send again, unless another
                // sender took over.
                let more = shared.arrived.iter().any(|n| n.load(Ordering::Acquire) > 0);
                if !more || shared.sending.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        });
    }
}

impl Announcing {
    async fn send(&self, queue: Queue, count: usize) {
        let payload = format!("{}:{count}:{}", queue.as_str(), self.process);
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(payload)
            .execute(&self.pool)
            .await
        {
            tracing::debug!(error = %e, "could not notify the other processes");
        }
    }
}

/// A notice's queue and count, unless `own` sent it. A bare queue name (a process of an earlier
/// release) counts one.
fn notice(payload: &str, own: &str) -> Option<(Queue, usize)> {
    let mut parts = payload.split(':');
    let queue = Queue::parse(parts.next()?)?;
    let count = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    if parts.next() == Some(own) {
        return None;
    }
    Some((queue, count))
}

/// Listens for the other processes' notices and wakes this process' dispatchers; reconnects after
/// a lost connection.
pub fn listen(pool: sqlx::PgPool, schema: &str, own: String, wakeups: Arc<Wakeups>) -> AbortOnDrop {
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
                    Ok(received) => {
                        if let Some((queue, count)) = notice(received.payload(), &own) {
                            wakeups.work_arrived(queue, count.min(MOST_WOKEN_BY_A_NOTICE));
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

#[cfg(test)]
mod tests {
    #[test]
    fn notices_say_how_many_arrived_and_a_process_skips_its_own() {
        use super::{Queue, notice};
        assert_eq!(
            notice("activities:37:a1b2", "ffff"),
            Some((Queue::Activities, 37))
        );
        assert_eq!(notice("activities:37:a1b2", "a1b2"), None);
        assert_eq!(
            notice("orchestrations", "a1b2"),
            Some((Queue::Orchestrations, 1)),
            "an earlier release's notice"
        );
        assert_eq!(notice("bookings:1:x", "y"), None);
    }

    use std::sync::atomic::{AtomicUsize, Ordering};

    use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};

    use super::*;

    #[test]
    fn the_token_is_the_password_and_tls_checks_the_server_name() {
        let url = url_with_token(
            "postgres://my-app-identity@server.postgres.database.azure.com:5432/travel",
            "eyJ0eXAi.payload.sig-_",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://my-app-identity:eyJ0eXAi.payload.sig-_@server.postgres.database.azure.com:5432/travel?sslmode=verify-full"
        );
        let kept = url_with_token("postgres://me@db/travel?sslmode=require", "t").unwrap();
        assert!(kept.ends_with("?sslmode=require"), "{kept}");
        for incomplete in ["postgres://db/travel", "postgres://me@db/", "not a url"] {
            assert!(url_with_token(incomplete, "t").is_err(), "{incomplete}");
        }
    }

    #[test]
    fn no_tls_to_this_machine_unless_the_url_asks_for_it() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
            ),
            (
                "postgres://u:p@localhost/db?application_name=x",
                "postgres://u:p@localhost/db?application_name=x&sslmode=disable",
            ),
            (
                "postgres://u@[::1]:5432/db",
                "postgres://u@[::1]:5432/db?sslmode=disable",
            ),
            // Asked for, or another machine: unchanged.
            (
                "postgres://u@127.0.0.1/db?sslmode=require",
                "postgres://u@127.0.0.1/db?sslmode=require",
            ),
            ("postgres://u@db.internal/db", "postgres://u@db.internal/db"),
            ("postgres://u@10.0.0.5/db", "postgres://u@10.0.0.5/db"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(without_tls_to_this_machine(url), expected, "{url}");
        }
    }

    /// Hands out `token-1`, `token-2`, ..., each expiring at once (so none is reused).
    #[derive(Debug, Default)]
    struct CountingCredential(AtomicUsize);

    #[async_trait::async_trait]
    impl TokenCredential for CountingCredential {
        async fn get_token(
            &self,
            scopes: &[&str],
            _: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            assert_eq!(scopes, [ENTRA_SCOPE]);
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(AccessToken::new(
                Secret::new(format!("token-{n}")),
                azure_core::time::OffsetDateTime::now_utc(),
            ))
        }
    }

    #[tokio::test]
    async fn entra_sign_in_renews_the_token_of_new_connections() {
        // The local server trusts every connection, so any token signs in; what is checked is
        // that tokens are fetched for the right audience, again and again, and that the pool
        // still opens connections with the renewed options.
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let settings = PostgresSettings {
            url: format!("{url}?sslmode=disable"),
            schema: format!("entra_{}", travel_platform::secret::random_hex(6)),
            entra: true,
        };
        let credential = Arc::new(CountingCredential::default());
        let tokens = EntraTokenSource::new(credential.clone(), ENTRA_SCOPE);
        let opened = open_with_entra(&settings, tokens, Duration::from_millis(50))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(credential.0.load(Ordering::SeqCst) >= 4);
        let pool = opened.provider.pool().clone();
        let fresh = sqlx::pool::PoolConnection::detach(pool.acquire().await.unwrap());
        drop(fresh);
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(one, 1);
        drop(opened);
        pool.close().await;
        drop_schema(&url, &settings.schema).await.unwrap();
    }
}
