//! Compliance review for the Advertising Law (广告法).
//!
//! An advertising operator is jointly liable for what the content it generates and distributes
//! says, so every content version is reviewed before it is published:
//!
//! - [`Lexicon`]: the rules as data. Categories carry their legal basis (the article and a
//!   one-line summary of it); terms carry a compliant alternative; term families generate
//!   ranked claims (`全国` + `第一`); context exemptions record the lawful uses the SAMR 2023
//!   guideline on absolute terms recognises (time and sequence, product parameters with their
//!   figure, comparisons within one's own product line, service attitude and aspiration,
//!   consumer tips). The built-in list is one file per article ([`BUILTIN_LEXICONS`]):
//!
//!   | article | what it covers | industries | decision |
//!   |---|---|---|---|
//!   | 9 | absolute terms; state organs and their staff; flag, emblem, anthem; obscenity, gambling, superstition, violence; discrimination | all | reject |
//!   | 10, 40 | harm to minors, urging children to make their parents buy | all | reject |
//!   | 13 | disparaging competitors (吊打, 秒杀同行) | all | reject |
//!   | 15, 20–23, 46 | restricted products: prescription drugs, infant formula, agro-chemicals, tobacco, alcohol, products needing pre-publication approval | all | review |
//!   | 16 | medical, drug and device claims: efficacy and safety guarantees, cure rates, comparisons, endorsements | medical, pharmaceuticals, medical devices | reject |
//!   | 17 | disease-treatment claims and medical terms in any other ad | all but medical | reject (health-function claims: review) |
//!   | 18 | health-food claims: efficacy, disease prevention, "necessary for health", comparisons with drugs, endorsements | health food | reject |
//!   | 24 | education and training: guaranteed results, exam-pass promises, exam insiders | all (unambiguous ones), education | reject |
//!   | 25 | investment: guaranteed returns, risk-free, capital guaranteed | all (unambiguous ones), finance, franchise | reject |
//!   | 26 | real estate: appreciation and return promises, travel times, planned facilities | real estate | reject (planning: review) |
//!   | 28 | false-advertising markers: unverifiable surveys, statistics, awards | all | review (abolished titles: reject) |
//!   | 38 | endorsers under ten; endorsements to verify (has the endorser used it?) | all | reject / review |
//!
//! - [`ComplianceChecker`]: compiles the lists for one industry ([`resolve_industry`]) into one
//!   automaton that reads the original text and folds the evasion normalisation in (full-width
//!   forms, case, inserted spaces, zero-width characters and decorative symbols): no normalised
//!   copy, one table lookup per byte. Finds carry byte and character offsets of the *original*
//!   text, the article, an explanation and a compliant alternative; [`Decision`]: approved,
//!   needs human review, rejected. Texts too large to hold are scanned from a reader in bounded
//!   memory ([`ComplianceChecker::scan_reader`]).
//! - [`ReviewService`]: records the decision per content version in the store (idempotent),
//!   with human decisions on referrals, and keeps each tenant's own list; a tenant list switches
//!   a Reject rule off only by a [`Waiver`] whose reason every review record keeps.
//! - [`evaluate`]: per-article precision and recall of a list on a labelled corpus. A word list
//!   is precise and catches the phrasings it lists; paraphrased claims it does not list pass
//!   (see the held-out sets in `tests/data/`): keep adding what reviewers find.

mod automaton;
mod checker;
mod context;
mod evaluate;
mod industry;
mod lexicon;
pub mod normalize;
mod review;
mod stream;

pub use checker::{
    decide, ComplianceChecker, Decision, ExemptionApplied, Finding, ScanReport, WaiverRecord,
};
pub use evaluate::{evaluate, ArticleScore, EvalCase, EvalCorpus, EvalMiss, Evaluation};
pub use industry::{regulated_industries, resolve_industry};
pub use lexicon::{
    Category, Exemption, ExemptionKind, Lexicon, Severity, TermFamily, TermRule, Waiver,
    BUILTIN_LEXICONS, BUILTIN_NAME, MAX_WINDOW,
};
pub use review::{
    ContentVersion, HumanDecision, ReviewRecord, ReviewService, ReviewServiceBuilder, Reviewer,
    REVIEW_JOURNAL,
};
pub use stream::{StreamSummary, DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, STREAM_OVERLAP_BYTES};
