//! Group commit of usage events: consumes are applied in memory at once and queued; a flush
//! writes everything queued in one batch per tenant (chunks of events per journal entry), and
//! every caller waiting for durability rides on the same flush.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use marketingforce_core::storage::{Batch, Journal, Store};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};

use super::book::UsageEvent;
use crate::error::Result;

/// The journal usage events are written to.
pub const USAGE_JOURNAL: &str = "modules.usage";

/// One journal entry: a chunk of events of one tenant written by one flush.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageChunk {
    /// The events, in the order they were applied.
    pub events: Vec<UsageEvent>,
}

#[derive(Debug, Default)]
struct Pending {
    next_ticket: u64,
    queue: Vec<(u64, TenantId, UsageEvent)>,
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
    pub fn enqueue(&self, tenant: TenantId, event: UsageEvent) -> u64 {
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let t = p.next_ticket;
        p.next_ticket += 1;
        p.queue.push((t, tenant, event));
        t
    }

    /// Number of events queued and not yet durable.
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .queue
            .len()
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
            (std::mem::take(&mut p.queue), p.next_ticket - 1)
        };
        if queue.is_empty() {
            self.durable.fetch_max(last, Ordering::AcqRel);
            return Ok(());
        }
        let mut order: Vec<TenantId> = Vec::new();
        let mut by_tenant: HashMap<TenantId, Vec<(u64, UsageEvent)>> = HashMap::new();
        for (t, tenant, e) in queue {
            by_tenant
                .entry(tenant)
                .or_insert_with(|| {
                    order.push(tenant);
                    Vec::new()
                })
                .push((t, e));
        }
        let mut first_error = None;
        let mut failed: Vec<(u64, TenantId, UsageEvent)> = Vec::new();
        for tenant in order {
            let Some(events) = by_tenant.remove(&tenant) else {
                continue;
            };
            match self.write_tenant(&tenant, &events).await {
                Ok(()) => {}
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                    failed.extend(events.into_iter().map(|(t, e)| (t, tenant, e)));
                }
            }
        }
        if failed.is_empty() {
            self.durable.fetch_max(last, Ordering::AcqRel);
            return Ok(());
        }
        let min_failed = failed.iter().map(|(t, _, _)| *t).min().unwrap_or(1);
        self.durable
            .fetch_max(min_failed.saturating_sub(1), Ordering::AcqRel);
        // Put the failed events back in front, in ticket order, for the next flush. Replaying
        // them is safe: a rebuild counts every event key once.
        failed.sort_by_key(|(t, _, _)| *t);
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        failed.append(&mut p.queue);
        p.queue = failed;
        Err(first_error.unwrap_or_else(|| {
            marketingforce_core::Error::backend_message("usage writer", true, "flush failed").into()
        }))
    }

    async fn write_tenant(&self, tenant: &TenantId, events: &[(u64, UsageEvent)]) -> Result<()> {
        #[derive(Serialize)]
        struct ChunkRef<'a> {
            events: Vec<&'a UsageEvent>,
        }
        let mut batch = Batch::new();
        for chunk in events.chunks(self.chunk_events) {
            let entry = ChunkRef {
                events: chunk.iter().map(|(_, e)| e).collect(),
            };
            batch.append_json(USAGE_JOURNAL, &entry)?;
        }
        self.store.commit(tenant, batch).await?;
        Ok(())
    }
}
