//! What the channel remembers of each publication, so a retry resumes instead of publishing
//! twice: uploaded images, the cover, the draft, the submit and its result.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use marketingforce_core::storage::{Entity, IndexEntry};
use marketingforce_core::tenant::TenantId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where WeChat says a publication (发布任务) stands (`publish_status`).
///
/// Codes the SDK does not know are kept as [`PublishStatus::Unknown`] and reported, not
/// guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(from = "i64", into = "i64")]
pub enum PublishStatus {
    /// 0: published.
    Published,
    /// 1: being published.
    Publishing,
    /// 2: refused by the originality check.
    OriginalityFailed,
    /// 3: failed.
    Failed,
    /// 4: refused by the platform's review.
    ReviewRejected,
    /// 5: published, then every article deleted by the account.
    DeletedByAccount,
    /// 6: published, then every article banned by the platform.
    BannedByPlatform,
    /// A code this SDK does not know.
    Unknown(i64),
}

impl From<i64> for PublishStatus {
    fn from(code: i64) -> PublishStatus {
        match code {
            0 => PublishStatus::Published,
            1 => PublishStatus::Publishing,
            2 => PublishStatus::OriginalityFailed,
            3 => PublishStatus::Failed,
            4 => PublishStatus::ReviewRejected,
            5 => PublishStatus::DeletedByAccount,
            6 => PublishStatus::BannedByPlatform,
            n => PublishStatus::Unknown(n),
        }
    }
}

impl From<PublishStatus> for i64 {
    fn from(s: PublishStatus) -> i64 {
        s.code()
    }
}

impl PublishStatus {
    /// The platform's code.
    pub fn code(self) -> i64 {
        match self {
            PublishStatus::Published => 0,
            PublishStatus::Publishing => 1,
            PublishStatus::OriginalityFailed => 2,
            PublishStatus::Failed => 3,
            PublishStatus::ReviewRejected => 4,
            PublishStatus::DeletedByAccount => 5,
            PublishStatus::BannedByPlatform => 6,
            PublishStatus::Unknown(n) => n,
        }
    }

    /// Whether the status is final (neither in progress nor unknown).
    pub fn is_final(self) -> bool {
        !matches!(self, PublishStatus::Publishing | PublishStatus::Unknown(_))
    }
}

impl fmt::Display for PublishStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishStatus::Published => f.write_str("published"),
            PublishStatus::Publishing => f.write_str("being published"),
            PublishStatus::OriginalityFailed => f.write_str("refused by the originality check"),
            PublishStatus::Failed => f.write_str("publishing failed"),
            PublishStatus::ReviewRejected => f.write_str("refused by the platform's review"),
            PublishStatus::DeletedByAccount => f.write_str("deleted by the account"),
            PublishStatus::BannedByPlatform => f.write_str("banned by the platform"),
            PublishStatus::Unknown(n) => write!(f, "unknown publish_status {n}"),
        }
    }
}

/// How far the submit of a draft got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Submit {
    /// Not sent.
    NotSent,
    /// Sent without a clear answer: whether WeChat accepted it is unknown.
    Unanswered { at: DateTime<Utc> },
    /// Accepted as a publish task.
    Accepted {
        publish_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        msg_data_id: Option<String>,
        at: DateTime<Utc>,
    },
}

/// The final result of a publication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub(crate) enum Outcome {
    Published {
        article_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        at: DateTime<Utc>,
    },
    NotPublished {
        status: PublishStatus,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fail_idx: Vec<i64>,
    },
}

/// One publication's progress (collection `content.wechat_oa_jobs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Job {
    /// SHA-256 of the tenant and the publisher's idempotency key.
    pub key: String,
    pub tenant: TenantId,
    pub account: String,
    /// Fingerprint of what is published (a reused key for other content is refused).
    pub fingerprint: String,
    /// Body images already rehosted: digest → WeChat URL.
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_media_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_media_id: Option<String>,
    pub submit: Submit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    pub updated_at: DateTime<Utc>,
}

impl Job {
    pub fn publish_id(&self) -> Option<&str> {
        match &self.submit {
            Submit::Accepted { publish_id, .. } => Some(publish_id),
            _ => None,
        }
    }
}

impl Entity for Job {
    const COLLECTION: &'static str = "content.wechat_oa_jobs";
    fn key(&self) -> String {
        self.key.clone()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        let mut ix = Vec::new();
        if let Some(p) = self.publish_id() {
            ix.push(IndexEntry::new("publish", format!("{}:{p}", self.account)));
        }
        if let Some(Outcome::Published { article_id, .. }) = &self.outcome {
            ix.push(IndexEntry::new(
                "article",
                format!("{}:{article_id}", self.account),
            ));
        }
        ix
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statuses_are_kept() {
        let s: PublishStatus = serde_json::from_str("9").unwrap();
        assert_eq!(s, PublishStatus::Unknown(9));
        assert_eq!(serde_json::to_string(&s).unwrap(), "9");
        assert!(!s.is_final() && PublishStatus::ReviewRejected.is_final());
    }
}
