//! Context exemptions: the normalised text around a find, read from the original on demand,
//! and the conditions an [`Exemption`](super::Exemption) sets on it.

use std::sync::Arc;

use super::lexicon::{Exemption, ExemptionKind};
use super::normalize::{normalize_term, push_normalized_bytes};

/// Original bytes read at most on either side of a find (bounds the walk over long runs of
/// inserted noise).
const MAX_BYTES_READ: usize = 1024;

/// Contexts in a hash set, with their distinct lengths: "is some context a prefix of this
/// text" is one look-up per length instead of a comparison per context. Contexts that must
/// precede a find are stored reversed, and matched against the reversed text before it.
#[derive(Debug, Clone, Default)]
struct ContextSet {
    set: foldhash::HashSet<Box<[u8]>>,
    lens: Vec<usize>,
}

impl ContextSet {
    fn new(v: &[String], reversed: bool) -> ContextSet {
        let mut set = foldhash::HashSet::default();
        let mut lens = Vec::new();
        for s in v {
            let mut b = normalize_term(s).into_bytes();
            if reversed {
                b.reverse();
            }
            lens.push(b.len());
            set.insert(b.into_boxed_slice());
        }
        lens.sort_unstable();
        lens.dedup();
        ContextSet { set, lens }
    }

    fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    fn longest(&self) -> usize {
        self.lens.last().copied().unwrap_or(0)
    }

    fn prefix_at(&self, rest: &[u8]) -> bool {
        self.lens
            .iter()
            .take_while(|&&l| l <= rest.len())
            .any(|&l| self.set.contains(&rest[..l]))
    }

    /// Some context starts at most `within` characters after the start of `hay`.
    fn starts_within(&self, hay: &[u8], within: usize) -> bool {
        let mut chars = 0;
        for k in 0..hay.len() {
            if is_continuation(hay[k]) {
                continue;
            }
            if chars > within {
                return false;
            }
            chars += 1;
            if self.prefix_at(&hay[k..]) {
                return true;
            }
        }
        false
    }

    /// Some (reversed) context ends at most `within` characters before the end of the text
    /// whose reversal is `rev`.
    fn ends_within(&self, rev: &[u8], within: usize) -> bool {
        let mut chars = 0;
        for k in 0..rev.len() {
            // Position k of the reversal is a character boundary of the text when the byte
            // before it (the last byte of the next character) ends a character: always, except
            // that k must follow a lead or ASCII byte of the reversed stream.
            if k > 0 && is_continuation(rev[k - 1]) {
                continue;
            }
            if chars > within {
                return false;
            }
            chars += 1;
            if self.prefix_at(&rev[k..]) {
                return true;
            }
        }
        false
    }
}

fn is_continuation(b: u8) -> bool {
    (b as i8) < -0x40
}

/// An exemption with its contexts normalised.
#[derive(Debug, Clone)]
pub(crate) struct CompiledExemption {
    pub(crate) kind: ExemptionKind,
    pub(crate) note: Arc<str>,
    phrases: Vec<Vec<u8>>,
    preceded_by: ContextSet,
    followed_by: ContextSet,
    within: usize,
    number_within: Option<usize>,
    /// Normalised bytes of context needed before / after a find.
    need_before: usize,
    need_after: usize,
}

impl CompiledExemption {
    pub(crate) fn new(e: &Exemption) -> CompiledExemption {
        let phrases: Vec<Vec<u8>> = e
            .phrases
            .iter()
            .map(|s| normalize_term(s).into_bytes())
            .collect();
        let preceded_by = ContextSet::new(&e.preceded_by, true);
        let followed_by = ContextSet::new(&e.followed_by, false);
        let within = usize::from(e.within);
        let number_within = e.number_within.map(usize::from);
        let phrase = phrases.iter().map(Vec::len).max().unwrap_or(0);
        let before_ctx = if preceded_by.is_empty() {
            0
        } else {
            preceded_by.longest() + within * 4
        };
        let after_ctx = if followed_by.is_empty() {
            0
        } else {
            followed_by.longest() + within * 4
        };
        CompiledExemption {
            kind: e.kind,
            note: e.note.as_str().into(),
            phrases,
            preceded_by,
            followed_by,
            within,
            number_within,
            need_before: phrase.max(before_ctx),
            need_after: phrase.max(after_ctx).max(number_within.unwrap_or(0) * 4),
        }
    }

    /// Whether the exemption allows `term` (normalised) at `start..end` of `text`, reading the
    /// context it needs into `ctx`.
    pub(crate) fn allows_at(
        &self,
        ctx: &mut Context,
        text: &str,
        start: usize,
        end: usize,
        term: &[u8],
    ) -> bool {
        ctx.ensure_after(text, end, self.need_after);
        ctx.ensure_before(text, start, self.need_before);
        self.allows(&ctx.before_rev, term, &ctx.after)
    }

    /// Whether the exemption allows `term` (normalised) between the normalised text before it
    /// (reversed: `before_rev`) and after it (`after`).
    pub(crate) fn allows(&self, before_rev: &[u8], term: &[u8], after: &[u8]) -> bool {
        let Some(&first) = term.first() else {
            return false;
        };
        let by_phrase = self.phrases.iter().any(|p| {
            // Every place the term occurs inside the phrase could be this occurrence.
            (0..p.len()).any(|off| {
                p[off] == first
                    && p[off..].starts_with(term)
                    && before_rev.len() >= off
                    && p[..off].iter().rev().eq(before_rev[..off].iter())
                    && after.starts_with(&p[off + term.len()..])
            })
        });
        if by_phrase {
            return true;
        }
        if self.preceded_by.is_empty()
            && self.followed_by.is_empty()
            && self.number_within.is_none()
        {
            return false;
        }
        let after = clause_head(after);
        if !self.followed_by.is_empty() && !self.followed_by.starts_within(after, self.within) {
            return false;
        }
        if self.number_within.is_some_and(|n| !digit_within(after, n)) {
            return false;
        }
        self.preceded_by.is_empty()
            || self
                .preceded_by
                .ends_within(clause_head_rev(before_rev), self.within)
    }
}

/// The normalised text around one find, read from the original on demand.
#[derive(Debug, Default)]
pub(crate) struct Context {
    /// The normalised text before the find, nearest byte first.
    pub(crate) before_rev: Vec<u8>,
    /// The normalised text after the find.
    pub(crate) after: Vec<u8>,
    /// Original offsets read so far: `before_rev` covers `before_from..start`, `after` covers
    /// `end..after_to`.
    before_from: usize,
    after_to: usize,
    start: usize,
    end: usize,
    /// Whether a clause break ends what was read on that side.
    before_closed: bool,
    after_closed: bool,
}

/// Characters that end a clause: nothing beyond one is context of a find.
fn is_clause_break(c: char) -> bool {
    matches!(
        c,
        ',' | ';' | '!' | '?' | ':' | '\n' | '\r' | '，' | '；' | '！' | '？' | '：' | '。' | '、'
    )
}

impl Context {
    /// Start reading around the find at `start..end`.
    pub(crate) fn reset(&mut self, start: usize, end: usize) {
        self.before_rev.clear();
        self.after.clear();
        self.start = start;
        self.end = end;
        self.before_from = start;
        self.after_to = end;
        self.before_closed = false;
        self.after_closed = false;
    }

    /// Read at least `need` normalised bytes after the find (or to the end of the text).
    pub(crate) fn ensure_after(&mut self, text: &str, end: usize, need: usize) {
        debug_assert_eq!(end, self.end);
        if self.after.len() >= need {
            return;
        }
        let Some(rest) = text.get(self.after_to..) else {
            return;
        };
        for (i, c) in rest.char_indices() {
            if self.after.len() >= need
                || self.after_to - self.end >= MAX_BYTES_READ
                || self.after_closed
            {
                break;
            }
            let len = c.len_utf8();
            push_normalized_bytes(&rest.as_bytes()[i..i + len], &mut self.after);
            self.after_to += len;
            // Nothing past a clause break is ever looked at.
            self.after_closed = is_clause_break(c);
        }
    }

    /// Read at least `need` normalised bytes before the find (or to the start of the text).
    pub(crate) fn ensure_before(&mut self, text: &str, start: usize, need: usize) {
        debug_assert_eq!(start, self.start);
        if self.before_rev.len() >= need {
            return;
        }
        let Some(head) = text.get(..self.before_from) else {
            return;
        };
        for (i, c) in head.char_indices().rev() {
            if self.before_rev.len() >= need
                || self.start - self.before_from >= MAX_BYTES_READ
                || self.before_closed
            {
                break;
            }
            let len = c.len_utf8();
            let from = self.before_rev.len();
            push_normalized_bytes(&head.as_bytes()[i..i + len], &mut self.before_rev);
            self.before_rev[from..].reverse();
            self.before_from -= len;
            self.before_closed = is_clause_break(c);
        }
    }

    /// The normalised text before the find, in reading order (tests).
    #[cfg(test)]
    pub(crate) fn before(&self) -> Vec<u8> {
        self.before_rev.iter().rev().copied().collect()
    }

    /// Fill with up to `need_before` normalised bytes before `start` and `need_after` after
    /// `end` (offsets in `text`).
    #[cfg(test)]
    pub(crate) fn fill(
        &mut self,
        text: &str,
        start: usize,
        end: usize,
        need_before: usize,
        need_after: usize,
    ) {
        self.reset(start, end);
        self.ensure_after(text, end, need_after);
        self.ensure_before(text, start, need_before);
    }
}

/// Length of the clause break starting at `b[i]`, if one does (`，；！？：` fold to ASCII;
/// `。、` and line breaks are kept as such).
fn break_at(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b',' | b';' | b'!' | b'?' | b':' | b'\n' | b'\r' => Some(1),
        0xE3 if matches!(b.get(i + 1..i + 3), Some([0x80, 0x81 | 0x82])) => Some(3),
        _ => None,
    }
}

/// The part of the reversed text `rev` before its first clause break (that is, the end of the
/// text after its last clause break).
fn clause_head_rev(rev: &[u8]) -> &[u8] {
    for i in 0..rev.len() {
        let cut = match rev[i] {
            b',' | b';' | b'!' | b'?' | b':' | b'\n' | b'\r' => true,
            // 。 and 、 reversed: 82/81 80 E3.
            0x81 | 0x82 => matches!(rev.get(i + 1..i + 3), Some([0x80, 0xE3])),
            _ => false,
        };
        if cut {
            return &rev[..i];
        }
    }
    rev
}

/// The part of `after` before its first clause break.
fn clause_head(after: &[u8]) -> &[u8] {
    (0..after.len())
        .find(|&i| break_at(after, i).is_some())
        .map_or(after, |i| &after[..i])
}

/// A figure among the first `n` characters of `hay`: an ASCII digit or a Chinese numeral.
fn digit_within(hay: &[u8], n: usize) -> bool {
    let Ok(text) = std::str::from_utf8(hay) else {
        return false;
    };
    text.chars().take(n).any(|c| {
        c.is_ascii_digit()
            || matches!(
                c,
                '零' | '〇'
                    | '一'
                    | '二'
                    | '两'
                    | '三'
                    | '四'
                    | '五'
                    | '六'
                    | '七'
                    | '八'
                    | '九'
                    | '十'
                    | '百'
                    | '千'
                    | '万'
                    | '半'
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(json: &str) -> CompiledExemption {
        CompiledExemption::new(&serde_json::from_str::<Exemption>(json).unwrap())
    }

    fn rev(s: &str) -> Vec<u8> {
        s.bytes().rev().collect()
    }

    #[test]
    fn windows_stay_inside_the_clause() {
        let e = ex(r#"{"kind":"service_attitude","preceded_by":["追求"],"within":4}"#);
        assert!(e.allows(&rev("我们追求"), "最好".as_bytes(), "的服务".as_bytes()));
        assert!(e.allows(&rev("追求做到"), "最好".as_bytes(), "".as_bytes()));
        assert!(!e.allows(&rev("追求卓越,产品"), "最好".as_bytes(), "".as_bytes()));
        assert!(!e.allows(&rev("追求卓越。产品"), "最好".as_bytes(), "".as_bytes()));
        assert!(!e.allows(&rev("追求一二三四五"), "最好".as_bytes(), "".as_bytes()));
        let adjacent = ex(r#"{"kind":"time_sequence","preceded_by":["星期"]}"#);
        assert!(adjacent.allows(&rev("下个星期"), "一".as_bytes(), b""));
        assert!(!adjacent.allows(&rev("星期天"), "一".as_bytes(), b""));
    }

    #[test]
    fn parameters_need_their_figure_in_the_clause() {
        let e = ex(
            r#"{"kind":"product_parameter","followed_by":["功率","加工尺寸"],"number_within":12}"#,
        );
        assert!(e.allows(b"", "最大".as_bytes(), "功率为15千瓦".as_bytes()));
        assert!(e.allows(b"", "最大".as_bytes(), "加工尺寸为850mm".as_bytes()));
        assert!(!e.allows(b"", "最大".as_bytes(), "功率,15千瓦".as_bytes()));
        assert!(!e.allows(b"", "最大".as_bytes(), "的功率".as_bytes()));
    }

    #[test]
    fn phrases_contain_the_find() {
        let e = ex(r#"{"kind":"trademark","phrases":["第一坊"]}"#);
        assert!(e.allows(b"", "第一".as_bytes(), "坊".as_bytes()));
        assert!(!e.allows(b"", "第一".as_bytes(), "名".as_bytes()));
        let mid = ex(r#"{"kind":"official_standard","phrases":["能效等级第一级"]}"#);
        assert!(mid.allows(&rev("本机能效等级"), "第一".as_bytes(), "级".as_bytes()));
        assert!(!mid.allows(&rev("本机能效"), "第一".as_bytes(), "级".as_bytes()));
    }

    #[test]
    fn context_is_read_from_the_original_text() {
        let mut c = Context::default();
        let text = "我们 追＊求最好的ＳＥＲＶＩＣＥ";
        let start = text.find("最好").unwrap();
        c.fill(text, start, start + "最好".len(), 12, 30);
        assert_eq!(std::str::from_utf8(&c.before()).unwrap(), "我们追求");
        assert_eq!(std::str::from_utf8(&c.after).unwrap(), "的service");
    }
}
