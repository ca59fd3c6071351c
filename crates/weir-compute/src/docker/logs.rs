//! Copies a container's stdout and stderr, live, into `try_dir/log`.
//!
//! The daemon keeps the output (its log driver) and serves it with its own timestamps
//! (`logs?follow&timestamps`); each line is written with the daemon's timestamp cut to
//! milliseconds, masked, with one `write` per line, in the format of every backend
//! (`2026-11-27T12:00:00.123Z line`). The daemon's timestamps are when the task printed
//! the line, so output produced while Weir was down gets its true time too.
//!
//! # Resuming without duplicates
//!
//! After a restart (or a lost connection) the copy resumes from the log file itself. The
//! live stream interleaves stdout and stderr in arrival order, which is not always the
//! order of their timestamps, so the file's last line is not necessarily its newest.
//! The resume point is therefore the newest task-line stamp `T` in the file's tail, less
//! [`RESUME_WINDOW`]: lines stamped before that are skipped; lines stamped within the
//! window are skipped when the file already holds the same stamp and text (counted, so
//! a line printed twice is kept twice). The daemon is asked for the output since the
//! window's start (whole seconds: the API takes no fraction). Weir's own `[weir] …`
//! lines are not task lines and do not count.
//!
//! # Size limit
//!
//! With a limit (`[logs] max_bytes_per_try`), the copy stops writing task lines once the
//! log would pass it: one `[weir] log truncated` line, then the output is read on and
//! dropped, and a closing remark counts the dropped bytes. A log already past the limit
//! when a copy resumes stays as it is (no second notice); the count then covers what
//! this copy dropped.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::client::{is_not_found, is_unreachable};
use crate::capture::{Admit, LineSplitter, LogLimit, Masker};
use crate::layout::stamp;

/// How much of the log's end is read to find where to resume.
const TAIL_BYTES: u64 = 1 << 20;
/// Length of `2026-11-27T12:00:00.123Z`.
const STAMP_LEN: usize = 24;
/// Pause before reconnecting after the daemon went away.
const RECONNECT: Duration = Duration::from_secs(1);
/// How far before the newest copied line a resumed copy compares lines by content.
const RESUME_WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// Where a copy starts: lines stamped before `floor` were copied; lines stamped from
/// `floor` on were copied if `recent` holds them (stamp and masked text, with a count).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Resume {
    floor: Option<String>,
    recent: std::collections::HashMap<(String, String), usize>,
}

impl Resume {
    /// From the start: a fresh try.
    pub(crate) fn start() -> Self {
        Self::default()
    }

    /// After what the log file already holds.
    pub(crate) fn from_log(path: &Path) -> io::Result<Self> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::start()),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)?;
        Ok(Self::from_tail(&String::from_utf8_lossy(&tail)))
    }

    fn from_tail(tail: &str) -> Self {
        let task_lines: Vec<(&str, &str)> = tail
            .lines()
            .filter(|l| l.len() > STAMP_LEN && l.is_char_boundary(STAMP_LEN))
            .map(|l| (&l[..STAMP_LEN], &l[STAMP_LEN + 1..]))
            .filter(|(_, text)| !text.starts_with("[weir] "))
            .collect();
        let Some(newest) = task_lines.iter().map(|(at, _)| *at).max() else {
            return Self::start();
        };
        let floor = DateTime::parse_from_rfc3339(newest)
            .map(|t| stamp(t.with_timezone(&Utc) - RESUME_WINDOW))
            .unwrap_or_else(|_| newest.to_owned());
        let mut recent = std::collections::HashMap::new();
        for (at, text) in task_lines
            .into_iter()
            .filter(|(at, _)| *at >= floor.as_str())
        {
            *recent.entry((at.to_owned(), text.to_owned())).or_insert(0) += 1;
        }
        Self {
            floor: Some(floor),
            recent,
        }
    }

    /// The `since` to ask the daemon for (whole seconds, rounded down).
    fn since(&self) -> i32 {
        self.floor
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .and_then(|t| i32::try_from(t.timestamp()).ok())
            .unwrap_or(0)
    }

    /// Where the copy resumes (the window's start), for APIs that take a time
    /// (Kubernetes' `sinceTime`); None: from the start.
    pub(crate) fn floor_time(&self) -> Option<DateTime<Utc>> {
        let floor = DateTime::parse_from_rfc3339(self.floor.as_deref()?).ok()?;
        Some(floor.with_timezone(&Utc))
    }

    /// Whether a line stamped `stamp` with (masked) `text` was already copied, and if so
    /// counts it as seen.
    pub(crate) fn already_copied(&mut self, stamp: &str, text: &str) -> bool {
        match self.floor.as_deref() {
            Some(floor) if stamp < floor => true,
            Some(_) => match self.recent.get_mut(&(stamp.to_owned(), text.to_owned())) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            },
            None => false,
        }
    }
}

/// Appends timestamped, masked lines to the log, within its size limit.
struct LogFile<'a> {
    file: File,
    masker: Masker,
    resume: Resume,
    limit: &'a mut LogLimit,
}

impl LogFile<'_> {
    fn line(&mut self, at: &str, raw: &[u8]) -> io::Result<()> {
        let text = self.masker.mask(&String::from_utf8_lossy(raw));
        if self.resume.already_copied(at, &text) {
            return Ok(());
        }
        let out = format!("{at} {text}\n");
        match self.limit.admit(out.len(), raw.len()) {
            Admit::Write => self.file.write_all(out.as_bytes()),
            Admit::Notice(notice) => {
                let line = format!("{} [weir] {notice}\n", stamp(Utc::now()));
                self.file.write_all(line.as_bytes())
            }
            Admit::Drop => Ok(()),
        }
    }
}

/// Splits one frame of the daemon's output into its timestamp and its text.
fn split_frame(frame: &[u8]) -> (String, &[u8]) {
    let cut = frame.iter().position(|b| *b == b' ');
    let parsed = cut.and_then(|i| {
        let text = std::str::from_utf8(&frame[..i]).ok()?;
        let at = DateTime::parse_from_rfc3339(text).ok()?;
        Some((stamp(at.with_timezone(&Utc)), &frame[i + 1..]))
    });
    parsed.unwrap_or_else(|| (stamp(Utc::now()), frame))
}

/// Copies the output of container `name` into the log at `path` until the container has
/// stopped and all its output is copied; reconnects (resuming from the file) while the
/// daemon is away. Keeps the log within `max_bytes` (see the module docs). Returns the
/// remarks for the log: why the copy had to stop early, how much the limit dropped.
///
/// The live stream may end before the daemon has stored the container's last output (a
/// last line without newline, or lines printed just before the exit), so a second,
/// non-following read resumes from the file and copies whatever is still missing.
pub(crate) async fn follow(
    docker: Docker,
    name: String,
    path: PathBuf,
    masker: Masker,
    resume: Resume,
    max_bytes: Option<u64>,
) -> Vec<String> {
    let already = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut limit = max_bytes.map_or_else(LogLimit::unlimited, |max| LogLimit::new(max, already));
    let stopped = follow_within(&docker, &name, &path, &masker, resume, &mut limit).await;
    stopped.into_iter().chain(limit.summary()).collect()
}

async fn follow_within(
    docker: &Docker,
    name: &str,
    path: &Path,
    masker: &Masker,
    mut resume: Resume,
    limit: &mut LogLimit,
) -> Option<String> {
    loop {
        match copy(docker, name, path, masker, resume, true, limit).await {
            Ok(()) => break,
            Err(Stop::Api(e)) if is_unreachable(&e) => {
                tokio::time::sleep(RECONNECT).await;
                match Resume::from_log(path) {
                    Ok(r) => resume = r,
                    Err(e) => return Some(format!("cannot read the log to resume it: {e}")),
                }
            }
            Err(stop) => return stop.remark(),
        }
    }
    if limit.truncated() {
        // Whatever is still missing would be dropped (and counted twice).
        return None;
    }
    let resume = match Resume::from_log(path) {
        Ok(r) => r,
        Err(e) => return Some(format!("cannot read the log to complete it: {e}")),
    };
    copy(docker, name, path, masker, resume, false, limit)
        .await
        .err()
        .and_then(Stop::remark)
}

enum Stop {
    Api(bollard::errors::Error),
    Io(io::Error),
}

impl Stop {
    /// What to tell in the log; nothing when the container is simply gone.
    fn remark(self) -> Option<String> {
        match self {
            Self::Api(e) if is_not_found(&e) => None,
            Self::Api(e) => Some(format!("cannot read the container's output: {e}")),
            Self::Io(e) => Some(format!("cannot write the log: {e}")),
        }
    }
}

/// One read of the output since `resume`: following it live, or up to now. Only the
/// final read copies a last line that has no newline yet.
async fn copy(
    docker: &Docker,
    name: &str,
    path: &Path,
    masker: &Masker,
    resume: Resume,
    live: bool,
    limit: &mut LogLimit,
) -> Result<(), Stop> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(Stop::Io)?;
    let options = LogsOptions {
        follow: live,
        stdout: true,
        stderr: true,
        timestamps: true,
        since: resume.since(),
        ..Default::default()
    };
    let mut log = LogFile {
        file,
        masker: masker.clone(),
        resume,
        limit,
    };
    let mut streams = [Pending::default(), Pending::default()];
    let mut output = docker.logs(name, Some(options));
    while let Some(frame) = output.next().await {
        let (which, message) = match frame.map_err(Stop::Api)? {
            LogOutput::StdErr { message } => (1, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => (0, message),
            LogOutput::StdIn { .. } => continue,
        };
        let (at, text) = split_frame(&message);
        streams[which].feed(&mut log, at, text).map_err(Stop::Io)?;
    }
    if !live {
        for pending in &mut streams {
            pending.finish(&mut log).map_err(Stop::Io)?;
        }
    }
    Ok(())
}

/// One stream's unfinished line; a line gets the stamp of the frame that completes it.
#[derive(Default)]
struct Pending {
    splitter: LineSplitter,
    at: String,
}

impl Pending {
    fn feed(&mut self, log: &mut LogFile, at: String, text: &[u8]) -> io::Result<()> {
        let mut result = Ok(());
        self.splitter.feed(text, |line| {
            if result.is_ok() {
                result = log.line(&at, line);
            }
        });
        self.at = at;
        result
    }

    fn finish(&mut self, log: &mut LogFile) -> io::Result<()> {
        let mut result = Ok(());
        let at = std::mem::take(&mut self.at);
        self.splitter.finish(|line| result = log.line(&at, line));
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_point_skips_weir_remarks_and_survives_reordering() {
        // stdout's `b` arrived after stderr's `e`, though it was printed first.
        let tail = "2026-11-27T12:00:00.100Z a\n\
                    2026-11-27T12:00:03.300Z e\n\
                    2026-11-27T12:00:03.200Z b\n\
                    2026-11-27T12:00:03.200Z b\n\
                    2026-11-27T12:00:05.000Z [weir] exited with code 0\n";
        let mut r = Resume::from_tail(tail);
        assert_eq!(r.floor.as_deref(), Some("2026-11-27T12:00:01.300Z"));
        assert_eq!(r.since(), 1_795_780_801);
        assert!(
            r.already_copied("2026-11-27T12:00:00.100Z", "a"),
            "before the window"
        );
        assert!(r.already_copied("2026-11-27T12:00:03.200Z", "b"));
        assert!(r.already_copied("2026-11-27T12:00:03.300Z", "e"));
        assert!(
            r.already_copied("2026-11-27T12:00:03.200Z", "b"),
            "printed twice, copied twice"
        );
        assert!(
            !r.already_copied("2026-11-27T12:00:03.200Z", "b"),
            "a third one is new"
        );
        assert!(
            !r.already_copied("2026-11-27T12:00:03.250Z", "c"),
            "not copied yet"
        );
        assert!(!r.already_copied("2026-11-27T12:00:03.301Z", "f"));
        assert_eq!(Resume::from_tail(""), Resume::start());
        assert_eq!(Resume::start().since(), 0);
    }

    #[test]
    fn frames_keep_the_daemon_time_in_milliseconds() {
        let (at, text) = split_frame(b"2026-11-27T12:00:00.123456789Z hello world\n");
        assert_eq!(at, "2026-11-27T12:00:00.123Z");
        assert_eq!(text, b"hello world\n");
        let (at, text) = split_frame(b"garbage");
        assert_eq!(at.len(), STAMP_LEN);
        assert_eq!(text, b"garbage");
    }

    #[test]
    fn lines_are_stamped_masked_and_deduplicated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let file = File::create(&path).expect("create");
        let resume = Resume::from_tail("2026-11-27T12:00:00.000Z old\n");
        let mut limit = LogLimit::unlimited();
        let mut log = LogFile {
            file,
            masker: Masker::new(["pw"]),
            resume,
            limit: &mut limit,
        };
        let mut out = Pending::default();
        let t0 = "2026-11-27T12:00:00.000Z".to_owned();
        let t1 = "2026-11-27T12:00:00.001Z".to_owned();
        out.feed(&mut log, t0.clone(), b"old\n").expect("feed");
        out.feed(&mut log, t0, b"new pw\npart").expect("feed");
        out.feed(&mut log, t1, b"ial").expect("feed");
        out.finish(&mut log).expect("finish");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "2026-11-27T12:00:00.000Z new ***\n2026-11-27T12:00:00.001Z partial\n"
        );
    }
}
