//! What changed between two versions of a DAG, in the terms a reviewer cares about:
//! tasks, schedule, production flag, images, resources, secrets and connections.
//!
//! Tasks and the DAG are compared through their stored JSON (the `DagSpec` contract),
//! so a field added to the model later shows up here without code. Every list is sorted
//! and deduplicated: the same two versions always give the same summary.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::spec::model::{DagSpec, DatasetsSpec, ScheduleSpec, TaskKind, TaskSpec};

/// The semantic summary of a change between two DAG versions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ChangeSummary {
    pub tasks_added: Vec<String>,
    pub tasks_removed: Vec<String>,
    /// Tasks in both versions that differ, with the keys that differ.
    pub tasks_changed: Vec<TaskChange>,
    /// Only when the schedule differs.
    pub schedule: Option<FieldChange>,
    /// Only when the production flag differs.
    pub production: Option<FieldChange>,
    /// Container images, and job definitions as `job:NAME`.
    pub images_added: Vec<String>,
    pub images_removed: Vec<String>,
    /// Tasks in both versions whose `resources` (task or container) differ.
    pub resources_changed: Vec<String>,
    /// Secrets the tasks refer to, as written (`NAME` or `team/NAME`).
    pub secrets_added: Vec<String>,
    pub secrets_removed: Vec<String>,
    /// Connections the tasks use: `connections`, and a `sql` or `http` task's
    /// `connection`.
    pub connections_added: Vec<String>,
    pub connections_removed: Vec<String>,
    /// The DAG's other keys that differ (description, tags, params, defaults, …).
    pub other_fields: Vec<String>,
}

/// A task in both versions whose definition differs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct TaskChange {
    pub task: String,
    /// The task's keys whose values differ, sorted (a task that changes kind lists both
    /// kinds, e.g. `container` and `shell`).
    pub fields: Vec<String>,
}

/// A value before and after; `None` where it is not set (or, for a brand-new DAG, where
/// there was nothing before).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// DAG keys with a field of their own in [`ChangeSummary`].
const SUMMARIZED_KEYS: [&str; 3] = ["tasks", "schedule", "production"];

/// Most names the headline lists in one place before it counts the rest.
const HEADLINE_NAMES: usize = 3;

/// What changed from `old` to `new`. `old = None` is a brand-new DAG: it is compared
/// with an empty DAG of the same id and team, so every task, image, secret and
/// connection is added, and of its other keys only those its file sets to something
/// else than the default are listed.
pub fn summarize(old: Option<&DagSpec>, new: &DagSpec) -> ChangeSummary {
    let blank;
    let (old, brand_new) = match old {
        Some(old) => (old, false),
        None => {
            blank = empty_like(new);
            (&blank, true)
        }
    };

    let mut tasks_changed = Vec::new();
    let mut resources_changed = Vec::new();
    for (id, new_task) in &new.tasks {
        let Some(old_task) = old.tasks.get(id) else {
            continue;
        };
        let fields = changed_keys(&json(old_task), &json(new_task), &[]);
        if !fields.is_empty() {
            tasks_changed.push(TaskChange {
                task: id.to_string(),
                fields,
            });
        }
        if resources(old_task) != resources(new_task) {
            resources_changed.push(id.to_string());
        }
    }
    tasks_changed.sort_by(|a, b| a.task.cmp(&b.task));
    resources_changed.sort();

    let schedule = (old.schedule != new.schedule).then(|| FieldChange {
        from: old.schedule.as_ref().map(schedule_text),
        to: new.schedule.as_ref().map(schedule_text),
    });
    // A new DAG that is no production DAG changed nothing about production.
    let production = (old.production != new.production).then(|| FieldChange {
        from: (!brand_new).then(|| old.production.to_string()),
        to: Some(new.production.to_string()),
    });

    let task_ids = |spec: &DagSpec| -> BTreeSet<String> {
        spec.tasks.keys().map(ToString::to_string).collect()
    };
    let (old_ids, new_ids) = (task_ids(old), task_ids(new));
    let (old_images, new_images) = (images(old), images(new));
    let (old_secrets, new_secrets) = (secrets(old), secrets(new));
    let (old_conns, new_conns) = (connections(old), connections(new));
    ChangeSummary {
        tasks_added: only_in(&new_ids, &old_ids),
        tasks_removed: only_in(&old_ids, &new_ids),
        tasks_changed,
        schedule,
        production,
        images_added: only_in(&new_images, &old_images),
        images_removed: only_in(&old_images, &new_images),
        resources_changed,
        secrets_added: only_in(&new_secrets, &old_secrets),
        secrets_removed: only_in(&old_secrets, &new_secrets),
        connections_added: only_in(&new_conns, &old_conns),
        connections_removed: only_in(&old_conns, &new_conns),
        other_fields: changed_keys(&json(old), &json(new), &SUMMARIZED_KEYS),
    }
}

impl ChangeSummary {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == ChangeSummary::default()
    }

    /// The summary as one line, e.g. `2 tasks added, 1 changed; schedule @daily →
    /// @hourly; new image x`, or `no change`.
    pub fn headline(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let counts = [
            (self.tasks_added.len(), "added"),
            (self.tasks_removed.len(), "removed"),
            (self.tasks_changed.len(), "changed"),
        ];
        let tasks: Vec<String> = counts
            .iter()
            .filter(|(n, _)| *n > 0)
            .enumerate()
            .map(|(i, (n, verb))| match (i, n) {
                (0, 1) => format!("1 task {verb}"),
                (0, n) => format!("{n} tasks {verb}"),
                (_, n) => format!("{n} {verb}"),
            })
            .collect();
        if !tasks.is_empty() {
            parts.push(tasks.join(", "));
        }
        if let Some(change) = &self.schedule {
            parts.push(match (&change.from, &change.to) {
                (Some(from), Some(to)) => format!("schedule {from} → {to}"),
                (None, Some(to)) => format!("schedule {to}"),
                (Some(from), None) => format!("schedule {from} removed"),
                (None, None) => "schedule changed".to_string(),
            });
        }
        if let Some(change) = &self.production {
            parts.push(if change.to.as_deref() == Some("true") {
                "now production".to_string()
            } else {
                "no longer production".to_string()
            });
        }
        for (added, removed, one, many) in [
            (&self.images_added, &self.images_removed, "image", "images"),
            (
                &self.secrets_added,
                &self.secrets_removed,
                "secret",
                "secrets",
            ),
            (
                &self.connections_added,
                &self.connections_removed,
                "connection",
                "connections",
            ),
        ] {
            let noun = |n: usize| if n == 1 { one } else { many };
            if !added.is_empty() {
                parts.push(format!("new {} {}", noun(added.len()), names(added)));
            }
            if !removed.is_empty() {
                parts.push(format!(
                    "{} {} dropped",
                    noun(removed.len()),
                    names(removed)
                ));
            }
        }
        if !self.resources_changed.is_empty() {
            parts.push(format!(
                "resources of {} changed",
                names(&self.resources_changed)
            ));
        }
        if !self.other_fields.is_empty() {
            parts.push(format!("{} changed", names(&self.other_fields)));
        }
        if parts.is_empty() {
            return "no change".to_string();
        }
        parts.join("; ")
    }
}

/// `a, b, c`, or `a, b, c and 2 more`.
fn names(items: &[String]) -> String {
    let shown = items[..items.len().min(HEADLINE_NAMES)].join(", ");
    match items.len().saturating_sub(HEADLINE_NAMES) {
        0 => shown,
        rest => format!("{shown} and {rest} more"),
    }
}

/// An empty DAG with `new`'s id and team, every other key at its default: what a
/// brand-new DAG is compared with. The defaults are serde's, so they cannot drift from
/// the model's.
fn empty_like(new: &DagSpec) -> DagSpec {
    let minimal = serde_json::json!({"dag": new.dag, "team": new.team, "tasks": {}});
    serde_json::from_value(minimal).unwrap_or_else(|_| {
        // Unreachable while `dag`, `team` and `tasks` are the model's only required
        // keys; then compare with `new` minus what the summary has fields for.
        let mut blank = new.clone();
        blank.tasks.clear();
        blank.schedule = None;
        blank.production = false;
        blank
    })
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The top-level keys whose values differ between two JSON objects (a key missing on
/// one side differs from any value on the other), except `skip`; sorted.
fn changed_keys(old: &Value, new: &Value, skip: &[&str]) -> Vec<String> {
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| !skip.contains(&k.as_str()) && old.get(*k) != new.get(*k))
        .cloned()
        .collect()
}

/// What is in `a` and not in `b`, sorted.
fn only_in(a: &BTreeSet<String>, b: &BTreeSet<String>) -> Vec<String> {
    a.difference(b).cloned().collect()
}

fn schedule_text(schedule: &ScheduleSpec) -> String {
    match schedule {
        ScheduleSpec::Cron(cron) => cron.clone(),
        ScheduleSpec::Datasets(d) => match (&d.cron, &d.datasets) {
            (None, DatasetsSpec::All(uris)) => format!("datasets {}", uris.join(", ")),
            _ => schedule.summary(),
        },
    }
}

/// A task's resources: its own (a `job` override) and its container's, as JSON.
fn resources(task: &TaskSpec) -> (Value, Value) {
    let container = match &task.kind {
        TaskKind::Container(c) => json(&c.resources),
        _ => Value::Null,
    };
    (json(&task.resources), container)
}

fn images(spec: &DagSpec) -> BTreeSet<String> {
    spec.tasks
        .values()
        .filter_map(|t| match &t.kind {
            TaskKind::Container(c) => Some(c.image.clone()),
            TaskKind::Job(name) => Some(format!("job:{name}")),
            _ => None,
        })
        .collect()
}

/// Secret references of every task, task-level and container-level. (The DAG's
/// `defaults` hold no secrets.)
fn secrets(spec: &DagSpec) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for task in spec.tasks.values() {
        out.extend(task.secrets.values().cloned());
        if let TaskKind::Container(c) = &task.kind {
            out.extend(c.secrets.values().cloned());
        }
    }
    out
}

fn connections(spec: &DagSpec) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for task in spec.tasks.values() {
        out.extend(task.connections.iter().cloned());
        match &task.kind {
            TaskKind::Sql(sql) => {
                out.insert(sql.connection.clone());
            }
            TaskKind::Http(http) => out.extend(http.connection.clone()),
            // A sensor's query or request uses a connection as the task kinds do.
            TaskKind::Sensor(sensor) => {
                out.extend(sensor.sql.as_ref().map(|sql| sql.connection.clone()));
                out.extend(sensor.http.as_ref().and_then(|h| h.connection.clone()));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
