//! Every type the model sees has a golden strict schema. A change to a type shows up here as a
//! diff to review; `UPDATE_GOLDEN=1 cargo test -p travel-agents --test golden_schemas` rewrites
//! the files.

use std::path::PathBuf;

use schemars::JsonSchema;
use travel_agents::currency::{ConvertCurrencyArgs, GetExchangeRateArgs};
use travel_agents::strict_schema::{strict_mode_problems, strict_schema_for};
use travel_agents::{DestinationRecommendations, Itinerary, LocalTips, PackingList};

fn golden<T: JsonSchema + 'static>(name: &str) {
    let schema = strict_schema_for::<T>();
    let problems = strict_mode_problems(&schema);
    assert!(
        problems.is_empty(),
        "{name} is not strict-mode clean:\n{}",
        problems.join("\n")
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let rendered = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        rendered, expected,
        "{name}: the strict schema changed; review and rerun with UPDATE_GOLDEN=1"
    );
}

#[test]
fn destination_recommendations() {
    golden::<DestinationRecommendations>("destination_recommendations");
}

#[test]
fn itinerary() {
    golden::<Itinerary>("itinerary");
}

#[test]
fn local_tips() {
    golden::<LocalTips>("local_tips");
}

#[test]
fn packing_list() {
    golden::<PackingList>("packing_list");
}

#[test]
fn get_exchange_rate_arguments() {
    golden::<GetExchangeRateArgs>("get_exchange_rate_args");
}

#[test]
fn convert_currency_arguments() {
    golden::<ConvertCurrencyArgs>("convert_currency_args");
}

#[test]
fn property_order_follows_the_rust_types() {
    let schema = strict_schema_for::<DestinationRecommendations>();
    let item = &schema["properties"]["destinations"]["items"]["properties"];
    let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "name",
            "country",
            "currency",
            "description",
            "reasoning",
            "matchScore"
        ]
    );
}

#[test]
fn code_filled_fields_are_not_asked_of_the_model() {
    let schema = strict_schema_for::<Itinerary>();
    assert!(schema["properties"].get("exchangeRates").is_none());
    assert_eq!(
        schema["properties"]["days"]["items"]["properties"]["date"]["type"],
        serde_json::json!(["string", "null"])
    );
}
