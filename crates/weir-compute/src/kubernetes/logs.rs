//! Copies the pod's output, live, into `try_dir/log`.
//!
//! The kubelet keeps the container's output and the API server streams it
//! (`GET …/pods/{name}/log?follow=true&timestamps=true`), each line prefixed with the time
//! the container printed it (RFC 3339 with nanoseconds). Each line is written with that
//! time cut to milliseconds, masked, one `write` per line, in every backend's format.
//!
//! After a restart (or a lost connection) the copy resumes from the file, as the docker
//! backend's does ([`Resume`]): the API is asked for the output since the newest copied
//! line less a window (`sinceTime`), and lines already in the file are skipped. When the
//! live stream ends and the container has stopped, one more read without `follow` copies
//! what the stream may have missed (a stream that ends while the container runs on is
//! followed again). The log's size limit applies as for every backend.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::AsyncBufReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;

use super::client::is_not_found;
use super::manifest::CONTAINER;
use crate::capture::{Admit, LogLimit, MAX_LINE, Masker};
use crate::docker::logs::Resume;
use crate::layout::stamp;

/// Pause before reading again after the API server went away.
const RECONNECT: Duration = Duration::from_secs(1);

/// Copies pod `pod`'s output into the log at `path` until the container stopped and all
/// its output is copied (see the module docs). Returns remarks for the log: why the copy
/// stopped early, what the size limit dropped.
pub(crate) async fn follow(
    pods: Api<Pod>,
    pod: String,
    path: PathBuf,
    masker: Masker,
    max_bytes: Option<u64>,
) -> Vec<String> {
    let already = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut limit = max_bytes.map_or_else(LogLimit::unlimited, |max| LogLimit::new(max, already));
    let mut remarks = Vec::new();
    let mut live = true;
    loop {
        let resume = match Resume::from_log(&path) {
            Ok(r) => r,
            Err(e) => {
                remarks.push(format!("cannot read the log to resume it: {e}"));
                break;
            }
        };
        match copy(&pods, &pod, &path, &masker, resume, live, &mut limit).await {
            Ok(()) if live && !limit.truncated() => {
                // A stream can end while the container runs on (a proxy's timeout, the
                // kubelet rotating the log): follow again from where the file is.
                if container_running(&pods, &pod).await {
                    tokio::time::sleep(RECONNECT).await;
                    continue;
                }
                live = false;
            }
            Ok(()) => break,
            Err(Stop::Api(e)) if is_not_found(&e) => {
                if live {
                    remarks.push("the pod was deleted before all its output was read".into());
                }
                break;
            }
            Err(Stop::Api(e)) if live => {
                tracing::debug!(pod = %pod, error = %e, "the log stream broke; reading again");
                tokio::time::sleep(RECONNECT).await;
            }
            Err(Stop::Api(e)) => {
                remarks.push(format!("cannot read the pod's output: {e}"));
                break;
            }
            Err(Stop::Io(e)) => {
                remarks.push(format!("cannot write the log: {e}"));
                break;
            }
        }
    }
    remarks.extend(limit.summary());
    remarks
}

/// Whether the pod's container still runs (false when that cannot be read).
async fn container_running(pods: &Api<Pod>, pod: &str) -> bool {
    let Ok(found) = pods.get(pod).await else {
        return false;
    };
    found
        .status
        .and_then(|s| s.container_statuses)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
        })
}

enum Stop {
    Api(kube::Error),
    Io(io::Error),
}

/// One read of the output since `resume`: following it live, or up to now.
async fn copy(
    pods: &Api<Pod>,
    pod: &str,
    path: &Path,
    masker: &Masker,
    mut resume: Resume,
    live: bool,
    limit: &mut LogLimit,
) -> Result<(), Stop> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(Stop::Io)?;
    let params = LogParams {
        container: Some(CONTAINER.to_owned()),
        follow: live,
        timestamps: true,
        since_time: resume.floor_time().and_then(|t| {
            k8s_openapi::jiff::Timestamp::from_millisecond(t.timestamp_millis()).ok()
        }),
        ..LogParams::default()
    };
    let mut stream = pods.log_stream(pod, &params).await.map_err(Stop::Api)?;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = stream
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| Stop::Api(kube::Error::ReadEvents(e)))?;
        if read == 0 {
            return Ok(());
        }
        let raw = line.strip_suffix(b"\n").unwrap_or(&line);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let (at, text) = split_line(raw);
        // A very long line becomes several log lines, as in every backend.
        let pieces: Vec<&[u8]> = if text.is_empty() {
            vec![b""]
        } else {
            text.chunks(MAX_LINE).collect()
        };
        for piece in pieces {
            write_line(&mut file, masker, &mut resume, limit, &at, piece).map_err(Stop::Io)?;
        }
    }
}

/// Writes one task line unless it was copied before or the log is full.
fn write_line(
    file: &mut File,
    masker: &Masker,
    resume: &mut Resume,
    limit: &mut LogLimit,
    at: &str,
    raw: &[u8],
) -> io::Result<()> {
    let text = masker.mask(&String::from_utf8_lossy(raw));
    if resume.already_copied(at, &text) {
        return Ok(());
    }
    let out = format!("{at} {text}\n");
    match limit.admit(out.len(), raw.len()) {
        Admit::Write => file.write_all(out.as_bytes()),
        Admit::Notice(notice) => {
            file.write_all(format!("{} [weir] {notice}\n", stamp(Utc::now())).as_bytes())
        }
        Admit::Drop => Ok(()),
    }
}

/// Splits a line of the API's output into its time (as the log writes it) and its text.
fn split_line(line: &[u8]) -> (String, &[u8]) {
    let cut = line.iter().position(|b| *b == b' ');
    let stamp_end = cut.unwrap_or(line.len());
    let parsed = std::str::from_utf8(&line[..stamp_end])
        .ok()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    match parsed {
        Some(at) => {
            let text = cut.map_or(&line[line.len()..], |i| &line[i + 1..]);
            (stamp(at.with_timezone(&Utc)), text)
        }
        None => (stamp(Utc::now()), line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_the_kubelet_time_in_milliseconds() {
        let (at, text) = split_line(b"2026-12-04T12:00:00.123456789Z hello world");
        assert_eq!(at, "2026-12-04T12:00:00.123Z");
        assert_eq!(text, b"hello world");
        let (at, text) = split_line(b"2026-12-04T12:00:01Z");
        assert_eq!(at, "2026-12-04T12:00:01.000Z");
        assert_eq!(text, b"");
        let (at, text) = split_line(b"no stamp here");
        assert_eq!(at.len(), 24);
        assert_eq!(text, b"no stamp here");
    }

    #[test]
    fn written_lines_are_masked_and_not_repeated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        std::fs::write(&path, "2026-12-04T12:00:00.000Z old\n").expect("write");
        let mut resume = Resume::from_log(&path).expect("resume");
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        let masker = Masker::new(["pw"]);
        let mut limit = LogLimit::unlimited();
        for (at, line) in [
            ("2026-12-04T12:00:00.000Z", &b"old"[..]),
            ("2026-12-04T12:00:00.500Z", b"the pw is out"),
        ] {
            write_line(&mut file, &masker, &mut resume, &mut limit, at, line).expect("line");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "2026-12-04T12:00:00.000Z old\n2026-12-04T12:00:00.500Z the *** is out\n"
        );
    }
}
