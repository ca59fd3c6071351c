//! Watches the DAG folder and re-syncs it when files change, so edits are picked up
//! within a second without polling.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::events::Event;
use crate::service::Shared;

/// Quiet time after the last change before re-syncing (editors write in bursts).
const SETTLE: Duration = Duration::from_millis(150);

pub fn spawn(shared: Arc<Shared>, dir: PathBuf) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Only content changes count: reading the files during a sync raises access
        // events, which would otherwise trigger the next sync, forever.
        if let Ok(event) = res
            && changes_content(&event.kind)
        {
            let _ = tx.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot watch the DAG folder; changes are picked up on restart only");
            return;
        }
    };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::Recursive) {
        warn!(error = %e, dir = %dir.display(), "cannot watch the DAG folder; changes are picked up on restart only");
        return;
    }
    let task_shared = shared.clone();
    shared.tracker.spawn(async move {
        // The watcher lives as long as this task.
        let _watcher = watcher;
        loop {
            tokio::select! {
                _ = task_shared.shutdown.cancelled() => break,
                got = rx.recv() => if got.is_none() { break },
            }
            // Let a burst of writes settle, then sync once.
            while let Ok(Some(())) = tokio::time::timeout(SETTLE, rx.recv()).await {}
            match crate::dag_bag::sync_folder(&task_shared, &dir).await {
                Ok(report) => {
                    info!(
                        files = report.files,
                        dags = report.dags,
                        new_versions = report.new_versions,
                        broken = report.files_with_errors,
                        "DAG folder re-synced"
                    );
                    task_shared.notify(Event::DagsChanged);
                }
                Err(e) => error!(error = %e, "cannot sync the DAG folder"),
            }
        }
    });
}

fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::ModifyKind;
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}
