//! CRM operations: captures with planted duplicates (the same person under other spellings,
//! through other keys, in batches, in several tenants), allocation, stage changes, staff
//! joining (seat-limited) and departing.

use marketingforce_core::IdempotencyKey;
use std::collections::BTreeSet;

use marketingforce_core::storage::Collection;
use marketingforce_core::time::Clock;
use marketingforce_crm::ids::{LeadId, UserId};
use marketingforce_crm::model::{Actor, Lead, LeadStatus, Source, Stage};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::staff::{Role, Staff};
use marketingforce_crm::{Allocation, CaptureOutcome, CrmError};

use super::model::{Replay, PERSONS};
use super::world::{Failure, World};

/// Which of a person's keys a capture carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// The mobile only.
    Mobile,
    /// The email only.
    Email,
    /// Both.
    Both,
}

impl Keys {
    fn mobile(self) -> bool {
        self != Keys::Email
    }
    fn email(self) -> bool {
        self != Keys::Mobile
    }
}

/// Person `p`'s mobile, written one of several ways.
pub fn mobile_of(p: usize, style: u64) -> String {
    let n = format!("1390000{p:04}");
    match style % 4 {
        0 => n,
        1 => format!("{} {} {}", &n[..3], &n[3..7], &n[7..]),
        2 => format!("+86 {}-{}-{}", &n[..3], &n[3..7], &n[7..]),
        _ => format!("0086{n}"),
    }
}

/// Person `p`'s email, in one of two cases.
pub fn email_of(p: usize, style: u64) -> String {
    if style.is_multiple_of(2) {
        format!("buyer{p}@example.cn")
    } else {
        format!("Buyer{p}@Example.CN")
    }
}

const REGIONS: [&str; 3] = ["上海", "北京", "广州"];
const SOURCES: [Source; 5] = [
    Source::OwnSite,
    Source::TCloudInquiry,
    Source::IndustryMedia,
    Source::OfflineQr,
    Source::Dealer,
];

impl World {
    fn capture_request(&mut self, person: usize, keys: Keys) -> CaptureRequest {
        let source = *self.rng.pick(&SOURCES).unwrap_or(&Source::OwnSite);
        let mut r = CaptureRequest::new(source);
        if keys.mobile() {
            r = r.mobile(mobile_of(person, self.rng.next_u64()));
        }
        if keys.email() {
            r = r.email(email_of(person, self.rng.next_u64()));
        }
        let region = *self.rng.pick(&REGIONS).unwrap_or(&"上海");
        r.region(region)
            .product(format!("model-{}", self.rng.below(4)))
    }

    /// Mostly a person of the first [`PERSONS`] (captured again and again), sometimes one of a
    /// pool that grows as the tenant works.
    fn pick_person(&mut self, i: usize) -> usize {
        if self.rng.chance(700) {
            self.rng.index(PERSONS)
        } else {
            let pool = PERSONS + (self.models[i].counter / 40) as usize;
            self.rng.index(pool.min(9_999))
        }
    }

    fn pick_keys(&mut self) -> Keys {
        match self.rng.weighted(&[4, 3, 2]) {
            0 => Keys::Mobile,
            1 => Keys::Email,
            _ => Keys::Both,
        }
    }

    /// Check a capture outcome against the model and record it.
    fn apply_capture(
        &mut self,
        i: usize,
        person: usize,
        keys: Keys,
        outcome: &CaptureOutcome,
        what: &str,
    ) -> Result<(), Failure> {
        let before = self.models[i]
            .crm
            .persons
            .get(&person)
            .cloned()
            .unwrap_or_default();
        let matches =
            (keys.mobile() && before.has_mobile()) || (keys.email() && before.has_email());
        let created = matches!(outcome, CaptureOutcome::Created { .. });
        if created == matches {
            return Err(self.fail(format!(
                "{what}: person {person} ({keys:?}) gave {outcome:?}, but the model says {} \
                 (captured before: mobile {}, email {}, both {})",
                if matches {
                    "it matches an existing lead"
                } else {
                    "it is new"
                },
                before.mobile_only,
                before.email_only,
                before.both
            )));
        }
        let m = &mut self.models[i].crm;
        let p = m.persons.entry(person).or_default();
        match keys {
            Keys::Mobile => p.mobile_only = true,
            Keys::Email => p.email_only = true,
            Keys::Both => p.both = true,
        }
        p.leads.insert(outcome.lead());
        m.leads.insert(outcome.lead());
        Ok(())
    }

    /// Capture one person (often one captured before, in another spelling or through other
    /// keys).
    pub async fn op_capture(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let person = self.pick_person(i);
        let keys = self.pick_keys();
        let request = self.capture_request(person, keys);
        let key = self.models[i].key("capture");
        let r = self
            .call("capture", async |s| {
                s.crm
                    .capture(
                        &t,
                        request.clone(),
                        &IdempotencyKey::new(key.clone()).unwrap(),
                    )
                    .await
            })
            .await?;
        let outcome = r
            .result
            .map_err(|e| self.fail(format!("capture {key}: unexpected error: {e}")))?;
        self.apply_capture(i, person, keys, &outcome, &format!("capture {key}"))?;
        self.note(format!(
            "t{i} capture {key} person {person} {keys:?} → {outcome:?}"
        ));
        self.models[i].remember(Replay::Capture {
            key,
            request: Box::new(request),
            outcome,
        });
        Ok(())
    }

    /// Capture 2–5 rows in one batch, sometimes with a bad row; rows of one batch may be the
    /// same person.
    pub async fn op_capture_batch(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let n = self.rng.range(2, 5) as usize;
        let mut rows = Vec::new();
        let mut requests = Vec::new();
        for _ in 0..n {
            if self.rng.chance(150) {
                rows.push(None);
                requests.push(CaptureRequest::new(Source::Import).mobile("12345"));
            } else {
                // Persons near each other, so batches often repeat one.
                let person = self.rng.index(PERSONS / 4) * 4 % PERSONS;
                let keys = self.pick_keys();
                rows.push(Some((person, keys)));
                requests.push(self.capture_request(person, keys));
            }
        }
        let key = self.models[i].key("batch");
        let r = self
            .call("capture_batch", async |s| {
                s.crm
                    .capture_batch(&t, &requests, &IdempotencyKey::new(key.clone()).unwrap())
                    .await
            })
            .await?;
        let results = r
            .result
            .map_err(|e| self.fail(format!("capture_batch {key}: unexpected error: {e}")))?;
        if results.len() != rows.len() {
            return Err(self.fail(format!(
                "capture_batch {key}: {} results for {} rows",
                results.len(),
                rows.len()
            )));
        }
        for (line, (row, result)) in rows.iter().zip(&results).enumerate() {
            match (row, result) {
                (Some((person, keys)), Ok(outcome)) => {
                    self.apply_capture(
                        i,
                        *person,
                        *keys,
                        outcome,
                        &format!("capture_batch {key} row {}", line + 1),
                    )?;
                }
                (None, Err(e)) if e.line == line + 1 => {}
                (row, result) => {
                    return Err(self.fail(format!(
                        "capture_batch {key} row {}: {row:?} gave {result:?}",
                        line + 1
                    )))
                }
            }
        }
        self.note(format!("t{i} capture_batch {key} {rows:?} → {results:?}"));
        Ok(())
    }

    /// Every lead of tenant `i`, read from the store without faults.
    pub async fn stored_leads(&self, i: usize) -> Result<Vec<Lead>, Failure> {
        Ok(Collection::<Lead>::new(self.inner.clone())
            .list_all(&self.tenants[i])
            .await
            .map_err(|e| self.fail(format!("reading leads: {e}")))?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// Allocate up to four new, unowned leads.
    pub async fn op_allocate(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let pending: Vec<LeadId> = self
            .stored_leads(i)
            .await?
            .into_iter()
            .filter(|l| l.is_active() && l.stage == Stage::New && l.owner.is_none())
            .map(|l| l.id)
            .collect();
        if pending.is_empty() {
            self.note(format!("t{i} allocate: nothing pending"));
            return Ok(());
        }
        let take = self.rng.range(1, 4) as usize;
        let start = self.rng.index(pending.len());
        let leads: Vec<LeadId> = pending
            .iter()
            .cycle()
            .skip(start)
            .take(take.min(pending.len()))
            .copied()
            .collect();
        let key = self.models[i].key("allocate");
        let r = self
            .call("allocate", async |s| {
                s.crm
                    .allocate(&t, &leads, &IdempotencyKey::new(key.clone()).unwrap())
                    .await
            })
            .await?;
        let result = r
            .result
            .map_err(|e| self.fail(format!("allocate {key}: unexpected error: {e}")))?;
        let active: BTreeSet<UserId> = self.models[i].crm.active_staff().into_iter().collect();
        for a in &result {
            if let Allocation::Assigned { to, .. } = a {
                if !active.contains(to) {
                    return Err(self.fail(format!(
                        "allocate {key}: assigned to {to}, who is not active staff"
                    )));
                }
            }
        }
        if result.len() != leads.len() {
            return Err(self.fail(format!(
                "allocate {key}: {} allocations for {} leads",
                result.len(),
                leads.len()
            )));
        }
        self.note(format!("t{i} allocate {key} → {result:?}"));
        self.models[i].remember(Replay::Allocate { key, leads, result });
        Ok(())
    }

    /// Move an owned lead along (or lose it).
    pub async fn op_transition(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let candidates: Vec<(LeadId, Stage)> = self
            .stored_leads(i)
            .await?
            .into_iter()
            .filter(|l| {
                l.is_active()
                    && matches!(
                        l.stage,
                        Stage::Assigned | Stage::Contacting | Stage::Qualified
                    )
            })
            .map(|l| (l.id, l.stage))
            .collect();
        let Some(&(lead, stage)) = self.rng.pick(&candidates) else {
            self.note(format!("t{i} transition: no owned lead"));
            return Ok(());
        };
        let next = match stage {
            Stage::Assigned => [Stage::Contacting, Stage::Lost],
            Stage::Contacting => [Stage::Qualified, Stage::Lost],
            _ => [Stage::Converted, Stage::Lost],
        };
        let to = if self.rng.chance(300) {
            next[1]
        } else {
            next[0]
        };
        let reason = (to == Stage::Lost).then_some("客户选择了其他供应商");
        let key = self.models[i].key("transition");
        let r = self
            .call("transition", async |s| {
                s.crm
                    .transition(
                        &t,
                        &lead,
                        to,
                        &Actor::system("sim"),
                        reason,
                        &IdempotencyKey::new(key.clone()).unwrap(),
                    )
                    .await
            })
            .await?;
        r.result
            .map_err(|e| self.fail(format!("transition {key} {lead} {stage}→{to}: {e}")))?;
        let now = Collection::<Lead>::new(self.inner.clone())
            .require(&t, &lead.to_string())
            .await
            .map_err(|e| self.fail(format!("reading {lead}: {e}")))?
            .value;
        if now.stage != to {
            return Err(self.fail(format!(
                "transition {key}: {lead} is {} after moving {stage}→{to}",
                now.stage
            )));
        }
        self.note(format!("t{i} transition {key} {lead} {stage}→{to}"));
        Ok(())
    }

    /// A salesperson joins (takes a seat of the sales workbench; refused when all are taken).
    pub async fn op_staff_join(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let id = UserId::generate(self.svc.crm.ids().as_ref());
        let m = &self.models[i].crm;
        let full = m.active_staff().len() >= m.seat_limit as usize;
        let staff = Staff::new(
            id,
            t,
            format!("销售{}", m.staff.len()),
            Role::Salesperson,
            2,
            self.clock.now(),
        )
        .in_team(m.team)
        .with_capacity(m.capacity);
        let r = self
            .call("upsert_staff", async |s| {
                s.crm.upsert_staff(&t, staff.clone()).await
            })
            .await?;
        match r.result {
            Ok(()) if !full => {
                self.models[i].crm.staff.insert(id, true);
                self.note(format!("t{i} staff {id} joins"));
            }
            Err(CrmError::SeatLimitReached { .. }) if full => {
                self.note(format!("t{i} staff {id} refused: no seat"));
            }
            other => {
                return Err(self.fail(format!(
                    "staff {id} joining (seats full: {full}): {other:?}"
                )))
            }
        }
        Ok(())
    }

    /// A salesperson leaves: their open leads go to others or to the pool, their seat is freed.
    pub async fn op_depart(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let active = self.models[i].crm.active_staff();
        if active.len() < 3 {
            self.note(format!("t{i} depart: team too small"));
            return Ok(());
        }
        let Some(&user) = self.rng.pick(&active) else {
            return Ok(());
        };
        let key = self.models[i].key("depart");
        let r = self
            .call("depart", async |s| {
                s.crm
                    .depart(&t, &user, &IdempotencyKey::new(key.clone()).unwrap())
                    .await
            })
            .await?;
        let moved = r
            .result
            .map_err(|e| self.fail(format!("depart {key} {user}: {e}")))?;
        for a in &moved {
            if matches!(a, Allocation::Assigned { to, .. } if *to == user) {
                return Err(self.fail(format!("depart {key}: a lead went back to {user}")));
            }
        }
        self.models[i].crm.staff.insert(user, false);
        self.note(format!("t{i} depart {key} {user} → {moved:?}"));
        Ok(())
    }

    /// Live leads of a tenant in the store.
    pub fn live(leads: &[Lead]) -> impl Iterator<Item = &Lead> {
        leads
            .iter()
            .filter(|l| matches!(l.status, LeadStatus::Active))
    }
}
