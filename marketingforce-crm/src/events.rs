//! The CRM's domain events: what leaves the process when a lead is captured, merged, assigned,
//! moved through its lifecycle, breaches its follow-up SLA or is erased.
//!
//! Every command that changes leads writes its history entries ([`LeadEvent`]) and, in the
//! **same batch**, one domain event per business fact to the tenant's outbox
//! ([`OUTBOX_JOURNAL`](marketingforce_core::events::OUTBOX_JOURNAL)); see
//! [`marketingforce_core::events`] for the envelope and the relay. A command that fails writes
//! neither; a replayed command (same idempotency key) writes neither again; a command retried
//! after another process wrote the tenant builds its events anew, so exactly one set lands.
//! The events of one command are caused by its idempotency key (the envelope's
//! `causation_id` and `correlation_id`), in the order the command made the changes.
//!
//! Payloads never hold personal data: leads and staff are referred to by id; the identity a
//! capture brought is described by which kinds of contact it had ([`IdentityPresence`]), never
//! by their values; a staff member's free-text reason for a stage change is left out.
//!
//! | event | v | when | payload |
//! |---|---|---|---|
//! | `crm.lead.captured` | 1 | a capture created a new lead | `lead`, `source`, `campaign`?, `identity` (kinds present), `captured_at` |
//! | `crm.lead.capture_matched` | 1 | a capture matched an existing lead and was folded into it | `lead`, `source`, `campaign`?, `matched_by`?, `captured_at` |
//! | `crm.lead.merged` | 1 | a duplicate lead was merged into a survivor (by a capture that bridged them, or by hand) | `survivor`, `absorbed`, `rule`, `by` |
//! | `crm.lead.unmerged` | 1 | a merge was undone | `lead`, `restored`, `by` |
//! | `crm.lead.assigned` | 1 | the owner changed: allocated, reassigned, claimed, returned to the pool (`to` absent) | `lead`, `from`?, `to`?, `rule`?, `reason` |
//! | `crm.lead.stage_changed` | 1 | the lifecycle stage changed | `lead`, `from`, `to`, `by`, `reason`? (system reasons only) |
//! | `crm.lead.followed_up` | 1 | the owner recorded a follow-up | `lead`, `by` |
//! | `crm.lead.sla_breached` | 1 | the owner did not follow up within the SLA; the lead was escalated | `lead`, `owner`?, `escalated_to`? |
//! | `crm.lead.tagged` | 1 | tag rules added or removed tags | `lead`, `added`, `removed` |
//! | `crm.lead.consent_withdrawn` | 1 | a consent was withdrawn | `lead`, `purpose`, `by` |
//! | `crm.lead.erased` | 1 | personal data was erased on request (PIPL) | `lead`, `by` |
//! | `crm.duplicate.proposed` | 1 | a capture put a pair of leads in the possible-duplicates review queue (match weight between the tenant's thresholds) | `a`, `b`, `match_weight` |
//! | `crm.duplicate.rejected` | 1 | a person decided a proposed pair are different people (an accepted pair is `crm.lead.merged`, rule `review`) | `a`, `b`, `by` |
//! | `crm.member.level_changed` | 1 | points moved a member to another level ([`Membership`](crate::membership::Membership)) | `program`, `lead`, `from`, `to`, `level_name` |
//!
//! ```
//! use marketingforce_core::IdempotencyKey;
//! use std::sync::Arc;
//! use marketingforce_core::events::{EventEnvelope, OUTBOX_JOURNAL};
//! use marketingforce_core::storage::{MemoryStore, Store};
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::env::Env;
//! use marketingforce_crm::crypto::KeyRing;
//! use marketingforce_crm::events::LeadCaptured;
//! use marketingforce_crm::model::Source;
//! use marketingforce_crm::request::CaptureRequest;
//! use marketingforce_crm::Crm;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let env = Env::builder(store.clone()).keys(Arc::new(KeyRing::new("k1", [7; 32]))).build();
//! let crm = Crm::builder(&env).build().unwrap();
//! let tenant = TenantId::new();
//! let outcome = crm
//!     .capture(&tenant, CaptureRequest::new(Source::OwnSite).mobile("13812345678"), &IdempotencyKey::from_static("web-1"))
//!     .await
//!     .unwrap();
//!
//! let entry = &store.read_journal(&tenant, OUTBOX_JOURNAL, 0, 10).await.unwrap()[0];
//! // An outbox entry holds the events of one commit: here, the capture's one event.
//! let envelopes = EventEnvelope::all_from_entry(&entry.payload).unwrap();
//! let captured: LeadCaptured = envelopes[0].decode().unwrap();
//! assert_eq!(captured.lead, outcome.lead());
//! assert!(captured.identity.mobile);
//! assert!(!String::from_utf8_lossy(&entry.payload).contains("13812345678"));
//! # });
//! ```

use chrono::{DateTime, Utc};
use marketingforce_core::events::{
    ContextId, DomainEvent, EventCatalog, EventContext, EventEnvelope, EventId, Outbox,
};
use marketingforce_core::id::IdGenerator;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{LeadId, ProgramId, UserId};
use crate::lifecycle::{LeadEvent, LeadEventKind};
use crate::model::{Actor, IdentityPresence, Lead, Source, Stage};
use crate::par;

/// A capture created a new lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadCaptured {
    /// The new lead.
    pub lead: LeadId,
    /// Where the capture came from.
    pub source: Source,
    /// The campaign it answered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// Which kinds of contact the new lead holds (never their values).
    pub identity: IdentityPresence,
    /// When it was captured (the client's time when it gave one).
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub captured_at: DateTime<Utc>,
}

impl DomainEvent for LeadCaptured {
    const NAME: &'static str = "crm.lead.captured";
    const VERSION: u32 = 1;
}

/// A capture matched an existing lead (a duplicate) and was folded into it: no new lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadCaptureMatched {
    /// The lead the capture joined.
    pub lead: LeadId,
    /// Where the capture came from.
    pub source: Source,
    /// The campaign it answered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The matching rule that joined it (`mobile`, `email`, `wecom_id`, `phone`, `fuzzy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<String>,
    /// When it was captured (the client's time when it gave one).
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub captured_at: DateTime<Utc>,
}

impl DomainEvent for LeadCaptureMatched {
    const NAME: &'static str = "crm.lead.capture_matched";
    const VERSION: u32 = 1;
}

/// A duplicate lead was merged into a surviving lead.
///
/// By a capture that matched both, or by hand; the absorbed lead is kept for lineage and can be
/// restored ([`LeadUnmerged`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadMerged {
    /// The lead that lives on.
    pub survivor: LeadId,
    /// The lead folded into it.
    pub absorbed: LeadId,
    /// The rule that matched them (`mobile`, `email`, …, or `manual`).
    pub rule: String,
    /// Who merged them.
    pub by: Actor,
}

impl DomainEvent for LeadMerged {
    const NAME: &'static str = "crm.lead.merged";
    const VERSION: u32 = 1;
}

/// A merge was undone: `restored` was split off `lead` and is live again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadUnmerged {
    /// The lead it was merged into.
    pub lead: LeadId,
    /// The lead restored.
    pub restored: LeadId,
    /// Who undid the merge.
    pub by: Actor,
}

impl DomainEvent for LeadUnmerged {
    const NAME: &'static str = "crm.lead.unmerged";
    const VERSION: u32 = 1;
}

/// A lead's owner changed, or the lead went back to the public pool.
///
/// Allocated by a rule, reassigned (SLA, departure), claimed from the pool, or returned to the
/// public pool (no `to`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadAssigned {
    /// The lead.
    pub lead: LeadId,
    /// The previous owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<UserId>,
    /// The new owner; absent when the lead went to the public pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<UserId>,
    /// The allocation rule that decided it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why: `allocation`, `sla`, `departure`, `claim`, or a pool reason (`recycle: …`,
    /// `sla: …`, `no_match: …`).
    pub reason: String,
}

impl DomainEvent for LeadAssigned {
    const NAME: &'static str = "crm.lead.assigned";
    const VERSION: u32 = 1;
}

/// A lead moved to another lifecycle stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadStageChanged {
    /// The lead.
    pub lead: LeadId,
    /// The stage it left.
    pub from: Stage,
    /// The stage it entered.
    pub to: Stage,
    /// Who moved it.
    pub by: Actor,
    /// The system's reason (recycling, SLA, no matching rule); a staff member's free-text
    /// reason is not carried (it may hold personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl DomainEvent for LeadStageChanged {
    const NAME: &'static str = "crm.lead.stage_changed";
    const VERSION: u32 = 1;
}

/// The owner recorded a follow-up of the lead (its response time is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadFollowedUp {
    /// The lead.
    pub lead: LeadId,
    /// Who followed it up.
    pub by: Actor,
}

impl DomainEvent for LeadFollowedUp {
    const NAME: &'static str = "crm.lead.followed_up";
    const VERSION: u32 = 1;
}

/// The owner did not follow the lead up within the SLA.
///
/// The lead was escalated to a manager (when one manages the owner's team). A later sweep
/// reassigns it or returns it to the pool ([`LeadAssigned`] with reason `sla`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadSlaBreached {
    /// The lead.
    pub lead: LeadId,
    /// The owner who missed the SLA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<UserId>,
    /// The manager it was escalated to, if one was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_to: Option<UserId>,
}

impl DomainEvent for LeadSlaBreached {
    const NAME: &'static str = "crm.lead.sla_breached";
    const VERSION: u32 = 1;
}

/// Tag rules added or removed tags of a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadTagged {
    /// The lead.
    pub lead: LeadId,
    /// Tags added.
    pub added: Vec<String>,
    /// Tags removed.
    pub removed: Vec<String>,
}

impl DomainEvent for LeadTagged {
    const NAME: &'static str = "crm.lead.tagged";
    const VERSION: u32 = 1;
}

/// A consent the person gave was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadConsentWithdrawn {
    /// The lead.
    pub lead: LeadId,
    /// The purpose withdrawn (`marketing_calls`, `sms`, …).
    pub purpose: String,
    /// Who recorded the withdrawal.
    pub by: Actor,
}

impl DomainEvent for LeadConsentWithdrawn {
    const NAME: &'static str = "crm.lead.consent_withdrawn";
    const VERSION: u32 = 1;
}

/// A lead's personal data was erased on request (PIPL).
///
/// The vault is gone; the lead record stays as `erased` for aggregates. Receivers holding data
/// of the lead should erase theirs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadErased {
    /// The lead.
    pub lead: LeadId,
    /// Who erased it.
    pub by: Actor,
}

impl DomainEvent for LeadErased {
    const NAME: &'static str = "crm.lead.erased";
    const VERSION: u32 = 1;
}

/// A capture put a pair of leads in the possible-duplicates review queue: their match
/// weight fell between the tenant's review and auto-merge thresholds, so a person decides
/// ([`Crm::possible_duplicates`](crate::Crm::possible_duplicates)). The explanation stays in
/// the queue; the event carries ids and the weight only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DuplicateProposed {
    /// One lead of the pair (the smaller id).
    pub a: LeadId,
    /// The other lead.
    pub b: LeadId,
    /// The pair's match weight (log2 Bayes factor).
    pub match_weight: f64,
}

impl DomainEvent for DuplicateProposed {
    const NAME: &'static str = "crm.duplicate.proposed";
    const VERSION: u32 = 1;
}

/// A person decided that a proposed pair are different people: the pair is never proposed
/// again and no capture merges them. (An accepted pair is a [`LeadMerged`] with rule
/// `review`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DuplicateRejected {
    /// One lead of the pair (the smaller id).
    pub a: LeadId,
    /// The other lead.
    pub b: LeadId,
    /// Who decided.
    pub by: Actor,
}

impl DomainEvent for DuplicateRejected {
    const NAME: &'static str = "crm.duplicate.rejected";
    const VERSION: u32 = 1;
}

/// A fact of the review queue, staged by the command that made it (see [`review_envelopes`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReviewFact {
    /// A pair was proposed.
    Proposed(DuplicateProposed),
    /// A pair was rejected.
    Rejected(DuplicateRejected),
}

/// The domain events of a command's review-queue facts, in order.
pub(crate) fn review_envelopes(
    outbox: &Outbox,
    tenant: &TenantId,
    facts: &[ReviewFact],
    ctx: &EventContext,
) -> Result<Vec<EventEnvelope>> {
    facts
        .iter()
        .map(|f| match f {
            ReviewFact::Proposed(e) => outbox.event(tenant, e, ctx),
            ReviewFact::Rejected(e) => outbox.event(tenant, e, ctx),
        })
        .collect::<marketingforce_core::error::Result<Vec<_>>>()
        .map_err(Into::into)
}

/// A member's level in a membership program changed.
///
/// Points accumulated in the program's window moved them up, or their lapse moved them down
/// (see [`membership`](crate::membership)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MemberLevelChanged {
    /// The membership program.
    pub program: ProgramId,
    /// The member.
    pub lead: LeadId,
    /// The previous level's index (0 = the entry level).
    pub from: usize,
    /// The new level's index.
    pub to: usize,
    /// The new level's name.
    pub level_name: String,
}

impl DomainEvent for MemberLevelChanged {
    const NAME: &'static str = "crm.member.level_changed";
    const VERSION: u32 = 1;
}

/// Every event of the CRM, for the committed schemas under `schemas/events/`.
pub fn event_catalog() -> EventCatalog {
    EventCatalog::new("crm")
        .with::<LeadCaptured>()
        .with::<LeadCaptureMatched>()
        .with::<LeadMerged>()
        .with::<LeadUnmerged>()
        .with::<LeadAssigned>()
        .with::<LeadStageChanged>()
        .with::<LeadFollowedUp>()
        .with::<LeadSlaBreached>()
        .with::<LeadTagged>()
        .with::<LeadConsentWithdrawn>()
        .with::<LeadErased>()
        .with::<DuplicateProposed>()
        .with::<DuplicateRejected>()
        .with::<MemberLevelChanged>()
}

/// The context of a command's events: caused by (and correlated with) its idempotency key,
/// when the key is a valid [`ContextId`].
pub(crate) fn command_context(key: Option<&str>) -> EventContext {
    match key.and_then(|k| ContextId::new(k).ok()) {
        Some(id) => EventContext::new()
            .caused_by(id.clone())
            .correlated_with(id),
        None => EventContext::new(),
    }
}

/// The domain events of a command's history entries, in order. `leads` are the leads as the
/// command leaves them (for facts the entry does not carry, such as a breached lead's owner).
///
/// Each event's id and time are drawn from `ids` and `clock` in history order on the calling
/// thread (an id source may be a sequence, as in a simulation); the envelopes, which encode
/// their payloads, are made over the cores (see [`par::map`]).
pub(crate) fn envelopes<'a>(
    ids: &dyn IdGenerator,
    clock: &dyn Clock,
    tenant: &TenantId,
    history: &[LeadEvent],
    leads: impl Fn(&LeadId) -> Option<&'a Lead> + Sync,
    ctx: &EventContext,
) -> Result<Vec<EventEnvelope>> {
    let stamped: Vec<(&LeadEvent, EventId, DateTime<Utc>)> = history
        .iter()
        .filter(|e| publishes(&e.event))
        .map(|e| (e, EventId::generate(ids), clock.now()))
        .collect();
    par::map(&stamped, |(e, id, at)| {
        envelope(tenant, e, *id, *at, &leads, ctx)
    })
    .into_iter()
    .filter_map(Result::transpose)
    .collect()
}

/// Whether a history entry is published: the merged lead's side of a merge is the survivor's
/// event, and a consent given is no event.
fn publishes(event: &LeadEventKind) -> bool {
    match event {
        LeadEventKind::MergedInto { .. } => false,
        LeadEventKind::Consent { withdrawn, .. } => *withdrawn,
        _ => true,
    }
}

/// The envelope of a history entry, with its id and time (`None`: the entry is not published,
/// see [`publishes`]).
fn envelope<'a>(
    tenant: &TenantId,
    e: &LeadEvent,
    id: EventId,
    at: DateTime<Utc>,
    leads: &impl Fn(&LeadId) -> Option<&'a Lead>,
    ctx: &EventContext,
) -> Result<Option<EventEnvelope>> {
    let lead = e.lead;
    let by = e.actor.clone();
    let envelope = match &e.event {
        LeadEventKind::Captured {
            source,
            campaign,
            created: true,
            ..
        } => EventEnvelope::new(
            *tenant,
            id,
            at,
            &LeadCaptured {
                lead,
                source: *source,
                campaign: campaign.clone(),
                identity: leads(&lead).map(|l| l.identity).unwrap_or_default(),
                captured_at: e.at,
            },
            ctx,
        ),
        LeadEventKind::Captured {
            source,
            campaign,
            created: false,
            matched_by,
        } => EventEnvelope::new(
            *tenant,
            id,
            at,
            &LeadCaptureMatched {
                lead,
                source: *source,
                campaign: campaign.clone(),
                matched_by: matched_by.clone(),
                captured_at: e.at,
            },
            ctx,
        ),
        LeadEventKind::Merged { absorbed, rule } => EventEnvelope::new(
            *tenant,
            id,
            at,
            &LeadMerged {
                survivor: lead,
                absorbed: *absorbed,
                rule: rule.clone(),
                by,
            },
            ctx,
        ),
        // The other side of `Merged`: one fact, one event.
        LeadEventKind::MergedInto { .. } => return Ok(None),
        LeadEventKind::Unmerged { restored } => EventEnvelope::new(
            *tenant,
            id,
            at,
            &LeadUnmerged {
                lead,
                restored: *restored,
                by,
            },
            ctx,
        ),
        LeadEventKind::Assigned {
            from,
            to,
            rule,
            reason,
        } => EventEnvelope::new(
            *tenant,
            id,
            at,
            &LeadAssigned {
                lead,
                from: *from,
                to: *to,
                rule: rule.clone(),
                reason: reason.clone(),
            },
            ctx,
        ),
        LeadEventKind::Transition { from, to, reason } => {
            let reason = match &by {
                Actor::System(_) => reason.clone(),
                Actor::User(_) => None,
            };
            EventEnvelope::new(
                *tenant,
                id,
                at,
                &LeadStageChanged {
                    lead,
                    from: *from,
                    to: *to,
                    by,
                    reason,
                },
                ctx,
            )
        }
        LeadEventKind::FollowedUp => {
            EventEnvelope::new(*tenant, id, at, &LeadFollowedUp { lead, by }, ctx)
        }
        LeadEventKind::Escalated { to } => EventEnvelope::new(
            *tenant,
            id,
            at,
            &LeadSlaBreached {
                lead,
                owner: leads(&lead).and_then(|l| l.owner),
                escalated_to: *to,
            },
            ctx,
        ),
        LeadEventKind::Tagged { added, removed } => EventEnvelope::new(
            *tenant,
            id,
            at,
            &LeadTagged {
                lead,
                added: added.clone(),
                removed: removed.clone(),
            },
            ctx,
        ),
        LeadEventKind::Consent { purpose, withdrawn } => {
            if !withdrawn {
                return Ok(None);
            }
            EventEnvelope::new(
                *tenant,
                id,
                at,
                &LeadConsentWithdrawn {
                    lead,
                    purpose: purpose.clone(),
                    by,
                },
                ctx,
            )
        }
        LeadEventKind::Erased => EventEnvelope::new(*tenant, id, at, &LeadErased { lead, by }, ctx),
    };
    Ok(Some(envelope?))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use marketingforce_core::id::SeededIds;
    use marketingforce_core::time::ManualClock;

    use super::*;
    use crate::model::Actor;

    /// One history entry of every kind, and a consent both given and withdrawn.
    fn every_kind() -> Vec<LeadEventKind> {
        let other = LeadId::from_uuid(marketingforce_core::id::Uuid::from_u128(2));
        vec![
            LeadEventKind::Captured {
                source: Source::OwnSite,
                campaign: None,
                created: true,
                matched_by: None,
            },
            LeadEventKind::Captured {
                source: Source::OwnSite,
                campaign: Some("c".into()),
                created: false,
                matched_by: Some("mobile".into()),
            },
            LeadEventKind::Transition {
                from: Stage::New,
                to: Stage::Assigned,
                reason: None,
            },
            LeadEventKind::Merged {
                absorbed: other,
                rule: "mobile".into(),
            },
            LeadEventKind::MergedInto { survivor: other },
            LeadEventKind::Unmerged { restored: other },
            LeadEventKind::Assigned {
                from: None,
                to: None,
                rule: None,
                reason: "r".into(),
            },
            LeadEventKind::FollowedUp,
            LeadEventKind::Escalated { to: None },
            LeadEventKind::Tagged {
                added: vec!["t".into()],
                removed: Vec::new(),
            },
            LeadEventKind::Consent {
                purpose: "p".into(),
                withdrawn: false,
            },
            LeadEventKind::Consent {
                purpose: "p".into(),
                withdrawn: true,
            },
            LeadEventKind::Erased,
        ]
    }

    #[test]
    fn an_entry_gets_an_id_exactly_when_it_is_published() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let ids = SeededIds::new(7, clock.clone());
        let tenant = TenantId::new();
        let lead = LeadId::from_uuid(marketingforce_core::id::Uuid::from_u128(1));
        let history: Vec<LeadEvent> = every_kind()
            .into_iter()
            .map(|event| LeadEvent {
                lead,
                at: clock.now(),
                actor: Actor::system("test"),
                event,
            })
            .collect();
        let ctx = EventContext::new();
        for e in &history {
            let id = EventId::generate(&ids);
            let made = envelope(&tenant, e, id, clock.now(), &|_| None, &ctx).expect("envelope");
            assert_eq!(made.is_some(), publishes(&e.event), "{:?}", e.event);
        }
        // Through the whole function: the ids are drawn in history order, one per event, and
        // each envelope carries its entry's id (the same sequence drawn again).
        let published = history.iter().filter(|e| publishes(&e.event)).count();
        assert_eq!(
            published,
            history.len() - 2,
            "merged-into and consent given"
        );
        let again = SeededIds::new(7, clock.clone());
        let made = envelopes(&again, clock.as_ref(), &tenant, &history, |_| None, &ctx)
            .expect("envelopes");
        let expected = SeededIds::new(7, clock.clone());
        let expected: Vec<EventId> = (0..published)
            .map(|_| EventId::generate(&expected))
            .collect();
        let got: Vec<EventId> = made.iter().map(EventEnvelope::id).collect();
        assert_eq!(got, expected);
    }
}
