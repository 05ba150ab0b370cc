//! What the connector keeps in the tenant's store: channel codes (a contact way's `state` and
//! the lead source and campaign it stands for), the link of each external contact to its lead
//! (keyed by the blind index of the external user id, the id itself sealed), group chats with
//! the CRM group id they were given, and the callbacks already handled.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use marketingforce_core::storage::{Entity, IndexEntry};
use marketingforce_core::tenant::TenantId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crypto::Sealed;
use crate::error::{CrmError, Result};
use crate::ids::{GroupId, LeadId};
use crate::model::Source;

/// A channel QR code (渠道活码): the `state` WeCom reports on every contact added through it,
/// and what that means for the lead.
///
/// ```
/// use marketingforce_crm::model::Source;
/// use marketingforce_crm::wecom::ChannelCode;
///
/// let code = ChannelCode::new("expo2026-b3", Source::OfflineQr).campaign("2026-spring-expo");
/// code.validate().unwrap();
/// assert!(ChannelCode::new("this-state-is-far-too-long-for-wecom", Source::WeCom).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelCode {
    /// The `state` (at most 30 characters, as the platform allows).
    pub state: String,
    /// The lead source of contacts added through it.
    pub source: Source,
    /// Their campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The contact way's `config_id`, once created on the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_id: Option<String>,
    /// The QR code's URL, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
}

impl ChannelCode {
    /// A code for `state` meaning `source`.
    pub fn new(state: impl Into<String>, source: Source) -> ChannelCode {
        ChannelCode {
            state: state.into(),
            source,
            campaign: None,
            config_id: None,
            qr_code: None,
        }
    }

    /// Set the campaign.
    #[must_use]
    pub fn campaign(mut self, campaign: impl Into<String>) -> ChannelCode {
        self.campaign = Some(campaign.into());
        self
    }

    /// Check the code.
    ///
    /// # Errors
    /// A validation error on `state` (1–30 characters of letters, digits, `-`, `_`) or
    /// `campaign`.
    pub fn validate(&self) -> Result<()> {
        let s = &self.state;
        if s.is_empty()
            || s.chars().count() > 30
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(CrmError::validation(
                "state",
                "must be 1-30 characters of letters, digits, '-' or '_'",
            ));
        }
        if self
            .campaign
            .as_ref()
            .is_some_and(|c| c.trim().is_empty() || c.chars().count() > 100)
        {
            return Err(CrmError::validation("campaign", "must be 1-100 characters"));
        }
        Ok(())
    }
}

impl Entity for ChannelCode {
    const COLLECTION: &'static str = "crm.wecom_channel_codes";
    fn key(&self) -> String {
        self.state.clone()
    }
}

/// An external contact's link to its lead. The key is the blind index of the external user
/// id; the id itself is sealed (it is personal data, needed again only to message the contact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContactLink {
    pub key: String,
    pub tenant: TenantId,
    pub lead: LeadId,
    pub sealed_id: Sealed,
    /// Staff userids who have the contact now.
    #[serde(default)]
    pub follow_users: BTreeSet<String>,
    /// Keyed digests of the capture requests already made (a re-sync of unchanged values
    /// makes no call to the CRM).
    #[serde(default)]
    pub captures: BTreeSet<String>,
    pub updated_at: DateTime<Utc>,
}

impl Entity for ContactLink {
    const COLLECTION: &'static str = "crm.wecom_contacts";
    fn key(&self) -> String {
        self.key.clone()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("lead", self.lead.to_string())]
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// A customer group chat and the CRM group id it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLink {
    /// The platform's chat id.
    pub chat_id: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The id community SOPs and senders use.
    pub group: GroupId,
    /// The chat's name, as last seen.
    #[serde(default)]
    pub name: String,
    /// The owner's staff userid.
    #[serde(default)]
    pub owner: String,
    /// Members as last seen (staff and external).
    #[serde(default)]
    pub members: usize,
    /// Whether the chat was dismissed.
    #[serde(default)]
    pub dismissed: bool,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Entity for GroupLink {
    const COLLECTION: &'static str = "crm.wecom_groups";
    fn key(&self) -> String {
        self.chat_id.clone()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("group", self.group.to_string())]
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// A callback already handled (its identity is a keyed digest: it holds an external user id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CallbackSeen {
    pub key: String,
    pub kind: String,
    pub at: DateTime<Utc>,
}

impl Entity for CallbackSeen {
    const COLLECTION: &'static str = "crm.wecom_callbacks";
    fn key(&self) -> String {
        self.key.clone()
    }
}

/// A mass-message send, recorded before the platform is called so a retry never sends twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SendRecord {
    pub key: String,
    pub fingerprint: String,
    pub state: SendState,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum SendState {
    Unanswered,
    Done {
        receipt: crate::outreach::SendReceipt,
    },
}

impl Entity for SendRecord {
    const COLLECTION: &'static str = "crm.wecom_sends";
    fn key(&self) -> String {
        self.key.clone()
    }
}

/// The tag set of a lead last pushed to WeCom, per tenant and lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TagPush {
    pub lead: LeadId,
    pub tags: BTreeSet<String>,
    pub updated_at: DateTime<Utc>,
}

impl Entity for TagPush {
    const COLLECTION: &'static str = "crm.wecom_tag_pushes";
    fn key(&self) -> String {
        self.lead.to_string()
    }
}
