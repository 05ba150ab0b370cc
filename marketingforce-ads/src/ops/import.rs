//! Importing spend from a platform's report export (see [`crate::import`]).

use chrono::NaiveDate;
use marketingforce_core::Classify;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::AdOps;
use crate::error::Result;
use crate::ids::PlatformId;
use crate::import::{parse_reports, ImportFormat};
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
        let reports = parse_reports(format, data, self.config.currency)?;
        self.platform(platform).await?;
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
