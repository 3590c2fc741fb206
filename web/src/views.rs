//! What the templates show, computed in Rust so the templates only print.

use travel_agents::AgentName;
use travel_orchestration::{RowState, TimelineRow, TripState, TripStatus};

pub fn status_label(state: TripState) -> &'static str {
    match state {
        TripState::Planning => "Planning",
        TripState::AwaitingApproval => "Waiting for your approval",
        TripState::Booking => "Booking",
        TripState::Booked => "Booked",
        TripState::Rejected => "Rejected",
        TripState::Expired => "Expired",
        TripState::Failed => "Failed",
    }
}

/// The progress message shown after the status label, without saying the label twice
/// ("Booked — Booked: confirmation X" becomes "Booked — confirmation X"; "Waiting for your
/// approval — Waiting for approval of revision 2" becomes "Waiting for your approval —
/// revision 2"). Empty when the message says nothing more than the label.
pub fn without_label(state: TripState, message: String) -> String {
    let label = status_label(state);
    if let Some(rest) = message
        .strip_prefix(label)
        .and_then(|rest| rest.strip_prefix(": "))
    {
        return rest.to_owned();
    }
    match message.strip_prefix("Waiting for approval") {
        Some(rest) if state == TripState::AwaitingApproval => {
            rest.strip_prefix(" of ").unwrap_or(rest).trim().to_owned()
        }
        _ => message,
    }
}

/// A count as people read it: `8,785`.
pub fn count(n: u64) -> String {
    travel_agents::money::grouped_count(n)
}

/// An amount as people read it, thousands grouped: `9,000,000 IDR`, `2,500.50 EUR`.
pub fn amount(amount: &travel_agents::Amount, currency: &str) -> String {
    let grouped = amount.grouped();
    let grouped = grouped.strip_suffix(".00").unwrap_or(&grouped);
    format!("{grouped} {currency}")
}

/// How each recommended destination is marked beside its name: the plan's own "(chosen)";
/// while a revision for another destination (`planning`, "Porto, Portugal") is being planned,
/// "(chosen, being replaced)" and "(being planned)".
pub fn destination_marks(
    plan: &travel_orchestration::presentation::PlanPresentation,
    planning: Option<&str>,
) -> Vec<&'static str> {
    plan.destinations
        .iter()
        .map(|d| {
            let place = format!("{}, {}", d.name, d.country);
            match (d.chosen, planning) {
                (true, Some(_)) => " (chosen, being replaced)",
                (true, None) => " (chosen)",
                (false, Some(next)) if next == place => " (being planned)",
                (false, _) => "",
            }
        })
        .collect()
}

pub struct TimelineView {
    pub label: String,
    pub state: &'static str,
    pub state_label: &'static str,
    pub elapsed: String,
}

/// A duration for people: `850 ms`, `4.2 s`, `3 min 5 s`, `2 h 10 min`.
pub fn duration_text(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

impl TimelineView {
    fn new(row: &TimelineRow) -> Self {
        let (state, state_label) = match row.state {
            RowState::Pending => ("pending", "waiting"),
            RowState::Running => ("running", "running"),
            RowState::Done => ("done", "done"),
            RowState::Failed => ("failed", "failed"),
            RowState::Skipped => ("skipped", "skipped"),
            RowState::Reused => ("reused", "reused from the failed trip"),
        };
        Self {
            label: row.label.clone(),
            state,
            state_label,
            elapsed: row.elapsed_ms.map(duration_text).unwrap_or_default(),
        }
    }
}

/// The timeline as: before the parallel step, the parallel agents, after.
pub fn split_timeline(
    rows: &[TimelineRow],
) -> (Vec<TimelineView>, Vec<TimelineView>, Vec<TimelineView>) {
    let (mut before, mut parallel, mut after) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let view = TimelineView::new(row);
        match AgentName::parse(&row.key).map(|agent| agent.info().step) {
            Some(1) => before.push(view),
            Some(_) => parallel.push(view),
            None => after.push(view),
        }
    }
    (before, parallel, after)
}

pub struct TripRow {
    pub id: String,
    pub created: String,
    pub destination: String,
    pub status: &'static str,
    pub status_label: &'static str,
    /// Who it is for, when the request could be read.
    pub traveller: String,
    /// "from 2027-05-10, 4 days", or "4 days".
    pub dates: String,
    /// The plan's total in the budget's currency, once there is a plan.
    pub total: String,
}

impl TripRow {
    pub fn new(status: &TripStatus, request: Option<&travel_orchestration::TripRequest>) -> Self {
        Self {
            traveller: request
                .map(|r| r.traveller_name.clone())
                .unwrap_or_default(),
            dates: request
                .map(|r| match r.start_date {
                    Some(start) => format!("from {start}, {} days", r.duration_days),
                    None => format!("{} days", r.duration_days),
                })
                .unwrap_or_default(),
            total: status
                .progress
                .as_ref()
                .and_then(|p| p.plan.as_ref())
                .map(|plan| plan.total.to_string())
                .unwrap_or_default(),
            id: status.instance_id.to_string(),
            created: status
                .created_at
                .map(|c| c.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            destination: status
                .progress
                .as_ref()
                .and_then(|p| p.destination.clone())
                .unwrap_or_else(|| "Planning…".into()),
            status: status.status.as_str(),
            status_label: status_label(status.status),
        }
    }
}

/// A cost in US dollars, as operators read it.
pub(crate) fn usd(cost: Option<f64>, reused: bool) -> String {
    match (cost, reused) {
        (_, true) => "reused from the failed trip (paid there)".into(),
        (Some(cost), false) => format!("${cost:.4}"),
        (None, false) => "cost unknown (no price for the model: set LLM_PRICES)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use travel_agents::Amount;

    #[test]
    fn the_status_line_does_not_repeat_itself() {
        assert_eq!(
            without_label(TripState::Booked, "Booked: confirmation TP-1".into()),
            "confirmation TP-1"
        );
        assert_eq!(
            without_label(TripState::Booking, "Approved: booking the trip".into()),
            "Approved: booking the trip"
        );
        assert_eq!(
            without_label(TripState::AwaitingApproval, "Waiting for approval".into()),
            ""
        );
        assert_eq!(
            without_label(
                TripState::AwaitingApproval,
                "Waiting for approval of revision 2".into()
            ),
            "revision 2"
        );
        assert_eq!(amount(&Amount::units(9_000_000), "IDR"), "9,000,000 IDR");
        assert_eq!(count(8785), "8,785");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(
            amount(&Amount::from_f64(2500.5).unwrap(), "EUR"),
            "2,500.50 EUR"
        );
        assert_eq!(duration_text(850), "850 ms");
        assert_eq!(duration_text(4_200), "4.2 s");
        assert_eq!(duration_text(185_000), "3 min 5 s");
    }
}
