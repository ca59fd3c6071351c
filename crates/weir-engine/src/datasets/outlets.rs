//! A successful try's outlets, rendered with the try's context, as the dataset events
//! its end records.

use serde_json::Value;
use weir_core::dataset::{check_uri, outlet_problem};
use weir_core::ids::TryKey;
use weir_core::spec::model::TaskSpec;
use weir_store::{EventSource, NewDatasetEvent, TaskInstanceRecord};

use crate::dag_cache::DagVersion;
use crate::error::Result;
use crate::shared::Shared;

/// The events of `task`'s outlets for try `key`, and a line for the try's log about
/// each outlet that cannot be one (it renders to no URI, or into another team's prefix).
/// `xcom` is the try's return value: its `dataset_extra` object, if any, is each event's
/// `extra`.
pub(crate) async fn outlet_events(
    shared: &Shared,
    key: &TryKey,
    ti: &TaskInstanceRecord,
    version: &DagVersion,
    task: &TaskSpec,
    xcom: Option<&Value>,
) -> Result<(Vec<NewDatasetEvent>, Vec<String>)> {
    if task.outlets.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let Some(run) = shared.store.get_dag_run(&key.dag_id, &key.run_id).await? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let ctx = match crate::prepare::try_context(shared, &run, version, ti, key.try_number).await? {
        Ok(ctx) => ctx,
        Err((why, _)) => {
            return Ok((Vec::new(), vec![format!("no dataset events: {why}")]));
        }
    };
    let extra = xcom
        .and_then(|x| x.get("dataset_extra"))
        .filter(|e| e.is_object())
        .cloned();
    let team = version.spec.team.as_str();
    let now = shared.now();
    let mut events = Vec::new();
    let mut remarks = Vec::new();
    for outlet in &task.outlets {
        let uri = match weir_core::template::render(outlet, &ctx) {
            Ok(uri) => uri,
            Err(e) => {
                remarks.push(format!("outlet `{outlet}` not recorded: {}", e.message));
                continue;
            }
        };
        let problem = check_uri(&uri)
            .err()
            .or_else(|| outlet_problem(team, &uri, &shared.platform.teams));
        if let Some(problem) = problem {
            remarks.push(format!("outlet `{uri}` not recorded: {problem}"));
            continue;
        }
        remarks.push(format!("dataset event: {uri}"));
        events.push(NewDatasetEvent {
            uri,
            extra: extra.clone(),
            team: team.to_string(),
            source: Some(EventSource {
                dag_id: key.dag_id.clone(),
                run_id: key.run_id.clone(),
                task_id: key.task_id.to_string(),
                map_index: key.map_index,
                try_number: key.try_number,
            }),
            posted_by: None,
            created_at: now,
        });
    }
    Ok((events, remarks))
}
