//! The secret that signs session tokens and keys the digests this crate stores instead of
//! personal data (client IPs for rate limits, submissions for idempotency fingerprints).

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A 32-byte HMAC-SHA256 key. Every process of a deployment must use the same key (tokens
/// issued by one are verified by another). `Debug` never shows it.
#[derive(Clone)]
pub struct SiteKey([u8; 32]);

impl fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SiteKey(..)")
    }
}

impl SiteKey {
    /// A key from 32 bytes (load them from your secret store).
    pub fn new(bytes: [u8; 32]) -> SiteKey {
        SiteKey(bytes)
    }

    fn mac(&self, domain: &str) -> HmacSha256 {
        #[allow(clippy::expect_used)]
        let mut m = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(domain.as_bytes());
        m.update(&[0]);
        m
    }

    /// HMAC-SHA256 of `data` in `domain` (domains keep uses apart).
    pub fn sign(&self, domain: &str, data: &[u8]) -> [u8; 32] {
        let mut m = self.mac(domain);
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// Whether `tag` is the HMAC of `data` in `domain` (constant-time).
    pub fn verify(&self, domain: &str, data: &[u8], tag: &[u8]) -> bool {
        let mut m = self.mac(domain);
        m.update(data);
        m.verify_slice(tag).is_ok()
    }

    /// A short keyed digest (hex, 32 characters) of `data` in `domain`: stable, not
    /// reversible without the key.
    pub fn digest(&self, domain: &str, data: &[u8]) -> String {
        hex::encode(&self.sign(domain, data)[..16])
    }
}
