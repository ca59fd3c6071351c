//! The routes of `/api/v1`, one module per resource. Each module's `routes()` registers
//! its handlers through `utoipa_axum::routes!`, so a route and its OpenAPI path come from
//! one `#[utoipa::path]` annotation and cannot disagree.

mod approvals;
mod audit_events;
mod backfills;
mod batch_lists;
mod config;
mod connections;
mod costs;
mod dag_runs;
mod dag_sources;
mod dags;
mod datasets;
pub mod health;
mod import_errors;
mod job_definitions;
mod log_proxy;
mod logs;
pub mod metrics;
mod notifications;
mod pools;
mod queues;
mod repository;
mod secrets;
mod task_instances;
mod teams;
mod ti_lists;
mod tokens;
mod tries;
mod users;
mod variables;
mod versions;
mod xcom;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use utoipa_axum::router::OpenApiRouter;
use weir_core::ids::{DagId, RunId};
use weir_core::spec::DagSpec;
use weir_store::{DagRecord, DagRunRecord};

use crate::AppState;
use crate::error::ApiError;

/// The try log route alone (what a scheduler replica serves besides health).
pub fn logs_only() -> OpenApiRouter<AppState> {
    logs::routes()
}

/// Every `/api/v1` route, with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::routes())
        .merge(dags::routes())
        .merge(dag_runs::routes())
        .merge(task_instances::routes())
        .merge(logs::routes())
        .merge(xcom::routes())
        .merge(variables::routes())
        .merge(import_errors::routes())
        .merge(pools::routes())
        .merge(backfills::routes())
        .merge(queues::routes())
        .merge(costs::routes())
        .merge(batch_lists::routes())
        .merge(ti_lists::routes())
        .merge(connections::routes())
        .merge(config::routes())
        .merge(job_definitions::routes())
        .merge(users::routes())
        .merge(teams::routes())
        .merge(secrets::routes())
        .merge(tokens::routes())
        .merge(audit_events::routes())
        .merge(notifications::routes())
        .merge(versions::routes())
        .merge(approvals::routes())
        .merge(repository::routes())
        .merge(datasets::routes())
        .merge(tries::routes())
}

/// A known path with an unknown method: a 405 problem.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The DAG, or a 404.
pub(crate) async fn load_dag(state: &AppState, dag_id: &DagId) -> Result<DagRecord, ApiError> {
    state
        .store()
        .get_dag(dag_id)
        .await?
        .ok_or_else(|| ApiError::dag_not_found(dag_id))
}

/// The DAG run, or a 404.
pub(crate) async fn load_run(
    state: &AppState,
    dag_id: &DagId,
    run_id: &RunId,
) -> Result<DagRunRecord, ApiError> {
    state
        .store()
        .get_dag_run(dag_id, run_id)
        .await?
        .ok_or_else(|| ApiError::dag_run_not_found(dag_id, run_id))
}

/// The DAG's current spec, if the engine has one (a DAG whose every version is gone has
/// none); a failure to read it is logged, not fatal, since callers only enrich with it.
pub(crate) async fn spec_of(state: &AppState, dag_id: &DagId) -> Option<Arc<DagSpec>> {
    match state.engine.dag_spec(dag_id).await {
        Ok(spec) => Some(spec),
        Err(e) if e.is_not_found() => None,
        Err(e) => {
            tracing::warn!(%dag_id, error = %e, "cannot read the DAG's spec");
            None
        }
    }
}

/// The spec of a DAG the caller already read: its latest version straight from the
/// engine's cache of versions, without reading the DAG's row again (a list of 100 DAGs
/// on PostgreSQL spent 100 round trips on that), else as [`spec_of`].
pub(crate) async fn spec_of_record(state: &AppState, record: &DagRecord) -> Option<Arc<DagSpec>> {
    if let Some(hash) = &record.latest_version
        && let Ok(spec) = state.engine.dag_version(&record.dag_id, hash).await
    {
        return Some(spec);
    }
    spec_of(state, &record.dag_id).await
}

/// The logical dates of runs, looked up once per run, for the `execution_date` fields of
/// task instances and XComs.
#[derive(Default)]
pub(crate) struct RunDates(HashMap<(DagId, RunId), DateTime<Utc>>);

impl RunDates {
    pub fn with(run: &DagRunRecord) -> Self {
        let mut dates = RunDates::default();
        dates
            .0
            .insert((run.dag_id.clone(), run.run_id.clone()), run.logical_date);
        dates
    }

    pub async fn get(
        &mut self,
        state: &AppState,
        dag_id: &DagId,
        run_id: &RunId,
    ) -> Result<DateTime<Utc>, ApiError> {
        if let Some(d) = self.0.get(&(dag_id.clone(), run_id.clone())) {
            return Ok(*d);
        }
        let run = load_run(state, dag_id, run_id).await?;
        self.0
            .insert((dag_id.clone(), run_id.clone()), run.logical_date);
        Ok(run.logical_date)
    }
}
