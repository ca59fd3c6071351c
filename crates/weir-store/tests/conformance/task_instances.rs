//! Task instances and tries.

use std::sync::Arc;

use tokio::sync::Barrier;
use weir_core::ids::UNMAPPED;
use weir_core::state::TaskState;
use weir_store::{Store, StoreError, TaskInstanceUpdate, TryOutcome, TryRecord};

use crate::support::*;

pub async fn ti_creation_is_idempotent(store: Store) {
    dag_with_run(&store, "daily").await;
    let (d, r) = (dag_id("daily"), run_id("r1"));
    let mapped = [new_task("m", 1), new_task("m", 0), new_task("a", UNMAPPED)];
    assert_eq!(
        store.create_task_instances(&d, &r, &mapped).await.unwrap(),
        2
    );
    assert_eq!(
        store.create_task_instances(&d, &r, &mapped).await.unwrap(),
        0
    );
    let tis = store.list_task_instances(&d, &r).await.unwrap();
    let keys: Vec<_> = tis
        .iter()
        .map(|t| (t.key.task_id.to_string(), t.key.map_index))
        .collect();
    assert_eq!(
        keys,
        [
            ("a".into(), -1),
            ("b".into(), -1),
            ("m".into(), 0),
            ("m".into(), 1)
        ]
    );
    let m1 = &tis[3];
    assert_eq!(
        (m1.state, m1.try_number, m1.max_tries),
        (TaskState::None, 0, 3)
    );
    assert_eq!(
        (m1.pool.as_str(), m1.queue.as_str(), m1.priority_weight),
        ("default_pool", "default", 1)
    );
    assert_eq!(
        store.get_task_instance(&m1.key).await.unwrap().as_ref(),
        Some(m1)
    );
    assert_eq!(
        store
            .get_task_instance(&ti_key("daily", "r1", "m", 7))
            .await
            .unwrap(),
        None
    );

    let missing = store
        .create_task_instances(&d, &run_id("nope"), &mapped)
        .await;
    assert!(
        matches!(missing, Err(StoreError::DagRunNotFound { .. })),
        "{missing:?}"
    );
}

pub async fn ti_concurrent_cas_has_one_winner(store: Store) {
    dag_with_run(&store, "daily").await;
    let tasks: Vec<_> = (0..10).map(|i| new_task("fan", i)).collect();
    store
        .create_task_instances(&dag_id("daily"), &run_id("r1"), &tasks)
        .await
        .unwrap();
    const CONTENDERS: usize = 4;
    for i in 0..10 {
        let key = ti_key("daily", "r1", "fan", i);
        assert!(
            store
                .update_task_instance(&key, &TaskInstanceUpdate::Schedule)
                .await
                .unwrap()
        );

        // Several dispatchers race to queue the same scheduled instance.
        let barrier = Arc::new(Barrier::new(CONTENDERS));
        let mut racers = Vec::new();
        for n in 0..CONTENDERS {
            let (store, barrier, key) = (store.clone(), barrier.clone(), key.clone());
            racers.push(tokio::spawn(async move {
                let update = TaskInstanceUpdate::Claim {
                    try_number: 1,
                    hostname: format!("replica-{n}"),
                };
                barrier.wait().await;
                store.update_task_instance(&key, &update).await.unwrap()
            }));
        }
        let mut wins = 0;
        for racer in racers {
            wins += usize::from(racer.await.unwrap());
        }
        assert_eq!(
            wins, 1,
            "exactly one of the racing updates applies (instance {i})"
        );
        let ti = store.get_task_instance(&key).await.unwrap().unwrap();
        assert_eq!((ti.state, ti.try_number), (TaskState::Queued, 1));
        assert!(ti.hostname.unwrap().starts_with("replica-"));
    }
}

pub async fn ti_illegal_transition_is_refused(store: Store) {
    dag_with_run(&store, "daily").await;
    let key = ti_key("daily", "r1", "a", UNMAPPED);
    let jump = TaskInstanceUpdate::Mark {
        expected: TaskState::None,
        state: TaskState::Running,
        end_date: day(2),
    };
    let err = store.update_task_instance(&key, &jump).await;
    assert!(
        matches!(err, Err(StoreError::IllegalTransition(_))),
        "{err:?}"
    );
    assert_eq!(
        store.get_task_instance(&key).await.unwrap().unwrap().state,
        TaskState::None
    );

    // A wrong expectation is not an error, it just does not apply.
    let stale = TaskInstanceUpdate::Claim {
        try_number: 1,
        hostname: "h".into(),
    };
    assert!(!store.update_task_instance(&key, &stale).await.unwrap());
    // Nor is an unknown instance.
    let ghost = ti_key("daily", "r1", "zz", 0);
    assert!(
        !store
            .update_task_instance(&ghost, &TaskInstanceUpdate::Schedule)
            .await
            .unwrap()
    );
}

pub async fn ti_update_sets_and_clears_fields(store: Store) {
    dag_with_run(&store, "daily").await;
    let key = ti_key("daily", "r1", "a", UNMAPPED);
    let apply = |u: TaskInstanceUpdate| {
        let (store, key) = (store.clone(), key.clone());
        async move { store.update_task_instance(&key, &u).await.unwrap() }
    };
    assert!(apply(TaskInstanceUpdate::Schedule).await);
    assert!(
        apply(TaskInstanceUpdate::Claim {
            try_number: 1,
            hostname: "worker-1".into(),
        })
        .await
    );
    assert!(
        apply(TaskInstanceUpdate::Run {
            start_date: day(2),
            pid: Some(4242),
            rendered_command: Some("echo 2026-01-01".into()),
        })
        .await
    );

    // Same state: the note only.
    assert!(
        apply(TaskInstanceUpdate::SetNote {
            expected: TaskState::Running,
            note: Some("looked at it".into()),
        })
        .await
    );
    let ti = store.get_task_instance(&key).await.unwrap().unwrap();
    assert_eq!(ti.state, TaskState::Running);
    assert_eq!(ti.try_number, 1);
    assert_eq!(ti.start_date, Some(day(2)));
    assert_eq!(ti.hostname.as_deref(), Some("worker-1"));
    assert_eq!(ti.pid, Some(4242));
    assert_eq!(ti.rendered_command.as_deref(), Some("echo 2026-01-01"));
    assert_eq!(ti.note.as_deref(), Some("looked at it"));
    assert_eq!(ti.next_retry_at, None);

    assert!(
        apply(TaskInstanceUpdate::Finish {
            state: TaskState::UpForRetry,
            end_date: day(3),
            retry_at: Some(day(4)),
        })
        .await
    );
    let ti = store.get_task_instance(&key).await.unwrap().unwrap();
    assert_eq!(ti.state, TaskState::UpForRetry);
    assert_eq!(
        (ti.end_date, ti.next_retry_at, ti.pid),
        (Some(day(3)), Some(day(4)), None)
    );
    assert_eq!(ti.hostname.as_deref(), Some("worker-1"));
}

/// A sensor's life: waits (start date at the first check, next check, note), is due
/// again, waits again (the first check kept), answers as one try; never occupying.
pub async fn ti_sensor_waits_and_answers(store: Store) {
    dag_with_run(&store, "daily").await;
    let key = ti_key("daily", "r1", "a", UNMAPPED);
    let apply = |u: TaskInstanceUpdate| {
        let (store, key) = (store.clone(), key.clone());
        async move { store.update_task_instance(&key, &u).await.unwrap() }
    };
    let get = || {
        let (store, key) = (store.clone(), key.clone());
        async move { store.get_task_instance(&key).await.unwrap().unwrap() }
    };
    assert!(apply(TaskInstanceUpdate::Schedule).await);
    let wait = |next: u32, note: &str| TaskInstanceUpdate::Reschedule {
        first_check: day(2),
        next_check: day(next),
        note: note.into(),
    };
    assert!(apply(wait(3, "waiting for x")).await);
    let ti = get().await;
    assert_eq!(ti.state, TaskState::UpForReschedule);
    assert_eq!(
        (
            ti.start_date,
            ti.next_retry_at,
            ti.note.as_deref(),
            ti.try_number
        ),
        (Some(day(2)), Some(day(3)), Some("waiting for x"), 0)
    );
    assert_eq!(
        store
            .list_task_instances_in_states(&[TaskState::UpForReschedule])
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.count_running_for_dag(&key.dag_id).await.unwrap(), 0);
    assert!(
        !apply(wait(4, "twice")).await,
        "compare-and-set on scheduled"
    );
    assert!(apply(TaskInstanceUpdate::PromoteReschedule).await);
    let ti = get().await;
    assert_eq!((ti.state, ti.next_retry_at), (TaskState::Scheduled, None));
    assert_eq!(ti.start_date, Some(day(2)), "the first check stays");
    assert!(apply(wait(5, "still waiting")).await);
    assert!(apply(TaskInstanceUpdate::PromoteReschedule).await);
    assert!(
        apply(TaskInstanceUpdate::SensorDone {
            state: TaskState::Skipped,
            try_number: 1,
            first_check: day(2),
            at: day(6),
            note: "timed out".into(),
        })
        .await
    );
    let ti = get().await;
    assert_eq!(
        (
            ti.state,
            ti.try_number,
            ti.start_date,
            ti.end_date,
            ti.next_retry_at,
            ti.note.as_deref()
        ),
        (
            TaskState::Skipped,
            1,
            Some(day(2)),
            Some(day(6)),
            None,
            Some("timed out")
        )
    );
}

pub async fn ti_state_queries_and_counts(store: Store) {
    dag_with_run(&store, "one").await;
    dag_with_run(&store, "two").await;
    let mut pooled = new_task("c", UNMAPPED);
    pooled.pool = "gpu".into();
    pooled.priority_weight = 10;
    store
        .create_task_instances(&dag_id("one"), &run_id("r1"), &[pooled])
        .await
        .unwrap();
    let walk = |dag: &str, task: &str, states: &[TaskState]| {
        let key = ti_key(dag, "r1", task, UNMAPPED);
        let updates: Vec<_> = states[1..].iter().map(|to| step_to(*to)).collect();
        let store = store.clone();
        async move {
            for u in updates {
                assert!(store.update_task_instance(&key, &u).await.unwrap(), "{u:?}");
            }
        }
    };
    use TaskState::*;
    walk("one", "a", &[None, Scheduled, Queued]).await;
    walk("one", "c", &[None, Scheduled, Queued, Running]).await;
    walk("two", "a", &[None, Scheduled, Queued, Running]).await;
    walk("two", "b", &[None, Scheduled]).await;

    let running = store
        .list_task_instances_in_states(&[Queued, Running])
        .await
        .unwrap();
    let keys: Vec<_> = running
        .iter()
        .map(|t| format!("{}.{}", t.key.dag_id, t.key.task_id))
        .collect();
    assert_eq!(
        keys,
        ["one.c", "one.a", "two.a"],
        "priority first, then key"
    );
    assert_eq!(
        store
            .list_task_instances_in_states(&[Scheduled])
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .list_task_instances_in_states(&[])
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        store.count_running_in_pool("default_pool").await.unwrap(),
        2
    );
    assert_eq!(store.count_running_in_pool("gpu").await.unwrap(), 1);
    assert_eq!(store.count_running_in_pool("none").await.unwrap(), 0);
    assert_eq!(
        store.count_running_for_dag(&dag_id("one")).await.unwrap(),
        2
    );
    assert_eq!(
        store.count_running_for_dag(&dag_id("two")).await.unwrap(),
        1
    );
}

pub async fn tries_record_and_list_unfinished(store: Store) {
    dag_with_run(&store, "daily").await;
    let a = ti_key("daily", "r1", "a", UNMAPPED);
    let b = ti_key("daily", "r1", "b", UNMAPPED);
    let mut first = TryRecord::started(a.try_key(1), day(2));
    first.hostname = Some("worker-1".into());
    first.try_dir = Some("/var/lib/weir/tries/daily.r1.a.-1.1".into());
    first.pid = Some(77);
    first.executor = Some("process".into());
    store.insert_try(&first).await.unwrap();
    store
        .insert_try(&TryRecord::started(b.try_key(1), day(3)))
        .await
        .unwrap();
    let dup = store.insert_try(&first).await;
    assert!(matches!(dup, Err(StoreError::TryExists(_))), "{dup:?}");
    let ghost = store
        .insert_try(&TryRecord::started(
            ti_key("daily", "r1", "zz", 0).try_key(1),
            day(2),
        ))
        .await;
    assert!(
        matches!(ghost, Err(StoreError::TaskInstanceNotFound(_))),
        "{ghost:?}"
    );

    let unfinished = store.list_unfinished_tries().await.unwrap();
    assert_eq!(
        unfinished,
        [first.clone(), TryRecord::started(b.try_key(1), day(3))]
    );

    let outcome = TryOutcome {
        state: TaskState::Failed,
        exit_code: Some(137),
        reason: Some("killed: out of memory".into()),
        finished_at: day(4),
        cpu_seconds: Some(12.5),
        peak_rss_bytes: Some(3 * 1024 * 1024 * 1024),
    };
    assert!(store.finish_try(&a.try_key(1), &outcome).await.unwrap());
    assert!(
        !store.finish_try(&a.try_key(1), &outcome).await.unwrap(),
        "finishes once"
    );
    assert!(
        store
            .set_try_external_id(&a.try_key(1), "job-123")
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_try_external_id(&a.try_key(9), "job-9")
            .await
            .unwrap()
    );

    let got = store.get_try(&a.try_key(1)).await.unwrap().unwrap();
    assert_eq!(got.state, TaskState::Failed);
    assert_eq!(got.finished_at, Some(day(4)));
    assert_eq!(got.exit_code, Some(137));
    assert_eq!(got.reason.as_deref(), Some("killed: out of memory"));
    assert_eq!(got.cpu_seconds, Some(12.5));
    assert_eq!(got.peak_rss_bytes, Some(3 * 1024 * 1024 * 1024));
    assert_eq!(got.external_id.as_deref(), Some("job-123"));
    assert_eq!(
        (got.pid, got.executor.as_deref()),
        (Some(77), Some("process"))
    );

    store
        .insert_try(&TryRecord::started(a.try_key(2), day(5)))
        .await
        .unwrap();
    let tries = store.list_tries(&a).await.unwrap();
    assert_eq!(
        tries.iter().map(|t| t.key.try_number).collect::<Vec<_>>(),
        [1, 2]
    );
    let unfinished = store.list_unfinished_tries().await.unwrap();
    let keys: Vec<_> = unfinished.iter().map(|t| t.key.to_string()).collect();
    assert_eq!(keys, ["daily/r1/b[-1]#1", "daily/r1/a[-1]#2"]);
    assert_eq!(store.get_try(&a.try_key(3)).await.unwrap(), None);
}

pub async fn never_started_tries_are_counted(store: Store) {
    dag_with_run(&store, "daily").await;
    let a = ti_key("daily", "r1", "a", UNMAPPED);
    let b = ti_key("daily", "r1", "b", UNMAPPED);
    assert_eq!(store.count_never_started_tries(&a).await.unwrap(), 0);
    for n in 1..=3 {
        store
            .insert_try(&TryRecord::started(a.try_key(n), day(n)))
            .await
            .unwrap();
    }
    store
        .insert_try(&TryRecord::started(b.try_key(1), day(1)))
        .await
        .unwrap();
    let closed = |state| TryOutcome {
        state,
        exit_code: None,
        reason: Some("never started".into()),
        finished_at: day(4),
        cpu_seconds: None,
        peak_rss_bytes: None,
    };
    // Try 1 never started, try 2 failed, try 3 is still running.
    assert!(
        store
            .finish_try(&a.try_key(1), &closed(TaskState::Scheduled))
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_try(&a.try_key(2), &closed(TaskState::UpForRetry))
            .await
            .unwrap()
    );
    assert_eq!(store.count_never_started_tries(&a).await.unwrap(), 1);
    assert_eq!(store.count_never_started_tries(&b).await.unwrap(), 0);
}

/// The change that takes an instance along the life of a try to `to`.
fn step_to(to: TaskState) -> TaskInstanceUpdate {
    match to {
        TaskState::Scheduled => TaskInstanceUpdate::Schedule,
        TaskState::Queued => TaskInstanceUpdate::Claim {
            try_number: 1,
            hostname: "worker-1".into(),
        },
        TaskState::Running => TaskInstanceUpdate::Run {
            start_date: day(2),
            pid: None,
            rendered_command: None,
        },
        other => panic!("no step to {other}"),
    }
}

/// What an observer of the store hears: each method timed under its name, and each
/// state change that landed — not a lost compare-and-set, not a note.
pub async fn the_observer_hears_timed_methods_and_landed_changes(store: Store) {
    #[derive(Default)]
    struct Heard {
        operations: std::sync::Mutex<Vec<&'static str>>,
        moved: std::sync::Mutex<Vec<(String, TaskState)>>,
    }
    impl weir_store::StoreObserver for Heard {
        fn query(&self, operation: &'static str, _: std::time::Duration) {
            self.operations.lock().unwrap().push(operation);
        }
        fn task_instance_moved(&self, key: &weir_store::TaskInstanceKey, to: TaskState) {
            self.moved
                .lock()
                .unwrap()
                .push((key.task_id.to_string(), to));
        }
    }
    dag_with_run(&store, "daily").await;
    let heard = Arc::new(Heard::default());
    // Set on a clone: every clone of the store shares it.
    store.clone().observe(heard.clone());
    let key = ti_key("daily", "r1", "a", UNMAPPED);
    let claim = TaskInstanceUpdate::Claim {
        try_number: 1,
        hostname: "here".into(),
    };
    let note = TaskInstanceUpdate::SetNote {
        expected: TaskState::Queued,
        note: Some("looked at".into()),
    };
    for (update, applies) in [
        (&TaskInstanceUpdate::Schedule, true),
        (&claim, true),
        (&claim, false),
        (&note, true),
    ] {
        assert_eq!(
            store.update_task_instance(&key, update).await.unwrap(),
            applies
        );
    }
    assert_eq!(
        *heard.moved.lock().unwrap(),
        [
            ("a".to_string(), TaskState::Scheduled),
            ("a".to_string(), TaskState::Queued)
        ]
    );
    store.get_task_instance(&key).await.unwrap();
    assert_eq!(
        *heard.operations.lock().unwrap(),
        [
            "update_task_instance",
            "update_task_instance",
            "update_task_instance",
            "update_task_instance",
            "get_task_instance"
        ]
    );
}
