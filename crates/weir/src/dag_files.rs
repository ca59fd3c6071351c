//! Reading DAG files for the CLI the way the server reads its DAG folder: files as
//! given, folders searched recursively for `*.yaml` / `*.yml` in a stable order, and
//! only regular files, capped while reading, never following a link out of a folder.
//! What cannot be read is returned with why, so `weir dags validate` reports it instead
//! of hanging on a FIFO or skipping it silently.

use std::path::PathBuf;

use weir_engine::{Loaded, ReadError};

/// The DAG files under `paths`, read: files as given, folders as the engine's DAG folder
/// loader reads them (sorted, hidden entries skipped).
pub fn load(paths: &[PathBuf]) -> std::io::Result<Loaded> {
    let mut out = Loaded::default();
    for path in paths {
        if path.is_dir() {
            let folder = weir_engine::load_folder(path)?;
            out.files.extend(folder.files);
            out.refused.extend(folder.refused);
        } else if path.exists() {
            // A file named on the command line may be a link anywhere: the user chose
            // it. Its real place is the root it is read under.
            let real = std::fs::canonicalize(path)?;
            let root = real.parent().map(PathBuf::from).unwrap_or_default();
            match weir_engine::read_dag_file(&real, &root) {
                Ok(text) => out.files.push((path.clone(), text)),
                Err(ReadError::Refused(reason)) => out.refused.push((path.clone(), reason)),
                Err(ReadError::Gone) => return Err(not_found(path)),
            }
        } else {
            return Err(not_found(path));
        }
    }
    Ok(out)
}

fn not_found(path: &std::path::Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{} does not exist", path.display()),
    )
}
