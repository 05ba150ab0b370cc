//! The atomic unit of writing: a [`Batch`] of record writes, journal appends, journal-head
//! expectations and an optional idempotency claim, committed all-or-nothing.

use std::fmt;

use serde::Serialize;

use super::{ByteCount, Expect, IndexEntry, StoreLimits};
use crate::error::{quote_input, Error, Result};

/// One record write in a batch. Its `Debug` output shows a put value's size, not its bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum Write {
    /// Create or replace a record, replacing its index entries.
    Put {
        /// Collection name.
        collection: String,
        /// Record key.
        key: String,
        /// Encoded value.
        value: Vec<u8>,
        /// Secondary-index entries of the new value.
        indexes: Vec<IndexEntry>,
        /// Optimistic-concurrency expectation.
        expect: Expect,
    },
    /// Delete a record and its index entries.
    Delete {
        /// Collection name.
        collection: String,
        /// Record key.
        key: String,
        /// Optimistic-concurrency expectation.
        expect: Expect,
    },
}

impl fmt::Debug for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Write::Put {
                collection,
                key,
                value,
                indexes,
                expect,
            } => f
                .debug_struct("Put")
                .field("collection", collection)
                .field("key", key)
                .field("value", &ByteCount(value))
                .field("indexes", indexes)
                .field("expect", expect)
                .finish(),
            Write::Delete {
                collection,
                key,
                expect,
            } => f
                .debug_struct("Delete")
                .field("collection", collection)
                .field("key", key)
                .field("expect", expect)
                .finish(),
        }
    }
}

impl Write {
    /// The collection written.
    pub fn collection(&self) -> &str {
        match self {
            Write::Put { collection, .. } | Write::Delete { collection, .. } => collection,
        }
    }

    /// The key written.
    pub fn key(&self) -> &str {
        match self {
            Write::Put { key, .. } | Write::Delete { key, .. } => key,
        }
    }

    /// The expectation on the current version.
    pub fn expect(&self) -> Expect {
        match self {
            Write::Put { expect, .. } | Write::Delete { expect, .. } => *expect,
        }
    }
}

/// One journal append in a batch. Its `Debug` output shows the payload's size, not its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Append {
    /// Journal name.
    pub journal: String,
    /// Encoded entry.
    pub payload: Vec<u8>,
}

impl fmt::Debug for Append {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Append")
            .field("journal", &self.journal)
            .field("payload", &ByteCount(&self.payload))
            .finish()
    }
}

/// A journal-head expectation: commit only if the journal's last sequence number (0 when it is
/// empty) is `head`. See [`Batch::expect_head`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeadExpectation {
    /// Journal name.
    pub journal: String,
    /// The sequence number the journal must end at.
    pub head: u64,
}

/// An idempotency claim: commit only if `key` is new; if it was used before with the same
/// `fingerprint`, return the stored `response` instead and write nothing. Its `Debug` output
/// shows the response's size, not its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The client's idempotency key.
    pub key: String,
    /// A digest of the request (see [`Fingerprint`](super::Fingerprint)).
    pub fingerprint: String,
    /// The encoded result to hand back on replays.
    pub response: Vec<u8>,
}

impl fmt::Debug for IdempotencyClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyClaim")
            .field("key", &self.key)
            .field("fingerprint", &self.fingerprint)
            .field("response", &ByteCount(&self.response))
            .finish()
    }
}

/// Writes, appends, journal-head expectations and an optional idempotency claim, committed
/// together or not at all by [`Store::commit`](super::Store::commit).
///
/// ```
/// use marketingforce_core::storage::{Batch, Expect, IndexEntry};
///
/// let mut batch = Batch::new();
/// batch.put("leads", "lead-1", r#"{"name":"张三"}"#.as_bytes().to_vec(),
///           vec![IndexEntry::new("phone", "hmac:ab12")], Expect::Absent);
/// batch.append("lead_history", br#"{"event":"captured"}"#.to_vec());
/// batch.claim_idempotency("capture-42", "fp", b"lead-1".to_vec());
/// assert_eq!(batch.writes().len(), 1);
/// ```
///
/// A batch computed from an in-memory view of a journal names the view's position, so a stale
/// process cannot commit it ([`expect_head`](Batch::expect_head)):
///
/// ```
/// use marketingforce_core::storage::Batch;
///
/// let mut batch = Batch::new();
/// batch.expect_head("usage", 41).append("usage", br#"{"units":1}"#.to_vec());
/// assert_eq!(batch.heads()[0].head, 41);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    writes: Vec<Write>,
    appends: Vec<Append>,
    heads: Vec<HeadExpectation>,
    idempotency: Option<IdempotencyClaim>,
    fail_after_writes: Option<usize>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Put a raw record.
    pub fn put(
        &mut self,
        collection: impl Into<String>,
        key: impl Into<String>,
        value: Vec<u8>,
        indexes: Vec<IndexEntry>,
        expect: Expect,
    ) -> &mut Batch {
        self.writes.push(Write::Put {
            collection: collection.into(),
            key: key.into(),
            value,
            indexes,
            expect,
        });
        self
    }

    /// Delete a record.
    pub fn delete(
        &mut self,
        collection: impl Into<String>,
        key: impl Into<String>,
        expect: Expect,
    ) -> &mut Batch {
        self.writes.push(Write::Delete {
            collection: collection.into(),
            key: key.into(),
            expect,
        });
        self
    }

    /// Append a raw journal entry.
    pub fn append(&mut self, journal: impl Into<String>, payload: Vec<u8>) -> &mut Batch {
        self.appends.push(Append {
            journal: journal.into(),
            payload,
        });
        self
    }

    /// Join an entry written by `write` to this batch's last entry for `journal`, after a
    /// `separator` byte, when the joined entry stays within `max_bytes`; otherwise (or when
    /// the journal has no entry in this batch yet) append it as a new entry. `write` appends
    /// its bytes to the buffer it is given and nothing else. How the outbox stores a batch's
    /// events as one entry.
    ///
    /// # Errors
    /// `write`'s error; the batch is unchanged then.
    pub(crate) fn append_joined_with(
        &mut self,
        journal: &str,
        separator: u8,
        max_bytes: usize,
        write: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<&mut Batch> {
        let Some(last) = self.appends.iter_mut().rev().find(|a| a.journal == journal) else {
            let mut payload = Vec::new();
            write(&mut payload)?;
            return Ok(self.append(journal, payload));
        };
        let joined_at = last.payload.len();
        last.payload.push(separator);
        if let Err(e) = write(&mut last.payload) {
            last.payload.truncate(joined_at);
            return Err(e);
        }
        if last.payload.len() > max_bytes {
            let own = last.payload.split_off(joined_at + 1);
            last.payload.truncate(joined_at);
            return Ok(self.append(journal, own));
        }
        Ok(self)
    }

    /// Append a journal entry encoded as JSON.
    ///
    /// # Errors
    /// A serialization error.
    pub fn append_json<T: Serialize + ?Sized>(
        &mut self,
        journal: impl Into<String>,
        entry: &T,
    ) -> Result<&mut Batch> {
        let payload = super::json::to_json_exact(entry)?;
        Ok(self.append(journal, payload))
    }

    /// Commit only if `journal` ends at sequence number `head` (0 when it is empty) at commit
    /// time, before this batch's own appends; otherwise the commit writes nothing and fails
    /// with [`Error::StaleView`] naming the expected and the actual head.
    ///
    /// This is how a service proves that the in-memory view a write relies on is current: the
    /// view was computed from the journal up to `head`, so if the journal moved on, another
    /// process (or task) wrote something the view has not seen. Several journals may be
    /// expected in one batch (each at most once); a batch of expectations alone is a pure fence
    /// check. See "Several processes, one store" in the [storage docs](super).
    pub fn expect_head(&mut self, journal: impl Into<String>, head: u64) -> &mut Batch {
        self.heads.push(HeadExpectation {
            journal: journal.into(),
            head,
        });
        self
    }

    /// Make the batch conditional on an idempotency key (see [`IdempotencyClaim`]).
    pub fn claim_idempotency(
        &mut self,
        key: impl Into<String>,
        fingerprint: impl Into<String>,
        response: Vec<u8>,
    ) -> &mut Batch {
        self.idempotency = Some(IdempotencyClaim {
            key: key.into(),
            fingerprint: fingerprint.into(),
            response,
        });
        self
    }

    /// Fault injection for conformance and simulation tests (feature `testing`): the backend
    /// must apply this many writes, then fail with a retryable [`Error::Backend`] and roll
    /// everything back.
    #[cfg(feature = "testing")]
    pub fn fail_after_writes(&mut self, writes: usize) -> &mut Batch {
        self.fail_after_writes = Some(writes);
        self
    }

    /// The record writes, in order.
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// The journal appends, in order.
    pub fn appends(&self) -> &[Append] {
        &self.appends
    }

    /// The journal-head expectations, in order.
    pub fn heads(&self) -> &[HeadExpectation] {
        &self.heads
    }

    /// The idempotency claim, if any.
    pub fn idempotency(&self) -> Option<&IdempotencyClaim> {
        self.idempotency.as_ref()
    }

    /// The injected failure point, if any (set by `fail_after_writes`, feature `testing`;
    /// backends honour it in every build).
    pub fn injected_failure(&self) -> Option<usize> {
        self.fail_after_writes
    }

    /// Take the batch apart, moving its contents out (for backends that consume values).
    pub fn into_parts(self) -> BatchParts {
        BatchParts {
            writes: self.writes,
            appends: self.appends,
            heads: self.heads,
            idempotency: self.idempotency,
            fail_after_writes: self.fail_after_writes,
        }
    }

    /// Whether the batch has nothing to commit: no writes, appends, head expectations or
    /// idempotency claim. (A batch of head expectations alone is a fence check, not empty.)
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.appends.is_empty()
            && self.heads.is_empty()
            && self.idempotency.is_none()
    }

    /// Move everything from `other` into this batch. An idempotency claim in `other` replaces
    /// this batch's claim; a head expectation that this batch already has (same journal, same
    /// head) is kept once, a different head for the same journal is left for
    /// [`validate`](Batch::validate) to refuse.
    pub fn extend(&mut self, other: Batch) -> &mut Batch {
        self.writes.extend(other.writes);
        self.appends.extend(other.appends);
        for head in other.heads {
            if !self.heads.contains(&head) {
                self.heads.push(head);
            }
        }
        if other.idempotency.is_some() {
            self.idempotency = other.idempotency;
        }
        self
    }

    /// Check names, sizes and duplicates against `limits`. Every backend calls this first, so
    /// bad input is refused identically everywhere and before anything is written.
    ///
    /// # Errors
    /// A validation error naming the offending write (`writes[3].key`), expectation
    /// (`heads[1].journal`, also for a journal expected twice) or claim
    /// (`idempotency.fingerprint`: like a key, non-empty, without NUL, within the key limit), or
    /// [`Error::LimitExceeded`] for a value or batch that is too large.
    pub fn validate(&self, limits: &StoreLimits) -> Result<()> {
        if self.writes.len() > limits.max_batch_writes {
            return Err(Error::limit_exceeded(
                "max_batch_writes",
                self.writes.len(),
                limits.max_batch_writes,
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity_and_hasher(
            self.writes.len(),
            foldhash::fast::RandomState::default(),
        );
        // Field paths are formatted only for the write that fails (this runs on every commit).
        for (i, w) in self.writes.iter().enumerate() {
            let path = |f: &str| format!("writes[{i}].{f}");
            check_name_lazily(w.collection(), || path("collection"))?;
            check_key_lazily(w.key(), || path("key"), limits)?;
            if !seen.insert((w.collection(), w.key())) {
                return Err(Error::validation(
                    path("key"),
                    format!(
                        "{}/{} is written twice in one batch",
                        w.collection(),
                        quote_input(w.key())
                    ),
                ));
            }
            if let Write::Put { value, indexes, .. } = w {
                if value.len() > limits.max_value_bytes {
                    return Err(Error::limit_exceeded(
                        format!("max_value_bytes ({}/{})", w.collection(), w.key()),
                        value.len(),
                        limits.max_value_bytes,
                    ));
                }
                for (j, ix) in indexes.iter().enumerate() {
                    check_name_lazily(&ix.name, || path(&format!("indexes[{j}].name")))?;
                    check_key_lazily(&ix.value, || path(&format!("indexes[{j}].value")), limits)?;
                }
            }
        }
        for (i, a) in self.appends.iter().enumerate() {
            check_name_lazily(&a.journal, || format!("appends[{i}].journal"))?;
            if a.payload.len() > limits.max_value_bytes {
                return Err(Error::limit_exceeded(
                    format!("max_value_bytes (journal {})", a.journal),
                    a.payload.len(),
                    limits.max_value_bytes,
                ));
            }
        }
        for (i, h) in self.heads.iter().enumerate() {
            let field = format!("heads[{i}].journal");
            check_name(&h.journal, &field)?;
            if self.heads[..i].iter().any(|e| e.journal == h.journal) {
                return Err(Error::validation(
                    field,
                    format!("journal {} is expected twice in one batch", h.journal),
                ));
            }
        }
        if let Some(c) = &self.idempotency {
            check_key(&c.key, "idempotency.key", limits)?;
            check_key(&c.fingerprint, "idempotency.fingerprint", limits)?;
            if c.response.len() > limits.max_value_bytes {
                return Err(Error::limit_exceeded(
                    "max_value_bytes (idempotent response)",
                    c.response.len(),
                    limits.max_value_bytes,
                ));
            }
        }
        Ok(())
    }
}

/// The contents of a [`Batch`], moved out by [`Batch::into_parts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchParts {
    /// The record writes, in order.
    pub writes: Vec<Write>,
    /// The journal appends, in order.
    pub appends: Vec<Append>,
    /// The journal-head expectations, in order.
    pub heads: Vec<HeadExpectation>,
    /// The idempotency claim, if any.
    pub idempotency: Option<IdempotencyClaim>,
    /// The injected failure point, if any.
    pub fail_after_writes: Option<usize>,
}

/// Collection, index and journal names: 1–64 characters of `[a-z0-9_.:-]`.
///
/// # Errors
/// A validation error on `field`.
pub fn check_name(name: &str, field: &str) -> Result<()> {
    if name_is_valid(name) {
        Ok(())
    } else {
        Err(Error::validation(
            field,
            format!(
                "{} must be 1-64 characters of a-z, 0-9, '_', '.', ':' or '-'",
                quote_input(name)
            ),
        ))
    }
}

fn name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b))
}

/// [`check_name`], naming the field only when the name is refused.
fn check_name_lazily(name: &str, field: impl FnOnce() -> String) -> Result<()> {
    if name_is_valid(name) {
        Ok(())
    } else {
        check_name(name, &field())
    }
}

/// [`check_key`], naming the field only when the key is refused.
fn check_key_lazily(key: &str, field: impl FnOnce() -> String, limits: &StoreLimits) -> Result<()> {
    if !key.is_empty() && key.len() <= limits.max_key_bytes && !key.contains('\0') {
        Ok(())
    } else {
        check_key(key, &field(), limits)
    }
}

/// Keys and index values: any non-empty UTF-8 up to the limit, except NUL (which SQL text types
/// cannot hold).
///
/// # Errors
/// A validation error on `field`, or [`Error::LimitExceeded`] when too long.
pub fn check_key(key: &str, field: &str, limits: &StoreLimits) -> Result<()> {
    if key.is_empty() {
        return Err(Error::validation(field, "must not be empty"));
    }
    if key.len() > limits.max_key_bytes {
        return Err(Error::limit_exceeded(
            format!("max_key_bytes ({field})"),
            key.len(),
            limits.max_key_bytes,
        ));
    }
    if key.contains('\0') {
        return Err(Error::validation(field, "must not contain NUL characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_write() {
        let limits = StoreLimits::default();
        let mut b = Batch::new();
        b.put("ok", "a", vec![], vec![], Expect::Any);
        b.put("Bad Name", "b", vec![], vec![], Expect::Any);
        let e = b.validate(&limits).unwrap_err().to_string();
        assert!(e.contains("writes[1].collection"), "{e}");

        let mut b = Batch::new();
        b.put("c", "k", vec![], vec![], Expect::Any)
            .delete("c", "k", Expect::Any);
        assert!(b
            .validate(&limits)
            .unwrap_err()
            .to_string()
            .contains("twice"));

        let mut b = Batch::new();
        b.put(
            "c",
            "k",
            vec![0; limits.max_value_bytes + 1],
            vec![],
            Expect::Any,
        );
        assert!(matches!(
            b.validate(&limits),
            Err(Error::LimitExceeded { .. })
        ));

        let mut b = Batch::new();
        b.put("c", "k\0", vec![], vec![], Expect::Any);
        assert!(b.validate(&limits).is_err());
    }

    /// Debug output (a `{:?}` in a log line, a panic message, a test failure) shows the sizes
    /// of record values, journal payloads and idempotent responses, never their bytes: before,
    /// every byte was printed (`value: [49, 51, 56, …]`), personal data included.
    #[test]
    fn debug_output_shows_sizes_not_values() {
        use crate::storage::{CommitOutcome, EncodedEntity, Entity, JournalEntry, Record};

        let secret = "13812345678 张三";
        let bytes = secret.as_bytes().to_vec();
        // How `{:?}` prints the first bytes of the secret.
        let echoed = format!("{:?}", &bytes[..4]);
        let echoed = echoed.trim_end_matches(']');
        let mut batch = Batch::new();
        batch
            .put("leads", "lead_1", bytes.clone(), vec![], Expect::Any)
            .append("lead_history", bytes.clone())
            .claim_idempotency("capture-1", "fp", bytes.clone());

        #[derive(serde::Serialize, serde::Deserialize)]
        struct Lead(String);
        impl Entity for Lead {
            const COLLECTION: &'static str = "leads";
            fn key(&self) -> String {
                "lead_1".into()
            }
        }
        let shown = [
            format!(
                "{:?}",
                Record {
                    key: "lead_1".into(),
                    version: 1,
                    value: bytes.clone(),
                }
            ),
            format!(
                "{:?}",
                JournalEntry {
                    seq: 1,
                    payload: bytes.clone(),
                }
            ),
            format!("{batch:?}"),
            format!("{:?}", batch.clone().into_parts()),
            format!("{:?}", CommitOutcome::Replayed(bytes.clone())),
            format!(
                "{:?}",
                EncodedEntity::new(&crate::tenant::TenantId::new(), &Lead(secret.into())).unwrap()
            ),
        ];
        for shown in shown {
            assert!(!shown.contains(echoed), "{shown}");
            assert!(!shown.contains("13812345678"), "{shown}");
            assert!(shown.contains("bytes"), "{shown}");
        }
    }

    /// A refused name or a key written twice is quoted by a short prefix, not in full:
    /// before, a megabyte-long collection name came back in a megabyte-long error.
    #[test]
    fn refusals_quote_a_short_prefix() {
        let limits = StoreLimits::default();
        let long = "Q".repeat(1 << 20);
        let e = check_name(&long, "collection").unwrap_err().to_string();
        assert!(e.len() < 300, "{} bytes", e.len());
        let mut b = Batch::new();
        b.append(long.clone(), vec![]);
        let e = b.validate(&limits).unwrap_err().to_string();
        assert!(e.len() < 300, "{} bytes", e.len());
        let key = "k".repeat(limits.max_key_bytes);
        let mut b = Batch::new();
        b.put("c", key.clone(), vec![], vec![], Expect::Any)
            .delete("c", key, Expect::Any);
        let e = b.validate(&limits).unwrap_err().to_string();
        assert!(
            e.contains("twice") && e.len() < 300,
            "{} bytes: {e}",
            e.len()
        );
    }

    #[test]
    fn head_expectations_are_validated_and_merged() {
        let limits = StoreLimits::default();
        let mut b = Batch::new();
        b.expect_head("usage", 3).expect_head("ledger", 0);
        assert!(b.validate(&limits).is_ok());
        assert!(!b.is_empty(), "a pure fence is something to commit");
        b.expect_head("usage", 4);
        let e = b.validate(&limits).unwrap_err();
        assert!(
            matches!(&e, Error::Validation { field, .. } if field == "heads[2].journal"),
            "{e}"
        );
        let mut b = Batch::new();
        b.expect_head("Bad Journal", 0);
        let e = b.validate(&limits).unwrap_err();
        assert!(e.to_string().contains("heads[0].journal"), "{e}");

        // Merging keeps an identical expectation once.
        let mut a = Batch::new();
        a.expect_head("usage", 3);
        let mut other = Batch::new();
        other.expect_head("usage", 3).expect_head("seats", 1);
        a.extend(other);
        assert_eq!(a.heads().len(), 2);
        assert_eq!(a.clone().into_parts().heads, a.heads());
    }
}
