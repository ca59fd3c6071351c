//! The heartbeat and the claims. Three times per lease a replica renews its lease; a
//! scheduler replica then compares what it holds with its fair part of the active DAGs
//! (their number over the live scheduler replicas, rounded up), claims free DAGs when
//! it holds fewer (new DAGs, or those of a replica whose lease ran out) and hands back
//! idle ones when it holds more than one over (a replica joined). It also adopts the
//! tries nobody watches any more, and looks again at the runs of the DAGs it holds, in
//! case an announcement was missed.
//!
//! A replica that finds its lease gone (it could not heartbeat for a whole lease: a
//! long pause, a network cut) holds nothing from then on and says so through
//! [`super::Replica::fenced`]: others may have taken its DAGs and adopted its tries, so
//! it must not go on; the binary exits and its supervisor starts it again, fresh.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use tokio::sync::Notify;
use tracing::{error, info, warn};
use weir_store::ReplicaRecord;

use super::ReplicaRole;
use crate::error::Result;
use crate::shared::Shared;

/// How long replicas dead and holding no try stay listed.
const FORGET_AFTER: TimeDelta = TimeDelta::days(1);

/// How often a replica reads every team's fair-share usage again from the store (each
/// replica records the usage of the tries it ran there), and forgets long-dead replicas.
const USAGE_REFRESH: Duration = Duration::from_secs(60);

/// Wakes the lease loop before its next heartbeat (DAGs were added: claim them now).
#[derive(Default)]
pub(crate) struct LeaseWake(Notify);

impl LeaseWake {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

fn lease_delta(shared: &Shared) -> TimeDelta {
    TimeDelta::from_std(shared.replica.lease).unwrap_or(TimeDelta::seconds(30))
}

/// Records this replica in the store.
pub(crate) async fn register(shared: &Shared) -> Result<()> {
    let now = shared.now();
    shared
        .store
        .register_replica(&ReplicaRecord {
            replica_id: shared.replica.id.clone(),
            role: shared.replica.role.as_str().to_string(),
            host: shared.config.hostname.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            address: shared.config.replica.address.clone(),
            started_at: now,
            heartbeat_at: now,
            lease_until: now + lease_delta(shared),
            stopped_at: None,
        })
        .await?;
    info!(
        replica = %shared.replica.id,
        role = shared.replica.role.as_str(),
        host = %shared.config.hostname,
        "registered as a replica"
    );
    Ok(())
}

/// Marks this replica stopped and hands its leases back (a clean shutdown; the engine's
/// `shutdown` calls it).
pub(crate) async fn stop(shared: &Shared) {
    if let Err(e) = shared
        .store
        .stop_replica(&shared.replica.id, shared.now())
        .await
    {
        warn!(error = %e, "cannot hand back this replica's leases; they run out by themselves");
    }
}

/// The heartbeat loop, until shutdown.
pub(crate) fn spawn(shared: Arc<Shared>) {
    let every = (shared.replica.lease / 3).max(Duration::from_millis(100));
    let tracker = shared.tracker.clone();
    tracker.spawn(async move {
        let mut last_usage_refresh = std::time::Instant::now();
        loop {
            match tick(&shared).await {
                Ok(()) => {}
                Err(e) => warn!(error = %e, "replica heartbeat failed; trying again"),
            }
            if shared.replica.fenced.is_cancelled() {
                break;
            }
            if last_usage_refresh.elapsed() >= USAGE_REFRESH {
                last_usage_refresh = std::time::Instant::now();
                let _ = shared
                    .store
                    .prune_replicas(shared.now() - FORGET_AFTER)
                    .await;
                if shared.replica.leased() {
                    shared.dispatcher.clear_usage();
                    if let Err(e) = crate::recovery::restore_fair_share_history(&shared).await {
                        warn!(error = %e, "cannot read fair-share usage again");
                    }
                }
            }
            tokio::select! {
                _ = shared.shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
                _ = shared.lease_wake.0.notified() => {}
            }
        }
    });
}

/// One heartbeat, and what a scheduler replica does with it.
async fn tick(shared: &Arc<Shared>) -> Result<()> {
    let now = shared.now();
    let renewed = shared
        .store
        .heartbeat_replica(&shared.replica.id, now, now + lease_delta(shared))
        .await?;
    if !renewed {
        error!(
            replica = %shared.replica.id,
            "this replica's lease ran out before it could renew it: other replicas may have taken over its DAGs and tries, so it stops"
        );
        shared.replica.set_held([]);
        shared.replica.fenced.cancel();
        return Ok(());
    }
    if !shared.replica.leased() || !shared.replica.role.schedules() {
        return Ok(());
    }
    // What the store says this replica holds is the truth (a release, a takeover).
    shared
        .replica
        .set_held(shared.store.leased_dags(&shared.replica.id).await?);
    let (dags, live) = shared
        .store
        .lease_shares(&ReplicaRole::SCHEDULING, now)
        .await?;
    let fair = fair_part(dags, live);
    let held = shared.replica.held_count() as i64;
    if held < fair {
        let claimed = shared
            .store
            .claim_dags(&shared.replica.id, now, fair - held)
            .await?;
        if !claimed.is_empty() {
            super::takeover::take_dags(shared, &claimed).await?;
        }
    } else if held > fair + 1 {
        hand_back(shared, (held - fair) as usize).await?;
    }
    super::takeover::adopt_orphans(shared).await?;
    super::takeover::look_again(shared).await?;
    Ok(())
}

/// A replica's fair part of `dags` shared by `live` replicas: rounded up, so the parts
/// cover every DAG.
pub(crate) fn fair_part(dags: i64, live: i64) -> i64 {
    let live = live.max(1);
    (dags + live - 1) / live
}

/// Hands back up to `most` DAGs that no try of this replica runs for, so that a
/// replica that joined can claim them.
async fn hand_back(shared: &Arc<Shared>, most: usize) -> Result<()> {
    let idle: Vec<_> = shared
        .replica
        .held()
        .into_iter()
        .filter(|d| !shared.tries.watches_dag(d))
        .take(most)
        .collect();
    if idle.is_empty() {
        return Ok(());
    }
    // Stop planning them first: from here on the DAGs' runs are another's to plan.
    shared.replica.remove_held(&idle);
    shared.store.release_dags(&shared.replica.id, &idle).await?;
    info!(
        dags = idle.len(),
        "handed DAGs back for other replicas to claim"
    );
    super::announce::dags_released(shared).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fair_part;

    #[test]
    fn fair_parts_cover_every_dag() {
        assert_eq!(fair_part(0, 3), 0);
        assert_eq!(fair_part(10, 1), 10);
        assert_eq!(fair_part(10, 3), 4);
        assert_eq!(fair_part(9, 3), 3);
        assert_eq!(fair_part(5, 0), 5, "no live replica counted yet: this one");
        for dags in 0..50 {
            for live in 1..6 {
                assert!(fair_part(dags, live) * live >= dags);
            }
        }
    }
}
