//! Operator access: with `ADMIN_TOKEN` set, the dashboard and the management API need it, as a
//! bearer header or the cookie the dashboard's login form sets.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::{ApiError, ErrorCode, credentials};

/// The cookie the login form sets.
pub const ADMIN_COOKIE: &str = "tp_admin";

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

    /// The token a request presents: a bearer header, or the sign-in cookie.
    fn presented(request: &Request) -> Option<&str> {
        let headers = request.headers();
        credentials::bearer(headers).or_else(|| credentials::cookie(headers, ADMIN_COOKIE))
    }
}

/// Lets the request through when the admin token is not configured or was presented; sends
/// pages to the login form and API calls a 401.
pub async fn require_admin(
    State(access): State<AdminAccess>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = match AdminAccess::presented(&request) {
        _ if access.token.is_none() => true,
        Some(presented) => access.check(presented).await,
        None => false,
    };
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
}
