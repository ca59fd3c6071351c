//! The aws-batch backend against a scripted Batch over HTTP (`aws_batch_support/fake.rs`),
//! for what moto without Docker cannot show: status transitions, exit codes, OOM, a lost
//! Spot host, cancel before and after the job starts, Weir's and Batch's timeouts,
//! adoption of a running job after the backend's runtime is dropped (as by kill -9),
//! CloudWatch logs with masked secrets, and `DescribeJobs` throttled with HTTP 429.
//! The SDK needs credentials: any `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (scripts/test
//! exports test ones).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod aws_batch_support;

use std::time::{Duration, Instant};

use aws_batch_support::fake::FakeBatch;
use aws_batch_support::{ENV, backend, config, credentials, key, log, spec};
use weir_compute::{Adopted, AwsBatchBackend, Backend, EndReason};

const QUEUE: &str = "weir-fake-queue";

#[tokio::test]
async fn a_job_goes_through_batchs_states_and_exits() {
    credentials();
    let (fake, url) = FakeBatch::start().await;
    let b = backend(&url, QUEUE);
    assert!(b.host_bound(), "its try folders hold what adoption needs");
    let dir = tempfile::tempdir().unwrap();
    let ok_dir = dir.path().join("ok");
    let mut s = spec(
        key("fake_states", "ok"),
        &["run", "300", "exit", "0"],
        &ok_dir,
    );
    s.env.push(("SECRET_TOKEN".into(), "s3cr3t-value".into()));
    s.env.push(("PLAIN".into(), "visible".into()));
    s.secret_env.push("SECRET_TOKEN".into());
    let started = Instant::now();
    let outcome = b.submit(s).await.unwrap().wait().await;
    assert_eq!(outcome.reason, EndReason::Exited, "{}", log(&ok_dir));
    assert_eq!(outcome.exit_code, Some(0));
    assert!(outcome.succeeded());
    let text = log(&ok_dir);
    // Every status Batch reported, in order, the output (copied while it ran) and the end.
    let mut at = 0;
    for want in [
        "submitted AWS Batch job",
        "is RUNNABLE",
        "is STARTING",
        "is RUNNING",
        "hello from fake-",
        "token=***",
        "is SUCCEEDED",
        "[weir] exited, exit code 0",
    ] {
        let found = text[at..]
            .find(want)
            .unwrap_or_else(|| panic!("`{want}` missing after byte {at}: {text}"));
        at += found + want.len();
    }
    assert!(!text.contains("s3cr3t-value"), "{text}");
    // Log lines carry the event's time: `2026-…Z hello from …`.
    let hello = text.lines().find(|l| l.contains("hello from")).unwrap();
    assert!(hello.len() > 25 && hello.as_bytes()[23] == b'Z', "{hello}");
    eprintln!(
        "submit → SUCCEEDED through the fake: {:?}",
        started.elapsed()
    );

    // The job carried the try's tags, name, resources and environment.
    let submit = &fake.calls("submitjob")[0].body;
    assert_eq!(submit["jobQueue"], QUEUE);
    assert_eq!(submit["tags"]["weir:dag"], "fake_states");
    assert_eq!(submit["tags"]["weir:team"], "testers");
    assert_eq!(submit["tags"]["weir:try"], key("fake_states", "ok").slug());
    assert_eq!(submit["tags"]["suite"], "weir-compute");
    assert_eq!(
        submit["jobName"],
        "weirtest-fake_states_manual__2026-11-27T12_00_00_00_00_ok_-1_1"
    );
    assert_eq!(submit["retryStrategy"]["attempts"], 1);
    assert!(submit["timeout"].is_null());
    let register = &fake.calls("registerjobdefinition")[0].body;
    assert_eq!(register["containerProperties"]["image"], "busybox:1.36");
    assert_eq!(
        register["containerProperties"]["resourceRequirements"][1]["value"],
        "256"
    );

    // A failing job's exit code, an OOM and a lost Spot host, at once: one poller.
    let cases = [
        ("fails", vec!["run", "200", "exit", "3"]),
        ("hog", vec!["run", "200", "oom"]),
        ("spot", vec!["run", "200", "spot"]),
    ];
    let mut running = Vec::new();
    for (task, cmd) in &cases {
        let d = dir.path().join(task);
        running.push((
            d.clone(),
            b.submit(spec(key("fake_states", task), cmd, &d))
                .await
                .unwrap(),
        ));
    }
    let mut outcomes = Vec::new();
    for (d, r) in running {
        outcomes.push((r.wait().await, log(&d)));
    }
    assert_eq!(
        (outcomes[0].0.reason.clone(), outcomes[0].0.exit_code),
        (EndReason::Exited, Some(3)),
        "{}",
        outcomes[0].1
    );
    assert_eq!(
        (outcomes[1].0.reason.clone(), outcomes[1].0.exit_code),
        (EndReason::OutOfMemory, Some(137))
    );
    assert_eq!(
        outcomes[2].0.reason,
        EndReason::Lost("Host EC2 (instance i-0fake) terminated.".into())
    );
    // The same container spec: one job definition, found again by its content name.
    assert_eq!(fake.job_definitions(), 1);
    // DescribeJobs asked about several jobs per call.
    let batched = fake
        .calls("describejobs")
        .iter()
        .map(|c| c.body["jobs"].as_array().map_or(0, Vec::len))
        .max()
        .unwrap();
    assert!(
        batched >= 2,
        "one DescribeJobs per round for all running jobs"
    );
}

#[tokio::test]
async fn cancel_uses_canceljob_before_the_start_and_terminatejob_after() {
    credentials();
    let (fake, url) = FakeBatch::start().await;
    let b = backend(&url, QUEUE);
    let dir = tempfile::tempdir().unwrap();

    let waiting = b
        .submit(spec(key("fake_cancel", "waiting"), &["wait"], dir.path()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    waiting.cancel();
    let outcome = waiting.wait().await;
    assert_eq!(outcome.reason, EndReason::Cancelled, "{}", log(dir.path()));
    assert_eq!(fake.calls("canceljob").len(), 1);
    assert!(fake.calls("terminatejob").is_empty());
    assert_eq!(fake.calls("canceljob")[0].body["reason"], "weir: cancelled");

    let d2 = dir.path().join("running");
    let running = b
        .submit(spec(key("fake_cancel", "running"), &["forever"], &d2))
        .await
        .unwrap();
    let handle = running.cancel_handle();
    aws_batch_support::eventually(Duration::from_secs(5), "RUNNING", || {
        log(&d2).contains("is RUNNING").then_some(())
    })
    .await;
    let asked = Instant::now();
    handle.cancel();
    let outcome = running.wait().await;
    assert_eq!(outcome.reason, EndReason::Cancelled, "{}", log(&d2));
    assert_eq!(outcome.exit_code, Some(143));
    assert_eq!(fake.calls("terminatejob").len(), 1);
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        std::fs::read_to_string(d2.join("stop_reason")).unwrap(),
        "cancelled"
    );
}

#[tokio::test]
async fn timeouts_are_weirs_and_batchs() {
    credentials();
    let (fake, url) = FakeBatch::start().await;
    let b = backend(&url, QUEUE);
    let dir = tempfile::tempdir().unwrap();
    // Weir's own timeout (shorter than Batch's minimum of 60 s) terminates the job.
    let d1 = dir.path().join("weir");
    let mut s = spec(key("fake_timeout", "weir"), &["forever"], &d1);
    s.timeout = Some(Duration::from_millis(500));
    let outcome = b.submit(s).await.unwrap().wait().await;
    assert_eq!(outcome.reason, EndReason::TimedOut, "{}", log(&d1));
    let terminated = fake.calls("terminatejob");
    assert_eq!(terminated.len(), 1, "{}", log(&d1));
    assert_eq!(terminated[0].body["reason"], "weir: timed_out");
    assert_eq!(
        fake.calls("submitjob")[0].body["timeout"]["attemptDurationSeconds"],
        60
    );
    // Batch's own timeout (it ran past attemptDurationSeconds while Weir watched).
    let d2 = dir.path().join("batch");
    let outcome = b
        .submit(spec(
            key("fake_timeout", "batch"),
            &["run", "200", "batch-timeout"],
            &d2,
        ))
        .await
        .unwrap()
        .wait()
        .await;
    assert_eq!(
        (outcome.reason, outcome.exit_code),
        (EndReason::TimedOut, Some(137))
    );
    assert_eq!(
        fake.calls("terminatejob").len(),
        1,
        "Batch stopped that one itself"
    );
}

#[test]
fn a_running_job_is_adopted_by_a_new_backend_after_a_crash() {
    credentials();
    let outer = tokio::runtime::Runtime::new().unwrap();
    let (fake, url) = outer.block_on(FakeBatch::start());
    let dir = tempfile::tempdir().unwrap();
    let try_dir = dir.path().join("try");
    let k = key("fake_adopt", "long");
    // The first engine: submits, sees the job run, and dies with its runtime (kill -9:
    // no watcher survives, nothing is recorded).
    {
        let first = tokio::runtime::Runtime::new().unwrap();
        first.block_on(async {
            let b = backend(&url, QUEUE);
            let mut s = spec(k.clone(), &["run", "1500", "exit", "0"], &try_dir);
            s.env.push(("SECRET_TOKEN".into(), "adopted-secret".into()));
            s.secret_env.push("SECRET_TOKEN".into());
            let running = b.submit(s.clone()).await.unwrap();
            aws_batch_support::eventually(Duration::from_secs(5), "RUNNING", || {
                log(&try_dir).contains("is RUNNING").then_some(())
            })
            .await;
            // Submitting the same try again is refused: it must be adopted.
            let again = b.submit(s).await.unwrap_err();
            assert!(
                matches!(again, weir_compute::ComputeError::AlreadyLaunched { .. }),
                "{again}"
            );
            std::mem::forget(running);
        });
        first.shutdown_background();
    }
    assert!(!try_dir.join("status.json").exists());
    outer.block_on(async {
        let b = backend(&url, QUEUE);
        let adopted = b.adopt(k.clone(), try_dir.clone()).await.unwrap();
        let Adopted::Running(running) = adopted else {
            panic!("expected Running, got {adopted:?}");
        };
        let outcome = running.wait().await;
        assert_eq!(
            (outcome.reason, outcome.exit_code),
            (EndReason::Exited, Some(0))
        );
        assert_eq!(fake.calls("submitjob").len(), 1, "never submitted twice");
        let text = log(&try_dir);
        assert!(
            text.contains("token=***") && !text.contains("adopted-secret"),
            "{text}"
        );
        assert_eq!(
            text.matches("hello from").count(),
            1,
            "no line copied twice: {text}"
        );
        // Adopting again gives the same answer, from status.json.
        let again = b.adopt(k.clone(), try_dir.clone()).await.unwrap();
        assert!(matches!(again, Adopted::Finished(o) if o.exit_code == Some(0)));
        // A try whose folder holds no marker never started.
        let never = dir.path().join("never");
        std::fs::create_dir_all(&never).unwrap();
        let adopted = b
            .adopt(key("fake_adopt", "never"), never.clone())
            .await
            .unwrap();
        assert!(matches!(adopted, Adopted::NeverStarted(_)), "{adopted:?}");
        // A marker without a job id (the engine died around SubmitJob) whose job Batch
        // never got: never started; one Batch got: found by name and tag.
        let half = dir.path().join("half");
        std::fs::create_dir_all(&half).unwrap();
        let name = b.job_name(ENV, &k).unwrap();
        let marker =
            format!(r#"{{"environment":"{ENV}","job_queue":"{QUEUE}","job_name":"{name}x"}}"#);
        std::fs::write(half.join("batch_job"), marker).unwrap();
        assert!(matches!(
            b.adopt(k.clone(), half.clone()).await.unwrap(),
            Adopted::NeverStarted(_)
        ));
        let found = dir.path().join("found");
        std::fs::create_dir_all(&found).unwrap();
        let marker =
            format!(r#"{{"environment":"{ENV}","job_queue":"{QUEUE}","job_name":"{name}"}}"#);
        std::fs::write(found.join("batch_job"), marker).unwrap();
        let adopted = b.adopt(k.clone(), found.clone()).await.unwrap();
        assert!(
            matches!(adopted, Adopted::Finished(ref o) if o.exit_code == Some(0)),
            "{adopted:?}"
        );
    });
}

#[tokio::test]
async fn throttled_polls_back_off_and_the_tries_survive() {
    credentials();
    let (fake, url) = FakeBatch::start().await;
    let b = AwsBatchBackend::new(config(&url, QUEUE));
    let dir = tempfile::tempdir().unwrap();
    fake.throttle_describe(5);
    let mut running = Vec::new();
    for task in ["a", "b", "c"] {
        let d = dir.path().join(task);
        running.push(
            b.submit(spec(
                key("fake_throttle", task),
                &["run", "100", "exit", "0"],
                &d,
            ))
            .await
            .unwrap(),
        );
    }
    for r in running {
        let outcome = r.wait().await;
        assert_eq!(
            (outcome.reason, outcome.exit_code),
            (EndReason::Exited, Some(0))
        );
    }
    let stats = b.poll_stats(ENV).unwrap();
    assert_eq!(stats.throttled, 5, "{stats:?}");
    let calls = fake.calls("describejobs");
    // The five throttled calls and the first good one: the gaps grow (equal jitter:
    // each lies in [d/2, d] with d doubling from 200 ms).
    let gaps: Vec<Duration> = calls
        .windows(2)
        .take(5)
        .map(|w| w[1].at - w[0].at)
        .collect();
    eprintln!("DescribeJobs gaps while throttled: {gaps:?}");
    for pair in gaps.windows(2) {
        assert!(pair[1] >= pair[0].mul_f64(0.95), "{gaps:?}");
    }
    assert!(gaps[4] >= Duration::from_millis(1600), "{gaps:?}");
    assert!(gaps[0] <= Duration::from_millis(400), "{gaps:?}");
}

#[tokio::test]
async fn one_poller_asks_about_at_most_100_jobs_per_call() {
    credentials();
    let (fake, url) = FakeBatch::start().await;
    let b = backend(&url, QUEUE);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut running = Vec::new();
    for i in 0..250 {
        let task = format!("t{i}");
        let d = dir.path().join(&task);
        running.push(
            b.submit(spec(
                key("fake_many", &task),
                &["run", "1000", "exit", "0"],
                &d,
            ))
            .await
            .unwrap(),
        );
    }
    let submitted = started.elapsed();
    for r in running {
        assert_eq!(r.wait().await.exit_code, Some(0));
    }
    let calls = fake.calls("describejobs");
    let sizes: Vec<usize> = calls
        .iter()
        .map(|c| c.body["jobs"].as_array().map_or(0, Vec::len))
        .collect();
    assert!(sizes.iter().all(|n| *n <= 100), "{sizes:?}");
    assert!(sizes.contains(&100), "{sizes:?}");
    eprintln!(
        "250 jobs: submitted in {submitted:?}, all ended after {:?}, {} DescribeJobs calls (largest {} ids)",
        started.elapsed(),
        calls.len(),
        sizes.iter().max().unwrap()
    );
    // 250 tries watched for about a second and a half at 100 ms polls: a few calls per
    // round, not one per try.
    assert!(calls.len() < 250, "{} calls", calls.len());
    assert_eq!(fake.job_definitions(), 1);
}

#[tokio::test]
async fn a_submit_whose_answer_is_lost_is_found_by_name_not_sent_twice() {
    credentials();
    let (fake, url) = FakeBatch::start().await;
    // The SDK's own retries are on here (3 attempts): SubmitJob must still be sent once.
    let mut c = config(&url, QUEUE);
    c.sdk.max_attempts = 3;
    let b = AwsBatchBackend::new(c);
    let dir = tempfile::tempdir().unwrap();
    fake.lose_submit_answers(1);
    let running = b
        .submit(spec(
            key("fake_lost_answer", "t"),
            &["run", "100", "exit", "0"],
            dir.path(),
        ))
        .await
        .unwrap();
    let outcome = running.wait().await;
    assert_eq!(
        (outcome.reason, outcome.exit_code),
        (EndReason::Exited, Some(0)),
        "{}",
        log(dir.path())
    );
    assert_eq!(fake.calls("submitjob").len(), 1, "never sent twice");
    assert_eq!(
        fake.calls("listjobs").len(),
        1,
        "found by name at the first look"
    );
    let marker = std::fs::read_to_string(dir.path().join("batch_job")).unwrap();
    assert!(marker.contains(&fake.job_ids()[0]), "{marker}");
}
