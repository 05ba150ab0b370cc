//! Where secrets come from: the [`KeyProvider`] contract and [`KeyRing`], its in-process
//! implementation.
//!
//! Personal data is sealed (encrypted) and blind-indexed under per-tenant keys, and the
//! fingerprints of requests that carry personal data are keyed digests, so nothing derived from
//! a mobile number or an email can be tested against guesses without the key. A provider hands
//! out 256-bit keys by id, per tenant: the *active* data key for new ciphertexts, older data
//! keys to open ciphertexts sealed before a rotation, and the blind-index keys. [`KeyRing`]
//! derives tenant keys from versioned master secrets with HMAC-SHA256, so one rotation covers
//! every tenant; a KMS or HSM implements [`KeyProvider`] itself.
//!
//! ```
//! use marketingforce_core::keys::{KeyProvider, KeyRing};
//! use marketingforce_core::tenant::TenantId;
//!
//! let ring = KeyRing::new("k1", [7u8; 32]);
//! let (a, b) = (TenantId::new(), TenantId::new());
//! let (id, key_a) = ring.active_data_key(&a).unwrap();
//! assert_eq!(id, "k1");
//! // Every tenant has its own keys, and each purpose its own key.
//! assert_ne!(key_a, ring.active_data_key(&b).unwrap().1);
//! assert_ne!(key_a, ring.active_index_key(&a).unwrap().1);
//! // Rotation: new data is sealed under k2; k1 still opens what it sealed.
//! ring.rotate("k2", [9u8; 32]).unwrap();
//! assert_eq!(ring.active_data_key(&a).unwrap().0, "k2");
//! assert_eq!(ring.data_key(&a, "k1").unwrap(), key_a);
//! // Debug output never shows key bytes.
//! assert!(!format!("{ring:?}").contains("7, 7"));
//! ```

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::tenant::TenantId;

type HmacSha256 = Hmac<Sha256>;

/// A 256-bit secret. Its `Debug` output never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial([u8; 32]);

impl KeyMaterial {
    /// Wrap raw key bytes.
    pub const fn new(bytes: [u8; 32]) -> KeyMaterial {
        KeyMaterial(bytes)
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key for `purpose` derived from this one with HMAC-SHA256 (domain separation: keys
    /// derived for different purposes are unrelated).
    pub fn derive(&self, purpose: &str) -> KeyMaterial {
        let mut mac = hmac(self.bytes());
        mac.update(purpose.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        KeyMaterial(out)
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial(<redacted>)")
    }
}

fn hmac(key: &[u8; 32]) -> HmacSha256 {
    // HMAC accepts keys of any length: a 32-byte key never fails.
    match <HmacSha256 as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    }
}

/// Where encryption, blind-index and fingerprint keys come from (a KMS, an HSM, a secrets
/// file).
///
/// Key ids are stored next to every ciphertext, so a provider must keep answering
/// [`data_key`](KeyProvider::data_key) for retired ids until everything sealed under them has
/// been re-encrypted (the CRM's `rotate_keys`).
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// The id and key new ciphertexts of `tenant` are sealed with.
    ///
    /// # Errors
    /// [`Error::NotFound`] (kind `key`) when no key is available, or the provider's own error.
    fn active_data_key(&self, tenant: &TenantId) -> Result<(String, KeyMaterial)>;

    /// The data key `key_id` of `tenant`.
    ///
    /// # Errors
    /// [`Error::NotFound`] (kind `key`) when the id is unknown.
    fn data_key(&self, tenant: &TenantId, key_id: &str) -> Result<KeyMaterial>;

    /// The id and key new blind indexes of `tenant` are computed with.
    ///
    /// # Errors
    /// [`Error::NotFound`] (kind `key`) when no key is available.
    fn active_index_key(&self, tenant: &TenantId) -> Result<(String, KeyMaterial)>;

    /// Every blind-index key still in use for `tenant` (active first), for look-ups during a
    /// rotation.
    ///
    /// # Errors
    /// [`Error::NotFound`] (kind `key`) when no key is available.
    fn index_keys(&self, tenant: &TenantId) -> Result<Vec<(String, KeyMaterial)>>;

    /// The key of `tenant` that request fingerprints are keyed with (see
    /// [`Fingerprint::keyed`](crate::storage::Fingerprint::keyed)): by default derived from the
    /// active blind-index key. A fingerprint computed before a key rotation does not match one
    /// computed after it, so a retry that straddles a rotation is refused as a different
    /// request rather than replayed; rotate outside the window in which clients retry.
    ///
    /// # Errors
    /// As [`active_index_key`](KeyProvider::active_index_key).
    fn fingerprint_key(&self, tenant: &TenantId) -> Result<KeyMaterial> {
        Ok(self
            .active_index_key(tenant)?
            .1
            .derive("request-fingerprint"))
    }
}

#[derive(Default)]
struct Ring {
    /// (id, master secret), oldest first; the last one is active.
    versions: Vec<(String, KeyMaterial)>,
}

/// An in-process [`KeyProvider`]: versioned master secrets, tenant keys derived with
/// HMAC-SHA256(master, purpose ‖ 0 ‖ tenant id). Rotation adds a version; retiring removes one
/// (after everything sealed under it was re-encrypted). Cloning shares the ring.
#[derive(Clone)]
pub struct KeyRing {
    ring: Arc<RwLock<Ring>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

fn check_key_id(id: &str) -> Result<()> {
    if id.trim().is_empty() || id.contains(':') || id.len() > 32 {
        return Err(Error::validation(
            "key_id",
            "must be 1-32 characters without ':'",
        ));
    }
    Ok(())
}

impl KeyRing {
    /// A ring with one master secret, `id` (1–32 characters without ':'; an invalid id is
    /// refused by [`try_new`](KeyRing::try_new), and kept as given here for compatibility).
    pub fn new(id: impl Into<String>, master: [u8; 32]) -> KeyRing {
        KeyRing {
            ring: Arc::new(RwLock::new(Ring {
                versions: vec![(id.into(), KeyMaterial(master))],
            })),
        }
    }

    /// A ring with one master secret, `id`, checking the id.
    ///
    /// # Errors
    /// A validation error on `key_id` when it is blank, longer than 32 bytes or contains ':'.
    pub fn try_new(id: impl Into<String>, master: [u8; 32]) -> Result<KeyRing> {
        let id = id.into();
        check_key_id(&id)?;
        Ok(KeyRing::new(id, master))
    }

    /// A ring whose master secret is given as 64 hexadecimal digits (e.g. from an environment
    /// variable), under id `id`.
    ///
    /// # Errors
    /// A validation error on `master` (without echoing it) or on `key_id`.
    pub fn from_hex(id: impl Into<String>, master_hex: &str) -> Result<KeyRing> {
        let hex = master_hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::validation(
                "master",
                "must be 64 hexadecimal digits (32 bytes)",
            ));
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| Error::validation("master", "must be hexadecimal digits"))?;
        }
        KeyRing::try_new(id, bytes)
    }

    /// Add a new active master secret.
    ///
    /// # Errors
    /// A validation error on `key_id` when it is blank, contains ':', is longer than 32 bytes
    /// or is already used.
    pub fn rotate(&self, id: impl Into<String>, master: [u8; 32]) -> Result<()> {
        let id = id.into();
        check_key_id(&id)?;
        let mut ring = self.ring.write().unwrap_or_else(PoisonError::into_inner);
        if ring.versions.iter().any(|(k, _)| *k == id) {
            return Err(Error::validation(
                "key_id",
                format!("{id} is already in the ring"),
            ));
        }
        ring.versions.push((id, KeyMaterial(master)));
        Ok(())
    }

    /// Remove a retired (non-active) master secret.
    ///
    /// # Errors
    /// A validation error on `key_id` when it is the active key or unknown.
    pub fn retire(&self, id: &str) -> Result<()> {
        let mut ring = self.ring.write().unwrap_or_else(PoisonError::into_inner);
        let pos = ring
            .versions
            .iter()
            .position(|(k, _)| k == id)
            .ok_or_else(|| Error::validation("key_id", format!("{id} is not in the ring")))?;
        if pos + 1 == ring.versions.len() {
            return Err(Error::validation(
                "key_id",
                format!("{id} is the active key"),
            ));
        }
        ring.versions.remove(pos);
        Ok(())
    }

    /// The ids in the ring, oldest first.
    pub fn key_ids(&self) -> Vec<String> {
        let ring = self.ring.read().unwrap_or_else(PoisonError::into_inner);
        ring.versions.iter().map(|(k, _)| k.clone()).collect()
    }

    fn derive(master: &KeyMaterial, purpose: &str, tenant: &TenantId) -> KeyMaterial {
        let mut mac = hmac(master.bytes());
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(tenant.to_string().as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        KeyMaterial(out)
    }

    fn active(&self, purpose: &str, tenant: &TenantId) -> Result<(String, KeyMaterial)> {
        let ring = self.ring.read().unwrap_or_else(PoisonError::into_inner);
        let (id, master) = ring
            .versions
            .last()
            .ok_or_else(|| Error::not_found("key", "active (the key ring is empty)"))?;
        Ok((id.clone(), Self::derive(master, purpose, tenant)))
    }
}

impl KeyProvider for KeyRing {
    fn active_data_key(&self, tenant: &TenantId) -> Result<(String, KeyMaterial)> {
        self.active("data", tenant)
    }

    fn data_key(&self, tenant: &TenantId, key_id: &str) -> Result<KeyMaterial> {
        let ring = self.ring.read().unwrap_or_else(PoisonError::into_inner);
        let (_, master) = ring
            .versions
            .iter()
            .find(|(k, _)| k == key_id)
            .ok_or_else(|| Error::not_found("key", key_id))?;
        Ok(Self::derive(master, "data", tenant))
    }

    fn active_index_key(&self, tenant: &TenantId) -> Result<(String, KeyMaterial)> {
        self.active("blind-index", tenant)
    }

    fn index_keys(&self, tenant: &TenantId) -> Result<Vec<(String, KeyMaterial)>> {
        let ring = self.ring.read().unwrap_or_else(PoisonError::into_inner);
        Ok(ring
            .versions
            .iter()
            .rev()
            .map(|(id, m)| (id.clone(), Self::derive(m, "blind-index", tenant)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_and_retirement_keep_old_ciphertexts_openable_until_retired() {
        let ring = KeyRing::new("k1", [1; 32]);
        let t = TenantId::new();
        let k1 = ring.active_data_key(&t).unwrap_or_else(|e| panic!("{e}")).1;
        ring.rotate("k2", [2; 32]).unwrap_or_else(|e| panic!("{e}"));
        assert!(ring.rotate("k2", [3; 32]).is_err());
        assert!(ring.rotate("a:b", [3; 32]).is_err());
        assert_eq!(ring.data_key(&t, "k1").ok(), Some(k1));
        assert!(
            ring.retire("k2").is_err(),
            "the active key cannot be retired"
        );
        ring.retire("k1").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            ring.data_key(&t, "k1"),
            Err(Error::NotFound { .. })
        ));
        assert_eq!(ring.key_ids(), vec!["k2".to_string()]);
    }

    #[test]
    fn fingerprint_keys_are_per_tenant_and_unlike_the_index_key() {
        let ring = KeyRing::new("k1", [5; 32]);
        let (a, b) = (TenantId::new(), TenantId::new());
        let fa = ring.fingerprint_key(&a).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(
            fa,
            ring.fingerprint_key(&b).unwrap_or_else(|e| panic!("{e}"))
        );
        assert_ne!(
            fa,
            ring.active_index_key(&a)
                .unwrap_or_else(|e| panic!("{e}"))
                .1
        );
    }

    #[test]
    fn hex_masters_are_checked_without_echoing_them() {
        let hex = "ab".repeat(32);
        assert!(KeyRing::from_hex("k1", &hex).is_ok());
        let bad = "zz".repeat(32);
        let e = KeyRing::from_hex("k1", &bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("master") && !e.contains("zz"), "{e}");
        assert!(KeyRing::from_hex("k1", "abcd").is_err());
    }
}
