//! A newcomer's first steps with the real binary: the README's first command on a copy of
//! `examples/` (relative home and DAG folder), every bundled example DAG run to success;
//! and a `weir.toml` that only sets teams and a log limit, which keeps standalone's
//! queue and environments.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::server::{ADMIN_PASSWORD, find_files};

const IMAGE: &str = "weir-test/busybox:latest";

/// `weir standalone ARGS` started in `cwd`, as someone types it in a terminal there.
struct Standalone {
    cwd: PathBuf,
    url: String,
    token: String,
    child: Child,
    log: PathBuf,
}

impl Standalone {
    async fn start(cwd: &Path, args: &[&str]) -> Standalone {
        let log = cwd.join("server.log");
        let stderr = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
        cmd.arg("standalone")
            .args(args)
            .current_dir(cwd)
            // A free port instead of 8080, so tests can run side by side; the command
            // line itself stays the README's.
            .env("WEIR_PORT", "0")
            .env("WEIR_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("WEIR_LOG", "info,sqlx=warn")
            .stdout(Stdio::piped())
            .stderr(stderr);
        for name in [
            "WEIR_HOME",
            "WEIR_DAGS",
            "WEIR_DB",
            "WEIR_CONFIG",
            "WEIR_JOBS",
        ] {
            cmd.env_remove(name);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "no URL in the ready line {line:?}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let url = url.to_owned();
        let mut server = Standalone {
            cwd: cwd.to_path_buf(),
            url,
            token: String::new(),
            child,
            log,
        };
        server.token = server.sign_in().await;
        server
    }

    async fn sign_in(&self) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/tokens", self.url))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .json(&serde_json::json!({"name": "tests"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// The CLI against this server, from the same folder.
    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
        cmd.args(args)
            .current_dir(&self.cwd)
            .env("WEIR_SERVER", &self.url)
            .env("WEIR_TOKEN", &self.token)
            .env("WEIR_CONFIG_DIR", self.cwd.join(".config"));
        cmd
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Unpauses and triggers every DAG of `dags` at once, waiting for each run
    /// (`weir dags trigger --wait`, exit 0 on success).
    fn run_all(&self, dags: &[String]) {
        for dag in dags {
            let out = self.cli(&["dags", "unpause", dag]).output().unwrap();
            assert!(out.status.success(), "unpause {dag}: {}", text(&out));
        }
        let waits: Vec<(&String, Child)> = dags
            .iter()
            .map(|dag| {
                let child = self
                    .cli(&["dags", "trigger", dag, "--wait"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                (dag, child)
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(180);
        for (dag, mut child) in waits {
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("the run of {dag} did not finish in time\n{}", self.output());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let out = child.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "the run of {dag} did not succeed: {}\n--- server ---\n{}",
                text(&out),
                self.output()
            );
        }
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- weir standalone output ---\n{}", self.output());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

async fn dag_ids(server: &Standalone) -> Vec<String> {
    let body = server.get("/dags?limit=100").await;
    let mut ids: Vec<String> = body["dags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dag_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Whether the local test image is there (the Docker daemon answers and has it).
fn test_image_present() -> bool {
    Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether some file named `log` under `dir` contains `needle`.
fn some_log_contains(dir: &Path, needle: &str) -> bool {
    find_files(dir, "log")
        .iter()
        .any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(needle)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_first_command_runs_every_bundled_example() {
    let tmp = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    copy_tree(&examples, &tmp.path().join("examples"));
    // README: `cargo run --release -p weir -- standalone --dags examples/dags`, from the
    // repository's root: a relative DAG folder and the default home `./.weir`.
    let server = Standalone::start(tmp.path(), &["--dags", "examples/dags"]).await;
    assert!(
        tmp.path().join(".weir/weir.db").is_file(),
        "the home is ./.weir"
    );
    let errors = server.get("/importErrors").await;
    assert_eq!(errors["total_entries"], 0, "{errors}");

    let all = dag_ids(&server).await;
    assert_eq!(
        all,
        [
            "campaign_report",
            "container_hello",
            "daily_revenue",
            "ingest_customers",
            "ingest_orders",
            "ingest_payments",
            "month_end_close",
            "process_files",
            "revenue_dashboard"
        ],
        "a new example needs a decision here: run it, or say why it cannot run"
    );
    let mut runnable = Vec::new();
    for dag in all {
        let skip = match dag.as_str() {
            "campaign_report" => Some(
                "it pulls the marketing team's images from registry.example.com and \
                 ends with an `http` task, which this server does not run yet",
            ),
            "container_hello" if !test_image_present() => Some(
                "the Docker daemon or the test image weir-test/busybox:latest is missing \
                 (crates/weir-compute/scripts/build-test-image.sh builds it)",
            ),
            _ => None,
        };
        match skip {
            Some(why) => eprintln!("skipping the example DAG {dag}: {why}"),
            None => runnable.push(dag),
        }
    }
    server.run_all(&runnable);

    // XCom crossed from task to task (its file path is absolute, whatever the cwd).
    let logs = tmp.path().join(".weir/logs");
    assert!(
        some_log_contains(&logs.join("daily_revenue"), "transforming 1280 rows"),
        "{}",
        server.output()
    );
    assert!(some_log_contains(
        &logs.join("process_files"),
        "processing landing/b.csv"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_with_only_teams_and_logs_keeps_the_standalone_queue_and_environments() {
    let tmp = tempfile::tempdir().unwrap();
    let dags = tmp.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    // 3 MB of output against a 1 MiB log limit; the task still ends normally.
    std::fs::write(
        dags.join("hello.yaml"),
        "dag: hello\nteam: analytics\ntasks:\n  greet: {shell: echo hello from the default queue}\n  loud:\n    depends_on: [greet]\n    shell: yes 0123456789012345678901234567890123456789 | head -c 3000000; echo finished\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("weir.toml"),
        "[[teams]]\nname = \"analytics\"\nimage_prefixes = [\"weir-test/\"]\n\n[logs]\nmax_bytes_per_try = \"1Mi\"\n",
    )
    .unwrap();
    let server = Standalone::start(
        tmp.path(),
        &["--dags", "dags", "--home", "home", "--config", "weir.toml"],
    )
    .await;
    let errors = server.get("/importErrors").await;
    assert_eq!(
        errors["total_entries"],
        0,
        "the DAG imports: {errors}\n{}",
        server.output()
    );
    let queues = server.get("/queues").await;
    assert!(
        queues.to_string().contains("\"default\""),
        "the standalone queue: {queues}"
    );
    server.run_all(&["hello".to_owned()]);
    let logs = tmp.path().join("home/logs/hello");
    assert!(some_log_contains(&logs, "hello from the default queue"));
    let loud: Vec<PathBuf> = find_files(&logs, "log")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/loud/"))
        .collect();
    assert_eq!(loud.len(), 1, "{loud:?}");
    let log = std::fs::read_to_string(&loud[0]).unwrap();
    assert!(log.len() <= (1 << 20) + 1024, "{} bytes", log.len());
    assert!(log.contains("[weir] log truncated"), "{log:.300}");

    let validate = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["dags", "validate", "--config", "weir.toml", "dags"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(validate.status.code(), Some(0), "{}", text(&validate));
}

/// The bundled examples and the documented `examples/weir.toml` agree: every example is
/// valid under the platform config a newcomer copies (teams, images, paths).
#[test]
fn the_bundled_examples_validate_against_the_example_platform_config() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["dags", "validate", "--config"])
        .arg(examples.join("weir.toml"))
        .arg(examples.join("dags"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(", 0 errors"), "{}", text(&out));
}
