//! The hand-off of T Cloud inquiries to True Client: a [`LeadSink`] (content crate) that
//! captures each inquiry as a lead in the CRM (crm crate), where dedupe runs.
//!
//! Neither crate depends on the other; this adapter is the seam. It is idempotent by the
//! inquiry's stable id (`{channel}:{platform inquiry id}`), which it uses as the CRM's
//! idempotency key, so a forwarding run retried after a failure captures nothing twice.

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use async_trait::async_trait;
use marketingforce_content::optimise::{Inquiry as ContentInquiry, LeadReceipt, LeadSink};
use marketingforce_crm::request::Inquiry as CrmInquiry;
use marketingforce_crm::{Crm, CrmError};

/// Captures inquiries as leads of the inquiry's tenant.
#[derive(Debug, Clone)]
pub struct CrmLeadSink {
    crm: Arc<Crm>,
    campaign: String,
}

impl CrmLeadSink {
    /// A sink into `crm`, attributing every inquiry to `campaign`.
    pub fn new(crm: Arc<Crm>, campaign: impl Into<String>) -> CrmLeadSink {
        CrmLeadSink {
            crm,
            campaign: campaign.into(),
        }
    }

    /// The CRM's view of a content inquiry: the channel is the platform, the phone a mobile
    /// (the CRM normalises it and treats a landline as a phone).
    pub fn to_crm(&self, inquiry: &ContentInquiry) -> CrmInquiry {
        CrmInquiry {
            campaign: self.campaign.clone(),
            content_id: inquiry.content_id.clone(),
            platform: Some(inquiry.channel.clone()),
            name: inquiry.name.clone(),
            mobile: inquiry.phone.clone(),
            email: inquiry.email.clone(),
            wecom_id: None,
            company: inquiry.company.clone(),
            region: inquiry.region.clone(),
            product_interest: vec![],
            consent: None,
            received_at: Some(inquiry.received_at),
        }
    }
}

fn to_core(e: CrmError) -> marketingforce_core::Error {
    match e {
        CrmError::Core(core) => core,
        other => {
            let field = other.field().unwrap_or("inquiry").to_string();
            marketingforce_core::Error::validation(field, other.to_string())
        }
    }
}

#[async_trait]
impl LeadSink for CrmLeadSink {
    async fn submit(&self, inquiry: &ContentInquiry) -> marketingforce_core::Result<LeadReceipt> {
        let outcome = self
            .crm
            .capture_inquiry(
                &inquiry.tenant,
                self.to_crm(inquiry),
                &IdempotencyKey::new(inquiry.id.as_str())?,
            )
            .await
            .map_err(to_core)?;
        Ok(LeadReceipt {
            lead_id: outcome.lead().to_string(),
        })
    }
}
