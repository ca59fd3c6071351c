//! One poller per environment for all of its running jobs: batched `DescribeJobs`
//! calls (up to 100 job ids each), every `poll_interval`, whose answers each try's
//! watcher receives on its own channel.
//!
//! When AWS throttles (HTTP 429, `TooManyRequestsException`, `ThrottlingException`) or
//! does not answer, the poller slows down instead of failing the tries: the next poll
//! waits an exponentially growing delay with jitter (half of it fixed, half random, so
//! delays grow from one failure to the next), up to `max_backoff`, and the first good
//! answer brings it back to `poll_interval`. A job Batch stops reporting for
//! `gone_after` good polls in a row is reported [`Seen::Gone`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::client::{Failure, LazyClients};
use super::status::JobView;

/// `DescribeJobs` takes at most this many ids per call.
pub const MAX_IDS_PER_CALL: usize = 100;

/// What the poller last learnt about a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// Not polled yet.
    Unknown,
    Job(JobView),
    /// Batch no longer reports the job.
    Gone,
}

/// How often and how patiently the poller asks.
#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    pub interval: Duration,
    pub max_backoff: Duration,
    pub gone_after: u32,
}

/// Counters of the poller's calls (for tests and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    /// `DescribeJobs` calls made.
    pub calls: u64,
    /// Calls AWS throttled.
    pub throttled: u64,
    /// Calls that failed otherwise (no answer).
    pub failed: u64,
}

struct Entry {
    sender: watch::Sender<Seen>,
    misses: u32,
}

struct Inner {
    jobs: Mutex<HashMap<String, Entry>>,
    clients: Arc<LazyClients>,
    settings: PollSettings,
    running: AtomicBool,
    calls: AtomicU64,
    throttled: AtomicU64,
    failed: AtomicU64,
}

/// The poller of one environment. Cheap to clone; its loop runs while jobs are watched
/// and the poller exists.
#[derive(Clone)]
pub struct Poller {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Poller {
    pub fn new(clients: Arc<LazyClients>, settings: PollSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                jobs: Mutex::new(HashMap::new()),
                clients,
                settings,
                running: AtomicBool::new(false),
                calls: AtomicU64::new(0),
                throttled: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    /// Watches job `job_id`: the receiver sees each new answer about it. Starts the
    /// poll loop if it is not running (call from within the runtime).
    pub fn watch(&self, job_id: &str) -> watch::Receiver<Seen> {
        let rx = {
            let mut jobs = self
                .inner
                .jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match jobs.get(job_id) {
                Some(entry) => entry.sender.subscribe(),
                None => {
                    let (sender, rx) = watch::channel(Seen::Unknown);
                    jobs.insert(job_id.to_owned(), Entry { sender, misses: 0 });
                    rx
                }
            }
        };
        if !self.inner.running.swap(true, Ordering::SeqCst) {
            tokio::spawn(poll_loop(Arc::downgrade(&self.inner)));
        }
        rx
    }

    /// Stops watching job `job_id`.
    pub fn forget(&self, job_id: &str) {
        if let Ok(mut jobs) = self.inner.jobs.lock() {
            jobs.remove(job_id);
        }
    }

    pub fn stats(&self) -> PollStats {
        PollStats {
            calls: self.inner.calls.load(Ordering::Relaxed),
            throttled: self.inner.throttled.load(Ordering::Relaxed),
            failed: self.inner.failed.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    /// The ids to poll; entries nobody listens to any more are dropped.
    fn ids(&self) -> Vec<String> {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        jobs.retain(|_, e| e.sender.receiver_count() > 0);
        let mut ids: Vec<String> = jobs.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Publishes one good answer for the ids asked.
    fn publish(&self, asked: &[String], found: Vec<JobView>) {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut seen: HashMap<String, JobView> =
            found.into_iter().map(|j| (j.job_id.clone(), j)).collect();
        for id in asked {
            let Some(entry) = jobs.get_mut(id) else {
                continue;
            };
            match seen.remove(id) {
                Some(view) => {
                    entry.misses = 0;
                    entry.sender.send_if_modified(|old| {
                        let new = Seen::Job(view);
                        let changed = *old != new;
                        *old = new;
                        changed
                    });
                }
                None => {
                    entry.misses += 1;
                    if entry.misses >= self.settings.gone_after {
                        entry.sender.send_replace(Seen::Gone);
                    }
                }
            }
        }
    }
}

async fn poll_loop(weak: Weak<Inner>) {
    let mut backoff = Backoff::new(Duration::ZERO, Duration::ZERO);
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let settings = inner.settings;
        if backoff.max != settings.max_backoff {
            backoff = Backoff::new(settings.interval, settings.max_backoff);
        }
        let ids = inner.ids();
        let mut delay = settings.interval;
        if !ids.is_empty() {
            let clients = inner.clients.get().await;
            let mut failure = None;
            for chunk in ids.chunks(MAX_IDS_PER_CALL) {
                inner.calls.fetch_add(1, Ordering::Relaxed);
                match clients
                    .batch
                    .describe_jobs()
                    .set_jobs(Some(chunk.to_vec()))
                    .send()
                    .await
                {
                    Ok(out) => {
                        let views = out.jobs().iter().filter_map(JobView::from_sdk).collect();
                        inner.publish(chunk, views);
                    }
                    Err(e) => {
                        failure = Some(Failure::of(&e));
                        break;
                    }
                }
            }
            match failure {
                None => backoff.reset(),
                Some(f) => {
                    match &f {
                        Failure::Throttled(_) => inner.throttled.fetch_add(1, Ordering::Relaxed),
                        _ => inner.failed.fetch_add(1, Ordering::Relaxed),
                    };
                    delay = backoff.next_delay();
                    tracing::warn!(error = %f, delay_ms = delay.as_millis() as u64, "AWS Batch DescribeJobs failed; polling again later");
                }
            }
        }
        drop(inner);
        tokio::time::sleep(delay).await;
    }
}

/// Exponential backoff with "equal jitter": the n-th delay lies in `[d/2, d]` with
/// `d = base * 2^n` (capped at `max`), so delays grow from one failure to the next.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
    seed: u64,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
            | 1;
        Self {
            base,
            max,
            failures: 0,
            seed,
        }
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The delay before the next try after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let factor = 2u32.saturating_pow(self.failures.min(30));
        let full = self.base.saturating_mul(factor).min(self.max);
        let half = full / 2;
        // xorshift64: jitter needs no cryptography.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let unit = (self.seed >> 11) as f64 / (1u64 << 53) as f64;
        half + half.mul_f64(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        // [100, 200], [200, 400], [400, 800], [800, 1600], then [1000, 2000].
        assert!(delays[0] >= Duration::from_millis(100) && delays[0] <= Duration::from_millis(200));
        for pair in delays[..4].windows(2) {
            assert!(pair[1] >= pair[0], "{delays:?}");
        }
        assert!(
            delays.iter().all(|d| *d <= Duration::from_secs(2)),
            "{delays:?}"
        );
        assert!(delays[7] >= Duration::from_secs(1));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(200));
    }
}
