//! Schedules: cron in a time zone, presets, data intervals and catch-up.
//!
//! A DAG's `schedule:` is parsed into a [`Schedule`] once, at validation time, and the
//! scheduler then asks [`next_dagrun_info`] and its siblings when the next run
//! is due and which data interval it covers, with Airflow's semantics: a run for the
//! interval `[start, end)` is created at `end`, and its logical date is `start`.
//!
//! Cron expressions are evaluated on the wall clock of the DAG's time zone, with croner's
//! DST rules:
//! - a daily `0 3 * * *` fires at 03:00 local on both sides of a change, so its UTC
//!   instant moves by an hour and the data interval that spans the change is 23 or 25
//!   hours long;
//! - a fixed time that does not exist on the day the clock springs forward (`30 2 * * *`
//!   in Europe/Berlin on 2026-03-29) fires at the first instant after the gap (03:00
//!   local), once;
//! - a fixed time that happens twice when the clock falls back fires once, at the first
//!   (summer-time) occurrence;
//! - interval patterns (`0 * * * *`, `*/15 * * * *`) fire on every matching wall-clock
//!   time that exists, so an hourly schedule fires every real hour on both days.

mod interval;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

pub use interval::{
    DagRunInfo, DataInterval, Intervals, MAX_INTERVALS, catchup_intervals, data_interval_for,
    infer_manual_data_interval, intervals_between, next_dagrun_info, next_fire_after,
};

/// When a DAG runs by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// A cron expression (or a preset such as `@daily`), evaluated in the DAG's time zone.
    Cron(CronSchedule),
    /// `@once`: a single run, at the start date.
    Once,
    /// Runs when every listed dataset (URI) has been updated; no time-based runs.
    Datasets(Vec<String>),
    /// No `schedule:`: runs only when triggered (manually, by the API or by a backfill).
    Manual,
}

/// A parsed cron schedule: the text the user wrote and the expression it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    /// As written in the DAG file, e.g. `@daily` or `0 3 * * *`.
    expr: String,
    /// The 5-field expression, with presets expanded (`@daily` -> `0 0 * * *`).
    expanded: String,
    /// Boxed: a parsed pattern is a few hundred bytes, the other variants a few words.
    cron: Box<Cron>,
}

impl CronSchedule {
    /// The schedule as the user wrote it.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The 5-field cron expression, presets expanded.
    pub fn expanded(&self) -> &str {
        &self.expanded
    }

    pub fn cron(&self) -> &Cron {
        &self.cron
    }
}

impl Schedule {
    /// A dataset-triggered schedule (the YAML map `{datasets: [...]}`).
    pub fn datasets<I, S>(uris: I) -> Schedule
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Schedule::Datasets(uris.into_iter().map(Into::into).collect())
    }

    /// Whether the clock creates runs of this schedule (cron and `@once` do).
    pub fn is_time_based(&self) -> bool {
        matches!(self, Schedule::Cron(_) | Schedule::Once)
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_schedule(s)
    }
}

impl fmt::Display for Schedule {
    /// The schedule as a DAG file would write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Cron(c) => f.write_str(&c.expr),
            Schedule::Once => f.write_str("@once"),
            Schedule::Datasets(uris) => write!(f, "datasets: [{}]", uris.join(", ")),
            Schedule::Manual => f.write_str("manual"),
        }
    }
}

/// A schedule or time zone that cannot be used, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "the schedule is empty; write a cron expression such as `0 3 * * *`, a preset such as \
         `@daily`, or leave `schedule` out for manual runs only"
    )]
    Empty,
    #[error(
        "`{expr}` is not a valid cron expression: expected 5 fields (minute hour day-of-month \
         month day-of-week), found {found}{}",
        field_count_hint(*.found)
    )]
    FieldCount { expr: String, found: usize },
    #[error(
        "`{expr}` is not a valid cron expression: the {field} field `{value}` is invalid \
         ({reason}); {field} values are {allowed}"
    )]
    InvalidField {
        expr: String,
        field: &'static str,
        value: String,
        reason: String,
        allowed: &'static str,
    },
    #[error("`{expr}` is not a valid cron expression: {reason}")]
    InvalidCron { expr: String, reason: String },
    #[error(
        "`{expr}` never fires: no date matches its day-of-month, month and day-of-week \
         together; check those fields"
    )]
    NeverFires { expr: String },
    #[error("`{given}` is not a schedule preset; {}", preset_hint(.suggestion))]
    UnknownPreset {
        given: String,
        suggestion: Option<&'static str>,
    },
    #[error("`{given}` is not a known time zone; {}", timezone_hint(.suggestion))]
    UnknownTimezone {
        given: String,
        suggestion: Option<&'static str>,
    },
}

fn field_count_hint(found: usize) -> &'static str {
    match found {
        6 => "; Weir's cron has no seconds field: drop the first field",
        7 => "; Weir's cron has no seconds or year fields",
        _ => "",
    }
}

fn preset_hint(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => {
            let names: Vec<&str> = PRESETS.iter().map(|(name, _)| *name).collect();
            format!("use one of @once, {}", names.join(", "))
        }
    }
}

fn timezone_hint(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => "use an IANA time zone name such as `UTC`, `Europe/Berlin` or \
                 `America/New_York`"
            .to_string(),
    }
}

/// Airflow's cron presets (plus croniter's `@annually` and `@midnight`).
const PRESETS: [(&str, &str); 8] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@quarterly", "0 0 1 */3 *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

/// The five cron fields: name and allowed values, in order.
const FIELDS: [(&str, &str); 5] = [
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31 (or L, W)"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT (0 and 7 are Sunday)"),
];

/// Parses a DAG's `schedule:` string: `@once`, a preset (`@hourly @daily @midnight
/// @weekly @monthly @quarterly @yearly @annually`) or a standard 5-field cron expression.
///
/// Dataset schedules come from a YAML map instead; build them with [`Schedule::datasets`].
pub fn parse_schedule(text: &str) -> Result<Schedule, ScheduleError> {
    let expr = text.trim();
    if expr.is_empty() {
        return Err(ScheduleError::Empty);
    }
    if expr.starts_with('@') {
        if expr == "@once" {
            return Ok(Schedule::Once);
        }
        let Some((_, expanded)) = PRESETS.iter().find(|(name, _)| *name == expr) else {
            let lowered = expr.to_ascii_lowercase();
            let suggestion = std::iter::once("@once")
                .chain(PRESETS.iter().map(|(name, _)| *name))
                .map(|name| (name, strsim::jaro_winkler(&lowered, name)))
                .filter(|(_, score)| *score >= 0.8)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(name, _)| name);
            return Err(ScheduleError::UnknownPreset {
                given: expr.to_string(),
                suggestion,
            });
        };
        return parse_cron(expr, expanded).map(Schedule::Cron);
    }
    parse_cron(expr, expr).map(Schedule::Cron)
}

fn cron_parser() -> CronParser {
    // Seconds and years are refused so that the expression means what it means in
    // Airflow and crontab: exactly five fields.
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

fn parse_cron(expr: &str, expanded: &str) -> Result<CronSchedule, ScheduleError> {
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    if fields.len() != FIELDS.len() {
        return Err(ScheduleError::FieldCount {
            expr: expr.to_string(),
            found: fields.len(),
        });
    }
    let parser = cron_parser();
    let cron = match parser.parse(expanded) {
        Ok(cron) => cron,
        Err(whole) => return Err(blame_field(&parser, expr, &fields, &whole)),
    };
    // An expression such as `0 0 30 2 *` parses but matches no date; croner would only
    // find out by searching thousands of years at every scheduler tick. The reference
    // instant is fixed (no clock read): every satisfiable pattern fires within 28 years.
    let reference = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
    let fires = reference.is_some_and(|r| {
        cron.find_next_occurrence(&r, true)
            .is_ok_and(|next| next < r + chrono::Duration::days(366 * 28))
    });
    if !fires {
        return Err(ScheduleError::NeverFires {
            expr: expr.to_string(),
        });
    }
    Ok(CronSchedule {
        expr: expr.to_string(),
        expanded: fields.join(" "),
        cron: Box::new(cron),
    })
}

/// Finds which field makes a cron expression invalid by parsing each field alone, so
/// the message can name it; falls back to croner's message for the whole expression.
fn blame_field(
    parser: &CronParser,
    expr: &str,
    fields: &[&str],
    whole: &croner::errors::CronError,
) -> ScheduleError {
    for (i, value) in fields.iter().enumerate() {
        let mut probe = ["*"; 5];
        probe[i] = value;
        if let Err(err) = parser.parse(&probe.join(" ")) {
            let (field, allowed) = FIELDS[i];
            return ScheduleError::InvalidField {
                expr: expr.to_string(),
                field,
                value: (*value).to_string(),
                reason: cron_reason(&err),
                allowed,
            };
        }
    }
    ScheduleError::InvalidCron {
        expr: expr.to_string(),
        reason: cron_reason(whole),
    }
}

/// croner's message without its prefix and full stop, in lower case to fit mid-sentence.
fn cron_reason(err: &croner::errors::CronError) -> String {
    use croner::errors::CronError as E;
    let text = match err {
        E::ComponentError(msg) | E::InvalidPattern(msg) => msg.clone(),
        E::IllegalCharacters(_) => "illegal character".to_string(),
        other => other.to_string(),
    };
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown error".to_string(),
    }
}

/// Parses an IANA time zone name (`Europe/Berlin`, `UTC`), suggesting the closest known
/// name when it is misspelt.
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    let trimmed = name.trim();
    if let Ok(tz) = Tz::from_str(trimmed) {
        return Ok(tz);
    }
    Err(ScheduleError::UnknownTimezone {
        given: name.to_string(),
        suggestion: suggest_timezone(trimmed),
    })
}

fn suggest_timezone(given: &str) -> Option<&'static str> {
    let names = || chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    if let Some(exact) = names().find(|n| n.eq_ignore_ascii_case(given)) {
        return Some(exact);
    }
    let wanted = given.to_ascii_lowercase().replace(' ', "_");
    // Users often write just the city (`Berlin`): compare it with the last part too.
    let score = |name: &str| {
        let lower = name.to_ascii_lowercase();
        let city = lower.rsplit('/').next().unwrap_or(&lower).to_string();
        let full = strsim::jaro_winkler(&wanted, &lower);
        if wanted.contains('/') {
            full
        } else {
            full.max(strsim::jaro_winkler(&wanted, &city))
        }
    };
    names()
        .map(|name| (name, score(name)))
        .filter(|(_, s)| *s >= 0.85)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(name, _)| name)
}

/// Human text for a schedule, for the CLI and web UI (`At 03:00.`).
pub fn describe(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Cron(c) => {
            let text = c.cron.describe();
            match PRESETS.iter().find(|(name, _)| *name == c.expr) {
                Some((name, _)) => format!("{text} ({name})"),
                None => text,
            }
        }
        Schedule::Once => "Once, at the start date.".to_string(),
        Schedule::Datasets(uris) => {
            format!(
                "When these datasets have been updated: {}.",
                uris.join(", ")
            )
        }
        Schedule::Manual => "Only when triggered.".to_string(),
    }
}

/// The instant a wall-clock time in `tz` stands for: the earlier one when the clock
/// falls back and the time happens twice, the first instant after the gap when the clock
/// springs forward and the time does not exist (as a cron schedule does). Used for
/// `start_date: 2026-01-01`, which means local midnight in the DAG's time zone.
pub fn local_to_utc(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    if let Some(dt) = tz.from_local_datetime(&local).earliest() {
        return dt.with_timezone(&Utc);
    }
    // In a gap: walk forward by minutes to the first wall-clock time that exists. Gaps
    // are at most a few hours; the fallback reads the time as UTC rather than fail.
    (1..=24 * 60)
        .filter_map(|m| local.checked_add_signed(chrono::Duration::minutes(m)))
        .find_map(|t| tz.from_local_datetime(&t).earliest())
        .map_or_else(|| local.and_utc(), |dt| dt.with_timezone(&Utc))
}
