//! [`Figures`]: the key numbers of the story, computed from the store alone.
//!
//! Nothing here is carried over from the run in memory: every figure is read back from what the
//! services stored (subscriptions, the partner's orders, grants and the usage journal, leads
//! and their history, publications and reviews, the ad ledger). That is what makes the figures
//! of a run restarted in the middle comparable with those of an uninterrupted one — and those
//! of SQLite and PostgreSQL with those of memory. They hold names, counts, money and rates,
//! never ids, so runs with different run numbers compare equal too.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use marketingforce_ads::agreement::ServiceType;
use marketingforce_ads::campaign::Campaign;
use marketingforce_ads::settlement::Summary;
use marketingforce_content::compliance::{Decision, ReviewRecord};
use marketingforce_content::distribution::PublicationStatus;
use marketingforce_core::adapters::channel::ContentFormat;
use marketingforce_core::money::{Currency, Decimal, Money, Rate};
use marketingforce_core::storage::{Collection, Journal, PageRequest};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::TimeZone;
use marketingforce_crm::fission::FissionEvent;
use marketingforce_crm::funnel::FunnelQuery;
use marketingforce_crm::lifecycle::{LeadEvent, LeadEventKind, HISTORY_JOURNAL};
use marketingforce_crm::model::Stage;
use marketingforce_crm::sop::{SopTask, TaskStatus};
use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
use marketingforce_modules::metrics::SaasMetrics;
use marketingforce_modules::products::{BundlePricing, Product};
use marketingforce_modules::revenue::{Contract, RevenueBook};
use marketingforce_modules::subscriptions::Subscription;
use marketingforce_sites::analytics::{site_figures, Dimension, SiteFigures};
use marketingforce_sites::publish::PublicationRecord;
use serde::{Deserialize, Serialize};

use super::cast::{day, Cast, PARTNER};
use super::error::Result;
use super::phases::month_end_month;
use super::script;
use super::services::Services;

/// Tenant A's official site and its visitors (5–31 March).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebsiteFigures {
    /// The customer whose site it is.
    pub customer: String,
    /// Where it is served.
    pub base_url: String,
    /// HTML pages published (both languages, PC and mobile).
    pub pages: usize,
    /// Files published (pages, CSS, sitemap, robots.txt, assets).
    pub files: usize,
    /// Text blocks approved by the Advertising Law review before publishing.
    pub texts_reviewed: usize,
    /// The digest of the published files (the same on every run and backend).
    pub digest: String,
    /// What the evaluation report reads: visits, page views, visitors, dwell, inquiries, load
    /// time and the site's features.
    pub visits: SiteFigures,
    /// Sessions by source class (`search`, `social`, `ad`, `referral`, `direct`, …).
    pub sources: Vec<(String, u64)>,
    /// Sessions by region (`province/city`).
    pub regions: Vec<(String, u64)>,
    /// Page views by page.
    pub pages_viewed: Vec<(String, u64)>,
}

/// The catalog the vendor sells from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogFigures {
    /// Functional modules.
    pub modules: usize,
    /// Key areas they belong to.
    pub key_areas: usize,
    /// Bundles (product versions).
    pub bundles: usize,
    /// Usage packs.
    pub usage_packs: usize,
    /// T Cloud versions.
    pub t_cloud_versions: usize,
    /// The cheapest T Cloud version, per year.
    pub t_cloud_from: Money,
    /// The dearest T Cloud version, per year.
    pub t_cloud_to: Money,
    /// True Client Standard, per account per year.
    pub true_client_per_account: Money,
}

/// One signed contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractFigures {
    /// The customer.
    pub customer: String,
    /// The bundle.
    pub bundle: String,
    /// Add-on modules bought with it.
    pub add_ons: Vec<String>,
    /// Accounts (per-account bundles).
    pub accounts: Option<u32>,
    /// Who sold it: `direct` or `partner`.
    pub sold_by: String,
    /// Contract value (list price).
    pub value: Money,
    /// Sales commission: the direct salesperson's, or the partner's kept from the list price.
    pub commission: Money,
    /// What the vendor receives: the value, or for a partner sale what the partner's
    /// prepayment is charged.
    pub vendor_receives: Money,
    /// Activation (revenue starts).
    pub term_start: Option<NaiveDate>,
    /// End of term (exclusive).
    pub term_end: Option<NaiveDate>,
}

/// The channel partner's prepayment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerFigures {
    /// Name.
    pub name: String,
    /// Commission rate.
    pub commission_rate: Rate,
    /// Prepaid.
    pub prepayment: Money,
    /// Orders placed.
    pub orders: usize,
    /// Drawn by the orders.
    pub drawn: Money,
    /// Left.
    pub balance: Money,
    /// Orders outside its areas.
    pub out_of_area: usize,
}

/// Revenue recognition of the SaaS contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevenueFigures {
    /// As of (inclusive).
    pub as_of: NaiveDate,
    /// Contract value booked.
    pub booked: Money,
    /// Recognised ratably from activation.
    pub recognised: Money,
    /// Remaining performance obligation.
    pub rpo: Money,
    /// Paid but not yet recognised.
    pub deferred: Money,
    /// Recognised per customer.
    pub recognised_by_customer: Vec<(String, Money)>,
    /// Recognised per month of the contracted year, March 2026 first (the waterfall).
    pub waterfall: Vec<(String, Money)>,
}

/// Usage of one metered unit against its quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageFigures {
    /// The customer.
    pub customer: String,
    /// The unit.
    pub unit: String,
    /// The quota window: `2026-03` for monthly quotas, `term` for the whole term.
    pub window: String,
    /// Used in the window.
    pub used: u64,
    /// The quota of the window.
    pub quota: u64,
}

/// Seats of one seat-limited module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatFigures {
    /// The customer.
    pub customer: String,
    /// The module.
    pub module: String,
    /// Seats assigned.
    pub used: u32,
    /// Seats bought or included.
    pub limit: u32,
}

/// T-text, T-image and distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentFigures {
    /// Articles drafted by T-text.
    pub articles_generated: usize,
    /// Posters made by T-image.
    pub posters_generated: usize,
    /// Content versions reviewed.
    pub versions_reviewed: usize,
    /// Versions the compliance review rejected.
    pub versions_rejected: usize,
    /// Articles live on at least one channel.
    pub articles_published: usize,
    /// Posters live.
    pub posters_published: usize,
    /// Publications (one piece on one channel).
    pub publications: usize,
    /// Release-quota units they consumed.
    pub release_units: u64,
    /// The channels used.
    pub channels: Vec<String>,
    /// Inquiries the content brought, handed to the CRM.
    pub inquiries: usize,
}

/// The lead funnel of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadFigures {
    /// The customer (tenant).
    pub customer: String,
    /// Captures received (every source).
    pub captured: usize,
    /// Captures that created a lead.
    pub created: usize,
    /// Captures merged into an existing lead (duplicates).
    pub merged: usize,
    /// Live leads.
    pub live: usize,
    /// Leads assigned by the allocation rules.
    pub allocated: usize,
    /// Leads the SLA escalated to a manager.
    pub escalated: usize,
    /// Leads the SLA reassigned.
    pub reassigned: usize,
    /// Leads followed up.
    pub followed_up: usize,
    /// Leads that reached `qualified` (hot by score).
    pub qualified: usize,
    /// Leads that converted.
    pub converted: usize,
    /// Members of a programme.
    pub members: usize,
    /// SOP tasks created.
    pub sop_tasks: usize,
    /// SOP tasks done.
    pub sop_tasks_done: usize,
    /// The funnel: leads that reached each stage of the main path.
    pub funnel: Vec<(String, u64)>,
}

/// The social-fission campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FissionFigures {
    /// Campaign name.
    pub campaign: String,
    /// Participants.
    pub participants: usize,
    /// Participants who joined through a referral code.
    pub referrals: usize,
    /// Shares.
    pub shares: usize,
    /// Rewards paid.
    pub rewards: usize,
    /// What they cost.
    pub reward_cost: Money,
    /// The budget.
    pub budget: Money,
}

/// One service type's side of the ad business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasisFigures {
    /// Clicks delivered.
    pub clicks: u64,
    /// Traffic spend.
    pub spend: Money,
    /// Rebates from the platform on that spend (standard and tiers).
    pub rebates_received: Money,
    /// Rebates to the customers.
    pub rebates_offered: Money,
    /// KPI compensation (solution services only).
    pub kpi_compensation: Money,
    /// Revenue: gross basis (solution) = spend − customer rebates − KPI compensation; net basis
    /// (distribution) = platform rebates − customer rebates.
    pub revenue: Money,
    /// Cost: traffic cost under the gross basis (spend − platform rebates) plus staff costs.
    pub cost: Money,
    /// Revenue − cost.
    pub gross_profit: Money,
}

/// March's ad business, as settled and read back from the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdsFigures {
    /// The month.
    pub month: String,
    /// Impressions delivered.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Traffic spend (charged to customers at the platform's prices, no markup).
    pub spend: Money,
    /// Standard rebates from the platform.
    pub standard_rebates: Money,
    /// Progressive (tier) rebates from the platform.
    pub tier_rebates: Money,
    /// Every rebate received from the platform.
    pub rebates_received: Money,
    /// Rebates offered to customers.
    pub rebates_offered: Money,
    /// KPI compensation to the solution customer.
    pub kpi_compensation: Money,
    /// Rebates received ÷ spend.
    pub rate_received: Option<Decimal>,
    /// Rebates offered ÷ spend.
    pub rate_offered: Option<Decimal>,
    /// Received − offered.
    pub net_rebate_rate: Option<Decimal>,
    /// Gross billing: spend − customer rebates.
    pub gross_billing: Money,
    /// Solution services (the agency is principal): gross basis.
    pub solution: BasisFigures,
    /// Distribution services (the agency is agent): net basis.
    pub distribution: BasisFigures,
    /// Total ad revenue (both bases).
    pub revenue: Money,
    /// Staff costs.
    pub staff_costs: Money,
    /// Cost: solution traffic cost + staff costs.
    pub cost: Money,
    /// Revenue − cost.
    pub gross_profit: Money,
    /// Invoiced to customers.
    pub invoiced: Money,
    /// Every ledger account sums to zero (debits = credits).
    pub ledger_balanced: bool,
}

/// The vendor's SaaS metrics for 2026 (contracted year), with DOMAIN.md's definitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaasFigures {
    /// The year.
    pub year: i32,
    /// Users generating revenue in the year.
    pub total_users: u64,
    /// Users signing contracts or placing orders.
    pub signing_users: u64,
    /// Contract value signed ÷ signing users.
    pub average_contract_value: Option<Money>,
    /// Mean over the months of revenue ÷ paying users.
    pub monthly_arpu: Money,
    /// Selling and distribution expenses: partner and direct commissions.
    pub selling_expenses: Money,
    /// Expenses ÷ signing users.
    pub cac: Option<Money>,
    /// Mean over months of expenses ÷ signers ÷ median term.
    pub monthly_cac: Option<Money>,
}

/// The platform's revenue in March.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalFigures {
    /// SaaS revenue recognised in March.
    pub saas_revenue: Money,
    /// Ad revenue of March (gross and net bases).
    pub ads_revenue: Money,
    /// Both.
    pub revenue: Money,
}

/// The key figures of a finished run, computed from the store alone.
///
/// Nothing is carried over from the run in memory: every figure is read back from what the
/// services stored (subscriptions, the partner's orders, grants and the usage journal, leads and
/// their history, publications and reviews, the ad ledger). So the figures of a run restarted in
/// the middle equal an uninterrupted run's, and SQLite's and PostgreSQL's equal memory's. They
/// hold names, counts, money and rates — never ids — so runs with different run numbers compare
/// equal too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// The last day the figures cover.
    pub as_of: NaiveDate,
    /// The catalog.
    pub catalog: CatalogFigures,
    /// The SaaS contracts.
    pub contracts: Vec<ContractFigures>,
    /// The channel partner.
    pub partner: PartnerFigures,
    /// Revenue recognition.
    pub revenue: RevenueFigures,
    /// Usage against quotas.
    pub usage: Vec<UsageFigures>,
    /// Seats.
    pub seats: Vec<SeatFigures>,
    /// Content.
    pub content: ContentFigures,
    /// Tenant A's official site and its visitors.
    pub site: WebsiteFigures,
    /// Leads per tenant.
    pub leads: Vec<LeadFigures>,
    /// Social fission.
    pub fission: FissionFigures,
    /// The ad business.
    pub ads: AdsFigures,
    /// SaaS metrics.
    pub saas: SaasFigures,
    /// Totals.
    pub totals: TotalFigures,
}

fn cny0() -> Money {
    Money::zero(Currency::CNY)
}

fn add(a: Money, b: &Money) -> Result<Money> {
    Ok(a.checked_add(b)?)
}

impl Figures {
    pub(crate) async fn compute(cast: &Cast, svc: &Services) -> Result<Figures> {
        let as_of = day(3, 31);
        let subs = contracts_of(cast, svc).await?;
        let (contracts, expenses) = contracts(cast, svc, &subs).await?;
        let book = RevenueBook::from_subscriptions(Currency::CNY, subs.iter().map(|(_, s)| s))?;
        let revenue = revenue(cast, &book, as_of)?;
        let ads = ads(cast, svc).await?;
        let saas = saas(&book, expenses)?;
        let march = revenue.waterfall.first().map_or(cny0(), |(_, m)| *m);
        let totals = TotalFigures {
            saas_revenue: march,
            ads_revenue: ads.revenue,
            revenue: add(march, &ads.revenue)?,
        };
        Ok(Figures {
            as_of,
            catalog: catalog(svc),
            contracts,
            partner: partner(svc, &subs).await?,
            revenue,
            usage: usage(cast, svc).await?,
            seats: seats(cast, svc).await?,
            content: content(cast, svc).await?,
            site: website(cast, svc).await?,
            leads: vec![
                leads(cast, svc, &cast.jinggong).await?,
                leads(cast, svc, &cast.yunfan).await?,
            ],
            fission: fission(cast, svc).await?,
            ads,
            saas,
            totals,
        })
    }

    /// The leads of a customer by name.
    pub fn leads_of(&self, customer: &str) -> Option<&LeadFigures> {
        self.leads.iter().find(|l| l.customer == customer)
    }

    /// The usage of `unit` by a customer.
    pub fn usage_of(&self, customer: &str, unit: &str) -> Option<&UsageFigures> {
        self.usage
            .iter()
            .find(|u| u.customer == customer && u.unit == unit)
    }
}

fn catalog(svc: &Services) -> CatalogFigures {
    let engine = svc.subscriptions.engine();
    let (catalog, products) = (engine.catalog(), engine.products());
    let areas: BTreeSet<String> = catalog
        .modules()
        .iter()
        .map(|m| format!("{:?}", m.area))
        .collect();
    let t_cloud: Vec<Money> = products
        .bundles()
        .iter()
        .filter(|b| b.product == Product::TCloud)
        .filter_map(|b| match &b.pricing {
            BundlePricing::Flat { annual } => Some(*annual),
            BundlePricing::PerAccount { .. } => None,
        })
        .collect();
    let by_amount = |a: &&Money, b: &&Money| a.amount().cmp(&b.amount());
    let per_account = products
        .bundles()
        .iter()
        .find_map(|b| match (&b.product, &b.pricing) {
            (Product::TrueClientStandard, BundlePricing::PerAccount { per_account, .. }) => {
                Some(*per_account)
            }
            _ => None,
        })
        .unwrap_or(cny0());
    CatalogFigures {
        modules: catalog.modules().len(),
        key_areas: areas.len(),
        bundles: products.bundles().len(),
        usage_packs: products.packs().len(),
        t_cloud_versions: t_cloud.len(),
        t_cloud_from: t_cloud.iter().min_by(by_amount).copied().unwrap_or(cny0()),
        t_cloud_to: t_cloud.iter().max_by(by_amount).copied().unwrap_or(cny0()),
        true_client_per_account: per_account,
    }
}

/// The signed subscriptions of both customers, in story order.
async fn contracts_of(cast: &Cast, svc: &Services) -> Result<Vec<(TenantId, Subscription)>> {
    let mut out = Vec::new();
    for t in [cast.jinggong, cast.yunfan] {
        for s in svc.subscriptions.list(&t).await? {
            if s.signed_on.is_some() {
                out.push((t, s));
            }
        }
    }
    Ok(out)
}

/// The contracts, and the month's selling expenses (commissions) per month.
async fn contracts(
    cast: &Cast,
    svc: &Services,
    subs: &[(TenantId, Subscription)],
) -> Result<(Vec<ContractFigures>, BTreeMap<u32, Money>)> {
    let plan = script::commission_plan()?;
    let mut out = Vec::new();
    let mut expenses: BTreeMap<u32, Money> = BTreeMap::new();
    for (t, s) in subs {
        let Some(c) = Contract::from_subscription(s)? else {
            continue;
        };
        let value = s.contract_value()?;
        let (sold_by, commission, vendor_receives) = match &s.partner {
            Some(id) => {
                let order = svc
                    .channel
                    .orders_of(id)
                    .await?
                    .into_iter()
                    .find(|o| o.end_user == *t);
                match order {
                    Some(o) => ("partner".to_string(), o.commission, o.charged),
                    None => ("partner".to_string(), cny0(), cny0()),
                }
            }
            None => {
                let lines = plan.commissions(std::slice::from_ref(&c))?;
                let commission = lines
                    .values()
                    .try_fold(cny0(), |acc, l| add(acc, &l.commission))?;
                ("direct".to_string(), commission, value)
            }
        };
        let month = chrono::Datelike::month(&c.signed_on);
        let e = expenses.entry(month).or_insert(cny0());
        *e = add(*e, &commission)?;
        let add_ons = s
            .quote
            .lines
            .iter()
            .filter(|l| l.kind == marketingforce_modules::pricing::LineKind::AddOn)
            .map(|l| l.item.clone())
            .collect();
        out.push(ContractFigures {
            customer: cast.name_of(t).to_string(),
            bundle: s.quote.bundle.to_string(),
            add_ons,
            accounts: s.quote.request.as_ref().and_then(|r| r.accounts),
            sold_by,
            value,
            commission,
            vendor_receives,
            term_start: s.term_start,
            term_end: s.term_end,
        });
    }
    Ok((out, expenses))
}

async fn partner(svc: &Services, subs: &[(TenantId, Subscription)]) -> Result<PartnerFigures> {
    let id = subs.iter().find_map(|(_, s)| s.partner);
    let Some(id) = id else {
        return Ok(PartnerFigures {
            name: PARTNER.into(),
            commission_rate: Rate::ZERO,
            prepayment: cny0(),
            orders: 0,
            drawn: cny0(),
            balance: cny0(),
            out_of_area: 0,
        });
    };
    let p = svc.channel.partner(&id).await?;
    let orders = svc.channel.orders_of(&id).await?;
    let drawn = orders
        .iter()
        .try_fold(cny0(), |acc, o| add(acc, &o.charged))?;
    Ok(PartnerFigures {
        name: p.name,
        commission_rate: p.commission,
        prepayment: p.prepayment,
        orders: orders.len(),
        drawn,
        balance: p.balance,
        out_of_area: orders.iter().filter(|o| o.out_of_area).count(),
    })
}

fn revenue(cast: &Cast, book: &RevenueBook, as_of: NaiveDate) -> Result<RevenueFigures> {
    let p = book.position(as_of)?;
    let mut by_customer = Vec::new();
    for t in [cast.jinggong, cast.yunfan] {
        let mut r = cny0();
        for c in book.contracts().iter().filter(|c| c.customer == t) {
            for o in &c.obligations {
                if let Some(s) = &o.schedule {
                    r = add(r, &s.recognized_through(as_of))?;
                }
            }
        }
        by_customer.push((cast.name_of(&t).to_string(), r));
    }
    let waterfall = book
        .waterfall(day(3, 1), day(12, 31))?
        .into_iter()
        .map(|row| (row.month.format("%Y-%m").to_string(), row.recognized))
        .collect();
    Ok(RevenueFigures {
        as_of,
        booked: p.booked,
        recognised: p.recognized,
        rpo: p.rpo,
        deferred: p.deferred,
        recognised_by_customer: by_customer,
        waterfall,
    })
}

async fn usage(cast: &Cast, svc: &Services) -> Result<Vec<UsageFigures>> {
    let units = [
        (cast.jinggong, UsageUnit::ArticlesPublished),
        (cast.jinggong, UsageUnit::ImagesGenerated),
        (cast.jinggong, UsageUnit::Publications),
        (cast.jinggong, UsageUnit::LeadsStored),
        (cast.yunfan, UsageUnit::LeadsStored),
    ];
    let (march, april) = (day(3, 1), day(4, 1));
    let mut out = Vec::new();
    for (t, unit) in units {
        let ents = svc.registry.load(&t).await?;
        let name = unit.to_string();
        let quotas: Vec<_> = ents
            .grants()
            .into_iter()
            .filter(|g| g.start <= day(3, 31) && day(3, 31) < g.end)
            .flat_map(|g| g.quotas)
            .filter(|q| q.unit == unit)
            .collect();
        let monthly = quotas.iter().any(|q| q.period == QuotaPeriod::Month);
        let quota = quotas.iter().map(|q| q.quantity.get()).sum();
        let used = ents
            .report()
            .usage
            .iter()
            .filter(|((u, _, _, window), _)| {
                *u == name && (!monthly || (march <= *window && *window < april))
            })
            .map(|(_, n)| *n)
            .sum();
        out.push(UsageFigures {
            customer: cast.name_of(&t).to_string(),
            unit: name,
            window: if monthly {
                "2026-03".into()
            } else {
                "term".into()
            },
            used,
            quota,
        });
    }
    Ok(out)
}

async fn seats(cast: &Cast, svc: &Services) -> Result<Vec<SeatFigures>> {
    let mut out = Vec::new();
    for (t, m) in [
        (cast.jinggong, ModuleId::MARKETING_TEAM_MANAGEMENT),
        (cast.yunfan, ModuleId::SALES_WORKBENCH),
    ] {
        let ents = svc.registry.load(&t).await?;
        out.push(SeatFigures {
            customer: cast.name_of(&t).to_string(),
            module: m.to_string(),
            used: ents.seats_assigned(&m),
            limit: ents.seat_limit(&m).unwrap_or(0),
        });
    }
    Ok(out)
}

async fn content(cast: &Cast, svc: &Services) -> Result<ContentFigures> {
    let a = cast.jinggong;
    // The site's text blocks are reviewed too (`site:` content ids): counted with the site.
    let reviews: Vec<_> = Collection::<ReviewRecord>::new(svc.store.clone())
        .list_all(&a)
        .await?
        .into_iter()
        .filter(|r| !r.value.content_id.starts_with("site:"))
        .collect();
    let publications = svc.publisher.list(&a).await?;
    let live: Vec<_> = publications
        .iter()
        .filter(|p| matches!(p.status, PublicationStatus::Published(_)))
        .collect();
    let distinct = |format: ContentFormat| {
        live.iter()
            .filter(|p| p.command.format == format)
            .map(|p| p.command.content_id.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    };
    let channels: BTreeSet<String> = live.iter().map(|p| p.command.channel.clone()).collect();
    let reviewed_ids: BTreeSet<&str> = reviews
        .iter()
        .map(|r| r.value.content_id.as_str())
        .collect();
    Ok(ContentFigures {
        articles_generated: reviewed_ids
            .iter()
            .filter(|id| id.starts_with("article-"))
            .count(),
        posters_generated: reviewed_ids
            .iter()
            .filter(|id| id.starts_with("poster-"))
            .count(),
        versions_reviewed: reviews.len(),
        versions_rejected: reviews
            .iter()
            .filter(|r| r.value.decision == Decision::Rejected)
            .count(),
        articles_published: distinct(ContentFormat::Article),
        posters_published: distinct(ContentFormat::Image),
        publications: live.len(),
        release_units: live.iter().map(|p| p.quota_units).sum(),
        channels: channels.into_iter().collect(),
        inquiries: svc.forwarder.recorded(&a).await?.len(),
    })
}

async fn leads(cast: &Cast, svc: &Services, t: &TenantId) -> Result<LeadFigures> {
    let crm = svc.crm(cast, t);
    let all = crm.all_leads(t).await?;
    let history = Journal::<LeadEvent>::new(svc.store.clone(), HISTORY_JOURNAL)
        .read_all(t)
        .await?;
    let (mut captured, mut created, mut allocated, mut escalated, mut reassigned) = (0, 0, 0, 0, 0);
    for (_, e) in &history {
        match &e.event {
            LeadEventKind::Captured { created: c, .. } => {
                captured += 1;
                if *c {
                    created += 1;
                }
            }
            LeadEventKind::Assigned {
                to: Some(_),
                reason,
                ..
            } if reason == "allocation" => allocated += 1,
            LeadEventKind::Assigned {
                to: Some(_),
                reason,
                ..
            } if reason == "sla" => reassigned += 1,
            LeadEventKind::Escalated { .. } => escalated += 1,
            _ => {}
        }
    }
    let reached = |s: Stage| all.iter().filter(|l| l.reached.contains(s)).count();
    let tasks = Collection::<SopTask>::new(svc.store.clone())
        .list_all(t)
        .await?;
    let funnel = crm
        .funnel(t, TimeZone::SHANGHAI, &FunnelQuery::default())
        .await?
        .stages
        .iter()
        .filter(|s| Stage::FUNNEL.contains(&s.stage))
        .map(|s| (s.stage.as_str().to_string(), s.reached))
        .collect();
    Ok(LeadFigures {
        customer: cast.name_of(t).to_string(),
        captured,
        created,
        merged: captured - created,
        live: all.iter().filter(|l| l.is_active()).count(),
        allocated,
        escalated,
        reassigned,
        followed_up: all.iter().filter(|l| l.first_response_at.is_some()).count(),
        qualified: reached(Stage::Qualified),
        converted: reached(Stage::Converted),
        members: reached(Stage::Member),
        sop_tasks: tasks.len(),
        sop_tasks_done: tasks
            .iter()
            .filter(|t| t.value.status == TaskStatus::Done)
            .count(),
        funnel,
    })
}

async fn fission(cast: &Cast, svc: &Services) -> Result<FissionFigures> {
    let a = cast.jinggong;
    let c = svc.fission.campaign(&a, &cast.a_fission).await?;
    let mut events = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = svc.fission.events(&a, &page).await?;
        events.extend(got.items);
        match got.next {
            Some(cursor) => page = PageRequest::next(PageRequest::MAX_LIMIT, cursor),
            None => break,
        }
    }
    let (mut participants, mut referrals, mut shares, mut rewards) = (0, 0, 0, 0);
    for e in &events {
        match e {
            FissionEvent::Joined { referred_by, .. } => {
                participants += 1;
                if referred_by.is_some() {
                    referrals += 1;
                }
            }
            FissionEvent::Shared { .. } => shares += 1,
            FissionEvent::Rewarded { .. } => rewards += 1,
            _ => {}
        }
    }
    Ok(FissionFigures {
        campaign: c.name,
        participants,
        referrals,
        shares,
        rewards,
        reward_cost: c.spent,
        budget: c.budget,
    })
}

fn basis(summary: Option<&Summary>, clicks: u64) -> BasisFigures {
    let z = cny0();
    BasisFigures {
        clicks,
        spend: summary.map_or(z, |s| s.spend),
        rebates_received: summary.map_or(z, |s| s.platform_rebates),
        rebates_offered: summary.map_or(z, |s| s.customer_rebates),
        kpi_compensation: summary.map_or(z, |s| s.kpi_compensation),
        revenue: summary.map_or(z, |s| s.revenue),
        cost: summary.map_or(z, |s| s.cost),
        gross_profit: summary.map_or(z, |s| s.gross_profit),
    }
}

async fn ads(cast: &Cast, svc: &Services) -> Result<AdsFigures> {
    let ops = &svc.ads;
    let month = month_end_month()?;
    let f = ops.settlement_figures(month).await?;
    let overall = f.overall();
    let by_type = f.by_service_type();
    let of = |s: ServiceType| by_type.iter().find(|(t, _)| *t == s).map(|(_, x)| x);
    let (mut standard, mut tier) = (cny0(), cny0());
    for l in &f.lines {
        standard = add(standard, &l.standard_rebate)?;
        tier = add(tier, &l.tier_rebate)?;
        tier = add(tier, &l.tier_true_up)?;
    }
    let invoiced = f
        .lines
        .iter()
        .try_fold(cny0(), |acc, l| add(acc, &l.invoice()))?;
    let balanced = ops
        .ledger()
        .read(|e| e.trial_balance_at(u64::MAX))
        .await?
        .iter()
        .all(|(_, posted, pending)| *posted == 0 && *pending == 0);
    let (mut impressions, mut clicks) = (0, 0);
    let mut clicks_by_type: BTreeMap<ServiceType, u64> = BTreeMap::new();
    for c in Collection::<Campaign>::new(svc.store.clone())
        .list_all(&cast.operator)
        .await?
    {
        let customer = ops.customer(&c.value.customer).await?;
        let service = script::ADVERTISERS
            .iter()
            .find(|a| a.name == customer.name)
            .map_or(ServiceType::Distribution, |a| a.service);
        for d in ops
            .campaign_performance(&c.value.id, day(3, 1), day(3, 31))
            .await?
        {
            impressions += d.metrics.impressions;
            clicks += d.metrics.clicks;
            *clicks_by_type.entry(service).or_default() += d.metrics.clicks;
        }
    }
    let clicks_of = |s: ServiceType| clicks_by_type.get(&s).copied().unwrap_or(0);
    Ok(AdsFigures {
        month: month.to_string(),
        impressions,
        clicks,
        spend: overall.spend,
        standard_rebates: standard,
        tier_rebates: tier,
        rebates_received: overall.platform_rebates,
        rebates_offered: overall.customer_rebates,
        kpi_compensation: overall.kpi_compensation,
        rate_received: overall.rate_received,
        rate_offered: overall.rate_offered,
        net_rebate_rate: overall.net_rebate_rate,
        gross_billing: overall.gross_billing,
        solution: basis(of(ServiceType::Solution), clicks_of(ServiceType::Solution)),
        distribution: basis(
            of(ServiceType::Distribution),
            clicks_of(ServiceType::Distribution),
        ),
        revenue: overall.revenue,
        staff_costs: overall.staff_costs,
        cost: overall.cost,
        gross_profit: overall.gross_profit,
        invoiced,
        ledger_balanced: balanced,
    })
}

fn saas(book: &RevenueBook, expenses: BTreeMap<u32, Money>) -> Result<SaasFigures> {
    let m = SaasMetrics::compute(book, 2026, &expenses)?;
    let selling = expenses.values().try_fold(cny0(), add)?;
    Ok(SaasFigures {
        year: m.year,
        total_users: m.total_users,
        signing_users: m.signing_users,
        average_contract_value: m.average_contract_value_per_user,
        monthly_arpu: m.monthly_arpu,
        selling_expenses: selling,
        cac: m.cac,
        monthly_cac: m.monthly_cac,
    })
}

async fn website(cast: &Cast, svc: &Services) -> Result<WebsiteFigures> {
    let a = &cast.jinggong;
    let site = marketingforce_sites::demo::jinggong()?.site;
    let record = Collection::<PublicationRecord>::new(svc.store.clone())
        .get(a, &site.id)
        .await?
        .map(|v| v.value);
    let analytics = &svc.sites.analytics;
    let (from, to) = (day(3, 5), day(3, 31));
    let visits = site_figures(analytics, a, &site, from, to).await?;
    let site_id: &str = &site.id;
    let by = |dim| async move {
        let rows = analytics.report(a, Some(site_id), from, to, dim).await?;
        Ok::<_, super::error::ScenarioError>(
            rows.into_iter()
                .map(|r| {
                    let n = if dim == Dimension::Page {
                        r.pageviews
                    } else {
                        r.sessions
                    };
                    (r.key, n)
                })
                .collect::<Vec<_>>(),
        )
    };
    Ok(WebsiteFigures {
        customer: cast.name_of(a).to_string(),
        base_url: site.base_url.clone(),
        pages: record.as_ref().map_or(0, |r| r.pages),
        files: record.as_ref().map_or(0, |r| r.files),
        texts_reviewed: record.as_ref().map_or(0, |r| r.texts_reviewed),
        digest: record.map(|r| r.digest).unwrap_or_default(),
        sources: by(Dimension::Source).await?,
        regions: by(Dimension::Region).await?,
        pages_viewed: by(Dimension::Page).await?,
        visits,
    })
}
