//! `/`: the DAG list — every team's DAGs, with search, team, tag and paused filters, each
//! DAG's owner team, schedule, next run and its last runs as small squares, and a banner
//! when DAG files fail to import.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::Query;
use axum::http::Method;
use axum::response::Html;
use weir_api::{DagCollection, ImportErrorCollection};
use weir_core::ids::DagId;

use super::UiError;
use super::api::{Api, enc};
use super::layout::{Chrome, schedule, state_symbol, when};

/// DAGs on one page of the list.
const PAGE: usize = 100;
/// Recent runs shown per DAG.
const RECENT_RUNS: i64 = 10;

pub struct RunSquare {
    pub run_id: String,
    pub state: String,
    pub symbol: &'static str,
}

pub struct DagRow {
    pub dag_id: String,
    pub description: String,
    pub team: String,
    pub schedule: String,
    pub next_run: String,
    pub paused: bool,
    pub tags: Vec<String>,
    pub runs: Vec<RunSquare>,
    pub can_pause: bool,
}

#[derive(Template)]
#[template(path = "dags.html")]
struct DagsPage {
    chrome: Chrome,
    rows: Vec<DagRow>,
    total: usize,
    search: String,
    team: String,
    tag: String,
    paused: String,
    teams: Vec<String>,
    import_errors: i64,
    prev: Option<String>,
    next: Option<String>,
}

/// `GET /?search=&team=&tag=&paused=all|active|paused&offset=`.
pub async fn list(
    api: Api,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, UiError> {
    let search = query
        .get("search")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let team = query.get("team").cloned().unwrap_or_default();
    let tag = query
        .get("tag")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let paused = query.get("paused").cloned().unwrap_or_else(|| "all".into());
    let offset: usize = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);

    // The API's filters; `limit` and `offset` are added per call.
    let mut uri = "/api/v1/dags?only_active=true".to_string();
    if !search.is_empty() {
        uri.push_str(&format!("&dag_id_pattern={}", enc(&search)));
    }
    if !tag.is_empty() {
        uri.push_str(&format!("&tags={}", enc(&tag)));
    }
    match paused.as_str() {
        "paused" => uri.push_str("&paused=true"),
        "active" => uri.push_str("&paused=false"),
        _ => {}
    }
    // Without a team filter the API pages; with one, the page is cut from all the
    // matching DAGs (the API has no team filter).
    let (shown, total) = if team.is_empty() {
        let page: DagCollection = api
            .get(&format!("{uri}&limit={PAGE}&offset={offset}"))
            .await?;
        (page.dags, usize::try_from(page.total_entries).unwrap_or(0))
    } else {
        let mut dags = Vec::new();
        loop {
            let page: DagCollection = api
                .get(&format!("{uri}&limit=1000&offset={}", dags.len()))
                .await?;
            let done = page.dags.len() < 1000;
            dags.extend(page.dags);
            if done {
                break;
            }
        }
        dags.retain(|d| d.team.as_deref() == Some(team.as_str()));
        let total = dags.len();
        (
            dags.into_iter().skip(offset).take(PAGE).collect::<Vec<_>>(),
            total,
        )
    };
    let teams: Vec<String> = api
        .state
        .platform
        .teams
        .iter()
        .map(|t| t.name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let ids: Vec<DagId> = shown
        .iter()
        .filter_map(|d| DagId::new(&d.dag_id).ok())
        .collect();
    // The one direct store read of the UI: runs are visible to everyone signed in, and
    // one query serves the page where the API would take one call per DAG.
    let mut recent: HashMap<String, Vec<RunSquare>> = HashMap::new();
    for run in api.state.store().recent_dag_runs(&ids, RECENT_RUNS).await? {
        let state = run.state.to_string();
        recent
            .entry(run.dag_id.to_string())
            .or_default()
            .push(RunSquare {
                run_id: run.run_id.to_string(),
                symbol: state_symbol(&state),
                state,
            });
    }
    // Whether this user may pause a DAG depends only on its team.
    let mut may_pause: HashMap<Option<String>, bool> = HashMap::new();
    let mut rows = Vec::with_capacity(shown.len());
    for dag in shown {
        let can_pause = match may_pause.get(&dag.team) {
            Some(allowed) => *allowed,
            None => {
                let allowed = api
                    .allows(Method::PATCH, "/dags/{dag_id}", &[("dag_id", &dag.dag_id)])
                    .await;
                may_pause.insert(dag.team.clone(), allowed);
                allowed
            }
        };
        let mut runs = recent.remove(&dag.dag_id).unwrap_or_default();
        runs.reverse();
        rows.push(DagRow {
            description: dag.description.clone().unwrap_or_default(),
            team: dag.team.clone().unwrap_or_default(),
            schedule: schedule(&dag),
            next_run: when(dag.next_dagrun),
            paused: dag.is_paused,
            tags: dag.tags.iter().map(|t| t.name.clone()).collect(),
            runs,
            can_pause,
            dag_id: dag.dag_id,
        });
    }
    let errors: ImportErrorCollection = api.get("/api/v1/importErrors?limit=1").await?;
    let link = |offset: usize| {
        format!(
            "/?search={}&team={}&tag={}&paused={}&offset={offset}",
            enc(&search),
            enc(&team),
            enc(&tag),
            enc(&paused)
        )
    };
    let page = DagsPage {
        chrome: Chrome::new(&api, "DAGs", "dags"),
        prev: (offset > 0).then(|| link(offset.saturating_sub(PAGE))),
        next: (offset + PAGE < total).then(|| link(offset + PAGE)),
        rows,
        total,
        search,
        team,
        tag,
        paused,
        teams,
        import_errors: errors.total_entries,
    };
    Ok(Html(page.render()?))
}
