//! `travel-planner plan`: one trip planned through the very workflow `serve` runs (same steps,
//! same agents, same totals), on a store and a plans folder that are thrown away afterwards. It
//! stops at the approval wait and prints the plan with each agent's token usage.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use travel_orchestration::request::Budget;
use travel_orchestration::{LocalPlanStore, TripError, TripRequest, TripState};
use travel_planner::serve::{self, ServeArgs};

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// What the traveller wants, in their own words.
    #[arg(long)]
    preferences: String,
    /// The traveller's name.
    #[arg(long, default_value = "Traveller")]
    name: String,
    /// Trip length in days (1-21).
    #[arg(long, default_value_t = 4)]
    days: u32,
    /// Budget amount.
    #[arg(long, default_value = "2500")]
    budget: travel_agents::Amount,
    /// Budget currency (ISO 4217).
    #[arg(long, default_value = "USD")]
    currency: String,
    /// First day of the trip (YYYY-MM-DD).
    #[arg(long)]
    start_date: Option<chrono::NaiveDate>,
    /// Free-text travel dates, when there is no start date.
    #[arg(long)]
    travel_dates: Option<String>,
    /// Special requirements (diet, mobility, ...).
    #[arg(long)]
    requirements: Option<String>,
}

pub async fn run(args: PlanArgs) -> anyhow::Result<()> {
    let request = TripRequest {
        traveller_name: args.name,
        preferences: args.preferences,
        duration_days: args.days,
        budget: Budget {
            amount: args.budget,
            currency: args.currency,
        },
        start_date: args.start_date,
        travel_dates: args.travel_dates,
        special_requirements: args.requirements,
    };
    let scratch = std::env::temp_dir().join(format!("travel-planner-plan-{}", std::process::id()));
    let planned = plan_in(&scratch, request).await;
    let _ = std::fs::remove_dir_all(&scratch);
    println!("{}", serde_json::to_string_pretty(&planned?)?);
    Ok(())
}

async fn plan_in(
    scratch: &std::path::Path,
    request: TripRequest,
) -> anyhow::Result<serde_json::Value> {
    let args = ServeArgs::on_data_dir(scratch);
    let plans = Arc::new(LocalPlanStore::new(scratch.join("plans")));
    let running =
        serve::start_with_plans(&args, &args.tuning.tuning(), &serve::environment, plans).await?;
    let trips = &running.trips;
    let started = trips.start(request).await.map_err(|e| match e {
        TripError::Invalid(fields) => anyhow::anyhow!(
            "the request is invalid: {}",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => other.into(),
    })?;
    let id = started.instance_id;
    let status = loop {
        let status = trips.status(&id).await?;
        match status.status {
            TripState::AwaitingApproval => break status,
            TripState::Planning => tokio::time::sleep(Duration::from_millis(50)).await,
            _ => anyhow::bail!(
                "planning stopped ({}): {}",
                status.status,
                status.error.unwrap_or_default()
            ),
        }
    };
    let plan = trips.saved_plan(&status).await.context("the plan")?;
    let mut usage = Vec::new();
    for agent in travel_agents::AgentName::ALL {
        let thread = trips.agent_thread(&id, agent).await?;
        usage.push(serde_json::json!({"agent": agent, "usage": thread.usage, "rounds": thread.rounds.len()}));
    }
    running.engine.shutdown(Duration::from_secs(1)).await;
    Ok(serde_json::json!({"plan": plan, "usage": usage}))
}
