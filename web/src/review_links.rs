//! An approver's review page, opened from their signed link (`APPROVERS`; see
//! `travel_orchestration::links`): the plan of the revision the link was made for, and, while
//! that revision awaits approval, approve, reject or ask for changes. The link's GET only shows;
//! its page's forms POST, carrying the link, which is checked again.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use travel_orchestration::links::{ApprovalLinks, LinkParams};
use travel_orchestration::presentation::PlanPresentation;
use travel_orchestration::trips::LinkAnswer;
use travel_orchestration::{
    ApprovalDecision, ChangeRequest, ReviewAnswer, TripError, TripState, TripStatus, Trips,
};

use crate::WebState;
use crate::pages::revisions_left;
use crate::respond::{
    CarriesCsrf, SameSiteForm, TripInPath, error_page, render, trip_error, with_cookie,
};
use crate::views;

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    id: String,
    approver: String,
    revision: u32,
    traveller: String,
    destination: Option<String>,
    demo: bool,
    status: String,
    status_label: String,
    message: String,
    notice: Option<String>,
    /// Why the link no longer acts, when it does not.
    why_not: Option<String>,
    plan: Option<PlanPresentation>,
    /// What the traveller asked for, to check the plan against.
    request: Option<travel_orchestration::TripRequest>,
    request_title: &'static str,
    /// The review page offers other destinations in its changes form instead.
    plan_instead: bool,
    /// Beside each recommended destination.
    marks: Vec<&'static str>,
    can_act: bool,
    revisions_left: u32,
    /// The other recommendations: (position, "Porto, Portugal").
    other_destinations: Vec<(usize, String)>,
    link: LinkParams,
    csrf: String,
}

pub async fn review_page(
    State(state): State<WebState>,
    TripInPath(id): TripInPath,
    headers: HeaderMap,
    query: Result<Query<LinkParams>, QueryRejection>,
) -> Response {
    let Ok(Query(link)) = query else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Not a review link",
            "This address is missing part of its review link: open the link as it was sent.",
        );
    };
    let status = match state.trips.open_link(&id, &link).await {
        Ok(status) => status,
        Err(e) => return trip_error(e),
    };
    let plan = state
        .trips
        .plan_revision(&id, Some(link.revision))
        .await
        .ok();
    let left = match state.trips.input(&id).await {
        Ok(input) => revisions_left(&input, &status),
        Err(_) => 0,
    };
    let answers = state.trips.answers(&id).await.unwrap_or_default();
    let why_not = why_not(&status, &link, &answers);
    let (csrf, cookie) = state.forms.of(&headers);
    let mut presented = plan.as_ref().map(PlanPresentation::of);
    let marks = presented
        .as_ref()
        .map(|p| views::destination_marks(p, None))
        .unwrap_or_default();
    let page = ReviewPage {
        marks,
        id: id.to_string(),
        approver: link.approver.clone(),
        revision: link.revision,
        traveller: plan
            .as_ref()
            .map(|p| p.request.traveller_name.clone())
            .unwrap_or_default(),
        destination: plan
            .as_ref()
            .map(|p| format!("{}, {}", p.destination.name, p.destination.country)),
        demo: plan.as_ref().is_some_and(|p| p.demo),
        status: status.status.as_str().to_owned(),
        status_label: views::status_label(status.status).to_owned(),
        message: status
            .progress
            .as_ref()
            .map(|p| views::without_label(status.status, p.message.clone()))
            .unwrap_or_default(),
        notice: crate::pages::notice(&status),
        can_act: why_not.is_none(),
        why_not,
        other_destinations: plan.as_ref().map(other_destinations).unwrap_or_default(),
        plan: presented.take(),
        request: plan.as_ref().map(|p| p.request.clone()),
        request_title: "What the traveller asked for",
        plan_instead: false,
        revisions_left: left,
        link,
        csrf,
    };
    with_cookie(render(StatusCode::OK, &page), cookie)
}

/// Why the link cannot act now, if it cannot: what was answered on its revision, and by whom,
/// when someone answered.
fn why_not(status: &TripStatus, link: &LinkParams, answers: &[ReviewAnswer]) -> Option<String> {
    let answered = answers
        .iter()
        .find(|a| a.revision() == Some(link.revision))
        .map(answered_by);
    if let Err(e) = Trips::link_acts(status, link) {
        return Some(match answered {
            Some(answered) => format!("{e}: {answered}"),
            None => format!("{e}."),
        });
    }
    match (status.status, answered) {
        (TripState::AwaitingApproval, None) => None,
        (_, Some(answered)) => Some(answered),
        (TripState::Planning, None) => {
            Some("A revised plan is being prepared: its own link will be sent.".into())
        }
        (_, None) => Some("This plan is no longer waiting for a decision.".into()),
    }
}

/// "Ana approved this plan on 6 December 2026 at 21:05 UTC: “Lovely”."
fn answered_by(answer: &ReviewAnswer) -> String {
    let who = |name: &Option<String>| match name.as_deref() {
        Some("requester") | None => "The traveller".to_owned(),
        Some("operator") => "An operator".to_owned(),
        Some(approver) => approver.to_owned(),
    };
    let when = |at: &Option<chrono::DateTime<chrono::Utc>>| {
        at.map(|at| format!(" on {}", at.format("%-d %B %Y at %H:%M UTC")))
            .unwrap_or_default()
    };
    let said = |comments: &Option<String>| {
        comments
            .as_deref()
            .map(|c| format!(": “{c}”"))
            .unwrap_or_default()
    };
    match answer {
        ReviewAnswer::Decision(d) => format!(
            "{} {} this plan{}{}.",
            who(&d.decided_by),
            if d.approved { "approved" } else { "rejected" },
            when(&d.decided_at),
            said(&d.comments)
        ),
        ReviewAnswer::Changes { changes } => format!(
            "{} asked for a revised plan{}{}.",
            who(&changes.requested_by),
            when(&changes.requested_at),
            said(&changes.comments)
        ),
    }
}

fn other_destinations(plan: &travel_orchestration::TripPlan) -> Vec<(usize, String)> {
    plan.recommendations
        .destinations
        .iter()
        .enumerate()
        .filter(|(_, d)| d.name != plan.destination.name)
        .map(|(n, d)| (n, format!("{}, {}", d.name, d.country)))
        .collect()
}

/// A review page's answer: its link, and approve, reject or changes. (The link's fields are
/// listed here rather than flattened: form decoding cannot read numbers in a flattened struct.)
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    revision: u32,
    approver: String,
    expires: i64,
    signature: String,
    answer: String,
    #[serde(default)]
    comments: String,
    #[serde(default)]
    destination: String,
    #[serde(default)]
    csrf: String,
}

impl CarriesCsrf for ReviewForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl ReviewForm {
    fn link(&self) -> LinkParams {
        LinkParams {
            revision: self.revision,
            approver: self.approver.clone(),
            expires: self.expires,
            signature: self.signature.clone(),
        }
    }

    /// What the approver chose, or the page saying the form was not filled in as offered.
    fn answer(&self) -> Result<LinkAnswer, Box<Response>> {
        let comments = Some(self.comments.trim().to_owned()).filter(|c| !c.is_empty());
        let unknown = |what: &str| {
            Box::new(error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unknown answer",
                format!("Choose {what}."),
            ))
        };
        Ok(match self.answer.as_str() {
            "approve" => LinkAnswer::Decide(ApprovalDecision::new(true, comments)),
            "reject" => LinkAnswer::Decide(ApprovalDecision::new(false, comments)),
            "changes" => LinkAnswer::Change(ChangeRequest {
                comments,
                destination: match self.destination.as_str() {
                    "" => None,
                    n => Some(n.parse().map_err(|_| unknown("one of the destinations"))?),
                },
                ..ChangeRequest::default()
            }),
            _ => return Err(unknown("Approve, Reject or Ask for a revised plan")),
        })
    }
}

pub async fn review_answer(
    State(state): State<WebState>,
    TripInPath(id): TripInPath,
    SameSiteForm(form): SameSiteForm<ReviewForm>,
) -> Response {
    let answer = match form.answer() {
        Ok(answer) => answer,
        Err(page) => return *page,
    };
    let link = form.link();
    let back = ApprovalLinks::review_path(&id, &link);
    match state.trips.answer_by_link(&id, &link, answer).await {
        Ok(_) | Err(TripError::AlreadyDecided(_)) | Err(TripError::NotWaiting(_)) => {
            // Give the workflow a moment to take the answer, so the page shows what it did.
            for _ in 0..100 {
                match state.trips.status(&id).await {
                    Ok(now) if now.status != TripState::AwaitingApproval => break,
                    _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                }
            }
            Redirect::to(&back).into_response()
        }
        Err(other) => trip_error(other),
    }
}
