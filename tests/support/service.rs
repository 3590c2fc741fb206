//! One harness for the whole service. A [`TestService`] runs it either in this process (the
//! library's composition root, `serve::start_with_settings` and `serve::app`, its router driven
//! with `tower::ServiceExt::oneshot`: no process, no port) or as the real `travel-planner` binary
//! (a child process on a free port, which can be killed -9 and restarted). Either way it is set
//! up with the same settings (the README's environment variables) and asked the same way
//! ([`TestService::request`], answered as an [`Answer`]), so a test that needs neither kill -9
//! nor the process' one metrics recorder is written once and can run on both.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use clap::{CommandFactory, FromArgMatches};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt;
use travel_planner::serve::{self, Running, ServeArgs};

use super::{DemoModel, spawn, wait_until};

/// Where the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// In this process: fast, and the test can reach the running parts.
    InProcess,
    /// The real binary as a child process: what users run, and what kill -9 can stop.
    Binary,
}

/// How the service is set up: a data folder and settings by their environment-variable names.
#[derive(Default)]
pub struct Setup {
    data_dir: Option<PathBuf>,
    owned: Option<tempfile::TempDir>,
    settings: Vec<(String, String)>,
}

impl Setup {
    /// Keeps the workflow store, plans and bookings in `path` (by default a fresh temporary
    /// folder the service owns).
    pub fn data_dir(mut self, path: &Path) -> Self {
        self.data_dir = Some(path.to_owned());
        self
    }

    /// Keeps them in `folder`, which the service owns from now on (a fixture's copy).
    pub fn data_folder(mut self, folder: tempfile::TempDir) -> Self {
        self.data_dir = Some(folder.path().to_owned());
        self.owned = Some(folder);
        self
    }

    /// One setting, by the name the README's configuration table gives it.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn settings(self, settings: &[(&str, &str)]) -> Self {
        settings
            .iter()
            .fold(self, |setup, (name, value)| setup.setting(name, value))
    }

    /// The agents talk to `demo`, the demo model in a process of its own (`DEMO_MODEL_URL`);
    /// without it, to the service's built-in demo model.
    pub fn demo_model(self, demo: &DemoModel) -> Self {
        self.setting("DEMO_MODEL_URL", &demo.base_url)
    }

    pub async fn start(self, backing: Backing) -> TestService {
        match backing {
            Backing::InProcess => self.in_process().await,
            Backing::Binary => self.binary(),
        }
    }

    pub async fn in_process(mut self) -> TestService {
        let (data_dir, owned) = self.folder();
        let args = serve_args(&self.settings, &data_dir);
        let settings = self.settings.clone();
        let lookup = move |name: &str| {
            settings
                .iter()
                .rev()
                .find(|(set, _)| set == name)
                .map(|(_, value)| value.clone())
        };
        let running = serve::start_with_settings(&args, &args.tuning.tuning(), &lookup)
            .await
            .expect("the service starts in-process");
        let app = serve::app(&running, running.exposure_for(&args));
        let repairs = running.repair_now_and_then();
        TestService {
            data_dir,
            _owned: owned,
            settings: self.settings,
            runs: Runs::InProcess(Box::new(InProcess {
                running,
                app,
                _repairs: repairs,
            })),
            http: travel_platform::http::shared_client(),
        }
    }

    pub fn binary(mut self) -> TestService {
        let (data_dir, owned) = self.folder();
        let mut service = TestService {
            data_dir,
            _owned: owned,
            settings: self.settings,
            runs: Runs::Binary {
                child: None,
                base_url: String::new(),
            },
            http: travel_platform::http::shared_client(),
        };
        service.launch();
        service
    }

    fn folder(&mut self) -> (PathBuf, Option<tempfile::TempDir>) {
        match &self.data_dir {
            Some(path) => (path.clone(), self.owned.take()),
            None => {
                let owned = tempfile::tempdir().unwrap();
                (owned.path().to_owned(), Some(owned))
            }
        }
    }
}

/// `serve`'s arguments from the settings clap reads for it (by their environment-variable
/// names, as the binary would read them), and from nowhere else: the process' environment is not
/// read, so each in-process service has only its own settings.
fn serve_args(settings: &[(String, String)], data_dir: &Path) -> ServeArgs {
    #[derive(clap::Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }
    let command = Serve::command();
    let mut argv = vec!["serve".to_owned()];
    for (name, value) in settings {
        if let Some(flag) = command
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|env| env == name.as_str()))
        {
            argv.push(format!("--{}={value}", flag.get_long().unwrap()));
        }
    }
    argv.push(format!("--data-dir={}", data_dir.display()));
    argv.push("--bind=127.0.0.1:0".to_owned());
    let command = command.mut_args(|arg| arg.env(None));
    let matches = command
        .try_get_matches_from(argv)
        .expect("the settings are valid");
    Serve::from_arg_matches(&matches).unwrap().args
}

/// The service, running in-process or as the binary.
pub struct TestService {
    /// The workflow store, the plans and the sandbox bookings (a binary restarted keeps them).
    pub data_dir: PathBuf,
    _owned: Option<tempfile::TempDir>,
    settings: Vec<(String, String)>,
    pub(super) runs: Runs,
    /// A client for the binary's address (it follows redirects; [`TestService::request`] does
    /// not, on either backing).
    pub http: reqwest::Client,
}

pub(super) enum Runs {
    InProcess(Box<InProcess>),
    Binary {
        child: Option<Child>,
        base_url: String,
    },
}

pub(super) struct InProcess {
    running: Running,
    pub(super) app: Router,
    _repairs: travel_orchestration::engine::wakeups::AbortOnDrop,
}

impl TestService {
    pub fn setup() -> Setup {
        Setup::default()
    }

    /// The binary on `data_dir`, its agents talking to `demo`, with `settings` besides.
    pub fn binary(data_dir: &Path, demo: &DemoModel, settings: &[(&str, &str)]) -> Self {
        Self::setup()
            .data_dir(data_dir)
            .demo_model(demo)
            .settings(settings)
            .binary()
    }

    pub fn backing(&self) -> Backing {
        match self.runs {
            Runs::InProcess(_) => Backing::InProcess,
            Runs::Binary { .. } => Backing::Binary,
        }
    }

    /// The running parts of an in-process service.
    pub fn running(&self) -> &Running {
        match &self.runs {
            Runs::InProcess(service) => &service.running,
            Runs::Binary { .. } => panic!("the running parts are in-process only"),
        }
    }

    /// The trips of an in-process service, as the API and the pages ask them.
    pub fn trips(&self) -> &travel_orchestration::Trips {
        &self.running().trips
    }

    /// The built-in demo model of an in-process service started without another model.
    pub fn demo(&self) -> &travel_demo_model::DemoModel {
        self.running()
            .demo_model()
            .expect("no model configured: the built-in demo model")
    }

    /// Requests the built-in demo model received from `agent`'s calls.
    pub fn asked(&self, agent: travel_agents::AgentName) -> usize {
        self.demo()
            .requests()
            .iter()
            .filter(|r| r.agent == Some(agent))
            .count()
    }

    /// Where the binary listens (`http://127.0.0.1:port`); an in-process service has no port.
    pub fn base_url(&self) -> &str {
        match &self.runs {
            Runs::Binary { base_url, .. } => base_url,
            Runs::InProcess(_) => panic!("an in-process service has no address"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    fn launch(&mut self) {
        let Runs::Binary { child, base_url } = &mut self.runs else {
            panic!("only the binary is launched")
        };
        let data_dir = self.data_dir.display().to_string();
        // Where the killed process listened, if any (see `restart_on_the_same_address`).
        let bind = base_url
            .strip_prefix("http://")
            .unwrap_or("127.0.0.1:0")
            .to_owned();
        let env: Vec<(&str, String)> = self
            .settings
            .iter()
            .map(|(name, value)| (name.as_str(), value.clone()))
            .collect();
        let (started, address) = spawn(
            &["serve", "--bind", &bind, "--data-dir", &data_dir],
            &env,
            "address",
        );
        *child = Some(started);
        *base_url = format!("http://{address}");
    }

    /// SIGKILL: no shutdown, no cleanup (the binary only).
    pub fn kill9(&mut self) {
        let Runs::Binary { child, .. } = &mut self.runs else {
            panic!("only the binary can be killed")
        };
        if let Some(mut child) = child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// kill -9, then the binary again on the same data folder and settings (on another port:
    /// the clients' pooled connections to the killed one are not reused).
    pub fn restart(&mut self) {
        self.kill9();
        if let Runs::Binary { base_url, .. } = &mut self.runs {
            base_url.clear();
        }
        self.launch();
    }

    /// [`Self::restart`] on the same address, as a restarted service: browsers following it
    /// reconnect there.
    pub fn restart_on_the_same_address(&mut self) {
        self.kill9();
        self.launch();
    }

    /// Stops the service as `serve` does on a signal.
    pub async fn stop(mut self) {
        let stopped = Runs::Binary {
            child: None,
            base_url: String::new(),
        };
        if let Runs::InProcess(service) = std::mem::replace(&mut self.runs, stopped) {
            service
                .running
                .engine
                .shutdown(Duration::from_secs(2))
                .await;
        }
    }

    /// A request to `path` (with its query), sent with [`Call::send`].
    pub fn request(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            service: self,
            request: Request::builder().method(method).uri(path),
            body: Vec::new(),
        }
    }

    /// Sends `request` (its URI a path, with its query).
    pub async fn send(&self, request: Request<Body>) -> Answer {
        match &self.runs {
            Runs::InProcess(service) => {
                Answer::read(service.app.clone().oneshot(request).await.unwrap()).await
            }
            Runs::Binary { base_url, .. } => {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let response = travel_platform::http::client_without_redirects()
                    .request(parts.method, format!("{base_url}{}", parts.uri))
                    .headers(parts.headers)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                Answer {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body: response.bytes().await.unwrap().to_vec(),
                }
            }
        }
    }

    /// Where `answer` leads, as a browser follows it: the page its redirects end at.
    pub async fn followed(&self, mut answer: Answer) -> Answer {
        while answer.status.is_redirection() {
            let location = answer.headers[header::LOCATION]
                .to_str()
                .unwrap()
                .to_owned();
            answer = self.get(&location).await;
        }
        answer
    }

    /// A page's form posted by a browser holding `cookies`: its one field, the form token
    /// `csrf`.
    pub async fn post_form(&self, path: &str, cookies: &str, csrf: &str) -> Answer {
        self.request(Method::POST, path)
            .header(header::COOKIE, cookies)
            .form(&format!("csrf={csrf}"))
            .send()
            .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request(Method::GET, path).send().await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.request(Method::POST, path).json(body).send().await
    }

    /// Starts a trip; returns its id and approval token.
    pub async fn start_trip(&self, body: &Value) -> (String, String) {
        let response = self.post("/api/trips", body).await;
        let status = response.status();
        let location = response.headers().get(header::LOCATION).cloned();
        let created: Value = response.json().await.unwrap();
        assert_eq!(status, 202, "{created}");
        let id = created["instanceId"].as_str().unwrap().to_owned();
        assert_eq!(location.unwrap(), format!("/api/trips/{id}").as_str());
        assert_eq!(created["statusUrl"], format!("/api/trips/{id}"));
        (id, created["approvalToken"].as_str().unwrap().to_owned())
    }

    pub async fn trip(&self, id: &str) -> Value {
        let response = self.get(&format!("/api/trips/{id}")).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Asks until `done` holds for the trip (or panics after `limit`).
    pub async fn wait_for(
        &self,
        id: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_until(&format!("trip {id}"), limit, || async {
            let trip = self.trip(id).await;
            if done(&trip) { Ok(trip) } else { Err(trip) }
        })
        .await
    }

    pub async fn wait_for_status(&self, id: &str, status: &str) -> Value {
        self.wait_for(id, Duration::from_secs(90), |t| t["status"] == status)
            .await
    }

    /// `POST /approve/{id}` with `body`, holding the approval token `token`.
    pub async fn decide(&self, id: &str, token: Option<&str>, body: &Value) -> Answer {
        let call = self
            .request(Method::POST, &format!("/approve/{id}"))
            .json(body);
        match token {
            Some(token) => call.bearer_auth(token),
            None => call,
        }
        .send()
        .await
    }

    /// A form token the service issued, from its form page: (the cookie to send, the token for
    /// the form's `csrf` field).
    pub async fn form_token(&self) -> (String, String) {
        let page = self.get("/").await;
        let set_cookie = page
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("tp_csrf=") || c.starts_with("__Host-tp_csrf="))
            .expect("the form page sets the form cookie")
            .to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let token = cookie.split_once('=').unwrap().1.to_owned();
        (cookie, token)
    }

    /// Bookings the sandbox provider recorded.
    pub fn bookings(&self) -> usize {
        std::fs::read_dir(self.data_dir.join("bookings"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        if let Runs::Binary { child, .. } = &mut self.runs
            && let Some(mut child) = child.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A request on its way to a [`TestService`].
pub struct Call<'a> {
    service: &'a TestService,
    request: axum::http::request::Builder,
    body: Vec<u8>,
}

impl Call<'_> {
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.request = self.request.header(
            HeaderName::try_from(name.as_ref()).unwrap(),
            HeaderValue::try_from(value.as_ref()).unwrap(),
        );
        self
    }

    pub fn bearer_auth(self, token: &str) -> Self {
        self.header(header::AUTHORIZATION, format!("Bearer {token}"))
    }

    pub fn json(self, body: &Value) -> Self {
        self.header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }

    /// A form, as a browser posts it (`name=value&...`, already encoded).
    pub fn form(self, encoded: &str) -> Self {
        self.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(encoded)
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub async fn send(self) -> Answer {
        let request = self.request.body(Body::from(self.body)).unwrap();
        self.service.send(request).await
    }
}

/// What the service answered (redirects are not followed).
pub struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Answer {
    /// An in-process response, read whole.
    pub(super) async fn read(response: axum::response::Response) -> Self {
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body as `T` (async and fallible, as reqwest's, so that tests read the same).
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    pub async fn text(self) -> Result<String, std::string::FromUtf8Error> {
        String::from_utf8(self.body)
    }

    /// The status, and the body as JSON, or as a JSON string when it is not JSON (a page).
    pub fn parts(self) -> (StatusCode, Value) {
        let body = serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()));
        (self.status, body)
    }
}
