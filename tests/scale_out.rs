//! Many processes on one PostgreSQL store, and one process per SQLite file: kill -9 one process
//! mid-trip and another finishes its trip; racing decisions book once; the trips index survives
//! crashes and is rebuilt when dropped.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::browser::Browser;
use support::{
    DemoModel, Schema, TcpRelay, TestService, database_address, database_url, database_url_through,
    failed_start, trip_body, wait_until,
};

/// A `serve` process on the shared PostgreSQL schema (its data folder holds the shared bookings).
fn on_postgres(data: &std::path::Path, demo: &DemoModel, schema: &Schema) -> TestService {
    let url = database_url();
    TestService::binary(
        data,
        demo,
        &[
            ("DATABASE_URL", url.as_str()),
            ("DATABASE_SCHEMA", schema.name.as_str()),
        ],
    )
}

#[tokio::test]
async fn two_processes_share_one_postgres_store_and_finish_each_others_trips() {
    let data = tempfile::tempdir().unwrap();
    let schema = Schema::new("scale_out");
    let demo = DemoModel::start();
    let mut a = on_postgres(data.path(), &demo, &schema);
    let b = on_postgres(data.path(), &demo, &schema);

    // A trip started on A is seen on B, and a decision made on B is booked.
    let (first, token) = a.start_trip(&trip_body(2)).await;
    b.wait_for_status(&first, "awaiting_approval").await;
    assert_eq!(
        b.decide(&first, Some(&token), &json!({"approved": true}))
            .await
            .status(),
        200
    );
    a.wait_for_status(&first, "booked").await;
    assert_eq!(b.bookings(), 1);

    // Kill -9 A while its agents run: B takes the trip over once A's leases run out. A browser
    // and an API client follow the trip's events on B all the while.
    demo.set_latency(1500).await;
    let (second, token) = a.start_trip(&trip_body(2)).await;
    let mut stream = b.events(&second, None).await.ok().unwrap();
    let browser = Browser::start(true).await;
    browser.goto(&b.url(&format!("/trips/{second}"))).await;
    browser
        .client
        .execute(
            "window.__ids = [];
             document.body.addEventListener('htmx:sseMessage', (e) => {
               // The changes; the replies as they are written have no id of their own.
               if (e.detail.type !== 'reply') window.__ids.push(Number(e.detail.lastEventId));
             });",
            vec![],
        )
        .await
        .unwrap();
    let mut followed = stream
        .until(|e| e.data["progress"]["step"] == "itinerary_and_tips")
        .await;
    let destination_calls = demo.counts().await["byAgent"]["destination"].clone();
    a.kill9();
    demo.set_latency(0).await;
    let killed = Instant::now();
    followed.extend(
        stream
            .until(|e| e.data["progress"]["state"] == "awaiting_approval")
            .await,
    );
    b.wait_for_status(&second, "awaiting_approval").await;
    browser.wait_for("#review", false).await;
    // What each follower got is the record: in order, nothing missing, nothing twice.
    let recorded: Vec<u64> = b
        .get(&format!("/api/trips/{second}/events"))
        .await
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    let streamed: Vec<u64> = followed.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(streamed, recorded[..streamed.len()], "{recorded:?}");
    let shown: Vec<u64> = serde_json::from_value(
        browser
            .client
            .execute("return window.__ids;", vec![])
            .await
            .unwrap(),
    )
    .unwrap();
    let from = recorded.iter().position(|id| Some(id) == shown.first());
    let from = from.unwrap_or_else(|| panic!("the page saw events {shown:?} of {recorded:?}"));
    assert_eq!(shown, recorded[from..from + shown.len()], "{recorded:?}");
    assert!(
        shown.contains(streamed.last().unwrap()),
        "the page saw the trip reach its review: {shown:?}"
    );
    browser.close().await;
    assert!(
        killed.elapsed() < Duration::from_secs(20),
        "B took {:?} to take the trip over",
        killed.elapsed()
    );
    let counts = demo.counts().await;
    assert_eq!(
        counts["byAgent"]["destination"], destination_calls,
        "the finished destination call was not made again: {counts}"
    );
    assert_eq!(
        b.decide(&second, Some(&token), &json!({"approved": true}))
            .await
            .status(),
        200
    );
    b.wait_for_status(&second, "booked").await;
    assert_eq!(b.bookings(), 2, "each trip booked once");
}

#[tokio::test]
async fn twenty_racing_decisions_over_two_processes_record_one_and_book_once() {
    let data = tempfile::tempdir().unwrap();
    let schema = Schema::new("scale_out");
    let demo = DemoModel::start();
    let a = on_postgres(data.path(), &demo, &schema);
    let b = on_postgres(data.path(), &demo, &schema);
    let (id, token) = a.start_trip(&trip_body(1)).await;
    a.wait_for_status(&id, "awaiting_approval").await;

    let mut racing = Vec::new();
    for n in 0..20 {
        let service = if n % 2 == 0 { &a } else { &b };
        let approved = n % 3 != 0;
        let (id, token) = (&id, &token);
        racing.push(async move {
            (
                approved,
                service
                    .decide(id, Some(token), &json!({"approved": approved}))
                    .await,
            )
        });
    }
    let answers = futures::future::join_all(racing).await;
    let mut winners = std::collections::BTreeSet::new();
    for (approved, response) in answers {
        match response.status().as_u16() {
            200 => {
                winners.insert(approved);
            }
            409 => {}
            other => panic!(
                "unexpected answer {other}: {}",
                response.text().await.unwrap()
            ),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "every 200 agrees with one decision: {winners:?}"
    );
    let approved = *winners.iter().next().unwrap();
    let finished = a
        .wait_for(&id, Duration::from_secs(60), |t| {
            t["status"] == "booked" || t["status"] == "rejected"
        })
        .await;
    assert_eq!(
        finished["status"],
        if approved { "booked" } else { "rejected" }
    );
    let history: Vec<Value> = a
        .get(&format!("/api/instances/{id}/history"))
        .await
        .json()
        .await
        .unwrap();
    let events = history
        .iter()
        .filter(|e| e["name"] == "ApprovalEvent" && !e["payload"].is_null())
        .count();
    assert_eq!(events, 1, "exactly one decision reached the workflow");
    assert_eq!(a.bookings(), usize::from(approved));

    // A conversation opened on A goes on on B (it lives in the shared store); two messages sent
    // at once on A and on B: one is answered, the other refused as busy and not kept.
    let (code, opened) = a.post("/api/conversations", &json!({})).await.parts();
    assert_eq!(code, 201, "{opened}");
    let conversation = opened["conversation"]["conversationId"].as_str().unwrap();
    let token = opened["conversationToken"].as_str().unwrap();
    let path = format!("/api/conversations/{conversation}/messages");
    demo.set_latency(500).await;
    let say = |service, text| {
        TestService::request(service, axum::http::Method::POST, &path)
            .bearer_auth(token)
            .json(&json!({ "text": text }))
            .send()
    };
    let (on_a, on_b) = tokio::join!(
        say(&a, "A week of museums, 2000 EUR, I'm Ada Lovelace"),
        say(&b, "Beaches for 3 days")
    );
    let mut codes = [on_a.status().as_u16(), on_b.status().as_u16()];
    codes.sort();
    assert_eq!(codes, [200, 409], "one answered, one busy");
    demo.set_latency(0).await;
    let (_, kept) = b
        .request(
            axum::http::Method::GET,
            &format!("/api/conversations/{conversation}"),
        )
        .bearer_auth(token)
        .send()
        .await
        .parts();
    let messages = kept["conversation"]["messages"].as_array().unwrap();
    assert_eq!(
        messages.len(),
        3,
        "the greeting, one message, its reply: {kept}"
    );
}

#[tokio::test]
async fn a_second_serve_on_the_same_sqlite_folder_refuses_to_start() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let _first = TestService::binary(data.path(), &demo, &[]);
    let (status, stderr) = failed_start(data.path(), &[("DEMO_MODEL_URL", demo.base_url.as_str())]);
    assert!(!status.success());
    assert!(
        stderr.contains("in use by another travel-planner process"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_trips_index_is_rebuilt_from_the_engine_when_dropped() {
    let data = tempfile::tempdir().unwrap();
    let schema = Schema::new("scale_out");
    let demo = DemoModel::start();
    let mut service = on_postgres(data.path(), &demo, &schema);
    let (waiting, _) = service.start_trip(&trip_body(1)).await;
    let (rejected, token) = service.start_trip(&trip_body(1)).await;
    service.wait_for_status(&waiting, "awaiting_approval").await;
    service
        .wait_for_status(&rejected, "awaiting_approval")
        .await;
    service
        .decide(
            &rejected,
            Some(&token),
            &json!({"approved": false, "comments": "no"}),
        )
        .await;
    let before_waiting = service.trip(&waiting).await;
    let before_rejected = service.wait_for_status(&rejected, "rejected").await;
    service.kill9();

    Schema::execute(&format!("DROP TABLE {}.trips", schema.name));
    service.restart();
    assert_eq!(
        service.trip(&waiting).await["status"],
        before_waiting["status"]
    );
    assert_eq!(
        service.trip(&waiting).await["progress"],
        before_waiting["progress"]
    );
    assert_eq!(
        service.trip(&rejected).await["outcome"],
        before_rejected["outcome"]
    );
    let list: Value = service
        .get("/api/instances?status=awaiting_approval")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["instanceId"], waiting.as_str());
}

#[tokio::test]
async fn two_processes_deliver_each_notification_once() {
    let data = tempfile::tempdir().unwrap();
    let schema = Schema::new("notify_out");
    let demo = DemoModel::start();
    let (hook, received) = support::webhook_receiver().await;
    let url = database_url();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("DATABASE_SCHEMA", schema.name.as_str()),
        ("APPROVAL_WEBHOOK_URL", hook.as_str()),
    ];
    let a = TestService::binary(data.path(), &demo, &env);
    let b = TestService::binary(data.path(), &demo, &env);
    let mut trips = Vec::new();
    for n in 0..4 {
        let on = if n % 2 == 0 { &a } else { &b };
        trips.push(on.start_trip(&trip_body(2)).await);
    }
    for (n, (id, token)) in trips.iter().enumerate() {
        // Decided on the other process than the one that started it.
        let other = if n % 2 == 0 { &b } else { &a };
        other.wait_for_status(id, "awaiting_approval").await;
        let decided = other
            .decide(id, Some(token), &json!({"approved": true}))
            .await;
        assert_eq!(decided.status(), 200);
    }
    for (id, _) in &trips {
        a.wait_for_status(id, "booked").await;
    }
    // Planned, approved, booked: three per trip, each delivered once by one of the processes
    // (a moment is left after the last, for any second delivery to show).
    let keys = || -> Vec<String> {
        received
            .lock()
            .unwrap()
            .iter()
            .map(|n| {
                format!(
                    "{}:{}",
                    n["instanceId"].as_str().unwrap(),
                    n["event"].as_str().unwrap()
                )
            })
            .collect()
    };
    let expected = trips.len() * 3;
    wait_until("every notification", Duration::from_secs(30), || async {
        let keys = keys();
        if keys.len() >= expected {
            Ok(())
        } else {
            Err(keys)
        }
    })
    .await;
    // A second delivery of any of them (by another process) would come soon after: none may.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let keys = keys();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), trips.len() * 3, "{keys:?}");
    assert_eq!(keys.len(), unique.len(), "delivered twice: {keys:?}");
}

// Two worker threads: the relay keeps relaying while the test waits for the process, blocking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_answered_503_at_once_with_nothing_internal_and_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let schema = Schema::new("outage");
    let demo = DemoModel::start();
    let mut relay = TcpRelay::start(&database_address()).await;
    let url = database_url_through(&relay);
    let service = TestService::binary(
        data.path(),
        &demo,
        &[
            ("DATABASE_URL", url.as_str()),
            ("DATABASE_SCHEMA", schema.name.as_str()),
        ],
    );
    let (id, token) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;

    relay.cut().await;
    let internal = [
        "127.0.0.1",
        "5432",
        "sqlx",
        "pool",
        "refused",
        "database",
        "postgres",
    ];
    for (path, code) in [
        (format!("/api/trips/{id}"), "store_unavailable"),
        ("/api/instances".to_owned(), "store_unavailable"),
        ("/readyz".to_owned(), "not_ready"),
    ] {
        let asked = Instant::now();
        let answer = service.get(&path).await;
        let took = asked.elapsed();
        assert_eq!(answer.status(), 503, "{path}");
        let body = answer.text().await.unwrap();
        assert!(took < Duration::from_secs(8), "{path} took {took:?}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["code"], code, "{path}: {body}");
        for word in internal {
            assert!(
                !body.to_lowercase().contains(word),
                "{path} says {word}: {body}"
            );
        }
    }

    // Back: the trip is where it was, and books.
    relay.resume().await;
    service
        .wait_for(&id, Duration::from_secs(60), |t| {
            t["status"] == "awaiting_approval"
        })
        .await;
    let decided = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(decided.status(), 200);
    service.wait_for_status(&id, "booked").await;
    assert_eq!(service.bookings(), 1);
}
