//! Which events a try's or a run's end raises, and when deadlines fall.

use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::state::{DagRunState, TaskState};

/// Something people asked to hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// A task instance failed with no retries left, or a run failed.
    Failure,
    /// A try failed and the instance will be tried again.
    Retry,
    Success,
    /// The first success after a failure.
    Recovery,
    /// A run or task was not done by its deadline.
    DeadlineMiss,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 5] = [
        NotifyEvent::Failure,
        NotifyEvent::Retry,
        NotifyEvent::Success,
        NotifyEvent::Recovery,
        NotifyEvent::DeadlineMiss,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Failure => "failure",
            NotifyEvent::Retry => "retry",
            NotifyEvent::Success => "success",
            NotifyEvent::Recovery => "recovery",
            NotifyEvent::DeadlineMiss => "deadline_miss",
        }
    }

    pub fn parse(text: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

impl std::fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The events a task instance raises when a try moves it to `state`. `failed_before`:
/// the instance's previous try failed, or, on its first try, the same task failed in
/// the DAG's previous run.
pub fn task_events(state: TaskState, failed_before: bool) -> Vec<NotifyEvent> {
    match state {
        TaskState::Failed => vec![NotifyEvent::Failure],
        TaskState::UpForRetry => vec![NotifyEvent::Retry],
        TaskState::Success if failed_before => vec![NotifyEvent::Success, NotifyEvent::Recovery],
        TaskState::Success => vec![NotifyEvent::Success],
        _ => Vec::new(),
    }
}

/// The events a run raises when it ends in `state`; `previous_failed`: the DAG's run
/// before it (by logical date) failed.
pub fn run_events(state: DagRunState, previous_failed: bool) -> Vec<NotifyEvent> {
    match state {
        DagRunState::Failed => vec![NotifyEvent::Failure],
        DagRunState::Success if previous_failed => {
            vec![NotifyEvent::Success, NotifyEvent::Recovery]
        }
        DagRunState::Success => vec![NotifyEvent::Success],
        _ => Vec::new(),
    }
}

/// When a run should be done by: its data interval's end plus `run_within`. `None`
/// when the deadline is too far to write down.
pub fn run_deadline(
    data_interval_end: DateTime<Utc>,
    run_within: Duration,
) -> Option<DateTime<Utc>> {
    let within = chrono::Duration::from_std(run_within).ok()?;
    data_interval_end.checked_add_signed(within)
}

/// When a task should be done by; the same reference as the run's.
pub fn task_deadline(
    data_interval_end: DateTime<Utc>,
    task_within: Duration,
) -> Option<DateTime<Utc>> {
    run_deadline(data_interval_end, task_within)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_try_raises_what_its_instance_became() {
        assert_eq!(
            task_events(TaskState::Failed, false),
            [NotifyEvent::Failure]
        );
        assert_eq!(
            task_events(TaskState::UpForRetry, true),
            [NotifyEvent::Retry]
        );
        assert_eq!(
            task_events(TaskState::Success, false),
            [NotifyEvent::Success]
        );
        assert_eq!(
            task_events(TaskState::Success, true),
            [NotifyEvent::Success, NotifyEvent::Recovery]
        );
        assert!(task_events(TaskState::Scheduled, true).is_empty());
        assert!(task_events(TaskState::Skipped, true).is_empty());
    }

    #[test]
    fn a_run_recovers_after_a_failed_run() {
        assert_eq!(
            run_events(DagRunState::Failed, true),
            [NotifyEvent::Failure]
        );
        assert_eq!(
            run_events(DagRunState::Success, true),
            [NotifyEvent::Success, NotifyEvent::Recovery]
        );
        assert_eq!(
            run_events(DagRunState::Success, false),
            [NotifyEvent::Success]
        );
        assert!(run_events(DagRunState::Running, false).is_empty());
    }

    #[test]
    fn deadlines_count_from_the_data_interval_end() {
        let end = "2026-12-01T00:00:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap_or_default();
        assert_eq!(
            run_deadline(end, Duration::from_secs(7200)).map(|d| d.to_rfc3339()),
            Some("2026-12-01T02:00:00+00:00".to_string())
        );
        assert_eq!(run_deadline(end, Duration::MAX), None);
        for event in NotifyEvent::ALL {
            assert_eq!(NotifyEvent::parse(event.as_str()), Some(event));
        }
    }
}
