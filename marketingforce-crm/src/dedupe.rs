//! The in-memory dedupe engine: exact matching on blind indexes, fuzzy matching on person and
//! company names inside blocks, merge lineage with un-merge, and an undo log so a batch that
//! fails to commit leaves no trace.
//!
//! The engine decides *which lead* a capture belongs to; it never sees ciphertexts and never
//! writes to storage. Its state is rebuilt from the vault on start-up (`Crm` does it), and is
//! only changed after the storage batch that records a decision has committed.
//!
//! **Matching.** Two captures are the same person when they share a blind index (mobile, other
//! phone, email, WeCom id — each can be switched off), or when fuzzy matching is on and their
//! normalised person names and company names are similar enough (Jaro–Winkler at or above the
//! thresholds) and they do not carry two different mobiles. Fuzzy candidates are only looked
//! for in *blocks* (surname + two characters of the company, from each end), so the cost per
//! capture stays constant; inside a block, candidates with a conflicting mobile or a company
//! that cannot reach the threshold (an upper bound of Jaro–Winkler from character sets and
//! lengths) are skipped without reading their strings. Every capture's keys are kept, and a
//! capture joins *all* the leads it matches (merging them into the oldest), so the resulting
//! partition is the set of connected components of the match graph: the same inputs in any
//! order give the same merged sets.
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
//! // Same person, no phone this time, company written with its legal suffix stripped already.
//! let b = MatchKeys::new().with_fuzzy("张伟", "某某机械", None);
//! let second = engine.ingest(&b, LeadId::new);
//! assert_eq!(second.lead(), first.lead());
//! ```

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crypto::{BlindIndex, BlindKind, TenantIndexer};
use crate::error::{CrmError, Result};
use crate::identity::{company_key, person_key};
use crate::ids::LeadId;
use crate::model::Identity;

/// Fuzzy matching settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FuzzyConfig {
    /// Whether fuzzy matching runs at all.
    pub enabled: bool,
    /// Minimum Jaro–Winkler similarity of normalised person names (0–1).
    pub name_threshold: f64,
    /// Minimum Jaro–Winkler similarity of normalised company names (0–1).
    pub company_threshold: f64,
    /// Never fuzzy-match two captures carrying different mobiles.
    pub reject_conflicting_mobile: bool,
}

/// Dedupe settings: which exact keys match, and fuzzy matching.
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
    /// Fuzzy matching on person + company.
    pub fuzzy: FuzzyConfig,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        DedupeConfig {
            match_mobile: true,
            match_phone: true,
            match_email: true,
            match_wecom: true,
            fuzzy: FuzzyConfig {
                enabled: true,
                name_threshold: 0.92,
                company_threshold: 0.91,
                reject_conflicting_mobile: true,
            },
        }
    }
}

impl DedupeConfig {
    /// Check the settings.
    ///
    /// # Errors
    /// A validation error on `fuzzy.name_threshold` or `fuzzy.company_threshold` outside 0–1.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("fuzzy.name_threshold", self.fuzzy.name_threshold),
            ("fuzzy.company_threshold", self.fuzzy.company_threshold),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(CrmError::validation(name, format!("{v} is outside 0-1")));
            }
        }
        Ok(())
    }

    fn matches_kind(&self, kind: BlindKind) -> bool {
        match kind {
            BlindKind::Mobile => self.match_mobile,
            BlindKind::Phone => self.match_phone,
            BlindKind::Email => self.match_email,
            BlindKind::WeCom => self.match_wecom,
            BlindKind::Digest => false,
        }
    }
}

/// The fuzzy key of a capture: normalised name and company, and its mobile's blind index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FuzzyKey {
    /// [`person_key`] of the name.
    pub name: Box<str>,
    /// [`company_key`] of the company.
    pub company: Box<str>,
    /// The mobile's blind index, if any.
    pub mobile: Option<u128>,
}

/// What a capture is matched by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchKeys {
    /// Exact keys (blind indexes of mobile, phone, email, WeCom id).
    pub exact: Vec<BlindIndex>,
    /// Fuzzy key, when both name and company are present.
    pub fuzzy: Option<FuzzyKey>,
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

    /// Set the fuzzy key from already-normalised name and company keys.
    #[must_use]
    pub fn with_fuzzy(mut self, name: &str, company: &str, mobile: Option<u128>) -> MatchKeys {
        self.fuzzy = Some(FuzzyKey {
            name: name.into(),
            company: company.into(),
            mobile,
        });
        self
    }

    /// The keys of an identity captured from `source_tag`, with blind indexes from `indexer`.
    pub fn of(identity: &Identity, source_tag: &str, indexer: &TenantIndexer) -> MatchKeys {
        let mut exact = Vec::with_capacity(4);
        let mobile = identity
            .mobile
            .as_ref()
            .map(|m| indexer.compute(BlindKind::Mobile, m.as_str()));
        exact.extend(mobile);
        if let Some(p) = &identity.phone {
            exact.push(indexer.compute(BlindKind::Phone, p.as_str()));
        }
        if let Some(e) = &identity.email {
            exact.push(indexer.compute(BlindKind::Email, e.as_str()));
        }
        if let Some(w) = &identity.wecom_id {
            exact.push(indexer.compute(BlindKind::WeCom, w.as_str()));
        }
        let fuzzy = match (&identity.name, &identity.company) {
            (Some(n), Some(c)) => {
                let name = person_key(n);
                let company = company_key(c);
                (!name.is_empty() && !company.is_empty()).then(|| FuzzyKey {
                    name: name.into(),
                    company: company.into(),
                    mobile: mobile.map(|m| m.mac),
                })
            }
            _ => None,
        };
        // The digest only lives in memory (never stored): a 128-bit mix of the keyed MACs and
        // the normalised names is enough to recognise an identical re-capture.
        let digest = {
            let mut hi = fnv(0x5eed, source_tag.chars());
            let mut lo = hi ^ 0x9e37_79b9_7f4a_7c15;
            let mut mix = |v: u128| {
                hi = marketingforce_core::id::splitmix64(hi ^ (v as u64));
                lo = marketingforce_core::id::splitmix64(lo ^ ((v >> 64) as u64) ^ hi);
            };
            for (i, slot) in [
                BlindKind::Mobile,
                BlindKind::Phone,
                BlindKind::Email,
                BlindKind::WeCom,
            ]
            .into_iter()
            .enumerate()
            {
                let mac = exact
                    .iter()
                    .find(|k| k.kind == slot)
                    .map_or(i as u128, |k| k.mac);
                mix(mac);
            }
            let key = indexer.compute_digest_seed();
            mix(key);
            mix(u128::from(fnv(
                3,
                identity.name.as_deref().unwrap_or("").chars(),
            )));
            mix(u128::from(fnv(
                4,
                identity.company.as_deref().unwrap_or("").chars(),
            )));
            (u128::from(hi) << 64) | u128::from(lo)
        };
        MatchKeys {
            exact,
            fuzzy,
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
    /// Similar name and company.
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

#[derive(Debug, Clone)]
struct Member {
    slot: u32,
    key: FuzzyKey,
    alive: bool,
}

/// A member as seen from a block: what the cheap pre-checks of [`DedupeEngine::probe`] need,
/// stored inline so most candidates are rejected without touching the member or its strings.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Low 64 bits of the member's mobile blind index (meaningful when `has_mobile`).
    mobile: u64,
    /// The member's company characters as a 64-bit set ([`char_bit`]).
    company_chars: u64,
    /// Index into `members`.
    member: u32,
    /// Characters in the member's company key (saturating).
    company_len: u16,
    /// Whether the member carries a mobile.
    has_mobile: bool,
    /// The member was erased: skip it.
    dead: bool,
}

/// The bit of `c` in a 64-bit character set.
fn char_bit(c: char) -> u64 {
    1u64 << ((u32::from(c).wrapping_mul(0x9e37_79b1)) >> 26)
}

fn char_set(s: &str) -> (u64, usize) {
    s.chars()
        .fold((0u64, 0usize), |(set, n), c| (set | char_bit(c), n + 1))
}

impl Entry {
    fn of(member: u32, key: &FuzzyKey) -> Entry {
        let (company_chars, n) = char_set(&key.company);
        Entry {
            mobile: key.mobile.map_or(0, |m| m as u64),
            company_chars,
            member,
            company_len: u16::try_from(n).unwrap_or(u16::MAX),
            has_mobile: key.mobile.is_some(),
            dead: false,
        }
    }
}

/// The company characters of a probing fuzzy key, for the Jaro–Winkler upper bound.
struct CompanyProbe {
    bits: [u64; 64],
    len: usize,
}

impl CompanyProbe {
    /// `None` when the company is empty or too long for the bound (the full check runs).
    fn of(company: &str) -> Option<CompanyProbe> {
        let mut bits = [0u64; 64];
        let mut len = 0usize;
        for c in company.chars() {
            *bits.get_mut(len)? = char_bit(c);
            len += 1;
        }
        (len > 0).then_some(CompanyProbe { bits, len })
    }

    /// An upper bound of the Jaro–Winkler similarity between this company and the entry's:
    /// a character of ours whose bit is absent from the entry's set cannot be a match, and
    /// with `m` matches Jaro is at most `(m/la + m/lb + 1) / 3` (no transpositions) and the
    /// Winkler boost at most `0.4 (1 - jaro)`. `None` when no bound applies.
    fn jaro_winkler_bound(&self, e: &Entry) -> Option<f64> {
        let lb = usize::from(e.company_len);
        if lb == 0 || lb > 64 {
            return None;
        }
        let absent = self.bits[..self.len]
            .iter()
            .filter(|&&b| b & e.company_chars == 0)
            .count();
        let m = (self.len - absent).min(lb);
        if m == 0 {
            return Some(0.0);
        }
        let m = m as f64;
        let jaro = (m / self.len as f64 + m / lb as f64 + 1.0) / 3.0;
        Some(if jaro <= 0.7 {
            jaro
        } else {
            jaro + 0.4 * (1.0 - jaro)
        })
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
    Parent(u32, Option<u32>),
}

/// The dedupe engine of one tenant (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct DedupeEngine {
    cfg: DedupeConfig,
    slots: Vec<Slot>,
    by_lead: HashMap<LeadId, u32>,
    exact: [Fast<u128, u32>; 4],
    digests: Fast<u128, u32>,
    blocks: Fast<u64, Vec<Entry>>,
    members: Vec<Member>,
    separated: HashSet<(u32, u32)>,
    undo: Option<Vec<Undo>>,
}

fn kind_slot(kind: BlindKind) -> Option<usize> {
    match kind {
        BlindKind::Mobile => Some(0),
        BlindKind::Phone => Some(1),
        BlindKind::Email => Some(2),
        BlindKind::WeCom => Some(3),
        BlindKind::Digest => None,
    }
}

const KIND_OF_SLOT: [BlindKind; 4] = [
    BlindKind::Mobile,
    BlindKind::Phone,
    BlindKind::Email,
    BlindKind::WeCom,
];

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
    let (a, b) = (&ab[..la], &bb[..lb]);
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

/// The blocking keys of a fuzzy key: the person key with the first two, and with the last
/// two, characters of the company key. (Names must be near-identical to match anyway; a typo
/// in a company name leaves at least one end intact.)
fn blocks_of(key: &FuzzyKey) -> [u64; 2] {
    let n = key.company.chars().count();
    let head = key.company.chars().take(2);
    let tail = key.company.chars().skip(n.saturating_sub(2));
    [
        fnv(1, key.name.chars().chain(['\u{1f}']).chain(head)),
        fnv(2, key.name.chars().chain(['\u{1f}']).chain(tail)),
    ]
}

impl DedupeEngine {
    /// An empty engine.
    pub fn new(cfg: DedupeConfig) -> DedupeEngine {
        DedupeEngine {
            cfg,
            slots: Vec::new(),
            by_lead: HashMap::new(),
            exact: Default::default(),
            digests: Fast::default(),
            blocks: Fast::default(),
            members: Vec::new(),
            separated: HashSet::new(),
            undo: None,
        }
    }

    /// An empty engine with room for `leads` leads.
    pub fn with_capacity(cfg: DedupeConfig, leads: usize) -> DedupeEngine {
        let mut e = DedupeEngine::new(cfg);
        e.slots.reserve(leads);
        e.by_lead.reserve(leads);
        for m in &mut e.exact {
            m.reserve(leads);
        }
        e.digests.reserve(leads);
        // Every fuzzy key sits in two blocks.
        e.blocks.reserve(leads.saturating_mul(2));
        e.members.reserve(leads);
        e
    }

    /// The settings.
    pub fn config(&self) -> &DedupeConfig {
        &self.cfg
    }

    fn log(&mut self, u: Undo) {
        if let Some(log) = &mut self.undo {
            log.push(u);
        }
    }

    /// Start recording changes so they can be [rolled back](Self::rollback).
    pub fn begin(&mut self) {
        self.undo = Some(Vec::new());
    }

    /// Keep the changes since [`begin`](Self::begin).
    pub fn commit(&mut self) {
        self.undo = None;
    }

    /// Undo every change since [`begin`](Self::begin).
    pub fn rollback(&mut self) {
        let Some(log) = self.undo.take() else { return };
        for u in log.into_iter().rev() {
            match u {
                Undo::PushSlot => {
                    if let Some(s) = self.slots.pop() {
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
                }
                Undo::Block(b) => {
                    if let Some(v) = self.blocks.get_mut(&b) {
                        v.pop();
                    }
                }
                Undo::Parent(s, old) => {
                    if let Some(slot) = self.slots.get_mut(s as usize) {
                        slot.parent = old;
                    }
                }
            }
        }
    }

    fn root(&self, mut s: u32) -> u32 {
        // Merge trees are shallow: captures join roots directly, only bridging captures and
        // manual merges add a level.
        while let Some(p) = self.slots.get(s as usize).and_then(|x| x.parent) {
            s = p;
        }
        s
    }

    fn lead_of(&self, s: u32) -> LeadId {
        self.slots
            .get(s as usize)
            .map(|x| x.lead)
            .unwrap_or_else(|| LeadId::from_uuid(marketingforce_core::id::Uuid::nil()))
    }

    fn fuzzy_match(&self, a: &FuzzyKey, b: &FuzzyKey) -> bool {
        let f = &self.cfg.fuzzy;
        if f.reject_conflicting_mobile {
            if let (Some(x), Some(y)) = (a.mobile, b.mobile) {
                if x != y {
                    return false;
                }
            }
        }
        (a.name == b.name || jaro_winkler(&a.name, &b.name) >= f.name_threshold)
            && (a.company == b.company
                || jaro_winkler(&a.company, &b.company) >= f.company_threshold)
    }

    /// The live lead a capture with `keys` would join, and how, without changing anything.
    pub fn probe(&self, keys: &MatchKeys) -> Vec<(u32, MatchRule)> {
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
                    let r = self.root(s);
                    if self.slots.get(r as usize).is_some_and(|x| x.alive) {
                        push(r, MatchRule::of(k.kind), &mut found);
                    }
                }
            }
        }
        if self.cfg.fuzzy.enabled {
            if let Some(fk) = &keys.fuzzy {
                let f = &self.cfg.fuzzy;
                let mobile = fk.mobile.filter(|_| f.reject_conflicting_mobile);
                let company = CompanyProbe::of(&fk.company);
                for b in blocks_of(fk) {
                    if let Some(es) = self.blocks.get(&b) {
                        for e in es {
                            // Cheap rejections from the inline entry: a different mobile, or
                            // a company that cannot reach the threshold. Both imply that
                            // `fuzzy_match` below would say no.
                            if e.dead {
                                continue;
                            }
                            if let Some(x) = mobile {
                                if e.has_mobile && e.mobile != x as u64 {
                                    continue;
                                }
                            }
                            if let Some(bound) =
                                company.as_ref().and_then(|c| c.jaro_winkler_bound(e))
                            {
                                if bound + 1e-9 < f.company_threshold {
                                    continue;
                                }
                            }
                            let Some(member) = self.members.get(e.member as usize) else {
                                continue;
                            };
                            if member.alive && self.fuzzy_match(fk, &member.key) {
                                let r = self.root(member.slot);
                                if self.slots.get(r as usize).is_some_and(|x| x.alive) {
                                    push(r, MatchRule::Fuzzy, &mut found);
                                }
                            }
                        }
                    }
                }
            }
        }
        found
    }

    /// Decide where a capture goes and record its keys. `new_lead` is called only when the
    /// capture creates a lead.
    pub fn ingest(&mut self, keys: &MatchKeys, new_lead: impl FnOnce() -> LeadId) -> Decision {
        if let Some(d) = keys.digest {
            if let Some(&s) = self.digests.get(&d) {
                let r = self.root(s);
                if self.slots.get(r as usize).is_some_and(|x| x.alive) {
                    return Decision::Unchanged {
                        lead: self.lead_of(r),
                    };
                }
            }
        }
        let found = self.probe(keys);
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
            let rule = found
                .iter()
                .find(|(s, _)| *s == target)
                .map_or(rule, |(_, r)| *r);
            (
                target,
                Decision::Joined {
                    lead: self.lead_of(target),
                    rule,
                    merged,
                },
            )
        };
        self.register(target, keys);
        decision
    }

    fn push_slot(&mut self, lead: LeadId) -> u32 {
        let s = self.slots.len() as u32;
        self.slots.push(Slot {
            lead,
            parent: None,
            alive: true,
        });
        self.by_lead.insert(lead, s);
        self.log(Undo::PushSlot);
        s
    }

    fn set_parent(&mut self, s: u32, parent: Option<u32>) {
        if let Some(slot) = self.slots.get_mut(s as usize) {
            let old = slot.parent;
            slot.parent = parent;
            self.log(Undo::Parent(s, old));
        }
    }

    fn is_separated(&self, a: u32, b: u32) -> bool {
        !self.separated.is_empty()
            && (self.separated.contains(&(a, b)) || self.separated.contains(&(b, a)))
    }

    /// Record `keys` as belonging to the lead in `slot` (used by ingest and by rebuilds).
    ///
    /// A key held by several leads (kept apart by an un-merge) points at the oldest of them,
    /// whatever the order they were registered in, so a rebuild reproduces the live state.
    fn register(&mut self, slot: u32, keys: &MatchKeys) {
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
        if let Some(fk) = &keys.fuzzy {
            let root = self.root(slot);
            let blocks = blocks_of(fk);
            // An identical key already in this lead adds nothing to future matching.
            let m = self.members.len() as u32;
            let entry = Entry::of(m, fk);
            let known = self.blocks.get(&blocks[0]).is_some_and(|es| {
                es.iter().any(|e| {
                    !e.dead
                        && e.has_mobile == entry.has_mobile
                        && e.mobile == entry.mobile
                        && e.company_chars == entry.company_chars
                        && self
                            .members
                            .get(e.member as usize)
                            .is_some_and(|x| x.alive && x.key == *fk && self.root(x.slot) == root)
                })
            });
            if !known {
                self.members.push(Member {
                    slot,
                    key: fk.clone(),
                    alive: true,
                });
                self.log(Undo::PushMember);
                for b in blocks {
                    self.blocks
                        .entry(b)
                        .or_insert_with(|| Vec::with_capacity(1))
                        .push(entry);
                    self.log(Undo::Block(b));
                }
            }
        }
    }

    /// Rebuild: add a known lead (from storage) with the keys of its own captures. Leads must
    /// be added before their merge links ([`link`](Self::link)).
    pub fn load(&mut self, lead: LeadId, keys: &[MatchKeys]) {
        let s = match self.by_lead.get(&lead) {
            Some(s) => *s,
            None => self.push_slot(lead),
        };
        for k in keys {
            self.register(s, k);
        }
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
        self.separated.insert((root, a));
        Ok(self.lead_of(parent))
    }

    /// Keep two leads apart (rebuild of an earlier un-merge).
    ///
    /// # Errors
    /// A validation error when either lead is unknown.
    pub fn separate(&mut self, a: LeadId, b: LeadId) -> Result<()> {
        let (x, y) = (self.slot(a)?, self.slot(b)?);
        self.separated.insert((x, y));
        Ok(())
    }

    fn slot(&self, lead: LeadId) -> Result<u32> {
        self.by_lead.get(&lead).copied().ok_or_else(|| {
            CrmError::validation("lead", format!("{lead} is not in the dedupe engine"))
        })
    }

    /// Forget a lead entirely (erasure): its keys, digests and fuzzy keys, and those of leads
    /// merged into it. Returns the erased leads.
    pub fn erase(&mut self, lead: LeadId) -> Vec<LeadId> {
        let Some(&s) = self.by_lead.get(&lead) else {
            return Vec::new();
        };
        let root = self.root(s);
        let doomed: HashSet<u32> = (0..self.slots.len() as u32)
            .filter(|&x| self.root(x) == root)
            .collect();
        for &d in &doomed {
            if let Some(slot) = self.slots.get_mut(d as usize) {
                slot.alive = false;
            }
        }
        for m in &mut self.exact {
            m.retain(|_, v| !doomed.contains(v));
        }
        self.digests.retain(|_, v| !doomed.contains(v));
        let mut doomed_members = HashSet::new();
        for (i, m) in self.members.iter_mut().enumerate() {
            if doomed.contains(&m.slot) {
                m.alive = false;
                m.key.name = "".into();
                m.key.company = "".into();
                m.key.mobile = None;
                doomed_members.insert(i as u32);
            }
        }
        if !doomed_members.is_empty() {
            for es in self.blocks.values_mut() {
                for e in es.iter_mut().filter(|e| doomed_members.contains(&e.member)) {
                    *e = Entry {
                        mobile: 0,
                        company_chars: 0,
                        member: e.member,
                        company_len: 0,
                        has_mobile: false,
                        dead: true,
                    };
                }
            }
        }
        let mut out: Vec<LeadId> = doomed.iter().map(|&d| self.lead_of(d)).collect();
        out.sort();
        out
    }

    /// The live root lead `lead` belongs to (itself unless merged).
    pub fn survivor(&self, lead: LeadId) -> Option<LeadId> {
        let s = *self.by_lead.get(&lead)?;
        let r = self.root(s);
        self.slots
            .get(r as usize)
            .filter(|x| x.alive)
            .map(|x| x.lead)
    }

    /// Number of live leads (neither merged into another nor erased). O(leads known).
    pub fn live_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.alive && s.parent.is_none())
            .count()
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
    fn fuzzy_respects_conflicting_mobiles_and_unmerge_separates() {
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
        // Typo in a long company name still matches.
        let c = e.ingest(
            &MatchKeys::new().with_fuzzy("李娜", "华东重型机械制造", None),
            LeadId::new,
        );
        let d = e.ingest(
            &MatchKeys::new().with_fuzzy("李娜", "华东重型机械制遭", None),
            LeadId::new,
        );
        assert_eq!(c.lead(), d.lead());
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
    fn company_bound_never_undercuts_jaro_winkler() {
        // Strings over a small alphabet (CJK, ASCII, a repeated character) so matches,
        // transpositions and shared prefixes are common.
        let alphabet: Vec<char> = "机械制造华东恒达aab业".chars().collect();
        let mut x = 0x1234_5678_u64;
        let word = |x: &mut u64| -> String {
            *x = marketingforce_core::id::splitmix64(*x);
            let len = 1 + (*x % 9) as usize;
            (0..len)
                .map(|i| alphabet[((*x >> (i * 5)) % alphabet.len() as u64) as usize])
                .collect()
        };
        let mut rejected = 0;
        for _ in 0..20_000 {
            let (a, b) = (word(&mut x), word(&mut x));
            let key = |c: &str| FuzzyKey {
                name: "n".into(),
                company: c.into(),
                mobile: None,
            };
            let e = Entry::of(0, &key(&b));
            let bound = CompanyProbe::of(&a)
                .and_then(|p| p.jaro_winkler_bound(&e))
                .unwrap_or(1.0);
            let jw = jaro_winkler(&a, &b);
            assert!(jw <= bound + 1e-12, "{a} {b}: {jw} > {bound}");
            if bound + 1e-9 < 0.91 {
                rejected += 1;
            }
        }
        assert!(rejected > 1_000, "the bound rejects something: {rejected}");
    }

    #[test]
    fn erased_and_rolled_back_fuzzy_members_no_longer_match() {
        let mut e = DedupeEngine::new(DedupeConfig::default());
        let fuzzy = || MatchKeys::new().with_fuzzy("张伟", "华东重型机械制造", None);
        let a = e.ingest(&fuzzy(), LeadId::new).lead();
        assert_eq!(e.ingest(&fuzzy(), LeadId::new).lead(), a);
        assert_eq!(e.erase(a), vec![a]);
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
            &MatchKeys::new().with_fuzzy("李娜", "华东重型机械制遭", Some(6)),
            LeadId::new,
        );
        assert!(matches!(d, Decision::New { .. }), "{d:?}");
        // A conflicting mobile is rejected, a matching one joins.
        let f = e.ingest(
            &MatchKeys::new().with_fuzzy("李娜", "华东重型机械制遭", Some(7)),
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
}
