//! The in-memory ledger engine: pure, synchronous, no I/O.

use std::collections::HashMap;

use marketingforce_core::money::Currency;

use super::error::{AccountError, TransferError};
use super::ids::{AccountId, IdBuildHasher, TransferId};
use super::model::{
    Account, Balance, Leg, Outcome, PendingState, Side, Transfer, TransferKind, TransferSpec,
};

/// Most legs in one transfer.
pub const MAX_LEGS: usize = 64;

#[derive(Debug, Clone)]
struct AccountState {
    account: Account,
    balance: Balance,
    /// (timestamp, balance after the change), when the account keeps history.
    history: Vec<(u64, Balance)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecKind {
    Posted,
    Pending,
    PostPending(u32),
    VoidPending(u32),
}

#[derive(Debug, Clone, Copy)]
struct TransferRec {
    id: u128,
    timestamp: u64,
    kind: RecKind,
    legs_start: u32,
    legs_len: u32,
    code: u16,
    period: u32,
    party: u128,
    counterparty: u128,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LegRec {
    slot: u32,
    side: Side,
    amount: u64,
}

/// A position in the engine's history to roll back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    accounts: usize,
    transfers: usize,
    last_timestamp: u64,
}

/// The in-memory double-entry engine.
///
/// The in-memory ledger engine: pure, synchronous, no I/O.
///
/// Accounts live in a dense array indexed through a hash map of their ids; transfers are
/// appended to one array with their legs in a second, flat array (no allocation per transfer).
/// Every write is checked completely before it is applied, and every applied transfer can be
/// undone exactly, which is what makes batches atomic and lets the durable [`Ledger`] roll back
/// the memory state when a storage commit fails.
///
/// [`Ledger`]: crate::ledger::Ledger
///
/// ```
/// use marketingforce_ads::ledger::{Account, AccountFlags, AccountId, LedgerEngine, Leg,
///    TransferId, TransferSpec};
/// use marketingforce_core::money::Currency;
///
/// let mut ledger = LedgerEngine::new();
/// let deposit = AccountId::new(1);
/// let cash = AccountId::new(2);
/// let flags = AccountFlags { debits_must_not_exceed_credits: true, ..AccountFlags::NONE };
/// ledger.create_account(Account { id: deposit, currency: Currency::CNY, code: 1, owner: 0, flags }).unwrap();
/// ledger.create_account(Account { id: cash, currency: Currency::CNY, code: 2, owner: 0,
///    flags: AccountFlags::NONE }).unwrap();
///
/// // The customer pays 100.00 in: cash up, deposit (a liability) up.
/// let pay = TransferSpec::posted(TransferId::new(1), vec![
///    Leg::debit_minor(cash, 10_000, Currency::CNY),
///    Leg::credit_minor(deposit, 10_000, Currency::CNY),
/// ]);
/// ledger.submit(&[pay.clone()], 1).unwrap();
/// // Replaying the same transfer changes nothing.
/// assert!(!ledger.submit(&[pay], 2).unwrap()[0].is_created());
/// // Spending 150.00 of a 100.00 deposit is refused at write time.
/// let overspend = TransferSpec::posted(TransferId::new(2), vec![
///    Leg::debit_minor(deposit, 15_000, Currency::CNY),
///    Leg::credit_minor(cash, 15_000, Currency::CNY),
/// ]);
/// assert!(ledger.submit(&[overspend], 3).is_err());
/// assert_eq!(ledger.balance(deposit).unwrap().credits_posted, 10_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LedgerEngine {
    accounts: Vec<AccountState>,
    account_index: HashMap<u128, u32, IdBuildHasher>,
    transfers: Vec<TransferRec>,
    legs: Vec<LegRec>,
    transfer_index: HashMap<u128, u32, IdBuildHasher>,
    /// pending transfer index → (posted?, index of the resolving transfer)
    resolutions: HashMap<u32, (bool, u32), IdBuildHasher>,
    by_period: HashMap<u32, Vec<u32>, IdBuildHasher>,
    last_timestamp: u64,
}

/// A read-only view of a stored transfer.
#[derive(Debug, Clone, Copy)]
pub struct TransferView<'a> {
    engine: &'a LedgerEngine,
    rec: &'a TransferRec,
}

impl<'a> TransferView<'a> {
    /// The id.
    pub fn id(&self) -> TransferId {
        TransferId::new(self.rec.id)
    }

    /// The commit timestamp.
    pub fn timestamp(&self) -> u64 {
        self.rec.timestamp
    }

    /// The client code.
    pub fn code(&self) -> u16 {
        self.rec.code
    }

    /// The client period.
    pub fn period(&self) -> u32 {
        self.rec.period
    }

    /// The client party.
    pub fn party(&self) -> u128 {
        self.rec.party
    }

    /// The client counterparty.
    pub fn counterparty(&self) -> u128 {
        self.rec.counterparty
    }

    /// The kind.
    pub fn kind(&self) -> TransferKind {
        self.engine.kind_of(self.rec)
    }

    /// The transfer's own legs (none for post/void).
    pub fn legs(&self) -> impl Iterator<Item = Leg> + 'a {
        let engine = self.engine;
        engine
            .leg_recs(self.rec)
            .iter()
            .map(move |l| engine.leg_of(l))
    }

    /// The first leg, if any.
    pub fn first_leg(&self) -> Option<Leg> {
        self.engine
            .leg_recs(self.rec)
            .first()
            .map(|l| self.engine.leg_of(l))
    }

    /// An owned copy.
    pub fn to_transfer(&self) -> Transfer {
        self.engine.to_transfer(self.rec)
    }
}

impl LedgerEngine {
    /// An empty ledger.
    pub fn new() -> LedgerEngine {
        LedgerEngine::default()
    }

    /// An empty ledger with room for `accounts` accounts and `transfers` two-leg transfers.
    pub fn with_capacity(accounts: usize, transfers: usize) -> LedgerEngine {
        LedgerEngine {
            accounts: Vec::with_capacity(accounts),
            account_index: HashMap::with_capacity_and_hasher(accounts, IdBuildHasher::default()),
            transfers: Vec::with_capacity(transfers),
            legs: Vec::with_capacity(transfers * 2),
            transfer_index: HashMap::with_capacity_and_hasher(transfers, IdBuildHasher::default()),
            ..LedgerEngine::default()
        }
    }

    // ----- accounts -----------------------------------------------------------------------

    /// Create an account; `Ok(false)` when it exists with identical attributes.
    ///
    /// # Errors
    /// A zero id, both constraints at once, or an existing id with other attributes.
    pub fn create_account(&mut self, account: Account) -> Result<bool, AccountError> {
        if account.id.get() == 0 {
            return Err(AccountError::IdMustNotBeZero);
        }
        if account.flags.debits_must_not_exceed_credits
            && account.flags.credits_must_not_exceed_debits
        {
            return Err(AccountError::ConflictingFlags(account.id));
        }
        if let Some(&slot) = self.account_index.get(&account.id.get()) {
            return if self.accounts[slot as usize].account == account {
                Ok(false)
            } else {
                Err(AccountError::ExistsWithDifferentContent(account.id))
            };
        }
        let slot = u32::try_from(self.accounts.len()).map_err(|_| AccountError::IdMustNotBeZero)?;
        self.account_index.insert(account.id.get(), slot);
        self.accounts.push(AccountState {
            account,
            balance: Balance::default(),
            history: Vec::new(),
        });
        Ok(true)
    }

    /// The account with `id`.
    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.slot(id).map(|s| &self.accounts[s].account)
    }

    /// Every account with its current balance, in creation order.
    pub fn accounts(&self) -> impl Iterator<Item = (&Account, &Balance)> {
        self.accounts.iter().map(|a| (&a.account, &a.balance))
    }

    /// Number of accounts.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// The current balance of `id`.
    pub fn balance(&self, id: AccountId) -> Option<Balance> {
        self.slot(id).map(|s| self.accounts[s].balance)
    }

    /// The balance of `id` as of `timestamp` (after every transfer committed at or before it).
    /// Uses the account's history when it keeps one, otherwise scans the transfers.
    pub fn balance_at(&self, id: AccountId, timestamp: u64) -> Option<Balance> {
        let slot = self.slot(id)?;
        let state = &self.accounts[slot];
        if state.account.flags.history {
            let n = state.history.partition_point(|(t, _)| *t <= timestamp);
            return Some(if n == 0 {
                Balance::default()
            } else {
                state.history[n - 1].1
            });
        }
        let mut balance = Balance::default();
        let upto = self.transfers.partition_point(|t| t.timestamp <= timestamp);
        for rec in &self.transfers[..upto] {
            self.effects(rec, |s, field, amount| {
                if s == slot as u32 {
                    apply_field(&mut balance, field, amount, true);
                }
            });
        }
        Some(balance)
    }

    /// The history of an account that keeps one: `(commit timestamp, balance after)` for every
    /// transfer that changed it, in commit order (`None`: no such account; empty without
    /// history).
    pub fn history(&self, id: AccountId) -> Option<&[(u64, Balance)]> {
        self.slot(id).map(|s| self.accounts[s].history.as_slice())
    }

    /// The transfer committed at `timestamp` (timestamps are unique and increasing).
    pub fn transfer_at(&self, timestamp: u64) -> Option<TransferView<'_>> {
        let i = self.transfers.partition_point(|t| t.timestamp < timestamp);
        self.transfers
            .get(i)
            .filter(|t| t.timestamp == timestamp)
            .map(|rec| TransferView { engine: self, rec })
    }

    /// Sum of (debits − credits) over all accounts per currency as of `timestamp`, posted and
    /// pending separately. Double entry makes every entry zero at every instant.
    pub fn trial_balance_at(&self, timestamp: u64) -> Vec<(Currency, i128, i128)> {
        let mut totals: Vec<(Currency, i128, i128)> = Vec::new();
        for state in &self.accounts {
            let b = self
                .balance_at(state.account.id, timestamp)
                .unwrap_or_default();
            let posted = b.net_debit_posted();
            let pending = b.net_debit_with_pending() - posted;
            match totals
                .iter_mut()
                .find(|(c, _, _)| *c == state.account.currency)
            {
                Some(t) => {
                    t.1 += posted;
                    t.2 += pending;
                }
                None => totals.push((state.account.currency, posted, pending)),
            }
        }
        totals
    }

    fn slot(&self, id: AccountId) -> Option<usize> {
        self.account_index.get(&id.get()).map(|s| *s as usize)
    }

    // ----- transfers: reads ---------------------------------------------------------------

    /// Number of transfers.
    pub fn transfer_count(&self) -> usize {
        self.transfers.len()
    }

    /// The timestamp of the last transfer (zero when empty).
    pub fn last_timestamp(&self) -> u64 {
        self.last_timestamp
    }

    /// The transfer with `id`.
    pub fn transfer(&self, id: TransferId) -> Option<TransferView<'_>> {
        self.transfer_index.get(&id.get()).map(|&i| TransferView {
            engine: self,
            rec: &self.transfers[i as usize],
        })
    }

    /// Every transfer in commit order.
    pub fn transfers(&self) -> impl Iterator<Item = TransferView<'_>> {
        self.transfers
            .iter()
            .map(move |rec| TransferView { engine: self, rec })
    }

    /// The transfers whose `period` is `period`, in commit order.
    pub fn transfers_in_period(&self, period: u32) -> impl Iterator<Item = TransferView<'_>> {
        self.by_period
            .get(&period)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(move |&i| TransferView {
                engine: self,
                rec: &self.transfers[i as usize],
            })
    }

    /// The periods that have transfers, ascending.
    pub fn periods(&self) -> Vec<u32> {
        let mut p: Vec<u32> = self.by_period.keys().copied().collect();
        p.sort_unstable();
        p
    }

    /// The state of a pending transfer.
    pub fn pending_state(&self, id: TransferId) -> Option<PendingState> {
        let &i = self.transfer_index.get(&id.get())?;
        if self.transfers[i as usize].kind != RecKind::Pending {
            return None;
        }
        Some(match self.resolutions.get(&i) {
            None => PendingState::Open,
            Some(&(true, by)) => PendingState::Posted {
                by: TransferId::new(self.transfers[by as usize].id),
            },
            Some(&(false, by)) => PendingState::Voided {
                by: TransferId::new(self.transfers[by as usize].id),
            },
        })
    }

    /// Owned copies of the transfers written after `checkpoint`.
    pub fn transfers_since(&self, checkpoint: &Checkpoint) -> Vec<Transfer> {
        self.transfers[checkpoint.transfers.min(self.transfers.len())..]
            .iter()
            .map(|r| self.to_transfer(r))
            .collect()
    }

    /// The accounts created after `checkpoint`.
    pub fn accounts_since(&self, checkpoint: &Checkpoint) -> Vec<Account> {
        self.accounts[checkpoint.accounts.min(self.accounts.len())..]
            .iter()
            .map(|a| a.account)
            .collect()
    }

    fn leg_recs(&self, rec: &TransferRec) -> &[LegRec] {
        let start = rec.legs_start as usize;
        &self.legs[start..start + rec.legs_len as usize]
    }

    fn leg_of(&self, l: &LegRec) -> Leg {
        let account = &self.accounts[l.slot as usize].account;
        Leg {
            account: account.id,
            side: l.side,
            amount: l.amount,
            currency: account.currency,
        }
    }

    fn kind_of(&self, rec: &TransferRec) -> TransferKind {
        match rec.kind {
            RecKind::Posted => TransferKind::Posted,
            RecKind::Pending => TransferKind::Pending,
            RecKind::PostPending(p) => TransferKind::PostPending {
                pending_id: TransferId::new(self.transfers[p as usize].id),
            },
            RecKind::VoidPending(p) => TransferKind::VoidPending {
                pending_id: TransferId::new(self.transfers[p as usize].id),
            },
        }
    }

    fn to_transfer(&self, rec: &TransferRec) -> Transfer {
        Transfer {
            spec: TransferSpec {
                id: TransferId::new(rec.id),
                kind: self.kind_of(rec),
                legs: self.leg_recs(rec).iter().map(|l| self.leg_of(l)).collect(),
                code: rec.code,
                period: rec.period,
                party: rec.party,
                counterparty: rec.counterparty,
            },
            timestamp: rec.timestamp,
        }
    }

    /// Call `f(slot, field, amount)` for every balance change `rec` makes.
    fn effects(&self, rec: &TransferRec, mut f: impl FnMut(u32, Field, u64)) {
        match rec.kind {
            RecKind::Posted => {
                for l in self.leg_recs(rec) {
                    f(l.slot, Field::posted(l.side), l.amount);
                }
            }
            RecKind::Pending => {
                for l in self.leg_recs(rec) {
                    f(l.slot, Field::pending(l.side), l.amount);
                }
            }
            RecKind::PostPending(p) => {
                for l in self.leg_recs(&self.transfers[p as usize]) {
                    f(l.slot, Field::PendingToPosted(l.side), l.amount);
                }
            }
            RecKind::VoidPending(p) => {
                for l in self.leg_recs(&self.transfers[p as usize]) {
                    f(l.slot, Field::ReleasePending(l.side), l.amount);
                }
            }
        }
    }

    // ----- transfers: writes --------------------------------------------------------------

    /// Where the engine is now, to [`rollback`](LedgerEngine::rollback) to.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            accounts: self.accounts.len(),
            transfers: self.transfers.len(),
            last_timestamp: self.last_timestamp,
        }
    }

    /// Undo every account and transfer written after `checkpoint`, exactly.
    pub fn rollback(&mut self, checkpoint: Checkpoint) {
        while self.transfers.len() > checkpoint.transfers {
            self.undo_last();
        }
        while self.accounts.len() > checkpoint.accounts {
            if let Some(a) = self.accounts.pop() {
                self.account_index.remove(&a.account.id.get());
            }
        }
        self.last_timestamp = checkpoint.last_timestamp;
    }

    /// Submit transfers atomically: all are written (or found to exist already) or none is.
    /// New transfers get strictly increasing timestamps, the first no earlier than `now`
    /// (nanoseconds since the Unix epoch).
    ///
    /// # Errors
    /// The index of the first refused transfer and why; nothing of the batch is written.
    pub fn submit(
        &mut self,
        transfers: &[TransferSpec],
        now: u64,
    ) -> Result<Vec<Outcome>, (usize, TransferError)> {
        let checkpoint = self.checkpoint();
        let mut outcomes = Vec::with_capacity(transfers.len());
        for (i, spec) in transfers.iter().enumerate() {
            match self.apply(spec, now) {
                Ok(o) => outcomes.push(o),
                Err(e) => {
                    self.rollback(checkpoint);
                    return Err((i, e));
                }
            }
        }
        Ok(outcomes)
    }

    /// Write one transfer (see [`LedgerEngine::submit`]).
    ///
    /// # Errors
    /// Why it was refused; nothing was written.
    pub fn apply(&mut self, spec: &TransferSpec, now: u64) -> Result<Outcome, TransferError> {
        let id = spec.id.get();
        if id == 0 {
            return Err(TransferError::IdMustNotBeZero);
        }
        let index = u32::try_from(self.transfers.len())
            .map_err(|_| TransferError::Overflow(AccountId::new(0)))?;
        // One hash probe on the common path: claim the id, give it back if it was taken.
        if let Some(previous) = self.transfer_index.insert(id, index) {
            self.transfer_index.insert(id, previous);
            let rec = self.transfers[previous as usize];
            return if self.same_content(&rec, spec) {
                Ok(Outcome::Exists {
                    timestamp: rec.timestamp,
                })
            } else {
                Err(TransferError::ExistsWithDifferentContent(spec.id))
            };
        }
        let timestamp = now.max(self.last_timestamp.saturating_add(1));
        if let Err(e) = self.write(spec, timestamp) {
            self.transfer_index.remove(&id);
            return Err(e);
        }
        Ok(Outcome::Created { timestamp })
    }

    /// Re-apply a transfer read back from the journal, with its recorded timestamp.
    ///
    /// # Errors
    /// Anything [`LedgerEngine::apply`] refuses, or a timestamp not after the previous one.
    pub fn restore(&mut self, transfer: &Transfer) -> Result<(), TransferError> {
        if transfer.timestamp <= self.last_timestamp {
            return Err(TransferError::TimestampRegressed(transfer.spec.id));
        }
        if transfer.spec.id.get() == 0 {
            return Err(TransferError::IdMustNotBeZero);
        }
        if self.transfer_index.contains_key(&transfer.spec.id.get()) {
            return Err(TransferError::ExistsWithDifferentContent(transfer.spec.id));
        }
        let index = u32::try_from(self.transfers.len())
            .map_err(|_| TransferError::Overflow(AccountId::new(0)))?;
        self.write(&transfer.spec, transfer.timestamp)?;
        self.transfer_index.insert(transfer.spec.id.get(), index);
        Ok(())
    }

    fn same_content(&self, rec: &TransferRec, spec: &TransferSpec) -> bool {
        if rec.code != spec.code
            || rec.period != spec.period
            || rec.party != spec.party
            || rec.counterparty != spec.counterparty
            || self.kind_of(rec) != spec.kind
        {
            return false;
        }
        let legs = self.leg_recs(rec);
        legs.len() == spec.legs.len()
            && legs
                .iter()
                .zip(&spec.legs)
                .all(|(l, s)| self.leg_of(l) == *s)
    }

    fn write(&mut self, spec: &TransferSpec, timestamp: u64) -> Result<(), TransferError> {
        let index = u32::try_from(self.transfers.len())
            .map_err(|_| TransferError::Overflow(AccountId::new(0)))?;
        let legs_start = u32::try_from(self.legs.len())
            .map_err(|_| TransferError::Overflow(AccountId::new(0)))?;
        let (kind, legs_len) = match spec.kind {
            TransferKind::Posted | TransferKind::Pending => {
                let pending = spec.kind == TransferKind::Pending;
                let slots = self.check_legs(&spec.legs, pending)?;
                for (leg, &slot) in spec.legs.iter().zip(slots.as_slice()) {
                    let field = if pending {
                        Field::pending(leg.side)
                    } else {
                        Field::posted(leg.side)
                    };
                    self.change(slot, field, leg.amount, timestamp);
                    self.legs.push(LegRec {
                        slot,
                        side: leg.side,
                        amount: leg.amount,
                    });
                }
                let kind = if pending {
                    RecKind::Pending
                } else {
                    RecKind::Posted
                };
                (kind, spec.legs.len() as u32)
            }
            TransferKind::PostPending { pending_id } | TransferKind::VoidPending { pending_id } => {
                if !spec.legs.is_empty() {
                    return Err(TransferError::LegsNotAllowed);
                }
                let post = matches!(spec.kind, TransferKind::PostPending { .. });
                let p = self.open_pending(pending_id)?;
                let pending_rec = self.transfers[p as usize];
                let start = pending_rec.legs_start as usize;
                for k in start..start + pending_rec.legs_len as usize {
                    let l = self.legs[k];
                    let field = if post {
                        Field::PendingToPosted(l.side)
                    } else {
                        Field::ReleasePending(l.side)
                    };
                    self.change(l.slot, field, l.amount, timestamp);
                }
                self.resolutions.insert(p, (post, index));
                let kind = if post {
                    RecKind::PostPending(p)
                } else {
                    RecKind::VoidPending(p)
                };
                (kind, 0)
            }
        };
        self.transfers.push(TransferRec {
            id: spec.id.get(),
            timestamp,
            kind,
            legs_start,
            legs_len,
            code: spec.code,
            period: spec.period,
            party: spec.party,
            counterparty: spec.counterparty,
        });
        self.by_period.entry(spec.period).or_default().push(index);
        self.last_timestamp = timestamp;
        Ok(())
    }

    fn open_pending(&self, pending_id: TransferId) -> Result<u32, TransferError> {
        let &p = self
            .transfer_index
            .get(&pending_id.get())
            .ok_or(TransferError::PendingNotFound(pending_id))?;
        if self.transfers[p as usize].kind != RecKind::Pending {
            return Err(TransferError::NotPending(pending_id));
        }
        match self.resolutions.get(&p) {
            None => Ok(p),
            Some(&(posted, by)) => {
                let by = TransferId::new(self.transfers[by as usize].id);
                Err(if posted {
                    TransferError::AlreadyPosted {
                        pending: pending_id,
                        by,
                    }
                } else {
                    TransferError::AlreadyVoided {
                        pending: pending_id,
                        by,
                    }
                })
            }
        }
    }

    /// Every check of a new posted or pending transfer, before anything is applied.
    fn check_legs(&self, legs: &[Leg], pending: bool) -> Result<Slots, TransferError> {
        if legs.len() < 2 || legs.len() > MAX_LEGS {
            return Err(TransferError::LegCount {
                count: legs.len(),
                max: MAX_LEGS,
            });
        }
        let mut slots = Slots::with_len(legs.len());
        let mut sums: [(Option<Currency>, u128, u128); 2] = [(None, 0, 0); 2];
        let mut extra_sums: Vec<(Currency, u128, u128)> = Vec::new();
        for (i, leg) in legs.iter().enumerate() {
            if leg.amount == 0 {
                return Err(TransferError::ZeroAmount { leg: i });
            }
            let Some(&slot) = self.account_index.get(&leg.account.get()) else {
                return Err(TransferError::AccountNotFound {
                    leg: i,
                    account: leg.account,
                });
            };
            slots.set(i, slot);
            let account = &self.accounts[slot as usize].account;
            if account.currency != leg.currency {
                return Err(TransferError::CurrencyMismatch {
                    leg: i,
                    account: leg.account,
                    account_currency: account.currency,
                    leg_currency: leg.currency,
                });
            }
            if legs[..i]
                .iter()
                .any(|o| o.account == leg.account && o.side != leg.side)
            {
                return Err(TransferError::AccountOnBothSides(leg.account));
            }
            let amount = u128::from(leg.amount);
            let (d, c) = match leg.side {
                Side::Debit => (amount, 0),
                Side::Credit => (0, amount),
            };
            if let Some(e) = sums.iter_mut().find(|e| e.0 == Some(leg.currency)) {
                e.1 += d;
                e.2 += c;
            } else if let Some(e) = sums.iter_mut().find(|e| e.0.is_none()) {
                *e = (Some(leg.currency), d, c);
            } else if let Some(e) = extra_sums.iter_mut().find(|e| e.0 == leg.currency) {
                e.1 += d;
                e.2 += c;
            } else {
                extra_sums.push((leg.currency, d, c));
            }
        }
        let all = sums
            .iter()
            .filter_map(|(c, d, k)| c.map(|c| (c, *d, *k)))
            .chain(extra_sums.iter().copied());
        for (currency, debits, credits) in all {
            if debits != credits {
                return Err(TransferError::Unbalanced {
                    currency,
                    debits,
                    credits,
                });
            }
        }
        // Balance constraints and overflow, per distinct account (all its legs together).
        for (i, leg) in legs.iter().enumerate() {
            if legs[..i].iter().any(|o| o.account == leg.account) {
                continue;
            }
            let total: u128 = legs
                .iter()
                .filter(|o| o.account == leg.account)
                .map(|o| u128::from(o.amount))
                .sum();
            let state = &self.accounts[slots.get(i) as usize];
            let b = &state.balance;
            let flags = state.account.flags;
            let overflow = || TransferError::Overflow(leg.account);
            match leg.side {
                Side::Debit => {
                    let debits = b
                        .debits_pending
                        .checked_add(b.debits_posted)
                        .and_then(|d| d.checked_add(total))
                        .ok_or_else(overflow)?;
                    if flags.debits_must_not_exceed_credits && debits > b.credits_posted {
                        return Err(TransferError::ExceedsCredits(leg.account));
                    }
                    let field = if pending {
                        b.debits_pending
                    } else {
                        b.debits_posted
                    };
                    field.checked_add(total).ok_or_else(overflow)?;
                }
                Side::Credit => {
                    let credits = b
                        .credits_pending
                        .checked_add(b.credits_posted)
                        .and_then(|c| c.checked_add(total))
                        .ok_or_else(overflow)?;
                    if flags.credits_must_not_exceed_debits && credits > b.debits_posted {
                        return Err(TransferError::ExceedsDebits(leg.account));
                    }
                    let field = if pending {
                        b.credits_pending
                    } else {
                        b.credits_posted
                    };
                    field.checked_add(total).ok_or_else(overflow)?;
                }
            }
        }
        Ok(slots)
    }

    fn change(&mut self, slot: u32, field: Field, amount: u64, timestamp: u64) {
        let state = &mut self.accounts[slot as usize];
        apply_field(&mut state.balance, field, amount, true);
        if state.account.flags.history {
            state.history.push((timestamp, state.balance));
        }
    }

    fn unchange(&mut self, slot: u32, field: Field, amount: u64) {
        let state = &mut self.accounts[slot as usize];
        apply_field(&mut state.balance, field, amount, false);
        if state.account.flags.history {
            state.history.pop();
        }
    }

    fn undo_last(&mut self) {
        let Some(rec) = self.transfers.pop() else {
            return;
        };
        let index = self.transfers.len() as u32;
        let mut changes: Vec<(u32, Field, u64)> = Vec::new();
        self.effects(&rec, |slot, field, amount| {
            changes.push((slot, field, amount))
        });
        for (slot, field, amount) in changes.into_iter().rev() {
            self.unchange(slot, field, amount);
        }
        match rec.kind {
            RecKind::PostPending(p) | RecKind::VoidPending(p) => {
                self.resolutions.remove(&p);
            }
            RecKind::Posted | RecKind::Pending => {
                self.legs.truncate(rec.legs_start as usize);
            }
        }
        self.transfer_index.remove(&rec.id);
        if let Some(v) = self.by_period.get_mut(&rec.period) {
            if v.last() == Some(&index) {
                v.pop();
            }
            if v.is_empty() {
                self.by_period.remove(&rec.period);
            }
        }
        self.last_timestamp = self.transfers.last().map_or(0, |t| t.timestamp);
    }
}

/// Account slots of a transfer's legs: inline for the usual few legs, on the heap beyond.
enum Slots {
    Inline([u32; 4], usize),
    Heap(Vec<u32>),
}

impl Slots {
    fn with_len(n: usize) -> Slots {
        if n <= 4 {
            Slots::Inline([0; 4], n)
        } else {
            Slots::Heap(vec![0; n])
        }
    }

    fn set(&mut self, i: usize, slot: u32) {
        match self {
            Slots::Inline(a, _) => a[i] = slot,
            Slots::Heap(v) => v[i] = slot,
        }
    }

    fn get(&self, i: usize) -> u32 {
        self.as_slice()[i]
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Slots::Inline(a, n) => &a[..*n],
            Slots::Heap(v) => v,
        }
    }
}

/// Which balance fields a change touches.
#[derive(Debug, Clone, Copy)]
enum Field {
    Posted(Side),
    Pending(Side),
    PendingToPosted(Side),
    ReleasePending(Side),
}

impl Field {
    fn posted(side: Side) -> Field {
        Field::Posted(side)
    }
    fn pending(side: Side) -> Field {
        Field::Pending(side)
    }
}

/// Apply (`forward`) or undo a change. Checked beforehand, so plain arithmetic cannot overflow
/// or underflow here; wrapping keeps it panic-free regardless.
fn apply_field(b: &mut Balance, field: Field, amount: u64, forward: bool) {
    let a = u128::from(amount);
    let add = |x: &mut u128| {
        *x = if forward {
            x.wrapping_add(a)
        } else {
            x.wrapping_sub(a)
        }
    };
    let sub = |x: &mut u128| {
        *x = if forward {
            x.wrapping_sub(a)
        } else {
            x.wrapping_add(a)
        }
    };
    match field {
        Field::Posted(Side::Debit) => add(&mut b.debits_posted),
        Field::Posted(Side::Credit) => add(&mut b.credits_posted),
        Field::Pending(Side::Debit) => add(&mut b.debits_pending),
        Field::Pending(Side::Credit) => add(&mut b.credits_pending),
        Field::PendingToPosted(Side::Debit) => {
            sub(&mut b.debits_pending);
            add(&mut b.debits_posted);
        }
        Field::PendingToPosted(Side::Credit) => {
            sub(&mut b.credits_pending);
            add(&mut b.credits_posted);
        }
        Field::ReleasePending(Side::Debit) => sub(&mut b.debits_pending),
        Field::ReleasePending(Side::Credit) => sub(&mut b.credits_pending),
    }
}
