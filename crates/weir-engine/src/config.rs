//! The engine's settings: its slice of Weir's one typed config, built once by the binary
//! (from the command line, `weir.toml` and the host) and passed in. The engine reads no
//! file of settings and no environment variable itself.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use weir_core::platform::PlatformConfig;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Weir's home: try folders (logs, XCom files) live under `home/logs`.
    pub home: PathBuf,
    /// The DAG folder, loaded at start and watched; None for an engine driven only
    /// through its handle (e.g. `weir dags test`).
    pub dags_folder: Option<PathBuf>,
    /// Most tries this engine runs at once, across all DAGs.
    pub parallelism: usize,
    /// Newly seen DAGs start unpaused, whatever their files say.
    pub unpause_all: bool,
    /// The argv prefix that runs the try supervisor (`[weir, supervise]`).
    pub supervisor_command: Vec<OsString>,
    /// Most runs a catch-up creates in one pass (the rest follow in the next passes).
    pub max_catchup_runs_per_pass: usize,
    /// This host's name, recorded on each try.
    pub hostname: String,
    /// Whether to run scheduled DAGs (false for `weir dags test`).
    pub run_schedules: bool,
    /// The platform in force: queues, compute environments, teams' policies and prices
    /// (`weir.toml`, completed by the standalone default; see
    /// `weir_compute::effective_platform`).
    pub platform: Arc<PlatformConfig>,
    /// The job definitions folder (`jobs/` beside `dags/`); None when absent.
    pub jobs_folder: Option<PathBuf>,
    /// The Docker daemon's socket; None for the default (`/var/run/docker.sock`).
    pub docker_socket: Option<PathBuf>,
    /// The server's environment variables that shell tasks may inherit (`PATH`, `HOME`,
    /// locale; `weir_compute::process::INHERITED_ENV`), as the binary read them.
    pub server_environment: Vec<(OsString, OsString)>,
    /// Where people reach this server (`http://host:port`), for the links in
    /// notifications when `[notifications] ui_url` is not set.
    pub server_url: String,
    /// The server's variables the log store's client may read (credentials, region;
    /// [`crate::LOG_STORE_ENVIRONMENT`]), as the binary read them. Never given to tries.
    pub log_store_environment: Vec<(String, String)>,
    /// This process among Weir's replicas (`weir standalone`: alone).
    pub replica: crate::replicas::ReplicaSettings,
}

impl EngineConfig {
    pub fn new(
        home: PathBuf,
        supervisor_command: Vec<OsString>,
        platform: Arc<PlatformConfig>,
    ) -> Self {
        EngineConfig {
            home,
            dags_folder: None,
            parallelism: 32,
            unpause_all: false,
            supervisor_command,
            max_catchup_runs_per_pass: 1000,
            hostname: "localhost".into(),
            run_schedules: true,
            platform,
            jobs_folder: None,
            docker_socket: None,
            server_environment: Vec::new(),
            server_url: "http://localhost:8080".into(),
            log_store_environment: Vec::new(),
            replica: crate::replicas::ReplicaSettings::default(),
        }
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.home.join("logs")
    }
}
