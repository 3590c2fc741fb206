//! One HTTP client for the whole process.
//!
//! Every outbound call (LLM providers, exchange rates, Azure) goes through the client returned by
//! [`shared_client`], so the process keeps one connection pool (and one more for webhook
//! deliveries, which must not follow redirects: [`client_without_redirects`]) and one TLS stack: rustls with the
//! *ring* provider (aws-lc is deliberately not used; its C build costs half a minute of every cold
//! build).

use std::sync::OnceLock;
use std::time::Duration;

/// How long establishing a TCP/TLS connection may take before the attempt fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Installs rustls' *ring* provider as the process default. Idempotent.
pub fn install_tls_provider() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Fails only when another provider was installed first, which is fine too.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The process-wide HTTP client (cheap to clone: clones share the pool).
pub fn shared_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            builder()
                .build()
                .expect("the HTTP client configuration is static and valid")
        })
        .clone()
}

/// The client for calls whose answer must be the receiver's own, never where it points
/// (webhook deliveries: a receiver answering 302 has not taken the notification): it does not
/// follow redirects. A pool of its own, the only other one in the process.
pub fn client_without_redirects() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("the HTTP client configuration is static and valid")
        })
        .clone()
}

fn builder() -> reqwest::ClientBuilder {
    install_tls_provider();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("travel-planner/", env!("CARGO_PKG_VERSION")))
}

/// `text` percent-encoded as RFC 3986 asks: every byte but the unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) as `%XX`. Spaces are `%20`, never `+`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod percent_tests {
    use super::percent_encode;

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(percent_encode("Ada Lovelace"), "Ada%20Lovelace");
        assert_eq!(
            percent_encode("2026-11-30T07:00:00+00:00"),
            "2026-11-30T07%3A00%3A00%2B00%3A00"
        );
        assert_eq!(
            percent_encode("São Tomé, ~_."),
            "S%C3%A3o%20Tom%C3%A9%2C%20~_."
        );
    }
}
