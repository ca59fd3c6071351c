//! The scheduler's brain for one DAG run: given the states of its task instances, which
//! instances become scheduled, skipped or upstream_failed, which mapped tasks are ready
//! to fan out, and whether the run is finished. Pure: the engine performs the result.

use std::collections::HashMap;

use crate::ids::{MapIndex, TaskId, UNMAPPED};
use crate::spec::DagSpec;
use crate::spec::graph::TaskGraph;
use crate::state::{DagRunState, TaskState};
use crate::trigger_rule::{TriggerDecision, UpstreamSummary};

/// A task instance as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiView {
    pub task_id: TaskId,
    pub map_index: MapIndex,
    pub state: TaskState,
}

/// What to do with a run now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunPlan {
    /// Instances to move out of `none`, in dependency order.
    pub set_state: Vec<(TaskId, MapIndex, TaskState)>,
    /// Mapped tasks whose upstream allows them to run: resolve `for_each` and create
    /// one instance per item (an empty list skips the task).
    pub expand: Vec<TaskId>,
    /// Set when every instance has finished.
    pub run_state: Option<DagRunState>,
}

/// Plans one run. Decisions cascade within one call: a task marked upstream_failed
/// makes its own downstream decide in the same plan.
pub fn plan_run(spec: &DagSpec, graph: &TaskGraph, tis: &[TiView]) -> RunPlan {
    let mut plan = RunPlan::default();
    let mut by_task: HashMap<&str, Vec<(MapIndex, TaskState)>> = HashMap::new();
    for ti in tis {
        by_task
            .entry(ti.task_id.as_str())
            .or_default()
            .push((ti.map_index, ti.state));
    }
    let order = graph
        .topological_order()
        .unwrap_or_else(|| (0..graph.ids.len()).collect());
    for i in order {
        let task_id = &graph.ids[i];
        let Some(task) = spec.tasks.get(task_id) else {
            continue;
        };
        let summary = summarize(graph, i, &by_task);
        let rule = spec.effective(task).trigger_rule;
        let Some(instances) = by_task.get(task_id.as_str()).cloned() else {
            continue;
        };
        for (map_index, state) in instances {
            if state != TaskState::None {
                continue;
            }
            let decided = match rule.evaluate(&summary) {
                TriggerDecision::Wait => continue,
                TriggerDecision::Run if task.for_each.is_some() && map_index == UNMAPPED => {
                    if !plan.expand.contains(task_id) {
                        plan.expand.push(task_id.clone());
                    }
                    continue;
                }
                TriggerDecision::Run => TaskState::Scheduled,
                TriggerDecision::Skip => TaskState::Skipped,
                TriggerDecision::UpstreamFailed => TaskState::UpstreamFailed,
            };
            plan.set_state.push((task_id.clone(), map_index, decided));
            if let Some(list) = by_task.get_mut(task_id.as_str())
                && let Some(entry) = list.iter_mut().find(|(m, _)| *m == map_index)
            {
                entry.1 = decided;
            }
        }
    }
    plan.run_state = run_outcome(graph, &by_task);
    plan
}

fn summarize(
    graph: &TaskGraph,
    i: usize,
    by_task: &HashMap<&str, Vec<(MapIndex, TaskState)>>,
) -> UpstreamSummary {
    let mut s = UpstreamSummary::default();
    for &u in &graph.upstream[i] {
        for (_, state) in by_task
            .get(graph.ids[u].as_str())
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            s.total += 1;
            match state {
                TaskState::Success => s.success += 1,
                TaskState::Skipped => s.skipped += 1,
                TaskState::Failed => s.failed += 1,
                TaskState::UpstreamFailed => s.upstream_failed += 1,
                _ => {}
            }
            if state.is_finished() {
                s.done += 1;
            }
        }
    }
    s
}

/// A run is finished when every instance is; it failed if any leaf task (one nothing
/// depends on) failed or was upstream_failed, as in Airflow.
fn run_outcome(
    graph: &TaskGraph,
    by_task: &HashMap<&str, Vec<(MapIndex, TaskState)>>,
) -> Option<DagRunState> {
    let all_finished = by_task.values().flatten().all(|(_, s)| s.is_finished());
    if !all_finished {
        return None;
    }
    let leaf_failed = (0..graph.ids.len())
        .filter(|&i| graph.downstream[i].is_empty())
        .any(|i| {
            by_task
                .get(graph.ids[i].as_str())
                .is_some_and(|v| v.iter().any(|(_, s)| s.is_failure()))
        });
    Some(if leaf_failed {
        DagRunState::Failed
    } else {
        DagRunState::Success
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load_file;

    fn spec(src: &str) -> (DagSpec, TaskGraph) {
        let report = load_file(src);
        assert!(!report.has_errors(), "{:?}", report.diagnostics);
        let spec = report.dags.into_iter().next().unwrap();
        let graph = TaskGraph::new(&spec);
        (spec, graph)
    }

    fn id(task: &str) -> TaskId {
        TaskId::new(task).unwrap()
    }

    fn ti(task: &str, map_index: MapIndex, state: TaskState) -> TiView {
        TiView {
            task_id: id(task),
            map_index,
            state,
        }
    }

    const CHAIN: &str = "dag: d\nteam: t\ntasks:\n  a: {shell: x}\n  b: {shell: x, depends_on: [a]}\n  c: {shell: x, depends_on: [b]}\n  done: {noop: {}, depends_on: [c], trigger_rule: all_done}\n";

    #[test]
    fn roots_are_scheduled_first() {
        let (s, g) = spec(CHAIN);
        let plan = plan_run(
            &s,
            &g,
            &[
                ti("a", -1, TaskState::None),
                ti("b", -1, TaskState::None),
                ti("c", -1, TaskState::None),
                ti("done", -1, TaskState::None),
            ],
        );
        assert_eq!(plan.set_state, vec![(id("a"), -1, TaskState::Scheduled)]);
        assert_eq!(plan.run_state, None);
    }

    #[test]
    fn failure_cascades_and_all_done_still_runs() {
        let (s, g) = spec(CHAIN);
        let plan = plan_run(
            &s,
            &g,
            &[
                ti("a", -1, TaskState::Failed),
                ti("b", -1, TaskState::None),
                ti("c", -1, TaskState::None),
                ti("done", -1, TaskState::None),
            ],
        );
        assert_eq!(
            plan.set_state,
            vec![
                (id("b"), -1, TaskState::UpstreamFailed),
                (id("c"), -1, TaskState::UpstreamFailed),
                (id("done"), -1, TaskState::Scheduled),
            ]
        );
    }

    #[test]
    fn run_outcome_follows_the_leaves() {
        let (s, g) = spec(CHAIN);
        let finished = |last: TaskState| {
            plan_run(
                &s,
                &g,
                &[
                    ti("a", -1, TaskState::Failed),
                    ti("b", -1, TaskState::UpstreamFailed),
                    ti("c", -1, TaskState::UpstreamFailed),
                    ti("done", -1, last),
                ],
            )
            .run_state
        };
        // The leaf `done` succeeded: Airflow counts the run as a success.
        assert_eq!(finished(TaskState::Success), Some(DagRunState::Success));
        assert_eq!(finished(TaskState::Failed), Some(DagRunState::Failed));
        assert_eq!(finished(TaskState::Running), None);
    }

    #[test]
    fn mapped_tasks_expand_then_downstream_waits_for_every_item() {
        let (s, g) = spec(
            "dag: d\nteam: t\ntasks:\n  list: {shell: x}\n  each: {shell: \"echo {{ item }}\", depends_on: [list], for_each: \"{{ ti.xcom_pull('list') }}\"}\n  after: {shell: x, depends_on: [each]}\n",
        );
        let plan = plan_run(
            &s,
            &g,
            &[
                ti("list", -1, TaskState::Success),
                ti("each", -1, TaskState::None),
                ti("after", -1, TaskState::None),
            ],
        );
        assert_eq!(plan.expand, vec![id("each")]);
        assert!(plan.set_state.is_empty());
        let plan = plan_run(
            &s,
            &g,
            &[
                ti("list", -1, TaskState::Success),
                ti("each", 0, TaskState::Success),
                ti("each", 1, TaskState::Running),
                ti("after", -1, TaskState::None),
            ],
        );
        assert!(plan.set_state.is_empty(), "{plan:?}");
        let plan = plan_run(
            &s,
            &g,
            &[
                ti("list", -1, TaskState::Success),
                ti("each", 0, TaskState::Success),
                ti("each", 1, TaskState::Success),
                ti("after", -1, TaskState::None),
            ],
        );
        assert_eq!(
            plan.set_state,
            vec![(id("after"), -1, TaskState::Scheduled)]
        );
        // An empty list skips the mapped task (the engine marks it) and so its downstream.
        let plan = plan_run(
            &s,
            &g,
            &[
                ti("list", -1, TaskState::Success),
                ti("each", -1, TaskState::Skipped),
                ti("after", -1, TaskState::None),
            ],
        );
        assert_eq!(plan.set_state, vec![(id("after"), -1, TaskState::Skipped)]);
        assert_eq!(plan.run_state, Some(DagRunState::Success));
    }
}
