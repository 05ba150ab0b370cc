//! Properties of settlement, rebate tiers and command replay, over generated inputs.

mod common;

use marketingforce_core::IdempotencyKey;
use std::collections::HashMap;

use chrono::NaiveDate;
use marketingforce_ads::account::{Funding, TopUpRequest};
use marketingforce_ads::agreement::{ServiceType, SettlementTerms};
use marketingforce_ads::campaign::KpiTarget;
use marketingforce_ads::chart::{AccountKind, Chart};
use marketingforce_ads::ids::{AdAccountId, CampaignId, CustomerId, PlatformId};
use marketingforce_ads::ledger::{LedgerEngine, Leg, Side, TransferId, TransferKind, TransferSpec};
use marketingforce_ads::period::{Month, PeriodLength};
use marketingforce_ads::rebate::*;
use marketingforce_ads::settlement::*;
use marketingforce_core::id::{splitmix64, Uuid};
use marketingforce_core::money::{Currency, Decimal, Money, Rate, RoundingMode};
use proptest::prelude::*;

struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = splitmix64(self.0);
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn rate(&mut self, max_bp: u64) -> Rate {
        Rate::new(Decimal::new(self.below(max_bp + 1) as i64, 4)).unwrap()
    }
}

fn id_of(n: u64) -> Uuid {
    // UUIDv7-shaped values, distinct per n.
    Uuid::from_u128((0x0190_0000_0000_7000_8000_0000_0000_0000u128) | u128::from(n))
}

fn tiers(g: &mut Gen, basis: TierBasis) -> TierSchedule {
    let n = 1 + g.below(4) as usize;
    let mut from = Decimal::ZERO;
    let mut rate = Decimal::ZERO;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        rate += Decimal::new(g.below(150) as i64, 4);
        let to = (i + 1 < n).then(|| from + Decimal::from(1 + g.below(60_000)));
        out.push(Tier {
            from: Money::new(from, Currency::CNY),
            to: to.map(|t| Money::new(t, Currency::CNY)),
            rate: Rate::new(rate).unwrap(),
        });
        from = to.unwrap_or(from);
    }
    TierSchedule { basis, tiers: out }
}

struct Case {
    months: [Month; 2],
    input: [SettlementInput; 2],
    chart: Chart,
    engine: LedgerEngine,
}

/// Customers, platforms, accounts and two months of reports; the ledger holds the chart and
/// enough top-ups for the spend.
fn case(seed: u64) -> Case {
    let mut g = Gen(seed);
    let chart = Chart::new(Currency::CNY);
    let mut engine = LedgerEngine::new();
    for a in chart.global_accounts() {
        engine.create_account(a).unwrap();
    }
    let months: [Month; 2] = ["2026-02".parse().unwrap(), "2026-03".parse().unwrap()];
    let n_customers = 1 + g.below(4);
    let n_platforms = 1 + g.below(3);
    let mut customers = HashMap::new();
    let mut platforms = HashMap::new();
    let mut accounts = HashMap::new();
    let mut kpis = HashMap::new();
    let customer_ids: Vec<CustomerId> = (0..n_customers)
        .map(|i| CustomerId::from_uuid(id_of(100 + i)))
        .collect();
    let platform_ids: Vec<PlatformId> = (0..n_platforms)
        .map(|i| PlatformId::from_uuid(id_of(200 + i)))
        .collect();
    for c in &customer_ids {
        customers.insert(
            *c,
            CustomerTerms {
                service_type: if g.chance(50) {
                    ServiceType::Solution
                } else {
                    ServiceType::Distribution
                },
                rebate: CustomerRebatePolicy::Fixed { rate: g.rate(500) },
                credit_terms_days: 30 + g.below(60) as u32,
            },
        );
        for a in chart.customer_accounts(c) {
            engine.create_account(a).unwrap();
        }
    }
    for p in &platform_ids {
        let monthly = g.chance(50);
        let payout = match g.below(3) {
            0 => RebatePayout::Cash,
            1 if monthly => RebatePayout::NetPayables,
            _ => RebatePayout::PrepaymentCredit,
        };
        let progressive = if g.chance(60) {
            let period = if g.chance(70) {
                PeriodLength::Quarterly
            } else {
                PeriodLength::Annual
            };
            let basis = if g.chance(50) {
                TierBasis::Marginal
            } else {
                TierBasis::WholeAmount
            };
            Some(ProgressiveRebate {
                period,
                schedule: tiers(&mut g, basis),
                payout: if payout == RebatePayout::NetPayables {
                    RebatePayout::NetPayables
                } else {
                    RebatePayout::PrepaymentCredit
                },
            })
        } else {
            None
        };
        platforms.insert(
            *p,
            PlatformTerms {
                rebates: PlatformRebatePolicy {
                    standard: StandardRebate {
                        rate: g.rate(800),
                        settlement: if g.chance(50) {
                            PeriodLength::Monthly
                        } else {
                            PeriodLength::Quarterly
                        },
                        payout,
                    },
                    progressive,
                },
                settlement_terms: if monthly {
                    SettlementTerms::Monthly {
                        pay_within_days: 28,
                    }
                } else {
                    SettlementTerms::Prepay
                },
            },
        );
        for a in chart.platform_accounts(p) {
            engine.create_account(a).unwrap();
        }
    }
    let mut reports: [Vec<ReportDay>; 2] = [Vec::new(), Vec::new()];
    let mut n = 0u64;
    let mut funding: HashMap<(CustomerId, PlatformId), i128> = HashMap::new();
    for c in &customer_ids {
        for p in &platform_ids {
            if !g.chance(70) {
                continue;
            }
            n += 1;
            let account = AdAccountId::from_uuid(id_of(1000 + n));
            accounts.insert(
                account,
                AccountInfo {
                    customer: *c,
                    platform: *p,
                    opened_on: NaiveDate::from_ymd_opt(2026, 1, 15).unwrap(),
                    closed_on: None,
                },
            );
            let campaigns: Vec<CampaignId> = (0..1 + g.below(2))
                .map(|k| CampaignId::from_uuid(id_of(5000 + n * 10 + k)))
                .collect();
            for camp in &campaigns {
                if customers[c].service_type == ServiceType::Solution && g.chance(40) {
                    kpis.insert(
                        *camp,
                        vec![KpiTarget::MaxCpc {
                            max: Money::cny("0.90").unwrap(),
                        }],
                    );
                }
            }
            for (mi, month) in months.iter().enumerate() {
                for date in month.dates() {
                    let mut lines = Vec::new();
                    for camp in &campaigns {
                        if !g.chance(80) {
                            continue;
                        }
                        // Milli-fen precision; now and then a refund.
                        let mut milli = i64::try_from(g.below(300_000_000)).unwrap();
                        if g.chance(3) {
                            milli = -milli / 10;
                        }
                        let clicks = g.below(4_000);
                        lines.push(ReportLine {
                            campaign: *camp,
                            impressions: clicks * (33 + g.below(20)),
                            clicks,
                            conversions: clicks / 50,
                            spend: Money::new(Decimal::new(milli, 5), Currency::CNY),
                        });
                    }
                    let total: i128 = lines
                        .iter()
                        .map(|l| l.spend.amount().abs().ceil().mantissa())
                        .sum();
                    *funding.entry((*c, *p)).or_default() += total * 100 + 100;
                    reports[mi].push(ReportDay {
                        account,
                        date,
                        complete: true,
                        lines,
                    });
                }
            }
        }
    }
    // Fund the spend: prepay the platforms, top up the customers.
    let mut k = 0u128;
    for ((c, p), amount) in &funding {
        let amount = u64::try_from(*amount).unwrap();
        let prepaid = matches!(platforms[p].settlement_terms, SettlementTerms::Prepay);
        let fund = if prepaid {
            chart.platform(AccountKind::PlatformPrepayments, p)
        } else {
            chart.platform(AccountKind::PlatformCreditDrawn, p)
        };
        let mut batch = Vec::new();
        k += 1;
        if prepaid {
            batch.push(TransferSpec::posted(
                TransferId::new(k << 8 | 1),
                vec![
                    Leg::debit_minor(fund, amount, Currency::CNY),
                    Leg::credit_minor(chart.cash(), amount, Currency::CNY),
                ],
            ));
        }
        batch.push(TransferSpec::posted(
            TransferId::new(k << 8 | 2),
            vec![
                Leg::debit_minor(
                    chart.customer(AccountKind::OtherReceivables, c),
                    amount,
                    Currency::CNY,
                ),
                Leg::credit_minor(fund, amount, Currency::CNY),
            ],
        ));
        engine.submit(&batch, 1).unwrap();
    }
    let input = |mi: usize, reports: Vec<ReportDay>| SettlementInput {
        month: months[mi],
        currency: Currency::CNY,
        rounding: RoundingMode::HalfUp,
        customers: customers.clone(),
        platforms: platforms.clone(),
        accounts: accounts.clone(),
        kpis: kpis.clone(),
        reports,
    };
    let [feb, mar] = reports;
    Case {
        months,
        input: [input(0, feb), input(1, mar)],
        chart,
        engine,
    }
}

fn post(engine: &mut LedgerEngine, plan: &SettlementPlan) {
    let now = engine.last_timestamp() + 1;
    engine.submit(&plan.transfers, now).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// For any inputs: every settlement transfer balances and the trial balance stays zero; the
    /// figures read back from the ledger equal the statement; settling again posts nothing;
    /// gross billing − traffic cost = net revenue in distribution services; revenue and cost
    /// follow each basis.
    #[test]
    fn settlement_invariants(seed in any::<u64>()) {
        let mut c = case(seed);
        for mi in 0..2 {
            let plan = plan(&c.input[mi], &c.engine, &c.chart, SettlementMode::Final).unwrap();
            let has_spend = c.input[mi].reports.iter().any(|r| r.lines.iter().any(|l| !l.spend.is_zero()));
            prop_assert_eq!(has_spend, !plan.transfers.is_empty());
            for t in &plan.transfers {
                let d: u128 = t.legs.iter().filter(|l| l.side == Side::Debit).map(|l| u128::from(l.amount)).sum();
                let k: u128 = t.legs.iter().filter(|l| l.side == Side::Credit).map(|l| u128::from(l.amount)).sum();
                prop_assert_eq!(d, k);
                prop_assert_eq!(t.kind, TransferKind::Posted);
            }
            post(&mut c.engine, &plan);
            for (_, posted, pending) in c.engine.trial_balance_at(u64::MAX) {
                prop_assert_eq!((posted, pending), (0, 0));
            }
            let from_ledger = SettlementFigures::from_ledger(&c.engine, &c.chart, c.months[mi]).unwrap();
            prop_assert_eq!(&from_ledger, &plan.statement.figures);
            let again = marketingforce_ads::settlement::plan(&c.input[mi], &c.engine, &c.chart, SettlementMode::Final).unwrap();
            prop_assert!(again.transfers.is_empty(), "{} transfers on a second run", again.transfers.len());
            prop_assert_eq!(&again.statement, &plan.statement);
            for l in &from_ledger.lines {
                match l.service_type {
                    ServiceType::Distribution => {
                        prop_assert_eq!(l.gross_billing().checked_sub(&l.traffic_cost()).unwrap(), l.revenue());
                        prop_assert!(l.kpi_compensation.is_zero());
                    }
                    ServiceType::Solution => {
                        prop_assert_eq!(l.revenue(), l.invoice());
                        prop_assert_eq!(l.cost(), l.spend.checked_sub(&l.platform_rebates()).unwrap());
                    }
                }
            }
            let (_, dist) = from_ledger.by_service_type().into_iter().find(|(s, _)| *s == ServiceType::Distribution).unwrap();
            prop_assert_eq!(dist.gross_billing.checked_sub(&dist.traffic_cost).unwrap(), dist.revenue);
            // Tiers are accrued on the period's spend to date and trued up at its close: after
            // March, each quarterly-tier platform's accrued tier rebates equal the tiers on its
            // quarter's actual spend.
            if mi == 1 {
                for (p, terms) in &c.input[1].platforms {
                    let Some(prog) = &terms.rebates.progressive else { continue };
                    if prog.period != PeriodLength::Quarterly { continue; }
                    let mut spend = 0i128;
                    let mut accrued = 0i128;
                    for m in c.months {
                        let f = SettlementFigures::from_ledger(&c.engine, &c.chart, m).unwrap();
                        for l in f.lines.iter().filter(|l| l.platform == *p) {
                            spend += l.spend.to_minor().unwrap();
                            accrued += l.tier_rebate.to_minor().unwrap() + l.tier_true_up.to_minor().unwrap();
                        }
                    }
                    let expected = prog.schedule.rebate(&Money::new(Decimal::new(spend.max(0) as i64, 2), Currency::CNY)).unwrap().round(RoundingMode::HalfUp);
                    prop_assert_eq!(accrued, expected.to_minor().unwrap());
                }
            }
        }
    }

    /// Settlement does not depend on the order reports arrived in.
    #[test]
    fn settlement_is_independent_of_report_order(seed in any::<u64>(), shuffle in any::<u64>()) {
        let c = case(seed);
        let first = plan(&c.input[0], &c.engine, &c.chart, SettlementMode::Final).unwrap();
        let mut shuffled = c.input[0].clone();
        let mut g = Gen(shuffle);
        let n = shuffled.reports.len();
        for i in (1..n).rev() {
            shuffled.reports.swap(i, g.below(i as u64 + 1) as usize);
        }
        for r in &mut shuffled.reports {
            r.lines.reverse();
        }
        let second = plan(&shuffled, &c.engine, &c.chart, SettlementMode::Final).unwrap();
        prop_assert_eq!(first, second);
    }

    /// Tier computations are monotone in spend, for both bases, and so is the rate looked up.
    #[test]
    fn tiers_are_monotone(seed in any::<u64>(), a in 0i64..50_000_000, b in 0i64..50_000_000) {
        let mut g = Gen(seed);
        let basis = if g.chance(50) { TierBasis::Marginal } else { TierBasis::WholeAmount };
        let schedule = tiers(&mut g, basis);
        schedule.validate_at("").unwrap();
        let (lo, hi) = (a.min(b), a.max(b));
        let m = |x: i64| Money::new(Decimal::new(x, 2), Currency::CNY);
        let (r_lo, r_hi) = (schedule.rebate(&m(lo)).unwrap(), schedule.rebate(&m(hi)).unwrap());
        prop_assert!(r_lo.amount() <= r_hi.amount(), "{} > {}", r_lo, r_hi);
        prop_assert!(schedule.rate_for(&m(lo)) <= schedule.rate_for(&m(hi)));
        // The rebate never exceeds the top rate applied to the whole amount.
        let top = schedule.tiers.last().unwrap().rate;
        prop_assert!(r_hi.amount() <= m(hi).amount() * top.value());
        // Marginal never exceeds whole-amount on the same tiers.
        let whole = TierSchedule { basis: TierBasis::WholeAmount, tiers: schedule.tiers.clone() };
        let marginal = TierSchedule { basis: TierBasis::Marginal, tiers: schedule.tiers.clone() };
        prop_assert!(marginal.rebate(&m(hi)).unwrap().amount() <= whole.rebate(&m(hi)).unwrap().amount());
    }
}

// ----- replaying commands through AdOps changes nothing -------------------------------------

#[derive(Debug, Clone)]
enum Cmd {
    TopUp {
        account: usize,
        amount: u32,
        prepaid: bool,
    },
    Receipt {
        amount: u32,
    },
    PlatformPrepayment {
        amount: u32,
    },
    StaffCosts {
        amount: u32,
    },
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        (0usize..2, 1u32..400_000, any::<bool>()).prop_map(|(account, amount, prepaid)| {
            Cmd::TopUp {
                account,
                amount,
                prepaid,
            }
        }),
        (1u32..200_000).prop_map(|amount| Cmd::Receipt { amount }),
        (1u32..500_000).prop_map(|amount| Cmd::PlatformPrepayment { amount }),
        (1u32..50_000).prop_map(|amount| Cmd::StaffCosts { amount }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Running any sequence of commands, then replaying all of them (same keys, any order),
    /// leaves the ledger and the results exactly as they were.
    #[test]
    fn replaying_commands_changes_nothing(cmds in proptest::collection::vec(cmd(), 1..12), order in any::<u64>()) {
        let rt = common::runtime();
        rt.block_on(async {
            let w = common::world().await;
            let d1 = w.ops.open_ad_account(&w.distribution.id, &w.p1.id, &IdempotencyKey::from_static("d1")).await.unwrap();
            let d2 = w.ops.open_ad_account(&w.distribution.id, &w.p2.id, &IdempotencyKey::from_static("d2")).await.unwrap();
            let accounts = [d1.id, d2.id];
            let run = |i: usize, c: Cmd| {
                let ops = &w.ops;
                let customer = w.distribution.id;
                let p1 = w.p1.id;
                async move {
                    let key = format!("k{i}");
                    let cents = |a: u32| Money::new(Decimal::new(i64::from(a), 2), Currency::CNY);
                    let today: NaiveDate = "2026-03-01".parse().unwrap();
                    let r: Result<String, String> = match c {
                        Cmd::TopUp { account, amount, prepaid } => ops
                            .top_up(TopUpRequest {
                                account: accounts[account],
                                amount: cents(amount),
                                funding: if prepaid { Funding::CustomerPrepayment } else { Funding::Credit },
                            }, &IdempotencyKey::new(key).unwrap())
                            .await
                            .map(|t| format!("{t:?}")),
                        Cmd::Receipt { amount } => ops.record_receipt(&customer, cents(amount), today, &IdempotencyKey::new(key).unwrap()).await.map(|r| format!("{r:?}")),
                        Cmd::PlatformPrepayment { amount } => ops.record_platform_prepayment(&p1, cents(amount), today, &IdempotencyKey::new(key).unwrap()).await.map(|r| format!("{r:?}")),
                        Cmd::StaffCosts { amount } => ops
                            .record_staff_costs("2026-03".parse().unwrap(), ServiceType::Distribution, cents(amount), &IdempotencyKey::new(key).unwrap())
                            .await
                            .map(|r| format!("{r:?}")),
                    }
                    .map_err(|e| format!("{e:?}").split('(').next().unwrap_or_default().to_string());
                    r
                }
            };
            let mut first = Vec::new();
            for (i, c) in cmds.iter().enumerate() {
                first.push(run(i, c.clone()).await);
            }
            let snapshot = |e: &LedgerEngine| (e.transfer_count(), e.accounts().map(|(a, b)| (*a, *b)).collect::<Vec<_>>());
            let before = w.ops.ledger().read(snapshot).await.unwrap();
            let mut idx: Vec<usize> = (0..cmds.len()).collect();
            let mut g = Gen(order);
            for i in (1..idx.len()).rev() {
                idx.swap(i, g.below(i as u64 + 1) as usize);
            }
            // Replay the commands that were recorded (a refused command was never recorded:
            // running it again later is a new request, not a replay).
            for i in idx.into_iter().filter(|i| first[*i].is_ok()) {
                let again = run(i, cmds[i].clone()).await;
                prop_assert_eq!(&again, &first[i]);
            }
            prop_assert_eq!(w.ops.ledger().read(snapshot).await.unwrap(), before);
            Ok(())
        })?;
    }
}
