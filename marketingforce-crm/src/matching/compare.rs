//! Comparison levels: what each field of a pair of [`Record`]s says, as a small level index.
//!
//! Level 0 of every field is *null* (either side missing): it carries no evidence and
//! contributes 0 to the match weight. The other levels run from strongest agreement to
//! disagreement; the first that applies is taken. The defaults are the starting point of
//! estimation and what a tenant with too little data uses ([`Field::default_m`],
//! [`Field::default_u`]).
//!
//! | field | levels after null |
//! |---|---|
//! | `name` | `exact`, `swapped` (given ↔ family, each part exact or one edit away), `edit1` (one insertion, deletion, substitution or adjacent transposition; 3+ characters), `jw_0.92`, `family_exact`, `jw_0.80`, `else` |
//! | `dob` | `exact`, `edit1` (one digit of YYYYMMDD, or day and month swapped), `within_1y`, `else` |
//! | `postcode` | `exact`, `prefix3`, `else` |
//! | `address` | `exact` (same tokens), `overlap_0.6` (Jaccard of tokens, and the numbers agree), `overlap_0.3`, `else` |
//! | `region`, `mobile`, `email`, `id_document`, `wechat`, `company_code` | `exact`, `else` |
//! | `company` | `exact`, `jw_0.92`, `jw_0.80`, `else` |
//!
//! Identifiers are compared on their blind indexes, so only equality can be seen — by design:
//! a keyed MAC reveals nothing about near misses.

use chrono::Datelike;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{is_cjk, Record};
use crate::dedupe::jaro_winkler_chars;

/// A compared field.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Person name (given and family, or the whole name).
    Name,
    /// Date of birth.
    Dob,
    /// Postcode.
    Postcode,
    /// Address.
    Address,
    /// Region (province or city).
    Region,
    /// Company.
    Company,
    /// Mobile (blind index).
    Mobile,
    /// Email (blind index).
    Email,
    /// ID document number (blind index).
    IdDocument,
    /// WeChat unionid / WeCom id (blind index).
    Wechat,
    /// Company registration code (blind index).
    CompanyCode,
}

/// Number of compared fields.
pub const N_FIELDS: usize = 11;

/// Every compared field, in the order of a [`Levels`] vector.
pub const FIELDS: [Field; N_FIELDS] = [
    Field::Name,
    Field::Dob,
    Field::Postcode,
    Field::Address,
    Field::Region,
    Field::Company,
    Field::Mobile,
    Field::Email,
    Field::IdDocument,
    Field::Wechat,
    Field::CompanyCode,
];

/// The comparison vector of a pair: one level index per field, in [`FIELDS`] order.
pub type Levels = [u8; N_FIELDS];

/// The most levels a field has (null included).
pub const MAX_LEVELS: usize = 8;

const EXACT_ONLY: &[&str] = &["null", "exact", "else"];

impl Field {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Dob => "dob",
            Field::Postcode => "postcode",
            Field::Address => "address",
            Field::Region => "region",
            Field::Company => "company",
            Field::Mobile => "mobile",
            Field::Email => "email",
            Field::IdDocument => "id_document",
            Field::Wechat => "wechat",
            Field::CompanyCode => "company_code",
        }
    }

    /// Position in [`FIELDS`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The level labels, null first.
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Field::Name => &[
                "null",
                "exact",
                "swapped",
                "edit1",
                "jw_0.92",
                "family_exact",
                "jw_0.80",
                "else",
            ],
            Field::Dob => &["null", "exact", "edit1", "within_1y", "else"],
            Field::Postcode => &["null", "exact", "prefix3", "else"],
            Field::Address => &["null", "exact", "overlap_0.6", "overlap_0.3", "else"],
            Field::Company => &["null", "exact", "jw_0.92", "jw_0.80", "else"],
            Field::Region
            | Field::Mobile
            | Field::Email
            | Field::IdDocument
            | Field::Wechat
            | Field::CompanyCode => EXACT_ONLY,
        }
    }

    /// Default `m` per non-null level (index 0 is unused and 0): used before estimation and
    /// when a tenant has too little data. Chosen from the literature's usual figures: an
    /// identifier agrees for ~95% of true matches, a name exactly for ~70%.
    pub fn default_m(self) -> &'static [f64] {
        match self {
            Field::Name => &[0.0, 0.70, 0.03, 0.08, 0.06, 0.05, 0.04, 0.04],
            Field::Dob => &[0.0, 0.85, 0.08, 0.03, 0.04],
            Field::Postcode => &[0.0, 0.85, 0.07, 0.08],
            Field::Address => &[0.0, 0.60, 0.20, 0.10, 0.10],
            Field::Region => &[0.0, 0.90, 0.10],
            Field::Company => &[0.0, 0.75, 0.10, 0.05, 0.10],
            Field::Mobile => &[0.0, 0.95, 0.05],
            Field::Email => &[0.0, 0.90, 0.10],
            Field::IdDocument => &[0.0, 0.97, 0.03],
            Field::Wechat => &[0.0, 0.95, 0.05],
            Field::CompanyCode => &[0.0, 0.80, 0.20],
        }
    }

    /// Default `u` per non-null level (index 0 unused): how often two different people agree
    /// by chance (a date of birth ~1/20,000, a region ~1/10, colleagues share a company code).
    pub fn default_u(self) -> &'static [f64] {
        match self {
            Field::Name => &[0.0, 0.0005, 0.000_02, 0.0002, 0.001, 0.01, 0.02, 0.968_28],
            Field::Dob => &[0.0, 0.0001, 0.0005, 0.02, 0.9794],
            Field::Postcode => &[0.0, 0.005, 0.03, 0.965],
            Field::Address => &[0.0, 0.0005, 0.002, 0.02, 0.9775],
            Field::Region => &[0.0, 0.10, 0.90],
            Field::Company => &[0.0, 0.001, 0.002, 0.01, 0.987],
            Field::Mobile | Field::Email | Field::IdDocument | Field::Wechat => {
                &[0.0, 0.000_01, 0.999_99]
            }
            Field::CompanyCode => &[0.0, 0.01, 0.99],
        }
    }
}

/// Compare two records field by field.
pub fn compare(a: &Record, b: &Record) -> Levels {
    let (ka, kb) = (a.name_key(), b.name_key());
    let (na, nb) = (Chars::of(ka.as_deref()), Chars::of(kb.as_deref()));
    let (ca, cb) = (
        Chars::of(a.company.as_deref()),
        Chars::of(b.company.as_deref()),
    );
    compare_views(
        &View::of(a, ka.as_deref(), na.as_slice(), ca.as_slice()),
        &View::of(b, kb.as_deref(), nb.as_slice(), cb.as_slice()),
    )
}

/// A record with the features its comparisons need computed once: the whole-name key
/// ([`Record::name_key`]) and the characters of the name and company keys. [`compare_prepared`]
/// of two prepared records gives exactly what [`compare`] gives of the records, without
/// allocating or normalising again — for a record compared many times. (The dedupe engine
/// keeps its members packed smaller still, and compares them the same way.)
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prepared {
    record: Record,
    key: Option<Box<str>>,
    /// The name key's characters, then the company key's.
    chars: Box<[char]>,
    name_len: usize,
}

impl Prepared {
    /// Prepare a record.
    pub fn new(record: Record) -> Prepared {
        let key: Option<Box<str>> = record.name_key().map(|k| Box::from(&*k));
        let mut chars: Vec<char> = key.as_deref().unwrap_or("").chars().collect();
        let name_len = chars.len();
        chars.extend(record.company.as_deref().unwrap_or("").chars());
        Prepared {
            record,
            key,
            chars: chars.into_boxed_slice(),
            name_len,
        }
    }

    /// The record.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Its whole-name key ([`Record::name_key`]).
    pub fn name_key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The characters of its company key (empty without one).
    pub fn company_chars(&self) -> &[char] {
        self.chars.get(self.name_len..).unwrap_or(&[])
    }

    fn view(&self) -> View<'_> {
        let (name, company) = self.chars.split_at(self.name_len.min(self.chars.len()));
        View::of(&self.record, self.key.as_deref(), name, company)
    }
}

/// [`compare`] of two prepared records (the same levels).
pub fn compare_prepared(a: &Prepared, b: &Prepared) -> Levels {
    compare_views(&a.view(), &b.view())
}

/// The text fields of a [`Packed`] record, in the order they are kept.
const PACKED_TEXT: usize = 7;
/// The identifiers of a [`Packed`] record: mobile, email, ID document, WeChat, company code.
const PACKED_IDS: usize = 5;

/// A record as the dedupe engine keeps a member's: its text (given and family name, whole
/// name, postcode, region, company and a name key joined from parts) in one allocation, its
/// identifiers inline without 16-byte alignment, and no character buffers (a member is
/// compared about once per capture: its characters are decoded on the stack then). A
/// [`Record`] holds up to seven strings in allocations of their own and its identifiers in
/// 32-byte options; this holds the same values in about half the memory, and compares
/// exactly as the record it was made from ([`compare_packed`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Packed {
    text: Box<str>,
    /// The end of each text field in `text` (each starts where the previous ends).
    ends: [u32; PACKED_TEXT],
    /// Bit `i < 7`: text field `i` present; bit `7 + j`: identifier `j` present.
    present: u16,
    ids: [[u64; 2]; PACKED_IDS],
    dob: Option<chrono::NaiveDate>,
    address: Option<Box<[u64]>>,
}

fn split_mac(v: u128) -> [u64; 2] {
    [v as u64, (v >> 64) as u64]
}

fn join_mac([lo, hi]: [u64; 2]) -> u128 {
    u128::from(lo) | u128::from(hi) << 64
}

impl Packed {
    /// Pack a record (its text is copied into one allocation).
    pub(crate) fn of(p: &Borrowed<'_>) -> Packed {
        let r = p.record;
        // The joined name key is kept only when it is not one of the parts or the whole name.
        let joined = if r.full_name.is_none() && r.given.is_some() && r.family.is_some() {
            p.key.as_deref()
        } else {
            None
        };
        let fields = [
            r.given.as_deref(),
            r.family.as_deref(),
            r.full_name.as_deref(),
            r.postcode.as_deref(),
            r.region.as_deref(),
            r.company.as_deref(),
            joined,
        ];
        let mut text = String::with_capacity(fields.iter().flatten().map(|f| f.len()).sum());
        let mut ends = [0u32; PACKED_TEXT];
        let mut present = 0u16;
        for (i, f) in fields.iter().enumerate() {
            if let Some(f) = f {
                text.push_str(f);
                present |= 1 << i;
            }
            ends[i] = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        let mut ids = [[0u64; 2]; PACKED_IDS];
        for (j, v) in [r.mobile, r.email, r.id_document, r.wechat, r.company_code]
            .into_iter()
            .enumerate()
        {
            if let Some(v) = v {
                ids[j] = split_mac(v);
                present |= 1 << (PACKED_TEXT + j);
            }
        }
        Packed {
            text: text.into_boxed_str(),
            ends,
            present,
            ids,
            dob: r.dob,
            address: r.address.clone(),
        }
    }

    fn text(&self, i: usize) -> Option<&str> {
        if self.present >> i & 1 == 0 {
            return None;
        }
        let start = i.checked_sub(1).map_or(0, |j| self.ends[j]) as usize;
        self.text.get(start..self.ends[i] as usize)
    }

    fn id(&self, j: usize) -> Option<u128> {
        (self.present >> (PACKED_TEXT + j) & 1 == 1).then(|| join_mac(self.ids[j]))
    }

    /// The blind index of the mobile.
    pub(crate) fn mobile(&self) -> Option<u128> {
        self.id(0)
    }

    /// Its whole-name key, as [`Record::name_key`] gives it.
    pub(crate) fn name_key(&self) -> Option<&str> {
        self.text(2)
            .or_else(|| self.text(6))
            .or_else(|| self.text(0))
            .or_else(|| self.text(1))
    }

    /// Whether it holds exactly the values of `r`.
    pub(crate) fn holds(&self, r: &Record) -> bool {
        self.text(0) == r.given.as_deref()
            && self.text(1) == r.family.as_deref()
            && self.text(2) == r.full_name.as_deref()
            && self.text(3) == r.postcode.as_deref()
            && self.text(4) == r.region.as_deref()
            && self.text(5) == r.company.as_deref()
            && self.dob == r.dob
            && self.address.as_deref() == r.address.as_deref()
            && [r.mobile, r.email, r.id_document, r.wechat, r.company_code]
                .into_iter()
                .enumerate()
                .all(|(j, v)| self.id(j) == v)
    }
}

/// [`compare`] of a borrowed record and a packed one (the same levels as of the records).
pub(crate) fn compare_packed(a: &Borrowed<'_>, b: &Packed) -> Levels {
    let key = b.name_key();
    let (name, company) = (Chars::of(key), Chars::of(b.text(5)));
    let vb = View {
        given: b.text(0),
        family: b.text(1),
        dob: b.dob,
        postcode: b.text(3),
        address: b.address.as_deref(),
        region: b.text(4),
        company: b.text(5),
        ids: std::array::from_fn(|j| b.id(j)),
        key,
        name: name.as_slice(),
        company_chars: company.as_slice(),
    };
    compare_views(&a.view(), &vb)
}

/// A record borrowed with the features its comparisons need computed once, on the stack:
/// [`Prepared`] without a copy of the record (the dedupe engine's view of a capture).
pub(crate) struct Borrowed<'a> {
    record: &'a Record,
    key: Option<std::borrow::Cow<'a, str>>,
    name: Chars,
    company: Chars,
}

impl<'a> Borrowed<'a> {
    /// Borrow and prepare a record.
    pub(crate) fn new(record: &'a Record) -> Borrowed<'a> {
        let key = record.name_key();
        Borrowed {
            name: Chars::of(key.as_deref()),
            company: Chars::of(record.company.as_deref()),
            record,
            key,
        }
    }

    /// The record.
    pub(crate) fn record(&self) -> &'a Record {
        self.record
    }

    /// Its whole-name key ([`Record::name_key`]).
    pub(crate) fn name_key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The characters of its company key (empty without one).
    pub(crate) fn company_chars(&self) -> &[char] {
        self.company.as_slice()
    }

    fn view(&self) -> View<'_> {
        View::of(
            self.record,
            self.key.as_deref(),
            self.name.as_slice(),
            self.company.as_slice(),
        )
    }
}

/// The characters of a string, on the stack up to 64.
struct Chars {
    buf: [char; 64],
    len: usize,
    heap: Vec<char>,
}

impl Chars {
    fn of(s: Option<&str>) -> Chars {
        let mut c = Chars {
            buf: ['\0'; 64],
            len: 0,
            heap: Vec::new(),
        };
        for ch in s.unwrap_or("").chars() {
            if c.len == 64 {
                c.heap = s.unwrap_or("").chars().collect();
                break;
            }
            c.buf[c.len] = ch;
            c.len += 1;
        }
        c
    }

    fn as_slice(&self) -> &[char] {
        if self.heap.is_empty() {
            &self.buf[..self.len]
        } else {
            &self.heap
        }
    }
}

/// What a comparison reads of one record: its fields, its name key and the characters of the
/// name and company keys.
struct View<'a> {
    given: Option<&'a str>,
    family: Option<&'a str>,
    dob: Option<chrono::NaiveDate>,
    postcode: Option<&'a str>,
    address: Option<&'a [u64]>,
    region: Option<&'a str>,
    company: Option<&'a str>,
    /// Mobile, email, ID document, WeChat, company code.
    ids: [Option<u128>; PACKED_IDS],
    key: Option<&'a str>,
    name: &'a [char],
    company_chars: &'a [char],
}

impl<'a> View<'a> {
    fn of(r: &'a Record, key: Option<&'a str>, name: &'a [char], company: &'a [char]) -> Self {
        View {
            given: r.given.as_deref(),
            family: r.family.as_deref(),
            dob: r.dob,
            postcode: r.postcode.as_deref(),
            address: r.address.as_deref(),
            region: r.region.as_deref(),
            company: r.company.as_deref(),
            ids: [r.mobile, r.email, r.id_document, r.wechat, r.company_code],
            key,
            name,
            company_chars: company,
        }
    }
}

/// Jaro–Winkler of two keys given as characters (the strings for the long-key fallback).
fn jw(a: &[char], b: &[char], sa: &str, sb: &str) -> f64 {
    if a.len() > 64 || b.len() > 64 {
        strsim::jaro_winkler(sa, sb)
    } else {
        jaro_winkler_chars(a, b)
    }
}

fn compare_views(a: &View<'_>, b: &View<'_>) -> Levels {
    let mut l = [0u8; N_FIELDS];
    l[Field::Name.index()] = name(a, b);
    l[Field::Dob.index()] = match (a.dob, b.dob) {
        (Some(x), Some(y)) => dob(x, y),
        _ => 0,
    };
    l[Field::Postcode.index()] = match (a.postcode, b.postcode) {
        (Some(x), Some(y)) => postcode(x, y),
        _ => 0,
    };
    l[Field::Address.index()] = match (a.address, b.address) {
        (Some(x), Some(y)) => address(x, y),
        _ => 0,
    };
    l[Field::Region.index()] = exact(a.region, b.region);
    l[Field::Company.index()] = match (a.company, b.company) {
        (Some(x), Some(y)) => {
            if x == y {
                1
            } else {
                let jw = jw(a.company_chars, b.company_chars, x, y);
                if jw >= 0.92 {
                    2
                } else if jw >= 0.80 {
                    3
                } else {
                    4
                }
            }
        }
        _ => 0,
    };
    for (j, f) in [
        Field::Mobile,
        Field::Email,
        Field::IdDocument,
        Field::Wechat,
        Field::CompanyCode,
    ]
    .into_iter()
    .enumerate()
    {
        l[f.index()] = exact(a.ids[j], b.ids[j]);
    }
    l
}

fn exact<T: PartialEq>(a: Option<T>, b: Option<T>) -> u8 {
    match (a, b) {
        (Some(x), Some(y)) if x == y => 1,
        (Some(_), Some(_)) => 2,
        _ => 0,
    }
}

fn name(va: &View<'_>, vb: &View<'_>) -> u8 {
    if let (Some(ga), Some(fa), Some(gb), Some(fb)) = (va.given, va.family, vb.given, vb.family) {
        if ga == gb && fa == fb {
            return 1;
        }
        if cross_match(ga, fb) && cross_match(fa, gb) {
            return 2;
        }
    }
    let (Some(ka), Some(kb)) = (va.key, vb.key) else {
        return 0;
    };
    if ka == kb {
        return 1;
    }
    // One side in parts, the other whole (or in parts the other way round).
    if swapped_whole(va, kb) || swapped_whole(vb, ka) {
        return 2;
    }
    // Characters: for ASCII keys the same as bytes.
    let (ca, cb) = (va.name, vb.name);
    if ca.len().min(cb.len()) >= 3 && within_one_edit(ca, cb) {
        return 3;
    }
    let jw = jw(ca, cb, ka, kb);
    if jw >= 0.92 {
        return 4;
    }
    let family_exact = match (va.family, vb.family) {
        (Some(x), Some(y)) => x == y,
        // Whole Chinese names: the first character is the family name (two-character family
        // names agree on it too).
        _ => {
            let (fa, fb) = (ca.first(), cb.first());
            fa.is_some_and(|c| is_cjk(*c)) && fa == fb
        }
    };
    if family_exact {
        5
    } else if jw >= 0.80 {
        6
    } else {
        7
    }
}

/// Whether two name parts agree for the `swapped` level: equal, or one edit apart when both
/// have three characters or more.
fn cross_match(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return a.len().min(b.len()) >= 3 && within_one_edit(a.as_bytes(), b.as_bytes());
    }
    let (ca, cb): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    ca.len().min(cb.len()) >= 3 && within_one_edit(&ca, &cb)
}

/// Whether `other` is `r`'s parts joined in the opposite order to its [`Record::name_key`].
fn swapped_whole(r: &View<'_>, other: &str) -> bool {
    let (Some(g), Some(f)) = (r.given, r.family) else {
        return false;
    };
    let cjk = f.chars().next().is_some_and(is_cjk);
    let (first, second) = if cjk { (g, f) } else { (f, g) };
    other.len() == first.len() + second.len() && other.starts_with(first) && other.ends_with(second)
}

/// Whether `a` and `b` are at most one edit apart: one insertion, deletion, substitution or
/// transposition of adjacent characters (optimal string alignment distance ≤ 1).
pub fn within_one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.len() - short.len() {
        0 => {
            let Some(i) = (0..short.len()).find(|&i| short[i] != long[i]) else {
                return true;
            };
            if short[i + 1..] == long[i + 1..] {
                return true;
            }
            i + 1 < short.len()
                && short[i] == long[i + 1]
                && short[i + 1] == long[i]
                && short[i + 2..] == long[i + 2..]
        }
        1 => {
            let i = (0..short.len())
                .find(|&i| short[i] != long[i])
                .unwrap_or(short.len());
            short[i..] == long[i + 1..]
        }
        _ => false,
    }
}

fn dob(x: chrono::NaiveDate, y: chrono::NaiveDate) -> u8 {
    if x == y {
        return 1;
    }
    // YYYYMMDD as eight digits (years outside 0-9999 wrap, which only affects `edit1`).
    let digits = |d: chrono::NaiveDate| {
        let v = d.year().rem_euclid(10_000) as u32 * 10_000 + d.month() * 100 + d.day();
        let mut out = [0u8; 8];
        let mut v = v;
        for o in out.iter_mut().rev() {
            *o = (v % 10) as u8;
            v /= 10;
        }
        out
    };
    let swapped = x.year() == y.year() && x.month() == y.day() && x.day() == y.month();
    if swapped || within_one_edit(&digits(x), &digits(y)) {
        return 2;
    }
    if (x - y).num_days().abs() <= 365 {
        3
    } else {
        4
    }
}

fn postcode(x: &str, y: &str) -> u8 {
    if x == y {
        1
    } else if x.len() >= 4 && y.len() >= 4 && x.get(..3) == y.get(..3) {
        2
    } else {
        3
    }
}

/// Jaccard similarity of two sorted, unique token lists.
pub fn jaccard<T: Ord>(x: &[T], y: &[T]) -> f64 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = x.len() + y.len() - both;
    if union == 0 {
        1.0
    } else {
        both as f64 / union as f64
    }
}

/// Whether the numbers of two token lists agree: those of the shorter list all appear in the
/// other (a house or room number is what tells neighbours apart).
fn numbers_agree(x: &[u64], y: &[u64]) -> bool {
    let (short, long) = if x.len() <= y.len() { (x, y) } else { (y, x) };
    short
        .iter()
        .filter(|t| **t >> 63 == 1)
        .all(|t| long.binary_search(t).is_ok())
}

fn address(x: &[u64], y: &[u64]) -> u8 {
    let j = jaccard(x, y);
    if j >= 1.0 {
        1
    } else if j >= 0.6 && numbers_agree(x, y) {
        2
    } else if j >= 0.3 {
        3
    } else {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(f: Field, a: &Record, b: &Record) -> &'static str {
        f.levels()[compare(a, b)[f.index()] as usize]
    }

    #[test]
    fn defaults_are_distributions_over_the_levels() {
        for f in FIELDS {
            let (m, u) = (f.default_m(), f.default_u());
            assert_eq!(m.len(), f.levels().len(), "{f:?}");
            assert_eq!(u.len(), f.levels().len(), "{f:?}");
            assert!(f.levels().len() <= MAX_LEVELS);
            assert!((m.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{f:?} m");
            assert!((u.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{f:?} u");
            assert_eq!(f, FIELDS[f.index()]);
        }
    }

    #[test]
    fn one_edit_covers_substitution_insertion_deletion_transposition() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        for (a, b, want) in [
            ("lachlan", "lachlnn", true),
            ("lachlan", "lachaln", true),
            ("lachlan", "lachln", true),
            ("lachlan", "lachlann", true),
            ("lachlan", "lachlan", true),
            ("martha", "marhta", true),
            ("lachlan", "lcahlnn", false),
            ("ab", "abcd", false),
            ("abcd", "badc", false),
            ("", "a", true),
        ] {
            assert_eq!(within_one_edit(&c(a), &c(b)), want, "{a} {b}");
            assert_eq!(
                within_one_edit(&c(a), &c(b)),
                strsim::osa_distance(a, b) <= 1,
                "{a} {b} vs strsim"
            );
        }
    }

    #[test]
    fn name_levels() {
        let lr = Record::new().given("Lachlan").family("Reid");
        assert_eq!(level(Field::Name, &lr, &lr.clone()), "exact");
        let typo = Record::new().given("Lachlnn").family("Reid");
        assert_eq!(level(Field::Name, &lr, &typo), "edit1");
        let swap = Record::new().given("Reid").family("Lachlan");
        assert_eq!(level(Field::Name, &lr, &swap), "swapped");
        let swap_typo = Record::new().given("Reid").family("Lachlnn");
        assert_eq!(level(Field::Name, &lr, &swap_typo), "swapped");
        let whole_swapped = Record::new().full_name("Reid Lachlan");
        assert_eq!(level(Field::Name, &lr, &whole_swapped), "swapped");
        let whole = Record::new().full_name("Lachlan Reid");
        assert_eq!(level(Field::Name, &lr, &whole), "exact");
        let nick = Record::new().given("Lockie").family("Reid");
        assert_eq!(level(Field::Name, &lr, &nick), "family_exact");
        let other = Record::new().given("Sophie").family("Mitchell");
        assert_eq!(level(Field::Name, &lr, &other), "else");
        assert_eq!(level(Field::Name, &lr, &Record::new()), "null");
        // Chinese whole names: one character away in a three-character name is edit1, a
        // different given name with the same family name is family_exact.
        let a = Record::new().full_name("欧阳建华");
        let b = Record::new().full_name("欧阳建化");
        assert_eq!(level(Field::Name, &a, &b), "edit1");
        let c = Record::new().full_name("张伟");
        let d = Record::new().full_name("张敏");
        assert_eq!(level(Field::Name, &c, &d), "family_exact");
        let e = Record::new().given("伟").family("张");
        assert_eq!(level(Field::Name, &c, &e), "exact");
    }

    #[test]
    fn other_field_levels() {
        let a = Record::new()
            .dob_ymd(1984, 3, 12)
            .postcode("2600")
            .address("12 Smith Street, Canberra")
            .region("ACT")
            .company("Acme Pty Ltd");
        let b = Record::new()
            .dob_ymd(1984, 12, 3)
            .postcode("2601")
            .address("12 Smith St, Canberra")
            .region("act")
            .company("Acme Pty Ltd");
        assert_eq!(level(Field::Dob, &a, &b), "edit1");
        assert_eq!(level(Field::Postcode, &a, &b), "prefix3");
        assert_eq!(level(Field::Address, &a, &b), "overlap_0.6");
        assert_eq!(level(Field::Region, &a, &b), "exact");
        assert_eq!(level(Field::Company, &a, &b), "exact");
        assert_eq!(level(Field::Mobile, &a, &b), "null");
        let c = Record::new().dob_ymd(1984, 9, 30).postcode("3000");
        assert_eq!(level(Field::Dob, &a, &c), "within_1y");
        // Neighbours: same street, another number.
        let n1 = Record::new().address("上海中山路12号101室");
        let n2 = Record::new().address("上海中山路14号101室");
        assert_eq!(level(Field::Address, &n1, &n2), "overlap_0.3");
        let n3 = Record::new().address("中山路12号101室");
        assert_eq!(level(Field::Address, &n1, &n3), "overlap_0.6");
        assert_eq!(level(Field::Postcode, &a, &c), "else");
        let d = Record::new().dob_ymd(1990, 1, 1);
        assert_eq!(level(Field::Dob, &a, &d), "else");
        let mut e = Record::new();
        e.mobile = Some(7);
        let mut f = Record::new();
        f.mobile = Some(8);
        assert_eq!(level(Field::Mobile, &e, &f), "else");
        assert_eq!(level(Field::Mobile, &e, &e.clone()), "exact");
    }
}
