//! The plan as people read it: one presenter, [`PlanPresentation`], from which both the Markdown
//! document (saved beside the JSON, served at `/plan.md`) and the review page are rendered.

use std::fmt::Write;

use crate::plan::{TripPlan, find_rate};

/// A recommended destination.
pub struct DestinationLine {
    pub name: String,
    pub country: String,
    pub score: u32,
    pub reasoning: String,
    pub chosen: bool,
}

/// One activity of the itinerary, with its cost in the budget currency.
pub struct ActivityLine {
    pub day: u32,
    /// `2027-05-10`, or empty when the trip has no start date.
    pub date: String,
    /// `morning`, ...
    pub slot: &'static str,
    /// For a page: `Mon 10 May morning`.
    pub when: String,
    pub name: String,
    pub location: String,
    /// As the model gave it: `12.00 EUR` or `free`.
    pub cost: String,
    /// In the budget currency (`—` when no rate was reported).
    pub converted: String,
}

/// A place with what to know about it.
pub struct Named {
    pub name: String,
    pub detail: String,
}

/// The plan, ready to render.
pub struct PlanPresentation {
    pub title: String,
    pub demo: bool,
    /// (label, value) about the request and the plan.
    pub facts: Vec<(&'static str, String)>,
    pub destinations: Vec<DestinationLine>,
    pub activities: Vec<ActivityLine>,
    pub budget_currency: String,
    pub total: String,
    pub budget: String,
    /// By how much, when over budget: `120.50 USD`.
    pub over_budget: Option<String>,
    pub rates: Vec<String>,
    pub attractions: Vec<Named>,
    pub restaurants: Vec<Named>,
    pub tips: Vec<String>,
    /// What to pack, `Rain jacket` with `1 · Clothing: weather turns quickly` (plans of
    /// workflow revision 5 on; empty before).
    pub packing: Vec<Named>,
}

impl PlanPresentation {
    pub fn of(plan: &TripPlan) -> Self {
        let budget_currency = plan.costs.budget.currency.to_string();
        let over = plan.costs.total.amount - plan.costs.budget.amount;
        Self {
            title: format!("{}, {}", plan.destination.name, plan.destination.country),
            demo: plan.demo,
            facts: facts(plan),
            destinations: destinations(plan),
            activities: activities(plan),
            total: plan.costs.total.to_string(),
            budget: plan.costs.budget.to_string(),
            over_budget: plan
                .costs
                .over_budget
                .then(|| format!("{} {budget_currency}", over.grouped())),
            budget_currency,
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
            attractions: attractions(plan),
            restaurants: restaurants(plan),
            tips: plan.local_tips.insider_tips.clone(),
            packing: packing(plan),
        }
    }

    /// The Markdown document. Every text that came from the traveller or a model is escaped:
    /// it renders as the text it is, never as markup, a link, a heading or HTML.
    pub fn to_markdown(&self) -> String {
        let mut md = format!("# Trip plan: {}\n\n", text(&self.title));
        if self.demo {
            md.push_str("> **Demo plan**: written by the built-in demo model, not a real LLM.\n\n");
        }
        for (label, value) in &self.facts {
            let _ = writeln!(md, "- **{label}:** {}", text(value));
        }
        md.push_str("\n## Recommended destinations\n\n");
        for d in &self.destinations {
            let chosen = if d.chosen { " (chosen)" } else { "" };
            let _ = writeln!(
                md,
                "- **{}, {}** — match {}/100{chosen}: {}",
                text(&d.name),
                text(&d.country),
                d.score,
                text(&d.reasoning)
            );
        }
        self.itinerary_markdown(&mut md);
        for (heading, places) in [
            ("Attractions", &self.attractions),
            ("Restaurants", &self.restaurants),
        ] {
            let _ = writeln!(md, "\n## {heading}\n");
            for place in places {
                let _ = writeln!(md, "- **{}** — {}", text(&place.name), text(&place.detail));
            }
        }
        md.push_str("\n## Insider tips\n\n");
        for tip in &self.tips {
            let _ = writeln!(md, "- {}", text(tip));
        }
        if !self.packing.is_empty() {
            md.push_str("\n## What to pack\n\n");
            for item in &self.packing {
                let _ = writeln!(md, "- **{}** — {}", text(&item.name), text(&item.detail));
            }
        }
        md
    }

    /// The itinerary's table, the total against the budget, and the exchange rates used.
    fn itinerary_markdown(&self, md: &mut String) {
        let _ = write!(
            md,
            "\n## Itinerary\n\n| Day | Date | Time | Activity | Location | Cost | In {} |\n|---|---|---|---|---|---|---|\n",
            self.budget_currency
        );
        for a in &self.activities {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                a.day,
                a.date,
                a.slot,
                text(&a.name),
                text(&a.location),
                a.cost,
                a.converted
            );
        }
        let _ = writeln!(
            md,
            "\n**Total:** {} of a {} budget.",
            self.total, self.budget
        );
        if let Some(over) = &self.over_budget {
            let _ = writeln!(md, "\n> **Over budget** by {over}.");
        }
        for rate in &self.rates {
            let _ = writeln!(md, "- {}", text(rate));
        }
    }
}

fn destinations(plan: &TripPlan) -> Vec<DestinationLine> {
    plan.recommendations
        .destinations
        .iter()
        .map(|d| DestinationLine {
            name: d.name.clone(),
            country: d.country.clone(),
            score: d.match_score,
            reasoning: d.reasoning.clone(),
            chosen: d.name == plan.destination.name,
        })
        .collect()
}

fn attractions(plan: &TripPlan) -> Vec<Named> {
    plan.local_tips
        .attractions
        .iter()
        .map(|a| Named {
            name: a.name.clone(),
            detail: format!(
                "{} ({} min, {}, rated {:.1}): {}",
                a.location, a.visit_duration_minutes, a.cost, a.rating, a.description
            ),
        })
        .collect()
}

fn restaurants(plan: &TripPlan) -> Vec<Named> {
    plan.local_tips
        .restaurants
        .iter()
        .map(|r| Named {
            name: r.name.clone(),
            detail: format!(
                "{} in {}, rated {:.1}; order the {}",
                r.cuisine, r.location, r.rating, r.signature_dish
            ),
        })
        .collect()
}

fn facts(plan: &TripPlan) -> Vec<(&'static str, String)> {
    let r = &plan.request;
    let mut facts = vec![
        ("Traveller", r.traveller_name.clone()),
        ("Duration", format!("{} days", r.duration_days)),
    ];
    match (&r.start_date, &r.travel_dates) {
        (Some(start), _) => facts.push(("Starts", start.to_string())),
        (None, Some(dates)) => facts.push(("Dates", dates.clone())),
        _ => {}
    }
    facts.push(("Budget", plan.costs.budget.to_string()));
    facts.push(("Preferences", r.preferences.clone()));
    if let Some(requirements) = &r.special_requirements {
        facts.push(("Special requirements", requirements.clone()));
    }
    facts.push((
        "Plan",
        format!(
            "{} revision {} ({})",
            plan.instance_id,
            plan.revision,
            plan.created_at.to_rfc3339()
        ),
    ));
    if let Some(changes) = &plan.changes {
        facts.push(("Changes asked for", changes_asked(plan, changes)));
    }
    facts
}

/// What the reviewer asked for, in words: "Plan Porto instead. More museums, fewer tours".
fn changes_asked(plan: &TripPlan, changes: &crate::progress::ChangeRequest) -> String {
    let mut said = Vec::new();
    if changes.destination.is_some() {
        said.push(format!("Plan {} instead.", plan.destination.name));
    }
    if let Some(comments) = &changes.comments {
        said.push(comments.clone());
    }
    said.join(" ")
}

fn activities(plan: &TripPlan) -> Vec<ActivityLine> {
    let rates = &plan.itinerary.exchange_rates;
    let budget = &plan.costs.budget.currency;
    let mut lines = Vec::new();
    for day in &plan.itinerary.days {
        for a in &day.activities {
            let converted = match a.estimated_cost.as_money() {
                None => "0.00".to_owned(),
                Some(m) => find_rate(rates, &m.currency, budget)
                    .map(|rate| m.amount.at_rate(rate).grouped())
                    .unwrap_or_else(|| "—".into()),
            };
            let slot = a.time_slot.as_str();
            lines.push(ActivityLine {
                day: day.day,
                date: day.date.map(|d| d.to_string()).unwrap_or_default(),
                slot,
                when: match day.date {
                    Some(date) => format!("{} {slot}", date.format("%a %-d %b")),
                    None => slot.to_owned(),
                },
                name: a.name.clone(),
                location: a.location.clone(),
                cost: a.estimated_cost.to_string(),
                converted,
            });
        }
    }
    lines
}

/// Text as Markdown that renders as exactly that text, on one line inside a list item or a table
/// cell: line breaks become spaces (so nothing can start a heading, a list or a quote), the
/// characters of inline markup (emphasis, code, links and images, tables, strikethrough) are
/// escaped, and HTML cannot open (`<` and `&` become entities).
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
    out
}

/// The packing list, when the plan has one: each thing with how many, its kind and why.
fn packing(plan: &TripPlan) -> Vec<Named> {
    plan.packing
        .iter()
        .flat_map(|list| &list.items)
        .map(|item| Named {
            name: item.name.clone(),
            detail: format!(
                "{} · {}: {}",
                item.quantity,
                item.category.label(),
                item.reason
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn traveller_text_never_becomes_markup() {
        let hostile = "<script>alert(1)</script>\n# Heading [x](javascript:alert(1)) <img src=x onerror=y> | *bold*";
        let escaped = text(hostile);
        assert!(!escaped.contains('\n'));
        assert!(!escaped.contains("<script"));
        assert!(!escaped.contains("<img"));
        // The brackets are escaped: no link.
        assert!(!escaped.contains("x](javascript"));
        assert!(!escaped.contains(" | "));
        assert!(escaped.contains("\\[x\\](javascript:alert(1))"));
        assert_eq!(text("Café & bar, 3.5 km"), "Café &amp; bar, 3.5 km");
    }
}
