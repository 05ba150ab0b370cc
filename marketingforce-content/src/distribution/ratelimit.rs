//! Per-tenant, per-channel publishing rate limits over rolling windows.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use marketingforce_core::tenant::TenantId;
use tokio::sync::Mutex;

use super::catalogue::RateLimit;

type Windows = HashMap<(TenantId, String), VecDeque<DateTime<Utc>>>;

/// Rolling-window limiter: at most `per_hour` publications in any hour and `per_day` in any 24
/// hours, per tenant and channel. Slots are taken atomically and can be given back.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<Windows>,
}

impl RateLimiter {
    /// An empty limiter.
    pub fn new() -> RateLimiter {
        RateLimiter::default()
    }

    /// Seed a window with past publication times (after a restart).
    pub async fn seed(
        &self,
        tenant: &TenantId,
        channel: &str,
        times: impl IntoIterator<Item = DateTime<Utc>>,
    ) {
        let mut w = self.windows.lock().await;
        let q = w.entry((*tenant, channel.to_string())).or_default();
        let mut all: Vec<DateTime<Utc>> = q.drain(..).chain(times).collect();
        all.sort();
        q.extend(all);
    }

    /// Whether the window was seeded or used already.
    pub async fn knows(&self, tenant: &TenantId, channel: &str) -> bool {
        self.windows
            .lock()
            .await
            .contains_key(&(*tenant, channel.to_string()))
    }

    /// Take a slot at `now`, or say when the next one frees up.
    pub async fn try_take(
        &self,
        tenant: &TenantId,
        channel: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        let mut w = self.windows.lock().await;
        let q = w.entry((*tenant, channel.to_string())).or_default();
        let day_ago = now - Duration::hours(24);
        while q.front().is_some_and(|t| *t <= day_ago) {
            q.pop_front();
        }
        let hour_ago = now - Duration::hours(1);
        let in_hour: Vec<&DateTime<Utc>> = q.iter().filter(|t| **t > hour_ago).collect();
        if in_hour.len() >= limit.per_hour as usize {
            let idx = in_hour.len() - limit.per_hour as usize;
            let at = in_hour.get(idx).map_or(now, |t| **t + Duration::hours(1));
            return Err(at);
        }
        if q.len() >= limit.per_day as usize {
            let idx = q.len() - limit.per_day as usize;
            let at = q.get(idx).map_or(now, |t| *t + Duration::hours(24));
            return Err(at);
        }
        q.push_back(now);
        Ok(())
    }

    /// Give back a slot taken at `at` (the publication did not happen).
    pub async fn give_back(&self, tenant: &TenantId, channel: &str, at: DateTime<Utc>) {
        let mut w = self.windows.lock().await;
        if let Some(q) = w.get_mut(&(*tenant, channel.to_string())) {
            if let Some(pos) = q.iter().rposition(|t| *t == at) {
                q.remove(pos);
            }
        }
    }
}
