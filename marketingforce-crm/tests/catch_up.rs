//! Two processes over one store take a tenant's commands in turn: each catches its state up
//! with the other's writes (captures, allocations, merges, un-merges, erasures, staff and
//! configuration changes), and every command decides exactly what it decides in a process that rebuilds
//! the state from storage before each command.

mod common;

use std::sync::Arc;

use common::{run, synthetic, Env};
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::time::Clock;
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::allocation::{AllocationRule, Strategy};
use marketingforce_crm::ids::{LeadId, UserId};
use marketingforce_crm::model::{Actor, LeadStatus, Source, Stage};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::staff::{Role, Staff};
use marketingforce_crm::{CaptureOutcome, Crm, CrmConfig, StateRefreshes};

/// What a step should make the process that runs it do with its state first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Refresh {
    /// Its state was current (its own write was the last).
    Nothing,
    CaughtUp,
    Rebuilt,
}

#[derive(Debug, Clone)]
enum Step {
    /// Capture these synthetic rows in one batch.
    Capture(std::ops::Range<usize>),
    AllocatePending,
    /// Merge the lead created by the second row into the one of the first.
    Merge(usize, usize),
    /// Move the lead created by this row to Lost (its owner's load drops).
    Lose(usize),
    /// Reject the first pending proposal of the review queue.
    RejectFirst,
    /// Capture again, from another source, the latest row whose lead is in a pending proposal
    /// made after the first 700 rows (by the other process): the pair must not be proposed
    /// again.
    RecaptureProposed,
    Unmerge(usize),
    Erase(usize),
    /// Erase the lead created by the latest row that created one.
    EraseLatestNew,
    /// Un-merge the lead of the first row from this one on (round the rows) whose lead is
    /// merged as stored.
    UnmergeFrom(usize),
    /// The first salesperson leaves (their open leads are allocated again).
    Depart,
    /// The first salesperson comes back.
    Rehire,
    /// Configure the tenant: the leads of other regions go round robin to every salesperson
    /// (not to the least loaded), with a new review threshold when `dedupe`.
    Reconfigure {
        dedupe: bool,
    },
}

/// `(process, step, what the process does with its state first)`.
fn script() -> Vec<(usize, Step, Refresh)> {
    use Refresh::*;
    use Step::*;
    vec![
        (0, Capture(0..700), Nothing),
        (1, Capture(700..1_400), Rebuilt),
        (0, RecaptureProposed, CaughtUp),
        (0, Capture(1_400..1_800), Nothing),
        (1, AllocatePending, CaughtUp),
        (0, Capture(1_800..2_000), CaughtUp),
        // The loads of the other process's allocations count (the first salesperson is full).
        (0, AllocatePending, Nothing),
        (0, Merge(10, 20), Nothing),
        (1, Lose(5), CaughtUp),
        (1, RejectFirst, Nothing),
        (0, Capture(2_000..2_200), CaughtUp),
        (1, Unmerge(20), CaughtUp),
        (0, Capture(2_200..2_400), CaughtUp),
        (1, Erase(30), CaughtUp),
        (0, Capture(2_400..2_600), CaughtUp),
        // An erasure of a lead others were merged into, then of one kept apart from another
        // by its un-merge (a rebuild loads both without their vaults).
        (0, Merge(40, 50), Nothing),
        (1, Erase(40), CaughtUp),
        (0, Erase(20), CaughtUp),
        (1, Depart, CaughtUp),
        (0, AllocatePending, CaughtUp),
        (1, Capture(2_600..3_000), CaughtUp),
        (0, AllocatePending, CaughtUp),
        (1, Rehire, CaughtUp),
        // A new configuration is taken in place by the process that made it, which then
        // catches up with its own change (here when the runner reads its loads after the
        // step); the other process catches up with it too.
        (1, Reconfigure { dedupe: false }, Nothing),
        (1, Capture(3_000..3_200), Nothing),
        // A lead the other process never knew, captured and erased here.
        (1, EraseLatestNew, Nothing),
        // The salesperson back takes leads again here too, by the new rules.
        (0, AllocatePending, CaughtUp),
        // New dedupe settings: the state is rebuilt for them, here and in the other process.
        (0, Reconfigure { dedupe: true }, Rebuilt),
        (0, Capture(3_200..3_300), Nothing),
        (1, Capture(3_300..3_400), Rebuilt),
    ]
}

/// The staff of the scenario: three salespeople and an admin. Leads from two northern cities
/// go to the last two salespeople in turn, the others to the least loaded (the first
/// salesperson holding 150 open leads at most).
struct Cast {
    sales: Vec<UserId>,
    admin: UserId,
}

impl Cast {
    fn new() -> Cast {
        Cast {
            sales: (0..3).map(|_| UserId::new()).collect(),
            admin: UserId::new(),
        }
    }

    fn config(&self) -> CrmConfig {
        let mut cfg = CrmConfig::default();
        cfg.allocation.rules = vec![
            AllocationRule::new("north", Strategy::RoundRobin, self.sales[1..].to_vec())
                .regions(["北京", "天津"]),
            AllocationRule::new("all", Strategy::LeastLoaded, self.sales.clone()),
        ];
        cfg
    }

    async fn hire(&self, env: &Env) {
        let roles = self
            .sales
            .iter()
            .map(|s| (*s, Role::Salesperson))
            .chain([(self.admin, Role::Admin)]);
        for (i, (id, role)) in roles.enumerate() {
            let mut staff = Staff::new(
                id,
                env.tenant,
                format!("staff-{i}"),
                role,
                1,
                env.clock.now(),
            );
            if i == 0 {
                staff.capacity = Some(150);
            }
            env.crm.upsert_staff(&env.tenant, staff).await.unwrap();
        }
    }
}

/// Runs the script's steps on one or two processes, keeping what each step answered.
struct Runner<'a> {
    env: &'a Env,
    cast: &'a Cast,
    rows: &'a [CaptureRequest],
    /// The lead each row's capture created or joined.
    leads: Vec<LeadId>,
}

impl Runner<'_> {
    async fn step(&mut self, crm: &Crm, n: usize, step: &Step) -> String {
        let t = &self.env.tenant;
        let key = IdempotencyKey::new(format!("step-{n}")).unwrap();
        let admin = Actor::User(self.cast.admin);
        let lead = |row: usize| self.leads[row];
        match step {
            Step::Capture(rows) => {
                let out: Vec<CaptureOutcome> = crm
                    .capture_batch(t, &self.rows[rows.clone()], &key)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.unwrap())
                    .collect();
                self.leads.extend(out.iter().map(CaptureOutcome::lead));
                format!("{out:?}")
            }
            Step::AllocatePending => format!("{:?}", crm.allocate_pending(t, &key).await.unwrap()),
            Step::Merge(a, b) => {
                let m = crm.merge(t, lead(*a), lead(*b), &admin, &key).await;
                format!("{m:?}")
            }
            Step::Lose(row) => {
                let r = crm
                    .transition(t, &lead(*row), Stage::Lost, &admin, Some("no answer"), &key)
                    .await;
                format!("{r:?}")
            }
            Step::RejectFirst => {
                let queue = crm.possible_duplicates(t).await.unwrap();
                let Some(p) = queue.first() else {
                    return "no proposal".into();
                };
                let r = crm.reject_duplicate(t, p.a, p.b, &admin, &key).await;
                format!("{:?} {r:?}", (p.a, p.b))
            }
            Step::RecaptureProposed => {
                let queue = crm.possible_duplicates(t).await.unwrap();
                let row = (700..self.leads.len())
                    .rev()
                    .find(|&i| queue.iter().any(|p| [p.a, p.b].contains(&self.leads[i])))
                    .expect("a proposal made by the other process");
                let mut again = self.rows[row].clone();
                again.source = match again.source {
                    Source::Referral => Source::OwnSite,
                    _ => Source::Referral,
                };
                let out = crm.capture_batch(t, &[again], &key).await.unwrap();
                let after = crm.possible_duplicates(t).await.unwrap().len();
                format!("{row} {out:?} {} -> {after}", queue.len())
            }
            Step::Unmerge(row) => format!("{:?}", crm.unmerge(t, lead(*row), &admin, &key).await),
            Step::Erase(row) => {
                format!(
                    "{:?}",
                    crm.erase_contact(t, &lead(*row), &admin, &key).await
                )
            }
            Step::UnmergeFrom(start) => {
                let n = self.leads.len();
                for i in (0..n).map(|i| (start + i) % n) {
                    let stored = crm.lead(t, &lead(i)).await.unwrap();
                    if matches!(stored.status, LeadStatus::Merged { .. }) {
                        let r = crm.unmerge(t, lead(i), &admin, &key).await;
                        return format!("{i} {r:?}");
                    }
                }
                "nothing merged".into()
            }
            Step::EraseLatestNew => {
                let row = (0..self.leads.len())
                    .rev()
                    .find(|&i| !self.leads[..i].contains(&self.leads[i]))
                    .expect("a row that created its lead");
                let erased = crm.erase_contact(t, &lead(row), &admin, &key).await;
                format!("{row} {erased:?}")
            }
            Step::Reconfigure { dedupe } => {
                let mut cfg = self.cast.config();
                let everyone = self.cast.sales.clone();
                cfg.allocation.rules[1] =
                    AllocationRule::new("all", Strategy::RoundRobin, everyone);
                if *dedupe {
                    cfg.dedupe.fuzzy.review_weight += 0.5;
                }
                format!("{:?}", crm.configure(t, cfg).await)
            }
            Step::Depart => format!("{:?}", crm.depart(t, &self.cast.sales[0], &key).await),
            Step::Rehire => {
                let mut back = crm.staff(t, &self.cast.sales[0]).await.unwrap();
                back.active = true;
                format!("{:?}", crm.upsert_staff(t, back).await)
            }
        }
    }

    /// Every lead of the tenant as stored, and the survivor of each row's lead.
    async fn end_state(&self, crm: &Crm) -> (String, Vec<LeadId>) {
        let t = &self.env.tenant;
        let leads = crm.all_leads(t).await.unwrap();
        let mut survivors = Vec::new();
        for l in &self.leads {
            survivors.push(crm.survivor(t, l).await.unwrap_or(*l));
        }
        (serde_json::to_string(&leads).unwrap(), survivors)
    }
}

fn refresh_between(before: StateRefreshes, after: StateRefreshes) -> Refresh {
    match (
        after.rebuilt - before.rebuilt,
        after.caught_up - before.caught_up,
    ) {
        (0, 0) => Refresh::Nothing,
        (0, _) => Refresh::CaughtUp,
        _ => Refresh::Rebuilt,
    }
}

/// `script` on two processes over `store`, against one process over memory that rebuilds
/// its state before every step: the same answers, the same allocation loads after each step,
/// the same stored leads and survivors at the end. A step's expected refresh is checked when
/// given; with `succeed`, that merges, un-merges and erasures succeed. Returns how many
/// captures joined an earlier lead.
async fn run_script(
    store: Arc<dyn Store>,
    rows: &[CaptureRequest],
    script: Vec<(usize, Step, Option<Refresh>)>,
    succeed: bool,
) -> usize {
    let latest = rows.iter().filter_map(|r| r.captured_at).max().unwrap();
    let cast = Cast::new();
    let two = Env::on(store, cast.config());
    let mut rebuilt = Env::new(cast.config());
    rebuilt.tenant = two.tenant;
    for env in [&two, &rebuilt] {
        env.clock.set(latest + chrono::Duration::days(1));
        cast.hire(env).await;
    }
    let second = two.restart();
    let processes = [&two.crm, &second];
    let mut runs = [
        Runner {
            env: &two,
            cast: &cast,
            rows,
            leads: Vec::new(),
        },
        Runner {
            env: &rebuilt,
            cast: &cast,
            rows,
            leads: Vec::new(),
        },
    ];
    for (n, (on, step, expected)) in script.into_iter().enumerate() {
        let crm = processes[on];
        let before = crm.state_refreshes();
        let answered = runs[0].step(crm, n, &step).await;
        if let Some(expected) = expected {
            assert_eq!(
                refresh_between(before, crm.state_refreshes()),
                expected,
                "step {n} ({step:?}) on process {on}"
            );
        }
        rebuilt.crm.forget_tenant(&rebuilt.tenant);
        let reference = runs[1].step(&rebuilt.crm, n, &step).await;
        assert_eq!(answered, reference, "step {n} ({step:?})");
        // The loads too: answers alone can agree while they differ (a double count of each
        // assignment went unseen that way).
        assert_eq!(
            crm.workloads(&two.tenant).await.unwrap(),
            rebuilt.crm.workloads(&rebuilt.tenant).await.unwrap(),
            "step {n} ({step:?}): open leads per salesperson"
        );
        let changes_standing = matches!(
            step,
            Step::Merge(..)
                | Step::Unmerge(_)
                | Step::Erase(_)
                | Step::EraseLatestNew
                | Step::Reconfigure { .. }
        );
        if succeed && changes_standing {
            assert!(answered.contains("Ok("), "step {n} ({step:?}): {answered}");
        }
    }
    for crm in processes {
        assert_eq!(
            runs[0].end_state(crm).await,
            runs[1].end_state(&rebuilt.crm).await
        );
    }
    runs[0]
        .leads
        .iter()
        .zip(0..)
        .filter(|(l, i)| runs[0].leads[..*i].contains(l))
        .count()
}

/// The 22-step script, whose commands all succeed and whose refreshes are as expected.
async fn two_processes_decide_as_rebuilt_states(store: Arc<dyn Store>) {
    let rows = synthetic(3_400, 31);
    let script: Vec<_> = script()
        .into_iter()
        .map(|(on, step, refresh)| (on, step, Some(refresh)))
        .collect();
    let joined = run_script(store, &rows, script, true).await;
    assert!(
        joined > 200,
        "only {joined} captures joined an earlier lead"
    );
}

/// A script of `steps` random steps on random processes (after one capture on each), over
/// rows `0..rows`: captures of the next rows, allocations, merges, stage changes, rejections
/// and erasures of random rows' leads, un-merges of merged leads, departures, rehires and
/// configuration changes. Commands may fail
/// (merging a lead with itself, un-merging a lead that is not merged): both worlds must fail
/// alike.
fn random_script(seed: u64, rows: usize, steps: usize) -> Vec<(usize, Step, Option<Refresh>)> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let chunk = rows / (steps / 3 + 2);
    let mut captured = 2 * chunk;
    let mut script = vec![
        (0, Step::Capture(0..chunk), None),
        (1, Step::Capture(chunk..captured), None),
    ];
    for _ in 0..steps {
        let on = next(2);
        let step = match next(10) {
            0..=1 if captured + chunk <= rows => {
                captured += chunk;
                Step::Capture(captured - chunk..captured)
            }
            0..=2 => Step::AllocatePending,
            3 => Step::Merge(next(captured), next(captured)),
            4 => Step::Lose(next(captured)),
            5 => Step::RejectFirst,
            6 => Step::UnmergeFrom(next(captured)),
            7 => Step::Erase(next(captured)),
            8 if next(3) == 0 => Step::Reconfigure {
                dedupe: next(2) == 0,
            },
            8 => Step::Depart,
            _ => Step::Rehire,
        };
        script.push((on, step, None));
    }
    script
}

/// Random scripts: whatever the commands and whichever process runs them, each answers as on
/// a state rebuilt before it.
#[test]
fn random_two_process_scripts_decide_as_rebuilt_states() {
    run(async {
        for seed in 1..=12 {
            let rows = synthetic(900, 100 + seed);
            run_script(
                Arc::new(MemoryStore::new()),
                &rows,
                random_script(seed, rows.len(), 24),
                false,
            )
            .await;
        }
    });
}

#[test]
fn two_processes_decide_as_rebuilt_states_in_memory() {
    run(two_processes_decide_as_rebuilt_states(Arc::new(
        MemoryStore::new(),
    )));
}

#[test]
fn two_processes_decide_as_rebuilt_states_on_sqlite_and_postgres() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        for store in common::durable_stores(dir.path(), "crm_catch_up").await {
            two_processes_decide_as_rebuilt_states(store).await;
        }
    });
}

/// Each row's surviving lead, named by the first row that ended up in it (so that processes
/// whose lead ids differ compare).
async fn partition(
    crm: &Crm,
    t: &marketingforce_core::tenant::TenantId,
    leads: &[LeadId],
) -> Vec<usize> {
    let mut first_row = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(leads.len());
    for (i, l) in leads.iter().enumerate() {
        let s = crm.survivor(t, l).await.unwrap();
        out.push(*first_row.entry(s).or_insert(i));
    }
    out
}

/// Capture `parts[i]` under its own key: the lead of each row.
async fn capture_part(
    crm: &Crm,
    t: marketingforce_core::tenant::TenantId,
    parts: &[&[CaptureRequest]],
    i: usize,
) -> Vec<LeadId> {
    let key = IdempotencyKey::new(format!("part-{i}")).unwrap();
    let out = crm.capture_batch(&t, parts[i], &key).await.unwrap();
    out.into_iter().map(|r| r.unwrap().lead()).collect()
}

/// A command dropped at a store call of its catch-up (or later) leaves the process's state
/// usable: dropped during the catch-up's reads, the state is as it was and the retried
/// command catches up; dropped later, the state is rebuilt. Either way every row ends up in
/// the lead it ends up in when each command runs on a rebuilt state.
#[test]
fn a_command_dropped_while_catching_up_leaves_the_state_usable() {
    use marketingforce_core::storage::{FaultPlan, FaultyStore};
    use std::future::Future;
    run(async {
        let rows = synthetic(750, 37);
        let latest = rows.iter().filter_map(|r| r.captured_at).max().unwrap();
        let parts: Vec<&[CaptureRequest]> = rows.chunks(150).collect();
        let mut seen = std::collections::BTreeSet::new();
        // Every one of the first store calls (the journal's head and entries, the first
        // leads), then more and more of them (a get per lead and vault, then the command's).
        let mut calls = 0;
        loop {
            calls = if calls < 8 { calls + 1 } else { calls * 3 / 2 };
            let two = Env::new(CrmConfig::default());
            let mut rebuilt = Env::new(CrmConfig::default());
            rebuilt.tenant = two.tenant;
            let t = two.tenant;
            let faulty = Arc::new(FaultyStore::new(two.store.clone(), FaultPlan::new(5)));
            let slow = two.process_over(faulty.clone());
            let mut leads = [Vec::new(), Vec::new()];
            for env in [&two, &rebuilt] {
                env.clock.set(latest + chrono::Duration::days(1));
            }
            let capture = |crm, i| capture_part(crm, t, &parts, i);
            leads[0].extend(capture(&two.crm, 0).await);
            leads[0].extend(capture(&slow, 1).await);
            leads[0].extend(capture(&two.crm, 2).await);
            // The slow process's capture of part 3 is dropped once it made `calls` store calls
            // (they suspend, as over a network), then run again under the same key.
            faulty.suspend_at_every_call(true);
            let before = slow.state_refreshes();
            let dropped = {
                let start = faulty.calls();
                let mut run = std::pin::pin!(capture(&slow, 3));
                loop {
                    let polled =
                        std::future::poll_fn(|cx| std::task::Poll::Ready(run.as_mut().poll(cx)))
                            .await;
                    match polled {
                        std::task::Poll::Ready(done) => break Some(done),
                        std::task::Poll::Pending if faulty.calls() >= start + calls => break None,
                        std::task::Poll::Pending => {}
                    }
                }
            };
            faulty.suspend_at_every_call(false);
            let retried = capture(&slow, 3).await;
            if let Some(done) = &dropped {
                assert_eq!(done, &retried, "the retry answers as the first run did");
            }
            seen.insert(refresh_between(before, slow.state_refreshes()));
            leads[0].extend(retried);
            leads[0].extend(capture(&two.crm, 4).await);
            for i in 0..parts.len() {
                rebuilt.crm.forget_tenant(&t);
                leads[1].extend(capture(&rebuilt.crm, i).await);
            }
            assert_eq!(
                partition(&two.crm, &t, &leads[0]).await,
                partition(&rebuilt.crm, &t, &leads[1]).await,
                "dropped at store call {calls}"
            );
            assert_eq!(
                partition(&slow, &t, &leads[0]).await,
                partition(&rebuilt.crm, &t, &leads[1]).await,
                "dropped at store call {calls}"
            );
            if dropped.is_some() {
                break;
            }
        }
        assert!(
            seen.contains(&Refresh::CaughtUp) && seen.contains(&Refresh::Rebuilt),
            "{seen:?}"
        );
    });
}
