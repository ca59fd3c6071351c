//! Task instances: `GET .../dagRuns/{dag_run_id}/taskInstances[/{task_id}[/{map_index}]]`,
//! `PATCH .../taskInstances/{task_id}` (set one instance's state) and
//! `POST /dags/{dag_id}/clearTaskInstances`.

use axum::extract::State;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::ids::{DagId, MapIndex, RunId, TaskId, UNMAPPED};
use weir_core::spec::DagSpec;
use weir_core::state::TaskState;
use weir_engine::ClearRequest;
use weir_store::{DagRunRecord, TaskInstanceKey, TaskInstanceRecord};

use super::{RunDates, load_dag, load_run, spec_of};
use crate::AppState;
use crate::auth::Authorized;
use crate::auth::visibility::Visibility;
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams, path_params};
use crate::json::batch::{UpdateTaskInstance, UpdateTaskState};
use crate::json::{
    self, ClearTaskInstances, TaskInstance, TaskInstanceCollection, TaskInstanceReference,
    TaskInstanceReferenceCollection, TaskKind,
};
use crate::openapi::{BadRequest, NotFound, ServiceUnavailable};
use crate::pagination::Pagination;

path_params!(DagPath {
    dag_id: DagId = "dag_id"
});
path_params!(RunPath {
    dag_id: DagId = "dag_id",
    run_id: RunId = "dag_run_id"
});
path_params!(TiPath {
    dag_id: DagId = "dag_id",
    run_id: RunId = "dag_run_id",
    task_id: TaskId = "task_id",
});
path_params!(MappedTiPath {
    dag_id: DagId = "dag_id",
    run_id: RunId = "dag_run_id",
    task_id: TaskId = "task_id",
    map_index: MapIndex = "map_index",
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_task_instances))
        .routes(routes!(get_task_instance, patch_task_instance))
        .routes(routes!(get_mapped_task_instance))
        .routes(routes!(clear))
}

/// The kind of `task_id` in the DAG's current spec (Airflow's `operator`).
fn operator(spec: Option<&DagSpec>, task_id: &TaskId) -> Option<TaskKind> {
    spec?
        .tasks
        .get(task_id.as_str())
        .map(|t| TaskKind::from(&t.kind))
}

/// The JSON of task instances of one run.
pub(crate) fn to_json(
    tis: Vec<TaskInstanceRecord>,
    run: &DagRunRecord,
    spec: Option<&DagSpec>,
) -> Vec<TaskInstance> {
    tis.into_iter()
        .map(|ti| {
            let op = operator(spec, &ti.key.task_id);
            json::task_instance(ti, run.logical_date, op)
        })
        .collect()
}

/// List the task instances of a DAG run.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
    operation_id = "get_task_instances",
    tag = "TaskInstance",
    params(
        RunPath,
        Pagination,
        ("state" = Option<Vec<String>>, Query, description = "Only task instances in these states (`none` or `null`: no status yet)."),
    ),
    responses(
        (status = 200, description = "Success.", body = TaskInstanceCollection),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn list_task_instances(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: RunPath,
    q: QueryParams,
) -> Result<Json<TaskInstanceCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let states = q
        .all("state")
        .into_iter()
        .map(|s| match s {
            "null" | "none" => Ok(TaskState::None),
            s => s.parse::<TaskState>().map_err(|_| {
                ApiError::bad_request(format!(
                    "unknown task state `{s}`; use one of: none, {}",
                    TaskState::ALL[1..]
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let run = load_run(&state, &path.dag_id, &path.run_id).await?;
    let mut tis = state
        .store()
        .list_task_instances(&path.dag_id, &path.run_id)
        .await?;
    if !states.is_empty() {
        tis.retain(|t| states.contains(&t.state));
    }
    let total = i64::try_from(tis.len()).unwrap_or(i64::MAX);
    let spec = spec_of(&state, &path.dag_id).await;
    let task_instances = to_json(page.slice(tis), &run, spec.as_deref());
    Ok(Json(TaskInstanceCollection {
        task_instances: Visibility::new(&state, &auth)
            .task_instances(task_instances)
            .await?,
        total_entries: total,
    }))
}

/// Loads one task instance, or a 404 that says when the task is mapped and the map index
/// is missing from the URL.
pub(crate) async fn load_task_instance(
    state: &AppState,
    key: &TaskInstanceKey,
) -> Result<(TaskInstanceRecord, DagRunRecord), ApiError> {
    let run = load_run(state, &key.dag_id, &key.run_id).await?;
    if let Some(ti) = state.store().get_task_instance(key).await? {
        return Ok((ti, run));
    }
    let mapped = key.map_index == UNMAPPED
        && state
            .engine
            .map_indexes(&key.dag_id, &key.run_id, &key.task_id)
            .await?
            .iter()
            .any(|i| *i != UNMAPPED);
    let detail = if mapped {
        format!(
            "Task instance is mapped, add the map_index value to the URL: {}/{}/{}",
            key.run_id, key.task_id, "{map_index}"
        )
    } else {
        format!("Task instance {key} not found")
    };
    Err(ApiError::not_found("Task instance not found", detail))
}

/// Get a task instance.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
    operation_id = "get_task_instance",
    tag = "TaskInstance",
    params(TiPath),
    responses(
        (status = 200, description = "Success.", body = TaskInstance),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_task_instance(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: TiPath,
) -> Result<Json<TaskInstance>, ApiError> {
    one(
        &state,
        &auth,
        path.dag_id,
        path.run_id,
        path.task_id,
        UNMAPPED,
    )
    .await
}

/// Get a mapped task instance.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}",
    operation_id = "get_mapped_task_instance",
    tag = "TaskInstance",
    params(MappedTiPath),
    responses(
        (status = 200, description = "Success.", body = TaskInstance),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_mapped_task_instance(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: MappedTiPath,
) -> Result<Json<TaskInstance>, ApiError> {
    one(
        &state,
        &auth,
        path.dag_id,
        path.run_id,
        path.task_id,
        path.map_index,
    )
    .await
}

async fn one(
    state: &AppState,
    auth: &Authorized,
    dag_id: DagId,
    run_id: RunId,
    task_id: TaskId,
    map_index: MapIndex,
) -> Result<Json<TaskInstance>, ApiError> {
    let key = TaskInstanceKey {
        dag_id,
        run_id,
        task_id,
        map_index,
    };
    let (ti, run) = load_task_instance(state, &key).await?;
    let spec = spec_of(state, &key.dag_id).await;
    let op = operator(spec.as_deref(), &key.task_id);
    let ti = json::task_instance(ti, run.logical_date, op);
    Ok(Json(Visibility::new(state, auth).task_instance(ti).await?))
}

/// Update the state of a task instance.
///
/// `success` or `failed` (a running try is cancelled). As in Airflow, `dry_run` defaults
/// to true: without `"dry_run": false` nothing changes and the instance that would be
/// set is returned.
#[utoipa::path(
    patch,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
    operation_id = "patch_task_instance",
    tag = "TaskInstance",
    params(TiPath),
    request_body = UpdateTaskInstance,
    responses(
        (status = 200, description = "Success.", body = TaskInstanceReference),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn patch_task_instance(
    State(state): State<AppState>,
    path: TiPath,
    ApiJson(body): ApiJson<UpdateTaskInstance>,
) -> Result<Json<TaskInstanceReference>, ApiError> {
    let key = TaskInstanceKey {
        dag_id: path.dag_id,
        run_id: path.run_id,
        task_id: path.task_id,
        map_index: UNMAPPED,
    };
    set_state(&state, key, body).await
}

/// Airflow's `SetSingleTaskInstanceState`: checks the DAG, the task and the instance,
/// then (unless `dry_run`) sets the state through the engine.
async fn set_state(
    state: &AppState,
    key: TaskInstanceKey,
    body: UpdateTaskInstance,
) -> Result<Json<TaskInstanceReference>, ApiError> {
    let new_state = match body.new_state {
        UpdateTaskState::Success => TaskState::Success,
        UpdateTaskState::Failed => TaskState::Failed,
        UpdateTaskState::Skipped => {
            return Err(ApiError::bad_request(
                "Weir can set a task instance to `success` or `failed`; `skipped` is not \
                 supported yet",
            ));
        }
    };
    load_dag(state, &key.dag_id).await?;
    if let Some(spec) = spec_of(state, &key.dag_id).await
        && !spec.tasks.contains_key(key.task_id.as_str())
    {
        return Err(ApiError::not_found(
            "Task not found",
            format!("Task '{}' not found in DAG '{}'", key.task_id, key.dag_id),
        ));
    }
    let (mut ti, run) = load_task_instance(state, &key).await?;
    if !body.dry_run {
        ti = state
            .engine
            .set_task_instance_state(&key, new_state)
            .await?;
    }
    Ok(Json(TaskInstanceReference {
        task_id: ti.key.task_id.to_string(),
        dag_id: ti.key.dag_id.to_string(),
        execution_date: run.logical_date,
        dag_run_id: ti.key.run_id.to_string(),
        map_index: ti.key.map_index,
    }))
}

/// Clear task instances so they run again.
///
/// As in Airflow, `dry_run` and `only_failed` default to true: an empty body lists the
/// failed instances that would be cleared.
#[utoipa::path(
    post,
    path = "/dags/{dag_id}/clearTaskInstances",
    operation_id = "post_clear_task_instances",
    tag = "DAG",
    params(DagPath),
    request_body = ClearTaskInstances,
    responses(
        (status = 200, description = "Success.", body = TaskInstanceReferenceCollection),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn clear(
    State(state): State<AppState>,
    path: DagPath,
    ApiJson(body): ApiJson<ClearTaskInstances>,
) -> Result<Json<TaskInstanceReferenceCollection>, ApiError> {
    let unsupported = [
        ("include_upstream", body.include_upstream),
        ("include_future", body.include_future),
        ("include_past", body.include_past),
        ("only_running", body.only_running),
    ];
    if let Some((name, _)) = unsupported.iter().find(|(_, on)| *on) {
        return Err(ApiError::bad_request(format!(
            "`{name}` is not supported by Weir; leave it out or set it to false"
        )));
    }
    if body.dag_run_id.is_some() && (body.start_date.is_some() || body.end_date.is_some()) {
        return Err(ApiError::bad_request(
            "Exactly one of dag_run_id or (start_date and end_date) must be provided",
        ));
    }
    if let (Some(s), Some(e)) = (body.start_date, body.end_date)
        && e.0 < s.0
    {
        return Err(ApiError::bad_request("end_date is sooner than start_date"));
    }
    let task_ids = body
        .task_ids
        .map(|ids| {
            if ids.is_empty() {
                return Err(ApiError::bad_request(
                    "`task_ids` may not be empty; leave it out to clear every task",
                ));
            }
            ids.iter()
                .map(|s| {
                    TaskId::new(s.as_str()).map_err(|e| {
                        ApiError::bad_request(format!("invalid task id `{s}` in `task_ids`: {e}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let run_id = body
        .dag_run_id
        .as_deref()
        .map(|s| {
            RunId::new(s)
                .map_err(|e| ApiError::bad_request(format!("invalid `dag_run_id` `{s}`: {e}")))
        })
        .transpose()?;
    load_dag(&state, &path.dag_id).await?;
    let mut dates = RunDates::default();
    if let Some(run_id) = &run_id {
        let run = load_run(&state, &path.dag_id, run_id).await?;
        dates = RunDates::with(&run);
    }
    let cleared = state
        .engine
        .clear_task_instances(
            &path.dag_id,
            ClearRequest {
                run_id,
                task_ids,
                start_date: body.start_date.map(|d| d.0),
                end_date: body.end_date.map(|d| d.0),
                only_failed: body.only_failed,
                include_downstream: body.include_downstream,
                dry_run: body.dry_run,
                run_on_latest_version: body.run_on_latest_version,
            },
        )
        .await?;
    let mut refs = Vec::with_capacity(cleared.len());
    for ti in cleared {
        let k = ti.key;
        let execution_date = dates.get(&state, &k.dag_id, &k.run_id).await?;
        refs.push(TaskInstanceReference {
            task_id: k.task_id.to_string(),
            dag_id: k.dag_id.to_string(),
            execution_date,
            dag_run_id: k.run_id.to_string(),
            map_index: k.map_index,
        });
    }
    Ok(Json(TaskInstanceReferenceCollection {
        task_instances: refs,
    }))
}
