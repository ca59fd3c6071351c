//! Reading `sensor` tasks: each target, the waiting settings, and one test per
//! diagnostic.

use std::time::Duration;

use crate::spec::model::*;
use crate::spec::sql_http::tests::{Found, task};

fn sensor(body: &str) -> Result<SensorTask, Vec<Found>> {
    match task(&format!("    sensor:\n{body}"))? {
        TaskKind::Sensor(s) => Ok(s),
        other => panic!("{other:?}"),
    }
}

fn error(body: &str) -> Found {
    let errors = sensor(body).expect_err("an error");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().expect("one")
}

fn round_trips(s: &SensorTask) {
    let json = serde_json::to_value(TaskKind::Sensor(s.clone())).expect("json");
    let back: TaskKind = serde_json::from_value(json.clone()).expect("read back");
    assert_eq!(back, TaskKind::Sensor(s.clone()), "{json}");
}

#[test]
fn a_sensor_on_another_dag_reads_every_setting() {
    let s = sensor(
        "      dag: sales\n      task: load\n      logical_date_offset: -1d\n      fail_on_failure: true\n      poke_interval: 30s\n      timeout: 2h\n      soft_fail: true\n      exponential_backoff: true\n",
    )
    .expect("valid");
    assert_eq!(
        (s.dag.as_deref(), s.task.as_deref()),
        (Some("sales"), Some("load"))
    );
    assert_eq!(s.logical_date_offset, Some(SignedDuration(-86_400_000)));
    assert!(s.fail_on_failure && s.soft_fail && s.exponential_backoff);
    assert_eq!(s.poke_interval.map(|d| d.0), Some(Duration::from_secs(30)));
    assert_eq!(s.timeout.map(|d| d.0), Some(Duration::from_secs(7200)));
    assert!(matches!(s.target(), Some(SensorTarget::Dag { .. })));
    round_trips(&s);
}

#[test]
fn sql_http_file_and_dataset_targets() {
    let s = sensor("      sql: {connection: warehouse, query: \"SELECT count(*) > 0 FROM t WHERE day = '{{ ds }}'\"}\n").expect("valid");
    let Some(SensorTarget::Sql(sql)) = s.target() else {
        panic!("{s:?}")
    };
    assert_eq!(sql.connection, "warehouse");
    round_trips(&s);

    let s = sensor("      http: {url: \"https://api.example.com/ready/{{ ds }}\", expect_status: [200, 204]}\n").expect("valid");
    let Some(SensorTarget::Http(http)) = s.target() else {
        panic!("{s:?}")
    };
    assert_eq!((http.method.as_str(), http.expect_status.len()), ("GET", 2));
    round_trips(&s);

    let s = sensor("      file: \"/data/landing/{{ ds }}/_SUCCESS\"\n").expect("valid");
    assert_eq!(
        s.target(),
        Some(SensorTarget::File("/data/landing/{{ ds }}/_SUCCESS"))
    );
    round_trips(&s);

    let s = sensor("      dataset: s3://lake/x\n      since: last_run\n").expect("valid");
    assert_eq!(
        s.target(),
        Some(SensorTarget::Dataset {
            uri: "s3://lake/x",
            since: Some("last_run")
        })
    );
    round_trips(&s);
}

#[test]
fn stored_sensors_of_earlier_versions_still_read() {
    let old = serde_json::json!({"sensor": {"dag": "o", "task": "t", "poke_interval": "1m"}});
    let kind: TaskKind = serde_json::from_value(old).expect("reads");
    assert!(matches!(kind, TaskKind::Sensor(s) if !s.fail_on_failure && s.target().is_some()));
}

#[test]
fn diagnostics_say_what_to_do() {
    let (line, _, msg, help) = error("      dag: a\n      sql: {connection: c, query: q}\n");
    assert_eq!(
        (line, msg.as_str()),
        (6, "a sensor waits for exactly one thing")
    );
    assert_eq!(
        help.as_deref(),
        Some("it names `dag` and `sql`: keep one of them (a second sensor can wait for the other)")
    );

    let (_, _, msg, help) = error("      poke_interval: 1m\n");
    assert_eq!(msg, "a sensor waits for exactly one thing");
    assert!(help.unwrap_or_default().contains("`file:`"));

    let (line, col, msg, help) = error("      dag: a\n      poke_intervall: 1m\n");
    assert_eq!((line, col), (7, 7));
    assert_eq!(msg, "unknown key `poke_intervall` in `sensor`");
    assert_eq!(help.as_deref(), Some("did you mean `poke_interval`?"));

    let (line, _, msg, _) = error("      file: /data/x\n      fail_on_failure: true\n");
    assert_eq!(
        (line, msg.as_str()),
        (7, "`fail_on_failure` only applies to a sensor on a `dag`")
    );

    let (_, _, msg, _) = error("      dag: a\n      since: yesterday\n");
    assert_eq!(msg, "`since` only applies to a sensor on a `dataset`");

    let (line, _, msg, _) = error("      dag: a\n      logical_date_offset: yesterday\n");
    assert_eq!(line, 7);
    assert!(msg.starts_with("`logical_date_offset`: "), "{msg}");

    let (_, _, msg, _) = error("      dag: a\n      poke_interval: 0s\n");
    assert_eq!(msg, "`poke_interval` must be more than zero");

    let (_, _, msg, _) = error("      file: data/x\n");
    assert_eq!(msg, "`file` must be an absolute path, not `data/x`");

    let (_, _, msg, help) = error("      dag: a\n      mode: poke\n");
    assert_eq!(msg, "a sensor's `mode` is always `reschedule` in Weir");
    assert!(help.unwrap_or_default().contains("never holds a worker"));

    let (_, _, msg, _) = error("      sql: {connection: c}\n");
    assert_eq!(msg, "a sensor's `sql` is missing the required key `query`");

    let (_, _, msg, help) = error("      http: {url: \"https://x\", methd: GET}\n");
    assert_eq!(msg, "unknown key `methd` in `http`");
    assert_eq!(help.as_deref(), Some("did you mean `method`?"));
}

#[test]
fn signed_durations() {
    for (text, ms) in [
        ("-1d", -86_400_000),
        ("+1h", 3_600_000),
        ("30m", 1_800_000),
        ("-0s", 0),
    ] {
        let d = SignedDuration::parse(text).expect(text);
        assert_eq!(d.0, ms, "{text}");
        let json = serde_json::to_value(d).expect("json");
        let back: SignedDuration = serde_json::from_value(json).expect("back");
        assert_eq!(back, d);
    }
    assert!(SignedDuration::parse("-").is_err());
    assert!(SignedDuration::parse("--1d").is_err());
}
