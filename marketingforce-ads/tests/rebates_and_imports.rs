//! Customer rebate policies (tiers on actual spend, fixed amounts) as properties and through
//! settlement; spend imported from report exports; the books read as errors, not stale zeros.

mod common;

use std::collections::HashMap;

use common::*;
use marketingforce_ads::agreement::{ServiceType, SettlementTerms};
use marketingforce_ads::chart::{AccountKind, Chart};
use marketingforce_ads::config::Config;
use marketingforce_ads::ids::{AdAccountId, CampaignId, CustomerId, PlatformId};
use marketingforce_ads::import::{ImportFormat, ImportOptions};
use marketingforce_ads::ledger::{LedgerEngine, Leg, TransferId, TransferSpec};
use marketingforce_ads::ops::{BalanceOwner, StatementQuery};
use marketingforce_ads::period::Month;
use marketingforce_ads::rebate::{CustomerRebatePolicy, Tier, TierBasis, TierSchedule};
use marketingforce_ads::report::IngestOutcome;
use marketingforce_ads::settlement::*;
use marketingforce_core::money::{Currency, Decimal, Money, Rate, RoundingMode};
use marketingforce_core::ErrorKind;
use proptest::prelude::*;

/// Contiguous bands from zero with non-decreasing rates (what validation accepts).
fn schedule(basis: TierBasis, widths: &[u32], rates_bp: &[u32]) -> TierSchedule {
    let mut from = 0u64;
    let mut rate = 0u32;
    let n = widths.len().min(rates_bp.len());
    let tiers = (0..n)
        .map(|i| {
            rate = (rate + rates_bp[i]).min(10_000);
            let to = (i + 1 < n).then(|| from + u64::from(widths[i]) * 100);
            let t = Tier {
                from: Money::new(Decimal::from(from), Currency::CNY),
                to: to.map(|x| Money::new(Decimal::from(x), Currency::CNY)),
                rate: Rate::new(Decimal::new(i64::from(rate), 4)).unwrap(),
            };
            from = to.unwrap_or(from);
            t
        })
        .collect();
    TierSchedule { basis, tiers }
}

fn fen(x: i64) -> Money {
    Money::new(Decimal::new(x, 2), Currency::CNY)
}

fn tiered(s: TierSchedule) -> CustomerRebatePolicy {
    let p: CustomerRebatePolicy =
        serde_json::from_value(serde_json::json!({"tiered": {"schedule": s}})).unwrap();
    p.validate().unwrap();
    p
}

proptest! {
    #[test]
    fn tiered_rebates_are_monotone_bounded_and_marginal_never_above_whole(
        widths in prop::collection::vec(1u32..5_000, 1..5),
        rates in prop::collection::vec(0u32..3_000, 1..5),
        a in 0i64..200_000_000,
        b in 0i64..200_000_000,
    ) {
        let (lo, hi) = (fen(a.min(b)), fen(a.max(b)));
        let marginal = tiered(schedule(TierBasis::Marginal, &widths, &rates));
        let whole = tiered(schedule(TierBasis::WholeAmount, &widths, &rates));
        for p in [&marginal, &whole] {
            let r_lo = p.rebate_on(&lo, RoundingMode::HalfUp).unwrap();
            let r_hi = p.rebate_on(&hi, RoundingMode::HalfUp).unwrap();
            prop_assert!(r_lo.amount() <= r_hi.amount(), "monotone in spend");
            prop_assert!(r_hi.amount() <= hi.amount(), "never above the spend");
            prop_assert!(!r_lo.is_negative());
        }
        let m = marginal.rebate_on(&hi, RoundingMode::HalfUp).unwrap();
        let w = whole.rebate_on(&hi, RoundingMode::HalfUp).unwrap();
        prop_assert!(m.amount() <= w.amount(), "marginal {m} above whole-amount {w}");
    }

    #[test]
    fn a_flat_rate_is_the_one_band_schedule(bp in 0u32..10_000, spend in 0i64..1_000_000_000) {
        let rate = Rate::new(Decimal::new(i64::from(bp), 4)).unwrap();
        let flat = CustomerRebatePolicy::Fixed { rate };
        let band = tiered(TierSchedule::flat(rate, Currency::CNY));
        let s = fen(spend);
        prop_assert_eq!(
            flat.rebate_on(&s, RoundingMode::HalfEven).unwrap(),
            band.rebate_on(&s, RoundingMode::HalfEven).unwrap()
        );
    }

    #[test]
    fn a_fixed_amount_never_exceeds_the_spend(amount in 0i64..10_000_000, spend in -1_000_000i64..10_000_000) {
        let p = CustomerRebatePolicy::from_json(&format!(
            r#"{{"fixed_amount": {{"per_month": {{"amount": "{}", "currency": "CNY"}}}}}}"#,
            fen(amount).amount()
        )).unwrap();
        let r = p.rebate_on(&fen(spend), RoundingMode::HalfUp).unwrap();
        prop_assert!(!r.is_negative());
        prop_assert!(r.amount() <= fen(spend).amount().max(Decimal::ZERO));
        prop_assert!(r.amount() <= fen(amount).amount());
    }
}

#[test]
fn bad_policies_name_their_path() {
    let bands = |a: &str, b: &str| {
        format!(
            r#"{{"tiered": {{"schedule": {{"basis": "marginal", "tiers": [
            {{"from": {{"amount": "0", "currency": "CNY"}}, "to": {{"amount": "{a}", "currency": "CNY"}}, "rate": "1%"}},
            {{"from": {{"amount": "{b}", "currency": "CNY"}}, "rate": "2%"}}]}}}}}}"#
        )
    };
    let gap = CustomerRebatePolicy::from_json(&bands("100", "200")).unwrap_err();
    assert_eq!(gap.field(), Some("tiered.schedule.tiers[1].from"));
    let overlap = CustomerRebatePolicy::from_json(&bands("300", "200")).unwrap_err();
    assert_eq!(overlap.field(), Some("tiered.schedule.tiers[1].from"));
    let negative = CustomerRebatePolicy::from_json(
        r#"{"fixed_amount": {"per_month": {"amount": "-1", "currency": "CNY"}}}"#,
    )
    .unwrap_err();
    assert_eq!(negative.field(), Some("fixed_amount.per_month"));
    let fraction = CustomerRebatePolicy::from_json(
        r#"{"fixed_amount": {"per_month": {"amount": "1.001", "currency": "CNY"}}}"#,
    )
    .unwrap_err();
    assert_eq!(fraction.field(), Some("fixed_amount.per_month"));
    // Data written before tiers existed loads unchanged.
    let old = CustomerRebatePolicy::from_json(r#"{"fixed": {"rate": "3%"}}"#).unwrap();
    assert_eq!(old.rate().map(|r| r.to_string()).as_deref(), Some("3%"));
}

/// A ledger with the chart's accounts of `customer` and `platform`, and 10,000,000.00 topped up
/// for the customer on credit drawn at the platform.
fn funded_ledger(chart: &Chart, customer: &CustomerId, platform: &PlatformId) -> LedgerEngine {
    let mut ledger = LedgerEngine::new();
    for a in chart
        .global_accounts()
        .into_iter()
        .chain(chart.customer_accounts(customer))
        .chain(chart.platform_accounts(platform))
    {
        ledger.create_account(a).unwrap();
    }
    ledger
        .submit(
            &[TransferSpec::posted(
                TransferId::new(1),
                vec![
                    Leg::debit_minor(
                        chart.customer(AccountKind::OtherReceivables, customer),
                        1_000_000_000,
                        Currency::CNY,
                    ),
                    Leg::credit_minor(
                        chart.platform(AccountKind::PlatformCreditDrawn, platform),
                        1_000_000_000,
                        Currency::CNY,
                    ),
                ],
            )],
            1,
        )
        .unwrap();
    ledger
}

/// One customer, one platform, one account; `daily` spent every day of March 2026.
fn settle_with(policy: CustomerRebatePolicy, daily: &str) -> SettlementPlan {
    let chart = Chart::new(Currency::CNY);
    let (customer, platform, account) = (CustomerId::new(), PlatformId::new(), AdAccountId::new());
    let mut ledger = funded_ledger(&chart, &customer, &platform);
    let month: Month = "2026-03".parse().unwrap();
    let campaign = CampaignId::new();
    let input = SettlementInput {
        month,
        currency: Currency::CNY,
        rounding: RoundingMode::HalfUp,
        customers: HashMap::from([(
            customer,
            CustomerTerms {
                service_type: ServiceType::Distribution,
                rebate: policy,
                credit_terms_days: 60,
            },
        )]),
        platforms: HashMap::from([(
            platform,
            PlatformTerms {
                rebates: marketingforce_ads::rebate::PlatformRebatePolicy::standard(
                    "5%".parse().unwrap(),
                ),
                settlement_terms: SettlementTerms::Monthly {
                    pay_within_days: 28,
                },
            },
        )]),
        accounts: HashMap::from([(
            account,
            AccountInfo {
                customer,
                platform,
                opened_on: "2026-01-01".parse().unwrap(),
                closed_on: None,
            },
        )]),
        kpis: HashMap::new(),
        reports: month
            .dates()
            .map(|date| ReportDay {
                account,
                date,
                complete: true,
                lines: vec![ReportLine {
                    campaign,
                    impressions: 40_000,
                    clicks: 1_000,
                    conversions: 0,
                    spend: cny(daily),
                }],
            })
            .collect(),
    };
    let planned = plan(&input, &ledger, &chart, SettlementMode::Final).unwrap();
    ledger.submit(&planned.transfers, 2).unwrap();
    assert_eq!(
        SettlementFigures::from_ledger(&ledger, &chart, month).unwrap(),
        planned.statement.figures,
        "the customer rebate is read back from the ledger"
    );
    planned
}

#[test]
fn settlement_applies_tiers_to_the_months_spend_and_caps_fixed_amounts() {
    let s = |a: &str| Money::new(a.parse().unwrap(), Currency::CNY);
    let bands = |basis: &str| {
        CustomerRebatePolicy::from_json(&format!(
            r#"{{"tiered": {{"schedule": {{"basis": "{basis}", "tiers": [
            {{"from": {{"amount": "0", "currency": "CNY"}}, "to": {{"amount": "10000", "currency": "CNY"}}, "rate": "1%"}},
            {{"from": {{"amount": "10000", "currency": "CNY"}}, "to": {{"amount": "50000", "currency": "CNY"}}, "rate": "2%"}},
            {{"from": {{"amount": "50000", "currency": "CNY"}}, "rate": "3%"}}]}}}}}}"#
        ))
        .unwrap()
    };
    // 31 × 1,000.00 = 31,000.00: 1% of 10,000 + 2% of 21,000 = 520.00 marginal, 2% = 620.00 whole.
    let marginal = settle_with(bands("marginal"), "1000.00");
    let line = &marginal.statement.figures.lines[0];
    assert_eq!(line.spend, s("31000.00"));
    assert_eq!(line.customer_rebate, s("520.00"));
    assert_eq!(
        line.revenue(),
        s("1030.00"),
        "net basis: 5% of spend − rebate"
    );
    let whole = settle_with(bands("whole_amount"), "1000.00");
    assert_eq!(
        whole.statement.figures.lines[0].customer_rebate,
        s("620.00")
    );

    let fixed = |amount: &str| {
        CustomerRebatePolicy::from_json(&format!(
            r#"{{"fixed_amount": {{"per_month": {{"amount": "{amount}", "currency": "CNY"}}}}}}"#
        ))
        .unwrap()
    };
    let f = settle_with(fixed("800"), "1000.00");
    assert_eq!(f.statement.figures.lines[0].customer_rebate, s("800.00"));
    let capped = settle_with(fixed("800"), "10.00");
    assert_eq!(
        capped.statement.figures.lines[0].customer_rebate,
        s("310.00"),
        "never more than the month's spend"
    );
}

#[test]
fn months_roll_up_and_rates_round_on_request() {
    let s = |a: &str| Money::new(a.parse().unwrap(), Currency::CNY);
    let flat = CustomerRebatePolicy::Fixed {
        rate: "3%".parse().unwrap(),
    };
    let a = settle_with(flat.clone(), "1000.00").statement.figures;
    let mut b = settle_with(flat, "333.33").statement.figures;
    b.month = "2026-04".parse().unwrap();
    let rollup = SettlementRollup::of(&[b.clone(), a.clone()]).unwrap();
    assert_eq!(rollup.months, vec![a.month, b.month]);
    assert_eq!(
        rollup.overall.spend,
        a.overall().spend.checked_add(&b.overall().spend).unwrap()
    );
    assert_eq!(rollup.overall.spend, s("41333.23"));
    let distribution = rollup.service_type(ServiceType::Distribution).unwrap();
    assert_eq!(distribution.revenue, rollup.overall.revenue);
    assert!(rollup
        .service_type(ServiceType::Solution)
        .unwrap()
        .spend
        .is_zero());
    assert_eq!(rollup.by_platform.len(), 2, "two platforms, one per month");
    assert_eq!(
        rollup.overall.rate_rounded(RebateRate::Net, 2),
        Some(Decimal::new(2, 2))
    );
    assert_eq!(
        rollup.overall.rate_rounded(RebateRate::Received, 4),
        Some(Decimal::new(5, 2))
    );
    let twice = SettlementRollup::of(&[a.clone(), a]).unwrap_err();
    assert_eq!(twice.field(), Some("months[1]"));
    assert!(SettlementRollup::of(&[]).is_err());
}

#[test]
fn a_report_export_records_spend_once_and_settles_without_fetching() {
    runtime().block_on(async {
        let w = world().await;
        let plan = accounts_and_campaigns(&w).await;
        let accounts = [&plan.s1, &plan.s2, &plan.d1, &plan.d2];
        let mut csv = String::from("date,account_id,campaign_id,spend,impressions,clicks,ctr\n");
        let mut json = Vec::new();
        for d in march() {
            for (a, c) in accounts.iter().zip(&plan.campaigns) {
                csv.push_str(&format!(
                    "{d},{},{},100.00,5000,100,2%\n",
                    a.external_id, c.external_id
                ));
                json.push(serde_json::json!({"date": d.to_string(), "account_id": a.external_id,
                    "campaign_id": c.external_id, "spend": "100.00", "impressions": 5000, "clicks": 100}));
            }
        }
        let imported = w
            .ops
            .import_reports(&w.p1.id, ImportFormat::Csv, csv.as_bytes())
            .await
            .unwrap();
        // Accounts on the second platform are not found under the first.
        assert_eq!(imported.ingested.len(), 62);
        assert_eq!(imported.failed.len(), 62);
        assert!(imported.failed.iter().all(|f| f.code == "unknown_account"));
        let second = w
            .ops
            .import_reports(
                &w.p2.id,
                ImportFormat::Json,
                serde_json::to_vec(&json).unwrap().as_slice(),
            )
            .await
            .unwrap();
        assert_eq!(second.ingested.len(), 62);
        // The same export again changes nothing.
        let again = w
            .ops
            .import_reports(&w.p1.id, ImportFormat::Csv, csv.as_bytes())
            .await
            .unwrap();
        assert!(again
            .ingested
            .iter()
            .all(|d| d.outcome == IngestOutcome::Duplicate));
        // A bad row refuses the whole import, naming row and field, not the value.
        let bad = csv.replacen("100.00", "1OO.00", 1);
        let e = w
            .ops
            .import_reports(&w.p1.id, ImportFormat::Csv, bad.as_bytes())
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("rows[0].spend"));
        assert!(!e.to_string().contains("1OO"));

        after_month(&w);
        let month: Month = "2026-03".parse().unwrap();
        let statement = w.ops.settle_month(month, SettlementMode::Final).await.unwrap();
        for line in &statement.figures.lines {
            assert_eq!(line.spend, cny("3100.00"));
        }
        let rollup = w.ops.settlement_rollup(month, month.next()).await.unwrap();
        assert_eq!(rollup.overall.spend, cny("12400.00"));
        assert_eq!(rollup.monthly.len(), 2);

        // Balances: typed owners, unknown accounts are NotFound, statements page.
        let owner = BalanceOwner::Customer(w.solution.id);
        let receivable = w
            .ops
            .account_balance(AccountKind::TradeReceivables, owner)
            .await
            .unwrap();
        assert_eq!(receivable, statement.figures.customer_invoice(&w.solution.id));
        let stranger = BalanceOwner::Customer(CustomerId::new());
        let e = w
            .ops
            .account_balance(AccountKind::TradeReceivables, stranger)
            .await
            .unwrap_err();
        assert_eq!(marketingforce_core::Classify::kind(&e), ErrorKind::NotFound);
        let e = w
            .ops
            .account_balance(AccountKind::Revenue, owner)
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("owner"));
        let mut after = None;
        let mut entries = Vec::new();
        loop {
            let page = w
                .ops
                .account_statement(
                    AccountKind::OtherReceivables,
                    owner,
                    StatementQuery { after, limit: 2 },
                )
                .await
                .unwrap();
            assert!(page.entries.len() <= 2);
            entries.extend(page.entries);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let last = entries.last().unwrap();
        let other = w
            .ops
            .account_balance(AccountKind::OtherReceivables, owner)
            .await
            .unwrap();
        assert_eq!(last.balance_after, other);
        let total = Money::sum(Currency::CNY, entries.iter().map(|e| &e.posted_change)).unwrap();
        assert_eq!(total, other, "the changes add up to the balance");
        assert!(w
            .ops
            .account_statement(AccountKind::Cash, BalanceOwner::Agency, StatementQuery::first(0))
            .await
            .is_err());
    });
}

#[test]
fn an_export_covering_the_month_records_the_days_it_leaves_out_as_days_without_spend() {
    runtime().block_on(async {
        let w = world().await;
        let plan = accounts_and_campaigns(&w).await;
        let month: Month = "2026-03".parse().unwrap();
        // The platform lists one account-day with delivery, as real exports do.
        let (s1, c1) = (&plan.s1, &plan.campaigns[0]);
        let csv = format!(
            "date,account_id,campaign_id,spend,impressions,clicks\n2026-03-02,{},{},100.00,5000,100\n",
            s1.external_id, c1.external_id
        );
        let first = w
            .ops
            .import_reports(&w.p1.id, ImportFormat::Csv, csv.as_bytes())
            .await
            .unwrap();
        assert_eq!(first.ingested.len(), 1);
        after_month(&w);
        // Read as it is, the other days are missing: a final settlement is refused.
        let e = w
            .ops
            .settle_month(month, SettlementMode::Final)
            .await
            .unwrap_err();
        assert_eq!(marketingforce_core::Classify::code(&e), "missing_reports");

        let bad = ImportOptions::new().covering(day("2026-03-31"), day("2026-03-01"));
        let e = w
            .ops
            .import_reports_with(&w.p1.id, ImportFormat::Csv, csv.as_bytes(), &bad)
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("covers"));

        let covering = ImportOptions::new().covering_month(month);
        let filled = w
            .ops
            .import_reports_with(&w.p1.id, ImportFormat::Csv, csv.as_bytes(), &covering)
            .await
            .unwrap();
        // Two accounts on the first platform: 62 account-days, the listed one a duplicate.
        assert_eq!(filled.ingested.len(), 62, "{filled:?}");
        assert!(filled.failed.is_empty());
        let duplicates = filled
            .ingested
            .iter()
            .filter(|d| d.outcome == IngestOutcome::Duplicate)
            .count();
        assert_eq!(duplicates, 1);
        // Covering again changes nothing.
        let again = w
            .ops
            .import_reports_with(&w.p1.id, ImportFormat::Csv, csv.as_bytes(), &covering)
            .await
            .unwrap();
        assert!(again
            .ingested
            .iter()
            .all(|d| d.outcome == IngestOutcome::Duplicate));
        // A later export listing a day recorded as empty replaces it (revision 1 over 0).
        let late = format!(
            "date,account_id,campaign_id,spend,impressions,clicks\n2026-03-03,{},{},50.00,2000,40\n",
            s1.external_id, c1.external_id
        );
        let replaced = w
            .ops
            .import_reports(&w.p1.id, ImportFormat::Csv, late.as_bytes())
            .await
            .unwrap();
        assert_ne!(replaced.ingested[0].outcome, IngestOutcome::Duplicate);
        // The second platform's accounts still lack reports; settle what the first one has.
        let statement = w
            .ops
            .settle_month(month, SettlementMode::Provisional)
            .await
            .unwrap();
        let spend_p1: Money = statement
            .figures
            .lines
            .iter()
            .filter(|l| l.platform == w.p1.id)
            .fold(cny("0"), |a, l| a.checked_add(&l.spend).unwrap());
        assert_eq!(spend_p1, cny("150.00"));
    });
}

/// Guards settlement against reports whose figures add up beyond what can be held: two days
/// of a campaign with a KPI, each within range, whose month totals (spend above the decimal
/// range, impressions above `u64`) do not fit. Settlement must refuse with a typed error naming
/// the report line — never panic (debug) or wrap around into a wrong KPI compensation
/// (release).
#[test]
fn month_totals_beyond_range_are_a_typed_error_naming_the_line() {
    let chart = Chart::new(Currency::CNY);
    let (customer, platform, account) = (CustomerId::new(), PlatformId::new(), AdAccountId::new());
    let campaign = CampaignId::new();
    let month: Month = "2026-03".parse().unwrap();
    let input = |spend: Money, impressions: u64| SettlementInput {
        month,
        currency: Currency::CNY,
        rounding: RoundingMode::HalfUp,
        customers: HashMap::from([(
            customer,
            CustomerTerms {
                service_type: ServiceType::Solution,
                rebate: CustomerRebatePolicy::Fixed {
                    rate: "3%".parse().unwrap(),
                },
                credit_terms_days: 60,
            },
        )]),
        platforms: HashMap::from([(
            platform,
            PlatformTerms {
                rebates: marketingforce_ads::rebate::PlatformRebatePolicy::standard(
                    "5%".parse().unwrap(),
                ),
                settlement_terms: SettlementTerms::Prepay,
            },
        )]),
        accounts: HashMap::from([(
            account,
            AccountInfo {
                customer,
                platform,
                opened_on: "2026-03-01".parse().unwrap(),
                closed_on: None,
            },
        )]),
        kpis: HashMap::from([(
            campaign,
            vec![marketingforce_ads::campaign::KpiTarget::MaxCpm { max: cny("10") }],
        )]),
        reports: ["2026-03-01", "2026-03-02"]
            .into_iter()
            .map(|d| ReportDay {
                account,
                date: d.parse().unwrap(),
                complete: true,
                lines: vec![ReportLine {
                    campaign,
                    impressions,
                    clicks: 0,
                    conversions: 0,
                    spend,
                }],
            })
            .collect(),
    };
    let ledger = LedgerEngine::new();
    let huge = Money::new(
        "50000000000000000000000000000".parse().unwrap(),
        Currency::CNY,
    );
    let e = plan(
        &input(huge, 1),
        &ledger,
        &chart,
        SettlementMode::Provisional,
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("reports[1].lines[0].spend"), "{e}");
    let e = plan(
        &input(cny("1"), u64::MAX),
        &ledger,
        &chart,
        SettlementMode::Provisional,
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("reports[1].lines[0].impressions"), "{e}");
}

/// Guards the payout of a standard rebate settled quarterly: when the quarter closes, the
/// platform is paid (here: as prepayment credit) everything accrued over the quarter, even if
/// none of its accounts spent — or was open — in the quarter's last month. Otherwise the
/// quarter's accrual stays in rebates receivable for good, and the prepaid funds the books
/// show at the platform fall short of what the platform credited.
#[test]
fn a_quarterly_standard_rebate_is_paid_out_without_spend_in_the_closing_month() {
    use marketingforce_ads::period::PeriodLength;
    use marketingforce_ads::rebate::{PlatformRebatePolicy, RebatePayout, StandardRebate};

    let chart = Chart::new(Currency::CNY);
    let (customer, platform, account) = (CustomerId::new(), PlatformId::new(), AdAccountId::new());
    // Topped up on credit drawn at the platform.
    let mut ledger = funded_ledger(&chart, &customer, &platform);
    let campaign = CampaignId::new();
    // The account spends 1,000.00 a day in January and February and closes on 1 March.
    let input = |month: Month| SettlementInput {
        month,
        currency: Currency::CNY,
        rounding: RoundingMode::HalfUp,
        customers: HashMap::from([(
            customer,
            CustomerTerms {
                service_type: ServiceType::Distribution,
                rebate: CustomerRebatePolicy::Fixed {
                    rate: "3%".parse().unwrap(),
                },
                credit_terms_days: 60,
            },
        )]),
        platforms: HashMap::from([(
            platform,
            PlatformTerms {
                rebates: PlatformRebatePolicy {
                    standard: StandardRebate {
                        rate: "5%".parse().unwrap(),
                        settlement: PeriodLength::Quarterly,
                        payout: RebatePayout::PrepaymentCredit,
                    },
                    progressive: None,
                },
                settlement_terms: SettlementTerms::Monthly {
                    pay_within_days: 28,
                },
            },
        )]),
        accounts: HashMap::from([(
            account,
            AccountInfo {
                customer,
                platform,
                opened_on: "2026-01-01".parse().unwrap(),
                closed_on: Some("2026-03-01".parse().unwrap()),
            },
        )]),
        kpis: HashMap::new(),
        reports: if month.month() < 3 {
            month
                .dates()
                .map(|date| ReportDay {
                    account,
                    date,
                    complete: true,
                    lines: vec![ReportLine {
                        campaign,
                        impressions: 40_000,
                        clicks: 1_000,
                        conversions: 0,
                        spend: cny("1000.00"),
                    }],
                })
                .collect()
        } else {
            Vec::new()
        },
    };
    let mut accrued = 0i128;
    let mut paid = 0i128;
    for (i, m) in ["2026-01", "2026-02", "2026-03"].into_iter().enumerate() {
        let month: Month = m.parse().unwrap();
        let planned = plan(&input(month), &ledger, &chart, SettlementMode::Final).unwrap();
        ledger.submit(&planned.transfers, 10 + i as u64).unwrap();
        let figures = SettlementFigures::from_ledger(&ledger, &chart, month).unwrap();
        assert_eq!(figures, planned.statement.figures);
        for l in &figures.lines {
            accrued += l.standard_rebate.to_minor().unwrap();
        }
        for p in figures.payouts.iter().filter(|p| !p.progressive) {
            paid += p.as_credit.to_minor().unwrap() + p.netted.to_minor().unwrap();
        }
    }
    // 5% of 59 × 1,000.00.
    assert_eq!(accrued, 295_000);
    assert_eq!(
        paid, accrued,
        "the quarter's standard rebate paid out at its close"
    );
    let receivable = ledger
        .balance(chart.platform(AccountKind::RebatesReceivable, &platform))
        .unwrap();
    assert_eq!(receivable.debits_posted, receivable.credits_posted);
}
