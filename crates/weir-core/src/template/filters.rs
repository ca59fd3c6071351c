//! Filters (`{{ x | upper }}`) and tests (`{% if x is defined %}`) a template names that
//! Weir's templates do not have: found when the DAG is validated, not at run time when
//! each failure would spend a try.
//!
//! The names are read lexically from the template's `{{ … }}` and `{% … %}` blocks
//! (outside string literals); whether one exists is asked of the very environment that
//! renders, so the check never disagrees with a run.

use std::sync::LazyLock;

use minijinja::ErrorKind;

use crate::spec::diagnostic::did_you_mean;

/// A filter or test a template uses that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFilter {
    /// `filter` or `test`.
    pub kind: &'static str,
    pub name: String,
    /// Byte offset of the name in the template.
    pub offset: usize,
    pub suggestion: Option<&'static str>,
}

/// Names worth suggesting: minijinja's built-in filters and tests, its contrib filters,
/// and Weir's own; those that do not exist in this build are left out.
const CANDIDATES: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "truncate",
    "unique",
    "upper",
    "urlencode",
    "wordcount",
    "zip",
    "pluralize",
    "filesizeformat",
    "striptags",
    "wordwrap",
    "ds",
    "ds_nodash",
    "ts",
    "ts_nodash",
    "ts_nodash_with_tz",
    "defined",
    "undefined",
    "none",
    "boolean",
    "odd",
    "even",
    "number",
    "integer",
    "sequence",
    "iterable",
    "mapping",
    "sameas",
    "eq",
    "equalto",
    "ne",
    "lt",
    "lessthan",
    "le",
    "gt",
    "greaterthan",
    "ge",
    "in",
    "true",
    "false",
    "startingwith",
    "endingwith",
    "containing",
    "divisibleby",
    "filter",
    "test",
];

static KNOWN_FILTERS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    CANDIDATES
        .iter()
        .copied()
        .filter(|n| exists("filter", n))
        .collect()
});
static KNOWN_TESTS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    CANDIDATES
        .iter()
        .copied()
        .filter(|n| exists("test", n))
        .collect()
});

/// Whether the rendering environment has this filter or test.
fn exists(kind: &str, name: &str) -> bool {
    let probe = if kind == "filter" {
        format!("{{{{ none | {name} }}}}")
    } else {
        format!("{{% if none is {name} %}}{{% endif %}}")
    };
    let missing = if kind == "filter" {
        ErrorKind::UnknownFilter
    } else {
        ErrorKind::UnknownTest
    };
    // Any other error (a missing argument, a wrong type) means the name is known.
    match super::environment().render_str(&probe, ()) {
        Ok(_) => true,
        Err(e) => e.kind() != missing,
    }
}

/// Every filter and test `source` names that does not exist, in order.
pub fn unknown_filters(source: &str) -> Vec<UnknownFilter> {
    let mut out = Vec::new();
    for (kind, name, offset) in used_names(source) {
        if exists(kind, &name) {
            continue;
        }
        let known = if kind == "filter" {
            &KNOWN_FILTERS
        } else {
            &KNOWN_TESTS
        };
        let suggestion = did_you_mean(&name, known.iter().copied())
            .and_then(|s| known.iter().copied().find(|k| *k == s));
        out.push(UnknownFilter {
            kind,
            name,
            offset,
            suggestion,
        });
    }
    out
}

/// `(kind, name, offset)` of each filter and test in the template's blocks.
fn used_names(source: &str) -> Vec<(&'static str, String, usize)> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_block: Option<u8> = None; // b'}' for `{{`, b'%' for `{%`
    let mut quote: Option<u8> = None;
    let mut after_is = false;
    while i < bytes.len() {
        let b = bytes[i];
        let Some(close) = in_block else {
            if b == b'{' && matches!(bytes.get(i + 1), Some(b'{' | b'%')) {
                in_block = Some(if bytes[i + 1] == b'{' { b'}' } else { b'%' });
                i += 2;
            } else {
                i += 1;
            }
            continue;
        };
        if let Some(q) = quote {
            if b == b'\\' {
                i += 2;
                continue;
            }
            if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match b {
            b'\'' | b'"' => quote = Some(b),
            _ if b == close && bytes.get(i + 1) == Some(&b'}') => {
                in_block = None;
                after_is = false;
                i += 2;
                continue;
            }
            b'|' => {
                let (name, start) = identifier_after(bytes, i + 1);
                if let Some(name) = name {
                    out.push(("filter", name, start));
                }
            }
            _ if b.is_ascii_alphabetic() || b == b'_' => {
                let (word, start) = identifier_after(bytes, i);
                let Some(word) = word else {
                    i += 1;
                    continue;
                };
                let end = start + word.len();
                if after_is {
                    if word != "not" {
                        out.push(("test", word, start));
                        after_is = false;
                    }
                } else if word == "is" {
                    after_is = true;
                }
                i = end;
                continue;
            }
            _ => {}
        }
        if !b.is_ascii_whitespace() {
            after_is = false;
        }
        i += 1;
    }
    out
}

/// The identifier starting at or after `from` (after spaces), and where it starts.
fn identifier_after(bytes: &[u8], from: usize) -> (Option<String>, usize) {
    let mut start = from;
    while bytes.get(start).is_some_and(|b| *b == b' ' || *b == b'\t') {
        start += 1;
    }
    let mut end = start;
    while bytes
        .get(end)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        end += 1;
    }
    let first_ok = bytes
        .get(start)
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_');
    if end == start || !first_ok {
        return (None, start);
    }
    (
        Some(String::from_utf8_lossy(&bytes[start..end]).into_owned()),
        start,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_filters_and_tests_are_found_with_a_suggestion() {
        let found = unknown_filters(
            "{{ params.x | upperr }} {{ 'a | b' | lower }} {% if x is definedd %}{% endif %}",
        );
        let names: Vec<_> = found
            .iter()
            .map(|u| (u.kind, u.name.as_str(), u.suggestion))
            .collect();
        assert_eq!(
            names,
            [
                ("filter", "upperr", Some("upper")),
                ("test", "definedd", Some("defined"))
            ]
        );
        assert_eq!(found[0].offset, 14);
    }

    #[test]
    fn known_names_and_text_outside_blocks_pass() {
        assert!(
            unknown_filters(
                "a | b is c {{ ds | ds_nodash }} {{ xs | join(', ') | default('-') }} {% if y is not none %}{% endif %} {{ x is defined }}"
            )
            .is_empty()
        );
    }
}
