//! The state machines of task instances and DAG runs, with Airflow's state names.
//!
//! Every state change in Weir goes through [`TaskState::transition`] or
//! [`DagRunState::transition`]; the store then writes it compare-and-set, so a change that
//! is illegal here, or that raced with another replica, never lands.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A refused state change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal {what} state transition from `{from}` to `{to}`")]
pub struct IllegalTransition {
    pub what: &'static str,
    pub from: String,
    pub to: String,
}

/// The state of a task instance, as Airflow names it. `None` is Airflow's "no status":
/// created, but its upstream has not decided yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    None,
    Scheduled,
    Queued,
    Running,
    Success,
    Failed,
    UpForRetry,
    /// A sensor whose condition was not met yet: it holds nothing (no worker, no slot)
    /// until its next check (`next_retry_at`), when it is scheduled again.
    UpForReschedule,
    UpstreamFailed,
    Skipped,
}

impl TaskState {
    pub const ALL: [TaskState; 10] = [
        TaskState::None,
        TaskState::Scheduled,
        TaskState::Queued,
        TaskState::Running,
        TaskState::Success,
        TaskState::Failed,
        TaskState::UpForRetry,
        TaskState::UpForReschedule,
        TaskState::UpstreamFailed,
        TaskState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::None => "none",
            TaskState::Scheduled => "scheduled",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::UpForRetry => "up_for_retry",
            TaskState::UpForReschedule => "up_for_reschedule",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::Skipped => "skipped",
        }
    }

    /// A finished state: nothing more happens to the instance unless a user clears it.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failed | TaskState::UpstreamFailed | TaskState::Skipped
        )
    }

    /// Success or skipped: downstream `none_failed` treats both as fine.
    pub fn is_failure(self) -> bool {
        matches!(self, TaskState::Failed | TaskState::UpstreamFailed)
    }

    /// Checks a change of state and returns the new state, or says why it is illegal.
    ///
    /// Clearing (any state back to `none`) and a user's mark (any state to `success` or
    /// `failed`) are always allowed; everything else follows the life of a try:
    /// none → scheduled → queued → running → success | failed | up_for_retry → scheduled.
    /// Running → scheduled is the one way back that costs no try: after a crash, a try
    /// its backend proves never started (no folder, no supervisor ever ran) is queued
    /// again, without counting against the task's retries. A sensor never runs a try:
    /// scheduled → up_for_reschedule → scheduled while it waits, then scheduled →
    /// success | failed | skipped with its answer.
    pub fn transition(self, to: TaskState) -> Result<TaskState, IllegalTransition> {
        use TaskState as S;
        let legal = match self {
            S::None => matches!(
                to,
                S::None | S::Scheduled | S::Skipped | S::UpstreamFailed | S::Success | S::Failed
            ),
            S::Scheduled => matches!(
                to,
                S::None
                    | S::Queued
                    | S::UpForReschedule
                    | S::Skipped
                    | S::UpstreamFailed
                    | S::Success
                    | S::Failed
            ),
            S::Queued => matches!(
                to,
                S::None | S::Scheduled | S::Running | S::Success | S::Failed | S::UpForRetry
            ),
            S::Running => matches!(
                to,
                S::None | S::Scheduled | S::Success | S::Failed | S::UpForRetry
            ),
            S::UpForRetry => matches!(to, S::None | S::Scheduled | S::Success | S::Failed),
            S::UpForReschedule => matches!(to, S::None | S::Scheduled | S::Success | S::Failed),
            S::Success | S::Failed | S::UpstreamFailed | S::Skipped => {
                matches!(to, S::None | S::Success | S::Failed)
            }
        };
        if legal {
            Ok(to)
        } else {
            Err(IllegalTransition {
                what: "task instance",
                from: self.to_string(),
                to: to.to_string(),
            })
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown state name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state `{0}`")]
pub struct UnknownState(pub String);

impl FromStr for TaskState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        TaskState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// The state of a DAG run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DagRunState {
    Queued,
    Running,
    Success,
    Failed,
}

impl DagRunState {
    pub const ALL: [DagRunState; 4] = [
        DagRunState::Queued,
        DagRunState::Running,
        DagRunState::Success,
        DagRunState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DagRunState::Queued => "queued",
            DagRunState::Running => "running",
            DagRunState::Success => "success",
            DagRunState::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, DagRunState::Success | DagRunState::Failed)
    }

    /// Checks a change of run state: queued → running → success | failed; a finished run
    /// goes back to queued or running when a user clears some of its tasks; a user may
    /// set any run to success or failed.
    pub fn transition(self, to: DagRunState) -> Result<DagRunState, IllegalTransition> {
        use DagRunState as S;
        let legal = match self {
            S::Queued => matches!(to, S::Running | S::Success | S::Failed),
            S::Running => matches!(to, S::Running | S::Success | S::Failed),
            S::Success | S::Failed => matches!(to, S::Queued | S::Running | S::Success | S::Failed),
        };
        if legal {
            Ok(to)
        } else {
            Err(IllegalTransition {
                what: "DAG run",
                from: self.to_string(),
                to: to.to_string(),
            })
        }
    }
}

impl fmt::Display for DagRunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DagRunState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        DagRunState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// How a DAG run came to be (Airflow's `run_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunType {
    Scheduled,
    Manual,
    Backfill,
    DatasetTriggered,
}

impl RunType {
    pub fn as_str(self) -> &'static str {
        match self {
            RunType::Scheduled => "scheduled",
            RunType::Manual => "manual",
            RunType::Backfill => "backfill",
            RunType::DatasetTriggered => "dataset_triggered",
        }
    }
}

impl fmt::Display for RunType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunType {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        [
            RunType::Scheduled,
            RunType::Manual,
            RunType::Backfill,
            RunType::DatasetTriggered,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_try_lives_its_life() {
        let s = TaskState::None;
        let s = s.transition(TaskState::Scheduled).unwrap();
        let s = s.transition(TaskState::Queued).unwrap();
        let s = s.transition(TaskState::Running).unwrap();
        let s = s.transition(TaskState::UpForRetry).unwrap();
        let s = s.transition(TaskState::Scheduled).unwrap();
        assert_eq!(s, TaskState::Scheduled);
    }

    #[test]
    fn a_sensor_waits_without_a_try() {
        let s = TaskState::Scheduled;
        let s = s.transition(TaskState::UpForReschedule).unwrap();
        let s = s.transition(TaskState::Scheduled).unwrap();
        let s = s.transition(TaskState::UpForReschedule).unwrap();
        assert!(
            s.transition(TaskState::Queued).is_err(),
            "it is checked, not run"
        );
        assert!(s.transition(TaskState::Running).is_err());
        assert!(s.transition(TaskState::UpForRetry).is_err());
        assert!(
            TaskState::Running
                .transition(TaskState::UpForReschedule)
                .is_err()
        );
        assert!(
            TaskState::None
                .transition(TaskState::UpForReschedule)
                .is_err()
        );
        for done in [TaskState::Success, TaskState::Failed, TaskState::Skipped] {
            assert_eq!(TaskState::Scheduled.transition(done), Ok(done));
        }
        assert!(!TaskState::UpForReschedule.is_finished());
    }

    #[test]
    fn a_try_that_never_started_goes_back_to_scheduled() {
        assert_eq!(
            TaskState::Running.transition(TaskState::Scheduled),
            Ok(TaskState::Scheduled)
        );
        assert!(TaskState::Running.transition(TaskState::Queued).is_err());
    }

    #[test]
    fn illegal_transitions_are_errors() {
        let err = TaskState::Success
            .transition(TaskState::Running)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "illegal task instance state transition from `success` to `running`"
        );
        assert!(TaskState::None.transition(TaskState::Running).is_err());
        assert!(TaskState::Skipped.transition(TaskState::Queued).is_err());
        assert!(DagRunState::Queued.transition(DagRunState::Queued).is_err());
    }

    #[test]
    fn clear_and_mark_are_always_allowed() {
        for s in TaskState::ALL {
            assert!(s.transition(TaskState::None).is_ok(), "{s} -> none");
            assert!(s.transition(TaskState::Success).is_ok(), "{s} -> success");
            assert!(s.transition(TaskState::Failed).is_ok(), "{s} -> failed");
        }
    }

    #[test]
    fn names_round_trip() {
        for s in TaskState::ALL {
            assert_eq!(s.as_str().parse::<TaskState>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in DagRunState::ALL {
            assert_eq!(s.as_str().parse::<DagRunState>().unwrap(), s);
        }
        assert!("bogus".parse::<TaskState>().is_err());
    }
}
