//! DAG runs: `GET|POST /dags/{dag_id}/dagRuns` (`~` lists every DAG's runs),
//! `GET|PATCH|DELETE /dags/{dag_id}/dagRuns/{dag_run_id}` and
//! `POST /dags/{dag_id}/dagRuns/{dag_run_id}/clear`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::ids::{DagId, RunId};
use weir_core::state::DagRunState;
use weir_engine::{ClearRequest, TriggerRequest};
use weir_store::{DagRunFilter, DagRunOrder};

use super::task_instances::to_json;
use super::{load_dag, load_run, spec_of};
use crate::AppState;
use crate::auth::Authorized;
use crate::auth::visibility::Visibility;
use crate::error::ApiError;
use crate::extract::{ApiJson, DagSelector, QueryParams, path_params};
use crate::json::batch::{ClearDagRun, ClearDagRunResponse};
use crate::json::{
    self, DagRun, DagRunCollection, TaskInstanceCollection, TriggerDagRun, UpdateDagRunState,
};
use crate::openapi::{AlreadyExists, BadRequest, NotFound, ServiceUnavailable};
use crate::pagination::{Pagination, bad_order_by, order_by};

path_params!(DagsPath {
    dags: DagSelector = "dag_id"
});
path_params!(DagPath {
    dag_id: DagId = "dag_id"
});
path_params!(RunPath {
    dag_id: DagId = "dag_id",
    run_id: RunId = "dag_run_id"
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runs, trigger))
        .routes(routes!(get_run, set_state, delete_run))
        .routes(routes!(clear_run))
}

/// The `order_by` fields runs can be sorted on, and what they sort by.
pub(super) const ORDERS: [(&str, DagRunOrder); 8] = [
    ("id", DagRunOrder::LogicalDate),
    ("execution_date", DagRunOrder::LogicalDate),
    ("logical_date", DagRunOrder::LogicalDate),
    ("dag_run_id", DagRunOrder::RunId),
    ("start_date", DagRunOrder::StartDate),
    ("end_date", DagRunOrder::EndDate),
    ("state", DagRunOrder::State),
    ("dag_id", DagRunOrder::DagId),
];

/// List DAG runs.
///
/// Oldest first unless `order_by` says otherwise; `~` as the DAG id lists the runs of
/// every DAG.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/dagRuns",
    operation_id = "get_dag_runs",
    tag = "DAGRun",
    params(
        DagsPath,
        Pagination,
        ("order_by" = Option<String>, Query, description = "One of id, execution_date, logical_date, dag_run_id, start_date, end_date, state, dag_id; `-` first for descending order."),
        ("state" = Option<Vec<String>>, Query, description = "Only runs in these states."),
        ("execution_date_gte" = Option<String>, Query, format = DateTime, description = "Only runs with a logical date at or after this."),
        ("execution_date_lte" = Option<String>, Query, format = DateTime, description = "Only runs with a logical date at or before this."),
        ("logical_date_gte" = Option<String>, Query, format = DateTime, description = "The same as `execution_date_gte`."),
        ("logical_date_lte" = Option<String>, Query, format = DateTime, description = "The same as `execution_date_lte`."),
    ),
    responses(
        (status = 200, description = "Success.", body = DagRunCollection),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn list_runs(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: DagsPath,
    q: QueryParams,
) -> Result<Json<DagRunCollection>, ApiError> {
    q.reject(&[
        "start_date_gte",
        "start_date_lte",
        "end_date_gte",
        "end_date_lte",
        "updated_at_gte",
        "updated_at_lte",
        "fields",
    ])?;
    let page = Pagination::from_query(&q, &state.config)?;
    let (order_by, descending) = match order_by(&q) {
        None => (DagRunOrder::LogicalDate, false),
        Some((field, desc)) => match ORDERS.iter().find(|(name, _)| *name == field) {
            Some((_, order)) => (*order, desc),
            None => {
                let names: Vec<&str> = ORDERS.iter().map(|(n, _)| *n).collect();
                return Err(bad_order_by(field, &names));
            }
        },
    };
    let states = q
        .all("state")
        .into_iter()
        .map(|s| {
            s.parse::<DagRunState>().map_err(|_| {
                ApiError::bad_request(format!(
                    "unknown DAG run state `{s}`; use queued, running, success or failed"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dag_id = match path.dags {
        DagSelector::All => None,
        DagSelector::One(dag_id) => {
            load_dag(&state, &dag_id).await?;
            Some(dag_id)
        }
    };
    let filter = DagRunFilter {
        dag_id,
        states,
        logical_date_gte: q
            .datetime("execution_date_gte")?
            .or(q.datetime("logical_date_gte")?),
        logical_date_lte: q
            .datetime("execution_date_lte")?
            .or(q.datetime("logical_date_lte")?),
        order_by,
        descending,
        limit: page.limit,
        offset: page.offset,
    };
    let found = state.store().list_dag_runs(&filter).await?;
    let runs = found.items.into_iter().map(json::dag_run).collect();
    Ok(Json(DagRunCollection {
        dag_runs: Visibility::new(&state, &auth).runs(runs).await?,
        total_entries: found.total_entries,
    }))
}

/// Trigger a new DAG run.
///
/// 200 with the run, 404 for an unknown DAG, 409 for a run id or logical date the DAG
/// already has a run for.
#[utoipa::path(
    post,
    path = "/dags/{dag_id}/dagRuns",
    operation_id = "post_dag_run",
    tag = "DAGRun",
    params(DagPath),
    request_body = TriggerDagRun,
    responses(
        (status = 200, description = "Success.", body = DagRun),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = AlreadyExists),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn trigger(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: DagPath,
    ApiJson(body): ApiJson<TriggerDagRun>,
) -> Result<Json<DagRun>, ApiError> {
    let dag_id = path.dag_id;
    if state.store().get_dag(&dag_id).await?.is_none() {
        return Err(ApiError::not_found(
            "DAG not found",
            format!("DAG with dag_id: '{dag_id}' not found"),
        ));
    }
    let run_id = body
        .dag_run_id
        .as_deref()
        .map(|s| {
            RunId::new(s)
                .map_err(|e| ApiError::bad_request(format!("invalid `dag_run_id` `{s}`: {e}")))
        })
        .transpose()?;
    let logical_date = match (body.logical_date, body.execution_date) {
        (Some(l), Some(e)) if l != e => {
            return Err(ApiError::bad_request(
                "`logical_date` and `execution_date` differ; give only `logical_date`",
            ));
        }
        (l, e) => l.or(e).map(|d| d.0),
    };
    if body.data_interval_start.is_some() || body.data_interval_end.is_some() {
        return Err(ApiError::bad_request(
            "`data_interval_start`/`data_interval_end` cannot be set: Weir derives a run's data \
             interval from the DAG's schedule",
        ));
    }
    let note = body.note.filter(|n| !n.is_empty());
    if note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(ApiError::bad_request(format!(
            "`note` is longer than {MAX_NOTE_CHARS} characters"
        )));
    }
    let run = state
        .engine
        .trigger_dag(
            &dag_id,
            TriggerRequest {
                run_id,
                logical_date,
                conf: body.conf.map(serde_json::Value::Object),
            },
        )
        .await?;
    // Written just after the run is made (the engine plans runs, the API keeps notes).
    let run = match note {
        Some(note) => {
            state
                .store()
                .set_dag_run_note(&run.dag_id, &run.run_id, Some(&note))
                .await?;
            weir_store::DagRunRecord {
                note: Some(note),
                ..run
            }
        }
        None => run,
    };
    Ok(Json(
        Visibility::new(&state, &auth)
            .run(json::dag_run(run))
            .await?,
    ))
}

/// The longest note a run keeps (Airflow's limit).
const MAX_NOTE_CHARS: usize = 1000;

/// Get a DAG run.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}",
    operation_id = "get_dag_run",
    tag = "DAGRun",
    params(RunPath),
    responses(
        (status = 200, description = "Success.", body = DagRun),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_run(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: RunPath,
) -> Result<Json<DagRun>, ApiError> {
    let run = load_run(&state, &path.dag_id, &path.run_id).await?;
    let version = state
        .store()
        .get_governed_version(&run.dag_id, &run.version_hash)
        .await?;
    let mut shown = json::dag_run(run);
    shown.dag_version = version.map(json::run_version);
    Ok(Json(Visibility::new(&state, &auth).run(shown).await?))
}

/// Set a DAG run's state.
///
/// `success` or `failed` also finishes its unfinished task instances; `queued` runs it
/// again from the start.
#[utoipa::path(
    patch,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}",
    operation_id = "update_dag_run_state",
    tag = "DAGRun",
    params(RunPath),
    request_body = UpdateDagRunState,
    responses(
        (status = 200, description = "Success.", body = DagRun),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn set_state(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: RunPath,
    ApiJson(body): ApiJson<UpdateDagRunState>,
) -> Result<Json<DagRun>, ApiError> {
    if !matches!(
        body.state,
        DagRunState::Success | DagRunState::Failed | DagRunState::Queued
    ) {
        return Err(ApiError::bad_request(format!(
            "a DAG run's state can be set to `success`, `failed` or `queued`, not `{}`",
            body.state
        )));
    }
    load_run(&state, &path.dag_id, &path.run_id).await?;
    let run = state
        .engine
        .set_dag_run_state(&path.dag_id, &path.run_id, body.state)
        .await?;
    Ok(Json(
        Visibility::new(&state, &auth)
            .run(json::dag_run(run))
            .await?,
    ))
}

/// Delete a DAG run.
///
/// A finished run goes with its task instances; an unfinished one is a 409 (mark it
/// first), so no try is left running for a run that no longer exists.
#[utoipa::path(
    delete,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}",
    operation_id = "delete_dag_run",
    tag = "DAGRun",
    params(RunPath),
    responses(
        (status = 204, description = "Success."),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = AlreadyExists),
    )
)]
async fn delete_run(State(state): State<AppState>, path: RunPath) -> Result<StatusCode, ApiError> {
    let run = load_run(&state, &path.dag_id, &path.run_id).await?;
    if !run.state.is_finished() {
        return Err(ApiError::Conflict {
            detail: format!(
                "DAG run '{}' of DAG '{}' is still {}; set its state to success or failed \
                 first, then delete it",
                run.run_id, run.dag_id, run.state
            ),
        });
    }
    if !state
        .store()
        .delete_dag_run(&path.dag_id, &path.run_id)
        .await?
    {
        return Err(ApiError::dag_run_not_found(&path.dag_id, &path.run_id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Clear a DAG run.
///
/// Clears every task instance of the run so the run goes again. As in Airflow, `dry_run`
/// defaults to true: it answers with the task instances that would be cleared; otherwise
/// with the run, once cleared.
#[utoipa::path(
    post,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}/clear",
    operation_id = "clear_dag_run",
    tag = "DAGRun",
    params(RunPath),
    request_body = ClearDagRun,
    responses(
        (status = 200, description = "Success.", body = inline(ClearDagRunResponse)),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn clear_run(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: RunPath,
    ApiJson(body): ApiJson<ClearDagRun>,
) -> Result<Json<ClearDagRunResponse>, ApiError> {
    let run = load_run(&state, &path.dag_id, &path.run_id).await?;
    let cleared = state
        .engine
        .clear_task_instances(
            &path.dag_id,
            ClearRequest {
                run_id: Some(path.run_id.clone()),
                task_ids: None,
                start_date: None,
                end_date: None,
                only_failed: false,
                include_downstream: false,
                dry_run: body.dry_run,
                run_on_latest_version: body.run_on_latest_version,
            },
        )
        .await?;
    let mut visibility = Visibility::new(&state, &auth);
    if body.dry_run {
        let spec = spec_of(&state, &path.dag_id).await;
        let total = i64::try_from(cleared.len()).unwrap_or(i64::MAX);
        let task_instances = to_json(cleared, &run, spec.as_deref());
        return Ok(Json(ClearDagRunResponse::TaskInstances(
            TaskInstanceCollection {
                task_instances: visibility.task_instances(task_instances).await?,
                total_entries: total,
            },
        )));
    }
    let run = load_run(&state, &path.dag_id, &path.run_id).await?;
    let run = visibility.run(json::dag_run(run)).await?;
    Ok(Json(ClearDagRunResponse::Run(Box::new(run))))
}
