//! What the ledger holds: accounts with balance constraints, multi-leg transfers, balances.

use marketingforce_core::money::{Currency, Decimal, Money};
use marketingforce_core::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ids::{AccountId, TransferId};

/// Balance constraints and options of an account, enforced when a transfer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct AccountFlags {
    /// Debits (pending + posted) may never exceed posted credits: a credit balance that can
    /// never go below zero, e.g. a customer's prepaid deposit.
    pub debits_must_not_exceed_credits: bool,
    /// Credits (pending + posted) may never exceed posted debits: a debit balance that can
    /// never go below zero, e.g. prepaid funds at a platform.
    pub credits_must_not_exceed_debits: bool,
    /// Keep a balance snapshot per change so balances as of any instant are a binary search
    /// (without it, they are computed by scanning the transfers).
    pub history: bool,
}

impl AccountFlags {
    /// No constraint, no history.
    pub const NONE: AccountFlags = AccountFlags {
        debits_must_not_exceed_credits: false,
        credits_must_not_exceed_debits: false,
        history: false,
    };
}

/// A ledger account. Its `currency` is the unit of every amount posted to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    /// Client-chosen id (never zero).
    pub id: AccountId,
    /// Currency of the account; legs are integers in its minor unit.
    pub currency: Currency,
    /// Client-defined account type (the chart of accounts' kind).
    pub code: u16,
    /// Client-defined owner (e.g. the customer or platform), zero for none.
    pub owner: u128,
    /// Constraints and options.
    pub flags: AccountFlags,
}

/// Debit or credit.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Left side: increases assets and expenses.
    Debit,
    /// Right side: increases liabilities, equity and income.
    Credit,
}

impl Side {
    /// The other side.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }
}

/// One leg of a transfer: an amount debited or credited to an account, in whole minor units of
/// the account's currency (fen for CNY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Leg {
    /// The account.
    pub account: AccountId,
    /// Debit or credit.
    pub side: Side,
    /// Positive amount in minor units.
    pub amount: u64,
    /// The currency of the amount; must be the account's.
    pub currency: Currency,
}

impl Leg {
    /// A debit of `amount` minor units.
    pub const fn debit_minor(account: AccountId, amount: u64, currency: Currency) -> Leg {
        Leg {
            account,
            side: Side::Debit,
            amount,
            currency,
        }
    }

    /// A credit of `amount` minor units.
    pub const fn credit_minor(account: AccountId, amount: u64, currency: Currency) -> Leg {
        Leg {
            account,
            side: Side::Credit,
            amount,
            currency,
        }
    }

    /// A leg of `side` for a positive `money` amount in whole minor units.
    ///
    /// # Errors
    /// A validation error on `amount` for zero, negative, fractional-minor-unit or huge amounts.
    pub fn of_money(account: AccountId, side: Side, money: &Money) -> Result<Leg> {
        let minor = money.to_minor().ok_or_else(|| {
            Error::validation(
                "amount",
                format!("{money} has digits finer than the minor unit; round it first"),
            )
        })?;
        let amount = u64::try_from(minor)
            .ok()
            .filter(|a| *a > 0)
            .ok_or_else(|| Error::validation("amount", format!("{money} must be positive")))?;
        Ok(Leg {
            account,
            side,
            amount,
            currency: money.currency(),
        })
    }

    /// The amount as [`Money`].
    pub fn money(&self) -> Money {
        minor_to_money(i128::from(self.amount), self.currency)
    }
}

/// Money of `minor` units of `currency`.
pub fn minor_to_money(minor: i128, currency: Currency) -> Money {
    let mut amount = Decimal::from_i128_with_scale(minor, currency.minor_units());
    amount.rescale(currency.minor_units());
    Money::new(amount, currency)
}

/// What a transfer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransferKind {
    /// Single-phase: the legs are posted at once.
    Posted,
    /// Two-phase, first phase: the legs are reserved as pending amounts (a hold), counted
    /// against balance constraints, until posted or voided.
    Pending,
    /// Post a pending transfer: its legs move from pending to posted. Carries no legs itself.
    PostPending {
        /// The pending transfer.
        pending_id: TransferId,
    },
    /// Void a pending transfer: its reservation is released. Carries no legs itself.
    VoidPending {
        /// The pending transfer.
        pending_id: TransferId,
    },
}

/// A transfer as submitted: client-chosen id, kind, legs and client metadata.
///
/// The legs must balance per currency (debits = credits) and there must be at least two.
/// `code`, `period`, `party` and `counterparty` are the client's to use (the ads crate stores
/// the posting kind, the month or date, the customer and the platform there) and are part of the
/// content compared on replay.
///
/// ```
/// use marketingforce_ads::ledger::{AccountId, Leg, TransferId, TransferSpec};
/// use marketingforce_core::money::Currency;
///
/// let t = TransferSpec::posted(
///     TransferId::new(1),
///     vec![
///         Leg::debit_minor(AccountId::new(10), 5_000, Currency::CNY),
///         Leg::credit_minor(AccountId::new(20), 5_000, Currency::CNY),
///     ],
/// );
/// assert_eq!(t.legs.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct TransferSpec {
    /// Client-chosen id (never zero).
    pub id: TransferId,
    /// What the transfer does.
    pub kind: TransferKind,
    /// The legs (empty for post/void of a pending transfer).
    pub legs: Vec<Leg>,
    /// Client-defined code (posting kind).
    #[serde(default)]
    pub code: u16,
    /// Client-defined period or value date key (e.g. `202603` or `20260315`).
    #[serde(default)]
    pub period: u32,
    /// Client-defined party (e.g. the customer), zero for none.
    #[serde(default)]
    pub party: u128,
    /// Client-defined counterparty (e.g. the platform), zero for none.
    #[serde(default)]
    pub counterparty: u128,
}

impl TransferSpec {
    /// A single-phase transfer without metadata.
    pub fn posted(id: TransferId, legs: Vec<Leg>) -> TransferSpec {
        TransferSpec {
            id,
            kind: TransferKind::Posted,
            legs,
            code: 0,
            period: 0,
            party: 0,
            counterparty: 0,
        }
    }

    /// A pending (two-phase) transfer without metadata.
    pub fn pending(id: TransferId, legs: Vec<Leg>) -> TransferSpec {
        TransferSpec {
            kind: TransferKind::Pending,
            ..TransferSpec::posted(id, legs)
        }
    }

    /// Post the pending transfer `pending_id`.
    pub fn post_pending(id: TransferId, pending_id: TransferId) -> TransferSpec {
        TransferSpec {
            kind: TransferKind::PostPending { pending_id },
            ..TransferSpec::posted(id, Vec::new())
        }
    }

    /// Void the pending transfer `pending_id`.
    pub fn void_pending(id: TransferId, pending_id: TransferId) -> TransferSpec {
        TransferSpec {
            kind: TransferKind::VoidPending { pending_id },
            ..TransferSpec::posted(id, Vec::new())
        }
    }

    /// Set the metadata.
    #[must_use]
    pub fn with_meta(mut self, code: u16, period: u32, party: u128, counterparty: u128) -> Self {
        self.code = code;
        self.period = period;
        self.party = party;
        self.counterparty = counterparty;
        self
    }
}

/// A transfer as stored: the submitted content plus the commit timestamp the ledger assigned
/// (nanoseconds since the Unix epoch, strictly increasing).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Transfer {
    /// The submitted content.
    #[serde(flatten)]
    pub spec: TransferSpec,
    /// Commit timestamp.
    pub timestamp: u64,
}

/// State of a pending transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PendingState {
    /// Still reserved.
    Open,
    /// Posted by transfer `by`.
    Posted {
        /// The posting transfer.
        by: TransferId,
    },
    /// Voided by transfer `by`.
    Voided {
        /// The voiding transfer.
        by: TransferId,
    },
}

/// Balances of an account in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub struct Balance {
    /// Debits reserved by pending transfers.
    pub debits_pending: u128,
    /// Posted debits.
    pub debits_posted: u128,
    /// Credits reserved by pending transfers.
    pub credits_pending: u128,
    /// Posted credits.
    pub credits_posted: u128,
}

impl Balance {
    /// Posted debits − posted credits (the debit balance; negative for a credit balance).
    pub fn net_debit_posted(&self) -> i128 {
        to_i128(self.debits_posted) - to_i128(self.credits_posted)
    }

    /// Like [`Balance::net_debit_posted`], counting pending amounts too.
    pub fn net_debit_with_pending(&self) -> i128 {
        to_i128(self.debits_posted) + to_i128(self.debits_pending)
            - to_i128(self.credits_posted)
            - to_i128(self.credits_pending)
    }

    /// The posted balance in the normal direction of `side`, as money in `currency`
    /// (for a credit-normal account, credits − debits).
    pub fn posted_money(&self, normal: Side, currency: Currency) -> Money {
        let net = self.net_debit_posted();
        minor_to_money(
            match normal {
                Side::Debit => net,
                Side::Credit => -net,
            },
            currency,
        )
    }
}

fn to_i128(v: u128) -> i128 {
    i128::try_from(v).unwrap_or(i128::MAX)
}

/// The result of submitting one transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Written now, at `timestamp`.
    Created {
        /// Commit timestamp.
        timestamp: u64,
    },
    /// Already written with the same content at `timestamp`; nothing changed.
    Exists {
        /// The original commit timestamp.
        timestamp: u64,
    },
}

impl Outcome {
    /// Whether the transfer was written by this call.
    pub const fn is_created(&self) -> bool {
        matches!(self, Outcome::Created { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legs_from_money_refuse_bad_amounts() {
        let a = AccountId::new(1);
        let leg = Leg::of_money(a, Side::Debit, &Money::cny("12.34").unwrap()).unwrap();
        assert_eq!(leg.amount, 1234);
        assert_eq!(leg.money().to_string(), "12.34 CNY");
        for bad in ["0", "-1", "0.001"] {
            assert!(
                Leg::of_money(a, Side::Credit, &Money::cny(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn balances_read_in_either_direction() {
        let b = Balance {
            debits_posted: 100,
            credits_posted: 250,
            ..Balance::default()
        };
        assert_eq!(b.net_debit_posted(), -150);
        assert_eq!(
            b.posted_money(Side::Credit, Currency::CNY).to_string(),
            "1.50 CNY"
        );
    }
}
