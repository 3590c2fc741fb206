//! Approval by someone other than the requester (on both backings, in-process and the real
//! binary): `APPROVERS` get signed
//! review links in the notification and on the operator's page; a link shows on GET and acts
//! only on POST; a tampered, expired or outdated link is refused; every answer records who gave
//! it, how, when and on which revision.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use support::*;

/// The approvers' links of the notification for `event` (waits for it).
async fn links_of(received: &Mutex<Vec<Value>>, id: &str, event: &str) -> Vec<(String, String)> {
    let what = format!("the `{event}` notification of {id}");
    let notification = wait_until(&what, Duration::from_secs(10), || async {
        let received = received.lock().unwrap();
        let found = received
            .iter()
            .find(|n| n["instanceId"] == id && n["event"] == event);
        found.cloned().ok_or(received.len())
    })
    .await;
    notification["approvalLinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["approver"].as_str().unwrap().to_owned(),
                path_of(l["url"].as_str().unwrap()),
            )
        })
        .collect()
}

/// `/review/...?...` of a link made for the public address.
fn path_of(url: &str) -> String {
    url[url.find("/review/").unwrap()..].to_owned()
}

/// The link's query as form fields, with the CSRF token.
fn form_of(path: &str, answer: &[(&str, &str)]) -> String {
    let query = &path[path.find('?').unwrap() + 1..];
    let mut form = format!("{query}&csrf=test-csrf-token");
    for (name, value) in answer {
        form.push_str(&format!("&{name}={}", value.replace(' ', "+")));
    }
    form
}

/// Posts `form` with a form token the service issued in place of `test-csrf-token`.
async fn post_form(service: &TestService, id: &str, form: String) -> Answer {
    let (cookie, token) = service.form_token().await;
    service
        .request(Method::POST, &format!("/review/{id}"))
        .header("cookie", cookie)
        .form(&form.replace("csrf=test-csrf-token", &format!("csrf={token}")))
        .send()
        .await
}

on_both_backings!(an_approver_reviews_asks_for_changes_and_approves_through_signed_links);

async fn an_approver_reviews_asks_for_changes_and_approves_through_signed_links(backing: Backing) {
    let demo = DemoModel::start();
    let (hook, received) = webhook_receiver().await;
    let service = TestService::setup()
        .demo_model(&demo)
        .settings(&[
            ("APPROVAL_WEBHOOK_URL", &hook),
            ("APPROVERS", "ana@example.org, Ben Okafor"),
            ("PUBLIC_BASE_URL", "https://trips.example.org"),
        ])
        .start(backing)
        .await;
    let (id, _token) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    let links = links_of(&received, &id, "planned").await;
    let approvers: Vec<&str> = links.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(approvers, ["ana@example.org", "Ben Okafor"]);
    let (ana, ben) = (links[0].1.clone(), links[1].1.clone());

    // The link's GET shows the plan and acts on nothing.
    let page = service.get(&ben).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Reviewing as <strong id=\"approver\">Ben Okafor</strong>"),
        "{page}"
    );
    assert!(page.contains(r#"id="decision""#) && page.contains(r#"id="ask-for-changes""#));
    // The traveller's wishes and needs, to check the plan against.
    assert!(page.contains("What the traveller asked for"), "{page}");
    assert!(
        page.contains("quiet beaches, seafood") && page.contains(r#"id="requirements">vegetarian"#),
        "{page}"
    );
    assert_eq!(service.trip(&id).await["status"], "awaiting_approval");

    // Tampered: another signature, another approver, another trip, another expiry.
    let tampered = [
        ben.replace("signature=", "signature=0"),
        ben.replace("approver=Ben+Okafor", "approver=Mallory"),
        ben.replace(&id, "trip-00000000000000000000"),
        ben.replace("expires=", "expires=1"),
    ];
    for path in tampered {
        let response = service.get(&path).await;
        assert_eq!(response.status(), 403, "{path}");
        assert!(response.text().await.unwrap().contains("not valid"));
    }
    let forged = post_form(
        &service,
        &id,
        form_of(
            &ben.replace("signature=", "signature=0"),
            &[("answer", "approve")],
        ),
    )
    .await;
    assert_eq!(forged.status(), 403);
    // A POST without the page's CSRF token is refused.
    let no_csrf = service
        .request(Method::POST, &format!("/review/{id}"))
        .form(&form_of(&ben, &[("answer", "approve")]))
        .send()
        .await;
    assert_eq!(no_csrf.status(), 403);
    assert_eq!(service.trip(&id).await["status"], "awaiting_approval");

    // Ben asks for another destination with his comments.
    let asked = post_form(
        &service,
        &id,
        form_of(
            &ben,
            &[
                ("answer", "changes"),
                ("comments", "Somewhere warmer"),
                ("destination", "1"),
            ],
        ),
    )
    .await;
    assert!(
        asked.status().is_success() || asked.status().is_redirection(),
        "{}",
        asked.status()
    );
    let revised = service
        .wait_for(&id, Duration::from_secs(60), |t| {
            t["status"] == "awaiting_approval" && t["plan"]["revision"] == 2
        })
        .await;
    let changes = &revised["answers"][0]["changes"];
    assert_eq!(changes["requestedBy"], "Ben Okafor");
    assert_eq!(changes["via"], "link");
    assert_eq!(changes["destination"], 1);

    // Revision 1's links no longer act; revision 2's new links do.
    let outdated = service.get(&ana).await.text().await.unwrap();
    assert!(
        outdated.contains(r#"id="link-closed""#) && !outdated.contains(r#"id="decision""#),
        "{outdated}"
    );
    let refused = post_form(&service, &id, form_of(&ana, &[("answer", "approve")])).await;
    assert_eq!(refused.status(), 409);
    let links = links_of(&received, &id, "revised").await;
    let ana = links[0].1.clone();
    assert!(ana.contains("revision=2"));
    // The operator's instance page shows the same links.
    let operator = service
        .get(&format!("/dashboard/instances/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        operator.contains(r#"id="approver-links""#)
            && operator.contains("revision=2&#38;approver=ana%40example.org"),
        "{operator}"
    );

    let approved = post_form(
        &service,
        &id,
        form_of(&ana, &[("answer", "approve"), ("comments", "Lovely")]),
    )
    .await;
    assert!(approved.status().is_success() || approved.status().is_redirection());
    let booked = service.wait_for_status(&id, "booked").await;
    let decision = &booked["outcome"]["decision"];
    assert_eq!(
        (
            &decision["decidedBy"],
            &decision["via"],
            &decision["revision"]
        ),
        (&json!("ana@example.org"), &json!("link"), &json!(2))
    );
    assert_eq!(booked["answers"].as_array().unwrap().len(), 2);
    assert_eq!(service.bookings(), 1);
    // Afterwards the link shows how it ended, and acts no more.
    let after = service.get(&ana).await.text().await.unwrap();
    assert!(after.contains(r#"id="link-closed""#), "{after}");
    // Another approver who answers differently is told what was decided, by whom.
    let ben = links[1].1.clone();
    let late = post_form(&service, &id, form_of(&ben, &[("answer", "reject")])).await;
    let late = service.followed(late).await.text().await.unwrap();
    assert!(
        late.contains("ana@example.org approved this plan on") && late.contains("Lovely"),
        "{late}"
    );
    assert_eq!(service.bookings(), 1);
}

#[tokio::test]
async fn a_link_expires_with_its_approval_window() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let (hook, received) = webhook_receiver().await;
    let service = TestService::binary(
        data.path(),
        &demo,
        &[
            ("APPROVAL_WEBHOOK_URL", &hook),
            ("APPROVERS", "ana@example.org"),
            ("APPROVAL_TIMEOUT_SECS", "3"),
        ],
    );
    let (id, _) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    let link = links_of(&received, &id, "planned").await[0].1.clone();
    assert_eq!(service.get(&link).await.status(), 200);
    service.wait_for_status(&id, "expired").await;
    // The link is refused once its expiry (in whole seconds) has passed.
    let expired = wait_until("the link refused", Duration::from_secs(10), || async {
        let answer = service.get(&link).await;
        match answer.status().as_u16() {
            403 => Ok(answer.text().await.unwrap()),
            status => Err(status),
        }
    })
    .await;
    assert!(expired.contains("expired"), "{expired}");
    let refused = post_form(&service, &id, form_of(&link, &[("answer", "approve")])).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(service.bookings(), 0);
}
