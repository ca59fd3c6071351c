//! Watching one try's job until it ends: status changes from the environment's poller
//! (logged in the try's log), the log copied from CloudWatch while it runs, cancel and
//! timeout turned into `CancelJob` (before the job is placed) or `TerminateJob` (once it
//! starts), and at the end the outcome recorded as `status.json`.
//!
//! The timeout counts from the job's `startedAt`, as Batch's `attemptDurationSeconds`
//! does; Batch enforces it too (at 60 s at least) while Weir is down. After a stop is
//! sent, `wait` resolves once Batch reports the end, or after `stop_wait` at the latest.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::client::Clients;
use super::logs::LogCopy;
use super::poller::{Poller, Seen};
use super::status::{JobView, Status, StopReason, end_of};
use crate::backend::{CancelHandle, EndReason, TryOutcome};
use crate::layout;

/// Holds `cancelled` or `timed_out`, written before Weir sends the stop.
pub const STOP_REASON: &str = "stop_reason";

/// How long the watcher waits for things.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Between two copies of the log while the job runs.
    pub log_interval: Duration,
    /// After a stop was sent, the longest wait for Batch to report the end.
    pub stop_wait: Duration,
    /// After the end, the longest wait for the log stream to show up in CloudWatch.
    pub log_settle: Duration,
}

/// One try's watch.
pub struct TryWatch {
    pub clients: Arc<Clients>,
    pub poller: Poller,
    pub job_id: String,
    pub try_dir: PathBuf,
    pub logs: LogCopy,
    pub timeout: Option<Duration>,
    pub timing: Timing,
    /// When the try was submitted (its start, until Batch says when it started).
    pub submitted_at: DateTime<Utc>,
}

/// How the watch loop ended.
enum Ending {
    Ended(JobView),
    Gone,
    StopUnanswered,
    PollerStopped,
}

/// Watches the job to its end; records and returns the outcome. Never fails.
pub async fn watch(mut w: TryWatch, cancel: CancelHandle) -> TryOutcome {
    let mut rx = w.poller.watch(&w.job_id);
    // What the poller already knows counts as news.
    rx.mark_changed();
    let mut last: Option<JobView> = None;
    let mut stop = read_stop_reason(&w.try_dir);
    let mut terminated = false;
    let mut cancel_sent = false;
    let mut stop_deadline: Option<Instant> = stop.map(|_| Instant::now() + w.timing.stop_wait);
    let mut log_tick = tokio::time::interval(w.timing.log_interval);
    log_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let ending = loop {
        let timeout_at = match (w.timeout, last.as_ref().and_then(|j| j.started_at)) {
            (Some(timeout), Some(started_ms)) if stop.is_none() => {
                let started =
                    DateTime::<Utc>::from_timestamp_millis(started_ms).unwrap_or(w.submitted_at);
                let left = (started + chrono::TimeDelta::from_std(timeout).unwrap_or_default())
                    - Utc::now();
                Some(Instant::now() + left.to_std().unwrap_or_default())
            }
            _ => None,
        };
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    break Ending::PollerStopped;
                }
                let seen = rx.borrow_and_update().clone();
                match seen {
                    Seen::Unknown => {}
                    Seen::Gone => break Ending::Gone,
                    Seen::Job(view) => {
                        if last.as_ref().map(|j| j.status) != Some(view.status) {
                            remark(&w.try_dir, &view.describe());
                        }
                        w.logs.set_stream(view.log_stream());
                        if view.status.is_final() {
                            break Ending::Ended(view);
                        }
                        // A cancel sent while the job waited for a place does not stop a
                        // job that has started since: terminate it.
                        if stop.is_some() && !terminated && !view.status.is_before_start() {
                            terminated = true;
                            send_stop(&w.clients, &w.try_dir, &w.job_id, stop, Some(view.status)).await;
                        } else if stop.is_some() && !cancel_sent && !terminated {
                            cancel_sent = true;
                            send_stop(&w.clients, &w.try_dir, &w.job_id, stop, Some(view.status)).await;
                        }
                        last = Some(view);
                    }
                }
            }
            _ = cancel.cancelled(), if stop.is_none() => {
                stop = Some(StopReason::Cancelled);
                (cancel_sent, terminated) = begin_stop(&w, StopReason::Cancelled, last.as_ref()).await;
                stop_deadline = Some(Instant::now() + w.timing.stop_wait);
            }
            _ = sleep_until(timeout_at), if timeout_at.is_some() => {
                stop = Some(StopReason::TimedOut);
                remark(&w.try_dir, "the try's timeout passed; stopping the job");
                (cancel_sent, terminated) = begin_stop(&w, StopReason::TimedOut, last.as_ref()).await;
                stop_deadline = Some(Instant::now() + w.timing.stop_wait);
            }
            _ = sleep_until(stop_deadline), if stop_deadline.is_some() => {
                break Ending::StopUnanswered;
            }
            _ = log_tick.tick() => {
                if w.logs.has_stream()
                    && let Err(e) = w.logs.copy(&w.clients.logs).await
                {
                    tracing::debug!(job_id = %w.job_id, error = %e, "cannot copy the job's log yet");
                }
            }
        }
    };
    w.poller.forget(&w.job_id);
    drain_logs(&mut w).await;

    let started_at = |j: &JobView| {
        j.started_at
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .unwrap_or(w.submitted_at)
    };
    let outcome = match ending {
        Ending::Ended(job) => {
            let (reason, code) = end_of(&job, stop).unwrap_or((EndReason::Exited, job.exit_code()));
            let finished = job
                .stopped_at
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .unwrap_or_else(Utc::now);
            let mut outcome = TryOutcome::without_usage(reason, started_at(&job), finished);
            outcome.exit_code = code;
            outcome
        }
        Ending::Gone => {
            let reason = match stop {
                Some(stop) => stop.reason(),
                None => EndReason::Lost(format!(
                    "AWS Batch no longer reports job {} and no outcome was recorded",
                    w.job_id
                )),
            };
            let start = last.as_ref().map_or(w.submitted_at, started_at);
            TryOutcome::without_usage(reason, start, Utc::now())
        }
        Ending::StopUnanswered => {
            remark(
                &w.try_dir,
                &format!(
                    "AWS Batch had not reported the end of job {} {} s after the stop; the try ends without its exit code",
                    w.job_id,
                    w.timing.stop_wait.as_secs()
                ),
            );
            let reason = stop.map_or(EndReason::Cancelled, StopReason::reason);
            let start = last.as_ref().map_or(w.submitted_at, started_at);
            TryOutcome::without_usage(reason, start, Utc::now())
        }
        Ending::PollerStopped => TryOutcome::without_usage(
            EndReason::Lost("the AWS Batch backend stopped watching the job".into()),
            w.submitted_at,
            Utc::now(),
        ),
    };
    settle(&w.try_dir, &outcome);
    outcome
}

/// Records the stop reason, then sends the stop that fits the job's status.
async fn begin_stop(w: &TryWatch, stop: StopReason, last: Option<&JobView>) -> (bool, bool) {
    if let Err(e) = layout::write_atomic(&w.try_dir, STOP_REASON, stop.as_str().as_bytes()) {
        tracing::warn!(try_dir = %w.try_dir.display(), error = %e, "cannot record the stop reason");
    }
    let status = last.map(|j| j.status);
    send_stop(&w.clients, &w.try_dir, &w.job_id, Some(stop), status).await;
    let cancelled = status.is_some_and(Status::is_before_start);
    (cancelled, !cancelled)
}

/// `CancelJob` for a job not placed yet, `TerminateJob` otherwise (and when the status
/// is not known). A failure is logged: the stop deadline still ends the wait.
async fn send_stop(
    clients: &Clients,
    try_dir: &Path,
    job_id: &str,
    stop: Option<StopReason>,
    status: Option<Status>,
) {
    let reason = format!("weir: {}", stop.map_or("cancelled", StopReason::as_str));
    let before_start = status.is_some_and(Status::is_before_start);
    let (call, sent) = if before_start {
        (
            "CancelJob",
            clients
                .batch
                .cancel_job()
                .job_id(job_id)
                .reason(&reason)
                .send()
                .await
                .map(drop)
                .map_err(|e| super::client::Failure::of(&e)),
        )
    } else {
        (
            "TerminateJob",
            clients
                .batch
                .terminate_job()
                .job_id(job_id)
                .reason(&reason)
                .send()
                .await
                .map(drop)
                .map_err(|e| super::client::Failure::of(&e)),
        )
    };
    match sent {
        Ok(()) => remark(try_dir, &format!("sent {call} for AWS Batch job {job_id}")),
        Err(e) => remark(
            try_dir,
            &format!("{call} for AWS Batch job {job_id} failed: {e}"),
        ),
    }
}

/// After the end: copies what is left of the log, waiting up to `log_settle` for a
/// stream CloudWatch does not show yet.
async fn drain_logs(w: &mut TryWatch) {
    if !w.logs.has_stream() {
        w.logs.finish();
        return;
    }
    let deadline = Instant::now() + w.timing.log_settle;
    loop {
        match w.logs.copy(&w.clients.logs).await {
            Ok(copied) if copied.stream_found && copied.events == 0 => break,
            Ok(copied) if copied.stream_found => continue,
            Ok(_) | Err(_) if Instant::now() >= deadline => {
                remark(
                    &w.try_dir,
                    "the job's log stream could not be read from CloudWatch Logs",
                );
                break;
            }
            Ok(_) | Err(_) => {
                tokio::time::sleep(w.timing.log_interval.min(Duration::from_secs(1))).await;
            }
        }
    }
    w.logs.finish();
}

/// The stop Weir recorded before sending it, if any.
pub fn read_stop_reason(dir: &Path) -> Option<StopReason> {
    std::fs::read_to_string(dir.join(STOP_REASON))
        .ok()
        .and_then(|t| StopReason::parse(&t))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One of Weir's own lines in the try's log.
pub fn remark(dir: &Path, text: &str) {
    let _ = layout::append_log_line(dir, &format!("[weir] {text}"));
}

/// Records the outcome in `status.json` (and a last line in the log).
pub fn settle(dir: &Path, outcome: &TryOutcome) {
    let code = outcome
        .exit_code
        .map(|c| format!(", exit code {c}"))
        .unwrap_or_default();
    remark(dir, &format!("{}{code}", outcome.reason));
    if let Err(e) = layout::write_status(dir, outcome) {
        tracing::warn!(try_dir = %dir.display(), error = %e, "cannot record the outcome");
    }
}
