//! Optimisation and monitoring: the bandit learns the better channel (seeded, deterministic),
//! EWMA alerts fire on real changes only, remarketing audiences, inquiries to the CRM once.

use marketingforce_core::env::Env;
use marketingforce_core::IdempotencyKey;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use marketingforce_content::distribution::{
    ChannelCatalogue, PublishCommand, Publisher, SimulatedChannel,
};
use marketingforce_content::optimise::{
    build_audiences, frequency, Arm, AudienceRule, ChannelBandit, Direction, EwmaConfig,
    EwmaDetector, InquiryForwarder, MemoryLeadSink, MetricMonitor, VisitorAction, VisitorEvent,
};
use marketingforce_content::rng::SeededRng;
use marketingforce_core::adapters::channel::{AccountStatus, ContentFormat, Verification};
use marketingforce_core::id::SeededIds;
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use proptest::prelude::*;

fn arms() -> Vec<Arm> {
    ["portal", "directory", "social"]
        .iter()
        .map(|c| Arm {
            channel: (*c).into(),
            prior_mean: 0.5,
            cost_units: 1,
            max_per_period: 50,
        })
        .collect()
}

fn simulate(seed: u64) -> (BTreeMap<String, u32>, BTreeMap<String, f64>) {
    let truth: BTreeMap<&str, f64> = [("portal", 0.2), ("directory", 1.2), ("social", 0.4)]
        .into_iter()
        .collect();
    let mut bandit = ChannelBandit::new(arms(), 5.0, seed).unwrap();
    let mut world = SeededRng::new(seed ^ 99);
    let mut last = BTreeMap::new();
    for _ in 0..15 {
        last = bandit.allocate(30);
        for (ch, n) in &last {
            let inquiries: u64 = (0..*n).map(|_| world.poisson(truth[ch.as_str()])).sum();
            bandit.observe(ch, u64::from(*n), inquiries).unwrap();
        }
    }
    (last, bandit.means())
}

#[test]
fn thompson_sampling_moves_the_mix_to_the_better_channel_deterministically() {
    let (plan, means) = simulate(7);
    assert!(plan["directory"] >= 20, "{plan:?}");
    assert!((means["directory"] - 1.2).abs() < 0.2, "{means:?}");
    assert_eq!(simulate(7), simulate(7));
    assert!(ChannelBandit::new(vec![], 1.0, 1).is_err());
    let mut b = ChannelBandit::new(arms(), 5.0, 1).unwrap();
    assert!(b.observe("nope", 1, 1).is_err());
    assert_eq!(frequency(10, 7), vec![2, 2, 2, 1, 1, 1, 1]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn allocations_fill_the_budget_within_channel_limits(budget in 0u32..200, caps in prop::collection::vec(0u32..60, 1..5), seed in any::<u64>()) {
        let arms: Vec<Arm> = caps.iter().enumerate().map(|(i, c)| Arm { channel: format!("c{i}"), prior_mean: 0.1 + i as f64, cost_units: 1 + i as u64, max_per_period: *c }).collect();
        let mut a = ChannelBandit::new(arms.clone(), 3.0, seed).unwrap();
        let mut b = ChannelBandit::new(arms.clone(), 3.0, seed).unwrap();
        let plan = a.allocate(budget);
        prop_assert_eq!(&plan, &b.allocate(budget));
        let cap: u32 = caps.iter().sum();
        prop_assert_eq!(plan.values().sum::<u32>(), budget.min(cap));
        for (i, arm) in arms.iter().enumerate() {
            prop_assert!(plan[&arm.channel] <= caps[i]);
        }
    }

    /// A series that only wobbles within its noise never alerts.
    #[test]
    fn stable_series_do_not_alert(base in 50.0f64..5000.0, noise in prop::collection::vec(-0.05f64..0.05, 30..90)) {
        let mut d = EwmaDetector::new(EwmaConfig::default());
        let day0 = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        for (i, n) in noise.iter().enumerate() {
            let alert = d.update("views", day0 + Duration::days(i as i64), base * (1.0 + n));
            prop_assert!(alert.is_none(), "{:?}", alert);
        }
    }
}

#[test]
fn ewma_alerts_on_drops_and_spikes_after_warmup() {
    let day0 = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let mut rng = SeededRng::new(3);
    let mut m = MetricMonitor::new(EwmaConfig::default());
    let mut history = Vec::new();
    for i in 0..40 {
        let views = if i == 30 {
            300.0
        } else if i == 35 {
            2600.0
        } else {
            1000.0 + 40.0 * rng.normal()
        };
        history.push((
            day0 + Duration::days(i),
            BTreeMap::from([("views".to_string(), views)]),
        ));
    }
    let alerts = m.replay(&history);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(
        (alerts[0].date, alerts[0].direction),
        (day0 + Duration::days(30), Direction::Down)
    );
    assert_eq!(
        (alerts[1].date, alerts[1].direction),
        (day0 + Duration::days(35), Direction::Up)
    );
    assert!(alerts[0].band.0 > 300.0 && alerts[0].expected > 900.0);
    // No alert during the warm-up, however odd the first days are.
    let mut d = EwmaDetector::new(EwmaConfig::default());
    assert!([10.0, 500.0, 20.0, 900.0]
        .iter()
        .enumerate()
        .all(|(i, v)| d.update("x", day0 + Duration::days(i as i64), *v).is_none()));
}

#[test]
fn remarketing_audiences_follow_the_rules() {
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
    let ev = |v: &str, days: i64, action| VisitorEvent {
        visitor_id: v.into(),
        channel: "social-feed".into(),
        content_id: "a".into(),
        action,
        at: now - Duration::days(days),
    };
    let events = vec![
        ev("reader", 2, VisitorAction::View { dwell_secs: 20 }),
        ev("reader", 1, VisitorAction::View { dwell_secs: 20 }),
        ev("hot", 1, VisitorAction::View { dwell_secs: 10 }),
        ev("hot", 1, VisitorAction::View { dwell_secs: 10 }),
        ev("hot", 1, VisitorAction::View { dwell_secs: 10 }),
        ev("hot", 1, VisitorAction::Click),
        ev("lead", 1, VisitorAction::View { dwell_secs: 300 }),
        ev("lead", 1, VisitorAction::Inquiry),
        ev("old", 60, VisitorAction::View { dwell_secs: 600 }),
        ev("glance", 1, VisitorAction::View { dwell_secs: 3 }),
    ];
    let a = build_audiences(&events, &AudienceRule::defaults(), now);
    assert_eq!(
        a["interested"]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["hot", "reader"]
    );
    assert_eq!(
        a["hot"].iter().map(String::as_str).collect::<Vec<_>>(),
        ["hot"]
    );
}

#[tokio::test]
async fn inquiries_reach_the_crm_once_attributed_to_their_content() {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let info = ChannelCatalogue::builtin().get("wecom").unwrap().clone();
    let channel = SimulatedChannel::new(info, 11, dyn_clock.clone());
    let t = TenantId::new();
    channel.add_account(
        &t,
        "acme",
        AccountStatus {
            verification: Verification::Verified,
            suspended: None,
        },
    );
    let publisher = Arc::new(
        Publisher::builder(
            &Env::builder(store.clone())
                .clock(dyn_clock.clone())
                .ids(Arc::new(SeededIds::new(2, dyn_clock.clone())))
                .build(),
            Arc::new(ChannelCatalogue::builtin()),
        )
        .channel(Arc::new(channel))
        .unwrap()
        .build(),
    );
    for n in 0..5 {
        let cmd = PublishCommand {
            content_id: format!("art-{n}"),
            version: 2,
            channel: "wecom".into(),
            account: "acme".into(),
            format: ContentFormat::Article,
            title: "新品介绍".into(),
            body_html: "<p>欢迎咨询</p>".into(),
            media: vec![],
            tags: vec![],
            publish_at: None,
        };
        publisher
            .publish(&t, cmd, &IdempotencyKey::new(format!("p{n}")).unwrap())
            .await
            .unwrap();
    }
    clock.advance(Duration::days(5));
    let sink = Arc::new(MemoryLeadSink::new());
    sink.fail_next(2);
    let fwd = InquiryForwarder::new(
        &Env::builder(store.clone()).clock(dyn_clock).build(),
        publisher,
        sink.clone(),
    );
    let first = fwd.run(&t).await.unwrap();
    assert!(
        first.new > 0,
        "the simulated private domain produces inquiries: {first:?}"
    );
    assert_eq!(first.pending, 2);
    assert_eq!(first.delivered, first.new - 2);
    let second = fwd.run(&t).await.unwrap();
    assert_eq!((second.new, second.delivered, second.pending), (0, 2, 0));
    let third = fwd.run(&t).await.unwrap();
    assert_eq!((third.new, third.delivered), (0, 0));
    let got = sink.received();
    assert_eq!(got.len(), first.new);
    assert!(got.iter().all(|i| i
        .content_id
        .as_deref()
        .is_some_and(|c| c.starts_with("art-"))
        && i.content_version == Some(2)
        && i.phone.is_some()));
}

/// A rule's window is data: one reaching back past the calendar's first day takes in every
/// event, instead of overflowing the date.
#[test]
fn an_audience_window_of_any_length_is_applied() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
    let events = vec![VisitorEvent {
        visitor_id: "v1".into(),
        channel: "wecom".into(),
        content_id: "a1".into(),
        action: VisitorAction::View { dwell_secs: 90 },
        at: now - Duration::days(400),
    }];
    let rule = AudienceRule {
        name: "all-time".into(),
        within_days: u32::MAX,
        min_views: 0,
        min_dwell_secs: 60,
        require_click: false,
        exclude_inquired: false,
    };
    let a = build_audiences(&events, &[rule], now);
    assert!(a["all-time"].contains("v1"), "{a:?}");
}
