//! Starting a try (render, record, hand to a backend) and finishing one (collect the
//! XCom, record the outcome, decide success, retry or failure).
//!
//! Order matters for crash safety: the try is recorded `running` before the backend
//! starts it, so after a crash the engine always looks for it (adoption) and never
//! starts a second copy.

use std::sync::Arc;

use tracing::{info, warn};
use weir_compute::{EndReason, TryFolder, TryOutcome};
use weir_core::ids::TryKey;
use weir_core::lifecycle::try_end::{self, Placement, TryEnd};
use weir_core::lifecycle::try_start;
use weir_core::platform::Backend as BackendKind;
use weir_core::retry::RetryPolicy;
use weir_core::spec::model::TaskKind;

use crate::workload::TaskWork;
use weir_core::state::TaskState;
use weir_store::{DagRunRecord, TaskInstanceKey, TaskInstanceRecord, TryRecord};

use crate::dag_cache::DagVersion;
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::shared::Shared;

/// What happened when the dispatcher handed an instance over.
pub enum Started {
    /// A try is running on a backend.
    Launched,
    /// Finished on the spot (noop, or a try that could not start): plan its run again.
    Finished,
    /// Another scheduler took it first.
    Lost,
}

#[tracing::instrument(name = "try", skip_all, fields(
    dag_id = %ti.key.dag_id, run_id = %ti.key.run_id, task_id = %ti.key.task_id,
    map_index = ti.key.map_index,
))]
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
        let done = try_start::noop(ti.try_number, now);
        return Ok(
            if shared.store.update_task_instance(&ti.key, &done).await? {
                Started::Finished
            } else {
                Started::Lost
            },
        );
    }

    let try_number = try_start::next_try_number(ti.try_number);
    let key = ti.key.try_key(try_number);
    let folder = TryFolder::of(&shared.config.logs_dir(), &key);

    // Decide what to run; a problem here fails the try with the reason in its log.
    let (prepared, executor) = match &need.work {
        TaskWork::Process => match &task.kind {
            TaskKind::Shell(command) => (
                crate::prepare::shell(shared, run, version, ti, try_number, command, &folder)
                    .await?,
                Some(BackendKind::Process),
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
                &folder,
            )
            .await?,
            // Where the dispatcher placed it; a container runs on Docker by default.
            Some(
                placement
                    .as_ref()
                    .and_then(|p| shared.backends.kind_of_environment(&p.environment))
                    .unwrap_or(BackendKind::Docker),
            ),
        ),
        TaskWork::Inline => (
            match crate::prepare::inline(shared, run, version, ti, try_number, task, &folder)
                .await?
            {
                Some(prepared) => prepared,
                None => return Ok(Started::Lost),
            },
            Some(BackendKind::Inline),
        ),
        TaskWork::Refused(why, retryable) => (Err((why.clone(), *retryable)), None),
        TaskWork::Noop => return Ok(Started::Lost),
    };
    // The command as the API shows it: with every credential the try gets masked.
    let shown = prepared
        .as_ref()
        .ok()
        .map(|(spec, masker)| masker.mask(&spec.command));
    let start = try_start::launch(
        ti.try_number,
        &shared.config.hostname,
        shown.as_deref(),
        now,
    );
    let mut record = TryRecord::started(key.clone(), now);
    record.try_dir = Some(folder.path().display().to_string());
    record.hostname = Some(shared.config.hostname.clone());
    record.executor = executor.map(|kind| kind.as_str().to_string());
    record.replica_id = Some(shared.replica.id.clone());
    // Recorded as running before it starts: after a crash it is adopted, never rerun.
    if !shared
        .store
        .start_try(&start.claim, &record, &start.run)
        .await?
    {
        return Ok(Started::Lost);
    }
    let team = version.spec.team.as_str();
    shared.metrics.try_started(&ti.key, team, &need.queue, now);
    // Owner-only, as the backend makes it: the try folder holds the task's log and XCom.
    folder.create().map_err(|source| EngineError::Io {
        path: folder.path().display().to_string(),
        source,
    })?;

    let (mut spec, masker) = match prepared {
        Ok(prepared) => prepared,
        Err((reason, retryable)) => {
            folder.remark(&format!("error: {reason}"));
            let outcome =
                TryOutcome::without_usage(EndReason::LaunchFailed(reason), now, shared.now());
            finish_try(shared, &key, outcome, retryable).await?;
            return Ok(Started::Finished);
        }
    };
    crate::traces::add_trace_context(shared, &mut spec, &folder);
    // Where the dispatcher placed it: backends serving several environments pick by it.
    spec.environment = placement.as_ref().map(|p| p.environment.clone());
    spec.queue = Some(need.queue.clone());
    // Only a refused task has no backend, and it ended above.
    let Some(executor) = executor else {
        return Ok(Started::Finished);
    };
    let job_revision = match &need.work {
        TaskWork::Container(plan) => plan.job_revision.clone(),
        _ => None,
    };
    // Counted as in flight (capacity, parallelism) and cancellable from now on, though
    // the backend has not answered yet: the placeholder handle is linked to the real
    // one when it does.
    let watched = crate::tries::Watched {
        cancel: weir_compute::CancelHandle::new(),
        folder: folder.clone(),
        version_hash: version.hash.clone(),
        placement,
        job_revision,
        masker,
    };
    shared.tries.watch(key.clone(), watched);
    if !matches!(executor, BackendKind::Process | BackendKind::Inline) {
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
async fn submit(
    shared: &Arc<Shared>,
    key: TryKey,
    spec: weir_compute::LaunchSpec,
    executor: BackendKind,
) {
    let folder = TryFolder::at(spec.try_dir.clone());
    let started = shared.now();
    let submitted = match shared.backends.get(executor) {
        Ok(backend) => backend.submit(spec).await,
        Err(e) => Err(e),
    };
    match submitted {
        Ok(running) => {
            shared.tries.link_cancel(&key, &running);
            spawn_waiter(shared, key, running);
        }
        Err(e) => {
            folder.remark(&format!("error: the task could not be started: {e}"));
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
    watched: crate::tries::Watched,
) {
    shared.tries.watch(key.clone(), watched);
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

/// Records how a try ended and moves its task instance on.
#[tracing::instrument(name = "try", skip_all, fields(
    dag_id = %key.dag_id, run_id = %key.run_id, task_id = %key.task_id,
    map_index = key.map_index, try_number = key.try_number,
))]
pub async fn finish_try(
    shared: &Arc<Shared>,
    key: &TryKey,
    outcome: TryOutcome,
    retryable: bool,
) -> Result<()> {
    let watched = shared.tries.finished(key);
    let ti_key = TaskInstanceKey::from(key);
    let ti = shared.store.get_task_instance(&ti_key).await?;
    let (folder, version_hash, placement, job_revision, masker) = match watched {
        Some(w) => (
            Some(w.folder),
            w.version_hash,
            w.placement,
            w.job_revision,
            Some(w.masker),
        ),
        None => {
            let record = shared.store.get_try(key).await?;
            let folder = record.and_then(|r| r.try_dir).map(TryFolder::at);
            (folder, run_version(shared, key).await?, None, None, None)
        }
    };
    let now = shared.now();

    // Only the instance's current try may move it: a cleared or marked instance stays.
    let current = ti
        .as_ref()
        .is_some_and(|t| t.state == TaskState::Running && t.try_number == key.try_number);
    let version = shared
        .catalog
        .version(&shared.store, &key.dag_id, &version_hash)
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
    let strategy = task.and_then(|(v, t)| {
        match crate::workload::need(&v.spec, t, &shared.catalog.jobs_for(v)).work {
            crate::workload::TaskWork::Container(plan) => plan.retry,
            _ => None,
        }
    });
    // A clear raised the instance's `max_tries` by the task's tries: those before count
    // against none of the retries it has now.
    let tries = strategy
        .as_ref()
        .map(|s| s.attempts)
        .or(policy.as_ref().map(|p| p.retries.saturating_add(1)));
    let earlier_tries = match (&ti, tries) {
        (Some(ti), Some(tries)) => ti.max_tries.saturating_sub(tries),
        _ => 0,
    };
    let mut end = TryEnd {
        key,
        outcome: &outcome,
        current,
        retryable,
        policy,
        strategy: strategy.as_ref(),
        never_started: 0,
        earlier_tries,
        now,
        placement: placement.as_ref().map(|running| Placement {
            running,
            price: shared
                .platform
                .environment(&running.environment)
                .map(|e| e.price)
                .unwrap_or_default(),
        }),
    };
    if end.counts_attempts() {
        end.never_started = shared.store.count_never_started_tries(&ti_key).await?;
    }
    let mut decision = try_end::decide(&end);
    // What Weir records of the try never holds a credential it was given. An adopted
    // try (the engine restarted) has its credentials resolved again for this.
    let masker = match (masker, task) {
        (Some(m), _) => m,
        (None, Some((v, _))) => {
            crate::credentials::masker_for(shared, v, key.task_id.as_str()).await
        }
        (None, None) => weir_core::mask::Masker::default(),
    };
    if !masker.is_empty() {
        decision.xcom = decision.xcom.map(|x| masker.mask_json(&x));
        decision.reason = decision.reason.map(|r| masker.mask(&r));
        for line in &mut decision.log {
            *line = masker.mask(line);
        }
    }

    if let Some(folder) = &folder {
        for line in &decision.log {
            folder.remark(line);
        }
    }
    let try_outcome = weir_store::TryOutcome {
        state: decision.try_state,
        exit_code: outcome.exit_code,
        reason: decision.reason.clone(),
        finished_at: outcome.finished_at,
        cpu_seconds: Some(outcome.cpu_seconds),
        peak_rss_bytes: Some(outcome.peak_rss_bytes),
    };
    // A success's outlets become dataset events, recorded with the try's end.
    let succeeded = decision
        .instance
        .as_ref()
        .is_some_and(|m| m.update.new_state() == TaskState::Success);
    let (events, remarks) = match (task, &ti) {
        (Some((v, t)), Some(ti)) if succeeded && !t.outlets.is_empty() => {
            crate::datasets::outlet_events(shared, key, ti, v, t, decision.xcom.as_ref()).await?
        }
        _ => (Vec::new(), Vec::new()),
    };
    if let Some(folder) = &folder {
        for line in &remarks {
            folder.remark(line);
        }
    }
    let moved = shared
        .store
        .end_try(
            key,
            &try_outcome,
            decision.xcom.as_ref().map(|v| ("return_value", v)),
            decision
                .usage
                .as_ref()
                .map(|u| (u, job_revision.as_deref())),
            decision.instance.as_ref().map(|m| &m.update),
            &events,
        )
        .await?;
    if moved && !events.is_empty() {
        shared.datasets.recorded();
    }
    crate::traces::try_finished(
        shared,
        key,
        &outcome,
        &try_outcome,
        version.as_deref(),
        placement.as_ref(),
    );
    let team = version.as_ref().map_or("", |v| v.spec.team.as_str());
    let queue = match (&placement, &ti) {
        (Some(p), _) => p.queue.as_str(),
        (None, Some(ti)) => ti.queue.as_str(),
        (None, None) => "",
    };
    let (started, ended) = (outcome.started_at, outcome.finished_at);
    let usage = decision.usage.as_ref();
    shared
        .metrics
        .try_finished(team, queue, started, ended, usage);
    let _archive = crate::log_archive::ArchiveWhenDone::new(shared, key);
    if let (Some(placement), Some(usage)) = (&placement, &decision.usage) {
        // Reserved vCPU-seconds, for the team's fair-share history.
        shared.dispatcher.add_usage(
            &placement.queue,
            &placement.team,
            shared.now(),
            usage.requested_vcpu * usage.wall_seconds,
        );
    }
    let Some(instance) = &decision.instance else {
        return Ok(());
    };
    if !moved {
        warn!(%key, "task instance changed while its try ran; its result is recorded on the try only");
        return Ok(());
    }
    if let (Some(folder), Some(line)) = (&folder, &instance.log) {
        folder.remark(line);
    }
    if let Some(at) = decision.retry_at() {
        shared.tries.retry_at(at, ti_key);
    }
    if let Some((v, t)) = task {
        let log = folder
            .as_ref()
            .map(|f| weir_compute::layout::log_path(f.path()));
        crate::notifications::after_try(
            shared,
            key,
            &v.spec,
            t,
            crate::notifications::Ended {
                state: instance.update.new_state(),
                reason: decision.reason.as_deref(),
                log: log.as_deref(),
                masker: &masker,
            },
        )
        .await;
    }
    info!(%key, state = %decision.try_state, reason = decision.reason.as_deref().unwrap_or(""), "try finished");
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
