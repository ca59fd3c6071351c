//! Lineage: which DAGs and tasks produce and consume each dataset, as a graph of DAGs
//! and datasets, walked upstream and downstream from one of them to a chosen depth.
//!
//! A dataset node is a name as DAGs write it: an outlet (maybe templated), a schedule's
//! pattern, an inlet or a sensor's dataset. A produced name feeds a consumed one when
//! the consumer's pattern matches it with each template part read as one segment
//! (`s3://lake/revenue/{{ ds }}` feeds `s3://lake/revenue/*`). Depth counts DAGs: the
//! DAGs that consume what the root produces are at depth 1.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::ownership::{owner, static_prefix};
use super::uri::UriPattern;
use crate::platform::Team;

/// What one DAG declares about datasets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DagDatasets {
    pub dag_id: String,
    pub team: String,
    /// (task, outlet) pairs.
    pub outlets: Vec<(String, String)>,
    /// (task, inlet) pairs.
    pub inlets: Vec<(String, String)>,
    /// The schedule's patterns.
    pub schedule: Vec<String>,
    /// (task, dataset) pairs of sensors waiting on a dataset.
    pub sensors: Vec<(String, String)>,
}

/// Where a lineage walk starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    Dataset(String),
    Dag(String),
}

/// How a DAG consumes a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consumption {
    /// Its schedule waits for the dataset.
    Schedule,
    /// A task declares it reads it (`inlets`).
    Inlet,
    /// A sensor task waits for it.
    Sensor,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Producer {
    pub dag_id: String,
    pub task_id: String,
    pub team: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Consumer {
    pub dag_id: String,
    /// The task, for an inlet or a sensor.
    pub task_id: Option<String>,
    pub team: String,
    pub how: Consumption,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageDataset {
    /// The name as DAGs write it.
    pub uri: String,
    /// The team whose `datasets` prefix holds it, if any.
    pub owner_team: Option<String>,
    pub producers: Vec<Producer>,
    pub consumers: Vec<Consumer>,
    /// DAGs away from the root: negative upstream, positive downstream.
    pub depth: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageDag {
    pub dag_id: String,
    pub team: String,
    /// DAGs away from the root: negative upstream, positive downstream.
    pub depth: i32,
}

/// An edge of the graph: `dag:<id>` or `dataset:<uri>` at each end, in the direction
/// data flows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LineageEdge {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    pub datasets: Vec<LineageDataset>,
    pub dags: Vec<LineageDag>,
    pub edges: Vec<LineageEdge>,
}

fn dag_node(id: &str) -> String {
    format!("dag:{id}")
}

fn dataset_node(uri: &str) -> String {
    format!("dataset:{uri}")
}

/// Whether what `produced` names (maybe templated) can be what `consumed` names.
pub fn feeds(produced: &str, consumed: &str) -> bool {
    if produced == consumed {
        return true;
    }
    let Ok(pattern) = UriPattern::parse(consumed) else {
        return false;
    };
    pattern.matches(&placeholder(produced))
}

/// Whether an outlet written as `produced` (maybe templated) can render to `uri`.
pub fn could_produce(produced: &str, uri: &str) -> bool {
    produced == uri
        || UriPattern::parse(&replace_templates(produced, "*")).is_ok_and(|p| p.matches(uri))
}

/// `produced` with each template part (`{{ … }}`, `{% … %}`) read as the segment `x`.
fn placeholder(produced: &str) -> String {
    replace_templates(produced, "x")
}

fn replace_templates(produced: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = produced;
    loop {
        let prefix = static_prefix(rest);
        out.push_str(prefix);
        let after = &rest[prefix.len()..];
        if after.is_empty() {
            return out;
        }
        let close = if after.starts_with("{{") { "}}" } else { "%}" };
        out.push_str(with);
        match after.find(close) {
            Some(end) => rest = &after[end + close.len()..],
            None => return out,
        }
    }
}

/// The lineage around `root`, `depth` DAGs up and down; `None` when the root is no
/// DAG or dataset any DAG declares (a dataset only events named still has a node).
pub fn lineage(
    dags: &[DagDatasets],
    known_uris: &[String],
    teams: &[Team],
    root: &Root,
    depth: u32,
) -> Option<Lineage> {
    // Every dataset name, with its producers and consumers.
    let mut datasets: BTreeMap<String, (BTreeSet<Producer>, BTreeSet<Consumer>)> = BTreeMap::new();
    let mut edges: BTreeSet<LineageEdge> = BTreeSet::new();
    for d in dags {
        for (task, uri) in &d.outlets {
            datasets.entry(uri.clone()).or_default().0.insert(Producer {
                dag_id: d.dag_id.clone(),
                task_id: task.clone(),
                team: d.team.clone(),
            });
            edges.insert(LineageEdge {
                from: dag_node(&d.dag_id),
                to: dataset_node(uri),
            });
        }
        let consumed = d
            .schedule
            .iter()
            .map(|u| (None, u, Consumption::Schedule))
            .chain(
                d.inlets
                    .iter()
                    .map(|(t, u)| (Some(t), u, Consumption::Inlet)),
            )
            .chain(
                d.sensors
                    .iter()
                    .map(|(t, u)| (Some(t), u, Consumption::Sensor)),
            );
        for (task, uri, how) in consumed {
            datasets.entry(uri.clone()).or_default().1.insert(Consumer {
                dag_id: d.dag_id.clone(),
                task_id: task.cloned(),
                team: d.team.clone(),
                how,
            });
            edges.insert(LineageEdge {
                from: dataset_node(uri),
                to: dag_node(&d.dag_id),
            });
        }
    }
    for uri in known_uris {
        datasets.entry(uri.clone()).or_default();
    }
    let names: Vec<String> = datasets.keys().cloned().collect();
    for produced in names.iter().filter(|n| !datasets[*n].0.is_empty()) {
        for consumed in names
            .iter()
            .filter(|n| *n != produced && !datasets[*n].1.is_empty())
        {
            if feeds(produced, consumed) {
                edges.insert(LineageEdge {
                    from: dataset_node(produced),
                    to: dataset_node(consumed),
                });
            }
        }
    }
    let start = match root {
        Root::Dag(id) if dags.iter().any(|d| &d.dag_id == id) => dag_node(id),
        Root::Dataset(uri) if datasets.contains_key(uri) => dataset_node(uri),
        Root::Dataset(uri) => {
            // An exact URI no DAG names as such: the names that match it stand in.
            let node = dataset_node(uri);
            let mut linked = false;
            for name in &names {
                let (producers, consumers) = &datasets[name];
                if !producers.is_empty() && could_produce(name, uri) {
                    edges.insert(LineageEdge {
                        from: dataset_node(name),
                        to: node.clone(),
                    });
                    linked = true;
                }
                if !consumers.is_empty() && feeds(uri, name) {
                    edges.insert(LineageEdge {
                        from: node.clone(),
                        to: dataset_node(name),
                    });
                    linked = true;
                }
            }
            if !linked {
                return None;
            }
            datasets.entry(uri.clone()).or_default();
            node
        }
        Root::Dag(_) => return None,
    };
    let down = walk(&edges, &start, depth, false);
    let up = walk(&edges, &start, depth, true);
    let mut reach: BTreeMap<String, i32> = BTreeMap::new();
    for (node, d) in up {
        reach.insert(node, -d);
    }
    for (node, d) in down {
        let keep = reach.get(&node).is_none_or(|&u| u == 0 || d <= -u);
        if keep {
            reach.insert(node, d);
        }
    }
    let team_of = |id: &str| {
        dags.iter()
            .find(|d| d.dag_id == id)
            .map(|d| d.team.clone())
            .unwrap_or_default()
    };
    let mut out = Lineage {
        datasets: Vec::new(),
        dags: Vec::new(),
        edges: edges
            .into_iter()
            .filter(|e| reach.contains_key(&e.from) && reach.contains_key(&e.to))
            .collect(),
    };
    for (node, d) in &reach {
        if let Some(id) = node.strip_prefix("dag:") {
            out.dags.push(LineageDag {
                dag_id: id.to_string(),
                team: team_of(id),
                depth: *d,
            });
        } else if let Some(uri) = node.strip_prefix("dataset:") {
            let (producers, consumers) = datasets.get(uri).cloned().unwrap_or_default();
            out.datasets.push(LineageDataset {
                uri: uri.to_string(),
                owner_team: owner(static_prefix(uri), teams).map(|t| t.name.clone()),
                producers: producers.into_iter().collect(),
                consumers: consumers.into_iter().collect(),
                depth: *d,
            });
        }
    }
    Some(out)
}

/// Nodes reachable from `start` (following edges, or against them when `upstream`) with
/// the number of DAGs passed to reach each, up to `depth` DAGs.
fn walk(
    edges: &BTreeSet<LineageEdge>,
    start: &str,
    depth: u32,
    upstream: bool,
) -> BTreeMap<String, i32> {
    let depth = i32::try_from(depth).unwrap_or(i32::MAX);
    let mut seen: BTreeMap<String, i32> = BTreeMap::new();
    let mut queue: VecDeque<(String, i32)> = VecDeque::new();
    seen.insert(start.to_string(), 0);
    queue.push_back((start.to_string(), 0));
    while let Some((node, d)) = queue.pop_front() {
        // The root DAG itself is depth 0; a DAG reached later is one more away.
        if node.starts_with("dag:") && node != start && d >= depth {
            continue;
        }
        let next = edges.iter().filter_map(|e| {
            let (from, to) = if upstream {
                (&e.to, &e.from)
            } else {
                (&e.from, &e.to)
            };
            (from == &node).then_some(to)
        });
        for n in next {
            let nd = if n.starts_with("dag:") { d + 1 } else { d };
            if nd > depth || seen.get(n).is_some_and(|&old| old <= nd) {
                continue;
            }
            seen.insert(n.clone(), nd);
            queue.push_back((n.clone(), nd));
        }
    }
    seen
}
