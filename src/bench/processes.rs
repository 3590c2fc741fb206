//! Whole trips over HTTP against N `serve` processes of this binary sharing one store: a trip is
//! started on one process, polled there and approved on the next; any process runs its work.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

use super::driver::Driver;
use super::{BenchArgs, Scratch, memory_mib, whole_trips};

/// Settings the processes must not take from this environment: an LLM (they run on the demo
/// model), a webhook, and a blob container (plans go to the throwaway data folder).
const NOT_INHERITED: [&str; 9] = [
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_OPENAI_ENDPOINT",
    "APPROVAL_WEBHOOK_URL",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_BLOB_ENDPOINT",
    "AZURE_STORAGE_CONTAINER",
    "AZURE_STORAGE_SAS_TOKEN",
    "ADMIN_TOKEN",
];

struct Process {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

pub async fn run(args: &BenchArgs, scratch: &Scratch) -> anyhow::Result<serde_json::Value> {
    std::fs::create_dir_all(&scratch.data_dir)?;
    let mut processes = Vec::new();
    let result = async {
        // The first one creates the store's tables; the others start once it has.
        for i in 0..args.processes {
            processes.push(spawn(args, scratch, i)?);
            ready(processes.last_mut().expect("just pushed")).await?;
        }
        let driver = Arc::new(Driver::Http {
            client: travel_platform::http::shared_client(),
            bases: processes.iter().map(|p| p.base.clone()).collect(),
        });
        whole_trips::drive(&driver, args).await
    }
    .await;
    let mut peak_rss = Vec::new();
    for process in &mut processes {
        peak_rss.push(
            process
                .child
                .id()
                .and_then(|pid| memory_mib(&pid.to_string(), "VmHWM:")),
        );
        let _ = process.child.kill().await;
    }
    let mut report = result?;
    report["processes"] = serde_json::json!(args.processes);
    report["peakRssMiBPerProcess"] = serde_json::json!(peak_rss);
    Ok(report)
}

fn spawn(args: &BenchArgs, scratch: &Scratch, i: usize) -> anyhow::Result<Process> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let data_dir = scratch.data_dir.join(format!("process-{i}"));
    let log = scratch.data_dir.join(format!("process-{i}.log"));
    let tuning = &args.tuning;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("serve")
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", &data_dir)
        .env("DATABASE_SCHEMA", &scratch.schema)
        .env("DEMO_MODEL_LATENCY_MS", args.latency_ms.to_string())
        .env(
            "DEMO_MODEL_REQUESTS_PER_MINUTE",
            args.model_requests_per_minute
                .map(|n| n.to_string())
                .unwrap_or_default(),
        )
        .env(
            "DEMO_MODEL_TOKENS_PER_MINUTE",
            args.model_tokens_per_minute
                .map(|n| n.to_string())
                .unwrap_or_default(),
        )
        .env("ENGINE_ACTIVITY_SLOTS", tuning.activity_slots.to_string())
        .env("ENGINE_SAVE_SLOTS", tuning.save_slots.to_string())
        .env("ENGINE_BOOKING_SLOTS", tuning.booking_slots.to_string())
        .env("ENGINE_SAFETY_POLL_MS", tuning.safety_poll_ms.to_string())
        .env("ENGINE_LEASE_MS", tuning.lease_ms.to_string())
        .env("ENGINE_SQLITE_CACHE_MIB", tuning.sqlite_cache_mib.to_string())
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        // Where no `.env` file is found.
        .current_dir(&scratch.data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .kill_on_drop(true);
    for variable in NOT_INHERITED {
        command.env_remove(variable);
    }
    // Unset: the store's own default (an empty value would not parse).
    match tuning.orchestration_slots {
        Some(n) => command.env("ENGINE_ORCHESTRATION_SLOTS", n.to_string()),
        None => command.env_remove("ENGINE_ORCHESTRATION_SLOTS"),
    };
    if let Some(url) = &scratch.database_url {
        command.env("DATABASE_URL", url);
    }
    let child = command.spawn().context("starting a serve process")?;
    Ok(Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    })
}

/// Waits until the process answers `/readyz` (its store is open and migrated).
async fn ready(process: &mut Process) -> anyhow::Result<()> {
    let client = travel_platform::http::shared_client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{}/readyz", process.base)).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if let Some(status) = process.child.try_wait()? {
            let log = std::fs::read_to_string(&process.log).unwrap_or_default();
            anyhow::bail!("a serve process stopped ({status}):\n{log}");
        }
        if Instant::now() > deadline {
            anyhow::bail!("a serve process did not become ready in 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
