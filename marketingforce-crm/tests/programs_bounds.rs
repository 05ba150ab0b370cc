//! Bad input to membership and SOPs: a typed error naming the field, never a panic.

mod common;

use chrono::Duration;
use common::{run, Env};
use marketingforce_core::money::{Currency, Money};
use marketingforce_core::time::Clock;
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::ids::{GroupId, LeadId, ProgramId, SopId, UserId};
use marketingforce_crm::membership::{Membership, MembershipProgram};
use marketingforce_crm::sop::{
    CommunitySop, GroupChat, GroupFilter, PurchaseSegment, ScheduledMessage, Sops,
};
use marketingforce_crm::CrmConfig;
use rust_decimal::Decimal;

/// Guards `Sops::start_community`: a scheduled message's `offset_hours` out of range (here
/// `i64::MAX`) is refused as a validation error naming `messages[0].offset_hours`, instead of
/// panicking in the date arithmetic.
#[test]
fn a_community_sop_offset_out_of_range_is_a_validation_error() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let sops = Sops::new(&env.core());
        let group = GroupChat {
            id: GroupId::new(),
            name: "上海经销商群".into(),
            location: "上海".into(),
            user_type: "dealer".into(),
            purchase: PurchaseSegment::Repeat,
            owner: UserId::new(),
        };
        for offset in [i64::MAX, i64::MIN, 24 * 366 * 10_000] {
            let sop = CommunitySop {
                id: SopId::new(),
                name: "新品预告".into(),
                filter: GroupFilter::default(),
                messages: vec![ScheduledMessage {
                    offset_hours: offset,
                    text: "新品发布会直播预告".into(),
                    remind_before_minutes: 30,
                }],
            };
            let e = sops
                .start_community(
                    &env.tenant,
                    &sop,
                    std::slice::from_ref(&group),
                    env.clock.now() + Duration::hours(1),
                    &IdempotencyKey::new(format!("community-{offset}")).unwrap(),
                )
                .await
                .unwrap_err();
            assert_eq!(e.field(), Some("messages[0].offset_hours"), "{e}");
        }
    });
}

/// Guards `MembershipProgram::purchase_points` (through `Membership::earn_purchase`): a
/// purchase amount whose points overflow the decimal range is refused as a validation error
/// on `amount`, instead of panicking in the multiplication.
#[test]
fn a_purchase_too_large_to_earn_points_is_a_validation_error() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let t = &env.tenant;
        let m = Membership::new(&env.core());
        let mut p = MembershipProgram::example(ProgramId::new());
        p.earn.points_per_yuan = Decimal::TWO;
        m.save_program(t, &p).await.unwrap();
        let lead = LeadId::new();
        m.enroll(t, &p.id, &lead).await.unwrap();
        let huge = Money::new(Decimal::MAX, Currency::CNY);
        assert_eq!(
            p.purchase_points(&huge).unwrap_err().field(),
            Some("amount")
        );
        let e = m
            .earn_purchase(
                t,
                &p.id,
                &lead,
                &huge,
                "o-huge",
                &IdempotencyKey::from_static("earn-huge"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("amount"), "{e}");
    });
}

/// Guards `Membership::earn_purchase`: points whose sum with the member's earned points no
/// longer fits a `u64` are refused as a validation error on `amount`, instead of panicking
/// (or, in release builds, wrapping) when the level window and balances are summed.
#[test]
fn earning_past_the_points_range_is_a_validation_error() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let t = &env.tenant;
        let m = Membership::new(&env.core());
        let p = MembershipProgram::example(ProgramId::new());
        m.save_program(t, &p).await.unwrap();
        let lead = LeadId::new();
        m.enroll(t, &p.id, &lead).await.unwrap();
        // 10^19 points each: one fits a u64, two do not.
        let big = Money::cny("10000000000000000000").unwrap();
        let earn = |order: &'static str| {
            let key = IdempotencyKey::from_static(order);
            let (m, p, big) = (&m, &p, &big);
            async move { m.earn_purchase(t, &p.id, &lead, big, order, &key).await }
        };
        assert_eq!(earn("o1").await.unwrap(), 10_000_000_000_000_000_000);
        let e = earn("o2").await.unwrap_err();
        assert_eq!(e.field(), Some("amount"), "{e}");
        let balance = m.balance(t, &p.id, &lead).await.unwrap();
        assert_eq!(balance.locked, 10_000_000_000_000_000_000);
    });
}

/// A one-step customer SOP whose call escalates `hours` after it is due.
fn escalating_after(hours: u32) -> marketingforce_crm::sop::SopTemplate {
    use marketingforce_crm::sop::{SopKind, SopStep, SopTemplate, StepAction, Trigger};
    SopTemplate {
        id: SopId::new(),
        name: "新线索跟进".into(),
        kind: SopKind::Customer,
        trigger: Trigger::Assigned,
        steps: vec![SopStep {
            title: "首次电话".into(),
            offset_hours: 2,
            action: StepAction::Call,
            remind_before_minutes: 30,
            escalate_after_hours: Some(hours),
        }],
    }
}

/// Guards `SopTemplate::validate` (through `Sops::save_template` and `Sops::start`): a step's
/// `escalate_after_hours` beyond a year (here `u32::MAX` hours, about 490,000 years) is
/// refused as a validation error naming `steps[0].escalate_after_hours`, instead of being
/// saved and then panicking in the date arithmetic when the template is started.
#[test]
fn an_sop_escalation_out_of_range_is_a_validation_error() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let sops = Sops::new(&env.core());
        let t = escalating_after(u32::MAX);
        assert_eq!(
            t.validate().unwrap_err().field(),
            Some("steps[0].escalate_after_hours")
        );
        let e = sops.save_template(&env.tenant, &t).await.unwrap_err();
        assert_eq!(e.field(), Some("steps[0].escalate_after_hours"), "{e}");
    });
}

/// Guards `MembershipProgram::validate` (through `Membership::save_program` and every points
/// command): `lock_days`, `expiry_days` and `level_window_days` beyond the supported range
/// (here `u32::MAX` days, about 11.7 million years) are refused as validation errors naming
/// the field, instead of being saved and then panicking in the date arithmetic of the first
/// earning.
#[test]
fn membership_day_counts_out_of_range_are_validation_errors() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let t = &env.tenant;
        let m = Membership::new(&env.core());
        type Set = fn(&mut MembershipProgram);
        let cases: [(&str, Set); 3] = [
            ("lock_days", |p| p.lock_days = u32::MAX),
            ("expiry_days", |p| p.expiry_days = Some(u32::MAX)),
            ("level_window_days", |p| p.level_window_days = u32::MAX),
        ];
        for (field, set) in cases {
            let mut p = MembershipProgram::example(ProgramId::new());
            set(&mut p);
            assert_eq!(p.validate().unwrap_err().field(), Some(field));
            let e = m.save_program(t, &p).await.unwrap_err();
            assert_eq!(e.field(), Some(field), "{e}");
        }
    });
}

/// Guards `ScoreState::score` (through `Crm::capture`): scoring rules whose points add up past
/// the `i64` range (two present-field rules of `i64::MAX` points each) give the configured
/// `max_score`, instead of panicking (or, in release builds, wrapping to a negative score) when
/// the points are summed.
#[test]
fn scoring_points_past_the_integer_range_saturate_at_max_score() {
    use marketingforce_crm::model::Source;
    use marketingforce_crm::profile::ScoreTrigger;
    use marketingforce_crm::request::CaptureRequest;
    use marketingforce_crm::survivorship::Field;
    run(async {
        let mut cfg = CrmConfig::default();
        for rule in &mut cfg.scoring.rules {
            if matches!(
                rule.when,
                ScoreTrigger::HasField {
                    field: Field::Mobile | Field::Company
                }
            ) {
                rule.points = i64::MAX;
            }
        }
        let env = Env::new(cfg);
        let lead = env
            .crm
            .capture(
                &env.tenant,
                CaptureRequest::new(Source::OwnSite)
                    .mobile("13800000001")
                    .company("某某机械有限公司"),
                &IdempotencyKey::from_static("score-huge"),
            )
            .await
            .unwrap()
            .lead();
        let l = env.crm.lead(&env.tenant, &lead).await.unwrap();
        assert_eq!(l.score, CrmConfig::default().scoring.max_score);
    });
}

/// Guards `Sops::start` over a template stored without validation (before `validate` bounded
/// `escalate_after_hours`, or written to the store directly): an escalation time past the
/// calendar's end is a validation error naming `steps[0].escalate_after_hours`, instead of a
/// panic in the date arithmetic; nothing is written.
#[test]
fn a_stored_sop_escalation_out_of_range_is_a_validation_error() {
    use marketingforce_core::storage::Collection;
    use marketingforce_core::time::Clock;
    use marketingforce_crm::sop::{SopTask, SopTemplate};
    run(async {
        let env = Env::new(CrmConfig::default());
        let sops = Sops::new(&env.core());
        let t = escalating_after(u32::MAX);
        Collection::<SopTemplate>::new(env.store.clone())
            .upsert(&env.tenant, &t)
            .await
            .unwrap();
        let e = sops
            .start(
                &env.tenant,
                &t.id,
                &LeadId::new(),
                &UserId::new(),
                env.clock.now(),
                &IdempotencyKey::from_static("sop-huge"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("steps[0].escalate_after_hours"), "{e}");
        let tasks = Collection::<SopTask>::new(env.store.clone())
            .list_all(&env.tenant)
            .await
            .unwrap();
        assert!(tasks.is_empty());
    });
}
