//! The engine's metrics, for `GET /metrics` in the OpenMetrics text format (which
//! Prometheus reads), through prometheus-client.
//!
//! Two kinds of families:
//! - counters and histograms, moved where things happen: a try starts (its wait in the
//!   queue) or ends (its duration, its usage and cost), a scheduling pass ends, a store
//!   method returns (the store's observer, [`weir_store::StoreObserver`]), a task
//!   instance changes state (the same observer, after the commit), the repository is
//!   synced, a version is submitted for approval or decided;
//! - gauges of the present, read at each scrape ([`render`]): tries running and waiting
//!   per queue and team as the last dispatch pass saw them, DAG files that do not load.
//!
//! They count what this process did since it started (Prometheus sums replicas and
//! handles restarts). Label values are bounded: teams, DAGs, queues, task states, store
//! method names, fixed outcomes — never a run, a task instance or a try.
//!
//! A task instance's state change is counted by DAG and state as it lands; its team (the
//! DAG's, which never changes) is looked up at the next scrape, so the store's observer
//! stays a quick, synchronous call.
//!
//! To add a family: a field of [`Metrics`], one `register` line in [`Metrics::new`], a
//! row in the README's table of metrics.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tracing::warn;
use weir_core::cost::UsageRecord;
use weir_core::ids::DagId;
use weir_core::state::TaskState;
use weir_store::{StoreObserver, TaskInstanceKey};

use crate::shared::Shared;

/// What `GET /metrics` answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Try durations: a second to a day.
const TRY_SECONDS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
];
/// Waits in a queue: ten milliseconds to an hour.
const WAIT_SECONDS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];
/// Scheduling passes and store methods: half a millisecond to five seconds.
const QUICK_SECONDS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A histogram family whose histograms all have the same buckets.
pub type Histograms<S> = Family<S, Histogram, fn() -> Histogram>;
/// Counters of fractional amounts (seconds, money).
pub type Amounts<S> = Family<S, Counter<f64, AtomicU64>>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TeamLabel {
    pub team: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TeamQueue {
    pub team: String,
    pub queue: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Transition {
    pub team: String,
    pub dag: String,
    pub state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Operation {
    pub operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Delivery {
    pub channel: String,
    pub medium: String,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TeamDecision {
    pub team: String,
    pub decision: &'static str,
}

/// Every family `GET /metrics` shows, and what the gauges and the state-change counter
/// need between scrapes. One per engine; its clones of the families share their values
/// with the registry.
pub struct Metrics {
    registry: Registry,
    /// `weir_task_instance_transitions_total{team,dag,state}`.
    pub transitions: Family<Transition, Counter>,
    /// `weir_tries_running{team,queue}`, as the last dispatch pass saw them.
    pub tries_running: Family<TeamQueue, Gauge>,
    /// `weir_tries_waiting{team,queue}`, as the last dispatch pass saw them.
    pub tries_waiting: Family<TeamQueue, Gauge>,
    /// `weir_try_duration_seconds{team,queue}`: from the start of a try to its end.
    pub try_duration: Histograms<TeamQueue>,
    /// `weir_try_queue_wait_seconds{team,queue}`: from when the dispatcher first saw the
    /// instance scheduled to its try's start.
    pub try_queue_wait: Histograms<TeamQueue>,
    /// `weir_scheduler_pass_duration_seconds`.
    pub scheduler_pass: Histogram,
    /// `weir_store_query_duration_seconds{operation}`.
    pub store_query: Histograms<Operation>,
    /// `weir_dag_import_errors`: files (DAG files, job definition files, the repository)
    /// that do not load now.
    pub dag_import_errors: Gauge,
    /// `weir_repository_syncs_total{outcome}`: `loaded`, `unchanged` or `failed`.
    pub repository_syncs: Family<Outcome, Counter>,
    /// `weir_approvals_total{team,decision}`: `requested`, `approved`, `rejected`,
    /// `break_glass`.
    pub approvals: Family<TeamDecision, Counter>,
    /// `weir_usage_vcpu_seconds_total{team}`: reserved vCPU-seconds of finished tries.
    pub usage_vcpu_seconds: Amounts<TeamLabel>,
    /// `weir_usage_gib_seconds_total{team}`: reserved GiB-seconds of finished tries.
    pub usage_gib_seconds: Amounts<TeamLabel>,
    /// `weir_cost_total{team}`: their cost, in the platform's currency.
    pub cost: Amounts<TeamLabel>,
    /// `weir_notification_deliveries_total{channel,medium,outcome}`: attempts to send a
    /// notification: `sent`, `retry` (failed, tried again later), `failed` (given up),
    /// `postponed` (the channel's rate limit).
    pub notification_deliveries: Family<Delivery, Counter>,

    /// State changes counted since the last scrape, by DAG and new state.
    moved: Mutex<HashMap<(DagId, TaskState), u64>>,
    /// Each DAG's team, looked up once (a DAG id stays with its team).
    dag_teams: Mutex<HashMap<DagId, String>>,
    /// When the dispatcher first saw each instance that is scheduled now.
    waiting_since: Mutex<HashMap<TaskInstanceKey, DateTime<Utc>>>,
    /// Every (team, queue) the tries gauges ever showed: shown at 0 when it empties,
    /// rather than vanishing.
    depths_shown: Mutex<HashSet<TeamQueue>>,
    /// One scrape at a time: the gauges are set from one reading.
    scrape: tokio::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::with_prefix("weir"),
            transitions: Family::default(),
            tries_running: Family::default(),
            tries_waiting: Family::default(),
            try_duration: histograms(|| Histogram::new(TRY_SECONDS)),
            try_queue_wait: histograms(|| Histogram::new(WAIT_SECONDS)),
            scheduler_pass: Histogram::new(QUICK_SECONDS),
            store_query: histograms(|| Histogram::new(QUICK_SECONDS)),
            dag_import_errors: Gauge::default(),
            repository_syncs: Family::default(),
            approvals: Family::default(),
            usage_vcpu_seconds: Family::default(),
            usage_gib_seconds: Family::default(),
            cost: Family::default(),
            notification_deliveries: Family::default(),
            moved: Mutex::default(),
            dag_teams: Mutex::default(),
            waiting_since: Mutex::default(),
            depths_shown: Mutex::default(),
            scrape: tokio::sync::Mutex::new(()),
        };
        let mut r = m.registry;
        r.register(
            "task_instance_transitions",
            "Task instances that changed state, by the DAG's team, the DAG and the new state",
            m.transitions.clone(),
        );
        r.register(
            "tries_running",
            "Tries running, per team and queue, as the last dispatch pass saw them",
            m.tries_running.clone(),
        );
        r.register(
            "tries_waiting",
            "Tries waiting for room, per team and queue, as the last dispatch pass saw them",
            m.tries_waiting.clone(),
        );
        r.register_with_unit(
            "try_duration",
            "How long tries ran, from start to end, per team and queue",
            Unit::Seconds,
            m.try_duration.clone(),
        );
        r.register_with_unit(
            "try_queue_wait",
            "How long task instances waited scheduled before their try started, per team and queue",
            Unit::Seconds,
            m.try_queue_wait.clone(),
        );
        r.register_with_unit(
            "scheduler_pass_duration",
            "How long one pass of the scheduler loop took",
            Unit::Seconds,
            m.scheduler_pass.clone(),
        );
        r.register_with_unit(
            "store_query_duration",
            "How long store operations took, by operation (the store's method)",
            Unit::Seconds,
            m.store_query.clone(),
        );
        r.register(
            "dag_import_errors",
            "Files (DAG files, job definition files, the repository) that do not load now",
            m.dag_import_errors.clone(),
        );
        r.register(
            "repository_syncs",
            "Repository syncs, by outcome (loaded: a new commit, unchanged, failed)",
            m.repository_syncs.clone(),
        );
        r.register(
            "approvals",
            "Production versions submitted for approval and decided, by team and decision",
            m.approvals.clone(),
        );
        r.register(
            "usage_vcpu_seconds",
            "Reserved vCPU-seconds of finished tries, per team",
            m.usage_vcpu_seconds.clone(),
        );
        r.register(
            "usage_gib_seconds",
            "Reserved GiB-seconds of memory of finished tries, per team",
            m.usage_gib_seconds.clone(),
        );
        r.register(
            "cost",
            "Cost of finished tries, per team, in the platform's currency",
            m.cost.clone(),
        );
        r.register(
            "notification_deliveries",
            "Attempts to send a notification, by channel, medium and outcome (sent, retry, failed, postponed)",
            m.notification_deliveries.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// Keeps when the dispatcher first saw each of `scheduled` (now, for the new ones),
    /// and forgets the instances that are no longer scheduled.
    pub(crate) fn saw_scheduled<'a>(
        &self,
        scheduled: impl Iterator<Item = &'a TaskInstanceKey>,
        now: DateTime<Utc>,
    ) {
        let scheduled: HashSet<&TaskInstanceKey> = scheduled.collect();
        let Ok(mut since) = self.waiting_since.lock() else {
            return;
        };
        since.retain(|key, _| scheduled.contains(key));
        for key in scheduled {
            if !since.contains_key(key) {
                since.insert(key.clone(), now);
            }
        }
    }

    /// A try of `key` started at `now`: observes how long the instance waited.
    pub(crate) fn try_started(
        &self,
        key: &TaskInstanceKey,
        team: &str,
        queue: &str,
        now: DateTime<Utc>,
    ) {
        let first = self
            .waiting_since
            .lock()
            .ok()
            .and_then(|mut s| s.remove(key));
        if let Some(first) = first {
            let waited = (now - first).to_std().unwrap_or_default();
            self.try_queue_wait
                .get_or_create(&team_queue(team, queue))
                .observe(waited.as_secs_f64());
        }
    }

    /// A try ran from `started` to `finished`; `usage` is what it reserved, if measured.
    pub(crate) fn try_finished(
        &self,
        team: &str,
        queue: &str,
        started: DateTime<Utc>,
        finished: DateTime<Utc>,
        usage: Option<&UsageRecord>,
    ) {
        let ran = (finished - started).to_std().unwrap_or_default();
        self.try_duration
            .get_or_create(&team_queue(team, queue))
            .observe(ran.as_secs_f64());
        if let Some(usage) = usage {
            let team = TeamLabel {
                team: usage.team.to_string(),
            };
            self.usage_vcpu_seconds
                .get_or_create(&team)
                .inc_by(usage.vcpu_seconds());
            self.usage_gib_seconds
                .get_or_create(&team)
                .inc_by(usage.gib_seconds());
            self.cost.get_or_create(&team).inc_by(usage.cost());
        }
    }

    /// A repository sync ended: `loaded`, `unchanged` or `failed`.
    pub(crate) fn repository_synced(&self, outcome: &'static str) {
        self.repository_syncs
            .get_or_create(&Outcome { outcome })
            .inc();
    }

    /// A version of `team`'s was submitted for approval (`requested`) or decided.
    pub(crate) fn approval(&self, team: &str, decision: &'static str) {
        self.approvals
            .get_or_create(&TeamDecision {
                team: team.to_string(),
                decision,
            })
            .inc();
    }

    /// Adds the state changes counted since the last scrape to their family, with their
    /// DAG's team (looked up now for DAGs not seen before).
    async fn count_transitions(&self, store: &weir_store::Store) {
        let moved = match self.moved.lock() {
            Ok(mut moved) => std::mem::take(&mut *moved),
            Err(_) => return,
        };
        let unknown: HashSet<DagId> = {
            let Ok(teams) = self.dag_teams.lock() else {
                return;
            };
            moved
                .keys()
                .filter(|(dag, _)| !teams.contains_key(dag))
                .map(|(dag, _)| dag.clone())
                .collect()
        };
        let mut found = Vec::with_capacity(unknown.len());
        for dag in unknown {
            match store.get_dag(&dag).await {
                // A DAG without a team (or deleted since) is counted under no team.
                Ok(record) => {
                    let team = record.and_then(|r| r.team).map(|t| t.to_string());
                    found.push((dag, team.unwrap_or_default()));
                }
                Err(e) => warn!(%dag, error = %e, "metrics: cannot look up a DAG's team"),
            }
        }
        let Ok(mut teams) = self.dag_teams.lock() else {
            return;
        };
        teams.extend(found);
        let mut later = Vec::new();
        for ((dag, state), n) in moved {
            match teams.get(&dag) {
                Some(team) => {
                    let labels = Transition {
                        team: team.clone(),
                        dag: dag.to_string(),
                        state: state.as_str(),
                    };
                    self.transitions.get_or_create(&labels).inc_by(n);
                }
                None => later.push(((dag, state), n)),
            }
        }
        drop(teams);
        // Not looked up this time: counted at the next scrape.
        if let Ok(mut moved) = self.moved.lock() {
            for (key, n) in later {
                *moved.entry(key).or_default() += n;
            }
        }
    }

    /// Sets the tries gauges from the last dispatch pass's queue depths.
    fn show_depths(&self, shared: &Shared) {
        let Ok(mut shown) = self.depths_shown.lock() else {
            return;
        };
        let mut now: HashMap<TeamQueue, (usize, usize)> = HashMap::new();
        for queue in shared.dispatcher.queues() {
            for d in queue.depth {
                let counts = now.entry(team_queue(&d.team, &d.queue)).or_default();
                counts.0 += d.running;
                counts.1 += d.waiting;
            }
        }
        shown.extend(now.keys().cloned());
        for labels in shown.iter() {
            let (running, waiting) = now.get(labels).copied().unwrap_or_default();
            let as_gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            self.tries_running
                .get_or_create(labels)
                .set(as_gauge(running));
            self.tries_waiting
                .get_or_create(labels)
                .set(as_gauge(waiting));
        }
    }
}

impl StoreObserver for Metrics {
    fn query(&self, operation: &'static str, elapsed: Duration) {
        self.store_query
            .get_or_create(&Operation { operation })
            .observe(elapsed.as_secs_f64());
    }

    fn task_instance_moved(&self, key: &TaskInstanceKey, to: TaskState) {
        if let Ok(mut moved) = self.moved.lock() {
            *moved.entry((key.dag_id.clone(), to)).or_default() += 1;
        }
    }
}

/// A family of histograms made by `buckets`.
fn histograms<S: Clone + std::hash::Hash + Eq>(buckets: fn() -> Histogram) -> Histograms<S> {
    Histograms::new_with_constructor(buckets)
}

fn team_queue(team: &str, queue: &str) -> TeamQueue {
    TeamQueue {
        team: team.to_string(),
        queue: queue.to_string(),
    }
}

/// The metrics as `GET /metrics` shows them: the gauges read now, then every family
/// in the OpenMetrics text format ([`CONTENT_TYPE`]), ending with `# EOF`. A store
/// that does not answer leaves the gauges it feeds as they were, and is logged.
pub(crate) async fn render(shared: &Shared) -> String {
    let m = &shared.metrics;
    let _one_at_a_time = m.scrape.lock().await;
    m.show_depths(shared);
    match shared.store.import_error_files().await {
        Ok(files) => {
            m.dag_import_errors
                .set(i64::try_from(files.len()).unwrap_or(i64::MAX));
        }
        Err(e) => warn!(error = %e, "metrics: cannot count the import errors"),
    }
    m.count_transitions(&shared.store).await;
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &m.registry) {
        // Writing into a String fails only if a family's own encoding does.
        warn!(error = %e, "metrics: cannot encode");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(m: &Metrics) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &m.registry).expect("encoded");
        text
    }

    fn key(task: &str) -> TaskInstanceKey {
        TaskInstanceKey {
            dag_id: DagId::new("d").expect("a DAG id"),
            run_id: weir_core::ids::RunId::new("r").expect("a run id"),
            task_id: weir_core::ids::TaskId::new(task).expect("a task id"),
            map_index: -1,
        }
    }

    #[test]
    fn the_wait_runs_from_when_the_dispatcher_first_saw_the_instance() {
        let m = Metrics::new();
        let at = |s: i64| DateTime::<Utc>::from_timestamp(1_000_000 + s, 0).unwrap_or_default();
        let (a, b) = (key("a"), key("b"));
        m.saw_scheduled([&a, &b].into_iter(), at(0));
        m.saw_scheduled([&a].into_iter(), at(5));
        m.saw_scheduled([&a, &b].into_iter(), at(6));
        m.try_started(&a, "data", "default", at(7));
        m.try_started(&b, "data", "default", at(8));
        // Started again without being seen scheduled: no wait to tell.
        m.try_started(&a, "data", "default", at(9));
        let text = encoded(&m);
        let labels = "{team=\"data\",queue=\"default\"}";
        let count = format!("weir_try_queue_wait_seconds_count{labels} 2\n");
        assert!(text.contains(&count), "{text}");
        // `a` waited 7 s; `b` left the queue at 5 s, so its wait counts from 6 s: 2 s.
        let sum = format!("weir_try_queue_wait_seconds_sum{labels} 9.0\n");
        assert!(text.contains(&sum), "{text}");
    }

    #[test]
    fn usage_adds_up_per_team() {
        let m = Metrics::new();
        let t0 = DateTime::<Utc>::from_timestamp(1_000_000, 0).unwrap_or_default();
        let usage = UsageRecord {
            team: weir_core::ids::TeamId::new("data").expect("a team id"),
            dag_id: DagId::new("d").expect("a DAG id"),
            queue: "default".into(),
            compute_environment: "local".into(),
            requested_vcpu: 2.0,
            requested_memory_bytes: 1024 * 1024 * 1024,
            wall_seconds: 1.5,
            cpu_seconds: None,
            peak_memory_bytes: None,
            started_at: t0,
            price: weir_core::platform::Price {
                vcpu_hour: 3600.0,
                gib_hour: 0.0,
            },
        };
        m.try_finished("data", "default", t0, t0, Some(&usage));
        let text = encoded(&m);
        assert!(
            text.contains("weir_usage_vcpu_seconds_total{team=\"data\"} 3.0"),
            "{text}"
        );
        assert!(
            text.contains("weir_cost_total{team=\"data\"} 3.0"),
            "{text}"
        );
    }
}
