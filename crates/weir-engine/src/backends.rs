//! Which compute environments can take work now. A Docker environment whose daemon does
//! not answer is unavailable: its tries wait in their queue, with that reason shown,
//! instead of failing en masse.

use std::time::{Duration, Instant};

use tracing::warn;
use weir_core::platform::Backend;

use crate::service::Shared;

/// How long a daemon's answer (up or down) is trusted before asking again.
const PING_TTL: Duration = Duration::from_secs(2);

/// The names of the environments that cannot take work now.
pub async fn unavailable(shared: &Shared) -> Vec<String> {
    let docker_envs: Vec<String> = shared
        .platform
        .compute_environments
        .iter()
        .filter(|e| e.backend == Backend::Docker)
        .map(|e| e.name.clone())
        .collect();
    if docker_envs.is_empty() {
        return Vec::new();
    }
    if docker_up(shared).await {
        Vec::new()
    } else {
        docker_envs
    }
}

async fn docker_up(shared: &Shared) -> bool {
    let Some(docker) = &shared.docker else {
        return false;
    };
    if let Ok(cache) = shared.docker_health.lock()
        && let Some((at, up)) = *cache
        && at.elapsed() < PING_TTL
    {
        return up;
    }
    let up = match docker.ping().await {
        Ok(()) => true,
        Err(e) => {
            warn!(error = %e, "the Docker daemon does not answer; container tries wait in their queues");
            false
        }
    };
    if let Ok(mut cache) = shared.docker_health.lock() {
        *cache = Some((Instant::now(), up));
    }
    up
}
