//! The changes a task instance goes through, one named case each. The store applies a
//! case as a compare-and-set on the state the case expects (`UPDATE … WHERE state =
//! expected`), after [`TaskState::transition`] approved the change; every column a case
//! does not name is left as it is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::TryNumber;
use crate::state::TaskState;

/// One change of a task instance, as a value. See [`TaskInstanceUpdate::expected`] and
/// [`TaskInstanceUpdate::new_state`] for the states each case moves between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum TaskInstanceUpdate {
    /// `none` → `scheduled`: the planner found its upstream done.
    Schedule,
    /// `none` → a finished state the planner (or a fan-out) decided without running it
    /// (`skipped`, `upstream_failed`, `removed`, `failed`): start and end are `at`; `note`
    /// says why, when set (`None` leaves the note as it is).
    Settle {
        state: TaskState,
        at: DateTime<Utc>,
        note: Option<String>,
    },
    /// `scheduled` → `success` without a backend (a `noop` task): it counts as try
    /// `try_number` (Airflow's try number 1 once it has run), started and ended `at`.
    Noop {
        try_number: TryNumber,
        at: DateTime<Utc>,
    },
    /// `scheduled` → `queued`: this scheduler (`hostname`) takes the instance for try
    /// `try_number`. Exactly one of several racing claims applies.
    Claim {
        try_number: TryNumber,
        hostname: String,
    },
    /// `queued` → `running`: the claimed try starts. Sets the start date and what ran;
    /// clears the end date and any retry time left from an earlier try.
    Run {
        start_date: DateTime<Utc>,
        pid: Option<u32>,
        rendered_command: Option<String>,
    },
    /// `queued` → `scheduled`: a claim whose try was never recorded (a crash between the
    /// two writes) is given back, with the try number it had before (`try_number`).
    Unclaim { try_number: TryNumber },
    /// `running` → `success`, `up_for_retry` or `failed`: the current try ended. Sets the
    /// end date and the retry time (`None` clears it); the pid of a finished try goes.
    Finish {
        state: TaskState,
        end_date: DateTime<Utc>,
        retry_at: Option<DateTime<Utc>>,
    },
    /// `running` → `scheduled`: its try proved never started (after a restart), so it
    /// goes back to the queue without using a retry; start and end dates are cleared.
    Requeue,
    /// `up_for_retry` → `scheduled`: the retry delay has passed; the retry time is cleared.
    PromoteRetry,
    /// `scheduled` → `up_for_reschedule`: a sensor's condition is not met yet. Sets the
    /// start date to its first check (`first_check`: the existing start date on later
    /// checks), the next check in `next_retry_at`, and `note` (what it waits for).
    Reschedule {
        first_check: DateTime<Utc>,
        next_check: DateTime<Utc>,
        note: String,
    },
    /// `up_for_reschedule` → `scheduled`: a sensor's next check is due; the check time
    /// is cleared.
    PromoteReschedule,
    /// `scheduled` → `success`, `failed` or `skipped`: a sensor's answer. It counts as try
    /// `try_number` (as a `noop` does), started at its first check and ended `at`;
    /// `note` says why.
    SensorDone {
        state: TaskState,
        try_number: TryNumber,
        first_check: DateTime<Utc>,
        at: DateTime<Utc>,
        note: String,
    },
    /// `scheduled` → `failed` before any try: it can never start here; `note` says why.
    FailBeforeStart {
        end_date: DateTime<Utc>,
        note: String,
    },
    /// `expected` → `none` (a user's clear): dates, retry time and note are cleared; the
    /// try number stays, so the next try gets the next number, and `max_tries` (the last
    /// try number allowed) grows so the instance has its task's retries again, as a clear
    /// does in Airflow ([`fresh_max_tries`]).
    Clear { expected: TaskState, max_tries: u32 },
    /// `expected` → `state` (a user's mark, or a run marked as a whole): ends it at
    /// `end_date` and clears the retry time.
    Mark {
        expected: TaskState,
        state: TaskState,
        end_date: DateTime<Utc>,
    },
    /// The note alone, while the state is `expected` (`None` clears it).
    SetNote {
        expected: TaskState,
        note: Option<String>,
    },
}

/// The `max_tries` of an instance cleared after try `try_number`, for a task allowed
/// `tries` tries (its retries plus one, or a job definition's `attempts`): every one of
/// them again, counted from the next try (Airflow: `max_tries = try_number + retries`).
pub fn fresh_max_tries(try_number: TryNumber, tries: u32) -> u32 {
    try_number.saturating_add(tries)
}

impl TaskInstanceUpdate {
    /// The state the instance must be in for the change to apply.
    pub fn expected(&self) -> TaskState {
        match self {
            Self::Schedule | Self::Settle { .. } => TaskState::None,
            Self::Noop { .. }
            | Self::Claim { .. }
            | Self::FailBeforeStart { .. }
            | Self::Reschedule { .. }
            | Self::SensorDone { .. } => TaskState::Scheduled,
            Self::Run { .. } | Self::Unclaim { .. } => TaskState::Queued,
            Self::Finish { .. } | Self::Requeue => TaskState::Running,
            Self::PromoteRetry => TaskState::UpForRetry,
            Self::PromoteReschedule => TaskState::UpForReschedule,
            Self::Clear { expected, .. }
            | Self::Mark { expected, .. }
            | Self::SetNote { expected, .. } => *expected,
        }
    }

    /// The state the instance is in once the change applied.
    pub fn new_state(&self) -> TaskState {
        match self {
            Self::Schedule
            | Self::Unclaim { .. }
            | Self::Requeue
            | Self::PromoteRetry
            | Self::PromoteReschedule => TaskState::Scheduled,
            Self::Settle { state, .. }
            | Self::Finish { state, .. }
            | Self::Mark { state, .. }
            | Self::SensorDone { state, .. } => *state,
            Self::Reschedule { .. } => TaskState::UpForReschedule,
            Self::Noop { .. } => TaskState::Success,
            Self::Claim { .. } => TaskState::Queued,
            Self::Run { .. } => TaskState::Running,
            Self::FailBeforeStart { .. } => TaskState::Failed,
            Self::Clear { .. } => TaskState::None,
            Self::SetNote { expected, .. } => *expected,
        }
    }

    /// Whether the state machine allows the change ([`TaskState::transition`]); a change
    /// that keeps the state (a note) always is.
    pub fn check(&self) -> Result<(), crate::state::IllegalTransition> {
        let (from, to) = (self.expected(), self.new_state());
        if from != to {
            from.transition(to)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn each_case_moves_between_its_states() {
        use TaskState::*;
        let cases = [
            (TaskInstanceUpdate::Schedule, None, Scheduled),
            (
                TaskInstanceUpdate::Settle {
                    state: Skipped,
                    at: at(),
                    note: Option::None,
                },
                None,
                Skipped,
            ),
            (
                TaskInstanceUpdate::Noop {
                    try_number: 1,
                    at: at(),
                },
                Scheduled,
                Success,
            ),
            (
                TaskInstanceUpdate::Claim {
                    try_number: 1,
                    hostname: "h".into(),
                },
                Scheduled,
                Queued,
            ),
            (
                TaskInstanceUpdate::Run {
                    start_date: at(),
                    pid: Option::None,
                    rendered_command: Option::None,
                },
                Queued,
                Running,
            ),
            (
                TaskInstanceUpdate::Unclaim { try_number: 0 },
                Queued,
                Scheduled,
            ),
            (
                TaskInstanceUpdate::Finish {
                    state: UpForRetry,
                    end_date: at(),
                    retry_at: Some(at()),
                },
                Running,
                UpForRetry,
            ),
            (TaskInstanceUpdate::Requeue, Running, Scheduled),
            (TaskInstanceUpdate::PromoteRetry, UpForRetry, Scheduled),
            (
                TaskInstanceUpdate::Reschedule {
                    first_check: at(),
                    next_check: at(),
                    note: "waiting".into(),
                },
                Scheduled,
                UpForReschedule,
            ),
            (
                TaskInstanceUpdate::PromoteReschedule,
                UpForReschedule,
                Scheduled,
            ),
            (
                TaskInstanceUpdate::SensorDone {
                    state: Skipped,
                    try_number: 1,
                    first_check: at(),
                    at: at(),
                    note: "timed out".into(),
                },
                Scheduled,
                Skipped,
            ),
            (
                TaskInstanceUpdate::Mark {
                    expected: UpForReschedule,
                    state: Failed,
                    end_date: at(),
                },
                UpForReschedule,
                Failed,
            ),
            (
                TaskInstanceUpdate::FailBeforeStart {
                    end_date: at(),
                    note: "no".into(),
                },
                Scheduled,
                Failed,
            ),
            (
                TaskInstanceUpdate::Clear {
                    expected: Failed,
                    max_tries: 4,
                },
                Failed,
                None,
            ),
            (
                TaskInstanceUpdate::Mark {
                    expected: Running,
                    state: Success,
                    end_date: at(),
                },
                Running,
                Success,
            ),
            (
                TaskInstanceUpdate::SetNote {
                    expected: Success,
                    note: Some("n".into()),
                },
                Success,
                Success,
            ),
        ];
        for (update, from, to) in cases {
            assert_eq!(
                (update.expected(), update.new_state()),
                (from, to),
                "{update:?}"
            );
            assert!(update.check().is_ok(), "{update:?} is a legal change");
        }
    }

    #[test]
    fn a_sensor_cannot_answer_running() {
        let done = TaskInstanceUpdate::SensorDone {
            state: TaskState::Running,
            try_number: 1,
            first_check: at(),
            at: at(),
            note: "n".into(),
        };
        assert!(done.check().is_err());
    }

    #[test]
    fn an_illegal_change_is_refused() {
        let jump = TaskInstanceUpdate::Mark {
            expected: TaskState::None,
            state: TaskState::Running,
            end_date: at(),
        };
        assert!(jump.check().is_err());
    }
}
