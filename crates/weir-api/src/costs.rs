//! Weir: cost reports (`GET /costs`), and the reading of `since` that the API and the
//! CLI share.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use weir_core::cost::{self, GroupKey};

use crate::time;

/// What `currency_note` says: prices carry no currency of their own.
pub const CURRENCY_NOTE: &str = "Costs are in the currency of the prices in the platform \
     config (weir.toml, per compute environment); a try pays for the vCPUs and memory it \
     reserved, for as long as it ran, at the price in force when it ran.";

/// A cost report: one row per group (and day), sorted by day then key, and the total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CostReport {
    pub costs: Vec<CostRow>,
    /// Every try of the report together.
    pub total: CostRow,
    /// The report covers tries that started at or after this time.
    #[serde(with = "time")]
    pub since: DateTime<Utc>,
    /// What the rows are grouped by: `team`, `dag` or `queue`.
    #[schema(value_type = String)]
    pub group_by: GroupKey,
    /// Whether the rows are also grouped by day (UTC, of the try's start).
    pub per_day: bool,
    /// Only this team's tries, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub currency_note: String,
}

/// One line of a cost report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct CostRow {
    /// The team, DAG or queue; absent in the total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The day (UTC), when grouped by day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<NaiveDate>,
    /// How many tries the line sums.
    pub tries: u64,
    pub wall_seconds: f64,
    /// Reserved vCPU-hours.
    pub vcpu_hours: f64,
    /// Reserved GiB-hours.
    pub gib_hours: f64,
    /// Measured CPU seconds, over the tries that measured it.
    pub cpu_seconds: f64,
    /// The largest measured peak memory of one try.
    pub peak_memory_bytes: u64,
    /// Money, rounded to 6 decimals.
    pub cost: f64,
}

impl From<cost::CostRow> for CostRow {
    fn from(r: cost::CostRow) -> Self {
        CostRow {
            key: r.key,
            day: r.day,
            tries: r.tries,
            wall_seconds: r.wall_seconds,
            vcpu_hours: r.vcpu_hours,
            gib_hours: r.gib_hours,
            cpu_seconds: r.cpu_seconds,
            peak_memory_bytes: r.peak_memory_bytes,
            cost: r.cost,
        }
    }
}

/// Reads `since`: a span back from `now` (`30d`, `12h`, `2w`), a date (`2026-03-01`,
/// midnight UTC) or an RFC 3339 date-time (`2026-03-01T12:00:00+01:00`).
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    let bad = || {
        format!(
            "`{s}` is not a time: use a span back from now such as 30d, 12h or 2w, a date \
             such as 2026-03-01, or an RFC 3339 date-time such as 2026-03-01T00:00:00Z"
        )
    };
    let is_span = s.len() >= 2
        && s.bytes().last().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes().rev().skip(1).all(|b| b.is_ascii_digit());
    if is_span {
        let (count, unit) = s.split_at(s.len() - 1);
        let count: i64 = count.parse().map_err(|_| bad())?;
        let span = match unit {
            "h" => Duration::try_hours(count),
            "d" => Duration::try_days(count),
            "w" => Duration::try_weeks(count),
            _ => return Err(bad()),
        };
        return span
            .and_then(|span| now.checked_sub_signed(span))
            .ok_or_else(|| format!("`{s}` reaches back too far"));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Ok(d.to_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_spans_dates_and_times() {
        let now = DateTime::parse_from_rfc3339("2026-03-31T12:00:00Z")
            .unwrap()
            .to_utc();
        let at = |s: &str| parse_since(s, now).map(|t| t.to_rfc3339());
        assert_eq!(at("30d"), Ok("2026-03-01T12:00:00+00:00".into()));
        assert_eq!(at(" 12h "), Ok("2026-03-31T00:00:00+00:00".into()));
        assert_eq!(at("2w"), Ok("2026-03-17T12:00:00+00:00".into()));
        assert_eq!(at("0d"), Ok(now.to_rfc3339()));
        assert_eq!(at("2026-03-02"), Ok("2026-03-02T00:00:00+00:00".into()));
        assert_eq!(
            at("2026-03-02T01:00:00+01:00"),
            Ok("2026-03-02T00:00:00+00:00".into())
        );
        for bad in [
            "",
            "d",
            "30",
            "-1d",
            "30y",
            "30D",
            "3.5d",
            "yesterday",
            "2026-13-01",
        ] {
            let e = at(bad).unwrap_err();
            assert!(e.contains("30d"), "{bad}: {e}");
        }
        assert!(at("99999999999999d").unwrap_err().contains("too far"));
    }
}

impl CostReport {
    /// The report as CSV (`weir costs --output csv`, the UI's download): a header, then
    /// one line per row with raw numbers, the day first when the report is per day.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        if self.per_day {
            out.push_str("day,");
        }
        out.push_str(&format!(
            "{},tries,wall_seconds,vcpu_hours,gib_hours,cpu_seconds,peak_memory_bytes,cost\n",
            self.group_by
        ));
        for r in &self.costs {
            if self.per_day {
                out.push_str(&r.day.map(|d| d.to_string()).unwrap_or_default());
                out.push(',');
            }
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{}\n",
                csv_field(r.key.as_deref().unwrap_or_default()),
                r.tries,
                r.wall_seconds,
                r.vcpu_hours,
                r.gib_hours,
                r.cpu_seconds,
                r.peak_memory_bytes,
                r.cost
            ));
        }
        out
    }
}

/// A CSV field: quoted when it holds a comma, a quote or a line break, and never read as
/// a formula by a spreadsheet (a leading `=`, `+`, `-` or `@` gets a `'`).
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod csv_tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("data-eng"), "data-eng");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
