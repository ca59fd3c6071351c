//! The dispatcher: places scheduled task instances on compute environments through
//! weir-core's fair-share planner (queue priority, FIFO or fair share by team, capacity
//! never exceeded), within the engine's parallelism, each DAG's `max_active_tasks` and
//! each pool's slots; fails at once what can never fit; records why the rest waits.
//! Sensors take none of these: they are handed to `crate::sensors` to be checked.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tracing::warn;
use weir_core::fair_share::{self, DispatchInput, Hold, TeamUsage, WaitingTry};
use weir_core::ids::{DagId, RunId};
use weir_core::state::{DagRunState, TaskState};
use weir_store::{DagRunRecord, TaskInstanceKey, TaskInstanceRecord, TaskInstanceUpdate};

use crate::error::Result;
use crate::launch::{Started, start_try};
use crate::queues::WaitingView;
use crate::shared::Shared;
use crate::workload::{Need, TaskWork, need};

/// Dispatches what may run now. Returns the runs in which something finished on the
/// spot (noop, refused or never-fitting tasks), which need planning again.
pub async fn dispatch(shared: &Arc<Shared>) -> Result<BTreeSet<(DagId, RunId)>> {
    let mut replan = BTreeSet::new();
    let scheduled = shared
        .store
        .list_task_instances_in_states(&[TaskState::Scheduled])
        .await?;
    let now = shared.now();
    shared
        .metrics
        .saw_scheduled(scheduled.iter().map(|t| &t.key), now);
    let mut runs: HashMap<(DagId, RunId), Option<DagRunRecord>> = HashMap::new();
    let mut dag_room: HashMap<DagId, i64> = HashMap::new();
    let mut pool_room: HashMap<String, PoolRoom> = HashMap::new();
    let mut waiting: Vec<WaitingTry<TaskInstanceKey>> = Vec::new();
    let mut candidates: HashMap<TaskInstanceKey, (TaskInstanceRecord, DagRunRecord, Need)> =
        HashMap::new();

    // Among replicas, each dispatches the DAGs it holds.
    for ti in scheduled
        .into_iter()
        .filter(|ti| shared.replica.holds(&ti.key.dag_id))
    {
        let run_key = (ti.key.dag_id.clone(), ti.key.run_id.clone());
        if !runs.contains_key(&run_key) {
            let run = shared
                .store
                .get_dag_run(&ti.key.dag_id, &ti.key.run_id)
                .await?;
            runs.insert(run_key.clone(), run);
        }
        let Some(Some(run)) = runs.get(&run_key) else {
            continue;
        };
        if run.state != DagRunState::Running {
            continue;
        }
        let version = shared
            .catalog
            .version(&shared.store, &run.dag_id, &run.version_hash)
            .await?;
        let Some(task) = version.spec.tasks.get(ti.key.task_id.as_str()) else {
            let note = format!(
                "task `{}` is not in version {} of the DAG",
                ti.key.task_id, version.hash
            );
            fail_now(shared, &ti, note).await?;
            replan.insert(run_key);
            continue;
        };
        if let weir_core::spec::model::TaskKind::Sensor(sensor) = &task.kind {
            // Checked off this pass; never counted against parallelism, the DAG's
            // `max_active_tasks`, its pool or any capacity.
            crate::sensors::poke(shared, run, version.clone(), &ti, sensor);
            continue;
        }
        let need = need(&version.spec, task, &shared.catalog.jobs_for(&version));
        let inline = matches!(need.work, TaskWork::Inline);
        let workload = need.workload();
        if workload.is_none() && !inline {
            // Noop and refused kinds take no capacity: settle them now.
            start_try(shared, run, &version, &ti, &need, None).await?;
            replan.insert(run_key);
            continue;
        }
        if !dag_room.contains_key(&ti.key.dag_id) {
            let busy = shared.store.count_running_for_dag(&ti.key.dag_id).await?;
            dag_room.insert(
                ti.key.dag_id.clone(),
                i64::from(version.spec.max_active_tasks) - busy,
            );
        }
        if dag_room.get(&ti.key.dag_id).is_some_and(|room| *room <= 0) {
            continue;
        }
        if !pool_room.contains_key(&ti.pool) {
            let room = match shared.store.get_pool(&ti.pool).await? {
                Some(pool) if pool.slots < 0 => PoolRoom::Unlimited,
                Some(pool) => PoolRoom::Slots(
                    i64::from(pool.slots) - shared.store.count_running_in_pool(&ti.pool).await?,
                ),
                None => PoolRoom::Missing,
            };
            pool_room.insert(ti.pool.clone(), room);
        }
        let hold = match pool_room.get(&ti.pool) {
            Some(PoolRoom::Missing) => {
                let note = format!(
                    "pool `{0}` does not exist: a platform admin creates it (`weir pools set {0} SLOTS`, or `POST /api/v1/pools`), or remove `pool:` from the task",
                    ti.pool
                );
                fail_now(shared, &ti, note).await?;
                replan.insert(run_key);
                continue;
            }
            Some(PoolRoom::Slots(room)) if *room <= 0 => Some(Hold::Pool {
                pool: ti.pool.clone(),
            }),
            _ => None,
        };
        if inline {
            // Work the server does itself has no environment to be placed in: it starts
            // now, within the parallelism, the DAG's `max_active_tasks` and its pool.
            if hold.is_none() && shared.tries.in_flight() < shared.config.parallelism {
                match start_try(shared, run, &version, &ti, &need, None).await {
                    Ok(Started::Launched) => {
                        if let Some(room) = dag_room.get_mut(&ti.key.dag_id) {
                            *room -= 1;
                        }
                        if let Some(PoolRoom::Slots(room)) = pool_room.get_mut(&ti.pool) {
                            *room -= 1;
                        }
                    }
                    Ok(Started::Finished) => {
                        replan.insert(run_key);
                    }
                    Ok(Started::Lost) => {}
                    Err(e) => warn!(ti = %ti.key, error = %e, "cannot start task instance"),
                }
            }
            continue;
        }
        let Some(workload) = workload else {
            continue;
        };
        waiting.push(WaitingTry {
            id: ti.key.clone(),
            queue: need.queue.clone(),
            team: version.spec.team.clone(),
            workload,
            request: need.request,
            enqueued_at: run.queued_at.unwrap_or(run.logical_date),
            sequence: waiting.len() as u64,
            hold,
        });
        candidates.insert(ti.key.clone(), (ti, run.clone(), need));
    }

    let running: Vec<fair_share::RunningTry> = shared.tries.placements();
    let usage: Vec<TeamUsage> = shared.dispatcher.usage();
    let needs_docker = waiting
        .iter()
        .any(|w| w.workload == weir_core::platform::Workload::Container);
    let unavailable = if needs_docker {
        shared.backends.unavailable_environments().await
    } else {
        Vec::new()
    };
    let plan = fair_share::dispatch(&DispatchInput {
        now: shared.now(),
        config: &shared.platform,
        unavailable: &unavailable,
        running: &running,
        waiting: &waiting,
        usage: &usage,
    });

    for never in &plan.never_fit {
        if let Some((ti, run, _)) = candidates.get(&never.id) {
            fail_now(
                shared,
                ti,
                format!("this task can never run here: {}", never.error),
            )
            .await?;
            replan.insert((run.dag_id.clone(), run.run_id.clone()));
        }
    }
    let parallelism = shared.config.parallelism;
    for placed in &plan.start {
        if shared.tries.in_flight() >= parallelism {
            break;
        }
        let Some((ti, run, need)) = candidates.get(&placed.id) else {
            continue;
        };
        if dag_room.get(&ti.key.dag_id).is_some_and(|room| *room <= 0) {
            continue;
        }
        let version = shared
            .catalog
            .version(&shared.store, &run.dag_id, &run.version_hash)
            .await?;
        let request = waiting
            .iter()
            .find(|w| w.id == placed.id)
            .map(|w| w.request);
        let placement = request.map(|request| fair_share::RunningTry {
            queue: placed.queue.clone(),
            team: placed.team.clone(),
            environment: placed.environment.clone(),
            request,
        });
        match start_try(shared, run, &version, ti, need, placement).await {
            Ok(Started::Lost) => continue,
            Ok(Started::Finished) => {
                replan.insert((run.dag_id.clone(), run.run_id.clone()));
                continue;
            }
            Ok(Started::Launched) => {}
            Err(e) => {
                warn!(ti = %ti.key, error = %e, "cannot start task instance");
                continue;
            }
        }
        if let Some(room) = dag_room.get_mut(&ti.key.dag_id) {
            *room -= 1;
        }
        if let Some(PoolRoom::Slots(room)) = pool_room.get_mut(&ti.pool) {
            *room -= 1;
        }
    }
    publish_views(shared, &plan, &unavailable);
    Ok(replan)
}

async fn fail_now(shared: &Shared, ti: &TaskInstanceRecord, note: String) -> Result<()> {
    warn!(ti = %ti.key, %note, "task instance failed before it could start");
    let failed = TaskInstanceUpdate::FailBeforeStart {
        end_date: shared.now(),
        note,
    };
    shared.store.update_task_instance(&ti.key, &failed).await?;
    Ok(())
}

/// Keeps what this pass saw for the API and the CLI.
fn publish_views(
    shared: &Shared,
    plan: &fair_share::DispatchPlan<TaskInstanceKey>,
    unavailable: &[String],
) {
    let (mut queues, mut environments) = crate::queues::empty_views(&shared.platform);
    for q in &mut queues {
        q.depth = plan
            .depth
            .iter()
            .filter(|d| d.queue == q.name)
            .cloned()
            .collect();
        q.waiting = plan
            .waiting
            .iter()
            .filter(|w| w.queue == q.name)
            .map(|w| WaitingView {
                dag_id: w.id.dag_id.to_string(),
                dag_run_id: w.id.run_id.to_string(),
                task_id: w.id.task_id.to_string(),
                map_index: w.id.map_index,
                team: w.team.to_string(),
                position: w.position,
                reason_code: w.reason.code().to_string(),
                reason: w.reason.to_string(),
            })
            .collect();
        q.waiting.sort_by_key(|w| w.position);
    }
    let running: Vec<fair_share::RunningTry> = shared.tries.placements();
    for env in &mut environments {
        env.available = !unavailable.contains(&env.name);
        for r in running.iter().filter(|r| r.environment == env.name) {
            env.used_vcpus += r.request.vcpus;
            env.used_memory_bytes += r.request.memory_bytes;
        }
    }
    shared.dispatcher.publish(queues, environments);
}

/// What a pool has left for this pass.
enum PoolRoom {
    Unlimited,
    Missing,
    Slots(i64),
}
