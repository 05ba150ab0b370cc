//! [`WeCom`]: a tenant's corp, its API and its CRM, tied together.

use std::fmt;
use std::sync::Arc;

use marketingforce_core::adapters::wechat::CallbackCrypto;
use marketingforce_core::storage::Collection;
use marketingforce_core::tenant::TenantId;

use super::client::WeComClient;
use super::links::{CallbackSeen, GroupLink, SendRecord, TagPush};
use super::sync::{CrmSeam, StaffDirectory};
use crate::crypto::KeyProvider;
use crate::error::Result;
use crate::ids::LeadId;
use crate::service::Crm;

/// The WeCom private domain of one tenant: contact sync into capture, channel codes, group
/// chats, mass messages (as a [`MessageSender`](crate::outreach::MessageSender)), tag sync and
/// the callback endpoint. See the [module documentation](super).
pub struct WeCom {
    pub(crate) client: WeComClient,
    pub(crate) seam: CrmSeam,
    pub(crate) crypto: Option<CallbackCrypto>,
    pub(crate) groups: Collection<GroupLink>,
    pub(crate) seen: Collection<CallbackSeen>,
    pub(crate) sends: Collection<SendRecord>,
    pub(crate) tag_pushes: Collection<TagPush>,
}

impl fmt::Debug for WeCom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeCom")
            .field("client", &self.client)
            .field("callback", &self.crypto.is_some())
            .finish_non_exhaustive()
    }
}

impl WeCom {
    /// The connector for `client`'s tenant and corp over `crm`. `keys` must be the CRM's own
    /// key provider (external user ids are sealed and blind-indexed with its keys);
    /// `directory` maps WeCom userids to CRM users.
    ///
    /// # Errors
    /// A validation error on the callback settings (`encoding_aes_key`) when they are given.
    pub fn new(
        client: WeComClient,
        crm: Arc<Crm>,
        keys: Arc<dyn KeyProvider>,
        directory: Arc<dyn StaffDirectory>,
    ) -> Result<WeCom> {
        let app = client.app();
        let crypto = match (&app.callback_token, &app.encoding_aes_key) {
            (Some(t), Some(k)) => Some(CallbackCrypto::new(t, k, app.corp_id.clone())?),
            _ => None,
        };
        let store = crm.store().clone();
        Ok(WeCom {
            seam: CrmSeam::new(crm, keys, directory),
            crypto,
            groups: Collection::new(store.clone()),
            seen: Collection::new(store.clone()),
            sends: Collection::new(store.clone()),
            tag_pushes: Collection::new(store),
            client,
        })
    }

    /// The API client.
    pub fn client(&self) -> &WeComClient {
        &self.client
    }

    pub(crate) fn tenant(&self) -> &TenantId {
        self.client.tenant()
    }

    /// The lead an external contact was captured into, if any.
    ///
    /// # Errors
    /// A validation error on a malformed id; storage errors.
    pub async fn lead_of(&self, external_userid: &str) -> Result<Option<LeadId>> {
        self.seam.lead_of(self.tenant(), external_userid).await
    }

    /// Forget a lead's WeCom link — its sealed external user id — e.g. after erasing the
    /// contact under PIPL; returns how many links were removed.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn forget_lead(&self, lead: &LeadId) -> Result<usize> {
        self.seam.forget(self.tenant(), lead).await
    }
}
