//! Operator access: with `ADMIN_TOKEN` set, the dashboard and the management API need it, as a
//! bearer header or the cookie the dashboard's login form sets.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::{ApiError, ErrorCode, credentials};

/// The cookie the login form sets.
pub const ADMIN_COOKIE: &str = "tp_admin";

#[derive(Debug, Clone, Default)]
pub struct AdminAccess {
    pub token: Option<String>,
}

impl AdminAccess {
    /// Whether `presented` is the admin token (compared in constant time).
    pub fn accepts(&self, presented: &str) -> bool {
        match &self.token {
            None => true,
            Some(token) => {
                travel_platform::secret::constant_time_eq(token.as_bytes(), presented.as_bytes())
            }
        }
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
    if access.token.is_none() || AdminAccess::presented(&request).is_some_and(|t| access.accepts(t))
    {
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
