//! [`EngineHandle`]: what the API and the CLI use to act on the engine (trigger, pause,
//! clear, mark, backfill, reload). Reads go straight to [`EngineHandle::store`].

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use weir_core::ids::{DagId, MapIndex, RunId, TaskId, TryKey};
use weir_core::spec::DagSpec;
use weir_core::state::{DagRunState, RunType, TaskState};
use weir_store::{
    DagRecord, DagRunRecord, Store, TaskInstanceKey, TaskInstanceRecord, TaskInstanceUpdate,
};

use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::shared::Shared;

/// A manual trigger (Airflow's `POST /dags/{dag_id}/dagRuns` body).
#[derive(Debug, Clone, Default)]
pub struct TriggerRequest {
    /// Default: `manual__<logical date>`.
    pub run_id: Option<RunId>,
    /// Default: now.
    pub logical_date: Option<DateTime<Utc>>,
    /// Default: `{}`. Must be a JSON object.
    pub conf: Option<Value>,
}

/// Which task instances to clear (Airflow's `clearTaskInstances` body).
#[derive(Debug, Clone, Default)]
pub struct ClearRequest {
    /// Only this run; default every run whose logical date is in the range below.
    pub run_id: Option<RunId>,
    /// Only these tasks; default every task.
    pub task_ids: Option<Vec<TaskId>>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// Only instances that failed or were upstream_failed.
    pub only_failed: bool,
    /// Also clear everything downstream of the chosen tasks.
    pub include_downstream: bool,
    /// Say what would be cleared, change nothing.
    pub dry_run: bool,
    /// Run the cleared tasks on the DAG's latest version instead of the run's own one
    /// (Airflow 3's `run_on_latest_version`): the run moves to that version.
    pub run_on_latest_version: bool,
}

/// A cheap, cloneable handle on a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) shared: Arc<Shared>,
}

impl EngineHandle {
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The host this engine runs on, as tries and replicas record it.
    pub fn hostname(&self) -> &str {
        &self.shared.config.hostname
    }

    /// This process's id among Weir's replicas.
    pub fn replica_id(&self) -> &str {
        &self.shared.replica.id
    }

    /// Resolves when this replica lost its lease (see `replicas::leases`): the process
    /// must stop, as other replicas may have taken over its work.
    pub async fn lost_lease(&self) {
        self.shared.replica.fenced.cancelled().await;
    }

    pub fn has_lost_lease(&self) -> bool {
        self.shared.replica.fenced.is_cancelled()
    }

    /// The engine's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.shared.now()
    }

    /// The secrets service the engine resolves tries' secrets with.
    pub fn secrets(&self) -> &Arc<weir_secrets::Secrets> {
        &self.shared.secrets
    }

    /// The engine's metrics (to count more things in them).
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.shared.metrics
    }

    /// The metrics as `GET /metrics` answers, in the format of
    /// [`crate::metrics::CONTENT_TYPE`]; the gauges are read now.
    pub async fn metrics_text(&self) -> String {
        crate::metrics::render(&self.shared).await
    }

    /// Weir's home folder.
    pub fn home(&self) -> &std::path::Path {
        &self.shared.config.home
    }

    /// The log file of a try in its try folder (for a server without a log store, such
    /// as `weir dags test`; the API asks [`Self::log_location`]).
    pub async fn log_path(&self, key: &TryKey) -> Result<Option<PathBuf>> {
        let record = self.shared.store.get_try(key).await?;
        Ok(record
            .and_then(|t| t.try_dir)
            .map(|d| weir_compute::layout::log_path(std::path::Path::new(&d))))
    }

    /// Where a try's log is: its folder (running, or not archived), the log store, or
    /// removed by retention.
    pub async fn log_location(&self, key: &TryKey) -> Result<crate::LogLocation> {
        self.shared.logs.location(&self.shared, key).await
    }

    /// Up to `max` bytes from `offset` of an archived log ([`crate::LogLocation::Archived`]).
    pub async fn read_archived_log(
        &self,
        location: &str,
        size: u64,
        offset: u64,
        max: usize,
    ) -> Result<Vec<u8>> {
        self.shared.logs.read(location, size, offset, max).await
    }

    /// The DAG's current definition.
    /// A production DAG whose first version waits for approval shows that version.
    /// What every active DAG declares about datasets (outlets, inlets, schedules,
    /// sensors), for the datasets API and lineage.
    pub async fn dataset_declarations(
        &self,
    ) -> Result<Vec<weir_core::dataset::lineage::DagDatasets>> {
        crate::datasets::declarations(&self.shared).await
    }

    /// Records dataset events posted through the API (authorized by the caller) and
    /// wakes the scheduler for their consumers.
    pub async fn post_dataset_events(
        &self,
        events: &[weir_store::NewDatasetEvent],
    ) -> Result<Vec<weir_store::DatasetEventRecord>> {
        let recorded = self.shared.store.record_dataset_events(events).await?;
        self.shared.datasets.recorded();
        self.shared.notify(Event::DatasetsUpdated);
        Ok(recorded)
    }

    pub async fn dag_spec(&self, dag_id: &DagId) -> Result<Arc<DagSpec>> {
        let (store, catalog) = (&self.shared.store, &self.shared.catalog);
        let version = match catalog.latest(store, dag_id).await {
            Err(EngineError::NoActiveVersion(_)) => {
                let newest = store.list_governed_versions(dag_id, 1, 0).await?;
                let Some(v) = newest.items.first() else {
                    return Err(EngineError::NoActiveVersion(dag_id.clone()));
                };
                catalog.version(store, dag_id, &v.version_hash).await?
            }
            found => found?,
        };
        Ok(Arc::new(version.spec.clone()))
    }

    /// Reloads the DAG folder now (it is also watched).
    pub async fn sync_dags(&self) -> Result<crate::SyncReport> {
        let Some(dir) = self.shared.config.dags_folder.clone() else {
            return Ok(crate::SyncReport::default());
        };
        let report = crate::dag_bag::sync_folder(&self.shared, &dir).await?;
        self.shared.notify(Event::DagsChanged);
        Ok(report)
    }

    /// Says that pools changed (through the API): the engine dispatches again at once,
    /// so a new or resized pool is honoured without waiting for another event.
    pub fn pools_changed(&self) {
        self.shared.notify(Event::PoolsChanged);
    }

    /// Registers a DAG given as a spec (for `weir dags test`, which has no DAG folder).
    pub async fn register_dag(
        &self,
        spec: &DagSpec,
        file_path: &str,
        source: &str,
    ) -> Result<DagRecord> {
        crate::dag_bag::register(
            &self.shared.store,
            self.shared.catalog.versions(),
            spec,
            file_path,
            source,
            true,
        )
        .await
    }

    /// Creates a manual run; it starts when the DAG is unpaused and below
    /// `max_active_runs`.
    pub async fn trigger_dag(&self, dag_id: &DagId, req: TriggerRequest) -> Result<DagRunRecord> {
        let conf = req
            .conf
            .unwrap_or_else(|| Value::Object(Default::default()));
        if !conf.is_object() {
            return Err(EngineError::InvalidRequest(
                "`conf` must be a JSON object".into(),
            ));
        }
        // The store keeps microseconds: a default date is cut to them so the run id and
        // the stored logical date agree.
        let logical_date = req
            .logical_date
            .unwrap_or_else(|| self.shared.now().trunc_subsecs(6));
        let run = crate::runs::create_run(
            &self.shared,
            dag_id,
            RunType::Manual,
            logical_date,
            conf,
            req.run_id,
        )
        .await?;
        self.shared.notify(Event::RunChanged {
            dag_id: run.dag_id.clone(),
            run_id: run.run_id.clone(),
        });
        Ok(run)
    }

    /// Creates backfill runs for every schedule interval whose logical date is in
    /// `[from, to]`; dates that already have a run are skipped.
    pub async fn backfill(
        &self,
        dag_id: &DagId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        conf: Value,
    ) -> Result<Vec<DagRunRecord>> {
        if to < from {
            return Err(EngineError::InvalidRequest(
                "the backfill's end is before its start".into(),
            ));
        }
        let runs = crate::runs::backfill(&self.shared, dag_id, from, to, conf).await?;
        self.shared.notify(Event::DagsChanged);
        Ok(runs)
    }

    pub async fn set_paused(&self, dag_id: &DagId, paused: bool) -> Result<DagRecord> {
        let dag = self.shared.store.set_paused(dag_id, paused).await?;
        self.shared.notify(Event::DagsChanged);
        Ok(dag)
    }

    /// Clears task instances so they run again (with their downstream if asked); the
    /// runs they belong to go back to running. Returns what was (or would be) cleared.
    pub async fn clear_task_instances(
        &self,
        dag_id: &DagId,
        req: ClearRequest,
    ) -> Result<Vec<TaskInstanceRecord>> {
        let cleared = crate::runs::clear(&self.shared, dag_id, &req).await?;
        if !req.dry_run {
            for (dag_id, run_id) in cleared
                .iter()
                .map(|t| (t.key.dag_id.clone(), t.key.run_id.clone()))
            {
                self.shared.notify(Event::RunChanged { dag_id, run_id });
            }
        }
        Ok(cleared)
    }

    /// Marks one task instance success or failed (a running try is cancelled).
    pub async fn set_task_instance_state(
        &self,
        key: &TaskInstanceKey,
        state: TaskState,
    ) -> Result<TaskInstanceRecord> {
        if !matches!(state, TaskState::Success | TaskState::Failed) {
            return Err(EngineError::InvalidRequest(format!(
                "a task instance can be set to `success` or `failed`, not `{state}`"
            )));
        }
        let ti = self
            .shared
            .store
            .get_task_instance(key)
            .await?
            .ok_or_else(|| EngineError::InvalidRequest(format!("task instance {key} not found")))?;
        crate::runs::cancel_running(&self.shared, &ti);
        let update = TaskInstanceUpdate::Mark {
            expected: ti.state,
            state,
            end_date: self.shared.now(),
        };
        self.shared.store.update_task_instance(key, &update).await?;
        self.shared.notify(Event::RunChanged {
            dag_id: key.dag_id.clone(),
            run_id: key.run_id.clone(),
        });
        self.shared
            .store
            .get_task_instance(key)
            .await?
            .ok_or_else(|| EngineError::InvalidRequest(format!("task instance {key} not found")))
    }

    /// Sets a whole run's state (Airflow's `PATCH dagRuns/{id}`): `success` or `failed`
    /// also finishes its unfinished task instances; `queued` re-runs it from scratch.
    pub async fn set_dag_run_state(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
        state: DagRunState,
    ) -> Result<DagRunRecord> {
        let run = crate::runs::set_run_state(&self.shared, dag_id, run_id, state).await?;
        self.shared.notify(Event::RunChanged {
            dag_id: dag_id.clone(),
            run_id: run_id.clone(),
        });
        Ok(run)
    }

    /// The map index of every instance of a task in a run, for the API.
    pub async fn map_indexes(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
        task_id: &TaskId,
    ) -> Result<Vec<MapIndex>> {
        Ok(self
            .shared
            .store
            .list_task_instances(dag_id, run_id)
            .await?
            .into_iter()
            .filter(|t| &t.key.task_id == task_id)
            .map(|t| t.key.map_index)
            .collect())
    }

    /// Queues as of the last dispatch pass: depth per team, waiting tries and why.
    pub fn queues(&self) -> Vec<crate::QueueView> {
        self.shared.dispatcher.queues()
    }

    /// Compute environments as of the last dispatch pass: capacity, use, availability.
    pub fn compute_environments(&self) -> Vec<crate::EnvironmentView> {
        self.shared.dispatcher.environments()
    }

    /// The settings the engine was started with (for `GET /api/v1/config`).
    /// The count of scheduling passes so far; it changes after each. Waiting on it is how
    /// a caller learns that the engine acted (e.g. a test on a manual clock).
    pub fn passes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.passes.subscribe()
    }

    pub fn config(&self) -> &crate::EngineConfig {
        &self.shared.config
    }

    /// The job definitions loaded from the jobs folder, by team and name.
    pub fn job_definitions(&self) -> Vec<weir_core::job_def::JobDefinition> {
        self.shared.catalog.jobs().iter().cloned().collect()
    }

    /// Syncs the Git repository now (`POST /repository/sync`); the error says why a sync
    /// failed (it is also kept in the sync state and the audit trail).
    pub async fn sync_repository(&self, actor: &str) -> Result<crate::RepositorySync> {
        crate::repository::sync(&self.shared, actor, false).await
    }

    /// The `[repository]` settings in force, if any.
    pub fn repository_settings(&self) -> Option<&weir_core::platform::RepositorySettings> {
        self.shared.platform.repository.as_ref()
    }

    /// Approves a pending version (403 with the rule that refused, 409 when it is no
    /// longer pending); it becomes the DAG's active version.
    pub async fn approve(
        &self,
        id: i64,
        caller: &weir_core::access::Caller,
        comment: Option<&str>,
    ) -> Result<weir_store::ApprovalRecord> {
        crate::governance::approve(&self.shared, id, caller, comment).await
    }

    /// Rejects a pending version; the DAG keeps its active one.
    pub async fn reject(
        &self,
        id: i64,
        caller: &weir_core::access::Caller,
        comment: Option<&str>,
    ) -> Result<weir_store::ApprovalRecord> {
        crate::governance::reject(&self.shared, id, caller, comment).await
    }

    /// Activates a version without approval (platform admins, with a reason).
    pub async fn break_glass(
        &self,
        dag_id: &DagId,
        version: &str,
        caller: &weir_core::access::Caller,
        reason: &str,
    ) -> Result<()> {
        crate::governance::break_glass(&self.shared, dag_id, version, caller, reason).await
    }

    /// Deploys an uploaded bundle (all or nothing).
    pub async fn deploy(
        &self,
        bundle: crate::Bundle,
        caller: &weir_core::access::Caller,
    ) -> Result<crate::Deployed> {
        crate::deploy::deploy(&self.shared, bundle, caller).await
    }

    /// A DAG version as the engine parsed it (from memory or the store).
    pub async fn dag_version(&self, dag_id: &DagId, version: &str) -> Result<Arc<DagSpec>> {
        let v = self
            .shared
            .catalog
            .version(&self.shared.store, dag_id, version)
            .await?;
        Ok(Arc::new(v.spec.clone()))
    }

    /// Stops the engine's loop (running tries are left to be adopted).
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }
}
