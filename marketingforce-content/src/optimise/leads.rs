//! Inquiries produced by published content, handed to the CRM as leads.
//!
//! The CRM implements [`LeadSink`]; this crate does not depend on it. [`InquiryForwarder`]
//! collects inquiries from every channel account that published, attributes each to its
//! publication (content id and version), records it once (keyed by channel and the platform's
//! inquiry id) and delivers it; failed deliveries stay pending and are retried on the next run.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketingforce_core::env::Env;
use marketingforce_core::storage::{Batch, Collection, Entity, Expect, IndexEntry, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::distribution::{PublicationId, Publisher};
use crate::error::{ContentError, Result};

/// An inquiry, as the CRM receives it. Holds personal data: its `Debug` shows which contact
/// details are present, never their values (nor the message or the visitor id).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Inquiry {
    /// Stable id: `{channel}:{platform inquiry id}` (use it as the CRM's idempotency key).
    pub id: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Channel code (the lead source).
    pub channel: String,
    /// The tenant's account on the channel.
    pub account: String,
    /// The publication it came from, when known.
    pub publication: Option<PublicationId>,
    /// Content id, when known.
    pub content_id: Option<String>,
    /// Content version, when known.
    pub content_version: Option<u32>,
    /// Name given.
    pub name: Option<String>,
    /// Phone given.
    pub phone: Option<String>,
    /// Email given.
    pub email: Option<String>,
    /// Company given.
    pub company: Option<String>,
    /// Region, when known.
    pub region: Option<String>,
    /// The message.
    pub message: String,
    /// Visitor id (for remarketing and de-duplication).
    pub visitor_id: Option<String>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

impl fmt::Debug for Inquiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let has = |o: &Option<String>| o.is_some();
        f.debug_struct("Inquiry")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("channel", &self.channel)
            .field("account", &self.account)
            .field("publication", &self.publication)
            .field("content_id", &self.content_id)
            .field("content_version", &self.content_version)
            .field("name", &has(&self.name))
            .field("phone", &has(&self.phone))
            .field("email", &has(&self.email))
            .field("company", &has(&self.company))
            .field("region", &self.region)
            .field("visitor_id", &has(&self.visitor_id))
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

/// What the CRM answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadReceipt {
    /// The CRM's lead id (an existing lead when the CRM merged a duplicate).
    pub lead_id: String,
}

/// Where inquiries go: implemented by the CRM. Must be idempotent by [`Inquiry::id`].
#[async_trait]
pub trait LeadSink: Send + Sync + fmt::Debug {
    /// Take an inquiry as a lead.
    ///
    /// # Errors
    /// Any core error; retryable ones are retried on the next forwarding run.
    async fn submit(&self, inquiry: &Inquiry) -> marketingforce_core::Result<LeadReceipt>;
}

/// A sink that keeps inquiries in memory (tests, demos).
#[derive(Debug, Default)]
pub struct MemoryLeadSink {
    received: std::sync::Mutex<Vec<Inquiry>>,
    fail_next: std::sync::atomic::AtomicUsize,
}

impl MemoryLeadSink {
    /// An empty sink.
    pub fn new() -> MemoryLeadSink {
        MemoryLeadSink::default()
    }

    /// Fail the next `n` submissions (retryably).
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Everything received, once per inquiry id.
    pub fn received(&self) -> Vec<Inquiry> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl LeadSink for MemoryLeadSink {
    async fn submit(&self, inquiry: &Inquiry) -> marketingforce_core::Result<LeadReceipt> {
        use std::sync::atomic::Ordering;
        if self.fail_next.load(Ordering::SeqCst) > 0 {
            self.fail_next.fetch_sub(1, Ordering::SeqCst);
            return Err(marketingforce_core::Error::backend_message(
                "crm",
                true,
                "CRM unavailable (injected)",
            ));
        }
        let mut r = self
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !r.iter().any(|i| i.id == inquiry.id) {
            r.push(inquiry.clone());
        }
        Ok(LeadReceipt {
            lead_id: format!("lead-{}", inquiry.id),
        })
    }
}

/// Delivery state of a recorded inquiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Delivery {
    /// Not yet delivered.
    Pending {
        /// Attempts so far.
        attempts: u32,
        /// Last error.
        last_error: Option<String>,
    },
    /// In the CRM.
    Delivered {
        /// The CRM's lead id.
        lead_id: String,
        /// When.
        at: DateTime<Utc>,
    },
}

/// A recorded inquiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InquiryRecord {
    /// The inquiry.
    pub inquiry: Inquiry,
    /// Its delivery.
    pub delivery: Delivery,
}

impl Entity for InquiryRecord {
    const COLLECTION: &'static str = "content.inquiries";
    fn key(&self) -> String {
        self.inquiry.id.clone()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        let state = match self.delivery {
            Delivery::Pending { .. } => "pending",
            Delivery::Delivered { .. } => "delivered",
        };
        vec![
            IndexEntry::new("delivery", state),
            IndexEntry::new("channel", &self.inquiry.channel),
        ]
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.inquiry.tenant)
    }
}

/// What a forwarding run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardReport {
    /// Inquiries seen for the first time.
    pub new: usize,
    /// Delivered in this run.
    pub delivered: usize,
    /// Still pending after this run.
    pub pending: usize,
}

/// Collects inquiries from channels and hands them to a [`LeadSink`].
#[derive(Debug, Clone)]
pub struct InquiryForwarder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    publisher: Arc<Publisher>,
    sink: Arc<dyn LeadSink>,
    records: Collection<InquiryRecord>,
}

impl InquiryForwarder {
    /// A forwarder on `env` (its store and clock) collecting inquiries from the channels of
    /// `publisher` and delivering them to `sink`.
    pub fn new(env: &Env, publisher: Arc<Publisher>, sink: Arc<dyn LeadSink>) -> InquiryForwarder {
        InquiryForwarder {
            records: Collection::new(env.store().clone()),
            store: env.store().clone(),
            clock: env.clock().clone(),
            publisher,
            sink,
        }
    }

    /// Collect new inquiries from every account that published, record them, deliver
    /// everything pending. Running it again delivers nothing twice.
    ///
    /// # Errors
    /// Channel and storage errors (sink errors leave the inquiry pending instead).
    pub async fn run(&self, tenant: &TenantId) -> Result<ForwardReport> {
        let mut report = ForwardReport::default();
        let publications = self.publisher.list(tenant).await?;
        let accounts: BTreeSet<(String, String)> = publications
            .iter()
            .filter(|p| p.external_id().is_some())
            .map(|p| (p.command.channel.clone(), p.command.account.clone()))
            .collect();
        for (code, account) in accounts {
            let Some(channel) = self.publisher.channels().find(|c| c.code() == code) else {
                continue;
            };
            let found = channel
                .inquiries(tenant, &account, None)
                .await
                .map_err(ContentError::from_adapter)?;
            for ci in found {
                let id = format!("{code}:{}", ci.external_id);
                if self.records.get(tenant, &id).await?.is_some() {
                    continue;
                }
                let publication = publications.iter().find(|p| {
                    p.command.channel == code
                        && p.external_id() == Some(ci.item_external_id.as_str())
                });
                let record = InquiryRecord {
                    inquiry: Inquiry {
                        id,
                        tenant: *tenant,
                        channel: code.clone(),
                        account: account.clone(),
                        publication: publication.map(|p| p.id),
                        content_id: publication.map(|p| p.command.content_id.clone()),
                        content_version: publication.map(|p| p.command.version),
                        name: ci.name,
                        phone: ci.phone,
                        email: ci.email,
                        company: ci.company,
                        region: ci.region,
                        message: ci.message,
                        visitor_id: ci.visitor_id,
                        received_at: ci.received_at,
                    },
                    delivery: Delivery::Pending {
                        attempts: 0,
                        last_error: None,
                    },
                };
                let mut batch = Batch::new();
                batch.put_entity(tenant, &record, Expect::Absent)?;
                match self.store.commit(tenant, batch).await {
                    Ok(_) => report.new += 1,
                    // A concurrent run recorded it first.
                    Err(marketingforce_core::Error::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for pending in self
            .records
            .lookup_all(tenant, "delivery", "pending")
            .await?
        {
            let mut rec = pending.value;
            let attempts = match &rec.delivery {
                Delivery::Pending { attempts, .. } => *attempts,
                Delivery::Delivered { .. } => continue,
            };
            rec.delivery = match self.sink.submit(&rec.inquiry).await {
                Ok(r) => {
                    report.delivered += 1;
                    Delivery::Delivered {
                        lead_id: r.lead_id,
                        at: self.clock.now(),
                    }
                }
                Err(e) => {
                    report.pending += 1;
                    Delivery::Pending {
                        attempts: attempts + 1,
                        last_error: Some(e.to_string()),
                    }
                }
            };
            let mut batch = Batch::new();
            batch.put_entity(tenant, &rec, Expect::Version(pending.version))?;
            match self.store.commit(tenant, batch).await {
                Ok(_) | Err(marketingforce_core::Error::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }

    /// Every recorded inquiry.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn recorded(&self, tenant: &TenantId) -> Result<Vec<InquiryRecord>> {
        Ok(self
            .records
            .list_all(tenant)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_personal_data() {
        let record = InquiryRecord {
            inquiry: Inquiry {
                id: "b2b-directory:q1".into(),
                tenant: TenantId::new(),
                channel: "b2b-directory".into(),
                account: "acme".into(),
                publication: None,
                content_id: Some("art-1".into()),
                content_version: Some(1),
                name: Some("王芳".into()),
                phone: Some("13912345678".into()),
                email: Some("wang.fang@example.cn".into()),
                company: Some("苏州某某机械有限公司".into()),
                region: Some("江苏".into()),
                message: "请回电 13912345678".into(),
                visitor_id: Some("v-visitor-0042".into()),
                received_at: Utc::now(),
            },
            delivery: Delivery::Pending {
                attempts: 0,
                last_error: None,
            },
        };
        let shown = format!("{record:?} {:?}", record.inquiry);
        for personal in [
            "王芳",
            "13912345678",
            "wang.fang",
            "苏州某某机械",
            "v-visitor-0042",
        ] {
            assert!(!shown.contains(personal), "{personal} in {shown}");
        }
        assert!(shown.contains("b2b-directory:q1"), "{shown}");
    }
}
