//! The platform's request and answer shapes (only the fields the channel uses; unknown fields
//! are ignored, as the platform adds them over time).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::jobs::PublishStatus;

/// An id the platform sends as a string or as an integer (`publish_id`, `msg_data_id`).
pub(crate) fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if !s.is_empty() => Ok(s),
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id (string or integer), got {other}"
        ))),
    }
}

fn opt_id_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected an id (string or integer), got {other}"
        ))),
    }
}

/// `media/uploadimg`.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadedImage {
    pub url: String,
}

/// `material/add_material`.
#[derive(Debug, Deserialize)]
pub(crate) struct AddedMaterial {
    pub media_id: String,
}

/// `draft/add`.
#[derive(Debug, Deserialize)]
pub(crate) struct AddedDraft {
    pub media_id: String,
}

/// `freepublish/submit`.
#[derive(Debug, Deserialize)]
pub(crate) struct Submitted {
    #[serde(deserialize_with = "id_string")]
    pub publish_id: String,
    #[serde(default, deserialize_with = "opt_id_string")]
    pub msg_data_id: Option<String>,
}

/// `freepublish/get` (and the callback's `PublishEventInfo`).
#[derive(Debug, Deserialize)]
pub(crate) struct PublishState {
    pub publish_status: PublishStatus,
    #[serde(default, deserialize_with = "opt_id_string")]
    pub article_id: Option<String>,
    #[serde(default)]
    pub article_detail: Option<ArticleDetail>,
    #[serde(default)]
    pub fail_idx: Vec<i64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ArticleDetail {
    #[serde(default)]
    pub item: Vec<ArticleItem>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ArticleItem {
    #[serde(default)]
    pub idx: i64,
    #[serde(default)]
    pub article_url: Option<String>,
}

impl PublishState {
    /// The URL of the first article.
    pub fn first_url(&self) -> Option<String> {
        let items = &self.article_detail.as_ref()?.item;
        items
            .iter()
            .find(|i| i.idx == 1)
            .or(items.first())
            .and_then(|i| i.article_url.clone())
    }
}

/// `datacube/getarticletotal`.
#[derive(Debug, Deserialize)]
pub(crate) struct ArticleTotals {
    #[serde(default)]
    pub list: Vec<ArticleTotal>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ArticleTotal {
    pub msgid: String,
    #[serde(default)]
    pub details: Vec<ArticleTotalDay>,
}

/// Cumulative figures of an article as of `stat_date`.
#[derive(Debug, Deserialize)]
pub(crate) struct ArticleTotalDay {
    pub stat_date: String,
    #[serde(default)]
    pub target_user: u64,
    #[serde(default)]
    pub int_page_read_count: u64,
    #[serde(default)]
    pub ori_page_read_count: u64,
    #[serde(default)]
    pub share_count: u64,
    #[serde(default)]
    pub add_to_fav_count: u64,
}

/// `datacube/getarticlesummary`.
#[derive(Debug, Deserialize)]
pub(crate) struct ArticleSummaries {
    #[serde(default)]
    pub list: Vec<ArticleSummaryRow>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ArticleSummaryRow {
    pub ref_date: String,
    pub msgid: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub int_page_read_user: u64,
    #[serde(default)]
    pub int_page_read_count: u64,
    #[serde(default)]
    pub ori_page_read_count: u64,
    #[serde(default)]
    pub share_count: u64,
    #[serde(default)]
    pub add_to_fav_count: u64,
}
