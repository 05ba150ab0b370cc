//! Lifecycle, allocation (rules, strategies, SLA, departure, recycle), access control and
//! masking, PIPL erasure and export, seats.

mod common;

use marketingforce_core::storage::PageRequest;
use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use chrono::Duration;
use common::{run, Env};
use marketingforce_core::time::Clock;
use marketingforce_crm::allocation::{AllocationRule, Breach, Strategy};
use marketingforce_crm::ids::{LeadId, TeamId, UserId};
use marketingforce_crm::lifecycle::LeadEventKind;
use marketingforce_crm::model::{Actor, Source, Stage};
use marketingforce_crm::profile::{BehaviourEvent, BehaviourKind};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::seats::FixedSeats;
use marketingforce_crm::staff::{Role, Staff};
use marketingforce_crm::{AccessOutcome, Allocation, Crm, CrmConfig, CrmError};

async fn lead(env: &Env, mobile: &str, region: &str) -> LeadId {
    env.crm
        .capture(
            &env.tenant,
            CaptureRequest::new(Source::OwnSite)
                .name("张三")
                .mobile(mobile)
                .email(format!("u{mobile}@example.com"))
                .company("某某机械有限公司")
                .region(region)
                .product("T-100"),
            &IdempotencyKey::new(format!("cap-{mobile}")).unwrap(),
        )
        .await
        .unwrap()
        .lead()
}

#[test]
fn transitions_follow_the_configuration_and_are_journaled() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let l = lead(&env, "13800000001", "上海").await;
        let sys = Actor::system("test");
        let e = crm
            .transition(
                t,
                &l,
                Stage::Converted,
                &sys,
                None,
                &IdempotencyKey::from_static("t1"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CrmError::IllegalTransition { allowed, .. } if allowed == "assigned, invalid, pool"),
            "{e}"
        );
        let e = crm
            .transition(
                t,
                &l,
                Stage::Invalid,
                &sys,
                None,
                &IdempotencyKey::from_static("t2"),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, CrmError::ReasonRequired { .. }));
        crm.transition(
            t,
            &l,
            Stage::Invalid,
            &sys,
            Some("空号"),
            &IdempotencyKey::from_static("t3"),
        )
        .await
        .unwrap();
        crm.transition(
            t,
            &l,
            Stage::Invalid,
            &sys,
            Some("空号"),
            &IdempotencyKey::from_static("t3"),
        )
        .await
        .unwrap(); // replay
        let h = crm.history(t, &l).await.unwrap();
        assert!(matches!(
            &h.last().unwrap().event,
            LeadEventKind::Transition { from: Stage::New, to: Stage::Invalid, reason: Some(r) } if r == "空号"
        ));
        assert_eq!(h.len(), 2);
        // A bad configuration names its path.
        let mut cfg = CrmConfig::default();
        cfg.lifecycle.transitions[3].to = cfg.lifecycle.transitions[3].from;
        let e = Crm::builder(
            &marketingforce_core::env::Env::builder(env.store.clone())
                .keys(env.keys.clone())
                .build(),
        )
        .config(cfg)
        .build()
        .unwrap_err();
        assert_eq!(e.field(), Some("lifecycle.transitions[3].to"));
    });
}

#[test]
fn scoring_thresholds_qualify_hot_prospects() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let l = lead(&env, "13800000002", "上海").await;
        let ev = |kind| BehaviourEvent {
            lead: l,
            kind,
            at: env.clock.now(),
            topic: Some("T-100".into()),
            content: None,
        };
        for (i, k) in [
            BehaviourKind::FormSubmit,
            BehaviourKind::FormSubmit,
            BehaviourKind::MessageReply,
        ]
        .into_iter()
        .enumerate()
        {
            crm.record_behaviour(t, ev(k), &IdempotencyKey::new(format!("ev{i}")).unwrap())
                .await
                .unwrap();
        }
        let x = crm.lead(t, &l).await.unwrap();
        // Not assigned yet: new -> qualified is not allowed, so the stage stays.
        assert_eq!(x.stage, Stage::New);
        assert!(x.tags.contains("hot"), "{:?} {}", x.tags, x.score);
        let sp = env.staff(Role::Salesperson, 2, None).await;
        let mut cfg = CrmConfig::default();
        cfg.allocation.rules = vec![AllocationRule::new("all", Strategy::RoundRobin, vec![sp])];
        let env2 = Env::on(env.store.clone(), cfg);
        let crm2 = &env2.crm;
        crm2.allocate(t, &[l], &IdempotencyKey::from_static("alloc"))
            .await
            .unwrap();
        crm2.record_behaviour(
            t,
            ev(BehaviourKind::Share),
            &IdempotencyKey::from_static("ev9"),
        )
        .await
        .unwrap();
        assert_eq!(crm2.lead(t, &l).await.unwrap().stage, Stage::Qualified);
    });
}

fn alloc_config(rules: Vec<AllocationRule>) -> CrmConfig {
    let mut cfg = CrmConfig::default();
    cfg.allocation.rules = rules;
    cfg
}

#[test]
fn allocation_by_region_with_pool_fallback_and_round_robin_across_restarts() {
    run(async {
        let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
        let rules = vec![
            AllocationRule::new("shanghai", Strategy::RoundRobin, vec![a, b]).regions(["上海"]),
            AllocationRule::new("beijing", Strategy::LeastLoaded, vec![c]).regions(["北京"]),
        ];
        let env = Env::new(alloc_config(rules));
        let (crm, t) = (&env.crm, &env.tenant);
        for id in [a, b, c] {
            let mut s = Staff::new(id, *t, "s", Role::Salesperson, 2, env.clock.now());
            s.capacity = Some(1);
            crm.upsert_staff(t, s).await.unwrap();
        }
        let l1 = lead(&env, "13800000011", "上海").await;
        let l2 = lead(&env, "13800000012", "广州").await;
        let r = crm
            .allocate(t, &[l1, l2], &IdempotencyKey::from_static("a1"))
            .await
            .unwrap();
        assert!(
            matches!(&r[0], Allocation::Assigned { to, rule, .. } if *to == a && rule == "shanghai")
        );
        assert!(
            matches!(&r[1], Allocation::Pooled { reason, .. } if reason.contains("no allocation rule"))
        );
        assert_eq!(crm.lead(t, &l2).await.unwrap().stage, Stage::Pool);
        // A restart continues the round robin with b.
        let crm2 = env.restart();
        let l3 = lead(&env, "13800000013", "上海").await;
        let r = crm2
            .allocate(t, &[l3], &IdempotencyKey::from_static("a2"))
            .await
            .unwrap();
        assert!(
            matches!(&r[0], Allocation::Assigned { to, .. } if *to == b),
            "{r:?}"
        );
        // Capacity 1 each: a third Shanghai lead has nowhere to go.
        let l4 = lead(&env, "13800000014", "上海").await;
        let r = crm2
            .allocate(t, &[l4], &IdempotencyKey::from_static("a3"))
            .await
            .unwrap();
        assert!(
            matches!(&r[0], Allocation::Pooled { reason, .. } if reason.contains("shanghai")),
            "{r:?}"
        );
        let h = crm2.history(t, &l1).await.unwrap();
        assert!(h.iter().any(
            |e| matches!(&e.event, LeadEventKind::Assigned { rule: Some(r), .. } if r == "shanghai")
        ));
    });
}

/// A capacity counts each lead once: within one allocation, and in the next command of the
/// same process (before, the allocator counted an assignment and the lead's new owner both).
#[test]
fn a_capacity_holds_as_many_leads_as_it_says() {
    run(async {
        let a = UserId::new();
        let rules = vec![AllocationRule::new("all", Strategy::LeastLoaded, vec![a])];
        let env = Env::new(alloc_config(rules));
        let (crm, t) = (&env.crm, &env.tenant);
        let mut s = Staff::new(a, *t, "s", Role::Salesperson, 2, env.clock.now());
        s.capacity = Some(3);
        crm.upsert_staff(t, s).await.unwrap();
        let mut leads = Vec::new();
        for i in 0..4 {
            leads.push(lead(&env, &format!("1380000002{i}"), "上海").await);
        }
        let assigned = |r: &[Allocation]| {
            r.iter()
                .filter(|x| matches!(x, Allocation::Assigned { to, .. } if *to == a))
                .count()
        };
        let r = crm
            .allocate(t, &leads[..2], &IdempotencyKey::from_static("a1"))
            .await
            .unwrap();
        assert_eq!(assigned(&r), 2, "{r:?}");
        let r = crm
            .allocate(t, &leads[2..], &IdempotencyKey::from_static("a2"))
            .await
            .unwrap();
        assert_eq!(assigned(&r), 1, "{r:?}");
        assert!(matches!(&r[1], Allocation::Pooled { .. }), "{r:?}");
    });
}

#[test]
fn sla_escalates_then_reassigns_and_departure_loses_nothing() {
    run(async {
        let team = TeamId::new();
        let (a, b) = (UserId::new(), UserId::new());
        let mut cfg = alloc_config(vec![AllocationRule::new(
            "all",
            Strategy::RoundRobin,
            vec![a, b],
        )]);
        cfg.allocation.sla.on_breach = Breach::Reassign;
        let env = Env::new(cfg);
        let (crm, t) = (&env.crm, &env.tenant);
        for id in [a, b] {
            crm.upsert_staff(
                t,
                Staff::new(id, *t, "s", Role::Salesperson, 2, env.clock.now()).in_team(team),
            )
            .await
            .unwrap();
        }
        let manager = env.staff(Role::Manager, 6, Some(team)).await;
        let leads: Vec<LeadId> = futures_lite(&env).await;
        crm.allocate(t, &leads, &IdempotencyKey::from_static("al"))
            .await
            .unwrap();
        env.clock.advance(Duration::hours(25));
        let rep = crm
            .sweep(t, &IdempotencyKey::from_static("s1"))
            .await
            .unwrap();
        assert_eq!(rep.escalated.len(), 4);
        let h = crm.history(t, &leads[0]).await.unwrap();
        assert!(h
            .iter()
            .any(|e| matches!(e.event, LeadEventKind::Escalated { to: Some(m) } if m == manager)));
        // a follows up one lead in time; the rest are reassigned after the grace period.
        let owner0 = crm.lead(t, &leads[0]).await.unwrap().owner.unwrap();
        crm.record_follow_up(
            t,
            &leads[0],
            &Actor::User(owner0),
            &IdempotencyKey::from_static("f"),
        )
        .await
        .unwrap();
        env.clock.advance(Duration::hours(25));
        let rep = crm
            .sweep(t, &IdempotencyKey::from_static("s2"))
            .await
            .unwrap();
        assert_eq!(rep.reassigned.len(), 3);
        for r in &rep.reassigned {
            if let Allocation::Assigned { lead, to, .. } = r {
                assert_ne!(Some(*to), None);
                let h = crm.history(t, lead).await.unwrap();
                assert!(h.iter().any(|e| matches!(&e.event, LeadEventKind::Assigned { reason, .. } if reason == "sla")));
            }
        }
        // b leaves: every open lead of b goes to a, none is lost.
        let before: Vec<_> = crm.all_leads(t).await.unwrap();
        let moved = crm
            .depart(t, &b, &IdempotencyKey::from_static("bye"))
            .await
            .unwrap();
        let after: Vec<_> = crm.all_leads(t).await.unwrap();
        assert_eq!(before.len(), after.len());
        assert!(after.iter().all(|l| l.owner != Some(b)));
        assert!(moved
            .iter()
            .all(|m| matches!(m, Allocation::Assigned { to, .. } if *to == a)));
        // Recycle: after 6 months without conversion, back to the pool.
        env.clock.advance(Duration::days(181));
        let rep = crm
            .sweep(t, &IdempotencyKey::from_static("s3"))
            .await
            .unwrap();
        assert_eq!(rep.pooled.len(), 4);
        assert!(crm
            .all_leads(t)
            .await
            .unwrap()
            .iter()
            .all(|l| l.stage == Stage::Pool && l.owner.is_none()));
    });
}

async fn futures_lite(env: &Env) -> Vec<LeadId> {
    let mut v = Vec::new();
    for i in 0..4 {
        v.push(lead(env, &format!("1380000010{i}"), "上海").await);
    }
    v
}

#[test]
fn visibility_masking_and_access_log() {
    run(async {
        let team = TeamId::new();
        let sp = UserId::new();
        let env = Env::new(alloc_config(vec![AllocationRule::new(
            "all",
            Strategy::RoundRobin,
            vec![sp],
        )]));
        let (crm, t) = (&env.crm, &env.tenant);
        crm.upsert_staff(
            t,
            Staff::new(sp, *t, "销售甲", Role::Salesperson, 2, env.clock.now()).in_team(team),
        )
        .await
        .unwrap();
        let other = env.staff(Role::Salesperson, 2, Some(TeamId::new())).await;
        let manager = env.staff(Role::Manager, 6, Some(team)).await;
        let auditor = env.staff(Role::Auditor, 9, None).await;
        let l = lead(&env, "13812341234", "上海").await;
        // Unassigned: salespeople cannot see it at all.
        let e = crm.view_lead(t, &sp, &l, None).await.unwrap_err();
        assert!(matches!(e, CrmError::AccessDenied { .. }));
        crm.allocate(t, &[l], &IdempotencyKey::from_static("a"))
            .await
            .unwrap();
        let masked = crm.view_lead(t, &sp, &l, None).await.unwrap();
        assert_eq!(masked.mobile.as_deref(), Some("138****1234"));
        assert_eq!(masked.email.as_deref(), Some("u***@example.com"));
        assert_eq!(masked.name.as_deref(), Some("张*"));
        assert!(masked.unmasked.is_empty());
        let open = crm.view_lead(t, &sp, &l, Some("回访")).await.unwrap();
        assert_eq!(open.mobile.as_deref(), Some("13812341234"));
        assert_eq!(open.email.as_deref(), Some("u13812341234@example.com"));
        assert_eq!(open.company.as_deref(), Some("某某机械有限公司"));
        // Another salesperson is denied, and that is logged.
        assert!(crm.view_lead(t, &other, &l, Some("好奇")).await.is_err());
        // The manager of the team sees it, masked at level 6 only for fields above.
        let m = crm.view_lead(t, &manager, &l, Some("质检")).await.unwrap();
        assert_eq!(m.mobile.as_deref(), Some("13812341234"));
        let a = crm.view_lead(t, &auditor, &l, Some("audit")).await;
        assert!(a.is_err(), "auditors see no leads outside the pool rules");
        let log = crm
            .access_log(t, &PageRequest::first(100))
            .await
            .unwrap()
            .items;
        let outcomes: Vec<_> = log
            .iter()
            .map(|e| (e.actor.clone(), e.outcome.clone()))
            .collect();
        assert!(matches!(outcomes[0], (Actor::User(u), AccessOutcome::Denied { .. }) if u == sp));
        assert!(
            matches!(&outcomes[1], (Actor::User(u), AccessOutcome::Unmasked { fields }) if *u == sp && !fields.is_empty())
        );
        assert!(
            matches!(outcomes[2], (Actor::User(u), AccessOutcome::Denied { .. }) if u == other)
        );
        assert_eq!(log[1].purpose.as_deref(), Some("回访"));
        let text = serde_json::to_string(&log.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>())
            .unwrap();
        assert!(!text.contains("13812341234"));
    });
}

/// Guards `Crm::upsert_staff`: a staff member whose record the store refused (nothing was
/// written) does not keep the seat it was given for it, so the seat is still free for the next
/// member. A commit whose outcome is unknown keeps it (the member may be stored).
#[test]
fn a_staff_member_the_store_refused_holds_no_seat() {
    use marketingforce_core::storage::{Fault, FaultPlan, FaultyStore, MemoryStore, Store};
    run(async {
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let faulty = Arc::new(FaultyStore::new(memory, FaultPlan::new(1)));
        let env = Env::on(faulty.clone(), CrmConfig::default());
        let crm = Crm::builder(
            &marketingforce_core::env::Env::builder(faulty.clone())
                .keys(env.keys.clone())
                .build(),
        )
        .seats(Arc::new(FixedSeats::new(2)))
        .build()
        .unwrap();
        let t = &env.tenant;
        let staff = |name: &str| {
            Staff::new(
                UserId::new(),
                *t,
                name,
                Role::Salesperson,
                1,
                env.clock.now(),
            )
        };
        // Refused: nothing stored, so no seat kept.
        let refused = staff("a");
        faulty.script_matching(Fault::ErrorBeforeCommit, "crm.staff");
        assert!(crm.upsert_staff(t, refused.clone()).await.is_err());
        assert!(matches!(
            crm.staff(t, &refused.id).await,
            Err(CrmError::UnknownStaff(_))
        ));
        // Answer lost: stored after all, so its seat stays taken.
        let lost = staff("b");
        faulty.script_matching(Fault::ErrorAfterCommit, "crm.staff");
        assert!(crm.upsert_staff(t, lost.clone()).await.is_err());
        assert!(crm.staff(t, &lost.id).await.unwrap().active);
        // One seat left, for the next member.
        let c = staff("c");
        crm.upsert_staff(t, c.clone()).await.unwrap();
        assert!(crm.staff(t, &c.id).await.unwrap().active);
        let e = crm.upsert_staff(t, staff("d")).await.unwrap_err();
        assert!(matches!(e, CrmError::SeatLimitReached { .. }), "{e}");
    });
}

#[test]
fn seats_limit_staff_accounts() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let crm = Crm::builder(
            &marketingforce_core::env::Env::builder(env.store.clone())
                .keys(env.keys.clone())
                .build(),
        )
        .seats(Arc::new(FixedSeats::new(1)))
        .build()
        .unwrap();
        let t = &env.tenant;
        crm.upsert_staff(
            t,
            Staff::new(
                UserId::new(),
                *t,
                "a",
                Role::Salesperson,
                1,
                env.clock.now(),
            ),
        )
        .await
        .unwrap();
        let e = crm
            .upsert_staff(
                t,
                Staff::new(
                    UserId::new(),
                    *t,
                    "b",
                    Role::Salesperson,
                    1,
                    env.clock.now(),
                ),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, CrmError::SeatLimitReached { .. }));
        let e = crm
            .upsert_staff(
                t,
                Staff::new(
                    UserId::new(),
                    *t,
                    "c",
                    Role::Salesperson,
                    12,
                    env.clock.now(),
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("level"));
    });
}

#[test]
fn pipl_export_and_erasure() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let admin = env.staff(Role::Admin, 9, None).await;
        let sp = env.staff(Role::Salesperson, 2, None).await;
        let l = lead(&env, "13955556666", "上海").await;
        crm.capture(
            t,
            CaptureRequest::new(Source::WeCom)
                .mobile("13955556666")
                .wecom_id("wmERASEME"),
            &IdempotencyKey::from_static("x"),
        )
        .await
        .unwrap();
        let e = crm
            .export_contact(t, &l, &Actor::User(sp))
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("actor"));
        let export = crm
            .export_contact(t, &l, &Actor::User(admin))
            .await
            .unwrap();
        assert_eq!(export.identity.mobile.as_deref(), Some("13955556666"));
        assert_eq!(export.captures.len(), 2);
        let before = crm
            .funnel(t, Default::default(), &Default::default())
            .await
            .unwrap();
        let erased = crm
            .erase_contact(
                t,
                &l,
                &Actor::User(admin),
                &IdempotencyKey::from_static("erase-1"),
            )
            .await
            .unwrap();
        assert_eq!(erased, l);
        assert!(crm
            .find_by_mobile(t, "13955556666")
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            crm.view_lead(t, &admin, &l, Some("x")).await,
            Err(CrmError::LeadErased(_))
        ));
        let after = crm
            .funnel(t, Default::default(), &Default::default())
            .await
            .unwrap();
        assert_eq!(before.total, after.total, "aggregates unchanged");
        // A new capture of the same mobile is a new lead: nothing remembered it.
        let again = crm
            .capture(
                t,
                CaptureRequest::new(Source::OwnSite).mobile("13955556666"),
                &IdempotencyKey::from_static("y"),
            )
            .await
            .unwrap();
        assert_ne!(again.lead(), l);
        // And after a restart too.
        let crm2 = env.restart();
        assert_eq!(
            crm2.find_by_mobile(t, "13955556666").await.unwrap(),
            vec![again.lead()]
        );
    });
}

#[test]
fn seats_come_from_module_entitlements() {
    use marketingforce_crm::seats::EntitlementSeats;
    use marketingforce_modules::catalog::ModuleId;
    use marketingforce_modules::entitlements::{EntitlementRegistry, Grant};
    run(async {
        let env = Env::new(CrmConfig::default());
        let t = &env.tenant;
        let clock: Arc<dyn Clock> = Arc::new(env.clock.clone());
        let registry = Arc::new(
            EntitlementRegistry::builder(
                &marketingforce_core::env::Env::builder(env.store.clone())
                    .clock(clock.clone())
                    .build(),
            )
            .build(),
        );
        let today = env.clock.now().date_naive();
        registry
            .grant(
                Grant::new(*t, today - Duration::days(1), today + Duration::days(365))
                    .seats(ModuleId::SALES_WORKBENCH, 2),
            )
            .await
            .unwrap();
        let crm = Crm::builder(
            &marketingforce_core::env::Env::builder(env.store.clone())
                .keys(env.keys.clone())
                .clock(clock)
                .build(),
        )
        .seats(Arc::new(EntitlementSeats::new(registry.clone())))
        .build()
        .unwrap();
        let staff: Vec<UserId> = (0..3).map(|_| UserId::new()).collect();
        for s in &staff[..2] {
            crm.upsert_staff(
                t,
                Staff::new(*s, *t, "s", Role::Salesperson, 1, env.clock.now()),
            )
            .await
            .unwrap();
        }
        let e = crm
            .upsert_staff(
                t,
                Staff::new(staff[2], *t, "s", Role::Salesperson, 1, env.clock.now()),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, CrmError::SeatLimitReached { .. }), "{e}");
        // A departure frees the seat.
        crm.depart(t, &staff[0], &IdempotencyKey::from_static("leave"))
            .await
            .unwrap();
        crm.upsert_staff(
            t,
            Staff::new(staff[2], *t, "s", Role::Salesperson, 1, env.clock.now()),
        )
        .await
        .unwrap();
        assert_eq!(
            registry
                .load(t)
                .await
                .unwrap()
                .seats_assigned(&ModuleId::SALES_WORKBENCH),
            2
        );
    });
}

/// A process that starts after the erasure of a lead others were merged into, and of one kept
/// apart from another by an un-merge, rebuilds its state and serves the tenant (it failed every
/// command: the erased leads have no vault, and their merges and separations named leads the
/// rebuilt engine did not know).
#[test]
fn a_restart_after_erasing_merged_and_separated_leads_serves_the_tenant() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let admin = Actor::User(env.staff(Role::Admin, 9, None).await);
        let key = |k: &str| IdempotencyKey::new(k).unwrap();
        let a = lead(&env, "13955550001", "上海").await;
        let b = lead(&env, "13955550002", "上海").await;
        let c = lead(&env, "13955550003", "上海").await;
        let d = lead(&env, "13955550004", "上海").await;
        crm.merge(t, a, b, &admin, &key("m1")).await.unwrap();
        crm.erase_contact(t, &a, &admin, &key("e1")).await.unwrap();
        crm.merge(t, c, d, &admin, &key("m2")).await.unwrap();
        crm.unmerge(t, d, &admin, &key("u")).await.unwrap();
        crm.erase_contact(t, &d, &admin, &key("e2")).await.unwrap();
        let restarted = env.restart();
        for (l, survivor) in [(a, None), (b, None), (c, Some(c)), (d, None)] {
            let found = restarted.survivor(t, &l).await.ok();
            assert_eq!(found, survivor, "{l}");
        }
        // The erased people come back as new leads; the one kept is found again.
        let again = |m: &str, k: &str| {
            let request = CaptureRequest::new(Source::OwnSite).mobile(m);
            let restarted = &restarted;
            let k = key(k);
            async move { restarted.capture(t, request, &k).await.unwrap().lead() }
        };
        assert!(![a, b].contains(&again("13955550002", "c1").await));
        assert_eq!(again("13955550003", "c2").await, c);
        assert_ne!(again("13955550004", "c3").await, d);
        assert_eq!(restarted.state_refreshes().rebuilt, 1);
    });
}

/// A PIPL export holds the history and behaviour of every lead merged into the exported one,
/// also those merged into it through another merged lead (its `merged_from` names only the
/// leads merged directly).
#[test]
fn an_export_covers_the_whole_merge_lineage() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let admin = Actor::User(env.staff(Role::Admin, 9, None).await);
        let key = |k: &str| IdempotencyKey::new(k).unwrap();
        let a = lead(&env, "13955560001", "上海").await;
        let b = lead(&env, "13955560002", "上海").await;
        let c = lead(&env, "13955560003", "上海").await;
        for (i, l) in [a, b, c].into_iter().enumerate() {
            let event = BehaviourEvent {
                lead: l,
                kind: BehaviourKind::View,
                at: env.clock.now(),
                topic: Some(format!("topic-{i}")),
                content: None,
            };
            crm.record_behaviour(t, event, &key(&format!("ev{i}")))
                .await
                .unwrap();
        }
        // c into b, then b into a: a's record names b only.
        crm.merge(t, b, c, &admin, &key("m1")).await.unwrap();
        crm.merge(t, a, b, &admin, &key("m2")).await.unwrap();
        assert_eq!(crm.lead(t, &a).await.unwrap().merged_from, vec![b]);
        let export = crm.export_contact(t, &a, &admin).await.unwrap();
        let topics: Vec<_> = export
            .behaviour
            .iter()
            .filter_map(|e| e.topic.clone())
            .collect();
        assert_eq!(topics, ["topic-0", "topic-1", "topic-2"]);
        for l in [a, b, c] {
            assert!(
                export
                    .history
                    .iter()
                    .any(|e| e.lead == l && matches!(e.event, LeadEventKind::Captured { .. })),
                "the capture of {l} is in the export"
            );
        }
        assert!(export.history.windows(2).all(|w| w[0].at <= w[1].at));
        assert_eq!(export.captures.len(), 3);
    });
}
