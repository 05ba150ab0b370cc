//! The model: what each tenant's state must be, kept by the driver from acknowledged commands
//! only. Invariant checks compare the services (and the store) against it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use marketingforce_ads::account::TopUpRequest;
use marketingforce_ads::ids::{AdAccountId, AgreementId, CustomerId, PlatformId, TopUpId};
use marketingforce_ads::period::Month;
use marketingforce_content::distribution::{PublicationId, PublishCommand};
use marketingforce_core::adapters::ad_platform::DailyReport;
use marketingforce_core::money::Money;
use marketingforce_core::tenant::TenantId;
use marketingforce_crm::ids::{LeadId, TeamId, UserId};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::{Allocation, CaptureOutcome};

/// Persons a tenant's leads come from (shared by the tenants: the same people exist in
/// several tenants' markets, and must stay separate leads there).
pub const PERSONS: usize = 48;

/// The model of one tenant.
#[derive(Debug)]
pub struct TenantModel {
    /// Position in the world.
    pub index: usize,
    /// The tenant.
    pub tenant: TenantId,
    /// Numbers idempotency keys. Every tenant counts from 0, so both tenants use the same key
    /// strings: a key leaking across tenants would replay the other tenant's answer.
    pub counter: u64,
    /// Entitlements, seats and usage.
    pub usage: UsageModel,
    /// Leads and staff.
    pub crm: CrmModel,
    /// Ad operations.
    pub ads: AdsModel,
    /// Content publishing.
    pub content: ContentModel,
    /// Acknowledged commands a client may send again.
    pub replays: Vec<Replay>,
}

impl TenantModel {
    /// An empty model.
    pub fn new(index: usize, tenant: TenantId, team: TeamId) -> TenantModel {
        TenantModel {
            index,
            tenant,
            counter: 0,
            usage: UsageModel {
                monthly_articles: if index == 0 { 90 } else { 60 },
                consumed: BTreeMap::new(),
                events: BTreeMap::new(),
                sop_limit: 3 + index as u32,
                sop_seats: BTreeSet::new(),
                publications_quota: if index == 0 { 70 } else { 45 },
            },
            crm: CrmModel {
                team,
                seat_limit: 5,
                capacity: 10,
                staff: BTreeMap::new(),
                persons: BTreeMap::new(),
                leads: BTreeSet::new(),
            },
            ads: AdsModel::default(),
            content: ContentModel::default(),
            replays: Vec::new(),
        }
    }

    /// A fresh key `prefix-N`.
    pub fn key(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{}", self.counter)
    }

    /// Remember a command for replays (the last 64).
    pub fn remember(&mut self, r: Replay) {
        if self.replays.len() == 64 {
            self.replays.remove(0);
        }
        self.replays.push(r);
    }
}

/// Entitlements and usage of a tenant.
#[derive(Debug)]
pub struct UsageModel {
    /// Included `ArticlesPublished` per calendar month.
    pub monthly_articles: u64,
    /// Articles consumed by acknowledged events, per (year, month).
    pub consumed: BTreeMap<(i32, u32), u64>,
    /// Acknowledged event keys and their quantities.
    pub events: BTreeMap<String, u64>,
    /// Seats of the customer SOP module.
    pub sop_limit: u32,
    /// Accounts holding them.
    pub sop_seats: BTreeSet<String>,
    /// Release quota for publications (term).
    pub publications_quota: u64,
}

impl UsageModel {
    /// Articles left in the month of `date`.
    pub fn articles_left(&self, date: NaiveDate) -> u64 {
        let used = self
            .consumed
            .get(&(date.year(), date.month()))
            .copied()
            .unwrap_or(0);
        self.monthly_articles.saturating_sub(used)
    }

    /// Record an acknowledged consumption.
    pub fn consume(&mut self, key: &str, date: NaiveDate, quantity: u64) {
        *self
            .consumed
            .entry((date.year(), date.month()))
            .or_insert(0) += quantity;
        self.events.insert(key.to_string(), quantity);
    }
}

/// Leads and staff of a tenant.
#[derive(Debug)]
pub struct CrmModel {
    /// The sales team.
    pub team: TeamId,
    /// Seats of the sales workbench (one per active staff member).
    pub seat_limit: u32,
    /// Open leads a salesperson may hold.
    pub capacity: u32,
    /// Staff and whether they are active.
    pub staff: BTreeMap<UserId, bool>,
    /// What was captured of each person.
    pub persons: BTreeMap<usize, PersonState>,
    /// Every lead id a capture returned.
    pub leads: BTreeSet<LeadId>,
}

impl CrmModel {
    /// Active staff.
    pub fn active_staff(&self) -> Vec<UserId> {
        self.staff
            .iter()
            .filter(|(_, a)| **a)
            .map(|(u, _)| *u)
            .collect()
    }

    /// Live leads the model expects: one per connected group of a person's captures.
    pub fn expected_live_leads(&self) -> usize {
        self.persons.values().map(PersonState::expected_leads).sum()
    }
}

/// Which of a person's keys were captured.
#[derive(Debug, Clone, Default)]
pub struct PersonState {
    /// Captured with the mobile only.
    pub mobile_only: bool,
    /// Captured with the email only.
    pub email_only: bool,
    /// Captured with both (which joins everything of the person).
    pub both: bool,
    /// Lead ids the person's captures returned.
    pub leads: BTreeSet<LeadId>,
}

impl PersonState {
    /// Whether a capture with the mobile finds an existing lead.
    pub fn has_mobile(&self) -> bool {
        self.mobile_only || self.both
    }

    /// Whether a capture with the email finds an existing lead.
    pub fn has_email(&self) -> bool {
        self.email_only || self.both
    }

    /// Live leads of the person: none, one, or two while the mobile and the email were only
    /// ever captured apart.
    pub fn expected_leads(&self) -> usize {
        if self.both {
            1
        } else {
            usize::from(self.mobile_only) + usize::from(self.email_only)
        }
    }
}

/// One ad account of the model.
#[derive(Debug, Clone)]
pub struct AccountModel {
    /// Our id.
    pub id: AdAccountId,
    /// The platform's id.
    pub external: String,
    /// Index of the platform (0 prepaid, 1 monthly terms).
    pub platform: usize,
    /// Index of the customer.
    pub customer: usize,
    /// The platform's id of the account's campaign.
    pub campaign_external: String,
}

/// Ad operations of a tenant.
#[derive(Debug, Default)]
pub struct AdsModel {
    /// Our ids of the two platforms.
    pub platform_ids: Vec<PlatformId>,
    /// Customers and their credit limits.
    pub customers: Vec<(CustomerId, Money)>,
    /// Each customer's current framework agreement and its last day.
    pub agreements: Vec<(AgreementId, NaiveDate)>,
    /// Ad accounts.
    pub accounts: Vec<AccountModel>,
    /// Acknowledged top-ups.
    pub top_ups: BTreeMap<TopUpId, TopUpRequest>,
    /// Reports fetched from the platforms (every revision), to deliver in any order, again.
    pub mailbox: Vec<DailyReport>,
    /// The highest revision delivered per (platform account, date).
    pub delivered: BTreeMap<(String, NaiveDate), u32>,
    /// The last day the platforms delivered.
    pub ran_through: Option<NaiveDate>,
    /// Months settled.
    pub settled: BTreeSet<Month>,
}

/// Content of a tenant.
#[derive(Debug, Default)]
pub struct ContentModel {
    /// Approved content versions.
    pub approved: Vec<(String, u32)>,
    /// Acknowledged publish commands: key → publication.
    pub publications: BTreeMap<String, PublicationId>,
    /// Release-quota packs bought.
    pub packs: u64,
}

/// An acknowledged command, kept to send again (same key, same request: the first answer and
/// no change) or with another request under its key (a mismatch error).
#[derive(Debug, Clone)]
pub enum Replay {
    /// A usage event.
    Consume {
        /// Key.
        key: String,
        /// Units.
        quantity: u64,
    },
    /// A lead capture.
    Capture {
        /// Key.
        key: String,
        /// The request (boxed: it is much larger than the other variants).
        request: Box<CaptureRequest>,
        /// The first answer.
        outcome: CaptureOutcome,
    },
    /// An allocation.
    Allocate {
        /// Key.
        key: String,
        /// Leads.
        leads: Vec<LeadId>,
        /// The first answer.
        result: Vec<Allocation>,
    },
    /// A top-up.
    TopUp {
        /// Key.
        key: String,
        /// The request.
        request: TopUpRequest,
        /// The top-up it created.
        id: TopUpId,
    },
    /// A publication.
    Publish {
        /// Key.
        key: String,
        /// The command.
        command: PublishCommand,
        /// The publication it created.
        id: PublicationId,
    },
}
