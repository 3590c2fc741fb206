//! Operator access: with `ADMIN_TOKEN` set, the dashboard and the management API need it, as a
//! bearer header, or the session the dashboard's sign-in form opens.
//!
//! A session is a cookie holding `expiry.nonce.signature`: the signature is an HMAC under a key
//! derived from the admin token, so the cookie never holds the token, any process that knows the
//! token checks it without shared state, it ends at its expiry, and changing the token ends
//! every session.

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::{ApiError, ErrorCode, credentials};

/// The cookie the login form sets (an operator session).
pub const ADMIN_COOKIE: &str = "tp_admin";

/// How long an operator session lasts.
pub const SESSION_LENGTH: Duration = Duration::from_secs(12 * 3600);

/// Wrong tokens are counted over this window.
pub const GUESS_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Wrong tokens one client may present in [`GUESS_WINDOW`]; after them its attempts are refused
/// without being checked until the oldest leaves the window.
pub const GUESSES_PER_CLIENT: usize = 10;
/// Wrong tokens from all clients in [`GUESS_WINDOW`] after which a client that has presented a
/// wrong one is refused at once; a client that has not is still checked (an operator who types
/// the right token first time gets in during an attack).
pub const GUESSES_IN_ALL: usize = 100;
/// Wrong tokens remembered at most (memory bound): past it, every attempt is refused until the
/// window moves on; open sessions keep working.
const GUESSES_REMEMBERED: usize = 10_000;

/// Who may act as an operator. One value is shared by the API's check and the dashboard's
/// sign-in form, so wrong tokens presented anywhere count against the same limits.
#[derive(Debug, Clone, Default)]
pub struct AdminAccess {
    token: Option<String>,
    /// Whether the client's address is the last one in `X-Forwarded-For` (the service runs
    /// behind a proxy that adds it) rather than the connection's.
    trust_forwarded_for: bool,
    guesses: Arc<Mutex<Guesses>>,
}

/// The wrong tokens of the last [`GUESS_WINDOW`], by client and in all.
#[derive(Debug, Default)]
struct Guesses {
    by_client: HashMap<Client, VecDeque<Instant>>,
    all: VecDeque<Instant>,
}

/// Where an attempt came from: an address, or `None` when the server does not know (a test
/// driving the router without connections).
pub type Client = Option<IpAddr>;

/// The outcome of presenting a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The admin token (or no admin token is configured).
    Admitted,
    /// A wrong token, counted.
    Wrong,
    /// Not checked: this client presented too many wrong tokens lately; it may try again after
    /// the wait.
    Refused { retry_after: Duration },
}

/// The connection's address, when the server was started with connection information.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(peer_of(&parts.extensions)))
    }
}

fn peer_of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

impl Guesses {
    fn forget_before(&mut self, oldest: Instant) {
        while self.all.front().is_some_and(|t| *t < oldest) {
            self.all.pop_front();
        }
        self.by_client.retain(|_, times| {
            while times.front().is_some_and(|t| *t < oldest) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }

    /// How long `client` must wait before it may be checked again, if it must.
    fn refusal(&self, client: &Client, now: Instant) -> Option<Duration> {
        let mine = self.by_client.get(client);
        let wrong = mine.map_or(0, VecDeque::len);
        let until_oldest_leaves = |times: &VecDeque<Instant>| {
            times.front().map_or(Duration::ZERO, |t| {
                (*t + GUESS_WINDOW).saturating_duration_since(now)
            })
        };
        if wrong >= GUESSES_PER_CLIENT || (wrong > 0 && self.all.len() >= GUESSES_IN_ALL) {
            return mine.map(until_oldest_leaves);
        }
        (self.all.len() >= GUESSES_REMEMBERED).then(|| until_oldest_leaves(&self.all))
    }
}

impl AdminAccess {
    pub fn new(token: Option<String>) -> Self {
        Self {
            token,
            ..Default::default()
        }
    }

    /// Counts wrong tokens by the last address of `X-Forwarded-For` instead of the connection's
    /// (behind a proxy that adds it, such as Azure Container Apps' ingress).
    pub fn trusting_forwarded_for(mut self, trust: bool) -> Self {
        self.trust_forwarded_for = trust;
        self
    }

    /// Whether an admin token is configured (without one, operator pages are loopback-only).
    pub fn is_configured(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `presented` is the admin token (compared in constant time).
    fn accepts(&self, presented: &str) -> bool {
        match &self.token {
            None => true,
            Some(token) => {
                travel_platform::secret::constant_time_eq(token.as_bytes(), presented.as_bytes())
            }
        }
    }

    /// The client a request counts against: the connection's address, or behind a trusted
    /// proxy the address it saw.
    pub fn client(&self, peer: Peer, headers: &HeaderMap) -> Client {
        if self.trust_forwarded_for
            && let Some(forwarded) = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                .next_back()
        {
            return Some(forwarded);
        }
        peer.0
    }

    /// Checks a token presented by `client`. A client that presented too many wrong ones lately
    /// is refused without a check, however many it sends at once, so guessing in parallel gains
    /// nothing; nobody is made to wait, so an operator with the right token never is.
    pub fn check(&self, presented: &str, client: Client) -> Verdict {
        let now = Instant::now();
        let mut guesses = self.guesses.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(oldest) = now.checked_sub(GUESS_WINDOW) {
            guesses.forget_before(oldest);
        }
        if let Some(retry_after) = guesses.refusal(&client, now) {
            return Verdict::Refused { retry_after };
        }
        if self.accepts(presented) {
            return Verdict::Admitted;
        }
        guesses.all.push_back(now);
        guesses.by_client.entry(client).or_default().push_back(now);
        Verdict::Wrong
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
        self.signed_expiry(session)
            .is_some_and(|expires| now < expires)
    }

    /// The expiry of `session` when this token signed it (expired or not): a session that ran
    /// out is an operator's, not a guess.
    fn signed_expiry(&self, session: &str) -> Option<u64> {
        let mut parts = session.splitn(3, '.');
        let (Some(expires), Some(nonce), Some(signature)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let expires = expires.parse::<u64>().ok()?;
        let expected = self.session_signature(expires, nonce)?;
        travel_platform::secret::constant_time_eq(expected.as_bytes(), signature.as_bytes())
            .then_some(expires)
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
    fn admits(&self, headers: &HeaderMap, client: Client) -> Verdict {
        if let Some(token) = credentials::bearer(headers) {
            return self.check(token, client);
        }
        match credentials::cookie(headers, ADMIN_COOKIE) {
            Some(session) if self.session_is_open(session, unix_now()) => Verdict::Admitted,
            // A session this token signed that ran out: sign in again (no guess).
            Some(session) if self.signed_expiry(session).is_some() => Verdict::Wrong,
            // A forged session counts as a wrong token.
            Some(_) => match self.check("", client) {
                Verdict::Admitted => Verdict::Wrong,
                other => other,
            },
            None => Verdict::Wrong,
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
    let verdict = match access.token {
        None => Verdict::Admitted,
        Some(_) => {
            let client = access.client(Peer(peer_of(request.extensions())), request.headers());
            access.admits(request.headers(), client)
        }
    };
    let path = request.uri().path();
    match verdict {
        Verdict::Admitted => next.run(request).await,
        _ if path.starts_with("/dashboard") => Redirect::to("/dashboard/login").into_response(),
        Verdict::Refused { retry_after } => too_many_attempts(retry_after),
        Verdict::Wrong => ApiError::new(
            ErrorCode::AdminTokenRequired,
            "This operator endpoint needs the admin token: send `Authorization: Bearer <ADMIN_TOKEN>`.",
        )
        .into_response(),
    }
}

/// 429 `too_many_attempts`, with `Retry-After` in whole seconds.
pub fn too_many_attempts(retry_after: Duration) -> Response {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut response = ApiError::new(
        ErrorCode::TooManyAttempts,
        format!(
            "Too many wrong admin tokens came from this address lately; try again in {} s.",
            seconds
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const RIGHT: &str = "right-token-0123456789abcdef0123";

    fn client(n: u8) -> Client {
        Some(IpAddr::from([203, 0, 113, n]))
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_guessed_wrong_too_often_is_refused_unchecked_and_others_are_not() {
        let access = AdminAccess::new(Some(RIGHT.into()));
        // 200 guesses at once from one client: ten are checked, the rest refused.
        let verdicts: Vec<Verdict> = (0..200).map(|_| access.check("wrong", client(1))).collect();
        let wrong = verdicts.iter().filter(|v| **v == Verdict::Wrong).count();
        assert_eq!(wrong, GUESSES_PER_CLIENT);
        assert!(matches!(
            verdicts.last(),
            Some(Verdict::Refused { retry_after }) if *retry_after == GUESS_WINDOW
        ));
        // Refused without a check: even the right token from that client.
        assert!(matches!(
            access.check(RIGHT, client(1)),
            Verdict::Refused { .. }
        ));
        // Another client is checked at once, and the right token admitted without a wait.
        let started = Instant::now();
        assert_eq!(access.check(RIGHT, client(2)), Verdict::Admitted);
        assert_eq!(started.elapsed(), Duration::ZERO);
        // Once the window has passed, the first client is checked again.
        tokio::time::advance(GUESS_WINDOW + Duration::from_secs(1)).await;
        assert_eq!(access.check(RIGHT, client(1)), Verdict::Admitted);
    }

    #[tokio::test(start_paused = true)]
    async fn many_clients_guessing_are_limited_in_all_but_a_new_client_is_still_checked() {
        let access = AdminAccess::new(Some(RIGHT.into()));
        for n in 0..GUESSES_IN_ALL {
            let c = Some(IpAddr::from([198, 51, (n / 256) as u8, (n % 256) as u8]));
            assert_eq!(access.check("wrong", c), Verdict::Wrong);
        }
        // Past the total, a client with a wrong token behind it is not checked again...
        let first = Some(IpAddr::from([198, 51, 0, 0]));
        assert!(matches!(
            access.check(RIGHT, first),
            Verdict::Refused { .. }
        ));
        // ... while one without is, and gets in with the right token.
        assert_eq!(access.check(RIGHT, client(9)), Verdict::Admitted);
        assert_eq!(access.check("wrong", client(10)), Verdict::Wrong);
        assert!(matches!(
            access.check("wrong", client(10)),
            Verdict::Refused { .. }
        ));
    }

    #[test]
    fn an_expired_session_is_not_a_guess_a_forged_one_is() {
        let access = AdminAccess::new(Some(RIGHT.into()));
        let expired = access.open_session(1_000).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{ADMIN_COOKIE}={expired}")).unwrap(),
        );
        // An operator's page polling with a session that ran out, for a long while.
        for _ in 0..(GUESSES_PER_CLIENT * 3) {
            assert_eq!(access.admits(&headers, client(5)), Verdict::Wrong);
        }
        assert_eq!(
            access.check(RIGHT, client(5)),
            Verdict::Admitted,
            "not locked out"
        );
        // A forged one is counted.
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{ADMIN_COOKIE}=99999999999.a.b")).unwrap(),
        );
        for _ in 0..GUESSES_PER_CLIENT {
            assert_eq!(access.admits(&headers, client(6)), Verdict::Wrong);
        }
        assert!(matches!(
            access.check(RIGHT, client(6)),
            Verdict::Refused { .. }
        ));
    }

    #[test]
    fn behind_a_trusted_proxy_the_client_is_the_address_the_proxy_saw() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.9.9.9, 203.0.113.7"),
        );
        let peer = Peer(Some(IpAddr::from([10, 0, 0, 1])));
        let direct = AdminAccess::new(Some(RIGHT.into()));
        assert_eq!(
            direct.client(peer, &headers),
            peer.0,
            "the header is not trusted"
        );
        let proxied = AdminAccess::new(Some(RIGHT.into())).trusting_forwarded_for(true);
        assert_eq!(proxied.client(peer, &headers), client(7));
        assert_eq!(proxied.client(peer, &HeaderMap::new()), peer.0);
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
