//! What notifications are sent to in tests: a webhook receiver (an axum server on a free
//! port that records every request and answers each path with a chosen status) and an
//! SMTP sink (Python's `aiosmtpd` writing a Maildir).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use serde_json::Value;

#[derive(Default)]
struct Received {
    requests: Vec<(String, Value)>,
    statuses: HashMap<String, u16>,
}

/// A webhook receiver: `url(path)` is where a channel posts; `answer(path, status)`
/// makes that path answer `status` (204 otherwise).
pub struct WebhookReceiver {
    pub base: String,
    received: Arc<Mutex<Received>>,
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = axum::Router::new()
            .route("/{path}", axum::routing::post(record))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        WebhookReceiver { base, received }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    pub fn answer(&self, path: &str, status: u16) {
        self.received
            .lock()
            .unwrap()
            .statuses
            .insert(path.to_string(), status);
    }

    /// The bodies posted to `path`, in order.
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Waits until `path` got `n` requests (a minute at most).
    pub async fn wait_for(&self, path: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.bodies(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path} got {} requests, not {n}: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn record(
    State(received): State<Arc<Mutex<Received>>>,
    UrlPath(path): UrlPath<String>,
    body: String,
) -> StatusCode {
    let mut r = received.lock().unwrap();
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    r.requests.push((path.clone(), value));
    let status = r.statuses.get(&path).copied().unwrap_or(204);
    StatusCode::from_u16(status).unwrap()
}

/// An SMTP server that keeps every message in a Maildir: Python's `aiosmtpd`, from
/// `WEIR_TEST_SMTP_PYTHON` (a virtualenv's python with aiosmtpd, made by scripts/test)
/// or the system's python3. None when neither has it and `WEIR_REQUIRE_SMTP` is unset.
pub struct SmtpSink {
    pub port: u16,
    maildir: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start() -> Option<SmtpSink> {
        let python = std::env::var("WEIR_TEST_SMTP_PYTHON").unwrap_or_else(|_| "python3".into());
        let has_it = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_it {
            assert!(
                std::env::var_os("WEIR_REQUIRE_SMTP").is_none(),
                "no aiosmtpd for `{python}`: scripts/test installs it (WEIR_TEST_SMTP_PYTHON)"
            );
            eprintln!("skipping e-mail: no aiosmtpd (set WEIR_TEST_SMTP_PYTHON)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("mail");
        let port = free_port();
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(SmtpSink {
            port,
            maildir,
            child,
            _dir: dir,
        })
    }

    /// The messages received so far, as their raw text.
    pub fn messages(&self) -> Vec<String> {
        let new = self.maildir.join("new");
        let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(&new)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .map(|p| {
                        let text = std::fs::read_to_string(&p).unwrap_or_default();
                        (p, text)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out.into_iter().map(|(_, t)| t).collect()
    }

    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the SMTP sink got {} messages, not {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn maildir(&self) -> &Path {
        &self.maildir
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
