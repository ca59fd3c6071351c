//! Finding DAG files on disk: files as given, folders searched recursively for
//! `*.yaml` / `*.yml`, in a stable order.

use std::path::PathBuf;

/// The DAG files under `paths`: files as given, folders as the engine's DAG folder
/// loader finds them (sorted, hidden entries skipped).
pub fn find(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            out.extend(weir_engine::find_dag_files(path)?);
        } else if path.exists() {
            out.push(path.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not exist", path.display()),
            ));
        }
    }
    Ok(out)
}
