//! Spend and performance reports as ingested: one record per ad account and day, the highest
//! revision winning, duplicates counted once, refunds and spend on suspended days flagged.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use marketingforce_core::adapters::ad_platform::DailyReport;
use marketingforce_core::money::Money;
use marketingforce_core::storage::{Entity, Fingerprint, IndexEntry};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{AdsError, Result};
use crate::ids::{AdAccountId, CampaignId, CustomerId, PlatformId};
use crate::period::Month;

/// Something about a report that needs a human look; never silently absorbed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "flag", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReportFlag {
    /// Spend reported for a day the account was suspended.
    SpendWhileSuspended {
        /// The suspension reason.
        reason: String,
        /// Total spend that day.
        spend: Money,
    },
    /// A negative spend line: the platform refunded (e.g. invalid traffic), treated as a refund.
    Refund {
        /// The campaign.
        campaign: CampaignId,
        /// The refunded amount (positive).
        amount: Money,
    },
    /// The platform declared the day not final.
    Partial,
    /// Spend reported for a day the account was not open.
    AccountNotOpen,
}

/// One campaign's line in a stored report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StoredLine {
    /// Our campaign.
    pub campaign: CampaignId,
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Conversions (the platform's, attributed by click id).
    pub conversions: u64,
    /// Spend, exact as reported (negative = refund).
    pub spend: Money,
}

/// A report as stored: one per ad account and day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StoredReport {
    /// The account.
    pub account: AdAccountId,
    /// The customer.
    pub customer: CustomerId,
    /// The platform.
    pub platform: PlatformId,
    /// The day.
    pub date: NaiveDate,
    /// The platform's report id.
    pub report_id: String,
    /// The platform's revision.
    pub revision: u32,
    /// Final (not partial).
    pub complete: bool,
    /// Lines per campaign.
    pub lines: Vec<StoredLine>,
    /// Flags raised on ingestion.
    pub flags: Vec<ReportFlag>,
    /// Fingerprint of the platform report as received.
    pub fingerprint: String,
    /// When received.
    pub received_at: DateTime<Utc>,
}

impl StoredReport {
    /// The record key of an account-day.
    pub fn key_of(account: &AdAccountId, date: NaiveDate) -> String {
        format!("{account}:{date}")
    }

    /// Total spend of the day.
    ///
    /// # Errors
    /// Mixed currencies (refused on ingestion, so not expected).
    pub fn spend(&self) -> Result<Money> {
        let currency = self
            .lines
            .first()
            .map(|l| l.spend.currency())
            .unwrap_or_default();
        Ok(Money::sum(currency, self.lines.iter().map(|l| &l.spend))?)
    }
}

impl Entity for StoredReport {
    const COLLECTION: &'static str = "ads.reports";
    fn key(&self) -> String {
        StoredReport::key_of(&self.account, self.date)
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![
            IndexEntry::new("month", Month::of(self.date).to_string()),
            IndexEntry::new(
                "account_month",
                format!("{}:{}", self.account, Month::of(self.date)),
            ),
        ]
    }
}

/// What ingesting a report did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum IngestOutcome {
    /// First report for the account-day.
    Stored {
        /// Flags raised.
        flags: Vec<ReportFlag>,
    },
    /// The same report again: counted once, nothing changed.
    Duplicate,
    /// A higher revision replaced the stored one.
    Restated {
        /// The revision replaced.
        previous_revision: u32,
        /// Flags raised.
        flags: Vec<ReportFlag>,
    },
    /// An older revision arrived after a newer one: ignored.
    Superseded {
        /// The revision kept.
        stored_revision: u32,
    },
}

/// The fingerprint of a platform report's content.
///
/// # Errors
/// Serialization errors.
pub fn fingerprint(report: &DailyReport) -> Result<String> {
    Ok(Fingerprint::of(report)?.as_str().to_string())
}

/// Structural checks of a platform report before it is matched to our records.
///
/// # Errors
/// A validation error naming the line: a blank campaign id, a campaign reported twice, or a
/// line in another currency than the report's.
pub fn check_report(report: &DailyReport) -> Result<()> {
    if report.report_id.trim().is_empty() {
        return Err(AdsError::validation("report_id", "must not be blank"));
    }
    let mut seen = HashSet::new();
    for (i, line) in report.lines.iter().enumerate() {
        if line.campaign_id.trim().is_empty() {
            return Err(AdsError::validation(
                format!("lines[{i}].campaign_id"),
                "must not be blank",
            ));
        }
        if !seen.insert(line.campaign_id.as_str()) {
            return Err(AdsError::validation(
                format!("lines[{i}].campaign_id"),
                format!("campaign {} is reported twice", line.campaign_id),
            ));
        }
        if line.spend.currency() != report.currency {
            return Err(AdsError::validation(
                format!("lines[{i}].spend"),
                format!(
                    "in {}, the report is in {}",
                    line.spend.currency(),
                    report.currency
                ),
            ));
        }
        if line.clicks > line.impressions && line.impressions > 0 {
            return Err(AdsError::validation(
                format!("lines[{i}].clicks"),
                format!(
                    "{} clicks exceed {} impressions",
                    line.clicks, line.impressions
                ),
            ));
        }
    }
    Ok(())
}

/// An order attributed to a campaign's click by click id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AttributedOrder {
    /// The platform.
    pub platform: PlatformId,
    /// The order id (an order converts once).
    pub order_id: String,
    /// The click id returned with the transaction.
    pub click_id: String,
    /// Our campaign.
    pub campaign: CampaignId,
    /// Civil date of the conversion.
    pub date: NaiveDate,
    /// Order value, if reported.
    pub value: Option<Money>,
}

impl AttributedOrder {
    /// The index value of a campaign-day.
    pub fn campaign_day(campaign: &CampaignId, date: NaiveDate) -> String {
        format!("{campaign}:{date}")
    }
}

impl Entity for AttributedOrder {
    const COLLECTION: &'static str = "ads.orders";
    fn key(&self) -> String {
        format!("{}:{}", self.platform, self.order_id)
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new(
            "campaign_day",
            AttributedOrder::campaign_day(&self.campaign, self.date),
        )]
    }
}
