//! Probabilistic record matching (Fellegi–Sunter), as a pure synchronous engine: records in,
//! candidate pairs, match weights and clusters out. Nothing here does I/O or sees ciphertext.
//!
//! The model is the one of Fellegi and Sunter (1969), as popularised by Splink: every field of
//! a pair of records is compared and falls into one *comparison level* (exact, one edit away,
//! similar, different, or *null* when either side is missing). Each level has two
//! probabilities:
//!
//! | | meaning | estimated from |
//! |---|---|---|
//! | `m` | P(level \| the two records are the same person) | EM over blocked candidate pairs ([`estimate`]) |
//! | `u` | P(level \| they are two different people) | random pairs of records ([`estimate`]) |
//!
//! The *match weight* of a pair is `log2(λ / (1 − λ)) + Σ log2(m / u)` over its non-null
//! levels, where `λ` is the prior probability that two random records match; a null level
//! contributes 0. The weight is a log2 Bayes factor: +10 means ~1000 : 1 in favour of a match.
//! [`weights::Weights::explain`] gives the per-field contributions (field, level, `m`, `u`,
//! weight — never the values compared), serialisable so it can be kept with a merge.
//!
//! Only a fraction of all pairs can be compared: [`blocking`] unions several typo-tolerant
//! rules (exact identifiers, phonetic name keys, date of birth and postcode keys, a sorted
//! neighbourhood) into the candidate pairs, and measures the candidate-pair recall against
//! labels ([`blocking::pair_recall`]).
//!
//! ```
//! use marketingforce_crm::matching::{Record, blocking::Blocking, estimate, weights::Weights};
//!
//! let people = [
//!     Record::new().given("Lachlan").family("Reid").dob_ymd(1984, 3, 12).postcode("2600"),
//!     Record::new().given("Lachlnn").family("Reid").dob_ymd(1984, 3, 12).postcode("2600"),
//!     Record::new().given("Sophie").family("Mitchell").dob_ymd(1991, 7, 2).postcode("3000"),
//! ];
//! // Too little data to estimate anything: the documented defaults are used.
//! let (model, _report) = estimate::train(&people, &Blocking::default(), &estimate::TrainingConfig::default());
//! let w = Weights::new(&model);
//! assert!(w.score(&people[0], &people[1]) > 10.0);
//! assert!(w.score(&people[0], &people[2]) < 0.0);
//! let why = w.explain(&people[0], &people[1]);
//! assert_eq!(why.contributions[0].field.as_str(), "name");
//! assert_eq!(why.contributions[0].level, "edit1");
//! // The explanation names fields and levels, never the values compared.
//! assert!(!serde_json::to_string(&why).unwrap().contains("lachl"));
//! ```
//!
//! **Chinese names.** Names are compared on their [`person_key`]
//! characters: a Chinese name one character away is the `edit1` level, like a Latin typo.
//! Pinyin and initials comparison would need a character-to-pinyin table (a sizeable
//! dependency) and is not done; the phonetic blocking key of a CJK name is its characters.

pub mod blocking;
pub mod compare;
pub mod estimate;
pub mod eval;
pub mod weights;

use std::fmt;

use chrono::{Datelike, NaiveDate};

use crate::identity::{company_key, person_key};
use crate::model::hidden;

pub use compare::{Field, FIELDS};

/// One record as the matcher sees it: normalised keys of the names and address, and the blind
/// indexes (keyed MACs) of the identifiers. Build it with the setters, which normalise.
/// `Debug` shows which values are present (and how many address tokens), never the values
/// (the region aside).
#[derive(Clone, Default, PartialEq)]
pub struct Record {
    /// [`person_key`] of the given name.
    pub given: Option<Box<str>>,
    /// [`person_key`] of the family name.
    pub family: Option<Box<str>>,
    /// [`person_key`] of the whole name when it was not given in parts (`张伟`).
    pub full_name: Option<Box<str>>,
    /// Date of birth.
    pub dob: Option<NaiveDate>,
    /// Postcode, letters and digits only, upper case.
    pub postcode: Option<Box<str>>,
    /// Address tokens ([`address_tokens`]): 64-bit hashes of the lower-cased words and of
    /// the character bigrams of CJK runs, the top bit set for tokens with a digit; sorted,
    /// unique. The address text itself is not kept.
    pub address: Option<Box<[u64]>>,
    /// [`person_key`] of the region.
    pub region: Option<Box<str>>,
    /// [`company_key`] of the company.
    pub company: Option<Box<str>>,
    /// Blind index of the mobile.
    pub mobile: Option<u128>,
    /// Blind index of the email.
    pub email: Option<u128>,
    /// Blind index of the ID document number.
    pub id_document: Option<u128>,
    /// Blind index of the WeChat unionid (or WeCom external id).
    pub wechat: Option<u128>,
    /// Blind index of the company registration code.
    pub company_code: Option<u128>,
}

fn key(s: &str) -> Option<Box<str>> {
    let k = person_key(s);
    (!k.is_empty()).then(|| k.into_boxed_str())
}

/// Whether a character is a CJK Unified Ideograph.
pub(crate) fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("given", &hidden(&self.given))
            .field("family", &hidden(&self.family))
            .field("full_name", &hidden(&self.full_name))
            .field("dob", &hidden(&self.dob))
            .field("postcode", &hidden(&self.postcode))
            .field("address", &self.address.as_ref().map(|a| a.len()))
            .field("region", &self.region)
            .field("company", &hidden(&self.company))
            .field("mobile", &hidden(&self.mobile))
            .field("email", &hidden(&self.email))
            .field("id_document", &hidden(&self.id_document))
            .field("wechat", &hidden(&self.wechat))
            .field("company_code", &hidden(&self.company_code))
            .finish()
    }
}

impl Record {
    /// A record with no fields.
    pub fn new() -> Record {
        Record::default()
    }

    /// Set the given name (normalised with [`person_key`]).
    #[must_use]
    pub fn given(mut self, s: &str) -> Record {
        self.given = key(s);
        self
    }

    /// Set the family name (normalised with [`person_key`]).
    #[must_use]
    pub fn family(mut self, s: &str) -> Record {
        self.family = key(s);
        self
    }

    /// Set the whole name, when it is not known in parts (normalised with [`person_key`]).
    #[must_use]
    pub fn full_name(mut self, s: &str) -> Record {
        self.full_name = key(s);
        self
    }

    /// Set the date of birth.
    #[must_use]
    pub fn dob(mut self, d: NaiveDate) -> Record {
        self.dob = Some(d);
        self
    }

    /// Set the date of birth from year, month and day (an impossible date leaves it unset).
    #[must_use]
    pub fn dob_ymd(mut self, y: i32, m: u32, d: u32) -> Record {
        self.dob = NaiveDate::from_ymd_opt(y, m, d);
        self
    }

    /// Set the postcode (letters and digits kept, upper-cased).
    #[must_use]
    pub fn postcode(mut self, s: &str) -> Record {
        let p: String = s
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        self.postcode = (!p.is_empty()).then(|| p.into_boxed_str());
        self
    }

    /// Set the address (tokenised: see [`address_tokens`]).
    #[must_use]
    pub fn address(mut self, s: &str) -> Record {
        let t = address_tokens(s);
        self.address = (!t.is_empty()).then(|| t.into_boxed_slice());
        self
    }

    /// Set the region (normalised with [`person_key`]).
    #[must_use]
    pub fn region(mut self, s: &str) -> Record {
        self.region = key(s);
        self
    }

    /// Set the company (normalised with [`company_key`]).
    #[must_use]
    pub fn company(mut self, s: &str) -> Record {
        let k = company_key(s);
        self.company = (!k.is_empty()).then(|| k.into_boxed_str());
        self
    }

    /// The whole-name key: `full_name`, or the parts joined (family first when it is
    /// Chinese, given first otherwise).
    pub fn name_key(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        if let Some(f) = &self.full_name {
            return Some(Cow::Borrowed(f));
        }
        match (&self.given, &self.family) {
            (Some(g), Some(f)) => Some(Cow::Owned(if f.chars().next().is_some_and(is_cjk) {
                format!("{f}{g}")
            } else {
                format!("{g}{f}")
            })),
            (Some(x), None) | (None, Some(x)) => Some(Cow::Borrowed(x)),
            (None, None) => None,
        }
    }

    /// The year of birth, if known.
    pub fn birth_year(&self) -> Option<i32> {
        self.dob.map(|d| d.year())
    }
}

/// Address tokens: NFKC, lower case; runs of letters and digits are words, runs of CJK
/// characters become their character bigrams (a single character stays a token). Each token
/// is kept as a 64-bit hash whose top bit says whether it has a digit (a house or room
/// number); sorted and unique, so token overlap is a merge of two sorted lists.
pub fn address_tokens(s: &str) -> Vec<u64> {
    let mut out: Vec<u64> = address_words(s)
        .iter()
        .map(|t| {
            let mut h = 0xcbf2_9ce4_8422_2325u64;
            for b in t.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            let h = marketingforce_core::id::splitmix64(h) >> 1;
            if t.chars().any(|c| c.is_ascii_digit()) {
                h | (1 << 63)
            } else {
                h
            }
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The address tokens as text (see [`address_tokens`]).
fn address_words(s: &str) -> Vec<Box<str>> {
    let s = crate::identity::nfkc(s).to_lowercase();
    let mut out: Vec<Box<str>> = Vec::new();
    let mut word = String::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush_cjk = |cjk: &mut Vec<char>, out: &mut Vec<Box<str>>| {
        match cjk.len() {
            0 => {}
            1 => out.push(cjk[0].to_string().into_boxed_str()),
            _ => out.extend(
                cjk.windows(2)
                    .map(|w| w.iter().collect::<String>().into_boxed_str()),
            ),
        }
        cjk.clear();
    };
    for c in s.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word).into_boxed_str());
            }
            cjk.push(c);
        } else if c.is_alphanumeric() {
            flush_cjk(&mut cjk, &mut out);
            word.push(c);
        } else {
            flush_cjk(&mut cjk, &mut out);
            if !word.is_empty() {
                out.push(std::mem::take(&mut word).into_boxed_str());
            }
        }
    }
    flush_cjk(&mut cjk, &mut out);
    if !word.is_empty() {
        out.push(word.into_boxed_str());
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_tokens_split_words_and_cjk_bigrams() {
        let t = address_tokens("12 Smith St, Canberra");
        assert_eq!(t.len(), 4);
        assert_eq!(t.iter().filter(|x| **x >> 63 == 1).count(), 1, "one number");
        assert_eq!(address_tokens("canberra  12 SMITH st"), t);
        assert_eq!(address_tokens("浦东新区88号").len(), 5);
        assert!(address_tokens(" ,, ").is_empty());
        let mut w = address_words("12 Smith St, Canberra");
        w.sort();
        assert_eq!(
            w,
            vec!["12".into(), "canberra".into(), "smith".into(), "st".into()] as Vec<Box<str>>
        );
        let mut w = address_words("浦东新区88号");
        w.sort();
        assert_eq!(
            w,
            vec![
                "88".into(),
                "东新".into(),
                "号".into(),
                "新区".into(),
                "浦东".into()
            ] as Vec<Box<str>>
        );
    }

    /// Guards `Record`'s `Debug`: the name keys, date of birth, postcode and company key of
    /// a person are personal data, shown only as present.
    #[test]
    fn debug_of_a_record_shows_no_personal_data() {
        let r = Record::new()
            .given("Lachlan")
            .family("Reid")
            .full_name("张伟")
            .dob_ymd(1990, 5, 17)
            .postcode("2600")
            .address("12 Smith St, Canberra")
            .region("上海")
            .company("上海某某机械有限公司");
        let shown = format!("{r:?}");
        for value in ["lachlan", "reid", "张伟", "1990", "2600", "某某机械"] {
            assert!(!shown.contains(value), "{value} shown in {shown}");
        }
        assert!(shown.contains("***"), "{shown}");
    }

    #[test]
    fn name_key_orders_parts_by_script() {
        let w = Record::new().given("Lachlan").family("Reid");
        assert_eq!(w.name_key().as_deref(), Some("lachlanreid"));
        let c = Record::new().given("伟").family("张");
        assert_eq!(c.name_key().as_deref(), Some("张伟"));
        let f = Record::new().full_name("张 伟");
        assert_eq!(f.name_key().as_deref(), Some("张伟"));
        assert_eq!(Record::new().name_key(), None);
    }
}
