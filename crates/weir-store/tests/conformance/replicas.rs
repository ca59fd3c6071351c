//! Replicas and scheduler leases: registration, heartbeats, claims that divide the DAGs
//! between live replicas, takeover once a lease runs out, and the orphaned tries a
//! replica that took a DAG over adopts.

use chrono::{DateTime, TimeDelta, Utc};
use weir_core::ids::UNMAPPED;
use weir_store::{ReplicaRecord, Store, TryRecord};

use crate::support::{dag, dag_id, dag_with_run, day, ti_key};

fn replica(id: &str, role: &str, now: DateTime<Utc>) -> ReplicaRecord {
    ReplicaRecord {
        replica_id: id.into(),
        role: role.into(),
        host: format!("host-of-{id}"),
        version: "0.1.0".into(),
        address: Some(format!("http://{id}:8080")),
        started_at: now,
        heartbeat_at: now,
        lease_until: now + TimeDelta::seconds(30),
        stopped_at: None,
    }
}

pub async fn replicas_claim_divide_and_take_over_dags(store: Store) {
    let t0 = day(1);
    for d in ["a", "b", "c", "d"] {
        store.upsert_dag(&dag(d)).await.unwrap();
    }
    store
        .register_replica(&replica("r1", "all", t0))
        .await
        .unwrap();
    store
        .register_replica(&replica("r2", "scheduler", t0))
        .await
        .unwrap();
    store
        .register_replica(&replica("api", "api", t0))
        .await
        .unwrap();
    assert_eq!(
        store.lease_shares(&["all", "scheduler"], t0).await.unwrap(),
        (4, 2)
    );

    // Each takes what nobody holds; nothing is claimed twice.
    let one = store.claim_dags("r1", t0, 2).await.unwrap();
    assert_eq!(one, [dag_id("a"), dag_id("b")]);
    let two = store.claim_dags("r2", t0, 10).await.unwrap();
    assert_eq!(two, [dag_id("c"), dag_id("d")]);
    assert!(store.claim_dags("r1", t0, 10).await.unwrap().is_empty());
    assert_eq!(store.leased_dags("r1").await.unwrap(), one);
    assert!(store.claim_dags("r1", t0, 0).await.unwrap().is_empty());

    // r1 heartbeats, r2 does not: once r2's lease ran out, r1 takes its DAGs.
    let t1 = t0 + TimeDelta::seconds(20);
    assert!(
        store
            .heartbeat_replica("r1", t1, t1 + TimeDelta::seconds(30))
            .await
            .unwrap()
    );
    assert!(store.claim_dags("r1", t1, 10).await.unwrap().is_empty());
    let t2 = t0 + TimeDelta::seconds(31);
    assert_eq!(
        store.claim_dags("r1", t2, 10).await.unwrap(),
        [dag_id("c"), dag_id("d")]
    );
    // A replica whose lease ran out cannot renew it: it must stand down.
    assert!(
        !store
            .heartbeat_replica("r2", t2, t2 + TimeDelta::seconds(30))
            .await
            .unwrap()
    );
    assert_eq!(
        store.lease_shares(&["all", "scheduler"], t2).await.unwrap(),
        (4, 1)
    );

    // Released leases are free at once; a clean stop releases all of them.
    assert_eq!(store.release_dags("r1", &[dag_id("a")]).await.unwrap(), 1);
    store
        .register_replica(&replica("r3", "all", t2))
        .await
        .unwrap();
    assert_eq!(store.claim_dags("r3", t2, 10).await.unwrap(), [dag_id("a")]);
    store.stop_replica("r1", t2).await.unwrap();
    assert_eq!(
        store.claim_dags("r3", t2, 10).await.unwrap(),
        [dag_id("b"), dag_id("c"), dag_id("d")]
    );
    let listed = store.list_replicas().await.unwrap();
    assert_eq!(listed.len(), 4);
    let r1 = listed.iter().find(|r| r.replica_id == "r1").unwrap();
    assert_eq!(r1.stopped_at, Some(t2));
    assert!(!r1.alive_at(t2));
    assert!(
        listed
            .iter()
            .find(|r| r.replica_id == "r3")
            .unwrap()
            .alive_at(t2)
    );

    // Replicas long dead and holding no try are forgotten.
    let later = t2 + TimeDelta::days(2);
    assert_eq!(
        store
            .prune_replicas(later - TimeDelta::days(1))
            .await
            .unwrap(),
        4
    );
}

pub async fn orphaned_tries_are_those_of_dead_replicas(store: Store) {
    let t0 = day(1);
    dag_with_run(&store, "daily").await;
    store
        .register_replica(&replica("r1", "all", t0))
        .await
        .unwrap();
    store
        .register_replica(&replica("r2", "all", t0))
        .await
        .unwrap();
    let mut a = TryRecord::started(ti_key("daily", "r1", "a", UNMAPPED).try_key(1), t0);
    a.replica_id = Some("r1".into());
    let mut b = TryRecord::started(ti_key("daily", "r1", "b", UNMAPPED).try_key(1), t0);
    b.replica_id = Some("r2".into());
    store.insert_try(&a).await.unwrap();
    store.insert_try(&b).await.unwrap();
    assert!(store.orphaned_tries(t0).await.unwrap().is_empty());

    // r1 keeps its lease, r2 lets it run out: only r2's try is an orphan.
    let t1 = t0 + TimeDelta::seconds(31);
    store
        .heartbeat_replica(
            "r1",
            t0 + TimeDelta::seconds(10),
            t1 + TimeDelta::seconds(30),
        )
        .await
        .unwrap();
    let orphans = store.orphaned_tries(t1).await.unwrap();
    assert_eq!(orphans, [(b.clone(), Some("host-of-r2".to_string()))]);

    // Adopted by r1, once: a second adopter racing from the same owner loses.
    assert!(store.adopt_try(&b.key, Some("r2"), "r1").await.unwrap());
    assert!(!store.adopt_try(&b.key, Some("r2"), "r3").await.unwrap());
    assert!(store.orphaned_tries(t1).await.unwrap().is_empty());
    let unfinished = store.list_unfinished_tries().await.unwrap();
    assert!(
        unfinished
            .iter()
            .all(|t| t.replica_id.as_deref() == Some("r1"))
    );
    // A try that recorded no replica is an orphan too, adopted from "none".
    let mut c = TryRecord::started(ti_key("daily", "r1", "a", UNMAPPED).try_key(2), t0);
    c.replica_id = None;
    store.insert_try(&c).await.unwrap();
    assert_eq!(store.orphaned_tries(t1).await.unwrap(), [(c.clone(), None)]);
    assert!(store.adopt_try(&c.key, None, "r1").await.unwrap());
    // A replica with tries left unfinished is kept (their host is needed to adopt them).
    assert_eq!(
        store.prune_replicas(t1 + TimeDelta::days(2)).await.unwrap(),
        1,
        "r2 holds nothing any more; r1 holds the tries"
    );
}

pub async fn announcements_reach_listeners_on_postgres_only(store: Store) {
    let listener = store.listen_for_changes().await.unwrap();
    let Some(mut listener) = listener else {
        assert_eq!(
            store.backend_name(),
            "sqlite",
            "only SQLite has no listener"
        );
        store.announce_change("dags").await.unwrap();
        return;
    };
    store.announce_change("run\nd\nr").await.unwrap();
    store.announce_change("dags").await.unwrap();
    let heard = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut heard = Vec::new();
        while heard.len() < 2 {
            if let Some(text) = listener.next().await.unwrap() {
                heard.push(text);
            }
        }
        heard
    })
    .await
    .unwrap();
    assert_eq!(heard, ["run\nd\nr", "dags"]);
}
