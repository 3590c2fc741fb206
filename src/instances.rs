//! `travel-planner instances ...`: the operator's command line, on the same store the service
//! uses (it may be running).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use travel_orchestration::{
    EngineTuning, InstanceQuery, LocalPlanStore, Store, StoreLocation, TripSettings, TripState,
    Trips,
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
        #[arg(long, default_value_t = 1)]
        page: usize,
        #[arg(long, default_value_t = 25)]
        page_size: usize,
    },
    /// One instance: status, input, output, timeline, tokens.
    Show { id: String },
    /// One instance's history, event by event.
    History { id: String },
    /// Raise ApprovalEvent: approve (or --reject) a plan awaiting approval.
    Approve {
        id: String,
        #[arg(long)]
        reject: bool,
        #[arg(long)]
        comments: Option<String>,
    },
    /// Terminate a running instance.
    Terminate {
        id: String,
        #[arg(long, default_value = "terminated from the command line")]
        reason: String,
    },
    /// Delete an instance's workflow state (a running one only with --force).
    Purge {
        id: String,
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
    let location = args.store.location_with(&args.data_dir, false);
    if let StoreLocation::Sqlite { path, .. } = &location {
        anyhow::ensure!(
            path.exists(),
            "no workflow store at {} (use --data-dir)",
            path.display()
        );
    }
    let store = Store::open(&location, &EngineTuning::default()).await?;
    let trips = Trips::new(
        store,
        Arc::new(LocalPlanStore::new(args.data_dir.join("plans"))),
        TripSettings::default(),
    );
    let print = |value: serde_json::Value| {
        println!("{}", serde_json::to_string_pretty(&value).expect("JSON"))
    };
    match args.command {
        InstancesCommand::List {
            status,
            prefix,
            page,
            page_size,
        } => {
            let status = status
                .map(|s| {
                    serde_json::from_value::<TripState>(serde_json::Value::String(s.clone()))
                        .with_context(|| format!("unknown status `{s}`"))
                })
                .transpose()?;
            let result = trips
                .instances(&InstanceQuery {
                    status,
                    prefix,
                    page: Some(page),
                    page_size: Some(page_size),
                    ..Default::default()
                })
                .await?;
            if args.json {
                print(serde_json::to_value(&result)?);
                return Ok(());
            }
            let rows = result
                .items
                .iter()
                .map(|i| {
                    vec![
                        i.instance_id.clone(),
                        i.status.to_string(),
                        i.step
                            .map(|s| {
                                serde_json::to_value(s)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_owned))
                                    .unwrap_or_default()
                            })
                            .unwrap_or_default(),
                        i.destination.clone().unwrap_or_default(),
                        i.created_at
                            .map(|c| c.format("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_default(),
                        i.duration_ms
                            .map(|d| format!("{:.1}s", d as f64 / 1000.0))
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(
                    &[
                        "INSTANCE",
                        "STATUS",
                        "STEP",
                        "DESTINATION",
                        "CREATED",
                        "DURATION"
                    ],
                    rows
                )
            );
            let counts: Vec<String> = result
                .counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            println!(
                "\n{} matching, page {} · {}",
                result.total,
                result.page,
                counts.join(", ")
            );
        }
        InstancesCommand::Show { id } => {
            let detail = trips.detail(&id).await?;
            if args.json {
                print(serde_json::to_value(&detail)?);
                return Ok(());
            }
            println!("instance     {}", detail.summary.instance_id);
            println!(
                "status       {} ({})",
                detail.summary.status, detail.runtime_status
            );
            println!(
                "destination  {}",
                detail.summary.destination.clone().unwrap_or_default()
            );
            println!(
                "created      {}",
                detail
                    .summary
                    .created_at
                    .map(|c| c.to_rfc3339())
                    .unwrap_or_default()
            );
            if let Some(error) = &detail.error {
                println!("error        {error}");
            }
            println!(
                "tokens       {} ({} prompt, {} cached, {} completion)\n",
                detail.tokens.total_tokens,
                detail.tokens.prompt_tokens,
                detail.tokens.cached_tokens,
                detail.tokens.completion_tokens
            );
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
            println!("{}", table(&["STEP", "STATE", "ELAPSED", "ATTEMPTS"], rows));
        }
        InstancesCommand::History { id } => {
            let history = trips.history(&id).await?;
            if args.json {
                print(serde_json::to_value(&history)?);
                return Ok(());
            }
            let rows = history
                .iter()
                .map(|e| {
                    vec![
                        e.event_id.to_string(),
                        e.kind.clone(),
                        e.time
                            .map(|t| t.format("%H:%M:%S%.3f").to_string())
                            .unwrap_or_default(),
                        e.name.clone().unwrap_or_default(),
                        e.payload
                            .as_ref()
                            .map(|p| short(&p.to_string(), 60))
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            println!("{}", table(&["#", "TYPE", "TIME", "NAME", "PAYLOAD"], rows));
        }
        InstancesCommand::Approve {
            id,
            reject,
            comments,
        } => {
            let data = serde_json::json!({"approved": !reject, "comments": comments});
            trips
                .raise_event(&id, travel_orchestration::workflow::APPROVAL_EVENT, &data)
                .await?;
            if args.json {
                print(
                    serde_json::json!({"instanceId": id, "raised": "ApprovalEvent", "approved": !reject}),
                );
                return Ok(());
            }
            println!(
                "ApprovalEvent raised on {id}: {}",
                if reject { "rejected" } else { "approved" }
            );
        }
        InstancesCommand::Terminate { id, reason } => {
            trips.terminate(&id, &reason).await?;
            if args.json {
                print(serde_json::json!({"instanceId": id, "terminated": true}));
                return Ok(());
            }
            println!("{id} is being terminated: {reason}");
        }
        InstancesCommand::Purge { id, force } => {
            trips.purge(&id, force).await?;
            if args.json {
                print(serde_json::json!({"instanceId": id, "purged": true}));
                return Ok(());
            }
            println!("{id} purged");
        }
    }
    Ok(())
}
