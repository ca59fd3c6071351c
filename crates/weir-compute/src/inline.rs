//! The `inline` backend: work the server does itself (a `sql` query, an `http`
//! request) rather than a process or container it starts. The engine hands it the work
//! as an [`InlineWork`] in [`LaunchSpec::inline`]; everything else follows the
//! [`crate::backend`] contract, with these specifics:
//!
//! # Running
//!
//! `submit` creates the try folder, marks the try launched (`inline.started`, created
//! exclusively: a second submit is [`AlreadyLaunched`](crate::ComputeError::AlreadyLaunched)),
//! and runs [`InlineWork::run`] on a tokio task. The work writes its log through
//! [`InlineContext::log`]: lines appended to `try_dir/log`, each stamped as the
//! contract's "Logs" section says, with every value of [`LaunchSpec::secret_env`] masked
//! as `***` (put a connection's password there). The size cap of `[logs]
//! max_bytes_per_try` applies as for a process.
//!
//! # Results
//!
//! The work answers an [`InlineResult`]:
//! - success, with an optional XCom value: written to the try folder's `xcom.json`
//!   (secrets masked in every string), so [`crate::RunningTry::wait`] reads it back with
//!   the engine's 1 MiB cap; a larger value fails the try (not retryable) with a message
//!   saying how big it was. Reported as `Exited` with exit code 0.
//! - failure: [`EndReason::Failed`] with the work's reason (masked) and whether a retry
//!   can help (a 5xx may pass, a 4xx will not); no exit code.
//!
//! A work that panics fails the try (retryable). The outcome is written to
//! `status.json`, as the supervisor writes it for a process.
//!
//! # Timeout and cancel
//!
//! When [`LaunchSpec::timeout`] passes or the try is cancelled, the backend raises the
//! work's [`StopSignal`] (a `sql` work then cancels its query on the database server),
//! waits up to the backend's grace for the work to return, and abandons (aborts) it
//! after that. The try reports `TimedOut` / `Cancelled` whatever the work answered.
//!
//! # Adoption
//!
//! Inline work lives in the server's memory, so it cannot outlive a restart. `adopt`
//! answers from the folder: a recorded `status.json` is the outcome; a launched try
//! without one died with the previous server and is `Lost` (recorded, so adopting again
//! answers the same); a folder without the launch marker, or no folder, `NeverStarted`.

use std::fs::{self, OpenOptions};
use std::future::pending;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::watch;
use weir_core::ids::TryKey;

use crate::backend::{
    Adopted, Backend, BoxFuture, CancelHandle, EndReason, LaunchSpec, RunningTry, TryOutcome,
};
use crate::capture::{LogSink, Masker};
use crate::error::{ComputeError, Result};
use crate::layout::{self, LOG, XCOM};
use crate::try_folder::{MAX_XCOM_BYTES, TryFolder};

/// The launch marker: created, exclusively, when the work is started.
pub const STARTED: &str = "inline.started";

/// How long a stopped work gets to return before it is abandoned.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// Work the server does itself for one try.
pub trait InlineWork: Send + Sync + 'static {
    /// Does the work: logs through `ctx.log`, returns when done, and returns early
    /// (cleaning up what it started elsewhere, e.g. a query on a database server)
    /// once `ctx.stop` is raised.
    fn run(self: Arc<Self>, ctx: InlineContext) -> BoxFuture<'static, InlineResult>;
}

/// What a running [`InlineWork`] is given.
#[derive(Debug, Clone)]
pub struct InlineContext {
    /// The try's log.
    pub log: InlineLog,
    /// Raised when the try times out or is cancelled.
    pub stop: StopSignal,
}

/// How an [`InlineWork`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum InlineResult {
    /// Done; `xcom` is what the task returns (its `return_value`).
    Succeeded { xcom: Option<Value> },
    /// Failed: why (one line, shown as the try's reason), and whether a retry can help.
    Failed { why: String, retryable: bool },
}

impl InlineResult {
    pub fn failed(why: impl Into<String>, retryable: bool) -> Self {
        Self::Failed {
            why: why.into(),
            retryable,
        }
    }
}

/// The try's log, for an [`InlineWork`]: timestamped, masked lines. Cheap to clone.
#[derive(Debug, Clone)]
pub struct InlineLog {
    sink: Arc<Mutex<LogSink>>,
}

impl InlineLog {
    /// Appends `text`, one log line per line of it. Best effort: the log is a courtesy.
    pub fn line(&self, text: &str) {
        if let Ok(mut sink) = self.sink.lock() {
            for line in text.lines() {
                let _ = sink.line(line.as_bytes());
            }
        }
    }

    /// Appends one of Weir's own lines (`[weir] …`), never dropped by the size cap.
    fn remark(&self, text: &str) {
        if let Ok(mut sink) = self.sink.lock() {
            sink.remark(text);
        }
    }

    fn finish(&self) {
        if let Ok(mut sink) = self.sink.lock() {
            sink.finish();
        }
    }
}

/// Raised when the work must stop (timeout or cancel). Cheap to clone.
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// A signal and the sender that raises it (for tests of a work).
    pub fn new() -> (watch::Sender<bool>, StopSignal) {
        let (tx, rx) = watch::channel(false);
        (tx, StopSignal(rx))
    }

    pub fn is_raised(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the signal is raised; never, if its sender is gone unraised.
    pub async fn raised(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|stop| *stop).await.is_err() {
            pending::<()>().await;
        }
    }
}

/// Runs [`InlineWork`]s on the server's runtime. Cheap to clone.
#[derive(Debug, Clone)]
pub struct InlineBackend {
    stop_grace: Duration,
    log_max_bytes: Option<u64>,
}

impl Default for InlineBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl InlineBackend {
    pub fn new() -> Self {
        Self {
            stop_grace: DEFAULT_STOP_GRACE,
            log_max_bytes: None,
        }
    }

    /// Sets how long a stopped work gets to return before it is abandoned.
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    /// Caps each try's log at `max` bytes of the work's lines.
    pub fn with_log_limit(mut self, max: u64) -> Self {
        self.log_max_bytes = Some(max);
        self
    }

    fn launch(&self, spec: LaunchSpec) -> Result<RunningTry> {
        let work = spec
            .inline
            .clone()
            .ok_or_else(|| ComputeError::Unsupported {
                backend: "inline",
                why: "the launch spec carries no inline work".into(),
            })?;
        layout::create_private_dir(&spec.try_dir)
            .map_err(|e| ComputeError::io("create", &spec.try_dir, e))?;
        let try_dir = fs::canonicalize(&spec.try_dir)
            .map_err(|e| ComputeError::io("resolve", &spec.try_dir, e))?;
        // A try with a recorded outcome (e.g. adoption's "never started") or a launch
        // marker was launched before: it is adopted, never run twice.
        let launched = || ComputeError::AlreadyLaunched {
            key: spec.key.to_string(),
            try_dir: try_dir.clone(),
        };
        if try_dir.join(layout::STATUS).exists() {
            return Err(launched());
        }
        let marker = try_dir.join(STARTED);
        if let Err(e) = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(layout::FILE_MODE)
            .open(&marker)
        {
            return Err(if e.kind() == io::ErrorKind::AlreadyExists {
                launched()
            } else {
                ComputeError::io("create", marker, e)
            });
        }
        let log_path = try_dir.join(LOG);
        let file =
            layout::open_append(&log_path).map_err(|e| ComputeError::io("open", &log_path, e))?;
        let masker = masker(&spec);
        let mut sink = LogSink::new(file, masker.clone());
        if let Some(max) = self.log_max_bytes {
            sink = sink.with_limit(max);
        }
        let log = InlineLog {
            sink: Arc::new(Mutex::new(sink)),
        };
        let run = Run {
            try_dir: try_dir.clone(),
            log,
            masker,
            timeout: spec.timeout,
            grace: self.stop_grace,
        };
        let cancel = CancelHandle::new();
        let task = tokio::spawn(run.drive(work, cancel.clone()));
        Ok(RunningTry::new(
            spec.key,
            try_dir,
            cancel,
            crate::process::joined(task),
        ))
    }

    fn adopt_now(&self, try_dir: &Path) -> Result<Adopted> {
        let try_dir = match fs::canonicalize(try_dir) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let why = format!("its try folder `{}` does not exist", try_dir.display());
                return Ok(Adopted::NeverStarted(why));
            }
            Err(e) => return Err(ComputeError::io("resolve", try_dir, e)),
        };
        let folder = TryFolder::at(&try_dir);
        if let Some(outcome) =
            layout::read_status(&try_dir).map_err(|e| ComputeError::io("read", &try_dir, e))?
        {
            return Ok(Adopted::settled(outcome, &folder));
        }
        let now = Utc::now();
        let (reason, started_at) = match fs::metadata(try_dir.join(STARTED)) {
            Ok(meta) => (
                EndReason::Lost(
                    "the server stopped while it ran: sql and http tasks run inside the server \
                     and stop with it"
                        .into(),
                ),
                meta.modified().map(Into::into).unwrap_or(now),
            ),
            Err(_) => (
                EndReason::NeverStarted("the server stopped before it started the work".into()),
                now,
            ),
        };
        let outcome = TryOutcome::without_usage(reason, started_at, now);
        layout::write_status(&try_dir, &outcome)
            .map_err(|e| ComputeError::io("write", try_dir.join(layout::STATUS), e))?;
        folder.remark(&outcome.reason.to_string());
        Ok(Adopted::settled(outcome, &folder))
    }
}

impl Backend for InlineBackend {
    fn name(&self) -> &'static str {
        "inline"
    }

    fn submit(&self, spec: LaunchSpec) -> BoxFuture<'_, Result<RunningTry>> {
        Box::pin(async move { self.launch(spec) })
    }

    fn adopt(&self, _key: TryKey, try_dir: PathBuf) -> BoxFuture<'_, Result<Adopted>> {
        Box::pin(async move { self.adopt_now(&try_dir) })
    }
}

/// The spec's secret values, for the log, the reason and the XCom.
fn masker(spec: &LaunchSpec) -> Masker {
    Masker::new(
        spec.env
            .iter()
            .filter(|(name, _)| spec.secret_env.contains(name))
            .map(|(_, value)| value.as_str()),
    )
}

/// One running try.
struct Run {
    try_dir: PathBuf,
    log: InlineLog,
    masker: Masker,
    timeout: Option<Duration>,
    grace: Duration,
}

impl Run {
    async fn drive(self, work: Arc<dyn InlineWork>, cancel: CancelHandle) -> TryOutcome {
        let started_at = Utc::now();
        let (raise, stop) = StopSignal::new();
        let ctx = InlineContext {
            log: self.log.clone(),
            stop,
        };
        let mut task = tokio::spawn(work.run(ctx));
        let timeout = self.timeout;
        let deadline = async move {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => pending().await,
            }
        };
        let ended = tokio::select! {
            joined = &mut task => Ok(joined),
            () = cancel.cancelled() => Err(EndReason::Cancelled),
            () = deadline => Err(EndReason::TimedOut),
        };
        let (reason, exit_code) = match ended {
            Ok(Ok(result)) => self.settle(result),
            Ok(Err(e)) => (
                EndReason::Failed {
                    why: format!("the task's work stopped unexpectedly: {e}"),
                    retryable: true,
                },
                None,
            ),
            Err(reason) => {
                let why = match (&reason, timeout) {
                    (EndReason::TimedOut, Some(t)) => {
                        format!("timed out after {}: stopping the work", humanize(t))
                    }
                    _ => "cancelled: stopping the work".to_string(),
                };
                self.log.remark(&why);
                raise.send_replace(true);
                if tokio::time::timeout(self.grace, &mut task).await.is_err() {
                    task.abort();
                    self.log.remark(&format!(
                        "the work did not stop within {}; abandoned",
                        humanize(self.grace)
                    ));
                }
                (reason, None)
            }
        };
        self.log.finish();
        let mut outcome = TryOutcome::without_usage(reason, started_at, Utc::now());
        outcome.exit_code = exit_code;
        if let Err(e) = layout::write_status(&self.try_dir, &outcome) {
            tracing::warn!(try_dir = %self.try_dir.display(), error = %e, "cannot record the outcome");
        }
        outcome
    }

    /// The reason and exit code of a work that returned; writes its XCom.
    fn settle(&self, result: InlineResult) -> (EndReason, Option<i32>) {
        match result {
            InlineResult::Failed { why, retryable } => (
                EndReason::Failed {
                    why: self.masker.mask(&why),
                    retryable,
                },
                None,
            ),
            InlineResult::Succeeded { xcom: None } => (EndReason::Exited, Some(0)),
            InlineResult::Succeeded { xcom: Some(value) } => {
                let value = self.masker.mask_json(&value);
                match serde_json::to_vec(&value) {
                    Ok(bytes) if bytes.len() as u64 > MAX_XCOM_BYTES => {
                        let why = format!(
                            "the task's output is {} bytes of JSON; the XCom limit is {} (1 MiB): return fewer rows (`max_rows`, `LIMIT`) or pass large data through storage",
                            bytes.len(),
                            MAX_XCOM_BYTES
                        );
                        let failed = EndReason::Failed {
                            why,
                            retryable: false,
                        };
                        (failed, None)
                    }
                    Ok(bytes) => match layout::write_atomic(&self.try_dir, XCOM, &bytes) {
                        Ok(()) => (EndReason::Exited, Some(0)),
                        Err(e) => (
                            EndReason::Failed {
                                why: format!("cannot write the task's XCom: {e}"),
                                retryable: true,
                            },
                            None,
                        ),
                    },
                    Err(e) => (
                        EndReason::Failed {
                            why: format!("the task's output is not JSON: {e}"),
                            retryable: false,
                        },
                        None,
                    ),
                }
            }
        }
    }
}

/// `2s`, `1.5s`, `250ms`.
fn humanize(d: Duration) -> String {
    weir_core::duration::format_duration(d)
}

#[cfg(test)]
#[path = "inline_tests.rs"]
mod tests;
