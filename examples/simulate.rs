//! Long runs of the deterministic simulation (the short runs are `tests/simulation.rs`).
//!
//! ```text
//! cargo run --release --example simulate -- --seeds 1..50 --steps 20000
//! cargo run --release --example simulate -- --seed 17 --steps 843 --echo   # replay a failure
//! ```
//!
//! Options: `--seed N` or `--seeds A..B` (default: 1), `--steps N` (default 5000), `--echo`
//! (print the trace), `--sqlite` (SQLite store in a temporary file), `--faults P` (probability
//! that a commit fails, default 0.12), `--duplicates claimed|conditional|all` (which batches
//! may be delivered twice). The `MF_SIM_*` variables of `tests/simulation.rs` work too. Exits
//! with status 1 on the first failing seed, after printing it with the command that replays it.

#[path = "../tests/simulation/mod.rs"]
mod simulation;

use marketingforce_core::storage::DuplicateScope;
use simulation::{run_blocking, Backend, Settings};

fn usage(error: &str) -> ! {
    eprintln!("{error}\nusage: simulate [--seed N | --seeds A..B] [--steps N] [--echo] [--sqlite] [--faults P] [--duplicates claimed|conditional|all]");
    std::process::exit(2)
}

fn main() {
    let mut seeds = 1..2u64;
    let mut steps = 5000u64;
    let mut echo = false;
    let mut sqlite = false;
    let mut faults = None;
    let mut duplicates = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--seed" => {
                let s: u64 = value("--seed")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --seed"));
                seeds = s..s + 1;
            }
            "--seeds" => {
                let v = value("--seeds");
                let (a, b) = v.split_once("..").unwrap_or_else(|| usage("--seeds A..B"));
                let a: u64 = a.parse().unwrap_or_else(|_| usage("bad --seeds start"));
                let b: u64 = b.parse().unwrap_or_else(|_| usage("bad --seeds end"));
                seeds = a..b;
            }
            "--steps" => {
                steps = value("--steps")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --steps"))
            }
            "--echo" => echo = true,
            "--sqlite" => sqlite = true,
            "--faults" => {
                faults = Some(
                    value("--faults")
                        .parse::<f64>()
                        .unwrap_or_else(|_| usage("bad --faults")),
                )
            }
            "--duplicates" => {
                duplicates = Some(match value("--duplicates").as_str() {
                    "claimed" => DuplicateScope::Claimed,
                    "conditional" => DuplicateScope::Conditional,
                    "all" => DuplicateScope::All,
                    other => usage(&format!("unknown --duplicates {other}")),
                })
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let started = std::time::Instant::now();
    let mut passed = 0;
    for seed in seeds {
        let mut settings = Settings::from_env(seed, steps);
        settings.echo |= echo;
        if sqlite {
            settings.backend = Backend::Sqlite;
        }
        if let Some(p) = faults {
            settings.fault_probability = p;
        }
        if let Some(d) = duplicates {
            settings.duplicate_scope = d;
        }
        match run_blocking(settings) {
            Ok(report) => {
                passed += 1;
                println!("{report}");
            }
            Err(failure) => {
                eprintln!("{failure}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "{passed} seed(s) × {steps} steps passed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
