//! The group-commit writer of visit records: collectors push encoded records; one flush
//! commits everything pending as one batch per tenant.
//!
//! Records become visible to readers only once the store committed them (readers fold the
//! journal, never this buffer). A flush whose future is dropped, or whose commit fails, puts
//! the records it had not seen committed back at the front of the buffer for the next flush; if
//! a commit's outcome was unknown and it had in fact landed, the records are appended twice,
//! which the fold ignores (maxima and set unions per page view).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use marketingforce_core::storage::{Batch, Store};
use marketingforce_core::tenant::TenantId;

use super::records::VISIT_JOURNAL;
use crate::error::Result;

type Pending = Vec<(TenantId, Vec<u8>)>;

/// A buffer of encoded visit records with group commit.
pub struct VisitLog {
    store: Arc<dyn Store>,
    pending: Mutex<Pending>,
    flushing: tokio::sync::Mutex<()>,
    max_batch: usize,
}

impl fmt::Debug for VisitLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VisitLog")
            .field("store", &self.store.backend())
            .field("pending", &self.pending())
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

struct Restore<'a> {
    log: &'a VisitLog,
    left: Pending,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if !self.left.is_empty() {
            let mut p = self
                .log
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let later = std::mem::take(&mut *p);
            *p = std::mem::take(&mut self.left);
            p.extend(later);
        }
    }
}

impl VisitLog {
    /// A log over `store` that a collector flushes once `max_batch` records are pending.
    pub fn new(store: Arc<dyn Store>, max_batch: usize) -> VisitLog {
        VisitLog {
            store,
            pending: Mutex::new(Vec::new()),
            flushing: tokio::sync::Mutex::new(()),
            max_batch: max_batch.max(1),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Records waiting for a flush.
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Queue one encoded record; returns whether a flush is due.
    pub fn push(&self, tenant: TenantId, payload: Vec<u8>) -> bool {
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        p.push((tenant, payload));
        p.len() >= self.max_batch
    }

    /// Commit everything pending (one batch per tenant); returns the records committed.
    ///
    /// # Errors
    /// Storage errors; the uncommitted records stay queued.
    pub async fn flush(&self) -> Result<usize> {
        let _one_at_a_time = self.flushing.lock().await;
        let taken =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if taken.is_empty() {
            return Ok(0);
        }
        let mut restore = Restore {
            log: self,
            left: taken,
        };
        let mut by_tenant: BTreeMap<TenantId, Vec<Vec<u8>>> = BTreeMap::new();
        for (t, p) in &restore.left {
            by_tenant.entry(*t).or_default().push(p.clone());
        }
        let mut done = 0;
        for (tenant, payloads) in by_tenant {
            let n = payloads.len();
            let mut batch = Batch::new();
            for p in payloads {
                batch.append(VISIT_JOURNAL, p);
            }
            self.store.commit(&tenant, batch).await?;
            restore.left.retain(|(t, _)| *t != tenant);
            done += n;
        }
        Ok(done)
    }
}
