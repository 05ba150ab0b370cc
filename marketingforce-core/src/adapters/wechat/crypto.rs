//! The WXBizMsgCrypt callback scheme, as WeChat Official Accounts (safe mode) and WeCom use it.
//!
//! When a platform calls the tenant's callback URL it adds `msg_signature`, `timestamp` and
//! `nonce` to the query, and sends an XML envelope whose `<Encrypt>` element holds the message:
//!
//! - **signature**: `msg_signature` = hex(SHA-1(the four strings *token*, *timestamp*,
//!   *nonce*, *encrypt* sorted byte-wise and concatenated)); it is checked (in constant time)
//!   before anything is decrypted, so a forged request learns nothing;
//! - **key**: the 43-character *EncodingAESKey* plus `=` is the base64 of the 32-byte AES key;
//!   the IV is the key's first 16 bytes;
//! - **message**: AES-256-CBC over `random(16) ‖ length(4, big-endian) ‖ message ‖ receive id`,
//!   padded PKCS#7-style to a multiple of **32** bytes (the scheme's block, not AES's 16), then
//!   base64;
//! - **receive id**: the WeCom corp id (`ww…`) or the Official Account's app id (`wx…`); a
//!   message for another receiver is refused.
//!
//! URL verification (when the callback URL is saved in the admin console) sends `echostr`:
//! WeCom encrypts it like a message ([`CallbackCrypto::verify_url`] answers its plaintext);
//! Official Accounts send it in clear with a plain `signature` over token, timestamp and nonce
//! ([`plain_signature`]).
//!
//! ```
//! use marketingforce_core::adapters::secret::Secret;
//! use marketingforce_core::adapters::wechat::{CallbackCrypto, CallbackQuery};
//!
//! let crypto = CallbackCrypto::new(
//!     &Secret::new("QDG6eK"),
//!     &Secret::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
//!     "wx5823bf96d3bd56c7",
//! ).unwrap();
//! // What the platform would send:
//! let encrypted = crypto.encrypt("<xml><Event>subscribe</Event></xml>", [7; 16]);
//! let query = CallbackQuery {
//!     msg_signature: crypto.sign("1409659813", "1372623149", &encrypted),
//!     timestamp: "1409659813".into(),
//!     nonce: "1372623149".into(),
//! };
//! assert_eq!(crypto.open(&query, &encrypted).unwrap(), "<xml><Event>subscribe</Event></xml>");
//! // A tampered signature is refused before decryption.
//! let forged = CallbackQuery { msg_signature: "0".repeat(40), ..query };
//! assert!(crypto.open(&forged, &encrypted).is_err());
//! ```

use std::collections::BTreeMap;
use std::fmt;

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::xml::{self, XmlElement, XmlWriter};
use crate::adapters::secret::{constant_time_eq, Secret};
use crate::error::{Error, Result};

/// The scheme's padding block, in bytes.
pub const PAD_BLOCK: usize = 32;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// EncodingAESKeys are 43 arbitrary base64 characters, so the last one may carry non-zero
/// trailing bits: decode leniently (padding optional, trailing bits allowed).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The signature query parameters of a callback.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallbackQuery {
    /// `msg_signature`.
    pub msg_signature: String,
    /// `timestamp`.
    pub timestamp: String,
    /// `nonce`.
    pub nonce: String,
}

impl CallbackQuery {
    /// Take the parameters from a parsed query string.
    ///
    /// # Errors
    /// A validation error naming the missing parameter.
    pub fn from_query(query: &BTreeMap<String, String>) -> Result<CallbackQuery> {
        let get = |k: &str| {
            query
                .get(k)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| Error::validation(k, "missing from the callback query"))
        };
        Ok(CallbackQuery {
            msg_signature: get("msg_signature")?,
            timestamp: get("timestamp")?,
            nonce: get("nonce")?,
        })
    }
}

/// Signs, verifies, encrypts and decrypts callback messages for one receiver.
#[derive(Clone)]
pub struct CallbackCrypto {
    token: Secret,
    key: [u8; 32],
    receive_id: String,
}

impl fmt::Debug for CallbackCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackCrypto")
            .field("token", &self.token)
            .field("key", &"***")
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

/// hex(SHA-1(sorted parts concatenated)).
fn sha1_sorted(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    let mut h = Sha1::new();
    for p in parts.iter() {
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The plain signature of an Official Account callback in clear mode (and of its URL
/// verification): hex(SHA-1(sorted token, timestamp, nonce)).
pub fn plain_signature(token: &Secret, timestamp: &str, nonce: &str) -> String {
    sha1_sorted(&mut [token.expose(), timestamp, nonce])
}

impl CallbackCrypto {
    /// A receiver with the callback `token` and `encoding_aes_key` set in the admin console,
    /// and its `receive_id` (corp id or app id).
    ///
    /// # Errors
    /// Validation errors on `token`, `encoding_aes_key` (43 base64 characters decoding to 32
    /// bytes) or `receive_id`. The messages never contain the values.
    pub fn new(
        token: &Secret,
        encoding_aes_key: &Secret,
        receive_id: impl Into<String>,
    ) -> Result<CallbackCrypto> {
        if token.is_blank() {
            return Err(Error::validation("token", "must not be blank"));
        }
        let raw = encoding_aes_key.expose().trim();
        if raw.len() != 43 {
            return Err(Error::validation(
                "encoding_aes_key",
                format!("must be 43 characters, got {}", raw.len()),
            ));
        }
        let bytes = LENIENT.decode(raw).map_err(|_| {
            Error::validation("encoding_aes_key", "is not base64 (A-Z, a-z, 0-9, +, /)")
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::validation("encoding_aes_key", "does not decode to a 32-byte key")
        })?;
        let receive_id = receive_id.into();
        if receive_id.trim().is_empty() {
            return Err(Error::validation("receive_id", "must not be blank"));
        }
        Ok(CallbackCrypto {
            token: token.clone(),
            key,
            receive_id,
        })
    }

    /// The receiver this instance accepts messages for.
    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// The `msg_signature` of `encrypted` at `timestamp` and `nonce`.
    pub fn sign(&self, timestamp: &str, nonce: &str, encrypted: &str) -> String {
        sha1_sorted(&mut [self.token.expose(), timestamp, nonce, encrypted])
    }

    /// Check a signature in constant time.
    ///
    /// # Errors
    /// A validation error on `msg_signature`.
    pub fn verify(&self, query: &CallbackQuery, encrypted: &str) -> Result<()> {
        let expected = self.sign(&query.timestamp, &query.nonce, encrypted);
        if constant_time_eq(
            expected.as_bytes(),
            query.msg_signature.trim().to_ascii_lowercase().as_bytes(),
        ) {
            Ok(())
        } else {
            Err(Error::validation(
                "msg_signature",
                "does not match the message (wrong token, or a forged or altered request)",
            ))
        }
    }

    /// Encrypt `plaintext` for this receiver with the given 16 random bytes (use fresh random
    /// bytes for every message; they are a parameter so tests are deterministic).
    pub fn encrypt(&self, plaintext: &str, random: [u8; 16]) -> String {
        let msg = plaintext.as_bytes();
        let mut buf = Vec::with_capacity(20 + msg.len() + self.receive_id.len() + PAD_BLOCK);
        buf.extend_from_slice(&random);
        buf.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(self.receive_id.as_bytes());
        let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
        // `pad` is 1..=32, so it fits a byte.
        buf.resize(buf.len() + pad, pad as u8);
        let mut enc = Aes256CbcEnc::new(&self.key.into(), &self.iv().into());
        for chunk in buf.chunks_exact_mut(16) {
            if let Ok(block) = <&mut aes::Block>::try_from(chunk) {
                enc.encrypt_block(block);
            }
        }
        STANDARD.encode(&buf)
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// Decrypt a message (without checking its signature: use [`open`](Self::open) on
    /// anything that came over the network).
    ///
    /// # Errors
    /// Validation errors on `encrypt` (not base64, not whole blocks, bad padding or length)
    /// or `receive_id` (addressed to another receiver).
    pub fn decrypt(&self, encrypted: &str) -> Result<String> {
        let field = "encrypt";
        let mut buf = STANDARD
            .decode(encrypted.trim())
            .map_err(|_| Error::validation(field, "is not base64"))?;
        if buf.is_empty() || buf.len() % PAD_BLOCK != 0 {
            return Err(Error::validation(
                field,
                format!(
                    "{} bytes is not a whole number of {PAD_BLOCK}-byte blocks",
                    buf.len()
                ),
            ));
        }
        let mut dec = Aes256CbcDec::new(&self.key.into(), &self.iv().into());
        for chunk in buf.chunks_exact_mut(16) {
            if let Ok(block) = <&mut aes::Block>::try_from(chunk) {
                dec.decrypt_block(block);
            }
        }
        let pad = usize::from(buf[buf.len() - 1]);
        if pad == 0 || pad > PAD_BLOCK || buf[buf.len() - pad..].iter().any(|&b| b != pad as u8) {
            return Err(Error::validation(field, "has invalid padding"));
        }
        buf.truncate(buf.len() - pad);
        if buf.len() < 20 {
            return Err(Error::validation(field, "is too short for the scheme"));
        }
        let len = u32::from_be_bytes([buf[16], buf[17], buf[18], buf[19]]) as usize;
        let body = &buf[20..];
        if len > body.len() {
            return Err(Error::validation(
                field,
                format!("states a message of {len} bytes but holds {}", body.len()),
            ));
        }
        let (msg, receiver) = body.split_at(len);
        if receiver != self.receive_id.as_bytes() {
            return Err(Error::validation(
                "receive_id",
                format!(
                    "the message is addressed to another receiver, not {}",
                    self.receive_id
                ),
            ));
        }
        String::from_utf8(msg.to_vec()).map_err(|_| Error::validation(field, "is not UTF-8"))
    }

    /// Verify the signature, then decrypt.
    ///
    /// # Errors
    /// As [`verify`](Self::verify) and [`decrypt`](Self::decrypt).
    pub fn open(&self, query: &CallbackQuery, encrypted: &str) -> Result<String> {
        self.verify(query, encrypted)?;
        self.decrypt(encrypted)
    }

    /// Answer a WeCom URL verification: check the signature over `echostr` and return its
    /// plaintext (what the endpoint must respond with).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn verify_url(&self, query: &CallbackQuery, echostr: &str) -> Result<String> {
        self.open(query, echostr)
    }

    /// Open a callback body: parse the XML envelope, verify and decrypt its `<Encrypt>`, and
    /// parse the message inside.
    ///
    /// # Errors
    /// A validation error on `xml` (malformed envelope or message, or no `Encrypt` element),
    /// and the errors of [`open`](Self::open).
    pub fn open_envelope(&self, query: &CallbackQuery, body: &str) -> Result<XmlElement> {
        let envelope = xml::parse(body)?;
        let encrypted = envelope
            .text_of("Encrypt")
            .filter(|e| !e.is_empty())
            .ok_or_else(|| Error::validation("xml", "the envelope has no Encrypt element"))?;
        let plain = self.open(query, encrypted)?;
        xml::parse(&plain)
    }

    /// An encrypted envelope as the platform sends it (for passive replies and test fakes).
    pub fn seal_envelope(
        &self,
        plaintext: &str,
        timestamp: &str,
        nonce: &str,
        random: [u8; 16],
    ) -> (String, CallbackQuery) {
        let encrypted = self.encrypt(plaintext, random);
        let query = CallbackQuery {
            msg_signature: self.sign(timestamp, nonce, &encrypted),
            timestamp: timestamp.into(),
            nonce: nonce.into(),
        };
        let mut w = XmlWriter::new();
        w.cdata("ToUserName", &self.receive_id)
            .cdata("Encrypt", &encrypted)
            .cdata("MsgSignature", &query.msg_signature)
            .cdata("TimeStamp", timestamp)
            .cdata("Nonce", nonce);
        (w.finish(), query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypto() -> CallbackCrypto {
        CallbackCrypto::new(
            &Secret::new("QDG6eK"),
            &Secret::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
            "wx5823bf96d3bd56c7",
        )
        .unwrap()
    }

    #[test]
    fn padding_is_to_32_byte_blocks() {
        let c = crypto();
        for len in [0usize, 1, 11, 12, 13, 31, 32, 33, 100] {
            let msg = "x".repeat(len);
            let enc = c.encrypt(&msg, [1; 16]);
            let raw = STANDARD.decode(&enc).unwrap();
            assert_eq!(raw.len() % 32, 0);
            assert!(raw.len() > 20 + len + c.receive_id.len());
            assert_eq!(c.decrypt(&enc).unwrap(), msg);
        }
    }

    #[test]
    fn signature_is_sha1_of_the_sorted_parts() {
        // sha1("1" "2" "3" "QDG6eK") with the four strings sorted byte-wise.
        let c = crypto();
        let mut h = Sha1::new();
        h.update(b"123QDG6eK");
        let expected: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(c.sign("2", "1", "3"), expected);
        assert_eq!(
            plain_signature(&Secret::new("t"), "b", "a"),
            sha1_sorted(&mut ["a", "b", "t"])
        );
    }

    #[test]
    fn bad_input_is_refused_with_the_field_named() {
        let c = crypto();
        let other = CallbackCrypto::new(
            &Secret::new("QDG6eK"),
            &Secret::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
            "ww0000",
        )
        .unwrap();
        let for_other = other.encrypt("hi", [2; 16]);
        for (input, field) in [
            ("not base64!", "encrypt"),
            ("AAAA", "encrypt"),
            (for_other.as_str(), "receive_id"),
        ] {
            match c.decrypt(input) {
                Err(Error::Validation { field: f, .. }) => assert_eq!(f, field, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
        let key_err = CallbackCrypto::new(&Secret::new("t"), &Secret::new("short"), "wx1")
            .unwrap_err()
            .to_string();
        assert!(key_err.contains("encoding_aes_key") && !key_err.contains("short"));
        assert!(!format!("{c:?}").contains("QDG6eK"));
    }

    #[test]
    fn envelopes_round_trip() {
        let c = crypto();
        let (body, q) = c.seal_envelope("<xml><A>1</A></xml>", "1700000000", "n1", [3; 16]);
        assert_eq!(c.open_envelope(&q, &body).unwrap().text_of("A"), Some("1"));
        let missing = c.open_envelope(&q, "<xml><ToUserName>x</ToUserName></xml>");
        assert!(missing.unwrap_err().to_string().contains("no Encrypt"));
    }
}
