//! [`VisitAnalytics`]: engagement figures read from the visit journal.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use marketingforce_core::env::Env;
use marketingforce_core::storage::{Journal, Store};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::TimeZone;
use serde::{Deserialize, Serialize};

use super::engine::{Dimension, EngagementRow, Engine};
use super::records::{VisitRecord, VISIT_JOURNAL};
use crate::error::Result;

/// One page view of a visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageViewSummary {
    /// The site.
    pub site: String,
    /// The page key.
    pub page: String,
    /// The page view id.
    pub pageview: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Visible time so far, ms.
    pub visible_ms: u64,
}

#[derive(Debug, Default)]
struct Folded {
    cursor: u64,
    engine: Engine,
}

/// Reads the per-tenant visit journal into an [`Engine`] and answers engagement questions.
///
/// The engine is a cache of the journal: every query first catches up from the last sequence
/// read, so figures include everything any process committed before the query; a new process
/// (or [`rebuild`](Self::rebuild)) folds the journal from the start and gets the same figures.
#[derive(Debug)]
pub struct VisitAnalytics {
    journal: Journal<VisitRecord>,
    zone: TimeZone,
    tenants: tokio::sync::Mutex<HashMap<TenantId, Folded>>,
}

/// Builds [`VisitAnalytics`] ([`VisitAnalytics::builder`]).
#[derive(Debug)]
#[must_use]
pub struct VisitAnalyticsBuilder {
    store: Arc<dyn Store>,
    zone: TimeZone,
}

impl VisitAnalyticsBuilder {
    /// Count report days in `zone` (default: Asia/Shanghai).
    pub fn time_zone(mut self, zone: TimeZone) -> Self {
        self.zone = zone;
        self
    }

    /// The analytics.
    pub fn build(self) -> VisitAnalytics {
        VisitAnalytics {
            journal: Journal::new(self.store, VISIT_JOURNAL),
            zone: self.zone,
            tenants: tokio::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl VisitAnalytics {
    /// Analytics over `env`'s store, with days in Asia/Shanghai.
    pub fn new(env: &Env) -> VisitAnalytics {
        VisitAnalytics::builder(env).build()
    }

    /// Start building analytics over `env`'s store (see [`VisitAnalyticsBuilder`]).
    pub fn builder(env: &Env) -> VisitAnalyticsBuilder {
        VisitAnalyticsBuilder {
            store: env.store().clone(),
            zone: TimeZone::default(),
        }
    }

    /// The time zone of report days.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    async fn with<R>(&self, tenant: &TenantId, f: impl FnOnce(&Engine) -> R) -> Result<R> {
        let mut tenants = self.tenants.lock().await;
        let folded = tenants.entry(*tenant).or_default();
        loop {
            let chunk = self.journal.read(tenant, folded.cursor, 5_000).await?;
            let Some((last, _)) = chunk.last() else { break };
            let last = *last;
            for (_, r) in &chunk {
                folded.engine.apply(r);
            }
            folded.cursor = last;
        }
        Ok(f(&folded.engine))
    }

    /// Catch up with the journal; returns the records folded in all.
    ///
    /// # Errors
    /// Storage or decoding errors.
    #[operation("sites.analytics.catch_up", tenant = tenant)]
    pub async fn catch_up(&self, tenant: &TenantId) -> Result<u64> {
        self.with(tenant, Engine::records).await
    }

    /// Forget the folded state and read the journal from the start.
    ///
    /// # Errors
    /// Storage or decoding errors.
    #[operation("sites.analytics.rebuild", tenant = tenant)]
    pub async fn rebuild(&self, tenant: &TenantId) -> Result<u64> {
        self.tenants.lock().await.remove(tenant);
        self.catch_up(tenant).await
    }

    /// Engagement of `site` (every site when None) on days `from..=to`, grouped by `dim`.
    ///
    /// # Errors
    /// Storage or decoding errors.
    #[operation("sites.analytics.report", tenant = tenant)]
    pub async fn report(
        &self,
        tenant: &TenantId,
        site: Option<&str>,
        from: NaiveDate,
        to: NaiveDate,
        dim: Dimension,
    ) -> Result<Vec<EngagementRow>> {
        self.with(tenant, |e| e.report(site, from, to, &self.zone, dim))
            .await
    }

    /// The page views of a visitor, oldest first.
    ///
    /// # Errors
    /// Storage or decoding errors.
    #[operation("sites.analytics.visitor_pageviews", tenant = tenant)]
    pub async fn visitor_pageviews(
        &self,
        tenant: &TenantId,
        visitor: &str,
    ) -> Result<Vec<PageViewSummary>> {
        self.with(tenant, |e| {
            e.visitor_pageviews(visitor)
                .into_iter()
                .map(|m| PageViewSummary {
                    site: m.site.clone(),
                    page: m.page.clone(),
                    pageview: m.pageview.clone(),
                    at: m.at,
                    visible_ms: e.pvs.get(&m.pageview).map_or(0, |s| s.visible_ms),
                })
                .collect()
        })
        .await
    }

    pub(crate) async fn load_times(
        &self,
        tenant: &TenantId,
        site: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<u32>> {
        self.with(tenant, |e| {
            let mut v: Vec<u32> = e
                .in_range(Some(site), from, to, &self.zone)
                .filter_map(|(_, st)| st.load_ms)
                .collect();
            v.sort_unstable();
            v
        })
        .await
    }
}
