//! The public capture path against the engine alone, same run, same synthetic leads (the
//! capture benchmark's generator: ~20% planted duplicates): `Crm::capture_batch` into the
//! memory store and into a SQLite file, in batches of 2,000 (an import's chunk), against
//! normalise + match keys + `DedupeEngine::ingest` on one core. Also the phase costs of the
//! path (normalise, blind indexes, engine, sealing) to show where the time goes. After the
//! memory run it reads the history of 20 of the captured leads with `Crm::history` twice: the
//! first pass also indexes the history journal as it goes (a read that finds many entries past
//! the index's watermark indexes the next ones), the second reads through the index. Both
//! against the read `Crm::history` replaced (decoding the whole history journal and keeping the
//! lead's entries), which must agree with them.
//!
//! Run: `cargo bench -p marketingforce-crm --features testing --bench capture_path` (leads:
//! `CRM_PATH_LEADS`, default 100,000; `CRM_PATH_SQLITE=0` skips SQLite). On Linux it also
//! prints the memory store's rate per CPU-second of the process (all its threads: capture
//! spreads a batch's per-row work over the cores): on a machine shared with other work,
//! wall-clock rates vary from run to run far more than that figure does.
//!
//! After the memory run it also captures 300 new people one at a time with `Crm::capture` (a
//! web form's path) and prints the rate.
//!
//! After each capture run it times a rebuild of the tenant's CRM state (what a process does at
//! its first command for the tenant), against reading and decoding the tenant's leads and
//! vaults alone (`Collection::list_all`). Then it captures 200 new people one at a time
//! alternating between that process and a second one over the same store (each command first
//! catches up with the other process's last capture, where it used to rebuild the state),
//! against 200 through the first process alone.
//!
//! Both capture runs go under a subscriber that times the `crm.phase` spans (and no other
//! span: the rest stay disabled), and the bench prints where the calling thread's time went,
//! phase by phase (the phases that spread their rows over the cores are marked).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use marketingforce_core::storage::{Collection, Journal, MemoryStore, SqliteStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::crypto::{BlindIndexer, KeyRing, PiiCipher};
use marketingforce_crm::dedupe::{DedupeConfig, DedupeEngine, MatchKeys};
use marketingforce_crm::ids::LeadId;
use marketingforce_crm::lifecycle::{LeadEvent, HISTORY_JOURNAL};
use marketingforce_crm::model::{ContactPii, Contribution, Lead, VaultRecord};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::synth::{quality, Synth, SynthConfig};
use marketingforce_crm::Crm;

const BATCH: usize = 2_000;

/// The phases of a capture (the `phase` field of `crm.phase` spans) in the order they run,
/// each marked when its rows are spread over the cores.
const PHASES: [(&str, bool); 11] = [
    ("fingerprint", true),
    ("normalise", true),
    ("match_keys", true),
    ("engine", false),
    ("prefetch", true),
    ("apply", false),
    ("events", false),
    ("encode", true),
    ("seal", true),
    ("history", true),
    ("store", false),
];

/// Wall time of `crm.phase` spans from creation to close, summed by phase; every other span is
/// disabled.
#[derive(Clone, Default)]
struct PhaseClock(Arc<Mutex<BTreeMap<String, Duration>>>);

/// When a `crm.phase` span started, and its phase.
struct Started(String, Instant);

/// Reads the `phase` field of a span.
struct PhaseField(String);

impl tracing::field::Visit for PhaseField {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "phase" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S> tracing_subscriber::Layer<S> for PhaseClock
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if meta.name() == "crm.phase" {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        meta.name() == "crm.phase"
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut phase = PhaseField(String::new());
        attrs.record(&mut phase);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut()
                .insert(Started(phase.0, Instant::now()));
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let extensions = span.extensions();
        let Some(Started(phase, at)) = extensions.get::<Started>() else {
            return;
        };
        let mut totals = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *totals.entry(phase.clone()).or_default() += at.elapsed();
    }
}

impl PhaseClock {
    /// Run `f` with this clock as the thread's subscriber; the phase totals it saw, taken.
    fn time<R>(&self, f: impl FnOnce() -> R) -> (R, BTreeMap<String, Duration>) {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(self.clone());
        let out = tracing::subscriber::with_default(subscriber, f);
        let totals = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        (out, totals)
    }
}

/// Each phase's share of `total` (a capture run's wall time), in [`PHASES`] order, then what
/// no phase covers; `∥` marks a phase spread over the cores.
fn shares(totals: &BTreeMap<String, Duration>, total: Duration) -> String {
    let whole = total.as_secs_f64().max(f64::MIN_POSITIVE);
    let mut covered = Duration::ZERO;
    let mut parts: Vec<String> = PHASES
        .iter()
        .map(|&(name, spread)| {
            let t = totals.get(name).copied().unwrap_or_default();
            covered += t;
            let mark = if spread { " ∥" } else { "" };
            format!("{name}{mark} {:.1}%", 100.0 * t.as_secs_f64() / whole)
        })
        .collect();
    let other = total.saturating_sub(covered);
    parts.push(format!("other {:.1}%", 100.0 * other.as_secs_f64() / whole));
    parts.join(", ")
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// CPU time of this process so far, all threads (Linux: `/proc/self/stat`, user + system
/// time in clock ticks, taken as 100 per second), or `None` where it cannot be read. Only
/// the capture runs while the memory store's figure is taken, so the difference is its cost
/// without the time other processes on a shared machine take from it.
fn process_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) — utime and stime are the 12th
    // and 13th of them.
    let rest = text.get(text.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// What [`through_crm`] measured: the capture's time, its process CPU time where known, where
/// each capture ended up; with `history`, the [`Histories`] read afterwards; and the
/// [`Rebuilt`] state.
type Captured = (
    Duration,
    Option<Duration>,
    Vec<LeadId>,
    Option<Histories>,
    Rebuilt,
);

/// A rebuild of the tenant's state after the capture, against reading and decoding its leads
/// and vaults alone.
struct Rebuilt {
    leads: usize,
    rebuild: Duration,
    read: Duration,
    /// [`ALTERNATING`] captures through one process, then as many alternating between two
    /// (measured after the rest, see [`alternating`]).
    one_process: Duration,
    alternating: Duration,
}

/// The captures of the two-process measurement, each way.
const ALTERNATING: usize = 200;

/// Capture [`ALTERNATING`] new people one at a time through `crm`, then as many alternating
/// between `crm` and a second process over `store` (built, and its state rebuilt, first): each
/// command of the alternation starts behind the other process's last capture.
async fn alternating(
    crm: &Crm,
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    lead: LeadId,
) -> (Duration, Duration) {
    let other = process(store);
    black_box(other.survivor(tenant, &lead).await.expect("warm"));
    let people = Synth::new(SynthConfig {
        leads: 2 * ALTERNATING,
        duplicate_rate: 0.0,
        seed: 78,
    })
    .generate();
    let (alone, by_turns) = people.split_at(ALTERNATING);
    let t0 = Instant::now();
    for (i, p) in alone.iter().enumerate() {
        capture_one(crm, tenant, i, &p.request).await;
    }
    let one = t0.elapsed();
    let before = other.state_refreshes();
    let t0 = Instant::now();
    for (i, p) in by_turns.iter().enumerate() {
        let on = if i % 2 == 0 { &other } else { crm };
        capture_one(on, tenant, ALTERNATING + i, &p.request).await;
    }
    let two = t0.elapsed();
    let after = other.state_refreshes();
    assert_eq!(
        after.rebuilt, before.rebuilt,
        "the second process caught up, never rebuilt"
    );
    assert_eq!(after.caught_up - before.caught_up, ALTERNATING as u64 / 2);
    (one, two)
}

async fn capture_one(crm: &Crm, tenant: &TenantId, i: usize, p: &CaptureRequest) {
    let key = IdempotencyKey::new(format!("alt-{i}")).expect("key");
    black_box(crm.capture(tenant, p.clone(), &key).await.expect("capture"));
}

/// A process over `store` with the bench's keys.
fn process(store: &Arc<dyn Store>) -> Crm {
    Crm::builder(
        &marketingforce_core::env::Env::builder(store.clone())
            .keys(Arc::new(KeyRing::new("k1", [7; 32])))
            .build(),
    )
    .build()
    .expect("crm")
}

/// Time a rebuild of `tenant`'s state (forgotten first, then the first command rebuilds it),
/// and the read of its leads and vaults.
async fn rebuilt(crm: &Crm, store: &Arc<dyn Store>, tenant: &TenantId, lead: LeadId) -> Rebuilt {
    crm.forget_tenant(tenant);
    let t0 = Instant::now();
    black_box(crm.survivor(tenant, &lead).await.expect("survivor"));
    let rebuild = t0.elapsed();
    let t0 = Instant::now();
    let leads = Collection::<Lead>::new(store.clone())
        .list_all(tenant)
        .await
        .expect("leads");
    let vaults = Collection::<VaultRecord>::new(store.clone())
        .list_all(tenant)
        .await
        .expect("vaults");
    let read = t0.elapsed();
    black_box(vaults);
    Rebuilt {
        leads: leads.len(),
        rebuild,
        read,
        one_process: Duration::ZERO,
        alternating: Duration::ZERO,
    }
}

/// `Crm::history` of some captured leads after the capture, against the read it replaced:
/// decoding the whole history journal and keeping the lead's entries (same leads, same run).
struct Histories {
    leads: usize,
    entries: usize,
    /// The first pass, which indexes the journal as it goes.
    indexing: Duration,
    /// The second pass, through the index.
    history: Duration,
    decode_all: Duration,
}

async fn through_crm(store: Arc<dyn Store>, reqs: &[CaptureRequest], history: bool) -> Captured {
    let crm = process(&store);
    let tenant = TenantId::new();
    let mut leads = Vec::with_capacity(reqs.len());
    let t0 = Instant::now();
    let cpu0 = process_cpu();
    for (i, chunk) in reqs.chunks(BATCH).enumerate() {
        let rows = crm
            .capture_batch(
                &tenant,
                chunk,
                &IdempotencyKey::new(format!("b{i}")).expect("key"),
            )
            .await
            .expect("batch");
        leads.extend(rows.into_iter().map(|r| r.expect("valid row").lead()));
    }
    let took = t0.elapsed();
    let cpu = process_cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    // Where each capture ended up now (after later merges).
    let mut out = Vec::with_capacity(leads.len());
    for l in leads {
        out.push(crm.survivor(&tenant, &l).await.unwrap_or(l));
    }
    let mut rebuild = rebuilt(&crm, &store, &tenant, out[0]).await;
    if history {
        one_at_a_time(&crm, &tenant).await;
    }
    let histories = if history {
        Some(histories(&crm, &store, &tenant, &out).await)
    } else {
        None
    };
    // Last: its captures would add to the histories' journal.
    (rebuild.one_process, rebuild.alternating) = alternating(&crm, &store, &tenant, out[0]).await;
    (took, cpu, out, histories, rebuild)
}

/// `Crm::capture` of 300 new people one at a time after the batches (a web form's path, on a
/// tenant that already holds the batches' leads): print the rate.
async fn one_at_a_time(crm: &Crm, tenant: &TenantId) {
    let people = Synth::new(SynthConfig {
        leads: 300,
        duplicate_rate: 0.0,
        seed: 77,
    })
    .generate();
    let t0 = Instant::now();
    for (i, p) in people.iter().enumerate() {
        let key = IdempotencyKey::new(format!("one-{i}")).expect("key");
        crm.capture(tenant, p.request.clone(), &key)
            .await
            .expect("capture");
    }
    println!(
        "Crm::capture one at a time, memory, after the batches: {:.0} captures/s",
        rate(people.len(), t0.elapsed())
    );
}

/// Read the history of 20 of `leads` (spread over the capture) both ways; the answers must agree.
async fn histories(
    crm: &Crm,
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    leads: &[LeadId],
) -> Histories {
    let sample: Vec<LeadId> = leads
        .iter()
        .step_by((leads.len() / 20).max(1))
        .copied()
        .collect();
    let t0 = Instant::now();
    let mut first = Vec::with_capacity(sample.len());
    for l in &sample {
        first.push(crm.history(tenant, l).await.expect("history"));
    }
    let indexing = t0.elapsed();
    let t0 = Instant::now();
    let mut read = Vec::with_capacity(sample.len());
    for l in &sample {
        read.push(crm.history(tenant, l).await.expect("history"));
    }
    let history = t0.elapsed();
    assert_eq!(first, read, "the same histories before and after indexing");
    let journal = Journal::<LeadEvent>::new(store.clone(), HISTORY_JOURNAL);
    let mut entries = 0;
    let t0 = Instant::now();
    for (l, got) in sample.iter().zip(&read) {
        let all = journal.read_all(tenant).await.expect("journal");
        entries = all.len();
        let own: Vec<LeadEvent> = all
            .into_iter()
            .map(|(_, e)| e)
            .filter(|e| e.lead == *l)
            .collect();
        assert_eq!(&own, got, "the history of {l}");
    }
    let decode_all = t0.elapsed();
    Histories {
        leads: sample.len(),
        entries,
        indexing,
        history,
        decode_all,
    }
}

/// Print a [`Rebuilt`] and add its figure.
fn print_rebuilt(store: &str, r: &Rebuilt, figures: &mut Vec<serde_json::Value>) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "CRM state rebuild, {store}, {} leads: {:.0} ms; reading and decoding the tenant's leads and vaults alone: {:.0} ms",
        r.leads,
        ms(r.rebuild),
        ms(r.read)
    );
    figures.push(serde_json::json!({
        "id": format!("crm.capture_path.rebuild_{}", store.to_lowercase()),
        "label": format!("CRM state rebuild of a tenant of {} leads, {store}", r.leads),
        "value": ms(r.rebuild),
        "unit": "ms",
        "baseline": "reading and decoding the tenant's leads and vaults (Collection::list_all)",
        "baseline_value": ms(r.read),
    }));
    let per_s = |d: Duration| rate(ALTERNATING, d);
    println!(
        "Crm::capture alternating between two processes over one {store} store, tenant of {} leads (each command catches up with the other's capture): {:.0} captures/s; through one process: {:.0} captures/s",
        r.leads,
        per_s(r.alternating),
        per_s(r.one_process)
    );
    figures.push(serde_json::json!({
        "id": format!("crm.capture_path.alternating_{}", store.to_lowercase()),
        "label": format!("Crm::capture alternating between two processes over one {store} store, tenant of {} leads (each catches up with the other's writes)", r.leads),
        "value": per_s(r.alternating),
        "unit": "captures/s",
        "baseline": "the same captures through one process",
        "baseline_value": per_s(r.one_process),
    }));
}

fn main() {
    let n: usize = std::env::var("CRM_PATH_LEADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let sqlite = std::env::var("CRM_PATH_SQLITE").map_or(true, |v| v != "0");
    let data = Synth::new(SynthConfig {
        leads: n,
        duplicate_rate: 0.2,
        seed: 2026,
    })
    .generate();
    let reqs: Vec<CaptureRequest> = data.iter().map(|d| d.request.clone()).collect();
    let tenant = TenantId::new();
    let ring = Arc::new(KeyRing::new("k1", [7; 32]));
    let ix = BlindIndexer::new(ring.clone())
        .expect("indexer")
        .tenant(&tenant)
        .expect("key");

    // Baseline: the engine alone (normalise, blind indexes, match, merge), one core.
    let t0 = Instant::now();
    let mut engine = DedupeEngine::with_capacity(DedupeConfig::default(), n);
    let mut counter = 0u128;
    let leads: Vec<LeadId> = reqs
        .iter()
        .map(|r| {
            let nc = r.normalise().expect("valid");
            let keys = MatchKeys::of(&nc.identity, nc.source.as_str(), &ix);
            engine
                .ingest(&keys, || {
                    counter += 1;
                    LeadId::from_uuid(marketingforce_core::id::Uuid::from_u128(counter))
                })
                .lead()
        })
        .collect();
    let t_engine = t0.elapsed();
    let clusters: Vec<LeadId> = leads
        .iter()
        .map(|l| engine.survivor(*l).unwrap_or(*l))
        .collect();
    let q_engine = quality(&data, &clusters);
    // Planted duplicates the engine left apart from their original, by kind, and for the
    // probabilistic ones the match weight of the pair (below the auto-merge weight: the
    // review band, or below it: missed by the model; at or above: missed by blocking).
    {
        let mut first: std::collections::HashMap<u32, usize> = Default::default();
        let mut missed: std::collections::BTreeMap<String, usize> = Default::default();
        for (i, d) in data.iter().enumerate() {
            let Some(kind) = d.duplicate else {
                first.entry(d.person).or_insert(i);
                continue;
            };
            let Some(&o) = first.get(&d.person) else {
                continue;
            };
            if clusters[i] == clusters[o] {
                continue;
            }
            let band = match kind {
                marketingforce_crm::synth::DuplicateKind::Fuzzy => {
                    let rec = |j: usize| {
                        let nc = reqs[j].normalise().expect("valid");
                        MatchKeys::of(&nc.identity, nc.source.as_str(), &ix).record
                    };
                    match (rec(i), rec(o)) {
                        (Some(a), Some(b)) => {
                            let w = engine.weights().score(&a, &b);
                            let f = &engine.config().fuzzy;
                            if w >= f.auto_merge_weight {
                                "not blocked"
                            } else if w >= f.review_weight {
                                "review band"
                            } else {
                                "below review"
                            }
                        }
                        _ => "no record",
                    }
                }
                _ => "exact",
            };
            *missed.entry(format!("{kind:?} / {band}")).or_default() += 1;
        }
        println!("planted duplicates not merged with their original: {missed:?}");
    }

    // Phases of the path.
    let t0 = Instant::now();
    let norm: Vec<_> = reqs.iter().map(|r| r.normalise().expect("valid")).collect();
    let t_norm = t0.elapsed();
    let t0 = Instant::now();
    let keys: Vec<MatchKeys> = norm
        .iter()
        .map(|nc| MatchKeys::of(&nc.identity, nc.source.as_str(), &ix))
        .collect();
    let t_keys = t0.elapsed();
    let mut e2 = DedupeEngine::with_capacity(DedupeConfig::default(), n);
    let t0 = Instant::now();
    for k in &keys {
        black_box(e2.ingest(k, LeadId::new));
    }
    let t_ingest = t0.elapsed();
    let cipher = PiiCipher::new(ring.clone());
    let t0 = Instant::now();
    for nc in &norm {
        let lead = LeadId::new();
        let pii = ContactPii {
            contributions: vec![Contribution {
                origin: lead,
                source: nc.source,
                at: chrono::Utc::now(),
                identity: nc.identity.clone(),
            }],
        };
        let plain = serde_json::to_vec(&pii).expect("json");
        black_box(
            cipher
                .seal(&tenant, lead.to_string().as_bytes(), &plain)
                .expect("seal"),
        );
    }
    let t_seal = t0.elapsed();
    drop((norm, keys, e2));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let clock = PhaseClock::default();
    let ((t_mem, cpu_mem, c_mem, hist, rebuilt_mem), phases_mem) =
        clock.time(|| rt.block_on(through_crm(Arc::new(MemoryStore::new()), &reqs, true)));
    let q_mem = quality(&data, &c_mem);
    let sql = sqlite.then(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("crm.db");
        clock.time(|| {
            rt.block_on(async {
                let store = Arc::new(SqliteStore::open(&path).await.expect("sqlite"));
                through_crm(store, &reqs, false).await
            })
        })
    });

    let engine_rate = rate(n, t_engine);
    println!("{n} synthetic leads, batches of {BATCH}");
    println!(
        "engine alone (baseline): {:.0} leads/s, precision {:.4} recall {:.4}",
        engine_rate, q_engine.precision, q_engine.recall
    );
    println!(
        "phases: normalise {:.0}/s, match keys {:.0}/s, match+merge {:.0}/s, seal one vault {:.0}/s",
        rate(n, t_norm),
        rate(n, t_keys),
        rate(n, t_ingest),
        rate(n, t_seal)
    );
    println!(
        "Crm::capture_batch, memory: {:.0} leads/s ({:.2}x the engine), precision {:.4} recall {:.4}",
        rate(n, t_mem),
        rate(n, t_mem) / engine_rate,
        q_mem.precision,
        q_mem.recall
    );
    if let Some(cpu) = cpu_mem {
        println!(
            "Crm::capture_batch, memory, per CPU-second of the process: {:.0} leads/s",
            rate(n, cpu)
        );
    }
    println!(
        "Crm::capture_batch, memory, the calling thread's time by phase (∥: spread over the cores): {}",
        shares(&phases_mem, t_mem)
    );
    let mut figures = vec![
        serde_json::json!({"id": "crm.capture_path.engine", "label": format!("engine alone, {n} leads"), "value": engine_rate, "unit": "leads/s"}),
        serde_json::json!({"id": "crm.capture_path.capture_batch_memory", "label": format!("Crm::capture_batch into memory, {n} leads"), "value": rate(n, t_mem), "unit": "leads/s", "baseline": "engine alone, same run", "baseline_value": engine_rate}),
    ];
    if let Some(h) = hist {
        let (fast, first, slow) = (
            rate(h.leads, h.history),
            rate(h.leads, h.indexing),
            rate(h.leads, h.decode_all),
        );
        println!(
            "Crm::history of one lead, memory, {} entries in the tenant's history journal: {fast:.1} reads/s through the index; {first:.1} reads/s for the first {} reads, which index the journal; decoding the whole journal and filtering: {slow:.1} reads/s",
            h.entries, h.leads
        );
        let baseline =
            "decode the whole history journal and keep the lead's entries (the read it replaced)";
        figures.push(serde_json::json!({"id": "crm.capture_path.history", "label": format!("Crm::history of one lead among {n} captures' history entries ({} in all), memory, through the index", h.entries), "value": fast, "unit": "reads/s", "baseline": baseline, "baseline_value": slow}));
        figures.push(serde_json::json!({"id": "crm.capture_path.history_indexing", "label": format!("the first {} Crm::history reads after {n} captures, which index the history journal as they go, memory", h.leads), "value": first, "unit": "reads/s", "baseline": baseline, "baseline_value": slow}));
    }
    print_rebuilt("memory", &rebuilt_mem, &mut figures);
    if let Some(((t_sql, _, c_sql, _, rebuilt_sql), phases_sql)) = sql {
        let q = quality(&data, &c_sql);
        println!(
            "Crm::capture_batch, SQLite: {:.0} leads/s ({:.2}x the engine), precision {:.4} recall {:.4}",
            rate(n, t_sql),
            rate(n, t_sql) / engine_rate,
            q.precision,
            q.recall
        );
        println!(
            "Crm::capture_batch, SQLite, the calling thread's time by phase (∥: spread over the cores): {}",
            shares(&phases_sql, t_sql)
        );
        print_rebuilt("SQLite", &rebuilt_sql, &mut figures);
        figures.push(serde_json::json!({"id": "crm.capture_path.capture_batch_sqlite", "label": format!("Crm::capture_batch into SQLite, {n} leads"), "value": rate(n, t_sql), "unit": "leads/s", "baseline": "engine alone, same run", "baseline_value": engine_rate}));
    }
    println!("JSON {}", serde_json::Value::Array(figures));
}
