//! Scanning texts too large to hold: a reader is scanned chunk by chunk in bounded memory,
//! with the same finds, in the same order and at the same offsets as [`ComplianceChecker::scan`]
//! of the whole text.
//!
//! Each round holds one chunk plus an overlap: finds that start in the chunk are reported (the
//! overlap lets them end past it), and the next round resumes after the last one, or at the
//! chunk's end. A few KiB before the resume point are kept for exemption contexts and word
//! boundaries. Memory is therefore chunk + overlap + context whatever the text's length, and
//! finds go to a callback rather than a list.

use std::io::Read;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::checker::{CharCursor, ComplianceChecker, Decision};
use super::context::Context;
use super::lexicon::Severity;
use crate::error::{ContentError, Result};

/// Default chunk size of [`ComplianceChecker::scan_reader`].
pub const DEFAULT_CHUNK_BYTES: usize = 1 << 20;

/// Largest chunk size of [`ComplianceChecker::scan_reader_chunked`] (64 MiB): a round's
/// buffer is allocated up front, so the size is bounded like the memory it takes.
pub const MAX_CHUNK_BYTES: usize = 64 << 20;

/// How far past its chunk a find may extend (its matched text, inserted noise included).
/// Finds spanning more of the original text are not reported by streamed scans.
pub const STREAM_OVERLAP_BYTES: usize = 64 << 10;

/// Original text kept before the resume point for exemption contexts.
const CONTEXT_BYTES: usize = 4 << 10;

/// The outcome of a streamed scan (the finds themselves went to the callback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StreamSummary {
    /// The decision the counted finds lead to.
    pub decision: Decision,
    /// Counted finds.
    pub findings: u64,
    /// Exempted finds.
    pub exempted: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Characters read.
    pub chars: u64,
    /// The largest the buffer grew to, in bytes.
    pub peak_buffer_bytes: usize,
}

impl ComplianceChecker {
    /// Scan UTF-8 text from `reader` in bounded memory, handing every find (counted and
    /// exempted, in text order, offsets from the start of the stream) to `on_find`.
    ///
    /// ```
    /// use marketingforce_content::compliance::{ComplianceChecker, Decision, Lexicon};
    /// let checker = ComplianceChecker::new(&[&Lexicon::builtin()], None).unwrap();
    /// let text = "平台提供数据看板。".repeat(100_000) + "全网最低价！";
    /// let mut finds = Vec::new();
    /// let summary = checker.scan_reader(text.as_bytes(), |f| finds.push(f)).unwrap();
    /// assert_eq!(summary.decision, Decision::Rejected);
    /// assert_eq!(&text[finds[0].byte_start..finds[0].byte_end], "全网最低价");
    /// assert!(summary.peak_buffer_bytes < 2 << 20);
    /// ```
    ///
    /// # Errors
    /// A validation error (`text`) naming the byte offset of invalid UTF-8; the reader's I/O
    /// error as a backend error.
    pub fn scan_reader<R: Read>(
        &self,
        reader: R,
        on_find: impl FnMut(super::Finding),
    ) -> Result<StreamSummary> {
        self.scan_reader_chunked(reader, DEFAULT_CHUNK_BYTES, on_find)
    }

    /// [`scan_reader`](Self::scan_reader) with a chunk size of `chunk_bytes` (1 KiB to
    /// [`MAX_CHUNK_BYTES`]).
    ///
    /// # Errors
    /// As [`scan_reader`](Self::scan_reader); a validation error for a chunk under 1 KiB or
    /// over [`MAX_CHUNK_BYTES`].
    pub fn scan_reader_chunked<R: Read>(
        &self,
        mut reader: R,
        chunk_bytes: usize,
        mut on_find: impl FnMut(super::Finding),
    ) -> Result<StreamSummary> {
        if !(1024..=MAX_CHUNK_BYTES).contains(&chunk_bytes) {
            return Err(ContentError::validation(
                "chunk_bytes",
                format!("{chunk_bytes}: need 1024 to {MAX_CHUNK_BYTES} bytes"),
            ));
        }
        // The resume point lies at most CONTEXT_BYTES (plus a partial character) into the
        // buffer, so a round never needs more than this.
        let capacity = chunk_bytes + STREAM_OVERLAP_BYTES + CONTEXT_BYTES + 8;
        let mut buf: Vec<u8> = Vec::with_capacity(capacity);
        let mut base_bytes = 0usize;
        let mut base_chars = 0usize;
        let mut at = 0usize;
        let mut eof = false;
        let mut chars = CharCursor::default();
        let mut ctx = Context::default();
        let (mut findings, mut exempted) = (0u64, 0u64);
        let mut worst: Option<Severity> = None;
        let mut peak = 0usize;
        loop {
            // Fill to the resume point + a chunk + the overlap.
            let target = at + chunk_bytes + STREAM_OVERLAP_BYTES;
            while !eof && buf.len() < target {
                let len = buf.len();
                buf.resize(target, 0);
                match reader.read(&mut buf[len..]) {
                    Ok(0) => {
                        buf.truncate(len);
                        eof = true;
                    }
                    Ok(n) => buf.truncate(len + n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(len),
                    Err(e) => {
                        return Err(ContentError::Core(marketingforce_core::Error::backend(
                            "reader", false, e,
                        )))
                    }
                }
            }
            peak = peak.max(buf.capacity());
            let valid = match std::str::from_utf8(&buf) {
                Ok(_) => buf.len(),
                Err(e) if e.error_len().is_none() && !eof => e.valid_up_to(),
                Err(e) => {
                    return Err(ContentError::validation(
                        "text",
                        format!("not valid UTF-8 at byte {}", base_bytes + e.valid_up_to()),
                    ))
                }
            };
            let Ok(text) = std::str::from_utf8(&buf[..valid]) else {
                return Err(ContentError::validation("text", "not valid UTF-8"));
            };
            let limit = if eof {
                valid
            } else {
                floor_char_boundary(text, valid.saturating_sub(STREAM_OVERLAP_BYTES)).max(at)
            };
            let resume = self.walk(text, at, limit, valid, &mut ctx, &mut |hit| {
                let f = self.finding(text, &hit, &mut chars, base_bytes, base_chars);
                if f.exemption.is_some() {
                    exempted += 1;
                } else {
                    findings += 1;
                    worst = worst.max(Some(f.severity));
                }
                on_find(f);
                true
            });
            if eof {
                let total_chars = base_chars + chars.advance(text, valid);
                return Ok(StreamSummary {
                    decision: match worst {
                        Some(Severity::Reject) => Decision::Rejected,
                        Some(Severity::Review) => Decision::NeedsHumanReview,
                        _ => Decision::Approved,
                    },
                    findings,
                    exempted,
                    bytes: (base_bytes + valid) as u64,
                    chars: total_chars as u64,
                    peak_buffer_bytes: peak,
                });
            }
            // Drop what lies well before the resume point.
            let cut = floor_char_boundary(text, resume.saturating_sub(CONTEXT_BYTES));
            base_chars += chars.rebase(text, cut);
            base_bytes += cut;
            at = resume - cut;
            buf.drain(..cut);
        }
    }
}

/// The largest char boundary of `text` at or before `i`.
fn floor_char_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}
