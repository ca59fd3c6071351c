//! A DAG whose container task goes to a `kubernetes` compute environment runs as a
//! Kubernetes Job, end to end through the engine, against the fake API server of
//! weir-compute's tests (no cluster runs on the test machines; the fake plays the
//! kubelet and runs each pod to success, printing its command and leaving an XCom).

#[path = "../../weir-compute/tests/kube_fake/mod.rs"]
mod kube_fake;
mod support;

use kube_fake::{FakeKube, Kind};
use serde_json::json;
use support::Harness;
use support::server::Server;
use weir_core::state::{DagRunState, TaskState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_task_runs_as_a_kubernetes_job() {
    let fake = FakeKube::start().await;
    fake.set_auto(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = fake.kubeconfig(dir.path());
    let platform = format!(
        r#"
[[compute_environments]]
name = "local"
backend = "process"
max_vcpus = 2
max_memory = "2Gi"

[[compute_environments]]
name = "k8s"
backend = "kubernetes"
max_vcpus = 16
max_memory = "64Gi"

[compute_environments.kubernetes]
kubeconfig = "{}"
service_account = "weir-{{team}}"

[[queues]]
name = "default"
compute_environments = ["local", "k8s"]

[[teams]]
name = "data"
image_prefixes = ["registry.example.com/data/"]
"#,
        kubeconfig.display()
    );
    let h = Harness::start_with(Some(&platform), &[]).await;
    let run = h
        .run(
            r#"dag: on_k8s
team: data
tasks:
  extract:
    container:
      image: registry.example.com/data/etl:2
      command: [python, extract.py, --date, "{{ ds }}"]
      resources: {vcpu: 0.5, memory: 512Mi}
  report:
    depends_on: [extract]
    shell: echo "done={{ ti.xcom_pull('extract').done }}"
"#,
            json!({}),
        )
        .await;
    let log = h.log(&run, "extract", 1).await;
    assert_eq!(run.state, DagRunState::Success, "{log}");
    assert!(
        log.contains("running: python extract.py --date 20"),
        "{log}"
    );
    assert_eq!(h.xcom(&run, "extract").await, Some(json!({"done": true})));
    let report = h.log(&run, "report", 1).await;
    assert!(
        report.contains("done=True"),
        "the XCom reached the next task: {report}"
    );
    let tries = h.tries(&run, "extract").await;
    assert_eq!(tries.len(), 1);
    assert_eq!(tries[0].executor.as_deref(), Some("kubernetes"));
    assert_eq!(h.ti(&run, "extract", -1).await.state, TaskState::Success);

    // One Job, in the team's namespace, as the team's service account, named by the try.
    let jobs = fake.names(Kind::Job, "weir-data");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = fake
        .object(Kind::Job, "weir-data", &jobs[0])
        .expect("the Job");
    assert_eq!(
        job["spec"]["template"]["spec"]["serviceAccountName"],
        "weir-data"
    );
    assert_eq!(job["metadata"]["labels"]["weir.dev/dag"], "on_k8s");
    assert_eq!(job["metadata"]["labels"]["weir.dev/task"], "extract");
    let limits = &job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
    assert_eq!(limits["cpu"], "500m");
    assert_eq!(limits["memory"], (512u64 << 20).to_string());
}

const SECRET: &str = "k8s-Secret-Value-0451";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_container_and_job_tasks_on_kubernetes_with_secrets_apart() {
    let fake = FakeKube::start().await;
    fake.set_auto(true);
    let dag = r#"dag: k8s_secrets
team: data
tasks:
  extract:
    container:
      image: registry.example.com/data/etl:2
      command: [python, extract.py]
      secrets: {DB_PASSWORD: db-password}
      env: {COUNTRY: DE}
  transform:
    depends_on: [extract]
    job: runner
    command: [dbt, run]
"#;
    let mut server = Server::new(&[("k8s.yaml", dag)]);
    let kubeconfig = fake.kubeconfig(server.dir.path());
    let config = format!(
        r#"
[[compute_environments]]
name = "k8s"
backend = "kubernetes"
max_vcpus = 16
max_memory = "64Gi"
kubernetes = {{ kubeconfig = "{}" }}

[[queues]]
name = "default"
compute_environments = ["k8s"]

[[teams]]
name = "data"
image_prefixes = ["registry.example.com/data/"]
"#,
        kubeconfig.display()
    );
    let path = server.dir.path().join("weir.toml");
    std::fs::write(&path, config).unwrap();
    let jobs = server.dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("runner.yaml"),
        "job: runner\nteam: data\nimage: registry.example.com/data/dbt:1\nresources: {vcpu: 1, memory: 1Gi}\n",
    )
    .unwrap();
    server.args = vec![
        "--config".into(),
        path.display().to_string(),
        "--unpause-all".into(),
    ];
    server.restart();
    let out = server.cli_with_stdin(&["secrets", "set", "data/db-password"], SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let run_id = server.trigger("k8s_secrets").await;
    let run = server.wait_run_finished("k8s_secrets", &run_id).await;
    let log = |task: &'static str| {
        let path = format!(
            "/dags/k8s_secrets/dagRuns/{run_id}/taskInstances/{task}/logs/1?full_content=true"
        );
        let server = &server;
        async move {
            let (_, body) = server.get(&path).await;
            body["content"].as_str().unwrap_or_default().to_owned()
        }
    };
    let extract = log("extract").await;
    assert_eq!(
        run["state"],
        "success",
        "{run}\n{extract}\n{}",
        server.output()
    );
    assert!(extract.contains("running: python extract.py"), "{extract}");
    assert!(extract.contains("env COUNTRY=DE"), "{extract}");
    assert!(
        extract.contains("env DB_PASSWORD=***"),
        "the secret reached the pod, masked: {extract}"
    );
    assert!(!extract.contains(SECRET), "{extract}");
    let transform = log("transform").await;
    assert!(transform.contains("running: dbt run"), "{transform}");

    // Two Jobs in the team's namespace; the secret only ever in the try's Secret.
    let jobs = fake.created(Kind::Job, "weir-data");
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    for job in &jobs {
        assert!(
            !job.to_string().contains(SECRET),
            "a secret value in a Job: {job}"
        );
    }
    let images: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j["spec"]["template"]["spec"]["containers"][0]["image"].as_str())
        .collect();
    assert!(
        images.contains(&"registry.example.com/data/dbt:1"),
        "{images:?}"
    );
    let secrets = fake.created(Kind::Secret, "weir-data");
    assert_eq!(secrets.len(), 1, "only the try with a secret has a Secret");
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, SECRET);
    assert_eq!(secrets[0]["data"]["DB_PASSWORD"], b64.as_str());
    assert!(
        fake.names(Kind::Secret, "weir-data").is_empty(),
        "deleted after the try"
    );
}
