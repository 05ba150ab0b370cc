//! The phases of the story, in order.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One phase of the story. Phases run in the order of [`Phase::ALL`]; a caller may stop after
/// any of them, restart, and continue with the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// Mon 2 March: the vendor's catalog and bundles are loaded and checked; a channel partner
    /// signs up with its prepayment.
    Catalog,
    /// 2–3 March: tenant A signs T Cloud Standard with add-ons directly; the partner sells
    /// tenant B True Client Standard with 8 accounts; both pay and are activated.
    Subscriptions,
    /// 3 March: entitlements in force — modules, seats (a ninth account is refused), quotas.
    Entitlements,
    /// 3 March: the ad agency signs the platform, reviews two advertisers, opens and tops up
    /// their accounts and starts their campaigns.
    AdsSetup,
    /// 4 March: T-text drafts six articles, T-image a poster; compliance review catches an
    /// unlawful headline; everything approved is published within quota.
    Content,
    /// 5–8 March: tenant A's official site is published from the machinery template; visitors
    /// arrive from search, WeChat, an ad and a portal; three inquiry forms become leads.
    Site,
    /// 9 March: inquiries from the content become tenant A's leads; tenant B captures its own;
    /// duplicates merge; leads are allocated, scored, followed up and put on SOPs.
    Leads,
    /// 16 March: hot prospects convert, join the membership programme, and one member runs a
    /// social-fission campaign.
    Conversion,
    /// 17–31 March: the campaigns run out the month on the ad platform.
    AdsMonth,
    /// 1 April: month-end — ad settlement with rebates on the gross and net bases, revenue
    /// recognition, SaaS metrics.
    MonthEnd,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 10] = [
        Phase::Catalog,
        Phase::Subscriptions,
        Phase::Entitlements,
        Phase::AdsSetup,
        Phase::Content,
        Phase::Site,
        Phase::Leads,
        Phase::Conversion,
        Phase::AdsMonth,
        Phase::MonthEnd,
    ];

    /// Position in [`Phase::ALL`].
    pub fn index(self) -> usize {
        Phase::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// The phase after this one.
    pub fn next(self) -> Option<Phase> {
        Phase::ALL.get(self.index() + 1).copied()
    }

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Catalog => "catalog",
            Phase::Subscriptions => "subscriptions",
            Phase::Entitlements => "entitlements",
            Phase::AdsSetup => "ads_setup",
            Phase::Content => "content",
            Phase::Site => "site",
            Phase::Leads => "leads",
            Phase::Conversion => "conversion",
            Phase::AdsMonth => "ads_month",
            Phase::MonthEnd => "month_end",
        }
    }

    /// A title for reports.
    pub fn title(self) -> &'static str {
        match self {
            Phase::Catalog => "Catalog, bundles and a channel partner",
            Phase::Subscriptions => "Two tenants subscribe",
            Phase::Entitlements => "Entitlements, seats and quotas in force",
            Phase::AdsSetup => "The ad agency sets up two advertisers",
            Phase::Content => "T-text and T-image content, reviewed and published",
            Phase::Site => "The official site: published, visited, inquiries captured",
            Phase::Leads => "Inquiries become leads: dedupe, allocation, scoring, SOP",
            Phase::Conversion => "Conversion, membership and social fission",
            Phase::AdsMonth => "The campaigns run out the month",
            Phase::MonthEnd => "Month-end: settlement, revenue, SaaS metrics",
        }
    }

    /// When the phase starts on the story's clock.
    pub fn starts_at(self) -> DateTime<Utc> {
        use super::cast::{day, shanghai};
        match self {
            Phase::Catalog => shanghai(day(3, 2), 9, 0),
            Phase::Subscriptions => shanghai(day(3, 2), 10, 0),
            Phase::Entitlements => shanghai(day(3, 3), 11, 0),
            Phase::AdsSetup => shanghai(day(3, 3), 14, 0),
            Phase::Content => shanghai(day(3, 4), 9, 0),
            Phase::Site => shanghai(day(3, 5), 9, 0),
            Phase::Leads => shanghai(day(3, 9), 9, 0),
            Phase::Conversion => shanghai(day(3, 16), 10, 0),
            Phase::AdsMonth => shanghai(day(3, 17), 9, 0),
            Phase::MonthEnd => shanghai(day(4, 1), 10, 0),
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Phase {
    type Err = marketingforce_core::Error;

    fn from_str(s: &str) -> Result<Phase, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Phase::ALL.iter().map(|p| p.name()).collect();
                marketingforce_core::Error::validation(
                    "phase",
                    format!("{s:?} is not one of {}", names.join(", ")),
                )
            })
    }
}
