//! Microsoft Entra credentials, chosen once from the environment.
//!
//! The Rust `azure_identity` crate has no `DefaultAzureCredential`, so the choice is written here,
//! once, for every Azure client of the service (Azure OpenAI, Blob Storage):
//!
//! 1. **Workload identity** (AKS) when `AZURE_FEDERATED_TOKEN_FILE` is set;
//! 2. **Managed identity** when `IDENTITY_ENDPOINT` or `MSI_ENDPOINT` is set (App Service,
//!    Container Apps, Functions) or `AZURE_CLIENT_ID` names a user-assigned identity (VMs, IMDS);
//! 3. **Developer tools** (Azure CLI, then Azure Developer CLI) otherwise.
//!
//! The choice is logged by name, never with a secret.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential};
use azure_core::http::{
    AsyncRawResponse, ClientOptions, HttpClient, Request, Transport,
    headers::{HeaderName, HeaderValue, Headers},
    request::Body,
};
use futures::TryStreamExt;
use tokio::sync::Mutex;

/// The credential the environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialChoice {
    /// Kubernetes workload identity: a federated token file exchanged for an Entra token.
    WorkloadIdentity { token_file: String },
    /// An Azure managed identity; `client_id` names a user-assigned one.
    ManagedIdentity { client_id: Option<String> },
    /// The developer's own sign-in through `az login` or `azd auth login`.
    DeveloperTools,
}

impl CredentialChoice {
    /// Chooses from environment variables, read through `var` (so tests need not touch the
    /// process environment).
    pub fn from_env_with(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(token_file) = set("AZURE_FEDERATED_TOKEN_FILE") {
            return Self::WorkloadIdentity { token_file };
        }
        let client_id = set("AZURE_CLIENT_ID");
        if set("IDENTITY_ENDPOINT").is_some()
            || set("MSI_ENDPOINT").is_some()
            || client_id.is_some()
        {
            return Self::ManagedIdentity { client_id };
        }
        Self::DeveloperTools
    }

    /// Chooses from the process environment.
    pub fn from_env() -> Self {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// A name for logs and error messages; carries no secret.
    pub fn describe(&self) -> String {
        match self {
            Self::WorkloadIdentity { token_file } => {
                format!("workload identity (federated token file {token_file})")
            }
            Self::ManagedIdentity {
                client_id: Some(id),
            } => {
                format!("user-assigned managed identity (client id {id})")
            }
            Self::ManagedIdentity { client_id: None } => "system-assigned managed identity".into(),
            Self::DeveloperTools => "developer tools (Azure CLI, then Azure Developer CLI)".into(),
        }
    }

    /// Builds the credential; its HTTP calls go through `http` (the process' shared pool).
    pub fn build(&self, http: reqwest::Client) -> azure_core::Result<Arc<dyn TokenCredential>> {
        let client_options = || ClientOptions {
            transport: Some(Transport::new(Arc::new(PooledHttpClient(http.clone())))),
            ..Default::default()
        };
        Ok(match self {
            Self::WorkloadIdentity { .. } => {
                let options = azure_identity::WorkloadIdentityCredentialOptions {
                    credential_options: azure_identity::ClientAssertionCredentialOptions {
                        client_options: client_options(),
                    },
                    ..Default::default()
                };
                azure_identity::WorkloadIdentityCredential::new(Some(options))?
            }
            Self::ManagedIdentity { client_id } => {
                let options = azure_identity::ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id
                        .clone()
                        .map(azure_identity::UserAssignedId::ClientId),
                    client_options: client_options(),
                };
                azure_identity::ManagedIdentityCredential::new(Some(options))?
            }
            Self::DeveloperTools => azure_identity::DeveloperToolsCredential::new(None)?,
        })
    }
}

/// Hands out bearer tokens for one scope, refreshing each one [`REFRESH_MARGIN`] before it
/// expires; concurrent callers share one refresh.
#[derive(Debug, Clone)]
pub struct EntraTokenSource {
    credential: Arc<dyn TokenCredential>,
    scope: String,
    cached: Arc<Mutex<Option<AccessToken>>>,
}

/// How long before its expiry a token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

impl EntraTokenSource {
    pub fn new(credential: Arc<dyn TokenCredential>, scope: impl Into<String>) -> Self {
        Self {
            credential,
            scope: scope.into(),
            cached: Arc::default(),
        }
    }

    /// A token valid for at least [`REFRESH_MARGIN`].
    pub async fn token(&self) -> azure_core::Result<String> {
        let mut cached = self.cached.lock().await;
        let margin = time::Duration::try_from(REFRESH_MARGIN).unwrap_or(time::Duration::ZERO);
        let fresh = cached
            .as_ref()
            .is_some_and(|t| t.expires_on - margin > time::OffsetDateTime::now_utc());
        if !fresh {
            let token = self
                .credential
                .get_token(&[self.scope.as_str()], None)
                .await?;
            tracing::debug!(scope = %self.scope, expires_on = %token.expires_on, "fetched an Entra token");
            *cached = Some(token);
        }
        Ok(cached
            .as_ref()
            .map(|t| t.token.secret().to_owned())
            .unwrap_or_default())
    }
}

/// Lets the Azure SDK send its requests through the shared reqwest pool (and so over the one TLS
/// stack) instead of building its own client.
#[derive(Debug, Clone)]
pub struct PooledHttpClient(pub reqwest::Client);

#[async_trait]
impl HttpClient for PooledHttpClient {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        use azure_core::error::{ErrorKind, ResultExt};
        let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes())
            .with_context(ErrorKind::Other, "unsupported HTTP method")?;
        let mut builder = self.0.request(method, request.url().as_str());
        for (name, value) in request.headers().iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let builder = match request.body().clone() {
            Body::Bytes(bytes) => builder.body(bytes),
            Body::SeekableStream(stream) => builder.body(reqwest::Body::wrap_stream(stream)),
        };
        let response = builder
            .send()
            .await
            .with_context(ErrorKind::Io, "the HTTP request could not be sent")?;
        let status = response.status().as_u16();
        let headers: Headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                let value = v.to_str().ok()?;
                Some((
                    HeaderName::from(k.as_str().to_owned()),
                    HeaderValue::from(value.to_owned()),
                ))
            })
            .collect::<std::collections::HashMap<_, _>>()
            .into();
        let body = response.bytes_stream().map_err(|e| {
            azure_core::Error::with_error(ErrorKind::Io, e, "reading the response body failed")
        });
        Ok(AsyncRawResponse::new(
            status.into(),
            headers,
            Box::pin(body),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn choose(vars: &[(&str, &str)]) -> CredentialChoice {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CredentialChoice::from_env_with(|name| map.get(name).cloned())
    }

    #[test]
    fn workload_identity_wins_when_a_federated_token_file_is_mounted() {
        let choice = choose(&[
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                "/var/run/secrets/azure/tokens/azure-identity-token",
            ),
            ("AZURE_CLIENT_ID", "11111111-1111-1111-1111-111111111111"),
            ("IDENTITY_ENDPOINT", "http://169.254.169.254/msi"),
        ]);
        assert_eq!(
            choice,
            CredentialChoice::WorkloadIdentity {
                token_file: "/var/run/secrets/azure/tokens/azure-identity-token".into()
            }
        );
    }

    #[test]
    fn managed_identity_when_the_platform_offers_an_identity_endpoint() {
        let choice = choose(&[("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token")]);
        assert_eq!(
            choice,
            CredentialChoice::ManagedIdentity { client_id: None }
        );
        assert_eq!(choice.describe(), "system-assigned managed identity");
    }

    #[test]
    fn a_client_id_alone_names_a_user_assigned_managed_identity() {
        let choice = choose(&[("AZURE_CLIENT_ID", "abc")]);
        assert_eq!(
            choice,
            CredentialChoice::ManagedIdentity {
                client_id: Some("abc".into())
            }
        );
        assert!(choice.describe().contains("abc"));
    }

    #[test]
    fn developer_tools_otherwise_and_blank_values_do_not_count() {
        assert_eq!(choose(&[]), CredentialChoice::DeveloperTools);
        assert_eq!(
            choose(&[("AZURE_FEDERATED_TOKEN_FILE", " "), ("AZURE_CLIENT_ID", "")]),
            CredentialChoice::DeveloperTools
        );
    }
}
