//! A sensor over simulated time: the engine's loop in miniature (check when due, ask
//! `decide`, wait for the answer's time), against a condition that becomes true at a
//! chosen instant, or never.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::*;

/// Runs a sensor whose condition becomes true at `met_at` (never: `None`) from `start`;
/// returns the times of its checks and its last decision.
fn simulate(
    waiting: &Waiting,
    start: DateTime<Utc>,
    met_at: Option<DateTime<Utc>>,
) -> (Vec<DateTime<Utc>>, Decision) {
    let mut now = start;
    let mut checks = Vec::new();
    let first = start;
    loop {
        checks.push(now);
        assert!(checks.len() < 100_000, "the sensor never stops");
        let check = match met_at {
            Some(at) if now >= at => Check::Met("met".into()),
            _ => Check::NotYet("not yet".into()),
        };
        match decide(waiting, first, now, check) {
            Decision::Reschedule { at, .. } => {
                assert!(at > now, "the next check is later");
                now = at;
            }
            done => return (checks, done),
        }
    }
}

fn start() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

#[test]
fn a_sensor_succeeds_at_the_first_check_after_its_condition() {
    let w = Waiting::of(&crate::spec::model::SensorTask::waiting_for_dag(
        "d".parse().unwrap(),
    ));
    let met = start() + TimeDelta::seconds(601);
    let (checks, done) = simulate(&w, start(), Some(met));
    assert_eq!(done, Decision::Succeed { note: "met".into() });
    let last = *checks.last().unwrap();
    assert!(last >= met && last - met < TimeDelta::seconds(60), "{last}");
    assert_eq!(checks.len(), 12, "every 60 s from the start: 0, 60, …, 660");
    for pair in checks.windows(2) {
        assert_eq!(pair[1] - pair[0], TimeDelta::seconds(60));
    }
}

#[test]
fn a_sensor_that_is_never_met_times_out_exactly_at_its_deadline() {
    for soft_fail in [false, true] {
        for exponential_backoff in [false, true] {
            let w = Waiting {
                poke_interval: Duration::from_secs(70),
                timeout: Duration::from_secs(24 * 3600),
                soft_fail,
                exponential_backoff,
            };
            let (checks, done) = simulate(&w, start(), None);
            let deadline = start() + TimeDelta::seconds(24 * 3600);
            assert_eq!(
                *checks.last().unwrap(),
                deadline,
                "checked once more at the deadline"
            );
            assert!(checks.iter().all(|c| *c <= deadline));
            match (done, soft_fail) {
                (Decision::Skip { .. }, true) | (Decision::Fail { .. }, false) => {}
                (other, _) => panic!("soft_fail {soft_fail}: {other:?}"),
            }
            if exponential_backoff {
                // Doubling to an hour, then hourly: far fewer checks than every 70 s.
                assert!(checks.len() < 40, "{} checks", checks.len());
                for pair in checks.windows(3) {
                    let (a, b) = (pair[1] - pair[0], pair[2] - pair[1]);
                    assert!(b >= a || pair[2] == deadline, "waits never shrink");
                    assert!(b <= TimeDelta::seconds(3600));
                }
            } else {
                assert_eq!(checks.len(), 24 * 3600 / 70 + 2);
            }
        }
    }
}
