//! Plans in Azure Blob Storage, against Azurite (started by scripts/test): the whole flow, blob
//! names, content types, metadata and content; idempotent saves; an outage mid-trip; start-up
//! errors; a permanent 403.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;
use travel_orchestration::store::{BlobCredential, BlobPlanStore, BlobStoreConfig};
use travel_orchestration::{PlanStore, StoreError};

/// The blobs of a container (name → (content type, metadata)), read over plain HTTP.
async fn list_blobs(
    endpoint: &str,
    container: &str,
) -> Vec<(String, String, Vec<(String, String)>)> {
    let http = travel_platform::http::shared_client();
    let url = format!(
        "{endpoint}/{container}?restype=container&comp=list&include=metadata&{}",
        azurite_sas("rl")
    );
    let xml = http.get(url).send().await.unwrap().text().await.unwrap();
    let mut blobs = Vec::new();
    for part in xml.split("<Blob>").skip(1) {
        let tag = |name: &str| {
            part.split(&format!("<{name}>"))
                .nth(1)
                .and_then(|r| r.split(&format!("</{name}>")).next())
                .unwrap_or("")
                .to_owned()
        };
        let metadata = tag("Metadata");
        let pairs = metadata
            .split("</")
            .filter_map(|chunk| {
                let (open, value) = chunk.rsplit_once('>')?;
                let key = open.rsplit_once('<')?.1;
                Some((key.to_lowercase(), value.to_owned()))
            })
            .collect();
        blobs.push((tag("Name"), tag("Content-Type"), pairs));
    }
    blobs.sort();
    blobs
}

async fn blob_text(endpoint: &str, container: &str, name: &str) -> String {
    let url = format!("{endpoint}/{container}/{name}?{}", azurite_sas("r"));
    travel_platform::http::shared_client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn blob_env(endpoint: &str, container: &str, sas: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_STORAGE_BLOB_ENDPOINT", endpoint.to_owned()),
        ("AZURE_STORAGE_CONTAINER", container.to_owned()),
        ("AZURE_STORAGE_SAS_TOKEN", sas.to_owned()),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn a_trip_saves_its_plan_as_blobs_and_reads_it_back_through_the_api() {
    let endpoint = azurite_endpoint();
    let container = unique_container("flow");
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let env = blob_env(&endpoint, &container, &azurite_sas("rwdlac"));
    let service = TestService::binary(data.path(), &demo, &as_refs(&env));
    let (id, token) = service.start_trip(&trip_body(3)).await;
    let trip = service.wait_for_status(&id, "awaiting_approval").await;

    let blobs = list_blobs(&endpoint, &container).await;
    let names: Vec<&str> = blobs.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [format!("{id}/rev-1.json"), format!("{id}/rev-1.md")]
    );
    assert_eq!(blobs[0].1, "application/json");
    assert_eq!(blobs[1].1, "text/markdown; charset=utf-8");
    let metadata: std::collections::HashMap<_, _> = blobs[0].2.iter().cloned().collect();
    assert_eq!(metadata["instanceid"], id);
    assert_eq!(metadata["revision"], "1");
    assert_eq!(metadata["demo"], "true");
    assert_eq!(metadata["traveler"], "Ada%20Lovelace");
    assert!(metadata["destination"].contains("%2C"), "{metadata:?}");
    assert!(metadata["created"].starts_with("20") && metadata["created"].contains("%3A"));

    // The location shown is endpoint + container + name, `/` kept, no query string.
    let location = &trip["progress"]["plan"]["location"];
    assert_eq!(
        location["json"],
        format!("{endpoint}/{container}/{id}/rev-1.json")
    );
    assert!(!location.to_string().contains("sig="));
    // The content is the plan, read back through the API from the same store.
    let stored: Value =
        serde_json::from_str(&blob_text(&endpoint, &container, &format!("{id}/rev-1.json")).await)
            .unwrap();
    let api: Value = service
        .get(&format!("/api/trips/{id}/plan"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored, api);
    assert!(
        blob_text(&endpoint, &container, &format!("{id}/rev-1.md"))
            .await
            .starts_with("# Trip plan: ")
    );

    assert_eq!(
        service
            .decide(&id, Some(&token), &json!({"approved": true}))
            .await
            .status(),
        200
    );
    service.wait_for_status(&id, "booked").await;
}

async fn store(endpoint: &str, container: &str) -> BlobPlanStore {
    let config = BlobStoreConfig {
        endpoint: endpoint.parse().unwrap(),
        container: container.to_owned(),
        credential: BlobCredential::Sas(azurite_sas("rwdlac")),
    };
    BlobPlanStore::connect(config, travel_platform::http::shared_client())
        .await
        .unwrap()
}

#[tokio::test]
async fn saving_the_same_revision_twice_leaves_one_blob_of_each_and_never_clobbers() {
    let endpoint = azurite_endpoint();
    let container = unique_container("idem");
    // A real plan, made by a real trip on the local store.
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);
    let (id, _) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    let plan: travel_orchestration::TripPlan = service
        .get(&format!("/api/trips/{id}/plan"))
        .await
        .json()
        .await
        .unwrap();

    let blobs = store(&endpoint, &container).await;
    let first = blobs.save(&plan).await.unwrap();
    let again = blobs.save(&plan).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(list_blobs(&endpoint, &container).await.len(), 2);
    // A different plan under the same name is refused and the first one kept.
    let mut other = plan.clone();
    other.request.traveller_name = "Someone Else".into();
    assert!(matches!(
        blobs.save(&other).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(blobs.load(&id, None).await.unwrap().unwrap(), plan);
    assert_eq!(list_blobs(&endpoint, &container).await.len(), 2);

    // A purge deletes the trip's plan documents, and only them.
    let mut another = plan.clone();
    another.instance_id = format!("{id}x");
    blobs.save(&another).await.unwrap();
    assert_eq!(blobs.delete(&id).await.unwrap(), 2);
    assert!(blobs.load(&id, None).await.unwrap().is_none());
    assert_eq!(list_blobs(&endpoint, &container).await.len(), 2);
    assert_eq!(blobs.delete(&id).await.unwrap(), 0, "deleted already");
}

#[tokio::test]
async fn a_storage_outage_while_saving_delays_the_trip_and_loses_nothing() {
    let mut azurite = Azurite::start();
    let container = unique_container("outage");
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let env = blob_env(&azurite.endpoint(), &container, &azurite_sas("rwdlac"));
    let service = TestService::binary(data.path(), &demo, &as_refs(&env));
    demo.set_latency(1000).await;
    let (id, token) = service.start_trip(&trip_body(2)).await;
    service
        .wait_for(&id, Duration::from_secs(30), |t| {
            t["progress"]["step"] == "itinerary_and_tips"
        })
        .await;
    azurite.stop();
    service
        .wait_for(&id, Duration::from_secs(30), |t| {
            t["progress"]["step"] == "saving"
        })
        .await;
    // The save fails and is tried again: the trip waits for storage, and says so.
    let waiting = service
        .wait_for(&id, Duration::from_secs(30), |t| {
            !t["progress"]["retrying"].is_null()
        })
        .await;
    assert_eq!(waiting["status"], "planning", "the trip waits for storage");
    // It says so, and the service is not ready, saying which store is missing.
    let retrying = waiting["progress"]["retrying"].as_str().unwrap_or_default();
    assert!(
        retrying.starts_with("Storage is unavailable; trying again (attempt"),
        "{waiting}"
    );
    let ready = service.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_ready");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("plan store"),
        "{body}"
    );
    azurite.resume();
    demo.set_latency(0).await;
    let waiting = service.wait_for_status(&id, "awaiting_approval").await;
    assert!(waiting["progress"]["retrying"].is_null(), "{waiting}");
    assert_eq!(service.get("/readyz").await.status(), 200);
    let blobs = list_blobs(&azurite.endpoint(), &container).await;
    assert_eq!(blobs.len(), 2, "{blobs:?}");
    assert_eq!(
        service
            .decide(&id, Some(&token), &json!({"approved": true}))
            .await
            .status(),
        200
    );
    service.wait_for_status(&id, "booked").await;

    // Reading the saved plan during an outage: 503, and no internal address in the answer.
    azurite.stop();
    let answer = service.get(&format!("/api/trips/{id}")).await;
    assert_eq!(answer.status(), 503);
    let body = answer.text().await.unwrap();
    assert!(body.contains("store_unavailable"), "{body}");
    for internal in ["127.0.0.1", "devstoreaccount1", container.as_str(), "http"] {
        assert!(
            !body.contains(internal),
            "the answer says {internal}: {body}"
        );
    }
    azurite.resume();
}

#[tokio::test]
async fn a_store_that_cannot_be_reached_stops_the_service_at_start_up_with_a_clear_message() {
    let data = tempfile::tempdir().unwrap();
    let (status, logs) = failed_start(
        data.path(),
        &[
            (
                "AZURE_STORAGE_BLOB_ENDPOINT",
                "http://127.0.0.1:9/devstoreaccount1",
            ),
            ("AZURE_STORAGE_SAS_TOKEN", "sv=x&sig=y"),
        ],
    );
    assert!(!status.success());
    assert!(
        logs.contains("plan store") && logs.contains("could not create or reach the container"),
        "{logs}"
    );

    let bad_key = travel_platform::sas::AccountSas {
        account: "devstoreaccount1",
        key: "AAAA",
        permissions: "rwdlac",
        expiry: "2099-01-01T00:00:00Z",
    };
    let endpoint = azurite_endpoint();
    let (status, logs) = failed_start(
        data.path(),
        &[
            ("AZURE_STORAGE_BLOB_ENDPOINT", &endpoint),
            ("AZURE_STORAGE_SAS_TOKEN", &bad_key.token().unwrap()),
        ],
    );
    assert!(!status.success());
    assert!(
        logs.contains("access denied") || logs.contains("not accepted"),
        "{logs}"
    );
    assert!(!logs.contains("sig="), "the SAS is not logged: {logs}");
}

#[tokio::test]
async fn a_credential_without_write_permission_is_refused_at_start_saying_what_is_missing() {
    let endpoint = azurite_endpoint();
    let container = unique_container("readonly");
    drop(store(&endpoint, &container).await); // the container exists
    let data = tempfile::tempdir().unwrap();
    // Read and list only: found out before any agent runs, not after (paid calls for nothing).
    let (status, logs) = failed_start(
        data.path(),
        &[
            ("AZURE_STORAGE_BLOB_ENDPOINT", &endpoint),
            ("AZURE_STORAGE_CONTAINER", &container),
            ("AZURE_STORAGE_SAS_TOKEN", &azurite_sas("rl")),
        ],
    );
    assert!(!status.success());
    assert!(
        logs.contains("could not write plans")
            && logs.contains("Storage Blob Data Contributor")
            && logs.contains("access denied"),
        "{logs}"
    );
    // With write permission the check leaves nothing behind.
    let listed = list_blobs(&endpoint, &container).await;
    assert!(listed.is_empty(), "{listed:?}");
}
