//! The official Airflow Python client (`apache-airflow-client`, pinned below) works against
//! the real `weir standalone`, unchanged: `airflow_client/test_client.py` lists and gets
//! DAGs, pauses and unpauses one, triggers runs with conf, polls them to the end, lists
//! task instances, reads a log, creates/reads/updates/deletes a variable and lists import
//! errors, and the client validates every response against its own models.
//!
//! The client lives in a virtualenv outside the repository, made on first use and reused
//! after: `$WEIR_AIRFLOW_CLIENT_VENV`, or `weir-airflow-client-venv-<version>` in the
//! system's temporary directory. Making it needs `python3` with the `venv` module and
//! PyPI; without them this test fails (it never skips), saying what is missing.
//! `$WEIR_PYTHON` names another interpreter than `python3`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::server::Server;

/// The client version the test installs; 2.10 is the last 2.x release.
const CLIENT_VERSION: &str = "2.10.0";

/// The DAG the script drives: a shell task that echoes the run's conf, then a noop.
const DAG: &str = r#"dag: client_demo
team: analytics
description: The Airflow client test DAG
tags: [client, demo]
schedule: "0 3 * * *"
start_date: 2030-01-01
catchup: false
paused: true
tasks:
  greet:
    shell: 'echo "hello {{ dag_run.conf.who }} x{{ dag_run.conf.n }}"'
  done:
    depends_on: [greet]
    noop: {}
"#;

/// A DAG file that does not load, for the import errors.
const BROKEN: &str = "dag: broken\nteam: analytics\ntasks:\n  a:\n    shel: echo\n";

#[test]
fn the_official_airflow_client_works_against_weir() {
    let python = client_venv();
    let server = Server::start(&[("client_demo.yaml", DAG), ("broken.yaml", BROKEN)]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/airflow_client/test_client.py");
    let out = Command::new(&python)
        .arg("-u")
        .arg(&script)
        .env("WEIR_URL", &server.url)
        .env("WEIR_USERNAME", "admin")
        .env("WEIR_PASSWORD", support::server::ADMIN_PASSWORD)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && last.ends_with(" passed, 0 failed"),
        "the Airflow client script failed ({}); last line {last:?}\n--- stdout ---\n{stdout}\
         \n--- stderr ---\n{stderr}",
        out.status
    );
    // The connection the script kept: readable through Weir, its credentials sealed in
    // the database (the password, and `extra`'s `api_key`).
    let mut server = server;
    server.kill();
    for name in ["weir.db", "weir.db-wal"] {
        let path = server.home().join(name);
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains("client-Pw-123"),
                "{name} holds a connection credential in clear"
            );
        }
    }
}

/// The virtualenv's interpreter, with `apache-airflow-client` installed.
fn client_venv() -> PathBuf {
    let venv = std::env::var_os("WEIR_AIRFLOW_CLIENT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("weir-airflow-client-venv-{CLIENT_VERSION}"))
        });
    let marker = venv.join("weir-installed");
    let installed = || std::fs::read_to_string(&marker).is_ok_and(|v| v.trim() == CLIENT_VERSION);
    if installed() {
        return venv.join("bin/python");
    }
    // Made beside its final place, then renamed, so an interrupted install is never reused
    // and two test runs at once do not trip over each other.
    let mut building = venv.clone().into_os_string();
    building.push(format!(".building-{}", std::process::id()));
    let building = PathBuf::from(building);
    let _ = std::fs::remove_dir_all(&building);
    let _cleanup = RemoveOnDrop(building.clone());
    let python = std::env::var("WEIR_PYTHON").unwrap_or_else(|_| "python3".into());
    run_setup(
        Command::new(&python).arg("-m").arg("venv").arg(&building),
        &format!(
            "`{python} -m venv` (install python3 and its venv module, e.g. Debian's python3-venv)"
        ),
    );
    run_setup(
        Command::new(building.join("bin/python")).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            &format!("apache-airflow-client=={CLIENT_VERSION}"),
        ]),
        &format!("`pip install apache-airflow-client=={CLIENT_VERSION}` (PyPI must be reachable)"),
    );
    std::fs::write(building.join("weir-installed"), CLIENT_VERSION)
        .expect("cannot write the virtualenv's marker file");
    if !installed() {
        // Not another run's finished virtualenv: an older version, or a broken one.
        let _ = std::fs::remove_dir_all(&venv);
        if let Err(e) = std::fs::rename(&building, &venv) {
            // Unless another run has just finished first.
            assert!(
                installed(),
                "cannot move the virtualenv to {}: {e}",
                venv.display()
            );
        }
    }
    venv.join("bin/python")
}

/// Removes a half-made virtualenv, if a setup step failed (after the rename, nothing is
/// left to remove).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a setup step; a failure fails the test, saying what is needed.
fn run_setup(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("the Airflow client test needs {what}, which could not start: {e}")
    });
    assert!(
        out.status.success(),
        "the Airflow client test needs {what}, which failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
