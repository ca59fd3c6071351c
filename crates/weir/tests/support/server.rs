//! A real `weir standalone` process on a free port, with its own home and DAG folder,
//! driven over HTTP and through the CLI. Its output is printed if a test fails.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Server {
    pub dir: tempfile::TempDir,
    pub url: String,
    child: Option<Child>,
    log: PathBuf,
    /// The platform admin's API token, sent with every request and CLI call.
    pub token: String,
    /// Extra arguments of `weir standalone` (e.g. `--config`), kept across restarts.
    pub args: Vec<String>,
    /// Extra variables for the server's environment, kept across restarts.
    pub env: Vec<(String, String)>,
    /// The subcommand that starts it: `standalone`, or `server` for a replica.
    pub command: &'static str,
}

/// The password `weir standalone` gives its first user, `admin`, in these tests.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

impl Server {
    /// A server on a fresh home and DAG folder holding `files` (name, YAML).
    pub fn start(files: &[(&str, &str)]) -> Server {
        let mut server = Server::new(files);
        server.restart();
        server
    }

    /// A server with a platform config (`weir.toml` text) and extra environment.
    pub fn start_with(
        files: &[(&str, &str)],
        config: Option<&str>,
        env: &[(&str, &str)],
    ) -> Server {
        let mut server = Server::new(files);
        if let Some(text) = config {
            let path = server.dir.path().join("weir.toml");
            std::fs::write(&path, text).unwrap();
            server.args.push("--config".into());
            server.args.push(path.display().to_string());
        }
        server.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        server.restart();
        server
    }

    /// A fresh home and DAG folder holding `files` (name, YAML; names may hold folders),
    /// not started yet: set the folder up further, then call [`Server::restart`].
    pub fn new(files: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dags")).unwrap();
        for (name, yaml) in files {
            let path = dir.path().join("dags").join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(path, yaml).unwrap();
        }
        let log = dir.path().join("server.log");
        Server {
            dir,
            url: String::new(),
            token: String::new(),
            child: None,
            log,
            args: Vec::new(),
            env: Vec::new(),
            command: "standalone",
        }
    }

    /// The server process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn dags(&self) -> PathBuf {
        self.dir.path().join("dags")
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Starts (again) on the same home; waits for the ready line.
    pub fn restart(&mut self) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args([self.command, "--port", "0", "--dags"])
            .arg(self.dags())
            .arg("--home")
            .arg(self.home())
            .args(&self.args)
            .env("WEIR_LOG", "info,sqlx=warn")
            .env("WEIR_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in the ready line: {line:?}"))
            .to_string();
        self.url = url;
        self.child = Some(child);
        if self.token.is_empty() {
            self.token = self.sign_in();
        }
    }

    /// An API token of the platform admin, made with its password (what `weir login` does).
    fn sign_in(&self) -> String {
        let url = self.api("/tokens");
        // Its own runtime on its own thread: callers may be inside a runtime already.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let response = reqwest::Client::new()
                    .post(url)
                    .basic_auth("admin", Some(ADMIN_PASSWORD))
                    .json(&serde_json::json!({"name": "tests"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 201);
                let body: Value = response.json().await.unwrap();
                body["token"].as_str().unwrap().to_string()
            })
        })
        .join()
        .unwrap()
    }

    /// A clean stop (SIGTERM), waited for.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
            child.wait().unwrap();
        }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .get(self.api(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let client = reqwest::Client::new();
        let resp = client
            .request(method.parse().unwrap(), self.api(path))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Polls `path` until `done` holds for its JSON, or fails after a minute.
    pub async fn wait_for(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.get(path).await;
            if status == 200 && done(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: last answer {status} {body}\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn wait_run_finished(&self, dag: &str, run_id: &str) -> Value {
        self.wait_for(
            &format!("/dags/{dag}/dagRuns/{run_id}"),
            "the run to finish",
            |r| matches!(r["state"].as_str(), Some("success" | "failed")),
        )
        .await
    }

    pub async fn trigger(&self, dag: &str) -> String {
        let (status, run) = self
            .send("POST", &format!("/dags/{dag}/dagRuns"), "{}")
            .await;
        assert_eq!(status, 200, "{run}");
        run["dag_run_id"].as_str().unwrap().to_string()
    }

    /// The CLI against this server, with `input` on its standard input (a value that
    /// must not be on the command line).
    pub fn cli_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
        cmd.args(args)
            .env("WEIR_SERVER", &self.url)
            .env("WEIR_TOKEN", &self.token);
        run_with_stdin(cmd, input)
    }

    /// The CLI against this server.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .env("WEIR_SERVER", &self.url)
            .env("WEIR_TOKEN", &self.token)
            .output()
            .unwrap()
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- weir standalone output ---\n{}", self.output());
        }
        self.kill();
    }
}

/// Runs `cmd` with `input` on its standard input; its output captured.
pub fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Every file under `dir` named `name`.
pub fn find_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == name) {
                out.push(p);
            }
        }
    }
    out
}
