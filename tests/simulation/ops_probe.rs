//! Probes: acknowledged commands sent again (the same key and request must return the first
//! answer and change nothing; the same key with another request must be refused), and calls
//! made for one tenant with another tenant's ids (which must find nothing).

use marketingforce_ads::AdsError;
use marketingforce_content::ContentError;
use marketingforce_core::Error as CoreError;
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::CrmError;
use marketingforce_modules::catalog::UsageUnit;
use marketingforce_modules::ModulesError;

use super::checks::Domain;
use super::model::Replay;
use super::world::{Classify, Failure, Reply, World};

fn mismatch_refused<T: std::fmt::Debug, E: Classify>(reply: &Reply<T, E>) -> bool {
    matches!(&reply.result, Err(e) if e.to_string().contains("first used for a different request"))
}

impl World {
    /// Send an acknowledged command again, as a client whose acknowledgement was lost does (or,
    /// now and then, a different request under the same key).
    pub async fn op_replay(&mut self, i: usize) -> Result<Domain, Failure> {
        let t = self.tenants[i];
        let Some(replay) = self.rng.pick(&self.models[i].replays).cloned() else {
            self.note(format!("t{i} replay: nothing to replay"));
            return Ok(Domain::Modules);
        };
        let other = self.rng.chance(200);
        let label = if other { "reuse key of" } else { "replay" };
        match replay {
            Replay::Consume { key, quantity } => {
                let q = if other { quantity + 1 } else { quantity };
                let r = self
                    .call("consume again", async |s| {
                        s.registry
                            .load(&t)
                            .await?
                            .meter()
                            .consume_durable(
                                &UsageUnit::ArticlesPublished,
                                q,
                                &IdempotencyKey::new(key.clone()).unwrap(),
                            )
                            .await
                    })
                    .await?;
                let ok = match &r.result {
                    Ok(c) => !other && c.replayed && c.quantity.get() == quantity,
                    Err(ModulesError::UsageEventMismatch { .. }) => other,
                    Err(_) => false,
                };
                if !ok {
                    return Err(self.fail(format!("{label} consume {key} ({q}): {:?}", r.result)));
                }
                self.note(format!(
                    "t{i} {label} consume {key} → {:?}",
                    r.result.map(|c| c.replayed)
                ));
                Ok(Domain::Modules)
            }
            Replay::Capture {
                key,
                request,
                outcome,
            } => {
                let request = if other {
                    request.name("另一个人")
                } else {
                    *request
                };
                let r = self
                    .call("capture again", async |s| {
                        s.crm
                            .capture(
                                &t,
                                request.clone(),
                                &IdempotencyKey::new(key.clone()).unwrap(),
                            )
                            .await
                    })
                    .await?;
                let ok = if other {
                    mismatch_refused(&r)
                } else {
                    matches!(&r.result, Ok(o) if *o == outcome)
                };
                if !ok {
                    return Err(self.fail(format!(
                        "{label} capture {key}: {:?}, first answer {outcome:?}",
                        r.result
                    )));
                }
                self.note(format!("t{i} {label} capture {key} → same answer"));
                Ok(Domain::Crm)
            }
            Replay::Allocate { key, leads, result } => {
                let asked = if other { Vec::new() } else { leads };
                let r = self
                    .call("allocate again", async |s| {
                        s.crm
                            .allocate(&t, &asked, &IdempotencyKey::new(key.clone()).unwrap())
                            .await
                    })
                    .await?;
                let ok = if other {
                    mismatch_refused(&r)
                } else {
                    matches!(&r.result, Ok(v) if *v == result)
                };
                if !ok {
                    return Err(self.fail(format!(
                        "{label} allocate {key}: {:?}, first answer {result:?}",
                        r.result
                    )));
                }
                self.note(format!("t{i} {label} allocate {key} → same answer"));
                Ok(Domain::Crm)
            }
            Replay::TopUp { key, request, id } => {
                let mut request = request;
                if other {
                    request.amount = request
                        .amount
                        .checked_add(&super::setup::cny(1))
                        .map_err(|e| self.fail(e.to_string()))?;
                }
                let r = self
                    .call("top up again", async |s| {
                        s.ads[i]
                            .top_up(request.clone(), &IdempotencyKey::new(key.clone()).unwrap())
                            .await
                    })
                    .await?;
                let ok = if other {
                    mismatch_refused(&r)
                } else {
                    matches!(&r.result, Ok(top_up) if top_up.id == id)
                };
                if !ok {
                    return Err(self.fail(format!(
                        "{label} top-up {key}: {:?}, first answer {id}",
                        r.result
                    )));
                }
                self.note(format!("t{i} {label} top-up {key} → same answer"));
                Ok(Domain::Ads)
            }
            Replay::Publish { key, command, id } => {
                let mut command = command;
                if other {
                    command.title.push_str("（修订）");
                }
                let r = self
                    .call("publish again", async |s| {
                        s.publisher
                            .publish(
                                &t,
                                command.clone(),
                                &IdempotencyKey::new(key.clone()).unwrap(),
                            )
                            .await
                    })
                    .await?;
                let ok = if other {
                    mismatch_refused(&r)
                } else {
                    matches!(&r.result, Ok(p) if p.id == id)
                };
                if !ok {
                    return Err(self.fail(format!(
                        "{label} publish {key}: {:?}, first answer {id}",
                        r.result
                    )));
                }
                self.note(format!("t{i} {label} publish {key} → same answer"));
                Ok(Domain::Content)
            }
        }
    }

    /// Ask for tenant `i`'s things as another tenant: nothing may be found or changed.
    pub async fn op_isolation(&mut self, i: usize) -> Result<(), Failure> {
        let a = i;
        let b = (i + 1) % self.tenants.len();
        let tb = self.tenants[b];
        if let Some(lead) = self.models[a].crm.leads.iter().next().copied() {
            let r = self
                .call("lead of another tenant", async |s| {
                    s.crm.lead(&tb, &lead).await
                })
                .await?;
            if !matches!(r.result, Err(CrmError::LeadNotFound(_))) {
                return Err(self.fail(format!(
                    "tenant {b} reading tenant {a}'s lead {lead}: {:?}",
                    r.result
                )));
            }
            let key = self.models[b].key("allocate");
            let r = self
                .call("allocate another tenant's lead", async |s| {
                    s.crm
                        .allocate(&tb, &[lead], &IdempotencyKey::new(key.clone()).unwrap())
                        .await
                })
                .await?;
            if !matches!(r.result, Err(CrmError::LeadNotFound(_))) {
                return Err(self.fail(format!(
                    "tenant {b} allocating tenant {a}'s lead {lead}: {:?}",
                    r.result
                )));
            }
        }
        if let Some(account) = self.models[a].ads.accounts.first().map(|x| x.id) {
            let r = self
                .call("ad account of another tenant", async |s| {
                    s.ads[b].ad_account(&account).await
                })
                .await?;
            if !matches!(r.result, Err(AdsError::Core(CoreError::NotFound { .. }))) {
                return Err(self.fail(format!(
                    "tenant {b} reading tenant {a}'s ad account {account}: {:?}",
                    r.result
                )));
            }
        }
        if let Some(id) = self.models[a].ads.top_ups.keys().next().copied() {
            let r = self
                .call("top-up of another tenant", async |s| {
                    s.ads[b].top_up_record(&id).await
                })
                .await?;
            if !matches!(r.result, Err(AdsError::Core(CoreError::NotFound { .. }))) {
                return Err(self.fail(format!(
                    "tenant {b} reading tenant {a}'s top-up {id}: {:?}",
                    r.result
                )));
            }
        }
        if let Some(id) = self.models[a].content.publications.values().next().copied() {
            let r = self
                .call("publication of another tenant", async |s| {
                    s.publisher.get(&tb, &id).await
                })
                .await?;
            if !matches!(
                r.result,
                Err(ContentError::Core(CoreError::NotFound { .. }))
            ) {
                return Err(self.fail(format!(
                    "tenant {b} reading tenant {a}'s publication {id}: {:?}",
                    r.result
                )));
            }
        }
        self.note(format!(
            "isolation probe: tenant {b} sees nothing of tenant {a}"
        ));
        Ok(())
    }
}
