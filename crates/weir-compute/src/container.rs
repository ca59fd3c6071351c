//! What a container backend needs to know about a try beyond [`crate::LaunchSpec`]: the
//! image, its command, its resources and the (normally absent) privileges it asks for.
//!
//! Backend-neutral: the docker backend reads it today; the kubernetes and AWS Batch
//! backends will read the same fields. The try's environment, secrets, timeout and folder
//! stay in [`crate::LaunchSpec`].

use serde::{Deserialize, Serialize};

/// When to pull the image, and a host folder mounted into the container: declared once,
/// in the DAG model, and run as the spec says.
pub use weir_core::spec::model::{HostMountSpec as HostMount, PullPolicy};

/// The container of one try.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerLaunch {
    /// Image reference, e.g. `registry.example.com/marketing/etl:1.4.2`.
    pub image: String,
    /// Replaces the image's `CMD` (Kubernetes' `args`, AWS Batch's `command`); `None` keeps
    /// the image's own.
    pub command: Option<Vec<String>>,
    /// Replaces the image's `ENTRYPOINT` (Kubernetes' `command`); `None` keeps it.
    pub entrypoint: Option<Vec<String>>,
    /// Working directory inside the container; `None` keeps the image's.
    pub workdir: Option<String>,
    /// CPU limit in vCPUs (fractions allowed); `None` is unlimited.
    pub vcpu: Option<f64>,
    /// Memory limit in bytes (no swap beyond it); `None` is unlimited.
    pub memory_bytes: Option<u64>,
    pub pull: PullPolicy,
    /// The owning team, recorded as the `weir.team` label (cost and usage per team).
    pub team: Option<String>,
    /// Full privileges (`--privileged`). Refused unless the backend allows privileged tries.
    pub privileged: bool,
    /// The host's network stack instead of an isolated one. Same rule as `privileged`.
    pub host_network: bool,
    /// Host folders to mount. Same rule as `privileged`.
    pub host_mounts: Vec<HostMount>,
}

impl ContainerLaunch {
    /// The image with its own command, no limits, pulled if absent, no privileges.
    pub fn new(image: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            command: None,
            entrypoint: None,
            workdir: None,
            vcpu: None,
            memory_bytes: None,
            pull: PullPolicy::default(),
            team: None,
            privileged: false,
            host_network: false,
            host_mounts: Vec::new(),
        }
    }

    /// Sets the command (the image's `CMD` replacement).
    pub fn with_command<I, S>(mut self, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command = Some(command.into_iter().map(Into::into).collect());
        self
    }

    /// Whether the container asks for anything beyond an unprivileged, isolated sandbox.
    pub fn is_privileged(&self) -> bool {
        self.privileged || self.host_network || !self.host_mounts.is_empty()
    }

    /// The privileges asked for, in words (for an error message).
    pub fn privileges(&self) -> Vec<&'static str> {
        let mut asked = Vec::new();
        if self.privileged {
            asked.push("privileged mode");
        }
        if self.host_network {
            asked.push("the host network");
        }
        if !self.host_mounts.is_empty() {
            asked.push("host folders");
        }
        asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_unprivileged() {
        let c = ContainerLaunch::new("img:1").with_command(["sh", "-c", "true"]);
        assert_eq!(c.pull, PullPolicy::IfNotPresent);
        assert!(!c.is_privileged());
        assert!(c.privileges().is_empty());
        assert_eq!(c.command.as_deref().map(<[String]>::len), Some(3));
        let mut p = c.clone();
        p.host_network = true;
        p.host_mounts.push(HostMount {
            source: "/data".into(),
            target: "/data".into(),
            read_only: true,
        });
        assert!(p.is_privileged());
        assert_eq!(p.privileges(), ["the host network", "host folders"]);
        assert_eq!(PullPolicy::Never.to_string(), "never");
    }
}
