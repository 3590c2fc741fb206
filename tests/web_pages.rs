//! The web pages in a real browser (headless Chromium): the form, live progress, the review,
//! approve and reject, validation, escaping, and the same without JavaScript.

mod support;

use support::browser::Browser;
use support::*;

async fn fill_form(browser: &Browser, preferences: &str) {
    browser.fill("travelerName", "Grace Hopper").await;
    browser.fill("preferences", preferences).await;
    browser.fill("durationDays", "3").await;
    browser.fill("budgetAmount", "1800").await;
    browser.fill("budgetCurrency", "EUR").await;
    browser.fill("specialRequirements", "vegetarian").await;
}

#[tokio::test]
async fn plan_watch_progress_review_and_approve_in_the_browser() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);
    demo.set_latency(700).await;
    let browser = Browser::start(true).await;
    browser.goto(&service.url("/")).await;
    fill_form(&browser, "temples and food").await;
    browser.screenshot("form").await;
    browser.click("submit").await;

    // The trip page, live: a marker set now survives until the review shows, so the page
    // updated itself (HTMX) rather than reloading.
    browser.wait_for("#steps", false).await;
    assert!(browser.text("#status").await.contains("Planning"));
    browser
        .client
        .execute("window.__stillHere = true;", vec![])
        .await
        .unwrap();
    browser.wait_for("#review", false).await;
    let still_here = browser
        .client
        .execute("return window.__stillHere === true;", vec![])
        .await
        .unwrap();
    assert_eq!(
        still_here,
        serde_json::json!(true),
        "progress updated in place"
    );
    demo.set_latency(0).await;
    browser.wait_for("#decision", false).await;
    browser.screenshot("review").await;
    // The status says what it waits for once.
    let status_line = browser.text("#trip > p").await;
    assert_eq!(status_line.matches("approval").count(), 1, "{status_line}");

    assert_eq!(
        browser
            .client
            .find_all(fantoccini::Locator::Css("#destinations li"))
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        browser
            .text("#destinations .chosen")
            .await
            .contains("(chosen)")
    );
    assert!(browser.exists("#itinerary tbody tr").await);
    assert!(browser.text("#itinerary thead").await.contains("In EUR"));
    assert!(browser.text("#total").await.ends_with("EUR"));
    assert!(browser.exists("#demo-mark").await, "demo plans are marked");
    assert!(
        browser.exists("#attractions li").await
            && browser.exists("#restaurants li").await
            && browser.exists("#tips li").await
    );
    assert!(browser.exists("#plan-document").await);
    let steps = browser.text("#steps").await;
    assert!(
        steps.contains("Itinerary") && steps.contains("Local tips") && steps.contains("done"),
        "{steps}"
    );
    // The approval token is in an HttpOnly cookie, never in the page.
    let html = browser.client.source().await.unwrap();
    assert!(!html.contains("approvalToken") && !html.contains("tp_trip_"));

    // Ask for changes: the revision is planned and listed, and the page keeps itself current.
    assert!(browser.exists("#ask-for-changes").await);
    browser.fill("changes", "More museums, fewer tours").await;
    browser.click("request-changes").await;
    browser.wait_for("#revision-2", false).await;
    browser.wait_for("#decision", false).await;
    let revisions = browser.text("#revisions").await;
    assert!(
        revisions.contains("More museums, fewer tours"),
        "{revisions}"
    );
    assert!(
        revisions.contains("the details changed") || revisions.contains("total"),
        "{revisions}"
    );
    browser.screenshot("revised").await;

    // Plan another of the recommended destinations: while it is planned, the page says what is
    // replaced and by what, and never calls the new one planned yet.
    demo.set_latency(1500).await;
    let other = browser.text("#destinations li:nth-child(2)").await;
    let other = other.split(" — ").next().unwrap().to_owned();
    browser.click("plan-instead-1").await;
    browser.wait_for("#replacing", false).await;
    let replacing = browser.text("#replacing").await;
    assert!(
        replacing.contains(&format!("Planning {other} in place of"))
            && replacing.contains("Revision 2 stays below until revision 3 is ready"),
        "{replacing}"
    );
    assert!(
        browser
            .text("#destinations .chosen")
            .await
            .contains("(chosen, being replaced)")
    );
    assert!(
        browser
            .text("#destinations li:nth-child(2)")
            .await
            .contains("(being planned)")
    );
    assert!(!browser.text("#status").await.is_empty());
    let status_line = browser.text("#trip > p").await;
    assert!(
        status_line.contains(&format!(
            "with one for {}",
            &other[..other.find(',').unwrap()]
        )) && !status_line.contains("again"),
        "{status_line}"
    );
    browser.screenshot("plan-instead").await;
    demo.set_latency(0).await;
    browser.wait_for("#revision-3", false).await;
    browser.wait_for("#decision", false).await;
    assert!(!browser.exists("#replacing").await);

    browser.fill("comments", "Wonderful").await;
    browser.click("approve").await;
    browser
        .wait_for_text("#notice", "confirmation code", false)
        .await;
    browser.screenshot("booked").await;
    assert_eq!(service.bookings(), 1);

    // My trips lists it.
    browser.goto(&service.url("/trips")).await;
    assert!(browser.text("#trips").await.contains("Booked"));
    browser.close().await;
}

/// The trip page follows the trip's server-sent events: it changes without a reload, and when
/// the service is killed and started again, the browser reconnects with the last event's id and
/// the page goes on to the review.
#[tokio::test]
async fn the_trip_page_follows_its_events_and_resumes_them_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let mut service = TestService::binary(data.path(), &demo, &[]);
    demo.set_latency(1500).await;
    let browser = Browser::start(true).await;
    browser.goto(&service.url("/")).await;
    fill_form(&browser, "castles and cheese").await;
    browser.click("submit").await;
    browser.wait_for("#steps", false).await;
    browser
        .client
        .execute(
            "window.__stillHere = true; window.__opened = 0;
             document.body.addEventListener('htmx:sseOpen', () => window.__opened++);",
            vec![],
        )
        .await
        .unwrap();
    // The destination found: the page said so by itself (nothing polls it).
    browser.wait_for("#steps .state-done", false).await;
    assert!(
        !browser.exists("#trip[hx-trigger*='every']").await,
        "the page follows events, it does not poll"
    );
    service.restart_on_the_same_address();
    demo.set_latency(0).await;
    browser.wait_for("#review", false).await;
    let (still_here, reopened) = (
        browser
            .client
            .execute("return window.__stillHere === true;", vec![])
            .await
            .unwrap(),
        browser
            .client
            .execute("return window.__opened;", vec![])
            .await
            .unwrap(),
    );
    assert_eq!(
        still_here,
        serde_json::json!(true),
        "updated in place, no reload"
    );
    assert!(
        reopened.as_u64().unwrap() >= 1,
        "reconnected after the restart: {reopened}"
    );
    browser.close().await;
}

#[tokio::test]
async fn the_trip_page_shows_the_agents_replies_as_they_are_written() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);
    // The destinations take a second: the page follows the trip before the next agents start.
    demo.set_latency(1000).await;
    let browser = Browser::start(true).await;
    browser.goto(&service.url("/")).await;
    fill_form(&browser, "fjords and bakeries").await;
    browser.click("submit").await;
    browser.wait_for("#writing", false).await;
    // What the "Being written" card showed, kept as it changed (it goes away at the review).
    browser
        .client
        .execute(
            "window.__written = {days: [], text: 0, shown: false};
             const card = document.getElementById('writing');
             new MutationObserver(() => {
               const w = window.__written;
               w.shown = w.shown || !card.hidden;
               card.querySelectorAll('[data-agent=\"itinerary\"] .writing-items li')
                 .forEach(li => { if (!w.days.includes(li.textContent)) w.days.push(li.textContent); });
               card.querySelectorAll('.writing-text')
                 .forEach(pre => { w.text = Math.max(w.text, pre.textContent.length); });
             }).observe(card, {subtree: true, childList: true, characterData: true, attributes: true});",
            vec![],
        )
        .await
        .unwrap();
    browser.wait_for("#review", false).await;
    let written = browser
        .client
        .execute("return window.__written;", vec![])
        .await
        .unwrap();
    assert_eq!(written["shown"], true, "{written}");
    assert!(written["text"].as_u64().unwrap() > 20, "{written}");
    let days: Vec<&str> = written["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(days.len(), 3, "{written}");
    for (n, day) in (1..).zip(&days) {
        assert!(day.starts_with(&format!("Day {n}: ")), "{days:?}");
    }
    // At the review the plan is shown as checked and saved: the card is gone.
    assert!(browser.exists("#writing[hidden]").await);
    browser.close().await;
}

#[tokio::test]
async fn reject_validation_errors_and_typed_markup_stay_text() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);
    let browser = Browser::start(true).await;
    browser.goto(&service.url("/")).await;

    // Validation: the message beside the field, the values kept.
    fill_form(&browser, "beaches").await;
    browser.fill("travelerName", "").await;
    browser.fill("budgetCurrency", "ZZZ").await;
    browser.click("submit").await;
    browser.wait_for("#form-errors", false).await;
    assert!(browser.text("#travelerName-error").await.contains("name"));
    assert!(
        browser
            .text("#budgetCurrency-error")
            .await
            .contains("ISO 4217")
    );
    let kept = browser
        .client
        .find(fantoccini::Locator::Id("preferences"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("beaches"));
    browser.screenshot("validation").await;

    // Markup typed into preferences is shown as text and runs nothing.
    browser.fill("travelerName", "<b>Grace</b>").await;
    browser.fill("budgetCurrency", "EUR").await;
    browser.fill("preferences", "<script>window.__injected = 1</script><img src=x onerror=\"window.__injected=2\"> quiet beaches").await;
    browser.click("submit").await;
    browser.wait_for("#decision", false).await;
    assert!(
        browser
            .text("#preferences")
            .await
            .contains("<script>window.__injected = 1</script>")
    );
    assert_eq!(browser.text("#traveler").await, "<b>Grace</b>");
    let injected = browser
        .client
        .execute("return typeof window.__injected;", vec![])
        .await
        .unwrap();
    assert_eq!(injected, serde_json::json!("undefined"));

    // Readable on a phone: nothing wider than the screen.
    browser.client.set_window_size(390, 844).await.unwrap();
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page is wider than a phone: {overflow}"
    );
    browser.screenshot("phone").await;
    browser.client.set_window_size(1280, 1000).await.unwrap();

    browser.fill("comments", "Not this year").await;
    browser.click("reject").await;
    browser.wait_for("#notice", false).await;
    assert!(browser.text("#notice").await.contains("rejected"));
    assert!(browser.text("#notice").await.contains("Not this year"));
    assert_eq!(service.bookings(), 0);

    // An unknown trip gets a page that says so.
    browser
        .goto(&service.url("/trips/trip-00000000000000000000"))
        .await;
    assert!(browser.text("h1").await.contains("Trip not found"));
    browser.close().await;
}

#[tokio::test]
async fn without_javascript_submit_and_approve_still_work() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);
    let browser = Browser::start(false).await;
    browser.goto(&service.url("/")).await;
    fill_form(&browser, "hiking and mountains").await;
    browser.click("submit").await;
    browser.wait_for("#decision", true).await;
    // "Plan this one instead" on the second recommendation (the first is the chosen one).
    let chosen = browser.text("#destinations .chosen").await;
    let other = if browser.exists("#plan-instead-1").await {
        1
    } else {
        0
    };
    browser.click(&format!("plan-instead-{other}")).await;
    browser.wait_for("#revision-2", true).await;
    browser.wait_for("#decision", true).await;
    let revisions = browser.text("#revisions").await;
    assert!(
        revisions.contains("Plan another of the recommended destinations"),
        "{revisions}"
    );
    assert!(revisions.contains("destination"), "{revisions}");
    assert_ne!(browser.text("#destinations .chosen").await, chosen);
    browser.click("approve").await;
    browser
        .wait_for_text("#notice", "confirmation code", true)
        .await;
    browser.screenshot("no-javascript-booked").await;
    assert_eq!(service.bookings(), 1);
    browser.close().await;
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);
    let form = "csrf=guess&travelerName=Mallory&preferences=x&durationDays=2&budgetAmount=100&budgetCurrency=USD";
    let post = |cookie: &'static str, body: String| {
        service
            .http
            .post(service.url("/"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie)
            .body(body)
    };
    let response = post("tp_csrf=somethingelse123456", form.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = post(
        "tp_csrf=guessguessguess12",
        form.replace("csrf=guess", "csrf=guessguessguess12"),
    )
    .header("sec-fetch-site", "cross-site")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 403);
    // Cookie tossing: an equal cookie and field the attacker chose (planted from a sibling
    // subdomain), from a browser that says nothing of where the post comes from.
    let response = post(
        "tp_csrf=guessguessguess12",
        form.replace("csrf=guess", "csrf=guessguessguess12"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 403);
    // An older browser without Sec-Fetch-Site, posting from another origin with a real token.
    let (cookie, token) = service.form_token().await;
    let real = format!(
        "{}&startDate={}",
        form.replace("csrf=guess", &format!("csrf={token}")),
        start_in_days(30)
    );
    let response = service
        .http
        .post(service.url("/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .header("origin", "http://evil.localhost")
        .body(real.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(demo.counts().await["total"], 0);
    // The same post from the service's own page goes through.
    let response = service
        .http
        .post(service.url("/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .body(real)
        .send()
        .await
        .unwrap();
    // Followed to the new trip's page.
    assert_eq!(response.status(), 200);
    assert!(
        response.url().path().starts_with("/trips/trip-"),
        "{}",
        response.url()
    );
}

#[tokio::test]
async fn the_dashboard_filters_shows_the_parallel_agents_and_tool_calls_and_approves() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(
        data.path(),
        &demo,
        &[
            ("ADMIN_TOKEN", "dashboard-token-0123456789abcdef-1"),
            // A long address: its review link must wrap, not widen the page.
            (
                "APPROVERS",
                "a.very.long.approver.address.for.travel@example-enterprise-domain.org",
            ),
        ],
    );
    demo.set_latency(300).await;
    let (waiting, _) = service.start_trip(&trip_body(2)).await;
    let (other, token) = service.start_trip(&trip_body(1)).await;
    service.wait_for_status(&waiting, "awaiting_approval").await;
    service.wait_for_status(&other, "awaiting_approval").await;
    service
        .decide(
            &other,
            Some(&token),
            &serde_json::json!({"approved": false}),
        )
        .await;
    service.wait_for_status(&other, "rejected").await;

    let browser = Browser::start(true).await;
    browser.goto(&service.url("/dashboard")).await;
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/dashboard/login")
    );
    browser
        .fill("token", "dashboard-token-0123456789abcdef-1")
        .await;
    browser.click("sign-in").await;
    browser.wait_for("#instances", false).await;
    assert!(browser.text("#counts").await.contains("rejected: 1"));

    // Filter by status.
    browser
        .client
        .find(fantoccini::Locator::Css(
            "#status option[value=awaiting_approval]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.click("apply").await;
    // The filtered page, not the one it replaces.
    let what = "the filter applied";
    wait_until(what, std::time::Duration::from_secs(30), || async {
        let url = browser.client.current_url().await.unwrap();
        if url.as_str().contains("status=awaiting_approval") {
            Ok(())
        } else {
            Err(url)
        }
    })
    .await;
    browser.wait_for("#instances tbody", false).await;
    let rows = browser.text("#instances tbody").await;
    assert!(rows.contains(&waiting) && !rows.contains(&other), "{rows}");
    assert!(
        rows.contains(" tokens"),
        "tokens are counted in words: {rows}"
    );
    browser.screenshot("dashboard").await;

    // Open the instance: both agents side by side on the timeline, the tool calls in the thread.
    browser
        .client
        .find(fantoccini::Locator::LinkText(&waiting))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for("#timeline", false).await;
    let bar = |key: &'static str| {
        let browser = &browser;
        async move {
            let style = browser
                .client
                .find(fantoccini::Locator::Css(&format!(
                    "[data-key={key}] .gantt-bar"
                )))
                .await
                .unwrap()
                .attr("style")
                .await
                .unwrap()
                .unwrap();
            let left: f64 = style
                .split("margin-left: ")
                .nth(1)
                .unwrap()
                .split('%')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            left
        }
    };
    let (itinerary, tips) = (bar("itinerary").await, bar("local-tips").await);
    assert!(
        (itinerary - tips).abs() < 2.0,
        "the two agents start together: {itinerary} vs {tips}"
    );
    assert!(
        browser
            .exists("#timeline [data-key=approval] .state-bg-running")
            .await
    );
    browser.click("thread-itinerary").await;
    let thread = browser.text("#thread-itinerary").await;
    assert!(
        thread.contains("get_exchange_rate") && thread.contains("convert_currency"),
        "{thread}"
    );
    // The long messages (instructions, whole replies) start folded.
    assert!(browser.exists("#thread-itinerary details.folded").await);
    assert!(browser.text("#history").await.contains("RunLocalTipsAgent"));
    assert!(browser.exists("#approver-links").await);
    let status = browser.text("#instance > p:nth-of-type(2)").await;
    assert!(status.contains("running for"), "{status}");
    browser.screenshot("instance").await;

    // The notifications page (no webhook here) says so, once.
    browser.goto(&service.url("/dashboard/notifications")).await;
    browser.wait_for("#no-notifications", false).await;
    assert!(!browser.text("main").await.contains("latest 0"));
    browser.screenshot("notifications").await;
    browser
        .goto(&service.url(&format!("/dashboard/instances/{waiting}")))
        .await;
    browser.wait_for("#approve", false).await;

    // Approve from the dashboard.
    browser.fill("comments", "approved by operations").await;
    browser.click("approve").await;
    browser.wait_for("#notice", false).await;
    // The page follows the trip's events: it shows the booking without being reloaded.
    browser
        .client
        .execute("window.__stillHere = true;", vec![])
        .await
        .unwrap();
    browser.wait_for_text("#status", "booked", false).await;
    let still_here = browser
        .client
        .execute("return window.__stillHere === true;", vec![])
        .await
        .unwrap();
    assert_eq!(still_here, serde_json::json!(true), "updated in place");
    service.wait_for_status(&waiting, "booked").await;
    assert_eq!(service.bookings(), 1);
    browser.close().await;
}

#[tokio::test]
async fn an_approver_approves_from_their_signed_link_in_the_browser() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[("APPROVERS", "Ben Okafor")]);
    let (id, _) = service.start_trip(&trip_body(2)).await;
    service.wait_for_status(&id, "awaiting_approval").await;
    // The operator's page carries the approver's link (made for the public address).
    let operator = service
        .get(&format!("/dashboard/instances/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let start = operator.find("/review/").expect("the approver's link");
    let link = &operator[start..];
    let link = link[..link.find('"').unwrap()].replace("&#38;", "&");

    let browser = Browser::start(false).await;
    browser.goto(&service.url(&link)).await;
    assert_eq!(browser.text("#approver").await, "Ben Okafor");
    assert!(browser.exists("#review #itinerary").await);
    browser.screenshot("approver-review").await;
    browser.fill("comments", "Have a good time").await;
    browser.click("approve").await;
    browser
        .wait_for_text("#notice", "confirmation code", true)
        .await;
    assert!(!browser.exists("#decision").await, "the link acts no more");
    assert_eq!(service.bookings(), 1);
    let decision = service.trip(&id).await["outcome"]["decision"].clone();
    assert_eq!(decision["decidedBy"], "Ben Okafor");
    browser.close().await;
}

/// Says `text` on the chat page and waits for the reply that says `expected`.
async fn chat(browser: &Browser, text: &str, expected: &str, reload: bool) {
    let before = browser
        .client
        .find_all(fantoccini::Locator::Css("#messages li"))
        .await
        .unwrap()
        .len();
    browser.fill("text", text).await;
    browser.click("send").await;
    let reply = format!("#messages li:nth-child({})", before + 2);
    browser.wait_for_text(&reply, expected, reload).await;
}

#[tokio::test]
async fn a_trip_planned_by_chat_with_and_without_javascript() {
    let data = tempfile::tempdir().unwrap();
    let demo = DemoModel::start();
    let service = TestService::binary(data.path(), &demo, &[]);

    // With JavaScript: the reply shows as it is written, then the conversation as kept.
    let browser = Browser::start(true).await;
    browser.goto(&service.url("/plan/chat")).await;
    chat(
        &browser,
        "Food and museums, relaxed, for a week",
        "budget",
        false,
    )
    .await;
    demo.set_latency(2000).await;
    browser
        .fill("text", "1800 EUR, my name is Ana Lima. <b>Thanks</b>")
        .await;
    browser.click("send").await;
    // Half the answer's time passes before its first piece, then it is written over the rest.
    browser.wait_for("#messages li.writing", false).await;
    let mut seen_writing = false;
    for _ in 0..40 {
        let shown = browser.text("#messages li:last-child p").await;
        if !shown.is_empty() && browser.exists("#messages li.writing").await {
            seen_writing = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen_writing, "the reply was shown while it was written");
    demo.set_latency(0).await;
    // Then the conversation's page as kept.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while browser.exists("#messages li.writing").await {
        assert!(
            std::time::Instant::now() < deadline,
            "the page was never shown as kept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser
        .wait_for_text("#messages li:nth-child(5)", "One more thing", false)
        .await;
    assert!(
        !browser.exists("#messages b").await,
        "typed markup stays text"
    );
    chat(
        &browser,
        "no needs, any dates",
        "Shall I start planning?",
        false,
    )
    .await;
    browser.screenshot("chat-restated").await;
    chat(&browser, "yes", "trip-", false).await;
    // The conversation follows its trip: progress, then the review and the decision.
    browser.wait_for("#chat-trip #decision", false).await;
    browser.screenshot("chat-trip-review").await;
    browser.click("approve").await;
    browser
        .wait_for_text("#notice", "confirmation code", false)
        .await;
    assert_eq!(service.bookings(), 1);
    browser.close().await;

    // Without JavaScript: each message a form post answered by the page.
    let browser = Browser::start(false).await;
    browser.goto(&service.url("/plan/chat")).await;
    chat(
        &browser,
        "Beaches and snorkelling for 4 days",
        "budget",
        false,
    )
    .await;
    chat(
        &browser,
        "900 USD, I'm Grace Hopper",
        "One more thing",
        false,
    )
    .await;
    chat(&browser, "none", "Shall I start planning?", false).await;
    chat(&browser, "yes", "trip-", false).await;
    browser.wait_for("#trip-link", false).await;
    browser.click("trip-link").await;
    browser.wait_for("#decision", true).await;
    browser.click("approve").await;
    browser
        .wait_for_text("#notice", "confirmation code", true)
        .await;
    assert_eq!(service.bookings(), 2);
    browser.close().await;
}
