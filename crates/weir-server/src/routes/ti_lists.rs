//! Task instances across runs and DAGs, Airflow's `~` lists:
//! `GET /dags/~/dagRuns/~/taskInstances` (every DAG) and
//! `GET /dags/{dag_id}/dagRuns/~/taskInstances` (every run of one DAG), with Airflow's
//! query filters. One store search ([`weir_store::ti_search`], shared with the batch
//! `POST .../taskInstances/list`) pages and counts in the database.
//!
//! What a caller sees is what the per-run list shows: every team's task states, with
//! `rendered_fields` emptied unless the caller may read the DAG's task logs
//! ([`Visibility`]).

use axum::extract::State;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::ids::DagId;
use weir_store::ti_search::{TaskInstanceOrder, TaskInstanceSearch};

use super::batch_lists::{hits_to_json, task_state};
use super::load_dag;
use crate::AppState;
use crate::auth::Authorized;
use crate::auth::visibility::Visibility;
use crate::error::ApiError;
use crate::extract::{QueryParams, path_params};
use crate::json::TaskInstanceCollection;
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::{Pagination, bad_order_by, order_by};

path_params!(DagPath {
    dag_id: DagId = "dag_id"
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_all_task_instances))
        .routes(routes!(list_dag_task_instances))
}

/// The search the query asks for (every filter but the DAG).
fn search_of(q: &QueryParams, page: Pagination) -> Result<TaskInstanceSearch, ApiError> {
    q.reject(&["executor", "updated_at_gte", "updated_at_lte"])?;
    let states = q
        .all("state")
        .into_iter()
        .flat_map(|s| s.split(','))
        .map(|s| {
            task_state(Some(s.trim()))
                .map_err(|e| ApiError::bad_request(format!("unknown task state `{s}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let list = |name: &str| -> Vec<String> {
        q.all(name)
            .into_iter()
            .flat_map(|s| s.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let number = |name: &str| -> Result<Option<f64>, ApiError> {
        q.str(name)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "query parameter `{name}` must be a number of seconds, not `{v}`"
                        ))
                    })
            })
            .transpose()
    };
    let (order, descending) = match order_by(q).filter(|(f, _)| !f.is_empty()) {
        None => (None, false),
        Some((field, desc)) => match TaskInstanceOrder::NAMES.iter().find(|(n, _)| *n == field) {
            Some((_, order)) => (Some(*order), desc),
            None => {
                let names: Vec<&str> = TaskInstanceOrder::NAMES.iter().map(|(n, _)| *n).collect();
                return Err(bad_order_by(field, &names));
            }
        },
    };
    Ok(TaskInstanceSearch {
        states,
        pools: list("pool"),
        queues: list("queue"),
        logical_date_gte: q.datetime("execution_date_gte")?,
        logical_date_lte: q.datetime("execution_date_lte")?,
        start_date_gte: q.datetime("start_date_gte")?,
        start_date_lte: q.datetime("start_date_lte")?,
        end_date_gte: q.datetime("end_date_gte")?,
        end_date_lte: q.datetime("end_date_lte")?,
        duration_gte: number("duration_gte")?,
        duration_lte: number("duration_lte")?,
        order_by: order,
        descending,
        limit: page.limit,
        offset: page.offset,
        ..TaskInstanceSearch::default()
    })
}

async fn answer(
    state: &AppState,
    auth: &Authorized,
    search: &TaskInstanceSearch,
) -> Result<Json<TaskInstanceCollection>, ApiError> {
    let found = state.store().search_task_instances(search).await?;
    let task_instances = hits_to_json(state, found.items).await;
    Ok(Json(TaskInstanceCollection {
        task_instances: Visibility::new(state, auth)
            .task_instances(task_instances)
            .await?,
        total_entries: found.total_entries,
    }))
}

/// The query of both `~` lists, for the OpenAPI document; `search_of` reads it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query string; never built
struct TaskInstanceFilters {
    /// Only task instances in these states (`none` or `null`: no status yet).
    state: Option<Vec<String>>,
    /// Only task instances in these pools.
    pool: Option<Vec<String>>,
    /// Only task instances in these queues.
    queue: Option<Vec<String>>,
    /// Only task instances whose run's logical date is at or after this.
    #[param(format = DateTime)]
    execution_date_gte: Option<String>,
    /// Only task instances whose run's logical date is at or before this.
    #[param(format = DateTime)]
    execution_date_lte: Option<String>,
    /// Only task instances that started at or after this.
    #[param(format = DateTime)]
    start_date_gte: Option<String>,
    /// Only task instances that started at or before this.
    #[param(format = DateTime)]
    start_date_lte: Option<String>,
    /// Only task instances that ended at or after this.
    #[param(format = DateTime)]
    end_date_gte: Option<String>,
    /// Only task instances that ended at or before this.
    #[param(format = DateTime)]
    end_date_lte: Option<String>,
    /// Only task instances that ran at least this many seconds.
    duration_gte: Option<f64>,
    /// Only task instances that ran at most this many seconds.
    duration_lte: Option<f64>,
    /// The sort field (`-` prefix: descending): execution_date, start_date, end_date,
    /// duration, state, dag_id, dag_run_id, task_id, map_index, try_number, pool, queue,
    /// priority_weight.
    order_by: Option<String>,
}

/// List task instances of every DAG.
///
/// Airflow's `~` for both the DAG and the run. Filters: `state` (repeated or
/// comma-separated; `none` is "no status yet"), `pool`, `queue`, and inclusive bounds on
/// the run's logical date (`execution_date_gte/lte`), `start_date_gte/lte`,
/// `end_date_gte/lte` and `duration_gte/lte` (seconds; unfinished instances have no
/// duration). Sorted by the run's logical date unless `order_by` says otherwise.
#[utoipa::path(
    get,
    path = "/dags/~/dagRuns/~/taskInstances",
    operation_id = "get_task_instances_of_all_dags",
    tag = "TaskInstance",
    params(
        Pagination,
        TaskInstanceFilters,
    ),
    responses(
        (status = 200, description = "Success.", body = TaskInstanceCollection),
        (status = 400, response = BadRequest),
    )
)]
async fn list_all_task_instances(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    q: QueryParams,
) -> Result<Json<TaskInstanceCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let search = search_of(&q, page)?;
    answer(&state, &auth, &search).await
}

/// List task instances of every run of a DAG.
///
/// Airflow's `~` for the run. The same filters and sort as
/// `GET /dags/~/dagRuns/~/taskInstances`.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/dagRuns/~/taskInstances",
    operation_id = "get_task_instances_of_all_runs",
    tag = "TaskInstance",
    params(
        DagPath,
        Pagination,
        TaskInstanceFilters,
    ),
    responses(
        (status = 200, description = "Success.", body = TaskInstanceCollection),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn list_dag_task_instances(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: DagPath,
    q: QueryParams,
) -> Result<Json<TaskInstanceCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    load_dag(&state, &path.dag_id).await?;
    let search = TaskInstanceSearch {
        dag_ids: vec![path.dag_id],
        ..search_of(&q, page)?
    };
    answer(&state, &auth, &search).await
}
