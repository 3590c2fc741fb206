//! What the templates show, computed in Rust so the templates only print.

use travel_agents::AgentName;
use travel_orchestration::plan::find_rate;
use travel_orchestration::{RowState, TimelineRow, TripPlan, TripState, TripStatus};

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

pub struct TimelineView {
    pub label: String,
    pub state: &'static str,
    pub state_label: &'static str,
    pub elapsed: String,
}

fn elapsed(ms: u64) -> String {
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
        };
        Self {
            label: row.label.clone(),
            state,
            state_label,
            elapsed: row.elapsed_ms.map(elapsed).unwrap_or_default(),
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

pub struct DestinationView {
    pub name: String,
    pub country: String,
    pub score: u32,
    pub reasoning: String,
    pub chosen: bool,
}

pub struct ActivityView {
    pub day: u32,
    pub when: String,
    pub name: String,
    pub location: String,
    pub cost: String,
    pub converted: String,
}

pub struct PlanView {
    pub destinations: Vec<DestinationView>,
    pub activities: Vec<ActivityView>,
    pub budget_currency: String,
    pub total: String,
    pub budget: String,
    pub over_budget: Option<String>,
    pub rates: Vec<String>,
    pub attractions: Vec<String>,
    pub restaurants: Vec<String>,
    pub tips: Vec<String>,
    pub location: String,
}

impl PlanView {
    pub fn new(plan: &TripPlan) -> Self {
        let budget_currency = plan.costs.budget.currency.clone();
        let activities = plan
            .itinerary
            .days
            .iter()
            .flat_map(|day| {
                day.activities.iter().map(move |a| {
                    let slot = serde_json::to_value(a.time_slot)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let converted = match a.estimated_cost.as_money() {
                        None => "0.00".to_owned(),
                        Some(m) => find_rate(
                            &plan.itinerary.exchange_rates,
                            &m.currency,
                            &plan.costs.budget.currency,
                        )
                        .map(|rate| format!("{:.2}", m.amount * rate))
                        .unwrap_or_else(|| "—".into()),
                    };
                    ActivityView {
                        day: day.day,
                        when: match day.date {
                            Some(date) => format!("{} {slot}", date.format("%a %-d %b")),
                            None => slot,
                        },
                        name: a.name.clone(),
                        location: a.location.clone(),
                        cost: a.estimated_cost.to_string(),
                        converted,
                    }
                })
            })
            .collect();
        let over = plan.costs.total.amount - plan.costs.budget.amount;
        Self {
            destinations: plan
                .recommendations
                .destinations
                .iter()
                .map(|d| DestinationView {
                    name: d.name.clone(),
                    country: d.country.clone(),
                    score: d.match_score,
                    reasoning: d.reasoning.clone(),
                    chosen: d.name == plan.destination.name,
                })
                .collect(),
            activities,
            budget_currency: budget_currency.to_string(),
            total: plan.costs.total.to_string(),
            budget: plan.costs.budget.to_string(),
            over_budget: plan
                .costs
                .over_budget
                .then(|| format!("{over:.2} {budget_currency}")),
            rates: plan
                .costs
                .rates
                .iter()
                .map(|r| {
                    format!(
                        "1 {} = {} {} ({}, {})",
                        r.from, r.rate, r.to, r.date, r.source
                    )
                })
                .collect(),
            attractions: plan
                .local_tips
                .attractions
                .iter()
                .map(|a| {
                    format!(
                        "{} — {} ({} min, {}, rated {:.1}): {}",
                        a.name,
                        a.location,
                        a.visit_duration_minutes,
                        a.cost,
                        a.rating,
                        a.description
                    )
                })
                .collect(),
            restaurants: plan
                .local_tips
                .restaurants
                .iter()
                .map(|r| {
                    format!(
                        "{} — {} in {}, rated {:.1}; order the {}",
                        r.name, r.cuisine, r.location, r.rating, r.signature_dish
                    )
                })
                .collect(),
            tips: plan.local_tips.insider_tips.clone(),
            location: String::new(),
        }
    }
}

pub struct TripRow {
    pub id: String,
    pub created: String,
    pub destination: String,
    pub status: &'static str,
    pub status_label: &'static str,
}

impl TripRow {
    pub fn new(status: &TripStatus) -> Self {
        Self {
            id: status.instance_id.clone(),
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
