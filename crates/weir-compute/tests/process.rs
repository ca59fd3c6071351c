//! The process backend end to end: real supervisors, real shells, real process groups.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use weir_compute::process::INHERITED_ENV;
use weir_compute::{Backend, ComputeError, EndReason, LaunchSpec, ProcessBackend, TryOutcome};

async fn run(spec: LaunchSpec) -> TryOutcome {
    backend().submit(spec).await.expect("submit").wait().await
}

#[tokio::test]
async fn success_captures_stdout_and_stderr_with_timestamps() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let cmd = "echo out1; echo err1 >&2; printf 'no newline'; echo; echo \"cwd=$PWD\"";
    let outcome = run(LaunchSpec::new(key("ok"), cmd, &dir)).await;

    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(outcome.reason, EndReason::Exited);
    assert!(outcome.started_at <= outcome.finished_at);
    assert!(outcome.peak_rss_bytes > 0, "{outcome:?}");
    assert!(outcome.cpu_seconds >= 0.0);
    let lines = log_lines(&dir);
    for expected in ["out1", "err1", "no newline"] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected} missing: {lines:?}"
        );
    }
    let cwd = std::fs::canonicalize(work(&dir)).expect("work dir");
    assert!(
        lines.contains(&format!("cwd={}", cwd.display())),
        "{lines:?}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("[weir] exited with code 0"))
    );
    // The outcome the engine got is the one recorded in the folder.
    let status: TryOutcome =
        serde_json::from_slice(&std::fs::read(dir.join("status.json")).expect("status"))
            .expect("json");
    assert_eq!(status, outcome);
}

#[tokio::test]
async fn failing_and_signalled_tasks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let failed = run(LaunchSpec::new(
        key("fail"),
        "echo oops >&2; exit 3",
        tmp.path().join("f"),
    ))
    .await;
    assert_eq!(failed.exit_code, Some(3));
    assert_eq!(failed.reason, EndReason::Exited);
    assert!(!failed.succeeded());
    let lines = log_lines(&tmp.path().join("f"));
    assert!(lines.contains(&"oops".to_owned()), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[weir] exited with code 3"))
    );

    let killed = run(LaunchSpec::new(
        key("sig"),
        "kill -KILL $$",
        tmp.path().join("s"),
    ))
    .await;
    assert_eq!(killed.reason, EndReason::Signalled(9));
    assert_eq!(killed.exit_code, None);
    assert!(!killed.succeeded());
}

#[tokio::test]
async fn environment_is_clean_and_secrets_are_masked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let mut spec = LaunchSpec::new(key("env"), "echo \"foo=$FOO\"; echo \"pw=$PW\"; env", &dir);
    spec.env = vec![
        ("FOO".into(), "bar baz".into()),
        ("PW".into(), "hunter22".into()),
    ];
    spec.secret_env = vec!["PW".into()];
    let outcome = run(spec).await;
    assert!(outcome.succeeded(), "{outcome:?}");

    let text = log_text(&dir);
    assert!(!text.contains("hunter22"), "secret leaked: {text}");
    let lines = log_lines(&dir);
    assert!(lines.contains(&"foo=bar baz".to_owned()), "{lines:?}");
    assert!(lines.contains(&"pw=***".to_owned()), "{lines:?}");
    let canonical = std::fs::canonicalize(&dir).expect("dir");
    assert!(lines.contains(&format!("WEIR_TRY_DIR={}", canonical.display())));
    assert!(lines.iter().any(|l| l.starts_with("PATH=")), "{lines:?}");

    // Nothing of the server's environment leaks, except the inherited few.
    let task_vars: HashSet<&str> = lines
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k)
        .collect();
    let shell_own = ["PWD", "OLDPWD", "SHLVL", "_"];
    for (name, _) in std::env::vars() {
        if !INHERITED_ENV.contains(&name.as_str()) && !shell_own.contains(&name.as_str()) {
            assert!(
                !task_vars.contains(name.as_str()),
                "{name} leaked into the task"
            );
        }
    }
}

#[tokio::test]
async fn timeout_kills_the_whole_group() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let mut spec = LaunchSpec::new(key("slow"), "sleep 30 & echo $! > bg.pid; sleep 30", &dir);
    spec.timeout = Some(Duration::from_millis(300));
    let began = Instant::now();
    let outcome = run(spec).await;
    let took = began.elapsed();

    assert_eq!(outcome.reason, EndReason::TimedOut);
    assert!(!outcome.succeeded());
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let grandchild = task_pid(&dir, "bg.pid").expect("background pid");
    assert!(
        poll_until(Duration::from_secs(2), || !alive(grandchild)),
        "grandchild survived"
    );
    assert!(poll_until(Duration::from_secs(2), || try_processes(&dir).is_empty()));
    assert!(
        log_lines(&dir)
            .iter()
            .any(|l| l.starts_with("[weir] timed out"))
    );
}

#[tokio::test]
async fn leftovers_of_a_finished_task_are_killed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let outcome = run(LaunchSpec::new(
        key("leak"),
        "sleep 30 & echo $! > bg.pid; echo done",
        &dir,
    ))
    .await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let leftover = task_pid(&dir, "bg.pid").expect("background pid");
    assert!(
        poll_until(Duration::from_secs(2), || !alive(leftover)),
        "leftover survived"
    );
    assert!(poll_until(Duration::from_secs(2), || try_processes(&dir).is_empty()));
    assert!(log_lines(&dir).contains(&"done".to_owned()));
}

#[tokio::test]
async fn cancel_stops_the_task() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let spec = LaunchSpec::new(key("cancel"), "echo started; sleep 30 & sleep 30", &dir);
    let running = backend().submit(spec).await.expect("submit");
    let handle = running.cancel_handle();
    let waiter = tokio::spawn(running.wait());
    assert!(poll_until(Duration::from_secs(5), || log_text(&dir)
        .contains("started")));
    assert!(!try_processes(&dir).is_empty(), "task should be running");

    let began = Instant::now();
    handle.cancel();
    let outcome = waiter.await.expect("join");
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert!(!outcome.succeeded());
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    assert!(poll_until(Duration::from_secs(2), || try_processes(&dir).is_empty()));
    handle.cancel(); // cancelling an ended try is harmless
}

#[tokio::test]
async fn cancel_escalates_to_sigkill_after_the_grace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    // An ignored SIGTERM is inherited by `sleep`, so only SIGKILL ends this task.
    let spec = LaunchSpec::new(key("stubborn"), "trap '' TERM; echo ready; sleep 30", &dir);
    let running = backend().submit(spec).await.expect("submit");
    assert!(poll_until(Duration::from_secs(5), || log_text(&dir).contains("ready")));
    let began = Instant::now();
    running.cancel();
    let outcome = running.wait().await;
    let took = began.elapsed();
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert!(
        took >= Duration::from_millis(900),
        "killed before the grace: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(poll_until(Duration::from_secs(2), || try_processes(&dir).is_empty()));
}

#[tokio::test]
async fn a_try_is_never_launched_twice() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let first = run(LaunchSpec::new(key("once"), "echo once", &dir)).await;
    assert!(first.succeeded());
    let again = backend()
        .submit(LaunchSpec::new(key("once"), "echo twice", &dir))
        .await;
    assert!(
        matches!(again, Err(ComputeError::AlreadyLaunched { .. })),
        "{again:?}"
    );
    assert!(!log_text(&dir).contains("twice"));
}

#[tokio::test]
async fn a_missing_supervisor_is_an_error_and_leaves_the_try_submittable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let broken = ProcessBackend::new([tmp.path().join("no-such-supervisor")]);
    let err = broken.submit(LaunchSpec::new(key("x"), "true", &dir)).await;
    assert!(
        matches!(err, Err(ComputeError::SpawnSupervisor { .. })),
        "{err:?}"
    );
    let none = ProcessBackend::new(Vec::<String>::new());
    let err = none.submit(LaunchSpec::new(key("x"), "true", &dir)).await;
    assert!(matches!(err, Err(ComputeError::NoSupervisor)), "{err:?}");
    let outcome = run(LaunchSpec::new(key("x"), "true", &dir)).await;
    assert!(outcome.succeeded(), "{outcome:?}");
}

#[test]
fn the_supervisor_records_a_launch_failure() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let status = std::process::Command::new(SUPERVISOR)
        .arg("--try-dir")
        .arg(&dir)
        .args(["--", "/nonexistent/program"])
        .status()
        .expect("run supervisor");
    assert_eq!(status.code(), Some(0));
    let outcome: TryOutcome =
        serde_json::from_slice(&std::fs::read(dir.join("status.json")).expect("status"))
            .expect("json");
    assert!(
        matches!(outcome.reason, EndReason::LaunchFailed(ref why) if why.contains("/nonexistent/program"))
    );
    assert_eq!(outcome.exit_code, None);
    // Started again on a settled folder, it runs nothing and says so.
    let again = std::process::Command::new(SUPERVISOR)
        .arg("--try-dir")
        .arg(&dir)
        .args(["--", "sh", "-c", "echo ran > ran"])
        .status()
        .expect("run supervisor");
    assert_eq!(again.code(), Some(3));
    assert!(!work(&dir).join("ran").exists());
}

#[tokio::test]
async fn cancel_right_after_submit_never_leaves_a_task_behind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for i in 0..5 {
        let dir = tmp.path().join(format!("t{i}"));
        let spec = LaunchSpec::new(key("early"), "echo ran > ran; sleep 30", &dir);
        let running = backend().submit(spec).await.expect("submit");
        running.cancel();
        let outcome = running.wait().await;
        // Depending on how far the supervisor got, the task never started or was
        // stopped; either way the try is cancelled and nothing of it survives.
        assert_eq!(outcome.reason, EndReason::Cancelled, "{outcome:?}");
        assert!(dir.join("status.json").exists());
        assert!(poll_until(Duration::from_secs(2), || try_processes(&dir).is_empty()));
    }
}

#[tokio::test]
async fn usage_is_measured() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    // Busy shell arithmetic in a grandchild, so the CPU time must come from descendants.
    let cmd = "sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo $i'";
    let outcome = run(LaunchSpec::new(key("cpu"), cmd, &dir)).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(log_lines(&dir).contains(&"200000".to_owned()));
    assert!(outcome.cpu_seconds > 0.02, "{outcome:?}");
    assert!(outcome.wall_seconds() > 0.0);
    assert!(outcome.peak_rss_bytes > 100 * 1024, "{outcome:?}");
}

#[tokio::test]
async fn processes_escaping_the_group_are_killed_too() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    // `setsid` puts the sleep in a session (and group) of its own, out of reach of the
    // group kill; its mark still gives it away. The task waits until the escape is done
    // (bg.pid written from inside), or the group kill could catch it before it escaped.
    let cmd = "setsid sh -c 'echo $$ > bg.pid; exec sleep 30' > /dev/null 2>&1 & \
               while [ ! -s bg.pid ]; do sleep 0.01; done; echo done";
    let outcome = run(LaunchSpec::new(key("escape"), cmd, &dir)).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let escaped = task_pid(&dir, "bg.pid").expect("background pid");
    assert!(
        poll_until(Duration::from_secs(2), || !alive(escaped)),
        "escapee survived"
    );
    assert!(poll_until(Duration::from_secs(2), || try_processes(&dir).is_empty()));
    let lines = log_lines(&dir);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("outside its process group")),
        "{lines:?}"
    );
}

/// A task printing 5 MB (50,000 lines of 100 bytes) under a 1 MiB log limit.
const LOUD: &str = "yes 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678 | head -c 5000000; echo done > finished; echo last-line";

/// Checks a log written under a 1 MiB limit from [`LOUD`]: within the limit plus Weir's
/// few remarks, one notice, and a closing count of exactly what was dropped.
fn assert_truncated_log(text: &str) {
    const MAX: usize = 1 << 20;
    assert!(text.len() <= MAX + 1024, "the log has {} bytes", text.len());
    let kept = text.lines().filter(|l| l.ends_with("5678")).count();
    assert!(kept > 8_000, "only {kept} lines kept");
    let notice = "[weir] log truncated: this try's output reached the log limit of 1Mi";
    assert_eq!(text.matches(notice).count(), 1, "one notice");
    let dropped = (50_000 - kept) * 100 + "last-line\n".len();
    assert!(
        text.contains(&format!(
            "[weir] log truncated: {dropped} bytes of output were dropped past the log limit"
        )),
        "{}",
        &text[text.len().saturating_sub(600)..]
    );
    assert!(!text.contains("last-line"));
}

#[tokio::test]
async fn a_log_past_its_limit_is_truncated_and_the_task_runs_to_its_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let outcome = backend()
        .with_log_limit(1 << 20)
        .submit(LaunchSpec::new(key("loud"), LOUD, &dir))
        .await
        .expect("submit")
        .wait()
        .await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(
        work(&dir).join("finished").exists(),
        "the task ran past its output"
    );
    let text = log_text(&dir);
    assert_truncated_log(&text);
    assert!(
        log_lines(&dir)
            .last()
            .is_some_and(|l| l.starts_with("[weir] exited with code 0")),
        "the closing line is still there"
    );
}
