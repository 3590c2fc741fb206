//! Trips wait for days, so a trip started by an earlier revision of the workflow must finish on
//! this one with its own steps, and new trips run the current revision.
//!
//! The fixtures are in `fixtures/workflow-revisions/`. `revision-1/` holds a store written by the
//! release before revisions (commit 37b0bf8): one trip parked at the approval wait.
//! `revision-2/` holds one written by revision 2 (commit 577efe7), whose itinerary agent failed once and was tried again (no
//! progress report for the retry: revision 3 added those). `revision-3/` holds one
//! written by revision 3 (commit 26e9b0c): a trip parked, and one rejected, in the tables of
//! that release (`trip_decisions`, `agent_usage`), which today's code moves forward.
//! `revision-4/` holds one written by revision 4 (commit 8558e06) before each revision
//! had an engine version of its own: a trip revised once, parked at the approval of its second
//! plan, recorded at the engine's version 1.0.0. The tests approve the parked trips on today's
//! code.
//!
//! Revision 3's fixture was recorded with a hundred-year approval window; the others with a week,
//! which made them expire under the tests a week after recording. On 2026-12-07 their windows were
//! moved a hundred years ahead: the trip's input (`approvalTimeoutSecs`), its timer, its progress
//! and the trips index, each by the same amount, as if recorded with
//! `APPROVAL_TIMEOUT_SECS=3155760000`. `parked_by_revision` checks that no fixture's window closes.

use std::time::Duration;

use duroxide::EventKind;
use serde_json::json;
use travel_orchestration::workflow::{FIRST_VERSION, ORCHESTRATION, WORKFLOW_VERSION};
use travel_orchestration::{
    ApprovalDecision, ChangeRequest, EngineTuning, Store, StoreLocation, TripError, TripId,
    TripState, Trips,
};

mod support;
use support::{TestService, wait_until};

/// The service in-process, on a fresh data folder.
async fn service() -> TestService {
    TestService::setup().in_process().await
}

/// The service in-process on `data` (its `workflows.db` and `plans/`, if any, are used).
async fn service_on(data: tempfile::TempDir) -> TestService {
    TestService::setup().data_folder(data).in_process().await
}

/// Waits for `state`, final or not.
async fn wait_for_state(trips: &Trips, id: &TripId, state: TripState) {
    wait_until(
        &format!("{id} {state}"),
        Duration::from_secs(30),
        || async {
            match trips.status(id).await {
                Ok(status) if status.status == state => Ok(()),
                seen => Err(seen),
            }
        },
    )
    .await
}

/// Waits for `state`; the trip ending in another state fails the test at once.
async fn wait_for(trips: &Trips, id: &TripId, state: TripState) {
    wait_until(
        &format!("{id} {state}"),
        Duration::from_secs(30),
        || async {
            match trips.status(id).await {
                Ok(status) if status.status == state => Ok(()),
                Ok(status) if status.status.is_final() => panic!("{id} ended {status:?}"),
                seen => Err(seen),
            }
        },
    )
    .await
}

/// The activities the trip's history scheduled, in order.
async fn steps(trips: &Trips, id: &TripId) -> Vec<String> {
    let history = trips.client().read_execution_history(id, 1).await.unwrap();
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActivityScheduled { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// The engine version the trip's history was started on.
async fn version(trips: &Trips, id: &TripId) -> String {
    let history = trips.client().read_execution_history(id, 1).await.unwrap();
    match &history[0].kind {
        EventKind::OrchestrationStarted { version, .. } => version.clone(),
        other => panic!("{id} starts with {other:?}"),
    }
}

/// The steps of a booked trip of revision 1, in order, by the names recorded in its history
/// (written out: an activity renamed in `workflow::boundary` fails here, and in the replays).
const REVISION_1_STEPS: [&str; 7] = [
    "RunDestinationAgent",
    "RunItineraryAgent",
    "RunLocalTipsAgent",
    "__duroxide_syscall:utc_now_ms",
    "SavePlan",
    "RequestApproval",
    "BookTrip",
];

/// The steps of a trip of revision 5 (today's) revised once, up to the approval of its second
/// plan: the packing agent plans beside the itinerary and tips agents, each time.
const REVISED_ONCE_TODAY: [&str; 9] = [
    "RunDestinationAgent",
    "RunItineraryAgent",
    "RunLocalTipsAgent",
    "RunPackingAgent",
    "SaveNewPlan",
    "RunItineraryAgent",
    "RunLocalTipsAgent",
    "RunPackingAgent",
    "SaveNewPlan",
];

/// The steps of a trip of revision 4 revised once, up to the approval of its second plan.
const REVISED_ONCE: [&str; 7] = [
    "RunDestinationAgent",
    "RunItineraryAgent",
    "RunLocalTipsAgent",
    "SaveNewPlan",
    "RunItineraryAgent",
    "RunLocalTipsAgent",
    "SaveNewPlan",
];

/// The trip in `fixtures/revision-1/` and its approval token.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParkedTrip {
    instance_id: TripId,
    approval_token: String,
}

/// The service on a copy of a fixture's store, and the trip parked in it.
async fn service_on_fixture(name: &str) -> (TestService, ParkedTrip) {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/workflow-revisions")
        .join(name);
    let parked: ParkedTrip =
        serde_json::from_slice(&std::fs::read(fixture.join("trip.json")).unwrap()).unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture.join("workflows.db"),
        data.path().join("workflows.db"),
    )
    .unwrap();
    (service_on(data).await, parked)
}

/// The service on a copy of `fixtures/workflow-revisions/revision-N/`, its trip replayed by
/// today's code to the approval wait, with the revision it recorded.
async fn parked_by_revision(revision: u32) -> (TestService, ParkedTrip) {
    let (service, parked) = service_on_fixture(&format!("revision-{revision}")).await;
    let (trips, id) = (service.trips(), &parked.instance_id);
    wait_for(trips, id, TripState::AwaitingApproval).await;
    assert_eq!(trips.input(id).await.unwrap().workflow_revision, revision);
    // A fixture is replayed on whatever day the tests run: its approval window must not close.
    let status = trips.status(id).await.unwrap();
    let closes = status.progress.unwrap().approval.unwrap().expires_at;
    assert!(
        closes > chrono::Utc::now() + chrono::Days::new(50 * 365),
        "revision {revision}'s fixture stops waiting for approval on {closes}: record fixtures with APPROVAL_TIMEOUT_SECS=3155760000 (a hundred years)"
    );
    (service, parked)
}

async fn approve(trips: &Trips, parked: &ParkedTrip) {
    trips
        .decide(
            &parked.instance_id,
            Some(&parked.approval_token),
            ApprovalDecision::new(true, Some("approved after the upgrade".into())),
        )
        .await
        .unwrap();
}

/// Starts a trip of today's revision and waits for it to reach the approval wait.
async fn plan_a_trip(trips: &Trips, preferences: &str) -> TripId {
    let started = trips
        .start(
            serde_json::from_value(json!({
                "travelerName": "Grace",
                "preferences": preferences,
                "durationDays": 2,
                "budget": {"amount": 2000.0, "currency": "EUR"},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    wait_for(trips, &started.instance_id, TripState::AwaitingApproval).await;
    started.instance_id
}

/// The progress reports of a trip's history that say a step is being retried.
async fn retry_reports(trips: &Trips, id: &TripId) -> Vec<String> {
    let history = trips.client().read_execution_history(id, 1).await.unwrap();
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CustomStatusUpdated { status: Some(s) } => {
                let progress: serde_json::Value = serde_json::from_str(s).unwrap();
                progress["retrying"].as_str().map(str::to_owned)
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_trip_parked_by_revision_2_after_a_retry_is_booked_by_this_one() {
    let (service, parked) = parked_by_revision(2).await;
    let trips = service.trips();
    let id = &parked.instance_id;
    approve(trips, &parked).await;
    wait_for(trips, id, TripState::Booked).await;
    assert_eq!(
        steps(trips, id).await,
        [
            "RunDestinationAgent",
            "RunItineraryAgent",
            "RunLocalTipsAgent",
            "RunItineraryAgent",
            "SaveNewPlan",
            "BookTrip",
        ]
    );
    assert!(retry_reports(trips, id).await.is_empty());
    service.stop().await;
}

#[tokio::test]
async fn a_retried_step_says_so_in_the_progress_then_clears_it() {
    let service = service().await;
    // One failed request: the client does not retry, so the activity fails once.
    service.demo().inject(travel_demo_model::FaultRule {
        fault: travel_demo_model::Fault::ServerError,
        agent: Some(travel_agents::AgentName::Itinerary),
        times: 1,
    });
    let trips = service.trips();
    let id = &plan_a_trip(trips, "museums").await;
    assert_eq!(
        retry_reports(trips, id).await,
        [
            "The itinerary agent did not get an answer from the AI service; trying again (attempt 2 of 4)"
        ]
    );
    let now = trips.status(id).await.unwrap().progress.unwrap();
    assert_eq!(now.retrying, None, "cleared once the step went through");
    service.stop().await;
}

#[tokio::test]
async fn a_trip_parked_by_the_release_before_revisions_is_booked_by_this_one() {
    let (service, parked) = parked_by_revision(1).await;
    let trips = service.trips();
    let id = &parked.instance_id;
    approve(trips, &parked).await;
    wait_for(trips, id, TripState::Booked).await;
    assert_eq!(steps(trips, id).await, REVISION_1_STEPS);
    // Its agents' messages are in its history, as that release kept them.
    let thread = trips
        .agent_thread(id, travel_agents::AgentName::Itinerary)
        .await
        .unwrap();
    assert!(thread.messages.len() >= 3);
    service.stop().await;
}

#[tokio::test]
async fn a_trip_started_before_revisions_finishes_with_its_own_steps() {
    let service = service().await;
    let trips = service.trips();
    let token = "a-token-from-an-earlier-release";
    // The input exactly as the first revision wrote it: no revision, no announcement flag.
    let input = json!({
        "request": {
            "travelerName": "Ada",
            "preferences": "temples and food",
            "durationDays": 3,
            "budget": {"amount": 2500.0, "currency": "USD"},
        },
        "approvalTokenSha256": travel_platform::secret::sha256_hex(token),
        "approvalTimeoutSecs": 3600,
        "retries": travel_orchestration::workflow::RetrySettings::default(),
    });
    let id = &TripId::parse("trip-from-revision-one").unwrap();
    // Those releases started every trip on the engine's first version.
    trips
        .client()
        .start_orchestration_versioned(id.as_str(), ORCHESTRATION, FIRST_VERSION, input.to_string())
        .await
        .unwrap();
    wait_for(trips, id, TripState::AwaitingApproval).await;
    trips
        .decide(id, Some(token), ApprovalDecision::new(true, None))
        .await
        .unwrap();
    wait_for(trips, id, TripState::Booked).await;
    let steps = steps(trips, id).await;
    assert_eq!(steps, REVISION_1_STEPS);
    let plan = trips.plan(id).await.unwrap();
    assert!(plan.created_at.timestamp() > 0, "stamped by the workflow");
    service.stop().await;
}

#[tokio::test]
async fn new_trips_stamp_the_plan_as_it_is_saved_and_skip_an_announcement_nobody_receives() {
    let service = service().await;
    let trips = service.trips();
    let id = &plan_a_trip(trips, "quiet beaches, seafood").await;
    let input = trips.input(id).await.unwrap();
    assert_eq!(
        input.workflow_revision,
        travel_orchestration::workflow::WORKFLOW_REVISION
    );
    assert_eq!(version(trips, id).await, WORKFLOW_VERSION);
    assert_eq!(
        steps(trips, id).await,
        [
            "RunDestinationAgent",
            "RunItineraryAgent",
            "RunLocalTipsAgent",
            "RunPackingAgent",
            "SaveNewPlan",
        ]
    );
    let plan = trips.plan(id).await.unwrap();
    let packing = plan
        .packing
        .as_ref()
        .expect("revision 5's plans carry a packing list");
    assert!(packing.problems().is_empty(), "{packing:?}");
    let status = trips.status(id).await.unwrap();
    let window = status.progress.unwrap().approval.unwrap();
    assert_eq!(
        window.requested_at, plan.created_at,
        "the window opens at the save"
    );
    assert!(plan.created_at.timestamp() > 0);
    // The timeline's approval row runs from the start of the wait.
    let timeline = trips.timeline(id).await.unwrap();
    let approval = timeline.iter().find(|r| r.key == "approval").unwrap();
    assert_eq!(approval.state, travel_orchestration::RowState::Running);
    service.stop().await;
}

#[tokio::test]
async fn a_trip_parked_by_revision_3_is_booked_by_this_one_and_its_tables_move_forward() {
    let (service, parked) = parked_by_revision(3).await;
    let trips = service.trips();
    let id = &parked.instance_id;
    // Its tokens moved to the table kept per revision.
    let costs = trips.costs(id).await.unwrap();
    assert_eq!(costs.agents.len(), 3, "{costs:?}");
    assert!(
        costs
            .agents
            .iter()
            .all(|a| a.revision == 1 && a.tokens.total_tokens > 0)
    );
    // Revisions cannot be asked of a trip whose workflow has none.
    let changes = ChangeRequest {
        comments: Some("more museums".into()),
        ..Default::default()
    };
    let refused = trips
        .revise(id, Some(&parked.approval_token), changes)
        .await;
    assert!(
        matches!(refused, Err(TripError::RevisionsUnsupported)),
        "{refused:?}"
    );
    approve(trips, &parked).await;
    wait_for(trips, id, TripState::Booked).await;
    assert_eq!(
        steps(trips, id).await,
        [
            "RunDestinationAgent",
            "RunItineraryAgent",
            "RunLocalTipsAgent",
            "SaveNewPlan",
            "BookTrip",
        ]
    );
    let booked = trips.status(id).await.unwrap();
    let decision = booked.outcome.unwrap().decision.unwrap();
    assert_eq!(
        (decision.revision, decision.decided_by.as_deref()),
        (Some(1), Some("requester"))
    );

    // The rejected trip's decision moved to the answers ledger: the same answer again is
    // answered as before, another one is a conflict.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/workflow-revisions/revision-3");
    let rejected: ParkedTrip =
        serde_json::from_slice(&std::fs::read(fixture.join("rejected.json")).unwrap()).unwrap();
    let rejected_id = &rejected.instance_id;
    let token = Some(rejected.approval_token.as_str());
    let again = trips
        .decide(rejected_id, token, ApprovalDecision::new(false, None))
        .await
        .unwrap();
    assert_eq!(again.status, TripState::Rejected);
    let other = trips
        .decide(rejected_id, token, ApprovalDecision::new(true, None))
        .await;
    assert!(
        matches!(other, Err(TripError::AlreadyDecided(_))),
        "{other:?}"
    );
    let trail = trips.answers(rejected_id).await.unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    service.stop().await;
}

#[tokio::test]
async fn a_trip_revised_by_revision_4_before_it_had_a_version_of_its_own_is_booked_by_this_one() {
    let (service, parked) = parked_by_revision(4).await;
    let trips = service.trips();
    let id = &parked.instance_id;
    assert_eq!(version(trips, id).await, FIRST_VERSION);
    let status = trips.status(id).await.unwrap();
    let progress = status.progress.unwrap();
    assert_eq!(
        progress.plan.unwrap().revision,
        2,
        "the revised plan awaits"
    );
    assert_eq!(progress.revisions.len(), 2);
    approve(trips, &parked).await;
    wait_for(trips, id, TripState::Booked).await;
    assert_eq!(
        steps(trips, id).await,
        [&REVISED_ONCE[..], &["BookTrip"]].concat()
    );
    let booked = trips.status(id).await.unwrap().outcome.unwrap();
    assert_eq!(booked.plan.revision, 2);
    service.stop().await;
}

/// Requests the demo model got from `agent` (among the last 100 it keeps).
#[tokio::test]
async fn a_revision_plans_only_what_changed_and_a_retry_of_a_revised_trip_reuses_the_first_plan() {
    use travel_agents::AgentName::{Destination, Itinerary};
    let service = service().await;
    let trips = service.trips();
    let started = trips
        .start(
            serde_json::from_value(json!({
                "travelerName": "Grace",
                "preferences": "old towns",
                "durationDays": 2,
                "budget": {"amount": 2000.0, "currency": "EUR"},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let (id, token) = (&started.instance_id, Some(started.approval_token.as_str()));
    wait_for(trips, id, TripState::AwaitingApproval).await;
    let first = trips.plan(id).await.unwrap();
    let destinations = service.asked(Destination);

    // Another destination and comments: the itinerary and tips agents only.
    let changes = ChangeRequest {
        comments: Some("A slower pace".into()),
        destination: Some(2),
        ..Default::default()
    };
    assert!(matches!(
        trips.revise(id, None, changes.clone()).await,
        Err(TripError::MissingToken)
    ));
    trips.revise(id, token, changes).await.unwrap();
    let second = wait_until("a second revision", Duration::from_secs(30), || async {
        let status = trips.status(id).await.unwrap();
        let plan = status.progress.as_ref().and_then(|p| p.plan.as_ref());
        if status.status == TripState::AwaitingApproval && plan.is_some_and(|p| p.revision == 2) {
            Ok(trips.plan(id).await.unwrap())
        } else {
            Err(status)
        }
    })
    .await;
    assert_eq!(second.destination, first.recommendations.destinations[2]);
    // The timeline shows the revision's steps, and the new wait running.
    let timeline = trips.timeline(id).await.unwrap();
    let state = |key: &str| timeline.iter().find(|r| r.key == key).unwrap().state;
    assert_eq!(state("approval"), travel_orchestration::RowState::Running);
    assert_eq!(state("itinerary"), travel_orchestration::RowState::Done);
    let itinerary = timeline.iter().find(|r| r.key == "itinerary").unwrap();
    assert_eq!(itinerary.attempts, 1, "this revision's call only");
    assert!(itinerary.started_at.unwrap() >= first.created_at);
    assert_eq!(second.recommendations, first.recommendations);
    assert_eq!(
        second.changes.as_ref().unwrap().comments.as_deref(),
        Some("A slower pace")
    );
    assert_eq!(service.asked(Destination), destinations);
    assert_eq!(steps(trips, id).await, REVISED_ONCE_TODAY);

    // The next revision's itinerary agent refuses: the trip fails. Its retry reuses the first
    // plan's answers (not the revision's), so no agent is asked again.
    service.demo().inject(travel_demo_model::FaultRule {
        fault: travel_demo_model::Fault::Refusal,
        agent: Some(Itinerary),
        times: 1,
    });
    let more = ChangeRequest {
        comments: Some("Even slower".into()),
        ..Default::default()
    };
    trips.revise(id, token, more).await.unwrap();
    wait_for_state(trips, id, TripState::Failed).await;
    let itineraries = service.asked(Itinerary);
    let retry = trips.retry(id, token).await.unwrap();
    wait_for(trips, &retry.instance_id, TripState::AwaitingApproval).await;
    let retried = trips.plan(&retry.instance_id).await.unwrap();
    assert_eq!(retried.destination, first.destination);
    assert_eq!(retried.itinerary, first.itinerary);
    assert!(retried.changes.is_none());
    assert_eq!(service.asked(Itinerary), itineraries, "nothing asked again");
    service.stop().await;
}

#[tokio::test]
async fn the_tables_of_revision_3_move_forward_on_postgresql_too() {
    use travel_orchestration::trip_index::Db;
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("release3_{}", fastrand::u64(..));
    let location = StoreLocation::Postgres(travel_orchestration::PostgresSettings {
        url: url.clone(),
        schema: schema.clone(),
        entra: false,
    });
    let tuning = EngineTuning::default();
    let store = Store::open(&location, &tuning).await.unwrap();
    let Db::Postgres(pool, _) = store.index.db().clone() else {
        unreachable!()
    };
    // The two tables as release 3 made them, with a row each.
    for sql in [
        format!(
            "CREATE TABLE {schema}.trip_decisions (id TEXT PRIMARY KEY, approved BOOLEAN NOT NULL, comments TEXT, decided_ms BIGINT NOT NULL, delivered_ms BIGINT)"
        ),
        format!(
            "INSERT INTO {schema}.trip_decisions VALUES ('trip-old', false, 'Not this year', 1, 2)"
        ),
        format!(
            "CREATE TABLE {schema}.agent_usage (id TEXT NOT NULL, agent TEXT NOT NULL, model TEXT NOT NULL, demo BOOLEAN NOT NULL, prompt_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, PRIMARY KEY (id, agent))"
        ),
        format!(
            "INSERT INTO {schema}.agent_usage VALUES ('trip-old', 'itinerary', 'gpt-4o-mini', false, 1200, 100, 300)"
        ),
    ] {
        sqlx::query(&sql).execute(&pool).await.unwrap();
    }
    drop(store);

    let store = Store::open(&location, &tuning).await.unwrap();
    let answer = store.index.answer("trip-old", 1).await.unwrap();
    let mut expected = ApprovalDecision::new(false, Some("Not this year".into()));
    expected.revision = Some(1);
    assert_eq!(
        answer,
        Some(travel_orchestration::ReviewAnswer::Decision(expected))
    );
    let usage = store.index.usage_of(&["trip-old".into()]).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (usage[0].2.revision, usage[0].2.usage.prompt_tokens),
        (1, 1200)
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_tables WHERE schemaname = $1 AND tablename IN ('trip_decisions', 'agent_usage')",
    )
    .bind(&schema)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 0, "the old tables are gone");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
}
