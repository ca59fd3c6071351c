use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use super::*;

const DAG: &str = "dag: a\nteam: t\ntasks:\n  a: {noop: {}}\n";

fn folder() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dags = tmp.path().join("dags");
    std::fs::create_dir(&dags).expect("mkdir");
    (tmp, dags)
}

fn refused(loaded: &Loaded, name: &str) -> String {
    loaded
        .refused
        .iter()
        .find(|(p, _)| p.ends_with(name))
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("{name} not refused: {loaded:?}"))
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let (_tmp, dags) = folder();
    std::fs::write(dags.join("good.yaml"), DAG).expect("write");
    let status = std::process::Command::new("mkfifo")
        .arg(dags.join("x.yaml"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    // A FIFO inside the folder reached through a link is refused too.
    symlink("x.yaml", dags.join("y.yaml")).expect("symlink");
    let started = Instant::now();
    let loaded = load_folder(&dags).expect("load");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(loaded.files.len(), 1, "{loaded:?}");
    assert!(refused(&loaded, "x.yaml").contains("not a regular file"));
    assert!(refused(&loaded, "y.yaml").contains("not a regular file"));
    // Reading it directly (a FIFO swapped in after the scan) does not block either.
    let root = std::fs::canonicalize(&dags).expect("root");
    assert!(matches!(
        read(&dags.join("x.yaml"), &root),
        Err(ReadError::Refused(r)) if r.contains("not a regular file")
    ));
}

#[test]
fn links_out_of_the_folder_are_refused_quoting_nothing_of_the_target() {
    let (tmp, dags) = folder();
    let secret = tmp.path().join("secret-target");
    std::fs::write(&secret, "root:$6$topsecrethash:19000:0:99999:7:::\n").expect("write");
    symlink(&secret, dags.join("shadow.yaml")).expect("symlink");
    symlink("/dev/zero", dags.join("zero.yaml")).expect("symlink");
    symlink(tmp.path(), dags.join("outside")).expect("symlink");
    let loaded = load_folder(&dags).expect("load");
    assert!(loaded.files.is_empty(), "{loaded:?}");
    for name in ["shadow.yaml", "zero.yaml", "outside"] {
        let reason = refused(&loaded, name);
        assert!(reason.contains("outside the DAG folder"), "{reason}");
        assert!(!reason.contains("topsecret"), "{reason}");
        assert!(!reason.contains("secret-target"), "{reason}");
        assert!(!reason.contains("/dev"), "{reason}");
    }
    // Read directly, the opened descriptor's real place is checked too.
    let root = std::fs::canonicalize(&dags).expect("root");
    assert!(matches!(
        read(&dags.join("shadow.yaml"), &root),
        Err(ReadError::Refused(r)) if r.contains("outside the DAG folder")
    ));
}

#[test]
fn folder_links_are_not_walked_so_loops_end() {
    let (_tmp, dags) = folder();
    std::fs::create_dir(dags.join("sub")).expect("mkdir");
    std::fs::write(dags.join("sub/a.yaml"), DAG).expect("write");
    symlink("..", dags.join("sub/up1")).expect("symlink");
    symlink("..", dags.join("sub/up2")).expect("symlink");
    symlink("sub/a.yaml", dags.join("linked.yaml")).expect("symlink");
    symlink("missing.yaml", dags.join("dangling.yaml")).expect("symlink");
    let loaded = load_folder(&dags).expect("load");
    let names: Vec<_> = loaded.files.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(names, [dags.join("linked.yaml"), dags.join("sub/a.yaml")]);
    assert!(refused(&loaded, "dangling.yaml").contains("leads nowhere"));
    assert_eq!(loaded.refused.len(), 1, "{loaded:?}");
}

#[test]
fn the_size_cap_is_applied_while_reading() {
    let (_tmp, dags) = folder();
    std::fs::write(dags.join("big.yaml"), vec![b'#'; MAX_FILE_BYTES + 10]).expect("write");
    std::fs::write(dags.join("exact.yaml"), vec![b'#'; MAX_FILE_BYTES]).expect("write");
    std::fs::write(dags.join("binary.yaml"), [0xff, 0xfe, 0x00]).expect("write");
    let loaded = load_folder(&dags).expect("load");
    assert!(refused(&loaded, "big.yaml").contains("larger than"));
    assert!(refused(&loaded, "binary.yaml").contains("not UTF-8"));
    assert_eq!(loaded.files.len(), 1);
    assert_eq!(loaded.files[0].1.len(), MAX_FILE_BYTES);
}
