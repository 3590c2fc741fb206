//! The trip a URL names, read once: its `{instanceId}` segment parsed into a [`TripId`] and
//! noted on the request's span. Text that cannot be a trip's id names no trip: 404, as an
//! unknown id does; a segment that is not even text (not UTF-8) is a 400 `invalid_path`.

use axum::extract::{FromRequestParts, Path};
use travel_orchestration::{TripError, TripId};

use crate::error::{ApiError, ErrorCode};

/// The trip named by the route's one path parameter.
#[derive(Debug, Clone)]
pub struct TripInPath(pub TripId);

impl<S: Send + Sync> FromRequestParts<S> for TripInPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let id = trip_id(path_text(parts, state).await?)?;
        tracing::Span::current().record("instance_id", id.as_str());
        Ok(Self(id))
    }
}

/// The route's one path parameter as text (400 `invalid_path` when it is not UTF-8).
pub async fn path_text<S: Send + Sync>(
    parts: &mut axum::http::request::Parts,
    state: &S,
) -> Result<String, ApiError> {
    let Path(text) = Path::<String>::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::new(ErrorCode::InvalidPath, e.body_text()))?;
    Ok(text)
}

/// A path segment read as a trip's id, or the 404 of a trip that does not exist.
pub fn trip_id(text: String) -> Result<TripId, ApiError> {
    TripId::parse(&text).map_err(|_| TripError::NotFound(text).into())
}
