//! Money as the traveller sees it: an amount in an ISO 4217 currency, never a string.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::amount::Amount;

/// Every active ISO 4217 currency code (list of 2024), used to reject invented codes.
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL \
BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP \
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW \
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO \
NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD \
SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG \
XOF XPF YER ZAR ZMW ZWG";

/// An ISO 4217 currency code such as `EUR`: three capital letters naming a real currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CurrencyCode(String);

impl JsonSchema for CurrencyCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CurrencyCode".into()
    }

    fn inline_schema() -> bool {
        true
    }

    /// The codes the service can convert (the reference table's): a model that names another
    /// currency leaves its amounts out of every total, so the schema does not let it. (Records
    /// keep reading any ISO 4217 code.)
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let codes: Vec<&str> = crate::currency::ReferenceRates::currencies().collect();
        schemars::json_schema!({
            "type": "string",
            "enum": codes,
            "description": "ISO 4217 currency code, e.g. EUR"
        })
    }
}

/// A code that is not an active ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ISO 4217 currency code")]
pub struct UnknownCurrency(pub String);

impl CurrencyCode {
    /// Parses a code, accepting lower case and surrounding spaces.
    pub fn parse(code: &str) -> Result<Self, UnknownCurrency> {
        let upper = code.trim().to_ascii_uppercase();
        let known = upper.len() == 3 && ISO_4217.split_ascii_whitespace().any(|c| c == upper);
        if known {
            Ok(Self(upper))
        } else {
            Err(UnknownCurrency(code.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CurrencyCode {
    type Error = UnknownCurrency;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CurrencyCode> for String {
    fn from(code: CurrencyCode) -> Self {
        code.0
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for CurrencyCode {
    type Err = UnknownCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An amount of money in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    /// The amount, not negative.
    #[schemars(range(min = 0))]
    pub amount: Amount,
    pub currency: CurrencyCode,
}

impl Money {
    pub fn new(amount: Amount, currency: CurrencyCode) -> Self {
        Self { amount, currency }
    }
}

impl fmt::Display for Money {
    /// `2,500.00 USD`: two decimals, thousands grouped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount.grouped(), self.currency)
    }
}

/// A whole number with its thousands grouped: `8,785`.
pub fn grouped_count(n: u64) -> String {
    group_digits(&n.to_string())
}

/// `1234567` as `1,234,567`.
pub(crate) fn group_digits(digits: &str) -> String {
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// What something costs: free, or an amount in a currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Cost {
    /// Costs nothing.
    Free,
    /// Costs this much per person.
    Paid {
        #[schemars(range(min = 0))]
        amount: Amount,
        currency: CurrencyCode,
    },
}

impl Cost {
    /// The cost as money, `None` when free.
    pub fn as_money(&self) -> Option<Money> {
        match self {
            Cost::Free => None,
            Cost::Paid { amount, currency } => Some(Money::new(*amount, currency.clone())),
        }
    }

    /// Why this cost is not acceptable, if it is not.
    pub fn problem(&self) -> Option<String> {
        match self {
            Cost::Paid { amount, .. } if amount.is_negative() => {
                Some(format!("cost {amount} must be a non-negative number"))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_money() {
            None => f.write_str("free"),
            Some(money) => money.fmt(f),
        }
    }
}

/// How many units of `to` one unit of `from` buys, as reported by `source` for `date`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeRate {
    pub from: CurrencyCode,
    pub to: CurrencyCode,
    pub rate: f64,
    /// The day the rate is for (YYYY-MM-DD).
    pub date: String,
    /// Who reported the rate.
    pub source: String,
}

impl ExchangeRate {
    /// `amount` in the other currency, to the cent.
    pub fn convert(&self, amount: Amount) -> Amount {
        amount.at_rate(self.rate).cents()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped_by_thousands() {
        assert_eq!(Amount::from_f64(700_000.0).unwrap().grouped(), "700,000.00");
        assert_eq!(Amount::from_f64(2500.0).unwrap().grouped(), "2,500.00");
        assert_eq!(Amount::from_f64(999.999).unwrap().grouped(), "1,000.00");
        assert_eq!(Amount::from_f64(12.5).unwrap().grouped(), "12.50");
        assert_eq!(Amount::from_f64(-1250.5).unwrap().grouped(), "-1,250.50");
        assert_eq!(
            Amount::from_f64(1_234_567.891).unwrap().grouped(),
            "1,234,567.89"
        );
        assert_eq!(Amount::from_f64(-0.001).unwrap().grouped(), "0.00");
    }

    #[test]
    fn currency_codes_are_checked_against_iso_4217() {
        assert_eq!(CurrencyCode::parse(" eur ").unwrap().as_str(), "EUR");
        assert!(CurrencyCode::parse("XYZ").is_err());
        assert!(CurrencyCode::parse("EURO").is_err());
        let json: Result<CurrencyCode, _> = serde_json::from_str("\"ABC\"");
        assert!(json.unwrap_err().to_string().contains("ISO 4217"));
    }

    #[test]
    fn costs_serialize_as_tagged_objects() {
        let paid = Cost::Paid {
            amount: Amount::from_f64(12.5).unwrap(),
            currency: CurrencyCode::parse("EUR").unwrap(),
        };
        assert_eq!(
            serde_json::to_value(&paid).unwrap(),
            serde_json::json!({"kind": "paid", "amount": 12.5, "currency": "EUR"})
        );
        assert_eq!(
            serde_json::to_value(Cost::Free).unwrap(),
            serde_json::json!({"kind": "free"})
        );
        assert_eq!(paid.to_string(), "12.50 EUR");
    }
}
