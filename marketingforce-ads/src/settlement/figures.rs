//! Settlement figures, and how every one of them is read back from the ledger.

use std::collections::BTreeMap;

use marketingforce_core::id::Uuid;
use marketingforce_core::money::{Currency, Decimal, Money, RoundingMode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::agreement::ServiceType;
use crate::chart::{signed_amount, AccountKind, Chart, PostingCode};
use crate::error::Result;
use crate::ids::{CustomerId, PlatformId};
use crate::ledger::{minor_to_money, LedgerEngine, TransferView};
use crate::period::Month;

/// The figures of one customer on one platform for one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineFigures {
    /// The customer.
    pub customer: CustomerId,
    /// The platform.
    pub platform: PlatformId,
    /// The customer's service type.
    pub service_type: ServiceType,
    /// Traffic spend (what the platform charged, and what the customer is charged: no markup).
    pub spend: Money,
    /// Standard platform rebate accrued.
    pub standard_rebate: Money,
    /// Progressive (tier) platform rebate accrued.
    pub tier_rebate: Money,
    /// Tier true-up at the close of the tier period.
    pub tier_true_up: Money,
    /// Rebate to the customer.
    pub customer_rebate: Money,
    /// KPI compensation (solution services).
    pub kpi_compensation: Money,
}

impl LineFigures {
    pub(crate) fn zero(
        customer: CustomerId,
        platform: PlatformId,
        service_type: ServiceType,
        currency: Currency,
    ) -> Self {
        let z = Money::zero(currency);
        LineFigures {
            customer,
            platform,
            service_type,
            spend: z,
            standard_rebate: z,
            tier_rebate: z,
            tier_true_up: z,
            customer_rebate: z,
            kpi_compensation: z,
        }
    }

    fn currency(&self) -> Currency {
        self.spend.currency()
    }

    fn minor(m: &Money) -> i128 {
        m.to_minor().unwrap_or_default()
    }

    fn m(&self, minor: i128) -> Money {
        minor_to_money(minor, self.currency())
    }

    /// Rebates from the platform (standard + tier + true-up).
    pub fn platform_rebates(&self) -> Money {
        self.m(Self::minor(&self.standard_rebate)
            + Self::minor(&self.tier_rebate)
            + Self::minor(&self.tier_true_up))
    }

    /// Gross billing: traffic spend less customer rebates.
    pub fn gross_billing(&self) -> Money {
        self.m(Self::minor(&self.spend) - Self::minor(&self.customer_rebate))
    }

    /// The customer invoice: spend less customer rebates less KPI compensation.
    pub fn invoice(&self) -> Money {
        self.m(Self::minor(&self.spend)
            - Self::minor(&self.customer_rebate)
            - Self::minor(&self.kpi_compensation))
    }

    /// Traffic cost: spend less platform rebates.
    pub fn traffic_cost(&self) -> Money {
        self.m(Self::minor(&self.spend) - Self::minor(&self.platform_rebates()))
    }

    /// Revenue on the line's basis: gross (solution) = spend − customer rebates − KPI
    /// compensation; net (distribution) = platform rebates − customer rebates.
    pub fn revenue(&self) -> Money {
        match self.service_type {
            ServiceType::Solution => self.invoice(),
            ServiceType::Distribution => {
                self.m(Self::minor(&self.platform_rebates()) - Self::minor(&self.customer_rebate))
            }
        }
    }

    /// Cost of the line on its basis: the traffic cost under solution services, nothing under
    /// distribution (traffic is bought on the customer's behalf). Staff costs are added per
    /// service type.
    pub fn cost(&self) -> Money {
        match self.service_type {
            ServiceType::Solution => self.traffic_cost(),
            ServiceType::Distribution => Money::zero(self.currency()),
        }
    }

    fn is_zero(&self) -> bool {
        [
            &self.spend,
            &self.standard_rebate,
            &self.tier_rebate,
            &self.tier_true_up,
            &self.customer_rebate,
            &self.kpi_compensation,
        ]
        .iter()
        .all(|m| m.is_zero())
    }
}

/// Totals of a group of lines, with the rebate rates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Traffic spend.
    pub spend: Money,
    /// Rebates from platforms.
    pub platform_rebates: Money,
    /// Rebates to customers.
    pub customer_rebates: Money,
    /// KPI compensation.
    pub kpi_compensation: Money,
    /// Gross billing (spend − customer rebates).
    pub gross_billing: Money,
    /// Traffic cost (spend − platform rebates).
    pub traffic_cost: Money,
    /// Revenue on each line's basis.
    pub revenue: Money,
    /// Staff costs (only in per-service-type and overall summaries).
    pub staff_costs: Money,
    /// Cost: traffic cost of solution lines plus staff costs.
    pub cost: Money,
    /// Revenue − cost.
    pub gross_profit: Money,
    /// Rebate rate received = platform rebates ÷ spend (6 dp, half-even; other precisions with
    /// [`Summary::rate_rounded`]).
    pub rate_received: Option<Decimal>,
    /// Rate offered = customer rebates ÷ spend.
    pub rate_offered: Option<Decimal>,
    /// Net rebate rate = received − offered.
    pub net_rebate_rate: Option<Decimal>,
}

impl Summary {
    pub(crate) fn of<'a>(
        currency: Currency,
        lines: impl Iterator<Item = &'a LineFigures>,
        staff: i128,
    ) -> Summary {
        let mut t = [0i128; 8];
        for l in lines {
            let v = [
                &l.spend,
                &l.platform_rebates(),
                &l.customer_rebate,
                &l.kpi_compensation,
                &l.gross_billing(),
                &l.traffic_cost(),
                &l.revenue(),
                &l.cost(),
            ]
            .map(LineFigures::minor);
            for (acc, x) in t.iter_mut().zip(v) {
                *acc += x;
            }
        }
        let m = |x: i128| minor_to_money(x, currency);
        let rate = |n: i128| {
            (t[0] != 0).then(|| {
                RoundingMode::HalfEven
                    .round(Decimal::from(n) / Decimal::from(t[0]), 6)
                    .normalize()
            })
        };
        let cost = t[7] + staff;
        Summary {
            spend: m(t[0]),
            platform_rebates: m(t[1]),
            customer_rebates: m(t[2]),
            kpi_compensation: m(t[3]),
            gross_billing: m(t[4]),
            traffic_cost: m(t[5]),
            revenue: m(t[6]),
            staff_costs: m(staff),
            cost: m(cost),
            gross_profit: m(t[6] - cost),
            rate_received: rate(t[1]),
            rate_offered: rate(t[2]),
            net_rebate_rate: rate(t[1] - t[2]),
        }
    }
}

/// A rebate payout posted for a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PayoutFigures {
    /// The platform.
    pub platform: PlatformId,
    /// Standard or progressive rebates.
    pub progressive: bool,
    /// Paid as prepayment credit.
    pub as_credit: Money,
    /// Paid by netting off payables.
    pub netted: Money,
}

/// Everything a month's settlement posted, as figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementFigures {
    /// The month.
    pub month: Month,
    /// The currency.
    pub currency: Currency,
    /// Customer × platform lines, sorted.
    pub lines: Vec<LineFigures>,
    /// Staff costs per service type.
    pub staff_costs: Vec<(ServiceType, Money)>,
    /// Customer prepayments applied to the month's invoices.
    pub deposits_applied: Vec<(CustomerId, Money)>,
    /// Platform invoices posted as payables (monthly terms).
    pub platform_invoiced: Vec<(PlatformId, Money)>,
    /// Rebate payouts.
    pub payouts: Vec<PayoutFigures>,
}

impl SettlementFigures {
    fn staff(&self, service: Option<ServiceType>) -> i128 {
        self.staff_costs
            .iter()
            .filter(|(s, _)| service.is_none_or(|x| x == *s))
            .map(|(_, m)| LineFigures::minor(m))
            .sum()
    }

    /// Totals per service type (with its staff costs).
    pub fn by_service_type(&self) -> Vec<(ServiceType, Summary)> {
        ServiceType::ALL
            .into_iter()
            .map(|s| {
                let lines = self.lines.iter().filter(move |l| l.service_type == s);
                (s, Summary::of(self.currency, lines, self.staff(Some(s))))
            })
            .collect()
    }

    /// Totals per platform (staff costs are not attributed to platforms).
    pub fn by_platform(&self) -> Vec<(PlatformId, Summary)> {
        let mut platforms: Vec<PlatformId> = self.lines.iter().map(|l| l.platform).collect();
        platforms.sort();
        platforms.dedup();
        platforms
            .into_iter()
            .map(|p| {
                let lines = self.lines.iter().filter(move |l| l.platform == p);
                (p, Summary::of(self.currency, lines, 0))
            })
            .collect()
    }

    /// Totals over everything (with all staff costs).
    pub fn overall(&self) -> Summary {
        Summary::of(self.currency, self.lines.iter(), self.staff(None))
    }

    /// Each platform's share of the month's spend, largest first (concentration risk: one
    /// platform is often 80%+ of spend). Shares are rounded to 4 decimal places, half-even.
    pub fn platform_shares(&self) -> Vec<(PlatformId, Decimal)> {
        let total: i128 = self
            .lines
            .iter()
            .map(|l| LineFigures::minor(&l.spend))
            .sum();
        if total <= 0 {
            return Vec::new();
        }
        let mut per: BTreeMap<PlatformId, i128> = BTreeMap::new();
        for l in &self.lines {
            *per.entry(l.platform).or_default() += LineFigures::minor(&l.spend);
        }
        let mut shares: Vec<(PlatformId, Decimal)> = per
            .into_iter()
            .map(|(p, s)| {
                (
                    p,
                    RoundingMode::HalfEven.round(Decimal::from(s) / Decimal::from(total), 4),
                )
            })
            .collect();
        shares.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        shares
    }

    /// The month's invoice total of a customer.
    pub fn customer_invoice(&self, customer: &CustomerId) -> Money {
        let total: i128 = self
            .lines
            .iter()
            .filter(|l| l.customer == *customer)
            .map(|l| LineFigures::minor(&l.invoice()))
            .sum();
        minor_to_money(total, self.currency)
    }

    /// Normalise: drop all-zero lines and zero entries, sort everything.
    pub(crate) fn normalised(mut self) -> SettlementFigures {
        self.lines.retain(|l| !l.is_zero());
        self.lines.sort_by_key(|l| (l.customer, l.platform));
        self.staff_costs.retain(|(_, m)| !m.is_zero());
        self.staff_costs.sort_by_key(|(s, _)| *s);
        self.deposits_applied.retain(|(_, m)| !m.is_zero());
        self.deposits_applied.sort_by_key(|(c, _)| *c);
        self.platform_invoiced.retain(|(_, m)| !m.is_zero());
        self.platform_invoiced.sort_by_key(|(p, _)| *p);
        self.payouts
            .retain(|p| !(p.as_credit.is_zero() && p.netted.is_zero()));
        self.payouts.sort_by_key(|p| (p.platform, p.progressive));
        self
    }

    /// Read the month's figures back from the ledger alone: every settlement transfer carries
    /// its posting code, month, customer and platform, and its accounts tell the service type
    /// and the payout route.
    ///
    /// # Errors
    /// None today; reserved for ledgers holding transfers this crate did not write.
    pub fn from_ledger(
        engine: &LedgerEngine,
        chart: &Chart,
        month: Month,
    ) -> Result<SettlementFigures> {
        #[derive(Default)]
        struct Acc {
            v: [i128; 6],
            solution: bool,
        }
        let currency = chart.currency();
        let mut lines: BTreeMap<(u128, u128), Acc> = BTreeMap::new();
        let mut staff: BTreeMap<u128, i128> = BTreeMap::new();
        let mut deposits: BTreeMap<u128, i128> = BTreeMap::new();
        let mut invoiced: BTreeMap<u128, i128> = BTreeMap::new();
        let mut payouts: BTreeMap<(u128, bool), (i128, i128)> = BTreeMap::new();
        for t in engine.transfers_in_period(month.key()) {
            let amount = signed_amount(t.first_leg());
            let field = match t.code() {
                c if c == PostingCode::Spend.code() => Some(0),
                c if c == PostingCode::StandardRebate.code() => Some(1),
                c if c == PostingCode::TierRebate.code() => Some(2),
                c if c == PostingCode::TierTrueUp.code() => Some(3),
                c if c == PostingCode::CustomerRebate.code() => Some(4),
                c if c == PostingCode::KpiCompensation.code() => Some(5),
                _ => None,
            };
            if let Some(f) = field {
                let acc = lines.entry((t.party(), t.counterparty())).or_default();
                acc.v[f] += amount;
                acc.solution |= touches_solution(engine, &t);
                continue;
            }
            let code = t.code();
            if code == PostingCode::StaffCosts.code() {
                *staff.entry(t.party()).or_default() += amount;
            } else if code == PostingCode::DepositApplied.code() {
                *deposits.entry(t.party()).or_default() += amount;
            } else if code == PostingCode::PlatformInvoice.code() {
                *invoiced.entry(t.counterparty()).or_default() += amount;
            } else if code == PostingCode::RebatePayoutStandard.code()
                || code == PostingCode::RebatePayoutTier.code()
            {
                let to_payables = t
                    .first_leg()
                    .and_then(|l| engine.account(l.account))
                    .is_some_and(|a| a.code == AccountKind::TradePayables.code());
                let e = payouts
                    .entry((
                        t.counterparty(),
                        code == PostingCode::RebatePayoutTier.code(),
                    ))
                    .or_default();
                if to_payables {
                    e.1 += amount;
                } else {
                    e.0 += amount;
                }
            }
        }
        let m = |x: i128| minor_to_money(x, currency);
        let figures = SettlementFigures {
            month,
            currency,
            lines: lines
                .into_iter()
                .map(|((c, p), acc)| LineFigures {
                    customer: CustomerId::from_uuid(Uuid::from_u128(c)),
                    platform: PlatformId::from_uuid(Uuid::from_u128(p)),
                    service_type: if acc.solution {
                        ServiceType::Solution
                    } else {
                        ServiceType::Distribution
                    },
                    spend: m(acc.v[0]),
                    standard_rebate: m(acc.v[1]),
                    tier_rebate: m(acc.v[2]),
                    tier_true_up: m(acc.v[3]),
                    customer_rebate: m(acc.v[4]),
                    kpi_compensation: m(acc.v[5]),
                })
                .collect(),
            staff_costs: staff
                .into_iter()
                .filter_map(|(s, x)| ServiceType::from_code(s).map(|s| (s, m(x))))
                .collect(),
            deposits_applied: deposits
                .into_iter()
                .map(|(c, x)| (CustomerId::from_uuid(Uuid::from_u128(c)), m(x)))
                .collect(),
            platform_invoiced: invoiced
                .into_iter()
                .map(|(p, x)| (PlatformId::from_uuid(Uuid::from_u128(p)), m(x)))
                .collect(),
            payouts: payouts
                .into_iter()
                .map(|((p, progressive), (credit, netted))| PayoutFigures {
                    platform: PlatformId::from_uuid(Uuid::from_u128(p)),
                    progressive,
                    as_credit: m(credit),
                    netted: m(netted),
                })
                .collect(),
        };
        Ok(figures.normalised())
    }
}

/// Whether a transfer touches the solution service type's revenue or cost accounts.
fn touches_solution(engine: &LedgerEngine, t: &TransferView<'_>) -> bool {
    t.legs().any(|l| {
        engine.account(l.account).is_some_and(|a| {
            (a.code == AccountKind::Revenue.code() || a.code == AccountKind::CostOfServices.code())
                && a.owner == ServiceType::Solution.code()
        })
    })
}
