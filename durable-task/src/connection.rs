//! One connection to a scheduler, and every call this project makes on it. Each call carries
//! what the official SDKs send (read in `durabletask-azuremanaged` 1.12.0's interceptor): the
//! task hub (`taskhub`), who is calling (`x-user-agent`; `user-agent` is gRPC's own), this
//! process as a worker (`workerid`), and, to a scheduler over https, a Microsoft Entra token for
//! `https://durabletask.io/.default`.

use std::time::Duration;

use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use travel_platform::azure::{CredentialChoice, EntraTokenSource};

use crate::protocol::task_hub_sidecar_service_client::TaskHubSidecarServiceClient as Sidecar;
use crate::protocol::{
    AbandonActivityTaskRequest, AbandonOrchestrationTaskRequest, ActivityResponse,
    CreateInstanceRequest, GetInstanceRequest, GetWorkItemsRequest, HistoryEvent,
    OrchestrationState, OrchestratorResponse, PurgeInstancesRequest, QueryInstancesRequest,
    QueryInstancesResponse, RaiseEventRequest, StreamInstanceHistoryRequest, TerminateRequest,
    WorkItem, purge_instances_request,
};
use crate::settings::SchedulerSettings;

/// The token audience of the Durable Task Scheduler.
pub const SCHEDULER_SCOPE: &str = "https://durabletask.io/.default";

/// Who is calling, as the scheduler's logs show it.
/// The longest [`Connection::wait_for_completion`] waits.
pub const WAIT_FOR_COMPLETION_AT_MOST: std::time::Duration = std::time::Duration::from_secs(60);

const USER_AGENT: &str = concat!("travel-planner/", env!("CARGO_PKG_VERSION"));

/// The largest message taken (whole histories come in one work item).
const LARGEST_MESSAGE: usize = 64 * 1024 * 1024;

/// Why a call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("the scheduler's address cannot be used: {0}")]
    Address(String),
    #[error("signing in to the scheduler ({choice}): {message}")]
    SignIn { choice: String, message: String },
    #[error("no instance `{0}` in the task hub")]
    NotFound(String),
    #[error("an instance `{0}` exists already")]
    AlreadyExists(String),
    #[error("the scheduler cannot be reached: {0}")]
    Unavailable(String),
    #[error("the scheduler answered {code:?}: {message}")]
    Refused { code: tonic::Code, message: String },
}

impl ProtocolError {
    fn from_status(status: tonic::Status, instance: &str) -> Self {
        match status.code() {
            tonic::Code::NotFound => Self::NotFound(instance.to_owned()),
            tonic::Code::AlreadyExists => Self::AlreadyExists(instance.to_owned()),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
                Self::Unavailable(status.message().to_owned())
            }
            code => Self::Refused {
                code,
                message: status.message().to_owned(),
            },
        }
    }

    /// Worth trying again later (the scheduler was not reached, or not in time).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A connection to one task hub of one scheduler (cheap to clone: clones share it).
#[derive(Clone)]
pub struct Connection {
    sidecar: Sidecar<Channel>,
    task_hub: AsciiMetadataValue,
    worker_id: AsciiMetadataValue,
    tokens: Option<(EntraTokenSource, String)>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("task_hub", &self.task_hub)
            .field("worker_id", &self.worker_id)
            .field("signs_in", &self.tokens.is_some())
            .finish()
    }
}

impl Connection {
    /// Connects (lazily: the first call dials) to the scheduler `settings` name, signing in
    /// with `credential` over https.
    pub fn open(
        settings: &SchedulerSettings,
        credential: &CredentialChoice,
    ) -> Result<Self, ProtocolError> {
        let address = |e: &dyn std::fmt::Display| ProtocolError::Address(e.to_string());
        let mut endpoint = Endpoint::from_shared(settings.endpoint.to_string())
            .map_err(|e| address(&e))?
            .user_agent(USER_AGENT)
            .map_err(|e| address(&e))?
            // No HTTP/2 keep-alive pings: gRPC servers refuse a client that pings more often
            // than every five minutes ("too many pings"); a silent stream is noticed by what it
            // does not deliver instead, as the official SDKs do.
            .connect_timeout(Duration::from_secs(10));
        let tokens = if settings.signs_in() {
            travel_platform::http::install_tls_provider();
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_webpki_roots())
                .map_err(|e| address(&e))?;
            let built = credential
                .build(travel_platform::http::shared_client())
                .map_err(|e| ProtocolError::SignIn {
                    choice: credential.describe(),
                    message: e.to_string(),
                })?;
            Some((
                EntraTokenSource::new(built, SCHEDULER_SCOPE),
                credential.describe(),
            ))
        } else {
            None
        };
        let sidecar = Sidecar::new(endpoint.connect_lazy())
            .max_decoding_message_size(LARGEST_MESSAGE)
            .max_encoding_message_size(LARGEST_MESSAGE);
        let worker_id = format!(
            "{}:{}:{}",
            hostname(),
            std::process::id(),
            travel_platform::secret::random_hex(8)
        );
        Ok(Self {
            sidecar,
            task_hub: MetadataValue::try_from(settings.task_hub.as_str())
                .map_err(|e| address(&e))?,
            worker_id: MetadataValue::try_from(worker_id.as_str()).map_err(|e| address(&e))?,
            tokens,
        })
    }

    /// `message` with the metadata every call carries.
    async fn request<T>(&self, message: T) -> Result<tonic::Request<T>, ProtocolError> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        metadata.insert("taskhub", self.task_hub.clone());
        metadata.insert("x-user-agent", AsciiMetadataValue::from_static(USER_AGENT));
        metadata.insert("workerid", self.worker_id.clone());
        if let Some((tokens, choice)) = &self.tokens {
            let failed = |message: String| ProtocolError::SignIn {
                choice: choice.clone(),
                message,
            };
            let token = tokens.token().await.map_err(|e| failed(e.to_string()))?;
            let bearer = MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|e| failed(e.to_string()))?;
            metadata.insert("authorization", bearer);
        }
        Ok(request)
    }

    fn sidecar(&self) -> Sidecar<Channel> {
        self.sidecar.clone()
    }

    /// Checks that the scheduler answers (and, over https, that it takes the token).
    pub async fn hello(&self) -> Result<(), ProtocolError> {
        let request = self.request(()).await?;
        self.sidecar()
            .hello(request)
            .await
            .map_err(|s| ProtocolError::from_status(s, ""))?;
        Ok(())
    }

    // --- The client's calls -----------------------------------------------------------------

    /// Starts an instance; [`ProtocolError::AlreadyExists`] when its id is taken.
    pub async fn start(&self, instance: CreateInstanceRequest) -> Result<String, ProtocolError> {
        let id = instance.instance_id.clone();
        let request = self.request(instance).await?;
        let created = self
            .sidecar()
            .start_instance(request)
            .await
            .map_err(|s| ProtocolError::from_status(s, &id))?;
        Ok(created.into_inner().instance_id)
    }

    /// An instance's state (its input, output and custom status too with `payloads`); `None`
    /// when there is no such instance.
    pub async fn instance(
        &self,
        instance_id: &str,
        payloads: bool,
    ) -> Result<Option<OrchestrationState>, ProtocolError> {
        let request = self
            .request(GetInstanceRequest {
                instance_id: instance_id.to_owned(),
                get_inputs_and_outputs: payloads,
            })
            .await?;
        let found = match self.sidecar().get_instance(request).await {
            Ok(found) => found.into_inner(),
            Err(status) if status.code() == tonic::Code::NotFound => return Ok(None),
            Err(status) => return Err(ProtocolError::from_status(status, instance_id)),
        };
        Ok(found.exists.then_some(found.orchestration_state).flatten())
    }

    /// Waits for the instance to finish, up to [`WAIT_FOR_COMPLETION_AT_MOST`] (then an error).
    pub async fn wait_for_completion(
        &self,
        instance_id: &str,
    ) -> Result<Option<OrchestrationState>, ProtocolError> {
        let mut request = self
            .request(GetInstanceRequest {
                instance_id: instance_id.to_owned(),
                get_inputs_and_outputs: true,
            })
            .await?;
        // A deadline, as the official clients send one: without it the Python backend waits
        // "forever", which it cannot (`timestamp out of range for platform time_t`, seen).
        request.set_timeout(WAIT_FOR_COMPLETION_AT_MOST);
        let found = self
            .sidecar()
            .wait_for_instance_completion(request)
            .await
            .map_err(|s| ProtocolError::from_status(s, instance_id))?
            .into_inner();
        Ok(found.exists.then_some(found.orchestration_state).flatten())
    }

    /// Sends the event `name` with `input` to a running instance.
    pub async fn raise_event(
        &self,
        instance_id: &str,
        name: &str,
        input: Option<String>,
    ) -> Result<(), ProtocolError> {
        let request = self
            .request(RaiseEventRequest {
                instance_id: instance_id.to_owned(),
                name: name.to_owned(),
                input,
            })
            .await?;
        self.sidecar()
            .raise_event(request)
            .await
            .map_err(|s| ProtocolError::from_status(s, instance_id))?;
        Ok(())
    }

    /// Asks the instance's worker to stop it, saying `reason`.
    pub async fn terminate(&self, instance_id: &str, reason: &str) -> Result<(), ProtocolError> {
        let request = self
            .request(TerminateRequest {
                instance_id: instance_id.to_owned(),
                output: Some(reason.to_owned()),
                recursive: false,
            })
            .await?;
        self.sidecar()
            .terminate_instance(request)
            .await
            .map_err(|s| ProtocolError::from_status(s, instance_id))?;
        Ok(())
    }

    /// Deletes a finished instance and its history; answers how many were deleted (0 or 1).
    pub async fn purge(&self, instance_id: &str) -> Result<u32, ProtocolError> {
        let request = self
            .request(PurgeInstancesRequest {
                request: Some(purge_instances_request::Request::InstanceId(
                    instance_id.to_owned(),
                )),
                recursive: false,
                is_orchestration: true,
            })
            .await?;
        let purged = self
            .sidecar()
            .purge_instances(request)
            .await
            .map_err(|s| ProtocolError::from_status(s, instance_id))?;
        Ok(purged.into_inner().deleted_instance_count.max(0) as u32)
    }

    /// One page of the instances `query` selects.
    pub async fn query(
        &self,
        query: QueryInstancesRequest,
    ) -> Result<QueryInstancesResponse, ProtocolError> {
        let request = self.request(query).await?;
        Ok(self
            .sidecar()
            .query_instances(request)
            .await
            .map_err(|s| ProtocolError::from_status(s, ""))?
            .into_inner())
    }

    /// An instance's whole history, as the scheduler keeps it.
    pub async fn history(&self, instance_id: &str) -> Result<Vec<HistoryEvent>, ProtocolError> {
        let request = self
            .request(StreamInstanceHistoryRequest {
                instance_id: instance_id.to_owned(),
                execution_id: None,
                for_work_item_processing: false,
            })
            .await?;
        let failed = |s| ProtocolError::from_status(s, instance_id);
        let mut chunks = self
            .sidecar()
            .stream_instance_history(request)
            .await
            .map_err(failed)?
            .into_inner();
        let mut events = Vec::new();
        while let Some(chunk) = chunks.message().await.map_err(failed)? {
            events.extend(chunk.events);
        }
        Ok(events)
    }

    // --- The worker's calls -----------------------------------------------------------------

    /// The work this worker is given (orchestrator turns, activities, health pings), read by a
    /// task of its own into a queue of `capacity` items until the stream ends or fails (then
    /// the queue says why and closes). A task, because a server may answer the call only with
    /// its first work item (the Python test backend does): the stream is open before that.
    pub fn work_items(&self, ask: GetWorkItemsRequest, capacity: usize) -> WorkItems {
        let (sender, receiver) = tokio::sync::mpsc::channel(capacity.max(1));
        let connection = self.clone();
        let reader = tokio::spawn(async move {
            let opened = async {
                let request = connection.request(ask).await?;
                connection
                    .sidecar()
                    .get_work_items(request)
                    .await
                    .map_err(|s| ProtocolError::from_status(s, ""))
            };
            let mut stream = match opened.await {
                Ok(opened) => opened.into_inner(),
                Err(e) => {
                    let _ = sender.send(Err(e)).await;
                    return;
                }
            };
            loop {
                let next = match stream.message().await {
                    Ok(Some(item)) => Ok(item),
                    Ok(None) => Err(ProtocolError::Unavailable("the work stream ended".into())),
                    Err(status) => Err(ProtocolError::from_status(status, "")),
                };
                let ended = next.is_err();
                if sender.send(next).await.is_err() || ended {
                    return;
                }
            }
        });
        WorkItems { receiver, reader }
    }

    /// Records an orchestrator turn: its actions, its custom status, or its end.
    pub async fn complete_turn(&self, turn: OrchestratorResponse) -> Result<(), ProtocolError> {
        let id = turn.instance_id.clone();
        let request = self.request(turn).await?;
        self.sidecar()
            .complete_orchestrator_task(request)
            .await
            .map_err(|s| ProtocolError::from_status(s, &id))?;
        Ok(())
    }

    /// Records an activity's result or failure.
    pub async fn complete_activity(&self, done: ActivityResponse) -> Result<(), ProtocolError> {
        let id = done.instance_id.clone();
        let request = self.request(done).await?;
        self.sidecar()
            .complete_activity_task(request)
            .await
            .map_err(|s| ProtocolError::from_status(s, &id))?;
        Ok(())
    }

    /// Hands an orchestrator turn back, to be given again.
    pub async fn abandon_turn(&self, completion_token: &str) -> Result<(), ProtocolError> {
        let request = self
            .request(AbandonOrchestrationTaskRequest {
                completion_token: completion_token.to_owned(),
            })
            .await?;
        self.sidecar()
            .abandon_task_orchestrator_work_item(request)
            .await
            .map_err(|s| ProtocolError::from_status(s, ""))?;
        Ok(())
    }

    /// Hands an activity back, to be given again.
    pub async fn abandon_activity(&self, completion_token: &str) -> Result<(), ProtocolError> {
        let request = self
            .request(AbandonActivityTaskRequest {
                completion_token: completion_token.to_owned(),
            })
            .await?;
        self.sidecar()
            .abandon_task_activity_work_item(request)
            .await
            .map_err(|s| ProtocolError::from_status(s, ""))?;
        Ok(())
    }
}

/// The work items of one stream, in the order the scheduler sent them.
pub struct WorkItems {
    receiver: tokio::sync::mpsc::Receiver<Result<WorkItem, ProtocolError>>,
    reader: tokio::task::JoinHandle<()>,
}

impl WorkItems {
    /// The next work item; an error once the stream has failed or ended.
    pub async fn next(&mut self) -> Result<WorkItem, ProtocolError> {
        self.receiver
            .recv()
            .await
            .unwrap_or_else(|| Err(ProtocolError::Unavailable("the work stream ended".into())))
    }
}

impl Drop for WorkItems {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// This machine's name, for the worker id (`HOSTNAME`, else `/etc/hostname`).
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty() && name.is_ascii())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str, task_hub: Option<&str>) -> SchedulerSettings {
        SchedulerSettings::from_env_with(|name| match name {
            "DURABLE_TASK_ENDPOINT" => Some(endpoint.to_owned()),
            "DURABLE_TASK_HUB" => task_hub.map(str::to_owned),
            _ => None,
        })
        .unwrap()
        .unwrap()
    }

    #[tokio::test]
    async fn every_call_names_the_task_hub_and_the_caller_and_a_loopback_backend_gets_no_token() {
        let local = Connection::open(
            &settings("http://127.0.0.1:4001", Some("trips")),
            &CredentialChoice::DeveloperTools,
        )
        .unwrap();
        let request = local.request(()).await.unwrap();
        let metadata = request.metadata();
        assert_eq!(metadata.get("taskhub").unwrap(), "trips");
        assert!(
            metadata
                .get("x-user-agent")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("travel-planner/")
        );
        let worker = metadata.get("workerid").unwrap().to_str().unwrap();
        assert_eq!(worker.split(':').count(), 3, "{worker}");
        assert!(metadata.get("authorization").is_none());
    }

    #[tokio::test]
    async fn a_scheduler_over_https_is_asked_with_a_token_for_its_audience() {
        // No developer tools signed in here: the token cannot be had, and the call says so
        // before anything is sent.
        let remote = Connection::open(
            &settings("https://trips-abc.westeurope.durabletask.io", Some("trips")),
            &CredentialChoice::DeveloperTools,
        )
        .unwrap();
        match remote.request(()).await {
            Err(ProtocolError::SignIn { choice, .. }) => {
                assert_eq!(choice, CredentialChoice::DeveloperTools.describe())
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(SCHEDULER_SCOPE, "https://durabletask.io/.default");
    }
}
