//! How a try ended, as its backend reports it: the input of the end-of-try decision
//! ([`super::try_end`]). Backends (weir-compute) produce these values; the process
//! backend's supervisor stores a [`TryOutcome`] as `status.json` in the try folder.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a try ended. weir-compute's `backend` module docs say how it pairs with the exit
/// code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The task exited by itself; the exit code says success (0) or failure.
    Exited,
    /// The backend stopped it because its timeout passed.
    TimedOut,
    /// The backend stopped it because it was cancelled.
    Cancelled,
    /// A signal nobody asked for killed it.
    Signalled(i32),
    /// The kernel's OOM killer stopped it at its memory limit (container backends).
    OutOfMemory,
    /// The backend lost track of it and no result was recorded.
    Lost(String),
    /// The command could not be started.
    LaunchFailed(String),
    /// Work the server ran itself (an inline `sql` or `http` task) failed: why, and
    /// whether a retry can help (a 5xx can pass, a 4xx will not).
    Failed { why: String, retryable: bool },
    /// After a restart, the backend found that the try never started (weir-compute's
    /// `Adopted::NeverStarted`); nothing ran, so the engine queues the task again.
    NeverStarted(String),
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited => f.write_str("exited"),
            Self::TimedOut => f.write_str("timed out"),
            Self::Cancelled => f.write_str("cancelled"),
            Self::Signalled(sig) => write!(f, "killed by signal {sig}"),
            Self::OutOfMemory => f.write_str("out of memory (OOM-killed)"),
            Self::Lost(why) => write!(f, "lost: {why}"),
            Self::LaunchFailed(why) => write!(f, "could not start: {why}"),
            Self::NeverStarted(why) => write!(f, "never started: {why}"),
            Self::Failed { why, .. } => write!(f, "failed: {why}"),
        }
    }
}

/// The result of one try, and its resource usage (the input of the usage record).
///
/// The process backend stores exactly this as `status.json` in the try folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TryOutcome {
    pub exit_code: Option<i32>,
    pub reason: EndReason,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// User plus system CPU time of the task and its descendants.
    pub cpu_seconds: f64,
    /// Largest resident set size of any single process of the task.
    pub peak_rss_bytes: u64,
    /// What the task left in its XCom file: read by the backend from the try folder
    /// when the task succeeded; not part of `status.json`.
    #[serde(skip)]
    pub xcom: XComRead,
}

impl TryOutcome {
    /// Whether the task succeeded: it exited by itself with code 0.
    pub fn succeeded(&self) -> bool {
        self.reason == EndReason::Exited && self.exit_code == Some(0)
    }

    /// Wall-clock seconds between start and finish.
    pub fn wall_seconds(&self) -> f64 {
        let ms = (self.finished_at - self.started_at).num_milliseconds();
        ms.max(0) as f64 / 1000.0
    }

    /// An outcome for a try that ended without a usage measurement (lost, never started).
    pub fn without_usage(
        reason: EndReason,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
    ) -> Self {
        Self {
            exit_code: None,
            reason,
            started_at,
            finished_at,
            cpu_seconds: 0.0,
            peak_rss_bytes: 0,
            xcom: XComRead::None,
        }
    }
}

/// What reading the try's XCom file (`$WEIR_XCOM`) gave. Only a successful try's XCom
/// is read; the engine passes [`XComRead::None`] for the others.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum XComRead {
    /// No file, an empty one, or not read.
    #[default]
    None,
    /// A JSON value: stored as the task's `return_value`.
    Value(Value),
    /// Larger than `limit` bytes.
    TooBig { bytes: u64, limit: u64 },
    /// Not valid JSON; the parser's message.
    Malformed(String),
    /// The file could not be read; the error's message.
    Unreadable(String),
}

impl XComRead {
    /// Why the XCom is unusable, in the words the user reads in the try's log.
    pub fn problem(&self) -> Option<String> {
        match self {
            XComRead::None | XComRead::Value(_) => None,
            XComRead::TooBig { bytes, limit } => Some(format!(
                "the XCom written to $WEIR_XCOM is {bytes} bytes; the limit is {limit} ({} MiB): pass large data through storage and its path through XCom",
                limit / (1024 * 1024)
            )),
            XComRead::Malformed(why) => Some(format!(
                "the XCom written to $WEIR_XCOM is not valid JSON: {why}"
            )),
            XComRead::Unreadable(why) => Some(format!("cannot read the XCom file: {why}")),
        }
    }
}
