//! Publishing: verified accounts only, reviewed content only, release quotas under concurrency,
//! rate limits and scheduling, channel rejections recorded, recommendation.

use marketingforce_core::IdempotencyKey;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;
use marketingforce_content::compliance::{ContentVersion, ReviewService};
use marketingforce_content::distribution::{
    meters, recommend, ChannelCatalogue, Fault, InMemoryQuota, ObservedPerformance,
    PublicationStatus, PublishCommand, Publisher, PublisherBuilder, QuotaGate,
    RecommendationRequest, RecommendationWeights, SimulatedChannel,
};
use marketingforce_content::ContentError;
use marketingforce_core::adapters::channel::{AccountStatus, ContentFormat, Verification};
use marketingforce_core::adapters::generation::Audience;
use marketingforce_core::env::Env;
use marketingforce_core::id::SeededIds;
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use proptest::prelude::*;

struct World {
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    channel: SimulatedChannel,
    tenant: TenantId,
}

fn verified() -> AccountStatus {
    AccountStatus {
        verification: Verification::Verified,
        suspended: None,
    }
}

fn world(code: &str) -> World {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let info = ChannelCatalogue::builtin().get(code).unwrap().clone();
    let channel = SimulatedChannel::new(info, 7, clock.clone());
    let tenant = TenantId::new();
    channel.add_account(&tenant, "acme", verified());
    World {
        clock,
        store: Arc::new(MemoryStore::new()),
        channel,
        tenant,
    }
}

fn publisher(w: &World, catalogue: ChannelCatalogue) -> PublisherBuilder {
    let clock: Arc<dyn Clock> = w.clock.clone();
    let env = Env::builder(w.store.clone())
        .clock(clock.clone())
        .ids(Arc::new(SeededIds::new(1, clock)))
        .build();
    Publisher::builder(&env, Arc::new(catalogue))
        .channel(Arc::new(w.channel.clone()))
        .unwrap()
}

fn cmd(channel: &str, n: u32) -> PublishCommand {
    PublishCommand {
        content_id: format!("art-{n}"),
        version: 1,
        channel: channel.into(),
        account: "acme".into(),
        format: ContentFormat::Article,
        title: format!("数控机床选购指南（{n}）"),
        body_html: "<p>加工精度与稳定性。</p>".into(),
        media: vec![],
        tags: vec!["数控机床".into()],
        publish_at: None,
    }
}

/// An unlimited meter counts what a `u64` holds and refuses more with a typed error, never
/// overflowing (a channel's release cost is catalogue data, of any size).
#[tokio::test]
async fn an_unlimited_meter_refuses_units_it_cannot_count() {
    let t = TenantId::new();
    let q = InMemoryQuota::new();
    q.reserve(&t, meters::PUBLICATIONS, u64::MAX, "a")
        .await
        .unwrap();
    match q.reserve(&t, meters::PUBLICATIONS, 1, "b").await {
        Err(ContentError::QuotaExceeded {
            requested,
            remaining,
            ..
        }) => assert_eq!((requested, remaining), (1, 0)),
        other => panic!("{other:?}"),
    }
    assert_eq!(q.used(&t, meters::PUBLICATIONS), u64::MAX);
    // Releasing the first reservation makes room again.
    q.release(&t, meters::PUBLICATIONS, "a").await.unwrap();
    q.reserve(&t, meters::PUBLICATIONS, 1, "b").await.unwrap();
    assert_eq!(q.used(&t, meters::PUBLICATIONS), 1);
}

#[tokio::test]
async fn unverified_and_suspended_accounts_are_refused_before_anything_is_consumed() {
    let w = world("machine-portal");
    let quota = Arc::new(InMemoryQuota::new());
    quota.set_limit(&w.tenant, meters::PUBLICATIONS, 10);
    let p = publisher(&w, ChannelCatalogue::builtin())
        .quota(quota.clone())
        .build();
    w.channel.add_account(
        &w.tenant,
        "new",
        AccountStatus {
            verification: Verification::Unverified,
            suspended: None,
        },
    );
    w.channel.add_account(
        &w.tenant,
        "bad",
        AccountStatus {
            verification: Verification::Verified,
            suspended: Some("违规发布".into()),
        },
    );
    for (acct, needle) in [
        ("new", "not real-name verified"),
        ("bad", "suspended: 违规发布"),
    ] {
        let mut c = cmd("machine-portal", 1);
        c.account = acct.into();
        let e = p
            .publish(&w.tenant, c, &IdempotencyKey::new(acct).unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(e, ContentError::AccountNotPublishable { .. }),
            "{e}"
        );
        assert!(e.to_string().contains(needle), "{e}");
    }
    assert_eq!(quota.used(&w.tenant, meters::PUBLICATIONS), 0);
    assert!(p.list(&w.tenant).await.unwrap().is_empty());
    assert_eq!(w.channel.published_count(), 0);
}

#[tokio::test]
async fn rejections_are_recorded_with_their_reason_and_quota_is_given_back() {
    let w = world("machine-portal");
    let quota = Arc::new(InMemoryQuota::new());
    quota.set_limit(&w.tenant, meters::PUBLICATIONS, 5);
    let p = publisher(&w, ChannelCatalogue::builtin())
        .quota(quota.clone())
        .build();
    w.channel.inject(Fault::Reject {
        code: "duplicate".into(),
        reason: "与已发布内容重复".into(),
    });
    let r = p
        .publish(
            &w.tenant,
            cmd("machine-portal", 1),
            &IdempotencyKey::from_static("k1"),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status,
        PublicationStatus::Rejected {
            code: "duplicate".into(),
            reason: "与已发布内容重复".into()
        }
    );
    assert_eq!(quota.used(&w.tenant, meters::PUBLICATIONS), 0);
    // The platform's own policy.
    let mut c = cmd("machine-portal", 2);
    c.body_html = "<p>详情请加微信</p>".into();
    let r = p
        .publish(&w.tenant, c, &IdempotencyKey::from_static("k2"))
        .await
        .unwrap();
    assert!(matches!(r.status, PublicationStatus::Rejected { ref code, .. } if code == "policy"));
    // A retryable failure keeps the quota until a retry settles it; the retry publishes once.
    w.channel.inject(Fault::Unavailable);
    let r = p
        .publish(
            &w.tenant,
            cmd("machine-portal", 3),
            &IdempotencyKey::from_static("k3"),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            r.status,
            PublicationStatus::Failed {
                retryable: true,
                ..
            }
        ),
        "{:?}",
        r.status
    );
    assert_eq!(quota.used(&w.tenant, meters::PUBLICATIONS), 1);
    let r = p.retry(&w.tenant, &r.id).await.unwrap();
    assert!(matches!(r.status, PublicationStatus::Published(_)));
    assert_eq!(quota.used(&w.tenant, meters::PUBLICATIONS), 1);
    // Replaying the key returns the first result; another command under the key is an error.
    let again = p
        .publish(
            &w.tenant,
            cmd("machine-portal", 1),
            &IdempotencyKey::from_static("k1"),
        )
        .await
        .unwrap();
    assert!(matches!(again.status, PublicationStatus::Rejected { .. }));
    assert!(p
        .publish(
            &w.tenant,
            cmd("machine-portal", 9),
            &IdempotencyKey::from_static("k1")
        )
        .await
        .is_err());
    // A suspension mid-way is recorded, and later publishing is refused.
    w.channel.inject(Fault::Suspend {
        reason: "多次违规".into(),
    });
    let r = p
        .publish(
            &w.tenant,
            cmd("machine-portal", 4),
            &IdempotencyKey::from_static("k4"),
        )
        .await
        .unwrap();
    assert!(
        matches!(r.status, PublicationStatus::Rejected { ref code, .. } if code == "account_suspended")
    );
    let e = p
        .publish(
            &w.tenant,
            cmd("machine-portal", 5),
            &IdempotencyKey::from_static("k5"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ContentError::AccountNotPublishable { .. }));
    // Formats the channel does not take are refused up front.
    let mut c = cmd("machine-portal", 6);
    c.format = ContentFormat::Video;
    assert!(p
        .publish(&w.tenant, c, &IdempotencyKey::from_static("k6"))
        .await
        .unwrap_err()
        .to_string()
        .contains("format"));
}

#[tokio::test]
async fn only_approved_versions_are_published() {
    let w = world("machine-portal");
    let reviews = ReviewService::new(&Env::builder(w.store.clone()).clock(w.clock.clone()).build());
    let p = publisher(&w, ChannelCatalogue::builtin())
        .require_review(reviews.clone())
        .build();
    let e = p
        .publish(
            &w.tenant,
            cmd("machine-portal", 1),
            &IdempotencyKey::from_static("a"),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not reviewed"), "{e}");
    let v = ContentVersion {
        content_id: "art-1".into(),
        version: 1,
        industry: None,
        title: "行业第一".into(),
        body: String::new(),
    };
    reviews
        .review(&w.tenant, &v, &IdempotencyKey::from_static("r1"))
        .await
        .unwrap();
    let e = p
        .publish(
            &w.tenant,
            cmd("machine-portal", 1),
            &IdempotencyKey::from_static("b"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ContentError::NotApproved { .. }), "{e}");
    let v2 = ContentVersion {
        content_id: "art-1".into(),
        version: 2,
        industry: None,
        title: "高精度机床".into(),
        body: String::new(),
    };
    reviews
        .review(&w.tenant, &v2, &IdempotencyKey::from_static("r2"))
        .await
        .unwrap();
    let mut c = cmd("machine-portal", 1);
    c.version = 2;
    assert!(matches!(
        p.publish(&w.tenant, c, &IdempotencyKey::from_static("c"))
            .await
            .unwrap()
            .status,
        PublicationStatus::Published(_)
    ));
}

#[tokio::test]
async fn rate_limits_schedule_the_overflow_and_scheduled_items_publish_when_due() {
    let w = world("news-portal"); // 2 per hour, 10 per day, 3 release units each
    let quota = Arc::new(InMemoryQuota::new());
    quota.set_limit(&w.tenant, meters::PUBLICATIONS, 30);
    let p = publisher(&w, ChannelCatalogue::builtin())
        .quota(quota.clone())
        .build();
    let mut statuses = Vec::new();
    for n in 0..3 {
        statuses.push(
            p.publish(
                &w.tenant,
                cmd("news-portal", n),
                &IdempotencyKey::new(format!("n{n}")).unwrap(),
            )
            .await
            .unwrap()
            .status,
        );
    }
    assert!(matches!(statuses[0], PublicationStatus::Published(_)));
    assert!(matches!(statuses[1], PublicationStatus::Published(_)));
    let PublicationStatus::Scheduled { at } = statuses[2] else {
        panic!("{:?}", statuses[2])
    };
    assert_eq!(at, w.clock.now() + Duration::hours(1));
    assert_eq!(quota.used(&w.tenant, meters::PUBLICATIONS), 6);
    // A requested future time.
    let mut c = cmd("news-portal", 10);
    c.publish_at = Some(w.clock.now() + Duration::hours(3));
    assert!(matches!(
        p.publish(&w.tenant, c, &IdempotencyKey::from_static("later"))
            .await
            .unwrap()
            .status,
        PublicationStatus::Scheduled { .. }
    ));
    assert!(p.run_due(&w.tenant).await.unwrap().is_empty());
    w.clock.advance(Duration::minutes(61));
    let done = p.run_due(&w.tenant).await.unwrap();
    assert_eq!(done.len(), 1);
    assert!(matches!(done[0].status, PublicationStatus::Published(_)));
    w.clock.advance(Duration::hours(3));
    let done = p.run_due(&w.tenant).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(quota.used(&w.tenant, meters::PUBLICATIONS), 12);
    // A new publisher over the same store (a restart) rebuilds the rate window from storage.
    let p2 = publisher(&w, ChannelCatalogue::builtin()).build();
    let r = p2
        .publish(
            &w.tenant,
            cmd("news-portal", 20),
            &IdempotencyKey::from_static("after-restart"),
        )
        .await
        .unwrap();
    assert!(
        matches!(r.status, PublicationStatus::Published(_)),
        "{:?}",
        r.status
    );
    let r = p2
        .publish(
            &w.tenant,
            cmd("news-portal", 21),
            &IdempotencyKey::from_static("after-restart-2"),
        )
        .await
        .unwrap();
    assert!(
        matches!(r.status, PublicationStatus::Scheduled { .. }),
        "{:?}",
        r.status
    );
    // Stats grow with time.
    let published = p
        .list(&w.tenant)
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.external_id().is_some())
        .unwrap();
    let s1 = p.stats(&w.tenant, &published.id).await.unwrap();
    w.clock.advance(Duration::days(2));
    let s2 = p.stats(&w.tenant, &published.id).await.unwrap();
    assert!(
        s2.exposures > s1.exposures && s2.views >= s1.views,
        "{s1:?} {s2:?}"
    );
}

fn loose_catalogue() -> ChannelCatalogue {
    let mut c = ChannelCatalogue::builtin().channels;
    for ch in &mut c {
        ch.rate_limit.per_hour = 10_000;
        ch.rate_limit.per_day = 10_000;
    }
    ChannelCatalogue::new(c).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Publishing never exceeds the tenant's release quota under concurrency: however many
    /// publications race (with replays of the same keys), units consumed never pass the quota,
    /// and exactly as many publications succeed as the quota allows.
    #[test]
    fn publishing_never_exceeds_the_release_quota_under_concurrency(
        quota_units in 0u64..20,
        requests in 1usize..30,
        replays in 0usize..5,
        channel in prop_oneof![Just("news-portal"), Just("machine-portal"), Just("tech-news")],
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        rt.block_on(async move {
            let w = world(channel);
            let cost = ChannelCatalogue::builtin().get(channel).unwrap().release_cost;
            let quota = Arc::new(InMemoryQuota::new());
            quota.set_limit(&w.tenant, meters::PUBLICATIONS, quota_units);
            let p = Arc::new(publisher(&w, loose_catalogue()).quota(quota.clone()).build());
            let mut tasks = Vec::new();
            for n in 0..requests + replays {
                let p = p.clone();
                let t = w.tenant;
                let n = n % requests; // the extra tasks replay earlier keys
                tasks.push(tokio::spawn(async move { p.publish(&t, cmd(channel, n as u32), &IdempotencyKey::new(format!("key-{n}")).unwrap()).await }));
            }
            let mut exhausted = 0;
            for t in tasks {
                match t.await.unwrap() {
                    Ok(_) => {}
                    Err(ContentError::QuotaExceeded { .. }) => exhausted += 1,
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            let used = quota.used(&w.tenant, meters::PUBLICATIONS);
            let published = p.list(&w.tenant).await.unwrap().iter().filter(|x| x.external_id().is_some()).count() as u64;
            assert!(used <= quota_units, "used {used} > quota {quota_units}");
            assert_eq!(used, published * cost);
            assert_eq!(published, (quota_units / cost.max(1)).min(requests as u64));
            assert_eq!(w.channel.published_count() as u64, published);
            assert!(exhausted >= requests - published as usize);
        });
    }
}

#[test]
fn recommendation_follows_audience_industry_region_and_results() {
    let c = ChannelCatalogue::builtin();
    let req = RecommendationRequest {
        industry: "chemicals".into(),
        audience: Audience::B2b,
        regions: vec!["浙江".into()],
        format: ContentFormat::Article,
        top_n: 5,
    };
    let w = RecommendationWeights::default();
    let ranked = recommend(&c, &req, &BTreeMap::new(), &w).unwrap();
    assert_eq!(ranked[0].channel, "chem-portal");
    assert!(ranked.iter().any(|r| r.channel == "east-china-news"));
    assert!(ranked.iter().all(|r| r.channel != "social-feed"));
    // Observed results move a channel up.
    let mut observed = BTreeMap::new();
    observed.insert(
        "supply-info".to_string(),
        ObservedPerformance {
            publications: 40,
            views: 9000,
            inquiries: 200,
        },
    );
    let ranked2 = recommend(&c, &req, &observed, &w).unwrap();
    let pos = |v: &[marketingforce_content::distribution::ChannelScore]| {
        v.iter().position(|r| r.channel == "supply-info")
    };
    assert!(pos(&ranked2) < pos(&ranked).or(Some(usize::MAX)));
    // Regional channels outside the user's regions are left out.
    let mut far = req.clone();
    far.regions = vec!["广东".into()];
    assert!(recommend(&c, &far, &BTreeMap::new(), &w)
        .unwrap()
        .iter()
        .all(|r| r.channel != "east-china-news"));
    assert!(recommend(
        &c,
        &RecommendationRequest { top_n: 0, ..req },
        &BTreeMap::new(),
        &w
    )
    .is_err());
}

#[test]
fn recommendation_reads_industries_as_the_templates_do_and_falls_back_to_general_channels() {
    use marketingforce_content::distribution::industry_id;
    use marketingforce_content::report::PeerBenchmarks;
    use marketingforce_content::text::TextTemplates;

    let c = ChannelCatalogue::builtin();
    // One vocabulary: every industry a channel specialises in is an id of the text templates
    // (with display names) and of the peer benchmarks, and reads back as itself.
    let templates = TextTemplates::builtin();
    let benchmarks = PeerBenchmarks::builtin();
    for id in c.channels.iter().flat_map(|ch| &ch.industries) {
        assert_eq!(&industry_id(id), id);
        let names = templates.industries.iter().find(|i| &i.id == id);
        let names = names.unwrap_or_else(|| panic!("{id} has no display names"));
        assert_eq!(&industry_id(&names.zh), id);
        assert_eq!(&industry_id(&names.en), id);
        assert!(benchmarks.get(id).is_some(), "{id} has no peer benchmark");
    }

    let w = RecommendationWeights::default();
    let rank = |industry: &str| {
        let req = RecommendationRequest {
            industry: industry.into(),
            audience: Audience::B2b,
            regions: vec!["上海".into()],
            format: ContentFormat::Article,
            top_n: 20,
        };
        recommend(&c, &req, &BTreeMap::new(), &w).unwrap()
    };
    let ranked = rank("industrial-machinery");
    assert_eq!(ranked[0].channel, "machine-portal");
    assert!(ranked[0].reasons.iter().any(|r| r == "行业垂直渠道"));
    // Verticals of other industries are left out.
    for r in &ranked {
        let info = c.get(&r.channel).unwrap();
        assert!(
            info.industries.is_empty()
                || info.industries.iter().any(|i| i == "industrial-machinery"),
            "{} is a vertical of {:?}",
            r.channel,
            info.industries
        );
    }
    assert!(ranked.iter().all(|r| r.channel != "chem-portal"));
    // The same industry spelled otherwise, or by its display name, ranks the same.
    for spelling in ["Industrial_Machinery", " industrial machinery ", "机械设备"] {
        assert_eq!(rank(spelling), ranked, "{spelling}");
    }
    // An industry no channel specialises in: the general channels, no vertical, no error.
    let general = rank("Restaurant");
    assert!(!general.is_empty());
    for r in &general {
        assert!(
            c.get(&r.channel).unwrap().industries.is_empty(),
            "{}",
            r.channel
        );
        assert!(r.reasons.iter().all(|x| x != "行业垂直渠道"));
    }
}

#[tokio::test]
async fn quota_gate_is_idempotent_and_releases() {
    let q = InMemoryQuota::new();
    let t = TenantId::new();
    q.set_limit(&t, meters::PUBLICATIONS, 3);
    q.reserve(&t, meters::PUBLICATIONS, 3, "a").await.unwrap();
    assert!(matches!(
        q.reserve(&t, meters::PUBLICATIONS, 1, "b").await,
        Err(ContentError::QuotaExceeded { remaining: 0, .. })
    ));
    q.release(&t, meters::PUBLICATIONS, "a").await.unwrap();
    q.release(&t, meters::PUBLICATIONS, "a").await.unwrap();
    assert_eq!(q.used(&t, meters::PUBLICATIONS), 0);
    // A released key is forgotten: the retry of work that did not happen holds quota again
    // (as the platform's meter does), and committing it makes it final.
    assert_eq!(
        q.reserve(&t, meters::PUBLICATIONS, 3, "a")
            .await
            .unwrap()
            .consumed,
        3
    );
    q.commit(&t, meters::PUBLICATIONS, 3, "a").await.unwrap();
    q.release(&t, meters::PUBLICATIONS, "a").await.unwrap();
    assert_eq!(q.used(&t, meters::PUBLICATIONS), 3);
    // A replay of the committed key takes nothing more; committing an unknown key is an error.
    assert_eq!(
        q.reserve(&t, meters::PUBLICATIONS, 3, "a")
            .await
            .unwrap()
            .consumed,
        0
    );
    let e = q
        .commit(&t, meters::PUBLICATIONS, 1, "never-reserved")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("key") && e.contains("never-reserved"), "{e}");
}

mod with_modules_metering {
    use super::*;
    use marketingforce_content::distribution::ModulesQuota;
    use marketingforce_modules::catalog::{QuotaPeriod, UsageUnit};
    use marketingforce_modules::entitlements::{EntitlementRegistry, Grant};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// The same property through the platform's metering (`marketingforce-modules`): racing
        /// publications never take more release units than the tenant's grant, each key counts
        /// once, and the usage rebuilt from storage equals the live usage.
        #[test]
        fn publishing_never_exceeds_the_granted_release_quota(
            quota_units in 1u64..20,
            requests in 1usize..25,
            replays in 0usize..5,
            channel in prop_oneof![Just("news-portal"), Just("machine-portal")],
        ) {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
            rt.block_on(async move {
                let w = world(channel);
                let cost = ChannelCatalogue::builtin().get(channel).unwrap().release_cost;
                let clock: Arc<dyn Clock> = w.clock.clone();
                let registry = Arc::new(EntitlementRegistry::builder(&marketingforce_core::env::Env::builder(w.store.clone()).clock(clock).build()).build());
                let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
                registry
                    .grant(Grant::new(w.tenant, d("2026-03-01"), d("2027-03-01")).quota(UsageUnit::Publications, quota_units, QuotaPeriod::Term))
                    .await
                    .unwrap();
                let p = Arc::new(publisher(&w, loose_catalogue()).quota(Arc::new(ModulesQuota::new(registry.clone()))).build());
                let mut tasks = Vec::new();
                for n in 0..requests + replays {
                    let p = p.clone();
                    let t = w.tenant;
                    let n = n % requests;
                    tasks.push(tokio::spawn(async move { p.publish(&t, cmd(channel, n as u32), &IdempotencyKey::new(format!("key-{n}")).unwrap()).await }));
                }
                for t in tasks {
                    match t.await.unwrap() {
                        Ok(_) | Err(ContentError::QuotaExceeded { .. }) => {}
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
                let meter = registry.load(&w.tenant).await.unwrap().meter();
                let used = quota_units - meter.remaining(&UsageUnit::Publications).get();
                let published = p.list(&w.tenant).await.unwrap().iter().filter(|x| x.external_id().is_some()).count() as u64;
                assert!(used <= quota_units);
                assert_eq!(used, published * cost);
                assert_eq!(published, (quota_units / cost).min(requests as u64));
                assert_eq!(meter.open_reservations(), 0);
                registry.flush().await.unwrap();
                let rebuilt = registry.rebuild(&w.tenant).await.unwrap().meter();
                assert_eq!(rebuilt.remaining(&UsageUnit::Publications), meter.remaining(&UsageUnit::Publications));
            });
        }
    }
}

/// A channel's rate limit holds across processes: publications through two publishers over one
/// store (two processes) share one window (each kept its own in memory, so two processes could
/// publish twice the limit).
#[tokio::test]
async fn rate_limits_hold_across_processes() {
    let w = world("news-portal"); // 2 per hour
    let process = |seed: u64| {
        let clock: Arc<dyn Clock> = w.clock.clone();
        let env = Env::builder(w.store.clone())
            .clock(clock.clone())
            .ids(Arc::new(SeededIds::new(seed, clock)))
            .build();
        Publisher::builder(&env, Arc::new(ChannelCatalogue::builtin()))
            .channel(Arc::new(w.channel.clone()))
            .unwrap()
            .build()
    };
    let (a, b) = (process(11), process(12));
    let mut statuses = Vec::new();
    for (n, p) in [&b, &a, &b, &a].into_iter().enumerate() {
        let r = p
            .publish(
                &w.tenant,
                cmd("news-portal", n as u32),
                &IdempotencyKey::new(format!("x{n}")).unwrap(),
            )
            .await
            .unwrap();
        statuses.push(r.status);
    }
    let published = statuses
        .iter()
        .filter(|s| matches!(s, PublicationStatus::Published(_)))
        .count();
    assert_eq!(published, 2, "{statuses:?}");
    let PublicationStatus::Scheduled { at } = statuses[2] else {
        panic!("{:?}", statuses[2])
    };
    assert_eq!(at, w.clock.now() + Duration::hours(1));
}
