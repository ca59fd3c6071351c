//! Replicas: several Weir processes on one PostgreSQL database share the work without a
//! leader. Each registers itself and renews its lease with a heartbeat (see
//! `weir_store::replicas`). A scheduler replica holds *scheduler leases* on DAGs: it
//! alone creates, plans and dispatches their runs, so per-DAG rules
//! (`max_active_runs`, `max_active_tasks`, catch-up) hold as on one machine; every
//! write is compare-and-set besides, so even two replicas that both believed they held
//! a DAG could never dispatch one try twice.
//!
//! - [`leases`]: the heartbeat, and claiming a fair part of the DAGs (handing some back
//!   when replicas join);
//! - [`takeover`]: what a replica does with DAGs it claims (their runs, retry timers)
//!   and with tries nobody watches any more (it adopts them: host-bound ones only on
//!   their host);
//! - [`announce`]: telling other replicas about changes made here (a run triggered
//!   through this replica's API), and hearing theirs.
//!
//! `weir standalone` is a replica too (role `standalone`): it holds every DAG without
//! leases, as there can be no other process on its SQLite file.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use weir_core::ids::DagId;

pub(crate) mod announce;
pub(crate) mod leases;
pub(crate) mod takeover;

use crate::shared::Shared;

/// What a Weir process does among its replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaRole {
    /// `weir standalone`: everything, alone on its database.
    Standalone,
    /// `weir server --role all`: the API, and a scheduler holding leases.
    All,
    /// `weir server --role api`: the API and the web UI; schedules nothing.
    Api,
    /// `weir server --role scheduler`: schedules and runs tries; its HTTP port serves
    /// health, metrics and the logs of the tries it runs.
    Scheduler,
}

impl ReplicaRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaRole::Standalone => "standalone",
            ReplicaRole::All => "all",
            ReplicaRole::Api => "api",
            ReplicaRole::Scheduler => "scheduler",
        }
    }

    /// Whether it schedules and runs tries.
    pub fn schedules(self) -> bool {
        !matches!(self, ReplicaRole::Api)
    }

    /// The roles that hold scheduler leases (and divide the DAGs between them).
    pub(crate) const SCHEDULING: [&'static str; 2] = ["all", "scheduler"];
}

/// How this process takes part among replicas.
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    pub role: ReplicaRole,
    /// How long its leases hold without a heartbeat: a replica that dies loses them
    /// after at most this long. Heartbeats come three times per lease.
    pub lease: Duration,
    /// Where other replicas reach this one's HTTP API (`http://host:port`).
    pub address: Option<String>,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        ReplicaSettings {
            role: ReplicaRole::Standalone,
            lease: Duration::from_secs(30),
            address: None,
        }
    }
}

/// This process as a replica: its id (new at every start), its role, and the DAGs it
/// holds scheduler leases on.
pub(crate) struct Replica {
    pub id: String,
    pub role: ReplicaRole,
    pub lease: Duration,
    held: RwLock<HashSet<DagId>>,
    /// Cancelled when this replica lost its lease (it could not heartbeat in time and
    /// others may have taken over): the process must stop and start again, fresh.
    pub fenced: CancellationToken,
}

impl Replica {
    pub fn new(settings: &ReplicaSettings) -> Self {
        Replica {
            id: new_replica_id(),
            role: settings.role,
            lease: settings.lease,
            held: RwLock::new(HashSet::new()),
            fenced: CancellationToken::new(),
        }
    }

    /// Whether this replica plans and dispatches `dag_id`'s runs.
    pub fn holds(&self, dag_id: &DagId) -> bool {
        match self.role {
            ReplicaRole::Standalone => true,
            ReplicaRole::Api => false,
            ReplicaRole::All | ReplicaRole::Scheduler => {
                !self.fenced.is_cancelled()
                    && self.held.read().is_ok_and(|held| held.contains(dag_id))
            }
        }
    }

    /// Whether it holds DAGs by lease (a `weir server` replica).
    pub fn leased(&self) -> bool {
        self.role != ReplicaRole::Standalone
    }

    pub fn held_count(&self) -> usize {
        self.held.read().map(|h| h.len()).unwrap_or(0)
    }

    pub fn held(&self) -> Vec<DagId> {
        self.held
            .read()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Replaces what it holds with what the store says it holds.
    pub fn set_held(&self, dags: impl IntoIterator<Item = DagId>) {
        if let Ok(mut held) = self.held.write() {
            *held = dags.into_iter().collect();
        }
    }

    pub fn add_held(&self, dags: &[DagId]) {
        if let Ok(mut held) = self.held.write() {
            held.extend(dags.iter().cloned());
        }
    }

    pub fn remove_held(&self, dags: &[DagId]) {
        if let Ok(mut held) = self.held.write() {
            for d in dags {
                held.remove(d);
            }
        }
    }
}

/// A fresh replica id: random, so a restarted process never passes for its old self.
fn new_replica_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Registers this replica and starts its heartbeat (and, for a `weir server` replica,
/// its claims, takeovers and the announcements of others).
pub(crate) async fn start(shared: &Arc<Shared>) -> crate::Result<()> {
    leases::register(shared).await?;
    leases::spawn(shared.clone());
    if shared.replica.leased() {
        announce::spawn_listener(shared.clone());
    }
    Ok(())
}
