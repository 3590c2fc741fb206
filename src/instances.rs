//! `travel-planner instances ...`: the operator's command line, on the same store the service
//! uses (it may be running).

use std::path::PathBuf;
use std::sync::Arc;
use travel_orchestration::TripId;

use anyhow::Context;
use travel_orchestration::{
    EngineTuning, HistoryEvent, InstanceDetail, InstancePage, InstanceQuery, LocalPlanStore, Store,
    StoreLocation, TripSettings, TripState, TripStep, Trips,
};

use travel_planner::store_args::StoreArgs;

#[derive(Debug, clap::Args)]
pub struct InstancesArgs {
    /// The service's data folder (its workflows.db).
    #[arg(long, env = "DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: InstancesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum InstancesCommand {
    /// Instances, newest first.
    List {
        /// Only this status (planning, awaiting_approval, booking, booked, rejected, expired, failed).
        #[arg(long)]
        status: Option<String>,
        /// Instance ids starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// The page to show, from 1.
        #[arg(long, default_value_t = 1)]
        page: usize,
        /// Instances a page (1 to 200).
        #[arg(long, default_value_t = 25)]
        page_size: usize,
    },
    /// One instance: status, input, output, timeline, tokens.
    Show {
        /// The instance (trip) id, `trip-...`.
        id: TripId,
    },
    /// One instance's history, event by event.
    History {
        /// The instance (trip) id, `trip-...`.
        id: TripId,
    },
    /// Raise ApprovalEvent: approve (or --reject) a plan awaiting approval.
    Approve {
        /// The instance (trip) id, `trip-...`.
        id: TripId,
        /// Reject the plan instead of approving it.
        #[arg(long)]
        reject: bool,
        /// Why, for the record (at most 2,000 characters; no control or text-direction
        /// characters).
        #[arg(long)]
        comments: Option<String>,
    },
    /// Terminate a running instance: it ends `failed`, and its traveller cannot retry it.
    Terminate {
        /// The instance (trip) id, `trip-...`.
        id: TripId,
        /// Why (at most 500 characters).
        #[arg(long, default_value = "terminated from the command line")]
        reason: String,
    },
    /// Delete an instance: its saved plans, its workflow state and history (a running one only
    /// with --force).
    Purge {
        /// The instance (trip) id, `trip-...`.
        id: TripId,
        /// Terminate a running instance first, then purge it.
        #[arg(long)]
        force: bool,
    },
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

fn short(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    travel_agents::text_start(&one_line, max)
}

pub async fn run(args: InstancesArgs) -> anyhow::Result<()> {
    let trips = open(&args).await?;
    let json = args.json;
    match args.command {
        InstancesCommand::List {
            status,
            prefix,
            page,
            page_size,
        } => {
            let status = match status {
                Some(s) => {
                    Some(TripState::parse(&s).with_context(|| format!("unknown status `{s}`"))?)
                }
                None => None,
            };
            let query = InstanceQuery {
                status,
                prefix,
                page: Some(page),
                page_size: Some(page_size),
                ..Default::default()
            };
            let page = trips.instances(&query).await?;
            output(json, &page, || list_text(&page))
        }
        InstancesCommand::Show { id } => {
            let detail = trips.detail(&id).await?;
            output(json, &detail, || detail_text(&detail))
        }
        InstancesCommand::History { id } => {
            let history = trips.history(&id).await?;
            output(json, &history, || history_text(&history))
        }
        InstancesCommand::Approve {
            id,
            reject,
            comments,
        } => approve(&trips, json, &id, !reject, comments).await,
        InstancesCommand::Terminate { id, reason } => {
            trips.terminate(&id, &reason).await?;
            let answer = serde_json::json!({"instanceId": id, "terminated": true});
            output(json, &answer, || {
                format!("{id} is being terminated: {reason}")
            })
        }
        InstancesCommand::Purge { id, force } => {
            let documents = trips.purge(&id, force).await?;
            let answer = serde_json::json!({"instanceId": id, "purged": true, "planDocumentsDeleted": documents});
            output(json, &answer, || {
                format!("{id} purged, with {documents} saved plan document(s)")
            })
        }
    }
}

/// Raises the approval event as the service's own `/approve` would (without its checks).
async fn approve(
    trips: &Trips,
    json: bool,
    id: &TripId,
    approved: bool,
    comments: Option<String>,
) -> anyhow::Result<()> {
    let decision = travel_orchestration::ApprovalDecision::new(approved, comments);
    trips.decide_as_operator(id, decision).await?;
    let answer =
        serde_json::json!({"instanceId": id, "raised": "ApprovalEvent", "approved": approved});
    output(json, &answer, || {
        let decision = if approved { "approved" } else { "rejected" };
        format!("ApprovalEvent raised on {id}: {decision}")
    })
}

/// The service's store, beside the service if it runs.
async fn open(args: &InstancesArgs) -> anyhow::Result<Trips> {
    let location = args.store.location_with(&args.data_dir, false)?;
    if let StoreLocation::Sqlite { path, .. } = &location {
        anyhow::ensure!(
            path.exists(),
            "no workflow store at {} (use --data-dir)",
            path.display()
        );
    }
    let store = Store::open(&location, &EngineTuning::default()).await?;
    Ok(Trips::new(
        store,
        Arc::new(LocalPlanStore::new(args.data_dir.join("plans"))),
        TripSettings::default(),
    ))
}

/// Prints `value` as JSON, or the text for people.
fn output(
    json: bool,
    value: &impl serde::Serialize,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

fn when(time: Option<chrono::DateTime<chrono::Utc>>, format: &str) -> String {
    time.map(|t| t.format(format).to_string())
        .unwrap_or_default()
}

fn list_text(page: &InstancePage) -> String {
    let rows = page
        .items
        .iter()
        .map(|i| {
            vec![
                i.instance_id.to_string(),
                i.status.to_string(),
                i.step.map(TripStep::as_str).unwrap_or_default().to_owned(),
                i.destination.clone().unwrap_or_default(),
                when(i.created_at, "%Y-%m-%d %H:%M:%S"),
                i.duration_ms
                    .map(|d| format!("{:.1}s", d as f64 / 1000.0))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let headers = [
        "INSTANCE",
        "STATUS",
        "STEP",
        "DESTINATION",
        "CREATED",
        "DURATION",
    ];
    let counts: Vec<String> = page
        .counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    format!(
        "{}\n\n{} matching, page {} · {}",
        table(&headers, rows),
        page.total,
        page.page,
        counts.join(", ")
    )
}

fn detail_text(detail: &InstanceDetail) -> String {
    let summary = &detail.summary;
    let tokens = &detail.tokens;
    let mut lines = vec![
        format!("instance     {}", summary.instance_id),
        format!(
            "status       {} ({})",
            summary.status, detail.runtime_status
        ),
        format!(
            "destination  {}",
            summary.destination.clone().unwrap_or_default()
        ),
        format!(
            "created      {}",
            summary
                .created_at
                .map(|c| c.to_rfc3339())
                .unwrap_or_default()
        ),
    ];
    if let Some(error) = &detail.error {
        lines.push(format!("error        {error}"));
    }
    lines.push(format!(
        "tokens       {} ({} prompt, {} cached, {} completion)\n",
        tokens.total_tokens, tokens.prompt_tokens, tokens.cached_tokens, tokens.completion_tokens
    ));
    let rows = detail
        .timeline
        .iter()
        .map(|r| {
            vec![
                r.label.clone(),
                format!("{:?}", r.state).to_lowercase(),
                r.elapsed_ms.map(|e| format!("{e} ms")).unwrap_or_default(),
                r.attempts.to_string(),
            ]
        })
        .collect();
    lines.push(table(&["STEP", "STATE", "ELAPSED", "ATTEMPTS"], rows));
    lines.join("\n")
}

fn history_text(history: &[HistoryEvent]) -> String {
    let rows = history
        .iter()
        .map(|e| {
            vec![
                e.event_id.to_string(),
                e.kind.clone(),
                when(e.time, "%H:%M:%S%.3f"),
                e.name.clone().unwrap_or_default(),
                e.payload
                    .as_ref()
                    .map(|p| short(&p.to_string(), 60))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(&["#", "TYPE", "TIME", "NAME", "PAYLOAD"], rows)
}
