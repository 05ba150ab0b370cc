//! Benchmarks with printed figures, each against a baseline measured in the same run:
//!
//! - rendering: pages per second, one page of 上海精工's site (PC home, all blocks) through
//!   minijinja, against JSON-encoding the same page's block tree (target ≥ 5,000 pages/s per
//!   core);
//! - beacon ingestion in memory: events per second through the collector (JSON decode, token
//!   HMAC check, record, group commit into the memory store), against JSON-decoding the same
//!   beacons (target ≥ 200,000 events/s);
//! - durable beacon ingestion on SQLite: the same with group commit into a SQLite file, against
//!   the in-memory ingestion of the same run (target ≥ 50,000 events/s).
//!
//! Run: `cargo bench -p marketingforce-sites --bench sites` (prints a `JSON [...]` line that
//! `scripts/bench.py` collects).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use marketingforce_core::id::SeededIds;
use marketingforce_core::storage::{MemoryStore, SqliteStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_sites::analytics::{Collector, EventBatch, SiteRegistry, VisitLog};
use marketingforce_sites::attribution::ClientInfo;
use marketingforce_sites::demo;
use marketingforce_sites::keys::SiteKey;
use marketingforce_sites::model::Locale;
use marketingforce_sites::render::{Renderer, Variant};
use serde_json::json;

const EVENTS_PER_BEACON: usize = 4;

/// Average seconds per call of `f` over about `budget`.
fn time_per_call(budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            f();
        }
        n += 16;
    }
    start.elapsed().as_secs_f64() / n as f64
}

fn collector(store: Arc<dyn Store>, tenant: TenantId, batch: usize) -> (Collector, Vec<Vec<u8>>) {
    let demo = demo::jinggong().unwrap();
    let registry = Arc::new(SiteRegistry::new());
    registry.register(tenant, &demo.site, &[]).unwrap();
    let clock: Arc<dyn Clock> =
        Arc::new(ManualClock::at_rfc3339("2026-03-02T10:00:00+08:00").unwrap());
    let c = Collector::new(
        registry,
        SiteKey::new([8; 32]),
        clock.clone(),
        Arc::new(SeededIds::new(1, clock)),
        Arc::new(VisitLog::new(store, batch)),
    );
    let client = client();
    let mut beacons = Vec::new();
    for i in 0..1000 {
        let start = json!({"site": "jinggong", "page": "products", "url": "https://www.jinggong.example/products.html?utm_source=baidu&bd_vid=abc",
            "referrer": "https://www.baidu.com/s?wd=x", "visitor": format!("visitor-{i:05}")}).to_string();
        let (_, _, s) = c.accept_start(start.as_bytes(), &client).unwrap();
        beacons.push(
            json!({"token": s.token, "events": [
            {"type": "dwell", "visible_ms": 1000 + i}, {"type": "scroll", "depth_pct": 60},
            {"type": "load", "ms": 800}, {"type": "form_start", "form": "inquiry"}]})
            .to_string()
            .into_bytes(),
        );
    }
    (c, beacons)
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("192.0.2.1".parse().unwrap()),
        user_agent: Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0".into()),
        origin: Some("https://www.jinggong.example".into()),
    }
}

/// Events per second through `c` for about `budget`, flushing as the log fills and at the end.
fn ingest(
    rt: &tokio::runtime::Runtime,
    c: &Collector,
    beacons: &[Vec<u8>],
    budget: Duration,
) -> f64 {
    let client = client();
    rt.block_on(async {
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed() < budget {
            for b in beacons.iter().take(250) {
                c.events(b, &client).await.unwrap();
            }
            n += 250;
        }
        c.flush().await.unwrap();
        (n * EVENTS_PER_BEACON) as f64 / start.elapsed().as_secs_f64()
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let budget = Duration::from_millis(2000);

    // --- rendering -------------------------------------------------------------------------
    let demo = demo::jinggong().unwrap();
    let renderer = Renderer::new();
    let prepared = renderer.prepare(&demo.site, &demo.inputs).unwrap();
    let home = demo.site.page("").unwrap();
    let html = prepared
        .render_page(home, Locale::ZhCn, Variant::Pc)
        .unwrap();
    let render = time_per_call(budget, || {
        black_box(
            prepared
                .render_page(black_box(home), Locale::ZhCn, Variant::Pc)
                .unwrap()
                .len(),
        );
    });
    let render_mobile = time_per_call(budget, || {
        black_box(
            prepared
                .render_page(black_box(home), Locale::En, Variant::Mobile)
                .unwrap()
                .len(),
        );
    });
    let json_page = time_per_call(budget, || {
        black_box(serde_json::to_vec(black_box(home)).unwrap().len());
    });
    let whole = time_per_call(budget, || {
        black_box(
            renderer
                .render(&demo.site, &demo.inputs)
                .unwrap()
                .files
                .len(),
        );
    });
    let site_pages = renderer
        .render(&demo.site, &demo.inputs)
        .unwrap()
        .pages()
        .count();

    // --- beacons in memory ------------------------------------------------------------------
    let tenant = TenantId::new();
    let (mem, beacons) = collector(Arc::new(MemoryStore::new()), tenant, 1000);
    let decode = time_per_call(budget, || {
        for b in beacons.iter().take(100) {
            black_box(
                serde_json::from_slice::<EventBatch>(b)
                    .unwrap()
                    .events
                    .len(),
            );
        }
    }) / 100.0;
    let memory = ingest(&rt, &mem, &beacons, budget);

    // --- beacons durable on SQLite ----------------------------------------------------------
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> = Arc::new(
        rt.block_on(SqliteStore::open(dir.path().join("visits.sqlite")))
            .unwrap(),
    );
    let (durable, beacons) = collector(sqlite.clone(), tenant, 2000);
    let sqlite_rate = ingest(&rt, &durable, &beacons, budget);
    let committed = rt
        .block_on(sqlite.read_journal(
            &tenant,
            marketingforce_sites::analytics::VISIT_JOURNAL,
            0,
            1,
        ))
        .unwrap()
        .len();
    assert_eq!(committed, 1, "the durable run committed its records");

    println!("\n=== marketingforce-sites figures (1 core) ===");
    println!(
        "render: {:.0} pages/s (PC home of 上海精工, {} bytes of HTML), mobile English {:.0} pages/s; JSON-encoding the block tree {:.0}/s; whole site ({site_pages} pages + sitemap, CSS, assets) {:.0} sites/s",
        1.0 / render, html.len(), 1.0 / render_mobile, 1.0 / json_page, 1.0 / whole
    );
    println!(
        "beacons: {:.0} events/s in memory, {:.0} events/s durable on SQLite (group commit of 2,000 beacons); JSON-decoding alone {:.0} events/s",
        memory, sqlite_rate, EVENTS_PER_BEACON as f64 / decode
    );

    let figures = json!([
        {
            "id": "sites.render.page",
            "label": "site page rendered to HTML (minijinja, auto-escaped), PC home",
            "value": 1.0 / render,
            "unit": "pages/s",
            "baseline": "JSON-encode the same page's block tree",
            "baseline_value": 1.0 / json_page,
        },
        {
            "id": "sites.render.page_mobile",
            "label": "derived mobile page (English, fallbacks) rendered",
            "value": 1.0 / render_mobile,
            "unit": "pages/s",
            "baseline": "the PC page of the same run",
            "baseline_value": 1.0 / render,
        },
        {
            "id": "sites.beacons.memory",
            "label": "beacon events ingested in memory (decode, token check, group commit)",
            "value": memory,
            "unit": "events/s",
            "baseline": "JSON-decode the same beacons",
            "baseline_value": EVENTS_PER_BEACON as f64 / decode,
        },
        {
            "id": "sites.beacons.sqlite",
            "label": "beacon events ingested durably on SQLite, group commit",
            "value": sqlite_rate,
            "unit": "events/s",
            "baseline": "the in-memory ingestion of the same run",
            "baseline_value": memory,
        },
    ]);
    println!("JSON {figures}");
}
