//! Weir's backfill: `POST /backfills` with `{dag_id, from_date, to_date, dag_run_conf}`
//! (the request shape of Airflow 3's backfill API) creates a run for every schedule
//! interval whose logical date is in `[from_date, to_date]`, skipping dates that already
//! have one, and returns the runs it created.

use axum::extract::State;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::ids::DagId;

use super::load_dag;
use crate::AppState;
use crate::auth::Authorized;
use crate::auth::visibility::Visibility;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::json::{self, BackfillRequest, BackfillResponse};
use crate::openapi::{BadRequest, NotFound, ServiceUnavailable};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(backfill))
}

/// Weir: backfill a DAG.
///
/// Creates a run for every schedule interval whose logical date is in
/// `[from_date, to_date]`, skipping dates that already have one.
#[utoipa::path(
    post,
    path = "/backfills",
    operation_id = "create_backfill",
    tag = "Backfill",
    request_body = BackfillRequest,
    responses(
        (status = 200, description = "The runs created.", body = BackfillResponse),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn backfill(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    ApiJson(body): ApiJson<BackfillRequest>,
) -> Result<Json<BackfillResponse>, ApiError> {
    let dag_id = DagId::new(body.dag_id.as_str())
        .map_err(|e| ApiError::bad_request(format!("invalid `dag_id` `{}`: {e}", body.dag_id)))?;
    if body.to_date.0 < body.from_date.0 {
        return Err(ApiError::bad_request("`to_date` is before `from_date`"));
    }
    load_dag(&state, &dag_id).await?;
    let conf = serde_json::Value::Object(body.dag_run_conf.unwrap_or_default());
    let runs = state
        .engine
        .backfill(&dag_id, body.from_date.0, body.to_date.0, conf)
        .await?;
    let total_entries = i64::try_from(runs.len()).unwrap_or(i64::MAX);
    let runs = runs.into_iter().map(json::dag_run).collect();
    Ok(Json(BackfillResponse {
        dag_id: dag_id.to_string(),
        total_entries,
        dag_runs: Visibility::new(&state, &auth).runs(runs).await?,
    }))
}
