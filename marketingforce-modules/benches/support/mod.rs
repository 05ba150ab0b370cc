//! Shared helpers of the benchmarks: timing with a same-run baseline, and a printed table.

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
}

impl Figures {
    pub fn new(title: &str) -> Figures {
        Figures {
            title: title.to_string(),
            rows: Vec::new(),
        }
    }

    pub fn add(&mut self, name: &str, ns_per_op: f64) {
        self.rows.push((name.to_string(), ns_per_op));
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
