//! Entitlement checks (module enabled? seat available? has seat?) against a bare `HashMap`
//! lookup measured in the same run. Goal: ≥ 10M checks/s on one core, ≤ 3× the baseline.
//!
//! `cargo bench -p marketingforce-modules --bench entitlements`

mod support;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::ManualClock;
use marketingforce_modules::catalog::ModuleId;
use marketingforce_modules::entitlements::{AccountId, Entitlements, Grant};
use marketingforce_modules::products::Products;

struct Fixture {
    ents: Entitlements,
    probes: Vec<ModuleId>,
    probe_strs: Vec<String>,
    baseline: HashMap<String, bool>,
    fast: foldhash::HashMap<String, bool>,
    account: AccountId,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let bundle = Products::builtin()
        .bundle("trueclient.pro.flagship")
        .unwrap()
        .clone();
    let tenant = TenantId::new();
    let mut g = Grant::new(
        tenant,
        "2026-03-01".parse().unwrap(),
        "2027-03-01".parse().unwrap(),
    );
    g.modules = bundle.modules.clone();
    for s in &bundle.included_seats {
        g = g.seats(s.module.clone(), s.seats);
    }
    let ents = Entitlements::from_grant(g, clock).unwrap();
    let account = AccountId::new("sales-001").unwrap();
    rt.block_on(ents.assign_seat(&ModuleId::SALES_WORKBENCH, &account))
        .unwrap();
    // Probe every built-in module: about half enabled, half not.
    let probes: Vec<ModuleId> = ModuleId::BUILTIN.to_vec();
    let probe_strs: Vec<String> = probes.iter().map(ToString::to_string).collect();
    let baseline: HashMap<String, bool> = ents
        .snapshot()
        .modules()
        .iter()
        .map(|m| (m.to_string(), true))
        .collect();
    let fast = baseline.iter().map(|(k, v)| (k.clone(), *v)).collect();
    Fixture {
        ents,
        probes,
        probe_strs,
        baseline,
        fast,
        account,
    }
}

const OPS: u64 = 1_000_000;

fn figures(f: &Fixture) {
    let n = f.probes.len();
    let mut t = support::Figures::new(
        "entitlement checks, one core (ns per check; ratio to the bare HashMap lookup)",
    );
    t.add(
        "baseline: bare std HashMap<String, bool>::contains_key(&str)",
        support::ns_per_op(5, OPS, || {
            for i in 0..OPS as usize {
                black_box(f.baseline.contains_key(f.probe_strs[i % n].as_str()));
            }
        }),
    );
    t.add_id(
        "modules.entitlements.foldhash_lookup",
        "same lookup with the foldhash hasher the entitlements use",
        support::ns_per_op(5, OPS, || {
            for i in 0..OPS as usize {
                black_box(f.fast.contains_key(f.probe_strs[i % n].as_str()));
            }
        }),
    );
    t.add_id(
        "modules.entitlements.is_enabled",
        "Entitlements::is_enabled(&ModuleId)",
        support::ns_per_op(5, OPS, || {
            for i in 0..OPS as usize {
                black_box(f.ents.is_enabled(&f.probes[i % n]));
            }
        }),
    );
    t.add_id(
        "modules.entitlements.seat_available",
        "Entitlements::seat_available(&ModuleId)",
        support::ns_per_op(5, OPS, || {
            for i in 0..OPS as usize {
                black_box(f.ents.seat_available(&f.probes[i % n]));
            }
        }),
    );
    t.add_id(
        "modules.entitlements.has_seat",
        "Entitlements::has_seat(&ModuleId, &AccountId)",
        support::ns_per_op(5, OPS, || {
            for i in 0..OPS as usize {
                black_box(f.ents.has_seat(&f.probes[i % n], &f.account));
            }
        }),
    );
    t.print();
    support::print_json(t.json(support::Unit::PerSecond("checks/s")));
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    figures(&f);
    let mut g = c.benchmark_group("entitlements");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let mut i = 0usize;
    g.bench_function("hashmap_baseline", |b| {
        b.iter(|| {
            i = (i + 1) % f.probe_strs.len();
            black_box(f.baseline.contains_key(f.probe_strs[i].as_str()))
        })
    });
    g.bench_function("is_enabled", |b| {
        b.iter(|| {
            i = (i + 1) % f.probes.len();
            black_box(f.ents.is_enabled(&f.probes[i]))
        })
    });
    g.bench_function("seat_available", |b| {
        b.iter(|| {
            i = (i + 1) % f.probes.len();
            black_box(f.ents.seat_available(&f.probes[i]))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
