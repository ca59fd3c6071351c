//! Masking secret values wherever a try's output is recorded: its log, the rendered
//! command the API shows, its XCom, the reasons Weir writes when it fails.
//!
//! A task rarely prints a secret as given: it logs a request with the token URL-encoded,
//! dumps a config as JSON (escaping quotes and backslashes), or builds a Basic
//! `Authorization` header (base64). So each value is masked in those forms too, and a
//! value that spans several lines (a PEM key) is masked line by line, since the log is
//! cut into lines before it is masked. Values shorter than [`MIN_SECRET_LEN`] cannot be
//! masked without masking everything, which is why they are refused when set.
//!
//! What cannot be caught: a task that prints a secret in pieces on separate lines, or
//! transformed some other way (reversed, hashed, encrypted). Masking is a guard against
//! accidents, not against a task that means to leak what it was given.

use base64::Engine as _;

use crate::secrets::percent_encode;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// The shortest secret value accepted: a shorter one would mask ordinary words.
pub const MIN_SECRET_LEN: usize = 4;

/// What a masked value is replaced by.
pub const MASK: &str = "***";

/// Replaces secret values (and their encoded forms) by `***`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Masker {
    /// Every form to replace, longest first, so a form containing another is masked
    /// whole.
    patterns: Vec<String>,
}

impl Masker {
    /// Masks the given values and their forms. Empty values are ignored (they would
    /// match everywhere); a value shorter than [`MIN_SECRET_LEN`] is masked as given,
    /// but not in its other forms (whose short pieces would mask ordinary text).
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut patterns = Vec::new();
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.is_empty() {
                continue;
            }
            patterns.push(secret.to_owned());
            if secret.chars().count() < MIN_SECRET_LEN {
                continue;
            }
            let mut derived = Vec::new();
            forms(secret, &mut derived);
            derived.retain(|p| p.chars().count() >= MIN_SECRET_LEN);
            patterns.extend(derived);
        }
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        patterns.dedup();
        Self { patterns }
    }

    /// Whether there is anything to mask.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `text` with every masked form replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for pattern in &self.patterns {
            if text.contains(pattern.as_str()) {
                text = text.replace(pattern.as_str(), MASK);
            }
        }
        text
    }

    /// A JSON value with every string in it (keys too) masked.
    pub fn mask_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        if self.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.mask(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.mask_json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.mask(k), self.mask_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Whether `text` holds a masked form (a check for tests and for refusing to store).
    pub fn reveals(&self, text: &str) -> bool {
        self.patterns.iter().any(|p| text.contains(p.as_str()))
    }
}

/// The other forms of `secret` a task's output may show it in.
fn forms(secret: &str, out: &mut Vec<String>) {
    // JSON-escaped (quotes, backslashes, control characters), without the quotes.
    if let Ok(json) = serde_json::to_string(secret) {
        out.push(json[1..json.len() - 1].to_owned());
    }
    // URL-encoded: percent-encoding (RFC 3986) and form encoding (`+` for spaces).
    let percent = percent_encode(secret);
    out.push(percent.replace("%20", "+"));
    out.push(percent);
    // base64, both alphabets, with and without padding.
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push(engine.encode(secret.as_bytes()));
    }
    // A multi-line value reaches the log one line at a time.
    if secret.contains('\n') {
        for line in secret.lines() {
            let line = line.trim_end_matches('\r');
            if !line.trim().is_empty() {
                out.push(line.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr\"et/+ pa$$";

    #[test]
    fn every_form_is_masked() {
        let masker = Masker::new([SECRET]);
        let forms = [
            SECRET.to_owned(),
            serde_json::to_string(SECRET).expect("json"),
            percent_encode(SECRET),
            percent_encode(SECRET).replace("%20", "+"),
            STANDARD.encode(SECRET),
            URL_SAFE_NO_PAD.encode(SECRET),
        ];
        for form in forms {
            let line = format!("before {form} after");
            let masked = masker.mask(&line);
            assert!(!masker.reveals(&masked), "{form} survived as {masked}");
            assert!(masked.starts_with("before ") && masked.ends_with(" after"));
            assert!(masked.contains(MASK), "{masked}");
        }
    }

    #[test]
    fn multi_line_values_are_masked_per_line() {
        let key = "-----BEGIN KEY-----\nMIIBexampleLINE1\nMIIBexampleLINE2\n-----END KEY-----";
        let masker = Masker::new([key]);
        for line in key.lines() {
            assert_eq!(masker.mask(line), MASK, "{line}");
        }
    }

    #[test]
    fn short_values_are_masked_only_as_given() {
        assert!(Masker::new([""]).is_empty());
        let masker = Masker::new(["ab"]);
        // base64 of "ab" is "YWI=": masking "YWI" would hit unrelated text.
        assert_eq!(masker.mask("ab YWI= cd"), "*** YWI= cd");
    }

    #[test]
    fn a_longer_secret_is_masked_whole() {
        let masker = Masker::new(["abcd", "abcdefgh"]);
        assert_eq!(masker.mask("x abcdefgh y abcd"), "x *** y ***");
    }

    #[test]
    fn json_values_are_masked_throughout() {
        let masker = Masker::new(["hunter22"]);
        let value =
            serde_json::json!({"pw": "hunter22", "list": ["a hunter22 b", 3], "hunter22": 1});
        let masked = masker.mask_json(&value);
        assert_eq!(
            masked,
            serde_json::json!({"pw": "***", "list": ["a *** b", 3], "***": 1})
        );
    }
}
