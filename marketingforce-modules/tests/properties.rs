//! Properties: ratable schedules, proration, concurrent metering, rebuild from storage, RPO.

use marketingforce_core::IdempotencyKey;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate};
use marketingforce_core::money::{Currency, Money, Quantity};
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
use marketingforce_modules::entitlements::{AccountId, EntitlementRegistry, Entitlements, Grant};
use marketingforce_modules::pricing::{prorate, AmendmentRequest, QuoteEngine, Term};
use marketingforce_modules::revenue::{Contract, Obligation, RatableSchedule, RevenueBook};
use proptest::prelude::*;

fn day0() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Each day's amounts sum exactly to the contract value, for any term and amount, and the
    /// closed form agrees with `Money::allocate` day by day.
    #[test]
    fn ratable_schedules_sum_exactly(minor in 0i64..2_000_000_000, start in 0i64..1500, months in 1u32..=60, probe in 0usize..2000) {
        let value = Money::from_minor(minor, Currency::CNY);
        let start = day0() + Duration::days(start);
        let end = start.checked_add_months(chrono::Months::new(months)).unwrap();
        let s = RatableSchedule::new(value, start, end).unwrap();
        let days = s.daily().unwrap();
        prop_assert_eq!(days.len() as u32, s.days());
        prop_assert_eq!(Money::sum(Currency::CNY, days.iter().map(|(_, m)| m)).unwrap(), value);
        prop_assert_eq!(s.recognized_through(end - Duration::days(1)), value);
        prop_assert_eq!(s.recognized_through(start - Duration::days(1)), Money::zero(Currency::CNY));
        let k = probe % days.len();
        let prefix = Money::sum(Currency::CNY, days[..=k].iter().map(|(_, m)| m)).unwrap();
        prop_assert_eq!(s.recognized_through(days[k].0), prefix);
        prop_assert_eq!(s.amount_on(days[k].0), days[k].1);
        let max = days.iter().map(|(_, m)| m.to_minor().unwrap()).max().unwrap();
        let min = days.iter().map(|(_, m)| m.to_minor().unwrap()).min().unwrap();
        prop_assert!(max - min <= 1);
    }

    /// An add-on bought on day d is never charged more than its full price, is charged in full
    /// on day 0, costs less the later it is bought, and its own revenue schedule sums exactly
    /// to what was charged.
    #[test]
    fn proration_never_exceeds_full_price(annual in 100i64..50_000, months in 12u32..=36, d in 0i64..1100, d2 in 0i64..1100) {
        let engine = QuoteEngine::builtin();
        let start = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let term = Term::new(start, months);
        let days = term.days().unwrap();
        let (d, d2) = (d % days, d2 % days);
        let full = Money::cny(&annual.to_string()).unwrap();
        let p = prorate(&full, days - d, days).unwrap();
        prop_assert!(p.amount() <= full.amount() && !p.is_negative());
        prop_assert_eq!(prorate(&full, days, days).unwrap(), full);
        let p2 = prorate(&full, days - d2, days).unwrap();
        if d <= d2 { prop_assert!(p.amount() >= p2.amount()); }
        // Through the quote engine: the line and its co-terminated revenue.
        let owned: BTreeSet<ModuleId> = engine.products().bundle("tcloud.basic").unwrap().modules.iter().cloned().collect();
        let on = start + Duration::days(d);
        let req = AmendmentRequest { on, accounts: 0, add_ons: vec![ModuleId::REMARKETING, ModuleId::BI_DASHBOARDS], extra_seats: vec![], usage_packs: vec![] };
        let q = engine.quote_amendment("tcloud.basic", &term, &owned, &req).unwrap();
        for l in &q.lines {
            prop_assert!(l.amount.amount() <= l.full_price.amount());
        }
        prop_assert_eq!(q.total, Money::sum(Currency::CNY, q.lines.iter().map(|l| &l.amount)).unwrap());
        let s = RatableSchedule::new(q.total, q.start, q.end).unwrap();
        prop_assert_eq!(s.recognized_through(q.end - Duration::days(1)), q.total);
        prop_assert_eq!(q.end, term.end().unwrap());
    }

    /// RPO + recognised = booked at every date, for any mix of contracts and amendments.
    #[test]
    fn rpo_plus_recognised_is_booked(
        contracts in prop::collection::vec((1i64..20_000_000, 0i64..400, 0i64..60, 1u32..=36, prop::option::of((0i64..300, 1i64..5_000_000))), 1..12),
        probes in prop::collection::vec(0i64..1800, 1..12),
    ) {
        let mut list = Vec::new();
        for (i, (minor, signed, delay, months, amend)) in contracts.into_iter().enumerate() {
            let signed_on = day0() + Duration::days(signed);
            let mut c = Contract::simple(format!("c{i}"), TenantId::new(), Money::from_minor(minor, Currency::CNY), signed_on, signed_on + Duration::days(delay), months).unwrap();
            if i % 3 == 2 {
                c.obligations[0].schedule = None; // signed, not activated yet
            } else if let Some((offset, value)) = amend {
                let s = c.obligations[0].schedule.unwrap();
                let on = s.start() + Duration::days(offset % i64::from(s.days()));
                let v = Money::from_minor(value, Currency::CNY);
                c.obligations.push(Obligation { label: "amd".into(), booked_on: on, value: v, schedule: Some(RatableSchedule::new(v, on, s.end()).unwrap()) });
            }
            list.push(c);
        }
        let book = RevenueBook::new(Currency::CNY, list);
        for p in probes {
            let pos = book.position(day0() + Duration::days(p)).unwrap();
            prop_assert_eq!(pos.rpo.checked_add(&pos.recognized).unwrap(), pos.booked);
            prop_assert!(!pos.rpo.is_negative());
        }
        let rows = book.waterfall(day0(), day0() + Duration::days(1900)).unwrap();
        let recognised = Money::sum(Currency::CNY, rows.iter().map(|r| &r.recognized)).unwrap();
        let last = rows.last().unwrap();
        prop_assert_eq!(recognised.checked_add(&last.remaining).unwrap(), Money::sum(Currency::CNY, rows.iter().map(|r| &r.booked)).unwrap());
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Under N concurrent consumers with overlapping event keys, total consumed ≤ quota and
    /// every distinct successful event is counted exactly once.
    #[test]
    fn concurrent_consumers_respect_the_quota(quota in 1u64..400, threads in 2usize..6, events in prop::collection::vec((0u32..300, 1u64..6), 1..150)) {
        let g = Grant::new(TenantId::new(), "2026-03-01".parse().unwrap(), "2027-03-01".parse().unwrap())
            .quota(UsageUnit::ImagesGenerated, quota, QuotaPeriod::Term);
        let meter = Entitlements::from_grant(g, clock()).unwrap().meter();
        // The same key always carries the same quantity (as a retried client would send).
        let qty_of: HashMap<u32, u64> = events.iter().copied().collect();
        let events: Arc<Vec<(u32, u64)>> = Arc::new(events.iter().map(|(k, _)| (*k, qty_of[k])).collect());
        let handles: Vec<_> = (0..threads).map(|t| {
            let m = meter.clone();
            let ev = events.clone();
            std::thread::spawn(move || {
                let mut won = Vec::new();
                for i in 0..ev.len() {
                    let (k, q) = ev[(i + t * 7) % ev.len()];
                    if let Ok(c) = m.consume(&UsageUnit::ImagesGenerated, q, &IdempotencyKey::new(format!("img-{k}")).unwrap()) {
                        if !c.replayed { won.push((k, q)); }
                    }
                }
                won
            })
        }).collect();
        let won: Vec<(u32, u64)> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        let distinct: BTreeSet<u32> = won.iter().map(|(k, _)| *k).collect();
        prop_assert_eq!(distinct.len(), won.len(), "an event was counted twice");
        let used: u64 = won.iter().map(|(_, q)| q).sum();
        prop_assert!(used <= quota);
        let b = meter.balance(&UsageUnit::ImagesGenerated);
        prop_assert_eq!(b.used.get(), used);
        prop_assert_eq!(b.remaining.get(), quota - used);
        prop_assert_eq!(meter.events_recorded(), won.len());
    }
}

#[derive(Debug, Clone)]
enum Op {
    Consume(u8, u64),
    Credit(u8, u64),
    Reserve(u8, u64),
    Commit(u8, u64),
    Release(u8),
    Assign(u8),
    Unassign(u8),
    Advance(u8),
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..40, 1u64..30).prop_map(|(k, q)| Op::Consume(k, q)),
        1 => (0u8..40, 1u64..30).prop_map(|(k, q)| Op::Credit(k, q)),
        2 => (0u8..20, 1u64..30).prop_map(|(k, q)| Op::Reserve(k, q)),
        2 => (0u8..20, 1u64..30).prop_map(|(k, q)| Op::Commit(k, q)),
        1 => (0u8..20).prop_map(Op::Release),
        1 => (0u8..8).prop_map(Op::Assign),
        1 => (0u8..8).prop_map(Op::Unassign),
        1 => (1u8..40).prop_map(Op::Advance),
        1 => Just(Op::Flush),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever happened, a registry rebuilt from the store holds exactly the live state.
    #[test]
    fn rebuild_from_storage_equals_live_state(ops in prop::collection::vec(op(), 1..80)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
            let clock = clock();
            let reg = EntitlementRegistry::builder(&marketingforce_core::env::Env::builder(store.clone()).clock(clock.clone() as Arc<dyn Clock>).build()).build();
            let tenant = TenantId::new();
            let g = Grant::new(tenant, "2026-03-01".parse().unwrap(), "2027-03-01".parse().unwrap())
                .seats(ModuleId::CONVERSATION_LIBRARY, 4)
                .quota(UsageUnit::LeadsStored, 300, QuotaPeriod::Month)
                .purchased(UsageUnit::LeadsStored, 200);
            let pack = Grant::new(tenant, "2026-04-15".parse().unwrap(), "2027-03-01".parse().unwrap())
                .purchased(UsageUnit::LeadsStored, 150);
            reg.grant(g).await.unwrap();
            let ents = reg.grant(pack).await.unwrap();
            let m = ents.meter();
            let unit = UsageUnit::LeadsStored;
            let module = ModuleId::CONVERSATION_LIBRARY;
            for o in ops {
                match o {
                    Op::Consume(k, q) => { let _ = m.consume(&unit, q, &IdempotencyKey::new(format!("c{k}")).unwrap()); }
                    Op::Credit(k, q) => { let _ = m.credit(&unit, q, &IdempotencyKey::new(format!("d{k}")).unwrap()); }
                    Op::Reserve(k, q) => { let _ = m.reserve(&unit, q, &IdempotencyKey::new(format!("r{k}")).unwrap()); }
                    Op::Commit(k, q) => { let _ = m.commit(q, &IdempotencyKey::new(format!("r{k}")).unwrap()); }
                    Op::Release(k) => { m.release(&IdempotencyKey::new(format!("r{k}")).unwrap()); }
                    Op::Assign(a) => { let _ = ents.assign_seat(&module, &AccountId::new(format!("acct{a}")).unwrap()).await; }
                    Op::Unassign(a) => { let _ = ents.unassign_seat(&module, &AccountId::new(format!("acct{a}")).unwrap()).await; }
                    Op::Advance(days) => { clock.advance(Duration::days(i64::from(days))); reg.tick().unwrap(); }
                    Op::Flush => reg.flush().await.unwrap(),
                }
            }
            reg.flush().await.unwrap();
            for k in 0..20u8 { m.release(&IdempotencyKey::new(format!("r{k}")).unwrap()); } // holds are not durable
            let rebuilt = reg.rebuild(&tenant).await.unwrap();
            assert_eq!(rebuilt.report(), ents.report());
            let (a, b) = (rebuilt.snapshot(), ents.snapshot());
            assert_eq!((a.modules(), a.seat_limits(), a.quotas()), (b.modules(), b.seat_limits(), b.quotas()));
            assert_eq!(rebuilt.meter().balances(), m.balances());
            assert_eq!(rebuilt.meter().balance(&unit).remaining, m.remaining(&unit));
            let _ = Quantity::ZERO;
        });
    }
}

/// Any day the calendar holds.
fn any_day() -> impl Strategy<Value = NaiveDate> {
    let (lo, hi) = (
        NaiveDate::MIN.num_days_from_ce(),
        NaiveDate::MAX.num_days_from_ce(),
    );
    (lo..=hi).prop_map(|n| NaiveDate::from_num_days_from_ce_opt(n).unwrap())
}

fn price_tier(up_to: Option<u64>, fen: i64) -> marketingforce_modules::pricing::Tier {
    marketingforce_modules::pricing::Tier {
        up_to: up_to.map(Quantity::new),
        unit_price: Money::from_minor(fen, Currency::CNY),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A price schedule of any tiers (ordered or not, validated or not) prices any quantity or
    /// refuses it naming the field: never a panic.
    #[test]
    fn price_schedules_answer_for_any_tiers_and_quantity(
        bounds in prop::collection::vec(prop::option::of(any::<u64>()), 1..5),
        small in prop::collection::vec(prop::option::of(0u64..1_000), 1..5),
        fen in any::<i64>(),
        quantity in prop_oneof![0u64..3_000, any::<u64>()],
        use_small in any::<bool>(),
        volume in any::<bool>(),
    ) {
        use marketingforce_modules::pricing::PriceSchedule;
        let bounds = if use_small { small } else { bounds };
        let tiers: Vec<_> = bounds.iter().map(|b| price_tier(*b, fen)).collect();
        let schedule = if volume {
            PriceSchedule::Volume { tiers }
        } else {
            PriceSchedule::Tiered { tiers }
        };
        if let Err(e) = schedule.price(Quantity::new(quantity)) {
            prop_assert!(e.field().is_some(), "{e}");
        }
    }

    /// A ratable schedule over any days of the calendar answers every read on any day.
    #[test]
    fn ratable_schedules_answer_on_any_day(
        minor in any::<i64>(),
        start in any_day(),
        end in any_day(),
        probe in any_day(),
        other in any_day(),
    ) {
        if let Ok(s) = RatableSchedule::new(Money::from_minor(minor, Currency::CNY), start, end) {
            let _ = s.end();
            let _ = s.amount_on(probe);
            let _ = s.recognized_through(probe);
            let _ = s.recognized_between(probe, other);
            let book = RevenueBook::new(
                Currency::CNY,
                vec![Contract {
                    id: "c".into(),
                    customer: TenantId::new(),
                    signed_on: start,
                    term_months: 12,
                    renewal: false,
                    salesperson: None,
                    partner: None,
                    obligations: vec![Obligation {
                        label: "contract".into(),
                        booked_on: start,
                        value: s.value(),
                        schedule: Some(s),
                    }],
                    payments: vec![(start, s.value())],
                }],
            );
            let _ = book.position(probe);
            let _ = book.monthly_by_customer(probe.year());
        }
    }

    /// A quote of any size on any start day is priced or refused naming the field.
    #[test]
    fn quotes_of_any_size_answer(
        start in any_day(),
        months in 0u32..=70,
        accounts in prop::option::of(any::<u32>()),
        seats in any::<u32>(),
        per_account in any::<bool>(),
    ) {
        use marketingforce_modules::pricing::{QuoteRequest, SeatLine};
        use marketingforce_modules::products::BundleId;
        let engine = QuoteEngine::builtin();
        let bundle = if per_account { BundleId::TRUECLIENT_STANDARD } else { BundleId::TCLOUD_BASIC };
        let mut req = QuoteRequest::new(bundle, Term::new(start, months));
        req.accounts = accounts;
        if !per_account {
            req.extra_seats = vec![SeatLine { module: ModuleId::MARKETING_TEAM_MANAGEMENT, seats }];
        }
        if let Err(e) = engine.quote(&req) {
            prop_assert!(e.field().is_some() || matches!(e, marketingforce_modules::ModulesError::BelowMinimumSeats { .. }), "{e}");
        }
    }
}

#[derive(Debug, Clone)]
enum Usage {
    Consume(u64, u8),
    Reserve(u64, u8),
    Commit(u64, u8),
    Release(u8),
    Credit(u64, u8),
}

fn usage() -> impl Strategy<Value = Usage> {
    let qty = prop_oneof![0u64..5, any::<u64>(), Just(u64::MAX)];
    prop_oneof![
        (qty.clone(), 0u8..6).prop_map(|(q, k)| Usage::Consume(q, k)),
        (qty.clone(), 0u8..6).prop_map(|(q, k)| Usage::Reserve(q, k)),
        (qty.clone(), 0u8..6).prop_map(|(q, k)| Usage::Commit(q, k)),
        (0u8..6).prop_map(Usage::Release),
        (qty, 0u8..6).prop_map(|(q, k)| Usage::Credit(q, k)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Metering with quotas and quantities up to `u64::MAX`, in any order: every call answers
    /// and the balance never shows more used and held than the limits allow.
    #[test]
    fn metering_with_extreme_counts_answers(
        limits in prop::collection::vec(prop_oneof![1u64..10, any::<u64>(), Just(u64::MAX)], 1..3),
        ops in prop::collection::vec(usage(), 1..30),
    ) {
        let unit = UsageUnit::VideosRendered;
        let mut grant = Grant::new(TenantId::new(), day0(), day0() + Duration::days(400));
        for (i, l) in limits.iter().enumerate() {
            let period = if i % 2 == 0 { QuotaPeriod::Term } else { QuotaPeriod::Month };
            grant = grant.quota(unit.clone(), *l, period);
        }
        let clock = Arc::new(ManualClock::at_rfc3339("2024-01-15T09:00:00+08:00").unwrap());
        let Ok(ents) = Entitlements::from_grant(grant, clock) else { return Ok(()); };
        let meter = ents.meter();
        let key = |k: u8| IdempotencyKey::new(format!("k{k}")).unwrap();
        for op in ops {
            let _ = match op {
                Usage::Consume(q, k) => meter.consume(&unit, q, &key(k)).map(|_| ()),
                Usage::Reserve(q, k) => meter.reserve(&unit, q, &key(k)).map(|_| ()),
                Usage::Commit(q, k) => meter.commit(q, &key(k)).map(|_| ()),
                Usage::Release(k) => { meter.release(&key(k)); Ok(()) }
                Usage::Credit(q, k) => meter.credit(&unit, q, &key(k)).map(|_| ()),
            };
            let b = meter.balance(&unit);
            prop_assert!(b.remaining <= b.limit);
        }
    }
}
