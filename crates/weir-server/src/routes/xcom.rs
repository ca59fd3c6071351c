//! XComs: `GET .../taskInstances/{task_id}/xcomEntries[/{xcom_key}]`, with `?map_index=`
//! for mapped instances.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::ids::{DagId, MapIndex, RunId, TaskId, UNMAPPED};
use weir_store::TaskInstanceKey;

use super::load_run;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{QueryParams, path_params};
use crate::json::{self, XCom, XComCollection};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::Pagination;

path_params!(TiPath {
    dag_id: DagId = "dag_id",
    run_id: RunId = "dag_run_id",
    task_id: TaskId = "task_id",
});
path_params!(XComPath {
    dag_id: DagId = "dag_id",
    run_id: RunId = "dag_run_id",
    task_id: TaskId = "task_id",
    key: String = "xcom_key",
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_xcoms))
        .routes(routes!(get_xcom))
}

fn map_index(q: &QueryParams) -> Result<Option<MapIndex>, ApiError> {
    q.i64("map_index")?
        .map(|i| {
            MapIndex::try_from(i)
                .map_err(|_| ApiError::bad_request(format!("map_index {i} is out of range")))
        })
        .transpose()
}

/// List the XCom entries of a task instance.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries",
    operation_id = "get_xcom_entries",
    tag = "XCom",
    params(
        TiPath,
        Pagination,
        ("map_index" = Option<i32>, Query, description = "Only the entries of this map index."),
    ),
    responses(
        (status = 200, description = "Success.", body = XComCollection),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn list_xcoms(
    State(state): State<AppState>,
    path: TiPath,
    q: QueryParams,
) -> Result<Json<XComCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let only = map_index(&q)?;
    let run = load_run(&state, &path.dag_id, &path.run_id).await?;
    let mut xcoms = state
        .store()
        .list_xcoms(&path.dag_id, &path.run_id, Some(&path.task_id))
        .await?;
    if let Some(i) = only {
        xcoms.retain(|x| x.key.map_index == i);
    }
    let total = i64::try_from(xcoms.len()).unwrap_or(i64::MAX);
    Ok(Json(XComCollection {
        xcom_entries: page
            .slice(xcoms)
            .iter()
            .map(|x| json::xcom_entry(x, run.logical_date))
            .collect(),
        total_entries: total,
    }))
}

/// Get an XCom entry, with its value.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}",
    operation_id = "get_xcom_entry",
    tag = "XCom",
    params(
        XComPath,
        ("map_index" = Option<i32>, Query, description = "The map index of a mapped task instance."),
    ),
    responses(
        (status = 200, description = "Success.", body = XCom),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_xcom(
    State(state): State<AppState>,
    path: XComPath,
    q: QueryParams,
) -> Result<Json<XCom>, ApiError> {
    let run = load_run(&state, &path.dag_id, &path.run_id).await?;
    let key = TaskInstanceKey {
        dag_id: path.dag_id,
        run_id: path.run_id,
        task_id: path.task_id,
        map_index: map_index(&q)?.unwrap_or(UNMAPPED),
    };
    let x = state
        .store()
        .get_xcom(&key, &path.key)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "XCom entry not found",
                format!("XCom entry `{}` of task instance {key} not found", path.key),
            )
        })?;
    Ok(Json(XCom {
        entry: json::xcom_entry(&x, run.logical_date),
        value: x.value,
    }))
}
