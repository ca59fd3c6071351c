//! The inline backend with a scripted work: results, XCom, masking, timeout, cancel,
//! a work that ignores the stop, and adoption after a restart.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use weir_core::ids::{DagId, RunId, TaskId};
use weir_core::lifecycle::XComRead;

use super::*;

/// What the scripted work does.
enum Script {
    /// Logs lines, then returns the result.
    Answer(Vec<&'static str>, InlineResult),
    /// Waits for the stop signal (recording it saw it), then fails.
    UntilStopped(Arc<AtomicBool>),
    /// Ignores the stop signal.
    Forever,
}

struct Fake(Script);

impl InlineWork for Fake {
    fn run(self: Arc<Self>, ctx: InlineContext) -> BoxFuture<'static, InlineResult> {
        Box::pin(async move {
            match &self.0 {
                Script::Answer(lines, result) => {
                    for line in lines {
                        ctx.log.line(line);
                    }
                    result.clone()
                }
                Script::UntilStopped(saw) => {
                    ctx.log.line("waiting");
                    ctx.stop.raised().await;
                    saw.store(true, Ordering::SeqCst);
                    InlineResult::failed("stopped", true)
                }
                Script::Forever => pending().await,
            }
        })
    }
}

fn key() -> TryKey {
    TryKey {
        dag_id: DagId::new("d").expect("id"),
        run_id: RunId::new("r").expect("id"),
        task_id: TaskId::new("t").expect("id"),
        map_index: -1,
        try_number: 1,
    }
}

fn spec(dir: &Path, script: Script) -> LaunchSpec {
    let mut spec = LaunchSpec::for_inline(key(), Arc::new(Fake(script)), "SELECT 1", dir);
    spec.env = vec![
        ("WEIR_CONN_PASSWORD".into(), "hunter2".into()),
        ("PLAIN".into(), "visible".into()),
    ];
    spec.secret_env = vec!["WEIR_CONN_PASSWORD".into()];
    spec
}

fn log(dir: &Path) -> String {
    fs::read_to_string(dir.join(LOG)).unwrap_or_default()
}

#[tokio::test]
async fn success_writes_the_masked_xcom_and_the_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let result = InlineResult::Succeeded {
        xcom: Some(json!({"password": "hunter2", "rows": [1, 2], "hunter2": true})),
    };
    let script = Script::Answer(vec!["connected as weir:hunter2", "2 rows\nvisible"], result);
    let running = InlineBackend::new()
        .submit(spec(&dir, script))
        .await
        .expect("submit");
    let outcome = running.wait().await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(
        outcome.xcom,
        XComRead::Value(json!({"password": "***", "rows": [1, 2], "***": true}))
    );
    let text = log(&dir);
    assert!(!text.contains("hunter2"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].ends_with("Z connected as weir:***"), "{text}");
    assert!(lines[2].ends_with("Z visible"), "{text}");
    assert_eq!(
        lines[0].find(' '),
        Some(24),
        "RFC 3339 stamp with milliseconds"
    );
    // The outcome is recorded, and the try cannot be submitted twice.
    let status = layout::read_status(&dir).expect("read").expect("status");
    assert_eq!(status.reason, EndReason::Exited);
    let again = InlineBackend::new()
        .submit(spec(&dir, Script::Forever))
        .await;
    assert!(
        matches!(again, Err(ComputeError::AlreadyLaunched { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn failures_carry_the_masked_reason_and_whether_to_retry() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let script = Script::Answer(
        vec![],
        InlineResult::failed("HTTP 404 for user:hunter2", false),
    );
    let outcome = InlineBackend::new()
        .submit(spec(&dir, script))
        .await
        .expect("submit")
        .wait()
        .await;
    assert_eq!(
        outcome.reason,
        EndReason::Failed {
            why: "HTTP 404 for user:***".into(),
            retryable: false
        }
    );
    assert_eq!((outcome.exit_code, outcome.xcom), (None, XComRead::None));
}

#[tokio::test]
async fn an_xcom_over_the_cap_fails_the_try() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let big = "a".repeat(MAX_XCOM_BYTES as usize + 1);
    let script = Script::Answer(
        vec![],
        InlineResult::Succeeded {
            xcom: Some(json!(big)),
        },
    );
    let outcome = InlineBackend::new()
        .submit(spec(&dir, script))
        .await
        .expect("submit")
        .wait()
        .await;
    assert!(
        matches!(&outcome.reason, EndReason::Failed { why, retryable: false } if why.contains("the XCom limit is 1048576")),
        "{outcome:?}"
    );
    assert!(!dir.join(XCOM).exists());
}

#[tokio::test]
async fn a_timeout_raises_the_stop_signal_and_reports_timed_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let saw = Arc::new(AtomicBool::new(false));
    let mut spec = spec(&dir, Script::UntilStopped(saw.clone()));
    spec.timeout = Some(Duration::from_millis(100));
    let outcome = InlineBackend::new()
        .submit(spec)
        .await
        .expect("submit")
        .wait()
        .await;
    assert_eq!(outcome.reason, EndReason::TimedOut);
    assert!(saw.load(Ordering::SeqCst), "the work was told to stop");
    assert!(
        log(&dir).contains("[weir] timed out after 100ms"),
        "{}",
        log(&dir)
    );
}

#[tokio::test]
async fn a_cancel_stops_the_work_and_a_deaf_one_is_abandoned() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let saw = Arc::new(AtomicBool::new(false));
    let running = InlineBackend::new()
        .submit(spec(&dir, Script::UntilStopped(saw.clone())))
        .await
        .expect("submit");
    running.cancel();
    assert_eq!(running.wait().await.reason, EndReason::Cancelled);
    assert!(saw.load(Ordering::SeqCst));

    let dir = tmp.path().join("deaf");
    let running = InlineBackend::new()
        .with_stop_grace(Duration::from_millis(50))
        .submit(spec(&dir, Script::Forever))
        .await
        .expect("submit");
    running.cancel();
    assert_eq!(running.wait().await.reason, EndReason::Cancelled);
    assert!(
        log(&dir).contains("did not stop within 50ms; abandoned"),
        "{}",
        log(&dir)
    );
}

#[tokio::test]
async fn adoption_after_a_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = InlineBackend::new();

    // No folder, or a folder without the launch marker: never started, and it stays so.
    let missing = tmp.path().join("missing");
    let adopted = backend.adopt(key(), missing).await.expect("adopt");
    assert!(matches!(adopted, Adopted::NeverStarted(_)), "{adopted:?}");
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).expect("mkdir");
    for _ in 0..2 {
        let adopted = backend.adopt(key(), empty.clone()).await.expect("adopt");
        assert!(matches!(adopted, Adopted::NeverStarted(_)), "{adopted:?}");
    }
    // A submit after that verdict refuses to run.
    let late = backend.submit(spec(&empty, Script::Forever)).await;
    assert!(
        matches!(late, Err(ComputeError::AlreadyLaunched { .. })),
        "{late:?}"
    );

    // Launched, no outcome: it died with the server.
    let died = tmp.path().join("died");
    fs::create_dir_all(&died).expect("mkdir");
    fs::write(died.join(STARTED), "").expect("marker");
    for _ in 0..2 {
        match backend.adopt(key(), died.clone()).await.expect("adopt") {
            Adopted::Finished(outcome) => {
                assert!(matches!(outcome.reason, EndReason::Lost(_)), "{outcome:?}")
            }
            other => panic!("{other:?}"),
        }
    }

    // Finished while recorded: the outcome, with its XCom.
    let done = tmp.path().join("done");
    let script = Script::Answer(
        vec![],
        InlineResult::Succeeded {
            xcom: Some(json!(7)),
        },
    );
    backend
        .submit(spec(&done, script))
        .await
        .expect("submit")
        .wait()
        .await;
    match backend.adopt(key(), done).await.expect("adopt") {
        Adopted::Finished(outcome) => assert_eq!(outcome.xcom, XComRead::Value(json!(7))),
        other => panic!("{other:?}"),
    }
}
