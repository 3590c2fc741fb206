//! The work this process holds, written down in a log of its own. The protocol has no
//! leases: work taken from the stream is the taker's until it completes it or hands it back, and
//! the Python test backend never gives again what a dead process held (a turn stays "in flight"
//! forever, an activity is lost; the research's section 3.4). So each work item is written down
//! as it arrives, before anything is done with it, and crossed out once completed or handed
//! back; the next process on the same folder hands back the turns its predecessor held (the
//! scheduler gives them again) and runs its activities again.
//!
//! An activity the scheduler gives again while it is held here (a scheduler with leases of its
//! own, once its lease ran out) is not run twice: it is completed once, with the newest token.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message;
use travel_durable_task::protocol::{ActivityRequest, OrchestratorRequest, WorkItem, work_item};

/// Which work item a record is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Held {
    /// A turn, by instance and completion token.
    Turn { instance: String, token: String },
    /// An activity, by instance and action id: the same activity whatever the token it came with.
    Activity { instance: String, task_id: i32 },
}

impl Held {
    pub fn turn(turn: &OrchestratorRequest, token: &str) -> Self {
        Self::Turn {
            instance: turn.instance_id.clone(),
            token: token.to_owned(),
        }
    }

    pub fn activity(activity: &ActivityRequest) -> Self {
        Self::Activity {
            instance: activity
                .orchestration_instance
                .as_ref()
                .map(|i| i.instance_id.clone())
                .unwrap_or_default(),
            task_id: activity.task_id,
        }
    }

    fn of(item: &WorkItem) -> Option<Self> {
        match &item.request {
            Some(work_item::Request::OrchestratorRequest(turn)) => {
                Some(Self::turn(turn, &item.completion_token))
            }
            Some(work_item::Request::ActivityRequest(activity)) => Some(Self::activity(activity)),
            _ => None,
        }
    }
}

/// What the last process on the folder held when it stopped.
#[derive(Debug, Default)]
pub struct Leftover {
    /// Turns to hand back (the scheduler then gives them again).
    pub turns: Vec<(OrchestratorRequest, String)>,
    /// Activities to run again, held from now on by this process.
    pub activities: Vec<(ActivityRequest, String)>,
}

/// The log's name in the folder.
const LOG: &str = "held.log";
/// A record of work taken: the work item (a turn without its events), protobuf-encoded.
const TAKEN: u8 = 1;
/// A record of work finished: the offset of its `TAKEN` record.
const FINISHED: u8 = 2;
/// Past this size the log is written again with only the work still held.
const COMPACT_AT: u64 = 8 << 20;

/// The records of the work held, appended to one log (`held.log`: a record is a kind byte, a
/// length and its bytes; appending is cheap, and a process' writes outlive a kill -9 in the
/// page cache). A record cut short by a crash ends the log: its work never started.
pub struct HeldWork {
    state: std::sync::Mutex<State>,
}

struct State {
    /// None: kept in this process only (a provider whose crash nothing needs to survive).
    log: Option<Log>,
    held: HashMap<Held, Record>,
    /// The log's size past which it is written again.
    compact_at: u64,
}

struct Log {
    path: PathBuf,
    file: File,
    size: u64,
}

struct Record {
    /// Where its `TAKEN` record is in the log.
    offset: u64,
    /// The token to complete the work with: for an activity given again, the newest.
    token: String,
    /// Its `TAKEN` record's bytes, for writing the log again.
    bytes: Vec<u8>,
}

/// Whether a work item is new here.
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival {
    New,
    /// An activity this process holds already: its newer token is kept, and it is not run again.
    AlreadyHeld,
}

#[derive(Debug, thiserror::Error)]
#[error("the record of held work {path} cannot be used: {source}")]
pub struct HeldWorkError {
    path: String,
    source: std::io::Error,
}

impl HeldWork {
    /// Opens the log in `folder` (created if missing), with what the last process there held.
    pub fn open(folder: &Path) -> Result<(Self, Leftover), HeldWorkError> {
        let path = folder.join(LOG);
        let failed = |source| HeldWorkError {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(folder).map_err(failed)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(failed(e)),
        };
        let mut taken: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut finished = std::collections::HashSet::new();
        for (offset, kind, payload) in records(&bytes) {
            match kind {
                TAKEN => taken.push((offset, payload.to_vec())),
                FINISHED if payload.len() == 8 => {
                    finished.insert(u64::from_le_bytes(payload.try_into().unwrap()));
                }
                _ => {}
            }
        }
        let mut state = State::new();
        let mut leftover = Leftover::default();
        for (offset, bytes) in taken {
            if finished.contains(&offset) {
                continue;
            }
            let Some(item) = WorkItem::decode(bytes.as_slice()).ok() else {
                continue;
            };
            let Some(held) = Held::of(&item) else {
                continue;
            };
            let token = item.completion_token.clone();
            match item.request {
                Some(work_item::Request::OrchestratorRequest(turn)) => {
                    leftover.turns.push((turn, token.clone()));
                }
                Some(work_item::Request::ActivityRequest(activity)) => {
                    leftover.activities.push((activity, token.clone()));
                }
                _ => continue,
            }
            state.held.insert(
                held,
                Record {
                    offset: 0,
                    token,
                    bytes,
                },
            );
        }
        // The log as it is, until it is written again with what is still held (beside it, then
        // in its place: a crash meanwhile leaves the old log whole).
        state.log = Some(Log {
            file: std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .map_err(failed)?,
            path: path.clone(),
            size: bytes.len() as u64,
        });
        state.write_again().map_err(failed)?;
        Ok((
            Self {
                state: std::sync::Mutex::new(state),
            },
            leftover,
        ))
    }

    /// Kept in this process only.
    pub fn in_memory() -> Self {
        Self {
            state: std::sync::Mutex::new(State::new()),
        }
    }

    /// Writes `item` down before any work on it starts.
    pub fn arrived(&self, item: &WorkItem) -> std::io::Result<Arrival> {
        let Some(held) = Held::of(item) else {
            return Ok(Arrival::New);
        };
        let mut state = self.state.lock().unwrap();
        if let (Held::Activity { .. }, Some(record)) = (&held, state.held.get_mut(&held)) {
            record.token = item.completion_token.clone();
            return Ok(Arrival::AlreadyHeld);
        }
        let bytes = slim(item).encode_to_vec();
        let offset = match &mut state.log {
            Some(log) => log.append(TAKEN, &bytes)?,
            None => 0,
        };
        state.held.insert(
            held,
            Record {
                offset,
                token: item.completion_token.clone(),
                bytes,
            },
        );
        Ok(Arrival::New)
    }

    /// The token to complete a held work item with (the newest it came with).
    pub fn token(&self, held: &Held) -> Option<String> {
        let state = self.state.lock().unwrap();
        state.held.get(held).map(|r| r.token.clone())
    }

    /// Crosses a work item out: completed, or handed back to the scheduler.
    pub fn done(&self, held: &Held) {
        let mut state = self.state.lock().unwrap();
        let Some(record) = state.held.remove(held) else {
            return;
        };
        let Some(log) = &mut state.log else {
            return;
        };
        let written = match log.append(FINISHED, &record.offset.to_le_bytes()) {
            Ok(_) if log.size > state.compact_at => state.write_again(),
            other => other.map(|_| ()),
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, "a finished work item could not be crossed out: the next process would take it over");
        }
    }
}

impl State {
    fn new() -> Self {
        Self {
            log: None,
            held: HashMap::new(),
            compact_at: COMPACT_AT,
        }
    }

    /// Writes the log again with only the work still held (beside it, then in its place).
    fn write_again(&mut self) -> std::io::Result<()> {
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        let fresh_path = log.path.with_extension("log.new");
        let mut fresh = Log {
            file: File::create(&fresh_path)?,
            path: log.path.clone(),
            size: 0,
        };
        for record in self.held.values_mut() {
            record.offset = fresh.append(TAKEN, &record.bytes)?;
        }
        std::fs::rename(&fresh_path, &log.path)?;
        *log = fresh;
        Ok(())
    }
}

impl Log {
    /// Appends a record in one write; its offset.
    fn append(&mut self, kind: u8, payload: &[u8]) -> std::io::Result<u64> {
        let mut record = Vec::with_capacity(5 + payload.len());
        record.push(kind);
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(payload);
        self.file.write_all(&record)?;
        let offset = self.size;
        self.size += record.len() as u64;
        Ok(offset)
    }
}

/// The log's whole records: offset, kind, bytes.
fn records(mut bytes: &[u8]) -> impl Iterator<Item = (u64, u8, &[u8])> {
    let mut offset = 0u64;
    std::iter::from_fn(move || {
        let (&kind, rest) = bytes.split_first()?;
        let length = u32::from_le_bytes(rest.get(..4)?.try_into().unwrap()) as usize;
        let payload = rest.get(4..4 + length)?;
        let at = offset;
        offset += 5 + length as u64;
        bytes = &rest[4 + length..];
        Some((at, kind, payload))
    })
}

/// What is kept of a work item: a turn's instance and token only (its events come again when
/// it is given again), an activity whole (it is run again from the record).
fn slim(item: &WorkItem) -> WorkItem {
    match &item.request {
        Some(work_item::Request::OrchestratorRequest(turn)) => WorkItem {
            completion_token: item.completion_token.clone(),
            request: Some(work_item::Request::OrchestratorRequest(
                OrchestratorRequest {
                    instance_id: turn.instance_id.clone(),
                    ..Default::default()
                },
            )),
        },
        _ => item.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use travel_durable_task::protocol::OrchestrationInstance;

    fn activity(instance: &str, task_id: i32, token: &str) -> WorkItem {
        WorkItem {
            completion_token: token.to_owned(),
            request: Some(work_item::Request::ActivityRequest(ActivityRequest {
                name: "Agent".to_owned(),
                task_id,
                input: Some("{}".to_owned()),
                orchestration_instance: Some(OrchestrationInstance {
                    instance_id: instance.to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            })),
        }
    }

    fn turn(instance: &str, token: &str) -> WorkItem {
        WorkItem {
            completion_token: token.to_owned(),
            request: Some(work_item::Request::OrchestratorRequest(
                OrchestratorRequest {
                    instance_id: instance.to_owned(),
                    ..Default::default()
                },
            )),
        }
    }

    #[test]
    fn what_a_process_held_when_it_stopped_is_there_for_the_next() {
        let folder = tempfile::tempdir().unwrap();
        let (held, leftover) = HeldWork::open(folder.path()).unwrap();
        assert!(leftover.turns.is_empty() && leftover.activities.is_empty());
        for item in [
            turn("trip-1", "7"),
            turn("trip-2", "8"),
            activity("trip-1", 3, "7"),
            activity("trip-1", 4, "7"),
        ] {
            assert_eq!(held.arrived(&item).unwrap(), Arrival::New);
        }
        held.done(&Held::Turn {
            instance: "trip-2".into(),
            token: "8".into(),
        });
        held.done(&Held::Activity {
            instance: "trip-1".into(),
            task_id: 4,
        });
        // A record cut short by a crash ends the log.
        std::fs::OpenOptions::new()
            .append(true)
            .open(folder.path().join(LOG))
            .unwrap()
            .write_all(&[TAKEN, 200, 0, 0, 0, 1, 2])
            .unwrap();
        drop(held);

        let (held, leftover) = HeldWork::open(folder.path()).unwrap();
        let turns: Vec<_> = leftover
            .turns
            .iter()
            .map(|(t, token)| (t.instance_id.as_str(), token.as_str()))
            .collect();
        assert_eq!(turns, [("trip-1", "7")]);
        let activities: Vec<_> = leftover
            .activities
            .iter()
            .map(|(a, token)| (a.task_id, token.as_str()))
            .collect();
        assert_eq!(activities, [(3, "7")]);

        // Still held by the new process until it crosses them out.
        let again = Held::Activity {
            instance: "trip-1".into(),
            task_id: 3,
        };
        assert_eq!(held.token(&again).as_deref(), Some("7"));
        held.done(&again);
        held.done(&Held::Turn {
            instance: "trip-1".into(),
            token: "7".into(),
        });
        drop(held);
        let (_, leftover) = HeldWork::open(folder.path()).unwrap();
        assert!(leftover.turns.is_empty() && leftover.activities.is_empty());
    }

    #[test]
    fn an_activity_given_again_while_held_runs_once_with_the_newest_token() {
        let folder = tempfile::tempdir().unwrap();
        let (held, _) = HeldWork::open(folder.path()).unwrap();
        assert_eq!(
            held.arrived(&activity("trip-1", 3, "7")).unwrap(),
            Arrival::New
        );
        assert_eq!(
            held.arrived(&activity("trip-1", 3, "9")).unwrap(),
            Arrival::AlreadyHeld
        );
        let key = Held::Activity {
            instance: "trip-1".into(),
            task_id: 3,
        };
        assert_eq!(held.token(&key).as_deref(), Some("9"));
        // Turns are not merged: each delivery is its own.
        assert_eq!(held.arrived(&turn("trip-1", "7")).unwrap(), Arrival::New);
        assert_eq!(held.arrived(&turn("trip-1", "9")).unwrap(), Arrival::New);
        drop(held);
        let (_, leftover) = HeldWork::open(folder.path()).unwrap();
        assert_eq!((leftover.turns.len(), leftover.activities.len()), (2, 1));
    }

    #[test]
    fn the_log_is_written_again_with_only_what_is_held_once_it_grows() {
        let folder = tempfile::tempdir().unwrap();
        let (held, _) = HeldWork::open(folder.path()).unwrap();
        held.state.lock().unwrap().compact_at = 4096;
        held.arrived(&activity("trip-0", 1, "1")).unwrap();
        for n in 0..200 {
            let item = activity("trip-1", n, "2");
            held.arrived(&item).unwrap();
            held.done(&Held::activity(match &item.request {
                Some(work_item::Request::ActivityRequest(a)) => a,
                _ => unreachable!(),
            }));
        }
        let size = std::fs::metadata(folder.path().join(LOG)).unwrap().len();
        assert!(size <= 4096, "written again: {size} bytes");
        drop(held);
        let (_, leftover) = HeldWork::open(folder.path()).unwrap();
        let activities: Vec<_> = leftover
            .activities
            .iter()
            .map(|(a, token)| (a.task_id, token.as_str()))
            .collect();
        assert_eq!(activities, [(1, "1")]);
    }
}
