//! Analytics: refusals, sessions, sources, several writers over one store, rebuilds, durable
//! SQLite, and the evaluation report's site figures.

use std::sync::Arc;

use chrono::Duration;
use marketingforce_content::report::{
    EvaluationInput, InformationProvision, PromotionService, Reputation,
};
use marketingforce_core::env::Env;
use marketingforce_core::id::SeededIds;
use marketingforce_core::money::Money;
use marketingforce_core::storage::{MemoryStore, SqliteStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_sites::analytics::{
    site_figures, Collector, CsvRangeTable, Dimension, SiteRegistry, VisitAnalytics, VisitLog,
};
use marketingforce_sites::attribution::ClientInfo;
use marketingforce_sites::error::Refusal;
use marketingforce_sites::industry::IndustryTemplate;
use marketingforce_sites::keys::SiteKey;
use marketingforce_sites::model::Site;
use marketingforce_sites::SitesError;
use serde_json::json;

const ORIGIN: &str = "https://www.example-machinery.cn";

struct World {
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    site: Site,
    tenant: TenantId,
    registry: Arc<SiteRegistry>,
}

fn world(store: Arc<dyn Store>) -> World {
    let site = IndustryTemplate::Machinery.site().unwrap();
    let tenant = TenantId::new();
    let registry = Arc::new(SiteRegistry::new());
    registry.register(tenant, &site, &[]).unwrap();
    World {
        clock: Arc::new(ManualClock::at_rfc3339("2026-03-02T10:00:00+08:00").unwrap()),
        store,
        site,
        tenant,
        registry,
    }
}

fn collector(w: &World, seed: u64) -> Collector {
    let clock: Arc<dyn Clock> = w.clock.clone();
    Collector::new(
        w.registry.clone(),
        SiteKey::new([4; 32]),
        clock.clone(),
        Arc::new(SeededIds::new(seed, clock)),
        Arc::new(VisitLog::new(w.store.clone(), 1000)),
    )
    .with_locator(Arc::new(CsvRangeTable::test_table()))
}

fn browser(ip: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(ip.parse().unwrap()),
        user_agent: Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0".into()),
        origin: Some(ORIGIN.into()),
    }
}

fn start_body(
    page: &str,
    visitor: &str,
    referrer: Option<&str>,
    previous: Option<&str>,
) -> Vec<u8> {
    json!({"site": "machinery-demo", "page": page, "locale": "zh-CN", "variant": "mobile",
           "url": format!("{ORIGIN}/m/{page}.html"), "referrer": referrer, "visitor": visitor,
           "previous": previous})
    .to_string()
    .into_bytes()
}

fn events_body(token: &str, dwell: u64, scroll: u8) -> Vec<u8> {
    json!({"token": token, "events": [{"type": "dwell", "visible_ms": dwell}, {"type": "scroll", "depth_pct": scroll}]})
        .to_string()
        .into_bytes()
}

fn refusal(e: SitesError) -> Refusal {
    match e {
        SitesError::BeaconRefused(r) => r,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_beacons_are_refused() {
    let w = world(Arc::new(MemoryStore::new()));
    let c = collector(&w, 1);
    let ok = browser("192.0.2.1");
    let s = c
        .start(&start_body("products", "visitor-0001", None, None), &ok)
        .await
        .unwrap();

    // Oversized bodies, too many events, unknown fields.
    let big = vec![b' '; 10_000];
    assert_eq!(
        refusal(c.events(&big, &ok).await.unwrap_err()),
        Refusal::Oversized
    );
    let many: Vec<_> = (0..40)
        .map(|_| json!({"type": "scroll", "depth_pct": 1}))
        .collect();
    let body = json!({"token": s.token, "events": many}).to_string();
    assert_eq!(
        refusal(c.events(body.as_bytes(), &ok).await.unwrap_err()),
        Refusal::Oversized
    );
    let body =
        json!({"token": s.token, "events": [{"type": "dwell", "visible_ms": 1, "extra": 1}]})
            .to_string();
    assert_eq!(
        refusal(c.events(body.as_bytes(), &ok).await.unwrap_err()),
        Refusal::Malformed
    );
    let body = json!({"token": s.token, "events": [{"type": "form_start", "form": "not-a-form"}]})
        .to_string();
    assert_eq!(
        refusal(c.events(body.as_bytes(), &ok).await.unwrap_err()),
        Refusal::Malformed
    );

    // Forged tokens: edited claims, another key, garbage.
    let (claims, sig) = s.token.split_once('.').unwrap();
    let mut bytes: Vec<u8> = claims.bytes().collect();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    let edited = format!("{}.{sig}", String::from_utf8(bytes).unwrap());
    assert_eq!(
        refusal(
            c.events(&events_body(&edited, 1, 1), &ok)
                .await
                .unwrap_err()
        ),
        Refusal::BadSignature
    );
    let other_key = Collector::new(
        w.registry.clone(),
        SiteKey::new([9; 32]),
        w.clock.clone(),
        Arc::new(SeededIds::new(2, w.clock.clone())),
        Arc::new(VisitLog::new(w.store.clone(), 10)),
    );
    let foreign = other_key
        .start(&start_body("products", "visitor-0001", None, None), &ok)
        .await
        .unwrap();
    assert_eq!(
        refusal(
            c.events(&events_body(&foreign.token, 1, 1), &ok)
                .await
                .unwrap_err()
        ),
        Refusal::BadSignature
    );
    assert_eq!(
        refusal(c.events(&events_body("x.y", 1, 1), &ok).await.unwrap_err()),
        Refusal::Malformed
    );

    // Expired tokens.
    w.clock.advance(Duration::hours(25));
    assert_eq!(
        refusal(
            c.events(&events_body(&s.token, 1, 1), &ok)
                .await
                .unwrap_err()
        ),
        Refusal::Expired
    );

    // Starts from another origin, from bots, for unknown sites and pages.
    let mut foreign_origin = ok.clone();
    foreign_origin.origin = Some("https://evil.example".into());
    let body = start_body("products", "visitor-0001", None, None);
    assert_eq!(
        refusal(c.start(&body, &foreign_origin).await.unwrap_err()),
        Refusal::ForeignOrigin
    );
    let mut bot = ok.clone();
    bot.user_agent = Some("Mozilla/5.0 (compatible; Baiduspider/2.0)".into());
    assert_eq!(
        refusal(c.start(&body, &bot).await.unwrap_err()),
        Refusal::Bot
    );
    let body = start_body("no-such-page", "visitor-0001", None, None);
    assert_eq!(
        refusal(c.start(&body, &ok).await.unwrap_err()),
        Refusal::Malformed
    );
    let body = json!({"site": "other", "page": "home", "url": ORIGIN, "visitor": "visitor-0001"})
        .to_string();
    assert_eq!(
        refusal(c.start(body.as_bytes(), &ok).await.unwrap_err()),
        Refusal::UnknownSite
    );

    // The framework-agnostic handler answers with statuses; bots get 204 and no token.
    use marketingforce_sites::analytics::{CollectEndpoint, CollectRequest};
    let body = start_body("products", "visitor-0001", None, None);
    let r = c
        .handle(CollectRequest {
            endpoint: CollectEndpoint::Start,
            body: &body,
            client: &bot,
        })
        .await;
    assert_eq!((r.status, r.body.len()), (204, 0));
    let r = c
        .handle(CollectRequest {
            endpoint: CollectEndpoint::Events,
            body: &big,
            client: &ok,
        })
        .await;
    assert_eq!(r.status, 413);
    let r = c
        .handle(CollectRequest {
            endpoint: CollectEndpoint::Events,
            body: &events_body(&edited, 1, 1),
            client: &ok,
        })
        .await;
    assert_eq!(
        (r.status, String::from_utf8(r.body).unwrap()),
        (403, "{\"error\":\"bad_signature\"}".into())
    );

    // Nothing refused was written: one page view, and the foreign collector's.
    c.flush().await.unwrap();
    other_key.flush().await.unwrap();
    let analytics = VisitAnalytics::new(&Env::new(w.store.clone()));
    assert_eq!(analytics.catch_up(&w.tenant).await.unwrap(), 2);
}

#[tokio::test]
async fn sessions_sources_and_regions() {
    let w = world(Arc::new(MemoryStore::new()));
    let c = collector(&w, 1);
    let ua = browser("198.51.100.7");
    // Visit 1: from a Sogou search, two pages, then leaves.
    let a = c
        .start(
            &start_body(
                "home",
                "visitor-aaaa",
                Some("https://www.sogou.com/web?query=%E9%BE%99%E9%97%A8"),
                None,
            ),
            &ua,
        )
        .await
        .unwrap();
    w.clock.advance(Duration::seconds(30));
    c.events(&events_body(&a.token, 28_000, 60), &ua)
        .await
        .unwrap();
    let b = c
        .start(
            &start_body(
                "products",
                "visitor-aaaa",
                Some(&format!("{ORIGIN}/m/home.html")),
                Some(&a.token),
            ),
            &ua,
        )
        .await
        .unwrap();
    assert_eq!(a.session, b.session, "the next page continues the session");
    w.clock.advance(Duration::seconds(90));
    c.events(&events_body(&b.token, 85_000, 100), &ua)
        .await
        .unwrap();
    // The same beacon again (a duplicate delivery) and an older one changes nothing.
    c.events(&events_body(&b.token, 85_000, 100), &ua)
        .await
        .unwrap();
    c.events(&events_body(&b.token, 20_000, 30), &ua)
        .await
        .unwrap();
    // Back after 40 minutes: a new session, now direct.
    w.clock.advance(Duration::minutes(40));
    let d = c
        .start(
            &start_body("about", "visitor-aaaa", None, Some(&b.token)),
            &ua,
        )
        .await
        .unwrap();
    assert_ne!(d.session, a.session);
    // Another visitor from WeChat in Beijing, bounces.
    let e = c
        .start(
            &start_body(
                "home",
                "visitor-bbbb",
                Some("https://mp.weixin.qq.com/s/abc"),
                None,
            ),
            &browser("203.0.113.5"),
        )
        .await
        .unwrap();
    w.clock.advance(Duration::seconds(5));
    c.events(&events_body(&e.token, 4_000, 20), &browser("203.0.113.5"))
        .await
        .unwrap();
    c.flush().await.unwrap();

    let an = VisitAnalytics::new(&Env::new(w.store.clone()));
    let day = "2026-03-02".parse().unwrap();
    let pages = an
        .report(&w.tenant, Some("machinery-demo"), day, day, Dimension::Page)
        .await
        .unwrap();
    let home = pages.iter().find(|r| r.key == "home").unwrap();
    assert_eq!((home.pageviews, home.sessions, home.visitors), (2, 2, 2));
    assert_eq!(home.avg_dwell_ms, (28_000 + 4_000) / 2);
    let products = pages.iter().find(|r| r.key == "products").unwrap();
    assert_eq!(
        (products.avg_dwell_ms, products.avg_scroll_pct),
        (85_000, 100)
    );
    let sources = an
        .report(&w.tenant, None, day, day, Dimension::SourceDetail)
        .await
        .unwrap();
    let keys: Vec<(&str, u64)> = sources
        .iter()
        .map(|r| (r.key.as_str(), r.sessions))
        .collect();
    assert_eq!(
        keys,
        [("search:sogou", 1), ("direct", 1), ("social:wechat", 1)]
    );
    let kw = an
        .report(&w.tenant, None, day, day, Dimension::Keyword)
        .await
        .unwrap();
    assert_eq!(kw[0].key, "龙门");
    let regions = an
        .report(&w.tenant, None, day, day, Dimension::Region)
        .await
        .unwrap();
    assert_eq!(
        regions.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        ["江苏/苏州", "北京"]
    );
    let wechat = sources.iter().find(|r| r.key == "social:wechat").unwrap();
    assert_eq!(wechat.bounce_rate, rust_decimal::Decimal::ONE);
    let search = sources.iter().find(|r| r.key == "search:sogou").unwrap();
    assert_eq!(search.bounce_rate, rust_decimal::Decimal::ZERO);
    let visitor = an
        .visitor_pageviews(&w.tenant, "visitor-aaaa")
        .await
        .unwrap();
    assert_eq!(
        visitor.iter().map(|v| v.page.as_str()).collect::<Vec<_>>(),
        ["home", "products", "about"]
    );
}

/// Two processes append to one journal in interleaved, duplicated order; a fresh reader and a
/// rebuilt one agree with a reader that followed along.
async fn several_writers(store: Arc<dyn Store>) {
    let w = world(store);
    let p1 = collector(&w, 1);
    let p2 = collector(&w, 2);
    let follower = VisitAnalytics::new(&Env::new(w.store.clone()));
    let ua = browser("192.0.2.50");
    let mut tokens = Vec::new();
    for i in 0..40 {
        let c = if i % 2 == 0 { &p1 } else { &p2 };
        let s = c
            .start(
                &start_body(
                    ["home", "products", "about", "contact"][i % 4],
                    &format!("visitor-{i:04}"),
                    None,
                    None,
                ),
                &ua,
            )
            .await
            .unwrap();
        tokens.push(s.token);
        if i % 7 == 0 {
            p2.flush().await.unwrap();
            follower.catch_up(&w.tenant).await.unwrap();
        }
    }
    w.clock.advance(Duration::seconds(60));
    for (i, t) in tokens.iter().enumerate() {
        // The beacon goes to the other process than the start; some are delivered twice.
        let c = if i % 2 == 0 { &p2 } else { &p1 };
        c.events(&events_body(t, 1_000 * (i as u64 + 1), 50), &ua)
            .await
            .unwrap();
        if i % 5 == 0 {
            c.events(&events_body(t, 1_000 * (i as u64 + 1), 50), &ua)
                .await
                .unwrap();
        }
    }
    // Activity of process 2 is committed before the page views of process 1.
    p2.flush().await.unwrap();
    follower.catch_up(&w.tenant).await.unwrap();
    p1.flush().await.unwrap();
    let day = "2026-03-02".parse().unwrap();
    let a = follower
        .report(&w.tenant, None, day, day, Dimension::Page)
        .await
        .unwrap();
    let fresh = VisitAnalytics::new(&Env::new(w.store.clone()));
    let b = fresh
        .report(&w.tenant, None, day, day, Dimension::Page)
        .await
        .unwrap();
    follower.rebuild(&w.tenant).await.unwrap();
    let c = follower
        .report(&w.tenant, None, day, day, Dimension::Page)
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(b, c);
    assert_eq!(a.iter().map(|r| r.pageviews).sum::<u64>(), 40);
    let total_dwell: u64 = a.iter().map(|r| r.avg_dwell_ms * r.pageviews).sum();
    assert_eq!(total_dwell, (1..=40).map(|i| i * 1_000).sum::<u64>());
}

#[tokio::test]
async fn several_writers_in_memory() {
    several_writers(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn several_writers_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("visits.sqlite"))
        .await
        .unwrap();
    several_writers(Arc::new(store)).await;
}

#[tokio::test]
async fn the_evaluation_report_reads_the_site_figures() {
    let w = world(Arc::new(MemoryStore::new()));
    let c = collector(&w, 1);
    let ua = browser("192.0.2.1");
    for (i, day_offset) in [0i64, 0, 1].into_iter().enumerate() {
        w.clock.advance(Duration::days(day_offset));
        let s = c
            .start(
                &start_body("home", &format!("visitor-{i:04}"), None, None),
                &ua,
            )
            .await
            .unwrap();
        w.clock.advance(Duration::seconds(20));
        let body = json!({"token": s.token, "events": [{"type": "load", "ms": 900 + 100 * i},
            {"type": "dwell", "visible_ms": 15_000}, {"type": "form_submit", "form": "inquiry"}]})
        .to_string();
        c.events(body.as_bytes(), &ua).await.unwrap();
    }
    c.flush().await.unwrap();
    let an = VisitAnalytics::new(&Env::new(w.store.clone()));
    let (from, to) = ("2026-03-01".parse().unwrap(), "2026-03-31".parse().unwrap());
    let figures = site_figures(&an, &w.tenant, &w.site, from, to)
        .await
        .unwrap();
    assert_eq!(
        (figures.visits, figures.pageviews, figures.inquiries),
        (3, 3, 3)
    );
    assert_eq!(figures.median_load_ms, Some(1000));
    assert!(
        figures.features.mobile_site
            && figures.features.multilingual
            && figures.features.contact_forms
    );
    let mut input = evaluation_input(from, to);
    figures.apply_to(&mut input);
    assert_eq!(input.site_visits, 3);
    assert_eq!(input.site.page_load_ms, 1000);
    assert_eq!(
        input
            .daily
            .iter()
            .map(|d| (d.date.to_string(), d.views, d.inquiries))
            .collect::<Vec<_>>(),
        [
            ("2026-03-02".to_string(), 2, 2),
            ("2026-03-03".to_string(), 1, 1)
        ]
    );
    let report = marketingforce_content::report::evaluate(
        &input,
        &marketingforce_content::report::PeerBenchmarks::builtin(),
    )
    .unwrap();
    assert!(report.aspects[0]
        .findings
        .iter()
        .any(|f| f.contains("有手机站")));
}

/// The site's figures are added into an evaluation input as it comes (hand-typed, or from
/// another tool): daily counts of any size saturate instead of overflowing.
#[test]
fn site_figures_add_into_daily_counts_of_any_size() {
    use marketingforce_content::report::DailyMetrics;
    use marketingforce_sites::analytics::SiteFigures;
    let day: chrono::NaiveDate = "2026-03-02".parse().unwrap();
    let figures = SiteFigures {
        from: day,
        to: day,
        visits: 1,
        pageviews: 1,
        visitors: 1,
        avg_dwell_ms: 0,
        inquiries: 1,
        median_load_ms: None,
        features: Default::default(),
        daily: vec![DailyMetrics {
            date: day,
            exposures: 0,
            views: 1,
            inquiries: 1,
        }],
    };
    let mut input = EvaluationInput {
        daily: vec![DailyMetrics {
            date: day,
            exposures: u64::MAX,
            views: u64::MAX,
            inquiries: u64::MAX,
        }],
        ..evaluation_input(day, day)
    };
    figures.apply_to(&mut input);
    assert_eq!(
        (
            input.daily.len(),
            input.daily[0].views,
            input.daily[0].inquiries
        ),
        (1, u64::MAX, u64::MAX)
    );
}

#[test]
fn the_shipped_ip_table_is_valid_and_bad_tables_name_the_line() {
    assert!(CsvRangeTable::test_table().len() >= 5);
    let e = CsvRangeTable::from_csv("start,end,country,province,city\n1.2.3.4,1.2.3.0,CN,上海,\n")
        .unwrap_err();
    assert_eq!(e.field(), Some("line 2.end"));
    let e = CsvRangeTable::from_csv("start,end,country,province,city\n1.2.3.4,not-ip,CN,上海,\n")
        .unwrap_err();
    assert_eq!(e.field(), Some("line 2.end"));
    let e = CsvRangeTable::from_csv(
        "start,end,country,province,city\n1.0.0.0,1.0.0.9,CN,上海,\n1.0.0.5,1.0.0.20,CN,北京,\n",
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("ranges"));
}

/// Guards `site_figures`' mean dwell: it must be the analytics report's own mean over the
/// period (page views that reported a visible time), not the per-variant means re-weighted by
/// every page view of the variant (which skewed it when some page views sent no dwell).
#[tokio::test]
async fn site_figures_mean_dwell_matches_the_report_across_variants() {
    let w = world(Arc::new(MemoryStore::new()));
    let c = collector(&w, 7);
    let ua = browser("192.0.2.1");
    // PC: one page view with 1 s visible, one that never sent a dwell; mobile: one with 4 s.
    for (i, (variant, dwell)) in [
        ("pc", Some(1_000u64)),
        ("pc", None),
        ("mobile", Some(4_000)),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"site": "machinery-demo", "page": "home", "locale": "zh-CN",
            "variant": variant, "url": format!("{ORIGIN}/"), "visitor": format!("visitor-{i:04}")})
        .to_string();
        let s = c.start(body.as_bytes(), &ua).await.unwrap();
        if let Some(ms) = dwell {
            w.clock.advance(Duration::seconds(10));
            let events = json!({"token": s.token, "events": [{"type": "dwell", "visible_ms": ms}]});
            c.events(events.to_string().as_bytes(), &ua).await.unwrap();
        }
    }
    c.flush().await.unwrap();
    let an = VisitAnalytics::new(&Env::new(w.store.clone()));
    let (from, to) = ("2026-03-01".parse().unwrap(), "2026-03-31".parse().unwrap());
    let total = an
        .report(&w.tenant, Some(&w.site.id), from, to, Dimension::Total)
        .await
        .unwrap();
    assert_eq!(total[0].avg_dwell_ms, 2_500);
    let figures = site_figures(&an, &w.tenant, &w.site, from, to)
        .await
        .unwrap();
    assert_eq!(figures.pageviews, 3);
    assert_eq!(figures.avg_dwell_ms, total[0].avg_dwell_ms);
}

/// An evaluation input of a small machinery company from `from` to `to`, with no site or
/// channel figures yet.
fn evaluation_input(from: chrono::NaiveDate, to: chrono::NaiveDate) -> EvaluationInput {
    EvaluationInput {
        company: "示例精密机械".into(),
        industry: "industrial-machinery".into(),
        from,
        to,
        site_visits: 0,
        site: Default::default(),
        channels: vec![],
        promotion: PromotionService {
            products_listed: 3,
            content_published: 2,
            avg_response_minutes: 10,
            service_hours_per_day: 8,
            inquiry_response_rate: 0.9,
        },
        reputation: Reputation {
            positive: 1,
            neutral: 0,
            negative: 0,
            rating: None,
        },
        information: InformationProvision {
            pages_with_specs: 1.0,
            updated_recently: 0.5,
            faq_entries: 0,
            case_studies: 2,
        },
        spend: Money::cny("1000").unwrap(),
        leads: 3,
        daily: vec![],
    }
}
