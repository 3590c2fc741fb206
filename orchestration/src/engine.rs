//! The durable engine: duroxide on a SQLite file (embedded default). Its tuning lives here, and
//! only here.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use duroxide::providers::Provider;
use duroxide::providers::sqlite::SqliteProvider;
use duroxide::runtime::{self, Runtime};
use duroxide::{Client, OrchestrationRegistry, RuntimeOptions};

use crate::activities::Activities;
use crate::workflow::{ORCHESTRATION, TripInput, plan_trip};
use crate::progress::TripOutcome;

/// How hard the engine works. Measure (see `docs/benchmarks.md`) before changing these.
#[derive(Debug, Clone)]
pub struct EngineTuning {
    /// Orchestration turns processed at once.
    pub orchestration_concurrency: usize,
    /// Activities (agent calls, saves, bookings) run at once.
    pub worker_concurrency: usize,
    /// How often an idle dispatcher polls the store (SQLite does not long-poll).
    pub poll_interval: Duration,
    /// How long a running activity's lease lasts (renewed while it runs). After a crash, its
    /// work is picked up again once the lease runs out.
    pub activity_lease: Duration,
}

impl Default for EngineTuning {
    fn default() -> Self {
        Self {
            orchestration_concurrency: 2,
            worker_concurrency: 4,
            poll_interval: Duration::from_millis(50),
            activity_lease: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the workflow store at {path} cannot be opened: {message}")]
    Store { path: String, message: String },
}

/// Opens (creating if needed) the SQLite workflow store.
pub async fn open_sqlite(path: &Path) -> Result<Arc<dyn Provider>, EngineError> {
    let failed = |message: String| EngineError::Store { path: path.display().to_string(), message };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
    }
    if !path.exists() {
        std::fs::File::create(path).map_err(|e| failed(e.to_string()))?;
    }
    let url = format!("sqlite:{}", path.display());
    let provider = SqliteProvider::new(&url, None).await.map_err(|e| failed(e.to_string()))?;
    Ok(Arc::new(provider))
}

/// A running engine: the runtime that executes workflows and a client to drive them.
pub struct Engine {
    runtime: Arc<Runtime>,
    pub client: Client,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    pub async fn start(store: Arc<dyn Provider>, activities: Arc<Activities>, tuning: &EngineTuning) -> Self {
        let orchestrations = OrchestrationRegistry::builder()
            .register_typed::<TripInput, TripOutcome, _, _>(ORCHESTRATION, plan_trip)
            .build_result()
            .expect("one orchestration, registered once");
        let options = RuntimeOptions {
            orchestration_concurrency: tuning.orchestration_concurrency,
            worker_concurrency: tuning.worker_concurrency,
            dispatcher_min_poll_interval: tuning.poll_interval,
            worker_lock_timeout: tuning.activity_lease,
            worker_lock_renewal_buffer: tuning.activity_lease / 2,
            ..Default::default()
        };
        let runtime = runtime::Runtime::start_with_options(store.clone(), activities.registry(), orchestrations, options).await;
        Self { runtime, client: Client::new(store) }
    }

    /// Stops taking work, lets running work finish for up to `grace`, then stops.
    pub async fn shutdown(self, grace: Duration) {
        self.runtime.shutdown(Some(grace.as_millis() as u64)).await;
    }
}
