//! Every error the API answers, turned into a JSON body in this one place.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;
use travel_orchestration::links::LinkError;
use travel_orchestration::{
    ConversationError, FieldError, ManagementError, StoreError, TripError, TripStatus,
};

/// Every error code the service answers, API and pages alike, and the HTTP status each one
/// carries: the one vocabulary of errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 422: the trip request (or the decision) has invalid fields; see `fields`.
    ValidationFailed,
    /// 422: the JSON body does not have the expected shape.
    InvalidBody,
    /// 400: the body is not JSON.
    MalformedJson,
    /// 415: the body must be sent as `application/json`.
    JsonRequired,
    /// 413
    BodyTooLarge,
    /// 400 (or what the body's rejection says)
    UnreadableBody,
    /// 400: a query parameter is wrong.
    InvalidQuery,
    /// 400: a part of the address does not parse (an id that is not UTF-8).
    InvalidPath,
    /// 400: a request header does not parse (`Last-Event-ID` that is not an event's id).
    InvalidHeader,
    /// 405: the address exists, the method does not.
    MethodNotAllowed,
    /// 406: the request does not accept what the address answers (`POST /mcp` needs
    /// `Accept: application/json, text/event-stream`).
    NotAcceptable,
    /// 414
    UriTooLong,
    /// 404: no such trip, agent or address.
    NotFound,
    /// 404: the trip exists but has not got this far yet (no plan, the agent has not finished).
    NotYetAvailable,
    /// 401
    ApprovalTokenRequired,
    /// 403
    ApprovalTokenInvalid,
    /// 401
    AdminTokenRequired,
    /// 429: too many wrong admin tokens came from this client lately; it is not checked again
    /// until `Retry-After` seconds have passed.
    TooManyAttempts,
    /// 403: without `ADMIN_TOKEN` only loopback host names are answered.
    HostNotAllowed,
    /// 403: a browser on another site asked for a change.
    CrossSiteRefused,
    /// 409: the trip is not waiting for approval.
    NotAwaitingApproval,
    /// 409: another answer (a decision, or a request for changes) was given on this plan first.
    AlreadyDecided,
    /// 409: the plan was revised as many times as a trip allows (`MAX_REVISIONS`).
    RevisionLimit,
    /// 409: the trip started before plans could be revised (approve or reject it).
    RevisionsUnsupported,
    /// 403: an approver's review link that this service did not make as it is, or whose
    /// approver is no longer in `APPROVERS`.
    ReviewLinkInvalid,
    /// 403: an approver's review link whose approval window has closed.
    ReviewLinkExpired,
    /// 409: an approver's review link made for an earlier revision of the plan.
    ReviewLinkOutdated,
    /// 409: only a failed trip can be tried again (with the trip's `trip` status).
    NotFailed,
    /// 409: an operator stopped (terminated) this trip; its requester cannot start it again
    /// (with the trip's `trip` status).
    StoppedByOperator,
    /// 409: the trip was tried again already (the message names the new trip).
    AlreadyRetried,
    /// 409: the instance has already finished.
    AlreadyFinished,
    /// 409: the instance is still running (terminate it first, or purge with force).
    StillRunning,
    /// 422: the workflow does not listen to that event, or its data is wrong.
    InvalidEvent,
    /// 503: the plan store or the workflow store cannot be reached now; try again shortly.
    StoreUnavailable,
    /// 503: the service is not ready (its workflow store is not reachable).
    NotReady,
    /// 503: this process has as many event streams open as it keeps (`MAX_EVENT_STREAMS`); try
    /// again after `Retry-After` seconds.
    TooManyStreams,
    /// 401: a conversation's requests need its token (`Authorization: Bearer
    /// <conversationToken>`).
    ConversationTokenRequired,
    /// 403: the token is not this conversation's.
    ConversationTokenInvalid,
    /// 410: the conversation expired after its idle time (`CONVERSATION_IDLE_SECS`); open a new
    /// one.
    ConversationExpired,
    /// 409: a reply to the conversation is being written; send the next message once it is.
    ConversationBusy,
    /// 409: the conversation started its trip and takes no more messages (the message names
    /// the trip).
    TripAlreadyStarted,
    /// 503: the intake agent's model could not answer; the message was not kept: send it again.
    AssistantUnavailable,
    /// 500
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            ValidationFailed | InvalidBody | InvalidEvent => StatusCode::UNPROCESSABLE_ENTITY,
            MalformedJson | UnreadableBody | InvalidQuery | InvalidPath | InvalidHeader => {
                StatusCode::BAD_REQUEST
            }
            JsonRequired => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ConversationTokenRequired => StatusCode::UNAUTHORIZED,
            ConversationTokenInvalid => StatusCode::FORBIDDEN,
            ConversationExpired => StatusCode::GONE,
            ConversationBusy | TripAlreadyStarted => StatusCode::CONFLICT,
            AssistantUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            UriTooLong => StatusCode::URI_TOO_LONG,
            TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            NotFound | NotYetAvailable => StatusCode::NOT_FOUND,
            ApprovalTokenRequired | AdminTokenRequired => StatusCode::UNAUTHORIZED,
            ApprovalTokenInvalid | HostNotAllowed | CrossSiteRefused | ReviewLinkInvalid
            | ReviewLinkExpired => StatusCode::FORBIDDEN,
            NotAwaitingApproval | AlreadyDecided | RevisionLimit | RevisionsUnsupported
            | ReviewLinkOutdated | NotFailed | StoppedByOperator | AlreadyRetried
            | AlreadyFinished | StillRunning => StatusCode::CONFLICT,
            StoreUnavailable | NotReady | TooManyStreams => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ErrorCode {
    /// The code for an error answered by the framework rather than a handler (a method the
    /// address does not have, a query that does not parse, ...).
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::NOT_ACCEPTABLE => ErrorCode::NotAcceptable,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
            StatusCode::URI_TOO_LONG => ErrorCode::UriTooLong,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::JsonRequired,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidBody,
            s if s.is_server_error() => ErrorCode::Internal,
            _ => ErrorCode::UnreadableBody,
        }
    }
}

impl From<&TripError> for ErrorCode {
    fn from(error: &TripError) -> Self {
        match error {
            TripError::Invalid(_) => ErrorCode::ValidationFailed,
            TripError::NotFound(_) | TripError::NoSuchRevision { .. } => ErrorCode::NotFound,
            TripError::NoPlanYet(_) | TripError::NoThread { .. } => ErrorCode::NotYetAvailable,
            TripError::MissingToken => ErrorCode::ApprovalTokenRequired,
            TripError::WrongToken => ErrorCode::ApprovalTokenInvalid,
            TripError::NotWaiting(_) => ErrorCode::NotAwaitingApproval,
            TripError::AlreadyDecided(_) => ErrorCode::AlreadyDecided,
            TripError::RevisionLimit { .. } => ErrorCode::RevisionLimit,
            TripError::RevisionsUnsupported => ErrorCode::RevisionsUnsupported,
            TripError::Link(LinkError::Expired) => ErrorCode::ReviewLinkExpired,
            TripError::Link(LinkError::OldRevision { .. }) => ErrorCode::ReviewLinkOutdated,
            TripError::Link(LinkError::BadSignature | LinkError::NotAnApprover(_)) => {
                ErrorCode::ReviewLinkInvalid
            }
            TripError::NotFailed(_) => ErrorCode::NotFailed,
            TripError::StoppedByOperator(_) => ErrorCode::StoppedByOperator,
            TripError::AlreadyRetried { .. } => ErrorCode::AlreadyRetried,
            TripError::Store(StoreError::Unavailable(_)) | TripError::StoreUnreachable => {
                ErrorCode::StoreUnavailable
            }
            TripError::Store(_) | TripError::Engine(_) => ErrorCode::Internal,
        }
    }
}

impl From<&ManagementError> for ErrorCode {
    fn from(error: &ManagementError) -> Self {
        match error {
            ManagementError::Trip(e) => e.into(),
            ManagementError::Finished(_) => ErrorCode::AlreadyFinished,
            ManagementError::StillRunning(_) => ErrorCode::StillRunning,
            ManagementError::UnknownEvent(_) | ManagementError::BadEventData(_) => {
                ErrorCode::InvalidEvent
            }
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// A stable, machine-readable code; the HTTP status follows from it.
    pub code: ErrorCode,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// The fields that are wrong, for validation errors (absent otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// The trip's current state, for conflicts (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip: Option<Box<TripStatus>>,
}

/// An error on its way out.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: ErrorDetail,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: code.status(),
            detail: ErrorDetail {
                code,
                message: message.into(),
                fields: Vec::new(),
                trip: None,
            },
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn validation(message: impl Into<String>, fields: Vec<FieldError>) -> Self {
        let mut error = Self::new(ErrorCode::ValidationFailed, message);
        error.detail.fields = fields;
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, code = ?self.detail.code, message = %self.detail.message, "request failed");
        }
        (self.status, Json(ErrorBody { error: self.detail })).into_response()
    }
}

impl From<TripError> for ApiError {
    fn from(error: TripError) -> Self {
        let code = ErrorCode::from(&error);
        let message = match code {
            ErrorCode::NotYetAvailable => {
                format!("{error}; try again once the trip has progressed")
            }
            // What the store said (its address, the driver's words) is logged, not answered.
            ErrorCode::StoreUnavailable => {
                tracing::warn!(error = %error, "a store cannot be reached");
                match error {
                    TripError::StoreUnreachable => {
                        "The workflow store cannot be reached just now; try again shortly.".into()
                    }
                    _ => "The plan store cannot be reached just now; try again shortly.".into(),
                }
            }
            ErrorCode::Internal => {
                tracing::error!(error = %error, "a request failed");
                "Something went wrong on our side; it was logged. Try again, or tell the operators."
                    .into()
            }
            ErrorCode::ValidationFailed => "Some fields are invalid; see `fields`.".into(),
            _ => error.to_string(),
        };
        let mut api_error = ApiError::new(code, message);
        match error {
            TripError::Invalid(fields) => api_error.detail.fields = fields,
            TripError::NotWaiting(status)
            | TripError::AlreadyDecided(status)
            | TripError::NotFailed(status)
            | TripError::StoppedByOperator(status) => api_error.detail.trip = Some(status),
            _ => {}
        }
        api_error
    }
}

impl From<&ConversationError> for ErrorCode {
    fn from(error: &ConversationError) -> Self {
        match error {
            ConversationError::Trip(e) => e.into(),
            ConversationError::NotFound(_) => ErrorCode::NotFound,
            ConversationError::Invalid(_) => ErrorCode::ValidationFailed,
            ConversationError::MissingToken => ErrorCode::ConversationTokenRequired,
            ConversationError::WrongToken => ErrorCode::ConversationTokenInvalid,
            ConversationError::Expired { .. } => ErrorCode::ConversationExpired,
            ConversationError::Busy => ErrorCode::ConversationBusy,
            ConversationError::TripStarted(_) => ErrorCode::TripAlreadyStarted,
            ConversationError::Model(_) => ErrorCode::AssistantUnavailable,
        }
    }
}

impl From<ConversationError> for ApiError {
    fn from(error: ConversationError) -> Self {
        match error {
            ConversationError::Trip(e) => e.into(),
            ConversationError::Invalid(fields) => {
                ApiError::validation("The message is invalid; see `fields`.", fields)
            }
            other => ApiError::new(ErrorCode::from(&other), other.to_string()),
        }
    }
}

impl From<ManagementError> for ApiError {
    fn from(error: ManagementError) -> Self {
        match error {
            ManagementError::Trip(e) => e.into(),
            other => ApiError::new(ErrorCode::from(&other), other.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let text = rejection.body_text();
        match rejection {
            // A field of the wrong type or form: said like the other checks, field by field.
            JsonRejection::JsonDataError(_) => body_misfit(&text),
            JsonRejection::JsonSyntaxError(_) => ApiError::new(
                ErrorCode::MalformedJson,
                format!("The body is not valid JSON: {text}"),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                ErrorCode::JsonRequired,
                "Send the body as JSON with `Content-Type: application/json`.",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                ErrorCode::BodyTooLarge,
                format!(
                    "The body is larger than the {} KiB allowed.",
                    crate::MAX_BODY_BYTES / 1024
                ),
            ),
            other => {
                let mut error = ApiError::new(ErrorCode::UnreadableBody, text);
                error.status = other.status();
                error
            }
        }
    }
}

/// A body that is JSON but not of the expected shape, from axum's rejection text (`Failed to
/// deserialize the JSON body into the target type: <path>: <serde's message> at line L column
/// C`): a field of the wrong type or form is said like the other checks, field by field.
pub(crate) fn body_misfit(text: &str) -> ApiError {
    match field_error(text) {
        Some(field) => ApiError::validation("Some fields are invalid; see `fields`.", vec![field]),
        None => ApiError::new(
            ErrorCode::InvalidBody,
            format!("The JSON body does not have the expected shape: {text}"),
        ),
    }
}

/// The field a body's type error is about, and what it expected, in words (from axum's
/// `Failed to deserialize ...: <path>: <serde's message> at line L column C`).
fn field_error(text: &str) -> Option<FieldError> {
    let detail = text.split_once("target type: ")?.1;
    let detail = detail.rsplit_once(" at line ").map_or(detail, |(d, _)| d);
    let quoted = |message: &str, after: &str| -> Option<String> {
        let rest = message.split_once(after)?.1;
        Some(rest.split('`').next()?.to_owned())
    };
    // The path is absent for a problem of the whole object (a missing field).
    let (path, message) = match detail.split_once(": ") {
        Some((path, message)) if !path.contains(' ') => (path.to_owned(), message),
        _ => (String::new(), detail),
    };
    let expected = if let Some(missing) = quoted(message, "missing field `") {
        let field = if path.is_empty() || path == "." {
            missing
        } else {
            format!("{path}.{missing}")
        };
        return Some(FieldError::new(field, "This field is required."));
    } else if message.starts_with("unknown field") {
        let known = message.split_once("expected ").map_or("", |(_, k)| k);
        format!(
            "Not a field of this request; expected {}.",
            known.replace('`', "")
        )
    } else if path.ends_with("Date")
        || message.contains("invalid characters")
        || message.contains("premature end of input")
    {
        "Expected a date written YYYY-MM-DD, such as 2027-05-10.".to_owned()
    } else if message.contains("expected u8")
        || message.contains("expected u32")
        || message.contains("expected u64")
    {
        "Expected a whole number of 0 or more.".to_owned()
    } else if message.contains("expected f64") || message.contains("expected f32") {
        "Expected a number.".to_owned()
    } else if message.contains("expected a string") {
        "Expected text (a JSON string).".to_owned()
    } else if message.contains("expected a boolean") {
        "Expected true or false.".to_owned()
    } else {
        format!("Not understood: {message}.")
    };
    Some(FieldError::new(
        if path.is_empty() { "body".into() } else { path },
        expected,
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn said(detail: &str) -> FieldError {
        field_error(&format!(
            "Failed to deserialize the JSON body into the target type: {detail} at line 1 column 55"
        ))
        .unwrap()
    }

    #[test]
    fn a_type_error_names_the_field_and_the_expected_form() {
        let cases = [
            (
                "durationDays: invalid value: integer `-3`, expected u32",
                "durationDays",
                "Expected a whole number of 0 or more.",
            ),
            (
                "startDate: input contains invalid characters",
                "startDate",
                "Expected a date written YYYY-MM-DD, such as 2027-05-10.",
            ),
            (
                "budget.amount: invalid type: string \"lots\", expected f64",
                "budget.amount",
                "Expected a number.",
            ),
            (
                "missing field `preferences`",
                "preferences",
                "This field is required.",
            ),
            (
                "budget: missing field `currency`",
                "budget.currency",
                "This field is required.",
            ),
            (
                "travelerName: invalid type: integer `5`, expected a string",
                "travelerName",
                "Expected text (a JSON string).",
            ),
            (
                "approved: invalid type: string \"yes\", expected a boolean",
                "approved",
                "Expected true or false.",
            ),
        ];
        for (detail, field, message) in cases {
            assert_eq!(said(detail), FieldError::new(field, message), "{detail}");
        }
        let unknown =
            said("foo: unknown field `foo`, expected one of `travelerName`, `preferences`");
        assert_eq!(unknown.field, "foo");
        assert_eq!(
            unknown.message,
            "Not a field of this request; expected one of travelerName, preferences."
        );
        assert!(field_error("something else entirely").is_none());
    }
}
