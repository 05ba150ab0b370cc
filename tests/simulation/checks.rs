//! The invariants, checked after every step (cheap, from the live services and the store) and
//! periodically in depth (against services rebuilt from the store alone, as a restart would).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::Datelike;
use marketingforce_ads::account::{TopUp, TopUpState};
use marketingforce_ads::chart::PostingCode;
use marketingforce_ads::ledger::{Balance, LedgerEngine};
use marketingforce_ads::{AdOps, AdOpsConfig};
use marketingforce_content::distribution::PublicationStatus;
use marketingforce_core::env::Env;
use marketingforce_core::id::SeededIds;
use marketingforce_core::storage::Collection;
use marketingforce_core::time::Clock;
use marketingforce_crm::ids::LeadId;
use marketingforce_crm::model::LeadStatus;
use marketingforce_crm::Crm;
use marketingforce_modules::catalog::{ModuleId, UsageUnit};
use marketingforce_modules::entitlements::EntitlementRegistry;

use super::ops_crm::{email_of, mobile_of};
use super::world::{Failure, World, CHANNELS};

/// Which part of a tenant a step touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Entitlements, seats, usage.
    Modules,
    /// Leads and staff.
    Crm,
    /// Ad operations.
    Ads,
    /// Content.
    Content,
}

/// Every ledger account's balance, and the transfer count.
fn ledger_state(e: &LedgerEngine) -> (usize, BTreeMap<u128, Balance>) {
    (
        e.transfer_count(),
        e.accounts().map(|(a, b)| (a.id.get(), *b)).collect(),
    )
}

/// Debits minus credits over every account, posted and pending: zero in double entry.
fn trial_balance(e: &LedgerEngine) -> Vec<(String, i128, i128)> {
    e.trial_balance_at(u64::MAX)
        .into_iter()
        .filter(|(_, posted, pending)| *posted != 0 || *pending != 0)
        .map(|(c, posted, pending)| (c.to_string(), posted, pending))
        .collect()
}

impl World {
    /// The cheap checks of tenant `i` after a step in `domain`. Checks observe; they run with
    /// faults paused.
    pub async fn check(&mut self, i: usize, domain: Domain) -> Result<(), Failure> {
        let paused = self.faulty.is_paused();
        self.faulty.pause();
        let result = self.check_paused(i, domain).await;
        if !paused {
            self.faulty.resume();
        }
        result
    }

    async fn check_paused(&mut self, i: usize, domain: Domain) -> Result<(), Failure> {
        self.check_modules(i).await?;
        match domain {
            Domain::Modules => Ok(()),
            Domain::Crm => self.check_crm(i).await,
            Domain::Ads => self.check_ads(i).await,
            Domain::Content => self.check_content(i).await,
        }
    }

    /// Quotas never exceeded; usage equals the acknowledged events; seats equal the model.
    async fn check_modules(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let Some(ents) = self.svc.registry.cached(&t) else {
            return Ok(());
        };
        // The second process may have written since: read a current view.
        // An observer: no faults injected into its reads.
        let paused = self.faulty.is_paused();
        self.faulty.pause();
        let synced = ents.sync().await;
        if !paused {
            self.faulty.resume();
        }
        synced.map_err(|e| self.fail(format!("t{i} entitlements do not sync: {e}")))?;
        let m = &self.models[i];
        let today = self.today();
        let meter = ents.meter();
        let articles = meter.balance(&UsageUnit::ArticlesPublished);
        let expected = m
            .usage
            .consumed
            .get(&(today.year(), today.month()))
            .copied()
            .unwrap_or(0);
        if articles.used.get() != expected
            || articles.reserved.get() != 0
            || articles.limit.get() != m.usage.monthly_articles
        {
            return Err(self.fail(format!(
                "t{i} articles this month: used {} reserved {} limit {}; the model says used \
                 {expected} of {}",
                articles.used, articles.reserved, articles.limit, m.usage.monthly_articles
            )));
        }
        for b in meter.balances() {
            for bucket in &b.buckets {
                if bucket.used.get() + bucket.reserved.get() > bucket.limit.get() {
                    return Err(
                        self.fail(format!("t{i} quota exceeded: {} bucket {bucket:?}", b.unit))
                    );
                }
            }
        }
        let sop: BTreeSet<String> = ents
            .seat_holders(&ModuleId::CUSTOMER_SOP)
            .iter()
            .map(|a| a.as_str().to_string())
            .collect();
        if sop != m.usage.sop_seats || sop.len() > m.usage.sop_limit as usize {
            return Err(self.fail(format!(
                "t{i} SOP seats {sop:?}, the model says {:?} (limit {})",
                m.usage.sop_seats, m.usage.sop_limit
            )));
        }
        let workbench: BTreeSet<String> = ents
            .seat_holders(&ModuleId::SALES_WORKBENCH)
            .iter()
            .map(|a| a.as_str().to_string())
            .collect();
        let staff: BTreeSet<String> = m
            .crm
            .active_staff()
            .iter()
            .map(ToString::to_string)
            .collect();
        if workbench != staff || workbench.len() > m.crm.seat_limit as usize {
            return Err(self.fail(format!(
                "t{i} workbench seats {workbench:?}, active staff {staff:?} (limit {})",
                m.crm.seat_limit
            )));
        }
        Ok(())
    }

    /// No lead lost or duplicated: the live leads are exactly one per connected group of a
    /// person's captures; every lead is this tenant's and known; owners are active staff
    /// within capacity.
    async fn check_crm(&mut self, i: usize) -> Result<(), Failure> {
        let leads = self.stored_leads(i).await?;
        let m = &self.models[i].crm;
        let live = World::live(&leads).count();
        if live != m.expected_live_leads() {
            return Err(self.fail(format!(
                "t{i} has {live} live leads, the model expects {} ({} persons captured)",
                m.expected_live_leads(),
                m.persons.len()
            )));
        }
        let mut load: BTreeMap<String, u32> = BTreeMap::new();
        for l in &leads {
            if l.tenant != self.tenants[i] || !m.leads.contains(&l.id) {
                return Err(self.fail(format!(
                    "t{i} store holds lead {} of tenant {} that no capture of this tenant returned",
                    l.id, l.tenant
                )));
            }
            if l.is_active() && l.stage.is_open() {
                if let Some(owner) = l.owner {
                    if m.staff.get(&owner) != Some(&true) {
                        return Err(self.fail(format!(
                            "t{i} open lead {} is owned by {owner}, who is not active staff",
                            l.id
                        )));
                    }
                    *load.entry(owner.to_string()).or_insert(0) += 1;
                }
            }
        }
        if let Some((owner, n)) = load.iter().find(|(_, n)| **n > m.capacity) {
            return Err(self.fail(format!(
                "t{i} {owner} holds {n} open leads, capacity {}",
                m.capacity
            )));
        }
        // Each process counts the loads the stored leads say (its state brought up to date
        // first): a miscount would place leads against capacities that are not there.
        let processes =
            std::iter::once(self.svc.crm.clone()).chain(self.other.as_ref().map(|o| o.crm.clone()));
        for (p, crm) in processes.enumerate() {
            let counted: BTreeMap<String, u32> = crm
                .workloads(&self.tenants[i])
                .await
                .map_err(|e| self.fail(format!("t{i} process {p}: workloads: {e}")))?
                .into_iter()
                .map(|(u, n)| (u.to_string(), n))
                .collect();
            if counted != load {
                return Err(self.fail(format!(
                    "t{i} process {p} counts open leads {counted:?}, the stored leads {load:?}"
                )));
            }
        }
        Ok(())
    }

    /// Exposure within credit limits; one hold per acknowledged top-up, all confirmed.
    async fn check_ads(&mut self, i: usize) -> Result<(), Failure> {
        let ops = self.svc.ads[i].clone();
        for (c, (customer, limit)) in self.models[i].ads.customers.iter().enumerate() {
            let e = ops
                .exposure(customer)
                .await
                .map_err(|e| self.fail(format!("t{i} customer {c} exposure unreadable: {e}")))?;
            if e.exposure.amount() > limit.amount() {
                return Err(self.fail(format!(
                    "t{i} customer {c} exposure {} over its credit limit {limit}: {e:?}",
                    e.exposure
                )));
            }
        }
        let holds = ops
            .ledger()
            .read(|e| {
                e.transfers()
                    .filter(|t| t.code() == PostingCode::TopUp.code())
                    .count()
            })
            .await
            .unwrap();
        let top_ups = &self.models[i].ads.top_ups;
        if holds != top_ups.len() {
            return Err(self.fail(format!(
                "t{i} ledger holds {holds} top-ups, {} were acknowledged",
                top_ups.len()
            )));
        }
        let records = Collection::<TopUp>::new(self.inner.clone());
        for id in top_ups.keys() {
            let r = records
                .get(&self.tenants[i], &id.to_string())
                .await
                .map_err(|e| self.fail(e.to_string()))?;
            match r {
                Some(v) if matches!(v.value.state, TopUpState::Confirmed { .. }) => {}
                other => {
                    return Err(self.fail(format!("t{i} acknowledged top-up {id} is {other:?}")))
                }
            }
        }
        let tb = ops.ledger().read(trial_balance).await.unwrap();
        if !tb.is_empty() {
            return Err(self.fail(format!("t{i} trial balance is not zero: {tb:?}")));
        }
        Ok(())
    }

    /// Release quota: units used equal the units of published publications, within the limit;
    /// the channels published exactly what we recorded as published.
    async fn check_content(&mut self, i: usize) -> Result<(), Failure> {
        let (used, reserved, limit) = self.publication_usage(i).await?;
        let publications = self.stored_publications(i).await?;
        let mut published_units = 0;
        for p in &publications {
            if p.tenant != self.tenants[i] {
                return Err(self.fail(format!("t{i} holds publication {} of {}", p.id, p.tenant)));
            }
            if matches!(p.status, PublicationStatus::Published(_)) {
                published_units += p.quota_units;
            }
        }
        if used != published_units || used + reserved > limit {
            return Err(self.fail(format!(
                "t{i} publication units used {used} (+{reserved} held, limit {limit}), \
                 published publications account for {published_units}"
            )));
        }
        let mut per_channel = vec![0usize; CHANNELS.len()];
        for j in 0..self.tenants.len() {
            for p in self.stored_publications(j).await? {
                if matches!(p.status, PublicationStatus::Published(_)) {
                    if let Some(c) = CHANNELS.iter().position(|c| *c == p.command.channel) {
                        per_channel[c] += 1;
                    }
                }
            }
        }
        for (c, n) in per_channel.iter().enumerate() {
            let on_channel = self.ext.channels[c].published_count();
            if on_channel != *n {
                return Err(self.fail(format!(
                    "channel {} shows {on_channel} items, we recorded {n} publications as published",
                    CHANNELS[c]
                )));
            }
        }
        Ok(())
    }

    /// Everything, against services rebuilt from the store alone.
    pub async fn deep_check(&mut self, why: &str) -> Result<(), Failure> {
        let paused = self.faulty.is_paused();
        self.faulty.pause();
        let result = self.deep_check_paused().await;
        if !paused {
            self.faulty.resume();
        }
        result?;
        self.note(format!(
            "deep check ({why}) passed; faults so far {:?}",
            self.faulty.counts()
        ));
        Ok(())
    }

    async fn deep_check_paused(&mut self) -> Result<(), Failure> {
        for i in 0..self.tenants.len() {
            for d in [Domain::Crm, Domain::Ads, Domain::Content] {
                self.check_paused(i, d).await?;
            }
            self.deep_modules(i).await?;
            self.deep_crm(i).await?;
            self.deep_ads(i).await?;
        }
        Ok(())
    }

    async fn deep_modules(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let fresh = EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(self.inner.clone())
                .clock(Arc::new(self.clock.clone()))
                .build(),
        )
        .build();
        let rebuilt = fresh
            .rebuild(&t)
            .await
            .map_err(|e| self.fail(format!("t{i} entitlements do not rebuild: {e}")))?
            .report();
        if let Some(live) = self.svc.registry.cached(&t) {
            // An observer: no faults injected into its reads.
            let paused = self.faulty.is_paused();
            self.faulty.pause();
            let synced = live.sync().await;
            if !paused {
                self.faulty.resume();
            }
            synced.map_err(|e| self.fail(format!("t{i} entitlements do not sync: {e}")))?;
            let live = live.report();
            if live != rebuilt {
                return Err(self.fail(format!(
                    "t{i} live entitlements differ from a rebuild from the store:\nlive    {live:?}\nrebuilt {rebuilt:?}"
                )));
            }
        }
        let keys: BTreeSet<&str> = rebuilt.event_keys.iter().map(String::as_str).collect();
        if let Some(k) = self.models[i]
            .usage
            .events
            .keys()
            .find(|k| !keys.contains(k.as_str()))
        {
            return Err(self.fail(format!("t{i} acknowledged usage event {k} is not stored")));
        }
        let stored_publications: u64 = rebuilt
            .usage
            .iter()
            .filter(|((unit, ..), _)| unit == UsageUnit::Publications.as_str())
            .map(|(_, n)| *n)
            .sum();
        let published: u64 = self
            .stored_publications(i)
            .await?
            .iter()
            .filter(|p| matches!(p.status, PublicationStatus::Published(_)))
            .map(|p| p.quota_units)
            .sum();
        if stored_publications != published {
            return Err(self.fail(format!(
                "t{i} stored publication usage {stored_publications}, published {published}"
            )));
        }
        Ok(())
    }

    async fn deep_crm(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        let fresh = Crm::builder(
            &marketingforce_core::env::Env::builder(self.inner.clone())
                .keys(self.keys.clone())
                .clock(clock.clone())
                .ids(Arc::new(SeededIds::new(0, clock)))
                .build(),
        )
        .config(self.crm_config.clone())
        .build()
        .map_err(|e| self.fail(e.to_string()))?;
        let persons: Vec<(usize, super::model::PersonState)> = self.models[i]
            .crm
            .persons
            .iter()
            .map(|(p, s)| (*p, s.clone()))
            .collect();
        let mut owner_of: BTreeMap<LeadId, usize> = BTreeMap::new();
        for (p, state) in persons {
            let by_mobile = fresh
                .find_by_mobile(&t, &mobile_of(p, 0))
                .await
                .map_err(|e| self.fail(e.to_string()))?;
            let by_email = fresh
                .find_by_email(&t, &email_of(p, 0))
                .await
                .map_err(|e| self.fail(e.to_string()))?;
            let want_mobile = usize::from(state.has_mobile());
            let want_email = usize::from(state.has_email());
            if by_mobile.len() != want_mobile
                || by_email.len() != want_email
                || (state.both && by_mobile != by_email)
            {
                return Err(self.fail(format!(
                    "t{i} person {p}: leads by mobile {by_mobile:?}, by email {by_email:?}; the \
                     model: {state:?}"
                )));
            }
            let mut found: BTreeSet<LeadId> = by_mobile.into_iter().collect();
            found.extend(by_email);
            let mut survivors = BTreeSet::new();
            for l in &state.leads {
                let s = fresh
                    .survivor(&t, l)
                    .await
                    .map_err(|e| self.fail(format!("t{i} survivor of {l}: {e}")))?;
                survivors.insert(s);
                let live = self
                    .call("survivor", async |s| s.crm.survivor(&t, l).await)
                    .await?;
                let live = live.result.map_err(|e| self.fail(e.to_string()))?;
                if live != s {
                    return Err(self.fail(format!(
                        "t{i} the live CRM says {l} lives on as {live}, a restarted one says {s}"
                    )));
                }
            }
            if survivors != found {
                return Err(self.fail(format!(
                    "t{i} person {p}: its captures live on as {survivors:?}, its keys find {found:?}"
                )));
            }
            for l in found {
                if let Some(other) = owner_of.insert(l, p) {
                    return Err(self.fail(format!(
                        "t{i} lead {l} holds persons {other} and {p}: two people merged"
                    )));
                }
            }
        }
        let leads = self.stored_leads(i).await?;
        for l in &leads {
            if let LeadStatus::Merged { into } = l.status {
                if !self.models[i].crm.leads.contains(&into) {
                    return Err(self.fail(format!("t{i} lead {} merged into unknown {into}", l.id)));
                }
            }
        }
        Ok(())
    }

    async fn deep_ads(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        let fresh = AdOps::builder(
            &Env::builder(self.inner.clone())
                .clock(clock.clone())
                .ids(Arc::new(SeededIds::new(0, clock)))
                .build(),
            t,
        )
        .open()
        .await
        .map_err(|e| {
            self.fail(format!(
                "t{i} the ads books do not reopen from the store: {e}"
            ))
        })?;
        let rebuilt = fresh.ledger().read(ledger_state).await.unwrap();
        let live = self.svc.ads[i].ledger().read(ledger_state).await.unwrap();
        if rebuilt != live {
            let differ: Vec<String> = rebuilt
                .1
                .iter()
                .filter(|(id, b)| live.1.get(id) != Some(b))
                .map(|(id, b)| format!("account {id}: stored {b:?}, live {:?}", live.1.get(id)))
                .take(5)
                .collect();
            return Err(self.fail(format!(
                "t{i} the live ledger ({} transfers) differs from the journal ({} transfers): {differ:?}",
                live.0, rebuilt.0
            )));
        }
        let tb = fresh.ledger().read(trial_balance).await.unwrap();
        if !tb.is_empty() {
            return Err(self.fail(format!("t{i} stored trial balance is not zero: {tb:?}")));
        }
        Ok(())
    }
}
