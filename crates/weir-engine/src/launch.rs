//! Starting a try (render, record, hand to a backend) and finishing one (collect the
//! XCom, record the outcome, decide success, retry or failure).
//!
//! Order matters for crash safety: the try is recorded `running` before the backend
//! starts it, so after a crash the engine always looks for it (adoption) and never
//! starts a second copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use tracing::{info, warn};
use weir_compute::{Backend, EndReason, TryOutcome};
use weir_core::ids::TryKey;
use weir_core::retry::RetryPolicy;
use weir_core::spec::model::TaskKind;

use crate::workload::TaskWork;
use weir_core::state::TaskState;
use weir_store::{
    DagRunRecord, TaskInstanceKey, TaskInstanceRecord, TaskInstanceUpdate, TryRecord,
};

use crate::dag_cache::DagVersion;
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::service::Shared;

/// Largest XCom value a task may return.
pub const MAX_XCOM_BYTES: u64 = 1024 * 1024;
/// The file a task writes its XCom to (`$WEIR_XCOM`), inside its try folder.
pub const XCOM_FILE: &str = weir_compute::layout::XCOM;

/// The try folder: `<home>/logs/<dag>/<run>/<task>/<map index>/<try>`.
pub fn try_dir(logs: &Path, key: &TryKey) -> PathBuf {
    let run: String = key
        .run_id
        .as_str()
        .chars()
        .map(|c| if matches!(c, ':' | '+') { '_' } else { c })
        .collect();
    logs.join(key.dag_id.as_str())
        .join(run)
        .join(key.task_id.as_str())
        .join(key.map_index.to_string())
        .join(key.try_number.to_string())
}

/// What happened when the dispatcher handed an instance over.
pub enum Started {
    /// A try is running on a backend.
    Launched,
    /// Finished on the spot (noop, or a try that could not start): plan its run again.
    Finished,
    /// Another scheduler took it first.
    Lost,
}

pub async fn start_try(
    shared: &Arc<Shared>,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    need: &crate::workload::Need,
    placement: Option<weir_core::fair_share::RunningTry>,
) -> Result<Started> {
    let now = shared.now();
    // The dispatcher found the task in this version before it asked.
    let Some(task) = version.spec.tasks.get(ti.key.task_id.as_str()) else {
        return Ok(Started::Lost);
    };
    if let TaskWork::Noop = need.work {
        let mut u =
            TaskInstanceUpdate::new(ti.key.clone(), TaskState::Scheduled, TaskState::Success);
        u.start_date = Some(Some(now));
        u.end_date = Some(Some(now));
        return Ok(if shared.store.update_task_instance(&u).await? {
            Started::Finished
        } else {
            Started::Lost
        });
    }

    let try_number = ti.try_number + 1;
    let key = ti.key.try_key(try_number);
    let dir = try_dir(&shared.config.logs_dir(), &key);

    // Decide what to run; a problem here fails the try with the reason in its log.
    let (prepared, executor) = match &need.work {
        TaskWork::Process => match &task.kind {
            TaskKind::Shell(command) => (
                crate::prepare::shell(shared, run, version, ti, try_number, command, &dir).await?,
                "process",
            ),
            _ => return Ok(Started::Lost),
        },
        TaskWork::Container(plan) => (
            crate::prepare::container(
                shared,
                run,
                version,
                ti,
                try_number,
                crate::prepare::ContainerWork {
                    plan,
                    request: need.request,
                },
                &dir,
            )
            .await?,
            "docker",
        ),
        TaskWork::Refused(why, retryable) => (Err((why.clone(), *retryable)), "none"),
        TaskWork::Noop => return Ok(Started::Lost),
    };
    let mut claim =
        TaskInstanceUpdate::new(ti.key.clone(), TaskState::Scheduled, TaskState::Queued);
    claim.try_number = Some(try_number);
    let mut record = TryRecord::started(key.clone(), now);
    record.try_dir = Some(dir.display().to_string());
    record.hostname = Some(shared.config.hostname.clone());
    record.executor = Some(executor.to_string());
    let mut running =
        TaskInstanceUpdate::new(ti.key.clone(), TaskState::Queued, TaskState::Running);
    running.start_date = Some(Some(now));
    running.end_date = Some(None);
    running.hostname = Some(Some(shared.config.hostname.clone()));
    running.rendered_command = Some(prepared.as_ref().ok().map(|spec| spec.command.clone()));
    // Recorded as running before it starts: after a crash it is adopted, never rerun.
    if !shared.store.start_try(&claim, &record, &running).await? {
        return Ok(Started::Lost);
    }
    // Owner-only, as the backend makes it: the try folder holds the task's log and XCom.
    weir_compute::layout::create_private_dir(&dir).map_err(|source| EngineError::Io {
        path: dir.display().to_string(),
        source,
    })?;

    let spec = match prepared {
        Ok(spec) => spec,
        Err((reason, retryable)) => {
            append_log(&dir, &format!("error: {reason}"));
            let outcome =
                TryOutcome::without_usage(EndReason::LaunchFailed(reason), now, shared.now());
            finish_try(shared, &key, outcome, retryable).await?;
            return Ok(Started::Finished);
        }
    };
    let job_revision = match &need.work {
        TaskWork::Container(plan) => plan.job_revision.clone(),
        _ => None,
    };
    // Counted as in flight (capacity, parallelism) and cancellable from now on, though
    // the backend has not answered yet: the placeholder handle is linked to the real
    // one when it does.
    let watched = crate::service::Watched {
        cancel: weir_compute::CancelHandle::new(),
        try_dir: dir.clone(),
        version_hash: version.hash.clone(),
        placement,
        job_revision,
    };
    if let Ok(mut map) = shared.running.lock() {
        map.insert(key.clone(), watched);
    }
    if executor == "docker" {
        // A container start (maybe a pull) takes a while: never hold the loop for it.
        let task_shared = shared.clone();
        shared
            .tracker
            .spawn(async move { submit(&task_shared, key, spec, executor).await });
    } else {
        submit(shared, key, spec, executor).await;
    }
    Ok(Started::Launched)
}

/// Hands a try to its backend; on success waits for it in the background, on failure
/// reports the try finished (the loop records it).
async fn submit(shared: &Arc<Shared>, key: TryKey, spec: weir_compute::LaunchSpec, executor: &str) {
    let dir = spec.try_dir.clone();
    let started = shared.now();
    let submitted = match executor {
        "docker" => match &shared.docker {
            Some(docker) => docker.submit(spec).await,
            None => Err(weir_compute::ComputeError::BackendUnavailable {
                backend: "docker",
                detail: "no Docker compute environment is configured on this server".into(),
            }),
        },
        _ => shared.process.submit(spec).await,
    };
    match submitted {
        Ok(running) => {
            if let Ok(mut map) = shared.running.lock()
                && let Some(w) = map.get_mut(&key)
            {
                // A cancel that came while the backend was starting it applies now.
                if w.cancel.is_cancelled() {
                    running.cancel();
                }
                w.cancel = running.cancel_handle();
            }
            spawn_waiter(shared, key, running);
        }
        Err(e) => {
            append_log(&dir, &format!("error: the task could not be started: {e}"));
            let outcome = TryOutcome::without_usage(
                EndReason::LaunchFailed(e.to_string()),
                started,
                shared.now(),
            );
            shared.notify(Event::TryFinished {
                key,
                outcome,
                retryable: true,
            });
        }
    }
}

/// Watches an adopted try: registers it, then waits for it in the background.
pub fn watch(
    shared: &Arc<Shared>,
    key: TryKey,
    running: weir_compute::RunningTry,
    watched: crate::service::Watched,
) {
    if let Ok(mut map) = shared.running.lock() {
        map.insert(key.clone(), watched);
    }
    spawn_waiter(shared, key, running);
}

/// Waits for a try in the background and reports its end to the scheduler loop.
fn spawn_waiter(shared: &Arc<Shared>, key: TryKey, running: weir_compute::RunningTry) {
    let events = shared.events.clone();
    shared.tracker.spawn(async move {
        let outcome = running.wait().await;
        let _ = events.send(Event::TryFinished {
            key,
            outcome,
            retryable: true,
        });
    });
}

/// Appends an engine line to a try's log, in the log's own format.
pub(crate) fn append_log(dir: &Path, line: &str) {
    // Best effort: the log is a courtesy, the store holds the outcome.
    let _ = weir_compute::layout::append_log_line(dir, &format!("[weir] {line}"));
}

/// Reads the task's XCom file: None if it wrote none, Err if it is unusable.
fn read_xcom(dir: &Path) -> std::result::Result<Option<serde_json::Value>, String> {
    let path = dir.join(XCOM_FILE);
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(None);
    };
    if meta.len() == 0 {
        return Ok(None);
    }
    if meta.len() > MAX_XCOM_BYTES {
        return Err(format!(
            "the XCom written to $WEIR_XCOM is {} bytes; the limit is {MAX_XCOM_BYTES} (1 MiB): pass large data through storage and its path through XCom",
            meta.len()
        ));
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read the XCom file: {e}"))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("the XCom written to $WEIR_XCOM is not valid JSON: {e}"))
}

/// Records how a try ended and moves its task instance on.
pub async fn finish_try(
    shared: &Arc<Shared>,
    key: &TryKey,
    outcome: TryOutcome,
    retryable: bool,
) -> Result<()> {
    let watched = shared
        .running
        .lock()
        .ok()
        .and_then(|mut map| map.remove(key));
    let ti_key = TaskInstanceKey::from(key);
    let ti = shared.store.get_task_instance(&ti_key).await?;
    let (dir, version_hash, placement, job_revision) = match watched {
        Some(w) => (Some(w.try_dir), w.version_hash, w.placement, w.job_revision),
        None => {
            let record = shared.store.get_try(key).await?;
            let dir = record.and_then(|r| r.try_dir).map(PathBuf::from);
            (dir, run_version(shared, key).await?, None, None)
        }
    };
    let now = shared.now();

    let mut reason = match &outcome.reason {
        EndReason::Exited => outcome.exit_code.map(|c| format!("exit code {c}")),
        EndReason::Lost(_) => Some("lost: the server stopped".to_string()),
        other => Some(other.to_string()),
    };
    let mut succeeded = outcome.succeeded();
    let mut xcom_value = None;
    if succeeded && let Some(dir) = &dir {
        match read_xcom(dir) {
            Ok(Some(value)) => xcom_value = Some(value),
            Ok(None) => {}
            Err(why) => {
                append_log(dir, &format!("error: {why}"));
                reason = Some(why);
                succeeded = false;
            }
        }
    }
    // Only the instance's current try may move it: a cleared or marked instance stays.
    let current = ti
        .as_ref()
        .filter(|t| t.state == TaskState::Running && t.try_number == key.try_number);
    let version = shared
        .cache
        .get(&shared.store, &key.dag_id, &version_hash)
        .await
        .ok();
    let task = version
        .as_ref()
        .and_then(|v| v.spec.tasks.get(key.task_id.as_str()).map(|t| (v, t)));
    let policy = task.map(|(v, t)| {
        let eff = v.spec.effective(t);
        RetryPolicy {
            retries: eff.retries,
            retry_delay: eff.retry_delay,
            backoff: eff.retry_backoff,
            max_retry_delay: eff.max_retry_delay,
        }
    });
    // A job definition's retry strategy decides on the exit code and the reason
    // (AWS Batch's `evaluateOnExit`); other tasks retry while retries are left.
    let jobs = shared.jobs.read().map(|j| j.clone()).unwrap_or_default();
    let strategy = task.and_then(
        |(v, t)| match crate::workload::need(&v.spec, t, &jobs).work {
            crate::workload::TaskWork::Container(plan) => plan.retry,
            _ => None,
        },
    );
    // Tries that never started (closed so by recovery after a crash) used no retry.
    let attempt = if succeeded || current.is_none() {
        key.try_number
    } else {
        let never_started = shared.store.count_never_started_tries(&ti_key).await?;
        key.try_number.saturating_sub(never_started).max(1)
    };
    let may_retry = retryable
        && current.is_some()
        && match &strategy {
            Some(strategy) => matches!(
                strategy.decide(attempt, outcome.exit_code, &batch_reason(&outcome.reason)),
                weir_core::job_def::RetryDecision::Retry
            ),
            None => policy.as_ref().is_some_and(|p| p.can_retry_after(attempt)),
        };
    let (state, retry_at) = if succeeded {
        (TaskState::Success, None)
    } else if may_retry {
        let delay = policy
            .as_ref()
            .map(|p| p.delay_before_try(attempt + 1))
            .unwrap_or_default();
        let at: DateTime<Utc> = now + chrono::TimeDelta::from_std(delay).unwrap_or_default();
        (TaskState::UpForRetry, Some(at))
    } else {
        (TaskState::Failed, None)
    };
    let usage = placement
        .as_ref()
        .map(|p| usage_record(shared, key, p, &outcome));
    let try_outcome = weir_store::TryOutcome {
        state,
        exit_code: outcome.exit_code,
        reason: reason.clone(),
        finished_at: outcome.finished_at,
        cpu_seconds: Some(outcome.cpu_seconds),
        peak_rss_bytes: Some(outcome.peak_rss_bytes),
    };
    let mut update = TaskInstanceUpdate::new(ti_key.clone(), TaskState::Running, state);
    update.end_date = Some(Some(outcome.finished_at));
    update.next_retry_at = Some(retry_at);
    let xcom = xcom_value.as_ref().map(|v| ("return_value", v));
    let moved = shared
        .store
        .end_try(
            key,
            &try_outcome,
            xcom,
            usage.as_ref().map(|u| (u, job_revision.as_deref())),
            current.map(|_| &update),
        )
        .await?;
    if let (Some(placement), Some(usage)) = (&placement, &usage) {
        add_to_fair_share(shared, placement, usage);
    }
    if current.is_none() {
        return Ok(());
    }
    if !moved {
        warn!(%key, "task instance changed while its try ran; its result is recorded on the try only");
        return Ok(());
    }
    if let Some(dir) = &dir {
        match (state, retry_at) {
            (TaskState::UpForRetry, Some(at)) => append_log(
                dir,
                &format!(
                    "try {} failed ({}); retrying at {}",
                    key.try_number,
                    reason.as_deref().unwrap_or("failed"),
                    at.to_rfc3339_opts(SecondsFormat::Secs, true)
                ),
            ),
            (TaskState::Failed, _) => append_log(
                dir,
                &format!(
                    "try {} failed ({}); no retries left",
                    key.try_number,
                    reason.as_deref().unwrap_or("failed")
                ),
            ),
            _ => {}
        }
    }
    if let Some(at) = retry_at
        && let Ok(mut retries) = shared.retries.lock()
    {
        retries.entry(at).or_default().push(ti_key);
    }
    info!(%key, %state, reason = reason.as_deref().unwrap_or(""), "try finished");
    Ok(())
}

async fn run_version(shared: &Shared, key: &TryKey) -> Result<String> {
    Ok(shared
        .store
        .get_dag_run(&key.dag_id, &key.run_id)
        .await?
        .map(|r| r.version_hash)
        .unwrap_or_default())
}

/// The reason as AWS Batch words it, for `evaluate_on_exit` patterns such as
/// `OutOfMemory*`.
fn batch_reason(reason: &EndReason) -> String {
    match reason {
        EndReason::OutOfMemory => "OutOfMemoryError: Container killed due to memory usage".into(),
        EndReason::TimedOut => "Job attempt duration exceeded timeout".into(),
        other => other.to_string(),
    }
}

/// What the try used, priced at its environment's rates (for cost per team).
fn usage_record(
    shared: &Shared,
    key: &TryKey,
    placement: &weir_core::fair_share::RunningTry,
    outcome: &TryOutcome,
) -> weir_core::cost::UsageRecord {
    let price = shared
        .platform
        .environment(&placement.environment)
        .map(|e| e.price)
        .unwrap_or_default();
    weir_core::cost::UsageRecord {
        team: placement.team.clone(),
        dag_id: key.dag_id.clone(),
        queue: placement.queue.clone(),
        compute_environment: placement.environment.clone(),
        requested_vcpu: placement.request.vcpus,
        requested_memory_bytes: placement.request.memory_bytes,
        wall_seconds: outcome.wall_seconds(),
        cpu_seconds: Some(outcome.cpu_seconds),
        peak_memory_bytes: Some(outcome.peak_rss_bytes),
        started_at: outcome.started_at,
        price,
    }
}

/// Adds a finished try's reserved vCPU-seconds to its team's fair-share history.
fn add_to_fair_share(
    shared: &Shared,
    placement: &weir_core::fair_share::RunningTry,
    usage: &weir_core::cost::UsageRecord,
) {
    let half_life = std::time::Duration::from_secs(
        shared
            .platform
            .queue(&placement.queue)
            .map_or(weir_core::platform::DEFAULT_SHARE_DECAY_SECONDS, |q| {
                q.share_decay_seconds()
            }),
    );
    let now = shared.now();
    if let Ok(mut history) = shared.usage.lock() {
        let entry = history
            .entry((placement.queue.clone(), placement.team.clone()))
            .or_insert_with(|| weir_core::fair_share::DecayedUsage::zero(now));
        *entry = entry.add(now, half_life, usage.requested_vcpu * usage.wall_seconds);
    }
}
