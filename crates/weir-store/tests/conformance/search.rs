//! The API's batch searches (`ti_search`): task instances and DAG runs across DAGs, and
//! the database's display URL.

use weir_core::ids::UNMAPPED;
use weir_core::state::{DagRunState, TaskState};
use weir_store::ti_search::{DagRunSearch, TaskInstanceOrder, TaskInstanceSearch};
use weir_store::{DagRunOrder, NewTaskInstance, Store, TaskInstanceUpdate};

use crate::support::*;

/// `daily/r1` (day 1: `a` succeeded in 90 s, `b` no status) and `weekly/w1` (day 5: `a`
/// in pool `other`, queue `gpu`).
async fn fixture(store: &Store) {
    dag_with_run(store, "daily").await;
    let a = ti_key("daily", "r1", "a", UNMAPPED);
    let ran = [
        TaskInstanceUpdate::Schedule,
        TaskInstanceUpdate::Claim {
            try_number: 1,
            hostname: "worker-1".into(),
        },
        TaskInstanceUpdate::Run {
            start_date: day(2),
            pid: None,
            rendered_command: None,
        },
        TaskInstanceUpdate::Finish {
            state: TaskState::Success,
            end_date: day(2) + chrono::Duration::seconds(90),
            retry_at: None,
        },
    ];
    for u in &ran {
        assert!(store.update_task_instance(&a, u).await.unwrap(), "{u:?}");
    }
    store.upsert_dag(&dag("weekly")).await.unwrap();
    let task = NewTaskInstance {
        pool: "other".into(),
        queue: "gpu".into(),
        ..new_task("a", UNMAPPED)
    };
    store
        .create_dag_run_with_tasks(&new_run("weekly", "w1", day(5)), &[task])
        .await
        .unwrap();
}

fn tasks(page: &weir_store::Page<weir_store::ti_search::TaskInstanceHit>) -> Vec<String> {
    page.items
        .iter()
        .map(|h| {
            format!(
                "{}/{}/{}",
                h.ti.key.dag_id, h.ti.key.run_id, h.ti.key.task_id
            )
        })
        .collect()
}

pub async fn batch_searches_filter_and_page(store: Store) {
    fixture(&store).await;
    let all = TaskInstanceSearch {
        limit: 100,
        ..TaskInstanceSearch::default()
    };
    let page = store.search_task_instances(&all).await.unwrap();
    assert_eq!(page.total_entries, 3);
    assert_eq!(tasks(&page), ["daily/r1/a", "daily/r1/b", "weekly/w1/a"]);
    assert_eq!(page.items[0].logical_date, day(1));
    assert_eq!(page.items[2].logical_date, day(5));

    let search = |f: fn(&mut TaskInstanceSearch)| {
        let mut s = all.clone();
        f(&mut s);
        s
    };
    let cases: Vec<(TaskInstanceSearch, Vec<&str>)> = vec![
        (
            search(|s| s.dag_ids = vec![dag_id("weekly")]),
            vec!["weekly/w1/a"],
        ),
        (
            search(|s| s.run_ids = vec![run_id("r1")]),
            vec!["daily/r1/a", "daily/r1/b"],
        ),
        (
            search(|s| s.task_ids = vec![task_id("b")]),
            vec!["daily/r1/b"],
        ),
        (
            search(|s| s.states = vec![TaskState::Success]),
            vec!["daily/r1/a"],
        ),
        (
            search(|s| s.pools = vec!["other".into()]),
            vec!["weekly/w1/a"],
        ),
        (
            search(|s| s.queues = vec!["default".into()]),
            vec!["daily/r1/a", "daily/r1/b"],
        ),
        (
            search(|s| s.logical_date_gte = Some(day(3))),
            vec!["weekly/w1/a"],
        ),
        (
            search(|s| s.logical_date_lte = Some(day(1))),
            vec!["daily/r1/a", "daily/r1/b"],
        ),
        (
            search(|s| s.start_date_gte = Some(day(2))),
            vec!["daily/r1/a"],
        ),
        (search(|s| s.start_date_lte = Some(day(1))), vec![]),
        (
            search(|s| s.end_date_gte = Some(day(2))),
            vec!["daily/r1/a"],
        ),
        (search(|s| s.end_date_lte = Some(day(2))), vec![]),
        (
            search(|s| {
                s.duration_gte = Some(89.0);
                s.duration_lte = Some(91.0);
            }),
            vec!["daily/r1/a"],
        ),
        (search(|s| s.duration_gte = Some(91.0)), vec![]),
    ];
    for (s, expected) in cases {
        let page = store.search_task_instances(&s).await.unwrap();
        assert_eq!(tasks(&page), expected, "{s:?}");
        assert_eq!(page.total_entries, expected.len() as i64, "{s:?}");
    }
    let second = search(|s| {
        s.limit = 1;
        s.offset = 1;
    });
    let page = store.search_task_instances(&second).await.unwrap();
    assert_eq!(
        (tasks(&page), page.total_entries),
        (vec!["daily/r1/b".to_string()], 3)
    );

    let runs = |s: DagRunSearch| {
        let store = store.clone();
        async move {
            let page = store.search_dag_runs(&s).await.unwrap();
            let ids: Vec<String> = page.items.iter().map(|r| r.dag_id.to_string()).collect();
            (ids, page.total_entries)
        }
    };
    assert_eq!(
        runs(DagRunSearch::default()).await,
        (vec!["daily".into(), "weekly".into()], 2)
    );
    let by_dag_desc = DagRunSearch {
        order_by: DagRunOrder::DagId,
        descending: true,
        ..DagRunSearch::default()
    };
    assert_eq!(runs(by_dag_desc).await.0, ["weekly", "daily"]);
    let some = DagRunSearch {
        dag_ids: vec![dag_id("weekly"), dag_id("nope")],
        states: vec![DagRunState::Queued],
        logical_date_gte: Some(day(2)),
        logical_date_lte: Some(day(9)),
        ..DagRunSearch::default()
    };
    assert_eq!(runs(some).await, (vec!["weekly".into()], 1));
    let started = DagRunSearch {
        start_date_gte: Some(day(1)),
        ..DagRunSearch::default()
    };
    assert_eq!(runs(started).await.1, 0, "queued runs have not started");
    let paged = DagRunSearch {
        limit: 1,
        offset: 1,
        ..DagRunSearch::default()
    };
    assert_eq!(runs(paged).await, (vec!["weekly".into()], 2));
    assert!(
        store
            .search_dag_runs(&DagRunSearch {
                limit: -1,
                ..DagRunSearch::default()
            })
            .await
            .is_err()
    );

    let url = store.display_url();
    assert!(
        url.starts_with("sqlite://") || url.starts_with("postgres://"),
        "{url}"
    );
    if let Ok(pg) = std::env::var("WEIR_TEST_POSTGRES_URL")
        && let Some(password) = pg
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .map(|(_, p)| p.to_string())
    {
        assert!(!url.contains(&format!(":{password}@")), "{url}");
    }
}

pub async fn task_instance_searches_sort_as_asked(store: Store) {
    fixture(&store).await;
    let by = |order: TaskInstanceOrder, descending: bool| TaskInstanceSearch {
        order_by: Some(order),
        descending,
        limit: 100,
        ..TaskInstanceSearch::default()
    };
    let page = store
        .search_task_instances(&by(TaskInstanceOrder::LogicalDate, true))
        .await
        .unwrap();
    assert_eq!(tasks(&page), ["weekly/w1/a", "daily/r1/b", "daily/r1/a"]);
    // Only `daily/r1/a` has a duration; those without one come last both ways.
    for descending in [false, true] {
        let page = store
            .search_task_instances(&by(TaskInstanceOrder::Duration, descending))
            .await
            .unwrap();
        assert_eq!(tasks(&page)[0], "daily/r1/a", "descending: {descending}");
    }
    let page = store
        .search_task_instances(&by(TaskInstanceOrder::Pool, true))
        .await
        .unwrap();
    assert_eq!(tasks(&page)[0], "weekly/w1/a");
    let page = store
        .search_task_instances(&TaskInstanceSearch {
            limit: 1,
            offset: 1,
            ..by(TaskInstanceOrder::TaskId, false)
        })
        .await
        .unwrap();
    assert_eq!(
        (page.total_entries, tasks(&page)),
        (3, vec!["weekly/w1/a".to_string()])
    );
}
