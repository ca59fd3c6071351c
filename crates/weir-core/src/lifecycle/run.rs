//! The outcomes for task instances that the engine settles without a try: what the
//! run planner ([`crate::plan`]) decided, a mapped task's fan-out, and the instances of
//! a run a user marks as a whole.

use chrono::{DateTime, Utc};

use crate::state::{DagRunState, TaskState};

use super::update::TaskInstanceUpdate;

/// The note on a mapped task whose `for_each` yielded nothing.
pub const EMPTY_FAN_OUT: &str = "`for_each` yielded an empty list: nothing to run";

/// The change for a state the planner set on an instance in state `none`: `scheduled`,
/// or a finished state (started and ended `now`).
pub fn planned(state: TaskState, now: DateTime<Utc>) -> TaskInstanceUpdate {
    if state == TaskState::Scheduled {
        TaskInstanceUpdate::Schedule
    } else {
        TaskInstanceUpdate::Settle {
            state,
            at: now,
            note: None,
        }
    }
}

/// What a mapped task's placeholder becomes once its `for_each` is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanOut {
    /// One instance per item (the count).
    Expand(usize),
    /// No instance: the placeholder is settled (failed with the reason, or skipped).
    Settle(TaskInstanceUpdate),
}

/// Decides a fan-out from the number of items `for_each` yielded, or why it could not.
pub fn fan_out(items: Result<usize, String>, now: DateTime<Utc>) -> FanOut {
    let settle = |state, note: String| {
        FanOut::Settle(TaskInstanceUpdate::Settle {
            state,
            at: now,
            note: Some(note),
        })
    };
    match items {
        Err(reason) => settle(TaskState::Failed, reason),
        Ok(0) => settle(TaskState::Skipped, EMPTY_FAN_OUT.to_string()),
        Ok(n) => FanOut::Expand(n),
    }
}

/// The change of an instance (in `state`) of a run a user marks `success` or `failed`
/// as a whole; `None` for an instance already finished. As Airflow does, unfinished
/// instances of a run marked success succeed; those of a run marked failed fail if they
/// had started (queued, running, waiting to retry, a sensor waiting for its next check)
/// and are skipped otherwise.
pub fn marked_with_run(
    run_state: DagRunState,
    state: TaskState,
    now: DateTime<Utc>,
) -> Option<TaskInstanceUpdate> {
    if state.is_finished() {
        return None;
    }
    let to = match (run_state, state) {
        (DagRunState::Success, _) => TaskState::Success,
        (
            _,
            TaskState::Running
            | TaskState::Queued
            | TaskState::UpForRetry
            | TaskState::UpForReschedule,
        ) => TaskState::Failed,
        _ => TaskState::Skipped,
    };
    Some(TaskInstanceUpdate::Mark {
        expected: state,
        state: to,
        end_date: now,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn planned_states() {
        use TaskState::*;
        assert_eq!(planned(Scheduled, now()), TaskInstanceUpdate::Schedule);
        for state in [Skipped, UpstreamFailed] {
            assert_eq!(
                planned(state, now()),
                TaskInstanceUpdate::Settle {
                    state,
                    at: now(),
                    note: Option::None
                }
            );
        }
    }

    #[test]
    fn fan_outs() {
        let settled = |state, note: &str| {
            FanOut::Settle(TaskInstanceUpdate::Settle {
                state,
                at: now(),
                note: Some(note.into()),
            })
        };
        let cases = [
            (Ok(3), FanOut::Expand(3)),
            (Ok(0), settled(TaskState::Skipped, EMPTY_FAN_OUT)),
            (
                Err("`for_each` is not a list".to_string()),
                settled(TaskState::Failed, "`for_each` is not a list"),
            ),
        ];
        for (items, want) in cases {
            assert_eq!(fan_out(items.clone(), now()), want, "{items:?}");
        }
    }

    #[test]
    fn marking_a_run() {
        use DagRunState as R;
        use TaskState::*;
        let cases = [
            (R::Success, None, Some(Success)),
            (R::Success, Running, Some(Success)),
            (R::Success, UpForRetry, Some(Success)),
            (R::Success, Failed, Option::None),
            (R::Failed, Running, Some(Failed)),
            (R::Failed, Queued, Some(Failed)),
            (R::Failed, UpForRetry, Some(Failed)),
            (R::Failed, UpForReschedule, Some(Failed)),
            (R::Success, UpForReschedule, Some(Success)),
            (R::Failed, Scheduled, Some(Skipped)),
            (R::Failed, None, Some(Skipped)),
            (R::Failed, Success, Option::None),
            (R::Failed, Skipped, Option::None),
        ];
        for (run, ti, want) in cases {
            let got = marked_with_run(run, ti, now());
            let want = want.map(|state| TaskInstanceUpdate::Mark {
                expected: ti,
                state,
                end_date: now(),
            });
            assert_eq!(got, want, "run {run}, instance {ti}");
        }
    }
}
