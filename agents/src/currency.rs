//! Exchange rates and the two currency tools the itinerary agent may call.
//!
//! Rates come from a [`RatesProvider`] that reports rate, date and source: the built-in
//! [`ReferenceRates`] table by default (works offline), or [`HttpRates`] when a rates URL is
//! configured.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::{Amount, CurrencyCode, Money};
use crate::tools::{Tool, ToolResult, Toolbox};

pub use crate::money::ExchangeRate;

/// Why a rate could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RatesError {
    #[error("no exchange rate is known for {from} -> {to} ({source_name})")]
    Unknown {
        from: CurrencyCode,
        to: CurrencyCode,
        source_name: String,
    },
    #[error("the rates service at {url} failed: {message}")]
    Service { url: String, message: String },
}

/// A source of exchange rates.
#[async_trait]
pub trait RatesProvider: Send + Sync + std::fmt::Debug {
    async fn rate(
        &self,
        from: &CurrencyCode,
        to: &CurrencyCode,
    ) -> Result<ExchangeRate, RatesError>;
}

/// Approximate mid-market rates, units per US dollar, as of [`ReferenceRates::DATE`].
/// Good enough to plan a budget offline; not for paying.
const UNITS_PER_USD: &[(&str, f64)] = &[
    ("USD", 1.0),
    ("EUR", 0.88),
    ("GBP", 0.74),
    ("JPY", 144.0),
    ("CHF", 0.82),
    ("CAD", 1.37),
    ("AUD", 1.54),
    ("NZD", 1.67),
    ("CNY", 7.19),
    ("HKD", 7.85),
    ("SGD", 1.29),
    ("KRW", 1370.0),
    ("TWD", 30.0),
    ("THB", 32.7),
    ("VND", 26000.0),
    ("IDR", 16300.0),
    ("MYR", 4.25),
    ("PHP", 55.7),
    ("INR", 85.5),
    ("LKR", 299.0),
    ("NPR", 137.0),
    ("KHR", 4010.0),
    ("LAK", 21600.0),
    ("MMK", 2100.0),
    ("PKR", 282.0),
    ("BDT", 122.0),
    ("MNT", 3570.0),
    ("KZT", 510.0),
    ("UZS", 12700.0),
    ("MVR", 15.4),
    ("AED", 3.6725),
    ("SAR", 3.75),
    ("QAR", 3.64),
    ("OMR", 0.385),
    ("BHD", 0.376),
    ("KWD", 0.306),
    ("JOD", 0.709),
    ("ILS", 3.5),
    ("TRY", 39.0),
    ("EGP", 49.7),
    ("MAD", 9.0),
    ("TND", 2.98),
    ("ZAR", 17.9),
    ("NAD", 17.9),
    ("BWP", 13.5),
    ("KES", 129.0),
    ("TZS", 2650.0),
    ("UGX", 3650.0),
    ("RWF", 1420.0),
    ("ETB", 135.0),
    ("GHS", 10.3),
    ("NGN", 1560.0),
    ("XOF", 577.0),
    ("XAF", 577.0),
    ("MUR", 45.5),
    ("MXN", 19.2),
    ("GTQ", 7.68),
    ("CRC", 505.0),
    ("DOP", 59.0),
    ("COP", 4100.0),
    ("PEN", 3.6),
    ("BOB", 6.91),
    ("CLP", 940.0),
    ("ARS", 1180.0),
    ("UYU", 41.5),
    ("BRL", 5.6),
    ("ISK", 127.0),
    ("NOK", 10.1),
    ("SEK", 9.6),
    ("DKK", 6.55),
    ("PLN", 3.75),
    ("CZK", 21.9),
    ("HUF", 350.0),
    ("RON", 4.4),
    ("BGN", 1.72),
    ("RSD", 103.0),
    ("UAH", 41.5),
    ("GEL", 2.73),
    ("AMD", 387.0),
    ("FJD", 2.25),
    ("XPF", 105.0),
];

/// The built-in table of reference rates (works offline).
#[derive(Debug, Default, Clone)]
pub struct ReferenceRates;

impl ReferenceRates {
    pub const DATE: &'static str = "2025-06-02";
    pub const SOURCE: &'static str = "built-in reference table (approximate mid-market rates)";

    fn units_per_usd(code: &CurrencyCode) -> Option<f64> {
        UNITS_PER_USD
            .iter()
            .find(|(c, _)| *c == code.as_str())
            .map(|(_, units)| *units)
    }

    /// Every currency the table knows.
    pub fn currencies() -> impl Iterator<Item = &'static str> {
        UNITS_PER_USD.iter().map(|(c, _)| *c)
    }
}

#[async_trait]
impl RatesProvider for ReferenceRates {
    async fn rate(
        &self,
        from: &CurrencyCode,
        to: &CurrencyCode,
    ) -> Result<ExchangeRate, RatesError> {
        let unknown = || RatesError::Unknown {
            from: from.clone(),
            to: to.clone(),
            source_name: Self::SOURCE.into(),
        };
        let from_units = Self::units_per_usd(from).ok_or_else(unknown)?;
        let to_units = Self::units_per_usd(to).ok_or_else(unknown)?;
        let rate = to_units / from_units;
        Ok(ExchangeRate {
            from: from.clone(),
            to: to.clone(),
            rate: (rate * 1e6).round() / 1e6,
            date: Self::DATE.into(),
            source: Self::SOURCE.into(),
        })
    }
}

/// Rates from an HTTP service.
///
/// The URL may hold `{from}` and `{to}` placeholders; without them `?from=..&to=..` is
/// appended. The reply is Frankfurter-shaped: `{"date": "2025-06-02", "rates": {"EUR": 0.88}}`.
/// Answers are cached for an hour.
#[derive(Debug, Clone)]
pub struct HttpRates {
    url: String,
    http: reqwest::Client,
    cache: Arc<Mutex<RateCache>>,
}

/// Rates fetched, by (from, to), with when they were fetched.
type RateCache = HashMap<(CurrencyCode, CurrencyCode), (Instant, ExchangeRate)>;

impl HttpRates {
    const CACHE_FOR: Duration = Duration::from_secs(3600);

    pub fn new(url: impl Into<String>, http: reqwest::Client) -> Self {
        Self {
            url: url.into(),
            http,
            cache: Arc::default(),
        }
    }

    fn url_for(&self, from: &CurrencyCode, to: &CurrencyCode) -> String {
        if self.url.contains("{from}") || self.url.contains("{to}") {
            self.url
                .replace("{from}", from.as_str())
                .replace("{to}", to.as_str())
        } else {
            let sep = if self.url.contains('?') { '&' } else { '?' };
            format!("{}{sep}from={from}&to={to}", self.url)
        }
    }

    fn source_name(&self) -> String {
        url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| self.url.clone())
    }
}

#[derive(Deserialize)]
struct RatesReply {
    date: Option<String>,
    rates: HashMap<String, f64>,
}

#[async_trait]
impl RatesProvider for HttpRates {
    async fn rate(
        &self,
        from: &CurrencyCode,
        to: &CurrencyCode,
    ) -> Result<ExchangeRate, RatesError> {
        let key = (from.clone(), to.clone());
        if let Some((at, rate)) = self.cache.lock().expect("rates cache").get(&key)
            && at.elapsed() < Self::CACHE_FOR
        {
            return Ok(rate.clone());
        }
        let url = self.url_for(from, to);
        let failed = |message: String| RatesError::Service {
            url: url.clone(),
            message,
        };
        let response = self
            .http
            .get(&url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("HTTP {status}")));
        }
        let reply: RatesReply = response
            .json()
            .await
            .map_err(|e| failed(format!("unreadable reply: {e}")))?;
        let rate = *reply
            .rates
            .get(to.as_str())
            .ok_or_else(|| RatesError::Unknown {
                from: from.clone(),
                to: to.clone(),
                source_name: self.source_name(),
            })?;
        let rate = ExchangeRate {
            from: from.clone(),
            to: to.clone(),
            rate,
            date: reply
                .date
                .unwrap_or_else(|| chrono::Utc::now().date_naive().to_string()),
            source: self.source_name(),
        };
        self.cache
            .lock()
            .expect("rates cache")
            .insert(key, (Instant::now(), rate.clone()));
        Ok(rate)
    }
}

/// Arguments of `get_exchange_rate`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetExchangeRateArgs {
    /// The currency to convert from.
    pub from: CurrencyCode,
    /// The currency to convert to.
    pub to: CurrencyCode,
}

/// Arguments of `convert_currency`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConvertCurrencyArgs {
    /// The amount to convert, not negative.
    #[schemars(range(min = 0))]
    pub amount: f64,
    pub from: CurrencyCode,
    pub to: CurrencyCode,
}

/// What `convert_currency` answers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversion {
    pub original: Money,
    pub converted: Money,
    pub rate: ExchangeRate,
}

/// `get_exchange_rate`: a rate between two currencies.
#[derive(Debug, Clone)]
pub struct GetExchangeRate {
    rates: Arc<dyn RatesProvider>,
}

#[async_trait]
impl Tool for GetExchangeRate {
    type Args = GetExchangeRateArgs;
    type Finding = ExchangeRate;
    const NAME: &'static str = "get_exchange_rate";
    const DESCRIPTION: &'static str =
        "Get today's exchange rate between two currencies (ISO 4217 codes).";

    async fn run(&self, args: GetExchangeRateArgs) -> Result<ToolResult<ExchangeRate>, String> {
        let rate = lookup(&self.rates, &args.from, &args.to).await?;
        Ok(ToolResult {
            content: to_json(&rate),
            finding: Some(rate),
        })
    }
}

/// `convert_currency`: an amount converted, with the rate used.
#[derive(Debug, Clone)]
pub struct ConvertCurrency {
    rates: Arc<dyn RatesProvider>,
}

#[async_trait]
impl Tool for ConvertCurrency {
    type Args = ConvertCurrencyArgs;
    type Finding = ExchangeRate;
    const NAME: &'static str = "convert_currency";
    const DESCRIPTION: &'static str =
        "Convert an amount of money from one currency into another (ISO 4217 codes).";

    async fn run(&self, args: ConvertCurrencyArgs) -> Result<ToolResult<ExchangeRate>, String> {
        let amount = Amount::from_f64(args.amount)
            .ok()
            .filter(|a| !a.is_negative())
            .ok_or_else(|| format!("amount {} must be a non-negative number", args.amount))?;
        let rate = lookup(&self.rates, &args.from, &args.to).await?;
        let conversion = Conversion {
            original: Money::new(amount, args.from),
            converted: Money::new(rate.convert(amount), args.to),
            rate: rate.clone(),
        };
        Ok(ToolResult {
            content: to_json(&conversion),
            finding: Some(rate),
        })
    }
}

/// A rate for a tool call; a failure is a message for the model.
async fn lookup(
    rates: &Arc<dyn RatesProvider>,
    from: &CurrencyCode,
    to: &CurrencyCode,
) -> Result<ExchangeRate, String> {
    rates.rate(from, to).await.map_err(|e| e.to_string())
}

/// The currency tools over one rates provider: the itinerary agent's toolbox.
pub fn currency_tools(rates: Arc<dyn RatesProvider>) -> Toolbox<ExchangeRate> {
    Toolbox::none()
        .with(GetExchangeRate {
            rates: rates.clone(),
        })
        .with(ConvertCurrency { rates })
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("tool results are plain data")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: &str) -> CurrencyCode {
        CurrencyCode::parse(c).unwrap()
    }

    #[tokio::test]
    async fn reference_rates_cross_through_the_dollar() {
        let rate = ReferenceRates
            .rate(&code("EUR"), &code("JPY"))
            .await
            .unwrap();
        assert!((rate.rate - 144.0 / 0.88).abs() < 0.01, "{rate:?}");
        assert_eq!(rate.date, ReferenceRates::DATE);
        let same = ReferenceRates
            .rate(&code("USD"), &code("USD"))
            .await
            .unwrap();
        assert_eq!(same.rate, 1.0);
        assert!(
            ReferenceRates
                .rate(&code("USD"), &code("ZWG"))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn every_reference_currency_is_iso_4217() {
        for c in ReferenceRates::currencies() {
            CurrencyCode::parse(c).unwrap();
        }
    }

    #[tokio::test]
    async fn tools_answer_json_and_refuse_anything_else() {
        let tools = currency_tools(Arc::new(ReferenceRates));
        let converted = tools
            .call(
                "convert_currency",
                r#"{"amount": 100, "from": "USD", "to": "EUR"}"#,
            )
            .await;
        let value: serde_json::Value = serde_json::from_str(&converted.content).unwrap();
        assert_eq!(value["converted"]["amount"], 88.0);
        assert_eq!(converted.finding.unwrap().source, ReferenceRates::SOURCE);

        let refused = tools.call("book_flight", r#"{"to": "anywhere"}"#).await;
        assert!(refused.content.contains("unknown tool `book_flight`"));
        assert!(refused.finding.is_none());

        let bad = tools
            .call("get_exchange_rate", r#"{"from": "USD", "to": "DOLLARS"}"#)
            .await;
        assert!(bad.content.contains("invalid arguments"), "{}", bad.content);
    }
}
