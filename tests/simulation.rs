//! Deterministic simulation with fault injection (short runs; see `examples/simulate.rs` for
//! long ones).
//!
//! Every run drives modules, CRM, ads and content for two tenants through a fault-injecting
//! store, with crashes, retries, duplicated and reordered reports, and checks the invariants
//! after every step. A failure prints the seed, the step and the command that replays it.
//!
//! Environment: `MF_SIM_SEEDS` (e.g. `1,2,3` or `1..20`) and `MF_SIM_STEPS` override the seeds
//! and steps of `short_runs_hold_every_invariant`; `MF_SIM_BACKEND=sqlite` runs on SQLite;
//! `MF_SIM_CANCEL` (per mille of attempts cancelled, default 40; memory backend only) and
//! `MF_SIM_SECOND_PROCESS` (per mille of commands routed to the second process, default 250);
//! `MF_SIM_ADS_ON_B=1` also routes report ingestion and settlement to the second process (not
//! yet verified). `MF_SIM_ADS_ON_B=1 MF_SIM_SEEDS=9 MF_SIM_STEPS=704` ends with a salesperson
//! one lead over capacity: at step 704 a capture merges into a lead and absorbs one the
//! salesperson owned, and the survivor counts against them. That points at merge
//! survivorship, which checks no capacity, rather than at a commit race. It is an open defect.

#[path = "simulation/mod.rs"]
mod simulation;

/// Regression tests for the bugs the simulation found.
#[path = "simulation/regressions.rs"]
mod regressions;

use simulation::{run_blocking, Backend, Settings};

fn seeds_from_env(default: &[u64]) -> Vec<u64> {
    let Ok(v) = std::env::var("MF_SIM_SEEDS") else {
        return default.to_vec();
    };
    if let Some((a, b)) = v.split_once("..") {
        if let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
            return (a..b).collect();
        }
    }
    let seeds: Vec<u64> = v.split(',').filter_map(|s| s.trim().parse().ok()).collect();
    if seeds.is_empty() {
        default.to_vec()
    } else {
        seeds
    }
}

fn steps_from_env(default: u64) -> u64 {
    std::env::var("MF_SIM_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn short_runs_hold_every_invariant() {
    let steps = steps_from_env(1200);
    for seed in seeds_from_env(&[1, 2, 3]) {
        match run_blocking(Settings::from_env(seed, steps)) {
            Ok(report) => println!("{report}"),
            Err(failure) => panic!("{failure}"),
        }
    }
}

#[test]
fn a_seed_replays_exactly() {
    let run = || run_blocking(Settings::new(77, 300)).unwrap_or_else(|f| panic!("{f}"));
    let (a, b) = (run(), run());
    assert_eq!(a.trace_hash, b.trace_hash, "two runs of seed 77 diverged");
    assert_eq!(a.trace_lines, b.trace_lines);
    assert_eq!(a.faults, b.faults);
    assert_eq!(a.totals, b.totals);
    // And the trace depends on the seed.
    let c = run_blocking(Settings::new(78, 300)).unwrap_or_else(|f| panic!("{f}"));
    assert_ne!(a.trace_hash, c.trace_hash);
}

/// Each kind of fault, a crash, a cancellation, a command on the second process and a
/// catch-up of its CRM state happen in two seeds' runs of 400 steps (which seed injects which
/// fault moves whenever the commands' store calls change; the two together must cover them).
#[test]
fn faults_actually_happen() {
    let reports: Vec<_> = [5, 6]
        .into_iter()
        .map(|seed| run_blocking(Settings::new(seed, 400)).unwrap_or_else(|f| panic!("{f}")))
        .collect();
    let shown = || {
        reports
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    for fault in [
        marketingforce_core::storage::Fault::ErrorAfterCommit,
        marketingforce_core::storage::Fault::ErrorBeforeCommit,
        marketingforce_core::storage::Fault::DuplicateDelivery,
    ] {
        assert!(
            reports
                .iter()
                .any(|r| r.faults.get(&fault).copied().unwrap_or(0) > 0),
            "no {fault} injected: {}",
            shown()
        );
    }
    assert!(
        reports.iter().any(|r| r.processes > 1),
        "no crash: {}",
        shown()
    );
    assert!(
        reports.iter().any(|r| r.cancelled > 0),
        "no cancellation: {}",
        shown()
    );
    assert!(
        reports.iter().any(|r| r.on_second > 0),
        "nothing ran on the second process: {}",
        shown()
    );
    assert!(
        reports
            .iter()
            .any(|r| r.second_crm.is_some_and(|c| c.caught_up > 0)),
        "the second process's CRM never caught up with the first one's writes: {}",
        shown()
    );
}

#[test]
fn a_short_run_on_sqlite() {
    let mut settings = Settings::new(11, 250);
    settings.backend = Backend::Sqlite;
    let report = run_blocking(settings).unwrap_or_else(|f| panic!("{f}"));
    println!("{report}");
}
