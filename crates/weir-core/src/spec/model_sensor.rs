//! The `sensor` task kind's part of the DAG file format ([`super::model`] re-exports it):
//! what a sensor waits for and how it re-checks. Kept apart so the model stays readable.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{HttpTask, HumanDuration};
use crate::duration::{format_duration, parse_duration};
use crate::ids::{DagId, TaskId};

/// Waits, without holding a worker or a slot, until one thing is true: another DAG's
/// task (or whole run) succeeded for the same logical date (`dag`, `task`), a dataset
/// was updated (`dataset`), a query's first value is truthy (`sql`), a URL answers as
/// expected (`http`), or a file exists under the platform's `[sensors] file_roots`
/// (`file`). Exactly one of these is set. Re-checked every `poke_interval` (Airflow's
/// "reschedule" mode, always) until `timeout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SensorTask {
    /// Another DAG, whose run for the same logical date (shifted by
    /// `logical_date_offset`) is waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag: Option<DagId>,
    /// With `dag`: one task of that run instead of the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskId>,
    /// With `dag`: added to this run's logical date to find the other run (`-1d`, `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_date_offset: Option<SignedDuration>,
    /// With `dag`: fail as soon as the awaited task or run failed (default: wait on).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_on_failure: bool,
    /// A dataset URI whose update is waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// With `dataset`: which updates count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// A query whose first column of the first row must be truthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<SensorSql>,
    /// A request that must answer an expected status (`expect_status`, default 2xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Box<HttpTask>>,
    /// An absolute path (templated) that must exist, under `[sensors] file_roots`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Time between checks (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poke_interval: Option<HumanDuration>,
    /// How long to wait, from the first check, before giving up (default 7d).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// On timeout, skip the task instead of failing it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub soft_fail: bool,
    /// Wait longer between checks as time passes (each wait as long as the time waited
    /// so far, at least `poke_interval`, at most an hour).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exponential_backoff: bool,
}

/// What a sensor waits for, borrowed from its [`SensorTask`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SensorTarget<'a> {
    Dag {
        dag: &'a DagId,
        task: Option<&'a TaskId>,
        logical_date_offset: Option<SignedDuration>,
        fail_on_failure: bool,
    },
    Dataset {
        uri: &'a str,
        since: Option<&'a str>,
    },
    Sql(&'a SensorSql),
    Http(&'a HttpTask),
    File(&'a str),
}

impl SensorTask {
    /// A sensor on DAG `dag`'s runs, every other setting at its default.
    pub fn waiting_for_dag(dag: DagId) -> SensorTask {
        SensorTask {
            dag: Some(dag),
            task: None,
            logical_date_offset: None,
            fail_on_failure: false,
            dataset: None,
            since: None,
            sql: None,
            http: None,
            file: None,
            poke_interval: None,
            timeout: None,
            soft_fail: false,
            exponential_backoff: false,
        }
    }

    /// What it waits for; `None` when the spec does not name exactly one thing (the
    /// parser refuses such a sensor).
    pub fn target(&self) -> Option<SensorTarget<'_>> {
        let set = [
            self.dag.is_some(),
            self.dataset.is_some(),
            self.sql.is_some(),
            self.http.is_some(),
            self.file.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            return None;
        }
        if let Some(dag) = &self.dag {
            return Some(SensorTarget::Dag {
                dag,
                task: self.task.as_ref(),
                logical_date_offset: self.logical_date_offset,
                fail_on_failure: self.fail_on_failure,
            });
        }
        if let Some(uri) = &self.dataset {
            return Some(SensorTarget::Dataset {
                uri,
                since: self.since.as_deref(),
            });
        }
        if let Some(sql) = &self.sql {
            return Some(SensorTarget::Sql(sql));
        }
        if let Some(http) = &self.http {
            return Some(SensorTarget::Http(http));
        }
        self.file.as_deref().map(SensorTarget::File)
    }
}

/// A sensor's query: on a connection its team may use, as a `sql` task's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SensorSql {
    pub connection: String,
    /// The SQL (templated); its first row's first column decides.
    pub query: String,
}

/// A duration that may be negative, written as `-1d`, `+2h` or `30m`; in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[schemars(with = "String")]
pub struct SignedDuration(pub i64);

impl SignedDuration {
    /// `-1d`, `+1h`, `30m`.
    pub fn parse(text: &str) -> Result<SignedDuration, String> {
        let t = text.trim();
        let (negative, rest) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let d = parse_duration(rest)?;
        let ms =
            i64::try_from(d.as_millis()).map_err(|_| format!("`{text}` is too long a duration"))?;
        Ok(SignedDuration(if negative { -ms } else { ms }))
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }
}

impl Serialize for SignedDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = format_duration(Duration::from_millis(self.0.unsigned_abs()));
        s.serialize_str(&if self.0 < 0 { format!("-{text}") } else { text })
    }
}

impl<'de> Deserialize<'de> for SignedDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SignedDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}
