//! Metered generation: articles, images and rendered videos take the tenant's quota — reserved
//! before the backend runs, committed on success, released on failure — so a failing backend
//! or a compliance rejection consumes nothing, a retry counts once, and concurrent requests
//! never generate beyond the quota.

use marketingforce_core::IdempotencyKey;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use marketingforce_content::compliance::{ComplianceChecker, Lexicon};
use marketingforce_content::distribution::{meters, InMemoryQuota, Meter, ModulesQuota, QuotaGate};
use marketingforce_content::image::TemplateImageGenerator;
use marketingforce_content::metered::Metered;
use marketingforce_content::text::OfflineTextGenerator;
use marketingforce_content::video::TemplateVideoGenerator;
use marketingforce_content::ContentError;
use marketingforce_core::adapters::generation::{
    Article, GeneratedVideo, ImageAsset, ImageRequest, Materials, Provenance, TextGenerator,
    TextRequest, VideoGenerator, VideoRequest,
};
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_modules::catalog::{QuotaPeriod, UsageUnit};
use marketingforce_modules::entitlements::{EntitlementRegistry, Grant};
use proptest::prelude::*;

fn unseeded(topic: &str) -> TextRequest {
    TextRequest::new("industrial-machinery", topic)
        .keywords(["加工中心"])
        .materials(Materials {
            product_name: Some("XK-850 立式加工中心".into()),
            ..Materials::default()
        })
}

fn brief(seed: u64) -> TextRequest {
    unseeded("立式加工中心选购指南").seed(seed)
}

fn offline() -> Arc<OfflineTextGenerator> {
    Arc::new(OfflineTextGenerator::new())
}

fn quota(tenant: &TenantId, meter: Meter, limit: u64) -> Arc<InMemoryQuota> {
    let q = Arc::new(InMemoryQuota::new());
    q.set_limit(tenant, meter, limit);
    q
}

/// Fails its first `failures` calls with a retryable backend error, then answers the offline
/// generator's article, or one with an unlawful headline when `unlawful`.
#[derive(Debug)]
struct Flaky {
    failures: AtomicU32,
    unlawful: bool,
    calls: AtomicU32,
}

impl Flaky {
    fn new(failures: u32) -> Flaky {
        Flaky {
            failures: AtomicU32::new(failures),
            unlawful: false,
            calls: AtomicU32::new(0),
        }
    }
}

#[async_trait]
impl TextGenerator for Flaky {
    fn backend(&self) -> &str {
        "flaky"
    }

    async fn generate(&self, request: &TextRequest) -> marketingforce_core::Result<Article> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // Let concurrent callers interleave.
        tokio::task::yield_now().await;
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(marketingforce_core::Error::backend_message(
                "flaky",
                true,
                "model server busy",
            ));
        }
        let mut a = OfflineTextGenerator::new().generate_article(request)?;
        if self.unlawful {
            a.title = "全国第一的加工中心，品质最好".into();
        }
        Ok(a)
    }
}

#[tokio::test]
async fn exhausted_quota_is_the_typed_limit_error_naming_the_meter_and_what_is_left() {
    let t = TenantId::new();
    let q = quota(&t, meters::ARTICLES, 2);
    let text = Metered::new(offline(), q.clone(), t);
    text.generate(&brief(1)).await.unwrap();
    text.generate(&brief(2)).await.unwrap();

    // Through the generator trait: the core limit error, naming the meter and what is left.
    match text.generate(&brief(3)).await.unwrap_err() {
        marketingforce_core::Error::LimitExceeded {
            limit,
            requested,
            available,
        } => {
            assert_eq!(limit, meters::ARTICLES.as_str());
            assert_eq!((requested.as_str(), available.as_str()), ("1", "0"));
        }
        other => panic!("expected LimitExceeded, got {other}"),
    }
    // Through the keyed method (and `from_adapter`): the content quota error.
    let e = text
        .generate_article(&brief(3), &IdempotencyKey::from_static("article-3"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ContentError::QuotaExceeded { meter, requested: 1, remaining: 0 } if *meter == meters::ARTICLES),
        "{e}"
    );
    assert!(e.to_string().contains("content.articles"), "{e}");
    assert_eq!(q.used(&t, meters::ARTICLES), 2);

    // Images: the same on their own meter; another tenant is not affected.
    let images = Metered::new(
        Arc::new(TemplateImageGenerator::new()),
        quota(&t, meters::IMAGES, 0),
        t,
    );
    let mut poster = ImageRequest::poster("industrial-machinery", "春季订货会");
    poster.seed = Some(1);
    let e = ContentError::from_adapter(
        marketingforce_core::adapters::generation::ImageGenerator::generate(&images, &poster)
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(&e, ContentError::QuotaExceeded { meter, remaining: 0, .. } if *meter == meters::IMAGES),
        "{e}"
    );
    let other = TenantId::new();
    assert!(text.for_tenant(other).generate(&brief(3)).await.is_ok());
}

#[tokio::test]
async fn a_failing_backend_or_a_rejected_output_consumes_nothing_and_its_retry_counts_once() {
    let t = TenantId::new();
    let q = quota(&t, meters::ARTICLES, 1);
    let flaky = Arc::new(Flaky::new(2));
    let text = Metered::new(flaky.clone(), q.clone(), t);

    for _ in 0..2 {
        let e = text.generate(&brief(7)).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert_eq!(q.used(&t, meters::ARTICLES), 0, "a failure consumed quota");
    }
    // The retry of the same request succeeds and takes the one unit; its replay takes nothing.
    let a = text.generate(&brief(7)).await.unwrap();
    assert_eq!(text.generate(&brief(7)).await.unwrap(), a);
    assert_eq!(q.used(&t, meters::ARTICLES), 1);
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 4);

    // A compliance rejection: the output is discarded, nothing consumed.
    let q = quota(&t, meters::ARTICLES, 1);
    let checker = Arc::new(ComplianceChecker::new(&[&Lexicon::builtin()], None).unwrap());
    let unlawful = Arc::new(Flaky {
        unlawful: true,
        ..Flaky::new(0)
    });
    let text = Metered::new(unlawful, q.clone(), t).with_compliance(checker.clone());
    let e = text
        .generate_article(&brief(8), &IdempotencyKey::from_static("article-8:v1"))
        .await
        .unwrap_err();
    match &e {
        ContentError::NotCompliant {
            meter,
            decision,
            terms,
        } => {
            assert_eq!(*meter, meters::ARTICLES);
            assert_eq!(decision, "rejected");
            assert!(terms.contains("最好"), "{terms}");
        }
        other => panic!("expected NotCompliant, got {other}"),
    }
    assert_eq!(q.used(&t, meters::ARTICLES), 0);
    // The lawful backend under the same checker is metered as usual.
    let text = Metered::new(offline(), q.clone(), t).with_compliance(checker);
    text.generate_article(&brief(8), &IdempotencyKey::from_static("article-8:v2"))
        .await
        .unwrap();
    assert_eq!(q.used(&t, meters::ARTICLES), 1);

    // An image backend refusing the request (an unusable asset) consumes nothing either.
    let q = quota(&t, meters::IMAGES, 1);
    let images = Metered::new(Arc::new(TemplateImageGenerator::new()), q.clone(), t);
    let mut poster = ImageRequest::poster("industrial-machinery", "春季订货会");
    poster.images = vec![ImageAsset {
        name: "logo.png".into(),
        bytes: b"not an image".to_vec(),
    }];
    let e = images
        .generate_image(&poster, &IdempotencyKey::from_static("poster-1"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("logo.png"), "{e}");
    assert_eq!(q.used(&t, meters::IMAGES), 0);
    poster.images.clear();
    images
        .generate_image(&poster, &IdempotencyKey::from_static("poster-1"))
        .await
        .unwrap();
    assert_eq!(q.used(&t, meters::IMAGES), 1);
}

#[tokio::test]
async fn replays_count_once_and_keys_identify_generations() {
    let t = TenantId::new();
    let q = quota(&t, meters::ARTICLES, 10);
    let text = Metered::new(offline(), q.clone(), t);

    // Unnamed: the request (seed included) is the identity.
    let a = text.generate(&brief(1)).await.unwrap();
    let b = text.generate(&brief(1)).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(q.used(&t, meters::ARTICLES), 1);
    text.generate(&brief(2)).await.unwrap();
    assert_eq!(q.used(&t, meters::ARTICLES), 2);

    // An unseeded request cannot be told from a new one: refused, nothing consumed.
    let e = text
        .generate(&unseeded("选购指南"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("seed"), "{e}");
    assert_eq!(q.used(&t, meters::ARTICLES), 2);

    // Named: the name and the request. The same brief under two names counts twice, a retry
    // under one name once, and a name reused for another request is metered anew.
    let unseeded = unseeded("五轴加工中心");
    text.generate_article(&unseeded, &IdempotencyKey::from_static("article-1"))
        .await
        .unwrap();
    text.generate_article(&unseeded, &IdempotencyKey::from_static("article-1"))
        .await
        .unwrap();
    text.generate_article(&unseeded, &IdempotencyKey::from_static("article-2"))
        .await
        .unwrap();
    assert_eq!(q.used(&t, meters::ARTICLES), 4);
    text.generate_article(&brief(9), &IdempotencyKey::from_static("article-1"))
        .await
        .unwrap();
    assert_eq!(q.used(&t, meters::ARTICLES), 5);

    // Blank and overlong names cannot be made into keys: nothing is generated or metered.
    for bad in ["", "  ", &"k".repeat(161)] {
        let e = IdempotencyKey::new(bad).unwrap_err().to_string();
        assert!(e.contains("idempotency_key"), "{e}");
    }
    assert_eq!(q.used(&t, meters::ARTICLES), 5);
}

/// A renderer stand-in: answers a few bytes of "video" for every request.
#[derive(Debug)]
struct Rendering;

#[async_trait]
impl VideoGenerator for Rendering {
    fn backend(&self) -> &str {
        "rendering"
    }

    async fn generate(
        &self,
        request: &VideoRequest,
    ) -> marketingforce_core::Result<GeneratedVideo> {
        let plan = TemplateVideoGenerator::new().generate(request).await?;
        Ok(GeneratedVideo {
            media_type: "video/mp4".into(),
            bytes: vec![0, 0, 0, 24],
            provenance: Provenance {
                backend: "rendering".into(),
                ..plan.provenance.clone()
            },
            ..plan
        })
    }
}

#[tokio::test]
async fn videos_are_metered_per_rendered_video_not_per_plan() {
    let t = TenantId::new();
    let q = quota(&t, meters::VIDEOS, 1);
    let req = VideoRequest {
        industry: "industrial-machinery".into(),
        scenario: "factory-tour".into(),
        title: "走进智能工厂".into(),
        script: vec!["我们拥有两万平方米的现代化厂房，三条自动化生产线。".into()],
        images: vec![],
        music: None,
        dubbing: false,
        language: Default::default(),
        size: Some((360, 640)),
        seed: Some(1),
    };
    // The template generator without a renderer only plans: nothing consumed.
    let planner = Metered::new(Arc::new(TemplateVideoGenerator::new()), q.clone(), t);
    let plan = planner.generate(&req).await.unwrap();
    assert!(plan.bytes.is_empty());
    assert_eq!(q.used(&t, meters::VIDEOS), 0);
    // A rendered video takes one unit; the next one finds the quota used up.
    let renderer = Metered::new(Arc::new(Rendering), q.clone(), t);
    assert!(!renderer.generate(&req).await.unwrap().bytes.is_empty());
    assert_eq!(q.used(&t, meters::VIDEOS), 1);
    let e = ContentError::from_adapter(
        renderer
            .generate(&VideoRequest {
                seed: Some(2),
                ..req.clone()
            })
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(&e, ContentError::QuotaExceeded { meter, .. } if *meter == meters::VIDEOS),
        "{e}"
    );
    // `dyn` generators are wrapped the same way.
    let dynamic: Arc<dyn VideoGenerator> = Arc::new(Rendering);
    let q2 = quota(&t, meters::VIDEOS, 5);
    let wrapped: Arc<dyn VideoGenerator> = Arc::new(Metered::new(dynamic, q2.clone(), t));
    wrapped.generate(&req).await.unwrap();
    assert_eq!(q2.used(&t, meters::VIDEOS), 1);
    assert_eq!(wrapped.backend(), "rendering");
}

/// Race `requests` distinct articles (plus `replays` repeats of some of them) through one
/// metered flaky generator; answers (succeeded, exhausted, failed).
async fn race(
    gate: Arc<dyn QuotaGate>,
    t: TenantId,
    requests: usize,
    replays: usize,
    failures: u32,
) -> (usize, usize, usize) {
    let text = Metered::new(Arc::new(Flaky::new(failures)), gate, t);
    let mut tasks = Vec::new();
    for n in 0..requests + replays {
        let text = text.clone();
        let seed = (n % requests) as u64;
        tasks.push(tokio::spawn(async move {
            text.generate_article(
                &brief(seed),
                &IdempotencyKey::new(format!("article-{seed}")).unwrap(),
            )
            .await
            .map(|_| seed)
        }));
    }
    let mut ok = std::collections::BTreeSet::new();
    let (mut exhausted, mut failed) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(seed) => {
                ok.insert(seed);
            }
            Err(ContentError::QuotaExceeded { .. }) => exhausted += 1,
            Err(e) if e.is_retryable() => failed += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    (ok.len(), exhausted, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_never_generate_beyond_the_quota() {
    for quota_n in [0u64, 1, 5, 16] {
        let t = TenantId::new();
        let q = quota(&t, meters::ARTICLES, quota_n);
        let (ok, exhausted, failed) = race(q.clone(), t, 32, 0, 0).await;
        assert_eq!(ok as u64, quota_n);
        assert_eq!(exhausted as u64, 32 - quota_n);
        assert_eq!(failed, 0);
        assert_eq!(q.used(&t, meters::ARTICLES), quota_n);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Through the platform's metering (`marketingforce-modules`): racing distinct articles,
    /// replays and backend failures, exactly min(quota, distinct requests that succeeded) are
    /// generated and used, no reservation stays open, and the usage rebuilt from storage equals
    /// the live usage.
    #[test]
    fn racing_generations_take_exactly_the_granted_quota(
        quota_n in 1u64..12,
        requests in 1usize..24,
        replays in 0usize..6,
        failures in 0u32..4,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        rt.block_on(async move {
            let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
            let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
            let registry = Arc::new(EntitlementRegistry::builder(&marketingforce_core::env::Env::builder(store).clock(clock).build()).build());
            let t = TenantId::new();
            let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
            registry
                .grant(Grant::new(t, d("2026-03-01"), d("2027-03-01")).quota(UsageUnit::ArticlesPublished, quota_n, QuotaPeriod::Term))
                .await
                .unwrap();
            let gate: Arc<dyn QuotaGate> = Arc::new(ModulesQuota::new(registry.clone()));
            let (ok, _, failed) = race(gate, t, requests, replays, failures).await;
            let meter = registry.load(&t).await.unwrap().meter();
            let used = quota_n - meter.remaining(&UsageUnit::ArticlesPublished).get();
            assert_eq!(used, ok as u64, "used {used}, generated {ok}");
            assert!(used <= quota_n);
            assert!(failed <= failures as usize);
            // Without failures, every distinct request that fits the quota is generated.
            if failures == 0 {
                assert_eq!(used, quota_n.min(requests as u64));
            }
            assert_eq!(meter.open_reservations(), 0);
            registry.flush().await.unwrap();
            let rebuilt = registry.rebuild(&t).await.unwrap().meter();
            assert_eq!(rebuilt.remaining(&UsageUnit::ArticlesPublished), meter.remaining(&UsageUnit::ArticlesPublished));
        });
    }
}
