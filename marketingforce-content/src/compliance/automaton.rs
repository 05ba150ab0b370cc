//! One pass over the original bytes with the normalisation folded into the automaton.
//!
//! The patterns (normalised terms) are compiled by `aho-corasick` into a leftmost-longest DFA,
//! whose transitions are then copied into a table of our own with three extra byte classes:
//!
//! | class | raw bytes | transition |
//! |---|---|---|
//! | pattern byte / other | everything kept byte for byte; `A`–`Z` use `a`–`z`'s column | the DFA's |
//! | drop | ASCII spaces and decorative symbols (`* . - _ / …`) | to the same state |
//! | slow | lead bytes of the few multi-byte characters that are dropped or folded (`C2 E1 E2 E3 EF`) | to a marker state |
//!
//! The scan loop is therefore the bare DFA loop (one table lookup and one comparison per byte);
//! only on the marker state does it decode one character (full-width forms, ideographic space,
//! zero-width characters, CJK punctuation) and feed its normalised form. No normalised copy of
//! the text is made, and a match's end is already an offset in the original text; its start is
//! found by walking back over the match's normalised length.

use std::collections::{HashMap, VecDeque};

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, StartKind};

use super::normalize::{classify, is_special_lead, normalized_len, Class, ASCII};

/// The dead state: no match can be extended any more.
const DEAD: u32 = 0;

/// A leftmost-longest automaton over normalised patterns that reads original text.
#[derive(Debug, Clone)]
pub(crate) struct FoldedDfa {
    /// Transitions, premultiplied: the next state of `s` on class `c` is `trans[s + c]`.
    trans: Vec<u32>,
    /// Class of each byte of the original text in the fast loop.
    raw_class: [u8; 256],
    /// Class of each byte fed from the slow path (already normalised).
    feed_class: [u8; 256],
    /// The unanchored start state.
    start: u32,
    /// The marker state of the slow class.
    slow: u32,
    /// Every id up to this one is special: dead, slow or a match state.
    max_special: u32,
    /// Number of classes (row length).
    stride: u32,
    /// The class of bytes no pattern uses.
    other: u8,
    /// The pattern of each match state, by `state / stride - 2`.
    match_pattern: Vec<u32>,
    /// Normalised length of each pattern, in bytes.
    pattern_len: Vec<u32>,
}

impl FoldedDfa {
    /// Compile `patterns` (normalised, non-empty, valid UTF-8).
    pub(crate) fn new(patterns: &[&[u8]]) -> Result<FoldedDfa, String> {
        let dfa = DFA::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .start_kind(StartKind::Unanchored)
            .prefilter(false)
            .build(patterns)
            .map_err(|e| e.to_string())?;

        // Byte classes: one per byte occurring in a pattern, one for all others (they behave
        // alike in every state), then drop and slow.
        let mut in_pattern = [false; 256];
        for p in patterns {
            for &b in *p {
                in_pattern[b as usize] = true;
            }
        }
        let mut feed_class = [0u8; 256];
        let mut reps: Vec<u8> = Vec::new();
        for b in 0..=255u8 {
            if in_pattern[b as usize] {
                feed_class[b as usize] = class_u8(reps.len())?;
                reps.push(b);
            }
        }
        let other = class_u8(reps.len())?;
        let other_rep = (0..=255u8)
            .rev()
            .find(|b| !in_pattern[*b as usize])
            .ok_or("patterns use every byte value")?;
        for b in 0..=255u8 {
            if !in_pattern[b as usize] {
                feed_class[b as usize] = other;
            }
        }
        reps.push(other_rep);
        let drop = class_u8(reps.len())?;
        let slow_class = class_u8(reps.len() + 1)?;
        let stride = u32::from(slow_class) + 1;
        let mut raw_class = [0u8; 256];
        for b in 0..=255u8 {
            raw_class[b as usize] = if b < 0x80 {
                match ASCII[b as usize] {
                    0 => drop,
                    folded => feed_class[folded as usize],
                }
            } else if is_special_lead(b) {
                slow_class
            } else {
                feed_class[b as usize]
            };
        }

        // Every state reachable from the unanchored start.
        let start = dfa.start_state(Anchored::No).map_err(|e| e.to_string())?;
        let mut states = vec![start];
        let mut seen: HashMap<aho_corasick::automaton::StateID, ()> = HashMap::new();
        seen.insert(start, ());
        let mut queue = VecDeque::from([start]);
        while let Some(s) = queue.pop_front() {
            for &rep in &reps {
                let n = dfa.next_state(Anchored::No, s, rep);
                if !dfa.is_dead(n) && seen.insert(n, ()).is_none() {
                    states.push(n);
                    queue.push_back(n);
                }
            }
        }
        // Our ids: 0 dead, 1 slow, then match states, then the others.
        let (matching, plain): (Vec<_>, Vec<_>) =
            states.into_iter().partition(|s| dfa.is_match(*s));
        let ordered: Vec<_> = matching.iter().chain(&plain).copied().collect();
        let index: HashMap<_, u32> = ordered
            .iter()
            .enumerate()
            .map(|(i, s)| Ok((*s, u32::try_from(i + 2).map_err(|_| "too many states")?)))
            .collect::<Result<_, &str>>()?;
        let rows = ordered.len() + 2;
        let len = rows
            .checked_mul(stride as usize)
            .filter(|n| u32::try_from(*n).is_ok())
            .ok_or("automaton too large")?;
        let mut trans = vec![DEAD; len];
        let slow = stride;
        for (i, s) in ordered.iter().enumerate() {
            let row = (i + 2) * stride as usize;
            for (c, &rep) in reps.iter().enumerate() {
                let n = dfa.next_state(Anchored::No, *s, rep);
                trans[row + c] = if dfa.is_dead(n) {
                    DEAD
                } else {
                    index[&n] * stride
                };
            }
            trans[row + drop as usize] = row as u32;
            trans[row + slow_class as usize] = slow;
        }
        let match_pattern = matching
            .iter()
            .map(|s| dfa.match_pattern(*s, 0).as_u32())
            .collect();
        let pattern_len = (0..patterns.len())
            .map(|p| {
                aho_corasick::PatternID::new(p)
                    .map(|pid| dfa.pattern_len(pid) as u32)
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        Ok(FoldedDfa {
            trans,
            raw_class,
            feed_class,
            start: index[&start] * stride,
            slow,
            max_special: (matching.len() as u32 + 1) * stride,
            stride,
            other,
            match_pattern,
            pattern_len,
        })
    }

    /// Memory used by the transition table, in bytes.
    pub(crate) fn table_bytes(&self) -> usize {
        self.trans.len() * std::mem::size_of::<u32>()
    }

    /// The leftmost-longest match starting at or after `at` and ending by `end` (both char
    /// boundaries of `text`): its pattern and the original byte offset just after it.
    #[inline]
    pub(crate) fn next_match(&self, text: &str, at: usize, end: usize) -> Option<(u32, usize)> {
        let hay = text.as_bytes().get(..end)?;
        let trans = self.trans.as_slice();
        let mut sid = self.start;
        let mut found = None;
        let mut i = at;
        loop {
            // Through ordinary states four bytes at a time, stopping before the first
            // transition into a special one, which the step below takes.
            while let Some(four) = hay.get(i..i + 4) {
                let next =
                    |s: u32, b: u8| trans[(s + u32::from(self.raw_class[b as usize])) as usize];
                let s1 = next(sid, four[0]);
                if s1 <= self.max_special {
                    break;
                }
                let s2 = next(s1, four[1]);
                if s2 <= self.max_special {
                    (sid, i) = (s1, i + 1);
                    break;
                }
                let s3 = next(s2, four[2]);
                if s3 <= self.max_special {
                    (sid, i) = (s2, i + 2);
                    break;
                }
                let s4 = next(s3, four[3]);
                if s4 <= self.max_special {
                    (sid, i) = (s3, i + 3);
                    break;
                }
                (sid, i) = (s4, i + 4);
            }
            let Some(&b) = hay.get(i) else {
                return found;
            };
            let prev = sid;
            sid = trans[(sid + u32::from(self.raw_class[b as usize])) as usize];
            i += 1;
            if sid <= self.max_special {
                if sid == DEAD {
                    return found;
                }
                if sid == self.slow {
                    match self.slow_char(text, i - 1, prev, &mut found) {
                        Some((next, after)) => {
                            sid = next;
                            i = after;
                        }
                        None => return found,
                    }
                } else if sid != prev {
                    // A match state entered on a real byte (a dropped byte loops in place).
                    found = Some((self.pattern_of(sid), i));
                }
            }
        }
    }

    /// Feed the character starting at `p` (a dropped or folded one, or CJK punctuation) from
    /// state `sid`; `None` when the automaton dies.
    #[inline]
    fn slow_char(
        &self,
        text: &str,
        p: usize,
        mut sid: u32,
        found: &mut Option<(u32, usize)>,
    ) -> Option<(u32, usize)> {
        let bytes = text.as_bytes();
        let (c, len) = decode(bytes, p)?;
        let after = p + len;
        match classify(c) {
            Class::Drop => return Some((sid, after)),
            Class::Ascii(a) => sid = self.feed(sid, a),
            Class::Keep => {
                let lead = *bytes.get(p)?;
                if self.feed_class[lead as usize] == self.other {
                    // A lead byte no pattern uses: one "other" transition (to the start or the
                    // dead state), from where continuation bytes lead nowhere else.
                    sid = self.trans[(sid + u32::from(self.other)) as usize];
                } else {
                    for &b in bytes.get(p..after)? {
                        sid = self.feed(sid, b);
                        if sid == DEAD {
                            return None;
                        }
                    }
                }
            }
        }
        if sid == DEAD {
            return None;
        }
        if sid <= self.max_special && sid != self.slow {
            *found = Some((self.pattern_of(sid), after));
        }
        Some((sid, after))
    }

    #[inline]
    fn feed(&self, sid: u32, b: u8) -> u32 {
        self.trans[(sid + u32::from(self.feed_class[b as usize])) as usize]
    }

    #[inline]
    fn pattern_of(&self, sid: u32) -> u32 {
        self.match_pattern[(sid / self.stride - 2) as usize]
    }

    /// The original byte offset where a match of `pattern` ending at `end` starts: walk back
    /// over the pattern's normalised length (characters dropped inside the match are part of
    /// it, those before it are not).
    pub(crate) fn match_start(&self, text: &str, end: usize, pattern: u32) -> usize {
        let mut need = self.pattern_len.get(pattern as usize).copied().unwrap_or(0) as usize;
        let mut p = end;
        while need > 0 {
            let Some(c) = text.get(..p).and_then(|t| t.chars().next_back()) else {
                break;
            };
            p -= c.len_utf8();
            need = need.saturating_sub(normalized_len(c));
        }
        p
    }
}

/// The character starting at `p` of valid UTF-8 and its length (2 to 4 bytes: slow-path
/// characters are never ASCII).
#[inline]
fn decode(b: &[u8], p: usize) -> Option<(char, usize)> {
    let lead = u32::from(*b.get(p)?);
    let cont = |i: usize| b.get(p + i).map(|&x| u32::from(x) & 0x3F);
    let (cp, len) = match lead {
        0xC0..=0xDF => (((lead & 0x1F) << 6) | cont(1)?, 2),
        0xE0..=0xEF => (((lead & 0x0F) << 12) | (cont(1)? << 6) | cont(2)?, 3),
        _ => (
            ((lead & 0x07) << 18) | (cont(1)? << 12) | (cont(2)? << 6) | cont(3)?,
            4,
        ),
    };
    Some((char::from_u32(cp)?, len))
}

fn class_u8(n: usize) -> Result<u8, String> {
    u8::try_from(n).map_err(|_| "more than 255 byte classes".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::normalize::normalize_term;

    fn dfa(terms: &[&str]) -> FoldedDfa {
        let keys: Vec<String> = terms.iter().map(|t| normalize_term(t)).collect();
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        FoldedDfa::new(&refs).unwrap()
    }

    fn all(d: &FoldedDfa, text: &str) -> Vec<(u32, String)> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some((p, end)) = d.next_match(text, at, text.len()) {
            let start = d.match_start(text, end, p);
            out.push((p, text[start..end].to_string()));
            at = end;
        }
        out
    }

    #[test]
    fn folds_width_case_spaces_and_symbols_while_reading_the_original() {
        let d = dfa(&["最好", "no1", "最好的", "第一"]);
        let text = "我们是Ｎ Ｏ．１，最 好的★第\u{200B}一。最好";
        assert_eq!(
            all(&d, text),
            [
                (1, "Ｎ Ｏ．１".to_string()),
                (2, "最 好的".to_string()),
                (3, "第\u{200B}一".to_string()),
                (0, "最好".to_string())
            ]
        );
        // Trailing noise is not part of a match; leading noise neither.
        assert_eq!(all(&d, " ★最好★ "), [(0, "最好".to_string())]);
        assert_eq!(all(&d, "No. 1"), [(1, "No. 1".to_string())]);
    }

    /// The terms of the comparisons with aho-corasick: overlapping ones, a prefix of another,
    /// ASCII ones and one that starts with CJK punctuation.
    const TERMS: [&str; 9] = [
        "最好",
        "最好的",
        "好的",
        "全国第一",
        "第一",
        "ab",
        "abc",
        "bcd",
        "。最",
    ];

    /// The patterns matched in `text` by the folded automaton of [`TERMS`] and by aho-corasick
    /// over `text` normalised (leftmost-longest both).
    fn both_ways(text: &str) -> (Vec<u32>, Vec<u32>) {
        use crate::compliance::normalize::Normalized;
        let keys: Vec<String> = TERMS.iter().map(|t| normalize_term(t)).collect();
        let ac = aho_corasick::AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&keys)
            .unwrap();
        let n = Normalized::of(text);
        let want = ac
            .find_iter(&n.text)
            .map(|m| m.pattern().as_u32())
            .collect();
        let got = all(&dfa(&TERMS), text)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        (got, want)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Any text over the terms' characters and the folded or dropped ones (full width,
        /// case, spaces, zero-width, punctuation): the same matches as aho-corasick over its
        /// normalised form, whether the walk takes the four-byte loop or the step.
        #[test]
        fn random_texts_agree_with_aho_corasick_over_normalised_text(
            picks in proptest::collection::vec(0usize..24, 0..80),
        ) {
            const PIECES: [&str; 24] = [
                "最", "好", "的", "全", "国", "第", "一", "a", "b", "c", "d", "A", "Ｂ",
                " ", "\u{200B}", "。", "，", "★", "．", "ab", "最好", "第一", "x", "服务",
            ];
            let text: String = picks.iter().map(|&i| PIECES[i]).collect();
            let (got, want) = both_ways(&text);
            proptest::prop_assert_eq!(got, want, "{:?}", text);
        }
    }

    #[test]
    fn agrees_with_aho_corasick_over_normalised_text() {
        for text in [
            "全国第一的最好的服务",
            "A B C D，最＊好的。最好",
            "abcd abc ab。最好 的 bcd",
            "全 国 第 一 。 最",
        ] {
            let (got, want) = both_ways(text);
            assert_eq!(got, want, "{text}");
        }
    }
}
