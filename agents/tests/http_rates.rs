//! The HTTP rates provider against a local stub.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use travel_agents::{CurrencyCode, HttpRates, RatesProvider};

#[tokio::test]
async fn rates_come_from_the_configured_url_with_date_and_source_and_are_cached() {
    let hits = Arc::new(AtomicU32::new(0));
    let app = axum::Router::new()
        .route(
            "/v1/{date}",
            get(|State(hits): State<Arc<AtomicU32>>, Path(date): Path<String>, Query(q): Query<HashMap<String, String>>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let rates = if q.get("base").map(String::as_str) == Some("GBP") && q.get("symbols").map(String::as_str) == Some("JPY") {
                    serde_json::json!({"JPY": 191.23})
                } else {
                    serde_json::json!({})
                };
                axum::Json(serde_json::json!({"amount": 1.0, "base": q.get("base"), "date": date, "rates": rates}))
            }),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let rates = HttpRates::new(
        format!("http://{addr}/v1/2025-06-02?base={{from}}&symbols={{to}}"),
        travel_platform::http::shared_client(),
    );
    let (gbp, jpy) = (
        CurrencyCode::parse("GBP").unwrap(),
        CurrencyCode::parse("JPY").unwrap(),
    );
    let rate = rates.rate(&gbp, &jpy).await.unwrap();
    assert_eq!(rate.rate, 191.23);
    assert_eq!(rate.date, "2025-06-02");
    assert_eq!(rate.source, "127.0.0.1");
    rates.rate(&gbp, &jpy).await.unwrap();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the second answer came from the cache"
    );

    let missing = rates.rate(&jpy, &gbp).await.unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("no exchange rate is known for JPY -> GBP"),
        "{missing}"
    );
}
