//! Copies a job's output from CloudWatch Logs into `try_dir/log`.
//!
//! AWS Batch's `awslogs` driver writes each container line as one event of the stream
//! `container.logStreamName` in the environment's log group (`/aws/batch/job` unless
//! configured). [`LogCopy::copy`] reads the events it has not copied yet with
//! `GetLogEvents` (from the head, following `nextForwardToken` until it comes back
//! unchanged) and appends each line in the contract's format — the event's own time as
//! RFC 3339 with milliseconds, a space, the line with secret values masked — under the
//! log's size limit. The forward token is kept in `try_dir/log_cursor`, so a copy
//! resumed after a restart neither repeats nor skips lines.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::client::Failure;
use crate::capture::{Admit, LogLimit, Masker};
use crate::layout::{self, LOG, stamp};

/// The file holding the next forward token of the copy.
pub const CURSOR: &str = "log_cursor";

/// What one [`LogCopy::copy`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Whether the stream exists yet (Batch creates it when the container starts, and
    /// CloudWatch shows it a little later).
    pub stream_found: bool,
    /// Events copied by this call.
    pub events: usize,
}

/// The copy of one job's log stream.
pub struct LogCopy {
    try_dir: PathBuf,
    group: String,
    stream: Option<String>,
    token: Option<String>,
    masker: Masker,
    limit: LogLimit,
    file: Option<File>,
}

impl std::fmt::Debug for LogCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCopy")
            .field("group", &self.group)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl LogCopy {
    /// A copy into `try_dir/log`, resumed from `try_dir/log_cursor` if there is one.
    pub fn new(try_dir: &Path, group: &str, masker: Masker, max_bytes: Option<u64>) -> Self {
        let token = std::fs::read_to_string(try_dir.join(CURSOR))
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let already = std::fs::metadata(try_dir.join(LOG)).map_or(0, |m| m.len());
        Self {
            try_dir: try_dir.to_path_buf(),
            group: group.to_owned(),
            stream: None,
            token,
            masker,
            limit: max_bytes.map_or_else(LogLimit::unlimited, |max| LogLimit::new(max, already)),
            file: None,
        }
    }

    /// Sets the stream once Batch names it.
    pub fn set_stream(&mut self, stream: Option<&str>) {
        if self.stream.is_none() {
            self.stream = stream.map(str::to_owned);
        }
    }

    pub fn has_stream(&self) -> bool {
        self.stream.is_some()
    }

    /// Copies every event not copied yet. A stream CloudWatch does not know (yet) is no
    /// error: `stream_found` says so.
    pub async fn copy(&mut self, logs: &aws_sdk_cloudwatchlogs::Client) -> Result<Copied, Failure> {
        let Some(stream) = self.stream.clone() else {
            return Ok(Copied {
                stream_found: false,
                events: 0,
            });
        };
        let mut copied = 0;
        loop {
            let answer = logs
                .get_log_events()
                .log_group_name(&self.group)
                .log_stream_name(&stream)
                .start_from_head(true)
                .set_next_token(self.token.clone())
                .send()
                .await;
            let page = match answer {
                Ok(page) => page,
                Err(e) => {
                    let failure = Failure::of(&e);
                    if failure.is_not_found() {
                        return Ok(Copied {
                            stream_found: false,
                            events: copied,
                        });
                    }
                    return Err(failure);
                }
            };
            for event in page.events() {
                let at = event
                    .timestamp()
                    .and_then(DateTime::<Utc>::from_timestamp_millis)
                    .unwrap_or_else(Utc::now);
                for line in event.message().unwrap_or_default().split('\n') {
                    let line = line.strip_suffix('\r').unwrap_or(line);
                    self.write_line(at, line);
                }
                copied += 1;
            }
            let next = page.next_forward_token().map(str::to_owned);
            let done = next.is_none() || next == self.token || page.events().is_empty();
            if next.is_some() && next != self.token {
                self.token = next;
                self.save_cursor();
            }
            if done {
                return Ok(Copied {
                    stream_found: true,
                    events: copied,
                });
            }
        }
    }

    fn write_line(&mut self, at: DateTime<Utc>, raw: &str) {
        let out = format!("{} {}\n", stamp(at), self.masker.mask(raw));
        let text = match self.limit.admit(out.len(), raw.len()) {
            Admit::Write => out,
            Admit::Notice(notice) => format!("{} [weir] {notice}\n", stamp(Utc::now())),
            Admit::Drop => return,
        };
        if let Err(e) = self.append(text.as_bytes()) {
            tracing::warn!(try_dir = %self.try_dir.display(), error = %e, "cannot write the try's log");
        }
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            self.file = Some(layout::open_append(&self.try_dir.join(LOG))?);
        }
        match &mut self.file {
            Some(file) => file.write_all(bytes),
            None => Ok(()),
        }
    }

    fn save_cursor(&self) {
        if let Some(token) = &self.token {
            let _ = layout::write_atomic(&self.try_dir, CURSOR, token.as_bytes());
        }
    }

    /// Writes the limit's closing remark, if output was dropped.
    pub fn finish(&mut self) {
        if let Some(summary) = self.limit.summary() {
            let line = format!("{} [weir] {summary}\n", stamp(Utc::now()));
            let _ = self.append(line.as_bytes());
        }
    }
}
