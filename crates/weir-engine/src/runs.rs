//! The life of DAG runs: creating them with their task instances, starting queued ones
//! within `max_active_runs`, planning them (weir-core's planner decides, this module
//! writes), fanning out mapped tasks, clearing and marking.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use tracing::{info, warn};
use weir_core::ids::{DagId, RunId, TaskId, UNMAPPED};
use weir_core::lifecycle::run::{FanOut, fan_out, marked_with_run, planned};
use weir_core::plan::{TiView, plan_run};
use weir_core::schedule::{self, Schedule};
use weir_core::state::{DagRunState, RunType, TaskState};
use weir_store::{
    DagRunFilter, DagRunRecord, NewDagRun, NewTaskInstance, StoreError, TaskInstanceRecord,
    TaskInstanceUpdate,
};

use crate::dag_cache::DagVersion;
use crate::error::{EngineError, Result};
use crate::handle::ClearRequest;
use crate::shared::Shared;

/// Airflow's run id form: `manual__2026-01-01T00:00:00+00:00`, with the fraction of a
/// second when the logical date has one (two manual triggers in one second differ).
pub fn run_id_for(run_type: RunType, logical_date: DateTime<Utc>) -> String {
    format!(
        "{}__{}",
        run_type.as_str(),
        logical_date.to_rfc3339_opts(SecondsFormat::AutoSi, false)
    )
}

/// A task instance to create, with the tries, pool and queue its task (or the task's job
/// definition) asks for.
fn new_instance(
    version: &DagVersion,
    jobs: &weir_core::job_def::JobCatalog,
    task_id: &TaskId,
    task: &weir_core::spec::model::TaskSpec,
    map_index: i32,
) -> NewTaskInstance {
    let eff = version.spec.effective(task);
    let need = crate::workload::need(&version.spec, task, jobs);
    let job_attempts = match &need.work {
        crate::workload::TaskWork::Container(plan) => plan.retry.as_ref().map(|r| r.attempts),
        _ => None,
    };
    NewTaskInstance {
        task_id: task_id.clone(),
        map_index,
        max_tries: job_attempts.unwrap_or(eff.retries.saturating_add(1)),
        pool: eff.pool,
        queue: need.queue,
        priority_weight: 1,
    }
}

/// The task instances a new run starts with: one per task, a placeholder for mapped ones.
pub fn initial_task_instances(
    version: &DagVersion,
    jobs: &weir_core::job_def::JobCatalog,
) -> Vec<NewTaskInstance> {
    version
        .spec
        .tasks
        .iter()
        .map(|(id, task)| new_instance(version, jobs, id, task, UNMAPPED))
        .collect()
}

fn schedule_of(version: &DagVersion) -> Schedule {
    let Some(spec) = &version.spec.schedule else {
        return Schedule::Manual;
    };
    match (spec.cron(), spec.datasets()) {
        (Some(expr), _) => schedule::parse_schedule(expr).unwrap_or(Schedule::Manual),
        (None, Some(datasets)) => Schedule::datasets(datasets.uris().to_vec()),
        (None, None) => Schedule::Manual,
    }
}

/// Creates a run (queued) with its task instances on the DAG's latest version.
pub async fn create_run(
    shared: &Shared,
    dag_id: &DagId,
    run_type: RunType,
    logical_date: DateTime<Utc>,
    conf: Value,
    run_id: Option<RunId>,
) -> Result<DagRunRecord> {
    let version = shared.catalog.latest(&shared.store, dag_id).await?;
    let run_id = match run_id {
        Some(id) => id,
        None => RunId::new(run_id_for(run_type, logical_date))
            .map_err(|e| EngineError::InvalidRequest(format!("cannot make a run id: {e}")))?,
    };
    let schedule = schedule_of(&version);
    let interval = match run_type {
        RunType::Manual => {
            schedule::infer_manual_data_interval(&schedule, version.tz, logical_date)
        }
        _ => schedule::data_interval_for(&schedule, version.tz, logical_date),
    };
    let new = NewDagRun {
        dag_id: dag_id.clone(),
        run_id,
        version_hash: version.hash.clone(),
        run_type,
        state: DagRunState::Queued,
        logical_date,
        data_interval_start: Some(interval.start),
        data_interval_end: Some(interval.end),
        conf,
        external_trigger: run_type == RunType::Manual,
        queued_at: shared.now(),
    };
    let run = shared
        .store
        .create_dag_run_with_tasks(
            &new,
            &initial_task_instances(&version, &shared.catalog.jobs_for(&version)),
        )
        .await?;
    info!(dag_id = %run.dag_id, run_id = %run.run_id, "DAG run created");
    Ok(run)
}

pub async fn backfill(
    shared: &Shared,
    dag_id: &DagId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    conf: Value,
) -> Result<Vec<DagRunRecord>> {
    let version = shared.catalog.latest(&shared.store, dag_id).await?;
    let schedule = schedule_of(&version);
    if !schedule.is_time_based() {
        return Err(EngineError::InvalidRequest(format!(
            "DAG `{dag_id}` has no time-based schedule, so there are no intervals to backfill; trigger it instead"
        )));
    }
    let intervals = schedule::intervals_between(&schedule, version.tz, from, to);
    let mut created = Vec::new();
    for info in intervals.runs {
        match create_run(
            shared,
            dag_id,
            RunType::Backfill,
            info.logical_date,
            conf.clone(),
            None,
        )
        .await
        {
            Ok(run) => created.push(run),
            Err(EngineError::Store(StoreError::RunExists { .. })) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

/// Starts queued runs, oldest logical date first, while their DAG is unpaused and below
/// `max_active_runs`. Returns the runs it started.
pub async fn start_queued_runs(shared: &Shared) -> Result<Vec<(DagId, RunId)>> {
    let queued = shared
        .store
        .list_dag_runs(&DagRunFilter {
            states: vec![DagRunState::Queued],
            descending: false,
            limit: 1000,
            ..DagRunFilter::default()
        })
        .await?;
    let mut started = Vec::new();
    let mut room: std::collections::HashMap<DagId, i64> = std::collections::HashMap::new();
    for run in queued.items {
        if !shared.replica.holds(&run.dag_id) {
            continue;
        }
        if !room.contains_key(&run.dag_id) {
            let Some(dag) = shared.store.get_dag(&run.dag_id).await? else {
                continue;
            };
            let free = if dag.is_paused {
                0
            } else {
                let running = shared
                    .store
                    .count_dag_runs_in_states(&run.dag_id, &[DagRunState::Running])
                    .await?;
                i64::from(dag.max_active_runs) - running
            };
            room.insert(run.dag_id.clone(), free);
        }
        let free = room.get_mut(&run.dag_id).map_or(0, |f| {
            *f -= 1;
            *f + 1
        });
        if free <= 0 {
            continue;
        }
        let now = shared.now();
        if shared
            .store
            .set_dag_run_state(
                &run.dag_id,
                &run.run_id,
                DagRunState::Queued,
                DagRunState::Running,
                now,
            )
            .await?
        {
            info!(dag_id = %run.dag_id, run_id = %run.run_id, "DAG run started");
            started.push((run.dag_id, run.run_id));
        }
    }
    Ok(started)
}

/// Plans one running run and writes the decisions. Returns true if the run finished.
#[tracing::instrument(name = "dag_run", skip_all, fields(dag_id = %dag_id, run_id = %run_id))]
pub async fn process_run(shared: &Arc<Shared>, dag_id: &DagId, run_id: &RunId) -> Result<bool> {
    if !shared.replica.holds(dag_id) {
        // Another replica plans it: tell it something changed here (a try this replica
        // watched ended, a retry became due).
        crate::replicas::announce::tell_others(
            shared,
            &crate::events::Event::RunChanged {
                dag_id: dag_id.clone(),
                run_id: run_id.clone(),
            },
        );
        return Ok(false);
    }
    let Some(run) = shared.store.get_dag_run(dag_id, run_id).await? else {
        return Ok(false);
    };
    if run.state != DagRunState::Running {
        return Ok(false);
    }
    let version = shared
        .catalog
        .version(&shared.store, dag_id, &run.version_hash)
        .await?;
    // Fanning out adds instances that need planning in turn; a DAG can only nest so deep.
    for _ in 0..=version.spec.tasks.len() {
        let tis = shared.store.list_task_instances(dag_id, run_id).await?;
        let views: Vec<TiView> = tis
            .iter()
            .map(|t| TiView {
                task_id: t.key.task_id.clone(),
                map_index: t.key.map_index,
                state: t.state,
            })
            .collect();
        let plan = plan_run(&version.spec, &version.graph, &views);
        let now = shared.now();
        for (task_id, map_index, state) in &plan.set_state {
            let Some(ti) = tis
                .iter()
                .find(|t| t.key.task_id == *task_id && t.key.map_index == *map_index)
            else {
                continue;
            };
            shared
                .store
                .update_task_instance(&ti.key, &planned(*state, now))
                .await?;
        }
        if !plan.expand.is_empty() {
            for task_id in &plan.expand {
                expand(shared, &run, &version, task_id).await?;
            }
            continue;
        }
        if let Some(state) = plan.run_state {
            let done = shared
                .store
                .set_dag_run_state(dag_id, run_id, DagRunState::Running, state, now)
                .await?;
            if done {
                info!(%dag_id, %run_id, %state, "DAG run finished");
                if let Some(ended) = shared.store.get_dag_run(dag_id, run_id).await? {
                    crate::notifications::after_run(shared, &version.spec, &ended).await;
                }
                crate::traces::run_finished(shared, &run, state, now).await;
            }
            return Ok(done);
        }
        return Ok(false);
    }
    Ok(false)
}

/// Resolves a mapped task's `for_each` and replaces its placeholder by one instance per
/// item; an empty list skips it, an unusable one fails it with the reason as its note.
async fn expand(
    shared: &Shared,
    run: &DagRunRecord,
    version: &DagVersion,
    task_id: &TaskId,
) -> Result<()> {
    let Some(task) = version.spec.tasks.get(task_id) else {
        return Ok(());
    };
    let key = weir_store::TaskInstanceKey {
        dag_id: run.dag_id.clone(),
        run_id: run.run_id.clone(),
        task_id: task_id.clone(),
        map_index: UNMAPPED,
    };
    let ctx = crate::render::context(&shared.store, run, version, task_id, UNMAPPED, 1).await?;
    let now = shared.now();
    let items = crate::render::for_each_items(task, &ctx);
    if let Err(reason) = &items {
        warn!(dag_id = %run.dag_id, run_id = %run.run_id, %task_id, %reason, "cannot fan out");
    }
    match fan_out(items.as_ref().map(Vec::len).map_err(Clone::clone), now) {
        FanOut::Settle(settled) => {
            shared.store.update_task_instance(&key, &settled).await?;
        }
        FanOut::Expand(count) => {
            let jobs = shared.catalog.jobs_for(version);
            let new: Vec<NewTaskInstance> = (0..count)
                .map(|i| {
                    new_instance(
                        version,
                        &jobs,
                        task_id,
                        task,
                        i32::try_from(i).unwrap_or(i32::MAX),
                    )
                })
                .collect();
            shared
                .store
                .expand_mapped_task(&run.dag_id, &run.run_id, task_id, &new)
                .await?;
            info!(dag_id = %run.dag_id, run_id = %run.run_id, %task_id, items = count, "task fanned out");
        }
    }
    Ok(())
}

/// Moves task instances whose retry delay has passed, and sensors due for their next
/// check, back to `scheduled`. Returns the runs they belong to.
pub async fn promote_due_retries(shared: &Shared) -> Result<BTreeSet<(DagId, RunId)>> {
    let now = shared.now();
    let retries = shared.tries.take_due_retries(now);
    let checks = shared.tries.take_due_reschedules(now);
    let due = retries
        .into_iter()
        .map(|key| (key, TaskInstanceUpdate::PromoteRetry))
        .chain(
            checks
                .into_iter()
                .map(|key| (key, TaskInstanceUpdate::PromoteReschedule)),
        );
    let mut runs = BTreeSet::new();
    for (key, promote) in due {
        // Compare-and-set: an instance cleared or marked while it waited stays as it is.
        if shared.store.update_task_instance(&key, &promote).await? {
            runs.insert((key.dag_id, key.run_id));
        }
    }
    Ok(runs)
}

/// Asks the backend to stop the try of a running instance: here if this engine watches
/// it, else through the replica that does.
pub fn cancel_running(shared: &Shared, ti: &TaskInstanceRecord) {
    if !matches!(ti.state, TaskState::Running | TaskState::Queued) {
        return;
    }
    let key = ti.key.try_key(ti.try_number);
    if !shared.tries.cancel(&key) {
        // Another replica may watch it (this one serves the API, or adopted nothing).
        crate::replicas::announce::cancel_elsewhere(shared, &key);
    }
}

pub async fn clear(
    shared: &Shared,
    dag_id: &DagId,
    req: &ClearRequest,
) -> Result<Vec<TaskInstanceRecord>> {
    let runs: Vec<DagRunRecord> = match &req.run_id {
        Some(run_id) => vec![
            shared
                .store
                .get_dag_run(dag_id, run_id)
                .await?
                .ok_or_else(|| EngineError::DagRunNotFound {
                    dag_id: dag_id.clone(),
                    run_id: run_id.clone(),
                })?,
        ],
        None => {
            if shared.store.get_dag(dag_id).await?.is_none() {
                return Err(EngineError::DagNotFound(dag_id.clone()));
            }
            shared
                .store
                .list_dag_runs(&DagRunFilter {
                    dag_id: Some(dag_id.clone()),
                    logical_date_gte: req.start_date,
                    logical_date_lte: req.end_date,
                    limit: 10_000,
                    ..DagRunFilter::default()
                })
                .await?
                .items
        }
    };
    let latest = if req.run_on_latest_version {
        shared
            .store
            .get_dag(dag_id)
            .await?
            .ok_or_else(|| EngineError::DagNotFound(dag_id.clone()))?
            .latest_version
    } else {
        None
    };
    let mut cleared = Vec::new();
    for run in runs {
        let hash = latest.as_ref().unwrap_or(&run.version_hash);
        let version = shared.catalog.version(&shared.store, dag_id, hash).await?;
        let mut chosen: BTreeSet<TaskId> = match &req.task_ids {
            Some(ids) => ids.iter().cloned().collect(),
            None => version.spec.tasks.keys().cloned().collect(),
        };
        if req.include_downstream {
            let extra: Vec<TaskId> = chosen
                .iter()
                .filter_map(|t| version.graph.index_of(t))
                .flat_map(|i| version.graph.descendants(i))
                .map(|j| version.graph.ids[j].clone())
                .collect();
            chosen.extend(extra);
        }
        let tis = shared
            .store
            .list_task_instances(dag_id, &run.run_id)
            .await?;
        let present: BTreeSet<TaskId> = tis.iter().map(|t| t.key.task_id.clone()).collect();
        let picked: Vec<TaskInstanceRecord> = tis
            .into_iter()
            .filter(|t| chosen.contains(&t.key.task_id))
            .filter(|t| !req.only_failed || t.state.is_failure())
            .collect();
        if picked.is_empty() {
            continue;
        }
        if !req.dry_run {
            if *hash != run.version_hash {
                shared
                    .store
                    .set_dag_run_version(dag_id, &run.run_id, hash)
                    .await?;
                // Tasks new in that version get their instances.
                let jobs = shared.catalog.jobs_for(&version);
                let new: Vec<NewTaskInstance> = initial_task_instances(&version, &jobs)
                    .into_iter()
                    .filter(|t| !present.contains(&t.task_id))
                    .collect();
                shared
                    .store
                    .create_task_instances(dag_id, &run.run_id, &new)
                    .await?;
                info!(dag = %dag_id, run = %run.run_id, version = %hash, "cleared onto the latest version");
            }
            let jobs = shared.catalog.jobs_for(&version);
            for ti in &picked {
                cancel_running(shared, ti);
                // A clear gives the task its retries again (Airflow's `max_tries` grows).
                let tries = version
                    .spec
                    .tasks
                    .get(ti.key.task_id.as_str())
                    .map(|task| {
                        new_instance(&version, &jobs, &ti.key.task_id, task, UNMAPPED).max_tries
                    })
                    .unwrap_or(1);
                let clear = TaskInstanceUpdate::Clear {
                    expected: ti.state,
                    max_tries: weir_core::lifecycle::fresh_max_tries(ti.try_number, tries),
                };
                shared.store.update_task_instance(&ti.key, &clear).await?;
                shared.store.clear_xcoms(&ti.key).await?;
            }
            // A mapped task cleared as a whole fans out again from its placeholder.
            restore_placeholders(shared, &run, &version, &picked).await?;
            if run.state.is_finished() {
                shared
                    .store
                    .set_dag_run_state(
                        dag_id,
                        &run.run_id,
                        run.state,
                        DagRunState::Queued,
                        shared.now(),
                    )
                    .await?;
            }
        }
        cleared.extend(picked);
    }
    Ok(cleared)
}

/// After clearing every instance of a mapped task, put its placeholder back so the task
/// fans out again over what its upstream yields next time.
async fn restore_placeholders(
    shared: &Shared,
    run: &DagRunRecord,
    version: &DagVersion,
    picked: &[TaskInstanceRecord],
) -> Result<()> {
    let jobs = shared.catalog.jobs_for(version);
    let placeholders: Vec<NewTaskInstance> = initial_task_instances(version, &jobs)
        .into_iter()
        .filter(|t| {
            version
                .spec
                .tasks
                .get(&t.task_id)
                .is_some_and(|s| s.for_each.is_some())
        })
        .filter(|t| {
            picked
                .iter()
                .any(|p| p.key.task_id == t.task_id && p.key.map_index != UNMAPPED)
        })
        .collect();
    if placeholders.is_empty() {
        return Ok(());
    }
    for p in &placeholders {
        shared
            .store
            .delete_mapped_instances(&run.dag_id, &run.run_id, &p.task_id)
            .await?;
    }
    shared
        .store
        .create_task_instances(&run.dag_id, &run.run_id, &placeholders)
        .await?;
    Ok(())
}

pub async fn set_run_state(
    shared: &Shared,
    dag_id: &DagId,
    run_id: &RunId,
    state: DagRunState,
) -> Result<DagRunRecord> {
    let run = shared
        .store
        .get_dag_run(dag_id, run_id)
        .await?
        .ok_or_else(|| EngineError::DagRunNotFound {
            dag_id: dag_id.clone(),
            run_id: run_id.clone(),
        })?;
    match state {
        DagRunState::Success | DagRunState::Failed => {
            let now = shared.now();
            for ti in shared.store.list_task_instances(dag_id, run_id).await? {
                let Some(update) = marked_with_run(state, ti.state, now) else {
                    continue;
                };
                cancel_running(shared, &ti);
                shared.store.update_task_instance(&ti.key, &update).await?;
            }
            if shared
                .store
                .set_dag_run_state(dag_id, run_id, run.state, state, now)
                .await?
            {
                crate::traces::run_finished(shared, &run, state, now).await;
            }
        }
        DagRunState::Queued => {
            let req = ClearRequest {
                run_id: Some(run_id.clone()),
                ..ClearRequest::default()
            };
            clear(shared, dag_id, &req).await?;
        }
        DagRunState::Running => {
            return Err(EngineError::InvalidRequest(
                "a run can be set to `success`, `failed` or `queued`; it starts running by itself"
                    .into(),
            ));
        }
    }
    shared
        .store
        .get_dag_run(dag_id, run_id)
        .await?
        .ok_or_else(|| EngineError::DagRunNotFound {
            dag_id: dag_id.clone(),
            run_id: run_id.clone(),
        })
}
