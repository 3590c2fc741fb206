//! The durable engine: duroxide on its store, and the engine's tuning, in one place.
//!
//! * [`sqlite`]: the embedded default, one file held by one process;
//! * [`sqlite_queues`]: the SQLite store's fetches and acknowledgements, done by us;
//! * [`sqlite_writer`]: the SQLite store's one writer, a thread committing writes in groups;
//! * [`postgres`]: duroxide-pg, shared by any number of processes, with
//!   [`postgres_fetches`] (fetches that read only the queues' next candidates);
//! * [`first_in_line`] and [`postgres_first_in_line`]: what a person waits for goes first;
//! * [`durable_task`]: a Durable Task scheduler (the protocol Azure's Durable Task Scheduler
//!   speaks), the trips index beside it in a SQLite file;
//! * [`store`]: the wrapper every store goes through (wake-ups, turn-taking writes, the trips
//!   index), with [`recent_histories`] (a turn's history kept for its activities);
//! * [`wakeups`]: the signals dispatchers wait on instead of polling.

pub mod durable_task;
pub mod first_in_line;
pub mod postgres;
pub mod postgres_fetches;
pub mod postgres_first_in_line;
pub mod recent_histories;
pub mod sqlite;
pub mod sqlite_counts;
pub mod sqlite_queues;
pub mod store;
pub mod wakeups;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use duroxide::providers::Provider;
use duroxide::runtime::{self, ObservabilityConfig, Runtime};
use duroxide::{Client, RuntimeOptions};

use crate::activities::Activities;
use crate::database::Db;
use crate::database::write_turns;
use crate::trip_index::TripIndex;
pub use postgres::PostgresSettings;
use postgres_first_in_line::PostgresFirstInLine;
use store::{StoreParts, WorkflowStore};
pub use travel_durable_task::SchedulerSettings;
use wakeups::Wakeups;
use write_turns::WriteTurns;

/// How hard the engine works. The defaults were chosen with `travel-planner bench`
/// (`docs/benchmarks.md`); each is also a setting (README, "Configuration").
#[derive(Debug, Clone)]
pub struct EngineTuning {
    /// Orchestration turns processed at once by this process; `None`: the store's own default
    /// ([`EngineTuning::orchestration_slots_on`]).
    pub orchestration_slots: Option<usize>,
    /// Activities (agent calls, saves, bookings) run at once by this process. Most of them wait
    /// on a model's answer for seconds, so this is high: what bounds agent calls is the model
    /// provider's admission (`LLM_MAX_IN_FLIGHT`, 4,000, and its rate-limit headers), and saves
    /// and bookings have slots of their own ([`crate::activities::ActivitySlots`]). More slots
    /// than that would only hold activities waiting for the provider, and each costs memory even
    /// idle (a task waiting for a wake-up, about 3.4 KB: 4,096 take 14 MB).
    pub activity_slots: usize,
    /// Plan saves run at once by this process (each writes to the plan store).
    pub save_slots: usize,
    /// Bookings run at once by this process (each calls the booking provider).
    pub booking_slots: usize,
    /// How often an idle dispatcher looks at the store although nobody announced work (timers
    /// due later, work of a process that died). Announced work is taken at once.
    pub safety_poll: Duration,
    /// How long a running activity's or turn's lease lasts (renewed at half-time while it runs).
    /// When a process dies, another takes its work over once the lease runs out (PostgreSQL; a
    /// SQLite store releases every lease when its process restarts).
    pub lease: Duration,
    /// The most memory SQLite may keep for pages it has read, for the whole process (bytes). A
    /// SQLite store's file grows with the trips it holds; without a bound each of duroxide's
    /// connections keeps up to 64 MB of it. Pages past the bound are read again from the file,
    /// which the operating system caches. Not used with PostgreSQL.
    pub sqlite_cache_bytes: u64,
}

impl Default for EngineTuning {
    fn default() -> Self {
        Self {
            orchestration_slots: None,
            activity_slots: 4_096,
            save_slots: crate::activities::DEFAULT_SAVE_SLOTS,
            booking_slots: crate::activities::DEFAULT_BOOKING_SLOTS,
            safety_poll: Duration::from_secs(1),
            lease: Duration::from_secs(4),
            sqlite_cache_bytes: 32 << 20,
        }
    }
}

/// Turns a SQLite store runs at once by default: its writer commits the writes waiting for it
/// together, so more turns in flight make larger groups (measured: docs/benchmarks.md, twentieth
/// session).
const SQLITE_ORCHESTRATION_SLOTS: usize = 64;

/// Turns a PostgreSQL store (or a scheduler) runs at once by default. With duroxide-pg's own
/// fetches more competed for the same trips (twentieth session); with ours ([`postgres_fetches`])
/// more make plans a few per cent faster, but an approval then waits among them about twice as
/// long (docs/benchmarks.md, twenty-second session).
const SHARED_ORCHESTRATION_SLOTS: usize = 2;

impl EngineTuning {
    /// The turns run at once on the store at `location`: the setting, or the store's default.
    pub fn orchestration_slots_on(&self, location: &StoreLocation) -> usize {
        self.orchestration_slots
            .unwrap_or(match location {
                StoreLocation::Sqlite { .. } => SQLITE_ORCHESTRATION_SLOTS,
                StoreLocation::Postgres(_) | StoreLocation::DurableTask { .. } => {
                    SHARED_ORCHESTRATION_SLOTS
                }
            })
            .max(1)
    }
}

/// Where the engine keeps its state.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// A SQLite file, held by this process alone (`exclusive`), or opened beside the process that
    /// holds it for a short command (`instances`).
    Sqlite { path: PathBuf, exclusive: bool },
    /// A PostgreSQL database shared by any number of processes.
    Postgres(PostgresSettings),
    /// A Durable Task scheduler (Azure's Durable Task Scheduler, or a backend on this machine)
    /// holds the workflows' history, queues and timers; the trips index is a SQLite file of this
    /// process (`index`).
    DurableTask {
        scheduler: SchedulerSettings,
        index: PathBuf,
        /// Takes work from the scheduler (`serve`); a short command beside it (`instances`) only
        /// asks and sends.
        works: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the workflow store at {location} cannot be opened: {message}")]
    Store { location: String, message: String },
    #[error(
        "the workflow store {path} is in use by another travel-planner process. A SQLite store, or the work a process holds on a Durable Task scheduler, belongs to one process; stop the other one, give this one its own --data-dir, or share a PostgreSQL store between processes with DATABASE_URL"
    )]
    InUse { path: String },
    #[error("the trips index in {location} cannot be opened: {message}")]
    Index { location: String, message: String },
}

/// The open store: the engine's provider (wrapped) and the trips index beside it.
#[derive(Clone)]
pub struct Store {
    pub provider: Arc<WorkflowStore>,
    pub index: Arc<TripIndex>,
    /// For people: "SQLite file ./data/workflows.db" or "PostgreSQL … schema travel_planner".
    pub description: String,
    pub location: StoreLocation,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl Store {
    /// Opens the store, runs the engine's migrations, creates the index and rebuilds it when it
    /// was missing.
    pub async fn open(
        location: &StoreLocation,
        tuning: &EngineTuning,
    ) -> Result<Self, EngineError> {
        let wakeups = Arc::new(Wakeups::default());
        let Backend {
            provider,
            db,
            writes,
            store_takes_turns,
            peers,
            counts,
            goes_first,
            description,
            keep_alive,
        } = match location {
            StoreLocation::Sqlite { path, exclusive } => {
                Backend::sqlite(path, *exclusive, tuning).await?
            }
            StoreLocation::Postgres(settings) => Backend::postgres(settings, &wakeups).await?,
            StoreLocation::DurableTask {
                scheduler,
                index,
                works,
            } => Backend::durable_task(scheduler, index, *works, &wakeups).await?,
        };
        let index_failed = |e: crate::trip_index::IndexError| EngineError::Index {
            location: description.clone(),
            message: e.to_string(),
        };
        let (index, created) = TripIndex::open(db, writes.clone())
            .await
            .map_err(index_failed)?;
        let index = Arc::new(index);
        let provider = Arc::new(WorkflowStore::new(StoreParts {
            provider,
            writes,
            store_takes_turns,
            wakeups,
            peers,
            counts,
            observer: Some(index.clone()),
            goes_first,
            held_alone: matches!(
                location,
                StoreLocation::Sqlite {
                    exclusive: true,
                    ..
                }
            ),
            safety_poll: tuning.safety_poll,
            keep_alive,
        }));
        if let StoreLocation::Sqlite {
            exclusive: true, ..
        }
        | StoreLocation::DurableTask { works: true, .. } = location
        {
            // Deliveries in flight when the last process died go out again at once.
            index.release_notice_leases().await.map_err(index_failed)?;
        }
        if created {
            let rebuilt = index
                .rebuild(provider.as_ref())
                .await
                .map_err(index_failed)?;
            if rebuilt > 0 {
                tracing::info!(
                    trips = rebuilt,
                    "rebuilt the trips index from the engine's history"
                );
            }
        }
        Ok(Self {
            provider,
            index,
            description,
            location: location.clone(),
        })
    }

    pub fn client(&self) -> Client {
        Client::new(self.provider.clone())
    }

    /// Housekeeping, run now and then by `serve`: on SQLite, gives back the disk the
    /// write-ahead log grew to under load (between two writes of the engine).
    pub async fn tidy(&self) {
        if let Db::Sqlite(pool) = self.index.db() {
            let _turn = self.index.writes().take().await;
            if let Err(e) = sqlite::truncate_log(pool).await {
                tracing::debug!(error = %e, "could not truncate the write-ahead log");
            }
        }
    }

    /// The space the store takes on disk: the SQLite file with its write-ahead log, or the
    /// schema's tables, indexes and TOAST in PostgreSQL.
    pub async fn size_bytes(&self) -> Result<u64, EngineError> {
        match &self.location {
            StoreLocation::Sqlite { path, .. } | StoreLocation::DurableTask { index: path, .. } => {
                let mut total = 0;
                for suffix in ["", "-wal"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    total += std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                }
                Ok(total)
            }
            StoreLocation::Postgres(_) => {
                self.index
                    .schema_size_bytes()
                    .await
                    .map_err(|e| EngineError::Index {
                        location: self.description.clone(),
                        message: e.to_string(),
                    })
            }
        }
    }
}

/// One kind of store, opened: what the wrapper needs from it.
struct Backend {
    provider: Arc<dyn Provider>,
    db: Db,
    writes: WriteTurns,
    /// Whether the provider takes the write turns itself (ours on SQLite) or needs none (a
    /// scheduler's), so the wrapper must not.
    store_takes_turns: bool,
    /// Other processes to wake (PostgreSQL).
    peers: Option<Arc<dyn store::Peers>>,
    /// Whole-store counts on a connection of their own (SQLite).
    counts: Option<Arc<sqlite_counts::SqliteCounts>>,
    /// What a person waits for goes first, when the provider does not do it itself (PostgreSQL).
    goes_first: Option<Arc<dyn store::GoesFirst>>,
    description: String,
    /// What must live as long as the store (the SQLite file's lock, the PostgreSQL listener).
    keep_alive: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl Backend {
    async fn sqlite(
        path: &std::path::Path,
        exclusive: bool,
        tuning: &EngineTuning,
    ) -> Result<Self, EngineError> {
        let opened = sqlite::open(path, exclusive, tuning.sqlite_cache_bytes).await?;
        let mut keep_alive: Vec<Box<dyn std::any::Any + Send + Sync>> = Vec::new();
        if let Some(lock) = opened.lock {
            keep_alive.push(Box::new(lock));
        }
        Ok(Self {
            db: Db::Sqlite(opened.provider.duroxide().get_pool().clone()),
            writes: opened.provider.writes().clone(),
            store_takes_turns: true,
            provider: Arc::new(opened.provider.with_first_in_line(FIRST_IN_LINE)),
            peers: None,
            counts: Some(opened.counts),
            goes_first: None,
            description: format!("SQLite file {}", path.display()),
            keep_alive,
        })
    }

    /// The scheduler, reached and answering, and the trips index in a SQLite file.
    async fn durable_task(
        scheduler: &SchedulerSettings,
        index: &std::path::Path,
        works: bool,
        wakeups: &Arc<Wakeups>,
    ) -> Result<Self, EngineError> {
        let description = format!(
            "Durable Task scheduler {} (task hub {}; the trips index in SQLite file {})",
            scheduler.endpoint,
            scheduler.task_hub,
            index.display()
        );
        let failed = |message: String| EngineError::Store {
            location: description.clone(),
            message,
        };
        let connection = travel_durable_task::Connection::open(
            scheduler,
            &travel_platform::azure::CredentialChoice::from_env(),
        )
        .map_err(|e| failed(e.to_string()))?;
        connection
            .hello()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let (db, writer) = sqlite::index_file(index).await?;
        // The work this process holds is its own: a second process on the folder would take it
        // over while this one runs.
        let keep_alive: Vec<Box<dyn std::any::Any + Send + Sync>> = if works {
            vec![Box::new(sqlite::lock_beside(index)?)]
        } else {
            Vec::new()
        };
        Ok(Self {
            provider: if works {
                // Beside the trips index: the work this process holds, for the next one to take
                // over after a crash.
                durable_task::provider::DurableTaskProvider::start_with(
                    connection,
                    Some(wakeups.clone()),
                    &index.with_file_name("held-work"),
                )
                .map_err(|e| failed(e.to_string()))?
            } else {
                durable_task::provider::DurableTaskProvider::client(connection)
            },
            db,
            writes: WriteTurns::one_at_a_time(writer),
            // The scheduler's calls write nothing to the index's file: they take no turn (and
            // the index's writes after a turn are handed to its writer, which takes one).
            store_takes_turns: true,
            peers: None,
            counts: None,
            goes_first: None,
            description,
            keep_alive,
        })
    }

    async fn postgres(
        settings: &PostgresSettings,
        wakeups: &Arc<Wakeups>,
    ) -> Result<Self, EngineError> {
        let postgres::Opened {
            provider,
            token_renewal,
        } = postgres::open(settings).await?;
        let pool = provider.pool().clone();
        postgres_fetches::install(&pool, &settings.schema)
            .await
            .map_err(|e| {
                postgres::failed_url(
                    &settings.url,
                    format!("installing the store's fetches: {e}"),
                )
            })?;
        let notices = postgres::NotifyPeers::new(pool.clone(), &settings.schema);
        let listener = postgres::listen(
            pool.clone(),
            &settings.schema,
            notices.process().to_owned(),
            wakeups.clone(),
        );
        let peers: Arc<dyn store::Peers> = Arc::new(notices);
        Ok(Self {
            provider: Arc::new(provider),
            db: Db::Postgres(pool.clone(), settings.schema.clone()),
            writes: WriteTurns::concurrent(),
            store_takes_turns: false,
            peers: Some(peers),
            counts: None,
            goes_first: Some(Arc::new(PostgresFirstInLine::new(
                pool.clone(),
                &settings.schema,
                FIRST_IN_LINE,
            ))),
            description: format!(
                "PostgreSQL {} schema {}",
                postgres::redacted(&settings.url),
                settings.schema
            ),
            keep_alive: vec![Box::new(listener), Box::new(token_renewal)],
        })
    }
}

/// The activities whose results go ahead of the queue: a traveller who approved waits for the
/// booking.
const FIRST_IN_LINE: &[&str] = &[crate::workflow::boundary::BOOK_TRIP.name()];

/// How often duroxide recounts the store for its gauges (`duroxide_active_orchestrations` and
/// the queue depths). A recount reads every instance and every history row: with 100,000 trips
/// on SQLite some 140 MB of pages, once a minute; through duroxide's own connections, up to
/// 57 MB more memory for half a minute each time (`docs/benchmarks.md`). Counts run with a small
/// cache ([`sqlite_counts`]), but the reading remains. One process
/// owns a SQLite file, so duroxide's own running count of active orchestrations stays exact
/// without it, and `GET /metrics` counts the queues when it is scraped: on SQLite the engine
/// counts once, at start. On PostgreSQL the count runs in the server and covers every process,
/// so it stays at duroxide's once a minute.
fn engine_gauge_recount(location: &StoreLocation) -> Duration {
    match location {
        StoreLocation::Sqlite { .. } | StoreLocation::DurableTask { .. } => Duration::MAX,
        StoreLocation::Postgres(_) => ObservabilityConfig::default().gauge_poll_interval,
    }
}

/// How long an activity's lease lasts. On SQLite one process holds the file and releases every
/// lease when it restarts, so a lease never hands work to another process; there it only has to
/// outlast the renewals, which are writes that take their turn behind every other (with
/// thousands of model calls in flight, a renewal every two seconds each would be thousands of
/// writes a second, and a late one would let the same call run twice). On PostgreSQL it is how
/// soon another process takes a dead one's work over: the setting.
fn activity_lease(location: &StoreLocation, lease: Duration) -> Duration {
    match location {
        StoreLocation::Sqlite { .. } => lease.max(SQLITE_ACTIVITY_LEASE),
        // The scheduler's own lease is not renewed by the protocol; this one is local.
        StoreLocation::Postgres(_) | StoreLocation::DurableTask { .. } => lease,
    }
}

const SQLITE_ACTIVITY_LEASE: Duration = Duration::from_secs(120);

/// A running engine: the runtime that executes workflows.
pub struct Engine {
    runtime: Arc<Runtime>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    pub async fn start(store: &Store, activities: Arc<Activities>, tuning: &EngineTuning) -> Self {
        let orchestrations = crate::workflow::registry();
        let options = RuntimeOptions {
            orchestration_concurrency: tuning.orchestration_slots_on(&store.location),
            worker_concurrency: tuning.activity_slots,
            // Dispatchers wait inside the store for a wake-up; these only bound a wait.
            dispatcher_min_poll_interval: Duration::from_millis(10),
            dispatcher_long_poll_timeout: Duration::from_secs(30),
            orchestrator_lock_timeout: tuning.lease,
            orchestrator_lock_renewal_buffer: tuning.lease / 2,
            worker_lock_timeout: activity_lease(&store.location, tuning.lease),
            worker_lock_renewal_buffer: activity_lease(&store.location, tuning.lease) / 2,
            observability: ObservabilityConfig {
                gauge_poll_interval: engine_gauge_recount(&store.location),
                ..Default::default()
            },
            ..Default::default()
        };
        let provider: Arc<dyn Provider> = store.provider.clone();
        let runtime = runtime::Runtime::start_with_options(
            provider,
            activities.registry(),
            orchestrations,
            options,
        )
        .await;
        Self { runtime }
    }

    /// Stops taking work, lets running work finish for up to `grace`, then stops.
    pub async fn shutdown(self, grace: Duration) {
        self.runtime.shutdown(Some(grace.as_millis() as u64)).await;
    }
}
