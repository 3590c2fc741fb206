//! What the service's tests share: the service itself ([`TestService`], in-process or the real
//! binary), the demo model in a process of its own (its counts survive the service's crashes),
//! Azurite, the test database, a webhook receiver, and the one way to wait.
// Each test binary uses a part of it.
#![allow(dead_code, unused_imports, unused_macros)]

pub mod events;
pub mod service;
pub mod wait;
pub use service::{Answer, Backing, TestService};
pub use wait::wait_until;

/// Runs each test written against a [`TestService`] on both backings: as `in_process` and
/// `binary` tests in a module of the test's name (`the_test(backing: Backing)`).
macro_rules! on_both_backings {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn in_process() {
                super::$test($crate::support::Backing::InProcess).await
            }

            #[tokio::test]
            async fn binary() {
                super::$test($crate::support::Backing::Binary).await
            }
        }
    )*};
}
pub(crate) use on_both_backings;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_travel-planner");

/// Spawns the binary with JSON logs and waits for the log line carrying `field`.
fn spawn(args: &[&str], env: &[(&str, String)], field: &str) -> (Child, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("AZURE_OPENAI_ENDPOINT")
        .env_remove("DEMO_MODEL_URL")
        .env_remove("ADMIN_TOKEN")
        .env_remove("APPROVAL_WEBHOOK_URL")
        .env_remove("AZURE_STORAGE_ACCOUNT")
        .env_remove("AZURE_STORAGE_BLOB_ENDPOINT")
        .env_remove("AZURE_STORAGE_SAS_TOKEN")
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_SCHEMA")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info,duroxide=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("the binary starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let field = field.to_owned();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent
                && let Ok(value) = serde_json::from_str::<Value>(&line)
                && let Some(found) = value["fields"][&field].as_str()
            {
                let _ = tx.send(found.to_owned());
                sent = true;
            }
            if std::env::var_os("SHOW_SERVICE_LOGS").is_some() {
                eprintln!("{line}");
            }
        }
    });
    let found = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the process reports its address");
    (child, found)
}

/// The demo model in its own process, so that its counts survive the service's crashes.
pub struct DemoModel {
    child: Child,
    pub base_url: String,
    http: reqwest::Client,
}

impl DemoModel {
    pub fn start() -> Self {
        let (child, base_url) = spawn(&["demo-model", "--bind", "127.0.0.1:0"], &[], "base_url");
        Self {
            child,
            base_url,
            http: travel_platform::http::shared_client(),
        }
    }

    fn admin(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.trim_end_matches("/v1"))
    }

    pub async fn set_latency(&self, millis: u64) {
        let r = self
            .http
            .put(self.admin("/demo/latency"))
            .json(&json!({"millis": millis}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    pub async fn inject(&self, rules: Value) {
        let r = self
            .http
            .post(self.admin("/demo/faults"))
            .json(&rules)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// Waits until each of `agents` has had a request (a call at the model, with latency set).
    pub async fn wait_for_calls(&self, agents: &[&str]) {
        wait_until(
            "the agents' calls at the model",
            std::time::Duration::from_secs(10),
            || async {
                let counts = self.counts().await;
                let asked = |agent: &&str| counts["byAgent"][*agent].as_u64().unwrap_or(0) > 0;
                if agents.iter().all(asked) {
                    Ok(())
                } else {
                    Err(counts)
                }
            },
        )
        .await;
    }

    /// Requests received per agent (`destination`, `itinerary`, `local-tips`).
    pub async fn counts(&self) -> Value {
        self.http
            .get(self.admin("/demo/requests"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A trip killed (`kill -9`) while its itinerary and tips agents' calls are at the model, the
/// service restarted: waits for its plan and checks that the finished destination call was not
/// made again. The trip's id and approval token.
pub async fn killed_during_the_parallel_step(
    service: &mut TestService,
    demo: &DemoModel,
) -> (String, String) {
    demo.set_latency(1500).await;
    let (id, token) = service.start_trip(&trip_body(2)).await;
    service
        .wait_for(&id, std::time::Duration::from_secs(30), |t| {
            t["progress"]["step"] == "itinerary_and_tips"
        })
        .await;
    demo.wait_for_calls(&["itinerary", "local-tips"]).await;
    service.kill9();
    demo.set_latency(0).await;
    service.restart();

    service.wait_for_status(&id, "awaiting_approval").await;
    let counts = demo.counts().await;
    assert_eq!(
        counts["byAgent"]["destination"], 1,
        "the finished destination call was not made again: {counts}"
    );
    (id, token)
}

impl Drop for DemoModel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A start date `days` from today (trips start from today to about two years ahead).
pub fn start_in_days(days: u64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Days::new(days)).to_string()
}

pub fn trip_body(days: u32) -> Value {
    json!({
        "travelerName": "Ada Lovelace",
        "preferences": "quiet beaches, seafood",
        "durationDays": days,
        "budget": {"amount": 2500, "currency": "USD"},
        "startDate": start_in_days(60),
        "travelDates": "the second week",
        "specialRequirements": "vegetarian"
    })
}

/// Azurite's blob endpoint, started by `scripts/test`.
pub fn azurite_endpoint() -> String {
    std::env::var("AZURITE_BLOB_ENDPOINT").expect(
        "AZURITE_BLOB_ENDPOINT is not set: run the tests with scripts/test, which starts Azurite",
    )
}

/// An account SAS for Azurite's development account, signed with its well-known key.
pub fn azurite_sas(permissions: &str) -> String {
    travel_platform::sas::AccountSas {
        account: travel_platform::sas::AZURITE_ACCOUNT,
        key: travel_platform::sas::AZURITE_KEY,
        permissions,
        expiry: "2099-01-01T00:00:00Z",
    }
    .token()
    .unwrap()
}

/// A container name no other test uses.
pub fn unique_container(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    )
}

/// A private Azurite this test can stop and start.
pub struct Azurite {
    child: Option<Child>,
    pub port: u16,
    location: tempfile::TempDir,
}

impl Azurite {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut azurite = Self {
            child: None,
            port,
            location: tempfile::tempdir().unwrap(),
        };
        azurite.resume();
        azurite
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/devstoreaccount1", self.port)
    }

    /// Starts (again) on the same port and data folder.
    pub fn resume(&mut self) {
        let bin = std::env::var("AZURITE_BLOB_BIN")
            .expect("AZURITE_BLOB_BIN is not set: run the tests with scripts/test");
        let child = Command::new(bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &self.port.to_string(),
                "--disableTelemetry",
                "--silent",
                "--location",
            ])
            .arg(self.location.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "azurite did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops it as an operator would (SIGTERM: Azurite saves its state on the way out).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs the service expecting it to stop at start-up; returns its exit status and logs.
pub fn failed_start(data_dir: &Path, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
#[allow(dead_code)]
pub mod browser;

/// The PostgreSQL server the tests use (`DATABASE_URL`, by default the local one).
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of its own in the test database, dropped when this is dropped.
pub struct Schema {
    pub name: String,
}

impl Schema {
    pub fn new(prefix: &str) -> Self {
        Self {
            name: format!("{prefix}_{}", fastrand::u64(..)),
        }
    }

    /// Runs one SQL statement against the test database.
    pub fn execute(sql: &str) {
        let sql = sql.to_owned();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let pool = sqlx::PgPool::connect(&database_url())
                    .await
                    .expect("the test database answers");
                sqlx::query(&sql)
                    .execute(&pool)
                    .await
                    .expect("the statement runs");
            });
        })
        .join()
        .unwrap();
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        Self::execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

/// A local webhook receiver that keeps the JSON bodies it was sent, and answers 200.
pub async fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// A TCP relay to a server (the test database), that can be cut, as in an outage: while cut,
/// connections through it are closed and new ones refused; resumed, it relays again on the same
/// port.
pub struct TcpRelay {
    pub address: std::net::SocketAddr,
    target: String,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl TcpRelay {
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut relay = Self {
            address: listener.local_addr().unwrap(),
            target: target.to_owned(),
            running: None,
        };
        relay.serve(listener);
        relay
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let target = self.target.clone();
        self.running = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            // Dropping the set when this task is aborted closes every relayed connection.
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// The outage: open connections are closed, new ones refused.
    pub async fn cut(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
            let _ = running.await;
        }
    }

    /// The end of the outage.
    pub async fn resume(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.address).await.unwrap();
        self.serve(listener);
    }
}

/// `database_url()` through `relay`.
pub fn database_url_through(relay: &TcpRelay) -> String {
    let mut url = reqwest::Url::parse(&database_url()).unwrap();
    url.set_host(Some(&relay.address.ip().to_string())).unwrap();
    url.set_port(Some(relay.address.port())).unwrap();
    url.to_string()
}

/// The test database's `host:port`.
pub fn database_address() -> String {
    let url = reqwest::Url::parse(&database_url()).unwrap();
    format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    )
}
