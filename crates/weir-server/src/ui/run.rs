//! `/dags/{dag_id}/runs/{run_id}`: a run — its Gantt chart, task list, conf and version
//! — and, with `?task=` (`&map_index=`, `&try=`), one task instance: each try's host,
//! exit reason, usage and cost, the rendered command, the names of its environment
//! variables, its XComs and its log, followed live while the try runs.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::Html;
use chrono::Utc;
use weir_api::{DagRun, LogResponse, TaskInstance, TaskTryCollection, XComCollection};

use super::UiError;
use super::api::{Api, enc};
use super::charts::gantt;
use super::dag::{label, task_instances};
use super::layout::{Chrome, duration, pretty, state_symbol, when};

pub struct TiRow {
    pub task_id: String,
    pub map_index: i32,
    pub state: String,
    pub symbol: &'static str,
    pub try_number: u32,
    pub started: String,
    pub duration: String,
    pub href: String,
    pub selected: bool,
}

pub struct TryRow {
    pub try_number: u32,
    pub state: String,
    pub started: String,
    pub duration: String,
    pub host: String,
    pub executor: String,
    pub exit: String,
    pub cpu: String,
    pub memory: String,
    pub cost: String,
    pub href: String,
    pub selected: bool,
}

/// The selected task instance.
pub struct TiPanel {
    pub task_id: String,
    pub map_index: i32,
    pub state: String,
    pub symbol: &'static str,
    pub try_number: u32,
    pub command: String,
    pub env_names: Vec<(String, bool)>,
    pub tries: Vec<TryRow>,
    pub shown_try: u32,
    pub log: Option<String>,
    pub log_problem: Option<String>,
    pub follow: String,
    pub xcoms: Option<Vec<(String, String)>>,
    pub note: String,
    pub can_clear: bool,
    pub can_mark: bool,
    pub action_base: String,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    chrome: Chrome,
    dag_id: String,
    run_id: String,
    run_state: String,
    run_symbol: &'static str,
    facts: Vec<(&'static str, String)>,
    conf: String,
    gantt: String,
    rows: Vec<TiRow>,
    panel: Option<TiPanel>,
    live: String,
}

/// `GET /dags/{dag_id}/runs/{run_id}?task=&map_index=&try=`.
pub async fn page(
    api: Api,
    Path((dag_id, run_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, UiError> {
    let run: DagRun = api
        .get(&format!(
            "/api/v1/dags/{}/dagRuns/{}",
            enc(&dag_id),
            enc(&run_id)
        ))
        .await?;
    let tis = task_instances(&api, &dag_id, std::slice::from_ref(&run_id)).await?;
    let chosen_task = query.get("task").cloned();
    let chosen_map: i32 = query
        .get("map_index")
        .and_then(|m| m.parse().ok())
        .unwrap_or(-1);
    let ti_href = |ti: &TaskInstance| ti_url(&dag_id, &run_id, &ti.task_id, ti.map_index);
    let now = Utc::now();
    let bars: Vec<gantt::Bar> = tis
        .iter()
        .map(|ti| gantt::Bar {
            label: if ti.map_index >= 0 {
                format!("{}[{}]", ti.task_id, ti.map_index)
            } else {
                ti.task_id.clone()
            },
            task_id: ti.task_id.clone(),
            state: ti.state().to_string(),
            start: ti.start_date,
            end: ti.end_date,
            href: ti_href(ti),
        })
        .collect();
    let rows = tis
        .iter()
        .map(|ti| {
            let state = ti.state().to_string();
            TiRow {
                task_id: ti.task_id.clone(),
                map_index: ti.map_index,
                symbol: state_symbol(&state),
                state,
                try_number: ti.try_number,
                started: when(ti.start_date),
                duration: duration(ti.duration),
                href: ti_href(ti),
                selected: chosen_task.as_deref() == Some(ti.task_id.as_str())
                    && ti.map_index == chosen_map.max(-1),
            }
        })
        .collect();
    let panel = match &chosen_task {
        Some(task) => {
            let ti = tis
                .iter()
                .find(|t| &t.task_id == task && t.map_index == chosen_map)
                .or_else(|| tis.iter().find(|t| &t.task_id == task))
                .ok_or_else(|| {
                    UiError::not_found(format!("run `{run_id}` has no task `{task}`"))
                })?;
            let wanted_try = query.get("try").and_then(|t| t.parse().ok());
            Some(panel(&api, &dag_id, &run_id, ti, wanted_try).await?)
        }
        None => None,
    };
    let run_state = label(&run.state);
    let mut facts = vec![
        ("Run type", label(&run.run_type)),
        ("Logical date", when(Some(run.logical_date))),
        ("Started", when(run.start_date)),
        ("Ended", when(run.end_date)),
        (
            "Duration",
            duration(
                run.start_date
                    .map(|s| (run.end_date.unwrap_or(now) - s).num_milliseconds() as f64 / 1000.0),
            ),
        ),
        (
            "Data interval",
            format!(
                "{} → {}",
                when(run.data_interval_start),
                when(run.data_interval_end)
            ),
        ),
    ];
    if let Some(v) = &run.dag_version {
        facts.push(("Version", v.version.clone()));
    } else if let Some(hash) = &run.dag_hash {
        facts.push(("Version", hash.clone()));
    }
    if let Some(note) = &run.note {
        facts.push(("Note", note.clone()));
    }
    let page = RunPage {
        chrome: Chrome::new(&api, format!("{dag_id} · {run_id}"), "dags"),
        live: format!(
            "/dags/{}/runs/{}/live?run={}",
            enc(&dag_id),
            enc(&run_id),
            enc(&run_id)
        ),
        run_symbol: state_symbol(&run_state),
        run_state,
        facts,
        conf: pretty(&run.conf),
        gantt: gantt::svg(&bars, now),
        rows,
        panel,
        dag_id,
        run_id,
    };
    Ok(Html(page.render()?))
}

/// The run page with one task instance selected (`map_index` -1: not mapped).
pub fn ti_url(dag_id: &str, run_id: &str, task_id: &str, map_index: i32) -> String {
    let mut url = format!(
        "/dags/{}/runs/{}?task={}",
        enc(dag_id),
        enc(run_id),
        enc(task_id)
    );
    if map_index >= 0 {
        url.push_str(&format!("&map_index={map_index}"));
    }
    url
}

async fn panel(
    api: &Api,
    dag_id: &str,
    run_id: &str,
    ti: &TaskInstance,
    wanted_try: Option<u32>,
) -> Result<TiPanel, UiError> {
    let base = format!(
        "/api/v1/dags/{}/dagRuns/{}/taskInstances/{}",
        enc(dag_id),
        enc(run_id),
        enc(&ti.task_id)
    );
    let map_q = if ti.map_index >= 0 {
        format!("map_index={}", ti.map_index)
    } else {
        String::new()
    };
    let tries: TaskTryCollection = api.get(&format!("{base}/tries?{map_q}")).await?;
    let shown_try = wanted_try
        .filter(|t| *t >= 1 && *t <= ti.try_number)
        .unwrap_or(ti.try_number);
    let ui_base = ti_url(dag_id, run_id, &ti.task_id, ti.map_index);
    let try_rows = tries
        .tries
        .iter()
        .map(|t| TryRow {
            try_number: t.try_number,
            state: t.state.to_string(),
            started: when(Some(t.start_date)),
            duration: duration(
                t.end_date
                    .map(|e| (e - t.start_date).num_milliseconds() as f64 / 1000.0),
            ),
            host: t.hostname.clone().unwrap_or_default(),
            executor: t.executor.clone().unwrap_or_default(),
            exit: match (&t.reason, t.exit_code) {
                (Some(r), _) => r.clone(),
                (None, Some(c)) => format!("exit code {c}"),
                (None, None) => String::new(),
            },
            cpu: t
                .cpu_seconds
                .map(|c| format!("{c:.1}s"))
                .unwrap_or_default(),
            memory: t
                .peak_memory_bytes
                .map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))
                .unwrap_or_default(),
            cost: t.cost.map(|c| format!("{c:.4}")).unwrap_or_default(),
            href: format!("{ui_base}&try={}", t.try_number),
            selected: t.try_number == shown_try,
        })
        .collect();
    let (mut log, mut log_problem, mut follow) = (None, None, String::new());
    if shown_try >= 1 {
        let (status, body) = api
            .raw(
                Method::GET,
                &format!("{base}/logs/{shown_try}?{map_q}"),
                None,
            )
            .await?;
        if status.is_success() {
            let chunk: LogResponse = serde_json::from_slice(&body)
                .map_err(|e| UiError::internal(format!("a log came back unreadable: {e}")))?;
            follow = format!(
                "/dags/{}/runs/{}/tasks/{}/{}/logs/{shown_try}?token={}",
                enc(dag_id),
                enc(run_id),
                enc(&ti.task_id),
                ti.map_index,
                enc(chunk.continuation_token.as_deref().unwrap_or("0"))
            );
            log = Some(chunk.content);
        } else {
            let problem: Option<weir_api::Problem> = serde_json::from_slice(&body).ok();
            log_problem = Some(
                problem
                    .and_then(|p| p.detail)
                    .unwrap_or_else(|| format!("the log cannot be read ({status})")),
            );
        }
    }
    let (status, body) = api
        .raw(Method::GET, &format!("{base}/xcomEntries?{map_q}"), None)
        .await?;
    // Readers of the team's logs only; for others the section says so.
    let xcoms = if status.is_success() {
        let list: XComCollection = serde_json::from_slice(&body)
            .map_err(|e| UiError::internal(format!("XComs came back unreadable: {e}")))?;
        let mut values = Vec::new();
        for entry in list.xcom_entries.iter().take(20) {
            let one: serde_json::Value = api
                .get(&format!("{base}/xcomEntries/{}?{map_q}", enc(&entry.key)))
                .await?;
            let value = match one.get("value") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => pretty(other),
                None => String::new(),
            };
            values.push((entry.key.clone(), value));
        }
        Some(values)
    } else {
        None
    };
    let params: [(&str, &str); 3] = [
        ("dag_id", dag_id),
        ("dag_run_id", run_id),
        ("task_id", ti.task_id.as_str()),
    ];
    let can_clear = api
        .allows(
            Method::POST,
            "/dags/{dag_id}/clearTaskInstances",
            &params[..1],
        )
        .await;
    let can_mark = api
        .allows(
            Method::PATCH,
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
            &params,
        )
        .await;
    let secret: std::collections::HashSet<&String> = tries.secret_env_names.iter().collect();
    let state = ti.state().to_string();
    Ok(TiPanel {
        task_id: ti.task_id.clone(),
        map_index: ti.map_index,
        symbol: state_symbol(&state),
        state,
        try_number: ti.try_number,
        command: ti
            .rendered_fields
            .get("command")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string(),
        env_names: tries
            .env_names
            .iter()
            .map(|n| (n.clone(), secret.contains(n)))
            .collect(),
        tries: try_rows,
        shown_try,
        log,
        log_problem,
        follow,
        xcoms,
        note: ti.note.clone().unwrap_or_default(),
        can_clear,
        can_mark,
        action_base: format!(
            "/dags/{}/runs/{}/tasks/{}/{}",
            enc(dag_id),
            enc(run_id),
            enc(&ti.task_id),
            ti.map_index
        ),
    })
}
