//! Traces over OTLP: a small OTLP/HTTP receiver collects what the real binary exports for one
//! whole trip (planned, approved days later in its life, booked), and the test checks that the
//! trip is one trace, that its spans form the expected tree, and that agent calls carry the
//! OpenTelemetry GenAI attributes (and no message content unless asked).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use support::*;

type Spans = Arc<Mutex<Vec<Value>>>;

/// An OTLP/HTTP (protobuf) receiver on a free loopback port: its base URL and the spans received.
/// The export is decoded with the official OTLP protobuf definitions (`opentelemetry-proto`), as
/// a backend reads it; each span is kept as JSON with its attributes' types as they came.
async fn receiver() -> (String, Spans) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    let spans = Spans::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(|State(spans): State<Spans>, body: Bytes| async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut kept = spans.lock().unwrap();
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        kept.extend(scope.spans.iter().map(span_json));
                    }
                }
                axum::body::Bytes::new()
            }),
        )
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), spans)
}

/// A decoded span as JSON: ids in hex, its kind as the protocol's number, each attribute's value
/// under its type (`stringValue`, `intValue` as a JSON number, `arrayValue` as a list, ...).
fn span_json(span: &opentelemetry_proto::tonic::trace::v1::Span) -> Value {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    json!({
        "name": span.name,
        "traceId": hex(&span.trace_id),
        "spanId": hex(&span.span_id),
        "parentSpanId": hex(&span.parent_span_id),
        "kind": span.kind,
        "status": span.status.as_ref().map(|s| s.code),
        "links": span.links.iter().map(|l| json!({
            "traceId": hex(&l.trace_id),
            "spanId": hex(&l.span_id),
        })).collect::<Vec<_>>(),
        "attributes": span.attributes.iter().map(|a| json!({
            "key": a.key,
            "value": a.value.as_ref().map(any_value).unwrap_or(Value::Null),
        })).collect::<Vec<_>>(),
    })
}

fn any_value(value: &opentelemetry_proto::tonic::common::v1::AnyValue) -> Value {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    match &value.value {
        Some(V::StringValue(s)) => json!({"stringValue": s}),
        Some(V::IntValue(i)) => json!({"intValue": i}),
        Some(V::BoolValue(b)) => json!({"boolValue": b}),
        Some(V::DoubleValue(d)) => json!({"doubleValue": d}),
        Some(V::ArrayValue(array)) => {
            json!({"arrayValue": array.values.iter().map(any_value).collect::<Vec<_>>()})
        }
        other => json!({"other": format!("{other:?}")}),
    }
}

/// A span attribute's value, whatever its type.
fn attribute(span: &Value, key: &str) -> Option<Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| {
            let value = &a["value"];
            for kind in [
                "stringValue",
                "intValue",
                "boolValue",
                "doubleValue",
                "arrayValue",
            ] {
                if let Some(v) = value.get(kind) {
                    return v.clone();
                }
            }
            value.clone()
        })
}

/// A span attribute's value with its type: `{"intValue": 3}`.
fn typed(span: &Value, key: &str) -> Option<Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| a["value"].clone())
}

fn named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["name"] == name).collect()
}

/// Runs a whole trip (planned, approved, booked) on the binary exporting to a receiver; answers
/// the trip's id, its root span id, the spans of its trace, and every span received (the
/// requests' traces too).
async fn traced_trip(
    extra_env: &[(&'static str, &str)],
    fault: Option<Value>,
) -> (String, String, Vec<Value>, Vec<Value>) {
    let (endpoint, received) = receiver().await;
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    env.extend_from_slice(extra_env);
    let service = TestService::binary(data.path(), &demo, &env);
    if let Some(fault) = fault {
        demo.inject(fault).await;
    }
    let (id, token) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    let (trace_id, root) = travel_platform::trace::trip_trace(&id);
    let (trace_id, root) = (trace_id.to_string(), root.to_string());
    let in_trace = || -> Vec<Value> {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s["traceId"] == trace_id.as_str())
            .cloned()
            .collect()
    };
    // A trip waiting for approval (for days, maybe) has its trace's root already.
    wait_until(
        "the waiting trip's root",
        Duration::from_secs(20),
        || async {
            let spans = in_trace();
            let rooted = spans.iter().any(|s| s["spanId"] == root.as_str());
            if rooted { Ok(()) } else { Err(spans) }
        },
    )
    .await;
    let decided = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(decided.status(), 200);
    service.wait_for_status(&id, "booked").await;

    // The booking's span and the review: the run is checked by the tests, whatever came.
    let spans = wait_until(
        "the booking and the review",
        Duration::from_secs(20),
        || async {
            let spans = in_trace();
            let reviewed = !named(&spans, "review TripPlanning").is_empty();
            if !named(&spans, "activity BookTrip").is_empty() && reviewed {
                Ok(spans)
            } else {
                Err(spans.len())
            }
        },
    )
    .await;
    let all = received.lock().unwrap().clone();
    (id, root, spans, all)
}

#[tokio::test]
async fn a_whole_trip_is_one_trace_with_genai_attributes_on_agent_calls() {
    let (id, root, spans, all) = traced_trip(&[], None).await;
    let names: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();

    // The trip's steps, from the request that started it to the booking, in its one trace.
    for name in [
        "start trip",
        "activity RunDestinationAgent",
        "activity RunItineraryAgent",
        "activity RunLocalTipsAgent",
        "activity SaveNewPlan",
        "decide",
        "activity BookTrip",
    ] {
        assert!(names.contains(&name), "no `{name}` span in {names:?}");
    }
    // The trace has its root: the workflow, from the trip's start to its plan awaiting approval,
    // then the review under it, to the booking.
    let roots: Vec<&Value> = spans
        .iter()
        .filter(|s| s["spanId"] == root.as_str())
        .collect();
    assert_eq!(roots.len(), 1, "one root span {root} in {names:?}");
    assert_eq!(roots[0]["name"], "invoke_workflow TripPlanning");
    assert_eq!(roots[0]["parentSpanId"], "");
    assert_eq!(
        attribute(roots[0], "trip.state"),
        Some(json!("awaiting_approval"))
    );
    let review = named(&spans, "review TripPlanning");
    assert_eq!(review.len(), 1, "{names:?}");
    assert_eq!(review[0]["parentSpanId"], root.as_str());
    assert_eq!(attribute(review[0], "trip.outcome"), Some(json!("booked")));

    // The requests are HTTP server spans, and the trip's start and approval link to theirs.
    let started = named(&all, "POST /api/trips");
    assert!(!started.is_empty(), "{names:?}");
    assert_eq!(started[0]["kind"], 2, "SPAN_KIND_SERVER");
    assert_eq!(
        attribute(started[0], "http.request.method"),
        Some(json!("POST"))
    );
    assert_eq!(
        attribute(started[0], "http.route"),
        Some(json!("/api/trips"))
    );
    let code = typed(started[0], "http.response.status_code").unwrap();
    assert_eq!(code["intValue"], 202, "{code}");
    let approved = named(&all, "POST /approve/{instance_id}");
    assert!(!approved.is_empty(), "{names:?}");
    for (step, request) in [("start trip", started[0]), ("decide", approved[0])] {
        let links = &named(&spans, step)[0]["links"];
        assert!(
            links
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["spanId"] == request["spanId"]),
            "{step} links to its request: {links}"
        );
    }

    for step in ["start trip", "decide", "activity RunDestinationAgent"] {
        let span = named(&spans, step)[0];
        assert_eq!(
            span["parentSpanId"],
            root.as_str(),
            "{step} hangs off the trip"
        );
        assert_eq!(attribute(span, "trip.id"), Some(json!(id)));
    }

    // Agent calls: invoke_agent inside the activity, chat rounds and tool calls inside it.
    let by_id = |span_id: &Value| spans.iter().find(|s| s["spanId"] == *span_id);
    let agents = named(&spans, "invoke_agent destination");
    assert_eq!(agents.len(), 1, "{names:?}");
    let agent = agents[0];
    assert_eq!(
        by_id(&agent["parentSpanId"]).unwrap()["name"],
        "activity RunDestinationAgent"
    );
    assert_eq!(
        attribute(agent, "gen_ai.operation.name"),
        Some(json!("invoke_agent"))
    );
    assert_eq!(
        attribute(agent, "gen_ai.agent.name"),
        Some(json!("destination"))
    );
    let chats = named(&spans, "chat travel-demo");
    assert!(
        chats.len() >= 4,
        "one round per agent and the itinerary's tool round: {names:?}"
    );
    for chat in &chats {
        assert_eq!(
            attribute(chat, "gen_ai.operation.name"),
            Some(json!("chat"))
        );
        assert_eq!(
            attribute(chat, "gen_ai.provider.name"),
            Some(json!("travel_planner.demo"))
        );
        assert_eq!(
            attribute(chat, "gen_ai.request.model"),
            Some(json!("travel-demo"))
        );
        let parent = by_id(&chat["parentSpanId"]).expect("the agent's span");
        assert!(
            parent["name"]
                .as_str()
                .unwrap()
                .starts_with("invoke_agent ")
        );
        // Types a backend can add up: tokens as integers, finish reasons as a string array;
        // a call to the model's provider is a CLIENT span (kind 3).
        let tokens = typed(chat, "gen_ai.usage.input_tokens").expect("input tokens");
        assert!(tokens["intValue"].as_i64().unwrap() > 0, "{tokens}");
        let output = typed(chat, "gen_ai.usage.output_tokens").expect("output tokens");
        assert!(output["intValue"].as_i64().is_some(), "{output}");
        let reasons = typed(chat, "gen_ai.response.finish_reasons").expect("finish reasons");
        let reasons = reasons["arrayValue"].as_array().expect("an array");
        assert!(!reasons.is_empty());
        assert!(
            reasons.iter().all(|r| r["stringValue"].is_string()),
            "{reasons:?}"
        );
        assert_eq!(chat["kind"], 3, "SPAN_KIND_CLIENT");
        assert!(
            attribute(chat, "gen_ai.input.messages").is_none(),
            "message content only when asked for"
        );
    }
    let tools = named(&spans, "execute_tool get_exchange_rate");
    assert!(!tools.is_empty(), "{names:?}");
    assert_eq!(
        attribute(tools[0], "gen_ai.tool.name"),
        Some(json!("get_exchange_rate"))
    );
    assert_eq!(
        by_id(&tools[0]["parentSpanId"]).unwrap()["name"],
        "invoke_agent itinerary"
    );
}

#[tokio::test]
async fn message_content_is_on_the_spans_only_when_asked_for() {
    // The destination agent's first request fails (500): its `chat` span says so.
    let (_, _, spans, _) = traced_trip(
        &[("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")],
        Some(json!({"kind": "server_error", "agent": "destination", "times": 1})),
    )
    .await;
    let chats = named(&spans, "chat travel-demo");
    let (failed, answered): (Vec<&Value>, Vec<&Value>) = chats
        .into_iter()
        .partition(|chat| attribute(chat, "error.type").is_some());
    assert_eq!(failed.len(), 1, "{spans:?}");
    assert_eq!(
        attribute(failed[0], "error.type"),
        Some(json!("server_error"))
    );
    assert_eq!(failed[0]["status"], 2, "STATUS_CODE_ERROR");
    assert!(!answered.is_empty());
    for chat in answered {
        let sent = attribute(chat, "gen_ai.input.messages").expect("the messages sent");
        assert!(sent.as_str().unwrap().contains("traveller_data"), "{sent}");
        assert!(attribute(chat, "gen_ai.output.messages").is_some());
    }
}
