//! The `process` backend: runs `shell` tasks as local processes, each under its own
//! supervisor (see [`crate::supervisor`]), so tries keep running, and their results are
//! kept, while the server is down.
//!
//! - `submit` spawns the supervisor as a child and watches it event-driven (tokio reaps it
//!   through a pidfd), then reads the `status.json` it wrote: no polling on the hot path.
//! - `adopt` handles a supervisor that is not our child (started by a previous server).
//!   It cannot be waited for, so it is watched by polling its lock and `status.json`
//!   every [`ADOPT_POLL`]; adoption only happens after a restart, so this is not the hot
//!   path.
//! - A supervisor that died without a status (killed, machine restart) makes the try
//!   `Lost`: the backend takes the lock, kills what is left of the task's process group
//!   and records the verdict, so the supervisor can never run it late.
//! - At adoption, a try whose folder does not exist, or in which no supervisor ever
//!   recorded a start (no `supervisor.pid`, no `task.pgid`, lock free), is
//!   [`Adopted::NeverStarted`]: the verdict is recorded the same way.
//!
//! File operations here use blocking `std::fs` on purpose: they are a handful of
//! metadata calls on a local folder, far cheaper than a hop to tokio's blocking pool.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use weir_core::ids::TryKey;

use crate::backend::{
    Adopted, Backend, BoxFuture, CancelHandle, EndReason, LaunchSpec, RunningTry, TryOutcome,
};
use crate::error::{ComputeError, Result};
use crate::layout::{self, LOCK, LOG, LockProbe, SUPERVISOR_PID, TASK_PGID, TRY_DIR_ENV};
use crate::supervisor::{DEFAULT_KILL_GRACE, SupervisorArgs};
use crate::try_folder::TryFolder;

/// Variables a task inherits from the server; everything else comes from the spec, so a
/// task never sees the server's configuration or credentials by accident. These few are
/// what ordinary tools need to find programs, a home, a locale, a zone and a temp dir.
pub const INHERITED_ENV: &[&str] = &[
    "PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME",
];

/// What a sandboxed task inherits from the server: not its `PATH`, home or user.
pub const SANDBOX_INHERITED_ENV: &[&str] = &["LANG", "LC_ALL", "TZ"];

/// `PATH` for tasks when the server has none, and inside the sandbox when the task sets
/// none.
pub(crate) const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How often an adopted try is looked at.
pub const ADOPT_POLL: Duration = Duration::from_millis(100);

/// Extra time, beyond the kill grace, a supervisor gets to stop its task after a cancel
/// before the backend kills the supervisor itself.
const CANCEL_SLACK: Duration = Duration::from_secs(5);

/// Runs tries as local processes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProcessBackend {
    /// The command that starts a supervisor, e.g. `[current_exe, "supervise"]`.
    supervisor: Vec<OsString>,
    kill_grace: Duration,
    log_max_bytes: Option<u64>,
    /// The server's environment, as the binary read it: tasks inherit the few
    /// [`INHERITED_ENV`] variables of it, and sandbox programs are looked up on its `PATH`.
    server_environment: Vec<(OsString, OsString)>,
}

impl ProcessBackend {
    /// A backend that starts supervisors with `supervisor` followed by the supervisor's
    /// arguments, e.g. `ProcessBackend::new([std::env::current_exe()?.into_os_string(),
    /// "supervise".into()])`.
    pub fn new<I, S>(supervisor: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self {
            supervisor: supervisor.into_iter().map(Into::into).collect(),
            kill_grace: DEFAULT_KILL_GRACE,
            log_max_bytes: None,
            server_environment: Vec::new(),
        }
    }

    /// Sets the server's environment (`std::env::vars_os()`, read by the binary). Without
    /// it, tasks inherit nothing from the server and get [`DEFAULT_PATH`].
    pub fn with_server_environment(mut self, vars: Vec<(OsString, OsString)>) -> Self {
        self.server_environment = vars;
        self
    }

    /// The server's value of `name`, if it has one.
    fn server_var(&self, name: &str) -> Option<&OsString> {
        self.server_environment
            .iter()
            .find(|(n, _)| n.to_str() == Some(name))
            .map(|(_, value)| value)
    }

    /// Sets the time between SIGTERM and SIGKILL when a task is stopped.
    pub fn with_kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// Caps each try's log at `max` bytes of task output (`[logs] max_bytes_per_try`).
    pub fn with_log_limit(mut self, max: u64) -> Self {
        self.log_max_bytes = Some(max);
        self
    }

    fn launch(&self, spec: LaunchSpec) -> Result<RunningTry> {
        let (program, prefix) = self
            .supervisor
            .split_first()
            .ok_or(ComputeError::NoSupervisor)?;
        layout::create_private_dir(&spec.try_dir)
            .map_err(|e| ComputeError::io("create", &spec.try_dir, e))?;
        // Canonical, so the supervisor's marker and later adoption agree on the path.
        let try_dir = fs::canonicalize(&spec.try_dir)
            .map_err(|e| ComputeError::io("resolve", &spec.try_dir, e))?;

        // The supervisor's own complaints (before it can write timestamped lines) land in
        // the log, where whoever investigates the try will look.
        let log_path = try_dir.join(LOG);
        let log =
            layout::open_append(&log_path).map_err(|e| ComputeError::io("open", &log_path, e))?;
        // The lock file doubles as the "launched" marker: creating it exclusively makes a
        // second submit of the same try fail instead of running the task twice.
        let lock_path = try_dir.join(LOCK);
        if let Err(e) = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(layout::FILE_MODE)
            .open(&lock_path)
        {
            return Err(if e.kind() == io::ErrorKind::AlreadyExists {
                ComputeError::AlreadyLaunched {
                    key: spec.key.to_string(),
                    try_dir,
                }
            } else {
                ComputeError::io("create", lock_path, e)
            });
        }

        // The program is found on the server's PATH, since a sandboxed task's supervisor
        // gets the task's (minimal) PATH; not found, the name stays and the supervisor
        // fails the try saying so.
        let sandbox = spec.sandbox.clone().map(|mut sandbox| {
            let search_path = self.server_var("PATH").map(OsString::as_os_str);
            if let Some(path) = crate::sandbox::resolve_program(&sandbox.program, search_path) {
                sandbox.program = path.display().to_string();
            }
            sandbox
        });
        let args = SupervisorArgs {
            try_dir: try_dir.clone(),
            timeout: spec.timeout,
            kill_grace: self.kill_grace,
            mask_env: spec.secret_env.clone(),
            sandbox,
            log_max_bytes: self.log_max_bytes,
            command: vec!["sh".into(), "-c".into(), spec.command.into()],
        };
        let mut cmd = Command::new(program);
        cmd.args(prefix)
            .args(args.to_args())
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log); // opened before the marker, so a failure leaves no marker
        // A sandboxed task inherits only the locale and zone; its PATH is minimal.
        let inherited: &[&str] = match &args.sandbox {
            Some(_) => SANDBOX_INHERITED_ENV,
            None => INHERITED_ENV,
        };
        for name in inherited {
            if let Some(value) = self.server_var(name) {
                cmd.env(name, value);
            }
        }
        if args.sandbox.is_some() || self.server_var("PATH").is_none() {
            cmd.env("PATH", DEFAULT_PATH);
        }
        // WEIR_TRY_DIR is the supervisor's to set (on the task only): it marks the
        // task's processes, and the supervisor must not carry the mark itself.
        let env = spec.env.iter().filter(|(k, _)| k != TRY_DIR_ENV);
        cmd.envs(env.map(|(k, v)| (k, v)));
        // No kill_on_drop: the supervisor must outlive this server.

        let started_at = Utc::now();
        let child = cmd.spawn().map_err(|source| {
            // Nothing ran: release the marker so the try can be submitted again.
            let _ = fs::remove_file(&lock_path);
            ComputeError::SpawnSupervisor {
                program: program.to_string_lossy().into_owned(),
                source,
            }
        })?;
        let ctx = Ctx {
            try_dir: try_dir.clone(),
            started_at: Some(started_at),
            kill_grace: self.kill_grace,
        };
        let cancel = CancelHandle::new();
        // Spawned at once, so the supervisor is reaped and a cancel acted on even if the
        // caller polls `wait` late or drops the handle.
        let task = tokio::spawn(watch_child(child, ctx, cancel.clone()));
        Ok(RunningTry::new(spec.key, try_dir, cancel, joined(task)))
    }

    fn adopt_now(&self, key: TryKey, try_dir: PathBuf) -> Result<Adopted> {
        let try_dir = match fs::canonicalize(&try_dir) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // The engine creates the folder before the supervisor is spawned, so
                // nothing can have run, nor start late.
                let why = format!("its try folder `{}` does not exist", try_dir.display());
                return Ok(Adopted::NeverStarted(why));
            }
            Err(e) => return Err(ComputeError::io("resolve", try_dir, e)),
        };
        let ctx = Ctx {
            try_dir: try_dir.clone(),
            started_at: None,
            kill_grace: self.kill_grace,
        };
        if let Some(outcome) = look(&ctx, false, ADOPT_LOST, true) {
            return Ok(Adopted::settled(outcome, &TryFolder::at(&try_dir)));
        }
        let cancel = CancelHandle::new();
        let task = tokio::spawn(watch_adopted(ctx, cancel.clone(), ADOPT_LOST.to_owned()));
        Ok(Adopted::Running(RunningTry::new(
            key,
            try_dir,
            cancel,
            joined(task),
        )))
    }
}

impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    fn host_bound(&self) -> bool {
        true
    }

    fn submit(&self, spec: LaunchSpec) -> BoxFuture<'_, Result<RunningTry>> {
        Box::pin(async move { self.launch(spec) })
    }

    fn adopt(&self, key: TryKey, try_dir: PathBuf) -> BoxFuture<'_, Result<Adopted>> {
        Box::pin(async move { self.adopt_now(key, try_dir) })
    }
}

const ADOPT_LOST: &str = "its supervisor stopped without recording an outcome \
                          (was the machine restarted, or the supervisor killed?)";

/// What a watcher knows about its try.
struct Ctx {
    try_dir: PathBuf,
    /// When we started it, if we did.
    started_at: Option<DateTime<Utc>>,
    kill_grace: Duration,
}

/// The outcome future of a watcher task; a watcher that panicked or was aborted (runtime
/// shutdown) leaves the try without a known outcome.
pub(crate) fn joined(task: JoinHandle<TryOutcome>) -> BoxFuture<'static, TryOutcome> {
    Box::pin(async move {
        task.await.unwrap_or_else(|e| {
            let now = Utc::now();
            TryOutcome::without_usage(
                EndReason::Lost(format!("the try's watcher stopped: {e}")),
                now,
                now,
            )
        })
    })
}

/// Watches a supervisor we spawned: waits for its exit, then reads its verdict.
async fn watch_child(mut child: Child, ctx: Ctx, cancel: CancelHandle) -> TryOutcome {
    let status = tokio::select! {
        status = child.wait() => status,
        () = cancel.cancelled() => {
            // Not yet reaped, so the pid is still the supervisor's.
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            let deadline = ctx.kill_grace + CANCEL_SLACK;
            match tokio::time::timeout(deadline, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    tracing::warn!(try_dir = %ctx.try_dir.display(),
                        "supervisor ignored the cancel; killing it");
                    let _ = child.start_kill();
                    child.wait().await
                }
            }
        }
    };
    match layout::read_status(&ctx.try_dir) {
        Ok(Some(outcome)) => outcome,
        _ => {
            let how = match status {
                Ok(status) => status.to_string(),
                Err(e) => e.to_string(),
            };
            let why = format!("its supervisor ended ({how}) without recording an outcome");
            // Usually settles at the first look; keeps watching if another supervisor
            // somehow holds the lock.
            watch_adopted(ctx, cancel, why).await
        }
    }
}

/// Watches a supervisor that is not our child, by polling the try folder.
async fn watch_adopted(ctx: Ctx, cancel: CancelHandle, lost_why: String) -> TryOutcome {
    let mut term_sent_at: Option<Instant> = None;
    let mut killed = false;
    loop {
        if let Some(outcome) = look(&ctx, cancel.is_cancelled(), &lost_why, false) {
            return outcome;
        }
        // The supervisor was alive at that look.
        if cancel.is_cancelled() {
            match term_sent_at {
                None => {
                    // Not found: the lock changed hands between the look and now; the
                    // next look settles it or finds the holder.
                    if signal_supervisor(&ctx.try_dir, Signal::SIGTERM) {
                        term_sent_at = Some(Instant::now());
                    }
                }
                Some(at) if !killed && at.elapsed() >= ctx.kill_grace + CANCEL_SLACK => {
                    tracing::warn!(try_dir = %ctx.try_dir.display(),
                        "supervisor ignored the cancel; killing it");
                    signal_supervisor(&ctx.try_dir, Signal::SIGKILL);
                    killed = true;
                }
                Some(_) => {}
            }
        }
        let cancelled = cancel.is_cancelled();
        tokio::select! {
            () = tokio::time::sleep(ADOPT_POLL) => {}
            () = cancel.cancelled(), if !cancelled => {}
        }
    }
}

/// One look at the try folder: the outcome if the try has ended, `None` while its
/// supervisor lives. A dead supervisor without a status is settled here; `adopting`:
/// this is adoption's first look, where a try with no start recorded is `NeverStarted`.
fn look(ctx: &Ctx, cancelled: bool, lost_why: &str, adopting: bool) -> Option<TryOutcome> {
    let dir = &ctx.try_dir;
    let unreadable = |e: io::Error| {
        let now = Utc::now();
        let why = format!("cannot inspect try folder `{}`: {e}", dir.display());
        TryOutcome::without_usage(EndReason::Lost(why), now, now)
    };
    match layout::read_status(dir) {
        Ok(Some(outcome)) => return Some(outcome),
        Ok(None) => {}
        Err(e) => return Some(unreadable(e)),
    }
    match layout::probe_lock(dir) {
        Ok(LockProbe::Held) => None,
        Ok(LockProbe::Free(lock)) => Some(settle(ctx, lock, cancelled, lost_why, adopting)),
        Err(e) => Some(unreadable(e)),
    }
}

/// Records the verdict on a try whose supervisor is gone without a status. Runs while
/// holding the supervisor lock, so a late supervisor will see the verdict and not run.
fn settle(
    ctx: &Ctx,
    lock: fs::File,
    cancelled: bool,
    lost_why: &str,
    adopting: bool,
) -> TryOutcome {
    let dir = &ctx.try_dir;
    // The supervisor may have written its status just before releasing the lock.
    if let Ok(Some(outcome)) = layout::read_status(dir) {
        return outcome;
    }
    // A supervisor writes its pid right after taking the lock, before it starts the
    // task; the task's group id follows the task's start.
    let ran = dir.join(SUPERVISOR_PID).exists() || dir.join(TASK_PGID).exists();
    let killed = layout::kill_task_processes(dir);
    let reason = if cancelled {
        EndReason::Cancelled
    } else if adopting && !ran && !killed {
        // The previous server stopped between recording the try and its supervisor's
        // start: nothing ran, and the status written below stops a late supervisor.
        EndReason::NeverStarted("no supervisor ran in its try folder".into())
    } else if !ran {
        EndReason::Lost("the try was never started: no supervisor ran in its folder".into())
    } else if killed {
        EndReason::Lost(format!("{lost_why}; its leftover processes were killed"))
    } else {
        EndReason::Lost(lost_why.to_owned())
    };
    let started_at = ctx
        .started_at
        .or_else(|| modified(&dir.join(TASK_PGID)))
        .or_else(|| modified(&dir.join(SUPERVISOR_PID)))
        .unwrap_or_else(Utc::now);
    let outcome = TryOutcome::without_usage(reason, started_at, Utc::now());
    if let Err(e) = layout::write_status(dir, &outcome) {
        tracing::warn!(try_dir = %dir.display(), error = %e, "cannot record the outcome");
    }
    let _ = layout::append_log_line(dir, &format!("[weir] {}", outcome.reason));
    drop(lock);
    outcome
}

/// Signals the supervisor of the try: the process the kernel says holds its lock, never
/// a pid read from the folder (see [`layout::lock_holder`]). Returns whether it was
/// found.
fn signal_supervisor(dir: &Path, signal: Signal) -> bool {
    let Some(pid) = layout::lock_holder(dir) else {
        return false;
    };
    let _ = kill(Pid::from_raw(pid), signal);
    true
}

fn modified(path: &Path) -> Option<DateTime<Utc>> {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(Into::into)
}
