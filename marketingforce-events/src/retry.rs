//! [`RetryPolicy`]: exponential backoff with jitter, and how many tries before an event is
//! dead-lettered.

use std::time::Duration;

/// How a relay retries a failed delivery: the delay before attempt `n + 1` is `initial × 2ⁿ⁻¹`
/// capped at `max`, with "equal jitter" (a random point in its upper half) so that relays
/// recovering together do not retry in step. With `max_attempts`, the event is dead-lettered
/// after that many failed tries and delivery goes on with the next one; without, the relay
/// keeps trying (and reports the lag) — right for a broker, whose outage delays every event
/// alike.
///
/// ```
/// use std::time::Duration;
/// use marketingforce_events::RetryPolicy;
///
/// let policy = RetryPolicy::limited(5, Duration::from_secs(1), Duration::from_secs(8));
/// assert_eq!(policy.backoff(1), Duration::from_secs(1));
/// assert_eq!(policy.backoff(3), Duration::from_secs(4));
/// assert_eq!(policy.backoff(10), Duration::from_secs(8));
/// let delay = policy.delay(3);
/// assert!(delay >= Duration::from_secs(2) && delay <= Duration::from_secs(4));
/// assert!(policy.exhausted(5) && !policy.exhausted(4));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff.
    pub initial: Duration,
    /// The longest backoff.
    pub max: Duration,
    /// Failed tries after which an event is dead-lettered (`None`: retry forever).
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    /// Retry forever, from 500 ms up to 30 s (the policy for brokers).
    fn default() -> Self {
        RetryPolicy::forever(Duration::from_millis(500), Duration::from_secs(30))
    }
}

impl RetryPolicy {
    /// Retry forever, backing off from `initial` to `max`.
    pub fn forever(initial: Duration, max: Duration) -> RetryPolicy {
        RetryPolicy {
            initial,
            max,
            max_attempts: None,
        }
    }

    /// Dead-letter an event after `attempts` failed tries (at least 1), backing off from
    /// `initial` to `max` in between.
    pub fn limited(attempts: u32, initial: Duration, max: Duration) -> RetryPolicy {
        RetryPolicy {
            initial,
            max,
            max_attempts: Some(attempts.max(1)),
        }
    }

    /// The backoff after `attempt` failed tries (1 = after the first), without jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// The backoff after `attempt` failed tries with equal jitter: between half of
    /// [`backoff`](RetryPolicy::backoff) and all of it.
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self.backoff(attempt);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_micros()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            rand::random_range(0..=spread)
        };
        half + Duration::from_micros(jitter)
    }

    /// Whether an event that failed `attempts` times is to be dead-lettered.
    pub fn exhausted(&self, attempts: u32) -> bool {
        self.max_attempts.is_some_and(|max| attempts >= max)
    }
}
