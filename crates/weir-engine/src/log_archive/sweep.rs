//! The work behind the log store, all of it on the engine's task tracker: archiving a
//! finished try's log (at once, retried a few times), and the sweeps (at start and on a
//! timer) that archive whatever is still local and delete what retention says.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use weir_core::ids::TryKey;
use weir_store::ExpiredLog;

use super::remote::open_regular;
use crate::error::{EngineError, Result};
use crate::shared::Shared;

/// Waits before the upload of a finished try's log is tried again; after the last, the
/// sweep takes over.
const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(300),
];
/// Tries a sweep asks the store for at once.
const BATCH: u32 = 100;
/// Most batches one sweep goes through; the next sweep goes on.
const MAX_BATCHES: usize = 100;
/// The team folder of a DAG whose record names no team.
const NO_TEAM: &str = "_";

/// Archives a finished try's log when dropped. `finish_try` makes it once the try's end
/// is recorded, and drops it when it returns, after the engine's last line in the log,
/// whichever way it returns.
pub(crate) struct ArchiveWhenDone {
    shared: Arc<Shared>,
    key: TryKey,
}

impl ArchiveWhenDone {
    pub(crate) fn new(shared: &Arc<Shared>, key: &TryKey) -> Self {
        ArchiveWhenDone {
            shared: shared.clone(),
            key: key.clone(),
        }
    }
}

impl Drop for ArchiveWhenDone {
    fn drop(&mut self) {
        if self.shared.logs.remote.is_none() {
            return;
        }
        let (shared, key) = (self.shared.clone(), self.key.clone());
        self.shared.tracker.spawn(async move {
            let mut delays = RETRY_DELAYS.iter();
            loop {
                let Err(e) = archive(&shared, &key).await else {
                    return;
                };
                let Some(delay) = delays.next() else {
                    warn!(%key, error = %e, "cannot archive the try's log; it stays local, and the next sweep tries again");
                    return;
                };
                warn!(%key, error = %e, retry_in = ?delay, "cannot archive the try's log yet; it stays local");
                tokio::select! {
                    _ = shared.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(*delay) => {}
                }
            }
        });
    }
}

/// Uploads try `key`'s log, records where it went, then removes the local file. A log
/// already archived or removed is left alone; a try without a log file is recorded as
/// having nothing to archive.
async fn archive(shared: &Shared, key: &TryKey) -> Result<()> {
    let Some(remote) = &shared.logs.remote else {
        return Ok(());
    };
    if shared.store.task_log(key).await?.is_some() {
        return Ok(());
    }
    let Some(record) = shared.store.get_try(key).await? else {
        return Ok(());
    };
    let (Some(dir), Some(_)) = (record.try_dir, record.finished_at) else {
        return Ok(());
    };
    let path = weir_compute::layout::log_path(std::path::Path::new(&dir));
    let io = |source| EngineError::Io {
        path: path.display().to_string(),
        source,
    };
    let Some(file) = open_regular(&path).await.map_err(io)? else {
        shared
            .store
            .record_log_archived(key, None, None, shared.now())
            .await?;
        return Ok(());
    };
    let team = shared
        .store
        .get_dag(&key.dag_id)
        .await?
        .and_then(|d| d.team)
        .map_or_else(|| NO_TEAM.to_string(), |t| t.to_string());
    let (object, location) = remote.key(&team, key);
    let size = remote.upload(file, &object).await?;
    shared
        .store
        .record_log_archived(key, Some(&location), Some(size), shared.now())
        .await?;
    // Recorded first: from here reads go to the store, so the file may go.
    match tokio::fs::remove_file(&path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            warn!(%key, error = %e, "the try's log is archived but its local copy cannot be removed")
        }
    }
    info!(%key, %location, bytes = size, "try log archived");
    Ok(())
}

/// Starts the sweeps: one now, then hourly (or every `retention` when shorter).
pub(crate) fn spawn_sweeps(shared: &Arc<Shared>) {
    let logs = &shared.logs;
    if logs.remote.is_none() && logs.retention.is_none() {
        return;
    }
    let every = logs.sweep_interval();
    let shared = shared.clone();
    shared.clone().tracker.spawn(async move {
        loop {
            sweep(&shared).await;
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    });
}

/// Archives the finished tries' logs still local on this host, then deletes the logs
/// past the retention. A failing store stops the archiving for this sweep (the logs
/// stay local); the next sweep goes on.
async fn sweep(shared: &Shared) {
    if shared.logs.remote.is_some() {
        for _ in 0..MAX_BATCHES {
            let batch = match shared
                .store
                .list_unarchived_logs(&shared.config.hostname, BATCH)
                .await
            {
                Ok(batch) => batch,
                Err(e) => {
                    warn!(error = %e, "log sweep: cannot list the logs to archive");
                    break;
                }
            };
            let mut failed = false;
            for record in &batch {
                if let Err(e) = archive(shared, &record.key).await {
                    warn!(key = %record.key, error = %e, "log sweep: cannot archive the try's log; it stays local");
                    failed = true;
                    break;
                }
            }
            if failed || batch.len() < BATCH as usize {
                break;
            }
        }
    }
    let Some(retention) = shared.logs.retention else {
        return;
    };
    let Ok(retention) = chrono::TimeDelta::from_std(retention) else {
        return;
    };
    let before = shared.now() - retention;
    for _ in 0..MAX_BATCHES {
        let batch = match shared
            .store
            .list_expired_logs(before, &shared.config.hostname, BATCH)
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                warn!(error = %e, "log sweep: cannot list the logs past the retention");
                return;
            }
        };
        let mut removed = 0;
        for expired in &batch {
            match expire(shared, expired).await {
                Ok(()) => removed += 1,
                Err(e) => {
                    warn!(key = %expired.record.key, error = %e, "log sweep: cannot delete a log past the retention");
                }
            }
        }
        if removed > 0 {
            info!(removed, "log sweep: deleted logs past the retention");
        }
        // A batch where nothing could be deleted would come back the same.
        if removed == 0 || batch.len() < BATCH as usize {
            return;
        }
    }
}

/// Deletes one log past the retention, in the store and in its try folder (the other
/// files of the folder stay), then records that it is gone.
async fn expire(shared: &Shared, expired: &ExpiredLog) -> Result<()> {
    let key = &expired.record.key;
    if let Some(location) = &expired.location {
        let Some(remote) = &shared.logs.remote else {
            return Err(EngineError::LogStore(format!(
                "the log is archived at {location}, but this server has no `[logs] store` to delete it from"
            )));
        };
        remote.delete(location).await?;
    }
    if expired.record.hostname.as_deref() == Some(shared.config.hostname.as_str())
        && let Some(dir) = &expired.record.try_dir
    {
        let path = weir_compute::layout::log_path(std::path::Path::new(dir));
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(EngineError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        }
    }
    shared.store.record_log_removed(key, shared.now()).await?;
    Ok(())
}
