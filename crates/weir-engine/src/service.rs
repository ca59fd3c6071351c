//! The engine as a running service: shared state, start-up (sync, recovery), the
//! scheduler loop, and shutdown.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};
use weir_compute::{CancelHandle, ProcessBackend};
use weir_core::ids::{DagId, RunId, TryKey};
use weir_store::{Store, TaskInstanceKey};

use crate::clock::{Clock, SystemClock};
use crate::config::EngineConfig;
use crate::dag_cache::DagCache;
use crate::error::Result;
use crate::events::Event;
use crate::handle::EngineHandle;

/// State shared by the loop, the handle and the try waiters.
pub(crate) struct Shared {
    pub config: EngineConfig,
    pub store: Store,
    pub cache: DagCache,
    pub clock: Arc<dyn Clock>,
    pub process: ProcessBackend,
    pub events: mpsc::UnboundedSender<Event>,
    /// Tries this engine is watching: to cancel them on clear or mark, and to finish
    /// them without reading back what the engine already knows.
    pub running: Mutex<HashMap<TryKey, Watched>>,
    /// When task instances waiting to retry become due.
    pub retries: Mutex<BTreeMap<DateTime<Utc>, Vec<TaskInstanceKey>>>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
    /// The platform in force: from `weir.toml`, or the standalone default.
    pub platform: weir_core::platform::PlatformConfig,
    /// The Docker backend, when the platform has a Docker environment.
    pub docker: Option<weir_compute::DockerBackend>,
    /// When the Docker daemon last answered a ping, and whether it was up.
    pub docker_health: Mutex<Option<(std::time::Instant, bool)>>,
    /// The teams' job definitions (`jobs/`).
    pub jobs: std::sync::RwLock<weir_core::job_def::JobCatalog>,
    /// Each (queue, team)'s recent usage, for fair share.
    pub usage:
        Mutex<HashMap<(String, weir_core::ids::TeamId), weir_core::fair_share::DecayedUsage>>,
    /// Held for a whole sync of the DAG folder: the watcher and `sync_dags` never
    /// interleave their writes of DAGs and import errors.
    pub dag_sync: tokio::sync::Mutex<()>,
    /// What the last dispatch pass saw, for `GET /api/v1/queues`.
    pub views: Mutex<(
        Vec<crate::queues::QueueView>,
        Vec<crate::queues::EnvironmentView>,
    )>,
}

impl Shared {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn notify(&self, event: Event) {
        // Fails only after the loop stopped, when nobody needs waking.
        let _ = self.events.send(event);
    }

    pub fn in_flight(&self) -> usize {
        self.running.lock().map(|r| r.len()).unwrap_or(0)
    }
}

/// What the engine remembers of a try it watches.
pub(crate) struct Watched {
    pub cancel: CancelHandle,
    pub try_dir: std::path::PathBuf,
    pub version_hash: String,
    /// Where the dispatcher placed it (queue, team, environment, request).
    pub placement: Option<weir_core::fair_share::RunningTry>,
    /// `job@revision` for a job task.
    pub job_revision: Option<String>,
}

/// A running engine. Dropping it does not stop it; call [`Engine::shutdown`].
pub struct Engine {
    handle: EngineHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Engine {
    /// Loads the DAG folder, adopts tries left running by a previous process, and
    /// starts the scheduler loop and the folder watcher.
    pub async fn start(config: EngineConfig, store: Store) -> Result<Engine> {
        Self::start_with_clock(config, store, Arc::new(SystemClock)).await
    }

    pub async fn start_with_clock(
        config: EngineConfig,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine> {
        let mut config = config;
        // Tasks run in their own folders: the try folders (and `$WEIR_XCOM` in them) must
        // not be relative to the engine's working directory.
        if let Ok(home) = std::path::absolute(&config.home) {
            config.home = home;
        }
        // Owner-only: other teams' tries live here (logs, XComs).
        weir_compute::layout::create_private_dir(&config.logs_dir()).map_err(|source| {
            crate::EngineError::Io {
                path: config.logs_dir().display().to_string(),
                source,
            }
        })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let platform = match config.platform.clone() {
            Some(p) if !p.needs_default_compute() => p,
            given => {
                // Standalone: a Docker environment sized to the host when the daemon answers.
                // A daemon that hangs must not hold up start-up: half a second to answer.
                let docker = docker_backend(&config, None);
                let ping = docker.ping();
                let docker_up = matches!(
                    tokio::time::timeout(std::time::Duration::from_millis(500), ping).await,
                    Ok(Ok(()))
                );
                let defaults = weir_core::platform::PlatformConfig::standalone_default(
                    host_vcpus(),
                    host_memory_bytes(),
                    docker_up,
                );
                // A file with no environments and no queues (say, only `[[teams]]`) keeps
                // the standalone ones, and its own team rules.
                match given {
                    Some(file) => file.or_defaults(defaults),
                    None => defaults,
                }
            }
        };
        let log_max_bytes = platform.logs.max_bytes_per_try.0;
        let process =
            ProcessBackend::new(config.supervisor_command.clone()).with_log_limit(log_max_bytes);
        let docker = platform
            .compute_environments
            .iter()
            .any(|e| e.backend == weir_core::platform::Backend::Docker)
            .then(|| docker_backend(&config, Some(log_max_bytes)));
        let views = Mutex::new(crate::queues::empty_views(&platform));
        let shared = Arc::new(Shared {
            platform,
            views,
            dag_sync: tokio::sync::Mutex::new(()),
            docker,
            docker_health: Mutex::new(None),
            jobs: std::sync::RwLock::new(weir_core::job_def::JobCatalog::default()),
            usage: Mutex::new(HashMap::new()),
            config,
            store,
            cache: DagCache::default(),
            clock,
            process,
            events: tx,
            running: Mutex::new(HashMap::new()),
            retries: Mutex::new(BTreeMap::new()),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        });
        if let Some(dir) = shared.config.dags_folder.clone() {
            let report = crate::dag_bag::sync_folder(&shared, &dir).await?;
            info!(
                files = report.files,
                dags = report.dags,
                broken = report.files_with_errors,
                "DAG folder loaded"
            );
            crate::watcher::spawn(shared.clone(), dir);
        }
        crate::recovery::recover(&shared).await?;
        let loop_shared = shared.clone();
        let task = tokio::spawn(async move { run_loop(loop_shared, rx).await });
        Ok(Engine {
            handle: EngineHandle { shared },
            task,
        })
    }

    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Stops scheduling and returns once the loop has ended. Running tries are left to
    /// their supervisors: the next start adopts them.
    pub async fn shutdown(self) {
        self.handle.shared.shutdown.cancel();
        self.handle.shared.tracker.close();
        let _ = self.task.await;
    }
}

/// What a batch of events asked the loop to look at.
#[derive(Default)]
struct Work {
    runs: BTreeSet<(DagId, RunId)>,
    schedules: bool,
    /// Something happened that may let a queued run start (a run was created or
    /// finished, a DAG unpaused).
    start_runs: bool,
}

async fn run_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Event>) {
    let mut work = Work {
        schedules: true,
        start_runs: true,
        ..Work::default()
    };
    // Runs left running by a previous process need a look too.
    match shared
        .store
        .list_dag_runs(&weir_store::DagRunFilter {
            states: vec![weir_core::state::DagRunState::Running],
            limit: 10_000,
            ..weir_store::DagRunFilter::default()
        })
        .await
    {
        Ok(page) => work
            .runs
            .extend(page.items.into_iter().map(|r| (r.dag_id, r.run_id))),
        Err(e) => error!(error = %e, "cannot list running DAG runs"),
    }
    // A first pass at once: schedules due since the last run, runs left in flight.
    let mut next_wake: Option<DateTime<Utc>> = pass(&shared, &mut work).await;
    loop {
        let timer = async {
            match next_wake {
                Some(at) => {
                    let wait = (at - shared.now()).to_std().unwrap_or_default();
                    tokio::time::sleep(wait).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            event = rx.recv() => {
                let Some(event) = event else { break };
                handle_event(&shared, event, &mut work).await;
                while let Ok(event) = rx.try_recv() {
                    handle_event(&shared, event, &mut work).await;
                }
            }
            _ = timer => {
                work.schedules = true;
                work.start_runs = true;
            }
        }
        next_wake = pass(&shared, &mut work).await;
    }
    info!("scheduler loop stopped");
}

async fn handle_event(shared: &Arc<Shared>, event: Event, work: &mut Work) {
    match event {
        Event::TryFinished {
            key,
            outcome,
            retryable,
        } => {
            match crate::launch::finish_try(shared, &key, outcome, retryable).await {
                Ok(()) => {}
                Err(e) => error!(%key, error = %e, "cannot record the end of a try"),
            }
            work.runs.insert((key.dag_id, key.run_id));
        }
        Event::RunChanged { dag_id, run_id } => {
            work.runs.insert((dag_id, run_id));
            work.start_runs = true;
        }
        Event::DagsChanged => {
            work.schedules = true;
            work.start_runs = true;
        }
    }
}

/// One scheduling pass; returns when the loop should wake by itself next.
async fn pass(shared: &Arc<Shared>, work: &mut Work) -> Option<DateTime<Utc>> {
    let mut next_wake: Option<DateTime<Utc>> = None;
    let earliest = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if std::mem::take(&mut work.schedules) && shared.config.run_schedules {
        // New scheduled runs start below, within `max_active_runs`.
        work.start_runs = true;
        match crate::scheduler::create_due_runs(shared).await {
            Ok(wake) => next_wake = earliest(next_wake, wake),
            Err(e) => error!(error = %e, "scheduling DAG runs failed"),
        }
    }
    match crate::runs::promote_due_retries(shared).await {
        Ok(runs) => work.runs.extend(runs),
        Err(e) => error!(error = %e, "cannot reschedule tries due to retry"),
    }
    if std::mem::take(&mut work.start_runs) {
        match crate::runs::start_queued_runs(shared).await {
            Ok(started) => work.runs.extend(started),
            Err(e) => error!(error = %e, "cannot start queued DAG runs"),
        }
    }
    // Planning a run can finish it, which can let a queued run of the same DAG start.
    for _ in 0..4 {
        let runs = std::mem::take(&mut work.runs);
        if runs.is_empty() {
            break;
        }
        let mut finished_any = false;
        for (dag_id, run_id) in runs {
            match crate::runs::process_run(shared, &dag_id, &run_id).await {
                Ok(finished) => finished_any |= finished,
                Err(e) => warn!(%dag_id, %run_id, error = %e, "cannot plan DAG run"),
            }
        }
        if !finished_any {
            break;
        }
        match crate::runs::start_queued_runs(shared).await {
            Ok(started) => work.runs.extend(started),
            Err(e) => error!(error = %e, "cannot start queued DAG runs"),
        }
    }
    match crate::dispatch::dispatch(shared).await {
        Ok(finished_runs) => work.runs.extend(finished_runs),
        Err(e) => error!(error = %e, "dispatching task instances failed"),
    }
    if let Some((dag_id, run_id)) = work.runs.iter().next().cloned() {
        // Tasks finished during dispatch (noop): plan their runs again at once.
        shared.notify(Event::RunChanged { dag_id, run_id });
    }
    // Tries waiting for an unavailable backend: look again when its health is re-asked.
    let waits_for_backend = shared
        .views
        .lock()
        .map(|v| {
            v.0.iter()
                .any(|q| q.waiting.iter().any(|w| w.reason_code == "unavailable"))
        })
        .unwrap_or(false);
    if waits_for_backend {
        next_wake = earliest(
            next_wake,
            Some(shared.now() + chrono::TimeDelta::seconds(2)),
        );
    }
    let retry_at = shared
        .retries
        .lock()
        .ok()
        .and_then(|r| r.keys().next().copied());
    earliest(next_wake, retry_at)
}

/// This host's CPUs, for the standalone default platform.
fn host_vcpus() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

/// This host's memory, for the standalone default platform.
fn host_memory_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(4 << 30, |kb| kb * 1024)
}

/// The Docker backend on the configured socket (or the default one).
fn docker_backend(
    config: &EngineConfig,
    log_max_bytes: Option<u64>,
) -> weir_compute::DockerBackend {
    let defaults = weir_compute::DockerConfig::default();
    weir_compute::DockerBackend::new(weir_compute::DockerConfig {
        socket: config
            .docker_socket
            .clone()
            .unwrap_or(defaults.socket.clone()),
        // The backend refuses privileges unless allowed at all; which team may use them
        // is the engine's check (`prepare`), per the platform config.
        allow_privileged: config.platform.as_ref().is_some_and(|p| {
            p.teams
                .iter()
                .any(|t| t.allow_privileged || t.allow_host_network || t.allow_host_mounts)
        }),
        log_max_bytes,
        ..defaults
    })
}
