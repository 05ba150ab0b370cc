//! The chart of accounts of the agency and the postings of its business events.
//!
//! | Kind | Normal side | Owner | Constraint |
//! |---|---|---|---|
//! | cash | debit | — | |
//! | trade receivables | debit | customer | |
//! | other receivables (advances on behalf of customers) | debit | customer | credits ≤ debits: spend billed never exceeds what was topped up |
//! | customer deposits (prepayments received) | credit | customer | debits ≤ credits: a prepaid balance never below zero |
//! | prepayments to platforms | debit | platform | credits ≤ debits: top-ups never exceed prepaid funds |
//! | platform credit drawn, not yet invoiced | credit | platform | debits ≤ credits: the platform invoices no more than was drawn |
//! | trade payables to platforms | credit | platform | |
//! | rebates receivable from platforms | debit | platform | |
//! | rebates payable to customers | credit | customer | |
//! | revenue | credit | service type | |
//! | cost of services (traffic, net of platform rebates) | debit | service type | |
//! | staff costs | debit | service type | |
//!
//! The business events and their legs (amounts in the account currency):
//!
//! - **Customer receipt**: Dr cash / Cr trade receivables (applied to invoices) and Cr customer
//!   deposits (the rest).
//! - **Platform prepayment**: Dr prepayments to platform / Cr cash. **Platform payment**: Dr
//!   trade payables / Cr cash.
//! - **Top-up** (pending until the platform confirms): Dr other receivables (we pay the platform
//!   on the customer's behalf) / Cr prepayments to platform (prepay terms) or Cr platform credit
//!   drawn (monthly terms).
//! - **Spend billed** at month end: distribution — Dr trade receivables / Cr other receivables;
//!   solution — Dr cost of services / Cr other receivables and Dr trade receivables / Cr revenue.
//! - **Platform invoice** (monthly terms): Dr platform credit drawn / Cr trade payables.
//! - **Platform rebates** (standard, tier accrual, tier true-up): Dr rebates receivable / Cr
//!   revenue (distribution) or Cr cost of services (solution).
//! - **Customer rebate**: Dr revenue / Cr rebates payable, then (**netted**) Dr rebates payable
//!   / Cr trade receivables (settled by netting off receivables).
//! - **KPI compensation** (solution): Dr revenue / Cr trade receivables.
//! - **Rebate payout**: Dr prepayments to platform (credit) or Dr trade payables (netting) / Cr
//!   rebates receivable; cash payouts when received: Dr cash / Cr rebates receivable.
//! - **Deposit applied** to the month's invoice: Dr customer deposits / Cr trade receivables.
//! - **Staff costs**: Dr staff costs / Cr cash.

use std::fmt;

use marketingforce_core::money::Currency;

use crate::agreement::ServiceType;
use crate::ids::{CustomerId, PlatformId};
use crate::ledger::{Account, AccountFlags, AccountId, Leg, Side, TransferId, TransferSpec};

/// The kinds of account in the chart (the ledger account `code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum AccountKind {
    /// Cash at bank.
    Cash = 1,
    /// Invoiced amounts owed by a customer.
    TradeReceivables = 2,
    /// Money paid to platforms on a customer's behalf, not yet billed.
    OtherReceivables = 3,
    /// Prepayments received from a customer, not yet applied.
    CustomerDeposits = 4,
    /// Our prepaid funds at a platform.
    PlatformPrepayments = 5,
    /// Platform credit drawn by top-ups, not yet invoiced by the platform.
    PlatformCreditDrawn = 6,
    /// Invoiced amounts we owe a platform.
    TradePayables = 7,
    /// Rebates a platform owes us.
    RebatesReceivable = 8,
    /// Rebates we owe a customer.
    RebatesPayable = 9,
    /// Revenue, per service type.
    Revenue = 10,
    /// Cost of services (traffic cost net of platform rebates), per service type.
    CostOfServices = 11,
    /// Staff costs, per service type.
    StaffCosts = 12,
}

impl AccountKind {
    /// Every kind.
    pub const ALL: [AccountKind; 12] = [
        AccountKind::Cash,
        AccountKind::TradeReceivables,
        AccountKind::OtherReceivables,
        AccountKind::CustomerDeposits,
        AccountKind::PlatformPrepayments,
        AccountKind::PlatformCreditDrawn,
        AccountKind::TradePayables,
        AccountKind::RebatesReceivable,
        AccountKind::RebatesPayable,
        AccountKind::Revenue,
        AccountKind::CostOfServices,
        AccountKind::StaffCosts,
    ];

    /// The ledger code.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The kind of a ledger code.
    pub fn from_code(code: u16) -> Option<AccountKind> {
        AccountKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The side on which the balance is normally carried.
    pub const fn normal_side(self) -> Side {
        match self {
            AccountKind::Cash
            | AccountKind::TradeReceivables
            | AccountKind::OtherReceivables
            | AccountKind::PlatformPrepayments
            | AccountKind::RebatesReceivable
            | AccountKind::CostOfServices
            | AccountKind::StaffCosts => Side::Debit,
            AccountKind::CustomerDeposits
            | AccountKind::PlatformCreditDrawn
            | AccountKind::TradePayables
            | AccountKind::RebatesPayable
            | AccountKind::Revenue => Side::Credit,
        }
    }

    /// The balance constraint of the kind (all keep history).
    pub const fn flags(self) -> AccountFlags {
        let (dmnec, cmned) = match self {
            AccountKind::CustomerDeposits | AccountKind::PlatformCreditDrawn => (true, false),
            AccountKind::OtherReceivables | AccountKind::PlatformPrepayments => (false, true),
            _ => (false, false),
        };
        AccountFlags {
            debits_must_not_exceed_credits: dmnec,
            credits_must_not_exceed_debits: cmned,
            history: true,
        }
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccountKind::Cash => "cash",
            AccountKind::TradeReceivables => "trade_receivables",
            AccountKind::OtherReceivables => "other_receivables",
            AccountKind::CustomerDeposits => "customer_deposits",
            AccountKind::PlatformPrepayments => "platform_prepayments",
            AccountKind::PlatformCreditDrawn => "platform_credit_drawn",
            AccountKind::TradePayables => "trade_payables",
            AccountKind::RebatesReceivable => "rebates_receivable",
            AccountKind::RebatesPayable => "rebates_payable",
            AccountKind::Revenue => "revenue",
            AccountKind::CostOfServices => "cost_of_services",
            AccountKind::StaffCosts => "staff_costs",
        })
    }
}

/// The business meaning of a transfer (the ledger transfer `code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
#[allow(missing_docs)]
pub enum PostingCode {
    CustomerReceipt = 1,
    PlatformPrepayment = 2,
    PlatformPayment = 3,
    PlatformRebateCash = 4,
    StaffCosts = 5,
    TopUp = 10,
    TopUpConfirmed = 11,
    TopUpFailed = 12,
    Spend = 20,
    PlatformInvoice = 21,
    StandardRebate = 22,
    TierRebate = 23,
    TierTrueUp = 24,
    CustomerRebate = 25,
    KpiCompensation = 26,
    RebatePayoutStandard = 27,
    DepositApplied = 28,
    RebatePayoutTier = 29,
    CustomerRebateNetted = 30,
}

impl PostingCode {
    /// Every posting code.
    pub const ALL: [PostingCode; 19] = [
        PostingCode::CustomerReceipt,
        PostingCode::PlatformPrepayment,
        PostingCode::PlatformPayment,
        PostingCode::PlatformRebateCash,
        PostingCode::StaffCosts,
        PostingCode::TopUp,
        PostingCode::TopUpConfirmed,
        PostingCode::TopUpFailed,
        PostingCode::Spend,
        PostingCode::PlatformInvoice,
        PostingCode::StandardRebate,
        PostingCode::TierRebate,
        PostingCode::TierTrueUp,
        PostingCode::CustomerRebate,
        PostingCode::KpiCompensation,
        PostingCode::RebatePayoutStandard,
        PostingCode::DepositApplied,
        PostingCode::RebatePayoutTier,
        PostingCode::CustomerRebateNetted,
    ];

    /// The posting code of a ledger code.
    pub fn from_code(code: u16) -> Option<PostingCode> {
        PostingCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The ledger code.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// Whether monthly settlement writes transfers of this code.
    pub const fn is_settlement(self) -> bool {
        (self as u16) >= 20
    }
}

/// The chart of accounts in one currency: deterministic ledger account ids per kind and owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chart {
    currency: Currency,
}

impl Chart {
    /// The chart for `currency`.
    pub const fn new(currency: Currency) -> Chart {
        Chart { currency }
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The account of `kind` owned by `owner` (0 for global accounts).
    pub fn id(&self, kind: AccountKind, owner: u128) -> AccountId {
        AccountId::derive(&format!("chart:{kind}:{owner:032x}:{}", self.currency))
    }

    fn account(&self, kind: AccountKind, owner: u128) -> Account {
        Account {
            id: self.id(kind, owner),
            currency: self.currency,
            code: kind.code(),
            owner,
            flags: kind.flags(),
        }
    }

    /// Cash.
    pub fn cash(&self) -> AccountId {
        self.id(AccountKind::Cash, 0)
    }

    /// A customer's account of `kind`.
    pub fn customer(&self, kind: AccountKind, customer: &CustomerId) -> AccountId {
        self.id(kind, customer.as_uuid().as_u128())
    }

    /// A platform's account of `kind`.
    pub fn platform(&self, kind: AccountKind, platform: &PlatformId) -> AccountId {
        self.id(kind, platform.as_uuid().as_u128())
    }

    /// A service type's account of `kind` (revenue, cost of services, staff costs).
    pub fn service(&self, kind: AccountKind, service: ServiceType) -> AccountId {
        self.id(kind, service.code())
    }

    /// The global accounts: cash, and revenue, cost of services and staff costs per service type.
    pub fn global_accounts(&self) -> Vec<Account> {
        let mut out = vec![self.account(AccountKind::Cash, 0)];
        for s in ServiceType::ALL {
            for k in [
                AccountKind::Revenue,
                AccountKind::CostOfServices,
                AccountKind::StaffCosts,
            ] {
                out.push(self.account(k, s.code()));
            }
        }
        out
    }

    /// A customer's accounts.
    pub fn customer_accounts(&self, customer: &CustomerId) -> Vec<Account> {
        let owner = customer.as_uuid().as_u128();
        [
            AccountKind::TradeReceivables,
            AccountKind::OtherReceivables,
            AccountKind::CustomerDeposits,
            AccountKind::RebatesPayable,
        ]
        .into_iter()
        .map(|k| self.account(k, owner))
        .collect()
    }

    /// A platform's accounts.
    pub fn platform_accounts(&self, platform: &PlatformId) -> Vec<Account> {
        let owner = platform.as_uuid().as_u128();
        [
            AccountKind::PlatformPrepayments,
            AccountKind::PlatformCreditDrawn,
            AccountKind::TradePayables,
            AccountKind::RebatesReceivable,
        ]
        .into_iter()
        .map(|k| self.account(k, owner))
        .collect()
    }
}

/// Metadata of a posting: code, period key, party (customer) and counterparty (platform).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostingMeta {
    /// What it is.
    pub code: PostingCode,
    /// `yyyymm` or `yyyymmdd`.
    pub period: u32,
    /// The customer (0 for none).
    pub party: u128,
    /// The platform (0 for none).
    pub counterparty: u128,
}

/// A posted transfer of `amount` minor units over `pairs` of (debit, credit) accounts; a
/// negative amount reverses every pair; zero gives no transfer.
pub fn entry(
    id: TransferId,
    meta: PostingMeta,
    pairs: &[(AccountId, AccountId)],
    amount: i128,
    currency: Currency,
) -> Option<TransferSpec> {
    let magnitude = u64::try_from(amount.unsigned_abs())
        .ok()
        .filter(|m| *m > 0)?;
    let (first, second) = if amount > 0 {
        (Side::Debit, Side::Credit)
    } else {
        (Side::Credit, Side::Debit)
    };
    let mut legs = Vec::with_capacity(pairs.len() * 2);
    for (debit, credit) in pairs {
        legs.push(Leg {
            account: *debit,
            side: first,
            amount: magnitude,
            currency,
        });
        legs.push(Leg {
            account: *credit,
            side: second,
            amount: magnitude,
            currency,
        });
    }
    Some(TransferSpec::posted(id, legs).with_meta(
        meta.code.code(),
        meta.period,
        meta.party,
        meta.counterparty,
    ))
}

/// The signed amount of a transfer written by [`entry`]: its first leg's amount, negative when
/// the first leg is a credit (a reversal).
pub fn signed_amount(first_leg: Option<Leg>) -> i128 {
    first_leg.map_or(0, |l| match l.side {
        Side::Debit => i128::from(l.amount),
        Side::Credit => -i128::from(l.amount),
    })
}
