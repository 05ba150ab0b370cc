//! How the SQLite backend stores journal entries: as given, or — when an entry is large and
//! compresses well — zstd-compressed, with the codec in the row (`mf_journal.codec`).
//! [`read_journal`](super::Store::read_journal) always hands back the bytes appended.
//!
//! Why: an outbox entry holds a whole commit's events (tens of KiB of repetitive JSON), and on
//! SQLite every byte of a commit goes through the write-ahead log and its `fsync`. PostgreSQL
//! compresses large values itself (TOAST), the memory store does no I/O: neither needs this.

use std::borrow::Cow;
use std::cell::RefCell;

use crate::error::{Error, Result};

/// The codec column's value for an entry stored as given.
pub(super) const PLAIN: i64 = 0;
/// The codec column's value for a zstd frame.
pub(super) const ZSTD: i64 = 1;

/// Entries shorter than this are stored as given: compression would save a few bytes at most.
const MIN_BYTES: usize = 1024;
/// zstd's level: its fastest regular level (the entry is on the commit path).
const LEVEL: i32 = 1;

thread_local! {
    /// One compression context per thread (commits run on the blocking pool), so a commit does
    /// not allocate zstd's tables again.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// The stored form of `payload` and its codec: compressed when the entry is at least
/// [`MIN_BYTES`] and the frame is at most seven eighths of it, as given otherwise (also when
/// compression fails: storing the bytes as given is always correct).
pub(super) fn pack(payload: &[u8]) -> (i64, Cow<'_, [u8]>) {
    if payload.len() < MIN_BYTES {
        return (PLAIN, Cow::Borrowed(payload));
    }
    let frame = COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = zstd::bulk::Compressor::new(LEVEL).ok();
        }
        cell.as_mut().and_then(|c| c.compress(payload).ok())
    });
    match frame {
        Some(frame) if frame.len() <= payload.len() / 8 * 7 => (ZSTD, Cow::Owned(frame)),
        _ => (PLAIN, Cow::Borrowed(payload)),
    }
}

/// The bytes appended, from a stored entry and its codec.
///
/// # Errors
/// [`Error::Serialization`] for an unknown codec or a frame that does not decompress (a
/// corrupt row).
pub(super) fn unpack(codec: i64, stored: Vec<u8>, seq: i64) -> Result<Vec<u8>> {
    match codec {
        PLAIN => Ok(stored),
        ZSTD => zstd::stream::decode_all(stored.as_slice()).map_err(|e| Error::Serialization {
            what: format!("journal entry #{seq}"),
            reason: format!("the stored zstd frame does not decompress: {e}"),
        }),
        other => Err(Error::Serialization {
            what: format!("journal entry #{seq}"),
            reason: format!("unknown codec {other} (written by a newer library?)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_repetitive_entries_are_compressed_and_come_back_whole() {
        let line = br#"{"id":"evt_01","name":"crm.lead.captured","version":1,"payload":{"n":1}}"#;
        let entry: Vec<u8> = line
            .iter()
            .copied()
            .chain(std::iter::once(b'\n'))
            .cycle()
            .take(40 * (line.len() + 1))
            .collect();
        let (codec, stored) = pack(&entry);
        assert_eq!(codec, ZSTD);
        assert!(stored.len() < entry.len() / 4, "{}", stored.len());
        assert_eq!(unpack(codec, stored.into_owned(), 1).unwrap(), entry);
    }

    #[test]
    fn small_or_incompressible_entries_are_stored_as_given() {
        let (codec, stored) = pack(b"{\"n\":1}");
        assert_eq!((codec, &*stored), (PLAIN, &b"{\"n\":1}"[..]));
        // Pseudo-random bytes (xorshift) do not shrink by an eighth.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect();
        assert_eq!(pack(&noise).0, PLAIN);
        assert!(unpack(7, vec![1], 3).is_err());
        assert!(unpack(ZSTD, b"not a frame".to_vec(), 3).is_err());
    }
}
