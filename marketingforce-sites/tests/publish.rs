//! Publishing: the module gate names what is missing, the compliance review names every block
//! it does not approve, and 上海精工's demo site passes both.

use std::sync::Arc;

use chrono::NaiveDate;
use marketingforce_content::compliance::ReviewService;
use marketingforce_core::env::Env;
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_core::IdempotencyKey;
use marketingforce_modules::catalog::ModuleId;
use marketingforce_modules::entitlements::{Entitlements, Grant};
use marketingforce_modules::ModulesError;
use marketingforce_sites::model::{Block, Text};
use marketingforce_sites::publish::{required_modules, text_units, SitePublisher};
use marketingforce_sites::SitesError;

fn setup() -> (Arc<dyn Clock>, SitePublisher, TenantId) {
    let clock: Arc<dyn Clock> =
        Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let reviews = ReviewService::new(&Env::builder(store.clone()).clock(clock.clone()).build());
    (
        clock.clone(),
        SitePublisher::builder(&Env::builder(store).clock(clock).build())
            .reviews(reviews)
            .build(),
        TenantId::new(),
    )
}

fn grant(tenant: TenantId, modules: &[ModuleId], clock: Arc<dyn Clock>) -> Entitlements {
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    let g = modules.iter().fold(
        Grant::new(tenant, d("2026-03-01"), d("2027-03-01")),
        |g, m| g.module(m.clone()),
    );
    Entitlements::from_grant(g, clock).unwrap()
}

#[tokio::test]
async fn the_demo_site_passes_both_gates_and_publishing_is_idempotent() {
    let (clock, publisher, tenant) = setup();
    let demo = marketingforce_sites::demo::jinggong().unwrap();
    let ents = grant(tenant, &required_modules(&demo.site), clock);
    let a = publisher
        .publish(
            &tenant,
            &demo.site,
            &demo.inputs,
            &ents,
            &IdempotencyKey::new("publish-1").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        a.record.texts_reviewed,
        text_units(&demo.site, &demo.inputs.articles).len()
    );
    assert!(a.record.texts_reviewed > 40);
    let b = publisher
        .publish(
            &tenant,
            &demo.site,
            &demo.inputs,
            &ents,
            &IdempotencyKey::new("publish-1").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(a.record, b.record);
    assert_eq!(a.output.digest(), b.output.digest());
}

#[tokio::test]
async fn the_gates_name_what_blocks_publishing() {
    let (clock, publisher, tenant) = setup();
    let demo = marketingforce_sites::demo::jinggong().unwrap();
    let no_mobile = grant(
        tenant,
        &[ModuleId::PLATFORM_BUILDER, ModuleId::MULTILINGUAL_SITES],
        clock.clone(),
    );
    match publisher
        .publish(
            &tenant,
            &demo.site,
            &demo.inputs,
            &no_mobile,
            &IdempotencyKey::new("p-1").unwrap(),
        )
        .await
    {
        Err(SitesError::Modules(ModulesError::NotEntitled { module, .. })) => {
            assert_eq!(module, ModuleId::PC_TO_MOBILE)
        }
        other => panic!("{other:?}"),
    }
    let other_tenant = grant(
        TenantId::new(),
        &required_modules(&demo.site),
        clock.clone(),
    );
    assert!(matches!(
        publisher
            .publish(
                &tenant,
                &demo.site,
                &demo.inputs,
                &other_tenant,
                &IdempotencyKey::new("p-2").unwrap()
            )
            .await,
        Err(SitesError::Core(
            marketingforce_core::Error::TenantIsolation { .. }
        ))
    ));

    let ents = grant(tenant, &required_modules(&demo.site), clock);
    let mut site = demo.site.clone();
    // Superlatives in an English product name inside the grid, and in a nested rich text.
    if let Block::ProductGrid(g) = &mut site.pages[0].blocks[2] {
        g.products[0].name = g.products[0].name.clone().with(
            marketingforce_sites::model::Locale::En,
            "The best machining centre, No. 1 in China",
        );
    }
    if let Block::Section(s) = &mut site.pages[0].blocks[1] {
        if let Block::RichText(r) = &mut s.children[0] {
            r.markdown = Text::zh("## 精度\n\n全网最低价，国家级品质。");
        }
    }
    match publisher
        .publish(
            &tenant,
            &site,
            &demo.inputs,
            &ents,
            &IdempotencyKey::new("p-3").unwrap(),
        )
        .await
    {
        Err(SitesError::ComplianceBlocked { blocked }) => {
            let paths: Vec<&str> = blocked.iter().map(|b| b.path.as_str()).collect();
            assert_eq!(
                paths,
                [
                    "pages[0].blocks[1].children[0] (zh-CN)",
                    "pages[0].blocks[2] (en)"
                ],
                "{blocked:?}"
            );
            assert!(blocked
                .iter()
                .all(|b| !b.terms.is_empty() && b.decision == "rejected"));
        }
        other => panic!("{other:?}"),
    }
}
