//! The capture gate over entitlements: no lead management, no capture; live leads within the
//! `leads_stored` quota (merges always allowed), the level metered; refusals write nothing;
//! two processes over one store cannot both take the last lead of the quota.

mod common;

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use chrono::Duration;
use common::{run, Env};
use marketingforce_core::storage::Store;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use marketingforce_core::{Classify, ErrorKind};
use marketingforce_crm::gate::EntitlementCaptureGate;
use marketingforce_crm::model::Source;
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::{Crm, CrmConfig, LeadQuery};
use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
use marketingforce_modules::entitlements::{EntitlementRegistry, Grant};

fn registry(env: &Env) -> Arc<EntitlementRegistry> {
    let clock: Arc<dyn Clock> = Arc::new(env.clock.clone());
    Arc::new(
        EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(env.store.clone())
                .clock(clock)
                .build(),
        )
        .build(),
    )
}

fn gated(env: &Env, store: Arc<dyn Store>, registry: Arc<EntitlementRegistry>) -> Crm {
    Crm::builder(
        &marketingforce_core::env::Env::builder(store)
            .keys(env.keys.clone())
            .clock(Arc::new(env.clock.clone()))
            .build(),
    )
    .capture_gate(Arc::new(EntitlementCaptureGate::new(registry)))
    .build()
    .expect("crm")
}

async fn grant(env: &Env, registry: &EntitlementRegistry, lead_management: bool, quota: u64) {
    let today = env.clock.now().date_naive();
    let mut g = Grant::new(
        env.tenant,
        today - Duration::days(1),
        today + Duration::days(365),
    )
    .module(ModuleId::PLATFORM_BUILDER)
    .quota(UsageUnit::LeadsStored, quota, QuotaPeriod::Term);
    if lead_management {
        g = g.module(ModuleId::LEAD_MANAGEMENT);
    }
    registry.grant(g).await.expect("grant");
}

fn person(i: usize) -> CaptureRequest {
    CaptureRequest::new(Source::OwnSite)
        .name(format!("客户{i}"))
        .mobile(format!("1391234{:04}", 1000 + i * 7))
}

#[test]
fn a_tenant_without_lead_management_captures_nothing() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let registry = registry(&env);
        grant(&env, &registry, false, 100).await;
        let crm = gated(&env, env.store.clone(), registry);
        let e = crm
            .capture(&env.tenant, person(0), &IdempotencyKey::from_static("c0"))
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Forbidden, "not_entitled"),
            "{e}"
        );
        assert!(crm
            .find_leads(&env.tenant, &LeadQuery::new())
            .await
            .unwrap()
            .items
            .is_empty());
        // A tenant nobody granted anything is refused the same way.
        let e = crm
            .capture(
                &TenantId::new(),
                person(1),
                &IdempotencyKey::from_static("c1"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");
    });
}

#[test]
fn live_leads_stay_within_the_quota_and_are_metered() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let registry = registry(&env);
        grant(&env, &registry, true, 3).await;
        let crm = gated(&env, env.store.clone(), registry.clone());
        let t = &env.tenant;
        for i in 0..3 {
            crm.capture(t, person(i), &IdempotencyKey::new(format!("c{i}")).unwrap())
                .await
                .unwrap();
        }
        let e = crm
            .capture(t, person(3), &IdempotencyKey::from_static("c3"))
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::LimitExceeded, "limit_exceeded"),
            "{e}"
        );
        // The same person again merges: no new lead, always allowed.
        crm.capture(t, person(1), &IdempotencyKey::from_static("c1-again"))
            .await
            .unwrap();
        // A batch that would exceed it is refused whole; nothing of it is written.
        let e = crm
            .capture_batch(
                t,
                &[person(1), person(4)],
                &IdempotencyKey::from_static("batch"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{e}");
        assert_eq!(
            crm.find_leads(t, &LeadQuery::new())
                .await
                .unwrap()
                .items
                .len(),
            3
        );
        let used = registry
            .load(t)
            .await
            .unwrap()
            .meter()
            .balance(&UsageUnit::LeadsStored)
            .used
            .get();
        assert_eq!(used, 3, "the level of live leads is metered");
        // The refused key is not burnt: after more quota is bought, the same key captures.
        grant(&env, &registry, true, 2).await;
        crm.capture(t, person(3), &IdempotencyKey::from_static("c3"))
            .await
            .unwrap();
    });
}

#[test]
fn two_processes_cannot_both_take_the_last_lead() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let registry_a = registry(&env);
        grant(&env, &registry_a, true, 5).await;
        let a = gated(&env, env.store.clone(), registry_a);
        let b = gated(&env, env.store.clone(), registry(&env));
        let t = &env.tenant;
        let mut accepted = 0;
        for i in 0..12 {
            let (crm, name) = if i % 2 == 0 { (&a, "a") } else { (&b, "b") };
            if crm
                .capture(
                    t,
                    person(i),
                    &IdempotencyKey::new(format!("{name}{i}")).unwrap(),
                )
                .await
                .is_ok()
            {
                accepted += 1;
            }
        }
        assert_eq!(accepted, 5);
        assert_eq!(
            a.find_leads(t, &LeadQuery::new())
                .await
                .unwrap()
                .items
                .len(),
            5
        );
    });
}
