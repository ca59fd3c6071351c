//! A consumer's condition over the events it has not consumed yet, and the run it gets
//! when the condition is met.

use chrono::{DateTime, Utc};

use super::uri::UriPattern;

/// What a dataset-scheduled DAG waits for: every pattern updated (`all`, the plain list
/// `schedule: {datasets: [...]}`), or at least one (`{datasets: {any: [...]}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetCondition {
    All(Vec<UriPattern>),
    Any(Vec<UriPattern>),
}

impl DatasetCondition {
    /// The patterns, whichever the combination.
    pub fn patterns(&self) -> &[UriPattern] {
        match self {
            DatasetCondition::All(p) | DatasetCondition::Any(p) => p,
        }
    }

    /// Whether an event on `uri` counts toward this condition at all.
    pub fn wants(&self, uri: &str) -> bool {
        self.patterns().iter().any(|p| p.matches(uri))
    }

    /// Whether events on these URIs meet the condition: each pattern matched by one of
    /// them (`all`), or any pattern matched (`any`).
    pub fn is_met<'a>(&self, uris: impl IntoIterator<Item = &'a str> + Clone) -> bool {
        let matched = |p: &UriPattern| uris.clone().into_iter().any(|u| p.matches(u));
        match self {
            DatasetCondition::All(patterns) => !patterns.is_empty() && patterns.iter().all(matched),
            DatasetCondition::Any(patterns) => patterns.iter().any(matched),
        }
    }
}

/// An event the consumer has not consumed yet (its id is past the consumer's cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub id: i64,
    pub uri: String,
    pub timestamp: DateTime<Utc>,
}

/// What the engine does with a consumer's pending events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The condition is met: one run, triggered by `events` (the ids of the pending
    /// events the condition wants, oldest first), whose data interval spans their
    /// timestamps; the cursor moves to `through`.
    Run {
        events: Vec<i64>,
        through: i64,
        data_interval: (DateTime<Utc>, DateTime<Utc>),
    },
    /// Not met, but the oldest pending events are of no interest to this consumer: the
    /// cursor may move to `through` so they are not read again.
    Skip { through: i64 },
    /// Not met; nothing to do until another event arrives.
    Wait,
}

/// Decides for a consumer waiting on `condition` whose cursor is at `cursor`: `pending`
/// holds the events past the cursor, by id (those the condition does not want may be
/// left out), and `newest` is the newest event id read.
pub fn trigger(
    condition: &DatasetCondition,
    cursor: i64,
    pending: &[PendingEvent],
    newest: i64,
) -> Trigger {
    let wanted: Vec<&PendingEvent> = pending
        .iter()
        .filter(|e| e.id > cursor && condition.wants(&e.uri))
        .collect();
    if condition.is_met(wanted.iter().map(|e| e.uri.as_str())) {
        let first = wanted.iter().map(|e| e.timestamp).min();
        let last = wanted.iter().map(|e| e.timestamp).max();
        let (Some(first), Some(last)) = (first, last) else {
            return Trigger::Wait;
        };
        let through = wanted.iter().map(|e| e.id).fold(newest, i64::max);
        return Trigger::Run {
            events: wanted.iter().map(|e| e.id).collect(),
            through,
            data_interval: (first, last),
        };
    }
    // Every event before the first wanted one can be passed over.
    let through = match wanted.first() {
        Some(first) => first.id - 1,
        None => newest,
    };
    if through > cursor {
        Trigger::Skip { through }
    } else {
        Trigger::Wait
    }
}
