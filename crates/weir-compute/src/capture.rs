//! Turns a task's stdout and stderr into timestamped, masked log lines.
//!
//! Runs inside the supervisor's single event loop: bytes read from either pipe go through
//! a [`LineSplitter`] per pipe, and each complete line is written to the log with a single
//! `write` on an unbuffered file, so a reader following the log (`tail -f`) sees every line
//! as soon as the task prints it, and lines never interleave mid-line.
//!
//! A [`LogLimit`] caps a try's log (`[logs] max_bytes_per_try`): past it, one line says the
//! log was truncated, later task lines are read and dropped (so the task never blocks on
//! a full pipe and runs to its normal end), and a closing line counts the dropped bytes.

use std::fs::File;
use std::io::{self, Write};

use chrono::Utc;

use crate::layout::stamp;

/// A line longer than this is cut into several log lines, so a task printing megabytes
/// without a newline (a progress bar using `\r`) cannot make the supervisor's memory grow.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// The masking rules are the domain's: the engine masks what it records the same way.
pub(crate) use weir_core::mask::Masker;

/// What [`LogLimit::admit`] says about one task line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Write it.
    Write,
    /// Drop it, and write this notice instead (once, at the limit).
    Notice(String),
    /// Drop it.
    Drop,
}

/// The size limit of one try's log. Weir's own remarks are not counted, so the log may
/// end a few short lines past the limit.
#[derive(Debug, Clone)]
pub(crate) struct LogLimit {
    max: u64,
    written: u64,
    dropped: u64,
    truncated: bool,
}

impl LogLimit {
    /// A limit of `max` bytes on a log that already holds `already` bytes (a resumed
    /// copy): one already past the limit counts as truncated, without a second notice.
    pub(crate) fn new(max: u64, already: u64) -> Self {
        Self {
            max,
            written: already,
            dropped: 0,
            truncated: already >= max,
        }
    }

    /// No limit.
    pub(crate) fn unlimited() -> Self {
        Self::new(u64::MAX, 0)
    }

    /// Whether a log line of `line_len` bytes (as written, with stamp and newline) of a
    /// task line of `raw_len` bytes fits; counts it either way.
    pub(crate) fn admit(&mut self, line_len: usize, raw_len: usize) -> Admit {
        let line_len = line_len as u64;
        if !self.truncated && self.written.saturating_add(line_len) <= self.max {
            self.written += line_len;
            return Admit::Write;
        }
        // The task's bytes, with the newline that ended the line.
        self.dropped = self.dropped.saturating_add(raw_len as u64 + 1);
        if self.truncated {
            return Admit::Drop;
        }
        self.truncated = true;
        Admit::Notice(format!(
            "log truncated: this try's output reached the log limit of {} \
             ([logs] max_bytes_per_try in weir.toml); the rest is dropped while the task \
             runs on",
            weir_core::platform::format_bytes(self.max)
        ))
    }

    /// Whether output was dropped.
    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }

    /// The closing remark: how much was dropped, if anything was.
    pub(crate) fn summary(&self) -> Option<String> {
        (self.dropped > 0).then(|| {
            format!(
                "log truncated: {} bytes of output were dropped past the log limit",
                self.dropped
            )
        })
    }
}

/// The try's log file.
#[derive(Debug)]
pub(crate) struct LogSink {
    file: File,
    masker: Masker,
    limit: LogLimit,
}

impl LogSink {
    pub(crate) fn new(file: File, masker: Masker) -> Self {
        Self {
            file,
            masker,
            limit: LogLimit::unlimited(),
        }
    }

    /// Caps the task's lines at `max` bytes of log, counting what the file holds.
    pub(crate) fn with_limit(mut self, max: u64) -> Self {
        let already = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        self.limit = LogLimit::new(max, already);
        self
    }

    /// Appends one task line (given without its newline) with the current timestamp,
    /// unless the log is full.
    pub(crate) fn line(&mut self, raw: &[u8]) -> io::Result<()> {
        let out = self.format(raw);
        match self.limit.admit(out.len(), raw.len()) {
            Admit::Write => self.file.write_all(out.as_bytes()),
            Admit::Notice(notice) => self.write_remark(&notice),
            Admit::Drop => Ok(()),
        }
    }

    fn format(&self, raw: &[u8]) -> String {
        let text = String::from_utf8_lossy(raw);
        let mut out = stamp(Utc::now());
        out.push(' ');
        out.push_str(&self.masker.mask(&text));
        out.push('\n');
        out
    }

    fn write_remark(&mut self, text: &str) -> io::Result<()> {
        let out = self.format(format!("[weir] {text}").as_bytes());
        self.file.write_all(out.as_bytes())
    }

    /// Writes one of Weir's own lines (best effort: the log is a courtesy). Never
    /// dropped by the limit.
    pub(crate) fn remark(&mut self, text: &str) {
        let _ = self.write_remark(text);
    }

    /// Writes the limit's closing remark, if output was dropped.
    pub(crate) fn finish(&mut self) {
        if let Some(summary) = self.limit.summary() {
            self.remark(&summary);
        }
    }
}

/// Cuts a byte stream into lines (`\n` or `\r\n`), at most [`MAX_LINE`] bytes each.
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Adds `bytes` and hands every line they complete to `emit`.
    pub(crate) fn feed(&mut self, bytes: &[u8], mut emit: impl FnMut(&[u8])) {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        loop {
            let rest = &self.pending[start..];
            let window = &rest[..rest.len().min(MAX_LINE + 1)];
            if let Some(i) = window.iter().position(|b| *b == b'\n') {
                let line = &window[..i];
                emit(line.strip_suffix(b"\r").unwrap_or(line));
                start += i + 1;
            } else if rest.len() > MAX_LINE {
                emit(&rest[..MAX_LINE]);
                start += MAX_LINE;
            } else {
                break;
            }
        }
        self.pending.drain(..start);
    }

    /// At end of file: hands a last line without newline, if any, to `emit`.
    pub(crate) fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            emit(line.strip_suffix(b"\r").unwrap_or(&line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        let mut emit = |l: &[u8]| lines.push(String::from_utf8_lossy(l).into_owned());
        for chunk in chunks {
            splitter.feed(chunk, &mut emit);
        }
        splitter.finish(&mut emit);
        lines
    }

    #[test]
    fn lines_are_split_across_reads() {
        let lines = split(&[b"ab\ncd", b"ef\r\n\n", b"last"]);
        assert_eq!(lines, ["ab", "cdef", "", "last"]);
        assert!(split(&[b""]).is_empty());
    }

    #[test]
    fn long_lines_are_cut() {
        let long = vec![b'x'; MAX_LINE * 2 + 3];
        let lines = split(&[&long, b"\nnext\n"]);
        assert_eq!(
            lines.len(),
            4,
            "{:?}",
            lines.iter().map(String::len).collect::<Vec<_>>()
        );
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1].len(), MAX_LINE);
        assert_eq!(lines[2], "xxx");
        assert_eq!(lines[3], "next");
        // A line of exactly MAX_LINE bytes stays one line.
        let exact = [vec![b'y'; MAX_LINE], b"\n".to_vec()].concat();
        assert_eq!(split(&[&exact]).len(), 1);
    }

    #[test]
    fn secrets_are_masked_longest_first() {
        let masker = Masker::new(["abc", "", "abcdef"]);
        assert_eq!(masker.mask("x abcdef y abc"), "x *** y ***");
        assert_eq!(masker.mask("nothing here"), "nothing here");
        assert_eq!(Masker::default().mask("abc"), "abc");
    }

    #[test]
    fn a_full_log_says_so_once_and_counts_what_it_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let file = File::create(&path).expect("create");
        // Each line is 24 (stamp) + 1 + 8 + 1 (newline) = 34 bytes: two fit in 100.
        let mut sink = LogSink::new(file, Masker::default()).with_limit(100);
        for _ in 0..10 {
            sink.line(b"abcdefgh").expect("write");
        }
        sink.finish();
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].ends_with(" abcdefgh") && lines[1].ends_with(" abcdefgh"));
        assert!(
            lines[2].contains("[weir] log truncated") && lines[2].contains("limit of 100 ("),
            "{text}"
        );
        // Eight lines of 8 bytes and a newline each were dropped.
        assert!(lines[3].ends_with("72 bytes of output were dropped past the log limit"));
        assert_eq!(text.matches("log truncated").count(), 2, "one notice");

        let mut limit = LogLimit::new(10, 10);
        assert!(limit.truncated(), "a resumed copy of a full log");
        assert_eq!(limit.admit(5, 1), Admit::Drop);
        let mut free = LogLimit::unlimited();
        assert_eq!(free.admit(1 << 20, 1 << 20), Admit::Write);
        assert_eq!(free.summary(), None);
    }

    #[test]
    fn sink_writes_timestamped_masked_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let file = File::create(&path).expect("create");
        let mut sink = LogSink::new(file, Masker::new(["pw"]));
        sink.line(b"one").expect("write");
        sink.line(b"two pw").expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("Z one"), "{lines:?}");
        assert!(lines[1].ends_with("Z two ***"), "{lines:?}");
        assert_eq!(lines[0].find(' '), Some(24));
    }
}
