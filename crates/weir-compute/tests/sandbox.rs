//! The shell sandbox end to end (issue 17, findings 1a and 1c): real supervisors running
//! real `bwrap`, as root switching to `nobody`, against files the task must not reach.
//!
//! These tests need root (to switch users) and Debian's `bubblewrap`; without them they
//! say so on stderr and pass without checking anything (CI runs them as root).

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use weir_compute::{Backend, EndReason, LaunchSpec, Sandbox, TryOutcome};

/// Whether the sandbox can be tested here; says loudly why not.
fn can_sandbox(test: &str) -> bool {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED {test}: needs root (to switch to the sandbox user); CI runs as root");
        return false;
    }
    if !Path::new("/usr/bin/bwrap").is_file() {
        eprintln!("SKIPPED {test}: needs bwrap (Debian's `bubblewrap` package)");
        return false;
    }
    true
}

fn sandbox() -> Sandbox {
    Sandbox {
        user: "nobody".into(),
        network: true,
        program: "bwrap".into(),
        team: "beta".into(),
    }
}

async fn run(mut spec: LaunchSpec, sandbox: Sandbox) -> TryOutcome {
    spec.sandbox = Some(sandbox);
    backend().submit(spec).await.expect("submit").wait().await
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[tokio::test]
async fn a_sandboxed_task_sees_nothing_of_weir_or_the_server() {
    if !can_sandbox("a_sandboxed_task_sees_nothing_of_weir_or_the_server") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home");
    fs::create_dir_all(&home).expect("home");
    // Stand-ins for the database and another try's log, beside this try's folder.
    let db = home.join("weir.db");
    fs::write(&db, "DATABASE-CONTENTS").expect("db");
    let other = home.join("other-try");
    fs::create_dir_all(&other).expect("other try");
    fs::write(other.join("log"), "ALPHA-LOG-LINE").expect("other log");
    let dir = home.join("try");
    let me = std::process::id();
    let cmd = format!(
        "echo \"uid=$(id -u)\"; echo \"home=$HOME pwd=$PWD path=$PATH xcom=$WEIR_XCOM\"; \
         cat {db} || echo no-db-read; echo TAMPERED >> {db} || echo no-db-write; \
         cat {other}/log || echo no-other-log; \
         ls /proc/{me} > /dev/null 2>&1 || echo no-server-proc; \
         echo \"procs=$(ls /proc | grep -c '^[0-9]')\"; \
         env | grep -c PW= ; echo \"pw=$PW\"; \
         echo '{{\"rows\": 3}}' > \"$WEIR_XCOM\"; echo ok > mine",
        db = db.display(),
        other = other.display(),
    );
    let mut spec = LaunchSpec::new(key("peek"), cmd, &dir);
    spec.env = vec![("PW".into(), "hunter22".into())];
    spec.secret_env = vec!["PW".into()];
    let outcome = run(spec, sandbox()).await;
    assert!(outcome.succeeded(), "{outcome:?}\n{}", log_text(&dir));

    let text = log_text(&dir);
    let lines = log_lines(&dir);
    assert!(lines.contains(&"uid=65534".to_owned()), "{lines:?}");
    assert!(
        lines.contains(
            &"home=/weir/work pwd=/weir/work path=/usr/local/bin:/usr/bin:/bin xcom=/weir/xcom.json"
                .to_owned()
        ),
        "{lines:?}"
    );
    for refused in [
        "no-db-read",
        "no-db-write",
        "no-other-log",
        "no-server-proc",
    ] {
        assert!(lines.contains(&refused.to_owned()), "{refused}: {lines:?}");
    }
    assert!(!text.contains("DATABASE-CONTENTS") && !text.contains("ALPHA-LOG-LINE"));
    assert_eq!(fs::read_to_string(&db).expect("db"), "DATABASE-CONTENTS");
    // Its own pid namespace: a handful of processes (bwrap's init, the shell, ls, grep).
    let procs: usize = lines
        .iter()
        .find_map(|l| l.strip_prefix("procs="))
        .and_then(|n| n.parse().ok())
        .expect("procs line");
    assert!(procs < 10, "the task sees {procs} processes: {lines:?}");
    // Secrets are set (and masked in the log) as outside the sandbox.
    assert!(lines.contains(&"pw=***".to_owned()), "{lines:?}");
    assert!(!text.contains("hunter22"));

    // The task's work and XCom are its own; everything else is owner-only and Weir's.
    assert_eq!(
        fs::read_to_string(dir.join("xcom.json")).expect("xcom"),
        "{\"rows\": 3}\n"
    );
    assert_eq!(fs::metadata(work(&dir)).expect("work").uid(), 65534);
    assert_eq!(
        fs::metadata(work(&dir).join("mine")).expect("mine").uid(),
        65534
    );
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&work(&dir)), 0o700);
    for file in [
        "log",
        "status.json",
        "xcom.json",
        "supervisor.pid",
        "supervisor.lock",
    ] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
}

#[tokio::test]
async fn sandboxed_tasks_keep_exit_codes_usage_timeout_and_cancel() {
    if !can_sandbox("sandboxed_tasks_keep_exit_codes_usage_timeout_and_cancel") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");

    let dir = tmp.path().join("fail");
    let cmd = "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo $i; exit 3";
    let failed = run(LaunchSpec::new(key("fail"), cmd, &dir), sandbox()).await;
    assert_eq!(failed.exit_code, Some(3), "{failed:?}");
    assert_eq!(failed.reason, EndReason::Exited);
    assert!(log_lines(&dir).contains(&"100000".to_owned()));
    assert!(failed.cpu_seconds > 0.01, "{failed:?}");
    assert!(failed.peak_rss_bytes > 100 * 1024, "{failed:?}");

    let dir = tmp.path().join("slow");
    let mut spec = LaunchSpec::new(key("slow"), "sleep 30 & sleep 30", &dir);
    spec.timeout = Some(Duration::from_millis(300));
    let began = Instant::now();
    let timed_out = run(spec, sandbox()).await;
    assert_eq!(timed_out.reason, EndReason::TimedOut, "{timed_out:?}");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    assert!(poll_until(Duration::from_secs(2), || try_processes(&dir).is_empty()));

    let dir = tmp.path().join("cancel");
    let mut spec = LaunchSpec::new(key("cancel"), "echo started; sleep 30 & sleep 30", &dir);
    spec.sandbox = Some(sandbox());
    let running = backend().submit(spec).await.expect("submit");
    let handle = running.cancel_handle();
    let waiter = tokio::spawn(running.wait());
    assert!(poll_until(Duration::from_secs(5), || log_text(&dir)
        .contains("started")));
    assert!(!try_processes(&dir).is_empty(), "task should be running");
    handle.cancel();
    let cancelled = waiter.await.expect("join");
    assert_eq!(cancelled.reason, EndReason::Cancelled, "{cancelled:?}");
    assert!(poll_until(Duration::from_secs(2), || try_processes(&dir).is_empty()));
}

#[tokio::test]
async fn the_network_can_be_cut() {
    if !can_sandbox("the_network_can_be_cut") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    // /proc/net/dev lists the interfaces of the task's network namespace.
    let cmd = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sed 's/^/if=/'";
    let offline = Sandbox {
        network: false,
        ..sandbox()
    };
    let outcome = run(LaunchSpec::new(key("net"), cmd, &dir), offline).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let interfaces: Vec<String> = log_lines(&dir)
        .into_iter()
        .filter(|l| l.starts_with("if="))
        .collect();
    assert_eq!(interfaces, vec!["if=lo".to_owned()]);
}

#[tokio::test]
async fn a_sandbox_that_cannot_start_fails_the_try_and_never_runs_it_unsandboxed() {
    if !can_sandbox("a_sandbox_that_cannot_start_fails_the_try_and_never_runs_it_unsandboxed") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            Sandbox {
                program: "/nonexistent/bwrap".into(),
                ..sandbox()
            },
            "`/nonexistent/bwrap` was not found; install Debian's `bubblewrap`",
        ),
        (
            Sandbox {
                user: "no-such-weir-user".into(),
                ..sandbox()
            },
            "the OS user `no-such-weir-user` does not exist",
        ),
    ];
    for (i, (sandbox, expected)) in cases.into_iter().enumerate() {
        let dir = tmp.path().join(i.to_string());
        let outcome = run(LaunchSpec::new(key("t"), "echo ran > ran", &dir), sandbox).await;
        let EndReason::LaunchFailed(why) = &outcome.reason else {
            panic!("expected a launch failure, got {outcome:?}");
        };
        assert!(
            why.starts_with("the shell sandbox could not start: "),
            "{why}"
        );
        assert!(why.contains(expected), "{why}");
        assert!(
            why.contains("`allow_unsandboxed_shell = true` for team `beta`"),
            "{why}"
        );
        assert!(log_text(&dir).contains(expected), "{}", log_text(&dir));
        assert!(!work(&dir).join("ran").exists(), "the task ran anyway");
    }
}
