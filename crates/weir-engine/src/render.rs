//! Building a try's template context from the store, and resolving `for_each` lists.
//!
//! Only what the task's templates mention is fetched (variables, XComs, the previous
//! successful run), so a plain `echo` costs no extra queries.

use std::collections::BTreeMap;

use serde_json::Value;
use weir_core::ids::UNMAPPED;
use weir_core::spec::model::{ForEach, TaskSpec};
use weir_core::template::{self, TemplateContext};
use weir_store::{DagRunRecord, Store};

use crate::dag_cache::DagVersion;
use crate::error::Result;

/// Most instances one `for_each` may fan out to.
pub const MAX_MAP_LENGTH: usize = 10_000;

/// A task's definition as text, to see what its templates mention (any kind, any
/// field: shell, container command, env, for_each).
fn task_text(task: &TaskSpec) -> String {
    serde_json::to_string(task).unwrap_or_default()
}

/// The context for rendering `task_id` of `run`, without the `item` (see [`for_each_items`]).
pub async fn context(
    store: &Store,
    run: &DagRunRecord,
    version: &DagVersion,
    task_id: &str,
    map_index: i32,
    try_number: u32,
) -> Result<TemplateContext> {
    let spec = &version.spec;
    let mut ctx = TemplateContext::new(
        run.dag_id.as_str(),
        run.run_id.as_str(),
        task_id,
        run.logical_date,
    );
    ctx.map_index = u32::try_from(map_index).ok();
    ctx.try_number = try_number;
    ctx.data_interval_start = run.data_interval_start.unwrap_or(run.logical_date);
    ctx.data_interval_end = run.data_interval_end.unwrap_or(run.logical_date);
    ctx.params = spec.params.clone();
    // A trigger's conf overrides params of the same name, as in Airflow.
    if let Value::Object(conf) = &run.conf {
        for (k, v) in conf {
            ctx.params.insert(k.clone(), v.clone());
        }
    }
    ctx.conf = run.conf.clone();

    let text = spec.tasks.get(task_id).map(task_text).unwrap_or_default();
    let mentions = |needle: &str| text.contains(needle);
    if mentions("var") {
        // Only the DAG's own team's variables and platform-wide ones: another team's
        // variable reads as not set, the same as one that does not exist.
        for v in store.variables_of_team(&spec.team).await? {
            ctx.variables.insert(v.key, v.value);
        }
    }
    if mentions("xcom_pull") {
        let mut by_task: BTreeMap<String, BTreeMap<String, Vec<(i32, Value)>>> = BTreeMap::new();
        for x in store.list_xcoms(&run.dag_id, &run.run_id, None).await? {
            by_task
                .entry(x.key.task_id.to_string())
                .or_default()
                .entry(x.xcom_key)
                .or_default()
                .push((x.key.map_index, x.value));
        }
        for (task, keys) in by_task {
            let mapped = spec
                .tasks
                .get(task.as_str())
                .is_some_and(|t| t.for_each.is_some());
            let entry = ctx.xcoms.entry(task).or_default();
            for (key, mut values) in keys {
                let value = if mapped {
                    values.sort_by_key(|(m, _)| *m);
                    Value::Array(values.into_iter().map(|(_, v)| v).collect())
                } else {
                    values
                        .into_iter()
                        .find(|(m, _)| *m == UNMAPPED)
                        .map_or(Value::Null, |(_, v)| v)
                };
                entry.insert(key, value);
            }
        }
    }
    if mentions("triggering_dataset_events") {
        for e in store
            .triggering_dataset_events(&run.dag_id, &run.run_id)
            .await?
        {
            let event = serde_json::json!({
                "uri": e.uri,
                "extra": e.extra.unwrap_or_else(|| Value::Object(Default::default())),
                "timestamp": e.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "source_dag_id": e.source_dag_id,
                "source_run_id": e.source_run_id,
                "source_task_id": e.source_task_id,
                "source_map_index": e.source_map_index.unwrap_or(-1),
            });
            if let Value::Array(list) = ctx
                .triggering_dataset_events
                .entry(e.uri)
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                list.push(event);
            }
        }
    }
    if mentions("prev_data_interval")
        && let Some(prev) = store
            .last_successful_run_before(&run.dag_id, run.logical_date)
            .await?
    {
        ctx.prev_data_interval_start_success = prev.data_interval_start;
        ctx.prev_data_interval_end_success = prev.data_interval_end;
    }
    Ok(ctx)
}

/// The items a mapped task fans out over, or why they cannot be had.
pub fn for_each_items(
    task: &TaskSpec,
    ctx: &TemplateContext,
) -> std::result::Result<Vec<Value>, String> {
    let items = match &task.for_each {
        None => return Err("the task has no `for_each`".into()),
        Some(ForEach::Items(items)) => items.clone(),
        Some(ForEach::Template(text)) => match template::render_value(text, ctx) {
            Ok(Value::Array(items)) => items,
            Ok(other) => {
                return Err(format!(
                    "`for_each: {text}` must yield a list, but it yielded {}",
                    short_json(&other)
                ));
            }
            Err(e) => {
                return Err(format!(
                    "`for_each: {text}` could not be evaluated: {}",
                    e.message
                ));
            }
        },
    };
    if items.len() > MAX_MAP_LENGTH {
        return Err(format!(
            "`for_each` yielded {} items; a task may fan out to at most {MAX_MAP_LENGTH}",
            items.len()
        ));
    }
    Ok(items)
}

fn short_json(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}
