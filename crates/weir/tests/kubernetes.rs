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
