//! Sending messages to leads and customer groups: the [`MessageSender`] seam that SOP steps
//! and the conversation library send through, a [`SimulatedSender`] that records what would
//! be sent, and the helpers that wire SOP tasks and library items to a sender.
//!
//! The real sender is WeCom's mass-message task (`wecom::WeComSender`, feature `wecom`): the
//! platform puts the message in the salesperson's WeCom client, who confirms the send. Which
//! sender a service uses is a matter of configuration; the code that sends is the same.
//!
//! ```
//! use marketingforce_core::IdempotencyKey;
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_crm::ids::{LeadId, UserId};
//! use marketingforce_crm::outreach::{MessageSender, OutgoingMessage, Recipients, SimulatedSender};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let sender = SimulatedSender::new();
//! let (tenant, lead, rep) = (TenantId::new(), LeadId::new(), UserId::new());
//! let msg = OutgoingMessage::text("您好，这是 XK-850 的选型资料");
//! let r = sender.send(&tenant, &rep, &Recipients::Leads(vec![lead]), &msg, &IdempotencyKey::from_static("sop-task-1")).await.unwrap();
//! assert_eq!(r.accepted, 1);
//! // Same key: the first receipt, nothing sent twice.
//! assert_eq!(sender.send(&tenant, &rep, &Recipients::Leads(vec![lead]), &msg, &IdempotencyKey::from_static("sop-task-1")).await.unwrap(), r);
//! assert_eq!(sender.sent(&tenant).len(), 1);
//! # });
//! ```

use marketingforce_core::IdempotencyKey;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use marketingforce_core::storage::{Collection, Fingerprint};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::ids::{GroupId, LeadId, MaterialId, UserId};
use crate::library::{ItemKind, Library, LibraryItem};
use crate::service::Crm;
use crate::sop::{SopTask, SopTemplate, StepAction, Subject};

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipients {
    /// Leads (one-to-one messages to each).
    Leads(Vec<LeadId>),
    /// Customer group chats.
    Groups(Vec<GroupId>),
}

impl Recipients {
    /// How many recipients.
    pub fn len(&self) -> usize {
        match self {
            Recipients::Leads(v) => v.len(),
            Recipients::Groups(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A link card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCard {
    /// Title.
    pub title: String,
    /// The URL opened.
    pub url: String,
    /// A line of description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A cover image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// What to send: text and/or link cards and image URLs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OutgoingMessage {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Link cards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkCard>,
    /// Image URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_urls: Vec<String>,
}

impl OutgoingMessage {
    /// A text message.
    pub fn text(text: impl Into<String>) -> OutgoingMessage {
        OutgoingMessage {
            text: Some(text.into()),
            ..OutgoingMessage::default()
        }
    }

    /// Check the message.
    ///
    /// # Errors
    /// A validation error naming the field: nothing to send, text over 4,000 bytes, more than
    /// 9 attachments, a link without an http(s) URL.
    pub fn validate(&self) -> Result<()> {
        let text = self.text.as_deref().map(str::trim).unwrap_or("");
        if text.is_empty() && self.links.is_empty() && self.image_urls.is_empty() {
            return Err(CrmError::validation("message", "has nothing to send"));
        }
        if text.len() > 4000 {
            return Err(CrmError::validation(
                "message.text",
                "must be at most 4,000 bytes",
            ));
        }
        if self.links.len() + self.image_urls.len() > 9 {
            return Err(CrmError::validation(
                "message.links",
                "at most 9 attachments (links and images together)",
            ));
        }
        for (i, l) in self.links.iter().enumerate() {
            if !(l.url.starts_with("https://") || l.url.starts_with("http://"))
                || l.title.trim().is_empty()
            {
                return Err(CrmError::validation(
                    format!("message.links[{i}]"),
                    "needs a title and an http(s) URL",
                ));
            }
        }
        for (i, u) in self.image_urls.iter().enumerate() {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(CrmError::validation(
                    format!("message.image_urls[{i}]"),
                    "must be an http(s) URL",
                ));
            }
        }
        Ok(())
    }
}

/// A recipient the platform did not take, and why (no personal data: ids only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// The lead or group id.
    pub recipient: String,
    /// Why.
    pub reason: String,
}

/// What a send did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReceipt {
    /// The sender's name (`simulated`, `wecom`).
    pub sender: String,
    /// The platform's task id(s).
    pub task_ids: Vec<String>,
    /// Recipients accepted.
    pub accepted: usize,
    /// Recipients refused or unreachable, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refused>,
}

/// Sends messages to leads and groups on behalf of a staff member. Object-safe.
#[async_trait]
pub trait MessageSender: Send + Sync + fmt::Debug {
    /// A short name (`simulated`, `wecom`).
    fn name(&self) -> &str;

    /// Send `message` from `from` to `to`. Retrying with the same `idempotency_key` returns the
    /// first receipt and sends nothing again.
    ///
    /// # Errors
    /// Validation errors on the message; platform errors. When whether the platform took the
    /// message is unknown, the error says so and the key stays safe to retry.
    async fn send(
        &self,
        tenant: &TenantId,
        from: &UserId,
        to: &Recipients,
        message: &OutgoingMessage,
        idempotency_key: &IdempotencyKey,
    ) -> Result<SendReceipt>;
}

/// One message a [`SimulatedSender`] took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Who sent it.
    pub from: UserId,
    /// To whom.
    pub to: Recipients,
    /// What.
    pub message: OutgoingMessage,
}

/// A sender that sends nothing and remembers what it was asked to send (deterministic; for
/// tests, demos and the simulated configuration).
#[derive(Debug, Default)]
pub struct SimulatedSender {
    sent: Mutex<HashMap<TenantId, Vec<SentMessage>>>,
    receipts: Mutex<HashMap<(TenantId, String), (String, SendReceipt)>>,
}

impl SimulatedSender {
    /// An empty sender.
    pub fn new() -> SimulatedSender {
        SimulatedSender::default()
    }

    /// What was sent for `tenant`, in order.
    pub fn sent(&self, tenant: &TenantId) -> Vec<SentMessage> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait]
impl MessageSender for SimulatedSender {
    fn name(&self) -> &str {
        "simulated"
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
        message.validate()?;
        let fingerprint = Fingerprint::of(&(from, to, message))?.as_str().to_string();
        let mut receipts = self.receipts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((fp, r)) = receipts.get(&(*tenant, idempotency_key.to_string())) {
            if *fp != fingerprint {
                return Err(marketingforce_core::Error::IdempotencyMismatch {
                    key: idempotency_key.into(),
                }
                .into());
            }
            return Ok(r.clone());
        }
        let n = self.sent(tenant).len() + 1;
        let receipt = SendReceipt {
            sender: "simulated".into(),
            task_ids: vec![format!("sim-{n}")],
            accepted: to.len(),
            refused: Vec::new(),
        };
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(*tenant)
            .or_default()
            .push(SentMessage {
                from: *from,
                to: to.clone(),
                message: message.clone(),
            });
        receipts.insert(
            (*tenant, idempotency_key.to_string()),
            (fingerprint, receipt.clone()),
        );
        Ok(receipt)
    }
}

/// The message of an SOP task: a `Message` step's text; for a `SendMaterial` step, the
/// material as [`library_message`] builds it (pass the item); a community SOP task's title is
/// its message text. `None` for steps that are not messages (calls, visits).
pub fn sop_message(
    template: Option<&SopTemplate>,
    task: &SopTask,
    material: Option<&LibraryItem>,
) -> Option<OutgoingMessage> {
    match (&task.subject, template.and_then(|t| t.steps.get(task.step))) {
        (Subject::Group(_), _) => Some(OutgoingMessage::text(task.title.clone())),
        (Subject::Lead(_), Some(step)) => match &step.action {
            StepAction::Message { text } => Some(OutgoingMessage::text(text.clone())),
            StepAction::SendMaterial { .. } => material.map(library_message),
            _ => None,
        },
        (Subject::Lead(_), None) => None,
    }
}

/// Send an SOP task's message through `sender`, from the task's assignee to its lead or group.
///
/// # Errors
/// As [`MessageSender::send`].
pub async fn send_sop_task(
    sender: &dyn MessageSender,
    tenant: &TenantId,
    task: &SopTask,
    message: &OutgoingMessage,
    idempotency_key: &IdempotencyKey,
) -> Result<SendReceipt> {
    let to = match task.subject {
        Subject::Lead(l) => Recipients::Leads(vec![l]),
        Subject::Group(g) => Recipients::Groups(vec![g]),
    };
    sender
        .send(tenant, &task.assignee, &to, message, idempotency_key)
        .await
}

/// A library item as a message: a phrase as text, any other material as a link card to its
/// URL.
pub fn library_message(item: &LibraryItem) -> OutgoingMessage {
    match item.kind {
        ItemKind::Phrase => OutgoingMessage::text(item.body.clone()),
        _ => OutgoingMessage {
            links: vec![LinkCard {
                title: item.title.clone(),
                url: item.body.clone(),
                description: None,
                image_url: None,
            }],
            ..OutgoingMessage::default()
        },
    }
}

/// The library's one-click send, through a real sender: the salesperson must be allowed to
/// see the lead; the item is sent through `sender` and then recorded by
/// [`Library::send`] (a `material_received` behaviour event). Returns the receipt and the
/// lead's new score. Both steps are idempotent under `idempotency_key`, so a retry after a
/// failure in between completes without sending twice.
///
/// # Errors
/// Not found; [`CrmError::AccessDenied`]; the sender's errors; storage errors.
#[allow(clippy::too_many_arguments)]
pub async fn send_library_item(
    library: &Library,
    crm: &Crm,
    sender: &dyn MessageSender,
    tenant: &TenantId,
    item: &MaterialId,
    lead: &LeadId,
    salesperson: &UserId,
    idempotency_key: &IdempotencyKey,
) -> Result<(SendReceipt, i64)> {
    // The two steps' keys: `{key}:send` and `{key}:record` (the pre-0.2 form, kept so
    // stored claims answer their retries), so the key may have at most 121 bytes here.
    let (send_key, record_key) = (
        IdempotencyKey::new(format!("{idempotency_key}:send"))?,
        IdempotencyKey::new(format!("{idempotency_key}:record"))?,
    );
    let l = crm.lead(tenant, lead).await?;
    crm.authorize(tenant, salesperson, &l).await?;
    let it = Collection::<LibraryItem>::new(crm.store().clone())
        .require(tenant, &item.to_string())
        .await?
        .value;
    let receipt = sender
        .send(
            tenant,
            salesperson,
            &Recipients::Leads(vec![*lead]),
            &library_message(&it),
            &send_key,
        )
        .await?;
    let score = library
        .send(crm, tenant, item, lead, salesperson, &record_key)
        .await?;
    Ok((receipt, score))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::ids::{SopId, TaskId};
    use crate::sop::{SopKind, SopStep, TaskStatus, Trigger};

    fn task(subject: Subject, step: usize, title: &str) -> SopTask {
        let now = Utc::now();
        SopTask {
            id: TaskId::new(),
            sop: SopId::new(),
            step,
            subject,
            assignee: UserId::new(),
            title: title.into(),
            due_at: now,
            remind_at: now,
            escalate_at: None,
            status: TaskStatus::Open,
            escalated_to: None,
        }
    }

    #[tokio::test]
    async fn sop_tasks_send_their_step_message_from_the_assignee() {
        let step = |action| SopStep {
            title: "跟进".into(),
            offset_hours: 0,
            action,
            remind_before_minutes: 0,
            escalate_after_hours: None,
        };
        let template = SopTemplate {
            id: SopId::new(),
            name: "新线索".into(),
            kind: SopKind::Customer,
            trigger: Trigger::Assigned,
            steps: vec![
                step(StepAction::Call),
                step(StepAction::Message {
                    text: "您好，资料已发送".into(),
                }),
            ],
        };
        let lead = LeadId::new();
        let call = task(Subject::Lead(lead), 0, "首次电话");
        assert_eq!(sop_message(Some(&template), &call, None), None);
        let message_task = task(Subject::Lead(lead), 1, "发资料");
        let msg = sop_message(Some(&template), &message_task, None).unwrap();
        assert_eq!(msg.text.as_deref(), Some("您好，资料已发送"));
        let sender = SimulatedSender::new();
        let tenant = TenantId::new();
        send_sop_task(
            &sender,
            &tenant,
            &message_task,
            &msg,
            &IdempotencyKey::from_static("task-1"),
        )
        .await
        .unwrap();
        let sent = sender.sent(&tenant);
        assert_eq!(sent[0].from, message_task.assignee);
        assert_eq!(sent[0].to, Recipients::Leads(vec![lead]));
        // A community task's title is its message, sent to the group.
        let group = GroupId::new();
        let community = task(Subject::Group(group), 0, "今晚八点直播");
        let m = sop_message(None, &community, None).unwrap();
        send_sop_task(
            &sender,
            &tenant,
            &community,
            &m,
            &IdempotencyKey::from_static("task-2"),
        )
        .await
        .unwrap();
        assert_eq!(sender.sent(&tenant)[1].to, Recipients::Groups(vec![group]));
        // Nothing to send is refused.
        assert!(OutgoingMessage::default().validate().is_err());
    }
}
