//! The atomic unit of writing: a [`Batch`] of record writes, journal appends and an optional
//! idempotency claim, committed all-or-nothing.

use serde::Serialize;

use super::{Expect, IndexEntry, StoreLimits};
use crate::error::{Error, Result};

/// One record write in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// One journal append in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Append {
    /// Journal name.
    pub journal: String,
    /// Encoded entry.
    pub payload: Vec<u8>,
}

/// An idempotency claim: commit only if `key` is new; if it was used before with the same
/// `fingerprint`, return the stored `response` instead and write nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The client's idempotency key.
    pub key: String,
    /// A digest of the request (see [`Fingerprint`](super::Fingerprint)).
    pub fingerprint: String,
    /// The encoded result to hand back on replays.
    pub response: Vec<u8>,
}

/// Writes, appends and an optional idempotency claim, committed together or not at all by
/// [`Store::commit`](super::Store::commit).
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    writes: Vec<Write>,
    appends: Vec<Append>,
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

    /// Append a journal entry encoded as JSON.
    ///
    /// # Errors
    /// A serialization error.
    pub fn append_json<T: Serialize + ?Sized>(
        &mut self,
        journal: impl Into<String>,
        entry: &T,
    ) -> Result<&mut Batch> {
        let payload = serde_json::to_vec(entry)?;
        Ok(self.append(journal, payload))
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

    /// Fault injection for conformance and simulation tests: the backend must apply this many
    /// writes, then fail with a retryable [`Error::Backend`] and roll everything back.
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

    /// The idempotency claim, if any.
    pub fn idempotency(&self) -> Option<&IdempotencyClaim> {
        self.idempotency.as_ref()
    }

    /// The injected failure point, if any.
    pub fn injected_failure(&self) -> Option<usize> {
        self.fail_after_writes
    }

    /// Take the batch apart, moving its contents out (for backends that consume values).
    pub fn into_parts(self) -> BatchParts {
        BatchParts {
            writes: self.writes,
            appends: self.appends,
            idempotency: self.idempotency,
            fail_after_writes: self.fail_after_writes,
        }
    }

    /// Whether the batch writes nothing at all.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.appends.is_empty() && self.idempotency.is_none()
    }

    /// Move everything from `other` into this batch. An idempotency claim in `other` replaces
    /// this batch's claim.
    pub fn extend(&mut self, other: Batch) -> &mut Batch {
        self.writes.extend(other.writes);
        self.appends.extend(other.appends);
        if other.idempotency.is_some() {
            self.idempotency = other.idempotency;
        }
        self
    }

    /// Check names, sizes and duplicates against `limits`. Every backend calls this first, so
    /// bad input is refused identically everywhere and before anything is written.
    ///
    /// # Errors
    /// A validation error naming the offending write (`writes[3].key`), or
    /// [`Error::LimitExceeded`] for a value or batch that is too large.
    pub fn validate(&self, limits: &StoreLimits) -> Result<()> {
        if self.writes.len() > limits.max_batch_writes {
            return Err(Error::limit_exceeded(
                "max_batch_writes",
                self.writes.len(),
                limits.max_batch_writes,
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(self.writes.len());
        for (i, w) in self.writes.iter().enumerate() {
            let path = |f: &str| format!("writes[{i}].{f}");
            check_name(w.collection(), &path("collection"))?;
            check_key(w.key(), &path("key"), limits)?;
            if !seen.insert((w.collection(), w.key())) {
                return Err(Error::validation(
                    path("key"),
                    format!(
                        "{}/{} is written twice in one batch",
                        w.collection(),
                        w.key()
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
                    check_name(&ix.name, &path(&format!("indexes[{j}].name")))?;
                    check_key(&ix.value, &path(&format!("indexes[{j}].value")), limits)?;
                }
            }
        }
        for (i, a) in self.appends.iter().enumerate() {
            check_name(&a.journal, &format!("appends[{i}].journal"))?;
            if a.payload.len() > limits.max_value_bytes {
                return Err(Error::limit_exceeded(
                    format!("max_value_bytes (journal {})", a.journal),
                    a.payload.len(),
                    limits.max_value_bytes,
                ));
            }
        }
        if let Some(c) = &self.idempotency {
            check_key(&c.key, "idempotency.key", limits)?;
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
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            field,
            format!("{name:?} must be 1-64 characters of a-z, 0-9, '_', '.', ':' or '-'"),
        ))
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
}
