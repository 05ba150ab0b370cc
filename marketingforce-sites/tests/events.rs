//! Domain events: an accepted form submission and a recorded publication are written to the
//! tenant's outbox with their records — once, never without the record, never with the values
//! the visitor typed.

use std::sync::Arc;

use chrono::NaiveDate;
use marketingforce_content::compliance::ReviewService;
use marketingforce_core::env::Env;
use marketingforce_core::events::{EventEnvelope, OUTBOX_JOURNAL};
use marketingforce_core::id::SeededIds;
use marketingforce_core::storage::{Collection, Fault, FaultPlan, FaultyStore, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::crypto::KeyRing;
use marketingforce_crm::Crm;
use marketingforce_modules::entitlements::{Entitlements, Grant};
use marketingforce_sites::attribution::ClientInfo;
use marketingforce_sites::events::{FormSubmitted, SitePublished};
use marketingforce_sites::forms::{
    CrmLeadSink, FormService, FormSubmission, LeadSink, MemoryLeadSink, SubmissionRecord,
    SubmitOutcome,
};
use marketingforce_sites::industry::IndustryTemplate;
use marketingforce_sites::keys::SiteKey;
use marketingforce_sites::model::{Block, Locale, Site, Text};
use marketingforce_sites::publish::{required_modules, SitePublisher};
use marketingforce_sites::SitesError;

async fn outbox(store: &Arc<dyn Store>, tenant: &TenantId) -> Vec<EventEnvelope> {
    store
        .read_journal(tenant, OUTBOX_JOURNAL, 0, 10_000)
        .await
        .unwrap()
        .iter()
        .flat_map(|e| EventEnvelope::all_from_entry(&e.payload).unwrap())
        .collect()
}

/// The events of this crate (the CRM's own events share the tenant's outbox).
fn sites_events(events: &[EventEnvelope]) -> Vec<&EventEnvelope> {
    events
        .iter()
        .filter(|e| e.name().starts_with("sites."))
        .collect()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap())
}

fn forms(store: Arc<dyn Store>, clock: Arc<dyn Clock>, sink: Arc<dyn LeadSink>) -> FormService {
    let env = Env::builder(store)
        .clock(clock.clone())
        .ids(Arc::new(SeededIds::new(3, clock)))
        .build();
    FormService::builder(&env, sink, SiteKey::new([1; 32])).build()
}

fn submission(id: &str) -> FormSubmission {
    let mut s = FormSubmission {
        consent: true,
        consent_version: Some("2026-03".into()),
        page: "contact".into(),
        submission: Some(id.into()),
        url: Some(
            "https://www.example-machinery.cn/contact.html?utm_source=douyin&utm_campaign=expo"
                .into(),
        ),
        ..FormSubmission::default()
    };
    s.fields.insert("name".into(), "王芳".into());
    s.fields.insert("mobile".into(), "+86 139-0000-1234".into());
    s.fields
        .insert("company".into(), "苏州某某机械有限公司".into());
    s.fields.insert("product".into(), "CK-6150".into());
    s
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("198.51.100.7".parse().unwrap()),
        ..ClientInfo::default()
    }
}

fn site() -> Site {
    IndustryTemplate::Machinery.site().unwrap()
}

#[tokio::test]
async fn an_accepted_submission_is_one_event_referring_to_its_lead() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = clock();
    let crm = Arc::new(
        Crm::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .keys(Arc::new(KeyRing::new("k1", [2; 32])))
                .clock(clock.clone())
                .build(),
        )
        .build()
        .unwrap(),
    );
    let forms = forms(store.clone(), clock, Arc::new(CrmLeadSink::new(crm)));
    let (t, site) = (TenantId::new(), site());
    let out = forms
        .submit(&t, &site, "inquiry", submission("sub-evt-0001"), &client())
        .await
        .unwrap();
    let SubmitOutcome::Accepted {
        submission: id,
        lead,
    } = out.clone()
    else {
        panic!("{out:?}")
    };
    let events = outbox(&store, &t).await;
    // The CRM's capture comes first (the lead exists before the submission refers to it).
    assert_eq!(events[0].name(), "crm.lead.captured");
    let ours = sites_events(&events);
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].name(), "sites.form.submitted");
    assert_eq!(events.last().unwrap(), ours[0]);
    let e: FormSubmitted = ours[0].decode().unwrap();
    assert_eq!(
        (e.submission.as_str(), e.lead.as_str()),
        (id.as_str(), lead.as_str())
    );
    assert_eq!(
        (e.site.as_str(), e.form.as_str()),
        (site.id.as_str(), "inquiry")
    );
    assert_eq!(e.locale, Locale::ZhCn);
    assert_eq!(e.fields, ["name", "mobile", "company", "product"]);
    assert_eq!(e.consent_version, "2026-03");
    assert_eq!(e.utm.campaign.as_deref(), Some("expo"));
    let record = Collection::<SubmissionRecord>::new(store.clone())
        .require(&t, &id)
        .await
        .unwrap()
        .value;
    assert_eq!(e.submitted_at, record.submitted_at);

    // The same submission again (a double click, a retried request): nothing new.
    let before = events.len();
    assert_eq!(
        forms
            .submit(&t, &site, "inquiry", submission("sub-evt-0001"), &client())
            .await
            .unwrap(),
        out
    );
    assert_eq!(outbox(&store, &t).await.len(), before);

    // No value the visitor typed is in any event of the tenant.
    let raw = serde_json::to_string(&outbox(&store, &t).await).unwrap();
    for pii in ["13900001234", "1234", "王芳", "苏州某某"] {
        assert!(!raw.contains(pii), "{pii} leaked into the outbox");
    }
}

#[tokio::test]
async fn spam_and_unrecorded_submissions_emit_nothing() {
    let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let faulty = Arc::new(FaultyStore::new(memory.clone(), FaultPlan::new(1)));
    let sink = Arc::new(MemoryLeadSink::new());
    let forms = forms(faulty.clone(), clock(), sink.clone());
    let (t, site) = (TenantId::new(), site());

    let mut spam = submission("sub-spam-0001");
    spam.website = "http://spam.example".into();
    assert_eq!(
        forms
            .submit(&t, &site, "inquiry", spam, &client())
            .await
            .unwrap(),
        SubmitOutcome::Discarded
    );
    assert!(outbox(&memory, &t).await.is_empty());

    for fault in [Fault::ErrorBeforeCommit, Fault::PartialWriteRolledBack] {
        faulty.script_matching(fault, "sub-fail-0001");
        assert!(forms
            .submit(&t, &site, "inquiry", submission("sub-fail-0001"), &client())
            .await
            .is_err());
        assert!(outbox(&memory, &t).await.is_empty());
        assert!(Collection::<SubmissionRecord>::new(memory.clone())
            .list_all(&t)
            .await
            .unwrap()
            .is_empty());
    }
    // The retry is recorded, with its one event.
    forms
        .submit(&t, &site, "inquiry", submission("sub-fail-0001"), &client())
        .await
        .unwrap();
    let events = outbox(&memory, &t).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].decode::<FormSubmitted>().unwrap().submission,
        "sub-fail-0001"
    );
}

fn entitlements(tenant: TenantId, site: &Site, clock: Arc<dyn Clock>) -> Entitlements {
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    let g = required_modules(site).into_iter().fold(
        Grant::new(tenant, d("2026-03-01"), d("2027-03-01")),
        |g, m| g.module(m),
    );
    Entitlements::from_grant(g, clock).unwrap()
}

#[tokio::test]
async fn a_recorded_publication_is_one_event_and_a_blocked_one_none() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = clock();
    let reviews = ReviewService::new(&Env::builder(store.clone()).clock(clock.clone()).build());
    let publisher =
        SitePublisher::builder(&Env::builder(store.clone()).clock(clock.clone()).build())
            .reviews(reviews)
            .build();
    let t = TenantId::new();
    let demo = marketingforce_sites::demo::jinggong().unwrap();
    let ents = entitlements(t, &demo.site, clock.clone());
    let key = IdempotencyKey::new("publish-1").unwrap();
    let published = publisher
        .publish(&t, &demo.site, &demo.inputs, &ents, &key)
        .await
        .unwrap();
    publisher
        .publish(&t, &demo.site, &demo.inputs, &ents, &key)
        .await
        .unwrap();
    let events = outbox(&store, &t).await;
    // Every text block was approved by the checker (no events); the publication is one.
    assert_eq!(
        events.iter().map(|e| e.name()).collect::<Vec<_>>(),
        ["sites.site.published"]
    );
    let e: SitePublished = events[0].decode().unwrap();
    assert_eq!(e.site, published.record.site);
    assert_eq!(e.digest, published.record.digest);
    assert_eq!(
        (e.pages, e.files, e.texts_reviewed),
        (
            published.record.pages,
            published.record.files,
            published.record.texts_reviewed
        )
    );
    assert_eq!(events[0].causation_id().unwrap().as_str(), "publish-1");

    // A superlative blocks publishing: the review's rejection is the only new event.
    let mut site = demo.site.clone();
    if let Block::Hero(h) = &mut site.pages[0].blocks[0] {
        h.heading = Text::zh("全国第一的机床品牌");
    }
    let e = publisher
        .publish(
            &t,
            &site,
            &demo.inputs,
            &ents,
            &IdempotencyKey::new("publish-2").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, SitesError::ComplianceBlocked { .. }), "{e}");
    let events = outbox(&store, &t).await;
    assert_eq!(
        events.iter().map(|e| e.name()).collect::<Vec<_>>(),
        ["sites.site.published", "content.review.rejected"]
    );
    assert!(!serde_json::to_string(&events).unwrap().contains("全国第一"));
}
