//! Adoption by the docker backend after Weir "crashed": the first backend runs on a
//! runtime of its own that is shut down mid-try (its watcher tasks die as with `kill -9`);
//! a new backend must pick the container up without running it twice or losing output.

mod docker_support;

use std::path::Path;
use std::time::Duration;

use docker_support::*;
use weir_compute::docker::XcomTransfer;
use weir_compute::{
    Adopted, Backend, ComputeError, DockerBackend, DockerConfig, EndReason, LaunchSpec, TryOutcome,
};

/// Submits `spec` on a runtime of its own, waits until `ready` holds, then kills that
/// runtime with everything it was doing.
fn submit_then_crash(backend: DockerBackend, spec: LaunchSpec, ready: impl Fn() -> bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let running = runtime.block_on(backend.submit(spec)).expect("submit");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(running);
    runtime.shutdown_background();
}

fn count(lines: &[String], text: &str) -> usize {
    lines.iter().filter(|l| *l == text).count()
}

#[tokio::test]
async fn running_container_is_adopted_and_its_log_continues() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_adopt_run");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_owned();
    let key = key("dk_adopt_run", "long");
    // Prints in bursts (several lines per millisecond too), across the crash.
    let script = r#"for i in 1 2 3 4 5 6 7 8; do echo "line $i a"; echo "line $i b"; echo "err $i" >&2;
        sleep 0.3; done; echo '["ok"]' > "$WEIR_XCOM"; echo "secret $PW""#;
    let mut spec = spec(key.clone(), script, &dir);
    spec.env = vec![("PW".into(), "topsecret".into())];
    spec.secret_env = vec!["PW".into()];
    spec.timeout = Some(Duration::from_secs(60));
    let crash_dir = dir.clone();
    tokio::task::spawn_blocking(move || {
        submit_then_crash(backend(), spec, || {
            log_text(&crash_dir).contains("line 2 b")
        })
    })
    .await
    .expect("crash thread");

    let backend = backend();
    let adopted = backend
        .adopt(key.clone(), dir.clone())
        .await
        .expect("adopt");
    let Adopted::Running(running) = adopted else {
        panic!("expected a running try, got {adopted:?}");
    };
    assert_eq!(
        containers_of(&docker, &key).await,
        1,
        "exactly one container"
    );
    // A submit now must not start a second copy.
    let again = backend.submit(spec_like(&key, &dir)).await;
    assert!(
        matches!(again, Err(ComputeError::AlreadyLaunched { .. })),
        "{again:?}"
    );

    let outcome = running.wait().await;
    assert!(outcome.succeeded(), "{outcome:?}\n{}", log_text(&dir));
    let lines = log_lines(&dir);
    for i in 1..=8 {
        for text in [
            format!("line {i} a"),
            format!("line {i} b"),
            format!("err {i}"),
        ] {
            assert_eq!(
                count(&lines, &text),
                1,
                "{text:?} not exactly once in {lines:#?}"
            );
        }
    }
    assert_eq!(count(&lines, "secret ***"), 1, "{lines:#?}");
    assert!(!log_text(&dir).contains("topsecret"));
    assert_eq!(
        std::fs::read_to_string(dir.join("xcom.json")).expect("xcom"),
        "[\"ok\"]\n"
    );
    assert_eq!(containers_of(&docker, &key).await, 0, "container removed");

    // Idempotent: asking again gives the recorded outcome.
    let again = backend
        .adopt(key.clone(), dir.clone())
        .await
        .expect("adopt again");
    assert!(
        matches!(&again, Adopted::Finished(o) if *o == outcome),
        "{again:?}"
    );
}

fn spec_like(key: &weir_core::ids::TryKey, dir: &Path) -> LaunchSpec {
    spec(key.clone(), "echo second copy", dir)
}

#[tokio::test]
async fn container_that_ended_while_weir_was_down_is_settled() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_adopt_done");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_owned();
    let key = key("dk_adopt_done", "quick");
    let script = r#"echo first; sleep 0.5; echo second; echo '{"n": 1}' > "$WEIR_XCOM"; exit 3"#;
    let crash_dir = dir.clone();
    let spec = spec(key.clone(), script, &dir);
    tokio::task::spawn_blocking(move || {
        // Submitted with the archive transfer; adopted by a backend configured otherwise:
        // the container itself tells how its XCom comes out.
        let archive = DockerBackend::new(DockerConfig {
            xcom: XcomTransfer::Archive,
            ..config()
        });
        submit_then_crash(archive, spec, || log_text(&crash_dir).contains("first"))
    })
    .await
    .expect("crash thread");
    let name = backend().container_name(&key);
    let exited = poll_until(Duration::from_secs(20), async || {
        inspect(&docker, &name)
            .await
            .and_then(|c| c.state)
            .is_some_and(|s| s.running == Some(false))
    })
    .await;
    assert!(exited, "container did not exit");

    let adopted = backend()
        .adopt(key.clone(), dir.clone())
        .await
        .expect("adopt");
    let Adopted::Finished(outcome) = adopted else {
        panic!("expected a finished try, got {adopted:?}");
    };
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.exit_code, Some(3));
    assert!(outcome.finished_at > outcome.started_at);
    let lines = log_lines(&dir);
    assert_eq!(count(&lines, "first"), 1, "{lines:?}");
    assert_eq!(count(&lines, "second"), 1, "{lines:?}");
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("[weir] exited with code 3"))
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("xcom.json")).expect("xcom"),
        "{\"n\": 1}\n"
    );
    assert!(
        inspect(&docker, &name).await.is_none(),
        "container not removed"
    );
    let status: TryOutcome =
        serde_json::from_slice(&std::fs::read(dir.join("status.json")).expect("status"))
            .expect("json");
    assert_eq!(status, outcome);
}

#[tokio::test]
async fn cancel_works_on_an_adopted_try() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_adopt_cancel");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_owned();
    let key = key("dk_adopt_cancel", "sleepy");
    let crash_dir = dir.clone();
    let spec = spec(key.clone(), "echo up; exec sleep 60", &dir);
    tokio::task::spawn_blocking(move || {
        submit_then_crash(backend(), spec, || log_text(&crash_dir).contains("up"))
    })
    .await
    .expect("crash thread");
    let adopted = backend()
        .adopt(key.clone(), dir.clone())
        .await
        .expect("adopt");
    let Adopted::Running(running) = adopted else {
        panic!("expected a running try, got {adopted:?}");
    };
    running.cancel_handle().cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(15), running.wait())
        .await
        .expect("cancel took too long");
    assert_eq!(outcome.reason, EndReason::Cancelled, "{outcome:?}");
    assert_eq!(count(&log_lines(&dir), "up"), 1);
    assert_eq!(containers_of(&docker, &key).await, 0);
}

#[tokio::test]
async fn absent_containers_are_never_started_lost_or_recorded() {
    let docker = docker().await;
    let _cleanup = Cleanup::new("dk_adopt_none");
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = backend();

    // Never launched at all.
    let never = tmp.path().join("never");
    std::fs::create_dir_all(&never).expect("mkdir");
    let adopted = backend
        .adopt(key("dk_adopt_none", "never"), never.clone())
        .await
        .expect("adopt");
    assert!(
        matches!(&adopted, Adopted::NeverStarted(why) if why.contains("no container was created")),
        "{adopted:?}"
    );
    // Recorded, so the answer is stable.
    let again = backend
        .adopt(key("dk_adopt_none", "never"), never)
        .await
        .expect("adopt");
    assert!(matches!(again, Adopted::NeverStarted(_)), "{again:?}");

    // Launched, then its container vanished without a result.
    let gone = tmp.path().join("gone");
    std::fs::create_dir_all(&gone).expect("mkdir");
    std::fs::write(gone.join("container"), "weirtest-x").expect("marker");
    let adopted = backend
        .adopt(key("dk_adopt_none", "gone"), gone)
        .await
        .expect("adopt");
    assert!(
        matches!(&adopted, Adopted::Finished(o) if matches!(&o.reason, EndReason::Lost(why) if why.contains("is gone"))),
        "{adopted:?}"
    );

    // No try folder at all.
    let missing = backend
        .adopt(key("dk_adopt_none", "missing"), tmp.path().join("missing"))
        .await
        .expect("adopt");
    assert!(
        matches!(&missing, Adopted::NeverStarted(why) if why.contains("does not exist")),
        "{missing:?}"
    );
    drop(docker);
}

#[tokio::test]
async fn timeout_holds_across_a_restart() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_adopt_timeout");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_owned();
    let key = key("dk_adopt_timeout", "slow");
    let mut spec = spec(key.clone(), "echo up; exec sleep 60", &dir);
    spec.timeout = Some(Duration::from_secs(2));
    let crash_dir = dir.clone();
    let began = std::time::Instant::now();
    tokio::task::spawn_blocking(move || {
        submit_then_crash(backend(), spec, || log_text(&crash_dir).contains("up"))
    })
    .await
    .expect("crash thread");
    let outcome = backend()
        .adopt(key.clone(), dir.clone())
        .await
        .expect("adopt");
    let outcome = tokio::time::timeout(Duration::from_secs(20), outcome.wait())
        .await
        .expect("the adopted try kept no deadline");
    assert_eq!(outcome.reason, EndReason::TimedOut, "{outcome:?}");
    let took = began.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(12),
        "{took:?}"
    );
    assert_eq!(containers_of(&docker, &key).await, 0);
}

#[tokio::test]
async fn container_created_but_never_started() {
    use bollard::models::ContainerCreateBody;
    use bollard::query_parameters::CreateContainerOptions;
    use std::collections::HashMap;

    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_adopt_created");
    let tmp = tempfile::tempdir().expect("tempdir");
    // As if Weir died between create and start.
    let create = async |task: &str| {
        let key = key("dk_adopt_created", task);
        let labels = HashMap::from([
            ("weir.try".to_owned(), key.slug()),
            ("weir.dag".to_owned(), "dk_adopt_created".to_owned()),
        ]);
        let options = CreateContainerOptions {
            name: Some(backend().container_name(&key)),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(IMAGE.to_owned()),
            cmd: Some(vec!["echo".into(), "stale".into()]),
            labels: Some(labels),
            ..Default::default()
        };
        docker
            .create_container(Some(options), body)
            .await
            .expect("create");
        key
    };

    // Adopted: reported never started (nothing ran) and removed.
    let key_a = create("adopted").await;
    let dir = tmp.path().join("a");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("container"), backend().container_name(&key_a)).expect("marker");
    let adopted = backend().adopt(key_a.clone(), dir).await.expect("adopt");
    assert!(
        matches!(&adopted, Adopted::NeverStarted(why) if why.contains("created but not started")),
        "{adopted:?}"
    );
    assert_eq!(containers_of(&docker, &key_a).await, 0);

    // Submitted again: the unstarted container is replaced, and the new one runs.
    let key_s = create("resubmitted").await;
    let dir = tmp.path().join("s");
    let outcome = backend()
        .submit(spec(key_s.clone(), "echo fresh", &dir))
        .await
        .expect("submit")
        .wait()
        .await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let lines = log_lines(&dir);
    assert!(lines.contains(&"fresh".to_owned()), "{lines:?}");
    assert!(!lines.contains(&"stale".to_owned()), "{lines:?}");
    assert_eq!(containers_of(&docker, &key_s).await, 0);
}
