//! Datasets: events recorded once per outlet per try (and only when the try's instance
//! moved), consumers' cursors made once and moved by compare-and-set, and a triggered
//! run written with its events and the cursor's move, or not at all.

use serde_json::json;
use weir_core::ids::UNMAPPED;
use weir_core::lifecycle::try_start;
use weir_core::state::{DagRunState, RunType, TaskState};
use weir_store::{
    DatasetConsumer, DatasetEventFilter, DatasetTrigger, EventSource, NewDatasetEvent, Store,
    TaskInstanceUpdate, TryOutcome, TryRecord,
};

use crate::support::{dag, dag_id, dag_with_run, day, new_run, new_task, run_id, ti_key};

fn posted(uri: &str, team: &str) -> NewDatasetEvent {
    NewDatasetEvent {
        uri: uri.into(),
        extra: Some(json!({"rows": 1})),
        team: team.into(),
        source: None,
        posted_by: Some("dora".into()),
        created_at: day(2),
    }
}

pub async fn dataset_events_cursors_and_triggered_runs(store: Store) {
    // A try's end records its outlets' events with it, once.
    dag_with_run(&store, "ingest").await;
    let key = ti_key("ingest", "r1", "a", UNMAPPED);
    assert!(
        store
            .update_task_instance(&key, &TaskInstanceUpdate::Schedule)
            .await
            .unwrap()
    );
    let start = try_start::launch(0, "host", None, day(1));
    let try_key = key.try_key(1);
    assert!(
        store
            .start_try(
                &start.claim,
                &TryRecord::started(try_key.clone(), day(1)),
                &start.run
            )
            .await
            .unwrap()
    );
    let outlet = NewDatasetEvent {
        uri: "s3://lake/raw/orders/2026-01-01".into(),
        extra: None,
        team: "data-eng".into(),
        source: Some(EventSource {
            dag_id: dag_id("ingest"),
            run_id: run_id("r1"),
            task_id: "a".into(),
            map_index: UNMAPPED,
            try_number: 1,
        }),
        posted_by: None,
        created_at: day(1),
    };
    let outcome = TryOutcome {
        state: TaskState::Success,
        exit_code: Some(0),
        reason: None,
        finished_at: day(1),
        cpu_seconds: None,
        peak_rss_bytes: None,
    };
    let finish = TaskInstanceUpdate::Finish {
        state: TaskState::Success,
        end_date: day(1),
        retry_at: None,
    };
    assert!(
        store
            .end_try(
                &try_key,
                &outcome,
                None,
                None,
                Some(&finish),
                std::slice::from_ref(&outlet)
            )
            .await
            .unwrap()
    );
    // Ending it again (a restart) moves nothing and records nothing.
    assert!(
        !store
            .end_try(
                &try_key,
                &outcome,
                None,
                None,
                Some(&finish),
                std::slice::from_ref(&outlet)
            )
            .await
            .unwrap()
    );
    assert_eq!(store.last_dataset_event_id().await.unwrap(), 1);

    let posted = store
        .record_dataset_events(&[
            posted("s3://lake/raw/customers", "data-eng"),
            posted("s3://lake/raw/orders/2026-01-01", "data-eng"),
        ])
        .await
        .unwrap();
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[0].posted_by.as_deref(), Some("dora"));
    assert_eq!(posted[1].dataset_id, 1, "one dataset per URI");
    let newest = store.last_dataset_event_id().await.unwrap();
    assert_eq!(newest, posted[1].id);
    let after = store.dataset_events_after(1, 10).await.unwrap();
    assert_eq!(after.len(), 2);

    let page = store
        .list_dataset_events(
            &DatasetEventFilter {
                source_dag_id: Some("ingest".into()),
                ..DatasetEventFilter::default()
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(page.total_entries, 1);
    assert_eq!(page.items[0].source_try_number, Some(1));
    let datasets = store
        .list_datasets(Some("raw/orders"), 10, 0)
        .await
        .unwrap();
    assert_eq!(datasets.total_entries, 1);
    assert_eq!(datasets.items[0].events, 2);
    // LIKE's wildcards are literal in the caller's text.
    assert_eq!(
        store
            .list_datasets(Some("%"), 10, 0)
            .await
            .unwrap()
            .total_entries,
        0
    );

    // A consumer's cursor is made once, then moved by compare-and-set.
    let mut consumer = dag("revenue");
    consumer.schedule = Some("datasets: s3://lake/raw/orders/*".into());
    store.upsert_dag(&consumer).await.unwrap();
    let consumer = |cursor| DatasetConsumer {
        dag_id: dag_id("revenue"),
        paused: false,
        cursor,
    };
    assert_eq!(
        store.dataset_consumer_dags().await.unwrap(),
        [consumer(None)]
    );
    assert_eq!(
        store.dataset_cursor(&dag_id("revenue"), 1).await.unwrap(),
        1
    );
    assert_eq!(
        store.dataset_consumer_dags().await.unwrap(),
        [consumer(Some(1))]
    );
    assert_eq!(
        store.dataset_cursor(&dag_id("revenue"), 99).await.unwrap(),
        1
    );
    assert!(
        store
            .move_dataset_cursor(&dag_id("revenue"), 1, 2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .move_dataset_cursor(&dag_id("revenue"), 1, 2)
            .await
            .unwrap()
    );

    // The run, its events and the cursor's move land together; a stale cursor writes nothing.
    let mut run = new_run("revenue", "dataset_triggered__1", day(3));
    run.run_type = RunType::DatasetTriggered;
    let tasks = [new_task("roll", UNMAPPED)];
    let events = [posted[1].id];
    let stale = DatasetTrigger {
        run: &run,
        tasks: &tasks,
        cursor: 1,
        through: newest,
        events: &events,
    };
    assert!(store.trigger_dataset_run(&stale).await.unwrap().is_none());
    assert!(
        store
            .get_dag_run(&dag_id("revenue"), &run.run_id)
            .await
            .unwrap()
            .is_none()
    );
    let made = store
        .trigger_dataset_run(&DatasetTrigger { cursor: 2, ..stale })
        .await
        .unwrap()
        .expect("the run");
    assert_eq!(made.state, DagRunState::Queued);
    assert_eq!(
        store.dataset_cursor(&dag_id("revenue"), 0).await.unwrap(),
        newest
    );
    let triggering = store
        .triggering_dataset_events(&dag_id("revenue"), &run.run_id)
        .await
        .unwrap();
    assert_eq!(triggering.len(), 1);
    assert_eq!(triggering[0].extra, Some(json!({"rows": 1})));
    assert_eq!(
        store.runs_triggered_by(&[posted[1].id]).await.unwrap(),
        [(
            posted[1].id,
            "revenue".to_string(),
            "dataset_triggered__1".to_string()
        )]
    );
    let since = store
        .dataset_events_since("s3://lake/raw/orders/", day(2), 10)
        .await
        .unwrap();
    assert_eq!(since.len(), 1, "the outlet on day 1 is older");
    assert_eq!(since[0].id, posted[1].id);
    assert!(
        store
            .dataset_events_since("s3://lake/raw/orders/", day(3), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .dataset_events_since("s3://lake/raw/orders_", day(1), 10)
            .await
            .unwrap()
            .is_empty(),
        "`_` is literal"
    );
}
