//! The layout of a process try folder, and the small file protocol the supervisor and the
//! backend share through it.
//!
//! ```text
//! try_dir/
//!   log              task output, one timestamped line per line (see `backend` docs)
//!   status.json      the final TryOutcome; written once, atomically (tmp + rename)
//!   supervisor.lock  held (flock) by the live supervisor for its whole life
//!   supervisor.pid   the supervisor's pid (to cancel an adopted try)
//!   task.pgid        the task's process group id (where /proc cannot be searched)
//!   xcom.json        the task's XCom (`$WEIR_XCOM`)
//!   work/            the task's working directory
//! ```
//!
//! Everything here is owner-only: the folder 0700, its files 0600. A sandboxed task
//! sees only `work/` and `xcom.json` (both handed to its user); the rest is Weir's.
//!
//! Liveness is decided by the lock, not by the pid: the kernel drops a flock when its
//! holder dies, so a held lock means "the supervisor is alive" with no pid-reuse doubt,
//! and it works without `/proc`. Whoever decides a try is lost (the backend) first takes
//! the lock and writes `status.json`; a supervisor that starts late takes the same lock
//! and finds the status, so it never runs a task the engine already gave up on.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::backend::{EndReason, TryOutcome};

/// The task's output.
pub const LOG: &str = "log";
/// The final outcome.
pub const STATUS: &str = "status.json";
/// Held by the live supervisor.
pub const LOCK: &str = "supervisor.lock";
/// The supervisor's pid.
pub const SUPERVISOR_PID: &str = "supervisor.pid";
/// The task's process group id.
pub const TASK_PGID: &str = "task.pgid";
/// The task's working directory.
pub const WORK: &str = "work";
/// The file a task writes its XCom to (`$WEIR_XCOM`).
pub const XCOM: &str = "xcom.json";
/// Mode of the try folder: only Weir's user may enter it.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files in it.
pub const FILE_MODE: u32 = 0o600;
/// Variable set in every task's environment to its try folder; it also marks the task's
/// processes, so the backend only ever kills processes that belong to the try.
pub const TRY_DIR_ENV: &str = "WEIR_TRY_DIR";

/// The log file of a try folder.
pub fn log_path(try_dir: &Path) -> PathBuf {
    try_dir.join(LOG)
}

/// Formats a log timestamp: `2026-11-27T12:00:00.123Z`.
pub(crate) fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Writes `name` in `dir` so readers see either nothing or the whole file. No fsync: we
/// guard against a crash of a process, not of the machine, and fsync costs milliseconds.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&tmp)?;
    file.write_all(bytes)?;
    drop(file);
    fs::rename(&tmp, dir.join(name))
}

/// Opens (creating, owner-only) a file of the try folder for appending.
/// Never through a link: a task that can write in its try folder must not make Weir
/// append to a file of the server's.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
}

/// Creates a folder of Weir's (a try folder, the logs folder, the home; and missing
/// parents) owner-only, and makes sure an existing one is owner-only too.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
}

/// Reads `status.json`: `None` when it does not exist yet.
pub(crate) fn read_status(dir: &Path) -> io::Result<Option<TryOutcome>> {
    let path = dir.join(STATUS);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // The file is written atomically, so garbage means outside damage; report the try
    // as lost rather than failing the engine's recovery.
    Ok(Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        let now = Utc::now();
        TryOutcome::without_usage(
            EndReason::Lost(format!("{} is unreadable: {e}", path.display())),
            now,
            now,
        )
    })))
}

/// Writes `status.json`.
pub(crate) fn write_status(dir: &Path, outcome: &TryOutcome) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(outcome).map_err(io::Error::other)?;
    write_atomic(dir, STATUS, &json)
}

/// Reads a pid file; `None` if absent or malformed.
pub(crate) fn read_pid(dir: &Path, name: &str) -> Option<i32> {
    let text = fs::read_to_string(dir.join(name)).ok()?;
    text.trim().parse().ok().filter(|pid: &i32| *pid > 0)
}

/// Appends one timestamped line to the log (used for Weir's own remarks).
pub fn append_log_line(dir: &Path, line: &str) -> io::Result<()> {
    let mut file = open_append(&dir.join(LOG))?;
    file.write_all(format!("{} {line}\n", stamp(Utc::now())).as_bytes())
}

/// The state of the supervisor lock.
pub(crate) enum LockProbe {
    /// A live supervisor holds it.
    Held,
    /// Nobody held it; we hold it now, until the file is dropped.
    Free(File),
}

/// Tries to take the supervisor lock without waiting.
pub(crate) fn probe_lock(dir: &Path) -> io::Result<LockProbe> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(FILE_MODE)
        .open(dir.join(LOCK))?;
    match file.try_lock() {
        Ok(()) => Ok(LockProbe::Free(file)),
        Err(TryLockError::WouldBlock) => Ok(LockProbe::Held),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The pid of the process that holds the supervisor lock of `dir`, read from the
/// kernel (`/proc/locks`, and the holder's open files), never from a file in the folder:
/// a task could write any pid into `supervisor.pid` to make the server signal a process
/// of its choosing. `None` when nobody holds it (or there is no `/proc`).
pub(crate) fn lock_holder(dir: &Path) -> Option<i32> {
    let lock = dir.join(LOCK);
    let ino = fs::metadata(&lock).ok()?.ino();
    let table = fs::read_to_string("/proc/locks").ok()?;
    // The device in /proc/locks is the kernel's (on overlayfs, the layer's), so match the
    // inode there and prove the rest by the holder having this very file open.
    flock_holders(&table, ino)
        .into_iter()
        .find(|pid| has_open(*pid, &lock))
}

/// The pids holding a `flock` on an inode numbered `ino`, from a `/proc/locks` text.
/// Lines look like `1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF`; waiters
/// (`1: -> FLOCK ...`) are not holders.
fn flock_holders(table: &str, ino: u64) -> Vec<i32> {
    table
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            if fields.next()? != "FLOCK" {
                return None;
            }
            let _advisory = fields.next()?;
            let _access = fields.next()?;
            let pid: i32 = fields.next()?.parse().ok()?;
            let inode: u64 = fields.next()?.rsplit(':').next()?.parse().ok()?;
            (inode == ino && pid > 0).then_some(pid)
        })
        .collect()
}

/// Whether process `pid` has `path` open.
fn has_open(pid: i32, path: &Path) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target == path))
}

/// Kills (SIGKILL) whatever is left of the try's task: every live process that carries
/// the try's `WEIR_TRY_DIR` marker, and the process groups they are in (which catches
/// members that cleared their environment). Returns whether anything was found.
///
/// Searching by marker rather than trusting `task.pgid` alone also covers a supervisor
/// killed between starting the task and writing that file, and task processes that left
/// the group (`setsid`). Without `/proc` (not Linux) it falls back to `task.pgid`.
pub(crate) fn kill_task_processes(dir: &Path) -> bool {
    match marked_processes(dir) {
        Some(found) => {
            for &(pid, pgrp) in &found {
                let _ = killpg(Pid::from_raw(pgrp), Signal::SIGKILL);
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            !found.is_empty()
        }
        None => read_pid(dir, TASK_PGID)
            .is_some_and(|pgid| killpg(Pid::from_raw(pgid), Signal::SIGKILL).is_ok()),
    }
}

/// The live processes (pid, process group) marked as belonging to the try in `dir`,
/// except this process itself; `None` when there is no `/proc` to look in.
fn marked_processes(dir: &Path) -> Option<Vec<(i32, i32)>> {
    let entries = fs::read_dir("/proc").ok()?;
    let marker = [
        TRY_DIR_ENV.as_bytes(),
        b"=",
        dir.as_os_str().as_encoded_bytes(),
    ]
    .concat();
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let found = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (state, pgrp) = parse_stat(&stat)?;
            if state == 'Z' {
                return None; // dead already, only waiting to be reaped
            }
            let env = fs::read(format!("/proc/{pid}/environ")).ok()?;
            let marked = env.split(|b| *b == 0).any(|var| var == marker.as_slice());
            marked.then_some((pid, pgrp))
        })
        .collect();
    Some(found)
}

/// Reads the state letter and process group from a `/proc/<pid>/stat` line. The command
/// name in parentheses may itself hold spaces and parentheses, so parse after the last `)`.
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        let stat = "4242 (we ird) (x)) S 1 4240 4240 0 -1 4194560 100 0";
        assert_eq!(parse_stat(stat), Some(('S', 4240)));
        assert_eq!(parse_stat("12 (sh) Z 1 12 12"), Some(('Z', 12)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn stamps_have_milliseconds_and_z() {
        let at = DateTime::parse_from_rfc3339("2026-11-27T12:00:00.123456Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("valid time");
        assert_eq!(stamp(at), "2026-11-27T12:00:00.123Z");
    }

    #[test]
    fn status_round_trips_and_garbage_is_lost() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read_status(dir.path()).expect("read").is_none());
        let now = Utc::now();
        let outcome = TryOutcome {
            exit_code: Some(3),
            reason: EndReason::Signalled(9),
            started_at: now,
            finished_at: now,
            cpu_seconds: 0.25,
            peak_rss_bytes: 4096,
            xcom: Default::default(),
        };
        write_status(dir.path(), &outcome).expect("write");
        assert_eq!(read_status(dir.path()).expect("read"), Some(outcome));
        fs::write(dir.path().join(STATUS), b"{").expect("write");
        let lost = read_status(dir.path()).expect("read").expect("some");
        assert!(matches!(lost.reason, EndReason::Lost(_)), "{lost:?}");
    }

    #[test]
    fn lock_holders_come_from_the_kernel_table() {
        let table = "1: FLOCK  ADVISORY  WRITE 4242 00:2a:1234 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 777 00:2a:99 0 EOF\n\
                     2: POSIX  ADVISORY  WRITE 55 00:2a:99 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 4343 103:02:99 0 EOF\n";
        assert_eq!(flock_holders(table, 1234), vec![4242]);
        assert_eq!(
            flock_holders(table, 99),
            vec![4343],
            "not a waiter nor a POSIX lock"
        );
        assert!(flock_holders(table, 5).is_empty());

        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = fs::canonicalize(tmp.path()).expect("canonical");
        assert_eq!(lock_holder(&dir), None);
        let held = probe_lock(&dir).expect("probe");
        let me = i32::try_from(std::process::id()).expect("pid");
        assert_eq!(lock_holder(&dir), Some(me));
        drop(held);
        assert_eq!(lock_holder(&dir), None);
    }

    #[test]
    fn lock_is_exclusive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = probe_lock(dir.path()).expect("probe");
        assert!(matches!(held, LockProbe::Free(_)));
        assert!(matches!(
            probe_lock(dir.path()).expect("probe"),
            LockProbe::Held
        ));
        drop(held);
        assert!(matches!(
            probe_lock(dir.path()).expect("probe"),
            LockProbe::Free(_)
        ));
    }
}
