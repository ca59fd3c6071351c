//! Start-up recovery: nothing stays stuck after a crash. Tries the store says are
//! running are adopted from their backend (or found finished, or lost and retried per
//! policy); tries the backend proves never started are closed as such and their
//! instances go back to scheduled without using a retry, as do instances queued but
//! never started; instances waiting to retry, and sensors waiting for their next check,
//! get their timers back.

use std::sync::Arc;

use tracing::{info, warn};
use weir_compute::{Adopted, TryFolder};
use weir_core::state::TaskState;
use weir_store::{TaskInstanceKey, TaskInstanceUpdate};

use crate::error::Result;
use crate::events::Event;
use crate::shared::Shared;

pub async fn recover(shared: &Arc<Shared>) -> Result<()> {
    let mut adopted = 0;
    for record in shared.store.list_unfinished_tries().await? {
        if adopt_try(shared, record).await? {
            adopted += 1;
        }
    }
    // Queued but never started (the crash came between the two writes): start over.
    for ti in shared
        .store
        .list_task_instances_in_states(&[TaskState::Queued])
        .await?
    {
        let has_try = shared
            .store
            .get_try(&ti.key.try_key(ti.try_number))
            .await?
            .is_some();
        if !has_try {
            let unclaim = TaskInstanceUpdate::Unclaim {
                try_number: ti.try_number.saturating_sub(1),
            };
            shared.store.update_task_instance(&ti.key, &unclaim).await?;
        }
    }
    restore_timers(shared, |_| true).await?;
    restore_fair_share_history(shared).await?;
    if adopted > 0 {
        info!(
            adopted,
            "adopted tries that kept running while the server was down"
        );
    }
    Ok(())
}

/// Adopts one try the store says is unfinished, for this replica: it becomes this
/// replica's to watch (compare-and-set against the replica recorded, so of replicas
/// racing for it one wins), then its backend says whether it still runs (watched from
/// now on), ended meanwhile, never started (queued again) or is lost (retried per
/// policy). Returns whether it still runs.
pub(crate) async fn adopt_try(shared: &Arc<Shared>, record: weir_store::TryRecord) -> Result<bool> {
    if !shared
        .store
        .adopt_try(
            &record.key,
            record.replica_id.as_deref(),
            &shared.replica.id,
        )
        .await?
    {
        return Ok(false);
    }
    let key = record.key.clone();
    let Some(dir) = record.try_dir.clone() else {
        // Recorded but never given a folder: it never started.
        requeue_never_started(shared, &record, "it was never given a try folder").await?;
        return Ok(false);
    };
    let adopted_try = match shared.backends.of_record(record.executor.as_deref()) {
        Ok(backend) => backend.adopt(key.clone(), (&dir).into()).await,
        Err(e) => Err(e),
    };
    match adopted_try {
        Ok(Adopted::Running(running)) => {
            let folder = TryFolder::at(running.try_dir());
            let watched =
                watched_after_restart(shared, &key, running.cancel_handle(), folder).await?;
            crate::launch::watch(shared, key, running, watched);
            return Ok(true);
        }
        Ok(Adopted::NeverStarted(why)) => {
            requeue_never_started(shared, &record, &why).await?;
        }
        Ok(Adopted::Finished(outcome)) => {
            shared.notify(Event::TryFinished {
                key,
                outcome,
                retryable: true,
            });
        }
        Err(e) => {
            warn!(%key, error = %e, "cannot adopt try; counting it as lost");
            let outcome = weir_compute::TryOutcome::without_usage(
                weir_compute::EndReason::Lost(e.to_string()),
                record.started_at,
                shared.now(),
            );
            shared.notify(Event::TryFinished {
                key,
                outcome,
                retryable: true,
            });
        }
    }
    Ok(false)
}

/// Sets again, from the store, the timers of the instances waiting to retry and of the
/// sensors waiting for their next check, for the DAGs `wanted` picks: they lived in the
/// memory of a process that is gone.
pub(crate) async fn restore_timers(
    shared: &Shared,
    wanted: impl Fn(&weir_core::ids::DagId) -> bool,
) -> Result<()> {
    for ti in shared
        .store
        .list_task_instances_in_states(&[TaskState::UpForRetry, TaskState::UpForReschedule])
        .await?
        .into_iter()
        .filter(|ti| wanted(&ti.key.dag_id))
    {
        let at = ti.next_retry_at.unwrap_or_else(|| shared.now());
        if ti.state == TaskState::UpForRetry {
            shared.tries.retry_at(at, ti.key);
        } else {
            shared.tries.reschedule_at(at, ti.key);
        }
    }
    Ok(())
}

/// Closes a try that never started (its record says `never started: why`, state
/// `scheduled`) and puts its task instance back to scheduled, with its try number
/// unchanged: the next try gets the next number, but tries closed this way do not count
/// against the task's retries (see `launch::finish_try`).
async fn requeue_never_started(
    shared: &Arc<Shared>,
    record: &weir_store::TryRecord,
    why: &str,
) -> Result<()> {
    let key = &record.key;
    let ti_key = TaskInstanceKey::from(key);
    let ti = shared.store.get_task_instance(&ti_key).await?;
    // Only the instance's current try may move it: a cleared or marked instance stays.
    let current = ti
        .as_ref()
        .is_some_and(|t| t.state == TaskState::Running && t.try_number == key.try_number);
    let decision = weir_core::lifecycle::try_end::never_started(key, why, current);
    let outcome = weir_store::TryOutcome {
        state: decision.try_state,
        exit_code: None,
        reason: decision.reason.clone(),
        finished_at: shared.now(),
        cpu_seconds: None,
        peak_rss_bytes: None,
    };
    let moved = shared
        .store
        .end_try(
            key,
            &outcome,
            None,
            None,
            decision.instance.as_ref().map(|m| &m.update),
            &[],
        )
        .await?;
    if let Some(folder) = record.try_dir.as_deref().map(TryFolder::at)
        && folder.path().is_dir()
    {
        for line in &decision.log {
            folder.remark(line);
        }
    }
    if moved {
        let reason = decision.reason.as_deref().unwrap_or("");
        info!(%key, reason, "try never started; queued again without using a retry");
    }
    Ok(())
}

/// What the engine would have remembered of an adopted try: its version, and where the
/// dispatcher would place it (so capacity and fair share count it).
async fn watched_after_restart(
    shared: &Shared,
    key: &weir_core::ids::TryKey,
    cancel: weir_compute::CancelHandle,
    folder: TryFolder,
) -> Result<crate::tries::Watched> {
    let run = shared.store.get_dag_run(&key.dag_id, &key.run_id).await?;
    let version_hash = run.map(|r| r.version_hash).unwrap_or_default();
    let mut placement = None;
    let mut job_revision = None;
    let mut masker = weir_core::mask::Masker::default();
    if let Ok(version) = shared
        .catalog
        .version(&shared.store, &key.dag_id, &version_hash)
        .await
        && let Some(task) = version.spec.tasks.get(key.task_id.as_str())
    {
        let jobs = shared.catalog.jobs_for(&version);
        let need = crate::workload::need(&version.spec, task, &jobs);
        if let crate::workload::TaskWork::Container(plan) = &need.work {
            job_revision = plan.job_revision.clone();
        }
        let environment = need
            .workload()
            .and_then(|w| shared.platform.environment_for(&need.queue, w));
        placement = environment.map(|environment| weir_core::fair_share::RunningTry {
            queue: need.queue.clone(),
            team: version.spec.team.clone(),
            environment,
            request: need.request,
        });
        // The adopted try's credentials, resolved again: its masker died with the
        // previous process.
        masker = crate::credentials::masker_for(shared, &version, key.task_id.as_str()).await;
    }
    Ok(crate::tries::Watched {
        cancel,
        folder,
        version_hash,
        placement,
        job_revision,
        masker,
    })
}

/// Rebuilds each team's fair-share history from the usage records of the last week, so
/// a restart does not hand a heavy team a clean slate.
pub(crate) async fn restore_fair_share_history(shared: &Shared) -> Result<()> {
    let now = shared.now();
    let records = shared
        .store
        .list_usage(now - chrono::TimeDelta::days(7), None)
        .await?;
    for r in records {
        let ended =
            r.started_at + chrono::TimeDelta::milliseconds((r.wall_seconds * 1000.0) as i64);
        shared
            .dispatcher
            .add_usage(&r.queue, &r.team, ended, r.requested_vcpu * r.wall_seconds);
    }
    Ok(())
}
