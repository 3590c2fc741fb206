//! What the workflow does when the model's provider says no: the workflow is the one place that
//! retries (the client makes one request a try), so a 429's `Retry-After` becomes a durable wait
//! of that length, then another try; a model that keeps failing gets `LLM_MAX_ATTEMPTS` tries
//! within `LLM_CALL_BUDGET_SECS`, no more; running out of quota fails the trip at once (no paid
//! call is repeated for nothing).
//!
//! Its own test binary: the LLM settings are read from the environment at start.

mod support;

use support::wait_until;

use std::time::{Duration, Instant};

use travel_agents::AgentName;
use travel_demo_model::{Fault, FaultRule};
use travel_orchestration::{TripRequest, TripState};
use travel_planner::serve::{self, Running, ServeArgs};

async fn start(data: &std::path::Path) -> Running {
    start_with(ServeArgs::on_data_dir(data)).await
}

async fn start_with(args: ServeArgs) -> Running {
    serve::start(&args, &args.tuning.tuning()).await.unwrap()
}

fn request() -> TripRequest {
    serde_json::from_value(serde_json::json!({
        "travelerName": "Ada",
        "preferences": "old towns",
        "durationDays": 2,
        "budget": {"amount": 1500, "currency": "EUR"}
    }))
    .unwrap()
}

async fn settle(running: &Running, id: &travel_orchestration::TripId) -> TripState {
    wait_until(
        &format!("trip {id} settled"),
        Duration::from_secs(30),
        || async {
            match running.trips.status(id).await.unwrap().status {
                TripState::Planning => Err(TripState::Planning),
                settled => Ok(settled),
            }
        },
    )
    .await
}

fn destination_calls(running: &Running) -> usize {
    let demo = running.demo_model().expect("the demo model");
    demo.requests()
        .iter()
        .filter(|r| r.agent == Some(AgentName::Destination))
        .count()
}

#[tokio::test]
async fn a_retry_after_is_waited_out_durably_tries_do_not_multiply_and_out_of_quota_fails_at_once()
{
    // SAFETY: the only test of this binary; nothing else reads the environment meanwhile.
    unsafe { support::on_the_built_in_demo_model() };
    let data = tempfile::tempdir().unwrap();
    let running = start(data.path()).await;
    let demo = running.demo_model().expect("the demo model");

    // 429 asking for 3 s.
    demo.inject(FaultRule {
        agent: Some(AgentName::Destination),
        ..FaultRule::once(Fault::RateLimited {
            retry_after_secs: 3.0,
        })
    });
    let started = Instant::now();
    let trip = running.trips.start(request()).await.unwrap();
    assert_eq!(
        settle(&running, &trip.instance_id).await,
        TripState::AwaitingApproval
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the workflow waited what the provider asked: {:?}",
        started.elapsed()
    );
    assert_eq!(
        destination_calls(&running),
        2,
        "one refused call, one more try"
    );

    // Out of quota: no retry, the trip fails with the reason.
    demo.inject(FaultRule {
        agent: Some(AgentName::Destination),
        ..FaultRule::once(Fault::QuotaExceeded)
    });
    let before = destination_calls(&running);
    let trip = running.trips.start(request()).await.unwrap();
    assert_eq!(settle(&running, &trip.instance_id).await, TripState::Failed);
    assert_eq!(
        destination_calls(&running),
        before + 1,
        "quota errors are not retried"
    );
    let status = running.trips.status(&trip.instance_id).await.unwrap();
    assert!(status.error.unwrap_or_default().contains("quota"));
    running.engine.shutdown(Duration::from_secs(1)).await;

    // A model that answers 500 every time: each try is one request (none in the client), and
    // the tries stop at the call's budget (2 s here: the first wait is 1 s, the second 2 s
    // would pass it), well before its 4 tries.
    let data = tempfile::tempdir().unwrap();
    let running = start_with(ServeArgs {
        llm_max_attempts: 4,
        llm_call_budget_secs: 2,
        ..ServeArgs::on_data_dir(data.path())
    })
    .await;
    let demo = running.demo_model().expect("the demo model");
    demo.inject(FaultRule {
        agent: Some(AgentName::Destination),
        ..FaultRule::once(Fault::ServerError).times(100)
    });
    let trip = running.trips.start(request()).await.unwrap();
    assert_eq!(settle(&running, &trip.instance_id).await, TripState::Failed);
    assert_eq!(
        destination_calls(&running),
        2,
        "two tries, one request each"
    );
    let error = running
        .trips
        .status(&trip.instance_id)
        .await
        .unwrap()
        .error
        .unwrap_or_default();
    assert!(
        error.contains("(tried 2 times; at most 4 tries and 2 s in all)"),
        "{error}"
    );
    running.engine.shutdown(Duration::from_secs(1)).await;
}
