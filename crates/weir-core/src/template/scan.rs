//! Light lexical scans of template text: the task ids passed to `xcom_pull`, and whether
//! a string is one `{{ expression }}`. Best-effort by design: they look at literals only
//! and never reject a template (the parser does that).

/// The task ids a template passes as literals to `ti.xcom_pull(...)` (positionally or as
/// `task_ids=`, a string or a list of strings), in order of appearance, without
/// duplicates. Computed ids (`xcom_pull(params.t)`) are not seen.
pub fn referenced_xcom_tasks(source: &str) -> Vec<String> {
    const NEEDLE: &str = "xcom_pull";
    let mut out: Vec<String> = Vec::new();
    let mut rest = source;
    while let Some(pos) = rest.find(NEEDLE) {
        rest = &rest[pos + NEEDLE.len()..];
        let Some(args) = rest.trim_start().strip_prefix('(') else {
            continue;
        };
        let args = until_close(args);
        for (index, arg) in split_top_level(args).into_iter().enumerate() {
            let value = match keyword(arg) {
                Some(("task_ids", value)) => value,
                Some(_) => continue,
                None if index == 0 => arg,
                None => continue,
            };
            for id in string_literals(value) {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
    }
    out
}

/// When `source` is exactly one `{{ ... }}` (whitespace around it allowed), the
/// expression inside and its byte offset in `source`.
pub(super) fn sole_expression(source: &str) -> Option<(&str, usize)> {
    let lead = source.len() - source.trim_start().len();
    let trimmed = source.trim();
    let inner = trimmed.strip_prefix("{{")?.strip_suffix("}}")?;
    let mut offset = lead + 2;
    // Whitespace control markers: `{{- x -}}`.
    let inner = match inner.strip_prefix(['-', '+']) {
        Some(stripped) => {
            offset += 1;
            stripped
        }
        None => inner,
    };
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    if ["{{", "}}", "{%", "%}", "{#", "#}"]
        .iter()
        .any(|d| inner.contains(d))
    {
        return None;
    }
    Some((inner, offset))
}

/// The text up to the parenthesis that closes the one just opened, skipping quoted
/// strings and nested brackets; the rest of the text if it never closes.
fn until_close(text: &str) -> &str {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => return &text[..i],
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    text
}

/// Splits at commas outside strings and brackets; parts are trimmed.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// `name = value` -> `(name, value)` for a keyword argument.
fn keyword(arg: &str) -> Option<(&str, &str)> {
    let (name, value) = arg.split_once('=')?;
    let name = name.trim();
    let is_ident = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_ident || value.starts_with('=') {
        return None;
    }
    Some((name, value.trim()))
}

/// The strings of a string literal, or of a list or tuple of string literals.
fn string_literals(value: &str) -> Vec<String> {
    let value = value.trim();
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .or_else(|| value.strip_prefix('(').and_then(|v| v.strip_suffix(')')));
    match inner {
        Some(items) => split_top_level(items)
            .into_iter()
            .filter_map(string_literal)
            .collect(),
        None => string_literal(value).into_iter().collect(),
    }
}

fn string_literal(text: &str) -> Option<String> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = text.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            c if c == quote => return None,
            c => out.push(c),
        }
    }
    Some(out)
}
