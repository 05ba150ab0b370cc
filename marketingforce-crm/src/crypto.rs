//! Encryption at rest and blind indexes.
//!
//! - A [`KeyProvider`] hands out 256-bit keys by id, per tenant: the *active* data key (for new
//!   ciphertexts), any older data key (to open ciphertexts sealed before a rotation), and the
//!   blind-index keys. [`KeyRing`] is the in-process implementation: tenant keys are derived
//!   from versioned master secrets with HMAC-SHA256, so one rotation covers every tenant.
//! - [`PiiCipher`] seals personal data with AES-256-GCM. Each [`Sealed`] value carries the id
//!   of its key, a random 96-bit nonce, and is bound (as associated data) to the record it
//!   belongs to, so a ciphertext copied onto another lead does not open.
//! - [`BlindIndexer`] computes keyed HMAC-SHA256 blind indexes of normalised identity values
//!   (domain-separated by kind, truncated to 128 bits) so leads can be found and deduplicated by
//!   phone, email or WeCom id without storing the value.
//!
//! ```
//! use marketingforce_crm::crypto::{BlindIndexer, BlindKind, KeyRing, PiiCipher};
//! use marketingforce_core::tenant::TenantId;
//! use std::sync::Arc;
//!
//! let ring = Arc::new(KeyRing::new("k1", [7u8; 32]));
//! let tenant = TenantId::new();
//! let cipher = PiiCipher::new(ring.clone());
//! let sealed = cipher.seal(&tenant, b"lead_1", "13812345678".as_bytes()).unwrap();
//! assert_eq!(sealed.key_id, "k1");
//! assert_eq!(cipher.open(&tenant, b"lead_1", &sealed).unwrap(), b"13812345678");
//! assert!(cipher.open(&tenant, b"lead_2", &sealed).is_err()); // bound to its record
//!
//! // Rotate: new data is sealed with k2, old ciphertexts still open until re-encrypted.
//! ring.rotate("k2", [9u8; 32]).unwrap();
//! assert_eq!(cipher.open(&tenant, b"lead_1", &sealed).unwrap(), b"13812345678");
//! assert_eq!(cipher.seal(&tenant, b"lead_1", b"x").unwrap().key_id, "k2");
//!
//! let bidx = BlindIndexer::new(ring).unwrap_or_else(|e| panic!("{e}"));
//! let a = bidx.compute(&tenant, BlindKind::Mobile, "13812345678").unwrap();
//! assert_eq!(a, bidx.compute(&tenant, BlindKind::Mobile, "13812345678").unwrap());
//! assert_ne!(a, bidx.compute(&tenant, BlindKind::Email, "13812345678").unwrap());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{CrmError, Result};

type HmacSha256 = Hmac<Sha256>;

pub use marketingforce_core::keys::{KeyMaterial, KeyProvider, KeyRing};

/// A sealed (encrypted and authenticated) value: key id, nonce and ciphertext, hex-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Id of the data key it was sealed with.
    pub key_id: String,
    /// The 96-bit nonce, hex.
    pub nonce: String,
    /// Ciphertext with the 128-bit GCM tag, hex.
    pub ciphertext: String,
}

/// AES-256-GCM sealing of personal data under a [`KeyProvider`]'s keys.
#[derive(Debug, Clone)]
pub struct PiiCipher {
    keys: Arc<dyn KeyProvider>,
}

fn crypto_err(what: &str, reason: impl fmt::Display) -> CrmError {
    CrmError::Crypto {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

impl PiiCipher {
    /// A cipher over `keys`.
    pub fn new(keys: Arc<dyn KeyProvider>) -> PiiCipher {
        PiiCipher { keys }
    }

    /// The key provider.
    pub fn keys(&self) -> &Arc<dyn KeyProvider> {
        &self.keys
    }

    /// Seal `plaintext` with the tenant's active key, bound to `aad` (the record's key).
    ///
    /// # Errors
    /// [`CrmError::Crypto`] when no key or no randomness is available.
    pub fn seal(&self, tenant: &TenantId, aad: &[u8], plaintext: &[u8]) -> Result<Sealed> {
        // A sealer of one value: a fresh random nonce under the active key.
        self.sealer(tenant)?.seal(aad, plaintext)
    }

    /// A sealer for many values of one tenant (a commit's vaults): the active key is fetched
    /// and its cipher prepared once, and nonces come from one random 96-bit start counted up
    /// (unique per key like independent random nonces, without a system call per value).
    /// Take a new one per batch: it keeps the key that was active when it was made.
    ///
    /// # Errors
    /// [`CrmError::Crypto`] when no key or no randomness is available.
    pub fn sealer(&self, tenant: &TenantId) -> Result<Sealer> {
        let (key_id, key) = self.keys.active_data_key(tenant)?;
        let cipher = Aes256Gcm::new_from_slice(key.bytes()).map_err(|e| crypto_err("seal", e))?;
        let start = aes_gcm::aead::Nonce::<Aes256Gcm>::try_generate()
            .map_err(|e| crypto_err("nonce", e))?;
        let mut b = [0u8; 16];
        b[4..].copy_from_slice(start.as_slice());
        Ok(Sealer {
            key_id,
            cipher,
            next: u128::from_be_bytes(b),
        })
    }

    /// Open a sealed value bound to `aad`.
    ///
    /// # Errors
    /// [`CrmError::Crypto`] on an unknown key, malformed fields, or a failed authentication
    /// (tampering, wrong record).
    pub fn open(&self, tenant: &TenantId, aad: &[u8], sealed: &Sealed) -> Result<Vec<u8>> {
        let key = self.keys.data_key(tenant, &sealed.key_id)?;
        let cipher = Aes256Gcm::new_from_slice(key.bytes()).map_err(|e| crypto_err("open", e))?;
        let nonce_bytes = from_hex(&sealed.nonce).map_err(|e| crypto_err("nonce", e))?;
        let nonce = Nonce::try_from(nonce_bytes.as_slice())
            .map_err(|_| crypto_err("nonce", "not 96 bits"))?;
        let ct = from_hex(&sealed.ciphertext).map_err(|e| crypto_err("ciphertext", e))?;
        cipher
            .decrypt(&nonce, Payload { msg: &ct, aad })
            .map_err(|_| crypto_err("open", "authentication failed"))
    }
}

/// Seals many values of one tenant under the key active when it was made (see
/// [`PiiCipher::sealer`]).
pub struct Sealer {
    key_id: String,
    cipher: Aes256Gcm,
    /// The next nonce, in the low 96 bits.
    next: u128,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// The id of the key it seals with.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seal `plaintext` bound to `aad` (the record's key), as [`PiiCipher::seal`] does.
    ///
    /// # Errors
    /// [`CrmError::Crypto`] when encryption fails.
    pub fn seal(&mut self, aad: &[u8], plaintext: &[u8]) -> Result<Sealed> {
        let bytes = self.next.to_be_bytes();
        self.next = (self.next + 1) & ((1u128 << 96) - 1);
        let nonce = Nonce::try_from(&bytes[4..]).map_err(|_| crypto_err("nonce", "not 96 bits"))?;
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|e| crypto_err("seal", e))?;
        Ok(Sealed {
            key_id: self.key_id.clone(),
            nonce: lower_hex(&bytes[4..]),
            ciphertext: lower_hex(&ciphertext),
        })
    }
}

/// `bytes` in lower-case hex, as `hex::encode` writes it (a table look-up per byte: sealing
/// encodes every vault's ciphertext, and the iterator behind `hex::encode` pushes one `char`
/// at a time through a generic collect).
fn lower_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_lower_hex(&mut out, bytes);
    out
}

fn push_lower_hex(out: &mut String, bytes: &[u8]) {
    /// The two digits of every byte.
    const PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut pairs = [[0u8; 2]; 256];
        let mut b = 0;
        while b < 256 {
            pairs[b] = [DIGITS[b >> 4], DIGITS[b & 0x0f]];
            b += 1;
        }
        pairs
    };
    // The digits of 64 bytes at a time are written into a stack buffer and appended as one
    // `&str`: pushing a `char` at a time checks its width and the capacity per digit.
    let mut buf = [[0u8; 2]; 64];
    for chunk in bytes.chunks(64) {
        for (pair, b) in buf.iter_mut().zip(chunk) {
            *pair = PAIRS[usize::from(*b)];
        }
        let digits = buf
            .as_flattened()
            .get(..2 * chunk.len())
            .unwrap_or_default();
        match std::str::from_utf8(digits) {
            Ok(text) => out.push_str(text),
            // Unreachable (the digits are ASCII), but never a panic nor a lost digit.
            Err(_) => digits.iter().for_each(|&d| out.push(char::from(d))),
        }
    }
}

/// The bytes of a hex string (either case), as `hex::decode` reads it (a table look-up per
/// digit and one test for the whole text: opening a vault decodes its whole ciphertext). The
/// error names the position of the first bad digit, never the digit.
fn from_hex(text: &str) -> std::result::Result<Vec<u8>, String> {
    /// The value of every hex digit; `BAD` for every other byte.
    const BAD: u8 = 0xff;
    const VALUES: [u8; 256] = {
        let mut values = [BAD; 256];
        let mut i = 0;
        while i < 10 {
            values[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            values[b'a' as usize + i] = 10 + i as u8;
            values[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        values
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_string());
    }
    // Digits are below 16, so a bad one leaves its high bits in `seen`.
    let mut seen = 0u8;
    let out: Vec<u8> = bytes
        .chunks_exact(2)
        .map(|pair| {
            let (hi, lo) = match pair {
                [hi, lo] => (VALUES[usize::from(*hi)], VALUES[usize::from(*lo)]),
                _ => (BAD, BAD),
            };
            seen |= hi | lo;
            (hi << 4) | (lo & 0x0f)
        })
        .collect();
    if seen & 0xf0 != 0 {
        let at = bytes
            .iter()
            .position(|&c| VALUES[usize::from(c)] == BAD)
            .unwrap_or_default();
        return Err(format!("not a hex digit at position {at}"));
    }
    Ok(out)
}

/// What a blind index is of: values of different kinds never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlindKind {
    /// A mainland mobile (11 digits).
    Mobile,
    /// Another phone (E.164).
    Phone,
    /// An email.
    Email,
    /// A WeCom external user id.
    WeCom,
    /// An ID document number.
    IdDocument,
    /// A WeChat unionid.
    WeChatUnion,
    /// A WeChat openid.
    WeChatOpen,
    /// A whole-request digest (idempotency fingerprints, contribution identity).
    Digest,
}

impl BlindKind {
    fn tag(self) -> &'static [u8] {
        match self {
            BlindKind::Mobile => b"mobile",
            BlindKind::Phone => b"phone",
            BlindKind::Email => b"email",
            BlindKind::WeCom => b"wecom",
            BlindKind::IdDocument => b"id_document",
            BlindKind::WeChatUnion => b"wechat_unionid",
            BlindKind::WeChatOpen => b"wechat_openid",
            BlindKind::Digest => b"digest",
        }
    }

    /// The one-letter prefix of the stored index value.
    pub fn letter(self) -> char {
        match self {
            BlindKind::Mobile => 'm',
            BlindKind::Phone => 'p',
            BlindKind::Email => 'e',
            BlindKind::WeCom => 'w',
            BlindKind::IdDocument => 'i',
            BlindKind::WeChatUnion => 'u',
            BlindKind::WeChatOpen => 'o',
            BlindKind::Digest => 'd',
        }
    }
}

/// A blind index: HMAC-SHA256 truncated to 128 bits, with the kind it was computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlindIndex {
    /// The kind of value.
    pub kind: BlindKind,
    /// The truncated MAC.
    pub mac: u128,
}

impl BlindIndex {
    /// The value stored in a secondary index: `<key id>:<letter><32 hex>`.
    pub fn index_value(&self, key_id: &str) -> String {
        let mut out = String::with_capacity(key_id.len() + 34);
        out.push_str(key_id);
        out.push(':');
        out.push(self.kind.letter());
        push_lower_hex(&mut out, &self.mac.to_be_bytes());
        out
    }
}

#[derive(Debug)]
struct PreparedKey {
    id: String,
    mac: HmacSha256,
}

/// Computes [`BlindIndex`]es with the tenant's blind-index keys. Keyed MAC states are prepared
/// once per tenant and key, so each index costs two SHA-256 compressions.
#[derive(Debug, Clone)]
pub struct BlindIndexer {
    keys: Arc<dyn KeyProvider>,
    prepared: Arc<RwLock<HashMap<TenantId, Arc<Vec<PreparedKey>>>>>,
}

impl BlindIndexer {
    /// An indexer over `keys`.
    ///
    /// # Errors
    /// Never today; reserved for providers that must be reachable at start-up.
    pub fn new(keys: Arc<dyn KeyProvider>) -> Result<BlindIndexer> {
        Ok(BlindIndexer {
            keys,
            prepared: Arc::default(),
        })
    }

    fn prepared(&self, tenant: &TenantId) -> Result<Arc<Vec<PreparedKey>>> {
        let active = self.keys.active_index_key(tenant)?.0;
        if let Some(p) = self
            .prepared
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
        {
            if p.first().is_some_and(|k| k.id == active) {
                return Ok(p.clone());
            }
        }
        let keys = self
            .keys
            .index_keys(tenant)?
            .into_iter()
            .map(|(id, key)| {
                let mac = <HmacSha256 as KeyInit>::new_from_slice(key.bytes())
                    .map_err(|e| crypto_err("blind index key", e))?;
                Ok(PreparedKey { id, mac })
            })
            .collect::<Result<Vec<_>>>()?;
        let keys = Arc::new(keys);
        self.prepared
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(*tenant, keys.clone());
        Ok(keys)
    }

    fn mac(key: &PreparedKey, kind: BlindKind, value: &[u8]) -> BlindIndex {
        let mut mac = key.mac.clone();
        mac.update(kind.tag());
        mac.update(&[0]);
        mac.update(value);
        let out = mac.finalize().into_bytes();
        let mut b = [0u8; 16];
        b.copy_from_slice(&out[..16]);
        BlindIndex {
            kind,
            mac: u128::from_be_bytes(b),
        }
    }

    /// The blind index of a normalised `value` under the tenant's active key.
    ///
    /// # Errors
    /// [`CrmError::Crypto`] when no key is available.
    pub fn compute(&self, tenant: &TenantId, kind: BlindKind, value: &str) -> Result<BlindIndex> {
        let keys = self.prepared(tenant)?;
        let key = keys
            .first()
            .ok_or_else(|| crypto_err("blind index", "no key"))?;
        Ok(Self::mac(key, kind, value.as_bytes()))
    }

    /// The active key id and a closure-free batch computation: `(key_id, indexes)` for many
    /// values of one tenant, preparing the key once.
    ///
    /// # Errors
    /// [`CrmError::Crypto`] when no key is available.
    pub fn compute_many<'a>(
        &self,
        tenant: &TenantId,
        values: impl IntoIterator<Item = (BlindKind, &'a str)>,
    ) -> Result<(String, Vec<BlindIndex>)> {
        let keys = self.prepared(tenant)?;
        let key = keys
            .first()
            .ok_or_else(|| crypto_err("blind index", "no key"))?;
        let out = values
            .into_iter()
            .map(|(kind, v)| Self::mac(key, kind, v.as_bytes()))
            .collect();
        Ok((key.id.clone(), out))
    }

    /// The stored index values of `value` under every key in use (active first), for look-ups
    /// that must also find records indexed before a rotation.
    ///
    /// # Errors
    /// [`CrmError::Crypto`] when no key is available.
    pub fn lookup_values(
        &self,
        tenant: &TenantId,
        kind: BlindKind,
        value: &str,
    ) -> Result<Vec<String>> {
        let keys = self.prepared(tenant)?;
        Ok(keys
            .iter()
            .map(|k| Self::mac(k, kind, value.as_bytes()).index_value(&k.id))
            .collect())
    }

    /// A handle computing blind indexes for one tenant with its active key, for hot loops.
    ///
    /// # Errors
    /// [`CrmError::Crypto`] when no key is available.
    pub fn tenant(&self, tenant: &TenantId) -> Result<TenantIndexer> {
        let keys = self.prepared(tenant)?;
        if keys.is_empty() {
            return Err(crypto_err("blind index", "no key"));
        }
        let seed = keys.first().map_or(0, |k| {
            Self::mac(k, BlindKind::Digest, b"in-memory digest seed").mac
        });
        Ok(TenantIndexer { keys, seed })
    }

    /// The active blind-index key id.
    ///
    /// # Errors
    /// [`CrmError::Crypto`] when no key is available.
    pub fn active_key_id(&self, tenant: &TenantId) -> Result<String> {
        Ok(self.keys.active_index_key(tenant)?.0)
    }
}

/// Feeds what is written to a MAC.
struct MacWriter<'a>(&'a mut HmacSha256);

impl std::io::Write for MacWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Blind indexes of one tenant under its active key (see [`BlindIndexer::tenant`]).
#[derive(Debug, Clone)]
pub struct TenantIndexer {
    keys: Arc<Vec<PreparedKey>>,
    seed: u128,
}

impl TenantIndexer {
    fn active(&self) -> Option<&PreparedKey> {
        self.keys.first()
    }

    /// The active key id.
    pub fn key_id(&self) -> &str {
        self.active().map_or("", |k| k.id.as_str())
    }

    /// The blind index of a normalised `value`.
    pub fn compute(&self, kind: BlindKind, value: &str) -> BlindIndex {
        match self.active() {
            Some(k) => BlindIndexer::mac(k, kind, value.as_bytes()),
            None => BlindIndex { kind, mac: 0 },
        }
    }

    /// The [`BlindKind::Digest`] index of `value`'s JSON, as
    /// `compute(BlindKind::Digest, &serde_json::to_string(value)?)` gives it, with the JSON fed
    /// to the MAC as it is written instead of built as one string first (an idempotency
    /// fingerprint digests a whole batch's requests).
    ///
    /// # Errors
    /// A serialization error.
    pub fn digest_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<BlindIndex> {
        self.digest_written(|mac| Ok(serde_json::to_writer(MacWriter(mac), value)?))
    }

    /// [`digest_json`](Self::digest_json) of the JSON array `[label, [row, …]]` — the same
    /// digest, bytes for bytes — with the rows serialized over the cores first: a batch's
    /// idempotency fingerprint covers thousands of requests.
    pub(crate) fn digest_json_rows<R: Serialize + Sync>(
        &self,
        label: &str,
        rows: &[R],
    ) -> Result<BlindIndex> {
        if self.active().is_none() {
            return self.digest_written(|_| Ok(()));
        }
        let rows = crate::par::map(rows, serde_json::to_vec);
        self.digest_written(|mac| {
            mac.update(b"[");
            serde_json::to_writer(MacWriter(&mut *mac), label)?;
            mac.update(b",[");
            for (i, row) in rows.into_iter().enumerate() {
                if i > 0 {
                    mac.update(b",");
                }
                mac.update(&row?);
            }
            mac.update(b"]]");
            Ok(())
        })
    }

    /// The [`BlindKind::Digest`] index of what `write` feeds the MAC (0 without an active key).
    fn digest_written(
        &self,
        write: impl FnOnce(&mut HmacSha256) -> Result<()>,
    ) -> Result<BlindIndex> {
        let kind = BlindKind::Digest;
        let Some(key) = self.active() else {
            return Ok(BlindIndex { kind, mac: 0 });
        };
        let mut mac = key.mac.clone();
        mac.update(kind.tag());
        mac.update(&[0]);
        write(&mut mac)?;
        let out = mac.finalize().into_bytes();
        let mut b = [0u8; 16];
        b.copy_from_slice(&out[..16]);
        Ok(BlindIndex {
            kind,
            mac: u128::from_be_bytes(b),
        })
    }

    /// A per-tenant secret seed for in-memory digests (derived once from the active key).
    pub fn compute_digest_seed(&self) -> u128 {
        self.seed
    }

    /// The blind index of `value` under the active key and every retired one still in use.
    pub fn compute_all(&self, kind: BlindKind, value: &str) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| BlindIndexer::mac(k, kind, value.as_bytes()).index_value(&k.id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_digested_over_the_cores_give_the_whole_value_s_digest() {
        let ring = Arc::new(KeyRing::new("k1", [7; 32]));
        let ix = BlindIndexer::new(ring)
            .unwrap()
            .tenant(&TenantId::new())
            .unwrap();
        // Enough rows for several threads; text that JSON escapes; absent rows.
        for n in [0, 1, 2, 700, 2_100] {
            let rows: Vec<Option<(String, u32)>> = (0..n)
                .map(|i| (i % 7 != 3).then(|| (format!("row \"{i}\"\n\u{1f600}"), i)))
                .collect();
            assert_eq!(
                ix.digest_json_rows("batch", &rows).unwrap(),
                ix.digest_json(&("batch", &rows)).unwrap(),
                "{n} rows"
            );
        }
        assert_ne!(
            ix.digest_json_rows("batch", &[1]).unwrap(),
            ix.digest_json_rows("other", &[1]).unwrap()
        );
    }

    #[test]
    fn tampering_and_unknown_keys_fail() {
        let ring = Arc::new(KeyRing::new("k1", [1; 32]));
        let c = PiiCipher::new(ring.clone());
        let t = TenantId::new();
        let mut s = c.seal(&t, b"a", b"secret").unwrap();
        assert!(!s.ciphertext.contains(&hex::encode(b"secret")));
        // Another tenant's key does not open it.
        assert!(c.open(&TenantId::new(), b"a", &s).is_err());
        // Flip the first byte (replacing it with a fixed value would leave it unchanged one
        // time in 256).
        let first = u8::from_str_radix(&s.ciphertext[0..2], 16).unwrap();
        s.ciphertext.replace_range(0..2, &lower_hex(&[!first]));
        assert!(c.open(&t, b"a", &s).is_err());
        assert!(matches!(c.open(&t, b"a", &s), Err(CrmError::Crypto { .. })));
        s.key_id = "nope".into();
        assert!(matches!(
            c.open(&t, b"a", &s),
            Err(CrmError::Core(marketingforce_core::Error::NotFound { .. }))
        ));
        assert!(ring.retire("k1").is_err());
        ring.rotate("k2", [2; 32]).unwrap();
        assert!(ring.rotate("k2", [3; 32]).is_err());
        ring.retire("k1").unwrap();
        assert_eq!(ring.key_ids(), vec!["k2".to_string()]);
    }

    #[test]
    fn a_sealer_opens_like_seal_with_distinct_nonces_and_keeps_its_key() {
        let ring = Arc::new(KeyRing::new("k1", [1; 32]));
        let c = PiiCipher::new(ring.clone());
        let t = TenantId::new();
        let mut s = c.sealer(&t).unwrap();
        let a = s.seal(b"lead_a", b"one").unwrap();
        let b = s.seal(b"lead_b", b"one").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(c.open(&t, b"lead_a", &a).unwrap(), b"one");
        assert_eq!(c.open(&t, b"lead_b", &b).unwrap(), b"one");
        assert!(c.open(&t, b"lead_b", &a).is_err(), "bound to its record");
        assert!(c.open(&TenantId::new(), b"lead_a", &a).is_err());
        // Two sealers start at unrelated nonces.
        let other = c.sealer(&t).unwrap().seal(b"lead_a", b"one").unwrap();
        assert_ne!(other.nonce, a.nonce);
        // A rotation applies to sealers made after it.
        ring.rotate("k2", [2; 32]).unwrap();
        assert_eq!(s.key_id(), "k1");
        let mut s2 = c.sealer(&t).unwrap();
        assert_eq!(s2.key_id(), "k2");
        let x = s2.seal(b"lead_a", b"two").unwrap();
        assert_eq!(x.key_id, "k2");
        assert_eq!(c.open(&t, b"lead_a", &x).unwrap(), b"two");
    }

    #[test]
    fn hex_is_read_as_the_hex_crate_reads_it() {
        use proptest::prelude::*;
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&"[0-9a-fA-F]{0,40}[g-zG-Z .é]?[0-9a-fA-F]{0,40}", |text| {
                match (from_hex(&text), hex::decode(&text)) {
                    (Ok(ours), Ok(theirs)) => prop_assert_eq!(ours, theirs),
                    (Err(ours), Err(hex::FromHexError::InvalidHexCharacter { index, .. })) => {
                        prop_assert_eq!(ours, format!("not a hex digit at position {index}"))
                    }
                    (Err(ours), Err(hex::FromHexError::OddLength)) => {
                        prop_assert!(ours.contains("odd"))
                    }
                    (ours, theirs) => prop_assert!(false, "{:?} against {:?}", ours, theirs),
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn hex_and_index_values_are_written_as_before() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(lower_hex(&bytes), hex::encode(&bytes));
        // Lengths around the 64-byte chunks, starting at different bytes.
        for len in [0, 1, 63, 64, 65, 127, 128, 129, 200] {
            let part: Vec<u8> = bytes.iter().cycle().skip(len).take(len).copied().collect();
            assert_eq!(lower_hex(&part), hex::encode(&part), "{len} bytes");
        }
        assert_eq!(from_hex(&lower_hex(&bytes)).unwrap(), bytes);
        assert_eq!(
            from_hex(&hex::encode_upper(&bytes)).unwrap(),
            bytes,
            "either case"
        );
        assert_eq!(from_hex("").unwrap(), Vec::<u8>::new());
        assert!(from_hex("abc").unwrap_err().contains("odd"));
        assert_eq!(from_hex("0g").unwrap_err(), "not a hex digit at position 1");
        assert_eq!(
            from_hex("00x0").unwrap_err(),
            "not a hex digit at position 2"
        );
        let ix = BlindIndex {
            kind: BlindKind::Email,
            mac: 0x0123_4567_89ab_cdef_0000_0000_0000_00f0,
        };
        assert_eq!(
            ix.index_value("k1"),
            format!(
                "k1:e{:032x}",
                0x0123_4567_89ab_cdef_0000_0000_0000_00f0_u128
            )
        );
        assert_eq!(
            BlindIndex {
                kind: BlindKind::Mobile,
                mac: 7
            }
            .index_value("k2"),
            "k2:m00000000000000000000000000000007"
        );
    }

    #[test]
    fn a_streamed_json_digest_is_the_digest_of_the_json_string() {
        let ring = Arc::new(KeyRing::new("k1", [1; 32]));
        let t = TenantId::new();
        let ix = BlindIndexer::new(ring).unwrap().tenant(&t).unwrap();
        let value = ("batch", vec![Some("王芳 \"x\""), None], 12.5);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(
            ix.digest_json(&value).unwrap(),
            ix.compute(BlindKind::Digest, &json)
        );
        assert_ne!(
            ix.digest_json(&("batch", 1)).unwrap(),
            ix.digest_json(&("batch", 2)).unwrap()
        );
    }

    #[test]
    fn blind_indexes_follow_rotation() {
        let ring = Arc::new(KeyRing::new("k1", [1; 32]));
        let b = BlindIndexer::new(ring.clone()).unwrap();
        let t = TenantId::new();
        let before = b.compute(&t, BlindKind::Mobile, "13812345678").unwrap();
        assert_ne!(
            before,
            b.compute(&TenantId::new(), BlindKind::Mobile, "13812345678")
                .unwrap()
        );
        ring.rotate("k2", [2; 32]).unwrap();
        let after = b.compute(&t, BlindKind::Mobile, "13812345678").unwrap();
        assert_ne!(before, after);
        let values = b
            .lookup_values(&t, BlindKind::Mobile, "13812345678")
            .unwrap();
        assert_eq!(
            values,
            vec![after.index_value("k2"), before.index_value("k1")]
        );
    }
}
