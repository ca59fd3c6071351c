//! Datasets: `GET /datasets`, `GET /datasets/events` and `POST /datasets/events` in
//! Airflow 2.9's shapes; `GET /lineage` (Weir's own).
//!
//! Reading is open to anyone signed in: teams on one platform see and build on each
//! other's data. Posting an event is producing the dataset, so it is authorized per team:
//! an operator (or service token) of the team that owns the URI's prefix (`[[teams]]
//! datasets`), or — for a URI no team owns — of a team whose DAGs have an outlet that
//! produces it, or of any team when `[datasets] open = true`. A URI under another team's
//! prefix is that team's alone, open or not. Platform admins may post any event.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::access::TeamRole;
use weir_core::dataset::lineage::{self, DagDatasets, Root, could_produce, feeds};
use weir_core::dataset::{check_uri, owner, static_prefix};
use weir_store::{DatasetEventFilter, DatasetEventRecord, DatasetRecord, NewDatasetEvent};

use crate::AppState;
use crate::auth::Authorized;
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams};
use crate::json::{
    BasicDagRun, CreateDatasetEvent, DagScheduleDatasetReference, Dataset, DatasetCollection,
    DatasetEvent, DatasetEventCollection, Lineage, TaskOutletDatasetReference,
};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::Pagination;

/// Deepest lineage asked for.
const MAX_DEPTH: u32 = 20;
/// Lineage depth when none is asked for.
const DEFAULT_DEPTH: u32 = 3;
/// Largest `extra` accepted on a posted event.
const MAX_EXTRA_BYTES: usize = 64 * 1024;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_datasets))
        .routes(routes!(list_dataset_events, create_dataset_event))
        .routes(routes!(get_lineage))
}

fn dataset(d: DatasetRecord, decls: &[DagDatasets], state: &AppState) -> Dataset {
    let consuming_dags = decls
        .iter()
        .flat_map(|dag| {
            dag.schedule
                .iter()
                .filter(|p| feeds(&d.uri, p))
                .map(|p| DagScheduleDatasetReference {
                    dag_id: dag.dag_id.clone(),
                    uri: p.clone(),
                })
        })
        .collect();
    let producing_tasks = decls
        .iter()
        .flat_map(|dag| {
            dag.outlets
                .iter()
                .filter(|(_, o)| could_produce(o, &d.uri))
                .map(|(task, o)| TaskOutletDatasetReference {
                    dag_id: dag.dag_id.clone(),
                    task_id: task.clone(),
                    uri: o.clone(),
                })
        })
        .collect();
    Dataset {
        id: d.id,
        owner_team: owner(&d.uri, &state.platform.teams).map(|t| t.name.clone()),
        uri: d.uri,
        extra: None,
        created_at: d.created_at,
        updated_at: d.updated_at,
        consuming_dags,
        producing_tasks,
        events: d.events,
    }
}

/// List datasets.
#[utoipa::path(get, path = "/datasets", operation_id = "get_datasets", tag = "Dataset",
    params(Pagination,
        ("uri_pattern" = Option<String>, Query, description = "Only URIs containing this text.")),
    responses((status = 200, description = "Success.", body = DatasetCollection),
              (status = 400, response = BadRequest)))]
async fn list_datasets(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<DatasetCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let found = state
        .store()
        .list_datasets(q.str("uri_pattern"), page.limit, page.offset)
        .await?;
    let decls = state.engine.dataset_declarations().await?;
    Ok(Json(DatasetCollection {
        datasets: found
            .items
            .into_iter()
            .map(|d| dataset(d, &decls, &state))
            .collect(),
        total_entries: found.total_entries,
    }))
}

async fn event(state: &AppState, e: DatasetEventRecord) -> Result<DatasetEvent, ApiError> {
    let mut created_dagruns = Vec::new();
    for (_, dag_id, run_id) in state.store().runs_triggered_by(&[e.id]).await? {
        let (Ok(dag_id), Ok(run_id)) = (
            weir_core::ids::DagId::new(dag_id),
            weir_core::ids::RunId::new(run_id),
        ) else {
            continue;
        };
        if let Some(run) = state.store().get_dag_run(&dag_id, &run_id).await? {
            created_dagruns.push(BasicDagRun {
                dag_id: run.dag_id.to_string(),
                run_id: run.run_id.to_string(),
                state: run.state.to_string(),
                logical_date: run.logical_date,
                start_date: run.start_date,
                end_date: run.end_date,
                data_interval_start: run.data_interval_start,
                data_interval_end: run.data_interval_end,
            });
        }
    }
    Ok(DatasetEvent {
        id: e.id,
        dataset_id: e.dataset_id,
        dataset_uri: e.uri,
        extra: e.extra,
        source_dag_id: e.source_dag_id,
        source_task_id: e.source_task_id,
        source_run_id: e.source_run_id,
        source_map_index: e.source_map_index.unwrap_or(-1),
        created_dagruns,
        timestamp: e.created_at,
        team: e.team,
        posted_by: e.posted_by,
    })
}

/// List dataset events.
#[utoipa::path(get, path = "/datasets/events", operation_id = "get_dataset_events", tag = "Dataset",
    params(Pagination,
        ("order_by" = Option<String>, Query, description = "`timestamp` or `-timestamp` (default: oldest first, as Airflow)."),
        ("dataset_id" = Option<i64>, Query, description = "Only this dataset's."),
        ("dataset_uri" = Option<String>, Query, description = "Only this URI's (Weir)."),
        ("source_dag_id" = Option<String>, Query),
        ("source_task_id" = Option<String>, Query),
        ("source_run_id" = Option<String>, Query),
        ("source_map_index" = Option<i64>, Query)),
    responses((status = 200, description = "Success.", body = DatasetEventCollection),
              (status = 400, response = BadRequest)))]
async fn list_dataset_events(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<DatasetEventCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let descending = match q.str("order_by") {
        None | Some("timestamp") | Some("id") => false,
        Some("-timestamp") | Some("-id") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "cannot order dataset events by `{other}`: use `timestamp` or `-timestamp`"
            )));
        }
    };
    let filter = DatasetEventFilter {
        dataset_id: q.i64("dataset_id")?,
        uri: q.str("dataset_uri").map(str::to_string),
        source_dag_id: q.str("source_dag_id").map(str::to_string),
        source_run_id: q.str("source_run_id").map(str::to_string),
        source_task_id: q.str("source_task_id").map(str::to_string),
        source_map_index: q.i64("source_map_index")?,
        descending,
    };
    let found = state
        .store()
        .list_dataset_events(&filter, page.limit, page.offset)
        .await?;
    let mut dataset_events = Vec::with_capacity(found.items.len());
    for e in found.items {
        dataset_events.push(event(&state, e).await?);
    }
    Ok(Json(DatasetEventCollection {
        dataset_events,
        total_entries: found.total_entries,
    }))
}

/// The team an event posted by `auth` for `uri` is produced by, or why it may not post.
/// The DAGs' outlets are read only for a URI no team's prefix owns.
async fn producing_team(
    state: &AppState,
    auth: &Authorized,
    uri: &str,
    asked: Option<&str>,
) -> Result<String, ApiError> {
    let operates: BTreeSet<&str> = auth.caller.teams_with(TeamRole::Operator).collect();
    let admin = auth.caller.platform_admin;
    if let Some(asked) = asked
        && !admin
        && !operates.contains(asked)
    {
        return Err(ApiError::PermissionDenied {
            detail: format!("you are no operator of team `{asked}`"),
        });
    }
    if let Some(owner) = owner(uri, &state.platform.teams) {
        let name = owner.name.as_str();
        if asked.is_some_and(|a| a != name) || !(admin || operates.contains(name)) {
            return Err(ApiError::PermissionDenied {
                detail: format!(
                    "dataset `{uri}` is under a prefix team `{name}` owns: only its operators post its events"
                ),
            });
        }
        return Ok(name.to_string());
    }
    let decls = state.engine.dataset_declarations().await?;
    let producers: BTreeSet<&str> = decls
        .iter()
        .filter(|d| d.outlets.iter().any(|(_, o)| could_produce(o, uri)))
        .map(|d| d.team.as_str())
        .collect();
    let allowed: Vec<&str> = if admin {
        vec![asked.or(producers.first().copied()).unwrap_or("platform")]
    } else if state.platform.datasets.open {
        operates.iter().copied().collect()
    } else {
        operates.intersection(&producers).copied().collect()
    };
    match asked {
        Some(team) if allowed.contains(&team) => Ok(team.to_string()),
        _ if !allowed.is_empty() && asked.is_none() => Ok(allowed[0].to_string()),
        _ => Err(ApiError::PermissionDenied {
            detail: if producers.is_empty() {
                format!(
                    "no DAG of your teams produces `{uri}`: only a producing team's operators post its events (or every team's, when weir.toml sets `[datasets] open = true`)"
                )
            } else {
                format!(
                    "only operators of the team(s) producing `{uri}` ({}) post its events",
                    producers.into_iter().collect::<Vec<_>>().join(", ")
                )
            },
        }),
    }
}

/// Create a dataset event.
#[utoipa::path(post, path = "/datasets/events", operation_id = "create_dataset_event", tag = "Dataset",
    request_body = CreateDatasetEvent,
    responses((status = 200, description = "Success.", body = DatasetEvent),
              (status = 400, response = BadRequest)))]
async fn create_dataset_event(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    ApiJson(body): ApiJson<CreateDatasetEvent>,
) -> Result<(StatusCode, Json<DatasetEvent>), ApiError> {
    check_uri(&body.dataset_uri).map_err(ApiError::bad_request)?;
    if let Some(extra) = &body.extra {
        if !extra.is_object() {
            return Err(ApiError::bad_request("`extra` must be a JSON object"));
        }
        if extra.to_string().len() > MAX_EXTRA_BYTES {
            return Err(ApiError::bad_request(format!(
                "`extra` is larger than {MAX_EXTRA_BYTES} bytes"
            )));
        }
    }
    let team = producing_team(&state, &auth, &body.dataset_uri, body.team.as_deref()).await?;
    let recorded = state
        .engine
        .post_dataset_events(&[NewDatasetEvent {
            uri: body.dataset_uri.clone(),
            extra: body.extra.clone(),
            team,
            source: None,
            posted_by: Some(auth.caller.name.clone()),
            created_at: chrono::Utc::now(),
        }])
        .await?;
    let Some(e) = recorded.into_iter().next() else {
        return Err(ApiError::Conflict {
            detail: "the event was not recorded".into(),
        });
    };
    Ok((StatusCode::OK, Json(event(&state, e).await?)))
}

/// Lineage of a dataset or a DAG.
#[utoipa::path(get, path = "/lineage", operation_id = "get_lineage", tag = "Dataset",
    params(("dataset" = Option<String>, Query, description = "A dataset URI or pattern."),
        ("dag" = Option<String>, Query, description = "A DAG id."),
        ("depth" = Option<u32>, Query, description = "DAGs up and down (default 3, at most 20).")),
    responses((status = 200, description = "Success.", body = Lineage),
              (status = 400, response = BadRequest),
              (status = 404, response = NotFound)))]
async fn get_lineage(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<Lineage>, ApiError> {
    let root = match (q.str("dataset"), q.str("dag")) {
        (Some(uri), None) => Root::Dataset(uri.to_string()),
        (None, Some(dag)) => Root::Dag(dag.to_string()),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `dataset` (a URI) or `dag` (a DAG id)",
            ));
        }
    };
    let depth = match q.i64("depth")? {
        None => DEFAULT_DEPTH,
        Some(d) if (0..=i64::from(MAX_DEPTH)).contains(&d) => d as u32,
        Some(d) => {
            return Err(ApiError::bad_request(format!(
                "`depth` must be 0 to {MAX_DEPTH}, not {d}"
            )));
        }
    };
    let decls = state.engine.dataset_declarations().await?;
    let known: Vec<String> = match &root {
        Root::Dataset(uri) if static_prefix(uri) == uri => state
            .store()
            .get_dataset(uri)
            .await?
            .map(|d| vec![d.uri])
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let Some(found) = lineage::lineage(&decls, &known, &state.platform.teams, &root, depth) else {
        let what = match &root {
            Root::Dag(id) => format!("no active DAG `{id}`"),
            Root::Dataset(uri) => {
                format!("no DAG produces or consumes `{uri}` and no event named it")
            }
        };
        return Err(ApiError::not_found("Not found", what));
    };
    Ok(Json(Lineage {
        root: match &root {
            Root::Dag(id) => format!("dag:{id}"),
            Root::Dataset(uri) => format!("dataset:{uri}"),
        },
        depth,
        datasets: found.datasets,
        dags: found.dags,
        edges: found.edges,
    }))
}
