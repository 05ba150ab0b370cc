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
