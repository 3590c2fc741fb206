//! The protocol against an implementation no one on this project wrote: the in-memory backend of
//! PyPI `durabletask` (pinned; `scripts/test` installs it into `.test-tools/durabletask`), each
//! test on a backend of its own (`scripts/durable-task-backend`). A worker and a client made of
//! this crate's calls run an orchestration with an activity, an event and a custom status, and
//! stop one; the backend's answers are what the official SDKs get.

mod backend;

use std::time::Duration;

use backend::Backend;

use travel_durable_task::protocol::{
    ActivityRequest, ActivityResponse, CompleteOrchestrationAction, CreateInstanceRequest,
    GetWorkItemsRequest, HistoryEvent, OrchestrationStatus, OrchestratorAction,
    OrchestratorRequest, OrchestratorResponse, ScheduleTaskAction, history_event,
    orchestrator_action, work_item,
};
use travel_durable_task::{ProtocolError, WorkItems};

/// What the worker is given next, health pings skipped.
async fn next_work(stream: &mut WorkItems) -> Work {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("work within 10 s")
            .expect("the stream stays up");
        let token = item.completion_token;
        match item.request.expect("a work item says what it is") {
            work_item::Request::OrchestratorRequest(turn) => return Work::Turn(turn, token),
            work_item::Request::ActivityRequest(activity) => {
                return Work::Activity(activity, token);
            }
            work_item::Request::HealthPing(_) => continue,
        }
    }
}

enum Work {
    Turn(OrchestratorRequest, String),
    Activity(ActivityRequest, String),
}

impl Work {
    fn turn(self) -> (OrchestratorRequest, String) {
        match self {
            Self::Turn(turn, token) => (turn, token),
            Self::Activity(activity, _) => panic!("an activity, not a turn: {activity:?}"),
        }
    }

    fn activity(self) -> (ActivityRequest, String) {
        match self {
            Self::Activity(activity, token) => (activity, token),
            Self::Turn(turn, _) => panic!("a turn, not an activity: {turn:?}"),
        }
    }
}

fn kinds(events: &[HistoryEvent]) -> Vec<&'static str> {
    events
        .iter()
        .filter_map(|e| e.event_type.as_ref())
        .map(|kind| match kind {
            history_event::EventType::ExecutionStarted(_) => "executionStarted",
            history_event::EventType::ExecutionCompleted(_) => "executionCompleted",
            history_event::EventType::ExecutionTerminated(_) => "executionTerminated",
            history_event::EventType::TaskScheduled(_) => "taskScheduled",
            history_event::EventType::TaskCompleted(_) => "taskCompleted",
            history_event::EventType::EventRaised(_) => "eventRaised",
            history_event::EventType::OrchestratorStarted(_) => "orchestratorStarted",
            history_event::EventType::OrchestratorCompleted(_) => "orchestratorCompleted",
            _ => "other",
        })
        .collect()
}

fn finish(
    instance_id: &str,
    token: String,
    status: OrchestrationStatus,
    result: &str,
) -> OrchestratorResponse {
    OrchestratorResponse {
        instance_id: instance_id.to_owned(),
        completion_token: token,
        actions: vec![OrchestratorAction {
            id: 2,
            orchestrator_action_type: Some(
                orchestrator_action::OrchestratorActionType::CompleteOrchestration(
                    CompleteOrchestrationAction {
                        orchestration_status: status as i32,
                        result: Some(result.to_owned()),
                        ..Default::default()
                    },
                ),
            ),
        }],
        custom_status: Some(r#""planned""#.to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_worker_runs_an_instance_with_an_activity_and_an_event_and_the_client_sees_it_end() {
    let backend = Backend::start();
    let scheduler = backend.connect();
    scheduler.hello().await.unwrap();
    let mut work = scheduler.work_items(GetWorkItemsRequest::default(), 16);

    let start = CreateInstanceRequest {
        instance_id: "trip-0001".into(),
        name: "PlanTrip".into(),
        version: Some("5.0.0".into()),
        input: Some(r#"{"travelerName":"Ada"}"#.into()),
        ..Default::default()
    };
    assert_eq!(scheduler.start(start.clone()).await.unwrap(), "trip-0001");
    assert!(matches!(
        scheduler.start(start).await,
        Err(ProtocolError::AlreadyExists(id)) if id == "trip-0001"
    ));

    // The first turn: the start, with the input; it schedules one activity and reports progress.
    let (turn, token) = next_work(&mut work).await.turn();
    assert_eq!(turn.instance_id, "trip-0001");
    assert!(turn.past_events.is_empty());
    let started = turn
        .new_events
        .iter()
        .find_map(|e| match &e.event_type {
            Some(history_event::EventType::ExecutionStarted(started)) => Some(started),
            _ => None,
        })
        .expect("the start is in the first turn");
    assert_eq!(started.name, "PlanTrip");
    assert_eq!(started.input.as_deref(), Some(r#"{"travelerName":"Ada"}"#));
    scheduler
        .complete_turn(OrchestratorResponse {
            instance_id: turn.instance_id.clone(),
            completion_token: token,
            actions: vec![OrchestratorAction {
                id: 1,
                orchestrator_action_type: Some(
                    orchestrator_action::OrchestratorActionType::ScheduleTask(ScheduleTaskAction {
                        name: "RunDestinationAgent".into(),
                        input: Some(r#"{"days":3}"#.into()),
                        ..Default::default()
                    }),
                ),
            }],
            custom_status: Some(r#""planning""#.into()),
            ..Default::default()
        })
        .await
        .unwrap();

    // The activity, as scheduled; an event arrives while it runs, and wakes the instance.
    let (activity, activity_token) = next_work(&mut work).await.activity();
    assert_eq!(activity.name, "RunDestinationAgent");
    assert_eq!(activity.input.as_deref(), Some(r#"{"days":3}"#));
    assert_eq!(activity.task_id, 1);
    assert_eq!(
        activity.orchestration_instance.unwrap().instance_id,
        "trip-0001"
    );
    let shown = scheduler
        .instance("trip-0001", true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        shown.orchestration_status,
        OrchestrationStatus::Running as i32
    );
    assert_eq!(shown.custom_status.as_deref(), Some(r#""planning""#));
    scheduler
        .raise_event("trip-0001", "Approval", Some("true".into()))
        .await
        .unwrap();
    let (turn, token) = next_work(&mut work).await.turn();
    assert_eq!(
        kinds(&turn.new_events),
        ["orchestratorStarted", "eventRaised"]
    );
    scheduler
        .complete_turn(OrchestratorResponse {
            instance_id: turn.instance_id.clone(),
            completion_token: token,
            custom_status: Some(r#""planning""#.into()),
            ..Default::default()
        })
        .await
        .unwrap();

    // The activity's result comes back in a turn of its own, which ends the instance.
    scheduler
        .complete_activity(ActivityResponse {
            instance_id: "trip-0001".into(),
            task_id: 1,
            result: Some(r#"{"destination":"Lisbon"}"#.into()),
            completion_token: activity_token,
            ..Default::default()
        })
        .await
        .unwrap();
    let (turn, token) = next_work(&mut work).await.turn();
    assert_eq!(
        kinds(&turn.new_events),
        ["orchestratorStarted", "taskCompleted"]
    );
    scheduler
        .complete_turn(finish(
            "trip-0001",
            token,
            OrchestrationStatus::Completed,
            r#"{"booked":true}"#,
        ))
        .await
        .unwrap();

    let ended = scheduler
        .wait_for_completion("trip-0001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ended.orchestration_status,
        OrchestrationStatus::Completed as i32
    );
    assert_eq!(ended.output.as_deref(), Some(r#"{"booked":true}"#));
    assert_eq!(ended.custom_status.as_deref(), Some(r#""planned""#));
    assert_eq!(ended.name, "PlanTrip");
    let history = kinds(&scheduler.history("trip-0001").await.unwrap());
    for kind in [
        "executionStarted",
        "taskScheduled",
        "eventRaised",
        "taskCompleted",
        "executionCompleted",
    ] {
        assert!(history.contains(&kind), "{kind} in {history:?}");
    }

    assert_eq!(scheduler.purge("trip-0001").await.unwrap(), 1);
    assert!(
        scheduler
            .instance("trip-0001", false)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn terminating_reaches_the_worker_and_an_unknown_instance_is_not_found() {
    let backend = Backend::start();
    let scheduler = backend.connect();
    assert!(
        scheduler
            .instance("trip-nobody", true)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        scheduler.raise_event("trip-nobody", "Approval", None).await,
        Err(ProtocolError::NotFound(id)) if id == "trip-nobody"
    ));

    let mut work = scheduler.work_items(GetWorkItemsRequest::default(), 16);
    scheduler
        .start(CreateInstanceRequest {
            instance_id: "trip-0002".into(),
            name: "PlanTrip".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let (turn, token) = next_work(&mut work).await.turn();
    scheduler
        .complete_turn(OrchestratorResponse {
            instance_id: turn.instance_id,
            completion_token: token,
            ..Default::default()
        })
        .await
        .unwrap();

    // Waited for while it still runs: the call is held until the end.
    let waiting = tokio::spawn({
        let scheduler = scheduler.clone();
        async move { scheduler.wait_for_completion("trip-0002").await }
    });
    // A terminate is a request to the worker, which ends the instance.
    scheduler
        .terminate("trip-0002", "stopped by an operator")
        .await
        .unwrap();
    let (turn, token) = next_work(&mut work).await.turn();
    let reason = turn
        .new_events
        .iter()
        .find_map(|e| match &e.event_type {
            Some(history_event::EventType::ExecutionTerminated(t)) => t.input.clone(),
            _ => None,
        })
        .expect("the worker is told");
    assert_eq!(reason, "stopped by an operator");
    scheduler
        .complete_turn(finish(
            "trip-0002",
            token,
            OrchestrationStatus::Terminated,
            &reason,
        ))
        .await
        .unwrap();
    let ended = waiting.await.unwrap().unwrap().unwrap();
    assert_eq!(
        ended.orchestration_status,
        OrchestrationStatus::Terminated as i32
    );
}
