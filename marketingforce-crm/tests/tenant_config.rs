//! Per-tenant configuration: `Crm::configure` / `Crm::config_for` — tenants follow their own
//! rules, the configuration survives a restart (shared memory store and SQLite), an invalid
//! configuration is refused with its field path and changes nothing, and a tenant without its
//! own configuration uses the service default.

mod common;

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use common::{run, Env};
use marketingforce_core::storage::{Collection, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use marketingforce_crm::allocation::{AllocationRule, Strategy};
use marketingforce_crm::crypto::KeyRing;
use marketingforce_crm::ids::{LeadId, UserId};
use marketingforce_crm::lifecycle::TransitionRule;
use marketingforce_crm::model::{Actor, Source, Stage};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::staff::{Role, Staff};
use marketingforce_crm::{Allocation, Crm, CrmConfig, CrmError, TenantCrmConfig};

async fn lead(crm: &Crm, tenant: &TenantId, mobile: &str) -> LeadId {
    crm.capture(
        tenant,
        CaptureRequest::new(Source::OwnSite)
            .name("张三")
            .mobile(mobile)
            .region("上海"),
        &IdempotencyKey::new(format!("cap-{mobile}")).unwrap(),
    )
    .await
    .unwrap()
    .lead()
}

async fn salesperson(env: &Env, crm: &Crm, tenant: &TenantId, id: UserId) {
    crm.upsert_staff(
        tenant,
        Staff::new(id, *tenant, "s", Role::Salesperson, 2, env.clock.now()),
    )
    .await
    .unwrap();
}

/// Round robin over `assignees`, and `new -> converted` allowed without a reason.
fn own_config(assignees: Vec<UserId>) -> CrmConfig {
    let mut cfg = CrmConfig::default();
    cfg.allocation.rules = vec![AllocationRule::new("all", Strategy::RoundRobin, assignees)];
    cfg.allocation.sla.follow_up_within_hours = 4;
    cfg.lifecycle.transitions.push(TransitionRule {
        from: Stage::New,
        to: Stage::Converted,
        reason_required: false,
    });
    cfg
}

fn assigned_to(a: &Allocation) -> Option<UserId> {
    match a {
        Allocation::Assigned { to, .. } => Some(*to),
        _ => None,
    }
}

#[test]
fn two_tenants_on_one_service_follow_their_own_rules() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let crm = &env.crm;
        let (t1, t2) = (env.tenant, TenantId::new());
        let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
        salesperson(&env, crm, &t1, a).await;
        salesperson(&env, crm, &t1, b).await;
        salesperson(&env, crm, &t2, c).await;
        // t1's state exists before it is configured: the change applies to it at once.
        let before = lead(crm, &t1, "13800000001").await;
        let r = crm
            .allocate(&t1, &[before], &IdempotencyKey::from_static("a0"))
            .await
            .unwrap();
        assert!(matches!(r[0], Allocation::Pooled { .. }), "{r:?}");

        crm.configure(&t1, own_config(vec![a, b])).await.unwrap();
        assert_eq!(*crm.config_for(&t1).await.unwrap(), own_config(vec![a, b]));
        assert_eq!(*crm.config_for(&t2).await.unwrap(), CrmConfig::default());
        assert_eq!(
            *crm.config(),
            CrmConfig::default(),
            "the default is unchanged"
        );

        // Allocation: t1's rule assigns round robin; t2 has no rule, its lead is pooled.
        let l1 = lead(crm, &t1, "13800000011").await;
        let l2 = lead(crm, &t1, "13800000012").await;
        let r = crm
            .allocate(&t1, &[l1, l2], &IdempotencyKey::from_static("a1"))
            .await
            .unwrap();
        assert_eq!(
            r.iter().map(assigned_to).collect::<Vec<_>>(),
            vec![Some(a), Some(b)]
        );
        let m = lead(crm, &t2, "13800000011").await;
        let r = crm
            .allocate(&t2, &[m], &IdempotencyKey::from_static("a1"))
            .await
            .unwrap();
        assert!(
            matches!(&r[0], Allocation::Pooled { reason, .. } if reason.contains("no allocation rule")),
            "{r:?}"
        );

        // Lifecycle: t1 allows new -> converted; t2 (the default) does not.
        let sys = Actor::system("test");
        let n1 = lead(crm, &t1, "13800000021").await;
        crm.transition(
            &t1,
            &n1,
            Stage::Converted,
            &sys,
            None,
            &IdempotencyKey::from_static("c1"),
        )
        .await
        .unwrap();
        assert_eq!(crm.lead(&t1, &n1).await.unwrap().stage, Stage::Converted);
        let n2 = lead(crm, &t2, "13800000021").await;
        let e = crm
            .transition(
                &t2,
                &n2,
                Stage::Converted,
                &sys,
                None,
                &IdempotencyKey::from_static("c1"),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, CrmError::IllegalTransition { .. }), "{e}");
        assert_eq!(crm.lead(&t2, &n2).await.unwrap().stage, Stage::New);

        // The stored record is t1's alone.
        let coll = Collection::<TenantCrmConfig>::new(env.store.clone());
        assert!(coll.get(&t1, TenantCrmConfig::KEY).await.unwrap().is_some());
        assert!(coll.get(&t2, TenantCrmConfig::KEY).await.unwrap().is_none());
    });
}

#[test]
fn a_tenant_without_its_own_configuration_uses_the_service_default() {
    run(async {
        let mut default = CrmConfig::default();
        default.allocation.sla.follow_up_within_hours = 2;
        let env = Env::new(default.clone());
        let other = TenantId::new();
        assert_eq!(*env.crm.config_for(&env.tenant).await.unwrap(), default);
        let own = own_config(vec![UserId::new()]);
        env.crm.configure(&other, own.clone()).await.unwrap();
        assert_eq!(*env.crm.config_for(&env.tenant).await.unwrap(), default);
        assert_eq!(*env.crm.config_for(&other).await.unwrap(), own);
    });
}

#[test]
fn configure_persists_across_a_restart_on_a_shared_memory_store() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let (a, b) = (UserId::new(), UserId::new());
        salesperson(&env, crm, t, a).await;
        salesperson(&env, crm, t, b).await;
        let v1 = crm.configure(t, own_config(vec![a, b])).await.unwrap();
        let l1 = lead(crm, t, "13800000031").await;
        let r = crm
            .allocate(t, &[l1], &IdempotencyKey::from_static("a1"))
            .await
            .unwrap();
        assert_eq!(assigned_to(&r[0]), Some(a));

        // Reconfiguring with the rule under the same name keeps its round-robin cursor.
        let mut cfg = own_config(vec![a, b]);
        cfg.allocation.sla.follow_up_within_hours = 8;
        let v2 = crm.configure(t, cfg.clone()).await.unwrap();
        assert!(v2 > v1, "{v1} {v2}");
        let l2 = lead(crm, t, "13800000032").await;
        let r = crm
            .allocate(t, &[l2], &IdempotencyKey::from_static("a2"))
            .await
            .unwrap();
        assert_eq!(assigned_to(&r[0]), Some(b));

        // A new process over the same store (built with the default config) loads it.
        let crm2 = env.restart();
        assert_eq!(*crm2.config(), CrmConfig::default());
        assert_eq!(*crm2.config_for(t).await.unwrap(), cfg);
        let l3 = lead(&crm2, t, "13800000033").await;
        let r = crm2
            .allocate(t, &[l3], &IdempotencyKey::from_static("a3"))
            .await
            .unwrap();
        assert_eq!(assigned_to(&r[0]), Some(a), "the round robin continues");
    });
}

#[test]
fn an_invalid_configuration_is_refused_with_its_path_and_changes_nothing() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let a = UserId::new();
        salesperson(&env, crm, t, a).await;
        let good = own_config(vec![a]);
        let v = crm.configure(t, good.clone()).await.unwrap();

        let mut bad = good.clone();
        bad.allocation
            .rules
            .push(AllocationRule::new("empty", Strategy::RoundRobin, vec![]));
        bad.allocation.sla.follow_up_within_hours = 1;
        let e = crm.configure(t, bad).await.unwrap_err();
        assert_eq!(e.field(), Some("allocation.rules[1].assignees"), "{e}");

        let mut bad = good.clone();
        bad.lifecycle
            .transitions
            .push(bad.lifecycle.transitions[0].clone());
        let e = crm.configure(t, bad).await.unwrap_err();
        let path = format!(
            "lifecycle.transitions[{}]",
            good.lifecycle.transitions.len()
        );
        assert_eq!(e.field(), Some(path.as_str()), "{e}");

        // Nothing written, the previous configuration stays in force here and after a restart.
        assert_eq!(*crm.config_for(t).await.unwrap(), good);
        let stored = Collection::<TenantCrmConfig>::new(env.store.clone())
            .get(t, TenantCrmConfig::KEY)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((stored.version, stored.value.config), (v, good.clone()));
        assert_eq!(*env.restart().config_for(t).await.unwrap(), good);
        let l = lead(crm, t, "13800000041").await;
        let r = crm
            .allocate(t, &[l], &IdempotencyKey::from_static("a1"))
            .await
            .unwrap();
        assert_eq!(assigned_to(&r[0]), Some(a));
    });
}

#[test]
fn configure_persists_across_a_restart_on_sqlite() {
    run(async {
        use marketingforce_core::storage::SqliteStore;
        let path = std::env::temp_dir().join(format!("crm-tenant-config-{}.db", TenantId::new()));
        let tenant = TenantId::new();
        let a = UserId::new();
        let cfg = own_config(vec![a]);
        {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
            let env = Env::on(store, CrmConfig::default());
            salesperson(&env, &env.crm, &tenant, a).await;
            env.crm.configure(&tenant, cfg.clone()).await.unwrap();
        }
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let env = Env::on(store, CrmConfig::default());
        assert_eq!(*env.crm.config_for(&tenant).await.unwrap(), cfg);
        assert_eq!(
            *env.crm.config_for(&TenantId::new()).await.unwrap(),
            CrmConfig::default()
        );
        let l = lead(&env.crm, &tenant, "13800000051").await;
        let r = env
            .crm
            .allocate(&tenant, &[l], &IdempotencyKey::from_static("a1"))
            .await
            .unwrap();
        assert_eq!(assigned_to(&r[0]), Some(a));
        drop(env);
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    });
}

#[test]
fn a_tenant_cannot_write_another_tenants_configuration_record() {
    run(async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let crm = Crm::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .keys(Arc::new(KeyRing::new("k1", [7; 32])))
                .build(),
        )
        .build()
        .unwrap();
        let (t1, t2) = (TenantId::new(), TenantId::new());
        let rec = TenantCrmConfig {
            tenant: t1,
            config: CrmConfig::default(),
            updated_at: crm.clock().now(),
        };
        let e = Collection::<TenantCrmConfig>::new(store)
            .insert(&t2, &rec)
            .await
            .unwrap_err();
        assert!(
            matches!(e, marketingforce_core::Error::TenantIsolation { .. }),
            "{e}"
        );
    });
}

#[test]
fn a_dedupe_change_applies_to_later_captures_and_re_merges_nothing() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let capture = |name: &'static str, key: &'static str| async move {
            crm.capture(
                t,
                CaptureRequest::new(Source::OwnSite)
                    .name(name)
                    .mobile("13800000061"),
                &IdempotencyKey::new(key).unwrap(),
            )
            .await
            .unwrap()
            .lead()
        };
        let first = capture("张三", "c1").await;
        assert_eq!(capture("李四", "c2").await, first, "same mobile: one lead");

        let mut cfg = CrmConfig::default();
        cfg.dedupe.match_mobile = false;
        cfg.dedupe.fuzzy.enabled = false;
        crm.configure(t, cfg).await.unwrap();
        let later = capture("王五", "c3").await;
        assert_ne!(later, first, "the mobile no longer matches");
        // The lead built under the old rules is left as it was.
        assert_eq!(crm.lead(t, &first).await.unwrap().touches.len(), 2);
        assert_eq!(crm.survivor(t, &first).await.unwrap(), first);
        assert_eq!(crm.all_leads(t).await.unwrap().len(), 2);
    });
}
