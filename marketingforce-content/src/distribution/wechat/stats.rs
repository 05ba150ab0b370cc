//! Article statistics from `datacube`: cumulative figures per article
//! (`getarticletotal`) and daily figures per account (`getarticlesummary`).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use marketingforce_core::adapters::channel::ContentStats;
use marketingforce_core::tenant::TenantId;
use serde::Serialize;
use serde_json::json;

use super::channel::WeChatOaChannel;
use super::client::Body;
use super::errors::beijing;
use super::jobs::{Job, Outcome, Submit};
use super::wire::{ArticleSummaries, ArticleTotals};
use crate::error::Result;

/// Daily figures of one article (`datacube/getarticlesummary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArticleDay {
    /// The day (Beijing time).
    pub date: NaiveDate,
    /// The platform's message id (`{msg_data_id}_{index}`).
    pub msgid: String,
    /// Title.
    pub title: String,
    /// Readers and reads of the article page.
    pub readers: u64,
    /// Reads of the article page.
    pub reads: u64,
    /// Shares.
    pub shares: u64,
    /// Times saved to favourites.
    pub favourites: u64,
    /// Reads of the "read original" page.
    pub original_reads: u64,
}

impl WeChatOaChannel {
    /// Daily figures of the account's articles on `date` (`datacube/getarticlesummary`;
    /// the platform has them from the next day on).
    ///
    /// # Errors
    /// Not found for an unknown account; platform and transport errors.
    pub async fn article_summary(
        &self,
        tenant: &TenantId,
        account: &str,
        date: NaiveDate,
    ) -> Result<Vec<ArticleDay>> {
        let entry = self.entry(tenant, account)?;
        let d = date.format("%Y-%m-%d").to_string();
        let rows: ArticleSummaries = self
            .client
            .call(
                tenant,
                &entry.app,
                "POST",
                "datacube/getarticlesummary",
                &[],
                &Body::Json(json!({ "begin_date": d, "end_date": d })),
            )
            .await?;
        rows.list
            .into_iter()
            .map(|r| {
                Ok(ArticleDay {
                    date: NaiveDate::parse_from_str(&r.ref_date, "%Y-%m-%d").map_err(|e| {
                        marketingforce_core::Error::Serialization {
                            what: "ref_date of datacube/getarticlesummary".into(),
                            reason: e.to_string(),
                        }
                    })?,
                    msgid: r.msgid,
                    title: r.title,
                    readers: r.int_page_read_user,
                    reads: r.int_page_read_count,
                    shares: r.share_count,
                    favourites: r.add_to_fav_count,
                    original_reads: r.ori_page_read_count,
                })
            })
            .collect()
    }

    /// The job of a published article.
    async fn job_of_article(
        &self,
        tenant: &TenantId,
        account: &str,
        article_id: &str,
    ) -> Result<Job> {
        self.jobs
            .lookup_all(tenant, "article", &format!("{account}:{article_id}"))
            .await?
            .into_iter()
            .next()
            .map(|v| v.value)
            .ok_or_else(|| {
                marketingforce_core::Error::not_found(
                    format!("{} article", self.client.code),
                    article_id,
                )
                .into()
            })
    }

    pub(crate) async fn article_stats(
        &self,
        tenant: &TenantId,
        account: &str,
        article_id: &str,
    ) -> Result<ContentStats> {
        let entry = self.entry(tenant, account)?;
        let job = self.job_of_article(tenant, account, article_id).await?;
        let (
            Submit::Accepted {
                msg_data_id: Some(msg),
                ..
            },
            Some(Outcome::Published { at, .. }),
        ) = (&job.submit, &job.outcome)
        else {
            return Ok(ContentStats::default());
        };
        let day = at.with_timezone(&beijing()).date_naive();
        if day
            >= self
                .client
                .clock
                .now()
                .with_timezone(&beijing())
                .date_naive()
        {
            // The platform reports a day's figures from the next day on.
            return Ok(ContentStats::default());
        }
        let d = day.format("%Y-%m-%d").to_string();
        let totals: ArticleTotals = self
            .client
            .call(
                tenant,
                &entry.app,
                "POST",
                "datacube/getarticletotal",
                &[],
                &Body::Json(json!({ "begin_date": d, "end_date": d })),
            )
            .await?;
        let wanted = format!("{msg}_1");
        let latest = totals
            .list
            .into_iter()
            .filter(|t| t.msgid == wanted)
            .flat_map(|t| t.details)
            .max_by(|a, b| a.stat_date.cmp(&b.stat_date));
        let Some(day) = latest else {
            return Ok(ContentStats::default());
        };
        let as_of = NaiveDate::parse_from_str(&day.stat_date, "%Y-%m-%d")
            .ok()
            .and_then(|d| {
                d.and_time(NaiveTime::MIN)
                    .and_local_timezone(beijing())
                    .single()
            })
            .map(|t: DateTime<FixedOffset>| t.with_timezone(&Utc) + chrono::Duration::days(1));
        Ok(ContentStats {
            exposures: day.target_user,
            views: day.int_page_read_count,
            engagements: day.share_count.saturating_add(day.add_to_fav_count),
            clicks: day.ori_page_read_count,
            inquiries: 0,
            as_of,
        })
    }
}
