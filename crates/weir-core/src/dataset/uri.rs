//! Dataset URIs and the patterns consumers match them with.

use std::fmt;

/// The longest dataset URI accepted (Airflow's limit too).
pub const MAX_URI_LENGTH: usize = 3000;

/// Whether `uri` can name a dataset; the error says what is wrong with it.
pub fn check_uri(uri: &str) -> Result<(), String> {
    if uri.is_empty() {
        return Err("a dataset URI cannot be empty".into());
    }
    if uri.len() > MAX_URI_LENGTH {
        return Err(format!(
            "a dataset URI is at most {MAX_URI_LENGTH} characters; this one has {}",
            uri.len()
        ));
    }
    if let Some(c) = uri.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "dataset URI `{uri}` contains {c:?}; URIs have no spaces or control characters"
        ));
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(format!(
            "dataset URI `{uri}` has no scheme; write it like `s3://bucket/path` or `postgres://host/schema.table`"
        ));
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(format!(
            "dataset URI `{uri}` has an invalid scheme `{scheme}`: letters, digits, `+`, `-` and `.`, starting with a letter"
        ));
    }
    if rest.is_empty() {
        return Err(format!(
            "dataset URI `{uri}` names nothing after `{scheme}://`"
        ));
    }
    Ok(())
}

/// A consumer's name for datasets: an exact URI, or one with `*` (within a segment) and
/// `**` (across segments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriPattern {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// `*`: any characters but `/`.
    Segment,
    /// `**`: any characters.
    Any,
}

impl UriPattern {
    /// Reads a pattern; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<UriPattern, String> {
        // A pattern must be a URI once its wildcards are taken as characters.
        check_uri(&text.replace('*', "x"))?;
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '*' {
                literal.push(c);
                continue;
            }
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            if chars.peek() == Some(&'*') {
                chars.next();
                if chars.peek() == Some(&'*') {
                    return Err(format!(
                        "dataset pattern `{text}` has `***`; use `*` within a segment or `**` across segments"
                    ));
                }
                parts.push(Part::Any);
            } else {
                parts.push(Part::Segment);
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(UriPattern {
            text: text.to_string(),
            parts,
        })
    }

    /// Whether the pattern has no wildcard (it names one URI).
    pub fn is_exact(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `uri` is one of the datasets the pattern names.
    pub fn matches(&self, uri: &str) -> bool {
        matches_from(&self.parts, uri)
    }
}

/// Backtracking match; patterns are short and have few wildcards.
fn matches_from(parts: &[Part], text: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return text.is_empty();
    };
    match first {
        Part::Literal(lit) => text
            .strip_prefix(lit.as_str())
            .is_some_and(|after| matches_from(rest, after)),
        Part::Segment | Part::Any => {
            let stop_at_slash = matches!(first, Part::Segment);
            let mut ends: Vec<usize> = vec![0];
            for (i, c) in text.char_indices() {
                if stop_at_slash && c == '/' {
                    break;
                }
                ends.push(i + c.len_utf8());
            }
            ends.into_iter().any(|end| matches_from(rest, &text[end..]))
        }
    }
}

impl fmt::Display for UriPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
