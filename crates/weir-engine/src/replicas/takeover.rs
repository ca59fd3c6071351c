//! Takeover: what a replica does with DAGs it has just claimed, and with tries that no
//! live replica watches.
//!
//! - Claimed DAGs: their queued and running runs are planned at once (the previous
//!   holder may have died half-way), their schedules are looked at, and the retry and
//!   sensor timers of their waiting task instances — which lived in the dead replica's
//!   memory — are set again from the store, where every instance keeps its due time.
//! - Orphaned tries (their replica's lease ran out): the replica adopts each one it
//!   can reach, through the backend that ran it, exactly as a restarted standalone
//!   server does (`crate::recovery`). A try's move to its new replica is
//!   compare-and-set, so of several replicas trying, one adopts it. Tries of a
//!   host-bound backend (local processes, the local Docker daemon) are adopted only by a
//!   replica on the same host: elsewhere their processes and folders do not exist.

use std::collections::HashSet;
use std::sync::Arc;

use tracing::{debug, info};
use weir_core::ids::DagId;
use weir_core::state::DagRunState;
use weir_store::DagRunFilter;

use crate::error::Result;
use crate::events::Event;
use crate::shared::Shared;

/// Starts planning the DAGs just claimed.
pub(crate) async fn take_dags(shared: &Arc<Shared>, claimed: &[DagId]) -> Result<()> {
    shared.replica.add_held(claimed);
    let wanted: HashSet<&DagId> = claimed.iter().collect();
    crate::recovery::restore_timers(shared, |d| wanted.contains(d)).await?;
    let runs = plan_unfinished_runs(shared, |d| wanted.contains(d)).await?;
    shared.notify_here(Event::DagsChanged);
    info!(
        dags = claimed.len(),
        runs, "claimed DAGs; planning their runs here from now on"
    );
    Ok(())
}

/// Wakes this replica's loop for every queued or running run of the DAGs `wanted`
/// picks; returns how many.
async fn plan_unfinished_runs(shared: &Shared, wanted: impl Fn(&DagId) -> bool) -> Result<usize> {
    let page = shared
        .store
        .list_dag_runs(&DagRunFilter {
            states: vec![DagRunState::Queued, DagRunState::Running],
            limit: 10_000,
            ..DagRunFilter::default()
        })
        .await?;
    let mut runs = 0;
    for run in page.items.into_iter().filter(|r| wanted(&r.dag_id)) {
        shared.notify_here(Event::RunChanged {
            dag_id: run.dag_id,
            run_id: run.run_id,
        });
        runs += 1;
    }
    Ok(runs)
}

/// Adopts the tries no live replica watches, where this replica can.
pub(crate) async fn adopt_orphans(shared: &Arc<Shared>) -> Result<()> {
    let orphans = shared.store.orphaned_tries(shared.now()).await?;
    let mut adopted = 0;
    for (record, host) in orphans {
        let host_bound = shared
            .backends
            .of_record(record.executor.as_deref())
            .is_ok_and(|b| b.host_bound());
        if host_bound && host.as_deref().is_some_and(|h| h != shared.config.hostname) {
            debug!(key = %record.key, host = host.as_deref().unwrap_or(""), "an orphaned try runs on another host; a replica there adopts it");
            continue;
        }
        if crate::recovery::adopt_try(shared, record).await? {
            adopted += 1;
        }
    }
    if adopted > 0 {
        info!(adopted, "adopted tries of replicas whose lease ran out");
    }
    Ok(())
}

/// Plans again every unfinished run of the DAGs this replica holds: announcements are
/// wake-ups that can be missed (a listener's connection dropped), the store is not.
pub(crate) async fn look_again(shared: &Arc<Shared>) -> Result<()> {
    plan_unfinished_runs(shared, |d| shared.replica.holds(d)).await?;
    Ok(())
}
