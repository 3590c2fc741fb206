//! duroxide's management view (`ProviderAdmin`) of a store on a Durable Task scheduler: the
//! instances are the scheduler's (`QueryInstances`, `GetInstance`, `PurgeInstances`), their
//! state and history duroxide's own (the journal), so that duroxide's client and this view agree.
//! What the protocol cannot tell: queue depths (an error says so); what it does not have:
//! sub-orchestrations here, several executions of one instance.

use async_trait::async_trait;
use duroxide::providers::{
    DeleteInstanceResult, ExecutionInfo, InstanceFilter, InstanceInfo, ProviderAdmin,
    ProviderError, PruneOptions, PruneResult, QueueDepths, SystemMetrics,
};
use duroxide::{Event, EventKind};
use travel_durable_task::protocol::{
    InstanceQuery, OrchestrationState, OrchestrationStatus, QueryInstancesRequest,
};

use super::from_scheduler;
use super::journal::End;
use super::provider::DurableTaskProvider;
use super::provider::protocol;

/// Instances asked for per page.
const PAGE: i32 = 500;

fn millis(at: Option<&prost_types::Timestamp>) -> u64 {
    at.map(from_scheduler::millis).unwrap_or_default()
}

/// duroxide's status of a history: "Running", "Completed" or "Failed", with the output or error.
fn status_of(history: &[Event]) -> (&'static str, Option<String>) {
    match End::of(history) {
        Some(End::Completed(output)) => ("Completed", Some(output)),
        Some(End::Failed(details)) => ("Failed", Some(details.display_message())),
        None => ("Running", None),
    }
}

/// The scheduler's statuses that duroxide calls `status`.
fn scheduler_statuses(status: &str) -> Option<Vec<i32>> {
    let statuses = match status {
        "Running" => vec![
            OrchestrationStatus::Running,
            OrchestrationStatus::Pending,
            OrchestrationStatus::Suspended,
            OrchestrationStatus::ContinuedAsNew,
        ],
        "Completed" => vec![OrchestrationStatus::Completed],
        "Failed" => vec![
            OrchestrationStatus::Failed,
            OrchestrationStatus::Terminated,
            OrchestrationStatus::Canceled,
        ],
        _ => return None,
    };
    Some(statuses.into_iter().map(|s| s as i32).collect())
}

impl DurableTaskProvider {
    /// Every instance of the task hub the query selects, page after page.
    async fn instances(
        &self,
        operation: &str,
        statuses: Vec<i32>,
    ) -> Result<Vec<OrchestrationState>, ProviderError> {
        let mut found = Vec::new();
        let mut continuation = None;
        loop {
            let page = self
                .scheduler()
                .query(QueryInstancesRequest {
                    query: Some(InstanceQuery {
                        runtime_status: statuses.clone(),
                        max_instance_count: PAGE,
                        continuation_token: continuation.take(),
                        ..Default::default()
                    }),
                })
                .await
                .map_err(|e| protocol(operation, e))?;
            let full = page.orchestration_state.len() as i32 >= PAGE;
            found.extend(page.orchestration_state);
            match page.continuation_token.filter(|t| !t.is_empty()) {
                Some(token) if full => continuation = Some(token),
                _ => return Ok(found),
            }
        }
    }

    /// The scheduler's state of an instance, or duroxide's "not found".
    async fn state(
        &self,
        operation: &str,
        instance: &str,
    ) -> Result<OrchestrationState, ProviderError> {
        self.scheduler()
            .instance(instance, true)
            .await
            .map_err(|e| protocol(operation, e))?
            .ok_or_else(|| {
                ProviderError::permanent(operation, format!("Instance not found: {instance}"))
            })
    }
}

fn terminal(state: &OrchestrationState) -> bool {
    [
        OrchestrationStatus::Completed,
        OrchestrationStatus::Failed,
        OrchestrationStatus::Terminated,
        OrchestrationStatus::Canceled,
    ]
    .iter()
    .any(|s| *s as i32 == state.orchestration_status)
}

#[async_trait]
impl ProviderAdmin for DurableTaskProvider {
    async fn list_instances(&self) -> Result<Vec<String>, ProviderError> {
        Ok(self
            .instances("list_instances", Vec::new())
            .await?
            .into_iter()
            .map(|s| s.instance_id)
            .collect())
    }

    async fn list_instances_by_status(&self, status: &str) -> Result<Vec<String>, ProviderError> {
        let Some(statuses) = scheduler_statuses(status) else {
            return Ok(Vec::new());
        };
        Ok(self
            .instances("list_instances_by_status", statuses)
            .await?
            .into_iter()
            .map(|s| s.instance_id)
            .collect())
    }

    async fn list_executions(&self, instance: &str) -> Result<Vec<u64>, ProviderError> {
        let exists = self
            .scheduler()
            .instance(instance, false)
            .await
            .map_err(|e| protocol("list_executions", e))?
            .is_some();
        Ok(if exists { vec![1] } else { Vec::new() })
    }

    async fn read_history_with_execution_id(
        &self,
        instance: &str,
        execution_id: u64,
    ) -> Result<Vec<Event>, ProviderError> {
        duroxide::providers::Provider::read_with_execution(self, instance, execution_id).await
    }

    async fn read_history(&self, instance: &str) -> Result<Vec<Event>, ProviderError> {
        duroxide::providers::Provider::read(self, instance).await
    }

    async fn latest_execution_id(&self, instance: &str) -> Result<u64, ProviderError> {
        self.state("latest_execution_id", instance).await.map(|_| 1)
    }

    async fn get_instance_info(&self, instance: &str) -> Result<InstanceInfo, ProviderError> {
        let state = self.state("get_instance_info", instance).await?;
        let history = self.read_history(instance).await?;
        let (status, output) = status_of(&history);
        let (name, version) = history
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::OrchestrationStarted { name, version, .. } => {
                    Some((name.clone(), version.clone()))
                }
                _ => None,
            })
            .unwrap_or_else(|| {
                (
                    state.name.clone(),
                    state.version.clone().unwrap_or_default(),
                )
            });
        Ok(InstanceInfo {
            instance_id: instance.to_owned(),
            orchestration_name: name,
            orchestration_version: version,
            current_execution_id: 1,
            status: status.to_owned(),
            output,
            created_at: millis(state.created_timestamp.as_ref()),
            updated_at: millis(state.last_updated_timestamp.as_ref()),
            parent_instance_id: None,
        })
    }

    async fn get_execution_info(
        &self,
        instance: &str,
        execution_id: u64,
    ) -> Result<ExecutionInfo, ProviderError> {
        let history = self
            .read_history_with_execution_id(instance, execution_id)
            .await?;
        if history.is_empty() {
            return Err(ProviderError::permanent(
                "get_execution_info",
                format!("Execution {execution_id} of {instance} not found"),
            ));
        }
        let (status, output) = status_of(&history);
        Ok(ExecutionInfo {
            execution_id,
            status: status.to_owned(),
            output,
            started_at: history.first().map(|e| e.timestamp_ms).unwrap_or_default(),
            completed_at: (status != "Running")
                .then(|| history.last().map(|e| e.timestamp_ms))
                .flatten(),
            event_count: history.len(),
        })
    }

    /// Counted from the scheduler's statuses (which say an instance ended one dispatch after
    /// duroxide does); the events are not counted (it would take every history).
    async fn get_system_metrics(&self) -> Result<SystemMetrics, ProviderError> {
        let all = self.instances("get_system_metrics", Vec::new()).await?;
        let count = |status: &str| {
            let statuses = scheduler_statuses(status).unwrap_or_default();
            all.iter()
                .filter(|s| statuses.contains(&s.orchestration_status))
                .count() as u64
        };
        Ok(SystemMetrics {
            total_instances: all.len() as u64,
            total_executions: all.len() as u64,
            running_instances: count("Running"),
            completed_instances: count("Completed"),
            failed_instances: count("Failed"),
            total_events: 0,
        })
    }

    async fn get_queue_depths(&self) -> Result<QueueDepths, ProviderError> {
        Err(ProviderError::permanent(
            "get_queue_depths",
            "a Durable Task scheduler does not tell its queue depths",
        ))
    }

    async fn list_children(&self, _instance_id: &str) -> Result<Vec<String>, ProviderError> {
        Ok(Vec::new())
    }

    async fn get_parent_id(&self, _instance_id: &str) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    /// Purges each instance; a running one only with `force`, stopped first (its worker ends
    /// it, then it is purged).
    async fn delete_instances_atomic(
        &self,
        ids: &[String],
        force: bool,
    ) -> Result<DeleteInstanceResult, ProviderError> {
        const OPERATION: &str = "delete_instances_atomic";
        let mut states = Vec::new();
        for id in ids {
            match self.scheduler().instance(id, false).await {
                Ok(Some(state)) => states.push(state),
                Ok(None) => {}
                Err(e) => return Err(protocol(OPERATION, e)),
            }
        }
        if !force && let Some(running) = states.iter().find(|s| !terminal(s)) {
            return Err(ProviderError::permanent(
                OPERATION,
                format!(
                    "Instance {} is still running; delete it with force",
                    running.instance_id
                ),
            ));
        }
        let mut result = DeleteInstanceResult::default();
        for state in states {
            let id = &state.instance_id;
            if !terminal(&state) {
                self.scheduler()
                    .terminate(id, "deleted")
                    .await
                    .map_err(|e| protocol(OPERATION, e))?;
                self.scheduler()
                    .wait_for_completion(id)
                    .await
                    .map_err(|e| protocol(OPERATION, e))?;
            }
            let purged = self
                .scheduler()
                .purge(id)
                .await
                .map_err(|e| protocol(OPERATION, e))?;
            result.instances_deleted += u64::from(purged);
            result.executions_deleted += u64::from(purged);
        }
        Ok(result)
    }

    async fn delete_instance_bulk(
        &self,
        filter: InstanceFilter,
    ) -> Result<DeleteInstanceResult, ProviderError> {
        let ended = self
            .instances(
                "delete_instance_bulk",
                [
                    scheduler_statuses("Completed"),
                    scheduler_statuses("Failed"),
                ]
                .into_iter()
                .flatten()
                .flatten()
                .collect(),
            )
            .await?;
        let mut ids: Vec<String> = ended
            .iter()
            .filter(|s| {
                filter
                    .instance_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&s.instance_id))
            })
            .filter(|s| {
                filter
                    .completed_before
                    .is_none_or(|before| millis(s.completed_timestamp.as_ref()) < before)
            })
            .map(|s| s.instance_id.clone())
            .collect();
        if let Some(limit) = filter.limit {
            ids.truncate(limit as usize);
        }
        self.delete_instances_atomic(&ids, false).await
    }

    /// One execution per instance here: nothing to prune.
    async fn prune_executions(
        &self,
        _instance_id: &str,
        _options: PruneOptions,
    ) -> Result<PruneResult, ProviderError> {
        Ok(PruneResult {
            instances_processed: 1,
            ..Default::default()
        })
    }

    async fn prune_executions_bulk(
        &self,
        filter: InstanceFilter,
        _options: PruneOptions,
    ) -> Result<PruneResult, ProviderError> {
        let processed = match filter.instance_ids {
            Some(ids) => ids.len(),
            None => self.list_instances().await?.len(),
        };
        Ok(PruneResult {
            instances_processed: processed as u64,
            ..Default::default()
        })
    }
}
