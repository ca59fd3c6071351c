//! The engine as a running service: start-up (sync, recovery), the scheduler loop, and
//! shutdown.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};
use weir_core::ids::{DagId, RunId};
use weir_store::Store;

use crate::backends::Backends;
use crate::catalog::Catalog;
use crate::clock::{Clock, SystemClock};
use crate::config::EngineConfig;
use crate::dispatch_state::DispatchState;
use crate::error::Result;
use crate::events::Event;
use crate::handle::EngineHandle;
use crate::shared::Shared;
use crate::tries::TryRegistry;
use weir_core::platform::Backend as BackendKind;

/// What an engine runs on besides its settings: its clock, and backends of the caller's
/// that replace the ones the platform config would make (by kind).
pub struct EngineOptions {
    pub clock: Arc<dyn Clock>,
    pub backends: Vec<(BackendKind, Arc<dyn weir_compute::Backend>)>,
    /// The secrets service; None: one without a master key, so a task that asks for a
    /// secret fails saying so.
    pub secrets: Option<Arc<weir_secrets::Secrets>>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            clock: Arc::new(SystemClock),
            backends: Vec::new(),
            secrets: None,
        }
    }
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
        Self::start_with(config, store, EngineOptions::default()).await
    }

    /// The same, on a clock of the caller's (a [`crate::ManualClock`] in tests).
    pub async fn start_with_clock(
        config: EngineConfig,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine> {
        let options = EngineOptions {
            clock,
            ..EngineOptions::default()
        };
        Self::start_with(config, store, options).await
    }

    /// The same, with the parts given in `options`.
    pub async fn start_with(
        config: EngineConfig,
        store: Store,
        options: EngineOptions,
    ) -> Result<Engine> {
        let EngineOptions {
            clock,
            backends,
            secrets,
        } = options;
        let secrets =
            secrets.unwrap_or_else(|| Arc::new(weir_secrets::Secrets::without_key(store.clone())));
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
        let logs = crate::log_archive::LogArchive::connect(&config, &secrets).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let platform = config.platform.clone();
        let replica = config.replica.clone();
        let traces = crate::traces::Traces::start(&platform)?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        store.observe(metrics.clone());
        let shared = Arc::new(Shared {
            backends: Backends::new(&config, backends),
            dispatcher: DispatchState::new(platform.clone()),
            notifier: crate::notifications::Notifier::new(
                &platform.notifications,
                &config.server_url,
            ),
            metrics,
            catalog: Catalog::default(),
            tries: TryRegistry::default(),
            secrets,
            traces,
            logs,
            datasets: crate::datasets::DatasetWatch::default(),
            platform,
            config,
            store,
            clock,
            events: tx,
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            passes: tokio::sync::watch::Sender::new(0),
            replica: crate::replicas::Replica::new(&replica),
            lease_wake: crate::replicas::leases::LeaseWake::default(),
        });
        if shared.platform.repository.is_some() {
            // The repository replaces the watched folder: commits bring the DAGs.
            crate::repository::start(&shared).await?;
            crate::repository::spawn_interval(shared.clone());
        } else if let Some(dir) = shared.config.dags_folder.clone() {
            let report = crate::dag_bag::sync_folder(&shared, &dir).await?;
            info!(
                files = report.files,
                dags = report.dags,
                broken = report.files_with_errors,
                "DAG folder loaded"
            );
            crate::watcher::spawn(shared.clone(), dir);
        }
        crate::replicas::start(&shared).await?;
        // Alone on its database, an engine adopts every try left running; among
        // replicas, tries are adopted as their replicas' leases run out (`replicas`).
        if !shared.replica.leased() {
            crate::recovery::recover(&shared).await?;
        }
        crate::notifications::spawn(shared.clone());
        crate::log_archive::spawn_sweeps(&shared);
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
        crate::replicas::leases::stop(&self.handle.shared).await;
        self.handle.shared.traces.shutdown().await;
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
    /// When the next scheduled run becomes due, as the last look at the schedules said.
    /// Kept across passes: a pass that looks only at runs must not forget it.
    next_schedule: Option<DateTime<Utc>>,
    /// When to look at the dataset consumers again by the clock (none: there are none).
    next_dataset_look: Option<DateTime<Utc>>,
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
    shared.passes.send_modify(|n| *n += 1);
    loop {
        let timer = async {
            match next_wake {
                Some(at) => shared.clock.sleep_until(at).await,
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
        shared.passes.send_modify(|n| *n += 1);
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
        // Every pass ends with a dispatch, which reads the pools afresh; and looks at
        // dataset consumers when an event was recorded.
        Event::PoolsChanged | Event::DatasetsUpdated => {}
    }
}

/// One scheduling pass; returns when the loop should wake by itself next.
async fn pass(shared: &Arc<Shared>, work: &mut Work) -> Option<DateTime<Utc>> {
    let started = std::time::Instant::now();
    let mut next_wake: Option<DateTime<Utc>> = None;
    let earliest = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    // A pass that looks at the schedules (DAGs changed, or the clock) looks at the
    // dataset consumers too.
    let look_at_schedules = std::mem::take(&mut work.schedules) && shared.config.run_schedules;
    if look_at_schedules {
        // New scheduled runs start below, within `max_active_runs`.
        work.start_runs = true;
        match crate::scheduler::create_due_runs(shared).await {
            Ok(wake) => work.next_schedule = wake,
            Err(e) => error!(error = %e, "scheduling DAG runs failed"),
        }
    }
    let datasets_due = work.next_dataset_look.is_some_and(|at| at <= shared.now());
    if (shared.datasets.take() || look_at_schedules || datasets_due) && shared.config.run_schedules
    {
        work.start_runs = true;
        match crate::datasets::trigger_consumers(shared).await {
            Ok(any) => {
                work.next_dataset_look = any.then(|| shared.now() + crate::datasets::RECHECK);
            }
            Err(e) => error!(error = %e, "triggering dataset-scheduled DAGs failed"),
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
    if shared.dispatcher.waits_for_backend() {
        next_wake = earliest(
            next_wake,
            Some(shared.now() + chrono::TimeDelta::seconds(2)),
        );
    }
    let next_wake = earliest(next_wake, work.next_schedule);
    let next_wake = earliest(next_wake, work.next_dataset_look);
    let next_wake = earliest(next_wake, shared.tries.next_retry());
    shared
        .metrics
        .scheduler_pass
        .observe(started.elapsed().as_secs_f64());
    next_wake
}
