//! Diagnostics: a located message about a DAG file, and its rustc-style rendering
//! (`path:line:column: error: message`, the source line, a caret under the spot).

use std::fmt::Write as _;

use serde::Serialize;

/// A 1-based line and column in a source file (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn new(line: u32, col: u32) -> Self {
        Pos { line, col }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Pos,
    pub message: String,
    /// What to do about it, when there is something specific to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Extra context, e.g. which factory row produced the DAG.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Diagnostic {
    pub fn error(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            pos,
            message: message.into(),
            help: None,
            note: None,
        }
    }

    pub fn warning(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(pos, message)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The one-line form: `path:line:column: error: message`.
    pub fn headline(&self, path: &str) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!(
            "{path}:{}:{}: {level}: {}",
            self.pos.line, self.pos.col, self.message
        )
    }

    /// The full rustc-style form: headline, the offending source line with a caret
    /// under the column, then `help:` and `note:` lines.
    pub fn render(&self, path: &str, source: &str) -> String {
        let mut out = self.headline(path);
        out.push('\n');
        let line_no = self.pos.line.to_string();
        let gutter = " ".repeat(line_no.len());
        if let Some(line) = source.lines().nth(self.pos.line.saturating_sub(1) as usize) {
            let line = line.trim_end_matches('\r');
            let caret_at = (self.pos.col.saturating_sub(1) as usize).min(line.chars().count());
            // Tabs keep their width so the caret lines up with the text above it.
            let pad: String = line
                .chars()
                .take(caret_at)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{gutter} |");
            let _ = writeln!(out, "{line_no} | {line}");
            let _ = writeln!(out, "{gutter} | {pad}^");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{gutter} = help: {help}");
        }
        if let Some(note) = &self.note {
            let _ = writeln!(out, "{gutter} = note: {note}");
        }
        out
    }
}

/// The 1-based position of the first occurrence of `needle` in `source`.
pub fn locate(source: &str, needle: &str) -> Option<Pos> {
    let (line, col) = line_col(source, source.find(needle)?);
    Some(Pos::new(
        u32::try_from(line).ok()?,
        u32::try_from(col).ok()?,
    ))
}

/// The 1-based position of the first occurrence of `needle` in `source` at or after byte
/// `from` (so each task's diagnostic points into its own lines, not the first task's).
pub fn locate_from(source: &str, needle: &str, from: usize) -> Option<Pos> {
    let start = from.min(source.len());
    let found = source.get(start..)?.find(needle)? + start;
    let (line, col) = line_col(source, found);
    Some(Pos::new(
        u32::try_from(line).ok()?,
        u32::try_from(col).ok()?,
    ))
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Whether any of `diags` is an error (warnings do not count).
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// Every diagnostic rendered rustc-style for `path`, separated by blank lines.
pub fn render_all(diags: &[Diagnostic], path: &str, source: &str) -> String {
    diags
        .iter()
        .map(|d| d.render(path, source))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The closest of `candidates` to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let src = "dag: x\ntasks:\n  a:\n    depnds_on: [b]\n";
        let d = Diagnostic::error(Pos::new(4, 5), "unknown key `depnds_on`")
            .with_help("did you mean `depends_on`?");
        let text = d.render("dags/x.yaml", src);
        assert_eq!(
            text,
            "dags/x.yaml:4:5: error: unknown key `depnds_on`\n  |\n4 |     depnds_on: [b]\n  |     ^\n  = help: did you mean `depends_on`?\n"
        );
    }

    #[test]
    fn suggests_close_words_only() {
        let keys = ["depends_on", "trigger_rule", "retries"];
        assert_eq!(did_you_mean("depnds_on", keys), Some("depends_on"));
        assert_eq!(did_you_mean("retrys", keys), Some("retries"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
