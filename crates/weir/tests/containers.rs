//! Container tasks against the real Docker daemon, with the local test image
//! (`crates/weir-compute/scripts/build-test-image.sh`, run by `scripts/test`): XCom
//! between containers, resource limits, OOM detected and retried per a job definition's
//! `evaluate_on_exit`, timeout, cancel, and the platform's image policy.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::Harness;
use weir_core::state::{DagRunState, TaskState};

const IMAGE: &str = "weir-test/busybox:latest";

fn require_image() {
    let out = std::process::Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output();
    let present = out.map(|o| o.status.success()).unwrap_or(false);
    assert!(
        present,
        "the test image {IMAGE} is missing: run crates/weir-compute/scripts/build-test-image.sh (scripts/test does)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_pass_xcom_and_get_their_limits() {
    require_image();
    let h = Harness::start().await;
    let run = h
        .run(
            &format!(
                r#"dag: boxes
team: data
tasks:
  produce:
    container:
      image: {IMAGE}
      pull: never
      command: [sh, -c, 'echo "dag=$WEIR_DAG_ID try=$WEIR_TRY_NUMBER"; echo "{{\"rows\": 42}}" > $WEIR_XCOM']
      resources: {{vcpu: 0.5, memory: 64Mi}}
  consume:
    depends_on: [produce]
    container:
      image: {IMAGE}
      pull: never
      command: [sh, -c, "echo rows={{{{ ti.xcom_pull('produce').rows }}}}; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"]
      resources: {{vcpu: 0.5, memory: 64Mi}}
"#
            ),
            json!({}),
        )
        .await;
    assert_eq!(
        run.state,
        DagRunState::Success,
        "{}",
        h.log(&run, "produce", 1).await
    );
    assert!(h.log(&run, "produce", 1).await.contains("dag=boxes try=1"));
    assert_eq!(h.xcom(&run, "produce").await, Some(json!({"rows": 42})));
    let consume = h.log(&run, "consume", 1).await;
    assert!(consume.contains("rows=42"), "{consume}");
    assert!(
        consume.contains(&(64u64 << 20).to_string()),
        "memory limit not applied: {consume}"
    );
    // cgroup v2 says `50000 100000`, v1 the quota `50000` (of a 100000 period).
    assert!(
        consume.contains("50000"),
        "CPU limit of 0.5 not applied: {consume}"
    );
    let ti = h.ti(&run, "consume", -1).await;
    assert!(
        ti.rendered_command
            .unwrap_or_default()
            .contains("echo rows=42")
    );
}

const OOM_JOB: &str = r#"job: hog
team: data
image: weir-test/busybox:latest
pull: never
command: [sh, -c, "echo try $WEIR_TRY_NUMBER; dd if=/dev/zero of=/dev/null bs=64M count=1"]
resources: {vcpu: 0.5, memory: 8Mi}
retry_strategy:
  attempts: 2
  evaluate_on_exit:
    - {on_reason: "OutOfMemory*", action: retry}
    - {on_exit_code: "2", action: exit}
"#;

const EXIT2_JOB: &str = r#"job: picky
team: data
image: weir-test/busybox:latest
pull: never
command: [sh, -c, "echo bad input; exit 2"]
resources: {vcpu: 0.5, memory: 32Mi}
retry_strategy:
  attempts: 3
  evaluate_on_exit:
    - {on_exit_code: "2", action: exit}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_is_detected_and_retried_per_evaluate_on_exit() {
    require_image();
    let h = Harness::start_with(None, &[("hog.yaml", OOM_JOB), ("picky.yaml", EXIT2_JOB)]).await;
    let run = h
        .run("dag: jobs\nteam: data\ntasks:\n  hog: {job: hog, retry_delay: 100ms}\n  picky: {job: picky, retry_delay: 100ms}\n", json!({}))
        .await;
    assert_eq!(run.state, DagRunState::Failed);
    let tries = h.tries(&run, "hog").await;
    assert_eq!(
        tries.len(),
        2,
        "OOM is retried once (attempts: 2): {tries:#?}"
    );
    for t in &tries {
        assert_eq!(
            t.reason.as_deref(),
            Some("out of memory (OOM-killed)"),
            "{t:#?}"
        );
    }
    assert_eq!(
        h.ti(&run, "hog", -1).await.max_tries,
        2,
        "a job's attempts are its tries"
    );
    let picky = h.tries(&run, "picky").await;
    assert_eq!(picky.len(), 1, "exit code 2 fails at once: {picky:#?}");
    assert_eq!(picky[0].exit_code, Some(2));
    let usage = h
        .store
        .list_usage(chrono::Utc::now() - chrono::TimeDelta::hours(1), None)
        .await
        .unwrap();
    assert_eq!(
        usage.iter().filter(|u| u.dag_id == "jobs").count(),
        3,
        "one usage record per try: {usage:#?}"
    );
    assert!(
        usage
            .iter()
            .all(|u| u.team == "data" && u.requested_vcpu == 0.5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_timeout_and_cancel() {
    require_image();
    let h = Harness::start().await;
    let started = Instant::now();
    let run = h
        .run(
            &format!("dag: slow_box\nteam: data\ntasks:\n  slow:\n    container: {{image: {IMAGE}, pull: never, command: [sleep, '30']}}\n    timeout: 1s\n"),
            json!({}),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(25));
    assert_eq!(run.state, DagRunState::Failed);
    assert_eq!(
        h.tries(&run, "slow").await[0].reason.as_deref(),
        Some("timed out")
    );

    // Cancel: mark the running instance failed; its container is stopped.
    let dag_id = "cancel_box";
    let yaml = format!(
        "dag: {dag_id}\nteam: data\ntasks:\n  forever:\n    container: {{image: {IMAGE}, pull: never, command: [sleep, '300']}}\n"
    );
    let report = weir_core::spec::load_file(&yaml);
    h.handle
        .register_dag(&report.dags[0], "c.yaml", &yaml)
        .await
        .unwrap();
    let run = h
        .handle
        .trigger_dag(&dag_id.parse().unwrap(), Default::default())
        .await
        .unwrap();
    let key = weir_store::TaskInstanceKey {
        dag_id: run.dag_id.clone(),
        run_id: run.run_id.clone(),
        task_id: "forever".parse().unwrap(),
        map_index: -1,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while h
        .store
        .get_task_instance(&key)
        .await
        .unwrap()
        .map(|t| t.state)
        != Some(TaskState::Running)
    {
        assert!(Instant::now() < deadline, "never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancelled_at = Instant::now();
    h.handle
        .set_task_instance_state(&key, TaskState::Failed)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tries = h.store.list_tries(&key).await.unwrap();
        if tries.first().is_some_and(|t| t.finished_at.is_some()) {
            assert_eq!(tries[0].reason.as_deref(), Some("cancelled"), "{tries:#?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cancelled container did not stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cancelled_at.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disallowed_image_fails_validation() {
    let platform = r#"
[[compute_environments]]
name = "docker"
backend = "docker"
max_vcpus = 2
max_memory = "2Gi"

[[queues]]
name = "default"
compute_environments = ["docker"]

[[teams]]
name = "data"
image_prefixes = ["weir-test/"]
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("weir.toml"), platform).unwrap();
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    std::fs::write(
        dags.join("ok.yaml"),
        format!("dag: ok\nteam: data\ntasks:\n  a: {{container: {{image: {IMAGE}}}}}\n"),
    )
    .unwrap();
    std::fs::write(dags.join("bad.yaml"), "dag: bad\nteam: data\ntasks:\n  a:\n    container: {image: docker.io/someone/miner:latest}\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["dags", "validate", "--config"])
        .arg(dir.path().join("weir.toml"))
        .arg(&dags)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("bad.yaml:5:"), "{text}");
    assert!(text.contains("docker.io/someone/miner:latest"), "{text}");
    assert!(text.contains("1 valid DAG"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_mid_container_then_restart_adopts_it() {
    require_image();
    let yaml = format!(
        "dag: box_survives\nteam: data\npaused: false\ntasks:\n  work:\n    container:\n      image: {IMAGE}\n      pull: never\n      command: [sh, -c, 'echo started; sleep 3; echo finished; echo 7 > $WEIR_XCOM']\n      resources: {{vcpu: 0.25, memory: 32Mi}}\n"
    );
    let mut server = support::server::Server::start(&[("b.yaml", &yaml)]);
    let run_id = server.trigger("box_survives").await;
    let tis = format!("/dags/box_survives/dagRuns/{run_id}/taskInstances");
    server
        .wait_for(&tis, "the container to run", |b| {
            b["task_instances"][0]["state"] == "running"
        })
        .await;
    // Its container exists before Weir dies.
    let label = "label=weir.dag=box_survives";
    // Kill Weir once the container runs (not between its creation and its start).
    let deadline = Instant::now() + Duration::from_secs(30);
    while count_running_containers(label) == 0 {
        assert!(Instant::now() < deadline, "no container started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill();
    assert_eq!(count_containers(label), 1, "the container outlives Weir");
    server.restart();
    let run = server.wait_run_finished("box_survives", &run_id).await;
    assert_eq!(run["state"], "success", "{run}");
    let (_, body) = server.get(&tis).await;
    assert_eq!(
        body["task_instances"][0]["try_number"], 1,
        "started twice: {body}"
    );
    let (_, log) = server
        .get(&format!(
            "/dags/box_survives/dagRuns/{run_id}/taskInstances/work/logs/1"
        ))
        .await;
    let text = log["content"].as_str().unwrap_or("");
    assert_eq!(text.matches("started").count(), 1, "{text}");
    assert_eq!(text.matches("finished").count(), 1, "{text}");
    let (_, xcom) = server
        .get(&format!(
            "/dags/box_survives/dagRuns/{run_id}/taskInstances/work/xcomEntries/return_value"
        ))
        .await;
    assert_eq!(xcom["value"].to_string().trim_matches('"'), "7", "{xcom}");
    assert_eq!(
        count_containers(label),
        0,
        "finished containers are removed"
    );
}

fn count_running_containers(filter: &str) -> usize {
    let out = std::process::Command::new("docker")
        .args(["ps", "-q", "--filter", filter, "--filter", "status=running"])
        .output();
    let out = out.unwrap_or_else(|e| panic!("cannot run docker ps: {e}"));
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn count_containers(filter: &str) -> usize {
    let out = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", filter])
        .output();
    let out = out.unwrap_or_else(|e| panic!("cannot run docker ps: {e}"));
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_tries_wait_while_the_daemon_is_down() {
    let platform = r#"
[[compute_environments]]
name = "docker"
backend = "docker"
max_vcpus = 2
max_memory = "2Gi"

[[compute_environments]]
name = "local"
backend = "process"
max_vcpus = 2
max_memory = "2Gi"

[[queues]]
name = "default"
compute_environments = ["docker", "local"]
"#;
    let dead = tempfile::tempdir().unwrap();
    let socket = dead.path().join("no-daemon.sock");
    let h = Harness::start_configured(Some(platform), &[], Some(&socket)).await;
    let yaml = format!(
        "dag: waits\nteam: data\ntasks:\n  box: {{container: {{image: {IMAGE}, pull: never, command: ['true']}}}}\n  local: {{shell: echo still runs}}\n"
    );
    let report = weir_core::spec::load_file(&yaml);
    h.handle
        .register_dag(&report.dags[0], "w.yaml", &yaml)
        .await
        .unwrap();
    let run = h
        .handle
        .trigger_dag(&"waits".parse().unwrap(), Default::default())
        .await
        .unwrap();
    // Shell tasks still run; the container waits in its queue, with the reason shown.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states = h.states(&run).await;
        let queue = h.handle.queues().into_iter().find(|q| q.name == "default");
        let waiting = queue.map(|q| q.waiting).unwrap_or_default();
        if states["local"] == TaskState::Success && waiting.iter().any(|w| w.task_id == "box") {
            assert_eq!(states["box"], TaskState::Scheduled, "not failed: it waits");
            let w = waiting.iter().find(|w| w.task_id == "box").unwrap();
            assert_eq!(w.reason_code, "unavailable", "{w:?}");
            assert!(w.reason.contains("`docker`"), "{w:?}");
            let envs = h.handle.compute_environments();
            assert!(
                envs.iter().any(|e| e.name == "docker" && !e.available),
                "{envs:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the container try did not wait with a reason: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let run = h
        .store
        .get_dag_run(&run.dag_id, &run.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, DagRunState::Running, "the run waits too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileges_are_refused_unless_the_platform_allows_them() {
    require_image();
    let h = Harness::start().await;
    let run = h
        .run(
            &format!("dag: priv\nteam: data\ntasks:\n  root:\n    container: {{image: {IMAGE}, pull: never, command: ['true'], privileged: true}}\n"),
            json!({}),
        )
        .await;
    assert_eq!(run.state, DagRunState::Failed);
    let log = h.log(&run, "root", 1).await;
    assert!(
        log.contains("team `data` may not run privileged containers"),
        "{log}"
    );
    assert_eq!(
        h.tries(&run, "root").await.len(),
        1,
        "not retried: retrying cannot help"
    );
}
