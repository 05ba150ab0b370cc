//! Quotes, the subscription lifecycle, revenue, channel partners, commissions and metrics.

use marketingforce_core::storage::PageRequest;
use marketingforce_core::IdempotencyKey;
use marketingforce_modules::products::BundleId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::NaiveDate;
use marketingforce_core::env::Env;
use marketingforce_core::id::SeededIds;
use marketingforce_core::money::{Currency, Money, Quantity};
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_core::Error;
use marketingforce_modules::catalog::{ModuleId, UsageUnit};
use marketingforce_modules::channel::{
    ChannelService, CommissionPlan, OrderRequest, PartnerTerms, Region,
};
use marketingforce_modules::entitlements::EntitlementRegistry;
use marketingforce_modules::metrics::SaasMetrics;
use marketingforce_modules::pricing::{
    AmendmentRequest, LineKind, PackLine, QuoteEngine, QuoteRequest, SeatLine, Term,
};
use marketingforce_modules::revenue::{Contract, RevenueBook};
use marketingforce_modules::subscriptions::{
    Payment, Renewal, Signing, SubscriptionState, Subscriptions,
};
use marketingforce_modules::ModulesError;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn cny(s: &str) -> Money {
    Money::cny(s).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn quotes_price_and_explain_every_line() {
    let engine = QuoteEngine::builtin();
    let mut req = QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(d("2026-03-01"), 24));
    req.add_ons = vec![ModuleId::T_VIDEO];
    req.extra_seats = vec![SeatLine {
        module: ModuleId::MARKETING_TEAM_MANAGEMENT,
        seats: 2,
    }];
    req.usage_packs = vec![PackLine {
        pack: "pack.videos_rendered".into(),
        quantity: Quantity::new(150),
    }];
    let q = engine.quote(&req).unwrap();
    assert_eq!(q.lines.len(), 4);
    assert_eq!(q.lines[0].amount, cny("99600")); // 49,800 × 24/12
    assert_eq!(q.lines[1].amount, cny("39600")); // T-video 19,800 × 2
    assert_eq!(q.lines[2].amount, cny("2320")); // 2 × 580 × 2
    assert_eq!(q.lines[3].amount, cny("3500")); // 100 × 25 + 50 × 20
    assert_eq!(
        q.total,
        Money::sum(Currency::CNY, q.lines.iter().map(|l| &l.amount)).unwrap()
    );
    for l in &q.lines {
        assert!(
            l.explanation.contains(&l.amount.amount().to_string()),
            "{}",
            l.explanation
        );
    }
    // Deterministic and reproducible from the stored inputs.
    assert_eq!(engine.quote(&req).unwrap(), q);
    engine.reprice(&q, None, None).unwrap();
    let json = serde_json::to_string(&q).unwrap();
    let back: marketingforce_modules::pricing::Quote = serde_json::from_str(&json).unwrap();
    engine.reprice(&back, None, None).unwrap();
}

#[test]
fn bad_quotes_name_the_field() {
    let engine = QuoteEngine::builtin();
    let base = QuoteRequest::new(BundleId::TCLOUD_BASIC, Term::new(d("2026-03-01"), 12));
    let e = engine
        .quote(&QuoteRequest {
            bundle: BundleId::new("tcloud.gold").unwrap(),
            ..base.clone()
        })
        .unwrap_err();
    assert!(matches!(e, ModulesError::UnknownBundle { .. }) && e.field() == Some("bundle"));
    let mut r = base.clone();
    r.add_ons = vec![ModuleId::T_TEXT, ModuleId::new("mf.nope").unwrap()];
    let e = engine.quote(&r).unwrap_err();
    assert_eq!(e.field(), Some("add_ons[0]"), "{e}"); // already included
    r.add_ons = vec![ModuleId::new("mf.nope").unwrap()];
    assert!(matches!(
        engine.quote(&r).unwrap_err(),
        ModulesError::UnknownModule { .. }
    ));
    r.add_ons = vec![ModuleId::VIDEO_DUBBING_SUBTITLES]; // requires T-video
    let e = engine.quote(&r).unwrap_err();
    assert!(matches!(e, ModulesError::MissingRequirement { .. }), "{e}");
    let mut r = base.clone();
    r.extra_seats = vec![SeatLine {
        module: ModuleId::MARKETING_TEAM_MANAGEMENT,
        seats: 0,
    }];
    assert_eq!(
        engine.quote(&r).unwrap_err().field(),
        Some("extra_seats[0].seats")
    );
    let mut r = base.clone();
    r.usage_packs = vec![PackLine {
        pack: "pack.articles_published".into(),
        quantity: Quantity::ZERO,
    }];
    assert_eq!(
        engine.quote(&r).unwrap_err().field(),
        Some("usage_packs[0].quantity")
    );
    r.usage_packs = vec![PackLine {
        pack: "pack.leads_stored".into(),
        quantity: Quantity::new(1),
    }];
    assert_eq!(
        engine.quote(&r).unwrap_err().field(),
        Some("usage_packs[0].pack")
    );
    let mut r = base.clone();
    r.term.months = 0;
    assert_eq!(engine.quote(&r).unwrap_err().field(), Some("term.months"));
    r.term.months = 6;
    assert_eq!(engine.quote(&r).unwrap_err().field(), Some("term.months"));
    let mut r = QuoteRequest::new(
        BundleId::TRUECLIENT_STANDARD,
        Term::new(d("2026-03-01"), 12),
    );
    r.accounts = Some(4);
    assert!(matches!(
        engine.quote(&r),
        Err(ModulesError::BelowMinimumSeats {
            minimum: 5,
            requested: 4,
            ..
        })
    ));
    // Negative quantities cannot even be expressed; JSON with one is refused with its path.
    let bad = r#"{"bundle":"tcloud.basic","term":{"start":"2026-03-01","months":12},"extra_seats":[{"module":"mf.marketing_team_management","seats":-1}]}"#;
    assert!(serde_json::from_str::<QuoteRequest>(bad).is_err());
}

#[test]
fn amendments_are_prorated_and_co_terminated() {
    let engine = QuoteEngine::builtin();
    let term = Term::new(d("2026-03-01"), 12);
    let owned: BTreeSet<ModuleId> = engine
        .products()
        .bundle("tcloud.basic")
        .unwrap()
        .modules
        .iter()
        .cloned()
        .collect();
    let req = AmendmentRequest {
        on: d("2026-09-01"),
        accounts: 0,
        add_ons: vec![ModuleId::REMARKETING],
        extra_seats: vec![],
        usage_packs: vec![PackLine {
            pack: "pack.articles_published".into(),
            quantity: Quantity::new(100),
        }],
    };
    let q = engine
        .quote_amendment("tcloud.basic", &term, &owned, &req)
        .unwrap();
    assert_eq!(q.end, d("2027-03-01"));
    // 15,800 × 181 / 365 = 7835.07 (half-up); packs are not prorated.
    assert_eq!(q.lines[0].amount, cny("7835.07"));
    assert_eq!(q.lines[0].full_price, cny("15800"));
    assert_eq!(q.lines[1].amount, cny("1500"));
    assert!(q.lines[1].explanation.contains("not prorated"));
    let outside = AmendmentRequest {
        on: d("2027-03-01"),
        ..req.clone()
    };
    assert_eq!(
        engine
            .quote_amendment("tcloud.basic", &term, &owned, &outside)
            .unwrap_err()
            .field(),
        Some("on")
    );
    let needs = AmendmentRequest {
        add_ons: vec![ModuleId::VIDEO_DUBBING_SUBTITLES],
        usage_packs: vec![],
        ..req
    };
    assert!(matches!(
        engine.quote_amendment("tcloud.basic", &term, &owned, &needs),
        Err(ModulesError::MissingRequirement { .. })
    ));
}

struct World {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    registry: Arc<EntitlementRegistry>,
    subs: Subscriptions,
}

fn world() -> World {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::at_rfc3339("2026-02-12T10:00:00+08:00").unwrap());
    let registry = Arc::new(
        EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .clock(clock.clone())
                .build(),
        )
        .build(),
    );
    let env = Env::builder(store.clone())
        .clock(clock.clone())
        .ids(Arc::new(SeededIds::new(7, clock.clone())))
        .build();
    let subs = Subscriptions::builder(&env)
        .registry(registry.clone())
        .build();
    World {
        store,
        clock,
        registry,
        subs,
    }
}

#[test]
fn subscription_lifecycle_is_journaled_and_idempotent() {
    rt().block_on(async {
        let w = world();
        let t = TenantId::new();
        let mut req = QuoteRequest::new(
            BundleId::TRUECLIENT_STANDARD,
            Term::new(d("2026-02-20"), 12),
        );
        req.accounts = Some(8);
        let s = w
            .subs
            .create_quote(&t, &req, &IdempotencyKey::from_static("q1"))
            .await
            .unwrap();
        assert_eq!(s.state, SubscriptionState::Quoted);
        assert_eq!(
            w.subs
                .create_quote(&t, &req, &IdempotencyKey::from_static("q1"))
                .await
                .unwrap()
                .id,
            s.id,
            "replay"
        );
        let signing = Signing {
            on: d("2026-02-12"),
            credit_months: 0,
            salesperson: Some("zhang".into()),
            partner: None,
        };
        let s = w
            .subs
            .sign(&t, &s.id, &signing, &IdempotencyKey::from_static("s1"))
            .await
            .unwrap();
        // Spring Festival: 3 business days after Thursday 12 Feb 2026 is Tuesday 24 Feb.
        assert_eq!(s.payment_due, Some(d("2026-02-24")));
        let credit = Signing {
            credit_months: 1,
            ..signing.clone()
        };
        assert!(w
            .subs
            .sign(&t, &s.id, &credit, &IdempotencyKey::from_static("s2"))
            .await
            .is_err());
        assert!(matches!(
            w.subs
                .activate(
                    &t,
                    &s.id,
                    d("2026-02-20"),
                    &IdempotencyKey::from_static("a0")
                )
                .await,
            Err(ModulesError::Core(Error::InvalidState { .. }))
        ));
        let short = Payment {
            on: d("2026-02-13"),
            amount: cny("9000"),
        };
        assert_eq!(
            w.subs
                .record_payment(&t, &s.id, &short, &IdempotencyKey::from_static("p0"))
                .await
                .unwrap_err()
                .field(),
            Some("amount")
        );
        let pay = Payment {
            on: d("2026-02-13"),
            amount: cny("9440"),
        };
        let s = w
            .subs
            .record_payment(&t, &s.id, &pay, &IdempotencyKey::from_static("p1"))
            .await
            .unwrap();
        assert_eq!(s.state, SubscriptionState::Paid);
        w.clock.set(
            chrono::DateTime::parse_from_rfc3339("2026-02-20T10:00:00+08:00")
                .unwrap()
                .into(),
        );
        let s = w
            .subs
            .activate(
                &t,
                &s.id,
                d("2026-02-20"),
                &IdempotencyKey::from_static("a1"),
            )
            .await
            .unwrap();
        assert_eq!(
            (s.term_start, s.term_end),
            (Some(d("2026-02-20")), Some(d("2027-02-20")))
        );
        let ents = w.registry.load(&t).await.unwrap();
        assert!(ents.is_enabled(&ModuleId::SALES_WORKBENCH));
        assert_eq!(ents.seat_limit(&ModuleId::CUSTOMER_SOP), Some(8));
        assert_eq!(
            ents.meter().remaining(&UsageUnit::LeadsStored).get(),
            20_000
        );
        // No refunds once in use.
        assert!(matches!(
            w.subs
                .refund(
                    &t,
                    &s.id,
                    d("2026-03-01"),
                    &IdempotencyKey::from_static("r1")
                )
                .await,
            Err(ModulesError::RefundNotAllowed { .. })
        ));
        // Mid-term: 2 more accounts and a pack, effective at once.
        let order = AmendmentRequest {
            on: d("2026-08-20"),
            accounts: 2,
            add_ons: vec![],
            extra_seats: vec![],
            usage_packs: vec![PackLine {
                pack: "pack.leads_stored".into(),
                quantity: Quantity::new(10_000),
            }],
        };
        let s = w
            .subs
            .buy_add_on(&t, &s.id, &order, &IdempotencyKey::from_static("o1"))
            .await
            .unwrap();
        assert_eq!(
            w.subs
                .buy_add_on(&t, &s.id, &order, &IdempotencyKey::from_static("o1"))
                .await
                .unwrap()
                .amendments
                .len(),
            1
        );
        let a = &s.amendments[0];
        assert_eq!(a.quote.lines[0].kind, LineKind::Accounts);
        assert_eq!(a.quote.lines[0].amount, cny("1189.70")); // 2,360 × 184/365
        w.clock.set(
            chrono::DateTime::parse_from_rfc3339("2026-08-21T10:00:00+08:00")
                .unwrap()
                .into(),
        );
        w.registry.tick().unwrap();
        assert_eq!(ents.seat_limit(&ModuleId::CUSTOMER_SOP), Some(10));
        assert_eq!(
            ents.meter().remaining(&UsageUnit::LeadsStored).get(),
            30_000
        );
        // Renewal quotes the next term with the accounts bought mid-term.
        let next = w
            .subs
            .renew(
                &t,
                &s.id,
                &Renewal {
                    months: 12,
                    accounts: None,
                    add_ons: None,
                },
                &IdempotencyKey::from_static("n1"),
            )
            .await
            .unwrap();
        assert_eq!(next.quote.request.as_ref().unwrap().accounts, Some(10));
        assert_eq!(next.quote.start, d("2027-02-20"));
        assert_eq!(
            w.subs
                .renew(
                    &t,
                    &s.id,
                    &Renewal {
                        months: 12,
                        accounts: None,
                        add_ons: None
                    },
                    &IdempotencyKey::from_static("n1")
                )
                .await
                .unwrap()
                .id,
            next.id
        );
        assert_eq!(
            w.subs.get(&t, &s.id).await.unwrap().state,
            SubscriptionState::Renewed
        );
        let history = w
            .subs
            .history(&t, &PageRequest::first(100))
            .await
            .unwrap()
            .items;
        let states: Vec<SubscriptionState> = history.iter().map(|e| e.to).collect();
        assert_eq!(
            states,
            [
                SubscriptionState::Quoted,
                SubscriptionState::Signed,
                SubscriptionState::Paid,
                SubscriptionState::Active,
                SubscriptionState::Active,
                SubscriptionState::Quoted,
                SubscriptionState::Renewed
            ]
        );
        let _ = &w.store;
    });
}

#[test]
fn professional_credit_activation_refund_and_expiry() {
    rt().block_on(async {
        let w = world();
        let t = TenantId::new();
        let req = QuoteRequest::new(
            BundleId::TRUECLIENT_PRO_GROWTH,
            Term::new(d("2026-03-01"), 12),
        );
        let s = w
            .subs
            .create_quote(&t, &req, &IdempotencyKey::from_static("q"))
            .await
            .unwrap();
        let s = w
            .subs
            .sign(
                &t,
                &s.id,
                &Signing {
                    on: d("2026-03-01"),
                    credit_months: 3,
                    salesperson: None,
                    partner: None,
                },
                &IdempotencyKey::from_static("s"),
            )
            .await
            .unwrap();
        assert_eq!(s.payment_due, Some(d("2026-06-01")));
        let s = w
            .subs
            .activate(
                &t,
                &s.id,
                d("2026-03-02"),
                &IdempotencyKey::from_static("a"),
            )
            .await
            .unwrap();
        assert_eq!(s.state, SubscriptionState::Active);
        let s = w
            .subs
            .record_payment(
                &t,
                &s.id,
                &Payment {
                    on: d("2026-05-30"),
                    amount: cny("128000"),
                },
                &IdempotencyKey::from_static("p"),
            )
            .await
            .unwrap();
        assert_eq!(s.paid_on, Some(d("2026-05-30")));
        assert_eq!(
            w.subs.expire_due(&t, d("2027-03-01")).await.unwrap(),
            vec![]
        );
        assert_eq!(
            w.subs.expire_due(&t, d("2027-03-02")).await.unwrap(),
            vec![s.id]
        );
        // Paid but never activated: refundable.
        let s2 = w
            .subs
            .create_quote(
                &t,
                &QuoteRequest::new(BundleId::TCLOUD_BASIC, Term::new(d("2026-03-01"), 12)),
                &IdempotencyKey::from_static("q2"),
            )
            .await
            .unwrap();
        w.subs
            .sign(
                &t,
                &s2.id,
                &Signing {
                    on: d("2026-03-01"),
                    credit_months: 0,
                    salesperson: None,
                    partner: None,
                },
                &IdempotencyKey::from_static("s2"),
            )
            .await
            .unwrap();
        w.subs
            .record_payment(
                &t,
                &s2.id,
                &Payment {
                    on: d("2026-03-02"),
                    amount: cny("19800"),
                },
                &IdempotencyKey::from_static("p2"),
            )
            .await
            .unwrap();
        let r = w
            .subs
            .refund(
                &t,
                &s2.id,
                d("2026-03-03"),
                &IdempotencyKey::from_static("r2"),
            )
            .await
            .unwrap();
        assert_eq!(r.state, SubscriptionState::Refunded);
    });
}

#[test]
fn revenue_positions_and_waterfall() {
    let t = TenantId::new();
    let c = Contract::simple("c", t, cny("19800"), d("2026-02-12"), d("2026-02-20"), 12).unwrap();
    let book = RevenueBook::new(Currency::CNY, vec![c]);
    let p = book.position(d("2026-02-15")).unwrap();
    assert_eq!(
        (p.booked, p.recognized, p.rpo),
        (cny("19800"), cny("0"), cny("19800"))
    );
    assert_eq!(p.deferred, cny("19800"));
    let p = book.position(d("2026-08-19")).unwrap();
    assert_eq!(p.rpo.checked_add(&p.recognized).unwrap(), p.booked);
    let rows = book.waterfall(d("2026-02-01"), d("2027-03-31")).unwrap();
    assert_eq!(rows.len(), 14);
    let total = Money::sum(Currency::CNY, rows.iter().map(|r| &r.recognized)).unwrap();
    assert_eq!(total, cny("19800"));
    assert_eq!(rows[0].booked, cny("19800"));
    assert!(rows.last().unwrap().remaining.is_zero());
    assert!(book.waterfall(d("2026-03-01"), d("2026-02-01")).is_err());
}

#[test]
fn channel_partner_prepayment_orders_and_refund() {
    rt().block_on(async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let clock: Arc<dyn Clock> =
            Arc::new(ManualClock::at_rfc3339("2026-03-01T00:00:00Z").unwrap());
        let env = Env::builder(store)
            .ids(Arc::new(SeededIds::new(1, clock)))
            .build();
        let svc = ChannelService::builder(&env, TenantId::new())
            .engine(QuoteEngine::builtin())
            .build();
        let terms = PartnerTerms {
            name: "华南渠道".into(),
            areas: vec![Region::new("CN-44").unwrap()],
            commission: "65%".parse().unwrap(),
            prepayment: cny("50000"),
            on: d("2026-03-01"),
        };
        let bad = PartnerTerms {
            commission: "50%".parse().unwrap(),
            ..terms.clone()
        };
        assert_eq!(
            svc.register(&bad, &IdempotencyKey::from_static("p0"))
                .await
                .unwrap_err()
                .field(),
            Some("commission")
        );
        let bad = PartnerTerms {
            prepayment: cny("200000"),
            ..terms.clone()
        };
        assert_eq!(
            svc.register(&bad, &IdempotencyKey::from_static("p0"))
                .await
                .unwrap_err()
                .field(),
            Some("prepayment")
        );
        let p = svc
            .register(&terms, &IdempotencyKey::from_static("p1"))
            .await
            .unwrap();
        let order = OrderRequest {
            end_user: TenantId::new(),
            end_user_region: Region::new("CN-44-03").unwrap(),
            quote: QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(d("2026-03-10"), 12)),
            on: d("2026-03-05"),
        };
        let o = svc
            .place_order(&p.id, &order, &IdempotencyKey::from_static("o1"))
            .await
            .unwrap();
        assert_eq!(
            (o.commission, o.charged, o.balance_after),
            (cny("32370"), cny("17430"), cny("32570"))
        );
        assert!(!o.out_of_area);
        assert_eq!(
            svc.place_order(&p.id, &order, &IdempotencyKey::from_static("o1"))
                .await
                .unwrap(),
            o,
            "replay"
        );
        let far = OrderRequest {
            end_user_region: Region::new("CN-31").unwrap(),
            quote: QuoteRequest::new(BundleId::TCLOUD_BASIC, Term::new(d("2026-03-10"), 12)),
            ..order.clone()
        };
        let o2 = svc
            .place_order(&p.id, &far, &IdempotencyKey::from_static("o2"))
            .await
            .unwrap();
        assert!(o2.out_of_area);
        assert_eq!(svc.flagged_orders().await.unwrap(), vec![o2.clone()]);
        // 128,000 × 35% = 44,800 > 25,640 left: refused, nothing changes.
        let big = OrderRequest {
            quote: QuoteRequest::new(BundleId::TCLOUD_FLAGSHIP, Term::new(d("2026-03-10"), 12)),
            ..order.clone()
        };
        match svc
            .place_order(&p.id, &big, &IdempotencyKey::from_static("o3"))
            .await
        {
            Err(ModulesError::InsufficientPrepayment {
                balance, required, ..
            }) => {
                assert_eq!((balance, required), (cny("25640"), cny("44800")));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(svc.partner(&p.id).await.unwrap().balance, cny("25640"));
        let act = svc
            .record_activation(&o.id, "ops.wang", d("2026-03-10"))
            .await
            .unwrap();
        assert_eq!(act.activated_by.as_deref(), Some("ops.wang"));
        // Refused without naming who activated it (a staff member's name is personal data).
        let e = svc
            .record_activation(&o.id, "ops.li", d("2026-03-11"))
            .await
            .unwrap_err();
        assert!(!e.to_string().contains("ops.wang"), "{e}");
        assert!(e.to_string().contains("2026-03-10"), "{e}");
        let ended = svc
            .terminate(&p.id, d("2026-12-31"), &IdempotencyKey::from_static("end"))
            .await
            .unwrap();
        assert_eq!(ended.refunded, Some(cny("25640")));
        assert!(svc
            .place_order(&p.id, &order, &IdempotencyKey::from_static("o4"))
            .await
            .is_err());
        let journal = svc
            .prepayment_journal(&PageRequest::first(100))
            .await
            .unwrap();
        assert_eq!((journal.items.len(), journal.next), (4, None));
    });
}

#[test]
fn direct_commissions_per_salesperson_and_month() {
    let plan = CommissionPlan {
        new_rate: "20%".parse().unwrap(),
        renewal_rate: "8%".parse().unwrap(),
    };
    assert!(CommissionPlan {
        renewal_rate: "20%".parse().unwrap(),
        ..plan
    }
    .validate()
    .is_err());
    assert!(CommissionPlan {
        new_rate: "35%".parse().unwrap(),
        ..plan
    }
    .validate()
    .is_err());
    let t = TenantId::new();
    let mut a =
        Contract::simple("a", t, cny("19800"), d("2026-03-02"), d("2026-03-02"), 12).unwrap();
    a.salesperson = Some("zhang".into());
    let mut b =
        Contract::simple("b", t, cny("49800"), d("2026-03-20"), d("2026-03-20"), 12).unwrap();
    b.salesperson = Some("zhang".into());
    b.renewal = true;
    let mut c =
        Contract::simple("c", t, cny("1000"), d("2026-03-20"), d("2026-03-20"), 12).unwrap();
    c.salesperson = Some("zhang".into());
    c.partner = Some(marketingforce_modules::channel::PartnerId::new());
    let lines = plan.commissions(&[a, b, c]).unwrap();
    let l = lines[&("zhang".to_string(), 2026, 3)];
    assert_eq!(l.commission, cny("7944")); // 19,800 × 20% + 49,800 × 8%
}

#[test]
fn saas_metrics_follow_the_definitions() {
    let (a, b, c) = (TenantId::new(), TenantId::new(), TenantId::new());
    let contracts = vec![
        Contract::simple("a25", a, cny("12000"), d("2025-01-01"), d("2025-01-01"), 12).unwrap(),
        Contract::simple("b25", b, cny("24000"), d("2025-06-01"), d("2025-06-01"), 24).unwrap(),
        Contract::simple("a26", a, cny("12000"), d("2026-01-01"), d("2026-01-01"), 12).unwrap(),
        Contract::simple("c26", c, cny("36000"), d("2026-01-15"), d("2026-02-01"), 36).unwrap(),
    ];
    let book = RevenueBook::new(Currency::CNY, contracts);
    let expenses = BTreeMap::from([(1u32, cny("60000"))]);
    let m = SaasMetrics::compute(&book, 2026, &expenses).unwrap();
    assert_eq!(m.total_users, 3); // a, b (second year of 24 months), c
    assert_eq!(m.signing_users, 2);
    assert_eq!(m.average_contract_value_per_user, Some(cny("24000")));
    assert_eq!(m.retention_rate.map(|r| r.to_string()), Some("1".into()));
    assert_eq!(m.cac, Some(cny("30000")));
    // January: 60,000 ÷ 2 signing users ÷ median(12, 36) = 24 months.
    assert_eq!(m.monthly_cac, Some(cny("1250")));
    assert_eq!(m.contract_value_by_duration.up_to_12, cny("12000"));
    assert_eq!(m.contract_value_by_duration.over_24, cny("36000"));
    assert!(m.monthly_arpu.is_positive());
}

#[test]
fn dates_where_the_end_precedes_the_start_are_refused() {
    use marketingforce_core::time::ManualClock;
    use marketingforce_modules::entitlements::{Entitlements, Grant};
    use marketingforce_modules::revenue::RatableSchedule;
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let g = Grant::new(TenantId::new(), d("2026-03-01"), d("2026-02-01")).module(ModuleId::T_TEXT);
    let e = Entitlements::from_grant(g, clock).unwrap_err();
    assert_eq!(e.field(), Some("grants[0].end"), "{e}");
    let e = RatableSchedule::new(cny("100"), d("2026-03-01"), d("2026-03-01")).unwrap_err();
    assert_eq!(e.field(), Some("end"));
    assert_eq!(
        RatableSchedule::new(cny("-1"), d("2026-03-01"), d("2026-04-01"))
            .unwrap_err()
            .field(),
        Some("value")
    );
    assert_eq!(
        RatableSchedule::new(cny("0.001"), d("2026-03-01"), d("2026-04-01"))
            .unwrap_err()
            .field(),
        Some("value")
    );
}

#[test]
fn cancelling_a_renewal_reactivates_the_term_it_renewed() {
    rt().block_on(async {
        let w = world();
        let t = TenantId::new();
        let s = w
            .subs
            .create_quote(
                &t,
                &QuoteRequest::new(BundleId::TCLOUD_BASIC, Term::new(d("2026-02-12"), 12)),
                &IdempotencyKey::from_static("q"),
            )
            .await
            .unwrap();
        let on = d("2026-02-12");
        w.subs
            .sign(
                &t,
                &s.id,
                &Signing {
                    on,
                    credit_months: 0,
                    salesperson: None,
                    partner: None,
                },
                &IdempotencyKey::from_static("s"),
            )
            .await
            .unwrap();
        w.subs
            .record_payment(
                &t,
                &s.id,
                &Payment {
                    on,
                    amount: cny("19800"),
                },
                &IdempotencyKey::from_static("p"),
            )
            .await
            .unwrap();
        w.subs
            .activate(&t, &s.id, on, &IdempotencyKey::from_static("a"))
            .await
            .unwrap();
        let next = w
            .subs
            .renew(
                &t,
                &s.id,
                &Renewal {
                    months: 24,
                    accounts: None,
                    add_ons: None,
                },
                &IdempotencyKey::from_static("r"),
            )
            .await
            .unwrap();
        assert_eq!(next.quote.total, cny("39600"));
        w.subs
            .cancel(
                &t,
                &next.id,
                d("2026-12-01"),
                &IdempotencyKey::from_static("c"),
            )
            .await
            .unwrap();
        let back = w.subs.get(&t, &s.id).await.unwrap();
        assert_eq!(
            (back.state, back.renewed_by),
            (SubscriptionState::Active, None)
        );
        assert_eq!(
            w.subs.expire_due(&t, d("2027-02-12")).await.unwrap(),
            vec![s.id]
        );
        let ents = w.registry.load(&t).await.unwrap();
        assert!(ents.is_enabled(&ModuleId::T_TEXT));
        w.clock.set(
            chrono::DateTime::parse_from_rfc3339("2027-02-12T10:00:00+08:00")
                .unwrap()
                .into(),
        );
        assert_eq!(w.registry.tick().unwrap(), 1);
        assert!(
            !ents.is_enabled(&ModuleId::T_TEXT),
            "the expired term grants nothing"
        );
    });
}

/// An active subscription of `req` (quoted, signed, paid and activated on 2026-02-20), then
/// `order` bought mid-term.
async fn active_then_amended(
    w: &World,
    t: &TenantId,
    req: &QuoteRequest,
    order: &AmendmentRequest,
) -> marketingforce_modules::subscriptions::Subscription {
    let s = w
        .subs
        .create_quote(t, req, &IdempotencyKey::from_static("big-q"))
        .await
        .unwrap();
    let signing = Signing {
        on: d("2026-02-12"),
        credit_months: 0,
        salesperson: None,
        partner: None,
    };
    let s = w
        .subs
        .sign(t, &s.id, &signing, &IdempotencyKey::from_static("big-s"))
        .await
        .unwrap();
    let pay = Payment {
        on: d("2026-02-13"),
        amount: s.quote.total,
    };
    let s = w
        .subs
        .record_payment(t, &s.id, &pay, &IdempotencyKey::from_static("big-p"))
        .await
        .unwrap();
    let s = w
        .subs
        .activate(
            t,
            &s.id,
            d("2026-02-20"),
            &IdempotencyKey::from_static("big-a"),
        )
        .await
        .unwrap();
    w.subs
        .buy_add_on(t, &s.id, order, &IdempotencyKey::from_static("big-o"))
        .await
        .unwrap()
}

#[test]
fn renewing_more_accounts_or_seats_than_a_quote_holds_is_refused_naming_the_field() {
    rt().block_on(async {
        // u32::MAX accounts, then one more bought mid-term.
        let mut accounts = QuoteRequest::new(
            BundleId::TRUECLIENT_STANDARD,
            Term::new(d("2026-02-20"), 12),
        );
        accounts.accounts = Some(u32::MAX);
        let one_account = AmendmentRequest {
            on: d("2026-08-20"),
            accounts: 1,
            add_ons: vec![],
            extra_seats: vec![],
            usage_packs: vec![],
        };
        // u32::MAX extra seats, then one more bought mid-term.
        let seat = |seats| SeatLine {
            module: ModuleId::MARKETING_TEAM_MANAGEMENT,
            seats,
        };
        let mut seats = QuoteRequest::new(BundleId::TCLOUD_BASIC, Term::new(d("2026-02-20"), 12));
        seats.extra_seats = vec![seat(u32::MAX)];
        let one_seat = AmendmentRequest {
            on: d("2026-08-20"),
            accounts: 0,
            add_ons: vec![],
            extra_seats: vec![seat(1)],
            usage_packs: vec![],
        };
        let renewal = Renewal {
            months: 12,
            accounts: None,
            add_ons: None,
        };
        for (req, order, field) in [
            (accounts, one_account, "renewal.accounts"),
            (seats, one_seat, "renewal.extra_seats[0].seats"),
        ] {
            let (w, t) = (world(), TenantId::new());
            let s = active_then_amended(&w, &t, &req, &order).await;
            let e = w
                .subs
                .renew(&t, &s.id, &renewal, &IdempotencyKey::from_static("big-n"))
                .await
                .unwrap_err();
            assert_eq!(e.field(), Some(field), "{e}");
            assert_eq!(
                w.subs.get(&t, &s.id).await.unwrap().state,
                SubscriptionState::Active
            );
        }
    });
}

#[test]
fn saas_metrics_over_amounts_beyond_the_decimal_range_are_refused() {
    // One customer recognising 64 × 7.9e26 in January and again in February of 2026 (signed in
    // 2025): each month fits a decimal, their mean over the months does not add up in one.
    let a = TenantId::new();
    let value = cny("790000000000000000000000000");
    let contracts: Vec<Contract> = (0..128)
        .map(|i| {
            let activated = if i < 64 {
                d("2026-01-01")
            } else {
                d("2026-02-01")
            };
            Contract::simple(format!("c{i}"), a, value, d("2025-12-01"), activated, 1).unwrap()
        })
        .collect();
    let book = RevenueBook::new(Currency::CNY, contracts);
    let e = SaasMetrics::compute(&book, 2026, &BTreeMap::new()).unwrap_err();
    assert_eq!(e.field(), Some("monthly_arpu"), "{e}");
}

#[test]
fn monthly_cac_beyond_the_decimal_range_is_refused() {
    // March: the largest expense a decimal holds, one signing user, median term 0.5 months.
    let a = TenantId::new();
    let mut short =
        Contract::simple("short", a, cny("100"), d("2026-03-02"), d("2026-03-02"), 1).unwrap();
    short.term_months = 0;
    let long =
        Contract::simple("long", a, cny("100"), d("2026-03-02"), d("2026-03-02"), 1).unwrap();
    let book = RevenueBook::new(Currency::CNY, vec![short, long]);
    let expenses = BTreeMap::from([(
        3u32,
        Money::new(marketingforce_core::money::Decimal::MAX, Currency::CNY),
    )]);
    let e = SaasMetrics::compute(&book, 2026, &expenses).unwrap_err();
    assert_eq!(e.field(), Some("monthly_cac"), "{e}");
}

#[test]
fn included_seats_adding_up_beyond_u32_activate_with_the_largest_seat_limit() {
    // A product catalog whose basic bundle includes the team-management seats twice, adding up
    // beyond u32::MAX.
    use marketingforce_modules::catalog::Catalog;
    use marketingforce_modules::products::Products;
    let mut data: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/products.json"),
        )
        .unwrap(),
    )
    .unwrap();
    data["bundles"][0]["included_seats"] = serde_json::json!([
        {"module": "mf.marketing_team_management", "seats": u32::MAX},
        {"module": "mf.marketing_team_management", "seats": 1}
    ]);
    let catalog = Catalog::builtin();
    let products = Arc::new(Products::from_json(&data.to_string(), &catalog).unwrap());
    rt().block_on(async {
        let w = world();
        let env = Env::builder(w.store.clone()).clock(w.clock.clone()).build();
        let subs = Subscriptions::builder(&env)
            .engine(QuoteEngine::new(catalog.clone(), products))
            .registry(w.registry.clone())
            .build();
        let w = World { subs, ..w };
        let t = TenantId::new();
        let req = QuoteRequest::new(BundleId::TCLOUD_BASIC, Term::new(d("2026-02-20"), 12));
        let order = AmendmentRequest {
            on: d("2026-08-20"),
            accounts: 0,
            add_ons: vec![],
            extra_seats: vec![SeatLine {
                module: ModuleId::MARKETING_TEAM_MANAGEMENT,
                seats: 1,
            }],
            usage_packs: vec![],
        };
        active_then_amended(&w, &t, &req, &order).await;
        w.clock.set(
            chrono::DateTime::parse_from_rfc3339("2026-08-21T10:00:00+08:00")
                .unwrap()
                .into(),
        );
        let ents = w.registry.load(&t).await.unwrap();
        w.registry.tick().unwrap();
        assert_eq!(
            ents.seat_limit(&ModuleId::MARKETING_TEAM_MANAGEMENT),
            Some(u32::MAX)
        );
    });
}
