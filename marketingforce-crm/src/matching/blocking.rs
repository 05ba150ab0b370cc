//! Typo-tolerant blocking: which pairs of records are compared at all.
//!
//! Comparing every pair is quadratic; blocking compares only pairs that share a *blocking key*
//! under at least one rule. A pair missed by every rule can never be matched, so the rules
//! are several and unioned, each tolerant of a different kind of damage:
//!
//! | rule | key | survives |
//! |---|---|---|
//! | [`Rule::Identifier`] | any blind index (mobile, email, ID document, WeChat) | every name and address change |
//! | [`Rule::NameSound`] | phonetic keys of the two name parts, unordered | typos that keep the sound, swapped given/family |
//! | [`Rule::FamilyYear`] | phonetic family name + year of birth | given-name typos and nicknames |
//! | [`Rule::GivenPostcode`] | phonetic given name + postcode | family-name typos, marriage |
//! | [`Rule::Dob`] | date of birth | any name damage |
//! | [`Rule::CompanyInitial`] | company key + first character of the name | name typos inside a company |
//! | [`Rule::SortedName`] | sorted neighbourhood on the name key, forwards and reversed | a typo anywhere but both ends |
//!
//! The phonetic key is American Soundex for Latin names; a CJK name's key is its characters
//! (no pinyin table is carried, see the [module docs](super)).
//!
//! **Block-size cap.** A block larger than [`Blocking::max_block`] (a common name, a shared
//! company switchboard) would cost its square. It is not dropped: its records are sorted by
//! name key and each is paired with its next [`Blocking::window`] neighbours only (a sorted
//! neighbourhood inside the block), and the block is counted in
//! [`BlockingStats::capped_blocks`]. Recall inside such a block then rests on that window and
//! on the other rules.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::compare::Field;
use super::{is_cjk, Record};

/// A blocking rule (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Same blind index of any identifier.
    Identifier,
    /// Same phonetic keys of the two name parts, in either order.
    NameSound,
    /// Same phonetic family name and year of birth.
    FamilyYear,
    /// Same phonetic given name and postcode.
    GivenPostcode,
    /// Same date of birth.
    Dob,
    /// Same company key and first character of the name key.
    CompanyInitial,
    /// Sorted neighbourhood on the name key (forwards and reversed).
    SortedName,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 7] = [
        Rule::Identifier,
        Rule::NameSound,
        Rule::FamilyYear,
        Rule::GivenPostcode,
        Rule::Dob,
        Rule::CompanyInitial,
        Rule::SortedName,
    ];

    /// The fields whose agreement the rule forces or makes likely: they take no part in the
    /// rule's EM session (see [`estimate`](super::estimate)). A postcode also fixes the region
    /// and much of the address; a Chinese company name usually carries its city.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Rule::Identifier => &[
                Field::Mobile,
                Field::Email,
                Field::IdDocument,
                Field::Wechat,
            ],
            Rule::NameSound | Rule::SortedName => &[Field::Name],
            Rule::FamilyYear => &[Field::Name, Field::Dob],
            Rule::GivenPostcode => &[Field::Name, Field::Postcode, Field::Region, Field::Address],
            Rule::Dob => &[Field::Dob],
            Rule::CompanyInitial => &[
                Field::Company,
                Field::Name,
                Field::Region,
                Field::CompanyCode,
            ],
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Identifier => "identifier",
            Rule::NameSound => "name_sound",
            Rule::FamilyYear => "family_year",
            Rule::GivenPostcode => "given_postcode",
            Rule::Dob => "dob",
            Rule::CompanyInitial => "company_initial",
            Rule::SortedName => "sorted_name",
        }
    }
}

/// Blocking settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Blocking {
    /// The rules, unioned.
    pub rules: Vec<Rule>,
    /// Largest block compared in full; larger ones fall back to a sorted neighbourhood.
    pub max_block: usize,
    /// Neighbours each record is paired with in a sorted neighbourhood.
    pub window: usize,
}

impl Default for Blocking {
    /// Every rule, blocks of up to 64, a window of 4.
    fn default() -> Blocking {
        Blocking {
            rules: Rule::ALL.to_vec(),
            max_block: 64,
            window: 4,
        }
    }
}

/// What blocking produced, per rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockingStats {
    /// Pairs each rule generated (before the union), in `rules` order.
    pub pairs_per_rule: Vec<(Rule, usize)>,
    /// Blocks over the cap, compared through the sorted-neighbourhood fallback.
    pub capped_blocks: usize,
    /// Distinct pairs after the union.
    pub pairs: usize,
}

fn fnv(tag: u64, chars: impl Iterator<Item = char>) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ tag.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for c in chars {
        h = (h ^ u64::from(c as u32)).wrapping_mul(0x0100_0000_01b3);
    }
    marketingforce_core::id::splitmix64(h)
}

/// The phonetic key of a name part: American Soundex (letter + three digits) for Latin text;
/// the characters themselves for CJK (and anything else without a Latin letter first).
pub fn sound(s: &str) -> u64 {
    let Some(first) = s.chars().next() else {
        return 0;
    };
    if is_cjk(first) || !first.is_ascii_alphabetic() {
        return fnv(11, s.chars());
    }
    let code = |c: char| match c.to_ascii_lowercase() {
        'b' | 'f' | 'p' | 'v' => b'1',
        'c' | 'g' | 'j' | 'k' | 'q' | 's' | 'x' | 'z' => b'2',
        'd' | 't' => b'3',
        'l' => b'4',
        'm' | 'n' => b'5',
        'r' => b'6',
        'h' | 'w' => b'h',
        _ => b'0',
    };
    let mut out = [first.to_ascii_uppercase() as u8, b'0', b'0', b'0'];
    let mut n = 1;
    let mut last = code(first);
    for c in s.chars().skip(1).filter(char::is_ascii_alphabetic) {
        let d = code(c);
        if d == b'h' {
            continue; // h and w do not separate equal codes
        }
        if d != b'0' && d != last {
            out[n] = d;
            n += 1;
            if n == 4 {
                break;
            }
        }
        last = d;
    }
    fnv(12, out.iter().map(|&b| char::from(b)))
}

/// The (given, family) parts of a record for phonetic keys: the parts when known, else a
/// whole CJK name split after its first character; a whole Latin name is one part.
fn parts(r: &Record) -> (Option<&str>, Option<&str>) {
    match (&r.given, &r.family, &r.full_name) {
        (g, f, _) if g.is_some() || f.is_some() => (g.as_deref(), f.as_deref()),
        (_, _, Some(n)) => match n.char_indices().nth(1) {
            Some((i, _)) if n.starts_with(is_cjk) => (Some(&n[i..]), Some(&n[..i])),
            _ => (Some(&**n), None),
        },
        _ => (None, None),
    }
}

/// The blocking keys `rule` gives `r`, appended to `out` (none for [`Rule::SortedName`],
/// which is not keyed). Keys of different rules never collide.
pub fn block_keys(rule: Rule, r: &Record, out: &mut Vec<u64>) {
    keys(rule, r, out);
}

fn keys(rule: Rule, r: &Record, out: &mut Vec<u64>) {
    let tag = rule as u64 + 1;
    let mix = |a: u64, b: u64| marketingforce_core::id::splitmix64(a ^ b.rotate_left(17) ^ tag);
    match rule {
        Rule::Identifier => {
            for (i, v) in [r.mobile, r.email, r.id_document, r.wechat]
                .into_iter()
                .enumerate()
            {
                if let Some(v) = v {
                    out.push(mix(v as u64 ^ (v >> 64) as u64, i as u64 + 100));
                }
            }
        }
        Rule::NameSound => {
            let (g, f) = parts(r);
            let (a, b) = (g.map_or(0, sound), f.map_or(0, sound));
            if a != 0 || b != 0 {
                out.push(mix(a.min(b), a.max(b)));
            }
        }
        Rule::FamilyYear => {
            if let ((_, Some(f)), Some(y)) = (parts(r), r.birth_year()) {
                out.push(mix(sound(f), y as u64));
            }
        }
        Rule::GivenPostcode => {
            if let ((Some(g), _), Some(p)) = (parts(r), &r.postcode) {
                out.push(mix(sound(g), fnv(13, p.chars())));
            }
        }
        Rule::Dob => {
            if let Some(d) = r.dob {
                out.push(mix(
                    u64::from(chrono::Datelike::num_days_from_ce(&d).unsigned_abs()),
                    14,
                ));
            }
        }
        Rule::CompanyInitial => {
            if let (Some(c), Some(n)) = (&r.company, r.name_key()) {
                if let Some(first) = n.chars().next() {
                    out.push(mix(fnv(15, c.chars()), u64::from(u32::from(first))));
                }
            }
        }
        Rule::SortedName => {}
    }
}

/// Pairs `(i, j)` with `i < j`, packed in a `u64` for sorting.
fn pack(a: u32, b: u32) -> u64 {
    let (x, y) = if a < b { (a, b) } else { (b, a) };
    (u64::from(x) << 32) | u64::from(y)
}

/// Unpack a pair made by the candidate generator.
fn unpack(p: u64) -> (u32, u32) {
    ((p >> 32) as u32, p as u32)
}

fn neighbourhood(ids: &mut [(Box<str>, u32)], window: usize, out: &mut Vec<u64>) {
    ids.sort_unstable();
    for i in 0..ids.len() {
        for j in i + 1..ids.len().min(i + 1 + window) {
            out.push(pack(ids[i].1, ids[j].1));
        }
    }
}

impl Blocking {
    /// The pairs one rule generates, and the number of capped blocks.
    pub fn rule_pairs(&self, rule: Rule, records: &[Record]) -> (Vec<(u32, u32)>, usize) {
        let mut out = Vec::new();
        let capped = self.rule_packed(rule, records, &mut out);
        out.sort_unstable();
        out.dedup();
        (out.into_iter().map(unpack).collect(), capped)
    }

    fn rule_packed(&self, rule: Rule, records: &[Record], out: &mut Vec<u64>) -> usize {
        let name_of = |i: u32| -> Box<str> {
            records
                .get(i as usize)
                .and_then(Record::name_key)
                .map(|k| k.into_owned().into_boxed_str())
                .unwrap_or_default()
        };
        if rule == Rule::SortedName {
            let mut fwd: Vec<(Box<str>, u32)> = Vec::with_capacity(records.len());
            let mut rev: Vec<(Box<str>, u32)> = Vec::with_capacity(records.len());
            for (i, r) in records.iter().enumerate() {
                if let Some(k) = r.name_key() {
                    rev.push((k.chars().rev().collect::<String>().into(), i as u32));
                    fwd.push((k.into_owned().into_boxed_str(), i as u32));
                }
            }
            neighbourhood(&mut fwd, self.window, out);
            neighbourhood(&mut rev, self.window, out);
            return 0;
        }
        let mut blocks: HashMap<u64, Vec<u32>> = HashMap::new();
        let mut ks = Vec::new();
        for (i, r) in records.iter().enumerate() {
            ks.clear();
            keys(rule, r, &mut ks);
            for &k in &ks {
                blocks.entry(k).or_default().push(i as u32);
            }
        }
        let mut capped = 0;
        for ids in blocks.values() {
            if ids.len() <= self.max_block.max(1) {
                for (x, &a) in ids.iter().enumerate() {
                    for &b in &ids[x + 1..] {
                        if a != b {
                            out.push(pack(a, b));
                        }
                    }
                }
            } else {
                capped += 1;
                let mut named: Vec<(Box<str>, u32)> =
                    ids.iter().map(|&i| (name_of(i), i)).collect();
                neighbourhood(&mut named, self.window, out);
            }
        }
        capped
    }

    /// The candidate pairs of all rules unioned, with which rules found each.
    pub fn candidates(&self, records: &[Record]) -> Candidates {
        let mut tagged: Vec<(u64, u16)> = Vec::new();
        let mut buf = Vec::new();
        let mut stats = BlockingStats::default();
        for (bit, &rule) in self.rules.iter().enumerate().take(16) {
            buf.clear();
            stats.capped_blocks += self.rule_packed(rule, records, &mut buf);
            buf.sort_unstable();
            buf.dedup();
            stats.pairs_per_rule.push((rule, buf.len()));
            tagged.extend(buf.iter().map(|&p| (p, 1u16 << bit)));
        }
        tagged.sort_unstable_by_key(|t| t.0);
        let mut pairs = Vec::with_capacity(tagged.len());
        let mut rule_bits: Vec<u16> = Vec::with_capacity(tagged.len());
        let mut last = None;
        for (p, bit) in tagged {
            if last == Some(p) {
                if let Some(b) = rule_bits.last_mut() {
                    *b |= bit;
                }
            } else {
                pairs.push(unpack(p));
                rule_bits.push(bit);
                last = Some(p);
            }
        }
        stats.pairs = pairs.len();
        Candidates {
            pairs,
            rule_bits,
            stats,
        }
    }
}

/// The union of the rules' candidate pairs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidates {
    /// Pairs `(i, j)` with `i < j`, sorted, unique.
    pub pairs: Vec<(u32, u32)>,
    /// For each pair, bit `k` set when `Blocking::rules[k]` generated it (the first 16 rules).
    pub rule_bits: Vec<u16>,
    /// Per-rule counts.
    pub stats: BlockingStats,
}

/// Candidate-pair recall against labels: how many of the true pairs (records with the same
/// label) blocking lets through.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairRecall {
    /// True pairs among the candidates.
    pub found: u64,
    /// True pairs in the data.
    pub total: u64,
    /// `found / total` (1 when there are none).
    pub recall: f64,
}

/// The candidate-pair recall of `pairs` when record `i` truly belongs to `labels[i]`.
pub fn pair_recall<L: std::hash::Hash + Eq>(pairs: &[(u32, u32)], labels: &[L]) -> PairRecall {
    let mut sizes: HashMap<&L, u64> = HashMap::new();
    for l in labels {
        *sizes.entry(l).or_default() += 1;
    }
    let total: u64 = sizes.values().map(|&n| n * n.saturating_sub(1) / 2).sum();
    let found = pairs
        .iter()
        .filter(|(a, b)| {
            a != b
                && matches!((labels.get(*a as usize), labels.get(*b as usize)), (Some(x), Some(y)) if x == y)
        })
        .count() as u64;
    PairRecall {
        found,
        total,
        recall: if total == 0 {
            1.0
        } else {
            found as f64 / total as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soundex_tolerates_typos_that_keep_the_sound() {
        assert_eq!(sound("lachlan"), sound("lachlnn"));
        assert_eq!(sound("robert"), sound("rupert"));
        assert_eq!(sound("ashcraft"), sound("ashcroft"));
        assert_ne!(sound("lachlan"), sound("mitchell"));
        assert_ne!(sound("张"), sound("李"));
        assert_eq!(sound(""), 0);
    }

    fn people() -> Vec<Record> {
        vec![
            Record::new()
                .given("lachlan")
                .family("reid")
                .dob_ymd(1984, 3, 12)
                .postcode("2600"),
            Record::new()
                .given("lachlnn")
                .family("reid")
                .dob_ymd(1984, 3, 12)
                .postcode("2600"),
            Record::new()
                .given("reid")
                .family("lachlan")
                .dob_ymd(1984, 3, 12),
            Record::new()
                .given("sophie")
                .family("mitchell")
                .dob_ymd(1991, 7, 2)
                .postcode("3000"),
            Record::new().full_name("张伟").company("某某机械"),
            Record::new().full_name("张玮").company("某某机械"),
        ]
    }

    #[test]
    fn rules_find_the_typo_swap_and_cjk_pairs() {
        let r = people();
        let b = Blocking::default();
        let (sound_pairs, _) = b.rule_pairs(Rule::NameSound, &r);
        assert!(sound_pairs.contains(&(0, 1)), "typo keeps the sound");
        assert!(sound_pairs.contains(&(0, 2)), "swap: unordered parts");
        let (company, _) = b.rule_pairs(Rule::CompanyInitial, &r);
        assert_eq!(company, vec![(4, 5)]);
        let c = b.candidates(&r);
        let all = &c.pairs;
        let labels = [1, 1, 1, 2, 3, 3];
        let pr = pair_recall(all, &labels);
        assert_eq!((pr.found, pr.total), (4, 4));
        assert_eq!(c.stats.pairs, all.len());
        assert_eq!(c.rule_bits.len(), all.len());
        // (4, 5) came from company_initial (bit 5) and the sorted neighbourhood (bit 6).
        let at = all.iter().position(|p| *p == (4, 5)).unwrap();
        assert_eq!(c.rule_bits[at] & (1 << 5), 1 << 5);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert!(all.iter().all(|(a, b)| a < b));
    }

    #[test]
    fn oversized_blocks_fall_back_to_a_window() {
        // 200 people born the same day: one block of 200 under `Dob`.
        let r: Vec<Record> = (0..200)
            .map(|i| {
                Record::new()
                    .given(&format!("g{i:03}"))
                    .family("x")
                    .dob_ymd(1980, 1, 1)
            })
            .collect();
        let b = Blocking {
            rules: vec![Rule::Dob],
            max_block: 50,
            window: 3,
        };
        let c = b.candidates(&r);
        let (pairs, stats) = (c.pairs, c.stats);
        assert_eq!(stats.capped_blocks, 1);
        // 197 records with 3 neighbours, then 2 + 1.
        assert_eq!(pairs.len(), 197 * 3 + 2 + 1);
        let uncapped = Blocking {
            max_block: 1_000,
            ..b
        };
        assert_eq!(uncapped.candidates(&r).pairs.len(), 200 * 199 / 2);
    }

    #[test]
    fn pair_recall_counts_true_pairs() {
        let labels = ["a", "a", "a", "b"];
        let pr = pair_recall(&[(0, 1), (1, 3)], &labels);
        assert_eq!((pr.found, pr.total), (1, 3));
        assert!((pr.recall - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(pair_recall::<u8>(&[], &[]).recall, 1.0);
    }
}
