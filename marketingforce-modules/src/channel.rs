//! Channel partners (regional resellers) and direct sales commissions.
//!
//! A partner pays an upfront **prepayment** (RMB 50,000–150,000) that is drawn down: each order
//! placed for an end user is priced at list price (the quote engine) and deducts the list price
//! minus the partner's **commission** (60–70% of list, the same for new and renewal orders). An
//! order the balance cannot cover fails cleanly ([`ModulesError::InsufficientPrepayment`]) and
//! changes nothing. Partners sell only in their designated areas: an order whose end user's
//! region (from identity or contact data) is outside them is accepted but **flagged**
//! ([`ChannelService::flagged_orders`]) for the penalty process. The vendor activates end users
//! itself, and the order records who did. On termination the remaining prepayment is refunded.
//!
//! All records live under the platform operator's tenant; every command is idempotent.
//!
//! Direct sales commissions ([`CommissionPlan`]): a rate of newly signed contract value
//! (10–30%) and a reduced rate for renewals, per salesperson per month.

use marketingforce_core::IdempotencyKey;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use marketingforce_core::entity_id;
use marketingforce_core::env::Env;
use marketingforce_core::id::IdGenerator;
use marketingforce_core::money::{Currency, Money, Rate, RoundingMode};
use marketingforce_core::storage::{
    Batch, Collection, Entity, Expect, Idempotent, IndexEntry, Journal, Page, PageRequest, Store,
};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ModulesError, Result};
use crate::pricing::{QuoteEngine, QuoteRequest};
use crate::products::BundleId;
use crate::revenue::Contract;

entity_id! {
    /// Identifies a channel [`Partner`].
    pub struct PartnerId("partner");
}

entity_id! {
    /// Identifies a [`ChannelOrder`].
    pub struct ChannelOrderId("corder");
}

/// A region code: `CN`, a province `CN-44`, a city `CN-44-03`. A region covers itself and
/// everything below it.
///
/// ```
/// use marketingforce_modules::channel::Region;
///
/// let guangdong = Region::new("CN-44").unwrap();
/// assert!(guangdong.covers(&Region::new("CN-44-03").unwrap()));
/// assert!(!guangdong.covers(&Region::new("CN-31").unwrap()));
/// assert!(!guangdong.covers(&Region::new("CN-4").unwrap()));
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    /// Validate a region code: segments of uppercase letters or digits joined by `-`.
    ///
    /// # Errors
    /// A validation error on `region`.
    pub fn new(code: impl Into<String>) -> Result<Region> {
        let code = code.into();
        let ok = !code.is_empty()
            && code.len() <= 32
            && code.split('-').all(|s| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            });
        if ok {
            Ok(Region(code))
        } else {
            Err(ModulesError::validation(
                "region",
                format!("{code:?} is not a region code like \"CN-44\" or \"CN-44-03\""),
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` is this region or inside it.
    pub fn covers(&self, other: &Region) -> bool {
        other.0 == self.0
            || other
                .0
                .strip_prefix(&self.0)
                .is_some_and(|rest| rest.starts_with('-'))
    }
}

impl TryFrom<String> for Region {
    type Error = ModulesError;
    fn try_from(s: String) -> Result<Self> {
        Region::new(s)
    }
}

impl From<Region> for String {
    fn from(r: Region) -> String {
        r.0
    }
}

/// The terms a partner signs up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerTerms {
    /// Partner name.
    pub name: String,
    /// Designated areas.
    pub areas: Vec<Region>,
    /// Commission, 60–70% of list price.
    pub commission: Rate,
    /// Upfront prepayment, RMB 50,000–150,000.
    pub prepayment: Money,
    /// The day the partnership starts.
    pub on: NaiveDate,
}

/// Whether a partner can place orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerState {
    /// Placing orders.
    Active,
    /// Terminated; the remaining prepayment was refunded.
    Terminated,
}

/// A channel partner and its prepayment balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Partner {
    /// Id.
    pub id: PartnerId,
    /// Name.
    pub name: String,
    /// Designated areas.
    pub areas: Vec<Region>,
    /// Commission rate.
    pub commission: Rate,
    /// The prepayment paid.
    pub prepayment: Money,
    /// What is left of it.
    pub balance: Money,
    /// State.
    pub state: PartnerState,
    /// Start of the partnership.
    pub joined_on: NaiveDate,
    /// Refund paid on termination.
    pub refunded: Option<Money>,
}

impl Entity for Partner {
    const COLLECTION: &'static str = "modules.partners";
    fn key(&self) -> String {
        self.id.to_string()
    }
}

/// An order a partner placed for an end user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelOrder {
    /// Id.
    pub id: ChannelOrderId,
    /// The partner.
    pub partner: PartnerId,
    /// The end user's tenant.
    pub end_user: TenantId,
    /// The end user's region (identity or contact data).
    pub end_user_region: Region,
    /// The bundle.
    pub bundle: BundleId,
    /// List price (what the end user pays the partner).
    pub list_price: Money,
    /// The partner's commission.
    pub commission: Money,
    /// Deducted from the prepayment: list price minus commission.
    pub charged: Money,
    /// The balance left after the order.
    pub balance_after: Money,
    /// The end user's region is outside the partner's areas.
    pub out_of_area: bool,
    /// The day placed.
    pub placed_on: NaiveDate,
    /// The vendor staff member who activated the end user.
    pub activated_by: Option<String>,
    /// The day activated.
    pub activated_on: Option<NaiveDate>,
}

impl Entity for ChannelOrder {
    const COLLECTION: &'static str = "modules.channel_orders";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        let mut v = vec![IndexEntry::new("partner", self.partner.to_string())];
        if self.out_of_area {
            v.push(IndexEntry::new("out_of_area", "true"));
        }
        v
    }
}

/// A movement of a partner's prepayment, journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PrepaymentEntry {
    /// The upfront prepayment.
    Prepaid {
        /// Partner.
        partner: PartnerId,
        /// Amount.
        amount: Money,
        /// Day.
        on: NaiveDate,
    },
    /// An order's deduction.
    Order {
        /// Partner.
        partner: PartnerId,
        /// Order.
        order: ChannelOrderId,
        /// Amount deducted.
        amount: Money,
        /// Day.
        on: NaiveDate,
    },
    /// The refund on termination.
    Refund {
        /// Partner.
        partner: PartnerId,
        /// Amount refunded.
        amount: Money,
        /// Day.
        on: NaiveDate,
    },
}

/// The prepayment journal.
pub const PREPAYMENT_JOURNAL: &str = "modules.partner_prepayments";

/// An order request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// The end user's tenant.
    pub end_user: TenantId,
    /// The end user's region.
    pub end_user_region: Region,
    /// What is ordered (priced at list price).
    pub quote: QuoteRequest,
    /// The day placed.
    pub on: NaiveDate,
}

/// The channel business of the platform operator.
///
/// ```
/// use marketingforce_core::IdempotencyKey;
/// use std::sync::Arc;
/// use chrono::NaiveDate;
/// use marketingforce_core::env::Env;
/// use marketingforce_core::money::Money;
/// use marketingforce_core::storage::MemoryStore;
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_modules::channel::{ChannelService, OrderRequest, PartnerTerms, Region};
/// use marketingforce_modules::pricing::{QuoteEngine, QuoteRequest, Term};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
/// let env = Env::new(Arc::new(MemoryStore::new()));
/// let svc = ChannelService::builder(&env, TenantId::new()).engine(QuoteEngine::builtin()).build();
/// let partner = svc.register(&PartnerTerms {
///     name: "浙江渠道".into(),
///     areas: vec![Region::new("CN-33").unwrap()],
///     commission: "60%".parse().unwrap(),
///     prepayment: Money::cny("80000").unwrap(),
///     on: d("2026-03-01"),
/// }, &IdempotencyKey::from_static("join-1")).await.unwrap();
/// let order = svc.place_order(&partner.id, &OrderRequest {
///     end_user: TenantId::new(),
///     end_user_region: Region::new("CN-33-01").unwrap(),
///     quote: QuoteRequest::new(marketingforce_modules::products::BundleId::TCLOUD_BASIC, Term::new(d("2026-03-10"), 12)),
///     on: d("2026-03-05"),
/// }, &IdempotencyKey::from_static("order-1")).await.unwrap();
/// // List 19,800; the partner keeps 60% and is charged 40%.
/// assert_eq!(order.charged.to_string(), "7920.00 CNY");
/// assert_eq!(order.balance_after.to_string(), "72080.00 CNY");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ChannelService {
    store: Arc<dyn Store>,
    operator: TenantId,
    engine: QuoteEngine,
    ids: Arc<dyn IdGenerator>,
}

/// Builds a [`ChannelService`] ([`ChannelService::builder`]).
#[derive(Debug)]
#[must_use]
pub struct ChannelServiceBuilder {
    env: Env,
    operator: TenantId,
    engine: Option<QuoteEngine>,
}

impl ChannelServiceBuilder {
    /// Price partners' orders with `engine` (default: [`QuoteEngine::builtin`]).
    pub fn engine(mut self, engine: QuoteEngine) -> Self {
        self.engine = Some(engine);
        self
    }

    /// The service.
    pub fn build(self) -> ChannelService {
        ChannelService {
            store: self.env.store().clone(),
            operator: self.operator,
            engine: self.engine.unwrap_or_else(QuoteEngine::builtin),
            ids: self.env.ids().clone(),
        }
    }
}

impl ChannelService {
    /// Start building the channel business stored under the `operator`'s tenant, on `env`
    /// (its store and ids).
    pub fn builder(env: &Env, operator: TenantId) -> ChannelServiceBuilder {
        ChannelServiceBuilder {
            env: env.clone(),
            operator,
            engine: None,
        }
    }

    fn partners(&self) -> Collection<Partner> {
        Collection::new(self.store.clone())
    }

    fn orders(&self) -> Collection<ChannelOrder> {
        Collection::new(self.store.clone())
    }

    /// A partner.
    ///
    /// # Errors
    /// [`marketingforce_core::Error::NotFound`], storage errors.
    #[operation("modules.channel.partner")]
    pub async fn partner(&self, id: &PartnerId) -> Result<Partner> {
        Ok(self
            .partners()
            .require(&self.operator, &id.to_string())
            .await?
            .value)
    }

    /// Sign up a partner with its prepayment.
    ///
    /// # Errors
    /// A validation error naming the field: blank name, no areas (`areas`), a commission
    /// outside 60–70% (`commission`), a prepayment outside RMB 50,000–150,000 (`prepayment`).
    #[operation("modules.channel.register", key = key)]
    pub async fn register(&self, terms: &PartnerTerms, key: &IdempotencyKey) -> Result<Partner> {
        let key = key.as_str();
        if terms.name.trim().is_empty() {
            return Err(ModulesError::validation("name", "must not be blank"));
        }
        if terms.areas.is_empty() {
            return Err(ModulesError::validation(
                "areas",
                "a partner needs at least one designated area",
            ));
        }
        let (lo, hi) = ("0.60".parse::<Rate>()?, "0.70".parse::<Rate>()?);
        if terms.commission < lo || terms.commission > hi {
            return Err(ModulesError::validation(
                "commission",
                format!("{} is outside 60%-70% of list price", terms.commission),
            ));
        }
        terms.prepayment.ensure_price("prepayment", Currency::CNY)?;
        let amount = terms.prepayment.amount();
        if amount < Money::cny("50000")?.amount() || amount > Money::cny("150000")?.amount() {
            return Err(ModulesError::validation(
                "prepayment",
                format!("{} is outside RMB 50,000-150,000", terms.prepayment),
            ));
        }
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(format!("modules.partner:{key}"), terms)?;
        if let Some(p) = idem
            .check::<Partner>(self.store.as_ref(), &self.operator)
            .await?
        {
            return Ok(p);
        }
        let partner = Partner {
            id: PartnerId::generate(self.ids.as_ref()),
            name: terms.name.clone(),
            areas: terms.areas.clone(),
            commission: terms.commission,
            prepayment: terms.prepayment,
            balance: terms.prepayment,
            state: PartnerState::Active,
            joined_on: terms.on,
            refunded: None,
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.operator, &partner, Expect::Absent)?;
        batch.append_json(
            PREPAYMENT_JOURNAL,
            &PrepaymentEntry::Prepaid {
                partner: partner.id,
                amount: partner.prepayment,
                on: terms.on,
            },
        )?;
        Ok(idem
            .commit(self.store.as_ref(), &self.operator, batch, partner)
            .await?)
    }

    /// Place an order for an end user: priced at list price, deducting list minus commission
    /// from the prepayment; flagged when the end user is outside the partner's areas.
    ///
    /// # Errors
    /// [`ModulesError::InsufficientPrepayment`] when the balance is short (nothing changes);
    /// a terminated partner; any pricing error of the quote (`quote.…`).
    #[operation("modules.channel.place_order", key = key)]
    pub async fn place_order(
        &self,
        partner: &PartnerId,
        req: &OrderRequest,
        key: &IdempotencyKey,
    ) -> Result<ChannelOrder> {
        let key = key.as_str();
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(format!("modules.corder:{key}"), &(partner, req))?;
        if let Some(o) = idem
            .check::<ChannelOrder>(self.store.as_ref(), &self.operator)
            .await?
        {
            return Ok(o);
        }
        let stored = self
            .partners()
            .require(&self.operator, &partner.to_string())
            .await?;
        let mut p = stored.value;
        if p.state != PartnerState::Active {
            return Err(marketingforce_core::Error::invalid_state(
                format!("partner {}", p.id),
                "terminated",
                "order",
                "a terminated partner cannot place orders",
            )
            .into());
        }
        let quote = self
            .engine
            .quote(&req.quote)
            .map_err(|e| e.in_field("quote"))?;
        let list_price = quote.total;
        let commission =
            crate::round_minor(list_price.mul_rate(p.commission), RoundingMode::HalfUp);
        let charged = list_price.checked_sub(&commission)?;
        if charged.amount() > p.balance.amount() {
            return Err(ModulesError::InsufficientPrepayment {
                partner: p.id.to_string(),
                balance: p.balance,
                required: charged,
            });
        }
        p.balance = p.balance.checked_sub(&charged)?;
        let out_of_area = !p.areas.iter().any(|a| a.covers(&req.end_user_region));
        let order = ChannelOrder {
            id: ChannelOrderId::generate(self.ids.as_ref()),
            partner: p.id,
            end_user: req.end_user,
            end_user_region: req.end_user_region.clone(),
            bundle: quote.bundle.clone(),
            list_price,
            commission,
            charged,
            balance_after: p.balance,
            out_of_area,
            placed_on: req.on,
            activated_by: None,
            activated_on: None,
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.operator, &p, Expect::Version(stored.version))?;
        batch.put_entity(&self.operator, &order, Expect::Absent)?;
        batch.append_json(
            PREPAYMENT_JOURNAL,
            &PrepaymentEntry::Order {
                partner: p.id,
                order: order.id,
                amount: charged,
                on: req.on,
            },
        )?;
        Ok(idem
            .commit(self.store.as_ref(), &self.operator, batch, order)
            .await?)
    }

    /// Record that vendor staff member `by` activated the order's end user on `on`.
    ///
    /// # Errors
    /// Unknown order; already activated by someone else; blank `by`.
    #[operation("modules.channel.record_activation")]
    pub async fn record_activation(
        &self,
        order: &ChannelOrderId,
        by: &str,
        on: NaiveDate,
    ) -> Result<ChannelOrder> {
        if by.trim().is_empty() {
            return Err(ModulesError::validation(
                "by",
                "name the staff member who activated",
            ));
        }
        let stored = self
            .orders()
            .require(&self.operator, &order.to_string())
            .await?;
        let mut o = stored.value;
        match &o.activated_by {
            Some(who) if who == by && o.activated_on == Some(on) => return Ok(o),
            // The error names no one: the staff member's name is personal data.
            Some(_) => {
                let on = o
                    .activated_on
                    .map_or_else(|| "earlier".to_string(), |d| format!("on {d}"));
                return Err(marketingforce_core::Error::invalid_state(
                    format!("channel order {}", o.id),
                    format!("activated {on}"),
                    "activated",
                    "already activated by another staff member",
                )
                .into());
            }
            None => {}
        }
        o.activated_by = Some(by.to_string());
        o.activated_on = Some(on);
        self.orders()
            .update(&self.operator, &o, stored.version)
            .await?;
        Ok(o)
    }

    /// Orders placed outside the partner's areas.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("modules.channel.flagged_orders")]
    pub async fn flagged_orders(&self) -> Result<Vec<ChannelOrder>> {
        Ok(self
            .orders()
            .lookup_all(&self.operator, "out_of_area", "true")
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// A partner's orders.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("modules.channel.orders_of")]
    pub async fn orders_of(&self, partner: &PartnerId) -> Result<Vec<ChannelOrder>> {
        Ok(self
            .orders()
            .lookup_all(&self.operator, "partner", &partner.to_string())
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// Terminate a partner and refund the remaining prepayment. Idempotent.
    ///
    /// # Errors
    /// Unknown partner, storage errors.
    #[operation("modules.channel.terminate", key = key)]
    pub async fn terminate(
        &self,
        partner: &PartnerId,
        on: NaiveDate,
        key: &IdempotencyKey,
    ) -> Result<Partner> {
        let key = key.as_str();
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(format!("modules.partner-end:{key}"), &(partner, on))?;
        if let Some(p) = idem
            .check::<Partner>(self.store.as_ref(), &self.operator)
            .await?
        {
            return Ok(p);
        }
        let stored = self
            .partners()
            .require(&self.operator, &partner.to_string())
            .await?;
        let mut p = stored.value;
        if p.state == PartnerState::Terminated {
            return Ok(p);
        }
        let refund = p.balance;
        p.state = PartnerState::Terminated;
        p.refunded = Some(refund);
        p.balance = Money::zero(refund.currency());
        let mut batch = Batch::new();
        batch.put_entity(&self.operator, &p, Expect::Version(stored.version))?;
        batch.append_json(
            PREPAYMENT_JOURNAL,
            &PrepaymentEntry::Refund {
                partner: p.id,
                amount: refund,
                on,
            },
        )?;
        Ok(idem
            .commit(self.store.as_ref(), &self.operator, batch, p)
            .await?)
    }

    /// One page of the prepayment journal, in order.
    ///
    /// # Errors
    /// A validation error on `page.limit` or `page.after`; storage errors.
    #[operation("modules.channel.prepayment_journal")]
    pub async fn prepayment_journal(&self, page: &PageRequest) -> Result<Page<PrepaymentEntry>> {
        let j: Journal<PrepaymentEntry> = Journal::new(self.store.clone(), PREPAYMENT_JOURNAL);
        Ok(j.page(&self.operator, page).await?)
    }
}

/// Direct sales commission rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommissionPlan {
    /// Rate on newly signed contract value (10–30%).
    pub new_rate: Rate,
    /// Reduced rate on renewals (below the new rate).
    pub renewal_rate: Rate,
}

/// A salesperson's commission for one month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionLine {
    /// New contract value signed.
    pub new_value: Money,
    /// Renewal value signed.
    pub renewal_value: Money,
    /// The commission: new × new rate + renewals × renewal rate, rounded half-up once.
    pub commission: Money,
}

impl CommissionPlan {
    /// Check the rates.
    ///
    /// # Errors
    /// A validation error on `new_rate` outside 10–30% or `renewal_rate` not below it.
    pub fn validate(&self) -> Result<()> {
        let (lo, hi) = ("0.10".parse::<Rate>()?, "0.30".parse::<Rate>()?);
        if self.new_rate < lo || self.new_rate > hi {
            return Err(ModulesError::validation(
                "new_rate",
                format!("{} is outside 10%-30%", self.new_rate),
            ));
        }
        if self.renewal_rate >= self.new_rate {
            return Err(ModulesError::validation(
                "renewal_rate",
                format!(
                    "{} must be below the new-contract rate {}",
                    self.renewal_rate, self.new_rate
                ),
            ));
        }
        Ok(())
    }

    /// Commissions per (salesperson, year, month) on the contracts signed (first obligation;
    /// mid-term orders count as new business) by direct sales.
    ///
    /// # Errors
    /// An invalid plan; mixed currencies.
    pub fn commissions(
        &self,
        contracts: &[Contract],
    ) -> Result<BTreeMap<(String, i32, u32), CommissionLine>> {
        self.validate()?;
        let mut out: BTreeMap<(String, i32, u32), (Money, Money)> = BTreeMap::new();
        for c in contracts {
            let Some(who) = &c.salesperson else { continue };
            if c.partner.is_some() {
                continue; // partners earn their channel commission instead
            }
            for (i, o) in c.obligations.iter().enumerate() {
                let zero = Money::zero(o.value.currency());
                let e = out
                    .entry((who.clone(), o.booked_on.year(), o.booked_on.month()))
                    .or_insert((zero, zero));
                if c.renewal && i == 0 {
                    e.1 = e.1.checked_add(&o.value)?;
                } else {
                    e.0 = e.0.checked_add(&o.value)?;
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|(k, (new_value, renewal_value))| {
                let raw = Money::new(
                    new_value.amount() * self.new_rate.value()
                        + renewal_value.amount() * self.renewal_rate.value(),
                    new_value.currency(),
                );
                (
                    k,
                    CommissionLine {
                        new_value,
                        renewal_value,
                        commission: crate::round_minor(raw, RoundingMode::HalfUp),
                    },
                )
            })
            .collect())
    }
}
