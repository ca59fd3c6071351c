//! The `docker` backend: runs container tries through the Docker Engine API (bollard over
//! the daemon's unix socket; never the `docker` CLI).
//!
//! # One try, one container
//!
//! - **Identity**: the container is named `<prefix><slug>` ([`TryKey::slug`], prefix
//!   `weir-` by default) and labelled `weir.try=<slug>`, `weir.team`, `weir.dag`,
//!   `weir.run`, `weir.task`, `weir.try_number`, `weir.map_index` (see [`create`]). The
//!   daemon refuses a second container of the same name, so a try cannot start twice.
//! - **Sandbox**: CPU (`NanoCpus`) and memory limits (no swap), not privileged, its own
//!   network, no host folder, all capabilities dropped, `no-new-privileges`, a process
//!   limit, `--init`. A spec asking for privileges is refused unless the backend allows
//!   them ([`DockerConfig::allow_privileged`]).
//! - **Environment**: the spec's variables; `WEIR_XCOM=/weir/xcom.json` names the XCom
//!   file inside the container, copied out to `try_dir/xcom.json` after the exit
//!   ([`xcom`]: through the try's own `io/` folder mounted at `/weir`, or the archive
//!   API). Secret values are passed as variables (visible to whoever can inspect
//!   containers on the daemon, as with any env-injected secret) and masked in the log.
//! - **Logs**: stdout and stderr copied live into `try_dir/log` ([`logs`]).
//! - **End**: `status.json` in the try folder records the [`TryOutcome`]: `Exited` with the
//!   code, `OutOfMemory` (the daemon's `OOMKilled` with a non-zero exit), `TimedOut` or
//!   `Cancelled` (the container is stopped: SIGTERM, SIGKILL after the kill grace), or
//!   `LaunchFailed` (image missing under `pull: never`, a pull refused by the registry,
//!   a command that does not exist, privileges refused). Usage comes from the daemon's
//!   stats ([`usage`]). Then the container is removed.
//!
//! # Files in the try folder
//!
//! ```text
//! try_dir/
//!   log           the task's output (see `backend` docs)
//!   container     the container's name; written at submit, marks the try as launched
//!   stop_reason   `cancelled` or `timed_out`, written before a stop is sent
//!   io/           mounted at `/weir` in the container (bind-mount XCom transfer)
//!   xcom.json     the task's XCom, copied out of the container
//!   status.json   the final TryOutcome, written before the container is removed
//! ```
//!
//! # Adoption and a daemon that is away
//!
//! [`Backend::adopt`] looks the container up by name: still running → the watch resumes
//! (log copy resumed without duplicates; the timeout counts from the container's start);
//! ended → settled at once; absent → the recorded `status.json`, or `Lost`. A try with
//! no container and no launch marker, or whose container was created but never started
//! (it is removed), is [`Adopted::NeverStarted`]: nothing ran. When the
//! daemon cannot be reached, `submit` and `adopt` return
//! [`ComputeError::BackendUnavailable`] and nothing is started; a watch in progress keeps
//! retrying until the daemon is back.
//!
//! The timeout is enforced by Weir's watcher: while Weir itself is down, a container may
//! overrun its timeout until the next adoption stops it.

mod client;
pub mod create;
mod launch;
pub mod logs;
pub mod usage;
mod watch;
pub mod xcom;

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::query_parameters::InspectContainerOptions;
use chrono::Utc;
use weir_core::ids::TryKey;

pub use client::DEFAULT_SOCKET;
pub use xcom::XcomTransfer;

use crate::backend::{
    Adopted, Backend, BoxFuture, CancelHandle, EndReason, LaunchSpec, RunningTry, TryOutcome,
};
use crate::capture::Masker;
use crate::error::{ComputeError, Result};
use crate::layout::{self, LOG};
use crate::supervisor::DEFAULT_KILL_GRACE;
use crate::try_folder::TryFolder;
use client::{BACKEND, Connection, is_not_found};
use launch::{NotStarted, already_launched};
use logs::Resume;
use watch::{Watch, settle_lost};

/// Marks a try folder as launched by this backend; holds the container's name.
pub const CONTAINER_MARKER: &str = "container";

/// How the docker backend runs containers.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// Path of the daemon's unix socket.
    pub socket: PathBuf,
    /// Prefix of container names; distinct Weir installations sharing one daemon need
    /// distinct prefixes.
    pub name_prefix: String,
    /// Time between SIGTERM and SIGKILL when a container is stopped.
    pub kill_grace: Duration,
    /// Longest wait for the daemon to answer one request (streams excepted).
    pub request_timeout: Duration,
    /// Honour `privileged`, `host_network` and `host_mounts` in specs (off: such tries are
    /// refused with `LaunchFailed`).
    pub allow_privileged: bool,
    /// Drop all Linux capabilities (`--cap-drop ALL`). Images whose entrypoint changes
    /// user (`gosu`, `su-exec`) need this off.
    pub drop_capabilities: bool,
    /// Largest number of processes in one container (`--pids-limit`).
    pub pids_limit: Option<i64>,
    /// Run a tiny init as PID 1 (`--init`), so stops reach the task and zombies are reaped.
    pub init: bool,
    /// How the XCom file leaves the container (see [`xcom`]).
    pub xcom: XcomTransfer,
    /// Most bytes of output a try's log keeps (`[logs] max_bytes_per_try`; see
    /// [`logs`]); None: all of it.
    pub log_max_bytes: Option<u64>,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET),
            name_prefix: "weir-".to_owned(),
            kill_grace: DEFAULT_KILL_GRACE,
            request_timeout: Duration::from_secs(120),
            allow_privileged: false,
            drop_capabilities: true,
            pids_limit: Some(4096),
            init: true,
            xcom: XcomTransfer::default(),
            log_max_bytes: None,
        }
    }
}

/// What the daemon's machine offers: the default size of a docker compute environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCapacity {
    pub vcpus: u32,
    pub memory_bytes: u64,
}

/// Runs tries as Docker containers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DockerBackend {
    config: DockerConfig,
    conn: Connection,
}

impl DockerBackend {
    /// A backend for the daemon described by `config`. Does not connect yet: the first
    /// request does, so the backend can be built while the daemon is down.
    pub fn new(config: DockerConfig) -> Self {
        let timeout = config.request_timeout + config.kill_grace;
        let socket = config.socket.to_string_lossy().into_owned();
        Self {
            conn: Connection::new(socket, timeout),
            config,
        }
    }

    /// The daemon at the default socket, with default settings.
    pub fn local() -> Self {
        Self::new(DockerConfig::default())
    }

    pub fn config(&self) -> &DockerConfig {
        &self.config
    }

    /// The container name of a try.
    pub fn container_name(&self, key: &TryKey) -> String {
        create::container_name(&self.config.name_prefix, key)
    }

    /// Checks, cheaply (`GET /_ping`), that the daemon answers.
    pub async fn ping(&self) -> Result<()> {
        let docker = self.conn.get().await?;
        docker
            .ping()
            .await
            .map(drop)
            .map_err(|e| self.conn.error("ping the daemon", e))
    }

    /// The machine's capacity as the daemon sees it (`NCPU`, `MemTotal`).
    pub async fn capacity(&self) -> Result<HostCapacity> {
        let docker = self.conn.get().await?;
        let info = docker
            .info()
            .await
            .map_err(|e| self.conn.error("read the daemon's info", e))?;
        Ok(HostCapacity {
            vcpus: info.ncpu.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
            memory_bytes: info
                .mem_total
                .and_then(|m| u64::try_from(m).ok())
                .unwrap_or(0),
        })
    }

    async fn submit_now(&self, spec: LaunchSpec) -> Result<RunningTry> {
        let Some(launch) = spec.container.clone() else {
            return Err(ComputeError::Unsupported {
                backend: BACKEND,
                why: "the try has no container (image) to run".into(),
            });
        };
        let try_dir = prepare_dir(&spec.try_dir)?;
        let name = self.container_name(&spec.key);
        // Connect before marking: an unreachable daemon leaves the try submittable.
        let docker = self.conn.get().await?;
        if try_dir.join(layout::STATUS).exists() {
            return Err(already_launched(&spec));
        }
        mark_launched(&try_dir, &name).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => already_launched(&spec),
            _ => ComputeError::io("create", try_dir.join(CONTAINER_MARKER), e),
        })?;
        let io_dir = match self.config.xcom {
            XcomTransfer::BindMount => Some(
                xcom::io_dir(&try_dir)
                    .map_err(|e| ComputeError::io("create", try_dir.join(xcom::IO_DIR), e))?,
            ),
            XcomTransfer::Archive => None,
        };
        let submitted_at = Utc::now();
        let cancel = CancelHandle::new();
        match self
            .start(&docker, &spec, &launch, &name, io_dir.as_deref())
            .await
        {
            Ok(()) => {
                let started_at = Utc::now();
                let mut secrets = Vec::new();
                for (k, v) in &spec.env {
                    if spec.secret_env.contains(k) {
                        secrets.push(v.clone());
                    }
                }
                let watch = Watch {
                    docker,
                    name,
                    try_dir: try_dir.clone(),
                    masker: Masker::new(secrets),
                    started_at,
                    timeout: spec.timeout,
                    kill_grace: self.config.kill_grace,
                    resume: Resume::start(),
                    xcom: self.config.xcom,
                    log_max_bytes: self.config.log_max_bytes,
                };
                let task = tokio::spawn(watch::watch(watch, cancel.clone()));
                Ok(RunningTry::new(spec.key, try_dir, cancel, joined(task)))
            }
            Err(NotStarted::Refused(why)) => {
                let outcome = TryOutcome::without_usage(
                    EndReason::LaunchFailed(why),
                    submitted_at,
                    Utc::now(),
                );
                settle(&try_dir, &outcome);
                let done = Box::pin(async move { outcome });
                Ok(RunningTry::new(spec.key, try_dir, cancel, done))
            }
            Err(NotStarted::Error(e)) => {
                // Nothing runs: release the marker so the try can be submitted again.
                let _ = fs::remove_file(try_dir.join(CONTAINER_MARKER));
                Err(e)
            }
        }
    }

    async fn adopt_now(&self, key: TryKey, try_dir: PathBuf) -> Result<Adopted> {
        let now = Utc::now();
        let try_dir = match fs::canonicalize(&try_dir) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // The engine creates the folder before submitting the try.
                let why = format!("its try folder `{}` does not exist", try_dir.display());
                return Ok(Adopted::NeverStarted(why));
            }
            Err(e) => return Err(ComputeError::io("resolve", try_dir, e)),
        };
        let name = self.container_name(&key);
        let recorded =
            layout::read_status(&try_dir).map_err(|e| ComputeError::io("read", &try_dir, e))?;
        if let Some(outcome) = recorded {
            // Settled; a crash may have left the container before its removal.
            if let Ok(docker) = self.conn.get().await {
                watch::remove(&docker, &name).await;
            }
            return Ok(Adopted::settled(outcome, &TryFolder::at(&try_dir)));
        }
        let docker = self.conn.get().await?;
        let inspected = match docker
            .inspect_container(&name, None::<InspectContainerOptions>)
            .await
        {
            Ok(inspected) => inspected,
            Err(e) if is_not_found(&e) => {
                let stop = watch::read_stop_reason(&try_dir);
                if stop.is_none() && !try_dir.join(CONTAINER_MARKER).exists() {
                    return Ok(never_started(&try_dir, "no container was created for it"));
                }
                let why = format!("its container `{name}` is gone and no outcome was recorded");
                return Ok(Adopted::Finished(settle_lost(&try_dir, stop, &why, now)));
            }
            Err(e) => return Err(self.conn.error("inspect the try's container", e)),
        };
        let config = inspected.config.unwrap_or_default();
        let labels = config.labels.unwrap_or_default();
        if labels.get(create::LABEL_TRY) != Some(&key.slug()) {
            return Err(ComputeError::Backend {
                backend: BACKEND,
                action: format!("adopt try {key}"),
                detail: format!("container `{name}` exists but is not labelled as this try"),
            });
        }
        let state = inspected.state.unwrap_or_default();
        let Some(started_at) = watch::parse_time(state.started_at.as_deref()) else {
            // Created, never started: nothing ran, so nothing is lost by removing it.
            watch::remove(&docker, &name).await;
            let why = "its container was created but not started";
            return Ok(never_started(&try_dir, why));
        };
        // The transfer the container was created with, whatever the configuration now.
        let mounted = inspected
            .mounts
            .unwrap_or_default()
            .iter()
            .any(|m| m.destination.as_deref() == Some(xcom::WEIR_DIR_IN_CONTAINER));
        let xcom = if mounted {
            XcomTransfer::BindMount
        } else {
            XcomTransfer::Archive
        };
        let env = config.env.unwrap_or_default();
        let masker = Masker::new(create::secret_values(
            &env,
            &create::recorded_secrets(&labels),
        ));
        let resume = Resume::from_log(&try_dir.join(LOG))
            .map_err(|e| ComputeError::io("read", try_dir.join(LOG), e))?;
        let watch = Watch {
            docker,
            name,
            try_dir: try_dir.clone(),
            masker,
            started_at,
            timeout: create::recorded_timeout(&labels),
            kill_grace: self.config.kill_grace,
            resume,
            xcom,
            log_max_bytes: self.config.log_max_bytes,
        };
        let cancel = CancelHandle::new();
        if state.running == Some(true)
            || state.restarting == Some(true)
            || state.paused == Some(true)
        {
            let task = tokio::spawn(watch::watch(watch, cancel.clone()));
            Ok(Adopted::Running(RunningTry::new(
                key,
                try_dir,
                cancel,
                joined(task),
            )))
        } else {
            // Ended while Weir was away: the same watch settles it at once.
            let outcome = watch::watch(watch, cancel).await;
            Ok(Adopted::Finished(
                TryFolder::at(&try_dir).with_xcom(outcome),
            ))
        }
    }
}

impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn host_bound(&self) -> bool {
        true
    }

    fn submit(&self, spec: LaunchSpec) -> BoxFuture<'_, Result<RunningTry>> {
        Box::pin(self.submit_now(spec))
    }

    fn adopt(&self, key: TryKey, try_dir: PathBuf) -> BoxFuture<'_, Result<Adopted>> {
        Box::pin(self.adopt_now(key, try_dir))
    }

    fn available(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.ping())
    }
}

/// Creates the try folder and its log; returns its canonical path.
fn prepare_dir(dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| ComputeError::io("create", dir, e))?;
    let dir = fs::canonicalize(dir).map_err(|e| ComputeError::io("resolve", dir, e))?;
    let log = dir.join(LOG);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| ComputeError::io("open", log, e))?;
    Ok(dir)
}

/// Creates the launch marker exclusively.
fn mark_launched(dir: &Path, name: &str) -> io::Result<()> {
    let mut marker = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dir.join(CONTAINER_MARKER))?;
    marker.write_all(name.as_bytes())
}

/// Records that a try never started (so adopting it again gives the same answer).
fn never_started(dir: &Path, why: &str) -> Adopted {
    let now = Utc::now();
    settle(
        dir,
        &TryOutcome::without_usage(EndReason::NeverStarted(why.to_owned()), now, now),
    );
    Adopted::NeverStarted(why.to_owned())
}

/// Records an outcome reached without a container.
fn settle(dir: &Path, outcome: &TryOutcome) {
    let _ = layout::append_log_line(dir, &format!("[weir] {}", outcome.reason));
    if let Err(e) = layout::write_status(dir, outcome) {
        tracing::warn!(try_dir = %dir.display(), error = %e, "cannot record the outcome");
    }
}

/// The outcome future of a watcher task; a watcher that panicked or was aborted (runtime
/// shutdown) leaves the try without a known outcome.
fn joined(task: tokio::task::JoinHandle<TryOutcome>) -> BoxFuture<'static, TryOutcome> {
    Box::pin(async move {
        task.await.unwrap_or_else(|e| {
            let now = Utc::now();
            TryOutcome::without_usage(
                EndReason::Lost(format!("the try's watcher stopped: {e}")),
                now,
                now,
            )
        })
    })
}
