//! A funnel report over 1M leads (stages, sources, platforms, domains, owners, daily trend,
//! response-time percentiles), against a bare pass counting stages.
//! Run: `cargo bench -p marketingforce-crm --bench funnel`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use marketingforce_core::id::{splitmix64, Uuid};
use marketingforce_crm::funnel::{Bucket, FunnelFacts, FunnelIndex, FunnelQuery};
use marketingforce_crm::ids::UserId;
use marketingforce_crm::model::{Domain, Source, Stage};

fn main() {
    let n = 1_000_000u64;
    let facts: Vec<FunnelFacts> = (0..n)
        .map(|i| {
            let x = splitmix64(i ^ 0xF00D);
            let depth = (x % 7) as usize;
            let mut reached = 0u16;
            for s in Stage::FUNNEL.iter().take(depth + 1) {
                reached |= s.bit();
            }
            FunnelFacts {
                stage: Stage::FUNNEL[depth],
                reached,
                source: Source::ALL[((x >> 8) % 9) as usize],
                platform: ((x >> 16) % 6) as u16,
                domain: if (x >> 20).is_multiple_of(3) {
                    Domain::Private
                } else {
                    Domain::Public
                },
                owner: ((x >> 24) % 200) as u32,
                created_day: 20_454 + ((x >> 32) % 365) as i32,
                response_secs: (depth > 1).then_some(((x >> 40) % 86_400) as u32),
                repeat_inquiries: u32::from((x >> 50).is_multiple_of(20)),
            }
        })
        .collect();
    let platforms = ["baidu", "douyin", "wechat", "xiaohongshu", "zhihu", "own"]
        .map(String::from)
        .to_vec();
    let owners: Vec<UserId> = (0..200)
        .map(|i| UserId::from_uuid(Uuid::from_u128(i + 1)))
        .collect();
    let index = FunnelIndex::from_facts(facts.clone(), platforms, owners);

    let t0 = Instant::now();
    let mut counts = [0u64; 10];
    for f in &facts {
        counts[f.stage as usize] += 1;
    }
    black_box(counts);
    let base = t0.elapsed();

    let q = FunnelQuery {
        bucket: Bucket::Day,
        ..FunnelQuery::default()
    };
    let t0 = Instant::now();
    let report = index.report(&q);
    let took = t0.elapsed();
    println!(
        "funnel over {n} leads: {took:.2?} (target < 1 s); baseline bare stage count {base:.2?}; ratio {:.1}x; {} trend buckets, {} owners, conversion new->converted {}",
        took.as_secs_f64() / base.as_secs_f64(),
        report.trend.len(),
        report.by_owner.len(),
        report.stages.get(4).map(|s| s.reached).unwrap_or(0) as f64 / n as f64
    );

    // The machine-readable line the bench suite (`scripts/bench.py`) collects.
    println!(
        "JSON {}",
        serde_json::json!([{
            "id": "crm.funnel.report_1m",
            "label": format!("funnel report over {n} leads (daily trend, owners, percentiles)"),
            "value": took.as_secs_f64() * 1e3,
            "unit": "ms",
            "baseline": "bare pass counting stages",
            "baseline_value": base.as_secs_f64() * 1e3,
        }])
    );

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    c.bench_function("funnel_1m", |b| b.iter(|| black_box(index.report(&q))));
    c.final_summary();
}
