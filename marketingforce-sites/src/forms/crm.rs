//! The one module that talks to `marketingforce-crm`: [`CrmLeadSink`] maps a [`SiteLead`] to a
//! capture from source `own_site` and a [`SiteBehaviour`] to a behaviour event. When the CRM's
//! capture API changes, this file is the only edit.
//!
//! Mapping: name, mobile, email, company, region and product go to the capture request; the
//! UTM campaign becomes the CRM `campaign`; the ad platform of the click id (else the UTM
//! source) becomes the CRM `platform`; the consent's purpose is recorded with channel
//! `web_form`. The page, full UTM set and click id stay in the site's submission record
//! (linked by lead id); the page is also sent as the content of the `form_submit` behaviour.

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use async_trait::async_trait;
use marketingforce_core::tenant::TenantId;
use marketingforce_crm::model::Source;
use marketingforce_crm::profile::{BehaviourEvent, BehaviourKind as CrmKind};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::Crm;

use super::sink::{BehaviourKind, LeadRef, LeadSink, SiteBehaviour, SiteLead};
use crate::error::{Result, SitesError};

/// The CRM as a [`LeadSink`].
#[derive(Debug, Clone)]
pub struct CrmLeadSink {
    crm: Arc<Crm>,
}

impl CrmLeadSink {
    /// A sink capturing into `crm`.
    pub fn new(crm: Arc<Crm>) -> CrmLeadSink {
        CrmLeadSink { crm }
    }
}

fn request(lead: &SiteLead) -> CaptureRequest {
    let mut r = CaptureRequest::new(Source::OwnSite).at(lead.submitted_at);
    r.name = lead.name.clone();
    r.mobile = lead.mobile.clone();
    r.email = lead.email.clone();
    r.company = lead.company.clone();
    r.region = lead.region.clone();
    r.product_interest = lead.product.iter().cloned().collect();
    r.campaign = lead.utm.campaign.clone();
    r.platform = lead
        .click
        .as_ref()
        .map(|c| c.platform.as_str().to_string())
        .or_else(|| lead.utm.source.clone());
    r.consent(lead.consent.purpose.clone(), "web_form")
}

/// The CRM's key for a sink `key`: the key itself when it is a valid [`IdempotencyKey`] (the
/// form's derived keys, `{key}:capture`, as stored by earlier versions), otherwise a key
/// [derived](IdempotencyKey::derive) from it and hashed (a sink key over 128 bytes).
fn crm_key(key: &str) -> Result<IdempotencyKey> {
    match IdempotencyKey::new(key) {
        Ok(k) => Ok(k),
        Err(_) => Ok(IdempotencyKey::new("sites.lead")?.derive(key)),
    }
}

#[async_trait]
impl LeadSink for CrmLeadSink {
    async fn capture(&self, tenant: &TenantId, lead: &SiteLead, key: &str) -> Result<LeadRef> {
        let outcome = self
            .crm
            .capture(tenant, request(lead), &crm_key(key)?)
            .await?;
        Ok(LeadRef {
            lead: outcome.lead().to_string(),
        })
    }

    async fn record_behaviour(
        &self,
        tenant: &TenantId,
        b: &SiteBehaviour,
        key: &str,
    ) -> Result<()> {
        let lead = b
            .lead
            .parse()
            .map_err(|e: marketingforce_core::Error| SitesError::from(e))?;
        let event = BehaviourEvent {
            lead,
            kind: match b.kind {
                BehaviourKind::View => CrmKind::View,
                BehaviourKind::FormSubmit => CrmKind::FormSubmit,
            },
            at: b.at,
            topic: b.topic.clone(),
            content: b.content.clone(),
        };
        self.crm
            .record_behaviour(tenant, event, &crm_key(key)?)
            .await?;
        Ok(())
    }
}
