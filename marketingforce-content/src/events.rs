//! The content crate's domain events: a content version's compliance decision, and what a
//! channel did with a publication.
//!
//! Each is written to the tenant's outbox
//! ([`OUTBOX_JOURNAL`](marketingforce_core::events::OUTBOX_JOURNAL)) in the **same batch** as
//! the review or publication record it describes (see [`marketingforce_core::events`]): a
//! decision or publication that is not recorded emits nothing, and a replay under the same
//! idempotency key emits nothing again. The envelope's `causation_id` is the command's
//! idempotency key; a publication's events are correlated by its channel key (shared by its
//! first attempt and every retry or scheduled run).
//!
//! Payloads never carry the content's text: a review names the **rules** that decided it
//! (category id, severity, Advertising Law article), never the words matched, and a channel's
//! refusal carries its code, not its free-text reason. A person's decision says that a person
//! decided, not who.
//!
//! | event | v | when | payload |
//! |---|---|---|---|
//! | `content.review.approved` | 1 | a content version was approved (by the checker or a person) | `content_id`, `version`, `by`, `lexicons` |
//! | `content.review.referred` | 1 | the checker sent a version to human review | `content_id`, `version`, `rules`, `findings`, `lexicons` |
//! | `content.review.rejected` | 1 | a version was rejected by the compliance review (checker or person) | `content_id`, `version`, `by`, `rules`, `findings`, `lexicons` |
//! | `content.publication.published` | 1 | a channel published a content version | `publication`, `content_id`, `version`, `channel`, `account`, `external_id`, `url`?, `quota_units`, `attempts`, `published_at` |
//! | `content.publication.rejected` | 1 | a channel refused a content version | `publication`, `content_id`, `version`, `channel`, `account`, `code` |
//!
//! A generation refused for quota ([`ContentError::QuotaExceeded`](crate::ContentError)) is
//! not an event of this crate: nothing is recorded when it happens (the quota's own usage
//! events belong to the modules crate's metering).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use marketingforce_core::events::{ContextId, DomainEvent, EventCatalog, EventContext, Outbox};
use marketingforce_core::storage::Batch;
use marketingforce_core::tenant::TenantId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::compliance::{Decision, ReviewRecord, Reviewer, Severity};
use crate::distribution::{Publication, PublicationId, PublicationStatus};

/// Who made a review decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// The automatic checker.
    Automatic,
    /// A person (who is not carried).
    Human,
}

/// A rule of the word lists that counted in a review: never the text it matched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct RuleHit {
    /// The category id (`absolute_terms`, `medical_claims`, …).
    pub category: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The article of the Advertising Law it rests on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<u16>,
}

/// A person approved a content version the checker had referred or rejected.
///
/// The checker's own approvals — the routine path, including every text block of a site being
/// published — are not events; the publication that follows is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContentApproved {
    /// The content id.
    pub content_id: String,
    /// The version.
    pub version: u32,
    /// What the checker had decided (`needs_human_review` or `rejected`).
    pub automatic_decision: Decision,
    /// The word lists used (`advertising-law-cn@1+tenant@1`).
    pub lexicons: String,
}

impl DomainEvent for ContentApproved {
    const NAME: &'static str = "content.review.approved";
    const VERSION: u32 = 1;
}

/// The checker sent a content version to human review.
///
/// Restricted products, claims that need evidence: a person's decision follows as
/// [`ContentApproved`] or [`ContentRejected`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContentReferred {
    /// The content id.
    pub content_id: String,
    /// The version.
    pub version: u32,
    /// The rules that counted, each once.
    pub rules: Vec<RuleHit>,
    /// How many finds counted.
    pub findings: usize,
    /// The word lists used.
    pub lexicons: String,
}

impl DomainEvent for ContentReferred {
    const NAME: &'static str = "content.review.referred";
    const VERSION: u32 = 1;
}

/// A content version was rejected by the compliance review: it must not be published as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContentRejected {
    /// The content id.
    pub content_id: String,
    /// The version.
    pub version: u32,
    /// Who rejected it.
    pub by: DecidedBy,
    /// The rules that counted, each once (never the text they matched).
    pub rules: Vec<RuleHit>,
    /// How many finds counted.
    pub findings: usize,
    /// The word lists used.
    pub lexicons: String,
}

impl DomainEvent for ContentRejected {
    const NAME: &'static str = "content.review.rejected";
    const VERSION: u32 = 1;
}

/// A channel published a content version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublicationPublished {
    /// The publication.
    pub publication: PublicationId,
    /// The content id.
    pub content_id: String,
    /// The version.
    pub version: u32,
    /// The channel code.
    pub channel: String,
    /// The tenant's account on the channel.
    pub account: String,
    /// The platform's id of the published item.
    pub external_id: String,
    /// Its public address, if the platform gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Release-quota units consumed.
    pub quota_units: u64,
    /// Calls made to the channel.
    pub attempts: u32,
    /// When the platform published it.
    pub published_at: DateTime<Utc>,
}

impl DomainEvent for PublicationPublished {
    const NAME: &'static str = "content.publication.published";
    const VERSION: u32 = 1;
}

/// A channel refused a content version (its release quota was given back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublicationRejected {
    /// The publication.
    pub publication: PublicationId,
    /// The content id.
    pub content_id: String,
    /// The version.
    pub version: u32,
    /// The channel code.
    pub channel: String,
    /// The tenant's account on the channel.
    pub account: String,
    /// The channel's refusal code (its free-text reason stays on the publication record).
    pub code: String,
}

impl DomainEvent for PublicationRejected {
    const NAME: &'static str = "content.publication.rejected";
    const VERSION: u32 = 1;
}

/// Every event of the content crate, for the committed schemas under `schemas/events/`.
pub fn event_catalog() -> EventCatalog {
    EventCatalog::new("content")
        .with::<ContentApproved>()
        .with::<ContentReferred>()
        .with::<ContentRejected>()
        .with::<PublicationPublished>()
        .with::<PublicationRejected>()
}

/// An event context from optional cause and flow ids (dropped when not valid context ids).
pub(crate) fn context(causation: Option<&str>, correlation: Option<&str>) -> EventContext {
    let mut ctx = EventContext::new();
    if let Some(id) = causation.and_then(|c| ContextId::new(c).ok()) {
        ctx = ctx.caused_by(id);
    }
    if let Some(id) = correlation.and_then(|c| ContextId::new(c).ok()) {
        ctx = ctx.correlated_with(id);
    }
    ctx
}

/// The decision event of a review record (none for the checker's approvals).
pub(crate) enum ReviewEvent {
    None,
    Approved(ContentApproved),
    Referred(ContentReferred),
    Rejected(ContentRejected),
}

impl ReviewEvent {
    pub(crate) fn of(record: &ReviewRecord) -> ReviewEvent {
        let by = match record.reviewer {
            Reviewer::Automatic => DecidedBy::Automatic,
            Reviewer::Human { .. } => DecidedBy::Human,
        };
        let rules: Vec<RuleHit> = record
            .findings
            .iter()
            .map(|f| RuleHit {
                category: f.category.to_string(),
                severity: f.severity,
                article: f.article,
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (content_id, version, lexicons) = (
            record.content_id.clone(),
            record.version,
            record.lexicons.clone(),
        );
        match record.decision {
            Decision::Approved if by == DecidedBy::Automatic => ReviewEvent::None,
            Decision::Approved => ReviewEvent::Approved(ContentApproved {
                content_id,
                version,
                automatic_decision: record.automatic_decision,
                lexicons,
            }),
            Decision::NeedsHumanReview => ReviewEvent::Referred(ContentReferred {
                content_id,
                version,
                rules,
                findings: record.findings.len(),
                lexicons,
            }),
            Decision::Rejected => ReviewEvent::Rejected(ContentRejected {
                content_id,
                version,
                by,
                rules,
                findings: record.findings.len(),
                lexicons,
            }),
        }
    }
}

/// The event of a publication that reached a final answer from its channel, if it did.
pub(crate) enum PublicationEvent {
    Published(PublicationPublished),
    Rejected(PublicationRejected),
}

impl PublicationEvent {
    pub(crate) fn of(p: &Publication) -> Option<PublicationEvent> {
        let c = &p.command;
        match &p.status {
            PublicationStatus::Published(receipt) => {
                Some(PublicationEvent::Published(PublicationPublished {
                    publication: p.id,
                    content_id: c.content_id.clone(),
                    version: c.version,
                    channel: c.channel.clone(),
                    account: c.account.clone(),
                    external_id: receipt.external_id.clone(),
                    url: receipt.url.clone(),
                    quota_units: p.quota_units,
                    attempts: p.attempts,
                    published_at: receipt.published_at,
                }))
            }
            PublicationStatus::Rejected { code, .. } => {
                Some(PublicationEvent::Rejected(PublicationRejected {
                    publication: p.id,
                    content_id: c.content_id.clone(),
                    version: c.version,
                    channel: c.channel.clone(),
                    account: c.account.clone(),
                    code: code.clone(),
                }))
            }
            PublicationStatus::Scheduled { .. } | PublicationStatus::Failed { .. } => None,
        }
    }
}

impl ReviewEvent {
    /// Stage the event in `batch` (see [`Outbox::append`]).
    pub(crate) async fn stage(
        &self,
        outbox: &Outbox,
        tenant: &TenantId,
        batch: &mut Batch,
        ctx: &EventContext,
    ) -> marketingforce_core::Result<()> {
        match self {
            ReviewEvent::None => return Ok(()),
            ReviewEvent::Approved(e) => outbox.append(tenant, batch, e, ctx).await?,
            ReviewEvent::Referred(e) => outbox.append(tenant, batch, e, ctx).await?,
            ReviewEvent::Rejected(e) => outbox.append(tenant, batch, e, ctx).await?,
        };
        Ok(())
    }
}

impl PublicationEvent {
    /// Stage the event in `batch` (see [`Outbox::append`]).
    pub(crate) async fn stage(
        &self,
        outbox: &Outbox,
        tenant: &TenantId,
        batch: &mut Batch,
        ctx: &EventContext,
    ) -> marketingforce_core::Result<()> {
        match self {
            PublicationEvent::Published(e) => outbox.append(tenant, batch, e, ctx).await?,
            PublicationEvent::Rejected(e) => outbox.append(tenant, batch, e, ctx).await?,
        };
        Ok(())
    }
}
