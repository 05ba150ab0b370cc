//! Computing a month's settlement: pure over its inputs and the ledger, deterministic, and
//! independent of the order reports arrived in.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate};
use marketingforce_core::id::Uuid;
use marketingforce_core::money::{Currency, Decimal, Money, RoundingMode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::figures::{LineFigures, PayoutFigures, SettlementFigures};
use crate::agreement::{ServiceType, SettlementTerms};
use crate::campaign::{KpiTarget, Metrics};
use crate::chart::{entry, signed_amount, AccountKind, Chart, PostingCode, PostingMeta};
use crate::error::{AdsError, Result};
use crate::ids::{AdAccountId, CampaignId, CustomerId, PlatformId};
use crate::ledger::{
    minor_to_money, AccountId, IdBuildHasher, LedgerEngine, TransferId, TransferSpec,
};
use crate::period::{Month, PeriodLength};
use crate::rebate::{CustomerRebatePolicy, PlatformRebatePolicy, RebatePayout};

/// A customer's terms for the month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerTerms {
    /// Solution or distribution.
    pub service_type: ServiceType,
    /// The customer rebate policy of the agreement covering the month (a flat rate, tiers on
    /// the month's spend, a fixed amount…).
    pub rebate: CustomerRebatePolicy,
    /// Days from invoice to due date.
    pub credit_terms_days: u32,
}

/// A platform's terms for the month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformTerms {
    /// What it pays us.
    pub rebates: PlatformRebatePolicy,
    /// How we pay it.
    pub settlement_terms: SettlementTerms,
}

/// Who an ad account belongs to and when it was open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// The customer.
    pub customer: CustomerId,
    /// The platform.
    pub platform: PlatformId,
    /// Day opened.
    pub opened_on: NaiveDate,
    /// Day closed, if closed.
    pub closed_on: Option<NaiveDate>,
}

impl AccountInfo {
    fn open_on(&self, date: NaiveDate) -> bool {
        self.opened_on <= date && self.closed_on.is_none_or(|c| date < c)
    }
}

/// One campaign line of a daily report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// The campaign.
    pub campaign: CampaignId,
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Conversions.
    pub conversions: u64,
    /// Spend (negative for a refund).
    pub spend: Money,
}

/// An account's report for one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportDay {
    /// The account.
    pub account: AdAccountId,
    /// The day.
    pub date: NaiveDate,
    /// Final (a partial report does not count as present).
    pub complete: bool,
    /// Lines.
    pub lines: Vec<ReportLine>,
}

/// Everything a month's settlement needs besides the ledger.
#[derive(Debug, Clone)]
pub struct SettlementInput {
    /// The month.
    pub month: Month,
    /// The settlement currency.
    pub currency: Currency,
    /// How line spend (which may carry fractions of a fen) and computed rebates are rounded.
    pub rounding: RoundingMode,
    /// Customer terms.
    pub customers: HashMap<CustomerId, CustomerTerms>,
    /// Platform terms.
    pub platforms: HashMap<PlatformId, PlatformTerms>,
    /// Every ad account that may have been open during the month.
    pub accounts: HashMap<AdAccountId, AccountInfo>,
    /// KPIs of solution-services campaigns.
    pub kpis: HashMap<CampaignId, Vec<KpiTarget>>,
    /// The month's reports, one per account-day, in any order.
    pub reports: Vec<ReportDay>,
}

/// Whether missing report days refuse the settlement or mark it provisional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettlementMode {
    /// Refuse when any account-day lacks a final report.
    Final,
    /// Settle what is known, marked provisional with the missing days listed; a later run
    /// posts the corrections.
    Provisional,
}

/// An account-day without a final report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MissingDay {
    /// The account.
    pub account: AdAccountId,
    /// The day.
    pub date: NaiveDate,
}

/// The month's invoice to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerInvoice {
    /// The customer.
    pub customer: CustomerId,
    /// The month.
    pub month: Month,
    /// Issue date (the month's last day).
    pub issued_on: NaiveDate,
    /// Due date (issue date + credit terms).
    pub due_on: NaiveDate,
    /// Per platform: spend − customer rebates − KPI compensation.
    pub lines: Vec<(PlatformId, Money)>,
    /// Total.
    pub amount: Money,
    /// Prepayment applied to it.
    pub deposit_applied: Money,
}

/// The month's invoice from a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformInvoice {
    /// The platform.
    pub platform: PlatformId,
    /// The month.
    pub month: Month,
    /// Traffic spend invoiced.
    pub spend: Money,
    /// Rebates netted off the payable this month.
    pub rebates_netted: Money,
    /// What we owe for the month (zero under prepayment: the spend drew on prepaid funds).
    pub payable: Money,
    /// When it is due (monthly terms).
    pub due_on: Option<NaiveDate>,
    /// Whether the spend was prepaid.
    pub prepaid: bool,
}

/// The result of settling a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementStatement {
    /// The month.
    pub month: Month,
    /// Settled with report days missing.
    pub provisional: bool,
    /// The missing account-days.
    pub missing: Vec<MissingDay>,
    /// The figures (equal to [`SettlementFigures::from_ledger`] once posted).
    pub figures: SettlementFigures,
    /// Customer invoices.
    pub customer_invoices: Vec<CustomerInvoice>,
    /// Platform invoices.
    pub platform_invoices: Vec<PlatformInvoice>,
}

impl std::fmt::Display for SettlementStatement {
    /// The month, whether it is final, and its [overall](SettlementFigures::overall) figures:
    /// `2026-03 final: spend 1000.00 CNY · … · revenue 20.00 CNY · …`, or
    /// `2026-03 provisional (2 account-days missing): …` — one line for a log or a console.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.provisional {
            write!(
                f,
                "{} provisional ({} account-days missing): ",
                self.month,
                self.missing.len()
            )?;
        } else {
            write!(f, "{} final: ", self.month)?;
        }
        write!(f, "{}", self.figures.overall())
    }
}

/// A computed settlement: the statement and the ledger transfers that make the ledger agree
/// with it (empty when the month is already settled with the same data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementPlan {
    /// The statement.
    pub statement: SettlementStatement,
    /// Transfers to post.
    pub transfers: Vec<TransferSpec>,
}

type Key = (u16, u128, u128);

#[derive(Default, Clone, Copy)]
struct Line {
    spend: i128,
    standard: i128,
    tier: i128,
    true_up: i128,
    customer_rebate: i128,
    kpi: i128,
}

#[derive(Default)]
struct CampaignAcc {
    impressions: u64,
    clicks: u64,
    conversions: u64,
    spend: Decimal,
}

/// `total` plus a line's spend, or a validation error on the line's `spend` (at `field`)
/// when the sum leaves the decimal range.
fn add_spend(total: Decimal, l: &ReportLine, field: &dyn Fn(&str) -> String) -> Result<Decimal> {
    total.checked_add(l.spend.amount()).ok_or_else(|| {
        AdsError::validation(
            field("spend"),
            "the month's spend exceeds the decimal range",
        )
    })
}

/// `total` plus `n`, or a validation error on `field` when the sum exceeds `u64`.
fn add_count(total: u64, n: u64, field: String) -> Result<u64> {
    total
        .checked_add(n)
        .ok_or_else(|| AdsError::validation(field, "the month's total exceeds 2^64 - 1"))
}

impl CampaignAcc {
    /// Add a report line of the campaign; a total out of range is a validation error naming
    /// the line's field (through `field`).
    fn add(&mut self, l: &ReportLine, field: &dyn Fn(&str) -> String) -> Result<()> {
        self.impressions = add_count(self.impressions, l.impressions, field("impressions"))?;
        self.clicks = add_count(self.clicks, l.clicks, field("clicks"))?;
        self.conversions = add_count(self.conversions, l.conversions, field("conversions"))?;
        self.spend = add_spend(self.spend, l, field)?;
        Ok(())
    }
}

/// The 128-bit value of an id, as carried in ledger metadata.
trait Raw {
    fn raw(&self) -> u128;
}

impl Raw for CustomerId {
    fn raw(&self) -> u128 {
        self.as_uuid().as_u128()
    }
}

impl Raw for PlatformId {
    fn raw(&self) -> u128 {
        self.as_uuid().as_u128()
    }
}

struct Calc<'a> {
    input: &'a SettlementInput,
    engine: &'a LedgerEngine,
}

impl Calc<'_> {
    fn m(&self, minor: i128) -> Money {
        minor_to_money(minor, self.input.currency)
    }

    fn round(&self, x: Decimal) -> Result<i128> {
        let m = Money::new(x, self.input.currency).round(self.input.rounding);
        m.to_minor().ok_or_else(|| {
            AdsError::validation("amount", format!("{m} cannot be held in minor units"))
        })
    }

    fn dec(&self, minor: i128) -> Decimal {
        self.m(minor).amount()
    }

    /// Split `amount` over `weights` (by the sign of their total), exactly.
    fn allocate(&self, amount: i128, weights: &[i128]) -> Result<Vec<i128>> {
        if amount == 0 || weights.is_empty() {
            return Ok(vec![0; weights.len()]);
        }
        let total: i128 = weights.iter().sum();
        let mut w: Vec<Decimal> = weights
            .iter()
            .map(|x| {
                Decimal::from(if total >= 0 {
                    (*x).max(0)
                } else {
                    (-*x).max(0)
                })
            })
            .collect();
        if w.iter().all(|x| x.is_zero()) {
            w = vec![Decimal::ONE; weights.len()];
        }
        self.m(amount)
            .allocate_by_weights(&w)?
            .iter()
            .map(|p| {
                p.to_minor()
                    .ok_or_else(|| AdsError::validation("amount", "allocation"))
            })
            .collect()
    }

    /// Sum of the signed amounts of transfers with `code` in `months`, per (party, counterparty).
    fn sums(&self, months: &[Month], code: PostingCode) -> HashMap<(u128, u128), i128> {
        let mut out = HashMap::new();
        for m in months {
            for t in self.engine.transfers_in_period(m.key()) {
                if t.code() == code.code() {
                    *out.entry((t.party(), t.counterparty())).or_insert(0) +=
                        signed_amount(t.first_leg());
                }
            }
        }
        out
    }

    fn tier_rebate(&self, policy: &PlatformRebatePolicy, spend: i128) -> Result<i128> {
        match &policy.progressive {
            Some(p) => self.round(p.schedule.rebate(&self.m(spend.max(0)))?.amount()),
            None => Ok(0),
        }
    }

    fn balance_net_credit(&self, id: AccountId) -> i128 {
        self.engine.balance(id).map_or(0, |b| {
            i128::try_from(b.credits_posted).unwrap_or(i128::MAX)
                - i128::try_from(b.debits_posted).unwrap_or(i128::MAX)
                - i128::try_from(b.debits_pending).unwrap_or(i128::MAX)
        })
    }

    fn balance_net_debit(&self, id: AccountId) -> i128 {
        self.engine.balance(id).map_or(0, |b| {
            i128::try_from(b.debits_posted).unwrap_or(i128::MAX)
                - i128::try_from(b.credits_posted).unwrap_or(i128::MAX)
                - i128::try_from(b.credits_pending).unwrap_or(i128::MAX)
        })
    }
}

/// Compute the month's settlement (see the [module docs](super)).
///
/// # Errors
/// Missing report days in [`SettlementMode::Final`] ([`AdsError::MissingReports`]); reports for
/// accounts not in the input, outside the month, twice for one account-day or in another
/// currency; spend by a customer without terms ([`AdsError::NoAgreement`]) or on a platform
/// without terms ([`AdsError::NoPlatformAgreement`]); spend exceeding what was topped up
/// ([`AdsError::SpendExceedsFunds`]); credit or payment terms whose due date lies beyond the
/// calendar (`customers[<id>].credit_terms_days`,
/// `platforms[<id>].settlement_terms.monthly.pay_within_days`).
pub fn plan(
    input: &SettlementInput,
    engine: &LedgerEngine,
    chart: &Chart,
    mode: SettlementMode,
) -> Result<SettlementPlan> {
    let calc = Calc { input, engine };
    let month = input.month;
    let cur = input.currency;

    // 1. Aggregate the reports per account (days seen and final as bitmasks); find missing days.
    #[derive(Default)]
    struct AccountAcc {
        seen: u32,
        complete: u32,
        spend: Decimal,
    }
    let mut per_account: HashMap<AdAccountId, AccountAcc, IdBuildHasher> =
        HashMap::with_capacity_and_hasher(input.accounts.len(), IdBuildHasher::default());
    let mut campaigns: HashMap<CampaignId, ((CustomerId, PlatformId), CampaignAcc)> =
        HashMap::new();
    for (i, r) in input.reports.iter().enumerate() {
        let field = |f: &str| format!("reports[{i}].{f}");
        if Month::of(r.date) != month {
            return Err(AdsError::validation(
                field("date"),
                format!("{} is not in {month}", r.date),
            ));
        }
        let info = input.accounts.get(&r.account).ok_or_else(|| {
            AdsError::validation(
                field("account"),
                format!("unknown ad account {}", r.account),
            )
        })?;
        let bit = 1u32 << (r.date.day0() & 31);
        let acc = per_account.entry(r.account).or_default();
        if acc.seen & bit != 0 {
            return Err(AdsError::validation(
                field("date"),
                format!("{} has two reports for {}", r.account, r.date),
            ));
        }
        acc.seen |= bit;
        if r.complete {
            acc.complete |= bit;
        }
        for (j, l) in r.lines.iter().enumerate() {
            if l.spend.currency() != cur {
                return Err(AdsError::validation(
                    format!("reports[{i}].lines[{j}].spend"),
                    format!("in {}, settlement is in {cur}", l.spend.currency()),
                ));
            }
            let line_field = |f: &str| format!("reports[{i}].lines[{j}].{f}");
            acc.spend = add_spend(acc.spend, l, &line_field)?;
            if input.kpis.contains_key(&l.campaign) {
                let key = (info.customer, info.platform);
                let c = &mut campaigns
                    .entry(l.campaign)
                    .or_insert_with(|| (key, CampaignAcc::default()))
                    .1;
                c.add(l, &line_field)?;
            }
        }
    }
    let mut account_ids: Vec<&AdAccountId> = input.accounts.keys().collect();
    account_ids.sort();
    let mut missing = Vec::new();
    let mut line_spend: BTreeMap<(CustomerId, PlatformId), Decimal> = BTreeMap::new();
    for id in account_ids {
        let info = &input.accounts[id];
        let acc = per_account.get(id);
        let complete = acc.map_or(0, |a| a.complete);
        for date in month.dates() {
            if info.open_on(date) && complete & (1u32 << (date.day0() & 31)) == 0 {
                missing.push(MissingDay { account: *id, date });
            }
        }
        if let Some(a) = acc {
            let total = line_spend
                .entry((info.customer, info.platform))
                .or_default();
            *total = total.checked_add(a.spend).ok_or_else(|| {
                AdsError::validation(
                    format!("accounts[{id}]"),
                    "the month's spend of the customer on the platform exceeds the decimal range",
                )
            })?;
        }
    }
    if !missing.is_empty() && mode == SettlementMode::Final {
        let sample: Vec<String> = missing
            .iter()
            .take(5)
            .map(|d| format!("{}@{}", d.account, d.date))
            .collect();
        return Err(AdsError::MissingReports {
            month,
            count: missing.len(),
            sample: sample.join(", "),
        });
    }

    // 2. Lines with rounded spend.
    let mut lines: BTreeMap<(CustomerId, PlatformId), Line> = BTreeMap::new();
    for (key, spend) in &line_spend {
        lines.insert(
            *key,
            Line {
                spend: calc.round(*spend)?,
                ..Line::default()
            },
        );
    }

    // 3. Platform rebates.
    let mut platforms: BTreeSet<PlatformId> = lines.keys().map(|(_, p)| *p).collect();
    let closing_tier_periods: Vec<PlatformId> = input
        .platforms
        .iter()
        .filter(|(_, t)| {
            t.rebates
                .progressive
                .as_ref()
                .is_some_and(|p| month.closes(p.period))
        })
        .map(|(p, _)| *p)
        .collect();
    let mut tier_prior_spend_by_line: HashMap<PlatformId, HashMap<(u128, u128), i128>> =
        HashMap::new();
    for p in &closing_tier_periods {
        let terms = &input.platforms[p];
        if let Some(prog) = &terms.rebates.progressive {
            let prior: Vec<Month> = month
                .months_to_date(prog.period)
                .into_iter()
                .filter(|m| *m != month)
                .collect();
            let spend = calc.sums(&prior, PostingCode::Spend);
            let pid = p.raw();
            let mine: HashMap<(u128, u128), i128> = spend
                .into_iter()
                .filter(|((_, cp), _)| *cp == pid)
                .collect();
            if mine.values().any(|v| *v != 0) {
                platforms.insert(*p);
                for (party, _) in mine.keys() {
                    let c = CustomerId::from_uuid(Uuid::from_u128(*party));
                    lines.entry((c, *p)).or_default();
                }
            }
            tier_prior_spend_by_line.insert(*p, mine);
        }
    }
    // A standard rebate paid per quarter is paid out when the quarter closes, whether or not
    // the platform has spend this month.
    for (p, terms) in &input.platforms {
        let std = terms.rebates.standard;
        if std.settlement != PeriodLength::Monthly
            && std.payout != RebatePayout::Cash
            && month.closes(std.settlement)
        {
            let prior: Vec<Month> = month
                .months_to_date(std.settlement)
                .into_iter()
                .filter(|m| *m != month)
                .collect();
            let pid = p.raw();
            if calc
                .sums(&prior, PostingCode::StandardRebate)
                .iter()
                .any(|((_, cp), v)| *cp == pid && *v != 0)
            {
                platforms.insert(*p);
            }
        }
    }
    let mut payout_targets: Vec<(PostingCode, PlatformId, RebatePayout, i128)> = Vec::new();
    let mut platform_spend: BTreeMap<PlatformId, i128> = BTreeMap::new();
    for p in &platforms {
        let terms = input
            .platforms
            .get(p)
            .ok_or(AdsError::NoPlatformAgreement {
                platform: *p,
                date: month.last_day(),
            })?;
        let keys: Vec<(CustomerId, PlatformId)> =
            lines.keys().filter(|(_, q)| q == p).copied().collect();
        let spends: Vec<i128> = keys.iter().map(|k| lines[k].spend).collect();
        let total: i128 = spends.iter().sum();
        platform_spend.insert(*p, total);
        let pid = p.raw();

        // Standard rate on the month's spend, split over the lines by spend.
        let std_total = calc.round(calc.dec(total) * terms.rebates.standard.rate.value())?;
        for (k, part) in keys.iter().zip(calc.allocate(std_total, &spends)?) {
            if let Some(l) = lines.get_mut(k) {
                l.standard = part;
            }
        }
        let std = terms.rebates.standard;
        if std.payout != RebatePayout::Cash {
            let payout = match std.settlement {
                PeriodLength::Monthly => std_total,
                _ if month.closes(std.settlement) => {
                    let prior: Vec<Month> = month
                        .months_to_date(std.settlement)
                        .into_iter()
                        .filter(|m| *m != month)
                        .collect();
                    let accrued: i128 = calc
                        .sums(&prior, PostingCode::StandardRebate)
                        .iter()
                        .filter(|((_, cp), _)| *cp == pid)
                        .map(|(_, v)| *v)
                        .sum();
                    accrued + std_total
                }
                _ => 0,
            };
            payout_targets.push((PostingCode::RebatePayoutStandard, *p, std.payout, payout));
        }

        // Progressive tiers on spend of the period to date; true-up when the period closes.
        if let Some(prog) = &terms.rebates.progressive {
            let prior: Vec<Month> = month
                .months_to_date(prog.period)
                .into_iter()
                .filter(|m| *m != month)
                .collect();
            let prior_spend: i128 = calc
                .sums(&prior, PostingCode::Spend)
                .iter()
                .filter(|((_, cp), _)| *cp == pid)
                .map(|(_, v)| *v)
                .sum();
            let accrual = calc.tier_rebate(&terms.rebates, prior_spend + total)?
                - calc.tier_rebate(&terms.rebates, prior_spend)?;
            for (k, part) in keys.iter().zip(calc.allocate(accrual, &spends)?) {
                if let Some(l) = lines.get_mut(k) {
                    l.tier = part;
                }
            }
            if month.closes(prog.period) {
                let prior_accrued: i128 = [PostingCode::TierRebate, PostingCode::TierTrueUp]
                    .iter()
                    .flat_map(|c| calc.sums(&prior, *c).into_iter())
                    .filter(|((_, cp), _)| *cp == pid)
                    .map(|(_, v)| v)
                    .sum();
                let final_rebate = calc.tier_rebate(&terms.rebates, prior_spend + total)?;
                let true_up = final_rebate - prior_accrued - accrual;
                let prior_by_line = tier_prior_spend_by_line.get(p);
                let period_weights: Vec<i128> = keys
                    .iter()
                    .map(|(c, _)| {
                        let prior = prior_by_line
                            .and_then(|m| m.get(&(c.raw(), pid)))
                            .copied()
                            .unwrap_or(0);
                        prior + lines[&(*c, *p)].spend
                    })
                    .collect();
                for (k, part) in keys.iter().zip(calc.allocate(true_up, &period_weights)?) {
                    if let Some(l) = lines.get_mut(k) {
                        l.true_up = part;
                    }
                }
                if prog.payout != RebatePayout::Cash {
                    payout_targets.push((
                        PostingCode::RebatePayoutTier,
                        *p,
                        prog.payout,
                        prior_accrued + accrual + true_up,
                    ));
                }
            } else if prog.payout != RebatePayout::Cash {
                payout_targets.push((PostingCode::RebatePayoutTier, *p, prog.payout, 0));
            }
        }
    }

    // 4. Customer rebates (the policy on the customer's month spend, split over its platforms) and
    //    KPI compensation (solution services, per campaign).
    let customers: BTreeSet<CustomerId> = lines.keys().map(|(c, _)| *c).collect();
    for c in &customers {
        let terms = input.customers.get(c).ok_or(AdsError::NoAgreement {
            customer: *c,
            date: month.last_day(),
        })?;
        let keys: Vec<(CustomerId, PlatformId)> = lines
            .range((*c, PlatformId::from_uuid(Uuid::nil()))..)
            .take_while(|(k, _)| k.0 == *c)
            .map(|(k, _)| *k)
            .collect();
        let spends: Vec<i128> = keys.iter().map(|k| lines[k].spend).collect();
        let total: i128 = spends.iter().sum();
        if let Some(other) = terms.rebate.currency().filter(|x| *x != cur) {
            return Err(AdsError::validation(
                format!("customers[{c}].rebate"),
                format!("the customer rebate policy is in {other}, the settlement in {cur}"),
            ));
        }
        let rebate = terms
            .rebate
            .rebate_on(&calc.m(total), input.rounding)?
            .to_minor()
            .ok_or_else(|| AdsError::validation("amount", "customer rebate out of range"))?;
        for (k, part) in keys.iter().zip(calc.allocate(rebate, &spends)?) {
            if let Some(l) = lines.get_mut(k) {
                l.customer_rebate = part;
            }
        }
    }
    let mut kpi_campaigns: Vec<_> = campaigns.iter().collect();
    kpi_campaigns.sort_by_key(|(id, _)| **id);
    for (id, (key, acc)) in kpi_campaigns {
        let service = input.customers.get(&key.0).map(|t| t.service_type);
        if service != Some(ServiceType::Solution) {
            continue;
        }
        let metrics = Metrics::compute(
            acc.impressions,
            acc.clicks,
            acc.conversions,
            Money::new(acc.spend, cur),
        );
        let mut worst = 0i128;
        for kpi in input.kpis.get(id).map(Vec::as_slice).unwrap_or_default() {
            let s = kpi.shortfall(&metrics)?;
            worst = worst.max(calc.round(s.amount())?);
        }
        if let Some(l) = lines.get_mut(key) {
            l.kpi += worst;
        }
    }

    // 5. Targets: the amount each (posting code, customer, platform) should total this month.
    let mut targets: BTreeMap<Key, (i128, Vec<(AccountId, AccountId)>)> = BTreeMap::new();
    let mut invoices: BTreeMap<CustomerId, Vec<(PlatformId, i128)>> = BTreeMap::new();
    for ((c, p), l) in &lines {
        let service = input
            .customers
            .get(c)
            .map(|t| t.service_type)
            .unwrap_or(ServiceType::Distribution);
        let (party, cp) = (c.raw(), p.raw());
        let tr = chart.customer(AccountKind::TradeReceivables, c);
        let or = chart.customer(AccountKind::OtherReceivables, c);
        let rp = chart.customer(AccountKind::RebatesPayable, c);
        let rr = chart.platform(AccountKind::RebatesReceivable, p);
        let revenue = chart.service(AccountKind::Revenue, service);
        let cost = chart.service(AccountKind::CostOfServices, service);
        let spend_pairs = match service {
            ServiceType::Solution => vec![(cost, or), (tr, revenue)],
            ServiceType::Distribution => vec![(tr, or)],
        };
        let rebate_credit = match service {
            ServiceType::Solution => cost,
            ServiceType::Distribution => revenue,
        };
        targets.insert(
            (PostingCode::Spend.code(), party, cp),
            (l.spend, spend_pairs),
        );
        for (code, amount) in [
            (PostingCode::StandardRebate, l.standard),
            (PostingCode::TierRebate, l.tier),
            (PostingCode::TierTrueUp, l.true_up),
        ] {
            targets.insert(
                (code.code(), party, cp),
                (amount, vec![(rr, rebate_credit)]),
            );
        }
        targets.insert(
            (PostingCode::CustomerRebate.code(), party, cp),
            (l.customer_rebate, vec![(revenue, rp)]),
        );
        targets.insert(
            (PostingCode::CustomerRebateNetted.code(), party, cp),
            (l.customer_rebate, vec![(rp, tr)]),
        );
        targets.insert(
            (PostingCode::KpiCompensation.code(), party, cp),
            (l.kpi, vec![(revenue, tr)]),
        );
        invoices
            .entry(*c)
            .or_default()
            .push((*p, l.spend - l.customer_rebate - l.kpi));
    }
    let posted = posted_in(engine, month);
    let mut deposits_applied: BTreeMap<CustomerId, i128> = BTreeMap::new();
    for (c, inv) in &invoices {
        let total: i128 = inv.iter().map(|(_, x)| x).sum();
        let party = c.raw();
        let already = posted
            .get(&(PostingCode::DepositApplied.code(), party, 0))
            .map_or(0, |(v, _)| *v);
        let available =
            calc.balance_net_credit(chart.customer(AccountKind::CustomerDeposits, c)) + already;
        let applied = total.min(available).max(0);
        deposits_applied.insert(*c, applied);
        targets.insert(
            (PostingCode::DepositApplied.code(), party, 0),
            (
                applied,
                vec![(
                    chart.customer(AccountKind::CustomerDeposits, c),
                    chart.customer(AccountKind::TradeReceivables, c),
                )],
            ),
        );
    }
    let mut platform_invoiced: BTreeMap<PlatformId, i128> = BTreeMap::new();
    for (p, spend) in &platform_spend {
        if let Some(PlatformTerms {
            settlement_terms: SettlementTerms::Monthly { .. },
            ..
        }) = input.platforms.get(p)
        {
            platform_invoiced.insert(*p, *spend);
            targets.insert(
                (PostingCode::PlatformInvoice.code(), 0, p.raw()),
                (
                    *spend,
                    vec![(
                        chart.platform(AccountKind::PlatformCreditDrawn, p),
                        chart.platform(AccountKind::TradePayables, p),
                    )],
                ),
            );
        }
    }
    let mut payouts: BTreeMap<(PlatformId, bool), (i128, i128)> = BTreeMap::new();
    for (code, p, route, amount) in &payout_targets {
        let debit = match route {
            RebatePayout::NetPayables => chart.platform(AccountKind::TradePayables, p),
            _ => chart.platform(AccountKind::PlatformPrepayments, p),
        };
        targets.insert(
            (code.code(), 0, p.raw()),
            (
                *amount,
                vec![(debit, chart.platform(AccountKind::RebatesReceivable, p))],
            ),
        );
        let e = payouts
            .entry((*p, *code == PostingCode::RebatePayoutTier))
            .or_default();
        if *route == RebatePayout::NetPayables {
            e.1 += amount;
        } else {
            e.0 += amount;
        }
    }

    // 6. Funding checks: spend billed cannot exceed what was topped up.
    let mut spend_delta: BTreeMap<CustomerId, i128> = BTreeMap::new();
    for ((c, p), l) in &lines {
        let already = posted
            .get(&(PostingCode::Spend.code(), c.raw(), p.raw()))
            .map_or(0, |(v, _)| *v);
        *spend_delta.entry(*c).or_default() += l.spend - already;
    }
    for (c, delta) in &spend_delta {
        let funded = calc.balance_net_debit(chart.customer(AccountKind::OtherReceivables, c));
        if *delta > funded {
            return Err(AdsError::SpendExceedsFunds {
                what: format!("customer {c}: spend billed against top-ups (other receivables)"),
                spend: calc.m(*delta),
                funded: calc.m(funded),
            });
        }
    }
    for (p, spend) in &platform_invoiced {
        let delta = spend
            - posted
                .get(&(PostingCode::PlatformInvoice.code(), 0, p.raw()))
                .map_or(0, |(v, _)| *v);
        let drawn = calc.balance_net_credit(chart.platform(AccountKind::PlatformCreditDrawn, p));
        if delta > drawn {
            return Err(AdsError::SpendExceedsFunds {
                what: format!("platform {p}: spend invoiced against credit drawn by top-ups"),
                spend: calc.m(delta),
                funded: calc.m(drawn),
            });
        }
    }

    // 7. Transfers: post the difference between each target and what is already posted.
    let mut transfers = Vec::new();
    for (key, (target, pairs)) in &targets {
        let (already, count) = posted.get(key).copied().unwrap_or((0, 0));
        let delta = target - already;
        let Some(code) = PostingCode::from_code(key.0) else {
            continue;
        };
        let id = settlement_id(month, *key, count);
        let meta = PostingMeta {
            code,
            period: month.key(),
            party: key.1,
            counterparty: key.2,
        };
        if let Some(t) = entry(id, meta, pairs, delta, cur) {
            transfers.push(t);
        }
    }
    // Anything posted earlier that has no target any more is reversed.
    let mut stale: Vec<(&Key, &(i128, u32))> = posted
        .iter()
        .filter(|(k, (v, _))| !targets.contains_key(k) && *v != 0)
        .collect();
    stale.sort_by_key(|(k, _)| **k);
    for (key, (already, count)) in stale {
        let (Some(code), Some(pairs)) =
            (PostingCode::from_code(key.0), pairs_of(engine, month, *key))
        else {
            continue;
        };
        let meta = PostingMeta {
            code,
            period: month.key(),
            party: key.1,
            counterparty: key.2,
        };
        if let Some(t) = entry(
            settlement_id(month, *key, *count),
            meta,
            &pairs,
            -already,
            cur,
        ) {
            transfers.push(t);
        }
    }

    // 8. The statement.
    let staff = calc.sums(&[month], PostingCode::StaffCosts);
    let figures = SettlementFigures {
        month,
        currency: cur,
        lines: lines
            .iter()
            .map(|((c, p), l)| {
                let service = input
                    .customers
                    .get(c)
                    .map(|t| t.service_type)
                    .unwrap_or(ServiceType::Distribution);
                let mut f = LineFigures::zero(*c, *p, service, cur);
                f.spend = calc.m(l.spend);
                f.standard_rebate = calc.m(l.standard);
                f.tier_rebate = calc.m(l.tier);
                f.tier_true_up = calc.m(l.true_up);
                f.customer_rebate = calc.m(l.customer_rebate);
                f.kpi_compensation = calc.m(l.kpi);
                f
            })
            .collect(),
        staff_costs: staff
            .iter()
            .filter_map(|((s, _), v)| ServiceType::from_code(*s).map(|s| (s, calc.m(*v))))
            .collect(),
        deposits_applied: deposits_applied
            .iter()
            .map(|(c, v)| (*c, calc.m(*v)))
            .collect(),
        platform_invoiced: platform_invoiced
            .iter()
            .map(|(p, v)| (*p, calc.m(*v)))
            .collect(),
        payouts: payouts
            .iter()
            .map(|((p, progressive), (credit, netted))| PayoutFigures {
                platform: *p,
                progressive: *progressive,
                as_credit: calc.m(*credit),
                netted: calc.m(*netted),
            })
            .collect(),
    }
    .normalised();
    let customer_invoices = invoices
        .iter()
        .map(|(c, inv)| {
            let days = input.customers.get(c).map_or(0, |t| t.credit_terms_days);
            let issued_on = month.last_day();
            Ok(CustomerInvoice {
                customer: *c,
                month,
                issued_on,
                due_on: due_after(issued_on, days, || {
                    format!("customers[{c}].credit_terms_days")
                })?,
                lines: inv.iter().map(|(p, x)| (*p, calc.m(*x))).collect(),
                amount: calc.m(inv.iter().map(|(_, x)| x).sum()),
                deposit_applied: calc.m(deposits_applied.get(c).copied().unwrap_or(0)),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let platform_invoices = platform_spend
        .iter()
        .map(|(p, spend)| {
            let netted: i128 = payouts
                .iter()
                .filter(|((q, _), _)| q == p)
                .map(|(_, (_, n))| n)
                .sum();
            let terms = input.platforms.get(p).map(|t| t.settlement_terms);
            let (payable, due_on, prepaid) = match terms {
                Some(SettlementTerms::Monthly { pay_within_days }) => (
                    spend - netted,
                    Some(due_after(month.last_day(), pay_within_days, || {
                        format!("platforms[{p}].settlement_terms.monthly.pay_within_days")
                    })?),
                    false,
                ),
                _ => (0, None, true),
            };
            Ok(PlatformInvoice {
                platform: *p,
                month,
                spend: calc.m(*spend),
                rebates_netted: calc.m(netted),
                payable: calc.m(payable),
                due_on,
                prepaid,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(SettlementPlan {
        statement: SettlementStatement {
            month,
            provisional: !missing.is_empty(),
            missing,
            figures,
            customer_invoices,
            platform_invoices,
        },
        transfers,
    })
}

/// The day `days` days after `day`, or a validation error on the terms `field` names when it
/// lies beyond the calendar.
fn due_after(day: NaiveDate, days: u32, field: impl FnOnce() -> String) -> Result<NaiveDate> {
    day.checked_add_days(chrono::Days::new(u64::from(days)))
        .ok_or_else(|| AdsError::validation(field(), "the due date lies beyond the calendar"))
}

/// What settlement already posted for the month: per key, the sum and the number of transfers.
fn posted_in(engine: &LedgerEngine, month: Month) -> HashMap<Key, (i128, u32)> {
    let mut out: HashMap<Key, (i128, u32)> = HashMap::new();
    for t in engine.transfers_in_period(month.key()) {
        if PostingCode::from_code(t.code()).is_some_and(PostingCode::is_settlement) {
            let e = out
                .entry((t.code(), t.party(), t.counterparty()))
                .or_default();
            e.0 += signed_amount(t.first_leg());
            e.1 += 1;
        }
    }
    out
}

/// The account pairs of the first transfer posted under `key`.
fn pairs_of(engine: &LedgerEngine, month: Month, key: Key) -> Option<Vec<(AccountId, AccountId)>> {
    let t = engine
        .transfers_in_period(month.key())
        .find(|t| (t.code(), t.party(), t.counterparty()) == key)?;
    let legs: Vec<_> = t.legs().collect();
    Some(
        legs.chunks(2)
            .filter_map(|c| Some((c.first()?.account, c.get(1)?.account)))
            .collect(),
    )
}

/// The id of the `revision`-th settlement transfer of `key` in `month`.
fn settlement_id(month: Month, key: Key, revision: u32) -> TransferId {
    let mut bytes = [0u8; 6 + 4 + 2 + 16 + 16 + 4];
    bytes[..6].copy_from_slice(b"settle");
    bytes[6..10].copy_from_slice(&month.key().to_be_bytes());
    bytes[10..12].copy_from_slice(&key.0.to_be_bytes());
    bytes[12..28].copy_from_slice(&key.1.to_be_bytes());
    bytes[28..44].copy_from_slice(&key.2.to_be_bytes());
    bytes[44..48].copy_from_slice(&revision.to_be_bytes());
    TransferId::derive_bytes(&bytes)
}
