//! The kubernetes backend end to end, against the fake API server of `kube_fake` (no
//! cluster runs on the test machines): the Job and Secret a try posts, live logs with
//! masking, each way a try ends (exit codes, OOM, deadline, eviction, image errors, a
//! refusal), an unschedulable pod that waits, cancel, adoption by a fresh backend after
//! the first one died, and availability.

mod kube_fake;

use std::path::Path;
use std::time::{Duration, Instant};

use kube_fake::{FakeKube, Kind};
use weir_compute::kubernetes::manifest;
use weir_compute::{
    Adopted, Backend, ComputeError, ContainerLaunch, EndReason, KubernetesBackend,
    KubernetesConfig, LaunchSpec, RunningTry,
};
use weir_core::ids::{DagId, RunId, TaskId, TryKey};
use weir_core::lifecycle::XComRead;
use weir_core::platform::KubernetesSettings;

fn key(task: &str) -> TryKey {
    TryKey {
        dag_id: DagId::new("daily_revenue").expect("dag"),
        run_id: RunId::new("manual__2026-12-04T12:00:00+00:00").expect("run"),
        task_id: TaskId::new(task).expect("task"),
        map_index: -1,
        try_number: 1,
    }
}

fn backend(fake: &FakeKube, dir: &Path) -> KubernetesBackend {
    let settings = KubernetesSettings {
        kubeconfig: Some(fake.kubeconfig(dir).display().to_string()),
        service_account: Some("runner-{team}".into()),
        ttl_seconds_after_finished: 600,
        team_namespaces: [("finance".to_owned(), "fin-batch".to_owned())].into(),
        ..KubernetesSettings::default()
    };
    KubernetesBackend::new(KubernetesConfig {
        kill_grace: Duration::from_secs(1),
        image_pull_grace: Duration::from_millis(300),
        recheck: Duration::from_millis(200),
        ..KubernetesConfig::new(settings)
    })
}

fn spec(task: &str, team: &str, dir: &Path) -> LaunchSpec {
    let mut launch = ContainerLaunch::new("registry.example.com/marketing/etl:1.4.2")
        .with_command(["python", "extract.py"]);
    launch.vcpu = Some(0.5);
    launch.memory_bytes = Some(256 << 20);
    launch.team = Some(team.to_owned());
    let mut spec = LaunchSpec::for_container(key(task), launch, dir.join(task));
    spec.env = vec![
        ("COUNTRY".into(), "DE".into()),
        ("DB_PASSWORD".into(), "hunter2-secret".into()),
    ];
    spec.secret_env = vec!["DB_PASSWORD".into()];
    spec.timeout = Some(Duration::from_secs(3600));
    spec
}

/// Waits (bounded) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn log_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("log")).unwrap_or_default()
}

async fn wait(running: RunningTry) -> weir_compute::TryOutcome {
    tokio::time::timeout(Duration::from_secs(30), running.wait())
        .await
        .expect("the try ended in time")
}

#[tokio::test]
async fn a_try_runs_as_a_job_with_its_secret_apart_and_its_logs_copied() {
    let fake = FakeKube::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = backend(&fake, tmp.path());
    backend.available().await.expect("the fake answers");
    let first = spec("extract", "marketing", tmp.path());
    let dir = first.try_dir.clone();
    let running = backend.submit(first.clone()).await.expect("submit");

    // The Job: the team's namespace and service account, labels, no secret value.
    let (ns, name) = backend.job_of(&key("extract"), Some("marketing"));
    assert_eq!(ns, "weir-marketing");
    let job = fake
        .object(Kind::Job, &ns, &name)
        .expect("the Job was posted");
    let text = job.to_string();
    assert!(
        !text.contains("hunter2-secret"),
        "a secret value in the Job: {text}"
    );
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 3600);
    assert_eq!(job["spec"]["ttlSecondsAfterFinished"], 600);
    let pod_spec = &job["spec"]["template"]["spec"];
    assert_eq!(pod_spec["restartPolicy"], "Never");
    assert_eq!(pod_spec["serviceAccountName"], "runner-marketing");
    let container = &pod_spec["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example.com/marketing/etl:1.4.2"
    );
    assert_eq!(
        container["args"],
        serde_json::json!(["python", "extract.py"])
    );
    assert_eq!(container["resources"]["limits"]["cpu"], "500m");
    assert_eq!(
        container["resources"]["requests"]["memory"],
        (256u64 << 20).to_string()
    );
    let env = container["env"].as_array().expect("env");
    let password = env
        .iter()
        .find(|e| e["name"] == "DB_PASSWORD")
        .expect("DB_PASSWORD");
    assert_eq!(
        password["valueFrom"]["secretKeyRef"]["name"],
        format!("{name}-env")
    );
    assert!(password["value"].is_null());
    let labels = &job["metadata"]["labels"];
    assert_eq!(labels[manifest::LABEL_TEAM], "marketing");
    assert_eq!(labels[manifest::LABEL_DAG], "daily_revenue");
    assert_eq!(
        labels[manifest::LABEL_RUN],
        "manual__2026-12-04T12_00_00_00_00"
    );
    assert_eq!(labels[manifest::LABEL_TASK], "extract");
    assert_eq!(labels[manifest::LABEL_TRY_NUMBER], "1");
    assert_eq!(
        job["metadata"]["annotations"][manifest::ANNOTATION_TRY],
        "daily_revenue/manual__2026-12-04T12:00:00+00:00/extract[-1]#1"
    );
    // The Secret holds the value (base64, as the API keeps it).
    let secret = fake
        .object(Kind::Secret, &ns, &format!("{name}-env"))
        .expect("the Secret");
    assert_eq!(secret["data"]["DB_PASSWORD"], "aHVudGVyMi1zZWNyZXQ=");
    assert!(
        secret["data"]["COUNTRY"].is_null(),
        "only secret values go in the Secret"
    );
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["name"].as_str()),
        (Some("Job"), Some(name.as_str()))
    );
    assert_eq!(
        owner["uid"], job["metadata"]["uid"],
        "Kubernetes deletes it with the Job"
    );

    // The same try again: refused, never a second Job.
    let again = backend.submit(first.clone()).await;
    assert!(
        matches!(again, Err(ComputeError::AlreadyLaunched { .. })),
        "{again:?}"
    );

    // Live logs, stamped and masked.
    let pod = fake.pod_of(&ns, &name).expect("the controller made a pod");
    fake.run_pod(&ns, &pod);
    fake.log(&ns, &pod, "extracting DE");
    fake.log(&ns, &pod, "password is hunter2-secret");
    until("the live log", || {
        log_text(&dir).contains("password is ***")
    })
    .await;
    // A log stream that ends while the container runs on is followed again.
    fake.cut_log_streams();
    fake.log(&ns, &pod, "done");
    until("the line after the cut", || {
        log_text(&dir).contains(" done")
    })
    .await;
    fake.exit(&ns, &pod, 0, Some(r#"{"rows": 42}"#));
    let outcome = wait(running).await;
    assert!(outcome.succeeded(), "{outcome:?}\n{}", log_text(&dir));
    assert_eq!(
        outcome.xcom,
        XComRead::Value(serde_json::json!({"rows": 42}))
    );
    let log = log_text(&dir);
    assert!(!log.contains("hunter2-secret"), "{log}");
    let lines: Vec<&str> = log.lines().filter(|l| !l.contains("[weir]")).collect();
    assert_eq!(lines.len(), 3, "each line once: {log}");
    for (line, text) in lines
        .iter()
        .zip(["extracting DE", "password is ***", "done"])
    {
        assert_eq!(&line[24..], format!(" {text}"), "{log}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(&line[..24]).is_ok(),
            "{line}"
        );
    }
    assert!(dir.join("status.json").exists());
    // The Secret is gone with the try; the Job stays for its TTL.
    assert!(
        fake.object(Kind::Secret, &ns, &format!("{name}-env"))
            .is_none()
    );
    assert!(fake.object(Kind::Job, &ns, &name).is_some());

    // Another team: its own namespace (a per-team override) and service account.
    let other = spec("load", "finance", tmp.path());
    let running = backend.submit(other).await.expect("submit");
    let (fin_ns, fin_job) = backend.job_of(&key("load"), Some("finance"));
    assert_eq!(fin_ns, "fin-batch");
    let job = fake
        .object(Kind::Job, "fin-batch", &fin_job)
        .expect("finance's Job");
    assert_eq!(
        job["spec"]["template"]["spec"]["serviceAccountName"],
        "runner-finance"
    );
    assert!(
        fake.names(Kind::Job, "weir-marketing")
            .iter()
            .all(|n| *n != fin_job)
    );
    let pod = fake.pod_of(&fin_ns, &fin_job).expect("pod");
    fake.run_pod(&fin_ns, &pod);
    fake.exit(&fin_ns, &pod, 0, None);
    assert!(wait(running).await.succeeded());
}

#[tokio::test]
async fn each_way_a_pod_ends_maps_to_its_reason() {
    let fake = FakeKube::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = backend(&fake, tmp.path());
    let mut tries = Vec::new();
    for task in ["fails", "oom", "evicted", "deadline", "pull"] {
        let spec = spec(task, "marketing", tmp.path());
        let dir = spec.try_dir.clone();
        let running = backend.submit(spec).await.expect("submit");
        let (ns, job) = backend.job_of(&key(task), Some("marketing"));
        let pod = fake.pod_of(&ns, &job).expect("pod");
        tries.push((task, dir, running, ns, job, pod));
    }
    let mut outcomes = Vec::new();
    for (task, dir, running, ns, job, pod) in tries {
        match task {
            "fails" => {
                fake.run_pod(&ns, &pod);
                fake.log(&ns, &pod, "Traceback: boom");
                fake.exit(&ns, &pod, 3, None);
            }
            "oom" => {
                fake.run_pod(&ns, &pod);
                fake.oom(&ns, &pod);
            }
            "evicted" => {
                fake.run_pod(&ns, &pod);
                fake.evict(&ns, &pod);
            }
            "deadline" => {
                fake.run_pod(&ns, &pod);
                fake.deadline_exceeded(&ns, &job);
            }
            _ => fake.image_pull_backoff(&ns, &pod),
        }
        outcomes.push((task, wait(running).await, dir, ns, job));
    }
    for (task, outcome, dir, ns, job) in outcomes {
        let log = log_text(&dir);
        assert!(!outcome.succeeded());
        match task {
            "fails" => {
                assert_eq!(
                    (outcome.reason, outcome.exit_code),
                    (EndReason::Exited, Some(3))
                );
                assert!(log.contains("Traceback: boom"), "{log}");
                assert!(log.contains("[weir] exited with code 3"), "{log}");
            }
            "oom" => assert_eq!(
                (outcome.reason, outcome.exit_code),
                (EndReason::OutOfMemory, Some(137))
            ),
            "evicted" => {
                let EndReason::Lost(why) = &outcome.reason else {
                    panic!("{outcome:?}")
                };
                assert!(
                    why.starts_with("Evicted: The node was low on resource: memory"),
                    "{why}"
                );
                assert!(weir_core::job_def::glob_matches(
                    "*Evicted*",
                    &outcome.reason.to_string()
                ));
            }
            "deadline" => assert_eq!(outcome.reason, EndReason::TimedOut, "{outcome:?}"),
            _ => {
                let EndReason::LaunchFailed(why) = &outcome.reason else {
                    panic!("{outcome:?}\n{log}")
                };
                assert!(
                    why.contains("image `registry.example.com/marketing/etl:1.4.2` cannot be pulled (ImagePullBackOff)"),
                    "{why}"
                );
                assert!(log.contains("[weir] could not start: image"), "{log}");
                // Nothing ran: its Job is removed rather than left pulling forever.
                until("the Job's removal", || {
                    fake.object(Kind::Job, &ns, &job).is_none()
                })
                .await;
            }
        }
        assert!(
            fake.object(Kind::Secret, &ns, &format!("{job}-env"))
                .is_none(),
            "{task}: Secret left"
        );
    }
}

#[tokio::test]
async fn an_unschedulable_pod_waits_with_the_schedulers_words() {
    let fake = FakeKube::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = backend(&fake, tmp.path());
    let spec = spec("big", "marketing", tmp.path());
    let dir = spec.try_dir.clone();
    let waiter = tokio::spawn(backend.submit(spec).await.expect("submit").wait());
    let (ns, job) = backend.job_of(&key("big"), Some("marketing"));
    let pod = fake.pod_of(&ns, &job).expect("pod");
    fake.unschedulable(&ns, &pod);
    until("the waiting line", || {
        log_text(&dir).contains("[weir] waiting: not scheduled (Unschedulable): 0/3 nodes are available: 3 Insufficient cpu")
    })
    .await;
    assert!(
        !waiter.is_finished(),
        "an unschedulable pod is no failure: it waits for room"
    );
    fake.run_pod(&ns, &pod);
    fake.exit(&ns, &pod, 0, None);
    let outcome = tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("in time")
        .expect("the waiter");
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(
        log_text(&dir).matches("waiting: not scheduled").count(),
        1,
        "said once"
    );
}

#[tokio::test]
async fn a_refused_job_fails_the_try_with_the_clusters_words() {
    let fake = FakeKube::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = backend(&fake, tmp.path());
    fake.forbid("weir-marketing");
    let spec = spec("refused", "marketing", tmp.path());
    let dir = spec.try_dir.clone();
    let outcome = wait(backend.submit(spec).await.expect("submit")).await;
    let EndReason::LaunchFailed(why) = &outcome.reason else {
        panic!("{outcome:?}")
    };
    assert!(
        why.contains("Kubernetes refused to create the try's Secret in namespace `weir-marketing`")
            && why.contains("is forbidden")
            && why.contains("(Forbidden)"),
        "{why}"
    );
    assert!(fake.names(Kind::Job, "weir-marketing").is_empty());
    assert!(log_text(&dir).contains("[weir] could not start: Kubernetes refused"));
    assert!(dir.join("status.json").exists());
}

#[tokio::test]
async fn cancel_deletes_the_job_and_its_secret() {
    let fake = FakeKube::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = backend(&fake, tmp.path());
    let spec = spec("long", "marketing", tmp.path());
    let dir = spec.try_dir.clone();
    let running = backend.submit(spec).await.expect("submit");
    let (ns, job) = backend.job_of(&key("long"), Some("marketing"));
    let pod = fake.pod_of(&ns, &job).expect("pod");
    fake.run_pod(&ns, &pod);
    fake.log(&ns, &pod, "working");
    until("the first line", || log_text(&dir).contains("working")).await;
    let asked = Instant::now();
    running.cancel();
    let outcome = wait(running).await;
    assert_eq!(outcome.reason, EndReason::Cancelled, "{outcome:?}");
    assert!(asked.elapsed() < Duration::from_secs(1) + Duration::from_secs(6));
    assert!(
        fake.object(Kind::Job, &ns, &job).is_none(),
        "the Job is deleted"
    );
    assert!(fake.object(Kind::Pod, &ns, &pod).is_none(), "with its pod");
    assert!(
        fake.object(Kind::Secret, &ns, &format!("{job}-env"))
            .is_none(),
        "and the Secret"
    );
    let deletions = fake.deletions();
    let job_deletion = deletions
        .iter()
        .find(|d| d.kind == Kind::Job && d.name == job)
        .expect("the Job's deletion");
    assert_eq!(
        job_deletion.propagation_policy.as_deref(),
        Some("Foreground")
    );
    assert!(log_text(&dir).contains("[weir] stopping the Job: cancelled"));
    assert_eq!(
        std::fs::read_to_string(dir.join("stop_reason")).expect("stop"),
        "cancelled"
    );
}

#[test]
fn a_fresh_backend_adopts_what_a_dead_one_started() {
    // The fake lives on its own runtime; each backend on another, which is dropped to
    // stand for a server killed with -9 (its watchers die with it).
    let server = tokio::runtime::Runtime::new().expect("runtime");
    let fake = server.block_on(FakeKube::start());
    let tmp = tempfile::tempdir().expect("tempdir");
    let running_spec = spec("running", "marketing", tmp.path());
    let finished_spec = spec("finished", "marketing", tmp.path());
    {
        let first = tokio::runtime::Runtime::new().expect("runtime");
        first.block_on(async {
            let backend = backend(&fake, tmp.path());
            for spec in [&running_spec, &finished_spec] {
                let running = backend.submit(spec.clone()).await.expect("submit");
                drop(running);
                let (ns, job) = backend.job_of(&spec.key, Some("marketing"));
                let pod = fake.pod_of(&ns, &job).expect("pod");
                fake.run_pod(&ns, &pod);
                fake.log(&ns, &pod, "before the crash hunter2-secret");
                let dir = spec.try_dir.clone();
                until("the first line", || {
                    log_text(&dir).contains("before the crash")
                })
                .await;
            }
        });
        first.shutdown_background();
    }
    let (ns, running_job) = backend_names(&running_spec);
    let (_, finished_job) = backend_names(&finished_spec);
    let running_pod = fake.pod_of(&ns, &running_job).expect("pod");
    let finished_pod = fake.pod_of(&ns, &finished_job).expect("pod");
    // While no Weir watches: one try prints more and ends, the other prints on.
    fake.log(&ns, &finished_pod, "after the crash");
    fake.exit(&ns, &finished_pod, 0, Some("7"));
    fake.log(&ns, &running_pod, "while nobody watched");

    let second = tokio::runtime::Runtime::new().expect("runtime");
    second.block_on(async {
        let backend = backend(&fake, tmp.path());
        let adopted = backend
            .adopt(finished_spec.key.clone(), finished_spec.try_dir.clone())
            .await
            .expect("adopt");
        let Adopted::Finished(outcome) = adopted else {
            panic!("{adopted:?}")
        };
        assert!(outcome.succeeded(), "{outcome:?}");
        assert_eq!(outcome.xcom, XComRead::Value(serde_json::json!(7)));
        let log = log_text(&finished_spec.try_dir);
        assert_eq!(log.matches("before the crash").count(), 1, "{log}");
        assert!(
            log.contains("before the crash ***"),
            "masked after adoption too: {log}"
        );
        assert!(log.contains("after the crash"), "{log}");
        // Adopting again gives the same answer.
        let again = backend
            .adopt(finished_spec.key.clone(), finished_spec.try_dir.clone())
            .await
            .expect("adopt");
        assert!(
            matches!(again, Adopted::Finished(ref o) if o.succeeded()),
            "{again:?}"
        );

        let adopted = backend
            .adopt(running_spec.key.clone(), running_spec.try_dir.clone())
            .await
            .expect("adopt");
        let Adopted::Running(running) = adopted else {
            panic!("{adopted:?}")
        };
        let dir = running_spec.try_dir.clone();
        until("the missed line", || {
            log_text(&dir).contains("while nobody watched")
        })
        .await;
        fake.log(&ns, &running_pod, "after adoption");
        fake.exit(&ns, &running_pod, 4, None);
        let outcome = wait(running).await;
        assert_eq!(
            (outcome.reason, outcome.exit_code),
            (EndReason::Exited, Some(4))
        );
        let log = log_text(&dir);
        for line in [
            "before the crash ***",
            "while nobody watched",
            "after adoption",
        ] {
            assert_eq!(log.matches(line).count(), 1, "{line} once: {log}");
        }
        assert_eq!(fake.names(Kind::Job, &ns).len(), 2, "never a second Job");
        assert!(fake.names(Kind::Secret, &ns).is_empty(), "Secrets deleted");

        // A folder without a posted Job never started; one without a folder neither.
        let never = spec("never", "marketing", tmp.path());
        std::fs::create_dir_all(&never.try_dir).expect("dir");
        let adopted = backend
            .adopt(never.key.clone(), never.try_dir.clone())
            .await
            .expect("adopt");
        assert!(matches!(adopted, Adopted::NeverStarted(_)), "{adopted:?}");
        let adopted = backend
            .adopt(key("nowhere"), tmp.path().join("nowhere"))
            .await
            .expect("adopt");
        assert!(matches!(adopted, Adopted::NeverStarted(_)), "{adopted:?}");
    });
    drop(second);
    drop(server);
}

fn backend_names(spec: &LaunchSpec) -> (String, String) {
    ("weir-marketing".to_owned(), manifest::job_name(&spec.key))
}

#[tokio::test]
async fn an_unreachable_api_server_leaves_the_try_submittable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A port nobody listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let path = tmp.path().join("kubeconfig");
    std::fs::write(
        &path,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n"),
    )
    .expect("kubeconfig");
    let backend = KubernetesBackend::new(KubernetesConfig::new(KubernetesSettings {
        kubeconfig: Some(path.display().to_string()),
        ..KubernetesSettings::default()
    }));
    let down = backend.available().await;
    assert!(
        matches!(down, Err(ComputeError::BackendUnavailable { .. })),
        "{down:?}"
    );
    let spec = spec("x", "marketing", tmp.path());
    let submitted = backend.submit(spec.clone()).await;
    assert!(
        matches!(submitted, Err(ComputeError::BackendUnavailable { .. })),
        "{submitted:?}"
    );
    assert!(
        !spec.try_dir.join("job").exists(),
        "nothing marks it launched"
    );

    // A kubeconfig that does not exist is the same: nothing runs, the error says why.
    let missing = KubernetesBackend::new(KubernetesConfig::new(KubernetesSettings {
        kubeconfig: Some("/nonexistent/kubeconfig".into()),
        ..KubernetesSettings::default()
    }));
    let err = missing.available().await.expect_err("no file");
    assert!(err.to_string().contains("/nonexistent/kubeconfig"), "{err}");
}
