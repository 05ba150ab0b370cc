//! Importing spend from a platform's report export (see [`crate::import`]).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use marketingforce_core::adapters::ad_platform::DailyReport;
use marketingforce_core::Classify;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::AdOps;
use crate::error::Result;
use crate::ids::PlatformId;
use crate::import::{parse_reports, ImportFormat, ImportOptions};
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
    /// on the first row's path (`rows[3].spend`); use [`parse_reports`] to list every bad row.
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
        let covered = options.covered_days()?;
        let mut reports = parse_reports(format, data, self.config.currency)?;
        self.platform(platform).await?;
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
