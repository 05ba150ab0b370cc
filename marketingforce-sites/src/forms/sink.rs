//! The hand-off seam to the CRM: [`LeadSink`] takes a lead captured on the site and the
//! visitor's behaviour. [`CrmLeadSink`](super::CrmLeadSink) adapts `marketingforce-crm`;
//! [`MemoryLeadSink`] keeps them in memory for tests.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};

use crate::attribution::{ClickId, Utm};
use crate::error::Result;
use crate::model::Locale;
use crate::render::Variant;

/// The consent given with a submission, as stored with it (PIPL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The purpose (`marketing_calls`).
    pub purpose: String,
    /// The version of the consent text.
    pub version: String,
    /// The text the visitor saw, in their locale.
    pub text: String,
    /// The locale of the text.
    pub locale: Locale,
    /// The checkbox was ticked (always true on an accepted submission).
    pub checked: bool,
    /// When.
    pub given_at: DateTime<Utc>,
}

/// A lead captured by a site form, for the CRM. Holds personal data: its `Debug` shows which
/// fields are present, never their values.
#[derive(Clone, PartialEq, Eq)]
pub struct SiteLead {
    /// The site.
    pub site: String,
    /// The form.
    pub form: String,
    /// The page key the form was on.
    pub page: String,
    /// The locale of the page.
    pub locale: Locale,
    /// PC or mobile.
    pub variant: Variant,
    /// Name.
    pub name: Option<String>,
    /// Mobile (normalised to 11 digits).
    pub mobile: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Region (from the form, else from the IP location).
    pub region: Option<String>,
    /// Product asked about.
    pub product: Option<String>,
    /// The message.
    pub message: Option<String>,
    /// UTM parameters of the landing URL.
    pub utm: Utm,
    /// The ad click id of the landing URL.
    pub click: Option<ClickId>,
    /// The consent.
    pub consent: ConsentRecord,
    /// The visitor id (from the beacon), when known.
    pub visitor: Option<String>,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
}

impl fmt::Debug for SiteLead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let has = |o: &Option<String>| o.is_some();
        f.debug_struct("SiteLead")
            .field("site", &self.site)
            .field("form", &self.form)
            .field("page", &self.page)
            .field("name", &has(&self.name))
            .field("mobile", &has(&self.mobile))
            .field("email", &has(&self.email))
            .field("company", &has(&self.company))
            .field("utm", &self.utm)
            .field("click", &self.click)
            .finish_non_exhaustive()
    }
}

/// The CRM's reference to the lead a capture created or joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadRef {
    /// The CRM lead id.
    pub lead: String,
}

/// What a visitor did that the CRM scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BehaviourKind {
    /// Viewed a page.
    View,
    /// Submitted a form.
    FormSubmit,
}

/// One behaviour of an identified visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteBehaviour {
    /// The lead.
    pub lead: String,
    /// What.
    pub kind: BehaviourKind,
    /// When.
    pub at: DateTime<Utc>,
    /// The topic (the product asked about, or the page key).
    pub topic: Option<String>,
    /// The page (`site/page`).
    pub content: Option<String>,
}

/// Where site leads go. Implementations must be idempotent by `idempotency_key`: a retry
/// returns the first answer and changes nothing.
#[async_trait]
pub trait LeadSink: Send + Sync + fmt::Debug {
    /// Capture a lead (source: own site); returns the lead it created or joined.
    ///
    /// # Errors
    /// The CRM's validation errors (naming the field) or storage errors.
    async fn capture(
        &self,
        tenant: &TenantId,
        lead: &SiteLead,
        idempotency_key: &str,
    ) -> Result<LeadRef>;

    /// Record a behaviour of the lead for scoring.
    ///
    /// # Errors
    /// Unknown lead, storage errors.
    async fn record_behaviour(
        &self,
        tenant: &TenantId,
        behaviour: &SiteBehaviour,
        idempotency_key: &str,
    ) -> Result<()>;
}

/// A sink that keeps everything in memory (tests, demos); idempotent by key.
#[derive(Debug, Default)]
pub struct MemoryLeadSink {
    leads: Mutex<Vec<(String, SiteLead)>>,
    behaviours: Mutex<Vec<(String, SiteBehaviour)>>,
    fail_next: AtomicUsize,
}

impl MemoryLeadSink {
    /// An empty sink.
    pub fn new() -> MemoryLeadSink {
        MemoryLeadSink::default()
    }

    /// Fail the next `n` calls with a retryable error (fault injection; feature `testing`).
    #[cfg(feature = "testing")]
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// The leads captured, in order.
    pub fn leads(&self) -> Vec<SiteLead> {
        self.leads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// The behaviours recorded, in order.
    pub fn behaviours(&self) -> Vec<SiteBehaviour> {
        self.behaviours
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    fn maybe_fail(&self) -> Result<()> {
        let failing = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            Err(marketingforce_core::Error::backend_message(
                "memory-sink",
                true,
                "injected failure",
            )
            .into())
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl LeadSink for MemoryLeadSink {
    async fn capture(&self, _tenant: &TenantId, lead: &SiteLead, key: &str) -> Result<LeadRef> {
        self.maybe_fail()?;
        let mut leads = self.leads.lock().unwrap_or_else(PoisonError::into_inner);
        let index = match leads.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                leads.push((key.to_string(), lead.clone()));
                leads.len() - 1
            }
        };
        Ok(LeadRef {
            lead: format!("memory-lead-{index}"),
        })
    }

    async fn record_behaviour(
        &self,
        _tenant: &TenantId,
        b: &SiteBehaviour,
        key: &str,
    ) -> Result<()> {
        self.maybe_fail()?;
        let mut list = self
            .behaviours
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !list.iter().any(|(k, _)| k == key) {
            list.push((key.to_string(), b.clone()));
        }
        Ok(())
    }
}
