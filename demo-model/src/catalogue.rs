//! The demo model's knowledge: real destinations with real sights, dishes and tips, embedded
//! from `catalogue.json`, and how it matches them to a traveller's words.

use std::sync::OnceLock;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Place {
    pub name: String,
    pub country: String,
    pub continent: String,
    pub currency: String,
    pub tags: Vec<String>,
    pub description: String,
    pub highlights: String,
    pub activities: Vec<PlaceActivity>,
    pub attractions: Vec<PlaceAttraction>,
    pub restaurants: Vec<PlaceRestaurant>,
    pub tips: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceActivity {
    pub name: String,
    pub description: String,
    pub location: String,
    /// `morning`, `afternoon` or `evening`.
    pub slot: String,
    /// In the local currency; 0 is free.
    pub cost: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceAttraction {
    pub name: String,
    pub category: String,
    pub description: String,
    pub location: String,
    pub visit_minutes: u32,
    pub cost: f64,
    pub rating: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceRestaurant {
    pub name: String,
    pub cuisine: String,
    pub price_range: String,
    pub rating: f64,
    pub location: String,
    pub signature_dish: String,
}

/// Every destination the demo model knows.
pub fn places() -> &'static [Place] {
    static PLACES: OnceLock<Vec<Place>> = OnceLock::new();
    PLACES.get_or_init(|| {
        serde_json::from_str(include_str!("catalogue.json")).expect("catalogue.json is valid")
    })
}

/// The place called `name` (case-insensitive), if the catalogue has it.
pub fn find(name: &str) -> Option<&'static Place> {
    let wanted = name.trim().to_lowercase();
    places().iter().find(|p| p.name.to_lowercase() == wanted)
}

/// Words a traveller uses, and the catalogue tags they mean.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("beach", &["beach"]),
    ("beaches", &["beach"]),
    ("sea", &["beach"]),
    ("coast", &["beach"]),
    ("seafood", &["food", "beach"]),
    ("food", &["food"]),
    ("foodie", &["food"]),
    ("eat", &["food"]),
    ("eating", &["food"]),
    ("cuisine", &["food"]),
    ("restaurants", &["food"]),
    ("street", &["food", "markets"]),
    ("museum", &["art", "culture"]),
    ("museums", &["art", "culture"]),
    ("art", &["art"]),
    ("gallery", &["art"]),
    ("galleries", &["art"]),
    ("hike", &["hiking"]),
    ("hiking", &["hiking"]),
    ("trek", &["hiking"]),
    ("trekking", &["hiking"]),
    ("walking", &["hiking", "city"]),
    ("mountain", &["mountains"]),
    ("mountains", &["mountains"]),
    ("alps", &["mountains", "snow"]),
    ("nightlife", &["nightlife"]),
    ("bars", &["nightlife"]),
    ("clubs", &["nightlife"]),
    ("party", &["nightlife"]),
    ("wildlife", &["wildlife"]),
    ("safari", &["wildlife"]),
    ("animals", &["wildlife"]),
    ("temple", &["temples"]),
    ("temples", &["temples"]),
    ("shrines", &["temples"]),
    ("ski", &["snow"]),
    ("skiing", &["snow"]),
    ("snow", &["snow"]),
    ("winter", &["snow"]),
    ("wine", &["wine"]),
    ("vineyards", &["wine"]),
    ("history", &["history"]),
    ("historic", &["history"]),
    ("ancient", &["history"]),
    ("ruins", &["history"]),
    ("quiet", &["relaxation"]),
    ("relax", &["relaxation"]),
    ("relaxing", &["relaxation"]),
    ("calm", &["relaxation"]),
    ("peaceful", &["relaxation"]),
    ("spa", &["relaxation"]),
    ("dive", &["diving"]),
    ("diving", &["diving"]),
    ("snorkelling", &["diving"]),
    ("snorkeling", &["diving"]),
    ("island", &["islands"]),
    ("islands", &["islands"]),
    ("market", &["markets"]),
    ("markets", &["markets"]),
    ("shopping", &["shopping"]),
    ("music", &["music"]),
    ("jazz", &["music"]),
    ("tango", &["music"]),
    ("architecture", &["architecture"]),
    ("design", &["design"]),
    ("desert", &["desert"]),
    ("family", &["family"]),
    ("kids", &["family"]),
    ("children", &["family"]),
    ("romantic", &["romance"]),
    ("honeymoon", &["romance"]),
    ("adventure", &["adventure"]),
    ("nature", &["nature"]),
    ("outdoors", &["nature"]),
    ("city", &["city"]),
    ("urban", &["city"]),
    ("culture", &["culture"]),
    ("cultural", &["culture"]),
];

/// A place and how well it matches.
#[derive(Debug, Clone)]
pub struct Match {
    pub place: &'static Place,
    /// Tags the traveller's words hit.
    pub matched: Vec<String>,
    pub points: u32,
}

/// The catalogue ranked for `text` (preferences and requirements), best first. Ties break on a
/// hash of the text and the name, so different travellers see different equally good places.
pub fn rank(text: &str) -> Vec<Match> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 1)
        .collect();
    let mut ranked: Vec<(Match, u64)> = places()
        .iter()
        .map(|place| {
            let mut matched: Vec<String> = Vec::new();
            let mut points = 0;
            for word in &words {
                let tags = SYNONYMS
                    .iter()
                    .find(|(w, _)| w == word)
                    .map(|(_, t)| *t)
                    .unwrap_or(&[]);
                for tag in tags.iter().copied().chain(std::iter::once(*word)) {
                    if place.tags.iter().any(|t| t == tag) && !matched.iter().any(|m| m == tag) {
                        matched.push(tag.to_owned());
                        points += 2;
                    }
                }
                let named = [&place.name, &place.country, &place.continent]
                    .iter()
                    .any(|n| {
                        n.to_lowercase()
                            .split_whitespace()
                            .any(|part| part == *word)
                    });
                if named {
                    points += 5;
                }
            }
            let tie = fnv(&format!("{lower}|{}", place.name));
            (
                Match {
                    place,
                    matched,
                    points,
                },
                tie,
            )
        })
        .collect();
    ranked.sort_by(|(a, ta), (b, tb)| b.points.cmp(&a.points).then(ta.cmp(tb)));
    ranked.into_iter().map(|(m, _)| m).collect()
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use travel_agents::CurrencyCode;

    #[test]
    fn the_catalogue_is_large_varied_and_uses_real_currencies() {
        let places = places();
        assert!(places.len() >= 20, "only {} places", places.len());
        let continents: std::collections::BTreeSet<_> =
            places.iter().map(|p| p.continent.as_str()).collect();
        assert!(continents.len() >= 6, "{continents:?}");
        let currencies: std::collections::BTreeSet<_> =
            places.iter().map(|p| p.currency.as_str()).collect();
        assert!(currencies.len() >= 12, "{currencies:?}");
        for p in places {
            CurrencyCode::parse(&p.currency).unwrap();
            assert!(
                travel_agents::ReferenceRates::currencies().any(|c| c == p.currency),
                "{}: no reference rate",
                p.name
            );
            assert!(p.activities.len() >= 9, "{}: too few activities", p.name);
            for slot in ["morning", "afternoon", "evening"] {
                assert!(
                    p.activities.iter().any(|a| a.slot == slot),
                    "{}: nothing in the {slot}",
                    p.name
                );
            }
            assert!(
                p.attractions.len() >= 3 && p.restaurants.len() >= 2 && p.tips.len() >= 3,
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn ranking_follows_the_travellers_words() {
        let top = &rank("quiet beaches and seafood")[0];
        assert!(
            top.place.tags.iter().any(|t| t == "beach"),
            "{}",
            top.place.name
        );
        let top = &rank("hiking in the mountains")[0];
        assert!(
            top.place
                .tags
                .iter()
                .any(|t| t == "mountains" || t == "hiking"),
            "{}",
            top.place.name
        );
        let top = &rank("something in Japan")[0];
        assert_eq!(top.place.country, "Japan");
    }
}
