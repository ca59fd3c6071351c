//! The docker backend end to end, against the real daemon and the locally built test
//! image (`scripts/build-test-image.sh`): logs, XCom, limits, OOM, timeout, cancel,
//! launch failures and an unreachable daemon.

mod docker_support;

use std::time::{Duration, Instant};

use docker_support::*;
use weir_compute::docker::XcomTransfer;
use weir_compute::{
    Backend, ComputeError, DockerBackend, DockerConfig, EndReason, LaunchSpec, PullPolicy,
    TryOutcome,
};

/// The outcome the try folder records: `status.json`, with the XCom file beside it.
fn status_json(dir: &std::path::Path) -> TryOutcome {
    let bytes = std::fs::read(dir.join("status.json")).expect("status.json");
    let recorded = serde_json::from_slice(&bytes).expect("status json");
    weir_compute::TryFolder::at(dir).with_xcom(recorded)
}

#[tokio::test]
async fn output_is_logged_live_and_xcom_collected() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_logs");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let key = key("dk_logs", "hello");
    let script = r#"echo out1; echo err1 >&2; echo "pw=$PW"; echo "xcom=$WEIR_XCOM";
        printf '{"rows": 3}' > "$WEIR_XCOM";
        while [ ! -e /tmp/go ]; do sleep 0.05; done; echo late; printf 'no newline'"#;
    let mut spec = spec(key.clone(), script, &dir);
    spec.env = vec![("PW".into(), "hunter2".into())];
    spec.secret_env = vec!["PW".into()];
    let running = backend().submit(spec).await.expect("submit");
    let name = backend().container_name(&key);

    // Live: the first lines are in the log while the container still runs.
    let live = poll_until(Duration::from_secs(20), async || {
        log_text(&dir).contains("err1")
    })
    .await;
    assert!(live, "no live output: {:?}", log_text(&dir));
    let running_state = inspect(&docker, &name).await.expect("container exists");
    assert_eq!(running_state.state.and_then(|s| s.running), Some(true));
    assert_eq!(containers_of(&docker, &key).await, 1);
    let go = std::process::Command::new("docker")
        .args(["exec", &name, "touch", "/tmp/go"])
        .status()
        .expect("docker exec");
    assert!(go.success());

    let outcome = running.wait().await;
    assert!(outcome.succeeded(), "{outcome:?}\n{}", log_text(&dir));
    assert_eq!(outcome.exit_code, Some(0));
    assert!(outcome.started_at <= outcome.finished_at);
    let lines = log_lines(&dir);
    for expected in [
        "out1",
        "err1",
        "pw=***",
        "xcom=/weir/xcom.json",
        "no newline",
        "late",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected} missing: {lines:?}"
        );
    }
    assert!(!log_text(&dir).contains("hunter2"), "secret leaked");
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("[weir] exited with code 0")),
        "{lines:?}"
    );
    let xcom = std::fs::read_to_string(dir.join("xcom.json")).expect("xcom.json");
    assert_eq!(xcom, r#"{"rows": 3}"#);
    assert_eq!(status_json(&dir), outcome);
    assert!(
        inspect(&docker, &name).await.is_none(),
        "container not removed"
    );
}

#[tokio::test]
async fn xcom_through_the_archive_api_and_never_through_symlinks() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_xcom");
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = DockerBackend::new(DockerConfig {
        xcom: XcomTransfer::Archive,
        ..config()
    });
    let dir = tmp.path().join("archive");
    let script = r#"echo "$WEIR_XCOM"; printf '[1, "two"]' > "$WEIR_XCOM""#;
    let outcome = archive
        .submit(spec(key("dk_xcom", "archive"), script, &dir))
        .await
        .expect("submit")
        .wait()
        .await;
    assert!(outcome.succeeded(), "{outcome:?}\n{}", log_text(&dir));
    assert!(log_lines(&dir).contains(&"/weir/xcom.json".to_owned()));
    let xcom = std::fs::read_to_string(dir.join("xcom.json")).expect("xcom.json");
    assert_eq!(xcom, r#"[1, "two"]"#);
    assert!(
        !dir.join("io").exists(),
        "nothing mounted with the archive transfer"
    );

    // No XCom written: no file.
    let none = tmp.path().join("none");
    let outcome = archive
        .submit(spec(key("dk_xcom", "none"), "true", &none))
        .await
        .expect("submit")
        .wait()
        .await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(!none.join("xcom.json").exists());

    // A symlink left as the XCom (pointing at a file of the host, through the bind
    // mount) is never followed, with either transfer.
    let host_file = tmp.path().join("host-secret");
    std::fs::write(&host_file, "host secret").expect("write");
    for (name, backend) in [("bind", backend()), ("arch", archive.clone())] {
        let dir = tmp.path().join(name);
        let script = format!("ln -s {} \"$WEIR_XCOM\"", host_file.display());
        let outcome = backend
            .submit(spec(key("dk_xcom", name), &script, &dir))
            .await
            .expect("submit")
            .wait()
            .await;
        assert!(outcome.succeeded(), "{outcome:?}\n{}", log_text(&dir));
        assert!(!dir.join("xcom.json").exists(), "{name}: symlink followed");
        let lines = log_lines(&dir);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("is not a regular file; no XCom")),
            "{name}: {lines:?}"
        );
    }
}

#[tokio::test]
async fn limits_and_sandbox_are_applied() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_limits");
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key("dk_limits", "big");
    let mut spec = spec(key.clone(), "echo ready; exec sleep 30", tmp.path());
    let launch = spec.container.as_mut().expect("container");
    launch.vcpu = Some(0.5);
    launch.memory_bytes = Some(64 << 20);
    let backend = backend();
    let running = backend.submit(spec).await.expect("submit");
    let name = backend.container_name(&key);

    let inspected = inspect(&docker, &name).await.expect("container exists");
    let host = inspected.host_config.expect("host config");
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.memory, Some(64 << 20));
    assert_eq!(host.memory_swap, Some(64 << 20));
    assert_eq!(host.privileged, Some(false));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert!(
        host.security_opt
            .unwrap_or_default()
            .contains(&"no-new-privileges".to_owned())
    );
    assert!(host.binds.unwrap_or_default().is_empty());
    assert_ne!(host.network_mode.as_deref(), Some("host"));
    let labels = inspected.config.and_then(|c| c.labels).expect("labels");
    assert_eq!(labels["weir.try"], key.slug());
    assert_eq!(labels["weir.team"], "testers");
    assert_eq!(labels["weir.dag"], "dk_limits");
    assert_eq!(labels["weir.task"], "big");
    assert_eq!(labels["weir.try_number"], "1");
    assert_eq!(labels["weir.map_index"], "-1");

    // Cancel: stopped well within the grace plus slack, reported as cancelled.
    assert!(
        poll_until(Duration::from_secs(20), async || log_text(tmp.path())
            .contains("ready"))
        .await
    );
    let began = Instant::now();
    running.cancel();
    let outcome = running.wait().await;
    assert_eq!(outcome.reason, EndReason::Cancelled, "{outcome:?}");
    assert!(!outcome.succeeded());
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "{:?}",
        began.elapsed()
    );
    assert!(
        log_lines(tmp.path())
            .iter()
            .any(|l| l == "[weir] stopping the container: cancelled")
    );
    assert_eq!(status_json(tmp.path()).reason, EndReason::Cancelled);
    assert!(
        inspect(&docker, &name).await.is_none(),
        "container not removed"
    );
}

#[tokio::test]
async fn usage_is_measured() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_usage");
    let tmp = tempfile::tempdir().expect("tempdir");
    // Busy for about 2.5 s of CPU, holding ~20 MB, so several stats samples see it.
    let script = "x=$(head -c 20000000 /dev/zero | tr '\\0' a); \
                  end=$(( $(date +%s) + 3 )); while [ $(date +%s) -lt $end ]; do :; done; \
                  echo ${#x}";
    let outcome = backend()
        .submit(spec(key("dk_usage", "burn"), script, tmp.path()))
        .await
        .expect("submit")
        .wait()
        .await;
    assert!(outcome.succeeded(), "{outcome:?}\n{}", log_text(tmp.path()));
    assert!(log_lines(tmp.path()).iter().any(|l| l == "20000000"));
    assert!(outcome.cpu_seconds > 0.5, "{outcome:?}");
    assert!(outcome.peak_rss_bytes > 20_000_000, "{outcome:?}");
    assert!(outcome.wall_seconds() >= 2.0, "{outcome:?}");
}

#[tokio::test]
async fn oom_kill_is_reported_as_such() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_oom");
    let tmp = tempfile::tempdir().expect("tempdir");
    // dd's 64 MiB buffer cannot fit in 8 MiB.
    let mut spec = spec(
        key("dk_oom", "hog"),
        "echo start; dd if=/dev/zero of=/dev/null bs=64M count=1",
        tmp.path(),
    );
    spec.container.as_mut().expect("container").memory_bytes = Some(8 << 20);
    let outcome = backend().submit(spec).await.expect("submit").wait().await;
    assert_eq!(outcome.reason, EndReason::OutOfMemory, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(137));
    assert!(!outcome.succeeded());
    assert_eq!(outcome.reason.to_string(), "out of memory (OOM-killed)");
    let lines = log_lines(tmp.path());
    assert!(lines.iter().any(|l| l == "start"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("out of memory")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn timeout_stops_even_a_task_ignoring_sigterm() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_timeout");
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key("dk_timeout", "slow");
    let mut spec = spec(
        key.clone(),
        "trap '' TERM; echo waiting; sleep 30; echo done",
        tmp.path(),
    );
    spec.timeout = Some(Duration::from_secs(1));
    let began = Instant::now();
    let outcome = backend().submit(spec).await.expect("submit").wait().await;
    let took = began.elapsed();
    assert_eq!(outcome.reason, EndReason::TimedOut, "{outcome:?}");
    assert_eq!(
        outcome.exit_code,
        Some(137),
        "killed after the grace: {outcome:?}"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "{took:?}"
    );
    let lines = log_lines(tmp.path());
    assert!(lines.iter().any(|l| l == "waiting"), "{lines:?}");
    assert!(!lines.iter().any(|l| l == "done"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "[weir] stopping the container: timed out")
    );
    assert_eq!(containers_of(&docker, &key).await, 0);
}

#[tokio::test]
async fn launch_failures_are_outcomes_with_clear_reasons() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_fail");
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = backend();

    // Absent image, `pull: never`.
    let mut absent = spec(key("dk_fail", "absent"), "true", &tmp.path().join("a"));
    absent.container.as_mut().expect("container").image = "weir-test/absent:nope".into();
    let outcome = backend.submit(absent).await.expect("submit").wait().await;
    assert_eq!(
        outcome.reason,
        EndReason::LaunchFailed(
            "image `weir-test/absent:nope` is not present on this machine and `pull: never` \
             forbids pulling it"
                .into()
        )
    );
    assert_eq!(status_json(&tmp.path().join("a")), outcome);

    // A registry that refuses: the registry's words are in the reason.
    let mut unpullable = spec(key("dk_fail", "pull"), "true", &tmp.path().join("p"));
    let launch = unpullable.container.as_mut().expect("container");
    launch.image = "localhost:5999/weir-test/absent:1".into();
    launch.pull = PullPolicy::IfNotPresent;
    let outcome = backend
        .submit(unpullable)
        .await
        .expect("submit")
        .wait()
        .await;
    let EndReason::LaunchFailed(why) = &outcome.reason else {
        panic!("{outcome:?}");
    };
    assert!(
        why.starts_with("cannot pull image `localhost:5999/weir-test/absent:1`: "),
        "{why}"
    );
    assert!(why.contains("localhost:5999"), "{why}");

    // A command that does not exist in the image: without an init process the daemon
    // cannot start the container at all...
    let no_init = DockerBackend::new(DockerConfig {
        init: false,
        ..backend.config().clone()
    });
    let mut missing = spec(key("dk_fail", "cmd"), "", &tmp.path().join("c"));
    missing.container.as_mut().expect("container").command = Some(vec!["no-such-program".into()]);
    let outcome = no_init
        .submit(missing.clone())
        .await
        .expect("submit")
        .wait()
        .await;
    let EndReason::LaunchFailed(why) = &outcome.reason else {
        panic!("{outcome:?}");
    };
    assert!(why.contains("no-such-program"), "{why}");
    assert_eq!(containers_of(&docker, &key("dk_fail", "cmd")).await, 0);
    // ...with one (the default) the init reports it and exits 127, like `sh` would.
    missing.key = key("dk_fail", "cmd2");
    missing.try_dir = tmp.path().join("c2");
    let outcome = backend.submit(missing).await.expect("submit").wait().await;
    assert_eq!(
        (&outcome.reason, outcome.exit_code),
        (&EndReason::Exited, Some(127))
    );
    assert!(log_text(&tmp.path().join("c2")).contains("no-such-program"));

    // Privileges are refused by default.
    let mut privileged = spec(key("dk_fail", "priv"), "true", &tmp.path().join("v"));
    privileged
        .container
        .as_mut()
        .expect("container")
        .host_network = true;
    let outcome = backend
        .submit(privileged)
        .await
        .expect("submit")
        .wait()
        .await;
    let EndReason::LaunchFailed(why) = &outcome.reason else {
        panic!("{outcome:?}");
    };
    assert!(why.contains("the host network"), "{why}");

    // A shell command is not a container.
    let shell = LaunchSpec::new(key("dk_fail", "shell"), "true", tmp.path().join("s"));
    let err = backend.submit(shell).await.expect_err("no container");
    assert!(matches!(err, ComputeError::Unsupported { .. }), "{err}");
}

#[tokio::test]
async fn submitting_twice_is_refused() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_twice");
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key("dk_twice", "once");
    let backend = backend();
    let running = backend
        .submit(spec(key.clone(), "sleep 30", tmp.path()))
        .await
        .expect("submit");
    let again = backend
        .submit(spec(key.clone(), "sleep 30", tmp.path()))
        .await;
    assert!(
        matches!(again, Err(ComputeError::AlreadyLaunched { .. })),
        "{again:?}"
    );
    // Even from another try folder: the daemon's container name is the guard.
    let other = backend
        .submit(spec(key.clone(), "sleep 30", &tmp.path().join("x")))
        .await;
    assert!(
        matches!(other, Err(ComputeError::AlreadyLaunched { .. })),
        "{other:?}"
    );
    assert_eq!(containers_of(&docker, &key).await, 1);
    running.cancel();
    assert_eq!(running.wait().await.reason, EndReason::Cancelled);
    let after = backend.submit(spec(key.clone(), "true", tmp.path())).await;
    assert!(
        matches!(after, Err(ComputeError::AlreadyLaunched { .. })),
        "{after:?}"
    );
}

#[tokio::test]
async fn unreachable_daemon_is_unavailable_not_failed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = DockerBackend::new(DockerConfig {
        socket: tmp.path().join("no-docker.sock"),
        ..DockerConfig::default()
    });
    let key = key("dk_down", "t");
    let dir = tmp.path().join("try");
    let err = backend
        .submit(spec(key.clone(), "true", &dir))
        .await
        .expect_err("down");
    assert!(
        matches!(
            err,
            ComputeError::BackendUnavailable {
                backend: "docker",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("no-docker.sock"), "{err}");
    // Nothing is marked launched: the engine can submit it again later.
    assert!(!dir.join("container").exists());
    assert!(!dir.join("status.json").exists());
    let again = backend
        .submit(spec(key.clone(), "true", &dir))
        .await
        .expect_err("down");
    assert!(
        matches!(again, ComputeError::BackendUnavailable { .. }),
        "{again}"
    );
    assert!(matches!(
        backend.ping().await,
        Err(ComputeError::BackendUnavailable { .. })
    ));
    let adopt = backend.adopt(key, dir).await.expect_err("down");
    assert!(
        matches!(adopt, ComputeError::BackendUnavailable { .. }),
        "{adopt}"
    );
}

#[tokio::test]
async fn ping_and_capacity() {
    let backend = backend();
    backend.ping().await.expect("ping");
    let capacity = backend.capacity().await.expect("capacity");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        capacity.vcpus >= 1 && capacity.vcpus as usize >= cpus.min(1),
        "{capacity:?}"
    );
    assert!(capacity.memory_bytes > 64 << 20, "{capacity:?}");
}

#[tokio::test]
async fn a_log_past_its_limit_is_truncated_and_the_container_runs_to_its_end() {
    let docker = docker().await;
    require_image(&docker).await;
    let _cleanup = Cleanup::new("dk_loud");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("loud");
    const MAX: usize = 1 << 20;
    let backend = DockerBackend::new(DockerConfig {
        log_max_bytes: Some(MAX as u64),
        ..config()
    });
    // 5 MB of 100-byte lines, then an XCom written after all of it.
    let script = "yes 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678 | head -c 5000000; echo '\"done\"' > \"$WEIR_XCOM\"; echo last-line";
    let outcome = backend
        .submit(spec(key("dk_loud", "loud"), script, &dir))
        .await
        .expect("submit")
        .wait()
        .await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let xcom = std::fs::read_to_string(dir.join("xcom.json")).expect("xcom.json");
    assert_eq!(xcom.trim(), "\"done\"", "the task ran past its output");
    let text = log_text(&dir);
    assert!(text.len() <= MAX + 1024, "the log has {} bytes", text.len());
    assert!(text.lines().filter(|l| l.ends_with("5678")).count() > 8_000);
    let notice = "[weir] log truncated: this try's output reached the log limit of 1Mi";
    assert_eq!(text.matches(notice).count(), 1, "one notice");
    assert!(
        text.contains("bytes of output were dropped past the log limit"),
        "{}",
        &text[text.len().saturating_sub(600)..]
    );
    assert!(!text.contains("last-line"));
}
