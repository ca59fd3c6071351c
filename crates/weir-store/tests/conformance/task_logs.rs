//! Where a finished try's log went (`task_log`): archived with its location and size,
//! removed by retention, and the sweeps' questions (finished tries of this host not
//! archived yet; tries past the retention not removed yet).

use weir_core::ids::UNMAPPED;
use weir_core::state::TaskState;
use weir_store::{Store, TryOutcome, TryRecord};

use crate::support::{dag_with_run, day, ti_key};

pub async fn task_logs_record_archives_removals_and_sweeps(store: Store) {
    dag_with_run(&store, "daily").await;
    let a = ti_key("daily", "r1", "a", UNMAPPED);
    let b = ti_key("daily", "r1", "b", UNMAPPED);
    let start = |key, host: &str, at| {
        let mut t = TryRecord::started(key, at);
        t.hostname = Some(host.into());
        t.try_dir = Some(format!("/weir/logs/{}", t.key));
        t
    };
    let finished = |at| TryOutcome {
        state: TaskState::Success,
        exit_code: Some(0),
        reason: None,
        finished_at: at,
        cpu_seconds: None,
        peak_rss_bytes: None,
    };
    // a#1 ended on day 3 here, a#2 ended on day 5 on another host, b#1 still runs.
    store
        .insert_try(&start(a.try_key(1), "here", day(2)))
        .await
        .unwrap();
    store
        .finish_try(&a.try_key(1), &finished(day(3)))
        .await
        .unwrap();
    store
        .insert_try(&start(a.try_key(2), "there", day(4)))
        .await
        .unwrap();
    store
        .finish_try(&a.try_key(2), &finished(day(5)))
        .await
        .unwrap();
    store
        .insert_try(&start(b.try_key(1), "here", day(4)))
        .await
        .unwrap();

    let keys = |tries: Vec<TryRecord>| -> Vec<String> {
        tries.iter().map(|t| t.key.to_string()).collect()
    };
    assert_eq!(store.task_log(&a.try_key(1)).await.unwrap(), None);
    assert_eq!(
        keys(store.list_unarchived_logs("here", 10).await.unwrap()),
        ["daily/r1/a[-1]#1"],
        "only finished tries of this host"
    );
    assert_eq!(
        keys(store.list_unarchived_logs("there", 10).await.unwrap()),
        ["daily/r1/a[-1]#2"]
    );

    let location = "s3://weir-logs/growth/daily/r1/a/-1/1.log";
    store
        .record_log_archived(&a.try_key(1), Some(location), Some(1234), day(6))
        .await
        .unwrap();
    let got = store.task_log(&a.try_key(1)).await.unwrap().unwrap();
    assert_eq!(got.key, a.try_key(1));
    assert_eq!(got.location.as_deref(), Some(location));
    assert_eq!(got.size_bytes, Some(1234));
    assert_eq!((got.archived_at, got.removed_at), (Some(day(6)), None));
    assert!(
        store
            .list_unarchived_logs("here", 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Past the retention: the archived one from any host, a local one only from its own.
    let expired = store.list_expired_logs(day(9), "here", 10).await.unwrap();
    let found: Vec<(String, Option<String>)> = expired
        .iter()
        .map(|e| (e.record.key.to_string(), e.location.clone()))
        .collect();
    assert_eq!(
        found,
        [("daily/r1/a[-1]#1".to_string(), Some(location.to_string()))]
    );
    assert_eq!(
        store
            .list_expired_logs(day(9), "there", 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        store
            .list_expired_logs(day(3), "there", 10)
            .await
            .unwrap()
            .is_empty()
    );

    store
        .record_log_removed(&a.try_key(1), day(9))
        .await
        .unwrap();
    let got = store.task_log(&a.try_key(1)).await.unwrap().unwrap();
    assert_eq!(got.removed_at, Some(day(9)));
    // A late archive does not bring a removed log back.
    store
        .record_log_archived(&a.try_key(1), Some(location), Some(1), day(10))
        .await
        .unwrap();
    let got = store.task_log(&a.try_key(1)).await.unwrap().unwrap();
    assert_eq!((got.size_bytes, got.removed_at), (Some(1234), Some(day(9))));
    // A local log removed without ever being archived.
    store
        .record_log_removed(&a.try_key(2), day(9))
        .await
        .unwrap();
    assert!(
        store
            .list_expired_logs(day(9), "there", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_unarchived_logs("there", 10)
            .await
            .unwrap()
            .is_empty()
    );
}
