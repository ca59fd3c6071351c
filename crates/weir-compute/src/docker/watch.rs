//! Follows one container from start (or adoption) to its end, then settles the try:
//! collects the output, the exit, the usage and the XCom, records `status.json`, and
//! removes the container.
//!
//! The exit is awaited event-driven (`POST /containers/{id}/wait`), beside the cancel
//! handle and the timeout. While the daemon is unreachable the watcher keeps trying (every
//! [`RETRY`]): the container may well be running on, and giving up would let a retry run
//! beside it. A stop (cancel or timeout) is recorded in the try folder *before* it is sent,
//! so a try stopped across a restart of Weir still ends as `Cancelled` / `TimedOut`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as ApiError;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    InspectContainerOptions, RemoveContainerOptions, StopContainerOptions, WaitContainerOptions,
};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::client::{is_not_found, is_unreachable, message};
use super::create::grace_secs;
use super::logs::{self, Resume};
use super::usage::Sampler;
use super::xcom::{self, Collected, XcomTransfer};
use crate::backend::{CancelHandle, EndReason, TryOutcome};
use crate::capture::Masker;
use crate::layout::{self, LOG};
use crate::supervisor::describe;

/// Pause between attempts while the daemon is unreachable.
pub(crate) const RETRY: Duration = Duration::from_secs(1);
/// How long the output may keep coming after the container stopped.
const LOG_DRAIN: Duration = Duration::from_secs(10);
/// Records a requested stop (`cancelled` or `timed_out`) in the try folder.
pub(crate) const STOP_REASON: &str = "stop_reason";

/// What the watcher of one container knows.
pub(crate) struct Watch {
    pub docker: Docker,
    pub name: String,
    pub try_dir: PathBuf,
    pub masker: Masker,
    /// When the container started, by the daemon's clock when known.
    pub started_at: DateTime<Utc>,
    pub timeout: Option<Duration>,
    pub kill_grace: Duration,
    /// Where the log copy starts.
    pub resume: Resume,
    /// How the XCom file comes out.
    pub xcom: XcomTransfer,
    /// The log's size limit, if any.
    pub log_max_bytes: Option<u64>,
}

enum Waited {
    Exited,
    Gone,
    Unreachable(String),
}

/// Waits for the container to stop, whatever its exit code.
async fn wait_exit(docker: &Docker, name: &str) -> Waited {
    let options = WaitContainerOptions {
        condition: "not-running".to_owned(),
    };
    match docker.wait_container(name, Some(options)).next().await {
        // bollard reports a non-zero exit as an error; it is an exit all the same.
        Some(Ok(_) | Err(ApiError::DockerContainerWaitError { .. })) => Waited::Exited,
        Some(Err(e)) if is_not_found(&e) => Waited::Gone,
        Some(Err(e)) => Waited::Unreachable(message(&e)),
        None => Waited::Unreachable("the daemon closed the wait without an answer".into()),
    }
}

/// Follows the container to its end and settles the try. Never fails.
pub(crate) async fn watch(w: Watch, cancel: CancelHandle) -> TryOutcome {
    let log_path = w.try_dir.join(LOG);
    let mut output = tokio::spawn(logs::follow(
        w.docker.clone(),
        w.name.clone(),
        log_path,
        w.masker.clone(),
        w.resume.clone(),
        w.log_max_bytes,
    ));
    let sampler = Sampler::start(w.docker.clone(), w.name.clone());
    let deadline = w.timeout.map(|timeout| {
        let elapsed = (Utc::now() - w.started_at).to_std().unwrap_or_default();
        Instant::now() + timeout.saturating_sub(elapsed)
    });
    let mut stop = read_stop_reason(&w.try_dir);
    // A stop asked for before a restart may not have gone through: ask again.
    let mut stopper = stop.as_ref().map(|_| request_stop(&w, None));
    let mut complained = false;
    loop {
        let waited = tokio::select! {
            waited = wait_exit(&w.docker, &w.name) => waited,
            () = cancel.cancelled(), if stop.is_none() => {
                stopper = Some(request_stop(&w, Some(EndReason::Cancelled)));
                stop = Some(EndReason::Cancelled);
                continue;
            }
            () = sleep_until(deadline), if stop.is_none() => {
                stopper = Some(request_stop(&w, Some(EndReason::TimedOut)));
                stop = Some(EndReason::TimedOut);
                continue;
            }
        };
        match waited {
            Waited::Exited => break,
            Waited::Gone => {
                output.abort();
                let why = "its container was removed outside Weir before it was settled";
                return settle_lost(&w.try_dir, stop, why, w.started_at);
            }
            Waited::Unreachable(why) => {
                if !complained {
                    tracing::warn!(container = %w.name, error = %why,
                        "lost the Docker daemon; waiting for it to come back");
                    complained = true;
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
    if let Some(stopper) = stopper {
        stopper.abort();
    }

    let mut remarks = Vec::new();
    match tokio::time::timeout(LOG_DRAIN, &mut output).await {
        Ok(Ok(stopped)) => remarks.extend(stopped),
        Ok(Err(e)) => remarks.push(format!("the log copy stopped: {e}")),
        Err(_) => {
            output.abort();
            remarks
                .push("the container's output stayed open after it ended; stopped reading".into());
        }
    }
    let usage = sampler.finish();
    let Some(inspected) = inspect_until_answered(&w.docker, &w.name).await else {
        let why = "its container was removed outside Weir before it was settled";
        return settle_lost(&w.try_dir, stop, why, w.started_at);
    };
    let state = inspected.state.unwrap_or_default();
    let exit_code = state.exit_code.and_then(|c| i32::try_from(c).ok());
    let started_at = parse_time(state.started_at.as_deref()).unwrap_or(w.started_at);
    let finished_at = parse_time(state.finished_at.as_deref())
        .filter(|t| *t >= started_at)
        .unwrap_or_else(Utc::now);
    let oom = state.oom_killed == Some(true)
        || (stop.is_none() && exit_code == Some(SIGKILLED) && late_oom(&w.docker, &w.name).await);
    let reason = match stop {
        Some(reason) => reason,
        None if oom && exit_code != Some(0) => EndReason::OutOfMemory,
        None => EndReason::Exited,
    };
    if oom && exit_code == Some(0) {
        remarks
            .push("a process of the task was killed by the OOM killer; the task exited 0".into());
    }
    let collected = match w.xcom {
        XcomTransfer::BindMount => {
            xcom::collect_local(&w.try_dir).map_err(|e| format!("cannot copy the XCom file: {e}"))
        }
        XcomTransfer::Archive => xcom::collect_archive(&w.docker, &w.name, &w.try_dir)
            .await
            .map_err(|e| e.to_string()),
    };
    match collected {
        Ok(Collected::Nothing | Collected::Copied(_)) => {}
        Ok(Collected::NotAFile) => {
            let path = xcom::XCOM_IN_CONTAINER;
            remarks.push(format!("{path} is not a regular file; no XCom"));
        }
        Err(e) => remarks.push(e),
    }
    let outcome = TryOutcome {
        exit_code,
        reason,
        started_at,
        finished_at,
        cpu_seconds: usage.cpu_seconds,
        peak_rss_bytes: usage.peak_memory_bytes,
        xcom: Default::default(),
    };
    record(&w.try_dir, &outcome, &remarks);
    remove(&w.docker, &w.name).await;
    outcome
}

/// Writes the closing remarks and `status.json`.
fn record(try_dir: &Path, outcome: &TryOutcome, remarks: &[String]) {
    for remark in remarks {
        let _ = layout::append_log_line(try_dir, &format!("[weir] {remark}"));
    }
    let _ = layout::append_log_line(try_dir, &format!("[weir] {}", describe(outcome)));
    if let Err(e) = layout::write_status(try_dir, outcome) {
        tracing::warn!(try_dir = %try_dir.display(), error = %e, "cannot record the outcome");
    }
}

/// Settles a try whose container is gone without a result.
pub(crate) fn settle_lost(
    try_dir: &Path,
    stop: Option<EndReason>,
    why: &str,
    started_at: DateTime<Utc>,
) -> TryOutcome {
    // Another watcher of the same try (two adoptions) may have settled it already.
    if let Ok(Some(recorded)) = layout::read_status(try_dir) {
        return recorded;
    }
    let reason = stop.unwrap_or_else(|| EndReason::Lost(why.to_owned()));
    let outcome = TryOutcome::without_usage(reason, started_at, Utc::now());
    record(try_dir, &outcome, &[]);
    outcome
}

/// Removes a finished container (and its anonymous volumes); a failure only leaves a
/// stopped container behind, which the next adoption of the try removes.
pub(crate) async fn remove(docker: &Docker, name: &str) {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(name, Some(options)).await {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => tracing::warn!(container = %name, error = %e, "cannot remove the container"),
    }
}

/// Exit code of a container whose main process was SIGKILLed.
const SIGKILLED: i32 = 137;
/// How long a SIGKILLed container's OOM flag may lag behind its exit (seconds under a
/// loaded daemon: 3 s, then 10 s, proved too short on a busy 2-core machine with
/// cgroup v1, where the kernel's OOM notice reaches the daemon through containerd's
/// event loop). Paid only by a container SIGKILLed without Weir stopping it.
const OOM_FLAG_LAG: Duration = Duration::from_secs(30);

/// Whether the daemon marks the container as OOM-killed within [`OOM_FLAG_LAG`]. The
/// daemon learns of the exit and of the OOM kill from two events of the runtime, in
/// either order, so right after the exit the flag may not be set yet. Only asked for a
/// container killed by SIGKILL that Weir did not stop.
async fn late_oom(docker: &Docker, name: &str) -> bool {
    let deadline = Instant::now() + OOM_FLAG_LAG;
    while Instant::now() < deadline {
        // The daemon's event log is the source of the flag; it may hold the `oom` event
        // before the flag is set (or when, under load, the flag never is).
        if oom_event_seen(docker, name).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let inspected = docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await;
        match inspected.map(|c| c.state.and_then(|s| s.oom_killed)) {
            Ok(Some(true)) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Whether the daemon logged an `oom` event for the container in the last hour.
async fn oom_event_seen(docker: &Docker, name: &str) -> bool {
    use bollard::query_parameters::EventsOptionsBuilder;
    use futures_util::StreamExt;
    let now = Utc::now().timestamp();
    let filters = std::collections::HashMap::from([
        ("container", vec![name.to_string()]),
        ("event", vec!["oom".to_string()]),
    ]);
    let options = EventsOptionsBuilder::new()
        .since(&(now - 3600).to_string())
        .until(&(now + 1).to_string())
        .filters(&filters)
        .build();
    let mut events = docker.events(Some(options));
    // `until` ends the stream; the timeout guards a daemon that does not honour it.
    matches!(
        tokio::time::timeout(Duration::from_millis(500), events.next()).await,
        Ok(Some(Ok(_)))
    )
}

/// Inspects the container, waiting out an unreachable daemon; `None` when it is gone.
async fn inspect_until_answered(docker: &Docker, name: &str) -> Option<ContainerInspectResponse> {
    loop {
        match docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(inspected) => return Some(inspected),
            Err(e) if is_not_found(&e) => return None,
            Err(e) => {
                tracing::debug!(container = %name, error = %e, "cannot inspect; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Records the stop (when new) and sends it: SIGTERM, SIGKILL after the grace. Retries
/// while the daemon is unreachable.
fn request_stop(w: &Watch, reason: Option<EndReason>) -> JoinHandle<()> {
    if let Some(reason) = &reason {
        let word = if *reason == EndReason::TimedOut {
            "timed_out"
        } else {
            "cancelled"
        };
        if let Err(e) = layout::write_atomic(&w.try_dir, STOP_REASON, word.as_bytes()) {
            tracing::warn!(try_dir = %w.try_dir.display(), error = %e, "cannot record the stop");
        }
        let _ = layout::append_log_line(
            &w.try_dir,
            &format!("[weir] stopping the container: {reason}"),
        );
    }
    let docker = w.docker.clone();
    let name = w.name.clone();
    let t = i32::try_from(grace_secs(w.kill_grace)).unwrap_or(i32::MAX);
    tokio::spawn(async move {
        loop {
            let options = StopContainerOptions {
                t: Some(t),
                signal: None,
            };
            match docker.stop_container(&name, Some(options)).await {
                Ok(()) => return,
                Err(e) if is_unreachable(&e) => tokio::time::sleep(RETRY).await,
                Err(e) if is_not_found(&e) => return,
                Err(e) => {
                    tracing::warn!(container = %name, error = %e, "cannot stop the container");
                    return;
                }
            }
        }
    })
}

/// The stop recorded in the try folder, if any.
pub(crate) fn read_stop_reason(try_dir: &Path) -> Option<EndReason> {
    match fs::read_to_string(try_dir.join(STOP_REASON)).ok()?.trim() {
        "timed_out" => Some(EndReason::TimedOut),
        "cancelled" => Some(EndReason::Cancelled),
        _ => None,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Parses the daemon's times; its "never" (`0001-01-01T00:00:00Z`) is `None`.
pub(crate) fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(text?)
        .ok()?
        .with_timezone(&Utc);
    (at.timestamp() > 0).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_times_parse_and_never_is_none() {
        let at = parse_time(Some("2026-11-27T12:00:00.123456789Z")).expect("time");
        assert_eq!(layout::stamp(at), "2026-11-27T12:00:00.123Z");
        assert_eq!(parse_time(Some("0001-01-01T00:00:00Z")), None);
        assert_eq!(parse_time(Some("nonsense")), None);
        assert_eq!(parse_time(None), None);
    }

    #[test]
    fn stop_reasons_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_stop_reason(dir.path()), None);
        fs::write(dir.path().join(STOP_REASON), "timed_out").expect("write");
        assert_eq!(read_stop_reason(dir.path()), Some(EndReason::TimedOut));
        fs::write(dir.path().join(STOP_REASON), "cancelled\n").expect("write");
        assert_eq!(read_stop_reason(dir.path()), Some(EndReason::Cancelled));
    }
}
