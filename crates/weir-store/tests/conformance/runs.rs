//! DAG runs.

use chrono::{TimeZone, Utc};
use serde_json::json;
use weir_core::ids::UNMAPPED;
use weir_core::state::{DagRunState, RunType};
use weir_store::{DagRunFilter, DagRunOrder, Store, StoreError, TryRecord};

use crate::support::*;

pub async fn run_ids_and_logical_dates_are_unique(store: Store) {
    store.upsert_dag(&dag("daily")).await.unwrap();
    store.upsert_dag(&dag("other")).await.unwrap();
    store
        .create_dag_run(&new_run("daily", "r1", day(1)))
        .await
        .unwrap();

    let same_id = store.create_dag_run(&new_run("daily", "r1", day(2))).await;
    assert!(
        matches!(&same_id, Err(StoreError::RunExists { run_id, .. }) if run_id.as_str() == "r1"),
        "{same_id:?}"
    );
    let same_date = store.create_dag_run(&new_run("daily", "r2", day(1))).await;
    assert!(
        matches!(same_date, Err(StoreError::RunExists { .. })),
        "{same_date:?}"
    );
    assert!(same_date.unwrap_err().is_conflict());

    // Uniqueness is per DAG.
    store
        .create_dag_run(&new_run("other", "r1", day(1)))
        .await
        .unwrap();
    let unknown = store.create_dag_run(&new_run("nope", "r1", day(1))).await;
    assert!(
        matches!(unknown, Err(StoreError::DagNotFound(_))),
        "{unknown:?}"
    );

    // A failed creation leaves nothing behind, and the store stays usable.
    let runs = store.list_dag_runs(&DagRunFilter::default()).await.unwrap();
    assert_eq!(runs.total_entries, 2);
}

pub async fn run_timestamps_round_trip(store: Store) {
    store.upsert_dag(&dag("daily")).await.unwrap();
    let micros = Utc.with_ymd_and_hms(2026, 3, 29, 1, 2, 3).unwrap()
        + chrono::Duration::microseconds(123_456);
    let nanos = micros + chrono::Duration::nanoseconds(789);
    let mut run = new_run("daily", "r1", nanos);
    run.data_interval_start = Some(micros - chrono::Duration::days(1));
    run.data_interval_end = Some(micros);
    run.queued_at = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap();
    run.conf = json!({"nested": {"list": [1, "two", 3.5, null, true]}, "unicode": "Grüße ✓"});
    run.run_type = RunType::DatasetTriggered;
    let created = store.create_dag_run(&run).await.unwrap();
    assert_eq!(
        created.logical_date, micros,
        "stored with microsecond precision"
    );
    assert_eq!(created.data_interval_start, run.data_interval_start);
    assert_eq!(created.data_interval_end, Some(micros));
    assert_eq!(created.queued_at, Some(run.queued_at));
    assert_eq!(created.conf, run.conf);
    assert_eq!(created.run_type, RunType::DatasetTriggered);
    assert_eq!(created.state, DagRunState::Queued);
    assert!(created.external_trigger);
    assert_eq!((created.start_date, created.end_date), (None, None));
    let got = store.get_dag_run(&run.dag_id, &run.run_id).await.unwrap();
    assert_eq!(got, Some(created));

    // Comparisons in SQL agree with time order at sub-second precision.
    let later = micros + chrono::Duration::microseconds(1);
    store
        .create_dag_run(&new_run("daily", "r2", later))
        .await
        .unwrap();
    let filter = DagRunFilter {
        logical_date_gte: Some(later),
        ..DagRunFilter::default()
    };
    let page = store.list_dag_runs(&filter).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].run_id.as_str(), "r2");
    let before = store
        .last_successful_run_before(&run.dag_id, later)
        .await
        .unwrap();
    assert_eq!(before, None, "no successful run yet");
}

pub async fn run_state_is_compare_and_set(store: Store) {
    store.upsert_dag(&dag("daily")).await.unwrap();
    let (d, r) = (dag_id("daily"), run_id("r1"));
    store
        .create_dag_run(&new_run("daily", "r1", day(1)))
        .await
        .unwrap();
    let get = || async { store.get_dag_run(&d, &r).await.unwrap().unwrap() };

    use DagRunState::*;
    assert!(
        store
            .set_dag_run_state(&d, &r, Queued, Running, day(2))
            .await
            .unwrap()
    );
    let run = get().await;
    assert_eq!(
        (run.state, run.start_date, run.end_date),
        (Running, Some(day(2)), None)
    );

    // A stale expectation loses.
    assert!(
        !store
            .set_dag_run_state(&d, &r, Queued, Running, day(3))
            .await
            .unwrap()
    );
    assert_eq!(get().await.start_date, Some(day(2)));

    // running -> queued is illegal: refused before writing.
    let illegal = store
        .set_dag_run_state(&d, &r, Running, Queued, day(3))
        .await;
    assert!(
        matches!(illegal, Err(StoreError::IllegalTransition(_))),
        "{illegal:?}"
    );
    assert_eq!(get().await.state, Running);

    assert!(
        store
            .set_dag_run_state(&d, &r, Running, Failed, day(4))
            .await
            .unwrap()
    );
    let run = get().await;
    assert_eq!(
        (run.state, run.start_date, run.end_date),
        (Failed, Some(day(2)), Some(day(4)))
    );

    // Cleared: back to queued, dates reset.
    assert!(
        store
            .set_dag_run_state(&d, &r, Failed, Queued, day(5))
            .await
            .unwrap()
    );
    let run = get().await;
    assert_eq!(run.state, Queued);
    assert_eq!(
        (run.start_date, run.end_date, run.queued_at),
        (None, None, Some(day(5)))
    );
    assert!(
        store
            .set_dag_run_state(&d, &r, Queued, Running, day(6))
            .await
            .unwrap()
    );
    assert!(
        store
            .set_dag_run_state(&d, &r, Running, Success, day(7))
            .await
            .unwrap()
    );
    let run = get().await;
    assert_eq!((run.start_date, run.end_date), (Some(day(6)), Some(day(7))));

    // Unknown run: nothing to apply.
    let missing = run_id("nope");
    assert!(
        !store
            .set_dag_run_state(&d, &missing, Queued, Running, day(1))
            .await
            .unwrap()
    );
}

pub async fn run_listing_filters_sorts_and_pages(store: Store) {
    store.upsert_dag(&dag("a")).await.unwrap();
    store.upsert_dag(&dag("b")).await.unwrap();
    for i in 1..=5 {
        store
            .create_dag_run(&new_run("a", &format!("a{i}"), day(i)))
            .await
            .unwrap();
    }
    store
        .create_dag_run(&new_run("b", "b1", day(3)))
        .await
        .unwrap();
    let (a, now) = (dag_id("a"), day(10));
    store
        .set_dag_run_state(
            &a,
            &run_id("a2"),
            DagRunState::Queued,
            DagRunState::Running,
            now,
        )
        .await
        .unwrap();
    store
        .set_dag_run_state(
            &a,
            &run_id("a4"),
            DagRunState::Queued,
            DagRunState::Success,
            now,
        )
        .await
        .unwrap();

    let ids = |page: &weir_store::Page<weir_store::DagRunRecord>| -> Vec<String> {
        page.items.iter().map(|r| r.run_id.to_string()).collect()
    };
    let all = store.list_dag_runs(&DagRunFilter::default()).await.unwrap();
    assert_eq!(all.total_entries, 6);
    assert_eq!(
        ids(&all),
        ["a5", "a4", "b1", "a3", "a2", "a1"],
        "newest first, ties by dag id desc"
    );

    let filter = DagRunFilter {
        dag_id: Some(a.clone()),
        descending: false,
        limit: 2,
        offset: 1,
        ..DagRunFilter::default()
    };
    let page = store.list_dag_runs(&filter).await.unwrap();
    assert_eq!(
        (page.total_entries, ids(&page)),
        (5, vec!["a2".into(), "a3".into()])
    );

    let filter = DagRunFilter {
        states: vec![DagRunState::Running, DagRunState::Success],
        ..DagRunFilter::default()
    };
    let page = store.list_dag_runs(&filter).await.unwrap();
    assert_eq!(
        (page.total_entries, ids(&page)),
        (2, vec!["a4".into(), "a2".into()])
    );

    let filter = DagRunFilter {
        logical_date_gte: Some(day(2)),
        logical_date_lte: Some(day(3)),
        descending: false,
        ..DagRunFilter::default()
    };
    let page = store.list_dag_runs(&filter).await.unwrap();
    assert_eq!(ids(&page), ["a2", "a3", "b1"]);

    // NULL start dates sort last in both directions, on both databases.
    for descending in [false, true] {
        let filter = DagRunFilter {
            dag_id: Some(a.clone()),
            order_by: DagRunOrder::StartDate,
            descending,
            ..DagRunFilter::default()
        };
        let page = store.list_dag_runs(&filter).await.unwrap();
        assert_eq!(
            page.items[0].run_id.as_str(),
            "a2",
            "descending={descending}"
        );
        assert!(page.items[1..].iter().all(|r| r.start_date.is_none()));
    }

    assert_eq!(store.count_active_runs(&a).await.unwrap(), 4);
    let finished = [DagRunState::Success, DagRunState::Failed];
    assert_eq!(
        store.count_dag_runs_in_states(&a, &finished).await.unwrap(),
        1
    );
}

pub async fn run_history_queries(store: Store) {
    store.upsert_dag(&dag("a")).await.unwrap();
    let a = dag_id("a");
    assert_eq!(store.latest_run(&a).await.unwrap(), None);
    for i in [3, 1, 2, 5] {
        store
            .create_dag_run(&new_run("a", &format!("a{i}"), day(i)))
            .await
            .unwrap();
    }
    assert_eq!(
        store.latest_run(&a).await.unwrap().unwrap().run_id.as_str(),
        "a5"
    );
    for i in [1, 2] {
        let r = run_id(&format!("a{i}"));
        store
            .set_dag_run_state(&a, &r, DagRunState::Queued, DagRunState::Success, day(9))
            .await
            .unwrap();
    }
    let prev = store
        .last_successful_run_before(&a, day(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(prev.run_id.as_str(), "a2");
    let prev = store
        .last_successful_run_before(&a, day(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(prev.run_id.as_str(), "a1");
    assert_eq!(
        store.last_successful_run_before(&a, day(1)).await.unwrap(),
        None
    );

    // The newest runs of each DAG asked for (the DAG list's squares).
    store.upsert_dag(&dag("b")).await.unwrap();
    store.upsert_dag(&dag("c")).await.unwrap();
    store
        .create_dag_run(&new_run("b", "b1", day(4)))
        .await
        .unwrap();
    let recent = store
        .recent_dag_runs(&[a.clone(), dag_id("b"), dag_id("c")], 2)
        .await
        .unwrap();
    let ids: Vec<(&str, &str)> = recent
        .iter()
        .map(|r| (r.dag_id.as_str(), r.run_id.as_str()))
        .collect();
    assert_eq!(ids, [("a", "a5"), ("a", "a3"), ("b", "b1")]);
    assert!(store.recent_dag_runs(&[], 2).await.unwrap().is_empty());
    assert!(store.recent_dag_runs(&[a], 0).await.unwrap().is_empty());
}

pub async fn run_delete_cascades(store: Store) {
    dag_with_run(&store, "daily").await;
    let (d, r) = (dag_id("daily"), run_id("r1"));
    let key = ti_key("daily", "r1", "a", UNMAPPED);
    store
        .set_xcom(&key, "return_value", &json!(1))
        .await
        .unwrap();
    store
        .insert_try(&TryRecord::started(key.try_key(1), day(1)))
        .await
        .unwrap();
    assert!(store.delete_dag_run(&d, &r).await.unwrap());
    assert!(!store.delete_dag_run(&d, &r).await.unwrap());
    assert_eq!(store.get_dag_run(&d, &r).await.unwrap(), None);
    assert!(store.list_task_instances(&d, &r).await.unwrap().is_empty());
    assert!(store.list_unfinished_tries().await.unwrap().is_empty());
    assert_eq!(store.get_xcom(&key, "return_value").await.unwrap(), None);
    // The run id and logical date are free again.
    store
        .create_dag_run(&new_run("daily", "r1", day(1)))
        .await
        .unwrap();
}

pub async fn run_notes_are_set_and_cleared(store: Store) {
    store.upsert_dag(&dag("noted")).await.unwrap();
    let run = new_run(
        "noted",
        "r1",
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
    );
    let created = store.create_dag_run(&run).await.unwrap();
    assert_eq!(created.note, None);
    let note = "re-run after the upstream fix ✓";
    assert!(
        store
            .set_dag_run_note(&run.dag_id, &run.run_id, Some(note))
            .await
            .unwrap()
    );
    let got = store
        .get_dag_run(&run.dag_id, &run.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.note.as_deref(), Some(note));
    assert!(
        store
            .set_dag_run_note(&run.dag_id, &run.run_id, None)
            .await
            .unwrap()
    );
    let got = store
        .get_dag_run(&run.dag_id, &run.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.note, None);
    let missing = weir_core::ids::RunId::new("nope").unwrap();
    assert!(
        !store
            .set_dag_run_note(&run.dag_id, &missing, Some(note))
            .await
            .unwrap()
    );
}
