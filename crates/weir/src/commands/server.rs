//! What the commands that talk to a server share: a runtime and a client for one
//! command, and the parsing of flag values (dates, `--conf`) that exit 2 when wrong.

use std::future::Future;
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::cli::ServerArgs;
use crate::commands::client::Client;

/// Runs `f` with a client of `--server` on a one-thread runtime; a `--server` that is not
/// a URL is bad usage (exit 2).
pub fn with_client<F, Fut>(server: &ServerArgs, f: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = anyhow::Result<ExitCode>>,
{
    let client = match Client::new(&server.server) {
        Ok(c) => c,
        Err(e) => return Ok(crate::commands::output::usage(e)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(f(client))
}

/// A date given on the command line: RFC 3339 (`2026-01-01T03:00:00Z`), a date
/// (`2026-01-01`, midnight UTC) or a date-time without zone (read as UTC).
pub fn parse_date(flag: &str, s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Ok(d.to_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .map_or_else(Utc::now, |t| t.and_utc()));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(d.and_utc());
        }
    }
    Err(format!(
        "{flag} `{s}` is not a date: use YYYY-MM-DD or an RFC 3339 date-time such as \
         2026-01-01T03:00:00Z"
    ))
}

/// `--conf`: a JSON object.
pub fn parse_conf(s: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "--conf must be a JSON object such as '{{\"key\": \"value\"}}', not {}",
            kind(&other)
        )),
        Err(e) => Err(format!("--conf is not valid JSON: {e}")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_several_spellings() {
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(
            parse_date("--from", "2026-01-02"),
            Ok(utc("2026-01-02T00:00:00Z"))
        );
        assert_eq!(
            parse_date("--from", "2026-01-02T03:04:05+01:00"),
            Ok(utc("2026-01-02T02:04:05Z"))
        );
        assert_eq!(
            parse_date("--from", "2026-01-02T03:04:05"),
            Ok(utc("2026-01-02T03:04:05Z"))
        );
        let e = parse_date("--to", "next week").unwrap_err();
        assert!(e.contains("--to `next week`"), "{e}");
    }

    #[test]
    fn conf_must_be_an_object() {
        assert_eq!(parse_conf(r#"{"a": 1}"#).unwrap()["a"], 1);
        assert!(parse_conf("[1]").unwrap_err().contains("an array"));
        assert!(parse_conf("{").unwrap_err().contains("not valid JSON"));
    }
}
