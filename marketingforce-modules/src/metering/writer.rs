//! Group commit of usage events: consumes are applied in memory at once and queued; a flush
//! writes everything queued in one batch per tenant (chunks of events per journal entry), and
//! every caller waiting for durability rides on the same flush.
//!
//! # Several processes
//! Every tenant's write is conditional on the head of its usage journal
//! ([`Batch::expect_head`]): the book's [`position`](super::book::UsageBook::position) plus the
//! events queued on top of it. When another process wrote since, the commit is refused as a
//! stale view and the tenant is *reconciled*: its queued events are taken back out of the book,
//! the other processes' events are applied from the journal tail, and the queued events are
//! applied again on top, each checked afresh — one that no longer fits its quota is refused
//! (its waiter gets the denial), one whose key another process recorded becomes a replay. Then
//! the write is retried. Nothing is written from a stale book, so quotas hold across processes.
//!
//! # Quota events
//! A write whose events carry a unit's usage across 80% of its limit, or to the whole limit,
//! stages `modules.quota.threshold_reached` / `modules.quota.exhausted`
//! ([`crate::events`]) in the same batch. The crossing is computed from the book as of the
//! head the write is conditional on, so a write that loses to another process is refused,
//! reconciled, and computed again: each crossing is reported once, by the write that made it.
//!
//! # Cancellation
//! A flush whose future is dropped puts the events it had taken back in the queue. If its
//! commit did reach the store, the next flush finds the journal ahead of the book, reconciles,
//! and the events come back as replays of themselves: each is stored exactly once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use marketingforce_core::events::{EventContext, EventEnvelope, Outbox};
use marketingforce_core::storage::{Batch, CommitOutcome, Journal, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::Error;
use serde::{Deserialize, Serialize};

use chrono::{DateTime, NaiveDate, Utc};
use marketingforce_core::money::Quantity;

use super::book::{Draws, UsageBook, UsageEvent, UsageKind};
use super::UsageMeter;
use crate::catalog::UsageUnit;
use crate::entitlements::handle::TenantState;
use crate::error::{ModulesError, Result};
use crate::events::{QuotaExhausted, QuotaThresholdReached, QUOTA_THRESHOLD_PERCENT};

/// The journal usage events are written to.
pub const USAGE_JOURNAL: &str = "modules.usage";

/// How many times a tenant's write is reconciled with other processes' events and retried
/// before the flush gives up (the events stay queued; the outcome is reported as unknown).
pub(crate) const RECONCILE_ATTEMPTS: usize = 32;

/// Fates kept for waiters at most; the oldest are forgotten first (a waiter that was dropped
/// never collects its fate).
const MAX_FATES: usize = 65_536;

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

/// What became of a queued event that a reconciliation did not write as queued.
#[derive(Debug)]
pub(crate) enum Fate {
    /// Another process had recorded the same key with the same figures: nothing was written
    /// for this one; the first recording stands.
    Replayed,
    /// Refused on the current data (quota used up by other processes, or the key recorded
    /// elsewhere with other figures): nothing was written.
    Refused(ModulesError),
    /// Applied again on top of other processes' events (and written): what was left of its
    /// unit right after it, in the new order.
    Reapplied(Quantity),
}

/// Events of one tenant with consecutive tickets from `first`: the queue stores runs, so an
/// event costs no ticket or tenant of its own and the queue never moves its events to grow.
#[derive(Debug)]
struct Run {
    state: Arc<TenantState>,
    first: u64,
    events: Vec<QueuedEvent>,
    /// Tickets of events a reconciliation dropped (they are not written).
    dropped: Vec<u64>,
}

impl Run {
    fn tenant(&self) -> TenantId {
        self.state.tenant
    }

    /// The events still to be written, with their tickets.
    fn live(&self) -> impl Iterator<Item = (u64, &QueuedEvent)> + '_ {
        self.events
            .iter()
            .enumerate()
            .map(|(i, e)| (self.first + i as u64, e))
            .filter(|(t, _)| !self.dropped.contains(t))
    }
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

impl Pending {
    /// Put runs back (in ticket order with the rest).
    fn restore(&mut self, runs: impl IntoIterator<Item = Run>) {
        let before = self.queue.len();
        for run in runs {
            self.len += run.events.len();
            self.queue.push(run);
        }
        if self.queue.len() != before {
            self.queue.sort_by_key(|r| r.first);
        }
    }

    /// Take every queued run of `tenant` out.
    fn take_tenant(&mut self, tenant: TenantId) -> Vec<Run> {
        let (mine, rest): (Vec<Run>, Vec<Run>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|r| r.tenant() == tenant);
        self.queue = rest;
        self.len -= mine.iter().map(|r| r.events.len()).sum::<usize>();
        mine
    }
}

/// The shared group-commit writer.
#[derive(Debug)]
pub(crate) struct UsageWriter {
    store: Arc<dyn Store>,
    journal: Journal<UsageChunk>,
    pending: Mutex<Pending>,
    /// Every ticket at or below this is durable (or has a [`Fate`]).
    durable: AtomicU64,
    /// By ticket; the oldest are forgotten first when full.
    fates: Mutex<std::collections::BTreeMap<u64, Fate>>,
    flush_lock: tokio::sync::Mutex<()>,
    chunk_events: usize,
}

/// Runs taken out of the queue by a flush; whatever is still in it when it is dropped (not
/// written, failed, or the flush's future dropped mid-write) goes back to the queue.
struct Taken<'a> {
    writer: &'a UsageWriter,
    groups: Vec<Vec<Run>>,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let runs: Vec<Run> = self.groups.drain(..).flatten().collect();
        if !runs.is_empty() {
            self.writer.lock_pending().restore(runs);
        }
    }
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
            fates: Mutex::new(std::collections::BTreeMap::new()),
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

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue an event of the tenant `state` (whose book it was applied to); returns its ticket.
    pub fn enqueue(&self, state: &Arc<TenantState>, event: QueuedEvent) -> u64 {
        let mut p = self.lock_pending();
        let t = p.next_ticket;
        p.next_ticket += 1;
        p.len += 1;
        match p.queue.last_mut() {
            Some(run)
                if Arc::ptr_eq(&run.state, state)
                    && run.events.len() < RUN_EVENTS
                    && run.first + run.events.len() as u64 == t =>
            {
                run.events.push(event);
            }
            _ => {
                let mut events = Vec::with_capacity(4);
                events.push(event);
                p.queue.push(Run {
                    state: state.clone(),
                    first: t,
                    events,
                    dropped: Vec::new(),
                });
            }
        }
        t
    }

    /// Number of events queued and not yet durable.
    pub fn pending(&self) -> usize {
        self.lock_pending().len
    }

    /// What became of `ticket`, if a reconciliation did not write it as queued (taken: asked
    /// once).
    pub fn take_fate(&self, ticket: u64) -> Option<Fate> {
        self.fates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&ticket)
    }

    fn set_fate(&self, ticket: u64, fate: Fate) {
        let mut fates = self.fates.lock().unwrap_or_else(PoisonError::into_inner);
        if fates.len() >= MAX_FATES {
            fates.pop_first();
        }
        fates.insert(ticket, fate);
    }

    /// Whether the event `ticket` is still queued (failed runs go back to the queue; a
    /// written run, or one a reconciliation settled, does not).
    fn is_queued(&self, ticket: u64) -> bool {
        self.lock_pending()
            .queue
            .iter()
            .any(|r| r.first <= ticket && ticket - r.first < r.events.len() as u64)
    }

    /// Whether any event of `tenant` is still queued.
    pub fn has_queued(&self, tenant: TenantId) -> bool {
        self.lock_pending()
            .queue
            .iter()
            .any(|r| r.tenant() == tenant)
    }

    /// Wait until `ticket` is durable, flushing (as the group leader) if nobody else is. A
    /// flush that failed for other events (another tenant's write) is no failure of `ticket`
    /// when its event was written.
    pub async fn wait_durable(&self, ticket: u64) -> Result<()> {
        if self.durable.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        let _guard = self.flush_lock.lock().await;
        if self.durable.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        match self.flush_locked().await {
            Err(e) if self.is_queued(ticket) => Err(e),
            _ => Ok(()),
        }
    }

    /// Write everything queued.
    pub async fn flush(&self) -> Result<()> {
        let _guard = self.flush_lock.lock().await;
        self.flush_locked().await
    }

    /// Bring the book of `state` up to the journal's head when another process wrote since
    /// (queued events are re-checked on top, as in a reconciliation). Returns whether it moved.
    pub async fn catch_up(&self, state: &Arc<TenantState>) -> Result<bool> {
        let _guard = self.flush_lock.lock().await;
        let head = self
            .store
            .journal_head(&state.tenant, USAGE_JOURNAL)
            .await?;
        if head <= lock_book(state).position {
            return Ok(false);
        }
        let mut runs = Vec::new();
        let result = self.reconcile(state, &mut runs).await;
        self.lock_pending().restore(runs);
        result.map(|()| true)
    }

    async fn flush_locked(&self) -> Result<()> {
        let (queue, last) = {
            let mut p = self.lock_pending();
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
            let tenant = run.tenant();
            by_tenant
                .entry(tenant)
                .or_insert_with(|| {
                    order.push(tenant);
                    Vec::new()
                })
                .push(run);
        }
        let mut taken = Taken {
            writer: self,
            groups: order.iter().filter_map(|t| by_tenant.remove(t)).collect(),
        };
        let mut first_error = None;
        for i in 0..taken.groups.len() {
            let Some(state) = taken.groups[i].first().map(|r| r.state.clone()) else {
                continue;
            };
            match self.write_tenant(&state, &mut taken.groups[i]).await {
                Ok(()) => taken.groups[i].clear(),
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                }
            }
        }
        let min_failed = taken.groups.iter().flatten().map(|r| r.first).min();
        // Failed runs go back to the queue, in ticket order, for the next flush.
        drop(taken);
        let Some(min_failed) = min_failed else {
            self.durable.fetch_max(last, Ordering::AcqRel);
            return Ok(());
        };
        self.durable
            .fetch_max(min_failed.saturating_sub(1), Ordering::AcqRel);
        Err(first_error
            .unwrap_or_else(|| Error::backend_message("usage writer", true, "flush failed").into()))
    }

    /// Write the runs of one tenant, conditional on its journal head; reconcile and retry when
    /// another process wrote since.
    async fn write_tenant(&self, state: &Arc<TenantState>, runs: &mut Vec<Run>) -> Result<()> {
        #[derive(Serialize)]
        struct ChunkRef<'a> {
            events: &'a [&'a QueuedEvent],
        }
        for attempt in 0..RECONCILE_ATTEMPTS {
            let position = lock_book(state).position;
            let total: usize = runs.iter().map(|r| r.events.len()).sum();
            let mut batch = Batch::new();
            batch.expect_head(USAGE_JOURNAL, position);
            let crossings = self.crossings(state, runs);
            if !crossings.is_empty() {
                state.shared.outbox.register(&state.tenant).await?;
            }
            let mut chunk: Vec<&QueuedEvent> = Vec::with_capacity(total.min(self.chunk_events));
            let mut any = false;
            for (_, e) in runs.iter().flat_map(Run::live) {
                any = true;
                chunk.push(e);
                if chunk.len() >= self.chunk_events {
                    batch.append_json(USAGE_JOURNAL, &ChunkRef { events: &chunk })?;
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                batch.append_json(USAGE_JOURNAL, &ChunkRef { events: &chunk })?;
            }
            if !any {
                return Ok(());
            }
            drop(chunk);
            // The quota events after the usage chunks (so the chunks' last sequence number is
            // known by position: the book's new position).
            let chunks = batch.appends().len();
            for c in &crossings {
                let envelope = c.envelope(&state.shared.outbox, &state.tenant)?;
                batch.append_event(&state.tenant, &envelope)?;
            }
            match self.store.commit(&state.tenant, batch).await {
                Ok(CommitOutcome::Committed(receipt)) => {
                    let mut book = lock_book(state);
                    if let Some(&last) =
                        chunks.checked_sub(1).and_then(|i| receipt.sequences.get(i))
                    {
                        book.position = book.position.max(last);
                    }
                    return Ok(());
                }
                Ok(CommitOutcome::Replayed(_)) => return Ok(()),
                Err(Error::StaleView { .. }) => {
                    marketingforce_core::telemetry::stale_retry(
                        "modules.usage",
                        attempt as u64 + 1,
                    );
                    self.reconcile(state, runs).await?;
                    // Let the writers this one lost to finish before it tries again (more turns
                    // the more often it lost), so that contention does not starve one of them.
                    for _ in 0..=attempt {
                        tokio::task::yield_now().await;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::outcome_unknown(
            "usage flush",
            format!(
                "other processes kept the tenant's usage journal moving through \
                 {RECONCILE_ATTEMPTS} attempts; the events stay queued for the next flush"
            ),
        )
        .into())
    }

    /// The quota thresholds the live events of `runs` cross, in order, computed on the book:
    /// the book holds the stored events up to its position, then `runs`, then the tenant's
    /// events queued since (taken back out here), all under the book's lock.
    fn crossings(&self, state: &Arc<TenantState>, runs: &[Run]) -> Vec<Crossing> {
        let book = lock_book(state);
        let written: Vec<&QueuedEvent> = runs.iter().flat_map(Run::live).map(|(_, e)| e).collect();
        let mut groups: Vec<(&UsageUnit, NaiveDate)> = written
            .iter()
            .filter(|e| e.kind == UsageKind::Consume)
            .map(|e| (&e.unit, e.date))
            .collect();
        groups.sort();
        groups.dedup();
        if groups.is_empty() {
            return Vec::new();
        }
        let pending = self.lock_pending();
        let later: Vec<&QueuedEvent> = pending
            .queue
            .iter()
            .filter(|r| r.tenant() == state.tenant)
            .flat_map(Run::live)
            .map(|(_, e)| e)
            .collect();
        let mut out = Vec::new();
        for (unit, date) in groups {
            let (used_now, limit) = book.used_and_limit(unit, date);
            let threshold_units = crate::events::threshold_units(limit);
            // Without credits usage only grows: below the threshold now, it never crossed it.
            let grows_only = !written
                .iter()
                .chain(&later)
                .any(|e| e.unit == *unit && e.kind == UsageKind::Credit);
            if limit == 0 || (grows_only && used_now < threshold_units) {
                continue;
            }
            // Signed units an event moved on this unit's buckets of `date`.
            let moved = |e: &QueuedEvent| -> i128 {
                if e.unit != *unit {
                    return 0;
                }
                let n = i128::from(book.counted_on(unit, date, e.draws.as_slice()));
                if e.kind == UsageKind::Consume {
                    n
                } else {
                    -n
                }
            };
            let after_batch = i128::from(used_now) - later.iter().map(|e| moved(e)).sum::<i128>();
            let mut used = after_batch - written.iter().map(|e| moved(e)).sum::<i128>();
            let (threshold, full) = (i128::from(threshold_units), i128::from(limit));
            for e in &written {
                let before = used;
                used += moved(e);
                if e.unit != *unit || e.date != date || e.kind != UsageKind::Consume {
                    continue;
                }
                for (level, exhausted) in [(threshold, false), (full, true)] {
                    if before < level && level <= used {
                        out.push(Crossing {
                            unit: unit.clone(),
                            date,
                            used: u64::try_from(used.max(0)).unwrap_or(u64::MAX),
                            limit,
                            key: e.key.to_string(),
                            exhausted,
                        });
                    }
                }
            }
        }
        out
    }

    /// Take the tenant's queued events (in `runs`, and any queued since) back out of its book,
    /// apply what other processes wrote after the book's position, and apply the queued events
    /// again on top, each checked afresh. Events that no longer apply are dropped from `runs`
    /// with their [`Fate`].
    async fn reconcile(&self, state: &Arc<TenantState>, runs: &mut Vec<Run>) -> Result<()> {
        let from = lock_book(state).position;
        let mut foreign = Vec::new();
        let mut after = from;
        loop {
            let page = self.journal.read(&state.tenant, after, 500).await?;
            let Some(&(last, _)) = page.last() else { break };
            after = last;
            foreign.extend(page.into_iter().flat_map(|(_, c)| c.events));
        }
        let meter = UsageMeter {
            state: state.clone(),
        };
        let mut book = lock_book(state);
        if book.position != from {
            // Another caller moved the book meanwhile (not under the flush lock): start over.
            return Ok(());
        }
        runs.extend(self.lock_pending().take_tenant(state.tenant));
        runs.sort_by_key(|r| r.first);
        for run in runs.iter().rev() {
            for (_, e) in run.live().collect::<Vec<_>>().into_iter().rev() {
                book.unrecord(&e.key, &e.unit, e.kind, e.draws.as_slice());
            }
        }
        for e in &foreign {
            book.apply(e);
        }
        book.position = after;
        for run in runs.iter_mut() {
            for i in 0..run.events.len() {
                let ticket = run.first + i as u64;
                if run.dropped.contains(&ticket) {
                    continue;
                }
                match reapply(&meter, &mut book, &mut run.events[i]) {
                    Some(fate) => {
                        run.dropped.push(ticket);
                        self.set_fate(ticket, fate);
                    }
                    None => {
                        let e = &run.events[i];
                        let left = book.remaining(&e.unit, e.date);
                        self.set_fate(ticket, Fate::Reapplied(left));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A quota threshold crossed by a usage event about to be written.
#[derive(Debug)]
struct Crossing {
    unit: UsageUnit,
    date: NaiveDate,
    used: u64,
    limit: u64,
    key: String,
    exhausted: bool,
}

impl Crossing {
    fn envelope(&self, outbox: &Outbox, tenant: &TenantId) -> Result<EventEnvelope> {
        let ctx = EventContext::new();
        Ok(if self.exhausted {
            outbox.event(
                tenant,
                &QuotaExhausted {
                    unit: self.unit.clone(),
                    date: self.date,
                    used: self.used,
                    limit: self.limit,
                    usage_key: self.key.clone(),
                },
                &ctx,
            )?
        } else {
            outbox.event(
                tenant,
                &QuotaThresholdReached {
                    unit: self.unit.clone(),
                    date: self.date,
                    percent: QUOTA_THRESHOLD_PERCENT,
                    used: self.used,
                    limit: self.limit,
                    usage_key: self.key.clone(),
                },
                &ctx,
            )?
        })
    }
}

fn lock_book(state: &TenantState) -> std::sync::MutexGuard<'_, UsageBook> {
    state.usage.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Apply a queued event again on top of other processes' events; `Some` when it no longer
/// applies (and nothing changed).
fn reapply(meter: &UsageMeter, book: &mut UsageBook, e: &mut QueuedEvent) -> Option<Fate> {
    if let Some(seen) = book.seen(&e.key) {
        let same = *seen.unit == e.unit && seen.quantity == e.quantity && seen.kind == e.kind;
        return Some(if same {
            Fate::Replayed
        } else {
            Fate::Refused(ModulesError::UsageEventMismatch {
                key: e.key.to_string(),
                first_unit: seen.unit.clone(),
                first_quantity: seen.quantity,
                unit: e.unit.clone(),
                quantity: e.quantity,
            })
        });
    }
    match e.kind {
        UsageKind::Consume => match book.draw(&e.unit, e.quantity.get(), e.date, false) {
            Ok(drawn) => {
                book.mark_seen(e.key.clone(), drawn.unit, e.kind, e.quantity, e.date);
                e.draws = drawn.draws;
                None
            }
            Err(denial) => Some(Fate::Refused(meter.denied(&e.unit, e.quantity, denial))),
        },
        UsageKind::Credit => match book.plan_credit(&e.unit, e.quantity.get(), e.date) {
            Ok(draws) => {
                book.record(
                    &e.key,
                    &e.unit,
                    e.quantity,
                    e.kind,
                    e.date,
                    draws.as_slice(),
                );
                e.draws = draws;
                None
            }
            Err(err) => Some(Fate::Refused(err)),
        },
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
            let state = |t: TenantId| {
                let clock =
                    marketingforce_core::time::ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00")
                        .unwrap_or_else(|e| panic!("{e}"));
                let clock: Arc<dyn marketingforce_core::time::Clock> = Arc::new(clock);
                crate::entitlements::Entitlements::from_grants(t, Vec::new(), clock)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .state
            };
            let (a, b) = (TenantId::new(), TenantId::new());
            let (sa, sb) = (state(a), state(b));
            let plan = [a, a, b, a, b, b, b, a, a];
            let mut tickets = Vec::new();
            for (i, t) in plan.iter().enumerate() {
                let mut e = queued(1);
                e.key = Arc::from(format!("e{i}"));
                tickets.push(w.enqueue(if *t == a { &sa } else { &sb }, e));
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
