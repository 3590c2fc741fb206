//! Repair turns and provider faults, injected into the demo model.

mod common;

use std::time::{Duration, Instant};

use common::*;
use travel_agents::runner::REPAIR_PREFIX;
use travel_agents::{AgentError, LlmError};
use travel_agents::{AgentName, ThreadMessage};
use travel_demo_model::{Fault, FaultRule, RateLimit};

fn llm_error(err: AgentError) -> LlmError {
    match err {
        AgentError::Llm { source, .. } => source,
        other => panic!("expected an LLM error, got {other}"),
    }
}

#[tokio::test]
async fn an_invalid_first_reply_is_repaired_by_the_second() {
    let demo = demo().await;
    demo.inject(FaultRule::once(Fault::InvalidOutput));
    let reply = agents(&demo)
        .destination
        .run(&traveller("wine", 3))
        .await
        .unwrap();
    assert_eq!(reply.output.destinations.len(), 3);
    assert_eq!(reply.thread.rounds.len(), 2);
    let repair = reply
        .thread
        .messages
        .iter()
        .find_map(|m| match m {
            ThreadMessage::User { content } if content.starts_with(REPAIR_PREFIX) => {
                Some(content.clone())
            }
            _ => None,
        })
        .expect("a repair turn in the thread");
    assert!(
        repair.contains("expected exactly 3 destinations, got 2"),
        "{repair}"
    );
    // The repair request carried the broken reply and the error back to the model.
    let requests = demo.requests();
    let second = &requests[1].body["messages"];
    assert_eq!(second.as_array().unwrap().len(), 4);
    assert!(second[3]["content"].as_str().unwrap().contains("got 2"));
}

#[tokio::test]
async fn a_reply_that_breaks_the_schema_is_repaired_too() {
    let demo = demo().await;
    demo.inject(FaultRule::once(Fault::SchemaMismatch).for_agent(AgentName::LocalTips));
    let brief = destination_brief(&demo, "food", 2).await;
    let reply = agents(&demo).local_tips.run(&brief).await.unwrap();
    assert_eq!(reply.thread.rounds.len(), 2);
}

#[tokio::test]
async fn two_invalid_replies_fail_naming_the_agent_the_problem_and_the_reply() {
    let demo = demo().await;
    let brief = destination_brief(&demo, "culture", 4).await;
    demo.inject(
        FaultRule::once(Fault::InvalidOutput)
            .for_agent(AgentName::Itinerary)
            .times(2),
    );
    let err = agents(&demo).itinerary.run(&brief).await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            err,
            AgentError::InvalidOutput {
                agent: AgentName::Itinerary,
                ..
            }
        ),
        "{message}"
    );
    assert!(message.contains("itinerary agent"), "{message}");
    assert!(
        message.contains("expected one entry per day for 4 days, got 3"),
        "{message}"
    );
    assert!(
        message.contains("the reply starts: {\"destination\""),
        "{message}"
    );
}

#[tokio::test]
async fn a_rate_limit_fails_the_call_with_the_wait_the_provider_asked_for() {
    // The client does not retry: the workflow waits the time asked, durably, then calls again.
    let demo = demo().await;
    demo.inject(FaultRule::once(Fault::RateLimited {
        retry_after_secs: 1.0,
    }));
    let err = agents(&demo)
        .destination
        .run(&traveller("beaches", 2))
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(err.is_transient());
    assert_eq!(
        demo.requests().len(),
        1,
        "one request, no retry in the client"
    );
    // The provider's next calls are held back for what it asked.
    let started = Instant::now();
    agents(&demo)
        .destination
        .run(&traveller("beaches", 2))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_call_the_rate_limit_would_refuse_is_held_back_not_sent() {
    let demo = demo().await;
    // One request a minute: the first call spends it, and its answer's headers say so.
    demo.set_rate_limit(RateLimit {
        requests_per_minute: Some(1),
        tokens_per_minute: None,
    });
    let agents = agents(&demo);
    agents
        .destination
        .run(&traveller("beaches", 2))
        .await
        .unwrap();
    let museums = traveller("museums", 2);
    let second = agents.destination.run(&museums);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), second)
            .await
            .is_err(),
        "the second call waits for the budget to refill (a minute)"
    );
    let (refused, _) = demo.rate_limited_and_peak();
    assert_eq!(demo.requests().len(), 1, "the second call was never sent");
    assert_eq!(refused, 0, "nothing was refused with 429");
}

#[tokio::test]
async fn a_long_retry_after_is_carried_to_the_workflow() {
    let demo = demo().await;
    demo.inject(FaultRule::once(Fault::RateLimited {
        retry_after_secs: 3600.0,
    }));
    let err = llm_error(
        agents(&demo)
            .destination
            .run(&traveller("beaches", 2))
            .await
            .unwrap_err(),
    );
    match &err {
        LlmError::RateLimited {
            retry_after,
            provider,
        } => {
            assert_eq!(*retry_after, Duration::from_secs(3600));
            assert_eq!(provider, "demo");
        }
        other => panic!("expected RateLimited, got {other}"),
    }
    assert_eq!(demo.requests().len(), 1, "no retry");
}

#[tokio::test]
async fn insufficient_quota_is_not_retried() {
    let demo = demo().await;
    demo.inject(FaultRule::once(Fault::QuotaExceeded));
    let err = llm_error(
        agents(&demo)
            .destination
            .run(&traveller("beaches", 2))
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(&err, LlmError::Status { status: 429, code: Some(c), .. } if c == "insufficient_quota"),
        "{err}"
    );
    assert!(!err.to_string().is_empty());
    assert_eq!(demo.requests().len(), 1);
}

#[tokio::test]
async fn a_server_error_fails_the_call_at_once_keeping_status_and_message() {
    let demo = demo().await;
    demo.inject(FaultRule::once(Fault::ServerError));
    let err = agents(&demo)
        .destination
        .run(&traveller("beaches", 2))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "the workflow tries again");
    let err = llm_error(err);
    assert!(
        matches!(&err, LlmError::Status { status: 500, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "demo answered HTTP 500: upstream model crashed (demo fault)"
    );
    assert_eq!(
        demo.requests().len(),
        1,
        "one request, no retry in the client"
    );
}

#[tokio::test]
async fn a_reply_that_does_not_come_in_time_fails_with_a_timeout() {
    let demo = demo().await;
    demo.inject(FaultRule::once(Fault::Slow { millis: 3000 }));
    let agents = agents_with(&demo, |s| s.timeout = Duration::from_millis(200));
    let err = agents
        .destination
        .run(&traveller("beaches", 2))
        .await
        .unwrap_err();
    assert!(err.is_transient());
    let err = llm_error(err);
    assert!(matches!(err, LlmError::Timeout { .. }), "{err}");
    assert!(
        err.to_string().contains("did not answer within 200ms"),
        "{err}"
    );
    assert_eq!(demo.requests().len(), 1);
}

#[tokio::test]
async fn malformed_json_fails_clearly() {
    let demo = demo().await;
    demo.inject(FaultRule::once(Fault::MalformedJson));
    let err = llm_error(
        agents(&demo)
            .destination
            .run(&traveller("beaches", 2))
            .await
            .unwrap_err(),
    );
    assert!(matches!(err, LlmError::MalformedReply { .. }), "{err}");
    assert!(err.to_string().contains("not a chat completion"), "{err}");
}

#[tokio::test]
async fn a_refusal_is_an_error() {
    let demo = demo().await;
    demo.inject(FaultRule::once(Fault::Refusal));
    let err = agents(&demo)
        .destination
        .run(&traveller("beaches", 2))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AgentError::Refused { message, .. } if message.contains("can't help")),
        "{err}"
    );
}

#[tokio::test]
async fn a_reply_cut_at_the_length_limit_is_an_error() {
    let demo = demo().await;
    demo.inject(FaultRule::once(Fault::Truncated));
    let err = agents(&demo)
        .destination
        .run(&traveller("beaches", 2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::Truncated {
                agent: AgentName::Destination,
                ..
            }
        ),
        "{err}"
    );
}

/// Every request carries the agent's output cap: a reply that runs past it stops there, with
/// the finish reason `length`, reported as such (not as a reply that breaks the schema).
#[tokio::test]
async fn the_output_cap_stops_a_long_reply_and_says_so() {
    let demo = demo().await;
    let request = traveller("beaches", 2);
    let destinations = agents(&demo).destination.run(&request).await.unwrap();
    assert_eq!(
        demo.requests()[0].body["max_completion_tokens"],
        1500,
        "the destination agent's own cap"
    );
    assert_eq!(destinations.thread.rounds.len(), 1);

    // A reasoning model's reasoning counts against the cap: its default has room for it.
    let reasoning = agents_with(&demo, |s| s.model = "o4-mini".into());
    reasoning.destination.run(&request).await.unwrap();
    assert_eq!(
        demo.requests().last().unwrap().body["max_completion_tokens"],
        1500 + travel_agents::LlmSettings::REASONING_ALLOWANCE
    );

    let capped = agents_with(&demo, |s| {
        s.output_caps = travel_agents::llm::OutputCaps {
            all: Some(60),
            ..Default::default()
        }
    });
    let err = capped.destination.run(&request).await.unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::Truncated {
                agent: AgentName::Destination,
                max_output_tokens: 60
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("finish reason `length`"), "{err}");
    assert_eq!(
        demo.requests().last().unwrap().body["max_completion_tokens"],
        60
    );
}

#[tokio::test]
async fn the_tool_loop_stops_at_the_round_limit() {
    let demo = demo().await;
    let brief = destination_brief(&demo, "food", 2).await;
    demo.inject(
        FaultRule::once(Fault::ToolLoop)
            .for_agent(AgentName::Itinerary)
            .times(10),
    );
    let agents = agents_with(&demo, |s| s.max_tool_rounds = 3);
    let err = agents.itinerary.run(&brief).await.unwrap_err();
    assert!(
        matches!(err, AgentError::TooManyToolRounds { rounds: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("after 3 rounds"), "{err}");
}
