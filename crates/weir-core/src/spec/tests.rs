//! Tests of the DAG format: one per diagnostic, asserting message and position.

use super::*;

fn errors(src: &str) -> Vec<(u32, u32, String)> {
    load_file(src)
        .diagnostics
        .into_iter()
        .filter(Diagnostic::is_error)
        .map(|d| (d.pos.line, d.pos.col, d.message))
        .collect()
}

fn one_error(src: &str) -> (u32, u32, String, Option<String>) {
    let report = load_file(src);
    let errs: Vec<&Diagnostic> = report.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(
        errs.len(),
        1,
        "expected one error, got {:#?}",
        report.diagnostics
    );
    (
        errs[0].pos.line,
        errs[0].pos.col,
        errs[0].message.clone(),
        errs[0].help.clone(),
    )
}

const GOOD: &str = r#"dag: daily_revenue
team: marketing
description: Daily revenue rollup
tags: [revenue]
production: true
schedule: "0 3 * * *"
timezone: Europe/Berlin
start_date: 2026-01-01
catchup: false
max_active_runs: 1
params: {country: DE}
defaults: {retries: 3, retry_delay: 30s, retry_backoff: exponential, timeout: 1h, queue: default}
tasks:
  extract:
    container:
      image: registry.example.com/marketing/etl:1.4.2
      command: [python, extract.py, --date, "{{ ds }}", --country, "{{ params.country }}"]
      resources: {vcpu: 1, memory: 2Gi}
      secrets: {DB_PASSWORD: redshift-password}
    outlets: ["s3://lake/marketing/revenue/{{ ds }}"]
  transform:
    depends_on: [extract]
    job: dbt-runner
    command: [dbt, run, --select, revenue]
  publish:
    depends_on: [transform]
    shell: echo "rows={{ ti.xcom_pull('transform').rows }}"
  notify:
    depends_on: [publish]
    trigger_rule: all_done
    http: {url: "https://hooks.example.com/x", method: POST}
"#;

#[test]
fn the_design_example_loads() {
    let report = load_file(GOOD);
    assert!(!report.has_errors(), "{:#?}", report.diagnostics);
    let dag = &report.dags[0];
    assert_eq!(dag.dag, "daily_revenue");
    assert_eq!(
        dag.tasks.keys().collect::<Vec<_>>(),
        ["extract", "transform", "publish", "notify"]
    );
    // 2026-01-01 00:00 in Berlin is 2025-12-31 23:00 UTC.
    assert_eq!(
        dag.start_date.unwrap().to_rfc3339(),
        "2025-12-31T23:00:00+00:00"
    );
    let t = dag.effective(&dag.tasks["transform"]);
    assert_eq!(t.retries, 3);
    assert_eq!(t.timeout, Some(std::time::Duration::from_secs(3600)));
    assert_eq!(
        dag.tasks["notify"].trigger_rule,
        Some(crate::trigger_rule::TriggerRule::AllDone)
    );
    // The stored form reads back to the same spec, and the hash is stable.
    let json = serde_json::to_string(dag).unwrap();
    let back: DagSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, dag);
    assert_eq!(back.content_hash(), dag.content_hash());
    assert_eq!(dag.content_hash().len(), 64);
}

#[test]
fn malformed_yaml() {
    let (line, _, msg, _) = one_error("dag: x\nteam: t\ntasks:\n  a: {shell: [echo\n");
    assert!(msg.starts_with("malformed YAML"), "{msg}");
    assert!(line >= 4, "{line}");
}

#[test]
fn duplicate_task_ids() {
    let (line, col, msg, _) =
        one_error("dag: x\nteam: t\ntasks:\n  a: {noop: {}}\n  a: {shell: echo}\n");
    assert_eq!((line, col, msg.as_str()), (5, 3, "duplicate key `a`"));
}

#[test]
fn unknown_key_with_suggestion() {
    let (line, col, msg, help) = one_error(
        "dag: x\nteam: t\ntasks:\n  a: {noop: {}}\n  b:\n    shell: echo\n    depnds_on: [a]\n",
    );
    assert_eq!((line, col), (7, 5));
    assert_eq!(msg, "unknown key `depnds_on` in task `b`");
    assert_eq!(help.as_deref(), Some("did you mean `depends_on`?"));
    let (line, _, msg, help) =
        one_error("dag: x\nteam: t\nschedul: \"@daily\"\ntasks:\n  a: {noop: {}}\n");
    assert_eq!(
        (line, msg.as_str()),
        (3, "unknown key `schedul` in the DAG")
    );
    assert_eq!(help.as_deref(), Some("did you mean `schedule`?"));
}

#[test]
fn missing_required_keys() {
    let errs = errors("description: nothing else\n");
    let msgs: Vec<&str> = errs.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "the DAG is missing the required key `dag`",
            "the DAG is missing the required key `team`",
            "the DAG is missing the required key `tasks`"
        ]
    );
    assert!(errs.iter().all(|e| (e.0, e.1) == (1, 1)));
}

#[test]
fn wrong_types() {
    let errs = errors(
        "dag: x\nteam: t\ncatchup: sometimes\nmax_active_runs: many\ntasks:\n  a: {shell: echo, depends_on: b, retries: -1}\n",
    );
    let msgs: Vec<(u32, &str)> = errs.iter().map(|e| (e.0, e.2.as_str())).collect();
    assert_eq!(
        msgs,
        [
            (3, "`catchup` must be `true` or `false`, found a string"),
            (
                4,
                "`max_active_runs` must be a whole number (0 or more), found a string"
            ),
            (6, "`depends_on` must be a list, found a string"),
            (
                6,
                "`retries` must be a whole number (0 or more), found a number"
            ),
        ]
    );
}

#[test]
fn unknown_dependency_with_suggestion() {
    let (line, col, msg, help) = one_error(
        "dag: x\nteam: t\ntasks:\n  extract: {noop: {}}\n  load:\n    depends_on: [extrct]\n    noop: {}\n",
    );
    assert_eq!((line, col), (6, 18));
    assert_eq!(
        msg,
        "task `load` depends on `extrct`, which is not a task of this DAG"
    );
    assert_eq!(help.as_deref(), Some("did you mean `extract`?"));
}

#[test]
fn ids_in_dependencies_and_sensors_are_checked_where_written() {
    // An id that cannot be valid is reported at its position and the DAG is not loaded:
    // nothing downstream ever sees (or skips) an unparsable id.
    let src = "dag: x\nteam: t\ntasks:\n  a: {noop: {}}\n  b: {noop: {}, depends_on: [a, \"c d\"]}\n  s: {sensor: {dag: \"o/x\", task: t}}\n";
    let report = load_file(src);
    assert!(report.dags.is_empty());
    let errs = errors(src);
    assert_eq!(
        (errs[0].0, errs[0].1, errs[0].2.as_str()),
        (
            5,
            33,
            "task `b` depends on `c d`, which is not a task of this DAG"
        )
    );
    assert!(
        errs.iter().any(|e| (e.0, e.2.as_str())
            == (
                6,
                "`o/x` is not a valid DAG id: `/` may not appear in an id: use letters, digits, `_`, `.` and `-`"
            )),
        "{errs:#?}"
    );

    let good = load_file(
        "dag: x\nteam: t\ntasks:\n  a: {noop: {}}\n  b: {noop: {}, depends_on: [a]}\n  s: {sensor: {dag: o, task: t}}\n",
    );
    let dag = &good.dags[0];
    assert_eq!(dag.tasks["b"].depends_on, ["a"]);
    let model::TaskKind::Sensor(sensor) = &dag.tasks["s"].kind else {
        panic!("not a sensor: {:?}", dag.tasks["s"].kind);
    };
    assert_eq!(
        (sensor.dag.as_deref(), sensor.task.as_deref()),
        (Some("o"), Some("t"))
    );
}

#[test]
fn cycles_name_every_task() {
    let src = "dag: x\nteam: t\ntasks:\n  a: {noop: {}, depends_on: [c]}\n  b: {noop: {}, depends_on: [a]}\n  c: {noop: {}, depends_on: [b]}\n  d: {noop: {}, depends_on: [a]}\n";
    let (line, _, msg, _) = one_error(src);
    assert_eq!(msg, "dependency cycle: a → c → b → a");
    assert_eq!(
        line, 5,
        "points at b's dependency on a, which closes the loop"
    );
    let (_, _, msg, _) = one_error("dag: x\nteam: t\ntasks:\n  a: {noop: {}, depends_on: [a]}\n");
    assert_eq!(msg, "task `a` depends on itself");
}

#[test]
fn invalid_values_are_located() {
    let src = r#"dag: "bad id"
team: t
schedule: "0 3 * *"
timezone: Europe/Berln
start_date: 2026-13-01
tasks:
  a:
    shell: echo
    timeout: 5x
    trigger_rule: all_sucess
    resources: {memory: 2GB}
  b:
    container: {image: x, resources: {memory: 2GB}}
"#;
    let errs = errors(src);
    let lines: Vec<u32> = errs.iter().map(|e| e.0).collect();
    let text = errs
        .iter()
        .map(|e| e.2.clone())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("`bad id` is not a valid DAG id: ` ` may not appear in an id"),
        "{text}"
    );
    assert!(text.contains("0 3 * *"), "{text}");
    assert!(text.contains("Europe/Berln"), "{text}");
    assert!(
        text.contains("`start_date`: `2026-13-01` is not a date"),
        "{text}"
    );
    assert!(
        text.contains("`timeout`: `5x` is not a duration: unknown unit `x`"),
        "{text}"
    );
    assert!(text.contains("unknown trigger rule `all_sucess`"), "{text}");
    assert!(
        text.contains("`resources` at task level only applies to a `job` task"),
        "{text}"
    );
    assert!(text.contains("`memory`: `2GB` is not a size"), "{text}");
    for expected in [1, 3, 4, 5, 9, 10, 11, 13] {
        assert!(
            lines.contains(&expected),
            "no error on line {expected}: {errs:#?}"
        );
    }
    let report =
        load_file("dag: x\nteam: t\ntasks:\n  a: {shell: echo, trigger_rule: all_sucess}\n");
    assert_eq!(
        report.diagnostics[0].help.as_deref(),
        Some("did you mean `all_success`?")
    );
}

#[test]
fn bad_ids() {
    let errs = errors(&format!(
        "dag: x\nteam: t\ntasks:\n  \"a/b\": {{noop: {{}}}}\n  {}: {{noop: {{}}}}\n",
        "t".repeat(251)
    ));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!(
        errs[0].2,
        "`a/b` is not a valid task id: `/` may not appear in an id: use letters, digits, `_`, `.` and `-`"
    );
    assert!(
        errs[1]
            .2
            .ends_with("at most 250 characters long, this one has 251")
    );
}

#[test]
fn template_syntax_errors_point_into_the_string() {
    let (line, col, msg, _) = one_error("dag: x\nteam: t\ntasks:\n  a:\n    shell: echo {{ ds }\n");
    assert_eq!(line, 5);
    assert!(col >= 12, "col {col}");
    assert!(msg.starts_with("template syntax error"), "{msg}");
    let (line, col, msg, help) =
        one_error("dag: x\nteam: t\ntasks:\n  a:\n    shell: \"echo {{ dss }}\"\n");
    assert_eq!(
        (line, col, msg.as_str()),
        (5, 21, "unknown template name `dss`")
    );
    assert_eq!(help.as_deref(), Some("did you mean `ds`?"));
    let (line, _, msg, _) = one_error(
        "dag: x\nteam: t\ntasks:\n  a:\n    shell: |\n      echo start\n      echo {% if %}\n",
    );
    assert_eq!(line, 7);
    assert!(msg.starts_with("template syntax error"), "{msg}");
}

#[test]
fn shell_commands_may_not_hold_the_quoting_markers() {
    let (line, col, msg, _) =
        one_error("dag: x\nteam: t\ntasks:\n  a:\n    shell: \"echo \u{E000}{{ ds }}\"\n");
    assert_eq!((line, col), (5, 18));
    assert!(msg.contains("U+E000"), "{msg}");
    // Other fields are not shell commands: the characters are data there.
    assert!(
        errors("dag: x\nteam: t\ntasks:\n  a:\n    shell: echo\n    env: {A: \"\u{E000}\"}\n")
            .is_empty()
    );
}

#[test]
fn for_each_misuse() {
    let errs = errors(
        r#"dag: x
team: t
params: {countries: [de, fr], one: x}
tasks:
  list: {shell: echo}
  a: {shell: "echo {{ item }}", for_each: "{{ ti.xcom_pull('list') }}"}
  b: {shell: "echo {{ item }}", for_each: "{{ params.nope }}"}
  c: {shell: "echo {{ item }}", for_each: "{{ params.one }}"}
  d: {shell: "echo {{ item }}"}
  e: {shell: "echo {{ item }}", for_each: "{{ params.countries }} and more"}
  f: {shell: "echo {{ item }}", for_each: {a: 1}}
  g: {shell: "echo {{ item }}", for_each: "{{ params.countries }}"}
  h: {shell: "echo {{ item }}", for_each: [1, 2]}
"#,
    );
    let got: Vec<(u32, &str)> = errs.iter().map(|e| (e.0, e.2.as_str())).collect();
    assert_eq!(
        got,
        [
            (
                6,
                "`for_each` pulls the XCom of `list`, which is not upstream of `a`"
            ),
            (
                7,
                "`for_each` uses `params.nope`, which the DAG does not define"
            ),
            (8, "`for_each` uses `params.one`, which is not a list"),
            (9, "`item` is only defined in a task with `for_each`"),
            (
                10,
                "`for_each` must be a list or a single `{{ expression }}` that yields a list"
            ),
            (
                11,
                "`for_each` must be a list or a template, found a mapping"
            ),
        ]
    );
}

#[test]
fn kinds_must_be_exactly_one() {
    let (line, _, msg, _) = one_error("dag: x\nteam: t\ntasks:\n  a: {retries: 1}\n");
    assert_eq!((line, msg.as_str()), (4, "task `a` has no kind"));
    let (_, _, msg, _) = one_error("dag: x\nteam: t\ntasks:\n  a: {shell: echo, noop: {}}\n");
    assert_eq!(msg, "task `a` has two kinds, `shell` and `noop`");
    let (_, _, msg, _) =
        one_error("dag: x\nteam: t\ntasks:\n  a: {sensor: {dag: other, dataset: s3://x}}\n");
    assert_eq!(msg, "a sensor waits for exactly one thing");
}

#[test]
fn warnings_do_not_fail() {
    let report = load_file("dag: x\nteam: t\ncatchup: true\ntasks:\n  a: {noop: {}}\n");
    assert!(!report.has_errors());
    assert_eq!(report.dags.len(), 1);
    assert_eq!(report.diagnostics[0].severity, Severity::Warning);
    assert_eq!(report.diagnostics[0].pos, Pos::new(3, 10));
    let (line, _, msg, _) =
        one_error("dag: x\nteam: t\nschedule: \"@daily\"\ntasks:\n  a: {noop: {}}\n");
    assert_eq!(
        (line, msg.as_str()),
        (3, "the DAG is scheduled (`@daily`) but has no `start_date`")
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let src = "dag: x\nteam: t\ntasks:\n  a: {shell: echo, retrys: 1}\n  b: {noop: {}, depends_on: [zz]}\n  c: {shell: \"{{ nope }}\"}\n";
    let errs = errors(src);
    assert_eq!(errs.iter().map(|e| e.0).collect::<Vec<_>>(), [4, 5, 6]);
    assert!(load_file(src).dags.is_empty());
}

const FACTORY: &str = r#"factory: ingest
rows:
  - {table: orders, hour: 2, owners: [a, b]}
  - {table: customers, hour: 3, owners: [c]}
  - {table: "bad table", hour: 4, owners: []}
template:
  dag: ingest_${table}
  team: data-eng
  tags: ${owners}
  schedule: "0 ${hour} * * *"
  start_date: 2026-01-01
  tasks:
    copy: {shell: "copy ${table} {{ ds }}"}
"#;

#[test]
fn factory_expands_one_dag_per_row_and_diagnoses_into_the_file() {
    let report = load_file(FACTORY);
    let ids: Vec<&str> = report.dags.iter().map(|d| d.dag.as_str()).collect();
    assert_eq!(ids, ["ingest_orders", "ingest_customers"]);
    assert_eq!(report.dags[0].tags, ["a", "b"]);
    assert_eq!(
        report.dags[1].schedule,
        Some(model::ScheduleSpec::Cron("0 3 * * *".into()))
    );
    assert!(
        matches!(&report.dags[0].tasks["copy"].kind, model::TaskKind::Shell(s) if s == "copy orders {{ ds }}")
    );
    let errs: Vec<&Diagnostic> = report.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].pos, Pos::new(7, 8), "points at the template line");
    assert!(
        errs[0]
            .message
            .contains("`ingest_bad table` is not a valid DAG id")
    );
    assert!(
        errs[0]
            .note
            .as_deref()
            .unwrap_or("")
            .contains("row 3 (line 5) of factory `ingest`")
    );

    let (_, _, msg, help) = one_error(
        "factory: f\nrows: [{name: a}]\ntemplate:\n  dag: x_${nmae}\n  team: t\n  tasks: {a: {noop: {}}}\n",
    );
    assert_eq!(msg, "placeholder `${nmae}` has no value in this row");
    assert_eq!(help.as_deref(), Some("did you mean `${name}`?"));
}

#[test]
fn nothing_panics_on_odd_input() {
    for src in [
        "",
        "- a\n- b\n",
        "just text",
        "dag: [1]\nteam: {}\ntasks: []\n",
        "tasks:\n  a: ~\n",
        "---\na: 1\n---\nb: 2\n",
        "factory: [x]\n",
        "dag: x\nteam: t\ntasks:\n  a: {noop: {}}\n  ? [complex]\n  : 1\n",
    ] {
        let report = load_file(src);
        assert!(report.has_errors(), "{src:?} should not load");
    }
}

#[test]
fn notify_and_deadlines_load_merge_and_round_trip() {
    let src = r#"dag: load
team: data-eng
notify: {on_failure: [pager], on_deadline_miss: pager}
deadline: {run_within: 2h}
defaults:
  notify: {on_failure: [team-alerts], on_retry: [team-alerts]}
tasks:
  extract:
    shell: echo a
    notify: {on_failure: [pager], on_recovery: [chat]}
    deadline: {task_within: 30m}
  load:
    shell: echo b
"#;
    let report = load_file(src);
    assert!(!report.has_errors(), "{:#?}", report.diagnostics);
    let dag = &report.dags[0];
    use crate::notify::NotifyEvent::*;
    assert_eq!(dag.notify.channels(DeadlineMiss), ["pager"]);
    assert_eq!(dag.deadline.as_ref().unwrap().run_within.0.as_secs(), 7200);
    let extract = dag.task_notify(&dag.tasks["extract"]);
    assert_eq!(extract.channels(Failure), ["pager"]);
    assert_eq!(extract.channels(Retry), ["team-alerts"]);
    assert_eq!(extract.channels(Recovery), ["chat"]);
    let load = dag.task_notify(&dag.tasks["load"]);
    assert_eq!(load.channels(Failure), ["team-alerts"]);
    let within = dag.tasks["extract"]
        .deadline
        .as_ref()
        .unwrap()
        .task_within
        .0;
    assert_eq!(within.as_secs(), 1800);
    let back: DagSpec = serde_json::from_str(&serde_json::to_string(dag).unwrap()).unwrap();
    assert_eq!(&back, dag);
}

#[test]
fn notify_mistakes_are_located() {
    let (line, col, msg, help) =
        one_error("dag: d\nteam: t\nnotify: {on_failur: [x]}\ntasks:\n  a:\n    shell: echo\n");
    assert_eq!((line, col), (3, 10));
    assert!(msg.contains("on_failur"), "{msg}");
    assert_eq!(help.as_deref(), Some("did you mean `on_failure`?"));
    let (line, _, msg, _) =
        one_error("dag: d\nteam: t\nnotify: {on_retry: [x]}\ntasks:\n  a:\n    shell: echo\n");
    assert_eq!(line, 3);
    assert!(msg.contains("never retried"), "{msg}");
    let (line, _, msg, _) =
        one_error("dag: d\nteam: t\ndeadline: {run_within: soon}\ntasks:\n  a:\n    shell: echo\n");
    assert_eq!(line, 3);
    assert!(msg.contains("`run_within`"), "{msg}");
}

#[test]
fn dataset_schedules_read_all_any_and_cron_beside_them() {
    let read = |schedule: &str| {
        let report = load_file(&format!(
            "dag: x\nteam: t\nstart_date: 2026-01-01\nschedule: {schedule}\ntasks:\n  a: {{noop: {{}}}}\n"
        ));
        assert!(!report.has_errors(), "{:#?}", report.diagnostics);
        report.dags[0].schedule.clone().expect("a schedule")
    };
    let all = read("{datasets: [\"s3://a/*\", \"s3://b\"]}");
    assert_eq!(all.cron(), None);
    assert_eq!(
        all.datasets(),
        Some(&model::DatasetsSpec::All(vec![
            "s3://a/*".into(),
            "s3://b".into()
        ]))
    );
    // The plain list keeps the JSON shape versions were hashed with.
    assert_eq!(
        serde_json::to_value(&all).unwrap(),
        serde_json::json!({"datasets": ["s3://a/*", "s3://b"]})
    );
    let any = read("{datasets: {any: [\"s3://a\", \"s3://b\"]}}");
    assert_eq!(any.summary(), "datasets (any): s3://a, s3://b");
    let both = read("{cron: \"0 6 * * *\", datasets: [\"s3://a\"]}");
    assert_eq!(both.cron(), Some("0 6 * * *"));
    assert_eq!(both.summary(), "0 6 * * * or datasets: s3://a");
    let back: model::ScheduleSpec =
        serde_json::from_value(serde_json::to_value(&both).unwrap()).unwrap();
    assert_eq!(back, both);

    let (line, col, msg, _) = one_error(
        "dag: x\nteam: t\nschedule:\n  datasets:\n    - s3://ok\n    - not a uri\ntasks:\n  a: {noop: {}}\n",
    );
    assert_eq!((line, col), (6, 7));
    assert!(msg.contains("contains ' '"), "{msg}");
    let (_, _, msg, _) = one_error(
        "dag: x\nteam: t\nschedule: {datasets: {any: [s3://a], all: [s3://b]}}\ntasks:\n  a: {noop: {}}\n",
    );
    assert_eq!(msg, "`datasets` takes one of `any:` or `all:`");
    let (_, _, msg, _) = one_error(
        "dag: x\nteam: t\nstart_date: 2026-01-01\nschedule: {cron: \"61 * * * *\", datasets: [s3://a]}\ntasks:\n  a: {noop: {}}\n",
    );
    assert!(msg.contains("61"), "{msg}");
}
