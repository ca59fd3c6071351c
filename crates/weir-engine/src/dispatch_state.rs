//! What the dispatcher keeps between passes: each (queue, team)'s decayed usage, for
//! fair share, and what the last pass saw (queue depths, waiting tries and why,
//! environments' use), for the API and the CLI. One lock each, held only inside these
//! methods.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use weir_core::fair_share::{DecayedUsage, TeamUsage};
use weir_core::ids::TeamId;
use weir_core::platform::{DEFAULT_SHARE_DECAY_SECONDS, PlatformConfig};

use crate::queues::{EnvironmentView, QueueView, empty_views};

pub(crate) struct DispatchState {
    platform: Arc<PlatformConfig>,
    /// Each (queue, team)'s recent usage.
    usage: Mutex<HashMap<(String, TeamId), DecayedUsage>>,
    /// What the last dispatch pass saw, for `GET /api/v1/queues`.
    views: Mutex<(Vec<QueueView>, Vec<EnvironmentView>)>,
}

impl DispatchState {
    /// Nothing used yet; every queue of `platform` empty.
    pub fn new(platform: Arc<PlatformConfig>) -> Self {
        DispatchState {
            usage: Mutex::new(HashMap::new()),
            views: Mutex::new(empty_views(&platform)),
            platform,
        }
    }

    /// Every (queue, team)'s usage, for a dispatch pass.
    pub fn usage(&self) -> Vec<TeamUsage> {
        self.usage
            .lock()
            .map(|u| {
                u.iter()
                    .map(|((queue, team), usage)| TeamUsage {
                        queue: queue.clone(),
                        team: team.clone(),
                        usage: *usage,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forgets every team's usage (before it is read again from the store, where every
    /// replica's tries left their usage records).
    pub fn clear_usage(&self) {
        if let Ok(mut usage) = self.usage.lock() {
            usage.clear();
        }
    }

    /// Adds `amount` (reserved vCPU-seconds) used by `team` on `queue`, ended `at`;
    /// older use decays with the queue's half-life.
    pub fn add_usage(&self, queue: &str, team: &TeamId, at: DateTime<Utc>, amount: f64) {
        let half_life = Duration::from_secs(
            self.platform
                .queue(queue)
                .map_or(DEFAULT_SHARE_DECAY_SECONDS, |q| q.share_decay_seconds()),
        );
        if let Ok(mut history) = self.usage.lock() {
            let entry = history
                .entry((queue.to_string(), team.clone()))
                .or_insert_with(|| DecayedUsage::zero(at));
            *entry = entry.add(at, half_life, amount);
        }
    }

    /// Keeps what a pass saw.
    pub fn publish(&self, queues: Vec<QueueView>, environments: Vec<EnvironmentView>) {
        if let Ok(mut views) = self.views.lock() {
            *views = (queues, environments);
        }
    }

    /// The queues as of the last pass.
    pub fn queues(&self) -> Vec<QueueView> {
        self.views.lock().map(|v| v.0.clone()).unwrap_or_default()
    }

    /// The compute environments as of the last pass.
    pub fn environments(&self) -> Vec<EnvironmentView> {
        self.views.lock().map(|v| v.1.clone()).unwrap_or_default()
    }

    /// Whether a try waits for a backend that did not answer (look again soon).
    pub fn waits_for_backend(&self) -> bool {
        self.views
            .lock()
            .map(|v| {
                v.0.iter()
                    .any(|q| q.waiting.iter().any(|w| w.reason_code == "unavailable"))
            })
            .unwrap_or(false)
    }
}
