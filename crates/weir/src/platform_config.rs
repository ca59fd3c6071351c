//! Reading `weir.toml` (the platform config) and the job definitions folder for the
//! commands that need them, with located diagnostics on any problem.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use weir_core::job_def::{JobCatalog, JobFile, JobSource, load_jobs};
use weir_core::platform::PlatformConfig;

/// The platform config at `path`; an error (after printing every problem) if invalid.
pub fn load(path: &Path) -> anyhow::Result<PlatformConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the platform config {}", path.display()))?;
    let report = weir_core::platform::parse(&text);
    let shown = path.display().to_string();
    if report.has_errors() || report.config.is_none() {
        eprintln!("{}", report.render(&shown, &text));
        bail!("the platform config {shown} has errors; fix them and start again");
    }
    if !report.diagnostics.is_empty() {
        eprintln!("{}", report.render(&shown, &text));
    }
    report.config.context("the platform config is empty")
}

/// The job definitions folder to use: the one given, else `jobs/` beside `dags`.
pub fn jobs_folder(given: Option<&Path>, dags: &Path) -> Option<PathBuf> {
    given.map(Path::to_path_buf).or_else(|| {
        let beside = dags.parent().unwrap_or(Path::new(".")).join("jobs");
        beside.is_dir().then_some(beside)
    })
}

/// Every job definition under `dir`.
pub fn load_job_folder(
    dir: &Path,
    platform: &PlatformConfig,
) -> anyhow::Result<(JobCatalog, Vec<JobFile>)> {
    let loaded = crate::dag_files::load(&[dir.to_path_buf()])
        .with_context(|| format!("cannot read the job definitions folder {}", dir.display()))?;
    if let Some((path, reason)) = loaded.refused.first() {
        bail!("{}: error: {reason}", path.display());
    }
    let files = loaded
        .files
        .into_iter()
        .map(|(path, source)| JobSource {
            rel_path: weir_core::platform::relative_to_dag_folder(&path, dir),
            path: path.display().to_string(),
            source,
        })
        .collect();
    Ok(load_jobs(files, platform))
}

/// The platform in force, resolved once for this host: the file's, with the standalone
/// default's compute environments when it declares none (or no file at all).
pub async fn effective(
    given: Option<PlatformConfig>,
    docker_socket: Option<&Path>,
) -> Arc<PlatformConfig> {
    let host = weir_compute::HostResources::probe(docker_socket).await;
    Arc::new(weir_compute::effective_platform(given, host))
}

/// The engine's settings every command starts from: its home, the supervisor, the
/// platform, and what the engine must not read itself (this host's name, the server's
/// environment, which shell tasks partly inherit).
/// This host's name, recorded on each try and each replica: replicas adopt a dead
/// replica's local processes only on the same host, so two hosts must never share one.
/// `WEIR_HOSTNAME` (or the shell's `HOSTNAME`) when set, else the system's host name.
fn hostname() -> String {
    ["WEIR_HOSTNAME", "HOSTNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|h| !h.is_empty()))
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        })
        .unwrap_or_else(|| "localhost".into())
}

pub fn engine_config(
    home: PathBuf,
    platform: Arc<PlatformConfig>,
) -> anyhow::Result<weir_engine::EngineConfig> {
    let mut config =
        weir_engine::EngineConfig::new(home, crate::standalone::supervisor_command()?, platform);
    config.hostname = hostname();
    // Only what tasks may inherit: the server's own secrets (the database URL, the admin
    // password) are never held where a task's environment is built.
    config.server_environment = std::env::vars_os()
        .filter(|(name, _)| {
            weir_compute::process::INHERITED_ENV
                .iter()
                .any(|inherited| name == inherited)
        })
        .collect();
    // The log store's credentials: held for its client only, never for tasks.
    config.log_store_environment = std::env::vars()
        .filter(|(name, _)| weir_engine::LOG_STORE_ENVIRONMENT.contains(&name.as_str()))
        .collect();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_holds_only_the_variables_tasks_may_inherit() {
        let platform = Arc::new(PlatformConfig::standalone_default(1.0, 1 << 30, false));
        let config = engine_config(PathBuf::from("/tmp/home"), platform).expect("config");
        for (name, _) in &config.server_environment {
            assert!(
                weir_compute::process::INHERITED_ENV
                    .iter()
                    .any(|inherited| name == inherited),
                "{name:?} is held for tasks"
            );
        }
        assert_eq!(
            config
                .server_environment
                .iter()
                .any(|(name, _)| name == "PATH"),
            std::env::var_os("PATH").is_some()
        );
        // The log store's credentials are held for its client, never where tasks'
        // environments are built.
        for (name, _) in &config.log_store_environment {
            assert!(
                weir_engine::LOG_STORE_ENVIRONMENT.contains(&name.as_str()),
                "{name}"
            );
        }
        assert!(
            !config
                .server_environment
                .iter()
                .any(|(name, _)| name.to_string_lossy().starts_with("AWS_")),
            "AWS credentials are held for tasks"
        );
    }
}
