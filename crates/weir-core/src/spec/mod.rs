//! The DAG file format: reading YAML into [`model::DagSpec`] with located diagnostics,
//! factories, and the whole-DAG checks.
//!
//! Entry point: [`load_file`]. It never panics and never stops at the first problem:
//! every problem of the file is in the report, and every DAG of the file that has no
//! error of its own is loaded.

pub mod bag;
pub mod dag;
pub mod diagnostic;
pub mod factory;
pub mod graph;
pub mod model;
mod model_sensor;
pub mod policy;
pub mod reader;
mod sensor;
mod sql_http;
pub mod task;
pub mod validate;
pub mod yaml;

use std::collections::HashSet;

use crate::ids::DagId;

pub use diagnostic::{Diagnostic, Pos, Severity};
pub use model::DagSpec;

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// What loading one file gave.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// The DAGs that loaded without error (a factory may load some rows and not others).
    pub dags: Vec<DagSpec>,
    /// Every problem found, errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl FileReport {
    pub fn has_errors(&self) -> bool {
        crate::spec::diagnostic::has_errors(&self.diagnostics)
    }

    /// The whole report rendered rustc-style for `path`.
    pub fn render(&self, path: &str, source: &str) -> String {
        crate::spec::diagnostic::render_all(&self.diagnostics, path, source)
    }
}

/// Reads, expands and checks one DAG or factory file.
pub fn load_file(source: &str) -> FileReport {
    let mut report = FileReport::default();
    if source.len() > MAX_FILE_BYTES {
        report.diagnostics.push(Diagnostic::error(
            Pos::new(1, 1),
            format!(
                "the file is {} bytes; a DAG file may be at most {MAX_FILE_BYTES}",
                source.len()
            ),
        ));
        return report;
    }
    let (root, mut diags) = yaml::parse(source);
    let Some(root) = root else {
        if diags.is_empty() {
            diags.push(
                Diagnostic::error(Pos::new(1, 1), "the file is empty")
                    .with_help("a DAG file needs at least `dag`, `team` and `tasks`"),
            );
        }
        report.diagnostics = diags;
        return report;
    };
    let file_broken = diags.iter().any(Diagnostic::is_error);

    if factory::is_factory(&root) {
        let (name, rows) = factory::expand(&root, &mut diags);
        let mut seen_ids: HashSet<DagId> = HashSet::new();
        for row in rows {
            let mut row_diags = row.diagnostics;
            let read = dag::read_dag(&row.node, &mut row_diags);
            if let Some(read) = &read {
                validate::validate(read, source, &mut row_diags);
                if !seen_ids.insert(read.spec.dag.clone()) {
                    row_diags.push(
                        Diagnostic::error(
                            row.row_pos,
                            format!("row {} makes DAG `{}` again", row.row, read.spec.dag),
                        )
                        .with_help("each row must give its DAG a different id"),
                    );
                }
            }
            let dag_name = read
                .as_ref()
                .map_or_else(|| "?".to_string(), |r| r.spec.dag.to_string());
            let ok = !row_diags.iter().any(Diagnostic::is_error);
            for d in row_diags {
                diags.push(d.with_note(format!(
                    "in DAG `{dag_name}`, made by row {} (line {}) of factory `{name}`",
                    row.row, row.row_pos.line
                )));
            }
            if let (true, false, Some(read)) = (ok, file_broken, read) {
                report.dags.push(read.spec);
            }
        }
    } else if let Some(read) = dag::read_dag(&root, &mut diags) {
        validate::validate(&read, source, &mut diags);
        if !diags.iter().any(Diagnostic::is_error) {
            report.dags.push(read.spec);
        }
    }

    // A mistake in a factory's template shows once per row; say it once.
    let mut seen = HashSet::new();
    diags.retain(|d| seen.insert((d.pos, d.message.clone())));
    diags.sort_by_key(|d| d.pos);
    report.diagnostics = diags;
    report
}

#[cfg(test)]
mod tests;
