//! The seam between the WeCom connector and the CRM: the only module that calls the CRM's
//! capture, claim, lead and behaviour API. Everything else in `wecom` speaks the platform's
//! shapes and comes here to touch leads, so adapting to a change of the capture API is an edit
//! of this file.
//!
//! Personal data discipline: an external user id is passed to the CRM only inside a
//! [`CaptureRequest`] (where it is sealed into the lead's vault); the connector's own records
//! are keyed by its blind index and hold it sealed. Idempotency keys derived from contacts are
//! keyed digests, never the ids themselves. Values the CRM would refuse (a nickname with
//! control characters, a mistyped mobile) are dropped from the capture and counted, so the
//! refusal — which quotes the value — never reaches a report or a log.

use marketingforce_core::IdempotencyKey;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use marketingforce_core::storage::{Collection, Expect, Versioned};
use marketingforce_core::tenant::TenantId;

use super::links::{ChannelCode, ContactLink};
use super::model::{ContactRecord, FollowInfo};
use crate::crypto::{BlindKind, KeyProvider, PiiCipher};
use crate::error::{CrmError, Result};
use crate::identity::{clean_name, MobileNumber};
use crate::ids::{LeadId, UserId};
use crate::model::{Source, Stage};
use crate::profile::BehaviourEvent;
use crate::request::CaptureRequest;
use crate::service::{CaptureOutcome, Crm};

/// Maps WeCom staff userids to CRM users (supplied by the embedder, who knows both
/// directories).
pub trait StaffDirectory: Send + Sync + fmt::Debug {
    /// The CRM user of a WeCom userid, if mapped.
    fn user_of(&self, tenant: &TenantId, wecom_userid: &str) -> Option<UserId>;
    /// The WeCom userid of a CRM user, if mapped.
    fn wecom_of(&self, tenant: &TenantId, user: &UserId) -> Option<String>;
}

/// A [`StaffDirectory`] held in memory.
///
/// ```
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_crm::ids::UserId;
/// use marketingforce_crm::wecom::{StaffDirectory, StaticDirectory};
///
/// let (tenant, li) = (TenantId::new(), UserId::new());
/// let dir = StaticDirectory::new().with(tenant, "lisi", li);
/// assert_eq!(dir.user_of(&tenant, "lisi"), Some(li));
/// assert_eq!(dir.wecom_of(&tenant, &li).as_deref(), Some("lisi"));
/// assert_eq!(dir.user_of(&TenantId::new(), "lisi"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticDirectory {
    by_wecom: HashMap<(TenantId, String), UserId>,
    by_user: HashMap<(TenantId, UserId), String>,
}

impl StaticDirectory {
    /// An empty directory.
    pub fn new() -> StaticDirectory {
        StaticDirectory::default()
    }

    /// Map `wecom_userid` of `tenant` to `user`.
    #[must_use]
    pub fn with(mut self, tenant: TenantId, wecom_userid: impl Into<String>, user: UserId) -> Self {
        let w = wecom_userid.into();
        self.by_wecom.insert((tenant, w.clone()), user);
        self.by_user.insert((tenant, user), w);
        self
    }
}

impl StaffDirectory for StaticDirectory {
    fn user_of(&self, tenant: &TenantId, wecom_userid: &str) -> Option<UserId> {
        self.by_wecom
            .get(&(*tenant, wecom_userid.to_string()))
            .copied()
    }
    fn wecom_of(&self, tenant: &TenantId, user: &UserId) -> Option<String> {
        self.by_user.get(&(*tenant, *user)).cloned()
    }
}

/// What became of the follow user as the lead's owner.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "owner", rename_all = "snake_case")]
pub enum OwnerResult {
    /// The follow user now owns the lead.
    Set {
        /// The CRM user.
        user: UserId,
    },
    /// The lead already had an owner (kept).
    Kept {
        /// The owner.
        user: UserId,
    },
    /// The WeCom userid is not in the [`StaffDirectory`].
    Unmapped {
        /// The WeCom userid.
        wecom_userid: String,
    },
    /// The CRM refused the assignment (e.g. the user's level may not take unassigned leads,
    /// or the lead is closed); the lead stays for allocation.
    Refused {
        /// The CRM user.
        user: UserId,
        /// Why (no personal data).
        reason: String,
    },
}

/// One follow relation captured into the CRM.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Captured {
    /// The follow user's WeCom userid.
    pub follow_user: String,
    /// What the capture did.
    pub outcome: CaptureOutcome,
    /// The owner.
    pub owner: OwnerResult,
    /// Values dropped because the CRM would refuse them (`name`, `company`, `mobile`).
    pub dropped: Vec<String>,
}

/// The CRM side of the connector.
pub struct CrmSeam {
    crm: Arc<Crm>,
    cipher: PiiCipher,
    directory: Arc<dyn StaffDirectory>,
    links: Collection<ContactLink>,
    codes: Collection<ChannelCode>,
}

impl fmt::Debug for CrmSeam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrmSeam")
            .field("directory", &self.directory)
            .finish_non_exhaustive()
    }
}

/// The form of an external user id the CRM accepts (`WeComId`), checked without quoting it.
pub(crate) fn checked_id(id: &str) -> Result<&str> {
    let s = id.trim();
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(CrmError::validation(
            "external_userid",
            "is not a WeCom external user id (1-64 letters, digits, '_' or '-')",
        ));
    }
    Ok(s)
}

/// A CRM error as a report line without personal data.
pub(crate) fn safe_reason(e: &CrmError) -> String {
    match e {
        CrmError::Core(marketingforce_core::Error::Validation { field, .. }) => {
            format!("invalid {field}")
        }
        CrmError::NoIdentity => "no identity".into(),
        other => other.to_string(),
    }
}

/// A change to a contact's link.
enum LinkChange<'a> {
    Followed { user: &'a str, capture: &'a str },
    Unfollowed { user: &'a str },
}

fn unix(ts: i64) -> Option<DateTime<Utc>> {
    (ts > 0)
        .then(|| Utc.timestamp_opt(ts, 0).single())
        .flatten()
}

impl CrmSeam {
    pub(crate) fn new(
        crm: Arc<Crm>,
        keys: Arc<dyn KeyProvider>,
        directory: Arc<dyn StaffDirectory>,
    ) -> CrmSeam {
        let store = crm.store().clone();
        CrmSeam {
            cipher: PiiCipher::new(keys),
            directory,
            links: Collection::new(store.clone()),
            codes: Collection::new(store),
            crm,
        }
    }

    pub(crate) fn crm(&self) -> &Arc<Crm> {
        &self.crm
    }

    pub(crate) fn directory(&self) -> &Arc<dyn StaffDirectory> {
        &self.directory
    }

    pub(crate) fn codes(&self) -> &Collection<ChannelCode> {
        &self.codes
    }

    /// A keyed digest (blind index of kind `Digest`) for idempotency keys and record keys
    /// derived from personal data.
    pub(crate) fn digest(&self, tenant: &TenantId, parts: &[&str]) -> Result<String> {
        let joined = parts.join("\u{1f}");
        let b = self
            .crm
            .indexer()
            .compute(tenant, BlindKind::Digest, &joined)?;
        Ok(format!("{:032x}", b.mac))
    }

    /// The link of an external user id, under any blind-index key in use.
    async fn link_of(
        &self,
        tenant: &TenantId,
        ext: &str,
    ) -> Result<Option<Versioned<ContactLink>>> {
        for key in self
            .crm
            .indexer()
            .lookup_values(tenant, BlindKind::WeCom, ext)?
        {
            if let Some(v) = self.links.get(tenant, &key).await? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// The lead an external contact was captured into (the surviving lead after merges).
    ///
    /// # Errors
    /// A validation error on a malformed id; storage errors.
    pub async fn lead_of(
        &self,
        tenant: &TenantId,
        external_userid: &str,
    ) -> Result<Option<LeadId>> {
        let ext = checked_id(external_userid)?;
        match self.link_of(tenant, ext).await? {
            Some(v) => Ok(Some(self.crm.survivor(tenant, &v.value.lead).await?)),
            None => Ok(None),
        }
    }

    /// The external user id and follow users of a lead (to message it), if it came from WeCom.
    pub(crate) async fn contact_of(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
    ) -> Result<Option<(String, Vec<String>)>> {
        let lead = self.crm.survivor(tenant, lead).await?;
        let mut found = self
            .links
            .lookup_all(tenant, "lead", &lead.to_string())
            .await?;
        if found.is_empty() {
            // Captured into a lead that was later merged into this one.
            for l in self.links.list_all(tenant).await? {
                if self.crm.survivor(tenant, &l.value.lead).await? == lead {
                    found.push(l);
                }
            }
        }
        let Some(v) = found.into_iter().next() else {
            return Ok(None);
        };
        let plain = self
            .cipher
            .open(tenant, v.value.key.as_bytes(), &v.value.sealed_id)?;
        let id = String::from_utf8(plain)
            .map_err(|_| CrmError::validation("sealed_id", "does not hold text"))?;
        Ok(Some((id, v.value.follow_users.into_iter().collect())))
    }

    /// Record (or update) the link of `ext` to `lead`: a follow user added or removed, a
    /// capture digest added.
    async fn link(
        &self,
        tenant: &TenantId,
        ext: &str,
        lead: LeadId,
        change: LinkChange<'_>,
    ) -> Result<()> {
        for _ in 0..3 {
            let now = self.crm.clock().now();
            let existing = self.link_of(tenant, ext).await?;
            let (mut link, expect) = match existing {
                Some(v) => (v.value, Expect::Version(v.version)),
                None => {
                    let key = self
                        .crm
                        .indexer()
                        .compute(tenant, BlindKind::WeCom, ext)?
                        .index_value(&self.crm.indexer().active_key_id(tenant)?);
                    let sealed_id = self.cipher.seal(tenant, key.as_bytes(), ext.as_bytes())?;
                    (
                        ContactLink {
                            key,
                            tenant: *tenant,
                            lead,
                            sealed_id,
                            follow_users: Default::default(),
                            captures: Default::default(),
                            updated_at: now,
                        },
                        Expect::Absent,
                    )
                }
            };
            let before = link.clone();
            link.lead = lead;
            match change {
                LinkChange::Followed { user, capture } => {
                    link.follow_users.insert(user.to_string());
                    link.captures.insert(capture.to_string());
                }
                LinkChange::Unfollowed { user } => {
                    link.follow_users.remove(user);
                }
            }
            if link == before && expect != Expect::Absent {
                return Ok(());
            }
            link.updated_at = now;
            let mut batch = marketingforce_core::storage::Batch::new();
            batch.put_entity(tenant, &link, expect)?;
            match self.crm.store().commit(tenant, batch).await {
                Ok(_) => return Ok(()),
                Err(marketingforce_core::Error::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(marketingforce_core::Error::backend_message(
            "wecom",
            true,
            "the contact's link kept changing under concurrent updates; retry",
        )
        .into())
    }

    /// The capture request of one follow relation, with the values the CRM would refuse
    /// dropped (their names listed).
    async fn request(
        &self,
        tenant: &TenantId,
        record: &ContactRecord,
        ext: &str,
        follow: &FollowInfo,
    ) -> Result<(CaptureRequest, Vec<String>)> {
        let code = match follow.state.as_deref().filter(|s| !s.is_empty()) {
            Some(state) => self.codes.get(tenant, state).await?.map(|v| v.value),
            None => None,
        };
        let source = code.as_ref().map_or(Source::WeCom, |c| c.source);
        let mut req = CaptureRequest::new(source)
            .wecom_id(ext)
            .platform("wecom")
            .consent("wecom_contact", "wecom");
        if let Some(c) = code.and_then(|c| c.campaign) {
            req = req.campaign(c);
        }
        if let Some(at) = unix(follow.createtime) {
            // WeCom's time, but never ahead of this service's clock (a skewed platform clock
            // must not win the "most recent" survivorship rule), and only when plausible.
            let at = at.min(self.crm.clock().now());
            if chrono::Datelike::year(&at) >= 2000 {
                req = req.at(at);
            }
        }
        let mut dropped = Vec::new();
        if let Some(n) = record
            .contact
            .name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
        {
            match clean_name(n, "name") {
                Ok(_) => req = req.name(n),
                Err(_) => dropped.push("name".to_string()),
            }
        }
        if let Some(c) = record
            .contact
            .corp_name
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        {
            match clean_name(c, "company") {
                Ok(_) => req = req.company(c),
                Err(_) => dropped.push("company".to_string()),
            }
        }
        let mut mobiles = follow
            .remark_mobiles
            .iter()
            .filter(|m| !m.trim().is_empty());
        if let Some(m) = mobiles.next() {
            match MobileNumber::parse(m) {
                Ok(_) => req = req.mobile(m.clone()),
                Err(_) => dropped.push("mobile".to_string()),
            }
        }
        Ok((req, dropped))
    }

    /// Capture each follow relation of `record` (follow users oldest first), make the follow
    /// user the owner where the lead has none, and link the contact to its lead.
    ///
    /// # Errors
    /// A validation error on a malformed external user id (the id is not quoted); CRM and
    /// storage errors.
    pub(crate) async fn import(
        &self,
        tenant: &TenantId,
        record: &ContactRecord,
    ) -> Result<Vec<Captured>> {
        let ext = checked_id(record.contact.external_userid.expose())?.to_string();
        let mut follows: Vec<&FollowInfo> = record.follow.iter().collect();
        follows.sort_by_key(|f| f.createtime);
        let mut out = Vec::with_capacity(follows.len());
        for follow in follows {
            let (req, dropped) = self.request(tenant, record, &ext, follow).await?;
            let fingerprint = serde_json::to_string(&req)?;
            let digest = self.digest(tenant, &[&ext, &follow.userid, &fingerprint])?;
            let known = self.link_of(tenant, &ext).await?;
            let outcome = match known.filter(|v| v.value.captures.contains(&digest)) {
                // Captured before with these very values: nothing to tell the CRM.
                Some(v) => CaptureOutcome::Unchanged {
                    lead: self.crm.survivor(tenant, &v.value.lead).await?,
                },
                None => {
                    self.crm
                        .capture(
                            tenant,
                            req,
                            &IdempotencyKey::new(format!("wecom:capture:{digest}"))?,
                        )
                        .await?
                }
            };
            let lead = outcome.lead();
            let owner = self.claim(tenant, &lead, &follow.userid).await?;
            self.link(
                tenant,
                &ext,
                lead,
                LinkChange::Followed {
                    user: &follow.userid,
                    capture: &digest,
                },
            )
            .await?;
            out.push(Captured {
                follow_user: follow.userid.clone(),
                outcome,
                owner,
                dropped,
            });
        }
        Ok(out)
    }

    /// Make the follow user the owner of a lead without one.
    async fn claim(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        wecom_userid: &str,
    ) -> Result<OwnerResult> {
        let Some(user) = self.directory.user_of(tenant, wecom_userid) else {
            return Ok(OwnerResult::Unmapped {
                wecom_userid: wecom_userid.to_string(),
            });
        };
        let current = self.crm.lead(tenant, lead).await?;
        if let Some(owner) = current.owner {
            return Ok(OwnerResult::Kept { user: owner });
        }
        if !matches!(current.stage, Stage::New | Stage::Pool) {
            return Ok(OwnerResult::Refused {
                user,
                reason: format!("the lead is {} without an owner", current.stage),
            });
        }
        let key = IdempotencyKey::new(format!("wecom:owner:{lead}:{user}"))?;
        match self.crm.claim(tenant, lead, &user, &key).await {
            Ok(()) => Ok(OwnerResult::Set { user }),
            Err(
                e @ (CrmError::AccessDenied { .. }
                | CrmError::UnknownStaff(_)
                | CrmError::IllegalTransition { .. }),
            ) => Ok(OwnerResult::Refused {
                user,
                reason: safe_reason(&e),
            }),
            Err(e) => Err(e),
        }
    }

    /// Note that `wecom_userid` no longer has the contact.
    pub(crate) async fn unfollow(
        &self,
        tenant: &TenantId,
        ext: &str,
        wecom_userid: &str,
    ) -> Result<Option<LeadId>> {
        let ext = checked_id(ext)?;
        let Some(v) = self.link_of(tenant, ext).await? else {
            return Ok(None);
        };
        let lead = self.crm.survivor(tenant, &v.value.lead).await?;
        self.link(
            tenant,
            ext,
            v.value.lead,
            LinkChange::Unfollowed { user: wecom_userid },
        )
        .await?;
        Ok(Some(lead))
    }

    /// Record a behaviour event on the surviving lead of `event.lead` (topic and content cut
    /// to the CRM's limits).
    ///
    /// # Errors
    /// CRM and storage errors.
    pub(crate) async fn behaviour(
        &self,
        tenant: &TenantId,
        mut event: BehaviourEvent,
        key: &IdempotencyKey,
    ) -> Result<i64> {
        event.lead = self.crm.survivor(tenant, &event.lead).await?;
        event.topic = event.topic.map(|t| t.chars().take(100).collect());
        event.content = event.content.map(|c| c.chars().take(200).collect());
        // WeCom's time, but never ahead of this service's clock (a skewed platform clock must
        // not be refused as a client time, nor win recency), and now when implausible.
        let now = self.crm.clock().now();
        event.at = if chrono::Datelike::year(&event.at) >= 2000 {
            event.at.min(now)
        } else {
            now
        };
        self.crm.record_behaviour(tenant, event, key).await
    }

    /// The tags of a lead.
    pub(crate) async fn tags_of(&self, tenant: &TenantId, lead: &LeadId) -> Result<Vec<String>> {
        let lead = self.crm.survivor(tenant, lead).await?;
        Ok(self
            .crm
            .lead(tenant, &lead)
            .await?
            .tags
            .into_iter()
            .collect())
    }

    /// Forget a lead's WeCom link (call it when the contact is erased under PIPL: the sealed
    /// external user id goes with the record).
    pub(crate) async fn forget(&self, tenant: &TenantId, lead: &LeadId) -> Result<usize> {
        let found = self
            .links
            .lookup_all(tenant, "lead", &lead.to_string())
            .await?;
        let n = found.len();
        for v in found {
            self.links
                .delete(tenant, &v.value.key, Expect::Version(v.version))
                .await?;
        }
        Ok(n)
    }
}
