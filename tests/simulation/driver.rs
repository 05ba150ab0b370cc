//! The driver: set up, then run `steps` randomly chosen operations for random tenants while
//! time passes, checking the invariants after every step and in depth periodically, after
//! every crash and at the end.

use std::cell::Cell;
use std::collections::BTreeMap;

use chrono::Duration;
use marketingforce_core::storage::Fault;

use super::checks::Domain;
use super::world::{Failure, Settings, World};

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Steps run.
    pub steps: u64,
    /// The trace hash: two runs of one seed must agree.
    pub trace_hash: u64,
    /// Trace lines.
    pub trace_lines: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<Fault, u64>,
    /// Processes started (1 + crashes).
    pub processes: u64,
    /// Attempts cancelled mid-call (futures dropped at an await).
    pub cancelled: u64,
    /// Attempts run on the second process over the same store.
    pub on_second: u64,
    /// How often the second process's CRM caught its state of a tenant up with the first
    /// process's writes, and rebuilt it (`None`: no command ran there).
    pub second_crm: Option<marketingforce_crm::StateRefreshes>,
    /// Operations run, by name.
    pub ops: BTreeMap<&'static str, u64>,
    /// Live leads, publications and ledger transfers per tenant at the end.
    pub totals: Vec<(usize, usize, usize)>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let faults: u64 = self.faults.values().sum();
        writeln!(
            f,
            "seed {}: {} steps, trace {:016x} ({} lines), {} processes, {faults} faults injected",
            self.seed, self.steps, self.trace_hash, self.trace_lines, self.processes
        )?;
        writeln!(f, "  faults: {:?}", self.faults)?;
        writeln!(
            f,
            "  attempts cancelled: {}; attempts on the second process: {}",
            self.cancelled, self.on_second
        )?;
        if let Some(r) = self.second_crm {
            writeln!(
                f,
                "  the second process's CRM state: caught up {} times, rebuilt {} times",
                r.caught_up, r.rebuilt
            )?;
        }
        writeln!(f, "  operations: {:?}", self.ops)?;
        write!(
            f,
            "  per tenant (live leads, publications, ledger transfers): {:?}",
            self.totals
        )
    }
}

/// The operations and their weights.
const OPS: [(&str, u64); 23] = [
    ("buy_pack", 1),
    ("consume", 9),
    ("reserve", 4),
    ("seat", 4),
    ("capture", 14),
    ("capture_batch", 3),
    ("allocate", 6),
    ("transition", 4),
    ("staff_join", 1),
    ("depart", 1),
    ("top_up", 7),
    ("receipt", 2),
    ("prepay", 1),
    ("deliver", 6),
    ("refund", 1),
    ("settle", 2),
    ("publish", 8),
    ("run_due", 2),
    ("retry_publication", 1),
    ("new_day", 4),
    ("crash", 1),
    ("replay", 4),
    ("isolation", 1),
];

thread_local! {
    static CURRENT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Prints the seed and step if the run panics (a panic inside a domain crate is a failure
/// too, and must be replayable).
struct PanicReport(Settings);

impl Drop for PanicReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let (seed, step) = CURRENT.with(Cell::get);
            eprintln!(
                "simulation seed {seed} panicked at step {step}; replay exactly with:\n    {}",
                self.0.replay_command(step.max(1))
            );
        }
    }
}

/// Run one seed.
///
/// # Errors
/// The first invariant that broke, with the seed, the step and the replay command.
pub async fn run(settings: Settings) -> Result<Report, Failure> {
    let seed = settings.seed;
    let steps = settings.steps;
    CURRENT.with(|c| c.set((seed, 0)));
    let _guard = PanicReport(settings.clone());
    let mut w = World::new(settings.clone())
        .await
        .map_err(|message| Failure {
            seed,
            step: 0,
            message,
            recent: String::new(),
            replay: settings.replay_command(1),
        })?;
    w.setup().await?;
    w.deep_check("after setup").await?;
    let mut ops: BTreeMap<&'static str, u64> = BTreeMap::new();
    let weights: Vec<u64> = OPS.iter().map(|(_, w)| *w).collect();
    for step in 1..=steps {
        w.step = step;
        CURRENT.with(|c| c.set((seed, step)));
        let minutes = if w.rng.chance(200) {
            0
        } else {
            w.rng.range(1, 12)
        };
        if w.today() < super::ops_ads::horizon() {
            w.clock.advance(Duration::minutes(minutes as i64));
        }
        let i = w.rng.index(w.tenants.len());
        let (name, _) = OPS[w.rng.weighted(&weights)];
        *ops.entry(name).or_insert(0) += 1;
        let domain = match name {
            "consume" => w.op_consume(i).await.map(|()| Domain::Modules),
            "reserve" => w.op_reserve(i).await.map(|()| Domain::Modules),
            "seat" => w.op_seat(i).await.map(|()| Domain::Modules),
            "buy_pack" => w.op_buy_pack(i).await.map(|()| Domain::Content),
            "capture" => w.op_capture(i).await.map(|()| Domain::Crm),
            "capture_batch" => w.op_capture_batch(i).await.map(|()| Domain::Crm),
            "allocate" => w.op_allocate(i).await.map(|()| Domain::Crm),
            "transition" => w.op_transition(i).await.map(|()| Domain::Crm),
            "staff_join" => w.op_staff_join(i).await.map(|()| Domain::Crm),
            "depart" => w.op_depart(i).await.map(|()| Domain::Crm),
            "top_up" => w.op_top_up(i).await.map(|()| Domain::Ads),
            "receipt" => w.op_receipt(i).await.map(|()| Domain::Ads),
            "prepay" => w.op_prepay(i).await.map(|()| Domain::Ads),
            "deliver" => w.op_deliver(i).await.map(|()| Domain::Ads),
            "refund" => w.op_refund(i).await.map(|()| Domain::Ads),
            "settle" => w.op_settle(i).await.map(|()| Domain::Ads),
            "publish" => w.op_publish(i).await.map(|()| Domain::Content),
            "run_due" => w.op_run_due(i).await.map(|()| Domain::Content),
            "retry_publication" => w.op_retry_publication(i).await.map(|()| Domain::Content),
            "new_day" => w.op_new_day().await.map(|()| Domain::Ads),
            "crash" => w.crash("scheduled").await.map(|()| Domain::Modules),
            "replay" => w.op_replay(i).await,
            _ => w.op_isolation(i).await.map(|()| Domain::Crm),
        }?;
        w.check(i, domain).await?;
        if name == "crash" {
            w.deep_check("after a crash").await?;
        } else if step % w.settings.deep_check_every.max(1) == 0 {
            w.deep_check("periodic").await?;
        }
    }
    w.deep_check("end").await?;
    // The summary is read with faults paused: it reports the run, it is not a step of it.
    w.faulty.pause();
    let mut totals = Vec::new();
    for i in 0..w.tenants.len() {
        let leads = w.stored_leads(i).await?;
        let live = World::live(&leads).count();
        let publications = w.stored_publications(i).await?.len();
        let transfers = w.svc.ads[i]
            .ledger()
            .read(|e| e.transfer_count())
            .await
            .unwrap();
        totals.push((live, publications, transfers));
    }
    Ok(Report {
        seed,
        steps,
        trace_hash: w.trace.hash(),
        trace_lines: w.trace.len(),
        faults: w.faulty.counts(),
        processes: w.process,
        cancelled: w.cancelled,
        on_second: w.on_second,
        second_crm: w.other.as_ref().map(|o| o.crm.state_refreshes()),
        ops,
        totals,
    })
}

/// Run one seed on a fresh single-threaded runtime (deterministic scheduling).
///
/// # Errors
/// As [`run`].
pub fn run_blocking(settings: Settings) -> Result<Report, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure {
            seed: settings.seed,
            step: 0,
            message: format!("no runtime: {e}"),
            recent: String::new(),
            replay: settings.replay_command(1),
        })?
        .block_on(run(settings))
}
