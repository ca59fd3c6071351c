//! The per-try supervisor: a tiny process between the server and one task, so the task's
//! result survives a crash of the server.
//!
//! The `weir` binary runs it as the hidden subcommand
//! `weir supervise --try-dir DIR [--timeout-ms N] [--grace-ms N] [--mask-env NAME]...
//! [--log-max-bytes N] -- CMD...`.
//! It
//! 1. leaves the server's session (`setsid`), so the server's death, its terminal's
//!    SIGHUP or a Ctrl-C aimed at the server never reach the task;
//! 2. takes the try folder's lock for its whole life (see [`crate::layout`]) and refuses to
//!    run when `status.json` already exists (the try was settled, e.g. declared lost);
//! 3. starts the command in a process group of its own, in `try_dir/work` (inside the
//!    bubblewrap sandbox when asked, see [`crate::sandbox`]; a sandbox that cannot start
//!    fails the try, it never runs unsandboxed), and copies its stdout and stderr into
//!    `try_dir/log`;
//! 4. stops the whole group (SIGTERM, then SIGKILL after the grace) when the timeout
//!    passes or when it receives SIGTERM/SIGINT itself (a cancel);
//! 5. after the command ends, kills what it left behind in its group, measures the usage
//!    of all its processes (`getrusage(RUSAGE_CHILDREN)`; on Linux the supervisor is a
//!    child subreaper, so orphaned grandchildren are counted too) and writes
//!    `status.json` atomically; then it exits.
//!
//! It is synchronous std code around one `poll` loop (the `watch` module); no async
//! runtime: the supervisor must start in a millisecond and stay small. It must be started
//! as its own process, and [`main`] has to run before the process starts any other thread,
//! because it blocks signals in the calling thread and relies on later threads inheriting
//! that.
//!
//! Exit codes: 0 the outcome was recorded, 1 it could not be, 2 bad usage, 3 the try was
//! already settled and nothing was run.

mod args;
mod watch;

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chrono::Utc;
use nix::unistd::{Pid, setsid};

pub use args::{DEFAULT_KILL_GRACE, SupervisorArgs};

use crate::backend::{EndReason, TryOutcome};
use crate::capture::{LogSink, Masker};
use crate::error::{ComputeError, Result};
use crate::layout::{self, LOCK, LOG, SUPERVISOR_PID, TASK_PGID, TRY_DIR_ENV, WORK};
use watch::{SignalPipe, Task};

/// Entry point for `weir supervise ARGS...`: parses `args` (what follows `supervise`),
/// supervises, and returns the process exit code. `environment` is the supervisor's
/// own (`std::env::vars_os()`, as the backend set it up): the task's variables and
/// the values to mask. Call it first thing in `main`, before any thread or async
/// runtime starts, and exit with its result.
pub fn main<I, S>(args: I, environment: Vec<(OsString, OsString)>) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    match SupervisorArgs::parse(args) {
        Ok(args) => run(args, environment),
        Err(e) => {
            eprintln!("weir supervise: {e}");
            2
        }
    }
}

/// Supervises one try; returns the process exit code (see the module docs).
pub fn run(args: SupervisorArgs, environment: Vec<(OsString, OsString)>) -> i32 {
    // Own session first: from here on, nothing aimed at the server's group reaches us.
    // It fails only if we already lead a group, which is harmless.
    let _ = setsid();
    let signals = match SignalPipe::start() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("weir supervise: cannot handle signals: {e}");
            return 1;
        }
    };
    #[cfg(target_os = "linux")]
    {
        // Adopt orphaned grandchildren, so we can reap them and count their usage.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    match Supervisor::start(&args, &environment) {
        Ok(Some(sup)) => sup.supervise(&args, signals, environment),
        Ok(None) => 3,
        Err(e) => {
            eprintln!("weir supervise: {e}");
            1
        }
    }
}

/// A supervisor that holds the lock and has set up the try folder.
struct Supervisor {
    try_dir: PathBuf,
    log: LogSink,
    /// Keeps the supervisor lock until the process exits.
    _lock: fs::File,
}

impl Supervisor {
    /// Takes the lock and prepares the folder. `Ok(None)`: the try is already settled.
    fn start(args: &SupervisorArgs, environment: &[(OsString, OsString)]) -> Result<Option<Self>> {
        let dir = &args.try_dir;
        layout::create_private_dir(dir).map_err(|e| ComputeError::io("create", dir, e))?;
        // Canonical, so the WEIR_TRY_DIR marker matches what the backend looks for.
        let try_dir = fs::canonicalize(dir).map_err(|e| ComputeError::io("resolve", dir, e))?;
        let lock_path = try_dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(layout::FILE_MODE)
            .open(&lock_path)
            .map_err(|e| ComputeError::io("open", &lock_path, e))?;
        // Blocking: if the backend holds it for a moment (deciding the try is lost), we
        // wait and then see its verdict in status.json below.
        lock.lock()
            .map_err(|e| ComputeError::io("lock", &lock_path, e))?;
        if try_dir.join(layout::STATUS).exists() {
            return Ok(None);
        }
        layout::write_atomic(
            &try_dir,
            SUPERVISOR_PID,
            pid_line(std::process::id()).as_bytes(),
        )
        .map_err(|e| ComputeError::io("write", try_dir.join(SUPERVISOR_PID), e))?;
        let log_path = try_dir.join(LOG);
        let log_file =
            layout::open_append(&log_path).map_err(|e| ComputeError::io("open", &log_path, e))?;
        let secrets: Vec<String> = args
            .mask_env
            .iter()
            .filter_map(|name| {
                environment
                    .iter()
                    .find(|(n, _)| n.to_str() == Some(name.as_str()))
            })
            .map(|(_, value)| value.to_string_lossy().into_owned())
            .collect();
        let mut log = LogSink::new(log_file, Masker::new(secrets));
        if let Some(max) = args.log_max_bytes {
            log = log.with_limit(max);
        }
        Ok(Some(Self {
            try_dir,
            log,
            _lock: lock,
        }))
    }

    /// Runs the task to its end and records the outcome; returns the exit code.
    fn supervise(
        mut self,
        args: &SupervisorArgs,
        mut signals: SignalPipe,
        environment: Vec<(OsString, OsString)>,
    ) -> i32 {
        let started_at = Utc::now();
        let outcome = if signals.stop_pending() {
            // Cancelled before the task even started: do not start it.
            TryOutcome::without_usage(EndReason::Cancelled, started_at, Utc::now())
        } else {
            match self.spawn(args, environment) {
                Ok(task) => watch::watch(
                    &self.try_dir,
                    &mut self.log,
                    task,
                    &mut signals,
                    args.timeout,
                    args.kill_grace,
                    started_at,
                ),
                Err(why) => {
                    TryOutcome::without_usage(EndReason::LaunchFailed(why), started_at, Utc::now())
                }
            }
        };
        self.log.finish();
        self.remark(&describe(&outcome));
        match layout::write_status(&self.try_dir, &outcome) {
            Ok(()) => 0,
            Err(e) => {
                self.remark(&format!("cannot record the outcome: {e}"));
                1
            }
        }
    }

    /// Starts the task in a process group of its own (in its sandbox, if it has one).
    fn spawn(
        &mut self,
        args: &SupervisorArgs,
        environment: Vec<(OsString, OsString)>,
    ) -> Result<Task, String> {
        let mut cmd = match &args.sandbox {
            Some(sandbox) => {
                crate::sandbox::command(sandbox, &self.try_dir, &args.command, environment)?
            }
            None => {
                let work = self.try_dir.join(WORK);
                fs::create_dir_all(&work)
                    .map_err(|e| format!("cannot create {}: {e}", work.display()))?;
                let mut cmd = Command::new(&args.command[0]);
                cmd.args(&args.command[1..]).current_dir(&work);
                cmd
            }
        };
        let shown = cmd.get_program().to_string_lossy().into_owned();
        cmd.env(TRY_DIR_ENV, &self.try_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        let pid = Pid::from_raw(child.id() as i32);
        if let Err(e) =
            layout::write_atomic(&self.try_dir, TASK_PGID, pid_line(child.id()).as_bytes())
        {
            self.remark(&format!("cannot write {TASK_PGID}: {e}"));
        }
        // `child` is dropped without waiting: the event loop reaps every child itself.
        let stdout = child
            .stdout
            .take()
            .map(|p| fs::File::from(OwnedFd::from(p)));
        let stderr = child
            .stderr
            .take()
            .map(|p| fs::File::from(OwnedFd::from(p)));
        Ok(Task {
            pid,
            pipes: [stdout, stderr],
        })
    }

    fn remark(&mut self, text: &str) {
        self.log.remark(text);
    }
}

fn pid_line(pid: u32) -> String {
    format!("{pid}\n")
}

/// The closing line of the log.
pub(crate) fn describe(outcome: &TryOutcome) -> String {
    let took = outcome.wall_seconds();
    match (&outcome.reason, outcome.exit_code) {
        (EndReason::Exited, Some(code)) => format!("exited with code {code} after {took:.3}s"),
        (reason, Some(code)) => format!("{reason} (exit code {code}) after {took:.3}s"),
        (reason, None) => format!("{reason} after {took:.3}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_described() {
        let now = Utc::now();
        let mut outcome = TryOutcome::without_usage(EndReason::Exited, now, now);
        outcome.exit_code = Some(0);
        assert_eq!(describe(&outcome), "exited with code 0 after 0.000s");
        outcome.reason = EndReason::TimedOut;
        outcome.exit_code = None;
        assert_eq!(describe(&outcome), "timed out after 0.000s");
        outcome.exit_code = Some(143);
        assert_eq!(describe(&outcome), "timed out (exit code 143) after 0.000s");
    }
}
