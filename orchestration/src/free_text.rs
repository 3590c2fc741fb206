//! One policy for every text people write to the service: the trip request's fields, reviewers'
//! comments (approvals, rejections, requests for changes, by the requester, an approver or an
//! operator), travellers' messages in intake conversations and operators' reasons. Such text reaches the plan files, the pages, the dashboard
//! and notifications as written, so what could disguise it is refused where it comes in.

use crate::field_error::FieldError;

/// The longest reviewer's comment accepted.
pub const MAX_COMMENTS: usize = 2000;
/// The longest reason an operator may give for stopping a trip.
pub const MAX_REASON: usize = 500;

/// Characters that have no place in text people write: control characters other than line
/// breaks and tabs (NUL, ESC, ...), and the bidirectional overrides and isolates that make text
/// read other than it is (U+202A-U+202E, U+2066-U+2069).
pub fn hidden(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// What to tell the writer of text holding [`hidden`] characters.
pub const HIDDEN_MESSAGE: &str =
    "Remove control and text-direction characters (they can disguise text).";

/// The problem with `value` as the free text `field` of at most `max` characters, if any.
pub fn problem(field: &str, value: &str, max: usize) -> Option<FieldError> {
    if value.chars().any(hidden) {
        Some(FieldError::new(field, HIDDEN_MESSAGE))
    } else if value.chars().count() > max {
        Some(FieldError::new(
            field,
            format!("Keep this under {max} characters."),
        ))
    } else {
        None
    }
}

/// `value` trimmed, `None` when nothing is left.
pub fn trimmed(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_direction_characters_are_refused_line_breaks_are_not() {
        for bad in [
            "a\0b",
            "a\u{1b}[31mb",
            "paid\u{202E}evil",
            "x\u{2066}y",
            "\u{7f}",
        ] {
            let refused = problem("comments", bad, 100).expect(bad);
            assert_eq!(refused.field, "comments");
            assert_eq!(refused.message, HIDDEN_MESSAGE);
        }
        assert_eq!(
            problem("comments", "Line one\r\nline two\tand ü, 東京", 100),
            None
        );
        assert!(problem("reason", &"x".repeat(11), 10).is_some());
        assert_eq!(
            problem("reason", &"é".repeat(10), 10),
            None,
            "characters, not bytes"
        );
        assert_eq!(trimmed(Some("  ".into())), None);
        assert_eq!(trimmed(Some(" ok ".into())), Some("ok".into()));
    }
}
