//! The trip form: shown, checked field by field, and a trip started from it.

use std::collections::HashMap;
use travel_agents::Amount;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use travel_orchestration::request::Budget;
use travel_orchestration::{TripError, TripRequest};

use crate::WebState;
use crate::cookies;
use crate::respond::{CarriesCsrf, SameSiteForm, render, trip_error, with_cookie};

/// The form's values, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FormValues {
    /// Spelled `travelerName` in JSON (the API's and recorded histories' name).
    #[serde(rename = "travelerName")]
    pub traveller_name: String,
    pub preferences: String,
    pub duration_days: String,
    pub budget_amount: String,
    pub budget_currency: String,
    pub start_date: String,
    pub travel_dates: String,
    pub special_requirements: String,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage {
    values: FormValues,
    errors: HashMap<String, String>,
    csrf: String,
    currencies: Vec<&'static str>,
}

impl FormPage {
    fn has_error(&self, field: &str) -> bool {
        self.errors.contains_key(field)
    }

    fn error(&self, field: &str) -> &str {
        self.errors
            .get(field)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

fn form_page(
    state: &WebState,
    status: StatusCode,
    values: FormValues,
    errors: HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let (csrf, cookie) = state.forms.of(headers);
    let currencies = travel_agents::ReferenceRates::currencies().collect();
    with_cookie(
        render(
            status,
            &FormPage {
                values,
                errors,
                csrf,
                currencies,
            },
        ),
        cookie,
    )
}

pub async fn new_trip(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let values = FormValues {
        duration_days: "4".into(),
        budget_amount: "2500".into(),
        budget_currency: "USD".into(),
        ..Default::default()
    };
    form_page(&state, StatusCode::OK, values, HashMap::new(), &headers)
}

/// The trip the form asks for, and what is wrong with it, by form field.
fn request_from(values: &FormValues) -> (TripRequest, HashMap<String, String>) {
    let mut errors = HashMap::new();
    let duration_days = values
        .duration_days
        .trim()
        .parse::<u32>()
        .unwrap_or_else(|_| {
            errors.insert(
                "durationDays".to_owned(),
                "Enter a whole number of days from 1 to 21.".to_owned(),
            );
            0
        });
    let amount = values
        .budget_amount
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|number| Amount::from_f64(number).ok())
        .unwrap_or_else(|| {
            errors.insert(
                "budgetAmount".to_owned(),
                "Enter the budget as a number, e.g. 2500.".to_owned(),
            );
            Amount::ZERO
        });
    let start_date = match values.start_date.trim() {
        "" => None,
        text => match text.parse() {
            Ok(date) => Some(date),
            Err(_) => {
                errors.insert(
                    "startDate".to_owned(),
                    "Enter the date as YYYY-MM-DD.".to_owned(),
                );
                None
            }
        },
    };
    let optional = |v: &str| Some(v.trim().to_owned()).filter(|s| !s.is_empty());
    let request = TripRequest {
        traveller_name: values.traveller_name.trim().to_owned(),
        preferences: values.preferences.trim().to_owned(),
        duration_days,
        budget: Budget {
            amount,
            currency: values.budget_currency.trim().to_uppercase(),
        },
        start_date,
        travel_dates: optional(&values.travel_dates),
        special_requirements: optional(&values.special_requirements),
    };
    if let Err(fields) = request.validate() {
        for field in fields {
            let name = match field.field.as_str() {
                "budget.amount" => "budgetAmount".to_owned(),
                "budget.currency" => "budgetCurrency".to_owned(),
                other => other.to_owned(),
            };
            errors.entry(name).or_insert(field.message);
        }
    }
    (request, errors)
}

pub async fn submit_trip(
    State(state): State<WebState>,
    headers: HeaderMap,
    SameSiteForm(values): SameSiteForm<FormValues>,
) -> Response {
    let (request, errors) = request_from(&values);
    if !errors.is_empty() {
        return form_page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            values,
            errors,
            &headers,
        );
    }
    match state.trips.start(request).await {
        Ok(started) => to_new_trip(started),
        Err(TripError::Invalid(_)) => form_page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            values,
            errors,
            &headers,
        ),
        Err(other) => trip_error(other),
    }
}

/// The page of a trip just started, with its approval token in this browser's cookie.
pub(crate) fn to_new_trip(started: travel_orchestration::trips::StartedTrip) -> Response {
    let response = Redirect::to(&format!("/trips/{}", started.instance_id)).into_response();
    let cookie = cookies::set_approval_token(&started.instance_id, &started.approval_token);
    with_cookie(response, Some(cookie))
}

impl CarriesCsrf for FormValues {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
