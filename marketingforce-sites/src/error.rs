//! The error type of the sites crate: every failure names what went wrong and on what.

use marketingforce_content::ContentError;
use marketingforce_crm::CrmError;
use marketingforce_modules::ModulesError;
use serde::{Deserialize, Serialize};

/// Result alias of this crate.
pub type Result<T, E = SitesError> = std::result::Result<T, E>;

/// A text block the compliance review did not approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedText {
    /// Path of the block in the site (`pages[1].blocks[0]`), with the locale.
    pub path: String,
    /// The review decision (`rejected` or `needs_human_review`).
    pub decision: String,
    /// The listed terms found (never personal data: these are advertising-law words).
    pub terms: Vec<String>,
    /// The content id the review is recorded under (a person can decide it there).
    pub content_id: String,
}

/// One field a form submission got wrong (never echoes the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field name (`mobile`, `_consent`, …).
    pub field: String,
    /// Why, in words a visitor understands.
    pub reason: String,
}

/// Why a beacon or a session start was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// The body is larger than the limit.
    Oversized,
    /// The body is not the expected JSON.
    Malformed,
    /// The session token's signature does not verify.
    BadSignature,
    /// The session token expired.
    Expired,
    /// The token belongs to another site or page view.
    WrongScope,
    /// The request's origin is not one of the site's.
    ForeignOrigin,
    /// A crawler or automated client.
    Bot,
    /// The site is unknown or has analytics switched off.
    UnknownSite,
}

impl Refusal {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Oversized => "oversized",
            Refusal::Malformed => "malformed",
            Refusal::BadSignature => "bad_signature",
            Refusal::Expired => "expired",
            Refusal::WrongScope => "wrong_scope",
            Refusal::ForeignOrigin => "foreign_origin",
            Refusal::Bot => "bot",
            Refusal::UnknownSite => "unknown_site",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong building, publishing and measuring a site.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SitesError {
    /// A core error: validation of a field (with its path), storage, idempotency, isolation.
    #[error(transparent)]
    Core(#[from] marketingforce_core::Error),

    /// The tenant is not entitled to a module publishing needs (the error names the bundles
    /// that include it).
    #[error(transparent)]
    Modules(#[from] ModulesError),

    /// The compliance review (or its storage) failed.
    #[error(transparent)]
    Content(#[from] ContentError),

    /// The CRM refused or failed a hand-off.
    #[error(transparent)]
    Crm(#[from] CrmError),

    /// The Advertising Law review did not approve every text block; nothing was published.
    #[error("compliance review blocks publishing: {}", summary(.blocked))]
    ComplianceBlocked {
        /// Each block that is not approved.
        blocked: Vec<BlockedText>,
    },

    /// A template failed to render (a bug in a template, never user input).
    #[error("template {template} failed: {reason}")]
    Template {
        /// The template name.
        template: String,
        /// What the engine said.
        reason: String,
    },

    /// A form submission failed server-side validation; nothing reached the CRM.
    #[error("form {form} rejected: {}", fields(.errors))]
    FormRejected {
        /// The form.
        form: String,
        /// Every field in error.
        errors: Vec<FieldError>,
    },

    /// Too many form submissions from one client in the window.
    #[error("too many submissions of form {form}; retry after {retry_after_secs} s")]
    RateLimited {
        /// The form.
        form: String,
        /// Seconds until the window ends.
        retry_after_secs: u64,
    },

    /// A beacon or session start was refused.
    #[error("beacon refused: {0}")]
    BeaconRefused(Refusal),

    /// Writing the rendered site failed.
    #[error("could not write {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn fields(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

fn summary(blocked: &[BlockedText]) -> String {
    blocked
        .iter()
        .map(|b| format!("{} {} ({})", b.path, b.decision, b.terms.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

impl SitesError {
    /// A validation error on `field` (a path such as `pages[2].blocks[0].image`).
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> SitesError {
        SitesError::Core(marketingforce_core::Error::validation(field, reason))
    }

    /// The field a validation error names, if it is one: also of a validation error wrapped
    /// from the CRM, modules or content crates (the same as
    /// [`Classify::field`](marketingforce_core::Classify::field)).
    pub fn field(&self) -> Option<&str> {
        self.classification().field
    }

    /// Whether retrying the same call may succeed: the kind of the error, including errors
    /// wrapped from the CRM, modules and content crates (the same as
    /// [`Classify::is_retryable`](marketingforce_core::Classify::is_retryable)).
    pub fn is_retryable(&self) -> bool {
        self.classification().kind.is_retryable()
    }
}

impl From<minijinja::Error> for SitesError {
    fn from(e: minijinja::Error) -> Self {
        SitesError::Template {
            template: e.name().unwrap_or("?").to_string(),
            reason: e.to_string(),
        }
    }
}

impl From<serde_json::Error> for SitesError {
    fn from(e: serde_json::Error) -> Self {
        SitesError::Core(e.into())
    }
}

impl SitesError {
    fn classification(&self) -> marketingforce_core::error::Classification<'_> {
        use marketingforce_core::error::{Classification as C, ErrorKind as K};
        match self {
            SitesError::Core(e) => C::of(e),
            SitesError::Modules(e) => C::of(e),
            SitesError::Content(e) => C::of(e),
            SitesError::Crm(e) => C::of(e),
            SitesError::ComplianceBlocked { .. } => C::new(K::Rejected, "compliance_blocked"),
            SitesError::Template { .. } => C::invalid("template", "template"),
            SitesError::FormRejected { errors, .. } => C::invalid(
                "form_rejected",
                errors.first().map_or("fields", |e| e.field.as_str()),
            ),
            SitesError::RateLimited { .. } => C::new(K::RateLimited, "rate_limited"),
            SitesError::BeaconRefused(r) => match r {
                Refusal::Oversized | Refusal::Malformed | Refusal::Expired => {
                    C::invalid(r.as_str(), "beacon")
                }
                Refusal::BadSignature | Refusal::WrongScope | Refusal::ForeignOrigin => {
                    C::new(K::Forbidden, r.as_str())
                }
                Refusal::Bot => C::new(K::Forbidden, "bot"),
                Refusal::UnknownSite => C::new(K::NotFound, "unknown_site"),
            },
            SitesError::Io { .. } => C::new(K::Internal, "io"),
        }
    }
}

/// The kinds of site errors: the wrapped crates' errors keep theirs; a rejected form is
/// invalid input naming its first field in error; a refused beacon is invalid input
/// (oversized, malformed, expired), forbidden (bad signature, wrong scope, foreign origin, bot)
/// or not found (unknown site); a compliance block is
/// [`Rejected`](marketingforce_core::ErrorKind::Rejected).
impl marketingforce_core::Classify for SitesError {
    fn kind(&self) -> marketingforce_core::ErrorKind {
        self.classification().kind
    }
    fn code(&self) -> &'static str {
        self.classification().code
    }
    fn field(&self) -> Option<&str> {
        self.classification().field
    }
}
