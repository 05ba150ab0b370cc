//! Daily reports at advertiser, campaign and ad level, every page, exact money, and a revision
//! that makes a retried pull harmless.
//!
//! | Model | Level | Endpoint | Grouping |
//! |---|---|---|---|
//! | `campaign_ad` | advertiser / campaign / ad | `2/report/{advertiser,campaign,ad}/get/` | `group_by=["STAT_GROUP_BY_FIELD_ID","STAT_GROUP_BY_FIELD_STAT_TIME"]`, `time_granularity=STAT_TIME_GRANULARITY_DAILY` |
//! | `project_promotion` | advertiser / project / promotion | `v3.0/report/custom/get/` | `dimensions=["cdp_project_id","stat_time_day"]` (or `cdp_promotion_id`, or the day alone) |
//!
//! Both ask for `stat_cost` (spend, yuan), `show_cnt` (impressions), `click_cnt` and
//! `convert_cnt`, one day at a time, `page`/`page_size` until `page_info.total_page`. Each page
//! is checked: no more rows than asked for, the page asked for, the same `total_page` as the
//! first page (otherwise the data moved while it was read: a retryable error, pull again), each
//! row for the day asked, no id twice. Rows without any delivery are left out.
//!
//! ## Revisions: a retried pull never records spend twice
//! The platform does not version its reports, and a day's figures keep moving for a while (late
//! conversions, invalid-traffic refunds). The connector keeps a [`ReportRevision`] per
//! advertiser, day and level in the tenant's store: the fingerprint of the rows (sorted by id)
//! and the day's completeness. The same figures get the same revision — the ads ledger then
//! counts the pull as a duplicate — and changed figures the next revision, which restates the
//! day instead of adding to it. The report id is `oceanengine:{advertiser}:{date}:{level}`.

use chrono::{Duration, NaiveDate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use marketingforce_core::adapters::ad_platform::{DailyReport, PerformanceLine};
use marketingforce_core::money::{Currency, Money};
use marketingforce_core::storage::{Collection, Entity, Fingerprint};
use marketingforce_core::time::TimeZone;
use marketingforce_core::{Error, Result};

use super::accounts::check_id;
use super::client::Call;
use super::codes::OceanEngineError;
use super::config::ApiModel;
use super::json::Out;
use super::platform::OceanEnginePlatform;
use super::wire;

/// The level of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportLevel {
    /// One row for the account.
    Advertiser,
    /// One row per campaign (广告组) or project (项目).
    Campaign,
    /// One row per ad (计划) or promotion (广告).
    Ad,
}

impl ReportLevel {
    fn as_str(self) -> &'static str {
        match self {
            ReportLevel::Advertiser => "advertiser",
            ReportLevel::Campaign => "campaign",
            ReportLevel::Ad => "ad",
        }
    }
}

/// One object's delivery on the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRow {
    /// The advertiser, campaign/project or ad/promotion id.
    pub id: String,
    /// `show_cnt`.
    pub impressions: u64,
    /// `click_cnt`.
    pub clicks: u64,
    /// `convert_cnt`.
    pub conversions: u64,
    /// `stat_cost`, exact (negative for a refund).
    pub spend: Money,
}

/// A day's report at one level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelReport {
    /// `oceanengine:{advertiser}:{date}:{level}`.
    pub report_id: String,
    /// 1 for the first figures seen, +1 each time they change.
    pub revision: u32,
    /// The advertiser.
    pub advertiser_id: String,
    /// The day (Asia/Shanghai).
    pub date: NaiveDate,
    /// The level.
    pub level: ReportLevel,
    /// Currency of the spend.
    pub currency: Currency,
    /// Whether the day is past `final_after_hours`.
    pub complete: bool,
    /// Rows with delivery, sorted by id.
    pub rows: Vec<ReportRow>,
}

/// The revision ledger of a report (collection `ads.oceanengine.report_revisions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRevision {
    /// `{advertiser}:{date}:{level}`.
    pub key: String,
    /// Fingerprint of the rows and completeness last seen.
    pub fingerprint: String,
    /// Their revision.
    pub revision: u32,
}

impl Entity for ReportRevision {
    const COLLECTION: &'static str = "ads.oceanengine.report_revisions";
    fn key(&self) -> String {
        self.key.clone()
    }
}

const METRICS: [&str; 4] = ["stat_cost", "show_cnt", "click_cnt", "convert_cnt"];

/// Where a level's rows come from.
struct Source {
    path: &'static str,
    /// The id member (V2: in the row; V3: in `dimensions`), none for the advertiser level.
    id_field: Option<&'static str>,
}

fn source(model: ApiModel, level: ReportLevel) -> Source {
    match (model, level) {
        (ApiModel::CampaignAd, ReportLevel::Advertiser) => Source {
            path: "2/report/advertiser/get/",
            id_field: None,
        },
        (ApiModel::CampaignAd, ReportLevel::Campaign) => Source {
            path: "2/report/campaign/get/",
            id_field: Some("campaign_id"),
        },
        (ApiModel::CampaignAd, ReportLevel::Ad) => Source {
            path: "2/report/ad/get/",
            id_field: Some("ad_id"),
        },
        (ApiModel::ProjectPromotion, ReportLevel::Advertiser) => Source {
            path: "v3.0/report/custom/get/",
            id_field: None,
        },
        (ApiModel::ProjectPromotion, ReportLevel::Campaign) => Source {
            path: "v3.0/report/custom/get/",
            id_field: Some("cdp_project_id"),
        },
        (ApiModel::ProjectPromotion, ReportLevel::Ad) => Source {
            path: "v3.0/report/custom/get/",
            id_field: Some("cdp_promotion_id"),
        },
    }
}

impl OceanEnginePlatform {
    /// One day's report of an advertiser at `level`, every page, with its revision.
    ///
    /// # Errors
    /// A validation error naming the row and field of a malformed answer (a float where money
    /// is expected, a row for another day, an id twice), [`OceanEngineError::OversizedPage`],
    /// a retryable [`OceanEngineError::Transient`] when the pages changed while read, platform
    /// errors, storage errors.
    pub async fn level_report(
        &self,
        advertiser_id: &str,
        date: NaiveDate,
        level: ReportLevel,
    ) -> Result<LevelReport> {
        check_id(advertiser_id, "advertiser_id")?;
        let model = self.client.config.model;
        let src = source(model, level);
        let page_size = u64::from(self.client.config.report_page_size);
        let mut rows: Vec<ReportRow> = Vec::new();
        let mut total_pages = None;
        let mut page = 1u64;
        loop {
            let call = self.report_call(model, &src, advertiser_id, date, page, page_size);
            let data = self.client.call(&call).await?;
            let info = wire::page_info(&data, "data")?;
            let page_rows = match model {
                ApiModel::CampaignAd => wire::rows(&data, "list", "data")?,
                ApiModel::ProjectPromotion => wire::rows(&data, "rows", "data")?,
            };
            self.check_page(
                src.path,
                page,
                page_size,
                page_rows.len(),
                info,
                &mut total_pages,
            )?;
            for (i, row) in page_rows.iter().enumerate() {
                let path = match model {
                    ApiModel::CampaignAd => format!("data.list[{i}]"),
                    ApiModel::ProjectPromotion => format!("data.rows[{i}]"),
                };
                let parsed = self
                    .report_row(model, &src, row, &path, advertiser_id, date)
                    .map_err(|e| e.in_field(format!("page {page}")))?;
                if rows.iter().any(|r| r.id == parsed.id) {
                    return Err(Error::validation(
                        format!("page {page}.{path}"),
                        format!(
                            "{} {} is reported twice for {date}",
                            level.as_str(),
                            parsed.id
                        ),
                    ));
                }
                rows.push(parsed);
            }
            if page >= info.total_page.max(1) {
                break;
            }
            page += 1;
        }
        // Rows with any activity (counts compared one by one: their sum may exceed `u64`).
        rows.retain(|r| {
            r.impressions > 0 || r.clicks > 0 || r.conversions > 0 || !r.spend.is_zero()
        });
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        let complete = self.is_final(date);
        let key = format!("{advertiser_id}:{date}:{}", level.as_str());
        let fingerprint = Fingerprint::of(&(&rows, complete))?.as_str().to_string();
        let revision = self.revise(&key, &fingerprint).await?;
        Ok(LevelReport {
            report_id: format!("oceanengine:{key}"),
            revision,
            advertiser_id: advertiser_id.to_string(),
            date,
            level,
            currency: self.client.config.currency,
            complete,
            rows,
        })
    }

    fn report_call(
        &self,
        model: ApiModel,
        src: &Source,
        advertiser_id: &str,
        date: NaiveDate,
        page: u64,
        page_size: u64,
    ) -> Call {
        let day = date.to_string();
        let call = Call::get(src.path)
            .for_advertiser(advertiser_id)
            .param("advertiser_id", advertiser_id);
        let call = match model {
            ApiModel::CampaignAd => {
                let group_by: &[&str] = if src.id_field.is_some() {
                    &["STAT_GROUP_BY_FIELD_ID", "STAT_GROUP_BY_FIELD_STAT_TIME"]
                } else {
                    &["STAT_GROUP_BY_FIELD_STAT_TIME"]
                };
                call.param("start_date", day.clone())
                    .param("end_date", day)
                    .param("time_granularity", "STAT_TIME_GRANULARITY_DAILY")
                    .json_param("group_by", &Out::strs(group_by.iter().copied()))
                    .json_param("fields", &Out::strs(METRICS))
            }
            ApiModel::ProjectPromotion => {
                let dimensions: Vec<&str> = src
                    .id_field
                    .into_iter()
                    .chain(std::iter::once("stat_time_day"))
                    .collect();
                call.param("start_time", day.clone())
                    .param("end_time", day)
                    .json_param("dimensions", &Out::strs(dimensions))
                    .json_param("metrics", &Out::strs(METRICS))
                    .param("filters", "[]")
                    .param("order_by", "[]")
            }
        };
        call.param("page", page.to_string())
            .param("page_size", page_size.to_string())
    }

    fn check_page(
        &self,
        endpoint: &str,
        page: u64,
        page_size: u64,
        got: usize,
        info: wire::PageInfo,
        total_pages: &mut Option<u64>,
    ) -> Result<()> {
        let oversized = |what: String| {
            Err(OceanEngineError::OversizedPage {
                endpoint: endpoint.to_string(),
                what,
            }
            .into_core())
        };
        if got as u64 > page_size {
            return oversized(format!("{got} rows on page {page}, {page_size} asked for"));
        }
        if info.total_page > u64::from(self.client.config.max_report_pages) {
            return oversized(format!(
                "{} pages, more than max_report_pages ({})",
                info.total_page, self.client.config.max_report_pages
            ));
        }
        if info.page != page && !(info.page == 0 && info.total_page <= 1) {
            return Err(OceanEngineError::Malformed {
                endpoint: endpoint.to_string(),
                reason: format!("page {page} was asked for, page_info.page is {}", info.page),
            }
            .into_core());
        }
        match total_pages {
            None => *total_pages = Some(info.total_page),
            Some(first) if *first != info.total_page => {
                return Err(OceanEngineError::Transient {
                    endpoint: endpoint.to_string(),
                    code: 0,
                    message: format!(
                    "total_page went from {first} to {} while the report was read: pull it again",
                    info.total_page
                ),
                    attempts: 1,
                }
                .into_core())
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn report_row(
        &self,
        model: ApiModel,
        src: &Source,
        row: &Value,
        path: &str,
        advertiser_id: &str,
        date: NaiveDate,
    ) -> Result<ReportRow> {
        let (dims, dims_path, metrics, metrics_path) = match model {
            ApiModel::CampaignAd => (row, path.to_string(), row, path.to_string()),
            ApiModel::ProjectPromotion => (
                wire::field(row, "dimensions", path)?,
                wire::at(path, "dimensions"),
                wire::field(row, "metrics", path)?,
                wire::at(path, "metrics"),
            ),
        };
        let (day_field, day_text) = match model {
            ApiModel::CampaignAd => (
                "stat_datetime",
                wire::opt_text(dims, "stat_datetime", &dims_path)?,
            ),
            ApiModel::ProjectPromotion => (
                "stat_time_day",
                wire::opt_text(dims, "stat_time_day", &dims_path)?,
            ),
        };
        let day = day_text.get(..10).unwrap_or(&day_text);
        if !day_text.is_empty() && day != date.to_string() {
            return Err(Error::validation(
                wire::at(&dims_path, day_field),
                format!("{day_text} is not the day asked for ({date})"),
            ));
        }
        let id = match src.id_field {
            Some(name) => wire::id(
                wire::field(dims, name, &dims_path)?,
                &wire::at(&dims_path, name),
            )?,
            None => advertiser_id.to_string(),
        };
        let config = &self.client.config;
        Ok(ReportRow {
            id,
            impressions: wire::count(metrics, "show_cnt", &metrics_path)?,
            clicks: wire::count(metrics, "click_cnt", &metrics_path)?,
            conversions: wire::count(metrics, "convert_cnt", &metrics_path)?,
            spend: wire::money_or_zero(
                metrics,
                "stat_cost",
                &metrics_path,
                config.currency,
                config.money_decimals,
            )?,
        })
    }

    /// Whether `date` is past the configured finality delay (never, when the delay ends beyond
    /// the calendar).
    fn is_final(&self, date: NaiveDate) -> bool {
        let Some(next) = date.succ_opt() else {
            return false;
        };
        let delay = Duration::hours(i64::from(self.client.config.final_after_hours));
        TimeZone::SHANGHAI
            .start_of_day(next)
            .checked_add_signed(delay)
            .is_some_and(|ends| self.clock.now() >= ends)
    }

    /// The revision of `fingerprint` for `key`: the stored one when unchanged, the next one
    /// otherwise (optimistic concurrency: two processes agree on one revision per content).
    async fn revise(&self, key: &str, fingerprint: &str) -> Result<u32> {
        let ledger = Collection::<ReportRevision>::new(self.store.clone());
        for _ in 0..8 {
            let written = match ledger.get(&self.tenant, key).await? {
                Some(v) if v.value.fingerprint == fingerprint => return Ok(v.value.revision),
                Some(v) => {
                    let next = ReportRevision {
                        key: key.to_string(),
                        fingerprint: fingerprint.to_string(),
                        revision: v.value.revision.saturating_add(1),
                    };
                    ledger
                        .update(&self.tenant, &next, v.version)
                        .await
                        .map(|_| next.revision)
                }
                None => {
                    let first = ReportRevision {
                        key: key.to_string(),
                        fingerprint: fingerprint.to_string(),
                        revision: 1,
                    };
                    ledger.insert(&self.tenant, &first).await.map(|_| 1)
                }
            };
            match written {
                Ok(r) => return Ok(r),
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Timeout {
            operation: format!("recording the revision of report {key} (it kept changing)"),
        })
    }

    /// `daily_report`: the campaign (project) level as the core report.
    pub(crate) async fn campaign_day(
        &self,
        advertiser_id: &str,
        date: NaiveDate,
    ) -> Result<DailyReport> {
        let r = self
            .level_report(advertiser_id, date, ReportLevel::Campaign)
            .await?;
        Ok(DailyReport {
            report_id: r.report_id,
            revision: r.revision,
            account_id: r.advertiser_id,
            date: r.date,
            currency: r.currency,
            complete: r.complete,
            lines: r
                .rows
                .into_iter()
                .map(|row| PerformanceLine {
                    campaign_id: row.id,
                    impressions: row.impressions,
                    clicks: row.clicks,
                    conversions: row.conversions,
                    spend: row.spend,
                })
                .collect(),
        })
    }
}
