//! Compliance review for the Advertising Law (广告法).
//!
//! - [`Lexicon`]: word lists as data (categories with their legal basis, terms with compliant
//!   alternatives, term families, context exemptions), JSON with a schema; the built-in list is
//!   layered with industry and tenant lists.
//! - [`ComplianceChecker`]: one Aho-Corasick automaton over evasion-normalised text (full-width
//!   forms, case, inserted spaces, zero-width characters and decorative symbols); finds carry
//!   byte and character offsets of the *original* text, an explanation, the law and a
//!   replacement suggestion; [`Decision`]: approved, needs human review, rejected.
//! - [`ReviewService`]: records the decision per content version in the store (idempotent),
//!   with human decisions on referrals, and keeps each tenant's own list.

mod checker;
mod lexicon;
pub mod normalize;
mod review;

pub use checker::{decide, ComplianceChecker, Decision, ExemptionApplied, Finding, ScanReport};
pub use lexicon::{
    Category, Exemption, ExemptionKind, Lexicon, Severity, TermFamily, TermRule, BUILTIN_LEXICON,
};
pub use review::{
    ContentVersion, HumanDecision, ReviewRecord, ReviewService, Reviewer, REVIEW_JOURNAL,
};
