//! Membership points, social fission, SOPs, the library and funnel analytics.

mod common;

use marketingforce_core::storage::PageRequest;
use marketingforce_core::IdempotencyKey;

use chrono::Duration;
use common::{run, Env};
use marketingforce_core::money::Money;
use marketingforce_core::time::{Clock, TimeZone};
use marketingforce_crm::fission::{Fission, FissionCampaign, Goal};
use marketingforce_crm::funnel::{Bucket, FunnelQuery};
use marketingforce_crm::ids::{CampaignId, GroupId, LeadId, MaterialId, ProgramId, SopId, UserId};
use marketingforce_crm::library::{ItemKind, Library, LibraryItem};
use marketingforce_crm::membership::{Account, Membership, MembershipProgram};
use marketingforce_crm::model::{Actor, Source, Stage};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::sop::{
    CommunitySop, GroupChat, GroupFilter, PurchaseSegment, ScheduledMessage, SopKind, SopStep,
    SopTemplate, Sops, StepAction, Trigger,
};
use marketingforce_crm::staff::Role;
use marketingforce_crm::{CrmConfig, CrmError};

#[test]
fn membership_points_lock_expire_redeem_and_levels() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let t = &env.tenant;
        let m = Membership::new(&env.core());
        // The whole ledger of this test is one page.
        let all = PageRequest::first(PageRequest::MAX_LIMIT);
        let p = MembershipProgram::example(ProgramId::new());
        m.save_program(t, &p).await.unwrap();
        let mut bad = p.clone();
        bad.levels[2].min_points = 10;
        assert_eq!(
            m.save_program(t, &bad).await.unwrap_err().field(),
            Some("levels[2].min_points")
        );
        let lead = LeadId::new();
        m.enroll(t, &p.id, &lead).await.unwrap();
        assert_eq!(
            m.earn_purchase(
                t,
                &p.id,
                &lead,
                &Money::cny("1180.50").unwrap(),
                "o1",
                &IdempotencyKey::from_static("e1")
            )
            .await
            .unwrap(),
            1180
        );
        assert_eq!(
            m.earn_purchase(
                t,
                &p.id,
                &lead,
                &Money::cny("1180.50").unwrap(),
                "o1",
                &IdempotencyKey::from_static("e1")
            )
            .await
            .unwrap(),
            1180
        );
        m.earn_task(
            t,
            &p.id,
            &lead,
            "attend_event",
            &IdempotencyKey::from_static("e2"),
        )
        .await
        .unwrap();
        let b = m.balance(t, &p.id, &lead).await.unwrap();
        assert_eq!((b.available, b.locked, b.level), (200, 1180, 0));
        // More than available: refused, nothing written.
        let before = m.ledger(t, &all).await.unwrap().items.len();
        let e = m
            .redeem(
                t,
                &p.id,
                &lead,
                300,
                "gift",
                &IdempotencyKey::from_static("r1"),
            )
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            CrmError::InsufficientPoints {
                requested: 300,
                available: 200,
                ..
            }
        ));
        assert_eq!(m.ledger(t, &all).await.unwrap().items.len(), before);
        assert_eq!(
            m.redeem(
                t,
                &p.id,
                &lead,
                150,
                "gift",
                &IdempotencyKey::from_static("r2")
            )
            .await
            .unwrap_err()
            .field(),
            Some("points")
        );
        // The return window passes: unlocked, and the level goes up (1,380 ≥ 1,000).
        env.clock.advance(Duration::days(8));
        let b = m
            .settle(t, &p.id, &lead, &IdempotencyKey::from_static("s1"))
            .await
            .unwrap();
        assert_eq!((b.available, b.locked, b.level), (1380, 0, 1));
        assert_eq!(m.member(t, &p.id, &lead).await.unwrap().level_name, "银卡");
        assert_eq!(
            m.redeem(
                t,
                &p.id,
                &lead,
                300,
                "gift",
                &IdempotencyKey::from_static("r3")
            )
            .await
            .unwrap(),
            1080
        );
        // A second purchase is returned inside its window: its points are reversed.
        m.earn_purchase(
            t,
            &p.id,
            &lead,
            &Money::cny("500").unwrap(),
            "o2",
            &IdempotencyKey::from_static("e3"),
        )
        .await
        .unwrap();
        assert_eq!(
            m.return_order(t, &p.id, &lead, "o2", &IdempotencyKey::from_static("ret"))
                .await
                .unwrap(),
            500
        );
        // A year later: points expire, the level drops back.
        env.clock.advance(Duration::days(366));
        let b = m
            .settle(t, &p.id, &lead, &IdempotencyKey::from_static("s2"))
            .await
            .unwrap();
        assert_eq!((b.available, b.level), (0, 0));
        // The ledger balances: every posting moves points between accounts.
        let ledger = m.ledger(t, &all).await.unwrap().items;
        let mut sums = std::collections::BTreeMap::<Account, i128>::new();
        for p in &ledger {
            *sums.entry(p.from).or_default() -= i128::from(p.points);
            *sums.entry(p.to).or_default() += i128::from(p.points);
        }
        assert_eq!(sums.values().sum::<i128>(), 0);
        assert_eq!(sums.get(&Account::Available).copied().unwrap_or(0), 0);
        // A restart rebuilds the same balances from the ledger.
        let m2 = Membership::new(&env.core());
        assert_eq!(m2.balance(t, &p.id, &lead).await.unwrap().available, 0);
    });
}

#[test]
fn fission_guards_budget_and_one_level_rewards() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let t = &env.tenant;
        let f = Fission::new(&env.core());
        let now = env.clock.now();
        let c = FissionCampaign::new(
            CampaignId::new(),
            "老带新",
            now - Duration::days(1),
            now + Duration::days(30),
            Money::cny("100").unwrap(),
            Money::cny("60").unwrap(),
            Goal {
                shares: 1,
                referrals: 1,
            },
        );
        f.save_campaign(t, &c).await.unwrap();
        let other = FissionCampaign {
            id: CampaignId::new(),
            ..c.clone()
        };
        f.save_campaign(t, &other).await.unwrap();
        let (a, b, d, e) = (LeadId::new(), LeadId::new(), LeadId::new(), LeadId::new());
        let ja = f
            .join(t, &c.id, &a, None, &IdempotencyKey::from_static("ja"))
            .await
            .unwrap();
        assert_eq!(ja.code.len(), 8);
        let jo = f
            .join(t, &other.id, &e, None, &IdempotencyKey::from_static("jo"))
            .await
            .unwrap();
        // A code of another campaign.
        let err = f
            .join(
                t,
                &c.id,
                &b,
                Some(&jo.code),
                &IdempotencyKey::from_static("jb0"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, CrmError::ReferralCodeOtherCampaign { .. }),
            "{err}"
        );
        f.share(t, &c.id, &a, &IdempotencyKey::from_static("sa"))
            .await
            .unwrap();
        let jb = f
            .join(
                t,
                &c.id,
                &b,
                Some(&ja.code),
                &IdempotencyKey::from_static("jb"),
            )
            .await
            .unwrap();
        assert_eq!(
            jb.rewarded,
            vec![a],
            "a met the goal: one share, one referral"
        );
        // Duplicate participant, self-referral and cycle.
        assert!(matches!(
            f.join(
                t,
                &c.id,
                &b,
                Some(&ja.code),
                &IdempotencyKey::from_static("jb2")
            )
            .await,
            Err(CrmError::ReferralRefused { .. })
        ));
        let jd = f
            .join(
                t,
                &c.id,
                &d,
                Some(&jb.code),
                &IdempotencyKey::from_static("jd"),
            )
            .await
            .unwrap();
        assert!(jd.rewarded.is_empty(), "b has not shared yet");
        // One level only: d's referral did not count for a.
        assert_eq!(f.participant(t, &c.id, &a).await.unwrap().referrals, 1);
        // b shares: goal met, but 60 + 60 > 100: refused by the budget.
        let sb = f
            .share(t, &c.id, &b, &IdempotencyKey::from_static("sb"))
            .await
            .unwrap();
        assert_eq!(sb.refused, vec![b]);
        assert_eq!(
            f.campaign(t, &c.id).await.unwrap().spent,
            Money::cny("60").unwrap()
        );
        f.record_purchase(
            t,
            &c.id,
            &d,
            "order-9",
            Money::cny("1180").unwrap(),
            &IdempotencyKey::from_static("p"),
        )
        .await
        .unwrap();
        assert_eq!(
            f.participant(t, &c.id, &d).await.unwrap().purchases,
            vec!["order-9".to_string()]
        );
        let tree = f.tree(t, &c.id).await.unwrap();
        assert!(tree.contains(&(d, Some(b))) && tree.contains(&(b, Some(a))));
        // Multi-level needs the explicit opt-in.
        let mut ml = c.clone();
        ml.reward_levels = 2;
        assert_eq!(
            f.save_campaign(t, &ml).await.unwrap_err().field(),
            Some("reward_levels")
        );
        ml.allow_multi_level = true;
        f.save_campaign(t, &ml).await.unwrap();
        // Saving the configuration again keeps what the rewards spent (no budget reopened).
        assert_eq!(
            f.campaign(t, &c.id).await.unwrap().spent,
            Money::cny("60").unwrap()
        );
    });
}

#[test]
fn sops_due_tasks_reminders_and_escalation() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let t = &env.tenant;
        let sops = Sops::new(&env.core());
        let sp = UserId::new();
        let manager = UserId::new();
        let tpl = SopTemplate {
            id: SopId::new(),
            name: "新线索".into(),
            kind: SopKind::Customer,
            trigger: Trigger::Assigned,
            steps: vec![
                SopStep {
                    title: "电话".into(),
                    offset_hours: 2,
                    action: StepAction::Call,
                    remind_before_minutes: 30,
                    escalate_after_hours: Some(2),
                },
                SopStep {
                    title: "拜访".into(),
                    offset_hours: 48,
                    action: StepAction::Visit,
                    remind_before_minutes: 60,
                    escalate_after_hours: None,
                },
            ],
        };
        let mut bad = tpl.clone();
        bad.steps[1].offset_hours = 1;
        assert_eq!(
            sops.save_template(t, &bad).await.unwrap_err().field(),
            Some("steps[1].offset_hours")
        );
        sops.save_template(t, &tpl).await.unwrap();
        let now = env.clock.now();
        let tasks = sops
            .start(
                t,
                &tpl.id,
                &LeadId::new(),
                &sp,
                now,
                &IdempotencyKey::from_static("sop-run"),
            )
            .await
            .unwrap();
        assert_eq!(tasks.len(), 2);
        assert!(sops
            .due_tasks(t, &sp, now + Duration::hours(1))
            .await
            .unwrap()
            .is_empty());
        env.clock.advance(Duration::minutes(100));
        assert_eq!(sops.reminders(t).await.unwrap().len(), 1);
        assert_eq!(
            sops.due_tasks(t, &sp, now + Duration::hours(3))
                .await
                .unwrap()
                .len(),
            1
        );
        env.clock.advance(Duration::hours(3));
        let esc = sops.escalate_overdue(t, |_| Some(manager)).await.unwrap();
        assert_eq!(esc.len(), 1);
        assert_eq!(esc[0].escalated_to, Some(manager));
        sops.complete(t, &tasks[1].id).await.unwrap();
        assert!(sops
            .due_tasks(t, &sp, now + Duration::days(5))
            .await
            .unwrap()
            .is_empty());
        // Community SOP: only the Shanghai dealer groups get the messages.
        let g = |loc: &str, ty: &str| GroupChat {
            id: GroupId::new(),
            name: "群".into(),
            location: loc.into(),
            user_type: ty.into(),
            purchase: PurchaseSegment::Repeat,
            owner: sp,
        };
        let groups = vec![
            g("上海", "dealer"),
            g("北京", "dealer"),
            g("上海", "end_user"),
        ];
        let csop = CommunitySop {
            id: SopId::new(),
            name: "经销商群周报".into(),
            filter: GroupFilter {
                locations: vec!["上海".into()],
                user_types: vec!["dealer".into()],
                purchase: vec![],
            },
            messages: vec![ScheduledMessage {
                offset_hours: 24,
                text: "本周新品".into(),
                remind_before_minutes: 30,
            }],
        };
        let ct = sops
            .start_community(
                t,
                &csop,
                &groups,
                env.clock.now(),
                &IdempotencyKey::from_static("community-run"),
            )
            .await
            .unwrap();
        assert_eq!(ct.len(), 1);
    });
}

#[test]
fn starting_sops_under_an_idempotency_key_runs_once() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let t = &env.tenant;
        let sops = Sops::new(&env.core());
        let sp = UserId::new();
        let tpl = SopTemplate {
            id: SopId::new(),
            name: "新线索".into(),
            kind: SopKind::Customer,
            trigger: Trigger::Assigned,
            steps: vec![SopStep {
                title: "电话".into(),
                offset_hours: 2,
                action: StepAction::Call,
                remind_before_minutes: 30,
                escalate_after_hours: None,
            }],
        };
        sops.save_template(t, &tpl).await.unwrap();
        let (lead, now) = (LeadId::new(), env.clock.now());
        let open = || sops.due_tasks(t, &sp, now + Duration::days(1));
        let first = sops
            .start(
                t,
                &tpl.id,
                &lead,
                &sp,
                now,
                &IdempotencyKey::from_static("sop-start-1"),
            )
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        // A replay returns the stored tasks and writes nothing.
        let again = sops
            .start(
                t,
                &tpl.id,
                &lead,
                &sp,
                now,
                &IdempotencyKey::from_static("sop-start-1"),
            )
            .await
            .unwrap();
        assert_eq!(again, first);
        assert_eq!(open().await.unwrap(), first);
        // The same key for a different request is a typed idempotency error.
        let err = sops
            .start(
                t,
                &tpl.id,
                &LeadId::new(),
                &sp,
                now,
                &IdempotencyKey::from_static("sop-start-1"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                CrmError::Core(marketingforce_core::Error::IdempotencyMismatch { .. })
            ),
            "{err:?}"
        );
        assert_eq!(open().await.unwrap().len(), 1);
        // A blank key cannot be made; a failed start (unknown template) claims nothing.
        assert!(IdempotencyKey::new(" ").is_err());
        assert!(sops
            .start(
                t,
                &SopId::new(),
                &lead,
                &sp,
                now,
                &IdempotencyKey::from_static("sop-start-2")
            )
            .await
            .is_err());
        sops.start(
            t,
            &tpl.id,
            &lead,
            &sp,
            now,
            &IdempotencyKey::from_static("sop-start-2"),
        )
        .await
        .unwrap();
        assert_eq!(open().await.unwrap().len(), 2);
        // Another key starts another run.
        sops.start(
            t,
            &tpl.id,
            &lead,
            &sp,
            now,
            &IdempotencyKey::from_static("sop-start-3"),
        )
        .await
        .unwrap();
        assert_eq!(open().await.unwrap().len(), 3);

        // Community SOPs.
        let group = GroupChat {
            id: GroupId::new(),
            name: "群".into(),
            location: "上海".into(),
            user_type: "dealer".into(),
            purchase: PurchaseSegment::Repeat,
            owner: sp,
        };
        let csop = CommunitySop {
            id: SopId::new(),
            name: "经销商群周报".into(),
            filter: GroupFilter::default(),
            messages: vec![ScheduledMessage {
                offset_hours: 12,
                text: "本周新品".into(),
                remind_before_minutes: 30,
            }],
        };
        let groups = vec![group];
        let c1 = sops
            .start_community(
                t,
                &csop,
                &groups,
                now,
                &IdempotencyKey::from_static("community-1"),
            )
            .await
            .unwrap();
        let c2 = sops
            .start_community(
                t,
                &csop,
                &groups,
                now,
                &IdempotencyKey::from_static("community-1"),
            )
            .await
            .unwrap();
        assert_eq!(c1, c2);
        assert_eq!(open().await.unwrap().len(), 4);
        let err = sops
            .start_community(
                t,
                &csop,
                &groups,
                now + Duration::hours(1),
                &IdempotencyKey::from_static("community-1"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                CrmError::Core(marketingforce_core::Error::IdempotencyMismatch { .. })
            ),
            "{err:?}"
        );
        assert_eq!(open().await.unwrap().len(), 4);
    });
}

#[test]
fn library_search_and_one_click_send() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let lib = Library::new(&env.core());
        let price = LibraryItem::new(
            MaterialId::new(),
            "报价",
            ItemKind::Phrase,
            "标准版价格",
            "标准版每个账号每年1180元，5个账号起售。",
        );
        let brochure = LibraryItem::new(
            MaterialId::new(),
            "产品介绍",
            ItemKind::Brochure,
            "T-100 产品手册",
            "https://example.com/t100.pdf",
        );
        lib.save(t, &price).await.unwrap();
        lib.save(t, &brochure).await.unwrap();
        assert!(lib
            .save(
                t,
                &LibraryItem::new(MaterialId::new(), "", ItemKind::Link, "x", "y")
            )
            .await
            .is_err());
        let found = lib.search(t, "标准版 账号", None).await.unwrap();
        assert_eq!(found.first().map(|i| i.id), Some(price.id));
        assert_eq!(
            lib.search(t, "手册", Some("产品介绍")).await.unwrap().len(),
            1
        );
        assert!(lib
            .search(t, "手册", Some("报价"))
            .await
            .unwrap()
            .is_empty());
        let sp = env.staff(Role::Salesperson, 2, None).await;
        let other = env.staff(Role::Salesperson, 2, None).await;
        let l = crm
            .capture(
                t,
                CaptureRequest::new(Source::OwnSite).mobile("13812345678"),
                &IdempotencyKey::from_static("c"),
            )
            .await
            .unwrap()
            .lead();
        crm.claim(t, &l, &sp, &IdempotencyKey::from_static("claim"))
            .await
            .unwrap_err(); // not in the pool, and unassigned leads are hidden
        let admin = env.staff(Role::Admin, 9, None).await;
        crm.transition(
            t,
            &l,
            Stage::Pool,
            &Actor::User(admin),
            None,
            &IdempotencyKey::from_static("pool"),
        )
        .await
        .unwrap();
        let mgr = env.staff(Role::Manager, 6, None).await;
        crm.claim(t, &l, &mgr, &IdempotencyKey::from_static("claim2"))
            .await
            .unwrap();
        assert!(matches!(
            lib.send(
                crm,
                t,
                &price.id,
                &l,
                &other,
                &IdempotencyKey::from_static("s0")
            )
            .await,
            Err(CrmError::AccessDenied { .. })
        ));
        let before = crm.lead(t, &l).await.unwrap().score;
        let s1 = IdempotencyKey::from_static("s1");
        let send = || lib.send(crm, t, &price.id, &l, &mgr, &s1);
        let sent = send().await.unwrap();
        // A retry with the same key later (its answer was lost) replays the first send: the
        // send's time is the service's, not part of the request.
        env.clock.advance(Duration::minutes(5));
        assert_eq!(send().await.unwrap(), sent);
        let after = crm.lead(t, &l).await.unwrap();
        assert_eq!(after.profile.counts.values().sum::<u32>(), 1);
        assert!(after.score >= before);
        let _ = sp;
    });
}

#[test]
fn funnel_counts_rates_sources_and_response_times() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let admin = env.staff(Role::Admin, 9, None).await;
        let who = Actor::User(admin);
        let mut leads = Vec::new();
        for (i, src) in [
            Source::OwnSite,
            Source::OwnSite,
            Source::WeCom,
            Source::Referral,
        ]
        .into_iter()
        .enumerate()
        {
            let r = CaptureRequest::new(src)
                .mobile(format!("1380000000{i}"))
                .platform("baidu");
            leads.push(
                crm.capture(t, r, &IdempotencyKey::new(format!("c{i}")).unwrap())
                    .await
                    .unwrap()
                    .lead(),
            );
        }
        for (i, l) in leads.iter().take(2).enumerate() {
            crm.transition(
                t,
                l,
                Stage::Assigned,
                &who,
                None,
                &IdempotencyKey::new(format!("as{i}")).unwrap(),
            )
            .await
            .unwrap();
        }
        env.clock.advance(Duration::minutes(30));
        crm.record_follow_up(t, &leads[0], &who, &IdempotencyKey::from_static("f0"))
            .await
            .unwrap();
        crm.transition(
            t,
            &leads[0],
            Stage::Qualified,
            &who,
            None,
            &IdempotencyKey::from_static("q"),
        )
        .await
        .unwrap();
        crm.transition(
            t,
            &leads[0],
            Stage::Converted,
            &who,
            None,
            &IdempotencyKey::from_static("cv"),
        )
        .await
        .unwrap();
        // The customer inquires again: a renewal lead.
        crm.capture(
            t,
            CaptureRequest::new(Source::TCloudInquiry).mobile("13800000000"),
            &IdempotencyKey::from_static("again"),
        )
        .await
        .unwrap();
        let r = crm
            .funnel(
                t,
                TimeZone::SHANGHAI,
                &FunnelQuery {
                    bucket: Bucket::Day,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(r.total, 4);
        let reached: Vec<u64> = r.stages.iter().take(5).map(|s| s.reached).collect();
        assert_eq!(reached, vec![4, 2, 1, 1, 1]);
        assert_eq!(r.stages[1].from_previous.unwrap().to_string(), "50%");
        assert_eq!(r.by_source[&Source::OwnSite].converted, 1);
        assert_eq!(r.by_source[&Source::OwnSite].conversion.to_string(), "50%");
        assert_eq!(r.by_domain.len(), 2);
        assert_eq!(r.by_platform["baidu"].leads, 4);
        assert_eq!(r.response.followed_up, 1);
        assert_eq!(r.response.median_minutes, 30);
        assert_eq!((r.referral_leads, r.renewal_leads), (1, 1));
        assert_eq!(r.trend.len(), 1);
    });
}
