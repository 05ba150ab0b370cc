//! Customer group chats and their rosters: `groupchat/list` (paged by cursor) and
//! `groupchat/get`, kept as [`GroupLink`]s that give each chat the [`GroupId`] community SOPs
//! and senders use.

use marketingforce_core::storage::Expect;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::connector::WeCom;
use super::links::GroupLink;
use super::model::{GroupChatDetail, GroupChatRef, MemberType};
use crate::error::{CrmError, Result};
use crate::ids::GroupId;

/// Pages of `groupchat/list` read at most in one sync (a loop guard).
const MAX_PAGES: usize = 10_000;

#[derive(Deserialize)]
struct ListAnswer {
    #[serde(default)]
    group_chat_list: Vec<GroupChatRef>,
    #[serde(default)]
    next_cursor: String,
}

#[derive(Deserialize)]
struct GetAnswer {
    group_chat: GroupChatDetail,
}

/// One page of `groupchat/list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPage {
    /// Chats.
    pub chats: Vec<GroupChatRef>,
    /// The next page's cursor, if any.
    pub next_cursor: Option<String>,
}

/// A synced group chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncedGroup {
    /// The CRM group id.
    pub group: GroupId,
    /// The chat id.
    pub chat_id: String,
    /// Staff members in the chat.
    pub staff: usize,
    /// External members in the chat.
    pub external: usize,
    /// External members whose lead is known (captured from WeCom).
    pub known_leads: usize,
}

/// What a group sync did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct GroupSyncReport {
    /// Groups read.
    pub groups: Vec<SyncedGroup>,
    /// Values the platform sent that this SDK does not know (`status=7`).
    pub unknown_values: Vec<String>,
}

impl WeCom {
    /// One page of group chats owned by `owners` (all when empty).
    ///
    /// # Errors
    /// A validation error on `owners` (over 100); platform and transport errors.
    pub async fn group_chats_page(
        &self,
        owners: &[String],
        cursor: Option<&str>,
    ) -> Result<GroupPage> {
        if owners.len() > 100 {
            return Err(CrmError::validation(
                "owners",
                "at most 100 owners per call",
            ));
        }
        let mut body = json!({
            "status_filter": 0,
            "cursor": cursor.unwrap_or(""),
            "limit": self.client.config().page_size,
        });
        if !owners.is_empty() {
            body["owner_filter"] = json!({ "userid_list": owners });
        }
        let a: ListAnswer = self
            .client
            .post("cgi-bin/externalcontact/groupchat/list", &body)
            .await?;
        Ok(GroupPage {
            chats: a.group_chat_list,
            next_cursor: Some(a.next_cursor).filter(|c| !c.is_empty()),
        })
    }

    /// A group chat with its roster (`groupchat/get`).
    ///
    /// # Errors
    /// Platform and transport errors; a malformed answer.
    pub async fn group_chat(&self, chat_id: &str) -> Result<GroupChatDetail> {
        let a: GetAnswer = self
            .client
            .post(
                "cgi-bin/externalcontact/groupchat/get",
                &json!({ "chat_id": chat_id, "need_name": 0 }),
            )
            .await?;
        Ok(a.group_chat)
    }

    /// The CRM group id of a chat, creating the link on first sight.
    pub(crate) async fn group_link(&self, chat_id: &str) -> Result<GroupLink> {
        if let Some(v) = self.groups.get(self.tenant(), chat_id).await? {
            return Ok(v.value);
        }
        let link = GroupLink {
            chat_id: chat_id.to_string(),
            tenant: *self.tenant(),
            group: GroupId::generate(self.seam.crm().ids().as_ref()),
            name: String::new(),
            owner: String::new(),
            members: 0,
            dismissed: false,
            updated_at: self.client.clock().now(),
        };
        match self.groups.insert(self.tenant(), &link).await {
            Ok(_) => Ok(link),
            // Another process linked it first: its id wins.
            Err(marketingforce_core::Error::Conflict { .. }) => {
                Ok(self.groups.require(self.tenant(), chat_id).await?.value)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The chat id of a CRM group.
    pub(crate) async fn chat_of(&self, group: &GroupId) -> Result<Option<String>> {
        Ok(self
            .groups
            .lookup_all(self.tenant(), "group", &group.to_string())
            .await?
            .into_iter()
            .next()
            .map(|v| v.value.chat_id))
    }

    /// Read every group chat of `owners` (all when empty) with its roster, and record each as
    /// a [`GroupLink`].
    ///
    /// # Errors
    /// Platform, transport and storage errors.
    pub async fn sync_groups(&self, owners: &[String]) -> Result<GroupSyncReport> {
        let mut report = GroupSyncReport::default();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.group_chats_page(owners, cursor.as_deref()).await?;
            for chat in &page.chats {
                if chat.status.is_unknown() {
                    report
                        .unknown_values
                        .push(format!("status={}", chat.status.code()));
                }
                let detail = self.group_chat(&chat.chat_id).await?;
                let mut link = self.group_link(&chat.chat_id).await?;
                let (mut staff, mut external, mut known) = (0, 0, 0);
                for m in &detail.member_list {
                    match m.member_type {
                        MemberType::Staff => staff += 1,
                        MemberType::External => {
                            external += 1;
                            if self
                                .seam
                                .lead_of(self.tenant(), &m.userid)
                                .await
                                .ok()
                                .flatten()
                                .is_some()
                            {
                                known += 1;
                            }
                        }
                        MemberType::Unknown(c) => {
                            report.unknown_values.push(format!("member type={c}"))
                        }
                    }
                    if m.join_scene.is_unknown() {
                        report
                            .unknown_values
                            .push(format!("join_scene={}", m.join_scene.code()));
                    }
                }
                link.name = detail.name.clone();
                link.owner = detail.owner.clone();
                link.members = detail.member_list.len();
                link.updated_at = self.client.clock().now();
                self.groups
                    .store()
                    .commit(self.tenant(), {
                        let mut b = marketingforce_core::storage::Batch::new();
                        b.put_entity(self.tenant(), &link, Expect::Any)?;
                        b
                    })
                    .await?;
                report.groups.push(SyncedGroup {
                    group: link.group,
                    chat_id: chat.chat_id.clone(),
                    staff,
                    external,
                    known_leads: known,
                });
            }
            match page.next_cursor {
                Some(c) if Some(&c) != cursor.as_ref() => cursor = Some(c),
                _ => break,
            }
        }
        Ok(report)
    }
}
