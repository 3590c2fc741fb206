//! How the pages answer: a template rendered, the error pages (a trip's error with the status the
//! API gives it), a cookie set, and the forms they take, checked for their CSRF token before a
//! handler runs ([`SameSiteForm`]).

use askama::Template;
use axum::Form;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use travel_orchestration::{ApprovalDecision, TripError, TripId};

use travel_api::ErrorCode;

use crate::WebState;

pub(crate) fn render<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    message: String,
}

pub(crate) fn error_page(status: StatusCode, title: &str, message: impl Into<String>) -> Response {
    render(
        status,
        &ErrorPage {
            title: title.into(),
            message: message.into(),
        },
    )
}

/// The page for an answer whose fields were refused (`TripError::Invalid`): what was wrong.
pub(crate) fn invalid_fields_page(
    title: &str,
    fields: &[travel_orchestration::FieldError],
) -> Response {
    let problems: Vec<&str> = fields.iter().map(|f| f.message.as_str()).collect();
    error_page(StatusCode::UNPROCESSABLE_ENTITY, title, problems.join("; "))
}

/// A trip error as a page, with the status the API gives it (see [`ErrorCode`]).
pub(crate) fn trip_error(error: TripError) -> Response {
    let code = ErrorCode::from(&error);
    let (title, message) = match (&error, code) {
        (TripError::NotFound(id), _) => (
            "Trip not found",
            format!("There is no trip `{id}`. It may have been purged, or the link is mistyped."),
        ),
        (TripError::StoreUnreachable, _) => (
            "Temporarily unavailable",
            "Trips cannot be read just now. Nothing is lost: try again in a minute.".into(),
        ),
        (_, ErrorCode::StoreUnavailable) => (
            "Temporarily unavailable",
            "Saved plans cannot be read just now. Nothing is lost: try again in a minute.".into(),
        ),
        // What failed inside (a driver's words, an address) is logged, not shown.
        (_, ErrorCode::Internal) => {
            tracing::error!(error = %error, "a page failed");
            (
                "Something went wrong",
                "Something went wrong on our side; it was logged. Try again in a minute.".into(),
            )
        }
        (_, ErrorCode::NotYetAvailable) => ("Not ready yet", error.to_string()),
        (TripError::Invalid(fields), _) => {
            return invalid_fields_page("Your answer was not recorded", fields);
        }
        _ => ("Something went wrong", error.to_string()),
    };
    error_page(code.status(), title, message)
}

pub(crate) fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The route's one path parameter as text.
pub(crate) async fn path_text<S: Send + Sync>(
    parts: &mut axum::http::request::Parts,
    state: &S,
) -> Result<String, Response> {
    use axum::extract::FromRequestParts;
    let axum::extract::Path(text) = axum::extract::Path::<String>::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(text)
}

/// The trip a page's address names (`{id}`), read once. Text that cannot be a trip's id names no
/// trip: the "not found" page, as an unknown id gets.
pub struct TripInPath(pub TripId);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TripInPath {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Response> {
        let text = path_text(parts, state).await?;
        TripId::parse(&text)
            .map(Self)
            .map_err(|_| trip_error(TripError::NotFound(text)))
    }
}

/// A form posted from this site's own pages. A post from another site, or without the CSRF
/// token of this browser's cookie, is refused with the "Form expired" page before the handler
/// runs.
pub struct SameSiteForm<T>(pub T);

/// A form that carries the CSRF token its page was served with.
pub(crate) trait CarriesCsrf {
    fn csrf(&self) -> &str;
}

impl<S, T> axum::extract::FromRequest<S> for SameSiteForm<T>
where
    S: Send + Sync,
    WebState: axum::extract::FromRef<S>,
    T: serde::de::DeserializeOwned + CarriesCsrf,
{
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let headers = request.headers().clone();
        // A body that is not the form (none, another type) is answered as a page too.
        let Form(form) = Form::<T>::from_request(request, state)
            .await
            .map_err(|rejection| {
                error_page(
                    rejection.status(),
                    "Form not understood",
                    "This address takes the form of this service's own page. Reload the page and try again.",
                )
            })?;
        let web = <WebState as axum::extract::FromRef<S>>::from_ref(state);
        if web.forms.refuses(&headers, form.csrf()) {
            return Err(forbidden_post());
        }
        Ok(Self(form))
    }
}

pub(crate) fn forbidden_post() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form could not be verified (it came from another site, or its session expired). Reload the page and try again.",
    )
}

/// A form whose only field is its CSRF token (a button that acts).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

impl CarriesCsrf for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl CarriesCsrf for DecisionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Approve or reject, from the review page or the operator's instance page.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    decision: String,
    #[serde(default)]
    comments: String,
    #[serde(default)]
    pub(crate) csrf: String,
}

impl DecisionForm {
    /// The decision, or the page saying the form was not filled in as offered.
    pub(crate) fn decision(&self) -> Result<ApprovalDecision, Box<Response>> {
        let approved = match self.decision.as_str() {
            "approve" => true,
            "reject" => false,
            _ => {
                return Err(Box::new(error_page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Unknown decision",
                    "Choose Approve or Reject.",
                )));
            }
        };
        let comments = Some(self.comments.trim().to_owned()).filter(|c| !c.is_empty());
        Ok(ApprovalDecision::new(approved, comments))
    }
}
