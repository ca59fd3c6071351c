//! DAGs and DAG versions.

use serde_json::json;
use weir_core::ids::UNMAPPED;
use weir_core::state::TaskState;
use weir_store::{DagFilter, NextDagRun, Store, StoreError, TaskInstanceUpdate};

use crate::support::*;

pub async fn dag_upsert_keeps_pause_and_next_run(store: Store) {
    let mut first = dag("daily");
    first.is_paused = true;
    first.next_dagrun = Some(NextDagRun {
        logical_date: day(2),
        data_interval_start: Some(day(2)),
        data_interval_end: Some(day(3)),
    });
    let stored = store.upsert_dag(&first).await.unwrap();
    assert_eq!(stored, first, "a new DAG is stored as given");

    // A re-parse changes what the file says, but not the pause switch or the next run.
    let mut reparsed = dag("daily");
    reparsed.description = None;
    reparsed.tags = vec![];
    reparsed.schedule = None;
    reparsed.latest_version = Some("v2".into());
    reparsed.is_paused = false;
    reparsed.next_dagrun = None;
    let stored = store.upsert_dag(&reparsed).await.unwrap();
    assert!(stored.is_paused, "is_paused only set on insert");
    assert_eq!(stored.next_dagrun, first.next_dagrun);
    assert_eq!(stored.description, None);
    assert!(stored.tags.is_empty());
    assert_eq!(stored.schedule, None);
    assert_eq!(stored.latest_version.as_deref(), Some("v2"));
    assert_eq!(store.get_dag(&dag_id("daily")).await.unwrap(), Some(stored));

    let unpaused = store.set_paused(&dag_id("daily"), false).await.unwrap();
    assert!(!unpaused.is_paused);
    assert!(matches!(
        store.set_paused(&dag_id("nope"), true).await,
        Err(StoreError::DagNotFound(id)) if id.as_str() == "nope"
    ));

    let next = NextDagRun {
        logical_date: day(5),
        data_interval_start: None,
        data_interval_end: None,
    };
    store
        .set_next_dagrun(&dag_id("daily"), Some(next))
        .await
        .unwrap();
    let got = store.get_dag(&dag_id("daily")).await.unwrap().unwrap();
    assert_eq!(got.next_dagrun, Some(next));
    store.set_next_dagrun(&dag_id("daily"), None).await.unwrap();
    let got = store.get_dag(&dag_id("daily")).await.unwrap().unwrap();
    assert_eq!(got.next_dagrun, None);
    assert!(matches!(
        store.set_next_dagrun(&dag_id("nope"), None).await,
        Err(StoreError::DagNotFound(_))
    ));
    assert_eq!(store.get_dag(&dag_id("nope")).await.unwrap(), None);
}

pub async fn dag_list_pages_filters_and_deactivates(store: Store) {
    for (i, name) in ["e", "d", "c", "b", "a"].into_iter().enumerate() {
        let mut d = dag(name);
        d.is_paused = i % 2 == 0; // e, c, a paused
        if name == "b" {
            d.team = None;
        }
        store.upsert_dag(&d).await.unwrap();
    }
    let page = |limit, offset| DagFilter {
        limit,
        offset,
        ..DagFilter::default()
    };
    let first = store.list_dags(&page(2, 0)).await.unwrap();
    assert_eq!(first.total_entries, 5);
    let ids: Vec<_> = first.items.iter().map(|d| d.dag_id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    let last = store.list_dags(&page(2, 4)).await.unwrap();
    assert_eq!(last.total_entries, 5);
    assert_eq!(last.items.len(), 1);
    assert_eq!(last.items[0].dag_id.as_str(), "e");
    assert!(
        store
            .list_dags(&page(2, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let paused = DagFilter {
        paused: Some(true),
        ..DagFilter::default()
    };
    assert_eq!(store.list_dags(&paused).await.unwrap().total_entries, 3);
    let team = DagFilter {
        team: Some(weir_core::ids::TeamId::new("marketing").unwrap()),
        ..DagFilter::default()
    };
    assert_eq!(store.list_dags(&team).await.unwrap().total_entries, 4);

    let gone = store
        .deactivate_dags_not_in(&[dag_id("a"), dag_id("b")])
        .await
        .unwrap();
    assert_eq!(gone, 3);
    let active = store.list_dags(&DagFilter::default()).await.unwrap();
    assert_eq!(active.total_entries, 2);
    let all = DagFilter {
        only_active: false,
        ..DagFilter::default()
    };
    assert_eq!(store.list_dags(&all).await.unwrap().total_entries, 5);
    assert_eq!(
        store.deactivate_dags_not_in(&[dag_id("a")]).await.unwrap(),
        1
    );
    assert_eq!(store.deactivate_dags_not_in(&[]).await.unwrap(), 1);
    assert_eq!(
        store
            .list_dags(&DagFilter::default())
            .await
            .unwrap()
            .total_entries,
        0
    );

    // A re-parse that sees the DAG again reactivates it.
    store.upsert_dag(&dag("c")).await.unwrap();
    let active = store.list_dags(&DagFilter::default()).await.unwrap();
    assert_eq!(active.items.len(), 1);
    assert!(active.items[0].is_paused, "pause survives deactivation");
}

pub async fn dag_versions_are_idempotent(store: Store) {
    let spec =
        json!({"dag": "daily", "tasks": {"a": {"shell": "echo {{ ds }}"}}, "n": [1, 2.5, null]});
    let id = dag_id("daily");
    assert!(
        store
            .insert_dag_version(&id, "h1", &spec, "dag: daily\n")
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_dag_version(&id, "h1", &json!({}), "other")
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_dag_version(&id, "h2", &json!({}), "v2")
            .await
            .unwrap()
    );
    let v1 = store.get_dag_version(&id, "h1").await.unwrap().unwrap();
    assert_eq!(v1.spec, spec, "the first content of a hash is kept");
    assert_eq!(v1.source, "dag: daily\n");
    assert_eq!(v1.version_hash, "h1");
    assert_eq!(store.get_dag_version(&id, "h3").await.unwrap(), None);
    assert_eq!(store.list_dag_versions(&id).await.unwrap().len(), 2);
}

pub async fn dag_delete_cascades(store: Store) {
    dag_with_run(&store, "daily").await;
    let id = dag_id("daily");
    store
        .insert_dag_version(&id, "v1", &json!({}), "")
        .await
        .unwrap();
    assert!(store.delete_dag(&id).await.unwrap());
    assert!(!store.delete_dag(&id).await.unwrap());
    assert_eq!(store.get_dag(&id).await.unwrap(), None);
    assert_eq!(store.get_dag_run(&id, &run_id("r1")).await.unwrap(), None);
    assert!(
        store
            .list_task_instances(&id, &run_id("r1"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.list_dag_versions(&id).await.unwrap().is_empty());
}

pub async fn dag_delete_is_refused_while_tasks_run(store: Store) {
    dag_with_run(&store, "daily").await;
    let id = dag_id("daily");
    let a = ti_key("daily", "r1", "a", UNMAPPED);
    for update in [
        TaskInstanceUpdate::Schedule,
        TaskInstanceUpdate::Claim {
            try_number: 1,
            hostname: "test".into(),
        },
    ] {
        assert!(store.update_task_instance(&a, &update).await.unwrap());
    }
    let refused = store.delete_dag(&id).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::DagHasRunningTasks { count: 1, .. })
        ),
        "{refused:?}"
    );
    assert!(refused.as_ref().is_err_and(StoreError::is_conflict));
    assert!(
        store.get_dag(&id).await.unwrap().is_some(),
        "nothing deleted"
    );
    assert!(
        store
            .get_dag_run(&id, &run_id("r1"))
            .await
            .unwrap()
            .is_some()
    );
    let now = chrono::Utc::now();
    for update in [
        TaskInstanceUpdate::Run {
            start_date: now,
            pid: None,
            rendered_command: None,
        },
        TaskInstanceUpdate::Finish {
            state: TaskState::Success,
            end_date: now,
            retry_at: None,
        },
    ] {
        assert!(store.update_task_instance(&a, &update).await.unwrap());
    }
    assert!(store.delete_dag(&id).await.unwrap());
    assert_eq!(store.get_dag(&id).await.unwrap(), None);
}
