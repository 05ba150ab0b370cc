//! Matching evaluation on harder duplicates (typos, swaps, nicknames, missing fields, address
//! variants, homophones, same-name traps): (a) the public `DedupeEngine` (incremental, one
//! capture at a time, default model and thresholds, as `Crm::capture` uses it) and (b) the
//! Fellegi–Sunter matcher of `matching`, on the same data in the same run, with precision,
//! recall, F1, records/s and candidate-pair recall. Writes the labelled CSV that
//! `scripts/splink_compare.py` runs Splink on.
//!
//! Run: `cargo bench -p marketingforce-crm --features testing --bench matching` (records:
//! `CRM_MATCH_RECORDS`, default 20,000; the CSV goes to `$CARGO_TARGET_DIR/dedupe-eval/`, or `target/`). With
//! `CRM_MATCH_SYNTH=<n>` it also runs both matchers on `n` leads of the capture benchmark's
//! generator (`synth`: same-name colleagues and same-name people in other cities, where region
//! tells them apart).

#[path = "support/harder.rs"]
mod harder;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use marketingforce_core::tenant::TenantId;
use marketingforce_crm::crypto::{BlindIndexer, BlindKind, KeyRing, TenantIndexer};
use marketingforce_crm::dedupe::{DedupeConfig, DedupeEngine, MatchKeys};
use marketingforce_crm::ids::LeadId;
use marketingforce_crm::matching::blocking::{pair_recall, Blocking};
use marketingforce_crm::matching::compare::{compare, Levels};
use marketingforce_crm::matching::estimate::{train_on, TrainingConfig};
use marketingforce_crm::matching::eval::{link, pairwise_quality, PairwiseQuality};
use marketingforce_crm::matching::weights::Weights;
use marketingforce_crm::matching::Record;

/// Match probabilities the quality is reported at (Splink's script reports the same).
const THRESHOLDS: [f64; 3] = [0.5, 0.9, 0.99];

fn weight_of(p: f64) -> f64 {
    (p / (1.0 - p)).log2()
}

fn record_of(r: &harder::Row, ix: &TenantIndexer) -> Record {
    let mut rec = Record::new()
        .given(&r.given)
        .family(&r.family)
        .postcode(&r.postcode)
        .address(&r.address)
        .region(&r.region)
        .company(&r.company);
    if r.dob.len() == 10 {
        let p = |a: usize, b: usize| r.dob.get(a..b).and_then(|s| s.parse::<u32>().ok());
        if let (Some(y), Some(m), Some(d)) = (p(0, 4), p(5, 7), p(8, 10)) {
            rec = rec.dob_ymd(y as i32, m, d);
        }
    }
    if !r.mobile.is_empty() {
        rec.mobile = Some(ix.compute(BlindKind::Mobile, &r.mobile).mac);
    }
    if !r.email.is_empty() {
        rec.email = Some(ix.compute(BlindKind::Email, &r.email).mac);
    }
    rec
}

/// The public engine's inputs: exact mobile and email, and the whole record for the
/// probabilistic bands (what `MatchKeys::of` builds from a capture with these fields).
fn keys_of(r: &harder::Row, ix: &TenantIndexer) -> MatchKeys {
    let mut k = MatchKeys::new();
    if !r.mobile.is_empty() {
        k = k.with_exact(ix.compute(BlindKind::Mobile, &r.mobile));
    }
    if !r.email.is_empty() {
        k = k.with_exact(ix.compute(BlindKind::Email, &r.email));
    }
    k.with_record(record_of(r, ix))
}

/// One table row: quality, throughput in records per second, candidate-pair recall.
fn row(name: &str, q: &PairwiseQuality, records_per_s: f64, candidate_recall: f64) {
    println!(
        "| {name:<44} | {:>9.4} | {:>9.4} | {:>9.4} | {:>12.0} | {:>10.4} |",
        q.precision, q.recall, q.f1, records_per_s, candidate_recall
    );
}

/// Both matchers on the capture benchmark's generator: name, company, region, mobile, email,
/// WeCom id.
fn synth_run(n: usize, ix: &TenantIndexer) {
    use marketingforce_crm::synth::{Synth, SynthConfig};
    let data = Synth::new(SynthConfig {
        leads: n,
        duplicate_rate: 0.2,
        seed: 2026,
    })
    .generate();
    let labels: Vec<u32> = data.iter().map(|d| d.person).collect();
    let norm: Vec<_> = data
        .iter()
        .map(|d| d.request.normalise().expect("synthetic data is valid"))
        .collect();
    let t0 = Instant::now();
    let mut engine = DedupeEngine::with_capacity(DedupeConfig::default(), n);
    let mut counter = 0u128;
    let leads: Vec<LeadId> = norm
        .iter()
        .map(|nc| {
            let keys = MatchKeys::of(&nc.identity, nc.source.as_str(), ix);
            engine
                .ingest(&keys, || {
                    counter += 1;
                    LeadId::from_uuid(marketingforce_core::id::Uuid::from_u128(counter))
                })
                .lead()
        })
        .collect();
    let took = t0.elapsed();
    let clusters: Vec<LeadId> = leads
        .iter()
        .map(|l| engine.survivor(*l).unwrap_or(*l))
        .collect();
    println!("today's generator (synth), {n} leads:");
    row(
        "(a) DedupeEngine",
        &pairwise_quality(&labels, &clusters),
        n as f64 / took.as_secs_f64(),
        f64::NAN,
    );
    let t0 = Instant::now();
    let records: Vec<Record> = norm
        .iter()
        .map(|nc| {
            let id = &nc.identity;
            let mut r = Record::new();
            if let Some(x) = &id.name {
                r = r.full_name(x);
            }
            if let Some(x) = &id.company {
                r = r.company(x);
            }
            if let Some(x) = &nc.region {
                r = r.region(x);
            }
            r.mobile = id
                .mobile
                .as_ref()
                .map(|m| ix.compute(BlindKind::Mobile, m.as_str()).mac);
            r.email = id
                .email
                .as_ref()
                .map(|m| ix.compute(BlindKind::Email, m.as_str()).mac);
            r.wechat = id
                .wecom_id
                .as_ref()
                .map(|m| ix.compute(BlindKind::WeCom, m.as_str()).mac);
            r
        })
        .collect();
    let blocking = Blocking::default();
    let cands = blocking.candidates(&records);
    let levels: Vec<Levels> = cands
        .pairs
        .iter()
        .map(|&(a, b)| compare(&records[a as usize], &records[b as usize]))
        .collect();
    let (model, _) = train_on(
        &records,
        &blocking,
        &cands,
        &levels,
        &TrainingConfig::default(),
    );
    let weights = Weights::new(&model);
    let base = t0.elapsed();
    let cand = pair_recall(&cands.pairs, &labels).recall;
    for p in THRESHOLDS {
        let t1 = Instant::now();
        let clusters = link(n, &cands.pairs, &levels, &weights, weight_of(p));
        let total = base + t1.elapsed();
        row(
            &format!("(b) Fellegi-Sunter, p >= {p}"),
            &pairwise_quality(&labels, &clusters),
            n as f64 / total.as_secs_f64(),
            cand,
        );
    }
}

fn main() {
    let n: usize = std::env::var("CRM_MATCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let rows = harder::Gen::new(harder::Config {
        records: n,
        duplicate_rate: 0.35,
        same_name_rate: 0.05,
        cjk_rate: 0.3,
        seed: 2026,
    })
    .generate();
    let labels: Vec<usize> = rows.iter().map(|r| r.cluster).collect();
    let dir = std::path::PathBuf::from(
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()),
    )
    .join("dedupe-eval");
    let csv = dir.join(format!("harder-{n}.csv"));
    std::fs::create_dir_all(&dir).expect("create the output directory");
    std::fs::write(&csv, harder::to_csv(&rows)).expect("write the CSV");
    let people = labels.iter().copied().max().map_or(0, |m| m + 1);
    println!(
        "{n} records of {people} people written to {}",
        csv.display()
    );

    let tenant = TenantId::new();
    let ix = BlindIndexer::new(Arc::new(KeyRing::new("k1", [7; 32])))
        .expect("indexer")
        .tenant(&tenant)
        .expect("key");

    println!(
        "| {:<44} | {:>9} | {:>9} | {:>9} | {:>12} | {:>10} |",
        "matcher", "precision", "recall", "F1", "records/s", "cand. rec."
    );
    println!(
        "|{:-<46}|{:-<11}|{:-<11}|{:-<11}|{:-<14}|{:-<12}|",
        "", "", "", "", "", ""
    );

    // (a) The existing engine: blind indexes, exact + fuzzy match, merge.
    let t0 = Instant::now();
    let keys: Vec<MatchKeys> = rows.iter().map(|r| keys_of(r, &ix)).collect();
    let mut engine = DedupeEngine::with_capacity(DedupeConfig::default(), n);
    let mut counter = 0u128;
    let leads: Vec<LeadId> = keys
        .iter()
        .map(|k| {
            engine
                .ingest(k, || {
                    counter += 1;
                    LeadId::from_uuid(marketingforce_core::id::Uuid::from_u128(counter))
                })
                .lead()
        })
        .collect();
    let took = t0.elapsed();
    let clusters: Vec<LeadId> = leads
        .iter()
        .map(|l| engine.survivor(*l).unwrap_or(*l))
        .collect();
    let qa = pairwise_quality(&labels, &clusters);
    row(
        "(a) DedupeEngine (incremental, auto-merge >= 3)",
        &qa,
        n as f64 / took.as_secs_f64(),
        f64::NAN,
    );

    // (b) Fellegi–Sunter: records, blocking, comparison, estimation, linking.
    let t0 = Instant::now();
    let records: Vec<Record> = rows.iter().map(|r| record_of(r, &ix)).collect();
    let blocking = Blocking::default();
    let cands = blocking.candidates(&records);
    let t_cands = t0.elapsed();
    let levels: Vec<Levels> = cands
        .pairs
        .iter()
        .map(|&(a, b)| compare(&records[a as usize], &records[b as usize]))
        .collect();
    let t_block = t0.elapsed();
    let t1 = Instant::now();
    let (model, report) = train_on(
        &records,
        &blocking,
        &cands,
        &levels,
        &TrainingConfig::default(),
    );
    let t_train = t1.elapsed();
    let weights = Weights::new(&model);
    let cand_b = pair_recall(&cands.pairs, &labels).recall;
    let mut first = None;
    for p in THRESHOLDS {
        let t2 = Instant::now();
        let clusters = link(n, &cands.pairs, &levels, &weights, weight_of(p));
        let t_link = t2.elapsed();
        let q = pairwise_quality(&labels, &clusters);
        let total = t_block + t_train + t_link;
        row(
            &format!("(b) Fellegi-Sunter, p >= {p}"),
            &q,
            n as f64 / total.as_secs_f64(),
            cand_b,
        );
        first.get_or_insert((q, total, t_link));
        black_box(clusters);
    }
    if std::env::var("CRM_MATCH_DEBUG").is_ok() {
        // The commonest comparison vectors of false links at p >= 0.99, and of missed pairs.
        let mut fp: HashMap<String, usize> = HashMap::new();
        let mut fnn: HashMap<String, usize> = HashMap::new();
        let show = |l: &Levels| {
            marketingforce_crm::matching::FIELDS
                .iter()
                .zip(l)
                .filter(|(_, &x)| x != 0)
                .map(|(f, &x)| format!("{}={}", f.as_str(), f.levels()[x as usize]))
                .collect::<Vec<_>>()
                .join(" ")
        };
        for (p, l) in cands.pairs.iter().zip(&levels) {
            let same = labels[p.0 as usize] == labels[p.1 as usize];
            let linked = weights.weigh(l) >= weight_of(0.99);
            if linked && !same {
                *fp.entry(show(l)).or_default() += 1;
            } else if !linked && same {
                *fnn.entry(show(l)).or_default() += 1;
            }
        }
        for (name, m) in [("false links", fp), ("missed", fnn)] {
            let mut v: Vec<_> = m.into_iter().collect();
            v.sort_by_key(|x| std::cmp::Reverse(x.1));
            println!("{name}: {}", v.iter().map(|x| x.1).sum::<usize>());
            for (k, c) in v.iter().take(12) {
                println!("  {c:>5} {k}");
            }
        }
    }
    println!(
        "FS phases: records + blocking {t_cands:.2?}, comparison {:.2?} ({} candidate pairs, {} capped blocks), estimation {t_train:.2?}",
        t_block - t_cands,
        cands.pairs.len(),
        cands.stats.capped_blocks
    );
    println!(
        "FS pairs per rule: {}",
        cands
            .stats
            .pairs_per_rule
            .iter()
            .map(|(r, k)| format!("{}={k}", r.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "FS estimation: u from {} random pairs (defaults kept for u of {:?}, m of {:?}); prior {:.3e}; sessions: {}",
        report.u_pairs,
        report.default_u,
        report.default_m,
        model.prior,
        report
            .sessions
            .iter()
            .map(|s| format!(
                "{}: {} pairs, {:.0} matches, {} it{}",
                s.rule.as_str(),
                s.pairs,
                s.expected_matches,
                s.iterations,
                if s.used { "" } else { " (unused)" }
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    for fm in &model.fields {
        let lv = fm.field.levels();
        let w: Vec<String> = (1..lv.len())
            .map(|l| format!("{}={:+.1}", lv[l], weights.level_weight(fm.field, l as u8)))
            .collect();
        println!("  weight {:<12} {}", fm.field.as_str(), w.join(" "));
    }

    if let Some(m) = std::env::var("CRM_MATCH_SYNTH")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        synth_run(m, &ix);
    }

    // The machine-readable line the bench suite (`scripts/bench.py`) collects.
    let ratio = |id: &str, label: &str, value: f64| serde_json::json!({"id": id, "label": label, "value": value, "unit": "ratio"});
    let (qb, total_b, _) = first.unwrap_or((qa, took, took));
    let figures = vec![
        ratio("crm.match.engine_f1", "harder set: DedupeEngine F1", qa.f1),
        ratio(
            "crm.match.fs_f1",
            "harder set: Fellegi-Sunter F1 (p >= 0.5)",
            qb.f1,
        ),
        ratio(
            "crm.match.fs_candidate_recall",
            "harder set: Fellegi-Sunter candidate-pair recall",
            cand_b,
        ),
        serde_json::json!({
            "id": "crm.match.fs_rate",
            "label": format!("harder set: Fellegi-Sunter records/s incl. estimation ({n} records)"),
            "value": n as f64 / total_b.as_secs_f64(),
            "unit": "records/s",
            "baseline": "DedupeEngine on the same records",
            "baseline_value": n as f64 / took.as_secs_f64(),
        }),
    ];
    println!("JSON {}", serde_json::Value::Array(figures));
}
