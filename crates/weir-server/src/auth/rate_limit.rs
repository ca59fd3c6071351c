//! Failed sign-ins are rate-limited per (user name, source address), and per address
//! across names (a password spray tries one password on many names). A caller over the
//! limit is refused before its password is even checked, until the window has passed.
//!
//! The counts live in this process: with several replicas each keeps its own, so the
//! effective limit is the per-replica limit times the replicas.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits on failed sign-ins.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures of one name from one address within `window` before it is blocked.
    pub per_user_and_address: u32,
    /// Failures from one address (any names) within `window` before it is blocked.
    pub per_address: u32,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_user_and_address: 5,
            per_address: 30,
            window: Duration::from_secs(60),
        }
    }
}

/// The failure counts.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    by_user: HashMap<(String, Option<IpAddr>), Vec<Instant>>,
    by_address: HashMap<Option<IpAddr>, Vec<Instant>>,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            limits,
            failures: Mutex::default(),
        }
    }

    /// `Err(seconds to wait)` when `user` from `address` may not try now.
    pub fn check(&self, user: &str, address: Option<IpAddr>, now: Instant) -> Result<(), u64> {
        let mut f = self.lock();
        let window = self.limits.window;
        let key = (user.to_string(), address);
        let per_user = recent(f.by_user.get_mut(&key), now, window);
        let per_address = recent(f.by_address.get_mut(&address), now, window);
        let wait = |times: &[Instant]| {
            times
                .first()
                .map_or(1, |t| (window.saturating_sub(now - *t)).as_secs().max(1))
        };
        if per_user.len() >= self.limits.per_user_and_address as usize {
            return Err(wait(&per_user));
        }
        if per_address.len() >= self.limits.per_address as usize {
            return Err(wait(&per_address));
        }
        Ok(())
    }

    /// Counts a failed sign-in.
    pub fn failed(&self, user: &str, address: Option<IpAddr>, now: Instant) {
        let mut f = self.lock();
        f.by_user
            .entry((user.to_string(), address))
            .or_default()
            .push(now);
        f.by_address.entry(address).or_default().push(now);
        // Keep the maps from growing without bound under a spray of names.
        if f.by_user.len() > 10_000 {
            let window = self.limits.window;
            f.by_user
                .retain(|_, times| times.last().is_some_and(|t| now - *t < window));
            f.by_address
                .retain(|_, times| times.last().is_some_and(|t| now - *t < window));
        }
    }

    /// A successful sign-in forgets that name's failures from that address.
    pub fn succeeded(&self, user: &str, address: Option<IpAddr>) {
        self.lock().by_user.remove(&(user.to_string(), address));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        // A poisoned lock only means another request panicked mid-update; the counts
        // are still usable.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The failures within the window (pruning older ones), oldest first.
fn recent(times: Option<&mut Vec<Instant>>, now: Instant, window: Duration) -> Vec<Instant> {
    match times {
        Some(times) => {
            times.retain(|t| now.saturating_duration_since(*t) < window);
            times.clone()
        }
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_passes() {
        let limiter = LoginLimiter::new(LoginLimits {
            per_user_and_address: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        });
        let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
        let other: Option<IpAddr> = "10.0.0.2".parse().ok();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("ann", ip, t0).is_ok());
            limiter.failed("ann", ip, t0);
        }
        let wait = limiter.check("ann", ip, t0).unwrap_err();
        assert!((59..=60).contains(&wait), "{wait}");
        // Another address, or another name, is not blocked by ann's failures.
        assert!(limiter.check("ann", other, t0).is_ok());
        assert!(limiter.check("bob", ip, t0).is_ok());
        // A spray of names from one address trips the address limit.
        for name in ["c", "d"] {
            limiter.failed(name, ip, t0);
        }
        assert!(limiter.check("eve", ip, t0).is_err());
        // After the window, everyone may try again.
        let later = t0 + Duration::from_secs(61);
        assert!(limiter.check("ann", ip, later).is_ok());
        assert!(limiter.check("eve", ip, later).is_ok());
        limiter.succeeded("ann", ip);
    }
}
