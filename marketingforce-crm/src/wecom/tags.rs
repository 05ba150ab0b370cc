//! Tag sync: the corp's tag library (`get_corp_tag_list`) and the CRM's lead tags pushed onto
//! the contact in WeCom (`mark_tag`), so salespeople see the CRM's classification in their
//! WeCom client (the rules are on [`WeCom::sync_lead_tags`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::connector::WeCom;
use super::links::TagPush;
use super::model::CorpTagGroup;
use crate::error::Result;
use crate::ids::LeadId;

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tag_group: Vec<CorpTagGroup>,
}

#[derive(Deserialize)]
struct Ack {}

/// What a tag push did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TagSyncReport {
    /// Tag names added in WeCom.
    pub added: Vec<String>,
    /// Tag names removed in WeCom.
    pub removed: Vec<String>,
    /// CRM tags without a corp tag of the same name.
    pub no_corp_tag: Vec<String>,
    /// Set when nothing could be pushed, and why.
    pub skipped: Option<String>,
}

impl WeCom {
    /// The corp's tag groups and tags.
    ///
    /// # Errors
    /// Platform and transport errors.
    pub async fn corp_tags(&self) -> Result<Vec<CorpTagGroup>> {
        let a: TagList = self
            .client
            .post("cgi-bin/externalcontact/get_corp_tag_list", &json!({}))
            .await?;
        Ok(a.tag_group)
    }

    /// Add and remove corp tags (by id) on a contact, as staff member `userid`.
    ///
    /// # Errors
    /// Platform and transport errors.
    pub async fn mark_tag(
        &self,
        userid: &str,
        external_userid: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<()> {
        let _: Ack = self
            .client
            .post(
                "cgi-bin/externalcontact/mark_tag",
                &json!({
                    "userid": userid,
                    "external_userid": external_userid,
                    "add_tag": add,
                    "remove_tag": remove,
                }),
            )
            .await?;
        Ok(())
    }

    /// Push a lead's CRM tags onto its WeCom contact, as its first follow user.
    ///
    /// Tags are matched by name to the corp tags (not deleted); a CRM tag without a corp tag of
    /// the same name is reported in [`TagSyncReport::no_corp_tag`], not created (the tag library
    /// is the corp administrator's). The set pushed last is remembered per lead, so a tag the
    /// CRM removed is removed in WeCom too, and tags added in WeCom by hand are left alone. The
    /// CRM's tags come from its rules (scoring, tag rules) and it has no API to set tags by
    /// hand, so WeCom tags do not flow back.
    ///
    /// # Errors
    /// Platform, transport and storage errors.
    pub async fn sync_lead_tags(&self, lead: &LeadId) -> Result<TagSyncReport> {
        let tenant = self.tenant();
        let mut report = TagSyncReport::default();
        let Some((ext, follow)) = self.seam.contact_of(tenant, lead).await? else {
            report.skipped = Some("no WeCom contact for this lead".into());
            return Ok(report);
        };
        let Some(userid) = follow.first() else {
            report.skipped = Some("no staff member has the contact any more".into());
            return Ok(report);
        };
        let wanted: BTreeSet<String> = self.seam.tags_of(tenant, lead).await?.into_iter().collect();
        let previous = self.tag_pushes.get(tenant, &lead.to_string()).await?;
        let before: BTreeSet<String> = previous
            .as_ref()
            .map(|v| v.value.tags.clone())
            .unwrap_or_default();
        let ids: BTreeMap<String, String> = self
            .corp_tags()
            .await?
            .into_iter()
            .filter(|g| !g.deleted)
            .flat_map(|g| g.tag)
            .filter(|t| !t.deleted)
            .map(|t| (t.name, t.id))
            .collect();
        let mut add = Vec::new();
        for t in wanted.difference(&before) {
            match ids.get(t) {
                Some(id) => {
                    add.push(id.clone());
                    report.added.push(t.clone());
                }
                None => report.no_corp_tag.push(t.clone()),
            }
        }
        let mut remove = Vec::new();
        for t in before.difference(&wanted) {
            if let Some(id) = ids.get(t) {
                remove.push(id.clone());
                report.removed.push(t.clone());
            }
        }
        if !add.is_empty() || !remove.is_empty() {
            self.mark_tag(userid, &ext, &add, &remove).await?;
        }
        let pushed: BTreeSet<String> = wanted.into_iter().filter(|t| ids.contains_key(t)).collect();
        let record = TagPush {
            lead: *lead,
            tags: pushed,
            updated_at: self.client.clock().now(),
        };
        self.tag_pushes.upsert(tenant, &record).await?;
        Ok(report)
    }
}
