//! The backend registry: one `Arc<dyn Backend>` per kind of compute environment
//! (`process`, `docker`, `kubernetes`, …), chosen by the environment's kind from the platform config.
//! The rest of the engine asks the registry which backend runs a try, re-attaches a try
//! by the kind its record names, and which environments cannot take work now; no code
//! outside a backend compares a backend's name. Adding a backend (as Kubernetes was; AWS
//! Batch) is a new `weir_compute::Backend` plus its line in [`Backends::new`].
//!
//! A backend that does not answer (a Docker daemon down) makes its environments
//! unavailable: their tries wait in their queues, with that reason shown, instead of
//! failing en masse.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;
use weir_compute::{Backend, ComputeError, InlineBackend, ProcessBackend};
use weir_core::platform::{Backend as BackendKind, PlatformConfig};

use crate::config::EngineConfig;

/// How long a backend's answer (up or down) is trusted before asking again.
const AVAILABILITY_TTL: Duration = Duration::from_secs(2);

/// The backends this engine runs tries on, by kind.
pub(crate) struct Backends {
    by_kind: HashMap<BackendKind, Arc<dyn Backend>>,
    platform: Arc<PlatformConfig>,
    /// When each backend last answered, and whether it was available.
    availability: Mutex<HashMap<BackendKind, (Instant, bool)>>,
}

impl Backends {
    /// The local process backend always (shell tasks, and tries recorded by it), the
    /// inline one always (sql and http tasks, run by the server itself), and one backend
    /// per other kind the platform's compute environments use.
    /// `given`: the caller's own backends (a test's scripted one), which replace the
    /// configured ones of their kind.
    pub fn new(config: &EngineConfig, given: Vec<(BackendKind, Arc<dyn Backend>)>) -> Self {
        let log_max_bytes = config.platform.logs.max_bytes_per_try.0;
        let mut by_kind: HashMap<BackendKind, Arc<dyn Backend>> = HashMap::new();
        by_kind.insert(
            BackendKind::Process,
            Arc::new(
                ProcessBackend::new(config.supervisor_command.clone())
                    .with_log_limit(log_max_bytes)
                    .with_server_environment(config.server_environment.clone()),
            ),
        );
        by_kind.insert(
            BackendKind::Inline,
            Arc::new(InlineBackend::new().with_log_limit(log_max_bytes)),
        );
        for env in &config.platform.compute_environments {
            if by_kind.contains_key(&env.backend) {
                continue;
            }
            let backend: Arc<dyn Backend> = match env.backend {
                BackendKind::Process | BackendKind::Inline => continue,
                BackendKind::Docker => Arc::new(docker_backend(config, log_max_bytes)),
                BackendKind::AwsBatch => Arc::new(weir_compute::AwsBatchBackend::new(
                    weir_compute::AwsBatchConfig::from_platform(&config.platform),
                )),
                BackendKind::Kubernetes => Arc::new(kubernetes_backend(config, env, log_max_bytes)),
            };
            by_kind.insert(env.backend, backend);
        }
        by_kind.extend(given);
        Backends {
            by_kind,
            platform: config.platform.clone(),
            availability: Mutex::new(HashMap::new()),
        }
    }

    /// The backend of `kind`, or why there is none on this server.
    pub fn get(&self, kind: BackendKind) -> Result<&Arc<dyn Backend>, ComputeError> {
        self.by_kind
            .get(&kind)
            .ok_or_else(|| ComputeError::BackendUnavailable {
                backend: kind.as_str(),
                detail: format!(
                    "no `{}` compute environment is configured on this server",
                    kind.as_str()
                ),
            })
    }

    /// The backend that recorded a try (its record's `executor`), to re-attach to it.
    /// Tries recorded before backends were named ran as local processes.
    pub fn of_record(&self, executor: Option<&str>) -> Result<&Arc<dyn Backend>, ComputeError> {
        match executor {
            None => self.get(BackendKind::Process),
            Some(name) => match BackendKind::from_name(name) {
                Some(kind) => self.get(kind),
                None => Err(ComputeError::BackendUnavailable {
                    backend: "unknown",
                    detail: format!("this build of Weir has no `{name}` backend"),
                }),
            },
        }
    }

    /// The kind of backend that runs compute environment `environment`.
    pub fn kind_of_environment(&self, environment: &str) -> Option<BackendKind> {
        self.platform.environment(environment).map(|e| e.backend)
    }

    /// The names of the compute environments that cannot take work now.
    pub async fn unavailable_environments(&self) -> Vec<String> {
        let mut down = Vec::new();
        for env in &self.platform.compute_environments {
            if !self.available(env.backend).await {
                down.push(env.name.clone());
            }
        }
        down
    }

    /// Whether the backend of `kind` takes work now (its answer kept for a moment).
    async fn available(&self, kind: BackendKind) -> bool {
        let Some(backend) = self.by_kind.get(&kind) else {
            return false;
        };
        if let Ok(cache) = self.availability.lock()
            && let Some((at, up)) = cache.get(&kind)
            && at.elapsed() < AVAILABILITY_TTL
        {
            return *up;
        }
        let up = match backend.available().await {
            Ok(()) => true,
            Err(e) => {
                warn!(backend = kind.as_str(), error = %e, "a compute backend does not answer; its tries wait in their queues");
                false
            }
        };
        if let Ok(mut cache) = self.availability.lock() {
            cache.insert(kind, (Instant::now(), up));
        }
        up
    }
}

/// The Kubernetes backend of the environment's cluster (the platform config holds every
/// `kubernetes` environment to one setting, so the first one's is everyone's).
fn kubernetes_backend(
    config: &EngineConfig,
    env: &weir_core::platform::ComputeEnvironment,
    log_max_bytes: u64,
) -> weir_compute::KubernetesBackend {
    let settings = env.kubernetes.clone().unwrap_or_default();
    weir_compute::KubernetesBackend::new(weir_compute::KubernetesConfig {
        allow_privileged: any_privileges(config),
        log_max_bytes: Some(log_max_bytes),
        ..weir_compute::KubernetesConfig::new(settings)
    })
}

/// Whether any team may run containers with privileges (which team may is the engine's
/// check, `prepare`, per the platform config).
fn any_privileges(config: &EngineConfig) -> bool {
    config
        .platform
        .teams
        .iter()
        .any(|t| t.allow_privileged || t.allow_host_network || t.allow_host_mounts)
}

/// The Docker backend on the configured socket (or the default one).
fn docker_backend(config: &EngineConfig, log_max_bytes: u64) -> weir_compute::DockerBackend {
    let defaults = weir_compute::DockerConfig::default();
    weir_compute::DockerBackend::new(weir_compute::DockerConfig {
        socket: config
            .docker_socket
            .clone()
            .unwrap_or(defaults.socket.clone()),
        // The backend refuses privileges unless allowed at all; which team may use them
        // is the engine's check (`prepare`), per the platform config.
        allow_privileged: any_privileges(config),
        log_max_bytes: Some(log_max_bytes),
        ..defaults
    })
}
