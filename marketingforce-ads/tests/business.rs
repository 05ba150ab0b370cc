//! A month of business end to end: two platforms, a solution customer and a distribution
//! customer, top-ups, campaigns, placements, daily reports, settlement, receivables,
//! reconciliation and a restart.

mod common;

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use common::*;
use marketingforce_ads::agreement::ServiceType;
use marketingforce_ads::chart::AccountKind;
use marketingforce_ads::ledger::Side;
use marketingforce_ads::ops::BalanceOwner;
use marketingforce_ads::period::Month;
use marketingforce_ads::rebate::TierSchedule;
use marketingforce_ads::review::{ApprovalRecord, CreativeDraft};
use marketingforce_ads::settlement::SettlementMode;
use marketingforce_core::adapters::ad_platform::AdPlatform;
use marketingforce_core::adapters::ad_platform::ReportRequest;
use marketingforce_core::money::{Money, RoundingMode};

fn sum<'a>(xs: impl Iterator<Item = &'a Money>) -> Money {
    Money::sum(marketingforce_core::money::Currency::CNY, xs).unwrap()
}

#[test]
fn a_month_of_business_settles_on_both_bases_and_is_derivable_from_the_ledger() {
    runtime().block_on(async {
        let w = world().await;
        let plan = accounts_and_campaigns(&w).await;

        // A creative goes through the review gate before placement.
        let creative = w
            .ops
            .register_creative(
                &w.solution.id,
                CreativeDraft {
                    title: "新品首发".into(),
                    body: "限时九折".into(),
                    media: vec!["https://cdn.example.com/a.mp4".into()],
                    landing_url: "https://shop.example.com/new".into(),
                },
                &IdempotencyKey::from_static("cr1"),
            )
            .await
            .unwrap();
        let approval = ApprovalRecord::approve(&creative, "合规-王", "rev-001", w.clock.now_utc());
        w.ops
            .approvals()
            .record(&w.tenant, &approval)
            .await
            .unwrap();
        let placement = w
            .ops
            .place_creative(
                &plan.campaigns[0].id,
                &creative.id,
                &IdempotencyKey::from_static("pl1"),
            )
            .await
            .unwrap();
        assert_eq!(placement.approval.review_ref, "rev-001");
        assert_eq!(
            w.ops.placements_of(&plan.campaigns[0].id).await.unwrap(),
            vec![placement]
        );

        deliver_march(&w, march()).await;
        ingest(&w, march()).await;
        // Conversions attributed by click id, counted once.
        let events = w
            .sim1
            .conversions(&ReportRequest {
                account_id: plan.s1.external_id.clone(),
                date: day("2026-03-05"),
            })
            .await
            .unwrap();
        assert!(!events.is_empty());
        let first = w
            .ops
            .ingest_conversions(&plan.s1.id, &events)
            .await
            .unwrap();
        let again = w
            .ops
            .ingest_conversions(&plan.s1.id, &events)
            .await
            .unwrap();
        assert_eq!(
            (first.attributed, again.attributed, again.duplicates),
            (events.len(), 0, events.len())
        );
        let perf = w
            .ops
            .campaign_performance(&plan.campaigns[0].id, day("2026-03-05"), day("2026-03-05"))
            .await
            .unwrap();
        assert_eq!(perf[0].attributed_orders, events.len() as u64);
        let ctr = perf[0].metrics.ctr.unwrap();
        assert!(
            ctr >= "0.02".parse().unwrap() && ctr <= "0.03".parse().unwrap(),
            "{ctr}"
        );

        after_month(&w);
        let month: Month = "2026-03".parse().unwrap();
        let statement = w
            .ops
            .settle_month(month, SettlementMode::Final)
            .await
            .unwrap();
        assert!(!statement.provisional);
        let figures = &statement.figures;
        assert_eq!(figures.lines.len(), 4);
        for l in &figures.lines {
            println!(
                "{} {:?}: spend {} std {} tier {} cust {} kpi {} revenue {}",
                l.platform,
                l.service_type,
                l.spend,
                l.standard_rebate,
                l.tier_rebate,
                l.customer_rebate,
                l.kpi_compensation,
                l.revenue()
            );
        }
        println!("overall: {:?}", figures.overall());

        // Every figure is derivable from the ledger alone.
        assert_eq!(&w.ops.settlement_figures(month).await.unwrap(), figures);

        for l in &figures.lines {
            let expected = match l.service_type {
                ServiceType::Solution => l
                    .spend
                    .checked_sub(&l.customer_rebate)
                    .unwrap()
                    .checked_sub(&l.kpi_compensation)
                    .unwrap(),
                ServiceType::Distribution => l
                    .platform_rebates()
                    .checked_sub(&l.customer_rebate)
                    .unwrap(),
            };
            assert_eq!(l.revenue(), expected);
            assert_eq!(
                l.traffic_cost(),
                l.spend.checked_sub(&l.platform_rebates()).unwrap()
            );
            if l.service_type == ServiceType::Distribution {
                assert_eq!(
                    l.gross_billing().checked_sub(&l.traffic_cost()).unwrap(),
                    l.revenue()
                );
            }
        }
        // The solution CPC campaign missed its 0.80 per click KPI: the customer pays less.
        let s1_line = figures
            .lines
            .iter()
            .find(|l| l.customer == w.solution.id && l.platform == w.p1.id)
            .unwrap();
        assert!(s1_line.kpi_compensation.is_positive());
        // Rates: 5% received on platform 1 plus tiers, 3% offered to the distribution customer.
        let by_type = figures.by_service_type();
        let dist = &by_type
            .iter()
            .find(|(s, _)| *s == ServiceType::Distribution)
            .unwrap()
            .1;
        assert_eq!(dist.rate_offered.unwrap().to_string(), "0.03");
        assert_eq!(
            dist.gross_billing.checked_sub(&dist.traffic_cost).unwrap(),
            dist.revenue
        );

        // Concentration: shares of spend per platform sum to one (within rounding).
        let shares = figures.platform_shares();
        let total: marketingforce_core::money::Decimal = shares.iter().map(|(_, s)| *s).sum();
        assert!(
            (total - marketingforce_core::money::Decimal::ONE).abs() <= "0.0002".parse().unwrap(),
            "{total}"
        );
        assert!(shares[0].1 >= shares[1].1);

        // Standard rebate of platform 1 = 5% of its month's spend; tiers on the quarter's spend.
        let p1_lines: Vec<_> = figures
            .lines
            .iter()
            .filter(|l| l.platform == w.p1.id)
            .collect();
        let p1_spend = sum(p1_lines.iter().map(|l| &l.spend));
        let std = sum(p1_lines.iter().map(|l| &l.standard_rebate));
        assert_eq!(
            std,
            p1_spend
                .mul_rate("5%".parse().unwrap())
                .round(RoundingMode::HalfUp)
        );
        let tiers: TierSchedule = tiered_policy().progressive.unwrap().schedule;
        let tier = sum(p1_lines.iter().map(|l| &l.tier_rebate));
        assert_eq!(
            tier,
            tiers.rebate(&p1_spend).unwrap().round(RoundingMode::HalfUp)
        );
        assert!(
            p1_lines.iter().all(|l| l.tier_true_up.is_zero()),
            "March closes Q1 with nothing accrued before"
        );

        // Invoices: spend − customer rebates − KPI compensation; prepayment applied.
        let d_invoice = statement
            .customer_invoices
            .iter()
            .find(|i| i.customer == w.distribution.id)
            .unwrap();
        assert_eq!(
            d_invoice.amount,
            figures.customer_invoice(&w.distribution.id)
        );
        assert_eq!(
            d_invoice.deposit_applied,
            d_invoice.amount.checked_min(&cny("150000")).unwrap()
        );
        assert_eq!(d_invoice.due_on, day("2026-07-29"));
        // Platform 2 invoices monthly; its quarterly standard rebate is netted off in March.
        let p2_invoice = statement
            .platform_invoices
            .iter()
            .find(|i| i.platform == w.p2.id)
            .unwrap();
        assert!(!p2_invoice.prepaid);
        assert!(p2_invoice.rebates_netted.is_positive());
        assert_eq!(
            p2_invoice.payable,
            p2_invoice
                .spend
                .checked_sub(&p2_invoice.rebates_netted)
                .unwrap()
        );
        assert_eq!(p2_invoice.due_on, Some(day("2026-04-28")));

        // Settling again changes nothing.
        let count = w.ops.ledger().read(|e| e.transfer_count()).await.unwrap();
        assert_eq!(
            w.ops
                .settle_month(month, SettlementMode::Final)
                .await
                .unwrap(),
            statement
        );
        assert_eq!(
            w.ops.ledger().read(|e| e.transfer_count()).await.unwrap(),
            count
        );
        assert_eq!(
            w.ops
                .settlement_record(month)
                .await
                .unwrap()
                .unwrap()
                .revision,
            1
        );

        // The books balance.
        for (_, posted, pending) in w
            .ops
            .ledger()
            .read(|e| e.trial_balance_at(u64::MAX))
            .await
            .unwrap()
        {
            assert_eq!((posted, pending), (0, 0));
        }

        // The platforms agree with us.
        let recon = w.ops.reconcile(month).await.unwrap();
        assert!(recon.mismatches.is_empty(), "{:?}", recon.mismatches);

        // Receivables: trade receivables in the ledger = open invoices.
        for c in [&w.solution, &w.distribution] {
            let open = sum(w
                .ops
                .invoices_of(&c.id)
                .await
                .unwrap()
                .iter()
                .map(|i| i.open())
                .collect::<Vec<_>>()
                .iter());
            let owner = BalanceOwner::Customer(c.id);
            assert_eq!(
                w.ops
                    .account_balance(AccountKind::TradeReceivables, owner)
                    .await
                    .unwrap(),
                open
            );
        }
        let s_invoice = statement
            .customer_invoices
            .iter()
            .find(|i| i.customer == w.solution.id)
            .unwrap();
        assert_eq!(s_invoice.due_on, day("2026-06-29"));
        let ageing = w.ops.ageing(day("2026-08-15")).await.unwrap();
        assert_eq!(
            ageing.totals[2], s_invoice.amount,
            "47 days past due is in the 31-60 bucket"
        );
        let overdue = w.ops.overdue(day("2026-08-15")).await.unwrap();
        assert_eq!(overdue[0].customer, w.solution.id);
        assert_eq!(overdue[0].days_overdue, 47);
        let receipt = w
            .ops
            .record_receipt(
                &w.solution.id,
                cny("50000"),
                day("2026-04-20"),
                &IdempotencyKey::from_static("pay-s"),
            )
            .await
            .unwrap();
        assert_eq!(receipt.applied, vec![(month, cny("50000"))]);
        let s_owner = BalanceOwner::Customer(w.solution.id);
        assert_eq!(
            w.ops
                .account_balance(AccountKind::TradeReceivables, s_owner)
                .await
                .unwrap(),
            s_invoice.amount.checked_sub(&cny("50000")).unwrap()
        );

        // Working capital: advances outstanding are top-ups not yet billed.
        let exposure = w.ops.exposure(&w.solution.id).await.unwrap();
        let s_spend = sum(figures
            .lines
            .iter()
            .filter(|l| l.customer == w.solution.id)
            .map(|l| &l.spend));
        assert_eq!(
            exposure.advances,
            cny("300000").checked_sub(&s_spend).unwrap()
        );
        let flow = w
            .ops
            .cash_flow(day("2026-03-01"), day("2026-04-30"))
            .await
            .unwrap();
        assert_eq!(flow[0].date, day("2026-03-01"));
        assert_eq!(flow[0].customer_receipts, cny("150000.00"));
        assert_eq!(flow[0].platform_payments, cny("800000.00"));
        let turnover = w
            .ops
            .turnover_days(day("2026-03-01"), day("2026-04-30"))
            .await
            .unwrap();
        assert!(
            turnover.trade_receivable_days.is_some() && turnover.other_receivable_days.is_some(),
            "{turnover:?}"
        );
        assert_eq!(turnover.advances_made, cny("550000.00"));

        // A new process on the same store sees exactly the same books.
        let reopened = open_ops(w.store.clone(), w.tenant, w.clock.clone(), 99).await;
        assert_eq!(
            reopened.settlement_figures(month).await.unwrap(),
            w.ops.settlement_figures(month).await.unwrap()
        );
        let balances = |e: &marketingforce_ads::ledger::LedgerEngine| {
            e.accounts().map(|(a, b)| (*a, *b)).collect::<Vec<_>>()
        };
        assert_eq!(
            reopened.ledger().read(balances).await.unwrap(),
            w.ops.ledger().read(balances).await.unwrap()
        );
        let _ = Side::Debit;
    });
}

#[test]
fn settlement_does_not_depend_on_report_arrival_order() {
    runtime().block_on(async {
        let mut statements = Vec::new();
        let mut ledgers = Vec::new();
        for reverse in [false, true] {
            let store: Arc<dyn marketingforce_core::storage::Store> =
                Arc::new(marketingforce_core::storage::MemoryStore::new());
            let tenant = marketingforce_core::tenant::TenantId::new();
            let w = world_with(store, tenant, 11).await;
            accounts_and_campaigns(&w).await;
            deliver_march(&w, march()).await;
            let mut dates = march();
            if reverse {
                dates.reverse();
            }
            // Duplicates too: every report twice.
            ingest(&w, dates.clone()).await;
            ingest(&w, dates).await;
            after_month(&w);
            let month: Month = "2026-03".parse().unwrap();
            statements.push(
                w.ops
                    .settle_month(month, SettlementMode::Final)
                    .await
                    .unwrap(),
            );
            ledgers.push(
                w.ops
                    .ledger()
                    .read(|e| {
                        e.transfers_in_period(month.key())
                            .map(|t| t.to_transfer().spec)
                            .collect::<Vec<_>>()
                    })
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(statements[0], statements[1]);
        assert_eq!(ledgers[0], ledgers[1]);
    });
}

trait NowUtc {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc>;
}

impl NowUtc for marketingforce_core::time::ManualClock {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        marketingforce_core::time::Clock::now(self)
    }
}
