//! Announcements between replicas. A change made through one replica that another acts
//! on — a run triggered, cleared or marked on a DAG another replica holds, DAGs added or
//! paused, a pool resized, a dataset event posted — is announced through the store
//! (`NOTIFY` on PostgreSQL); every replica hears it and wakes its own loop for what
//! concerns it (runs only of the DAGs it holds), so a run triggered anywhere starts at
//! once, not at the next heartbeat. Events heard are never announced again.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};
use weir_core::ids::{DagId, RunId, TaskId, TryKey};

use crate::events::Event;
use crate::shared::Shared;

/// An announcement's text: one line per field.
fn payload(event: &Event) -> Option<String> {
    match event {
        Event::RunChanged { dag_id, run_id } => Some(format!("run\n{dag_id}\n{run_id}")),
        Event::DagsChanged => Some("dags".into()),
        Event::PoolsChanged => Some("pools".into()),
        Event::DatasetsUpdated => Some("datasets".into()),
        Event::TryFinished { .. } => None,
    }
}

/// The event an announcement stands for; None for one this build does not know.
fn event_of(payload: &str) -> Option<Event> {
    let mut parts = payload.split('\n');
    match parts.next()? {
        "run" => {
            let dag_id = DagId::try_from(parts.next()?.to_string()).ok()?;
            let run_id = RunId::try_from(parts.next()?.to_string()).ok()?;
            Some(Event::RunChanged { dag_id, run_id })
        }
        "dags" => Some(Event::DagsChanged),
        "pools" => Some(Event::PoolsChanged),
        "datasets" => Some(Event::DatasetsUpdated),
        _ => None,
    }
}

/// Tells the other replicas about `event` when it may concern them: a run of a DAG
/// this replica does not hold, or a change every replica acts on.
pub(crate) fn tell_others(shared: &Shared, event: &Event) {
    if !shared.replica.leased() {
        return;
    }
    if let Event::RunChanged { dag_id, .. } = event
        && shared.replica.holds(dag_id)
    {
        return;
    }
    let Some(text) = payload(event) else {
        return;
    };
    let store = shared.store.clone();
    shared.tracker.spawn(async move {
        if let Err(e) = store.announce_change(&text).await {
            warn!(error = %e, "cannot tell the other replicas about a change; they see it at their next heartbeat");
        }
    });
}

/// Asks whichever replica watches try `key` to stop it.
pub(crate) fn cancel_elsewhere(shared: &Shared, key: &TryKey) {
    if !shared.replica.leased() {
        return;
    }
    let text = cancel_payload(key);
    let store = shared.store.clone();
    shared.tracker.spawn(async move {
        if let Err(e) = store.announce_change(&text).await {
            warn!(error = %e, "cannot ask the other replicas to stop a try");
        }
    });
}

/// A `cancel` announcement's text.
fn cancel_payload(key: &TryKey) -> String {
    format!(
        "cancel\n{}\n{}\n{}\n{}\n{}",
        key.dag_id, key.run_id, key.task_id, key.map_index, key.try_number
    )
}

/// The try a `cancel` announcement names.
fn try_of(text: &str) -> Option<TryKey> {
    let mut parts = text.strip_prefix("cancel\n")?.split('\n');
    Some(TryKey {
        dag_id: DagId::try_from(parts.next()?.to_string()).ok()?,
        run_id: RunId::try_from(parts.next()?.to_string()).ok()?,
        task_id: TaskId::try_from(parts.next()?.to_string()).ok()?,
        map_index: parts.next()?.parse().ok()?,
        try_number: parts.next()?.parse().ok()?,
    })
}

/// Tells the others that DAGs were handed back, so they claim them now.
pub(crate) async fn dags_released(shared: &Shared) {
    if let Err(e) = shared.store.announce_change("dags").await {
        warn!(error = %e, "cannot tell the other replicas that DAGs were handed back");
    }
}

/// Hears the other replicas' announcements until shutdown.
pub(crate) fn spawn_listener(shared: Arc<Shared>) {
    let tracker = shared.tracker.clone();
    tracker.spawn(async move {
        loop {
            let listener = tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                l = shared.store.listen_for_changes() => l,
            };
            let mut listener = match listener {
                Ok(Some(listener)) => listener,
                Ok(None) => return,
                Err(e) => {
                    warn!(error = %e, "cannot listen for other replicas' changes; trying again");
                    tokio::select! {
                        _ = shared.shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            loop {
                let heard = tokio::select! {
                    _ = shared.shutdown.cancelled() => return,
                    heard = listener.next() => heard,
                };
                match heard {
                    Ok(Some(text)) => hear(&shared, &text),
                    // Reconnected: what was said meanwhile is lost; look at everything.
                    Ok(None) => shared.lease_wake.wake(),
                    Err(e) => {
                        warn!(error = %e, "lost the other replicas' announcements; listening again");
                        shared.lease_wake.wake();
                        break;
                    }
                }
            }
        }
    });
}

fn hear(shared: &Arc<Shared>, text: &str) {
    if let Some(key) = try_of(text) {
        if shared.tries.cancel(&key) {
            info!(%key, "stopping a try, as another replica asked");
        }
        return;
    }
    let Some(event) = event_of(text) else {
        debug!(text, "an announcement this replica does not know");
        return;
    };
    match &event {
        Event::RunChanged { dag_id, .. } if !shared.replica.holds(dag_id) => return,
        // New or changed DAGs may be free to claim.
        Event::DagsChanged => shared.lease_wake.wake(),
        Event::DatasetsUpdated => shared.datasets.recorded(),
        _ => {}
    }
    shared.notify_here(event);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_read_back_as_their_events() {
        let run = Event::RunChanged {
            dag_id: DagId::try_from("etl".to_string()).unwrap_or_else(|_| unreachable!()),
            run_id: RunId::try_from("manual__2026-01-01T00:00:00+00:00".to_string())
                .unwrap_or_else(|_| unreachable!()),
        };
        for event in [
            run,
            Event::DagsChanged,
            Event::PoolsChanged,
            Event::DatasetsUpdated,
        ] {
            let text = payload(&event).unwrap_or_default();
            let back = event_of(&text).map(|e| payload(&e));
            assert_eq!(back, Some(Some(text)));
        }
        assert!(event_of("").is_none());
        assert!(event_of("run\nonly-a-dag").is_none());
        assert!(event_of("something-new").is_none());
    }

    #[test]
    fn a_cancel_names_its_try() {
        let key = TryKey {
            dag_id: DagId::try_from("etl".to_string()).unwrap_or_else(|_| unreachable!()),
            run_id: RunId::try_from("r1".to_string()).unwrap_or_else(|_| unreachable!()),
            task_id: TaskId::try_from("load".to_string()).unwrap_or_else(|_| unreachable!()),
            map_index: -1,
            try_number: 3,
        };
        assert_eq!(try_of(&cancel_payload(&key)), Some(key));
        assert_eq!(try_of("cancel\netl\nr1"), None);
        assert_eq!(try_of("run\netl\nr1"), None);
    }
}
