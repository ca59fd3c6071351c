use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::spec::model::SignedDuration;

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

fn secs(s: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(s)
}

fn waiting(poke: u64, timeout: u64) -> Waiting {
    Waiting {
        poke_interval: Duration::from_secs(poke),
        timeout: Duration::from_secs(timeout),
        soft_fail: false,
        exponential_backoff: false,
    }
}

#[test]
fn met_and_failed_answer_at_once() {
    let w = waiting(60, 600);
    assert_eq!(
        decide(&w, t0(), secs(0), Check::Met("ok".into())),
        Decision::Succeed { note: "ok".into() }
    );
    let soft = Waiting {
        soft_fail: true,
        ..w
    };
    assert_eq!(
        decide(&soft, t0(), secs(10), Check::Failed("no".into())),
        Decision::Fail { note: "no".into() },
        "soft_fail is for timeouts only"
    );
}

#[test]
fn not_yet_reschedules_within_the_deadline() {
    let w = waiting(60, 600);
    let cases = [
        ("first check", 0, Some(60)),
        ("later", 300, Some(360)),
        ("close to the deadline: at the deadline", 570, Some(600)),
        ("at the deadline", 600, None),
        ("past it", 900, None),
    ];
    for (what, now, want) in cases {
        let got = decide(&w, t0(), secs(now), Check::NotYet("waiting for x".into()));
        match (got, want) {
            (Decision::Reschedule { at, note }, Some(want)) => {
                assert_eq!(at, secs(want), "{what}");
                assert!(note.starts_with("waiting for x; next check at "), "{note}");
            }
            (Decision::Fail { note }, None) => {
                assert!(note.contains("timed out after 10m"), "{what}: {note}");
                assert!(note.ends_with("waiting for x"), "{note}");
            }
            (other, want) => panic!("{what}: {other:?}, wanted {want:?}"),
        }
    }
}

#[test]
fn soft_fail_skips_on_timeout() {
    let w = Waiting {
        soft_fail: true,
        ..waiting(1, 5)
    };
    match decide(&w, t0(), secs(5), Check::NotYet("w".into())) {
        Decision::Skip { note } => assert!(note.contains("soft_fail"), "{note}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exponential_backoff_grows_and_is_capped() {
    let w = Waiting {
        exponential_backoff: true,
        ..waiting(60, 7 * 24 * 3600)
    };
    let next = |now: i64| match decide(&w, t0(), secs(now), Check::NotYet("w".into())) {
        Decision::Reschedule { at, .. } => (at - secs(now)).num_seconds(),
        other => panic!("{other:?}"),
    };
    assert_eq!(next(0), 60, "never shorter than poke_interval");
    assert_eq!(next(60), 60);
    assert_eq!(next(200), 200, "as long as the time waited so far");
    assert_eq!(next(100_000), 3600, "at most an hour");
    let long_poke = Waiting {
        poke_interval: Duration::from_secs(7200),
        ..w
    };
    match decide(&long_poke, t0(), secs(100_000), Check::NotYet("w".into())) {
        Decision::Reschedule { at, .. } => assert_eq!(at, secs(107_200)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults_are_airflows() {
    let sensor = SensorTask::waiting_for_dag("other".parse().unwrap());
    assert_eq!(
        Waiting::of(&sensor),
        Waiting {
            poke_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(604_800),
            soft_fail: false,
            exponential_backoff: false,
        }
    );
}

#[test]
fn another_dags_states() {
    use Awaited as A;
    use TaskState as T;
    let what = "task `t` of DAG `d`";
    let met = |c: &Check| matches!(c, Check::Met(_));
    let not_yet = |c: &Check| matches!(c, Check::NotYet(_));
    let failed = |c: &Check| matches!(c, Check::Failed(_));
    type Want = fn(&Check) -> bool;
    let cases: Vec<(A, bool, Want)> = vec![
        (A::NoDag, false, failed),
        (A::NoRun, true, not_yet),
        (A::NoTask, false, failed),
        (A::Task(vec![]), false, failed),
        (A::Run(DagRunState::Success), false, met),
        (A::Run(DagRunState::Running), true, not_yet),
        (A::Run(DagRunState::Failed), false, not_yet),
        (A::Run(DagRunState::Failed), true, failed),
        (A::Task(vec![T::Success]), false, met),
        (A::Task(vec![T::Success, T::Success]), false, met),
        (A::Task(vec![T::Success, T::Running]), true, not_yet),
        (A::Task(vec![T::Failed]), false, not_yet),
        (A::Task(vec![T::UpstreamFailed]), true, failed),
        (A::Task(vec![T::Success, T::Failed]), true, failed),
        (A::Task(vec![T::Skipped]), true, not_yet),
        (A::Task(vec![T::UpForReschedule]), true, not_yet),
    ];
    for (found, fail_on_failure, want) in cases {
        let got = external(what, found.clone(), fail_on_failure);
        assert!(
            want(&got),
            "{found:?} (fail_on_failure {fail_on_failure}): {got:?}"
        );
    }
    assert_eq!(
        external(
            what,
            A::Task(vec![T::Running, T::Queued, T::Running]),
            false
        ),
        Check::NotYet("waiting for task `t` of DAG `d`: it is queued, running".into())
    );
}

#[test]
fn truth_of_a_first_value() {
    for v in [
        json!(true),
        json!(1),
        json!(-2.5),
        json!("yes"),
        json!("t"),
        json!([0]),
        json!({"a": 1}),
    ] {
        assert!(truthy(&v), "{v}");
    }
    for v in [
        json!(null),
        json!(false),
        json!(0),
        json!(0.0),
        json!(""),
        json!("0"),
        json!("f"),
        json!("false"),
        json!([]),
        json!({}),
    ] {
        assert!(!truthy(&v), "{v}");
    }
}

#[test]
fn offsets_move_the_awaited_logical_date() {
    let day = SignedDuration::parse("-1d").unwrap();
    assert_eq!(awaited_logical_date(secs(86_400), Some(day)), t0());
    assert_eq!(awaited_logical_date(t0(), None), t0());
    assert_eq!(
        awaited_logical_date(t0(), Some(SignedDuration::parse("+1h").unwrap())),
        secs(3600)
    );
}
