//! Masked views, unmasked reads with an access log, PIPL erasure and export.

use chrono::{DateTime, Utc};
use marketingforce_core::storage::{Batch, Collection, Expect, Journal, Page, PageRequest};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;
use serde::{Deserialize, Serialize};

use super::{Crm, TenantState, Work, WorkVault};
use crate::access::mask;
use crate::error::{CrmError, Result};
use crate::ids::{LeadId, UserId};
use crate::lifecycle::{LeadEvent, LeadEventKind};
use crate::model::{
    Actor, Identity, Lead, LeadStatus, PossibleDuplicate, ReviewStatus, Source, Stage,
};
use crate::profile::{BehaviourEvent, BEHAVIOUR_JOURNAL};
use crate::staff::{Role, Staff};
use crate::survivorship::{Field, GoldenIdentity};

/// The journal of personal-data access.
pub const ACCESS_LOG_JOURNAL: &str = "crm.access_log";

/// What an access-log entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum AccessOutcome {
    /// Fields were shown unmasked.
    Unmasked {
        /// Which.
        fields: Vec<Field>,
    },
    /// Access was refused.
    Denied {
        /// Why.
        reason: String,
    },
    /// The contact's data was exported (PIPL).
    Exported,
    /// The contact's data was erased (PIPL).
    Erased,
}

/// One entry of the access log: who, which lead, why, what happened. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// Which lead.
    pub lead: LeadId,
    /// The stated purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: AccessOutcome,
}

/// A lead as a staff member sees it: fields masked unless their level allows and they gave a
/// purpose (then the read is logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadView {
    /// The lead.
    pub lead: LeadId,
    /// Stage.
    pub stage: Stage,
    /// Owner.
    pub owner: Option<UserId>,
    /// First source.
    pub source: Option<Source>,
    /// Region.
    pub region: Option<String>,
    /// Products.
    pub product_interest: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Score.
    pub score: i64,
    /// Name (masked unless listed in `unmasked`).
    pub name: Option<String>,
    /// Mobile.
    pub mobile: Option<String>,
    /// Other phone.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// WeCom id.
    pub wecom_id: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Fields shown unmasked.
    pub unmasked: Vec<Field>,
}

/// Everything stored about a contact, for a PIPL access/portability request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactExport {
    /// The lead record.
    pub lead: Lead,
    /// The golden identity with every alternate value.
    pub identity: GoldenIdentity,
    /// Every capture: source, time and values.
    pub captures: Vec<ExportedCapture>,
    /// The history of the lead and of every lead merged into it, oldest first.
    pub history: Vec<LeadEvent>,
    /// The behaviour events of the lead and of every lead merged into it.
    pub behaviour: Vec<BehaviourEvent>,
}

/// One capture in an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedCapture {
    /// Source.
    pub source: Source,
    /// When.
    pub at: DateTime<Utc>,
    /// Values as captured (normalised), of the fields subject to survivorship.
    pub values: std::collections::BTreeMap<Field, String>,
    /// Everything this capture stored about the person, opened from the vault: the values
    /// above and the other identity fields (name parts, date of birth, ID document, postcode,
    /// address, WeChat ids, company registration code).
    pub identity: Identity,
}

fn staff_of<'a>(st: &'a TenantState, id: &UserId) -> Result<&'a Staff> {
    st.staff.get(id).ok_or(CrmError::UnknownStaff(*id))
}

impl Crm {
    async fn log_access(&self, tenant: &TenantId, entry: &AccessEntry) -> Result<()> {
        let mut b = Batch::new();
        b.append_json(ACCESS_LOG_JOURNAL, entry)?;
        self.store.commit(tenant, b).await?;
        Ok(())
    }

    /// Whether `viewer` may see `lead`; refusals are written to the access log.
    ///
    /// # Errors
    /// [`CrmError::AccessDenied`], [`CrmError::UnknownStaff`], storage errors.
    pub(crate) async fn authorize(
        &self,
        tenant: &TenantId,
        viewer: &UserId,
        lead: &Lead,
    ) -> Result<Staff> {
        let (staff, owner, config) = {
            let guard = self.state(tenant).await?;
            let st = guard.as_ref().ok_or(CrmError::UnknownStaff(*viewer))?;
            let staff = staff_of(st, viewer)?.clone();
            let owner = lead.owner.and_then(|o| st.staff.get(&o).cloned());
            (staff, owner, st.config.clone())
        };
        if let Err(reason) = config.access.can_see(&staff, lead, owner.as_ref()) {
            self.log_access(
                tenant,
                &AccessEntry {
                    at: self.clock.now(),
                    actor: Actor::User(*viewer),
                    lead: lead.id,
                    purpose: None,
                    outcome: AccessOutcome::Denied {
                        reason: reason.clone(),
                    },
                },
            )
            .await?;
            return Err(CrmError::AccessDenied {
                viewer: *viewer,
                lead: lead.id,
                reason,
            });
        }
        Ok(staff)
    }

    /// A lead as `viewer` sees it. Without a `purpose` every personal field is masked; with
    /// one, the fields the viewer's level allows are shown unmasked and the read is logged
    /// (before the data is returned).
    ///
    /// # Errors
    /// [`CrmError::AccessDenied`] (logged) when the viewer may not see the lead; a validation
    /// error on a blank purpose; storage errors.
    #[operation("crm.view_lead", tenant = tenant)]
    pub async fn view_lead(
        &self,
        tenant: &TenantId,
        viewer: &UserId,
        lead: &LeadId,
        purpose: Option<&str>,
    ) -> Result<LeadView> {
        if purpose.is_some_and(|p| p.trim().is_empty() || p.chars().count() > 200) {
            return Err(CrmError::validation("purpose", "must be 1-200 characters"));
        }
        let l = self.read_active(tenant, lead).await?.value;
        let staff = self.authorize(tenant, viewer, &l).await?;
        let config = self.config_for(tenant).await?;
        let pii = match self.vaults().get(tenant, &lead.to_string()).await? {
            Some(v) => self.open_vault(tenant, &v.value)?,
            None => Default::default(),
        };
        let g = GoldenIdentity::from_contributions(&pii.contributions, &config.survivorship);
        let mut unmasked = Vec::new();
        let mut show = |field: Field, v: &Option<String>| -> Option<String> {
            let v = v.as_ref()?;
            if purpose.is_some() && config.access.unmasked(&staff, &l, field) {
                unmasked.push(field);
                Some(v.clone())
            } else {
                Some(mask(field, v))
            }
        };
        let view = LeadView {
            lead: l.id,
            stage: l.stage,
            owner: l.owner,
            source: l.source().map(|t| t.source),
            region: l.region.clone(),
            product_interest: l.product_interest.clone(),
            tags: l.tags.iter().cloned().collect(),
            score: l.score,
            name: show(Field::Name, &g.name),
            mobile: show(Field::Mobile, &g.mobile),
            phone: show(Field::Phone, &g.phone),
            email: show(Field::Email, &g.email),
            wecom_id: show(Field::WecomId, &g.wecom_id),
            company: show(Field::Company, &g.company),
            unmasked: Vec::new(),
        };
        let view = LeadView { unmasked, ..view };
        if !view.unmasked.is_empty() {
            self.log_access(
                tenant,
                &AccessEntry {
                    at: self.clock.now(),
                    actor: Actor::User(*viewer),
                    lead: l.id,
                    purpose: purpose.map(str::to_string),
                    outcome: AccessOutcome::Unmasked {
                        fields: view.unmasked.clone(),
                    },
                },
            )
            .await?;
        }
        Ok(view)
    }

    /// One page of the access log, oldest first (the log grows with every access to personal
    /// data: page through it with [`Page::next`](marketingforce_core::storage::Page::next)).
    ///
    /// # Errors
    /// A validation error on `page.limit` or `page.after`; storage errors.
    #[operation("crm.access_log", tenant = tenant)]
    pub async fn access_log(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<AccessEntry>> {
        Ok(
            Journal::<AccessEntry>::new(self.store.clone(), ACCESS_LOG_JOURNAL)
                .page(tenant, page)
                .await?,
        )
    }

    async fn require_admin(&self, tenant: &TenantId, actor: &Actor) -> Result<()> {
        if let Actor::User(u) = actor {
            let guard = self.state(tenant).await?;
            let st = guard.as_ref().ok_or(CrmError::UnknownStaff(*u))?;
            let s = staff_of(st, u)?;
            if !(s.active && s.role == Role::Admin) {
                return Err(CrmError::validation(
                    "actor",
                    "PIPL requests are executed by an active administrator",
                ));
            }
        }
        Ok(())
    }

    /// `lead` and every lead merged into it, directly or through a lead merged into it in turn
    /// (`merged_from` names only the leads merged directly), `lead` first.
    async fn lineage(&self, tenant: &TenantId, lead: &Lead) -> Result<Vec<LeadId>> {
        let mut lineage = vec![lead.id];
        let mut next = lead.merged_from.clone();
        while let Some(id) = next.pop() {
            if lineage.contains(&id) {
                continue;
            }
            lineage.push(id);
            next.extend(self.read_lead(tenant, &id).await?.value.merged_from);
        }
        Ok(lineage)
    }

    /// Export everything stored about the contact of `lead` (PIPL access and portability): the
    /// captures, history and behaviour of the lead and of every lead merged into it.
    ///
    /// # Errors
    /// A validation error on `actor` when it is not an administrator; storage errors.
    #[operation("crm.export_contact", tenant = tenant)]
    pub async fn export_contact(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        actor: &Actor,
    ) -> Result<ContactExport> {
        self.require_admin(tenant, actor).await?;
        let l = self.read_active(tenant, lead).await?.value;
        let pii = match self.vaults().get(tenant, &lead.to_string()).await? {
            Some(v) => self.open_vault(tenant, &v.value)?,
            None => Default::default(),
        };
        let identity = GoldenIdentity::from_contributions(
            &pii.contributions,
            &self.config_for(tenant).await?.survivorship,
        );
        let captures = pii
            .contributions
            .iter()
            .map(|c| {
                let mut values = std::collections::BTreeMap::new();
                let id = &c.identity;
                for (f, v) in [
                    (Field::Name, id.name.clone()),
                    (Field::Mobile, id.mobile.as_ref().map(|m| m.to_string())),
                    (Field::Phone, id.phone.as_ref().map(|p| p.to_string())),
                    (Field::Email, id.email.as_ref().map(|e| e.to_string())),
                    (
                        Field::WecomId,
                        id.wecom_id.as_ref().map(|w| w.as_str().to_string()),
                    ),
                    (Field::Company, id.company.clone()),
                    (Field::Region, id.region.clone()),
                ] {
                    if let Some(v) = v {
                        values.insert(f, v);
                    }
                }
                ExportedCapture {
                    source: c.source,
                    at: c.at,
                    values,
                    identity: c.identity.clone(),
                }
            })
            .collect();
        let lineage = self.lineage(tenant, &l).await?;
        // The history of every lead of the lineage: a merged lead's captures, stage changes and
        // assignments are about the same person.
        let mut history = Vec::new();
        for id in &lineage {
            history.extend(self.history(tenant, id).await?);
        }
        history.sort_by_key(|e| e.at);
        let behaviour = super::scan::entries_about(
            self.store.as_ref(),
            tenant,
            BEHAVIOUR_JOURNAL,
            &lineage,
            |e: &BehaviourEvent| lineage.contains(&e.lead),
        )
        .await?;
        self.log_access(
            tenant,
            &AccessEntry {
                at: self.clock.now(),
                actor: actor.clone(),
                lead: l.id,
                purpose: Some("pipl_export".into()),
                outcome: AccessOutcome::Exported,
            },
        )
        .await?;
        Ok(ContactExport {
            lead: l,
            identity,
            captures,
            history,
            behaviour,
        })
    }

    /// Erase the contact of `lead` (PIPL deletion): its sealed personal data and every blind
    /// index are deleted (they only ever lived in the vault record), the dedupe engine forgets
    /// its keys, consents are marked withdrawn. The lead record stays, without personal data,
    /// as `erased`, so counts and funnels stay correct. Returns the erased lead (the survivor
    /// of `lead`'s merge lineage).
    ///
    /// # Errors
    /// A validation error on `actor` when it is not an administrator; storage errors.
    #[operation("crm.erase_contact", tenant = tenant, key = idempotency_key)]
    pub async fn erase_contact(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        actor: &Actor,
        idempotency_key: &IdempotencyKey,
    ) -> Result<LeadId> {
        let idempotency_key = idempotency_key.as_str();
        self.require_admin(tenant, actor).await?;
        let idem = self.idempotent(tenant, idempotency_key, &("erase", lead))?;
        if let Some(prev) = self.replayed::<LeadId>(tenant, &idem).await? {
            return Ok(prev);
        }
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::LeadNotFound(*lead))?;
        let root = st
            .engine
            .survivor(*lead)
            .ok_or(CrmError::LeadNotFound(*lead))?;
        let txn = Crm::begin(st);
        let mut work = Work::default();
        let at = self.clock.now();
        let res: Result<()> = async {
            self.load_work(tenant, &mut work, &root).await?;
            if let Some(v) = self.vaults().get(tenant, &root.to_string()).await? {
                work.vaults.insert(root, WorkVault::Delete(v.version));
            }
            let l = work.lead_mut(&root)?;
            l.status = LeadStatus::Erased { at };
            l.updated_at = at;
            for c in &mut l.consents {
                c.withdrawn_at.get_or_insert(at);
            }
            work.events.push(LeadEvent {
                lead: root,
                at,
                actor: actor.clone(),
                event: LeadEventKind::Erased,
            });
            let mut b = Batch::new();
            b.append_json(
                super::ACCESS_LOG_JOURNAL,
                &AccessEntry {
                    at,
                    actor: actor.clone(),
                    lead: root,
                    purpose: Some("pipl_erasure".into()),
                    outcome: AccessOutcome::Erased,
                },
            )?;
            // Pending possible duplicates of the erased lead (or of a lead merged into it)
            // are closed: nobody can decide about a person who is gone.
            let erased = work.lead_mut(&root)?.clone();
            let lineage = self.lineage(tenant, &erased).await?;
            let pending = Collection::<PossibleDuplicate>::new(self.store.clone())
                .lookup_all(tenant, "status", ReviewStatus::Pending.as_str())
                .await?;
            for p in pending {
                if lineage.contains(&p.value.a) || lineage.contains(&p.value.b) {
                    let mut closed = p.value;
                    closed.status = ReviewStatus::Withdrawn;
                    closed.decided_at = Some(at);
                    closed.decided_by = Some(actor.clone());
                    b.put_entity(tenant, &closed, Expect::Version(p.version))?;
                }
            }
            work.extra = b;
            Ok(())
        }
        .await;
        if let Err(e) = res {
            Crm::abort(st, txn);
            return Err(e);
        }
        let response = serde_json::to_vec(&root)?;
        // The engine forgets only after the erasure is durable; it is not part of the undo log.
        let replay = self
            .finish(tenant, st, txn, work, Some((&idem, response)))
            .await?;
        if replay.is_none() {
            st.engine.erase(root);
        }
        Ok(root)
    }
}
