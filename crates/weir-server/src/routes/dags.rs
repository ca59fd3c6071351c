//! DAGs: `GET /dags`, `GET|PATCH /dags/{dag_id}`, `GET /dags/{dag_id}/details`,
//! `GET /dags/{dag_id}/tasks[/{task_id}]`; `DELETE /dags/{dag_id}` and
//! `GET /dagSources/{file_token}` are in [`super::dag_sources`].

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use serde_json::Value;
use weir_core::ids::{DagId, TaskId};
use weir_store::{DagFilter, DagRecord};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{load_dag, spec_of_record};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams, from_value, path_params};
use crate::json::{self, Dag, DagCollection, DagDetail, PatchDag, Task, TaskCollection};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::{Pagination, bad_order_by, order_by};

path_params!(DagPath {
    dag_id: DagId = "dag_id"
});
path_params!(TaskPath {
    dag_id: DagId = "dag_id",
    task_id: TaskId = "task_id"
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_dags))
        .routes(routes!(get_dag, patch_dag, super::dag_sources::delete_dag))
        .routes(routes!(super::dag_sources::get_dag_source))
        .routes(routes!(get_dag_details))
        .routes(routes!(list_tasks))
        .routes(routes!(get_task))
}

/// How many DAGs one store query fetches when filtering in memory.
const SCAN_PAGE: i64 = 1000;

/// List DAGs.
#[utoipa::path(
    get,
    path = "/dags",
    operation_id = "get_dags",
    tag = "DAG",
    params(
        Pagination,
        ("order_by" = Option<String>, Query, description = "`dag_id` or `-dag_id`."),
        ("tags" = Option<Vec<String>>, Query, description = "Only DAGs with any of these tags."),
        ("only_active" = Option<bool>, Query, description = "Only active DAGs (default true)."),
        ("paused" = Option<bool>, Query, description = "Only paused (true) or unpaused (false) DAGs."),
        ("dag_id_pattern" = Option<String>, Query, description = "Only DAGs whose id contains this (case-insensitive)."),
    ),
    responses(
        (status = 200, description = "Success.", body = DagCollection),
        (status = 400, response = BadRequest),
    )
)]
async fn list_dags(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<DagCollection>, ApiError> {
    q.reject(&["fields"])?;
    let page = Pagination::from_query(&q, &state.config)?;
    let descending = match order_by(&q) {
        None => false,
        Some(("dag_id", desc)) => desc,
        Some((field, _)) => return Err(bad_order_by(field, &["dag_id"])),
    };
    let tags: HashSet<&str> = q.all("tags").into_iter().collect();
    let pattern = q.str("dag_id_pattern").map(str::to_lowercase);
    let filter = DagFilter {
        only_active: q.bool("only_active")?.unwrap_or(true),
        paused: q.bool("paused")?,
        team: None,
        limit: page.limit,
        offset: page.offset,
    };
    let (records, total) = if tags.is_empty() && pattern.is_none() && !descending {
        let found = state.store().list_dags(&filter).await?;
        (found.items, found.total_entries)
    } else {
        let mut all = Vec::new();
        loop {
            let scan = DagFilter {
                limit: SCAN_PAGE,
                offset: i64::try_from(all.len()).unwrap_or(i64::MAX),
                ..filter.clone()
            };
            let found = state.store().list_dags(&scan).await?;
            let done = found.items.len() < usize::try_from(SCAN_PAGE).unwrap_or(usize::MAX);
            all.extend(found.items);
            if done {
                break;
            }
        }
        all.retain(|d: &DagRecord| {
            (tags.is_empty() || d.tags.iter().any(|t| tags.contains(t.as_str())))
                && pattern
                    .as_deref()
                    .is_none_or(|p| d.dag_id.as_str().to_lowercase().contains(p))
        });
        if descending {
            all.reverse();
        }
        let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
        (page.slice(all), total)
    };
    let broken = broken_files(&state).await?;
    let mut dags = Vec::with_capacity(records.len());
    for record in &records {
        let spec = spec_of_record(&state, record).await;
        dags.push(json::dag(
            record,
            spec.as_deref(),
            broken.contains(&record.file_path),
        ));
    }
    Ok(Json(DagCollection {
        dags,
        total_entries: total,
    }))
}

/// The files that currently have import errors.
async fn broken_files(state: &AppState) -> Result<HashSet<String>, ApiError> {
    let mut files = HashSet::new();
    let mut offset = 0;
    loop {
        let page = state.store().list_import_errors(SCAN_PAGE, offset).await?;
        let n = i64::try_from(page.items.len()).unwrap_or(i64::MAX);
        files.extend(page.items.into_iter().map(|e| e.filename));
        offset += n;
        if n < SCAN_PAGE {
            return Ok(files);
        }
    }
}

/// Get basic information about a DAG.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}",
    operation_id = "get_dag",
    tag = "DAG",
    params(DagPath),
    responses(
        (status = 200, description = "Success.", body = Dag),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_dag(State(state): State<AppState>, path: DagPath) -> Result<Json<Dag>, ApiError> {
    let record = load_dag(&state, &path.dag_id).await?;
    let spec = spec_of_record(&state, &record).await;
    let broken = broken_files(&state).await?.contains(&record.file_path);
    Ok(Json(json::dag(&record, spec.as_deref(), broken)))
}

/// Get a simplified representation of a DAG, with its settings.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/details",
    operation_id = "get_dag_details",
    tag = "DAG",
    params(DagPath),
    responses(
        (status = 200, description = "Success.", body = DagDetail),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_dag_details(
    State(state): State<AppState>,
    path: DagPath,
) -> Result<Json<DagDetail>, ApiError> {
    let record = load_dag(&state, &path.dag_id).await?;
    let spec = state.engine.dag_spec(&path.dag_id).await?;
    let broken = broken_files(&state).await?.contains(&record.file_path);
    Ok(Json(json::dag_detail(&record, &spec, broken)))
}

/// Pause or unpause a DAG: `{"is_paused": true}`.
///
/// With `update_mask=is_paused` the other fields of the body are ignored, so a DAG read with
/// GET can be sent back changed; without it the body holds `is_paused` only.
#[utoipa::path(
    patch,
    path = "/dags/{dag_id}",
    operation_id = "patch_dag",
    tag = "DAG",
    params(
        DagPath,
        ("update_mask" = Option<Vec<String>>, Query, description = "The fields to update: only `is_paused` can be."),
    ),
    request_body = PatchDag,
    responses(
        (status = 200, description = "Success.", body = Dag),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn patch_dag(
    State(state): State<AppState>,
    path: DagPath,
    q: QueryParams,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Dag>, ApiError> {
    let mask = q.all("update_mask");
    let is_paused = if mask.is_empty() {
        let patch: PatchDag = from_value(body)?;
        patch.is_paused
    } else if mask == ["is_paused"] {
        match body.get("is_paused") {
            Some(Value::Bool(b)) => *b,
            _ => {
                return Err(ApiError::bad_request(
                    "`is_paused` must be given as true or false",
                ));
            }
        }
    } else {
        return Err(ApiError::bad_request(
            "Only `is_paused` field can be updated through the REST API",
        ));
    };
    load_dag(&state, &path.dag_id).await?;
    let record = state.engine.set_paused(&path.dag_id, is_paused).await?;
    let spec = spec_of_record(&state, &record).await;
    let broken = broken_files(&state).await?.contains(&record.file_path);
    Ok(Json(json::dag(&record, spec.as_deref(), broken)))
}

/// Get the tasks of a DAG.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/tasks",
    operation_id = "get_tasks",
    tag = "DAG",
    params(DagPath),
    responses(
        (status = 200, description = "Success.", body = TaskCollection),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn list_tasks(
    State(state): State<AppState>,
    path: DagPath,
) -> Result<Json<TaskCollection>, ApiError> {
    load_dag(&state, &path.dag_id).await?;
    let spec = state.engine.dag_spec(&path.dag_id).await?;
    let tasks: Vec<Task> = spec
        .tasks
        .iter()
        .map(|(id, task)| json::task(&spec, id, task))
        .collect();
    Ok(Json(TaskCollection {
        total_entries: i64::try_from(tasks.len()).unwrap_or(i64::MAX),
        tasks,
    }))
}

/// Get a task of a DAG.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/tasks/{task_id}",
    operation_id = "get_task",
    tag = "DAG",
    params(TaskPath),
    responses(
        (status = 200, description = "Success.", body = Task),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_task(State(state): State<AppState>, path: TaskPath) -> Result<Json<Task>, ApiError> {
    load_dag(&state, &path.dag_id).await?;
    let spec = state.engine.dag_spec(&path.dag_id).await?;
    let task = spec.tasks.get(path.task_id.as_str()).ok_or_else(|| {
        ApiError::not_found(
            "Task not found",
            format!(
                "Task with id {} not found in DAG {}",
                path.task_id, path.dag_id
            ),
        )
    })?;
    Ok(Json(json::task(&spec, path.task_id.as_str(), task)))
}
