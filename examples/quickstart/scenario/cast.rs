//! The cast of the story — who takes part and under which ids — and the clock and id source
//! that make every run the same.
//!
//! Ids are derived from the run number, never stored first: a process that restarts in the
//! middle of the story finds the same tenants and staff by computing them again. Within a
//! phase, entity ids come from a [`PhaseIds`] generator seeded by the run and the phase, so a
//! run interrupted before phase *k* and resumed produces exactly the ids an uninterrupted run
//! produces.

use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use marketingforce_core::id::{splitmix64, IdGenerator, SeededIds, Uuid};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_crm::ids::{CampaignId, MaterialId, ProgramId, SopId, TeamId, UserId};
use marketingforce_crm::staff::Role;

use super::Phase;

/// The platform operator (the vendor): catalog, channel partners, the ad agency's books.
pub const OPERATOR: &str = "Marketingforce 平台运营";
/// Tenant A: a machinery maker on T Cloud Standard with add-ons, sold directly.
pub const JINGGONG: &str = "上海精工机械有限公司";
/// Tenant B: a trading company on True Client Standard (8 accounts), sold by a partner.
pub const YUNFAN: &str = "苏州云帆贸易有限公司";
/// The channel partner that sells to tenant B.
pub const PARTNER: &str = "华东渠道服务商";
/// The direct salesperson who signed tenant A.
pub const SALESPERSON: &str = "zhang.wei";
/// The advertiser on distribution (net basis) terms.
pub const DISTRIBUTION_ADVERTISER: &str = "杭州优品电商有限公司";

/// One staff member of a tenant in the story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person {
    /// Their user id (derived from the run).
    pub id: UserId,
    /// Display name.
    pub name: &'static str,
    /// Role.
    pub role: Role,
    /// Seniority level.
    pub level: u8,
}

/// Everyone in the story, with ids derived from the run number.
#[derive(Debug, Clone)]
pub struct Cast {
    /// The run number the ids derive from.
    pub run: u64,
    /// The operator tenant.
    pub operator: TenantId,
    /// Tenant A (T Cloud).
    pub jinggong: TenantId,
    /// Tenant B (True Client).
    pub yunfan: TenantId,
    /// Tenant A's marketing team (its manager first).
    pub a_team: TeamId,
    /// Tenant A's staff: the manager, then two marketing specialists who work the leads.
    pub a_staff: Vec<Person>,
    /// Tenant B's sales team.
    pub b_team: TeamId,
    /// Tenant B's staff: the manager, seven salespeople, and a ninth hire with no account left.
    pub b_staff: Vec<Person>,
    /// Tenant B's follow-up SOP template.
    pub b_sop: SopId,
    /// Tenant B's product brochure in its conversation library.
    pub b_brochure: MaterialId,
    /// Tenant A's membership programme.
    pub a_program: ProgramId,
    /// Tenant A's social-fission campaign.
    pub a_fission: CampaignId,
}

const A_STAFF: [(&str, Role, u8); 3] = [
    ("王敏(市场经理)", Role::Manager, 6),
    ("李娜", Role::Salesperson, 3),
    ("陈刚", Role::Salesperson, 3),
];

const B_STAFF: [(&str, Role, u8); 9] = [
    ("周强(销售总监)", Role::Manager, 6),
    ("吴磊", Role::Salesperson, 2),
    ("郑洁", Role::Salesperson, 2),
    ("孙浩", Role::Salesperson, 2),
    ("钱芳", Role::Salesperson, 2),
    ("赵鹏", Role::Salesperson, 2),
    ("冯雪", Role::Salesperson, 2),
    ("何静", Role::Salesperson, 2),
    ("刘洋(新入职)", Role::Salesperson, 1),
];

impl Cast {
    /// The cast of run `run`.
    pub fn new(run: u64) -> Cast {
        let epoch: Arc<dyn Clock> = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
                .single()
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        ));
        let ids = SeededIds::new(splitmix64(run ^ 0x00ca_57ca_57ca_57ca), epoch);
        let tenant = || TenantId::generate(&ids);
        let (operator, jinggong, yunfan) = (tenant(), tenant(), tenant());
        let a_team = TeamId::generate(&ids);
        let b_team = TeamId::generate(&ids);
        let people = |list: &[(&'static str, Role, u8)]| {
            list.iter()
                .map(|&(name, role, level)| Person {
                    id: UserId::generate(&ids),
                    name,
                    role,
                    level,
                })
                .collect::<Vec<_>>()
        };
        let a_staff = people(&A_STAFF);
        let b_staff = people(&B_STAFF);
        let (b_sop, b_brochure) = (SopId::generate(&ids), MaterialId::generate(&ids));
        let (a_program, a_fission) = (ProgramId::generate(&ids), CampaignId::generate(&ids));
        Cast {
            run,
            operator,
            jinggong,
            yunfan,
            a_team,
            a_staff,
            b_team,
            b_staff,
            b_sop,
            b_brochure,
            a_program,
            a_fission,
        }
    }

    /// The display name of one of the story's tenants.
    pub fn name_of(&self, tenant: &TenantId) -> &'static str {
        if *tenant == self.jinggong {
            JINGGONG
        } else if *tenant == self.yunfan {
            YUNFAN
        } else {
            OPERATOR
        }
    }
}

/// A civil date of the story (2026 unless said otherwise).
pub(crate) fn day(month: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, d).unwrap_or(NaiveDate::MIN)
}

/// `hour:minute` Shanghai time (UTC+8, no daylight saving) on `date`, as an instant.
pub(crate) fn shanghai(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    date.and_hms_opt(hour, minute, 0)
        .map(|local| Utc.from_utc_datetime(&(local - chrono::Duration::hours(8))))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// An [`IdGenerator`] re-seeded at the start of every phase (from the run and the phase), so
/// the ids of a phase do not depend on whether the process restarted before it.
#[derive(Debug)]
pub struct PhaseIds {
    clock: Arc<dyn Clock>,
    run: u64,
    inner: RwLock<SeededIds>,
}

impl PhaseIds {
    /// A generator for `run` reading time from `clock` (seeded for the first phase).
    pub fn new(run: u64, clock: Arc<dyn Clock>) -> PhaseIds {
        let inner = RwLock::new(SeededIds::new(
            Self::seed(run, Phase::Catalog),
            clock.clone(),
        ));
        PhaseIds { clock, run, inner }
    }

    fn seed(run: u64, phase: Phase) -> u64 {
        splitmix64(splitmix64(run) ^ (phase.index() as u64 + 1))
    }

    /// Start the ids of `phase`.
    pub fn enter(&self, phase: Phase) {
        *self.inner.write().unwrap_or_else(PoisonError::into_inner) =
            SeededIds::new(Self::seed(self.run, phase), self.clock.clone());
    }
}

impl IdGenerator for PhaseIds {
    fn next_uuid(&self) -> Uuid {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .next_uuid()
    }
}
