//! `weir audit`: the server's audit log (who did what to which object, from where, and
//! whether it was allowed), newest first. Platform admins see every event; team admins
//! see those on their teams' objects.

use std::process::ExitCode;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use comfy_table::{Cell, Color};
use serde_json::{Value, json};
use weir_api::audit::{AuditEvent, AuditOutcome};

use crate::cli::{AuditArgs, OutputFormat};
use crate::commands::client;
use crate::commands::output::{self, outln, print_json};
use crate::commands::server::{parse_date, with_client};

/// Events asked for per request (the server may cap it lower).
const PAGE: u32 = 500;

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    let mut query: Vec<(&str, String)> = Vec::new();
    // Flag values are checked before any request: a wrong one is bad usage (exit 2).
    let mut window = [None, None];
    for (i, (flag, value)) in [("--since", &args.since), ("--until", &args.until)]
        .into_iter()
        .enumerate()
    {
        if let Some(value) = value {
            match parse_since(flag, value, now) {
                Ok(t) => {
                    window[i] = Some(t);
                    let key = if i == 0 { "since" } else { "until" };
                    query.push((key, t.to_rfc3339_opts(SecondsFormat::Secs, true)));
                }
                Err(e) => return Ok(output::usage(e)),
            }
        }
    }
    if let [Some(since), Some(until)] = window
        && since > until
    {
        return Ok(output::usage("--since is after --until"));
    }
    if let Some(object) = &args.object {
        match parse_object(object) {
            Ok((kind, id)) => {
                query.push(("object_type", kind.to_string()));
                if let Some(id) = id {
                    query.push(("object_id", id.to_string()));
                }
            }
            Err(e) => return Ok(output::usage(e)),
        }
    }
    if let Some(actor) = &args.actor {
        query.push(("actor", actor.clone()));
    }
    if let Some(action) = &args.action {
        query.push(("action", action.clone()));
    }
    if let Some(outcome) = args.outcome {
        query.push(("outcome", outcome.as_str().to_string()));
    }

    let format = args.server.output;
    let limit = args.limit as usize;
    with_client(&args.server, |client| async move {
        // The newest `limit` events, a page at a time.
        let mut events: Vec<Value> = Vec::new();
        let mut total = 0;
        while events.len() < limit {
            let mut q = query.clone();
            let want = (limit - events.len()).min(PAGE as usize);
            q.push(("limit", want.to_string()));
            q.push(("offset", events.len().to_string()));
            let mut page: Value = client.get(&["auditEvents"], &q).await?;
            total = page
                .get("total_entries")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let chunk = match page.get_mut("audit_events").map(Value::take) {
                Some(Value::Array(chunk)) => chunk,
                _ => {
                    return Err(client::ClientError::Protocol {
                        url: client.url(&["auditEvents"]).to_string(),
                        reason: "no `audit_events` list in the answer".into(),
                    }
                    .into());
                }
            };
            // The server caps `limit` at its own maximum: a short page is not the last.
            let empty = chunk.is_empty();
            events.extend(chunk);
            if empty || events.len() as i64 >= total {
                break;
            }
        }
        let total = total.max(events.len() as i64);

        if format == OutputFormat::Json {
            print_json(&json!({"audit_events": events, "total_entries": total}))?;
            return Ok(ExitCode::SUCCESS);
        }
        if events.is_empty() {
            outln!("no audit events")?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut t = output::table(["TIME", "ACTOR", "ACTION", "OBJECT", "OUTCOME", "SOURCE"]);
        for value in &events {
            let e: AuditEvent = client::parse("an audit event", value)?;
            t.add_row(vec![
                Cell::new(output::time(Some(e.time))),
                Cell::new(&e.actor),
                Cell::new(&e.action),
                Cell::new(object(&e.object_type, Some(&e.object_id))),
                outcome_cell(e.outcome),
                Cell::new(e.source_address.as_deref().unwrap_or("-")),
            ]);
        }
        outln!("{t}")?;
        let shown = events.len() as i64;
        if total > shown {
            outln!("{shown} of {total} events; --limit shows more")?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `--since`/`--until`: a span back from `now` (`90s`, `30m`, `1h`, `2d`, `1w`), or a
/// date or date-time as the other commands take them (RFC 3339, `2026-03-01`).
fn parse_since(flag: &str, s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    let bad = || {
        format!(
            "{flag} `{s}` is not a time: use a span back from now such as 30m, 1h, 2d or 1w, \
             a date such as 2026-03-01, or an RFC 3339 date-time such as 2026-03-01T00:00:00Z"
        )
    };
    if let Some(unit) = s.chars().last().filter(char::is_ascii_alphabetic)
        && s.len() > 1
        && s[..s.len() - 1].bytes().all(|b| b.is_ascii_digit())
    {
        let count: i64 = s[..s.len() - 1].parse().map_err(|_| bad())?;
        let span = match unit {
            's' => Duration::try_seconds(count),
            'm' => Duration::try_minutes(count),
            'h' => Duration::try_hours(count),
            'd' => Duration::try_days(count),
            'w' => Duration::try_weeks(count),
            _ => return Err(bad()),
        };
        return span
            .and_then(|span| now.checked_sub_signed(span))
            .ok_or_else(|| format!("{flag} `{s}` reaches back too far"));
    }
    parse_date(flag, s).map_err(|_| bad())
}

/// `--object TYPE[:ID]`: the type, and the id if given. The id is everything after the
/// first `:`, since ids hold colons (run ids do) and types do not.
fn parse_object(s: &str) -> Result<(&str, Option<&str>), String> {
    let (kind, id) = match s.split_once(':') {
        Some((kind, id)) => (kind.trim(), Some(id)),
        None => (s.trim(), None),
    };
    if kind.is_empty() || id.is_some_and(str::is_empty) {
        return Err(format!(
            "--object `{s}` must be TYPE or TYPE:ID, e.g. `dag` or `dag:finance_close`"
        ));
    }
    Ok((kind, id))
}

/// `dag:finance_close`, or the bare type for an event on no one object.
fn object(kind: &str, id: Option<&str>) -> String {
    match id.filter(|id| !id.is_empty()) {
        Some(id) => format!("{kind}:{id}"),
        None => kind.to_string(),
    }
}

/// An outcome, colored on a terminal: a denial stands out.
fn outcome_cell(outcome: AuditOutcome) -> Cell {
    let color = match outcome {
        AuditOutcome::Success => Color::Green,
        AuditOutcome::Denied => Color::Red,
        AuditOutcome::Failed => Color::Yellow,
    };
    let cell = Cell::new(outcome.as_str());
    if output::color() {
        cell.fg(color)
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("a date").to_utc()
    }

    #[test]
    fn since_takes_spans_back_from_now() {
        let now = utc("2026-03-31T12:00:00Z");
        let since = |s| parse_since("--since", s, now);
        assert_eq!(since("1h"), Ok(utc("2026-03-31T11:00:00Z")));
        assert_eq!(since("2d"), Ok(utc("2026-03-29T12:00:00Z")));
        assert_eq!(since("30m"), Ok(utc("2026-03-31T11:30:00Z")));
        assert_eq!(since("1w"), Ok(utc("2026-03-24T12:00:00Z")));
        assert_eq!(since("90s"), Ok(utc("2026-03-31T11:58:30Z")));
        assert_eq!(since(" 0h "), Ok(now));
    }

    #[test]
    fn since_takes_dates_and_rfc3339() {
        let now = utc("2026-03-31T12:00:00Z");
        let since = |s| parse_since("--since", s, now);
        assert_eq!(
            since("2026-03-01T08:00:00+02:00"),
            Ok(utc("2026-03-01T06:00:00Z"))
        );
        assert_eq!(since("2026-03-01"), Ok(utc("2026-03-01T00:00:00Z")));
    }

    #[test]
    fn since_refuses_the_rest_naming_the_flag() {
        let now = utc("2026-03-31T12:00:00Z");
        for bad in [
            "",
            "h",
            "1y",
            "-1h",
            "1.5h",
            "1h30m",
            "yesterday",
            "99999999999999w",
        ] {
            let e = parse_since("--until", bad, now).expect_err(bad);
            assert!(e.contains("--until"), "{e}");
        }
    }

    #[test]
    fn objects_are_a_type_and_maybe_an_id() {
        assert_eq!(parse_object("dag"), Ok(("dag", None)));
        assert_eq!(
            parse_object("dag:finance_close"),
            Ok(("dag", Some("finance_close")))
        );
        // Run ids hold colons: only the first one separates.
        assert_eq!(
            parse_object("dag_run:manual__2026-01-01T00:00:00+00:00"),
            Ok(("dag_run", Some("manual__2026-01-01T00:00:00+00:00")))
        );
        assert!(parse_object(":x").is_err());
        assert!(parse_object("dag:").is_err());
        assert_eq!(object("user", Some("alice")), "user:alice");
        assert_eq!(object("login", None), "login");
    }
}
