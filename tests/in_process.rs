//! The whole HTTP surface on the service in-process (`TestService` with `Backing::InProcess`: no
//! process and no port). The handlers' answers, the operators' access check and a whole trip,
//! in a few hundred milliseconds.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use travel_agents::AgentName;
use travel_demo_model::{Fault, FaultRule};
use travel_orchestration::{TripRequest, TripState};

mod support;
use support::events::SentEvent;
use support::{TestService, wait_until};

const ADMIN_TOKEN: &str = "in-process-admin-token-0123456789abcdef";

/// The service in-process on a fresh data folder, with the built-in demo model.
async fn in_process(admin_token: Option<&str>) -> TestService {
    let setup = TestService::setup();
    match admin_token {
        Some(token) => setup.setting("ADMIN_TOKEN", token),
        None => setup,
    }
    .in_process()
    .await
}

fn trip_body() -> Value {
    json!({
        "travelerName": "Grace Hopper",
        "preferences": "museums and long walks",
        "durationDays": 2,
        "budget": {"amount": 1800, "currency": "EUR"},
        "startDate": (chrono::Utc::now().date_naive() + chrono::Days::new(90)).to_string()
    })
}

#[tokio::test]
async fn a_whole_trip_through_the_router() {
    let service = in_process(None).await;
    let (code, created) = service.post("/api/trips", &trip_body()).await.parts();
    assert_eq!(code, StatusCode::ACCEPTED, "{created}");
    let id = created["instanceId"].as_str().unwrap().to_owned();
    let token = created["approvalToken"].as_str().unwrap().to_owned();

    let waiting = service.wait_for_status(&id, "awaiting_approval").await;
    // What the plan cost: each agent's tokens, priced by its model (the demo model is free).
    let costs = &waiting["costs"];
    assert_eq!(costs["agents"].as_array().unwrap().len(), 4, "{costs}");
    assert_eq!(costs["agents"][0]["agent"], "destination");
    assert!(
        costs["tokens"]["totalTokens"].as_u64().unwrap() > 0,
        "{costs}"
    );
    assert_eq!(costs["costUsd"], 0.0);
    // The list shows each trip's tokens and cost, and for a period those of every trip in it.
    let (_, list) = service.get("/api/instances").await.parts();
    let item = &list["items"][0];
    assert_eq!(item["instanceId"], id.as_str());
    assert_eq!(item["tokens"], costs["tokens"]["totalTokens"], "{list}");
    assert_eq!(item["costUsd"], 0.0);
    assert!(list["costs"].is_null(), "totals only for a period");
    let (_, list) = service
        .get("/api/instances?createdAfter=2000-01-01T00:00:00Z")
        .await
        .parts();
    assert_eq!(list["costs"]["trips"], 1, "{list}");
    assert_eq!(list["costs"]["tokens"], costs["tokens"]);
    let (_, page) = service
        .get("/dashboard?createdAfter=2000-01-01")
        .await
        .parts();
    assert!(
        page.as_str()
            .unwrap()
            .contains("1 trip(s) with agent calls spent"),
        "{page}"
    );
    assert_eq!(
        waiting["plan"]["itinerary"]["days"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The review page links to the plan through the API, never to where the server keeps it.
    let (code, page) = service.get(&format!("/trips/{id}")).await.parts();
    assert_eq!(code, StatusCode::OK);
    let page = page.as_str().unwrap();
    assert!(page.contains("plan.md"), "the page links the document");
    // The packing agent's list (workflow revision 5), on the page and in the document.
    let packing = waiting["plan"]["packing"]["items"].as_array().unwrap();
    assert!(packing.len() >= 5, "{packing:?}");
    let first = packing[0]["name"].as_str().unwrap();
    assert!(
        page.contains(r#"id="packing""#) && page.contains(first),
        "{page}"
    );
    let markdown = service
        .get(&format!("/api/trips/{id}/plan.md"))
        .await
        .parts()
        .1;
    let markdown = markdown.as_str().unwrap();
    assert!(markdown.contains("## What to pack"), "{markdown}");
    let data_dir = service.data_dir.to_string_lossy().into_owned();
    assert!(!page.contains(&data_dir), "the page shows a server path");
    let (code, decided) = service
        .send(
            Request::post(format!("/approve/{id}"))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::from(json!({"approved": true}).to_string()))
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::OK, "{decided}");
    let booked = service.wait_for_status(&id, "booked").await;
    assert!(booked["outcome"]["booking"]["confirmationCode"].is_string());
    service.stop().await;
}

#[tokio::test]
async fn bad_input_and_unknown_addresses_get_the_documented_errors() {
    let service = in_process(None).await;
    let mut body = trip_body();
    body["durationDays"] = json!(0);
    let (code, error) = service.post("/api/trips", &body).await.parts();
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["code"], "validation_failed");
    assert!(
        error["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "durationDays"),
        "{error}"
    );

    let (code, error) = service.get("/api/trips/no-such-trip").await.parts();
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(error["error"]["code"], "not_found");
    let (code, error) = service.get("/api/nothing-here").await.parts();
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(error["error"]["code"], "not_found");
    // Errors the framework answers are the documented JSON body too.
    let (code, error) = service
        .send(Request::put("/api/trips").body(Body::empty()).unwrap())
        .await
        .parts();
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error["error"]["code"], "method_not_allowed");
    let (code, error) = service
        .send(
            Request::delete("/api/instances/trip-0?force=maybe")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["code"], "invalid_query", "{error}");
    // An address over 16 KiB, an id that is not UTF-8, a page size out of bounds.
    let long = format!("/api/trips/{}", "a".repeat(17 * 1024));
    let (code, error) = service.get(&long).await.parts();
    assert_eq!(code, StatusCode::URI_TOO_LONG);
    assert_eq!(error["error"]["code"], "uri_too_long", "{error}");
    let (code, error) = service.get("/api/trips/%FF%FE").await.parts();
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["code"], "invalid_path", "{error}");
    let (code, error) = service.get("/api/instances?pageSize=201").await.parts();
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["code"], "invalid_query", "{error}");
    // A long unknown id is not echoed whole.
    let (code, error) = service
        .get(&format!("/api/trips/{}", "b".repeat(4000)))
        .await
        .parts();
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(
        error["error"]["message"].as_str().unwrap().len() < 200,
        "{error}"
    );
    // Text that cannot be a trip's id names no trip, wherever the id is read.
    for path in [
        "/api/trips/trip%20one",
        "/api/trips/..%2Fplans/plan",
        "/api/instances/trip%3Cscript%3E/history",
    ] {
        let (code, error) = service.get(path).await.parts();
        assert_eq!(code, StatusCode::NOT_FOUND, "{path}: {error}");
        assert_eq!(error["error"]["code"], "not_found", "{path}: {error}");
    }
    // Outside the API an unknown address is a page, unless JSON is asked for.
    let (code, page) = service.get("/nothing-here").await.parts();
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(page.as_str().unwrap().contains("<html"), "{page}");
    let (code, error) = service
        .send(
            Request::get("/nothing-here")
                .header(header::ACCEPT, "application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(error["error"]["code"], "not_found", "{error}");

    // A misspelt field is refused rather than dropped, and a field of the wrong form is named
    // with the form expected; a currency without rates is refused before any agent runs.
    let mut body = trip_body();
    body["specialRequirement"] = json!("vegetarian");
    let (code, error) = service.post("/api/trips", &body).await.parts();
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["code"], "validation_failed");
    assert_eq!(error["error"]["fields"][0]["field"], "specialRequirement");
    assert!(
        error["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("specialRequirements"),
        "{error}"
    );
    for (field, value, expected) in [
        ("durationDays", json!(-3), "whole number"),
        ("startDate", json!("10/05/2027"), "YYYY-MM-DD"),
    ] {
        let mut body = trip_body();
        body[field] = value;
        let (code, error) = service.post("/api/trips", &body).await.parts();
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["code"], "validation_failed");
        assert_eq!(error["error"]["fields"][0]["field"], field);
        let message = error["error"]["fields"][0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains("u32") && !message.contains("invalid characters"));
    }
    let mut body = trip_body();
    body["budget"]["currency"] = json!("KPW");
    let (code, error) = service.post("/api/trips", &body).await.parts();
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["fields"][0]["field"], "budget.currency");

    let (code, document) = service.get("/api/openapi.json").await.parts();
    assert_eq!(code, StatusCode::OK);
    assert!(document["paths"]["/api/trips"]["post"].is_object());
    let currencies = &document["components"]["schemas"]["Budget"]["properties"]["currency"]["enum"];
    assert!(
        currencies.as_array().unwrap().contains(&json!("EUR")),
        "{currencies}"
    );
    assert!(!currencies.as_array().unwrap().contains(&json!("KPW")));
    service.stop().await;
}

#[tokio::test]
async fn operator_endpoints_need_the_admin_token_when_one_is_set() {
    let service = in_process(Some(ADMIN_TOKEN)).await;
    let (code, error) = service.get("/api/instances").await.parts();
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"]["code"], "admin_token_required");
    let (code, _) = service
        .send(
            Request::get("/api/instances")
                .header(header::AUTHORIZATION, "Bearer wrong-token")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, list) = service
        .send(
            Request::get("/api/instances")
                .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::OK, "{list}");
    // The dashboard sends people to its sign-in form instead.
    let response = service.get("/dashboard").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/dashboard/login");
    service.stop().await;
}

/// The OpenAPI document against the router itself: every described path is served with exactly
/// the described methods (any other method on it answers 405).
#[tokio::test]
async fn the_openapi_document_describes_what_the_router_serves() {
    let service = in_process(None).await;
    let (_, document) = service.get("/api/openapi.json").await.parts();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 10, "{document}");
    for (path, operations) in paths {
        let concrete = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "trip-0000"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "post", "put", "patch", "delete"] {
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&concrete)
                .body(Body::empty())
                .unwrap();
            let (code, body) = service.send(request).await.parts();
            if operations.get(method).is_some() {
                assert_ne!(
                    code,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is described but not served: {body}"
                );
            } else {
                assert_eq!(
                    code,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not described"
                );
            }
        }
    }
    service.stop().await;
}

#[tokio::test]
async fn another_site_cannot_change_anything_and_a_rebound_host_name_is_refused() {
    let service = in_process(None).await;
    let (_, created) = service.post("/api/trips", &trip_body()).await.parts();
    let id = created["instanceId"].as_str().unwrap().to_owned();
    service.wait_for_status(&id, "awaiting_approval").await;

    // The curl of the probe: a text/plain POST from a page on another site.
    let (code, error) = service
        .send(
            Request::post(format!("/api/instances/{id}/terminate"))
                .header(header::HOST, "127.0.0.1:8080")
                .header(header::ORIGIN, "https://evil.example")
                .header("sec-fetch-site", "cross-site")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::FORBIDDEN, "{error}");
    assert_eq!(error["error"]["code"], "cross_site_refused");
    let (_, trip) = service.get(&format!("/api/trips/{id}")).await.parts();
    assert_eq!(
        trip["status"], "awaiting_approval",
        "nothing was terminated"
    );

    // DNS rebinding: the service's address under another name.
    let (code, error) = service
        .send(
            Request::get("/api/instances")
                .header(header::HOST, "evil.example:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(error["error"]["code"], "host_not_allowed");

    // The same calls from this machine's own pages and tools go through.
    let (code, _) = service
        .send(
            Request::get("/api/instances")
                .header(header::HOST, "localhost:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::OK);
    let (code, _) = service
        .send(
            Request::post(format!("/api/instances/{id}/terminate"))
                .header(header::HOST, "127.0.0.1:8080")
                .header(header::ORIGIN, "http://127.0.0.1:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::ACCEPTED);
    service.stop().await;
}

#[tokio::test]
async fn the_trip_page_says_when_a_step_is_tried_again() {
    let service = in_process(None).await;
    // One failed request (the client does not retry), so the itinerary step fails once and the
    // workflow tries it again after a durable one-second wait.
    service.demo().inject(travel_demo_model::FaultRule {
        fault: travel_demo_model::Fault::ServerError,
        agent: Some(travel_agents::AgentName::Itinerary),
        times: 1,
    });
    let (code, created) = service.post("/api/trips", &trip_body()).await.parts();
    assert_eq!(code, StatusCode::ACCEPTED, "{created}");
    let id = created["instanceId"].as_str().unwrap().to_owned();
    let what = "the page saying the step is being tried again";
    let page = wait_until(what, Duration::from_secs(10), || async {
        let (_, page) = service.get(&format!("/trips/{id}")).await.parts();
        let page = page.as_str().unwrap().to_owned();
        if page.contains(r#"id="retrying""#) {
            Ok(page)
        } else {
            Err(page)
        }
    })
    .await;
    assert!(
        page.contains("The itinerary agent did not get an answer from the AI service; trying again (attempt 2 of 4)"),
        "{page}"
    );
    service.wait_for_status(&id, "awaiting_approval").await;
    let (_, page) = service.get(&format!("/trips/{id}")).await.parts();
    assert!(!page.as_str().unwrap().contains(r#"id="retrying""#));
    service.stop().await;
}

#[tokio::test]
async fn a_failed_trip_is_retried_from_its_last_good_step() {
    let service = in_process(None).await;
    let (_, form) = service.form_token().await;
    no_tips_next_time(&service);
    let (_, created) = service.post("/api/trips", &trip_body()).await.parts();
    let failed = created["instanceId"].as_str().unwrap().to_owned();
    let token = created["approvalToken"].as_str().unwrap().to_owned();
    service.wait_for_status(&failed, "failed").await;
    let asked = |agent| service.asked(agent);
    use travel_agents::AgentName::{Destination, Itinerary, LocalTips};
    let before = (asked(Destination), asked(Itinerary), asked(LocalTips));

    let retry = |token: Option<&str>| {
        let mut request = Request::post(format!("/api/trips/{failed}/retry"));
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        service.send(request.body(Body::empty()).unwrap())
    };
    let (code, error) = retry(None).await.parts();
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{error}");
    let (code, error) = retry(Some("not-the-token")).await.parts();
    assert_eq!(code, StatusCode::FORBIDDEN, "{error}");
    let (code, again) = retry(Some(&token)).await.parts();
    assert_eq!(code, StatusCode::ACCEPTED, "{again}");
    let retried = again["instanceId"].as_str().unwrap().to_owned();
    assert_eq!(
        again["approvalToken"],
        token.as_str(),
        "the requester's token works for the new trip"
    );
    let waiting = service.wait_for_status(&retried, "awaiting_approval").await;

    // Only the agent that failed was asked again.
    let after = (asked(Destination), asked(Itinerary), asked(LocalTips));
    assert_eq!((after.0, after.1), (before.0, before.1), "reused answers");
    assert_eq!(after.2, before.2 + 1, "the local-tips agent, once more");
    assert_eq!(waiting["retryOf"], failed.as_str());
    // The reused answers are shown as such to operators, and not counted again.
    let (_, detail) = service
        .get(&format!("/api/instances/{retried}"))
        .await
        .parts();
    let own: Vec<&str> = waiting["costs"]["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["agent"].as_str().unwrap())
        .collect();
    assert_eq!(own, ["local-tips"], "the trip's own calls");
    let reused: Vec<(&str, bool)> = detail["costs"]["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["agent"].as_str().unwrap(), c["reused"] == true))
        .collect();
    assert_eq!(
        reused,
        [
            ("destination", true),
            ("itinerary", true),
            ("local-tips", false),
            ("packing", true)
        ]
    );
    let (_, old) = service.get(&format!("/api/trips/{failed}")).await.parts();
    assert_eq!(old["retriedBy"], retried.as_str());
    // The steps it took from the failed trip are shown as reused, not as waiting.
    let states: Vec<(String, String)> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().into(),
                r["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        states.contains(&("destination".into(), "reused".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("itinerary".into(), "reused".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("local-tips".into(), "done".into())),
        "{states:?}"
    );
    let page = trip_page_with(&service, &retried, "").await;
    assert!(page.contains("reused from the failed trip"), "{page}");
    // The reused agents' conversations come along.
    let (code, thread) = service
        .get(&format!("/api/trips/{retried}/agents/itinerary"))
        .await
        .parts();
    assert_eq!(code, StatusCode::OK, "{thread}");
    assert!(
        thread["messages"].as_array().unwrap().len() >= 3,
        "{thread}"
    );

    // Once only, and only a failed trip.
    let (code, error) = retry(Some(&token)).await.parts();
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(error["error"]["code"], "already_retried", "{error}");
    let new_token = again["approvalToken"].as_str().unwrap();
    let (code, error) = service
        .send(
            Request::post(format!("/api/trips/{retried}/retry"))
                .header(header::AUTHORIZATION, format!("Bearer {new_token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(error["error"]["code"], "not_failed", "{error}");
    assert_eq!(error["error"]["trip"]["status"], "awaiting_approval");

    // Operators retry from the dashboard, without the traveller's token.
    no_tips_next_time(&service);
    let (_, created) = service.post("/api/trips", &trip_body()).await.parts();
    let failed = created["instanceId"].as_str().unwrap().to_owned();
    service.wait_for_status(&failed, "failed").await;
    let (_, page) = service
        .get(&format!("/dashboard/instances/{failed}"))
        .await
        .parts();
    assert!(page.as_str().unwrap().contains(r#"id="retry""#));
    let response = service
        .post_form(
            &format!("/dashboard/instances/{failed}/retry"),
            &format!("tp_csrf={form}"),
            &form,
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    let retried = location
        .strip_prefix("/dashboard/instances/")
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .to_owned();
    let waiting = service.wait_for_status(&retried, "awaiting_approval").await;
    assert_eq!(waiting["retryOf"], failed.as_str());
    service.stop().await;
}

#[tokio::test]
async fn a_retry_that_fails_again_keeps_what_the_first_trip_had_done() {
    use travel_agents::AgentName::{Destination, Itinerary};
    let service = in_process(None).await;
    let asked = |agent| service.asked(agent);
    no_tips_next_time(&service);
    let (_, created) = service.post("/api/trips", &trip_body()).await.parts();
    let first = created["instanceId"].as_str().unwrap().to_owned();
    let token = created["approvalToken"].as_str().unwrap().to_owned();
    service.wait_for_status(&first, "failed").await;
    let before = (asked(Destination), asked(Itinerary));
    no_tips_next_time(&service);
    let second = retried(&service, &first, &token).await;
    service.wait_for_status(&second, "failed").await;
    let third = retried(&service, &second, &token).await;
    service.wait_for_status(&third, "awaiting_approval").await;
    assert_eq!(
        (asked(Destination), asked(Itinerary)),
        before,
        "the first trip's answers, reused by both retries"
    );
    service.stop().await;
}

#[tokio::test]
async fn behind_https_every_cookie_is_secure() {
    let service = TestService::setup()
        .setting("PUBLIC_BASE_URL", "https://trips.example.org")
        .in_process()
        .await;
    let response = service.get("/").await;
    let cookies: Vec<&str> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap())
        .collect();
    assert!(!cookies.is_empty(), "the form sets its CSRF cookie");
    assert!(
        cookies.iter().all(|c| c.ends_with("; Secure")),
        "{cookies:?}"
    );
    assert!(
        response
            .headers()
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    );
    service.stop().await;
}

#[tokio::test]
async fn metrics_count_trips_agents_tokens_and_the_engine() {
    travel_api::metrics::install().expect("the only recorder of this test process");
    let service = in_process(None).await;
    let (code, created) = service.post("/api/trips", &trip_body()).await.parts();
    assert_eq!(code, StatusCode::ACCEPTED, "{created}");
    let id = created["instanceId"].as_str().unwrap().to_owned();
    service.wait_for_status(&id, "awaiting_approval").await;
    let response = service.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    // `name{labels} value` lines, as Prometheus reads them.
    let value = |series: &str| -> f64 {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                (name == series).then(|| value.parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert!(value("travel_trips_started_total") >= 1.0);
    assert!(value(r#"travel_trips{state="awaiting_approval"}"#) >= 1.0);
    assert!(
        value(
            r#"travel_agent_tokens_total{agent="destination",model="travel-demo",kind="output"}"#
        ) > 0.0
    );
    assert!(
        value(r#"travel_agent_calls_total{agent="itinerary",model="travel-demo",outcome="ok"}"#)
            >= 1.0
    );
    assert!(value(r#"travel_plan_store_seconds_count{operation="save"}"#) >= 1.0);
    assert!(
        text.contains("duroxide_activity_executions_total{activity_name="),
        "the engine's own"
    );
    // Counted when read: the parked trip's approval window is a timer in the engine's queue.
    assert!(value("duroxide_orchestrator_queue_depth") >= 1.0);
    // The dashboard says what that queue holds, so a waiting trip's timer is not taken for work.
    let (_, page) = service.get("/dashboard").await.parts();
    let page = page.as_str().unwrap();
    assert!(
        page.contains("each waiting trip's approval-window timer among them"),
        "{page}"
    );
    service.stop().await;
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let service = in_process(None).await;
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    // Refusals too: a rebound host name, a state change from another site.
    let rebound = Request::get("/api/instances")
        .header(header::HOST, "evil.example:8080")
        .body(Body::empty())
        .unwrap();
    let cross_site = Request::post("/api/trips")
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .unwrap();
    for (path, request, status) in [
        ("/", get("/"), StatusCode::OK),
        (
            "/api/openapi.json",
            get("/api/openapi.json"),
            StatusCode::OK,
        ),
        (
            "/api/trips/none",
            get("/api/trips/none"),
            StatusCode::NOT_FOUND,
        ),
        ("/static/app.css", get("/static/app.css"), StatusCode::OK),
        // The site's icon, where pages link it and where browsers look by default.
        (
            "/static/favicon.svg",
            get("/static/favicon.svg"),
            StatusCode::OK,
        ),
        ("/favicon.ico", get("/favicon.ico"), StatusCode::OK),
        ("rebound host", rebound, StatusCode::FORBIDDEN),
        ("cross-site post", cross_site, StatusCode::FORBIDDEN),
    ] {
        let response = service.send(request).await;
        assert_eq!(response.status(), status, "{path}");
        let headers = response.headers();
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[header::REFERRER_POLICY], "same-origin", "{path}");
        assert!(
            headers.get(header::STRICT_TRANSPORT_SECURITY).is_none(),
            "plain http"
        );
    }
    service.stop().await;
}

#[tokio::test]
async fn a_failed_trip_says_why_in_plain_words_and_can_be_tried_again() {
    let service = in_process(None).await;
    let (_, form) = service.form_token().await;
    let demo = service.demo();
    demo.inject(travel_demo_model::FaultRule::once(
        travel_demo_model::Fault::QuotaExceeded,
    ));
    let (_, created) = service.post("/api/trips", &trip_body()).await.parts();
    let id = created["instanceId"].as_str().unwrap().to_owned();
    let token = created["approvalToken"].as_str().unwrap().to_owned();
    service.wait_for_status(&id, "failed").await;
    // Its status says it failed, and leads to a retry, not to an approval.
    let (_, failed) = service.get(&format!("/api/trips/{id}")).await.parts();
    assert_eq!(
        failed["progress"]["message"],
        "The trip failed (see `error`)."
    );
    assert_eq!(failed["links"]["retry"], format!("/api/trips/{id}/retry"));
    assert!(failed["links"].get("approve").is_none(), "{failed}");
    assert!(failed["links"].get("revisions").is_none(), "{failed}");

    let cookies = format!("tp_trip_{id}={token}; tp_csrf={form}");
    let page = trip_page_with(&service, &id, &cookies).await;
    assert!(page.contains("run out of credit"), "{page}");
    assert!(
        !page.contains("have been told"),
        "no webhook: nobody was told"
    );
    assert!(!page.contains("HTTP 429") && !page.contains("quota (demo fault)"));
    // The operators' page says why no agent is shown, and no empty costs.
    let (_, operator) = service
        .get(&format!("/dashboard/instances/{id}"))
        .await
        .parts();
    let operator = operator.as_str().unwrap();
    assert!(operator.contains(r#"id="no-agents""#), "{operator}");
    assert!(!operator.contains(r#"id="costs""#), "{operator}");
    assert!(!operator.contains("· ·"), "{operator}");
    assert!(page.contains("bar-failed") && page.contains("try-again"));

    let response = service
        .post_form(&format!("/trips/{id}/again"), &cookies, &form)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let again = response.headers()[header::LOCATION].to_str().unwrap();
    let new_id = again.strip_prefix("/trips/").unwrap().to_owned();
    assert_ne!(new_id, id);
    let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.starts_with(&format!("tp_trip_{new_id}=")));
    let retried = service.wait_for_status(&new_id, "awaiting_approval").await;
    assert_eq!(
        retried["plan"]["request"],
        created_request(&service, &id).await
    );
    assert_eq!(retried["retryOf"], id.as_str());
    // The failed trip's page now leads to the new one instead of offering another try.
    let page = trip_page_with(&service, &id, &cookies).await;
    assert!(page.contains(r#"id="retried-by""#) && page.contains(&new_id));
    assert!(!page.contains("try-again"), "{page}");
    // The operators' page links the two.
    let (_, page) = service
        .get(&format!("/dashboard/instances/{id}"))
        .await
        .parts();
    let page = page.as_str().unwrap();
    assert!(
        page.contains(r#"id="retried-by""#) && page.contains(&new_id),
        "{page}"
    );
    assert!(!page.contains(r#"id="retry""#), "retried once only");
    service.stop().await;
}

#[tokio::test]
async fn a_trip_an_operator_stopped_stays_stopped_whatever_the_reason_said() {
    let service = in_process(None).await;
    let (_, form) = service.form_token().await;
    let (_, created) = service.post("/api/trips", &trip_body()).await.parts();
    let id = created["instanceId"].as_str().unwrap().to_owned();
    let token = created["approvalToken"].as_str().unwrap().to_owned();
    service.wait_for_status(&id, "awaiting_approval").await;
    // The operator's own words, which say nothing of "terminated".
    let (code, _) = service
        .post(
            &format!("/api/instances/{id}/terminate"),
            &json!({"reason": "fraud suspected"}),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::ACCEPTED);
    wait_until("the trip stopped", Duration::from_secs(10), || async {
        let stopped = service.get(&format!("/api/trips/{id}")).await.parts().1;
        if stopped["status"] == "failed" {
            Ok(())
        } else {
            Err(stopped)
        }
    })
    .await;

    // The traveller can neither retry it through the API...
    let (code, error) = service
        .send(
            Request::post(format!("/api/trips/{id}/retry"))
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["error"]["code"], "stopped_by_operator");
    assert_eq!(error["error"]["trip"]["status"], "failed");
    // ... nor from the trip's page, which says what happened.
    let cookies = format!("tp_trip_{id}={token}; tp_csrf={form}");
    let page = trip_page_with(&service, &id, &cookies).await;
    assert!(page.contains("An operator stopped this trip."), "{page}");
    assert!(!page.contains("try-again"), "{page}");
    let response = service
        .post_form(&format!("/trips/{id}/again"), &cookies, &form)
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let (_, trip) = service.get(&format!("/api/trips/{id}")).await.parts();
    assert!(trip["retriedBy"].is_null(), "no new trip: {trip}");

    // An operator still can, from the dashboard.
    let response = service
        .post_form(
            &format!("/dashboard/instances/{id}/retry"),
            &format!("tp_csrf={form}"),
            &form,
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    service.stop().await;
}

#[tokio::test]
async fn comments_and_reasons_follow_the_trip_requests_text_policy() {
    let service = in_process(None).await;
    let (_, created) = service.post("/api/trips", &trip_body()).await.parts();
    let id = created["instanceId"].as_str().unwrap().to_owned();
    let token = created["approvalToken"].as_str().unwrap().to_owned();
    service.wait_for_status(&id, "awaiting_approval").await;
    let as_traveller = |path: String, body: Value| {
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    for (path, body) in [
        (
            format!("/approve/{id}"),
            json!({"approved": true, "comments": "fine \u{202E}gnidoob on"}),
        ),
        (
            format!("/approve/{id}"),
            json!({"approved": false, "comments": "no\u{0}"}),
        ),
        (
            format!("/api/trips/{id}/revisions"),
            json!({"comments": "more \u{1b}[31mparks"}),
        ),
    ] {
        let (code, error) = service.send(as_traveller(path.clone(), body)).await.parts();
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {error}");
        assert_eq!(error["error"]["code"], "validation_failed");
        assert_eq!(error["error"]["fields"][0]["field"], "comments", "{error}");
    }
    // An operator's reason and comments too.
    let (code, error) = service
        .post(
            &format!("/api/instances/{id}/terminate"),
            &json!({"reason": "fraud\u{2066} suspected"}),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["fields"][0]["field"], "reason");
    // A body that is not an object is not read as one.
    let (code, error) = service
        .post(&format!("/api/instances/{id}/terminate"), &json!([]))
        .await
        .parts();
    assert_eq!(code, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["code"], "malformed_json");
    let (code, error) = service
        .post(
            &format!("/api/instances/{id}/events/ApprovalEvent"),
            &json!({"approved": true, "comments": "\u{7}"}),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    // The browser's list of its trips says who, when and how much.
    let (code, list) = service
        .send(
            Request::get("/trips")
                .header(header::COOKIE, format!("tp_trip_{id}={token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::OK);
    let list = list.as_str().unwrap();
    let total = trip_total(&service, &id).await;
    assert!(
        list.contains("Grace Hopper") && list.contains(", 2 days") && list.contains(&total),
        "{list}"
    );

    // Nothing was recorded: the trip still waits, and takes a clean answer.
    let (code, answered) = service
        .send(as_traveller(
            format!("/approve/{id}"),
            json!({"approved": true, "comments": "Looks good.\nThanks"}),
        ))
        .await
        .parts();
    assert_eq!(code, StatusCode::OK, "{answered}");
    assert_eq!(
        answered["progress"]["decision"]["comments"], "Looks good.\nThanks",
        "{answered}"
    );
    service.stop().await;
}

#[tokio::test]
async fn a_form_post_without_its_form_is_answered_with_a_page() {
    let service = in_process(None).await;
    for path in ["/dashboard/instances/trip-00000000000000000000/retry", "/"] {
        let response = service.request(Method::POST, path).send().await;
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{path}"
        );
        let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap();
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
    }
    service.stop().await;
}

/// The local-tips agent's next call fails for good (no credit), after the other two agents
/// have answered.
fn no_tips_next_time(service: &TestService) {
    service.demo().inject(travel_demo_model::FaultRule {
        fault: travel_demo_model::Fault::QuotaExceeded,
        agent: Some(travel_agents::AgentName::LocalTips),
        times: 1,
    });
}

/// A trip's page as the browser holding `cookies` sees it.
async fn trip_page_with(service: &TestService, id: &str, cookies: &str) -> String {
    let (code, page) = service
        .send(
            Request::get(format!("/trips/{id}"))
                .header(header::COOKIE, cookies)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::OK);
    page.as_str().unwrap().to_owned()
}

/// Retries a failed trip through the API; answers the new trip's id.
async fn retried(service: &TestService, id: &str, token: &str) -> String {
    let (code, again) = service
        .send(
            Request::post(format!("/api/trips/{id}/retry"))
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::ACCEPTED, "{again}");
    again["instanceId"].as_str().unwrap().to_owned()
}

/// The plan's total as the pages write it ("59.40 EUR").
async fn trip_total(service: &TestService, id: &str) -> String {
    let (_, trip) = service.get(&format!("/api/trips/{id}")).await.parts();
    let total = &trip["progress"]["plan"]["total"];
    format!(
        "{:.2} {}",
        total["amount"].as_f64().unwrap(),
        total["currency"].as_str().unwrap()
    )
}

/// The request a trip was started with, as the management API shows it.
async fn created_request(service: &TestService, id: &str) -> Value {
    let (_, detail) = service.get(&format!("/api/instances/{id}")).await.parts();
    detail["input"]["request"].clone()
}

#[tokio::test]
async fn the_operator_sees_who_answered_each_revision_and_what_each_cost() {
    let service = in_process(None).await;
    let (_, created) = service.post("/api/trips", &trip_body()).await.parts();
    let id = created["instanceId"].as_str().unwrap().to_owned();
    let token = created["approvalToken"].as_str().unwrap().to_owned();
    service.wait_for_status(&id, "awaiting_approval").await;
    let revise = Request::post(format!("/api/trips/{id}/revisions"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(
            json!({"comments": "More parks", "destination": 2}).to_string(),
        ))
        .unwrap();
    let (code, answered) = service.send(revise).await.parts();
    assert_eq!(code, StatusCode::ACCEPTED, "{answered}");
    let revised = wait_until(
        "revision 2 awaiting approval",
        Duration::from_secs(10),
        || async {
            let (_, trip) = service.get(&format!("/api/trips/{id}")).await.parts();
            let waits = trip["status"] == "awaiting_approval" && trip["plan"]["revision"] == 2;
            if waits { Ok(trip) } else { Err(trip) }
        },
    )
    .await;
    let answers = revised["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 1, "{answers:?}");
    let changes = &answers[0]["changes"];
    assert_eq!(
        (
            &changes["revision"],
            &changes["requestedBy"],
            &changes["via"]
        ),
        (&json!(1), &json!("requester"), &json!("token"))
    );
    // The operator approves: recorded as the operator's, on revision 2. Who decided is the
    // service's to record, not the caller's to claim.
    let event = format!("/api/instances/{id}/events/ApprovalEvent");
    let (code, _) = service
        .post(
            &event,
            &json!({"approved": true, "decidedBy": "someone else"}),
        )
        .await
        .parts();
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let (code, _) = service
        .post(&event, &json!({"approved": true, "comments": "ok"}))
        .await
        .parts();
    assert_eq!(code, StatusCode::ACCEPTED);
    let booked = service.wait_for_status(&id, "booked").await;
    let decision = &booked["outcome"]["decision"];
    assert_eq!(decision["decidedBy"], "operator");
    assert_eq!(
        (&decision["via"], &decision["revision"]),
        (&json!("operator"), &json!(2))
    );
    let (_, page) = service
        .get(&format!("/dashboard/instances/{id}"))
        .await
        .parts();
    let page = page.as_str().unwrap();
    let answers = &page[page.find(r#"id="answers""#).expect("the audit trail")..];
    assert!(answers.contains("asked for changes") && answers.contains("More parks"));
    // The destination asked for is named, not numbered.
    let third = format!(
        "plan {} instead",
        booked["progress"]["destination"].as_str().unwrap()
    );
    assert!(answers.contains(&third), "{answers}");
    // The timeline keeps the first plan's steps beside the revision's.
    let (_, detail) = service.get(&format!("/api/instances/{id}")).await.parts();
    let labels: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"Itinerary (revision 1)") && labels.contains(&"Itinerary (revision 2)"),
        "{labels:?}"
    );
    assert!(answers.contains("approved") && answers.contains("operator"));
    let costs = &page[page.find(r#"id="costs""#).expect("the costs")..];
    assert_eq!(
        costs.matches("<td>itinerary</td>").count(),
        2,
        "both revisions' calls"
    );
    // Without an admin token everyone here is an operator: the trip page shows the costs too.
    assert!(
        trip_page_with(&service, &id, "")
            .await
            .contains(r#"id="cost-total""#)
    );
    service.stop().await;
}

#[tokio::test]
async fn the_trip_page_shows_costs_to_operators_only() {
    let admin = "an-operator-token-0123456789abcdef0123";
    let service = in_process(Some(admin)).await;
    let (_, created) = service.post("/api/trips", &trip_body()).await.parts();
    let id = created["instanceId"].as_str().unwrap().to_owned();
    service.wait_for_status(&id, "awaiting_approval").await;
    assert!(
        !trip_page_with(&service, &id, "")
            .await
            .contains(r#"id="costs""#)
    );
    let session = travel_api::admin::AdminAccess::new(Some(admin.into()))
        .open_session(travel_api::admin::unix_now())
        .unwrap();
    let page = trip_page_with(&service, &id, &format!("tp_admin={session}")).await;
    assert!(page.contains(r#"id="cost-total""#), "{page}");
    assert!(page.contains("<td>destination</td>"));
    service.stop().await;
}

/// What the workflow does when the model's provider says no: the workflow is the one place that
/// retries (the client makes one request a try), so a 429's `Retry-After` becomes a durable wait
/// of that length, then another try; a model that keeps failing gets `LLM_MAX_ATTEMPTS` tries
/// within `LLM_CALL_BUDGET_SECS`, no more; running out of quota fails the trip at once (no paid
/// call is repeated for nothing).
#[tokio::test]
async fn a_retry_after_is_waited_out_durably_tries_do_not_multiply_and_out_of_quota_fails_at_once()
{
    let service = in_process(None).await;
    let demo = service.demo();

    // 429 asking for 3 s.
    demo.inject(FaultRule {
        agent: Some(AgentName::Destination),
        ..FaultRule::once(Fault::RateLimited {
            retry_after_secs: 3.0,
        })
    });
    let started = Instant::now();
    let trip = service.trips().start(trip_request()).await.unwrap();
    assert_eq!(
        settle(&service, &trip.instance_id).await,
        TripState::AwaitingApproval
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the workflow waited what the provider asked: {:?}",
        started.elapsed()
    );
    assert_eq!(
        service.asked(AgentName::Destination),
        2,
        "one refused call, one more try"
    );

    // Out of quota: no retry, the trip fails with the reason.
    demo.inject(FaultRule {
        agent: Some(AgentName::Destination),
        ..FaultRule::once(Fault::QuotaExceeded)
    });
    let before = service.asked(AgentName::Destination);
    let trip = service.trips().start(trip_request()).await.unwrap();
    assert_eq!(settle(&service, &trip.instance_id).await, TripState::Failed);
    assert_eq!(
        service.asked(AgentName::Destination),
        before + 1,
        "quota errors are not retried"
    );
    let status = service.trips().status(&trip.instance_id).await.unwrap();
    assert!(status.error.unwrap_or_default().contains("quota"));
    service.stop().await;

    // A model that answers 500 every time: each try is one request (none in the client), and
    // the tries stop at the call's budget (2 s here: the first wait is 1 s, the second 2 s
    // would pass it), well before its 4 tries.
    let service = TestService::setup()
        .setting("LLM_MAX_ATTEMPTS", "4")
        .setting("LLM_CALL_BUDGET_SECS", "2")
        .in_process()
        .await;
    let demo = service.demo();
    demo.inject(FaultRule {
        agent: Some(AgentName::Destination),
        ..FaultRule::once(Fault::ServerError).times(100)
    });
    let trip = service.trips().start(trip_request()).await.unwrap();
    assert_eq!(settle(&service, &trip.instance_id).await, TripState::Failed);
    assert_eq!(
        service.asked(AgentName::Destination),
        2,
        "two tries, one request each"
    );
    let error = service
        .trips()
        .status(&trip.instance_id)
        .await
        .unwrap()
        .error
        .unwrap_or_default();
    assert!(
        error.contains("(tried 2 times; at most 4 tries and 2 s in all)"),
        "{error}"
    );
    service.stop().await;
}

/// A trip, once it has left planning.
async fn settle(service: &TestService, id: &travel_orchestration::TripId) -> TripState {
    wait_until(
        &format!("trip {id} settled"),
        Duration::from_secs(30),
        || async {
            match service.trips().status(id).await.unwrap().status {
                TripState::Planning => Err(TripState::Planning),
                settled => Ok(settled),
            }
        },
    )
    .await
}

/// A trip request, as the API reads it.
fn trip_request() -> TripRequest {
    serde_json::from_value(trip_body()).unwrap()
}

#[tokio::test]
async fn the_agents_replies_stream_as_the_model_writes_them_between_the_trip_s_changes() {
    let service = TestService::setup().in_process().await;
    // Long enough for the stream to open before the first call; half of it is spent writing.
    service.demo().set_latency(Duration::from_millis(400));
    let (id, _) = service.start_trip(&trip_body()).await;
    let mut stream = service.events(&id, None).await.ok().unwrap();
    let changes = stream
        .until(|e| e.data["progress"]["state"] == "awaiting_approval")
        .await;
    let replies = std::mem::take(&mut stream.replies);
    assert!(
        replies.iter().all(|(_, r)| r.id.is_none()),
        "not the record: no id"
    );
    // The JSON answer, the record, holds none of them.
    let (_, recorded) = service
        .get(&format!("/api/trips/{id}/events"))
        .await
        .parts();
    assert!(
        recorded
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["type"] != "text")
    );

    for agent in ["destination", "itinerary", "local-tips", "packing"] {
        let told: Vec<&SentEvent> = replies
            .iter()
            .filter(|(_, r)| r.data["agent"] == agent)
            .map(|(_, r)| r)
            .collect();
        // The destination's call may have started before the stream opened: then it was asked
        // whole. The others start after it, while the stream is open.
        if agent == "destination" && told.is_empty() {
            continue;
        }
        assert!(!told.is_empty(), "{agent}: no reply streamed");
        // All told while the step ran: after it started, before the change that ends it.
        let step_at = |state: &str| {
            changes
                .iter()
                .position(|e| {
                    e.event == "step" && e.data["key"] == agent && e.data["state"] == state
                })
                .unwrap()
        };
        let (started_at, done_at) = (step_at("started"), step_at("done"));
        for (before, reply) in replies.iter().filter(|(_, r)| r.data["agent"] == agent) {
            assert!(
                *before > started_at && *before <= done_at,
                "{agent}: {reply:?} came after change {before}"
            );
        }
        // Each round's text, put together, is the reply the agent recorded for it.
        let thread: Value = service
            .get(&format!("/api/trips/{id}/agents/{agent}"))
            .await
            .json()
            .await
            .unwrap();
        let recorded: Vec<&Value> = thread["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "assistant")
            .collect();
        for (round, message) in (1..).zip(&recorded) {
            let text: String = told
                .iter()
                .filter(|r| r.data["type"] == "text" && r.data["round"] == round)
                .map(|r| r.data["text"].as_str().unwrap())
                .collect();
            assert_eq!(
                text,
                message["content"].as_str().unwrap_or_default(),
                "{agent} round {round}"
            );
        }
    }
    // The itinerary's days, each told as soon as it was complete: the plan's days.
    let plan: Value = service
        .get(&format!("/api/trips/{id}/plan"))
        .await
        .json()
        .await
        .unwrap();
    let days: Vec<&Value> = replies
        .iter()
        .map(|(_, r)| &r.data)
        .filter(|d| d["type"] == "item" && d["list"] == "days")
        .collect();
    let planned = plan["itinerary"]["days"].as_array().unwrap();
    assert_eq!(days.len(), planned.len());
    for (told, planned) in days.iter().zip(planned) {
        assert_eq!(told["value"]["day"], planned["day"]);
        assert_eq!(told["value"]["theme"], planned["theme"]);
    }
    // Nobody follows now: the next trip's calls are asked whole.
    drop(stream);
    let (other, _) = service.start_trip(&trip_body()).await;
    service.wait_for_status(&other, "awaiting_approval").await;
    let requests = service.demo().requests();
    assert!(
        requests
            .iter()
            .rev()
            .take(4)
            .all(|r| r.body.get("stream").is_none())
    );
}

#[tokio::test]
async fn a_trip_s_events_stream_live_and_resume_where_a_dropped_connection_left_off() {
    let service = TestService::setup()
        .setting("MAX_EVENT_STREAMS", "2")
        .in_process()
        .await;
    let (id, token) = service.start_trip(&trip_body()).await;
    let awaiting = |e: &SentEvent| e.data["progress"]["state"] == "awaiting_approval";

    // A browser follows the trip, and drops its connection after three events.
    let mut first = service.events(&id, None).await.ok().unwrap();
    let mut seen: Vec<SentEvent> = Vec::new();
    for _ in 0..3 {
        seen.push(first.next().await.unwrap());
    }
    assert_eq!(seen[0].event, "progress");
    assert_eq!(seen[0].data["progress"]["state"], "planning");
    drop(first);
    // It reconnects with the last id it saw: the rest, in order, nothing twice.
    let mut resumed = service.events(&id, seen[2].id).await.ok().unwrap();
    seen.extend(resumed.until(awaiting).await);
    let ids: Vec<u64> = seen.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // The same events as the JSON answer holds (what the record says).
    let (code, recorded) = service
        .get(&format!("/api/trips/{id}/events"))
        .await
        .parts();
    assert_eq!(code, StatusCode::OK, "{recorded}");
    let recorded = recorded.as_array().unwrap();
    assert_eq!(recorded.len(), seen.len(), "{recorded:?}");
    for (sent, kept) in seen.iter().zip(recorded) {
        assert_eq!(&sent.data, kept);
        assert_eq!(sent.event, kept["type"]);
    }
    // Every agent and the save were seen to start and finish.
    for key in [
        "destination",
        "itinerary",
        "local-tips",
        "packing",
        "saving",
    ] {
        for state in ["started", "done"] {
            assert!(
                seen.iter()
                    .any(|e| e.event == "step" && e.data["key"] == key && e.data["state"] == state),
                "{key} {state}: {seen:?}"
            );
        }
    }

    // A second stream is admitted, a third is not (MAX_EVENT_STREAMS is 2).
    let second = service
        .events(&id, seen.last().unwrap().id)
        .await
        .ok()
        .unwrap();
    let refused = service.events(&id, None).await.err().unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    drop(second);

    // The decision and the booking come on the open stream, then its end.
    let decided = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(decided.status(), StatusCode::OK);
    let rest = resumed.until(|_| false).await;
    let last = rest.last().unwrap();
    assert_eq!(last.event, "finished", "{rest:?}");
    assert_eq!(last.data["state"], "booked");
    assert!(
        rest.iter()
            .any(|e| e.data["key"] == "booking" && e.data["state"] == "done"),
        "{rest:?}"
    );
    // A browser that reconnects after the end is told there is nothing more (204 stops it).
    let ended = service.events(&id, last.id).await.err().unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    // The whole story again, from the start, for a late reader.
    let mut late = service.events(&id, None).await.ok().unwrap();
    let all = late.until(|_| false).await;
    assert_eq!(all.len(), seen.len() + rest.len());

    // What is not an event's id, and a trip that does not exist.
    let bad = service
        .request(Method::GET, &format!("/api/trips/{id}/events"))
        .header("last-event-id", "yesterday")
        .send()
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_header"
    );
    let unknown = service.events("trip-00000000000000000000", None).await;
    assert_eq!(unknown.err().unwrap().status(), StatusCode::NOT_FOUND);
    service.stop().await;
}

/// A traveller's conversation with the intake agent, up to the trip it starts.
struct Chat<'a> {
    service: &'a TestService,
    id: String,
    token: String,
}

impl<'a> Chat<'a> {
    async fn open(service: &'a TestService) -> Chat<'a> {
        let (code, opened) = service.post("/api/conversations", &json!({})).await.parts();
        assert_eq!(code, StatusCode::CREATED, "{opened}");
        let greeting = &opened["conversation"]["messages"][0];
        assert_eq!(greeting["from"], "assistant", "{opened}");
        assert_eq!(opened["conversation"]["state"], "open");
        Chat {
            service,
            id: opened["conversation"]["conversationId"]
                .as_str()
                .unwrap()
                .to_owned(),
            token: opened["conversationToken"].as_str().unwrap().to_owned(),
        }
    }

    /// Says `text`; answers the status and the body.
    async fn say_as(&self, token: Option<&str>, text: &str) -> (StatusCode, Value) {
        let call = self
            .service
            .request(
                Method::POST,
                &format!("/api/conversations/{}/messages", self.id),
            )
            .json(&json!({ "text": text }));
        match token {
            Some(token) => call.bearer_auth(token),
            None => call,
        }
        .send()
        .await
        .parts()
    }

    /// Says `text` and answers the agent's reply.
    async fn say(&self, text: &str) -> String {
        let (code, answer) = self.say_as(Some(&self.token), text).await;
        assert_eq!(code, StatusCode::OK, "{answer}");
        answer["reply"]["text"].as_str().unwrap().to_owned()
    }

    async fn get(&self) -> Value {
        let (code, answer) = self
            .service
            .request(Method::GET, &format!("/api/conversations/{}", self.id))
            .bearer_auth(&self.token)
            .send()
            .await
            .parts();
        assert_eq!(code, StatusCode::OK, "{answer}");
        answer
    }
}

#[tokio::test]
async fn a_conversation_gathers_the_request_restates_it_and_starts_the_trip_its_token_approves() {
    let service = in_process(None).await;
    // Its body is an empty object: anything else is refused.
    for body in [json!([]), json!({"x": 1})] {
        let (status, refused) = service.post("/api/conversations", &body).await.parts();
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {refused}"
        );
        assert_eq!(
            refused["error"]["code"], "validation_failed",
            "{body}: {refused}"
        );
    }
    let chat = Chat::open(&service).await;
    // The conversation is its token holder's.
    let (code, refused) = chat.say_as(None, "hello").await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error"]["code"], "conversation_token_required");
    let (code, refused) = chat.say_as(Some("not-the-token"), "hello").await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "conversation_token_invalid");
    for unfit in ["   ".to_owned(), "a\u{202E}b".to_owned(), "x".repeat(2001)] {
        let (code, refused) = chat.say_as(Some(&chat.token), &unfit).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["fields"][0]["field"], "text");
    }
    for unknown in ["chat-00000000000000000000", "trip-0123", "nonsense"] {
        let (code, refused) = service
            .get(&format!("/api/conversations/{unknown}"))
            .await
            .parts();
        assert_eq!(code, StatusCode::NOT_FOUND, "{unknown}: {refused}");
    }
    assert_eq!(
        chat.get().await["conversation"]["messages"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "refused messages are not kept"
    );

    // It asks for what is missing, then restates.
    let asked = chat
        .say("I'd love a relaxed trip with good food and museums")
        .await;
    assert!(asked.contains("How many days"), "{asked}");
    // Streamed: the reply's text as it is written, then the conversation.
    let streamed = service
        .request(
            Method::POST,
            &format!("/api/conversations/{}/messages", chat.id),
        )
        .header(header::ACCEPT, "text/event-stream")
        .bearer_auth(&chat.token)
        .json(&json!({"text": "5 days, 1800 EUR. My name is Ana Lima."}))
        .send()
        .await;
    assert_eq!(streamed.status(), StatusCode::OK);
    let events = support::events::all(&streamed.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert!(
        names.len() >= 2 && names[..names.len() - 1].iter().all(|n| *n == "text"),
        "{names:?}"
    );
    assert_eq!(names.last(), Some(&"conversation"), "{events:?}");
    let written: String = events[..events.len() - 1]
        .iter()
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    let kept = &events.last().unwrap().data;
    assert_eq!(
        kept["reply"]["text"],
        written.as_str(),
        "the text as written is the reply kept"
    );
    let restated = chat.say("I am vegetarian, and my dates are flexible").await;
    assert!(restated.contains("Shall I start planning?"), "{restated}");
    assert!(
        restated.contains("Ana Lima") && (restated.contains("1,800") || restated.contains("1800")),
        "{restated}"
    );

    // Confirmed: the trip starts with the request gathered, checked as the form's.
    let started = chat.say("yes please").await;
    let answer = chat.get().await;
    let conversation = &answer["conversation"];
    assert_eq!(conversation["state"], "trip_started", "{answer}");
    let trip = conversation["tripId"].as_str().unwrap().to_owned();
    assert!(started.contains(&trip), "{started}");
    assert_eq!(
        trip[5..],
        chat.id[5..],
        "the trip's id follows from the conversation's"
    );
    assert_eq!(answer["links"]["trip"], format!("/api/trips/{trip}"));
    assert!(answer["links"]["messages"].is_null(), "{answer}");
    let request = created_request(&service, &trip).await;
    assert_eq!(request["travelerName"], "Ana Lima", "{request}");
    assert_eq!(request["durationDays"], 5);
    assert_eq!(
        request["budget"]["amount"].as_f64(),
        Some(1800.0),
        "{request}"
    );
    assert_eq!(request["budget"]["currency"], "EUR");
    assert!(
        request["specialRequirements"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("vegetarian"),
        "{request}"
    );
    // No more messages: the conversation follows its trip.
    let (code, refused) = chat.say_as(Some(&chat.token), "and one more").await;
    assert_eq!(code, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "trip_already_started");

    // The conversation's token approves the trip; it is booked once.
    service.wait_for_status(&trip, "awaiting_approval").await;
    let decided = service
        .decide(&trip, Some(&chat.token), &json!({"approved": true}))
        .await;
    assert_eq!(decided.status(), StatusCode::OK);
    service.wait_for_status(&trip, "booked").await;
    assert_eq!(service.bookings(), 1);

    // Operators see it, with its tokens.
    let (_, page) = service.get("/dashboard").await.parts();
    let page = page.as_str().unwrap();
    let row = page
        .split(&format!(">{}</a>", chat.id))
        .nth(1)
        .expect("the dashboard lists the conversation");
    assert!(
        row.contains("trip_started") && row.contains(&trip) && row.contains(" tokens"),
        "{row}"
    );
    // And the conversation itself: every message kept, the agent's call of its tool among them.
    let (code, page) = service
        .get(&format!("/dashboard/conversations/{}", chat.id))
        .await
        .parts();
    assert_eq!(code, StatusCode::OK);
    let page = page.as_str().unwrap();
    for said in ["start_trip", "yes please", "Ana Lima", "instanceId"] {
        assert!(page.contains(said), "{said}: {page}");
    }
    let (code, _) = service
        .get("/dashboard/conversations/chat-00000000000000000000")
        .await
        .parts();
    assert_eq!(code, StatusCode::NOT_FOUND);
    service.stop().await;
}

#[tokio::test]
async fn a_conversation_survives_a_restart_settles_a_call_a_stopped_process_left_and_expires() {
    let data = tempfile::tempdir().unwrap();
    let demo = support::DemoModel::start();
    let mut service = TestService::binary(data.path(), &demo, &[]);
    let chat = Chat::open(&service).await;
    chat.say("A week of hiking and lakes, 2500 CHF, I'm Jon Snow")
        .await;
    let (id, token) = (chat.id.clone(), chat.token.clone());
    service.kill9();

    // Started again on the same store: the conversation is all there and goes on.
    let service = TestService::setup()
        .data_dir(data.path())
        .in_process()
        .await;
    let chat = Chat {
        service: &service,
        id,
        token,
    };
    let kept = chat.get().await;
    let messages = kept["conversation"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{kept}");
    assert_eq!(
        messages[1]["text"],
        "A week of hiking and lakes, 2500 CHF, I'm Jon Snow"
    );
    let restated = chat.say("no special needs, any dates").await;
    assert!(restated.contains("Shall I start planning?"), "{restated}");

    // A process stopped after keeping the agent's call of `start_trip`, before running it: the
    // next message settles the call (the trip starts once) before the agent is asked again.
    let index = &service.trips().store().index;
    let mut row = index.conversation_row(&chat.id).await.unwrap().unwrap();
    let arguments = json!({
        "travelerName": "Jon Snow", "preferences": "hiking and lakes", "durationDays": 7,
        "budget": {"amount": 2500, "currency": "CHF"}, "startDate": null, "travelDates": null,
        "specialRequirements": null
    });
    row.messages.push(travel_agents::ThreadMessage::User {
        content: "yes".into(),
    });
    row.messages.push(travel_agents::ThreadMessage::Assistant {
        content: None,
        refusal: None,
        tool_calls: vec![travel_agents::thread::ToolCall {
            id: "call_left".into(),
            name: "start_trip".into(),
            arguments: arguments.to_string(),
        }],
    });
    row.version += 1;
    assert!(index.update_conversation(&row).await.unwrap());
    let (code, refused) = chat.say_as(Some(&chat.token), "hello?").await;
    assert_eq!(
        code,
        StatusCode::OK,
        "the call is settled, then the message answered: {refused}"
    );
    let trip = chat.get().await["conversation"]["tripId"]
        .as_str()
        .unwrap()
        .to_owned();
    service.wait_for_status(&trip, "awaiting_approval").await;
    let row = index.conversation_row(&chat.id).await.unwrap().unwrap();
    let results = row
        .messages
        .iter()
        .filter(|m| matches!(m, travel_agents::ThreadMessage::Tool { .. }))
        .count();
    assert_eq!(results, 1, "{:?}", row.messages);
    let (_, list) = service.get("/api/instances").await.parts();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "one trip: {list}"
    );
    service.stop().await;

    // A conversation nobody speaks in expires: no more messages, and its words are forgotten.
    let service = TestService::setup()
        .setting("CONVERSATION_IDLE_SECS", "1")
        .in_process()
        .await;
    let chat = Chat::open(&service).await;
    chat.say("Somewhere warm please").await;
    wait_until(
        "the conversation to expire",
        Duration::from_secs(10),
        || async {
            let state = chat.get().await["conversation"]["state"].clone();
            if state == "expired" {
                Ok(())
            } else {
                Err(state)
            }
        },
    )
    .await;
    let (code, refused) = chat.say_as(Some(&chat.token), "still there?").await;
    assert_eq!(code, StatusCode::GONE, "{refused}");
    assert_eq!(refused["error"]["code"], "conversation_expired");
    service.running().housekeeping().await;
    let forgotten = chat.get().await;
    assert_eq!(
        forgotten["conversation"]["messages"],
        json!([]),
        "{forgotten}"
    );
    service.stop().await;
}
