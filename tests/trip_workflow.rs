//! The whole service with the demo model over HTTP: approve and reject (each on both backings,
//! in-process and the real binary), expire, every `/approve` error, validation errors, and
//! kill -9 at the worst moments (the binary).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

on_both_backings!(
    approved_trips_are_booked_once_with_the_plan_saved_and_threads_kept,
    rejected_trips_finish_unbooked_with_the_comments,
);

async fn approved_trips_are_booked_once_with_the_plan_saved_and_threads_kept(backing: Backing) {
    let demo = DemoModel::start();
    let service = TestService::setup().demo_model(&demo).start(backing).await;
    let (id, token) = service.start_trip(&trip_body(3)).await;

    let waiting = service.wait_for_status(&id, "awaiting_approval").await;
    let progress = &waiting["progress"];
    assert_eq!(progress["step"], "awaiting_approval");
    assert!(progress["destination"].as_str().unwrap().contains(", "));
    assert!(progress["approval"]["expiresAt"].is_string());
    let plan = &waiting["plan"];
    assert_eq!(plan["instanceId"], id.as_str());
    assert_eq!(plan["revision"], 1);
    assert_eq!(plan["demo"], true);
    assert_eq!(plan["itinerary"]["days"].as_array().unwrap().len(), 3);
    assert_eq!(plan["costs"]["total"]["currency"], "USD");
    assert!(
        plan["costs"]["rates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["source"].is_string() && r["date"].is_string())
    );
    // Saved as JSON and Markdown, named by instance and revision.
    assert!(
        service
            .data_dir
            .join(format!("plans/{id}/rev-1.json"))
            .exists()
    );
    let markdown = service.get(&format!("/api/trips/{id}/plan.md")).await;
    assert_eq!(
        markdown.headers()["content-type"],
        "text/markdown; charset=utf-8"
    );
    assert!(markdown.text().await.unwrap().contains("Demo plan"));
    let json_plan: Value = service
        .get(&format!("/api/trips/{id}/plan"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(&json_plan, plan);
    // Every agent's thread can be read back.
    for agent in ["destination", "itinerary", "local-tips"] {
        let thread: Value = service
            .get(&format!("/api/trips/{id}/agents/{agent}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(thread["agent"], agent);
        assert!(thread["usage"]["totalTokens"].as_u64().unwrap() > 0);
        assert!(thread["messages"].as_array().unwrap().len() >= 3);
    }
    let unknown_agent = service.get(&format!("/api/trips/{id}/agents/pilot")).await;
    assert_eq!(unknown_agent.status(), 404);

    let decided = service
        .decide(
            &id,
            Some(&token),
            &json!({"approved": true, "comments": "Looks lovely"}),
        )
        .await;
    assert_eq!(decided.status(), 200);
    let booked = service.wait_for_status(&id, "booked").await;
    let outcome = &booked["outcome"];
    assert_eq!(outcome["state"], "booked");
    assert!(
        outcome["booking"]["confirmationCode"]
            .as_str()
            .unwrap()
            .starts_with("TP-")
    );
    assert_eq!(outcome["decision"]["comments"], "Looks lovely");
    assert_eq!(service.bookings(), 1);

    // The same decision again answers the first outcome; no second booking.
    let again = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        again["outcome"]["booking"]["confirmationCode"],
        outcome["booking"]["confirmationCode"]
    );
    // A different decision now is a conflict.
    let changed = service
        .decide(&id, Some(&token), &json!({"approved": false}))
        .await;
    assert_eq!(changed.status(), 409);
    assert_eq!(service.bookings(), 1);
}

async fn rejected_trips_finish_unbooked_with_the_comments(backing: Backing) {
    let demo = DemoModel::start();
    let (hook, received) = webhook_receiver().await;
    let service = TestService::setup()
        .demo_model(&demo)
        .setting("APPROVAL_WEBHOOK_URL", &hook)
        .setting("PUBLIC_BASE_URL", "https://trips.example.org")
        .start(backing)
        .await;
    let (id, token) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    // The approval request was announced with a summary and the links, and without the token.
    let announced = notifications(&received, 1).await;
    assert_eq!(announced[0]["event"], "planned");
    assert_eq!(announced[0]["instanceId"], id.as_str());
    assert_eq!(announced[0]["travelerName"], "Ada Lovelace");
    assert_eq!(
        announced[0]["approveUrl"],
        format!("https://trips.example.org/approve/{id}")
    );
    assert!(announced[0]["total"]["amount"].is_number());
    assert!(!announced[0].to_string().contains(&token));
    let response = service
        .decide(
            &id,
            Some(&token),
            &json!({"approved": false, "comments": "Too far this year"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let trip = service.wait_for_status(&id, "rejected").await;
    assert_eq!(trip["outcome"]["decision"]["comments"], "Too far this year");
    assert!(trip["outcome"]["booking"].is_null());
    assert_eq!(service.bookings(), 0);
    // And the rejection was announced too.
    let announced = notifications(&received, 2).await;
    assert_eq!(announced[1]["event"], "rejected");
    assert_eq!(announced[1]["decision"]["comments"], "Too far this year");
}

/// Waits until the receiver holds `n` notifications, and answers them.
async fn notifications(received: &std::sync::Mutex<Vec<Value>>, n: usize) -> Vec<Value> {
    let now = wait_until(
        &format!("{n} notifications"),
        Duration::from_secs(10),
        || async {
            let now = received.lock().unwrap().clone();
            if now.len() >= n { Ok(now) } else { Err(now) }
        },
    )
    .await;
    assert_eq!(now.len(), n, "{now:?}");
    now
}

#[tokio::test]
async fn an_unanswered_plan_expires_unbooked() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[("APPROVAL_TIMEOUT_SECS", "2")]);
    let (id, token) = service.start_trip(&trip_body(1)).await;
    let trip = service.wait_for_status(&id, "expired").await;
    assert!(trip["outcome"]["booking"].is_null());
    let late = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(late.status(), 409);
    let body: Value = late.json().await.unwrap();
    assert_eq!(body["error"]["trip"]["status"], "expired");
    assert_eq!(service.bookings(), 0);
}

#[tokio::test]
async fn approve_refuses_what_it_must_and_raises_no_event() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);

    // While still planning: 409 with the current state.
    demo.set_latency(1500).await;
    let (id, token) = service.start_trip(&trip_body(1)).await;
    let early = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(early.status(), 409);
    let body: Value = early.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_awaiting_approval");
    assert_eq!(body["error"]["trip"]["status"], "planning");
    demo.set_latency(0).await;
    service.wait_for_status(&id, "awaiting_approval").await;

    let missing = service.decide(&id, None, &json!({"approved": true})).await;
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );
    let wrong = service
        .decide(&id, Some("not-the-token"), &json!({"approved": true}))
        .await;
    assert_eq!(wrong.status(), 403);
    let unknown = service
        .decide(
            "trip-00000000000000000000",
            Some(&token),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    let malformed = service
        .http
        .post(service.url(&format!("/approve/{id}")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"approved\": tru")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );
    let shapeless = service
        .decide(&id, Some(&token), &json!({"approved": "yes"}))
        .await;
    assert_eq!(shapeless.status(), 422);

    // None of that raised an event: the trip still waits, and then takes a real decision.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(service.trip(&id).await["status"], "awaiting_approval");
    let ok = service
        .decide(&id, Some(&token), &json!({"approved": false}))
        .await;
    assert_eq!(ok.status(), 200);
    service.wait_for_status(&id, "rejected").await;
}

#[tokio::test]
async fn invalid_requests_get_clear_json_errors_and_start_nothing() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);

    let bad = json!({"travelerName": "", "preferences": "beaches", "durationDays": 40, "budget": {"amount": 0, "currency": "DOLLARS"}});
    let response = service.post("/api/trips", &bad).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "travelerName",
            "durationDays",
            "budget.amount",
            "budget.currency"
        ]
    );

    let missing = service
        .post("/api/trips", &json!({"travelerName": "Ada"}))
        .await;
    assert_eq!(missing.status(), 422);
    let missing: Value = missing.json().await.unwrap();
    assert_eq!(missing["error"]["code"], "validation_failed", "{missing}");
    assert_eq!(missing["error"]["fields"][0]["field"], "preferences");
    assert_eq!(
        missing["error"]["fields"][0]["message"],
        "This field is required."
    );

    let malformed = service
        .http
        .post(service.url("/api/trips"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let not_json = service
        .http
        .post(service.url("/api/trips"))
        .body("name=Ada")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    let huge = json!({"travelerName": "Ada", "preferences": "x".repeat(70 * 1024), "durationDays": 2, "budget": {"amount": 1, "currency": "USD"}});
    let too_big = service.post("/api/trips", &huge).await;
    assert_eq!(too_big.status(), 413);
    assert_eq!(
        too_big.json::<Value>().await.unwrap()["error"]["code"],
        "body_too_large"
    );

    let unknown = service.get("/api/trips/trip-ffffffffffffffffffff").await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    assert_eq!(demo.counts().await["total"], 0, "nothing reached the model");
}

#[tokio::test]
async fn health_readiness_and_the_openapi_document() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);
    assert_eq!(service.get("/healthz").await.status(), 200);
    assert_eq!(service.get("/readyz").await.status(), 200);
    let doc: Value = service.get("/api/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/trips",
        "/api/trips/{instance_id}",
        "/approve/{instance_id}",
        "/api/trips/{instance_id}/agents/{agent}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    let nowhere = service.get("/api/nowhere").await;
    assert_eq!(nowhere.status(), 404);
    assert!(nowhere.json::<Value>().await.unwrap()["error"]["message"].is_string());
    let page = service.get("/nowhere").await;
    assert_eq!(page.status(), 404);
    assert!(page.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn kill_9_during_the_parallel_step_loses_nothing_and_repeats_no_finished_agent() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let mut service = TestService::binary(data.path(), &demo, &[]);
    let (id, token) = killed_during_the_parallel_step(&mut service, &demo).await;
    let response = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(response.status(), 200);
    service.wait_for_status(&id, "booked").await;
    assert_eq!(service.bookings(), 1);
}

#[tokio::test]
async fn kill_9_during_the_approval_wait_resumes_the_wait_and_books_once() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let mut service = TestService::binary(data.path(), &demo, &[]);
    let (id, token) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    let before = demo.counts().await;
    service.kill9();
    service.restart();

    assert_eq!(service.trip(&id).await["status"], "awaiting_approval");
    let response = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(response.status(), 200);
    service.wait_for_status(&id, "booked").await;
    assert_eq!(demo.counts().await, before, "no agent call was made again");
    assert_eq!(service.bookings(), 1);
    // A second restart changes nothing.
    service.restart();
    assert_eq!(service.trip(&id).await["status"], "booked");
    assert_eq!(service.bookings(), 1);
}

#[tokio::test]
async fn an_mcp_client_plans_follows_revises_and_approves_a_trip() {
    let demo = DemoModel::start();
    let service = TestService::setup().demo_model(&demo).binary();
    let python_path = std::env::var("MCP_PYTHONPATH")
        .expect("MCP_PYTHONPATH names PyPI mcp 2.3.0, installed by scripts/test");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp_client.py");
    let ran = tokio::process::Command::new("python3")
        .arg(script)
        .arg(service.url("/mcp"))
        .env("PYTHONPATH", python_path)
        .output()
        .await
        .unwrap();
    assert!(
        ran.status.success(),
        "the MCP client failed:\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let seen: Value = serde_json::from_slice(&ran.stdout).unwrap();
    let id = seen["instanceId"].as_str().unwrap();

    // The four tools, no operator's action; their schemas are the API's.
    let tools = seen["tools"].as_object().unwrap();
    let mut names: Vec<&str> = tools.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        ["ask_for_changes", "decide", "get_trip", "plan_trip"]
    );
    let openapi: Value = service.get("/api/openapi.json").await.json().await.unwrap();
    let api_schema = |name: &str| -> Value {
        let text = openapi["components"]["schemas"][name]
            .to_string()
            .replace("#/components/schemas/", "#/$defs/");
        serde_json::from_str(&text).unwrap()
    };
    let plan_trip = &tools["plan_trip"]["inputSchema"];
    let request = api_schema("TripRequest");
    assert_eq!(plan_trip["properties"], request["properties"]);
    assert_eq!(plan_trip["required"], request["required"]);
    assert_eq!(plan_trip["additionalProperties"], false);
    let decide = &tools["decide"]["inputSchema"];
    let approve = api_schema("ApproveRequest");
    for (field, schema) in approve["properties"].as_object().unwrap() {
        assert_eq!(&decide["properties"][field], schema, "{field}");
    }
    for field in ["approved", "instanceId", "approvalToken"] {
        assert!(
            decide["required"]
                .as_array()
                .unwrap()
                .contains(&json!(field)),
            "{field}"
        );
    }
    assert_eq!(tools["get_trip"]["annotations"]["readOnlyHint"], true);
    assert_eq!(tools["decide"]["annotations"]["destructiveHint"], true);
    assert!(seen["unknownTool"].as_str().unwrap().contains("retry_trip"));
    assert_eq!(
        seen["resourceTemplates"],
        json!([
            "trip://{instanceId}/plan.json",
            "trip://{instanceId}/plan.md"
        ])
    );

    // Refusals are the API's error bodies, for the same reasons.
    assert_eq!(seen["invalidRequest"]["error"]["code"], "validation_failed");
    assert_eq!(
        seen["invalidRequest"]["error"]["fields"][0]["field"],
        "durationDays"
    );
    let mistyped = json!({
        "travelerName": "Ada",
        "preferences": "quiet beaches, seafood",
        "durationDays": "three",
        "budget": {"amount": 2500, "currency": "USD"},
        "specialRequirements": "vegetarian",
    });
    let (code, refused) = service.post("/api/trips", &mistyped).await.parts();
    assert_eq!(code, 422);
    assert_eq!(seen["mistypedRequest"], refused, "the API's very answer");
    let body = json!({"approved": true});
    let (_, wrong) = service
        .decide(id, Some("not-the-token"), &body)
        .await
        .parts();
    assert_eq!(seen["wrongToken"], wrong);
    let (_, missing) = service.decide(id, None, &body).await.parts();
    assert_eq!(seen["noToken"], missing);

    // The links go where the API and the pages are.
    let planned = &seen["planned"];
    assert_eq!(
        planned["links"]["page"],
        service.url(&format!("/trips/{id}"))
    );
    assert_eq!(
        planned["links"]["status"],
        service.url(&format!("/api/trips/{id}"))
    );
    assert_eq!(
        planned["links"]["planResource"],
        format!("trip://{id}/plan.md")
    );

    // Revised once, read as a resource (the API's Markdown), approved, booked once.
    assert_eq!(seen["firstPlan"]["revision"], 1);
    assert_eq!(seen["revisedPlan"]["revision"], 2);
    let markdown = service
        .get(&format!("/api/trips/{id}/plan.md"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(seen["planResource"]["text"], markdown.as_str());
    assert_eq!(seen["planResource"]["mimeType"], "text/markdown");
    assert_eq!(seen["planResource"]["jsonRevision"], 2);
    assert_eq!(seen["booked"]["status"], "booked");
    assert_eq!(seen["booked"]["decision"]["approved"], true);
    assert_eq!(service.bookings(), 1);

    // What is not a JSON-RPC message is refused as the API refuses a body, not answered.
    for (body, code) in [
        (
            json!({"jsonrpc": "2.0", "id": "", "method": "", "params": null}),
            422,
        ),
        (
            json!({"jsonrpc": "1.0", "id": 1, "method": "tools/list"}),
            422,
        ),
        (json!(["tools/list"]), 422),
    ] {
        let (status, refused) = service
            .request(axum::http::Method::POST, "/mcp")
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .send()
            .await
            .parts();
        assert_eq!(status, code, "{body}: {refused}");
        assert_eq!(refused["error"]["code"], "invalid_body");
    }
    let (status, refused) = service
        .request(axum::http::Method::POST, "/mcp")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .parts();
    assert_eq!(
        (status.as_u16(), &refused["error"]["code"]),
        (400, &json!("malformed_json"))
    );

    // A page of another site may not call it (as it may not call the API).
    let cross_site = service
        .request(axum::http::Method::POST, "/mcp")
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://elsewhere.example")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await;
    assert_eq!(cross_site.status(), 403);
}
