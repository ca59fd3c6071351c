//! Usage records: written once per try, listed since a time and per team, kept after
//! their run is deleted.

use chrono::Duration;
use weir_core::cost::UsageRecord;
use weir_core::ids::{TeamId, TryKey, UNMAPPED};
use weir_core::platform::Price;
use weir_store::{Store, StoreError, TryRecord};

use crate::support::*;

const GIB: u64 = 1024 * 1024 * 1024;

fn try_key(dag: &str, run: &str, task: &str, map_index: i32, try_number: u32) -> TryKey {
    ti_key(dag, run, task, map_index).try_key(try_number)
}

/// 2 vCPU and 4 GiB for half an hour, from `day(d)` 10:00, at 0.04 and 0.005.
fn usage(team: &str, dag: &str, d: u32) -> UsageRecord {
    UsageRecord {
        team: TeamId::new(team).unwrap(),
        dag_id: dag_id(dag),
        queue: "default".into(),
        compute_environment: "docker".into(),
        requested_vcpu: 2.0,
        requested_memory_bytes: 4 * GIB,
        wall_seconds: 1800.0,
        cpu_seconds: Some(1234.5678),
        peak_memory_bytes: Some(3 * GIB + 17),
        started_at: day(d) + Duration::hours(10) + Duration::microseconds(123_456),
        price: Price {
            vcpu_hour: 0.04,
            gib_hour: 0.005,
        },
    }
}

pub async fn usage_records_round_trip_once_per_try(store: Store) {
    let key = try_key("daily", "r1", "a", UNMAPPED, 1);
    let first = usage("marketing", "daily", 1);
    let finished = first.started_at + Duration::seconds(1800);
    assert!(
        store
            .insert_usage(&key, &first, finished, Some("sha256:abc"))
            .await
            .unwrap()
    );
    let got = store.get_usage(&key).await.unwrap().unwrap();
    assert_eq!(got.key, key);
    assert_eq!(got.record, first, "every field, to the microsecond");
    assert_eq!(got.finished_at, finished);
    assert_eq!(got.job_revision.as_deref(), Some("sha256:abc"));

    // A second write of the same try changes nothing.
    let mut again = first.clone();
    again.wall_seconds = 9999.0;
    assert!(
        !store
            .insert_usage(&key, &again, finished, None)
            .await
            .unwrap()
    );
    assert_eq!(store.get_usage(&key).await.unwrap().unwrap().record, first);

    // Unmeasured quantities and no job revision stay absent; mapped tries are their own.
    let mapped = try_key("daily", "r1", "a", 3, 1);
    let mut bare = usage("marketing", "daily", 1);
    bare.cpu_seconds = None;
    bare.peak_memory_bytes = None;
    bare.price = Price::default();
    assert!(
        store
            .insert_usage(&mapped, &bare, finished, None)
            .await
            .unwrap()
    );
    let got = store.get_usage(&mapped).await.unwrap().unwrap();
    assert_eq!((got.record, got.job_revision), (bare, None));
    assert_eq!(
        store
            .get_usage(&try_key("daily", "r1", "a", UNMAPPED, 2))
            .await
            .unwrap(),
        None
    );
}

pub async fn usage_lists_since_and_per_team(store: Store) {
    let rows = [
        ("r1", "marketing", "daily", 1),
        ("r2", "finance", "ledger", 2),
        ("r3", "marketing", "daily", 3),
        ("r4", "finance", "ledger", 4),
    ];
    // Written out of order: the listing sorts by start.
    for (run, team, dag, d) in rows.iter().rev() {
        let r = usage(team, dag, *d);
        let finished = r.started_at + Duration::seconds(1800);
        store
            .insert_usage(&try_key(dag, run, "t", UNMAPPED, 1), &r, finished, None)
            .await
            .unwrap();
    }
    let all = store.list_usage(day(1), None).await.unwrap();
    let days: Vec<_> = all.iter().map(|r| r.started_at).collect();
    assert_eq!(
        days,
        [1, 2, 3, 4].map(|d| usage("x", "x", d).started_at).to_vec()
    );
    // `since` is inclusive, to the microsecond.
    let since = usage("x", "x", 2).started_at;
    let later = store.list_usage(since, None).await.unwrap();
    assert_eq!(later.len(), 3);
    let later = store
        .list_usage(since + Duration::microseconds(1), None)
        .await
        .unwrap();
    assert_eq!(later.len(), 2);

    let finance = store.list_usage(day(1), Some("finance")).await.unwrap();
    assert_eq!(
        finance
            .iter()
            .map(|r| r.dag_id.as_str())
            .collect::<Vec<_>>(),
        ["ledger", "ledger"]
    );
    assert!(
        store
            .list_usage(day(1), Some("nobody"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.list_usage(day(5), None).await.unwrap().is_empty());
}

/// The database's sums are the report's sums: [`Store::usage_totals`] gives, for every
/// grouping, the rows `summarize` makes of the listed records (day by UTC start).
pub async fn usage_totals_add_up_as_the_report_does(store: Store) {
    use weir_core::cost::{GroupBy, GroupKey, cost_row, summarize};
    let rows = [
        ("r1", "marketing", "daily", 1, 2.0, 1800.0),
        ("r2", "finance", "ledger", 2, 0.5, 60.0),
        ("r3", "marketing", "daily", 2, 4.0, 7.25),
        ("r4", "finance", "ledger", 4, 1.0, 0.0),
        ("r5", "marketing", "weekly", 4, 8.0, 3600.0),
    ];
    for (run, team, dag, d, vcpu, wall) in rows {
        let mut r = usage(team, dag, d);
        r.requested_vcpu = vcpu;
        r.wall_seconds = wall;
        if run == "r3" {
            r.cpu_seconds = None;
            r.peak_memory_bytes = None;
        }
        let finished = r.started_at + Duration::seconds(60);
        store
            .insert_usage(&try_key(dag, run, "t", UNMAPPED, 1), &r, finished, None)
            .await
            .unwrap();
    }
    let since = usage("x", "x", 2).started_at;
    for team in [None, Some("marketing")] {
        let records = store.list_usage(since, team).await.unwrap();
        for key in [
            None,
            Some(GroupKey::Team),
            Some(GroupKey::Dag),
            Some(GroupKey::Queue),
        ] {
            for per_day in [false, true] {
                let expected = summarize(&records, GroupBy { key, per_day }, since);
                let got: Vec<_> = store
                    .usage_totals(since, team, key, per_day)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(day, k, t)| cost_row(day, k, &t))
                    .collect();
                assert_eq!(
                    got, expected,
                    "team {team:?}, by {key:?}, per day {per_day}"
                );
            }
        }
    }
    assert!(
        store
            .usage_totals(day(5), None, None, false)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn usage_outlives_its_run(store: Store) {
    dag_with_run(&store, "daily").await;
    let key = try_key("daily", "r1", "a", UNMAPPED, 1);
    store
        .insert_try(&TryRecord::started(key.clone(), day(1)))
        .await
        .unwrap();
    let r = usage("marketing", "daily", 1);
    store
        .insert_usage(&key, &r, r.started_at + Duration::seconds(1800), None)
        .await
        .unwrap();
    assert!(
        store
            .delete_dag_run(&dag_id("daily"), &run_id("r1"))
            .await
            .unwrap()
    );
    assert!(store.delete_dag(&dag_id("daily")).await.unwrap());
    assert_eq!(store.get_try(&key).await.unwrap(), None);
    assert_eq!(store.list_usage(day(1), None).await.unwrap(), [r]);
}

/// Makes a usage record impossible in one way.
type Spoil = fn(&mut UsageRecord);

pub async fn usage_refuses_impossible_quantities(store: Store) {
    let key = try_key("daily", "r1", "a", UNMAPPED, 1);
    let at = day(1);
    let cases: [(&str, Spoil); 5] = [
        ("requested_vcpu", |r| r.requested_vcpu = -1.0),
        ("wall_seconds", |r| r.wall_seconds = f64::NAN),
        ("cpu_seconds", |r| r.cpu_seconds = Some(f64::INFINITY)),
        ("price.gib_hour", |r| r.price.gib_hour = -0.5),
        ("DAG", |r| r.dag_id = dag_id("other")),
    ];
    for (what, spoil) in cases {
        let mut r = usage("marketing", "daily", 1);
        spoil(&mut r);
        let e = store.insert_usage(&key, &r, at, None).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::InvalidInput { detail, .. } if detail.contains(what)),
            "{what}: {e}"
        );
    }
    assert_eq!(store.get_usage(&key).await.unwrap(), None);
}
