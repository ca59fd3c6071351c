//! The start of a try, decided: from the instance's last try number, this scheduler's
//! host name, the command and `now`, to the changes the engine writes — a `noop` task
//! succeeds on the spot as one try; anything else is claimed for its next try
//! (scheduled → queued) and started (queued → running) in the transaction that records
//! the try.

use chrono::{DateTime, Utc};

use crate::ids::TryNumber;

use super::update::TaskInstanceUpdate;

/// The number of the try after try `try_number` (0 before the first).
pub fn next_try_number(try_number: TryNumber) -> TryNumber {
    try_number.saturating_add(1)
}

/// A `noop` task, whose last try was `try_number`: done on the spot, as one try
/// (Airflow's try number 1 once it has run).
pub fn noop(try_number: TryNumber, now: DateTime<Utc>) -> TaskInstanceUpdate {
    TaskInstanceUpdate::Noop {
        try_number: next_try_number(try_number),
        at: now,
    }
}

/// What to write to start a try for a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub try_number: TryNumber,
    /// Scheduled → queued, by this scheduler.
    pub claim: TaskInstanceUpdate,
    /// Queued → running, written with the try's record in the claim's transaction.
    pub run: TaskInstanceUpdate,
}

/// A new try for an instance whose last try was `try_number`, started `now` by the
/// scheduler on `hostname`, running `rendered_command` (`None` when the try cannot
/// start: it is recorded, then ended as failed to launch).
pub fn launch(
    try_number: TryNumber,
    hostname: &str,
    rendered_command: Option<&str>,
    now: DateTime<Utc>,
) -> Launch {
    let next = next_try_number(try_number);
    Launch {
        try_number: next,
        claim: TaskInstanceUpdate::Claim {
            try_number: next,
            hostname: hostname.to_string(),
        },
        run: TaskInstanceUpdate::Run {
            start_date: now,
            pid: None,
            rendered_command: rendered_command.map(str::to_string),
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn a_noop_task_counts_as_a_try() {
        let cases = [(0, 1), (1, 2), (u32::MAX, u32::MAX)];
        for (last, want) in cases {
            assert_eq!(
                noop(last, now()),
                TaskInstanceUpdate::Noop {
                    try_number: want,
                    at: now()
                },
                "after try {last}"
            );
        }
    }

    #[test]
    fn launches() {
        let cases = [
            ("a first try", 0, Some("echo hi"), 1),
            ("a retry gets the next number", 2, Some("echo hi"), 3),
            ("a try that cannot start shows no command", 0, None, 1),
        ];
        for (what, last, command, want) in cases {
            assert_eq!(
                launch(last, "host-1", command, now()),
                Launch {
                    try_number: want,
                    claim: TaskInstanceUpdate::Claim {
                        try_number: want,
                        hostname: "host-1".into(),
                    },
                    run: TaskInstanceUpdate::Run {
                        start_date: now(),
                        pid: None,
                        rendered_command: command.map(str::to_string),
                    },
                },
                "{what}"
            );
        }
    }
}
