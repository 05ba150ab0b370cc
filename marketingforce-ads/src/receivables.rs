//! Receivables and working capital: invoices and collections, ageing, overdue detection
//! against credit terms, turnover days, advances outstanding per customer, and a cash-flow view
//! of platform payments against customer receipts by date.
//!
//! The agency tops up customers' ad accounts before placing ads, often before the customer
//! pays: the timing mismatch makes working capital the limit on scale. These views are how it
//! is watched. Balances by *value date* come from the ledger: every posting carries its value
//! date (`yyyymmdd`) or month (`yyyymm`, valued at the month's last day).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use marketingforce_core::money::{Currency, Decimal, Money, RoundingMode};
use marketingforce_core::storage::{Entity, IndexEntry};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::chart::{AccountKind, Chart, PostingCode};
use crate::ids::{CustomerId, PlatformId, ReceiptId};
use crate::ledger::{minor_to_money, LedgerEngine, Side, TransferKind};
use crate::period::{value_date, Month};

/// A customer's monthly invoice and what has been collected on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Invoice {
    /// The customer.
    pub customer: CustomerId,
    /// The month invoiced.
    pub month: Month,
    /// Issue date.
    pub issued_on: NaiveDate,
    /// Due date (issue date + credit terms).
    pub due_on: NaiveDate,
    /// Per platform amounts.
    pub lines: Vec<(PlatformId, Money)>,
    /// Amount invoiced (spend − customer rebates − KPI compensation).
    pub amount: Money,
    /// Prepayment applied at settlement.
    pub deposit_applied: Money,
    /// Collected from receipts.
    pub collected: Money,
    /// Whether the month was settled provisionally.
    pub provisional: bool,
}

impl Invoice {
    /// The record key of a customer's invoice for a month.
    pub fn key_of(customer: &CustomerId, month: Month) -> String {
        format!("{customer}:{month}")
    }

    /// Still to be collected (negative for a credit note).
    pub fn open(&self) -> Money {
        self.amount
            .checked_sub(&self.deposit_applied)
            .and_then(|m| m.checked_sub(&self.collected))
            .unwrap_or(self.amount)
    }
}

impl Entity for Invoice {
    const COLLECTION: &'static str = "ads.invoices";
    fn key(&self) -> String {
        Invoice::key_of(&self.customer, self.month)
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        let mut ix = vec![IndexEntry::new("customer", self.customer.to_string())];
        if self.open().is_positive() {
            ix.push(IndexEntry::new("open", "1"));
        }
        ix
    }
}

/// A payment received from a customer and how it was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Receipt {
    /// Id.
    pub id: ReceiptId,
    /// The customer.
    pub customer: CustomerId,
    /// Amount received.
    pub amount: Money,
    /// Value date.
    pub received_on: NaiveDate,
    /// Applied to invoices, oldest due first.
    pub applied: Vec<(Month, Money)>,
    /// The rest, kept as a prepayment (customer deposit).
    pub to_deposit: Money,
}

impl Entity for Receipt {
    const COLLECTION: &'static str = "ads.receipts";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("customer", self.customer.to_string())]
    }
}

/// Apply `amount` to `open` invoices (oldest due first); returns (month, amount) per invoice and
/// what is left over.
///
/// # Errors
/// Mixed currencies.
pub fn apply_fifo(amount: Money, open: &[&Invoice]) -> crate::Result<(Vec<(Month, Money)>, Money)> {
    let mut sorted: Vec<&&Invoice> = open.iter().filter(|i| i.open().is_positive()).collect();
    sorted.sort_by_key(|i| (i.due_on, i.month));
    let mut left = amount;
    let mut applied = Vec::new();
    for inv in sorted {
        if !left.is_positive() {
            break;
        }
        let part = left.checked_min(&inv.open())?;
        applied.push((inv.month, part));
        left = left.checked_sub(&part)?;
    }
    Ok((applied, left))
}

/// Ageing buckets by days past due.
pub const BUCKETS: [&str; 6] = ["not due", "1-30", "31-60", "61-90", "91-180", "over 180"];

fn bucket(days_past_due: i64) -> usize {
    match days_past_due {
        d if d <= 0 => 0,
        1..=30 => 1,
        31..=60 => 2,
        61..=90 => 3,
        91..=180 => 4,
        _ => 5,
    }
}

/// A customer's open receivables by age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgeingLine {
    /// The customer.
    pub customer: CustomerId,
    /// Open amounts per bucket of [`BUCKETS`].
    pub buckets: [Money; 6],
    /// Total open.
    pub total: Money,
}

/// Open receivables by age as of a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgeingReport {
    /// The reference date.
    pub as_of: NaiveDate,
    /// Per customer.
    pub lines: Vec<AgeingLine>,
    /// Totals per bucket.
    pub totals: [Money; 6],
}

/// Age the open amounts of `invoices` as of `as_of` by days past their due date.
///
/// ```
/// use chrono::NaiveDate;
/// use marketingforce_ads::ids::CustomerId;
/// use marketingforce_ads::receivables::{age, Invoice};
/// use marketingforce_core::money::{Currency, Money};
///
/// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
/// let c = CustomerId::new();
/// let inv = Invoice {
///     customer: c, month: "2026-01".parse().unwrap(), issued_on: d("2026-01-31"),
///     due_on: d("2026-03-01"), lines: vec![], amount: Money::cny("1000.00").unwrap(),
///     deposit_applied: Money::cny("0").unwrap(), collected: Money::cny("400.00").unwrap(),
///     provisional: false,
/// };
/// let report = age(&[inv], d("2026-04-15"), Currency::CNY);
/// assert_eq!(report.totals[2].to_string(), "600.00 CNY"); // 45 days past due: 31-60
/// ```
pub fn age(invoices: &[Invoice], as_of: NaiveDate, currency: Currency) -> AgeingReport {
    let zero = Money::zero(currency);
    let mut per: BTreeMap<CustomerId, [Money; 6]> = BTreeMap::new();
    let mut totals = [zero; 6];
    for inv in invoices {
        let open = inv.open();
        if !open.is_positive() {
            continue;
        }
        let b = bucket((as_of - inv.due_on).num_days());
        let line = per.entry(inv.customer).or_insert([zero; 6]);
        line[b] = line[b].checked_add(&open).unwrap_or(line[b]);
        totals[b] = totals[b].checked_add(&open).unwrap_or(totals[b]);
    }
    AgeingReport {
        as_of,
        lines: per
            .into_iter()
            .map(|(customer, buckets)| AgeingLine {
                customer,
                total: Money::sum(currency, buckets.iter()).unwrap_or(zero),
                buckets,
            })
            .collect(),
        totals,
    }
}

/// An invoice past its due date with money still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OverdueInvoice {
    /// The customer.
    pub customer: CustomerId,
    /// The month invoiced.
    pub month: Month,
    /// Due date.
    pub due_on: NaiveDate,
    /// Days past due.
    pub days_overdue: i64,
    /// Open amount.
    pub open: Money,
}

/// The invoices overdue as of `as_of`, most overdue first.
pub fn overdue(invoices: &[Invoice], as_of: NaiveDate) -> Vec<OverdueInvoice> {
    let mut out: Vec<OverdueInvoice> = invoices
        .iter()
        .filter(|i| i.open().is_positive() && i.due_on < as_of)
        .map(|i| OverdueInvoice {
            customer: i.customer,
            month: i.month,
            due_on: i.due_on,
            days_overdue: (as_of - i.due_on).num_days(),
            open: i.open(),
        })
        .collect();
    out.sort_by(|a, b| {
        b.days_overdue
            .cmp(&a.days_overdue)
            .then(a.customer.cmp(&b.customer))
    });
    out
}

/// Value-dated movements of accounts of `kind`: (value date, net debit) per posted effect.
fn movements<'a>(
    engine: &'a LedgerEngine,
    kind: AccountKind,
) -> impl Iterator<Item = (NaiveDate, u16, i128)> + 'a {
    engine.transfers().flat_map(move |t| {
        let date = value_date(t.period());
        let code = t.code();
        let legs: Vec<_> = match t.kind() {
            TransferKind::Posted => t.legs().collect(),
            TransferKind::PostPending { pending_id } => engine
                .transfer(pending_id)
                .map(|p| p.legs().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        legs.into_iter().filter_map(move |l| {
            let account = engine.account(l.account)?;
            if account.code != kind.code() {
                return None;
            }
            let amount = i128::from(l.amount);
            Some((
                date?,
                code,
                if l.side == Side::Debit {
                    amount
                } else {
                    -amount
                },
            ))
        })
    })
}

/// Net debit balance of all accounts of `kind` at the end of `date`, by value date.
pub fn balance_on(engine: &LedgerEngine, kind: AccountKind, date: NaiveDate) -> i128 {
    movements(engine, kind)
        .filter(|(d, _, _)| *d <= date)
        .map(|(_, _, a)| a)
        .sum()
}

/// Receivable turnover over a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnoverDays {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Average of the opening and closing trade receivables.
    pub average_trade_receivables: Money,
    /// Invoiced in the period (spend − customer rebates − KPI compensation).
    pub billings: Money,
    /// Trade receivable turnover days = average ÷ billings × days (1 dp).
    pub trade_receivable_days: Option<Decimal>,
    /// Average of the opening and closing other receivables (advances).
    pub average_other_receivables: Money,
    /// Advanced by confirmed top-ups in the period.
    pub advances_made: Money,
    /// Other receivable turnover days = average ÷ advances made × days (1 dp).
    pub other_receivable_days: Option<Decimal>,
}

/// Turnover days of trade and other receivables over `from..=to`.
pub fn turnover(
    engine: &LedgerEngine,
    chart: &Chart,
    from: NaiveDate,
    to: NaiveDate,
) -> TurnoverDays {
    let currency = chart.currency();
    let m = |x: i128| minor_to_money(x, currency);
    let before = from.pred_opt().unwrap_or(from);
    let days = Decimal::from((to - from).num_days() + 1);
    let avg = |kind| (balance_on(engine, kind, before) + balance_on(engine, kind, to)) / 2;
    let flow = |kind, codes: &[PostingCode]| -> i128 {
        movements(engine, kind)
            .filter(|(d, c, _)| *d >= from && *d <= to && codes.iter().any(|x| x.code() == *c))
            .map(|(_, _, a)| a)
            .sum()
    };
    let tr_avg = avg(AccountKind::TradeReceivables);
    let or_avg = avg(AccountKind::OtherReceivables);
    let billings = flow(
        AccountKind::TradeReceivables,
        &[
            PostingCode::Spend,
            PostingCode::CustomerRebateNetted,
            PostingCode::KpiCompensation,
        ],
    );
    let advances = flow(
        AccountKind::OtherReceivables,
        &[PostingCode::TopUpConfirmed],
    );
    let ratio = |avg: i128, flow: i128| {
        (flow > 0)
            .then(|| RoundingMode::HalfUp.round(Decimal::from(avg) / Decimal::from(flow) * days, 1))
    };
    TurnoverDays {
        from,
        to,
        average_trade_receivables: m(tr_avg),
        billings: m(billings),
        trade_receivable_days: ratio(tr_avg, billings),
        average_other_receivables: m(or_avg),
        advances_made: m(advances),
        other_receivable_days: ratio(or_avg, advances),
    }
}

/// A customer's working-capital position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerExposure {
    /// The customer.
    pub customer: CustomerId,
    /// Advances outstanding: money paid to platforms on its behalf, not yet billed.
    pub advances: Money,
    /// Top-ups awaiting platform confirmation.
    pub pending_top_ups: Money,
    /// Invoiced and not collected.
    pub trade_receivables: Money,
    /// Prepayments received and not applied.
    pub deposits: Money,
    /// Trade receivables + advances (incl. pending) − deposits: what its credit limit caps.
    pub exposure: Money,
}

/// The position of `customer` from the ledger.
pub fn exposure(engine: &LedgerEngine, chart: &Chart, customer: &CustomerId) -> CustomerExposure {
    let currency = chart.currency();
    let bal = |kind| {
        engine
            .balance(chart.customer(kind, customer))
            .unwrap_or_default()
    };
    let tr = bal(AccountKind::TradeReceivables);
    let or = bal(AccountKind::OtherReceivables);
    let dep = bal(AccountKind::CustomerDeposits);
    let pending = i128::try_from(or.debits_pending).unwrap_or(i128::MAX);
    let deposits = -dep.net_debit_posted();
    let exposure = tr.net_debit_posted() + or.net_debit_posted() + pending - deposits;
    let m = |x: i128| minor_to_money(x, currency);
    CustomerExposure {
        customer: *customer,
        advances: m(or.net_debit_posted()),
        pending_top_ups: m(pending),
        trade_receivables: m(tr.net_debit_posted()),
        deposits: m(deposits),
        exposure: m(exposure),
    }
}

/// Cash movements of one value date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CashFlowDay {
    /// The date.
    pub date: NaiveDate,
    /// Received from customers.
    pub customer_receipts: Money,
    /// Paid to platforms (prepayments and invoices).
    pub platform_payments: Money,
    /// Rebates received in cash from platforms.
    pub rebates_received: Money,
    /// Other cash movements (staff costs, …), signed.
    pub other: Money,
    /// Net movement of the day.
    pub net: Money,
    /// Cash balance at the end of the day.
    pub balance: Money,
}

/// Cash in and out by value date over `from..=to`: platform payments against customer receipts.
pub fn cash_flow(
    engine: &LedgerEngine,
    chart: &Chart,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<CashFlowDay> {
    let currency = chart.currency();
    let m = |x: i128| minor_to_money(x, currency);
    let mut days: BTreeMap<NaiveDate, [i128; 4]> = BTreeMap::new();
    let mut opening = 0i128;
    for (date, code, amount) in movements(engine, AccountKind::Cash) {
        if date < from {
            opening += amount;
            continue;
        }
        if date > to {
            continue;
        }
        let slot = match PostingCode::from_code(code) {
            Some(PostingCode::CustomerReceipt) => 0,
            Some(PostingCode::PlatformPrepayment | PostingCode::PlatformPayment) => 1,
            Some(PostingCode::PlatformRebateCash) => 2,
            _ => 3,
        };
        days.entry(date).or_default()[slot] += amount;
    }
    let mut balance = opening;
    days.into_iter()
        .map(|(date, v)| {
            let net: i128 = v.iter().sum();
            balance += net;
            CashFlowDay {
                date,
                customer_receipts: m(v[0]),
                platform_payments: m(-v[1]),
                rebates_received: m(v[2]),
                other: m(v[3]),
                net: m(net),
                balance: m(balance),
            }
        })
        .collect()
}
