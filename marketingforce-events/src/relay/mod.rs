//! The relay: reads each tenant's outbox from a durable cursor and hands the events to an
//! [`EventSink`], in order, at least once — with any number of relays over one store.
//!
//! ## How it works
//!
//! For each (tenant, sink) the store holds one **cursor record** in the tenant's scope: where
//! delivery stands (the last outbox entry wholly delivered, and the lines of the next one
//! already delivered), and a **lease** — which relay delivers this tenant's
//! events, until when, under which epoch. One step ([`Relay::pump`]) for a tenant:
//!
//! 1. reads up to [`page_size`](RelayBuilder::page_size) events after the cursor (nothing
//!    pending: done, no write). An outbox entry holds the events of one commit (see
//!    [`OUTBOX_JOURNAL`]); the cursor is an entry's sequence number and a line in the next
//!    entry, so a page may end inside an entry, and the relay sizes its reads by the events
//!    per entry it last saw;
//! 2. takes or renews the lease if it does not hold it with a third of its time left — a
//!    conditional write of the cursor record at the version it read. A lease another relay
//!    holds and that has not expired is left alone; an expired one is taken over (epoch + 1);
//! 3. hands the page to the sink and waits for its answer (the sink's pace is the relay's);
//! 4. moves the cursor past what the sink accepted, renewing the lease, **in a write fenced
//!    on the cursor record's version**. A relay whose lease was taken over meanwhile finds the
//!    version changed: its write fails ([`EventsError::LeaseLost`]), the cursor stays where
//!    the new holder puts it, and it stops delivering that tenant.
//!
//! So at most one relay moves a tenant's cursor, a crash or a `SIGKILL` loses nothing (the
//! events after the cursor are delivered again once the lease expires), and memory is bounded
//! by one page per tenant in flight ([`concurrency`](RelayBuilder::concurrency) tenants at
//! once).
//!
//! **Order per tenant.** Each relay delivers a tenant's events in outbox order, and a relay
//! that takes over starts from the cursor the previous holder last committed. While a paused
//! holder and its successor overlap, each sends the same contiguous run of events in order, so
//! the *first* arrival of each event id is still in outbox order: a receiver that drops
//! redeliveries by id (the JetStream duplicate window, an [`Inbox`](crate::Inbox)) sees every
//! tenant's events exactly once and in order. Every delivery also carries the event's place in
//! the outbox: its entry's sequence number and its line in the entry.
//!
//! **Failures.** A failed delivery is retried from the first event the sink did not accept,
//! after the sink's [`RetryPolicy`] backoff (kept in the cursor record, so every relay honours
//! it). With a limited policy (webhooks) the event is **dead-lettered** after the last try —
//! a [`DeadLetter`] record is written in the same fenced write that moves the cursor past it —
//! and can be redelivered later; with an unlimited one (brokers) the relay keeps trying and
//! reports the [lag](Relay::lag). Business writes never wait for any of this.
//!
//! **Finding tenants.** The store has no cross-tenant listing. Tenants that emit events are
//! registered once in a reserved scope by [`marketingforce_core::events::Outbox`]
//! (one write per tenant, ever; one read per tenant per process start), and
//! [`run`](Relay::run) follows that registry's journal from a position. An embedder can also
//! hand tenants to a relay directly ([`watch`](Relay::watch)) and turn discovery off.
//!
//! **Where a new sink starts.** By default at the tenant's first event, so a new sink receives
//! the whole history; [`start_from`](RelayBuilder::start_from) with
//! [`StartFrom::OccurredSince`] starts it where it was created instead (the usual choice for a
//! webhook endpoint added to a running system).
//!
//! **Cost.** An idle tenant costs one journal read per poll ([`poll_interval`], doubling while
//! it stays idle, up to [`max_poll_interval`]); a busy one costs one read, one sink call and
//! one cursor write per page. Leases are measured on the [`Env`]'s clock: processes on several
//! hosts need clocks in step to well within the lease TTL.
//!
//! [`poll_interval`]: RelayBuilder::poll_interval
//! [`max_poll_interval`]: RelayBuilder::max_poll_interval
//!
//! ```
//! use std::sync::Arc;
//! use marketingforce_core::env::Env;
//! use marketingforce_core::events::{DomainEvent, EventContext, Outbox};
//! use marketingforce_core::storage::{Batch, MemoryStore, Store};
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_events::{MemorySink, NextStep, Relay};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! /// A lead was assigned to a sales rep.
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct LeadAssigned { lead: String, owner: String }
//! impl DomainEvent for LeadAssigned {
//!     const NAME: &'static str = "crm.lead.assigned";
//!     const VERSION: u32 = 1;
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let env = Env::new(store.clone());
//! let outbox = Outbox::new(&env);
//! let tenant = TenantId::new();
//! for i in 0..3 {
//!     let mut batch = Batch::new();
//!     let event = LeadAssigned { lead: format!("lead_{i}"), owner: "staff_7".into() };
//!     outbox.append(&tenant, &mut batch, &event, &EventContext::new()).await?;
//!     store.commit(&tenant, batch).await?;
//! }
//!
//! let sink = MemorySink::new("memory");
//! let relay = Relay::builder(&env, Arc::new(sink.clone())).build()?;
//! let step = relay.pump(&tenant).await?;
//! assert_eq!((step.delivered, step.position), (3, 3));
//! assert_eq!(relay.pump(&tenant).await?.next, NextStep::CaughtUp);
//! let seqs: Vec<u64> = sink.delivered().iter().map(|e| e.seq()).collect();
//! assert_eq!(seqs, [1, 2, 3]);
//! assert_eq!(relay.lag().pending(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

mod cursor;
mod dead_letter;
mod lag;
mod page;
mod start;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::ops::RangeInclusive;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use marketingforce_core::env::Env;
use marketingforce_core::error::Error;
use marketingforce_core::events::{Outbox, OUTBOX_JOURNAL};
use marketingforce_core::storage::{
    check_name, Batch, CommitOutcome, Expect, Page, PageRequest, Store,
};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use tokio::time::Instant;

pub use dead_letter::DeadLetter;
pub use lag::{LagReport, LeaseHolder, TenantLag};
pub use start::StartFrom;

use crate::error::EventsError;
use crate::event::OutboxEvent;
use crate::retry::RetryPolicy;
use crate::sink::{EventSink, FailureKind, SinkFailure};
use cursor::{Cursor, CursorRecord};
use dead_letter::{dead_letter_key, StoredDeadLetter, BY_SINK, DEAD_LETTER_COLLECTION};
use page::{Expanded, Place};

/// What a relay does next for a tenant after a [`pump`](Relay::pump).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextStep {
    /// More events are waiting: pump again now.
    More,
    /// Every event is delivered (as of the read).
    CaughtUp,
    /// A delivery failed; the next try is not before this time.
    RetryAt(DateTime<Utc>),
    /// Another relay holds the tenant's lease until this time.
    HeldElsewhere {
        /// Lease expiry.
        until: DateTime<Utc>,
    },
    /// This relay is already pumping the tenant (another call is in progress).
    Busy,
}

/// What one [`pump`](Relay::pump) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PumpReport {
    /// Events the sink accepted.
    pub delivered: usize,
    /// Events dead-lettered.
    pub dead_lettered: usize,
    /// The cursor after the step: the last outbox entry wholly delivered.
    pub position: u64,
    /// The cursor's line: lines of the entry after `position` delivered (an entry holds the
    /// events of one commit, and a page may end inside one).
    pub line: u32,
    /// What to do next.
    pub next: NextStep,
}

/// What a replay delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayReport {
    /// Events delivered.
    pub delivered: usize,
    /// Entries skipped because they could not be decoded.
    pub skipped: usize,
}

/// The relay's settings (see [`RelayBuilder`]).
#[derive(Debug, Clone)]
struct Settings {
    page_size: usize,
    lease_ttl: Duration,
    poll_interval: Duration,
    max_poll_interval: Duration,
    discovery_interval: Duration,
    concurrency: usize,
    delivery_timeout: Duration,
    discover: bool,
    retry: RetryPolicy,
    start_from: StartFrom,
}

/// Builds a [`Relay`] for one sink.
#[must_use]
pub struct RelayBuilder {
    env: Env,
    sink: Arc<dyn EventSink>,
    settings: Settings,
    delivery_timeout: Option<Duration>,
}

impl fmt::Debug for RelayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayBuilder")
            .field("sink", &self.sink.id())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RelayBuilder {
    /// The longest duration a setting may have (a day): leases, backoffs and polls are added to
    /// clocks, which overflow (and panic) long before `Duration::MAX`.
    pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

    /// Events handed to the sink per step, at most (default 500; 1–10,000). Memory per tenant
    /// in flight is one page: the entries read for it, each at most
    /// [`OUTBOX_ENTRY_BYTES`](marketingforce_core::events::OUTBOX_ENTRY_BYTES) or one event.
    pub fn page_size(mut self, events: usize) -> Self {
        self.settings.page_size = events;
        self
    }

    /// How long a lease lasts without renewal (default 15 s, at least 100 ms, at most
    /// [`MAX_DURATION`](Self::MAX_DURATION)): how long another relay waits before taking over
    /// from one that crashed.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.settings.lease_ttl = ttl;
        self
    }

    /// How soon an idle tenant is polled again (default 100 ms).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll_interval = interval;
        self
    }

    /// The longest poll interval of a tenant that stays idle (default 2 s, at most
    /// [`MAX_DURATION`](Self::MAX_DURATION)).
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.settings.max_poll_interval = interval;
        self
    }

    /// How often [`run`](Relay::run) looks for newly registered tenants (default 1 s; above
    /// zero, at most [`MAX_DURATION`](Self::MAX_DURATION)).
    pub fn discovery_interval(mut self, interval: Duration) -> Self {
        self.settings.discovery_interval = interval;
        self
    }

    /// How many tenants are pumped at once (default 16).
    pub fn concurrency(mut self, tenants: usize) -> Self {
        self.settings.concurrency = tenants;
        self
    }

    /// The longest a sink may take to answer one page before the step counts as timed out
    /// (default: the lease TTL; above zero, at most [`MAX_DURATION`](Self::MAX_DURATION)).
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = Some(timeout);
        self
    }

    /// Whether [`run`](Relay::run) follows the outbox registry to find tenants (default yes).
    /// Turn it off to relay only the tenants handed over with [`Relay::watch`].
    pub fn discover_tenants(mut self, discover: bool) -> Self {
        self.settings.discover = discover;
        self
    }

    /// Use `retry` instead of the sink's own policy (its longest backoff at most
    /// [`MAX_DURATION`](Self::MAX_DURATION)).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.settings.retry = retry;
        self
    }

    /// Where the sink starts in a tenant's outbox the first time it meets the tenant (default:
    /// the beginning). A webhook endpoint added later usually starts at its creation:
    /// `StartFrom::OccurredSince(created_at)`. See [`StartFrom`].
    pub fn start_from(mut self, start: StartFrom) -> Self {
        self.settings.start_from = start;
        self
    }

    /// Build the relay.
    ///
    /// # Errors
    /// A validation error naming the setting out of range, or the sink id when it is not a
    /// storage name.
    pub fn build(mut self) -> Result<Relay, EventsError> {
        check_name(self.sink.id(), "sink.id")?;
        let s = &mut self.settings;
        if s.page_size == 0 || s.page_size > PageRequest::MAX_LIMIT {
            return Err(Error::validation("page_size", "must be 1-10000").into());
        }
        if s.lease_ttl < Duration::from_millis(100) {
            return Err(Error::validation("lease_ttl", "must be at least 100 ms").into());
        }
        if s.concurrency == 0 {
            return Err(Error::validation("concurrency", "must be at least 1").into());
        }
        if s.poll_interval.is_zero() || s.max_poll_interval < s.poll_interval {
            return Err(Error::validation(
                "poll_interval",
                "must be above zero and at most max_poll_interval",
            )
            .into());
        }
        s.delivery_timeout = self.delivery_timeout.unwrap_or(s.lease_ttl);
        for (field, value) in [
            ("lease_ttl", s.lease_ttl),
            ("max_poll_interval", s.max_poll_interval),
            ("discovery_interval", s.discovery_interval),
            ("delivery_timeout", s.delivery_timeout),
            ("retry.max", s.retry.max),
        ] {
            check_duration(field, value)?;
        }
        let holder = format!(
            "relay-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        Ok(Relay {
            inner: Arc::new(Inner {
                store: self.env.store().clone(),
                clock: self.env.clock().clone(),
                sink: self.sink,
                settings: self.settings,
                holder,
                state: Mutex::new(State::default()),
                wake: tokio::sync::Notify::new(),
            }),
        })
    }
}

/// Refuse a setting of zero (a busy loop, a timeout no sink can meet) or longer than
/// [`RelayBuilder::MAX_DURATION`], naming `field`.
fn check_duration(field: &str, value: Duration) -> Result<(), EventsError> {
    if value.is_zero() || value > RelayBuilder::MAX_DURATION {
        return Err(Error::validation(
            field,
            format!(
                "must be above zero and at most {:?}, got {value:?}",
                RelayBuilder::MAX_DURATION
            ),
        )
        .into());
    }
    Ok(())
}

/// What the relay remembers of a tenant: its last read of the cursor record (a cache: every
/// write is fenced on its version) and its lag.
#[derive(Debug, Default)]
struct TenantState {
    cursor: Option<Cursor>,
    lag: Option<TenantLag>,
    /// Events per outbox entry in the last page read (an entry holds one commit's events):
    /// how many entries the next read asks for, so a page is about `page_size` events.
    lines_per_entry: usize,
}

#[derive(Debug, Default)]
struct State {
    tenants: HashMap<TenantId, TenantState>,
    busy: HashSet<TenantId>,
    watched: Vec<TenantId>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn EventSink>,
    settings: Settings,
    holder: String,
    state: Mutex<State>,
    wake: tokio::sync::Notify,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sink_id(&self) -> &str {
        self.sink.id()
    }

    fn cached(&self, tenant: &TenantId) -> Option<Cursor> {
        self.lock()
            .tenants
            .get(tenant)
            .and_then(|t| t.cursor.clone())
    }

    fn remember(&self, tenant: &TenantId, cursor: Option<Cursor>, lag: Option<TenantLag>) {
        let mut state = self.lock();
        let entry = state.tenants.entry(*tenant).or_default();
        entry.cursor = cursor;
        if lag.is_some() {
            entry.lag = lag;
        }
    }

    /// How many outbox entries to read for a page of about `page_size` events.
    fn entries_to_read(&self, tenant: &TenantId) -> usize {
        let per_entry = self
            .lock()
            .tenants
            .get(tenant)
            .map_or(1, |t| t.lines_per_entry.max(1));
        (self.settings.page_size / per_entry).max(1)
    }

    fn note_lines_per_entry(&self, tenant: &TenantId, entries: usize, lines: usize) {
        if entries > 0 {
            let mut state = self.lock();
            state.tenants.entry(*tenant).or_default().lines_per_entry = lines.div_ceil(entries);
        }
    }

    fn lag_of(&self, tenant: &TenantId, record: &CursorRecord, head: u64) -> TenantLag {
        let now = self.clock.now();
        TenantLag {
            tenant: *tenant,
            sink: self.sink_id().to_string(),
            position: record.position,
            line: record.line,
            head: head.max(record.position),
            oldest_pending_at: None,
            attempts: record.attempts,
            retry_at: record.retry_at,
            last_failure: record.last_failure.clone(),
            dead_lettered: record.dead_lettered_total,
            lease: lag::lease_of(record, Some(&self.holder), now),
        }
    }
}

/// Marks a tenant busy in this relay while a pump runs; cleared on drop (also when the pump's
/// future is dropped). A step that did not finish with success — it failed, or its future was
/// dropped, perhaps with a cursor write in flight that landed — may have left the cached cursor
/// behind the store, so the guard forgets it unless the step [`settled`](BusyGuard::settled).
struct BusyGuard<'a> {
    inner: &'a Inner,
    tenant: TenantId,
    settled: bool,
}

impl BusyGuard<'_> {
    /// The step finished with success: its cached cursor is the stored one.
    fn settled(&mut self) {
        self.settled = true;
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.busy.remove(&self.tenant);
        if !self.settled {
            // Read it again next time.
            if let Some(t) = state.tenants.get_mut(&self.tenant) {
                t.cursor = None;
            }
        }
    }
}

/// Delivers tenants' outbox events to one sink (see the [module docs](self)). Cheap to clone;
/// run one or several per sink, in one process or many.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("sink", &self.inner.sink_id())
            .field("holder", &self.inner.holder)
            .field("store", &self.inner.store.backend())
            .finish_non_exhaustive()
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Relay {
    /// A relay of `env`'s store to `sink`, with the defaults (see [`RelayBuilder`]).
    pub fn builder(env: &Env, sink: Arc<dyn EventSink>) -> RelayBuilder {
        let retry = sink.retry_policy();
        RelayBuilder {
            env: env.clone(),
            sink,
            settings: Settings {
                page_size: 500,
                lease_ttl: Duration::from_secs(15),
                poll_interval: Duration::from_millis(100),
                max_poll_interval: Duration::from_secs(2),
                discovery_interval: Duration::from_secs(1),
                concurrency: 16,
                delivery_timeout: Duration::from_secs(15),
                discover: true,
                retry,
                start_from: StartFrom::Beginning,
            },
            delivery_timeout: None,
        }
    }

    /// This relay's id in lease records (`relay-<pid>-<uuid>`).
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// The sink's id.
    pub fn sink_id(&self) -> &str {
        self.inner.sink_id()
    }

    /// Relay `tenant`'s events from now on (in addition to discovered tenants).
    pub fn watch(&self, tenant: &TenantId) {
        self.inner.lock().watched.push(*tenant);
        self.inner.wake.notify_one();
    }

    /// The lag of every tenant this relay has pumped, as it last saw them (no store reads;
    /// for the exact figure of one tenant from any process use [`TenantLag::read`]).
    pub fn lag(&self) -> LagReport {
        let state = self.inner.lock();
        let mut tenants: Vec<TenantLag> = state
            .tenants
            .values()
            .filter_map(|t| t.lag.clone())
            .collect();
        tenants.sort_by_key(|t| t.tenant);
        LagReport {
            sink: self.inner.sink_id().to_string(),
            at: self.inner.clock.now(),
            tenants,
        }
    }

    /// One step for `tenant`: deliver the next page of its outbox if this relay holds (or can
    /// take) the lease, and move the cursor past what the sink accepted. See the
    /// [module docs](self). [`run`](Relay::run) calls this for every tenant; tests and
    /// embedders with their own scheduling may call it directly.
    ///
    /// Safe to drop at any `.await`: the cursor only moves in a fenced write after delivery,
    /// so a dropped step at worst delivers its page again later.
    ///
    /// # Errors
    /// [`EventsError::LeaseLost`] when another relay took the lease during the step (the
    /// events may have been delivered twice; the cursor is the new holder's); storage errors.
    #[marketingforce_core::telemetry::operation("events.relay.pump", tenant = tenant, level = "trace")]
    pub async fn pump(&self, tenant: &TenantId) -> Result<PumpReport, EventsError> {
        let inner = &*self.inner;
        {
            let mut state = inner.lock();
            if !state.busy.insert(*tenant) {
                let (position, line) = state
                    .tenants
                    .get(tenant)
                    .and_then(|t| t.cursor.as_ref())
                    .map_or((0, 0), |c| (c.record.position, c.record.line));
                return Ok(PumpReport {
                    delivered: 0,
                    dead_lettered: 0,
                    position,
                    line,
                    next: NextStep::Busy,
                });
            }
        }
        let mut busy = BusyGuard {
            inner,
            tenant: *tenant,
            settled: false,
        };
        let result = self.step(tenant).await;
        if result.is_ok() {
            busy.settled();
        }
        result
    }

    async fn step(&self, tenant: &TenantId) -> Result<PumpReport, EventsError> {
        let inner = &*self.inner;
        let s = &inner.settings;
        let store = &*inner.store;
        let now = inner.clock.now();
        let mut cursor = match inner.cached(tenant) {
            Some(c) => c,
            None => self.load_cursor(tenant).await?,
        };
        if let Some(until) = cursor.record.held_by_other(&inner.holder, now) {
            return Ok(self.wait_report(tenant, cursor, NextStep::HeldElsewhere { until }));
        }
        if let Some(at) = cursor.record.retry_at.filter(|at| *at > now) {
            return Ok(self.wait_report(tenant, cursor, NextStep::RetryAt(at)));
        }
        let want = inner.entries_to_read(tenant);
        let mut page = store
            .read_journal(tenant, OUTBOX_JOURNAL, cursor.record.position, want)
            .await?;
        if page.is_empty() {
            return Ok(self.wait_report(tenant, cursor, NextStep::CaughtUp));
        }

        // Work to do: hold the lease (a fenced write), re-reading the cursor first.
        let margin = to_chrono(s.lease_ttl / 3);
        if !cursor.record.held_by(&inner.holder, now, margin) {
            let fresh = self.load_cursor(tenant).await?;
            if let Some(until) = fresh.record.held_by_other(&inner.holder, now) {
                return Ok(self.wait_report(tenant, fresh, NextStep::HeldElsewhere { until }));
            }
            if let Some(at) = fresh.record.retry_at.filter(|at| *at > now) {
                return Ok(self.wait_report(tenant, fresh, NextStep::RetryAt(at)));
            }
            let taken = fresh
                .record
                .acquired(&inner.holder, inner.clock.now() + to_chrono(s.lease_ttl));
            let mut batch = Batch::new();
            batch.put_entity(tenant, &taken, fresh.expect())?;
            let version = match store.commit(tenant, batch).await {
                Ok(CommitOutcome::Committed(r)) => r.versions.first().copied().unwrap_or(1),
                Ok(CommitOutcome::Replayed(_)) => {
                    return Err(Error::backend_message(
                        store.backend(),
                        false,
                        "a lease write without an idempotency key was reported as replayed",
                    )
                    .into())
                }
                // Another relay took the lease between our read and our write.
                Err(Error::Conflict { .. }) => {
                    inner.remember(tenant, None, None);
                    return Ok(PumpReport {
                        delivered: 0,
                        dead_lettered: 0,
                        position: fresh.record.position,
                        line: fresh.record.line,
                        next: NextStep::HeldElsewhere { until: now },
                    });
                }
                Err(e) => return Err(e.into()),
            };
            if taken.position != cursor.record.position {
                page = store
                    .read_journal(tenant, OUTBOX_JOURNAL, taken.position, want)
                    .await?;
            }
            cursor = Cursor {
                record: taken,
                version,
            };
            tracing::debug!(
                sink = inner.sink_id(),
                epoch = cursor.record.epoch,
                "relay lease taken"
            );
            inner.remember(tenant, Some(cursor.clone()), None);
            if page.is_empty() {
                return Ok(self.wait_report(tenant, cursor, NextStep::CaughtUp));
            }
        }

        let entries_read = page.len();
        let last_read = page.last().map_or(cursor.record.position, |e| e.seq);
        let page = Expanded::of(tenant, page, &cursor.record, s.page_size);
        inner.note_lines_per_entry(tenant, page.entries_seen, page.lines_seen);
        let full_page = entries_read == want || page.truncated;
        let Expanded {
            events,
            places,
            undecodable,
            ..
        } = page;

        // Deliver: the sink's pace is ours.
        let outcome = if events.is_empty() {
            Ok(())
        } else {
            match tokio::time::timeout(s.delivery_timeout, inner.sink.deliver(tenant, &events))
                .await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(SinkFailure::new(
                    0,
                    FailureKind::TimedOut,
                    format!("no answer within {:?}", s.delivery_timeout),
                )),
            }
        };
        let (delivered, failure) = match outcome {
            Ok(()) => (
                events.len(),
                undecodable.map(|m| SinkFailure::new(events.len(), FailureKind::Undeliverable, m)),
            ),
            Err(f) => (f.delivered().min(events.len()), Some(f)),
        };
        observe_delivery(inner.sink_id(), inner.clock.now(), &events[..delivered]);

        // Move the cursor past what was accepted (and dead-letter what is given up on), fenced
        // on the cursor's version, renewing the lease.
        let now = inner.clock.now();
        let mut next = cursor.record.clone();
        if let Some(place) = delivered.checked_sub(1).and_then(|i| places.get(i)) {
            next.pass(place.seq, place.line, place.lines);
        }
        next.delivered_total += delivered as u64;
        if delivered > 0 {
            next.attempts = 0;
            next.retry_at = None;
            next.last_failure = None;
        }
        let mut dead = None;
        if let Some(f) = &failure {
            next.attempts += 1;
            if f.is_permanent() || s.retry.exhausted(next.attempts) {
                let victim = events.get(delivered);
                // The place of the event given up on: the next one, or the line that did
                // not decode.
                let place = places.get(delivered).copied().unwrap_or(Place {
                    seq: next.position + 1,
                    line: next.line,
                    lines: next.line + 1,
                });
                tracing::warn!(
                    sink = inner.sink_id(),
                    seq = place.seq,
                    line = place.line,
                    event = victim.map(OutboxEvent::name),
                    attempts = next.attempts,
                    "event dead-lettered"
                );
                dead = Some(DeadLetter {
                    sink: inner.sink_id().to_string(),
                    seq: place.seq,
                    line: place.line,
                    event_id: victim.map(OutboxEvent::id),
                    name: victim.map(|e| e.name().to_string()),
                    attempts: next.attempts,
                    reason: f.to_string(),
                    dead_at: now,
                });
                next.pass(place.seq, place.line, place.lines);
                next.attempts = 0;
                next.retry_at = None;
                next.dead_lettered_total += 1;
            } else {
                let wait = f
                    .wait()
                    .map_or(Duration::ZERO, |w| w.min(s.retry.max))
                    .max(s.retry.delay(next.attempts));
                next.retry_at = Some(now + to_chrono(wait));
            }
            next.last_failure = Some(f.to_string());
        }
        next.lease_until = now + to_chrono(s.lease_ttl);
        let mut batch = Batch::new();
        batch.put_entity(tenant, &next, cursor.expect())?;
        if let Some(d) = &dead {
            batch.put_entity(tenant, &StoredDeadLetter(d.clone()), Expect::Any)?;
        }
        let version = match store.commit(tenant, batch).await {
            Ok(CommitOutcome::Committed(r)) => r.versions.first().copied().unwrap_or(1),
            Ok(CommitOutcome::Replayed(_)) => {
                return Err(Error::backend_message(
                    store.backend(),
                    false,
                    "a cursor write without an idempotency key was reported as replayed",
                )
                .into())
            }
            Err(Error::Conflict { .. }) => {
                tracing::info!(sink = inner.sink_id(), "relay lease lost");
                return Err(EventsError::LeaseLost {
                    tenant: *tenant,
                    sink: inner.sink_id().to_string(),
                    epoch: cursor.record.epoch,
                });
            }
            Err(e) => return Err(e.into()),
        };

        let head = if full_page {
            store.journal_head(tenant, OUTBOX_JOURNAL).await?
        } else {
            last_read
        };
        let mut lag = inner.lag_of(tenant, &next, head);
        lag.oldest_pending_at = events
            .iter()
            .find(|e| next.is_ahead(e.seq(), e.line()))
            .map(OutboxEvent::occurred_at);
        let report = PumpReport {
            delivered,
            dead_lettered: usize::from(dead.is_some()),
            position: next.position,
            line: next.line,
            next: match next.retry_at {
                Some(at) => NextStep::RetryAt(at),
                None if head > next.position => NextStep::More,
                None => NextStep::CaughtUp,
            },
        };
        inner.remember(
            tenant,
            Some(Cursor {
                record: next,
                version,
            }),
            Some(lag),
        );
        Ok(report)
    }

    /// Remember `cursor` and report a step that delivered nothing.
    /// The stored cursor of `tenant` for this relay's sink. A missing one starts at the
    /// beginning, or — with [`StartFrom::OccurredSince`] — is created at its start right away
    /// (a conditional create: when another relay created it first, theirs is read back).
    async fn load_cursor(&self, tenant: &TenantId) -> Result<Cursor, EventsError> {
        let inner = &*self.inner;
        let store = &*inner.store;
        let cursor = Cursor::load(store, tenant, inner.sink_id()).await?;
        let StartFrom::OccurredSince(since) = inner.settings.start_from else {
            return Ok(cursor);
        };
        if cursor.version != 0 {
            return Ok(cursor);
        }
        let position = start::position_before(store, tenant, since).await?;
        if position == 0 {
            // Nothing to skip: the first lease write stores the cursor, as by default.
            return Ok(cursor);
        }
        let expect = cursor.expect();
        let mut record = cursor.record;
        record.position = position;
        let mut batch = Batch::new();
        batch.put_entity(tenant, &record, expect)?;
        match store.commit(tenant, batch).await {
            Ok(CommitOutcome::Committed(r)) => Ok(Cursor {
                record,
                version: r.versions.first().copied().unwrap_or(1),
            }),
            Ok(CommitOutcome::Replayed(_)) => Err(Error::backend_message(
                store.backend(),
                false,
                "a cursor write without an idempotency key was reported as replayed",
            )
            .into()),
            Err(Error::Conflict { .. }) => Ok(Cursor::load(store, tenant, inner.sink_id()).await?),
            Err(e) => Err(e.into()),
        }
    }

    fn wait_report(&self, tenant: &TenantId, cursor: Cursor, next: NextStep) -> PumpReport {
        let inner = &*self.inner;
        let head = if next == NextStep::CaughtUp {
            cursor.record.position
        } else {
            // Unknown without a read; keep what was last seen.
            inner
                .lock()
                .tenants
                .get(tenant)
                .and_then(|t| t.lag.as_ref())
                .map_or(cursor.record.position, |l| l.head)
        };
        let mut lag = inner.lag_of(tenant, &cursor.record, head);
        if next != NextStep::CaughtUp {
            lag.oldest_pending_at = inner
                .lock()
                .tenants
                .get(tenant)
                .and_then(|t| t.lag.as_ref())
                .and_then(|l| l.oldest_pending_at);
        }
        let (position, line) = (cursor.record.position, cursor.record.line);
        inner.remember(tenant, Some(cursor), Some(lag));
        PumpReport {
            delivered: 0,
            dead_lettered: 0,
            position,
            line,
            next,
        }
    }

    /// Run until `shutdown` completes: find tenants (the outbox registry, and those
    /// [watched](Relay::watch)), pump up to [`concurrency`](RelayBuilder::concurrency) of them
    /// at once, and poll idle ones. Errors of a step (a store that is down, a lost lease) are
    /// reported in the [lag](Relay::lag) and retried after a backoff; `run` itself only
    /// returns at shutdown. Dropping it at any `.await` is safe (see [`pump`](Relay::pump)).
    ///
    /// # Errors
    /// None today; the `Result` leaves room for fatal setup errors.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), EventsError> {
        let inner = &*self.inner;
        let s = &inner.settings;
        let mut shutdown = pin!(shutdown);
        let mut queue: BinaryHeap<Reverse<(Instant, TenantId)>> = BinaryHeap::new();
        let mut known: HashSet<TenantId> = HashSet::new();
        let mut idle: HashMap<TenantId, u32> = HashMap::new();
        let mut failures: HashMap<TenantId, u32> = HashMap::new();
        let mut in_flight = FuturesUnordered::new();
        let mut registry_position = 0u64;
        let mut next_discovery = Instant::now();
        loop {
            let now = Instant::now();
            let watched = std::mem::take(&mut inner.lock().watched);
            for tenant in watched {
                if known.insert(tenant) {
                    queue.push(Reverse((now, tenant)));
                }
            }
            if s.discover && now >= next_discovery {
                // A store that is unavailable is tried again at the next discovery.
                while let Ok(found) =
                    Outbox::registered_after(&*inner.store, registry_position, 1000).await
                {
                    let more = found.len() == 1000;
                    for (position, tenant) in found {
                        registry_position = position;
                        if known.insert(tenant) {
                            queue.push(Reverse((now, tenant)));
                        }
                    }
                    if !more {
                        break;
                    }
                }
                next_discovery = now + s.discovery_interval;
            }
            while in_flight.len() < s.concurrency {
                match queue.peek() {
                    Some(Reverse((due, _))) if *due <= now => {}
                    _ => break,
                }
                let Some(Reverse((_, tenant))) = queue.pop() else {
                    break;
                };
                in_flight.push(async move { (tenant, self.pump(&tenant).await) });
            }
            let wake_at = queue
                .peek()
                .filter(|_| in_flight.len() < s.concurrency)
                .map(|Reverse((due, _))| *due)
                .into_iter()
                .chain(s.discover.then_some(next_discovery))
                .min()
                .unwrap_or_else(|| now + s.max_poll_interval);
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                Some((tenant, result)) = in_flight.next(), if !in_flight.is_empty() => {
                    let delay = self.next_delay(&tenant, result, &mut idle, &mut failures);
                    queue.push(Reverse((Instant::now() + delay, tenant)));
                }
                () = tokio::time::sleep_until(wake_at) => {}
                () = inner.wake.notified() => {}
            }
        }
    }

    /// How long to wait before pumping `tenant` again after a step.
    fn next_delay(
        &self,
        tenant: &TenantId,
        result: Result<PumpReport, EventsError>,
        idle: &mut HashMap<TenantId, u32>,
        failures: &mut HashMap<TenantId, u32>,
    ) -> Duration {
        let s = &self.inner.settings;
        let until = |at: DateTime<Utc>, cap: Duration| {
            (at - self.inner.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(cap)
        };
        let report = match result {
            Ok(report) => {
                failures.remove(tenant);
                report
            }
            Err(EventsError::LeaseLost { .. }) => return s.poll_interval,
            Err(e) => {
                let n = failures.entry(*tenant).or_default();
                *n += 1;
                self.note_error(tenant, &e);
                return s.retry.delay(*n);
            }
        };
        if report.delivered > 0 || report.dead_lettered > 0 {
            idle.remove(tenant);
        }
        match report.next {
            NextStep::More => Duration::ZERO,
            NextStep::CaughtUp => {
                let streak = idle.entry(*tenant).or_default();
                let delay = s
                    .poll_interval
                    .checked_mul(1u32 << (*streak).min(16))
                    .unwrap_or(s.max_poll_interval)
                    .min(s.max_poll_interval);
                *streak += 1;
                delay
            }
            NextStep::RetryAt(at) => until(at, s.retry.max),
            NextStep::HeldElsewhere { until: at } => {
                // A little after the lease would expire, spread so relays do not collide.
                let spread = s.lease_ttl / 10;
                until(at, s.lease_ttl) + spread.mul_f64(rand::random_range(0.0..1.0))
            }
            NextStep::Busy => s.poll_interval,
        }
    }

    fn note_error(&self, tenant: &TenantId, error: &EventsError) {
        let mut state = self.inner.lock();
        if let Some(lag) = state.tenants.get_mut(tenant).and_then(|t| t.lag.as_mut()) {
            lag.last_failure = Some(error.to_string());
        }
    }

    /// Deliver the events of `tenant`'s outbox entries with sequence numbers in `seqs` (every
    /// line of each: the events of one commit) to the sink again, in order, in pages of at
    /// most [`page_size`](RelayBuilder::page_size) events — to recover a consumer that lost
    /// data. The cursor does not move and no lease is taken: replayed events may interleave
    /// with live ones, and receivers deduplicate by event id. Lines that do not decode are
    /// skipped (and counted).
    ///
    /// # Errors
    /// [`EventsError::Delivery`] at the first failure (the events before it were delivered);
    /// storage errors.
    pub async fn replay(
        &self,
        tenant: &TenantId,
        seqs: RangeInclusive<u64>,
    ) -> Result<ReplayReport, EventsError> {
        let inner = &*self.inner;
        let (start, end) = (*seqs.start(), *seqs.end());
        let mut report = ReplayReport::default();
        let mut after = start.saturating_sub(1);
        while after < end {
            let want = usize::try_from(end - after)
                .unwrap_or(usize::MAX)
                .min(inner.settings.page_size);
            let page = inner
                .store
                .read_journal(tenant, OUTBOX_JOURNAL, after, want)
                .await?;
            let Some(last) = page.last().map(|e| e.seq) else {
                break;
            };
            let mut events = Vec::new();
            for entry in page.into_iter().filter(|e| e.seq <= end) {
                for event in OutboxEvent::decode_entry(tenant, entry) {
                    match event {
                        Ok(e) => events.push(e),
                        Err(_) => report.skipped += 1,
                    }
                }
            }
            for chunk in events.chunks(inner.settings.page_size) {
                self.deliver_now(tenant, chunk).await?;
                report.delivered += chunk.len();
            }
            after = last;
        }
        Ok(report)
    }

    async fn deliver_now(
        &self,
        tenant: &TenantId,
        events: &[OutboxEvent],
    ) -> Result<(), EventsError> {
        if events.is_empty() {
            return Ok(());
        }
        let inner = &*self.inner;
        let outcome = tokio::time::timeout(
            inner.settings.delivery_timeout,
            inner.sink.deliver(tenant, events),
        )
        .await
        .unwrap_or_else(|_| {
            Err(SinkFailure::new(
                0,
                FailureKind::TimedOut,
                format!("no answer within {:?}", inner.settings.delivery_timeout),
            ))
        });
        outcome.map_err(|failure| EventsError::Delivery {
            sink: inner.sink_id().to_string(),
            failure,
        })
    }

    /// A page of `tenant`'s dead letters for this relay's sink, in sequence order.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn dead_letters(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<DeadLetter>, EventsError> {
        let inner = &*self.inner;
        let records = inner
            .store
            .lookup(
                tenant,
                DEAD_LETTER_COLLECTION,
                BY_SINK,
                inner.sink_id(),
                page,
            )
            .await?;
        Ok(records.try_map(|r| {
            serde_json::from_slice::<DeadLetter>(&r.value).map_err(|e| Error::Serialization {
                what: format!("{DEAD_LETTER_COLLECTION}/{}", r.key),
                reason: marketingforce_core::error::json_reason(&e),
            })
        })?)
    }

    /// Deliver `tenant`'s dead letters for this sink again, oldest first, removing each one
    /// the sink accepts. Stops at the first failure, leaving it and the later ones in place.
    ///
    /// # Errors
    /// [`EventsError::Delivery`] at the first failure; storage errors.
    pub async fn redeliver_dead_letters(
        &self,
        tenant: &TenantId,
    ) -> Result<ReplayReport, EventsError> {
        let inner = &*self.inner;
        let mut report = ReplayReport::default();
        let mut request = PageRequest::first(100);
        loop {
            let page = self.dead_letters(tenant, &request).await?;
            for letter in &page.items {
                let entry = inner
                    .store
                    .read_journal(tenant, OUTBOX_JOURNAL, letter.seq - 1, 1)
                    .await?
                    .into_iter()
                    .find(|e| e.seq == letter.seq);
                match entry.and_then(|e| OutboxEvent::in_entry(tenant, e, letter.line)) {
                    Some(Ok(event)) => {
                        self.deliver_now(tenant, std::slice::from_ref(&event))
                            .await?;
                        report.delivered += 1;
                    }
                    // Nothing deliverable is left of it.
                    _ => report.skipped += 1,
                }
                let mut batch = Batch::new();
                batch.delete(
                    DEAD_LETTER_COLLECTION,
                    dead_letter_key(&letter.sink, letter.seq, letter.line),
                    Expect::Any,
                );
                inner.store.commit(tenant, batch).await?;
            }
            match page.next {
                Some(next) => request = PageRequest::next(100, next),
                None => return Ok(report),
            }
        }
    }
}

/// Telemetry of a delivered page: how many events went out, and how old the oldest was.
fn observe_delivery(sink: &str, now: chrono::DateTime<chrono::Utc>, delivered: &[OutboxEvent]) {
    let Some(oldest) = delivered.iter().map(OutboxEvent::occurred_at).min() else {
        return;
    };
    marketingforce_core::telemetry::events_relayed(sink, delivered.len() as u64);
    let age = (now - oldest).to_std().unwrap_or_default();
    marketingforce_core::telemetry::relay_lag(sink, age.as_secs_f64());
}
