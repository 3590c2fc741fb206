//! The traveller's needs the demo model recognises in their words (special requirements and
//! preferences): what they eat, whether they need step-free access, whether children come. The
//! catalogue does not label dishes or activities, so these are read from their words too: a
//! vegetarian is not told to order the lobster, a wheelchair user is not sent up a hiking trail.

/// Words that name meat or fish in a dish or an activity.
const MEAT_OR_FISH: &[&str] = &[
    "alpaca",
    "anchovies",
    "anchovy",
    "arctic char",
    "bacon",
    "beef",
    "bifana",
    "boat noodles",
    "bobotie",
    "bun cha",
    "burger",
    "campechanos",
    "carnivore",
    "ceviche",
    "chicken",
    "chorizo",
    "clam",
    "cod",
    "crab",
    "cuy",
    "duck",
    "escamoles",
    "fish",
    "game",
    "goose",
    "gumbo",
    "hake",
    "ham",
    "hawawshi",
    "hot dog",
    "kebab",
    "köfte",
    "lamb",
    "langoustine",
    "lobster",
    "meat",
    "mechoui",
    "nasi campur",
    "nyama",
    "octopus",
    "oyster",
    "pastilla",
    "pastor",
    "picanha",
    "pig",
    "pla",
    "po-boy",
    "pork",
    "prawn",
    "prego",
    "pylsur",
    "rib",
    "salmon",
    "sardine",
    "satay",
    "sate",
    "sausage",
    "seafood",
    "shrimp",
    "snail",
    "steak",
    "suadero",
    "sushi",
    "tartare",
    "tiger pie",
    "tilapia",
    "tuna",
    "turtle",
    "veal",
    "yukhoe",
];

/// Words that name animal products a vegan leaves out (beside meat and fish).
const ANIMAL_PRODUCTS: &[&str] = &[
    "butter",
    "cheese",
    "cream",
    "custard",
    "egg",
    "fondue",
    "honey",
    "ice cream",
    "milk",
    "raclette",
    "yoghurt",
    "yogurt",
];

/// Activities that need steps, slopes or a boat.
const NOT_STEP_FREE: &[&str] = &[
    "climb", "hike", "hiking", "kayak", "ladder", "stairs", "steep", "steps", "trail", "trek",
];

/// Activities for grown-ups.
const NOT_FOR_CHILDREN: &[&str] = &[
    "bar",
    "beer",
    "brewery",
    "cocktail",
    "lager",
    "nightlife",
    "pub",
    "wine",
];

/// What the traveller said they need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub vegetarian: bool,
    pub vegan: bool,
    pub step_free: bool,
    pub children: bool,
    /// Asked for an afternoon of their own ("one free afternoon").
    pub free_afternoon: bool,
}

impl Needs {
    /// The needs named in `text` (any case, any order).
    pub fn read(text: &str) -> Self {
        let text = text.to_lowercase();
        let says = |words: &[&str]| words.iter().any(|w| text.contains(w));
        let vegan = says(&["vegan", "plant-based", "plant based"]);
        Needs {
            vegan,
            vegetarian: vegan || says(&["vegetarian", "veggie", "no meat", "meat-free"]),
            step_free: says(&[
                "wheelchair",
                "step-free",
                "step free",
                "mobility",
                "no stairs",
            ]),
            children: says(&["child", "kids", "kid ", "toddler", "family", "baby"]),
            free_afternoon: says(&[
                "free afternoon",
                "afternoon off",
                "afternoon to ourselves",
                "afternoon to myself",
                "free time",
            ]),
        }
    }

    /// Whether a dish (or a food activity) suits the traveller's diet.
    pub fn may_eat(&self, dish: &str) -> bool {
        let dish = dish.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| contains_word(&dish, w));
        !(self.vegetarian && has(MEAT_OR_FISH) || self.vegan && has(ANIMAL_PRODUCTS))
    }

    /// Whether an activity (its name and description) suits the traveller.
    pub fn may_do(&self, activity: &str) -> bool {
        let text = activity.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| contains_word(&text, w));
        self.may_eat(&text)
            && !(self.step_free && has(NOT_STEP_FREE))
            && !(self.children && has(NOT_FOR_CHILDREN))
    }

    /// What to order where the signature dish does not suit the traveller: a dish's name, as the
    /// plan reads "order the …".
    pub fn instead_of(&self, dish: &str) -> String {
        let diet = if self.vegan { "vegan" } else { "vegetarian" };
        format!("{diet} dishes (not the house signature, {dish}, which is not {diet})")
    }

    /// Tips for the needs the traveller named.
    pub fn tips(&self, city: &str) -> Vec<String> {
        let mut tips = Vec::new();
        if self.vegetarian {
            let diet = if self.vegan { "vegan" } else { "vegetarian" };
            tips.push(format!(
                "Say \"{diet}\" when you book a table in {city}: most kitchens adapt a dish when told in advance."
            ));
        }
        if self.step_free {
            tips.push(format!(
                "Check step-free routes and lifts with {city}'s public transport operator before you go, and book accessible rooms directly with the hotel."
            ));
        }
        if self.children {
            tips.push(
                "Plan one big sight a day with children, and ask for family tickets: many museums let under-12s in free."
                    .to_owned(),
            );
        }
        tips
    }
}

/// Whether `text` has `word` as a whole word, or its plural (so `ham` matches "ham" and "hams",
/// not "champagne" or "hamlet").
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = &text[i + word.len()..];
        let after = after
            .strip_prefix("es")
            .or_else(|| after.strip_prefix('s'))
            .filter(|rest| !rest.starts_with(char::is_alphanumeric))
            .unwrap_or(after);
        !before.is_some_and(char::is_alphanumeric) && !after.starts_with(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue's signature dishes a vegetarian may be sent to.
    const VEGETARIAN_DISHES: &[&str] = &[
        "Pastel de Belém custard tart",
        "Apple strudel and Czech breakfasts in a 1902 Art Nouveau café",
        "Seasonal Czech tasting menu with foraged ingredients",
        "Cheese fondue and raclette",
        "Seasonal dishes and homemade desserts in a 17th-century hamlet",
        "Traditional fondue in one of the village's oldest restaurants",
        "Pistachio baklava",
        "Regional stews and stuffed vegetables from across Anatolia",
        "Aubergine börek in a turquoise-tiled dining room above the bazaar",
        "Tasting menu of Anatolian ingredients with a rooftop view",
        "Hōrai soba, stacked bowls of buckwheat noodles, from a shop founded in 1465",
        "Omen udon with seasonal vegetables and a sesame dipping broth",
        "Yudōfu simmered tofu set, served since 1635",
        "Seasonal kaiseki tasting menu by Yoshihiro Murata",
        "Matcha jelly and matcha parfait",
        "Pad thai wrapped in a thin egg omelette, served since 1966",
        "Egg coffee (cà phê trứng)",
        "Tasting menu combining French technique with Indonesian ingredients",
        "Pyongyang naengmyeon cold buckwheat noodles, served since 1946",
        "Korean tasting menu that helped define 'new Korean' cuisine",
        "Seasonal French tasting menu",
        "Pan-African set menu with drumming and dance",
        "Koshary with spicy tomato sauce and garlic vinegar",
        "Ful medames and ta'ameya (Egyptian falafel)",
        "Mint tea and shisha in a café open since 1797",
        "Pan-Asian and African dishes in a garden setting",
        "Multi-course rooftop Swahili tasting menu at sunset",
        "Fresh juices and breakfast bowls by the beach",
        "Enchiladas in a tiled dining room open since 1912",
        "Mole madre, aged for over a thousand days",
        "Beignets with café au lait",
        "Tapas and homemade pasta",
        "Novo-Andean tasting menu in a glass box in a colonial courtyard",
        "Big breakfasts and soups",
        "Fugazzeta pizza, served since 1934",
        "Mozzarella pizza by the slice with fainá",
        "Chocolate con churros",
        "Pastries and coffee in an 1894 Belle Époque tearoom",
        "Tasting menu of Colombian Caribbean ingredients",
        "Colombian tasting menu in a colonial house",
        "Peter Gilmore's seasonal tasting menu with Opera House views",
        "Native ingredients in the Opera House's smallest sail",
        "Seasonal local produce by chef Josh Emett",
        "'Trust the Chef' tasting menu with Pinot Noir",
        "Dulce de leche ice cream and hot chocolate",
    ];

    #[test]
    fn needs_are_read_from_the_travellers_words() {
        let needs = Needs::read("Vegetarian; travelling with two children, wheelchair user");
        assert!(needs.vegetarian && needs.children && needs.step_free && !needs.vegan);
        assert!(Needs::read("vegan please").vegetarian);
        assert_eq!(Needs::read("quiet beaches, seafood"), Needs::default());
    }

    #[test]
    fn a_vegetarian_is_not_told_to_order_the_lobster() {
        let needs = Needs::read("vegetarian");
        assert!(!needs.may_eat("Lobster (langoustine) soup"));
        assert!(!needs.may_eat("Garlic prawns and a prego steak sandwich"));
        assert!(needs.may_eat("Pastel de Belém custard tart"));
        assert!(needs.may_eat("Champagne and chips"), "ham inside a word");
        assert!(needs.may_eat("Seasonal dishes in a 17th-century hamlet"));
        assert!(!needs.may_eat("Two eggs and hams"));
        let vegan = Needs::read("vegan");
        assert!(!vegan.may_eat("Cheese fondue and raclette"));
        assert!(vegan.may_eat("Yudōfu simmered tofu set"));
        assert!(!needs.may_eat("Babi guling spit-roast suckling pig with crackling"));
        assert!(!needs.may_do("Taco crawl: tacos al pastor, suadero and campechanos"));
        assert_eq!(
            format!("order the {}", needs.instead_of("Camel burger")),
            "order the vegetarian dishes (not the house signature, Camel burger, which is not vegetarian)"
        );
    }

    /// Every signature dish of the catalogue a vegetarian may be sent to, read by hand: a dish
    /// added to the catalogue is checked here.
    #[test]
    fn the_catalogues_vegetarian_dishes_are_vegetarian() {
        let needs = Needs::read("vegetarian");
        let dishes: Vec<&str> = crate::catalogue::places()
            .iter()
            .flat_map(|p| &p.restaurants)
            .map(|r| r.signature_dish.as_str())
            .filter(|d| needs.may_eat(d))
            .collect();
        assert_eq!(dishes, VEGETARIAN_DISHES);
    }

    #[test]
    fn activities_follow_access_and_company() {
        let needs = Needs::read("wheelchair, with kids");
        assert!(!needs.may_do("Sunrise hike up Mount Batur"));
        assert!(!needs.may_do("Craft beer tasting in a brewery"));
        assert!(needs.may_do("Jerónimos Monastery cloister"));
        assert!(Needs::default().may_do("Sunrise hike up Mount Batur"));
    }
}
