//! The crate's error type: [`CrmError`].
//!
//! Bad input is a [`CrmError::Core`] wrapping a
//! [`marketingforce_core::Error::Validation`] that names the field path and the reason;
//! everything specific to the lead lifecycle has its own variant saying what went wrong on what.

use marketingforce_core::Error as CoreError;

use crate::ids::{CampaignId, LeadId, UserId};

/// Result alias of this crate.
pub type Result<T, E = CrmError> = std::result::Result<T, E>;

/// Everything that can go wrong in the CRM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrmError {
    /// A core error: validation of a field, storage, concurrency, idempotency, tenant isolation.
    #[error(transparent)]
    Core(#[from] CoreError),

    /// From the entitlements of `marketingforce-modules`: the tenant did not buy the module a
    /// command needs, or its quota is used up (see [`CaptureGate`](crate::gate::CaptureGate)).
    #[error(transparent)]
    Entitlements(#[from] marketingforce_modules::ModulesError),

    /// A capture carried no usable identity at all.
    #[error("lead has no identity: give a mobile, phone, email, WeCom id, or name and company")]
    NoIdentity,

    /// The lead does not exist for this tenant.
    #[error("lead {0} not found")]
    LeadNotFound(LeadId),

    /// The lead was merged into another one; act on the survivor.
    #[error("lead {lead} was merged into {into}")]
    LeadMerged {
        /// The absorbed lead.
        lead: LeadId,
        /// The surviving lead.
        into: LeadId,
    },

    /// The lead's personal data was erased on request (PIPL); only aggregates remain.
    #[error("lead {0} was erased")]
    LeadErased(LeadId),

    /// The lifecycle configuration does not allow this transition.
    #[error("lead {lead} cannot go from {from} to {to}; allowed next stages: {allowed}")]
    IllegalTransition {
        /// The lead.
        lead: LeadId,
        /// Current stage.
        from: String,
        /// Requested stage.
        to: String,
        /// The stages the configuration allows from `from`, comma-separated.
        allowed: String,
    },

    /// A transition needs a reason and none was given.
    #[error("moving lead {lead} to {to} requires a reason")]
    ReasonRequired {
        /// The lead.
        lead: LeadId,
        /// Requested stage.
        to: String,
    },

    /// The viewer may not see or change this lead (the attempt is in the access log).
    #[error("{viewer} may not access lead {lead}: {reason}")]
    AccessDenied {
        /// Who asked.
        viewer: UserId,
        /// The lead.
        lead: LeadId,
        /// Why not.
        reason: String,
    },

    /// A staff member id is unknown or inactive.
    #[error("staff member {0} is unknown or inactive")]
    UnknownStaff(UserId),

    /// A seat-limited function was used by someone without a seat.
    #[error("no seat for {user}: {reason}")]
    SeatLimitReached {
        /// The staff member.
        user: UserId,
        /// What the seat policy said.
        reason: String,
    },

    /// More points were requested than the member has available.
    #[error("member {member} has {available} points available, {requested} requested")]
    InsufficientPoints {
        /// The member (a lead).
        member: LeadId,
        /// Points asked for.
        requested: u64,
        /// Points available.
        available: u64,
    },

    /// A referral code was presented for a campaign it does not belong to.
    #[error("referral code {code} belongs to campaign {owner}, not to {campaign}")]
    ReferralCodeOtherCampaign {
        /// The code.
        code: String,
        /// Its campaign.
        owner: CampaignId,
        /// The campaign it was used for.
        campaign: CampaignId,
    },

    /// A referral was refused by a guard (self-referral, cycle, duplicate participant, period).
    #[error("referral refused in campaign {campaign}: {reason}")]
    ReferralRefused {
        /// The campaign.
        campaign: CampaignId,
        /// Which guard refused it.
        reason: String,
    },

    /// A reward would overrun the campaign budget.
    #[error("campaign {campaign} budget exhausted: {needed} needed, {remaining} remaining")]
    BudgetExhausted {
        /// The campaign.
        campaign: CampaignId,
        /// The cost of the reward.
        needed: String,
        /// What is left of the budget.
        remaining: String,
    },

    /// A connector to a platform (WeCom) is misconfigured: credentials, the trusted IP list,
    /// API permissions, the callback settings. `reason` says what to change where.
    #[error("{platform} is misconfigured ({setting}): {reason}")]
    PlatformConfiguration {
        /// The platform (`wecom`).
        platform: String,
        /// The setting to fix (`corp_secret`, `trusted_ip`, …).
        setting: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// A platform refused a call with its own error code and message.
    #[error("{platform}: {api} failed with platform code {code}: {message}")]
    PlatformApi {
        /// The platform (`wecom`).
        platform: String,
        /// The API called (`cgi-bin/externalcontact/get`).
        api: String,
        /// The platform's code (`errcode`).
        code: i64,
        /// The platform's message (`errmsg`).
        message: String,
        /// Whether the code is documented as transient (system busy).
        retryable: bool,
    },

    /// A platform's rate limit was hit and is still hit after the retries; try again at
    /// `retry_at`.
    #[error("{platform} rate-limited {api} ({code}); retry at {retry_at}")]
    RateLimited {
        /// The platform (`wecom`).
        platform: String,
        /// The API called.
        api: String,
        /// The platform's code.
        code: i64,
        /// When to try again.
        retry_at: chrono::DateTime<chrono::Utc>,
    },

    /// The pair is not in the possible-duplicates review queue (never proposed, or of
    /// another tenant).
    #[error("leads {a} and {b} are not a proposed possible duplicate")]
    DuplicateNotProposed {
        /// One lead.
        a: LeadId,
        /// The other.
        b: LeadId,
    },

    /// The pair was already decided (`accepted` or `rejected`): a decision applies once.
    #[error("the possible duplicate {a} / {b} was already {decision}")]
    DuplicateAlreadyDecided {
        /// One lead.
        a: LeadId,
        /// The other.
        b: LeadId,
        /// `accepted` or `rejected`.
        decision: String,
    },

    /// Encryption, decryption or key lookup failed.
    #[error("crypto failure on {what}: {reason}")]
    Crypto {
        /// What was being sealed or opened.
        what: String,
        /// Why it failed.
        reason: String,
    },
}

impl CrmError {
    /// A validation error on `field` for `reason` (a [`CoreError::Validation`]).
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> CrmError {
        CrmError::Core(CoreError::validation(field, reason))
    }

    /// Prefix the field path of a validation error (see [`CoreError::in_field`]).
    #[must_use]
    pub fn in_field(self, parent: impl std::fmt::Display) -> CrmError {
        match self {
            CrmError::Core(e) => CrmError::Core(e.in_field(parent)),
            other => other,
        }
    }

    /// The field path of a validation error, if this is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            CrmError::Core(CoreError::Validation { field, .. }) => Some(field),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for CrmError {
    fn from(e: serde_json::Error) -> Self {
        CrmError::Core(CoreError::from(e))
    }
}

impl marketingforce_core::Classify for CrmError {
    fn kind(&self) -> marketingforce_core::ErrorKind {
        use marketingforce_core::ErrorKind as K;
        match self {
            CrmError::Core(e) => e.kind(),
            CrmError::Entitlements(e) => e.kind(),
            CrmError::NoIdentity
            | CrmError::ReasonRequired { .. }
            | CrmError::ReferralCodeOtherCampaign { .. } => K::InvalidInput,
            CrmError::LeadNotFound(_)
            | CrmError::LeadErased(_)
            | CrmError::UnknownStaff(_)
            | CrmError::DuplicateNotProposed { .. } => K::NotFound,
            CrmError::LeadMerged { .. }
            | CrmError::IllegalTransition { .. }
            | CrmError::DuplicateAlreadyDecided { .. } => K::InvalidState,
            CrmError::AccessDenied { .. } => K::Forbidden,
            CrmError::SeatLimitReached { .. }
            | CrmError::InsufficientPoints { .. }
            | CrmError::BudgetExhausted { .. } => K::LimitExceeded,
            CrmError::ReferralRefused { .. } => K::Rejected,
            CrmError::PlatformApi { retryable, .. } => {
                if *retryable {
                    K::Unavailable
                } else {
                    K::Rejected
                }
            }
            CrmError::RateLimited { .. } => K::RateLimited,
            CrmError::PlatformConfiguration { .. } | CrmError::Crypto { .. } => K::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            CrmError::Core(e) => e.code(),
            CrmError::Entitlements(e) => e.code(),
            CrmError::NoIdentity => "no_identity",
            CrmError::LeadNotFound(_) => "lead_not_found",
            CrmError::LeadMerged { .. } => "lead_merged",
            CrmError::LeadErased(_) => "lead_erased",
            CrmError::IllegalTransition { .. } => "illegal_transition",
            CrmError::ReasonRequired { .. } => "reason_required",
            CrmError::AccessDenied { .. } => "access_denied",
            CrmError::UnknownStaff(_) => "unknown_staff",
            CrmError::SeatLimitReached { .. } => "seat_limit_reached",
            CrmError::InsufficientPoints { .. } => "insufficient_points",
            CrmError::ReferralCodeOtherCampaign { .. } => "referral_code_other_campaign",
            CrmError::ReferralRefused { .. } => "referral_refused",
            CrmError::BudgetExhausted { .. } => "budget_exhausted",
            CrmError::PlatformConfiguration { .. } => "platform_configuration",
            CrmError::PlatformApi { .. } => "platform_api",
            CrmError::RateLimited { .. } => "rate_limited",
            CrmError::Crypto { .. } => "crypto",
            CrmError::DuplicateNotProposed { .. } => "duplicate_not_proposed",
            CrmError::DuplicateAlreadyDecided { .. } => "duplicate_already_decided",
        }
    }

    fn field(&self) -> Option<&str> {
        CrmError::field(self)
    }
}

impl CrmError {
    /// Whether retrying the same call may succeed (conflicts and stale views after a re-read,
    /// rate limits after a wait, transient platform and backend failures, unknown outcomes with
    /// the same key). See [`Classify`](marketingforce_core::Classify).
    pub fn is_retryable(&self) -> bool {
        marketingforce_core::Classify::is_retryable(self)
    }
}

#[cfg(test)]
mod classify_tests {
    use super::*;
    use marketingforce_core::{Classify, ErrorKind};

    #[test]
    fn kinds_follow_the_core_classification() {
        let lost = CrmError::Core(CoreError::outcome_unknown("sqlite commit", "lost"));
        assert_eq!(Classify::kind(&lost), ErrorKind::OutcomeUnknown);
        assert!(lost.is_retryable());
        let none = CrmError::LeadNotFound(LeadId::new());
        assert_eq!(
            (none.kind(), none.code()),
            (ErrorKind::NotFound, "lead_not_found")
        );
        assert!(!none.is_retryable());
        assert_eq!(CrmError::NoIdentity.kind(), ErrorKind::InvalidInput);
    }
}
