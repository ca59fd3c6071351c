//! The platform's operations pages: queues (depth by queue and team, each waiting try's
//! position and reason, capacity in use per compute environment), costs (per team and
//! day, chart and table, CSV), the audit log and the import errors.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::Query;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use weir_api::{AuditEventCollection, CostReport, ImportErrorCollection, QueueCollection};

use super::UiError;
use super::api::{Api, enc};
use super::charts::bars;
use super::dag::label;
use super::layout::{Chrome, when};

#[derive(Template)]
#[template(path = "queues.html")]
struct QueuesPage {
    chrome: Chrome,
    queues: QueueCollection,
}

impl QueuesPage {
    fn gib(&self, bytes: &u64) -> String {
        format!("{:.1}", *bytes as f64 / (1u64 << 30) as f64)
    }
}

/// `GET /queues`.
pub async fn queues(api: Api) -> Result<Html<String>, UiError> {
    let queues: QueueCollection = api.get("/api/v1/queues").await?;
    let page = QueuesPage {
        chrome: Chrome::new(&api, "Queues", "queues"),
        queues,
    };
    Ok(Html(page.render()?))
}

/// The filters of the cost views: `since` (e.g. `30d` or a date), `team`, `by`.
struct CostFilters {
    since: String,
    team: String,
    by: String,
}

impl CostFilters {
    fn of(query: &HashMap<String, String>) -> Self {
        let get = |k: &str, d: &str| {
            query
                .get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| d.to_string())
        };
        CostFilters {
            since: get("since", "30d"),
            team: get("team", ""),
            by: get("by", "team"),
        }
    }

    fn api_uri(&self, per_day: bool) -> String {
        let mut uri = format!(
            "/api/v1/costs?since={}&by={}&per_day={per_day}",
            enc(&self.since),
            enc(&self.by)
        );
        if !self.team.is_empty() {
            uri.push_str(&format!("&team={}", enc(&self.team)));
        }
        uri
    }
}

pub struct CostLine {
    pub key: String,
    pub day: String,
    pub tries: u64,
    pub vcpu_hours: String,
    pub gib_hours: String,
    pub cost: String,
}

#[derive(Template)]
#[template(path = "costs.html")]
struct CostsPage {
    chrome: Chrome,
    since: String,
    team: String,
    by: String,
    chart: String,
    lines: Vec<CostLine>,
    total: String,
    note: String,
    csv: String,
}

/// `GET /costs?since=&team=&by=`.
pub async fn costs(
    api: Api,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, UiError> {
    let filters = CostFilters::of(&query);
    let report: CostReport = api.get(&filters.api_uri(true)).await?;
    let mut days: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for row in &report.costs {
        let day = row.day.map(|d| d.to_string()).unwrap_or_default();
        *days
            .entry(day)
            .or_default()
            .entry(row.key.clone().unwrap_or_default())
            .or_default() += row.cost;
    }
    let lines = report
        .costs
        .iter()
        .map(|r| CostLine {
            key: r.key.clone().unwrap_or_default(),
            day: r.day.map(|d| d.to_string()).unwrap_or_default(),
            tries: r.tries,
            vcpu_hours: format!("{:.3}", r.vcpu_hours),
            gib_hours: format!("{:.3}", r.gib_hours),
            cost: format!("{:.4}", r.cost),
        })
        .collect();
    let csv = format!(
        "/costs.csv?since={}&team={}&by={}",
        enc(&filters.since),
        enc(&filters.team),
        enc(&filters.by)
    );
    let page = CostsPage {
        chrome: Chrome::new(&api, "Costs", "costs"),
        chart: bars::svg(&days, "USD"),
        lines,
        total: format!("{:.4}", report.total.cost),
        note: report.currency_note.clone(),
        since: filters.since,
        team: filters.team,
        by: filters.by,
        csv,
    };
    Ok(Html(page.render()?))
}

/// `GET /costs.csv?since=&team=&by=`: the table as CSV, one row per day and key (what
/// `weir costs --per-day --output csv` prints).
pub async fn costs_csv(
    api: Api,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let filters = CostFilters::of(&query);
    let report: CostReport = api.get(&filters.api_uri(true)).await?;
    let out = report.to_csv();
    let mut response = out.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"weir-costs.csv\""),
    );
    Ok(response)
}

pub struct AuditLine {
    pub time: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub team: String,
    pub outcome: String,
    pub address: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    filters: Vec<(&'static str, String)>,
    lines: Vec<AuditLine>,
    total: i64,
    prev: Option<String>,
    next: Option<String>,
}

/// The audit filters the page offers, in the API's names.
const AUDIT_FILTERS: [&str; 6] = [
    "actor",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "since",
];

/// `GET /audit?actor=&action=&object_type=&object_id=&outcome=&since=&offset=`.
pub async fn audit(
    api: Api,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, UiError> {
    let offset: i64 = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let filters: Vec<(&'static str, String)> = AUDIT_FILTERS
        .iter()
        .map(|k| {
            (
                *k,
                query
                    .get(*k)
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let mut qs = String::new();
    for (k, v) in filters.iter().filter(|(_, v)| !v.is_empty()) {
        qs.push_str(&format!("&{k}={}", enc(v)));
    }
    let list: AuditEventCollection = api
        .get(&format!(
            "/api/v1/auditEvents?limit=100&offset={offset}{qs}"
        ))
        .await?;
    let link = |o: i64| format!("/audit?offset={o}{qs}");
    let page = AuditPage {
        chrome: Chrome::new(&api, "Audit log", "audit"),
        prev: (offset > 0).then(|| link((offset - 100).max(0))),
        next: (offset + 100 < list.total_entries).then(|| link(offset + 100)),
        total: list.total_entries,
        lines: list
            .audit_events
            .iter()
            .map(|e| AuditLine {
                time: when(Some(e.time)),
                actor: e.actor.clone(),
                action: e.action.clone(),
                object: format!("{} {}", e.object_type, e.object_id),
                team: e.team.clone().unwrap_or_default(),
                outcome: label(&e.outcome),
                address: e.source_address.clone().unwrap_or_default(),
            })
            .collect(),
        filters,
    };
    Ok(Html(page.render()?))
}

#[derive(Template)]
#[template(path = "import_errors.html")]
struct ImportErrorsPage {
    chrome: Chrome,
    errors: Vec<(String, String, String)>,
}

/// `GET /import-errors`.
pub async fn import_errors(api: Api) -> Result<Html<String>, UiError> {
    let list: ImportErrorCollection = api.get("/api/v1/importErrors?limit=1000").await?;
    let page = ImportErrorsPage {
        chrome: Chrome::new(&api, "Import errors", "import-errors"),
        errors: list
            .import_errors
            .into_iter()
            .map(|e| (e.filename, when(Some(e.timestamp)), e.stack_trace))
            .collect(),
    };
    Ok(Html(page.render()?))
}
