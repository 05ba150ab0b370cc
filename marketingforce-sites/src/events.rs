//! The sites' domain events: an inquiry form handed a lead to the CRM, a site was published.
//!
//! Each is written to the tenant's outbox
//! ([`OUTBOX_JOURNAL`](marketingforce_core::events::OUTBOX_JOURNAL)) in the **same batch** as
//! the record it describes (see [`marketingforce_core::events`]): a submission or publication
//! that is not recorded emits nothing, and a replay under the same idempotency key emits
//! nothing again. The envelope's `causation_id` and `correlation_id` are the command's
//! idempotency key.
//!
//! Payloads hold no personal data: a submission refers to its lead by the CRM's id and lists
//! the **names** of the fields the visitor filled in, never their values.
//!
//! | event | v | when | payload |
//! |---|---|---|---|
//! | `sites.form.submitted` | 1 | a form submission was validated, handed to the CRM and recorded | `site`, `form`, `submission`, `lead`, `page`, `locale`, `variant`, `fields`, `consent_purpose`, `consent_version`, `source`?, `utm`, `submitted_at` |
//! | `sites.site.published` | 1 | a site passed the entitlement and compliance gates and its publication was recorded | `site`, `digest`, `pages`, `files`, `texts_reviewed`, `published_at` |

use chrono::{DateTime, Utc};
use marketingforce_core::events::{ContextId, DomainEvent, EventCatalog, EventContext};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::attribution::{TrafficSource, Utm};
use crate::model::Locale;
use crate::render::Variant;

/// A visitor's form submission was validated, handed to the CRM as a lead and recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FormSubmitted {
    /// The site.
    pub site: String,
    /// The form.
    pub form: String,
    /// The submission id.
    pub submission: String,
    /// The CRM lead the submission was captured into.
    pub lead: String,
    /// The page key the form was on.
    pub page: String,
    /// The locale the visitor used.
    pub locale: Locale,
    /// PC or mobile.
    pub variant: Variant,
    /// The names of the fields filled in (never their values).
    pub fields: Vec<String>,
    /// The consent's purpose.
    pub consent_purpose: String,
    /// The version of the consent text the visitor agreed to.
    pub consent_version: String,
    /// The session's traffic source, when the page view was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TrafficSource>,
    /// UTM parameters of the landing URL.
    pub utm: Utm,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
}

impl DomainEvent for FormSubmitted {
    const NAME: &'static str = "sites.form.submitted";
    const VERSION: u32 = 1;
}

/// A site was published.
///
/// It passed the entitlement and compliance gates, was rendered and its publication was
/// recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SitePublished {
    /// The site.
    pub site: String,
    /// The digest of the rendered files.
    pub digest: String,
    /// HTML pages rendered.
    pub pages: usize,
    /// Files rendered.
    pub files: usize,
    /// Text units approved by the review.
    pub texts_reviewed: usize,
    /// When it was published.
    pub published_at: DateTime<Utc>,
}

impl DomainEvent for SitePublished {
    const NAME: &'static str = "sites.site.published";
    const VERSION: u32 = 1;
}

/// Every event of the sites crate, for the committed schemas under `schemas/events/`.
pub fn event_catalog() -> EventCatalog {
    EventCatalog::new("sites")
        .with::<FormSubmitted>()
        .with::<SitePublished>()
}

/// The context of a command's events: caused by (and correlated with) its idempotency key.
pub(crate) fn command_context(key: &str) -> EventContext {
    match ContextId::new(key) {
        Ok(id) => EventContext::new()
            .caused_by(id.clone())
            .correlated_with(id),
        Err(_) => EventContext::new(),
    }
}
