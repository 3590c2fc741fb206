//! Notifications on every change of a trip's state, on the real binary: each signed with
//! `WEBHOOK_SECRET`, carrying an idempotency key, retried with back-off while the receiver is
//! down, and delivered once each across a kill -9; the dashboard shows the delivery log.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use support::*;

const SECRET: &str = "a-webhook-secret-for-the-tests";

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    key: String,
    event_header: String,
    signature: String,
    body: String,
    answered: StatusCode,
}

/// A webhook receiver that can be taken down (it answers 503 meanwhile).
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    down: Arc<AtomicBool>,
}

impl Receiver {
    async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let (sink, is_down) = (received.clone(), down.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (sink, is_down) = (sink.clone(), is_down.clone());
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let answered = if is_down.load(Ordering::SeqCst) {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    };
                    sink.lock().unwrap().push(Received {
                        key: header("idempotency-key"),
                        event_header: header("x-travel-event"),
                        signature: header("x-travel-signature"),
                        body,
                        answered,
                    });
                    answered
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            received,
            down,
        }
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The keys answered 200, in order.
    fn accepted(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|r| r.answered == StatusCode::OK)
            .map(|r| r.key)
            .collect()
    }

    async fn wait_for_accepted(&self, key: &str) {
        wait_until(
            &format!("`{key}` delivered"),
            Duration::from_secs(60),
            || async {
                if self.accepted().iter().any(|k| k == key) {
                    Ok(())
                } else {
                    Err(self.all())
                }
            },
        )
        .await
    }
}

/// Checks a signature header (`t=<unix>,v1=<hex>`) against the body, as a receiver would.
fn signed_by_the_secret(signature: &str, body: &str) -> bool {
    let Some((t, mac)) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let expected =
        travel_platform::secret::hmac_sha256_hex(SECRET.as_bytes(), &format!("{t}.{body}"));
    let fresh = t
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 600);
    fresh && expected == mac
}

#[tokio::test]
async fn every_change_is_notified_signed_retried_and_delivered_once_across_a_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let receiver = Receiver::start().await;
    let mut service = TestService::binary(
        data.path(),
        &demo,
        &[
            ("APPROVAL_WEBHOOK_URL", &receiver.url),
            ("WEBHOOK_SECRET", SECRET),
            ("PUBLIC_BASE_URL", "https://trips.example.org"),
        ],
    );
    // Down at first: the plan's notification is tried again until the receiver is back.
    receiver.down.store(true, Ordering::SeqCst);
    let (id, token) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    let planned = format!("{id}:planned:1");
    // Refused once (by the receiver's 503) before it is back.
    wait_until("a refused try", Duration::from_secs(30), || async {
        let tried = receiver.all().iter().any(|r| r.key == planned);
        if tried { Ok(()) } else { Err(receiver.all()) }
    })
    .await;
    receiver.down.store(false, Ordering::SeqCst);
    receiver.wait_for_accepted(&planned).await;
    let attempts = receiver.all().iter().filter(|r| r.key == planned).count();
    assert!(attempts >= 2, "tried again after the 503: {attempts}");

    // A revision, then the approval; the receiver goes down and the service is killed before
    // the booking's notifications are through. After the restart they are delivered.
    let revised = service
        .http
        .post(service.url(&format!("/api/trips/{id}/revisions")))
        .bearer_auth(&token)
        .json(&json!({"comments": "Slower mornings"}))
        .send()
        .await
        .unwrap();
    assert_eq!(revised.status(), 202);
    receiver.wait_for_accepted(&format!("{id}:revised:2")).await;
    receiver.down.store(true, Ordering::SeqCst);
    let decided = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(decided.status(), 200);
    service.wait_for_status(&id, "booked").await;
    service.kill9();
    receiver.down.store(false, Ordering::SeqCst);
    service.restart();
    receiver
        .wait_for_accepted(&format!("{id}:approved:2"))
        .await;
    receiver.wait_for_accepted(&format!("{id}:booked:2")).await;

    // Each change delivered once, in order, every request signed and keyed by its body.
    let expected =
        ["planned:1", "revised:2", "approved:2", "booked:2"].map(|k| format!("{id}:{k}"));
    assert_eq!(receiver.accepted(), expected);
    for request in receiver.all() {
        assert!(
            signed_by_the_secret(&request.signature, &request.body),
            "{request:?}"
        );
        let body: Value = serde_json::from_str(&request.body).unwrap();
        let key = format!(
            "{}:{}:{}",
            body["instanceId"].as_str().unwrap(),
            body["event"].as_str().unwrap(),
            body["revision"]
        );
        assert_eq!(request.key, key);
        assert_eq!(request.event_header, body["event"]);
        assert!(
            !request.body.contains(&token),
            "the approval token is never sent"
        );
    }
    let booked: Value = serde_json::from_str(&receiver.all().last().unwrap().body).unwrap();
    assert_eq!(booked["state"], "booked");
    assert!(
        booked["booking"]["confirmationCode"]
            .as_str()
            .unwrap()
            .starts_with("TP-")
    );
    assert_eq!(
        booked["reviewUrl"],
        format!("https://trips.example.org/trips/{id}")
    );
    assert_eq!(service.bookings(), 1);

    // The operator's instance page shows the delivery log.
    let page = service
        .get(&format!("/dashboard/instances/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let log = &page[page.find(r#"id="deliveries""#).expect("the delivery log")..];
    assert_eq!(log.matches("delivered 20").count(), 4, "{log}");
    let planned_row = &log[log.find("<td>planned</td>").unwrap()..];
    let planned_row = &planned_row[..planned_row.find("</tr>").unwrap()];
    assert!(
        !planned_row.contains(r#"<td class="num">1</td><td>delivered"#),
        "the attempts are counted: {planned_row}"
    );
    // And the dashboard's log of every trip's notifications.
    let all = service
        .get("/dashboard/notifications")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(all.matches(&format!(">{id}</a>")).count(), 4, "{all}");
    // The attempts are counted for the metrics (this process' since the restart).
    let metrics = service.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"travel_notifications_total{event="booked",outcome="delivered"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failed_trip_and_an_expired_one_are_notified() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let receiver = Receiver::start().await;
    let service = TestService::binary(
        data.path(),
        &demo,
        &[
            ("APPROVAL_WEBHOOK_URL", &receiver.url),
            ("WEBHOOK_SECRET", SECRET),
            ("APPROVAL_TIMEOUT_SECS", "2"),
        ],
    );
    let (expiring, _) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&expiring, "expired").await;
    receiver
        .wait_for_accepted(&format!("{expiring}:expired:1"))
        .await;

    demo.inject(json!({"kind": "refusal", "agent": "destination", "times": 1}))
        .await;
    let (failed, _) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&failed, "failed").await;
    receiver
        .wait_for_accepted(&format!("{failed}:failed:0"))
        .await;
    let body: Value = serde_json::from_str(
        &receiver
            .all()
            .into_iter()
            .find(|r| r.key.starts_with(&failed))
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(body["state"], "failed");
    assert!(body["error"].as_str().unwrap().contains("refus"), "{body}");
}

#[tokio::test]
async fn a_receiver_that_answers_with_a_redirect_has_not_taken_the_notification() {
    // `/moved` answers 302 to `/taken`, which would answer 200 to anything.
    let moved = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (m, t) = (moved.clone(), taken.clone());
    let app = axum::Router::new()
        .route(
            "/moved",
            axum::routing::post(move || {
                m.fetch_add(1, Ordering::SeqCst);
                async { (StatusCode::FOUND, [("location", "/taken")]) }
            }),
        )
        .route(
            "/taken",
            axum::routing::any(move || {
                t.fetch_add(1, Ordering::SeqCst);
                async { "ok" }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/moved", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[("APPROVAL_WEBHOOK_URL", &url)]);
    let (id, _) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    // Tried, refused as a failure, and tried again after the first back-off (1 s).
    wait_until("tried again", Duration::from_secs(20), || async {
        match moved.load(Ordering::SeqCst) {
            n if n >= 2 => Ok(()),
            n => Err(n),
        }
    })
    .await;
    assert_eq!(taken.load(Ordering::SeqCst), 0, "the redirect was followed");
    let page = service.get(&format!("/dashboard/instances/{id}")).await;
    let page = page.text().await.unwrap();
    assert!(page.contains("302"), "the delivery log shows the answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_off_by_a_kill_9_goes_out_again_as_soon_as_the_process_is_back() {
    // The receiver holds the first request it gets without answering; later ones it takes.
    let keys = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
    let sink = keys.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let sink = sink.clone();
            async move {
                let key = headers["idempotency-key"].to_str().unwrap().to_owned();
                let first = {
                    let mut keys = sink.lock().unwrap();
                    keys.push((key, Instant::now()));
                    keys.len() == 1
                };
                if first {
                    tokio::time::sleep(Duration::from_secs(120)).await;
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let mut service = TestService::binary(data.path(), &demo, &[("APPROVAL_WEBHOOK_URL", &url)]);
    let (id, _) = service.start_trip(&trip_body(2)).await;
    let in_flight = wait_until("a delivery", Duration::from_secs(30), || async {
        keys.lock()
            .unwrap()
            .first()
            .map(|(key, _)| key.clone())
            .ok_or(())
    })
    .await;
    assert_eq!(in_flight, format!("{id}:planned:1"));
    service.restart();
    let restarted = Instant::now();
    let again = wait_until("delivered again", Duration::from_secs(20), || async {
        let keys = keys.lock().unwrap();
        let again = keys.iter().skip(1).find(|(key, _)| *key == in_flight);
        again.map(|(_, at)| *at).ok_or(keys.len())
    })
    .await;
    // Not after the 30 s lease: at once.
    assert!(
        again - restarted < Duration::from_secs(10),
        "{:?}",
        again - restarted
    );
}
