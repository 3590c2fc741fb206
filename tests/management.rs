//! The management API and operator access: list, filter, page, inspect, history, raise,
//! terminate, purge, their errors, and the admin token.

mod support;

use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn operators_list_inspect_raise_terminate_and_purge() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);
    let (a, _) = service.start_trip(&trip_body(2)).await;
    let (b, _) = service.start_trip(&trip_body(1)).await;
    service.wait_for_status(&a, "awaiting_approval").await;
    service.wait_for_status(&b, "awaiting_approval").await;

    // List, counts, filters, paging.
    let list: Value = service.get("/api/instances").await.json().await.unwrap();
    assert_eq!(list["total"], 2);
    assert_eq!(list["counts"]["awaiting_approval"], 2);
    assert_eq!(list["items"][0]["instanceId"], b.as_str(), "newest first");
    assert_eq!(list["items"][0]["step"], "awaiting_approval");
    let paged: Value = service
        .get("/api/instances?pageSize=1&page=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paged["items"].as_array().unwrap().len(), 1);
    assert_eq!(paged["items"][0]["instanceId"], a.as_str());
    let by_prefix: Value = service
        .get(&format!("/api/instances?prefix={}", &a[..12]))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        by_prefix["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["instanceId"] == a.as_str())
    );
    let booked: Value = service
        .get("/api/instances?status=booked")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(booked["total"], 0);
    let future: Value = service
        .get("/api/instances?createdAfter=2099-01-01T00:00:00Z")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(future["total"], 0);
    assert_eq!(
        service.get("/api/instances?status=sleeping").await.status(),
        400
    );

    // Detail and history.
    let detail: Value = service
        .get(&format!("/api/instances/{a}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["runtimeStatus"], "Running");
    assert_eq!(detail["input"]["request"]["travelerName"], "Ada Lovelace");
    assert_eq!(detail["input"]["approvalTokenSha256"], "(hidden)");
    assert_eq!(detail["customStatus"]["state"], "awaiting_approval");
    assert!(detail["tokens"]["totalTokens"].as_u64().unwrap() > 0);
    let keys: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "destination",
            "itinerary",
            "local-tips",
            "packing",
            "saving",
            "approval",
            "booking"
        ]
    );
    let history: Vec<Value> = service
        .get(&format!("/api/instances/{a}/history"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history[0]["type"], "OrchestrationStarted");
    assert!(
        history
            .iter()
            .any(|e| e["type"] == "ActivityScheduled" && e["name"] == "RunItineraryAgent")
    );
    assert!(history.iter().any(
        |e| e["type"] == "ActivityCompleted" && e["payload"]["thread"]["agent"] == "local-tips"
    ));

    // Raise: only ApprovalEvent, with a decision, on a waiting instance.
    let bad_name = service
        .post(&format!("/api/instances/{a}/events/Anything"), &json!({}))
        .await;
    assert_eq!(bad_name.status(), 422);
    let bad_data = service
        .post(
            &format!("/api/instances/{a}/events/ApprovalEvent"),
            &json!({"approved": "maybe"}),
        )
        .await;
    assert_eq!(bad_data.status(), 422);
    let raised = service
        .post(
            &format!("/api/instances/{a}/events/ApprovalEvent"),
            &json!({"approved": true, "comments": "ops"}),
        )
        .await;
    assert_eq!(raised.status(), 202);
    service.wait_for_status(&a, "booked").await;
    let again = service
        .post(
            &format!("/api/instances/{a}/events/ApprovalEvent"),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(again.status(), 409);

    // Terminate: a finished one is a conflict; a running one ends failed.
    assert_eq!(
        service
            .post(&format!("/api/instances/{a}/terminate"), &json!({}))
            .await
            .status(),
        409
    );
    let terminated = service
        .post(
            &format!("/api/instances/{b}/terminate"),
            &json!({"reason": "customer called"}),
        )
        .await;
    assert_eq!(terminated.status(), 202);
    let failed = service.wait_for_status(&b, "failed").await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("customer called")
    );

    // Purge: running ones only with force.
    demo.set_latency(2000).await;
    let (c, _) = service.start_trip(&trip_body(1)).await;
    let refused = service
        .http
        .delete(service.url(&format!("/api/instances/{c}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let forced = service
        .http
        .delete(service.url(&format!("/api/instances/{c}?force=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 200);
    let gone = service.get(&format!("/api/instances/{c}")).await;
    assert_eq!(gone.status(), 404, "{}", gone.text().await.unwrap());
    demo.set_latency(0).await;
    let purged = service
        .http
        .delete(service.url(&format!("/api/instances/{a}")))
        .send()
        .await
        .unwrap();
    assert_eq!(purged.status(), 200);
    let purged: Value = purged.json().await.unwrap();
    assert_eq!(purged["planDocumentsDeleted"], 2, "{purged}");
    assert!(
        !data.path().join("plans").join(&a).exists(),
        "the saved plan is deleted with the trip"
    );
    assert!(
        data.path().join("plans").join(&b).exists(),
        "only that trip's"
    );
    assert_eq!(service.get(&format!("/api/trips/{a}")).await.status(), 404);

    // Unknown ids.
    let unknown = "trip-0123456789abcdef0123";
    assert_eq!(
        service
            .get(&format!("/api/instances/{unknown}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        service
            .get(&format!("/api/instances/{unknown}/history"))
            .await
            .status(),
        404
    );
    assert_eq!(
        service
            .post(&format!("/api/instances/{unknown}/terminate"), &json!({}))
            .await
            .status(),
        404
    );
    assert_eq!(
        service
            .post(
                &format!("/api/instances/{unknown}/events/ApprovalEvent"),
                &json!({"approved": true})
            )
            .await
            .status(),
        404
    );
    assert_eq!(
        service
            .http
            .delete(service.url(&format!("/api/instances/{unknown}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn the_admin_token_guards_the_dashboard_and_the_management_api() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(
        data.path(),
        &demo,
        &[("ADMIN_TOKEN", "s3cret-operator-token-0123456789abcdef")],
    );
    travel_platform::http::install_tls_provider();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let denied = http
        .get(service.url("/api/instances"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    assert_eq!(
        denied.json::<Value>().await.unwrap()["error"]["code"],
        "admin_token_required"
    );
    assert_eq!(
        http.get(service.url("/api/instances"))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(service.url("/api/instances"))
            .bearer_auth("s3cret-operator-token-0123456789abcdef")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.delete(service.url("/api/instances/trip-0123456789abcdef0123"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let page = http.get(service.url("/dashboard")).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/dashboard/login");
    // The sign-in form sets the cookie that opens the pages.
    let login = http
        .get(service.url("/dashboard/login"))
        .send()
        .await
        .unwrap();
    let csrf_cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = csrf_cookie.split_once('=').unwrap().1.to_owned();
    let wrong = http
        .post(service.url("/dashboard/login"))
        .header("cookie", &csrf_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = http
        .post(service.url("/dashboard/login"))
        .header("cookie", &csrf_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={csrf}&token=s3cret-operator-token-0123456789abcdef"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 303);
    let admin_cookie = right.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let set_cookie = right.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("Max-Age=43200"));
    // The cookie holds a signed session, never the token.
    assert!(
        !admin_cookie.contains("s3cret-operator-token"),
        "{admin_cookie}"
    );
    let dashboard = http
        .get(service.url("/dashboard"))
        .header("cookie", &admin_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 200);
    // The token itself, or a session with its expiry pushed back, opens nothing.
    let (expires, rest) = admin_cookie
        .split_once('=')
        .unwrap()
        .1
        .split_once('.')
        .unwrap();
    let extended = format!(
        "tp_admin={}.{rest}",
        expires.parse::<u64>().unwrap() + 86_400
    );
    for cookie in [
        "tp_admin=s3cret-operator-token-0123456789abcdef".to_owned(),
        extended,
    ] {
        let refused = http
            .get(service.url("/api/instances"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{cookie}");
    }

    // Guessing in parallel gains nothing: four wrong tokens came from this address above; past
    // ten, the rest are refused unchecked (the right one too), while an open session still works.
    let guesses = futures::future::join_all((0..20).map(|i| {
        http.get(service.url("/api/instances"))
            .bearer_auth(format!("guess-{i}"))
            .send()
    }))
    .await;
    let statuses: Vec<u16> = guesses
        .iter()
        .map(|g| g.as_ref().unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        14,
        "{statuses:?}"
    );
    let refused = http
        .get(service.url("/api/instances"))
        .bearer_auth("s3cret-operator-token-0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["code"],
        "too_many_attempts"
    );
    let with_session = http
        .get(service.url("/api/instances"))
        .header("cookie", &admin_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(with_session.status(), 200);

    // The traveller's side stays open.
    let (id, _) = service.start_trip(&trip_body(1)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
}

/// Runs `serve` on `bind` with `ADMIN_TOKEN` set to `token` (or unset); it must refuse to start.
/// Answers what it wrote.
fn refused_start(bind: &str, token: Option<&str>) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(BIN);
    command
        .args(["serve", "--bind", bind, "--data-dir"])
        .arg(data.path())
        .env_remove("ADMIN_TOKEN")
        .env("NO_COLOR", "1");
    if let Some(token) = token {
        command.env("ADMIN_TOKEN", token);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn the_health_command_says_whether_the_service_answers() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);
    let health = |url: String| {
        std::process::Command::new(BIN)
            .args(["health", "--url", &url])
            .output()
            .unwrap()
    };
    let up = health(service.url("/healthz"));
    assert!(up.status.success(), "{up:?}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = health(format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    let missing = health(service.url("/no-such-page"));
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
}

#[tokio::test]
async fn without_an_admin_token_only_loopback_addresses_are_bound() {
    let stderr = refused_start("0.0.0.0:0", None);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0") && stderr.contains("ADMIN_TOKEN"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_short_admin_token_is_refused_at_start() {
    let stderr = refused_start("127.0.0.1:0", Some("hunter2"));
    assert!(
        stderr.contains("ADMIN_TOKEN is too short") && stderr.contains("32"),
        "{stderr}"
    );
}

/// Runs `travel-planner instances ...` on a data folder.
fn instances(data: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(BIN)
        .arg("instances")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test]
async fn the_instances_command_lists_shows_and_acts_on_the_same_store() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);
    let (id, _) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;

    let (ok, table) = instances(data.path(), &["list"]);
    assert!(ok, "{table}");
    assert!(
        table.starts_with("INSTANCE") && table.contains(&id) && table.contains("awaiting_approval"),
        "{table}"
    );
    let (ok, json) = instances(
        data.path(),
        &["list", "--json", "--status", "awaiting_approval"],
    );
    assert!(ok, "{json}");
    let page: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(page["items"][0]["instanceId"], id.as_str());
    let (ok, shown) = instances(data.path(), &["show", &id]);
    assert!(
        ok && shown.contains("Waiting for approval") && shown.contains("tokens"),
        "{shown}"
    );
    let (ok, history) = instances(data.path(), &["history", &id, "--json"]);
    assert!(ok);
    let events: Vec<Value> = serde_json::from_str(&history).unwrap();
    assert_eq!(events[0]["type"], "OrchestrationStarted");
    let (ok, out) = instances(
        data.path(),
        &["approve", &id, "--comments", "from the shell"],
    );
    assert!(ok, "{out}");
    let booked = service.wait_for_status(&id, "booked").await;
    assert_eq!(booked["outcome"]["decision"]["comments"], "from the shell");
    let (ok, out) = instances(data.path(), &["terminate", &id]);
    assert!(!ok && out.contains("already finished"), "{out}");
    let (ok, out) = instances(data.path(), &["purge", &id]);
    assert!(ok && out.contains("with 2 saved plan document(s)"), "{out}");
    assert!(!data.path().join("plans").join(&id).exists());
    assert_eq!(service.get(&format!("/api/trips/{id}")).await.status(), 404);
}

#[test]
fn a_log_written_to_a_file_or_a_pipe_has_no_colour_codes() {
    use std::io::{BufRead, BufReader};
    let data = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env_remove("NO_COLOR")
        .env_remove("ADMIN_TOKEN")
        .env_remove("DATABASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("AZURE_OPENAI_ENDPOINT")
        .env_remove("DEMO_MODEL_URL")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let listening = line.contains("travel-planner listening");
        lines.push(line);
        if listening {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = lines.join("\n");
    assert!(log.contains("travel-planner listening"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log: {log:?}"
    );
}
