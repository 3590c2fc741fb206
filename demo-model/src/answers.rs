//! What the demo model answers each agent, built from the real output types so that every answer
//! follows the schema the agent sent.

use serde_json::{Value, json};

use super::catalogue::{self, Place};
use super::needs::Needs;
use travel_agents::{
    Activity, Attraction, AttractionCategory, ConvertCurrency, Cost, CurrencyCode,
    DestinationBrief, DestinationRecommendations, DestinationSuggestion, GetExchangeRate,
    Itinerary, ItineraryDay, LocalTips, PackingCategory, PackingItem, PackingList, PriceRange,
    Restaurant, TimeSlot, Tool, TravellerBrief,
};

pub fn destinations(brief: &TravellerBrief) -> DestinationRecommendations {
    let text = format!(
        "{} {}",
        brief.preferences,
        brief.special_requirements.as_deref().unwrap_or_default()
    );
    let ranked = catalogue::rank(&text);
    let destinations = ranked
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, m)| {
            let score = (58 + 9 * m.matched.len() as u32 + m.points.min(10)).min(97) - 5 * i as u32;
            let why = if m.matched.is_empty() {
                format!(
                    "{} A well-rounded choice for a {}-day trip.",
                    m.place.highlights, brief.duration_days
                )
            } else {
                format!(
                    "{} It matches your interest in {} and fits a {}-day trip.",
                    m.place.highlights,
                    m.matched.join(", "),
                    brief.duration_days
                )
            };
            DestinationSuggestion {
                name: m.place.name.clone(),
                country: m.place.country.clone(),
                currency: code(&m.place.currency),
                description: m.place.description.clone(),
                reasoning: why,
                match_score: score,
            }
        })
        .collect();
    DestinationRecommendations { destinations }
}

/// The tool calls of the itinerary agent's first round: the rate into the budget currency, and
/// what a typical day costs in it.
pub fn itinerary_tool_calls(brief: &DestinationBrief, foreign: bool) -> Vec<Value> {
    let local = brief.destination.currency.as_str();
    let budget = brief.traveller.budget.currency.as_str();
    let typical_day: f64 = catalogue::find(&brief.destination.name)
        .map(|p| p.activities.iter().take(3).map(|a| a.cost).sum())
        .unwrap_or(100.0);
    let call = |id: &str, name: &str, arguments: Value| json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}});
    let mut calls = vec![
        call(
            "call_rate_1",
            GetExchangeRate::NAME,
            json!({"from": local, "to": budget}),
        ),
        call(
            "call_convert_1",
            ConvertCurrency::NAME,
            json!({"amount": typical_day, "from": local, "to": budget}),
        ),
    ];
    if foreign {
        calls.push(call(
            "call_foreign_1",
            "book_all_hotels",
            json!({"confirm": true}),
        ));
    }
    calls
}

pub fn itinerary(brief: &DestinationBrief) -> Itinerary {
    let days = brief.traveller.duration_days.max(1);
    let currency = brief.destination.currency.clone();
    let place = catalogue::find(&brief.destination.name);
    let needs = needs_of(brief);
    let pool = |slot: &str| match place {
        Some(place) => slot_activities(place, slot, needs, &currency),
        None => generic_activities(&brief.destination.name, slot, &currency),
    };
    let (mornings, afternoons, evenings) = (pool("morning"), pool("afternoon"), pool("evening"));
    // A revision starts each slot's round further on, so the days change as a model's would.
    let shift = brief
        .feedback
        .as_ref()
        .map_or(0, |f| f.revision.saturating_sub(1)) as usize;
    let city = &brief.destination.name;
    // The k-th use of a slot (0 first): the next activity not yet done, or time of one's own
    // once the slot's activities have all been used (nothing is done twice).
    let pick = |list: &[Activity], slot: &str, k: u32| match list.get(k as usize) {
        Some(_) => list[(k as usize + shift) % list.len()].clone(),
        None => free_time(city, slot),
    };
    // "One free afternoon": the second day's (or the only day's).
    let free_afternoon = needs.free_afternoon.then_some(days.min(2));
    let days = (1..=days)
        .map(|n| {
            let mut activities = Vec::new();
            if n > 1 {
                activities.push(pick(&mornings, "morning", n - 2));
            }
            if free_afternoon == Some(n) {
                activities.push(free_time(city, "afternoon"));
            } else {
                activities.push(pick(&afternoons, "afternoon", n - 1));
            }
            if n < days || days == 1 {
                activities.push(pick(&evenings, "evening", n - 1));
            }
            let mut places: Vec<&str> = activities
                .iter()
                .filter(|a| {
                    !["Free morning", "Free afternoon", "Free evening"].contains(&a.name.as_str())
                })
                .map(|a| a.location.as_str())
                .collect();
            places.dedup();
            let theme = match (n, places.as_slice()) {
                (1, _) => format!("Arrival and first look at {city}"),
                (n, _) if n == days => "Last sights and departure".to_owned(),
                (_, []) => format!("Time of your own in {city}"),
                (_, [one]) => format!("{one} and time of your own"),
                (_, [first, second, ..]) => format!("{first} and {second}"),
            };
            ItineraryDay {
                day: n,
                date: brief.traveller.date_of_day(n),
                theme,
                activities,
            }
        })
        .collect();
    Itinerary {
        destination: brief.destination.name.clone(),
        days,
        exchange_rates: Vec::new(),
    }
}

/// Time of one's own in `city` for a slot of the day (`morning`, `afternoon`, `evening`).
fn free_time(city: &str, slot: &str) -> Activity {
    Activity {
        time_slot: time_slot(slot),
        name: format!("Free {slot}"),
        description: format!(
            "Time of your own in {city}: rest, wander, or go back to a favourite place from the days before."
        ),
        location: city.to_owned(),
        estimated_cost: Cost::Free,
    }
}

/// The place's activities for a time of day that suit the traveller (all of them when none
/// does: every slot keeps something to do).
fn slot_activities(
    place: &Place,
    slot: &str,
    needs: Needs,
    currency: &CurrencyCode,
) -> Vec<Activity> {
    let in_slot = place.activities.iter().filter(|a| a.slot == slot);
    let suited: Vec<_> = in_slot
        .clone()
        .filter(|a| needs.may_do(&format!("{} {}", a.name, a.description)))
        .collect();
    let chosen = if suited.is_empty() {
        in_slot.collect()
    } else {
        suited
    };
    chosen
        .into_iter()
        .map(|a| Activity {
            time_slot: time_slot(&a.slot),
            name: a.name.clone(),
            description: a.description.clone(),
            location: a.location.clone(),
            estimated_cost: cost(a.cost, currency),
        })
        .collect()
}

pub fn local_tips(brief: &DestinationBrief) -> LocalTips {
    let currency = brief.destination.currency.clone();
    let needs = needs_of(brief);
    let mut tips = match catalogue::find(&brief.destination.name) {
        Some(place) => from_place(place, &currency, needs),
        None => generic_tips(&brief.destination.name, &currency),
    };
    let mut insider_tips = needs.tips(&brief.destination.name);
    insider_tips.append(&mut tips.insider_tips);
    insider_tips.truncate(8);
    tips.insider_tips = insider_tips;
    tips
}

/// What to pack: the basics for the trip's length, what the place's kind of trip asks for (its
/// catalogue tags: beach, hiking, snow, temples...) and what the traveller's needs do.
pub fn packing(brief: &DestinationBrief) -> PackingList {
    use PackingCategory::*;
    let days = brief.traveller.duration_days.max(1);
    let place = brief.destination.name.as_str();
    let tags: Vec<&str> = catalogue::find(place)
        .map(|p| p.tags.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let has = |tag: &str| tags.contains(&tag);
    let needs = needs_of(brief);
    let item = |name: &str, category, quantity: u32, reason: String| PackingItem {
        name: name.to_owned(),
        category,
        quantity,
        reason,
    };
    let mut items = vec![
        item(
            "Passport or ID card",
            Documents,
            1,
            format!("For the journey to {place} and the hotel's check-in."),
        ),
        item(
            "Travel insurance details",
            Documents,
            1,
            "A copy on paper and one on the phone.".to_owned(),
        ),
        item(
            "Comfortable walking shoes",
            Footwear,
            1,
            format!("Most of the {days} days are spent on foot."),
        ),
        item(
            "Changes of clothes",
            Clothing,
            days.min(7),
            format!("One a day for {days} days (laundry after a week)."),
        ),
        item(
            "Phone charger and plug adapter",
            Electronics,
            1,
            format!("For the sockets in {}.", brief.destination.country),
        ),
        item(
            "Reusable water bottle",
            Gear,
            1,
            "Refilled through the day.".to_owned(),
        ),
    ];
    if has("beach") || has("islands") || has("diving") {
        items.push(item(
            "Swimwear",
            Clothing,
            2,
            "For the beaches, one drying while the other is worn.".to_owned(),
        ));
        items.push(item(
            "Reef-safe sunscreen",
            Health,
            1,
            "Strong sun by the water.".to_owned(),
        ));
    }
    if has("hiking") || has("mountains") || has("nature") {
        items.push(item(
            "Hiking boots",
            Footwear,
            1,
            "For the trails planned.".to_owned(),
        ));
        items.push(item(
            "Light rain jacket",
            Clothing,
            1,
            "Weather turns quickly on the trails.".to_owned(),
        ));
    }
    if has("snow") {
        items.push(item(
            "Warm layers, hat and gloves",
            Clothing,
            1,
            "Snow is likely.".to_owned(),
        ));
    }
    if has("temples") || has("culture") {
        items.push(item(
            "A scarf or shawl",
            Clothing,
            1,
            "Shoulders and knees are covered in temples and churches.".to_owned(),
        ));
    }
    if has("nightlife") || has("romance") || has("wine") {
        items.push(item(
            "One smart outfit",
            Clothing,
            1,
            "For an evening out.".to_owned(),
        ));
    }
    if needs.vegetarian || needs.vegan {
        let diet = if needs.vegan { "vegan" } else { "vegetarian" };
        items.push(item(
            "A diet card in the local language",
            Documents,
            1,
            format!("To explain a {diet} diet in restaurants."),
        ));
    }
    if needs.step_free {
        items.push(item(
            "Mobility aid and its charger",
            Health,
            1,
            "For the step-free routes planned.".to_owned(),
        ));
    }
    if needs.children {
        items.push(item(
            "Snacks and small games for the children",
            Other,
            1,
            "For waits and journeys.".to_owned(),
        ));
    }
    items.push(item(
        "Small first-aid kit",
        Health,
        1,
        "Plasters, painkillers and any medicine taken daily.".to_owned(),
    ));
    items.truncate(20);
    PackingList { items }
}

/// What the traveller needs, from their requirements and preferences, and from a reviewer's
/// comments on an earlier plan ("make it vegetarian").
fn needs_of(brief: &DestinationBrief) -> Needs {
    let traveller = &brief.traveller;
    Needs::read(&format!(
        "{} {} {}",
        traveller
            .special_requirements
            .as_deref()
            .unwrap_or_default(),
        traveller.preferences,
        brief
            .feedback
            .as_ref()
            .and_then(|f| f.comments.as_deref())
            .unwrap_or_default()
    ))
}

fn from_place(place: &Place, currency: &CurrencyCode, needs: Needs) -> LocalTips {
    // Restaurants whose signature dish suits the traveller first; at the others, what to ask for.
    let (mut restaurants, others): (Vec<_>, Vec<_>) = place
        .restaurants
        .iter()
        .partition(|r| needs.may_eat(&r.signature_dish));
    restaurants.extend(others);
    LocalTips {
        attractions: place
            .attractions
            .iter()
            .take(6)
            .map(|a| Attraction {
                name: a.name.clone(),
                category: category(&a.category),
                description: a.description.clone(),
                location: a.location.clone(),
                visit_duration_minutes: a.visit_minutes.max(1),
                cost: cost(a.cost, currency),
                rating: half_steps(a.rating),
            })
            .collect(),
        restaurants: restaurants
            .into_iter()
            .take(5)
            .map(|r| Restaurant {
                name: r.name.clone(),
                cuisine: r.cuisine.clone(),
                price_range: price_range(&r.price_range),
                rating: half_steps(r.rating),
                location: r.location.clone(),
                signature_dish: if needs.may_eat(&r.signature_dish) {
                    r.signature_dish.clone()
                } else {
                    needs.instead_of(&r.signature_dish)
                },
            })
            .collect(),
        insider_tips: place.tips.iter().take(6).cloned().collect(),
    }
}

/// A catalogue rating as the agents' schema has them: half steps from 0 to 5.
fn half_steps(rating: f64) -> f64 {
    ((rating * 2.0).round() / 2.0).clamp(0.0, 5.0)
}

/// A schema-valid answer that breaks the agent's rules (for the `invalid_output` fault).
pub fn break_rules(agent_output: Value) -> Value {
    let mut value = agent_output;
    if let Some(destinations) = value.get_mut("destinations").and_then(Value::as_array_mut) {
        destinations.truncate(2);
    } else if let Some(days) = value.get_mut("days").and_then(Value::as_array_mut) {
        days.pop();
    } else if let Some(first) = value.pointer_mut("/insiderTips/0") {
        *first = json!("");
    }
    value
}

fn code(c: &str) -> CurrencyCode {
    CurrencyCode::parse(c).unwrap_or_else(|_| CurrencyCode::parse("USD").expect("USD is ISO 4217"))
}

fn cost(amount: f64, currency: &CurrencyCode) -> Cost {
    if amount <= 0.0 {
        Cost::Free
    } else {
        Cost::Paid {
            amount: travel_agents::Amount::from_f64(amount).unwrap_or_default(),
            currency: currency.clone(),
        }
    }
}

fn time_slot(slot: &str) -> TimeSlot {
    match slot {
        "morning" => TimeSlot::Morning,
        "evening" => TimeSlot::Evening,
        _ => TimeSlot::Afternoon,
    }
}

fn category(name: &str) -> AttractionCategory {
    serde_json::from_value(json!(name)).unwrap_or(AttractionCategory::Other)
}

fn price_range(name: &str) -> PriceRange {
    serde_json::from_value(json!(name)).unwrap_or(PriceRange::Moderate)
}

fn generic_activities(city: &str, slot: &str, currency: &CurrencyCode) -> Vec<Activity> {
    let (name, description, location, amount) = match slot {
        "morning" => (
            "Old town walking tour",
            "A guided walk through the historic centre.",
            "Historic centre",
            20.0,
        ),
        "afternoon" => (
            "Main museum visit",
            "The city's best-known museum and its highlights.",
            "Museum quarter",
            15.0,
        ),
        _ => (
            "Dinner at a local favourite",
            "Regional dishes where locals eat.",
            "Central market area",
            30.0,
        ),
    };
    vec![Activity {
        time_slot: time_slot(slot),
        name: format!("{name} in {city}"),
        description: description.into(),
        location: location.into(),
        estimated_cost: cost(amount, currency),
    }]
}

fn generic_tips(city: &str, currency: &CurrencyCode) -> LocalTips {
    let attraction = |name: &str, category, minutes, amount| Attraction {
        name: format!("{name} of {city}"),
        category,
        description: format!("A highlight of {city}."),
        location: city.to_owned(),
        visit_duration_minutes: minutes,
        cost: cost(amount, currency),
        rating: 4.5,
    };
    LocalTips {
        attractions: vec![
            attraction(
                "Historic centre",
                AttractionCategory::Neighbourhood,
                120,
                0.0,
            ),
            attraction("Main museum", AttractionCategory::Museum, 90, 15.0),
            attraction("Central market", AttractionCategory::Market, 60, 0.0),
        ],
        restaurants: vec![
            Restaurant {
                name: format!("{city} market food stalls"),
                cuisine: "Local street food".into(),
                price_range: PriceRange::Budget,
                rating: 4.5,
                location: "Central market".into(),
                signature_dish: "Whatever the longest queue is for".into(),
            },
            Restaurant {
                name: format!("A family-run restaurant in {city}'s old town"),
                cuisine: "Regional".into(),
                price_range: PriceRange::Moderate,
                rating: 4.0,
                location: "Old town".into(),
                signature_dish: "The dish of the day".into(),
            },
        ],
        insider_tips: vec![
            "Visit the big sights at opening time to avoid queues.".into(),
            "Carry some cash in small notes for markets.".into(),
            "Ask your host which neighbourhood locals eat in.".into(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief(city: &str, requirements: &str) -> DestinationBrief {
        serde_json::from_value(json!({
            "destination": {"name": city, "country": "", "currency": "EUR", "description": "",
                            "reasoning": "", "matchScore": 90},
            "traveller": {"preferences": "food and sights", "durationDays": 5,
                          "budget": {"amount": 3000.0, "currency": "EUR"},
                          "specialRequirements": requirements}
        }))
        .unwrap()
    }

    /// The demo model's answers fit the agents' default output caps (it cuts a reply at four
    /// characters a token), for every place, from the shortest trip to the longest.
    #[test]
    fn every_answer_fits_its_agent_s_output_cap() {
        use travel_agents::{
            DestinationExpert, ItineraryPlanner, LocalGuide, PackingAdvisor, Role,
            brief::MAX_DURATION_DAYS,
        };
        let fits = |what: &str, answer: String, cap: u32| {
            assert!(
                answer.chars().count() <= cap as usize * 4,
                "{what}: {} characters, cap {cap} tokens",
                answer.chars().count()
            );
        };
        for days in [1, MAX_DURATION_DAYS] {
            for place in catalogue::places() {
                let mut brief = brief(&place.name, "vegetarian");
                brief.traveller.duration_days = days;
                fits(
                    "itinerary",
                    serde_json::to_string(&itinerary(&brief)).unwrap(),
                    ItineraryPlanner::output_cap(&brief),
                );
                fits(
                    "local tips",
                    serde_json::to_string(&local_tips(&brief)).unwrap(),
                    LocalGuide::output_cap(&brief),
                );
                fits(
                    "packing",
                    serde_json::to_string(&packing(&brief)).unwrap(),
                    PackingAdvisor::output_cap(&brief),
                );
                fits(
                    "destinations",
                    serde_json::to_string(&destinations(&brief.traveller)).unwrap(),
                    DestinationExpert::output_cap(&brief.traveller),
                );
            }
        }
    }

    #[test]
    fn a_vegetarian_is_not_told_to_order_meat_or_fish() {
        for place in catalogue::places() {
            let tips = local_tips(&brief(&place.name, "vegetarian"));
            let needs = Needs::read("vegetarian");
            for r in &tips.restaurants {
                assert!(
                    needs.may_eat(&r.signature_dish)
                        || r.signature_dish.starts_with("vegetarian dishes"),
                    "{}: {}",
                    place.name,
                    r.signature_dish
                );
            }
            assert!(
                tips.insider_tips[0].contains("vegetarian"),
                "{:?}",
                tips.insider_tips
            );
            assert!(tips.problems().is_empty(), "{:?}", tips.problems());
        }
        let reykjavik = local_tips(&brief("Reykjavik", "vegetarian"));
        assert!(
            reykjavik
                .restaurants
                .iter()
                .all(|r| !r.signature_dish.starts_with("Lobster"))
        );
        let anyone = local_tips(&brief("Reykjavik", ""));
        assert!(
            anyone
                .restaurants
                .iter()
                .any(|r| r.signature_dish.starts_with("Lobster"))
        );
    }

    #[test]
    fn a_reviewers_comments_change_the_plan_as_the_travellers_words_do() {
        let first = brief("Reykjavik", "");
        let mut revised = first.clone();
        revised.feedback = Some(travel_agents::ReviewerFeedback {
            revision: 2,
            comments: Some("Make it vegetarian, please".into()),
        });
        assert_ne!(itinerary(&first).days, itinerary(&revised).days);
        let tips = local_tips(&revised);
        assert!(
            tips.restaurants
                .iter()
                .all(|r| !r.signature_dish.starts_with("Lobster")),
            "{:?}",
            tips.restaurants
        );
        assert!(tips.insider_tips[0].contains("vegetarian"));
    }

    #[test]
    fn nothing_is_done_twice_and_a_free_afternoon_asked_for_is_free() {
        for place in catalogue::places() {
            let mut long = brief(&place.name, "");
            long.traveller.duration_days = 9;
            let plan = itinerary(&long);
            let mut done: Vec<&str> = plan
                .days
                .iter()
                .flat_map(|d| &d.activities)
                .map(|a| a.name.as_str())
                .filter(|n| !n.starts_with("Free "))
                .collect();
            let count = done.len();
            done.sort_unstable();
            done.dedup();
            assert_eq!(done.len(), count, "{}: {done:?}", place.name);
            assert!(plan.problems(9).is_empty(), "{:?}", plan.problems(9));
        }
        let mut revised = brief("Lisbon", "");
        revised.feedback = Some(travel_agents::ReviewerFeedback {
            revision: 2,
            comments: Some("Keep one free afternoon, please".into()),
        });
        let plan = itinerary(&revised);
        let afternoons: Vec<&str> = plan
            .days
            .iter()
            .flat_map(|d| &d.activities)
            .filter(|a| a.time_slot == TimeSlot::Afternoon)
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(
            afternoons
                .iter()
                .filter(|n| **n == "Free afternoon")
                .count(),
            1,
            "{afternoons:?}"
        );
    }

    #[test]
    fn step_free_trips_leave_out_hikes_where_there_is_another_choice() {
        let needs = Needs::read("wheelchair user");
        for place in catalogue::places() {
            let plan = itinerary(&brief(&place.name, "wheelchair user"));
            for slot in ["morning", "afternoon", "evening"] {
                let suited = place
                    .activities
                    .iter()
                    .filter(|a| a.slot == slot)
                    .any(|a| needs.may_do(&format!("{} {}", a.name, a.description)));
                if !suited {
                    continue;
                }
                for day in &plan.days {
                    for a in day
                        .activities
                        .iter()
                        .filter(|a| time_slot(slot) == a.time_slot)
                    {
                        assert!(
                            needs.may_do(&format!("{} {}", a.name, a.description)),
                            "{}: {}",
                            place.name,
                            a.name
                        );
                    }
                }
            }
        }
    }
}
