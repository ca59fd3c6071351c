//! The aws-batch backend against moto's server (PyPI `moto[server]`; `WEIR_TEST_MOTO_URL`,
//! started by `scripts/test`), Batch without Docker: moto then finishes every job as
//! SUCCEEDED inside `SubmitJob`, without an exit code and without writing its log stream.
//! So this shows the real API calls and shapes — job definition registered once and
//! reused, `SubmitJob` with tags and name, `DescribeJobs`, `ListJobs` by name, adoption,
//! CloudWatch `GetLogEvents` — while states, failures, cancel and throttling are shown
//! against the scripted fake (`aws_batch.rs`). The log stream the job names is written
//! by the test, as Batch's `awslogs` driver would.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod aws_batch_support;

use std::time::{Duration, Instant};

use aws_batch_support::{ENV, backend, credentials, key, log, moto, spec, unique};
use weir_compute::{Adopted, Backend, EndReason};

#[tokio::test]
async fn jobs_run_on_motos_batch_and_are_adopted_after_a_restart() {
    let Some(url) = moto::url() else { return };
    credentials();
    let queue = moto::job_queue(&url, "run").await;
    let b = backend(&url, &queue);
    b.available().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dag = unique("dag").replace('-', "_");

    // Submit → SUCCEEDED (exit code 0), with the log the job wrote.
    let d1 = dir.path().join("first");
    let mut s = spec(key(&dag, "first"), &["sh", "-c", "echo hello"], &d1);
    s.env.push(("SECRET_TOKEN".into(), "moto-secret-1".into()));
    s.secret_env.push("SECRET_TOKEN".into());
    let started = Instant::now();
    let running = b.submit(s.clone()).await.unwrap();
    let submitted = started.elapsed();
    let marker: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d1.join("batch_job")).unwrap()).unwrap();
    let job_id = marker["job_id"].as_str().unwrap().to_owned();
    assert_eq!(marker["job_queue"], queue.as_str());
    assert_eq!(marker["secret_env"][0], "SECRET_TOKEN", "names only");
    assert!(
        !std::fs::read_to_string(d1.join("batch_job"))
            .unwrap()
            .contains("moto-secret-1")
    );
    let stream =
        moto::write_job_log(&url, &job_id, &["hello from moto", "token=moto-secret-1"]).await;
    let outcome = running.wait().await;
    eprintln!(
        "moto: SubmitJob accepted in {submitted:?}, outcome after {:?}",
        started.elapsed()
    );
    assert_eq!(
        (outcome.reason.clone(), outcome.exit_code),
        (EndReason::Exited, Some(0)),
        "{}",
        log(&d1)
    );
    let text = log(&d1);
    assert!(text.contains("is SUCCEEDED"), "{text}");
    assert!(text.contains(" hello from moto\n"), "{text}");
    assert!(
        text.contains(" token=***\n") && !text.contains("moto-secret-1"),
        "{text}"
    );
    assert!(std::fs::read_to_string(d1.join("log_cursor")).is_ok_and(|t| !t.is_empty()));

    // What moto recorded: the job's name, tags, queue, definition and overrides.
    let config = moto::sdk_config(&url).await;
    let batch = aws_sdk_batch::Client::new(&config);
    let described = batch.describe_jobs().jobs(&job_id).send().await.unwrap();
    let job = &described.jobs()[0];
    assert_eq!(
        job.job_name(),
        Some(b.job_name(ENV, &key(&dag, "first")).unwrap().as_str())
    );
    let tags = job.tags().unwrap();
    assert_eq!(tags["weir:dag"], dag);
    assert_eq!(tags["weir:task"], "first");
    assert_eq!(tags["weir:try"], key(&dag, "first").slug());
    assert_eq!(tags["suite"], "weir-compute");
    let definition = job.job_definition().unwrap().to_owned();
    assert!(
        definition.contains(":job-definition/weirtest-"),
        "{definition}"
    );
    assert!(
        stream.starts_with("weirtest-"),
        "moto names the stream after the definition: {stream}"
    );

    // A second try of the same container spec reuses the definition; a timeout becomes
    // attemptDurationSeconds (at least 60). Its engine dies right after the submit
    // (kill -9: its runtime is dropped with the watcher, nothing is recorded).
    let d2 = dir.path().join("second");
    let mut s2 = spec(key(&dag, "second"), &["sh", "-c", "echo again"], &d2);
    s2.timeout = Some(Duration::from_secs(5));
    let (url2, queue2) = (url.clone(), queue.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let b = backend(&url2, &queue2);
            std::mem::forget(b.submit(s2).await.unwrap());
        });
        rt.shutdown_background();
    })
    .join()
    .unwrap();
    drop(b);
    assert!(!d2.join("status.json").exists());
    let job2 = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(d2.join("batch_job")).unwrap(),
    )
    .unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let described = batch.describe_jobs().jobs(&job2).send().await.unwrap();
    let job = &described.jobs()[0];
    assert_eq!(
        job.job_definition(),
        Some(definition.as_str()),
        "one definition per container spec"
    );
    assert_eq!(
        job.timeout().and_then(|t| t.attempt_duration_seconds()),
        Some(60)
    );
    let name = job
        .job_definition()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let defs = batch
        .describe_job_definitions()
        .job_definition_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(defs.job_definitions().len(), 1, "registered once");

    // A new backend adopts: the ended job by its marker, the try already settled from
    // status.json, and a try that never reached Batch.
    let fresh = backend(&url, &queue);
    let adopted = fresh.adopt(key(&dag, "second"), d2.clone()).await.unwrap();
    assert!(
        matches!(adopted, Adopted::Finished(ref o) if o.exit_code == Some(0) && o.reason == EndReason::Exited),
        "{adopted:?}"
    );
    let again = fresh.adopt(key(&dag, "first"), d1.clone()).await.unwrap();
    assert!(
        matches!(again, Adopted::Finished(ref o) if o.exit_code == Some(0)),
        "{again:?}"
    );
    // A marker without a job id whose job moto has: found by name (ListJobs) and tag.
    let d3 = dir.path().join("third");
    std::fs::create_dir_all(&d3).unwrap();
    let mut half = marker.clone();
    half.as_object_mut().unwrap().remove("job_id");
    std::fs::write(d3.join("batch_job"), half.to_string()).unwrap();
    let found = fresh.adopt(key(&dag, "first"), d3.clone()).await.unwrap();
    assert!(
        matches!(found, Adopted::Finished(ref o) if o.exit_code == Some(0)),
        "{found:?}"
    );
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d3.join("batch_job")).unwrap()).unwrap();
    assert_eq!(recorded["job_id"], job_id.as_str());
    // No marker: never started.
    let d4 = dir.path().join("fourth");
    std::fs::create_dir_all(&d4).unwrap();
    assert!(matches!(
        fresh.adopt(key(&dag, "fourth"), d4).await.unwrap(),
        Adopted::NeverStarted(_)
    ));
    // Submitting a launched try again is refused.
    let again = fresh.submit(s).await.unwrap_err();
    assert!(
        matches!(again, weir_compute::ComputeError::AlreadyLaunched { .. }),
        "{again}"
    );
}

#[tokio::test]
async fn a_job_queue_batch_does_not_know_fails_the_try_with_batchs_words() {
    let Some(url) = moto::url() else { return };
    credentials();
    let b = backend(&url, &unique("no-such-queue"));
    let dir = tempfile::tempdir().unwrap();
    let dag = unique("dag").replace('-', "_");
    let s = spec(key(&dag, "t"), &["true"], dir.path());
    match b.submit(s).await {
        Ok(running) => {
            // moto answers a missing queue with a ClientException: the try fails as
            // could-not-start, with Batch's words.
            let outcome = running.wait().await;
            assert!(
                matches!(outcome.reason, EndReason::LaunchFailed(ref why) if why.contains("AWS Batch refused the job")),
                "{outcome:?}"
            );
        }
        Err(e) => panic!("expected a settled try, got {e}"),
    }
    assert!(
        !dir.path().join("batch_job").exists(),
        "the marker is released"
    );
}
