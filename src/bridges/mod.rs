//! The seams between domain crates that do not depend on each other, as library adapters:
//!
//! - [`ComplianceReview`] (features `ads` + `content`): the content crate's Advertising Law
//!   review as the ads crate's [`ReviewChecker`](crate::ads::review::ReviewChecker), so a
//!   creative is placed only after its exact content passed compliance.
//! - [`CrmInquirySink`] (features `content` + `crm`): inquiries produced by published content
//!   captured as CRM leads (the content crate's
//!   [`LeadSink`](crate::content::optimise::LeadSink)).
//!
//! Each adapter keeps the other side's error answer true: a retryable failure stays retryable,
//! an outcome that is unknown stays unknown, invalid input keeps its field.

#[cfg(all(feature = "ads", feature = "content"))]
mod review;
#[cfg(all(feature = "ads", feature = "content"))]
pub use review::ComplianceReview;

#[cfg(all(feature = "content", feature = "crm"))]
mod inquiries;
#[cfg(all(feature = "content", feature = "crm"))]
pub use inquiries::CrmInquirySink;

#[cfg(any(
    all(feature = "ads", feature = "content"),
    all(feature = "content", feature = "crm")
))]
mod errors;
