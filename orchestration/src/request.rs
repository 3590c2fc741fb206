//! What a traveller asks for, and the checks it passes before anything starts.

pub use crate::field_error::FieldError;
use crate::free_text;
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use travel_agents::brief::MAX_DURATION_DAYS;
use travel_agents::{Amount, CurrencyCode, Money, TravellerBrief};

/// The longest free text accepted in any field.
pub const MAX_TEXT: usize = 2000;

/// How far ahead a trip may start: about two years.
pub const MAX_DAYS_AHEAD: u64 = 730;

/// A trip request, as posted to `POST /api/trips`. Unknown fields are refused (a misspelt optional
/// field would otherwise be dropped without a word).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TripRequest {
    /// Spelled `travelerName` in JSON (the API's and recorded histories' name).
    #[serde(rename = "travelerName")]
    #[schemars(length(min = 1, max = 200))]
    pub traveller_name: String,
    #[schemars(length(min = 1, max = MAX_TEXT))]
    pub preferences: String,
    #[schemars(range(min = 1, max = MAX_DURATION_DAYS))]
    pub duration_days: u32,
    pub budget: Budget,
    /// The first day of the trip (`YYYY-MM-DD`): from yesterday in UTC (it is already today
    /// somewhere) to 730 days after today; another date answers `validation_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_TEXT))]
    pub travel_dates: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_TEXT))]
    pub special_requirements: Option<String>,
}

/// The budget as posted: the currency is checked by [`TripRequest::validate`], not by parsing,
/// so that a bad code is reported beside every other bad field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Budget {
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 10_000_000))]
    pub amount: Amount,
    pub currency: String,
}

/// The currencies a budget may be in: those the built-in rate table converts.
pub fn budget_currencies() -> impl Iterator<Item = &'static str> {
    travel_agents::ReferenceRates::currencies()
}

fn convertible(code: &str) -> bool {
    let code = code.trim();
    budget_currencies().any(|c| c.eq_ignore_ascii_case(code))
}

/// The problems found in a request, field by field.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: &str, message: String) {
        self.0.push(FieldError {
            field: field.into(),
            message,
        });
    }
}

impl TripRequest {
    /// Checks every field as of today (UTC); returns all problems at once.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        self.validate_on(chrono::Utc::now().date_naive())
    }

    /// Checks every field as of `today`; returns all problems at once.
    pub fn validate_on(&self, today: NaiveDate) -> Result<(), Vec<FieldError>> {
        let mut problems = Problems::default();
        self.check_required_texts(&mut problems);
        if !(1..=MAX_DURATION_DAYS).contains(&self.duration_days) {
            problems.add(
                "durationDays",
                format!("The trip must last 1 to {MAX_DURATION_DAYS} days."),
            );
        }
        if let Some(start) = self.start_date {
            // A day of slack before today: it is already tomorrow somewhere.
            let (first, last) = (
                today - chrono::Days::new(1),
                today + chrono::Days::new(MAX_DAYS_AHEAD),
            );
            if start < first || start > last {
                problems.add(
                    "startDate",
                    format!("The trip must start between {today} and {last}."),
                );
            }
        }
        self.check_budget(&mut problems);
        self.check_free_text(&mut problems);
        if problems.0.is_empty() {
            Ok(())
        } else {
            Err(problems.0)
        }
    }

    fn check_required_texts(&self, problems: &mut Problems) {
        let name = self.traveller_name.trim();
        if name.is_empty() {
            problems.add("travelerName", "Enter the traveller's name.".into());
        } else if name.chars().count() > 200 {
            problems.add("travelerName", "Keep the name under 200 characters.".into());
        }
        if self.preferences.trim().is_empty() {
            problems.add(
                "preferences",
                "Describe what the traveller would enjoy.".into(),
            );
        } else if self.preferences.chars().count() > MAX_TEXT {
            problems.add(
                "preferences",
                format!("Keep preferences under {MAX_TEXT} characters."),
            );
        }
    }

    fn check_budget(&self, problems: &mut Problems) {
        if self.budget.amount <= Amount::ZERO {
            problems.add(
                "budget.amount",
                "The budget must be a positive amount.".into(),
            );
        } else if self.budget.amount > Amount::units(10_000_000) {
            problems.add(
                "budget.amount",
                "The budget must be below 10,000,000.".into(),
            );
        }
        if CurrencyCode::parse(&self.budget.currency).is_err() {
            problems.add(
                "budget.currency",
                format!(
                    "`{}` is not an ISO 4217 currency code such as USD or EUR.",
                    self.budget.currency
                ),
            );
        } else if !convertible(&self.budget.currency) {
            problems.add(
                "budget.currency",
                format!(
                    "Budgets in {} cannot be converted; use one of {}.",
                    self.budget.currency.trim().to_uppercase(),
                    budget_currencies().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }

    /// Free text: no hidden characters anywhere, the optional texts within bounds.
    fn check_free_text(&self, problems: &mut Problems) {
        for (field, value) in [
            ("travelerName", Some(&self.traveller_name)),
            ("preferences", Some(&self.preferences)),
            ("travelDates", self.travel_dates.as_ref()),
            ("specialRequirements", self.special_requirements.as_ref()),
        ] {
            if value.is_some_and(|v| v.chars().any(free_text::hidden)) {
                problems.add(field, free_text::HIDDEN_MESSAGE.into());
            }
        }
        for (field, value) in [
            ("travelDates", &self.travel_dates),
            ("specialRequirements", &self.special_requirements),
        ] {
            if value.as_ref().is_some_and(|v| v.chars().count() > MAX_TEXT) {
                problems.add(field, format!("Keep this under {MAX_TEXT} characters."));
            }
        }
    }

    /// What the agents are told (the name stays out).
    pub fn brief(&self) -> TravellerBrief {
        let trimmed = |v: &Option<String>| {
            v.as_ref()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        TravellerBrief {
            preferences: self.preferences.trim().to_owned(),
            duration_days: self.duration_days,
            budget: self.budget_money(),
            start_date: self.start_date,
            travel_dates: trimmed(&self.travel_dates),
            special_requirements: trimmed(&self.special_requirements),
        }
    }

    /// The budget as money (call after [`validate`](Self::validate)).
    pub fn budget_money(&self) -> Money {
        let currency = CurrencyCode::parse(&self.budget.currency)
            .unwrap_or_else(|_| CurrencyCode::parse("USD").expect("USD is ISO 4217"));
        Money::new(self.budget.amount, currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> TripRequest {
        let start = chrono::Utc::now().date_naive() + chrono::Days::new(60);
        serde_json::from_value(serde_json::json!({
            "travelerName": "Ada", "preferences": "quiet beaches, seafood", "durationDays": 4,
            "budget": {"amount": 2500, "currency": "USD"}, "startDate": start,
            "travelDates": "free text, optional", "specialRequirements": "vegetarian"
        }))
        .unwrap()
    }

    #[test]
    fn the_documented_body_is_accepted() {
        let r = request();
        r.validate().unwrap();
        assert_eq!(r.brief().budget.to_string(), "2,500.00 USD");
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut r = request();
        r.traveller_name = " ".into();
        r.duration_days = 30;
        r.budget = Budget {
            amount: Amount::units(-1),
            currency: "EURO".into(),
        };
        let fields: Vec<String> = r
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "travelerName",
                "durationDays",
                "budget.amount",
                "budget.currency"
            ]
        );
    }

    #[test]
    fn a_currency_without_rates_and_hidden_characters_are_refused() {
        let mut r = request();
        r.budget.currency = "KPW".into();
        r.traveller_name = "Ada\u{202E}evil".into();
        r.preferences = "sea\0".into();
        r.special_requirements = Some("vegetarian\nno stairs".into());
        let errors = r.validate().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["budget.currency", "travelerName", "preferences"]);
        assert!(errors[0].message.contains("USD"), "{}", errors[0].message);
        assert!(!budget_currencies().any(|c| c == "KPW"));
    }

    #[test]
    fn a_trip_starts_from_today_to_two_years_ahead() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let mut r = request();
        for (start, accepted) in [
            ("1900-01-01", false),
            ("2026-11-28", false),
            ("2026-11-29", true),
            ("2026-11-30", true),
            ("2028-11-29", true),
            ("2028-11-30", false),
            ("9999-12-31", false),
        ] {
            r.start_date = Some(start.parse().unwrap());
            let result = r.validate_on(today);
            assert_eq!(result.is_ok(), accepted, "{start}: {result:?}");
            if let Err(errors) = result {
                assert_eq!(errors[0].field, "startDate");
                assert!(
                    errors[0].message.contains("2028-11-29"),
                    "{}",
                    errors[0].message
                );
            }
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut body = serde_json::to_value(request()).unwrap();
        body["travellerName"] = "misspelt".into();
        assert!(serde_json::from_value::<TripRequest>(body).is_err());
    }
}
