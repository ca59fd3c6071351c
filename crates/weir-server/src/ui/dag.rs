//! `/dags/{dag_id}` and its tabs: the grid (default), the graph, the code of the version
//! shown with its provenance, the versions (history and diffs), the runs, the details.
//! The header of every tab holds the actions this user may take: trigger, pause.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, RawQuery};
use axum::http::Method;
use axum::response::Html;
use serde::Serialize;
use serde_json::{Value, json};
use weir_api::{
    DagDetail, DagRun, DagRunCollection, DagVersionCollection, DagVersionDetail, DagVersionDiff,
    Task, TaskCollection, TaskInstance, TaskInstanceCollection,
};

use super::UiError;
use super::api::{Api, enc};
use super::charts::{graph, grid};
use super::layout::{Chrome, duration, schedule, state_symbol, when};

/// Runs shown in the grid.
const GRID_RUNS: usize = 25;

/// What every tab shows above its content.
pub struct DagHeader {
    pub dag_id: String,
    pub description: String,
    pub team: String,
    pub schedule: String,
    pub next_run: String,
    pub paused: bool,
    pub production: bool,
    pub version: String,
    pub tags: Vec<String>,
    pub can_trigger: bool,
    pub can_pause: bool,
    /// The current tab: `grid`, `graph`, `code`, `versions`, `runs`, `details`.
    pub tab: &'static str,
}

impl DagHeader {
    pub fn current(&self, tab: &str) -> &'static str {
        if self.tab == tab {
            "aria-current=page"
        } else {
            ""
        }
    }
}

/// The DAG's details and the header built from them.
async fn header(
    api: &Api,
    dag_id: &str,
    tab: &'static str,
) -> Result<(DagDetail, DagHeader), UiError> {
    let detail: DagDetail = api
        .get(&format!("/api/v1/dags/{}/details", enc(dag_id)))
        .await?;
    let can_trigger = api
        .allows(
            Method::POST,
            "/dags/{dag_id}/dagRuns",
            &[("dag_id", dag_id)],
        )
        .await;
    let can_pause = api
        .allows(Method::PATCH, "/dags/{dag_id}", &[("dag_id", dag_id)])
        .await;
    let dag = &detail.dag;
    let head = DagHeader {
        dag_id: dag.dag_id.clone(),
        description: dag.description.clone().unwrap_or_default(),
        team: dag.team.clone().unwrap_or_default(),
        schedule: schedule(dag),
        next_run: when(dag.next_dagrun),
        paused: dag.is_paused,
        production: detail.production,
        version: detail.version.clone().unwrap_or_default(),
        tags: dag.tags.iter().map(|t| t.name.clone()).collect(),
        can_trigger,
        can_pause,
        tab,
    };
    Ok((detail, head))
}

/// The DAG's tasks, in layout order (by layer, then as the graph places them).
async fn tasks(api: &Api, dag_id: &str) -> Result<(Vec<Task>, graph::Layout), UiError> {
    let tasks: TaskCollection = api
        .get(&format!("/api/v1/dags/{}/tasks", enc(dag_id)))
        .await?;
    let shape: Vec<(String, Vec<String>)> = tasks
        .tasks
        .iter()
        .map(|t| (t.task_id.clone(), t.upstream_task_ids.clone()))
        .collect();
    let layout = graph::layout(&shape);
    let mut order: Vec<usize> = (0..tasks.tasks.len()).collect();
    order.sort_by(|a, b| {
        let (na, nb) = (&layout.nodes[*a], &layout.nodes[*b]);
        (na.layer, na.y as i64, &na.task_id).cmp(&(nb.layer, nb.y as i64, &nb.task_id))
    });
    let mut by_index: Vec<Option<Task>> = tasks.tasks.into_iter().map(Some).collect();
    let ordered = order
        .into_iter()
        .filter_map(|i| by_index[i].take())
        .collect();
    Ok((ordered, layout))
}

/// The DAG's newest `n` runs, oldest first.
pub async fn recent_runs(api: &Api, dag_id: &str, n: usize) -> Result<Vec<DagRun>, UiError> {
    let runs: DagRunCollection = api
        .get(&format!(
            "/api/v1/dags/{}/dagRuns?order_by=-execution_date&limit={n}",
            enc(dag_id)
        ))
        .await?;
    let mut runs = runs.dag_runs;
    runs.reverse();
    Ok(runs)
}

/// The task instances of these runs of the DAG.
pub async fn task_instances(
    api: &Api,
    dag_id: &str,
    run_ids: &[String],
) -> Result<Vec<TaskInstance>, UiError> {
    let mut out = Vec::new();
    if run_ids.is_empty() {
        return Ok(out);
    }
    loop {
        let form = json!({
            "dag_ids": [dag_id],
            "dag_run_ids": run_ids,
            "page_offset": out.len(),
            "page_limit": 1000,
        });
        let page: TaskInstanceCollection = serde_json::from_value(
            api.call(
                Method::POST,
                "/api/v1/dags/~/dagRuns/~/taskInstances/list",
                Some(&form),
            )
            .await?,
        )
        .map_err(|e| UiError::internal(format!("task instances came back unreadable: {e}")))?;
        let done = page.task_instances.len() < 1000;
        out.extend(page.task_instances);
        if done {
            return Ok(out);
        }
    }
}

pub struct GridRun {
    pub run_id: String,
    pub state: String,
    pub symbol: &'static str,
    pub label: String,
    pub highlight: bool,
}

pub struct GridCell {
    pub run_id: String,
    pub state: String,
    pub symbol: &'static str,
    pub instances: usize,
    pub highlight: bool,
}

pub struct GridRow {
    pub task_id: String,
    pub cells: Vec<GridCell>,
}

#[derive(Template)]
#[template(path = "dag_grid.html")]
struct GridPage {
    chrome: Chrome,
    head: DagHeader,
    runs: Vec<GridRun>,
    rows: Vec<GridRow>,
    live: String,
    legend: Vec<(&'static str, &'static str)>,
}

/// The states in the legend, with their symbols.
fn legend() -> Vec<(&'static str, &'static str)> {
    [
        "success",
        "running",
        "queued",
        "scheduled",
        "failed",
        "upstream_failed",
        "up_for_retry",
        "up_for_reschedule",
        "skipped",
        "none",
    ]
    .into_iter()
    .map(|s| (s, state_symbol(s)))
    .collect()
}

/// The live-update URL of a DAG page showing these runs.
fn live_url(dag_id: &str, run_ids: &[String]) -> String {
    let mut url = format!("/dags/{}/live?", enc(dag_id));
    for r in run_ids {
        url.push_str(&format!("run={}&", enc(r)));
    }
    url.pop();
    url
}

/// `GET /dags/{dag_id}?run=`: the grid.
pub async fn grid(
    api: Api,
    Path(dag_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, UiError> {
    let (_, head) = header(&api, &dag_id, "grid").await?;
    let (tasks, _) = tasks(&api, &dag_id).await?;
    let runs = recent_runs(&api, &dag_id, GRID_RUNS).await?;
    let run_ids: Vec<String> = runs.iter().map(|r| r.dag_run_id.clone()).collect();
    let cells = grid::cells(&task_instances(&api, &dag_id, &run_ids).await?);
    let chosen = query.get("run").cloned().unwrap_or_default();
    let rows = tasks
        .iter()
        .map(|t| GridRow {
            task_id: t.task_id.clone(),
            cells: runs
                .iter()
                .map(|r| {
                    let cell = cells.get(&(r.dag_run_id.clone(), t.task_id.clone()));
                    let state = cell
                        .map(|c| c.state.clone())
                        .unwrap_or_else(|| "none".into());
                    GridCell {
                        run_id: r.dag_run_id.clone(),
                        symbol: state_symbol(&state),
                        state,
                        instances: cell.map(|c| c.instances).unwrap_or(0),
                        highlight: r.dag_run_id == chosen,
                    }
                })
                .collect(),
        })
        .collect();
    let grid_runs = runs
        .iter()
        .map(|r| {
            let state = label(&r.state);
            GridRun {
                run_id: r.dag_run_id.clone(),
                symbol: state_symbol(&state),
                state,
                label: r.logical_date.format("%m-%d %H:%M").to_string(),
                highlight: r.dag_run_id == chosen,
            }
        })
        .collect();
    let page = GridPage {
        chrome: Chrome::new(&api, dag_id.clone(), "dags"),
        live: live_url(&dag_id, &run_ids),
        head,
        runs: grid_runs,
        rows,
        legend: legend(),
    };
    Ok(Html(page.render()?))
}

/// A serialized enum's name (`success`, `manual`, …).
pub fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(Value::Null) => "none".into(),
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

#[derive(Template)]
#[template(path = "dag_graph.html")]
struct GraphPage {
    chrome: Chrome,
    head: DagHeader,
    svg: String,
    run_id: String,
    runs: Vec<(String, String)>,
    live: String,
}

/// `GET /dags/{dag_id}/graph?run=`: the graph, coloured by a run's states (the newest
/// by default).
pub async fn graph(
    api: Api,
    Path(dag_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, UiError> {
    let (_, head) = header(&api, &dag_id, "graph").await?;
    let (_, layout) = tasks(&api, &dag_id).await?;
    let runs = recent_runs(&api, &dag_id, GRID_RUNS).await?;
    let run_id = query
        .get("run")
        .cloned()
        .or_else(|| runs.last().map(|r| r.dag_run_id.clone()));
    let mut states = HashMap::new();
    if let Some(run) = &run_id {
        let tis = task_instances(&api, &dag_id, std::slice::from_ref(run)).await?;
        for ((_, task), cell) in grid::cells(&tis) {
            states.insert(task, cell.state);
        }
    }
    let page = GraphPage {
        chrome: Chrome::new(&api, format!("{dag_id} · graph"), "dags"),
        svg: graph::svg(&layout, &dag_id, run_id.as_deref(), &states),
        live: run_id
            .as_ref()
            .map(|r| live_url(&dag_id, std::slice::from_ref(r)))
            .unwrap_or_default(),
        runs: runs
            .iter()
            .rev()
            .map(|r| (r.dag_run_id.clone(), label(&r.state)))
            .collect(),
        run_id: run_id.unwrap_or_default(),
        head,
    };
    Ok(Html(page.render()?))
}

#[derive(Template)]
#[template(path = "dag_code.html")]
struct CodePage {
    chrome: Chrome,
    head: DagHeader,
    version: String,
    source: String,
    provenance: Vec<(&'static str, String)>,
}

/// `GET /dags/{dag_id}/code?version=`: the YAML of a version (the active one by
/// default), with where it came from.
pub async fn code(
    api: Api,
    Path(dag_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, UiError> {
    let (_, head) = header(&api, &dag_id, "code").await?;
    let version = match query.get("version").filter(|v| !v.is_empty()) {
        Some(v) => v.clone(),
        None if !head.version.is_empty() => head.version.clone(),
        None => {
            let versions: DagVersionCollection = api
                .get(&format!("/api/v1/dags/{}/versions?limit=1", enc(&dag_id)))
                .await?;
            versions
                .versions
                .first()
                .map(|v| v.version.clone())
                .ok_or_else(|| UiError::not_found(format!("`{dag_id}` has no versions yet")))?
        }
    };
    let detail: DagVersionDetail = api
        .get(&format!(
            "/api/v1/dags/{}/versions/{}",
            enc(&dag_id),
            enc(&version)
        ))
        .await?;
    let v = &detail.version;
    let mut provenance = vec![
        ("Version", v.version.clone()),
        ("Status", label(&v.status)),
        ("Origin", v.origin.clone()),
        ("Created", when(Some(v.created_at))),
    ];
    let optional = [
        ("Commit", v.commit.clone()),
        ("Author", v.author.clone()),
        ("Message", v.message.clone()),
        ("Approved by", v.approved_by.clone()),
        ("Break-glass reason", v.break_glass_reason.clone()),
    ];
    provenance.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    let page = CodePage {
        chrome: Chrome::new(&api, format!("{dag_id} · code"), "dags"),
        head,
        version,
        source: detail.source,
        provenance,
    };
    Ok(Html(page.render()?))
}

pub struct VersionRow {
    pub version: String,
    pub status: String,
    pub created: String,
    pub origin: String,
    pub author: String,
    pub message: String,
    pub approved_by: String,
}

#[derive(Template)]
#[template(path = "dag_versions.html")]
struct VersionsPage {
    chrome: Chrome,
    head: DagHeader,
    versions: Vec<VersionRow>,
    diff: Option<DagVersionDiff>,
    diff_lines: Vec<(&'static str, String)>,
}

/// `GET /dags/{dag_id}/versions?from=&to=`: the history, and a diff of two versions.
pub async fn versions(
    api: Api,
    Path(dag_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, UiError> {
    let (_, head) = header(&api, &dag_id, "versions").await?;
    let list: DagVersionCollection = api
        .get(&format!("/api/v1/dags/{}/versions?limit=100", enc(&dag_id)))
        .await?;
    let diff = match (query.get("from"), query.get("to")) {
        (Some(from), Some(to)) if !from.is_empty() && !to.is_empty() => Some(
            api.get::<DagVersionDiff>(&format!(
                "/api/v1/dags/{}/versions/{}/diff/{}",
                enc(&dag_id),
                enc(from),
                enc(to)
            ))
            .await?,
        ),
        _ => None,
    };
    let diff_lines = diff
        .as_ref()
        .map(|d| diff_classes(&d.diff))
        .unwrap_or_default();
    let page = VersionsPage {
        chrome: Chrome::new(&api, format!("{dag_id} · versions"), "dags"),
        head,
        versions: list
            .versions
            .iter()
            .map(|v| VersionRow {
                version: v.version.clone(),
                status: label(&v.status),
                created: when(Some(v.created_at)),
                origin: v.origin.clone(),
                author: v
                    .author
                    .clone()
                    .or(v.author_user.clone())
                    .unwrap_or_default(),
                message: v.message.clone().unwrap_or_default(),
                approved_by: v.approved_by.clone().unwrap_or_default(),
            })
            .collect(),
        diff,
        diff_lines,
    };
    Ok(Html(page.render()?))
}

/// A unified diff's lines with the class that colours them.
pub fn diff_classes(diff: &str) -> Vec<(&'static str, String)> {
    diff.lines()
        .map(|l| {
            let class = if l.starts_with('+') && !l.starts_with("+++") {
                "diff-add"
            } else if l.starts_with('-') && !l.starts_with("---") {
                "diff-del"
            } else {
                ""
            };
            (class, l.to_string())
        })
        .collect()
}

pub struct RunRow {
    pub run_id: String,
    pub state: String,
    pub symbol: &'static str,
    pub run_type: String,
    pub logical_date: String,
    pub started: String,
    pub duration: String,
}

#[derive(Template)]
#[template(path = "dag_runs.html")]
struct RunsPage {
    chrome: Chrome,
    head: DagHeader,
    runs: Vec<RunRow>,
    state: String,
    prev: Option<String>,
    next: Option<String>,
}

/// `GET /dags/{dag_id}/runs?state=&offset=`: the runs, newest first.
pub async fn runs(
    api: Api,
    Path(dag_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, UiError> {
    let query: HashMap<String, String> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let (_, head) = header(&api, &dag_id, "runs").await?;
    let offset: i64 = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let state = query.get("state").cloned().unwrap_or_default();
    let mut uri = format!(
        "/api/v1/dags/{}/dagRuns?order_by=-execution_date&limit=50&offset={offset}",
        enc(&dag_id)
    );
    if !state.is_empty() {
        uri.push_str(&format!("&state={}", enc(&state)));
    }
    let list: DagRunCollection = api.get(&uri).await?;
    let link = |o: i64| {
        format!(
            "/dags/{}/runs?state={}&offset={o}",
            enc(&dag_id),
            enc(&state)
        )
    };
    let page = RunsPage {
        chrome: Chrome::new(&api, format!("{dag_id} · runs"), "dags"),
        head,
        prev: (offset > 0).then(|| link((offset - 50).max(0))),
        next: (offset + 50 < list.total_entries).then(|| link(offset + 50)),
        runs: list
            .dag_runs
            .iter()
            .map(|r| {
                let state = label(&r.state);
                RunRow {
                    run_id: r.dag_run_id.clone(),
                    symbol: state_symbol(&state),
                    state,
                    run_type: label(&r.run_type),
                    logical_date: when(Some(r.logical_date)),
                    started: when(r.start_date),
                    duration: duration(
                        r.start_date
                            .zip(r.end_date)
                            .map(|(s, e)| (e - s).num_milliseconds() as f64 / 1000.0),
                    ),
                }
            })
            .collect(),
        state,
    };
    Ok(Html(page.render()?))
}

#[derive(Template)]
#[template(path = "dag_details.html")]
struct DetailsPage {
    chrome: Chrome,
    head: DagHeader,
    facts: Vec<(&'static str, String)>,
    params: String,
    doc: String,
    /// Each task with its trigger rule's name.
    tasks: Vec<(Task, String)>,
}

/// `GET /dags/{dag_id}/details`: settings, params, doc and tasks.
pub async fn details(api: Api, Path(dag_id): Path<String>) -> Result<Html<String>, UiError> {
    let (detail, head) = header(&api, &dag_id, "details").await?;
    let (tasks, _) = tasks(&api, &dag_id).await?;
    let d = &detail;
    let facts = vec![
        ("Team", head.team.clone()),
        ("Owners", d.dag.owners.join(", ")),
        ("Schedule", head.schedule.clone()),
        ("Timezone", d.timezone.clone()),
        ("Catchup", d.catchup.to_string()),
        ("Start date", when(d.start_date)),
        ("End date", when(d.end_date)),
        (
            "Max active runs",
            d.dag
                .max_active_runs
                .map(|n| n.to_string())
                .unwrap_or_default(),
        ),
        (
            "Max active tasks",
            d.dag
                .max_active_tasks
                .map(|n| n.to_string())
                .unwrap_or_default(),
        ),
        ("Production", d.production.to_string()),
        ("Version", head.version.clone()),
        ("File", d.dag.fileloc.clone()),
        ("Last parsed", when(d.last_parsed)),
    ];
    let page = DetailsPage {
        chrome: Chrome::new(&api, format!("{dag_id} · details"), "dags"),
        params: super::layout::pretty(&Value::Object(d.params.clone())),
        doc: d.doc_md.clone().unwrap_or_default(),
        facts,
        tasks: tasks
            .into_iter()
            .map(|t| {
                let rule = label(&t.trigger_rule);
                (t, rule)
            })
            .collect(),
        head,
    };
    Ok(Html(page.render()?))
}
