// The provider conformance cases of duroxide 0.1.32 (`tests/sqlite_provider_validations.rs`,
// MIT licence, Copyright (c) Microsoft Corporation), run against this service's stores through
// `Factory` (see `store_conformance.rs`). Kept as upstream wrote them, with its factories
// replaced by ours and each case taking its turn first (see `timing_turn`).
use duroxide::provider_validations::sessions::{
    test_abandoned_session_item_ignore_attempt, test_abandoned_session_item_retryable,
    test_ack_updates_session_last_activity, test_activity_lock_expires_session_lock_valid_same_worker_refetches,
    test_both_locks_expire_different_worker_claims, test_cleanup_keeps_active_sessions,
    test_cleanup_keeps_sessions_with_pending_items, test_cleanup_removes_expired_no_items,
    test_cleanup_then_new_item_recreates_session, test_concurrent_session_claim_only_one_wins,
    test_different_sessions_different_workers, test_mixed_session_and_non_session_items,
    test_non_session_items_fetchable_by_any_worker, test_non_session_items_returned_with_session_config,
    test_none_session_skips_session_items, test_original_worker_reclaims_expired_session,
    test_renew_session_lock_active, test_renew_session_lock_after_expiry_returns_zero,
    test_renew_session_lock_no_sessions, test_renew_session_lock_skips_idle,
    test_renew_work_item_updates_session_last_activity, test_session_affinity_blocks_other_worker,
    test_session_affinity_same_worker, test_session_claimable_after_lock_expiry,
    test_session_item_claimable_when_no_session, test_session_items_processed_in_order,
    test_session_lock_expires_activity_lock_valid_ack_succeeds,
    test_session_lock_expires_new_owner_gets_redelivery, test_session_lock_expires_same_worker_reacquires,
    test_session_lock_renewal_extends_past_original_timeout, test_session_takeover_after_lock_expiry,
    test_shared_worker_id_any_caller_can_fetch_owned_session, test_some_session_returns_all_items,
};
use duroxide::provider_validations::tag_filtering::{
    test_any_filter_fetches_everything, test_default_and_fetches_untagged_and_matching,
    test_default_only_fetches_untagged, test_multi_runtime_tag_isolation, test_multi_tag_filter,
    test_none_filter_returns_nothing, test_tag_preserved_through_ack_orchestration_item,
    test_tag_round_trip_preservation, test_tag_survives_abandon_and_refetch, test_tags_fetches_only_matching,
};
use duroxide::provider_validations::{
    ProviderFactory,
    // Bulk deletion tests
    bulk_deletion::{
        test_delete_instance_bulk_cascades_to_children, test_delete_instance_bulk_completed_before_filter,
        test_delete_instance_bulk_filter_combinations, test_delete_instance_bulk_safety_and_limits,
    },
    // Capability filtering tests
    capability_filtering::{
        test_ack_appends_event_to_corrupted_history, test_ack_stores_pinned_version_via_metadata_update,
        test_concurrent_filtered_fetch_no_double_lock, test_continue_as_new_execution_gets_own_pinned_version,
        test_fetch_corrupted_history_filtered_vs_unfiltered,
        test_fetch_deserialization_error_eventually_reaches_poison,
        test_fetch_deserialization_error_increments_attempt_count,
        test_fetch_filter_applied_before_history_deserialization, test_fetch_filter_boundary_versions,
        test_fetch_filter_does_not_lock_skipped_instances, test_fetch_filter_null_pinned_version_always_compatible,
        test_fetch_filter_skips_incompatible_selects_compatible, test_fetch_single_range_only_uses_first_range,
        test_fetch_with_compatible_filter_returns_item, test_fetch_with_filter_none_returns_any_item,
        test_fetch_with_incompatible_filter_skips_item, test_filter_with_empty_supported_versions_returns_nothing,
        test_pinned_version_immutable_across_ack_cycles, test_pinned_version_stored_via_ack_metadata,
        test_provider_updates_pinned_version_when_told,
    },
    // Deletion tests
    deletion::{
        test_cascade_delete_hierarchy, test_delete_cleans_queues_and_locks, test_delete_get_instance_tree,
        test_delete_get_parent_id, test_delete_instances_atomic, test_delete_instances_atomic_force,
        test_delete_instances_atomic_orphan_detection, test_delete_nonexistent_instance,
        test_delete_running_rejected_force_succeeds, test_delete_terminal_instances,
        test_force_delete_prevents_ack_recreation, test_list_children, test_stale_activity_after_delete_recreate,
    },
    // Long polling tests
    long_polling::{
        test_fetch_respects_timeout_upper_bound, test_long_poll_waits_for_timeout,
        test_long_poll_work_item_waits_for_timeout,
    },
    // Poison message tests
    poison_message::{
        abandon_orchestration_item_ignore_attempt_decrements, abandon_work_item_ignore_attempt_decrements,
        attempt_count_is_per_message, ignore_attempt_never_goes_negative, max_attempt_count_across_message_batch,
        orchestration_attempt_count_increments_on_refetch, orchestration_attempt_count_starts_at_one,
        worker_attempt_count_increments_on_lock_expiry, worker_attempt_count_starts_at_one,
    },
    // Prune tests
    prune::{
        test_prune_bulk, test_prune_bulk_includes_running_instances, test_prune_options_combinations,
        test_prune_safety,
    },
    test_abandon_releases_lock_immediately,
    test_abandon_work_item_releases_lock,
    test_abandon_work_item_with_delay,
    test_ack_only_affects_locked_messages,
    // Cancellation tests
    test_ack_work_item_fails_when_entry_deleted,
    test_ack_work_item_none_deletes_without_enqueue,
    // Atomicity tests
    test_atomicity_failure_rollback,
    test_batch_cancellation_deletes_multiple_activities,
    test_cancelled_activities_deleted_from_worker_queue,
    test_cancelling_nonexistent_activities_is_idempotent,
    test_completions_arriving_during_lock_blocked,
    test_concurrent_ack_prevention,
    test_concurrent_instance_fetching,
    test_concurrent_lock_attempts_respect_expiration,
    test_continue_as_new_creates_new_execution,
    test_corrupted_serialization_data,
    test_cross_instance_lock_isolation,
    test_duplicate_event_id_rejection,
    // Instance locking tests
    test_exclusive_instance_lock,
    test_execution_history_persistence,
    test_execution_id_sequencing,
    // Multi-execution tests
    test_execution_isolation,
    test_fetch_returns_missing_state_when_instance_deleted,
    test_fetch_returns_running_state_for_active_orchestration,
    test_fetch_returns_terminal_state_when_orchestration_completed,
    test_fetch_returns_terminal_state_when_orchestration_continued_as_new,
    test_fetch_returns_terminal_state_when_orchestration_failed,
    test_get_execution_info,
    test_get_instance_info,
    test_get_instance_stats_carry_forward,
    test_get_instance_stats_history,
    test_get_instance_stats_kv,
    test_get_instance_stats_kv_delta_only,
    test_get_instance_stats_kv_merged,
    test_get_instance_stats_nonexistent,
    test_get_queue_depths,
    test_get_system_metrics,
    // Instance creation tests
    test_instance_creation_via_metadata,
    // Error handling tests
    test_invalid_lock_token_on_ack,
    test_invalid_lock_token_rejection,
    test_latest_execution_detection,
    test_list_executions,
    // Management tests
    test_list_instances,
    test_list_instances_by_status,
    test_lock_expiration_during_ack,
    // Lock expiration tests
    test_lock_expires_after_timeout,
    test_lock_released_only_on_successful_ack,
    test_lock_renewal_on_ack,
    test_lock_token_uniqueness,
    test_lost_lock_token_handling,
    test_message_tagging_during_lock,
    test_missing_instance_metadata,
    test_multi_operation_atomic_ack,
    test_multi_threaded_lock_contention,
    test_multi_threaded_lock_expiration_recovery,
    test_multi_threaded_no_duplicate_processing,
    test_no_instance_creation_on_enqueue,
    test_null_version_handling,
    test_orchestration_lock_renewal_after_expiration,
    test_orphan_activity_after_instance_force_deletion,
    test_orphan_queue_messages_dropped,
    test_read_corrupted_history_returns_error,
    test_read_with_execution_corrupted_history_returns_error,
    test_renew_fails_when_entry_deleted,
    test_renew_returns_missing_when_instance_deleted,
    test_renew_returns_running_when_orchestration_active,
    test_renew_returns_terminal_when_orchestration_completed,
    test_same_activity_in_worker_items_and_cancelled_is_noop,
    test_sub_orchestration_instance_creation,
    test_timer_delayed_visibility,
    test_worker_ack_atomicity,
    test_worker_ack_fails_after_lock_expiry,
    test_worker_delayed_visibility_skips_future_items,
    test_worker_item_immediate_visibility,
    // Worker lock renewal tests
    test_worker_lock_renewal_after_ack,
    test_worker_lock_renewal_after_expiration,
    test_worker_lock_renewal_extends_timeout,
    test_worker_lock_renewal_invalid_token,
    test_worker_lock_renewal_success,
    test_worker_peek_lock_semantics,
    // Queue semantics tests
    test_worker_queue_fifo_ordering,
};



#[tokio::test]
async fn queue_race_cancellation_replay() {
    duroxide::provider_validations::race_replay::test_queue_race_cancellation_replay(&Factory::new()).await;
}

#[tokio::test]
async fn queue_replay_version_stamp_roundtrip() {
    duroxide::provider_validations::race_replay::test_queue_replay_version_stamp_roundtrip(&Factory::new())
        .await;
}

#[tokio::test]
async fn positional_wait_race_replay() {
    duroxide::provider_validations::race_replay::test_positional_wait_race_replay(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delayed_abandon_preserves_unlocked_rows() {
    let _turn = timing_turn().await;
    duroxide::provider_validations::poison_message::orchestration_delayed_abandon_preserves_unlocked_rows(
        &Factory::new(),
    )
    .await;
}

#[tokio::test]
async fn test_sqlite_ignore_attempt_preserves_hidden_start() {
    let _turn = timing_turn().await;
    duroxide::provider_validations::poison_message::orchestration_ignore_attempt_preserves_hidden_start(
        &Factory::new(),
    )
    .await;
}

#[tokio::test]
async fn continue_as_new_queue_race_replay() {
    duroxide::provider_validations::race_replay::test_continue_as_new_queue_race_replay(&Factory::new()).await;
}




#[tokio::test]
async fn continue_as_new_unregistered_backoff() {
    duroxide::provider_validations::race_replay::test_continue_as_new_unregistered_backoff(&Factory::new())
        .await;
}

#[tokio::test]
async fn continue_as_new_poisoned_successor_is_own_execution() {
    duroxide::provider_validations::race_replay::test_continue_as_new_poisoned_successor_is_own_execution(
        &Factory::new(),
    )
    .await;
}

#[tokio::test]
async fn duplicate_start_preserves_pinned_handler() {
    duroxide::provider_validations::race_replay::test_duplicate_start_preserves_pinned_handler(&Factory::new())
        .await;
}

#[tokio::test]
async fn legacy_queue_race_decision_preserved() {
    duroxide::provider_validations::race_replay::test_legacy_queue_race_decision_preserved(&Factory::new())
        .await;
}


#[tokio::test]
async fn test_sqlite_multi_operation_atomic_ack() {
    let _turn = timing_turn().await;
    test_multi_operation_atomic_ack(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_lock_released_only_on_successful_ack() {
    let _turn = timing_turn().await;
    test_lock_released_only_on_successful_ack(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_concurrent_ack_prevention() {
    let _turn = timing_turn().await;
    test_concurrent_ack_prevention(&Factory::new()).await;
}

// Error handling tests
#[tokio::test]
async fn test_sqlite_invalid_lock_token_on_ack() {
    let _turn = timing_turn().await;
    test_invalid_lock_token_on_ack(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_duplicate_event_id_rejection() {
    let _turn = timing_turn().await;
    test_duplicate_event_id_rejection(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_missing_instance_metadata() {
    let _turn = timing_turn().await;
    test_missing_instance_metadata(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_corrupted_serialization_data() {
    let _turn = timing_turn().await;
    test_corrupted_serialization_data(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_lock_expiration_during_ack() {
    let _turn = timing_turn().await;
    test_lock_expiration_during_ack(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_read_corrupted_history_returns_error() {
    let _turn = timing_turn().await;
    test_read_corrupted_history_returns_error(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_read_with_execution_corrupted_history_returns_error() {
    let _turn = timing_turn().await;
    test_read_with_execution_corrupted_history_returns_error(&Factory::new()).await;
}

// Instance locking tests
#[tokio::test]
async fn test_sqlite_exclusive_instance_lock() {
    let _turn = timing_turn().await;
    test_exclusive_instance_lock(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_lock_token_uniqueness() {
    let _turn = timing_turn().await;
    test_lock_token_uniqueness(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_invalid_lock_token_rejection() {
    let _turn = timing_turn().await;
    test_invalid_lock_token_rejection(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_concurrent_instance_fetching() {
    let _turn = timing_turn().await;
    test_concurrent_instance_fetching(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_completions_arriving_during_lock_blocked() {
    let _turn = timing_turn().await;
    test_completions_arriving_during_lock_blocked(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_cross_instance_lock_isolation() {
    let _turn = timing_turn().await;
    test_cross_instance_lock_isolation(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_message_tagging_during_lock() {
    let _turn = timing_turn().await;
    test_message_tagging_during_lock(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_ack_only_affects_locked_messages() {
    let _turn = timing_turn().await;
    test_ack_only_affects_locked_messages(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_multi_threaded_lock_contention() {
    let _turn = timing_turn().await;
    test_multi_threaded_lock_contention(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_multi_threaded_no_duplicate_processing() {
    let _turn = timing_turn().await;
    test_multi_threaded_no_duplicate_processing(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_multi_threaded_lock_expiration_recovery() {
    let _turn = timing_turn().await;
    if LEASE_STARTS_AT_CLAIM {
        super::lease_at_claim_expiration_recovery(&Factory::new()).await;
    } else {
        test_multi_threaded_lock_expiration_recovery(&Factory::new()).await;
    }
}

// Lock expiration tests
#[tokio::test]
async fn test_sqlite_lock_expires_after_timeout() {
    let _turn = timing_turn().await;
    test_lock_expires_after_timeout(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_abandon_releases_lock_immediately() {
    let _turn = timing_turn().await;
    test_abandon_releases_lock_immediately(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_lock_renewal_on_ack() {
    let _turn = timing_turn().await;
    test_lock_renewal_on_ack(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_concurrent_lock_attempts_respect_expiration() {
    let _turn = timing_turn().await;
    test_concurrent_lock_attempts_respect_expiration(&Factory::new()).await;
}

// Multi-execution tests
#[tokio::test]
async fn test_sqlite_execution_isolation() {
    let _turn = timing_turn().await;
    test_execution_isolation(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_latest_execution_detection() {
    let _turn = timing_turn().await;
    test_latest_execution_detection(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_execution_id_sequencing() {
    let _turn = timing_turn().await;
    test_execution_id_sequencing(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_continue_as_new_creates_new_execution() {
    let _turn = timing_turn().await;
    test_continue_as_new_creates_new_execution(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_execution_history_persistence() {
    let _turn = timing_turn().await;
    test_execution_history_persistence(&Factory::new()).await;
}

// Queue semantics tests
#[tokio::test]
async fn test_sqlite_worker_queue_fifo_ordering() {
    let _turn = timing_turn().await;
    test_worker_queue_fifo_ordering(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_worker_peek_lock_semantics() {
    let _turn = timing_turn().await;
    test_worker_peek_lock_semantics(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_worker_ack_atomicity() {
    let _turn = timing_turn().await;
    test_worker_ack_atomicity(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_timer_delayed_visibility() {
    let _turn = timing_turn().await;
    test_timer_delayed_visibility(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_lost_lock_token_handling() {
    let _turn = timing_turn().await;
    test_lost_lock_token_handling(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_worker_item_immediate_visibility() {
    let _turn = timing_turn().await;
    test_worker_item_immediate_visibility(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_worker_delayed_visibility_skips_future_items() {
    let _turn = timing_turn().await;
    test_worker_delayed_visibility_skips_future_items(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_orphan_queue_messages_dropped() {
    let _turn = timing_turn().await;
    test_orphan_queue_messages_dropped(&Factory::new()).await;
}

// Management tests
#[tokio::test]
async fn test_sqlite_list_instances() {
    let _turn = timing_turn().await;
    test_list_instances(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_list_instances_by_status() {
    let _turn = timing_turn().await;
    test_list_instances_by_status(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_list_executions() {
    let _turn = timing_turn().await;
    test_list_executions(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_get_instance_info() {
    let _turn = timing_turn().await;
    test_get_instance_info(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_get_execution_info() {
    let _turn = timing_turn().await;
    test_get_execution_info(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_get_system_metrics() {
    let _turn = timing_turn().await;
    test_get_system_metrics(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_get_queue_depths() {
    let _turn = timing_turn().await;
    test_get_queue_depths(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_get_instance_stats_nonexistent() {
    let _turn = timing_turn().await;
    test_get_instance_stats_nonexistent(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_get_instance_stats_history() {
    let _turn = timing_turn().await;
    test_get_instance_stats_history(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_get_instance_stats_kv() {
    let _turn = timing_turn().await;
    test_get_instance_stats_kv(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_get_instance_stats_carry_forward() {
    let _turn = timing_turn().await;
    test_get_instance_stats_carry_forward(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_get_instance_stats_kv_delta_only() {
    let _turn = timing_turn().await;
    test_get_instance_stats_kv_delta_only(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_get_instance_stats_kv_merged() {
    let _turn = timing_turn().await;
    test_get_instance_stats_kv_merged(&Factory::new()).await;
}

// Instance creation tests
#[tokio::test]
async fn test_sqlite_instance_creation_via_metadata() {
    let _turn = timing_turn().await;
    test_instance_creation_via_metadata(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_no_instance_creation_on_enqueue() {
    let _turn = timing_turn().await;
    test_no_instance_creation_on_enqueue(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_null_version_handling() {
    let _turn = timing_turn().await;
    test_null_version_handling(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_sub_orchestration_instance_creation() {
    let _turn = timing_turn().await;
    test_sub_orchestration_instance_creation(&Factory::new()).await;
}

// Long polling tests (SQLite uses short polling)
#[tokio::test]
async fn test_sqlite_long_poll_waits_for_timeout() {
    let _turn = timing_turn().await;
    let factory = Factory::new();
    let provider = factory.create_provider().await;
    test_long_poll_waits_for_timeout(&*provider).await;
}

#[tokio::test]
async fn test_sqlite_long_poll_work_item_waits_for_timeout() {
    let _turn = timing_turn().await;
    let factory = Factory::new();
    let provider = factory.create_provider().await;
    test_long_poll_work_item_waits_for_timeout(&*provider).await;
}

#[tokio::test]
async fn test_sqlite_fetch_respects_timeout_upper_bound() {
    let _turn = timing_turn().await;
    let factory = Factory::new();
    let provider = factory.create_provider().await;
    test_fetch_respects_timeout_upper_bound(&*provider).await;
}

// Poison message tests
#[tokio::test]
async fn test_sqlite_orchestration_attempt_count_starts_at_one() {
    let _turn = timing_turn().await;
    orchestration_attempt_count_starts_at_one(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_orchestration_attempt_count_increments_on_refetch() {
    let _turn = timing_turn().await;
    orchestration_attempt_count_increments_on_refetch(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_worker_attempt_count_starts_at_one() {
    let _turn = timing_turn().await;
    worker_attempt_count_starts_at_one(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_worker_attempt_count_increments_on_lock_expiry() {
    let _turn = timing_turn().await;
    worker_attempt_count_increments_on_lock_expiry(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_attempt_count_is_per_message() {
    let _turn = timing_turn().await;
    attempt_count_is_per_message(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_abandon_work_item_ignore_attempt_decrements() {
    let _turn = timing_turn().await;
    abandon_work_item_ignore_attempt_decrements(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_abandon_orchestration_item_ignore_attempt_decrements() {
    let _turn = timing_turn().await;
    abandon_orchestration_item_ignore_attempt_decrements(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_ignore_attempt_never_goes_negative() {
    let _turn = timing_turn().await;
    ignore_attempt_never_goes_negative(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_max_attempt_count_across_message_batch() {
    let _turn = timing_turn().await;
    max_attempt_count_across_message_batch(&Factory::new()).await;
}

// abandon_work_item tests
#[tokio::test]
async fn test_sqlite_abandon_work_item_releases_lock() {
    let _turn = timing_turn().await;
    test_abandon_work_item_releases_lock(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_abandon_work_item_with_delay() {
    let _turn = timing_turn().await;
    test_abandon_work_item_with_delay(&Factory::new()).await;
}

// Cancellation tests (activity cancellation support)
#[tokio::test]
async fn test_sqlite_fetch_returns_running_state_for_active_orchestration() {
    let _turn = timing_turn().await;
    test_fetch_returns_running_state_for_active_orchestration(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_returns_terminal_state_when_orchestration_completed() {
    let _turn = timing_turn().await;
    test_fetch_returns_terminal_state_when_orchestration_completed(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_returns_terminal_state_when_orchestration_failed() {
    let _turn = timing_turn().await;
    test_fetch_returns_terminal_state_when_orchestration_failed(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_returns_terminal_state_when_orchestration_continued_as_new() {
    let _turn = timing_turn().await;
    test_fetch_returns_terminal_state_when_orchestration_continued_as_new(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_returns_missing_state_when_instance_deleted() {
    let _turn = timing_turn().await;
    test_fetch_returns_missing_state_when_instance_deleted(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_renew_returns_running_when_orchestration_active() {
    let _turn = timing_turn().await;
    test_renew_returns_running_when_orchestration_active(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_renew_returns_terminal_when_orchestration_completed() {
    let _turn = timing_turn().await;
    test_renew_returns_terminal_when_orchestration_completed(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_renew_returns_missing_when_instance_deleted() {
    let _turn = timing_turn().await;
    test_renew_returns_missing_when_instance_deleted(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_ack_work_item_none_deletes_without_enqueue() {
    let _turn = timing_turn().await;
    test_ack_work_item_none_deletes_without_enqueue(&Factory::new()).await;
}

// Lock-stealing activity cancellation tests
#[tokio::test]
async fn test_sqlite_cancelled_activities_deleted_from_worker_queue() {
    let _turn = timing_turn().await;
    test_cancelled_activities_deleted_from_worker_queue(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_ack_work_item_fails_when_entry_deleted() {
    let _turn = timing_turn().await;
    test_ack_work_item_fails_when_entry_deleted(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_renew_fails_when_entry_deleted() {
    let _turn = timing_turn().await;
    test_renew_fails_when_entry_deleted(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_cancelling_nonexistent_activities_is_idempotent() {
    let _turn = timing_turn().await;
    test_cancelling_nonexistent_activities_is_idempotent(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_batch_cancellation_deletes_multiple_activities() {
    let _turn = timing_turn().await;
    test_batch_cancellation_deletes_multiple_activities(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_same_activity_in_worker_items_and_cancelled_is_noop() {
    let _turn = timing_turn().await;
    test_same_activity_in_worker_items_and_cancelled_is_noop(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_orphan_activity_after_instance_force_deletion() {
    let _turn = timing_turn().await;
    test_orphan_activity_after_instance_force_deletion(&Factory::new()).await;
}

// Deletion tests
#[tokio::test]
async fn test_sqlite_delete_terminal_instances() {
    let _turn = timing_turn().await;
    test_delete_terminal_instances(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delete_running_rejected_force_succeeds() {
    let _turn = timing_turn().await;
    test_delete_running_rejected_force_succeeds(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delete_nonexistent_instance() {
    let _turn = timing_turn().await;
    test_delete_nonexistent_instance(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delete_cleans_queues_and_locks() {
    let _turn = timing_turn().await;
    test_delete_cleans_queues_and_locks(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_cascade_delete_hierarchy() {
    let _turn = timing_turn().await;
    test_cascade_delete_hierarchy(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_force_delete_prevents_ack_recreation() {
    let _turn = timing_turn().await;
    test_force_delete_prevents_ack_recreation(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_list_children() {
    let _turn = timing_turn().await;
    test_list_children(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delete_get_parent_id() {
    let _turn = timing_turn().await;
    test_delete_get_parent_id(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delete_get_instance_tree() {
    let _turn = timing_turn().await;
    test_delete_get_instance_tree(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delete_instances_atomic() {
    let _turn = timing_turn().await;
    test_delete_instances_atomic(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delete_instances_atomic_force() {
    let _turn = timing_turn().await;
    test_delete_instances_atomic_force(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delete_instances_atomic_orphan_detection() {
    let _turn = timing_turn().await;
    test_delete_instances_atomic_orphan_detection(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_stale_activity_after_delete_recreate() {
    let _turn = timing_turn().await;
    test_stale_activity_after_delete_recreate(&Factory::new()).await;
}

// Worker lock renewal tests
#[tokio::test]
async fn test_sqlite_worker_lock_renewal_success() {
    let _turn = timing_turn().await;
    test_worker_lock_renewal_success(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_worker_lock_renewal_invalid_token() {
    let _turn = timing_turn().await;
    test_worker_lock_renewal_invalid_token(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_worker_lock_renewal_after_expiration() {
    let _turn = timing_turn().await;
    test_worker_lock_renewal_after_expiration(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_worker_lock_renewal_extends_timeout() {
    let _turn = timing_turn().await;
    test_worker_lock_renewal_extends_timeout(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_worker_lock_renewal_after_ack() {
    let _turn = timing_turn().await;
    test_worker_lock_renewal_after_ack(&Factory::new()).await;
}

// Lock expiry boundary tests
#[tokio::test]
async fn test_sqlite_worker_ack_fails_after_lock_expiry() {
    let _turn = timing_turn().await;
    test_worker_ack_fails_after_lock_expiry(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_orchestration_lock_renewal_after_expiration() {
    let _turn = timing_turn().await;
    test_orchestration_lock_renewal_after_expiration(&Factory::new()).await;
}

// Prune tests
#[tokio::test]
async fn test_sqlite_prune_options_combinations() {
    let _turn = timing_turn().await;
    test_prune_options_combinations(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_prune_safety() {
    let _turn = timing_turn().await;
    test_prune_safety(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_prune_bulk() {
    let _turn = timing_turn().await;
    test_prune_bulk(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_prune_bulk_includes_running_instances() {
    let _turn = timing_turn().await;
    test_prune_bulk_includes_running_instances(&Factory::new()).await;
}

// Bulk deletion tests
#[tokio::test]
async fn test_sqlite_delete_instance_bulk_filter_combinations() {
    let _turn = timing_turn().await;
    test_delete_instance_bulk_filter_combinations(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delete_instance_bulk_safety_and_limits() {
    let _turn = timing_turn().await;
    test_delete_instance_bulk_safety_and_limits(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delete_instance_bulk_completed_before_filter() {
    let _turn = timing_turn().await;
    test_delete_instance_bulk_completed_before_filter(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_delete_instance_bulk_cascades_to_children() {
    let _turn = timing_turn().await;
    test_delete_instance_bulk_cascades_to_children(&Factory::new()).await;
}

// Capability filtering tests
#[tokio::test]
async fn test_sqlite_fetch_with_filter_none_returns_any_item() {
    let _turn = timing_turn().await;
    test_fetch_with_filter_none_returns_any_item(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_with_compatible_filter_returns_item() {
    let _turn = timing_turn().await;
    test_fetch_with_compatible_filter_returns_item(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_with_incompatible_filter_skips_item() {
    let _turn = timing_turn().await;
    test_fetch_with_incompatible_filter_skips_item(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_filter_skips_incompatible_selects_compatible() {
    let _turn = timing_turn().await;
    test_fetch_filter_skips_incompatible_selects_compatible(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_filter_does_not_lock_skipped_instances() {
    let _turn = timing_turn().await;
    test_fetch_filter_does_not_lock_skipped_instances(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_filter_null_pinned_version_always_compatible() {
    let _turn = timing_turn().await;
    test_fetch_filter_null_pinned_version_always_compatible(&Factory::new()).await;
}


#[tokio::test]
async fn test_sqlite_pinned_version_stored_via_ack_metadata() {
    let _turn = timing_turn().await;
    test_pinned_version_stored_via_ack_metadata(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_pinned_version_immutable_across_ack_cycles() {
    let _turn = timing_turn().await;
    test_pinned_version_immutable_across_ack_cycles(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_continue_as_new_execution_gets_own_pinned_version() {
    let _turn = timing_turn().await;
    test_continue_as_new_execution_gets_own_pinned_version(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_filter_with_empty_supported_versions_returns_nothing() {
    let _turn = timing_turn().await;
    test_filter_with_empty_supported_versions_returns_nothing(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_concurrent_filtered_fetch_no_double_lock() {
    let _turn = timing_turn().await;
    test_concurrent_filtered_fetch_no_double_lock(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_ack_stores_pinned_version_via_metadata_update() {
    let _turn = timing_turn().await;
    test_ack_stores_pinned_version_via_metadata_update(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_provider_updates_pinned_version_when_told() {
    let _turn = timing_turn().await;
    test_provider_updates_pinned_version_when_told(&Factory::new()).await;
}

// Category I: Deserialization contract tests (provider-agnostic via ProviderFactory)
#[tokio::test]
async fn test_sqlite_fetch_corrupted_history_filtered_vs_unfiltered() {
    let _turn = timing_turn().await;
    test_fetch_corrupted_history_filtered_vs_unfiltered(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_deserialization_error_increments_attempt_count() {
    let _turn = timing_turn().await;
    test_fetch_deserialization_error_increments_attempt_count(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_deserialization_error_eventually_reaches_poison() {
    let _turn = timing_turn().await;
    test_fetch_deserialization_error_eventually_reaches_poison(&Factory::new()).await;
}

// Category F2: Additional edge cases
#[tokio::test]
async fn test_sqlite_fetch_filter_applied_before_history_deserialization() {
    let _turn = timing_turn().await;
    test_fetch_filter_applied_before_history_deserialization(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_single_range_only_uses_first_range() {
    let _turn = timing_turn().await;
    test_fetch_single_range_only_uses_first_range(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_ack_appends_event_to_corrupted_history() {
    let _turn = timing_turn().await;
    test_ack_appends_event_to_corrupted_history(&Factory::new()).await;
}

// ======================================================================
// Session Routing Validations
// ======================================================================

#[tokio::test]
async fn test_sqlite_non_session_items_fetchable_by_any_worker() {
    let _turn = timing_turn().await;
    test_non_session_items_fetchable_by_any_worker(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_session_item_claimable_when_no_session() {
    let _turn = timing_turn().await;
    test_session_item_claimable_when_no_session(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_session_affinity_same_worker() {
    let _turn = timing_turn().await;
    test_session_affinity_same_worker(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_session_affinity_blocks_other_worker() {
    let _turn = timing_turn().await;
    test_session_affinity_blocks_other_worker(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_different_sessions_different_workers() {
    let _turn = timing_turn().await;
    test_different_sessions_different_workers(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_mixed_session_and_non_session_items() {
    let _turn = timing_turn().await;
    test_mixed_session_and_non_session_items(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_session_claimable_after_lock_expiry() {
    let _turn = timing_turn().await;
    test_session_claimable_after_lock_expiry(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_none_session_skips_session_items() {
    let _turn = timing_turn().await;
    test_none_session_skips_session_items(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_some_session_returns_all_items() {
    let _turn = timing_turn().await;
    test_some_session_returns_all_items(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_renew_session_lock_active() {
    let _turn = timing_turn().await;
    test_renew_session_lock_active(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_renew_session_lock_skips_idle() {
    let _turn = timing_turn().await;
    test_renew_session_lock_skips_idle(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_renew_session_lock_no_sessions() {
    let _turn = timing_turn().await;
    test_renew_session_lock_no_sessions(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_cleanup_removes_expired_no_items() {
    let _turn = timing_turn().await;
    test_cleanup_removes_expired_no_items(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_cleanup_keeps_sessions_with_pending_items() {
    let _turn = timing_turn().await;
    test_cleanup_keeps_sessions_with_pending_items(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_cleanup_keeps_active_sessions() {
    let _turn = timing_turn().await;
    test_cleanup_keeps_active_sessions(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_ack_updates_session_last_activity() {
    let _turn = timing_turn().await;
    test_ack_updates_session_last_activity(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_renew_work_item_updates_session_last_activity() {
    let _turn = timing_turn().await;
    test_renew_work_item_updates_session_last_activity(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_session_items_processed_in_order() {
    let _turn = timing_turn().await;
    test_session_items_processed_in_order(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_non_session_items_returned_with_session_config() {
    let _turn = timing_turn().await;
    test_non_session_items_returned_with_session_config(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_shared_worker_id_any_caller_can_fetch_owned_session() {
    let _turn = timing_turn().await;
    test_shared_worker_id_any_caller_can_fetch_owned_session(&Factory::new()).await;
}

// ======================================================================
// Session Race Condition Validations
// ======================================================================

#[tokio::test]
async fn test_sqlite_concurrent_session_claim_only_one_wins() {
    let _turn = timing_turn().await;
    test_concurrent_session_claim_only_one_wins(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_session_takeover_after_lock_expiry() {
    let _turn = timing_turn().await;
    test_session_takeover_after_lock_expiry(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_cleanup_then_new_item_recreates_session() {
    let _turn = timing_turn().await;
    test_cleanup_then_new_item_recreates_session(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_abandoned_session_item_retryable() {
    let _turn = timing_turn().await;
    test_abandoned_session_item_retryable(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_abandoned_session_item_ignore_attempt() {
    let _turn = timing_turn().await;
    test_abandoned_session_item_ignore_attempt(&Factory::new()).await;
}

// ======================================================================
// Session Lock Expiry Boundary Validations
// ======================================================================

#[tokio::test]
async fn test_sqlite_renew_session_lock_after_expiry_returns_zero() {
    let _turn = timing_turn().await;
    test_renew_session_lock_after_expiry_returns_zero(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_original_worker_reclaims_expired_session() {
    let _turn = timing_turn().await;
    test_original_worker_reclaims_expired_session(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_activity_lock_expires_session_lock_valid_same_worker_refetches() {
    let _turn = timing_turn().await;
    test_activity_lock_expires_session_lock_valid_same_worker_refetches(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_both_locks_expire_different_worker_claims() {
    let _turn = timing_turn().await;
    test_both_locks_expire_different_worker_claims(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_session_lock_expires_activity_lock_valid_ack_succeeds() {
    let _turn = timing_turn().await;
    test_session_lock_expires_activity_lock_valid_ack_succeeds(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_session_lock_expires_new_owner_gets_redelivery() {
    let _turn = timing_turn().await;
    test_session_lock_expires_new_owner_gets_redelivery(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_session_lock_expires_same_worker_reacquires() {
    let _turn = timing_turn().await;
    test_session_lock_expires_same_worker_reacquires(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_session_lock_renewal_extends_past_original_timeout() {
    let _turn = timing_turn().await;
    test_session_lock_renewal_extends_past_original_timeout(&Factory::new()).await;
}

// Custom status tests
use duroxide::provider_validations::custom_status::{
    test_custom_status_clear, test_custom_status_default_on_new_instance, test_custom_status_none_preserves,
    test_custom_status_nonexistent_instance, test_custom_status_polling_no_change, test_custom_status_set,
    test_custom_status_version_increments,
};

#[tokio::test]
async fn test_sqlite_custom_status_set() {
    let _turn = timing_turn().await;
    test_custom_status_set(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_custom_status_clear() {
    let _turn = timing_turn().await;
    test_custom_status_clear(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_custom_status_none_preserves() {
    let _turn = timing_turn().await;
    test_custom_status_none_preserves(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_custom_status_version_increments() {
    let _turn = timing_turn().await;
    test_custom_status_version_increments(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_custom_status_polling_no_change() {
    let _turn = timing_turn().await;
    test_custom_status_polling_no_change(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_custom_status_nonexistent_instance() {
    let _turn = timing_turn().await;
    test_custom_status_nonexistent_instance(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_custom_status_default_on_new_instance() {
    let _turn = timing_turn().await;
    test_custom_status_default_on_new_instance(&Factory::new()).await;
}

// Tag filtering tests
#[tokio::test]
async fn test_sqlite_tag_default_only_fetches_untagged() {
    let _turn = timing_turn().await;
    test_default_only_fetches_untagged(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_tag_tags_fetches_only_matching() {
    let _turn = timing_turn().await;
    test_tags_fetches_only_matching(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_tag_default_and_fetches_untagged_and_matching() {
    let _turn = timing_turn().await;
    test_default_and_fetches_untagged_and_matching(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_tag_none_filter_returns_nothing() {
    let _turn = timing_turn().await;
    test_none_filter_returns_nothing(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_tag_multi_tag_filter() {
    let _turn = timing_turn().await;
    test_multi_tag_filter(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_tag_round_trip_preservation() {
    let _turn = timing_turn().await;
    test_tag_round_trip_preservation(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_tag_any_filter_fetches_everything() {
    let _turn = timing_turn().await;
    test_any_filter_fetches_everything(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_tag_survives_abandon_and_refetch() {
    let _turn = timing_turn().await;
    test_tag_survives_abandon_and_refetch(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_tag_multi_runtime_isolation() {
    let _turn = timing_turn().await;
    test_multi_runtime_tag_isolation(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_tag_preserved_through_ack_orchestration_item() {
    let _turn = timing_turn().await;
    test_tag_preserved_through_ack_orchestration_item(&Factory::new()).await;
}

// KV store tests
use duroxide::provider_validations::kv_store::{
    test_kv_clear_all, test_kv_clear_isolation, test_kv_clear_nonexistent_key, test_kv_clear_single,
    test_kv_cross_execution_overwrite, test_kv_cross_execution_remove_readd, test_kv_delete_instance_cascades,
    test_kv_delete_instance_with_children, test_kv_empty_value, test_kv_execution_id_tracking,
    test_kv_get_nonexistent, test_kv_get_unknown_instance, test_kv_instance_isolation, test_kv_large_value,
    test_kv_overwrite, test_kv_prune_current_execution_protected, test_kv_prune_preserves_all_keys,
    test_kv_prune_preserves_overwritten, test_kv_set_after_clear, test_kv_set_and_get,
    test_kv_snapshot_after_clear_all, test_kv_snapshot_after_clear_single, test_kv_snapshot_cross_execution,
    test_kv_snapshot_empty, test_kv_snapshot_in_fetch, test_kv_special_chars_in_key,
};

#[tokio::test]
async fn test_sqlite_kv_set_and_get() {
    let _turn = timing_turn().await;
    test_kv_set_and_get(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_overwrite() {
    let _turn = timing_turn().await;
    test_kv_overwrite(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_clear_single() {
    let _turn = timing_turn().await;
    test_kv_clear_single(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_clear_all() {
    let _turn = timing_turn().await;
    test_kv_clear_all(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_get_nonexistent() {
    let _turn = timing_turn().await;
    test_kv_get_nonexistent(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_snapshot_in_fetch() {
    let _turn = timing_turn().await;
    test_kv_snapshot_in_fetch(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_snapshot_after_clear_single() {
    let _turn = timing_turn().await;
    test_kv_snapshot_after_clear_single(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_snapshot_after_clear_all() {
    let _turn = timing_turn().await;
    test_kv_snapshot_after_clear_all(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_execution_id_tracking() {
    let _turn = timing_turn().await;
    test_kv_execution_id_tracking(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_cross_execution_overwrite() {
    let _turn = timing_turn().await;
    test_kv_cross_execution_overwrite(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_cross_execution_remove_readd() {
    let _turn = timing_turn().await;
    test_kv_cross_execution_remove_readd(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_prune_preserves_overwritten() {
    let _turn = timing_turn().await;
    test_kv_prune_preserves_overwritten(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_prune_preserves_all_keys() {
    let _turn = timing_turn().await;
    test_kv_prune_preserves_all_keys(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_instance_isolation() {
    let _turn = timing_turn().await;
    test_kv_instance_isolation(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_delete_instance_cascades() {
    let _turn = timing_turn().await;
    test_kv_delete_instance_cascades(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_clear_nonexistent_key() {
    let _turn = timing_turn().await;
    test_kv_clear_nonexistent_key(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_get_unknown_instance() {
    let _turn = timing_turn().await;
    test_kv_get_unknown_instance(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_set_after_clear() {
    let _turn = timing_turn().await;
    test_kv_set_after_clear(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_empty_value() {
    let _turn = timing_turn().await;
    test_kv_empty_value(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_large_value() {
    let _turn = timing_turn().await;
    test_kv_large_value(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_special_chars_in_key() {
    let _turn = timing_turn().await;
    test_kv_special_chars_in_key(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_snapshot_empty() {
    let _turn = timing_turn().await;
    test_kv_snapshot_empty(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_snapshot_cross_execution() {
    let _turn = timing_turn().await;
    test_kv_snapshot_cross_execution(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_prune_current_execution_protected() {
    let _turn = timing_turn().await;
    test_kv_prune_current_execution_protected(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_delete_instance_with_children() {
    let _turn = timing_turn().await;
    test_kv_delete_instance_with_children(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_clear_isolation() {
    let _turn = timing_turn().await;
    test_kv_clear_isolation(&Factory::new()).await;
}

// KV delta tests (spec for kv_delta change)
use duroxide::provider_validations::kv_store::{
    test_kv_delta_clear_all_tombstones_store, test_kv_delta_client_reads_merged,
    test_kv_delta_delete_instance_cascades, test_kv_delta_merged_on_can, test_kv_delta_merged_on_completion,
    test_kv_delta_prune_untouched_key_survives, test_kv_delta_snapshot_excludes_current_execution,
    test_kv_delta_snapshot_includes_completed_execution, test_kv_delta_tombstone_overrides_store,
};

#[tokio::test]
async fn test_sqlite_kv_delta_snapshot_excludes_current_execution() {
    let _turn = timing_turn().await;
    test_kv_delta_snapshot_excludes_current_execution(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_delta_snapshot_includes_completed_execution() {
    let _turn = timing_turn().await;
    test_kv_delta_snapshot_includes_completed_execution(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_delta_client_reads_merged() {
    let _turn = timing_turn().await;
    test_kv_delta_client_reads_merged(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_delta_tombstone_overrides_store() {
    let _turn = timing_turn().await;
    test_kv_delta_tombstone_overrides_store(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_delta_clear_all_tombstones_store() {
    let _turn = timing_turn().await;
    test_kv_delta_clear_all_tombstones_store(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_delta_merged_on_completion() {
    let _turn = timing_turn().await;
    test_kv_delta_merged_on_completion(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_delta_merged_on_can() {
    let _turn = timing_turn().await;
    test_kv_delta_merged_on_can(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_delta_delete_instance_cascades() {
    let _turn = timing_turn().await;
    test_kv_delta_delete_instance_cascades(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_kv_delta_prune_untouched_key_survives() {
    let _turn = timing_turn().await;
    test_kv_delta_prune_untouched_key_survives(&Factory::new()).await;
}

// Two cases missing from the list above (upstream runs them in another module).

#[tokio::test]
async fn test_sqlite_atomicity_failure_rollback() {
    let _turn = timing_turn().await;
    test_atomicity_failure_rollback(&Factory::new()).await;
}

#[tokio::test]
async fn test_sqlite_fetch_filter_boundary_versions() {
    let _turn = timing_turn().await;
    // It needs a second store apart from the first.
    test_fetch_filter_boundary_versions(&FreshStores::like(Factory::new())).await;
}
