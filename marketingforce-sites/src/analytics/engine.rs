//! The pure engagement engine: folds visit records into per-page-view state and answers
//! engagement questions per page, source, region and day. Folding is commutative and
//! idempotent per page view (maxima, set unions, first page-view record wins), so the result
//! does not depend on the order processes appended in, nor on duplicated deliveries.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use marketingforce_core::time::TimeZone;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::records::{PageViewRecord, VisitRecord};

/// What a report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// The page key.
    Page,
    /// The source class (`search`, `social`, `ad`, `campaign`, `referral`, `direct`).
    Source,
    /// The source with its detail (`search:baidu`, `ad:ocean_engine`).
    SourceDetail,
    /// The search keyword (search visits that carried one).
    Keyword,
    /// The region (`province/city`, `unknown`).
    Region,
    /// The civil day in the tenant's time zone.
    Day,
    /// PC or mobile.
    Variant,
    /// Everything in one row (`total`): distinct sessions and visitors over the period.
    Total,
}

/// Engagement of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngagementRow {
    /// The group (`products`, `search:baidu`, `江苏/苏州`, `2026-03-02`, …).
    pub key: String,
    /// Page views.
    pub pageviews: u64,
    /// Distinct sessions.
    pub sessions: u64,
    /// Distinct visitors.
    pub visitors: u64,
    /// Mean visible time per page view that reported one, ms.
    pub avg_dwell_ms: u64,
    /// Mean deepest scroll per page view that reported one, percent.
    pub avg_scroll_pct: u64,
    /// Page views where a form was started.
    pub form_starts: u64,
    /// Page views where a form was submitted.
    pub form_submits: u64,
    /// Sessions of one page view ÷ sessions.
    pub bounce_rate: Decimal,
    /// Sessions with a form submission ÷ sessions.
    pub conversion_rate: Decimal,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PvState {
    pub meta: Option<PageViewRecord>,
    pub visible_ms: u64,
    pub scroll: Option<u8>,
    pub load_ms: Option<u32>,
    pub started: bool,
    pub submitted: bool,
}

/// The folded state of one tenant's journal.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub(crate) pvs: HashMap<String, PvState>,
    by_visitor: HashMap<String, Vec<String>>,
    records: u64,
}

fn rate(n: u64, d: u64) -> Decimal {
    if d == 0 {
        Decimal::ZERO
    } else {
        (Decimal::from(n) / Decimal::from(d)).round_dp(4)
    }
}

impl Engine {
    /// An empty engine.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Records folded so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Page views known (with or without their start record).
    pub fn pageviews(&self) -> usize {
        self.pvs.len()
    }

    /// Fold one record.
    pub fn apply(&mut self, r: &VisitRecord) {
        self.records += 1;
        match r {
            VisitRecord::PageView(p) => {
                let st = self.pvs.entry(p.pageview.clone()).or_default();
                if st.meta.is_none() {
                    st.meta = Some(p.clone());
                    self.by_visitor
                        .entry(p.visitor.clone())
                        .or_default()
                        .push(p.pageview.clone());
                }
            }
            VisitRecord::Activity(a) => {
                let st = self.pvs.entry(a.pageview.clone()).or_default();
                if let Some(v) = a.visible_ms {
                    st.visible_ms = st.visible_ms.max(v);
                }
                if let Some(s) = a.scroll_pct {
                    st.scroll = Some(st.scroll.unwrap_or(0).max(s));
                }
                if a.load_ms.is_some() {
                    st.load_ms = st.load_ms.max(a.load_ms);
                }
                st.started |= !a.forms_started.is_empty() || !a.forms_submitted.is_empty();
                st.submitted |= !a.forms_submitted.is_empty();
            }
        }
    }

    /// The page views of a visitor, in the order they were recorded.
    pub(crate) fn visitor_pageviews(&self, visitor: &str) -> Vec<&PageViewRecord> {
        self.by_visitor
            .get(visitor)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| self.pvs.get(id)?.meta.as_ref())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Page views of `site` (all sites when None) on days `from..=to` in `zone`.
    pub(crate) fn in_range<'a>(
        &'a self,
        site: Option<&'a str>,
        from: NaiveDate,
        to: NaiveDate,
        zone: &'a TimeZone,
    ) -> impl Iterator<Item = (&'a PageViewRecord, &'a PvState)> + 'a {
        self.pvs.values().filter_map(move |st| {
            let m = st.meta.as_ref()?;
            let day = zone.date_of(m.at);
            (site.is_none_or(|s| s == m.site) && day >= from && day <= to).then_some((m, st))
        })
    }

    /// Engagement grouped by `dim`; rows sorted by key for days, else by page views (most
    /// first) then key.
    pub fn report(
        &self,
        site: Option<&str>,
        from: NaiveDate,
        to: NaiveDate,
        zone: &TimeZone,
        dim: Dimension,
    ) -> Vec<EngagementRow> {
        let rows: Vec<_> = self.in_range(site, from, to, zone).collect();
        let mut session_pvs: HashMap<&str, u64> = HashMap::new();
        let mut session_converted: HashSet<&str> = HashSet::new();
        for (m, st) in &rows {
            *session_pvs.entry(m.session.as_str()).or_default() += 1;
            if st.submitted {
                session_converted.insert(m.session.as_str());
            }
        }
        #[derive(Default)]
        struct Acc<'a> {
            pvs: u64,
            sessions: HashSet<&'a str>,
            visitors: HashSet<&'a str>,
            dwell: (u64, u64),
            scroll: (u64, u64),
            starts: u64,
            submits: u64,
        }
        let mut groups: BTreeMap<String, Acc<'_>> = BTreeMap::new();
        for (m, st) in &rows {
            let key = match dim {
                Dimension::Page => m.page.clone(),
                Dimension::Source => m.source.class().to_string(),
                Dimension::SourceDetail => m.source.detail(),
                Dimension::Keyword => match &m.source {
                    crate::attribution::TrafficSource::Search {
                        keyword: Some(k), ..
                    } => k.clone(),
                    _ => continue,
                },
                Dimension::Region => m.region.clone().unwrap_or_else(|| "unknown".into()),
                Dimension::Day => zone.date_of(m.at).to_string(),
                Dimension::Variant => m.variant.as_str().to_string(),
                Dimension::Total => "total".to_string(),
            };
            let acc = groups.entry(key).or_default();
            acc.pvs += 1;
            acc.sessions.insert(&m.session);
            acc.visitors.insert(&m.visitor);
            if st.visible_ms > 0 {
                acc.dwell.0 += st.visible_ms;
                acc.dwell.1 += 1;
            }
            if let Some(s) = st.scroll {
                acc.scroll.0 += u64::from(s);
                acc.scroll.1 += 1;
            }
            acc.starts += u64::from(st.started);
            acc.submits += u64::from(st.submitted);
        }
        let mut out: Vec<EngagementRow> = groups
            .into_iter()
            .map(|(key, a)| {
                let sessions = a.sessions.len() as u64;
                let bounced = a
                    .sessions
                    .iter()
                    .filter(|s| session_pvs.get(*s) == Some(&1))
                    .count() as u64;
                let converted = a
                    .sessions
                    .iter()
                    .filter(|s| session_converted.contains(*s))
                    .count() as u64;
                EngagementRow {
                    key,
                    pageviews: a.pvs,
                    sessions,
                    visitors: a.visitors.len() as u64,
                    avg_dwell_ms: a.dwell.0.checked_div(a.dwell.1).unwrap_or(0),
                    avg_scroll_pct: a.scroll.0.checked_div(a.scroll.1).unwrap_or(0),
                    form_starts: a.starts,
                    form_submits: a.submits,
                    bounce_rate: rate(bounced, sessions),
                    conversion_rate: rate(converted, sessions),
                }
            })
            .collect();
        if dim != Dimension::Day {
            out.sort_by(|a, b| {
                b.pageviews
                    .cmp(&a.pageviews)
                    .then_with(|| a.key.cmp(&b.key))
            });
        }
        out
    }
}
