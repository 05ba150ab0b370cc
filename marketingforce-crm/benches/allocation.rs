//! Allocation throughput over 1M leads with 12 rules (region, product, source, score) and all
//! three strategies, against a bare `HashMap` region → salesperson lookup.
//! Run: `cargo bench -p marketingforce-crm --bench allocation`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use marketingforce_core::id::{splitmix64, Uuid};
use marketingforce_crm::allocation::{
    AllocationConfig, AllocationRule, Allocator, Decision, LeadFacts, Strategy,
};
use marketingforce_crm::ids::UserId;
use marketingforce_crm::model::Source;

const REGIONS: [&str; 12] = [
    "上海", "北京", "广州", "深圳", "杭州", "南京", "苏州", "成都", "武汉", "西安", "天津", "重庆",
];

fn main() {
    let n = 1_000_000usize;
    let user = |i: u128| UserId::from_uuid(Uuid::from_u128(i + 1));
    let mut rules = Vec::new();
    let mut staff = Vec::new();
    for (r, region) in REGIONS.iter().enumerate().take(10) {
        let members: Vec<UserId> = (0..8).map(|k| user((r * 8 + k) as u128)).collect();
        staff.extend(members.iter().copied());
        let strategy = match r % 3 {
            0 => Strategy::RoundRobin,
            1 => Strategy::Weighted {
                weights: (1..=8).collect(),
            },
            _ => Strategy::LeastLoaded,
        };
        let mut rule = AllocationRule::new(format!("r{r}"), strategy, members).regions([*region]);
        if r == 0 {
            rule = rule.products(["T-100", "T-200"]);
        }
        if r == 1 {
            rule = rule.min_score(20);
        }
        rules.push(rule);
    }
    let dealers: Vec<UserId> = (0..20).map(|k| user(1000 + k)).collect();
    staff.extend(dealers.iter().copied());
    rules.push(
        AllocationRule::new("dealers", Strategy::RoundRobin, dealers).sources([Source::Dealer]),
    );
    let cfg = AllocationConfig {
        rules,
        ..AllocationConfig::default()
    };
    let mut alloc = Allocator::new(&cfg);
    for s in &staff {
        alloc.set_staff(*s, true, Some(u32::MAX), None);
    }
    let products = [vec!["T-100".to_string()], vec!["X-5".to_string()], vec![]];
    let facts: Vec<(usize, usize, Source, i64)> = (0..n as u64)
        .map(|i| {
            let x = splitmix64(i);
            (
                (x % 12) as usize,
                ((x >> 8) % 3) as usize,
                Source::ALL[((x >> 16) % 9) as usize],
                ((x >> 24) % 100) as i64,
            )
        })
        .collect();

    let mut by_region: HashMap<&str, UserId> = HashMap::new();
    for (i, r) in REGIONS.iter().enumerate() {
        by_region.insert(r, user(i as u128));
    }
    let t0 = Instant::now();
    for (r, _, _, _) in &facts {
        black_box(by_region.get(REGIONS[*r]));
    }
    let base = n as f64 / t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let (mut assigned, mut pooled) = (0u64, 0u64);
    for (r, p, s, score) in &facts {
        let f = LeadFacts {
            region: Some(REGIONS[*r]),
            products: &products[*p],
            source: *s,
            score: *score,
        };
        match alloc.decide(&f, None) {
            Decision::Assign { to, .. } => {
                alloc.add_load(to, 1);
                assigned += 1;
            }
            Decision::NoMatch { .. } => pooled += 1,
        }
    }
    let took = t0.elapsed();
    let rate = n as f64 / took.as_secs_f64();
    println!(
        "allocation: {n} leads in {took:.2?} = {rate:.0} leads/s ({assigned} assigned, {pooled} to the pool); baseline bare HashMap region lookup {base:.0}/s; ratio {:.3}",
        rate / base
    );

    // The machine-readable line the bench suite (`scripts/bench.py`) collects.
    println!(
        "JSON {}",
        serde_json::json!([{
            "id": "crm.allocation.decide",
            "label": format!("allocation of {n} leads, 12 rules, three strategies"),
            "value": rate,
            "unit": "leads/s",
            "baseline": "bare HashMap region -> salesperson lookup",
            "baseline_value": base,
        }])
    );

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    c.bench_function("allocate_10k", |b| {
        b.iter(|| {
            for (r, p, s, score) in facts.iter().take(10_000) {
                let f = LeadFacts {
                    region: Some(REGIONS[*r]),
                    products: &products[*p],
                    source: *s,
                    score: *score,
                };
                black_box(alloc.decide(&f, None));
            }
        })
    });
    c.final_summary();
}
