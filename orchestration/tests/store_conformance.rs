//! duroxide's provider conformance suite (its `provider-test` feature) and its stress test, run
//! against the stores this service runs on: the SQLite and the PostgreSQL provider as wrapped by
//! `WorkflowStore` (wake-ups, turn-taking writes, the trips index).
//!
//! PostgreSQL: `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`); each factory
//! uses a schema of its own, dropped afterwards.

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

async fn stress(factory: StoreFactory) {
    let config = duroxide::provider_stress_tests::StressTestConfig {
        max_concurrent: 20,
        duration_secs: 3,
        tasks_per_instance: 4,
        activity_delay_ms: 5,
        orch_concurrency: 2,
        worker_concurrency: 4,
        wait_timeout_secs: 60,
    };
    let result = duroxide::provider_stress_tests::parallel_orchestrations::run_parallel_orchestrations_test_with_config(&factory, config)
        .await
        .expect("the stress test runs");
    assert!(result.completed > 0, "{result:?}");
    assert_eq!(
        result.failed, 0,
        "no orchestration may fail under load: {result:?}"
    );
}

mod sqlite {
    use super::*;

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

    include!("conformance/cases.rs");
}

mod postgres {
    use super::*;

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

    include!("conformance/cases.rs");
}
