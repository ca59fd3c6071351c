//! A try's folder, as one type: where it is (`<logs>/<dag>/<run>/<task>/<map index>/<try>`),
//! the engine's lines in its log, and the XCom file the task left in it (read with its
//! size cap). The backends write the folder ([`crate::layout`] names its files); the
//! engine only ever goes through this type, so the layout is declared in one crate.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use weir_core::ids::TryKey;
use weir_core::lifecycle::{TryOutcome, XComRead};

use crate::layout;

/// Largest XCom value a task may return.
pub const MAX_XCOM_BYTES: u64 = 1024 * 1024;

/// The folder of one try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryFolder {
    path: PathBuf,
}

impl TryFolder {
    /// The folder of try `key` under `logs` (Weir's home's `logs`).
    pub fn of(logs: &Path, key: &TryKey) -> TryFolder {
        // `:` and `+` (in run ids made of dates) are not welcome in every file system.
        let run: String = key
            .run_id
            .as_str()
            .chars()
            .map(|c| if matches!(c, ':' | '+') { '_' } else { c })
            .collect();
        TryFolder {
            path: logs
                .join(key.dag_id.as_str())
                .join(run)
                .join(key.task_id.as_str())
                .join(key.map_index.to_string())
                .join(key.try_number.to_string()),
        }
    }

    /// The folder at `path` (as a try's record keeps it).
    pub fn at(path: impl Into<PathBuf>) -> TryFolder {
        TryFolder { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file a task writes its XCom to (`$WEIR_XCOM` for a process task).
    pub fn xcom_path(&self) -> PathBuf {
        self.path.join(layout::XCOM)
    }

    /// Creates the folder, owner-only: it holds the task's log and XCom.
    pub fn create(&self) -> io::Result<()> {
        layout::create_private_dir(&self.path)
    }

    /// Appends an engine line to the try's log, in the log's own format. Best effort:
    /// the log is a courtesy, the store holds the outcome.
    pub fn remark(&self, line: &str) {
        let _ = layout::append_log_line(&self.path, &format!("[weir] {line}"));
    }

    /// `outcome` with the XCom the task left here, when it succeeded (a failed task's
    /// XCom is not taken).
    pub fn with_xcom(&self, mut outcome: TryOutcome) -> TryOutcome {
        if outcome.succeeded() {
            outcome.xcom = self.read_xcom();
        }
        outcome
    }

    /// Reads the task's XCom file.
    pub fn read_xcom(&self) -> XComRead {
        // Never follow a link the task left: it could point at any file of the server's.
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(self.xcom_path())
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return XComRead::None,
            Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
                return XComRead::Unreadable("it is a link, not a regular file".into());
            }
            Err(e) => return XComRead::Unreadable(e.to_string()),
        };
        let bytes = match file.metadata() {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(_) => return XComRead::Unreadable("it is not a regular file".into()),
            Err(e) => return XComRead::Unreadable(e.to_string()),
        };
        if bytes == 0 {
            return XComRead::None;
        }
        if bytes > MAX_XCOM_BYTES {
            return XComRead::TooBig {
                bytes,
                limit: MAX_XCOM_BYTES,
            };
        }
        let mut text = String::new();
        if let Err(e) = file.take(MAX_XCOM_BYTES).read_to_string(&mut text) {
            return XComRead::Unreadable(e.to_string());
        }
        match serde_json::from_str(&text) {
            Ok(value) => XComRead::Value(value),
            Err(e) => XComRead::Malformed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::ids::{DagId, RunId, TaskId};

    fn key() -> TryKey {
        TryKey {
            dag_id: DagId::new("etl").expect("id"),
            run_id: RunId::new("scheduled__2026-01-01T00:00:00+00:00").expect("id"),
            task_id: TaskId::new("load").expect("id"),
            map_index: -1,
            try_number: 2,
        }
    }

    #[test]
    fn the_layout_names_the_try_and_avoids_colons() {
        let folder = TryFolder::of(Path::new("/home/logs"), &key());
        assert_eq!(
            folder.path(),
            Path::new("/home/logs/etl/scheduled__2026-01-01T00_00_00_00_00/load/-1/2")
        );
        assert_eq!(folder.xcom_path(), folder.path().join("xcom.json"));
    }

    #[test]
    fn reads_what_the_task_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let folder = TryFolder::at(dir.path());
        assert_eq!(folder.read_xcom(), XComRead::None);
        fs::write(folder.xcom_path(), "").expect("write");
        assert_eq!(folder.read_xcom(), XComRead::None);
        fs::write(folder.xcom_path(), r#"{"rows": 3}"#).expect("write");
        assert_eq!(
            folder.read_xcom(),
            XComRead::Value(serde_json::json!({"rows": 3}))
        );
        fs::write(folder.xcom_path(), "{not json").expect("write");
        assert!(matches!(folder.read_xcom(), XComRead::Malformed(_)));
        fs::write(folder.xcom_path(), vec![b' '; MAX_XCOM_BYTES as usize + 1]).expect("write");
        assert!(matches!(
            folder.read_xcom(),
            XComRead::TooBig {
                limit: MAX_XCOM_BYTES,
                ..
            }
        ));
    }

    #[test]
    fn never_follows_a_link_the_task_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = dir.path().join("secret.json");
        fs::write(&secret, r#""server secret""#).expect("write");
        let folder = TryFolder::at(dir.path().join("try"));
        folder.create().expect("create");
        std::os::unix::fs::symlink(&secret, folder.xcom_path()).expect("link");
        assert!(matches!(folder.read_xcom(), XComRead::Unreadable(why) if why.contains("a link")));
    }
}
