//! Monthly settlement: customers × 3 platforms × 31 days of reports, computed and posted to the
//! in-memory ledger, against a bare `HashMap` aggregation of the same report lines measured in
//! the same run; a curve from 100 to 100,000 customers.
//!
//! Run: `cargo bench -p marketingforce-ads --bench settlement`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::Criterion;
use marketingforce_ads::agreement::{ServiceType, SettlementTerms};
use marketingforce_ads::campaign::KpiTarget;
use marketingforce_ads::chart::{AccountKind, Chart};
use marketingforce_ads::ids::{AdAccountId, CampaignId, CustomerId, PlatformId};
use marketingforce_ads::ledger::{Ledger, LedgerEngine, Leg, TransferId, TransferSpec};
use marketingforce_ads::period::{Month, PeriodLength};
use marketingforce_ads::rebate::*;
use marketingforce_ads::settlement::*;
use marketingforce_core::env::Env;
use marketingforce_core::id::{splitmix64, Uuid};
use marketingforce_core::money::{Currency, Decimal, Money, Rate, RoundingMode};
use marketingforce_core::storage::{Batch, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};

fn uuid(kind: u128, n: u64) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000u128 | kind << 64 | u128::from(n))
}

fn cny(s: &str) -> Money {
    Money::cny(s).unwrap()
}

struct World {
    input: SettlementInput,
    engine: LedgerEngine,
    chart: Chart,
    lines: usize,
}

fn platforms() -> Vec<(PlatformId, PlatformTerms)> {
    let tiers = TierSchedule {
        basis: TierBasis::Marginal,
        tiers: vec![
            Tier {
                from: cny("0"),
                to: Some(cny("5000000")),
                rate: "0%".parse().unwrap(),
            },
            Tier {
                from: cny("5000000"),
                to: Some(cny("50000000")),
                rate: "1%".parse().unwrap(),
            },
            Tier {
                from: cny("50000000"),
                to: None,
                rate: "2%".parse().unwrap(),
            },
        ],
    };
    let std = |rate: &str, settlement, payout| StandardRebate {
        rate: rate.parse().unwrap(),
        settlement,
        payout,
    };
    vec![
        (
            PlatformId::from_uuid(uuid(1, 1)),
            PlatformTerms {
                rebates: PlatformRebatePolicy {
                    standard: std("5%", PeriodLength::Monthly, RebatePayout::PrepaymentCredit),
                    progressive: Some(ProgressiveRebate {
                        period: PeriodLength::Quarterly,
                        schedule: tiers,
                        payout: RebatePayout::PrepaymentCredit,
                    }),
                },
                settlement_terms: SettlementTerms::Prepay,
            },
        ),
        (
            PlatformId::from_uuid(uuid(1, 2)),
            PlatformTerms {
                rebates: PlatformRebatePolicy {
                    standard: std("4%", PeriodLength::Quarterly, RebatePayout::NetPayables),
                    progressive: None,
                },
                settlement_terms: SettlementTerms::Monthly {
                    pay_within_days: 28,
                },
            },
        ),
        (
            PlatformId::from_uuid(uuid(1, 3)),
            PlatformTerms {
                rebates: PlatformRebatePolicy {
                    standard: std("3%", PeriodLength::Monthly, RebatePayout::Cash),
                    progressive: None,
                },
                settlement_terms: SettlementTerms::Prepay,
            },
        ),
    ]
}

fn world(customers: u64) -> World {
    let month: Month = "2026-03".parse().unwrap();
    let chart = Chart::new(Currency::CNY);
    let mut engine =
        LedgerEngine::with_capacity((customers * 4 + 20) as usize, (customers * 30) as usize);
    for a in chart.global_accounts() {
        engine.create_account(a).unwrap();
    }
    let plats = platforms();
    for (p, _) in &plats {
        for a in chart.platform_accounts(p) {
            engine.create_account(a).unwrap();
        }
    }
    let mut input = SettlementInput {
        month,
        currency: Currency::CNY,
        rounding: RoundingMode::HalfUp,
        customers: HashMap::with_capacity(customers as usize),
        platforms: plats.iter().cloned().collect(),
        accounts: HashMap::with_capacity((customers * 3) as usize),
        kpis: HashMap::new(),
        reports: Vec::with_capacity((customers * 3 * 31) as usize),
    };
    let opened = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let mut funding = Vec::new();
    let mut tid = 0u128;
    for c in 0..customers {
        let customer = CustomerId::from_uuid(uuid(2, c));
        let solution = c % 2 == 0;
        input.customers.insert(
            customer,
            CustomerTerms {
                service_type: if solution {
                    ServiceType::Solution
                } else {
                    ServiceType::Distribution
                },
                rebate: CustomerRebatePolicy::Fixed {
                    rate: Rate::new(Decimal::new(2 + (c % 3) as i64, 2)).unwrap(),
                },
                credit_terms_days: 90,
            },
        );
        for a in chart.customer_accounts(&customer) {
            engine.create_account(a).unwrap();
        }
        for (k, (p, terms)) in plats.iter().enumerate() {
            let n = c * 3 + k as u64;
            let account = AdAccountId::from_uuid(uuid(3, n));
            let campaign = CampaignId::from_uuid(uuid(4, n));
            input.accounts.insert(
                account,
                AccountInfo {
                    customer,
                    platform: *p,
                    opened_on: opened,
                    closed_on: None,
                },
            );
            if solution && c % 4 == 0 {
                input
                    .kpis
                    .insert(campaign, vec![KpiTarget::MaxCpc { max: cny("0.90") }]);
            }
            for date in month.dates() {
                let x = splitmix64(n << 8 | u64::from(chrono::Datelike::day(&date)));
                let spend = (x % 200_000) as i64; // up to 2,000.00
                let clicks = spend as u64 / 100;
                input.reports.push(ReportDay {
                    account,
                    date,
                    complete: true,
                    lines: vec![ReportLine {
                        campaign,
                        impressions: clicks * 40,
                        clicks,
                        conversions: clicks / 50,
                        spend: Money::new(Decimal::new(spend, 2), Currency::CNY),
                    }],
                });
            }
            // Fund the month's spend: prepay (or draw credit) and top up.
            let prepaid = matches!(terms.settlement_terms, SettlementTerms::Prepay);
            let fund = if prepaid {
                chart.platform(AccountKind::PlatformPrepayments, p)
            } else {
                chart.platform(AccountKind::PlatformCreditDrawn, p)
            };
            let amount = 31 * 200_000u64;
            if prepaid {
                tid += 1;
                funding.push(TransferSpec::posted(
                    TransferId::new(tid),
                    vec![
                        Leg::debit_minor(fund, amount, Currency::CNY),
                        Leg::credit_minor(chart.cash(), amount, Currency::CNY),
                    ],
                ));
            }
            tid += 1;
            funding.push(TransferSpec::posted(
                TransferId::new(tid),
                vec![
                    Leg::debit_minor(
                        chart.customer(AccountKind::OtherReceivables, &customer),
                        amount,
                        Currency::CNY,
                    ),
                    Leg::credit_minor(fund, amount, Currency::CNY),
                ],
            ));
        }
    }
    for chunk in funding.chunks(10_000) {
        engine.submit(chunk, 1).unwrap();
    }
    World {
        lines: (customers * 3) as usize,
        input,
        engine,
        chart,
    }
}

/// Bare aggregation of the same report lines into a `HashMap` per customer-platform.
fn baseline(w: &World) -> Duration {
    let t0 = Instant::now();
    let mut m: HashMap<(CustomerId, PlatformId), Decimal> = HashMap::with_capacity(w.lines);
    for r in &w.input.reports {
        let info = &w.input.accounts[&r.account];
        let e = m.entry((info.customer, info.platform)).or_default();
        for l in &r.lines {
            *e += l.spend.amount();
        }
    }
    black_box(&m);
    t0.elapsed()
}

struct Timing {
    plan: Duration,
    post: Duration,
    again: Duration,
    transfers: usize,
}

fn settle(w: &World) -> Timing {
    let mut engine = w.engine.clone();
    let t0 = Instant::now();
    let planned = plan(&w.input, &engine, &w.chart, SettlementMode::Final).unwrap();
    let plan_time = t0.elapsed();
    let t1 = Instant::now();
    engine.submit(&planned.transfers, 2).unwrap();
    let post = t1.elapsed();
    let t2 = Instant::now();
    let again = plan(&w.input, &engine, &w.chart, SettlementMode::Final).unwrap();
    let again_time = t2.elapsed();
    assert!(again.transfers.is_empty());
    assert_eq!(
        SettlementFigures::from_ledger(&engine, &w.chart, w.input.month).unwrap(),
        planned.statement.figures
    );
    Timing {
        plan: plan_time,
        post,
        again: again_time,
        transfers: planned.transfers.len(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    println!("\n== settlement of a month: customers x 3 platforms x 31 days (2 shared cores) ==");
    println!(
        "{:>9} {:>9} {:>8} {:>10} {:>9} {:>10} {:>10} {:>9} {:>9}",
        "customers",
        "reports",
        "xfers",
        "plan ms",
        "post ms",
        "total ms",
        "again ms",
        "base ms",
        "x base"
    );
    // Collected for the machine-readable line the bench suite (`scripts/bench.py`) collects.
    let mut figures = Vec::new();
    let mut base_1000 = None;
    for customers in [100u64, 1_000, 10_000, 100_000] {
        let w = world(customers);
        let runs = if customers >= 100_000 { 1 } else { 3 };
        let mut best: Option<Timing> = None;
        for _ in 0..runs {
            let t = settle(&w);
            if best
                .as_ref()
                .is_none_or(|b| t.plan + t.post < b.plan + b.post)
            {
                best = Some(t);
            }
        }
        let base = (0..runs).map(|_| baseline(&w)).min().unwrap_or_default();
        let Some(t) = best else { continue };
        let total = t.plan + t.post;
        println!(
            "{:>9} {:>9} {:>8} {:>10.1} {:>9.1} {:>10.1} {:>10.1} {:>9.1} {:>9.1}",
            customers,
            w.input.reports.len(),
            t.transfers,
            ms(t.plan),
            ms(t.post),
            ms(total),
            ms(t.again),
            ms(base),
            total.as_secs_f64() / base.as_secs_f64()
        );
        if customers == 1_000 {
            base_1000 = Some(base);
        }
        figures.push(serde_json::json!({
            "id": format!("ads.settlement.customers_{customers}"),
            "label": format!(
                "settle a month: {customers} customers x 3 platforms x 31 days (plan + post)"
            ),
            "value": ms(total),
            "unit": "ms",
            "baseline": "bare HashMap aggregation of the same report lines",
            "baseline_value": ms(base),
        }));
    }

    // 1,000 customers end to end through the durable ledger (one commit, MemoryStore).
    let w = world(1_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let durable = rt.block_on(async {
        let clock: Arc<dyn Clock> =
            Arc::new(ManualClock::at_rfc3339("2026-04-02T02:00:00Z").unwrap());
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let ledger = Ledger::open(&Env::builder(store).clock(clock).build(), TenantId::new())
            .await
            .unwrap();
        let accounts: Vec<_> = w.engine.accounts().map(|(a, _)| *a).collect();
        let funding: Vec<_> = w.engine.transfers().map(|t| t.to_transfer().spec).collect();
        ledger.create_accounts(accounts).await.unwrap();
        for chunk in funding.chunks(10_000) {
            ledger.post(chunk.to_vec()).await.unwrap();
        }
        let t0 = Instant::now();
        let planned = ledger
            .read(|e| plan(&w.input, e, &w.chart, SettlementMode::Final))
            .await
            .unwrap()
            .unwrap();
        ledger
            .commit(vec![], planned.transfers, Batch::new())
            .await
            .unwrap();
        t0.elapsed()
    });
    println!(
        "1,000 customers, plan + durable commit through the ledger (MemoryStore): {:.1} ms\n",
        ms(durable)
    );
    figures.push(serde_json::json!({
        "id": "ads.settlement.customers_1000_durable",
        "label": "settle 1,000 customers: plan + durable commit through the ledger (MemoryStore)",
        "value": ms(durable),
        "unit": "ms",
        "baseline": "bare HashMap aggregation of the same report lines",
        "baseline_value": base_1000.map(ms),
    }));
    println!("JSON {}", serde_json::Value::Array(figures));

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    c.bench_function("settle_1000_customers_plan_and_post", |b| {
        b.iter_batched(
            || w.engine.clone(),
            |mut engine| {
                let planned = plan(&w.input, &engine, &w.chart, SettlementMode::Final).unwrap();
                engine.submit(&planned.transfers, 2).unwrap();
                black_box(engine.transfer_count())
            },
            criterion::BatchSize::LargeInput,
        )
    });
    c.final_summary();
}
