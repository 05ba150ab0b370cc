//! Evasion-robust normalisation.
//!
//! The checker never builds normalised text: its automaton folds these transforms in as it
//! reads the original bytes (see `automaton.rs`). [`Normalized`] materialises the same
//! normalisation with an offset map back to the original, for callers that want to see it (and
//! as the baseline the benchmark compares the folded scan with).
//!
//! Handled transforms: full-width ASCII forms (`ＮＯ．１` → `no1`), ASCII case, inserted
//! whitespace of any kind (including the ideographic space), zero-width characters, and inserted
//! decorative symbols (`* . _ - ~ | / \ + # @ ^ = ' ` · • ★ ☆ ♥ ♡ ◆ ◇ ● ○ ■ □ ▲ △ ※ ・`).
//! Sentence punctuation (`，。！？；：、` and ASCII `, ; ! ? :`), brackets, quotes and line breaks
//! are kept: they end words, so removing them would join unrelated words.

/// What a character becomes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Class {
    /// Removed (noise inserted to evade).
    Drop,
    /// Kept as is.
    Keep,
    /// Replaced by this ASCII byte (full-width form or upper case).
    Ascii(u8),
}

/// Classification of ASCII bytes: 0 = drop, otherwise the byte to emit.
pub(crate) const ASCII: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        t[i] = if b.is_ascii_uppercase() {
            b + 32
        } else if matches!(
            b,
            b' ' | b'\t'
                | 0x0B
                | 0x0C
                | b'*'
                | b'.'
                | b'_'
                | b'-'
                | b'~'
                | b'|'
                | b'/'
                | b'\\'
                | b'+'
                | b'#'
                | b'@'
                | b'^'
                | b'='
                | b'\''
                | b'`'
        ) {
            0
        } else {
            b
        };
        i += 1;
    }
    t
};

/// Lead bytes of the only multi-byte characters that are dropped or folded (U+0080–U+00BF,
/// U+1000–U+3FFF, U+F000–U+FFFF): every other character is kept byte for byte.
pub(crate) fn is_special_lead(b: u8) -> bool {
    matches!(b, 0xC2 | 0xE1 | 0xE2 | 0xE3 | 0xEF)
}

/// What `c` becomes in normalised text.
#[inline]
pub(crate) fn classify(c: char) -> Class {
    let cp = c as u32;
    if cp < 0x80 {
        return match ASCII[cp as usize] {
            0 => Class::Drop,
            b if b == cp as u8 => Class::Keep,
            b => Class::Ascii(b),
        };
    }
    match cp {
        // Full-width ASCII forms.
        0xFF01..=0xFF5E => {
            let a = (cp - 0xFEE0) as u8;
            match ASCII[a as usize] {
                0 => Class::Drop,
                b => Class::Ascii(b),
            }
        }
        // Spaces, zero-width characters, soft hyphen, BOM.
        0x00A0
        | 0x00AD
        | 0x1680
        | 0x2000..=0x200F
        | 0x2028..=0x202F
        | 0x205F..=0x2064
        | 0x3000
        | 0xFEFF => Class::Drop,
        // Decorative symbols.
        0x00B7 | 0x2022 | 0x2027 | 0x203B | 0x2219 | 0x22C5 | 0x25A0 | 0x25A1 | 0x25B2 | 0x25B3
        | 0x25C6 | 0x25C7 | 0x25CB | 0x25CF | 0x2605 | 0x2606 | 0x2661 | 0x2665 | 0x30FB
        | 0xFF65 => Class::Drop,
        _ => Class::Keep,
    }
}

/// How many bytes `c` contributes to normalised text.
#[inline]
pub(crate) fn normalized_len(c: char) -> usize {
    match classify(c) {
        Class::Drop => 0,
        Class::Ascii(_) => 1,
        Class::Keep => c.len_utf8(),
    }
}

/// Append the normalised form of `c` to `out`.
#[inline]
pub(crate) fn push_normalized(c: char, out: &mut Vec<u8>) {
    match classify(c) {
        Class::Drop => {}
        Class::Ascii(a) => out.push(a),
        Class::Keep => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// Append the normalised form of the character `bytes` (one whole character) to `out`.
#[inline]
pub(crate) fn push_normalized_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    match bytes {
        [b] if *b < 0x80 => match ASCII[*b as usize] {
            0 => {}
            a => out.push(a),
        },
        [lead, ..] if !is_special_lead(*lead) => out.extend_from_slice(bytes),
        _ => {
            if let Some(c) = std::str::from_utf8(bytes)
                .ok()
                .and_then(|s| s.chars().next())
            {
                push_normalized(c, out);
            }
        }
    }
}

/// Normalised text and the way back to the original: a list of runs, each the normalised
/// offset and the original offset where the two advance in lockstep (a run ends wherever a
/// character was dropped or changed its length).
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// The normalised text (valid UTF-8).
    pub text: Vec<u8>,
    runs: Vec<(u32, u32)>,
}

impl Normalized {
    /// Normalise `text`, reusing this buffer.
    ///
    /// Texts longer than 4 GiB are not supported (offsets are `u32`); callers chunk them.
    pub fn fill(&mut self, text: &str) {
        self.text.clear();
        self.runs.clear();
        self.text.reserve(text.len());
        let bytes = text.as_bytes();
        let mut i = 0usize;
        // Whether the next kept byte starts a new run.
        let mut broken = true;
        while i < bytes.len() {
            // Fast path: a span of bytes kept at the same length (ASCII kept or lower-cased,
            // common CJK ideographs, which are three bytes with lead bytes E4..E9).
            let start = i;
            while i < bytes.len() {
                let b = bytes[i];
                if b < 0x80 {
                    if ASCII[b as usize] == 0 {
                        break;
                    }
                    i += 1;
                } else if (0xE4..=0xE9).contains(&b) && i + 3 <= bytes.len() {
                    i += 3;
                } else {
                    break;
                }
            }
            if i > start {
                if broken {
                    self.runs.push((self.text.len() as u32, start as u32));
                    broken = false;
                }
                let from = self.text.len();
                self.text.extend_from_slice(&bytes[start..i]);
                self.text[from..].make_ascii_lowercase();
            }
            if i >= bytes.len() {
                break;
            }
            // Slow path: one character that is dropped, folded or of another script.
            let b = bytes[i];
            if b < 0x80 {
                // Dropped ASCII (the fast path keeps all others).
                broken = true;
                i += 1;
                continue;
            }
            let c = text[i..]
                .chars()
                .next()
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            let clen = c.len_utf8();
            match classify(c) {
                Class::Drop => broken = true,
                Class::Keep => {
                    if broken {
                        self.runs.push((self.text.len() as u32, i as u32));
                        broken = false;
                    }
                    self.text.extend_from_slice(&bytes[i..i + clen]);
                }
                Class::Ascii(a) => {
                    // Shorter than the original: a run of its own.
                    self.runs.push((self.text.len() as u32, i as u32));
                    self.text.push(a);
                    broken = true;
                }
            }
            i += clen;
        }
    }

    /// Normalise `text` into a new buffer.
    pub fn of(text: &str) -> Normalized {
        let mut n = Normalized::default();
        n.fill(text);
        n
    }

    /// The original byte offset of the character normalised byte `p` came from.
    pub fn original_offset(&self, p: usize) -> usize {
        let p32 = p as u32;
        let k = self.runs.partition_point(|r| r.0 <= p32);
        match k.checked_sub(1).and_then(|k| self.runs.get(k)) {
            Some(&(n, o)) => (o + (p32 - n)) as usize,
            None => 0,
        }
    }

    /// The original byte range of normalised bytes `start..end` (`end > start`).
    pub fn original_range(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        let s = self.original_offset(start);
        let last = self.original_offset(end.saturating_sub(1));
        let last_len = original
            .get(last..)
            .and_then(|t| t.chars().next())
            .map_or(1, char::len_utf8);
        (s, last + last_len)
    }
}

/// Normalise a term or context phrase (same rules as texts).
pub fn normalize_term(term: &str) -> String {
    let n = Normalized::of(term);
    String::from_utf8(n.text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_case_spaces_and_symbols_and_maps_back() {
        let text = "我们是Ｎ Ｏ．１的★最 好※品牌";
        let n = Normalized::of(text);
        let s = std::str::from_utf8(&n.text).unwrap();
        assert_eq!(s, "我们是no1的最好品牌");
        let at = s.find("最好").unwrap();
        let (a, b) = n.original_range(text, at, at + "最好".len());
        assert_eq!(&text[a..b], "最 好");
        let at = s.find("no1").unwrap();
        let (a, b) = n.original_range(text, at, at + 3);
        assert_eq!(&text[a..b], "Ｎ Ｏ．１");
        assert_eq!(normalize_term("TOP 1"), "top1");
        assert_eq!(normalize_term("，。\n"), ",。\n");
    }
}
