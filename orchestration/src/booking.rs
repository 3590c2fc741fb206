//! Booking an approved trip. The default provider is a local sandbox that records bookings
//! durably; the instance id is the idempotency key, so the same booking made twice returns the
//! same confirmation.

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What is booked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingRequest {
    /// The same key always yields the same booking.
    pub idempotency_key: String,
    /// Spelled `travelerName` in JSON (the API's and recorded histories' name).
    #[serde(rename = "travelerName")]
    pub traveller_name: String,
    pub destination: String,
    pub duration_days: u32,
    pub plan_revision: u32,
}

/// A booking that was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingConfirmation {
    pub confirmation_code: String,
    pub provider: String,
    pub booked_at: DateTime<Utc>,
    pub request: BookingRequest,
}

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("the booking provider is unavailable: {0}")]
    Unavailable(String),
    #[error("the booking was refused: {0}")]
    Refused(String),
}

#[async_trait]
pub trait BookingProvider: Send + Sync + std::fmt::Debug {
    async fn book(&self, request: &BookingRequest) -> Result<BookingConfirmation, BookingError>;
}

/// Records bookings as files under a folder, one per idempotency key, created exclusively.
#[derive(Debug, Clone)]
pub struct SandboxBookings {
    root: PathBuf,
}

impl SandboxBookings {
    pub const PROVIDER: &'static str = "sandbox";

    /// The bookings kept in `root`. Leftovers of a booking cut short by a killed process (a
    /// `.N.partial` file older than a minute) are removed.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let bookings = Self { root: root.into() };
        bookings.remove_leftovers(std::time::Duration::from_secs(60));
        bookings
    }

    fn remove_leftovers(&self, older_than: std::time::Duration) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with('.') && name.ends_with(".partial")) {
                continue;
            }
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > older_than);
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Every booking made so far.
    pub fn all(&self) -> Vec<BookingConfirmation> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
            .collect()
    }

    fn path_for(&self, key: &str) -> PathBuf {
        let safe: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.root.join(format!("{safe}.json"))
    }
}

#[async_trait]
impl BookingProvider for SandboxBookings {
    async fn book(&self, request: &BookingRequest) -> Result<BookingConfirmation, BookingError> {
        let unavailable = |e: std::io::Error| BookingError::Unavailable(e.to_string());
        tokio::fs::create_dir_all(&self.root)
            .await
            .map_err(unavailable)?;
        let path = self.path_for(&request.idempotency_key);
        let confirmation = BookingConfirmation {
            confirmation_code: format!("TP-{:08X}", fastrand::u32(..)),
            provider: Self::PROVIDER.into(),
            booked_at: Utc::now(),
            request: request.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&confirmation).expect("confirmations serialise");
        // Written aside and linked into place: creating the name is the atomic "book once".
        let partial = self.root.join(format!(".{}.partial", fastrand::u64(..)));
        tokio::fs::write(&partial, &bytes)
            .await
            .map_err(unavailable)?;
        let linked = tokio::fs::hard_link(&partial, &path).await;
        let _ = tokio::fs::remove_file(&partial).await;
        match linked {
            Ok(()) => Ok(confirmation),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let existing = tokio::fs::read(&path).await.map_err(unavailable)?;
                serde_json::from_slice(&existing)
                    .map_err(|e| BookingError::Unavailable(format!("{}: {e}", path.display())))
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_of_a_killed_booking_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".123.partial");
        let fresh = dir.path().join(".456.partial");
        let booking = dir.path().join("trip-1.json");
        for file in [&stale, &fresh, &booking] {
            std::fs::write(file, b"{}").unwrap();
        }
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for file in [&stale, &booking] {
            std::fs::File::options()
                .write(true)
                .open(file)
                .unwrap()
                .set_modified(an_hour_ago)
                .unwrap();
        }
        SandboxBookings::new(dir.path());
        assert!(!stale.exists(), "an old leftover goes");
        assert!(fresh.exists(), "a booking in progress elsewhere stays");
        assert!(booking.exists(), "bookings stay");
    }

    #[tokio::test]
    async fn the_same_key_books_once_and_returns_the_same_confirmation() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = SandboxBookings::new(dir.path());
        let request = BookingRequest {
            idempotency_key: "trip-1".into(),
            traveller_name: "Ada".into(),
            destination: "Lisbon".into(),
            duration_days: 4,
            plan_revision: 1,
        };
        let (a, b) = tokio::join!(sandbox.book(&request), sandbox.book(&request));
        assert_eq!(a.unwrap().confirmation_code, b.unwrap().confirmation_code);
        assert_eq!(sandbox.all().len(), 1);
    }
}
