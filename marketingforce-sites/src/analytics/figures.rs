//! The site figures of the evaluation report, from analytics instead of hand-typed inputs.
//!
//! [`site_figures`] measures a site over a period; [`SiteFigures::apply_to`] writes them into
//! the content crate's [`EvaluationInput`] (site visits, site features, daily views and
//! inquiries).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use marketingforce_content::report::{DailyMetrics, EvaluationInput, SiteFeatures};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};

use super::engine::Dimension;
use super::service::VisitAnalytics;
use crate::error::Result;
use crate::model::{Block, Site};

/// What the evaluation report needs to know about the official site in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteFigures {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Visits (sessions).
    pub visits: u64,
    /// Page views.
    pub pageviews: u64,
    /// Distinct visitors.
    pub visitors: u64,
    /// Mean visible time per page view, ms.
    pub avg_dwell_ms: u64,
    /// Form submissions (page views with one).
    pub inquiries: u64,
    /// Median page load of real visits, ms (None without measurements).
    pub median_load_ms: Option<u32>,
    /// Site features, from the site model.
    pub features: SiteFeatures,
    /// Per day: page views and inquiries.
    pub daily: Vec<DailyMetrics>,
}

fn has_form(blocks: &[Block]) -> bool {
    blocks.iter().any(|b| match b {
        Block::ContactForm(_) => true,
        Block::Section(s) => has_form(&s.children),
        _ => false,
    })
}

/// Measure `site` of `tenant` on days `from..=to`.
///
/// # Errors
/// Storage or decoding errors.
pub async fn site_figures(
    analytics: &VisitAnalytics,
    tenant: &TenantId,
    site: &Site,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<SiteFigures> {
    let days = analytics
        .report(tenant, Some(&site.id), from, to, Dimension::Day)
        .await?;
    let loads = analytics.load_times(tenant, &site.id, from, to).await?;
    let all = analytics
        .report(tenant, Some(&site.id), from, to, Dimension::Variant)
        .await?;
    let sessions: u64 = days.iter().map(|d| d.sessions).sum();
    let pageviews: u64 = all.iter().map(|r| r.pageviews).sum();
    // The report's own mean over the period: per-variant means cannot be re-weighted, as
    // they only count the page views that reported a visible time.
    let total = analytics
        .report(tenant, Some(&site.id), from, to, Dimension::Total)
        .await?;
    let visitors = total.first().map_or(0, |r| r.visitors);
    let avg_dwell_ms = total.first().map_or(0, |r| r.avg_dwell_ms);
    let median_load_ms = (!loads.is_empty()).then(|| loads[loads.len() / 2]);
    Ok(SiteFigures {
        from,
        to,
        visits: sessions,
        pageviews,
        visitors,
        avg_dwell_ms,
        inquiries: days.iter().map(|d| d.form_submits).sum(),
        median_load_ms,
        features: SiteFeatures {
            mobile_site: site.mobile.enabled,
            mini_program: false,
            h5_pages: site.mobile.enabled,
            multilingual: site.locales.len() > 1,
            https: site.base_url.starts_with("https://"),
            contact_forms: site.pages.iter().any(|p| has_form(&p.blocks)),
            online_chat: false,
            page_load_ms: median_load_ms.unwrap_or(0),
        },
        daily: days
            .iter()
            .filter_map(|d| {
                Some(DailyMetrics {
                    date: d.key.parse().ok()?,
                    exposures: 0,
                    views: d.pageviews,
                    inquiries: d.form_submits,
                })
            })
            .collect(),
    })
}

impl SiteFigures {
    /// Write these figures into an evaluation input: `site_visits` and `site` are replaced;
    /// daily views and inquiries are added to the days already there (channel figures; a sum
    /// past `u64::MAX` stays at `u64::MAX`).
    /// A site without load measurements keeps the input's `page_load_ms`.
    pub fn apply_to(&self, input: &mut EvaluationInput) {
        input.site_visits = self.visits;
        let load = if self.median_load_ms.is_some() {
            self.features.page_load_ms
        } else {
            input.site.page_load_ms
        };
        input.site = SiteFeatures {
            page_load_ms: load,
            ..self.features.clone()
        };
        let mut by_day: BTreeMap<NaiveDate, DailyMetrics> =
            input.daily.drain(..).map(|d| (d.date, d)).collect();
        for d in &self.daily {
            let e = by_day.entry(d.date).or_insert(DailyMetrics {
                date: d.date,
                exposures: 0,
                views: 0,
                inquiries: 0,
            });
            e.views = e.views.saturating_add(d.views);
            e.inquiries = e.inquiries.saturating_add(d.inquiries);
        }
        input.daily = by_day.into_values().collect();
    }
}
