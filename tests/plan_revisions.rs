//! Revising a plan on the reviewer's request, with the demo model over HTTP: two revisions then
//! approval (the destination agent is never asked again; on both backings), the revision limit,
//! a request racing an approval, and kill -9 in the middle of a revision (the binary).

mod support;

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use support::*;

async fn ask_for_changes(
    service: &TestService,
    id: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = service
        .request(Method::POST, &format!("/api/trips/{id}/revisions"))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Waits until plan revision `revision` awaits approval.
async fn wait_for_revision(service: &TestService, id: &str, revision: u64) -> Value {
    service
        .wait_for(id, Duration::from_secs(90), |t| {
            t["status"] == "awaiting_approval" && t["plan"]["revision"] == revision
        })
        .await
}

/// Requests the demo model received for `agent`.
async fn asked(demo: &DemoModel, agent: &str) -> u64 {
    demo.counts().await["byAgent"][agent].as_u64().unwrap_or(0)
}

on_both_backings!(revised_twice_then_approved_without_asking_the_destination_agent_again);

async fn revised_twice_then_approved_without_asking_the_destination_agent_again(backing: Backing) {
    let demo = DemoModel::start();
    let service = TestService::setup().demo_model(&demo).start(backing).await;
    let (id, token) = service.start_trip(&trip_body(3)).await;
    let first = service.wait_for_status(&id, "awaiting_approval").await;
    let destination_calls = asked(&demo, "destination").await;
    let itinerary_calls = asked(&demo, "itinerary").await;
    assert!(destination_calls >= 1 && itinerary_calls >= 1);

    // Refused: no token, a wrong token, nothing asked, a destination that is not offered.
    let comments = json!({"comments": "More museums, and make it vegetarian please."});
    let (code, error) = ask_for_changes(&service, &id, None, &comments).await;
    assert_eq!(
        (code, error["error"]["code"].as_str()),
        (401, Some("approval_token_required"))
    );
    let (code, _) = ask_for_changes(&service, &id, Some("wrong"), &comments).await;
    assert_eq!(code, 403);
    let (code, error) = ask_for_changes(&service, &id, Some(&token), &json!({})).await;
    assert_eq!(
        (code, error["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (code, error) =
        ask_for_changes(&service, &id, Some(&token), &json!({"destination": 3})).await;
    assert_eq!(code, 422, "{error}");
    assert_eq!(error["error"]["fields"][0]["field"], "destination");
    // The plan's own destination (the first recommended) and nothing else: nothing to change,
    // and no revision used up.
    let (code, error) =
        ask_for_changes(&service, &id, Some(&token), &json!({"destination": 0})).await;
    assert_eq!(code, 422, "{error}");
    assert_eq!(error["error"]["fields"][0]["field"], "destination");
    assert!(
        error["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already"),
        "{error}"
    );
    let (code, _) = ask_for_changes(
        &service,
        &id,
        Some(&token),
        &json!({"comments": "x", "extra": 1}),
    )
    .await;
    assert_eq!(code, 422, "unknown fields are refused");

    // Revision 2: the reviewer's comments.
    let (code, answered) = ask_for_changes(&service, &id, Some(&token), &comments).await;
    assert_eq!(code, 202, "{answered}");
    // The same request again (a retried POST) is answered the same, and asks for nothing more.
    let (code, _) = ask_for_changes(&service, &id, Some(&token), &comments).await;
    assert_eq!(code, 202);
    let second = wait_for_revision(&service, &id, 2).await;
    assert_eq!(second["plan"]["changes"]["comments"], comments["comments"]);
    assert_eq!(second["plan"]["destination"], first["plan"]["destination"]);
    let revisions = second["progress"]["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    assert_eq!(revisions[1]["changes"]["comments"], comments["comments"]);
    assert_eq!(revisions[1]["days"], 3);
    assert!(
        second["progress"]["message"]
            .as_str()
            .unwrap()
            .contains("revision 2")
    );
    assert_ne!(
        second["plan"]["itinerary"], first["plan"]["itinerary"],
        "the days were planned again"
    );
    // The reviewer's vegetarian wish reached the tips agent: no meat or fish dish to order.
    let tips = second["plan"]["localTips"].to_string().to_lowercase();
    assert!(tips.contains("vegetarian"), "{tips}");

    // Revision 3: another of the recommended destinations, no comments.
    let other = &first["plan"]["recommendations"]["destinations"][1];
    let (code, _) = ask_for_changes(&service, &id, Some(&token), &json!({"destination": 1})).await;
    assert_eq!(code, 202);
    let third = wait_for_revision(&service, &id, 3).await;
    assert_eq!(third["plan"]["destination"]["name"], other["name"]);
    assert_eq!(
        third["progress"]["destination"],
        format!(
            "{}, {}",
            other["name"].as_str().unwrap(),
            other["country"].as_str().unwrap()
        )
    );
    assert_eq!(third["progress"]["revisions"].as_array().unwrap().len(), 3);
    assert_eq!(
        asked(&demo, "destination").await,
        destination_calls,
        "the destination agent was not asked again"
    );
    assert!(asked(&demo, "itinerary").await >= itinerary_calls + 2);

    // Every revision stays readable, as JSON and Markdown.
    for (revision, plan) in [(1, &first), (2, &second), (3, &third)] {
        let read: Value = service
            .get(&format!("/api/trips/{id}/plan?revision={revision}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read, plan["plan"], "revision {revision}");
        assert!(
            service
                .data_dir
                .join(format!("plans/{id}/rev-{revision}.json"))
                .exists()
        );
    }
    let markdown = service
        .get(&format!("/api/trips/{id}/plan.md?revision=3"))
        .await
        .text()
        .await
        .unwrap();
    assert!(markdown.contains("Changes asked for"), "{markdown}");
    for (query, code) in [
        ("revision=9", 404),
        ("revision=0", 400),
        ("revision=x", 400),
    ] {
        let response = service.get(&format!("/api/trips/{id}/plan?{query}")).await;
        assert_eq!(response.status(), code, "{query}");
    }
    // An answer on an old revision no longer acts: revision 1's answer is already recorded.
    let costs = &third["costs"]["agents"];
    let itinerary_revisions: Vec<u64> = costs
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["agent"] == "itinerary")
        .map(|c| c["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(itinerary_revisions, [1, 2, 3], "{costs}");

    // Approved: revision 3 is booked, and the decision says by whom, how and on which revision.
    let decided = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(decided.status(), 200);
    let booked = service.wait_for_status(&id, "booked").await;
    assert_eq!(booked["outcome"]["plan"]["revision"], 3);
    let decision = &booked["outcome"]["decision"];
    assert_eq!(decision["revision"], 3);
    assert_eq!(decision["decidedBy"], "requester");
    assert_eq!(decision["via"], "token");
    assert!(decision["decidedAt"].is_string());
    assert_eq!(service.bookings(), 1);
    // Changes to a booked trip: it says so.
    let (code, error) = ask_for_changes(&service, &id, Some(&token), &comments).await;
    assert_eq!(
        (code, error["error"]["code"].as_str()),
        (409, Some("not_awaiting_approval"))
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("booked"),
        "{error}"
    );
    assert_eq!(error["error"]["trip"]["status"], "booked");
    assert_eq!(asked(&demo, "destination").await, destination_calls);
}

#[tokio::test]
async fn the_revision_limit_a_race_with_approval_and_a_kill_mid_revision() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let mut service = TestService::binary(data.path(), &demo, &[("MAX_REVISIONS", "1")]);

    // A revision request racing an approval on the same plan: exactly one of them wins, and
    // the trip goes the winner's way.
    let (raced, raced_token) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&raced, "awaiting_approval").await;
    let changes = json!({"comments": "Fewer early mornings"});
    let approval = json!({"approved": true});
    let (revised, approved) = tokio::join!(
        ask_for_changes(&service, &raced, Some(&raced_token), &changes),
        service.decide(&raced, Some(&raced_token), &approval),
    );
    let approved = approved.status().as_u16();
    match (revised.0, approved) {
        (202, 409) => {
            wait_for_revision(&service, &raced, 2).await;
            assert_eq!(service.bookings(), 0);
        }
        (409, 200) => {
            let booked = service.wait_for_status(&raced, "booked").await;
            assert_eq!(booked["outcome"]["plan"]["revision"], 1);
        }
        other => panic!("both or neither won: {other:?} {}", revised.1),
    }

    // Kill -9 while the revision is being planned: it is finished after the restart, and the
    // destination agent is not asked again.
    let bookings = service.bookings();
    let (id, token) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    let destination_calls = asked(&demo, "destination").await;
    demo.set_latency(1500).await;
    let (code, _) = ask_for_changes(&service, &id, Some(&token), &changes).await;
    assert_eq!(code, 202);
    service
        .wait_for(&id, Duration::from_secs(30), |t| t["status"] == "planning")
        .await;
    service.kill9();
    demo.set_latency(0).await;
    service.restart();
    let second = wait_for_revision(&service, &id, 2).await;
    assert_eq!(
        second["plan"]["changes"]["comments"],
        "Fewer early mornings"
    );
    assert_eq!(asked(&demo, "destination").await, destination_calls);

    // The limit (MAX_REVISIONS=1) is reached: approve or reject now.
    let (code, error) = ask_for_changes(&service, &id, Some(&token), &changes).await;
    assert_eq!(
        (code, error["error"]["code"].as_str()),
        (409, Some("revision_limit")),
        "{error}"
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 1"),
        "{error}"
    );
    let rejected = service
        .decide(
            &id,
            Some(&token),
            &json!({"approved": false, "comments": "Not now"}),
        )
        .await;
    assert_eq!(rejected.status(), 200);
    let done = service.wait_for_status(&id, "rejected").await;
    assert_eq!(done["outcome"]["decision"]["revision"], 2);
    assert_eq!(service.bookings(), bookings);
}
