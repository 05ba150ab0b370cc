//! Extreme amounts and counts: every public entry point answers a typed error naming the field
//! (or a result), never a panic.

use std::collections::HashMap;

use marketingforce_ads::agreement::{ServiceType, SettlementTerms};
use marketingforce_ads::chart::{AccountKind, Chart};
use marketingforce_ads::ids::{AdAccountId, CampaignId, CustomerId, PlatformId};
use marketingforce_ads::ledger::{LedgerEngine, Leg, TransferId, TransferSpec};
use marketingforce_ads::rebate::{CustomerRebatePolicy, PlatformRebatePolicy};
use marketingforce_ads::settlement::*;
use marketingforce_core::money::{Currency, Decimal, Money, RoundingMode};
use proptest::prelude::*;

/// One platform, `spends.len()` customers with one account each, each spending its amount on
/// the first day of March 2026.
fn settlement_input(spends: &[Decimal]) -> (SettlementInput, LedgerEngine, Chart) {
    let chart = Chart::new(Currency::CNY);
    let platform = PlatformId::new();
    let mut ledger = LedgerEngine::new();
    for a in chart
        .global_accounts()
        .into_iter()
        .chain(chart.platform_accounts(&platform))
    {
        ledger.create_account(a).unwrap();
    }
    let month = "2026-03".parse().unwrap();
    let mut customers = HashMap::new();
    let mut accounts = HashMap::new();
    let mut reports = Vec::new();
    for spend in spends {
        let (customer, account) = (CustomerId::new(), AdAccountId::new());
        for a in chart.customer_accounts(&customer) {
            ledger.create_account(a).unwrap();
        }
        customers.insert(
            customer,
            CustomerTerms {
                service_type: ServiceType::Distribution,
                rebate: CustomerRebatePolicy::Fixed {
                    rate: "3%".parse().unwrap(),
                },
                credit_terms_days: 60,
            },
        );
        accounts.insert(
            account,
            AccountInfo {
                customer,
                platform,
                opened_on: "2026-01-01".parse().unwrap(),
                closed_on: None,
            },
        );
        // Top up what fits the ledger (from credit drawn at the platform).
        let fen = Money::new(*spend, Currency::CNY).to_minor();
        if let Some(fen) = fen.and_then(|f| u64::try_from(f).ok()).filter(|f| *f > 0) {
            let id = TransferId::new(1 + reports.len() as u128);
            ledger
                .submit(
                    &[TransferSpec::posted(
                        id,
                        vec![
                            Leg::debit_minor(
                                chart.customer(AccountKind::OtherReceivables, &customer),
                                fen,
                                Currency::CNY,
                            ),
                            Leg::credit_minor(
                                chart.platform(AccountKind::PlatformCreditDrawn, &platform),
                                fen,
                                Currency::CNY,
                            ),
                        ],
                    )],
                    1,
                )
                .unwrap();
        }
        reports.push(ReportDay {
            account,
            date: "2026-03-01".parse().unwrap(),
            complete: true,
            lines: vec![ReportLine {
                campaign: CampaignId::new(),
                impressions: 0,
                clicks: 0,
                conversions: 0,
                spend: Money::new(*spend, Currency::CNY),
            }],
        });
    }
    let input = SettlementInput {
        month,
        currency: Currency::CNY,
        rounding: RoundingMode::HalfUp,
        customers,
        platforms: HashMap::from([(
            platform,
            PlatformTerms {
                rebates: PlatformRebatePolicy::standard("5%".parse().unwrap()),
                settlement_terms: SettlementTerms::Monthly {
                    pay_within_days: 28,
                },
            },
        )]),
        accounts,
        kpis: HashMap::new(),
        reports,
    };
    (input, ledger, chart)
}

/// Spend of one customer in yuan: up to the largest amount whose fen still fit a decimal.
fn extreme_spend() -> impl Strategy<Value = Decimal> {
    (0u128..=792_281_625_142_643_375_935_439_503u128)
        .prop_map(|fen| Decimal::from_i128_with_scale(fen as i128, 2))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Settling customers whose spend on one platform adds up beyond the decimal range is
    /// refused with a typed error, never a panic.
    #[test]
    fn settlement_over_extreme_spend_never_panics(spends in prop::collection::vec(extreme_spend(), 1..4)) {
        let (input, ledger, chart) = settlement_input(&spends);
        if let Err(e) = plan(&input, &ledger, &chart, SettlementMode::Provisional) {
            prop_assert!(e.field().is_some(), "{e}");
        }
    }
}

#[test]
fn a_platform_total_beyond_the_decimal_range_is_refused() {
    let big = Decimal::from_i128_with_scale(500_000_000_000_000_000_000_000_000, 2);
    let (input, ledger, chart) = settlement_input(&[big, big]);
    let e = plan(&input, &ledger, &chart, SettlementMode::Provisional).unwrap_err();
    assert!(e.field().is_some(), "{e}");
}

#[test]
fn due_dates_beyond_the_calendar_are_refused_naming_the_terms() {
    let spend = Decimal::new(100_000, 2);
    let (mut input, ledger, chart) = settlement_input(&[spend]);
    for terms in input.customers.values_mut() {
        terms.credit_terms_days = u32::MAX;
    }
    let e = plan(&input, &ledger, &chart, SettlementMode::Provisional).unwrap_err();
    let customer = *input.customers.keys().next().unwrap();
    assert_eq!(
        e.field(),
        Some(format!("customers[{customer}].credit_terms_days").as_str()),
        "{e}"
    );

    let (mut input, ledger, chart) = settlement_input(&[spend]);
    for terms in input.platforms.values_mut() {
        terms.settlement_terms = SettlementTerms::Monthly {
            pay_within_days: u32::MAX,
        };
    }
    let e = plan(&input, &ledger, &chart, SettlementMode::Provisional).unwrap_err();
    let platform = *input.platforms.keys().next().unwrap();
    assert_eq!(
        e.field(),
        Some(format!("platforms[{platform}].settlement_terms.monthly.pay_within_days").as_str()),
        "{e}"
    );
}

#[test]
fn a_review_whose_validity_horizon_leaves_the_calendar_answers() {
    use chrono::NaiveDate;
    use marketingforce_ads::party::*;

    let dossier = QualificationDossier {
        licence: BusinessLicence {
            number: uscc_with_check_digit("91310000MA1FL8XQ3").unwrap(),
            registered_name: "上海某机械有限公司".into(),
            expires_on: Some(NaiveDate::MAX),
        },
        industry: "machinery".into(),
        permits: vec![],
        reputation: Reputation::default(),
        credit_rating: CreditRating::A,
        financials: Financials {
            net_assets: Money::cny("8000000").unwrap(),
            debt_ratio: "55%".parse().unwrap(),
            loss_making_years: 0,
        },
    };
    let policy = QualificationPolicy {
        licence_min_validity_days: u32::MAX,
        ..QualificationPolicy::default()
    };
    let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let r = review(&policy, &dossier, today, "reviewer");
    assert_eq!(r.outcome, ReviewOutcome::Rejected);
    assert!(matches!(
        r.reasons[..],
        [RejectionReason::LicenceExpiring { .. }]
    ));
    // The last day of the calendar, with the default 30 days of validity.
    let r = review(
        &QualificationPolicy::default(),
        &dossier,
        NaiveDate::MAX,
        "reviewer",
    );
    assert_eq!(r.outcome, ReviewOutcome::Rejected);
}

#[test]
fn renewing_an_agreement_at_the_end_of_the_calendar_answers() {
    use chrono::{Datelike, NaiveDate};
    use marketingforce_ads::agreement::{AgreementTerms, FrameworkAgreement};
    use marketingforce_ads::ids::AgreementId;

    for start in [
        NaiveDate::MAX.pred_opt().unwrap(),
        NaiveDate::MAX.with_day(1).unwrap(),
        NaiveDate::MAX,
    ] {
        let mut terms = AgreementTerms::distribution(
            start,
            Money::cny("300000").unwrap(),
            CustomerRebatePolicy::Fixed {
                rate: "3%".parse().unwrap(),
            },
        );
        terms.end = NaiveDate::MAX.min(terms.end.max(start));
        let agreement = FrameworkAgreement {
            id: AgreementId::new(),
            customer: CustomerId::new(),
            renews: None,
            terms,
        };
        let next = agreement.renewal_terms();
        assert!(next.start <= next.end, "{start}: {next:?}");
    }
}
