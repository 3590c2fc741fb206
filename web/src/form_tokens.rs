//! The pages' protection against cross-site form posts (CSRF).
//!
//! * A browser that says where a post comes from is believed: `Sec-Fetch-Site: cross-site` or
//!   `same-site` (a sibling subdomain) is refused; without that header, an `Origin` other than
//!   this service's own host is refused.
//! * Every form carries a token that must equal the browser's form cookie (double submit), and
//!   the token must be one this service issued: `expiry.nonce.signature`, an HMAC under a key
//!   kept in the store (every process accepts every other's) that ends after a day. A cookie
//!   planted from a sibling subdomain with a value of the attacker's choosing is refused.
//! * Behind https the cookie is named `__Host-tp_csrf`, which browsers let only this host set.

use axum::http::HeaderMap;

use crate::cookies;

/// How long a form token is accepted after it was issued.
pub const FORM_TOKEN_LIFETIME_SECS: u64 = 24 * 3600;

/// Issues and checks the pages' form tokens.
#[derive(Clone)]
pub struct FormTokens {
    key: Vec<u8>,
    /// The public URL is https: the cookie is `Secure` and `__Host-` prefixed.
    https: bool,
}

impl std::fmt::Debug for FormTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormTokens")
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

impl FormTokens {
    /// `key`: the service's form key (see `Trips::service_key`), at least 16 bytes.
    pub fn new(key: Vec<u8>, https: bool) -> Self {
        assert!(key.len() >= 16, "a form key of at least 16 bytes");
        Self { key, https }
    }

    fn cookie_name(&self) -> &'static str {
        if self.https {
            "__Host-tp_csrf"
        } else {
            cookies::CSRF
        }
    }

    fn signature(&self, expires: u64, nonce: &str) -> String {
        travel_platform::secret::hmac_sha256_hex(&self.key, &format!("form {expires}.{nonce}"))
    }

    /// A new token, valid for [`FORM_TOKEN_LIFETIME_SECS`] from `now` (Unix seconds).
    pub fn issue(&self, now: u64) -> String {
        let expires = now + FORM_TOKEN_LIFETIME_SECS;
        let nonce = cookies::random_token();
        let signature = self.signature(expires, &nonce);
        format!("{expires}.{nonce}.{signature}")
    }

    /// Whether `token` was issued by this service (with its key) and has not expired at `now`.
    pub fn issued_here(&self, token: &str, now: u64) -> bool {
        let mut parts = token.splitn(3, '.');
        let (Some(expires), Some(nonce), Some(signature)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(expires) = expires.parse::<u64>() else {
            return false;
        };
        now < expires
            && travel_platform::secret::constant_time_eq(
                self.signature(expires, nonce).as_bytes(),
                signature.as_bytes(),
            )
    }

    /// The browser's form token when it holds a valid one, or a new one with the cookie to set.
    pub fn of(&self, headers: &HeaderMap) -> (String, Option<String>) {
        let now = now();
        match cookies::get(headers, self.cookie_name()).filter(|t| self.issued_here(t, now)) {
            Some(token) => (token, None),
            None => {
                let token = self.issue(now);
                let secure = if self.https { "; Secure" } else { "" };
                let cookie = format!(
                    "{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}",
                    self.cookie_name()
                );
                (token, Some(cookie))
            }
        }
    }

    /// Whether a form post must be refused: from another site, or without a token this service
    /// issued that equals the browser's cookie.
    pub fn refuses(&self, headers: &HeaderMap, submitted: &str) -> bool {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        match text("sec-fetch-site") {
            Some("cross-site" | "same-site") => return true,
            Some(_) => {}
            // An older browser: its `Origin` says where the post comes from.
            None => {
                if let Some(origin) = text("origin") {
                    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
                    if origin == "null" || origin_host != text("host") {
                        return true;
                    }
                }
            }
        }
        match cookies::get(headers, self.cookie_name()) {
            Some(expected) => expected != submitted || !self.issued_here(&expected, now()),
            None => true,
        }
    }
}

fn now() -> u64 {
    travel_api::admin::unix_now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn tokens() -> FormTokens {
        FormTokens::new(b"form-key-0123456789abcdef".to_vec(), false)
    }

    fn post(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn only_a_token_this_service_issued_and_the_browser_holds_passes() {
        let tokens = tokens();
        let issued = tokens.issue(now());
        let cookie = format!("tp_csrf={issued}");
        assert!(!tokens.refuses(&post(&[("cookie", cookie.clone())]), &issued));
        // Cookie tossing: an equal pair the attacker chose.
        let planted = post(&[("cookie", "tp_csrf=attacker-chosen-value".into())]);
        assert!(tokens.refuses(&planted, "attacker-chosen-value"));
        // Another installation's token, an expired one, a changed expiry.
        let other = FormTokens::new(b"another-key-0123456789abcdef".to_vec(), false).issue(now());
        assert!(tokens.refuses(&post(&[("cookie", format!("tp_csrf={other}"))]), &other));
        let old = tokens.issue(now() - FORM_TOKEN_LIFETIME_SECS - 1);
        assert!(tokens.refuses(&post(&[("cookie", format!("tp_csrf={old}"))]), &old));
        let (_, rest) = issued.split_once('.').unwrap();
        let extended = format!("{}.{rest}", now() + 10 * FORM_TOKEN_LIFETIME_SECS);
        assert!(tokens.refuses(
            &post(&[("cookie", format!("tp_csrf={extended}"))]),
            &extended
        ));
        // A different field, or no cookie.
        assert!(tokens.refuses(&post(&[("cookie", cookie.clone())]), "x"));
        assert!(tokens.refuses(&HeaderMap::new(), &issued));
    }

    #[test]
    fn where_the_browser_says_the_post_comes_from_is_believed() {
        let tokens = tokens();
        let issued = tokens.issue(now());
        let cookie = ("cookie", format!("tp_csrf={issued}"));
        let host = ("host", "trips.example.org".to_owned());
        for site in ["cross-site", "same-site"] {
            let headers = post(&[cookie.clone(), ("sec-fetch-site", site.into())]);
            assert!(tokens.refuses(&headers, &issued), "{site}");
        }
        // Without Sec-Fetch-Site, Origin decides.
        let sibling = post(&[
            cookie.clone(),
            host.clone(),
            ("origin", "https://evil.example.org".into()),
        ]);
        assert!(tokens.refuses(&sibling, &issued));
        let null = post(&[cookie.clone(), host.clone(), ("origin", "null".into())]);
        assert!(tokens.refuses(&null, &issued));
        let own = post(&[
            cookie.clone(),
            host.clone(),
            ("origin", "https://trips.example.org".into()),
        ]);
        assert!(!tokens.refuses(&own, &issued));
        let same_origin = post(&[cookie, host, ("sec-fetch-site", "same-origin".into())]);
        assert!(!tokens.refuses(&same_origin, &issued));
    }

    #[test]
    fn behind_https_the_cookie_is_one_only_this_host_can_set() {
        let tokens = FormTokens::new(b"form-key-0123456789abcdef".to_vec(), true);
        let (token, cookie) = tokens.of(&HeaderMap::new());
        let cookie = cookie.unwrap();
        assert!(
            cookie.starts_with(&format!("__Host-tp_csrf={token};")),
            "{cookie}"
        );
        assert!(cookie.contains("; Secure") && cookie.contains("Path=/"));
        assert!(!cookie.contains("Domain"));
        // The plain name is not read.
        let plain = post(&[("cookie", format!("tp_csrf={token}"))]);
        assert!(tokens.refuses(&plain, &token));
        let host = post(&[("cookie", format!("__Host-tp_csrf={token}"))]);
        assert!(!tokens.refuses(&host, &token));
        assert_eq!(tokens.of(&host), (token, None));
    }
}
