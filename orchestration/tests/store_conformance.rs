//! duroxide's provider conformance suite (its `provider-test` feature) and its stress test, run
//! against the stores this service runs on: the SQLite and the PostgreSQL provider as wrapped by
//! `WorkflowStore` (wake-ups, turn-taking writes, the trips index).
//!
//! PostgreSQL: `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`); each factory
//! uses a schema of its own, dropped afterwards.

#[path = "conformance/stress.rs"]
mod stress;

use std::sync::Arc;
use std::time::Duration;

use duroxide::providers::Provider;
use tokio::sync::OnceCell;
use travel_orchestration::{EngineTuning, PostgresSettings, Store, StoreLocation};

const TEST_LOCK_TIMEOUT: Duration = Duration::from_millis(1000);

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn tuning() -> EngineTuning {
    EngineTuning {
        safety_poll: Duration::from_millis(200),
        ..EngineTuning::default()
    }
}

/// duroxide 0.1.32's `test_multi_threaded_lock_expiration_recovery`, for a provider whose lease
/// starts when the fetch claims the work (duroxide-pg 0.1.38, migration 0025) rather than when
/// the fetch was asked for: the first claim in a new schema plans the fetch function's statements
/// (about 100 ms here), which upstream's 100 ms margin after the request would measure. The same
/// three fetchers, with the margin taken after the claim.
async fn lease_at_claim_expiration_recovery(factory: &StoreFactory) {
    use duroxide::provider_validations::ProviderFactory;
    let provider = factory.create_provider().await;
    provider
        .enqueue_for_orchestrator(start("expiration-instance"), None)
        .await
        .unwrap();
    let lock_timeout = factory.lock_timeout();
    // Fetcher 1 claims the instance and never acknowledges it (a crashed worker).
    let (item, first_token, _) = provider
        .fetch_orchestration_item(lock_timeout, Duration::ZERO, None)
        .await
        .unwrap()
        .expect("the instance is claimed");
    let claimed = std::time::Instant::now();
    assert_eq!(item.instance, "expiration-instance");
    // Fetcher 2, while the lease runs: nothing.
    let (during, after) = futures::join!(
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            provider
                .fetch_orchestration_item(lock_timeout, Duration::ZERO, None)
                .await
                .unwrap()
        },
        // Fetcher 3, once the lease has run out: the instance, under a new lease.
        async {
            tokio::time::sleep(
                (lock_timeout + Duration::from_millis(100)).saturating_sub(claimed.elapsed()),
            )
            .await;
            provider
                .fetch_orchestration_item(lock_timeout, Duration::ZERO, None)
                .await
                .unwrap()
        }
    );
    assert!(during.is_none(), "the instance is leased");
    let (item, token, _) = after.expect("the expired lease lets another fetcher in");
    assert_eq!(item.instance, "expiration-instance");
    assert_ne!(token, first_token, "a new lease");
}

/// The message that starts `instance` of a test orchestration.
fn start(instance: &str) -> duroxide::providers::WorkItem {
    duroxide::providers::WorkItem::StartOrchestration {
        instance: instance.into(),
        orchestration: "TestOrch".into(),
        input: "{}".into(),
        version: Some("1.0.0".into()),
        parent_instance: None,
        parent_id: None,
        parent_execution_id: None,
        execution_id: 1,
    }
}

/// The next turn `provider` hands out (there must be one).
async fn next_turn(provider: &Arc<dyn Provider>) -> duroxide::providers::OrchestrationItem {
    let (item, _, _) = provider
        .fetch_orchestration_item(TEST_LOCK_TIMEOUT, Duration::ZERO, None)
        .await
        .unwrap()
        .expect("a trip to run");
    item
}

/// Which backend a factory opens.
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// One store per factory, shared by every `create_provider` call (like upstream's shared
/// in-memory database); removed when the factory is dropped.
struct StoreFactory {
    backend: Backend,
    store: OnceCell<Store>,
    folder: tempfile::TempDir,
    schema: String,
}

impl StoreFactory {
    fn new(backend: Backend) -> Self {
        Self {
            backend,
            store: OnceCell::new(),
            folder: tempfile::tempdir().unwrap(),
            schema: format!("conformance_{}", fastrand::u64(..)),
        }
    }

    async fn store(&self) -> &Store {
        self.store
            .get_or_init(|| async {
                let location = match self.backend {
                    Backend::Sqlite => StoreLocation::Sqlite {
                        path: self.folder.path().join("workflows.db"),
                        exclusive: true,
                    },
                    Backend::Postgres => StoreLocation::Postgres(PostgresSettings {
                        url: database_url(),
                        schema: self.schema.clone(),
                        entra: false,
                    }),
                };
                Store::open(&location, &tuning())
                    .await
                    .expect("the store opens")
            })
            .await
    }

    async fn execute(&self, sqlite: &str, postgres: &str, instance: &str) -> i64 {
        match self.store().await.index.db() {
            travel_orchestration::trip_index::Db::Sqlite(pool) => sqlx::query_scalar(sqlite)
                .bind(instance)
                .fetch_one(pool)
                .await
                .expect("test SQL runs"),
            travel_orchestration::trip_index::Db::Postgres(pool, schema) => {
                sqlx::query_scalar(&postgres.replace("{schema}", schema))
                    .bind(instance)
                    .fetch_one(pool)
                    .await
                    .expect("test SQL runs")
            }
        }
    }
}

impl Drop for StoreFactory {
    fn drop(&mut self) {
        if !matches!(self.backend, Backend::Postgres) {
            return;
        }
        let schema = self.schema.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(pool) = sqlx::PgPool::connect(&database_url()).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&pool)
                        .await;
                }
            });
        })
        .join()
        .unwrap();
    }
}

#[async_trait::async_trait]
impl duroxide::provider_validations::ProviderFactory for StoreFactory {
    async fn create_provider(&self) -> Arc<dyn Provider> {
        self.store().await.provider.clone()
    }

    fn lock_timeout(&self) -> Duration {
        TEST_LOCK_TIMEOUT
    }

    fn short_poll_threshold(&self) -> Duration {
        match self.backend {
            Backend::Sqlite => Duration::from_millis(100),
            Backend::Postgres => Duration::from_millis(500),
        }
    }

    async fn corrupt_instance_history(&self, instance: &str) {
        self.execute(
            "UPDATE history SET event_data = 'NOT_VALID_JSON{{{' WHERE instance_id = ? RETURNING 0",
            // duroxide-pg reads history as JSON inside its SQL: the corruption is an unknown event.
            r#"WITH u AS (UPDATE {schema}.history SET event_data = '{"type":"NotAnEvent"}' WHERE instance_id = $1 RETURNING 0) SELECT COUNT(*) FROM u"#,
            instance,
        )
        .await;
    }

    async fn get_max_attempt_count(&self, instance: &str) -> u32 {
        self.execute(
            "SELECT COALESCE(MAX(attempt_count), 0) FROM orchestrator_queue WHERE instance_id = ?",
            "SELECT COALESCE(MAX(attempt_count), 0)::BIGINT FROM {schema}.orchestrator_queue WHERE instance_id = $1",
            instance,
        )
        .await as u32
    }
}

#[async_trait::async_trait]
impl duroxide::provider_stress_tests::parallel_orchestrations::ProviderStressFactory
    for StoreFactory
{
    async fn create_provider(&self) -> Arc<dyn Provider> {
        self.store().await.provider.clone()
    }
}

/// A new store for every `create_provider` call (like upstream's `SqliteTestFactory`), for the
/// cases that need two stores apart; all removed when the factory is dropped.
struct FreshStores {
    backend: Backend,
    made: std::sync::Mutex<Vec<StoreFactory>>,
}

impl FreshStores {
    fn like(shared: StoreFactory) -> Self {
        Self {
            backend: shared.backend,
            made: Default::default(),
        }
    }
}

#[async_trait::async_trait]
impl duroxide::provider_validations::ProviderFactory for FreshStores {
    async fn create_provider(&self) -> Arc<dyn Provider> {
        let factory = StoreFactory::new(self.backend);
        let provider = factory.store().await.provider.clone();
        self.made.lock().unwrap().push(factory);
        provider
    }

    fn lock_timeout(&self) -> Duration {
        TEST_LOCK_TIMEOUT
    }
}

/// Cases that measure time (a lock that must have expired 100 ms after its timeout, a poll that
/// must return within a bound) run alone; the others run side by side. On two cores, a timed case
/// sharing the machine with another case's migrations can miss its margin by scheduling alone.
static TIMING: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Takes the case's turn: exclusive for timed cases (known by the test's name, which the test
/// harness gives its thread), shared for the rest.
async fn timing_turn() -> TimingTurn {
    let name = std::thread::current().name().unwrap_or_default().to_owned();
    let timed = ["expir", "timeout", "renew", "poll", "reclaim", "takeover"]
        .iter()
        .any(|word| name.contains(word));
    if timed {
        TimingTurn::Alone(TIMING.write().await)
    } else {
        TimingTurn::Shared(TIMING.read().await)
    }
}

#[allow(dead_code)]
enum TimingTurn {
    Alone(tokio::sync::RwLockWriteGuard<'static, ()>),
    Shared(tokio::sync::RwLockReadGuard<'static, ()>),
}

async fn stress(factory: StoreFactory) {
    stress::every_instance_finishes(&factory).await;
}

/// A decision raised from outside, and a booking's result, go ahead of trips queued before
/// them; messages of one trip keep their order.
async fn goes_first(factory: StoreFactory) {
    use duroxide::provider_validations::ProviderFactory;
    use duroxide::providers::{TagFilter, WorkItem};
    let provider = factory.create_provider().await;
    for instance in ["planning-1", "planning-2", "approved"] {
        provider
            .enqueue_for_orchestrator(start(instance), None)
            .await
            .unwrap();
    }
    let decision = WorkItem::QueueMessage {
        instance: "approved".into(),
        name: "approval".into(),
        data: "{}".into(),
    };
    provider
        .enqueue_for_orchestrator(decision, None)
        .await
        .unwrap();
    let item = next_turn(&provider).await;
    assert_eq!(item.instance, "approved", "the decision's trip runs first");
    assert!(
        matches!(
            item.messages.as_slice(),
            [
                WorkItem::StartOrchestration { .. },
                WorkItem::QueueMessage { .. }
            ]
        ),
        "in the order they came: {:?}",
        item.messages
    );

    // A booking's result goes first too; another activity's result does not.
    for (id, name) in [(1, "LocalTipsAgent"), (2, "BookTrip")] {
        provider
            .enqueue_for_worker(WorkItem::ActivityExecute {
                instance: format!("planning-{id}"),
                execution_id: 1,
                id,
                name: name.into(),
                input: "{}".into(),
                session_id: None,
                tag: None,
            })
            .await
            .unwrap();
    }
    for _ in 0..2 {
        let (activity, token, _) = provider
            .fetch_work_item(
                TEST_LOCK_TIMEOUT,
                Duration::ZERO,
                None,
                &TagFilter::default(),
            )
            .await
            .unwrap()
            .expect("an activity");
        let WorkItem::ActivityExecute { instance, id, .. } = activity else {
            panic!("an activity")
        };
        let result = WorkItem::ActivityCompleted {
            instance,
            execution_id: 1,
            id,
            result: "{}".into(),
        };
        provider.ack_work_item(&token, Some(result)).await.unwrap();
    }
    assert_eq!(
        next_turn(&provider).await.instance,
        "planning-2",
        "the booking's trip runs next"
    );
    assert_eq!(
        next_turn(&provider).await.instance,
        "planning-1",
        "then the queue in its order"
    );
}

mod sqlite {
    use super::*;

    /// duroxide's SQLite provider starts a lease when the fetch is asked for.
    const LEASE_STARTS_AT_CLAIM: bool = false;

    struct Factory;

    impl Factory {
        #[allow(clippy::new_ret_no_self)]
        fn new() -> StoreFactory {
            StoreFactory::new(Backend::Sqlite)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stress_parallel_orchestrations() {
        stress(Factory::new()).await;
    }

    #[tokio::test]
    async fn what_a_person_waits_for_goes_first() {
        goes_first(Factory::new()).await;
    }

    include!("conformance/cases.rs");
}

mod postgres {
    use super::*;

    /// duroxide-pg starts a lease when the fetch claims the work.
    const LEASE_STARTS_AT_CLAIM: bool = true;

    struct Factory;

    impl Factory {
        #[allow(clippy::new_ret_no_self)]
        fn new() -> StoreFactory {
            StoreFactory::new(Backend::Postgres)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stress_parallel_orchestrations() {
        stress(Factory::new()).await;
    }

    #[tokio::test]
    async fn what_a_person_waits_for_goes_first() {
        goes_first(Factory::new()).await;
    }

    /// The store's own fetches (`engine::postgres_fetches`) replace duroxide-pg's: a trip held by
    /// another fetch or acknowledgement is passed over, not waited for (duroxide-pg's own fetch
    /// waits on the trip's advisory lock), and both fetches run on index scans only.
    #[tokio::test]
    async fn a_turn_fetch_passes_over_a_trip_another_holds() {
        let factory = Factory::new();
        let provider = factory.store().await.provider.clone();
        let ours = factory
            .execute(
                "SELECT 0",
                "SELECT COUNT(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = $1
                   AND p.proname IN ('fetch_orchestration_item', 'fetch_work_item')
                   AND 'enable_seqscan=off' = ANY(p.proconfig)",
                &factory.schema,
            )
            .await;
        assert_eq!(ours, 2, "both fetches are the store's own");
        provider
            .enqueue_for_orchestrator(start("held"), None)
            .await
            .unwrap();
        provider
            .enqueue_for_orchestrator(start("free"), None)
            .await
            .unwrap();
        // Another session holds the first trip's lock, as a fetch or acknowledgement does.
        use sqlx::Connection;
        let mut other = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        sqlx::query("SELECT pg_advisory_lock(hashtext('held'))")
            .execute(&mut other)
            .await
            .unwrap();
        let fetched = tokio::time::timeout(
            Duration::from_secs(5),
            provider.fetch_orchestration_item(TEST_LOCK_TIMEOUT, Duration::ZERO, None),
        )
        .await
        .expect("the fetch does not wait for the held trip")
        .unwrap()
        .expect("the free trip is fetched");
        assert_eq!(fetched.0.instance, "free");
        sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut other)
            .await
            .unwrap();
        let (item, _, _) = provider
            .fetch_orchestration_item(TEST_LOCK_TIMEOUT, Duration::ZERO, None)
            .await
            .unwrap()
            .expect("the trip, once let go");
        assert_eq!(item.instance, "held");
    }

    include!("conformance/cases.rs");
}
