//! The plan a traveller reviews: what the agents produced, and totals computed in code.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use travel_agents::{
    Amount, CurrencyCode, DestinationRecommendations, DestinationSuggestion, ExchangeRate,
    Itinerary, LocalTips, Money, PackingList,
};

use crate::request::TripRequest;

/// A saved plan. Revisions start at 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TripPlan {
    pub instance_id: String,
    pub revision: u32,
    pub created_at: DateTime<Utc>,
    pub request: TripRequest,
    pub recommendations: DestinationRecommendations,
    /// The top recommendation, which the itinerary and tips are for.
    pub destination: DestinationSuggestion,
    pub itinerary: Itinerary,
    pub local_tips: LocalTips,
    /// What to pack (plans of workflow revision 5 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packing: Option<PackingList>,
    pub costs: CostSummary,
    /// True when the built-in demo model wrote it.
    pub demo: bool,
    /// What the reviewer asked for to get this revision (absent from the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<crate::progress::ChangeRequest>,
}

/// What the itinerary costs, per person, computed in code from the activities and the rates the
/// currency tool reported. No total comes from the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostSummary {
    /// Activity costs summed per currency.
    pub by_currency: Vec<Money>,
    /// Each day's cost in the budget currency.
    pub per_day: Vec<Money>,
    /// The whole itinerary in the budget currency.
    pub total: Money,
    pub budget: Money,
    pub over_budget: bool,
    /// The rates used for the conversion (rate, date, source).
    pub rates: Vec<ExchangeRate>,
    /// Amounts left out of the total because no rate was reported for their currency.
    pub unconverted: Vec<Money>,
}

/// The rate from `from` into `to` among `rates` (an inverse rate serves too).
pub fn find_rate(rates: &[ExchangeRate], from: &CurrencyCode, to: &CurrencyCode) -> Option<f64> {
    if from == to {
        return Some(1.0);
    }
    rates
        .iter()
        .find(|r| &r.from == from && &r.to == to)
        .map(|r| r.rate)
        .or_else(|| {
            rates
                .iter()
                .find(|r| &r.from == to && &r.to == from && r.rate > 0.0)
                .map(|r| 1.0 / r.rate)
        })
}

impl CostSummary {
    pub fn compute(itinerary: &Itinerary, budget: &Money) -> Self {
        let rates = &itinerary.exchange_rates;
        let mut by_currency: Vec<Money> = Vec::new();
        let mut unconverted: Vec<Money> = Vec::new();
        let mut per_day = Vec::new();
        let mut total = Amount::ZERO;
        for day in &itinerary.days {
            let mut day_total = Amount::ZERO;
            for cost in day
                .activities
                .iter()
                .filter_map(|a| a.estimated_cost.as_money())
            {
                add(&mut by_currency, &cost);
                match find_rate(rates, &cost.currency, &budget.currency) {
                    Some(rate) => day_total += cost.amount.at_rate(rate),
                    None => add(&mut unconverted, &cost),
                }
            }
            per_day.push(Money::new(day_total.cents(), budget.currency.clone()));
            total += day_total;
        }
        let total = Money::new(total.cents(), budget.currency.clone());
        let used: Vec<ExchangeRate> = rates
            .iter()
            .filter(|r| {
                by_currency
                    .iter()
                    .any(|m| m.currency == r.from || m.currency == r.to)
            })
            .fold(Vec::new(), |mut acc, r| {
                if !acc
                    .iter()
                    .any(|a: &ExchangeRate| a.from == r.from && a.to == r.to)
                {
                    acc.push(r.clone());
                }
                acc
            });
        Self {
            over_budget: total.amount > budget.amount,
            by_currency: by_currency
                .into_iter()
                .map(|m| Money::new(m.amount.cents(), m.currency))
                .collect(),
            per_day,
            total,
            budget: budget.clone(),
            rates: used,
            unconverted,
        }
    }

    /// Currencies the itinerary uses that have no rate into the budget currency.
    pub fn missing_currencies(itinerary: &Itinerary, budget: &CurrencyCode) -> Vec<CurrencyCode> {
        let mut missing: Vec<CurrencyCode> = Vec::new();
        for cost in itinerary
            .days
            .iter()
            .flat_map(|d| &d.activities)
            .filter_map(|a| a.estimated_cost.as_money())
        {
            if find_rate(&itinerary.exchange_rates, &cost.currency, budget).is_none()
                && !missing.contains(&cost.currency)
            {
                missing.push(cost.currency);
            }
        }
        missing
    }
}

fn add(sums: &mut Vec<Money>, money: &Money) {
    match sums.iter_mut().find(|m| m.currency == money.currency) {
        Some(sum) => sum.amount += money.amount,
        None => sums.push(money.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(code: &str) -> CurrencyCode {
        CurrencyCode::parse(code).unwrap()
    }

    fn money(amount: f64, currency: &str) -> Money {
        Money::new(Amount::from_f64(amount).unwrap(), code(currency))
    }

    /// An itinerary whose days cost what `days` says (free activities as `None`).
    fn itinerary(days: &[&[Option<(f64, &str)>]], rates: &[(&str, &str, f64)]) -> Itinerary {
        let activity = |cost: &Option<(f64, &str)>| travel_agents::Activity {
            time_slot: travel_agents::TimeSlot::Morning,
            name: "Walk".into(),
            description: "A walk".into(),
            location: "Old town".into(),
            estimated_cost: match cost {
                None => travel_agents::Cost::Free,
                Some((amount, currency)) => travel_agents::Cost::Paid {
                    amount: Amount::from_f64(*amount).unwrap(),
                    currency: code(currency),
                },
            },
        };
        Itinerary {
            destination: "Lisbon".into(),
            days: days
                .iter()
                .enumerate()
                .map(|(i, costs)| travel_agents::ItineraryDay {
                    day: i as u32 + 1,
                    date: None,
                    theme: "Sights".into(),
                    activities: costs.iter().map(activity).collect(),
                })
                .collect(),
            exchange_rates: rates
                .iter()
                .map(|(from, to, rate)| ExchangeRate {
                    from: code(from),
                    to: code(to),
                    rate: *rate,
                    date: "2026-11-30".into(),
                    source: "test".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn totals_are_converted_into_the_budget_currency_day_by_day() {
        let plan = itinerary(
            &[
                &[Some((10.0, "EUR")), None],
                &[Some((1000.0, "JPY")), Some((5.5, "USD"))],
            ],
            &[("EUR", "USD", 1.1), ("USD", "JPY", 150.0)],
        );
        let costs = CostSummary::compute(&plan, &money(100.0, "USD"));
        assert_eq!(costs.per_day[0], money(11.0, "USD"));
        // JPY → USD through the inverse of USD → JPY.
        assert_eq!(costs.per_day[1], money(12.17, "USD"));
        assert_eq!(costs.total, money(23.17, "USD"));
        assert!(!costs.over_budget);
        assert_eq!(costs.by_currency.len(), 3);
        assert_eq!(costs.rates.len(), 2);
        assert!(costs.unconverted.is_empty());
    }

    #[test]
    fn costs_recorded_as_binary_numbers_read_as_decimals_and_write_back_the_same() {
        // A summary as releases before decimal amounts recorded it.
        let recorded = serde_json::json!({
            "byCurrency": [{"amount": 0.3, "currency": "EUR"}],
            "perDay": [{"amount": 0.1, "currency": "USD"}, {"amount": 0.2, "currency": "USD"}],
            "total": {"amount": 23.17, "currency": "USD"},
            "budget": {"amount": 2500.0, "currency": "USD"},
            "overBudget": false,
            "rates": [],
            "unconverted": [],
        });
        let costs: CostSummary = serde_json::from_value(recorded.clone()).unwrap();
        assert_eq!(serde_json::to_value(&costs).unwrap(), recorded);
        let days: Amount = costs.per_day.iter().map(|m| m.amount).sum();
        assert_eq!(days, Amount::from_f64(0.3).unwrap(), "0.1 + 0.2, exactly");
    }

    #[test]
    fn amounts_without_a_rate_are_left_out_and_named() {
        let plan = itinerary(&[&[Some((40.0, "GBP")), Some((20.0, "EUR"))]], &[]);
        let budget = money(10.0, "EUR");
        let costs = CostSummary::compute(&plan, &budget);
        assert_eq!(costs.total, money(20.0, "EUR"));
        assert!(costs.over_budget);
        assert_eq!(costs.unconverted, vec![money(40.0, "GBP")]);
        assert_eq!(
            CostSummary::missing_currencies(&plan, &budget.currency),
            vec![code("GBP")]
        );
    }
}
