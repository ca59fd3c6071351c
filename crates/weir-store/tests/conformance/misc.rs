//! Opening, XComs, variables, import errors and pools.

use serde_json::json;
use weir_core::ids::UNMAPPED;
use weir_store::{NewPool, PoolChange, Store, StoreError};

use crate::support::*;

pub async fn store_opens_and_answers(store: Store) {
    store.health_check().await.unwrap();
    assert!(["sqlite", "postgres"].contains(&store.backend_name()));
    // Migrations are idempotent.
    store.migrate().await.unwrap();
    store.health_check().await.unwrap();
}

pub async fn xcom_upserts_lists_and_clears(store: Store) {
    dag_with_run(&store, "daily").await;
    let (d, r) = (dag_id("daily"), run_id("r1"));
    store
        .create_task_instances(&d, &r, &[new_task("m", 0), new_task("m", 1)])
        .await
        .unwrap();
    let a = ti_key("daily", "r1", "a", UNMAPPED);
    let value = json!({"rows": 42, "files": ["x.csv", "y.csv"], "ratio": 0.25, "none": null});
    store.set_xcom(&a, "return_value", &value).await.unwrap();
    let got = store.get_xcom(&a, "return_value").await.unwrap().unwrap();
    assert_eq!(
        (got.key.clone(), got.xcom_key.as_str(), &got.value),
        (a.clone(), "return_value", &value)
    );

    // Upsert: a second write replaces the value.
    store
        .set_xcom(&a, "return_value", &json!("second"))
        .await
        .unwrap();
    let got = store.get_xcom(&a, "return_value").await.unwrap().unwrap();
    assert_eq!(got.value, json!("second"));
    store.set_xcom(&a, "extra", &json!([1, 2])).await.unwrap();
    store
        .set_xcom(&ti_key("daily", "r1", "m", 1), "return_value", &json!(1))
        .await
        .unwrap();
    store
        .set_xcom(&ti_key("daily", "r1", "m", 0), "return_value", &json!(0))
        .await
        .unwrap();
    store
        .set_xcom(&ti_key("daily", "r1", "b", UNMAPPED), "k", &json!(true))
        .await
        .unwrap();

    let all = store.list_xcoms(&d, &r, None).await.unwrap();
    let keys: Vec<_> = all
        .iter()
        .map(|x| format!("{}[{}].{}", x.key.task_id, x.key.map_index, x.xcom_key))
        .collect();
    assert_eq!(
        keys,
        [
            "a[-1].extra",
            "a[-1].return_value",
            "b[-1].k",
            "m[0].return_value",
            "m[1].return_value"
        ]
    );
    let m = store.list_xcoms(&d, &r, Some(&task_id("m"))).await.unwrap();
    assert_eq!(
        m.iter().map(|x| x.value.clone()).collect::<Vec<_>>(),
        [json!(0), json!(1)]
    );

    assert_eq!(store.clear_xcoms(&a).await.unwrap(), 2);
    assert_eq!(store.get_xcom(&a, "extra").await.unwrap(), None);
    assert_eq!(store.list_xcoms(&d, &r, None).await.unwrap().len(), 3);

    let ghost = store
        .set_xcom(&ti_key("daily", "r1", "zz", 0), "k", &json!(1))
        .await;
    assert!(
        matches!(ghost, Err(StoreError::TaskInstanceNotFound(_))),
        "{ghost:?}"
    );
}

pub async fn variables_crud_and_pages(store: Store) {
    assert_eq!(store.get_variable("k").await.unwrap(), None);
    let v = store
        .set_variable("k", "v1", Some("first"), None)
        .await
        .unwrap();
    assert_eq!(
        (v.key.as_str(), v.value.as_str(), v.description.as_deref()),
        ("k", "v1", Some("first"))
    );
    let v = store
        .set_variable("k", "v2 with 'quotes' and ünïcode", None, None)
        .await
        .unwrap();
    assert_eq!(v.value, "v2 with 'quotes' and ünïcode");
    assert_eq!(v.description, None);
    assert_eq!(store.get_variable("k").await.unwrap(), Some(v));
    for key in ["c", "a", "b"] {
        store.set_variable(key, "x", None, None).await.unwrap();
    }
    let page = store.list_variables(2, 1).await.unwrap();
    assert_eq!(page.total_entries, 4);
    assert_eq!(
        page.items
            .iter()
            .map(|v| v.key.as_str())
            .collect::<Vec<_>>(),
        ["b", "c"]
    );
    assert!(store.delete_variable("k").await.unwrap());
    assert!(!store.delete_variable("k").await.unwrap());
    assert_eq!(store.list_variables(100, 0).await.unwrap().total_entries, 3);
}

pub async fn variables_of_a_team_are_its_own_and_platform_wide(store: Store) {
    for (key, team) in [
        ("a_own", Some("alpha")),
        ("b_own", Some("beta")),
        ("shared", None),
        ("alphabet", Some("alphabet")),
    ] {
        store.set_variable(key, "x", None, team).await.unwrap();
    }
    let keys = |vars: Vec<weir_store::VariableRecord>| -> Vec<String> {
        vars.into_iter().map(|v| v.key).collect()
    };
    assert_eq!(
        keys(store.variables_of_team("beta").await.unwrap()),
        ["b_own", "shared"]
    );
    assert_eq!(
        keys(store.variables_of_team("alpha").await.unwrap()),
        ["a_own", "shared"]
    );
    assert_eq!(
        keys(store.variables_of_team("nobody").await.unwrap()),
        ["shared"]
    );
}

pub async fn import_errors_are_replaced_per_file(store: Store) {
    let traces = |n: usize, file: &str| -> Vec<String> {
        (0..n).map(|i| format!("{file}:{i}:1: error {i}")).collect()
    };
    store
        .replace_import_errors("dags/a.yaml", &traces(2, "a"))
        .await
        .unwrap();
    store
        .replace_import_errors("dags/b.yaml", &traces(1, "b"))
        .await
        .unwrap();
    let page = store.list_import_errors(100, 0).await.unwrap();
    assert_eq!(page.total_entries, 3);
    assert_eq!(
        store.import_error_files().await.unwrap(),
        ["dags/a.yaml", "dags/b.yaml"]
    );
    assert_eq!(page.items[0].filename, "dags/a.yaml");
    assert_eq!(page.items[0].stack_trace, "a:0:1: error 0");
    let id = page.items[2].import_error_id;
    assert_eq!(
        store.get_import_error(id).await.unwrap().as_ref(),
        Some(&page.items[2])
    );

    store
        .replace_import_errors("dags/a.yaml", &traces(1, "a2"))
        .await
        .unwrap();
    let page = store.list_import_errors(1, 0).await.unwrap();
    assert_eq!(page.total_entries, 2);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].filename, "dags/b.yaml", "older ids first");
    store
        .replace_import_errors("dags/a.yaml", &[])
        .await
        .unwrap();
    let page = store.list_import_errors(100, 0).await.unwrap();
    assert_eq!(page.total_entries, 1);
    assert_eq!(store.import_error_files().await.unwrap(), ["dags/b.yaml"]);
    assert_eq!(
        store.list_import_errors(100, 1).await.unwrap().items.len(),
        0
    );
    assert_eq!(store.get_import_error(-1).await.unwrap(), None);
}

pub async fn pools_crud_and_default_pool(store: Store) {
    let default = store.get_pool("default_pool").await.unwrap().unwrap();
    assert_eq!(default.slots, 128);
    let gpu = store.upsert_pool("gpu", 4, Some("GPUs")).await.unwrap();
    assert_eq!(
        (gpu.name.as_str(), gpu.slots, gpu.description.as_deref()),
        ("gpu", 4, Some("GPUs"))
    );
    let gpu = store.upsert_pool("gpu", -1, None).await.unwrap();
    assert_eq!((gpu.slots, gpu.description), (-1, None));
    store.upsert_pool("default_pool", 16, None).await.unwrap();
    assert_eq!(
        store.get_pool("default_pool").await.unwrap().unwrap().slots,
        16
    );
    let bad = store.upsert_pool("x", -2, None).await;
    assert!(
        matches!(bad, Err(StoreError::InvalidInput { .. })),
        "{bad:?}"
    );

    let page = store.list_pools(1, 0).await.unwrap();
    assert_eq!(page.total_entries, 2);
    assert_eq!(page.items[0].name, "default_pool");
    let undeletable = store.delete_pool("default_pool").await;
    assert!(
        matches!(undeletable, Err(StoreError::DefaultPoolUndeletable(_))),
        "{undeletable:?}"
    );
    assert!(store.delete_pool("gpu").await.unwrap());
    assert!(!store.delete_pool("gpu").await.unwrap());
    assert_eq!(store.get_pool("gpu").await.unwrap(), None);
}

pub async fn negative_pages_are_refused(store: Store) {
    let bad = store.list_variables(-1, 0).await;
    assert!(
        matches!(bad, Err(StoreError::InvalidInput { .. })),
        "{bad:?}"
    );
    let bad = store.list_pools(10, -5).await;
    assert!(
        matches!(bad, Err(StoreError::InvalidInput { .. })),
        "{bad:?}"
    );
    let filter = weir_store::DagRunFilter {
        limit: -1,
        ..Default::default()
    };
    assert!(store.list_dag_runs(&filter).await.is_err());
    assert_eq!(store.list_pools(0, 0).await.unwrap().items.len(), 0);
}

/// Many writers at once, each with multi-statement transactions: on SQLite they queue for
/// the one write lock (none fails with "database is locked"), on PostgreSQL they interleave.
pub async fn parallel_writers_all_succeed(store: Store) {
    use weir_core::state::TaskState;
    use weir_store::TaskInstanceUpdate;

    let mut writers = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let name = format!("dag{w}");
            store.upsert_dag(&dag(&name)).await.unwrap();
            for r in 1..=5 {
                let run = format!("r{r}");
                let tasks: Vec<_> = (0..5).map(|i| new_task("t", i)).collect();
                store
                    .create_dag_run_with_tasks(&new_run(&name, &run, day(r)), &tasks)
                    .await
                    .unwrap();
                for i in 0..5 {
                    let key = ti_key(&name, &run, "t", i);
                    assert!(
                        store
                            .update_task_instance(&key, &TaskInstanceUpdate::Schedule)
                            .await
                            .unwrap()
                    );
                    store
                        .set_xcom(&key, "return_value", &json!(i))
                        .await
                        .unwrap();
                }
                let traces = vec![format!("{name} {run}")];
                store.replace_import_errors(&name, &traces).await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let scheduled = store
        .list_task_instances_in_states(&[TaskState::Scheduled])
        .await;
    assert_eq!(scheduled.unwrap().len(), 8 * 5 * 5);
    assert_eq!(
        store
            .list_import_errors(100, 0)
            .await
            .unwrap()
            .total_entries,
        8
    );
}

pub async fn pools_are_created_changed_and_renamed(store: Store) {
    let new = NewPool {
        name: "gpu".into(),
        slots: 2,
        description: Some("GPUs".into()),
        include_deferred: true,
    };
    let gpu = store.create_pool(&new).await.unwrap();
    assert_eq!(
        (gpu.name.as_str(), gpu.slots, gpu.description.as_deref()),
        ("gpu", 2, Some("GPUs"))
    );
    assert!(gpu.include_deferred);
    assert_eq!(store.get_pool("gpu").await.unwrap(), Some(gpu.clone()));
    let again = store.create_pool(&new).await;
    assert!(
        matches!(again, Err(StoreError::PoolExists(ref n)) if n == "gpu"),
        "{again:?}"
    );
    let bad = store
        .create_pool(&NewPool {
            slots: -3,
            ..new.clone()
        })
        .await;
    assert!(
        matches!(bad, Err(StoreError::InvalidInput { .. })),
        "{bad:?}"
    );

    // Only what the change names is changed.
    let resized = store
        .update_pool(
            "gpu",
            &PoolChange {
                slots: Some(5),
                ..PoolChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            resized.slots,
            resized.description.as_deref(),
            resized.include_deferred
        ),
        (5, Some("GPUs"), true)
    );
    let cleared = store
        .update_pool(
            "gpu",
            &PoolChange {
                description: Some(None),
                include_deferred: Some(false),
                ..PoolChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (cleared.slots, cleared.description, cleared.include_deferred),
        (5, None, false)
    );
    let renamed = store
        .update_pool(
            "gpu",
            &PoolChange {
                name: Some("accelerators".into()),
                ..PoolChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.slots), ("accelerators", 5));
    assert_eq!(store.get_pool("gpu").await.unwrap(), None);

    let missing = store.update_pool("gpu", &PoolChange::default()).await;
    assert!(
        matches!(missing, Err(StoreError::PoolNotFound(_))),
        "{missing:?}"
    );
    let taken = store
        .update_pool(
            "accelerators",
            &PoolChange {
                name: Some("default_pool".into()),
                ..PoolChange::default()
            },
        )
        .await;
    assert!(matches!(taken, Err(StoreError::PoolExists(_))), "{taken:?}");
    let default_renamed = store
        .update_pool(
            "default_pool",
            &PoolChange {
                name: Some("other".into()),
                ..PoolChange::default()
            },
        )
        .await;
    assert!(
        matches!(default_renamed, Err(StoreError::InvalidInput { .. })),
        "{default_renamed:?}"
    );
    let default = store
        .update_pool(
            "default_pool",
            &PoolChange {
                name: Some("default_pool".into()),
                slots: Some(-1),
                ..PoolChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(default.slots, -1);
    assert!(!default.include_deferred);
}
