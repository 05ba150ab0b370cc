//! Token buckets honouring the platform's QPS limits, per app and per advertiser.
//!
//! Every call takes one token from the app's bucket and, when it concerns an advertiser, one
//! from that advertiser's bucket; a caller finding a bucket empty sleeps until it refills.
//! Buckets hold at most one second of tokens, so a burst never exceeds the configured QPS.
//!
//! The buckets live in this process. The platform counts per app **across all processes**:
//! with `n` replicas, configure each with `app_qps = floor(limit / n)` (and the same for
//! `advertiser_qps`), or route each advertiser to one replica. Rate-limit answers that still
//! get through are retried with backoff (see [`codes`](super::codes)).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Tokens are counted in thousandths so refills are exact integers.
const ONE: u64 = 1000;
/// Advertiser buckets kept before idle (full) ones are dropped.
const MAX_IDLE_BUCKETS: usize = 4096;

#[derive(Debug)]
struct Bucket {
    per_second: u64,
    tokens: u64,
    last: Instant,
}

impl Bucket {
    fn new(per_second: u32, now: Instant) -> Bucket {
        let per_second = u64::from(per_second.max(1));
        Bucket {
            per_second,
            tokens: per_second * ONE,
            last: now,
        }
    }

    fn capacity(&self) -> u64 {
        self.per_second * ONE
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last);
        let added = elapsed
            .as_nanos()
            .saturating_mul(u128::from(self.per_second * ONE))
            / 1_000_000_000;
        let added = u64::try_from(added).unwrap_or(u64::MAX);
        if added > 0 {
            self.tokens = self.tokens.saturating_add(added).min(self.capacity());
            self.last = now;
        }
    }

    /// How long until a whole token is there (zero: there is one).
    fn wait(&self) -> Duration {
        if self.tokens >= ONE {
            return Duration::ZERO;
        }
        let missing = ONE - self.tokens;
        let nanos =
            (u128::from(missing) * 1_000_000_000).div_ceil(u128::from(self.per_second * ONE));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)).max(Duration::from_millis(1))
    }
}

/// The app's bucket and one bucket per advertiser.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    advertiser_qps: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    app: Bucket,
    advertisers: HashMap<String, Bucket>,
}

impl RateLimiter {
    pub(crate) fn new(app_qps: u32, advertiser_qps: u32) -> RateLimiter {
        let now = Instant::now();
        RateLimiter {
            advertiser_qps,
            state: Mutex::new(State {
                app: Bucket::new(app_qps, now),
                advertisers: HashMap::new(),
            }),
        }
    }

    /// Wait for a token of the app and, if given, of the advertiser. Cancel-safe: a dropped
    /// wait takes nothing.
    pub(crate) async fn acquire(&self, advertiser: Option<&str>) {
        loop {
            let wait = self.try_take(advertiser);
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Take the tokens if both are there; otherwise how long to wait.
    fn try_take(&self, advertiser: Option<&str>) -> Duration {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State { app, advertisers } = &mut *state;
        app.refill(now);
        let mut wait = app.wait();
        if let Some(id) = advertiser {
            if !advertisers.contains_key(id) && advertisers.len() >= MAX_IDLE_BUCKETS {
                advertisers.retain(|_, b| {
                    b.refill(now);
                    b.tokens < b.capacity()
                });
            }
            let bucket = advertisers
                .entry(id.to_string())
                .or_insert_with(|| Bucket::new(self.advertiser_qps, now));
            bucket.refill(now);
            wait = wait.max(bucket.wait());
            if wait.is_zero() {
                bucket.tokens -= ONE;
            }
        }
        if wait.is_zero() {
            app.tokens -= ONE;
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_beyond_the_rate_waits_for_refills() {
        let limiter = RateLimiter::new(10, 2);
        let start = Instant::now();
        // Two immediate calls for the advertiser, the third waits half a second.
        limiter.acquire(Some("1")).await;
        limiter.acquire(Some("1")).await;
        assert_eq!(Instant::now(), start);
        limiter.acquire(Some("1")).await;
        assert!(Instant::now() - start >= Duration::from_millis(500));
        // Another advertiser is not held back by the first one's bucket.
        let before = Instant::now();
        limiter.acquire(Some("2")).await;
        assert_eq!(Instant::now(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn the_app_bucket_caps_all_advertisers() {
        let limiter = RateLimiter::new(3, 100);
        let start = Instant::now();
        for i in 0..6 {
            limiter.acquire(Some(&i.to_string())).await;
        }
        // 3 immediately, then one every third of a second.
        assert!(Instant::now() - start >= Duration::from_millis(999));
    }
}
