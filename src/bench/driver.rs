//! How the benchmark talks to the service: through `Trips` in this process, or over HTTP to
//! `serve` processes (spread over them: a trip started on one is approved on the next).

use std::time::{Duration, Instant};
use travel_orchestration::TripId;

use anyhow::Context;
use chrono::{DateTime, Utc};
use travel_agents::{AgentName, AgentThread};
use travel_orchestration::{
    ApprovalDecision, Followed, TripChange, TripError, TripEvent, TripRequest, TripState,
    TripStatus, Trips,
};

pub enum Driver {
    InProcess(Box<Trips>),
    Http {
        client: reqwest::Client,
        /// `http://127.0.0.1:port` of each process.
        bases: Vec<String>,
    },
}

pub struct Started {
    pub id: TripId,
    pub token: String,
}

/// A trip as last seen, with the service's own timestamps (so that the benchmark's polling does
/// not count in the times it reports).
pub struct Seen {
    pub state: TripState,
    pub created: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

impl Seen {
    /// From creation to this state, as the service recorded it.
    pub fn elapsed_ms(&self) -> Option<f64> {
        let (created, updated) = (self.created?, self.updated?);
        Some((updated - created).num_microseconds()? as f64 / 1000.0)
    }
}

impl From<TripStatus> for Seen {
    fn from(status: TripStatus) -> Self {
        Self {
            state: status.status,
            created: status.created_at,
            updated: status.updated_at,
            error: status.error,
        }
    }
}

impl Driver {
    fn base(&self, n: usize) -> &str {
        match self {
            Driver::Http { bases, .. } => &bases[n % bases.len()],
            Driver::InProcess(_) => "",
        }
    }

    /// Starts trip `n` (on process `n`).
    pub async fn start(&self, n: usize, request: &TripRequest) -> anyhow::Result<Started> {
        match self {
            Driver::InProcess(trips) => {
                let started = trips.start(request.clone()).await?;
                Ok(Started {
                    id: started.instance_id,
                    token: started.approval_token,
                })
            }
            Driver::Http { client, .. } => {
                let body: serde_json::Value = checked(
                    client
                        .post(format!("{}/api/trips", self.base(n)))
                        .json(request)
                        .send()
                        .await?,
                )
                .await?
                .json()
                .await?;
                Ok(Started {
                    id: TripId::parse(&text(&body, "instanceId")?)?,
                    token: text(&body, "approvalToken")?,
                })
            }
        }
    }

    pub async fn status(&self, n: usize, id: &TripId) -> anyhow::Result<Seen> {
        match self {
            Driver::InProcess(trips) => Ok(trips.status(id).await?.into()),
            Driver::Http { client, .. } => {
                let status: TripStatus = checked(
                    client
                        .get(format!("{}/api/trips/{id}", self.base(n)))
                        .send()
                        .await?,
                )
                .await?
                .json()
                .await?;
                Ok(status.into())
            }
        }
    }

    /// Approves trip `n` (on the process after the one that started it).
    pub async fn approve(&self, n: usize, started: &Started) -> anyhow::Result<()> {
        let decision = ApprovalDecision::new(true, None);
        match self {
            Driver::InProcess(trips) => {
                trips
                    .decide(&started.id, Some(&started.token), decision)
                    .await?;
            }
            Driver::Http { client, .. } => {
                checked(
                    client
                        .post(format!("{}/approve/{}", self.base(n + 1), started.id))
                        .bearer_auth(&started.token)
                        .json(&decision)
                        .send()
                        .await?,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// The agent's thread for the trip (its calls to the model, timed).
    pub async fn agent_thread(
        &self,
        n: usize,
        id: &TripId,
        agent: AgentName,
    ) -> anyhow::Result<AgentThread> {
        Ok(match self {
            Driver::InProcess(trips) => trips.agent_thread(id, agent).await?,
            Driver::Http { client, .. } => {
                // The answer is the thread with the trip's id beside its fields.
                checked(
                    client
                        .get(format!("{}/api/trips/{id}/agents/{agent}", self.base(n)))
                        .send()
                        .await?,
                )
                .await?
                .json()
                .await
                .context("the answer holds no agent thread")?
            }
        })
    }

    /// The model's critical path of trip `n`: the destination agent's calls, then the one of
    /// the two agents that run in parallel that finished last.
    pub async fn critical_path(&self, n: usize, id: &TripId) -> anyhow::Result<CriticalPath> {
        let destination = self.agent_thread(n, id, AgentName::Destination).await?;
        let itinerary = self.agent_thread(n, id, AgentName::Itinerary).await?;
        let tips = self.agent_thread(n, id, AgentName::LocalTips).await?;
        let last = if ended(&itinerary) >= ended(&tips) {
            itinerary
        } else {
            tips
        };
        Ok(CriticalPath {
            agents: [destination, last],
        })
    }

    /// Polls every `poll` until the trip reaches `state`; fails when it ends otherwise or takes
    /// more than five minutes.
    pub async fn wait_for(
        &self,
        n: usize,
        id: &TripId,
        state: TripState,
        poll: Duration,
    ) -> anyhow::Result<Seen> {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let seen = self.status(n, id).await?;
            if seen.state == state {
                return Ok(seen);
            }
            if seen.state.is_final() || Instant::now() > deadline {
                anyhow::bail!(
                    "trip {id} is {} (waiting for {state}): {}",
                    seen.state,
                    seen.error.as_deref().unwrap_or("no error")
                );
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// A trip's events, followed as a trip page follows them (`--follow`).
pub enum Following {
    InProcess(std::pin::Pin<Box<dyn futures::Stream<Item = Result<Followed, TripError>> + Send>>),
    Http {
        response: reqwest::Response,
        text: String,
    },
}

impl Following {
    /// Until a `progress` event in `state` (or the trip's end in it); fails when the trip ends
    /// otherwise, or the stream does.
    pub async fn until(&mut self, state: TripState) -> anyhow::Result<()> {
        loop {
            let Some(event) = self.next().await? else {
                anyhow::bail!("the trip's events ended before it was {state}");
            };
            match event.change {
                TripChange::Progress { progress } if progress.state == state => return Ok(()),
                TripChange::Finished { state: ended, .. } if ended == state => return Ok(()),
                TripChange::Finished {
                    state: ended,
                    error,
                } => anyhow::bail!(
                    "the trip ended {ended} (waiting for {state}): {}",
                    error.as_deref().unwrap_or("no error")
                ),
                _ => {}
            }
        }
    }

    async fn next(&mut self) -> anyhow::Result<Option<TripEvent>> {
        use futures::StreamExt;
        match self {
            Following::InProcess(stream) => loop {
                match stream.next().await.transpose()? {
                    Some(Followed::Event(event)) => return Ok(Some(event)),
                    // The replies as they are written: read, as a page reads them.
                    Some(Followed::Reply(_)) => continue,
                    None => return Ok(None),
                }
            },
            Following::Http { response, text } => loop {
                // An event's block ends with an empty line; its data is the event as JSON.
                if let Some(end) = text.find("\n\n") {
                    let block: String = text.drain(..end + 2).collect();
                    if block.lines().any(|l| l == "event: reply") {
                        continue;
                    }
                    if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                        return Ok(Some(serde_json::from_str(data)?));
                    }
                    continue;
                }
                match response.chunk().await? {
                    Some(chunk) => text.push_str(std::str::from_utf8(&chunk)?),
                    None => return Ok(None),
                }
            },
        }
    }
}

impl Driver {
    /// Opens trip `n`'s event stream (on the process after the one that started it, as a
    /// browser elsewhere would).
    pub async fn follow(&self, n: usize, id: &TripId) -> anyhow::Result<Following> {
        Ok(match self {
            Driver::InProcess(trips) => {
                Following::InProcess(Box::pin(trips.follow(id.clone(), 0).await?.into_stream()))
            }
            Driver::Http { client, .. } => Following::Http {
                response: checked(
                    client
                        .get(format!("{}/api/trips/{id}/events", self.base(n + 1)))
                        .header("accept", "text/event-stream")
                        .send()
                        .await?,
                )
                .await?,
                text: String::new(),
            },
        })
    }
}

/// When an agent's call ended.
fn ended(thread: &AgentThread) -> DateTime<Utc> {
    thread.started_at + chrono::Duration::milliseconds(thread.duration_ms as i64)
}

/// The two agent calls on a trip's critical path: the destination agent's, then the last of the
/// two that run in parallel.
pub struct CriticalPath {
    pub agents: [AgentThread; 2],
}

/// Where a plan's time went, in milliseconds.
pub struct PlanTime {
    /// Calls to the model on the path, and their time as the agents measured it.
    pub calls: usize,
    pub model_ms: f64,
    /// From the trip's start to its first agent call.
    pub before_first_agent_ms: f64,
    /// From the destination agent's answer to the next agent's start.
    pub between_agents_ms: f64,
    /// Inside the agents' calls but not waiting on the model (admission, tools, parsing).
    pub in_agents_not_model_ms: f64,
    /// From the last agent's answer to the plan awaiting approval.
    pub after_last_agent_ms: f64,
}

impl CriticalPath {
    /// The plan's time, from `created` to `planned`, split along the path.
    pub fn plan_time(&self, created: DateTime<Utc>, planned: DateTime<Utc>) -> PlanTime {
        let ms = |d: chrono::Duration| d.num_microseconds().unwrap_or(0) as f64 / 1000.0;
        let [first, last] = &self.agents;
        let rounds = |t: &AgentThread| t.rounds.iter().map(|r| r.duration_ms).sum::<u64>();
        let model_ms = (rounds(first) + rounds(last)) as f64;
        PlanTime {
            calls: first.rounds.len() + last.rounds.len(),
            model_ms,
            before_first_agent_ms: ms(first.started_at - created),
            between_agents_ms: ms(last.started_at - ended(first)),
            in_agents_not_model_ms: (first.duration_ms + last.duration_ms) as f64 - model_ms,
            after_last_agent_ms: ms(planned - ended(last)),
        }
    }
}

async fn checked(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let url = response.url().clone();
    let body = response.text().await.unwrap_or_default();
    anyhow::bail!("{url} answered {status}: {body}")
}

fn text(body: &serde_json::Value, field: &str) -> anyhow::Result<String> {
    body[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the answer has no `{field}`: {body}"))
}
