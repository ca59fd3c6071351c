//! The task graph of a DAG: upstream/downstream indices, cycles and topological order.
//! Iterative throughout, so a long chain cannot overflow the stack.

use std::collections::{BTreeSet, HashMap};

use super::model::DagSpec;
use crate::ids::TaskId;

/// Tasks as indices in file order, with edges from `depends_on` (unknown ids ignored;
/// the validator reports those).
#[derive(Debug, Clone)]
pub struct TaskGraph {
    pub ids: Vec<TaskId>,
    pub upstream: Vec<Vec<usize>>,
    pub downstream: Vec<Vec<usize>>,
}

impl TaskGraph {
    pub fn new(spec: &DagSpec) -> Self {
        Self::from_edges(
            spec.tasks
                .iter()
                .map(|(id, t)| (id, t.depends_on.as_slice())),
        )
    }

    /// Builds the graph from `(task id, its upstream ids)` pairs.
    pub fn from_edges<'a>(tasks: impl IntoIterator<Item = (&'a TaskId, &'a [TaskId])>) -> Self {
        let tasks: Vec<(&TaskId, &[TaskId])> = tasks.into_iter().collect();
        let index: HashMap<&str, usize> = tasks
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();
        let mut upstream = vec![Vec::new(); tasks.len()];
        let mut downstream = vec![Vec::new(); tasks.len()];
        for (i, (_, deps)) in tasks.iter().enumerate() {
            for dep in deps.iter() {
                if let Some(&j) = index.get(dep.as_str())
                    && !upstream[i].contains(&j)
                {
                    upstream[i].push(j);
                    downstream[j].push(i);
                }
            }
        }
        TaskGraph {
            ids: tasks.iter().map(|(id, _)| (*id).clone()).collect(),
            upstream,
            downstream,
        }
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.ids.iter().position(|t| t == id)
    }

    /// Every dependency cycle, each as the task ids along it, starting and ending with the
    /// same task, following `depends_on` (`[a, b, a]`: a depends on b, b depends on a).
    /// Cycles through the same set of tasks are reported once.
    pub fn cycles(&self) -> Vec<Vec<TaskId>> {
        const WHITE: u8 = 0;
        const GRAY: u8 = 1;
        const BLACK: u8 = 2;
        let n = self.ids.len();
        let mut color = vec![WHITE; n];
        let mut seen: BTreeSet<Vec<usize>> = BTreeSet::new();
        let mut cycles = Vec::new();
        for start in 0..n {
            if color[start] != WHITE {
                continue;
            }
            // (node, next edge to look at); `path` mirrors the gray nodes in order.
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            let mut path: Vec<usize> = vec![start];
            color[start] = GRAY;
            while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
                if let Some(&next) = self.upstream[node].get(*edge) {
                    *edge += 1;
                    match color[next] {
                        WHITE => {
                            color[next] = GRAY;
                            stack.push((next, 0));
                            path.push(next);
                        }
                        GRAY => {
                            let from = path.iter().position(|&p| p == next).unwrap_or(0);
                            let members: Vec<usize> = path[from..].to_vec();
                            let mut key = members.clone();
                            key.sort_unstable();
                            if seen.insert(key) {
                                let mut ids: Vec<TaskId> =
                                    members.iter().map(|&i| self.ids[i].clone()).collect();
                                ids.push(self.ids[next].clone());
                                cycles.push(ids);
                            }
                        }
                        _ => {}
                    }
                } else {
                    color[node] = BLACK;
                    stack.pop();
                    path.pop();
                }
            }
        }
        cycles
    }

    /// Task indices with every task after its upstream tasks; None if there is a cycle.
    pub fn topological_order(&self) -> Option<Vec<usize>> {
        let mut indegree: Vec<usize> = self.upstream.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..self.ids.len())
            .filter(|&i| indegree[i] == 0)
            .rev()
            .collect();
        let mut order = Vec::with_capacity(self.ids.len());
        while let Some(i) = ready.pop() {
            order.push(i);
            for &d in self.downstream[i].iter().rev() {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    ready.push(d);
                }
            }
        }
        (order.len() == self.ids.len()).then_some(order)
    }

    /// All tasks `i` transitively depends on.
    pub fn ancestors(&self, i: usize) -> BTreeSet<usize> {
        self.reach(i, &self.upstream)
    }

    /// All tasks that transitively depend on `i`.
    pub fn descendants(&self, i: usize) -> BTreeSet<usize> {
        self.reach(i, &self.downstream)
    }

    fn reach(&self, i: usize, edges: &[Vec<usize>]) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let mut todo = edges.get(i).cloned().unwrap_or_default();
        while let Some(j) = todo.pop() {
            if out.insert(j) {
                todo.extend(edges[j].iter().copied());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> TaskId {
        TaskId::new(s).unwrap()
    }

    fn graph(edges: &[(&'static str, &'static [&'static str])]) -> TaskGraph {
        let edges: Vec<(TaskId, Vec<TaskId>)> = edges
            .iter()
            .map(|(t, deps)| (id(t), deps.iter().map(|d| id(d)).collect()))
            .collect();
        TaskGraph::from_edges(edges.iter().map(|(t, deps)| (t, deps.as_slice())))
    }

    #[test]
    fn finds_the_whole_cycle() {
        let g = graph(&[("a", &["c"]), ("b", &["a"]), ("c", &["b"]), ("d", &["a"])]);
        assert_eq!(g.cycles(), vec![vec!["a", "c", "b", "a"]]);
        assert!(g.topological_order().is_none());
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let g = graph(&[("a", &["a"])]);
        assert_eq!(g.cycles(), vec![vec!["a", "a"]]);
    }

    #[test]
    fn orders_and_reaches() {
        let g = graph(&[
            ("load", &["transform"]),
            ("extract", &[]),
            ("transform", &["extract"]),
        ]);
        assert!(g.cycles().is_empty());
        let order: Vec<&str> = g
            .topological_order()
            .unwrap()
            .iter()
            .map(|&i| g.ids[i].as_str())
            .collect();
        assert_eq!(order, ["extract", "transform", "load"]);
        let load = g.index_of("load").unwrap();
        assert_eq!(g.ancestors(load).len(), 2);
        assert_eq!(g.descendants(g.index_of("extract").unwrap()).len(), 2);
    }

    #[test]
    fn a_long_chain_does_not_overflow() {
        let ids: Vec<TaskId> = (0..100_000).map(|i| id(&format!("t{i}"))).collect();
        let deps: Vec<Vec<TaskId>> = (0..100_000)
            .map(|i| {
                if i == 0 {
                    vec![]
                } else {
                    vec![id(&format!("t{}", i - 1))]
                }
            })
            .collect();
        let g = TaskGraph::from_edges(ids.iter().zip(deps.iter().map(Vec::as_slice)));
        assert!(g.cycles().is_empty());
        assert_eq!(g.topological_order().map(|o| o.len()), Some(100_000));
    }
}
