//! Delivering a message, decided as values: how long to wait after a failed attempt,
//! whether a channel may send now, and what a webhook's answer means.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::platform::MAX_RETRY_DELAY;

/// The wait after failed attempt number `attempts` (1-based): `base`, doubling each
/// time, never more than [`MAX_RETRY_DELAY`].
pub fn next_attempt_delay(base: Duration, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    base.saturating_mul(factor).min(MAX_RETRY_DELAY)
}

/// A channel's rate limit: at most `max_per_minute` messages in any one minute-long
/// window (fixed windows, started by the first message after the last one ended).
#[derive(Debug, Clone)]
pub struct RateWindow {
    max_per_minute: u32,
    started: Option<DateTime<Utc>>,
    sent: u32,
}

impl RateWindow {
    pub fn new(max_per_minute: u32) -> Self {
        RateWindow {
            max_per_minute: max_per_minute.max(1),
            started: None,
            sent: 0,
        }
    }

    /// Takes a place for one message at `now`, or says when the next place frees up.
    pub fn take(&mut self, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let window = chrono::Duration::minutes(1);
        match self.started {
            Some(start) if now < start + window => {
                if self.sent >= self.max_per_minute {
                    return Err(start + window);
                }
                self.sent += 1;
            }
            _ => {
                self.started = Some(now);
                self.sent = 1;
            }
        }
        Ok(())
    }
}

/// What a webhook's HTTP status means for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVerdict {
    Delivered,
    /// Try again later: the receiver is down, overloaded or asks to slow down.
    Retry,
    /// The receiver refuses this request (a wrong URL, a revoked hook): retrying
    /// cannot help.
    Refused,
}

pub fn webhook_verdict(status: u16) -> HttpVerdict {
    match status {
        200..=299 => HttpVerdict::Delivered,
        408 | 425 | 429 => HttpVerdict::Retry,
        400..=499 => HttpVerdict::Refused,
        _ => HttpVerdict::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let base = Duration::from_secs(10);
        assert_eq!(next_attempt_delay(base, 1), Duration::from_secs(10));
        assert_eq!(next_attempt_delay(base, 2), Duration::from_secs(20));
        assert_eq!(next_attempt_delay(base, 4), Duration::from_secs(80));
        assert_eq!(next_attempt_delay(base, 40), MAX_RETRY_DELAY);
    }

    #[test]
    fn a_channel_sends_at_most_its_rate_and_then_waits_for_the_window() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let mut w = RateWindow::new(2);
        assert_eq!(w.take(t0), Ok(()));
        assert_eq!(w.take(t0 + chrono::Duration::seconds(1)), Ok(()));
        let next = t0 + chrono::Duration::minutes(1);
        assert_eq!(w.take(t0 + chrono::Duration::seconds(2)), Err(next));
        assert_eq!(w.take(next), Ok(()));
    }

    #[test]
    fn only_a_refusal_stops_the_retries() {
        assert_eq!(webhook_verdict(204), HttpVerdict::Delivered);
        assert_eq!(webhook_verdict(500), HttpVerdict::Retry);
        assert_eq!(webhook_verdict(503), HttpVerdict::Retry);
        assert_eq!(webhook_verdict(429), HttpVerdict::Retry);
        assert_eq!(webhook_verdict(404), HttpVerdict::Refused);
        assert_eq!(webhook_verdict(301), HttpVerdict::Retry);
    }
}
