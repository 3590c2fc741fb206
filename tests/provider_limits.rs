//! What the workflow does when the model's provider says no: a 429 whose `Retry-After` is longer
//! than the client waits becomes a durable wait of that length, then another try; running out of
//! quota fails the trip at once (no paid call is repeated for nothing).
//!
//! Its own test binary: the client's cap on `Retry-After` is read from the environment at start.

use std::time::{Duration, Instant};

use travel_agents::AgentName;
use travel_demo_model::{Fault, FaultRule};
use travel_orchestration::{TripRequest, TripState};
use travel_planner::serve::{self, Running, ServeArgs};

async fn start(data: &std::path::Path) -> Running {
    let args = ServeArgs::on_data_dir(data);
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

async fn settle(running: &Running, id: &str) -> TripState {
    for _ in 0..1000 {
        let status = running.trips.status(id).await.unwrap();
        if status.status != TripState::Planning {
            return status.status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("trip {id} is still planning");
}

fn destination_calls(running: &Running) -> usize {
    let demo = running.demo_model().expect("the demo model");
    demo.requests()
        .iter()
        .filter(|r| r.agent == Some(AgentName::Destination))
        .count()
}

#[tokio::test]
async fn a_long_retry_after_is_waited_out_durably_and_out_of_quota_fails_at_once() {
    // SAFETY: the only test of this binary; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("LLM_RETRY_AFTER_CAP_SECS", "1");
        for name in [
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "AZURE_OPENAI_ENDPOINT",
            "DEMO_MODEL_URL",
        ] {
            std::env::remove_var(name);
        }
    }
    let data = tempfile::tempdir().unwrap();
    let running = start(data.path()).await;
    let demo = running.demo_model().expect("the demo model");

    // 429 asking for 3 s, more than the 1 s the client waits by itself.
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
}
