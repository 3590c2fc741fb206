//! A trip's id: the id of its workflow instance, `trip-` and 20 hexadecimal digits for the trips
//! this service starts. Read once where it comes in (a URL, a form, the command line) and passed
//! typed from there, so an approval token, an approver or a plan location cannot be handed where
//! a trip is meant.

use std::fmt;
use std::ops::Deref;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The longest id read: longer than any this service makes or an operator would type.
const MAX_LEN: usize = 128;

/// A trip's (workflow instance's) id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TripId(String);

/// Text that cannot be a trip's id: it names no trip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a trip id (letters, digits, `-`, `_`, `.` and `:`, at most 128)")]
pub struct NotATripId(pub String);

impl TripId {
    /// A new trip's id: `trip-` and 20 random hexadecimal digits.
    pub fn new_random() -> Self {
        Self(format!("trip-{}", travel_platform::secret::random_hex(10)))
    }

    /// Reads an id: what the engine accepts as an instance id and a URL carries as it is.
    pub fn parse(text: &str) -> Result<Self, NotATripId> {
        let fits = !text.is_empty()
            && text.len() <= MAX_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if fits {
            Ok(Self(text.to_owned()))
        } else {
            Err(NotATripId(text.chars().take(MAX_LEN).collect()))
        }
    }

    /// An id read back from the store: the engine keeps only ids that came in through
    /// [`Self::parse`] or [`Self::new_random`] (or, for trips of earlier releases, as the
    /// service made them then), so it is not checked again.
    pub(crate) fn recorded(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for TripId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TripId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for TripId {
    type Err = NotATripId;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for TripId {
    type Error = NotATripId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TripId> for String {
    fn from(id: TripId) -> Self {
        id.0
    }
}

impl PartialEq<str> for TripId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TripId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for TripId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for TripId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TripId".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "The trip's id (its workflow instance's), e.g. trip-3f9a0c1d2e4b5a6c7d8e"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_the_service_makes_and_older_ones_read_and_others_do_not() {
        let made = TripId::new_random();
        assert_eq!(TripId::parse(&made).unwrap(), made);
        assert!(made.starts_with("trip-") && made.len() == 25, "{made}");
        for old in ["trip-from-revision-one", "trip-old", "a.b:c_d"] {
            assert_eq!(TripId::parse(old).unwrap().as_str(), old);
        }
        for bad in [
            "",
            "trip 1",
            "../etc/passwd",
            "trip/1",
            "tríp",
            &"x".repeat(129),
        ] {
            assert!(TripId::parse(bad).is_err(), "{bad}");
        }
        let read: TripId = serde_json::from_str("\"trip-1\"").unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), "\"trip-1\"");
        assert!(serde_json::from_str::<TripId>("\"trip 1\"").is_err());
    }
}
