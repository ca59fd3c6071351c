//! Task logs on object storage (`[logs] store`) and their retention (`[logs] retention`).
//!
//! A try writes its log into its try folder; once the try ended and its end is recorded,
//! the log is uploaded to `<prefix>/<team>/<dag>/<run>/<task>/<map index>/<try>.log`
//! (team first, so a bucket policy can be per team), its location and size recorded
//! (`task_log`), and only then is the local file removed: a log is never lost. The
//! upload runs on the engine's task tracker, never on the scheduler's path: a slow or
//! failing store delays nothing and fails nothing; a failed upload is tried again a few
//! times, then by the sweep (at start, and on the retention timer) that archives every
//! finished try's log still in a folder of this host.
//!
//! Reads ask [`LogArchive::location`]: a running try's log (or one not archived yet) is
//! read from its file, so it is followed live; an archived one by ranges of the object,
//! bounded by its recorded size (no probe of the store); a removed one is a clear 404.
//!
//! Retention deletes the logs of tries that ended longer ago than `retention`, in the
//! store and in the try folders (the XCom and status files stay), hourly or every
//! `retention` when shorter, and at start.
//!
//! The store's credentials (a secret named by `credentials_secret`, or the server's
//! environment as the binary hands it over) stay in this module: tries and API responses
//! never see them.

mod remote;
mod sweep;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use weir_core::ids::TryKey;

use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::shared::Shared;

pub(crate) use remote::Remote;
pub(crate) use sweep::{ArchiveWhenDone, spawn_sweeps};

/// The variables of the server's environment the log store's client may read (the
/// binary hands them over in [`EngineConfig::log_store_environment`]): credentials and
/// region, as the AWS SDKs read them.
pub const LOG_STORE_ENVIRONMENT: [&str; 12] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

/// Where a try's log is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLocation {
    /// Nothing ran on a backend (a `noop` task), so there is no log.
    NoLog,
    /// In the try's folder: it runs, or its log is not archived (yet).
    Local(PathBuf),
    /// In the log store, `size` bytes long.
    Archived { location: String, size: u64 },
    /// Deleted by retention.
    Removed {
        at: DateTime<Utc>,
        retention: Option<Duration>,
    },
}

/// The log store (if any) and the retention, as the engine holds them.
pub(crate) struct LogArchive {
    remote: Option<Arc<Remote>>,
    retention: Option<Duration>,
}

impl LogArchive {
    /// Connects to the store `[logs]` names (checking at once that the bucket answers,
    /// so a wrong setting stops the start with an error naming it).
    pub(crate) async fn connect(
        config: &EngineConfig,
        secrets: &weir_secrets::Secrets,
    ) -> Result<LogArchive> {
        let settings = &config.platform.logs;
        let remote = match &settings.store {
            Some(_) => Some(Arc::new(Remote::connect(config, secrets).await?)),
            None => None,
        };
        Ok(LogArchive {
            remote,
            retention: settings.retention.map(|r| r.0),
        })
    }

    /// Where try `key`'s log is.
    pub(crate) async fn location(&self, shared: &Shared, key: &TryKey) -> Result<LogLocation> {
        let Some(record) = shared.store.get_try(key).await? else {
            return Ok(LogLocation::NoLog);
        };
        if let Some(log) = shared.store.task_log(key).await? {
            if let Some(at) = log.removed_at {
                return Ok(LogLocation::Removed {
                    at,
                    retention: self.retention,
                });
            }
            if let Some(location) = log.location {
                return Ok(LogLocation::Archived {
                    location,
                    size: log.size_bytes.unwrap_or(0),
                });
            }
        }
        Ok(match record.try_dir {
            Some(dir) => {
                LogLocation::Local(weir_compute::layout::log_path(std::path::Path::new(&dir)))
            }
            None => LogLocation::NoLog,
        })
    }

    /// Up to `max` bytes of an archived log from `offset` (fewer at its end).
    pub(crate) async fn read(
        &self,
        location: &str,
        size: u64,
        offset: u64,
        max: usize,
    ) -> Result<Vec<u8>> {
        let Some(remote) = &self.remote else {
            return Err(EngineError::LogStore(format!(
                "this try's log was archived to {location}, but this server has no `[logs] store`; configure it again to read the log"
            )));
        };
        if offset >= size {
            return Ok(Vec::new());
        }
        let end = size.min(offset.saturating_add(max as u64));
        remote.read(location, offset..end).await
    }

    /// How often the sweeps run: hourly, or every `retention` when that is shorter.
    fn sweep_interval(&self) -> Duration {
        const HOURLY: Duration = Duration::from_secs(3600);
        self.retention
            .map_or(HOURLY, |r| r.clamp(Duration::from_secs(1), HOURLY))
    }
}
