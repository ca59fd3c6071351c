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
use weir_compute::{Backend, EndReason, LaunchSpec, TryOutcome};
use weir_core::ids::TryKey;
use weir_core::retry::RetryPolicy;
use weir_core::spec::model::TaskKind;
use weir_core::state::TaskState;
use weir_core::template;
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
pub const XCOM_FILE: &str = "xcom.json";

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
) -> Result<Started> {
    let task_id = ti.key.task_id.as_str();
    let now = shared.now();
    let Some(task) = version.spec.tasks.get(task_id) else {
        let mut u =
            TaskInstanceUpdate::new(ti.key.clone(), TaskState::Scheduled, TaskState::Failed);
        u.end_date = Some(Some(now));
        u.note = Some(Some(format!(
            "task `{task_id}` is not in version {} of the DAG",
            version.hash
        )));
        shared.store.update_task_instance(&u).await?;
        return Ok(Started::Finished);
    };
    if let TaskKind::Noop(_) = task.kind {
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
    let prepared = match &task.kind {
        TaskKind::Shell(command) => {
            prepare_shell(shared, run, version, ti, try_number, command, &dir).await?
        }
        other => Err((
            format!("task kind `{}` is not enabled on this server", other.name()),
            false,
        )),
    };
    let mut claim =
        TaskInstanceUpdate::new(ti.key.clone(), TaskState::Scheduled, TaskState::Queued);
    claim.try_number = Some(try_number);
    let mut record = TryRecord::started(key.clone(), now);
    record.try_dir = Some(dir.display().to_string());
    record.hostname = Some(shared.config.hostname.clone());
    record.executor = Some(shared.process.name().to_string());
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
    std::fs::create_dir_all(&dir).map_err(|source| EngineError::Io {
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
    match shared.process.submit(spec).await {
        Ok(running) => {
            watch(shared, key, running, &version.hash);
            Ok(Started::Launched)
        }
        Err(e) => {
            append_log(&dir, &format!("error: the task could not be started: {e}"));
            let outcome = TryOutcome::without_usage(
                EndReason::LaunchFailed(e.to_string()),
                now,
                shared.now(),
            );
            finish_try(shared, &key, outcome, true).await?;
            Ok(Started::Finished)
        }
    }
}

/// Waits for a try in the background and reports its end to the scheduler loop.
pub fn watch(
    shared: &Arc<Shared>,
    key: TryKey,
    running: weir_compute::RunningTry,
    version_hash: &str,
) {
    if let Ok(mut map) = shared.running.lock() {
        let watched = crate::service::Watched {
            cancel: running.cancel_handle(),
            try_dir: running.try_dir().to_path_buf(),
            version_hash: version_hash.to_string(),
        };
        map.insert(key.clone(), watched);
    }
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

type Prepared = std::result::Result<LaunchSpec, (String, bool)>;

async fn prepare_shell(
    shared: &Shared,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    try_number: u32,
    command: &str,
    dir: &Path,
) -> Result<Prepared> {
    let task_id = ti.key.task_id.as_str();
    let Some(task) = version.spec.tasks.get(task_id) else {
        return Ok(Err((format!("task `{task_id}` is gone"), false)));
    };
    let mut ctx = crate::render::context(
        &shared.store,
        run,
        version,
        task_id,
        ti.key.map_index,
        try_number,
    )
    .await?;
    if task.for_each.is_some() {
        match crate::render::for_each_items(task, &ctx) {
            Ok(items) => match usize::try_from(ti.key.map_index)
                .ok()
                .and_then(|i| items.get(i))
            {
                Some(item) => ctx.item = Some(item.clone()),
                None => {
                    return Ok(Err((
                        format!(
                            "`for_each` no longer yields an item at index {}",
                            ti.key.map_index
                        ),
                        false,
                    )));
                }
            },
            Err(reason) => return Ok(Err((reason, true))),
        }
    }
    let rendered = match template::render(command, &ctx) {
        Ok(r) => r,
        Err(e) => return Ok(Err((format!("cannot render `shell`: {}", e.message), true))),
    };
    let eff = version.spec.effective(task);
    let xcom = dir.join(XCOM_FILE);
    let mut env: Vec<(String, String)> = vec![
        ("WEIR_DAG_ID".into(), run.dag_id.to_string()),
        ("WEIR_RUN_ID".into(), run.run_id.to_string()),
        ("WEIR_TASK_ID".into(), task_id.to_string()),
        ("WEIR_TRY_NUMBER".into(), try_number.to_string()),
        ("WEIR_MAP_INDEX".into(), ti.key.map_index.to_string()),
        (
            "WEIR_LOGICAL_DATE".into(),
            run.logical_date.to_rfc3339_opts(SecondsFormat::Secs, false),
        ),
        ("WEIR_XCOM".into(), xcom.display().to_string()),
    ];
    for (name, value) in &eff.env {
        match template::render(value, &ctx) {
            Ok(v) => env.push((name.clone(), v)),
            Err(e) => {
                return Ok(Err((
                    format!("cannot render env `{name}`: {}", e.message),
                    true,
                )));
            }
        }
    }
    let mut spec = LaunchSpec::new(ti.key.try_key(try_number), rendered, dir);
    spec.env = env;
    spec.timeout = eff.timeout;
    Ok(Ok(spec))
}

/// Appends an engine line to a try's log, in the log's own format.
fn append_log(dir: &Path, line: &str) {
    use std::io::Write as _;
    let stamp = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(weir_compute::layout::log_path(dir))
    {
        let _ = writeln!(f, "{stamp} [weir] {line}");
    }
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
    let (dir, version_hash) = match watched {
        Some(w) => (Some(w.try_dir), w.version_hash),
        None => {
            let record = shared.store.get_try(key).await?;
            let dir = record.and_then(|r| r.try_dir).map(PathBuf::from);
            (dir, run_version(shared, key).await?)
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
    let policy = match (
        current,
        shared
            .cache
            .get(&shared.store, &key.dag_id, &version_hash)
            .await,
    ) {
        (Some(_), Ok(version)) => version.spec.tasks.get(key.task_id.as_str()).map(|t| {
            let eff = version.spec.effective(t);
            RetryPolicy {
                retries: eff.retries,
                retry_delay: eff.retry_delay,
                backoff: eff.retry_backoff,
                max_retry_delay: eff.max_retry_delay,
            }
        }),
        _ => None,
    };
    let (state, retry_at) = if succeeded {
        (TaskState::Success, None)
    } else if retryable
        && policy
            .as_ref()
            .is_some_and(|p| p.can_retry_after(key.try_number))
    {
        let delay = policy
            .as_ref()
            .map(|p| p.delay_before_try(key.try_number + 1))
            .unwrap_or_default();
        let at: DateTime<Utc> = now + chrono::TimeDelta::from_std(delay).unwrap_or_default();
        (TaskState::UpForRetry, Some(at))
    } else {
        (TaskState::Failed, None)
    };
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
        .end_try(key, &try_outcome, xcom, current.map(|_| &update))
        .await?;
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
