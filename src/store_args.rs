//! Where the workflows are kept, and how hard the engine works: flags and environment variables
//! shared by `serve`, `instances` and `bench`.

use std::path::Path;
use std::time::Duration;

use travel_orchestration::{EngineTuning, PostgresSettings, SchedulerSettings, StoreLocation};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreArgs {
    /// A PostgreSQL database shared by any number of processes (`postgres://user:password@host/db`).
    /// Without it, workflows are kept in a SQLite file in the data folder (one process).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The PostgreSQL schema the service's tables live in (created when missing).
    #[arg(long, env = "DATABASE_SCHEMA", default_value = "travel_planner")]
    pub database_schema: String,
    /// Sign in to PostgreSQL with a Microsoft Entra token (Azure Database for PostgreSQL) instead
    /// of a password: the URL names the user (the Entra principal's role) and the database.
    #[arg(long, env = "DATABASE_ENTRA_AUTH", default_value_t = false)]
    pub database_entra_auth: bool,
    /// A Durable Task scheduler to keep the workflows in instead
    /// (`https://<scheduler>.durabletask.io`, signed in with the service's Microsoft Entra
    /// credential; `http://` only to a loopback address). The trips index stays in the data
    /// folder (`trips.db`).
    #[arg(long, env = "DURABLE_TASK_ENDPOINT")]
    pub durable_task_endpoint: Option<String>,
    /// The scheduler's task hub (required with https; `default` on a loopback backend).
    #[arg(long, env = "DURABLE_TASK_HUB")]
    pub durable_task_hub: Option<String>,
}

impl StoreArgs {
    /// The store `serve` runs on.
    pub fn location(&self, data_dir: &Path) -> anyhow::Result<StoreLocation> {
        self.location_with(data_dir, true)
    }

    /// With `exclusive` false, the store is opened beside the process that holds it (for a
    /// short command such as `instances`): a SQLite file not locked, a scheduler not asked for
    /// work.
    pub fn location_with(&self, data_dir: &Path, exclusive: bool) -> anyhow::Result<StoreLocation> {
        if let Some(endpoint) = self
            .durable_task_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            return Ok(StoreLocation::DurableTask {
                scheduler: SchedulerSettings::new(endpoint, self.durable_task_hub.as_deref())?,
                index: data_dir.join("trips.db"),
                works: exclusive,
            });
        }
        Ok(
            match self
                .database_url
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
            {
                Some(url) => StoreLocation::Postgres(PostgresSettings {
                    url: url.to_owned(),
                    schema: self.database_schema.clone(),
                    entra: self.database_entra_auth,
                }),
                None => StoreLocation::Sqlite {
                    path: data_dir.join("workflows.db"),
                    exclusive,
                },
            },
        )
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct TuningArgs {
    /// Orchestration turns this process runs at once [default: 64 on SQLite, 2 on PostgreSQL
    /// and a Durable Task scheduler].
    #[arg(long, env = "ENGINE_ORCHESTRATION_SLOTS")]
    pub orchestration_slots: Option<usize>,
    /// Activities (agent calls, saves, bookings) this process runs at once. High: agent calls
    /// wait on the model, and are admitted by LLM_MAX_IN_FLIGHT and the provider's rate-limit
    /// headers.
    #[arg(long, env = "ENGINE_ACTIVITY_SLOTS", default_value_t = EngineTuning::default().activity_slots)]
    pub activity_slots: usize,
    /// Plan saves this process runs at once.
    #[arg(long, env = "ENGINE_SAVE_SLOTS", default_value_t = EngineTuning::default().save_slots)]
    pub save_slots: usize,
    /// Bookings this process runs at once.
    #[arg(long, env = "ENGINE_BOOKING_SLOTS", default_value_t = EngineTuning::default().booking_slots)]
    pub booking_slots: usize,
    /// How often an idle dispatcher looks at the store unprompted, in milliseconds (announced work
    /// is taken at once; this finds timers due and work of processes that died).
    #[arg(long, env = "ENGINE_SAFETY_POLL_MS", default_value_t = EngineTuning::default().safety_poll.as_millis() as u64)]
    pub safety_poll_ms: u64,
    /// Lease of a running turn or activity, in milliseconds (renewed at half-time); another
    /// process takes over a dead one's work when it runs out.
    #[arg(long, env = "ENGINE_LEASE_MS", default_value_t = EngineTuning::default().lease.as_millis() as u64)]
    pub lease_ms: u64,
    /// Memory SQLite may keep for cached pages of its store, for the whole process, in MiB
    /// (pages past it are read again from the file).
    #[arg(long, env = "ENGINE_SQLITE_CACHE_MIB", default_value_t = EngineTuning::default().sqlite_cache_bytes >> 20)]
    pub sqlite_cache_mib: u64,
}

impl Default for TuningArgs {
    fn default() -> Self {
        let tuning = EngineTuning::default();
        Self {
            orchestration_slots: tuning.orchestration_slots,
            activity_slots: tuning.activity_slots,
            save_slots: tuning.save_slots,
            booking_slots: tuning.booking_slots,
            safety_poll_ms: tuning.safety_poll.as_millis() as u64,
            lease_ms: tuning.lease.as_millis() as u64,
            sqlite_cache_mib: tuning.sqlite_cache_bytes >> 20,
        }
    }
}

impl TuningArgs {
    pub fn tuning(&self) -> EngineTuning {
        EngineTuning {
            orchestration_slots: self.orchestration_slots.map(|n| n.max(1)),
            activity_slots: self.activity_slots.max(1),
            save_slots: self.save_slots.max(1),
            booking_slots: self.booking_slots.max(1),
            safety_poll: Duration::from_millis(self.safety_poll_ms.max(10)),
            lease: Duration::from_millis(self.lease_ms.max(1000)),
            sqlite_cache_bytes: self.sqlite_cache_mib.max(1) << 20,
        }
    }
}
