//! The dispatcher: hands scheduled task instances to backends, within the engine's
//! parallelism, each DAG's `max_active_tasks` and each pool's slots.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tracing::warn;
use weir_core::ids::{DagId, RunId};
use weir_core::state::{DagRunState, TaskState};
use weir_store::{DagRunRecord, TaskInstanceUpdate};

use crate::error::Result;
use crate::launch::{Started, start_try};
use crate::service::Shared;

/// Dispatches what may run now. Returns the runs in which something finished on the
/// spot (noop tasks), which need planning again.
pub async fn dispatch(shared: &Arc<Shared>) -> Result<BTreeSet<(DagId, RunId)>> {
    let mut replan = BTreeSet::new();
    let parallelism = shared.config.parallelism;
    if shared.in_flight() >= parallelism {
        return Ok(replan);
    }
    let scheduled = shared
        .store
        .list_task_instances_in_states(&[TaskState::Scheduled])
        .await?;
    if scheduled.is_empty() {
        return Ok(replan);
    }
    let mut runs: HashMap<(DagId, RunId), Option<DagRunRecord>> = HashMap::new();
    let mut dag_room: HashMap<DagId, i64> = HashMap::new();
    let mut pool_room: HashMap<String, PoolRoom> = HashMap::new();
    for ti in scheduled {
        if shared.in_flight() >= parallelism {
            break;
        }
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
            .cache
            .get(&shared.store, &run.dag_id, &run.version_hash)
            .await?;

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
        match pool_room.get(&ti.pool) {
            Some(PoolRoom::Missing) => {
                let mut u = TaskInstanceUpdate::new(
                    ti.key.clone(),
                    TaskState::Scheduled,
                    TaskState::Failed,
                );
                u.end_date = Some(Some(shared.now()));
                u.note = Some(Some(format!(
                    "pool `{}` does not exist: create it (`POST /api/v1/pools`) or remove `pool:` from the task",
                    ti.pool
                )));
                warn!(ti = %ti.key, pool = %ti.pool, "task instance names an unknown pool");
                shared.store.update_task_instance(&u).await?;
                replan.insert(run_key);
                continue;
            }
            Some(PoolRoom::Slots(room)) if *room <= 0 => continue,
            _ => {}
        }
        match start_try(shared, run, &version, &ti).await {
            Ok(Started::Lost) => continue,
            Ok(Started::Finished) => {
                replan.insert(run_key);
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
    Ok(replan)
}

/// What a pool has left for this pass.
enum PoolRoom {
    Unlimited,
    Missing,
    Slots(i64),
}
