//! Revenue schedules for 25,000 yearly contracts (the vendor's user count): build the ratable
//! schedules, the monthly waterfall and month-end positions, against a same-run baseline that
//! materialises every day with `Money::allocate`.
//!
//! `cargo bench -p marketingforce-modules --bench revenue`

mod support;

use std::hint::black_box;
use std::time::Duration;

use chrono::{Duration as Days, NaiveDate};
use criterion::{criterion_group, criterion_main, Criterion};
use marketingforce_core::money::{Currency, Money};
use marketingforce_core::tenant::TenantId;
use marketingforce_modules::revenue::{Contract, RevenueBook};

const CONTRACTS: usize = 25_000;

fn contracts() -> Vec<Contract> {
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    (0..CONTRACTS)
        .map(|i| {
            let signed = start + Days::days((i % 365) as i64);
            let value = Money::from_minor(1_980_000 + (i as i64 % 1000) * 11_800, Currency::CNY);
            Contract::simple(
                format!("c{i}"),
                TenantId::new(),
                value,
                signed,
                signed + Days::days(2),
                12,
            )
            .unwrap()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let list = contracts();
    let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let to = NaiveDate::from_ymd_opt(2027, 12, 31).unwrap();
    let mut t = support::Figures::new("revenue for 25,000 yearly contracts (ns per contract; ratio to materialising every day with Money::allocate)");
    t.add(
        "baseline: Money::allocate(days) per contract (9.1M daily amounts)",
        support::ns_per_op(3, CONTRACTS as u64, || {
            for c in &list {
                let s = c.obligations[0].schedule.unwrap();
                black_box(s.daily().unwrap().len());
            }
        }),
    );
    let build = t.add_id(
        "modules.revenue.build_25k",
        "build 25,000 contracts with ratable schedules",
        support::ns_per_op(3, CONTRACTS as u64, || {
            black_box(contracts().len());
        }),
    );
    let book = RevenueBook::new(Currency::CNY, list.clone());
    let waterfall = t.add_id(
        "modules.revenue.waterfall_25k",
        "24-month waterfall (booked / recognised / RPO / deferred)",
        support::ns_per_op(3, CONTRACTS as u64, || {
            black_box(book.waterfall(from, to).unwrap().len());
        }),
    );
    t.add_id(
        "modules.revenue.position_25k",
        "position (booked, recognised, RPO, deferred) as of one date",
        support::ns_per_op(5, CONTRACTS as u64, || {
            black_box(
                book.position(NaiveDate::from_ymd_opt(2026, 9, 30).unwrap())
                    .unwrap(),
            );
        }),
    );
    t.add_id(
        "modules.revenue.schedules_and_waterfall_25k",
        "build the schedules + the 24-month waterfall",
        build + waterfall,
    );
    t.print();
    support::print_json(t.json(support::Unit::MillisFor(CONTRACTS as u64)));
    let rows = book.waterfall(from, to).unwrap();
    let recognised = Money::sum(Currency::CNY, rows.iter().map(|r| &r.recognized)).unwrap();
    let booked = Money::sum(Currency::CNY, rows.iter().map(|r| &r.booked)).unwrap();
    let rpo = rows.last().unwrap().remaining;
    assert_eq!(recognised.checked_add(&rpo).unwrap(), booked);
    println!("check: recognised {recognised} + RPO {rpo} = booked {booked}");

    let mut g = c.benchmark_group("revenue");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("waterfall_25k_contracts_24_months", |b| {
        b.iter(|| black_box(book.waterfall(from, to).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
