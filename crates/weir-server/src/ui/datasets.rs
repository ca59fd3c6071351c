//! `/datasets`: how teams depend on each other's data — every dataset with the team that
//! owns its prefix, the tasks that produce it and the DAGs that wait for it (each a link),
//! how many events it has had and when it last changed. Searched by URI pattern, through
//! `GET /api/v1/datasets`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::Query;
use axum::response::Html;
use weir_api::DatasetCollection;

use super::UiError;
use super::api::{Api, enc};
use super::layout::{Chrome, when};

pub struct DatasetRow {
    pub uri: String,
    pub owner: String,
    /// (DAG, task) pairs.
    pub producers: Vec<(String, String)>,
    pub consumers: Vec<String>,
    pub events: i64,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "datasets.html")]
struct DatasetsPage {
    chrome: Chrome,
    search: String,
    rows: Vec<DatasetRow>,
    total: i64,
}

/// `GET /datasets?search=`.
pub async fn list(
    api: Api,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, UiError> {
    let search = query
        .get("search")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut uri = "/api/v1/datasets?limit=500".to_string();
    if !search.is_empty() {
        uri.push_str(&format!("&uri_pattern={}", enc(&search)));
    }
    let list: DatasetCollection = api.get(&uri).await?;
    let rows = list
        .datasets
        .into_iter()
        .map(|d| DatasetRow {
            owner: d.owner_team.unwrap_or_default(),
            producers: d
                .producing_tasks
                .into_iter()
                .map(|p| (p.dag_id, p.task_id))
                .collect(),
            consumers: d.consuming_dags.into_iter().map(|c| c.dag_id).collect(),
            events: d.events,
            updated: when(Some(d.updated_at)),
            uri: d.uri,
        })
        .collect();
    let page = DatasetsPage {
        chrome: Chrome::new(&api, "Datasets", "datasets"),
        search,
        rows,
        total: list.total_entries,
    };
    Ok(Html(page.render()?))
}
