//! An amount of money as a decimal: `0.1 + 0.2` is `0.3`, a day's costs add up to what a person
//! adding them gets, and cents are rounded once, half away from zero. Written in JSON as a plain
//! number, as amounts always were: records of earlier releases and the models' answers read as
//! they are (a number is read through its shortest decimal form, `12.3` as 12.3 exactly).

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub};
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An amount of money (in a currency kept beside it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(Decimal);

/// A number that is not an amount (not finite, or beyond 28 significant digits).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0} is not an amount of money")]
pub struct NotAnAmount(pub String);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// A number's shortest decimal form as an amount: `0.1_f64` is 0.1.
    pub fn from_f64(value: f64) -> Result<Self, NotAnAmount> {
        if !value.is_finite() {
            return Err(NotAnAmount(value.to_string()));
        }
        Decimal::from_str(&value.to_string())
            .map(Self)
            .map_err(|_| NotAnAmount(value.to_string()))
    }

    /// Whole units: `Amount::units(2500)`.
    pub fn units(units: i64) -> Self {
        Self(Decimal::from(units))
    }

    /// The nearest binary number, for what has no decimal (a database column, a chart).
    pub fn to_f64(self) -> f64 {
        f64::from_str(&self.0.to_string()).unwrap_or(0.0)
    }

    /// Rounded to cents, half away from zero: 2.345 is 2.35.
    pub fn cents(self) -> Self {
        Self(
            self.0
                .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero),
        )
    }

    /// Converted at `rate` units of the other currency for one of this one (not rounded).
    pub fn at_rate(self, rate: f64) -> Self {
        let rate = Self::from_f64(rate).unwrap_or_default();
        Self(self.0.checked_mul(rate.0).unwrap_or(Decimal::MAX))
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    /// The amount with two decimals and its thousands grouped: `700,000.00`, `-1,250.50`.
    pub fn grouped(self) -> String {
        let cents = self.cents();
        let fixed = format!("{:.2}", cents.0.abs());
        let (whole, decimals) = fixed.split_once('.').unwrap_or((&fixed, "00"));
        let sign = if cents.is_negative() { "-" } else { "" };
        format!("{sign}{}.{decimals}", crate::money::group_digits(whole))
    }
}

impl FromStr for Amount {
    type Err = NotAnAmount;
    /// A decimal as written: `2500`, `12.50`.
    fn from_str(text: &str) -> Result<Self, NotAnAmount> {
        Decimal::from_str(text.trim())
            .map(Self)
            .map_err(|_| NotAnAmount(text.to_owned()))
    }
}

impl Add for Amount {
    type Output = Amount;
    fn add(self, other: Amount) -> Amount {
        Amount(self.0.checked_add(other.0).unwrap_or(Decimal::MAX))
    }
}

impl AddAssign for Amount {
    fn add_assign(&mut self, other: Amount) {
        *self = *self + other;
    }
}

impl Sub for Amount {
    type Output = Amount;
    fn sub(self, other: Amount) -> Amount {
        Amount(self.0.checked_sub(other.0).unwrap_or(Decimal::MIN))
    }
}

impl Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(amounts: I) -> Amount {
        amounts.fold(Amount::ZERO, Add::add)
    }
}

impl fmt::Display for Amount {
    /// The plain decimal: `2500`, `12.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.normalize().fmt(f)
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.to_f64())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Number;
        impl serde::de::Visitor<'_> for Number {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount of money (a number)")
            }
            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Amount, E> {
                Amount::from_f64(value).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Amount, E> {
                Ok(Amount::units(value))
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Amount, E> {
                Ok(Amount(Decimal::from(value)))
            }
        }
        deserializer.deserialize_f64(Number)
    }
}

impl JsonSchema for Amount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Amount".into()
    }

    fn inline_schema() -> bool {
        true
    }

    /// A number, as `f64`'s schema says it.
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        f64::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(value: f64) -> Amount {
        Amount::from_f64(value).unwrap()
    }

    #[test]
    fn amounts_add_up_as_decimals_and_round_half_away_from_zero() {
        assert_eq!(amount(0.1) + amount(0.2), amount(0.3));
        assert_eq!(
            (0..10).map(|_| amount(0.1)).sum::<Amount>(),
            Amount::units(1)
        );
        assert_eq!(amount(2.345).cents(), amount(2.35));
        assert_eq!(amount(-2.345).cents(), amount(-2.35));
        assert_eq!(amount(100.0).at_rate(0.92).cents(), amount(92.0));
        assert_eq!(amount(1_234_567.891).grouped(), "1,234,567.89");
        assert_eq!(amount(-0.001).grouped(), "0.00");
        assert!(Amount::from_f64(f64::NAN).is_err());
    }

    #[test]
    fn amounts_are_plain_json_numbers_both_ways() {
        for text in ["12.5", "2500", "0.1", "1234.56"] {
            let read: Amount = serde_json::from_str(text).unwrap();
            assert_eq!(
                serde_json::to_string(&read).unwrap().trim_end_matches(".0"),
                text
            );
        }
        assert!(serde_json::from_str::<Amount>("\"12\"").is_err());
        assert_eq!(
            serde_json::to_value(schemars::schema_for!(Amount)).unwrap()["type"],
            "number"
        );
    }
}
