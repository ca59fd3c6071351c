//! A hostile DAG folder against the real `weir standalone` binary over HTTP (issue 17):
//! FIFOs, links to devices, to secrets and in loops, a file that never stops changing,
//! import errors of files that are gone, DAG ids taken over by another team, and a file
//! borrowing the platform team.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::server::Server;

const GOOD: &str = "dag: good\nteam: t\ntasks:\n  a: {noop: {}}\n";

fn dag(id: &str, team: &str) -> String {
    format!("dag: {id}\nteam: {team}\ntasks:\n  a: {{noop: {{}}}}\n")
}

/// Starts `server` on another thread: a start-up that hangs fails the test instead.
fn start_within(mut server: Server, limit: Duration) -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        server.restart();
        let _ = tx.send(server);
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the server did not start within {limit:?}"))
}

/// `/health` and `GET /dags` each answer 200 within a few seconds.
async fn answers_quickly(server: &Server) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for path in ["/health", "/dags"] {
        let response = client
            .get(server.api(path))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path} did not answer: {e}\n{}", server.output()));
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
}

/// The import errors' stack traces, by file name (the part after the DAG folder).
async fn import_errors(server: &Server) -> Vec<(String, String)> {
    let (status, body) = server.get("/importErrors").await;
    assert_eq!(status, 200, "{body}");
    let dags = server.dags().display().to_string();
    body["import_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let file = e["filename"].as_str().unwrap();
            let name = file
                .strip_prefix(&dags)
                .unwrap_or(file)
                .trim_start_matches('/');
            (
                name.to_string(),
                e["stack_trace"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits until `file` has an import error and returns it.
async fn wait_import_error(server: &Server, file: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((_, trace)) = import_errors(server)
            .await
            .into_iter()
            .find(|(f, _)| f == file)
        {
            return trace;
        }
        assert!(
            Instant::now() < deadline,
            "no import error for {file}: {:?}\n{}",
            import_errors(server).await,
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_dag(server: &Server, dag_id: &str) -> Value {
    server
        .wait_for(&format!("/dags/{dag_id}"), dag_id, |b| {
            b["dag_id"] == dag_id
        })
        .await
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_named_like_a_dag_file_does_not_stall_the_server() {
    let server = Server::new(&[("good.yaml", GOOD)]);
    mkfifo(&server.dags().join("x.yaml"));
    // Before the fix, start-up blocked for ever opening the FIFO.
    let server = start_within(server, Duration::from_secs(30));
    answers_quickly(&server).await;
    let trace = wait_import_error(&server, "x.yaml").await;
    assert!(
        trace.contains("x.yaml: error: not a regular file"),
        "{trace}"
    );
    wait_dag(&server, "good").await;

    // One created while running: the watcher's sync must not block either.
    mkfifo(&server.dags().join("y.yaml"));
    std::fs::write(server.dags().join("later.yaml"), dag("later", "t")).unwrap();
    wait_dag(&server, "later").await;
    answers_quickly(&server).await;
    let trace = wait_import_error(&server, "y.yaml").await;
    assert!(trace.contains("not a regular file"), "{trace}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_to_devices_and_folder_loops_neither_hang_nor_grow_memory() {
    let server = Server::new(&[("good.yaml", GOOD), ("sub/inner.yaml", &dag("inner", "t"))]);
    let dags = server.dags();
    symlink("/dev/zero", dags.join("zero.yaml")).unwrap();
    symlink("/dev/urandom", dags.join("random.yaml")).unwrap();
    // Two folder links to a parent: walked, they make an endless (exponential) tree.
    symlink("..", dags.join("sub/up1")).unwrap();
    symlink("..", dags.join("sub/up2")).unwrap();
    let server = start_within(server, Duration::from_secs(30));
    answers_quickly(&server).await;
    for file in ["zero.yaml", "random.yaml"] {
        let trace = wait_import_error(&server, file).await;
        assert!(trace.contains("outside the DAG folder"), "{trace}");
        assert!(!trace.contains("/dev/"), "{trace}");
    }
    wait_dag(&server, "inner").await;
    // The DAG is read once, at its real place, not through the loops.
    let (_, dags_page) = server.get("/dags").await;
    assert_eq!(dags_page["total_entries"], 2, "{dags_page}");

    // The watcher is not lost in the loops either: a change is still seen.
    std::fs::write(dags.join("sub/more.yaml"), dag("more", "t")).unwrap();
    wait_dag(&server, "more").await;
    answers_quickly(&server).await;
    let rss = rss_kib(server.pid().unwrap());
    assert!(rss < 200 * 1024, "the server uses {rss} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_secret_outside_the_folder_quotes_nothing_of_it() {
    let secrets = tempfile::tempdir().unwrap();
    let shadow = secrets.path().join("shadow-copy");
    std::fs::write(&shadow, "root:$6$s3cr3tHash:19000:0:99999:7:::\n").unwrap();
    let server = Server::new(&[("good.yaml", GOOD)]);
    symlink(&shadow, server.dags().join("shadow.yaml")).unwrap();
    symlink(secrets.path(), server.dags().join("elsewhere")).unwrap();
    let server = start_within(server, Duration::from_secs(30));
    // One made while running goes through the watcher.
    symlink(&shadow, server.dags().join("later.yaml")).unwrap();
    for file in ["shadow.yaml", "elsewhere", "later.yaml"] {
        let trace = wait_import_error(&server, file).await;
        assert!(trace.contains("outside the DAG folder"), "{trace}");
    }
    let (_, body) = server.get("/importErrors").await;
    let text = body.to_string();
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(!text.contains("root:"), "{text}");
    assert!(!text.contains("shadow-copy"), "{text}");
    let out = server.cli(&["dags", "errors"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cr3t"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_rewritten_every_ten_milliseconds_does_not_starve_the_others() {
    let server = Server::start(&[("churn.yaml", &dag("churn", "t"))]);
    let churning = Arc::new(AtomicBool::new(true));
    let churn = {
        let (path, churning) = (server.dags().join("churn.yaml"), churning.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut i = 0u64;
            while started.elapsed() < Duration::from_secs(6) {
                std::fs::write(&path, format!("{}# {i}\n", dag("churn", "t"))).unwrap();
                i += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            churning.store(false, Ordering::SeqCst);
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(server.dags().join("other.yaml"), dag("other", "t")).unwrap();
    let written = Instant::now();
    wait_dag(&server, "other").await;
    let took = written.elapsed();
    assert!(
        churning.load(Ordering::SeqCst),
        "`other` appeared only after the churn stopped ({took:?})"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    churn.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_errors_of_deleted_and_moved_files_disappear_also_after_a_restart() {
    let broken = "dag: broken\nteam: t\ntasks:\n  a: {noop: {}, depends_on: [nope]}\n";
    let mut server = Server::start(&[
        ("good.yaml", GOOD),
        ("deleted.yaml", broken),
        ("moved.yaml", &broken.replace("broken", "broken2")),
        ("gone_while_down.yaml", &broken.replace("broken", "broken3")),
    ]);
    let names = |errors: Vec<(String, String)>| -> Vec<String> {
        let mut names: Vec<String> = errors.into_iter().map(|(f, _)| f).collect();
        names.sort();
        names
    };
    assert_eq!(
        names(import_errors(&server).await),
        ["deleted.yaml", "gone_while_down.yaml", "moved.yaml"]
    );
    std::fs::remove_file(server.dags().join("deleted.yaml")).unwrap();
    std::fs::create_dir(server.dags().join("sub")).unwrap();
    std::fs::rename(
        server.dags().join("moved.yaml"),
        server.dags().join("sub/moved.yaml"),
    )
    .unwrap();
    server
        .wait_for(
            "/importErrors",
            "the errors of the deleted and moved files to go",
            |b| {
                let files: Vec<&str> = b["import_errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|e| e["filename"].as_str())
                    .collect();
                files.len() == 2
                    && files.iter().any(|f| f.ends_with("/sub/moved.yaml"))
                    && files.iter().any(|f| f.ends_with("/gone_while_down.yaml"))
            },
        )
        .await;

    server.kill();
    std::fs::remove_file(server.dags().join("gone_while_down.yaml")).unwrap();
    server.restart();
    assert_eq!(names(import_errors(&server).await), ["sub/moved.yaml"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dag_id_stays_with_the_team_that_registered_it() {
    let mut server = Server::start(&[("marketing/revenue.yaml", &dag("revenue", "marketing"))]);
    let owners = |b: &Value| b["owners"].clone();
    let before = wait_dag(&server, "revenue").await;
    assert_eq!(owners(&before), serde_json::json!(["marketing"]));

    // `a_takeover.yaml` sorts before the owner's file.
    std::fs::write(
        server.dags().join("a_takeover.yaml"),
        dag("revenue", "intruders"),
    )
    .unwrap();
    let trace = wait_import_error(&server, "a_takeover.yaml").await;
    assert!(
        trace.contains("DAG `revenue` belongs to team `marketing`"),
        "{trace}"
    );
    assert!(trace.contains("marketing/revenue.yaml"), "{trace}");
    assert!(
        trace.contains("a_takeover.yaml declares it for team `intruders`"),
        "{trace}"
    );
    let (_, now) = server.get("/dags/revenue").await;
    assert_eq!(owners(&now), serde_json::json!(["marketing"]), "{now}");
    assert!(
        import_errors(&server)
            .await
            .iter()
            .all(|(f, _)| f == "a_takeover.yaml")
    );

    // Across a restart, and with the owner's file gone, the id stays with its team.
    server.kill();
    std::fs::remove_file(server.dags().join("marketing/revenue.yaml")).unwrap();
    server.restart();
    let trace = wait_import_error(&server, "a_takeover.yaml").await;
    assert!(trace.contains("belongs to team `marketing`"), "{trace}");
    let (_, after) = server.get("/dags/revenue").await;
    assert_eq!(owners(&after), serde_json::json!(["marketing"]), "{after}");
    assert_eq!(after["is_active"], false, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_outside_the_platform_paths_cannot_declare_team_platform() {
    let config = tempfile::tempdir().unwrap();
    let toml = config.path().join("weir.toml");
    std::fs::write(
        &toml,
        r#"
[[compute_environments]]
name = "local"
backend = "process"
max_vcpus = 2
max_memory = "2Gi"

[[queues]]
name = "default"
compute_environments = ["local"]

[[teams]]
name = "platform"
image_prefixes = ["*"]
allow_privileged = true
paths = ["platform/"]

[[teams]]
name = "marketing"
"#,
    )
    .unwrap();
    let mut server = Server::new(&[
        ("x.yaml", &dag("borrowed", "platform")),
        ("platform/own.yaml", &dag("own", "platform")),
        ("marketing/m.yaml", &dag("m", "marketing")),
    ]);
    server.args = vec!["--config".into(), toml.display().to_string()];
    let server = start_within(server, Duration::from_secs(30));
    let trace = wait_import_error(&server, "x.yaml").await;
    assert!(
        trace.contains("`team: platform` is declared in x.yaml, but team platform's DAGs must live under platform/ (weir.toml [[teams]] paths)"),
        "{trace}"
    );
    wait_dag(&server, "own").await;
    wait_dag(&server, "m").await;
    let (status, _) = server.get("/dags/borrowed").await;
    assert_eq!(status, 404);
}

/// `weir dags validate` (a CI gate, run on anyone's checkout) reads a folder as the
/// server does: a FIFO neither hangs it nor is skipped silently, a link out of the
/// folder is an error that quotes nothing of its target, and a good file still counts.
#[test]
fn dags_validate_reports_what_it_cannot_read_without_hanging_or_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    std::fs::write(dags.join("good.yaml"), GOOD).unwrap();
    mkfifo(&dags.join("pipe.yaml"));
    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("secret.yaml");
    std::fs::write(&secret, "root:SECRET-HASH-LINE\n").unwrap();
    symlink(&secret, dags.join("leak.yaml")).unwrap();

    let (tx, rx) = std::sync::mpsc::channel();
    let exe = env!("CARGO_BIN_EXE_weir");
    let folder = dags.clone();
    std::thread::spawn(move || {
        let out = std::process::Command::new(exe)
            .args(["dags", "validate"])
            .arg(&folder)
            .output()
            .unwrap();
        let _ = tx.send(out);
    });
    let out = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("weir dags validate hung on the folder");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("pipe.yaml"), "{text}");
    assert!(text.contains("not a regular file"), "{text}");
    assert!(text.contains("leak.yaml"), "{text}");
    assert!(text.contains("outside the DAG folder"), "{text}");
    assert!(!text.contains("SECRET-HASH-LINE"), "{text}");
    assert!(!text.contains(&secret.display().to_string()), "{text}");
    assert!(text.contains("1 valid DAG"), "{text}");
}
