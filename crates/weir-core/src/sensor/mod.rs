//! A sensor's brain: from what it waits for, when it was first checked, the time, and
//! what the latest check found, the one thing to do next. Pure — the engine performs
//! the check (a query, a request, a look at another DAG's run), asks [`decide`], and
//! writes the answer with a compare-and-set update.
//!
//! # Contract
//! - A sensor always waits in Airflow's **reschedule** mode: between checks it holds no
//!   worker, parallelism, pool slot or capacity (state `up_for_reschedule`, the next
//!   check in the instance's `next_retry_at`).
//! - A check answers [`Check::Met`], [`Check::NotYet`] or [`Check::Failed`], each with a
//!   one-line reason that becomes the instance's note.
//! - **Met** → [`Decision::Succeed`]. **Failed** (the sensor can never be met as
//!   written: a connection it may not use, a path outside its roots, the awaited task
//!   failed with `fail_on_failure`) → [`Decision::Fail`] at once, `soft_fail` or not.
//! - **NotYet** → [`Decision::Reschedule`] at `now + interval`, never later than the
//!   deadline, so the timeout is noticed on time; or, once `now` has reached
//!   `first check + timeout` (default 7 days, as Airflow's), [`Decision::Skip`] with
//!   `soft_fail`, else [`Decision::Fail`]. The timeout counts from the first check, so
//!   a sensor that waited for its upstream is not penalised for it.
//! - The interval is `poke_interval` (default 60 s). With `exponential_backoff` it is
//!   the time waited so far (at least `poke_interval`, at most [`MAX_BACKOFF`], or
//!   `poke_interval` if that is longer): each wait about doubles the total, with no
//!   count of checks to store.
//!
//! [`external`] decides the check of a sensor on another DAG from the states it found
//! there (only states: a sensor learns nothing else of another team's run), and
//! [`truthy`] the check of a `sql` sensor from its first value.

#[cfg(test)]
mod simulation;
#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use crate::duration::format_duration;
use crate::spec::model::SensorTask;
use crate::state::{DagRunState, TaskState};

/// Time between checks when the sensor does not say.
pub const DEFAULT_POKE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a sensor waits when it does not say (Airflow's default: 7 days).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest wait between two checks with `exponential_backoff`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// How a sensor waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub poke_interval: Duration,
    pub timeout: Duration,
    pub soft_fail: bool,
    pub exponential_backoff: bool,
}

impl Waiting {
    /// The sensor's settings, with the defaults for what it does not say.
    pub fn of(sensor: &SensorTask) -> Waiting {
        Waiting {
            poke_interval: sensor.poke_interval.map_or(DEFAULT_POKE_INTERVAL, |d| d.0),
            timeout: sensor.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
            soft_fail: sensor.soft_fail,
            exponential_backoff: sensor.exponential_backoff,
        }
    }
}

/// What one check found, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Met(String),
    NotYet(String),
    Failed(String),
}

/// What to do with the sensor now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Succeed {
        note: String,
    },
    /// Check again at `at`; `note` says what it waits for.
    Reschedule {
        at: DateTime<Utc>,
        note: String,
    },
    Fail {
        note: String,
    },
    Skip {
        note: String,
    },
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Decides, for a sensor first checked at `first_check`, what the check made at `now`
/// means (see the module's contract).
pub fn decide(
    waiting: &Waiting,
    first_check: DateTime<Utc>,
    now: DateTime<Utc>,
    check: Check,
) -> Decision {
    let why = match check {
        Check::Met(why) => return Decision::Succeed { note: why },
        Check::Failed(why) => return Decision::Fail { note: why },
        Check::NotYet(why) => why,
    };
    let deadline = first_check
        .checked_add_signed(delta(waiting.timeout))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if now >= deadline {
        let note = format!(
            "timed out after {} (`timeout`, counted from the first check): {why}",
            format_duration(waiting.timeout)
        );
        return if waiting.soft_fail {
            Decision::Skip {
                note: format!("{note}; skipped (`soft_fail`)"),
            }
        } else {
            Decision::Fail { note }
        };
    }
    let interval = if waiting.exponential_backoff {
        let waited = (now - first_check).to_std().unwrap_or_default();
        let cap = MAX_BACKOFF.max(waiting.poke_interval);
        waited.clamp(waiting.poke_interval, cap)
    } else {
        waiting.poke_interval
    };
    let at = now
        .checked_add_signed(delta(interval))
        .unwrap_or(deadline)
        .min(deadline);
    Decision::Reschedule {
        at,
        note: format!(
            "{why}; next check at {}",
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
    }
}

/// What a sensor on another DAG found there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Awaited {
    /// No such DAG on this platform.
    NoDag,
    /// The DAG has no run for the logical date (yet).
    NoRun,
    /// The run has no instance of the task.
    NoTask,
    /// The run's state (a sensor on the whole run).
    Run(DagRunState),
    /// The states of the task's instances (several when it is mapped).
    Task(Vec<TaskState>),
}

/// The check of a sensor on another DAG: `what` names it for the note (e.g. "task
/// `load` of DAG `sales` for 2026-01-01T00:00:00Z").
pub fn external(what: &str, found: Awaited, fail_on_failure: bool) -> Check {
    match found {
        Awaited::NoDag => Check::Failed(format!(
            "{what}: that DAG does not exist on this platform; check the sensor's `dag:`"
        )),
        Awaited::NoRun => Check::NotYet(format!("waiting for {what}: it has no run yet")),
        Awaited::NoTask => Check::Failed(format!(
            "{what}: the run has no such task; check the sensor's `task:`"
        )),
        Awaited::Run(DagRunState::Success) => Check::Met(format!("{what} succeeded")),
        Awaited::Run(DagRunState::Failed) if fail_on_failure => {
            Check::Failed(format!("{what} failed (`fail_on_failure`)"))
        }
        Awaited::Run(state) => Check::NotYet(format!("waiting for {what}: it is {state}")),
        Awaited::Task(states) if states.is_empty() => Check::Failed(format!(
            "{what}: the run has no such task; check the sensor's `task:`"
        )),
        Awaited::Task(states) => {
            if states.iter().all(|s| *s == TaskState::Success) {
                return Check::Met(format!("{what} succeeded"));
            }
            let failed = states.iter().find(|s| s.is_failure());
            if let (Some(state), true) = (failed, fail_on_failure) {
                return Check::Failed(format!("{what} is {state} (`fail_on_failure`)"));
            }
            let mut names: Vec<&str> = states
                .iter()
                .filter(|s| **s != TaskState::Success)
                .map(|s| s.as_str())
                .collect();
            names.sort_unstable();
            names.dedup();
            Check::NotYet(format!("waiting for {what}: it is {}", names.join(", ")))
        }
    }
}

/// Whether a `sql` sensor's first value means "met": not null, false, 0, an empty
/// string, list or object (Python's truth, as Airflow's `SqlSensor` uses), and not the
/// strings `"0"`, `"f"` or `"false"` (PostgreSQL's spelling of false when a value is
/// read as text).
pub fn truthy(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !matches!(s.trim(), "" | "0" | "f" | "false"),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// The logical date of the run a sensor on another DAG waits for.
pub fn awaited_logical_date(
    logical_date: DateTime<Utc>,
    offset: Option<crate::spec::model::SignedDuration>,
) -> DateTime<Utc> {
    match offset {
        None => logical_date,
        Some(o) => logical_date
            .checked_add_signed(TimeDelta::milliseconds(o.as_millis()))
            .unwrap_or(logical_date),
    }
}
