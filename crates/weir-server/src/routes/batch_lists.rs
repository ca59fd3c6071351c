//! Airflow's batch lists, POSTs so that long lists of ids fit in a body:
//! `POST /dags/~/dagRuns/list` (DAG runs of many DAGs) and
//! `POST /dags/~/dagRuns/~/taskInstances/list` (task instances of many DAGs and runs).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::ids::{DagId, RunId, TaskId};
use weir_core::spec::DagSpec;
use weir_core::state::{DagRunState, TaskState};
use weir_store::DagRunOrder;
use weir_store::ti_search::{DagRunSearch, TaskInstanceHit, TaskInstanceSearch};

use super::dag_runs::ORDERS;
use super::spec_of;
use crate::auth::Authorized;
use crate::auth::visibility::Visibility;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::json::batch::{ListDagRunsForm, ListTaskInstanceForm};
use crate::json::{self, DagRunCollection, TaskInstance, TaskInstanceCollection, TaskKind};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::bad_order_by;
use crate::{ApiConfig, AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_dag_runs_batch))
        .routes(routes!(list_task_instances_batch))
}

/// The page of a form's `page_offset` and `page_limit` (Airflow's rules: the limit is at
/// least 1, 100 by default; Weir caps it at the maximum page limit).
fn page(
    offset: Option<i64>,
    limit: Option<i64>,
    config: &ApiConfig,
) -> Result<(i64, i64), ApiError> {
    let limit = match limit {
        None => config.default_page_limit,
        Some(l) if l < 1 => {
            return Err(ApiError::bad_request(format!(
                "`page_limit` must be greater than or equal to 1, not {l}"
            )));
        }
        Some(l) => l.min(config.max_page_limit),
    };
    let offset = match offset {
        None => 0,
        Some(o) if o < 0 => {
            return Err(ApiError::bad_request(format!(
                "`page_offset` must be greater than or equal to 0, not {o}"
            )));
        }
        Some(o) => o,
    };
    Ok((limit, offset))
}

/// Parses each id of the body's list `field`.
fn ids<T>(
    field: &str,
    values: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ApiError> {
    values
        .iter()
        .map(|v| {
            parse(v).map_err(|e| ApiError::bad_request(format!("invalid `{v}` in `{field}`: {e}")))
        })
        .collect()
}

/// List DAG runs (batch).
///
/// The runs of many DAGs at once, filtered by DAG, state and date ranges; a POST so that
/// long lists of DAG ids fit. Oldest logical date first unless `order_by` says otherwise.
#[utoipa::path(
    post,
    path = "/dags/~/dagRuns/list",
    operation_id = "get_dag_runs_batch",
    tag = "DAGRun",
    request_body = ListDagRunsForm,
    responses(
        (status = 200, description = "Success.", body = DagRunCollection),
        (status = 400, response = BadRequest),
    )
)]
async fn list_dag_runs_batch(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    ApiJson(form): ApiJson<ListDagRunsForm>,
) -> Result<Json<DagRunCollection>, ApiError> {
    let (limit, offset) = page(form.page_offset, form.page_limit, &state.config)?;
    let (order_by, descending) = match form.order_by.as_deref().filter(|o| !o.is_empty()) {
        None => (DagRunOrder::LogicalDate, false),
        Some(o) => {
            let (field, desc) = match o.strip_prefix('-') {
                Some(field) => (field, true),
                None => (o, false),
            };
            match ORDERS.iter().find(|(name, _)| *name == field) {
                Some((_, order)) => (*order, desc),
                None => {
                    let names: Vec<&str> = ORDERS.iter().map(|(n, _)| *n).collect();
                    return Err(bad_order_by(field, &names));
                }
            }
        }
    };
    let dag_ids = ids(
        "dag_ids",
        form.dag_ids.as_deref().unwrap_or_default(),
        |s| DagId::new(s).map_err(|e| e.to_string()),
    )?;
    let states = ids("states", form.states.as_deref().unwrap_or_default(), |s| {
        s.parse::<DagRunState>()
            .map_err(|_| "use queued, running, success or failed".to_string())
    })?;
    let d = |v: Option<json::ApiDateTime>| v.map(|d| d.0);
    let search = DagRunSearch {
        dag_ids,
        states,
        logical_date_gte: d(form.execution_date_gte),
        logical_date_lte: d(form.execution_date_lte),
        start_date_gte: d(form.start_date_gte),
        start_date_lte: d(form.start_date_lte),
        end_date_gte: d(form.end_date_gte),
        end_date_lte: d(form.end_date_lte),
        order_by,
        descending,
        limit,
        offset,
    };
    let found = state.store().search_dag_runs(&search).await?;
    let runs = found.items.into_iter().map(json::dag_run).collect();
    Ok(Json(DagRunCollection {
        dag_runs: Visibility::new(&state, &auth).runs(runs).await?,
        total_entries: found.total_entries,
    }))
}

/// A task state of the form (`null` and `none` are "no status yet").
pub(super) fn task_state(s: Option<&str>) -> Result<TaskState, String> {
    match s {
        None | Some("none" | "null") => Ok(TaskState::None),
        Some(s) => s.parse::<TaskState>().map_err(|_| {
            format!(
                "use one of: null, {}",
                TaskState::ALL[1..]
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }),
    }
}

/// List task instances (batch).
///
/// The task instances of many DAGs and runs at once, filtered by DAG, run, task, state,
/// pool, queue, dates and duration; a POST so that long lists of ids fit. A list that is
/// given but empty matches nothing, as in Airflow (except `state`). Sorted by the run's
/// logical date, then DAG, run, task and map index.
#[utoipa::path(
    post,
    path = "/dags/~/dagRuns/~/taskInstances/list",
    operation_id = "get_task_instances_batch",
    tag = "TaskInstance",
    request_body = ListTaskInstanceForm,
    responses(
        (status = 200, description = "Success.", body = TaskInstanceCollection),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn list_task_instances_batch(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    ApiJson(form): ApiJson<ListTaskInstanceForm>,
) -> Result<Json<TaskInstanceCollection>, ApiError> {
    if form.executor.is_some() {
        return Err(ApiError::bad_request(
            "`executor` is not supported by Weir, which has no executors; leave it out",
        ));
    }
    let (limit, offset) = page(form.page_offset, form.page_limit, &state.config)?;
    let lists = [
        ("dag_ids", &form.dag_ids),
        ("dag_run_ids", &form.dag_run_ids),
        ("task_ids", &form.task_ids),
        ("pool", &form.pool),
        ("queue", &form.queue),
    ];
    let dag_ids = ids(
        "dag_ids",
        form.dag_ids.as_deref().unwrap_or_default(),
        |s| DagId::new(s).map_err(|e| e.to_string()),
    )?;
    let run_ids = ids(
        "dag_run_ids",
        form.dag_run_ids.as_deref().unwrap_or_default(),
        |s| RunId::new(s).map_err(|e| e.to_string()),
    )?;
    let task_ids = ids(
        "task_ids",
        form.task_ids.as_deref().unwrap_or_default(),
        |s| TaskId::new(s).map_err(|e| e.to_string()),
    )?;
    let states = form
        .state
        .iter()
        .flatten()
        .map(|s| {
            task_state(s.as_deref()).map_err(|e| {
                ApiError::bad_request(format!(
                    "invalid `{}` in `state`: {e}",
                    s.as_deref().unwrap_or("null")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (name, v) in [
        ("duration_gte", form.duration_gte),
        ("duration_lte", form.duration_lte),
    ] {
        if v.is_some_and(|v| !v.is_finite()) {
            return Err(ApiError::bad_request(format!("`{name}` must be a number")));
        }
    }
    let d = |v: Option<json::ApiDateTime>| v.map(|d| d.0);
    // A list given empty matches nothing (Airflow's `IN ()`).
    if lists
        .iter()
        .any(|(_, l)| l.as_ref().is_some_and(Vec::is_empty))
    {
        return Ok(Json(TaskInstanceCollection {
            task_instances: Vec::new(),
            total_entries: 0,
        }));
    }
    let search = TaskInstanceSearch {
        dag_ids,
        run_ids,
        task_ids,
        states,
        pools: form.pool.unwrap_or_default(),
        queues: form.queue.unwrap_or_default(),
        logical_date_gte: d(form.execution_date_gte),
        logical_date_lte: d(form.execution_date_lte),
        start_date_gte: d(form.start_date_gte),
        start_date_lte: d(form.start_date_lte),
        end_date_gte: d(form.end_date_gte),
        end_date_lte: d(form.end_date_lte),
        duration_gte: form.duration_gte,
        duration_lte: form.duration_lte,
        order_by: None,
        descending: false,
        limit,
        offset,
    };
    let found = state.store().search_task_instances(&search).await?;
    let task_instances = hits_to_json(&state, found.items).await;
    Ok(Json(TaskInstanceCollection {
        task_instances: Visibility::new(&state, &auth)
            .task_instances(task_instances)
            .await?,
        total_entries: found.total_entries,
    }))
}

/// The JSON of found task instances, with each one's operator from its DAG's current
/// spec (read once per DAG). Not yet narrowed by [`Visibility`]: callers do that.
pub(super) async fn hits_to_json(
    state: &AppState,
    hits: Vec<TaskInstanceHit>,
) -> Vec<TaskInstance> {
    let mut specs: HashMap<DagId, Option<Arc<DagSpec>>> = HashMap::new();
    let mut task_instances = Vec::with_capacity(hits.len());
    for hit in hits {
        let dag_id = hit.ti.key.dag_id.clone();
        let spec = match specs.get(&dag_id) {
            Some(spec) => spec.clone(),
            None => {
                let spec = spec_of(state, &dag_id).await;
                specs.insert(dag_id, spec.clone());
                spec
            }
        };
        let op = spec
            .as_deref()
            .and_then(|s| s.tasks.get(hit.ti.key.task_id.as_str()))
            .map(|t| TaskKind::from(&t.kind));
        task_instances.push(json::task_instance(hit.ti, hit.logical_date, op));
    }
    task_instances
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pages_follow_airflow() {
        let c = ApiConfig::default();
        assert_eq!(page(None, None, &c).unwrap(), (100, 0));
        assert_eq!(page(Some(5), Some(2), &c).unwrap(), (2, 5));
        assert_eq!(page(None, Some(100_000), &c).unwrap().0, c.max_page_limit);
        assert!(page(None, Some(0), &c).is_err());
        assert!(page(Some(-1), None, &c).is_err());
    }

    #[test]
    fn task_states_accept_null_and_none() {
        assert_eq!(task_state(None), Ok(TaskState::None));
        assert_eq!(task_state(Some("none")), Ok(TaskState::None));
        assert_eq!(task_state(Some("failed")), Ok(TaskState::Failed));
        assert!(task_state(Some("bogus")).is_err());
    }
}
