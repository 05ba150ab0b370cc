//! Reading the entries about some leads out of a tenant-wide journal (the history and behaviour
//! journals hold every lead's entries, in commit order).
//!
//! The journal is read a page at a time, so memory holds one page and the matches, however long
//! it is. An entry is decoded only when its text holds one of the leads' ids: ids are written
//! verbatim, as quoted strings, in every entry that names them (the JSON of a serde type never
//! escapes their characters), so an entry without the text cannot be about them. A decoded entry
//! is kept only when `about` says so: another lead's entry may name the lead in another field
//! (a merge names the lead it absorbed).
//!
//! The journal is read from its start, or from a given entry on ([`entries_about_after`]: the
//! history index reads only the entries after its watermark this way).

use marketingforce_core::storage::{JournalEntry, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::Error;
use memchr::memmem::Finder;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::ids::LeadId;

/// Entries per read of the journal.
pub(crate) const PAGE: usize = 5_000;

/// Every entry of `journal` that is `about` one of `leads`, oldest first.
///
/// # Errors
/// Backend errors; a decoding error for an entry that names one of the leads and does not
/// decode.
pub(crate) async fn entries_about<T: DeserializeOwned>(
    store: &dyn Store,
    tenant: &TenantId,
    journal: &str,
    leads: &[LeadId],
    about: impl Fn(&T) -> bool,
) -> Result<Vec<T>> {
    Ok(entries_about_after(store, tenant, journal, 0, leads, about)
        .await?
        .found)
}

/// What [`entries_about_after`] found, and how much of the journal it read.
pub(crate) struct Scanned<T> {
    /// The entries about the leads, oldest first.
    pub found: Vec<T>,
    /// How many entries it read.
    pub read: usize,
}

/// [`entries_about`] of the entries after sequence number `after` only.
///
/// # Errors
/// As [`entries_about`].
pub(crate) async fn entries_about_after<T: DeserializeOwned>(
    store: &dyn Store,
    tenant: &TenantId,
    journal: &str,
    mut after: u64,
    leads: &[LeadId],
    about: impl Fn(&T) -> bool,
) -> Result<Scanned<T>> {
    let quoted: Vec<String> = leads.iter().map(|l| format!("\"{l}\"")).collect();
    let finders: Vec<Finder<'_>> = quoted.iter().map(|q| Finder::new(q.as_bytes())).collect();
    let mut out = Scanned {
        found: Vec::new(),
        read: 0,
    };
    loop {
        let page = store.read_journal(tenant, journal, after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(out);
        };
        after = last.seq;
        out.read += page.len();
        for entry in page {
            if !finders.iter().any(|f| f.find(&entry.payload).is_some()) {
                continue;
            }
            let value: T = decode_entry(journal, &entry)?;
            if about(&value) {
                out.found.push(value);
            }
        }
    }
}

/// A journal entry decoded as a `T`, or the error naming it (`journal #seq`).
pub(crate) fn decode_entry<T: DeserializeOwned>(journal: &str, entry: &JournalEntry) -> Result<T> {
    Ok(
        serde_json::from_slice(&entry.payload).map_err(|e| Error::Serialization {
            what: format!("journal {journal} #{}", entry.seq),
            reason: e.to_string(),
        })?,
    )
}
