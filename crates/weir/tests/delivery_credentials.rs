//! Repository credentials kept as team secrets, against real servers started by the
//! test: an SSH deploy key against `sshd` (Debian's `openssh-server`; `scripts/test`
//! installs it), an HTTPS-style access token against `git http-backend` behind Basic
//! authentication (`support/git_http_server.py`). A wrong credential is refused with git's
//! own reason and changes nothing; the right one syncs; a key never stays on disk.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::io::BufRead as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::git::Repo;
use support::server::Server;

const SSHD: &str = "/usr/sbin/sshd";

/// An `sshd` on a free local port that lets in whoever holds `client.pub`, as root.
struct Sshd {
    child: Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "weir-test", "-f"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_sshd(dir: &Path) -> Sshd {
    keygen(&dir.join("host"));
    keygen(&dir.join("client"));
    std::fs::copy(dir.join("client.pub"), dir.join("authorized_keys")).unwrap();
    // Privilege separation wants this folder to exist.
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host\nAuthorizedKeysFile {dir}/authorized_keys\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
         StrictModes no\nUsePAM no\nPidFile {dir}/sshd.pid\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("sshd_config"), config).unwrap();
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "sshd did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Sshd { child, port }
}

/// A platform config with teams `growth` and `ops` and the repository at `url`, read
/// with the credential `key = "secret"`.
fn platform(url: &str, key: &str, secret: &str) -> String {
    format!(
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
name = "growth"
allow_unsandboxed_shell = true

[[teams]]
name = "ops"

[repository]
url = "{url}"
interval = "1h"
{key} = "{secret}"
"#
    )
}

fn can_run(test: &str) -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    let present = Path::new(SSHD).is_file();
    if root && present {
        return true;
    }
    assert!(
        std::env::var_os("WEIR_REQUIRE_SSHD").is_none(),
        "{test} needs root and {SSHD} (Debian's openssh-server; scripts/test installs it)"
    );
    eprintln!("SKIPPED {test}: needs root and {SSHD}");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_key_from_a_secret_fetches_over_ssh_and_a_wrong_one_is_refused() {
    if !can_run("a_deploy_key_from_a_secret_fetches_over_ssh") {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let sshd = start_sshd(keys.path());
    let repo = Repo::new();
    let commit = repo.commit(
        ("Alice", "alice@example.com"),
        "over ssh",
        &[(
            "dags/clicks.yaml",
            "dag: clicks\nteam: growth\ntasks:\n  count:\n    shell: echo one\n",
        )],
    );
    let url = format!(
        "ssh://root@127.0.0.1:{}{}",
        sshd.port,
        repo.path().display()
    );
    let platform = platform(&url, "ssh_key_secret", "ops/deploy-key");
    let server = Server::start_with(&[], Some(&platform), &[]);

    // A key the server does not accept: git's reason, and nothing loaded.
    keygen(&keys.path().join("stranger"));
    let stranger = std::fs::read_to_string(keys.path().join("stranger")).unwrap();
    let out = server.cli_with_stdin(&["secrets", "set", "ops/deploy-key"], &stranger);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, problem) = server.send("POST", "/repository/sync", "").await;
    assert_eq!(status, 503, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("Permission denied"), "{problem}");
    assert!(detail.contains("refused the credentials"), "{problem}");
    assert!(!detail.contains("PRIVATE KEY"), "the key leaked: {problem}");
    let (status, _) = server.get("/dags/clicks").await;
    assert_eq!(status, 404);

    // The deploy key: the commit is fetched over SSH and loaded.
    let key = std::fs::read_to_string(keys.path().join("client")).unwrap();
    let out = server.cli_with_stdin(&["secrets", "set", "ops/deploy-key"], &key);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, state) = server.send("POST", "/repository/sync", "").await;
    assert_eq!(status, 200, "{state}\n{}", server.output());
    assert_eq!(state["commit"], commit.as_str(), "{state}");
    let (status, _) = server.get("/dags/clicks").await;
    assert_eq!(status, 200);
    // The key was on disk only while git ran.
    assert!(!server.home().join("repository/ssh-key").exists());
}

/// `git http-backend` serving `root` to whoever sends `user:token` (Basic), on a free port.
struct GitHttp {
    child: Child,
    port: u16,
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_git_http(root: &Path, credential: &str) -> GitHttp {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/git_http_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(root)
        .arg(credential)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().unwrap();
    GitHttp { child, port }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_from_a_secret_authenticates_over_http_and_a_wrong_one_is_refused() {
    let repo = Repo::new();
    let commit = repo.commit(
        ("Alice", "alice@example.com"),
        "over http",
        &[(
            "dags/clicks.yaml",
            "dag: clicks\nteam: growth\ntasks:\n  count:\n    shell: echo one\n",
        )],
    );
    let parent = repo.path().parent().unwrap();
    let name = repo
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let http = start_git_http(parent, "x-access-token:the-right-token");
    let url = format!("http://127.0.0.1:{}/{name}/.git", http.port);
    let platform = platform(&url, "token_secret", "ops/git-token");
    let server = Server::start_with(&[], Some(&platform), &[]);
    let out = server.cli_with_stdin(&["secrets", "set", "ops/git-token"], "a-wrong-token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, problem) = server.send("POST", "/repository/sync", "").await;
    assert_eq!(status, 503, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("refused the credentials"), "{problem}");
    assert!(
        !detail.contains("a-wrong-token"),
        "the token leaked: {problem}"
    );
    let (_, audit) = server.get("/auditEvents?action=repository.sync").await;
    assert!(!audit.to_string().contains("a-wrong-token"), "{audit}");

    let out = server.cli_with_stdin(&["secrets", "set", "ops/git-token"], "the-right-token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, state) = server.send("POST", "/repository/sync", "").await;
    assert_eq!(status, 200, "{state}\n{}", server.output());
    assert_eq!(state["commit"], commit.as_str(), "{state}");
    let (status, _) = server.get("/dags/clicks").await;
    assert_eq!(status, 200);
    assert!(
        !server.output().contains("the-right-token"),
        "the token is in the server's log"
    );
}
