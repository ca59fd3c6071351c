//! Turns a task's stdout and stderr into timestamped, masked log lines.
//!
//! Runs inside the supervisor's single event loop: bytes read from either pipe go through
//! a [`LineSplitter`] per pipe, and each complete line is written to the log with a single
//! `write` on an unbuffered file, so a reader following the log (`tail -f`) sees every line
//! as soon as the task prints it, and lines never interleave mid-line.

use std::fs::File;
use std::io::{self, Write};

use chrono::Utc;

use crate::layout::stamp;

/// A line longer than this is cut into several log lines, so a task printing megabytes
/// without a newline (a progress bar using `\r`) cannot make the supervisor's memory grow.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// Replaces secret values by `***`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    /// Masks the given values; empty ones are ignored (they would match everywhere).
    /// Longer values go first, so a secret containing another is masked whole.
    pub(crate) fn new(mut secrets: Vec<String>) -> Self {
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    pub(crate) fn mask(&self, line: &str) -> String {
        let mut line = line.to_owned();
        for secret in &self.secrets {
            if line.contains(secret.as_str()) {
                line = line.replace(secret.as_str(), "***");
            }
        }
        line
    }
}

/// The try's log file.
#[derive(Debug)]
pub(crate) struct LogSink {
    file: File,
    masker: Masker,
}

impl LogSink {
    pub(crate) fn new(file: File, masker: Masker) -> Self {
        Self { file, masker }
    }

    /// Appends one line (given without its newline) with the current timestamp.
    pub(crate) fn line(&mut self, raw: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(raw);
        let mut out = stamp(Utc::now());
        out.push(' ');
        out.push_str(&self.masker.mask(&text));
        out.push('\n');
        self.file.write_all(out.as_bytes())
    }

    /// Writes one of Weir's own lines (best effort: the log is a courtesy).
    pub(crate) fn remark(&mut self, text: &str) {
        let _ = self.line(format!("[weir] {text}").as_bytes());
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
        let masker = Masker::new(vec!["abc".into(), String::new(), "abcdef".into()]);
        assert_eq!(masker.mask("x abcdef y abc"), "x *** y ***");
        assert_eq!(masker.mask("nothing here"), "nothing here");
        assert_eq!(Masker::default().mask("abc"), "abc");
    }

    #[test]
    fn sink_writes_timestamped_masked_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let file = File::create(&path).expect("create");
        let mut sink = LogSink::new(file, Masker::new(vec!["pw".into()]));
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
