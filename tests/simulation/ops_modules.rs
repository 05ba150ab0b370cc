//! Operations on entitlements and usage metering: idempotent consumption against a monthly
//! quota, reserve → commit / release, seat assignments.

use chrono::NaiveDate;
use marketingforce_core::time::{Clock, TimeZone};
use marketingforce_core::IdempotencyKey;
use marketingforce_modules::catalog::{ModuleId, UsageUnit};
use marketingforce_modules::entitlements::{AccountId, Grant, GrantId, SeatChange};
use marketingforce_modules::ModulesError;

use super::model::Replay;
use super::world::{Failure, World};

impl World {
    /// Today in the tenants' zone.
    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.today(TimeZone::default())
    }

    /// Consume 1–6 articles under a fresh event key; the model knows whether it fits.
    pub async fn op_consume(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let key = self.models[i].key("use");
        let quantity = self.rng.range(1, 6);
        let today = self.today();
        let left = self.models[i].usage.articles_left(today);
        let r = self
            .call("consume", async |s| {
                let ents = s.registry.load(&t).await?;
                ents.meter()
                    .consume_durable(
                        &UsageUnit::ArticlesPublished,
                        quantity,
                        &IdempotencyKey::new(key.clone()).unwrap(),
                    )
                    .await
            })
            .await?;
        match r.result {
            Ok(c) => {
                if quantity > left {
                    return Err(self.fail(format!(
                        "consume {key}: {quantity} articles consumed with only {left} left this month"
                    )));
                }
                if c.remaining.get() != left - quantity {
                    return Err(self.fail(format!(
                        "consume {key}: {} left after using {quantity} of {left}",
                        c.remaining
                    )));
                }
                if r.attempts == 1 && c.replayed {
                    return Err(self.fail(format!("consume {key}: a fresh key was a replay")));
                }
                self.models[i].usage.consume(&key, today, quantity);
                self.models[i].remember(Replay::Consume {
                    key: key.clone(),
                    quantity,
                });
                self.note(format!(
                    "t{i} consume {key} {quantity} → {} left",
                    c.remaining
                ));
            }
            Err(ModulesError::QuotaExceeded { remaining, .. }) => {
                if quantity <= left || remaining.get() != left {
                    return Err(self.fail(format!(
                        "consume {key}: refused {quantity} (service says {remaining} left, model {left})"
                    )));
                }
                self.note(format!(
                    "t{i} consume {key} {quantity}: quota exceeded ({left} left)"
                ));
            }
            Err(e) => return Err(self.fail(format!("consume {key}: unexpected error: {e}"))),
        }
        Ok(())
    }

    /// Reserve 1–8 articles, then commit part of them durably or release them.
    pub async fn op_reserve(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let key = self.models[i].key("job");
        let held = self.rng.range(1, 8);
        let used = self.rng.range(1, held);
        let release = self.rng.chance(250);
        let today = self.today();
        let left = self.models[i].usage.articles_left(today);
        let unit = UsageUnit::ArticlesPublished;
        let r = self
            .call("reserve", async |s| {
                let meter = s.registry.load(&t).await?.meter();
                match meter.reserve(&unit, held, &IdempotencyKey::new(key.clone()).unwrap()) {
                    Ok(_) => {}
                    // An earlier attempt committed it (and its write is what failed).
                    Err(ModulesError::ReservationNotOpen { .. }) if !release => {}
                    Err(e) => return Err(e),
                }
                if release {
                    meter.release(&IdempotencyKey::new(key.clone()).unwrap());
                    Ok(None)
                } else {
                    meter
                        .commit_durable(used, &IdempotencyKey::new(key.clone()).unwrap())
                        .await
                        .map(Some)
                }
            })
            .await?;
        match r.result {
            Ok(done) => {
                if held > left {
                    return Err(self.fail(format!(
                        "reserve {key}: held {held} articles with only {left} left"
                    )));
                }
                if let Some(c) = done {
                    if c.remaining.get() != left - used {
                        return Err(self.fail(format!(
                            "reserve {key}: {} left after committing {used} of {left}",
                            c.remaining
                        )));
                    }
                    self.models[i].usage.consume(&key, today, used);
                    self.note(format!("t{i} reserve {key} {held}, commit {used}"));
                } else {
                    self.note(format!("t{i} reserve {key} {held}, release"));
                }
            }
            Err(ModulesError::QuotaExceeded { .. }) if held > left => {
                self.note(format!(
                    "t{i} reserve {key} {held}: quota exceeded ({left} left)"
                ));
            }
            Err(e) => return Err(self.fail(format!("reserve {key}: unexpected error: {e}"))),
        }
        Ok(())
    }

    /// Buy a pack of release quota: a grant of purchased publication units for the rest of the
    /// term (idempotent by grant id, which the client chooses before the first attempt).
    pub async fn op_buy_pack(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let id = GrantId::generate(self.svc.crm.ids().as_ref());
        let start = self.today();
        let end = NaiveDate::from_ymd_opt(2031, 3, 1).unwrap_or(start);
        let units = 10 * self.rng.range(2, 5);
        let grant = Grant::new(t, start, end)
            .with_id(id)
            .purchased(UsageUnit::Publications, units);
        let before = self.publication_usage(i).await?.2;
        let r = self
            .call("buy pack", async |s| s.registry.grant(grant.clone()).await)
            .await?;
        r.result
            .map_err(|e| self.fail(format!("pack {id}: unexpected error: {e}")))?;
        let after = self.publication_usage(i).await?.2;
        if after != before + units {
            return Err(self.fail(format!(
                "pack {id}: the publication limit went {before} → {after} for {units} units"
            )));
        }
        self.models[i].content.packs += 1;
        self.note(format!("t{i} bought {units} publication units ({id})"));
        Ok(())
    }

    /// Assign or free a seat of the customer SOP module.
    pub async fn op_seat(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let limit = self.models[i].usage.sop_limit;
        let name = format!("sop-agent-{}", self.rng.below(u64::from(limit) + 3));
        let account = AccountId::new(name.clone()).map_err(|e| self.fail(e.to_string()))?;
        let held = self.models[i].usage.sop_seats.contains(&name);
        let full = self.models[i].usage.sop_seats.len() >= limit as usize;
        let assign = self.rng.chance(600);
        let module = ModuleId::CUSTOMER_SOP;
        let r = self
            .call("seat", async |s| {
                let ents = s.registry.load(&t).await?;
                if assign {
                    ents.assign_seat(&module, &account).await
                } else {
                    ents.unassign_seat(&module, &account).await
                }
            })
            .await?;
        let retried = r.attempts > 1;
        let ok = match (&r.result, assign) {
            (Ok(SeatChange::Assigned), true) => !held && !full,
            (Ok(SeatChange::AlreadyAssigned), true) => held || retried,
            (Err(ModulesError::SeatLimitReached { .. }), true) => full && !held,
            (Ok(SeatChange::Unassigned), false) => held,
            (Ok(SeatChange::NotAssigned), false) => !held || retried,
            _ => false,
        };
        if !ok {
            return Err(self.fail(format!(
                "seat {} {name}: got {:?} (model: held {held}, {} of {limit} taken)",
                if assign { "assign" } else { "unassign" },
                r.result,
                self.models[i].usage.sop_seats.len()
            )));
        }
        if r.result.is_ok() {
            if assign {
                self.models[i].usage.sop_seats.insert(name.clone());
            } else {
                self.models[i].usage.sop_seats.remove(&name);
            }
        }
        self.note(format!(
            "t{i} seat {} {name} → {:?}",
            if assign { "assign" } else { "unassign" },
            r.result.map_err(|e| e.to_string())
        ));
        Ok(())
    }
}
