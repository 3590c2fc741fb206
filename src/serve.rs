//! `travel-planner serve`: wires the agents, the stores, the engine and the API together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use travel_api::AppState;
use travel_api::admin::{AdminAccess, require_admin};
use travel_orchestration::engine::wakeups::AbortOnDrop;
use travel_orchestration::intake::DEFAULT_IDLE_EXPIRY;
use travel_orchestration::links::ApprovalLinks;
use travel_orchestration::notifications::Notifier;
use travel_orchestration::store::BlobSettings;
use travel_orchestration::trips::{DEFAULT_APPROVAL_TIMEOUT, DEFAULT_MAX_REVISIONS};
use travel_orchestration::workflow::{Retry, RetrySettings};
use travel_orchestration::{
    Activities, ActivitySlots, ApprovalWebhook, Conversations, Engine, EngineTuning,
    IntakeSettings, LocalPlanStore, PlanStore, SandboxBookings, Store, TripSettings, Trips,
};

use crate::store_args::{StoreArgs, TuningArgs};

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Folder for the workflow store (workflows.db), saved plans and sandbox bookings.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// How long a plan waits for approval before it expires, in seconds (7 days by default).
    #[arg(long, env = "APPROVAL_TIMEOUT_SECS", default_value_t = DEFAULT_APPROVAL_TIMEOUT.as_secs())]
    pub approval_timeout_secs: u64,
    /// How long an intake conversation waits for its traveller's next message before it
    /// expires, in seconds (a day by default; one that started its trip does not expire).
    #[arg(long, env = "CONVERSATION_IDLE_SECS", default_value_t = DEFAULT_IDLE_EXPIRY.as_secs())]
    pub conversation_idle_secs: u64,
    /// How many revised plans a reviewer may ask for per trip (0: approve or reject only).
    #[arg(long, env = "MAX_REVISIONS", default_value_t = DEFAULT_MAX_REVISIONS)]
    pub max_revisions: u32,
    /// Where to POST a notification on every change of a trip's state (a plan awaits approval,
    /// was revised, approved, rejected, expired, booked, or the trip failed).
    #[arg(long, env = "APPROVAL_WEBHOOK_URL")]
    pub approval_webhook_url: Option<String>,
    /// The key notifications are signed with (HMAC-SHA-256, header `x-travel-signature`).
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Who may approve besides the requester (names or e-mail addresses, comma-separated): each
    /// gets a signed review link in the notifications and on the operator's instance page.
    #[arg(long, env = "APPROVERS")]
    pub approvers: Option<String>,
    /// Tries of one agent call, the first included: the one retry policy of model calls (the
    /// client makes one request a try; the workflow waits between tries, durably, 1 s doubling
    /// to 30 s, or what the provider's `Retry-After` asks).
    #[arg(long, env = "LLM_MAX_ATTEMPTS", default_value_t = Retry::AGENT_CALLS.max_attempts)]
    pub llm_max_attempts: u32,
    /// The most time one agent call may take in all, its tries and the waits between them, in
    /// seconds: no try starts past it.
    #[arg(long, env = "LLM_CALL_BUDGET_SECS", default_value_t = AGENT_CALL_BUDGET_SECS)]
    pub llm_call_budget_secs: u64,
    /// How people reach this service, for links in announcements (default: http://BIND).
    #[arg(long, env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// The operators' token for the dashboard and the management API (at least 32 characters).
    /// Without it the service binds only loopback addresses and answers only loopback host names.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Count wrong admin tokens by the last address in `X-Forwarded-For` rather than the
    /// connection's: set it when the service runs behind a proxy that adds the header (Azure
    /// Container Apps' ingress does), and only then.
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,
    /// How many trips' live event streams (`GET /api/trips/{id}/events`, the trip pages) this
    /// process keeps open at once; past it a new one is refused (503, `Retry-After`).
    #[arg(long, env = "MAX_EVENT_STREAMS", default_value_t = travel_api::events::DEFAULT_MAX_EVENT_STREAMS)]
    pub max_event_streams: usize,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub tuning: TuningArgs,
}

impl ServeArgs {
    /// The defaults of `serve` on `data_dir`, bound to a free loopback port: for running the
    /// service inside another program (the `plan` command, tests).
    pub fn on_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            approval_timeout_secs: DEFAULT_APPROVAL_TIMEOUT.as_secs(),
            conversation_idle_secs: DEFAULT_IDLE_EXPIRY.as_secs(),
            max_revisions: DEFAULT_MAX_REVISIONS,
            approval_webhook_url: None,
            webhook_secret: None,
            approvers: None,
            public_base_url: None,
            llm_max_attempts: Retry::AGENT_CALLS.max_attempts,
            llm_call_budget_secs: AGENT_CALL_BUDGET_SECS,
            admin_token: None,
            trust_forwarded_for: false,
            max_event_streams: travel_api::events::DEFAULT_MAX_EVENT_STREAMS,
            store: Default::default(),
            tuning: Default::default(),
        }
    }

    /// The operators' token, when one is set (a blank one is none).
    fn admin_token(&self) -> Option<String> {
        self.admin_token.clone().filter(|t| !t.trim().is_empty())
    }
}

/// The service's parts, running.
pub struct Running {
    pub engine: Engine,
    pub trips: Trips,
    /// The intake conversations (on the same trips).
    pub conversations: Conversations,
    /// Keeps the demo model (when used) alive.
    agents: crate::model::Agents,
    /// The key the pages sign their form tokens with.
    form_key: Vec<u8>,
    /// How people reach the service (`PUBLIC_BASE_URL`), for the links the MCP tools answer.
    public_base_url: String,
    /// Delivers the notifications while it lives (with a webhook).
    _notifier: Option<AbortOnDrop>,
}

impl Running {
    /// How the router is reached unless told otherwise: no admin token (loopback only), plain
    /// http, no proxy in front.
    pub fn exposure(&self) -> Exposure {
        Exposure {
            admin_token: None,
            https: false,
            trust_forwarded_for: false,
            form_key: self.form_key.clone(),
            event_streams: Default::default(),
            public_base_url: self.public_base_url.clone(),
        }
    }

    /// How the router is reached as `args` say: their admin token (a blank one is none), https
    /// when the public URL is, and whether a proxy in front adds `X-Forwarded-For`.
    pub fn exposure_for(&self, args: &ServeArgs) -> Exposure {
        Exposure {
            admin_token: args.admin_token(),
            https: args
                .public_base_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
            trust_forwarded_for: args.trust_forwarded_for,
            event_streams: travel_api::events::EventStreams::new(args.max_event_streams),
            ..self.exposure()
        }
    }

    /// The built-in demo model, when no LLM provider is configured.
    pub fn demo_model(&self) -> Option<&travel_demo_model::DemoModel> {
        self.agents.demo.as_ref()
    }

    /// The client the agents call the model with.
    pub fn llm(&self) -> &travel_agents::LlmClient {
        &self.agents.configured.llm
    }

    /// Repairs what a process that died left half done (see `Trips::repair`) and tidies the
    /// store (see `Store::tidy`): once now, then every 30 seconds while the returned task lives.
    pub fn repair_now_and_then(&self) -> travel_orchestration::engine::wakeups::AbortOnDrop {
        let conversations = self.conversations.clone();
        travel_orchestration::engine::wakeups::AbortOnDrop(tokio::spawn(async move {
            loop {
                housekeeping(&conversations).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }))
    }

    /// One round of the housekeeping `serve` does every 30 seconds.
    pub async fn housekeeping(&self) {
        housekeeping(&self.conversations).await;
    }
}

async fn housekeeping(conversations: &Conversations) {
    let trips = conversations.trips();
    if let Err(e) = trips.repair().await {
        tracing::warn!(error = %e, "repairing after a stopped process failed; trying again later");
    }
    match conversations.forget_expired().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            conversations = n,
            "forgot the messages of expired conversations"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "forgetting expired conversations failed; trying again later")
        }
    }
    trips.store().tidy().await;
    travel_platform::memory::give_back_free_memory();
}

/// Where the settings that are not flags (the model, the plan store, prices) are read: the
/// process' environment for the service, a list of its own for a test.
pub type Settings<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process' environment.
pub fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Builds every part from the arguments and the environment.
pub async fn start(args: &ServeArgs, tuning: &EngineTuning) -> anyhow::Result<Running> {
    start_with_settings(args, tuning, &environment).await
}

/// Builds every part from the arguments and `settings`.
pub async fn start_with_settings(
    args: &ServeArgs,
    tuning: &EngineTuning,
    settings: Settings<'_>,
) -> anyhow::Result<Running> {
    let plans: Arc<dyn PlanStore> = match BlobSettings::from_env_with(settings)? {
        Some(settings) => Arc::new(
            settings
                .connect(travel_platform::http::shared_client())
                .await
                .context("plan store")?,
        ),
        None => Arc::new(LocalPlanStore::new(args.data_dir.join("plans"))),
    };
    start_with_plans(args, tuning, settings, plans).await
}

/// Builds every part, saving plans to `plans`.
pub async fn start_with_plans(
    args: &ServeArgs,
    tuning: &EngineTuning,
    settings: Settings<'_>,
    plans: Arc<dyn PlanStore>,
) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let agents = crate::model::agents_from(settings).await?;
    let configured = &agents.configured;
    tracing::info!(store = %plans.describe(), "plans are saved to the {}", plans.describe());
    let public_base_url = args
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.bind));
    let reached_at = public_base_url.clone();
    let store = Store::open(&args.store.location(&args.data_dir)?, tuning).await?;
    tracing::info!(store = %store.description, "workflows are kept in the {}", store.description);
    let links = approval_links(args, &store, &public_base_url).await?;
    // Started before the engine, so that no change goes unannounced.
    let notifier = notifications(args, &store, &public_base_url, &links);
    let activities = Arc::new(Activities {
        agents: configured.agents.clone(),
        rates: configured.rates.clone(),
        plans: plans.clone(),
        conversations: store.index.clone(),
        bookings: Arc::new(SandboxBookings::new(args.data_dir.join("bookings"))),
        webhook: args
            .approval_webhook_url
            .clone()
            .map(|url| ApprovalWebhook {
                url,
                public_base_url,
            }),
        http: travel_platform::http::shared_client(),
        slots: ActivitySlots::new(tuning.save_slots, tuning.booking_slots),
    });
    // Read before the engine starts taking work: a bad table stops the start-up cleanly.
    let prices =
        travel_agents::pricing::PriceTable::from_env_with(settings).map_err(anyhow::Error::msg)?;
    let engine = Engine::start(&store, activities, tuning).await;
    let settings = TripSettings {
        approval_timeout: Duration::from_secs(args.approval_timeout_secs.max(1)),
        announce_approval: args.approval_webhook_url.is_some(),
        prices,
        max_revisions: args.max_revisions,
        links,
        retries: RetrySettings {
            agents: Retry {
                max_attempts: args.llm_max_attempts.max(1),
                budget_ms: Some(args.llm_call_budget_secs.saturating_mul(1000)),
                ..Retry::AGENT_CALLS
            },
            ..Default::default()
        },
    };
    let form_key = store
        .index
        .service_key("page_forms")
        .await
        .context("the page forms' key")?;
    let trips = Trips::new(store, plans, settings);
    let conversations = Conversations::new(
        trips.clone(),
        travel_agents::IntakeAgent::new(configured.llm.clone()),
        IntakeSettings {
            idle_expiry: Duration::from_secs(args.conversation_idle_secs.max(1)),
        },
    );
    Ok(Running {
        engine,
        trips,
        conversations,
        agents,
        form_key,
        public_base_url: reached_at,
        _notifier: notifier,
    })
}

/// Delivers the notifications of every trip change to the webhook, when one is configured.
fn notifications(
    args: &ServeArgs,
    store: &Store,
    public_base_url: &str,
    links: &Option<ApprovalLinks>,
) -> Option<AbortOnDrop> {
    let url = args.approval_webhook_url.clone()?;
    if args.webhook_secret.is_none() {
        tracing::warn!("WEBHOOK_SECRET is not set: notifications are sent unsigned");
    }
    let notifier = Notifier {
        index: store.index.clone(),
        // A receiver's redirect is not a delivery.
        http: travel_platform::http::client_without_redirects(),
        url,
        secret: args.webhook_secret.clone(),
        public_base_url: public_base_url.to_owned(),
        links: links.clone(),
    };
    Some(notifier.start())
}

/// The approvers' signed review links (`APPROVERS`), under the store's own key.
async fn approval_links(
    args: &ServeArgs,
    store: &Store,
    public_base_url: &str,
) -> anyhow::Result<Option<ApprovalLinks>> {
    let Some(approvers) = args.approvers.as_deref().filter(|a| !a.trim().is_empty()) else {
        return Ok(None);
    };
    let key = store
        .index
        .service_key("review_links")
        .await
        .context("the review links' key")?;
    let links = ApprovalLinks::new(key, approvers, public_base_url);
    tracing::info!(approvers = ?links.approvers, "approvers get signed review links");
    Ok(Some(links))
}

/// The default of `LLM_CALL_BUDGET_SECS`.
const AGENT_CALL_BUDGET_SECS: u64 = match Retry::AGENT_CALLS.budget_ms {
    Some(ms) => ms / 1000,
    None => 0,
};

/// Who reaches the router, and how.
#[derive(Clone)]
pub struct Exposure {
    /// The operators' token; without it, loopback host names only.
    pub admin_token: Option<String>,
    /// The public URL is https (HSTS).
    pub https: bool,
    /// A proxy in front adds `X-Forwarded-For` (see [`ServeArgs::trust_forwarded_for`]).
    pub trust_forwarded_for: bool,
    /// The key the pages sign their form tokens with (kept in the store, shared by every
    /// process).
    pub form_key: Vec<u8>,
    /// The live event streams (`MAX_EVENT_STREAMS` of them at most), ended on shutdown.
    pub event_streams: travel_api::events::EventStreams,
    /// How people reach the service (for the links the MCP tools answer).
    pub public_base_url: String,
}

/// The API and the pages on one router: unknown `/api/...` addresses answer JSON, others a page.
/// The dashboard and the management API sit behind the admin check; everything behind the guard
/// (security headers; without an admin token, loopback host names only; no state-changing API
/// call from another site).
pub fn app(running: &Running, exposure: Exposure) -> axum::Router {
    let (trips, conversations) = (running.trips.clone(), running.conversations.clone());
    let guard = travel_api::guard::Guard {
        loopback_hosts_only: exposure.admin_token.is_none(),
        https: exposure.https,
    };
    let api = AppState {
        trips: trips.clone(),
        conversations: conversations.clone(),
        events: exposure.event_streams.clone(),
    };
    let admin =
        AdminAccess::new(exposure.admin_token).trusting_forwarded_for(exposure.trust_forwarded_for);
    let web = travel_web::WebState {
        trips,
        conversations,
        admin: admin.clone(),
        forms: travel_web::FormTokens::new(exposure.form_key, exposure.https),
    };
    let operators = travel_api::management::routes(api.clone())
        .merge(travel_web::dashboard_router(web.clone()))
        .route_layer(axum::middleware::from_fn_with_state(admin, require_admin));
    let mcp = travel_api::mcp::router(api.clone(), exposure.public_base_url);
    let routes = travel_api::routes(api)
        .merge(mcp)
        .merge(travel_web::router(web.clone()))
        .merge(travel_web::login_router(web))
        .merge(operators);
    let routes = routes.fallback(
        |uri: axum::http::Uri, headers: axum::http::HeaderMap| async move {
            use axum::response::IntoResponse;
            // A client that asks for JSON (and not for a page) gets the API's error body.
            let wants_json = headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("json") && !accept.contains("text/html"));
            if wants_json || uri.path().starts_with("/api/") || uri.path().starts_with("/approve/")
            {
                travel_api::not_found().await.into_response()
            } else {
                travel_web::not_found().await
            }
        },
    );
    travel_api::finish(routes.layer(axum::middleware::from_fn_with_state(
        guard,
        travel_api::guard::guard,
    )))
}

/// The shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let admin_token = args.admin_token();
    if let Some(token) = &admin_token
        && token.chars().count() < MIN_ADMIN_TOKEN_CHARS
    {
        anyhow::bail!(
            "ADMIN_TOKEN is too short to resist guessing: use at least {MIN_ADMIN_TOKEN_CHARS} random characters (for example `openssl rand -hex 24`)"
        );
    }
    if admin_token.is_none() && !args.bind.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {}: without ADMIN_TOKEN the dashboard and the management API would be open to anyone who can reach it. Set ADMIN_TOKEN, or bind a loopback address such as 127.0.0.1:8080",
            args.bind
        );
    }
    if admin_token.is_none() {
        tracing::warn!(
            "ADMIN_TOKEN is not set: the dashboard and the management API are open to this machine only (loopback)"
        );
    }
    // Before the engine starts, so that its metrics are recorded from the first.
    if travel_api::metrics::install().is_none() {
        tracing::warn!("another metrics recorder is installed: GET /metrics will answer 503");
    }
    let running = start(&args, &args.tuning.tuning()).await?;
    let _repairs = running.repair_now_and_then();
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let address = listener.local_addr()?;
    let mut exposure = running.exposure_for(&args);
    if args.public_base_url.is_none() {
        // Reached where it listens (the port it was given, when it asked for any).
        exposure.public_base_url = format!("http://{address}");
    }
    let streams = exposure.event_streams.clone();
    let app = app(&running, exposure);
    tracing::info!(%address, data_dir = %args.data_dir.display(), "travel-planner listening");
    // The connection's address counts wrong admin tokens per client.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            crate::shutdown_signal().await;
            // Open event streams would hold the shutdown until their trips finish.
            streams.close_all();
        })
        .await?;
    running.engine.shutdown(Duration::from_secs(5)).await;
    tracing::info!("stopped");
    Ok(())
}
