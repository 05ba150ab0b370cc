//! Where a sink starts in a tenant's outbox the first time a relay meets the tenant: at the
//! beginning (the default), or at the first event that occurred at or after a given time — so a
//! webhook endpoint added to a running system receives what happens from its creation on, not
//! the tenant's whole history.

use chrono::{DateTime, Utc};
use marketingforce_core::error::Result;
use marketingforce_core::events::OUTBOX_JOURNAL;
use marketingforce_core::storage::Store;
use marketingforce_core::tenant::TenantId;

use crate::event::OutboxEvent;

/// Where a new sink's cursor starts in each tenant's outbox ([`RelayBuilder::start_from`]).
///
/// It applies once per (tenant, sink): when the relay first finds no cursor for the sink in the
/// tenant's scope it computes the start and **stores** the cursor there (a conditional create,
/// so relays in several processes agree on one start). Later steps, restarts and other relays
/// continue from the stored cursor; changing the setting afterwards changes nothing for tenants
/// that already have one.
///
/// [`RelayBuilder::start_from`]: super::RelayBuilder::start_from
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartFrom {
    /// The first event of the outbox: the sink receives the tenant's whole history (default).
    #[default]
    Beginning,
    /// The first event, in outbox order, that occurred at or after this time (e.g. when a
    /// webhook endpoint was created). Found by bisection over the outbox (a few reads), which
    /// assumes events occur in commit order: true for one process, and up to the clock skew
    /// between processes for several — an event committed around the start may fall on
    /// either side.
    OccurredSince(DateTime<Utc>),
}

/// The outbox position just before the first entry of `tenant` whose first event occurred at
/// or after `since` (0: start at the beginning; the head: every event so far occurred
/// earlier). The events of one commit stay together.
///
/// An entry that does not decode counts as "not earlier", so the start never skips past it:
/// the relay's normal path reports and dead-letters it.
pub(crate) async fn position_before(
    store: &dyn Store,
    tenant: &TenantId,
    since: DateTime<Utc>,
) -> Result<u64> {
    let head = store.journal_head(tenant, OUTBOX_JOURNAL).await?;
    // The first sequence number in [lo, hi] whose event is not earlier; hi = head + 1 when
    // every event is earlier.
    let (mut lo, mut hi) = (1u64, head + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if occurred_before(store, tenant, mid, since).await? {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo - 1)
}

/// Whether the event at `seq` of `tenant`'s outbox occurred before `since`.
async fn occurred_before(
    store: &dyn Store,
    tenant: &TenantId,
    seq: u64,
    since: DateTime<Utc>,
) -> Result<bool> {
    let entry = store
        .read_journal(tenant, OUTBOX_JOURNAL, seq - 1, 1)
        .await?
        .into_iter()
        .next();
    // An entry holds the events of one commit: its first event stands for it.
    Ok(entry
        .and_then(|e| OutboxEvent::in_entry(tenant, e, 0))
        .and_then(Result::ok)
        .is_some_and(|e| e.occurred_at() < since))
}
