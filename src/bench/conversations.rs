//! N travellers planning by chat at once, as the chat page does: each opens a conversation,
//! says what they want, answers the agent's question about dates and needs, and says yes to its
//! restatement (four model calls: three replies and the call of `start_trip` with its closing
//! words). Reported: how long each reply took (the model's latency included), from "yes" to the
//! trip started and answered, conversations a second, the trips they started, and memory. The
//! trips plan on in the background meanwhile (their agents share the model with the
//! conversations).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use travel_orchestration::Conversations;

use super::{BenchArgs, Samples, Scratch, memory_mib, round1};

pub async fn run(args: &BenchArgs, scratch: &Scratch) -> anyhow::Result<serde_json::Value> {
    let running = scratch.start_service(args).await?;
    let result = measure(args, running.conversations.clone()).await;
    running.engine.shutdown(Duration::from_secs(2)).await;
    let mut report = result?;
    report["peakRssMiB"] = serde_json::json!(memory_mib("self", "VmHWM:"));
    Ok(report)
}

/// What one conversation took.
#[derive(Default)]
struct Timed {
    /// Each reply in words, from the message sent to the reply kept.
    replies: Vec<Duration>,
    /// From "yes" to the trip started and the agent's words about it kept.
    yes_to_started: Option<Duration>,
}

async fn measure(
    args: &BenchArgs,
    conversations: Conversations,
) -> anyhow::Result<serde_json::Value> {
    let slots = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let started = Instant::now();
    let mut talks = Vec::with_capacity(args.conversations);
    for n in 0..args.conversations {
        let (slots, conversations) = (slots.clone(), conversations.clone());
        talks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.expect("never closed");
            talk(&conversations, n).await
        }));
    }
    let (mut replies, mut yes_to_started, mut failures) =
        (Samples::default(), Samples::default(), Vec::new());
    for talk in talks {
        match talk.await? {
            Ok(timed) => {
                timed.replies.into_iter().for_each(|r| replies.push(r));
                if let Some(took) = timed.yes_to_started {
                    yes_to_started.push(took);
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let finished = args.conversations - failures.len();
    Ok(serde_json::json!({
        "conversations": args.conversations,
        "concurrency": args.concurrency,
        "failed": failures.len(),
        "failures": failures.iter().take(5).collect::<Vec<_>>(),
        "tripsStarted": yes_to_started.0.len(),
        "seconds": round1(seconds),
        "conversationsPerSecond": round1(finished as f64 / seconds),
        "replyMs": replies.summary(),
        "yesToTripStartedMs": yes_to_started.summary(),
    }))
}

/// One traveller's conversation, to the trip it starts.
async fn talk(conversations: &Conversations, n: usize) -> anyhow::Result<Timed> {
    let opened = conversations.open().await?;
    let id = opened.conversation.conversation_id;
    let token = Some(opened.token.as_str());
    let mut timed = Timed::default();
    let said = [
        format!(
            "Museums and food for {} days, 3000 USD. My name is Ada Bench.",
            2 + n % 3
        ),
        "No special needs, and my dates are flexible.".to_owned(),
    ];
    for text in said {
        let asked = Instant::now();
        conversations
            .say(&id, token, &text)
            .await?
            .reply(None)
            .await?;
        timed.replies.push(asked.elapsed());
    }
    let asked = Instant::now();
    let answered = conversations
        .say(&id, token, "yes")
        .await?
        .reply(None)
        .await?;
    anyhow::ensure!(
        answered.trip_id.is_some(),
        "the conversation started no trip: {:?}",
        answered.messages.last()
    );
    timed.yes_to_started = Some(asked.elapsed());
    Ok(timed)
}
