//! Capture with dedupe over 1M synthetic leads (~20% planted duplicates, a third of them only
//! findable by fuzzy matching), with precision and recall, against a bare `HashMap` baseline;
//! plus the full storage pipeline (sealing, blind indexes, one batch per 2,000 rows) on a
//! smaller set. Run: `cargo bench -p marketingforce-crm --bench capture`.

use marketingforce_core::IdempotencyKey;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use marketingforce_core::storage::MemoryStore;
use marketingforce_core::tenant::TenantId;
use marketingforce_crm::crypto::{BlindIndexer, KeyRing};
use marketingforce_crm::dedupe::{DedupeConfig, DedupeEngine, MatchKeys};
use marketingforce_crm::ids::LeadId;
use marketingforce_crm::synth::{quality, DuplicateKind, Synth, SynthConfig};
use marketingforce_crm::Crm;

/// On-CPU time of this thread in nanoseconds (Linux: `schedstat` when the kernel keeps it,
/// else user + system ticks of `stat`, assumed 100 Hz), so the figures can also be read as CPU
/// time: on a shared machine wall time includes waiting for a core.
fn cpu_ns() -> Option<u64> {
    let sched = std::fs::read_to_string("/proc/thread-self/schedstat").ok();
    if let Some(ns) = sched
        .as_deref()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .filter(|&ns| ns > 0)
    {
        return Some(ns);
    }
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

/// The process's resident set in bytes (Linux: `/proc/self/statm`, 4 KiB pages).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Bytes per lead the resident set grew by between two [`resident_bytes`] readings.
fn per_lead_growth(n: usize, from: Option<u64>, to: Option<u64>) -> Option<f64> {
    Some(to?.checked_sub(from?)? as f64 / n.max(1) as f64)
}

/// Leads per second of on-CPU time between two [`cpu_ns`] readings.
fn cpu_rate(n: usize, from: Option<u64>, to: Option<u64>) -> String {
    match (from, to) {
        (Some(a), Some(b)) if b > a => format!("{:.0}", n as f64 / ((b - a) as f64 / 1e9)),
        _ => "n/a".into(),
    }
}

fn main() {
    let n: usize = std::env::var("CRM_BENCH_LEADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let t0 = Instant::now();
    let data = Synth::new(SynthConfig {
        leads: n,
        duplicate_rate: 0.2,
        seed: 2026,
    })
    .generate();
    let planted = data.iter().filter(|d| d.duplicate.is_some()).count();
    let fuzzy = data
        .iter()
        .filter(|d| d.duplicate == Some(DuplicateKind::Fuzzy))
        .count();
    println!(
        "generated {n} leads in {:.2?}: {planted} planted duplicates ({fuzzy} fuzzy-only)",
        t0.elapsed()
    );

    // Baseline: a bare HashMap keyed by the raw mobile string (no normalisation, no crypto).
    let rss_bare = resident_bytes();
    let t0 = Instant::now();
    let mut bare: HashMap<&str, u32> = HashMap::with_capacity(n);
    for (i, d) in data.iter().enumerate() {
        if let Some(m) = d.request.mobile.as_deref() {
            bare.entry(m).or_insert(i as u32);
        }
    }
    black_box(&bare);
    let base = t0.elapsed();
    let bare_bytes = per_lead_growth(n, rss_bare, resident_bytes());
    let base_rate = n as f64 / base.as_secs_f64();

    // Phase costs (same run): normalisation alone, and normalisation + blind indexes.
    let c_norm = cpu_ns();
    let t0 = Instant::now();
    let normalised: Vec<_> = data
        .iter()
        .map(|d| d.request.normalise().expect("valid"))
        .collect();
    let t_norm = t0.elapsed();
    let tenant0 = TenantId::new();
    let ix0 = BlindIndexer::new(Arc::new(KeyRing::new("k0", [1; 32])))
        .expect("ix")
        .tenant(&tenant0)
        .expect("key");
    let c_keys = cpu_ns();
    let t0 = Instant::now();
    let all_keys: Vec<MatchKeys> = normalised
        .iter()
        .map(|nc| MatchKeys::of(&nc.identity, nc.source.as_str(), &ix0))
        .collect();
    let t_keys = t0.elapsed();
    let rss_engine = resident_bytes();
    let mut e0 = DedupeEngine::with_capacity(DedupeConfig::default(), n);
    let mut c0 = 0u128;
    let c_ingest = cpu_ns();
    let t0 = Instant::now();
    for k in &all_keys {
        black_box(e0.ingest(k, || {
            c0 += 1;
            LeadId::from_uuid(marketingforce_core::id::Uuid::from_u128(c0))
        }));
    }
    let t_ingest = t0.elapsed();
    let engine_bytes = per_lead_growth(n, rss_engine, resident_bytes());
    let c_end = cpu_ns();
    println!(
        "phases: normalise {:.0} leads/s, match keys (HMAC-SHA256 blind indexes + fuzzy keys) {:.0} leads/s, match+merge {:.0} leads/s",
        n as f64 / t_norm.as_secs_f64(),
        n as f64 / t_keys.as_secs_f64(),
        n as f64 / t_ingest.as_secs_f64()
    );
    println!(
        "phases per on-CPU second: normalise {}, match keys {}, match+merge {}",
        cpu_rate(n, c_norm, c_keys),
        cpu_rate(n, c_keys, c_ingest),
        cpu_rate(n, c_ingest, c_end)
    );
    if let (Some(engine), Some(bare)) = (engine_bytes, bare_bytes) {
        println!(
            "memory: the engine holds {engine:.0} bytes per lead at {n} leads (resident-set growth while ingesting); baseline bare HashMap on raw mobile: {bare:.0} bytes per lead"
        );
    }
    drop((normalised, all_keys, e0));

    // The engine: normalise + blind indexes (HMAC-SHA256) + exact/fuzzy match + merge.
    let tenant = TenantId::new();
    let ring = Arc::new(KeyRing::new("k1", [7; 32]));
    let indexer = BlindIndexer::new(ring.clone())
        .expect("indexer")
        .tenant(&tenant)
        .expect("key");
    let mut engine = DedupeEngine::with_capacity(DedupeConfig::default(), n);
    let mut leads = Vec::with_capacity(n);
    let mut counter = 0u128;
    let c_run = cpu_ns();
    let t0 = Instant::now();
    for d in &data {
        let norm = d.request.normalise().expect("synthetic data is valid");
        let keys = MatchKeys::of(&norm.identity, norm.source.as_str(), &indexer);
        let decision = engine.ingest(&keys, || {
            counter += 1;
            LeadId::from_uuid(marketingforce_core::id::Uuid::from_u128(counter))
        });
        leads.push(decision.lead());
    }
    let took = t0.elapsed();
    let c_run_end = cpu_ns();
    let rate = n as f64 / took.as_secs_f64();
    let clusters: Vec<LeadId> = leads
        .iter()
        .map(|l| engine.survivor(*l).unwrap_or(*l))
        .collect();
    let q = quality(&data, &clusters);
    println!(
        "capture+dedupe (engine, 1 core): {n} leads in {took:.2?} = {:.0} leads/s; baseline bare HashMap on raw mobile: {:.0} leads/s; ratio {:.3}",
        rate,
        base_rate,
        rate / base_rate
    );
    println!(
        "capture+dedupe per on-CPU second: {} leads/s",
        cpu_rate(n, c_run, c_run_end)
    );
    println!(
        "dedupe quality vs planted truth (pairwise): precision {:.4}, recall {:.4} ({} true pairs of {} actual, {} predicted); {} leads after dedupe",
        q.precision, q.recall, q.true_pairs, q.actual_pairs, q.predicted_pairs, engine.clusters().len()
    );

    // Full pipeline through the Crm service into the memory store (sealing + storage).
    let m = (n / 50).clamp(1_000, 20_000);
    let crm = Crm::builder(
        &marketingforce_core::env::Env::builder(Arc::new(MemoryStore::new()))
            .keys(ring)
            .build(),
    )
    .build()
    .expect("crm");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let t0 = Instant::now();
    rt.block_on(async {
        for (i, chunk) in data[..m].chunks(2_000).enumerate() {
            let reqs: Vec<_> = chunk.iter().map(|d| d.request.clone()).collect();
            black_box(
                crm.capture_batch(
                    &tenant,
                    &reqs,
                    &IdempotencyKey::new(format!("b{i}")).unwrap(),
                )
                .await
                .expect("batch"),
            );
        }
    });
    let full = t0.elapsed();
    println!(
        "capture via Crm::capture_batch (AES-256-GCM vault, history, memory store): {m} leads in {full:.2?} = {:.0} leads/s; ratio to engine {:.3}",
        m as f64 / full.as_secs_f64(),
        (m as f64 / full.as_secs_f64()) / rate
    );

    // The machine-readable line the bench suite (`scripts/bench.py`) collects.
    let per_sec = |d: Duration| n as f64 / d.as_secs_f64();
    let baseline = "bare HashMap insert keyed by the raw mobile string";
    let figure = |id: &str, label: &str, value: f64| {
        serde_json::json!({
            "id": id,
            "label": label,
            "value": value,
            "unit": "leads/s",
            "baseline": baseline,
            "baseline_value": base_rate,
        })
    };
    let quality = |id: &str, label: &str, value: f64| {
        serde_json::json!({
            "id": id,
            "label": label,
            "value": value,
            "unit": "ratio",
        })
    };
    let mut figures = vec![
        figure(
            "crm.capture.dedupe_engine",
            &format!("capture+dedupe of {n} leads (normalise, blind indexes, match, merge)"),
            rate,
        ),
        quality(
            "crm.capture.precision",
            "dedupe precision vs the planted duplicates (pairwise)",
            q.precision,
        ),
        quality(
            "crm.capture.recall",
            "dedupe recall vs the planted duplicates (pairwise, merged only; the rest wait in the review queue)",
            q.recall,
        ),
        figure("crm.capture.normalise", "phase: normalise", per_sec(t_norm)),
        figure(
            "crm.capture.match_keys",
            "phase: match keys (HMAC-SHA256 blind indexes + fuzzy keys)",
            per_sec(t_keys),
        ),
        figure(
            "crm.capture.match_merge",
            "phase: match + merge",
            per_sec(t_ingest),
        ),
        figure(
            "crm.capture.crm_capture_batch",
            &format!("Crm::capture_batch into the memory store ({m} leads, sealed)"),
            m as f64 / full.as_secs_f64(),
        ),
    ];
    if let (Some(engine), Some(bare)) = (engine_bytes, bare_bytes) {
        figures.push(serde_json::json!({
            "id": "crm.capture.engine_memory",
            "label": format!("dedupe engine memory per lead at {n} leads (resident-set growth)"),
            "value": engine,
            "unit": "bytes/lead",
            "baseline": "bare HashMap insert keyed by the raw mobile string",
            "baseline_value": bare,
        }));
    }
    println!("JSON {}", serde_json::Value::Array(figures));

    // Criterion: per-capture cost on a warm engine vs a HashMap insert.
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let sample: Vec<_> = data
        .iter()
        .take(10_000)
        .map(|d| d.request.clone())
        .collect();
    c.bench_function("capture_10k_into_warm_engine", |b| {
        b.iter(|| {
            let mut e = engine.clone();
            for r in &sample {
                let norm = r.normalise().expect("valid");
                let keys = MatchKeys::of(&norm.identity, norm.source.as_str(), &indexer);
                black_box(e.ingest(&keys, LeadId::new));
            }
        })
    });
    c.final_summary();
}
