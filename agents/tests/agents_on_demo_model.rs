//! Each agent against the demo model over real HTTP: typed output, tool round trips, thread, usage.

mod common;

use common::*;
use travel_agents::{AgentName, ThreadMessage};
use travel_agents::{Cost, ReferenceRates};

#[tokio::test]
async fn destination_agent_returns_three_ranked_destinations_and_its_thread() {
    let demo = demo().await;
    let reply = agents(&demo)
        .destination
        .run(&traveller("quiet beaches, seafood", 4))
        .await
        .unwrap();
    let destinations = &reply.output.destinations;
    assert_eq!(destinations.len(), 3);
    assert!(
        destinations
            .windows(2)
            .all(|w| w[0].match_score >= w[1].match_score)
    );
    assert!(
        destinations
            .iter()
            .all(|d| d.match_score <= 100 && !d.reasoning.is_empty())
    );
    assert_eq!(reply.output.top().unwrap().name, destinations[0].name);

    let thread = &reply.thread;
    assert_eq!(thread.agent, AgentName::Destination);
    assert!(thread.demo);
    assert_eq!(thread.provider, "demo");
    assert_eq!(thread.rounds.len(), 1);
    assert!(
        matches!(&thread.messages[0], ThreadMessage::System { content } if content.contains("travel destination expert"))
    );
    assert!(
        matches!(&thread.messages[1], ThreadMessage::User { content } if content.contains("quiet beaches, seafood"))
    );
    assert!(
        matches!(&thread.messages[2], ThreadMessage::Assistant { content: Some(c), .. } if c.contains(&destinations[0].name))
    );
    assert!(thread.usage.prompt_tokens > 0 && thread.usage.completion_tokens > 0);
    assert_eq!(
        thread.usage.total_tokens,
        thread.usage.prompt_tokens + thread.usage.completion_tokens
    );

    // The request carried the strict schema as structured output.
    let requests = demo.requests();
    let request = &requests[0].body;
    assert_eq!(request["response_format"]["type"], "json_schema");
    assert_eq!(request["response_format"]["json_schema"]["strict"], true);
    assert_eq!(
        request["response_format"]["json_schema"]["name"],
        "destination_recommendations"
    );
    assert!(
        request.get("tools").is_none(),
        "the destination agent gets no tools"
    );
}

#[tokio::test]
async fn itinerary_agent_uses_the_currency_tools_and_plans_every_day() {
    let demo = demo().await;
    let brief = destination_brief(&demo, "temples and food", 5).await;
    let reply = agents(&demo).itinerary.run(&brief).await.unwrap();
    let itinerary = &reply.output;

    assert_eq!(itinerary.days.len(), 5);
    for (i, day) in itinerary.days.iter().enumerate() {
        assert_eq!(day.day, i as u32 + 1);
        assert_eq!(
            day.date,
            brief.traveller.date_of_day(day.day),
            "dates come from the start date"
        );
        assert!((2..=5).contains(&day.activities.len()));
        for activity in &day.activities {
            if let Cost::Paid { currency, .. } = &activity.estimated_cost {
                assert_eq!(
                    currency, &brief.destination.currency,
                    "costs are in the local currency"
                );
            }
        }
    }
    // Two tool calls in one turn, both answered, then the final reply.
    let thread = &reply.thread;
    assert_eq!(thread.rounds.len(), 2);
    assert_eq!(thread.rounds[0].finish_reason, "tool_calls");
    let calls = thread
        .messages
        .iter()
        .find_map(|m| match m {
            ThreadMessage::Assistant { tool_calls, .. } if !tool_calls.is_empty() => {
                Some(tool_calls.clone())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(
        calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["get_exchange_rate", "convert_currency"]
    );
    let results: Vec<&str> = thread
        .messages
        .iter()
        .filter_map(|m| match m {
            ThreadMessage::Tool { content, .. } => Some(content.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 2);
    assert!(
        results.iter().all(|r| r.contains(ReferenceRates::SOURCE)),
        "{results:?}"
    );
    // The second request carried the tool results back.
    let requests = demo.requests();
    let second = &requests.last().unwrap().body;
    assert_eq!(
        second["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .count(),
        2
    );
    // The rates the tools reported are kept with the plan.
    assert_eq!(itinerary.exchange_rates.len(), 2);
    let rate = &itinerary.exchange_rates[0];
    assert_eq!(
        (rate.from.as_str(), rate.to.as_str()),
        (brief.destination.currency.as_str(), "USD")
    );
    assert_eq!(rate.date, ReferenceRates::DATE);
    // Usage is summed over both rounds.
    let summed: u64 = thread.rounds.iter().map(|r| r.usage.total_tokens).sum();
    assert_eq!(thread.usage.total_tokens, summed);
    assert!(thread.usage.cached_tokens <= thread.usage.prompt_tokens);
}

#[tokio::test]
async fn local_tips_agent_returns_attractions_restaurants_and_tips() {
    let demo = demo().await;
    let brief = destination_brief(&demo, "museums and art", 3).await;
    let reply = agents(&demo).local_tips.run(&brief).await.unwrap();
    let tips = &reply.output;
    assert!(
        tips.attractions.len() >= 3 && tips.restaurants.len() >= 2 && tips.insider_tips.len() >= 3
    );
    assert!(
        tips.attractions
            .iter()
            .all(|a| (0.0..=5.0).contains(&a.rating) && a.visit_duration_minutes > 0)
    );
    assert_eq!(reply.thread.agent, AgentName::LocalTips);
}

#[tokio::test]
async fn the_demo_honours_the_budget_currency_and_any_duration() {
    let demo = demo().await;
    let mut brief = destination_brief(&demo, "hiking", 21).await;
    brief.traveller.budget.currency = travel_agents::CurrencyCode::parse("EUR").unwrap();
    brief.traveller.start_date = None;
    let itinerary = agents(&demo).itinerary.run(&brief).await.unwrap().output;
    assert_eq!(itinerary.days.len(), 21);
    assert!(itinerary.days.iter().all(|d| d.date.is_none()));
    assert!(
        itinerary
            .exchange_rates
            .iter()
            .all(|r| r.to.as_str() == "EUR")
    );
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_request() {
    let demo = demo().await;
    let mut brief = traveller("beaches", 0);
    brief.preferences = "  ".into();
    let err = agents(&demo)
        .destination
        .run(&brief)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("preferences are empty") && err.contains("duration must be 1 to 21"),
        "{err}"
    );
    assert!(demo.requests().is_empty());
}

#[tokio::test]
async fn packing_agent_lists_what_the_place_and_the_traveller_need() {
    let demo = demo().await;
    // Beaches, for a vegetarian (the common traveller's special requirement).
    let brief = destination_brief(&demo, "quiet beaches, seafood", 4).await;
    let reply = agents(&demo).packing.run(&brief).await.unwrap();
    let list = &reply.output;
    assert!(list.problems().is_empty(), "{list:?}");
    let names: Vec<&str> = list.items.iter().map(|i| i.name.as_str()).collect();
    assert!(names.contains(&"Passport or ID card"), "{names:?}");
    assert!(
        names.contains(&"A diet card in the local language"),
        "the traveller is vegetarian: {names:?}"
    );
    assert_eq!(reply.thread.agent, AgentName::Packing);
    let requests = demo.requests();
    let request = &requests.last().unwrap().body;
    assert_eq!(
        request["response_format"]["json_schema"]["name"],
        "packing_list"
    );
    assert!(request.get("tools").is_none(), "no tools");
}

/// Tools first (`LLM_ROUNDS=tools-first`, for servers that build a grammar from the answer's
/// schema alone): the rounds that may call tools carry no schema, and the answer comes in a
/// round of its own, with the schema and no tools. The schema says exactly one entry per day.
#[tokio::test]
async fn tools_first_rounds_call_the_tools_without_the_schema_then_answer_with_it_alone() {
    let demo = demo().await;
    let brief = destination_brief(&demo, "food", 2).await;
    let before = demo.requests().len();
    let agents = agents_with(&demo, |s| s.rounds = travel_agents::llm::Rounds::ToolsFirst);
    let reply = agents.itinerary.run(&brief).await.unwrap();
    assert_eq!(reply.output.days.len(), 2);
    assert_eq!(
        reply.output.exchange_rates.len(),
        2,
        "the tools were called"
    );

    let requests = demo.requests();
    let asked: Vec<(bool, bool)> = requests[before..]
        .iter()
        .map(|r| {
            (
                r.body["tools"].is_array(),
                r.body["response_format"].is_object(),
            )
        })
        .collect();
    // Tools, no schema; the tools' results, still no schema (the demo model then answers in
    // prose, as a model with no grammar would); the answer: the schema, no tools.
    assert_eq!(asked, [(true, false), (true, false), (false, true)]);
    // A plan in a currency other than the budget's needs a rate: the first round requires a
    // tool call.
    let needs_rate = brief.destination.currency != brief.traveller.budget.currency;
    assert_eq!(
        requests[before].body["tool_choice"] == "required",
        needs_rate,
        "{}",
        requests[before].body["tool_choice"]
    );
    assert!(requests[before + 1].body["tool_choice"].is_null());
    let last = &requests.last().unwrap().body;
    let days = &last["response_format"]["json_schema"]["schema"]["properties"]["days"];
    assert_eq!(
        (days["minItems"].as_u64(), days["maxItems"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(last["max_completion_tokens"], 1600, "600 + 500 a day");
    assert_eq!(reply.thread.rounds.len(), 3);
}

#[tokio::test]
async fn a_followed_reply_is_told_as_it_is_written_and_is_the_reply_asked_whole() {
    use std::time::{Duration, Instant};
    use travel_agents::LivePiece;

    let demo = demo().await;
    let brief = destination_brief(&demo, "culture", 4).await;
    let (llm, agents) = client_and_agents(demo.settings());
    // Nobody follows: asked whole, nothing told.
    let unfollowed = Follower::new(&llm, false);
    let whole = agents
        .itinerary
        .run_watched(&brief, Some(&unfollowed))
        .await
        .unwrap();
    assert!(unfollowed.pieces.lock().unwrap().is_empty());
    let asked_whole = demo.requests().len();
    assert!(
        demo.requests()
            .iter()
            .all(|r| r.body.get("stream").is_none())
    );

    demo.set_latency(Duration::from_millis(800));
    let watcher = Follower::new(&llm, true);
    let streamed = agents
        .itinerary
        .run_watched(&brief, Some(&watcher))
        .await
        .unwrap();
    let ended = Instant::now();
    let requests = demo.requests();
    let streamed_requests = &requests[asked_whole..];
    assert_eq!(streamed_requests.len(), whole.thread.rounds.len());
    for request in streamed_requests {
        assert_eq!(request.body["stream"], true);
        assert_eq!(request.body["stream_options"]["include_usage"], true);
        assert_eq!(request.headers["accept"], "text/event-stream");
    }
    // Put together, the same answer, rounds and usage as asked whole.
    assert_eq!(
        serde_json::to_value(&streamed.output).unwrap(),
        serde_json::to_value(&whole.output).unwrap()
    );
    assert_eq!(streamed.thread.rounds.len(), whole.thread.rounds.len());
    assert_eq!(streamed.thread.usage, whole.thread.usage);
    assert!(streamed.thread.usage.total_tokens > 0);

    let pieces = watcher.pieces.lock().unwrap();
    // Told as it came, not at the end: the demo model spreads half its latency over the pieces.
    let (first_at, _, _) = &pieces[0];
    assert!(
        ended - *first_at >= Duration::from_millis(250),
        "the first piece came {:?} before the reply ended",
        ended - *first_at
    );
    // The call kept its place among the calls in flight while its body streamed.
    assert!(pieces.iter().all(|(_, in_flight, _)| *in_flight >= 1));
    assert_eq!(llm.admission().in_flight, 0);

    // Each round's text is the message the thread recorded; its tool calls, the calls made.
    let assistant: Vec<_> = streamed
        .thread
        .messages
        .iter()
        .filter_map(|m| match m {
            ThreadMessage::Assistant {
                content,
                tool_calls,
                ..
            } => Some((content.clone().unwrap_or_default(), tool_calls.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(assistant.len(), streamed.thread.rounds.len());
    for (round, (content, calls)) in (1..).zip(&assistant) {
        let text: String = pieces
            .iter()
            .filter_map(|(_, _, p)| match p {
                LivePiece::Text { round: r, text, .. } if *r == round => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(&text, content, "round {round}");
        let named: Vec<&str> = pieces
            .iter()
            .filter_map(|(_, _, p)| match p {
                LivePiece::ToolCall { round: r, name, .. } if *r == round => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let called: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(named, called, "round {round}");
    }
    assert!(
        assistant.iter().any(|(_, calls)| !calls.is_empty()),
        "the itinerary agent called its tools"
    );
    // The answer's days, each told as soon as it was complete.
    let answer: serde_json::Value = serde_json::from_str(&assistant.last().unwrap().0).unwrap();
    let days: Vec<_> = pieces
        .iter()
        .filter_map(|(_, _, p)| match p {
            LivePiece::Item {
                agent: AgentName::Itinerary,
                list,
                index,
                value,
                ..
            } if list == "days" => Some((*index, value.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(days.len(), 4);
    for (index, day) in &days {
        assert_eq!(day, &answer["days"][*index]);
    }
}

#[tokio::test]
async fn a_streamed_reply_that_outlasts_the_timeout_fails_as_a_timeout() {
    use std::time::Duration;

    let demo = demo().await;
    let traveller = traveller("wine", 3);
    let mut settings = demo.settings();
    // The headers come after 400 ms (half the latency), the body's end after 800.
    settings.timeout = Duration::from_millis(600);
    let (llm, agents) = client_and_agents(settings);
    demo.set_latency(Duration::from_millis(800));
    let watcher = Follower::new(&llm, true);
    let error = agents
        .destination
        .run_watched(&traveller, Some(&watcher))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            travel_agents::AgentError::Llm {
                source: travel_agents::LlmError::Timeout { .. },
                ..
            }
        ),
        "{error}"
    );
    assert!(
        !watcher.pieces.lock().unwrap().is_empty(),
        "pieces came before the timeout"
    );
    // The body's reader (async-openai's task) lets go as soon as it sees the reply dropped.
    let given_back = tokio::time::timeout(Duration::from_secs(5), async {
        while llm.admission().in_flight > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert!(given_back.await.is_ok(), "the call's place was given back");
    assert!(error.is_transient());
}

#[tokio::test]
async fn with_streaming_off_a_followed_reply_is_asked_whole() {
    let demo = demo().await;
    let mut settings = demo.settings();
    settings.streaming = travel_agents::llm::Streaming::Off;
    let (llm, agents) = client_and_agents(settings);
    let watcher = Follower::new(&llm, true);
    agents
        .destination
        .run_watched(&traveller("wine", 3), Some(&watcher))
        .await
        .unwrap();
    assert!(watcher.pieces.lock().unwrap().is_empty());
    assert!(
        demo.requests()
            .iter()
            .all(|r| r.body.get("stream").is_none())
    );
}
