//! The graph: a layered layout of the DAG, left to right as in Airflow. A task's layer is
//! the length of the longest path to it from a task without upstreams; within a layer,
//! tasks are ordered by the mean position of their upstreams (two sweeps), which keeps
//! most edges from crossing without a general-purpose layout engine.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::esc;
use crate::ui::layout::state_symbol;

const NODE_W: f64 = 170.0;
const NODE_H: f64 = 30.0;
const GAP_X: f64 = 60.0;
const GAP_Y: f64 = 14.0;
const PAD: f64 = 10.0;

/// A task placed on the canvas (top-left corner).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub task_id: String,
    pub layer: usize,
    pub x: f64,
    pub y: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub nodes: Vec<Node>,
    /// (upstream index, downstream index) into `nodes`.
    pub edges: Vec<(usize, usize)>,
    pub width: f64,
    pub height: f64,
}

/// Lays out tasks given as (task id, upstream task ids). Unknown upstreams are ignored;
/// a cycle (which a valid DAG never has) is cut where it is met.
pub fn layout(tasks: &[(String, Vec<String>)]) -> Layout {
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    let ups: Vec<Vec<usize>> = tasks
        .iter()
        .map(|(_, up)| {
            up.iter()
                .filter_map(|u| index.get(u.as_str()).copied())
                .collect()
        })
        .collect();
    let mut layer: Vec<Option<usize>> = vec![None; tasks.len()];
    fn depth(
        i: usize,
        ups: &[Vec<usize>],
        layer: &mut [Option<usize>],
        seen: &mut Vec<bool>,
    ) -> usize {
        if let Some(l) = layer[i] {
            return l;
        }
        if seen[i] {
            return 0;
        }
        seen[i] = true;
        let l = ups[i]
            .iter()
            .map(|&u| depth(u, ups, layer, seen) + 1)
            .max()
            .unwrap_or(0);
        layer[i] = Some(l);
        l
    }
    let mut seen = vec![false; tasks.len()];
    for i in 0..tasks.len() {
        depth(i, &ups, &mut layer, &mut seen);
    }
    let layer: Vec<usize> = layer.into_iter().map(Option::unwrap_or_default).collect();
    let mut layers: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, l) in layer.iter().enumerate() {
        layers.entry(*l).or_default().push(i);
    }
    for members in layers.values_mut() {
        members.sort_by(|a, b| tasks[*a].0.cmp(&tasks[*b].0));
    }
    let mut position = vec![0.0f64; tasks.len()];
    let place = |layers: &BTreeMap<usize, Vec<usize>>, position: &mut Vec<f64>| {
        for members in layers.values() {
            for (p, &i) in members.iter().enumerate() {
                position[i] = p as f64;
            }
        }
    };
    place(&layers, &mut position);
    for _ in 0..2 {
        for members in layers.values_mut() {
            let key = |i: usize| -> f64 {
                if ups[i].is_empty() {
                    position[i]
                } else {
                    ups[i].iter().map(|&u| position[u]).sum::<f64>() / ups[i].len() as f64
                }
            };
            members.sort_by(|a, b| {
                key(*a)
                    .total_cmp(&key(*b))
                    .then(tasks[*a].0.cmp(&tasks[*b].0))
            });
            for (p, &i) in members.iter().enumerate() {
                position[i] = p as f64;
            }
        }
    }
    let tallest = layers.values().map(Vec::len).max().unwrap_or(0);
    let nodes = tasks
        .iter()
        .enumerate()
        .map(|(i, (id, _))| Node {
            task_id: id.clone(),
            layer: layer[i],
            x: PAD + layer[i] as f64 * (NODE_W + GAP_X),
            y: PAD + position[i] * (NODE_H + GAP_Y),
        })
        .collect();
    let edges = ups
        .iter()
        .enumerate()
        .flat_map(|(d, us)| us.iter().map(move |&u| (u, d)))
        .collect();
    Layout {
        nodes,
        edges,
        width: 2.0 * PAD + layers.len() as f64 * (NODE_W + GAP_X) - GAP_X,
        height: 2.0 * PAD + tallest as f64 * (NODE_H + GAP_Y) - GAP_Y,
    }
}

/// The SVG of a layout, each task coloured by its state in run `run_id` (`states`),
/// linking to the task instance on the run page.
pub fn svg(
    layout: &Layout,
    dag_id: &str,
    run_id: Option<&str>,
    states: &HashMap<String, String>,
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg id="graph-svg" role="img" aria-label="Graph of {}" viewBox="0 0 {:.0} {:.0}" width="{:.0}" height="{:.0}">"#,
        esc(dag_id),
        layout.width.max(1.0),
        layout.height.max(1.0),
        layout.width.max(1.0),
        layout.height.max(1.0)
    );
    for &(u, d) in &layout.edges {
        let (a, b) = (&layout.nodes[u], &layout.nodes[d]);
        let (x1, y1) = (a.x + NODE_W, a.y + NODE_H / 2.0);
        let (x2, y2) = (b.x, b.y + NODE_H / 2.0);
        let mid = (x1 + x2) / 2.0;
        let _ = write!(
            out,
            r#"<path class="edge" d="M{x1:.1},{y1:.1} C{mid:.1},{y1:.1} {mid:.1},{y2:.1} {x2:.1},{y2:.1}"/>"#
        );
    }
    for node in &layout.nodes {
        let state = states
            .get(&node.task_id)
            .map(String::as_str)
            .unwrap_or("none");
        let label: String = node.task_id.chars().take(22).collect();
        let run_attr = run_id
            .map(|r| format!(r#" data-run-id="{}""#, esc(r)))
            .unwrap_or_default();
        let href = run_id
            .map(|r| {
                format!(
                    "/dags/{}/runs/{}?task={}",
                    esc(dag_id),
                    esc(r),
                    esc(&node.task_id)
                )
            })
            .unwrap_or_else(|| {
                format!("/dags/{}/details#task-{}", esc(dag_id), esc(&node.task_id))
            });
        let _ = write!(
            out,
            r#"<a href="{href}"><g class="node"{run_attr} data-task-id="{id}" data-state="{state}"><title>{id}: {state}</title><rect class="st-{state}" x="{x:.1}" y="{y:.1}" width="{NODE_W}" height="{NODE_H}"/><text class="sym" x="{sx:.1}" y="{ty:.1}">{sym}</text><text x="{tx:.1}" y="{ty:.1}">{label}</text></g></a>"#,
            id = esc(&node.task_id),
            x = node.x,
            y = node.y,
            sx = node.x + 8.0,
            tx = node.x + 24.0,
            ty = node.y + NODE_H / 2.0 + 4.5,
            sym = state_symbol(state),
            label = esc(&label),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, ups: &[&str]) -> (String, Vec<String>) {
        (id.into(), ups.iter().map(|u| u.to_string()).collect())
    }

    #[test]
    fn a_task_sits_one_layer_right_of_its_deepest_upstream() {
        let l = layout(&[
            task("extract", &[]),
            task("clean", &["extract"]),
            task("load", &["extract", "clean"]),
        ]);
        let layer: HashMap<_, _> = l
            .nodes
            .iter()
            .map(|n| (n.task_id.as_str(), n.layer))
            .collect();
        assert_eq!(layer["extract"], 0);
        assert_eq!(layer["clean"], 1);
        assert_eq!(layer["load"], 2);
        assert_eq!(l.edges.len(), 3);
        assert!(l.nodes[2].x > l.nodes[1].x && l.nodes[1].x > l.nodes[0].x);
    }

    #[test]
    fn children_follow_their_parents_order() {
        // b's child sorts before a's child by name, but follows b, which sits below a.
        let l = layout(&[
            task("a", &[]),
            task("b", &[]),
            task("z_of_a", &["a"]),
            task("m_of_b", &["b"]),
        ]);
        let y: HashMap<_, _> = l.nodes.iter().map(|n| (n.task_id.as_str(), n.y)).collect();
        assert!(y["z_of_a"] < y["m_of_b"]);
    }

    #[test]
    fn a_cycle_does_not_hang_the_layout() {
        let l = layout(&[task("a", &["b"]), task("b", &["a"])]);
        assert_eq!(l.nodes.len(), 2);
    }

    #[test]
    fn task_ids_are_escaped_in_the_svg() {
        let l = layout(&[task("<x>", &[])]);
        let svg = svg(&l, "d", Some("r"), &HashMap::new());
        assert!(svg.contains("&lt;x&gt;") && !svg.contains("<x>"));
    }
}
