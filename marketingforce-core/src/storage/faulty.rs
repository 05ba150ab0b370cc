//! A fault-injecting [`Store`] wrapper for deterministic simulation tests (feature `testing`).
//!
//! [`FaultyStore`] wraps any `Arc<dyn Store>` and, following a seeded [`FaultPlan`], makes some
//! calls fail the way real storage fails — the failures a service must survive without losing or
//! duplicating anything:
//!
//! | [`Fault`] | what the backend did | what the caller sees |
//! |---|---|---|
//! | [`ErrorBeforeCommit`](Fault::ErrorBeforeCommit) | nothing | a retryable [`Error::Backend`] (nothing written) |
//! | [`PartialWriteRolledBack`](Fault::PartialWriteRolledBack) | applied some writes, then rolled back ([`Batch::fail_after_writes`]) | a retryable [`Error::Backend`] (nothing written) |
//! | [`TimeoutBeforeCommit`](Fault::TimeoutBeforeCommit) | nothing | [`Error::Timeout`] (outcome unknown to the caller) |
//! | [`ErrorAfterCommit`](Fault::ErrorAfterCommit) | committed the batch | [`Error::OutcomeUnknown`] |
//! | [`TimeoutAfterCommit`](Fault::TimeoutAfterCommit) | committed the batch | [`Error::Timeout`] (outcome unknown) |
//! | [`DuplicateDelivery`](Fault::DuplicateDelivery) | received the batch twice | the answer to the second delivery |
//! | [`HangBeforeCommit`](Fault::HangBeforeCommit) | nothing | the call never completes |
//! | [`HangAfterCommit`](Fault::HangAfterCommit) | committed the batch | the call never completes |
//! | [`ReadError`](Fault::ReadError) | nothing | a retryable [`Error::Backend`] on a read |
//!
//! Every error a caller sees is true: faults that committed surface as
//! [`ErrorKind::OutcomeUnknown`](crate::ErrorKind::OutcomeUnknown) (an [`Error::OutcomeUnknown`]
//! or an [`Error::Timeout`]), never as an error that reads as "nothing changed".
//!
//! Decisions depend only on the plan's seed and the number of calls made so far, so a
//! single-threaded simulation that makes the same calls sees the same faults: a failing seed
//! replays exactly. Every injected fault is recorded ([`FaultyStore::injected`]) so a failure
//! report can say what the storage did. Faults can also be scripted one by one
//! ([`FaultyStore::script`]) and switched off while a test sets up or checks
//! ([`FaultyStore::pause`]).
//!
//! ## Cancellation
//!
//! A service call may be dropped at any `.await` (a client disconnects, a timeout fires). The
//! hang faults model a store that never answers: the call only ends when the caller gives up.
//! [`poll_then_drop`] (and the [`Cancel`] future behind it) gives up deterministically: it polls
//! a future at most `n` times and drops it if it has not finished, so a simulation can cancel
//! any service call at a chosen (or seeded random) await point and then check that nothing in
//! memory ran ahead of the store:
//!
//! ```
//! use std::sync::Arc;
//! use marketingforce_core::storage::{
//!     poll_then_drop, Batch, Fault, FaultPlan, FaultyStore, MemoryStore, Store,
//! };
//! use marketingforce_core::tenant::TenantId;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let store = FaultyStore::new(memory.clone(), FaultPlan::new(1));
//! let tenant = TenantId::new();
//! // The store commits, then never answers; the caller gives up after 3 polls.
//! store.script(Fault::HangAfterCommit);
//! let mut batch = Batch::new();
//! batch.append("usage", b"1".to_vec());
//! assert!(poll_then_drop(store.commit(&tenant, batch), 3).await.is_none());
//! assert_eq!(memory.journal_head(&tenant, "usage").await.unwrap(), 1);
//! # });
//! ```
//!
//! ```
//! use std::sync::Arc;
//! use marketingforce_core::storage::{
//!     Batch, CommitOutcome, Fault, FaultPlan, FaultyStore, MemoryStore, Store,
//! };
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::{Error, ErrorKind};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! // About one commit in ten fails in some way, reproducibly for seed 7.
//! let store = FaultyStore::new(memory.clone(), FaultPlan::chaos(7, 0.10).unwrap());
//! let tenant = TenantId::new();
//!
//! // The acknowledgement of this commit is lost: the batch is stored, the caller sees an error.
//! store.script(Fault::ErrorAfterCommit);
//! let mut batch = Batch::new();
//! batch.append("topups", b"500".to_vec());
//! batch.claim_idempotency("topup-1", "fp", b"ok".to_vec());
//! let err = store.commit(&tenant, batch.clone()).await.unwrap_err();
//! assert!(matches!(err, Error::OutcomeUnknown { .. }));
//! assert_eq!(err.kind(), ErrorKind::OutcomeUnknown);
//! // A client retrying with the same idempotency key learns it did happen, exactly once.
//! store.pause();
//! assert_eq!(store.commit(&tenant, batch).await.unwrap(), CommitOutcome::Replayed(b"ok".to_vec()));
//! assert_eq!(memory.read_journal(&tenant, "topups", 0, 10).await.unwrap().len(), 1);
//! assert_eq!(store.injected()[0].fault, Fault::ErrorAfterCommit);
//! # });
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::{
    Batch, CommitOutcome, Expect, JournalEntry, Page, PageRequest, Record, Store, StoreLimits,
};
use crate::error::{Error, Result};
use crate::id::splitmix64;

pub use super::cancel::{poll_then_drop, Cancel};
use crate::tenant::TenantId;

/// A failure [`FaultyStore`] can inject (see the [module docs](self) for what each one means to
/// the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Fault {
    /// The commit fails before the backend sees it: nothing is written.
    ErrorBeforeCommit,
    /// The backend applies some of the writes, fails and rolls back: nothing is written.
    PartialWriteRolledBack,
    /// The commit times out before the backend sees it: nothing is written.
    TimeoutBeforeCommit,
    /// The backend commits, then the connection drops: written, but the caller sees an
    /// [`Error::OutcomeUnknown`].
    ErrorAfterCommit,
    /// The backend commits, then the call times out: written, but the caller sees a timeout.
    TimeoutAfterCommit,
    /// The batch reaches the backend twice (a lost acknowledgement retried by a lower layer);
    /// the caller sees the answer to the second delivery.
    DuplicateDelivery,
    /// A read fails with a retryable backend error.
    ReadError,
    /// The commit never reaches the backend and the call never completes: nothing is written;
    /// the caller must give up (drop the future, see [`poll_then_drop`]).
    HangBeforeCommit,
    /// The backend commits, then the call never completes: written, and the caller never
    /// learns it unless it retries with the same idempotency key.
    HangAfterCommit,
}

impl Fault {
    /// Every fault, in declaration order.
    pub const ALL: [Fault; 9] = [
        Fault::ErrorBeforeCommit,
        Fault::PartialWriteRolledBack,
        Fault::TimeoutBeforeCommit,
        Fault::ErrorAfterCommit,
        Fault::TimeoutAfterCommit,
        Fault::DuplicateDelivery,
        Fault::ReadError,
        Fault::HangBeforeCommit,
        Fault::HangAfterCommit,
    ];

    /// Whether the fault applies to commits (all but [`Fault::ReadError`]).
    pub fn is_commit_fault(self) -> bool {
        self != Fault::ReadError
    }

    /// Whether the batch was stored although the caller saw an error or no answer at all: the
    /// "unknown outcome" a client resolves by retrying with the same idempotency key.
    pub fn outcome_unknown(self) -> bool {
        matches!(
            self,
            Fault::ErrorAfterCommit | Fault::TimeoutAfterCommit | Fault::HangAfterCommit
        )
    }

    /// Whether the call never completes ([`Fault::HangBeforeCommit`],
    /// [`Fault::HangAfterCommit`]).
    pub fn hangs(self) -> bool {
        matches!(self, Fault::HangBeforeCommit | Fault::HangAfterCommit)
    }

    /// A short stable name (`error_after_commit`, …).
    pub fn name(self) -> &'static str {
        match self {
            Fault::ErrorBeforeCommit => "error_before_commit",
            Fault::PartialWriteRolledBack => "partial_write_rolled_back",
            Fault::TimeoutBeforeCommit => "timeout_before_commit",
            Fault::ErrorAfterCommit => "error_after_commit",
            Fault::TimeoutAfterCommit => "timeout_after_commit",
            Fault::DuplicateDelivery => "duplicate_delivery",
            Fault::ReadError => "read_error",
            Fault::HangBeforeCommit => "hang_before_commit",
            Fault::HangAfterCommit => "hang_after_commit",
        }
    }

    fn index(self) -> usize {
        match self {
            Fault::ErrorBeforeCommit => 0,
            Fault::PartialWriteRolledBack => 1,
            Fault::TimeoutBeforeCommit => 2,
            Fault::ErrorAfterCommit => 3,
            Fault::TimeoutAfterCommit => 4,
            Fault::DuplicateDelivery => 5,
            Fault::ReadError => 6,
            Fault::HangBeforeCommit => 7,
            Fault::HangAfterCommit => 8,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which batches [`Fault::DuplicateDelivery`] may deliver twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DuplicateScope {
    /// Only batches with an idempotency claim (the second delivery is a replay). The default:
    /// the storage contract makes exactly these safe to deliver twice.
    #[default]
    Claimed,
    /// Batches with an idempotency claim, a journal-head expectation or any write expecting a
    /// version or absence (the second delivery is a replay, a stale view or a conflict).
    Conditional,
    /// Every batch, including unconditional ones whose journal appends the second delivery
    /// writes again. Use it to find out which writers rely on exactly-once delivery.
    All,
}

impl DuplicateScope {
    fn admits(self, batch: &Batch) -> bool {
        let claimed = batch.idempotency().is_some();
        match self {
            DuplicateScope::Claimed => claimed,
            DuplicateScope::Conditional => {
                claimed
                    || !batch.heads().is_empty()
                    || batch.writes().iter().any(|w| w.expect() != Expect::Any)
            }
            DuplicateScope::All => true,
        }
    }
}

const PPM: u64 = 1_000_000;

/// A seeded plan of faults: the probability of each [`Fault`] per call.
///
/// Commit faults are drawn together (their probabilities must add up to at most 1); read faults
/// are drawn for reads. With the same seed and the same sequence of calls, the same calls fail.
///
/// The hang faults ([`Fault::HangBeforeCommit`], [`Fault::HangAfterCommit`]) are never part of
/// [`chaos`](FaultPlan::chaos): a call that never completes needs a caller that gives up (a
/// [`poll_then_drop`] or a timeout around every store call), so a simulation opts in with
/// [`rate`](FaultPlan::rate) or [`FaultyStore::script`].
///
/// ```
/// use marketingforce_core::storage::{DuplicateScope, Fault, FaultPlan};
///
/// let plan = FaultPlan::new(42)
///     .rate(Fault::ErrorAfterCommit, 0.05).unwrap()
///     .rate(Fault::DuplicateDelivery, 0.02).unwrap()
///     .duplicate_scope(DuplicateScope::Claimed);
/// assert_eq!(plan.probability(Fault::ErrorAfterCommit), 0.05);
/// assert!(FaultPlan::new(1).rate(Fault::ReadError, 1.5).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    seed: u64,
    /// Parts per million, indexed by [`Fault::index`].
    rates: [u64; 9],
    duplicate_scope: DuplicateScope,
}

impl FaultPlan {
    /// A plan with seed `seed` and no faults (add them with [`rate`](Self::rate)).
    pub fn new(seed: u64) -> FaultPlan {
        FaultPlan {
            seed,
            rates: [0; 9],
            duplicate_scope: DuplicateScope::default(),
        }
    }

    /// A plan where a commit fails with probability `commit_probability`, spread over the commit
    /// faults (a quarter each to errors and timeouts after commit, the rest evenly over the
    /// others), and a read fails with a tenth of that probability.
    ///
    /// # Errors
    /// A validation error on `commit_probability` outside 0–1.
    pub fn chaos(seed: u64, commit_probability: f64) -> Result<FaultPlan> {
        let p = commit_probability;
        FaultPlan::new(seed)
            .rate(Fault::ErrorAfterCommit, p * 0.25)?
            .rate(Fault::TimeoutAfterCommit, p * 0.15)?
            .rate(Fault::ErrorBeforeCommit, p * 0.2)?
            .rate(Fault::PartialWriteRolledBack, p * 0.15)?
            .rate(Fault::TimeoutBeforeCommit, p * 0.1)?
            .rate(Fault::DuplicateDelivery, p * 0.15)?
            .rate(Fault::ReadError, p * 0.1)
    }

    /// Inject `fault` with `probability` (0–1) per eligible call.
    ///
    /// # Errors
    /// A validation error on `probability` when it is outside 0–1 or not a number, or when the
    /// commit faults together would exceed 1.
    pub fn rate(mut self, fault: Fault, probability: f64) -> Result<FaultPlan> {
        if !(0.0..=1.0).contains(&probability) {
            return Err(Error::validation(
                format!("rates.{}", fault.name()),
                format!("{probability} is not a probability (0-1)"),
            ));
        }
        // Rounded to parts per million; the cast cannot truncate (0 ≤ p·10⁶ ≤ 10⁶).
        let ppm = (probability * PPM as f64).round() as u64;
        self.rates[fault.index()] = ppm;
        if self.commit_total() > PPM {
            return Err(Error::validation(
                format!("rates.{}", fault.name()),
                "the commit faults together exceed probability 1",
            ));
        }
        Ok(self)
    }

    /// Choose which batches may be delivered twice (default [`DuplicateScope::Claimed`]).
    #[must_use]
    pub fn duplicate_scope(mut self, scope: DuplicateScope) -> FaultPlan {
        self.duplicate_scope = scope;
        self
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The probability of `fault` per eligible call.
    pub fn probability(&self, fault: Fault) -> f64 {
        self.rates[fault.index()] as f64 / PPM as f64
    }

    fn commit_total(&self) -> u64 {
        Fault::ALL
            .iter()
            .filter(|f| f.is_commit_fault())
            .map(|f| self.rates[f.index()])
            .sum()
    }

    /// The fault (if any) for call number `call`, drawn from the seed.
    fn draw(&self, call: u64, commit: bool) -> Option<Fault> {
        let roll = splitmix64(self.seed ^ splitmix64(call)) % PPM;
        let mut threshold = 0;
        for fault in Fault::ALL {
            if fault.is_commit_fault() != commit {
                continue;
            }
            threshold += self.rates[fault.index()];
            if roll < threshold {
                return Some(fault);
            }
        }
        None
    }
}

/// A [`Store`] call, as recorded with an injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreCall {
    /// [`Store::get`].
    Get,
    /// [`Store::list`].
    List,
    /// [`Store::lookup`].
    Lookup,
    /// [`Store::read_journal`].
    ReadJournal,
    /// [`Store::idempotency`].
    Idempotency,
    /// [`Store::commit`].
    Commit,
    /// [`Store::journal_head`].
    JournalHead,
}

/// One fault that was injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault {
    /// The number of the call (every call of the store counts, from 1).
    pub call: u64,
    /// The tenant of the call.
    pub tenant: TenantId,
    /// Which call.
    pub operation: StoreCall,
    /// The collection, journal or idempotency key the call was about (for commits: the
    /// idempotency key, or the first collection or journal written).
    pub target: String,
    /// The fault.
    pub fault: Fault,
    /// Record writes in the batch (commits).
    pub writes: usize,
    /// Journal appends in the batch (commits).
    pub appends: usize,
    /// What the backend answered, when it was reached (`committed`, `replayed`, an error code).
    pub backend: String,
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "call {} {:?} on {} ({}): {} [backend: {}]",
            self.call, self.operation, self.target, self.tenant, self.fault, self.backend
        )
    }
}

#[derive(Debug, Default)]
struct Log {
    injected: Vec<InjectedFault>,
    counts: BTreeMap<Fault, u64>,
    /// Scripted faults, each for the next eligible call whose target contains the pattern.
    script: VecDeque<(Fault, Option<String>)>,
}

/// A [`Store`] that injects the failures of a [`FaultPlan`] into calls to the store it wraps.
/// See the [module docs](self).
///
/// ```
/// use std::sync::Arc;
/// use marketingforce_core::storage::{Batch, Fault, FaultPlan, FaultyStore, MemoryStore, Store};
/// use marketingforce_core::tenant::TenantId;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // Every commit is delivered twice; only claimed batches are eligible by default.
/// let store = FaultyStore::new(
///     Arc::new(MemoryStore::new()),
///     FaultPlan::new(3).rate(Fault::DuplicateDelivery, 1.0).unwrap(),
/// );
/// let t = TenantId::new();
/// let mut batch = Batch::new();
/// batch.append("events", b"e".to_vec()).claim_idempotency("k", "fp", b"done".to_vec());
/// store.commit(&t, batch).await.unwrap();
/// assert_eq!(store.inner().read_journal(&t, "events", 0, 9).await.unwrap().len(), 1);
/// assert_eq!(store.counts()[&Fault::DuplicateDelivery], 1);
/// // Set-up and checks run with injection paused.
/// store.pause();
/// assert!(store.get(&t, "any", "key").await.unwrap().is_none());
/// # });
/// ```
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    plan: FaultPlan,
    calls: AtomicU64,
    paused: AtomicBool,
    yielding: AtomicBool,
    log: Mutex<Log>,
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyStore")
            .field("inner", &self.inner.backend())
            .field("plan", &self.plan)
            .field("calls", &self.calls())
            .field("paused", &self.is_paused())
            .finish_non_exhaustive()
    }
}

impl FaultyStore {
    /// Wrap `inner`, injecting the faults of `plan`.
    pub fn new(inner: Arc<dyn Store>, plan: FaultPlan) -> FaultyStore {
        FaultyStore {
            inner,
            plan,
            calls: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            yielding: AtomicBool::new(false),
            log: Mutex::new(Log::default()),
        }
    }

    /// Make every call suspend once before it reaches the wrapped store — and a commit once
    /// more after it, before its answer is returned — the way calls over a network do. An
    /// in-memory store never suspends, so without this a call cancelled by
    /// [`poll_then_drop`] after `n` polls is dropped only where the
    /// service itself suspends; with it, the `n`-th poll reaches the `n`-th store call, and a
    /// drop right after a commit leaves it written with the answer lost. Deterministic on a
    /// current-thread runtime.
    pub fn suspend_at_every_call(&self, on: bool) {
        self.yielding.store(on, Ordering::Relaxed);
    }

    async fn suspend(&self) {
        if self.yielding.load(Ordering::Relaxed) {
            tokio::task::yield_now().await;
        }
    }

    /// The wrapped store (reads and writes through it see no faults).
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// The plan.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Stop injecting faults (drawn and scripted) until [`resume`](Self::resume). Calls still
    /// count, so pausing does not shift the faults of later calls.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Inject faults again.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Whether injection is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Make the next eligible call fail with `fault` (a commit for commit faults, a read for
    /// [`Fault::ReadError`]), ahead of the plan. Scripted faults queue up in order.
    pub fn script(&self, fault: Fault) {
        self.log().script.push_back((fault, None));
    }

    /// Like [`script`](Self::script), for the next eligible call whose target contains
    /// `pattern`: for commits the idempotency key, the collection and key written first or the
    /// journal appended to (`"modules.usage"`, `"ads.top_up:"`); for reads the collection,
    /// journal or idempotency key read.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use marketingforce_core::storage::{Batch, Fault, FaultPlan, FaultyStore, MemoryStore};
    /// use marketingforce_core::storage::Store;
    /// use marketingforce_core::tenant::TenantId;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = FaultyStore::new(Arc::new(MemoryStore::new()), FaultPlan::new(1));
    /// store.script_matching(Fault::ErrorBeforeCommit, "ledger");
    /// let t = TenantId::new();
    /// let mut other = Batch::new();
    /// other.append("usage", b"1".to_vec());
    /// assert!(store.commit(&t, other).await.is_ok()); // not the target: no fault
    /// let mut ledger = Batch::new();
    /// ledger.append("ledger", b"1".to_vec());
    /// assert!(store.commit(&t, ledger).await.is_err());
    /// # });
    /// ```
    pub fn script_matching(&self, fault: Fault, pattern: impl Into<String>) {
        self.log().script.push_back((fault, Some(pattern.into())));
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Every fault injected so far, in order.
    pub fn injected(&self) -> Vec<InjectedFault> {
        self.log().injected.clone()
    }

    /// The faults injected since the last call of this method (the log is emptied; the counts
    /// are kept).
    pub fn take_injected(&self) -> Vec<InjectedFault> {
        std::mem::take(&mut self.log().injected)
    }

    /// How many faults of each kind were injected so far.
    pub fn counts(&self) -> BTreeMap<Fault, u64> {
        self.log().counts.clone()
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count the call and decide its fault.
    fn decide(&self, commit: bool, batch: Option<&Batch>, target: &str) -> (u64, Option<Fault>) {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.is_paused() {
            return (call, None);
        }
        let eligible = |f: Fault| {
            f.is_commit_fault() == commit
                && (f != Fault::DuplicateDelivery
                    || batch.is_some_and(|b| self.plan.duplicate_scope.admits(b)))
        };
        {
            let mut log = self.log();
            let scripted = log.script.iter().position(|(f, pattern)| {
                eligible(*f) && pattern.as_deref().is_none_or(|p| target.contains(p))
            });
            if let Some(pos) = scripted {
                return (call, log.script.remove(pos).map(|(f, _)| f));
            }
        }
        (call, self.plan.draw(call, commit).filter(|f| eligible(*f)))
    }

    fn record(&self, fault: InjectedFault) {
        let mut log = self.log();
        *log.counts.entry(fault.fault).or_insert(0) += 1;
        log.injected.push(fault);
    }

    fn read_fault(&self, tenant: &TenantId, operation: StoreCall, target: &str) -> Result<()> {
        let (call, fault) = self.decide(false, None, target);
        let Some(fault) = fault else { return Ok(()) };
        self.record(InjectedFault {
            call,
            tenant: *tenant,
            operation,
            target: target.to_string(),
            fault,
            writes: 0,
            appends: 0,
            backend: "not reached".into(),
        });
        Err(injected_error(
            self.inner.backend(),
            fault,
            &format!("{operation:?} {target}"),
        ))
    }
}

fn injected_error(backend: &str, fault: Fault, what: &str) -> Error {
    match fault {
        Fault::TimeoutBeforeCommit | Fault::TimeoutAfterCommit => Error::Timeout {
            operation: format!("{backend} {what} (injected {fault})"),
        },
        Fault::ErrorAfterCommit => Error::outcome_unknown(
            format!("{backend} {what}"),
            format!("injected {fault}: the connection dropped after the commit was sent"),
        ),
        _ => Error::backend_message(backend, true, format!("injected {fault} on {what}")),
    }
}

fn outcome_name(outcome: &Result<CommitOutcome>) -> String {
    match outcome {
        Ok(CommitOutcome::Committed(_)) => "committed".into(),
        Ok(CommitOutcome::Replayed(_)) => "replayed".into(),
        Err(e) => e.code().into(),
    }
}

fn target_of(batch: &Batch) -> String {
    if let Some(c) = batch.idempotency() {
        return format!("idempotency key {}", c.key);
    }
    if let Some(w) = batch.writes().first() {
        return format!("{}/{}", w.collection(), w.key());
    }
    if let Some(a) = batch.appends().first() {
        return format!("journal {}", a.journal);
    }
    batch.heads().first().map_or_else(
        || "empty batch".into(),
        |h| format!("fence on journal {}", h.journal),
    )
}

#[async_trait]
impl Store for FaultyStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn limits(&self) -> StoreLimits {
        self.inner.limits()
    }

    async fn get(&self, tenant: &TenantId, collection: &str, key: &str) -> Result<Option<Record>> {
        self.suspend().await;
        self.read_fault(tenant, StoreCall::Get, collection)?;
        self.inner.get(tenant, collection, key).await
    }

    async fn list(
        &self,
        tenant: &TenantId,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        self.suspend().await;
        self.read_fault(tenant, StoreCall::List, collection)?;
        self.inner.list(tenant, collection, page).await
    }

    async fn lookup(
        &self,
        tenant: &TenantId,
        collection: &str,
        index: &str,
        value: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        self.suspend().await;
        self.read_fault(tenant, StoreCall::Lookup, collection)?;
        self.inner
            .lookup(tenant, collection, index, value, page)
            .await
    }

    async fn read_journal(
        &self,
        tenant: &TenantId,
        journal: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>> {
        self.suspend().await;
        self.read_fault(tenant, StoreCall::ReadJournal, journal)?;
        self.inner.read_journal(tenant, journal, after, limit).await
    }

    async fn journal_head(&self, tenant: &TenantId, journal: &str) -> Result<u64> {
        self.suspend().await;
        self.read_fault(tenant, StoreCall::JournalHead, journal)?;
        self.inner.journal_head(tenant, journal).await
    }

    async fn idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<(String, Vec<u8>)>> {
        self.suspend().await;
        self.read_fault(tenant, StoreCall::Idempotency, key)?;
        self.inner.idempotency(tenant, key).await
    }

    async fn commit(&self, tenant: &TenantId, batch: Batch) -> Result<CommitOutcome> {
        self.suspend().await;
        let target = target_of(&batch);
        let (call, fault) = self.decide(true, Some(&batch), &target);
        let Some(fault) = fault else {
            let outcome = self.inner.commit(tenant, batch).await;
            self.suspend().await;
            return outcome;
        };
        let mut injected = InjectedFault {
            call,
            tenant: *tenant,
            operation: StoreCall::Commit,
            target,
            fault,
            writes: batch.writes().len(),
            appends: batch.appends().len(),
            backend: "not reached".into(),
        };
        let what = format!("commit of {}", injected.target);
        let backend = self.inner.backend();
        let result = match fault {
            Fault::ErrorBeforeCommit | Fault::TimeoutBeforeCommit => {
                Err(injected_error(backend, fault, &what))
            }
            Fault::PartialWriteRolledBack => {
                // Fail after a deterministic share of the writes (0 when there are none).
                let writes = batch.writes().len();
                let after = usize::try_from(splitmix64(self.plan.seed ^ call.rotate_left(29)))
                    .unwrap_or(0)
                    % (writes + 1);
                let mut batch = batch;
                batch.fail_after_writes(after);
                let outcome = self.inner.commit(tenant, batch).await;
                injected.backend = format!("{} after {after} write(s)", outcome_name(&outcome));
                match outcome {
                    Err(e) => Err(e),
                    // A backend that ignores the injection point committed: say so loudly.
                    Ok(_) => Err(Error::backend_message(
                        backend,
                        false,
                        format!("{what}: backend ignored Batch::fail_after_writes({after})"),
                    )),
                }
            }
            Fault::ErrorAfterCommit | Fault::TimeoutAfterCommit => {
                let outcome = self.inner.commit(tenant, batch).await;
                injected.backend = outcome_name(&outcome);
                match outcome {
                    Ok(_) => Err(injected_error(backend, fault, &what)),
                    Err(e) => Err(e),
                }
            }
            Fault::DuplicateDelivery => {
                let first = self.inner.commit(tenant, batch.clone()).await;
                match first {
                    Ok(_) => {
                        let second = self.inner.commit(tenant, batch).await;
                        injected.backend =
                            format!("{}, then {}", outcome_name(&first), outcome_name(&second));
                        second
                    }
                    Err(e) => {
                        injected.backend = e.code().to_string();
                        Err(e)
                    }
                }
            }
            Fault::HangBeforeCommit => {
                self.record(injected);
                return std::future::pending().await;
            }
            Fault::HangAfterCommit => {
                let outcome = self.inner.commit(tenant, batch).await;
                injected.backend = outcome_name(&outcome);
                self.record(injected);
                return std::future::pending().await;
            }
            Fault::ReadError => self.inner.commit(tenant, batch).await,
        };
        self.record(injected);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn wrap(plan: FaultPlan) -> (Arc<dyn Store>, FaultyStore) {
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
        (memory.clone(), FaultyStore::new(memory, plan))
    }

    fn batch(key: Option<&str>) -> Batch {
        let mut b = Batch::new();
        b.put("c", "k", b"v".to_vec(), vec![], Expect::Any);
        b.append("j", b"e".to_vec());
        if let Some(k) = key {
            b.claim_idempotency(k, "fp", b"r".to_vec());
        }
        b
    }

    async fn journal_len(store: &dyn Store, t: &TenantId) -> usize {
        store.read_journal(t, "j", 0, 100).await.unwrap().len()
    }

    #[test]
    fn faults_before_commit_write_nothing() {
        run(async {
            let (memory, store) = wrap(FaultPlan::new(1));
            let t = TenantId::new();
            for fault in [
                Fault::ErrorBeforeCommit,
                Fault::PartialWriteRolledBack,
                Fault::TimeoutBeforeCommit,
            ] {
                store.script(fault);
                let e = store.commit(&t, batch(Some("a"))).await.unwrap_err();
                assert!(e.is_retryable(), "{fault}: {e}");
                assert_eq!(journal_len(memory.as_ref(), &t).await, 0, "{fault}");
                assert!(memory.get(&t, "c", "k").await.unwrap().is_none(), "{fault}");
                assert!(memory.idempotency(&t, "a").await.unwrap().is_none());
            }
            assert_eq!(store.injected().len(), 3);
        });
    }

    #[test]
    fn faults_after_commit_write_once_and_report_an_error() {
        run(async {
            let (memory, store) = wrap(FaultPlan::new(1));
            let t = TenantId::new();
            store.script(Fault::TimeoutAfterCommit);
            let e = store.commit(&t, batch(Some("a"))).await.unwrap_err();
            assert!(matches!(e, Error::Timeout { .. }), "{e}");
            assert_eq!(journal_len(memory.as_ref(), &t).await, 1);
            // The retry is a replay.
            assert!(matches!(
                store.commit(&t, batch(Some("a"))).await.unwrap(),
                CommitOutcome::Replayed(_)
            ));
            assert_eq!(journal_len(memory.as_ref(), &t).await, 1);
            assert_eq!(store.injected()[0].backend, "committed");
        });
    }

    #[test]
    fn faults_that_committed_never_read_as_nothing_changed() {
        run(async {
            let (memory, store) = wrap(FaultPlan::new(1));
            let t = TenantId::new();
            for (i, fault) in [Fault::ErrorAfterCommit, Fault::TimeoutAfterCommit]
                .into_iter()
                .enumerate()
            {
                store.script(fault);
                let e = store
                    .commit(&t, batch(Some(&format!("k{i}"))))
                    .await
                    .unwrap_err();
                assert_eq!(e.kind(), crate::ErrorKind::OutcomeUnknown, "{fault}: {e}");
                assert!(e.is_retryable());
                assert!(fault.outcome_unknown());
            }
            store.script(Fault::ErrorAfterCommit);
            let e = store.commit(&t, batch(Some("k9"))).await.unwrap_err();
            assert!(matches!(e, Error::OutcomeUnknown { .. }), "{e}");
            assert_eq!(journal_len(memory.as_ref(), &t).await, 3);
            // Faults that wrote nothing never claim an unknown outcome they do not have.
            store.script(Fault::ErrorBeforeCommit);
            let e = store.commit(&t, batch(None)).await.unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Unavailable);
        });
    }

    #[test]
    fn hung_calls_end_only_when_the_caller_gives_up() {
        run(async {
            let (memory, store) = wrap(FaultPlan::new(1));
            let t = TenantId::new();
            store.script(Fault::HangBeforeCommit);
            assert!(poll_then_drop(store.commit(&t, batch(Some("a"))), 50)
                .await
                .is_none());
            assert_eq!(journal_len(memory.as_ref(), &t).await, 0);
            assert!(memory.idempotency(&t, "a").await.unwrap().is_none());

            store.script(Fault::HangAfterCommit);
            assert!(poll_then_drop(store.commit(&t, batch(Some("a"))), 50)
                .await
                .is_none());
            assert_eq!(journal_len(memory.as_ref(), &t).await, 1);
            // The retry with the same key learns it happened.
            assert!(matches!(
                store.commit(&t, batch(Some("a"))).await.unwrap(),
                CommitOutcome::Replayed(_)
            ));
            let injected = store.injected();
            assert_eq!(
                injected.iter().map(|f| f.fault).collect::<Vec<_>>(),
                [Fault::HangBeforeCommit, Fault::HangAfterCommit]
            );
            assert_eq!(injected[1].backend, "committed");
            assert!(Fault::HangAfterCommit.outcome_unknown() && Fault::HangAfterCommit.hangs());
            assert!(!Fault::HangBeforeCommit.outcome_unknown());
            // Drawn hangs need an opt-in rate; chaos never hangs.
            let chaos = FaultPlan::chaos(1, 1.0).unwrap();
            assert_eq!(chaos.probability(Fault::HangAfterCommit), 0.0);
            let plan = FaultPlan::new(1)
                .rate(Fault::HangBeforeCommit, 1.0)
                .unwrap();
            let (_, hanging) = wrap(plan);
            assert!(poll_then_drop(hanging.commit(&t, batch(None)), 5)
                .await
                .is_none());
        });
    }

    #[test]
    fn journal_heads_are_read_through_and_can_fail() {
        run(async {
            let (_, store) = wrap(FaultPlan::new(1));
            let t = TenantId::new();
            store.commit(&t, batch(None)).await.unwrap();
            assert_eq!(store.journal_head(&t, "j").await.unwrap(), 1);
            store.script_matching(Fault::ReadError, "j");
            assert!(store
                .journal_head(&t, "j")
                .await
                .unwrap_err()
                .is_retryable());
            assert_eq!(store.injected()[0].operation, StoreCall::JournalHead);
        });
    }

    #[test]
    fn duplicate_delivery_replays_claimed_batches_only_by_default() {
        run(async {
            let (memory, store) = wrap(FaultPlan::new(1));
            let t = TenantId::new();
            store.script(Fault::DuplicateDelivery);
            let out = store.commit(&t, batch(Some("a"))).await.unwrap();
            assert_eq!(out, CommitOutcome::Replayed(b"r".to_vec()));
            assert_eq!(journal_len(memory.as_ref(), &t).await, 1);
            // An unclaimed batch is not eligible: the scripted fault waits for a claimed one.
            store.script(Fault::DuplicateDelivery);
            store.commit(&t, batch(None)).await.unwrap();
            assert_eq!(journal_len(memory.as_ref(), &t).await, 2);
            assert_eq!(store.injected().len(), 1);
            let out = store.commit(&t, batch(Some("b"))).await.unwrap();
            assert_eq!(out, CommitOutcome::Replayed(b"r".to_vec()));
            assert_eq!(journal_len(memory.as_ref(), &t).await, 3);
            assert_eq!(store.injected().len(), 2);
        });
    }

    #[test]
    fn duplicate_delivery_of_everything_doubles_unconditional_appends() {
        run(async {
            let (memory, store) = wrap(FaultPlan::new(1).duplicate_scope(DuplicateScope::All));
            let t = TenantId::new();
            store.script(Fault::DuplicateDelivery);
            store.commit(&t, batch(None)).await.unwrap();
            assert_eq!(journal_len(memory.as_ref(), &t).await, 2);
            // A conditional write delivered twice conflicts the second time.
            let store = FaultyStore::new(
                memory.clone(),
                FaultPlan::new(1).duplicate_scope(DuplicateScope::Conditional),
            );
            let mut b = Batch::new();
            b.put("c", "new", b"v".to_vec(), vec![], Expect::Absent);
            store.script(Fault::DuplicateDelivery);
            let e = store.commit(&t, b).await.unwrap_err();
            assert!(matches!(e, Error::Conflict { .. }), "{e}");
            assert!(memory.get(&t, "c", "new").await.unwrap().is_some());
            // A fenced append delivered twice: the second delivery finds the head moved.
            let mut b = Batch::new();
            b.expect_head("fenced", 0).append("fenced", b"x".to_vec());
            store.script(Fault::DuplicateDelivery);
            let e = store.commit(&t, b).await.unwrap_err();
            assert!(matches!(e, Error::StaleView { .. }), "{e}");
            assert_eq!(memory.journal_head(&t, "fenced").await.unwrap(), 1);
        });
    }

    #[test]
    fn scripted_faults_can_target_a_collection_or_journal() {
        run(async {
            let (memory, store) = wrap(FaultPlan::new(1));
            let t = TenantId::new();
            store.script_matching(Fault::ErrorAfterCommit, "journal j2");
            store.script_matching(Fault::ReadError, "other");
            assert!(store.get(&t, "c", "k").await.is_ok());
            assert!(store.commit(&t, batch(None)).await.is_ok());
            let mut b = Batch::new();
            b.append("j2", b"x".to_vec());
            assert!(store.commit(&t, b).await.is_err());
            assert_eq!(memory.read_journal(&t, "j2", 0, 9).await.unwrap().len(), 1);
            assert!(store.get(&t, "other", "k").await.is_err());
            assert_eq!(store.injected().len(), 2);
        });
    }

    #[test]
    fn read_errors_and_pause() {
        run(async {
            let (_, store) = wrap(FaultPlan::new(1).rate(Fault::ReadError, 1.0).unwrap());
            let t = TenantId::new();
            assert!(store.get(&t, "c", "k").await.unwrap_err().is_retryable());
            store.pause();
            assert!(store.get(&t, "c", "k").await.unwrap().is_none());
            store.resume();
            assert!(store.read_journal(&t, "j", 0, 1).await.is_err());
            assert_eq!(store.counts().get(&Fault::ReadError), Some(&2));
            assert_eq!(store.take_injected().len(), 2);
            assert!(store.injected().is_empty());
            assert_eq!(store.calls(), 3);
        });
    }

    #[test]
    fn the_same_seed_injects_the_same_faults() {
        let trace = |seed: u64| {
            run(async move {
                let (_, store) = wrap(FaultPlan::chaos(seed, 0.3).unwrap());
                let t = TenantId::new();
                let mut outcomes = Vec::new();
                for i in 0..200 {
                    let key = format!("k{i}");
                    let r = store.commit(&t, batch(Some(&key))).await;
                    outcomes.push(outcome_name(&r));
                    let _ = store.get(&t, "c", "k").await;
                }
                let faults: Vec<(u64, Fault)> =
                    store.injected().iter().map(|f| (f.call, f.fault)).collect();
                (outcomes, faults)
            })
        };
        let (a, b) = (trace(9), trace(9));
        assert_eq!(a, b);
        assert!(!a.1.is_empty());
        assert_ne!(a.1, trace(10).1);
        // Roughly the asked rate of commit faults (0.3 × 200 = 60 expected).
        let commit_faults = a.1.iter().filter(|(_, f)| f.is_commit_fault()).count();
        assert!((30..=90).contains(&commit_faults), "{commit_faults}");
    }

    #[test]
    fn plans_validate_their_rates() {
        assert!(FaultPlan::new(1)
            .rate(Fault::ErrorAfterCommit, f64::NAN)
            .is_err());
        let e = FaultPlan::new(1)
            .rate(Fault::ErrorAfterCommit, 0.6)
            .unwrap()
            .rate(Fault::ErrorBeforeCommit, 0.6)
            .unwrap_err();
        assert!(e.to_string().contains("rates.error_before_commit"), "{e}");
        assert_eq!(FaultPlan::chaos(1, 0.0).unwrap(), FaultPlan::new(1));
    }

    /// With no faults planned, the wrapper passes the whole conformance suite.
    mod passthrough_conformance {
        use super::*;

        async fn passthrough() -> Option<Arc<dyn Store>> {
            Some(Arc::new(FaultyStore::new(
                Arc::new(MemoryStore::new()),
                FaultPlan::new(3),
            )))
        }

        crate::store_conformance_tests!(passthrough);
    }
}
