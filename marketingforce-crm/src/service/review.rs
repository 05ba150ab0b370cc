//! The possible-duplicates review queue: pairs of leads whose match weight fell between the
//! tenant's review and auto-merge thresholds, proposed by captures and decided by a human.
//!
//! **Several processes.** Each pair is one record in the tenant's store (key `<a>:<b>`), put
//! with `Expect::Absent` by the capture that proposed it and updated with `Expect::Version`
//! by its decision, both inside the tenant's fenced commit (the `crm.writes` journal head):
//! a process whose in-memory state is behind — it has not seen a proposal or a decision of
//! another process — has its commit refused, catches up with that process's writes (the pairs
//! they proposed, so a pair is never proposed twice, and the leads' `separated_from`, so a
//! rejected pair is never merged; or rebuilds, loading every pair of the queue) and decides
//! again. A decision re-reads the record after any such refusal, so a
//! pair cannot be accepted or rejected twice; retrying with the same idempotency key returns
//! the first answer.

use marketingforce_core::storage::{Collection, Expect};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;

use super::{Crm, Work};
use crate::error::{CrmError, Result};
use crate::events::{DuplicateRejected, ReviewFact};
use crate::ids::LeadId;
use crate::model::{Actor, LeadStatus, MatchEvidence, PossibleDuplicate, ReviewStatus};

impl Crm {
    fn duplicates(&self) -> Collection<PossibleDuplicate> {
        Collection::new(self.store.clone())
    }

    /// The pending possible duplicates of a tenant (oldest proposal first), each with its
    /// match weight and explanation (fields and levels, never values).
    ///
    /// # Errors
    /// Storage errors.
    #[operation("crm.possible_duplicates", tenant = tenant)]
    pub async fn possible_duplicates(&self, tenant: &TenantId) -> Result<Vec<PossibleDuplicate>> {
        let mut out: Vec<PossibleDuplicate> = self
            .duplicates()
            .lookup_all(tenant, "status", ReviewStatus::Pending.as_str())
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect();
        out.sort_by(|x, y| {
            x.proposed_at
                .cmp(&y.proposed_at)
                .then((x.a, x.b).cmp(&(y.a, y.b)))
        });
        Ok(out)
    }

    /// The review record of the pair `(a, b)` (either order), whatever its status.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("crm.possible_duplicate", tenant = tenant)]
    pub async fn possible_duplicate(
        &self,
        tenant: &TenantId,
        a: LeadId,
        b: LeadId,
    ) -> Result<Option<PossibleDuplicate>> {
        Ok(self
            .duplicates()
            .get(tenant, &PossibleDuplicate::key_of(a, b))
            .await?
            .map(|v| v.value))
    }

    /// Estimate a matching model from the tenant's own captures (every contribution in its
    /// vault, as the records the capture path compares): `u` by random pairs, `m` by EM over
    /// the blocked pairs ([`estimate::train`](crate::matching::estimate::train)); fields and
    /// the prior with too little data keep the documented defaults, as the report says.
    /// Nothing is stored: to use it, put it in the tenant's configuration
    /// (`dedupe.fuzzy.model`) with [`configure`](Self::configure) — per tenant, loaded by
    /// every process on its rebuild — after checking the report, and re-check the bands'
    /// thresholds against it (a trained prior shifts every weight).
    ///
    /// # Errors
    /// Crypto or storage errors.
    #[operation("crm.train_match_model", tenant = tenant)]
    pub async fn train_match_model(
        &self,
        tenant: &TenantId,
    ) -> Result<(
        crate::matching::weights::Model,
        crate::matching::estimate::TrainingReport,
    )> {
        let ix = self.tenant_indexer(tenant)?;
        let mut records = Vec::new();
        for v in self.vaults().list_all(tenant).await? {
            let pii = self.open_vault(tenant, &v.value)?;
            for c in &pii.contributions {
                if let Some(r) =
                    crate::dedupe::MatchKeys::of(&c.identity, c.source.as_str(), &ix).record
                {
                    records.push(*r);
                }
            }
        }
        Ok(crate::matching::estimate::train(
            &records,
            &crate::matching::blocking::Blocking::default(),
            &crate::matching::estimate::TrainingConfig::default(),
        ))
    }

    /// Accept a possible duplicate: the two leads (or the leads they now belong to) are merged
    /// into the older one, the match explanation kept in its lineage
    /// ([`Lead::match_evidence`](crate::model::Lead::match_evidence), rule `review`). Returns
    /// the survivor. Un-merge works as for any merge.
    ///
    /// # Errors
    /// [`CrmError::DuplicateNotProposed`], [`CrmError::DuplicateAlreadyDecided`] (with another
    /// idempotency key: a decision applies once), [`CrmError::LeadErased`], storage errors.
    #[operation("crm.accept_duplicate", tenant = tenant, key = idempotency_key)]
    pub async fn accept_duplicate(
        &self,
        tenant: &TenantId,
        a: LeadId,
        b: LeadId,
        actor: &Actor,
        idempotency_key: &IdempotencyKey,
    ) -> Result<LeadId> {
        self.retry_stale(|| self.decide_once(tenant, a, b, true, actor, idempotency_key.as_str()))
            .await
    }

    /// Reject a possible duplicate: the two leads are different people — the pair is never
    /// proposed again, and no capture merges them (each lead's `separated_from` names the
    /// other, as after an un-merge).
    ///
    /// # Errors
    /// As [`accept_duplicate`](Self::accept_duplicate).
    #[operation("crm.reject_duplicate", tenant = tenant, key = idempotency_key)]
    pub async fn reject_duplicate(
        &self,
        tenant: &TenantId,
        a: LeadId,
        b: LeadId,
        actor: &Actor,
        idempotency_key: &IdempotencyKey,
    ) -> Result<()> {
        self.retry_stale(|| self.decide_once(tenant, a, b, false, actor, idempotency_key.as_str()))
            .await
            .map(|_| ())
    }

    async fn decide_once(
        &self,
        tenant: &TenantId,
        a: LeadId,
        b: LeadId,
        accept: bool,
        actor: &Actor,
        idempotency_key: &str,
    ) -> Result<LeadId> {
        let (a, b) = crate::dedupe::pair_of(a, b);
        let idem = self.idempotent(
            tenant,
            idempotency_key,
            &(
                if accept {
                    "accept_duplicate"
                } else {
                    "reject_duplicate"
                },
                a,
                b,
            ),
        )?;
        if let Some(prev) = self.replayed::<LeadId>(tenant, &idem).await? {
            return Ok(prev);
        }
        let mut guard = self.state(tenant).await?;
        let st = guard
            .as_mut()
            .ok_or(CrmError::DuplicateNotProposed { a, b })?;
        // Read after the state: a decision committed by another process moved the journal
        // head, so this state was rebuilt and the record read here is at least as new.
        let rec = self
            .duplicates()
            .get(tenant, &PossibleDuplicate::key_of(a, b))
            .await?
            .ok_or(CrmError::DuplicateNotProposed { a, b })?;
        if rec.value.status != ReviewStatus::Pending {
            return Err(CrmError::DuplicateAlreadyDecided {
                a,
                b,
                decision: rec.value.status.as_str().to_string(),
            });
        }
        let cfg = st.config.clone();
        let txn = Crm::begin(st);
        let mut work = Work::default();
        let at = self.clock.now();
        let res: Result<(LeadId, PossibleDuplicate)> = async {
            let sa = st.engine.survivor(a).ok_or(CrmError::LeadErased(a))?;
            let sb = st.engine.survivor(b).ok_or(CrmError::LeadErased(b))?;
            let mut decided = rec.value.clone();
            decided.decided_at = Some(at);
            decided.decided_by = Some(actor.clone());
            let survivor = if accept {
                let (survivor, absorbed) = if sa <= sb { (sa, sb) } else { (sb, sa) };
                if survivor != absorbed {
                    st.engine.link(absorbed, survivor)?;
                    self.load_work(tenant, &mut work, &survivor).await?;
                    self.absorb(
                        &cfg, tenant, &mut work, survivor, absorbed, "review", actor, at,
                    )
                    .await?;
                    work.lead_mut(&survivor)?
                        .match_evidence
                        .push(MatchEvidence {
                            absorbed: Some(absorbed),
                            rule: "review".to_string(),
                            at,
                            explanation: rec.value.explanation.clone(),
                        });
                }
                decided.status = ReviewStatus::Accepted { survivor };
                survivor
            } else {
                if sa != sb {
                    st.engine.separate(sa, sb)?;
                    for (x, y) in [(sa, sb), (sb, sa)] {
                        self.load_work(tenant, &mut work, &x).await?;
                        let l = work.lead_mut(&x)?;
                        if matches!(l.status, LeadStatus::Active) && !l.separated_from.contains(&y)
                        {
                            l.separated_from.push(y);
                            l.updated_at = l.updated_at.max(at);
                        }
                    }
                }
                decided.status = ReviewStatus::Rejected;
                work.reviews.push(ReviewFact::Rejected(DuplicateRejected {
                    a,
                    b,
                    by: actor.clone(),
                }));
                sa.min(sb)
            };
            Ok((survivor, decided))
        }
        .await;
        let (survivor, decided) = match res {
            Ok(x) => x,
            Err(e) => {
                Crm::abort(st, txn);
                return Err(e);
            }
        };
        if let Err(e) = work
            .extra
            .put_entity(tenant, &decided, Expect::Version(rec.version))
        {
            Crm::abort(st, txn);
            return Err(e.into());
        }
        let response = serde_json::to_vec(&survivor)?;
        let finished = self
            .finish(tenant, st, txn, work, Some((&idem, response)))
            .await?;
        match finished {
            None => Ok(survivor),
            Some(stored) => Ok(serde_json::from_slice(&stored)?),
        }
    }
}
