//! duroxide's error details in the protocol's failure details, and back. The protocol's message
//! must not be empty (the Python test backend takes an empty one for a success), and the rest of
//! duroxide's details (its category, whether to retry, its kind) travel whole, as duroxide's
//! JSON, in one property the scheduler keeps and shows.

use std::collections::HashMap;

use duroxide::{AppErrorKind, ErrorDetails};
use prost_types::value::Kind;
use travel_durable_task::protocol::TaskFailureDetails;

/// The failure property holding duroxide's details.
pub const DETAILS_PROPERTY: &str = "duroxide.details";

pub fn to_protocol(details: &ErrorDetails) -> TaskFailureDetails {
    let message = details.display_message();
    let json = serde_json::to_string(details).unwrap_or_default();
    TaskFailureDetails {
        error_type: details.category().to_owned(),
        error_message: if message.trim().is_empty() {
            details.category().to_owned()
        } else {
            message
        },
        is_non_retriable: !details.is_retryable(),
        properties: HashMap::from([(
            DETAILS_PROPERTY.to_owned(),
            prost_types::Value {
                kind: Some(Kind::StringValue(json)),
            },
        )]),
        ..Default::default()
    }
}

/// duroxide's details of a failure: as written by [`to_protocol`], or, from another worker,
/// an activity's failure with the protocol's message.
pub fn from_protocol(failure: &TaskFailureDetails) -> ErrorDetails {
    failure
        .properties
        .get(DETAILS_PROPERTY)
        .and_then(|value| match &value.kind {
            Some(Kind::StringValue(json)) => serde_json::from_str(json).ok(),
            _ => None,
        })
        .unwrap_or_else(|| ErrorDetails::Application {
            kind: AppErrorKind::ActivityFailed,
            message: failure.error_message.clone(),
            retryable: !failure.is_non_retriable,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use duroxide::ConfigErrorKind;

    #[test]
    fn duroxide_s_details_come_back_whole_and_the_message_is_never_empty() {
        for details in [
            ErrorDetails::Application {
                kind: AppErrorKind::ActivityFailed,
                message: "the model ran out of quota".into(),
                retryable: false,
            },
            ErrorDetails::Application {
                kind: AppErrorKind::Cancelled {
                    reason: "stopped by an operator".into(),
                },
                message: String::new(),
                retryable: false,
            },
            ErrorDetails::Infrastructure {
                operation: "save".into(),
                message: "the store is down".into(),
                retryable: true,
            },
            ErrorDetails::Configuration {
                kind: ConfigErrorKind::Nondeterminism,
                resource: "PlanTrip".into(),
                message: None,
            },
        ] {
            let sent = to_protocol(&details);
            assert!(!sent.error_message.is_empty(), "{details:?}");
            assert_eq!(sent.is_non_retriable, !details.is_retryable());
            assert_eq!(from_protocol(&sent), details);
        }
    }

    #[test]
    fn another_worker_s_failure_reads_as_an_activity_failure() {
        let foreign = TaskFailureDetails {
            error_type: "ValueError".into(),
            error_message: "bad input".into(),
            is_non_retriable: true,
            ..Default::default()
        };
        assert_eq!(
            from_protocol(&foreign),
            ErrorDetails::Application {
                kind: AppErrorKind::ActivityFailed,
                message: "bad input".into(),
                retryable: false,
            }
        );
    }
}
