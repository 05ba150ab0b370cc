//! Domain events: review decisions and channel answers are written to the tenant's outbox in the
//! batch that records them — once, never without the record, never with the content's text.

use marketingforce_core::env::Env;
use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use chrono::Duration;
use marketingforce_content::compliance::{ContentVersion, Decision, HumanDecision, ReviewService};
use marketingforce_content::distribution::{
    ChannelCatalogue, Fault, PublicationStatus, PublishCommand, Publisher, SimulatedChannel,
};
use marketingforce_content::events::{
    ContentApproved, ContentRejected, DecidedBy, PublicationPublished, PublicationRejected,
};
use marketingforce_core::adapters::channel::{AccountStatus, ContentFormat, Verification};
use marketingforce_core::events::{EventEnvelope, OUTBOX_JOURNAL};
use marketingforce_core::id::SeededIds;
use marketingforce_core::storage::{self, FaultPlan, FaultyStore, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};

async fn outbox(store: &Arc<dyn Store>, tenant: &TenantId) -> Vec<EventEnvelope> {
    store
        .read_journal(tenant, OUTBOX_JOURNAL, 0, 10_000)
        .await
        .unwrap()
        .iter()
        .flat_map(|e| EventEnvelope::all_from_entry(&e.payload).unwrap())
        .collect()
}

fn names(events: &[EventEnvelope]) -> Vec<&str> {
    events.iter().map(|e| e.name()).collect()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap())
}

fn version(id: &str, v: u32, title: &str, body: &str) -> ContentVersion {
    ContentVersion {
        content_id: id.into(),
        version: v,
        industry: None,
        title: title.into(),
        body: body.into(),
    }
}

#[tokio::test]
async fn review_decisions_name_rules_never_the_text() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let reviews = ReviewService::new(&Env::builder(store.clone()).clock(clock()).build());
    let t = TenantId::new();

    let bad = version("art-1", 1, "行业第一的数控机床", "国家级产品，精度最高。");
    let rejected = reviews
        .review(&t, &bad, &IdempotencyKey::from_static("review-1"))
        .await
        .unwrap();
    assert_eq!(rejected.decision, Decision::Rejected);
    // The checker's approvals are the routine path: no event.
    let good = version("art-1", 2, "高精度数控机床", "加工精度与稳定性。");
    assert_eq!(
        reviews
            .review(&t, &good, &IdempotencyKey::from_static("review-2"))
            .await
            .unwrap()
            .decision,
        Decision::Approved
    );
    // Replays and re-reviews of a recorded version add nothing.
    reviews
        .review(&t, &bad, &IdempotencyKey::from_static("review-1"))
        .await
        .unwrap();
    reviews
        .review(&t, &bad, &IdempotencyKey::from_static("review-1b"))
        .await
        .unwrap();

    let events = outbox(&store, &t).await;
    assert_eq!(names(&events), ["content.review.rejected"]);
    assert_eq!(events[0].causation_id().unwrap().as_str(), "review-1");
    let e: ContentRejected = events[0].decode().unwrap();
    assert_eq!((e.content_id.as_str(), e.version), ("art-1", 1));
    assert_eq!(e.by, DecidedBy::Automatic);
    assert_eq!(e.findings, rejected.findings.len());
    let mut categories: Vec<&str> = rejected.findings.iter().map(|f| &*f.category).collect();
    categories.sort_unstable();
    categories.dedup();
    let mut named: Vec<&str> = e.rules.iter().map(|r| r.category.as_str()).collect();
    named.dedup();
    assert_eq!(named, categories);
    assert!(e.rules.iter().all(
        |r| rejected.findings.iter().any(|f| *f.category == *r.category
            && f.severity == r.severity
            && f.article == r.article)
    ));
    let raw = serde_json::to_string(&events).unwrap();
    for f in &rejected.findings {
        assert!(!raw.contains(&f.matched), "{} leaked", f.matched);
        assert!(!raw.contains(&*f.term), "{} leaked", f.term);
    }
    assert!(!raw.contains("数控机床") && !raw.contains("精度"));

    // A person overrides the checker's rejection: one approval event, not who decided.
    reviews
        .record_human_decision(
            &t,
            "art-1",
            1,
            &HumanDecision {
                decision: Decision::Approved,
                reviewer: "李审核".into(),
                note: "有国家级认证文件".into(),
            },
            &IdempotencyKey::from_static("human-1"),
        )
        .await
        .unwrap();
    let events = outbox(&store, &t).await;
    assert_eq!(
        names(&events),
        ["content.review.rejected", "content.review.approved"]
    );
    let approved: ContentApproved = events[1].decode().unwrap();
    assert_eq!(approved.automatic_decision, Decision::Rejected);
    let raw = serde_json::to_string(&events).unwrap();
    assert!(!raw.contains("李审核") && !raw.contains("认证文件"));
}

struct World {
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    channel: SimulatedChannel,
    tenant: TenantId,
}

fn world(store: Arc<dyn Store>) -> World {
    let clock = clock();
    let info = ChannelCatalogue::builtin()
        .get("machine-portal")
        .unwrap()
        .clone();
    let channel = SimulatedChannel::new(info, 7, clock.clone());
    let tenant = TenantId::new();
    channel.add_account(
        &tenant,
        "acme",
        AccountStatus {
            verification: Verification::Verified,
            suspended: None,
        },
    );
    World {
        clock,
        store,
        channel,
        tenant,
    }
}

fn publisher(w: &World) -> Publisher {
    let clock: Arc<dyn Clock> = w.clock.clone();
    Publisher::builder(
        &Env::builder(w.store.clone())
            .clock(clock.clone())
            .ids(Arc::new(SeededIds::new(1, clock)))
            .build(),
        Arc::new(ChannelCatalogue::builtin()),
    )
    .channel(Arc::new(w.channel.clone()))
    .unwrap()
    .build()
}

fn cmd(n: u32) -> PublishCommand {
    PublishCommand {
        content_id: format!("art-{n}"),
        version: 1,
        channel: "machine-portal".into(),
        account: "acme".into(),
        format: ContentFormat::Article,
        title: format!("数控机床选购指南（{n}）"),
        body_html: "<p>加工精度与稳定性。</p>".into(),
        media: vec![],
        tags: vec![],
        publish_at: None,
    }
}

#[tokio::test]
async fn channel_answers_are_events_once_each() {
    let w = world(Arc::new(MemoryStore::new()));
    let p = publisher(&w);
    let t = &w.tenant;

    let published = p
        .publish(t, cmd(1), &IdempotencyKey::from_static("pub-1"))
        .await
        .unwrap();
    // A replay answers the first publication and emits nothing.
    assert_eq!(
        p.publish(t, cmd(1), &IdempotencyKey::from_static("pub-1"))
            .await
            .unwrap(),
        published
    );
    w.channel.inject(Fault::Reject {
        code: "policy".into(),
        reason: "标题含有违规内容：数控机床选购指南".into(),
    });
    let refused = p
        .publish(t, cmd(2), &IdempotencyKey::from_static("pub-2"))
        .await
        .unwrap();
    assert!(matches!(refused.status, PublicationStatus::Rejected { .. }));
    // Scheduled: no event until the channel answers.
    let mut later = cmd(3);
    later.publish_at = Some(w.clock.now() + Duration::hours(2));
    let scheduled = p
        .publish(t, later, &IdempotencyKey::from_static("pub-3"))
        .await
        .unwrap();
    assert_eq!(
        names(&outbox(&w.store, t).await),
        [
            "content.publication.published",
            "content.publication.rejected"
        ]
    );
    w.clock.advance(Duration::hours(3));
    assert_eq!(p.run_due(t).await.unwrap().len(), 1);

    let events = outbox(&w.store, t).await;
    assert_eq!(
        names(&events),
        [
            "content.publication.published",
            "content.publication.rejected",
            "content.publication.published"
        ]
    );
    let first: PublicationPublished = events[0].decode().unwrap();
    assert_eq!(first.publication, published.id);
    assert_eq!(Some(first.external_id.as_str()), published.external_id());
    assert_eq!(
        (first.channel.as_str(), first.version),
        ("machine-portal", 1)
    );
    assert_eq!(events[0].causation_id().unwrap().as_str(), "pub-1");
    let rejected: PublicationRejected = events[1].decode().unwrap();
    assert_eq!(
        (rejected.publication, rejected.code.as_str()),
        (refused.id, "policy")
    );
    let due: PublicationPublished = events[2].decode().unwrap();
    assert_eq!(due.publication, scheduled.id);
    // The scheduled run belongs to the same flow as its request.
    assert_eq!(
        events[2].correlation_id().unwrap().as_str(),
        scheduled.channel_key
    );
    let raw = serde_json::to_string(&events).unwrap();
    assert!(!raw.contains("选购指南") && !raw.contains("加工精度") && !raw.contains("违规"));
}

#[tokio::test]
async fn an_unrecorded_publication_emits_nothing_and_its_retry_emits_once() {
    let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let faulty = Arc::new(FaultyStore::new(memory.clone(), FaultPlan::new(1)));
    let w = world(faulty.clone());
    let p = publisher(&w);
    let t = &w.tenant;
    p.publish(t, cmd(1), &IdempotencyKey::from_static("pub-1"))
        .await
        .unwrap();

    faulty.script_matching(storage::Fault::ErrorBeforeCommit, "pub-2");
    assert!(p
        .publish(t, cmd(2), &IdempotencyKey::from_static("pub-2"))
        .await
        .is_err());
    assert_eq!(p.list(t).await.unwrap().len(), 1);
    assert_eq!(outbox(&memory, t).await.len(), 1);

    // The client retries with the same key: the channel recognises it, and now it is recorded
    // with its one event.
    let second = p
        .publish(t, cmd(2), &IdempotencyKey::from_static("pub-2"))
        .await
        .unwrap();
    let events = outbox(&memory, t).await;
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1]
            .decode::<PublicationPublished>()
            .unwrap()
            .publication,
        second.id
    );

    // A review that is not recorded emits nothing either.
    let reviews = ReviewService::new(&Env::builder(faulty.clone()).clock(w.clock.clone()).build());
    faulty.script_matching(storage::Fault::ErrorBeforeCommit, "review-9");
    let bad = version("art-9", 1, "全国第一", "最好的机床。");
    assert!(reviews
        .review(t, &bad, &IdempotencyKey::from_static("review-9"))
        .await
        .is_err());
    assert!(reviews.decision(t, "art-9", 1).await.unwrap().is_none());
    assert_eq!(outbox(&memory, t).await.len(), 2);
    reviews
        .review(t, &bad, &IdempotencyKey::from_static("review-9"))
        .await
        .unwrap();
    assert_eq!(
        names(&outbox(&memory, t).await)[2..],
        ["content.review.rejected"]
    );
}

/// Poll `fut` once; whether it is still pending.
async fn still_pending<F: std::future::Future>(mut fut: std::pin::Pin<&mut F>) -> bool {
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx).is_pending())).await
}

/// Guards the many-processes contract of `Publisher::run_due`: a process whose list of due
/// publications is stale (another process published one since it listed them) must not
/// publish that one again — no second `published` event, no second channel attempt.
#[tokio::test]
async fn a_stale_due_list_does_not_publish_again_what_another_process_published() {
    let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let w = world(memory.clone());
    let t = &w.tenant;
    let a = publisher(&w);
    let mut later = cmd(1);
    later.publish_at = Some(w.clock.now() + Duration::hours(1));
    let scheduled = a
        .publish(t, later, &IdempotencyKey::from_static("pub-1"))
        .await
        .unwrap();
    w.clock.advance(Duration::hours(2));

    // Process B reads over a network: every store call suspends once.
    let faulty = Arc::new(FaultyStore::new(memory.clone(), FaultPlan::new(1)));
    faulty.suspend_at_every_call(true);
    let b = publisher(&World {
        clock: w.clock.clone(),
        store: faulty.clone(),
        channel: w.channel.clone(),
        tenant: w.tenant,
    });
    let mut run_b = std::pin::pin!(b.run_due(t));
    // B lists the due publications, then suspends before reading the first one.
    while faulty.calls() < 1 {
        assert!(still_pending(run_b.as_mut()).await);
    }
    // Meanwhile process A publishes it.
    let done = a.run_due(t).await.unwrap();
    assert!(matches!(done[0].status, PublicationStatus::Published(_)));
    assert!(run_b.await.unwrap().is_empty());

    let published = outbox(&memory, t)
        .await
        .into_iter()
        .filter(|e| e.name() == "content.publication.published")
        .count();
    assert_eq!(published, 1, "the publication was published twice");
    assert_eq!(a.get(t, &scheduled.id).await.unwrap().attempts, 1);
}
