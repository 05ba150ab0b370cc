//! `Crm::find_leads`: filters by status, stage, source and last update, bounded pages that
//! cover every match exactly once, typed refusals of bad queries, tenant isolation.

mod common;

use marketingforce_core::IdempotencyKey;
use std::collections::BTreeSet;

use chrono::Duration;
use common::{run, Env};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use marketingforce_crm::model::{Actor, Source, Stage};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::{CrmConfig, CrmError, LeadQuery, StatusFilter};

fn mobile(i: usize) -> String {
    format!("1391234{:04}", 1000 + i * 7)
}

#[test]
fn queries_filter_and_page_through_every_match_once() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, env.tenant);
        let mut site = BTreeSet::new();
        for i in 0..45 {
            let source = if i % 3 == 0 {
                Source::OwnSite
            } else {
                Source::WeCom
            };
            let req = CaptureRequest::new(source)
                .name(format!("客户{i}"))
                .mobile(mobile(i));
            let lead = crm
                .capture(&t, req, &IdempotencyKey::new(format!("cap-{i}")).unwrap())
                .await
                .unwrap()
                .lead();
            if source == Source::OwnSite {
                site.insert(lead.to_string());
            }
        }
        // A duplicate of lead 0 merges into it: 45 live leads, nothing merged away.
        crm.capture(
            &t,
            CaptureRequest::new(Source::Referral).mobile(mobile(0)),
            &IdempotencyKey::from_static("dup"),
        )
        .await
        .unwrap();
        let since = env.clock.now();
        env.clock.advance(Duration::minutes(5));
        let all = crm
            .find_leads(&t, &LeadQuery::new().limit(1_000))
            .await
            .unwrap();
        assert_eq!((all.items.len(), all.next.is_none()), (45, true));
        let first = all.items[1].id;
        crm.transition(
            &t,
            &first,
            Stage::Assigned,
            &Actor::system("test"),
            None,
            &IdempotencyKey::from_static("t1"),
        )
        .await
        .unwrap();

        // Pages of 4 over the site leads: every one exactly once, no page longer than 4.
        let mut seen = BTreeSet::new();
        let mut query = LeadQuery::new().source(Source::OwnSite).limit(4);
        let mut pages = 0;
        loop {
            let page = crm.find_leads(&t, &query).await.unwrap();
            assert!(page.items.len() <= 4);
            for l in &page.items {
                assert!(seen.insert(l.id.to_string()), "seen twice");
            }
            pages += 1;
            match page.next {
                Some(next) => query = query.after(next),
                None => break,
            }
        }
        assert_eq!(seen, site);
        assert!(pages >= 4);
        // The referral touch of lead 0 makes it match `Referral` too.
        let referral = crm
            .find_leads(&t, &LeadQuery::new().source(Source::Referral))
            .await
            .unwrap();
        assert_eq!(referral.items.len(), 1);
        // Stage and updated-since.
        let contacted = crm
            .find_leads(&t, &LeadQuery::new().stage(Stage::Assigned))
            .await
            .unwrap();
        assert_eq!(
            contacted.items.iter().map(|l| l.id).collect::<Vec<_>>(),
            [first]
        );
        let recent = crm
            .find_leads(
                &t,
                &LeadQuery::new().updated_since(since + Duration::minutes(1)),
            )
            .await
            .unwrap();
        assert_eq!(recent.items.len(), 1);
        assert!(crm
            .find_leads(&t, &LeadQuery::new().status(StatusFilter::Merged))
            .await
            .unwrap()
            .items
            .is_empty());
        assert!(crm
            .find_leads(&t, &LeadQuery::new().tag("vip"))
            .await
            .unwrap()
            .items
            .is_empty());
        // Another tenant sees nothing.
        assert!(crm
            .find_leads(&TenantId::new(), &LeadQuery::new())
            .await
            .unwrap()
            .items
            .is_empty());
    });
}

#[test]
fn bad_queries_are_refused_naming_the_field() {
    run(async {
        let env = Env::new(CrmConfig::default());
        for (query, field) in [
            (LeadQuery::new().limit(0), "limit"),
            (LeadQuery::new().limit(LeadQuery::MAX_LIMIT + 1), "limit"),
            (LeadQuery::new().tag("  "), "tag"),
        ] {
            match env.crm.find_leads(&env.tenant, &query).await {
                Err(CrmError::Core(marketingforce_core::Error::Validation {
                    field: f, ..
                })) => {
                    assert_eq!(f, field)
                }
                other => panic!("{query:?}: {other:?}"),
            }
        }
    });
}

#[test]
fn a_selective_query_answers_a_short_page_with_a_cursor() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, env.tenant);
        // 60 WeCom leads, then one site lead: a page of 2 examines at most 40 leads.
        for i in 0..61 {
            let source = if i == 60 {
                Source::OwnSite
            } else {
                Source::WeCom
            };
            let req = CaptureRequest::new(source)
                .name(format!("客户{i}"))
                .mobile(mobile(i));
            crm.capture(&t, req, &IdempotencyKey::new(format!("cap-{i}")).unwrap())
                .await
                .unwrap();
        }
        let mut query = LeadQuery::new().source(Source::OwnSite).limit(2);
        let mut found = 0;
        let mut calls = 0;
        loop {
            let page = crm.find_leads(&t, &query).await.unwrap();
            calls += 1;
            found += page.items.len();
            match page.next {
                Some(next) => query = query.after(next),
                None => break,
            }
        }
        assert_eq!(found, 1);
        assert!(calls >= 2, "the scan is bounded per call");
    });
}
