//! The contract every compute backend implements (process, docker, kubernetes and AWS
//! Batch), written as a short spec.
//!
//! # Identity
//!
//! A try is named by its [`TryKey`] and owns one *try folder* (`try_dir`), chosen by the
//! engine. The backend creates the folder and keeps there, at least, the try's `log`. The
//! key (via [`TryKey::slug`]) names the backend's job (container name, Kubernetes Job
//! name), so that a restarted engine can find the job again.
//!
//! # `submit`
//!
//! Starts the try and returns a [`RunningTry`] as soon as the backend has *accepted* it
//! (the process is spawned, the container created, the Job posted); it does not wait for
//! the task. A backend must refuse to submit a try it can see was launched before
//! ([`AlreadyLaunched`](crate::ComputeError::AlreadyLaunched)): the engine must `adopt`
//! such a try, never start it twice.
//!
//! # `wait`
//!
//! [`RunningTry::wait`] resolves exactly once, with the final [`TryOutcome`]; it never
//! fails: a backend that loses track of its job reports [`EndReason::Lost`]. Exit codes
//! map as follows:
//!
//! | how the task ended | `reason` | `exit_code` |
//! | --- | --- | --- |
//! | it exited by itself | `Exited` | `Some(code)`; success iff `0` |
//! | killed by a signal nobody asked for (OOM killer, segfault) | `Signalled(sig)` | `None` |
//! | a container killed by the OOM killer at its memory limit | `OutOfMemory` | `Some(code)` as the container ended |
//! | killed because its timeout passed | `TimedOut` | whatever it ended with |
//! | killed because of [`RunningTry::cancel`] | `Cancelled` | whatever it ended with |
//! | the command could not be started | `LaunchFailed(why)` | `None` |
//! | the backend lost it (supervisor or node gone, no result recorded) | `Lost(why)` | `None` |
//! | found by `adopt` never to have started (see below) | `NeverStarted(why)` | `None` |
//! | work the server ran itself (inline) failed | `Failed { why, retryable }` | `None` |
//!
//! A try that ends after its timeout fired or after a cancel reports `TimedOut` /
//! `Cancelled` even if it managed to exit 0 during the grace period: the engine asked for
//! it to stop, so its result is not trusted.
//!
//! # Logs
//!
//! The task's stdout and stderr are appended, line by line and as they are produced, to
//! `try_dir/log`, each line prefixed with an RFC 3339 UTC timestamp with milliseconds and
//! a space (`2026-11-27T12:00:00.123Z hello`), so `tail -f` (and `weir tasks logs -f`)
//! follow a running try. Values the spec marks as secret are masked as `***`. Backends
//! whose logs live elsewhere (CloudWatch, the Kubernetes API) copy them into this file.
//!
//! # `cancel`
//!
//! [`RunningTry::cancel`] (or a [`CancelHandle`]) only *requests* the stop and returns at
//! once. The backend sends the task a polite stop (SIGTERM), and a forced one (SIGKILL)
//! after the backend's kill grace; `wait` then resolves with `Cancelled` no later than the
//! grace plus a few seconds. Cancelling a try that already ended changes nothing.
//!
//! # Timeout
//!
//! [`LaunchSpec::timeout`] is enforced by the backend itself (not the engine), so it holds
//! while the engine is down: the task is stopped as for a cancel, with reason `TimedOut`.
//!
//! # `adopt`
//!
//! After the engine restarts, it calls `adopt` for each try its store says was running.
//! The backend must never start the task again; it answers
//! - [`Adopted::Running`] when the job is still going: the handle behaves like the one
//!   `submit` returned (wait, cancel);
//! - [`Adopted::Finished`] with the recorded outcome when it ended while the engine was
//!   down;
//! - [`Adopted::NeverStarted`] when the try provably never started: its folder does not
//!   exist, or nothing in it records a start (process: no `supervisor.pid`, no
//!   `task.pgid`, and the supervisor lock is free; docker: no container and no launch
//!   marker, or a container that was created but never started). The backend records
//!   that verdict (`status.json` with [`EndReason::NeverStarted`]) under the lock, so a
//!   supervisor that comes up late refuses to run; the engine then queues the task again
//!   without counting the try against its retries;
//! - [`Adopted::Finished`] with [`EndReason::Lost`] when the job is gone without a result;
//!   the backend then also kills whatever is left of the task, so a retry never runs
//!   beside a stray first copy. `adopt` is idempotent: asking again gives the same answer.
//!
//! With several Weir replicas, the replica that adopts a try may not be the one that
//! submitted it: any replica for a backend whose jobs live on a cluster, only one on the
//! same host for a [`Backend::host_bound`] one (processes, the local Docker daemon).
//!
//! Only `adopt` answers "never started": a supervisor that `submit` spawned and that dies
//! before recording a start is `Lost` (its retry is counted), so a broken supervisor can
//! never make the engine queue a task again and again.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use weir_core::ids::TryKey;

// The outcome types are the domain's: the engine decides from them in weir-core.
pub use weir_core::lifecycle::{EndReason, TryOutcome};

use crate::container::ContainerLaunch;
use crate::error::Result;
use crate::inline::InlineWork;
use crate::sandbox::Sandbox;
use crate::try_folder::TryFolder;

/// A boxed, sendable future: the trait returns these so it stays usable as `dyn Backend`
/// (the engine picks a backend per compute environment at run time).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What to run for one try.
#[derive(Clone)]
pub struct LaunchSpec {
    pub key: TryKey,
    /// The command line, run with `sh -c`.
    pub command: String,
    /// Variables set for the task, on top of a minimal inherited environment (`PATH`,
    /// `HOME`, `LANG`, `TZ`, …). The engine adds its `WEIR_*` variables here.
    pub env: Vec<(String, String)>,
    /// Names of variables in `env` whose values must never appear in the log: every
    /// occurrence is replaced by `***`.
    pub secret_env: Vec<String>,
    /// The try folder; created by the backend. Holds the log, the xcom file, the status.
    pub try_dir: PathBuf,
    /// Stop the task when it runs longer than this.
    pub timeout: Option<Duration>,
    /// For container backends (docker, kubernetes, …): the image and its resources. The
    /// process backend ignores it; container backends require it and ignore `command`.
    pub container: Option<ContainerLaunch>,
    /// For the process backend: run the command in this sandbox (see
    /// [`crate::sandbox`]); `None` runs it as the server's user, unconfined.
    pub sandbox: Option<Sandbox>,
    /// For the inline backend: the work the server does itself (a query, a request);
    /// `command` is then only what the try shows. Other backends ignore it.
    pub inline: Option<Arc<dyn InlineWork>>,
    /// The compute environment the engine placed the try in; backends serving several
    /// environments of their kind (AWS Batch: one region or account each) pick by it.
    pub environment: Option<String>,
    /// The Weir queue the try came from (AWS Batch maps it to a Batch job queue).
    pub queue: Option<String>,
}

impl fmt::Debug for LaunchSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secret values never reach a debug print either.
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| {
                let shown = if self.secret_env.contains(k) {
                    "***"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("LaunchSpec")
            .field("key", &self.key)
            .field("command", &self.command)
            .field("env", &env)
            .field("secret_env", &self.secret_env)
            .field("try_dir", &self.try_dir)
            .field("timeout", &self.timeout)
            .field("container", &self.container)
            .field("sandbox", &self.sandbox)
            .field("inline", &self.inline.as_ref().map(|_| "<inline work>"))
            .field("environment", &self.environment)
            .field("queue", &self.queue)
            .finish()
    }
}

impl LaunchSpec {
    /// A spec with no extra environment, no secrets and no timeout.
    pub fn new(key: TryKey, command: impl Into<String>, try_dir: impl Into<PathBuf>) -> Self {
        Self {
            key,
            command: command.into(),
            env: Vec::new(),
            secret_env: Vec::new(),
            try_dir: try_dir.into(),
            timeout: None,
            container: None,
            sandbox: None,
            inline: None,
            environment: None,
            queue: None,
        }
    }

    /// A spec for the inline backend: the server runs `work` itself; `shown` is what
    /// the try records as its command (e.g. the rendered SQL).
    pub fn for_inline(
        key: TryKey,
        work: Arc<dyn InlineWork>,
        shown: impl Into<String>,
        try_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            inline: Some(work),
            ..Self::new(key, shown, try_dir)
        }
    }

    /// A spec for a container backend: runs `container` (its own command, or the image's
    /// default one); `command` stays empty.
    pub fn for_container(
        key: TryKey,
        container: ContainerLaunch,
        try_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            container: Some(container),
            ..Self::new(key, "", try_dir)
        }
    }
}

/// A cloneable request line to stop one try; see [`RunningTry::cancel`].
///
/// Cloning it lets the engine keep a way to cancel a try while a spawned task awaits
/// [`RunningTry::wait`].
#[derive(Debug, Clone)]
pub struct CancelHandle(Arc<watch::Sender<bool>>);

impl Default for CancelHandle {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }
}

impl CancelHandle {
    /// A handle nobody has cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests the stop; returns at once. Idempotent.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    /// Whether the stop was requested.
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the stop is requested (at once if it already was). For backends.
    pub async fn cancelled(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}

/// A try the backend is running (or watching, after adoption).
pub struct RunningTry {
    key: TryKey,
    try_dir: PathBuf,
    cancel: CancelHandle,
    outcome: BoxFuture<'static, TryOutcome>,
}

impl fmt::Debug for RunningTry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningTry")
            .field("key", &self.key)
            .field("try_dir", &self.try_dir)
            .field("cancelled", &self.cancel.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl RunningTry {
    /// For backends: `outcome` resolves with the final outcome and must honour `cancel`.
    pub fn new(
        key: TryKey,
        try_dir: PathBuf,
        cancel: CancelHandle,
        outcome: BoxFuture<'static, TryOutcome>,
    ) -> Self {
        Self {
            key,
            try_dir,
            cancel,
            outcome,
        }
    }

    pub fn key(&self) -> &TryKey {
        &self.key
    }

    /// The try folder (canonical path).
    pub fn try_dir(&self) -> &Path {
        &self.try_dir
    }

    /// A handle that cancels this try from elsewhere.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Requests the stop of the try; the outcome still comes from [`RunningTry::wait`].
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the try to end, with the XCom it returned if it succeeded. Never
    /// fails: see [`EndReason::Lost`].
    pub async fn wait(self) -> TryOutcome {
        let folder = TryFolder::at(self.try_dir);
        folder.with_xcom(self.outcome.await)
    }
}

/// What [`Backend::adopt`] found.
#[derive(Debug)]
pub enum Adopted {
    /// The try is still running; wait for it (or cancel it) as if it had been submitted.
    Running(RunningTry),
    /// The try already ended (or was lost); here is its final outcome.
    Finished(TryOutcome),
    /// The try provably never started (why): nothing of it ran, and the backend made
    /// sure nothing will. The engine may queue the task again under a new try.
    NeverStarted(String),
}

impl Adopted {
    /// A try whose outcome is already settled in `folder`: one recorded as never
    /// started stays so (so adopting it again gives the same answer); a finished one
    /// carries the XCom the task left, as [`RunningTry::wait`]'s outcome does.
    pub fn settled(outcome: TryOutcome, folder: &TryFolder) -> Self {
        match outcome.reason {
            EndReason::NeverStarted(why) => Self::NeverStarted(why),
            _ => Self::Finished(folder.with_xcom(outcome)),
        }
    }

    /// The final outcome, waiting for it if the try is still running.
    pub async fn wait(self) -> TryOutcome {
        match self {
            Self::Running(running) => running.wait().await,
            Self::Finished(outcome) => outcome,
            Self::NeverStarted(why) => {
                let now = Utc::now();
                TryOutcome::without_usage(EndReason::NeverStarted(why), now, now)
            }
        }
    }
}

/// A compute backend. See the module docs for what each method guarantees.
pub trait Backend: Send + Sync {
    /// Short name, as in a compute environment's `kind` (`process`, `docker`, …).
    fn name(&self) -> &'static str;

    /// Starts a try; returns once the backend has accepted it.
    fn submit(&self, spec: LaunchSpec) -> BoxFuture<'_, Result<RunningTry>>;

    /// Re-attaches to a try started before the engine restarted; never starts it again.
    fn adopt(&self, key: TryKey, try_dir: PathBuf) -> BoxFuture<'_, Result<Adopted>>;

    /// Whether the backend can take work now: its daemon or API answers. A backend that
    /// cannot is not a failure of the tries meant for it: they wait in their queues with
    /// that reason shown. Cheap backends (local processes) are always available.
    fn available(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Whether its tries live on the host that started them (local processes, the local
    /// Docker daemon), so that only a Weir replica on that host can adopt them. Tries on
    /// a cluster (Kubernetes, AWS Batch) can be adopted from anywhere.
    fn host_bound(&self) -> bool {
        false
    }
}
