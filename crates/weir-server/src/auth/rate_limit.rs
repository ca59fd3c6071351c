//! Failed sign-ins are rate-limited per credential, and per source address only as a
//! flood guard. A caller over a limit is refused before its credential is even checked,
//! until the window has passed.
//!
//! - A password is counted per (user name, source address): guessing one user's
//!   password from one place is slowed down, and nobody else is affected.
//! - An API token or an SSO token is counted per token (the SHA-256 digest of what was
//!   presented): replaying one bad token is slowed down, and a stranger's bad tokens never
//!   count against a valid token, even from the same address.
//! - Every failure also counts against its source address, with a limit high enough for
//!   a whole office behind one NAT ([`LoginLimits::per_address`], 300 a minute by
//!   default). Past it, every sign-in from that address is refused for the rest of the
//!   window, valid ones included: it is a flood, not a mistyped password.
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
    /// Failures of one name's password from one address within `window` before that
    /// name is blocked from that address.
    pub per_user_and_address: u32,
    /// Failures of one presented token (by digest) within `window` before it is blocked.
    pub per_credential: u32,
    /// Failures from one address (any credentials) within `window` before every sign-in
    /// from it is refused: a flood guard, sized for many people behind one NAT.
    pub per_address: u32,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_user_and_address: 5,
            per_credential: 5,
            per_address: 300,
            window: Duration::from_secs(60),
        }
    }
}

/// What a sign-in attempt presents, which is what its failures count against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<'a> {
    /// A user name and password (HTTP Basic), counted per (name, address).
    Password { user: &'a str },
    /// A bearer token (a Weir API token or an SSO JWT), by the SHA-256 digest of the
    /// presented text, counted wherever it comes from.
    Token { digest: &'a str },
}

impl Attempt<'_> {
    fn key(&self, address: Option<IpAddr>) -> (String, Option<IpAddr>) {
        match self {
            Attempt::Password { user } => (format!("user:{user}"), address),
            Attempt::Token { digest } => (format!("token:{digest}"), None),
        }
    }
}

/// Why an attempt is refused, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// This credential failed too often; seconds to wait.
    Credential(u64),
    /// This address sent too many failed sign-ins of any kind; seconds to wait.
    Address(u64),
}

impl Blocked {
    pub fn wait_secs(self) -> u64 {
        match self {
            Blocked::Credential(s) | Blocked::Address(s) => s,
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
    by_credential: HashMap<(String, Option<IpAddr>), Vec<Instant>>,
    by_address: HashMap<Option<IpAddr>, Vec<Instant>>,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            limits,
            failures: Mutex::default(),
        }
    }

    pub fn limits(&self) -> LoginLimits {
        self.limits
    }

    /// `Err` when `attempt` from `address` may not be tried now.
    pub fn check(
        &self,
        attempt: Attempt<'_>,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Blocked> {
        let mut f = self.lock();
        let window = self.limits.window;
        let key = attempt.key(address);
        let per_credential = recent(f.by_credential.get_mut(&key), now, window);
        let per_address = recent(f.by_address.get_mut(&address), now, window);
        let wait = |times: &[Instant]| {
            times
                .first()
                .map_or(1, |t| (window.saturating_sub(now - *t)).as_secs().max(1))
        };
        let credential_limit = match attempt {
            Attempt::Password { .. } => self.limits.per_user_and_address,
            Attempt::Token { .. } => self.limits.per_credential,
        };
        if per_credential.len() >= credential_limit as usize {
            return Err(Blocked::Credential(wait(&per_credential)));
        }
        if per_address.len() >= self.limits.per_address as usize {
            return Err(Blocked::Address(wait(&per_address)));
        }
        Ok(())
    }

    /// Counts a failed sign-in.
    pub fn failed(&self, attempt: Attempt<'_>, address: Option<IpAddr>, now: Instant) {
        let mut f = self.lock();
        f.by_credential
            .entry(attempt.key(address))
            .or_default()
            .push(now);
        f.by_address.entry(address).or_default().push(now);
        // Keep the maps from growing without bound under a spray of names or tokens.
        if f.by_credential.len() > 10_000 || f.by_address.len() > 10_000 {
            let window = self.limits.window;
            f.by_credential
                .retain(|_, times| times.last().is_some_and(|t| now - *t < window));
            f.by_address
                .retain(|_, times| times.last().is_some_and(|t| now - *t < window));
        }
    }

    /// A successful sign-in forgets that credential's failures (from that address, for a
    /// password).
    pub fn succeeded(&self, attempt: Attempt<'_>, address: Option<IpAddr>) {
        self.lock().by_credential.remove(&attempt.key(address));
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

    fn password(user: &str) -> Attempt<'_> {
        Attempt::Password { user }
    }

    #[test]
    fn blocks_after_the_limit_until_the_window_passes() {
        let limiter = LoginLimiter::new(LoginLimits {
            per_user_and_address: 3,
            per_credential: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        });
        let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
        let other: Option<IpAddr> = "10.0.0.2".parse().ok();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(password("ann"), ip, t0).is_ok());
            limiter.failed(password("ann"), ip, t0);
        }
        let wait = limiter.check(password("ann"), ip, t0).unwrap_err();
        assert!(matches!(wait, Blocked::Credential(59..=60)), "{wait:?}");
        // Another address, or another name, is not blocked by ann's failures.
        assert!(limiter.check(password("ann"), other, t0).is_ok());
        assert!(limiter.check(password("bob"), ip, t0).is_ok());
        // A spray of names from one address trips the address limit.
        for name in ["c", "d"] {
            limiter.failed(password(name), ip, t0);
        }
        assert!(matches!(
            limiter.check(password("eve"), ip, t0),
            Err(Blocked::Address(_))
        ));
        // After the window, everyone may try again.
        let later = t0 + Duration::from_secs(61);
        assert!(limiter.check(password("ann"), ip, later).is_ok());
        assert!(limiter.check(password("eve"), ip, later).is_ok());
        limiter.succeeded(password("ann"), ip);
    }

    #[test]
    fn bad_tokens_count_against_themselves_not_against_good_ones() {
        let limiter = LoginLimiter::new(LoginLimits::default());
        let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
        let t0 = Instant::now();
        for i in 0..100 {
            let digest = format!("bad-{i}");
            limiter.failed(Attempt::Token { digest: &digest }, ip, t0);
        }
        let good = Attempt::Token { digest: "good" };
        assert!(limiter.check(good, ip, t0).is_ok());
        assert!(limiter.check(password("ann"), ip, t0).is_ok());
        // One bad token replayed is blocked, wherever it comes from.
        let bad = Attempt::Token { digest: "replayed" };
        for _ in 0..5 {
            limiter.failed(bad, ip, t0);
        }
        assert!(matches!(
            limiter.check(bad, None, t0),
            Err(Blocked::Credential(_))
        ));
        // The flood limit is the only one a good token can hit.
        for i in 0..200 {
            let digest = format!("more-{i}");
            limiter.failed(Attempt::Token { digest: &digest }, ip, t0);
        }
        assert!(matches!(
            limiter.check(good, ip, t0),
            Err(Blocked::Address(_))
        ));
        assert!(limiter.check(good, None, t0).is_ok());
    }
}
