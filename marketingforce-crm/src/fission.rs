//! Social fission: campaigns where participants share to their contacts and are rewarded for
//! reaching a goal; unique referral codes; the referral tree (who brought whom, to which
//! purchase); guards against self-referral, cycles, duplicate participants, codes of other
//! campaigns, out-of-period referrals and budget overrun.
//!
//! **Only direct (one-level) referrals count by default**: multi-level referral rewards can be
//! illegal pyramid selling (传销) in China. [`FissionCampaign::reward_levels`] is the explicit
//! limit (1); more than one level is refused unless `allow_multi_level` is also set, and never
//! more than 3.
//!
//! ```
//! use marketingforce_crm::fission::{FissionCampaign, Goal};
//! use marketingforce_crm::ids::CampaignId;
//! use marketingforce_core::money::Money;
//! use chrono::{Duration, Utc};
//!
//! let now = Utc::now();
//! let mut c = FissionCampaign::new(CampaignId::new(), "老带新海报", now, now + Duration::days(30),
//!     Money::cny("5000").unwrap(), Money::cny("50").unwrap(), Goal { shares: 0, referrals: 3 });
//! c.validate().unwrap();
//! c.reward_levels = 2;
//! assert!(c.validate().is_err()); // multi-level needs an explicit opt-in
//! ```

use marketingforce_core::IdempotencyKey;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use marketingforce_core::env::Env;
use marketingforce_core::id::{splitmix64, IdGenerator};
use marketingforce_core::money::Money;
use marketingforce_core::storage::{
    Batch, Collection, CommitOutcome, Entity, Expect, Idempotent, IndexEntry, Journal, Page,
    PageRequest, Store,
};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::ids::{CampaignId, LeadId};

/// The fission journal.
pub const FISSION_JOURNAL: &str = "crm.fission";

/// The legal ceiling on reward levels, whatever the configuration says.
pub const MAX_REWARD_LEVELS: u8 = 3;

/// What a participant must reach to be rewarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    /// Shares needed.
    pub shares: u32,
    /// Referred participants needed.
    pub referrals: u32,
}

/// A fission campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FissionCampaign {
    /// Id.
    pub id: CampaignId,
    /// Name.
    pub name: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Total budget for rewards.
    pub budget: Money,
    /// Cost of one reward.
    pub reward: Money,
    /// Points a reward also grants (for membership), if any.
    #[serde(default)]
    pub reward_points: u64,
    /// The goal.
    pub goal: Goal,
    /// How many referral levels count toward a participant's goal. 1 (direct only) by
    /// default; see the [module docs](self).
    #[serde(default = "one")]
    pub reward_levels: u8,
    /// Explicit opt-in for `reward_levels` above 1 (check the law first).
    #[serde(default)]
    pub allow_multi_level: bool,
    /// Budget spent so far.
    #[serde(default = "zero_cny")]
    pub spent: Money,
}

fn one() -> u8 {
    1
}

fn zero_cny() -> Money {
    Money::zero(marketingforce_core::money::Currency::CNY)
}

impl Entity for FissionCampaign {
    const COLLECTION: &'static str = "crm.fission_campaigns";
    fn key(&self) -> String {
        self.id.to_string()
    }
}

impl FissionCampaign {
    /// A one-level campaign.
    pub fn new(
        id: CampaignId,
        name: impl Into<String>,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        budget: Money,
        reward: Money,
        goal: Goal,
    ) -> FissionCampaign {
        FissionCampaign {
            id,
            name: name.into(),
            starts_at,
            ends_at,
            spent: Money::zero(budget.currency()),
            budget,
            reward,
            reward_points: 0,
            goal,
            reward_levels: 1,
            allow_multi_level: false,
        }
    }

    /// Check the campaign.
    ///
    /// # Errors
    /// A validation error naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(CrmError::validation("name", "must not be blank"));
        }
        if self.ends_at <= self.starts_at {
            return Err(CrmError::validation("ends_at", "must be after starts_at"));
        }
        self.budget.ensure_non_negative("budget")?;
        if !self.reward.is_positive() {
            return Err(CrmError::validation("reward", "must be positive"));
        }
        if self.reward.currency() != self.budget.currency() {
            return Err(CrmError::validation(
                "reward",
                "must be in the budget's currency",
            ));
        }
        if self.goal.shares == 0 && self.goal.referrals == 0 {
            return Err(CrmError::validation("goal", "needs shares or referrals"));
        }
        if self.reward_levels == 0 || self.reward_levels > MAX_REWARD_LEVELS {
            return Err(CrmError::validation(
                "reward_levels",
                format!("must be 1-{MAX_REWARD_LEVELS}"),
            ));
        }
        if self.reward_levels > 1 && !self.allow_multi_level {
            return Err(CrmError::validation(
                "reward_levels",
                "multi-level referral rewards can be illegal pyramid selling in China; set allow_multi_level to opt in",
            ));
        }
        Ok(())
    }
}

/// A participant of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Campaign.
    pub campaign: CampaignId,
    /// The participant (a lead).
    pub lead: LeadId,
    /// Their referral code (unique in the tenant).
    pub code: String,
    /// Who referred them.
    pub referred_by: Option<LeadId>,
    /// Shares made.
    pub shares: u32,
    /// Direct referrals.
    pub referrals: u32,
    /// Purchases they made (references).
    pub purchases: Vec<String>,
    /// Whether they were rewarded.
    pub rewarded: bool,
    /// Joined at.
    pub joined_at: DateTime<Utc>,
}

impl Entity for Participant {
    const COLLECTION: &'static str = "crm.fission_participants";
    fn key(&self) -> String {
        format!("{}:{}", self.campaign, self.lead)
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("code", self.code.clone())]
    }
}

/// A fission event (journal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FissionEvent {
    /// Joined, possibly referred.
    Joined {
        /// Campaign.
        campaign: CampaignId,
        /// Participant.
        lead: LeadId,
        /// Referrer.
        referred_by: Option<LeadId>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Shared.
    Shared {
        /// Campaign.
        campaign: CampaignId,
        /// Participant.
        lead: LeadId,
        /// When.
        at: DateTime<Utc>,
    },
    /// Purchased.
    Purchased {
        /// Campaign.
        campaign: CampaignId,
        /// Participant.
        lead: LeadId,
        /// Order reference.
        order: String,
        /// Amount.
        amount: Money,
        /// When.
        at: DateTime<Utc>,
    },
    /// Rewarded.
    Rewarded {
        /// Campaign.
        campaign: CampaignId,
        /// Participant.
        lead: LeadId,
        /// Cost.
        cost: Money,
        /// When.
        at: DateTime<Utc>,
    },
    /// A reward was due but the budget could not cover it.
    RewardRefused {
        /// Campaign.
        campaign: CampaignId,
        /// Participant.
        lead: LeadId,
        /// When.
        at: DateTime<Utc>,
    },
}

/// What a join or share led to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FissionOutcome {
    /// The participant's code.
    pub code: String,
    /// Participants rewarded by this step.
    pub rewarded: Vec<LeadId>,
    /// Participants whose reward the budget could not cover.
    pub refused: Vec<LeadId>,
}

const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// The fission service over a [`Store`].
#[derive(Debug)]
pub struct Fission {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    lock: tokio::sync::Mutex<()>,
}

impl Fission {
    /// A service on `env` (its store, clock and ids).
    pub fn new(env: &Env) -> Fission {
        Fission {
            store: env.store().clone(),
            clock: env.clock().clone(),
            ids: env.ids().clone(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    fn campaigns(&self) -> Collection<FissionCampaign> {
        Collection::new(self.store.clone())
    }

    fn participants(&self) -> Collection<Participant> {
        Collection::new(self.store.clone())
    }

    /// Save a campaign after validating it. Saving an existing campaign again (to change its
    /// dates, budget or goal) keeps what its rewards have already spent: `spent` is the
    /// campaign's state, not configuration, so re-saving cannot reopen a used-up budget.
    ///
    /// # Errors
    /// The validation error; storage errors.
    #[operation("crm.fission.save_campaign", tenant = tenant)]
    pub async fn save_campaign(&self, tenant: &TenantId, campaign: &FissionCampaign) -> Result<()> {
        campaign.validate()?;
        let _g = self.lock.lock().await;
        match self
            .campaigns()
            .get(tenant, &campaign.id.to_string())
            .await?
        {
            Some(stored) => {
                let kept = FissionCampaign {
                    spent: stored.value.spent,
                    ..campaign.clone()
                };
                self.campaigns()
                    .update(tenant, &kept, stored.version)
                    .await?;
            }
            None => {
                self.campaigns().insert(tenant, campaign).await?;
            }
        }
        Ok(())
    }

    /// A campaign.
    ///
    /// # Errors
    /// Not found; storage errors.
    #[operation("crm.fission.campaign", tenant = tenant)]
    pub async fn campaign(&self, tenant: &TenantId, id: &CampaignId) -> Result<FissionCampaign> {
        Ok(self
            .campaigns()
            .require(tenant, &id.to_string())
            .await?
            .value)
    }

    /// A participant.
    ///
    /// # Errors
    /// Not found; storage errors.
    #[operation("crm.fission.participant", tenant = tenant)]
    pub async fn participant(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        lead: &LeadId,
    ) -> Result<Participant> {
        Ok(self
            .participants()
            .require(tenant, &format!("{campaign}:{lead}"))
            .await?
            .value)
    }

    async fn new_code(&self, tenant: &TenantId) -> Result<String> {
        for _ in 0..16 {
            let mut x = splitmix64(self.ids.next_uuid().as_u128() as u64);
            let code: String = (0..8)
                .map(|_| {
                    let c = CODE_ALPHABET
                        .get((x % 32) as usize)
                        .copied()
                        .unwrap_or(b'2');
                    x /= 32;
                    c as char
                })
                .collect();
            if self
                .participants()
                .lookup(tenant, "code", &code, &Default::default())
                .await?
                .items
                .is_empty()
            {
                return Ok(code);
            }
        }
        Err(CrmError::validation(
            "code",
            "could not find a free referral code",
        ))
    }

    /// `lead` joins `campaign`, optionally through a referral code. Guards: the campaign must
    /// be running; a lead joins a campaign once; the code must be of this campaign; no
    /// self-referral; no cycle. Returns the participant's own code and any rewards this
    /// referral triggered.
    ///
    /// # Errors
    /// [`CrmError::ReferralCodeOtherCampaign`], [`CrmError::ReferralRefused`], storage errors.
    #[operation("crm.fission.join", tenant = tenant, key = idempotency_key)]
    pub async fn join(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        lead: &LeadId,
        referral_code: Option<&str>,
        idempotency_key: &IdempotencyKey,
    ) -> Result<FissionOutcome> {
        let idempotency_key = idempotency_key.as_str();
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(idempotency_key, &("join", campaign, lead, referral_code))?;
        if let Some(prev) = idem.check(self.store.as_ref(), tenant).await? {
            return Ok(prev);
        }
        let _g = self.lock.lock().await;
        let now = self.clock.now();
        let c = self
            .campaigns()
            .require(tenant, &campaign.to_string())
            .await?;
        let refuse = |reason: &str| CrmError::ReferralRefused {
            campaign: *campaign,
            reason: reason.into(),
        };
        if now < c.value.starts_at || now > c.value.ends_at {
            return Err(refuse("the campaign is not running"));
        }
        if self
            .participants()
            .get(tenant, &format!("{campaign}:{lead}"))
            .await?
            .is_some()
        {
            return Err(refuse(
                "the lead already participates (duplicate participant)",
            ));
        }
        let mut referrer: Option<marketingforce_core::storage::Versioned<Participant>> = None;
        if let Some(code) = referral_code {
            let code = code.trim().to_uppercase();
            let found = self
                .participants()
                .lookup_all(tenant, "code", &code)
                .await?;
            let r = found.into_iter().next().ok_or_else(|| {
                CrmError::validation("referral_code", format!("{code:?} is unknown"))
            })?;
            if r.value.campaign != *campaign {
                return Err(CrmError::ReferralCodeOtherCampaign {
                    code,
                    owner: r.value.campaign,
                    campaign: *campaign,
                });
            }
            if r.value.lead == *lead {
                return Err(refuse("self-referral"));
            }
            // Cycle: the new participant must not be an ancestor of the referrer.
            let mut up = r.value.referred_by;
            let mut depth = 0;
            while let Some(a) = up {
                if a == *lead {
                    return Err(refuse("the referral would make a cycle"));
                }
                depth += 1;
                if depth > 10_000 {
                    break;
                }
                up = self.participant(tenant, campaign, &a).await?.referred_by;
            }
            referrer = Some(r);
        }
        let code = self.new_code(tenant).await?;
        let me = Participant {
            campaign: *campaign,
            lead: *lead,
            code: code.clone(),
            referred_by: referrer.as_ref().map(|r| r.value.lead),
            shares: 0,
            referrals: 0,
            purchases: Vec::new(),
            rewarded: false,
            joined_at: now,
        };
        let mut batch = Batch::new();
        batch.put_entity(tenant, &me, Expect::Absent)?;
        batch.append_json(
            FISSION_JOURNAL,
            &FissionEvent::Joined {
                campaign: *campaign,
                lead: *lead,
                referred_by: me.referred_by,
                at: now,
            },
        )?;
        let mut outcome = FissionOutcome {
            code,
            rewarded: Vec::new(),
            refused: Vec::new(),
        };
        let mut camp = c.value.clone();
        // Credit the referral up to `reward_levels` ancestors (1 = the direct referrer only).
        let mut credited: HashMap<LeadId, marketingforce_core::storage::Versioned<Participant>> =
            HashMap::new();
        let mut next = referrer;
        for _ in 0..camp.reward_levels {
            let Some(mut p) = next.take() else { break };
            p.value.referrals += 1;
            let up = p.value.referred_by;
            self.maybe_reward(&mut camp, &mut p.value, now, &mut batch, &mut outcome)?;
            credited.insert(p.value.lead, p.clone());
            next = match up {
                Some(a) => {
                    self.participants()
                        .get(tenant, &format!("{campaign}:{a}"))
                        .await?
                }
                None => None,
            };
        }
        for p in credited.values() {
            batch.put_entity(tenant, &p.value, Expect::Version(p.version))?;
        }
        if camp != c.value {
            batch.put_entity(tenant, &camp, Expect::Version(c.version))?;
        }
        self.commit(tenant, batch, &idem, outcome).await
    }

    fn maybe_reward(
        &self,
        camp: &mut FissionCampaign,
        p: &mut Participant,
        now: DateTime<Utc>,
        batch: &mut Batch,
        outcome: &mut FissionOutcome,
    ) -> Result<()> {
        if p.rewarded || p.shares < camp.goal.shares || p.referrals < camp.goal.referrals {
            return Ok(());
        }
        let after = camp.spent.checked_add(&camp.reward)?;
        if after.checked_cmp(&camp.budget)?.is_gt() {
            batch.append_json(
                FISSION_JOURNAL,
                &FissionEvent::RewardRefused {
                    campaign: camp.id,
                    lead: p.lead,
                    at: now,
                },
            )?;
            outcome.refused.push(p.lead);
            return Ok(());
        }
        camp.spent = after;
        p.rewarded = true;
        batch.append_json(
            FISSION_JOURNAL,
            &FissionEvent::Rewarded {
                campaign: camp.id,
                lead: p.lead,
                cost: camp.reward,
                at: now,
            },
        )?;
        outcome.rewarded.push(p.lead);
        Ok(())
    }

    async fn commit<R: Serialize + serde::de::DeserializeOwned>(
        &self,
        tenant: &TenantId,
        mut batch: Batch,
        idem: &Idempotent,
        result: R,
    ) -> Result<R> {
        batch.claim_idempotency(
            idem.key(),
            idem.fingerprint().as_str(),
            serde_json::to_vec(&result)?,
        );
        match self.store.commit(tenant, batch).await? {
            CommitOutcome::Committed(_) => Ok(result),
            CommitOutcome::Replayed(r) => Ok(serde_json::from_slice(&r)?),
        }
    }

    /// A participant shared the campaign; may trigger their reward.
    ///
    /// # Errors
    /// Not a participant; the campaign is not running; storage errors.
    #[operation("crm.fission.share", tenant = tenant, key = idempotency_key)]
    pub async fn share(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        lead: &LeadId,
        idempotency_key: &IdempotencyKey,
    ) -> Result<FissionOutcome> {
        let idempotency_key = idempotency_key.as_str();
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(idempotency_key, &("share", campaign, lead))?;
        if let Some(prev) = idem.check(self.store.as_ref(), tenant).await? {
            return Ok(prev);
        }
        let _g = self.lock.lock().await;
        let now = self.clock.now();
        let c = self
            .campaigns()
            .require(tenant, &campaign.to_string())
            .await?;
        if now < c.value.starts_at || now > c.value.ends_at {
            return Err(CrmError::ReferralRefused {
                campaign: *campaign,
                reason: "the campaign is not running".into(),
            });
        }
        let mut p = self
            .participants()
            .require(tenant, &format!("{campaign}:{lead}"))
            .await?;
        p.value.shares += 1;
        let mut batch = Batch::new();
        batch.append_json(
            FISSION_JOURNAL,
            &FissionEvent::Shared {
                campaign: *campaign,
                lead: *lead,
                at: now,
            },
        )?;
        let mut outcome = FissionOutcome {
            code: p.value.code.clone(),
            rewarded: Vec::new(),
            refused: Vec::new(),
        };
        let mut camp = c.value.clone();
        self.maybe_reward(&mut camp, &mut p.value, now, &mut batch, &mut outcome)?;
        batch.put_entity(tenant, &p.value, Expect::Version(p.version))?;
        if camp != c.value {
            batch.put_entity(tenant, &camp, Expect::Version(c.version))?;
        }
        self.commit(tenant, batch, &idem, outcome).await
    }

    /// Record a purchase by a participant (tracked on the referral tree).
    ///
    /// # Errors
    /// Not a participant; a validation error on a non-positive amount; storage errors.
    #[operation("crm.fission.record_purchase", tenant = tenant, key = idempotency_key)]
    pub async fn record_purchase(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        lead: &LeadId,
        order: &str,
        amount: Money,
        idempotency_key: &IdempotencyKey,
    ) -> Result<()> {
        let idempotency_key = idempotency_key.as_str();
        if !amount.is_positive() {
            return Err(CrmError::validation("amount", "must be positive"));
        }
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(
            idempotency_key,
            &("purchase", campaign, lead, order, amount),
        )?;
        if idem
            .check::<()>(self.store.as_ref(), tenant)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let _g = self.lock.lock().await;
        let mut p = self
            .participants()
            .require(tenant, &format!("{campaign}:{lead}"))
            .await?;
        p.value.purchases.push(order.to_string());
        let mut batch = Batch::new();
        batch.put_entity(tenant, &p.value, Expect::Version(p.version))?;
        batch.append_json(
            FISSION_JOURNAL,
            &FissionEvent::Purchased {
                campaign: *campaign,
                lead: *lead,
                order: order.into(),
                amount,
                at: self.clock.now(),
            },
        )?;
        self.commit(tenant, batch, &idem, ()).await
    }

    /// The referral tree of a campaign: `(participant, referred_by)` edges.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("crm.fission.tree", tenant = tenant)]
    pub async fn tree(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<(LeadId, Option<LeadId>)>> {
        Ok(self
            .participants()
            .list_all(tenant)
            .await?
            .into_iter()
            .filter(|p| p.value.campaign == *campaign)
            .map(|p| (p.value.lead, p.value.referred_by))
            .collect())
    }

    /// One page of the fission journal, in order.
    ///
    /// # Errors
    /// A validation error on `page.limit` or `page.after`; storage errors.
    #[operation("crm.fission.events", tenant = tenant)]
    pub async fn events(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<FissionEvent>> {
        Ok(
            Journal::<FissionEvent>::new(self.store.clone(), FISSION_JOURNAL)
                .page(tenant, page)
                .await?,
        )
    }
}
