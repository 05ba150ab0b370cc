//! Lag: how far each tenant's cursor is behind its outbox, and how old the oldest undelivered
//! event is.

use std::time::Duration;

use chrono::{DateTime, Utc};
use marketingforce_core::error::Result;
use marketingforce_core::events::OUTBOX_JOURNAL;
use marketingforce_core::storage::Store;
use marketingforce_core::tenant::TenantId;

use super::cursor::Cursor;
use crate::event::OutboxEvent;

/// Who holds a tenant's lease for a sink, as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseHolder {
    /// Nobody (never taken, or expired).
    Nobody,
    /// This relay, until the given time unless renewed.
    ThisRelay {
        /// Lease expiry.
        until: DateTime<Utc>,
    },
    /// Another relay, until the given time unless renewed.
    Another {
        /// Lease expiry.
        until: DateTime<Utc>,
    },
}

/// The delivery lag of one tenant's outbox to one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLag {
    /// The tenant.
    pub tenant: TenantId,
    /// The sink.
    pub sink: String,
    /// The cursor: the last outbox entry wholly delivered or dead-lettered.
    pub position: u64,
    /// Lines of the entry after `position` delivered or dead-lettered (an entry holds the
    /// events of one commit).
    pub line: u32,
    /// The outbox's head (last sequence number), as last seen.
    pub head: u64,
    /// When the oldest undelivered event occurred, if known.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Failed tries of the next event.
    pub attempts: u32,
    /// When the next event is tried again, if it failed.
    pub retry_at: Option<DateTime<Utc>>,
    /// The last failure, if the next event failed.
    pub last_failure: Option<String>,
    /// Events dead-lettered for this sink, in all.
    pub dead_lettered: u64,
    /// Who holds the lease.
    pub lease: LeaseHolder,
}

impl TenantLag {
    /// Outbox entries not yet wholly delivered (head − cursor): each holds the events of one
    /// commit, so this counts commits with events, not events.
    pub fn pending(&self) -> u64 {
        self.head.saturating_sub(self.position)
    }

    /// How long the oldest undelivered event has waited at `now`.
    pub fn age(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.oldest_pending_at
            .and_then(|t| (now - t).to_std().ok())
            .filter(|_| self.pending() > 0)
    }

    /// The exact lag of `tenant`'s outbox to sink `sink`, read from the store — from any
    /// process, whichever relay delivers (three reads: the cursor, the outbox head, the first
    /// undelivered event).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn read(
        store: &dyn Store,
        tenant: &TenantId,
        sink: &str,
        me: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TenantLag> {
        let cursor = Cursor::load(store, tenant, sink).await?;
        let head = store.journal_head(tenant, OUTBOX_JOURNAL).await?;
        let r = &cursor.record;
        let oldest_pending_at = if head > r.position {
            store
                .read_journal(tenant, OUTBOX_JOURNAL, r.position, 1)
                .await?
                .into_iter()
                .next()
                .and_then(|entry| OutboxEvent::in_entry(tenant, entry, r.line))
                .and_then(Result::ok)
                .map(|e| e.occurred_at())
        } else {
            None
        };
        Ok(TenantLag {
            tenant: *tenant,
            sink: sink.to_string(),
            position: r.position,
            line: r.line,
            head,
            oldest_pending_at,
            attempts: r.attempts,
            retry_at: r.retry_at,
            last_failure: r.last_failure.clone(),
            dead_lettered: r.dead_lettered_total,
            lease: lease_of(r, me, now),
        })
    }
}

pub(crate) fn lease_of(
    record: &super::cursor::CursorRecord,
    me: Option<&str>,
    now: DateTime<Utc>,
) -> LeaseHolder {
    match &record.holder {
        Some(h) if record.lease_until > now => {
            if Some(h.as_str()) == me {
                LeaseHolder::ThisRelay {
                    until: record.lease_until,
                }
            } else {
                LeaseHolder::Another {
                    until: record.lease_until,
                }
            }
        }
        _ => LeaseHolder::Nobody,
    }
}

/// The lag of every tenant a relay knows, as it last saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagReport {
    /// The sink.
    pub sink: String,
    /// When the report was made.
    pub at: DateTime<Utc>,
    /// One entry per known tenant, in tenant order.
    pub tenants: Vec<TenantLag>,
}

impl LagReport {
    /// Outbox entries not yet wholly delivered across tenants ([`TenantLag::pending`]).
    pub fn pending(&self) -> u64 {
        self.tenants.iter().map(TenantLag::pending).sum()
    }

    /// The age of the oldest undelivered event across tenants.
    pub fn oldest_age(&self) -> Option<Duration> {
        self.tenants.iter().filter_map(|t| t.age(self.at)).max()
    }
}
