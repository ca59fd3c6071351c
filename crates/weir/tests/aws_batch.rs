//! End to end on AWS Batch: a DAG whose `container` task is queued on a queue feeding an
//! `aws-batch` compute environment runs as a Batch job on moto's server
//! (`WEIR_TEST_MOTO_URL`, Batch without Docker: the job succeeds inside `SubmitJob`),
//! through the engine's dispatcher, backend registry and the aws-batch backend, and
//! succeeds with the job's log (written into the stream the job names, as Batch's
//! `awslogs` driver would) in the try's log.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "../../weir-compute/tests/aws_batch_support/moto.rs"]
mod moto;
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::Harness;
use weir_core::state::DagRunState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dags_container_task_runs_on_aws_batch() {
    let Some(url) = moto::url() else { return };
    assert!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any value; scripts/test does)"
    );
    let queue = moto::job_queue(&url, "e2e").await;
    let platform = format!(
        r#"
[[compute_environments]]
name = "batch"
backend = "aws-batch"
max_vcpus = 16
max_memory = "64Gi"

[compute_environments.aws_batch]
region = "us-east-1"
endpoint = "{url}"
job_queues = {{ default = "{queue}" }}
tags = {{ suite = "weir-e2e" }}

[[queues]]
name = "default"
compute_environments = ["batch"]

[[teams]]
name = "data"
image_prefixes = ["*"]
"#
    );
    let h = Harness::start_with(Some(&platform), &[]).await;

    // Batch's log driver, played by the test: once the job exists, its stream gets lines.
    let (writer_url, writer_queue) = (url.clone(), queue.clone());
    let writer = tokio::spawn(async move {
        let batch = aws_sdk_batch::Client::new(&moto::sdk_config(&writer_url).await);
        let deadline = Instant::now() + Duration::from_secs(50);
        loop {
            let listed = batch
                .list_jobs()
                .job_queue(&writer_queue)
                .send()
                .await
                .unwrap();
            if let Some(id) = listed.job_summary_list().first().and_then(|j| j.job_id()) {
                let id = id.to_owned();
                moto::write_job_log(&writer_url, &id, &["rows=42 from batch"]).await;
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "no job reached the Batch job queue"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    let started = Instant::now();
    let run = h
        .run(
            "dag: on_batch\nteam: data\ntasks:\n  extract:\n    container:\n      image: busybox:1.36\n      command: [sh, -c, 'echo rows=42 from batch']\n      resources: {vcpu: 1, memory: 512Mi}\n",
            json!({}),
        )
        .await;
    let took = started.elapsed();
    let log = h.log(&run, "extract", 1).await;
    assert_eq!(run.state, DagRunState::Success, "{log}");
    eprintln!("DAG run on moto's AWS Batch: {took:?}");
    assert!(log.contains("is SUCCEEDED"), "{log}");
    assert!(log.contains(" rows=42 from batch\n"), "{log}");
    let tries = h.tries(&run, "extract").await;
    assert_eq!(tries.len(), 1);
    assert_eq!(tries[0].executor.as_deref(), Some("aws-batch"));
    assert_eq!(tries[0].exit_code, Some(0));

    let job_id = writer.await.unwrap();
    let batch = aws_sdk_batch::Client::new(&moto::sdk_config(&url).await);
    let described = batch.describe_jobs().jobs(&job_id).send().await.unwrap();
    let job = &described.jobs()[0];
    let tags = job.tags().unwrap();
    assert_eq!(tags["weir:dag"], "on_batch");
    assert_eq!(tags["weir:team"], "data");
    assert_eq!(tags["weir:task"], "extract");
    assert_eq!(tags["suite"], "weir-e2e");
    let container = job.container().unwrap();
    assert_eq!(container.command(), ["sh", "-c", "echo rows=42 from batch"]);
    assert!(
        container
            .environment()
            .iter()
            .any(|kv| kv.name() == Some("WEIR_DAG_ID") && kv.value() == Some("on_batch")),
        "the engine's WEIR_* variables reach the job"
    );
}
