//! Where the scheduler is and which task hub holds the trips: `DURABLE_TASK_ENDPOINT` and
//! `DURABLE_TASK_HUB`.

use url::Url;

/// The scheduler to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerSettings {
    /// `https://<scheduler>.durabletask.io` (TLS, signed in with Microsoft Entra), or
    /// `http://127.0.0.1:<port>` for a backend on this machine (plaintext, no sign-in).
    pub endpoint: Url,
    /// The task hub, sent with every call (the scheduler refuses calls without one).
    pub task_hub: String,
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("DURABLE_TASK_ENDPOINT is not a URL ({0})")]
    NotAUrl(String),
    #[error(
        "DURABLE_TASK_ENDPOINT `{0}` is plaintext to another machine: use https, or http only to a loopback address (127.0.0.1, ::1, localhost)"
    )]
    PlaintextBeyondLoopback(String),
    #[error("DURABLE_TASK_ENDPOINT must be https:// or http://, not `{0}`")]
    Scheme(String),
    #[error("DURABLE_TASK_HUB is required with a scheduler reached over https")]
    NoTaskHub,
}

/// The task hub of a loopback backend when none is named (the test backends have one hub).
pub const LOCAL_TASK_HUB: &str = "default";

impl SchedulerSettings {
    /// Reads `DURABLE_TASK_ENDPOINT` and `DURABLE_TASK_HUB` through `var`; `None` when no endpoint
    /// is set.
    pub fn from_env_with(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, SettingsError> {
        let set = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(endpoint) = set("DURABLE_TASK_ENDPOINT") else {
            return Ok(None);
        };
        Self::new(&endpoint, set("DURABLE_TASK_HUB").as_deref()).map(Some)
    }

    /// The scheduler at `endpoint`, its task hub `task_hub` (required over https).
    pub fn new(endpoint: &str, task_hub: Option<&str>) -> Result<Self, SettingsError> {
        let url = Url::parse(endpoint).map_err(|e| SettingsError::NotAUrl(e.to_string()))?;
        let task_hub = task_hub
            .map(str::trim)
            .filter(|hub| !hub.is_empty())
            .map(str::to_owned);
        let task_hub = match url.scheme() {
            "https" => task_hub.ok_or(SettingsError::NoTaskHub)?,
            "http" if is_loopback(&url) => task_hub.unwrap_or_else(|| LOCAL_TASK_HUB.to_owned()),
            "http" => return Err(SettingsError::PlaintextBeyondLoopback(endpoint.to_owned())),
            other => return Err(SettingsError::Scheme(other.to_owned())),
        };
        Ok(Self {
            endpoint: url,
            task_hub,
        })
    }

    /// TLS and a Microsoft Entra token: every endpoint but a loopback one.
    pub fn signs_in(&self) -> bool {
        self.endpoint.scheme() == "https"
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<SchedulerSettings>, SettingsError> {
        SchedulerSettings::from_env_with(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn a_scheduler_needs_its_task_hub_and_plaintext_stays_on_this_machine() {
        assert_eq!(read(&[]), Ok(None));
        let local = read(&[("DURABLE_TASK_ENDPOINT", "http://127.0.0.1:4001")])
            .unwrap()
            .unwrap();
        assert_eq!(local.task_hub, LOCAL_TASK_HUB);
        assert!(!local.signs_in());
        let dts = read(&[
            (
                "DURABLE_TASK_ENDPOINT",
                "https://trips-abc.westeurope.durabletask.io",
            ),
            ("DURABLE_TASK_HUB", "trips"),
        ])
        .unwrap()
        .unwrap();
        assert!(dts.signs_in());
        assert_eq!(dts.task_hub, "trips");
        assert_eq!(
            read(&[("DURABLE_TASK_ENDPOINT", "https://trips.durabletask.io")]),
            Err(SettingsError::NoTaskHub)
        );
        assert!(matches!(
            read(&[("DURABLE_TASK_ENDPOINT", "http://10.0.0.5:4001")]),
            Err(SettingsError::PlaintextBeyondLoopback(_))
        ));
        assert!(matches!(
            read(&[("DURABLE_TASK_ENDPOINT", "grpc://127.0.0.1:4001")]),
            Err(SettingsError::Scheme(_))
        ));
        assert!(read(&[("DURABLE_TASK_ENDPOINT", "http://localhost:4001")]).is_ok());
        assert!(read(&[("DURABLE_TASK_ENDPOINT", "http://[::1]:4001")]).is_ok());
    }
}
