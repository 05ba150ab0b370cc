//! The in-memory dedupe engine: exact matching on blind indexes, probabilistic (Fellegi–Sunter)
//! matching in three bands, merge lineage with un-merge, and an undo log so a batch that fails
//! to commit leaves no trace.
//!
//! The engine decides *which lead* a capture belongs to; it never sees ciphertexts and never
//! writes to storage. Its state is rebuilt from the vault and the review queue on start-up
//! (`Crm` does it), and is only changed after the storage batch that records a decision has
//! committed.
//!
//! **Exact band.** Two captures are the same person when they share a blind index (mobile,
//! other phone, email, WeCom id, ID document number, WeChat unionid or openid — each kind can
//! be switched off).
//!
//! **Probabilistic bands.** When fuzzy matching is on, a capture's [`Record`] (normalised
//! names, date of birth, postcode, address tokens, region, company, and the blind indexes of
//! its identifiers) is compared with the records of earlier captures found by the typo-tolerant
//! blocking rules of [`crate::matching::blocking`] (every rule but `identifier`, whose pairs
//! the exact band already joins), and each pair gets a match weight from the tenant's
//! [`Weights`] (its trained model, [`FuzzyConfig::model`], or the documented defaults). The
//! best weight per lead decides:
//!
//! | weight | decision |
//! |---|---|
//! | ≥ [`FuzzyConfig::auto_merge_weight`] | joined (merged), [`MatchRule::Fuzzy`], explanation kept |
//! | ≥ [`FuzzyConfig::review_weight`] | a [`Proposal`]: "possible duplicate" for a human |
//! | below | distinct |
//!
//! Incremental blocking: the engine also keys every record with a name and a company on the
//! name with the first two and with the last two characters of the company (a typo inside a
//! company name leaves one end intact, and these blocks stay small where a common Chinese
//! name's phonetic block is large). Each block keeps its members in capture order; a block over
//! [`FuzzyConfig::max_block`] members is compared against its most recent `max_block` members
//! only (a common name or a shared company switchboard cannot make a capture cost its square);
//! the `sorted_name` rule compares with the [`WINDOW`] nearest name keys on either side, in
//! forward and reversed order.
//!
//! Pruning, without changing any decision: each block entry (20 bytes) carries an 8-bit hash
//! of every compared field and a 32-bit Bloom filter of the company key's characters, from
//! which an upper bound of the pair's match weight (with an upper bound of the companies'
//! Jaro–Winkler similarity) rules most members out without reading them; the survivors'
//! inline signatures give a tighter bound (a 64-bit filter, name parts); only members whose
//! bound reaches the review weight are compared.
//!
//! Memory: the engine is held by every process that captures for the tenant, so it keeps its
//! members small. A member's record is packed (its text in one allocation, its identifiers
//! inline) and decoded on the stack when it is compared; a block with one member (most of
//! them) keeps it inline, and a large block only the latest entries anything reads. The
//! `capture` benchmark reports the resident memory per lead (about 0.7 KB at 1M synthetic
//! leads).
//!
//! A capture joins *all* the leads it matches (merging them into the oldest), so the resulting
//! partition is the set of connected components of the match graph. Leads kept apart (an
//! un-merge, a rejected review) are never merged by a bridging capture.
//!
//! ```
//! use marketingforce_crm::dedupe::{DedupeConfig, DedupeEngine, MatchKeys, Decision};
//! use marketingforce_crm::crypto::{BlindKind, BlindIndex};
//! use marketingforce_crm::ids::LeadId;
//!
//! let mut engine = DedupeEngine::new(DedupeConfig::default());
//! let phone = BlindIndex { kind: BlindKind::Mobile, mac: 42 };
//! let a = MatchKeys::new().with_exact(phone).with_fuzzy("张伟", "某某机械", Some(42));
//! let first = engine.ingest(&a, LeadId::new);
//! assert!(matches!(first, Decision::New { .. }));
//! // Same person, no phone this time: name and company agree, above the auto-merge weight.
//! let b = MatchKeys::new().with_fuzzy("张伟", "某某机械", None);
//! let second = engine.ingest(&b, LeadId::new);
//! assert_eq!(second.lead(), first.lead());
//! ```

use std::collections::hash_map::Entry::{Occupied, Vacant};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crypto::{BlindIndex, BlindKind, TenantIndexer};
use crate::error::{CrmError, Result};
use crate::ids::LeadId;
use crate::matching::blocking::{block_keys, Rule};
use crate::matching::compare::{compare_packed, Borrowed, Field, Levels, Packed, FIELDS, N_FIELDS};
use crate::matching::weights::{Model, Weights};
use crate::matching::Record;
use crate::model::Identity;

/// Neighbours on each side compared by the `sorted_name` rule.
pub const WINDOW: usize = 4;

/// Probabilistic matching settings and the thresholds of the three bands (match weights,
/// log2 Bayes factors: see [`crate::matching`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FuzzyConfig {
    /// Whether probabilistic matching runs at all (exact identifiers still match).
    pub enabled: bool,
    /// At or above this match weight a capture joins the lead (default 3.0, a match
    /// probability of ~0.89 under the default model: a whole name and a company that agree
    /// exactly, with nothing disagreeing).
    #[serde(default = "default_auto_merge")]
    pub auto_merge_weight: f64,
    /// At or above this weight (and below `auto_merge_weight`) the pair goes to the
    /// possible-duplicates review queue (default -1.0: e.g. the same name at a company
    /// written one character differently, or the same name and company in another region).
    #[serde(default = "default_review")]
    pub review_weight: f64,
    /// Never match two captures carrying different mobiles probabilistically (default on).
    pub reject_conflicting_mobile: bool,
    /// The tenant's trained model (see [`crate::matching::estimate::train`]); `None` uses the
    /// documented defaults ([`Model::default`]), which is also what a tenant with too little
    /// data to estimate from should use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Model>,
    /// Members of a blocking block compared at most (the most recent ones; default 64).
    #[serde(default = "default_max_block")]
    pub max_block: usize,
    /// Deprecated and ignored (the Jaro–Winkler threshold of the former name+company rule):
    /// accepted so stored configurations still load. Use `auto_merge_weight`.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub name_threshold: Option<f64>,
    /// Deprecated and ignored, like `name_threshold`.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub company_threshold: Option<f64>,
}

fn default_auto_merge() -> f64 {
    3.0
}
fn default_review() -> f64 {
    -1.0
}
fn default_max_block() -> usize {
    64
}
fn yes() -> bool {
    true
}

impl Default for FuzzyConfig {
    fn default() -> Self {
        FuzzyConfig {
            enabled: true,
            auto_merge_weight: default_auto_merge(),
            review_weight: default_review(),
            reject_conflicting_mobile: true,
            model: None,
            max_block: default_max_block(),
            name_threshold: None,
            company_threshold: None,
        }
    }
}

/// Dedupe settings: which exact keys match, and probabilistic matching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// Match on the mainland mobile.
    pub match_mobile: bool,
    /// Match on other phones.
    pub match_phone: bool,
    /// Match on the email.
    pub match_email: bool,
    /// Match on the WeCom external user id.
    pub match_wecom: bool,
    /// Match on the ID document number (default on).
    #[serde(default = "yes")]
    pub match_id_document: bool,
    /// Match on the WeChat unionid and openid (default on).
    #[serde(default = "yes")]
    pub match_wechat: bool,
    /// Probabilistic matching and its bands.
    pub fuzzy: FuzzyConfig,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        DedupeConfig {
            match_mobile: true,
            match_phone: true,
            match_email: true,
            match_wecom: true,
            match_id_document: true,
            match_wechat: true,
            fuzzy: FuzzyConfig::default(),
        }
    }
}

impl DedupeConfig {
    /// Check the settings.
    ///
    /// # Errors
    /// A validation error on `fuzzy.auto_merge_weight`, `fuzzy.review_weight` (not finite,
    /// or review above auto-merge), `fuzzy.max_block` (0) or `fuzzy.model.…`.
    pub fn validate(&self) -> Result<()> {
        let f = &self.fuzzy;
        for (name, v) in [
            ("fuzzy.auto_merge_weight", f.auto_merge_weight),
            ("fuzzy.review_weight", f.review_weight),
        ] {
            if !v.is_finite() {
                return Err(CrmError::validation(name, "must be a finite number"));
            }
        }
        if f.review_weight > f.auto_merge_weight {
            return Err(CrmError::validation(
                "fuzzy.review_weight",
                "must not be above fuzzy.auto_merge_weight",
            ));
        }
        if f.max_block == 0 {
            return Err(CrmError::validation(
                "fuzzy.max_block",
                "must be at least 1",
            ));
        }
        if let Some(m) = &f.model {
            m.validate().map_err(|e| e.in_field("fuzzy.model"))?;
        }
        Ok(())
    }

    fn matches_kind(&self, kind: BlindKind) -> bool {
        match kind {
            BlindKind::Mobile => self.match_mobile,
            BlindKind::Phone => self.match_phone,
            BlindKind::Email => self.match_email,
            BlindKind::WeCom => self.match_wecom,
            BlindKind::IdDocument => self.match_id_document,
            BlindKind::WeChatUnion | BlindKind::WeChatOpen => self.match_wechat,
            BlindKind::Digest => false,
        }
    }
}

/// What a capture is matched by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchKeys {
    /// Exact keys (blind indexes of mobile, phone, email, WeCom id, ID document, WeChat ids).
    pub exact: Vec<BlindIndex>,
    /// The record compared probabilistically (`None` when the capture has too little identity
    /// to match, or nothing a blocking rule keys on).
    pub record: Option<Box<Record>>,
    /// Keyed digest of the whole contribution (identical re-captures are recognised).
    pub digest: Option<u128>,
}

impl MatchKeys {
    /// No keys.
    pub fn new() -> MatchKeys {
        MatchKeys::default()
    }

    /// Add an exact key.
    #[must_use]
    pub fn with_exact(mut self, key: BlindIndex) -> MatchKeys {
        self.exact.push(key);
        self
    }

    /// Set the record from a whole name, a company and a mobile's blind index.
    #[must_use]
    pub fn with_fuzzy(mut self, name: &str, company: &str, mobile: Option<u128>) -> MatchKeys {
        let mut r = Record::new().full_name(name).company(company);
        r.mobile = mobile;
        self.record = Some(Box::new(r));
        self
    }

    /// Set the record.
    #[must_use]
    pub fn with_record(mut self, record: Record) -> MatchKeys {
        self.record = Some(Box::new(record));
        self
    }

    /// The keys of an identity captured from `source_tag`, with blind indexes from `indexer`.
    pub fn of(identity: &Identity, source_tag: &str, indexer: &TenantIndexer) -> MatchKeys {
        let mut exact = Vec::with_capacity(4);
        let mut add = |kind: BlindKind, v: Option<&str>| -> Option<u128> {
            let k = indexer.compute(kind, v?);
            exact.push(k);
            Some(k.mac)
        };
        let mobile = add(
            BlindKind::Mobile,
            identity.mobile.as_ref().map(|m| m.as_str()),
        );
        let phone = add(
            BlindKind::Phone,
            identity.phone.as_ref().map(|p| p.as_str()),
        );
        let email = add(
            BlindKind::Email,
            identity.email.as_ref().map(|e| e.as_str()),
        );
        let wecom = add(
            BlindKind::WeCom,
            identity.wecom_id.as_ref().map(|w| w.as_str()),
        );
        let id_document = add(
            BlindKind::IdDocument,
            identity.id_document.as_ref().map(|d| d.as_str()),
        );
        let union = add(
            BlindKind::WeChatUnion,
            identity.wechat_unionid.as_ref().map(|w| w.as_str()),
        );
        let open = add(
            BlindKind::WeChatOpen,
            identity.wechat_openid.as_ref().map(|w| w.as_str()),
        );
        let record = identity.is_identifying().then(|| {
            let mut r = Record::new();
            match (&identity.given_name, &identity.family_name) {
                (None, None) => {
                    if let Some(n) = &identity.name {
                        r = r.full_name(n);
                    }
                }
                (g, f) => {
                    if let Some(g) = g {
                        r = r.given(g);
                    }
                    if let Some(f) = f {
                        r = r.family(f);
                    }
                }
            }
            r.dob = identity.date_of_birth;
            if let Some(p) = &identity.postcode {
                r = r.postcode(p);
            }
            if let Some(a) = &identity.address {
                r = r.address(a);
            }
            if let Some(x) = &identity.region {
                r = r.region(x);
            }
            if let Some(c) = &identity.company {
                r = r.company(c);
            }
            r.mobile = mobile;
            r.email = email;
            r.id_document = id_document;
            r.wechat = union.or(wecom);
            r.company_code = identity.company_code.as_ref().map(|c| {
                indexer
                    .compute(BlindKind::Digest, &format!("company_code:{}", c.as_str()))
                    .mac
            });
            r
        });
        // Only records a blocking rule can key on are worth indexing.
        let record = record
            .filter(|r| r.name_key().is_some() || r.dob.is_some() || r.company.is_some())
            .map(Box::new);
        // The digest only lives in memory (never stored): a 128-bit mix of the keyed MACs and
        // the normalised values is enough to recognise an identical re-capture.
        let digest = {
            let mut hi = fnv(0x5eed, source_tag.chars());
            let mut lo = hi ^ 0x9e37_79b9_7f4a_7c15;
            let mut mix = |v: u128| {
                hi = marketingforce_core::id::splitmix64(hi ^ (v as u64));
                lo = marketingforce_core::id::splitmix64(lo ^ ((v >> 64) as u64) ^ hi);
            };
            for (i, mac) in [mobile, phone, email, wecom, id_document, union, open]
                .into_iter()
                .enumerate()
            {
                mix(mac.unwrap_or(i as u128));
            }
            mix(indexer.compute_digest_seed());
            let text = |tag: u64, v: Option<&str>| u128::from(fnv(tag, v.unwrap_or("").chars()));
            mix(text(3, identity.name.as_deref()));
            mix(text(4, identity.company.as_deref()));
            mix(text(5, identity.given_name.as_deref()));
            mix(text(6, identity.family_name.as_deref()));
            mix(text(7, identity.postcode.as_deref()));
            mix(text(8, identity.address.as_deref()));
            mix(text(9, identity.company_code.as_ref().map(|c| c.as_str())));
            mix(identity.date_of_birth.map_or(10, |d| {
                u128::from(chrono::Datelike::num_days_from_ce(&d).unsigned_abs()) + 11
            }));
            (u128::from(hi) << 64) | u128::from(lo)
        };
        MatchKeys {
            exact,
            record,
            digest: Some(digest),
        }
    }
}

/// How a capture was matched to an existing lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MatchRule {
    /// Same mobile.
    Mobile,
    /// Same other phone.
    Phone,
    /// Same email.
    Email,
    /// Same WeCom id.
    WecomId,
    /// Same ID document number.
    IdDocument,
    /// Same WeChat unionid or openid.
    Wechat,
    /// A match weight at or above the auto-merge threshold.
    Fuzzy,
    /// Identical values captured before from the same source.
    Identical,
}

impl MatchRule {
    fn of(kind: BlindKind) -> MatchRule {
        match kind {
            BlindKind::Mobile => MatchRule::Mobile,
            BlindKind::Phone => MatchRule::Phone,
            BlindKind::Email => MatchRule::Email,
            BlindKind::WeCom => MatchRule::WecomId,
            BlindKind::IdDocument => MatchRule::IdDocument,
            BlindKind::WeChatUnion | BlindKind::WeChatOpen => MatchRule::Wechat,
            BlindKind::Digest => MatchRule::Identical,
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchRule::Mobile => "mobile",
            MatchRule::Phone => "phone",
            MatchRule::Email => "email",
            MatchRule::WecomId => "wecom_id",
            MatchRule::IdDocument => "id_document",
            MatchRule::Wechat => "wechat",
            MatchRule::Fuzzy => "fuzzy",
            MatchRule::Identical => "identical",
        }
    }
}

/// The engine's decision on one capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No match: a new lead.
    New {
        /// The new lead.
        lead: LeadId,
    },
    /// Matched an existing lead; any other leads it also matched were merged into it.
    Joined {
        /// The surviving lead.
        lead: LeadId,
        /// The first rule that matched.
        rule: MatchRule,
        /// Leads merged into `lead` because this capture bridged them.
        merged: Vec<(LeadId, MatchRule)>,
    },
    /// The same values from the same source were captured before: nothing changes.
    Unchanged {
        /// The lead holding them.
        lead: LeadId,
    },
}

impl Decision {
    /// The lead the capture ended up in.
    pub fn lead(&self) -> LeadId {
        match self {
            Decision::New { lead }
            | Decision::Joined { lead, .. }
            | Decision::Unchanged { lead } => *lead,
        }
    }
}

/// A pair for the possible-duplicates review queue: the capture's lead and `lead` scored
/// between the review and auto-merge weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The existing lead the capture's lead may duplicate.
    pub lead: LeadId,
    /// The comparison vector of the best-scoring pair of records.
    pub levels: Levels,
    /// Its match weight.
    pub weight: f64,
}

/// A decision with what the probabilistic bands saw: the comparison vectors behind fuzzy
/// joins (for the lineage's explanation) and the review proposals.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The decision.
    pub decision: Decision,
    /// For each lead matched by [`MatchRule::Fuzzy`] (the joined one or a merged one), the
    /// comparison vector of its best pair.
    pub fuzzy: Vec<(LeadId, Levels)>,
    /// Pairs for the review queue (the capture's lead with each), never proposed before.
    pub proposals: Vec<Proposal>,
}

/// A hasher for keys that are already uniformly distributed (MACs, mixed hashes).
#[derive(Default, Clone, Copy)]
pub struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
    fn write_u128(&mut self, n: u128) {
        self.0 ^= (n as u64) ^ ((n >> 64) as u64);
    }
    fn write_u32(&mut self, n: u32) {
        self.0 ^= marketingforce_core::id::splitmix64(u64::from(n));
    }
}

type Fast<K, V> = HashMap<K, V, BuildHasherDefault<PrehashedHasher>>;

#[derive(Debug, Clone)]
struct Slot {
    lead: LeadId,
    parent: Option<u32>,
    alive: bool,
}

/// How many contributions were registered with a lead as their origin, and a running digest
/// of their keyed digests, in order: a process catching up with another one's writes checks
/// the lead's stored contributions against it ([`DedupeEngine::catch_up`]). In memory only,
/// like the digests it mixes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Seen {
    count: u32,
    chain: u64,
}

impl Seen {
    /// The running digest after one more contribution of keys `keys`.
    fn then(self, keys: &MatchKeys) -> Seen {
        use marketingforce_core::id::splitmix64;
        let d = keys.digest.unwrap_or_default();
        let mut chain = splitmix64(self.chain ^ (d as u64));
        chain = splitmix64(chain ^ ((d >> 64) as u64));
        for k in &keys.exact {
            chain = splitmix64(chain ^ (k.mac as u64) ^ ((k.mac >> 64) as u64).rotate_left(17));
        }
        Seen {
            count: self.count.saturating_add(1),
            chain,
        }
    }
}

impl Slot {
    /// A live lead: not erased, merged into none.
    fn is_live(&self) -> bool {
        self.alive && self.parent.is_none()
    }
}

/// Half a cache line: the candidate filter reads nothing else (the member's record is in
/// `DedupeEngine::records`, same index).
#[derive(Debug, Clone)]
#[repr(align(32))]
struct Member {
    slot: u32,
    alive: bool,
    sig: Sig,
}

const MOBILE_BIT: u16 = 1 << Field::Mobile as u16;

/// What the engine keeps inline of a member's record: an 8-bit hash of every field (equal
/// values have equal hashes), which fields are present, a 32-bit fold of the mobile's blind
/// index (different folds: different mobiles), the set of the company key's characters and a
/// hash of the whole record. From a probe and one of them [`DedupeEngine::bound`] gives an
/// upper bound of the pair's match weight.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sig {
    mobile: u32,
    whole: u32,
    /// The company key's characters as a 64-bit Bloom filter ([`char_bit`]).
    company_chars: u64,
    h: [u8; N_FIELDS],
    /// Characters of the company key, up to 255.
    company_len: u8,
    /// Bit `f` set when field `f` is present (for the name: a whole-name key exists).
    present: u16,
    /// Given and family name both known (the `swapped` name level needs one such side).
    parts: bool,
}

/// A character's bit in [`Sig::company_chars`].
fn char_bit(c: char) -> u8 {
    (marketingforce_core::id::splitmix64(u64::from(u32::from(c))) & 63) as u8
}

/// The longest keys [`jaro_winkler_bound`] bounds (the comparison's own limit for keys
/// compared without allocating: longer ones are compared by `strsim`).
const JW_BOUND_MAX: usize = 64;

/// An upper bound of the Jaro–Winkler similarity of `a` (given as its characters' bits,
/// [`char_bit`]) and a key of `len_b` characters whose characters' bits are `bloom_b`:
/// no more characters can match than those of `a` whose bit `bloom_b` has, so the Jaro
/// similarity is at most `(m / |a| + m / |b| + 1) / 3`, and the Winkler boost at most
/// `0.4 · (1 − jaro)` — applied only above 0.7, as [`jaro_winkler_chars`] does. `None` for
/// empty or over-long keys (no bound is claimed).
fn jaro_winkler_bound(a: &[u8], bloom_b: u64, len_b: usize) -> Option<f64> {
    if a.is_empty() || len_b == 0 || a.len() > JW_BOUND_MAX || len_b > JW_BOUND_MAX {
        return None;
    }
    let hits = a.iter().filter(|&&bit| bloom_b >> bit & 1 == 1).count();
    Some(jaro_winkler_of_hits(hits, a.len(), len_b))
}

/// The bound of [`jaro_winkler_bound`] from the number of characters of `a` (`len_a` of them)
/// that may have a match in `b` (`len_b`), both lengths at least 1.
fn jaro_winkler_of_hits(hits: usize, len_a: usize, len_b: usize) -> f64 {
    let m = hits.min(len_b) as f64;
    if m == 0.0 {
        return 0.0;
    }
    let jaro = (m / len_a as f64 + m / len_b as f64 + 1.0) / 3.0;
    let jw = if jaro <= 0.7 {
        jaro
    } else {
        jaro + 0.4 * (1.0 - jaro)
    };
    // A margin for the rounding of the comparison's own arithmetic.
    jw + 1e-9
}

/// [`Sig::company_chars`] folded to 32 bits (bit `b` and bit `b + 32` on bit `b`): a Bloom
/// filter of the same characters, coarser, that block entries carry.
fn fold_bloom(bloom: u64) -> u32 {
    (bloom as u32) | ((bloom >> 32) as u32)
}

fn hash_bytes(tag: u64, bytes: &[u8]) -> u8 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ tag;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    (marketingforce_core::id::splitmix64(h) >> 56) as u8
}

fn fold_mac(v: u128) -> u32 {
    let x = (v as u64) ^ ((v >> 64) as u64);
    (x as u32) ^ ((x >> 32) as u32)
}

fn hash_mac(v: u128) -> u8 {
    (marketingforce_core::id::splitmix64(u64::from(fold_mac(v))) >> 56) as u8
}

impl Sig {
    fn of(p: &Borrowed<'_>) -> Sig {
        let r = p.record();
        let mut sig = Sig {
            parts: r.given.is_some() && r.family.is_some(),
            ..Sig::default()
        };
        let mut put = |f: Field, h: Option<u8>| {
            if let Some(h) = h {
                sig.h[f.index()] = h;
                sig.present |= 1 << f.index();
            }
        };
        put(
            Field::Name,
            p.name_key().map(|k| hash_bytes(1, k.as_bytes())),
        );
        put(
            Field::Dob,
            r.dob.map(|d| {
                marketingforce_core::id::splitmix64(u64::from(
                    chrono::Datelike::num_days_from_ce(&d) as u32,
                )) as u8
            }),
        );
        put(
            Field::Postcode,
            r.postcode.as_deref().map(|x| hash_bytes(2, x.as_bytes())),
        );
        put(
            Field::Address,
            r.address.as_deref().map(|t| {
                let mut h = 0x5151u64;
                for x in t {
                    h = marketingforce_core::id::splitmix64(h ^ x);
                }
                (h >> 56) as u8
            }),
        );
        put(
            Field::Region,
            r.region.as_deref().map(|x| hash_bytes(3, x.as_bytes())),
        );
        put(
            Field::Company,
            r.company.as_deref().map(|x| hash_bytes(4, x.as_bytes())),
        );
        put(Field::Mobile, r.mobile.map(hash_mac));
        put(Field::Email, r.email.map(hash_mac));
        put(Field::IdDocument, r.id_document.map(hash_mac));
        put(Field::Wechat, r.wechat.map(hash_mac));
        put(Field::CompanyCode, r.company_code.map(hash_mac));
        sig.mobile = r.mobile.map_or(0, fold_mac);
        let company = p.company_chars();
        sig.company_len = company.len().min(255) as u8;
        sig.company_chars = company.iter().fold(0u64, |b, &c| b | 1 << char_bit(c));
        let mut w = u64::from(sig.present) ^ (u64::from(sig.parts) << 20);
        for part in [&r.given, &r.family, &r.full_name] {
            w = marketingforce_core::id::splitmix64(
                w ^ u64::from(part.as_deref().map_or(0, |x| hash_bytes(5, x.as_bytes()))),
            );
        }
        for h in sig.h {
            w = marketingforce_core::id::splitmix64(w ^ u64::from(h));
        }
        sig.whole = (w >> 32) as u32;
        sig
    }
}

/// Fields of a [`Tag`]: the first eight of [`FIELDS`] (name, date of birth, postcode,
/// address, region, company, mobile, email).
const TAGGED: usize = 8;

/// The part of a member's [`Sig`] its block entries carry: the 8-bit hash of each of the
/// first [`TAGGED`] fields, 0 when the field is absent (a present field's hash is at least 1:
/// different tag bytes are different values, equal ones may not be).
type Tag = [u8; TAGGED];

impl Sig {
    fn rest_tag(&self) -> RestTag {
        std::array::from_fn(|j| {
            let i = TAGGED + j;
            if self.present >> i & 1 == 1 {
                self.h[i].max(1)
            } else {
                0
            }
        })
    }

    fn tag(&self) -> Tag {
        std::array::from_fn(|i| {
            if self.present >> i & 1 == 1 {
                self.h[i].max(1)
            } else {
                0
            }
        })
    }
}

/// One member of a block or of a sorted-name key: its number and its [`Tag`], so the
/// candidate filter rules most members out without reading them (see [`TagBound`]).
///
/// It also carries the company key's characters ([`fold_bloom`]) and length, for the
/// [`jaro_winkler_bound`] of the companies when their hashes differ, and the hashes of the
/// untagged fields (as a tag's: 0 when absent): 20 bytes in all.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    m: u32,
    company_chars: u32,
    tag: Tag,
    company_len: u8,
    rest: RestTag,
}

/// The 8-bit hashes of the fields after the [`TAGGED`] ones (ID document, WeChat, company
/// code), 0 when absent, at least 1 when present.
type RestTag = [u8; N_FIELDS - TAGGED];

impl Entry {
    fn new(m: u32, sig: &Sig) -> Entry {
        Entry {
            m,
            company_chars: fold_bloom(sig.company_chars),
            tag: sig.tag(),
            company_len: sig.company_len,
            rest: sig.rest_tag(),
        }
    }
}

/// How many of a block's latest entries the re-capture check of [`DedupeEngine::register`]
/// reads.
const RECAPTURE_LOOKBACK: usize = 16;

/// A block's entries in member order: every one while the block is small, else the latest
/// ones. Nothing reads further back than a block's latest `keep` entries (the candidate
/// filter's `max_block`, the re-capture check's [`RECAPTURE_LOOKBACK`]): a block that reaches
/// twice `keep` entries drops all but the latest `keep`, and counts what it dropped, so its
/// size is still known and the memory it holds is bounded. Most blocks have one member (four
/// in five at 1M leads): that one is kept inline, without an allocation of its own.
#[derive(Debug, Clone, PartialEq)]
enum Block {
    One(Entry),
    /// The entries kept, and how many older ones were dropped.
    Many(Vec<Entry>, u32),
}

impl Block {
    /// The entries kept, oldest first.
    fn latest(&self) -> &[Entry] {
        match self {
            Block::One(e) => std::slice::from_ref(e),
            Block::Many(v, _) => v,
        }
    }

    /// How many members the block has, dropped entries included.
    fn size(&self) -> usize {
        match self {
            Block::One(_) => 1,
            Block::Many(v, dropped) => v.len().saturating_add(*dropped as usize),
        }
    }

    /// Add `e` (the latest member), keeping at least the latest `keep` entries. Returns the
    /// entries dropped to make room, oldest first, when `give_back` (to undo the drop).
    fn push(&mut self, e: Entry, keep: usize, give_back: bool) -> Option<Vec<Entry>> {
        match self {
            Block::One(first) => {
                *self = Block::Many(vec![*first, e], 0);
                None
            }
            Block::Many(v, dropped) => {
                v.push(e);
                let keep = keep.max(1);
                if v.len() < keep.saturating_mul(2) {
                    return None;
                }
                let n = v.len() - keep;
                *dropped = dropped.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
                let older = v.drain(..n);
                give_back.then(|| older.collect())
            }
        }
    }

    /// Put back the entries a [`push`](Self::push) dropped (undoing it).
    fn restore(&mut self, older: Vec<Entry>) {
        let n = u32::try_from(older.len()).unwrap_or(u32::MAX);
        match self {
            Block::One(e) => {
                let mut v = older;
                v.push(*e);
                *self = Block::Many(v, 0);
            }
            Block::Many(v, dropped) => {
                *dropped = dropped.saturating_sub(n);
                v.splice(..0, older);
            }
        }
    }

    /// Take out the latest entry; `false` when none is left (the caller drops the block).
    fn pop(&mut self) -> bool {
        match self {
            Block::One(_) => false,
            Block::Many(v, _) => {
                v.pop();
                !v.is_empty()
            }
        }
    }
}

/// The entries of a sorted-name key, in member order. Most keys have one member: that one is
/// kept inline, without an allocation of its own.
#[derive(Debug, Clone, PartialEq)]
enum Entries {
    One(Entry),
    Many(Vec<Entry>),
}

impl Entries {
    fn as_slice(&self) -> &[Entry] {
        match self {
            Entries::One(e) => std::slice::from_ref(e),
            Entries::Many(v) => v,
        }
    }

    fn push(&mut self, e: Entry) {
        match self {
            Entries::One(first) => *self = Entries::Many(vec![*first, e]),
            Entries::Many(v) => v.push(e),
        }
    }

    /// Keep the entries `keep` accepts; `false` when none is left (the caller drops the list).
    fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) -> bool {
        match self {
            Entries::One(e) => keep(e),
            Entries::Many(v) => {
                v.retain(|e| keep(e));
                !v.is_empty()
            }
        }
    }

    /// Take out the last entry; `false` when none is left (the caller drops the list).
    fn pop(&mut self) -> bool {
        match self {
            Entries::One(_) => false,
            Entries::Many(v) => {
                v.pop();
                !v.is_empty()
            }
        }
    }
}

/// A probe's bound on the match weight with a member known by its [`Tag`] only: per tagged
/// field, the term of [`DedupeEngine::bound`] when the member lacks the field (0), has the
/// same hash (the field's best level), or another one (its best level but `exact`); the
/// untagged fields count their best level whenever the probe has them. Every term is no
/// smaller than the full bound's, so this bound is never below it but for the rounding of a
/// different summation order, which [`TAG_MARGIN`] covers: a member it rules out the full
/// bound rules out too.
///
/// The tagged terms are summed through four 16-entry tables (the fields that agree, and those
/// that differ, in two nibbles each), so a member costs a few byte comparisons and four
/// additions.
#[derive(Debug, Clone)]
struct TagBound {
    tag: Tag,
    /// The prior.
    base: f64,
    /// The probe's [`RestTag`], and per untagged field the term when the member has the same
    /// hash (its best level) and another one (its best level but `exact`).
    rest: RestTag,
    rest_terms: [[f64; 2]; N_FIELDS - TAGGED],
    /// By the low and high nibble of the mask of tagged fields whose hashes agree.
    same: [[f64; 16]; 2],
    /// By the low and high nibble of the mask of tagged fields the member has with another
    /// hash.
    other: [[f64; 16]; 2],
    floor: f64,
    /// The mobile's bit in the masks when a member whose mobile differs from the probe's is
    /// rejected (the probe has one and conflicting mobiles are rejected), else 0.
    reject: u8,
    /// The company's term in `other` (its best level but `exact`), and the `jw_0.92`,
    /// `jw_0.80` and `else` level weights (the first unused: `company_other` is at least it),
    /// for [`company_term`](Self::company_term).
    company_other: f64,
    company_levels: [f64; 3],
    /// The probe's company key's characters as bits of a [`fold_bloom`] filter, how many of
    /// its characters have each bit, and its length (0: no key, or one too long to bound).
    company_mask: u32,
    company_counts: [u8; 32],
    company_len: usize,
}

/// Slack for the rounding of [`TagBound`]'s summation order (match weights are sums of a few
/// dozen terms below 100 in magnitude: their rounding errors are below 1e-12).
const TAG_MARGIN: f64 = 1e-9;

/// Sums of `terms` over the bits of every 4-bit mask, for the low and the high nibble.
fn nibble_sums(terms: &[f64; TAGGED]) -> [[f64; 16]; 2] {
    let mut out = [[0.0; 16]; 2];
    for (half, table) in out.iter_mut().enumerate() {
        for mask in 1..16usize {
            let low = mask.trailing_zeros() as usize;
            table[mask] = table[mask & (mask - 1)] + terms[half * 4 + low];
        }
    }
    out
}

/// The masks of the tagged fields a member (tag `t`) has with the same hash as `mine`, and
/// with another hash (bit `i` for field `i`).
fn tag_masks(mine: &Tag, t: &Tag) -> (u8, u8) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Bit 7 of each byte set when the byte is not 0 (no carry crosses a byte).
    let nonzero = |v: u64| (((v & LOW7) + LOW7) | v) & HIGH;
    // Bit 7 of byte `i` to bit `i` (each partial product lands on its own bit).
    let pack = |v: u64| ((v >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8;
    let x = u64::from_le_bytes(*t);
    let has = nonzero(x);
    let differs = nonzero(x ^ u64::from_le_bytes(*mine));
    (pack(has & !differs), pack(has & differs))
}

const COMPANY_TAG_BIT: u8 = 1 << Field::Company as u8;

impl TagBound {
    fn admits(&self, e: &Entry) -> bool {
        let (same, other) = tag_masks(&self.tag, &e.tag);
        if other & self.reject != 0 {
            return false;
        }
        let mut w = self.base
            + self.same[0][usize::from(same & 15)]
            + self.same[1][usize::from(same >> 4)]
            + self.other[0][usize::from(other & 15)]
            + self.other[1][usize::from(other >> 4)];
        for ((&mine, &x), terms) in self.rest.iter().zip(&e.rest).zip(&self.rest_terms) {
            if mine != 0 && x != 0 {
                w += terms[usize::from(mine != x)];
            }
        }
        if w + TAG_MARGIN < self.floor {
            return false;
        }
        if other & COMPANY_TAG_BIT == 0 {
            return true;
        }
        // Different companies: their term in `w` was the best inexact level; the
        // characters they share may allow less.
        w - self.company_other + self.company_term(e) + TAG_MARGIN >= self.floor
    }

    /// The best company level weight of two different company keys, from the
    /// [`jaro_winkler_bound`] of the probe's key and the member's folded filter (a filter
    /// with fewer bits has more hits: never a smaller bound than the full one).
    fn company_term(&self, e: &Entry) -> f64 {
        let len_b = usize::from(e.company_len);
        if self.company_len == 0 || len_b == 0 || len_b > JW_BOUND_MAX {
            return self.company_other;
        }
        let common = self.company_mask & e.company_chars;
        let hits = if common == self.company_mask {
            // Every character may match.
            self.company_len
        } else {
            let mut hits = 0usize;
            let mut bits = common;
            while bits != 0 {
                hits += usize::from(self.company_counts[bits.trailing_zeros() as usize]);
                bits &= bits - 1;
            }
            hits
        };
        let jw = jaro_winkler_of_hits(hits, self.company_len, len_b);
        let [_, jw80, other] = self.company_levels;
        if jw < 0.80 {
            other
        } else if jw < 0.92 {
            jw80.max(other)
        } else {
            self.company_other
        }
    }
}

/// A name key in the sorted-neighbourhood sets, ordered exactly as its string: the first 16
/// bytes big-endian (zero-padded), the length up to 17, then the remaining bytes — so most
/// comparisons are of two integers and never read the heap.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    head: u128,
    len: u8,
    tail: Option<Box<[u8]>>,
}

impl SortKey {
    /// The key of `k` read backwards (by characters).
    fn reversed(k: &str) -> SortKey {
        let mut buf = [0u8; 64];
        if k.len() > buf.len() {
            return SortKey::new(reversed(k).as_bytes());
        }
        let mut n = 0;
        for c in k.chars().rev() {
            n += c.encode_utf8(&mut buf[n..]).len();
        }
        SortKey::new(&buf[..n])
    }

    fn new(b: &[u8]) -> SortKey {
        let mut h = [0u8; 16];
        let n = b.len().min(16);
        h[..n].copy_from_slice(&b[..n]);
        SortKey {
            head: u128::from_be_bytes(h),
            len: b.len().min(17) as u8,
            tail: (b.len() > 16).then(|| b[16..].into()),
        }
    }
}

/// What the engine derives once from a capture's record: the prepared record, its inline
/// signature, its blocking keys (keyed rules and company ends, sorted, unique) and its
/// sorted-name keys.
struct Probe<'a> {
    prep: Borrowed<'a>,
    sig: Sig,
    /// The company key's characters' bits ([`char_bit`]), for [`jaro_winkler_bound`]: the
    /// first `company_len` (none when the key is longer than [`JW_BOUND_MAX`]).
    company_bits: [u8; JW_BOUND_MAX],
    company_len: usize,
    keys: Vec<u64>,
    sorted: Option<(SortKey, SortKey)>,
}

impl<'a> Probe<'a> {
    fn new(r: &'a Record) -> Probe<'a> {
        let prep = Borrowed::new(r);
        let sig = Sig::of(&prep);
        let mut keys = Vec::with_capacity(8);
        for rule in KEYED_RULES {
            block_keys(rule, r, &mut keys);
        }
        company_end_keys(prep.name_key(), r.company.as_deref(), &mut keys);
        keys.sort_unstable();
        keys.dedup();
        let sorted = prep
            .name_key()
            .map(|k| (SortKey::new(k.as_bytes()), SortKey::reversed(k)));
        let mut company_bits = [0u8; JW_BOUND_MAX];
        let chars = prep.company_chars();
        let company_len = if chars.len() <= JW_BOUND_MAX {
            for (b, &c) in company_bits.iter_mut().zip(chars) {
                *b = char_bit(c);
            }
            chars.len()
        } else {
            0
        };
        Probe {
            prep,
            sig,
            company_bits,
            company_len,
            keys,
            sorted,
        }
    }
}

#[derive(Debug, Clone)]
enum Undo {
    PushSlot,
    Exact(usize, u128),
    ExactWas(usize, u128, u32),
    Digest(u128),
    DigestWas(u128, u32),
    PushMember,
    Block(u64),
    /// The older entries a push into block `.0` dropped.
    Trimmed(u64, Vec<Entry>),
    /// Member `m` filed under its name key in the sorted sets.
    Sorted(u32),
    Parent(u32, Option<u32>),
    Proposed(LeadId, LeadId),
    /// Slot `.0`'s contributions before one more was registered.
    Seen(u32, Seen),
    /// The two slots were kept apart.
    Separated(u32, u32),
}

/// The blocking rules the engine keys on (`identifier` is the exact band's job; the sorted
/// neighbourhood is kept in ordered sets).
const KEYED_RULES: [Rule; 5] = [
    Rule::NameSound,
    Rule::FamilyYear,
    Rule::GivenPostcode,
    Rule::Dob,
    Rule::CompanyInitial,
];

/// The dedupe engine of one tenant (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct DedupeEngine {
    cfg: DedupeConfig,
    weights: Weights,
    slots: Vec<Slot>,
    /// Per slot, the contributions registered with its lead as their origin (beside the
    /// slots, which the matching reads, so that they stay small).
    seen: Vec<Seen>,
    /// The slots that are live leads (alive, merged into none): kept as slots change, so
    /// [`live_count`](Self::live_count) does not scan them.
    live: usize,
    by_lead: HashMap<LeadId, u32>,
    exact: [Fast<u128, u32>; N_EXACT],
    digests: Fast<u128, u32>,
    /// The blocks' members by blocking key, each in capture order (a large block keeps its
    /// latest ones: see [`Block`]).
    blocks: Fast<u64, Block>,
    /// The sorted neighbourhood: members by name key (forwards and reversed), each key's
    /// members in ascending order — the order of `(key, member)` pairs.
    forward: BTreeMap<SortKey, Entries>,
    reversed: BTreeMap<SortKey, Entries>,
    /// Candidate buffer reused across captures.
    scratch: Vec<u32>,
    /// Per field, the largest level weight, and the largest but `exact`'s (see
    /// [`bound`](Self::bound)).
    max_any: [f64; N_FIELDS],
    max_inexact: [f64; N_FIELDS],
    /// The largest name level weight below `swapped`.
    max_name_unswapped: f64,
    /// The company's `jw_0.92`, `jw_0.80` and `else` level weights.
    company_levels: [f64; 3],
    members: Vec<Member>,
    /// The members' records, by member.
    records: Vec<Packed>,
    separated: HashSet<(u32, u32)>,
    /// Lead pairs (smaller id first) already in the review queue, whatever their status.
    proposed: HashSet<(LeadId, LeadId)>,
    undo: Option<Vec<Undo>>,
    /// The last undo log's buffer, emptied, for the next batch.
    spare_undo: Vec<Undo>,
}

const N_EXACT: usize = 7;

fn kind_slot(kind: BlindKind) -> Option<usize> {
    match kind {
        BlindKind::Mobile => Some(0),
        BlindKind::Phone => Some(1),
        BlindKind::Email => Some(2),
        BlindKind::WeCom => Some(3),
        BlindKind::IdDocument => Some(4),
        BlindKind::WeChatUnion => Some(5),
        BlindKind::WeChatOpen => Some(6),
        BlindKind::Digest => None,
    }
}

const KIND_OF_SLOT: [BlindKind; N_EXACT] = [
    BlindKind::Mobile,
    BlindKind::Phone,
    BlindKind::Email,
    BlindKind::WeCom,
    BlindKind::IdDocument,
    BlindKind::WeChatUnion,
    BlindKind::WeChatOpen,
];

/// The pair of two leads, smaller id first.
pub fn pair_of(a: LeadId, b: LeadId) -> (LeadId, LeadId) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// The name + company-ends keys: the whole name key with the first two, and with the last
/// two, characters of the company key (a typo inside a company name leaves one end intact;
/// these blocks stay small where a common name's block is large).
fn company_end_keys(name: Option<&str>, company: Option<&str>, out: &mut Vec<u64>) {
    if let (Some(n), Some(c)) = (name, company) {
        let len = c.chars().count();
        let head = c.chars().take(2);
        let tail = c.chars().skip(len.saturating_sub(2));
        out.push(fnv(21, n.chars().chain(['\u{1f}']).chain(head)));
        out.push(fnv(22, n.chars().chain(['\u{1f}']).chain(tail)));
    }
}

/// Take member `m` out of `key`'s list (the last one when undoing).
fn sorted_remove(map: &mut BTreeMap<SortKey, Entries>, key: &SortKey, m: u32) {
    if let Some(ms) = map.get_mut(key) {
        let left = if ms.as_slice().last().map(|e| e.m) == Some(m) {
            ms.pop()
        } else {
            ms.retain(|x| x.m != m)
        };
        if !left {
            map.remove(key);
        }
    }
}

fn reversed(k: &str) -> Box<str> {
    k.chars().rev().collect::<String>().into_boxed_str()
}

fn fnv(tag: u64, chars: impl Iterator<Item = char>) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ tag;
    for c in chars {
        h = (h ^ u64::from(c as u32)).wrapping_mul(0x0100_0000_01b3);
    }
    marketingforce_core::id::splitmix64(h)
}

/// Jaro–Winkler similarity over characters, without allocating for strings of up to 64
/// characters (longer ones use `strsim`).
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let mut ab = ['\0'; 64];
    let mut bb = ['\0'; 64];
    let (mut la, mut lb) = (0, 0);
    for c in a.chars() {
        if la == 64 {
            return strsim::jaro_winkler(a, b);
        }
        ab[la] = c;
        la += 1;
    }
    for c in b.chars() {
        if lb == 64 {
            return strsim::jaro_winkler(a, b);
        }
        bb[lb] = c;
        lb += 1;
    }
    jaro_winkler_chars(&ab[..la], &bb[..lb])
}

/// [`jaro_winkler`] of two strings given as their characters, at most 64 each (longer
/// slices: use [`jaro_winkler`] on the strings).
pub fn jaro_winkler_chars(a: &[char], b: &[char]) -> f64 {
    let (la, lb) = (a.len().min(64), b.len().min(64));
    let (a, b) = (&a[..la], &b[..lb]);
    if a.is_empty() || b.is_empty() {
        return if a.is_empty() && b.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    let window = (la.max(lb) / 2).saturating_sub(1);
    let mut a_hit = [false; 64];
    let mut b_hit = [false; 64];
    let mut matches = 0usize;
    for (i, ca) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(lb);
        for j in lo..hi {
            if !b_hit[j] && b[j] == *ca {
                a_hit[i] = true;
                b_hit[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut k = 0usize;
    for i in 0..la {
        if a_hit[i] {
            while !b_hit[k] {
                k += 1;
            }
            if a[i] != b[k] {
                transpositions += 1;
            }
            k += 1;
        }
    }
    let m = matches as f64;
    let jaro = (m / la as f64 + m / lb as f64 + (m - (transpositions / 2) as f64) / m) / 3.0;
    if jaro <= 0.7 {
        return jaro;
    }
    let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count();
    jaro + 0.1 * prefix as f64 * (1.0 - jaro)
}

impl DedupeEngine {
    /// An empty engine.
    pub fn new(cfg: DedupeConfig) -> DedupeEngine {
        let weights = Weights::new(cfg.fuzzy.model.as_ref().unwrap_or(&Model::default()));
        let max_of = |f: Field, from: usize| {
            (from..f.levels().len())
                .map(|l| weights.level_weight(f, l as u8))
                .fold(f64::NEG_INFINITY, f64::max)
        };
        let max_any = FIELDS.map(|f| max_of(f, 1));
        let max_inexact = FIELDS.map(|f| max_of(f, 2));
        let max_name_unswapped = max_of(Field::Name, 3);
        let company_levels = [2, 3, 4].map(|l| weights.level_weight(Field::Company, l));
        DedupeEngine {
            company_levels,
            max_any,
            max_inexact,
            max_name_unswapped,
            cfg,
            weights,
            slots: Vec::new(),
            seen: Vec::new(),
            live: 0,
            by_lead: HashMap::new(),
            exact: Default::default(),
            digests: Fast::default(),
            blocks: Fast::default(),
            forward: BTreeMap::new(),
            reversed: BTreeMap::new(),
            scratch: Vec::new(),
            members: Vec::new(),
            records: Vec::new(),
            separated: HashSet::new(),
            proposed: HashSet::new(),
            undo: None,
            spare_undo: Vec::new(),
        }
    }

    /// An empty engine with room for `leads` leads.
    pub fn with_capacity(cfg: DedupeConfig, leads: usize) -> DedupeEngine {
        let mut e = DedupeEngine::new(cfg);
        e.slots.reserve(leads);
        e.seen.reserve(leads);
        e.by_lead.reserve(leads);
        e.exact[0].reserve(leads);
        e.digests.reserve(leads);
        e.blocks.reserve(leads.saturating_add(leads / 2));
        e.members.reserve(leads);
        e.records.reserve(leads);
        e
    }

    /// The settings.
    pub fn config(&self) -> &DedupeConfig {
        &self.cfg
    }

    /// The compiled model the probabilistic bands score with.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    fn log(&mut self, u: Undo) {
        if let Some(log) = &mut self.undo {
            log.push(u);
        }
    }

    /// Start recording changes so they can be [rolled back](Self::rollback).
    pub fn begin(&mut self) {
        let mut log = std::mem::take(&mut self.spare_undo);
        log.clear();
        self.undo = Some(log);
    }

    /// Keep the changes since [`begin`](Self::begin).
    pub fn commit(&mut self) {
        if let Some(log) = self.undo.take() {
            self.keep_undo_buffer(log);
        }
    }

    /// Keep an emptied undo log's buffer for the next [`begin`](Self::begin) (a batch's log
    /// would otherwise grow from nothing every time), unless it is large.
    fn keep_undo_buffer(&mut self, mut log: Vec<Undo>) {
        const KEPT: usize = 1 << 16;
        if log.capacity() <= KEPT {
            log.clear();
            self.spare_undo = log;
        }
    }

    /// Undo every change since [`begin`](Self::begin).
    pub fn rollback(&mut self) {
        let Some(mut log) = self.undo.take() else {
            return;
        };
        for u in log.drain(..).rev() {
            match u {
                Undo::PushSlot => {
                    self.seen.pop();
                    if let Some(s) = self.slots.pop() {
                        self.live -= usize::from(s.is_live());
                        self.by_lead.remove(&s.lead);
                    }
                }
                Undo::Exact(k, mac) => {
                    if let Some(m) = self.exact.get_mut(k) {
                        m.remove(&mac);
                    }
                }
                Undo::ExactWas(k, mac, old) => {
                    if let Some(m) = self.exact.get_mut(k) {
                        m.insert(mac, old);
                    }
                }
                Undo::Digest(d) => {
                    self.digests.remove(&d);
                }
                Undo::DigestWas(d, old) => {
                    self.digests.insert(d, old);
                }
                Undo::PushMember => {
                    self.members.pop();
                    self.records.pop();
                }
                Undo::Block(b) => {
                    if self.blocks.get_mut(&b).is_some_and(|v| !v.pop()) {
                        self.blocks.remove(&b);
                    }
                }
                Undo::Trimmed(b, older) => {
                    if let Some(v) = self.blocks.get_mut(&b) {
                        v.restore(older);
                    }
                }
                Undo::Sorted(m) => {
                    // Undone before the member's record is popped: its name key is the one
                    // its entries were filed under.
                    if let Some(k) = self.records.get(m as usize).and_then(Packed::name_key) {
                        let (f, r) = (SortKey::new(k.as_bytes()), SortKey::reversed(k));
                        sorted_remove(&mut self.forward, &f, m);
                        sorted_remove(&mut self.reversed, &r, m);
                    }
                }
                Undo::Parent(s, old) => {
                    self.reparent(s, old);
                }
                Undo::Proposed(a, b) => {
                    self.proposed.remove(&(a, b));
                }
                Undo::Seen(s, old) => {
                    if let Some(seen) = self.seen.get_mut(s as usize) {
                        *seen = old;
                    }
                }
                Undo::Separated(a, b) => {
                    self.separated.remove(&(a, b));
                }
            }
        }
        self.keep_undo_buffer(log);
    }

    fn root(&self, mut s: u32) -> u32 {
        // Merge trees are shallow: captures join roots directly, only bridging captures and
        // manual merges add a level.
        while let Some(p) = self.slots.get(s as usize).and_then(|x| x.parent) {
            s = p;
        }
        s
    }

    fn live_root(&self, s: u32) -> Option<u32> {
        let r = self.root(s);
        self.slots
            .get(r as usize)
            .is_some_and(|x| x.alive)
            .then_some(r)
    }

    fn lead_of(&self, s: u32) -> LeadId {
        self.slots
            .get(s as usize)
            .map(|x| x.lead)
            .unwrap_or_else(|| LeadId::from_uuid(marketingforce_core::id::Uuid::nil()))
    }

    /// The members a record is compared with: every keyed rule's blocks (the most recent
    /// `max_block` members of each) and the sorted-name neighbours, less those whose tag
    /// alone rules them out (`tb`); a member may be listed more than once.
    fn candidates(&self, p: &Probe, tb: &TagBound, out: &mut Vec<u32>) {
        let cap = self.cfg.fuzzy.max_block.max(1);
        let admitted = |e: &&Entry| tb.admits(e);
        // Find every block first, then read the latest entry of each, then the rest: the
        // lookups, and the first reads of the blocks' entries, are independent of each other,
        // so their cache misses overlap instead of queueing.
        const SPREAD: usize = 8;
        let mut lists: [&[Entry]; SPREAD] = [&[]; SPREAD];
        for (list, k) in lists.iter_mut().zip(&p.keys) {
            if let Some(es) = self.blocks.get(k).map(Block::latest) {
                *list = es.get(es.len().saturating_sub(cap)..).unwrap_or(&[]);
            }
        }
        for list in &lists {
            out.extend(list.last().filter(admitted).map(|e| e.m));
        }
        for list in &lists {
            let older = list.get(..list.len().saturating_sub(1)).unwrap_or(&[]);
            out.extend(older.iter().rev().filter(admitted).map(|e| e.m));
        }
        for k in p.keys.iter().skip(SPREAD) {
            if let Some(es) = self.blocks.get(k).map(Block::latest) {
                out.extend(es.iter().rev().take(cap).filter(admitted).map(|e| e.m));
            }
        }
        if let Some((fwd, rev)) = &p.sorted {
            for (map, key) in [(&self.forward, fwd), (&self.reversed, rev)] {
                // The WINDOW pairs before `(key, 0)` and the WINDOW from it on.
                out.extend(
                    map.range(..key)
                        .rev()
                        .flat_map(|(_, ms)| ms.as_slice().iter().rev())
                        .take(WINDOW)
                        .filter(admitted)
                        .map(|e| e.m),
                );
                out.extend(
                    map.range(key..)
                        .flat_map(|(_, ms)| ms.as_slice().iter())
                        .take(WINDOW)
                        .filter(admitted)
                        .map(|e| e.m),
                );
            }
        }
    }

    /// The [`TagBound`] of a probe's signature against the review `floor`.
    fn tag_bound(&self, p: &Probe, floor: f64, reject_mobile: bool) -> TagBound {
        let sig = &p.sig;
        let (mut same, mut other) = ([0.0; TAGGED], [0.0; TAGGED]);
        for i in 0..TAGGED {
            if sig.present >> i & 1 == 1 {
                // The Name term for other hashes is `max_inexact`, which is at least
                // `max_name_unswapped`: whether the member has parts is not in its tag.
                same[i] = self.max_any[i];
                other[i] = self.max_inexact[i];
            }
        }
        let rest_terms = std::array::from_fn(|j| {
            let i = TAGGED + j;
            [self.max_any[i], self.max_inexact[i]]
        });
        let mobile = Field::Mobile.index();
        let mut company_mask = 0u32;
        let mut company_counts = [0u8; 32];
        for &bit in p.company_bits.get(..p.company_len).unwrap_or(&[]) {
            let b = bit & 31;
            company_mask |= 1 << b;
            company_counts[usize::from(b)] = company_counts[usize::from(b)].saturating_add(1);
        }
        TagBound {
            base: self.weights.prior_weight(),
            rest: sig.rest_tag(),
            rest_terms,
            company_other: other[Field::Company.index()],
            company_levels: self.company_levels,
            company_mask,
            company_counts,
            company_len: p.company_len,
            tag: sig.tag(),
            same: nibble_sums(&same),
            other: nibble_sums(&other),
            floor,
            reject: if reject_mobile && sig.present >> mobile & 1 == 1 {
                1 << mobile
            } else {
                0
            },
        }
    }

    /// An upper bound of the match weight of a probe and a member from the member's
    /// signature: a field present on both sides counts its best level, or its best level but
    /// `exact` when the hashes differ (then the values differ; `exact`-or-`else` fields are
    /// then exactly `else`), `swapped` only when one side has name parts, and the company's
    /// `jw_*` levels only when [`jaro_winkler_bound`] allows them. Summed in the order
    /// [`Weights::weigh`] sums, from terms no smaller, so it is never below the pair's weight
    /// (rounding is monotone).
    fn bound(&self, p: &Probe, b: &Sig) -> f64 {
        let a = &p.sig;
        let both = a.present & b.present;
        let mut w = self.weights.prior_weight();
        for i in 0..N_FIELDS {
            if both >> i & 1 == 0 {
                continue;
            }
            w += if a.h[i] == b.h[i] {
                self.max_any[i]
            } else if i == Field::Name.index() && !(a.parts || b.parts) {
                self.max_name_unswapped
            } else if i == Field::Company.index() {
                self.company_term(p, b)
            } else {
                self.max_inexact[i]
            };
        }
        w
    }

    /// The best company level weight two different company keys can have, given the
    /// [`jaro_winkler_bound`] of the probe's key and the member's.
    fn company_term(&self, p: &Probe, b: &Sig) -> f64 {
        let [jw92, jw80, other] = self.company_levels;
        let bits = p.company_bits.get(..p.company_len).unwrap_or(&[]);
        match jaro_winkler_bound(bits, b.company_chars, usize::from(b.company_len)) {
            Some(jw) if jw < 0.80 => other,
            Some(jw) if jw < 0.92 => jw80.max(other),
            _ => jw92.max(jw80).max(other),
        }
    }

    /// Score `r` against its candidates: the best (weight, levels) per live root lead, for the
    /// roots that reach the review weight (the others decide nothing). A candidate whose
    /// [`bound`](Self::bound) is below the review weight is not compared.
    fn score(&self, p: &Probe, ids: &mut Vec<u32>) -> Vec<(u32, f64, Levels)> {
        let mobile = p
            .prep
            .record()
            .mobile
            .filter(|_| self.cfg.fuzzy.reject_conflicting_mobile);
        let mobile_fold = mobile.map(fold_mac);
        let floor = self
            .cfg
            .fuzzy
            .review_weight
            .min(self.cfg.fuzzy.auto_merge_weight);
        ids.clear();
        let tb = self.tag_bound(p, floor, mobile.is_some());
        self.candidates(p, &tb, ids);
        // Rule out what the signatures can (a member listed twice gets the same answer), then
        // compare the rest once each in member order.
        ids.retain(|&m| {
            let Some(member) = self.members.get(m as usize).filter(|x| x.alive) else {
                return false;
            };
            if let Some(x) = mobile_fold {
                if member.sig.present & MOBILE_BIT != 0 && member.sig.mobile != x {
                    return false;
                }
            }
            self.bound(p, &member.sig) >= floor
        });
        ids.sort_unstable();
        ids.dedup();
        let mut best: Vec<(u32, f64, Levels)> = Vec::new();
        for &m in ids.iter() {
            let Some(member) = self.members.get(m as usize) else {
                continue;
            };
            // Equal folds are not yet equal mobiles.
            let Some(record) = self.records.get(m as usize) else {
                continue;
            };
            if let (Some(x), Some(y)) = (mobile, record.mobile()) {
                if x != y {
                    continue;
                }
            }
            let Some(root) = self.live_root(member.slot) else {
                continue;
            };
            let levels = compare_packed(&p.prep, record);
            let w = self.weights.weigh(&levels);
            if w < floor {
                continue;
            }
            match best.iter_mut().find(|(x, _, _)| *x == root) {
                Some(b) if b.1 < w => *b = (root, w, levels),
                Some(_) => {}
                None => best.push((root, w, levels)),
            }
        }
        best
    }

    /// The live leads a capture with `keys` would join, and how, without changing anything.
    pub fn probe(&self, keys: &MatchKeys) -> Vec<(u32, MatchRule)> {
        let probe = keys.record.as_deref().map(Probe::new);
        self.probe_scored(keys, probe.as_ref(), &mut Vec::new()).0
    }

    #[allow(clippy::type_complexity)]
    fn probe_scored(
        &self,
        keys: &MatchKeys,
        probe: Option<&Probe>,
        ids: &mut Vec<u32>,
    ) -> (
        Vec<(u32, MatchRule)>,
        Vec<(u32, Levels)>,
        Vec<(u32, f64, Levels)>,
    ) {
        let mut found: Vec<(u32, MatchRule)> = Vec::new();
        let push = |root: u32, rule: MatchRule, found: &mut Vec<(u32, MatchRule)>| {
            if !found.iter().any(|(r, _)| *r == root) {
                found.push((root, rule));
            }
        };
        for k in &keys.exact {
            if !self.cfg.matches_kind(k.kind) {
                continue;
            }
            if let Some(i) = kind_slot(k.kind) {
                if let Some(&s) = self.exact[i].get(&k.mac) {
                    if let Some(r) = self.live_root(s) {
                        push(r, MatchRule::of(k.kind), &mut found);
                    }
                }
            }
        }
        let mut fuzzy = Vec::new();
        let mut review = Vec::new();
        if self.cfg.fuzzy.enabled {
            if let Some(p) = probe {
                let f = &self.cfg.fuzzy;
                for (root, w, levels) in self.score(p, ids) {
                    if w >= f.auto_merge_weight {
                        push(root, MatchRule::Fuzzy, &mut found);
                        fuzzy.push((root, levels));
                    } else if w >= f.review_weight {
                        review.push((root, w, levels));
                    }
                }
            }
        }
        (found, fuzzy, review)
    }

    /// Decide where a capture goes and record its keys. `new_lead` is called only when the
    /// capture creates a lead.
    pub fn ingest(&mut self, keys: &MatchKeys, new_lead: impl FnOnce() -> LeadId) -> Decision {
        self.ingest_scored(keys, new_lead).decision
    }

    /// [`ingest`](Self::ingest), also returning the comparison vectors of fuzzy joins and the
    /// review proposals (each pair is proposed once: it is remembered until a rollback).
    pub fn ingest_scored(&mut self, keys: &MatchKeys, new_lead: impl FnOnce() -> LeadId) -> Scored {
        if let Some(d) = keys.digest {
            if let Some(&s) = self.digests.get(&d) {
                if let Some(r) = self.live_root(s) {
                    return Scored {
                        decision: Decision::Unchanged {
                            lead: self.lead_of(r),
                        },
                        fuzzy: Vec::new(),
                        proposals: Vec::new(),
                    };
                }
            }
        }
        let probe = keys.record.as_deref().map(Probe::new);
        let mut ids = std::mem::take(&mut self.scratch);
        let (found, fuzzy_roots, review) = self.probe_scored(keys, probe.as_ref(), &mut ids);
        self.scratch = ids;
        let (target, decision) = if found.is_empty() {
            let lead = new_lead();
            let s = self.push_slot(lead);
            (s, Decision::New { lead })
        } else {
            let (target, rule) = found
                .iter()
                .copied()
                .min_by_key(|(s, _)| self.lead_of(*s))
                .unwrap_or((0, MatchRule::Fuzzy));
            let mut merged = Vec::new();
            for &(other, how) in &found {
                if other == target || self.is_separated(target, other) {
                    continue;
                }
                self.set_parent(other, Some(target));
                merged.push((self.lead_of(other), how));
            }
            (
                target,
                Decision::Joined {
                    lead: self.lead_of(target),
                    rule,
                    merged,
                },
            )
        };
        let fuzzy = fuzzy_roots
            .into_iter()
            .filter(|(r, _)| self.root(*r) == target)
            .map(|(r, l)| (self.lead_of(r), l))
            .collect();
        let mut proposals = Vec::new();
        let lead = self.lead_of(target);
        for (root, weight, levels) in review {
            let r = self.root(root);
            if r == target || self.is_separated(target, r) {
                continue;
            }
            let other = self.lead_of(r);
            let pair = pair_of(lead, other);
            if self.proposed.insert(pair) {
                self.log(Undo::Proposed(pair.0, pair.1));
                proposals.push(Proposal {
                    lead: other,
                    levels,
                    weight,
                });
            }
        }
        let fresh = matches!(decision, Decision::New { .. });
        self.register(target, keys, probe.as_ref(), fresh);
        Scored {
            decision,
            fuzzy,
            proposals,
        }
    }

    fn push_slot(&mut self, lead: LeadId) -> u32 {
        let s = self.slots.len() as u32;
        self.slots.push(Slot {
            lead,
            parent: None,
            alive: true,
        });
        self.seen.push(Seen::default());
        self.live += 1;
        self.by_lead.insert(lead, s);
        self.log(Undo::PushSlot);
        s
    }

    fn set_parent(&mut self, s: u32, parent: Option<u32>) {
        if let Some(old) = self.reparent(s, parent) {
            self.log(Undo::Parent(s, old));
        }
    }

    /// Set slot `s`'s parent, keeping the live count; its former parent, or `None` when there
    /// is no such slot.
    fn reparent(&mut self, s: u32, parent: Option<u32>) -> Option<Option<u32>> {
        let slot = self.slots.get_mut(s as usize)?;
        let (was, old) = (slot.is_live(), slot.parent);
        slot.parent = parent;
        self.live = self.live - usize::from(was) + usize::from(slot.is_live());
        Some(old)
    }

    fn is_separated(&self, a: u32, b: u32) -> bool {
        !self.separated.is_empty()
            && (self.separated.contains(&(a, b)) || self.separated.contains(&(b, a)))
    }

    /// Record `keys` as belonging to the lead in `slot` (used by ingest and by rebuilds).
    ///
    /// A key held by several leads (kept apart by an un-merge) points at the oldest of them,
    /// whatever the order they were registered in, so a rebuild reproduces the live state.
    ///
    /// `fresh`: the lead was just created, so none of its records is known yet.
    fn register(&mut self, slot: u32, keys: &MatchKeys, probe: Option<&Probe>, fresh: bool) {
        if let Some(seen) = self.seen.get_mut(slot as usize) {
            let old = *seen;
            *seen = old.then(keys);
            self.log(Undo::Seen(slot, old));
        }
        let lead = self.lead_of(slot);
        for k in &keys.exact {
            if let Some(i) = kind_slot(k.kind) {
                match self.exact[i].get(&k.mac).copied() {
                    None => {
                        self.exact[i].insert(k.mac, slot);
                        self.log(Undo::Exact(i, k.mac));
                    }
                    Some(old) if old != slot && lead < self.lead_of(old) => {
                        self.exact[i].insert(k.mac, slot);
                        self.log(Undo::ExactWas(i, k.mac, old));
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(d) = keys.digest {
            match self.digests.get(&d).copied() {
                None => {
                    self.digests.insert(d, slot);
                    self.log(Undo::Digest(d));
                }
                Some(old) if old != slot && lead < self.lead_of(old) => {
                    self.digests.insert(d, slot);
                    self.log(Undo::DigestWas(d, old));
                }
                Some(_) => {}
            }
        }
        let built;
        let Some(Probe {
            prep,
            sig,
            keys: ks,
            sorted,
            ..
        }) = (match probe {
            Some(p) => Some(p),
            None => {
                built = keys.record.as_deref().map(Probe::new);
                built.as_ref()
            }
        })
        else {
            return;
        };
        // An identical record already in this lead adds nothing to future matching.
        let root = self.root(slot);
        let known = !fresh && self.recaptured(ks, sig, prep.record(), root);
        if known {
            return;
        }
        let m = self.members.len() as u32;
        self.members.push(Member {
            slot,
            alive: true,
            sig: *sig,
        });
        self.records.push(Packed::of(prep));
        self.log(Undo::PushMember);
        let entry = Entry::new(m, sig);
        // The probe's keys are unique: one entry per block.
        let keep = self.cfg.fuzzy.max_block.max(RECAPTURE_LOOKBACK);
        let give_back = self.undo.is_some();
        for &k in ks {
            let dropped = match self.blocks.entry(k) {
                Occupied(mut o) => o.get_mut().push(entry, keep, give_back),
                Vacant(v) => {
                    v.insert(Block::One(entry));
                    None
                }
            };
            self.log(Undo::Block(k));
            if let Some(older) = dropped {
                self.log(Undo::Trimmed(k, older));
            }
        }
        if let Some((f, r)) = sorted {
            // Members are numbered in order: pushing keeps each key's list ascending.
            for (map, key) in [(&mut self.forward, f), (&mut self.reversed, r)] {
                match map.get_mut(key) {
                    Some(es) => es.push(entry),
                    None => {
                        map.insert(key.clone(), Entries::One(entry));
                    }
                }
            }
            self.log(Undo::Sorted(m));
        }
    }

    /// Whether a live member of the lead rooted at `root` already holds `record` (signature
    /// `sig`). Such a member is in every block of `ks`: the latest [`RECAPTURE_LOOKBACK`]
    /// entries of the smallest are searched.
    fn recaptured(&self, ks: &[u64], sig: &Sig, record: &Record, root: u32) -> bool {
        let Some(block) = ks
            .iter()
            .filter_map(|k| self.blocks.get(k))
            .min_by_key(|b| b.size())
        else {
            return false;
        };
        let mut latest = block.latest().iter().rev().take(RECAPTURE_LOOKBACK);
        latest.any(|&Entry { m, .. }| {
            self.members.get(m as usize).is_some_and(|x| {
                x.alive
                    && x.sig.whole == sig.whole
                    && self
                        .records
                        .get(m as usize)
                        .is_some_and(|r| r.holds(record))
                    && self.root(x.slot) == root
            })
        })
    }

    /// Rebuild: add a known lead (from storage) with the keys of its own captures. Leads must
    /// be added before their merge links ([`link`](Self::link)).
    pub fn load(&mut self, lead: LeadId, keys: &[MatchKeys]) {
        let s = match self.by_lead.get(&lead) {
            Some(s) => *s,
            None => self.push_slot(lead),
        };
        for k in keys {
            self.register(s, k, None, false);
        }
    }

    /// Catch up with `keys`, the keys of every contribution stored with `lead` as their
    /// origin, in stored order, after another process wrote them: registers those after the
    /// ones this engine registered, as [`load`](Self::load) would. `false`, registering
    /// nothing, when the ones it registered are not the first of `keys` (a contribution was
    /// changed or removed): the engine must then be rebuilt.
    pub(crate) fn catch_up(&mut self, lead: LeadId, keys: &[MatchKeys]) -> bool {
        let seen = self
            .by_lead
            .get(&lead)
            .and_then(|&s| self.seen.get(s as usize))
            .copied()
            .unwrap_or_default();
        let known = seen.count as usize;
        let Some((before, after)) = (known <= keys.len()).then(|| keys.split_at(known)) else {
            return false;
        };
        if before.iter().fold(Seen::default(), Seen::then) != seen {
            return false;
        }
        if known == 0 || !after.is_empty() {
            self.load(lead, after);
        }
        true
    }

    /// What the engine knows of `lead`: `None` when it does not know it, else whether it is
    /// alive (not erased) and the lead it was merged into, if any.
    pub(crate) fn standing(&self, lead: LeadId) -> Option<(bool, Option<LeadId>)> {
        let x = self.slots.get(*self.by_lead.get(&lead)? as usize)?;
        Some((x.alive, x.parent.map(|p| self.lead_of(p))))
    }

    /// Record that `absorbed` was merged into `survivor` (rebuild, or a manual merge).
    ///
    /// # Errors
    /// A validation error when either lead is unknown, or when the merge would make a cycle.
    pub fn link(&mut self, absorbed: LeadId, survivor: LeadId) -> Result<()> {
        let a = self.slot(absorbed)?;
        let s = self.slot(survivor)?;
        if self.root(s) == a || a == s {
            return Err(CrmError::validation(
                "merge",
                "a lead cannot be merged into itself",
            ));
        }
        self.set_parent(a, Some(s));
        Ok(())
    }

    /// Undo the merge of `absorbed` (back to a lead of its own) and keep the two apart from
    /// now on.
    ///
    /// # Errors
    /// A validation error when the lead is unknown or not merged.
    pub fn unlink(&mut self, absorbed: LeadId) -> Result<LeadId> {
        let a = self.slot(absorbed)?;
        let parent = self
            .slots
            .get(a as usize)
            .and_then(|s| s.parent)
            .ok_or_else(|| CrmError::validation("lead", format!("{absorbed} is not merged")))?;
        let root = self.root(parent);
        self.set_parent(a, None);
        self.keep_apart(root, a);
        Ok(self.lead_of(parent))
    }

    /// Keep two leads apart (rebuild of an earlier un-merge, or a rejected review).
    ///
    /// # Errors
    /// A validation error when either lead is unknown.
    pub fn separate(&mut self, a: LeadId, b: LeadId) -> Result<()> {
        let (x, y) = (self.slot(a)?, self.slot(b)?);
        self.keep_apart(x, y);
        Ok(())
    }

    fn keep_apart(&mut self, a: u32, b: u32) {
        if self.separated.insert((a, b)) {
            self.log(Undo::Separated(a, b));
        }
    }

    /// Remember that the pair is in the review queue (rebuild), so it is not proposed again.
    pub fn mark_proposed(&mut self, a: LeadId, b: LeadId) {
        let pair = pair_of(a, b);
        if self.proposed.insert(pair) {
            self.log(Undo::Proposed(pair.0, pair.1));
        }
    }

    /// Whether the pair was proposed for review before.
    pub fn was_proposed(&self, a: LeadId, b: LeadId) -> bool {
        self.proposed.contains(&pair_of(a, b))
    }

    fn slot(&self, lead: LeadId) -> Result<u32> {
        self.by_lead.get(&lead).copied().ok_or_else(|| {
            CrmError::validation("lead", format!("{lead} is not in the dedupe engine"))
        })
    }

    /// Forget a lead entirely (erasure): its keys, digests and records, and those of leads
    /// merged into it. Returns the erased leads.
    pub fn erase(&mut self, lead: LeadId) -> Vec<LeadId> {
        self.erase_all(&[lead])
    }

    /// [`erase`](Self::erase) each of `leads`, in one pass over the engine's tables (a rebuild
    /// forgets every erased lead of a tenant at once). Unknown leads are skipped.
    pub fn erase_all(&mut self, leads: &[LeadId]) -> Vec<LeadId> {
        let roots: HashSet<u32> = leads
            .iter()
            .filter_map(|l| self.by_lead.get(l))
            .map(|&s| self.root(s))
            .collect();
        if roots.is_empty() {
            return Vec::new();
        }
        let doomed: HashSet<u32> = (0..self.slots.len() as u32)
            .filter(|&x| roots.contains(&self.root(x)))
            .collect();
        for &d in &doomed {
            if let Some(slot) = self.slots.get_mut(d as usize) {
                self.live -= usize::from(slot.is_live());
                slot.alive = false;
            }
        }
        for m in &mut self.exact {
            m.retain(|_, v| !doomed.contains(v));
        }
        self.digests.retain(|_, v| !doomed.contains(v));
        let mut doomed_members = HashSet::new();
        for (i, (m, r)) in self.members.iter_mut().zip(&mut self.records).enumerate() {
            if doomed.contains(&m.slot) {
                m.alive = false;
                *r = Packed::default();
                m.sig = Sig::default();
                doomed_members.insert(i as u32);
            }
        }
        if !doomed_members.is_empty() {
            // The sorted sets hold name keys: drop the erased ones.
            for map in [&mut self.forward, &mut self.reversed] {
                map.retain(|_, ms| ms.retain(|e| !doomed_members.contains(&e.m)));
            }
        }
        let mut out: Vec<LeadId> = doomed.iter().map(|&d| self.lead_of(d)).collect();
        out.sort();
        out
    }

    /// The live root lead `lead` belongs to (itself unless merged).
    pub fn survivor(&self, lead: LeadId) -> Option<LeadId> {
        let s = *self.by_lead.get(&lead)?;
        self.live_root(s).map(|r| self.lead_of(r))
    }

    /// Number of live leads (neither merged into another nor erased): a count kept as leads
    /// are captured, merged, un-merged, erased and rolled back, not a scan.
    pub fn live_count(&self) -> usize {
        self.live
    }

    /// Number of leads known (live, merged or erased).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no lead is known.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The live leads, each with the leads merged into it (including itself), sorted.
    pub fn clusters(&self) -> Vec<Vec<LeadId>> {
        let mut by_root: HashMap<u32, Vec<LeadId>> = HashMap::new();
        for (i, s) in self.slots.iter().enumerate() {
            let r = self.root(i as u32);
            if self.slots.get(r as usize).is_some_and(|x| x.alive) {
                by_root.entry(r).or_default().push(s.lead);
            }
        }
        let mut out: Vec<Vec<LeadId>> = by_root
            .into_values()
            .map(|mut v| {
                v.sort();
                v
            })
            .collect();
        out.sort();
        out
    }

    /// The exact keys known, as `(kind, mac)` (for audits and erasure tests).
    pub fn exact_keys(&self) -> impl Iterator<Item = (BlindKind, u128)> + '_ {
        self.exact
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.keys().map(move |k| (KIND_OF_SLOT[i], *k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::compare::{compare, compare_prepared, Prepared};

    fn mob(mac: u128) -> BlindIndex {
        BlindIndex {
            kind: BlindKind::Mobile,
            mac,
        }
    }

    fn email(mac: u128) -> BlindIndex {
        BlindIndex {
            kind: BlindKind::Email,
            mac,
        }
    }

    #[test]
    fn a_catch_up_registers_the_contributions_past_those_seen_or_refuses() {
        let k = |m: u128| MatchKeys::new().with_exact(mob(m));
        let a = LeadId::new();
        // This engine knows the lead's first contribution; another process stored a second.
        let mut e = DedupeEngine::new(DedupeConfig::default());
        e.load(a, &[k(1)]);
        assert!(e.probe(&k(2)).is_empty());
        assert!(e.catch_up(a, &[k(1), k(2)]));
        assert_eq!(e.probe(&k(2)).len(), 1);
        // Again with the same contributions: nothing to register.
        assert!(e.catch_up(a, &[k(1), k(2)]));
        // The contributions it registered changed, or some are gone: refused.
        assert!(!e.catch_up(a, &[k(3), k(2)]));
        assert!(!e.catch_up(a, &[k(1)]));
        assert!(!e.catch_up(a, &[k(2), k(1)]));
        // A lead it does not know is loaded whole; rolled back, it is unknown again.
        let b = LeadId::new();
        e.begin();
        assert!(e.catch_up(b, &[k(4), k(5)]));
        assert_eq!(e.standing(b), Some((true, None)));
        assert_eq!(e.probe(&k(5)).len(), 1);
        e.rollback();
        assert_eq!(e.standing(b), None);
        assert!(e.catch_up(b, &[k(4), k(5)]));
        assert!(!e.catch_up(b, &[k(4)]));
    }

    #[test]
    fn an_unmerge_or_separation_rolled_back_keeps_nothing_apart() {
        let k = |m: u128| MatchKeys::new().with_exact(mob(m));
        let (a, b, c) = (LeadId::new(), LeadId::new(), LeadId::new());
        let mut e = DedupeEngine::new(DedupeConfig::default());
        e.load(a, &[k(1)]);
        e.load(b, &[k(2)]);
        e.load(c, &[k(3)]);
        e.link(b, a).unwrap();
        let slot = |e: &DedupeEngine, l: LeadId| e.slot(l).unwrap();
        e.begin();
        assert_eq!(e.unlink(b).unwrap(), a);
        e.separate(a, c).unwrap();
        assert!(e.is_separated(slot(&e, a), slot(&e, b)));
        assert!(e.is_separated(slot(&e, a), slot(&e, c)));
        e.rollback();
        assert_eq!(e.standing(b), Some((true, Some(a))));
        assert!(!e.is_separated(slot(&e, a), slot(&e, b)));
        assert!(!e.is_separated(slot(&e, a), slot(&e, c)));
        // Committed, they stay apart.
        e.begin();
        e.unlink(b).unwrap();
        e.commit();
        assert!(e.is_separated(slot(&e, a), slot(&e, b)));
    }

    #[test]
    fn erasing_leads_at_once_is_erasing_them_one_by_one() {
        let k = |m: u128| MatchKeys::new().with_exact(mob(m));
        let leads: Vec<LeadId> = (0..5).map(|_| LeadId::new()).collect();
        let mut each = DedupeEngine::new(DedupeConfig::default());
        for (i, l) in leads.iter().enumerate() {
            each.load(*l, &[k(i as u128), k(100 + i as u128)]);
        }
        each.link(leads[1], leads[0]).unwrap();
        let mut all = each.clone();
        let mut erased = each.erase(leads[0]);
        erased.extend(each.erase(leads[3]));
        erased.sort();
        assert_eq!(all.erase_all(&[leads[3], leads[0], LeadId::new()]), erased);
        assert_eq!(erased, {
            let mut v = vec![leads[0], leads[1], leads[3]];
            v.sort();
            v
        });
        for e in [&each, &all] {
            assert_eq!(e.live_count(), 2);
            for (i, l) in leads.iter().enumerate() {
                let gone = [0, 1, 3].contains(&i);
                assert_eq!(e.probe(&k(i as u128)).is_empty(), gone, "lead {i}");
                assert_eq!(e.survivor(*l).is_none(), gone, "lead {i}");
            }
        }
    }

    #[test]
    fn bridging_capture_merges_into_oldest_and_rollback_undoes() {
        let mut e = DedupeEngine::new(DedupeConfig::default());
        let a = e
            .ingest(&MatchKeys::new().with_exact(mob(1)), LeadId::new)
            .lead();
        let b = e
            .ingest(&MatchKeys::new().with_exact(email(2)), LeadId::new)
            .lead();
        e.begin();
        let d = e.ingest(
            &MatchKeys::new().with_exact(mob(1)).with_exact(email(2)),
            LeadId::new,
        );
        assert_eq!(
            d,
            Decision::Joined {
                lead: a,
                rule: MatchRule::Mobile,
                merged: vec![(b, MatchRule::Email)]
            }
        );
        assert_eq!(e.survivor(b), Some(a));
        e.rollback();
        assert_eq!(e.survivor(b), Some(b));
        assert_eq!(e.clusters().len(), 2);
    }

    #[test]
    fn three_bands_and_proposals_once() {
        let mut e = DedupeEngine::new(DedupeConfig::default());
        let rec = |name: &str, company: &str, region: &str| {
            MatchKeys::new().with_record(
                Record::new()
                    .full_name(name)
                    .company(company)
                    .region(region),
            )
        };
        let a = e.ingest(&rec("李娜", "华东重型机械制造", "上海"), LeadId::new);
        // Same name, company, region: above the auto-merge weight.
        let same = e.ingest_scored(&rec("李娜", "华东重型机械制造", "上海"), LeadId::new);
        assert_eq!(same.decision.lead(), a.lead());
        assert!(matches!(
            same.decision,
            Decision::Joined {
                rule: MatchRule::Fuzzy,
                ..
            }
        ));
        assert_eq!(same.fuzzy.len(), 1);
        assert_eq!(same.fuzzy[0].0, a.lead());
        // The company one character off: between the bands.
        let near = e.ingest_scored(&rec("李娜", "华东重型机械制遭", "上海"), LeadId::new);
        assert!(matches!(near.decision, Decision::New { .. }));
        assert_eq!(near.proposals.len(), 1);
        assert_eq!(near.proposals[0].lead, a.lead());
        let w = near.proposals[0].weight;
        assert!(w < e.config().fuzzy.auto_merge_weight && w >= e.config().fuzzy.review_weight);
        assert!(e.was_proposed(a.lead(), near.decision.lead()));
        // Another name entirely: distinct, nothing proposed.
        let other = e.ingest_scored(&rec("赵敏", "南方重工", "广州"), LeadId::new);
        assert!(matches!(other.decision, Decision::New { .. }));
        assert!(other.proposals.is_empty());
        // A capture joining the proposed lead does not propose the same pair again.
        let again = e.ingest_scored(&rec("李娜", "华东重型机械制遭", "上海"), LeadId::new);
        assert_eq!(again.decision.lead(), near.decision.lead());
        assert!(again.proposals.is_empty(), "{:?}", again.proposals);
        // Rolled back, a proposal is forgotten (it was never stored).
        let mut f = DedupeEngine::new(DedupeConfig::default());
        let x = f.ingest(&rec("李娜", "华东重型机械制造", "上海"), LeadId::new);
        f.begin();
        let y = f.ingest_scored(&rec("李娜", "华东重型机械制遭", "上海"), LeadId::new);
        assert!(f.was_proposed(x.lead(), y.decision.lead()));
        f.rollback();
        assert!(!f.was_proposed(x.lead(), y.decision.lead()));
    }

    #[test]
    fn typo_tolerant_blocking_reaches_swapped_and_misspelt_names() {
        let mut e = DedupeEngine::new(DedupeConfig::default());
        let p = |g: &str, f: &str| {
            MatchKeys::new().with_record(
                Record::new()
                    .given(g)
                    .family(f)
                    .dob_ymd(1984, 3, 12)
                    .postcode("2600"),
            )
        };
        let a = e.ingest(&p("Lachlan", "Reid"), LeadId::new).lead();
        assert_eq!(e.ingest(&p("Lachlnn", "Reid"), LeadId::new).lead(), a);
        assert_eq!(e.ingest(&p("Reid", "Lachlan"), LeadId::new).lead(), a);
        assert_ne!(e.ingest(&p("Sophie", "Mitchell"), LeadId::new).lead(), a);
    }

    fn assorted_records() -> Vec<Record> {
        let mut out = Vec::new();
        let names: [(&str, &str); 6] = [
            ("Lachlan", "Reid"),
            ("Lachlnn", "Reid"),
            ("Reid", "Lachlan"),
            ("伟", "张"),
            ("Sophie", "Mitchell"),
            ("Ann", "Lee"),
        ];
        for (i, (g, f)) in names.iter().enumerate() {
            let mut r = Record::new().given(g).family(f);
            if i % 2 == 0 {
                r = r.dob_ymd(1984, 3, 12).postcode("2600");
            } else {
                r = r.dob_ymd(1984, 12, 3).postcode("2601");
            }
            r.mobile = (i % 3 != 0).then_some(i as u128 % 2);
            out.push(r.clone().address("12 Smith St, Canberra").region("ACT"));
            out.push(r.company("Acme Pty Ltd"));
        }
        for (n, c, reg) in [
            ("张伟", "华东重型机械制造", "上海"),
            ("张 伟", "华东重型机械制遭", "上海"),
            ("张伟", "南方重工", "广州"),
            ("欧阳建华", "鑫峰机械", "苏州"),
            ("欧阳建化", "南京鑫峰华达机械有限公司", "南京"),
            ("李娜", "华东重型机械制造", "上海"),
            ("lachlanreid", "acme", "act"),
        ] {
            let mut r = Record::new().full_name(n).company(c).region(reg);
            out.push(r.clone());
            r.email = Some(7);
            r.mobile = Some(1);
            out.push(r.address("上海中山路12号101室"));
        }
        // Every identifier, and a name given in one part only.
        let mut ids = Record::new().given("Ann").dob_ymd(1990, 1, 1);
        (ids.id_document, ids.wechat, ids.company_code) = (Some(3), Some(4), Some(5));
        out.push(ids.clone());
        ids.company_code = Some(6);
        out.push(ids);
        out.push(Record::new().family("Lee").postcode("2600"));
        out.push(Record::new());
        out
    }

    #[test]
    fn tag_masks_and_nibble_sums_agree_with_plain_loops() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x = marketingforce_core::id::splitmix64(x);
            x
        };
        for round in 0..20_000 {
            // Bytes from a small range so that zeros and equal bytes are frequent.
            let byte = |v: u64, i: usize| ((v >> (8 * i)) % (1 + round % 4) as u64) as u8;
            let (a, b) = (next(), next());
            let mine: Tag = std::array::from_fn(|i| byte(a, i));
            let t: Tag = std::array::from_fn(|i| byte(b, i));
            let (same, other) = tag_masks(&mine, &t);
            for i in 0..TAGGED {
                let has = t[i] != 0;
                assert_eq!(same >> i & 1 == 1, has && t[i] == mine[i], "{mine:?} {t:?}");
                assert_eq!(
                    other >> i & 1 == 1,
                    has && t[i] != mine[i],
                    "{mine:?} {t:?}"
                );
            }
        }
        let terms: [f64; TAGGED] = std::array::from_fn(|i| (i as f64 - 3.5) * 1.75);
        let sums = nibble_sums(&terms);
        for mask in 0..=255u8 {
            let plain: f64 = (0..TAGGED)
                .filter(|i| mask >> i & 1 == 1)
                .map(|i| terms[i])
                .sum();
            let table = sums[0][usize::from(mask & 15)] + sums[1][usize::from(mask >> 4)];
            assert!((plain - table).abs() < 1e-12, "{mask}: {plain} {table}");
        }
    }

    #[test]
    fn the_folded_filter_never_bounds_below_the_full_one() {
        let mut x = 7u64;
        let mut next = move || {
            x = marketingforce_core::id::splitmix64(x);
            x
        };
        let abc: Vec<char> = "华东重型机械制造南方鑫峰abcdefg".chars().collect();
        let e = DedupeEngine::new(DedupeConfig::default());
        for _ in 0..5_000 {
            let word = |n: u64, next: &mut dyn FnMut() -> u64| -> String {
                (0..1 + n % 8)
                    .map(|_| abc[next() as usize % abc.len()])
                    .collect()
            };
            let (n1, n2) = (next(), next());
            let a = Record::new()
                .full_name("张伟")
                .company(&word(n1, &mut next));
            let b = Record::new()
                .full_name("张伟")
                .company(&word(n2, &mut next));
            let (pa, pb) = (Probe::new(&a), Probe::new(&b));
            let bits = &pa.company_bits[..pa.company_len];
            let full =
                jaro_winkler_bound(bits, pb.sig.company_chars, usize::from(pb.sig.company_len));
            let bloom = fold_bloom(pb.sig.company_chars);
            let folded: u64 = u64::from(bloom) | u64::from(bloom) << 32;
            let coarse = jaro_winkler_bound(bits, folded, usize::from(pb.sig.company_len));
            if let (Some(f), Some(c)) = (full, coarse) {
                assert!(c >= f, "{a:?} {b:?}");
            }
            // The tag's company term is never below the full bound's.
            let tb = e.tag_bound(&pa, f64::NEG_INFINITY, false);
            if a.company != b.company {
                assert!(tb.company_term(&Entry::new(0, &pb.sig)) >= e.company_term(&pa, &pb.sig));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// The weight of a pair is never above the full bound, and the tag's bound admits
        /// the pair at its own weight: the pruning never drops a pair the score would keep.
        #[test]
        fn pruning_never_drops_a_pair_the_score_keeps(
            fields in proptest::collection::vec(0u8..4, 24),
        ) {
            let names = ["张伟", "张 伟", "张玮", "李娜"];
            let companies = ["华东重型机械制造", "华东重型机械制遭", "南方重工", "鑫峰机械"];
            let make = |f: &[u8]| {
                let mut r = Record::new();
                if f[0] > 0 {
                    r = r.full_name(names[usize::from(f[0])]);
                } else {
                    r = r.given("Lachlan").family(["Reid", "Ried", "Lee", "Reid"][usize::from(f[1])]);
                }
                if f[2] > 0 {
                    r = r.company(companies[usize::from(f[3])]);
                }
                if f[4] > 0 {
                    r = r.dob_ymd(1980 + i32::from(f[4]), 3, 12);
                }
                if f[5] > 0 {
                    r = r.postcode(["", "2600", "2601", "3000"][usize::from(f[5])]);
                }
                if f[6] > 0 {
                    r = r.region(["", "上海", "广州", "act"][usize::from(f[6])]);
                }
                if f[7] > 0 {
                    r = r.address(["", "上海中山路12号101室", "12 Smith St", "上海中山路12号"][usize::from(f[7])]);
                }
                let id = |v: u8| (v > 0).then_some(u128::from(v));
                r.mobile = id(f[8]);
                r.email = id(f[9]);
                r.id_document = id(f[10]);
                r.wechat = id(f[11]);
                r
            };
            let (a, b) = (make(&fields[..12]), make(&fields[12..]));
            let e = DedupeEngine::new(DedupeConfig::default());
            let (pa, pb) = (Probe::new(&a), Probe::new(&b));
            let w = e.weights().weigh(&compare(&a, &b));
            let bound = e.bound(&pa, &pb.sig);
            proptest::prop_assert!(bound >= w, "bound {} < weight {}", bound, w);
            let entry = Entry::new(0, &pb.sig);
            proptest::prop_assert!(e.tag_bound(&pa, w, false).admits(&entry));
            proptest::prop_assert!(e.tag_bound(&pa, bound, false).admits(&entry));
            let conflict = matches!((a.mobile, b.mobile), (Some(x), Some(y)) if x != y);
            if !conflict {
                proptest::prop_assert!(e.tag_bound(&pa, w, true).admits(&entry));
            }
        }
    }

    #[test]
    fn the_jaro_winkler_bound_is_never_below_the_similarity() {
        // Short keys over small alphabets (many repeated and shared characters), CJK and Latin.
        let alphabets: [&[char]; 3] = [
            &['a', 'b', 'c'],
            &['机', '械', '华', '东', '业'],
            &['a', 'e', 'i', 'o', 'n', 'r', 's', 't', 'l', 'c'],
        ];
        let mut x = 0x1234_5678u64;
        let mut next = || {
            x = marketingforce_core::id::splitmix64(x);
            x
        };
        let mut pruned = 0;
        for round in 0..20_000 {
            let abc = alphabets[round % alphabets.len()];
            let (la, lb) = (1 + next() as usize % 9, 1 + next() as usize % 9);
            let a: Vec<char> = (0..la).map(|_| abc[next() as usize % abc.len()]).collect();
            let b: Vec<char> = (0..lb).map(|_| abc[next() as usize % abc.len()]).collect();
            let bits: Vec<u8> = a.iter().map(|&c| char_bit(c)).collect();
            let bloom = b.iter().fold(0u64, |m, &c| m | 1 << char_bit(c));
            let ub = jaro_winkler_bound(&bits, bloom, b.len()).unwrap();
            let jw = jaro_winkler_chars(&a, &b);
            assert!(ub >= jw, "{a:?} {b:?}: bound {ub} < {jw}");
            pruned += usize::from(ub < 0.80);
        }
        assert!(
            pruned > 1_000,
            "the bound tells most different keys apart: {pruned}"
        );
        assert_eq!(jaro_winkler_bound(&[], 1, 1), None);
        assert_eq!(jaro_winkler_bound(&[1; 65], 1, 1), None);
    }

    #[test]
    fn prepared_and_packed_comparisons_and_the_bound_agree_with_the_plain_scoring() {
        let e = DedupeEngine::new(DedupeConfig::default());
        let rs = assorted_records();
        let probes: Vec<Probe> = rs.iter().map(Probe::new).collect();
        let (mut pruned, mut tag_pruned) = (0, 0);
        for (a, pa) in rs.iter().zip(&probes) {
            for (b, pb) in rs.iter().zip(&probes) {
                let plain = compare(a, b);
                let (prep_a, prep_b) = (Prepared::new(a.clone()), Prepared::new(b.clone()));
                assert_eq!(compare_prepared(&prep_a, &prep_b), plain, "{a:?} {b:?}");
                let packed = Packed::of(&pb.prep);
                assert_eq!(compare_packed(&pa.prep, &packed), plain, "{a:?} {b:?}");
                assert!(packed.holds(b), "{b:?}");
                assert_eq!(packed.name_key(), b.name_key().as_deref(), "{b:?}");
                assert_eq!(packed.holds(a), a == b, "{a:?} {b:?}");
                let w = e.weights().weigh(&plain);
                let bound = e.bound(pa, &pb.sig);
                assert!(bound >= w, "bound {bound} < weight {w}: {a:?} {b:?}");
                if bound < e.config().fuzzy.review_weight {
                    pruned += 1;
                }
                // The tag's bound admits every pair the full bound admits.
                for floor in [-1.0, bound, w] {
                    let tb = e.tag_bound(pa, floor, false);
                    if bound >= floor {
                        assert!(tb.admits(&Entry::new(0, &pb.sig)), "{floor}: {a:?} {b:?}");
                    }
                }
                let rejecting = e.tag_bound(pa, f64::NEG_INFINITY, true);
                let conflict = matches!((a.mobile, b.mobile), (Some(x), Some(y)) if x != y);
                if !conflict {
                    assert!(rejecting.admits(&Entry::new(0, &pb.sig)), "{a:?} {b:?}");
                }
                tag_pruned +=
                    usize::from(!e.tag_bound(pa, -1.0, true).admits(&Entry::new(0, &pb.sig)));
            }
        }
        assert!(pruned > 0, "the bound rules some pairs out");
        assert!(tag_pruned > 0, "so does the tag's");
        // Sorted-name keys order as their strings.
        let mut keys: Vec<&str> = vec![
            "a",
            "ab",
            "abc",
            "张伟",
            "张",
            "",
            "abcdefghijklmnopq",
            "abcdefghijklmnop",
            "abcdefghijklmnopqr",
        ];
        let mut by_key = keys.clone();
        keys.sort();
        by_key.sort_by_key(|k| SortKey::new(k.as_bytes()));
        assert_eq!(keys, by_key);
        assert_eq!(SortKey::reversed("张伟a"), SortKey::new("a伟张".as_bytes()));
    }

    #[test]
    fn conflicting_mobiles_and_unmerge_separate() {
        let mut e = DedupeEngine::new(DedupeConfig::default());
        let a = e
            .ingest(
                &MatchKeys::new()
                    .with_exact(mob(1))
                    .with_fuzzy("张伟", "某某机械", Some(1)),
                LeadId::new,
            )
            .lead();
        // Same name and company, different mobile: another 张伟.
        let b = e
            .ingest(
                &MatchKeys::new()
                    .with_exact(mob(2))
                    .with_fuzzy("张伟", "某某机械", Some(2)),
                LeadId::new,
            )
            .lead();
        assert_ne!(a, b);
        // Un-merge keeps leads apart afterwards.
        let x = e
            .ingest(&MatchKeys::new().with_exact(email(9)), LeadId::new)
            .lead();
        let y = e
            .ingest(&MatchKeys::new().with_exact(mob(8)), LeadId::new)
            .lead();
        e.ingest(
            &MatchKeys::new().with_exact(email(9)).with_exact(mob(8)),
            LeadId::new,
        );
        assert_eq!(e.survivor(y), Some(x));
        assert_eq!(e.unlink(y).unwrap(), x);
        let again = e.ingest(
            &MatchKeys::new().with_exact(email(9)).with_exact(mob(8)),
            LeadId::new,
        );
        assert_eq!(
            again,
            Decision::Joined {
                lead: x,
                rule: MatchRule::Email,
                merged: vec![]
            }
        );
        assert_eq!(e.survivor(y), Some(y));
    }

    #[test]
    fn jaro_winkler_agrees_with_strsim() {
        for (a, b) in [
            ("华东重型机械制造", "华东重型机械制遭"),
            ("martha", "marhta"),
            ("张伟", "张玮"),
            ("", "x"),
            ("abc", "abc"),
            ("dixon", "dicksonx"),
        ] {
            assert!(
                (jaro_winkler(a, b) - strsim::jaro_winkler(a, b)).abs() < 1e-12,
                "{a} {b}"
            );
        }
    }

    #[test]
    fn erased_and_rolled_back_records_no_longer_match() {
        let mut e = DedupeEngine::new(DedupeConfig::default());
        let fuzzy = || MatchKeys::new().with_fuzzy("张伟", "华东重型机械制造", None);
        let a = e.ingest(&fuzzy(), LeadId::new).lead();
        assert_eq!(e.ingest(&fuzzy(), LeadId::new).lead(), a);
        assert_eq!(e.erase(a), vec![a]);
        assert!(e.forward.is_empty() && e.reversed.is_empty());
        let b = e.ingest(&fuzzy(), LeadId::new);
        assert!(matches!(b, Decision::New { .. }), "{b:?}");
        e.begin();
        let c = e.ingest(
            &MatchKeys::new().with_fuzzy("李娜", "华东重型机械制造", None),
            LeadId::new,
        );
        assert!(matches!(c, Decision::New { .. }));
        e.rollback();
        let d = e.ingest(
            &MatchKeys::new().with_fuzzy("李娜", "华东重型机械制造", Some(6)),
            LeadId::new,
        );
        assert!(matches!(d, Decision::New { .. }), "{d:?}");
        // A conflicting mobile is rejected, a matching one joins.
        let f = e.ingest(
            &MatchKeys::new().with_fuzzy("李娜", "华东重型机械制造", Some(7)),
            LeadId::new,
        );
        assert_ne!(f.lead(), d.lead());
        let g = e.ingest(
            &MatchKeys::new().with_fuzzy("李娜", "华东重型机械制造", Some(6)),
            LeadId::new,
        );
        assert_eq!(g.lead(), d.lead());
    }

    #[test]
    fn a_rollback_undoes_only_its_own_batch_and_leaves_the_sorted_sets_as_they_were() {
        let mut e = DedupeEngine::new(DedupeConfig::default());
        let keys = |name: &str| MatchKeys::new().with_fuzzy(name, "华东重型机械制造", None);
        e.begin();
        let a = e.ingest(&keys("张伟"), LeadId::new).lead();
        e.commit();
        let (forward, reversed) = (e.forward.clone(), e.reversed.clone());
        e.begin();
        let b = e.ingest(&keys("李娜"), LeadId::new).lead();
        assert_eq!(e.ingest(&keys("李娜"), LeadId::new).lead(), b);
        assert_eq!(e.forward.len(), 2);
        e.rollback();
        assert_eq!((e.forward.clone(), e.reversed.clone()), (forward, reversed));
        // The committed batch stays; the rolled-back lead is gone.
        assert_eq!(e.ingest(&keys("张伟"), LeadId::new).lead(), a);
        assert_eq!(e.survivor(b), None);
        let c = e.ingest(&keys("李娜"), LeadId::new);
        assert!(matches!(c, Decision::New { .. }), "{c:?}");
    }

    fn entry(m: u32) -> Entry {
        Entry {
            m,
            company_chars: m.rotate_left(7),
            tag: [1; TAGGED],
            company_len: 3,
            rest: [0; N_FIELDS - TAGGED],
        }
    }

    #[test]
    fn a_block_keeps_its_latest_entries_counts_the_rest_and_undoes_a_drop() {
        for keep in [1, 3, 16] {
            let mut b = Block::One(entry(0));
            // The state before each push, and what the push dropped.
            let mut history: Vec<(Block, Option<Vec<Entry>>)> = Vec::new();
            for m in 1..200u32 {
                let before = b.clone();
                let dropped = b.push(entry(m), keep, true);
                history.push((before, dropped));
                let kept = b.latest();
                assert_eq!(b.size(), m as usize + 1, "keep {keep}");
                assert!(kept.len() >= keep.min(m as usize + 1), "keep {keep}");
                assert!(kept.len() < 2 * keep.max(2), "keep {keep}");
                let first = m + 1 - kept.len() as u32;
                assert_eq!(kept, (first..=m).map(entry).collect::<Vec<_>>());
            }
            // Undone in reverse (the drop first, then the push), each step gives back the
            // block as it was.
            while let Some((before, dropped)) = history.pop() {
                if let Some(older) = dropped {
                    b.restore(older);
                }
                assert!(b.pop());
                // (A popped block stays `Many`.)
                assert_eq!(
                    (b.latest(), b.size()),
                    (before.latest(), before.size()),
                    "keep {keep}"
                );
            }
            // Without `give_back`, nothing is handed back but the block is the same.
            let mut quiet = Block::One(entry(0));
            let mut loud = Block::One(entry(0));
            for m in 1..100u32 {
                assert_eq!(quiet.push(entry(m), keep, false), None);
                loud.push(entry(m), keep, true);
            }
            assert_eq!(quiet, loud);
        }
    }

    #[test]
    fn a_rollback_gives_back_the_entries_a_large_block_dropped() {
        let mut cfg = DedupeConfig::default();
        cfg.fuzzy.max_block = RECAPTURE_LOOKBACK;
        let mut e = DedupeEngine::new(cfg);
        // One name and one company, different mobiles: different leads in the same blocks,
        // which fill up.
        let keys = |i: u128| MatchKeys::new().with_fuzzy("张伟", "华东重型机械制造", Some(i));
        for i in 0..20 {
            e.ingest(&keys(i), LeadId::new);
        }
        let view = |e: &DedupeEngine| {
            let mut v: Vec<(u64, Vec<Entry>, usize)> = e
                .blocks
                .iter()
                .map(|(k, b)| (*k, b.latest().to_vec(), b.size()))
                .collect();
            v.sort_by_key(|x| x.0);
            v
        };
        let blocks = view(&e);
        e.begin();
        for i in 20..120 {
            e.ingest(&keys(i), LeadId::new);
        }
        assert!(
            e.blocks
                .values()
                .any(|b| matches!(b, Block::Many(_, d) if *d > 0)),
            "some block dropped entries"
        );
        e.rollback();
        assert_eq!(view(&e), blocks);
    }

    #[test]
    fn erase_forgets_keys() {
        let mut e = DedupeEngine::new(DedupeConfig::default());
        let a = e
            .ingest(&MatchKeys::new().with_exact(mob(1)), LeadId::new)
            .lead();
        assert_eq!(e.erase(a), vec![a]);
        assert_eq!(e.exact_keys().count(), 0);
        let again = e.ingest(&MatchKeys::new().with_exact(mob(1)), LeadId::new);
        assert!(matches!(again, Decision::New { .. }));
    }

    /// The live leads, counted the slow way.
    fn scanned_live(e: &DedupeEngine) -> usize {
        e.slots.iter().filter(|s| s.is_live()).count()
    }

    #[test]
    fn the_live_count_follows_captures_merges_unmerges_erasures_and_rollbacks() {
        let mut e = DedupeEngine::new(DedupeConfig::default());
        let check = |e: &DedupeEngine, expected: usize, step: &str| {
            assert_eq!(
                (e.live_count(), scanned_live(e)),
                (expected, expected),
                "{step}"
            );
        };
        let capture = |e: &mut DedupeEngine, keys: MatchKeys| e.ingest(&keys, LeadId::new).lead();
        let a = capture(&mut e, MatchKeys::new().with_exact(mob(1)));
        let b = capture(&mut e, MatchKeys::new().with_exact(email(2)));
        let c = capture(&mut e, MatchKeys::new().with_exact(mob(3)));
        check(&e, 3, "three new leads");
        capture(&mut e, MatchKeys::new().with_exact(mob(1)));
        check(&e, 3, "a capture joining a lead");
        // A batch that creates a lead and bridges two: rolled back, then committed.
        for keep in [false, true] {
            e.begin();
            capture(&mut e, MatchKeys::new().with_exact(mob(4)));
            capture(
                &mut e,
                MatchKeys::new().with_exact(mob(1)).with_exact(email(2)),
            );
            check(&e, 3, "one created, two bridged into one");
            if keep {
                e.commit();
            } else {
                e.rollback();
            }
            check(&e, 3, if keep { "committed" } else { "rolled back" });
        }
        let absorbed = if e.survivor(b) == Some(a) { b } else { a };
        e.unlink(absorbed).unwrap();
        check(&e, 4, "un-merged");
        e.link(absorbed, c).unwrap();
        check(&e, 3, "merged by hand");
        e.erase(c);
        check(&e, 2, "erased with the lead merged into it");
        e.begin();
        e.unlink(absorbed).unwrap_or(absorbed);
        e.rollback();
        check(&e, 2, "an un-merge of an erased lead, rolled back");
    }

    #[test]
    fn config_validation_names_the_threshold() {
        let mut c = DedupeConfig::default();
        c.validate().unwrap();
        c.fuzzy.review_weight = 5.0;
        assert_eq!(
            c.validate().unwrap_err().field(),
            Some("fuzzy.review_weight")
        );
        c.fuzzy.review_weight = f64::NAN;
        assert!(c.validate().is_err());
        // Stored configurations with the former thresholds still load.
        let old: DedupeConfig = serde_json::from_str(
            r#"{"match_mobile":true,"match_phone":true,"match_email":true,"match_wecom":true,
            "fuzzy":{"enabled":true,"name_threshold":0.92,"company_threshold":0.91,"reject_conflicting_mobile":true}}"#,
        )
        .unwrap();
        assert_eq!(old.fuzzy.auto_merge_weight, 3.0);
        assert!(old.match_id_document);
    }
}
