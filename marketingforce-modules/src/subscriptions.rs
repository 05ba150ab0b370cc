//! Subscriptions: the contract lifecycle, journaled.
//!
//! ```text
//! quoted ──sign──▶ signed ──pay──▶ paid ──activate──▶ active ──renew──▶ renewed
//!   │                │  └──activate (credit, professional only)──▲          │
//!   └──cancel──▶ cancelled ◀──cancel──┘        paid ──refund──▶ refunded    └─expire─▶ expired
//! ```
//!
//! - **Sign**: payment is due in full within 3 business days (core
//!   [`BusinessCalendar`], mainland China holidays by default); bundles that allow it
//!   (professional packages) may be granted up to 3 months of credit, and may then be
//!   activated before payment.
//! - **Activate**: the term starts on the activation day (revenue starts), and the
//!   subscription's grants are written in the same batch, so entitlements follow at once.
//! - **Add-ons** mid-term: modules, extra seats or accounts and usage packs, co-terminated with
//!   the term and prorated by day; paid at checkout, effective on the day bought.
//! - **Renew** creates the next term's subscription (quoted, starting when this term ends).
//! - **No refunds once in use**: refunding an activated subscription is
//!   [`ModulesError::RefundNotAllowed`].
//!
//! Every command takes an idempotency key: a replay returns the first result and writes nothing.
//! Every state change appends a [`SubscriptionEvent`] to the `modules.subscription_events`
//! journal in the same batch as the record; activation, renewal, cancellation, expiry and
//! refund also write their domain event ([`crate::events`]) to the tenant's outbox in that
//! batch, and every grant written its `modules.entitlement.granted`.

use marketingforce_core::IdempotencyKey;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Months, NaiveDate, Utc};
use marketingforce_core::entity_id;
use marketingforce_core::env::Env;
use marketingforce_core::events::{DomainEvent, EventContext, Outbox};
use marketingforce_core::id::IdGenerator;
use marketingforce_core::money::Money;
use marketingforce_core::storage::{
    Batch, Collection, Entity, Expect, Idempotent, IndexEntry, Journal, Page, PageRequest, Store,
};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{BusinessCalendar, Clock};
use marketingforce_core::Error;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::{Metering, ModuleId};
use crate::channel::PartnerId;
use crate::entitlements::{
    EntitlementRegistry, Grant, GrantId, GrantSource, QuotaSource, GRANTS_JOURNAL,
};
use crate::error::{ModulesError, Result};
use crate::events::{
    EntitlementGranted, SubscriptionActivated, SubscriptionCancelled, SubscriptionExpired,
    SubscriptionRefunded, SubscriptionRenewed,
};
use crate::pricing::{AmendmentRequest, LineKind, Quote, QuoteEngine, QuoteRequest, Term};
use crate::products::BundlePricing;

entity_id! {
    /// Identifies a [`Subscription`].
    pub struct SubscriptionId("sub");
}

entity_id! {
    /// Identifies an [`Amendment`].
    pub struct AmendmentId("amd");
}

/// Where a subscription is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// Priced, not signed.
    Quoted,
    /// Signed, payment due.
    Signed,
    /// Paid in full, not yet activated.
    Paid,
    /// Activated: in use, revenue being recognised.
    Active,
    /// Active, and renewed for a next term (which is its own subscription).
    Renewed,
    /// The term ended without renewal.
    Expired,
    /// Cancelled before payment.
    Cancelled,
    /// Refunded before activation.
    Refunded,
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// Items bought mid-term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Amendment {
    /// Its id.
    pub id: AmendmentId,
    /// The priced items (prorated).
    pub quote: Quote,
    /// The grants it wrote.
    pub grants: Vec<GrantId>,
}

/// A contract for one term of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Subscription {
    /// Its id.
    pub id: SubscriptionId,
    /// The customer.
    pub tenant: TenantId,
    /// Lifecycle state.
    pub state: SubscriptionState,
    /// The priced contract.
    pub quote: Quote,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The day it was signed.
    pub signed_on: Option<NaiveDate>,
    /// When payment in full is due.
    pub payment_due: Option<NaiveDate>,
    /// Months of credit granted (0 = none).
    pub credit_months: u32,
    /// The day it was paid.
    pub paid_on: Option<NaiveDate>,
    /// The activation day: the term starts then.
    pub activated_on: Option<NaiveDate>,
    /// The term actually served (set at activation).
    pub term_start: Option<NaiveDate>,
    /// Day after the last day of the term (set at activation).
    pub term_end: Option<NaiveDate>,
    /// Mid-term purchases.
    pub amendments: Vec<Amendment>,
    /// The grants written at activation.
    pub grants: Vec<GrantId>,
    /// The subscription this one renews.
    pub renewal_of: Option<SubscriptionId>,
    /// The subscription renewing this one.
    pub renewed_by: Option<SubscriptionId>,
    /// The salesperson credited (direct sales).
    pub salesperson: Option<String>,
    /// The channel partner that sold it.
    pub partner: Option<PartnerId>,
}

impl Entity for Subscription {
    const COLLECTION: &'static str = "modules.subscriptions";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("state", self.state.to_string())]
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

impl Subscription {
    /// The contract value: the quote plus every amendment.
    ///
    /// # Errors
    /// Overflow.
    pub fn contract_value(&self) -> Result<Money> {
        let mut v = self.quote.total;
        for a in &self.amendments {
            v = v.checked_add(&a.quote.total)?;
        }
        Ok(v)
    }

    /// Whether the subscription serves `date` (activated, and the date in its term).
    pub fn is_in_term(&self, date: NaiveDate) -> bool {
        matches!(
            self.state,
            SubscriptionState::Active | SubscriptionState::Renewed | SubscriptionState::Expired
        ) && self.term_start.is_some_and(|s| s <= date)
            && self.term_end.is_some_and(|e| date < e)
    }

    /// Modules of the bundle and every add-on.
    pub fn modules(&self, engine: &QuoteEngine) -> BTreeSet<ModuleId> {
        let mut out: BTreeSet<ModuleId> = engine
            .products()
            .bundle(&self.quote.bundle)
            .map(|b| b.modules.iter().cloned().collect())
            .unwrap_or_default();
        let quotes = std::iter::once(&self.quote).chain(self.amendments.iter().map(|a| &a.quote));
        for q in quotes {
            for l in q.lines.iter().filter(|l| l.kind == LineKind::AddOn) {
                if let Ok(id) = ModuleId::new(l.item.clone()) {
                    out.insert(id);
                }
            }
        }
        out
    }
}

/// A journaled state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionEvent {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// State before (None on creation).
    pub from: Option<SubscriptionState>,
    /// State after.
    pub to: SubscriptionState,
    /// The civil date it took effect.
    pub on: NaiveDate,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// What happened, for people.
    pub detail: String,
}

/// The journal of subscription events.
pub const SUBSCRIPTION_JOURNAL: &str = "modules.subscription_events";

/// Signing details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    /// The day signed.
    pub on: NaiveDate,
    /// Months of credit (0–3, only where the bundle allows it).
    #[serde(default)]
    pub credit_months: u32,
    /// The salesperson credited.
    #[serde(default)]
    pub salesperson: Option<String>,
    /// The channel partner that sold it.
    #[serde(default)]
    pub partner: Option<PartnerId>,
}

/// A payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// The day received.
    pub on: NaiveDate,
    /// The amount (the contract is paid in full).
    pub amount: Money,
}

/// What to renew with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Renewal {
    /// Term length in months.
    pub months: u32,
    /// Accounts for per-account bundles (default: as now, including accounts bought mid-term).
    #[serde(default)]
    pub accounts: Option<u32>,
    /// Add-ons to keep (default: every add-on bought).
    #[serde(default)]
    pub add_ons: Option<Vec<ModuleId>>,
}

/// The subscription service. Cheap to clone.
///
/// ```
/// use marketingforce_core::IdempotencyKey;
/// use std::sync::Arc;
/// use chrono::NaiveDate;
/// use marketingforce_core::money::Money;
/// use marketingforce_core::env::Env;
/// use marketingforce_core::storage::{MemoryStore, Store};
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_core::time::ManualClock;
/// use marketingforce_modules::catalog::ModuleId;
/// use marketingforce_modules::entitlements::EntitlementRegistry;
/// use marketingforce_modules::pricing::{QuoteRequest, Term};
/// use marketingforce_modules::subscriptions::{Payment, Signing, SubscriptionState, Subscriptions};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
/// let env = Env::builder(store).clock(clock).build();
/// let registry = Arc::new(EntitlementRegistry::builder(&env).build());
/// let subs = Subscriptions::builder(&env).registry(registry.clone()).build();
/// let tenant = TenantId::new();
///
/// let req = QuoteRequest::new(marketingforce_modules::products::BundleId::TCLOUD_BASIC, Term::new(d("2026-03-02"), 12));
/// let s = subs.create_quote(&tenant, &req, &IdempotencyKey::from_static("quote-1")).await.unwrap();
/// let signing = Signing { on: d("2026-03-02"), credit_months: 0, salesperson: None, partner: None };
/// let s = subs.sign(&tenant, &s.id, &signing, &IdempotencyKey::from_static("sign-1")).await.unwrap();
/// assert_eq!(s.payment_due, Some(d("2026-03-05"))); // 3 business days
/// let pay = Payment { on: d("2026-03-02"), amount: Money::cny("19800").unwrap() };
/// subs.record_payment(&tenant, &s.id, &pay, &IdempotencyKey::from_static("pay-1")).await.unwrap();
/// // The term, the grants and revenue start on the activation day.
/// let s = subs.activate(&tenant, &s.id, d("2026-03-02"), &IdempotencyKey::from_static("act-1")).await.unwrap();
/// assert_eq!(s.state, SubscriptionState::Active);
/// assert_eq!(s.term_end, Some(d("2027-03-02")));
/// assert!(registry.load(&tenant).await.unwrap().is_enabled(&ModuleId::T_TEXT));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Subscriptions {
    store: Arc<dyn Store>,
    engine: QuoteEngine,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    calendar: Arc<dyn BusinessCalendar>,
    registry: Option<Arc<EntitlementRegistry>>,
    outbox: Outbox,
}

/// Builds [`Subscriptions`] ([`Subscriptions::builder`]): the quote engine and the entitlement
/// registry are optional.
#[derive(Debug)]
#[must_use]
pub struct SubscriptionsBuilder {
    env: Env,
    engine: Option<QuoteEngine>,
    registry: Option<Arc<EntitlementRegistry>>,
}

impl SubscriptionsBuilder {
    /// Price with `engine`'s catalogs (default: [`QuoteEngine::builtin`]).
    pub fn engine(mut self, engine: QuoteEngine) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Refresh `registry` after every change of grants (default: none).
    pub fn registry(mut self, registry: Arc<EntitlementRegistry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The service.
    pub fn build(self) -> Subscriptions {
        let env = self.env;
        Subscriptions {
            outbox: outbox_of(env.store(), env.clock()),
            store: env.store().clone(),
            engine: self.engine.unwrap_or_else(QuoteEngine::builtin),
            clock: env.clock().clone(),
            ids: env.ids().clone(),
            calendar: env.calendar().clone(),
            registry: self.registry,
        }
    }
}

impl Subscriptions {
    /// A service on `env` (its store, clock, ids and business calendar) with the built-in
    /// catalogs and no entitlement registry to refresh.
    pub fn new(env: &Env) -> Subscriptions {
        Subscriptions::builder(env).build()
    }

    /// Start building a service on `env` (see [`SubscriptionsBuilder`]).
    pub fn builder(env: &Env) -> SubscriptionsBuilder {
        SubscriptionsBuilder {
            env: env.clone(),
            engine: None,
            registry: None,
        }
    }

    /// The quote engine.
    pub fn engine(&self) -> &QuoteEngine {
        &self.engine
    }

    fn collection(&self) -> Collection<Subscription> {
        Collection::new(self.store.clone())
    }

    /// A subscription.
    ///
    /// # Errors
    /// [`Error::NotFound`], storage errors.
    #[operation("modules.subscriptions.get", tenant = tenant)]
    pub async fn get(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<Subscription> {
        Ok(self
            .collection()
            .require(tenant, &id.to_string())
            .await?
            .value)
    }

    /// Every subscription of a tenant.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("modules.subscriptions.list", tenant = tenant)]
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<Subscription>> {
        Ok(self
            .collection()
            .list_all(tenant)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// One page of the tenant's journal of state changes, in order.
    ///
    /// # Errors
    /// A validation error on `page.limit` or `page.after`; storage errors.
    #[operation("modules.subscriptions.history", tenant = tenant)]
    pub async fn history(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<SubscriptionEvent>> {
        let j: Journal<SubscriptionEvent> = Journal::new(self.store.clone(), SUBSCRIPTION_JOURNAL);
        Ok(j.page(tenant, page).await?)
    }

    /// Run a command once per idempotency key: `f` computes the new subscription state (and the
    /// extra writes), which is committed with the event and the key.
    async fn run<R: Serialize>(
        &self,
        tenant: &TenantId,
        key: &str,
        request: &R,
        current: Option<(Subscription, u64)>,
        change: impl FnOnce(Option<Subscription>) -> Result<(Subscription, Batch, String, NaiveDate)>,
    ) -> Result<Subscription> {
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(format!("modules.sub:{key}"), request)?;
        if let Some(prev) = idem
            .check::<Subscription>(self.store.as_ref(), tenant)
            .await?
        {
            return Ok(prev);
        }
        let from = current.as_ref().map(|(s, _)| s.state);
        let expect = current
            .as_ref()
            .map_or(Expect::Absent, |(_, v)| Expect::Version(*v));
        // The outbox must know the tenant before its events are staged (one read per tenant
        // and process, then free).
        self.outbox.register(tenant).await?;
        let (next, mut batch, detail, on) = change(current.map(|(s, _)| s))?;
        self.stage_transition_event(tenant, &mut batch, from, &next, on)?;
        batch.put_entity(tenant, &next, expect)?;
        batch.append_json(
            SUBSCRIPTION_JOURNAL,
            &SubscriptionEvent {
                subscription: next.id,
                from,
                to: next.state,
                on,
                at: self.clock.now(),
                detail,
            },
        )?;
        let stored = idem
            .commit(self.store.as_ref(), tenant, batch, next)
            .await?;
        Ok(stored)
    }

    /// Stage the domain event of the transition `from` → `next.state`, if it is one.
    fn stage_transition_event(
        &self,
        tenant: &TenantId,
        batch: &mut Batch,
        from: Option<SubscriptionState>,
        next: &Subscription,
        on: NaiveDate,
    ) -> Result<()> {
        if from == Some(next.state) {
            return Ok(()); // an add-on: its grants carry their own events
        }
        match next.state {
            SubscriptionState::Active if from != Some(SubscriptionState::Renewed) => {
                let (Some(term_start), Some(term_end)) = (next.term_start, next.term_end) else {
                    return Ok(());
                };
                self.stage(
                    tenant,
                    batch,
                    &SubscriptionActivated {
                        subscription: next.id,
                        bundle: next.quote.bundle.clone(),
                        term_start,
                        term_end,
                        months: next.quote.term_months,
                        contract_value: next.quote.total,
                        on_credit: next.paid_on.is_none(),
                        grants: next.grants.clone(),
                    },
                )
            }
            // Staged by `renew`, which knows the renewal's quote.
            SubscriptionState::Cancelled => self.stage(
                tenant,
                batch,
                &SubscriptionCancelled {
                    subscription: next.id,
                    from: from.unwrap_or(SubscriptionState::Quoted),
                    on,
                    renewal_of: next.renewal_of,
                },
            ),
            SubscriptionState::Expired => self.stage(
                tenant,
                batch,
                &SubscriptionExpired {
                    subscription: next.id,
                    term_end: next.term_end,
                    on,
                },
            ),
            SubscriptionState::Refunded => self.stage(
                tenant,
                batch,
                &SubscriptionRefunded {
                    subscription: next.id,
                    amount: next.quote.total,
                    on,
                },
            ),
            _ => Ok(()),
        }
    }

    /// Stage `event` in `batch` (the tenant is registered with the outbox by [`run`]).
    fn stage<E: DomainEvent>(&self, tenant: &TenantId, batch: &mut Batch, event: &E) -> Result<()> {
        stage_event(&self.outbox, tenant, batch, event)
    }

    async fn current(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<(Subscription, u64)> {
        let v = self.collection().require(tenant, &id.to_string()).await?;
        Ok((v.value, v.version))
    }

    /// Price `request` and record it as a quoted subscription.
    ///
    /// # Errors
    /// Any pricing error (see [`QuoteEngine::quote`]); storage errors.
    #[operation("modules.subscriptions.create_quote", tenant = tenant, key = key)]
    pub async fn create_quote(
        &self,
        tenant: &TenantId,
        request: &QuoteRequest,
        key: &IdempotencyKey,
    ) -> Result<Subscription> {
        let key = key.as_str();
        let quote = self.engine.quote(request)?;
        let id = SubscriptionId::generate(self.ids.as_ref());
        let now = self.clock.now();
        let start = request.term.start;
        self.run(tenant, key, request, None, |_| {
            let sub = Subscription {
                id,
                tenant: *tenant,
                state: SubscriptionState::Quoted,
                quote,
                created_at: now,
                signed_on: None,
                payment_due: None,
                credit_months: 0,
                paid_on: None,
                activated_on: None,
                term_start: None,
                term_end: None,
                amendments: Vec::new(),
                grants: Vec::new(),
                renewal_of: None,
                renewed_by: None,
                salesperson: None,
                partner: None,
            };
            let detail = format!("quoted {} for {}", sub.quote.bundle, sub.quote.total);
            Ok((sub, Batch::new(), detail, start))
        })
        .await
    }

    fn refuse(sub: &Subscription, to: SubscriptionState, reason: &str) -> ModulesError {
        Error::invalid_state(format!("subscription {}", sub.id), sub.state, to, reason).into()
    }

    /// Sign a quoted subscription. Payment is due within 3 business days, or after the credit
    /// granted (professional packages, up to 3 months).
    ///
    /// # Errors
    /// Not quoted; credit above what the bundle allows (`credit_months`); a calendar error.
    #[operation("modules.subscriptions.sign", tenant = tenant, key = key)]
    pub async fn sign(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        signing: &Signing,
        key: &IdempotencyKey,
    ) -> Result<Subscription> {
        let key = key.as_str();
        let current = self.current(tenant, id).await?;
        let max_credit = self
            .engine
            .products()
            .bundle(&current.0.quote.bundle)
            .map_or(0, |b| b.max_credit_months);
        let due = if signing.credit_months == 0 {
            self.calendar.add_business_days(signing.on, 3)?
        } else {
            if signing.credit_months > max_credit {
                return Err(ModulesError::validation(
                    "credit_months",
                    format!(
                        "{} months of credit; {} allows {max_credit}",
                        signing.credit_months, current.0.quote.bundle
                    ),
                ));
            }
            signing
                .on
                .checked_add_months(Months::new(signing.credit_months))
                .ok_or_else(|| ModulesError::validation("on", "date out of range"))?
        };
        self.run(tenant, key, signing, Some(current), |s| {
            let mut sub = s.ok_or_else(|| ModulesError::validation("id", "missing"))?;
            if sub.state != SubscriptionState::Quoted {
                return Err(Self::refuse(
                    &sub,
                    SubscriptionState::Signed,
                    "only a quoted subscription can be signed",
                ));
            }
            sub.state = SubscriptionState::Signed;
            sub.signed_on = Some(signing.on);
            sub.payment_due = Some(due);
            sub.credit_months = signing.credit_months;
            sub.salesperson.clone_from(&signing.salesperson);
            sub.partner.clone_from(&signing.partner);
            let detail = format!("signed; {} due by {due}", sub.quote.total);
            Ok((sub, Batch::new(), detail, signing.on))
        })
        .await
    }

    /// Record payment in full.
    ///
    /// # Errors
    /// Not signed (or activated on credit); an amount other than the contract value
    /// (`amount`); a payment dated before signing (`on`).
    #[operation("modules.subscriptions.record_payment", tenant = tenant, key = key)]
    pub async fn record_payment(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        payment: &Payment,
        key: &IdempotencyKey,
    ) -> Result<Subscription> {
        let key = key.as_str();
        let current = self.current(tenant, id).await?;
        self.run(tenant, key, payment, Some(current), |s| {
            let mut sub = s.ok_or_else(|| ModulesError::validation("id", "missing"))?;
            let on_credit = sub.state == SubscriptionState::Active
                && sub.credit_months > 0
                && sub.paid_on.is_none();
            if sub.state != SubscriptionState::Signed && !on_credit {
                return Err(Self::refuse(
                    &sub,
                    SubscriptionState::Paid,
                    "nothing is due",
                ));
            }
            if sub.signed_on.is_some_and(|d| payment.on < d) {
                return Err(ModulesError::validation(
                    "on",
                    "a payment cannot precede signing",
                ));
            }
            let value = sub.contract_value()?;
            if payment.amount != value {
                return Err(ModulesError::validation(
                    "amount",
                    format!("{} received; payment is in full: {value}", payment.amount),
                ));
            }
            sub.paid_on = Some(payment.on);
            let late = sub.payment_due.is_some_and(|d| payment.on > d);
            if !on_credit {
                sub.state = SubscriptionState::Paid;
            }
            let detail = format!(
                "paid {}{}",
                payment.amount,
                if late { " (late)" } else { "" }
            );
            Ok((sub, Batch::new(), detail, payment.on))
        })
        .await
    }

    /// Activate: the term starts on `on`, grants are written, revenue starts.
    ///
    /// # Errors
    /// Not paid (and no credit granted); `on` before signing; storage errors.
    #[operation("modules.subscriptions.activate", tenant = tenant, key = key)]
    pub async fn activate(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        on: NaiveDate,
        key: &IdempotencyKey,
    ) -> Result<Subscription> {
        let key = key.as_str();
        let current = self.current(tenant, id).await?;
        let catalog = self.engine.catalog().clone();
        let products = self.engine.products().clone();
        let ids = self.ids.clone();
        let outbox = &self.outbox;
        let sub = self
            .run(tenant, key, &("activate", on), Some(current), |s| {
                let mut sub = s.ok_or_else(|| ModulesError::validation("id", "missing"))?;
                let allowed = sub.state == SubscriptionState::Paid
                    || (sub.state == SubscriptionState::Signed && sub.credit_months > 0);
                if !allowed {
                    return Err(Self::refuse(
                        &sub,
                        SubscriptionState::Active,
                        "activation needs payment in full or credit",
                    ));
                }
                if sub.signed_on.is_some_and(|d| on < d) || sub.paid_on.is_some_and(|d| on < d) {
                    return Err(ModulesError::validation(
                        "on",
                        "activation cannot precede signing or payment",
                    ));
                }
                let term = Term::new(on, sub.quote.term_months);
                let end = term.end()?;
                let grants = contract_grants(&sub, &catalog, &products, ids.as_ref(), on, end)?;
                let mut batch = Batch::new();
                for g in &grants {
                    stage_grant(outbox, tenant, &mut batch, g)?;
                }
                sub.grants = grants.iter().map(|g| g.id).collect();
                sub.state = SubscriptionState::Active;
                sub.activated_on = Some(on);
                sub.term_start = Some(on);
                sub.term_end = Some(end);
                Ok((sub, batch, format!("activated; term {on} to {end}"), on))
            })
            .await?;
        self.refresh(tenant).await?;
        Ok(sub)
    }

    async fn refresh(&self, tenant: &TenantId) -> Result<()> {
        if let Some(r) = &self.registry {
            r.refresh(tenant).await?;
        }
        Ok(())
    }

    /// Buy add-ons, seats, accounts or usage packs mid-term (paid at checkout), co-terminated
    /// with the term and prorated by day.
    ///
    /// # Errors
    /// Not active; `on` outside the term; any pricing error (unknown module, missing
    /// requirement, zero quantities, …).
    #[operation("modules.subscriptions.buy_add_on", tenant = tenant, key = key)]
    pub async fn buy_add_on(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        order: &AmendmentRequest,
        key: &IdempotencyKey,
    ) -> Result<Subscription> {
        let key = key.as_str();
        let current = self.current(tenant, id).await?;
        let engine = self.engine.clone();
        let ids = self.ids.clone();
        let outbox = &self.outbox;
        let sub = self
            .run(tenant, key, order, Some(current), |s| {
                let mut sub = s.ok_or_else(|| ModulesError::validation("id", "missing"))?;
                if !matches!(
                    sub.state,
                    SubscriptionState::Active | SubscriptionState::Renewed
                ) {
                    return Err(Self::refuse(
                        &sub,
                        sub.state,
                        "add-ons are bought for an active term",
                    ));
                }
                let (Some(start), Some(_)) = (sub.term_start, sub.term_end) else {
                    return Err(Self::refuse(&sub, sub.state, "no term"));
                };
                let term = Term::new(start, sub.quote.term_months);
                let owned = sub.modules(&engine);
                let quote = engine.quote_amendment(&sub.quote.bundle, &term, &owned, order)?;
                let amendment_id = AmendmentId::generate(ids.as_ref());
                let grants = amendment_grants(&sub, amendment_id, &quote, &engine, ids.as_ref())?;
                let mut batch = Batch::new();
                for g in &grants {
                    stage_grant(outbox, tenant, &mut batch, g)?;
                }
                let detail = format!(
                    "amendment {amendment_id}: {} from {}",
                    quote.total, order.on
                );
                sub.amendments.push(Amendment {
                    id: amendment_id,
                    quote,
                    grants: grants.iter().map(|g| g.id).collect(),
                });
                Ok((sub, batch, detail, order.on))
            })
            .await?;
        self.refresh(tenant).await?;
        Ok(sub)
    }

    /// Renew for a next term starting when this one ends: marks this subscription renewed and
    /// returns the new (quoted) subscription.
    ///
    /// # Errors
    /// Not active; pricing errors; storage errors.
    #[operation("modules.subscriptions.renew", tenant = tenant, key = key)]
    pub async fn renew(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        renewal: &Renewal,
        key: &IdempotencyKey,
    ) -> Result<Subscription> {
        let key = key.as_str();
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(format!("modules.sub:{key}"), renewal)?;
        if let Some(old) = idem
            .check::<Subscription>(self.store.as_ref(), tenant)
            .await?
        {
            if let Some(next) = old.renewed_by {
                return self.get(tenant, &next).await;
            }
        }
        let (sub, version) = self.current(tenant, id).await?;
        if sub.state != SubscriptionState::Active {
            return Err(Self::refuse(
                &sub,
                SubscriptionState::Renewed,
                "only an active subscription is renewed",
            ));
        }
        let (Some(end), Some(base)) = (sub.term_end, sub.quote.request.clone()) else {
            return Err(Self::refuse(&sub, SubscriptionState::Renewed, "no term"));
        };
        let bought_accounts: Vec<u64> = sub
            .amendments
            .iter()
            .flat_map(|a| a.quote.lines.iter())
            .filter(|l| l.kind == LineKind::Accounts)
            .map(|l| l.quantity)
            .collect();
        let add_ons: Vec<ModuleId> = match &renewal.add_ons {
            Some(a) => a.clone(),
            None => {
                let bundle: BTreeSet<ModuleId> = self
                    .engine
                    .products()
                    .bundle(&sub.quote.bundle)
                    .map(|b| b.modules.iter().cloned().collect())
                    .unwrap_or_default();
                sub.modules(&self.engine)
                    .into_iter()
                    .filter(|m| !bundle.contains(m))
                    .collect()
            }
        };
        // Extra seats carry over, including those bought mid-term.
        let mut seats: BTreeMap<ModuleId, Vec<u64>> = BTreeMap::new();
        for l in &base.extra_seats {
            seats
                .entry(l.module.clone())
                .or_default()
                .push(u64::from(l.seats));
        }
        for l in sub
            .amendments
            .iter()
            .flat_map(|a| a.quote.lines.iter())
            .filter(|l| l.kind == LineKind::Seats)
        {
            if let Ok(m) = ModuleId::new(l.item.clone()) {
                seats.entry(m).or_default().push(l.quantity);
            }
        }
        let extra_seats = seats
            .into_iter()
            .enumerate()
            .map(|(i, (module, bought))| {
                let field = format!("renewal.extra_seats[{i}].seats");
                let seats = carried_over(0, bought, &field)?;
                Ok(crate::pricing::SeatLine { module, seats })
            })
            .collect::<Result<Vec<_>>>()?;
        let accounts = match (renewal.accounts, base.accounts) {
            (Some(a), _) => Some(a),
            (None, Some(a)) => Some(carried_over(a, bought_accounts, "renewal.accounts")?),
            (None, None) => None,
        };
        let request = QuoteRequest {
            bundle: base.bundle.clone(),
            term: Term::new(end, renewal.months),
            accounts,
            add_ons,
            extra_seats,
            usage_packs: Vec::new(),
        };
        let quote = self
            .engine
            .quote(&request)
            .map_err(|e| e.in_field("renewal"))?;
        let next_id = SubscriptionId::generate(self.ids.as_ref());
        let now = self.clock.now();
        let next = Subscription {
            id: next_id,
            tenant: *tenant,
            state: SubscriptionState::Quoted,
            quote,
            created_at: now,
            signed_on: None,
            payment_due: None,
            credit_months: 0,
            paid_on: None,
            activated_on: None,
            term_start: None,
            term_end: None,
            amendments: Vec::new(),
            grants: Vec::new(),
            renewal_of: Some(sub.id),
            renewed_by: None,
            salesperson: sub.salesperson.clone(),
            partner: sub.partner,
        };
        let next_for_batch = next.clone();
        let today = self
            .clock
            .today(marketingforce_core::time::TimeZone::default());
        let outbox = &self.outbox;
        self.run(tenant, key, renewal, Some((sub, version)), move |s| {
            let mut old = s.ok_or_else(|| ModulesError::validation("id", "missing"))?;
            old.state = SubscriptionState::Renewed;
            old.renewed_by = Some(next_for_batch.id);
            let mut batch = Batch::new();
            batch.put_entity(tenant, &next_for_batch, Expect::Absent)?;
            stage_event(
                outbox,
                tenant,
                &mut batch,
                &SubscriptionRenewed {
                    subscription: old.id,
                    renewal: next_for_batch.id,
                    next_term_start: end,
                    months: renewal.months,
                    renewal_value: next_for_batch.quote.total,
                },
            )?;
            batch.append_json(
                SUBSCRIPTION_JOURNAL,
                &SubscriptionEvent {
                    subscription: next_for_batch.id,
                    from: None,
                    to: SubscriptionState::Quoted,
                    on: today,
                    at: now,
                    detail: format!(
                        "renewal of {} quoted for {}",
                        old.id, next_for_batch.quote.total
                    ),
                },
            )?;
            Ok((
                old,
                batch,
                format!("renewed by {}", next_for_batch.id),
                today,
            ))
        })
        .await?;
        Ok(next)
    }

    /// Expire every active subscription whose term ended by `today`. Returns their ids.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("modules.subscriptions.expire_due", tenant = tenant)]
    pub async fn expire_due(
        &self,
        tenant: &TenantId,
        today: NaiveDate,
    ) -> Result<Vec<SubscriptionId>> {
        let mut out = Vec::new();
        for sub in self.list(tenant).await? {
            if sub.state == SubscriptionState::Active && sub.term_end.is_some_and(|e| e <= today) {
                let current = self.current(tenant, &sub.id).await?;
                let key = format!("expire:{}", sub.id);
                self.run(tenant, &key, &("expire", sub.id), Some(current), |s| {
                    let mut sub = s.ok_or_else(|| ModulesError::validation("id", "missing"))?;
                    sub.state = SubscriptionState::Expired;
                    Ok((
                        sub,
                        Batch::new(),
                        "term ended without renewal".to_string(),
                        today,
                    ))
                })
                .await?;
                out.push(sub.id);
            }
        }
        if !out.is_empty() {
            self.refresh(tenant).await?;
        }
        Ok(out)
    }

    /// Refund a paid subscription that was never activated.
    ///
    /// # Errors
    /// [`ModulesError::RefundNotAllowed`] once activated; an invalid state when nothing was
    /// paid.
    #[operation("modules.subscriptions.refund", tenant = tenant, key = key)]
    pub async fn refund(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        on: NaiveDate,
        key: &IdempotencyKey,
    ) -> Result<Subscription> {
        let key = key.as_str();
        let current = self.current(tenant, id).await?;
        if let Some(activated_on) = current.0.activated_on {
            return Err(ModulesError::RefundNotAllowed {
                subscription: id.to_string(),
                activated_on,
            });
        }
        self.run(tenant, key, &("refund", on), Some(current), |s| {
            let mut sub = s.ok_or_else(|| ModulesError::validation("id", "missing"))?;
            if sub.state != SubscriptionState::Paid {
                return Err(Self::refuse(
                    &sub,
                    SubscriptionState::Refunded,
                    "only a paid, unused subscription is refunded",
                ));
            }
            sub.state = SubscriptionState::Refunded;
            let detail = format!("refunded {}", sub.quote.total);
            Ok((sub, Batch::new(), detail, on))
        })
        .await
    }

    /// Cancel a quoted or signed (unpaid) subscription. Cancelling a renewal returns the term
    /// it renews to [`SubscriptionState::Active`].
    ///
    /// # Errors
    /// Any other state.
    #[operation("modules.subscriptions.cancel", tenant = tenant, key = key)]
    pub async fn cancel(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        on: NaiveDate,
        key: &IdempotencyKey,
    ) -> Result<Subscription> {
        let key = key.as_str();
        let current = self.current(tenant, id).await?;
        // Cancelling a renewal puts the term it was to renew back to active (it then expires
        // normally), in the same batch.
        let predecessor = match current.0.renewal_of {
            Some(prev) => Some(self.current(tenant, &prev).await?),
            None => None,
        };
        let now = self.clock.now();
        self.run(tenant, key, &("cancel", on), Some(current), |s| {
            let mut sub = s.ok_or_else(|| ModulesError::validation("id", "missing"))?;
            if !matches!(
                sub.state,
                SubscriptionState::Quoted | SubscriptionState::Signed
            ) {
                return Err(Self::refuse(
                    &sub,
                    SubscriptionState::Cancelled,
                    "only an unpaid subscription is cancelled",
                ));
            }
            sub.state = SubscriptionState::Cancelled;
            let mut batch = Batch::new();
            if let Some((mut prev, version)) = predecessor {
                if prev.state == SubscriptionState::Renewed && prev.renewed_by == Some(sub.id) {
                    prev.state = SubscriptionState::Active;
                    prev.renewed_by = None;
                    batch.put_entity(tenant, &prev, Expect::Version(version))?;
                    batch.append_json(
                        SUBSCRIPTION_JOURNAL,
                        &SubscriptionEvent {
                            subscription: prev.id,
                            from: Some(SubscriptionState::Renewed),
                            to: SubscriptionState::Active,
                            on,
                            at: now,
                            detail: format!("renewal {} cancelled", sub.id),
                        },
                    )?;
                }
            }
            Ok((sub, batch, "cancelled".to_string(), on))
        })
        .await
    }
}

/// The outbox over the service's store and clock. Event ids come from their own (random
/// UUIDv7) generator, so emitting events leaves the service's id sequence — seeded in
/// simulations — exactly as it was.
fn outbox_of(store: &Arc<dyn Store>, clock: &Arc<dyn Clock>) -> Outbox {
    Outbox::new(&Env::builder(store.clone()).clock(clock.clone()).build())
}

/// Stage `event` for `tenant` in `batch` (the tenant must be registered with `outbox`).
fn stage_event<E: DomainEvent>(
    outbox: &Outbox,
    tenant: &TenantId,
    batch: &mut Batch,
    event: &E,
) -> Result<()> {
    let envelope = outbox.event(tenant, event, &EventContext::new())?;
    batch.append_event(tenant, &envelope)?;
    Ok(())
}

/// Stage a grant written by the subscription flow: the record, its entry in
/// [`GRANTS_JOURNAL`] (which tells every other process to reload the tenant's grants) and its
/// `modules.entitlement.granted` event.
fn stage_grant(outbox: &Outbox, tenant: &TenantId, batch: &mut Batch, g: &Grant) -> Result<()> {
    batch.put_entity(tenant, g, Expect::Absent)?;
    batch.append_json(GRANTS_JOURNAL, &g.id)?;
    stage_event(outbox, tenant, batch, &EntitlementGranted::of(g))
}

fn grant(
    sub: &Subscription,
    ids: &dyn IdGenerator,
    source: GrantSource,
    start: NaiveDate,
    end: NaiveDate,
) -> Grant {
    Grant::new(sub.tenant, start, end)
        .with_id(GrantId::generate(ids))
        .with_source(source)
}

/// `base` plus every count in `bought`: the accounts or seats a renewal carries over, or a
/// validation error on `field` when they exceed what a quote holds (`u32::MAX`).
fn carried_over(base: u32, bought: impl IntoIterator<Item = u64>, field: &str) -> Result<u32> {
    bought
        .into_iter()
        .try_fold(u64::from(base), u64::checked_add)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            ModulesError::validation(
                field,
                format!("more than {} carried over to the next term", u32::MAX),
            )
        })
}

/// The grants of a contract's quote for its term `[start, end)`: one for the bundle (modules,
/// included and per-account seats, included usage), then one per add-on, seat line and pack.
fn contract_grants(
    sub: &Subscription,
    catalog: &crate::catalog::Catalog,
    products: &crate::products::Products,
    ids: &dyn IdGenerator,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<Grant>> {
    let bundle = products.require_bundle(&sub.quote.bundle, "bundle")?;
    let source = GrantSource::Subscription {
        subscription: sub.id.to_string(),
    };
    let mut g = grant(sub, ids, source.clone(), start, end);
    g.modules = bundle.modules.clone();
    let mut seats: BTreeMap<ModuleId, u32> = BTreeMap::new();
    // Seat limits saturate, as in the entitlement set: u32::MAX seats is no limit in practice.
    for s in &bundle.included_seats {
        let n = seats.entry(s.module.clone()).or_default();
        *n = n.saturating_add(s.seats);
    }
    if let BundlePricing::PerAccount { seat_modules, .. } = &bundle.pricing {
        let accounts = sub
            .quote
            .request
            .as_ref()
            .and_then(|r| r.accounts)
            .unwrap_or(0);
        for m in seat_modules {
            let n = seats.entry(m.clone()).or_default();
            *n = n.saturating_add(accounts);
        }
    }
    for (m, n) in seats {
        g = g.seats(m, n);
    }
    for u in &bundle.included_usage {
        g = g.quota(u.unit.clone(), u.quantity.get(), u.period);
    }
    let mut out = vec![g];
    out.extend(line_grants(
        sub, &sub.quote, catalog, products, ids, &source, start, end,
    )?);
    Ok(out)
}

fn amendment_grants(
    sub: &Subscription,
    amendment: AmendmentId,
    quote: &Quote,
    engine: &QuoteEngine,
    ids: &dyn IdGenerator,
) -> Result<Vec<Grant>> {
    let source = GrantSource::AddOn {
        subscription: sub.id.to_string(),
        amendment: amendment.to_string(),
    };
    let mut out = Vec::new();
    for l in quote.lines.iter().filter(|l| l.kind == LineKind::Accounts) {
        if let Some(BundlePricing::PerAccount { seat_modules, .. }) =
            engine.products().bundle(&quote.bundle).map(|b| &b.pricing)
        {
            let mut g = grant(sub, ids, source.clone(), quote.start, quote.end);
            for m in seat_modules {
                g = g.seats(m.clone(), u32::try_from(l.quantity).unwrap_or(u32::MAX));
            }
            out.push(g);
        }
    }
    out.extend(line_grants(
        sub,
        quote,
        engine.catalog(),
        engine.products(),
        ids,
        &source,
        quote.start,
        quote.end,
    )?);
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn line_grants(
    sub: &Subscription,
    quote: &Quote,
    catalog: &crate::catalog::Catalog,
    products: &crate::products::Products,
    ids: &dyn IdGenerator,
    source: &GrantSource,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<Grant>> {
    let mut out = Vec::new();
    for l in &quote.lines {
        match l.kind {
            LineKind::Bundle | LineKind::Accounts => {}
            LineKind::AddOn => {
                let id = ModuleId::new(l.item.clone())?;
                let m = catalog.require(&id, "add_ons")?;
                let mut g = grant(sub, ids, source.clone(), start, end).module(id.clone());
                match &m.metering {
                    Metering::None => {}
                    Metering::Seats { included, .. } => {
                        if *included > 0 {
                            g = g.seats(id, *included);
                        }
                    }
                    Metering::Usage {
                        unit,
                        included,
                        period,
                    } => {
                        if !included.is_zero() {
                            g = g.quota(unit.clone(), included.get(), *period);
                        }
                    }
                }
                out.push(g);
            }
            LineKind::Seats => {
                let id = ModuleId::new(l.item.clone())?;
                out.push(
                    grant(sub, ids, source.clone(), start, end)
                        .seats(id, u32::try_from(l.quantity).unwrap_or(u32::MAX)),
                );
            }
            LineKind::UsagePack => {
                let pack = products.require_pack(&l.item, "usage_packs")?;
                let mut g = grant(sub, ids, source.clone(), start, end);
                g.quotas.push(crate::entitlements::QuotaGrant {
                    unit: pack.unit.clone(),
                    quantity: marketingforce_core::money::Quantity::new(l.quantity),
                    period: crate::catalog::QuotaPeriod::Term,
                    source: QuotaSource::Purchased,
                });
                out.push(g);
            }
        }
    }
    Ok(out)
}
