//! Sensors through the real engine: on another team's DAG (success, timeout and soft
//! fail, `fail_on_failure`), never holding a pool slot, on a query (the local
//! PostgreSQL, `WEIR_TEST_POSTGRES_URL`), on a URL (a small axum server) and on files
//! (inside and outside the platform's `[sensors]` roots).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::Connection as _;
use support::Harness;
use weir_core::state::{DagRunState, TaskState};
use weir_engine::TriggerRequest;
use weir_store::{ConnectionRecord, DagRunRecord, TaskInstanceRecord};

fn day() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("a date")
}

/// Registers the DAG and triggers a run for `logical_date`.
async fn trigger(h: &Harness, yaml: &str, logical_date: DateTime<Utc>) -> DagRunRecord {
    let report = weir_core::spec::load_file(yaml);
    assert!(!report.has_errors(), "{}", report.render("t.yaml", yaml));
    let spec = report.dags.into_iter().next().expect("test setup");
    h.handle
        .register_dag(&spec, "t.yaml", yaml)
        .await
        .expect("test setup");
    h.handle
        .trigger_dag(
            &spec.dag.parse().expect("test setup"),
            TriggerRequest {
                logical_date: Some(logical_date),
                ..TriggerRequest::default()
            },
        )
        .await
        .expect("test setup")
}

/// Registers a DAG without running it.
async fn register(h: &Harness, yaml: &str) {
    let spec = weir_core::spec::load_file(yaml).dags.remove(0);
    h.handle
        .register_dag(&spec, "t.yaml", yaml)
        .await
        .expect("test setup");
}

/// Waits until `task` of `run` satisfies `ok`; returns it.
async fn wait_ti(
    h: &Harness,
    run: &DagRunRecord,
    task: &str,
    ok: impl Fn(&TaskInstanceRecord) -> bool,
) -> TaskInstanceRecord {
    let deadline = Instant::now() + support::DEADLINE;
    loop {
        let ti = h.ti(run, task, -1).await;
        if ok(&ti) {
            return ti;
        }
        assert!(Instant::now() < deadline, "never happened: {ti:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn waiting(ti: &TaskInstanceRecord) -> bool {
    ti.state == TaskState::UpForReschedule
}

fn note(ti: &TaskInstanceRecord) -> &str {
    ti.note.as_deref().unwrap_or_default()
}

const PRODUCER: &str = "dag: producer\nteam: data-eng\ntasks:\n  load: {shell: \"sleep 0.3\"}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_on_another_teams_task_succeeds_when_that_task_does() {
    let h = Harness::start().await;
    register(&h, PRODUCER).await;
    let consumer = trigger(
        &h,
        "dag: consumer\nteam: marketing\ntasks:\n  wait: {sensor: {dag: producer, task: load, poke_interval: 200ms}}\n  report: {noop: {}, depends_on: [wait]}\n",
        day(),
    )
    .await;
    // It waits, holding nothing, saying for what, with its next check in view.
    let ti = wait_ti(&h, &consumer, "wait", waiting).await;
    assert!(
        note(&ti).starts_with("waiting for task `load` of DAG `producer` for 2026-03-01T00:00:00Z: it has no run yet; next check at "),
        "{}",
        note(&ti)
    );
    let first_check = ti.start_date.expect("the first check is the start");
    let next = ti.next_retry_at.expect("next check");
    assert!(next > first_check, "{next} after {first_check}");
    assert!(
        next <= Utc::now() + chrono::TimeDelta::milliseconds(250),
        "{next}"
    );
    // Another day's run of the producer is not the one it waits for.
    let other_day = trigger(&h, PRODUCER, day() - chrono::TimeDelta::days(1)).await;
    h.wait_finished(&other_day).await;
    let producer = trigger(&h, PRODUCER, day()).await;
    let done = h.wait_finished(&consumer).await;
    assert_eq!(done.state, DagRunState::Success);
    let producer = h.wait_finished(&producer).await;
    assert_eq!(producer.state, DagRunState::Success);
    let ti = h.ti(&consumer, "wait", -1).await;
    assert_eq!((ti.state, ti.try_number), (TaskState::Success, 1));
    assert_eq!(
        note(&ti),
        "task `load` of DAG `producer` for 2026-03-01T00:00:00Z succeeded"
    );
    assert_eq!(
        ti.start_date,
        Some(first_check),
        "kept from the first check"
    );
    assert!(ti.end_date >= producer.end_date);
    assert!(
        h.tries(&consumer, "wait").await.is_empty(),
        "a sensor runs no try"
    );
    assert_eq!(h.states(&consumer).await["report"], TaskState::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_times_out_failed_or_with_soft_fail_skipped() {
    let h = Harness::start().await;
    register(&h, PRODUCER).await;
    let yaml = |dag: &str, soft: bool| {
        format!(
            "dag: {dag}\nteam: marketing\ntasks:\n  wait: {{sensor: {{dag: producer, poke_interval: 100ms, timeout: 1s, soft_fail: {soft}}}}}\n  report: {{noop: {{}}, depends_on: [wait]}}\n"
        )
    };
    let started = Instant::now();
    let hard = trigger(&h, &yaml("hard", false), day()).await;
    let soft = trigger(&h, &yaml("soft", true), day()).await;
    let hard = h.wait_finished(&hard).await;
    let soft = h.wait_finished(&soft).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "it waited its timeout"
    );

    assert_eq!(hard.state, DagRunState::Failed);
    let ti = h.ti(&hard, "wait", -1).await;
    assert_eq!((ti.state, ti.try_number), (TaskState::Failed, 1));
    assert!(
        note(&ti).starts_with("timed out after 1s (`timeout`, counted from the first check): waiting for the run of DAG `producer`"),
        "{}",
        note(&ti)
    );
    let waited = ti.end_date.expect("test setup") - ti.start_date.expect("test setup");
    assert!(waited >= chrono::TimeDelta::seconds(1), "{waited}");
    assert!(waited < chrono::TimeDelta::seconds(10), "{waited}");
    assert_eq!(h.states(&hard).await["report"], TaskState::UpstreamFailed);

    assert_eq!(soft.state, DagRunState::Success);
    let ti = h.ti(&soft, "wait", -1).await;
    assert_eq!(ti.state, TaskState::Skipped);
    assert!(
        note(&ti).ends_with("skipped (`soft_fail`)"),
        "{}",
        note(&ti)
    );
    assert_eq!(h.states(&soft).await["report"], TaskState::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_sensor_never_holds_a_pool_slot() {
    let h = Harness::start().await;
    h.store
        .upsert_pool("one", 1, None)
        .await
        .expect("test setup");
    register(&h, PRODUCER).await;
    let run = trigger(
        &h,
        "dag: busy\nteam: marketing\ntasks:\n  wait: {sensor: {dag: producer, poke_interval: 100ms, timeout: 30s}, pool: one}\n",
        day(),
    )
    .await;
    wait_ti(&h, &run, "wait", waiting).await;
    // While the sensor waits in the pool of one slot, a stream of quick tasks
    // goes through that slot, one after another.
    let mut yaml = String::from("dag: quick\nteam: finance\ntasks:\n");
    for i in 0..4 {
        yaml.push_str(&format!("  quick{i}: {{shell: \"true\", pool: one}}\n"));
    }
    let quick = trigger(&h, &yaml, day()).await;
    let quick = h.wait_finished(&quick).await;
    assert_eq!(quick.state, DagRunState::Success);
    let ti = h.ti(&run, "wait", -1).await;
    assert!(!ti.state.is_finished(), "the sensor still waits: {ti:#?}");
    assert_eq!(
        h.store
            .count_running_in_pool("one")
            .await
            .expect("test setup"),
        0
    );
    // Now let it be met: it succeeds, still without a try.
    let producer = trigger(&h, PRODUCER, day()).await;
    h.wait_finished(&producer).await;
    let run = h.wait_finished(&run).await;
    assert_eq!(run.state, DagRunState::Success);
    assert!(h.tries(&run, "wait").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_on_failure_fails_at_once_and_without_it_the_sensor_waits_on() {
    let h = Harness::start().await;
    let broken = "dag: producer\nteam: data-eng\ntasks:\n  load: {shell: \"exit 3\"}\n";
    let producer = trigger(&h, broken, day()).await;
    assert_eq!(h.wait_finished(&producer).await.state, DagRunState::Failed);
    let started = Instant::now();
    let eager = trigger(
        &h,
        "dag: eager\nteam: marketing\ntasks:\n  wait: {sensor: {dag: producer, task: load, fail_on_failure: true, poke_interval: 100ms, timeout: 1h}}\n",
        day(),
    )
    .await;
    let patient = trigger(
        &h,
        "dag: patient\nteam: marketing\ntasks:\n  wait: {sensor: {dag: producer, task: load, poke_interval: 100ms, timeout: 1h}}\n",
        day(),
    )
    .await;
    let eager = h.wait_finished(&eager).await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(eager.state, DagRunState::Failed);
    let ti = h.ti(&eager, "wait", -1).await;
    assert_eq!(ti.state, TaskState::Failed);
    assert_eq!(
        note(&ti),
        "task `load` of DAG `producer` for 2026-03-01T00:00:00Z is failed (`fail_on_failure`)"
    );
    let ti = wait_ti(&h, &patient, "wait", waiting).await;
    assert!(note(&ti).contains("it is failed"), "{}", note(&ti));
    // A run marked failed while its sensor waits: the sensor fails with it, and stays so.
    h.handle
        .set_dag_run_state(&patient.dag_id, &patient.run_id, DagRunState::Failed)
        .await
        .expect("test setup");
    let ti = wait_ti(&h, &patient, "wait", |t| t.state.is_finished()).await;
    assert_eq!(ti.state, TaskState::Failed);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.ti(&patient, "wait", -1).await.state, TaskState::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_on_a_dag_that_does_not_exist_fails_saying_so() {
    let h = Harness::start().await;
    let run = trigger(
        &h,
        "dag: lost\nteam: marketing\ntasks:\n  wait: {sensor: {dag: nowhere, poke_interval: 100ms}}\n",
        day(),
    )
    .await;
    let run = h.wait_finished(&run).await;
    assert_eq!(run.state, DagRunState::Failed);
    let ti = h.ti(&run, "wait", -1).await;
    assert!(
        note(&ti).contains("that DAG does not exist"),
        "{}",
        note(&ti)
    );
}

/// The test PostgreSQL's URL; `None` (the SQL test skips) when it is not set, unless
/// `WEIR_REQUIRE_POSTGRES` says it must run.
fn postgres_url() -> Option<String> {
    match std::env::var("WEIR_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("WEIR_REQUIRE_POSTGRES").is_some() => {
            panic!("WEIR_TEST_POSTGRES_URL is not set and WEIR_REQUIRE_POSTGRES is")
        }
        Err(_) => {
            eprintln!("skipped: WEIR_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

fn pg_connection(conn_id: &str, url: &str, team: &str) -> ConnectionRecord {
    let parsed = reqwest::Url::parse(url).expect("postgres URL");
    ConnectionRecord {
        conn_id: conn_id.into(),
        conn_type: "postgres".into(),
        description: None,
        host: parsed.host_str().map(Into::into),
        login: Some(parsed.username().into()),
        password: parsed.password().map(Into::into),
        schema: Some(parsed.path().trim_start_matches('/').into()),
        port: parsed.port().map(i32::from),
        extra: None,
        team: Some(team.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_sensor_waits_for_a_truthy_first_value_on_its_teams_connection() {
    let Some(url) = postgres_url() else { return };
    let h = Harness::start().await;
    h.store
        .put_connection(&pg_connection("pg", &url, "marketing"))
        .await
        .expect("test setup");
    h.store
        .put_connection(&pg_connection("finance_pg", &url, "finance"))
        .await
        .expect("test setup");
    let table = format!(
        "sensor_rows_{}_{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    let mut db = sqlx::PgConnection::connect(&url).await.expect("test setup");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (day text)"
    )))
    .execute(&mut db)
    .await
    .expect("test setup");
    let run = trigger(
        &h,
        &format!("dag: rows\nteam: marketing\ntasks:\n  wait: {{sensor: {{sql: {{connection: pg, query: \"SELECT count(*) AS n FROM {table} WHERE day = '{{{{ ds }}}}'\"}}, poke_interval: 100ms}}}}\n"),
        day(),
    )
    .await;
    let ti = wait_ti(&h, &run, "wait", waiting).await;
    assert!(
        note(&ti).starts_with("waiting: the query on `pg` returned n = 0; next check at "),
        "{}",
        note(&ti)
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} VALUES ('2026-02-28'), ('2026-03-01')"
    )))
    .execute(&mut db)
    .await
    .expect("test setup");
    let run = h.wait_finished(&run).await;
    assert_eq!(run.state, DagRunState::Success);
    assert_eq!(
        note(&h.ti(&run, "wait", -1).await),
        "the query on `pg` returned n = 1"
    );

    // Another team's connection is refused, as for a `sql` task.
    let other = trigger(
        &h,
        "dag: nosy\nteam: marketing\ntasks:\n  wait: {sensor: {sql: {connection: finance_pg, query: \"SELECT true\"}, poke_interval: 100ms}}\n",
        day(),
    )
    .await;
    let other = h.wait_finished(&other).await;
    assert_eq!(other.state, DagRunState::Failed);
    let ti = h.ti(&other, "wait", -1).await;
    assert_eq!(
        note(&ti),
        "connection `finance_pg` belongs to team `finance`, and this task is team `marketing`'s"
    );
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&mut db)
        .await;
}

/// A server whose `/ready` answers 503 to its first `n` calls, then 200; and the count.
async fn ready_after(n: usize) -> (String, Arc<AtomicUsize>) {
    use axum::extract::State;
    use axum::http::StatusCode;
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/ready",
            axum::routing::get(move |State(calls): State<Arc<AtomicUsize>>| async move {
                if calls.fetch_add(1, Ordering::SeqCst) < n {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }),
        )
        .with_state(calls.clone());
    (support::serve(app).await, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_sensor_succeeds_once_the_url_answers_2xx() {
    let h = Harness::start().await;
    let (base, calls) = ready_after(3).await;
    let run = trigger(
        &h,
        &format!("dag: api\nteam: marketing\ntasks:\n  wait: {{sensor: {{http: {{url: \"{base}/ready\"}}, poke_interval: 100ms}}}}\n"),
        day(),
    )
    .await;
    let ti = wait_ti(&h, &run, "wait", waiting).await;
    assert!(
        note(&ti).starts_with(&format!(
            "waiting: GET {base}/ready answered 503 Service Unavailable"
        )),
        "{}",
        note(&ti)
    );
    let run = h.wait_finished(&run).await;
    assert_eq!(run.state, DagRunState::Success);
    assert_eq!(calls.load(Ordering::SeqCst), 4, "three 503s, then the 200");
    assert_eq!(
        note(&h.ti(&run, "wait", -1).await),
        format!("GET {base}/ready answered 200 OK")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sensors_look_only_inside_the_allowed_roots() {
    let outside = tempfile::tempdir().expect("test setup");
    let outside = std::fs::canonicalize(outside.path()).expect("test setup");
    std::fs::write(outside.join("key"), "secret").expect("test setup");
    let root_dir = tempfile::tempdir().expect("test setup");
    let root = std::fs::canonicalize(root_dir.path()).expect("test setup");
    std::os::unix::fs::symlink(outside.join("key"), root.join("link")).expect("test setup");
    let toml = format!("[sensors]\nfile_roots = [\"{}\"]\n", root.display());
    let h = Harness::start_with(Some(&toml), &[]).await;
    let sensor = |dag: &str, path: &str| {
        format!(
            "dag: {dag}\nteam: marketing\nparams: {{path: \"{path}\"}}\ntasks:\n  wait: {{sensor: {{file: \"{{{{ params.path }}}}\", poke_interval: 100ms, timeout: 30s}}}}\n"
        )
    };
    let landing = root.join("2026-03-01/_SUCCESS");
    let inside = trigger(&h, &sensor("inside", &landing.display().to_string()), day()).await;
    let ti = wait_ti(&h, &inside, "wait", waiting).await;
    assert!(note(&ti).starts_with(&format!("waiting for `{}` to exist", landing.display())));
    std::fs::create_dir_all(landing.parent().expect("test setup")).expect("test setup");
    std::fs::write(&landing, "").expect("test setup");
    let inside = h.wait_finished(&inside).await;
    assert_eq!(inside.state, DagRunState::Success);

    // Outside the roots, directly or through a link: refused at the first check, the
    // same whether or not the file exists there.
    for (dag, path, says) in [
        (
            "direct",
            outside.join("key"),
            "is outside the folders team `marketing`'s `file` sensors may look in",
        ),
        ("missing", outside.join("nope"), "is outside the folders"),
        ("climb", root.join("../x"), "climbs with `..`"),
        ("linked", root.join("link"), "leads out of the folders"),
    ] {
        let run = trigger(&h, &sensor(dag, &path.display().to_string()), day()).await;
        let run = h.wait_finished(&run).await;
        assert_eq!(run.state, DagRunState::Failed, "{dag}");
        let ti = h.ti(&run, "wait", -1).await;
        assert!(note(&ti).contains(says), "{dag}: {}", note(&ti));
    }

    // A platform without `[sensors]` allows no file sensor, and says what to add.
    let bare = Harness::start().await;
    let run = trigger(
        &bare,
        &sensor("bare", &landing.display().to_string()),
        day(),
    )
    .await;
    let run = bare.wait_finished(&run).await;
    assert_eq!(run.state, DagRunState::Failed);
    let ti = bare.ti(&run, "wait", -1).await;
    assert!(note(&ti).contains("[sensors] file_roots"), "{}", note(&ti));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_sensor_keeps_its_next_check_across_a_restart() {
    let mut h = Harness::start().await;
    register(&h, PRODUCER).await;
    let run = trigger(
        &h,
        "dag: across\nteam: marketing\ntasks:\n  wait: {sensor: {dag: producer, poke_interval: 300ms}}\n",
        day(),
    )
    .await;
    let before = wait_ti(&h, &run, "wait", waiting).await;
    let config = h.handle.config().clone();
    h.engine.take().expect("test setup").shutdown().await;
    let engine = weir_engine::Engine::start(config, h.store.clone())
        .await
        .expect("test setup");
    h.handle = engine.handle();
    h.engine = Some(engine);
    // Only the restored timer can bring it back to a check: nothing else wakes it.
    let producer = trigger(&h, PRODUCER, day()).await;
    h.wait_finished(&producer).await;
    let run = h.wait_finished(&run).await;
    assert_eq!(run.state, DagRunState::Success);
    let after = h.ti(&run, "wait", -1).await;
    assert_eq!(
        after.start_date, before.start_date,
        "the wait goes on, not over"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_a_waiting_sensor_starts_its_wait_over() {
    let h = Harness::start().await;
    register(&h, PRODUCER).await;
    let run = trigger(
        &h,
        "dag: again\nteam: marketing\ntasks:\n  wait: {sensor: {dag: producer, poke_interval: 100ms}}\n",
        day(),
    )
    .await;
    let before = wait_ti(&h, &run, "wait", waiting).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cleared = h
        .handle
        .clear_task_instances(
            &run.dag_id,
            weir_engine::ClearRequest {
                run_id: Some(run.run_id.clone()),
                task_ids: Some(vec!["wait".parse().expect("id")]),
                ..Default::default()
            },
        )
        .await
        .expect("clear");
    assert_eq!(cleared.len(), 1);
    let after = wait_ti(&h, &run, "wait", |t| {
        waiting(t) && t.start_date != before.start_date
    })
    .await;
    assert!(after.start_date > before.start_date, "a new first check");
    assert_eq!(after.try_number, 0, "waiting costs no try");
}
