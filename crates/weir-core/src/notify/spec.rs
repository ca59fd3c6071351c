//! `notify:` and `deadline:` as DAG files write them, and their reading with located
//! diagnostics.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::event::NotifyEvent;
use crate::spec::diagnostic::Diagnostic;
use crate::spec::model::HumanDuration;
use crate::spec::reader::{self, Diags, MapReader};
use crate::spec::yaml::Node;

/// The channels each event goes to. An event left out is not sent (or, in a task,
/// comes from `defaults`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_retry: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_recovery: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_deadline_miss: Option<Vec<String>>,
}

impl NotifySpec {
    pub fn is_empty(&self) -> bool {
        self == &NotifySpec::default()
    }

    fn slot(&self, event: NotifyEvent) -> &Option<Vec<String>> {
        match event {
            NotifyEvent::Failure => &self.on_failure,
            NotifyEvent::Retry => &self.on_retry,
            NotifyEvent::Success => &self.on_success,
            NotifyEvent::Recovery => &self.on_recovery,
            NotifyEvent::DeadlineMiss => &self.on_deadline_miss,
        }
    }

    /// The channels `event` goes to.
    pub fn channels(&self, event: NotifyEvent) -> &[String] {
        self.slot(event).as_deref().unwrap_or(&[])
    }

    /// A task's own lists, each falling back on `defaults`' list for the same event.
    pub fn over(&self, defaults: Option<&NotifySpec>) -> NotifySpec {
        let pick = |event| {
            self.slot(event)
                .clone()
                .or_else(|| defaults.and_then(|d| d.slot(event).clone()))
        };
        NotifySpec {
            on_failure: pick(NotifyEvent::Failure),
            on_retry: pick(NotifyEvent::Retry),
            on_success: pick(NotifyEvent::Success),
            on_recovery: pick(NotifyEvent::Recovery),
            on_deadline_miss: pick(NotifyEvent::DeadlineMiss),
        }
    }

    /// Every channel named, once each.
    pub fn all_channels(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for event in NotifyEvent::ALL {
            for c in self.channels(event) {
                if !out.contains(&c.as_str()) {
                    out.push(c);
                }
            }
        }
        out
    }
}

/// A DAG's `deadline:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunDeadline {
    /// A run should be done this long after its data interval ends.
    pub run_within: HumanDuration,
}

/// A task's `deadline:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskDeadline {
    /// The task should be done this long after its run's data interval ends.
    pub task_within: HumanDuration,
}

/// Reads a `notify:` mapping. `of_run` says it is the DAG's own (about runs), where
/// `on_retry` means nothing.
pub fn read_notify(node: &Node, of_run: bool, diags: &mut Diags) -> Option<NotifySpec> {
    let mut m = MapReader::new(node, "`notify`", diags)?;
    let list = |key: &'static str, m: &mut MapReader<'_>, diags: &mut Diags| {
        let n = m.get(key)?;
        // `on_failure: data-eng-alerts` names one channel: accepted as a list of one.
        if let crate::spec::yaml::Value::Scalar(s) = &n.value
            && !n.is_null()
        {
            return Some(vec![s.text.clone()]);
        }
        reader::string_list(n, &format!("`{key}`"), diags)
            .map(|items| items.into_iter().map(|(s, _)| s).collect())
    };
    let spec = NotifySpec {
        on_failure: list("on_failure", &mut m, diags),
        on_retry: list("on_retry", &mut m, diags),
        on_success: list("on_success", &mut m, diags),
        on_recovery: list("on_recovery", &mut m, diags),
        on_deadline_miss: list("on_deadline_miss", &mut m, diags),
    };
    if of_run
        && spec.on_retry.is_some()
        && let Some(pos) = m.key_pos("on_retry")
    {
        diags.push(
            Diagnostic::error(
                pos,
                "a DAG run is never retried: `on_retry` is about a task's tries",
            )
            .with_help("put it in `defaults: {notify: {on_retry: [...]}}` or in a task's `notify`"),
        );
    }
    m.finish(diags);
    Some(spec)
}

/// Reads a DAG's `deadline: {run_within: 2h}`.
pub fn read_run_deadline(node: &Node, diags: &mut Diags) -> Option<RunDeadline> {
    let mut m = MapReader::new(node, "`deadline`", diags)?;
    let within = m
        .require("run_within", diags)
        .and_then(|n| crate::spec::task::duration(n, "`run_within`", diags));
    m.finish(diags);
    Some(RunDeadline {
        run_within: within?,
    })
}

/// Reads a task's `deadline: {task_within: 30m}`.
pub fn read_task_deadline(node: &Node, diags: &mut Diags) -> Option<TaskDeadline> {
    let mut m = MapReader::new(node, "`deadline`", diags)?;
    let within = m
        .require("task_within", diags)
        .and_then(|n| crate::spec::task::duration(n, "`task_within`", diags));
    m.finish(diags);
    Some(TaskDeadline {
        task_within: within?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn a_task_list_replaces_the_default_list_of_its_event_only() {
        let defaults = NotifySpec {
            on_failure: list(&["team-alerts"]),
            on_retry: list(&["team-alerts"]),
            ..NotifySpec::default()
        };
        let task = NotifySpec {
            on_failure: list(&["pager"]),
            on_retry: list(&[]),
            ..NotifySpec::default()
        };
        let eff = task.over(Some(&defaults));
        assert_eq!(eff.channels(NotifyEvent::Failure), ["pager"]);
        assert!(eff.channels(NotifyEvent::Retry).is_empty());
        assert!(eff.channels(NotifyEvent::Success).is_empty());
        let untouched = NotifySpec::default().over(Some(&defaults));
        assert_eq!(untouched.channels(NotifyEvent::Retry), ["team-alerts"]);
        assert_eq!(untouched.all_channels(), ["team-alerts"]);
    }
}
