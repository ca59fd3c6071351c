//! The XCom file of a container try: `WEIR_XCOM=/weir/xcom.json` inside the container,
//! `try_dir/xcom.json` for the engine (read exactly as for the process backend; a missing
//! file means "no XCom"). Two ways to carry it, chosen by [`XcomTransfer`]:
//!
//! - **bind mount** (default): the try's own folder `try_dir/io` (mode `0777`, so images
//!   running as any user can write) is mounted at `/weir`; after the exit the file is
//!   copied to `try_dir/xcom.json`. It costs nothing per try, but the daemon must see
//!   Weir's files: same machine, Weir not in a container of its own. This is Weir's
//!   folder, not a host path of the user's: specs still get no host folder.
//! - **archive**: an empty `/weir` (mode `1777`) is put into the container through the
//!   archive API before the start, and the file copied out through it after the exit.
//!   Works with a remote daemon or with Weir in a container, but each archive call makes
//!   the daemon mount the container's file system (about 50 ms per try on this machine's
//!   fuse-overlayfs).
//!
//! Either way the copy takes a regular file only (never follows a symlink the task left:
//! it could point at a file of the host), and at most [`XCOM_COPY_LIMIT`] bytes.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use futures_util::StreamExt;

use super::client::is_not_found;
use crate::layout::write_atomic;

/// The variable naming the XCom file.
pub const XCOM_ENV: &str = "WEIR_XCOM";
/// The folder put into every container for Weir's files.
pub const WEIR_DIR_IN_CONTAINER: &str = "/weir";
/// Where the task writes its XCom.
pub const XCOM_IN_CONTAINER: &str = "/weir/xcom.json";
/// The XCom file in the try folder.
pub const XCOM_FILE: &str = crate::layout::XCOM;
/// The try folder's subfolder mounted at `/weir` (bind-mount transfer).
pub const IO_DIR: &str = "io";

/// How the XCom file gets out of the container; see the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum XcomTransfer {
    /// `try_dir/io` mounted at `/weir`: free, needs a daemon that sees Weir's files.
    #[default]
    BindMount,
    /// The archive API: works with any daemon, costs two file-system mounts per try.
    Archive,
}

/// Creates `try_dir/io`, writable by any user of the container; returns its path.
pub(crate) fn io_dir(try_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = try_dir.join(IO_DIR);
    fs::create_dir_all(&dir)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777))?;
    Ok(dir)
}

/// Copies `try_dir/io/xcom.json` (bind-mount transfer) to `try_dir/xcom.json`.
pub(crate) fn collect_local(try_dir: &Path) -> std::io::Result<Collected> {
    let path = try_dir.join(IO_DIR).join(XCOM_FILE);
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Collected::Nothing),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_file() {
        return Ok(Collected::NotAFile);
    }
    // The container has stopped: nothing can swap the file between the check and here.
    store(File::open(&path)?, meta.len(), try_dir)
}
/// Largest XCom copied out byte for byte. A larger file is recorded as a sparse file of
/// its real size, so the engine's size check (1 MiB) names the real size and refuses it,
/// without Weir holding megabytes in memory.
pub const XCOM_COPY_LIMIT: u64 = 4 << 20;

/// A tar archive holding the empty folder `weir/`, writable by any user.
pub(crate) fn weir_dir_archive() -> std::io::Result<Vec<u8>> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_path("weir/")?;
    header.set_mode(0o1777);
    header.set_size(0);
    header.set_mtime(0);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, std::io::empty())?;
    builder.into_inner()
}

/// Puts `/weir` into a created container (archive transfer).
pub(crate) async fn prepare(docker: &Docker, name: &str) -> Result<(), bollard::errors::Error> {
    let archive = weir_dir_archive()?;
    let options = UploadToContainerOptions {
        path: "/".to_owned(),
        ..Default::default()
    };
    docker
        .upload_to_container(name, Some(options), bollard::body_full(archive.into()))
        .await
}

/// What [`collect`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Collected {
    /// The task wrote no XCom file.
    Nothing,
    /// Copied into `try_dir/xcom.json`, with its size.
    Copied(u64),
    /// `$WEIR_XCOM` was not a regular file; nothing was copied.
    NotAFile,
}

/// Copies the container's XCom file into `try_dir/xcom.json` (archive transfer).
pub(crate) async fn collect_archive(
    docker: &Docker,
    name: &str,
    try_dir: &Path,
) -> Result<Collected, CollectError> {
    let options = DownloadFromContainerOptions {
        path: XCOM_IN_CONTAINER.to_owned(),
    };
    let mut stream = docker.download_from_container(name, Some(options));
    // The archive: 512 bytes of header (a few more blocks with PAX headers), the content,
    // padding. Reading stops past the copy limit; the header then still gives the size.
    let cap = usize::try_from(XCOM_COPY_LIMIT).unwrap_or(usize::MAX) + 64 * 1024;
    let mut archive = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => archive.extend_from_slice(&bytes),
            Err(e) if is_not_found(&e) => return Ok(Collected::Nothing),
            Err(e) => return Err(CollectError::Api(e)),
        }
        if archive.len() > cap {
            break;
        }
    }
    drop(stream);
    extract(&archive, try_dir).map_err(CollectError::Io)
}

/// Why the XCom could not be collected.
#[derive(Debug)]
pub(crate) enum CollectError {
    Api(bollard::errors::Error),
    Io(std::io::Error),
}

impl std::fmt::Display for CollectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api(e) => write!(
                f,
                "cannot copy {XCOM_IN_CONTAINER} out of the container: {e}"
            ),
            Self::Io(e) => write!(f, "cannot write {XCOM_FILE}: {e}"),
        }
    }
}

/// Writes the first entry of `archive` (possibly cut short) into `try_dir/xcom.json`.
pub(crate) fn extract(archive: &[u8], try_dir: &Path) -> std::io::Result<Collected> {
    let mut reader = tar::Archive::new(archive);
    let mut entries = reader.entries()?;
    let Some(entry) = entries.next() else {
        return Ok(Collected::Nothing);
    };
    let entry = entry?;
    if !entry.header().entry_type().is_file() {
        return Ok(Collected::NotAFile);
    }
    let size = entry.header().size()?;
    store(entry, size, try_dir)
}

/// Writes `size` bytes read from `content` as `try_dir/xcom.json`; past the copy limit
/// only a sparse file of that size.
fn store(content: impl Read, size: u64, try_dir: &Path) -> std::io::Result<Collected> {
    if size > XCOM_COPY_LIMIT {
        let tmp = try_dir.join(format!(".{XCOM_FILE}.tmp"));
        File::create(&tmp)?.set_len(size)?;
        fs::rename(&tmp, try_dir.join(XCOM_FILE))?;
        return Ok(Collected::Copied(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    content.take(XCOM_COPY_LIMIT).read_to_end(&mut bytes)?;
    write_atomic(try_dir, XCOM_FILE, &bytes)?;
    Ok(Collected::Copied(bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_archive(name: &str, content: &[u8], declared: Option<u64>) -> Vec<u8> {
        let mut header = tar::Header::new_ustar();
        header.set_path(name).expect("path");
        header.set_mode(0o644);
        header.set_size(content.len() as u64);
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append(&header, content).expect("append");
        let mut bytes = builder.into_inner().expect("tar");
        if let Some(size) = declared {
            // Forge a header announcing a bigger file, as a cut-short download shows it.
            let mut forged = tar::Header::new_ustar();
            forged.set_path(name).expect("path");
            forged.set_size(size);
            forged.set_cksum();
            bytes[..512].copy_from_slice(forged.as_bytes());
        }
        bytes
    }

    #[test]
    fn xcom_is_extracted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = file_archive("xcom.json", br#"{"rows": 3}"#, None);
        assert_eq!(
            extract(&archive, dir.path()).expect("extract"),
            Collected::Copied(11)
        );
        let text = fs::read_to_string(dir.path().join(XCOM_FILE)).expect("read");
        assert_eq!(text, r#"{"rows": 3}"#);
        assert_eq!(extract(&[], dir.path()).expect("empty"), Collected::Nothing);
    }

    #[test]
    fn oversized_xcom_keeps_its_size_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big = XCOM_COPY_LIMIT + 10;
        let archive = file_archive("xcom.json", b"[1]", Some(big));
        assert_eq!(
            extract(&archive, dir.path()).expect("extract"),
            Collected::Copied(big)
        );
        let meta = fs::metadata(dir.path().join(XCOM_FILE)).expect("meta");
        assert_eq!(meta.len(), big);
    }

    #[test]
    fn local_xcom_is_copied_but_never_through_a_symlink() {
        let dir = tempfile::tempdir().expect("tempdir");
        let io = io_dir(dir.path()).expect("io dir");
        let mode = fs::metadata(&io).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o777);
        assert_eq!(
            collect_local(dir.path()).expect("nothing"),
            Collected::Nothing
        );
        fs::write(dir.path().join("secret"), "host file").expect("write");
        std::os::unix::fs::symlink(dir.path().join("secret"), io.join(XCOM_FILE)).expect("ln");
        assert_eq!(
            collect_local(dir.path()).expect("link"),
            Collected::NotAFile
        );
        assert!(!dir.path().join(XCOM_FILE).exists());
        fs::remove_file(io.join(XCOM_FILE)).expect("rm");
        fs::write(io.join(XCOM_FILE), "[1, 2]").expect("write");
        assert_eq!(
            collect_local(dir.path()).expect("copy"),
            Collected::Copied(6)
        );
        let text = fs::read_to_string(dir.path().join(XCOM_FILE)).expect("read");
        assert_eq!(text, "[1, 2]");
    }

    #[test]
    fn weir_dir_archive_is_one_open_folder() {
        let bytes = weir_dir_archive().expect("archive");
        let mut archive = tar::Archive::new(bytes.as_slice());
        let entries: Vec<_> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                let h = e.header();
                (
                    h.path().expect("path").display().to_string(),
                    h.mode().expect("mode"),
                )
            })
            .collect();
        assert_eq!(entries, [("weir/".to_owned(), 0o1777)]);
    }
}
