//! Evasion-robust normalisation with an offset map back to the original text.
//!
//! Handled transforms: full-width ASCII forms (`ＮＯ．１` → `no1`), ASCII case, inserted
//! whitespace of any kind (including the ideographic space), zero-width characters, and inserted
//! decorative symbols (`* . _ - ~ | / \ + # @ ^ = ' ` · • ★ ☆ ♥ ♡ ◆ ◇ ● ○ ■ □ ▲ △ ※ ・`).
//! Sentence punctuation (`，。！？；：、` and ASCII `, ; ! ? :`), brackets, quotes and line breaks
//! are kept: they end words, so removing them would join unrelated words.

/// What a character becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Removed (noise inserted to evade).
    Drop,
    /// Kept as is.
    Keep,
    /// Replaced by this ASCII byte (full-width form or upper case).
    Ascii(u8),
}

/// Classification of ASCII bytes: 0 = drop, otherwise the byte to emit.
const ASCII: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        t[i] = if b.is_ascii_uppercase() {
            b + 32
        } else if matches!(b, b' ' | b'\t' | 0x0B | 0x0C | b'*' | b'.' | b'_' | b'-' | b'~' | b'|' | b'/' | b'\\' | b'+' | b'#' | b'@' | b'^' | b'=' | b'\'' | b'`') {
            0
        } else {
            b
        };
        i += 1;
    }
    t
};

#[inline]
fn classify(c: char) -> Class {
    let cp = c as u32;
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
        0x00A0 | 0x00AD | 0x1680 | 0x2000..=0x200F | 0x2028..=0x202F | 0x205F..=0x2064 | 0x3000 | 0xFEFF => Class::Drop,
        // Decorative symbols.
        0x00B7 | 0x2022 | 0x2027 | 0x203B | 0x2219 | 0x22C5 | 0x25A0 | 0x25A1 | 0x25B2 | 0x25B3 | 0x25C6 | 0x25C7 | 0x25CB | 0x25CF
        | 0x2605 | 0x2606 | 0x2661 | 0x2665 | 0x30FB | 0xFF65 => Class::Drop,
        _ => Class::Keep,
    }
}

/// Normalised text and, for each of its bytes, the byte offset in the original text of the
/// character it came from.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// The normalised text (valid UTF-8).
    pub text: Vec<u8>,
    /// `map[i]` = original byte offset of the character normalised byte `i` came from.
    pub map: Vec<u32>,
}

impl Normalized {
    /// Normalise `text`, reusing this buffer.
    ///
    /// Texts longer than 4 GiB are not supported (offsets are `u32`); callers chunk them.
    pub fn fill(&mut self, text: &str) {
        self.text.clear();
        self.map.clear();
        self.text.reserve(text.len());
        self.map.reserve(text.len());
        let bytes = text.as_bytes();
        let mut i = 0usize;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                let m = ASCII[b as usize];
                if m != 0 {
                    self.text.push(m);
                    self.map.push(i as u32);
                }
                i += 1;
                continue;
            }
            let len = if b >= 0xF0 { 4 } else if b >= 0xE0 { 3 } else { 2 };
            let end = (i + len).min(bytes.len());
            // Common CJK ideographs (U+4E00..U+9FFF: lead bytes E4..E9) are always kept.
            if (0xE4..=0xE9).contains(&b) {
                self.text.extend_from_slice(&bytes[i..end]);
                self.map.extend(std::iter::repeat_n(i as u32, end - i));
                i = end;
                continue;
            }
            let c = text[i..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
            let clen = c.len_utf8();
            match classify(c) {
                Class::Drop => {}
                Class::Keep => {
                    self.text.extend_from_slice(&bytes[i..i + clen]);
                    self.map.extend(std::iter::repeat_n(i as u32, clen));
                }
                Class::Ascii(a) => {
                    self.text.push(a);
                    self.map.push(i as u32);
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

    /// The original byte range of normalised bytes `start..end` (`end > start`).
    pub fn original_range(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        let s = self.map.get(start).copied().unwrap_or(0) as usize;
        let last = self.map.get(end.saturating_sub(1)).copied().unwrap_or(0) as usize;
        let last_len = original[last..].chars().next().map_or(1, char::len_utf8);
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
