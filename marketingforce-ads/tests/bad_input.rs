//! Bad input gets a clear error and loses nothing.

mod common;

use common::*;
use marketingforce_ads::account::{Funding, TopUpRequest, TopUpState};
use marketingforce_ads::agreement::ServiceType;
use marketingforce_ads::campaign::KpiTarget;
use marketingforce_ads::config::Config;
use marketingforce_ads::party::{CustomerKind, NewCustomer, ReviewOutcome};
use marketingforce_ads::period::Month;
use marketingforce_ads::platform::sim::{SimFailure, SimOp};
use marketingforce_ads::rebate::PlatformRebatePolicy;
use marketingforce_ads::report::{IngestOutcome, ReportFlag};
use marketingforce_ads::review::{ApprovalRecord, CreativeDraft, ReviewDecision};
use marketingforce_ads::settlement::SettlementMode;
use marketingforce_ads::AdsError;
use marketingforce_core::adapters::ad_platform::{DailyReport, PerformanceLine, Pricing};
use marketingforce_core::money::{Currency, Money};
use marketingforce_core::Error;
use marketingforce_core::IdempotencyKey;

async fn transfers(w: &World) -> usize {
    w.ops.ledger().read(|e| e.transfer_count()).await.unwrap()
}

#[test]
fn top_ups_over_the_credit_limit_or_prepayment_are_refused_and_write_nothing() {
    runtime().block_on(async {
        let w = world().await;
        let s1 = w
            .ops
            .open_ad_account(&w.solution.id, &w.p1.id, &IdempotencyKey::from_static("s1"))
            .await
            .unwrap();
        w.ops
            .top_up(
                TopUpRequest {
                    account: s1.id,
                    amount: cny("700000"),
                    funding: Funding::Credit,
                },
                &IdempotencyKey::from_static("t1"),
            )
            .await
            .unwrap();
        let before = transfers(&w).await;
        let err = w
            .ops
            .top_up(
                TopUpRequest {
                    account: s1.id,
                    amount: cny("300000.01"),
                    funding: Funding::Credit,
                },
                &IdempotencyKey::from_static("t2"),
            )
            .await
            .unwrap_err();
        match &err {
            AdsError::CreditLimitExceeded {
                available, limit, ..
            } => {
                assert_eq!(*available, cny("300000.00"));
                assert_eq!(*limit, cny("1000000"));
            }
            other => panic!("unexpected {other}"),
        }
        assert!(err.to_string().contains("credit limit"), "{err}");
        let err = w
            .ops
            .top_up(
                TopUpRequest {
                    account: s1.id,
                    amount: cny("10"),
                    funding: Funding::CustomerPrepayment,
                },
                &IdempotencyKey::from_static("t3"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, AdsError::PrepaymentInsufficient { .. }),
            "{err}"
        );
        assert_eq!(transfers(&w).await, before);
        assert!(w.ops.pending_top_ups().await.unwrap().is_empty());
        // Exactly the limit is fine.
        w.ops
            .top_up(
                TopUpRequest {
                    account: s1.id,
                    amount: cny("100000"),
                    funding: Funding::Credit,
                },
                &IdempotencyKey::from_static("t4"),
            )
            .await
            .unwrap();
        // Our prepaid funds at the platform (800k) are exhausted now.
        let d1 = w
            .ops
            .open_ad_account(
                &w.distribution.id,
                &w.p1.id,
                &IdempotencyKey::from_static("d1"),
            )
            .await
            .unwrap();
        let err = w
            .ops
            .top_up(
                TopUpRequest {
                    account: d1.id,
                    amount: cny("1"),
                    funding: Funding::Credit,
                },
                &IdempotencyKey::from_static("t5"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, AdsError::PlatformFundsInsufficient { .. }),
            "{err}"
        );
        // Bad amounts.
        for bad in ["0", "-5", "1.001"] {
            let err = w
                .ops
                .top_up(
                    TopUpRequest {
                        account: d1.id,
                        amount: cny(bad),
                        funding: Funding::Credit,
                    },
                    &IdempotencyKey::from_static("t6"),
                )
                .await
                .unwrap_err();
            assert_eq!(err.field(), Some("amount"), "{bad}: {err}");
        }
        let usd = Money::parse("5 USD").unwrap();
        assert_eq!(
            w.ops
                .top_up(
                    TopUpRequest {
                        account: d1.id,
                        amount: usd,
                        funding: Funding::Credit
                    },
                    &IdempotencyKey::from_static("t7")
                )
                .await
                .unwrap_err()
                .field(),
            Some("amount")
        );
        // Same key, different request.
        let err = w
            .ops
            .top_up(
                TopUpRequest {
                    account: s1.id,
                    amount: cny("2"),
                    funding: Funding::Credit,
                },
                &IdempotencyKey::from_static("t4"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, AdsError::Core(Error::IdempotencyMismatch { .. })),
            "{err}"
        );
    });
}

#[test]
fn suspended_accounts_take_no_top_ups_and_their_spend_is_flagged() {
    runtime().block_on(async {
        let w = world().await;
        let plan = accounts_and_campaigns(&w).await;
        w.sim1.run_day(day("2026-03-01"));
        w.ops
            .suspend_account(&plan.s1.id, "虚假宣传", &IdempotencyKey::from_static("sus"))
            .await
            .unwrap();
        let err = w
            .ops
            .top_up(
                TopUpRequest {
                    account: plan.s1.id,
                    amount: cny("10"),
                    funding: Funding::Credit,
                },
                &IdempotencyKey::from_static("t"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AdsError::AccountSuspended { reason, .. } if reason == "虚假宣传"),
            "{err}"
        );
        // The platform still reports spend for the suspended day: ingested, counted, flagged.
        let summary = w
            .ops
            .fetch_reports(&w.p1.id, day("2026-03-01"))
            .await
            .unwrap();
        let (_, outcome) = summary
            .ingested
            .iter()
            .find(|(a, _)| *a == plan.s1.id)
            .unwrap();
        match outcome {
            IngestOutcome::Stored { flags } => {
                assert!(
                    flags
                        .iter()
                        .any(|f| matches!(f, ReportFlag::SpendWhileSuspended { .. })),
                    "{flags:?}"
                )
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = w
            .ops
            .create_campaign(
                &plan.s1.id,
                draft("x", Pricing::Cpc { max_bid: cny("1") }, "100", vec![]),
                &IdempotencyKey::from_static("c"),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AdsError::AccountSuspended { .. }));
        w.ops
            .reinstate_account(&plan.s1.id, &IdempotencyKey::from_static("re"))
            .await
            .unwrap();
        assert!(matches!(
            w.ops
                .reinstate_account(&plan.s1.id, &IdempotencyKey::from_static("re2"))
                .await
                .unwrap_err(),
            AdsError::Core(Error::InvalidState { .. })
        ));
    });
}

#[test]
fn unapproved_customers_get_no_accounts() {
    runtime().block_on(async {
        let w = world().await;
        let c = w
            .ops
            .register_customer(
                NewCustomer {
                    name: "某博彩公司".into(),
                    kind: CustomerKind::DirectAdvertiser,
                    industry: "gambling".into(),
                    licence_number: marketingforce_ads::party::uscc_with_check_digit(
                        "91440300MA5F00000",
                    )
                    .unwrap(),
                },
                &IdempotencyKey::from_static("bad"),
            )
            .await
            .unwrap();
        let err = w
            .ops
            .open_ad_account(&c.id, &w.p1.id, &IdempotencyKey::from_static("a"))
            .await
            .unwrap_err();
        assert!(matches!(err, AdsError::CustomerNotApproved { .. }), "{err}");
        let review = w
            .ops
            .review_customer(
                &c.id,
                &dossier(&c),
                "审核员",
                &IdempotencyKey::from_static("r"),
            )
            .await
            .unwrap();
        assert_eq!(review.outcome, ReviewOutcome::Rejected);
        let err = w
            .ops
            .sign_agreement(
                &c.id,
                terms(ServiceType::Distribution, "3%", 30, "1000"),
                &IdempotencyKey::from_static("ag"),
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("industry gambling is not served"),
            "{err}"
        );
        // Same licence twice, blank names, agencies without advertisers.
        let dup = NewCustomer {
            name: "x".into(),
            kind: CustomerKind::DirectAdvertiser,
            industry: "retail".into(),
            licence_number: c.licence_number.clone(),
        };
        assert_eq!(
            w.ops
                .register_customer(dup.clone(), &IdempotencyKey::from_static("dup"))
                .await
                .unwrap_err()
                .field(),
            Some("licence_number")
        );
        let agency = NewCustomer {
            kind: CustomerKind::Agency {
                advertisers: vec![],
            },
            licence_number: "x".into(),
            ..dup
        };
        assert_eq!(
            w.ops
                .register_customer(agency, &IdempotencyKey::from_static("ag2"))
                .await
                .unwrap_err()
                .field(),
            Some("kind.advertisers")
        );
    });
}

#[test]
fn another_tenant_sees_nothing() {
    runtime().block_on(async {
        let w = world().await;
        let other = open_ops(
            w.store.clone(),
            marketingforce_core::tenant::TenantId::new(),
            w.clock.clone(),
            1,
        )
        .await;
        assert!(matches!(
            other.customer(&w.solution.id).await.unwrap_err(),
            AdsError::Core(Error::NotFound { .. })
        ));
        assert!(other.ad_accounts().await.unwrap().is_empty());
        assert_eq!(
            other.ledger().read(|e| e.transfer_count()).await.unwrap(),
            0
        );
        assert!(other
            .open_ad_account(&w.solution.id, &w.p1.id, &IdempotencyKey::from_static("x"))
            .await
            .is_err());
    });
}

#[test]
fn agreements_refuse_terms_beyond_policy() {
    runtime().block_on(async {
        let w = world().await;
        let mut t = terms(ServiceType::Solution, "2%", 120, "1000");
        t.credit_exception = None;
        t.start = day("2027-01-01");
        t.end = day("2027-12-31");
        assert_eq!(
            w.ops
                .sign_agreement(
                    &w.solution.id,
                    t.clone(),
                    &IdempotencyKey::from_static("a1")
                )
                .await
                .unwrap_err()
                .field(),
            Some("credit_terms_days")
        );
        let mut t = terms(ServiceType::Solution, "2%", 210, "1000");
        t.start = day("2027-01-01");
        t.end = day("2027-12-31");
        assert_eq!(
            w.ops
                .sign_agreement(&w.solution.id, t, &IdempotencyKey::from_static("a2"))
                .await
                .unwrap_err()
                .field(),
            Some("credit_terms_days")
        );
        // Overlapping the current agreement.
        let t = terms(ServiceType::Solution, "2%", 30, "1000");
        assert_eq!(
            w.ops
                .sign_agreement(&w.solution.id, t, &IdempotencyKey::from_static("a3"))
                .await
                .unwrap_err()
                .field(),
            Some("start")
        );
        // Rates above 100%.
        let e = marketingforce_ads::rebate::CustomerRebatePolicy::from_json(
            r#"{"fixed":{"rate":"101%"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("fixed.rate"));
        // Netting off payables with a prepaid platform.
        let mut policy = PlatformRebatePolicy::standard("5%".parse().unwrap());
        policy.standard.payout = marketingforce_ads::rebate::RebatePayout::NetPayables;
        let terms = marketingforce_ads::agreement::PlatformAgreementTerms {
            start: day("2027-01-01"),
            end: day("2027-12-31"),
            currency: Currency::CNY,
            pricing_models: vec![marketingforce_core::adapters::ad_platform::PricingModel::Cpc],
            settlement_terms: marketingforce_ads::agreement::SettlementTerms::Prepay,
            rebate_policy: policy,
        };
        let e = w
            .ops
            .sign_platform_agreement(&w.p1.id, terms, &IdempotencyKey::from_static("pa"))
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("rebate_policy.standard.payout"));
        // Renewal carries the terms into the next year.
        let current = w
            .ops
            .agreement_on(&w.solution.id, day("2026-06-01"))
            .await
            .unwrap();
        let next = w
            .ops
            .renew_agreement(&current.id, &IdempotencyKey::from_static("renew"))
            .await
            .unwrap();
        assert_eq!(
            (next.terms.start, next.terms.end),
            (day("2027-01-01"), day("2027-12-31"))
        );
        assert_eq!(next.renews, Some(current.id));
    });
}

#[test]
fn campaigns_refuse_bad_drafts() {
    runtime().block_on(async {
        let w = world().await;
        let d1 = w
            .ops
            .open_ad_account(
                &w.distribution.id,
                &w.p1.id,
                &IdempotencyKey::from_static("d1"),
            )
            .await
            .unwrap();
        let kpi = vec![KpiTarget::MaxCpc { max: cny("1") }];
        let e = w
            .ops
            .create_campaign(
                &d1.id,
                draft("x", Pricing::Cpc { max_bid: cny("1") }, "100", kpi),
                &IdempotencyKey::from_static("c1"),
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.field(),
            Some("kpis"),
            "distribution carries no KPI guarantee: {e}"
        );
        let e = w
            .ops
            .create_campaign(
                &d1.id,
                draft("x", Pricing::Cpm { max_bid: cny("0") }, "100", vec![]),
                &IdempotencyKey::from_static("c2"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("pricing.max_bid"));
        let mut bad = draft("x", Pricing::Cpc { max_bid: cny("1") }, "100", vec![]);
        bad.budget.total = Some(cny("50"));
        assert_eq!(
            w.ops
                .create_campaign(&d1.id, bad, &IdempotencyKey::from_static("c3"))
                .await
                .unwrap_err()
                .field(),
            Some("budget.daily")
        );
        let mut bad = draft("x", Pricing::Cpc { max_bid: cny("1") }, "100", vec![]);
        bad.schedule.end = Some(day("2026-02-01"));
        assert_eq!(
            w.ops
                .create_campaign(&d1.id, bad, &IdempotencyKey::from_static("c4"))
                .await
                .unwrap_err()
                .field(),
            Some("schedule.end")
        );
    });
}

#[test]
fn reports_are_matched_counted_once_and_checked() {
    runtime().block_on(async {
        let w = world().await;
        let plan = accounts_and_campaigns(&w).await;
        let camp = plan.campaigns[0].external_id.clone();
        let report = |revision: u32, spend: &str| DailyReport {
            report_id: "r-1".into(),
            revision,
            account_id: plan.s1.external_id.clone(),
            date: day("2026-03-03"),
            currency: Currency::CNY,
            complete: true,
            lines: vec![PerformanceLine {
                campaign_id: camp.clone(),
                impressions: 1000,
                clicks: 25,
                conversions: 1,
                spend: cny(spend),
            }],
        };
        let p = w.p1.id;
        assert!(matches!(
            w.ops.ingest_report(&p, &report(1, "20.00")).await.unwrap(),
            IngestOutcome::Stored { .. }
        ));
        assert_eq!(
            w.ops.ingest_report(&p, &report(1, "20.00")).await.unwrap(),
            IngestOutcome::Duplicate
        );
        assert!(matches!(
            w.ops
                .ingest_report(&p, &report(1, "21.00"))
                .await
                .unwrap_err(),
            AdsError::ConflictingReport { .. }
        ));
        assert!(matches!(
            w.ops.ingest_report(&p, &report(2, "18.00")).await.unwrap(),
            IngestOutcome::Restated {
                previous_revision: 1,
                ..
            }
        ));
        assert_eq!(
            w.ops.ingest_report(&p, &report(1, "20.00")).await.unwrap(),
            IngestOutcome::Superseded { stored_revision: 2 }
        );
        // A negative line is a refund, explicitly flagged.
        match w.ops.ingest_report(&p, &report(3, "-5.00")).await.unwrap() {
            IngestOutcome::Restated { flags, .. } => {
                assert!(matches!(flags[0], ReportFlag::Refund { .. }), "{flags:?}")
            }
            other => panic!("{other:?}"),
        }
        let mut unknown = report(1, "1");
        unknown.account_id = "nope".into();
        assert!(matches!(
            w.ops.ingest_report(&p, &unknown).await.unwrap_err(),
            AdsError::UnknownAccount { .. }
        ));
        let mut usd = report(9, "1");
        usd.currency = Currency::USD;
        usd.lines[0].spend = Money::parse("1 USD").unwrap();
        assert!(matches!(
            w.ops.ingest_report(&p, &usd).await.unwrap_err(),
            AdsError::ReportCurrency { .. }
        ));
        let mut mixed = report(9, "1");
        mixed.lines[0].spend = Money::parse("1 USD").unwrap();
        assert_eq!(
            w.ops.ingest_report(&p, &mixed).await.unwrap_err().field(),
            Some("lines[0].spend")
        );
        let mut twice = report(9, "1");
        twice.lines.push(twice.lines[0].clone());
        assert_eq!(
            w.ops.ingest_report(&p, &twice).await.unwrap_err().field(),
            Some("lines[1].campaign_id")
        );
        let mut ghost = report(9, "1");
        ghost.lines[0].campaign_id = "ghost".into();
        assert!(matches!(
            w.ops.ingest_report(&p, &ghost).await.unwrap_err(),
            AdsError::UnknownCampaign { .. }
        ));
    });
}

#[test]
fn missing_days_refuse_final_settlement_and_provisional_settlement_is_corrected_later() {
    runtime().block_on(async {
        let w = world().await;
        accounts_and_campaigns(&w).await;
        deliver_march(&w, march()).await;
        let mut dates = march();
        let late = dates.split_off(28); // 29, 30, 31 arrive late
        ingest(&w, dates).await;
        let month: Month = "2026-03".parse().unwrap();
        assert!(matches!(
            w.ops
                .settle_month(month, SettlementMode::Final)
                .await
                .unwrap_err(),
            AdsError::MonthNotOver { .. }
        ));
        after_month(&w);
        let before = transfers(&w).await;
        match w
            .ops
            .settle_month(month, SettlementMode::Final)
            .await
            .unwrap_err()
        {
            AdsError::MissingReports { count, .. } => assert_eq!(count, 4 * 3),
            other => panic!("{other}"),
        }
        assert_eq!(
            transfers(&w).await,
            before,
            "a refused settlement writes nothing"
        );
        let provisional = w
            .ops
            .settle_month(month, SettlementMode::Provisional)
            .await
            .unwrap();
        assert!(provisional.provisional);
        assert_eq!(provisional.missing.len(), 12);
        assert!(
            w.ops
                .settlement_record(month)
                .await
                .unwrap()
                .unwrap()
                .provisional
        );
        // The late reports arrive; the final settlement posts only the corrections.
        ingest(&w, late).await;
        let final_ = w
            .ops
            .settle_month(month, SettlementMode::Final)
            .await
            .unwrap();
        assert!(!final_.provisional);
        assert!(
            final_.figures.overall().spend.amount() > provisional.figures.overall().spend.amount()
        );
        assert_eq!(
            w.ops.settlement_figures(month).await.unwrap(),
            final_.figures
        );
        let record = w.ops.settlement_record(month).await.unwrap().unwrap();
        assert_eq!((record.provisional, record.revision), (false, 2));
        let invoice = w.ops.invoices_of(&w.distribution.id).await.unwrap();
        assert!(!invoice[0].provisional);
        // A later month cannot be settled before... it ends; April needs March settled (it is).
        assert!(matches!(
            w.ops
                .settle_month("2026-04".parse().unwrap(), SettlementMode::Final)
                .await
                .unwrap_err(),
            AdsError::MonthNotOver { .. }
        ));
    });
}

#[test]
fn a_refund_after_settlement_is_reported_then_corrected_by_new_transfers() {
    runtime().block_on(async {
        let w = world().await;
        let plan = accounts_and_campaigns(&w).await;
        deliver_march(&w, march()).await;
        ingest(&w, march()).await;
        after_month(&w);
        let month: Month = "2026-03".parse().unwrap();
        let first = w
            .ops
            .settle_month(month, SettlementMode::Final)
            .await
            .unwrap();
        // The platform refunds invalid traffic of 10 March and restates the report.
        w.sim1.refund(
            &plan.d1.external_id,
            day("2026-03-10"),
            &plan.campaigns[2].external_id,
            cny("300"),
        );
        ingest(&w, [day("2026-03-10")]).await;
        let recon = w.ops.reconcile(month).await.unwrap();
        assert!(
            recon
                .mismatches
                .iter()
                .any(|m| matches!(m, marketingforce_ads::ops::Mismatch::SettledSpend { .. })),
            "{:?}",
            recon.mismatches
        );
        let count = transfers(&w).await;
        let second = w
            .ops
            .settle_month(month, SettlementMode::Final)
            .await
            .unwrap();
        assert!(transfers(&w).await > count, "corrections are new transfers");
        let d_line = |s: &marketingforce_ads::settlement::SettlementStatement| {
            s.figures
                .lines
                .iter()
                .find(|l| l.customer == w.distribution.id && l.platform == w.p1.id)
                .unwrap()
                .spend
        };
        assert_eq!(
            d_line(&first).checked_sub(&d_line(&second)).unwrap(),
            cny("300.00")
        );
        assert_eq!(
            w.ops.settlement_figures(month).await.unwrap(),
            second.figures
        );
        assert!(w.ops.reconcile(month).await.unwrap().mismatches.is_empty());
    });
}

#[test]
fn placement_requires_an_approval_of_exactly_the_content() {
    runtime().block_on(async {
        let w = world().await;
        let plan = accounts_and_campaigns(&w).await;
        let draft_ = CreativeDraft {
            title: "全网最低价".into(),
            body: "国家级产品".into(),
            media: vec![],
            landing_url: "https://x.example.com".into(),
        };
        let creative = w
            .ops
            .register_creative(&w.solution.id, draft_, &IdempotencyKey::from_static("cr"))
            .await
            .unwrap();
        let campaign = &plan.campaigns[0].id;
        let e = w
            .ops
            .place_creative(campaign, &creative.id, &IdempotencyKey::from_static("p1"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("never reviewed"), "{e}");
        let mut rejected =
            ApprovalRecord::approve(&creative, "合规-李", "rev-9", chrono::Utc::now());
        rejected.decision = ReviewDecision::Rejected {
            reasons: vec!["广告法第九条：使用国家级、最高级用语".into()],
        };
        w.ops
            .approvals()
            .record(&w.tenant, &rejected)
            .await
            .unwrap();
        let e = w
            .ops
            .place_creative(campaign, &creative.id, &IdempotencyKey::from_static("p2"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("国家级"), "{e}");
        let mut stale = ApprovalRecord::approve(&creative, "合规-李", "rev-10", chrono::Utc::now());
        stale.content_digest = "0".repeat(64);
        w.ops.approvals().record(&w.tenant, &stale).await.unwrap();
        let e = w
            .ops
            .place_creative(campaign, &creative.id, &IdempotencyKey::from_static("p3"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("changed after"), "{e}");
        assert!(w.ops.placements_of(campaign).await.unwrap().is_empty());
        // Another customer's creative cannot go into this campaign.
        let other = w
            .ops
            .register_creative(
                &w.distribution.id,
                CreativeDraft {
                    title: "t".into(),
                    body: "b".into(),
                    media: vec![],
                    landing_url: "u".into(),
                },
                &IdempotencyKey::from_static("cr2"),
            )
            .await
            .unwrap();
        assert_eq!(
            w.ops
                .place_creative(campaign, &other.id, &IdempotencyKey::from_static("p4"))
                .await
                .unwrap_err()
                .field(),
            Some("creative")
        );
    });
}

#[test]
fn platform_failures_are_typed_and_top_ups_resume() {
    runtime().block_on(async {
        let w = world().await;
        let s1 = w.ops.open_ad_account(&w.solution.id, &w.p1.id, &IdempotencyKey::from_static("s1")).await.unwrap();
        // Applied at the platform, then timed out: the hold stays pending.
        w.sim1.inject(SimOp::TopUp, SimFailure::TimeoutAfterApplying, 1);
        let req = TopUpRequest { account: s1.id, amount: cny("5000"), funding: Funding::Credit };
        let e = w.ops.top_up(req.clone(), &IdempotencyKey::from_static("t")).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        let pending = w.ops.pending_top_ups().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(w.ops.exposure(&w.solution.id).await.unwrap().pending_top_ups, cny("5000.00"));
        // Retrying the same call resumes it; the platform applies the request id once.
        let done = w.ops.top_up(req, &IdempotencyKey::from_static("t")).await.unwrap();
        assert!(matches!(done.state, TopUpState::Confirmed { .. }));
        assert!(w.ops.pending_top_ups().await.unwrap().is_empty());
        let balance = marketingforce_core::adapters::ad_platform::AdPlatform::account(w.sim1.as_ref(), &s1.external_id)
            .await
            .unwrap()
            .balance;
        assert_eq!(balance, cny("5000.00"));
        // A timeout before the platform saw it: confirm_top_up voids the hold.
        w.sim1.inject(SimOp::TopUp, SimFailure::Timeout, 1);
        let req = TopUpRequest { account: s1.id, amount: cny("7000"), funding: Funding::Credit };
        assert!(w.ops.top_up(req, &IdempotencyKey::from_static("t2")).await.is_err());
        let id = w.ops.pending_top_ups().await.unwrap()[0].id;
        let resolved = w.ops.confirm_top_up(&id).await.unwrap();
        assert!(matches!(resolved.state, TopUpState::Failed { .. }));
        assert_eq!(w.ops.exposure(&w.solution.id).await.unwrap().pending_top_ups, cny("0.00"));
        // 429s and partial reports while fetching: listed, retryable, never dropped.
        let d1 = w.ops.open_ad_account(&w.distribution.id, &w.p1.id, &IdempotencyKey::from_static("d1")).await.unwrap();
        let _ = d1;
        w.sim1.run_day(day("2026-03-01"));
        w.sim1.inject(SimOp::DailyReport, SimFailure::RateLimited, 1);
        w.sim1.inject(SimOp::DailyReport, SimFailure::PartialReport, 1);
        let summary = w.ops.fetch_reports(&w.p1.id, day("2026-03-01")).await.unwrap();
        assert_eq!(summary.failed.len(), 1);
        assert!(summary.failed[0].retryable);
        assert!(matches!(&summary.ingested[0].1, IngestOutcome::Stored { flags } if flags.contains(&ReportFlag::Partial)));
    });
}

#[test]
fn a_dossier_for_another_licence_is_refused_without_quoting_the_number() {
    runtime().block_on(async {
        let w = world().await;
        let c = w.solution.clone();
        let other = marketingforce_ads::party::uscc_with_check_digit("91440300MA5F99999").unwrap();
        let mut d = dossier(&c);
        d.licence.number = other.clone();
        let err = w
            .ops
            .review_customer(&c.id, &d, "审核员", &IdempotencyKey::from_static("other"))
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("dossier.licence.number"), "{err}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(&other), "{shown}");
        }
    });
}

#[test]
fn a_malformed_licence_number_is_never_quoted_by_the_refusals() {
    runtime().block_on(async {
        let w = world().await;
        let number = "91440300MA5F0000012"; // 19 characters
        let c = w
            .ops
            .register_customer(
                NewCustomer {
                    name: "某零售公司".into(),
                    kind: CustomerKind::DirectAdvertiser,
                    industry: "retail".into(),
                    licence_number: number.into(),
                },
                &IdempotencyKey::from_static("long-licence"),
            )
            .await
            .unwrap();
        let review = w
            .ops
            .review_customer(
                &c.id,
                &dossier(&c),
                "审核员",
                &IdempotencyKey::from_static("long-licence-review"),
            )
            .await
            .unwrap();
        assert_eq!(review.outcome, ReviewOutcome::Rejected);
        let err = w
            .ops
            .open_ad_account(&c.id, &w.p1.id, &IdempotencyKey::from_static("long-a"))
            .await
            .unwrap_err();
        assert!(matches!(err, AdsError::CustomerNotApproved { .. }), "{err}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(number), "{shown}");
        }
    });
}
