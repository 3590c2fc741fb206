//! The service on a Durable Task scheduler (`DURABLE_TASK_ENDPOINT`): PyPI `durabletask`'s
//! in-memory backend holds the trips' history, queues and timers, and the official Python
//! client sees the trips as the scheduler's dashboard would, and can answer one.

#[path = "../durable-task/tests/backend/mod.rs"]
mod scheduler;
mod support;

use axum::http::Method;
use serde_json::json;
use support::*;

on_both_backings!(a_trip_is_planned_approved_and_booked_on_the_scheduler);

async fn a_trip_is_planned_approved_and_booked_on_the_scheduler(backing: Backing) {
    let scheduler = scheduler::Backend::start();
    let service = TestService::setup()
        .setting("DURABLE_TASK_ENDPOINT", &scheduler.endpoint())
        .start(backing)
        .await;
    let (id, token) = service.start_trip(&trip_body(2)).await;
    let waiting = service.wait_for_status(&id, "awaiting_approval").await;
    assert_eq!(
        waiting["plan"]["itinerary"]["days"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The scheduler's view of the trip, through the official client.
    let seen = scheduler.python(&format!(
        r#"
import json, os
from durabletask.client import TaskHubGrpcClient
client = TaskHubGrpcClient(host_address=f"localhost:{{os.environ['PORT']}}")
state = client.get_orchestration_state("{id}")
print(json.dumps({{"name": state.name, "status": state.runtime_status.name,
                  "custom": json.loads(state.serialized_custom_status)}}))
"#
    ));
    let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(seen["name"], "TripPlanning", "{seen}");
    assert_eq!(seen["status"], "RUNNING");
    assert_eq!(seen["custom"]["step"], "awaiting_approval", "{seen}");

    let decided = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(decided.status(), 200);
    let booked = service.wait_for_status(&id, "booked").await;
    assert!(booked["outcome"]["booking"]["confirmationCode"].is_string());
    assert_eq!(service.bookings(), 1);

    // Answered from the scheduler's side: the official client raises the approval event by its
    // name, as the scheduler's dashboard would, and the trip is booked.
    // Its events, followed on this store too: from the start to the booking the scheduler's
    // side asked for.
    let (id, _) = service.start_trip(&trip_body(3)).await;
    let mut events = service.events(&id, None).await.ok().unwrap();
    let planned = events
        .until(|e| e.data["progress"]["state"] == "awaiting_approval")
        .await;
    assert_eq!(
        planned[0].data["progress"]["state"], "planning",
        "{planned:?}"
    );
    service.wait_for_status(&id, "awaiting_approval").await;
    scheduler.python(&format!(
        r#"
import os
from durabletask.client import TaskHubGrpcClient
client = TaskHubGrpcClient(host_address=f"localhost:{{os.environ['PORT']}}")
client.raise_orchestration_event("{id}", "ApprovalEvent",
                                 data={{"approved": True, "comments": "approved in the scheduler"}})
"#
    ));
    let rest = events.until(|_| false).await;
    let last = rest.last().unwrap();
    assert_eq!(
        (last.event.as_str(), &last.data["state"]),
        ("finished", &json!("booked")),
        "{rest:?}"
    );
    let booked = service.wait_for_status(&id, "booked").await;
    assert_eq!(
        booked["outcome"]["decision"]["comments"],
        "approved in the scheduler"
    );
    assert_eq!(service.bookings(), 2);

    // Operators delete a finished trip: gone from the scheduler and from the trips.
    let deleted = service
        .request(Method::DELETE, &format!("/api/instances/{id}"))
        .send()
        .await;
    assert_eq!(deleted.status(), 200, "{:?}", deleted.text().await);
    assert_eq!(service.get(&format!("/api/trips/{id}")).await.status(), 404);
    let gone = scheduler.python(&format!(
        r#"
import os
from durabletask.client import TaskHubGrpcClient
client = TaskHubGrpcClient(host_address=f"localhost:{{os.environ['PORT']}}")
print(client.get_orchestration_state("{id}") is None)
"#
    ));
    assert_eq!(gone.trim(), "True");
}

/// The trips index is the service's own (`trips.db`): lost, it is rebuilt from the scheduler.
#[tokio::test]
async fn a_lost_trips_index_is_rebuilt_from_the_scheduler() {
    let scheduler = scheduler::Backend::start();
    let data = tempfile::tempdir().unwrap();
    let setup = || {
        TestService::setup()
            .data_dir(data.path())
            .setting("DURABLE_TASK_ENDPOINT", &scheduler.endpoint())
    };
    let service = setup().in_process().await;
    let (id, token) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    service.wait_for_status(&id, "booked").await;
    service.stop().await;

    std::fs::remove_file(data.path().join("trips.db")).unwrap();
    let service = setup().in_process().await;
    let trip = service.trip(&id).await;
    assert_eq!(trip["status"], "booked", "{trip}");
    service.stop().await;
}

/// The service in-process on a scheduler of its own, with `settings` besides.
async fn on_a_scheduler(scheduler: &scheduler::Backend, settings: &[(&str, &str)]) -> TestService {
    TestService::setup()
        .setting("DURABLE_TASK_ENDPOINT", &scheduler.endpoint())
        .settings(settings)
        .in_process()
        .await
}

/// A trip's other endings on the scheduler: rejected, revised then approved, failed then retried
/// from its last good step and booked.
#[tokio::test]
async fn rejected_revised_and_retried_trips_end_as_on_the_other_stores() {
    let scheduler = scheduler::Backend::start();
    let service = on_a_scheduler(&scheduler, &[]).await;

    let (rejected, token) = service.start_trip(&trip_body(2)).await;
    service
        .wait_for_status(&rejected, "awaiting_approval")
        .await;
    let answer = json!({"approved": false, "comments": "not this year"});
    let decided = service.decide(&rejected, Some(&token), &answer).await;
    assert_eq!(decided.status(), 200);
    let trip = service.wait_for_status(&rejected, "rejected").await;
    assert_eq!(trip["outcome"]["decision"]["comments"], "not this year");

    let (revised, token) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&revised, "awaiting_approval").await;
    let asked = service
        .request(Method::POST, &format!("/api/trips/{revised}/revisions"))
        .bearer_auth(&token)
        .json(&json!({"comments": "More museums, please."}))
        .send()
        .await;
    assert_eq!(asked.status(), 202, "{:?}", asked.text().await);
    service
        .wait_for(&revised, std::time::Duration::from_secs(30), |t| {
            t["status"] == "awaiting_approval" && t["plan"]["revision"] == 2
        })
        .await;
    service
        .decide(&revised, Some(&token), &json!({"approved": true}))
        .await;
    service.wait_for_status(&revised, "booked").await;

    service.demo().inject(travel_demo_model::FaultRule {
        fault: travel_demo_model::Fault::QuotaExceeded,
        agent: Some(travel_agents::AgentName::LocalTips),
        times: 1,
    });
    let (failed, token) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&failed, "failed").await;
    let again = service
        .request(Method::POST, &format!("/api/trips/{failed}/retry"))
        .bearer_auth(&token)
        .send()
        .await;
    assert_eq!(again.status(), 202);
    let retried: serde_json::Value = again.json().await.unwrap();
    let retried = retried["instanceId"].as_str().unwrap().to_owned();
    let waiting = service.wait_for_status(&retried, "awaiting_approval").await;
    assert_eq!(waiting["retryOf"], failed.as_str());
    service
        .decide(&retried, Some(&token), &json!({"approved": true}))
        .await;
    service.wait_for_status(&retried, "booked").await;
    assert_eq!(service.bookings(), 2);
    service.stop().await;
}

/// An unanswered plan expires when its window closes: the scheduler's timer.
#[tokio::test]
async fn an_unanswered_plan_expires_on_the_scheduler_s_timer() {
    let scheduler = scheduler::Backend::start();
    let service = on_a_scheduler(&scheduler, &[("APPROVAL_TIMEOUT_SECS", "2")]).await;
    let (id, _) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    let expired = service.wait_for_status(&id, "expired").await;
    assert!(expired["outcome"]["booking"].is_null(), "{expired}");
    assert_eq!(service.bookings(), 0);
    service.stop().await;
}

/// `kill -9` while two agents' calls are at the model, then again while the plan waits for
/// approval: the work the dead process held goes out again (the Python backend never gives it
/// again by itself), the finished call is not made again, and the trip is booked once. A second
/// process on the same data folder refuses to start.
#[tokio::test]
async fn kill_9_mid_trip_on_the_scheduler_loses_nothing_and_books_once() {
    let scheduler = scheduler::Backend::start();
    let demo = DemoModel::start();
    let data = tempfile::tempdir().unwrap();
    let mut service = TestService::setup()
        .data_dir(data.path())
        .setting("DURABLE_TASK_ENDPOINT", &scheduler.endpoint())
        .demo_model(&demo)
        .binary();
    let (id, token) = killed_during_the_parallel_step(&mut service, &demo).await;
    let planned = demo.counts().await;

    service.kill9();
    service.restart();
    assert_eq!(service.trip(&id).await["status"], "awaiting_approval");
    let decided = service
        .decide(&id, Some(&token), &json!({"approved": true}))
        .await;
    assert_eq!(decided.status(), 200);
    service.wait_for_status(&id, "booked").await;
    assert_eq!(demo.counts().await, planned, "no agent call was made again");
    assert_eq!(service.bookings(), 1);

    // The work a process holds is its own: a second one on the folder would take it over.
    let (status, stderr) = failed_start(
        data.path(),
        &[("DURABLE_TASK_ENDPOINT", scheduler.endpoint().as_str())],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("in use by another travel-planner process"),
        "{stderr}"
    );
}
