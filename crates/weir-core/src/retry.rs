//! Retry policy arithmetic: how many tries a task gets and how long to wait before each.
//!
//! Try numbers start at 1, as in Airflow: a task with `retries: 3` has tries 1 to 4.
//! Delays are deterministic (no jitter), so the engine can store the computed "not before"
//! instant and a restarted scheduler reaches the same answer.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the delay between tries grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryBackoff {
    /// Every retry waits `retry_delay`.
    #[default]
    Fixed,
    /// The n-th retry waits `retry_delay * 2^(n-1)`, capped by `max_retry_delay`.
    Exponential,
}

impl RetryBackoff {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryBackoff::Fixed => "fixed",
            RetryBackoff::Exponential => "exponential",
        }
    }
}

impl fmt::Display for RetryBackoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cap on an exponential delay when the DAG sets none; Airflow uses the same day-long
/// ceiling, which keeps a task with many retries from sleeping for weeks.
pub const DEFAULT_MAX_RETRY_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How a task is retried, resolved from the task, its DAG's defaults and Weir's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try: the task gets `retries + 1` tries in all.
    pub retries: u32,
    /// The wait before the first retry (try 2).
    pub retry_delay: Duration,
    pub backoff: RetryBackoff,
    /// The longest wait between two tries. With exponential backoff and no cap set,
    /// [`DEFAULT_MAX_RETRY_DELAY`] applies; fixed backoff is only capped when it is set.
    pub max_retry_delay: Option<Duration>,
}

impl Default for RetryPolicy {
    /// No retries, and Airflow's default delay of five minutes should retries be added.
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            retry_delay: Duration::from_secs(300),
            backoff: RetryBackoff::Fixed,
            max_retry_delay: None,
        }
    }
}

impl RetryPolicy {
    /// How many tries the task gets in all (first try plus retries).
    pub fn max_tries(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// Whether a task whose try `try_number` failed may be tried again.
    pub fn can_retry_after(&self, try_number: u32) -> bool {
        try_number < self.max_tries()
    }

    /// The wait before try `next_try_number` (1-based) starts, counted from the end of the
    /// try before it. Try 1 starts at once; try 2 waits `retry_delay`; with exponential
    /// backoff each later try waits twice as long as the one before, up to the cap.
    pub fn delay_before_try(&self, next_try_number: u32) -> Duration {
        if next_try_number <= 1 {
            return Duration::ZERO;
        }
        let delay = match self.backoff {
            RetryBackoff::Fixed => self.retry_delay,
            RetryBackoff::Exponential => {
                // Try 2 waits 2^0 * delay, try 3 waits 2^1 * delay, ...; a factor that
                // does not fit in 32 bits is past any cap, so it saturates.
                let exponent = next_try_number - 2;
                let factor = 1u32.checked_shl(exponent).unwrap_or(u32::MAX);
                self.retry_delay
                    .checked_mul(factor)
                    .unwrap_or(Duration::MAX)
            }
        };
        match self.cap() {
            Some(cap) => delay.min(cap),
            None => delay,
        }
    }

    fn cap(&self) -> Option<Duration> {
        match (self.backoff, self.max_retry_delay) {
            (_, Some(cap)) => Some(cap),
            (RetryBackoff::Exponential, None) => Some(DEFAULT_MAX_RETRY_DELAY),
            (RetryBackoff::Fixed, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(backoff: RetryBackoff, delay_s: u64, cap_s: Option<u64>) -> RetryPolicy {
        RetryPolicy {
            retries: 5,
            retry_delay: Duration::from_secs(delay_s),
            backoff,
            max_retry_delay: cap_s.map(Duration::from_secs),
        }
    }

    #[test]
    fn tries_are_retries_plus_one() {
        let p = policy(RetryBackoff::Fixed, 30, None);
        assert_eq!(p.max_tries(), 6);
        assert!(p.can_retry_after(5));
        assert!(!p.can_retry_after(6));
        let none = RetryPolicy::default();
        assert_eq!(none.max_tries(), 1);
        assert!(!none.can_retry_after(1));
        let many = RetryPolicy {
            retries: u32::MAX,
            ..RetryPolicy::default()
        };
        assert_eq!(many.max_tries(), u32::MAX);
    }

    #[test]
    fn fixed_waits_the_same_each_time() {
        let p = policy(RetryBackoff::Fixed, 30, None);
        assert_eq!(p.delay_before_try(1), Duration::ZERO);
        for n in 2..10 {
            assert_eq!(p.delay_before_try(n), Duration::from_secs(30));
        }
        let capped = policy(RetryBackoff::Fixed, 30, Some(10));
        assert_eq!(capped.delay_before_try(2), Duration::from_secs(10));
    }

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let p = policy(RetryBackoff::Exponential, 30, Some(300));
        let secs: Vec<u64> = (1..=7).map(|n| p.delay_before_try(n).as_secs()).collect();
        assert_eq!(secs, [0, 30, 60, 120, 240, 300, 300]);
    }

    #[test]
    fn exponential_defaults_to_a_one_day_cap_without_overflow() {
        let p = policy(RetryBackoff::Exponential, 30, None);
        assert_eq!(p.delay_before_try(13), Duration::from_secs(30 * 2048));
        assert_eq!(p.delay_before_try(14), DEFAULT_MAX_RETRY_DELAY);
        assert_eq!(p.delay_before_try(40), DEFAULT_MAX_RETRY_DELAY);
        assert_eq!(p.delay_before_try(u32::MAX), DEFAULT_MAX_RETRY_DELAY);
        let huge = RetryPolicy {
            retry_delay: Duration::MAX,
            ..p
        };
        assert_eq!(huge.delay_before_try(3), DEFAULT_MAX_RETRY_DELAY);
    }

    #[test]
    fn backoff_names() {
        assert_eq!(RetryBackoff::Exponential.to_string(), "exponential");
        let back: RetryBackoff = serde_json::from_str("\"fixed\"").expect("deserialize");
        assert_eq!(back, RetryBackoff::Fixed);
    }
}
