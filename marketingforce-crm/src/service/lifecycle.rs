//! Stage transitions, follow-ups, behaviour events (profile, scoring, tags, threshold stage
//! changes) and consent withdrawal.

use chrono::{DateTime, Utc};
use marketingforce_core::storage::{Batch, Idempotent};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;

use super::{Crm, Work};
use crate::error::{CrmError, Result};
use crate::ids::LeadId;
use crate::lifecycle::{LeadEvent, LeadEventKind};
use crate::model::{Actor, Lead, Stage};
use crate::profile::{apply_tags, threshold_stage, BehaviourEvent, BEHAVIOUR_JOURNAL};

/// Apply a checked stage change to a lead and record it.
pub(crate) fn set_stage(
    work: &mut Work,
    lead: &LeadId,
    to: Stage,
    actor: &Actor,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<()> {
    let l: &mut Lead = work.lead_mut(lead)?;
    let from = l.stage;
    l.stage = to;
    l.reached.insert(to);
    l.stage_changed_at = at;
    l.updated_at = at;
    if to == Stage::Converted && l.converted_at.is_none() {
        l.converted_at = Some(at);
    }
    if to == Stage::Pool {
        l.owner = None;
        l.team = None;
        l.assigned_at = None;
        l.first_follow_up_at = None;
        l.escalated_at = None;
    }
    work.events.push(LeadEvent {
        lead: *lead,
        at,
        actor: actor.clone(),
        event: LeadEventKind::Transition {
            from,
            to,
            reason: reason.map(str::to_string),
        },
    });
    Ok(())
}

impl Crm {
    /// Move a lead to another stage, as the lifecycle configuration allows; the change is
    /// journaled with who, when and why. A staff actor must be able to see the lead.
    ///
    /// # Errors
    /// [`CrmError::IllegalTransition`] (naming the allowed next stages),
    /// [`CrmError::ReasonRequired`], [`CrmError::AccessDenied`], storage errors.
    #[operation("crm.transition", tenant = tenant, key = idempotency_key)]
    pub async fn transition(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        to: Stage,
        actor: &Actor,
        reason: Option<&str>,
        idempotency_key: &IdempotencyKey,
    ) -> Result<()> {
        let idempotency_key = idempotency_key.as_str();
        let idem = self.idempotent(tenant, idempotency_key, &("transition", lead, to, reason))?;
        if self.replayed::<()>(tenant, &idem).await?.is_some() {
            return Ok(());
        }
        if reason.is_some_and(|r| r.chars().count() > 500) {
            return Err(CrmError::validation("reason", "longer than 500 characters"));
        }
        let current = self.read_active(tenant, lead).await?.value;
        if let Actor::User(u) = actor {
            self.authorize(tenant, u, &current).await?;
        }
        self.config_for(tenant)
            .await?
            .lifecycle
            .check(*lead, current.stage, to, reason)?;
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::LeadNotFound(*lead))?;
        let cfg = st.config.clone();
        let txn = Crm::begin(st);
        let mut work = Work::default();
        self.load_work(tenant, &mut work, lead).await?;
        let at = self.clock.now();
        // Re-check against the state read under the lock.
        let stage = work.lead_mut(lead)?.stage;
        cfg.lifecycle.check(*lead, stage, to, reason)?;
        set_stage(&mut work, lead, to, actor, reason, at)?;
        self.finish(tenant, st, txn, work, Some((&idem, b"null".to_vec())))
            .await?;
        Ok(())
    }

    /// Record that the owner followed the lead up: sets the response time and moves an
    /// `assigned` lead to `contacting`.
    ///
    /// # Errors
    /// [`CrmError::AccessDenied`] unless the actor owns the lead (or may see it), storage errors.
    #[operation("crm.record_follow_up", tenant = tenant, key = idempotency_key)]
    pub async fn record_follow_up(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        actor: &Actor,
        idempotency_key: &IdempotencyKey,
    ) -> Result<()> {
        let idempotency_key = idempotency_key.as_str();
        let idem = self.idempotent(tenant, idempotency_key, &("follow_up", lead))?;
        if self.replayed::<()>(tenant, &idem).await?.is_some() {
            return Ok(());
        }
        let current = self.read_active(tenant, lead).await?.value;
        if let Actor::User(u) = actor {
            self.authorize(tenant, u, &current).await?;
        }
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::LeadNotFound(*lead))?;
        let txn = Crm::begin(st);
        let mut work = Work::default();
        self.load_work(tenant, &mut work, lead).await?;
        let at = self.clock.now();
        let stage = {
            let l = work.lead_mut(lead)?;
            l.first_follow_up_at.get_or_insert(at);
            l.first_response_at.get_or_insert(at);
            l.updated_at = at;
            l.stage
        };
        work.events.push(LeadEvent {
            lead: *lead,
            at,
            actor: actor.clone(),
            event: LeadEventKind::FollowedUp,
        });
        if stage == Stage::Assigned && st.config.lifecycle.allows(stage, Stage::Contacting) {
            set_stage(&mut work, lead, Stage::Contacting, actor, None, at)?;
        }
        self.finish(tenant, st, txn, work, Some((&idem, b"null".to_vec())))
            .await?;
        Ok(())
    }

    /// Record a behaviour event: the profile, score and tags are updated, and a score
    /// threshold may move the lead (e.g. hot prospect → `qualified`) when the lifecycle allows
    /// it from the current stage.
    ///
    /// # Errors
    /// A validation error on `event.at` when it is more than the maximum clock skew ahead of
    /// the service clock or before 2000 (see
    /// [`check_client_time`](crate::request::check_client_time));
    /// [`CrmError::LeadNotFound`], [`CrmError::LeadMerged`], storage errors.
    #[operation("crm.record_behaviour", tenant = tenant, key = idempotency_key)]
    pub async fn record_behaviour(
        &self,
        tenant: &TenantId,
        event: BehaviourEvent,
        idempotency_key: &IdempotencyKey,
    ) -> Result<i64> {
        self.check_client_time("event.at", Some(event.at))?;
        let idem = self.idempotent(tenant, idempotency_key.as_str(), &("behaviour", &event))?;
        self.record_behaviour_under(tenant, event, &idem).await
    }

    /// [`record_behaviour`](Self::record_behaviour) under `idem`, whose fingerprint the caller
    /// chose: a command that dates the event itself leaves the time out of it, so that its
    /// retry later replays the first answer.
    pub(crate) async fn record_behaviour_under(
        &self,
        tenant: &TenantId,
        event: BehaviourEvent,
        idem: &Idempotent,
    ) -> Result<i64> {
        if let Some(prev) = self.replayed::<i64>(tenant, idem).await? {
            return Ok(prev);
        }
        if event
            .topic
            .as_ref()
            .is_some_and(|t| t.chars().count() > 100)
            || event
                .content
                .as_ref()
                .is_some_and(|t| t.chars().count() > 200)
        {
            return Err(CrmError::validation(
                "event.topic",
                "topic or content reference too long",
            ));
        }
        self.read_active(tenant, &event.lead).await?;
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::LeadNotFound(event.lead))?;
        let txn = Crm::begin(st);
        let mut work = Work::default();
        self.load_work(tenant, &mut work, &event.lead).await?;
        let cfg = st.config.clone();
        let (score, stage, added, removed) = {
            let l = work.lead_mut(&event.lead)?;
            l.profile.apply(&event, &cfg.profile);
            l.scoring.on_event(&event, &cfg.scoring);
            l.score = l.scoring.score(&l.identity, &cfg.scoring);
            l.updated_at = l.updated_at.max(event.at);
            let (a, r) = apply_tags(l, &cfg.tag_rules, &cfg.scoring);
            (l.score, l.stage, a, r)
        };
        if !added.is_empty() || !removed.is_empty() {
            work.events.push(LeadEvent {
                lead: event.lead,
                at: event.at,
                actor: Actor::system("tags"),
                event: LeadEventKind::Tagged { added, removed },
            });
        }
        if let Some(target) = threshold_stage(score, &cfg.scoring) {
            if target != stage && cfg.lifecycle.allows(stage, target) && stage.is_open() {
                set_stage(
                    &mut work,
                    &event.lead,
                    target,
                    &Actor::system("scoring"),
                    Some("score threshold"),
                    event.at,
                )?;
            }
        }
        let mut b = Batch::new();
        b.append_json(BEHAVIOUR_JOURNAL, &event)?;
        work.extra = b;
        let response = serde_json::to_vec(&score)?;
        match self
            .finish(tenant, st, txn, work, Some((idem, response)))
            .await?
        {
            None => Ok(score),
            Some(stored) => Ok(serde_json::from_slice(&stored)?),
        }
    }

    /// Withdraw a consent given for `purpose`.
    ///
    /// # Errors
    /// A validation error on `purpose` when no such consent is active; storage errors.
    #[operation("crm.withdraw_consent", tenant = tenant)]
    pub async fn withdraw_consent(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        purpose: &str,
        actor: &Actor,
    ) -> Result<()> {
        self.read_active(tenant, lead).await?;
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::LeadNotFound(*lead))?;
        let txn = Crm::begin(st);
        let mut work = Work::default();
        self.load_work(tenant, &mut work, lead).await?;
        let at = self.clock.now();
        let l = work.lead_mut(lead)?;
        let mut found = false;
        for c in l
            .consents
            .iter_mut()
            .filter(|c| c.purpose == purpose && c.withdrawn_at.is_none())
        {
            c.withdrawn_at = Some(at);
            found = true;
        }
        if !found {
            Crm::abort(st, txn);
            return Err(CrmError::validation(
                "purpose",
                format!("no active consent for {purpose:?}"),
            ));
        }
        work.events.push(LeadEvent {
            lead: *lead,
            at,
            actor: actor.clone(),
            event: LeadEventKind::Consent {
                purpose: purpose.to_string(),
                withdrawn: true,
            },
        });
        self.finish(tenant, st, txn, work, None).await?;
        Ok(())
    }
}
