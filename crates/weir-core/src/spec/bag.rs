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
                        super::Pos::new(1, 1),
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
