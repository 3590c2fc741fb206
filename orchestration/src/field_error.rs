//! What is wrong with one field of what someone sent: the request, a comment, a reason.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One field that is not acceptable, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldError {
    /// The JSON name of the field (`budget.currency` for nested ones).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
