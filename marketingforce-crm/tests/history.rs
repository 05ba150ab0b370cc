//! A lead's history through the index of the history journal by lead: the same entries as the
//! whole journal gives, before and after indexing, with entries written after the index, from
//! several processes, and when the indexing's commit fails.

mod common;

use std::future::Future;
use std::sync::Arc;

use common::{run, Env};
use marketingforce_core::storage::{Fault, FaultPlan, FaultyStore, Journal, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::ids::LeadId;
use marketingforce_crm::lifecycle::{LeadEvent, HISTORY_JOURNAL};
use marketingforce_crm::model::Source;
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::{Crm, CrmConfig};

/// Where the index's watermark is kept (one record per tenant).
const WATERMARK: (&str, &str) = ("crm.history_indexed", "head");
const INDEX: &str = "crm.history_by_lead";

fn row(i: u32) -> CaptureRequest {
    CaptureRequest::new(Source::Dealer)
        .name(format!("客户{i}"))
        .mobile(format!("139{i:08}"))
}

/// The rows numbered `ids`.
fn rows(ids: std::ops::Range<u32>) -> Vec<CaptureRequest> {
    ids.map(row).collect()
}

/// Capture `rows` in batches of 1,000 (keys `{tag}0`, `{tag}1`, …); the leads, in row order.
async fn capture(crm: &Crm, t: &TenantId, rows: &[CaptureRequest], tag: &str) -> Vec<LeadId> {
    let mut leads = Vec::new();
    for (i, chunk) in rows.chunks(1_000).enumerate() {
        let key = IdempotencyKey::new(format!("{tag}{i}")).unwrap();
        for r in crm.capture_batch(t, chunk, &key).await.unwrap() {
            leads.push(r.unwrap().lead());
        }
    }
    leads
}

/// The lead's entries as the whole journal gives them.
async fn from_journal(store: &Arc<dyn Store>, t: &TenantId, lead: LeadId) -> Vec<LeadEvent> {
    Journal::<LeadEvent>::new(store.clone(), HISTORY_JOURNAL)
        .read_all(t)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.lead == lead)
        .collect()
}

async fn watermark(store: &Arc<dyn Store>, t: &TenantId) -> Option<u64> {
    let r = store.get(t, WATERMARK.0, WATERMARK.1).await.unwrap()?;
    let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
    v["head"].as_u64()
}

/// Every index record: its sequence numbers ascending, none past the watermark, none in two
/// records, each one an entry of its lead.
async fn check_index(store: &Arc<dyn Store>, t: &TenantId) {
    let head = watermark(store, t).await.unwrap_or(0);
    let all = Journal::<LeadEvent>::new(store.clone(), HISTORY_JOURNAL)
        .read_all(t)
        .await
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut after = None;
    loop {
        let page = store
            .list(
                t,
                INDEX,
                &after.map_or(marketingforce_core::storage::PageRequest::first(500), |c| {
                    marketingforce_core::storage::PageRequest::next(500, c)
                }),
            )
            .await
            .unwrap();
        for r in &page.items {
            let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
            let seqs: Vec<u64> = serde_json::from_value(v["seqs"].clone()).unwrap();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "ascending");
            for s in seqs {
                assert!(s <= head, "{s} past the watermark {head}");
                assert!(seen.insert(s), "{s} indexed twice");
                let (_, e) = all.iter().find(|(seq, _)| *seq == s).unwrap();
                assert_eq!(
                    e.lead.to_string(),
                    r.key,
                    "entry {s} is not the record's lead"
                );
            }
        }
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen.len() as u64,
        head,
        "every entry up to the watermark is indexed once"
    );
}

#[test]
fn history_reads_its_index_and_the_entries_after_it_as_the_whole_journal() {
    run(async {
        indexed_history(Env::new(CrmConfig::default())).await;
        let dir = tempfile::tempdir().unwrap();
        for store in common::durable_stores(dir.path(), "mf_crm_history").await {
            indexed_history(Env::on(store, CrmConfig::default())).await;
        }
    });
}

async fn indexed_history(env: Env) {
    let (crm, t, store) = (&env.crm, &env.tenant, &env.store);
    // More entries than a read scans before it indexes them.
    let first = capture(crm, t, &rows(0..3_000), "a").await;
    let lead = first[10];
    assert_eq!(watermark(store, t).await, None);
    assert_eq!(
        crm.history(t, &lead).await.unwrap(),
        from_journal(store, t, lead).await
    );
    let head = store.journal_head(t, HISTORY_JOURNAL).await.unwrap();
    assert_eq!(
        watermark(store, t).await,
        Some(head),
        "the read indexed them"
    );
    check_index(store, t).await;
    // Entries after the watermark, some of them the lead's: it is captured again.
    let mut more = rows(3_000..5_500);
    more[100] = row(10).company("重新留资");
    let later = capture(crm, t, &more, "b").await;
    assert_eq!(later[100], lead, "the re-capture joins the lead");
    let own = from_journal(store, t, lead).await;
    assert!(own.len() >= 2);
    assert_eq!(crm.history(t, &lead).await.unwrap(), own);
    check_index(store, t).await;
    // The indexed entries and those after the watermark, from this process and another one.
    let other = env.restart();
    for l in [lead, first[0], first[2_999], later[0], later[2_499]] {
        let want = from_journal(store, t, l).await;
        assert_eq!(crm.history(t, &l).await.unwrap(), want, "{l}");
        assert_eq!(
            other.history(t, &l).await.unwrap(),
            want,
            "{l}, another process"
        );
    }
    assert_eq!(
        watermark(store, t).await,
        Some(store.journal_head(t, HISTORY_JOURNAL).await.unwrap())
    );
}

/// Two processes reading at once both index the same entries: one commit wins, the other is
/// refused and dropped, and both answer the whole history.
#[test]
fn two_processes_indexing_at_once_leave_one_index() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (t, store) = (&env.tenant, &env.store);
        let leads = capture(&env.crm, t, &rows(0..2_500), "a").await;
        let other = env.restart();
        let lead = leads[7];
        let want = from_journal(store, t, lead).await;
        let (a, b) = tokio::join!(env.crm.history(t, &lead), other.history(t, &lead));
        assert_eq!(a.unwrap(), want);
        assert_eq!(b.unwrap(), want);
        assert_eq!(
            watermark(store, t).await,
            Some(store.journal_head(t, HISTORY_JOURNAL).await.unwrap())
        );
        check_index(store, t).await;
    });
}

/// An indexing whose commit fails (before or after reaching the store) leaves the read's
/// answer whole; the next read indexes what is still missing.
#[test]
fn a_failed_indexing_changes_no_answer() {
    run(async {
        for fault in [Fault::ErrorBeforeCommit, Fault::ErrorAfterCommit] {
            let faulty = Arc::new(FaultyStore::new(
                Arc::new(MemoryStore::new()),
                FaultPlan::new(3),
            ));
            let env = Env::on(faulty.clone(), CrmConfig::default());
            let (crm, t, store) = (&env.crm, &env.tenant, &env.store);
            let leads = capture(crm, t, &rows(0..2_500), "a").await;
            let lead = leads[42];
            let want = from_journal(store, t, lead).await;
            faulty.script_matching(fault, INDEX);
            assert_eq!(crm.history(t, &lead).await.unwrap(), want, "{fault:?}");
            assert_eq!(
                faulty.take_injected().len(),
                1,
                "{fault:?}: the indexing was tried"
            );
            let head = store.journal_head(t, HISTORY_JOURNAL).await.unwrap();
            let expected = (fault == Fault::ErrorAfterCommit).then_some(head);
            assert_eq!(watermark(store, t).await, expected, "{fault:?}");
            assert_eq!(crm.history(t, &lead).await.unwrap(), want, "{fault:?}");
            assert_eq!(watermark(store, t).await, Some(head), "{fault:?}");
            check_index(store, t).await;
        }
    });
}

/// A read that got the watermark, then waited while another process indexed past it, finds the
/// lead's record holding entries past that watermark: it takes those from its own scan of the
/// entries after the watermark, once each.
#[test]
fn a_read_overtaken_by_another_process_s_indexing_repeats_no_entry() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (t, store) = (&env.tenant, &env.store);
        let leads = capture(&env.crm, t, &rows(0..2_500), "a").await;
        let lead = leads[5];
        // Indexed up to here; then entries after the watermark, the lead's among them.
        env.crm.history(t, &lead).await.unwrap();
        let first = watermark(store, t).await.unwrap();
        let mut again = rows(2_500..5_000);
        again[10] = row(5).company("再次留资");
        capture(&env.crm, t, &again, "b").await;
        let want = from_journal(store, t, lead).await;
        // This process's calls to the store suspend once each, as over a network.
        let faulty = Arc::new(FaultyStore::new(store.clone(), FaultPlan::new(9)));
        faulty.suspend_at_every_call(true);
        let slow = env.process_over(faulty.clone());
        let mut read = std::pin::pin!(slow.history(t, &lead));
        // Poll until the watermark is read and the lead's record is asked for next.
        let calls = faulty.calls();
        while faulty.calls() < calls + 1 {
            let step = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(read.as_mut().poll(cx).is_pending())
            })
            .await;
            assert!(step, "the read is still waiting for the store");
        }
        // Meanwhile another process indexes past the watermark, the lead's new entry included.
        env.crm.history(t, &leads[6]).await.unwrap();
        assert!(watermark(store, t).await.unwrap() > first);
        assert_eq!(read.await.unwrap(), want);
        check_index(store, t).await;
    });
}
