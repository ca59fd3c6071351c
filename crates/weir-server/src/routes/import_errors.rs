//! Import errors, DAG files that failed to load: `GET /importErrors[/{import_error_id}]`.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{QueryParams, path_params};
use crate::json::{self, ImportError, ImportErrorCollection};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::{Pagination, bad_order_by, order_by};

path_params!(ErrorPath {
    id: i64 = "import_error_id"
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_import_errors))
        .routes(routes!(get_import_error))
}

/// List the DAG files that failed to load.
#[utoipa::path(
    get,
    path = "/importErrors",
    operation_id = "get_import_errors",
    tag = "ImportError",
    params(
        Pagination,
        ("order_by" = Option<String>, Query, description = "`import_error_id`."),
    ),
    responses(
        (status = 200, description = "Success.", body = ImportErrorCollection),
        (status = 400, response = BadRequest),
    )
)]
async fn list_import_errors(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<ImportErrorCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    if let Some((field, desc)) = order_by(&q)
        && (!matches!(field, "import_error_id" | "id") || desc)
    {
        return Err(bad_order_by(field, &["import_error_id"]));
    }
    let found = state
        .store()
        .list_import_errors(page.limit, page.offset)
        .await?;
    Ok(Json(ImportErrorCollection {
        import_errors: found.items.into_iter().map(json::import_error).collect(),
        total_entries: found.total_entries,
    }))
}

/// Get an import error.
#[utoipa::path(
    get,
    path = "/importErrors/{import_error_id}",
    operation_id = "get_import_error",
    tag = "ImportError",
    params(ErrorPath),
    responses(
        (status = 200, description = "Success.", body = ImportError),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_import_error(
    State(state): State<AppState>,
    path: ErrorPath,
) -> Result<Json<ImportError>, ApiError> {
    let e = state
        .store()
        .get_import_error(path.id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "Import error not found",
                format!(
                    "The ImportError with import_error_id: `{}` was not found",
                    path.id
                ),
            )
        })?;
    Ok(Json(json::import_error(e)))
}
