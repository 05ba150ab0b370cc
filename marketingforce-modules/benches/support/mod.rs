//! Shared helpers of the benchmarks: timing with a same-run baseline, a printed table, and the
//! machine-readable `JSON [...]` line the bench suite (`scripts/bench.py`) collects.

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Nanoseconds per operation of `f`, which runs `ops` operations per call: the best of
/// `rounds` timed calls (the machine is shared; the best round is the least disturbed).
pub fn ns_per_op(rounds: usize, ops: u64, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    best.as_nanos() as f64 / ops as f64
}

/// A table of figures with ratios to the first row (the baseline).
pub struct Figures {
    title: String,
    rows: Vec<(String, f64)>,
    /// Summary ids of the rows that go into the machine-readable summary (row index, id).
    ids: Vec<(usize, String)>,
}

/// How a row's ns/op is reported in the machine-readable summary.
#[derive(Clone, Copy)]
pub enum Unit {
    /// Operations per second, with the unit's name (e.g. `"checks/s"`).
    PerSecond(&'static str),
    /// Milliseconds for this many operations (e.g. the whole 25,000-contract book).
    MillisFor(u64),
}

impl Unit {
    fn convert(self, ns_per_op: f64) -> f64 {
        match self {
            Unit::PerSecond(_) => 1e9 / ns_per_op,
            Unit::MillisFor(n) => ns_per_op * n as f64 / 1e6,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::PerSecond(name) => name,
            Unit::MillisFor(_) => "ms",
        }
    }
}

/// Print the figures as one `JSON [...]` line.
pub fn print_json(figures: Vec<serde_json::Value>) {
    println!("JSON {}", serde_json::Value::Array(figures));
}

impl Figures {
    pub fn new(title: &str) -> Figures {
        Figures {
            title: title.to_string(),
            rows: Vec::new(),
            ids: Vec::new(),
        }
    }

    /// A row shown in the table only (the first row is the baseline).
    pub fn add(&mut self, name: &str, ns_per_op: f64) -> f64 {
        self.rows.push((name.to_string(), ns_per_op));
        ns_per_op
    }

    /// A row shown in the table and reported in the summary under `id`.
    pub fn add_id(&mut self, id: &str, name: &str, ns_per_op: f64) -> f64 {
        self.ids.push((self.rows.len(), id.to_string()));
        self.add(name, ns_per_op)
    }

    /// The summary records of the rows added with [`Figures::add_id`], each with the baseline.
    pub fn json(&self, unit: Unit) -> Vec<serde_json::Value> {
        let Some((base_name, base_ns)) = self.rows.first() else {
            return Vec::new();
        };
        let base_name = base_name.strip_prefix("baseline: ").unwrap_or(base_name);
        self.ids
            .iter()
            .filter_map(|(i, id)| self.rows.get(*i).map(|row| (id, row)))
            .map(|(id, (name, ns))| {
                serde_json::json!({
                    "id": id,
                    "label": name,
                    "value": unit.convert(*ns),
                    "unit": unit.name(),
                    "baseline": base_name,
                    "baseline_value": unit.convert(*base_ns),
                })
            })
            .collect()
    }

    pub fn print(&self) {
        println!();
        println!("== {} ==", self.title);
        let base = self.rows.first().map_or(1.0, |r| r.1);
        for (name, ns) in &self.rows {
            let per_s = 1e9 / ns;
            let rate = if per_s >= 1e6 {
                format!("{:.2} M/s", per_s / 1e6)
            } else {
                format!("{:.1} k/s", per_s / 1e3)
            };
            println!(
                "{name:<58} {ns:>10.1} ns/op {rate:>12}   {:>6.2}x baseline",
                ns / base
            );
        }
        println!();
    }
}
