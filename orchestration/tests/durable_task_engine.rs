//! duroxide's runtime on the Durable Task protocol (`engine::durable_task::provider`), against
//! PyPI `durabletask`'s in-memory backend: an orchestration shaped like a trip (a progress
//! report, an activity, a wait for an approval raced by a timer) runs to its end, duroxide's
//! client and the scheduler's own view agree on it, a stop reaches it as a cancellation, and the
//! official Python client sees it and can answer it. duroxide's stress test, and the cases of its
//! conformance suite that apply to a store on the protocol (`conformance/durable_task_cases.rs`).

#[path = "../../durable-task/tests/backend/mod.rs"]
mod backend;
#[path = "conformance/stress.rs"]
mod stress;

use std::sync::Arc;
use std::time::Duration;

use backend::Backend;
use duroxide::runtime::registry::ActivityRegistry;
use duroxide::runtime::{self, OrchestrationStatus};
use duroxide::{ActivityContext, Client, Either2, OrchestrationContext, OrchestrationRegistry};
use travel_durable_task::protocol::OrchestrationStatus as SchedulerStatus;
use travel_durable_task::protocol::history_event::EventType;
use travel_orchestration::engine::durable_task::provider::DurableTaskProvider;

fn registries() -> (ActivityRegistry, OrchestrationRegistry) {
    let activities = ActivityRegistry::builder()
        .register("Greet", |_ctx: ActivityContext, name: String| async move {
            Ok(format!("hello {name}"))
        })
        .build();
    let orchestrations = OrchestrationRegistry::builder()
        .register(
            "Trip",
            |ctx: OrchestrationContext, input: String| async move {
                ctx.set_custom_status("planning");
                let greeting = ctx.schedule_activity("Greet", input).await?;
                ctx.set_custom_status("awaiting approval");
                let window = ctx.schedule_timer(Duration::from_secs(60));
                let approval = ctx.dequeue_event("Approval");
                match ctx.select2(window, approval).await {
                    Either2::First(()) => Ok("expired".to_owned()),
                    Either2::Second(answer) => Ok(format!("{greeting}; {answer}")),
                }
            },
        )
        .build();
    (activities, orchestrations)
}

/// Waits until duroxide's client sees the instance report `status`.
async fn wait_for_custom_status(client: &Client, instance: &str, status: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = client.get_orchestration_status(instance).await.unwrap();
        if let OrchestrationStatus::Running { custom_status, .. } = &now
            && custom_status.as_deref() == Some(status)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{instance} never said {status}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestration_runs_on_the_scheduler_and_both_sides_see_how_it_ended() {
    let backend = Backend::start();
    let provider = DurableTaskProvider::start(backend.connect());
    let (activities, orchestrations) = registries();
    let runtime =
        runtime::Runtime::start_with_store(provider.clone(), activities, orchestrations).await;
    let client = Client::new(provider.clone() as Arc<dyn duroxide::providers::Provider>);

    client
        .start_orchestration("trip-1", "Trip", "Ada")
        .await
        .unwrap();
    wait_for_custom_status(&client, "trip-1", "awaiting approval").await;
    client
        .enqueue_event("trip-1", "Approval", "approved")
        .await
        .unwrap();
    let ended = client
        .wait_for_orchestration("trip-1", Duration::from_secs(20))
        .await
        .unwrap();
    let OrchestrationStatus::Completed {
        output,
        custom_status,
        ..
    } = ended
    else {
        panic!("{ended:?}")
    };
    assert_eq!(output, "hello Ada; approved");
    assert_eq!(custom_status.as_deref(), Some("awaiting approval"));

    // The scheduler's own view, as its dashboard shows it.
    let seen = backend
        .connect()
        .wait_for_completion("trip-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.orchestration_status, SchedulerStatus::Completed as i32);
    assert_eq!(seen.output.as_deref(), Some("hello Ada; approved"));
    assert_eq!(seen.custom_status.as_deref(), Some("awaiting approval"));
    assert_eq!(seen.name, "Trip");

    // Stopped while it waits: duroxide's cancellation, and a failed instance on the scheduler.
    client
        .start_orchestration("trip-2", "Trip", "Grace")
        .await
        .unwrap();
    wait_for_custom_status(&client, "trip-2", "awaiting approval").await;
    client
        .cancel_instance("trip-2", "stopped by an operator")
        .await
        .unwrap();
    let ended = client
        .wait_for_orchestration("trip-2", Duration::from_secs(20))
        .await
        .unwrap();
    assert!(
        matches!(&ended, OrchestrationStatus::Failed { details, .. } if details.display_message().contains("stopped by an operator")),
        "{ended:?}"
    );
    let seen = backend
        .connect()
        .wait_for_completion("trip-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.orchestration_status, SchedulerStatus::Failed as i32);

    // The official SDK's client sees the waiting instance as its users would, and answers it
    // by raising the event by its name, as the scheduler's dashboard does.
    client
        .start_orchestration("trip-3", "Trip", "Lin")
        .await
        .unwrap();
    wait_for_custom_status(&client, "trip-3", "awaiting approval").await;
    let seen = backend.python(
        r#"
import json, os
from durabletask.client import TaskHubGrpcClient
client = TaskHubGrpcClient(host_address=f"localhost:{os.environ['PORT']}")
state = client.get_orchestration_state("trip-3")
print(json.dumps({"name": state.name, "status": state.runtime_status.name,
                  "input": state.serialized_input, "custom": state.serialized_custom_status}))
client.raise_orchestration_event("trip-3", "Approval", data="approved from Python")
"#,
    );
    let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(
        seen,
        serde_json::json!({"name": "Trip", "status": "RUNNING", "input": "Lin", "custom": "awaiting approval"})
    );
    let ended = client
        .wait_for_orchestration("trip-3", Duration::from_secs(20))
        .await
        .unwrap();
    assert!(
        matches!(&ended, OrchestrationStatus::Completed { output, .. } if output == r#"hello Lin; "approved from Python""#),
        "{ended:?}"
    );
    runtime.shutdown(Some(1000)).await;
}

/// What a process held when it died (the Python backend never gives that work again by itself:
/// the protocol has no lease) is taken over by the next process on the same folder of held
/// work: a turn is handed back, an activity run again, and the orchestration goes on.
#[test]
fn the_next_process_takes_over_the_turn_and_the_activity_a_dead_one_held() {
    use duroxide::providers::Provider;
    let backend = Backend::start();
    let held_work = tempfile::tempdir().unwrap();
    let start = || {
        DurableTaskProvider::start_with(backend.connect(), None, held_work.path())
            .expect("the folder of held work opens")
    };

    // Took the first turn, and died without answering it.
    as_a_process(async {
        let provider = start();
        Client::new(provider.clone() as Arc<dyn Provider>)
            .start_orchestration("trip-1", "Trip", "Ada")
            .await
            .unwrap();
        let taken = provider
            .fetch_orchestration_item(Duration::from_secs(30), Duration::from_secs(10), None)
            .await
            .unwrap()
            .expect("the first turn");
        assert_eq!(taken.0.instance, "trip-1");
    });

    // Ran that turn, and died while its activity was at work.
    as_a_process(async {
        let (at_work_tx, mut at_work) = tokio::sync::mpsc::channel::<()>(1);
        let stuck = ActivityRegistry::builder()
            .register("Greet", move |_ctx: ActivityContext, _name: String| {
                let at_work = at_work_tx.clone();
                async move {
                    let _ = at_work.send(()).await;
                    std::future::pending::<Result<String, String>>().await
                }
            })
            .build();
        let (_, orchestrations) = registries();
        let _runtime = runtime::Runtime::start_with_store(start(), stuck, orchestrations).await;
        tokio::time::timeout(Duration::from_secs(20), at_work.recv())
            .await
            .expect("the handed-back turn ran, and its activity started");
        // Dies once the scheduler has nothing else on its way to it: the turn that brings the
        // journal's entry back answered (on the Python backend, work sent to a process in the
        // instant it dies is lost, with no record to take over).
        let scheduler = backend.connect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !scheduler
            .history("trip-1")
            .await
            .unwrap()
            .iter()
            .any(|e| matches!(e.event_type, Some(EventType::TaskCompleted(_))))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the journal's entry never came back"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    // The next one runs the activity again, and the orchestration reaches its approval.
    as_a_process(async {
        let provider = start();
        let (activities, orchestrations) = registries();
        let runtime =
            runtime::Runtime::start_with_store(provider.clone(), activities, orchestrations).await;
        let client = Client::new(provider as Arc<dyn Provider>);
        wait_for_custom_status(&client, "trip-1", "awaiting approval").await;
        client
            .enqueue_event("trip-1", "Approval", "approved")
            .await
            .unwrap();
        let ended = client
            .wait_for_orchestration("trip-1", Duration::from_secs(20))
            .await;
        assert!(
            matches!(&ended, Ok(OrchestrationStatus::Completed { output, .. }) if output == "hello Ada; approved"),
            "{ended:?}"
        );
        runtime.shutdown(Some(1000)).await;
    });
}

/// Runs `work` as a process of its own would, and ends it as a crash would: its tasks are
/// dropped where they stand and its connections closed.
fn as_a_process(work: impl std::future::Future<Output = ()>) {
    let process = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    process.block_on(work);
}

/// A test backend of its own and the provider on it, for duroxide's stress test and
/// conformance cases.
struct OnTheScheduler {
    _backend: Backend,
    provider: Arc<DurableTaskProvider>,
}

impl OnTheScheduler {
    fn start() -> Self {
        let backend = Backend::start();
        let provider = DurableTaskProvider::start(backend.connect());
        Self {
            _backend: backend,
            provider,
        }
    }
}

#[async_trait::async_trait]
impl duroxide::provider_stress_tests::parallel_orchestrations::ProviderStressFactory
    for OnTheScheduler
{
    async fn create_provider(&self) -> Arc<dyn duroxide::providers::Provider> {
        self.provider.clone()
    }
}

#[async_trait::async_trait]
impl duroxide::provider_validations::ProviderFactory for OnTheScheduler {
    async fn create_provider(&self) -> Arc<dyn duroxide::providers::Provider> {
        self.provider.clone()
    }

    fn lock_timeout(&self) -> Duration {
        Duration::from_millis(1000)
    }

    fn short_poll_threshold(&self) -> Duration {
        Duration::from_millis(500)
    }

    async fn corrupt_instance_history(&self, _instance: &str) {
        unreachable!("no case that corrupts a history runs on the scheduler")
    }

    async fn get_max_attempt_count(&self, _instance: &str) -> u32 {
        unreachable!("no case that reads attempt counts from the store runs on the scheduler")
    }
}

/// The conformance cases that apply to this store, each on a backend of its own.
mod conformance {
    use super::*;

    struct Factory;

    impl Factory {
        #[allow(clippy::new_ret_no_self)]
        fn new() -> OnTheScheduler {
            OnTheScheduler::start()
        }
    }

    include!("conformance/durable_task_cases.rs");
}

/// duroxide's own stress test, as `store_conformance` runs it on the other stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duroxide_s_stress_test_finishes_every_instance() {
    stress::every_instance_finishes(&OnTheScheduler::start()).await;
}
