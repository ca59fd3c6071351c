//! The supervisor's event loop: one thread, one `poll` over the task's two output pipes
//! and a pipe of received signals.
//!
//! One thread on purpose: when a task ends, its pipes close and SIGCHLD arrives at about
//! the same time, and a single thread wakes once to handle all of it. With a thread per
//! source, each hand-off costs a scheduling slice, which on a busy machine is where the
//! milliseconds go.

use std::fs::File;
use std::io::{self, PipeReader, Read, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::{SigSet, Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::backend::{EndReason, TryOutcome};
use crate::capture::{LineSplitter, LogSink, MAX_LINE};
use crate::layout;

/// How long, after the task ended, to wait for its pipes to drain and its leftovers to be
/// reaped, before recording the outcome anyway (a process that escaped the group may hold
/// the pipes open forever).
const DRAIN: Duration = Duration::from_secs(2);

/// How often to check for the task's end should the signal pipe ever fail.
const SIGNALS_LOST_POLL: Duration = Duration::from_millis(100);

/// The signals the supervisor reacts to, delivered as bytes on a pipe, so the event loop
/// can wait for them and for the task's output with a single `poll`.
///
/// Safe code cannot install a signal handler, so the signals are blocked (in this thread,
/// and so in every thread started later) and a helper thread takes them with `sigwait`.
/// Children do not inherit the mask: std resets it when it spawns a process. SIGCHLD is
/// blocked too, which (unlike ignoring it) keeps it pending for `sigwait`.
pub(super) struct SignalPipe {
    reader: PipeReader,
}

impl SignalPipe {
    pub(super) fn start() -> Result<Self, String> {
        let mut set = SigSet::empty();
        for signal in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGCHLD,
        ] {
            set.add(signal);
        }
        set.thread_block().map_err(|e| e.to_string())?;
        let (reader, mut writer) = io::pipe().map_err(|e| e.to_string())?;
        thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                while let Ok(signal) = set.wait() {
                    // Signal numbers fit a byte; the reader maps them back.
                    if writer.write_all(&[signal as i32 as u8]).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Self { reader })
    }

    /// The signals received since the last call; call it when the pipe is readable.
    /// `None`: the pipe is closed (the helper thread is gone).
    fn read(&mut self) -> Option<Vec<Signal>> {
        let mut buf = [0u8; 64];
        match self.reader.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => Some(
                buf[..n]
                    .iter()
                    .filter_map(|b| Signal::try_from(i32::from(*b)).ok())
                    .collect(),
            ),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Some(Vec::new()),
            Err(_) => None,
        }
    }

    /// Whether a stop signal is already waiting (checked once, before the task starts).
    pub(super) fn stop_pending(&mut self) -> bool {
        let mut fds = [PollFd::new(self.reader.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0);
        ready && self.read().unwrap_or_default().into_iter().any(is_stop)
    }
}

fn is_stop(signal: Signal) -> bool {
    matches!(signal, Signal::SIGTERM | Signal::SIGINT)
}

/// The running task, as the supervisor sees it.
pub(super) struct Task {
    /// Its pid, which is also its process group id.
    pub(super) pid: Pid,
    /// Its stdout and stderr, until each reaches end of file.
    pub(super) pipes: [Option<File>; 2],
}

/// What the loop knows and has decided so far.
struct State {
    pgid: Pid,
    kill_grace: Duration,
    timeout_at: Option<Instant>,
    /// Why we are stopping the task, once we are.
    stop: Option<EndReason>,
    /// When to escalate to SIGKILL.
    kill_at: Option<Instant>,
    /// The task's own exit status, once reaped.
    main: Option<WaitStatus>,
    /// When to stop waiting for the pipes and leftovers, once the task ended.
    drain_until: Option<Instant>,
    all_reaped: bool,
}

impl State {
    /// Starts stopping the task (politely first), unless it is already ending.
    fn begin_stop(&mut self, reason: EndReason, now: Instant) {
        if self.stop.is_none() && self.main.is_none() {
            self.stop = Some(reason);
            signal_group(self.pgid, Signal::SIGTERM);
            self.kill_at = Some(now + self.kill_grace);
        }
    }

    /// Acts on the clock; returns `false` when it is time to stop waiting altogether.
    fn on_clock(&mut self, now: Instant) -> bool {
        if self.timeout_at.is_some_and(|at| now >= at) {
            self.begin_stop(EndReason::TimedOut, now);
        }
        if self.kill_at.is_some_and(|at| now >= at) {
            signal_group(self.pgid, Signal::SIGKILL);
            self.kill_at = None;
        }
        self.drain_until.is_none_or(|at| now < at)
    }

    fn next_deadline(&self) -> Option<Instant> {
        let timeout = self
            .timeout_at
            .filter(|_| self.stop.is_none() && self.main.is_none());
        [timeout, self.kill_at, self.drain_until]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_signal(&mut self, signal: Signal) {
        if signal == Signal::SIGCHLD {
            let had_main = self.main.is_some();
            self.all_reaped = reap(self.pgid, &mut self.main);
            if !had_main && self.main.is_some() {
                if self.kill_at.is_none() {
                    // The task is done; what it left running in its group goes with it.
                    signal_group(self.pgid, Signal::SIGKILL);
                }
                // While a graceful stop runs, leftovers get the rest of the grace.
                self.drain_until = Some(self.kill_at.unwrap_or_else(Instant::now) + DRAIN);
            }
        } else if is_stop(signal) {
            self.begin_stop(EndReason::Cancelled, Instant::now());
        }
    }

    fn outcome(self, started_at: DateTime<Utc>) -> TryOutcome {
        let finished_at = Utc::now();
        let (exit_code, natural) = match self.main {
            Some(WaitStatus::Exited(_, code)) => (Some(code), EndReason::Exited),
            Some(WaitStatus::Signaled(_, sig, _)) => (None, EndReason::Signalled(sig as i32)),
            _ => (
                None,
                EndReason::Lost("the task's end was not observed".into()),
            ),
        };
        let (cpu_seconds, peak_rss_bytes) = children_usage();
        TryOutcome {
            exit_code,
            reason: self.stop.unwrap_or(natural),
            started_at,
            finished_at,
            cpu_seconds,
            peak_rss_bytes,
            xcom: Default::default(),
        }
    }
}

/// Waits for the task's end, copying its output into `log` and enforcing the timeout and
/// cancel; then measures the usage.
pub(super) fn watch(
    try_dir: &Path,
    log: &mut LogSink,
    mut task: Task,
    signals: &mut SignalPipe,
    timeout: Option<Duration>,
    kill_grace: Duration,
    started_at: DateTime<Utc>,
) -> TryOutcome {
    let mut state = State {
        pgid: task.pid,
        kill_grace,
        timeout_at: timeout.map(|t| Instant::now() + t),
        stop: None,
        kill_at: None,
        main: None,
        drain_until: None,
        all_reaped: false,
    };
    let mut splitters: [LineSplitter; 2] = Default::default();
    let mut signals_work = true;
    let mut buf = vec![0u8; MAX_LINE];

    loop {
        let pipes_open = task.pipes.iter().any(Option::is_some);
        if state.main.is_some() && !pipes_open && state.all_reaped {
            break;
        }
        let now = Instant::now();
        if !state.on_clock(now) {
            // Something escaped the task's group (e.g. with `setsid`) and still holds its
            // output or has not ended: find it by its mark, kill it, and stop waiting.
            if layout::kill_task_processes(try_dir) {
                log.remark("killed processes the task left outside its process group");
            }
            if pipes_open {
                log.remark("the task's output stayed open after it ended; stopped reading");
            }
            break;
        }
        let fallback = (!signals_work).then(|| now + SIGNALS_LOST_POLL);
        let deadline = state.next_deadline().into_iter().chain(fallback).min();

        let mut fds = Vec::with_capacity(3);
        if signals_work {
            fds.push(PollFd::new(signals.reader.as_fd(), PollFlags::POLLIN));
        }
        let pipes = task.pipes.iter().flatten();
        fds.extend(pipes.map(|p| PollFd::new(p.as_fd(), PollFlags::POLLIN)));
        match poll(&mut fds, poll_timeout(deadline, now)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                log.remark(&format!("cannot wait for the task: {e}"));
                break;
            }
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let (signals_ready, pipes_ready) = ready.split_at(usize::from(signals_work));

        let mut received = Vec::new();
        if signals_ready.first() == Some(&true) {
            match signals.read() {
                Some(list) => received = list,
                None => {
                    // Cannot happen short of a bug; degrade to checking periodically rather
                    // than hang or spin.
                    log.remark("lost the signal pipe; checking the task periodically");
                    signals_work = false;
                }
            }
        }
        if !signals_work {
            received.push(Signal::SIGCHLD);
        }
        for signal in received {
            state.on_signal(signal);
        }

        let open = task.pipes.iter_mut().zip(splitters.iter_mut());
        for ((pipe, splitter), ready) in open.filter(|(p, _)| p.is_some()).zip(pipes_ready) {
            if *ready && !pump(pipe, splitter, &mut buf, log) {
                *pipe = None;
            }
        }
    }
    state.outcome(started_at)
}

/// Reads what a ready pipe holds into the log; returns `false` at end of file.
fn pump(
    pipe: &mut Option<File>,
    splitter: &mut LineSplitter,
    buf: &mut [u8],
    log: &mut LogSink,
) -> bool {
    let Some(file) = pipe.as_mut() else {
        return false;
    };
    // A failing log write must not stop the reading, or the task would block on a full
    // pipe: the line is dropped.
    let mut emit = |line: &[u8]| {
        let _ = log.line(line);
    };
    match file.read(buf) {
        Ok(0) => {
            splitter.finish(&mut emit);
            false
        }
        Ok(n) => {
            splitter.feed(&buf[..n], &mut emit);
            true
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
        Err(_) => {
            splitter.finish(&mut emit);
            false
        }
    }
}

/// Reaps every child that has ended (the task and, as subreaper, its orphans), noting
/// the task's own status. Returns whether no child is left at all.
fn reap(task: Pid, main: &mut Option<WaitStatus>) -> bool {
    loop {
        match waitpid(Option::<Pid>::None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return false,
            Ok(status) if status.pid() == Some(task) => *main = Some(status),
            Ok(_) | Err(Errno::EINTR) => {}
            // ECHILD: nothing left to wait for.
            Err(_) => return true,
        }
    }
}

/// Signals the task's process group; a group that is already gone is fine.
fn signal_group(pgid: Pid, signal: Signal) {
    let _ = killpg(pgid, signal);
}

/// The `poll` timeout until `deadline`, rounded up so we never wake just before it.
fn poll_timeout(deadline: Option<Instant>, now: Instant) -> PollTimeout {
    let Some(at) = deadline else {
        return PollTimeout::NONE;
    };
    let ms = at.saturating_duration_since(now).as_micros().div_ceil(1000);
    i32::try_from(ms)
        .ok()
        .and_then(|ms| PollTimeout::try_from(ms).ok())
        .unwrap_or(PollTimeout::MAX)
}

/// CPU seconds and peak RSS (bytes) of all reaped descendants.
fn children_usage() -> (f64, u64) {
    let Ok(usage) = getrusage(UsageWho::RUSAGE_CHILDREN) else {
        return (0.0, 0);
    };
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let cpu = secs(usage.user_time()) + secs(usage.system_time());
    // ru_maxrss is in KiB on Linux and the BSDs, in bytes on macOS.
    let unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
    let rss = u64::try_from(usage.max_rss()).unwrap_or(0) * unit;
    (cpu, rss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_timeouts_round_up() {
        let now = Instant::now();
        assert_eq!(poll_timeout(None, now), PollTimeout::NONE);
        let in_a_bit = now + Duration::from_micros(1500);
        assert_eq!(poll_timeout(Some(in_a_bit), now).as_millis(), Some(2));
        assert_eq!(poll_timeout(Some(now), now), PollTimeout::ZERO);
        let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        assert_eq!(poll_timeout(Some(past), now), PollTimeout::ZERO);
        let far = now + Duration::from_secs(u64::from(u32::MAX));
        assert_eq!(poll_timeout(Some(far), now), PollTimeout::MAX);
    }
}
