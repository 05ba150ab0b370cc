//! Mass-message tasks (`add_msg_template`) to contacts and customer groups, and [`WeCom`] as
//! a [`MessageSender`]: SOP steps and the conversation library send through it as through the
//! simulated sender. The platform places the message in the sender's WeCom client, where they
//! confirm it.

use marketingforce_core::IdempotencyKey;
use std::collections::HashMap;

use async_trait::async_trait;
use marketingforce_core::storage::{Expect, Fingerprint};
use marketingforce_core::tenant::{Tenant, TenantId};
use serde::Deserialize;
use serde_json::{json, Value};

use super::connector::WeCom;
use super::links::{SendRecord, SendState};
use super::model::ExternalUserId;
use crate::error::{CrmError, Result};
use crate::ids::UserId;
use crate::outreach::{MessageSender, OutgoingMessage, Recipients, Refused, SendReceipt};

/// Contacts per `add_msg_template` call (the platform's limit).
pub const MAX_CONTACTS_PER_TASK: usize = 10_000;

/// Who a mass message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MassTarget {
    /// External contacts (`chat_type` `single`).
    Contacts(Vec<ExternalUserId>),
    /// Customer group chats (`chat_type` `group`).
    Groups(Vec<String>),
}

/// What `add_msg_template` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassMessageResult {
    /// The task id.
    pub msgid: String,
    /// Contacts the platform could not send to (personal data: do not log).
    pub fail_list: Vec<ExternalUserId>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    msgid: String,
    #[serde(default)]
    fail_list: Vec<ExternalUserId>,
}

fn attachments(message: &OutgoingMessage) -> Vec<Value> {
    let mut out = Vec::new();
    for l in &message.links {
        let mut link = json!({ "title": l.title, "url": l.url });
        if let Some(d) = &l.description {
            link["desc"] = json!(d);
        }
        if let Some(p) = &l.image_url {
            link["picurl"] = json!(p);
        }
        out.push(json!({ "msgtype": "link", "link": link }));
    }
    for u in &message.image_urls {
        out.push(json!({ "msgtype": "image", "image": { "pic_url": u } }));
    }
    out
}

/// Whether an error is a definite refusal (nothing was sent).
fn is_definite(e: &CrmError) -> bool {
    matches!(
        e,
        CrmError::PlatformApi { .. }
            | CrmError::PlatformConfiguration { .. }
            | CrmError::RateLimited { .. }
            | CrmError::Core(marketingforce_core::Error::Validation { .. })
    )
}

impl WeCom {
    /// Create a mass-message task (`add_msg_template`) from staff member `sender` (WeCom
    /// userid).
    ///
    /// # Errors
    /// Validation errors on the message or the target (empty, or over
    /// [`MAX_CONTACTS_PER_TASK`]); platform and transport errors.
    pub async fn add_msg_template(
        &self,
        sender: &str,
        target: &MassTarget,
        message: &OutgoingMessage,
    ) -> Result<MassMessageResult> {
        message.validate()?;
        let mut body = match target {
            MassTarget::Contacts(ids) => {
                if ids.is_empty() || ids.len() > MAX_CONTACTS_PER_TASK {
                    return Err(CrmError::validation(
                        "target",
                        format!("must name 1-{MAX_CONTACTS_PER_TASK} contacts"),
                    ));
                }
                let ids: Vec<&str> = ids.iter().map(ExternalUserId::expose).collect();
                json!({ "chat_type": "single", "external_userid": ids })
            }
            MassTarget::Groups(chats) => {
                if chats.is_empty() || chats.len() > 2000 {
                    return Err(CrmError::validation(
                        "target",
                        "must name 1-2000 group chats",
                    ));
                }
                json!({ "chat_type": "group", "chat_id_list": chats })
            }
        };
        body["sender"] = json!(sender);
        body["allow_select"] = json!(false);
        if let Some(t) = message.text.as_deref().filter(|t| !t.trim().is_empty()) {
            body["text"] = json!({ "content": t });
        }
        let att = attachments(message);
        if !att.is_empty() {
            body["attachments"] = Value::Array(att);
        }
        let a: Answer = self
            .client
            .post_once("cgi-bin/externalcontact/add_msg_template", &body)
            .await?;
        Ok(MassMessageResult {
            msgid: a.msgid,
            fail_list: a.fail_list,
        })
    }

    fn unknown_outcome(&self) -> CrmError {
        marketingforce_core::Error::backend_message(
            "wecom",
            false,
            "outcome unknown: add_msg_template was sent without a clear answer, so the task may \
             exist; check 客户联系 → 群发记录 in the admin console before sending again under a \
             new key",
        )
        .into()
    }
}

#[async_trait]
impl MessageSender for WeCom {
    fn name(&self) -> &str {
        "wecom"
    }

    async fn send(
        &self,
        tenant: &TenantId,
        from: &UserId,
        to: &Recipients,
        message: &OutgoingMessage,
        idempotency_key: &IdempotencyKey,
    ) -> Result<SendReceipt> {
        let idempotency_key = idempotency_key.as_str();
        Tenant::ensure_same(tenant, self.tenant(), "the WeCom connector")?;
        message.validate()?;
        let sender = self
            .seam
            .directory()
            .wecom_of(tenant, from)
            .ok_or_else(|| {
                CrmError::validation(
                    "from",
                    format!("{from} has no WeCom userid in the staff directory"),
                )
            })?;
        let fingerprint = Fingerprint::of(&(from, to, message))?.as_str().to_string();
        let key = Fingerprint::of_bytes(format!("send:{idempotency_key}").as_bytes())
            .as_str()
            .to_string();
        if let Some(prev) = self.sends.get(tenant, &key).await? {
            if prev.value.fingerprint != fingerprint {
                return Err(marketingforce_core::Error::IdempotencyMismatch {
                    key: idempotency_key.into(),
                }
                .into());
            }
            return match prev.value.state {
                SendState::Done { receipt } => Ok(receipt),
                SendState::Unanswered => Err(self.unknown_outcome()),
            };
        }
        // Resolve recipients to platform ids.
        let mut refused = Vec::new();
        let mut by_ext: HashMap<String, String> = HashMap::new();
        let target = match to {
            Recipients::Leads(leads) => {
                let mut ids = Vec::new();
                for lead in leads {
                    match self.seam.contact_of(tenant, lead).await? {
                        Some((ext, follow)) if follow.contains(&sender) => {
                            by_ext.insert(ext.clone(), lead.to_string());
                            ids.push(ExternalUserId(ext));
                        }
                        Some(_) => refused.push(Refused {
                            recipient: lead.to_string(),
                            reason: "the sender does not have this contact on WeCom".into(),
                        }),
                        None => refused.push(Refused {
                            recipient: lead.to_string(),
                            reason: "no WeCom contact for this lead".into(),
                        }),
                    }
                }
                MassTarget::Contacts(ids)
            }
            Recipients::Groups(groups) => {
                let mut chats = Vec::new();
                for g in groups {
                    match self.chat_of(g).await? {
                        Some(c) => chats.push(c),
                        None => refused.push(Refused {
                            recipient: g.to_string(),
                            reason: "not a synced WeCom group chat".into(),
                        }),
                    }
                }
                MassTarget::Groups(chats)
            }
        };
        let empty = match &target {
            MassTarget::Contacts(v) => v.is_empty(),
            MassTarget::Groups(v) => v.is_empty(),
        };
        let now = self.client.clock().now();
        if empty {
            let receipt = SendReceipt {
                sender: "wecom".into(),
                task_ids: Vec::new(),
                accepted: 0,
                refused,
            };
            let record = SendRecord {
                key,
                fingerprint,
                state: SendState::Done {
                    receipt: receipt.clone(),
                },
                updated_at: now,
            };
            self.sends.insert(tenant, &record).await?;
            return Ok(receipt);
        }
        // The access token first: failing to get one sends nothing, and is answered as such
        // (the key stays free), not as an unknown outcome.
        self.client.ready().await?;
        // Recorded before the call: a crash in between leaves an honest "unknown".
        let mut record = SendRecord {
            key: key.clone(),
            fingerprint,
            state: SendState::Unanswered,
            updated_at: now,
        };
        let version = match self.sends.insert(tenant, &record).await {
            Ok(v) => v,
            Err(marketingforce_core::Error::Conflict { .. }) => {
                // A concurrent send under the same key: answer as it does.
                let prev = self.sends.require(tenant, &key).await?;
                return match prev.value.state {
                    SendState::Done { receipt } => Ok(receipt),
                    SendState::Unanswered => Err(self.unknown_outcome()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        match self.add_msg_template(&sender, &target, message).await {
            Ok(result) => {
                let failed: Vec<Refused> = result
                    .fail_list
                    .iter()
                    .map(|ext| Refused {
                        recipient: by_ext
                            .get(ext.expose())
                            .cloned()
                            .unwrap_or_else(|| "(unknown contact)".into()),
                        reason: "the platform could not send to this contact".into(),
                    })
                    .collect();
                // Saturating: a platform answer listing more failures than targets is not a
                // reason to panic.
                let accepted = match &target {
                    MassTarget::Contacts(v) => v.len(),
                    MassTarget::Groups(v) => v.len(),
                }
                .saturating_sub(failed.len());
                refused.extend(failed);
                let receipt = SendReceipt {
                    sender: "wecom".into(),
                    task_ids: vec![result.msgid],
                    accepted,
                    refused,
                };
                record.state = SendState::Done {
                    receipt: receipt.clone(),
                };
                record.updated_at = self.client.clock().now();
                self.sends.update(tenant, &record, version).await?;
                Ok(receipt)
            }
            Err(e) if is_definite(&e) => {
                // Refused: nothing was sent; the key may be used again.
                self.sends
                    .delete(tenant, &key, Expect::Version(version))
                    .await?;
                Err(e)
            }
            Err(e) => Err(match self.unknown_outcome() {
                CrmError::Core(marketingforce_core::Error::Backend { message, .. }) => {
                    marketingforce_core::Error::backend_message(
                        "wecom",
                        false,
                        format!("{message} (the call failed: {e})"),
                    )
                    .into()
                }
                other => other,
            }),
        }
    }
}
