//! Reading the books: balances and paged statements of chart accounts, and settlement figures
//! over several months. Every read first brings the ledger up to the store's journal head and
//! fails rather than answer from a stale engine; an account that does not exist is
//! [`NotFound`](marketingforce_core::Error::NotFound), never a zero balance.

use marketingforce_core::money::Money;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::AdOps;
use crate::agreement::ServiceType;
use crate::chart::{AccountKind, PostingCode};
use crate::error::{AdsError, Result};
use crate::ids::{CustomerId, PlatformId};
use crate::ledger::{minor_to_money, Balance, LedgerEngine, Side, TransferId};
use crate::period::Month;
use crate::settlement::{SettlementFigures, SettlementRollup};

/// Whose chart account: the agency's own cash, a customer's, a platform's, or a service type's
/// revenue and cost accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BalanceOwner {
    /// The agency itself ([`AccountKind::Cash`]).
    Agency,
    /// A customer (receivables, deposits, rebates payable).
    Customer(CustomerId),
    /// A platform (prepayments, credit drawn, payables, rebates receivable).
    Platform(PlatformId),
    /// A service type (revenue, cost of services, staff costs).
    Service(ServiceType),
}

impl BalanceOwner {
    /// The owner of `kind` accounts this owner can hold, or a validation error on `owner`.
    fn check(self, kind: AccountKind) -> Result<u128> {
        use AccountKind as K;
        let fits = match (self, kind) {
            (BalanceOwner::Agency, K::Cash) => Some(0),
            (
                BalanceOwner::Customer(c),
                K::TradeReceivables | K::OtherReceivables | K::CustomerDeposits | K::RebatesPayable,
            ) => Some(c.as_uuid().as_u128()),
            (
                BalanceOwner::Platform(p),
                K::PlatformPrepayments
                | K::PlatformCreditDrawn
                | K::TradePayables
                | K::RebatesReceivable,
            ) => Some(p.as_uuid().as_u128()),
            (BalanceOwner::Service(s), K::Revenue | K::CostOfServices | K::StaffCosts) => {
                Some(s.code())
            }
            _ => None,
        };
        fits.ok_or_else(|| {
            AdsError::validation(
                "owner",
                format!("{kind} accounts are not held by {}", self.describe()),
            )
        })
    }

    fn describe(self) -> &'static str {
        match self {
            BalanceOwner::Agency => "the agency",
            BalanceOwner::Customer(_) => "a customer",
            BalanceOwner::Platform(_) => "a platform",
            BalanceOwner::Service(_) => "a service type",
        }
    }
}

/// Which part of a statement to read: entries after a cursor, at most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatementQuery {
    /// The cursor: the `next` of the previous page (`None`: from the first entry).
    #[serde(default)]
    pub after: Option<u64>,
    /// Entries per page, 1 to [`StatementQuery::MAX_LIMIT`].
    pub limit: usize,
}

impl StatementQuery {
    /// The largest page.
    pub const MAX_LIMIT: usize = 1_000;

    /// The first page of `limit` entries.
    pub fn first(limit: usize) -> StatementQuery {
        StatementQuery { after: None, limit }
    }
}

/// One change of an account: a transfer that moved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatementEntry {
    /// The ledger commit timestamp (also the page cursor).
    pub timestamp: u64,
    /// The transfer.
    pub transfer: TransferId,
    /// Its business meaning, when it carries a known posting code.
    pub code: Option<String>,
    /// Its period key (a month `YYYYMM` for settlement postings, a date `YYYYMMDD` otherwise).
    pub period: u32,
    /// The change of the posted balance, in the account's normal direction (positive: the
    /// balance grew).
    pub posted_change: Money,
    /// The change of the pending amount held against the account (top-ups in flight).
    pub pending_change: Money,
    /// The posted balance after the change, in the normal direction.
    pub balance_after: Money,
}

/// A page of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatementPage {
    /// The entries, oldest first.
    pub entries: Vec<StatementEntry>,
    /// The cursor of the next page, `None` on the last page.
    pub next: Option<u64>,
}

fn normal(kind: AccountKind, net_debit: i128) -> i128 {
    if kind.normal_side() == Side::Debit {
        net_debit
    } else {
        -net_debit
    }
}

fn pending(b: &Balance) -> i128 {
    b.net_debit_with_pending() - b.net_debit_posted()
}

fn page(
    engine: &LedgerEngine,
    kind: AccountKind,
    id: crate::ledger::AccountId,
    query: StatementQuery,
) -> Option<StatementPage> {
    let history = engine.history(id)?;
    let currency = engine.account(id)?.currency;
    let start = query
        .after
        .map_or(0, |after| history.partition_point(|(t, _)| *t <= after));
    let mut entries = Vec::with_capacity(query.limit.min(history.len()));
    for i in start..history.len().min(start.saturating_add(query.limit)) {
        let (timestamp, after) = history[i];
        let before = if i == 0 {
            Balance::default()
        } else {
            history[i - 1].1
        };
        let view = engine.transfer_at(timestamp);
        let m = |x: i128| minor_to_money(x, currency);
        entries.push(StatementEntry {
            timestamp,
            transfer: view
                .as_ref()
                .map_or(TransferId::new(0), crate::ledger::TransferView::id),
            code: view
                .as_ref()
                .and_then(|v| PostingCode::from_code(v.code()))
                .map(|c| format!("{c:?}")),
            period: view.as_ref().map_or(0, crate::ledger::TransferView::period),
            posted_change: m(normal(
                kind,
                after.net_debit_posted() - before.net_debit_posted(),
            )),
            pending_change: m(normal(kind, pending(&after) - pending(&before))),
            balance_after: m(normal(kind, after.net_debit_posted())),
        });
    }
    let next = (start + entries.len() < history.len())
        .then(|| entries.last().map(|e| e.timestamp))
        .flatten();
    Some(StatementPage { entries, next })
}

impl AdOps {
    /// The posted balance of a chart account, in its normal direction (receivables and
    /// prepayments as debits, deposits, payables and revenue as credits).
    ///
    /// ```
    /// # use marketingforce_ads::{AdOps, ops::BalanceOwner, chart::AccountKind};
    /// # async fn f(ops: &AdOps) -> marketingforce_ads::Result<()> {
    /// let cash = ops.account_balance(AccountKind::Cash, BalanceOwner::Agency).await?;
    /// # let _ = cash; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// An owner that cannot hold `kind` accounts (field `owner`); an account the ledger does
    /// not have (`NotFound`: e.g. a customer without agreement or accounts yet); the ledger
    /// cannot be brought up to date from the store.
    pub async fn account_balance(&self, kind: AccountKind, owner: BalanceOwner) -> Result<Money> {
        let raw = owner.check(kind)?;
        let id = self.chart.id(kind, raw);
        let currency = self.config.currency;
        let balance = self.ledger.balance(id).await?.ok_or_else(|| {
            AdsError::not_found("ledger account", format!("{kind} of {}", owner.describe()))
        })?;
        Ok(minor_to_money(
            normal(kind, balance.net_debit_posted()),
            currency,
        ))
    }

    /// A page of a chart account's statement: every change of the account, oldest first, with
    /// the transfer, its posting code and the balance after it.
    ///
    /// # Errors
    /// A `limit` of 0 or above [`StatementQuery::MAX_LIMIT`] (field `limit`); as
    /// [`account_balance`](Self::account_balance) otherwise.
    pub async fn account_statement(
        &self,
        kind: AccountKind,
        owner: BalanceOwner,
        query: StatementQuery,
    ) -> Result<StatementPage> {
        if query.limit == 0 || query.limit > StatementQuery::MAX_LIMIT {
            return Err(AdsError::validation(
                "limit",
                format!("must be 1 to {}", StatementQuery::MAX_LIMIT),
            ));
        }
        let raw = owner.check(kind)?;
        let id = self.chart.id(kind, raw);
        self.ledger
            .read(|e| page(e, kind, id, query))
            .await?
            .ok_or_else(|| {
                AdsError::not_found("ledger account", format!("{kind} of {}", owner.describe()))
            })
    }

    /// Settlement figures of the months `first` to `last` (inclusive) added up: overall, per
    /// service type, per platform and per month (see [`SettlementRollup`]). Months with
    /// nothing settled count as zero.
    ///
    /// # Errors
    /// `last` before `first` or a range over 120 months (field `last`); the ledger cannot be
    /// brought up to date from the store.
    pub async fn settlement_rollup(&self, first: Month, last: Month) -> Result<SettlementRollup> {
        if last < first {
            return Err(AdsError::validation(
                "last",
                format!("{last} is before {first}"),
            ));
        }
        let mut months = vec![first];
        while let Some(m) = months.last().copied().filter(|m| *m < last) {
            if months.len() >= 120 {
                return Err(AdsError::validation("last", "at most 120 months at a time"));
            }
            months.push(m.next());
        }
        let chart = self.chart;
        let figures = self
            .ledger
            .read(|e| {
                months
                    .iter()
                    .map(|m| SettlementFigures::from_ledger(e, &chart, *m))
                    .collect::<Result<Vec<_>>>()
            })
            .await??;
        SettlementRollup::of(&figures)
    }
}
