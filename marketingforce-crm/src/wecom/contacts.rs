//! External contacts: `get_follow_user_list`, `externalcontact/list`, `externalcontact/get`
//! (follow users paged by cursor) and `batch/get_by_user` (contacts paged by cursor), and the
//! sync of every contact into CRM capture.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::connector::WeCom;
use super::model::{ContactRecord, ExternalContact, ExternalUserId, FollowInfo};
use super::sync::{safe_reason, OwnerResult};
use crate::error::{CrmError, Result};
use crate::service::CaptureOutcome;

/// Pages of `externalcontact/get`'s follow users read at most (500 per page).
const MAX_FOLLOW_PAGES: usize = 50;
/// Pages of `batch/get_by_user` read at most in one sync (a loop guard, not a quota).
const MAX_PAGES: usize = 10_000;

#[derive(Deserialize)]
struct FollowUsers {
    #[serde(default)]
    follow_user: Vec<String>,
}

#[derive(Deserialize)]
struct ContactIds {
    #[serde(default)]
    external_userid: Vec<ExternalUserId>,
}

#[derive(Deserialize)]
struct ContactAnswer {
    external_contact: ExternalContact,
    #[serde(default)]
    follow_user: Vec<FollowInfo>,
    #[serde(default)]
    next_cursor: String,
}

#[derive(Deserialize)]
struct BatchItem {
    external_contact: ExternalContact,
    follow_info: FollowInfo,
}

#[derive(Deserialize, Default)]
struct FailInfo {
    #[serde(default)]
    unlicensed_userid_list: Vec<String>,
}

#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    external_contact_list: Vec<BatchItem>,
    #[serde(default)]
    next_cursor: String,
    #[serde(default)]
    fail_info: Option<FailInfo>,
}

/// One page of `batch/get_by_user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactPage {
    /// Contacts, each with the follow user of this answer.
    pub contacts: Vec<ContactRecord>,
    /// The cursor of the next page, if any.
    pub next_cursor: Option<String>,
    /// Follow users the platform would not answer for (no licence): a partial failure.
    pub unlicensed: Vec<String>,
}

/// A contact that could not be synced (no personal data: its position and the reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncFailure {
    /// Page (1-based) and position in the page (1-based).
    pub page: usize,
    /// Position in the page.
    pub position: usize,
    /// The follow user of the entry.
    pub follow_user: String,
    /// Why.
    pub reason: String,
}

/// What a contact sync did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SyncReport {
    /// Pages read.
    pub pages: usize,
    /// Follow relations read.
    pub relations: usize,
    /// New leads.
    pub created: usize,
    /// Relations merged into existing leads.
    pub merged: usize,
    /// Relations already captured.
    pub unchanged: usize,
    /// Follow users made owners.
    pub owners_set: usize,
    /// Owner problems: the WeCom userid and what happened (unmapped, refused and why).
    pub owner_issues: Vec<(String, String)>,
    /// Values dropped because the CRM would refuse them, by field.
    pub dropped: Vec<String>,
    /// Values the platform sent that this SDK does not know (`add_way=301`).
    pub unknown_values: Vec<String>,
    /// Follow users the platform refused to answer for (partial failure).
    pub unlicensed: Vec<String>,
    /// Entries that failed.
    pub failures: Vec<SyncFailure>,
}

impl SyncReport {
    fn add(&mut self, follow_user: &str, outcome: &CaptureOutcome, owner: &OwnerResult) {
        match outcome {
            CaptureOutcome::Created { .. } => self.created += 1,
            CaptureOutcome::Merged { .. } => self.merged += 1,
            CaptureOutcome::Unchanged { .. } => self.unchanged += 1,
        }
        match owner {
            OwnerResult::Set { .. } => self.owners_set += 1,
            OwnerResult::Kept { .. } => {}
            OwnerResult::Unmapped { .. } => self
                .owner_issues
                .push((follow_user.to_string(), "not in the staff directory".into())),
            OwnerResult::Refused { reason, .. } => self
                .owner_issues
                .push((follow_user.to_string(), format!("refused: {reason}"))),
        }
    }

    fn note_unknowns(&mut self, record: &ContactRecord) {
        if record.contact.contact_type.is_unknown() {
            self.unknown_values
                .push(format!("type={}", record.contact.contact_type.code()));
        }
        for f in &record.follow {
            if f.add_way.is_unknown() {
                self.unknown_values
                    .push(format!("add_way={}", f.add_way.code()));
            }
        }
    }
}

impl WeCom {
    /// Staff userids with customer-contact permission (`get_follow_user_list`).
    ///
    /// # Errors
    /// Platform and transport errors.
    pub async fn follow_users(&self) -> Result<Vec<String>> {
        let a: FollowUsers = self
            .client
            .get("cgi-bin/externalcontact/get_follow_user_list", &[])
            .await?;
        Ok(a.follow_user)
    }

    /// The external contacts of one staff member (`externalcontact/list`).
    ///
    /// # Errors
    /// Platform and transport errors.
    pub async fn contact_ids(&self, userid: &str) -> Result<Vec<ExternalUserId>> {
        let a: ContactIds = self
            .client
            .get("cgi-bin/externalcontact/list", &[("userid", userid)])
            .await?;
        Ok(a.external_userid)
    }

    /// One contact with all its follow users (`externalcontact/get`, following `next_cursor`
    /// while the platform pages the follow users).
    ///
    /// # Errors
    /// Platform errors (84061: no such contact), transport errors, a malformed answer.
    pub async fn contact(&self, external_userid: &ExternalUserId) -> Result<ContactRecord> {
        let mut cursor = String::new();
        let mut record: Option<ContactRecord> = None;
        for _ in 0..MAX_FOLLOW_PAGES {
            let mut q = vec![("external_userid", external_userid.expose())];
            if !cursor.is_empty() {
                q.push(("cursor", cursor.as_str()));
            }
            let a: ContactAnswer = self.client.get("cgi-bin/externalcontact/get", &q).await?;
            match &mut record {
                Some(r) => r.follow.extend(a.follow_user),
                None => {
                    record = Some(ContactRecord {
                        contact: a.external_contact,
                        follow: a.follow_user,
                    })
                }
            }
            if a.next_cursor.is_empty() {
                break;
            }
            cursor = a.next_cursor;
        }
        record.ok_or_else(|| {
            marketingforce_core::Error::backend_message(
                "wecom",
                false,
                "externalcontact/get answered no page",
            )
            .into()
        })
    }

    /// One page of the contacts of `userids` (`batch/get_by_user`, at most 100 userids and
    /// [`WeComConfig::page_size`](super::WeComConfig::page_size) contacts per page).
    ///
    /// # Errors
    /// A validation error on `userids` (none, or more than 100); platform and transport
    /// errors; a malformed answer.
    pub async fn contacts_page(
        &self,
        userids: &[String],
        cursor: Option<&str>,
    ) -> Result<ContactPage> {
        if userids.is_empty() || userids.len() > 100 {
            return Err(CrmError::validation(
                "userids",
                "must list 1-100 follow users",
            ));
        }
        let a: BatchAnswer = self
            .client
            .post(
                "cgi-bin/externalcontact/batch/get_by_user",
                &json!({
                    "userid_list": userids,
                    "cursor": cursor.unwrap_or(""),
                    "limit": self.client.config().page_size,
                }),
            )
            .await?;
        Ok(ContactPage {
            contacts: a
                .external_contact_list
                .into_iter()
                .map(|i| ContactRecord {
                    contact: i.external_contact,
                    follow: vec![i.follow_info],
                })
                .collect(),
            next_cursor: Some(a.next_cursor).filter(|c| !c.is_empty()),
            unlicensed: a.fail_info.unwrap_or_default().unlicensed_userid_list,
        })
    }

    /// Sync every contact of `userids` (all follow users when `None`) into CRM capture: each
    /// follow relation is a capture (source and campaign from the channel code of its `state`,
    /// [`Source::WeCom`](crate::model::Source::WeCom) otherwise), the follow user becomes the
    /// owner of a lead without one, and the contact is linked to its lead. Re-running is
    /// idempotent. An entry that fails is reported and the sync goes on; a page that cannot be
    /// read stops it with the error.
    ///
    /// # Errors
    /// Platform, transport and storage errors reading pages.
    pub async fn sync_contacts(&self, userids: Option<Vec<String>>) -> Result<SyncReport> {
        let users = match userids {
            Some(u) => u,
            None => self.follow_users().await?,
        };
        let mut report = SyncReport::default();
        for chunk in users.chunks(100) {
            let mut cursor: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let page = self.contacts_page(chunk, cursor.as_deref()).await?;
                report.pages += 1;
                report.unlicensed.extend(page.unlicensed.iter().cloned());
                for (i, record) in page.contacts.iter().enumerate() {
                    report.relations += record.follow.len();
                    report.note_unknowns(record);
                    match self.seam.import(self.tenant(), record).await {
                        Ok(captured) => {
                            for c in &captured {
                                report.add(&c.follow_user, &c.outcome, &c.owner);
                                report.dropped.extend(c.dropped.iter().cloned());
                            }
                        }
                        Err(e) => report.failures.push(SyncFailure {
                            page: report.pages,
                            position: i + 1,
                            follow_user: record
                                .follow
                                .first()
                                .map(|f| f.userid.clone())
                                .unwrap_or_default(),
                            reason: safe_reason(&e),
                        }),
                    }
                }
                match page.next_cursor {
                    Some(c) if Some(&c) != cursor.as_ref() => cursor = Some(c),
                    _ => break,
                }
            }
        }
        report.unlicensed.sort();
        report.unlicensed.dedup();
        Ok(report)
    }
}
