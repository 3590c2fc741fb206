//! The two helpers every step of the workflow uses: activity calls with durable retries, and the
//! progress the trip shows.
//!
//! Both are recorded in the history: the retries' timers, and every progress report (duroxide
//! checks on replay that a report happens where one was recorded, not what it says). Keep the
//! number and order of reports of an existing revision as they are.

use duroxide::OrchestrationContext;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::boundary::{self, Activity};
use super::types::{ActivityFailure, Retry};
use crate::progress::{TripProgress, TripState, TripStep};

/// Runs an activity, retrying transient failures with durable back-off timers. With `progress`
/// (revision 3 on), each retry is reported as it is decided, and the recovery when it succeeds.
pub async fn call<I: Serialize, O: DeserializeOwned>(
    ctx: &OrchestrationContext,
    activity: Activity<I, O>,
    input: &I,
    retry: &Retry,
    progress: Option<&Progress<'_>>,
) -> Result<O, String> {
    let name = activity.name();
    let input = activity.input_text(input)?;
    let mut attempt = 1;
    // The tries' own time (as the activity measured it, recorded with its failure) and the
    // waits so far: what the retry's budget is counted against.
    let mut spent = Duration::ZERO;
    loop {
        match ctx.schedule_activity(name, input.clone()).await {
            Ok(output) => {
                if let Some(progress) = progress.filter(|_| attempt > 1) {
                    progress.recovered();
                }
                return activity.read_output(&output);
            }
            Err(raw) => {
                let failure = ActivityFailure::decode(&raw);
                if !failure.transient {
                    return Err(failure.message);
                }
                if attempt >= retry.max_attempts {
                    return Err(gave_up(&failure, attempt, retry));
                }
                // A wait the other side asked for is honoured as it is; otherwise back-off.
                let wait = failure
                    .retry_after_secs
                    .map(Duration::from_secs)
                    .unwrap_or_else(|| retry.delay(attempt));
                spent += Duration::from_millis(failure.elapsed_ms.unwrap_or(0)) + wait;
                if retry
                    .budget_ms
                    .is_some_and(|budget| spent > Duration::from_millis(budget))
                {
                    return Err(gave_up(&failure, attempt, retry));
                }
                ctx.trace_warn(format!(
                    "{name} attempt {attempt}/{} failed: {}; trying again in {wait:?}",
                    retry.max_attempts, failure.message
                ));
                if let Some(progress) = progress {
                    let asked = match failure.retry_after_secs {
                        Some(secs) => format!(" in {secs} s, as the AI service asked"),
                        None => String::new(),
                    };
                    progress.retrying(format!(
                        "{}; trying again{asked} (attempt {} of {})",
                        trouble(name),
                        attempt + 1,
                        retry.max_attempts
                    ));
                }
                ctx.schedule_timer(wait).await;
                attempt += 1;
            }
        }
    }
}

/// The last failure's message, saying how many tries were made when there were several (trips
/// with a retry budget, from this release on: earlier ones keep the message they had).
fn gave_up(failure: &ActivityFailure, attempt: u32, retry: &Retry) -> String {
    match retry.budget_ms {
        Some(budget) if attempt > 1 => format!(
            "{} (tried {attempt} times; at most {} tries and {} s in all)",
            failure.message,
            retry.max_attempts,
            budget / 1000
        ),
        _ => failure.message.clone(),
    }
}

/// The trip's progress as the workflow moves: each change is reported at once (the engine keeps
/// it as the instance's custom status; the trips index and the pages read it).
pub struct Progress<'a> {
    ctx: &'a OrchestrationContext,
    pub now: TripProgress,
}

impl<'a> Progress<'a> {
    /// The first report: looking for destinations.
    pub fn start(ctx: &'a OrchestrationContext) -> Self {
        let progress = Self {
            ctx,
            now: TripProgress::starting(),
        };
        progress.report();
        progress
    }

    /// The trip enters `step` (its state and percentage follow from the step).
    pub fn enter(&mut self, step: TripStep, message: impl Into<String>) {
        self.now.enter(step, message);
        self.report();
    }

    /// The trip ends in `state`.
    pub fn finish(&mut self, state: TripState, message: impl Into<String>) {
        self.now.finish(state, message);
        self.report();
    }

    /// A step is tried again after a failure: said at once, so the trip does not look frozen.
    fn retrying(&self, note: String) {
        let mut shown = self.now.clone();
        shown.retrying = Some(note);
        self.show(&shown);
    }

    /// A step that was retried went through: the note goes.
    fn recovered(&self) {
        self.report();
    }

    fn report(&self) {
        self.show(&self.now);
    }

    fn show(&self, progress: &TripProgress) {
        self.ctx
            .set_custom_status(serde_json::to_string(progress).expect("progress serialises"));
    }
}

/// What a failing activity means to the traveller.
fn trouble(activity: &str) -> String {
    if let Some(agent) = travel_agents::AgentName::ALL
        .into_iter()
        .find(|a| a.info().activity == activity)
    {
        return format!(
            "The {} agent did not get an answer from the AI service",
            agent.info().label.to_lowercase()
        );
    }
    if [boundary::SAVE_PLAN.name(), boundary::SAVE_NEW_PLAN.name()].contains(&activity) {
        "Storage is unavailable"
    } else if activity == boundary::REQUEST_APPROVAL.name() {
        "The approval announcement could not be delivered"
    } else if activity == boundary::BOOK_TRIP.name() {
        "The booking service did not answer"
    } else {
        "A step failed"
    }
    .to_owned()
}
