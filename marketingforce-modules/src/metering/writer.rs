//! Group commit of usage events: consumes are applied in memory at once and queued; a flush
//! writes everything queued in one batch per tenant (chunks of events per journal entry), and
//! every caller waiting for durability rides on the same flush.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use marketingforce_core::storage::{Batch, Journal, Store};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};

use chrono::{DateTime, NaiveDate, Utc};
use marketingforce_core::money::Quantity;

use super::book::{Draws, UsageEvent, UsageKind};
use crate::catalog::UsageUnit;
use crate::error::Result;

/// The journal usage events are written to.
pub const USAGE_JOURNAL: &str = "modules.usage";

/// One journal entry: a chunk of events of one tenant written by one flush.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageChunk {
    /// The events, in the order they were applied.
    pub events: Vec<UsageEvent>,
}

/// A usage event waiting to be written: a [`UsageEvent`] with its draws kept inline (no
/// allocation for the usual single draw). Serializes exactly as the [`UsageEvent`] it stands
/// for, so the journal reads back as [`UsageChunk`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct QueuedEvent {
    pub key: Arc<str>,
    pub unit: UsageUnit,
    pub quantity: Quantity,
    pub kind: UsageKind,
    pub date: NaiveDate,
    pub at: DateTime<Utc>,
    pub draws: Draws,
}

impl From<QueuedEvent> for UsageEvent {
    fn from(e: QueuedEvent) -> UsageEvent {
        UsageEvent {
            key: e.key,
            unit: e.unit,
            quantity: e.quantity,
            kind: e.kind,
            date: e.date,
            at: e.at,
            draws: e.draws.into_vec(),
        }
    }
}

/// Events of one tenant with consecutive tickets from `first`: the queue stores runs, so an
/// event costs no ticket or tenant of its own and the queue never moves its events to grow.
#[derive(Debug)]
struct Run {
    tenant: TenantId,
    first: u64,
    events: Vec<QueuedEvent>,
}

/// Events per run at most (a run's buffer stays small enough to grow in cache).
const RUN_EVENTS: usize = 1024;

#[derive(Debug, Default)]
struct Pending {
    next_ticket: u64,
    queue: Vec<Run>,
    /// Events in `queue`.
    len: usize,
}

/// The shared group-commit writer.
#[derive(Debug)]
pub(crate) struct UsageWriter {
    store: Arc<dyn Store>,
    journal: Journal<UsageChunk>,
    pending: Mutex<Pending>,
    /// Every ticket at or below this is durable.
    durable: AtomicU64,
    flush_lock: tokio::sync::Mutex<()>,
    chunk_events: usize,
}

impl UsageWriter {
    pub fn new(store: Arc<dyn Store>) -> UsageWriter {
        UsageWriter {
            journal: Journal::new(store.clone(), USAGE_JOURNAL),
            store,
            pending: Mutex::new(Pending {
                next_ticket: 1,
                queue: Vec::new(),
                len: 0,
            }),
            durable: AtomicU64::new(0),
            flush_lock: tokio::sync::Mutex::new(()),
            chunk_events: 2000,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn journal(&self) -> &Journal<UsageChunk> {
        &self.journal
    }

    /// Queue an event; returns its ticket.
    pub fn enqueue(&self, tenant: TenantId, event: QueuedEvent) -> u64 {
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let t = p.next_ticket;
        p.next_ticket += 1;
        p.len += 1;
        match p.queue.last_mut() {
            Some(run)
                if run.tenant == tenant
                    && run.events.len() < RUN_EVENTS
                    && run.first + run.events.len() as u64 == t =>
            {
                run.events.push(event);
            }
            _ => {
                let mut events = Vec::with_capacity(4);
                events.push(event);
                p.queue.push(Run {
                    tenant,
                    first: t,
                    events,
                });
            }
        }
        t
    }

    /// Number of events queued and not yet durable.
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len
    }

    /// Wait until `ticket` is durable, flushing (as the group leader) if nobody else is.
    pub async fn wait_durable(&self, ticket: u64) -> Result<()> {
        if self.durable.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        let _guard = self.flush_lock.lock().await;
        if self.durable.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        self.flush_locked().await
    }

    /// Write everything queued.
    pub async fn flush(&self) -> Result<()> {
        let _guard = self.flush_lock.lock().await;
        self.flush_locked().await
    }

    async fn flush_locked(&self) -> Result<()> {
        let (queue, last) = {
            let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            p.len = 0;
            (std::mem::take(&mut p.queue), p.next_ticket - 1)
        };
        if queue.is_empty() {
            self.durable.fetch_max(last, Ordering::AcqRel);
            return Ok(());
        }
        let mut order: Vec<TenantId> = Vec::new();
        let mut by_tenant: HashMap<TenantId, Vec<Run>> = HashMap::new();
        for run in queue {
            let tenant = run.tenant;
            by_tenant
                .entry(tenant)
                .or_insert_with(|| {
                    order.push(tenant);
                    Vec::new()
                })
                .push(run);
        }
        let mut first_error = None;
        let mut failed: Vec<Run> = Vec::new();
        for tenant in order {
            let Some(runs) = by_tenant.remove(&tenant) else {
                continue;
            };
            match self.write_tenant(&tenant, &runs).await {
                Ok(()) => {}
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                    failed.extend(runs);
                }
            }
        }
        if failed.is_empty() {
            self.durable.fetch_max(last, Ordering::AcqRel);
            return Ok(());
        }
        let min_failed = failed.iter().map(|r| r.first).min().unwrap_or(1);
        self.durable
            .fetch_max(min_failed.saturating_sub(1), Ordering::AcqRel);
        // Put the failed events back in front, in ticket order, for the next flush. Replaying
        // them is safe: a rebuild counts every event key once.
        failed.sort_by_key(|r| r.first);
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        p.len += failed.iter().map(|r| r.events.len()).sum::<usize>();
        failed.append(&mut p.queue);
        p.queue = failed;
        Err(first_error.unwrap_or_else(|| {
            marketingforce_core::Error::backend_message("usage writer", true, "flush failed").into()
        }))
    }

    async fn write_tenant(&self, tenant: &TenantId, runs: &[Run]) -> Result<()> {
        #[derive(Serialize)]
        struct ChunkRef<'a> {
            events: &'a [&'a QueuedEvent],
        }
        let total: usize = runs.iter().map(|r| r.events.len()).sum();
        let mut batch = Batch::new();
        let mut chunk: Vec<&QueuedEvent> = Vec::with_capacity(total.min(self.chunk_events));
        for e in runs.iter().flat_map(|r| r.events.iter()) {
            chunk.push(e);
            if chunk.len() >= self.chunk_events {
                batch.append_json(USAGE_JOURNAL, &ChunkRef { events: &chunk })?;
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            batch.append_json(USAGE_JOURNAL, &ChunkRef { events: &chunk })?;
        }
        self.store.commit(tenant, batch).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entitlements::{GrantId, QuotaSource};
    use crate::metering::book::Draw;

    fn queued(draws: usize) -> QueuedEvent {
        let mut d = Draws::default();
        for i in 0..draws {
            d.push(Draw {
                grant: GrantId::new(),
                source: if i == 0 {
                    QuotaSource::Included
                } else {
                    QuotaSource::Purchased
                },
                window: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default(),
                quantity: 3 + i as u64,
            });
        }
        QueuedEvent {
            key: Arc::from("evt-1"),
            unit: UsageUnit::parse("acme.calls").unwrap_or(UsageUnit::Publications),
            quantity: Quantity::new(7),
            kind: UsageKind::Consume,
            date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default(),
            at: DateTime::<Utc>::from_timestamp(1_772_413_200, 0).unwrap_or_default(),
            draws: d,
        }
    }

    #[test]
    fn interleaved_tenants_are_written_in_order_per_tenant() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async {
            let store: Arc<dyn Store> = Arc::new(marketingforce_core::storage::MemoryStore::new());
            let mut w = UsageWriter::new(store);
            w.chunk_events = 3;
            let (a, b) = (TenantId::new(), TenantId::new());
            let plan = [a, a, b, a, b, b, b, a, a];
            let mut tickets = Vec::new();
            for (i, t) in plan.iter().enumerate() {
                let mut e = queued(1);
                e.key = Arc::from(format!("e{i}"));
                tickets.push(w.enqueue(*t, e));
            }
            assert_eq!(tickets, (1..=9).collect::<Vec<u64>>());
            assert_eq!(w.pending(), 9);
            w.wait_durable(4).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(w.pending(), 0);
            for t in [a, b] {
                let chunks = w.journal().read_all(&t).await.unwrap_or_default();
                assert!(chunks.iter().all(|(_, c)| c.events.len() <= 3));
                let keys: Vec<String> = chunks
                    .iter()
                    .flat_map(|(_, c)| c.events.iter().map(|e| e.key.to_string()))
                    .collect();
                let want: Vec<String> = plan
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| **x == t)
                    .map(|(i, _)| format!("e{i}"))
                    .collect();
                assert_eq!(keys, want);
            }
            // Everything is durable: waiting for any ticket returns at once.
            assert_eq!(w.durable.load(Ordering::Acquire), 9);
        });
    }

    #[test]
    fn a_queued_event_serializes_as_the_usage_event_it_stands_for() {
        for n in 0..4 {
            let q = queued(n);
            assert_eq!(q.draws.as_slice().len(), n);
            let e = UsageEvent::from(q.clone());
            assert_eq!(e.draws.len(), n);
            let (a, b) = (serde_json::to_value(&q), serde_json::to_value(&e));
            assert_eq!(a.ok(), b.ok(), "{n} draws");
            let back: UsageEvent =
                serde_json::from_str(&serde_json::to_string(&q).unwrap_or_default())
                    .unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(back, e);
        }
    }
}
