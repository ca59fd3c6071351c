//! Follows one try's Job and pod from submit (or adoption) to the end, then settles the
//! try: the log copied, the XCom (the container's termination message) kept, the outcome
//! recorded in `status.json`, the try's Secret deleted.
//!
//! Event-driven: each round reads the Job and its pods, asks [`observe`] where the try
//! stands, and then watches both (`?watch=true` from the resource versions just read)
//! until either changes, the try is cancelled, or [`Watch::recheck`] passes (the image
//! pull grace is a matter of time, not of events). While the API server is away the
//! watcher keeps trying: the Job runs on in the cluster, and giving up would let a retry
//! run beside it.
//!
//! A cancel is recorded in the try folder (`stop_reason`) *before* the Job is deleted
//! (`propagationPolicy: Foreground`, so its pod is stopped first: SIGTERM, SIGKILL after
//! the pod's grace), so a try cancelled across a restart of Weir still ends `Cancelled`.
//! The try then ends when the Job is gone or its pod ended, and at the latest the kill
//! grace plus [`STOP_SLACK`] after the delete was accepted.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, future};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, WatchParams};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::client::{is_not_found, message};
use super::logs;
use super::manifest::LABEL_JOB;
use super::state::{Ended, Observed, newest_pod, observe};
use crate::backend::{CancelHandle, EndReason, TryOutcome};
use crate::capture::Masker;
use crate::layout::{self, LOG, XCOM};
use crate::supervisor::describe;

/// Pause between attempts while the API server is away.
const RETRY: Duration = Duration::from_secs(1);
/// How long the output may keep coming after the container stopped.
const LOG_DRAIN: Duration = Duration::from_secs(10);
/// How long past the kill grace a cancelled try waits for its Job to go.
pub(crate) const STOP_SLACK: Duration = Duration::from_secs(5);
/// Records a requested stop (`cancelled`) in the try folder.
pub(crate) const STOP_REASON: &str = "stop_reason";

/// What the watcher of one try knows.
pub(crate) struct Watch {
    pub jobs: Api<Job>,
    pub pods: Api<Pod>,
    pub secrets: Api<Secret>,
    /// The Job's name.
    pub job: String,
    /// The try's Secret, if it has one.
    pub secret: Option<String>,
    pub try_dir: PathBuf,
    pub masker: Masker,
    /// When the Job was posted: the start of a try that never ran.
    pub submitted_at: DateTime<Utc>,
    pub kill_grace: Duration,
    pub pull_grace: Duration,
    /// Longest wait between two looks without an event.
    pub recheck: Duration,
    pub log_max_bytes: Option<u64>,
}

/// Follows the try to its end and settles it. Never fails.
pub(crate) async fn watch(w: Watch, cancel: CancelHandle) -> TryOutcome {
    let mut stop = read_stop_reason(&w.try_dir);
    let mut stop_sent: Option<Instant> = None;
    if stop.is_some() {
        // A cancel asked for before a restart may not have gone through: ask again.
        stop_sent = Some(delete_job(&w).await);
    }
    let mut output: Option<JoinHandle<Vec<String>>> = None;
    let mut told = None;
    let mut complained = false;
    let ended = loop {
        let read = read(&w).await;
        let (job, pods, versions) = match read {
            Ok(Some(found)) => found,
            Ok(None) => break None,
            Err(why) => {
                if !complained {
                    tracing::warn!(job = %w.job, error = %why,
                        "lost the Kubernetes API server; waiting for it to come back");
                    complained = true;
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let pod = newest_pod(&pods);
        if output.is_none()
            && let Some(pod) = pod.filter(|p| container_started(p))
        {
            output = Some(start_logs(&w, pod));
        }
        match observe(&job, pod, Utc::now(), w.pull_grace) {
            Observed::Ended(ended) => break Some((ended, pod.cloned())),
            Observed::Pending(Some(why)) if told.as_ref() != Some(&why) => {
                let _ = layout::append_log_line(&w.try_dir, &format!("[weir] waiting: {why}"));
                told = Some(why);
            }
            Observed::Pending(_) | Observed::Running => {}
        }
        if let Some(sent) = stop_sent
            && sent.elapsed() >= w.kill_grace + STOP_SLACK
        {
            break None;
        }
        let wait = if stop_sent.is_some() {
            w.recheck.min(Duration::from_secs(1))
        } else {
            w.recheck
        };
        tokio::select! {
            changed = changes(&w, &versions, wait) => {
                if !changed {
                    tokio::time::sleep(RETRY.min(wait)).await;
                }
            }
            () = cancel.cancelled(), if stop.is_none() => {
                record_stop(&w.try_dir);
                stop = Some(EndReason::Cancelled);
                stop_sent = Some(delete_job(&w).await);
            }
        }
    };
    settle(&w, stop, ended, output).await
}

/// The resource versions a watch starts from: the Job's and the pod list's.
struct Versions {
    job: String,
    pods: String,
}

/// The Job (None when it is gone) and its pods.
async fn read(w: &Watch) -> Result<Option<(Job, Vec<Pod>, Versions)>, String> {
    let Some(job) = w.jobs.get_opt(&w.job).await.map_err(|e| message(&e))? else {
        return Ok(None);
    };
    let selector = format!("{LABEL_JOB}={}", w.job);
    let pods = w
        .pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| message(&e))?;
    let versions = Versions {
        job: job.metadata.resource_version.clone().unwrap_or_default(),
        pods: pods.metadata.resource_version.clone().unwrap_or_default(),
    };
    Ok(Some((job, pods.items, versions)))
}

/// Waits until the Job or one of its pods changes (true), `wait` passes (true: look
/// again), or a watch cannot be opened (false).
async fn changes(w: &Watch, versions: &Versions, wait: Duration) -> bool {
    let secs = u32::try_from(wait.as_secs().max(1)).unwrap_or(u32::MAX);
    let job_params = WatchParams::default()
        .fields(&format!("metadata.name={}", w.job))
        .timeout(secs);
    let pod_params = WatchParams::default()
        .labels(&format!("{LABEL_JOB}={}", w.job))
        .timeout(secs);
    let opened = future::join(
        w.jobs.watch(&job_params, &versions.job),
        w.pods.watch(&pod_params, &versions.pods),
    );
    let (jobs, pods) = match tokio::time::timeout(wait, opened).await {
        Ok((Ok(jobs), Ok(pods))) => (jobs.map(|_| ()).boxed(), pods.map(|_| ()).boxed()),
        Ok(_) => return false,
        Err(_) => return true,
    };
    let mut either = futures_util::stream::select(jobs, pods);
    let _ = tokio::time::timeout(wait, either.next()).await;
    true
}

/// Whether the pod's container has started (so its log can be read).
fn container_started(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.state.as_ref().is_some_and(|s| {
                    s.running.is_some()
                        || s.terminated
                            .as_ref()
                            .is_some_and(|t| t.started_at.is_some())
                })
            })
        })
}

fn start_logs(w: &Watch, pod: &Pod) -> JoinHandle<Vec<String>> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    tokio::spawn(logs::follow(
        w.pods.clone(),
        name,
        w.try_dir.join(LOG),
        w.masker.clone(),
        w.log_max_bytes,
    ))
}

/// Deletes the Job (and, first, its pod); returns when the request was answered, or
/// given up on after the grace (the watch then settles the try all the same).
async fn delete_job(w: &Watch) -> Instant {
    let _ = layout::append_log_line(&w.try_dir, "[weir] stopping the Job: cancelled");
    let deadline = Instant::now() + w.kill_grace;
    loop {
        match w.jobs.delete(&w.job, &DeleteParams::foreground()).await {
            Ok(_) => break,
            Err(e) if is_not_found(&e) => break,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(job = %w.job, error = %e, "cannot delete the Job yet");
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => {
                tracing::warn!(job = %w.job, error = %e, "cannot delete the Job");
                break;
            }
        }
    }
    Instant::now()
}

/// Collects the rest of the output, records the outcome, deletes the Secret.
async fn settle(
    w: &Watch,
    stop: Option<EndReason>,
    ended: Option<(Ended, Option<Pod>)>,
    output: Option<JoinHandle<Vec<String>>>,
) -> TryOutcome {
    let mut remarks = Vec::new();
    let output = match (output, &ended) {
        (Some(task), _) => Some(task),
        // Ended between two looks: its output is still to copy.
        (None, Some((_, Some(pod)))) if container_started(pod) => Some(start_logs(w, pod)),
        _ => None,
    };
    if let Some(mut task) = output {
        match tokio::time::timeout(LOG_DRAIN, &mut task).await {
            Ok(Ok(more)) => remarks.extend(more),
            Ok(Err(e)) => remarks.push(format!("the log copy stopped: {e}")),
            Err(_) => {
                task.abort();
                remarks.push("the pod's output stayed open after it ended; stopped reading".into());
            }
        }
    }
    let now = Utc::now();
    let outcome = match ended {
        Some((ended, _)) => {
            if let EndReason::LaunchFailed(_) = ended.reason {
                // Its pod would wait for the image forever: nothing ran, remove it.
                let _ = w.jobs.delete(&w.job, &DeleteParams::background()).await;
            }
            let reason = stop.unwrap_or(ended.reason);
            let succeeded = reason == EndReason::Exited && ended.exit_code == Some(0);
            if succeeded
                && let Some(xcom) = &ended.message
                && let Err(e) = layout::write_atomic(&w.try_dir, XCOM, xcom.as_bytes())
            {
                remarks.push(format!("cannot keep the XCom: {e}"));
            }
            let started_at = ended.started_at.unwrap_or(w.submitted_at);
            TryOutcome {
                exit_code: ended.exit_code,
                reason,
                started_at,
                finished_at: ended
                    .finished_at
                    .filter(|f| *f >= started_at)
                    .unwrap_or(now),
                cpu_seconds: 0.0,
                peak_rss_bytes: 0,
                xcom: Default::default(),
            }
        }
        None => {
            // Another watcher of the same try (two adoptions) may have settled it.
            if let Ok(Some(recorded)) = layout::read_status(&w.try_dir) {
                return recorded;
            }
            let reason = stop.unwrap_or_else(|| {
                EndReason::Lost(format!(
                    "its Job `{}` is gone (deleted outside Weir, or never posted) and no outcome was recorded",
                    w.job
                ))
            });
            TryOutcome::without_usage(reason, w.submitted_at, now)
        }
    };
    delete_secret(w).await;
    record(&w.try_dir, &outcome, &remarks);
    outcome
}

/// Deletes the try's Secret; a failure is logged (the Secret holds values the pod no
/// longer needs, and the next adoption of the try deletes it).
pub(crate) async fn delete_secret(w: &Watch) {
    let Some(secret) = &w.secret else {
        return;
    };
    match w.secrets.delete(secret, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => tracing::warn!(secret = %secret, error = %e, "cannot delete the try's Secret"),
    }
}

/// Writes the closing remarks and `status.json`.
pub(crate) fn record(try_dir: &Path, outcome: &TryOutcome, remarks: &[String]) {
    for remark in remarks {
        let _ = layout::append_log_line(try_dir, &format!("[weir] {remark}"));
    }
    let _ = layout::append_log_line(try_dir, &format!("[weir] {}", describe(outcome)));
    if let Err(e) = layout::write_status(try_dir, outcome) {
        tracing::warn!(try_dir = %try_dir.display(), error = %e, "cannot record the outcome");
    }
}

fn record_stop(try_dir: &Path) {
    if let Err(e) = layout::write_atomic(try_dir, STOP_REASON, b"cancelled") {
        tracing::warn!(try_dir = %try_dir.display(), error = %e, "cannot record the stop");
    }
}

/// The stop recorded in the try folder, if any.
pub(crate) fn read_stop_reason(try_dir: &Path) -> Option<EndReason> {
    match fs::read_to_string(try_dir.join(STOP_REASON)).ok()?.trim() {
        "cancelled" => Some(EndReason::Cancelled),
        _ => None,
    }
}
