//! [`CrmInquirySink`]: content inquiries captured as CRM leads.

use std::sync::Arc;

use async_trait::async_trait;
use marketingforce_content::optimise::{Inquiry, LeadReceipt, LeadSink};
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::request::Inquiry as CrmInquiry;
use marketingforce_crm::Crm;

use super::errors::reclassify;

/// The CRM as the content crate's [`LeadSink`]: each inquiry that published content produced
/// (a comment form, a private message with contact details) is captured as a lead of the
/// inquiry's tenant from source `t_cloud_inquiry`, attributed to a campaign, and deduplicated
/// against the tenant's leads on hand-off.
///
/// Idempotent by the inquiry's stable id (`{channel}:{platform inquiry id}`), used as the
/// capture's idempotency key (a [derived](IdempotencyKey::derive) key when the id is not a
/// valid key by itself), so a forwarding run retried after a failure captures nothing twice —
/// from any process.
///
/// Mapping: the channel becomes the CRM `platform`, the phone the `mobile` (the CRM normalises
/// it), name, email, company and region as given, the content id as the CRM `content_id`; the
/// message text stays in the content crate's inquiry record (it is not lead data).
///
/// Errors keep their meaning across the seam: a retryable CRM failure is a retryable
/// core error (the forwarder keeps the inquiry pending and retries it), an unknown outcome
/// stays unknown, invalid input names the CRM field.
#[derive(Debug, Clone)]
pub struct CrmInquirySink {
    crm: Arc<Crm>,
    campaign: String,
}

impl CrmInquirySink {
    /// A sink capturing into `crm`, attributing every inquiry to `campaign`.
    pub fn new(crm: Arc<Crm>, campaign: impl Into<String>) -> CrmInquirySink {
        CrmInquirySink {
            crm,
            campaign: campaign.into(),
        }
    }

    /// The CRM's view of a content inquiry.
    pub fn to_crm(&self, inquiry: &Inquiry) -> CrmInquiry {
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

    /// The capture's idempotency key of an inquiry: its id when that is a valid key, else a
    /// key [derived](IdempotencyKey::derive) from it under `content-inquiry` (deterministic, so
    /// retries agree).
    ///
    /// # Errors
    /// None in practice (the base key is valid); typed as a validation error otherwise.
    pub fn key_of(inquiry: &Inquiry) -> marketingforce_core::Result<IdempotencyKey> {
        match IdempotencyKey::new(inquiry.id.as_str()) {
            Ok(key) => Ok(key),
            Err(_) => Ok(IdempotencyKey::new("content-inquiry")?.derive(&inquiry.id)),
        }
    }
}

#[async_trait]
impl LeadSink for CrmInquirySink {
    async fn submit(&self, inquiry: &Inquiry) -> marketingforce_core::Result<LeadReceipt> {
        let key = Self::key_of(inquiry)?;
        let outcome = self
            .crm
            .capture_inquiry(&inquiry.tenant, self.to_crm(inquiry), &key)
            .await
            .map_err(|e| match e {
                marketingforce_crm::CrmError::Core(core) => core,
                other => reclassify("crm.capture_inquiry", &other),
            })?;
        Ok(LeadReceipt {
            lead_id: outcome.lead().to_string(),
        })
    }
}
