//! The content-channel adapter: publish a piece of content to an account on a media platform
//! (B2B vertical site, news portal, short-video or social platform, WeCom), read its statistics
//! and the inquiries it produced, and check the account's real-name verification and suspension
//! status.
//!
//! [`ContentChannel`] is object-safe (`Arc<dyn ContentChannel>`). A channel *rejecting* a piece
//! of content (policy, format, duplicate) is an ordinary answer, [`PublishOutcome::Rejected`]
//! with the platform's reason, not an error: the publisher records it. Errors are for failures
//! to get an answer at all.
//!
//! ```
//! use marketingforce_core::adapters::channel::{AccountStatus, Verification};
//!
//! let status = AccountStatus { verification: Verification::Verified, suspended: None };
//! assert!(status.can_publish());
//! let suspended = AccountStatus { suspended: Some("违规内容".into()), ..status };
//! assert!(!suspended.can_publish());
//! ```

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::tenant::TenantId;

/// The kind of media platform a channel is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChannelKind {
    /// An industry-vertical B2B site (e.g. a machinery or chemicals portal).
    B2bVertical,
    /// A long-tail B2B directory or information site.
    LongTailB2b,
    /// A news portal publishing press releases through bulk-bought release quotas.
    NewsPortal,
    /// A short-video platform.
    ShortVideo,
    /// A social platform (microblog, content community, official accounts).
    Social,
    /// The private domain: WeCom, customer groups, mini programs.
    PrivateDomain,
}

impl ChannelKind {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::B2bVertical => "b2b_vertical",
            ChannelKind::LongTailB2b => "long_tail_b2b",
            ChannelKind::NewsPortal => "news_portal",
            ChannelKind::ShortVideo => "short_video",
            ChannelKind::Social => "social",
            ChannelKind::PrivateDomain => "private_domain",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The format of a piece of content.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentFormat {
    /// A text article (with optional images).
    Article,
    /// A single image, poster or banner.
    Image,
    /// A video.
    Video,
}

impl fmt::Display for ContentFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContentFormat::Article => "article",
            ContentFormat::Image => "image",
            ContentFormat::Video => "video",
        })
    }
}

/// Real-name verification of a platform account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// Not verified: publishing is refused.
    #[default]
    Unverified,
    /// Submitted, not yet approved: publishing is refused.
    Pending,
    /// Real-name verified.
    Verified,
}

/// What a platform says about an account.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct AccountStatus {
    /// Real-name verification.
    pub verification: Verification,
    /// Why the platform suspended the account, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<String>,
}

impl AccountStatus {
    /// Whether content may be published through the account (verified and not suspended).
    pub fn can_publish(&self) -> bool {
        self.verification == Verification::Verified && self.suspended.is_none()
    }
}

/// A media file attached to a publication.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MediaAttachment {
    /// Media type (`image/png`, `video/mp4`).
    pub media_type: String,
    /// A file name.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for MediaAttachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaAttachment")
            .field("media_type", &self.media_type)
            .field("name", &self.name)
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .finish()
    }
}

/// A request to publish one version of a piece of content through one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublishRequest {
    /// The tenant publishing.
    pub tenant: TenantId,
    /// The account on the platform.
    pub account: String,
    /// The caller's content id.
    pub content_id: String,
    /// The content version (reviewed versions only are published).
    pub version: u32,
    /// The format.
    pub format: ContentFormat,
    /// Title.
    pub title: String,
    /// Body as HTML (articles) or caption (images, videos).
    pub body_html: String,
    /// Media files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaAttachment>,
    /// Tags / keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Idempotency key: a platform that sees the same key twice publishes once.
    pub idempotency_key: String,
}

/// A successful publication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublishReceipt {
    /// The platform's id of the published item.
    pub external_id: String,
    /// Its public address, if the platform gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the platform published it.
    pub published_at: DateTime<Utc>,
}

/// What a platform answered to a [`PublishRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PublishOutcome {
    /// Published.
    Published(PublishReceipt),
    /// The platform refused the content.
    Rejected {
        /// The platform's code.
        code: String,
        /// The platform's reason, in its words.
        reason: String,
    },
}

/// Statistics of a published item, cumulative since publication.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ContentStats {
    /// Exposures (impressions in feeds and lists).
    pub exposures: u64,
    /// Views (opened / played).
    pub views: u64,
    /// Likes, shares, comments and favourites.
    pub engagements: u64,
    /// Clicks on links or contact buttons.
    pub clicks: u64,
    /// Inquiries (messages, calls, forms) attributed to the item.
    pub inquiries: u64,
    /// When the figures were taken.
    pub as_of: Option<DateTime<Utc>>,
}

/// An inquiry a platform received about a published item (a future lead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelInquiry {
    /// The platform's id of the inquiry (unique per channel).
    pub external_id: String,
    /// The published item it came from.
    pub item_external_id: String,
    /// Name the visitor gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone the visitor gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Email the visitor gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Company the visitor named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Region the visitor is in, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The message.
    #[serde(default)]
    pub message: String,
    /// The platform's visitor id (for remarketing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<String>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// A media platform that publishes content through a tenant's accounts. Object-safe: use as
/// `Arc<dyn ContentChannel>`.
#[async_trait]
pub trait ContentChannel: Send + Sync + fmt::Debug {
    /// The channel's code in the channel catalogue (e.g. `machine365`).
    fn code(&self) -> &str;

    /// Real-name verification and suspension status of `account`.
    ///
    /// # Errors
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown account; backend errors.
    async fn account_status(&self, tenant: &TenantId, account: &str) -> Result<AccountStatus>;

    /// Publish. A refusal by the platform is [`PublishOutcome::Rejected`], not an error.
    ///
    /// # Errors
    /// Backend errors and timeouts (the outcome is then unknown: retry with the same
    /// idempotency key).
    async fn publish(&self, request: &PublishRequest) -> Result<PublishOutcome>;

    /// Cumulative statistics of a published item.
    ///
    /// # Errors
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown item; backend errors.
    async fn stats(
        &self,
        tenant: &TenantId,
        account: &str,
        external_id: &str,
    ) -> Result<ContentStats>;

    /// Inquiries received through `account` after `since` (all when `None`), oldest first.
    /// Channels that do not collect inquiries return none.
    ///
    /// # Errors
    /// Backend errors.
    async fn inquiries(
        &self,
        tenant: &TenantId,
        account: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ChannelInquiry>> {
        let _ = (tenant, account, since);
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_serialise_with_a_tag() {
        let r = PublishOutcome::Rejected {
            code: "policy".into(),
            reason: "含有绝对化用语".into(),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"outcome\":\"rejected\""), "{json}");
        assert_eq!(serde_json::from_str::<PublishOutcome>(&json).unwrap(), r);
        assert!(!AccountStatus::default().can_publish());
        assert_eq!(ChannelKind::NewsPortal.to_string(), "news_portal");
    }
}
