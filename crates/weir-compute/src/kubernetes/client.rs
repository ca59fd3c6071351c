//! The connection to the API server: a `kube` client built at first use from the
//! environment's settings (a kubeconfig file and context, or in-cluster), and the sorting
//! of the API's answers into "not there" (404), "already there" (409), "the server is
//! away" (`BackendUnavailable`: nothing happened, try again) and "it refused"
//! (`ComputeError::Backend`, or the try's `LaunchFailed`).

use std::sync::Arc;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::OnceCell;
use weir_core::platform::KubernetesSettings;

use crate::error::{ComputeError, Result};

/// The backend's name, as in a compute environment's `backend`.
pub(crate) const BACKEND: &str = "kubernetes";

/// A client made once, at first use (so the backend can be built while the cluster is
/// away); a failure is not kept, the next use tries again.
#[derive(Clone)]
pub(crate) struct Connection {
    settings: KubernetesSettings,
    client: Arc<OnceCell<Client>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("kubeconfig", &self.settings.kubeconfig)
            .field("in_cluster", &self.settings.in_cluster)
            .field("context", &self.settings.context)
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(settings: KubernetesSettings) -> Self {
        Self {
            settings,
            client: Arc::new(OnceCell::new()),
        }
    }

    pub(crate) async fn get(&self) -> Result<Client> {
        self.client
            .get_or_try_init(|| build(&self.settings))
            .await
            .cloned()
    }
}

async fn build(settings: &KubernetesSettings) -> Result<Client> {
    let config = if settings.in_cluster {
        kube::Config::incluster().map_err(|e| {
            unavailable(format!(
                "cannot read the in-cluster configuration (is Weir running in a pod?): {e}"
            ))
        })?
    } else {
        let Some(path) = &settings.kubeconfig else {
            return Err(unavailable(
                "the environment's settings name no kubeconfig file and not `in_cluster`".into(),
            ));
        };
        let kubeconfig = Kubeconfig::read_from(path)
            .map_err(|e| unavailable(format!("cannot read kubeconfig `{path}`: {e}")))?;
        let options = KubeConfigOptions {
            context: settings.context.clone(),
            ..KubeConfigOptions::default()
        };
        kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| unavailable(format!("cannot use kubeconfig `{path}`: {e}")))?
    };
    Client::try_from(config).map_err(|e| unavailable(format!("cannot make a client: {e}")))
}

pub(crate) fn unavailable(detail: String) -> ComputeError {
    ComputeError::BackendUnavailable {
        backend: BACKEND,
        detail,
    }
}

/// The API's status code, when the server answered with one.
pub(crate) fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    code(e) == Some(404)
}

pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    code(e) == Some(409)
}

/// The server's own message (for an API error), or the error.
pub(crate) fn message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.reason),
        other => other.to_string(),
    }
}

/// An error of `action`: the server away (or failing, 5xx) is `BackendUnavailable`,
/// other answers are `Backend`.
pub(crate) fn error(action: &str, e: &kube::Error) -> ComputeError {
    match code(e) {
        Some(code) if code < 500 && code != 429 => ComputeError::Backend {
            backend: BACKEND,
            action: action.to_owned(),
            detail: message(e),
        },
        _ => unavailable(format!("cannot {action}: {}", message(e))),
    }
}
