//! Import errors, DAG files that failed to load: `GET /importErrors[/{import_error_id}]`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{QueryParams, path_params};
use crate::json::{ImportError, ImportErrorCollection};
use crate::pagination::{Pagination, bad_order_by, order_by};

path_params!(ErrorPath {
    id: i64 = "import_error_id"
});

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/importErrors", get(list_import_errors))
        .route("/importErrors/{import_error_id}", get(get_import_error))
}

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
        import_errors: found.items.into_iter().map(ImportError::from).collect(),
        total_entries: found.total_entries,
    }))
}

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
    Ok(Json(e.into()))
}
