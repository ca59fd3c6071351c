//! Task logs on object storage (`[logs] store`), through the real binary against moto's
//! S3 (`crates/weir-secrets/scripts/start-moto.sh`, started by `scripts/test`, which
//! exports `WEIR_TEST_MOTO_URL`): a finished try's log lands in the bucket under its
//! team's folder, leaves the disk, and reads back the same through the API (whole, in
//! chunks with the continuation token) and the CLI; retention deletes it in the bucket
//! and on disk and the API says so; a store that cannot be reached keeps the log local
//! (uploaded once it is back) and makes reading an archived log a 503; a missing bucket
//! stops the start naming the setting. Between the server and moto runs a small TCP
//! proxy of the test's, which the test takes down to make the store unreachable.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::server::Server;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

const CREDENTIALS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

/// moto's URL, or None when the test is to be skipped.
fn moto() -> Option<String> {
    match std::env::var("WEIR_TEST_MOTO_URL") {
        Ok(url) => Some(url.trim_end_matches('/').to_string()),
        Err(_) if std::env::var_os("WEIR_REQUIRE_MOTO").is_some() => {
            panic!("WEIR_REQUIRE_MOTO is set but WEIR_TEST_MOTO_URL is not: run scripts/test")
        }
        Err(_) => {
            eprintln!("skipped: no WEIR_TEST_MOTO_URL (crates/weir-secrets/scripts/start-moto.sh)");
            None
        }
    }
}

/// A fresh bucket in moto, named for this test.
async fn bucket(moto: &str, name: &str) -> String {
    let bucket = format!("weir-logs-{name}-{}", std::process::id());
    let response = reqwest::Client::new()
        .put(format!("{moto}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    bucket
}

/// The object at `key` in `bucket`, if there is one (read with moto's test credentials).
async fn object(moto: &str, bucket: &str, key: &str) -> Option<String> {
    use object_store::ObjectStoreExt;
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(moto)
        .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
        .with_region("us-east-1")
        .with_bucket_name(bucket)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    match s3.get(&object_store::path::Path::from(key)).await {
        Ok(got) => Some(String::from_utf8(got.bytes().await.unwrap().to_vec()).unwrap()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("moto: {e}"),
    }
}

/// A TCP proxy from a port of its own to moto, that the test can take down and bring
/// back up on the same port.
struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    async fn start(moto: &str) -> Proxy {
        let target: SocketAddr = moto.trim_start_matches("http://").parse().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            target,
            task: None,
        };
        proxy.serve(listener);
        proxy
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target;
        self.task = Some(tokio::spawn(async move {
            // Dropped with the task: every forwarded connection ends with it.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Refuses connections from now on, and cuts the open ones.
    async fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    async fn up(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

/// The local log file of try 1 of `task` in run `run` of `dag`.
fn local_log(server: &Server, dag: &str, run: &str, task: &str) -> PathBuf {
    server
        .home()
        .join("logs")
        .join(dag)
        .join(run)
        .join(task)
        .join("-1")
        .join("1")
        .join("log")
}

async fn eventually(what: &str, server: &Server, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn trigger(server: &Server, dag: &str, run: &str) {
    let (status, body) = server
        .send(
            "POST",
            &format!("/dags/{dag}/dagRuns"),
            &format!(r#"{{"dag_run_id": "{run}"}}"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = server.wait_run_finished(dag, run).await;
    assert_eq!(run["state"], "success", "{run}");
}

/// The API's answer for the log of try 1 of `task` in `run`, with `query`.
async fn log(server: &Server, dag: &str, run: &str, task: &str, query: &str) -> (u16, Value) {
    server
        .get(&format!(
            "/dags/{dag}/dagRuns/{run}/taskInstances/{task}/logs/1?{query}"
        ))
        .await
}

fn config(bucket: &str, endpoint: &str, extra: &str) -> String {
    format!(
        "[[teams]]\nname = \"growth\"\n\n[[teams]]\nname = \"platform\"\n\n[logs]\nstore = \"s3://{bucket}/prod\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n{extra}"
    )
}

const CHATTY: &str = "dag: chatty\nteam: growth\npaused: false\ntasks:\n  talk:\n    shell: \"seq 1 40000 | sed 's/^/€ line /'; if env | grep -q '^AWS_'; then echo AWS-LEAK; fi\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_trys_log_goes_to_the_bucket_and_reads_back_the_same() {
    let Some(moto) = moto() else { return };
    let bucket = bucket(&moto, "archive").await;
    let server = Server::start_with(
        &[("chatty.yaml", CHATTY)],
        Some(&config(&bucket, &moto, "")),
        &CREDENTIALS,
    );
    trigger(&server, "chatty", "talk1").await;
    let local = local_log(&server, "chatty", "talk1", "talk");
    eventually(
        "the local log to be archived and removed",
        &server,
        async || !local.exists(),
    )
    .await;
    assert!(local.parent().unwrap().is_dir(), "the try folder stays");

    // In the team's folder of the bucket, whole.
    let key = "prod/growth/chatty/talk1/talk/-1/1.log";
    let archived = object(&moto, &bucket, key).await.expect("the archived log");
    assert!(archived.contains("€ line 1\n"), "{}", &archived[..200]);
    assert!(archived.contains("€ line 40000\n"));
    assert!(
        !archived.contains("AWS-LEAK"),
        "the task saw the store's credentials"
    );

    // The API gives the same bytes back, whole and chunk by chunk.
    let (status, whole) = log(&server, "chatty", "talk1", "talk", "full_content=true").await;
    assert_eq!(status, 200, "{whole}");
    assert_eq!(whole["content"].as_str().unwrap(), archived);
    assert_eq!(
        whole["continuation_token"].as_str().unwrap(),
        archived.len().to_string()
    );
    let (mut chunks, mut text, mut token) = (0, String::new(), String::new());
    loop {
        let (status, chunk) = log(
            &server,
            "chatty",
            "talk1",
            "talk",
            &format!("token={token}"),
        )
        .await;
        assert_eq!(status, 200, "{chunk}");
        let content = chunk["content"].as_str().unwrap();
        if content.is_empty() {
            break;
        }
        chunks += 1;
        text.push_str(content);
        token = chunk["continuation_token"].as_str().unwrap().to_string();
    }
    assert!(
        chunks >= 2,
        "a {} byte log came in {chunks} chunk(s)",
        archived.len()
    );
    assert_eq!(text, archived);

    // The CLI reads through the API.
    let out = server.cli(&["tasks", "logs", "chatty", "talk1", "talk"]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("€ line 1\n") && printed.contains("€ line 40000\n"));

    // An archived log is the team's as it was on disk: another team's viewer is refused.
    for (user, team) in [("gail", "growth"), ("pete", "platform")] {
        let out = server.cli_with_stdin(
            &["users", "create", user, "--password-stdin"],
            "a-password-123\n",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = server.cli(&["teams", "add-member", team, user, "--role", "viewer"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (user, expected) in [("gail", 200), ("pete", 403)] {
        let response = reqwest::Client::new()
            .get(server.api("/dags/chatty/dagRuns/talk1/taskInstances/talk/logs/1"))
            .basic_auth(user, Some("a-password-123"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{user}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_logs_in_the_bucket_and_on_disk() {
    let Some(moto) = moto() else { return };
    let bucket = bucket(&moto, "retention").await;
    let teams = "[[teams]]\nname = \"growth\"\n\n[[teams]]\nname = \"platform\"\n";
    let mut server = Server::start_with(
        &[(
            "brief.yaml",
            "dag: brief\nteam: growth\npaused: false\ntasks:\n  say:\n    shell: 'echo short-lived'\n",
        )],
        Some(teams),
        &[],
    );
    // The store's key pair from a platform secret, not from the environment.
    let out = server.cli_with_stdin(
        &["secrets", "set", "platform/log-store"],
        r#"{"access_key_id": "testing", "secret_access_key": "testing"}"#,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = config(
        &bucket,
        &moto,
        "credentials_secret = \"platform/log-store\"\nretention = \"5s\"\n",
    );
    std::fs::write(server.dir.path().join("weir.toml"), text).unwrap();
    server.kill();
    server.restart();

    trigger(&server, "brief", "r1").await;
    let key = "prod/growth/brief/r1/say/-1/1.log";
    let mut seen = false;
    eventually("the log to be archived", &server, async || {
        seen = object(&moto, &bucket, key).await.is_some();
        seen
    })
    .await;
    let (status, body) = log(&server, "brief", "r1", "say", "full_content=true").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["content"].as_str().unwrap().contains("short-lived"));

    eventually("retention to remove the log", &server, async || {
        log(&server, "brief", "r1", "say", "").await.0 == 404
    })
    .await;
    let (_, body) = log(&server, "brief", "r1", "say", "").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("removed by the log retention") && detail.contains("kept 5s"),
        "{body}"
    );
    assert_eq!(
        object(&moto, &bucket, key).await,
        None,
        "still in the bucket"
    );
    let local = local_log(&server, "brief", "r1", "say");
    assert!(!local.exists());
    assert!(local.parent().unwrap().is_dir(), "the try folder stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_keeps_logs_local_until_it_is_back() {
    let Some(moto) = moto() else { return };
    let bucket = bucket(&moto, "outage").await;
    let mut proxy = Proxy::start(&moto).await;
    let server = Server::start_with(
        &[(
            "steady.yaml",
            "dag: steady\nteam: growth\npaused: false\ntasks:\n  say:\n    shell: 'echo steady-output'\n",
        )],
        Some(&config(&bucket, &proxy.url(), "")),
        &CREDENTIALS,
    );
    trigger(&server, "steady", "r1").await;
    let first = local_log(&server, "steady", "r1", "say");
    eventually("the first log to be archived", &server, async || {
        !first.exists()
    })
    .await;

    proxy.down().await;
    // An archived log cannot be read now: a 503 that says why, without internals.
    let (status, body) = log(&server, "steady", "r1", "say", "").await;
    assert_eq!(status, 503, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("log store") && detail.contains("cannot be reached"),
        "{body}"
    );
    assert!(!detail.contains("127.0.0.1"), "{body}");

    // A try that ends now keeps its log on disk, readable, and the server says why.
    trigger(&server, "steady", "r2").await;
    eventually("the failed upload to be reported", &server, async || {
        server.output().contains("cannot archive the try's log yet")
    })
    .await;
    let second = local_log(&server, "steady", "r2", "say");
    assert!(second.exists(), "the log was lost");
    let (status, body) = log(&server, "steady", "r2", "say", "full_content=true").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["content"].as_str().unwrap().contains("steady-output"));

    // Back up: the upload is tried again, and both logs read from the bucket.
    proxy.up().await;
    eventually("the second log to be archived", &server, async || {
        !second.exists()
    })
    .await;
    let archived = object(&moto, &bucket, "prod/growth/steady/r2/say/-1/1.log")
        .await
        .expect("archived");
    assert!(archived.contains("steady-output"));
    for run in ["r1", "r2"] {
        let (status, body) = log(&server, "steady", run, "say", "full_content=true").await;
        assert_eq!(status, 200, "{body}");
        assert!(body["content"].as_str().unwrap().contains("steady-output"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_stops_the_start_naming_the_setting() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weir.toml");
    let missing = format!("weir-logs-missing-{}", std::process::id());
    std::fs::write(&path, config(&missing, &moto, "")).unwrap();
    std::fs::create_dir_all(dir.path().join("dags")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["standalone", "--port", "0", "--dags"])
        .arg(dir.path().join("dags"))
        .arg("--home")
        .arg(dir.path().join("home"))
        .arg("--config")
        .arg(&path)
        .envs(CREDENTIALS)
        .env("WEIR_ADMIN_PASSWORD", "admin-password-for-tests")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the server started with a missing bucket");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("[logs] store")
            && stderr.contains(&format!("bucket `{missing}` does not exist")),
        "{stderr}"
    );
}
