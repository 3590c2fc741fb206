//! `GET /metrics` as Prometheus' own tools read it: `promtool check metrics` (Debian's
//! `prometheus` package; `scripts/test` puts it in `.test-tools/`) finds nothing wrong, and the
//! values add up after known trips: every activity counted once, the trips still running, no
//! turn counted as a start.
//!
//! Its own test binary: the metrics recorder is the process'; no other test's trips count here.

mod support;

use std::io::Write;
use std::time::Duration;

use travel_orchestration::{ApprovalDecision, TripRequest, TripState};

fn request() -> TripRequest {
    serde_json::from_value(serde_json::json!({
        "travelerName": "Ada",
        "preferences": "old towns",
        "durationDays": 2,
        "budget": {"amount": 1500, "currency": "EUR"}
    }))
    .unwrap()
}

/// promtool: `PROMTOOL=/path/to/promtool`, or on PATH (`scripts/test` provides it).
fn promtool() -> std::path::PathBuf {
    std::env::var_os("PROMTOOL")
        .map(Into::into)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("promtool"))
                    .find(|candidate| candidate.is_file())
            })
        })
        .expect("promtool is not installed: run the tests with scripts/test, which provides it")
}

#[tokio::test]
async fn prometheus_reads_the_metrics_and_they_add_up() {
    travel_api::metrics::install().expect("the only recorder of this test process");
    let service = support::TestService::setup().in_process().await;
    let trips = service.trips();
    let wait_for = |id: travel_orchestration::TripId, state: TripState| async move {
        support::wait_until(
            &format!("{id} {state}"),
            Duration::from_secs(10),
            || async {
                match trips.status(&id).await.unwrap().status {
                    now if now == state => Ok(()),
                    now => Err(now),
                }
            },
        )
        .await
    };
    // Three trips: two booked (six activities each), one waiting (five).
    let mut started = Vec::new();
    for _ in 0..3 {
        started.push(trips.start(request()).await.unwrap());
    }
    for trip in &started {
        wait_for(trip.instance_id.clone(), TripState::AwaitingApproval).await;
    }
    for trip in &started[..2] {
        trips
            .decide(
                &trip.instance_id,
                Some(&trip.approval_token),
                ApprovalDecision::new(true, None),
            )
            .await
            .unwrap();
        wait_for(trip.instance_id.clone(), TripState::Booked).await;
    }

    let response = service.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();

    let (clean, said) = promtool_check(&text);
    assert!(clean, "promtool: {said}\n{text}");

    // Every family says what it means.
    for family in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = family.split(' ').next().unwrap();
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no help"
        );
    }
    let sum = |family: &str| -> f64 {
        text.lines()
            .filter(|l| {
                l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family} "))
            })
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
            .sum()
    };
    assert_eq!(sum("duroxide_activity_executions_total"), 17.0, "{text}");
    assert_eq!(sum("duroxide_active_orchestrations"), 1.0, "{text}");
    assert_eq!(sum("travel_trips_started_total"), 3.0);
    assert_eq!(sum("travel_trips_finished_total"), 2.0);
    assert!(
        !text.contains("duroxide_orchestration_starts_total"),
        "{text}"
    );
    // The GenAI conventions' client metrics: one duration and an input and an output token
    // sample per request to the model.
    let requests = sum("gen_ai_client_operation_duration_seconds_count");
    assert!(requests >= 12.0, "four agents, three trips: {text}");
    let input_samples: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("gen_ai_client_token_usage_count{")
                && l.contains(r#"gen_ai_token_type="input""#)
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum();
    assert_eq!(input_samples, requests, "{text}");
    assert!(text.contains(r#"gen_ai_provider_name="travel_planner.demo""#));
    service.stop().await;
}

/// `promtool check metrics` on `text`: whether it found nothing wrong, and what it said.
fn promtool_check(text: &str) -> (bool, String) {
    let mut child = std::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}
