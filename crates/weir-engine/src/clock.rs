//! The engine's clock, taken as a value: the wall clock in production, a [`ManualClock`]
//! in tests, which then drive schedules, retry delays and timeouts by moving time
//! forward instead of sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Resolves once the clock reads `at` or later (at once if it already does).
    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep {
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told ([`ManualClock::advance`], [`ManualClock::set`]);
/// whoever sleeps until a time it passes wakes at once. Cheap to clone: clones share
/// the time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::TimeDelta) {
        self.now.send_modify(|now| *now += by);
    }

    /// Sets the clock to `at` (never backwards: an earlier time is ignored).
    pub fn set(&self, at: DateTime<Utc>) {
        self.now.send_if_modified(|now| {
            let later = at > *now;
            if later {
                *now = at;
            }
            later
        });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // Err only when every clock is gone: nobody can move time any more.
            if rx.wait_for(|now| *now >= at).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_sleeper_wakes_when_time_passes_its_hour() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let clock = ManualClock::new(start);
        let at = start + chrono::TimeDelta::seconds(60);
        let sleeper = tokio::spawn(clock.sleep_until(at));
        clock.advance(chrono::TimeDelta::seconds(59));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(chrono::TimeDelta::seconds(1));
        sleeper.await.expect("woke");
        assert_eq!(clock.now(), at);
        clock.set(start);
        assert_eq!(clock.now(), at, "never backwards");
        clock.sleep_until(start).await;
    }
}
