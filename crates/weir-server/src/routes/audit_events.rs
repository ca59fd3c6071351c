//! `GET /auditEvents`: the audit trail, newest first. Platform admins see every event;
//! team admins the events of their teams' objects. There is no route that changes or
//! deletes an event.

use axum::Json;
use axum::extract::{Extension, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::access::TeamRole;
use weir_store::AuditFilter;

use crate::AppState;
use crate::auth::Authorized;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::json::{self, AuditEventCollection};
use crate::openapi::BadRequest;
use crate::pagination::Pagination;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_events))
}

/// List audit events.
#[utoipa::path(get, path = "/auditEvents", operation_id = "get_audit_events", tag = "Identity",
    params(Pagination,
        ("actor" = Option<String>, Query, description = "Who acted."),
        ("object_type" = Option<String>, Query, description = "e.g. `dag`, `variable`, `user`."),
        ("object_id" = Option<String>, Query, description = "The object's id."),
        ("action" = Option<String>, Query, description = "e.g. `dag.update`, `login`."),
        ("outcome" = Option<String>, Query, description = "`success`, `denied` or `failed`."),
        ("since" = Option<String>, Query, description = "RFC 3339: events at or after."),
        ("until" = Option<String>, Query, description = "RFC 3339: events before.")),
    responses((status = 200, description = "Success.", body = AuditEventCollection),
              (status = 400, response = BadRequest)))]
async fn list_audit_events(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    q: QueryParams,
) -> Result<Json<AuditEventCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let text = |name: &str| q.str(name).map(str::to_string);
    let teams = (!auth.caller.platform_admin).then(|| {
        auth.caller
            .teams_with(TeamRole::Admin)
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    let filter = AuditFilter {
        actor: text("actor"),
        object_type: text("object_type"),
        object_id: text("object_id"),
        action: text("action"),
        outcome: text("outcome"),
        since: q.datetime("since")?,
        until: q.datetime("until")?,
        teams,
    };
    let found = state
        .store()
        .list_audit_events(&filter, page.limit, page.offset)
        .await?;
    Ok(Json(AuditEventCollection {
        audit_events: found
            .items
            .into_iter()
            .map(json::audit_event)
            .collect::<Result<_, _>>()?,
        total_entries: found.total_entries,
    }))
}
