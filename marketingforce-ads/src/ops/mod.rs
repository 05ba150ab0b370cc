//! [`AdOps`]: the service that runs the business — parties and agreements, platforms, ad
//! accounts and top-ups, campaigns and placements, reports, monthly settlement, receivables —
//! over the storage contract, the ledger and the ad platform adapters.
//!
//! Every mutating call takes an idempotency key: replaying it returns the first result and
//! changes nothing; the same key with a different request is an
//! [`IdempotencyMismatch`](marketingforce_core::Error::IdempotencyMismatch). Domain records and
//! ledger transfers of one command are committed in one atomic batch.

mod accounts;
mod balances;
mod campaigns;
mod import;
mod link;
pub mod onboarding;
mod parties;
mod settle;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::NaiveDate;
use marketingforce_core::adapters::ad_platform::AdPlatform;
use marketingforce_core::env::Env;
use marketingforce_core::events::{DomainEvent, EventContext, Outbox};
use marketingforce_core::id::IdGenerator;
use marketingforce_core::money::{Currency, Money, RoundingMode};
use marketingforce_core::storage::{Batch, Idempotent, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, TimeZone};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::agreement::CreditPolicy;
use crate::chart::Chart;
use crate::config::Config;
use crate::error::{AdsError, Result};
use crate::ids::PlatformId;
use crate::ledger::{Account, Ledger, LedgerCommit, TransferSpec};
use crate::party::QualificationPolicy;
use crate::review::{ReviewChecker, StoredApprovals};

pub use balances::{BalanceOwner, StatementEntry, StatementPage, StatementQuery};
pub use campaigns::{AttributionSummary, FetchFailure, FetchSummary};
pub use import::{ImportFailure, ImportSummary, ImportedDay};
pub use onboarding::{
    AccountOnboarded, AccountOnboarding, CampaignLink, ConsoleTopUp, CustomerOnboarded,
    CustomerOnboarding, PlatformOnboarded, PlatformOnboarding, Prepayment,
};
pub use settle::{Mismatch, ReconciliationReport, SettlementRecord};

/// Configuration of [`AdOps`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdOpsConfig {
    /// Currency of the books (CNY).
    #[serde(default)]
    pub currency: Currency,
    /// Time zone of civil dates (Asia/Shanghai).
    #[serde(default)]
    pub time_zone: TimeZone,
    /// How line spend and computed rebates are rounded to the minor unit (half-up, 四舍五入).
    #[serde(default = "half_up")]
    pub rounding: RoundingMode,
    /// Credit term limits.
    #[serde(default)]
    pub credit_policy: CreditPolicy,
    /// Qualification review rules.
    #[serde(default)]
    pub qualification_policy: QualificationPolicy,
}

fn half_up() -> RoundingMode {
    RoundingMode::HalfUp
}

impl Default for AdOpsConfig {
    fn default() -> Self {
        AdOpsConfig {
            currency: Currency::CNY,
            time_zone: TimeZone::default(),
            rounding: RoundingMode::HalfUp,
            credit_policy: CreditPolicy::default(),
            qualification_policy: QualificationPolicy::default(),
        }
    }
}

impl Config for AdOpsConfig {
    fn validate(&self) -> Result<()> {
        self.credit_policy
            .validate()
            .map_err(|e| prefix(e, "credit_policy"))?;
        self.qualification_policy
            .validate()
            .map_err(|e| prefix(e, "qualification_policy"))
    }
}

fn prefix(e: AdsError, parent: &str) -> AdsError {
    match e {
        AdsError::Core(inner) => AdsError::Core(inner.in_field(parent)),
        other => other,
    }
}

/// The ad operations service of one tenant (see the [module docs](crate::ops)).
///
/// A single `AdOps` per tenant writes at a time (like the ledger it owns); reopening it on the
/// same store rebuilds the same state.
pub struct AdOps {
    tenant: TenantId,
    store: Arc<dyn Store>,
    ledger: Arc<Ledger>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    config: AdOpsConfig,
    chart: Chart,
    adapters: RwLock<HashMap<PlatformId, Arc<dyn AdPlatform>>>,
    reviews: Arc<dyn ReviewChecker>,
    approvals: StoredApprovals,
    /// Serialises the commands that move money or credit (top-ups, receipts, settlement).
    money: tokio::sync::Mutex<()>,
    /// Where the tenant's domain events are staged ([`crate::events`]).
    outbox: Outbox,
}

impl std::fmt::Debug for AdOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdOps")
            .field("tenant", &self.tenant)
            .field("store", &self.store.backend())
            .field("currency", &self.config.currency)
            .finish()
    }
}

/// Opens an [`AdOps`] ([`AdOps::builder`]).
#[must_use]
pub struct AdOpsBuilder {
    env: Env,
    tenant: TenantId,
    config: AdOpsConfig,
    reviews: Option<Arc<dyn ReviewChecker>>,
}

impl std::fmt::Debug for AdOpsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdOpsBuilder")
            .field("tenant", &self.tenant)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AdOpsBuilder {
    /// Use `config` (default: [`AdOpsConfig::default`], CNY books in Asia/Shanghai).
    pub fn config(mut self, config: AdOpsConfig) -> Self {
        self.config = config;
        self
    }

    /// Check creatives with `checker` (e.g. the umbrella crate's content compliance bridge)
    /// instead of the stored approvals.
    pub fn review_checker(mut self, checker: Arc<dyn ReviewChecker>) -> Self {
        self.reviews = Some(checker);
        self
    }

    /// Open the service: replays the tenant's ledger and creates the global accounts of the
    /// chart (idempotently).
    ///
    /// # Errors
    /// An invalid configuration (naming the path), storage errors, a corrupt ledger journal.
    pub async fn open(self) -> Result<AdOps> {
        let AdOpsBuilder {
            env,
            tenant,
            config,
            reviews,
        } = self;
        config.validate()?;
        let (store, clock) = (env.store().clone(), env.clock().clone());
        let ledger = Arc::new(Ledger::open(&env, tenant).await?);
        let chart = Chart::new(config.currency);
        ledger.create_accounts(chart.global_accounts()).await?;
        let approvals = StoredApprovals::new(store.clone());
        // Event ids come from their own (random UUIDv7) generator, so emitting events leaves
        // the service's id sequence — seeded in simulations — exactly as it was.
        let outbox = Outbox::new(&Env::builder(store.clone()).clock(clock.clone()).build());
        Ok(AdOps {
            tenant,
            store,
            ledger,
            clock,
            ids: env.ids().clone(),
            chart,
            config,
            adapters: RwLock::new(HashMap::new()),
            reviews: reviews.unwrap_or_else(|| Arc::new(approvals.clone())),
            approvals,
            money: tokio::sync::Mutex::new(()),
            outbox,
        })
    }
}

impl AdOps {
    /// Start opening the service of `tenant` on `env` (its store, clock and ids) with the
    /// default configuration and the stored approvals as the compliance checker; see
    /// [`AdOpsBuilder::open`].
    pub fn builder(env: &Env, tenant: TenantId) -> AdOpsBuilder {
        AdOpsBuilder {
            env: env.clone(),
            tenant,
            config: AdOpsConfig::default(),
            reviews: None,
        }
    }

    /// Attach the adapter that speaks to `platform`.
    pub fn attach_platform(&self, platform: PlatformId, adapter: Arc<dyn AdPlatform>) {
        self.adapters
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(platform, adapter);
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The chart of accounts.
    pub fn chart(&self) -> &Chart {
        &self.chart
    }

    /// The configuration.
    pub fn config(&self) -> &AdOpsConfig {
        &self.config
    }

    /// The store-backed approval records (where compliance decisions can be recorded).
    pub fn approvals(&self) -> &StoredApprovals {
        &self.approvals
    }

    /// Today in the tenant's time zone.
    pub fn today(&self) -> NaiveDate {
        self.clock.today(self.config.time_zone)
    }

    fn adapter(&self, platform: &PlatformId) -> Result<Arc<dyn AdPlatform>> {
        self.adapters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(platform)
            .cloned()
            .ok_or_else(|| AdsError::not_found("ad platform adapter", platform))
    }

    fn money_in_books(&self, amount: &Money, field: &str) -> Result<()> {
        amount.ensure_price(field, self.config.currency)?;
        if amount.is_zero() {
            return Err(AdsError::validation(field, "must be positive"));
        }
        Ok(())
    }

    /// The idempotency guard of command `op` with `key` for `request`, and its first result
    /// if it ran before.
    async fn idempotent<R: DeserializeOwned>(
        &self,
        op: &str,
        key: &str,
        request: &(impl Serialize + ?Sized),
    ) -> Result<(Idempotent, Option<R>)> {
        if key.trim().is_empty() {
            return Err(AdsError::validation("idempotency_key", "must not be blank"));
        }
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(format!("ads.{op}:{key}"), request)?;
        let previous = idem.check::<R>(self.store.as_ref(), &self.tenant).await?;
        Ok((idem, previous))
    }

    /// Stage `event` in `batch`: it is committed exactly when the batch is (see
    /// [`crate::events`]).
    async fn stage<E: DomainEvent>(&self, batch: &mut Batch, event: &E) -> Result<()> {
        self.outbox
            .append(&self.tenant, batch, event, &EventContext::new())
            .await?;
        Ok(())
    }

    /// Commit `batch` with ledger accounts and transfers under the idempotency guard; returns
    /// the result that stands (this one, or the first one on a concurrent replay).
    async fn commit<R: Serialize + DeserializeOwned>(
        &self,
        idem: &Idempotent,
        accounts: Vec<Account>,
        transfers: Vec<TransferSpec>,
        batch: Batch,
        result: R,
    ) -> Result<R> {
        self.commit_checked(idem, accounts, transfers, batch, result, |_| Ok(()))
            .await
    }

    /// [`commit`](Self::commit) with a check of the ledger's state that is made again whenever
    /// another process's writes made it stale (see [`Ledger::commit_checked`]).
    async fn commit_checked<R: Serialize + DeserializeOwned>(
        &self,
        idem: &Idempotent,
        accounts: Vec<Account>,
        transfers: Vec<TransferSpec>,
        mut batch: Batch,
        result: R,
        check: impl Fn(&crate::ledger::LedgerEngine) -> Result<()> + Send,
    ) -> Result<R> {
        let response = serde_json::to_vec(&result).map_err(marketingforce_core::Error::from)?;
        batch.claim_idempotency(idem.key(), idem.fingerprint().as_str(), response);
        match self
            .ledger
            .commit_checked(accounts, transfers, batch, check)
            .await?
        {
            LedgerCommit::Committed(_) => Ok(result),
            LedgerCommit::Replayed(stored) => serde_json::from_slice(&stored)
                .map_err(|e| AdsError::Core(marketingforce_core::Error::from(e))),
        }
    }
}
