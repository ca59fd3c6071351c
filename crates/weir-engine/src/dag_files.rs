//! Reading the DAG folder from disk without trusting it. Only regular files are read
//! (opened non-blocking and checked on the opened descriptor, so a FIFO never blocks),
//! never more than the size cap; folders reached through symbolic links are not walked
//! (no loops); a link leading out of the folder is refused. A refusal quotes nothing of
//! the link's target: neither its content nor its path.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use weir_core::spec::MAX_FILE_BYTES;

/// Why a link out of the folder is refused.
const OUTSIDE: &str = "a symbolic link to a place outside the DAG folder: only what is inside the DAG folder is read; copy the file in instead of linking to it";
/// Why a FIFO, socket or device is refused.
const NOT_REGULAR: &str =
    "not a regular file (a FIFO, socket or device): only regular files are read as DAG files";

/// One path of the folder that is, or claims to be, a DAG file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A file to read.
    File(PathBuf),
    /// A path refused without reading it, and why.
    Refused { path: PathBuf, reason: String },
}

/// What reading a folder gave: the files' text, and the paths refused (with why).
#[derive(Debug, Default)]
pub struct Loaded {
    pub files: Vec<(PathBuf, String)>,
    pub refused: Vec<(PathBuf, String)>,
}

/// Every DAG file (`*.yaml`, `*.yml`) under `dir` and every path refused, sorted; hidden
/// entries skipped. Symbolic links are not followed into folders.
pub fn scan(dir: &Path) -> io::Result<Vec<Found>> {
    let root = std::fs::canonicalize(dir)?;
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name()));
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.depth() == 0 => return Err(e.into()),
            Err(e) => {
                if let Some(path) = e.path().map(Path::to_path_buf) {
                    let reason = match e.io_error() {
                        Some(io) => format!("cannot be read: {io}"),
                        None => "cannot be read".to_string(),
                    };
                    out.push(Found::Refused { path, reason });
                }
                continue;
            }
        };
        if entry.depth() == 0 {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() {
            if let Some(found) = follow_link(path, &root) {
                out.push(found);
            }
        } else if is_dag_file(path) {
            out.push(if kind.is_file() {
                Found::File(path.to_path_buf())
            } else {
                Found::Refused {
                    path: path.to_path_buf(),
                    reason: NOT_REGULAR.to_string(),
                }
            });
        }
    }
    Ok(out)
}

/// The DAG files under `dir` that can be read (what [`scan`] does not refuse).
pub fn find_dag_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(scan(dir)?
        .into_iter()
        .filter_map(|f| match f {
            Found::File(path) => Some(path),
            Found::Refused { .. } => None,
        })
        .collect())
}

/// Scans `dir` and reads every file found; what cannot be read is refused with why.
/// Blocking: call it off the async runtime.
pub fn load_folder(dir: &Path) -> io::Result<Loaded> {
    let root = std::fs::canonicalize(dir)?;
    let mut loaded = Loaded::default();
    for found in scan(dir)? {
        match found {
            Found::File(path) => match read(&path, &root) {
                Ok(text) => loaded.files.push((path, text)),
                // Deleted between listing and reading: the next sync sees it gone.
                Err(ReadError::Gone) => {}
                Err(ReadError::Refused(reason)) => loaded.refused.push((path, reason)),
            },
            Found::Refused { path, reason } => loaded.refused.push((path, reason)),
        }
    }
    Ok(loaded)
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    Gone,
    Refused(String),
}

/// The text of the DAG file at `path`, which must be a regular file inside `root` (a
/// canonical path) of at most [`MAX_FILE_BYTES`] bytes of UTF-8.
pub fn read(path: &Path, root: &Path) -> Result<String, ReadError> {
    // Non-blocking, so opening a FIFO returns at once; the descriptor is checked below.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ReadError::Gone,
            _ => ReadError::Refused(format!("cannot be read: {e}")),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| ReadError::Refused(format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(ReadError::Refused(NOT_REGULAR.to_string()));
    }
    // Where the opened file really is: a link swapped after the scan is caught here.
    if !opened_path(&file, path).is_some_and(|real| real.starts_with(root)) {
        return Err(ReadError::Refused(OUTSIDE.to_string()));
    }
    let cap = MAX_FILE_BYTES;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(cap).min(cap));
    // The cap is applied while reading: a file that grows is never read past it.
    (&file)
        .take(cap as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Refused(format!("cannot be read: {e}")))?;
    if bytes.len() > cap {
        return Err(ReadError::Refused(format!(
            "the file is larger than {cap} bytes, the most a DAG file may hold: split it into several files"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| ReadError::Refused("the file is not UTF-8 text".to_string()))
}

/// The canonical path of an opened file: from the descriptor where the system tells it.
fn opened_path(file: &File, path: &Path) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(real) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return Some(real);
        }
    }
    let _ = file;
    std::fs::canonicalize(path).ok()
}

/// What a symbolic link in the folder is: a DAG file inside the folder to read, a
/// refusal, or nothing to look at (a link to a folder inside: its files are read at
/// their real place; a link to a non-DAG file).
fn follow_link(path: &Path, root: &Path) -> Option<Found> {
    let refused = |reason: &str| {
        Some(Found::Refused {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        })
    };
    let (Ok(target), Ok(meta)) = (std::fs::canonicalize(path), std::fs::metadata(path)) else {
        return if is_dag_file(path) {
            refused(
                "a symbolic link that leads nowhere (its target is missing, unreadable or loops)",
            )
        } else {
            None
        };
    };
    if !target.starts_with(root) {
        return if meta.is_dir() || is_dag_file(path) {
            refused(OUTSIDE)
        } else {
            None
        };
    }
    if meta.is_dir() || !is_dag_file(path) {
        None
    } else if meta.is_file() {
        Some(Found::File(path.to_path_buf()))
    } else {
        refused(NOT_REGULAR)
    }
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with('.'))
}

fn is_dag_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

#[cfg(test)]
mod tests;
