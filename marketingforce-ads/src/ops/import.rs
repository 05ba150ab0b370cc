//! Importing spend from a platform's report export (see [`crate::import`]).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use marketingforce_core::adapters::ad_platform::DailyReport;
use marketingforce_core::Classify;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::AdOps;
use crate::account::AdAccount;
use crate::campaign::{Campaign, KpiTarget};
use crate::error::{AdsError, Result};
use crate::ids::PlatformId;
use crate::import::{parse_export, ImportFormat, ImportOptions, RowMeta};
use crate::period::Month;
use crate::report::IngestOutcome;

/// What importing an export did, per account-day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportSummary {
    /// Account-days ingested (or recognised as already ingested), with the outcome.
    pub ingested: Vec<ImportedDay>,
    /// Account-days refused (unknown account or campaign, another currency than the
    /// account's, a conflicting report of the same revision, storage errors).
    pub failed: Vec<ImportFailure>,
}

/// One account-day of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportedDay {
    /// The platform's account id.
    pub account_id: String,
    /// The day.
    pub date: NaiveDate,
    /// What ingesting it did ([`IngestOutcome::Duplicate`] on a re-import).
    pub outcome: IngestOutcome,
}

/// An account-day of an import that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportFailure {
    /// The platform's account id.
    pub account_id: String,
    /// The day.
    pub date: NaiveDate,
    /// The error code ([`Classify::code`]).
    pub code: String,
    /// What went wrong.
    pub error: String,
    /// Whether importing again may succeed.
    pub retryable: bool,
}

impl AdOps {
    /// Record spend from a platform's report export, CSV or JSON (columns in [`crate::import`]),
    /// without a platform adapter: rows are grouped per account-day and ingested like fetched
    /// reports, matched to our ad accounts and campaigns by the platform's ids. Importing the
    /// same export again changes nothing; a corrected export carries a higher `revision`.
    ///
    /// Amounts default to the service's settlement currency unless a `currency` column says
    /// otherwise.
    ///
    /// # Errors
    /// Any bad row refuses the whole import before anything is stored, as a validation error
    /// on the first row's path (`rows[3].spend`); use
    /// [`parse_reports`](crate::import::parse_reports) to list every bad row. So does a
    /// spend-only row (no impressions, no clicks) for a campaign with a KPI target on clicks or
    /// impressions (`rows[i].clicks`), and a row without conversions for a campaign with a KPI
    /// target on cost per conversion (`rows[i].conversions`): its compensation cannot be
    /// computed without them.
    /// Account-days refused after parsing are listed in [`ImportSummary::failed`].
    pub async fn import_reports(
        &self,
        platform: &PlatformId,
        format: ImportFormat,
        data: &[u8],
    ) -> Result<ImportSummary> {
        self.import_reports_with(platform, format, data, &ImportOptions::new())
            .await
    }

    /// [`import_reports`](Self::import_reports) with `options`: with
    /// [`ImportOptions::covering`], the days the export leaves out for the platform's accounts
    /// are recorded as final days without spend (each appears in
    /// [`ImportSummary::ingested`] like a listed day).
    ///
    /// # Errors
    /// As [`import_reports`](Self::import_reports); a validation error on `covers` for a
    /// range that ends before it starts or is longer than a year and a day.
    pub async fn import_reports_with(
        &self,
        platform: &PlatformId,
        format: ImportFormat,
        data: &[u8],
        options: &ImportOptions,
    ) -> Result<ImportSummary> {
        self.import_checked(platform, format, data, options, None)
            .await
    }

    /// Record `month`'s spend from a platform's export of that month (the platform's monthly
    /// statement): [`import_reports_with`](Self::import_reports_with) covering every day of
    /// `month` — the days the export leaves out for the platform's accounts are recorded as
    /// final days without spend, so the month can be settled in
    /// [`SettlementMode::Final`](crate::settlement::SettlementMode::Final) — and refusing an
    /// export with a row of another month (the wrong file) before anything is stored.
    ///
    /// ```
    /// # use marketingforce_ads::{import::ImportFormat, period::Month, AdOps};
    /// # async fn month_end(ads: &AdOps, platform: &marketingforce_ads::ids::PlatformId)
    /// # -> marketingforce_ads::Result<()> {
    /// let march: Month = "2026-03".parse()?;
    /// let export = "date,account_id,campaign_id,spend\n2026-04-01,1800001,c-1,980.00\n";
    /// let e = ads.import_month(platform, march, ImportFormat::Csv, export.as_bytes()).await;
    /// assert_eq!(e.unwrap_err().field(), Some("rows[0].date"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`import_reports`](Self::import_reports); a validation error on `rows[i].date` for
    /// the first row outside `month`.
    pub async fn import_month(
        &self,
        platform: &PlatformId,
        month: Month,
        format: ImportFormat,
        data: &[u8],
    ) -> Result<ImportSummary> {
        let options = ImportOptions::new().covering_month(month);
        self.import_checked(platform, format, data, &options, Some(month))
            .await
    }

    /// A row without what a campaign's KPI target is checked against is refused: a spend-only
    /// row for a target on delivery (`rows[i].clicks`), a row without conversions for a target
    /// on cost per conversion (`rows[i].conversions`) — the compensation would be computed as
    /// if nothing was delivered or converted. Rows of accounts or campaigns we do not know are
    /// left to ingestion, which lists them as failed.
    async fn check_kpi_inputs(&self, platform: &PlatformId, rows: &[RowMeta]) -> Result<()> {
        let mut seen = BTreeSet::new();
        for r in rows
            .iter()
            .filter(|r| r.spend_only || r.without_conversions)
        {
            if !seen.insert((
                r.account_id.as_str(),
                r.campaign_id.as_str(),
                r.spend_only,
                r.without_conversions,
            )) {
                continue;
            }
            let ext = AdAccount::external_key(platform, &r.account_id);
            let accounts = self.accounts();
            let found = accounts.lookup_all(&self.tenant, "external", &ext).await?;
            let Some(account) = found.into_iter().next() else {
                continue;
            };
            let ckey = Campaign::external_key(&account.value.id, &r.campaign_id);
            let campaigns = self.campaigns();
            let found = campaigns
                .lookup_all(&self.tenant, "external", &ckey)
                .await?;
            let Some(campaign) = found.into_iter().next() else {
                continue;
            };
            let kpis = &campaign.value.draft.kpis;
            let on_delivery =
                |k: &KpiTarget| matches!(k, KpiTarget::MaxCpc { .. } | KpiTarget::MaxCpm { .. });
            if r.spend_only && kpis.iter().any(on_delivery) {
                return Err(AdsError::validation(
                    format!("rows[{}].clicks", r.row),
                    "is required: the campaign has a KPI target on clicks or impressions, which \
                     a spend-only row cannot be checked against",
                ));
            }
            let on_conversions = |k: &KpiTarget| matches!(k, KpiTarget::MaxCpa { .. });
            if r.without_conversions && kpis.iter().any(on_conversions) {
                return Err(AdsError::validation(
                    format!("rows[{}].conversions", r.row),
                    "is required: the campaign has a KPI target on cost per conversion, which a \
                     row without conversions cannot be checked against",
                ));
            }
        }
        Ok(())
    }

    async fn import_checked(
        &self,
        platform: &PlatformId,
        format: ImportFormat,
        data: &[u8],
        options: &ImportOptions,
        month: Option<Month>,
    ) -> Result<ImportSummary> {
        let covered = options.covered_days()?;
        let parsed = parse_export(format, data, self.config.currency)?;
        if let Some(month) = month {
            if let Some(r) = parsed.rows.iter().find(|r| Month::of(r.date) != month) {
                return Err(AdsError::validation(
                    format!("rows[{}].date", r.row),
                    format!("lies outside {month}, the month imported"),
                ));
            }
        }
        self.platform(platform).await?;
        self.check_kpi_inputs(platform, &parsed.rows).await?;
        let mut reports = parsed.reports;
        if !covered.is_empty() {
            let listed: BTreeSet<(String, NaiveDate)> = reports
                .iter()
                .map(|r| (r.account_id.clone(), r.date))
                .collect();
            let accounts = self
                .accounts()
                .lookup_all(&self.tenant, "platform", &platform.to_string())
                .await?;
            for account in accounts.into_iter().map(|v| v.value) {
                for &date in &covered {
                    if account.is_open_on(date)
                        && !listed.contains(&(account.external_id.clone(), date))
                    {
                        reports.push(DailyReport {
                            report_id: format!("import:{}:{date}:none", account.external_id),
                            revision: 0,
                            account_id: account.external_id.clone(),
                            date,
                            currency: account.currency,
                            complete: true,
                            lines: Vec::new(),
                        });
                    }
                }
            }
            reports.sort_by(|a, b| (&a.account_id, a.date).cmp(&(&b.account_id, b.date)));
        }
        let mut summary = ImportSummary {
            ingested: Vec::new(),
            failed: Vec::new(),
        };
        for report in &reports {
            match self.ingest_report(platform, report).await {
                Ok(outcome) => summary.ingested.push(ImportedDay {
                    account_id: report.account_id.clone(),
                    date: report.date,
                    outcome,
                }),
                Err(e) => summary.failed.push(ImportFailure {
                    account_id: report.account_id.clone(),
                    date: report.date,
                    code: Classify::code(&e).to_string(),
                    retryable: e.is_retryable(),
                    error: e.to_string(),
                }),
            }
        }
        Ok(summary)
    }
}
