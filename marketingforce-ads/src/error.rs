//! The crate's error type.

use chrono::NaiveDate;
use marketingforce_core::money::Money;

use crate::ids::{AdAccountId, CreativeId, CustomerId, PlatformId};
use crate::ledger::{AccountError, TransferError, TransferId};
use crate::period::Month;

/// Result alias of this crate.
pub type Result<T, E = AdsError> = std::result::Result<T, E>;

/// Everything that can go wrong in ad operations and rebate accounting. Each variant says what
/// went wrong and on what; core failures (validation with a field path, storage, idempotency)
/// are wrapped unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdsError {
    /// A core error: validation (with the field path), not found, conflict, idempotency
    /// mismatch, storage backend failure, timeout…
    #[error(transparent)]
    Core(#[from] marketingforce_core::Error),

    /// The ledger refused a transfer; nothing of its batch was written.
    #[error("ledger refused transfers[{index}] ({id}): {source}")]
    Transfer {
        /// Index of the transfer in the submitted batch.
        index: usize,
        /// Its id.
        id: TransferId,
        /// Why.
        #[source]
        source: TransferError,
    },

    /// The ledger refused an account.
    #[error("ledger refused accounts[{index}]: {source}")]
    LedgerAccount {
        /// Index of the account in the submitted batch.
        index: usize,
        /// Why.
        #[source]
        source: AccountError,
    },

    /// The ledger journal could not be replayed (it was written by something else, or is
    /// corrupted).
    #[error("ledger journal {journal} entry #{seq} cannot be replayed: {reason}")]
    CorruptJournal {
        /// Journal name.
        journal: String,
        /// Entry sequence number.
        seq: u64,
        /// Why.
        reason: String,
    },

    /// The customer has not passed the qualification review.
    #[error("customer {customer} is not approved ({status}): no accounts or top-ups")]
    CustomerNotApproved {
        /// The customer.
        customer: CustomerId,
        /// Its qualification status.
        status: String,
    },

    /// No framework agreement of the customer covers the date.
    #[error("no framework agreement of customer {customer} covers {date}")]
    NoAgreement {
        /// The customer.
        customer: CustomerId,
        /// The date.
        date: NaiveDate,
    },

    /// No agreement with the platform covers the date.
    #[error("no agreement with platform {platform} covers {date}")]
    NoPlatformAgreement {
        /// The platform.
        platform: PlatformId,
        /// The date.
        date: NaiveDate,
    },

    /// A top-up on credit would take the customer's exposure over its credit limit.
    #[error(
        "top-up of {requested} for customer {customer} exceeds the credit limit of {limit}: \
         exposure {exposure}, {available} available"
    )]
    CreditLimitExceeded {
        /// The customer.
        customer: CustomerId,
        /// The top-up amount.
        requested: Money,
        /// Receivables and advances (incl. pending top-ups) less unapplied prepayments.
        exposure: Money,
        /// Credit still available.
        available: Money,
        /// The agreement's credit limit.
        limit: Money,
    },

    /// A top-up to be funded by the customer's prepayment is not covered by it.
    #[error(
        "top-up of {requested} for customer {customer} is not covered by its prepayment: \
         {available} unapplied"
    )]
    PrepaymentInsufficient {
        /// The customer.
        customer: CustomerId,
        /// The top-up amount.
        requested: Money,
        /// Prepayment not yet used by receivables and advances.
        available: Money,
    },

    /// Our prepaid funds at the platform do not cover a top-up.
    #[error("prepaid funds at platform {platform} do not cover the top-up of {requested}")]
    PlatformFundsInsufficient {
        /// The platform.
        platform: PlatformId,
        /// The top-up amount.
        requested: Money,
    },

    /// The ad account is suspended for a policy violation.
    #[error("ad account {account} is suspended: {reason}")]
    AccountSuspended {
        /// The account.
        account: AdAccountId,
        /// The recorded reason.
        reason: String,
    },

    /// The ad account is closed.
    #[error("ad account {account} is closed")]
    AccountClosed {
        /// The account.
        account: AdAccountId,
    },

    /// A report names an account we do not know.
    #[error("report {report_id} names unknown ad account {external_id} on platform {platform}")]
    UnknownAccount {
        /// The platform.
        platform: PlatformId,
        /// The platform's account id.
        external_id: String,
        /// The report.
        report_id: String,
    },

    /// A report names a campaign we do not know in that account.
    #[error("report {report_id} names unknown campaign {external_id} in ad account {account}")]
    UnknownCampaign {
        /// The account.
        account: AdAccountId,
        /// The platform's campaign id.
        external_id: String,
        /// The report.
        report_id: String,
    },

    /// A report is in another currency than its account.
    #[error(
        "report {report_id} for ad account {account} is in {found}, the account is in {expected}"
    )]
    ReportCurrency {
        /// The account.
        account: AdAccountId,
        /// The report.
        report_id: String,
        /// The account's currency.
        expected: String,
        /// The report's currency.
        found: String,
    },

    /// A report of the same revision with other content was already ingested.
    #[error(
        "report {report_id} revision {revision} for ad account {account} on {date} differs from \
         the one already received with that revision"
    )]
    ConflictingReport {
        /// The account.
        account: AdAccountId,
        /// The day.
        date: NaiveDate,
        /// The report.
        report_id: String,
        /// The revision.
        revision: u32,
    },

    /// Settlement was refused because report days are missing or not final.
    #[error("settlement of {month} refused: {count} account-days have no final report ({sample})")]
    MissingReports {
        /// The month.
        month: Month,
        /// How many account-days are missing.
        count: usize,
        /// The first few, `account@date`.
        sample: String,
    },

    /// Spend to be billed exceeds the funds topped up for it: a reconciliation failure, never
    /// silently absorbed.
    #[error("{what}: spend {spend} exceeds funds {funded}")]
    SpendExceedsFunds {
        /// Whose funds.
        what: String,
        /// The spend to bill.
        spend: Money,
        /// The funds available.
        funded: Money,
    },

    /// A month of a running rebate period was skipped.
    #[error("{month} cannot be settled before {previous} is")]
    PreviousMonthUnsettled {
        /// The month asked for.
        month: Month,
        /// The unsettled month before it.
        previous: Month,
    },

    /// The month has not ended yet (in the tenant's time zone).
    #[error("{month} cannot be settled before it ends")]
    MonthNotOver {
        /// The month.
        month: Month,
    },

    /// A creative may not be placed.
    #[error("creative {creative} cannot be placed: {reason}")]
    CreativeNotApproved {
        /// The creative.
        creative: CreativeId,
        /// Why not.
        reason: String,
    },

    /// A command of several steps (an onboarding) stopped partway: the steps in `done` are
    /// committed and stay so; `source` is why the next one failed. Retrying the command with
    /// the same idempotency key replays the steps done and resumes at the one that failed.
    /// Its kind, code, field and retryability are those of `source`.
    #[error("{command} stopped after it {}: {source}", done.join(", "))]
    Incomplete {
        /// The command (`ads.onboard_platform`).
        command: &'static str,
        /// What was committed, in order (`registered platform pf_…`).
        done: Vec<String>,
        /// Why the next step failed.
        #[source]
        source: Box<AdsError>,
    },

    /// The ad platform failed or refused.
    #[error("platform {platform} failed: {source}")]
    Platform {
        /// The platform code.
        platform: String,
        /// What the adapter reported.
        #[source]
        source: Box<marketingforce_core::Error>,
    },
}

impl AdsError {
    /// A validation error on `field` (a core [`Error::Validation`](marketingforce_core::Error::Validation)).
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> AdsError {
        AdsError::Core(marketingforce_core::Error::validation(field, reason))
    }

    /// A not-found error.
    pub fn not_found(kind: impl Into<String>, id: impl std::fmt::Display) -> AdsError {
        AdsError::Core(marketingforce_core::Error::not_found(kind, id))
    }

    /// A failure of the platform behind the adapter with code `platform`.
    pub fn platform(platform: &str, source: marketingforce_core::Error) -> AdsError {
        AdsError::Platform {
            platform: platform.to_string(),
            source: Box::new(source),
        }
    }

    /// Whether the same call may succeed when retried (timeouts, retryable backend and platform
    /// failures, optimistic-concurrency conflicts).
    pub fn is_retryable(&self) -> bool {
        match self {
            AdsError::Core(e) => e.is_retryable(),
            AdsError::Platform { source, .. } => source.is_retryable(),
            AdsError::Incomplete { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// The field path of a validation error, if this is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            AdsError::Core(marketingforce_core::Error::Validation { field, .. }) => Some(field),
            AdsError::Incomplete { source, .. } => source.field(),
            _ => None,
        }
    }
}

impl marketingforce_core::Classify for AdsError {
    fn kind(&self) -> marketingforce_core::ErrorKind {
        use marketingforce_core::ErrorKind as K;
        match self {
            AdsError::Core(e) => e.kind(),
            AdsError::Platform { source, .. } => source.kind(),
            AdsError::Incomplete { source, .. } => source.kind(),
            AdsError::LedgerAccount { .. } | AdsError::ReportCurrency { .. } => K::InvalidInput,
            AdsError::UnknownAccount { .. } | AdsError::UnknownCampaign { .. } => K::NotFound,
            AdsError::CreditLimitExceeded { .. }
            | AdsError::PrepaymentInsufficient { .. }
            | AdsError::PlatformFundsInsufficient { .. }
            | AdsError::SpendExceedsFunds { .. } => K::LimitExceeded,
            AdsError::CustomerNotApproved { .. }
            | AdsError::NoAgreement { .. }
            | AdsError::NoPlatformAgreement { .. }
            | AdsError::AccountSuspended { .. }
            | AdsError::AccountClosed { .. }
            | AdsError::MissingReports { .. }
            | AdsError::PreviousMonthUnsettled { .. }
            | AdsError::MonthNotOver { .. }
            | AdsError::CreativeNotApproved { .. } => K::InvalidState,
            AdsError::Transfer { .. } | AdsError::ConflictingReport { .. } => K::Rejected,
            AdsError::CorruptJournal { .. } => K::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AdsError::Core(e) => e.code(),
            AdsError::Transfer { .. } => "transfer_refused",
            AdsError::LedgerAccount { .. } => "ledger_account",
            AdsError::CorruptJournal { .. } => "corrupt_journal",
            AdsError::CustomerNotApproved { .. } => "customer_not_approved",
            AdsError::NoAgreement { .. } => "no_agreement",
            AdsError::NoPlatformAgreement { .. } => "no_platform_agreement",
            AdsError::CreditLimitExceeded { .. } => "credit_limit_exceeded",
            AdsError::PrepaymentInsufficient { .. } => "prepayment_insufficient",
            AdsError::PlatformFundsInsufficient { .. } => "platform_funds_insufficient",
            AdsError::AccountSuspended { .. } => "account_suspended",
            AdsError::AccountClosed { .. } => "account_closed",
            AdsError::UnknownAccount { .. } => "unknown_account",
            AdsError::UnknownCampaign { .. } => "unknown_campaign",
            AdsError::ReportCurrency { .. } => "report_currency",
            AdsError::ConflictingReport { .. } => "conflicting_report",
            AdsError::MissingReports { .. } => "missing_reports",
            AdsError::SpendExceedsFunds { .. } => "spend_exceeds_funds",
            AdsError::PreviousMonthUnsettled { .. } => "previous_month_unsettled",
            AdsError::MonthNotOver { .. } => "month_not_over",
            AdsError::CreativeNotApproved { .. } => "creative_not_approved",
            AdsError::Platform { .. } => "platform",
            AdsError::Incomplete { source, .. } => source.code(),
        }
    }

    fn field(&self) -> Option<&str> {
        AdsError::field(self)
    }

    fn is_retryable(&self) -> bool {
        AdsError::is_retryable(self)
    }
}

#[cfg(test)]
mod classify_tests {
    use super::*;
    use marketingforce_core::{Classify, ErrorKind};

    #[test]
    fn kinds_follow_the_core_classification() {
        let busy = AdsError::platform(
            "ocean_engine",
            marketingforce_core::Error::backend_message("ocean_engine", true, "busy"),
        );
        assert!(Classify::is_retryable(&busy));
        assert_eq!(Classify::code(&busy), "platform");
        let closed = AdsError::MonthNotOver {
            month: crate::period::Month::new(2026, 3).unwrap_or_else(|e| panic!("{e}")),
        };
        assert_eq!(Classify::kind(&closed), ErrorKind::InvalidState);
        assert!(!Classify::is_retryable(&closed));
    }
}
