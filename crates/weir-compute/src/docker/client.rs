//! The connection to the Docker daemon, and how its errors are sorted: "the daemon is not
//! there" (retry later) against "the daemon said no" (a verdict).

use std::sync::Arc;
use std::time::Duration;

use bollard::errors::Error as ApiError;
use bollard::{API_DEFAULT_VERSION, Docker};
use tokio::sync::OnceCell;

use crate::error::ComputeError;

/// The backend's name in errors and compute environments.
pub(crate) const BACKEND: &str = "docker";

/// The daemon's socket when none is configured.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// A lazily opened, shared connection. Opening it negotiates the API version once (the
/// daemon may be older than bollard's default); a failed attempt is retried at the next
/// call, so a backend built while the daemon is down starts working when it comes up.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    socket: String,
    /// Longest wait for the daemon's response headers. Streams (logs, wait) are not
    /// bounded by it once their headers arrived.
    timeout: Duration,
    docker: Arc<OnceCell<Docker>>,
}

impl Connection {
    pub(crate) fn new(socket: String, timeout: Duration) -> Self {
        Self {
            socket,
            timeout,
            docker: Arc::new(OnceCell::new()),
        }
    }

    /// The client, connecting first if needed; `BackendUnavailable` if the daemon cannot
    /// be reached.
    pub(crate) async fn get(&self) -> Result<Docker, ComputeError> {
        self.docker
            .get_or_try_init(|| async {
                let secs = self.timeout.as_secs().max(1);
                let docker = Docker::connect_with_unix(&self.socket, secs, API_DEFAULT_VERSION)
                    .map_err(|e| self.unavailable(&e))?;
                docker
                    .negotiate_version()
                    .await
                    .map_err(|e| self.unavailable(&e))
            })
            .await
            .cloned()
    }

    /// The error for a daemon that cannot be reached.
    pub(crate) fn unavailable(&self, e: &ApiError) -> ComputeError {
        ComputeError::BackendUnavailable {
            backend: BACKEND,
            detail: format!("cannot reach the Docker daemon at `{}`: {e}", self.socket),
        }
    }

    /// Sorts an API error: unreachable daemon or a refusal.
    pub(crate) fn error(&self, action: impl Into<String>, e: ApiError) -> ComputeError {
        if is_unreachable(&e) {
            self.unavailable(&e)
        } else {
            ComputeError::Backend {
                backend: BACKEND,
                action: action.into(),
                detail: message(&e),
            }
        }
    }
}

/// Whether the error means the daemon could not be talked to at all (socket missing,
/// connection refused or reset, no answer in time), as opposed to an answer.
pub(crate) fn is_unreachable(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::SocketNotFoundError(_)
            | ApiError::HyperLegacyError { .. }
            | ApiError::HyperResponseError { .. }
            | ApiError::IOError { .. }
            | ApiError::RequestTimeoutError
    )
}

/// The HTTP status of a daemon's refusal.
pub(crate) fn status(e: &ApiError) -> Option<u16> {
    match e {
        ApiError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Whether the daemon answered "no such container" (or image).
pub(crate) fn is_not_found(e: &ApiError) -> bool {
    status(e) == Some(404)
}

/// The daemon's own words, without bollard's wrapping.
pub(crate) fn message(e: &ApiError) -> String {
    match e {
        ApiError::DockerResponseServerError { message, .. } => message.trim().to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sorted() {
        let refused = ApiError::DockerResponseServerError {
            status_code: 404,
            message: "No such container: x\n".into(),
        };
        assert!(!is_unreachable(&refused));
        assert!(is_not_found(&refused));
        assert_eq!(message(&refused), "No such container: x");
        let gone = ApiError::SocketNotFoundError("/nope".into());
        assert!(is_unreachable(&gone));
        assert_eq!(status(&gone), None);
        let conn = Connection::new("/nope".into(), Duration::from_secs(1));
        let err = conn.error("start", gone);
        assert!(
            matches!(
                err,
                ComputeError::BackendUnavailable {
                    backend: "docker",
                    ..
                }
            ),
            "{err}"
        );
        let err = conn.error("start container", refused);
        assert_eq!(
            err.to_string(),
            "docker: cannot start container: No such container: x"
        );
    }
}
