// The cases of duroxide 0.1.32's provider conformance suite (`conformance/cases.rs` has them all)
// that apply to the store on the Durable Task protocol and pass on it, each run as upstream wrote
// it. Which of the others do not apply, and why: `docs/durable-task-store/README.md`,
// "Conformance".
#[allow(unused_imports)]
use duroxide::provider_validations::*;
#[allow(unused_imports)]
use duroxide::provider_validations::{
    bulk_deletion::*,
    capability_filtering::*,
    custom_status::*,
    deletion::*,
    kv_store::*,
    long_polling::*,
    poison_message::*,
    prune::*,
    race_replay::*,
    sessions::*,
    tag_filtering::*,
};

/// `name => case`: the case on a new factory's store; `provider name => case`: on its provider.
macro_rules! cases {
    ($($name:ident => $case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            $case(&Factory::new()).await;
        }
    )*};
}

macro_rules! provider_cases {
    ($($name:ident => $case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            use duroxide::provider_validations::ProviderFactory;
            let factory = Factory::new();
            $case(&*factory.create_provider().await).await;
        }
    )*};
}

cases! {
    test_sqlite_get_instance_info => test_get_instance_info,
    test_sqlite_list_executions => test_list_executions,
    test_sqlite_list_instances => test_list_instances,
    queue_replay_version_stamp_roundtrip => test_queue_replay_version_stamp_roundtrip,
    positional_wait_race_replay => test_positional_wait_race_replay,
    test_sqlite_concurrent_ack_prevention => test_concurrent_ack_prevention,
    test_sqlite_missing_instance_metadata => test_missing_instance_metadata,
    test_sqlite_corrupted_serialization_data => test_corrupted_serialization_data,
    test_sqlite_lock_token_uniqueness => test_lock_token_uniqueness,
    test_sqlite_invalid_lock_token_rejection => test_invalid_lock_token_rejection,
    test_sqlite_concurrent_instance_fetching => test_concurrent_instance_fetching,
    test_sqlite_multi_threaded_lock_contention => test_multi_threaded_lock_contention,
    test_sqlite_multi_threaded_no_duplicate_processing => test_multi_threaded_no_duplicate_processing,
    test_sqlite_orphan_queue_messages_dropped => test_orphan_queue_messages_dropped,
    test_sqlite_get_instance_stats_nonexistent => test_get_instance_stats_nonexistent,
    test_sqlite_no_instance_creation_on_enqueue => test_no_instance_creation_on_enqueue,
    test_sqlite_orchestration_attempt_count_starts_at_one => orchestration_attempt_count_starts_at_one,
    test_sqlite_orchestration_attempt_count_increments_on_refetch => orchestration_attempt_count_increments_on_refetch,
    test_sqlite_abandon_orchestration_item_ignore_attempt_decrements => abandon_orchestration_item_ignore_attempt_decrements,
    test_sqlite_fetch_returns_running_state_for_active_orchestration => test_fetch_returns_running_state_for_active_orchestration,
    test_sqlite_fetch_returns_terminal_state_when_orchestration_completed => test_fetch_returns_terminal_state_when_orchestration_completed,
    test_sqlite_fetch_returns_terminal_state_when_orchestration_failed => test_fetch_returns_terminal_state_when_orchestration_failed,
    test_sqlite_fetch_returns_terminal_state_when_orchestration_continued_as_new => test_fetch_returns_terminal_state_when_orchestration_continued_as_new,
    test_sqlite_renew_returns_running_when_orchestration_active => test_renew_returns_running_when_orchestration_active,
    test_sqlite_renew_returns_terminal_when_orchestration_completed => test_renew_returns_terminal_when_orchestration_completed,
    test_sqlite_cancelling_nonexistent_activities_is_idempotent => test_cancelling_nonexistent_activities_is_idempotent,
    test_sqlite_worker_lock_renewal_invalid_token => test_worker_lock_renewal_invalid_token,
    test_sqlite_worker_lock_renewal_extends_timeout => test_worker_lock_renewal_extends_timeout,
    test_sqlite_fetch_with_filter_none_returns_any_item => test_fetch_with_filter_none_returns_any_item,
    test_sqlite_fetch_with_compatible_filter_returns_item => test_fetch_with_compatible_filter_returns_item,
    test_sqlite_fetch_filter_null_pinned_version_always_compatible => test_fetch_filter_null_pinned_version_always_compatible,
    test_sqlite_pinned_version_stored_via_ack_metadata => test_pinned_version_stored_via_ack_metadata,
    test_sqlite_pinned_version_immutable_across_ack_cycles => test_pinned_version_immutable_across_ack_cycles,
    test_sqlite_concurrent_filtered_fetch_no_double_lock => test_concurrent_filtered_fetch_no_double_lock,
    test_sqlite_ack_stores_pinned_version_via_metadata_update => test_ack_stores_pinned_version_via_metadata_update,
    test_sqlite_renew_session_lock_no_sessions => test_renew_session_lock_no_sessions,
    test_sqlite_custom_status_set => test_custom_status_set,
    test_sqlite_custom_status_clear => test_custom_status_clear,
    test_sqlite_custom_status_none_preserves => test_custom_status_none_preserves,
    test_sqlite_custom_status_version_increments => test_custom_status_version_increments,
    test_sqlite_custom_status_polling_no_change => test_custom_status_polling_no_change,
    test_sqlite_custom_status_nonexistent_instance => test_custom_status_nonexistent_instance,
    test_sqlite_custom_status_default_on_new_instance => test_custom_status_default_on_new_instance,
    test_sqlite_kv_get_nonexistent => test_kv_get_nonexistent,
    test_sqlite_kv_snapshot_after_clear_all => test_kv_snapshot_after_clear_all,
    test_sqlite_kv_clear_nonexistent_key => test_kv_clear_nonexistent_key,
    test_sqlite_kv_get_unknown_instance => test_kv_get_unknown_instance,
    test_sqlite_kv_snapshot_empty => test_kv_snapshot_empty,
}

provider_cases! {
    test_sqlite_long_poll_waits_for_timeout => test_long_poll_waits_for_timeout,
    test_sqlite_long_poll_work_item_waits_for_timeout => test_long_poll_work_item_waits_for_timeout,
    test_sqlite_fetch_respects_timeout_upper_bound => test_fetch_respects_timeout_upper_bound,
}
