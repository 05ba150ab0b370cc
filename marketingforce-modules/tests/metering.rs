//! Entitlements and metering: seats, quotas, idempotent events, reservations, concurrency,
//! durability and rebuild from storage.

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use marketingforce_core::storage::{Fault, FaultPlan, FaultyStore, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
use marketingforce_modules::entitlements::{
    AccountId, EntitlementRegistry, Entitlements, Grant, SeatChange,
};
use marketingforce_modules::ModulesError;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn seats_are_limited_idempotent_and_freed() {
    rt().block_on(async {
        let g = Grant::new(TenantId::new(), d("2026-03-01"), d("2027-03-01"))
            .seats(ModuleId::LEADS_ALLOCATION, 2);
        let e = Entitlements::from_grant(g, clock()).unwrap();
        let m = ModuleId::LEADS_ALLOCATION;
        let a = AccountId::new("a").unwrap();
        let b = AccountId::new("b").unwrap();
        let c = AccountId::new("c").unwrap();
        assert_eq!(e.assign_seat(&m, &a).await.unwrap(), SeatChange::Assigned);
        assert_eq!(
            e.assign_seat(&m, &a).await.unwrap(),
            SeatChange::AlreadyAssigned
        );
        e.assign_seat(&m, &b).await.unwrap();
        match e.assign_seat(&m, &c).await {
            Err(ModulesError::SeatLimitReached {
                limit: 2,
                assigned: 2,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.unassign_seat(&m, &a).await.unwrap(),
            SeatChange::Unassigned
        );
        assert_eq!(
            e.unassign_seat(&m, &a).await.unwrap(),
            SeatChange::NotAssigned
        );
        assert!(e.seat_available(&m));
        assert_eq!(e.assign_seat(&m, &c).await.unwrap(), SeatChange::Assigned);
        assert!(e.has_seat(&m, &c) && !e.has_seat(&m, &a));
        // A module without seats for the tenant.
        let err = e
            .assign_seat(&ModuleId::CUSTOMER_SOP, &a)
            .await
            .unwrap_err();
        assert!(matches!(err, ModulesError::NotEntitled { .. }), "{err}");
        assert!(
            err.to_string().contains("trueclient"),
            "names bundles to buy: {err}"
        );
    });
}

#[test]
fn consume_denials_explain_quota_left_and_packs() {
    let g = Grant::new(TenantId::new(), d("2026-03-01"), d("2027-03-01")).quota(
        UsageUnit::VideosRendered,
        10,
        QuotaPeriod::Month,
    );
    let meter = Entitlements::from_grant(g, clock()).unwrap().meter();
    meter
        .consume(
            &UsageUnit::VideosRendered,
            9u64,
            &IdempotencyKey::from_static("a"),
        )
        .unwrap();
    let e = meter
        .consume(
            &UsageUnit::VideosRendered,
            2u64,
            &IdempotencyKey::from_static("b"),
        )
        .unwrap_err();
    match &e {
        ModulesError::QuotaExceeded {
            remaining,
            limit,
            can_buy,
            ..
        } => {
            assert_eq!((remaining.get(), limit.get()), (1, 10));
            assert!(can_buy.iter().any(|p| p.pack == "pack.videos_rendered"));
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("1 left of 10"), "{e}");
    let e = meter
        .consume(
            &UsageUnit::ArticlesPublished,
            1u64,
            &IdempotencyKey::from_static("c"),
        )
        .unwrap_err();
    assert!(matches!(e, ModulesError::NoQuota { .. }), "{e}");
    // Replays count once; a replay with another quantity is an error.
    let r = meter
        .consume(
            &UsageUnit::VideosRendered,
            9u64,
            &IdempotencyKey::from_static("a"),
        )
        .unwrap();
    assert!(r.replayed);
    let e = meter
        .consume(
            &UsageUnit::VideosRendered,
            8u64,
            &IdempotencyKey::from_static("a"),
        )
        .unwrap_err();
    assert!(matches!(e, ModulesError::UsageEventMismatch { .. }), "{e}");
    assert_eq!(meter.remaining(&UsageUnit::VideosRendered).get(), 1);
    assert!(meter
        .consume(
            &UsageUnit::VideosRendered,
            0u64,
            &IdempotencyKey::from_static("z")
        )
        .is_err());
    // A blank key is refused when the key is made, before the meter sees it.
    assert!(IdempotencyKey::new(" ").is_err());
}

#[test]
fn monthly_quota_resets_and_purchased_pack_is_drawn_after_included() {
    let clock = clock();
    let g = Grant::new(TenantId::new(), d("2026-03-01"), d("2027-03-01"))
        .quota(UsageUnit::ArticlesPublished, 10, QuotaPeriod::Month)
        .purchased(UsageUnit::ArticlesPublished, 5);
    let meter = Entitlements::from_grant(g, clock.clone()).unwrap().meter();
    meter
        .consume(
            &UsageUnit::ArticlesPublished,
            12u64,
            &IdempotencyKey::from_static("m1"),
        )
        .unwrap();
    let b = meter.balance(&UsageUnit::ArticlesPublished);
    assert_eq!(b.buckets[0].used.get(), 10, "included first");
    assert_eq!(b.buckets[1].used.get(), 2, "then the pack");
    assert_eq!(b.remaining.get(), 3);
    clock.advance(Duration::days(31));
    // April: a fresh monthly quota; the pack keeps what is left.
    assert_eq!(meter.remaining(&UsageUnit::ArticlesPublished).get(), 13);
}

#[test]
fn reserve_commit_release_and_credit() {
    let g = Grant::new(TenantId::new(), d("2026-03-01"), d("2027-03-01"))
        .quota(UsageUnit::VideosRendered, 10, QuotaPeriod::Term)
        .quota(UsageUnit::LeadsStored, 100, QuotaPeriod::Term);
    let meter = Entitlements::from_grant(g, clock()).unwrap().meter();
    let v = UsageUnit::VideosRendered;
    meter
        .reserve(&v, 6u64, &IdempotencyKey::from_static("job"))
        .unwrap();
    assert!(
        meter
            .reserve(&v, 6u64, &IdempotencyKey::from_static("job"))
            .unwrap()
            .replayed
    );
    assert!(
        meter
            .reserve(&v, 5u64, &IdempotencyKey::from_static("job2"))
            .is_err(),
        "only 4 left"
    );
    assert!(
        meter
            .commit(7u64, &IdempotencyKey::from_static("job"))
            .is_err(),
        "more than held"
    );
    meter
        .commit(4u64, &IdempotencyKey::from_static("job"))
        .unwrap();
    assert!(
        meter
            .commit(4u64, &IdempotencyKey::from_static("job"))
            .unwrap()
            .replayed
    );
    assert!(meter
        .commit(3u64, &IdempotencyKey::from_static("job"))
        .is_err());
    assert_eq!(meter.remaining(&v).get(), 6);
    meter
        .reserve(&v, 6u64, &IdempotencyKey::from_static("job3"))
        .unwrap();
    assert!(meter.release(&IdempotencyKey::from_static("job3")));
    assert!(!meter.release(&IdempotencyKey::from_static("job3")));
    assert!(matches!(
        meter.commit(1u64, &IdempotencyKey::from_static("job3")),
        Err(ModulesError::ReservationNotOpen { .. })
    ));
    assert_eq!(meter.remaining(&v).get(), 6);
    // Levels can be credited back, events cannot.
    let l = UsageUnit::LeadsStored;
    meter
        .consume(&l, 40u64, &IdempotencyKey::from_static("import-1"))
        .unwrap();
    meter
        .credit(&l, 15u64, &IdempotencyKey::from_static("delete-1"))
        .unwrap();
    assert_eq!(meter.remaining(&l).get(), 75);
    assert!(meter
        .credit(&l, 100u64, &IdempotencyKey::from_static("delete-2"))
        .is_err());
    assert!(meter
        .credit(&v, 1u64, &IdempotencyKey::from_static("nope"))
        .is_err());
}

#[test]
fn concurrent_consumers_never_exceed_the_quota() {
    let g = Grant::new(TenantId::new(), d("2026-03-01"), d("2027-03-01")).quota(
        UsageUnit::Publications,
        1000,
        QuotaPeriod::Term,
    );
    let meter = Entitlements::from_grant(g, clock()).unwrap().meter();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let m = meter.clone();
            std::thread::spawn(move || {
                let mut ok = 0u64;
                for i in 0..400u64 {
                    // Every thread also replays the keys of thread 0.
                    let key = if t % 2 == 0 {
                        format!("k{i}")
                    } else {
                        format!("t{t}-{i}")
                    };
                    if let Ok(c) = m.consume(
                        &UsageUnit::Publications,
                        1u64,
                        &IdempotencyKey::new(key).unwrap(),
                    ) {
                        if !c.replayed {
                            ok += 1;
                        }
                    }
                }
                ok
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 1000);
    assert_eq!(meter.remaining(&UsageUnit::Publications).get(), 0);
    assert_eq!(meter.events_recorded(), 1000);
}

#[test]
fn restart_rebuilds_the_same_state() {
    rt().block_on(async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let clock = clock();
        let reg = EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .clock(clock.clone() as Arc<dyn Clock>)
                .build(),
        )
        .build();
        let tenant = TenantId::new();
        let g = Grant::new(tenant, d("2026-03-01"), d("2027-03-01"))
            .module(ModuleId::T_VIDEO)
            .seats(ModuleId::CUSTOMER_SOP, 3)
            .quota(UsageUnit::VideosRendered, 50, QuotaPeriod::Month)
            .purchased(UsageUnit::VideosRendered, 20);
        let e = reg.grant(g.clone()).await.unwrap();
        // Same grant again: idempotent; another grant under its id: error.
        reg.grant(g.clone()).await.unwrap();
        assert!(reg.grant(g.clone().module(ModuleId::T_TEXT)).await.is_err());
        let m = e.meter();
        for i in 0..30 {
            m.consume(
                &UsageUnit::VideosRendered,
                2u64,
                &IdempotencyKey::new(format!("e{i}")).unwrap(),
            )
            .unwrap();
        }
        m.consume_durable(
            &UsageUnit::VideosRendered,
            1u64,
            &IdempotencyKey::from_static("e0b"),
        )
        .await
        .unwrap();
        e.assign_seat(&ModuleId::CUSTOMER_SOP, &AccountId::new("x").unwrap())
            .await
            .unwrap();
        m.reserve(
            &UsageUnit::VideosRendered,
            3u64,
            &IdempotencyKey::from_static("held"),
        )
        .unwrap();
        clock.advance(Duration::days(31));
        m.consume(
            &UsageUnit::VideosRendered,
            5u64,
            &IdempotencyKey::from_static("april"),
        )
        .unwrap();
        reg.flush().await.unwrap();
        assert_eq!(reg.pending_events(), 0);

        let again = EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(store)
                .clock(clock as Arc<dyn Clock>)
                .build(),
        )
        .build();
        let rebuilt = again.load(&tenant).await.unwrap();
        m.release(&IdempotencyKey::from_static("held")); // holds are not durable
        assert_eq!(reg.tick().unwrap(), 0, "no grant started or ended");
        assert_eq!(rebuilt.report(), e.report());
        assert_eq!(
            rebuilt.meter().balance(&UsageUnit::VideosRendered),
            m.balance(&UsageUnit::VideosRendered)
        );
    });
}

#[test]
fn restart_from_sqlite_rebuilds_the_same_balances() {
    rt().block_on(async {
        use marketingforce_core::storage::SqliteStore;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("modules.db");
        let clock = clock();
        let tenant = TenantId::new();
        let live = {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
            let reg = EntitlementRegistry::builder(
                &marketingforce_core::env::Env::builder(store)
                    .clock(clock.clone() as Arc<dyn Clock>)
                    .build(),
            )
            .build();
            let g = Grant::new(tenant, d("2026-03-01"), d("2027-03-01"))
                .seats(ModuleId::LEADS_ALLOCATION, 3)
                .quota(UsageUnit::LeadsStored, 1000, QuotaPeriod::Term)
                .quota(UsageUnit::ArticlesPublished, 10, QuotaPeriod::Month)
                .purchased(UsageUnit::ArticlesPublished, 5);
            let e = reg.grant(g).await.unwrap();
            let m = e.meter();
            for i in 0..12u64 {
                m.consume(
                    &UsageUnit::ArticlesPublished,
                    1u64,
                    &IdempotencyKey::new(format!("a{i}")).unwrap(),
                )
                .unwrap();
            }
            m.consume_durable(
                &UsageUnit::LeadsStored,
                400u64,
                &IdempotencyKey::from_static("import"),
            )
            .await
            .unwrap();
            m.credit(
                &UsageUnit::LeadsStored,
                40u64,
                &IdempotencyKey::from_static("cleanup"),
            )
            .unwrap();
            e.assign_seat(&ModuleId::LEADS_ALLOCATION, &AccountId::new("li").unwrap())
                .await
                .unwrap();
            reg.flush().await.unwrap();
            e.report()
        };
        // A new process: a new store handle on the same file, a new registry.
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let reg = EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(store)
                .clock(clock as Arc<dyn Clock>)
                .build(),
        )
        .build();
        let e = reg.load(&tenant).await.unwrap();
        assert_eq!(e.report(), live);
        assert_eq!(e.meter().remaining(&UsageUnit::ArticlesPublished).get(), 3);
        assert_eq!(e.meter().remaining(&UsageUnit::LeadsStored).get(), 640);
        assert!(
            e.meter()
                .consume(
                    &UsageUnit::ArticlesPublished,
                    1u64,
                    &IdempotencyKey::from_static("a3")
                )
                .unwrap()
                .replayed
        );
    });
}

#[test]
fn a_failed_flush_loses_nothing() {
    rt().block_on(async {
        let store = Arc::new(FaultyStore::new(
            Arc::new(MemoryStore::new()),
            FaultPlan::new(1),
        ));
        let clock = clock();
        let reg = EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .clock(clock.clone() as Arc<dyn Clock>)
                .build(),
        )
        .build();
        let tenant = TenantId::new();
        let g = Grant::new(tenant, d("2026-03-01"), d("2027-03-01")).quota(
            UsageUnit::SmsSent,
            100,
            QuotaPeriod::Term,
        );
        let e = reg.grant(g).await.unwrap();
        // The next two commits that append usage fail (retryable), to prove a failed flush
        // loses nothing and a later flush writes it all.
        for _ in 0..2 {
            store.script_matching(Fault::ErrorBeforeCommit, "journal modules.usage");
        }
        let m = e.meter();
        m.consume(
            &UsageUnit::SmsSent,
            10u64,
            &IdempotencyKey::from_static("a"),
        )
        .unwrap();
        let err = m
            .consume_durable(&UsageUnit::SmsSent, 5u64, &IdempotencyKey::from_static("b"))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert_eq!(reg.pending_events(), 2, "kept for the next flush");
        // The client retries with the same key: still counted once, and waits for the write.
        assert!(reg.flush().await.is_err());
        let again = m
            .consume_durable(&UsageUnit::SmsSent, 5u64, &IdempotencyKey::from_static("b"))
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(reg.pending_events(), 0);
        let rebuilt = reg.rebuild(&tenant).await.unwrap();
        assert_eq!(rebuilt.report(), e.report());
        assert_eq!(rebuilt.meter().remaining(&UsageUnit::SmsSent).get(), 85);
    });
}

/// Tenants share the group-commit writer, but not each other's failures: when one tenant's
/// usage write fails, another tenant whose events were stored by the same flush is told so —
/// not handed the first tenant's storage error, which says its event was not stored (and would
/// keep failing its retries, replays included, for as long as the other tenant's writes fail).
#[test]
fn one_tenants_failed_write_is_not_another_tenants_answer() {
    rt().block_on(async {
        let store = Arc::new(FaultyStore::new(
            Arc::new(MemoryStore::new()),
            FaultPlan::new(1),
        ));
        let reg = EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .clock(clock() as Arc<dyn Clock>)
                .build(),
        )
        .build();
        let grant = |t| {
            Grant::new(t, d("2026-03-01"), d("2027-03-01")).quota(
                UsageUnit::SmsSent,
                100,
                QuotaPeriod::Term,
            )
        };
        let (a, b) = (TenantId::new(), TenantId::new());
        let ea = reg.grant(grant(a)).await.unwrap();
        let eb = reg.grant(grant(b)).await.unwrap();
        // Tenant a's usage write fails (its events are queued first, so written first).
        store.script_matching(Fault::ErrorBeforeCommit, "journal modules.usage");
        ea.meter()
            .consume(
                &UsageUnit::SmsSent,
                1u64,
                &IdempotencyKey::from_static("a-1"),
            )
            .unwrap();
        let key = IdempotencyKey::from_static("b-1");
        let first = eb
            .meter()
            .consume_durable(&UsageUnit::SmsSent, 2u64, &key)
            .await;
        let stored = reg.rebuild(&b).await.unwrap().meter().events_recorded();
        assert_eq!(stored, 1, "b's event was stored by that flush");
        assert!(first.is_ok(), "b was answered a's error: {first:?}");
        // A replay of b's key while a's writes still fail.
        store.script_matching(Fault::ErrorBeforeCommit, "journal modules.usage");
        let again = eb
            .meter()
            .consume_durable(&UsageUnit::SmsSent, 2u64, &key)
            .await;
        assert!(again.is_ok_and(|c| c.replayed), "b's replay failed");
        assert_eq!(
            reg.pending_events(),
            1,
            "a's event is kept for the next flush"
        );
    });
}
