//! Every error the API answers, turned into a JSON body in this one place.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;
use travel_orchestration::{FieldError, StoreError, TripError, TripStatus};

/// The body of every error response.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// A stable, machine-readable code (`validation_failed`, `not_found`, ...).
    pub code: String,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// The fields that are wrong, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// The trip's current state, for conflicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trip: Option<Box<TripStatus>>,
}

/// An error on its way out.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: ErrorDetail,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: ErrorDetail {
                code: code.into(),
                message: message.into(),
                fields: Vec::new(),
                trip: None,
            },
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn validation(message: impl Into<String>, fields: Vec<FieldError>) -> Self {
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        );
        error.detail.fields = fields;
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, code = %self.detail.code, message = %self.detail.message, "request failed");
        }
        (self.status, Json(ErrorBody { error: self.detail })).into_response()
    }
}

impl From<TripError> for ApiError {
    fn from(error: TripError) -> Self {
        let message = error.to_string();
        match error {
            TripError::Invalid(fields) => {
                ApiError::validation("The trip request has invalid fields; see `fields`.", fields)
            }
            TripError::NotFound(_) => ApiError::not_found(message),
            TripError::NoPlanYet(_) | TripError::NoThread { .. } => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_ready",
                format!("{message}; try again once the trip has progressed"),
            ),
            TripError::MissingToken => {
                ApiError::new(StatusCode::UNAUTHORIZED, "approval_token_required", message)
            }
            TripError::WrongToken => {
                ApiError::new(StatusCode::FORBIDDEN, "approval_token_invalid", message)
            }
            TripError::NotWaiting(status) => {
                let mut e = ApiError::new(StatusCode::CONFLICT, "not_awaiting_approval", message);
                e.detail.trip = Some(status);
                e
            }
            TripError::AlreadyDecided(status) => {
                let mut e = ApiError::new(StatusCode::CONFLICT, "already_decided", message);
                e.detail.trip = Some(status);
                e
            }
            TripError::Store(StoreError::Unavailable(_)) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("{message}; try again shortly"),
            ),
            TripError::Store(_) | TripError::Engine(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let text = rejection.body_text();
        match rejection {
            JsonRejection::JsonDataError(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("The JSON body does not have the expected shape: {text}"),
            ),
            JsonRejection::JsonSyntaxError(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("The body is not valid JSON: {text}"),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "json_required",
                "Send the body as JSON with `Content-Type: application/json`.",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "The body is larger than the {} KiB allowed.",
                    crate::MAX_BODY_BYTES / 1024
                ),
            ),
            other => ApiError::new(other.status(), "unreadable_body", text),
        }
    }
}

/// A JSON body whose rejections are [`ApiError`]s.
pub struct JsonBody<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}
