//! Issue 17 (findings 1a, 1c) through the real `weir standalone` binary: with a
//! `weir.toml` declaring teams `alpha` (opted out of the sandbox) and `beta`, a shell task
//! of `beta` cannot read or write Weir's database, read `alpha`'s logs, see the server's
//! processes or environment; `alpha`'s runs unsandboxed; and a sandbox that cannot start
//! fails the task with a message saying what to do.
//!
//! These tests need root (the server switches tasks to `nobody`) and Debian's
//! `bubblewrap`; without them they say so on stderr and check nothing (CI runs as root).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::server::{Server, find_files};

const CANARY: &str = "canary-server-secret-4711";

const PLATFORM: &str = r#"
[[compute_environments]]
name = "local"
backend = "process"
max_vcpus = 4
max_memory = "4Gi"

[[queues]]
name = "default"
compute_environments = ["local"]

[[teams]]
name = "alpha"
allow_unsandboxed_shell = true

[[teams]]
name = "beta"
"#;

fn can_sandbox(test: &str) -> bool {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED {test}: needs root (tasks switch to `nobody`); CI runs as root");
        return false;
    }
    if !Path::new("/usr/bin/bwrap").is_file() {
        eprintln!("SKIPPED {test}: needs bwrap (Debian's `bubblewrap` package)");
        return false;
    }
    true
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Triggers `dag`, waits for its run, and returns the run's state and its one log.
async fn run_and_read_log(server: &Server, dag: &str) -> (String, String) {
    let run_id = server.trigger(dag).await;
    let run = server.wait_run_finished(dag, &run_id).await;
    let logs = find_files(&server.home().join("logs").join(dag), "log");
    assert_eq!(logs.len(), 1, "{logs:?}");
    let text = std::fs::read_to_string(&logs[0]).unwrap();
    (run["state"].as_str().unwrap_or("?").to_string(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_beta_shell_task_cannot_reach_the_platform_or_alpha() {
    if !can_sandbox("a_beta_shell_task_cannot_reach_the_platform_or_alpha") {
        return;
    }
    let alpha = r#"dag: alpha_secrets
team: alpha
paused: false
tasks:
  work:
    shell: 'echo "alpha-uid=$(id -u)"; echo ALPHA-PRIVATE-OUTPUT; test -r "$DB" && echo alpha-reads-db'
    env:
      DB: "__DB__"
"#;
    let beta = r#"dag: beta_peek
team: beta
paused: false
tasks:
  peek:
    shell: |
      echo "beta-uid=$(id -u)"
      cat "$DB" > /dev/null 2>&1 && echo DB-READ || echo db-read-refused
      (echo TAMPERED >> "$DB") 2>/dev/null && echo DB-WRITTEN || echo db-write-refused
      cat "$LOGS"/alpha_secrets/*/*/*/*/log 2>/dev/null || echo alpha-log-refused
      ls /proc/"$SERVER_PID" > /dev/null 2>&1 && echo SERVER-VISIBLE || echo server-invisible
      echo "procs=$(ls /proc | grep -c '^[0-9]')"
      cat /proc/*/environ 2>/dev/null | tr '\0' '\n' | grep -E 'SOME_SERVER_SECRET|WEIR_ADMIN_PASSWORD'
      env
    env:
      DB: "__DB__"
      LOGS: "__LOGS__"
      SERVER_PID: "__PID__"
"#;
    // The DAGs name the home's paths and the server's pid: written once it runs.
    let mut server = Server::start_with(&[], Some(PLATFORM), &[("SOME_SERVER_SECRET", CANARY)]);
    let home = std::fs::canonicalize(server.home()).unwrap();
    let db = home.join("weir.db");
    let pid = server.pid().unwrap();
    let fill = |yaml: &str| {
        yaml.replace("__DB__", &db.display().to_string())
            .replace("__LOGS__", &home.join("logs").display().to_string())
            .replace("__PID__", &pid.to_string())
    };
    std::fs::write(server.dags().join("alpha.yaml"), fill(alpha)).unwrap();
    std::fs::write(server.dags().join("beta.yaml"), fill(beta)).unwrap();
    for dag in ["alpha_secrets", "beta_peek"] {
        server
            .wait_for(&format!("/dags/{dag}"), "the DAG to load", |d| {
                d["dag_id"] == dag
            })
            .await;
    }

    // alpha opted out: its task runs as the server's user and can read the database.
    let (state, alpha_log) = run_and_read_log(&server, "alpha_secrets").await;
    assert_eq!(state, "success", "{alpha_log}");
    assert!(alpha_log.contains("alpha-uid=0"), "{alpha_log}");
    assert!(alpha_log.contains("alpha-reads-db"), "{alpha_log}");

    // beta is sandboxed.
    let (state, log) = run_and_read_log(&server, "beta_peek").await;
    assert_eq!(state, "success", "{log}");
    assert!(log.contains("beta-uid=65534"), "{log}");
    for refused in [
        "db-read-refused",
        "db-write-refused",
        "alpha-log-refused",
        "server-invisible",
    ] {
        assert!(log.contains(refused), "{refused} missing:\n{log}");
    }
    for leaked in [
        "DB-READ",
        "DB-WRITTEN",
        "ALPHA-PRIVATE-OUTPUT",
        "SERVER-VISIBLE",
        CANARY,
        support::server::ADMIN_PASSWORD,
    ] {
        assert!(!log.contains(leaked), "{leaked} leaked:\n{log}");
    }
    let procs: usize = log
        .lines()
        .find_map(|l| l.split_once("procs=").map(|(_, n)| n.trim()))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(procs < 10, "the task sees {procs} processes:\n{log}");
    let db_bytes = std::fs::read(&db).unwrap();
    assert!(!db_bytes.windows(8).any(|w| w == b"TAMPERED"));

    // Owner-only: the home, the database, try folders and logs.
    assert_eq!(mode(&home), 0o700);
    assert_eq!(mode(&db), 0o600);
    for log in find_files(&home.join("logs"), "log") {
        assert_eq!(mode(&log), 0o600, "{}", log.display());
        assert_eq!(mode(log.parent().unwrap()), 0o700, "{}", log.display());
    }
    assert_eq!(mode(&home.join("logs")), 0o700);
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_bwrap_a_sandboxed_task_fails_saying_what_to_do() {
    if !can_sandbox("without_bwrap_a_sandboxed_task_fails_saying_what_to_do") {
        return;
    }
    let platform = format!("{PLATFORM}\n[sandbox]\nprogram = \"/nonexistent/bwrap\"\n");
    let dag = "dag: beta_plain\nteam: beta\npaused: false\ntasks:\n  t:\n    shell: 'echo ran > ran; echo RAN'\n";
    let server = Server::start_with(&[("beta.yaml", dag)], Some(&platform), &[]);
    let (state, log) = run_and_read_log(&server, "beta_plain").await;
    assert_eq!(state, "failed", "{log}");
    assert!(
        log.contains("the shell sandbox could not start: `/nonexistent/bwrap` was not found; install Debian's `bubblewrap` package"),
        "{log}"
    );
    assert!(
        log.contains("set `allow_unsandboxed_shell = true` for team `beta` in weir.toml"),
        "{log}"
    );
    assert!(!log.contains("RAN"), "{log}");
    assert!(find_files(&server.home().join("logs"), "ran").is_empty());
    // Said at start, too.
    assert!(
        server
            .output()
            .contains("the shell sandbox program `/nonexistent/bwrap` was not found"),
        "{}",
        server.output()
    );
}

/// Standalone without a weir.toml (one person on a laptop) runs shell tasks unsandboxed,
/// and says so when it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_without_a_config_says_shell_tasks_run_unsandboxed() {
    let dag = "dag: mine\nteam: me\npaused: false\ntasks:\n  t:\n    shell: 'echo \"uid=$(id -u) home=$HOME\"'\n";
    let server = Server::start(&[("mine.yaml", dag)]);
    assert!(
        server
            .output()
            .contains("warning: no weir.toml (--config): shell tasks run unsandboxed"),
        "{}",
        server.output()
    );
    let (state, log) = run_and_read_log(&server, "mine").await;
    assert_eq!(state, "success", "{log}");
    let uid = nix::unistd::Uid::effective();
    assert!(log.contains(&format!("uid={uid} ")), "{log}");
    assert!(!log.contains("home=/weir/work"), "{log}");
}
