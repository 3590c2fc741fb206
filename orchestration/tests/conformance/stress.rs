//! duroxide's stress test (many instances, each fanning out to activities, on two orchestration
//! and four activity dispatchers, for 3 s), as every store here runs it: every instance finishes.

use duroxide::provider_stress_tests::StressTestConfig;
use duroxide::provider_stress_tests::parallel_orchestrations::{
    ProviderStressFactory, run_parallel_orchestrations_test_with_config,
};

pub async fn every_instance_finishes(factory: &impl ProviderStressFactory) {
    let config = StressTestConfig {
        max_concurrent: 20,
        duration_secs: 3,
        tasks_per_instance: 4,
        activity_delay_ms: 5,
        orch_concurrency: 2,
        worker_concurrency: 4,
        wait_timeout_secs: 60,
    };
    let result = run_parallel_orchestrations_test_with_config(factory, config)
        .await
        .expect("the stress test runs");
    assert!(result.completed > 0, "{result:?}");
    assert_eq!(
        result.failed, 0,
        "no orchestration may fail under load: {result:?}"
    );
}
