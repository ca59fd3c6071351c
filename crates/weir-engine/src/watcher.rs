//! Watches the DAG folder and re-syncs it when files change, so edits are picked up
//! within a second without polling. Symbolic links are not followed (a link loop must
//! not make the watcher walk forever), and a file that never stops changing delays a
//! sync by at most [`MAX_WAIT`], so it cannot starve the other files.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::events::Event;
use crate::shared::Shared;

/// Quiet time after the last change before re-syncing (editors write in bursts).
const SETTLE: Duration = Duration::from_millis(150);
/// The longest a sync waits after the first change, however busy the folder is.
const MAX_WAIT: Duration = Duration::from_secs(2);

pub fn spawn(shared: Arc<Shared>, dir: PathBuf) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let handler = move |res: notify::Result<notify::Event>| {
        // Only content changes count: reading the files during a sync raises access
        // events, which would otherwise trigger the next sync, forever.
        if let Ok(event) = res
            && changes_content(&event.kind)
        {
            let _ = tx.send(());
        }
    };
    let config = notify::Config::default().with_follow_symlinks(false);
    let watcher = notify::RecommendedWatcher::new(handler, config);
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
            settle(&mut rx).await;
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

/// Lets a burst of writes settle: returns after [`SETTLE`] without a change, or
/// [`MAX_WAIT`] after it was called, whichever comes first.
async fn settle(rx: &mut mpsc::UnboundedReceiver<()>) {
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    loop {
        let quiet_until = (tokio::time::Instant::now() + SETTLE).min(deadline);
        match tokio::time::timeout_at(quiet_until, rx.recv()).await {
            Ok(Some(())) if tokio::time::Instant::now() < deadline => {}
            _ => return,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_every_ten_milliseconds_delays_a_sync_by_at_most_max_wait() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let churn = tokio::spawn(async move {
            while tx.send(()).is_ok() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let started = std::time::Instant::now();
        // Without a maximum wait this would never return.
        let done = tokio::time::timeout(MAX_WAIT * 5, settle(&mut rx)).await;
        let waited = started.elapsed();
        churn.abort();
        assert!(done.is_ok(), "still settling after {waited:?}");
        assert!(waited < MAX_WAIT + Duration::from_secs(1), "{waited:?}");
    }

    #[tokio::test]
    async fn a_quiet_folder_syncs_after_the_settle_time() {
        let (_tx, mut rx) = mpsc::unbounded_channel::<()>();
        let started = std::time::Instant::now();
        settle(&mut rx).await;
        let waited = started.elapsed();
        assert!(waited >= SETTLE && waited < MAX_WAIT, "{waited:?}");
    }
}
