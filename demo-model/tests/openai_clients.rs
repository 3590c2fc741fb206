//! The demo model as other OpenAI clients meet it: async-openai's own client (streaming, errors)
//! and plain HTTP (the model list, unknown paths and methods), and the traveller's needs honoured
//! in what the agents are told.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{CreateChatCompletionRequest, FinishReason};
use futures::StreamExt;
use serde_json::{Value, json};
use travel_agents::AgentName;
use travel_agents::runner::{DATA_CLOSE, DATA_OPEN};
use travel_demo_model::{DEMO_MODEL_NAME, DemoModel, DemoModelConfig};

async fn start() -> (DemoModel, Client<OpenAIConfig>) {
    let model = DemoModel::start(DemoModelConfig::default()).await.unwrap();
    let config = OpenAIConfig::new()
        .with_api_base(model.base_url())
        .with_api_key("not-needed");
    let client =
        Client::with_config(config).with_http_client(travel_platform::http::shared_client());
    (model, client)
}

fn request(body: Value) -> CreateChatCompletionRequest {
    serde_json::from_value(body).unwrap()
}

/// What a stream came to: the text, the tool calls (name, arguments), the finish reason, and
/// whether usage came in a last chunk of its own.
#[derive(Debug, Default)]
struct Streamed {
    chunks: usize,
    text: String,
    calls: Vec<(String, String)>,
    finish: Option<FinishReason>,
    usage_total: Option<u32>,
}

async fn stream(client: &Client<OpenAIConfig>, body: Value) -> Streamed {
    let mut stream = client.chat().create_stream(request(body)).await.unwrap();
    let mut out = Streamed::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        out.chunks += 1;
        assert_eq!(chunk.object, "chat.completion.chunk");
        if let Some(usage) = chunk.usage {
            assert!(
                chunk.choices.is_empty(),
                "usage comes in a chunk of its own"
            );
            out.usage_total = Some(usage.total_tokens);
        }
        for choice in chunk.choices {
            out.text
                .push_str(choice.delta.content.as_deref().unwrap_or_default());
            for call in choice.delta.tool_calls.unwrap_or_default() {
                let i = call.index as usize;
                if out.calls.len() <= i {
                    out.calls.resize(i + 1, Default::default());
                }
                if let Some(f) = call.function {
                    out.calls[i]
                        .0
                        .push_str(f.name.as_deref().unwrap_or_default());
                    out.calls[i]
                        .1
                        .push_str(f.arguments.as_deref().unwrap_or_default());
                }
            }
            out.finish = choice.finish_reason.or(out.finish);
        }
    }
    out
}

fn destination_request(stream: bool) -> Value {
    let brief = json!({"preferences": "museums, food and long walks", "durationDays": 3,
        "budget": {"amount": 2000.0, "currency": "EUR"}});
    json!({
        "model": DEMO_MODEL_NAME,
        "stream": stream,
        "stream_options": {"include_usage": true},
        "messages": [
            {"role": "system", "content": "You recommend destinations."},
            {"role": "user", "content": format!("{DATA_OPEN}{brief}{DATA_CLOSE}")}
        ],
        "response_format": {"type": "json_schema", "json_schema": {
            "name": AgentName::Destination.info().schema_name, "strict": true, "schema": {"type": "object"}}}
    })
}

#[tokio::test]
async fn an_agents_answer_streams_as_openai_chunks_with_usage_last() {
    let (_model, client) = start().await;
    let streamed = stream(&client, destination_request(true)).await;
    assert!(streamed.chunks > 3, "{streamed:?}");
    assert_eq!(streamed.finish, Some(FinishReason::Stop));
    assert!(streamed.usage_total.unwrap() > 0);
    let answer: Value = serde_json::from_str(&streamed.text).unwrap();
    assert_eq!(answer["destinations"].as_array().unwrap().len(), 3);

    // The same request without streaming answers the same shape in one body.
    let whole = client
        .chat()
        .create(request(destination_request(false)))
        .await
        .unwrap();
    let text = whole.choices[0].message.content.clone().unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["destinations"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn any_other_request_gets_a_plain_answer_and_tool_choice_is_honoured() {
    let (model, client) = start().await;
    let chat = |extra: Value| {
        let mut body = json!({"model": DEMO_MODEL_NAME, "stream": true,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let plain = stream(&client, chat(json!({}))).await;
    assert!(plain.text.contains("demo model"), "{plain:?}");
    assert!(plain.text.contains("capital of France"), "{plain:?}");
    assert_eq!(plain.finish, Some(FinishReason::Stop));
    assert!(plain.usage_total.is_none(), "usage only when asked for");

    let tools = json!([{"type": "function", "function": {"name": "lookup_city",
        "parameters": {"type": "object", "properties": {}}}}]);
    let required = stream(
        &client,
        chat(json!({"tools": tools, "tool_choice": "required"})),
    )
    .await;
    assert_eq!(
        required.calls,
        [("lookup_city".to_owned(), "{}".to_owned())]
    );
    assert_eq!(required.finish, Some(FinishReason::ToolCalls));
    let none = stream(
        &client,
        chat(json!({"tools": tools, "tool_choice": "none"})),
    )
    .await;
    assert!(none.calls.is_empty() && none.text.contains("demo model"));

    // Recorded like every request, as "other".
    let counts: Value = reqwest::get(format!("http://{}/demo/requests", model.addr()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["byAgent"]["other"], 3);
}

#[tokio::test]
async fn errors_have_openais_shape_and_name_the_parameter() {
    let (model, client) = start().await;
    let no_messages = client
        .chat()
        .create(request(json!({"model": DEMO_MODEL_NAME, "messages": []})))
        .await;
    match no_messages {
        Err(OpenAIError::ApiError(response)) => {
            let e = response.api_error;
            assert_eq!(e.r#type.as_deref(), Some("invalid_request_error"));
            assert_eq!(e.param.as_deref(), Some("messages"));
            assert!(e.message.contains("messages"), "{}", e.message);
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    let http = travel_platform::http::shared_client();
    let missing: Value = http
        .post(format!("{}/chat/completions", model.base_url()))
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(missing["error"]["param"], "model", "{missing}");
    assert_eq!(missing["error"]["code"], "missing_required_parameter");

    let base = model.base_url();
    let get = |path: &str| http.get(format!("{base}{path}")).send();
    let models: Value = get("/models").await.unwrap().json().await.unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], DEMO_MODEL_NAME);
    let one = get(&format!("/models/{DEMO_MODEL_NAME}")).await.unwrap();
    assert_eq!(one.status(), 200);
    for (response, status, code) in [
        (get("/models/gpt-7").await.unwrap(), 404, "model_not_found"),
        (get("/embeddings").await.unwrap(), 404, "unknown_url"),
        (
            get("/chat/completions").await.unwrap(),
            405,
            "method_not_supported",
        ),
        (
            http.post(format!("{base}/chat/completions"))
                .header("content-type", "application/json")
                .body("{not json")
                .send()
                .await
                .unwrap(),
            400,
            "",
        ),
    ] {
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        if !code.is_empty() {
            assert_eq!(body["error"]["code"], code, "{body}");
        }
    }
}

#[tokio::test]
async fn parameters_openai_refuses_are_refused_and_n_and_max_tokens_are_honoured() {
    let (model, _) = start().await;
    let http = travel_platform::http::shared_client();
    let url = format!("{}/chat/completions", model.base_url());
    let user = json!([{"role": "user", "content": "hi"}]);
    let tools = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]);
    for (body, param) in [
        (
            json!({"model": DEMO_MODEL_NAME, "messages": [{"role": "wizard", "content": "hi"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": DEMO_MODEL_NAME, "messages": [{"role": "user"}]}),
            "messages[0].content",
        ),
        (
            json!({"model": DEMO_MODEL_NAME, "messages": user, "temperature": 5}),
            "temperature",
        ),
        (
            json!({"model": DEMO_MODEL_NAME, "messages": user, "stream": "yes"}),
            "stream",
        ),
        (
            json!({"model": DEMO_MODEL_NAME, "messages": user, "n": 0}),
            "n",
        ),
        (
            json!({"model": DEMO_MODEL_NAME, "messages": user, "tool_choice": "required"}),
            "tool_choice",
        ),
        (
            json!({"model": DEMO_MODEL_NAME, "messages": user, "tools": tools,
                   "tool_choice": {"type": "function", "function": {"name": "book_all_hotels"}}}),
            "tool_choice",
        ),
    ] {
        let response = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
        assert_eq!(error["error"]["param"], param, "{error}");
    }
    // n choices, and a reply cut at max_tokens finishes `length`.
    let answer: Value = http
        .post(&url)
        .json(&json!({"model": DEMO_MODEL_NAME, "messages": user, "n": 3, "max_tokens": 5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let choices = answer["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3, "{answer}");
    for (i, choice) in choices.iter().enumerate() {
        assert_eq!(choice["index"], i);
        assert_eq!(choice["finish_reason"], "length", "{answer}");
        assert!(
            choice["message"]["content"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                <= 20
        );
    }
    assert_eq!(answer["usage"]["completion_tokens"], 5);
}

#[tokio::test]
async fn an_unknown_model_is_not_found_and_any_schema_asked_for_is_followed() {
    let (model, _) = start().await;
    let http = travel_platform::http::shared_client();
    let user = json!([{"role": "user", "content": "Where should I go?"}]);
    let post = |path: &str, body: Value| {
        http.post(format!("http://{}{path}", model.addr()))
            .json(&body)
            .send()
    };
    // Another model, or another Azure deployment, is not answered as if it were this one.
    let unknown = post(
        "/v1/chat/completions",
        json!({"model": "gpt-4o", "messages": user}),
    )
    .await
    .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found", "{body}");
    let deployment = post(
        "/openai/deployments/elsewhere/chat/completions?api-version=2024-10-21",
        json!({"model": DEMO_MODEL_NAME, "messages": user}),
    )
    .await
    .unwrap();
    assert_eq!(deployment.status(), 404);
    let body: Value = deployment.json().await.unwrap();
    assert_eq!(body["error"]["code"], "DeploymentNotFound", "{body}");

    // A strict tool the model must call gets the arguments its parameters require.
    let weather = json!({"type": "object", "properties": {"city": {"type": "string"},
        "days": {"type": "integer", "minimum": 1, "maximum": 7}}, "required": ["city", "days"],
        "additionalProperties": false});
    let answer: Value = post("/v1/chat/completions", json!({"model": DEMO_MODEL_NAME, "messages": user,
        "tools": [{"type": "function", "function": {"name": "forecast", "strict": true, "parameters": weather}}],
        "tool_choice": "required"}))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let call = &answer["choices"][0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "forecast");
    let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["city"].is_string(), "{arguments}");
    assert!(
        (1..=7).contains(&arguments["days"].as_i64().unwrap()),
        "{arguments}"
    );

    // A strict JSON schema that is not one of the planner's gets JSON of that schema, not prose.
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"},
        "reasons": {"type": "array", "items": {"type": "string"}}},
        "required": ["city", "reasons"], "additionalProperties": false});
    let answer: Value = post("/v1/chat/completions", json!({"model": DEMO_MODEL_NAME, "messages": user,
        "response_format": {"type": "json_schema", "json_schema": {"name": "pick", "strict": true, "schema": schema}}}))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let content: Value =
        serde_json::from_str(answer["choices"][0]["message"]["content"].as_str().unwrap())
            .expect("the content is JSON");
    assert!(
        content["city"].is_string() && content["reasons"].is_array(),
        "{content}"
    );
    assert_eq!(content.as_object().unwrap().len(), 2, "{content}");
}

/// The strict parameters of the intake's `start_trip` tool, as the service offers them.
fn start_trip_tool() -> Value {
    let text = json!({"type": "string"});
    let maybe_text = json!({"type": ["string", "null"]});
    json!({"type": "function", "function": {"name": "start_trip", "strict": true, "parameters": {
        "type": "object",
        "properties": {
            "travelerName": text, "preferences": text,
            "durationDays": {"type": "integer", "minimum": 1, "maximum": 30},
            "budget": {"type": "object", "properties": {
                "amount": {"type": "number", "exclusiveMinimum": 0}, "currency": text},
                "required": ["amount", "currency"], "additionalProperties": false},
            "startDate": {"type": ["string", "null"], "format": "date"},
            "travelDates": maybe_text, "specialRequirements": maybe_text},
        "required": ["travelerName", "preferences", "durationDays", "budget", "startDate",
            "travelDates", "specialRequirements"],
        "additionalProperties": false}}})
}

#[tokio::test]
async fn an_intake_conversation_streams_its_restatement_and_start_trip_call() {
    let (_model, client) = start().await;
    let mut messages = vec![
        json!({"role": "system", "content": "You are the intake agent."}),
        json!({"role": "user", "content": "I'm Ana: 5 days of beaches and food in Portugal, 2000 EUR, vegetarian, in June."}),
    ];
    let body = |messages: &[Value]| {
        json!({"model": DEMO_MODEL_NAME, "stream": true, "stream_options": {"include_usage": true},
            "messages": messages, "tools": [start_trip_tool()]})
    };
    let restatement = stream(&client, body(&messages)).await;
    assert_eq!(restatement.finish, Some(FinishReason::Stop));
    assert!(restatement.calls.is_empty(), "{restatement:?}");
    assert!(
        restatement.text.contains("Ana") && restatement.text.contains("2000 EUR"),
        "{restatement:?}"
    );

    messages.push(json!({"role": "assistant", "content": restatement.text}));
    messages.push(json!({"role": "user", "content": "yes please"}));
    let call = stream(&client, body(&messages)).await;
    assert_eq!(call.finish, Some(FinishReason::ToolCalls));
    assert!(call.text.is_empty(), "{call:?}");
    assert!(call.usage_total.unwrap() > 0);
    let [(name, arguments)] = call.calls.as_slice() else {
        panic!("one tool call: {call:?}");
    };
    assert_eq!(name, "start_trip");
    let arguments: Value = serde_json::from_str(arguments).unwrap();
    assert_eq!(arguments["travelerName"], "Ana");
    assert_eq!(arguments["durationDays"], 5);
    assert_eq!(
        arguments["budget"],
        json!({"amount": 2000.0, "currency": "EUR"})
    );
    assert_eq!(arguments["travelDates"], "June");
    assert!(arguments["startDate"].is_null());
    assert_eq!(arguments.as_object().unwrap().len(), 7, "{arguments}");
}
