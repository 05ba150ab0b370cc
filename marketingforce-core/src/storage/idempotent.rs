//! Exactly-once commands: an idempotency key plus a request fingerprint.

use std::fmt::Write as _;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Batch, CommitOutcome, Store};
use crate::error::{Error, Result};
use crate::tenant::TenantId;

/// A digest of a request (SHA-256 of its JSON encoding), so a replayed idempotency key can be
/// told apart from the same key reused for a different request.
///
/// Requests should serialise deterministically (structs and `BTreeMap`s, not `HashMap`s).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of `request`.
    ///
    /// # Errors
    /// A serialization error.
    pub fn of<T: Serialize + ?Sized>(request: &T) -> Result<Fingerprint> {
        let bytes = serde_json::to_vec(request)?;
        Ok(Fingerprint::of_bytes(&bytes))
    }

    /// The fingerprint of raw bytes.
    pub fn of_bytes(bytes: &[u8]) -> Fingerprint {
        let digest = Sha256::digest(bytes);
        let mut hex = String::with_capacity(64);
        for b in digest {
            let _ = write!(hex, "{b:02x}");
        }
        Fingerprint(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Runs a command at most once per idempotency key.
///
/// [`check`](Idempotent::check) returns the first result when the key was used with the same
/// request (and an [`Error::IdempotencyMismatch`] when it was used with another); otherwise the
/// caller builds its batch and result, and [`commit`](Idempotent::commit) writes them together
/// with the key. If a concurrent caller won the race, `commit` returns the winner's result.
///
/// ```
/// use marketingforce_core::storage::{Batch, Idempotent, MemoryStore, Store};
/// use marketingforce_core::tenant::TenantId;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let tenant = TenantId::new();
/// let run = |amount: u32| {
///     let store = &store;
///     let tenant = &tenant;
///     async move {
///         let idem = Idempotent::new("topup-2026-11-001", &amount)?;
///         if let Some(prev) = idem.check::<String>(store, tenant).await? {
///             return Ok::<_, marketingforce_core::Error>(prev);
///         }
///         let mut batch = Batch::new();
///         batch.append("topups", amount.to_string().into_bytes());
///         idem.commit(store, tenant, batch, format!("credited {amount}")).await
///     }
/// };
/// assert_eq!(run(500).await.unwrap(), "credited 500");
/// assert_eq!(run(500).await.unwrap(), "credited 500"); // replay: nothing written
/// assert!(run(900).await.is_err()); // same key, different request
/// assert_eq!(store.read_journal(&tenant, "topups", 0, 10).await.unwrap().len(), 1);
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotent {
    key: String,
    fingerprint: Fingerprint,
}

impl Idempotent {
    /// A command with idempotency `key` for `request`.
    ///
    /// # Errors
    /// A validation error on a blank key, or a serialization error.
    pub fn new<T: Serialize + ?Sized>(key: impl Into<String>, request: &T) -> Result<Idempotent> {
        let key = key.into();
        if key.trim().is_empty() {
            return Err(Error::validation("idempotency_key", "must not be blank"));
        }
        Ok(Idempotent {
            key,
            fingerprint: Fingerprint::of(request)?,
        })
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The request fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    fn decode<R: DeserializeOwned>(&self, stored_fp: &str, response: &[u8]) -> Result<R> {
        if stored_fp != self.fingerprint.as_str() {
            return Err(Error::IdempotencyMismatch {
                key: self.key.clone(),
            });
        }
        serde_json::from_slice(response).map_err(|e| Error::Serialization {
            what: format!("idempotent response of {}", self.key),
            reason: e.to_string(),
        })
    }

    /// The first result, if this key was already used for the same request.
    ///
    /// # Errors
    /// [`Error::IdempotencyMismatch`] when the key was used for another request.
    pub async fn check<R: DeserializeOwned>(
        &self,
        store: &dyn Store,
        tenant: &TenantId,
    ) -> Result<Option<R>> {
        match store.idempotency(tenant, &self.key).await? {
            Some((fp, response)) => self.decode(&fp, &response).map(Some),
            None => Ok(None),
        }
    }

    /// Commit `batch` with the key, storing `result` for replays; returns the result that
    /// stands (this one, or the one a concurrent caller committed first).
    ///
    /// # Errors
    /// Commit errors, or [`Error::IdempotencyMismatch`].
    pub async fn commit<R: Serialize + DeserializeOwned>(
        &self,
        store: &dyn Store,
        tenant: &TenantId,
        mut batch: Batch,
        result: R,
    ) -> Result<R> {
        let response = serde_json::to_vec(&result)?;
        batch.claim_idempotency(self.key.clone(), self.fingerprint.0.clone(), response);
        match store.commit(tenant, batch).await? {
            CommitOutcome::Committed(_) => Ok(result),
            CommitOutcome::Replayed(stored) => self.decode(self.fingerprint.as_str(), &stored),
        }
    }
}
