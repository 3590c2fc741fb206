//! What every response and every request goes through, pages included: the security headers, the
//! Host check that defeats DNS rebinding when the service runs without `ADMIN_TOKEN` (on loopback),
//! and the refusal of state-changing API calls made by a browser from another site.
//!
//! API clients that are not browsers (curl, other services) send neither `Origin` nor
//! `Sec-Fetch-Site` and pass; the pages' forms have their own CSRF check (double-submit token).

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, ErrorCode};

/// The pages load only their own scripts and styles. Inline `style` attributes carry computed
/// widths (progress bars); no inline script or `<style>` element is allowed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// Without `ADMIN_TOKEN` the service is bound to loopback: only loopback Host names are
    /// answered (a DNS-rebinding page would send its own host name).
    pub loopback_hosts_only: bool,
    /// The public URL is https: browsers are told to keep to https (HSTS).
    pub https: bool,
}

/// The longest address answered (path and query); the HTTP server itself cuts off at 64 KiB.
pub const MAX_URI_BYTES: usize = 16 * 1024;

pub async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    // Refusals carry the security headers too.
    with_security_headers(checked(&guard, request, next).await, &guard)
}

/// The request refused, or answered (on the API, every error as the documented JSON body).
async fn checked(guard: &Guard, request: Request, next: Next) -> Response {
    if request.uri().to_string().len() > MAX_URI_BYTES {
        return ApiError::new(
            ErrorCode::UriTooLong,
            format!("The address is longer than {MAX_URI_BYTES} bytes."),
        )
        .into_response();
    }
    let headers = request.headers();
    if guard.loopback_hosts_only && !host_is_loopback(headers) {
        return ApiError::new(
            ErrorCode::HostNotAllowed,
            "Without ADMIN_TOKEN this service answers only to localhost, 127.0.0.1 or [::1].",
        )
        .into_response();
    }
    let path = request.uri().path();
    // MCP's endpoint too: its JSON-RPC answers are its own, but its refusals (a missing
    // `Accept`, a body that is no JSON-RPC message) are the API's errors.
    let api =
        path.starts_with("/api/") || path.starts_with("/approve/") || path == crate::mcp::PATH;
    if api && changes_state(request.method()) && from_another_site(headers) {
        return ApiError::new(
            ErrorCode::CrossSiteRefused,
            "This call changes state and came from a page on another site; it was refused.",
        )
        .into_response();
    }
    let response = next.run(request).await;
    if api {
        as_documented_error(response).await
    } else {
        response
    }
}

fn with_security_headers(mut response: Response, guard: &Guard) -> Response {
    let set = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        set.insert(name, HeaderValue::from_static(value));
    }
    if guard.https {
        set.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
        secure_cookies(set);
    }
    response
}

/// Behind https every cookie the service sets is `Secure` (never sent over plain http).
fn secure_cookies(headers: &mut axum::http::HeaderMap) {
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|cookie| match cookie.to_str() {
            Ok(text) if !text.to_ascii_lowercase().contains("; secure") => {
                HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or_else(|_| cookie.clone())
            }
            _ => cookie.clone(),
        })
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
}

/// Errors the framework answers itself (405, a query that does not parse, a bad path) come as
/// plain text or nothing; on the API every error is the documented JSON body.
async fn as_documented_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let text = axum::body::to_bytes(response.into_body(), 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = if text.starts_with("Failed to deserialize query string") {
        ErrorCode::InvalidQuery
    } else if text.starts_with("Invalid URL") {
        ErrorCode::InvalidPath
    } else {
        ErrorCode::for_status(status)
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_owned()
    } else {
        text
    };
    let mut error = ApiError::new(code, message);
    error.status = status;
    let mut response = error.into_response();
    if let Some(allow) = allow {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A browser says where a request comes from: `Sec-Fetch-Site`, and `Origin` on every
/// state-changing request. Either naming another site (or an opaque `null` origin) is enough.
fn from_another_site(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if matches!(text("sec-fetch-site"), Some("cross-site" | "same-site")) {
        return true;
    }
    match (text("origin"), text("host")) {
        (None, _) => false,
        (Some(origin), host) => {
            let origin_host = origin.split_once("://").map(|(_, rest)| rest);
            origin == "null" || origin_host != host
        }
    }
}

/// Whether the Host header names this machine (any port). No Host header (HTTP/1.0, in-process
/// calls) is not a browser on another site.
fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn loopback_host_names_with_any_port() {
        for host in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:8080",
            "127.0.0.2",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(host_is_loopback(&headers(&[("host", host)])), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.1:8080",
            "localhost.evil.example",
        ] {
            assert!(!host_is_loopback(&headers(&[("host", host)])), "{host}");
        }
    }

    #[test]
    fn another_site_is_known_by_origin_or_fetch_metadata() {
        let host = ("host", "127.0.0.1:8080");
        assert!(!from_another_site(&headers(&[host])));
        assert!(!from_another_site(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!from_another_site(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(from_another_site(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(from_another_site(&headers(&[host, ("origin", "null")])));
        assert!(from_another_site(&headers(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
    }
}
