//! The built-in demo model: a Chat Completions server on a loopback port.
//!
//! With no LLM provider configured the service starts it and points the ordinary client at it,
//! so the very same code path (async-openai, transport, retries, parsing, tool loop) runs. It
//! answers every agent from an embedded catalogue of real destinations, honours the
//! requested duration and budget currency, and drives the itinerary agent through real tool
//! calls. Threads it produced are marked `demo`. It honours the needs it recognises in the
//! traveller's words (vegetarian or vegan, step-free access, children; see `needs.rs`). It also
//! holds the conversational intake (`intake.rs`): a request offering the `start_trip` tool is a
//! chat with a traveller, whom it asks for what is missing, then restates the trip and, once they
//! confirm, calls `start_trip` with the trip request.
//!
//! Other OpenAI clients may use it too (`openai.rs`): `GET /v1/models`, errors in OpenAI's JSON
//! shape (a message's role or content, `temperature`, `top_p`, `stream`, `n`, the completion caps
//! and `tool_choice` refused with 400 as OpenAI refuses them), `stream: true` as Server-Sent
//! Events, `tool_choice`, `n` choices, `max_tokens` (a longer answer is cut and finishes
//! `length`), and a short plain answer to any request that is not one of the planner's agents.
//! It answers the model `demo` and the names it is told to serve besides (`DEMO_MODEL_NAMES`, or
//! [`DemoModelConfig::names`] where tests let it stand in for other providers); any other model, or
//! Azure deployment, is answered 404 `model_not_found` (`DeploymentNotFound`) as they are.
//!
//! Tests and benchmarks use it as the LLM double: it records every request, can be slowed down,
//! and injects [`Fault`]s (429 with `Retry-After`, 500, malformed JSON, schema-breaking replies,
//! refusals, truncation, slow replies, foreign tool calls, endless tool calls), programmatically
//! or over HTTP:
//!
//! * `POST /demo/faults` with a [`FaultRule`] or a list of them; `DELETE /demo/faults`;
//! * `PUT /demo/latency` with `{"millis": 250}`;
//! * `PUT /demo/rate-limit` with `{"requestsPerMinute": 600, "tokensPerMinute": 200000}` (either
//!   may be left out; `{}` lifts the limit): OpenAI's rate-limit headers on every answer, and 429
//!   for what the budget does not hold (`rate_limit.rs`);
//! * `GET /demo/requests` (counts per agent, requests refused for the rate limit, requests being
//!   answered now and at most at once; `?full=true` adds the last [`RECENT_REQUESTS_KEPT`]
//!   requests: a long-running service keeps counts, not every request).

mod answers;
pub mod catalogue;
mod faults;
mod intake;
mod needs;
mod openai;
mod rate_limit;
mod schema_answer;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use faults::{Fault, FaultRule};
pub use rate_limit::RateLimit;

pub use travel_agents::llm::DEMO_MODEL_NAME;
use travel_agents::llm::{LlmSettings, Provider};
use travel_agents::runner::{DATA_CLOSE, DATA_OPEN};
use travel_agents::{AgentName, DestinationBrief, TravellerBrief};

/// How the demo model behaves.
#[derive(Debug, Clone, Default)]
pub struct DemoModelConfig {
    /// Added to every answer.
    pub latency: Duration,
    /// Faults to inject, first match first.
    pub faults: Vec<FaultRule>,
    /// Requests and tokens a minute (none: no limit).
    pub rate_limit: RateLimit,
    /// Model (or Azure deployment) names served besides [`DEMO_MODEL_NAME`].
    pub names: Vec<String>,
}

impl DemoModelConfig {
    /// Reads `DEMO_MODEL_LATENCY_MS`, `DEMO_MODEL_FAULTS` (a JSON list of fault rules),
    /// `DEMO_MODEL_REQUESTS_PER_MINUTE`, `DEMO_MODEL_TOKENS_PER_MINUTE` and `DEMO_MODEL_NAMES`
    /// (comma-separated).
    pub fn from_env_with(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let latency = match var("DEMO_MODEL_LATENCY_MS").filter(|v| !v.trim().is_empty()) {
            Some(ms) => Duration::from_millis(
                ms.trim()
                    .parse()
                    .map_err(|_| format!("DEMO_MODEL_LATENCY_MS: `{ms}` is not a whole number"))?,
            ),
            None => Duration::ZERO,
        };
        let faults = match var("DEMO_MODEL_FAULTS").filter(|v| !v.trim().is_empty()) {
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| format!("DEMO_MODEL_FAULTS: {e}"))?
            }
            None => Vec::new(),
        };
        let per_minute = |name: &str| {
            var(name)
                .filter(|v| !v.trim().is_empty())
                .map(|n| {
                    n.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("{name}: `{n}` is not a positive whole number"))
                })
                .transpose()
        };
        let rate_limit = RateLimit {
            requests_per_minute: per_minute("DEMO_MODEL_REQUESTS_PER_MINUTE")?,
            tokens_per_minute: per_minute("DEMO_MODEL_TOKENS_PER_MINUTE")?,
        };
        let names = var("DEMO_MODEL_NAMES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Self {
            latency,
            faults,
            rate_limit,
            names,
        })
    }
}

/// One request the demo model received.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedRequest {
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    pub agent: Option<AgentName>,
}

impl ReceivedRequest {
    fn new(
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: &Value,
        agent: Option<AgentName>,
    ) -> Self {
        Self {
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            body: body.clone(),
            agent,
        }
    }
}

/// How many of the latest requests are kept whole (older ones are only counted).
pub const RECENT_REQUESTS_KEPT: usize = 100;

#[derive(Debug, Default)]
struct DemoState {
    latency: Mutex<Duration>,
    faults: Mutex<Vec<FaultRule>>,
    received: Mutex<Received>,
    /// `None`: no rate limit.
    budgets: Mutex<Option<rate_limit::Budgets>>,
    /// The model names it answers, its own first.
    names: Vec<String>,
}

/// What the demo model received: counts of every request, the latest ones whole.
#[derive(Debug, Default)]
struct Received {
    recent: VecDeque<ReceivedRequest>,
    total: u64,
    by_agent: BTreeMap<&'static str, u64>,
    /// Requests refused for the rate limit.
    rate_limited: u64,
    /// Requests being answered now, and the most at once.
    in_flight: u64,
    peak_in_flight: u64,
}

impl Received {
    fn record(&mut self, request: ReceivedRequest) {
        self.total += 1;
        *self
            .by_agent
            .entry(request.agent.map(|a| a.as_str()).unwrap_or("other"))
            .or_insert(0) += 1;
        if self.recent.len() == RECENT_REQUESTS_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(request);
    }
}

impl DemoState {
    fn new(config: DemoModelConfig) -> Arc<Self> {
        Arc::new(Self {
            latency: Mutex::new(config.latency),
            faults: Mutex::new(config.faults),
            budgets: Mutex::new(
                config
                    .rate_limit
                    .is_set()
                    .then(|| rate_limit::Budgets::new(config.rate_limit)),
            ),
            names: std::iter::once(DEMO_MODEL_NAME.to_owned())
                .chain(config.names)
                .collect(),
            ..Default::default()
        })
    }
}

/// A running demo model; stops when dropped.
#[derive(Debug)]
pub struct DemoModel {
    addr: SocketAddr,
    state: Arc<DemoState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl DemoModel {
    /// Starts on a free loopback port.
    pub async fn start(config: DemoModelConfig) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    pub async fn start_on(addr: SocketAddr, config: DemoModelConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = DemoState::new(config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        tracing::info!(%addr, "demo model listening");
        Ok(Self {
            addr,
            state,
            shutdown: Some(tx),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI-style base URL (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        base_url(self.addr)
    }

    /// LLM settings that point at this demo model.
    pub fn settings(&self) -> LlmSettings {
        LlmSettings::new(
            Provider::Demo {
                base_url: self.base_url(),
            },
            DEMO_MODEL_NAME,
        )
    }

    pub fn inject(&self, rule: FaultRule) {
        self.state.faults.lock().expect("faults").push(rule);
    }

    pub fn clear_faults(&self) {
        self.state.faults.lock().expect("faults").clear();
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.state.latency.lock().expect("latency") = latency;
    }

    /// Limits requests and tokens a minute from now on, with full budgets.
    pub fn set_rate_limit(&self, limit: RateLimit) {
        self.state.set_rate_limit(limit);
    }

    /// Requests refused for the rate limit so far, and the most answered at once.
    pub fn rate_limited_and_peak(&self) -> (u64, u64) {
        let received = self.state.received.lock().expect("received");
        (received.rate_limited, received.peak_in_flight)
    }

    /// The latest requests received (at most [`RECENT_REQUESTS_KEPT`]), oldest first.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        let received = self.state.received.lock().expect("received");
        received.recent.iter().cloned().collect()
    }
}

impl Drop for DemoModel {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The base URL of a demo model listening on `addr`.
pub fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}/v1")
}

/// Serves the demo model on `listener` until `shutdown` resolves (for `travel-planner demo-model`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: DemoModelConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(DemoState::new(config)))
        .with_graceful_shutdown(shutdown)
        .await
}

fn router(state: Arc<DemoState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(chat),
        )
        .route("/demo/faults", post(add_faults).delete(clear_faults))
        .route("/demo/latency", put(set_latency))
        .route("/demo/rate-limit", put(set_rate_limit))
        .route("/demo/requests", get(received))
        .route("/v1/models", get(models))
        .route("/v1/models/{model}", get(one_model))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(openai::unknown_url)
        .method_not_allowed_fallback(openai::method_not_allowed)
        .with_state(state)
}

/// `GET /v1/models`.
async fn models(State(state): State<Arc<DemoState>>) -> Json<Value> {
    Json(openai::models(&state.names))
}

/// `GET /v1/models/{model}`.
async fn one_model(
    State(state): State<Arc<DemoState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if state.names.contains(&id) {
        Json(openai::model(&id)).into_response()
    } else {
        openai::unknown_model(&id, false, &state.names)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<FaultRule>),
    One(FaultRule),
}

async fn add_faults(
    State(state): State<Arc<DemoState>>,
    Json(rules): Json<OneOrMany>,
) -> StatusCode {
    let rules = match rules {
        OneOrMany::Many(rules) => rules,
        OneOrMany::One(rule) => vec![rule],
    };
    state.faults.lock().expect("faults").extend(rules);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(state): State<Arc<DemoState>>) -> StatusCode {
    state.faults.lock().expect("faults").clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Latency {
    millis: u64,
}

async fn set_latency(
    State(state): State<Arc<DemoState>>,
    Json(latency): Json<Latency>,
) -> StatusCode {
    *state.latency.lock().expect("latency") = Duration::from_millis(latency.millis);
    StatusCode::NO_CONTENT
}

async fn set_rate_limit(
    State(state): State<Arc<DemoState>>,
    Json(limit): Json<RateLimit>,
) -> StatusCode {
    state.set_rate_limit(limit);
    StatusCode::NO_CONTENT
}

impl DemoState {
    fn set_rate_limit(&self, limit: RateLimit) {
        *self.budgets.lock().expect("budgets") =
            limit.is_set().then(|| rate_limit::Budgets::new(limit));
    }

    /// Takes a request of `tokens` from the rate limit's budgets, if there is one: the headers
    /// to answer with, or the refusal.
    fn take_budget(&self, tokens: u64) -> Result<HeaderMap, Box<Response>> {
        let verdict = match self.budgets.lock().expect("budgets").as_mut() {
            None => return Ok(HeaderMap::new()),
            Some(budgets) => budgets.take(tokens),
        };
        match verdict {
            rate_limit::Verdict::Allowed(headers) => Ok(headers),
            rate_limit::Verdict::Refused(wait, headers) => {
                self.received.lock().expect("received").rate_limited += 1;
                let mut response = openai::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "requests",
                    "Rate limit reached for requests or tokens per minute (demo rate limit)",
                    None,
                    Some("rate_limit_exceeded"),
                );
                response.headers_mut().extend(headers);
                if let Ok(value) = wait.as_secs_f64().ceil().to_string().parse() {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                Err(Box::new(response))
            }
        }
    }

    /// Counts a request as being answered until the returned guard is dropped.
    fn answering(self: &Arc<Self>) -> Answering {
        let mut received = self.received.lock().expect("received");
        received.in_flight += 1;
        received.peak_in_flight = received.peak_in_flight.max(received.in_flight);
        Answering(self.clone())
    }
}

/// A request being answered.
struct Answering(Arc<DemoState>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.received.lock().expect("received").in_flight -= 1;
    }
}

#[derive(Deserialize)]
struct ReceivedQuery {
    #[serde(default)]
    full: bool,
}

async fn received(
    State(state): State<Arc<DemoState>>,
    Query(q): Query<ReceivedQuery>,
) -> Json<Value> {
    let received = state.received.lock().expect("received");
    let mut body = json!({
        "total": received.total,
        "byAgent": received.by_agent,
        "rateLimited": received.rate_limited,
        "inFlight": received.in_flight,
        "peakInFlight": received.peak_in_flight,
    });
    if q.full {
        body["requests"] = json!(received.recent);
    }
    Json(body)
}

/// The agent asking: by the schema it asks for, or (a round with tools and no schema, as
/// `LLM_ROUNDS=tools-first` sends them) by the currency tools only the itinerary agent has.
fn agent_of(body: &Value) -> Option<AgentName> {
    body.pointer("/response_format/json_schema/name")
        .and_then(Value::as_str)
        .and_then(AgentName::by_schema_name)
        .or_else(|| {
            let tools = body["tools"].as_array()?;
            tools
                .iter()
                .any(|t| t["function"]["name"] == "convert_currency")
                .then_some(AgentName::Itinerary)
        })
}

/// Whether the request is the conversational intake's (it offers the `start_trip` tool): not one
/// of the planner's agents, it is answered by `intake.rs`.
fn is_intake(body: &Value) -> bool {
    body["tools"].as_array().is_some_and(|tools| {
        tools
            .iter()
            .any(|t| t["function"]["name"] == intake::START_TRIP)
    })
}

/// The traveller's data the agent put between the tags of its first user message.
fn traveller_data(body: &Value) -> Option<Value> {
    let messages = body.get("messages")?.as_array()?;
    let user = messages.iter().find(|m| m["role"] == "user")?;
    let text = user["content"].as_str()?;
    let start = text.find(DATA_OPEN)? + DATA_OPEN.len();
    let end = text.rfind(DATA_CLOSE)?;
    serde_json::from_str(text.get(start..end)?).ok()
}

async fn chat(
    State(state): State<Arc<DemoState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let _answering = state.answering();
    let tokens = travel_agents::llm::admission::estimated_tokens(&raw);
    let parsed = serde_json::from_slice::<Value>(&raw);
    drop(raw);
    let Ok(body) = parsed else {
        return openai::invalid_request(
            "We could not parse the JSON body of your request: it is not JSON.",
            None,
            None,
        );
    };
    if let Some(refused) =
        openai::missing_parameter(&body).or_else(|| openai::refused_parameter(&body))
    {
        return refused;
    }
    // Azure names the deployment in the path; the others, the model in the body.
    let deployment = uri
        .path()
        .strip_prefix("/openai/deployments/")
        .and_then(|rest| rest.split('/').next());
    let model = deployment.or(body["model"].as_str()).unwrap_or_default();
    if !state.names.iter().any(|n| n == model) {
        return openai::unknown_model(model, deployment.is_some(), &state.names);
    }
    let agent = agent_of(&body);
    state
        .received
        .lock()
        .expect("received")
        .record(ReceivedRequest::new(&uri, &headers, &body, agent));
    let budget_headers = match state.take_budget(tokens) {
        Ok(headers) => headers,
        Err(refused) => return *refused,
    };
    // A streamed answer takes as long as a whole one: half before its first piece, the rest
    // spread between its pieces (so that a follower sees it written).
    let latency = *state.latency.lock().expect("latency");
    let streamed = body["stream"] == true;
    let writing = if streamed {
        latency / 2
    } else {
        Duration::ZERO
    };
    // The answer is made before the wait, and the request dropped: a model elsewhere would hold
    // nothing of ours while it thinks, and with thousands of calls waiting at once the requests
    // (their schemas and tools, parsed) would be most of a benchmark's memory.
    let include_usage = body["stream_options"]["include_usage"] == true;
    let fault = faults::take(
        &mut state.faults.lock().expect("faults"),
        agent,
        is_tool_round(agent, &body),
    );
    let answered = answer_request(agent, &body, fault.as_ref());
    drop(body);
    if !latency.is_zero() {
        tokio::time::sleep(latency - writing).await;
    }
    let completion = match answered {
        Ok(completion) => completion,
        Err(refused) => return *refused,
    };
    if let Some(Fault::Slow { millis }) = fault {
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
    let mut response = if streamed {
        openai::stream(include_usage, &completion, writing)
    } else {
        Json(completion).into_response()
    };
    response.headers_mut().extend(budget_headers);
    response
}

/// The first round of the itinerary agent's call, when it is offered its tools.
fn is_tool_round(agent: Option<AgentName>, body: &Value) -> bool {
    agent == Some(AgentName::Itinerary)
        && body["tools"].as_array().is_some_and(|t| !t.is_empty())
        && !body["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"))
}

/// The completion for `body` (shaped as it asks), or the response that refuses it: a fault
/// that fails the request, or a request without the traveller's data.
fn answer_request(
    agent: Option<AgentName>,
    body: &Value,
    fault: Option<&Fault>,
) -> Result<Value, Box<Response>> {
    if let Some(failure) = fault.and_then(failed_request) {
        return Err(Box::new(failure));
    }
    let completion = match agent {
        None => {
            let (message, finish, text) = if is_intake(body) {
                intake::reply(body)
            } else {
                openai::plain_answer(body)
            };
            completion(body, message, finish, &text)
        }
        Some(agent) => {
            let Some(data) = traveller_data(body) else {
                return Err(Box::new(openai::invalid_request(
                    "no <traveller_data> JSON found in the user message",
                    Some("messages"),
                    None,
                )));
            };
            answer(agent, body, &data, fault).map_err(|problem| {
                Box::new(openai::invalid_request(&problem, Some("messages"), None))
            })?
        }
    };
    Ok(openai::shaped(body, completion))
}

/// The faults that fail the request itself (the others shape the answer, see [`answer`]).
fn failed_request(fault: &Fault) -> Option<Response> {
    Some(match fault {
        Fault::RateLimited { retry_after_secs } => {
            let mut response = openai::error(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "Rate limit reached (demo fault)",
                None,
                Some("rate_limit_exceeded"),
            );
            if let Ok(value) = retry_after_secs.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Fault::QuotaExceeded => openai::error(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            "You exceeded your current quota (demo fault)",
            None,
            Some("insufficient_quota"),
        ),
        Fault::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "upstream model crashed (demo fault)",
        )
            .into_response(),
        Fault::MalformedJson => (
            [(header::CONTENT_TYPE, "application/json")],
            "{\"id\": \"chatcmpl-demo\", \"choices\": [",
        )
            .into_response(),
        _ => return None,
    })
}

fn answer(
    agent: AgentName,
    body: &Value,
    data: &Value,
    fault: Option<&Fault>,
) -> Result<Value, String> {
    let bad =
        |e: serde_json::Error| format!("the traveller data does not fit the {agent} agent: {e}");
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let tools_answered = messages.iter().any(|m| m["role"] == "tool");
    let tool_choice = openai::ToolChoice::of(body);
    let must_call = matches!(
        tool_choice,
        openai::ToolChoice::Required | openai::ToolChoice::Named(_)
    );

    if fault == Some(&Fault::Refusal) {
        let message = json!({"role": "assistant", "content": null, "refusal": "I'm sorry, I can't help with that request."});
        return Ok(completion(body, message, "stop", ""));
    }
    let content = match agent {
        AgentName::Destination => {
            let brief: TravellerBrief = serde_json::from_value(data.clone()).map_err(bad)?;
            json!(answers::destinations(&brief))
        }
        AgentName::Itinerary => {
            let brief: DestinationBrief = serde_json::from_value(data.clone()).map_err(bad)?;
            if tool_choice != openai::ToolChoice::None
                && (must_call || !tools_answered || fault == Some(&Fault::ToolLoop))
            {
                let calls =
                    answers::itinerary_tool_calls(&brief, fault == Some(&Fault::ForeignToolCall));
                let message = json!({"role": "assistant", "content": null, "tool_calls": calls});
                return Ok(completion(body, message, "tool_calls", ""));
            }
            if body.get("response_format").is_none() {
                // Asked without a schema (tools first): a model with no grammar to follow
                // answers in prose, and is asked again for the answer itself.
                let prose = "I have the rates I need and can now write the day-by-day plan.";
                let message = json!({"role": "assistant", "content": prose});
                return Ok(completion(body, message, "stop", prose));
            }
            json!(answers::itinerary(&brief))
        }
        AgentName::LocalTips => {
            let brief: DestinationBrief = serde_json::from_value(data.clone()).map_err(bad)?;
            json!(answers::local_tips(&brief))
        }
        AgentName::Packing => {
            let brief: DestinationBrief = serde_json::from_value(data.clone()).map_err(bad)?;
            json!(answers::packing(&brief))
        }
    };
    let (text, finish) = match fault {
        Some(Fault::SchemaMismatch) => (
            json!({"answer": "see attached", "destinations": "three"}).to_string(),
            "stop",
        ),
        Some(Fault::InvalidOutput) => (answers::break_rules(content).to_string(), "stop"),
        Some(Fault::Truncated) => {
            let full = content.to_string();
            let cut = full
                .char_indices()
                .nth(full.chars().count() / 2)
                .map(|(i, _)| i)
                .unwrap_or(0);
            (full[..cut].to_owned(), "length")
        }
        _ => (content.to_string(), "stop"),
    };
    let message = json!({"role": "assistant", "content": text});
    Ok(completion(body, message, finish, &text))
}

/// A chat completion around `message`, with token counts estimated at four characters a token.
fn completion(request: &Value, message: Value, finish_reason: &str, text: &str) -> Value {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let messages = request["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let prompt_chars: usize = messages.iter().map(|m| m.to_string().len()).sum();
    let prompt_tokens = (prompt_chars / 4).max(1) as u64;
    let completion_tokens = (text.len().max(message.to_string().len()) / 4).max(1) as u64;
    // Later rounds resend the same opening messages; a real provider would serve them from its cache.
    let cached_tokens = if messages.len() > 2 {
        messages
            .iter()
            .take(2)
            .map(|m| m.to_string().len() as u64 / 4)
            .sum::<u64>()
            / 128
            * 128
    } else {
        0
    };
    let created = chrono::Utc::now().timestamp();
    json!({
        "id": format!("chatcmpl-demo-{n}"),
        "object": "chat.completion",
        "created": created,
        "model": request["model"].as_str().unwrap_or(DEMO_MODEL_NAME),
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens}
        }
    })
}
