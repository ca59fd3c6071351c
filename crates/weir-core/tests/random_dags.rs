//! Property: any acyclic DAG validates, and one back-edge is always reported as a cycle.

use proptest::prelude::*;
use weir_core::spec::load_file;

/// `deps[i]` lists the indices (all < i, so the graph is acyclic) task i depends on.
fn acyclic_graph() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (1usize..=500).prop_flat_map(|n| {
        (0..n)
            .map(|i| {
                if i == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    proptest::collection::btree_set(0..i, 0..=3.min(i))
                        .prop_map(|s| s.into_iter().collect::<Vec<_>>())
                        .boxed()
                }
            })
            .collect::<Vec<_>>()
    })
}

fn render(deps: &[Vec<usize>]) -> String {
    let mut src = String::from("dag: random\nteam: t\ntasks:\n");
    for (i, d) in deps.iter().enumerate() {
        let list: Vec<String> = d.iter().map(|j| format!("t{j}")).collect();
        src.push_str(&format!(
            "  t{i}:\n    shell: echo {{{{ ds }}}} {i}\n    depends_on: [{}]\n",
            list.join(", ")
        ));
    }
    src
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn acyclic_dags_validate_and_a_back_edge_is_a_cycle(deps in acyclic_graph(), pick in any::<prop::sample::Index>()) {
        let report = load_file(&render(&deps));
        prop_assert!(!report.has_errors(), "{:?}", report.diagnostics);
        prop_assert_eq!(report.dags[0].tasks.len(), deps.len());

        // Take a task with an upstream task; make that upstream depend on it.
        let with_upstream: Vec<usize> = (0..deps.len()).filter(|&i| !deps[i].is_empty()).collect();
        if with_upstream.is_empty() {
            // A lone task depending on itself is the only loop possible.
            let mut looped = deps.clone();
            looped[0].push(0);
            let report = load_file(&render(&looped));
            prop_assert!(report.diagnostics.iter().any(|d| d.message == "task `t0` depends on itself"));
            return Ok(());
        }
        let down = with_upstream[pick.index(with_upstream.len())];
        let up = deps[down][0];
        let mut looped = deps.clone();
        looped[up].push(down);
        let report = load_file(&render(&looped));
        let cycle = report.diagnostics.iter().find(|d| d.message.starts_with("dependency cycle: "));
        prop_assert!(cycle.is_some(), "no cycle reported: {:?}", report.diagnostics);
        let msg = &cycle.map(|d| d.message.clone()).unwrap_or_default();
        prop_assert!(msg.contains(&format!("t{up} ")) || msg.contains(&format!(" t{up}")), "{}", msg);
        prop_assert!(msg.contains(&format!("t{down}")), "{}", msg);
        prop_assert!(report.dags.is_empty());
    }
}
