//! A lead's history without reading the tenant's: an index of the history journal by lead,
//! kept beside the journal as a cache.
//!
//! Every lead's entries go to one journal ([`HISTORY_JOURNAL`]), in commit order. The index
//! holds, per lead, the sequence numbers of its entries up to a watermark (one record for the
//! tenant). A read takes the lead's indexed entries (a few short reads of the journal), then
//! scans the entries after the watermark as before, so it is exact whatever the index holds:
//! entries written since the last indexing are found by the scan.
//!
//! The index is written by reads, not by the commands that append history: a read that scanned
//! [`INDEX_AFTER`] entries or more past the watermark indexes the next [`INDEX_PAGE`] of them
//! (in one batch, the lead records and the watermark together, each conditional on the version
//! it read). Several processes may do so at once: the first commit wins and the others' are
//! refused and dropped. A refused, failed or cancelled indexing changes nothing the reads rely
//! on: the watermark and the lead records move together or not at all. Indexing is best
//! effort: its errors are logged (no ids, no values) and the read still answers.
//!
//! The index records hold lead ids and sequence numbers: no personal data.

use std::collections::BTreeMap;

use marketingforce_core::error::Classify;
use marketingforce_core::storage::{decode_record, Batch, Entity, Expect, Store};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};

use super::scan;
use crate::error::Result;
use crate::ids::LeadId;
use crate::lifecycle::{LeadEvent, HISTORY_JOURNAL};

/// Entries past the watermark that make a read index them.
pub(crate) const INDEX_AFTER: usize = 2_000;

/// Entries indexed at most by one read (one batch).
pub(crate) const INDEX_PAGE: usize = 20_000;

/// The sequence numbers of a lead's entries in [`HISTORY_JOURNAL`] up to the watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeadHistoryIndex {
    pub tenant: TenantId,
    pub lead: LeadId,
    /// Ascending.
    pub seqs: Vec<u64>,
}

impl Entity for LeadHistoryIndex {
    const COLLECTION: &'static str = "crm.history_by_lead";
    fn key(&self) -> String {
        self.lead.to_string()
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// How far [`HISTORY_JOURNAL`] is indexed: every entry up to `head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HistoryWatermark {
    pub tenant: TenantId,
    pub head: u64,
}

impl Entity for HistoryWatermark {
    const COLLECTION: &'static str = "crm.history_indexed";
    fn key(&self) -> String {
        WATERMARK_KEY.to_string()
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

const WATERMARK_KEY: &str = "head";

/// What an entry is decoded as to index it: its lead only.
#[derive(Deserialize)]
struct LeadOf {
    lead: LeadId,
}

/// The history of `lead`, oldest first (see the [module docs](self)).
///
/// # Errors
/// Backend errors; a decoding error for an entry of the lead, or for an index record.
pub(crate) async fn of_lead(
    store: &dyn Store,
    tenant: &TenantId,
    lead: &LeadId,
) -> Result<Vec<LeadEvent>> {
    // The watermark first: the lead's record read after it holds at least its entries up to
    // it (both move in one batch), and those after it are left to the scan.
    let (head, head_version) = watermark(store, tenant).await?;
    let mut out = Vec::new();
    if head > 0 {
        if let Some(r) = store
            .get(tenant, LeadHistoryIndex::COLLECTION, &lead.to_string())
            .await?
        {
            let index: LeadHistoryIndex = decode_record(LeadHistoryIndex::COLLECTION, &r)?;
            let upto: Vec<u64> = index.seqs.into_iter().filter(|&s| s <= head).collect();
            for run in runs(&upto) {
                // Sequence numbers start at 1 (a record saying 0 reads from the start).
                let page = store
                    .read_journal(tenant, HISTORY_JOURNAL, run[0].saturating_sub(1), run.len())
                    .await?;
                for entry in page.iter().filter(|e| run.contains(&e.seq)) {
                    let e: LeadEvent = scan::decode_entry(HISTORY_JOURNAL, entry)?;
                    if e.lead == *lead {
                        out.push(e);
                    }
                }
            }
        }
    }
    let tail = scan::entries_about_after(
        store,
        tenant,
        HISTORY_JOURNAL,
        head,
        std::slice::from_ref(lead),
        |e: &LeadEvent| e.lead == *lead,
    )
    .await?;
    out.extend(tail.found);
    if tail.read >= INDEX_AFTER {
        if let Err(e) = index_after(store, tenant, head, head_version).await {
            tracing::debug!(
                target: "marketingforce_crm::history",
                code = e.code(),
                "history indexing skipped"
            );
        }
    }
    Ok(out)
}

/// The watermark and its version (0 and `None` before the first indexing).
async fn watermark(store: &dyn Store, tenant: &TenantId) -> Result<(u64, Option<u64>)> {
    match store
        .get(tenant, HistoryWatermark::COLLECTION, WATERMARK_KEY)
        .await?
    {
        Some(r) => {
            let w: HistoryWatermark = decode_record(HistoryWatermark::COLLECTION, &r)?;
            Ok((w.head, Some(r.version)))
        }
        None => Ok((0, None)),
    }
}

/// Index the next [`INDEX_PAGE`] entries after `head` at most, conditional on the watermark
/// still being at `version` and on each lead record being as read.
async fn index_after(
    store: &dyn Store,
    tenant: &TenantId,
    head: u64,
    version: Option<u64>,
) -> Result<()> {
    let mut by_lead: BTreeMap<LeadId, Vec<u64>> = BTreeMap::new();
    let mut after = head;
    while after - head < INDEX_PAGE as u64 {
        let room = INDEX_PAGE - (after - head) as usize;
        let page = store
            .read_journal(tenant, HISTORY_JOURNAL, after, room.min(scan::PAGE))
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.seq;
        for entry in &page {
            let LeadOf { lead } = scan::decode_entry(HISTORY_JOURNAL, entry)?;
            by_lead.entry(lead).or_default().push(entry.seq);
        }
    }
    if after == head {
        return Ok(());
    }
    let leads: Vec<LeadId> = by_lead.keys().copied().collect();
    let keys: Vec<String> = leads.iter().map(LeadId::to_string).collect();
    let stored = store
        .get_many(tenant, LeadHistoryIndex::COLLECTION, &keys)
        .await?;
    let mut batch = Batch::new();
    for ((lead, new), record) in by_lead.into_iter().zip(stored) {
        let (mut index, expect) = match record {
            Some(r) => (
                decode_record::<LeadHistoryIndex>(LeadHistoryIndex::COLLECTION, &r)?,
                Expect::Version(r.version),
            ),
            None => (
                LeadHistoryIndex {
                    tenant: *tenant,
                    lead,
                    seqs: Vec::new(),
                },
                Expect::Absent,
            ),
        };
        // A record may hold entries past `head` that another process indexed after the
        // watermark was read: the watermark's expectation below refuses this batch then.
        index.seqs.retain(|&s| s <= head);
        index.seqs.extend(new);
        batch.put_entity(tenant, &index, expect)?;
    }
    batch.put_entity(
        tenant,
        &HistoryWatermark {
            tenant: *tenant,
            head: after,
        },
        version.map_or(Expect::Absent, Expect::Version),
    )?;
    store.commit(tenant, batch).await?;
    Ok(())
}

/// The runs of consecutive numbers in an ascending list.
fn runs(seqs: &[u64]) -> impl Iterator<Item = &[u64]> {
    seqs.chunk_by(|a, b| b.checked_sub(*a) == Some(1))
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn runs_are_the_consecutive_stretches() {
        let seqs = [1, 2, 3, 7, 9, 10];
        let got: Vec<&[u64]> = runs(&seqs).collect();
        assert_eq!(got, [&[1, 2, 3][..], &[7], &[9, 10]]);
        assert_eq!(runs(&[]).count(), 0);
    }
}
