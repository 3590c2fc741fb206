//! Operator access: with `ADMIN_TOKEN` set, the dashboard and the management API need it, as a
//! bearer header, or the session the dashboard's sign-in form opens.
//!
//! A session is a cookie holding `expiry.nonce.signature`: the signature is an HMAC under a key
//! derived from the admin token, so the cookie never holds the token, any process that knows the
//! token checks it without shared state, it ends at its expiry, and changing the token ends
//! every session.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::{ApiError, ErrorCode, credentials};

/// The cookie the login form sets (an operator session).
pub const ADMIN_COOKIE: &str = "tp_admin";

/// How long an operator session lasts.
pub const SESSION_LENGTH: Duration = Duration::from_secs(12 * 3600);

/// Who may act as an operator. One value is shared by the API's check and the dashboard's
/// sign-in form, so wrong guesses anywhere slow down the next ones.
#[derive(Debug, Clone, Default)]
pub struct AdminAccess {
    token: Option<String>,
    wrong_guesses: Arc<Mutex<VecDeque<Instant>>>,
}

/// Wrong guesses counted for the slow-down: those of the last minute.
const GUESS_WINDOW: Duration = Duration::from_secs(60);
/// The longest a wrong guess waits for its answer.
const MOST_PENALTY: Duration = Duration::from_secs(5);

impl AdminAccess {
    pub fn new(token: Option<String>) -> Self {
        Self {
            token,
            wrong_guesses: Default::default(),
        }
    }

    /// Whether an admin token is configured (without one, operator pages are loopback-only).
    pub fn is_configured(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `presented` is the admin token (compared in constant time).
    pub fn accepts(&self, presented: &str) -> bool {
        match &self.token {
            None => true,
            Some(token) => {
                travel_platform::secret::constant_time_eq(token.as_bytes(), presented.as_bytes())
            }
        }
    }

    /// Checks a guess; a wrong one is answered only after a wait that doubles with every wrong
    /// guess of the last minute (100 ms, 200 ms, ... up to 5 s), so guessing is slow while an
    /// operator with the right token never waits.
    pub async fn check(&self, presented: &str) -> bool {
        if self.accepts(presented) {
            return true;
        }
        let penalty = self.count_wrong_guess();
        tokio::time::sleep(penalty).await;
        false
    }

    fn count_wrong_guess(&self) -> Duration {
        let now = Instant::now();
        let mut recent = self.wrong_guesses.lock().expect("guesses");
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > GUESS_WINDOW)
        {
            recent.pop_front();
        }
        recent.push_back(now);
        let doublings = (recent.len() as u32 - 1).min(6);
        (Duration::from_millis(100) * 2u32.pow(doublings)).min(MOST_PENALTY)
    }

    /// A new operator session, valid for [`SESSION_LENGTH`] from `now` (Unix seconds); `None`
    /// without an admin token.
    pub fn open_session(&self, now: u64) -> Option<String> {
        let expires = now + SESSION_LENGTH.as_secs();
        let nonce = travel_platform::secret::random_hex(16);
        let signature = self.session_signature(expires, &nonce)?;
        Some(format!("{expires}.{nonce}.{signature}"))
    }

    /// Whether `session` was opened by [`Self::open_session`] with this token and has not
    /// expired at `now`.
    pub fn session_is_open(&self, session: &str, now: u64) -> bool {
        let mut parts = session.splitn(3, '.');
        let (Some(expires), Some(nonce), Some(signature)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(expires) = expires.parse::<u64>() else {
            return false;
        };
        let expected = self.session_signature(expires, nonce);
        now < expires
            && expected.is_some_and(|e| {
                travel_platform::secret::constant_time_eq(e.as_bytes(), signature.as_bytes())
            })
    }

    fn session_signature(&self, expires: u64, nonce: &str) -> Option<String> {
        let token = self.token.as_ref()?;
        let key = travel_platform::secret::sha256_hex(&format!("operator sessions\n{token}"));
        Some(travel_platform::secret::hmac_sha256_hex(
            key.as_bytes(),
            &format!("{expires}.{nonce}"),
        ))
    }

    /// Whether a page is seen by an operator: one with an open session, or anyone when no admin
    /// token is set (then the dashboard is open to whoever reaches the service). Counts no
    /// guess: it only chooses what a page shows.
    pub fn seen_by_operator(&self, headers: &axum::http::HeaderMap) -> bool {
        match &self.token {
            None => true,
            Some(_) => credentials::cookie(headers, ADMIN_COOKIE)
                .is_some_and(|session| self.session_is_open(session, unix_now())),
        }
    }

    /// Whether the request carries the admin token as a bearer header, or an open session.
    async fn admits(&self, headers: &axum::http::HeaderMap) -> bool {
        if let Some(token) = credentials::bearer(headers) {
            return self.check(token).await;
        }
        match credentials::cookie(headers, ADMIN_COOKIE) {
            Some(session) if self.session_is_open(session, unix_now()) => true,
            // An expired or forged session counts as a wrong guess.
            Some(_) => self.check("").await,
            None => false,
        }
    }
}

/// Seconds since 1970.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Lets the request through when the admin token is not configured or was presented; sends
/// pages to the login form and API calls a 401.
pub async fn require_admin(
    State(access): State<AdminAccess>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = access.token.is_none() || access.admits(request.headers()).await;
    if allowed {
        return next.run(request).await;
    }
    let path = request.uri().path();
    if path.starts_with("/dashboard") {
        return Redirect::to("/dashboard/login").into_response();
    }
    ApiError::new(
        ErrorCode::AdminTokenRequired,
        "This operator endpoint needs the admin token: send `Authorization: Bearer <ADMIN_TOKEN>`.",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wrong_guesses_wait_longer_and_longer_and_the_right_token_never_waits() {
        let access = AdminAccess::new(Some("right-token-0123456789abcdef0123".into()));
        let waits: Vec<u128> = (0..8)
            .map(|_| access.count_wrong_guess().as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        let started = tokio::time::Instant::now();
        assert!(access.check("right-token-0123456789abcdef0123").await);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(!access.check("wrong").await);
        assert!(started.elapsed() >= Duration::from_secs(5));
        // A minute later the count starts again.
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(access.count_wrong_guess().as_millis(), 100);
    }

    #[test]
    fn a_session_holds_no_token_ends_at_its_expiry_and_cannot_be_forged() {
        let token = "right-token-0123456789abcdef0123";
        let access = AdminAccess::new(Some(token.into()));
        let now = 1_800_000_000;
        let session = access.open_session(now).unwrap();
        assert!(!session.contains(token));
        assert_ne!(
            session,
            access.open_session(now).unwrap(),
            "each has its own nonce"
        );
        assert!(access.session_is_open(&session, now));
        assert!(access.session_is_open(&session, now + SESSION_LENGTH.as_secs() - 1));
        assert!(!access.session_is_open(&session, now + SESSION_LENGTH.as_secs()));
        // A later expiry with the old signature, another token's session, garbage.
        let (_, rest) = session.split_once('.').unwrap();
        let extended = format!("{}.{rest}", now + 10 * SESSION_LENGTH.as_secs());
        assert!(!access.session_is_open(&extended, now));
        let other = AdminAccess::new(Some("another-token-0123456789abcdef01".into()));
        assert!(!access.session_is_open(&other.open_session(now).unwrap(), now));
        for garbage in ["", "x", "1.2", "99999999999.a.b", token] {
            assert!(!access.session_is_open(garbage, now), "{garbage}");
        }
        assert!(AdminAccess::new(None).open_session(now).is_none());
    }
}
