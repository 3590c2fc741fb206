//! Plans in Azure Blob Storage (the official `azure_storage_blob` SDK).
//!
//! Each revision is `{instanceId}/rev-{n}.json` (`application/json`) and `.md`
//! (`text/markdown; charset=utf-8`) with metadata (traveller, destination, created, demo).
//! Writes are create-only (`If-None-Match: *`): a retried save finds its own blob with the same
//! bytes and succeeds, a different plan under the same name is a conflict, never a clobber.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, RequestContent, RetryOptions, StatusCode, Transport, Url};
use azure_storage_blob::models::{BlobClientUploadOptions, BlobContainerClientListBlobsOptions};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use futures::TryStreamExt;
use travel_platform::azure::{CredentialChoice, PooledHttpClient};

use super::{PlanLocation, PlanStore, StoreError, document_names, documents};
use crate::plan::TripPlan;

/// How the store authenticates.
#[derive(Clone)]
pub enum BlobCredential {
    /// A SAS token (query string, with or without the leading `?`).
    Sas(String),
    /// A Microsoft Entra credential (needs https).
    Entra(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for BlobCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BlobCredential::Sas(_) => "Sas(<hidden>)",
            BlobCredential::Entra(_) => "Entra",
        })
    }
}

/// Where the plans go.
#[derive(Debug, Clone)]
pub struct BlobStoreConfig {
    /// The account's blob endpoint: `https://ACCOUNT.blob.core.windows.net`, Azurite's
    /// `http://127.0.0.1:10000/devstoreaccount1`, or a sovereign cloud's.
    pub endpoint: Url,
    pub container: String,
    pub credential: BlobCredential,
}

impl BlobStoreConfig {
    /// The default container name.
    pub const DEFAULT_CONTAINER: &'static str = "travel-plans";

    /// The endpoint of an account in the public cloud.
    pub fn account_endpoint(account: &str) -> Result<Url, StoreError> {
        Url::parse(&format!("https://{account}.blob.core.windows.net")).map_err(|e| {
            StoreError::Refused(format!("`{account}` is not a storage account name: {e}"))
        })
    }
}

/// How the blob store is to be reached, as the environment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSettings {
    pub endpoint: Url,
    pub container: String,
    pub auth: BlobAuth,
}

/// The credential the environment asks for.
#[derive(Clone, PartialEq, Eq)]
pub enum BlobAuth {
    Sas(String),
    Entra(CredentialChoice),
}

impl std::fmt::Debug for BlobAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobAuth::Sas(_) => f.write_str("Sas(<hidden>)"),
            BlobAuth::Entra(choice) => write!(f, "Entra({})", choice.describe()),
        }
    }
}

impl BlobSettings {
    /// Reads `AZURE_STORAGE_BLOB_ENDPOINT` (any URL: Azurite, sovereign clouds) or
    /// `AZURE_STORAGE_ACCOUNT`, `AZURE_STORAGE_CONTAINER`, and `AZURE_STORAGE_SAS_TOKEN` (else a
    /// Microsoft Entra credential chosen from the environment). `None` when no account is set.
    pub fn from_env_with(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, StoreError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let endpoint = match (
            get("AZURE_STORAGE_BLOB_ENDPOINT"),
            get("AZURE_STORAGE_ACCOUNT"),
        ) {
            (Some(endpoint), _) => Url::parse(&endpoint)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    StoreError::Refused(format!(
                        "AZURE_STORAGE_BLOB_ENDPOINT: `{endpoint}` is not an http(s) URL"
                    ))
                })?,
            (None, Some(account)) => BlobStoreConfig::account_endpoint(&account)?,
            (None, None) => return Ok(None),
        };
        let container = get("AZURE_STORAGE_CONTAINER")
            .unwrap_or_else(|| BlobStoreConfig::DEFAULT_CONTAINER.to_owned());
        let auth = match get("AZURE_STORAGE_SAS_TOKEN") {
            Some(token) => BlobAuth::Sas(token),
            None => BlobAuth::Entra(CredentialChoice::from_env_with(&var)),
        };
        Ok(Some(Self {
            endpoint,
            container,
            auth,
        }))
    }

    /// Builds the credential (logging which one, never the secret) and connects.
    pub async fn connect(self, http: reqwest::Client) -> Result<BlobPlanStore, StoreError> {
        let credential = match self.auth {
            BlobAuth::Sas(token) => {
                tracing::info!(container = %self.container, "Blob Storage authenticates with a SAS token");
                BlobCredential::Sas(token)
            }
            BlobAuth::Entra(choice) => {
                tracing::info!(container = %self.container, credential = %choice.describe(), "Blob Storage authenticates with Microsoft Entra");
                let credential = choice.build(http.clone()).map_err(|e| {
                    StoreError::Refused(format!(
                        "no Microsoft Entra credential ({}): {e}",
                        choice.describe()
                    ))
                })?;
                BlobCredential::Entra(credential)
            }
        };
        BlobPlanStore::connect(
            BlobStoreConfig {
                endpoint: self.endpoint,
                container: self.container,
                credential,
            },
            http,
        )
        .await
    }
}

/// The blob written (and deleted when allowed) at start-up to check the credential may write.
pub const WRITE_CHECK: &str = ".travel-planner-write-check";

/// Plans as blobs in one container.
pub struct BlobPlanStore {
    container: Arc<BlobContainerClient>,
    /// The container URL people see: no query string, no secret.
    public_url: String,
}

impl std::fmt::Debug for BlobPlanStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobPlanStore")
            .field("container", &self.public_url)
            .finish()
    }
}

impl BlobPlanStore {
    /// Connects and creates the container when missing (an existing one is fine). Fails with a
    /// message that says what to fix when the container cannot be reached.
    pub async fn connect(
        config: BlobStoreConfig,
        http: reqwest::Client,
    ) -> Result<Self, StoreError> {
        let mut url = config.endpoint.clone();
        url.set_query(None);
        url.path_segments_mut()
            .map_err(|_| {
                StoreError::Refused(format!("{} is not a usable endpoint URL", config.endpoint))
            })?
            .pop_if_empty()
            .push(&config.container);
        let public_url = url.to_string();
        let credential = match config.credential {
            BlobCredential::Sas(token) => {
                url.set_query(Some(token.trim_start_matches('?')));
                None
            }
            BlobCredential::Entra(credential) => Some(credential),
        };
        let options = BlobContainerClientOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(PooledHttpClient(http)))),
                // The workflow retries a failed save with durable back-off; one retry layer is enough.
                retry: RetryOptions::none(),
                ..Default::default()
            },
            ..Default::default()
        };
        let container = BlobContainerClient::new(url, credential, Some(options))
            .map_err(|e| StoreError::Refused(format!("{public_url}: {e}")))?;
        let store = Self {
            container: Arc::new(container),
            public_url,
        };
        match store.container.create(None).await {
            Ok(_) => tracing::info!(container = %store.public_url, "created the plan container"),
            Err(e) if e.http_status() == Some(StatusCode::Conflict) => {}
            // A credential scoped to blobs may not create containers; an existing one will do,
            // and a missing write permission then shows on the first save.
            Err(e)
                if e.http_status() == Some(StatusCode::Forbidden)
                    && store.container.exists().await.unwrap_or(false) =>
            {
                tracing::warn!(container = %store.public_url, "the credential may not create containers; using the existing one");
            }
            Err(e) => return Err(store.classify(e, "create or reach the container")),
        }
        store.check_writes().await?;
        Ok(store)
    }

    /// A credential that may read but not write would be found out only after the agents ran
    /// (paid calls for nothing): write a small blob now (always the same name, so at most one
    /// is ever left), and delete it when the credential may.
    async fn check_writes(&self) -> Result<(), StoreError> {
        let blob = self.container.blob_client(WRITE_CHECK);
        let options = BlobClientUploadOptions {
            blob_content_type: Some("text/plain".to_owned()),
            ..Default::default()
        };
        let bytes = b"travel-planner checks it may write here at start-up".to_vec();
        blob.upload(RequestContent::from(bytes), Some(options))
            .await
            .map_err(|e| self.classify(e, "write plans"))?;
        if let Err(e) = blob.delete(None).await {
            tracing::debug!(error = %e, "the write check's blob stays (no delete permission)");
        }
        Ok(())
    }

    /// The URL of a blob as shown to people: endpoint, container and name with `/` kept, no
    /// query string (the SDK's own `url()` encodes `/` and carries the SAS).
    pub fn blob_url(&self, name: &str) -> String {
        format!("{}/{name}", self.public_url.trim_end_matches('/'))
    }

    fn classify(&self, error: azure_core::Error, doing: &str) -> StoreError {
        let code = match error.kind() {
            ErrorKind::HttpResponse { error_code, .. } => error_code.clone(),
            _ => None,
        };
        let code_note = code
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        match error.http_status() {
            Some(StatusCode::Forbidden) => StoreError::Refused(format!(
                "could not {doing} at {}: access denied{code_note}. The credential needs permission to create the container and to read, write and list blobs: grant the `Storage Blob Data Contributor` role, or a SAS with permissions `rwlac` on the blob service",
                self.public_url
            )),
            Some(StatusCode::Unauthorized) => StoreError::Refused(format!(
                "could not {doing} at {}: the credential was not accepted{code_note}; check the SAS token or the Entra identity",
                self.public_url
            )),
            Some(status)
                if u16::from(status) >= 500
                    || status == StatusCode::RequestTimeout
                    || status == StatusCode::TooManyRequests =>
            {
                StoreError::Unavailable(format!(
                    "could not {doing} at {}: HTTP {}{code_note}",
                    self.public_url,
                    u16::from(status)
                ))
            }
            Some(status) => StoreError::Refused(format!(
                "could not {doing} at {}: HTTP {}{code_note}: {error}",
                self.public_url,
                u16::from(status)
            )),
            None => StoreError::Unavailable(format!(
                "could not {doing} at {}: {error}",
                self.public_url
            )),
        }
    }

    async fn write_once(
        &self,
        name: &str,
        bytes: Vec<u8>,
        content_type: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<String, StoreError> {
        let blob = self.container.blob_client(name);
        let options = BlobClientUploadOptions {
            blob_content_type: Some(content_type.to_owned()),
            metadata: Some(metadata.clone()),
            ..Default::default()
        }
        .if_not_exists();
        let mut result = blob
            .upload(RequestContent::from(bytes.clone()), Some(options.clone()))
            .await;
        if result
            .as_ref()
            .is_err_and(|e| e.http_status() == Some(StatusCode::NotFound))
        {
            // The container went away (deleted, or a storage emulator reset): make it again.
            tracing::warn!(container = %self.public_url, "the plan container is missing; creating it again");
            match self.container.create(None).await {
                Ok(_) => {}
                Err(e) if e.http_status() == Some(StatusCode::Conflict) => {}
                Err(e) => return Err(self.classify(e, "create the container")),
            }
            result = blob
                .upload(RequestContent::from(bytes.clone()), Some(options))
                .await;
        }
        match result {
            Ok(_) => Ok(self.blob_url(name)),
            Err(e) if e.http_status() == Some(StatusCode::Conflict) => {
                // Already there: the same bytes mean an earlier attempt of this very save.
                let existing = self.read(name).await?.unwrap_or_default();
                if existing == bytes {
                    Ok(self.blob_url(name))
                } else {
                    Err(StoreError::Conflict(self.blob_url(name)))
                }
            }
            Err(e) => Err(self.classify(e, &format!("write {name}"))),
        }
    }

    async fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.container.blob_client(name).download(None).await {
            Ok(response) => {
                let bytes = response
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.classify(e, &format!("read {name}")))?;
                Ok(Some(bytes.to_vec()))
            }
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => Ok(None),
            Err(e) => Err(self.classify(e, &format!("read {name}"))),
        }
    }

    /// The names of the blobs under `prefix`.
    async fn names_under(&self, prefix: String) -> Result<Vec<String>, StoreError> {
        let options = BlobContainerClientListBlobsOptions {
            prefix: Some(prefix),
            ..Default::default()
        };
        let mut pager = self
            .container
            .list_blobs(Some(options))
            .map_err(|e| self.classify(e, "list plans"))?;
        let mut names = Vec::new();
        while let Some(item) = pager
            .try_next()
            .await
            .map_err(|e| self.classify(e, "list plans"))?
        {
            names.extend(item.name);
        }
        Ok(names)
    }

    async fn latest_revision(&self, instance_id: &str) -> Result<Option<u32>, StoreError> {
        let prefix = format!("{instance_id}/rev-");
        let names = self.names_under(prefix.clone()).await?;
        Ok(names
            .iter()
            .filter_map(|n| n.strip_prefix(&prefix))
            .filter_map(|n| n.strip_suffix(".json"))
            .filter_map(|n| n.parse::<u32>().ok())
            .max())
    }
}

/// Blob metadata of a plan. Headers carry ASCII only, so every value is percent-encoded as
/// RFC 3986 asks (spaces `%20`, `+` as `%2B`); decode them with any URL decoder.
fn metadata(plan: &TripPlan) -> HashMap<String, String> {
    let encode = travel_platform::http::percent_encode;
    HashMap::from([
        ("instanceid".to_owned(), plan.instance_id.clone()),
        ("revision".to_owned(), plan.revision.to_string()),
        ("traveler".to_owned(), encode(&plan.request.traveller_name)),
        (
            "destination".to_owned(),
            encode(&format!(
                "{}, {}",
                plan.destination.name, plan.destination.country
            )),
        ),
        ("created".to_owned(), encode(&plan.created_at.to_rfc3339())),
        ("demo".to_owned(), plan.demo.to_string()),
    ])
}

#[async_trait]
impl PlanStore for BlobPlanStore {
    async fn save(&self, plan: &TripPlan) -> Result<PlanLocation, StoreError> {
        let (json, markdown) = documents(plan);
        let (json_name, md_name) = document_names(&plan.instance_id, plan.revision);
        let metadata = metadata(plan);
        Ok(PlanLocation {
            json: self
                .write_once(&json_name, json, "application/json", &metadata)
                .await?,
            markdown: self
                .write_once(
                    &md_name,
                    markdown,
                    "text/markdown; charset=utf-8",
                    &metadata,
                )
                .await?,
        })
    }

    async fn load(
        &self,
        instance_id: &str,
        revision: Option<u32>,
    ) -> Result<Option<TripPlan>, StoreError> {
        let revision = match revision {
            Some(r) => r,
            None => match self.latest_revision(instance_id).await? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        let name = document_names(instance_id, revision).0;
        match self.read(&name).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", self.blob_url(&name)))),
            None => Ok(None),
        }
    }

    fn describe(&self) -> String {
        format!("Azure Blob container {}", self.public_url)
    }

    async fn delete(&self, instance_id: &str) -> Result<u32, StoreError> {
        let names = self.names_under(format!("{instance_id}/")).await?;
        for name in &names {
            match self.container.blob_client(name).delete(None).await {
                Ok(_) => {}
                // Deleted meanwhile (a purge retried): what was asked for is done.
                Err(e) if e.http_status() == Some(StatusCode::NotFound) => {}
                Err(e) => return Err(self.classify(e, &format!("delete {name}"))),
            }
        }
        Ok(names.len() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<BlobSettings>, StoreError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BlobSettings::from_env_with(|n| map.get(n).cloned())
    }

    #[test]
    fn no_account_means_no_blob_store() {
        assert_eq!(settings(&[]).unwrap(), None);
    }

    #[test]
    fn an_account_name_means_the_public_cloud_and_the_default_container() {
        let s = settings(&[
            ("AZURE_STORAGE_ACCOUNT", "tripsprod"),
            ("AZURE_STORAGE_SAS_TOKEN", "?sv=1&sig=x"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            s.endpoint.as_str(),
            "https://tripsprod.blob.core.windows.net/"
        );
        assert_eq!(s.container, "travel-plans");
        assert_eq!(s.auth, BlobAuth::Sas("?sv=1&sig=x".into()));
        assert!(
            !format!("{s:?}").contains("sig=x"),
            "the SAS is never printed"
        );
    }

    #[test]
    fn any_endpoint_url_works_and_entra_is_chosen_without_a_sas() {
        let s = settings(&[
            (
                "AZURE_STORAGE_BLOB_ENDPOINT",
                "https://acct.blob.core.chinacloudapi.cn",
            ),
            ("AZURE_STORAGE_ACCOUNT", "ignored"),
            ("AZURE_STORAGE_CONTAINER", "plans"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            s.endpoint.host_str(),
            Some("acct.blob.core.chinacloudapi.cn")
        );
        assert_eq!(s.container, "plans");
        assert_eq!(
            s.auth,
            BlobAuth::Entra(CredentialChoice::WorkloadIdentity {
                token_file: "/var/run/token".into()
            })
        );
        let managed = settings(&[
            ("AZURE_STORAGE_ACCOUNT", "a"),
            ("IDENTITY_ENDPOINT", "http://169.254.169.254"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            managed.auth,
            BlobAuth::Entra(CredentialChoice::ManagedIdentity { client_id: None })
        );
        let developer = settings(&[("AZURE_STORAGE_ACCOUNT", "a")])
            .unwrap()
            .unwrap();
        assert_eq!(
            developer.auth,
            BlobAuth::Entra(CredentialChoice::DeveloperTools)
        );
    }

    #[test]
    fn a_bad_endpoint_is_refused_clearly() {
        let err = settings(&[("AZURE_STORAGE_BLOB_ENDPOINT", "ftp://x")]).unwrap_err();
        assert!(
            err.to_string().contains("AZURE_STORAGE_BLOB_ENDPOINT"),
            "{err}"
        );
    }
}
