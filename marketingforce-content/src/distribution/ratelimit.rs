//! Per-tenant, per-channel publishing rate limits over rolling windows.
//!
//! [`RateLimiter`] keeps the windows in memory (one process). The [`Publisher`](super::Publisher)
//! keeps them in the tenant's store instead (`RateWindow`, one versioned record per channel in
//! collection `content.rate_windows`),
//! so that several processes publishing for one tenant share one limit: a slot is taken by a
//! write conditional on the window's version, and a process that lost the race reads the
//! window again.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use marketingforce_core::storage::{Batch, Collection, CommitOutcome, Entity, Expect, Store};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::catalogue::RateLimit;

type Windows = HashMap<(TenantId, String), VecDeque<DateTime<Utc>>>;

/// Rolling-window limiter: at most `per_hour` publications in any hour and `per_day` in any 24
/// hours, per tenant and channel. Slots are taken atomically and can be given back. In memory:
/// one process's limits (the [`Publisher`](super::Publisher) keeps its windows in the store, so
/// that its limits hold across processes).
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
        take(q, limit, now)
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

/// Take a slot at `now` in the window `q` (publication times, oldest first; those older than a
/// day are dropped), or say when the next one frees up.
fn take(
    q: &mut VecDeque<DateTime<Utc>>,
    limit: RateLimit,
    now: DateTime<Utc>,
) -> Result<(), DateTime<Utc>> {
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

/// A tenant's slots on one channel in the last day, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RateWindow {
    /// The channel code.
    channel: String,
    /// The slots taken, oldest first.
    taken: VecDeque<Slot>,
}

/// A slot of a rate window: when it was taken, and by which publication (its channel
/// idempotency key; empty for a slot seeded from the publications of before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Slot {
    at: DateTime<Utc>,
    key: String,
}

impl Entity for RateWindow {
    const COLLECTION: &'static str = "content.rate_windows";

    fn key(&self) -> String {
        self.channel.clone()
    }
}

/// How many times a slot is taken again after another process changed the window meanwhile.
const WINDOW_ATTEMPTS: usize = 16;

/// The rate windows of every tenant and channel, in the store (see the [module docs](self)).
#[derive(Debug)]
pub(crate) struct StoredWindows {
    windows: Collection<RateWindow>,
}

/// What a change of a stored window answered.
enum Changed<T> {
    Done(T),
    /// Nothing to write.
    Unchanged(T),
}

impl StoredWindows {
    pub(crate) fn new(store: Arc<dyn Store>) -> StoredWindows {
        StoredWindows {
            windows: Collection::new(store),
        }
    }

    /// Take a slot at `now` for the publication under channel idempotency key `key`
    /// (`Ok(Ok(()))`), or say when the next one frees up (`Ok(Err(at))`). A publication that
    /// holds a slot already (taken by an earlier attempt whose answer was lost) keeps it and
    /// takes no other. A window not stored yet starts from `seed` (the times of the
    /// publications made before windows were stored), called only then.
    ///
    /// # Errors
    /// Storage errors; a conflict when other processes changed the window through every
    /// attempt (retryable).
    pub(crate) async fn try_take<F, Fut>(
        &self,
        tenant: &TenantId,
        channel: &str,
        key: &str,
        (limit, now): (RateLimit, DateTime<Utc>),
        seed: F,
    ) -> marketingforce_core::Result<Result<(), DateTime<Utc>>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = marketingforce_core::Result<Vec<DateTime<Utc>>>>,
    {
        self.change(tenant, channel, Some(&seed), |slots| {
            let day_ago = now - Duration::hours(24);
            slots.retain(|s| s.at > day_ago);
            if slots.iter().any(|s| s.key == key) {
                return Changed::Unchanged(Ok(()));
            }
            let mut times: VecDeque<DateTime<Utc>> = slots.iter().map(|s| s.at).collect();
            match take(&mut times, limit, now) {
                Ok(()) => {
                    slots.push_back(Slot {
                        at: now,
                        key: key.to_string(),
                    });
                    Changed::Done(Ok(()))
                }
                Err(at) => Changed::Unchanged(Err(at)),
            }
        })
        .await
    }

    /// Give back the slot of the publication under channel idempotency key `key` (it did not
    /// happen, or could not be recorded and its retry takes a slot again).
    ///
    /// # Errors
    /// Storage errors (the slot stays taken then: the window errs on the side of fewer
    /// publications, and the publication's retry keeps the slot it holds).
    pub(crate) async fn give_back(
        &self,
        tenant: &TenantId,
        channel: &str,
        key: &str,
    ) -> marketingforce_core::Result<()> {
        type Seed = fn() -> std::future::Ready<marketingforce_core::Result<Vec<DateTime<Utc>>>>;
        self.change(tenant, channel, None::<&Seed>, |slots| {
            match slots.iter().position(|s| s.key == key) {
                Some(pos) => {
                    slots.remove(pos);
                    Changed::Done(())
                }
                None => Changed::Unchanged(()),
            }
        })
        .await
    }

    /// Read the window, `f` it, and write it back conditional on the version read; again from
    /// the read when another process wrote it meanwhile. A window not stored is seeded by
    /// `seed` (left alone when there is none).
    async fn change<T, F, Fut>(
        &self,
        tenant: &TenantId,
        channel: &str,
        seed: Option<&F>,
        f: impl Fn(&mut VecDeque<Slot>) -> Changed<T>,
    ) -> marketingforce_core::Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = marketingforce_core::Result<Vec<DateTime<Utc>>>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (mut window, expect) = match self.windows.get(tenant, channel).await? {
                Some(v) => (v.value, Expect::Version(v.version)),
                None => {
                    let Some(seed) = seed else {
                        // Nothing stored, nothing to seed it from: nothing to change either.
                        let (Changed::Done(t) | Changed::Unchanged(t)) = f(&mut VecDeque::new());
                        return Ok(t);
                    };
                    let mut times: Vec<DateTime<Utc>> = seed().await?;
                    times.sort();
                    let window = RateWindow {
                        channel: channel.to_string(),
                        taken: times
                            .into_iter()
                            .map(|at| Slot {
                                at,
                                key: String::new(),
                            })
                            .collect(),
                    };
                    (window, Expect::Absent)
                }
            };
            let answer = match f(&mut window.taken) {
                Changed::Unchanged(t) => return Ok(t),
                Changed::Done(t) => t,
            };
            let mut batch = Batch::new();
            batch.put_entity(tenant, &window, expect)?;
            match self.windows.store().commit(tenant, batch).await {
                Ok(CommitOutcome::Committed(_) | CommitOutcome::Replayed(_)) => return Ok(answer),
                Err(marketingforce_core::Error::Conflict { .. }) if attempt < WINDOW_ATTEMPTS => {}
                Err(e) => return Err(e),
            }
        }
    }
}
