//! The bugs the simulation found, pinned down with scripted faults (each test failed before
//! its fix; the seeds that found them are in the comments).

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use chrono::NaiveDate;
use marketingforce_ads::agreement::PlatformCategory;
use marketingforce_ads::AdOps;
use marketingforce_content::distribution::{
    ChannelCatalogue, ModulesQuota, PublicationStatus, PublishCommand, Publisher, SimulatedChannel,
};
use marketingforce_core::adapters::channel::{AccountStatus, ContentFormat, Verification};
use marketingforce_core::env::Env as CoreEnv;
use marketingforce_core::id::SeededIds;
use marketingforce_core::money::{Currency, Money};
use marketingforce_core::storage::{Fault, FaultPlan, FaultyStore, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_crm::crypto::KeyRing;
use marketingforce_crm::ids::UserId;
use marketingforce_crm::model::Source;
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::seats::EntitlementSeats;
use marketingforce_crm::staff::{Role, Staff};
use marketingforce_crm::{CaptureOutcome, Crm};
use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
use marketingforce_modules::entitlements::{AccountId, EntitlementRegistry, Grant};

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

struct Env {
    memory: Arc<dyn Store>,
    faulty: Arc<FaultyStore>,
    clock: Arc<dyn Clock>,
    tenant: TenantId,
}

fn env() -> Env {
    let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
    Env {
        faulty: Arc::new(FaultyStore::new(memory.clone(), FaultPlan::new(1))),
        memory,
        clock: Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").expect("clock")),
        tenant: TenantId::new(),
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).expect("date")
}

fn grant(e: &Env) -> Grant {
    Grant::new(
        e.tenant,
        NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
        NaiveDate::from_ymd_opt(2027, 3, 1).expect("date"),
    )
    .module(ModuleId::SMART_DISTRIBUTION)
    .seats(ModuleId::SALES_WORKBENCH, 3)
    .quota(UsageUnit::Publications, 20, QuotaPeriod::Term)
}

/// An entitlement registry over the faulty store with the test grant in force.
async fn granted_registry(e: &Env) -> Arc<EntitlementRegistry> {
    let registry = Arc::new(
        EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(e.faulty.clone())
                .clock(e.clock.clone())
                .build(),
        )
        .build(),
    );
    registry.grant(grant(e)).await.expect("grant");
    registry
}

async fn open_ads(e: &Env, store: Arc<dyn Store>) -> AdOps {
    AdOps::builder(
        &CoreEnv::builder(store)
            .clock(e.clock.clone())
            .ids(Arc::new(SeededIds::new(1, e.clock.clone())))
            .build(),
        e.tenant,
    )
    .open()
    .await
    .expect("ads open")
}

/// Seed 1 (step 50): a duplicated delivery answered "replayed" for the ledger's own commit,
/// and an error after commit, left the live ledger without transfers its journal holds.
#[test]
fn the_ledger_reloads_after_a_replayed_or_unknown_commit() {
    run(async {
        let e = env();
        let ops = open_ads(&e, e.faulty.clone()).await;
        let p = ops
            .register_platform(
                "短视频",
                "sim",
                PlatformCategory::ShortVideo,
                &IdempotencyKey::from_static("p"),
            )
            .await
            .expect("platform");
        let cny = |y: i64| Money::new(rust_decimal::Decimal::new(y, 0), Currency::CNY);
        e.faulty.script(Fault::DuplicateDelivery);
        ops.record_platform_prepayment(
            &p.id,
            cny(1000),
            day(),
            &IdempotencyKey::from_static("prepay-1"),
        )
        .await
        .expect("prepayment");
        e.faulty.script(Fault::ErrorAfterCommit);
        assert!(ops
            .record_platform_prepayment(
                &p.id,
                cny(500),
                day(),
                &IdempotencyKey::from_static("prepay-2")
            )
            .await
            .is_err());
        let stored = open_ads(&e, e.memory.clone()).await;
        let count = |o: &AdOps| {
            let l = o.ledger().clone();
            async move { l.read(|x| x.transfer_count()).await.unwrap() }
        };
        assert_eq!(count(&stored).await, 2);
        assert_eq!(
            count(&ops).await,
            2,
            "the live ledger missed stored transfers"
        );
        // The next posting is journaled after them, so the journal replays cleanly.
        ops.record_platform_prepayment(
            &p.id,
            cny(1),
            day(),
            &IdempotencyKey::from_static("prepay-3"),
        )
        .await
        .expect("prepayment");
        assert_eq!(count(&open_ads(&e, e.memory.clone()).await).await, 3);
    });
}

/// Seed 1 (step 50, after the ledger fix): a capture whose commit failed after storing left
/// the dedupe engine without the new lead, so the same person came back as a second lead.
#[test]
fn a_capture_stored_despite_an_error_still_dedupes() {
    run(async {
        let e = env();
        let crm = Crm::builder(
            &marketingforce_core::env::Env::builder(e.faulty.clone())
                .keys(Arc::new(KeyRing::new("k", [3; 32])))
                .clock(e.clock.clone())
                .ids(Arc::new(SeededIds::new(2, e.clock.clone())))
                .build(),
        )
        .build()
        .expect("crm");
        let first = CaptureRequest::new(Source::OwnSite).mobile("13900001111");
        e.faulty.script(Fault::ErrorAfterCommit);
        assert!(crm
            .capture(&e.tenant, first.clone(), &IdempotencyKey::from_static("k1"))
            .await
            .is_err());
        let created = crm
            .capture(&e.tenant, first, &IdempotencyKey::from_static("k1"))
            .await
            .expect("retry");
        assert!(matches!(created, CaptureOutcome::Created { .. }));
        let again = crm
            .capture(
                &e.tenant,
                CaptureRequest::new(Source::OfflineQr).mobile("+86 139 0000 1111"),
                &IdempotencyKey::from_static("k2"),
            )
            .await
            .expect("capture");
        assert_eq!(again.lead(), created.lead(), "duplicate lead: {again:?}");
        let live = crm
            .all_leads(&e.tenant)
            .await
            .expect("leads")
            .iter()
            .filter(|l| l.is_active())
            .count();
        assert_eq!(live, 1);
    });
}

/// Seed 2 (step 213): a departure whose seat release failed after storing was retried, the
/// retry replayed the departure and never released the seat: a departed account kept it.
#[test]
fn a_retried_departure_frees_the_seat() {
    run(async {
        let e = env();
        let registry = granted_registry(&e).await;
        let ids = Arc::new(SeededIds::new(3, e.clock.clone()));
        let crm = Crm::builder(
            &marketingforce_core::env::Env::builder(e.faulty.clone())
                .keys(Arc::new(KeyRing::new("k", [3; 32])))
                .clock(e.clock.clone())
                .ids(ids.clone())
                .build(),
        )
        .seats(Arc::new(EntitlementSeats::new(registry.clone())))
        .build()
        .expect("crm");
        let mut staff = Vec::new();
        for n in 0..2 {
            let id = UserId::generate(ids.as_ref());
            crm.upsert_staff(
                &e.tenant,
                Staff::new(
                    id,
                    e.tenant,
                    format!("销售{n}"),
                    Role::Salesperson,
                    3,
                    e.clock.now(),
                ),
            )
            .await
            .expect("staff");
            staff.push(id);
        }
        e.faulty
            .script_matching(Fault::TimeoutAfterCommit, "modules.seats");
        assert!(crm
            .depart(&e.tenant, &staff[0], &IdempotencyKey::from_static("bye"))
            .await
            .is_err());
        crm.depart(&e.tenant, &staff[0], &IdempotencyKey::from_static("bye"))
            .await
            .expect("retry");
        let ents = registry.load(&e.tenant).await.expect("entitlements");
        let account = AccountId::new(staff[0].to_string()).expect("account");
        assert!(!ents.has_seat(&ModuleId::SALES_WORKBENCH, &account));
        assert_eq!(ents.seats_assigned(&ModuleId::SALES_WORKBENCH), 1);
    });
}

/// Seed 4 (step 78): a publication whose metering failed after the channel published it was
/// retried, found the channel's hourly rate used up by its own first attempt, and was recorded
/// as scheduled while it was live and metered.
#[test]
fn a_retried_publication_is_recorded_as_published() {
    run(async {
        let e = env();
        let registry = granted_registry(&e).await;
        let info = ChannelCatalogue::builtin()
            .get("news-portal")
            .expect("news-portal")
            .clone();
        let channel = Arc::new(SimulatedChannel::new(info, 5, e.clock.clone()));
        channel.add_account(
            &e.tenant,
            "official",
            AccountStatus {
                verification: Verification::Verified,
                suspended: None,
            },
        );
        let env = CoreEnv::builder(e.faulty.clone())
            .clock(e.clock.clone())
            .ids(Arc::new(SeededIds::new(4, e.clock.clone())))
            .build();
        let publisher = Publisher::builder(&env, Arc::new(ChannelCatalogue::builtin()))
            .channel(channel.clone())
            .expect("channel")
            .quota(Arc::new(ModulesQuota::new(registry.clone())))
            .build();
        let command = |n: u32| PublishCommand {
            content_id: format!("article-{n}"),
            version: 1,
            channel: "news-portal".into(),
            account: "official".into(),
            format: ContentFormat::Article,
            title: format!("行业观察 {n}"),
            body_html: "<p>正文</p>".into(),
            media: vec![],
            tags: vec![],
            publish_at: None,
        };
        publisher
            .publish(&e.tenant, command(1), &IdempotencyKey::from_static("p1"))
            .await
            .expect("first");
        e.faulty
            .script_matching(Fault::TimeoutAfterCommit, "modules.usage");
        assert!(publisher
            .publish(&e.tenant, command(2), &IdempotencyKey::from_static("p2"))
            .await
            .is_err());
        let second = publisher
            .publish(&e.tenant, command(2), &IdempotencyKey::from_static("p2"))
            .await
            .expect("retry");
        assert!(
            matches!(second.status, PublicationStatus::Published(_)),
            "{:?}",
            second.status
        );
        assert_eq!(channel.published_count(), 2);
        let used = registry
            .load(&e.tenant)
            .await
            .expect("entitlements")
            .meter()
            .balance(&UsageUnit::Publications)
            .used;
        assert_eq!(used.get(), 6, "news-portal costs 3 units a publication");
    });
}
