//! Domain events: every lead command writes its events to the tenant's outbox in the batch that
//! commits its change — in order, once, never without the change, never with personal data.

mod common;

use marketingforce_core::IdempotencyKey;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::Duration;
use common::{run, Env};
use marketingforce_core::events::{EventEnvelope, OUTBOX_JOURNAL};
use marketingforce_core::money::Money;
use marketingforce_core::storage::{
    Batch, CommitOutcome, Fault, FaultPlan, FaultyStore, JournalEntry, MemoryStore, Page,
    PageRequest, Record, Store,
};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use marketingforce_core::Result as CoreResult;
use marketingforce_crm::allocation::{AllocationRule, Strategy};
use marketingforce_crm::events::{
    LeadAssigned, LeadCaptureMatched, LeadCaptured, LeadErased, LeadMerged, LeadSlaBreached,
    LeadStageChanged, MemberLevelChanged,
};
use marketingforce_crm::ids::{LeadId, ProgramId, TeamId, UserId};
use marketingforce_crm::membership::{Membership, MembershipProgram};
use marketingforce_crm::model::{Actor, Source, Stage};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::staff::{Role, Staff};
use marketingforce_crm::{CaptureOutcome, CrmConfig};
use proptest::prelude::*;

async fn outbox(store: &Arc<dyn Store>, tenant: &TenantId) -> Vec<EventEnvelope> {
    store
        .read_journal(tenant, OUTBOX_JOURNAL, 0, 10_000)
        .await
        .unwrap()
        .iter()
        .flat_map(|e| EventEnvelope::all_from_entry(&e.payload).unwrap())
        .collect()
}

fn names(events: &[EventEnvelope]) -> Vec<&str> {
    events.iter().map(|e| e.name()).collect()
}

fn person(mobile: &str) -> CaptureRequest {
    CaptureRequest::new(Source::OwnSite)
        .name("王小明")
        .mobile(mobile)
        .email(format!("wang{}@example.cn", &mobile[7..]))
        .company("上海某某机械有限公司")
        .region("上海")
        .campaign("2026-expo")
}

#[test]
fn a_leads_life_emits_one_event_per_fact_in_order() {
    run(async {
        let team = TeamId::new();
        let sales = UserId::new();
        let mut cfg = CrmConfig::default();
        cfg.allocation.rules = vec![AllocationRule::new(
            "all",
            Strategy::RoundRobin,
            vec![sales],
        )];
        let env = Env::new(cfg);
        let (crm, t, store) = (&env.crm, &env.tenant, &env.store);
        crm.upsert_staff(
            t,
            Staff::new(sales, *t, "s", Role::Salesperson, 2, env.clock.now()).in_team(team),
        )
        .await
        .unwrap();
        let manager = env.staff(Role::Manager, 6, Some(team)).await;
        let admin = env.staff(Role::Admin, 9, None).await;
        // Staff changes are not lead facts: nothing in the outbox yet.
        assert!(outbox(store, t).await.is_empty());

        let a = crm
            .capture(
                t,
                person("13811112222"),
                &IdempotencyKey::from_static("cap-a"),
            )
            .await
            .unwrap()
            .lead();
        let b = crm
            .capture(
                t,
                CaptureRequest::new(Source::IndustryMedia).mobile("13933334444"),
                &IdempotencyKey::from_static("cap-b"),
            )
            .await
            .unwrap()
            .lead();
        // The same person again, through another channel: folded into `a`.
        let again = crm
            .capture(
                t,
                CaptureRequest::new(Source::OfflineQr).mobile("+86 138 1111 2222"),
                &IdempotencyKey::from_static("cap-a2"),
            )
            .await
            .unwrap();
        assert!(matches!(again, CaptureOutcome::Merged { lead, .. } if lead == a));
        crm.merge(
            t,
            a,
            b,
            &Actor::User(admin),
            &IdempotencyKey::from_static("merge-ab"),
        )
        .await
        .unwrap();
        crm.allocate(t, &[a], &IdempotencyKey::from_static("alloc-a"))
            .await
            .unwrap();
        env.clock.advance(Duration::hours(25));
        crm.sweep(t, &IdempotencyKey::from_static("sweep-1"))
            .await
            .unwrap();
        crm.transition(
            t,
            &a,
            Stage::Contacting,
            &Actor::User(sales),
            Some("王小明 asked to be called at 13811112222"),
            &IdempotencyKey::from_static("stage-a"),
        )
        .await
        .unwrap();
        crm.erase_contact(
            t,
            &a,
            &Actor::User(admin),
            &IdempotencyKey::from_static("erase-a"),
        )
        .await
        .unwrap();

        let events = outbox(store, t).await;
        assert_eq!(
            names(&events),
            [
                "crm.lead.captured",
                "crm.lead.captured",
                "crm.lead.capture_matched",
                "crm.lead.merged",
                "crm.lead.stage_changed",
                "crm.lead.assigned",
                "crm.lead.sla_breached",
                "crm.lead.stage_changed",
                "crm.lead.erased",
            ]
        );
        assert!(events.iter().all(|e| e.tenant() == t && e.version() == 1));
        let keys: Vec<&str> = events
            .iter()
            .map(|e| e.causation_id().unwrap().as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "cap-a", "cap-b", "cap-a2", "merge-ab", "alloc-a", "alloc-a", "sweep-1", "stage-a",
                "erase-a"
            ]
        );

        let captured: LeadCaptured = events[0].decode().unwrap();
        assert_eq!(captured.lead, a);
        assert_eq!(captured.source, Source::OwnSite);
        assert_eq!(captured.campaign.as_deref(), Some("2026-expo"));
        assert!(captured.identity.mobile && captured.identity.email && captured.identity.name);
        let matched: LeadCaptureMatched = events[2].decode().unwrap();
        assert_eq!(
            (matched.lead, matched.source, matched.matched_by.as_deref()),
            (a, Source::OfflineQr, Some("mobile"))
        );
        let merged: LeadMerged = events[3].decode().unwrap();
        assert_eq!(
            (merged.survivor, merged.absorbed, merged.rule.as_str()),
            (a, b, "manual")
        );
        assert_eq!(merged.by, Actor::User(admin));
        let staged: LeadStageChanged = events[4].decode().unwrap();
        assert_eq!((staged.from, staged.to), (Stage::New, Stage::Assigned));
        let assigned: LeadAssigned = events[5].decode().unwrap();
        assert_eq!(
            (assigned.lead, assigned.from, assigned.to),
            (a, None, Some(sales))
        );
        assert_eq!(
            (assigned.rule.as_deref(), assigned.reason.as_str()),
            (Some("all"), "allocation")
        );
        let breached: LeadSlaBreached = events[6].decode().unwrap();
        assert_eq!(
            (breached.lead, breached.owner, breached.escalated_to),
            (a, Some(sales), Some(manager))
        );
        // A staff member's free-text reason stays out of the event.
        let by_staff: LeadStageChanged = events[7].decode().unwrap();
        assert_eq!(by_staff.to, Stage::Contacting);
        assert_eq!(by_staff.reason, None);
        let erased: LeadErased = events[8].decode().unwrap();
        assert_eq!(erased.lead, a);

        // Nothing personal anywhere in the outbox.
        let raw: Vec<u8> = store
            .read_journal(t, OUTBOX_JOURNAL, 0, 1_000)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|e| e.payload)
            .collect();
        let raw = String::from_utf8(raw).unwrap();
        for pii in [
            "13811112222",
            "13933334444",
            "王小明",
            "wang2222",
            "某某机械",
        ] {
            assert!(!raw.contains(pii), "{pii} leaked into the outbox");
        }
    });
}

#[test]
fn replays_emit_nothing_again() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t, store) = (&env.crm, &env.tenant, &env.store);
        let a = crm
            .capture(
                t,
                person("13811112222"),
                &IdempotencyKey::from_static("cap-a"),
            )
            .await
            .unwrap();
        let b = crm
            .capture(
                t,
                person("13933334444"),
                &IdempotencyKey::from_static("cap-b"),
            )
            .await
            .unwrap();
        crm.merge(
            t,
            a.lead(),
            b.lead(),
            &Actor::system("test"),
            &IdempotencyKey::from_static("m"),
        )
        .await
        .unwrap();
        let before = outbox(store, t).await;
        assert_eq!(before.len(), 3);
        // The same commands again, as a client retrying after a lost answer.
        assert_eq!(
            crm.capture(
                t,
                person("13811112222"),
                &IdempotencyKey::from_static("cap-a")
            )
            .await
            .unwrap(),
            a
        );
        crm.merge(
            t,
            a.lead(),
            b.lead(),
            &Actor::system("test"),
            &IdempotencyKey::from_static("m"),
        )
        .await
        .unwrap();
        // A restarted process answers replays from the store, too.
        let other = env.restart();
        assert_eq!(
            other
                .capture(
                    t,
                    person("13933334444"),
                    &IdempotencyKey::from_static("cap-b")
                )
                .await
                .unwrap(),
            b
        );
        assert_eq!(outbox(store, t).await, before);
        // A capture that changes nothing writes no event either.
        let unchanged = crm
            .capture(
                t,
                person("13811112222"),
                &IdempotencyKey::from_static("cap-a-again"),
            )
            .await
            .unwrap();
        assert!(matches!(unchanged, CaptureOutcome::Unchanged { .. }));
        assert_eq!(outbox(store, t).await, before);
    });
}

#[test]
fn a_failed_commit_leaves_neither_the_change_nor_its_event() {
    run(async {
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let faulty = Arc::new(FaultyStore::new(memory.clone(), FaultPlan::new(1)));
        let env = Env::on(faulty.clone(), CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        crm.capture(
            t,
            person("13811112222"),
            &IdempotencyKey::from_static("cap-1"),
        )
        .await
        .unwrap();
        assert_eq!(outbox(&memory, t).await.len(), 1);

        for fault in [Fault::ErrorBeforeCommit, Fault::PartialWriteRolledBack] {
            faulty.script_matching(fault, "cap-2");
            assert!(crm
                .capture(
                    t,
                    person("13933334444"),
                    &IdempotencyKey::from_static("cap-2")
                )
                .await
                .is_err());
            assert_eq!(crm.all_leads(t).await.unwrap().len(), 1);
            assert_eq!(outbox(&memory, t).await.len(), 1);
        }

        // The store committed but the answer was lost: the change and its event are there,
        // once; the client's retry under the same key is a replay and adds nothing.
        faulty.script_matching(Fault::ErrorAfterCommit, "cap-2");
        assert!(crm
            .capture(
                t,
                person("13933334444"),
                &IdempotencyKey::from_static("cap-2")
            )
            .await
            .is_err());
        assert_eq!(crm.all_leads(t).await.unwrap().len(), 2);
        let events = outbox(&memory, t).await;
        assert_eq!(names(&events), ["crm.lead.captured", "crm.lead.captured"]);
        let lead = crm
            .capture(
                t,
                person("13933334444"),
                &IdempotencyKey::from_static("cap-2"),
            )
            .await
            .unwrap()
            .lead();
        assert_eq!(events[1].decode::<LeadCaptured>().unwrap().lead, lead);
        assert_eq!(outbox(&memory, t).await, events);
    });
}

/// The journal every CRM write appends to (its head fences the commits).
const WRITES_JOURNAL: &str = "crm.writes";

/// A store that lets another "process" write the tenant's CRM journal just before the next
/// CRM commit: the commit is then refused as stale and the command runs again.
#[derive(Debug)]
struct Interleaving {
    inner: Arc<dyn Store>,
    foreign_writes: AtomicUsize,
}

#[async_trait::async_trait]
impl Store for Interleaving {
    fn backend(&self) -> &'static str {
        "interleaving"
    }
    async fn get(&self, t: &TenantId, c: &str, k: &str) -> CoreResult<Option<Record>> {
        self.inner.get(t, c, k).await
    }
    async fn list(&self, t: &TenantId, c: &str, p: &PageRequest) -> CoreResult<Page<Record>> {
        self.inner.list(t, c, p).await
    }
    async fn lookup(
        &self,
        t: &TenantId,
        c: &str,
        i: &str,
        v: &str,
        p: &PageRequest,
    ) -> CoreResult<Page<Record>> {
        self.inner.lookup(t, c, i, v, p).await
    }
    async fn read_journal(
        &self,
        t: &TenantId,
        j: &str,
        after: u64,
        limit: usize,
    ) -> CoreResult<Vec<JournalEntry>> {
        self.inner.read_journal(t, j, after, limit).await
    }
    async fn journal_head(&self, t: &TenantId, j: &str) -> CoreResult<u64> {
        self.inner.journal_head(t, j).await
    }
    async fn idempotency(&self, t: &TenantId, k: &str) -> CoreResult<Option<(String, Vec<u8>)>> {
        self.inner.idempotency(t, k).await
    }
    async fn commit(&self, t: &TenantId, batch: Batch) -> CoreResult<CommitOutcome> {
        let crm_write = batch.appends().iter().any(|a| a.journal == WRITES_JOURNAL);
        if crm_write
            && self
                .foreign_writes
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            let mut foreign = Batch::new();
            foreign.append(WRITES_JOURNAL, br#"{"leads":[]}"#.to_vec());
            self.inner.commit(t, foreign).await?;
        }
        self.inner.commit(t, batch).await
    }
}

#[test]
fn a_command_retried_after_another_process_wrote_emits_once() {
    run(async {
        let store = Arc::new(Interleaving {
            inner: Arc::new(MemoryStore::new()),
            foreign_writes: AtomicUsize::new(0),
        });
        let env = Env::on(store.clone(), CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let a = crm
            .capture(
                t,
                person("13800000001"),
                &IdempotencyKey::from_static("cap-1"),
            )
            .await
            .unwrap();
        // Another process writes the tenant between this command's decision and its commit,
        // three times in a row: refused as stale three times, decided again, stored once.
        store.foreign_writes.store(3, Ordering::SeqCst);
        let joined = crm
            .capture(
                t,
                CaptureRequest::new(Source::WeCom).mobile("13800000001"),
                &IdempotencyKey::from_static("cap-2"),
            )
            .await
            .unwrap();
        assert_eq!(store.foreign_writes.load(Ordering::SeqCst), 0);
        assert!(matches!(joined, CaptureOutcome::Merged { lead, .. } if lead == a.lead()));
        let events = outbox(&env.store, t).await;
        assert_eq!(
            names(&events),
            ["crm.lead.captured", "crm.lead.capture_matched"]
        );
        assert_eq!(events[1].causation_id().unwrap().as_str(), "cap-2");
        // The lead's history holds the capture once, too.
        let history = crm.history(t, &a.lead()).await.unwrap();
        assert_eq!(history.len(), 2);
    });
}

#[test]
fn imports_emit_one_event_per_created_or_matched_row_and_none_per_unchanged_row() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t, store) = (&env.crm, &env.tenant, &env.store);
        let csv = "name,mobile,email\n\
                   张三,13800000011,a@example.com\n\
                   李四,13800000012,\n\
                   张三,13800000011,a@example.com\n\
                   李四,13800000012,b@example.com\n";
        let report = crm
            .import_csv(
                t,
                csv,
                Source::Import,
                &IdempotencyKey::from_static("imp-1"),
            )
            .await
            .unwrap();
        assert_eq!(report.created, 2);
        let events = outbox(store, t).await;
        assert_eq!(
            names(&events),
            [
                "crm.lead.captured",
                "crm.lead.captured",
                "crm.lead.capture_matched"
            ],
            "an unchanged row emits nothing"
        );
        assert_eq!(report.unchanged, 1);
        let raw = serde_json::to_string(&events).unwrap();
        assert!(!raw.contains("13800000011") && !raw.contains("张三"));
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the person typed, no event carries their mobile, email or name.
    #[test]
    fn no_event_carries_the_captured_identity(
        tail in 0u32..100_000_000,
        prefix in prop::sample::select(vec!["138", "139", "150", "186", "199"]),
        user in "[a-z]{6,12}",
        family in prop::sample::select(vec!["欧阳", "司马", "诸葛", "上官"]),
        given in "[\u{4e00}-\u{9fa5}]{2}",
        twice in any::<bool>(),
    ) {
        let mobile = format!("{prefix}{tail:08}");
        let email = format!("{user}@example.org");
        let name = format!("{family}{given}");
        run(async {
            let env = Env::new(CrmConfig::default());
            let (crm, t, store) = (&env.crm, &env.tenant, &env.store);
            let request = CaptureRequest::new(Source::OwnSite)
                .name(name.clone())
                .mobile(mobile.clone())
                .email(email.clone());
            let lead = crm.capture(t, request.clone(), &IdempotencyKey::from_static("k1")).await.unwrap().lead();
            if twice {
                let mut again = request.clone();
                again.source = Source::WeCom;
                crm.capture(t, again, &IdempotencyKey::from_static("k2")).await.unwrap();
            }
            let admin = env.staff(Role::Admin, 9, None).await;
            crm.erase_contact(t, &lead, &Actor::User(admin), &IdempotencyKey::from_static("erase")).await.unwrap();
            let raw: Vec<u8> = store
                .read_journal(t, OUTBOX_JOURNAL, 0, 100)
                .await
                .unwrap()
                .into_iter()
                .flat_map(|e| e.payload)
                .collect();
            let raw = String::from_utf8(raw).unwrap();
            assert!(raw.contains("crm.lead.erased"));
            for pii in [&mobile, &email, &name] {
                assert!(!raw.contains(pii.as_str()), "{pii} leaked into the outbox");
            }
        });
    }
}

#[test]
fn member_levels_moving_are_events_committed_with_the_points() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (t, store) = (&env.tenant, &env.store);
        let m = Membership::new(&env.core());
        let p = MembershipProgram::example(ProgramId::new());
        m.save_program(t, &p).await.unwrap();
        let lead = LeadId::new();
        m.enroll(t, &p.id, &lead).await.unwrap();
        m.earn_purchase(
            t,
            &p.id,
            &lead,
            &Money::cny("1180").unwrap(),
            "o1",
            &IdempotencyKey::from_static("e1"),
        )
        .await
        .unwrap();
        // Locked points do not count: no level change yet.
        assert!(outbox(store, t).await.is_empty());
        env.clock.advance(Duration::days(8));
        m.settle(t, &p.id, &lead, &IdempotencyKey::from_static("s1"))
            .await
            .unwrap();
        m.settle(t, &p.id, &lead, &IdempotencyKey::from_static("s1"))
            .await
            .unwrap();
        m.settle(t, &p.id, &lead, &IdempotencyKey::from_static("s1b"))
            .await
            .unwrap();
        env.clock.advance(Duration::days(366));
        m.settle(t, &p.id, &lead, &IdempotencyKey::from_static("s2"))
            .await
            .unwrap();
        let events = outbox(store, t).await;
        assert_eq!(
            names(&events),
            ["crm.member.level_changed", "crm.member.level_changed"]
        );
        let up: MemberLevelChanged = events[0].decode().unwrap();
        assert_eq!(
            (up.program, up.lead, up.from, up.to, up.level_name.as_str()),
            (p.id, lead, 0, 1, "银卡")
        );
        assert_eq!(events[0].causation_id().unwrap().as_str(), "s1");
        let down: MemberLevelChanged = events[1].decode().unwrap();
        assert_eq!((down.from, down.to), (1, 0));
    });
}
