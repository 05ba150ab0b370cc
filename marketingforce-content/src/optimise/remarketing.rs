//! Remarketing audiences: visitors who showed interest in published content, by rules as data.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a visitor did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum VisitorAction {
    /// Viewed a piece of content for `dwell_secs`.
    View {
        /// Seconds on the page / watched.
        dwell_secs: u32,
    },
    /// Clicked a link or contact button.
    Click,
    /// Shared it.
    Share,
    /// Sent an inquiry.
    Inquiry,
}

/// One visitor event on published content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VisitorEvent {
    /// The platform's visitor id.
    pub visitor_id: String,
    /// Channel code.
    pub channel: String,
    /// Content id.
    pub content_id: String,
    /// What happened.
    pub action: VisitorAction,
    /// When.
    pub at: DateTime<Utc>,
}

/// A rule defining an audience (all set conditions must hold, within `within_days`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceRule {
    /// Audience name.
    pub name: String,
    /// Look-back window.
    pub within_days: u32,
    /// At least this many views.
    #[serde(default)]
    pub min_views: u32,
    /// Or at least this much total dwell time (either condition qualifies when both are set).
    #[serde(default)]
    pub min_dwell_secs: u32,
    /// Must have clicked or shared.
    #[serde(default)]
    pub require_click: bool,
    /// Leave out visitors who already sent an inquiry (they are leads now).
    #[serde(default)]
    pub exclude_inquired: bool,
}

impl AudienceRule {
    /// The default rules: `interested` (2+ views or 60+ s, not yet inquired, 30 days) and
    /// `hot` (3+ views and a click, 7 days).
    pub fn defaults() -> Vec<AudienceRule> {
        vec![
            AudienceRule {
                name: "interested".into(),
                within_days: 30,
                min_views: 2,
                min_dwell_secs: 60,
                require_click: false,
                exclude_inquired: true,
            },
            AudienceRule {
                name: "hot".into(),
                within_days: 7,
                min_views: 3,
                min_dwell_secs: 0,
                require_click: true,
                exclude_inquired: true,
            },
        ]
    }
}

#[derive(Default)]
struct Profile {
    views: u32,
    dwell: u64,
    clicked: bool,
    inquired: bool,
}

/// Build each rule's audience from `events` as of `now`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use marketingforce_content::optimise::{build_audiences, AudienceRule, VisitorAction, VisitorEvent};
/// let at = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
/// let ev = |v: &str, action| VisitorEvent { visitor_id: v.into(), channel: "wecom".into(), content_id: "a1".into(), action, at };
/// let events = vec![ev("v1", VisitorAction::View { dwell_secs: 90 }), ev("v2", VisitorAction::View { dwell_secs: 5 })];
/// let a = build_audiences(&events, &AudienceRule::defaults(), at);
/// assert!(a["interested"].contains("v1") && !a["interested"].contains("v2"));
/// ```
pub fn build_audiences(
    events: &[VisitorEvent],
    rules: &[AudienceRule],
    now: DateTime<Utc>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for rule in rules {
        // A window reaching back past the calendar's first day takes in every event.
        let since = now.checked_sub_signed(Duration::days(i64::from(rule.within_days)));
        let mut profiles: BTreeMap<&str, Profile> = BTreeMap::new();
        let in_window = |e: &&VisitorEvent| since.is_none_or(|s| e.at > s) && e.at <= now;
        for e in events.iter().filter(in_window) {
            let p = profiles.entry(e.visitor_id.as_str()).or_default();
            match e.action {
                VisitorAction::View { dwell_secs } => {
                    p.views += 1;
                    p.dwell += u64::from(dwell_secs);
                }
                VisitorAction::Click | VisitorAction::Share => p.clicked = true,
                VisitorAction::Inquiry => p.inquired = true,
            }
        }
        let members = profiles
            .into_iter()
            .filter(|(_, p)| {
                let by_views = rule.min_views > 0 && p.views >= rule.min_views;
                let by_dwell = rule.min_dwell_secs > 0 && p.dwell >= u64::from(rule.min_dwell_secs);
                let engaged =
                    by_views || by_dwell || (rule.min_views == 0 && rule.min_dwell_secs == 0);
                engaged
                    && (!rule.require_click || p.clicked)
                    && !(rule.exclude_inquired && p.inquired)
            })
            .map(|(v, _)| v.to_string())
            .collect();
        out.insert(rule.name.clone(), members);
    }
    out
}
