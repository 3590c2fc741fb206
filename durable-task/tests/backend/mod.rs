//! A Durable Task test backend for the tests: PyPI `durabletask`'s in-memory backend
//! (`scripts/durable-task-backend`) in a process of its own, on a free port. Shared by the
//! protocol's tests and the engine's (`orchestration/tests/`, by path).
#![allow(dead_code)] // each test binary uses a part of it

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use travel_durable_task::{Connection, SchedulerSettings};
use travel_platform::azure::CredentialChoice;

/// A test backend in a process of its own, stopped when dropped.
pub struct Backend {
    child: Child,
    port: u16,
}

impl Backend {
    pub fn start() -> Self {
        // The workspace's `scripts/`, from whichever of its crates the test is in.
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|folder| folder.join("scripts/durable-task-backend"))
            .find(|script| script.exists())
            .expect("scripts/durable-task-backend is in the workspace");
        let mut child = Command::new("python3")
            .arg(&script)
            .env("PYTHONPATH", python_path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the test backend");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the backend did not start: {line:?}"))
            .parse()
            .unwrap();
        Self { child, port }
    }

    /// Runs `code` in Python with PyPI `durabletask` importable and the backend's port in
    /// `PORT` (the official SDK's client, as a user of the scheduler would); answers what it
    /// printed.
    pub fn python(&self, code: &str) -> String {
        let output = Command::new("python3")
            .args(["-c", code])
            .env("PYTHONPATH", python_path())
            .env("PORT", self.port.to_string())
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Its address, as `DURABLE_TASK_ENDPOINT` names it.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A connection to it, as the service makes one.
    pub fn connect(&self) -> Connection {
        let settings = SchedulerSettings::from_env_with(|name| match name {
            "DURABLE_TASK_ENDPOINT" => Some(self.endpoint()),
            _ => None,
        })
        .unwrap()
        .unwrap();
        Connection::open(&settings, &CredentialChoice::DeveloperTools).unwrap()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where PyPI `durabletask` is installed.
fn python_path() -> String {
    std::env::var("DURABLE_TASK_PYTHONPATH").expect(
        "DURABLE_TASK_PYTHONPATH is not set: run the tests with scripts/test, which installs PyPI durabletask",
    )
}
