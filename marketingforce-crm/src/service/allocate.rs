//! Staff management (seat-limited), allocation, claims from the pool, the follow-up SLA,
//! departures and recycling. Every owner change is journaled with the rule or reason.

use chrono::Duration;
use marketingforce_core::storage::{Batch, Expect};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::{Classify, ErrorKind, IdempotencyKey};
use serde::{Deserialize, Serialize};

use super::catch_up::Facts;
use super::lifecycle::set_stage;
use super::{Crm, TenantState, Work, Written};
use crate::allocation::{Breach, Decision, LeadFacts};
use crate::error::{CrmError, Result};
use crate::ids::{LeadId, UserId};
use crate::lifecycle::{LeadEvent, LeadEventKind, LifecycleConfig};
use crate::model::{Actor, LeadStatus, Source, Stage};
use crate::staff::{Role, Staff};

/// Where allocation put a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Allocation {
    /// Assigned.
    Assigned {
        /// The lead.
        lead: LeadId,
        /// To whom.
        to: UserId,
        /// By which rule.
        rule: String,
    },
    /// Sent to the public pool, with the reason (e.g. no rule matched).
    Pooled {
        /// The lead.
        lead: LeadId,
        /// Why.
        reason: String,
    },
}

/// What an SLA / recycle / departure sweep did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SweepReport {
    /// Leads escalated to a manager.
    pub escalated: Vec<LeadId>,
    /// Leads allocated again.
    pub reassigned: Vec<Allocation>,
    /// Leads returned to the pool.
    pub pooled: Vec<LeadId>,
}

impl Crm {
    /// Add or update a staff member. Activating a member takes a seat from the
    /// [`SeatGate`](crate::seats::SeatGate); a member the store then refused (nothing written)
    /// gives back the seat it did not hold before.
    ///
    /// # Errors
    /// A validation error on the record, [`CrmError::SeatLimitReached`], storage errors.
    #[operation("crm.upsert_staff", tenant = tenant)]
    pub async fn upsert_staff(&self, tenant: &TenantId, staff: Staff) -> Result<()> {
        staff.validate()?;
        if staff.tenant != *tenant {
            return Err(marketingforce_core::Error::TenantIsolation {
                what: format!("staff {}", staff.id),
                owner: staff.tenant.to_string(),
                caller: tenant.to_string(),
            }
            .into());
        }
        if !staff.active {
            return self.store_staff(tenant, &staff).await;
        }
        // Whether the member already held a seat (when that cannot be read: assume so, so as
        // never to release a seat in use).
        let held = match self.staff(tenant, &staff.id).await {
            Ok(s) => s.active,
            Err(CrmError::UnknownStaff(_)) => false,
            Err(_) => true,
        };
        self.seats.assign(tenant, &staff.id).await?;
        let stored = self.store_staff(tenant, &staff).await;
        if let Err(e) = &stored {
            if !held && e.kind() != ErrorKind::OutcomeUnknown {
                // The store's error is the answer; a gate that cannot release keeps the seat.
                let _ = self.seats.release(tenant, &staff.id).await;
            }
        }
        stored
    }

    /// Write a staff member's record and put it in the tenant's state.
    async fn store_staff(&self, tenant: &TenantId, staff: &Staff) -> Result<()> {
        self.retry_stale(|| async {
            let mut guard = self.state(tenant).await?;
            let st = guard.as_mut().ok_or(CrmError::UnknownStaff(staff.id))?;
            let mut batch = Batch::new();
            batch.put_entity(tenant, staff, Expect::Any)?;
            st.stale = true;
            if let Written::Committed(position) = self
                .commit_fenced(
                    tenant,
                    st.position,
                    batch,
                    &[],
                    Some(Facts::of(&[], true, false)),
                )
                .await?
            {
                st.position = position;
                st.stale = false;
            }
            st.alloc.set_staff(
                staff.id,
                staff.active && staff.role.takes_leads(),
                staff.capacity,
                staff.team,
            );
            st.staff.insert(staff.id, staff.clone());
            Ok(())
        })
        .await
    }

    /// A staff member.
    ///
    /// # Errors
    /// [`CrmError::UnknownStaff`].
    #[operation("crm.staff", tenant = tenant)]
    pub async fn staff(&self, tenant: &TenantId, id: &UserId) -> Result<Staff> {
        let guard = self.state(tenant).await?;
        guard
            .as_ref()
            .and_then(|st| st.staff.get(id).cloned())
            .ok_or(CrmError::UnknownStaff(*id))
    }

    /// The open leads each staff member holds, as allocation counts them against capacities
    /// and for least-loaded rules (members holding none are left out). Read from this
    /// process's state of the tenant, brought up to date with other processes' writes first.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use marketingforce_core::env::Env;
    /// use marketingforce_core::storage::MemoryStore;
    /// use marketingforce_core::tenant::TenantId;
    /// use marketingforce_core::IdempotencyKey;
    /// use marketingforce_crm::allocation::{AllocationRule, Strategy};
    /// use marketingforce_crm::crypto::KeyRing;
    /// use marketingforce_crm::ids::UserId;
    /// use marketingforce_crm::model::Source;
    /// use marketingforce_crm::request::CaptureRequest;
    /// use marketingforce_crm::staff::{Role, Staff};
    /// use marketingforce_crm::{Crm, CrmConfig};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let env = Env::builder(Arc::new(MemoryStore::new()))
    ///     .keys(Arc::new(KeyRing::new("k1", [7; 32])))
    ///     .build();
    /// let sales = UserId::new();
    /// let mut config = CrmConfig::default();
    /// config.allocation.rules = vec![AllocationRule::new("all", Strategy::LeastLoaded, vec![sales])];
    /// let crm = Crm::builder(&env).config(config).build().unwrap();
    /// let tenant = TenantId::new();
    /// let staff = Staff::new(sales, tenant, "王芳", Role::Salesperson, 2, env.clock().now());
    /// crm.upsert_staff(&tenant, staff).await.unwrap();
    /// for (i, mobile) in ["13800000001", "13800000002"].into_iter().enumerate() {
    ///     let request = CaptureRequest::new(Source::OwnSite).mobile(mobile);
    ///     let key = IdempotencyKey::new(format!("form-{i}")).unwrap();
    ///     crm.capture(&tenant, request, &key).await.unwrap();
    /// }
    /// crm.allocate_pending(&tenant, &IdempotencyKey::from_static("morning")).await.unwrap();
    /// assert_eq!(crm.workloads(&tenant).await.unwrap().get(&sales), Some(&2));
    /// # });
    /// ```
    ///
    /// # Errors
    /// Storage errors.
    #[operation("crm.workloads", tenant = tenant)]
    pub async fn workloads(
        &self,
        tenant: &TenantId,
    ) -> Result<std::collections::BTreeMap<UserId, u32>> {
        let guard = self.state(tenant).await?;
        Ok(guard
            .as_ref()
            .map(|st| st.alloc.loads())
            .unwrap_or_default())
    }

    fn allocate_in(
        &self,
        st: &mut TenantState,
        work: &mut Work,
        lead: &LeadId,
        exclude: Option<UserId>,
        reason: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Allocation> {
        let (decision, from, stage) = {
            let l = work.lead_mut(lead)?;
            let facts = LeadFacts {
                region: l.region.as_deref(),
                products: &l.product_interest,
                source: l.source().map_or(Source::Import, |t| t.source),
                score: l.score,
            };
            // The load is counted when the lead is settled below, from its new owner.
            (st.alloc.choose(&facts, exclude), l.owner, l.stage)
        };
        let actor = Actor::system("allocation");
        let out = match decision {
            Decision::Assign { to, rule } => {
                if matches!(stage, Stage::New | Stage::Pool) {
                    st.config
                        .lifecycle
                        .check(*lead, stage, Stage::Assigned, None)?;
                    set_stage(work, lead, Stage::Assigned, &actor, None, at)?;
                } else if !stage.is_open() {
                    return Err(CrmError::IllegalTransition {
                        lead: *lead,
                        from: stage.to_string(),
                        to: Stage::Assigned.to_string(),
                        allowed: "(closed leads are not allocated)".into(),
                    });
                }
                let team = st.staff.get(&to).and_then(|s| s.team);
                let l = work.lead_mut(lead)?;
                l.owner = Some(to);
                l.team = team;
                l.assigned_at = Some(at);
                l.first_follow_up_at = None;
                l.escalated_at = None;
                l.updated_at = at;
                work.events.push(LeadEvent {
                    lead: *lead,
                    at,
                    actor,
                    event: LeadEventKind::Assigned {
                        from,
                        to: Some(to),
                        rule: Some(rule.clone()),
                        reason: reason.into(),
                    },
                });
                Allocation::Assigned {
                    lead: *lead,
                    to,
                    rule,
                }
            }
            Decision::NoMatch { reason: why } => {
                self.pool_in(
                    &st.config.lifecycle,
                    work,
                    lead,
                    &format!("no_match: {why}"),
                    at,
                )?;
                Allocation::Pooled {
                    lead: *lead,
                    reason: why,
                }
            }
        };
        work.settle(lead, &mut st.alloc);
        Ok(out)
    }

    fn pool_in(
        &self,
        lifecycle: &LifecycleConfig,
        work: &mut Work,
        lead: &LeadId,
        reason: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let (from, stage) = {
            let l = work.lead_mut(lead)?;
            (l.owner, l.stage)
        };
        let actor = Actor::system("allocation");
        if stage != Stage::Pool {
            if lifecycle.allows(stage, Stage::Pool) {
                set_stage(work, lead, Stage::Pool, &actor, Some(reason), at)?;
            } else {
                let l = work.lead_mut(lead)?;
                l.owner = None;
                l.team = None;
                l.assigned_at = None;
            }
        }
        work.events.push(LeadEvent {
            lead: *lead,
            at,
            actor,
            event: LeadEventKind::Assigned {
                from,
                to: None,
                rule: None,
                reason: reason.into(),
            },
        });
        Ok(())
    }

    /// Allocate leads by the rules. Leads no rule can place go to the public pool and are
    /// reported as [`Allocation::Pooled`] with the reason. All leads go in one batch.
    ///
    /// # Errors
    /// [`CrmError::LeadNotFound`]/[`CrmError::LeadMerged`], an illegal transition for a lead in
    /// a closed stage, storage errors (then nothing is assigned).
    #[operation("crm.allocate", tenant = tenant, key = idempotency_key)]
    pub async fn allocate(
        &self,
        tenant: &TenantId,
        leads: &[LeadId],
        idempotency_key: &IdempotencyKey,
    ) -> Result<Vec<Allocation>> {
        let idempotency_key = idempotency_key.as_str();
        let idem = self.idempotent(tenant, idempotency_key, &("allocate", leads))?;
        if let Some(prev) = self.replayed::<Vec<Allocation>>(tenant, &idem).await? {
            return Ok(prev);
        }
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::NoIdentity)?;
        let txn = Crm::begin(st);
        let mut work = Work::default();
        let at = self.clock.now();
        let mut out = Vec::with_capacity(leads.len());
        let res: Result<()> = async {
            for id in leads {
                self.load_work(tenant, &mut work, id).await?;
                let status = work.lead_mut(id)?.status;
                match status {
                    LeadStatus::Active => {}
                    LeadStatus::Merged { into } => {
                        return Err(CrmError::LeadMerged { lead: *id, into })
                    }
                    LeadStatus::Erased { .. } => return Err(CrmError::LeadErased(*id)),
                }
                out.push(self.allocate_in(st, &mut work, id, None, "allocation", at)?);
            }
            Ok(())
        }
        .await;
        if let Err(e) = res {
            Crm::abort(st, txn);
            return Err(e);
        }
        let response = serde_json::to_vec(&out)?;
        match self
            .finish(tenant, st, txn, work, Some((&idem, response)))
            .await?
        {
            None => Ok(out),
            Some(stored) => Ok(serde_json::from_slice(&stored)?),
        }
    }

    /// Allocate every live `new` lead without an owner.
    ///
    /// # Errors
    /// As [`allocate`](Self::allocate).
    #[operation("crm.allocate_pending", tenant = tenant, key = idempotency_key)]
    pub async fn allocate_pending(
        &self,
        tenant: &TenantId,
        idempotency_key: &IdempotencyKey,
    ) -> Result<Vec<Allocation>> {
        let pending: Vec<LeadId> = self
            .leads()
            .lookup_all(tenant, "stage", Stage::New.as_str())
            .await?
            .into_iter()
            .filter(|v| v.value.is_active() && v.value.owner.is_none())
            .map(|v| v.value.id)
            .collect();
        self.allocate(tenant, &pending, idempotency_key).await
    }

    /// A staff member claims a lead from the public pool (their level must allow seeing it).
    ///
    /// # Errors
    /// [`CrmError::AccessDenied`], [`CrmError::IllegalTransition`] when the lead is not in the
    /// pool, storage errors.
    #[operation("crm.claim", tenant = tenant, key = idempotency_key)]
    pub async fn claim(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        user: &UserId,
        idempotency_key: &IdempotencyKey,
    ) -> Result<()> {
        let idempotency_key = idempotency_key.as_str();
        let idem = self.idempotent(tenant, idempotency_key, &("claim", lead, user))?;
        if self.replayed::<()>(tenant, &idem).await?.is_some() {
            return Ok(());
        }
        let current = self.read_active(tenant, lead).await?.value;
        self.authorize(tenant, user, &current).await?;
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::UnknownStaff(*user))?;
        st.config
            .lifecycle
            .check(*lead, current.stage, Stage::Assigned, None)?;
        let staff = st
            .staff
            .get(user)
            .cloned()
            .ok_or(CrmError::UnknownStaff(*user))?;
        if !staff.active || !staff.role.takes_leads() {
            return Err(CrmError::UnknownStaff(*user));
        }
        let txn = Crm::begin(st);
        let mut work = Work::default();
        let at = self.clock.now();
        self.load_work(tenant, &mut work, lead).await?;
        let actor = Actor::User(*user);
        set_stage(&mut work, lead, Stage::Assigned, &actor, None, at)?;
        let l = work.lead_mut(lead)?;
        l.owner = Some(*user);
        l.team = staff.team;
        l.assigned_at = Some(at);
        work.events.push(LeadEvent {
            lead: *lead,
            at,
            actor,
            event: LeadEventKind::Assigned {
                from: None,
                to: Some(*user),
                rule: None,
                reason: "claim".into(),
            },
        });
        self.finish(tenant, st, txn, work, Some((&idem, b"null".to_vec())))
            .await?;
        Ok(())
    }

    /// A salesperson leaves: their account is deactivated (seat released) and every open lead
    /// they held is reallocated by the rules (excluding them) or pooled — never lost.
    ///
    /// # Errors
    /// [`CrmError::UnknownStaff`], storage errors (then nothing changes).
    #[operation("crm.depart", tenant = tenant, key = idempotency_key)]
    pub async fn depart(
        &self,
        tenant: &TenantId,
        user: &UserId,
        idempotency_key: &IdempotencyKey,
    ) -> Result<Vec<Allocation>> {
        let idempotency_key = idempotency_key.as_str();
        let idem = self.idempotent(tenant, idempotency_key, &("depart", user))?;
        if let Some(prev) = self.replayed::<Vec<Allocation>>(tenant, &idem).await? {
            // The departure is stored; releasing the seat may be what failed the first time.
            self.seats.release(tenant, user).await?;
            return Ok(prev);
        }
        let held: Vec<LeadId> = self
            .leads()
            .lookup_all(tenant, "owner", &user.to_string())
            .await?
            .into_iter()
            .filter(|v| v.value.is_active() && v.value.stage.is_open())
            .map(|v| v.value.id)
            .collect();
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::UnknownStaff(*user))?;
        let mut staff = st
            .staff
            .get(user)
            .cloned()
            .ok_or(CrmError::UnknownStaff(*user))?;
        let txn = Crm::begin(st);
        st.alloc.set_staff(*user, false, staff.capacity, staff.team);
        staff.active = false;
        let mut work = Work::default();
        work.extra.put_entity(tenant, &staff, Expect::Any)?;
        work.staff_changed = true;
        let at = self.clock.now();
        let mut out = Vec::new();
        let res: Result<()> = async {
            for id in &held {
                self.load_work(tenant, &mut work, id).await?;
                out.push(self.allocate_in(st, &mut work, id, Some(*user), "departure", at)?);
            }
            Ok(())
        }
        .await;
        if let Err(e) = res {
            Crm::abort(st, txn);
            return Err(e);
        }
        let response = serde_json::to_vec(&out)?;
        let replay = self
            .finish(tenant, st, txn, work, Some((&idem, response)))
            .await?;
        if replay.is_none() {
            st.staff.insert(*user, staff);
        }
        drop(guard);
        // Also on a replay: the departure is stored either way, and the seat must follow it.
        self.seats.release(tenant, user).await?;
        match replay {
            Some(stored) => Ok(serde_json::from_slice(&stored)?),
            None => Ok(out),
        }
    }

    /// Apply the follow-up SLA and recycling at the current time:
    /// a lead assigned longer than `follow_up_within_hours` without a follow-up is escalated
    /// to the manager of its team; after `escalation_grace_hours` more it is reassigned or
    /// returned to the pool; open leads not converted within `no_conversion_days` of their
    /// assignment go to the pool.
    ///
    /// # Errors
    /// Storage errors (then nothing changes).
    #[operation("crm.sweep", tenant = tenant, key = idempotency_key)]
    pub async fn sweep(
        &self,
        tenant: &TenantId,
        idempotency_key: &IdempotencyKey,
    ) -> Result<SweepReport> {
        let idempotency_key = idempotency_key.as_str();
        let idem = self.idempotent(tenant, idempotency_key, &("sweep",))?;
        if let Some(prev) = self.replayed::<SweepReport>(tenant, &idem).await? {
            return Ok(prev);
        }
        let now = self.clock.now();
        let open: Vec<_> = self
            .leads()
            .lookup_all(tenant, "status", "active")
            .await?
            .into_iter()
            .filter(|v| v.value.stage.is_open() && v.value.owner.is_some())
            .collect();
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::NoIdentity)?;
        let config = st.config.clone();
        let cfg = &config.allocation;
        let txn = Crm::begin(st);
        let mut work = Work::default();
        let mut report = SweepReport::default();
        let follow = Duration::hours(i64::from(cfg.sla.follow_up_within_hours));
        let grace = Duration::hours(i64::from(cfg.sla.escalation_grace_hours));
        let res: Result<()> = async {
            for v in &open {
                let l = &v.value;
                let Some(assigned) = l.assigned_at else {
                    continue;
                };
                let recycle = cfg
                    .recycle
                    .no_conversion_days
                    .is_some_and(|d| now - assigned >= Duration::days(i64::from(d)));
                let breach = l.first_follow_up_at.is_none() && now - assigned >= follow;
                if !(recycle || breach) {
                    continue;
                }
                self.load_work(tenant, &mut work, &l.id).await?;
                if recycle {
                    self.pool_in(
                        &config.lifecycle,
                        &mut work,
                        &l.id,
                        "recycle: not converted in time",
                        now,
                    )?;
                    work.settle(&l.id, &mut st.alloc);
                    report.pooled.push(l.id);
                    continue;
                }
                match l.escalated_at {
                    None => {
                        let manager = l.team.and_then(|t| {
                            let mut ms: Vec<&Staff> = st
                                .staff
                                .values()
                                .filter(|s| {
                                    s.active && s.role == Role::Manager && s.manages.contains(&t)
                                })
                                .collect();
                            ms.sort_by_key(|s| s.id);
                            ms.first().map(|s| s.id)
                        });
                        let w = work.lead_mut(&l.id)?;
                        w.escalated_at = Some(now);
                        work.events.push(LeadEvent {
                            lead: l.id,
                            at: now,
                            actor: Actor::system("sla"),
                            event: LeadEventKind::Escalated { to: manager },
                        });
                        report.escalated.push(l.id);
                    }
                    Some(e) if now - e >= grace => match cfg.sla.on_breach {
                        Breach::Reassign => {
                            let a = self.allocate_in(st, &mut work, &l.id, l.owner, "sla", now)?;
                            report.reassigned.push(a);
                        }
                        Breach::ReturnToPool => {
                            self.pool_in(
                                &config.lifecycle,
                                &mut work,
                                &l.id,
                                "sla: not followed up",
                                now,
                            )?;
                            work.settle(&l.id, &mut st.alloc);
                            report.pooled.push(l.id);
                        }
                    },
                    Some(_) => {}
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = res {
            Crm::abort(st, txn);
            return Err(e);
        }
        let response = serde_json::to_vec(&report)?;
        match self
            .finish(tenant, st, txn, work, Some((&idem, response)))
            .await?
        {
            None => Ok(report),
            Some(stored) => Ok(serde_json::from_slice(&stored)?),
        }
    }
}
