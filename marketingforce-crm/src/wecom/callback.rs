//! The callback endpoint: URL verification, signature check and decryption (WXBizMsgCrypt, in
//! core), the events of customer contact and customer groups, and their effect on the CRM (the
//! table is on [`WeCom::handle_callback`]).

use marketingforce_core::IdempotencyKey;
use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use marketingforce_core::adapters::wechat::xml::XmlElement;
use marketingforce_core::adapters::wechat::CallbackQuery;

use super::connector::WeCom;
use super::links::CallbackSeen;
use super::model::{AddWay, ContactRecord, ExternalContact, ExternalUserId, FollowInfo};
use super::sync::{checked_id, Captured};
use crate::error::{CrmError, Result};
use crate::ids::{GroupId, LeadId};
use crate::profile::{BehaviourEvent, BehaviourKind};

/// A change to an external contact (`ChangeType` of `change_external_contact`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactChange {
    /// `add_external_contact`.
    Added,
    /// `add_half_external_contact` (added, the customer has not accepted yet).
    HalfAdded,
    /// `edit_external_contact`.
    Edited,
    /// `del_external_contact`: the staff member removed the customer.
    RemovedByStaff,
    /// `del_follow_user`: the customer removed the staff member.
    RemovedByCustomer,
    /// `transfer_fail`.
    TransferFailed,
    /// A change type this SDK does not know, as sent.
    Unknown(String),
}

impl ContactChange {
    fn parse(s: &str) -> ContactChange {
        match s {
            "add_external_contact" => ContactChange::Added,
            "add_half_external_contact" => ContactChange::HalfAdded,
            "edit_external_contact" => ContactChange::Edited,
            "del_external_contact" => ContactChange::RemovedByStaff,
            "del_follow_user" => ContactChange::RemovedByCustomer,
            "transfer_fail" => ContactChange::TransferFailed,
            other => ContactChange::Unknown(other.to_string()),
        }
    }
}

/// A change to a customer group (`change_external_chat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatChange {
    /// `create`.
    Created,
    /// `update` with its `UpdateDetail`.
    Updated(ChatUpdate),
    /// `dismiss`.
    Dismissed,
    /// A change type this SDK does not know, as sent.
    Unknown(String),
}

/// What changed in an updated group (`UpdateDetail`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatUpdate {
    /// `add_member`.
    MembersJoined,
    /// `del_member`.
    MembersLeft,
    /// `change_owner`.
    OwnerChanged,
    /// `change_name`.
    Renamed,
    /// `change_notice`.
    NoticeChanged,
    /// A detail this SDK does not know, as sent.
    Unknown(String),
}

/// What a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackOutcome {
    /// A contact event, applied to the lead.
    Contact {
        /// The change.
        change: ContactChange,
        /// The staff member's WeCom userid.
        follow_user: String,
        /// The lead concerned (None when the contact was never captured).
        lead: Option<LeadId>,
        /// Captures made (add and edit events).
        captured: Vec<Captured>,
    },
    /// A group event, applied.
    Chat {
        /// The change.
        change: ChatChange,
        /// The CRM group id.
        group: GroupId,
        /// Leads that got a `group_joined` / `group_left` event.
        leads: Vec<LeadId>,
    },
    /// The same callback was handled before: nothing done.
    Duplicate,
    /// A message or event the connector does not act on (reported: an unknown change type
    /// shows here with its value).
    Ignored {
        /// What it was (`event=change_external_tag`, `change_type=…`).
        what: String,
    },
}

fn text<'a>(m: &'a XmlElement, name: &str) -> Option<&'a str> {
    m.text_of(name).filter(|t| !t.is_empty())
}

fn required<'a>(m: &'a XmlElement, name: &str) -> Result<&'a str> {
    text(m, name).ok_or_else(|| CrmError::validation(name, "missing from the event"))
}

fn at(create_time: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(create_time, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn event(
    lead: LeadId,
    kind: BehaviourKind,
    created: i64,
    topic: &str,
    content: String,
) -> BehaviourEvent {
    BehaviourEvent {
        lead,
        kind,
        at: at(created),
        topic: Some(topic.to_string()),
        content: Some(content),
    }
}

impl WeCom {
    fn crypto(&self) -> Result<&marketingforce_core::adapters::wechat::CallbackCrypto> {
        self.crypto
            .as_ref()
            .ok_or_else(|| CrmError::PlatformConfiguration {
                platform: "wecom".into(),
                setting: "callback".into(),
                reason: "the app has no callback_token and encoding_aes_key configured".into(),
            })
    }

    /// Answer the URL verification WeCom makes when the callback URL is saved (`GET` with
    /// `msg_signature`, `timestamp`, `nonce`, `echostr`): the decrypted `echostr` to respond
    /// with.
    ///
    /// # Errors
    /// A validation error on a missing parameter, a wrong `msg_signature`, or an `echostr`
    /// that does not decrypt for this corp.
    pub fn verify_url(&self, query: &BTreeMap<String, String>) -> Result<String> {
        let echostr = query
            .get("echostr")
            .filter(|e| !e.is_empty())
            .ok_or_else(|| CrmError::validation("echostr", "missing from the callback query"))?;
        Ok(self
            .crypto()?
            .verify_url(&CallbackQuery::from_query(query)?, echostr)?)
    }

    /// Handle a callback (`POST` with the query WeCom added and the XML body): verify, decrypt,
    /// and apply the event to the CRM. Respond `success` once it returns `Ok`; on `Err` respond
    /// with an error status and WeCom delivers again.
    ///
    /// | event | `ChangeType` | effect |
    /// |---|---|---|
    /// | `change_external_contact` | `add_external_contact`, `add_half_external_contact` | the contact is fetched and captured (source and campaign from its `State`), the follow user made owner, a `contact_added` behaviour event recorded |
    /// | | `edit_external_contact` | the contact is fetched and captured again (new values join the lead) |
    /// | | `del_follow_user` (the customer removed the staff member), `del_external_contact` (the staff member removed the customer) | a `contact_removed` behaviour event; the follow user leaves the link |
    /// | `change_external_chat` | `create`, `update` (`UpdateDetail` `add_member` / `del_member`), `dismiss` | the group link is recorded; each member with a known lead gets `group_joined` / `group_left` |
    /// | anything else | | acknowledged and reported as ignored |
    ///
    /// Every effect is idempotent under a key derived from the callback's identity (ExternalUserID
    /// or ChatId, ChangeType, UserID, CreateTime) — as a keyed digest, since it holds an external
    /// user id — and a handled callback is remembered, so a duplicated delivery is a no-op
    /// reported as [`CallbackOutcome::Duplicate`].
    ///
    /// # Errors
    /// Validation errors on a bad signature (`msg_signature`), an undecryptable or malformed
    /// message (`encrypt`, `xml`, a missing event field); platform, CRM and storage errors.
    pub async fn handle_callback(
        &self,
        query: &BTreeMap<String, String>,
        body: &str,
    ) -> Result<CallbackOutcome> {
        let message = self
            .crypto()?
            .open_envelope(&CallbackQuery::from_query(query)?, body)?;
        let event = text(&message, "Event").unwrap_or_default().to_string();
        match event.as_str() {
            "change_external_contact" => self.contact_event(&message).await,
            "change_external_chat" => self.chat_event(&message).await,
            "" => Ok(CallbackOutcome::Ignored {
                what: format!("msg_type={}", text(&message, "MsgType").unwrap_or("(none)")),
            }),
            other => Ok(CallbackOutcome::Ignored {
                what: format!("event={other}"),
            }),
        }
    }

    /// Whether a callback with this identity was handled; the key to remember it under.
    async fn seen_key(&self, parts: &[&str]) -> Result<(bool, String)> {
        let key = format!("cb:{}", self.seam.digest(self.tenant(), parts)?);
        Ok((self.seen.get(self.tenant(), &key).await?.is_some(), key))
    }

    async fn remember(&self, key: String, kind: &str) -> Result<()> {
        let seen = CallbackSeen {
            key,
            kind: kind.to_string(),
            at: self.client.clock().now(),
        };
        match self.seen.insert(self.tenant(), &seen).await {
            Ok(_) | Err(marketingforce_core::Error::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn contact_event(&self, m: &XmlElement) -> Result<CallbackOutcome> {
        let change_raw = required(m, "ChangeType")?;
        let change = ContactChange::parse(change_raw);
        if let ContactChange::Unknown(c) = &change {
            return Ok(CallbackOutcome::Ignored {
                what: format!("change_type={c}"),
            });
        }
        if change == ContactChange::TransferFailed {
            return Ok(CallbackOutcome::Ignored {
                what: "change_type=transfer_fail".into(),
            });
        }
        let userid = required(m, "UserID")?.to_string();
        let ext = checked_id(required(m, "ExternalUserID")?)?.to_string();
        let created: i64 = required(m, "CreateTime")?
            .parse()
            .map_err(|_| CrmError::validation("CreateTime", "is not an integer"))?;
        let (dup, seen_key) = self
            .seen_key(&[&ext, change_raw, &userid, &created.to_string()])
            .await?;
        if dup {
            return Ok(CallbackOutcome::Duplicate);
        }
        let idem = seen_key.trim_start_matches("cb:").to_string();
        let tenant = self.tenant();
        let (lead, captured) = match change {
            ContactChange::Added | ContactChange::HalfAdded | ContactChange::Edited => {
                let state = text(m, "State").map(str::to_string);
                let record = self
                    .fetched_or_minimal(&ext, &userid, state, created)
                    .await?;
                let captured = self.seam.import(tenant, &record).await?;
                let lead = captured.last().map(|c| c.outcome.lead());
                if let (Some(lead), true) = (lead, change != ContactChange::Edited) {
                    self.seam
                        .behaviour(
                            tenant,
                            event(
                                lead,
                                BehaviourKind::ContactAdded,
                                created,
                                "wecom",
                                format!("follow:{userid}"),
                            ),
                            &IdempotencyKey::new(format!("wecom:added:{idem}"))?,
                        )
                        .await?;
                }
                (lead, captured)
            }
            _ => {
                let lead = self.seam.unfollow(tenant, &ext, &userid).await?;
                if let Some(lead) = lead {
                    let by = if change == ContactChange::RemovedByCustomer {
                        "by_customer"
                    } else {
                        "by_staff"
                    };
                    self.seam
                        .behaviour(
                            tenant,
                            event(
                                lead,
                                BehaviourKind::ContactRemoved,
                                created,
                                "wecom",
                                format!("{by}:{userid}"),
                            ),
                            &IdempotencyKey::new(format!("wecom:removed:{idem}"))?,
                        )
                        .await?;
                }
                (lead, Vec::new())
            }
        };
        self.remember(seen_key, "contact").await?;
        Ok(CallbackOutcome::Contact {
            change,
            follow_user: userid,
            lead,
            captured,
        })
    }

    /// The contact as `externalcontact/get` has it, restricted to the follow user of the
    /// event; when the platform cannot answer for it (84061, a half-added contact), what the
    /// event itself says.
    async fn fetched_or_minimal(
        &self,
        ext: &str,
        userid: &str,
        state: Option<String>,
        created: i64,
    ) -> Result<ContactRecord> {
        let minimal_follow = || FollowInfo {
            userid: userid.to_string(),
            remark: None,
            createtime: created,
            tags: Vec::new(),
            tag_id: Vec::new(),
            remark_mobiles: Vec::new(),
            add_way: AddWay::Unspecified,
            state: state.clone(),
        };
        match self.contact(&ExternalUserId(ext.to_string())).await {
            Ok(mut r) => {
                r.follow.retain(|f| f.userid == userid);
                if r.follow.is_empty() {
                    r.follow.push(minimal_follow());
                }
                Ok(r)
            }
            Err(CrmError::PlatformApi { code: 84061, .. }) => Ok(ContactRecord {
                contact: ExternalContact {
                    external_userid: ExternalUserId(ext.to_string()),
                    name: None,
                    contact_type: super::model::ContactType::Unknown(0),
                    corp_name: None,
                    position: None,
                },
                follow: vec![minimal_follow()],
            }),
            Err(e) => Err(e),
        }
    }

    async fn chat_event(&self, m: &XmlElement) -> Result<CallbackOutcome> {
        let chat_id = required(m, "ChatId")?.to_string();
        let change_raw = required(m, "ChangeType")?;
        let detail = text(m, "UpdateDetail").unwrap_or_default();
        let change = match change_raw {
            "create" => ChatChange::Created,
            "dismiss" => ChatChange::Dismissed,
            "update" => ChatChange::Updated(match detail {
                "add_member" => ChatUpdate::MembersJoined,
                "del_member" => ChatUpdate::MembersLeft,
                "change_owner" => ChatUpdate::OwnerChanged,
                "change_name" => ChatUpdate::Renamed,
                "change_notice" => ChatUpdate::NoticeChanged,
                other => ChatUpdate::Unknown(other.to_string()),
            }),
            other => ChatChange::Unknown(other.to_string()),
        };
        if let ChatChange::Unknown(c) = &change {
            return Ok(CallbackOutcome::Ignored {
                what: format!("chat change_type={c}"),
            });
        }
        let created: i64 = required(m, "CreateTime")?
            .parse()
            .map_err(|_| CrmError::validation("CreateTime", "is not an integer"))?;
        let members: Vec<String> = m
            .child("MemChangeList")
            .map(|l| {
                l.children_named("Item")
                    .map(|i| i.text.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let member_key = members.join(",");
        let (dup, seen_key) = self
            .seen_key(&[
                &chat_id,
                change_raw,
                detail,
                &created.to_string(),
                &member_key,
            ])
            .await?;
        if dup {
            return Ok(CallbackOutcome::Duplicate);
        }
        let idem = seen_key.trim_start_matches("cb:").to_string();
        let mut link = self.group_link(&chat_id).await?;
        if change == ChatChange::Dismissed && !link.dismissed {
            link.dismissed = true;
            link.updated_at = self.client.clock().now();
            self.groups.upsert(self.tenant(), &link).await?;
        }
        let kind = match &change {
            ChatChange::Updated(ChatUpdate::MembersJoined) => Some(BehaviourKind::GroupJoined),
            ChatChange::Updated(ChatUpdate::MembersLeft) => Some(BehaviourKind::GroupLeft),
            _ => None,
        };
        let mut leads = Vec::new();
        if let Some(kind) = kind {
            for (i, member) in members.iter().enumerate() {
                let lead = match self.seam.lead_of(self.tenant(), member).await {
                    Ok(Some(lead)) => lead,
                    // Staff members, contacts never captured, and a malformed id or a lead
                    // since erased (refusals a retry cannot change) have no lead to credit.
                    Ok(None) => continue,
                    Err(e) if !e.is_retryable() => continue,
                    // The store did not answer: the callback fails and is not remembered, so
                    // its redelivery credits the member (it was skipped for good).
                    Err(e) => return Err(e),
                };
                self.seam
                    .behaviour(
                        self.tenant(),
                        event(
                            lead,
                            kind,
                            created,
                            "wecom_group",
                            format!("chat:{chat_id}"),
                        ),
                        &IdempotencyKey::new(format!("wecom:chat:{idem}:{i}"))?,
                    )
                    .await?;
                leads.push(lead);
            }
        }
        self.remember(seen_key, "chat").await?;
        Ok(CallbackOutcome::Chat {
            change,
            group: link.group,
            leads,
        })
    }
}
