//! The journal entries of visits: what the collector appends and the engine folds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::attribution::TrafficSource;
use crate::model::Locale;
use crate::render::Variant;

/// The per-tenant journal of visit records.
pub const VISIT_JOURNAL: &str = "sites.visits";

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum VisitRecord {
    /// A page view started.
    PageView(PageViewRecord),
    /// Later activity of a page view (one beacon).
    Activity(ActivityRecord),
}

/// A page view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageViewRecord {
    /// The site.
    pub site: String,
    /// The page view id.
    pub pageview: String,
    /// The session id.
    pub session: String,
    /// The visitor id.
    pub visitor: String,
    /// Whether this page view started the session.
    pub new_session: bool,
    /// The page key.
    pub page: String,
    /// The locale.
    pub locale: Locale,
    /// PC or mobile.
    pub variant: Variant,
    /// The session's source.
    pub source: TrafficSource,
    /// The session's region (`province/city`), when located.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Activity of a page view. Values are cumulative for the page view (total visible time,
/// deepest scroll), so a repeated or reordered beacon changes nothing: folding takes maxima
/// and set unions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRecord {
    /// The site.
    pub site: String,
    /// The page view.
    pub pageview: String,
    /// When the beacon arrived.
    pub at: DateTime<Utc>,
    /// Total visible time so far, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_ms: Option<u64>,
    /// Deepest scroll so far, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scroll_pct: Option<u8>,
    /// Page load time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_ms: Option<u32>,
    /// Forms the visitor started filling.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forms_started: Vec<String>,
    /// Forms submitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forms_submitted: Vec<String>,
}
