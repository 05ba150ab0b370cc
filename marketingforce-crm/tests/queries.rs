//! `Crm::find_leads`: filters by status, stage, source and last update, bounded pages that
//! cover every match exactly once, queries answered through the store's indexes (memory,
//! SQLite, and PostgreSQL when `MARKETINGFORCE_TEST_POSTGRES_URL` is set), typed
//! refusals of bad queries, tenant isolation.

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

#[test]
fn queries_by_owner_stage_or_status_read_the_index_and_answer_full_pages() {
    run(async {
        indexed_queries(Env::new(CrmConfig::default())).await;
        // The same through SQLite's index table, and PostgreSQL's when a server is given.
        let dir = tempfile::tempdir().unwrap();
        for store in common::durable_stores(dir.path(), "mf_crm_queries").await {
            indexed_queries(Env::on(store, CrmConfig::default())).await;
        }
    });
}

/// 400 leads, five of them (spread over the id order) owned by the one salesperson and one
/// merged: queries by owner, stage and status answer full pages in one call.
async fn indexed_queries(env: Env) {
    use marketingforce_crm::allocation::{AllocationRule, Strategy};
    use marketingforce_crm::staff::Role;
    use marketingforce_crm::Allocation;
    let (crm, t) = (&env.crm, env.tenant);
    // 400 leads; five of them, spread over the id order, go to the one salesperson. A
    // scan would examine at most 20 leads per lead asked for.
    let reqs: Vec<CaptureRequest> = (0..400)
        .map(|i| {
            CaptureRequest::new(Source::WeCom)
                .name(format!("客户{i}"))
                .mobile(format!("13{:09}", 100_000 + i * 13))
        })
        .collect();
    let mut ordered: Vec<_> = crm
        .capture_batch(&t, &reqs, &IdempotencyKey::from_static("import"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap().lead())
        .collect();
    ordered.sort();
    let chosen: Vec<_> = [30, 120, 210, 300, 390].map(|i| ordered[i]).to_vec();
    let sales = env.staff(Role::Salesperson, 1, None).await;
    let mut cfg = CrmConfig::default();
    cfg.allocation.rules = vec![AllocationRule::new(
        "all",
        Strategy::RoundRobin,
        vec![sales],
    )];
    crm.configure(&t, cfg).await.unwrap();
    for a in crm
        .allocate(&t, &chosen, &IdempotencyKey::from_static("alloc"))
        .await
        .unwrap()
    {
        assert!(
            matches!(a, Allocation::Assigned { to, .. } if to == sales),
            "{a:?}"
        );
    }
    crm.merge(
        &t,
        ordered[5],
        ordered[395],
        &Actor::system("ops"),
        &IdempotencyKey::from_static("merge"),
    )
    .await
    .unwrap();

    for query in [
        LeadQuery::new().owner(sales).limit(5),
        LeadQuery::new().stage(Stage::Assigned).limit(5),
        LeadQuery::new()
            .owner(sales)
            .stage(Stage::Assigned)
            .limit(5),
    ] {
        let page = crm.find_leads(&t, &query).await.unwrap();
        let got: Vec<_> = page.items.iter().map(|l| l.id).collect();
        assert_eq!((got, page.next), (chosen.clone(), None), "{query:?}");
    }
    // Pages of two through the owner's leads: each once, in id order.
    let mut query = LeadQuery::new().owner(sales).limit(2);
    let mut seen = Vec::new();
    loop {
        let page = crm.find_leads(&t, &query).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|l| l.id));
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
    }
    assert_eq!(seen, chosen);
    // The index narrows, every other condition still holds.
    for query in [
        LeadQuery::new().owner(sales).source(Source::OwnSite),
        LeadQuery::new().owner(sales).stage(Stage::New),
    ] {
        let page = crm.find_leads(&t, &query).await.unwrap();
        assert!(page.items.is_empty(), "{query:?}");
    }
    let merged = crm
        .find_leads(&t, &LeadQuery::new().status(StatusFilter::Merged).limit(1))
        .await
        .unwrap();
    let got: Vec<_> = merged.items.iter().map(|l| l.id).collect();
    assert_eq!((got, merged.next), (vec![ordered[395]], None));
}
