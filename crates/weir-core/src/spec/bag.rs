//! A DAG bag (Airflow's name): the DAGs of many files, with the checks that span files.

use std::collections::HashMap;

use super::diagnostic::Diagnostic;
use super::{DagSpec, FileReport, load_file};

/// One file's load result.
#[derive(Debug, Clone)]
pub struct BagFile {
    pub path: String,
    pub source: String,
    pub report: FileReport,
}

/// Loads every file (given as path and text) and reports a DAG id defined twice: the
/// first file keeps it, the later one gets an error.
pub fn load_bag(files: Vec<(String, String)>) -> Vec<BagFile> {
    let mut out: Vec<BagFile> = files
        .into_iter()
        .map(|(path, source)| {
            let report = load_file(&source);
            BagFile {
                path,
                source,
                report,
            }
        })
        .collect();
    let mut owner: HashMap<String, String> = HashMap::new();
    for file in &mut out {
        let mut kept: Vec<DagSpec> = Vec::new();
        for dag in std::mem::take(&mut file.report.dags) {
            match owner.get(&dag.dag) {
                Some(first) => file.report.diagnostics.push(
                    Diagnostic::error(
                        super::diagnostic::locate(&file.source, &dag.dag)
                            .unwrap_or(super::Pos::new(1, 1)),
                        format!("DAG `{}` is already defined in {first}", dag.dag),
                    )
                    .with_help("DAG ids must be unique across the DAG folder: rename one of them"),
                ),
                None => {
                    owner.insert(dag.dag.clone(), file.path.clone());
                    kept.push(dag);
                }
            }
        }
        file.report.dags = kept;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dag_id_defined_twice_points_at_the_second_definition() {
        let dag =
            |id: &str| format!("# a comment\ndag: {id}\nteam: t\ntasks:\n  a: {{noop: {{}}}}\n");
        let bag = load_bag(vec![
            ("a.yaml".into(), dag("same")),
            ("b.yaml".into(), dag("same")),
            ("c.yaml".into(), dag("other")),
        ]);
        assert_eq!(bag[0].report.dags.len(), 1);
        assert!(bag[1].report.dags.is_empty());
        let d = &bag[1].report.diagnostics[0];
        assert_eq!((d.pos.line, d.pos.col), (2, 6));
        assert_eq!(d.message, "DAG `same` is already defined in a.yaml");
        assert_eq!(bag[2].report.dags.len(), 1);
    }
}
