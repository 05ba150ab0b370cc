//! Funnel analytics: counts and conversion rates per stage, per source, platform, public vs
//! private domain and salesperson, over time; response time to first follow-up; renewal and
//! referral leads.
//!
//! Leads are compacted into [`FunnelFacts`] (a few bytes each), so a report over a million
//! leads is a single pass. Rates are [`Rate`]s (exact decimals, 4 places, half-up).
//!
//! ```
//! use marketingforce_crm::funnel::{FunnelIndex, FunnelQuery};
//! use marketingforce_core::time::TimeZone;
//!
//! let index = FunnelIndex::from_leads(&[], TimeZone::SHANGHAI);
//! let report = index.report(&FunnelQuery::default());
//! assert_eq!(report.total, 0);
//! ```

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, NaiveDate};
use marketingforce_core::money::{Rate, RoundingMode};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::TimeZone;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::UserId;
use crate::model::{Domain, Lead, LeadStatus, Source, Stage};
use crate::service::Crm;

/// One lead, compacted for analytics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunnelFacts {
    /// Current stage.
    pub stage: Stage,
    /// Stages ever reached (bits of [`Stage::bit`]).
    pub reached: u16,
    /// First source.
    pub source: Source,
    /// Interned platform (`u16::MAX`: none).
    pub platform: u16,
    /// Domain of the first capture.
    pub domain: Domain,
    /// Interned owner (`u32::MAX`: none).
    pub owner: u32,
    /// Creation date in the tenant's zone, as days since 1970-01-01.
    pub created_day: i32,
    /// Seconds from first assignment to first follow-up, if followed up.
    pub response_secs: Option<u32>,
    /// Repeat inquiries after conversion (renewal leads).
    pub repeat_inquiries: u32,
}

/// Time buckets of the trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// Per day.
    Day,
    /// Per ISO week (starting Monday).
    Week,
    /// Per calendar month.
    #[default]
    Month,
}

/// Which leads to report on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FunnelQuery {
    /// Created on or after (tenant zone).
    pub from: Option<NaiveDate>,
    /// Created on or before.
    pub to: Option<NaiveDate>,
    /// Trend bucket.
    pub bucket: Bucket,
}

/// Leads and conversions of a slice.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Breakdown {
    /// Leads.
    pub leads: u64,
    /// Leads that reached `converted`.
    pub converted: u64,
    /// `converted / leads`.
    pub conversion: Rate,
}

/// One stage of the funnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageCount {
    /// The stage.
    pub stage: Stage,
    /// Leads in it now.
    pub current: u64,
    /// Leads that ever reached it.
    pub reached: u64,
    /// `reached / reached of the previous funnel stage` (none for `new`).
    pub from_previous: Option<Rate>,
}

/// Response time to the first follow-up, in whole minutes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResponseTimes {
    /// Leads followed up.
    pub followed_up: u64,
    /// Mean minutes (rounded half-up).
    pub mean_minutes: u64,
    /// Median minutes.
    pub median_minutes: u64,
    /// 90th percentile minutes.
    pub p90_minutes: u64,
}

/// A funnel report.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FunnelReport {
    /// Leads counted (merged duplicates are not; erased leads are).
    pub total: u64,
    /// The main path and the side stages.
    pub stages: Vec<StageCount>,
    /// Per source.
    pub by_source: BTreeMap<Source, Breakdown>,
    /// Per platform.
    pub by_platform: BTreeMap<String, Breakdown>,
    /// Public vs private domain.
    pub by_domain: BTreeMap<Domain, Breakdown>,
    /// Per salesperson.
    pub by_owner: BTreeMap<UserId, Breakdown>,
    /// Per time bucket (bucket start date).
    pub trend: BTreeMap<NaiveDate, Breakdown>,
    /// Response times.
    pub response: ResponseTimes,
    /// Leads brought by referrals.
    pub referral_leads: u64,
    /// Customers who inquired again (renewal / repeat leads).
    pub renewal_leads: u64,
}

fn rate(num: u64, den: u64) -> Rate {
    if den == 0 {
        return Rate::ZERO;
    }
    let r = RoundingMode::HalfUp.round(Decimal::from(num) / Decimal::from(den), 4);
    Rate::new(r).unwrap_or(Rate::ONE)
}

#[derive(Default, Clone, Copy)]
struct Acc {
    leads: u64,
    converted: u64,
}

impl Acc {
    fn add(&mut self, converted: bool) {
        self.leads += 1;
        self.converted += u64::from(converted);
    }
    fn done(self) -> Breakdown {
        Breakdown {
            leads: self.leads,
            converted: self.converted,
            conversion: rate(self.converted, self.leads),
        }
    }
}

/// Compacted leads of one tenant with their interned platforms and owners.
#[derive(Debug, Clone, Default)]
pub struct FunnelIndex {
    facts: Vec<FunnelFacts>,
    platforms: Vec<String>,
    owners: Vec<UserId>,
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

impl FunnelIndex {
    /// An index over facts already compacted (benchmarks, custom sources).
    pub fn from_facts(
        facts: Vec<FunnelFacts>,
        platforms: Vec<String>,
        owners: Vec<UserId>,
    ) -> FunnelIndex {
        FunnelIndex {
            facts,
            platforms,
            owners,
        }
    }

    /// Compact lead records (merged duplicates are skipped).
    pub fn from_leads(leads: &[Lead], zone: TimeZone) -> FunnelIndex {
        let mut idx = FunnelIndex::default();
        let mut platforms: HashMap<String, u16> = HashMap::new();
        let mut owners: HashMap<UserId, u32> = HashMap::new();
        for l in leads {
            if matches!(l.status, LeadStatus::Merged { .. }) {
                continue;
            }
            let first = l.source();
            let platform = match first.and_then(|t| t.platform.clone()) {
                Some(p) => {
                    let n = platforms.len() as u16;
                    *platforms.entry(p.clone()).or_insert_with(|| {
                        idx.platforms.push(p);
                        n
                    })
                }
                None => u16::MAX,
            };
            let owner = match l.owner {
                Some(o) => {
                    let n = owners.len() as u32;
                    *owners.entry(o).or_insert_with(|| {
                        idx.owners.push(o);
                        n
                    })
                }
                None => u32::MAX,
            };
            let response_secs = match (l.first_response_at, l.touches.first()) {
                (Some(r), _) => {
                    let from = l.assigned_at.unwrap_or(l.created_at).min(r);
                    u32::try_from((r - from).num_seconds().max(0)).ok()
                }
                _ => None,
            };
            idx.facts.push(FunnelFacts {
                stage: l.stage,
                reached: l.reached.0 | l.stage.bit(),
                source: first.map_or(Source::Import, |t| t.source),
                platform,
                domain: first.map_or(Domain::Public, |t| t.domain),
                owner,
                created_day: (zone.date_of(l.created_at) - EPOCH).num_days() as i32,
                response_secs,
                repeat_inquiries: l.repeat_inquiries,
            });
        }
        idx
    }

    /// Number of leads indexed.
    pub fn len(&self) -> usize {
        self.facts.len()
    }

    /// Whether no lead is indexed.
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// The start of the bucket of `day` (days since 1970-01-01); a day outside the calendar's
    /// range (facts given to [`from_facts`](Self::from_facts)) is taken as its first or last.
    fn bucket_of(day: i32, bucket: Bucket) -> NaiveDate {
        let d = EPOCH
            .checked_add_signed(Duration::days(i64::from(day)))
            .unwrap_or(if day < 0 {
                NaiveDate::MIN
            } else {
                NaiveDate::MAX
            });
        match bucket {
            Bucket::Day => d,
            Bucket::Week => d
                .checked_sub_signed(Duration::days(i64::from(
                    d.weekday().num_days_from_monday(),
                )))
                .unwrap_or(d),
            Bucket::Month => d.with_day(1).unwrap_or(d),
        }
    }

    /// Compute a report.
    pub fn report(&self, q: &FunnelQuery) -> FunnelReport {
        let from = q.from.map(|d| (d - EPOCH).num_days() as i32);
        let to = q.to.map(|d| (d - EPOCH).num_days() as i32);
        let mut current = [0u64; 10];
        let mut reached = [0u64; 10];
        let mut by_source = [Acc::default(); 9];
        let mut by_platform: HashMap<u16, Acc> = HashMap::new();
        let mut by_domain = [Acc::default(); 2];
        let mut by_owner: HashMap<u32, Acc> = HashMap::new();
        let mut by_day: HashMap<i32, Acc> = HashMap::new();
        let mut responses: Vec<u32> = Vec::new();
        let mut total = 0u64;
        let mut referral = 0u64;
        let mut renewal = 0u64;
        let converted_bit = Stage::Converted.bit();
        for f in &self.facts {
            if from.is_some_and(|x| f.created_day < x) || to.is_some_and(|x| f.created_day > x) {
                continue;
            }
            total += 1;
            let conv = f.reached & converted_bit != 0;
            if let Some(c) = current.get_mut(f.stage as usize) {
                *c += 1;
            }
            for (i, r) in reached.iter_mut().enumerate() {
                *r += u64::from(f.reached & (1 << i) != 0);
            }
            if let Some(a) = by_source.get_mut(f.source.index()) {
                a.add(conv);
            }
            if f.platform != u16::MAX {
                by_platform.entry(f.platform).or_default().add(conv);
            }
            if let Some(a) = by_domain.get_mut(f.domain as usize) {
                a.add(conv);
            }
            if f.owner != u32::MAX {
                by_owner.entry(f.owner).or_default().add(conv);
            }
            by_day.entry(f.created_day).or_default().add(conv);
            if let Some(s) = f.response_secs {
                responses.push(s);
            }
            referral += u64::from(f.source == Source::Referral);
            renewal += u64::from(f.repeat_inquiries > 0);
        }
        let mut stages = Vec::with_capacity(10);
        let mut prev: Option<u64> = None;
        for s in Stage::FUNNEL {
            let r = reached.get(s as usize).copied().unwrap_or(0);
            stages.push(StageCount {
                stage: s,
                current: current.get(s as usize).copied().unwrap_or(0),
                reached: r,
                from_previous: prev.map(|p| rate(r, p)),
            });
            prev = Some(r);
        }
        for s in [Stage::Invalid, Stage::Lost, Stage::Pool] {
            stages.push(StageCount {
                stage: s,
                current: current.get(s as usize).copied().unwrap_or(0),
                reached: reached.get(s as usize).copied().unwrap_or(0),
                from_previous: None,
            });
        }
        let mut trend: BTreeMap<NaiveDate, Acc> = BTreeMap::new();
        for (day, acc) in by_day {
            let b = trend.entry(Self::bucket_of(day, q.bucket)).or_default();
            b.leads += acc.leads;
            b.converted += acc.converted;
        }
        let response = if responses.is_empty() {
            ResponseTimes::default()
        } else {
            let n = responses.len();
            let sum: u64 = responses.iter().map(|&s| u64::from(s)).sum();
            let p50 = n / 2;
            let p90 = (n * 9 / 10).min(n - 1);
            let mut sorted = responses;
            sorted.select_nth_unstable(p50);
            let median = u64::from(sorted.get(p50).copied().unwrap_or(0));
            sorted.select_nth_unstable(p90);
            let p90v = u64::from(sorted.get(p90).copied().unwrap_or(0));
            ResponseTimes {
                followed_up: n as u64,
                mean_minutes: (sum + 30 * n as u64) / (60 * n as u64),
                median_minutes: (median + 30) / 60,
                p90_minutes: (p90v + 30) / 60,
            }
        };
        FunnelReport {
            total,
            stages,
            by_source: Source::ALL
                .iter()
                .zip(by_source)
                .filter(|(_, a)| a.leads > 0)
                .map(|(s, a)| (*s, a.done()))
                .collect(),
            by_platform: by_platform
                .into_iter()
                .filter_map(|(p, a)| {
                    self.platforms
                        .get(p as usize)
                        .map(|n| (n.clone(), a.done()))
                })
                .collect(),
            by_domain: [Domain::Public, Domain::Private]
                .into_iter()
                .zip(by_domain)
                .filter(|(_, a)| a.leads > 0)
                .map(|(d, a)| (d, a.done()))
                .collect(),
            by_owner: by_owner
                .into_iter()
                .filter_map(|(o, a)| self.owners.get(o as usize).map(|u| (*u, a.done())))
                .collect(),
            trend: trend.into_iter().map(|(d, a)| (d, a.done())).collect(),
            response,
            referral_leads: referral,
            renewal_leads: renewal,
        }
    }
}

impl Crm {
    /// A funnel report over the tenant's leads (dates in `zone`).
    ///
    /// # Errors
    /// Storage errors.
    #[operation("crm.funnel", tenant = tenant)]
    pub async fn funnel(
        &self,
        tenant: &TenantId,
        zone: TimeZone,
        query: &FunnelQuery,
    ) -> Result<FunnelReport> {
        let leads = self.all_leads(tenant).await?;
        Ok(FunnelIndex::from_leads(&leads, zone).report(query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created_on(day: i32) -> FunnelFacts {
        FunnelFacts {
            stage: Stage::New,
            reached: Stage::New.bit(),
            source: Source::OwnSite,
            platform: u16::MAX,
            domain: Domain::Public,
            owner: u32::MAX,
            created_day: day,
            response_secs: None,
            repeat_inquiries: 0,
        }
    }

    /// Guards `FunnelIndex::report` over facts given to `from_facts`: a creation day outside
    /// the calendar's range is bucketed at its end instead of panicking in the date arithmetic.
    #[test]
    fn days_outside_the_calendar_are_bucketed_at_its_ends() {
        let days = [i32::MAX, i32::MIN, 0];
        let index = FunnelIndex::from_facts(days.map(created_on).to_vec(), Vec::new(), Vec::new());
        for bucket in [Bucket::Day, Bucket::Week, Bucket::Month] {
            let report = index.report(&FunnelQuery {
                bucket,
                ..FunnelQuery::default()
            });
            assert_eq!(report.total, 3);
            assert_eq!(report.trend.values().map(|b| b.leads).sum::<u64>(), 3);
        }
    }
}
