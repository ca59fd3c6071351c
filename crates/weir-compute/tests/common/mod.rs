//! Helpers shared by the integration tests: real processes, real folders, and bounded
//! polling for conditions (never a bare sleep).

#![allow(dead_code)] // each test file uses a different subset

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use weir_compute::ProcessBackend;
use weir_compute::layout::TRY_DIR_ENV;
use weir_core::ids::{DagId, RunId, TaskId, TryKey};

pub const SUPERVISOR: &str = env!("CARGO_BIN_EXE_weir-compute-supervisor");

pub fn key(task: &str) -> TryKey {
    TryKey {
        dag_id: DagId::new("test_dag").expect("dag id"),
        run_id: RunId::new("manual__2026-11-27T12:00:00+00:00").expect("run id"),
        task_id: TaskId::new(task).expect("task id"),
        map_index: -1,
        try_number: 1,
    }
}

/// A backend using this crate's supervisor binary, with a short kill grace.
pub fn backend() -> ProcessBackend {
    ProcessBackend::new([SUPERVISOR])
        .with_kill_grace(Duration::from_secs(1))
        .with_server_environment(std::env::vars_os().collect())
}

/// Starts a supervisor directly, as a previous server would have.
pub fn start_supervisor(try_dir: &Path, command: &str) -> Child {
    Command::new(SUPERVISOR)
        .arg("--try-dir")
        .arg(try_dir)
        .args(["--grace-ms", "1000", "--", "sh", "-c", command])
        .spawn()
        .expect("start supervisor")
}

/// Polls `cond` every 10 ms until it holds or `within` passes; returns whether it held.
pub fn poll_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn log_text(try_dir: &Path) -> String {
    fs::read_to_string(try_dir.join("log")).unwrap_or_default()
}

/// The log's lines without their timestamps; checks every line has a valid one.
pub fn log_lines(try_dir: &Path) -> Vec<String> {
    log_text(try_dir)
        .lines()
        .map(|line| {
            let (stamp, text) = line.split_at(24);
            assert!(
                chrono::DateTime::parse_from_rfc3339(stamp).is_ok() && stamp.ends_with('Z'),
                "bad timestamp in {line:?}"
            );
            text.strip_prefix(' ')
                .expect("space after stamp")
                .to_owned()
        })
        .collect()
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.trim().chars().next());
        !matches!(state, Some('Z' | 'X') | None)
    })
}

/// Live processes whose environment marks them as processes of the try in `try_dir`.
pub fn try_processes(try_dir: &Path) -> Vec<i32> {
    let dir = fs::canonicalize(try_dir).unwrap_or_else(|_| try_dir.to_owned());
    let marker = format!("{TRY_DIR_ENV}={}", dir.display());
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == marker.as_bytes()))
        })
        .filter(|pid| alive(*pid))
        .collect()
}

/// Reads a pid a task wrote into its working directory.
pub fn task_pid(try_dir: &Path, file: &str) -> Option<i32> {
    fs::read_to_string(work(try_dir).join(file))
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn work(try_dir: &Path) -> PathBuf {
    try_dir.join("work")
}
