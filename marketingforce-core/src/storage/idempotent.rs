//! Exactly-once commands: an idempotency key, scoped by operation, plus a request fingerprint.

use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{check_name, Batch, CommitOutcome, Store};
use crate::error::{json_reason, Error, Result};
use crate::idempotency::IdempotencyKey;
use crate::tenant::TenantId;

/// A digest of a request, so a replayed idempotency key can be told apart from the same key
/// reused for a different request.
///
/// Two kinds:
/// - [`Fingerprint::of`]: SHA-256 of the request's JSON encoding. **Only for requests without
///   personal data** (amounts, ids, dates, configuration): an unkeyed digest of a request that
///   holds a mobile number or a name can be reversed by trying every candidate (10⁸ mobile
///   numbers take about a second), and the fingerprint is stored next to the key.
/// - [`Fingerprint::keyed`]: HMAC-SHA256 under a secret (the tenant's key, never stored with the
///   record) for requests that carry personal data. Without the secret it reveals nothing;
///   destroying the secret (crypto-shredding on erase) leaves nothing to enumerate.
///
/// Requests should serialise deterministically (structs and `BTreeMap`s, not `HashMap`s).
///
/// ```
/// use marketingforce_core::storage::Fingerprint;
///
/// // An ad-account top-up: no personal data, a plain fingerprint is fine.
/// let topup = Fingerprint::of(&("acct-7", "5000.00 CNY")).unwrap();
/// // A lead capture holds a mobile number: key the fingerprint with the tenant's secret.
/// let secret = [7u8; 32];
/// let capture = Fingerprint::keyed(&secret, &("13812345678", "张三")).unwrap();
/// assert_ne!(capture, Fingerprint::of(&("13812345678", "张三")).unwrap());
/// assert_eq!(capture, Fingerprint::keyed(&secret, &("13812345678", "张三")).unwrap());
/// assert_eq!(topup.as_str().len(), 64);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

/// The shortest secret [`Fingerprint::keyed`] accepts, in bytes.
const MIN_SECRET_BYTES: usize = 16;

impl Fingerprint {
    /// The plain (unkeyed) fingerprint of `request`: SHA-256 of its JSON encoding. Only for
    /// requests without personal data; see [`Fingerprint::keyed`].
    ///
    /// # Errors
    /// A serialization error.
    pub fn of<T: Serialize + ?Sized>(request: &T) -> Result<Fingerprint> {
        let bytes = serde_json::to_vec(request)?;
        Ok(Fingerprint::of_bytes(&bytes))
    }

    /// The plain fingerprint of raw bytes.
    pub fn of_bytes(bytes: &[u8]) -> Fingerprint {
        Fingerprint(hex(&Sha256::digest(bytes)))
    }

    /// The keyed fingerprint of `request`: HMAC-SHA256 of its JSON encoding under `secret`.
    /// Use it for every request that holds personal data (mobile numbers, emails, names, ID
    /// numbers, message text), with a per-tenant secret that is not stored with the records.
    ///
    /// # Errors
    /// A validation error on `secret` when it is shorter than 16 bytes, or a serialization
    /// error.
    pub fn keyed<T: Serialize + ?Sized>(secret: &[u8], request: &T) -> Result<Fingerprint> {
        let bytes = serde_json::to_vec(request)?;
        Fingerprint::keyed_bytes(secret, &bytes)
    }

    /// The keyed fingerprint of raw bytes (see [`Fingerprint::keyed`]).
    ///
    /// # Errors
    /// A validation error on `secret` when it is shorter than 16 bytes.
    pub fn keyed_bytes(secret: &[u8], bytes: &[u8]) -> Result<Fingerprint> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(Error::validation(
                "secret",
                format!("must be at least {MIN_SECRET_BYTES} bytes"),
            ));
        }
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .map_err(|e| Error::validation("secret", e.to_string()))?;
        mac.update(bytes);
        Ok(Fingerprint(hex(&mac.finalize().into_bytes())))
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Runs a command at most once per idempotency key and operation.
///
/// [`check`](Idempotent::check) returns the first result when the key was used with the same
/// request (and an [`Error::IdempotencyMismatch`] when it was used with another); otherwise the
/// caller builds its batch and result, and [`commit`](Idempotent::commit) writes them together
/// with the claim. If a concurrent caller won the race, `commit` returns the winner's result.
///
/// The claim is stored under [`IdempotencyKey::scoped`]`(operation)`: the key is unique within
/// (tenant, operation), the one scoping rule of the SDK.
///
/// ```
/// use marketingforce_core::storage::{Batch, Idempotent, MemoryStore, Store};
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_core::IdempotencyKey;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let tenant = TenantId::new();
/// let key: IdempotencyKey = "topup-2026-11-001".parse().unwrap();
/// let run = |amount: u32| {
///     let (store, tenant, key) = (&store, &tenant, &key);
///     async move {
///         let idem = Idempotent::new(key, "ads.top_up", &amount)?;
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
/// assert!(store.idempotency(&tenant, "ads.top_up/topup-2026-11-001").await.unwrap().is_some());
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotent {
    key: String,
    fingerprint: Fingerprint,
}

impl Idempotent {
    /// The command `operation` (a storage name such as `crm.capture`) with idempotency `key`
    /// for `request`, fingerprinted with [`Fingerprint::of`] — for requests without personal
    /// data; otherwise use [`Idempotent::with_fingerprint`] and [`Fingerprint::keyed`].
    ///
    /// # Errors
    /// A validation error on `operation` when it is not a storage name, or a serialization
    /// error.
    pub fn new<T: Serialize + ?Sized>(
        key: &IdempotencyKey,
        operation: &str,
        request: &T,
    ) -> Result<Idempotent> {
        Idempotent::with_fingerprint(key, operation, Fingerprint::of(request)?)
    }

    /// The command `operation` with idempotency `key` and a fingerprint computed by the caller
    /// (typically [`Fingerprint::keyed`] for requests with personal data).
    ///
    /// # Errors
    /// A validation error on `operation` when it is not a storage name.
    pub fn with_fingerprint(
        key: &IdempotencyKey,
        operation: &str,
        fingerprint: Fingerprint,
    ) -> Result<Idempotent> {
        check_name(operation, "operation")?;
        Ok(Idempotent {
            key: key.scoped(operation),
            fingerprint,
        })
    }

    /// A command whose claim is stored under `claim_key` exactly as given, with a plain
    /// fingerprint: the pre-[`IdempotencyKey`] form, kept while the services move to
    /// [`Idempotent::new`].
    ///
    /// # Errors
    /// A validation error on a blank key, or a serialization error.
    #[deprecated(
        since = "0.2.0",
        note = "use Idempotent::new(&IdempotencyKey, operation, request): one key type, scoped by operation"
    )]
    pub fn legacy<T: Serialize + ?Sized>(
        claim_key: impl Into<String>,
        request: &T,
    ) -> Result<Idempotent> {
        let key = claim_key.into();
        if key.trim().is_empty() {
            return Err(Error::validation("idempotency_key", "must not be blank"));
        }
        Ok(Idempotent {
            key,
            fingerprint: Fingerprint::of(request)?,
        })
    }

    /// The claim key stored in the store (`"{operation}/{key}"`).
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
            reason: json_reason(&e),
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
            Some((fp, response)) => {
                let first = self.decode(&fp, &response)?;
                crate::telemetry::store::replayed(&self.key);
                Ok(Some(first))
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;

    /// A stored response that does not decode as the caller's type is reported without the
    /// response's values (before: `invalid type: string "13812345678", expected u64`).
    #[test]
    fn a_response_that_does_not_decode_is_not_quoted() {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let store = MemoryStore::new();
                let tenant = TenantId::new();
                let key = IdempotencyKey::new("k").unwrap();
                let idem = Idempotent::new(&key, "crm.capture", &"req").unwrap();
                idem.commit(&store, &tenant, Batch::new(), "13812345678".to_string())
                    .await
                    .unwrap();
                let e = idem
                    .check::<u64>(&store, &tenant)
                    .await
                    .unwrap_err()
                    .to_string();
                assert!(!e.contains("13812345678"), "{e}");
                assert!(e.contains("invalid type"), "{e}");
            });
    }

    #[test]
    fn keys_are_scoped_by_operation() {
        let key = IdempotencyKey::new("k-1").unwrap();
        let a = Idempotent::new(&key, "crm.capture", &1).unwrap();
        let b = Idempotent::new(&key, "ads.top_up", &1).unwrap();
        assert_eq!(a.key(), "crm.capture/k-1");
        assert_ne!(a.key(), b.key());
        let e = Idempotent::new(&key, "Not A Name", &1).unwrap_err();
        assert!(
            matches!(&e, Error::Validation { field, .. } if field == "operation"),
            "{e}"
        );
    }

    #[test]
    fn the_same_key_in_two_operations_runs_twice() {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let store = MemoryStore::new();
                let tenant = TenantId::new();
                let key = IdempotencyKey::new("k").unwrap();
                for op in ["crm.capture", "ads.top_up", "crm.capture"] {
                    let idem = Idempotent::new(&key, op, &"req").unwrap();
                    let mut batch = Batch::new();
                    batch.append("log", op.as_bytes().to_vec());
                    idem.commit(&store, &tenant, batch, op.to_string())
                        .await
                        .unwrap();
                }
                assert_eq!(store.journal_head(&tenant, "log").await.unwrap(), 2);
            });
    }

    #[test]
    fn keyed_fingerprints_depend_on_the_secret_and_refuse_short_ones() {
        let req = ("13812345678", "张三");
        let a = Fingerprint::keyed(&[1; 32], &req).unwrap();
        let b = Fingerprint::keyed(&[2; 32], &req).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, Fingerprint::of(&req).unwrap());
        assert_eq!(a.as_str().len(), 64);
        // RFC 4231 test case 2 ("Jefe" is too short for us, so check via a 16+ byte key).
        let known = Fingerprint::keyed_bytes(&[0x0b; 20], b"Hi There").unwrap();
        assert_eq!(
            known.as_str(),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        let e = Fingerprint::keyed(b"short", &req).unwrap_err();
        assert!(matches!(&e, Error::Validation { field, .. } if field == "secret"));
        let with = Idempotent::with_fingerprint(
            &IdempotencyKey::new("k").unwrap(),
            "crm.capture",
            a.clone(),
        )
        .unwrap();
        assert_eq!(with.fingerprint(), &a);
    }
}
