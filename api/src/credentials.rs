//! The credentials a request carries: a bearer token (API clients) or a cookie (browsers). Read
//! here once for the approval token, the admin token and the pages' cookies.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The approval token a traveller's request carries (`Authorization: Bearer <token>`), if any:
/// whether it is the trip's is for `Trips` to say (401 without one, 403 for another).
#[derive(Debug, Clone, Default)]
pub struct ApprovalToken(pub Option<String>);

impl ApprovalToken {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApprovalToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(bearer(&parts.headers).map(str::to_owned)))
    }
}

/// Every cookie the browser sent, as (name, value).
pub fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            Some((name.trim(), value.trim()))
        })
}

/// The value of the cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    cookies(headers).find(|(n, _)| *n == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_tokens_and_cookies_are_read_leniently() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        headers.append(COOKIE, HeaderValue::from_static("a=1; tp_admin=xyz"));
        headers.append(COOKIE, HeaderValue::from_static("b = 2"));
        assert_eq!(bearer(&headers), Some("abc"));
        assert_eq!(cookie(&headers, "tp_admin"), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "c"), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
    }
}
