//! Several OS processes over one store, under random routing, with one process killed by
//! SIGKILL mid-run and restarted; then every invariant is checked from the store's own data.
//!
//! The test binary is its own worker: [`mp_worker`] does nothing unless `MF_MP_WORKER` is set;
//! the harness starts three copies of this binary with it set (`--exact mp_worker`), each
//! opening the store from `MF_MP_STORE` and serving commands read from stdin (one per line:
//! `<index> <op> <argument>`) concurrently, answering `MP> <index> <result>` on stdout.
//!
//! Load (seeded; `MF_MP_SEED=<n>` replays a run): 1-unit consumes of a 60-unit monthly
//! quota under keys drawn from a pool (so keys repeat on other processes: replays), captures of
//! mobiles drawn from a pool (shared identities), seat assignments against 5 seats, and ledger
//! transfers of 10 from an account holding 500 that must not go negative. Commands sent to the
//! killed process and not answered are sent again, with the same keys, to random processes.
//!
//! Runs over one SQLite file, and over PostgreSQL when `MARKETINGFORCE_TEST_POSTGRES_URL` is
//! set (a fresh schema per run).

use marketingforce_core::env::Env;
use marketingforce_core::IdempotencyKey;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use marketingforce::ads::ledger::{
    Account, AccountFlags, AccountId as LedgerAccount, Ledger, Leg, TransferId, TransferSpec,
};
use marketingforce::ads::AdsError;
use marketingforce::core::money::Currency;
use marketingforce::core::storage::{self, Store};
use marketingforce::core::tenant::TenantId;
use marketingforce::core::time::{Clock, ManualClock};
use marketingforce::crm::crypto::KeyRing;
use marketingforce::crm::model::{LeadStatus, Source};
use marketingforce::crm::request::CaptureRequest;
use marketingforce::crm::{Crm, CrmError};
use marketingforce::modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
use marketingforce::modules::entitlements::{AccountId, EntitlementRegistry, Grant, SeatChange};
use marketingforce::modules::ModulesError;

const PROCESSES: usize = 3;
const COMMANDS: usize = 360;
const QUOTA: u64 = 60;
const SEATS: u32 = 5;
const FUNDS: u64 = 500;
const DEBIT: u64 = 10;
const KEY_POOL: u64 = 150;
const MOBILE_POOL: u64 = 40;
const SEAT_POOL: u64 = 20;
const TRANSFER_POOL: u64 = 80;
const FUNDS_ACCOUNT: u128 = 1;
const SINK_ACCOUNT: u128 = 2;
const SOURCE_ACCOUNT: u128 = 3;

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").expect("clock"))
}

fn keys() -> Arc<KeyRing> {
    // Every process holds the same key material (from the operator's key store).
    Arc::new(KeyRing::new("k1", [7; 32]))
}

fn d(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

fn mobile(i: u64) -> String {
    format!("139{:08}", 20_000 + i)
}

/// The services one process holds for the tenant.
struct Services {
    registry: EntitlementRegistry,
    crm: Crm,
    ledger: Ledger,
}

impl Services {
    async fn open(store: Arc<dyn Store>, tenant: TenantId) -> Services {
        Services {
            registry: EntitlementRegistry::builder(
                &marketingforce_core::env::Env::builder(store.clone())
                    .clock(clock())
                    .build(),
            )
            .build(),
            crm: Crm::builder(
                &marketingforce_core::env::Env::builder(store.clone())
                    .keys(keys())
                    .clock(clock())
                    .build(),
            )
            .build()
            .expect("crm"),
            ledger: Ledger::open(&Env::builder(store).clock(clock()).build(), tenant)
                .await
                .expect("ledger"),
        }
    }

    /// Run one command; the answer is a short word (`ok`, `replayed`, `refused`, `retry`) or
    /// `error:<what>`.
    async fn run(&self, tenant: TenantId, op: &str, arg: u64) -> String {
        match op {
            "consume" => {
                let meter = match self.registry.load(&tenant).await {
                    Ok(e) => e.meter(),
                    Err(e) => return modules_answer(&e),
                };
                match meter
                    .consume_durable(
                        &UsageUnit::ArticlesPublished,
                        1u64,
                        &IdempotencyKey::new(format!("c{arg}")).unwrap(),
                    )
                    .await
                {
                    Ok(c) if c.replayed => "replayed".into(),
                    Ok(_) => "ok".into(),
                    Err(ModulesError::QuotaExceeded { .. }) => "refused".into(),
                    Err(e) => modules_answer(&e),
                }
            }
            "seat" => {
                let e = match self.registry.load(&tenant).await {
                    Ok(e) => e,
                    Err(e) => return modules_answer(&e),
                };
                let account = AccountId::new(format!("sales-{arg}")).expect("account");
                match e.assign_seat(&ModuleId::LEADS_ALLOCATION, &account).await {
                    Ok(SeatChange::Assigned) => "ok".into(),
                    Ok(_) => "replayed".into(),
                    Err(ModulesError::SeatLimitReached { .. }) => "refused".into(),
                    Err(e) => modules_answer(&e),
                }
            }
            "capture" => {
                // arg = command index * MOBILE_POOL + mobile: the key is the command's own.
                let (command, m) = (arg / MOBILE_POOL, arg % MOBILE_POOL);
                let request = CaptureRequest::new(Source::OwnSite).mobile(mobile(m));
                match self
                    .crm
                    .capture(
                        &tenant,
                        request,
                        &IdempotencyKey::new(format!("capture-{command}")).unwrap(),
                    )
                    .await
                {
                    Ok(_) => "ok".into(),
                    Err(CrmError::Core(e)) if e.is_retryable() => "retry".into(),
                    Err(e) => format!("error:{e}"),
                }
            }
            "transfer" => {
                let spec = TransferSpec::posted(
                    TransferId::new(1000 + u128::from(arg)),
                    vec![
                        Leg::debit_minor(LedgerAccount::new(FUNDS_ACCOUNT), DEBIT, Currency::CNY),
                        Leg::credit_minor(LedgerAccount::new(SINK_ACCOUNT), DEBIT, Currency::CNY),
                    ],
                );
                match self.ledger.post(vec![spec]).await {
                    Ok(_) => "ok".into(),
                    Err(AdsError::Transfer { .. }) => "refused".into(),
                    Err(AdsError::Core(e)) if e.is_retryable() => "retry".into(),
                    Err(e) => format!("error:{e}"),
                }
            }
            other => format!("error:unknown op {other}"),
        }
    }
}

fn modules_answer(e: &ModulesError) -> String {
    match e {
        ModulesError::Core(c) if c.is_retryable() => "retry".into(),
        other => format!("error:{other}"),
    }
}

/// The worker side: a no-op unless started by the harness.
#[test]
fn mp_worker() {
    let (Ok(url), Ok(tenant)) = (std::env::var("MF_MP_STORE"), std::env::var("MF_MP_TENANT"))
    else {
        return;
    };
    if std::env::var_os("MF_MP_WORKER").is_none() {
        return;
    }
    let tenant: TenantId = tenant.parse().expect("tenant id");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let store = storage::open(&url).await.expect("store");
        let services = Arc::new(Services::open(store, tenant).await);
        println!("MP> ready");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut tasks = tokio::task::JoinSet::new();
        while let Some(line) = rx.recv().await {
            let mut parts = line.split_whitespace();
            let (Some(index), Some(op), Some(arg)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (index, op, arg) = (index.to_string(), op.to_string(), arg.parse().unwrap_or(0));
            let services = services.clone();
            tasks.spawn(async move {
                let answer = services.run(tenant, &op, arg).await;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "MP> {index} {answer}");
                let _ = out.flush();
            });
        }
        while tasks.join_next().await.is_some() {}
    });
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone)]
struct Cmd {
    op: &'static str,
    arg: u64,
}

fn plan(seed: u64) -> Vec<Cmd> {
    let mut rng = Rng(seed);
    (0..COMMANDS as u64)
        .map(|i| match rng.below(100) {
            0..=39 => Cmd {
                op: "consume",
                arg: rng.below(KEY_POOL),
            },
            40..=64 => Cmd {
                op: "capture",
                arg: i * MOBILE_POOL + rng.below(MOBILE_POOL),
            },
            65..=79 => Cmd {
                op: "seat",
                arg: rng.below(SEAT_POOL),
            },
            _ => Cmd {
                op: "transfer",
                arg: rng.below(TRANSFER_POOL),
            },
        })
        .collect()
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
}

fn spawn(
    url: &str,
    tenant: TenantId,
    slot: usize,
    answers: &mpsc::Sender<(usize, String)>,
) -> Worker {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "mp_worker", "--nocapture", "--test-threads=1"])
        .env("MF_MP_WORKER", "1")
        .env("MF_MP_STORE", url)
        .env("MF_MP_TENANT", tenant.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn worker");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let answers = answers.clone();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest may have written "test mp_worker ... " on the same line first.
            let Some(rest) = line.find("MP> ").map(|at| &line[at + 4..]) else {
                continue;
            };
            if rest == "ready" {
                let _ = ready_tx.send(());
                continue;
            }
            if let Some((index, answer)) = rest.split_once(' ') {
                if let Ok(index) = index.parse::<usize>() {
                    let _ = answers.send((index, format!("{slot}:{answer}")));
                }
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the worker started");
    Worker { child, stdin }
}

fn send(worker: &mut Worker, index: usize, cmd: &Cmd) {
    // A killed worker's pipe is closed: its commands are re-sent later.
    let _ = writeln!(worker.stdin, "{index} {} {}", cmd.op, cmd.arg);
    let _ = worker.stdin.flush();
}

/// Prepare the tenant: the quota and seats, the ledger's accounts and the funds.
async fn prepare(store: Arc<dyn Store>, tenant: TenantId) {
    let s = Services::open(store, tenant).await;
    s.registry
        .grant(
            Grant::new(tenant, d("2026-03-01"), d("2027-03-01"))
                .quota(UsageUnit::ArticlesPublished, QUOTA, QuotaPeriod::Month)
                .seats(ModuleId::LEADS_ALLOCATION, SEATS),
        )
        .await
        .expect("grant");
    let mut guarded = AccountFlags::NONE;
    guarded.debits_must_not_exceed_credits = true;
    let account = |id: u128, code: u16, flags| Account {
        id: LedgerAccount::new(id),
        currency: Currency::CNY,
        code,
        owner: 0,
        flags,
    };
    s.ledger
        .create_accounts(vec![
            account(FUNDS_ACCOUNT, 1, guarded),
            account(SINK_ACCOUNT, 2, AccountFlags::NONE),
            account(SOURCE_ACCOUNT, 3, AccountFlags::NONE),
        ])
        .await
        .expect("accounts");
    s.ledger
        .post(vec![TransferSpec::posted(
            TransferId::new(1),
            vec![
                Leg::debit_minor(LedgerAccount::new(SOURCE_ACCOUNT), FUNDS, Currency::CNY),
                Leg::credit_minor(LedgerAccount::new(FUNDS_ACCOUNT), FUNDS, Currency::CNY),
            ],
        )])
        .await
        .expect("funds");
}

/// Drive the load; returns each command's final answer (`<process>:<answer>`).
fn drive(url: &str, tenant: TenantId, seed: u64, cmds: &[Cmd]) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    let mut workers: Vec<Worker> = (0..PROCESSES).map(|i| spawn(url, tenant, i, &tx)).collect();
    let mut rng = Rng(seed ^ 0xA5A5);
    let mut routed: Vec<usize> = vec![0; cmds.len()];
    let mut answers: Vec<Option<String>> = vec![None; cmds.len()];
    let collect = |answers: &mut Vec<Option<String>>,
                   routed: &mut Vec<usize>,
                   workers: &mut Vec<Worker>,
                   rng: &mut Rng,
                   until: Instant| {
        while answers.iter().any(Option::is_none) && Instant::now() < until {
            let Ok((index, answer)) = rx.recv_timeout(Duration::from_millis(200)) else {
                continue;
            };
            if answer.ends_with(":retry") {
                // A retryable answer: the client sends the same command again, anywhere.
                let w = rng.below(PROCESSES as u64) as usize;
                routed[index] = w;
                send(&mut workers[w], index, &cmds[index]);
                continue;
            }
            answers[index] = Some(answer);
        }
    };
    let half = cmds.len() / 2;
    for (i, cmd) in cmds.iter().enumerate().take(half) {
        let w = rng.below(PROCESSES as u64) as usize;
        routed[i] = w;
        send(&mut workers[w], i, cmd);
    }
    // Let process 0 answer a few, then kill it mid-stream (it still has work in flight).
    let until = Instant::now() + Duration::from_secs(30);
    while answers
        .iter()
        .flatten()
        .filter(|a| a.starts_with("0:"))
        .count()
        < 5
        && Instant::now() < until
    {
        collect(
            &mut answers,
            &mut routed,
            &mut workers,
            &mut rng,
            Instant::now() + Duration::from_millis(1),
        );
    }
    workers[0].child.kill().expect("SIGKILL");
    let _ = workers[0].child.wait();
    workers[0] = spawn(url, tenant, 0, &tx);
    // Commands the killed process never answered go again, same keys, to random processes.
    let unanswered = (0..half)
        .filter(|&i| answers[i].is_none() && routed[i] == 0)
        .count();
    eprintln!("seed {seed}: process 0 killed with {unanswered} commands unanswered");
    for i in 0..half {
        if answers[i].is_none() && routed[i] == 0 {
            let w = rng.below(PROCESSES as u64) as usize;
            routed[i] = w;
            send(&mut workers[w], i, &cmds[i]);
        }
    }
    for (i, cmd) in cmds.iter().enumerate().skip(half) {
        let w = rng.below(PROCESSES as u64) as usize;
        routed[i] = w;
        send(&mut workers[w], i, cmd);
    }
    collect(
        &mut answers,
        &mut routed,
        &mut workers,
        &mut rng,
        Instant::now() + Duration::from_secs(120),
    );
    for mut w in workers {
        drop(w.stdin);
        let _ = w.child.wait();
    }
    answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| a.unwrap_or_else(|| panic!("seed {seed}: command {i} never answered")))
        .collect()
}

/// Check every invariant from the store's own data.
async fn check(
    store: Arc<dyn Store>,
    tenant: TenantId,
    seed: u64,
    cmds: &[Cmd],
    answers: &[String],
) {
    let replay = format!(
        "seed {seed}: replay with MF_MP_SEED={seed} cargo test --all-features --test several_processes"
    );
    for a in answers {
        assert!(!a.contains(":error:"), "{replay}: {a}");
    }
    let answered = |op: &str, word: &str| -> BTreeSet<u64> {
        cmds.iter()
            .zip(answers)
            .filter(|(c, a)| c.op == op && a.ends_with(&format!(":{word}")))
            .map(|(c, _)| c.arg)
            .collect()
    };
    let sent =
        |op: &str| -> BTreeSet<u64> { cmds.iter().filter(|c| c.op == op).map(|c| c.arg).collect() };
    let s = Services::open(store.clone(), tenant).await;

    // Quota: never exceeded, every refusal true, every acknowledged key stored once.
    let ents = s.registry.load(&tenant).await.expect("entitlements");
    let meter = ents.meter();
    let balance = meter.balance(&UsageUnit::ArticlesPublished);
    let keys = sent("consume");
    assert!(
        balance.used.get() <= QUOTA,
        "{replay}: used {} of {QUOTA}",
        balance.used
    );
    assert_eq!(
        balance.used.get(),
        (keys.len() as u64).min(QUOTA),
        "{replay}: used vs distinct keys sent"
    );
    assert_eq!(
        meter.events_recorded() as u64,
        balance.used.get(),
        "{replay}"
    );
    for key in answered("consume", "ok") {
        let again = meter
            .consume(
                &UsageUnit::ArticlesPublished,
                1u64,
                &IdempotencyKey::new(format!("c{key}")).unwrap(),
            )
            .expect("replay");
        assert!(
            again.replayed,
            "{replay}: acknowledged key c{key} is stored"
        );
    }

    // Seats: the limit holds, every refusal was true.
    let holders = ents.seat_holders(&ModuleId::LEADS_ALLOCATION);
    let accounts = sent("seat");
    assert_eq!(
        holders.len(),
        accounts.len().min(SEATS as usize),
        "{replay}: seat holders"
    );

    // Leads: one live lead per identity captured.
    let mobiles: BTreeSet<u64> = cmds
        .iter()
        .filter(|c| c.op == "capture")
        .map(|c| c.arg % MOBILE_POOL)
        .collect();
    let live = s
        .crm
        .all_leads(&tenant)
        .await
        .expect("leads")
        .into_iter()
        .filter(|l| l.status == LeadStatus::Active)
        .count();
    assert_eq!(live, mobiles.len(), "{replay}: live leads vs identities");
    for m in &mobiles {
        let found = s
            .crm
            .find_by_mobile(&tenant, &mobile(*m))
            .await
            .expect("find");
        assert_eq!(found.len(), 1, "{replay}: one lead holds mobile #{m}");
    }

    // Ledger: balanced, the guarded account never negative, every acknowledged transfer once.
    let ids = sent("transfer");
    let fits = (FUNDS / DEBIT) as usize;
    let funds = s
        .ledger
        .balance(LedgerAccount::new(FUNDS_ACCOUNT))
        .await
        .expect("ledger read")
        .expect("funds");
    assert!(
        funds.debits_posted <= funds.credits_posted,
        "{replay}: funds overdrawn"
    );
    assert_eq!(
        funds.debits_posted,
        u128::from(DEBIT * ids.len().min(fits) as u64),
        "{replay}: debits vs distinct transfers"
    );
    let sink = s
        .ledger
        .balance(LedgerAccount::new(SINK_ACCOUNT))
        .await
        .expect("ledger read")
        .expect("sink");
    assert_eq!(
        sink.credits_posted, funds.debits_posted,
        "{replay}: balanced"
    );
    for id in answered("transfer", "ok") {
        assert!(
            s.ledger
                .transfer(TransferId::new(1000 + u128::from(id)))
                .await
                .expect("ledger read")
                .is_some(),
            "{replay}: acknowledged transfer {id} is stored"
        );
    }

    // Journals are gap-free.
    for journal in [
        "modules.usage",
        "modules.seat_events",
        "crm.writes",
        "ads.ledger",
    ] {
        let mut seqs = Vec::new();
        let mut after = 0;
        loop {
            let page = store
                .read_journal(&tenant, journal, after, 1000)
                .await
                .expect("journal");
            let Some(last) = page.last() else { break };
            after = last.seq;
            seqs.extend(page.iter().map(|e| e.seq));
        }
        let want: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, want, "{replay}: {journal} has no gaps");
    }

    // Every answer is accounted for: what each process said, per operation.
    let mut tally: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for (c, a) in cmds.iter().zip(answers) {
        let word = a.split_once(':').map_or(a.clone(), |(_, w)| w.to_string());
        *tally.entry((c.op, word)).or_default() += 1;
    }
    eprintln!("seed {seed}: {tally:?}");
}

fn seed() -> u64 {
    std::env::var("MF_MP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

async fn run(url: String) {
    let seed = seed();
    let tenant = TenantId::new();
    let store = storage::open(&url).await.expect("store");
    prepare(store.clone(), tenant).await;
    let cmds = plan(seed);
    let answers = {
        let url = url.clone();
        let cmds = cmds.clone();
        tokio::task::spawn_blocking(move || drive(&url, tenant, seed, &cmds))
            .await
            .expect("drive")
    };
    let per_process: HashMap<String, usize> = answers.iter().fold(HashMap::new(), |mut m, a| {
        *m.entry(a.split(':').next().unwrap_or("?").to_string())
            .or_default() += 1;
        m
    });
    eprintln!("answers per process: {per_process:?}");
    check(store, tenant, seed, &cmds, &answers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_over_one_sqlite_file() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite:{}", dir.path().join("mp.sqlite").display());
    run(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_over_postgres() {
    let Ok(base) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") else {
        eprintln!("skipped: MARKETINGFORCE_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = format!(
        "{}_mp",
        std::env::var("MARKETINGFORCE_TEST_POSTGRES_SCHEMA").unwrap_or_else(|_| "mf_dev".into())
    );
    let sep = if base.contains('?') { '&' } else { '?' };
    run(format!("{base}{sep}schema={schema}")).await;
}
