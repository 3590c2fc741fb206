//! Where plans are kept. The workflow saves through [`PlanStore`]; the default writes under the
//! data folder ([`LocalPlanStore`]), Azure Blob Storage is the other implementation
//! ([`BlobPlanStore`]).

use std::path::PathBuf;

use async_trait::async_trait;

use crate::plan::TripPlan;

mod azure_blob;
pub use azure_blob::{BlobAuth, BlobCredential, BlobPlanStore, BlobSettings, BlobStoreConfig};

pub use crate::progress::PlanLocation;

/// Why a plan could not be saved or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Worth retrying: the store may be back later.
    #[error("the plan store is unavailable: {0}")]
    Unavailable(String),
    /// Retrying will not help (missing permission, bad configuration).
    #[error("the plan store refused: {0}")]
    Refused(String),
    /// A different plan already has that instance and revision.
    #[error("{0} already holds a different plan")]
    Conflict(String),
    #[error("a stored plan is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Saves plan revisions as JSON and Markdown, idempotently: saving the same revision again
/// writes the same names with the same bytes.
#[async_trait]
pub trait PlanStore: Send + Sync + std::fmt::Debug {
    async fn save(&self, plan: &TripPlan) -> Result<PlanLocation, StoreError>;
    /// The revision asked for, or the latest when `None`.
    async fn load(
        &self,
        instance_id: &str,
        revision: Option<u32>,
    ) -> Result<Option<TripPlan>, StoreError>;
    /// A name for logs ("local folder ./data/plans").
    fn describe(&self) -> String;
    /// Deletes every revision of a trip's plan (both documents of each); answers how many
    /// documents were deleted (0 when it had none).
    async fn delete(&self, instance_id: &str) -> Result<u32, StoreError>;
}

/// The bytes a plan is stored as: both documents are a function of the plan alone, so a retried
/// save writes the very same bytes.
pub fn documents(plan: &TripPlan) -> (Vec<u8>, Vec<u8>) {
    let json = serde_json::to_vec_pretty(plan).expect("plans serialise");
    let markdown = crate::presentation::PlanPresentation::of(plan).to_markdown();
    (json, markdown.into_bytes())
}

/// The blob or file names of a revision: `{instanceId}/rev-{n}.json` and `.md`.
pub fn document_names(instance_id: &str, revision: u32) -> (String, String) {
    (
        format!("{instance_id}/rev-{revision}.json"),
        format!("{instance_id}/rev-{revision}.md"),
    )
}

/// Plans as files under a folder.
#[derive(Debug, Clone)]
pub struct LocalPlanStore {
    root: PathBuf,
}

impl LocalPlanStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    async fn write_once(&self, name: &str, bytes: &[u8]) -> Result<String, StoreError> {
        let path = self.root.join(name);
        let unavailable =
            |e: std::io::Error| StoreError::Unavailable(format!("{}: {e}", path.display()));
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(unavailable)?;
        }
        match tokio::fs::read(&path).await {
            Ok(existing) if existing == bytes => return Ok(path.display().to_string()),
            Ok(_) => return Err(StoreError::Conflict(path.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(unavailable(e)),
        }
        // Write aside, then rename: a reader never sees half a document.
        let partial = path.with_extension(format!("partial-{}", fastrand::u64(..)));
        tokio::fs::write(&partial, bytes)
            .await
            .map_err(unavailable)?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(unavailable)?;
        Ok(path.display().to_string())
    }
}

#[async_trait]
impl PlanStore for LocalPlanStore {
    async fn save(&self, plan: &TripPlan) -> Result<PlanLocation, StoreError> {
        let (json, markdown) = documents(plan);
        let (json_name, md_name) = document_names(&plan.instance_id, plan.revision);
        Ok(PlanLocation {
            json: self.write_once(&json_name, &json).await?,
            markdown: self.write_once(&md_name, &markdown).await?,
        })
    }

    async fn load(
        &self,
        instance_id: &str,
        revision: Option<u32>,
    ) -> Result<Option<TripPlan>, StoreError> {
        let revision = match revision {
            Some(r) => r,
            None => {
                let dir = self.root.join(instance_id);
                let mut entries = match tokio::fs::read_dir(&dir).await {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(StoreError::Unavailable(e.to_string())),
                };
                let mut latest = None;
                while let Ok(Some(entry)) = entries.next_entry().await {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if let Some(n) = name
                        .strip_prefix("rev-")
                        .and_then(|n| n.strip_suffix(".json"))
                        .and_then(|n| n.parse::<u32>().ok())
                    {
                        latest = latest.max(Some(n));
                    }
                }
                match latest {
                    Some(n) => n,
                    None => return Ok(None),
                }
            }
        };
        let path = self.root.join(document_names(instance_id, revision).0);
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        }
    }

    fn describe(&self) -> String {
        format!("local folder {}", self.root.display())
    }

    async fn delete(&self, instance_id: &str) -> Result<u32, StoreError> {
        // An instance id names one folder directly under the root, never a path.
        if instance_id.is_empty() || instance_id.contains(['/', '\\', '.']) {
            return Err(StoreError::Refused(format!(
                "`{instance_id}` is not a trip id"
            )));
        }
        let dir = self.root.join(instance_id);
        let unavailable =
            |e: std::io::Error| StoreError::Unavailable(format!("{}: {e}", dir.display()));
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(unavailable(e)),
        };
        let mut deleted = 0;
        while let Some(entry) = entries.next_entry().await.map_err(unavailable)? {
            tokio::fs::remove_file(entry.path())
                .await
                .map_err(unavailable)?;
            deleted += 1;
        }
        tokio::fs::remove_dir(&dir).await.map_err(unavailable)?;
        Ok(deleted)
    }
}
