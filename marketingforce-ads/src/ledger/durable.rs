//! The durable ledger: the in-memory engine journaled through the storage contract.

use std::sync::{Arc, PoisonError};

use marketingforce_core::env::Env;
use marketingforce_core::storage::{Batch, CommitOutcome, Store};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, Mutex};

use super::engine::{Checkpoint, LedgerEngine};
use super::ids::{AccountId, TransferId};
use super::model::{Account, Balance, Leg, Outcome, Side, Transfer, TransferKind, TransferSpec};
use crate::error::{AdsError, Result};

/// Default journal name.
pub const DEFAULT_JOURNAL: &str = "ads.ledger";

/// Transfers per journal entry (keeps entries well under the store's value limit).
const TRANSFERS_PER_ENTRY: usize = 2_000;

/// How many times a command refused because another process appended to the journal is
/// applied again on the caught-up engine before the refusal (a retryable
/// [`StaleView`](marketingforce_core::Error::StaleView)) is returned.
const STALE_ATTEMPTS: usize = 16;

/// Let the writers a stale attempt lost to finish first (more turns the more often it lost),
/// so that contention does not starve one of them.
async fn yield_turns(attempt: usize) {
    marketingforce_core::telemetry::stale_retry("ads.ledger", attempt as u64 - 1);
    for _ in 0..attempt {
        tokio::task::yield_now().await;
    }
}

fn is_stale(e: &AdsError) -> bool {
    matches!(
        e,
        AdsError::Core(marketingforce_core::Error::StaleView { .. })
    )
}

/// One journal entry.
#[derive(Debug, Serialize, Deserialize)]
enum JournalRecord {
    #[serde(rename = "accounts")]
    Accounts(Vec<Account>),
    #[serde(rename = "transfers")]
    Transfers(Vec<JournalTransfer>),
}

/// The compact journal form of a transfer (the legs' currencies are their accounts').
#[derive(Debug, Serialize, Deserialize)]
struct JournalTransfer {
    id: u128,
    ts: u64,
    /// 0 posted, 1 pending, 2 post pending, 3 void pending.
    k: u8,
    #[serde(default, skip_serializing_if = "is_zero")]
    p: u128,
    #[serde(default, skip_serializing_if = "is_zero16")]
    c: u16,
    #[serde(default, skip_serializing_if = "is_zero32")]
    pd: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    a: u128,
    #[serde(default, skip_serializing_if = "is_zero")]
    b: u128,
    /// (account, 0 debit / 1 credit, amount)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    l: Vec<(u128, u8, u64)>,
}

fn is_zero(v: &u128) -> bool {
    *v == 0
}
fn is_zero16(v: &u16) -> bool {
    *v == 0
}
fn is_zero32(v: &u32) -> bool {
    *v == 0
}

impl JournalTransfer {
    fn from_transfer(t: &Transfer) -> JournalTransfer {
        let (k, p) = match t.spec.kind {
            TransferKind::Posted => (0, 0),
            TransferKind::Pending => (1, 0),
            TransferKind::PostPending { pending_id } => (2, pending_id.get()),
            TransferKind::VoidPending { pending_id } => (3, pending_id.get()),
        };
        JournalTransfer {
            id: t.spec.id.get(),
            ts: t.timestamp,
            k,
            p,
            c: t.spec.code,
            pd: t.spec.period,
            a: t.spec.party,
            b: t.spec.counterparty,
            l: t.spec
                .legs
                .iter()
                .map(|l| (l.account.get(), u8::from(l.side == Side::Credit), l.amount))
                .collect(),
        }
    }

    fn to_transfer(&self, engine: &LedgerEngine) -> std::result::Result<Transfer, String> {
        let kind = match self.k {
            0 => TransferKind::Posted,
            1 => TransferKind::Pending,
            2 => TransferKind::PostPending {
                pending_id: TransferId::new(self.p),
            },
            3 => TransferKind::VoidPending {
                pending_id: TransferId::new(self.p),
            },
            other => return Err(format!("unknown transfer kind {other}")),
        };
        let legs = self
            .l
            .iter()
            .map(|&(account, side, amount)| {
                let id = AccountId::new(account);
                let currency = engine
                    .account(id)
                    .map(|a| a.currency)
                    .ok_or_else(|| format!("unknown account {id}"))?;
                Ok(Leg {
                    account: id,
                    side: if side == 0 { Side::Debit } else { Side::Credit },
                    amount,
                    currency,
                })
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        Ok(Transfer {
            spec: TransferSpec {
                id: TransferId::new(self.id),
                kind,
                legs,
                code: self.c,
                period: self.pd,
                party: self.a,
                counterparty: self.b,
            },
            timestamp: self.ts,
        })
    }
}

struct State {
    engine: LedgerEngine,
    journal_seq: u64,
    /// A commit failed or was answered as a replay: the journal may hold more than the engine
    /// (the "unknown outcome" of a lost acknowledgement), so the engine is reloaded from the
    /// journal before it is used again.
    stale: bool,
}

type Reply = oneshot::Sender<Result<Vec<Outcome>>>;

struct Queued {
    transfers: Vec<TransferSpec>,
    reply: Reply,
}

/// What [`Ledger::commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerCommit {
    /// The batch was committed; one outcome per transfer.
    Committed(Vec<Outcome>),
    /// The batch's idempotency key was used before with the same request: nothing was written
    /// (the memory state was rolled back) and this is the stored response.
    Replayed(Vec<u8>),
}

/// The durable, tenant-scoped double-entry ledger.
///
/// The durable ledger: the in-memory engine, journaled through the storage contract with group
/// commit.
///
/// Every accepted change is appended to a journal (`ads.ledger` by default) in the same atomic
/// [`Batch`] as whatever domain records go with it; opening a [`Ledger`] replays the journal, so
/// a new process on the same store rebuilds exactly the same state, timestamps included.
///
/// **Group commit**: concurrent [`Ledger::post`] calls queue their transfers; whichever caller
/// holds the commit lock takes the whole queue, applies each caller's transfers atomically in
/// memory, writes them all in one storage commit, and answers every caller. One storage round
/// trip serves many callers, and a failed commit rolls the memory state back for all of them.
///
/// **Several processes**: every write is conditional on the journal head the engine was built
/// at. A `Ledger` in another process that appended since makes the write stale: the engine
/// catches up from the journal tail (the other process's accounts and transfers) and the
/// command is applied again on top — a transfer that would now overdraw an account or exceed
/// its limit is refused — and written again, 16 times at most. So balances,
/// credit limits and prepayments hold with any number of processes; with one process per
/// tenant the head check never fails.
///
/// **Cancellation**: a call dropped while its commit is in flight leaves the engine marked
/// stale; it is reloaded from the journal before its next use, so memory never runs ahead of
/// the store.
///
/// ```
/// use std::sync::Arc;
/// use marketingforce_ads::ledger::{Account, AccountFlags, AccountId, Ledger, Leg, TransferId,
///    TransferSpec};
/// use marketingforce_core::env::Env;
/// use marketingforce_core::money::Currency;
/// use marketingforce_core::storage::{MemoryStore, Store};
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_core::time::{Clock, ManualClock};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_rfc3339("2026-03-01T00:00:00Z").unwrap());
/// let tenant = TenantId::new();
/// let ledger = Ledger::open(&Env::builder(store.clone()).clock(clock.clone()).build(), tenant).await.unwrap();
/// let (a, b) = (AccountId::new(1), AccountId::new(2));
/// ledger.create_accounts(vec![
///    Account { id: a, currency: Currency::CNY, code: 1, owner: 0, flags: AccountFlags::NONE },
///    Account { id: b, currency: Currency::CNY, code: 2, owner: 0, flags: AccountFlags::NONE },
/// ]).await.unwrap();
/// ledger.post(vec![TransferSpec::posted(TransferId::new(7), vec![
///    Leg::debit_minor(a, 100, Currency::CNY),
///    Leg::credit_minor(b, 100, Currency::CNY),
/// ])]).await.unwrap();
///
/// // A new process on the same store sees the same state.
/// let reopened = Ledger::open(&Env::builder(store).clock(clock).build(), tenant).await.unwrap();
/// assert_eq!(reopened.balance(a).await.unwrap().unwrap().debits_posted, 100);
/// # });
/// ```
pub struct Ledger {
    store: Arc<dyn Store>,
    tenant: TenantId,
    clock: Arc<dyn Clock>,
    journal: String,
    state: Mutex<State>,
    queue: std::sync::Mutex<Vec<Queued>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("tenant", &self.tenant)
            .field("journal", &self.journal)
            .field("store", &self.store.backend())
            .finish()
    }
}

impl Ledger {
    /// Open `tenant`'s ledger on `env` (its store and clock) in the default journal,
    /// replaying it.
    ///
    /// # Errors
    /// Storage errors, or [`AdsError::CorruptJournal`].
    pub async fn open(env: &Env, tenant: TenantId) -> Result<Ledger> {
        Ledger::open_journal(env, tenant, DEFAULT_JOURNAL).await
    }

    /// Open `tenant`'s ledger on `env` kept in `journal`.
    ///
    /// # Errors
    /// A bad journal name, storage errors, or [`AdsError::CorruptJournal`].
    pub async fn open_journal(env: &Env, tenant: TenantId, journal: &str) -> Result<Ledger> {
        marketingforce_core::storage::check_name(journal, "journal")?;
        let (store, clock) = (env.store().clone(), env.clock().clone());
        let (engine, journal_seq) = replay(store.as_ref(), &tenant, journal).await?;
        Ok(Ledger {
            store,
            tenant,
            clock,
            journal: journal.to_string(),
            state: Mutex::new(State {
                engine,
                journal_seq,
                stale: false,
            }),
            queue: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Run `f` on the engine (under the lock) for reads: balances, transfers, reports.
    ///
    /// The engine is first made current: reloaded from the journal if a commit whose outcome
    /// was unknown left it stale, then brought up to the journal's head (one head query; the
    /// tail is applied when another process appended). `f` only ever sees a current engine.
    ///
    /// # Errors
    /// The store cannot be read (the reload, the head query or the tail), or the journal
    /// cannot be replayed: the error is returned instead of answering from a possibly stale
    /// engine (the next use retries the reload).
    pub async fn read<R>(&self, f: impl FnOnce(&LedgerEngine) -> R) -> Result<R> {
        let mut state = self.state.lock().await;
        self.resync(&mut state).await?;
        if self.behind(&state).await? {
            if let Err(e) = self.catch_up(&mut state).await {
                // Partly applied: reload before the next use.
                state.stale = true;
                return Err(e);
            }
        }
        Ok(f(&state.engine))
    }

    /// Whether another process appended to the journal since the engine's position.
    async fn behind(&self, state: &State) -> Result<bool> {
        Ok(self.store.journal_head(&self.tenant, &self.journal).await? > state.journal_seq)
    }

    /// [`behind`](Self::behind) asked while the engine holds applied but unwritten transfers
    /// (a read error counts as not behind): dropped at the query, the engine is left marked
    /// stale and reloaded from the journal before its next use.
    async fn behind_unwritten(&self, state: &mut State) -> bool {
        state.stale = true;
        let behind = self.behind(state).await.unwrap_or(false);
        state.stale = false;
        behind
    }

    /// Apply what other processes appended to the journal since the engine's position.
    ///
    /// Failed or dropped half-way (a read error on a later page), the engine holds entries its
    /// position does not count: it is marked stale, and reloaded from the journal before its
    /// next use instead of applying those entries twice.
    async fn catch_up(&self, state: &mut State) -> Result<()> {
        state.stale = true;
        state.journal_seq = apply_tail(
            self.store.as_ref(),
            &self.tenant,
            &self.journal,
            &mut state.engine,
            state.journal_seq,
        )
        .await?;
        state.stale = false;
        Ok(())
    }

    /// Reload the engine from the journal if a failed or replayed commit left it stale.
    async fn resync(&self, state: &mut State) -> Result<()> {
        if state.stale {
            let (engine, seq) = replay(self.store.as_ref(), &self.tenant, &self.journal).await?;
            state.engine = engine;
            state.journal_seq = seq;
            state.stale = false;
        }
        Ok(())
    }

    /// Mark the engine stale and reload it from the journal now; if the journal cannot be read
    /// right now, the reload happens before the engine's next use.
    async fn reload(&self, state: &mut State) {
        state.stale = true;
        let _ = self.resync(state).await;
    }

    /// The current balance of an account (`None`: no such account).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub async fn balance(&self, id: AccountId) -> Result<Option<Balance>> {
        self.read(|e| e.balance(id)).await
    }

    /// The balance of an account as of a commit timestamp (`None`: no such account).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub async fn balance_at(&self, id: AccountId, timestamp: u64) -> Result<Option<Balance>> {
        self.read(|e| e.balance_at(id, timestamp)).await
    }

    /// A stored transfer (`None`: no such transfer).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>> {
        self.read(|e| e.transfer(id).map(|t| t.to_transfer())).await
    }

    /// Create accounts (idempotent per id); returns whether each was new.
    ///
    /// # Errors
    /// [`AdsError::LedgerAccount`] or storage errors; nothing is written then.
    #[operation("ads.ledger.create_accounts", tenant = self.tenant)]
    pub async fn create_accounts(&self, accounts: Vec<Account>) -> Result<Vec<bool>> {
        let mut state = self.state.lock().await;
        self.resync(&mut state).await?;
        self.serve_queue(&mut state).await;
        let mut attempt = 1;
        loop {
            let cp = state.engine.checkpoint();
            let created = create_in(&mut state.engine, &accounts, cp)?;
            match self.write(&mut state, cp, Batch::new()).await {
                Ok(CommitOutcome::Committed(_)) => return Ok(created),
                Ok(CommitOutcome::Replayed(_)) => return Ok(vec![false; accounts.len()]),
                Err(e) if is_stale(&e) && attempt < STALE_ATTEMPTS => {
                    attempt += 1;
                    yield_turns(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Post transfers atomically (all or none), durably, through group commit.
    ///
    /// # Errors
    /// [`AdsError::Transfer`] naming the refused transfer, or storage errors; nothing of the
    /// call is written then.
    #[operation("ads.ledger.post", tenant = self.tenant, observe = crate::telemetry::posted)]
    pub async fn post(&self, transfers: Vec<TransferSpec>) -> Result<Vec<Outcome>> {
        let (reply, mut answer) = oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Queued { transfers, reply });
        {
            let mut state = self.state.lock().await;
            // A previous leader may have served us while we waited for the lock, or taken our
            // transfers and been dropped (a closed receiver must not be awaited again).
            match answer.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => return Err(leader_cancelled()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            self.serve_queue(&mut state).await;
        }
        answer.await.unwrap_or_else(|_| Err(leader_cancelled()))
    }

    /// Create accounts and post transfers atomically together with `batch` (domain records, an
    /// idempotency claim): everything is committed in one storage commit or nothing is.
    ///
    /// # Errors
    /// Ledger refusals or storage errors (including an idempotency mismatch); the memory state
    /// is rolled back then.
    #[operation("ads.ledger.commit", tenant = self.tenant, observe = crate::telemetry::committed)]
    pub async fn commit(
        &self,
        accounts: Vec<Account>,
        transfers: Vec<TransferSpec>,
        batch: Batch,
    ) -> Result<LedgerCommit> {
        self.commit_checked(accounts, transfers, batch, |_| Ok(()))
            .await
    }

    /// [`commit`](Self::commit), after `check` accepted the engine's current state (a credit
    /// limit, a prepayment, platform funds): the check runs again, on the caught-up engine,
    /// whenever another process's appends made the first decision stale, so a limit that
    /// lives outside the ledger's account flags holds across processes too.
    ///
    /// # Errors
    /// As [`commit`](Self::commit), and the first error `check` returns (nothing written).
    #[operation("ads.ledger.commit_checked", tenant = self.tenant, observe = crate::telemetry::committed)]
    pub async fn commit_checked(
        &self,
        accounts: Vec<Account>,
        transfers: Vec<TransferSpec>,
        batch: Batch,
        check: impl Fn(&LedgerEngine) -> Result<()> + Send,
    ) -> Result<LedgerCommit> {
        let mut state = self.state.lock().await;
        self.resync(&mut state).await?;
        self.serve_queue(&mut state).await;
        let mut attempt = 1;
        let mut caught_up = false;
        loop {
            // A catch-up that failed after a stale attempt left the engine to be reloaded.
            self.resync(&mut state).await?;
            let cp = state.engine.checkpoint();
            let decided = check(&state.engine)
                .and_then(|()| create_in(&mut state.engine, &accounts, cp))
                .and_then(|_| {
                    let now = self.now();
                    state
                        .engine
                        .submit(&transfers, now)
                        .map_err(|(index, source)| {
                            state.engine.rollback(cp);
                            transfer_error(&transfers, index, source)
                        })
                });
            let outcomes = match decided {
                Ok(outcomes) => outcomes,
                // A refusal from an engine another process has moved past (a pending transfer
                // it holds, funds it added) may be false: decide again on the journal's head.
                Err(_) if !caught_up && self.behind(&state).await? => {
                    caught_up = true;
                    self.catch_up(&mut state).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match self.write(&mut state, cp, batch.clone()).await {
                Ok(CommitOutcome::Committed(_)) => return Ok(LedgerCommit::Committed(outcomes)),
                Ok(CommitOutcome::Replayed(response)) => {
                    return Ok(LedgerCommit::Replayed(response))
                }
                Err(e) if is_stale(&e) && attempt < STALE_ATTEMPTS => {
                    attempt += 1;
                    yield_turns(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn now(&self) -> u64 {
        self.clock
            .now()
            .timestamp_nanos_opt()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0)
    }

    /// Serve every queued `post` in one storage commit.
    async fn serve_queue(&self, state: &mut State) {
        let queued =
            std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
        if queued.is_empty() {
            return;
        }
        if let Err(e) = self.resync(state).await {
            for q in queued {
                let _ = q.reply.send(Err(AdsError::Core(
                    marketingforce_core::Error::backend_message(
                        self.store.backend(),
                        e.is_retryable(),
                        format!("ledger reload failed: {e}"),
                    ),
                )));
            }
            return;
        }
        let mut attempt = 1;
        let mut caught_up = false;
        let (results, written) = loop {
            // A catch-up that failed after a stale attempt left the engine to be reloaded.
            if state.stale {
                if let Err(e) = self.resync(state).await {
                    // Nothing decided: every caller gets the reload's failure.
                    let undecided = queued
                        .iter()
                        .map(|_| Err(AdsError::validation("ledger", "not decided")))
                        .collect();
                    break (undecided, Err(e));
                }
            }
            let cp = state.engine.checkpoint();
            let now = self.now();
            let mut results = Vec::with_capacity(queued.len());
            for q in &queued {
                results.push(
                    state
                        .engine
                        .submit(&q.transfers, now)
                        .map_err(|(index, source)| transfer_error(&q.transfers, index, source)),
                );
            }
            // A refusal from an engine another process has moved past may be false: decide
            // every transfer again on the journal's head.
            if !caught_up
                && results.iter().any(Result::is_err)
                && self.behind_unwritten(state).await
            {
                caught_up = true;
                state.engine.rollback(cp);
                if self.catch_up(state).await.is_err() {
                    state.stale = true;
                    let _ = self.resync(state).await;
                }
                continue;
            }
            match self.write(state, cp, Batch::new()).await {
                // Caught up with another process's appends: decide every transfer again.
                Err(e) if is_stale(&e) && attempt < STALE_ATTEMPTS => {
                    attempt += 1;
                    yield_turns(attempt).await;
                }
                written => break (results, written),
            }
        };
        for (q, result) in queued.into_iter().zip(results) {
            let answer = match &written {
                Ok(_) => result,
                Err(AdsError::Core(
                    e @ (marketingforce_core::Error::OutcomeUnknown { .. }
                    | marketingforce_core::Error::Timeout { .. }),
                )) => Err(AdsError::Core(marketingforce_core::Error::outcome_unknown(
                    "ledger group commit",
                    e.to_string(),
                ))),
                Err(e) => Err(AdsError::Core(marketingforce_core::Error::backend_message(
                    self.store.backend(),
                    e.is_retryable(),
                    format!("ledger group commit failed: {e}"),
                ))),
            };
            // The caller may have gone away; nothing to do then.
            let _ = q.reply.send(answer);
        }
    }

    /// Journal everything applied since `cp` together with `batch` and commit; roll the memory
    /// state back on failure or replay, and reload it from the journal: a failed commit may
    /// have been written (its acknowledgement lost), a replayed one was written by an earlier
    /// delivery of the same batch or by another writer.
    async fn write(
        &self,
        state: &mut State,
        cp: Checkpoint,
        mut batch: Batch,
    ) -> Result<CommitOutcome> {
        let accounts = state.engine.accounts_since(&cp);
        let transfers = state.engine.transfers_since(&cp);
        let mut appended = 0u64;
        let encode = |batch: &mut Batch, record: &JournalRecord| -> Result<()> {
            batch.append_json(self.journal.clone(), record)?;
            Ok(())
        };
        let staged = (|| -> Result<()> {
            for chunk in accounts.chunks(TRANSFERS_PER_ENTRY) {
                encode(&mut batch, &JournalRecord::Accounts(chunk.to_vec()))?;
                appended += 1;
            }
            for chunk in transfers.chunks(TRANSFERS_PER_ENTRY) {
                let records = chunk.iter().map(JournalTransfer::from_transfer).collect();
                encode(&mut batch, &JournalRecord::Transfers(records))?;
                appended += 1;
            }
            Ok(())
        })();
        if let Err(e) = staged {
            state.engine.rollback(cp);
            return Err(e);
        }
        if batch.is_empty() {
            return Ok(CommitOutcome::Committed(Default::default()));
        }
        // Written only if nobody appended since the engine's position.
        batch.expect_head(self.journal.clone(), state.journal_seq);
        // Dropped at the await below, the engine holds changes the store may not have: it
        // is reloaded before its next use.
        state.stale = true;
        let result = self.store.commit(&self.tenant, batch).await;
        state.stale = false;
        match result {
            Ok(CommitOutcome::Committed(receipt)) => {
                if appended > 0 {
                    // Our appends are the batch's last ones, right after the expected head.
                    state.journal_seq = receipt
                        .sequences
                        .last()
                        .copied()
                        .unwrap_or(state.journal_seq);
                }
                Ok(CommitOutcome::Committed(receipt))
            }
            Err(e @ marketingforce_core::Error::StaleView { .. }) => {
                // Another process appended: nothing was written. Take ours back and catch up.
                state.engine.rollback(cp);
                if self.catch_up(state).await.is_err() {
                    state.stale = true;
                }
                Err(e.into())
            }
            Ok(CommitOutcome::Replayed(response)) => {
                state.engine.rollback(cp);
                self.reload(state).await;
                Ok(CommitOutcome::Replayed(response))
            }
            Err(e) => {
                state.engine.rollback(cp);
                self.reload(state).await;
                Err(e.into())
            }
        }
    }
}

/// The answer of a `post` whose group commit leader was dropped, possibly while its commit
/// was in flight.
fn leader_cancelled() -> AdsError {
    AdsError::Core(marketingforce_core::Error::outcome_unknown(
        "ledger group commit",
        "the group commit leader was cancelled before answering; the transfers may or may not \
         have been written — read them back by id, or retry with the same ids",
    ))
}

fn create_in(engine: &mut LedgerEngine, accounts: &[Account], cp: Checkpoint) -> Result<Vec<bool>> {
    let mut created = Vec::with_capacity(accounts.len());
    for (index, a) in accounts.iter().enumerate() {
        match engine.create_account(*a) {
            Ok(c) => created.push(c),
            Err(source) => {
                engine.rollback(cp);
                return Err(AdsError::LedgerAccount { index, source });
            }
        }
    }
    Ok(created)
}

fn transfer_error(
    transfers: &[TransferSpec],
    index: usize,
    source: super::TransferError,
) -> AdsError {
    AdsError::Transfer {
        index,
        id: transfers.get(index).map(|t| t.id).unwrap_or_default(),
        source,
    }
}

async fn replay(
    store: &dyn Store,
    tenant: &TenantId,
    journal: &str,
) -> Result<(LedgerEngine, u64)> {
    let mut engine = LedgerEngine::new();
    let seq = apply_tail(store, tenant, journal, &mut engine, 0).await?;
    Ok((engine, seq))
}

/// Apply every journal entry after `after` to `engine`; returns the last sequence applied.
async fn apply_tail(
    store: &dyn Store,
    tenant: &TenantId,
    journal: &str,
    engine: &mut LedgerEngine,
    after: u64,
) -> Result<u64> {
    let mut seq = after;
    loop {
        let entries = store.read_journal(tenant, journal, seq, 256).await?;
        if entries.is_empty() {
            return Ok(seq);
        }
        for entry in entries {
            let corrupt = |reason: String| AdsError::CorruptJournal {
                journal: journal.to_string(),
                seq: entry.seq,
                reason,
            };
            let record: JournalRecord =
                serde_json::from_slice(&entry.payload).map_err(|e| corrupt(e.to_string()))?;
            match record {
                JournalRecord::Accounts(accounts) => {
                    for a in accounts {
                        engine
                            .create_account(a)
                            .map_err(|e| corrupt(e.to_string()))?;
                    }
                }
                JournalRecord::Transfers(transfers) => {
                    for t in transfers {
                        let transfer = t.to_transfer(engine).map_err(corrupt)?;
                        engine
                            .restore(&transfer)
                            .map_err(|e| corrupt(e.to_string()))?;
                    }
                }
            }
            seq = entry.seq;
        }
    }
}
