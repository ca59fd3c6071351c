//! Shell commands rendered so that template values stay data: every `{{ … }}` value is
//! inserted as literal text, quoted for the place in the command where it lands.
//!
//! A value cannot be quoted without knowing where it lands: `'…'` is one safe word in
//! `echo {{ x }}`, but inside `echo "rows={{ x }}"` the single quotes are literal and a
//! `$(…)` in the value would run. So rendering happens in two steps. While minijinja
//! renders, the formatter wraps each value that is not marked `| safe` in two
//! private-use marker characters. Then [`quote_marked`] reads the rendered command as
//! `sh` would (quotes, `$( )`, backquotes, comments, here-documents) and replaces each
//! marked value with its quoted form for that place:
//!
//! - unquoted (also inside `$( )`): one POSIX-shell word (`shlex`), so `{{ ds }}` stays
//!   `2026-01-01` and `$(touch x)` becomes `'$(touch x)'`;
//! - inside double quotes: `\`, `$`, `` ` `` and `"` backslash-escaped;
//! - inside single quotes: each `'` as `'\''`;
//! - inside backquotes: the word, with what backquotes unescape escaped once more;
//! - in a comment or a here-document: as is (escaped like double quotes in a
//!   here-document that expands), but never a line break, which would end it.
//!
//! Values marked `| safe` are shell syntax the DAG's author means, and are left alone.
//! Since the scan reads the rendered text, the quoting follows `{% if %}`, loops and
//! macros exactly.

use std::collections::VecDeque;
use std::fmt::Write as _;

use minijinja::{Error, ErrorKind, Output};

/// The auto-escape mode of shell commands (`AutoEscape::Custom`).
pub(super) const MODE: &str = "shell";
/// The template name shell commands are compiled under; the auto-escape callback turns
/// the mode on for it.
pub(super) const TEMPLATE_NAME: &str = "shell command";

/// Marks where a value starts and ends in the first rendering step. Private-use
/// characters: a command or a value that contains them is refused, so every marker in
/// the rendered text is one the formatter wrote.
pub(super) const OPEN: char = '\u{E000}';
pub(super) const CLOSE: char = '\u{E001}';

/// Whether a text holds a marker character.
pub(super) fn has_marker(text: &str) -> bool {
    text.contains([OPEN, CLOSE])
}

/// The formatter's part: writes a value's text, marked for quoting unless it is `safe`.
pub(super) fn write_value(out: &mut Output, text: &str, safe: bool) -> Result<(), Error> {
    if safe {
        // Safe text is the author's shell syntax, or a block captured while rendering
        // (`{% set x %}…{% endset %}`) whose values are already marked.
        return out.write_str(text).map_err(Error::from);
    }
    if has_marker(text) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "a value inserted into the shell command holds the reserved character U+E000 or \
             U+E001; remove it from the value",
        ));
    }
    out.write_char(OPEN)
        .and_then(|()| out.write_str(text))
        .and_then(|()| out.write_char(CLOSE))
        .map_err(Error::from)
}

/// Where in the command the scan is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    /// Unquoted, at the top level of the command.
    Top,
    /// Inside `$( … )`; `depth` counts the parentheses opened within.
    Subst {
        depth: u32,
    },
    /// Inside backquotes; `in_double` when they are within double quotes.
    Backquote {
        in_double: bool,
    },
    Double,
    Single,
    Comment,
    /// The body of a here-document.
    HereDoc(HereDoc),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HereDoc {
    delimiter: String,
    /// `<<-`: leading tabs are stripped from body lines.
    strip_tabs: bool,
    /// An unquoted delimiter: the body expands `$`, `` ` `` and `\`.
    expands: bool,
}

impl Place {
    fn unquoted(&self) -> bool {
        matches!(
            self,
            Place::Top | Place::Subst { .. } | Place::Backquote { .. }
        )
    }
}

/// Replaces each marked value of a rendered shell command by its quoted form.
pub(super) fn quote_marked(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut stack = vec![Place::Top];
    let mut pending: VecDeque<HereDoc> = VecDeque::new();
    // The current line of a here-document body, to find its delimiter line.
    let mut line = String::new();
    let mut prev: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let place = stack.last().cloned().unwrap_or(Place::Top);
        if c == OPEN {
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some(CLOSE) => break,
                    Some(OPEN) | None => return Err(broken_markers()),
                    Some(ch) => value.push(ch),
                }
            }
            let quoted = quote_for(&place, &value)?;
            if matches!(place, Place::HereDoc(_)) {
                line.push_str(&quoted);
            }
            out.push_str(&quoted);
            prev = Some('x');
            continue;
        }
        if c == CLOSE {
            return Err(broken_markers());
        }
        out.push(c);
        match place {
            Place::Top | Place::Subst { .. } | Place::Backquote { .. } => match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        if next == OPEN {
                            return Err(after_backslash());
                        }
                        out.push(next);
                    }
                }
                '\'' => stack.push(Place::Single),
                '"' => stack.push(Place::Double),
                '`' if matches!(place, Place::Backquote { .. }) => {
                    stack.pop();
                }
                '`' => stack.push(Place::Backquote { in_double: false }),
                '$' if chars.peek() == Some(&'(') => {
                    chars.next();
                    out.push('(');
                    stack.push(Place::Subst { depth: 0 });
                }
                '(' => {
                    if let Some(Place::Subst { depth }) = stack.last_mut() {
                        *depth += 1;
                    }
                }
                ')' => match stack.last_mut() {
                    Some(Place::Subst { depth: 0 }) => {
                        stack.pop();
                    }
                    Some(Place::Subst { depth }) => *depth -= 1,
                    _ => {}
                },
                '#' if prev.is_none_or(|p| p.is_whitespace() || ";&|()<>".contains(p)) => {
                    stack.push(Place::Comment);
                }
                '<' if chars.peek() == Some(&'<') => {
                    chars.next();
                    out.push('<');
                    if chars.peek() == Some(&'<') {
                        // `<<<` is a here-string: an ordinary word follows.
                        chars.next();
                        out.push('<');
                    } else {
                        pending.push_back(read_delimiter(&mut chars, &mut out)?);
                    }
                }
                '\n' => start_here_doc(&mut stack, &mut pending, &mut line),
                _ => {}
            },
            Place::Double => match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        if next == OPEN {
                            return Err(after_backslash());
                        }
                        out.push(next);
                    }
                }
                '"' => {
                    stack.pop();
                }
                '$' if chars.peek() == Some(&'(') => {
                    chars.next();
                    out.push('(');
                    stack.push(Place::Subst { depth: 0 });
                }
                '`' => stack.push(Place::Backquote { in_double: true }),
                _ => {}
            },
            Place::Single => {
                if c == '\'' {
                    stack.pop();
                }
            }
            Place::Comment => {
                if c == '\n' {
                    stack.pop();
                    start_here_doc(&mut stack, &mut pending, &mut line);
                }
            }
            Place::HereDoc(doc) => {
                if c == '\n' {
                    let body_line = if doc.strip_tabs {
                        line.trim_start_matches('\t')
                    } else {
                        line.as_str()
                    };
                    if body_line == doc.delimiter {
                        stack.pop();
                        start_here_doc(&mut stack, &mut pending, &mut line);
                    }
                    line.clear();
                } else if doc.expands && c == '$' && chars.peek() == Some(&'(') {
                    chars.next();
                    out.push('(');
                    line.push_str("$(");
                    stack.push(Place::Subst { depth: 0 });
                } else {
                    line.push(c);
                }
            }
        }
        prev = Some(c);
    }
    Ok(out)
}

/// After a line break: the body of the first pending here-document starts, if any.
fn start_here_doc(stack: &mut Vec<Place>, pending: &mut VecDeque<HereDoc>, line: &mut String) {
    let at_top = stack.last().is_some_and(Place::unquoted);
    if at_top && let Some(doc) = pending.pop_front() {
        line.clear();
        stack.push(Place::HereDoc(doc));
    }
}

/// Reads a here-document's delimiter after `<<` (copying it to `out`).
fn read_delimiter(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
) -> Result<HereDoc, String> {
    let mut strip_tabs = false;
    if chars.peek() == Some(&'-') {
        chars.next();
        out.push('-');
        strip_tabs = true;
    }
    while let Some(&c) = chars.peek()
        && (c == ' ' || c == '\t')
    {
        chars.next();
        out.push(c);
    }
    let mut delimiter = String::new();
    let mut expands = true;
    let mut quote: Option<char> = None;
    while let Some(&c) = chars.peek() {
        if c == OPEN || c == CLOSE {
            return Err(
                "a template value cannot be a here-document's delimiter; write the \
                        delimiter in the command itself"
                    .to_string(),
            );
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => delimiter.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                expands = false;
            }
            None if c == '\\' => expands = false,
            None if c.is_whitespace() || ";&|<>()".contains(c) => break,
            None => delimiter.push(c),
        }
        chars.next();
        out.push(c);
    }
    Ok(HereDoc {
        delimiter,
        strip_tabs,
        expands,
    })
}

/// A value's text, quoted for where it lands.
fn quote_for(place: &Place, value: &str) -> Result<String, String> {
    if value.contains('\0') {
        return Err(
            "a value inserted into the shell command holds a NUL byte, which a command \
                    cannot carry"
                .to_string(),
        );
    }
    let word = || {
        shlex::try_quote(value)
            .map(|w| w.into_owned())
            .map_err(|e| format!("a value cannot be quoted for the shell: {e}"))
    };
    match place {
        Place::Top | Place::Subst { .. } => word(),
        Place::Backquote { in_double } => {
            let special = if *in_double { "\\`$\"" } else { "\\`$" };
            Ok(backslash_escape(&word()?, special))
        }
        Place::Double => Ok(backslash_escape(value, "\\`$\"")),
        Place::Single => Ok(value.replace('\'', r"'\''")),
        Place::Comment | Place::HereDoc(_) if value.contains(['\n', '\r']) => Err(format!(
            "a value with a line break cannot go into a shell {}: the break would end it and \
             the rest would run as commands; move the `{{{{ … }}}}` out of it",
            if *place == Place::Comment {
                "comment"
            } else {
                "here-document"
            }
        )),
        Place::HereDoc(doc) if doc.expands => Ok(backslash_escape(value, "\\`$")),
        Place::Comment | Place::HereDoc(_) => Ok(value.to_string()),
    }
}

fn backslash_escape(text: &str, special: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn broken_markers() -> String {
    "a filter cut a template value in the shell command apart (e.g. `truncate` on a \
     captured block); apply the filter to the value itself"
        .to_string()
}

fn after_backslash() -> String {
    "a `{{ … }}` right after a backslash in a shell command cannot be quoted; remove the \
     backslash"
        .to_string()
}
