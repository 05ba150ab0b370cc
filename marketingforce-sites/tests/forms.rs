//! Forms: server-side validation, spam defences, idempotency, the CRM hand-off.

use std::sync::Arc;

use marketingforce_core::env::Env;
use marketingforce_core::id::SeededIds;
use marketingforce_core::storage::{Collection, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_crm::crypto::KeyRing;
use marketingforce_crm::model::Source;
use marketingforce_crm::Crm;
use marketingforce_sites::attribution::ClientInfo;
use marketingforce_sites::forms::{
    CrmLeadSink, FormService, FormServiceBuilder, FormSubmission, LeadSink, MemoryLeadSink,
    SubmissionRecord, SubmitOutcome,
};
use marketingforce_sites::industry::IndustryTemplate;
use marketingforce_sites::keys::SiteKey;
use marketingforce_sites::model::Site;
use marketingforce_sites::SitesError;

struct World {
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    site: Site,
    tenant: TenantId,
}

fn world() -> World {
    World {
        clock: Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap()),
        store: Arc::new(MemoryStore::new()),
        site: IndustryTemplate::Machinery.site().unwrap(),
        tenant: TenantId::new(),
    }
}

fn builder(w: &World, sink: Arc<dyn LeadSink>) -> FormServiceBuilder {
    let clock: Arc<dyn Clock> = w.clock.clone();
    let env = Env::builder(w.store.clone())
        .clock(clock.clone())
        .ids(Arc::new(SeededIds::new(3, clock)))
        .build();
    FormService::builder(&env, sink, SiteKey::new([1; 32]))
}

fn service(w: &World, sink: Arc<dyn LeadSink>) -> FormService {
    builder(w, sink).build()
}

fn good(id: &str) -> FormSubmission {
    let mut s = FormSubmission {
        consent: true,
        consent_version: Some("2026-03".into()),
        page: "contact".into(),
        submission: Some(id.into()),
        url: Some("https://www.example-machinery.cn/contact.html?utm_source=douyin&utm_campaign=expo&clickid=CLK-1".into()),
        ..FormSubmission::default()
    };
    s.fields.insert("name".into(), "王芳".into());
    s.fields.insert("mobile".into(), "+86 139-0000-1234".into());
    s.fields
        .insert("company".into(), "苏州某某机械有限公司".into());
    s.fields.insert("product".into(), "CK-6150".into());
    s
}

fn client(ip: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(ip.parse().unwrap()),
        ..ClientInfo::default()
    }
}

#[tokio::test]
async fn invalid_submissions_list_every_field_and_reach_nothing() {
    let w = world();
    let sink = Arc::new(MemoryLeadSink::new());
    let forms = service(&w, sink.clone());
    let mut s = good("sub-invalid-1");
    s.fields.insert("mobile".into(), "12345".into());
    s.fields.insert("name".into(), String::new());
    s.fields.insert("product".into(), "<script>".into());
    s.fields.insert("evil".into(), "x".into());
    s.consent = false;
    match forms
        .submit(&w.tenant, &w.site, "inquiry", s, &client("192.0.2.1"))
        .await
    {
        Err(SitesError::FormRejected { errors, .. }) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["evil", "name", "mobile", "product", "_consent"]);
            let text = format!("{errors:?}");
            assert!(
                !text.contains("12345") && !text.contains("<script>"),
                "values are never echoed: {text}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A stale page (consent text changed since it was rendered) is refused too.
    let mut s = good("sub-invalid-2");
    s.consent_version = Some("2025-01".into());
    let e = forms
        .submit(&w.tenant, &w.site, "inquiry", s, &client("192.0.2.1"))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("_consent"));
    let e = forms
        .submit(
            &w.tenant,
            &w.site,
            "nope",
            good("sub-invalid-3"),
            &client("192.0.2.1"),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        SitesError::Core(marketingforce_core::Error::NotFound { .. })
    ));
    assert!(sink.leads().is_empty());
}

#[tokio::test]
async fn the_rate_limit_is_counted_in_the_store_across_processes() {
    let mut w = world();
    w.site.forms[0].rate_limit.per_client = 2;
    let sink = Arc::new(MemoryLeadSink::new());
    // Two "processes": two services over one store.
    let a = service(&w, sink.clone());
    let b = service(&w, sink.clone());
    a.submit(
        &w.tenant,
        &w.site,
        "inquiry",
        good("sub-rate-0001"),
        &client("192.0.2.9"),
    )
    .await
    .unwrap();
    b.submit(
        &w.tenant,
        &w.site,
        "inquiry",
        good("sub-rate-0002"),
        &client("192.0.2.9"),
    )
    .await
    .unwrap();
    let e = a
        .submit(
            &w.tenant,
            &w.site,
            "inquiry",
            good("sub-rate-0003"),
            &client("192.0.2.9"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, SitesError::RateLimited { retry_after_secs, .. } if retry_after_secs > 0 && retry_after_secs <= 600)
    );
    // A replay of an accepted submission is answered, not counted.
    b.submit(
        &w.tenant,
        &w.site,
        "inquiry",
        good("sub-rate-0001"),
        &client("192.0.2.9"),
    )
    .await
    .unwrap();
    // Another client has its own budget; the window passes.
    a.submit(
        &w.tenant,
        &w.site,
        "inquiry",
        good("sub-rate-0004"),
        &client("192.0.2.10"),
    )
    .await
    .unwrap();
    w.clock.advance(chrono::Duration::minutes(11));
    a.submit(
        &w.tenant,
        &w.site,
        "inquiry",
        good("sub-rate-0005"),
        &client("192.0.2.9"),
    )
    .await
    .unwrap();
    assert_eq!(sink.leads().len(), 4);
}

#[cfg(feature = "testing")]
#[tokio::test]
async fn a_failed_hand_off_is_retried_safely() {
    let w = world();
    let sink = Arc::new(MemoryLeadSink::new());
    let forms = service(&w, sink.clone());
    sink.fail_next(1);
    let e = forms
        .submit(
            &w.tenant,
            &w.site,
            "inquiry",
            good("sub-retry-01"),
            &client("192.0.2.1"),
        )
        .await
        .unwrap_err();
    assert!(e.is_retryable());
    let out = forms
        .submit(
            &w.tenant,
            &w.site,
            "inquiry",
            good("sub-retry-01"),
            &client("192.0.2.1"),
        )
        .await
        .unwrap();
    assert!(matches!(out, SubmitOutcome::Accepted { .. }));
    assert_eq!(
        forms
            .submit(
                &w.tenant,
                &w.site,
                "inquiry",
                good("sub-retry-01"),
                &client("192.0.2.1")
            )
            .await
            .unwrap(),
        out
    );
    assert_eq!(sink.leads().len(), 1);
    // The same submission id with other content is refused.
    let mut other = good("sub-retry-01");
    other.fields.insert("company".into(), "另一家公司".into());
    let e = forms
        .submit(&w.tenant, &w.site, "inquiry", other, &client("192.0.2.1"))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        SitesError::Core(marketingforce_core::Error::IdempotencyMismatch { .. })
    ));
}

/// A submission whose hand-off failed left nothing behind: its retry is the same submission,
/// not another one counted against the visitor's rate limit.
#[cfg(feature = "testing")]
#[tokio::test]
async fn a_failed_hand_off_does_not_use_up_the_rate_limit() {
    let mut w = world();
    w.site.forms[0].rate_limit.per_client = 1;
    let sink = Arc::new(MemoryLeadSink::new());
    let forms = service(&w, sink.clone());
    sink.fail_next(1);
    let e = forms
        .submit(
            &w.tenant,
            &w.site,
            "inquiry",
            good("sub-limit-01"),
            &client("192.0.2.7"),
        )
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    let out = forms
        .submit(
            &w.tenant,
            &w.site,
            "inquiry",
            good("sub-limit-01"),
            &client("192.0.2.7"),
        )
        .await
        .unwrap();
    assert!(matches!(out, SubmitOutcome::Accepted { .. }));
    // Another submission from the same client is over the limit.
    let e = forms
        .submit(
            &w.tenant,
            &w.site,
            "inquiry",
            good("sub-limit-02"),
            &client("192.0.2.7"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, SitesError::RateLimited { .. }), "{e}");
    assert_eq!(sink.leads().len(), 1);
}

#[tokio::test]
async fn an_accepted_submission_reaches_the_crm_with_its_attribution_and_consent() {
    let w = world();
    let clock: Arc<dyn Clock> = w.clock.clone();
    let crm = Arc::new(
        Crm::builder(
            &marketingforce_core::env::Env::builder(w.store.clone())
                .keys(Arc::new(KeyRing::new("k1", [2; 32])))
                .clock(clock)
                .build(),
        )
        .build()
        .unwrap(),
    );
    let forms = service(&w, Arc::new(CrmLeadSink::new(crm.clone())));
    let out = forms
        .submit(
            &w.tenant,
            &w.site,
            "inquiry",
            good("sub-crm-0001"),
            &client("198.51.100.200"),
        )
        .await
        .unwrap();
    let SubmitOutcome::Accepted { submission, lead } = out else {
        panic!()
    };
    let leads = crm.find_by_mobile(&w.tenant, "13900001234").await.unwrap();
    assert_eq!(
        leads.iter().map(ToString::to_string).collect::<Vec<_>>(),
        std::slice::from_ref(&lead)
    );
    let l = crm.lead(&w.tenant, &leads[0]).await.unwrap();
    let touch = l.source().unwrap();
    assert_eq!(touch.source, Source::OwnSite);
    assert_eq!(touch.campaign.as_deref(), Some("expo"));
    assert_eq!(touch.platform.as_deref(), Some("ocean_engine"));
    assert_eq!(touch.product_interest, ["CK-6150"]);
    assert!(l.score > 0);
    // The submission record keeps the consent as shown and the attribution, never the values.
    let rec = Collection::<SubmissionRecord>::new(w.store.clone())
        .require(&w.tenant, &submission)
        .await
        .unwrap()
        .value;
    assert!(
        rec.consent.checked
            && rec.consent.text.contains("个人信息保护政策")
            && rec.consent.version == "2026-03"
    );
    assert_eq!(rec.click.as_ref().map(|c| c.id.as_str()), Some("CLK-1"));
    assert_eq!(rec.utm.source.as_deref(), Some("douyin"));
    assert_eq!(rec.fields, ["name", "mobile", "company", "product"]);
    let json = serde_json::to_string(&rec).unwrap();
    assert!(!json.contains("13900001234") && !json.contains("王芳") && !json.contains("192.0.2"));
    // The idempotency records hold keyed digests, not the request.
    let (fp, _) = w
        .store
        .idempotency(
            &w.tenant,
            &marketingforce_core::IdempotencyKey::new(submission.as_str())
                .unwrap()
                .derive("machinery-demo.inquiry")
                .scoped(marketingforce_sites::forms::SUBMIT_OPERATION),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!fp.contains("1390000"));
}

#[tokio::test]
async fn an_identified_visitor_feeds_behaviour_scoring() {
    use marketingforce_sites::analytics::{Collector, SiteRegistry, VisitAnalytics, VisitLog};
    use marketingforce_sites::forms::BehaviourKind;
    let w = world();
    let clock: Arc<dyn Clock> = w.clock.clone();
    let registry = Arc::new(SiteRegistry::new());
    registry.register(w.tenant, &w.site, &[]).unwrap();
    let collector = Collector::new(
        registry,
        SiteKey::new([1; 32]),
        clock.clone(),
        Arc::new(SeededIds::new(9, clock.clone())),
        Arc::new(VisitLog::new(w.store.clone(), 100)),
    );
    let browser = ClientInfo {
        ip: Some("192.0.2.3".parse().unwrap()),
        user_agent: Some("Mozilla/5.0 (Macintosh) Safari/605".into()),
        origin: Some("https://www.example-machinery.cn".into()),
    };
    let start = |page: &str| {
        serde_json::json!({"site": "machinery-demo", "page": page,
        "url": "https://www.example-machinery.cn/", "visitor": "visitor-ident-1"})
        .to_string()
    };
    let first = collector
        .start(start("products").as_bytes(), &browser)
        .await
        .unwrap();
    collector.flush().await.unwrap();
    let analytics = Arc::new(VisitAnalytics::new(&Env::new(w.store.clone())));
    let sink = Arc::new(MemoryLeadSink::new());
    let forms = builder(&w, sink.clone()).analytics(analytics).build();
    let mut s = good("sub-ident-01");
    s.token = Some(first.token.clone());
    forms
        .submit(&w.tenant, &w.site, "inquiry", s, &browser)
        .await
        .unwrap();
    let kinds: Vec<_> = sink
        .behaviours()
        .iter()
        .map(|b| (b.kind, b.topic.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (BehaviourKind::FormSubmit, Some("CK-6150".into())),
            (BehaviourKind::View, Some("products".into()))
        ]
    );
    // Later page views of the identified visitor reach the lead too, once each.
    collector
        .start(start("about").as_bytes(), &browser)
        .await
        .unwrap();
    collector.flush().await.unwrap();
    assert_eq!(
        forms
            .sync_behaviour(&w.tenant, "visitor-ident-1")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        forms
            .sync_behaviour(&w.tenant, "visitor-ident-1")
            .await
            .unwrap(),
        2
    );
    assert_eq!(sink.behaviours().len(), 3);
    assert_eq!(
        forms
            .sync_behaviour(&w.tenant, "visitor-unknown")
            .await
            .unwrap(),
        0
    );
}

/// A sink failing the way [`CrmLeadSink`] does when the CRM's store is down or its answer
/// was lost: the CRM's own error, wrapped.
#[derive(Debug)]
struct CrmDown(fn() -> marketingforce_core::Error);

#[async_trait::async_trait]
impl LeadSink for CrmDown {
    async fn capture(
        &self,
        _tenant: &TenantId,
        _lead: &marketingforce_sites::forms::SiteLead,
        _key: &str,
    ) -> Result<marketingforce_sites::forms::LeadRef, SitesError> {
        Err(marketingforce_crm::CrmError::Core((self.0)()).into())
    }

    async fn record_behaviour(
        &self,
        _tenant: &TenantId,
        _behaviour: &marketingforce_sites::forms::SiteBehaviour,
        _key: &str,
    ) -> Result<(), SitesError> {
        Err(marketingforce_crm::CrmError::Core((self.0)()).into())
    }
}

/// Guards `SitesError::is_retryable`: a submission that failed because the CRM was
/// unavailable, or whose hand-off outcome is unknown, must say a retry (same submission id)
/// may succeed, as the error's classification does; it answered "not retryable" for every
/// error wrapped from the CRM.
#[tokio::test]
async fn a_crm_outage_is_reported_retryable() {
    use marketingforce_core::Classify;
    let outages: [fn() -> marketingforce_core::Error; 2] = [
        || marketingforce_core::Error::backend_message("postgres", true, "connection reset"),
        || marketingforce_core::Error::outcome_unknown("crm.capture", "timed out"),
    ];
    for (i, outage) in outages.into_iter().enumerate() {
        let w = world();
        let forms = service(&w, Arc::new(CrmDown(outage)));
        let e = forms
            .submit(
                &w.tenant,
                &w.site,
                "inquiry",
                good(&format!("sub-outage-{i:02}")),
                &client("192.0.2.1"),
            )
            .await
            .unwrap_err();
        assert!(Classify::is_retryable(&e), "{e}");
        assert!(e.is_retryable(), "{e} is retryable, reported not");
    }
}

/// Guards the rate-limit bucket: it is per site, form and client. Two sites of one tenant
/// that both have a form `inquiry` (every industry template does) shared one counter, so a
/// client's submissions on one site used up, or a stricter limit on one site refused, its
/// budget on the other.
#[tokio::test]
async fn each_site_counts_its_own_rate_limit() {
    let w = world();
    let sink = Arc::new(MemoryLeadSink::new());
    let forms = service(&w, sink.clone());
    let mut strict = w.site.clone();
    strict.id = "machinery-strict".into();
    strict.forms[0].rate_limit.per_client = 1;
    forms
        .submit(
            &w.tenant,
            &w.site,
            "inquiry",
            good("sub-site-0001"),
            &client("192.0.2.7"),
        )
        .await
        .unwrap();
    // The same client's first submission on the other site is within that site's budget.
    forms
        .submit(
            &w.tenant,
            &strict,
            "inquiry",
            good("sub-site-0002"),
            &client("192.0.2.7"),
        )
        .await
        .unwrap();
    assert_eq!(sink.leads().len(), 2);
}

/// A validation error wrapped from another crate names its field through `SitesError::field`
/// as through `Classify::field` (the inherent method answered `None` for the modules' and the
/// content crate's errors).
#[test]
fn a_wrapped_validation_error_names_its_field() {
    use marketingforce_core::Classify;
    use marketingforce_sites::SitesError;
    let wrapped = [
        SitesError::Modules(marketingforce_modules::ModulesError::validation(
            "quantity",
            "must be positive",
        )),
        SitesError::Content(marketingforce_content::ContentError::Core(
            marketingforce_core::Error::validation("title", "is empty"),
        )),
    ];
    for e in wrapped {
        assert_eq!(e.field(), Classify::field(&e), "{e}");
        assert!(e.field().is_some(), "{e}");
    }
}

/// A submission holds personal data: its `Debug` (what a log line of the request shows) names
/// the fields filled in, never their values, the visitor id or the token.
#[test]
fn a_submission_debug_shows_no_personal_data() {
    let mut s = good("sub-debug-01");
    s.fields
        .insert("email".into(), "wang.fang@example.cn".into());
    s.visitor = Some("visitor-0000-4242".into());
    s.token = Some("eyJ0ZW5hbnQiOiJ4In0.c2ln".into());
    let shown = format!("{s:?}");
    for personal in [
        "王芳",
        "139-0000-1234",
        "wang.fang",
        "苏州某某机械",
        "visitor-0000-4242",
        "eyJ0ZW5hbnQiOiJ4In0",
    ] {
        assert!(!shown.contains(personal), "{personal} in {shown}");
    }
    assert!(
        shown.contains("mobile") && shown.contains("sub-debug-01"),
        "{shown}"
    );
}
