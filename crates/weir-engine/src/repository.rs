//! The Git repository of `weir.toml`'s `[repository]`: DAGs and job definitions
//! delivered by commits, synced with the `git` binary.
//!
//! A sync fetches the branch's tip shallowly (`--depth 1`, forced, so a force-push is
//! followed) into a bare cache under `<home>/repository/cache.git`, checks the exact commit
//! out into a fresh folder `checkouts/<sha>`, and switches the `current` link to it
//! atomically (a rename), so a reader never sees half a commit. Then the tree is synced
//! like the DAG folder (`dag_bag::sync_tree`), each new version carrying the commit's
//! provenance (SHA, author, committer, message, time) and its author mapped to a Weir
//! user by e-mail.
//!
//! A failed sync (unreachable, bad credentials, a commit without `dags/`) changes
//! nothing that runs: the last good commit stays checked out and its versions active; the
//! error is kept in the sync state (`GET /api/v1/repository`) and the audit trail. Broken
//! files are import errors of their own and keep their DAGs on their last good versions,
//! as in the folder.
//!
//! Credentials are secrets, named in `weir.toml`, resolved for each fetch and handed to
//! `git` through its environment (an HTTPS token as an `Authorization` header via
//! `GIT_CONFIG_*`, an SSH key as a 0600 file removed after the fetch): never in a URL, an
//! argument (visible in `ps`) or a file that stays.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::process::Command;
use weir_core::platform::RepositorySettings;
use weir_store::{Provenance, RepositoryState};

use crate::dag_bag::{SyncReport, Tree, sync_tree};
use crate::error::{EngineError, Result};
use crate::governance::audit;
use crate::shared::Shared;

/// Longest a `git` command may take before the sync gives up on it.
const GIT_TIMEOUT: Duration = Duration::from_secs(120);
/// The local ref the fetched branch tip is kept under.
const FETCHED: &str = "refs/weir/fetched";

/// The repository's folders under Weir's home.
struct Folders {
    base: PathBuf,
}

impl Folders {
    fn new(home: &Path) -> Self {
        Folders {
            base: home.join("repository"),
        }
    }
    fn cache(&self) -> PathBuf {
        self.base.join("cache.git")
    }
    fn checkouts(&self) -> PathBuf {
        self.base.join("checkouts")
    }
    fn current(&self) -> PathBuf {
        self.base.join("current")
    }
    /// The folder of the commit in use that holds `dags/` and `jobs/`.
    fn tree(&self, settings: &RepositorySettings) -> PathBuf {
        self.current().join(&settings.path)
    }
}

/// The commit a sync checked out.
#[derive(Debug, Clone)]
struct Commit {
    sha: String,
    author_name: String,
    author_email: String,
    committer: String,
    committed_at: Option<DateTime<Utc>>,
    message: String,
}

/// What one sync did.
#[derive(Debug, Clone)]
pub struct RepositorySync {
    pub state: RepositoryState,
    /// None when the commit was the one in use already (nothing to load).
    pub report: Option<SyncReport>,
}

/// The repository as `git` should be told it: a local path becomes a `file://` URL (a
/// shallow fetch of a plain path is refused by git).
fn fetch_url(url: &str) -> String {
    let path = Path::new(url);
    if path.is_absolute() && path.exists() {
        format!("file://{}", path.display())
    } else {
        url.to_string()
    }
}

/// Runs `git` with `args` (and `env`), within [`GIT_TIMEOUT`]; its stdout, or an error
/// carrying the tail of its stderr.
async fn git(args: &[&str], env: &[(String, String)], what: &str) -> Result<String> {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("SSH_ASKPASS", "true")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(GIT_TIMEOUT, cmd.output()).await {
        Err(_) => {
            return Err(EngineError::Repository(format!(
                "{what}: git took more than {} s; is the repository reachable?",
                GIT_TIMEOUT.as_secs()
            )));
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EngineError::Repository(
                "the `git` program is not installed on this server; install git to sync the repository".into(),
            ));
        }
        Ok(Err(e)) => {
            return Err(EngineError::Repository(format!(
                "{what}: cannot run git: {e}"
            )));
        }
        Ok(Ok(out)) => out,
    };
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let detail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = detail[detail.len().saturating_sub(6)..].join("; ");
    let refused = [
        "Permission denied",
        "Authentication failed",
        "returned error: 401",
        "returned error: 403",
    ]
    .iter()
    .any(|sign| stderr.contains(sign));
    let hint = if refused {
        " (the repository refused the credentials: check the secret named by `token_secret` or `ssh_key_secret` in [repository])"
    } else {
        ""
    };
    Err(EngineError::Repository(format!("{what}: {tail}{hint}")))
}

/// The credentials of the fetch, as environment for `git`, and a key file to remove.
async fn credentials(
    shared: &Shared,
    settings: &RepositorySettings,
    folders: &Folders,
) -> Result<(Vec<(String, String)>, Option<PathBuf>)> {
    let read = |reference: &str| {
        let (team, name) = reference.split_once('/').unwrap_or(("", reference));
        (team.to_string(), name.to_string())
    };
    let resolve = |team: String, name: String| async move {
        shared
            .secrets
            .resolve(&team, &[name.as_str()])
            .await
            .map_err(|e| {
                EngineError::Repository(format!(
                    "the repository's credentials cannot be read: {e}; set it with `weir secrets set {team}/{name}`"
                ))
            })
            .map(|mut v| v.pop().unwrap_or_default())
    };
    if let Some(reference) = &settings.token_secret {
        let (team, name) = read(reference);
        let token = resolve(team, name).await?;
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        let env = vec![
            ("GIT_CONFIG_COUNT".into(), "1".into()),
            ("GIT_CONFIG_KEY_0".into(), "http.extraHeader".into()),
            (
                "GIT_CONFIG_VALUE_0".into(),
                format!("Authorization: Basic {basic}"),
            ),
        ];
        return Ok((env, None));
    }
    if let Some(reference) = &settings.ssh_key_secret {
        let (team, name) = read(reference);
        let mut key = resolve(team, name).await?;
        if !key.ends_with('\n') {
            key.push('\n');
        }
        let path = folders.base.join("ssh-key");
        write_private(&path, &key)?;
        let known_hosts = folders.base.join("known_hosts");
        let command = format!(
            "ssh -i '{}' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='{}'",
            path.display(),
            known_hosts.display()
        );
        return Ok((vec![("GIT_SSH_COMMAND".into(), command)], Some(path)));
    }
    Ok((Vec::new(), None))
}

/// Writes `text` to a file only its owner can read.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(text.as_bytes()).map_err(io_error(path))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Fetches the branch tip into the cache; returns its commit.
async fn fetch(
    shared: &Shared,
    settings: &RepositorySettings,
    folders: &Folders,
) -> Result<Commit> {
    let cache = folders.cache();
    std::fs::create_dir_all(&folders.base).map_err(io_error(&folders.base))?;
    if !cache.join("HEAD").exists() {
        let cache_arg = cache.display().to_string();
        git(
            &["init", "--quiet", "--bare", &cache_arg],
            &[],
            "preparing the repository cache",
        )
        .await?;
    }
    let git_dir = format!("--git-dir={}", cache.display());
    let (env, key_file) = credentials(shared, settings, folders).await?;
    let refspec = format!("+refs/heads/{}:{FETCHED}", settings.branch);
    let url = fetch_url(&settings.url);
    let fetched = git(
        &[
            &git_dir,
            "fetch",
            "--quiet",
            "--depth=1",
            "--force",
            "--no-tags",
            &url,
            &refspec,
        ],
        &env,
        &format!("fetching branch `{}` of {}", settings.branch, settings.url),
    )
    .await;
    if let Some(path) = key_file {
        let _ = std::fs::remove_file(path);
    }
    if let Err(EngineError::Repository(e)) = &fetched
        && e.contains("couldn't find remote ref")
    {
        return Err(EngineError::Repository(format!(
            "{} has no branch `{}` (yet): push a first commit to it, or set `branch` in [repository]",
            settings.url, settings.branch
        )));
    }
    fetched?;
    let format = "--format=%H%x00%an%x00%ae%x00%cn <%ce>%x00%cI%x00%B";
    let log = git(
        &[&git_dir, "log", "-1", format, FETCHED],
        &[],
        "reading the commit",
    )
    .await?;
    let mut parts = log.splitn(6, '\0');
    let mut next = || parts.next().unwrap_or_default().trim().to_string();
    Ok(Commit {
        sha: next(),
        author_name: next(),
        author_email: next(),
        committer: next(),
        committed_at: DateTime::parse_from_rfc3339(&next())
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        message: next(),
    })
}

/// Checks `commit` out into `checkouts/<sha>` (fresh), checks it holds `dags/` under the
/// configured path, and switches `current` to it; older checkouts are removed.
async fn check_out(
    settings: &RepositorySettings,
    folders: &Folders,
    commit: &Commit,
) -> Result<()> {
    let checkouts = folders.checkouts();
    std::fs::create_dir_all(&checkouts).map_err(io_error(&checkouts))?;
    let target = checkouts.join(&commit.sha);
    let fresh = checkouts.join(format!("{}.partial", commit.sha));
    let _ = std::fs::remove_dir_all(&fresh);
    std::fs::create_dir_all(&fresh).map_err(io_error(&fresh))?;
    let git_dir = format!("--git-dir={}", folders.cache().display());
    let work_tree = format!("--work-tree={}", fresh.display());
    git(
        &[
            &git_dir,
            &work_tree,
            "checkout",
            "--quiet",
            "-f",
            &commit.sha,
            "--",
            ".",
        ],
        &[],
        &format!("checking out commit {}", commit.sha),
    )
    .await?;
    let dags = fresh.join(&settings.path).join("dags");
    if !dags.is_dir() {
        let _ = std::fs::remove_dir_all(&fresh);
        return Err(EngineError::Repository(format!(
            "commit {} has no `dags/` folder{}; the last good commit stays in use",
            short(&commit.sha),
            if settings.path.is_empty() {
                " at the repository's root".to_string()
            } else {
                format!(" under `{}`", settings.path)
            }
        )));
    }
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&fresh, &target).map_err(io_error(&target))?;
    let link = folders.base.join("current.new");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).map_err(io_error(&link))?;
    std::fs::rename(&link, folders.current()).map_err(io_error(&link))?;
    if let Ok(entries) = std::fs::read_dir(&checkouts) {
        for entry in entries.flatten() {
            if entry.path() != target {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(())
}

/// The name the repository's own sync error is shown under among the import errors.
fn import_error_file(settings: &RepositorySettings) -> String {
    format!(
        "{}{} (branch {})",
        crate::dag_bag::REPOSITORY_ERROR,
        settings.url,
        settings.branch
    )
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The `dags/` folder of the commit in use, when a repository is configured.
pub(crate) fn dags_folder(shared: &Shared) -> Option<PathBuf> {
    let settings = shared.platform.repository.as_ref()?;
    Some(
        Folders::new(&shared.config.home)
            .tree(settings)
            .join("dags"),
    )
}

/// Syncs the tree of the checked-out commit (`current`), with `provenance`.
async fn load(
    shared: &Shared,
    settings: &RepositorySettings,
    folders: &Folders,
    provenance: &Provenance,
) -> Result<SyncReport> {
    let root = folders.tree(settings);
    let (dags, jobs) = (root.join("dags"), root.join("jobs"));
    sync_tree(
        shared,
        &Tree {
            dags: &dags,
            jobs: Some(&jobs),
            provenance,
        },
    )
    .await
}

/// Fetches and, if the branch moved, checks out and loads the new commit (`reload`: loads
/// the commit in use even when the branch did not move, as at start, where the job
/// definitions live only in memory);
/// records the outcome (the error, if any) in the sync state and the audit trail.
pub(crate) async fn sync(shared: &Shared, actor: &str, reload: bool) -> Result<RepositorySync> {
    let Some(settings) = shared.platform.repository.clone() else {
        return Err(EngineError::Conflict(
            "no repository is configured: add a `[repository]` table with its `url` to weir.toml (without it, the DAG folder is watched)".into(),
        ));
    };
    let _one_at_a_time = shared.catalog.repository_lock().await;
    let folders = Folders::new(&shared.config.home);
    let before = shared.store.repository_state().await?;
    let attempt = async {
        let commit = fetch(shared, &settings, &folders).await?;
        let in_use = before.as_ref().and_then(|s| s.commit_sha.as_deref()) == Some(&commit.sha)
            && folders.current().exists();
        if !in_use {
            check_out(&settings, &folders, &commit).await?;
        } else if !reload {
            return Ok((commit, None));
        }
        let author_user = shared.store.user_by_email(&commit.author_email).await?;
        let provenance = Provenance {
            origin: "git".into(),
            commit_sha: Some(commit.sha.clone()),
            author_name: Some(commit.author_name.clone()),
            author_email: Some(commit.author_email.clone()),
            author_user,
            committer: Some(commit.committer.clone()),
            message: Some(commit.message.clone()),
            committed_at: commit.committed_at,
        };
        let report = load(shared, &settings, &folders, &provenance).await?;
        Ok::<_, EngineError>((commit, Some(report)))
    };
    let now = Utc::now();
    match attempt.await {
        Ok((commit, report)) => {
            let outcome = if report.is_some() {
                "loaded"
            } else {
                "unchanged"
            };
            shared.metrics.repository_synced(outcome);
            let state = RepositoryState {
                url: settings.url.clone(),
                branch: settings.branch.clone(),
                commit_sha: Some(commit.sha.clone()),
                commit_message: Some(commit.message.lines().next().unwrap_or_default().into()),
                commit_author: Some(format!("{} <{}>", commit.author_name, commit.author_email)),
                synced_at: Some(now),
                last_attempt_at: Some(now),
                last_error: None,
            };
            shared.store.record_repository_sync(&state).await?;
            shared
                .store
                .replace_import_errors(&import_error_file(&settings), &[])
                .await?;
            if let Some(r) = &report {
                audit(
                    shared,
                    actor,
                    "repository.sync",
                    &settings.url,
                    "",
                    json!({"commit": commit.sha, "dags": r.dags, "new_versions": r.new_versions,
                           "pending_approval": r.pending_approval,
                           "files_with_errors": r.files_with_errors}),
                )
                .await;
            }
            let state = shared.store.repository_state().await?.unwrap_or(state);
            Ok(RepositorySync { state, report })
        }
        Err(e) => {
            shared.metrics.repository_synced("failed");
            let message = e.to_string();
            let state = RepositoryState {
                url: settings.url.clone(),
                branch: settings.branch.clone(),
                last_attempt_at: Some(now),
                last_error: Some(message.clone()),
                ..RepositoryState::default()
            };
            shared.store.record_repository_sync(&state).await?;
            // Shown with the files' import errors, where teams look when a DAG does not
            // change (removed by the next successful sync).
            shared
                .store
                .replace_import_errors(
                    &import_error_file(&settings),
                    &[format!("the repository could not be synced: {message}")],
                )
                .await?;
            audit(
                shared,
                actor,
                "repository.sync",
                &settings.url,
                "",
                json!({"error": message}),
            )
            .await;
            tracing::warn!(error = %message, "repository sync failed; the last good commit stays in use");
            Err(EngineError::Repository(message))
        }
    }
}

/// At start: sync, and if the repository cannot be reached, load the commit checked out
/// last (its job definitions live only in memory).
pub(crate) async fn start(shared: &Shared) -> Result<()> {
    if sync(shared, "weir", true).await.is_ok() {
        return Ok(());
    }
    let (Some(settings), Some(state)) = (
        shared.platform.repository.clone(),
        shared.store.repository_state().await?,
    ) else {
        return Ok(());
    };
    let folders = Folders::new(&shared.config.home);
    if folders.current().exists() {
        let provenance = Provenance {
            origin: "git".into(),
            commit_sha: state.commit_sha.clone(),
            ..Provenance::default()
        };
        load(shared, &settings, &folders, &provenance).await?;
    }
    Ok(())
}

/// Syncs on the configured interval until the engine shuts down (the webhook syncs at
/// once in between).
pub(crate) fn spawn_interval(shared: std::sync::Arc<Shared>) {
    let Some(interval) = shared.platform.repository.as_ref().map(|r| r.interval.0) else {
        return;
    };
    let task_shared = shared.clone();
    shared.tracker.spawn(async move {
        loop {
            tokio::select! {
                () = task_shared.shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            // A failure is recorded in the sync state and the audit trail by `sync`.
            let _ = sync(&task_shared, "weir", false).await;
        }
    });
}
