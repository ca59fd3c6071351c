//! The engine end to end, in process: real SQLite store, real supervisor processes (the
//! `weir` binary's `supervise`), real shell tasks. What the HTTP API and CLI add on top
//! is tested in `standalone.rs`.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Harness;
use weir_core::state::{DagRunState, TaskState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xcom_env_and_rendered_commands() {
    let h = Harness::start().await;
    let run = h
        .run(
            r#"dag: pass_data
team: t
params: {greeting: hello}
tasks:
  produce:
    shell: |
      echo "dag=$WEIR_DAG_ID task=$WEIR_TASK_ID try=$WEIR_TRY_NUMBER map=$WEIR_MAP_INDEX"
      echo '{"n": 3, "files": ["a", "b"]}' > "$WEIR_XCOM"
  consume:
    depends_on: [produce]
    env: {COUNT: "{{ ti.xcom_pull('produce').n }}"}
    shell: echo "{{ params.greeting }} {{ ds }} count=$COUNT files={{ ti.xcom_pull('produce').files | join(',') }}"
"#,
            json!({"greeting": "hi"}),
        )
        .await;
    assert_eq!(run.state, DagRunState::Success);
    let produce = h.log(&run, "produce", 1).await;
    assert!(
        produce.contains("dag=pass_data task=produce try=1 map=-1"),
        "{produce}"
    );
    let consume = h.log(&run, "consume", 1).await;
    let ds = run.logical_date.format("%Y-%m-%d").to_string();
    assert!(
        consume.contains(&format!("hi {ds} count=3 files=a,b")),
        "{consume}"
    );
    let ti = h.ti(&run, "consume", -1).await;
    assert_eq!(
        ti.rendered_command.as_deref(),
        Some(format!("echo \"hi {ds} count=$COUNT files=a,b\"").as_str())
    );
    let xcom = h.xcom(&run, "produce").await;
    assert_eq!(xcom, Some(json!({"n": 3, "files": ["a", "b"]})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_succeeds_on_try_two() {
    let h = Harness::start().await;
    let run = h
        .run(
            "dag: flaky\nteam: t\ntasks:\n  flaky:\n    shell: 'echo try $WEIR_TRY_NUMBER; test $WEIR_TRY_NUMBER -ge 2'\n    retries: 2\n    retry_delay: 200ms\n",
            json!({}),
        )
        .await;
    assert_eq!(run.state, DagRunState::Success);
    let ti = h.ti(&run, "flaky", -1).await;
    assert_eq!(
        (ti.state, ti.try_number, ti.max_tries),
        (TaskState::Success, 2, 3)
    );
    let tries = h.tries(&run, "flaky").await;
    assert_eq!(tries.len(), 2);
    assert_eq!(
        (tries[0].state, tries[0].exit_code),
        (TaskState::UpForRetry, Some(1))
    );
    assert_eq!(
        (tries[1].state, tries[1].exit_code),
        (TaskState::Success, Some(0))
    );
    let first = h.log(&run, "flaky", 1).await;
    assert!(
        first.contains("try 1") && first.contains("retrying at"),
        "{first}"
    );
    // The retry waited its delay.
    let gap = tries[1].started_at - tries[0].finished_at.unwrap();
    assert!(gap >= chrono::TimeDelta::milliseconds(150), "{gap}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_kills_the_whole_process_group() {
    let h = Harness::start().await;
    let marker = format!("3{}.25", std::process::id() % 1000);
    let started = std::time::Instant::now();
    let run = h
        .run(
            &format!("dag: slow\nteam: t\ntasks:\n  slow:\n    shell: 'sleep {marker} & sleep {marker}'\n    timeout: 500ms\n"),
            json!({}),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(run.state, DagRunState::Failed);
    let tries = h.tries(&run, "slow").await;
    assert_eq!(tries[0].state, TaskState::Failed);
    assert_eq!(tries[0].reason.as_deref(), Some("timed out"));
    assert!(
        !support::process_running(&format!("sleep {marker}")),
        "a sleep survived the timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_rules_after_a_failure() {
    let h = Harness::start().await;
    let run = h
        .run(
            r#"dag: rules
team: t
tasks:
  breaks: {shell: "echo boom; exit 3"}
  next: {shell: "echo never", depends_on: [breaks]}
  after_next: {shell: "echo never", depends_on: [next]}
  cleanup: {shell: "echo cleaning up", depends_on: [breaks], trigger_rule: all_done}
  on_failure: {shell: "echo alert", depends_on: [breaks], trigger_rule: one_failed}
  on_success: {shell: "echo never", depends_on: [breaks], trigger_rule: one_success}
"#,
            json!({}),
        )
        .await;
    assert_eq!(run.state, DagRunState::Failed, "a leaf was upstream_failed");
    let states = h.states(&run).await;
    assert_eq!(states["breaks"], TaskState::Failed);
    assert_eq!(states["next"], TaskState::UpstreamFailed);
    assert_eq!(states["after_next"], TaskState::UpstreamFailed);
    assert_eq!(states["cleanup"], TaskState::Success);
    assert_eq!(states["on_failure"], TaskState::Success);
    assert_eq!(states["on_success"], TaskState::UpstreamFailed);
    assert_eq!(h.tries(&run, "breaks").await[0].exit_code, Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_over_an_upstream_xcom() {
    let h = Harness::start().await;
    let run = h
        .run(
            r#"dag: fan
team: t
tasks:
  list_files: {shell: "echo '[\"x.csv\", \"y.csv\", \"z.csv\"]' > $WEIR_XCOM"}
  process:
    depends_on: [list_files]
    for_each: "{{ ti.xcom_pull('list_files') }}"
    shell: 'echo "processing {{ item }} as $WEIR_MAP_INDEX"; echo "\"done-{{ item }}\"" > $WEIR_XCOM'
  nothing:
    for_each: []
    shell: echo never
  after_nothing: {shell: echo never, depends_on: [nothing]}
  summary:
    depends_on: [process]
    shell: echo "{{ ti.xcom_pull('process') | join(' ') }}"
"#,
            json!({}),
        )
        .await;
    assert_eq!(run.state, DagRunState::Success);
    for (i, item) in ["x.csv", "y.csv", "z.csv"].iter().enumerate() {
        let ti = h.ti(&run, "process", i as i32).await;
        assert_eq!(ti.state, TaskState::Success);
        let log = h.log_of(&run, "process", i as i32, 1).await;
        assert!(log.contains(&format!("processing {item} as {i}")), "{log}");
    }
    assert!(
        h.try_ti(&run, "process", -1).await.is_none(),
        "the placeholder is replaced"
    );
    assert_eq!(h.states(&run).await["nothing"], TaskState::Skipped);
    assert_eq!(h.states(&run).await["after_nothing"], TaskState::Skipped);
    let summary = h.log(&run, "summary", 1).await;
    assert!(
        summary.contains("done-x.csv done-y.csv done-z.csv"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_fail_loudly_with_the_reason_in_the_log() {
    let h = Harness::start().await;
    let run = h
        .run(
            r#"dag: problems
team: t
tasks:
  sensor_task: {sensor: {dag: no_such_dag}}
  missing_variable: {shell: "echo {{ var.value.nope }}"}
  bad_xcom: {shell: "echo not-json > $WEIR_XCOM"}
  huge_xcom: {shell: "head -c 1100000 /dev/zero | tr '\\0' 'a' | sed 's/.*/\"&\"/' > $WEIR_XCOM"}
"#,
            json!({}),
        )
        .await;
    assert_eq!(run.state, DagRunState::Failed);
    // A sensor runs no try: its note says why it failed.
    let sensor = h.ti(&run, "sensor_task", -1).await;
    let note = sensor.note.unwrap_or_default();
    assert!(
        note.contains("that DAG does not exist on this platform; check the sensor's `dag:`"),
        "{note}"
    );
    let log = h.log(&run, "missing_variable", 1).await;
    assert!(log.contains("variable `nope` is not set"), "{log}");
    let log = h.log(&run, "bad_xcom", 1).await;
    assert!(log.contains("is not valid JSON"), "{log}");
    let log = h.log(&run, "huge_xcom", 1).await;
    assert!(log.contains("the limit is 1048576"), "{log}");
    for task in ["sensor_task", "missing_variable", "bad_xcom", "huge_xcom"] {
        assert_eq!(h.states(&run).await[task], TaskState::Failed, "{task}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_a_task_reruns_it_and_its_downstream() {
    let h = Harness::start().await;
    let yaml = "dag: rerun\nteam: t\ntasks:\n  a: {shell: 'echo a $WEIR_TRY_NUMBER'}\n  b: {shell: 'echo b', depends_on: [a]}\n  c: {shell: 'echo c'}\n";
    let run = h.run(yaml, json!({})).await;
    assert_eq!(run.state, DagRunState::Success);
    let cleared = h
        .handle
        .clear_task_instances(
            &run.dag_id,
            weir_engine::ClearRequest {
                run_id: Some(run.run_id.clone()),
                task_ids: Some(vec!["a".parse().unwrap()]),
                include_downstream: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut ids: Vec<String> = cleared.iter().map(|t| t.key.task_id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, ["a", "b"]);
    let run = h.wait_finished(&run).await;
    assert_eq!(run.state, DagRunState::Success);
    assert_eq!(h.ti(&run, "a", -1).await.try_number, 2);
    assert_eq!(h.ti(&run, "b", -1).await.try_number, 2);
    assert_eq!(h.ti(&run, "c", -1).await.try_number, 1, "not cleared");
    assert!(h.log(&run, "a", 2).await.contains("a 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noop_task_counts_as_one_try_as_in_airflow() {
    let h = Harness::start().await;
    let run = h
        .run(
            "dag: joins\nteam: t\ntasks:\n  join:\n    noop: {}\n",
            json!({}),
        )
        .await;
    assert_eq!(run.state, DagRunState::Success);
    let ti = h.ti(&run, "join", -1).await;
    assert_eq!((ti.state, ti.try_number), (TaskState::Success, 1));
    assert!(
        ti.start_date.is_some() && ti.start_date == ti.end_date,
        "{ti:?}"
    );

    // Run again after a clear, it is its second try.
    h.handle
        .clear_task_instances(
            &run.dag_id,
            weir_engine::ClearRequest {
                run_id: Some(run.run_id.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let run = h.wait_finished(&run).await;
    assert_eq!(run.state, DagRunState::Success);
    let ti = h.ti(&run, "join", -1).await;
    assert_eq!((ti.state, ti.try_number), (TaskState::Success, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_creates_every_missed_interval_in_order() {
    let h = Harness::start().await;
    let today = chrono::Utc::now().date_naive();
    let start = today - chrono::Days::new(5);
    let yaml = format!(
        "dag: daily\nteam: t\nschedule: '0 0 * * *'\nstart_date: {start}\ncatchup: true\nmax_active_runs: 2\ntasks:\n  t: {{shell: 'echo {{{{ ds }}}}'}}\n"
    );
    let runs = h.schedule_and_wait(&yaml, 5).await;
    let dates: Vec<String> = runs
        .iter()
        .map(|r| r.logical_date.format("%Y-%m-%d").to_string())
        .collect();
    let expected: Vec<String> = (1..=5)
        .rev()
        .map(|d| (today - chrono::Days::new(d)).to_string())
        .collect();
    assert_eq!(dates, expected);
    for r in &runs {
        assert_eq!(r.state, DagRunState::Success);
        assert_eq!(
            r.data_interval_end.unwrap() - r.data_interval_start.unwrap(),
            chrono::TimeDelta::days(1)
        );
        let ds = r.logical_date.format("%Y-%m-%d").to_string();
        assert!(h.log(r, "t", 1).await.contains(&ds));
    }

    // Without catch-up only the latest interval runs.
    let h = Harness::start().await;
    let yaml = yaml
        .replace("dag: daily", "dag: daily_latest")
        .replace("catchup: true", "catchup: false");
    let runs = h.schedule_and_wait(&yaml, 1).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].logical_date.date_naive(),
        today - chrono::Days::new(1)
    );
}

/// Issue 17, finding 1b: a run's conf went into `sh -c` raw, so `$(…)` in it ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conf_values_in_shell_commands_are_text_not_commands() {
    let h = Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pwned = dir.path().join("pwned");
    let pwned2 = dir.path().join("pwned2");
    let pwned3 = dir.path().join("pwned3");
    let conf = json!({
        "x": format!("$(touch {})", pwned.display()),
        "y": format!("; touch {}", pwned2.display()),
        "z": format!("\"; touch {}; echo \"", pwned3.display()),
        "pipe": "| tr a-z A-Z",
    });
    let run = h
        .run(
            r#"dag: injected
team: t
tasks:
  bare: {shell: "echo {{ conf.x }}"}
  separator: {shell: "echo {{ conf.y }}"}
  in_quotes: {shell: 'echo "z={{ conf.z }} x={{ conf.x }}"'}
  opted_out: {shell: "echo safe-shell {{ conf.pipe | safe }}"}
"#,
            conf.clone(),
        )
        .await;
    assert_eq!(
        run.state,
        DagRunState::Success,
        "{:?}",
        h.states(&run).await
    );
    let log = h.log(&run, "bare", 1).await;
    assert!(log.contains(conf["x"].as_str().unwrap()), "{log}");
    let log = h.log(&run, "separator", 1).await;
    assert!(log.contains(conf["y"].as_str().unwrap()), "{log}");
    let log = h.log(&run, "in_quotes", 1).await;
    let expected = format!(
        "z={} x={}",
        conf["z"].as_str().unwrap(),
        conf["x"].as_str().unwrap()
    );
    assert!(log.contains(&expected), "{log}");
    // `| safe` is shell syntax on purpose: the pipe ran.
    assert!(h.log(&run, "opted_out", 1).await.contains("SAFE-SHELL"));
    for file in [&pwned, &pwned2, &pwned3] {
        assert!(!file.exists(), "{} was created", file.display());
    }
}

/// Issue 17, finding 2a: templates saw every team's variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_see_their_own_teams_and_platform_variables_only() {
    let h = Harness::start().await;
    let s = &h.store;
    s.set_variable("alpha_var", "alpha-secret", None, Some("alpha"))
        .await
        .unwrap();
    s.set_variable("alpha_json", r#"{"k": "alpha-json"}"#, None, Some("alpha"))
        .await
        .unwrap();
    s.set_variable("beta_var", "beta-own", None, Some("beta"))
        .await
        .unwrap();
    s.set_variable("shared", "platform-wide", None, None)
        .await
        .unwrap();
    let beta = h
        .run(
            r#"dag: beta_dag
team: beta
tasks:
  own: {shell: "echo {{ var.value.beta_var }} {{ var.value.shared }}"}
  other: {shell: "echo {{ var.value.alpha_var }}"}
  other_json: {shell: "echo {{ var.json.alpha_json.k }}"}
  other_get: {shell: "echo {{ var.value.get('alpha_var', 'fallback') }}"}
"#,
            json!({}),
        )
        .await;
    let states = h.states(&beta).await;
    assert_eq!(states["own"], TaskState::Success);
    assert!(
        h.log(&beta, "own", 1)
            .await
            .contains("beta-own platform-wide")
    );
    assert_eq!(states["other"], TaskState::Failed);
    // The same words as for a variable that does not exist anywhere.
    let log = h.log(&beta, "other", 1).await;
    assert!(log.contains("variable `alpha_var` is not set"), "{log}");
    let log = h.log(&beta, "other_json", 1).await;
    assert!(log.contains("variable `alpha_json` is not set"), "{log}");
    assert!(h.log(&beta, "other_get", 1).await.contains("fallback"));
    for task in ["own", "other", "other_json", "other_get"] {
        let log = h.log(&beta, task, 1).await;
        assert!(
            !log.contains("alpha-"),
            "{task} saw alpha's variable: {log}"
        );
        assert!(!log.contains("alpha team"), "{task}: {log}");
    }
    let alpha = h
        .run(
            "dag: alpha_dag\nteam: alpha\ntasks:\n  own: {shell: 'echo {{ var.value.alpha_var }} {{ var.json.alpha_json.k }} {{ var.value.shared }}'}\n  other: {shell: 'echo {{ var.value.beta_var }}'}\n",
            json!({}),
        )
        .await;
    let log = h.log(&alpha, "own", 1).await;
    assert!(
        log.contains("alpha-secret alpha-json platform-wide"),
        "{log}"
    );
    let log = h.log(&alpha, "other", 1).await;
    assert!(log.contains("variable `beta_var` is not set"), "{log}");
}
