//! Weir: `GET /costs`, what the tries of a period cost, per team, DAG or queue and
//! optionally per day, summed from the store's usage records by weir-core's arithmetic.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{Required, schema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::cost::{GroupKey, cost_row};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::json::costs::{CURRENCY_NOTE, parse_since};
use crate::json::{CostReport, CostRow};
use crate::openapi::BadRequest;

/// How far back a report reaches when `since` is not given.
const DEFAULT_SINCE: &str = "30d";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_costs))
}

/// The query of `GET /costs`, read and checked.
#[derive(Debug, Clone, PartialEq)]
struct CostQuery {
    by: GroupKey,
    since: DateTime<Utc>,
    per_day: bool,
    team: Option<String>,
}

impl CostQuery {
    fn from_query(q: &QueryParams, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let by = match q.str("by") {
            None => GroupKey::Team,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e| ApiError::bad_request(format!("query parameter `by`: {e}")))?,
        };
        // A `+` of an offset that arrived decoded as a space is put back, as for dates.
        let since = q.str("since").unwrap_or(DEFAULT_SINCE).replace(' ', "+");
        let since = parse_since(&since, now)
            .map_err(|e| ApiError::bad_request(format!("query parameter `since`: {e}")))?;
        Ok(CostQuery {
            by,
            since,
            per_day: q.bool("per_day")?.unwrap_or(false),
            team: q.str("team").map(|t| t.trim().to_string()),
        })
    }
}

/// `by`, `since`, `per_day` and `team` in the OpenAPI document.
impl IntoParams for CostQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let param = |name: &str, ty: schema::Type, description: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(schema::ObjectBuilder::new().schema_type(ty)))
                .build()
        };
        vec![
            param(
                "by",
                schema::Type::String,
                "What to group by: `team` (the default), `dag` or `queue`.",
            ),
            param(
                "since",
                schema::Type::String,
                "Count the tries that started at or after this: a span back from now (`30d`, \
                 the default; `12h`; `2w`), a date (`2026-03-01`, midnight UTC) or an RFC 3339 \
                 date-time.",
            ),
            param(
                "per_day",
                schema::Type::Boolean,
                "Also group by day (UTC, of the try's start); default false.",
            ),
            param("team", schema::Type::String, "Only this team's tries."),
        ]
    }
}

/// Get costs.
///
/// Cost and usage of the tries that started since a time, grouped by team, DAG or queue
/// (and optionally by day). A try pays for the vCPUs and memory it reserved, for as long
/// as it ran, at the price its compute environment had then.
#[utoipa::path(
    get,
    path = "/costs",
    operation_id = "get_costs",
    tag = "Cost",
    params(CostQuery),
    responses(
        (status = 200, description = "Success.", body = CostReport),
        (status = 400, response = BadRequest),
    )
)]
async fn get_costs(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<CostReport>, ApiError> {
    let query = CostQuery::from_query(&q, Utc::now())?;
    // Added up in the database: the report of a month of a busy platform reads a few
    // rows, not every try.
    let store = state.store();
    let team = query.team.as_deref();
    let costs = store
        .usage_totals(query.since, team, Some(query.by), query.per_day)
        .await?
        .into_iter()
        .map(|(day, key, totals)| CostRow::from(cost_row(day, key, &totals)))
        .collect();
    let total = store
        .usage_totals(query.since, team, None, false)
        .await?
        .first()
        .map(|(_, _, totals)| CostRow::from(cost_row(None, None, totals)))
        .unwrap_or_default();
    Ok(Json(CostReport {
        costs,
        total,
        since: query.since,
        group_by: query.by,
        per_day: query.per_day,
        team: query.team,
        currency_note: CURRENCY_NOTE.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_has_defaults_and_names_bad_values() {
        let now = DateTime::parse_from_rfc3339("2026-03-31T00:00:00Z")
            .unwrap()
            .to_utc();
        let read = |s: &str| CostQuery::from_query(&QueryParams::parse(s), now);
        let q = read("").unwrap();
        assert_eq!(
            (q.by, q.since.to_rfc3339(), q.per_day, q.team),
            (
                GroupKey::Team,
                "2026-03-01T00:00:00+00:00".to_string(),
                false,
                None
            )
        );
        let q = read("by=queue&since=2026-03-30&per_day=true&team=finance").unwrap();
        assert_eq!(
            (q.by, q.per_day, q.team.as_deref()),
            (GroupKey::Queue, true, Some("finance"))
        );
        for (query, needle) in [
            ("by=teams", "`by`"),
            ("since=later", "`since`"),
            ("per_day=maybe", "`per_day`"),
        ] {
            let detail = read(query)
                .unwrap_err()
                .problem()
                .detail
                .unwrap_or_default();
            assert!(detail.contains(needle), "{query}: {detail}");
        }
    }
}
