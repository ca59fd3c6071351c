//! The tries of a task instance (Weir's own resource): `GET …/taskInstances/{task_id}/tries`
//! with `?map_index=`, each try's host, backend, exit code and reason, usage and cost,
//! and the names (never the values) of the environment variables the task declares.
//! The reason, like a run's conf, only to those who may read the DAG's logs
//! ([`Visibility`]).

use axum::extract::State;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::ids::{DagId, MapIndex, RunId, TaskId, UNMAPPED};
use weir_core::spec::DagSpec;
use weir_core::spec::model::TaskKind;
use weir_store::TaskInstanceKey;

use super::{load_run, spec_of};
use crate::AppState;
use crate::auth::Authorized;
use crate::auth::visibility::Visibility;
use crate::error::ApiError;
use crate::extract::{QueryParams, path_params};
use crate::json::{TaskTry, TaskTryCollection};
use crate::openapi::{BadRequest, NotFound};

path_params!(TiPath {
    dag_id: DagId = "dag_id",
    run_id: RunId = "dag_run_id",
    task_id: TaskId = "task_id",
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tries))
}

/// List the tries of a task instance.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries",
    operation_id = "get_task_instance_tries",
    tag = "TaskInstance",
    params(
        TiPath,
        ("map_index" = Option<i32>, Query, description = "The map index of a mapped instance (default -1)."),
    ),
    responses(
        (status = 200, description = "Success.", body = TaskTryCollection),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn list_tries(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: TiPath,
    q: QueryParams,
) -> Result<Json<TaskTryCollection>, ApiError> {
    let map_index = match q.i64("map_index")? {
        None => UNMAPPED,
        Some(i) => MapIndex::try_from(i)
            .map_err(|_| ApiError::bad_request(format!("map_index {i} is out of range")))?,
    };
    load_run(&state, &path.dag_id, &path.run_id).await?;
    let key = TaskInstanceKey {
        dag_id: path.dag_id.clone(),
        run_id: path.run_id.clone(),
        task_id: path.task_id.clone(),
        map_index,
    };
    if state.store().get_task_instance(&key).await?.is_none() {
        return Err(ApiError::not_found(
            "Task instance not found",
            format!(
                "run `{}` of `{}` has no task instance `{}` (map index {map_index})",
                path.run_id, path.dag_id, path.task_id
            ),
        ));
    }
    // A try's reason can quote what the task met (a database's error, a URL): like the
    // rendered command, it is shown to those who may read the DAG's logs.
    let reasons_shown = Visibility::new(&state, &auth)
        .shows(path.dag_id.as_str())
        .await?;
    let mut tries = Vec::new();
    for t in state.store().list_tries(&key).await? {
        let usage = state.store().get_usage(&t.key).await?;
        tries.push(TaskTry {
            try_number: t.key.try_number,
            state: t.state,
            start_date: t.started_at,
            end_date: t.finished_at,
            hostname: t.hostname,
            executor: t.executor,
            exit_code: t.exit_code,
            reason: t.reason.filter(|_| reasons_shown),
            cpu_seconds: t.cpu_seconds,
            peak_memory_bytes: t.peak_rss_bytes,
            cost: usage.map(|u| u.record.cost()),
        });
    }
    let (env_names, secret_env_names) = spec_of(&state, &path.dag_id)
        .await
        .map(|spec| env_names(&spec, &path.task_id))
        .unwrap_or_default();
    Ok(Json(TaskTryCollection {
        total_entries: i64::try_from(tries.len()).unwrap_or(i64::MAX),
        tries,
        env_names,
        secret_env_names,
    }))
}

/// The names of the variables a task declares (the DAG's defaults, the task's own, a
/// container's), and those of them that hold secrets or connections.
fn env_names(spec: &DagSpec, task_id: &TaskId) -> (Vec<String>, Vec<String>) {
    let Some(task) = spec.tasks.get(task_id) else {
        return (Vec::new(), Vec::new());
    };
    let mut plain: Vec<String> = spec.defaults.env.keys().cloned().collect();
    plain.extend(task.env.keys().cloned());
    let mut secret: Vec<String> = task.secrets.keys().cloned().collect();
    if let TaskKind::Container(c) = &task.kind {
        plain.extend(c.env.keys().cloned());
        secret.extend(c.secrets.keys().cloned());
    }
    secret.extend(
        task.connections
            .iter()
            .map(|c| weir_core::secrets::connection_env_name(c)),
    );
    let mut all = plain;
    all.extend(secret.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    all.retain(|n| seen.insert(n.clone()));
    (all, secret)
}
