//! Notification messages: recorded once per (event, channel, medium), handed out when
//! due, moved only while pending, listed per team, and summed per channel.

use chrono::Duration;
use serde_json::json;
use weir_core::state::DagRunState;
use weir_store::{DeliveryUpdate, NewNotification, NotificationFilter, Store};

use crate::support::{dag, dag_id, day, new_run};

fn message(key: &str, channel: &str, medium: &str, team: &str) -> NewNotification {
    NewNotification {
        dedup_key: key.into(),
        channel: channel.into(),
        medium: medium.into(),
        team: team.into(),
        dag_id: "load".into(),
        run_id: "r1".into(),
        task_id: Some("extract".into()),
        event: "failure".into(),
        message: json!({"event": "failure", "log_tail": ["line 1"]}),
        created_at: day(1),
    }
}

pub async fn notifications_are_deduplicated_delivered_and_listed(store: Store) {
    let first = [
        message(
            "failure:load/r1/extract/-1/1",
            "alerts",
            "webhook",
            "data-eng",
        ),
        message(
            "failure:load/r1/extract/-1/1",
            "alerts",
            "email",
            "data-eng",
        ),
        message("failure:other/r1/x/-1/1", "alerts", "webhook", "marketing"),
    ];
    assert_eq!(store.enqueue_notifications(&first).await.unwrap(), 3);
    // The same event raised again (a restart, a second replica): nothing new.
    assert_eq!(store.enqueue_notifications(&first[..2]).await.unwrap(), 0);
    assert_eq!(store.next_notification_due().await.unwrap(), Some(day(1)));

    let due = store.due_notifications(day(1), 10).await.unwrap();
    assert_eq!(due.len(), 3);
    assert!(
        store
            .due_notifications(day(1) - Duration::seconds(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (a, b, c) = (due[0].id, due[1].id, due[2].id);
    assert_eq!(due[0].message["log_tail"][0], "line 1");

    let later = day(1) + Duration::seconds(10);
    assert!(
        store
            .record_delivery(a, day(1), &DeliveryUpdate::Sent)
            .await
            .unwrap()
    );
    // Only a pending message moves.
    assert!(
        !store
            .record_delivery(a, day(1), &DeliveryUpdate::Sent)
            .await
            .unwrap()
    );
    let retry = DeliveryUpdate::Retry {
        next_at: later,
        error: "HTTP 500".into(),
    };
    assert!(store.record_delivery(b, day(1), &retry).await.unwrap());
    let postponed = DeliveryUpdate::Postponed { next_at: later };
    assert!(store.record_delivery(c, day(1), &postponed).await.unwrap());
    assert_eq!(store.next_notification_due().await.unwrap(), Some(later));
    assert!(
        store
            .due_notifications(day(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.due_notifications(later, 10).await.unwrap();
    assert_eq!(again.len(), 2);
    let b_now = again.iter().find(|n| n.id == b).unwrap();
    assert_eq!(
        (b_now.attempts, b_now.last_error.as_deref()),
        (1, Some("HTTP 500"))
    );
    let c_now = again.iter().find(|n| n.id == c).unwrap();
    assert_eq!(c_now.attempts, 0, "a postponed message used no attempt");
    let failed = DeliveryUpdate::Failed {
        error: "HTTP 500 (gave up)".into(),
    };
    assert!(store.record_delivery(b, later, &failed).await.unwrap());

    let mine = NotificationFilter {
        teams: Some(vec!["data-eng".into()]),
        ..NotificationFilter::default()
    };
    let page = store.list_notifications(&mine, 10, 0).await.unwrap();
    assert_eq!(page.total_entries, 2);
    assert!(page.items.iter().all(|n| n.team == "data-eng"));
    assert_eq!(page.items[0].id, b, "newest first");
    let sent = store
        .list_notifications(
            &NotificationFilter {
                state: Some("sent".into()),
                ..mine.clone()
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        (sent.total_entries, sent.items[0].sent_at),
        (1, Some(day(1)))
    );
    let none = NotificationFilter {
        teams: Some(Vec::new()),
        ..NotificationFilter::default()
    };
    assert_eq!(
        store
            .list_notifications(&none, 10, 0)
            .await
            .unwrap()
            .total_entries,
        0
    );

    let all = store.channel_deliveries(None).await.unwrap();
    assert_eq!(all.len(), 1);
    let alerts = &all[0];
    assert_eq!((alerts.pending, alerts.sent, alerts.failed), (1, 1, 1));
    assert_eq!(alerts.last_sent_at, Some(day(1)));
    assert_eq!(alerts.last_error.as_deref(), Some("HTTP 500 (gave up)"));
    let theirs = store
        .channel_deliveries(Some(&["marketing".to_string()]))
        .await
        .unwrap();
    assert_eq!(
        (theirs[0].pending, theirs[0].sent, theirs[0].failed),
        (1, 0, 0)
    );
}

pub async fn the_previous_finished_run_is_found_by_logical_date(store: Store) {
    store.upsert_dag(&dag("load")).await.unwrap();
    for (run, d) in [("r1", 1), ("r2", 2), ("r3", 3)] {
        store
            .create_dag_run(&new_run("load", run, day(d)))
            .await
            .unwrap();
    }
    let id = dag_id("load");
    let r1 = crate::support::run_id("r1");
    store
        .set_dag_run_state(&id, &r1, DagRunState::Queued, DagRunState::Running, day(1))
        .await
        .unwrap();
    store
        .set_dag_run_state(&id, &r1, DagRunState::Running, DagRunState::Failed, day(1))
        .await
        .unwrap();
    // r2 is still queued: not finished, so r3's previous finished run is r1.
    let previous = store
        .previous_finished_run(&id, day(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (previous.run_id.as_str(), previous.state),
        ("r1", DagRunState::Failed)
    );
    assert!(
        store
            .previous_finished_run(&id, day(1))
            .await
            .unwrap()
            .is_none()
    );
}
