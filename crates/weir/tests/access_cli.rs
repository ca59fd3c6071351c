//! Signing in and access control through the real `weir` binary: `weir login` stores a
//! token only its owner can read, every command uses it, a user without the role is
//! refused with the role it would take, `weir audit` shows it, `weir logout` forgets.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use support::server::{ADMIN_PASSWORD, Server, run_with_stdin};

const DATA_DAG: &str = "dag: etl\nteam: data\ntasks:\n  only:\n    noop: {}\n";
const FINANCE_DAG: &str = "dag: ledger\nteam: finance\ntasks:\n  only:\n    noop: {}\n";

/// The CLI as a person at a terminal would run it: no WEIR_TOKEN, its own config dir.
fn weir(server: &Server, config: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.args(args)
        .env("WEIR_SERVER", &server.url)
        .env("WEIR_CONFIG_DIR", config)
        .env_remove("WEIR_TOKEN")
        .env_remove("WEIR_PASSWORD");
    run_with_stdin(cmd, stdin)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn login_roles_audit_and_logout_through_the_cli() {
    let server = Server::start(&[("etl.yaml", DATA_DAG), ("ledger.yaml", FINANCE_DAG)]);
    let admin_dir = tempfile::tempdir().unwrap();
    let ada_dir = tempfile::tempdir().unwrap();
    let admin = admin_dir.path().join("weir");
    let ada = ada_dir.path().join("weir");

    // Not signed in: told what to do.
    let out = weir(&server, &admin, &["dags", "list"], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("weir login"), "{}", text(&out));

    // A wrong password is refused; the right one stores a token readable by its owner only.
    let out = weir(
        &server,
        &admin,
        &["login", "--username", "admin", "--password-stdin"],
        "nope-nope\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = weir(
        &server,
        &admin,
        &["login", "--username", "admin", "--password-stdin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let file = admin.join("credentials.json");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "credentials file mode {mode:o}");
    let dir_mode = std::fs::metadata(&admin).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "config dir mode {dir_mode:o}");
    assert!(
        !std::fs::read_to_string(&file)
            .unwrap()
            .contains(ADMIN_PASSWORD)
    );
    let out = weir(&server, &admin, &["whoami"], "");
    assert!(
        out.status.success() && text(&out).contains("admin"),
        "{}",
        text(&out)
    );

    // The admin makes ada an operator of `data`.
    let out = weir(
        &server,
        &admin,
        &["users", "create", "ada", "--password-stdin"],
        "ada-password-1\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = weir(
        &server,
        &admin,
        &["teams", "add-member", "data", "ada", "--role", "operator"],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));

    // Ada may act on data's DAG, not on finance's; she is told what it would take.
    let out = weir(
        &server,
        &ada,
        &["login", "--username", "ada", "--password-stdin"],
        "ada-password-1\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = weir(&server, &ada, &["dags", "unpause", "etl"], "");
    assert!(out.status.success(), "{}", text(&out));
    let out = weir(&server, &ada, &["dags", "unpause", "ledger"], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("team `finance`"), "{}", text(&out));
    // Everyone signed in sees every team's DAGs.
    let out = weir(&server, &ada, &["dags", "list"], "");
    assert!(
        out.status.success() && text(&out).contains("ledger"),
        "{}",
        text(&out)
    );
    // Users are for platform and team admins.
    let out = weir(&server, &ada, &["users", "list"], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // The admin sees both in the audit trail.
    let out = weir(
        &server,
        &admin,
        &["audit", "--actor", "ada", "--output", "json"],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    let events: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let outcomes: Vec<(String, String)> = events
        .as_array()
        .or_else(|| events["audit_events"].as_array())
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["object_id"].as_str().unwrap_or("").to_string(),
                e["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        outcomes.contains(&("etl".into(), "success".into())),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("ledger".into(), "denied".into())),
        "{outcomes:?}"
    );

    // Logout forgets the token and revokes it.
    let token = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(ada.join("credentials.json")).unwrap(),
    )
    .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let out = weir(&server, &ada, &["logout"], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(!ada.join("credentials.json").exists());
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["whoami"])
        .env("WEIR_SERVER", &server.url)
        .env("WEIR_CONFIG_DIR", &ada)
        .env("WEIR_TOKEN", &token)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a revoked token still works: {}",
        text(&out)
    );
}

#[test]
fn changing_your_own_password_through_the_cli_needs_the_current_one() {
    let server = Server::start(&[("etl.yaml", DATA_DAG)]);
    let admin_dir = tempfile::tempdir().unwrap();
    let ada_dir = tempfile::tempdir().unwrap();
    let admin = admin_dir.path().join("weir");
    let ada = ada_dir.path().join("weir");
    let out = weir(
        &server,
        &admin,
        &["login", "--username", "admin", "--password-stdin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = weir(
        &server,
        &admin,
        &["users", "create", "ada", "--password-stdin"],
        "ada-password-1\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = weir(
        &server,
        &ada,
        &["login", "--username", "ada", "--password-stdin"],
        "ada-password-1\n",
    );
    assert!(out.status.success(), "{}", text(&out));

    // Standard input: the current password, then the new one.
    let own = [
        "users",
        "set-password",
        "ada",
        "--current-password-stdin",
        "--password-stdin",
    ];
    let out = weir(&server, &ada, &own, "not-my-password\nada-password-2\n");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("not your current password"),
        "{}",
        text(&out)
    );
    let out = weir(&server, &ada, &own, "ada-password-1\nada-password-2\n");
    assert!(out.status.success(), "{}", text(&out));
    let out = weir(
        &server,
        &ada,
        &["login", "--username", "ada", "--password-stdin"],
        "ada-password-2\n",
    );
    assert!(out.status.success(), "{}", text(&out));

    // A platform admin resets it without knowing it.
    let out = weir(
        &server,
        &admin,
        &["users", "set-password", "ada", "--password-stdin"],
        "ada-password-3\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = weir(
        &server,
        &ada,
        &["login", "--username", "ada", "--password-stdin"],
        "ada-password-3\n",
    );
    assert!(out.status.success(), "{}", text(&out));
}
