//! Queries: a tenant's leads by status, stage, owner, tag, source and last update, a page at a
//! time — so no caller reads the storage collections or knows their index names.

use chrono::{DateTime, Utc};
use marketingforce_core::storage::{Cursor, Page, PageRequest};
use marketingforce_core::tenant::TenantId;

use super::Crm;
use crate::error::{CrmError, Result};
use crate::ids::UserId;
use crate::model::{Lead, LeadStatus, Source, Stage};

/// Which status a [`LeadQuery`] matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StatusFilter {
    /// Live leads only (the default).
    #[default]
    Active,
    /// Leads merged into a survivor.
    Merged,
    /// Leads whose personal data was erased.
    Erased,
    /// Any status.
    Any,
}

impl StatusFilter {
    fn matches(self, status: &LeadStatus) -> bool {
        matches!(
            (self, status),
            (StatusFilter::Any, _)
                | (StatusFilter::Active, LeadStatus::Active)
                | (StatusFilter::Merged, LeadStatus::Merged { .. })
                | (StatusFilter::Erased, LeadStatus::Erased { .. })
        )
    }
}

/// A filter over a tenant's leads, answered a page at a time by [`Crm::find_leads`]. Every
/// condition set must hold; an unset one matches everything.
///
/// ```
/// use marketingforce_crm::model::{Source, Stage};
/// use marketingforce_crm::LeadQuery;
///
/// let q = LeadQuery::new().stage(Stage::Qualified).source(Source::OwnSite).tag("expo").limit(50);
/// assert_eq!(q.page_size(), 50);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadQuery {
    status: StatusFilter,
    stage: Option<Stage>,
    owner: Option<UserId>,
    tag: Option<String>,
    source: Option<Source>,
    updated_since: Option<DateTime<Utc>>,
    limit: Option<usize>,
    after: Option<Cursor>,
}

impl LeadQuery {
    /// The largest page.
    pub const MAX_LIMIT: usize = 1_000;
    /// The page size when none is set.
    pub const DEFAULT_LIMIT: usize = 100;
    /// How many stored leads one call examines at most per lead asked for: a selective filter
    /// answers a short page (with a cursor to continue) rather than scanning the whole tenant
    /// in one call.
    pub const SCAN_FACTOR: usize = 20;

    /// Live leads, the first page of [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT).
    pub fn new() -> LeadQuery {
        LeadQuery::default()
    }

    /// Match leads of this status (default: live leads).
    #[must_use]
    pub fn status(mut self, status: StatusFilter) -> LeadQuery {
        self.status = status;
        self
    }

    /// Match leads in this stage.
    #[must_use]
    pub fn stage(mut self, stage: Stage) -> LeadQuery {
        self.stage = Some(stage);
        self
    }

    /// Match leads owned by this salesperson.
    #[must_use]
    pub fn owner(mut self, owner: UserId) -> LeadQuery {
        self.owner = Some(owner);
        self
    }

    /// Match leads carrying this tag.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> LeadQuery {
        self.tag = Some(tag.into());
        self
    }

    /// Match leads with at least one capture from this source.
    #[must_use]
    pub fn source(mut self, source: Source) -> LeadQuery {
        self.source = Some(source);
        self
    }

    /// Match leads updated at or after this instant.
    #[must_use]
    pub fn updated_since(mut self, at: DateTime<Utc>) -> LeadQuery {
        self.updated_since = Some(at);
        self
    }

    /// At most `limit` leads per page (1 to [`MAX_LIMIT`](Self::MAX_LIMIT)).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> LeadQuery {
        self.limit = Some(limit);
        self
    }

    /// Continue after a page's [`next`](Page::next) cursor.
    #[must_use]
    pub fn after(mut self, cursor: Cursor) -> LeadQuery {
        self.after = Some(cursor);
        self
    }

    /// The page size asked for.
    pub fn page_size(&self) -> usize {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT)
    }

    fn check(&self) -> Result<usize> {
        let limit = self.page_size();
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err(CrmError::validation(
                "limit",
                format!("must be 1 to {}", Self::MAX_LIMIT),
            ));
        }
        if let Some(tag) = &self.tag {
            if tag.trim().is_empty() {
                return Err(CrmError::validation("tag", "must not be empty"));
            }
        }
        Ok(limit)
    }

    /// The stored index a query reads through, the most selective first: its owner, its stage,
    /// a status other than live; `None` reads the whole collection. The index only narrows
    /// the leads examined: every condition is still checked on each.
    fn index(&self) -> Option<(&'static str, String)> {
        if let Some(owner) = self.owner {
            return Some(("owner", owner.to_string()));
        }
        if let Some(stage) = self.stage {
            return Some(("stage", stage.as_str().to_string()));
        }
        match self.status {
            StatusFilter::Merged => Some(("status", "merged".to_string())),
            StatusFilter::Erased => Some(("status", "erased".to_string())),
            StatusFilter::Active | StatusFilter::Any => None,
        }
    }

    /// Whether `lead` matches every condition.
    pub fn matches(&self, lead: &Lead) -> bool {
        self.status.matches(&lead.status)
            && self.stage.is_none_or(|s| lead.stage == s)
            && self.owner.is_none_or(|o| lead.owner == Some(o))
            && self.tag.as_ref().is_none_or(|t| lead.tags.contains(t))
            && self
                .source
                .is_none_or(|s| lead.touches.iter().any(|t| t.source == s))
            && self.updated_since.is_none_or(|at| lead.updated_at >= at)
    }
}

impl Crm {
    /// A page of `tenant`'s leads matching `query`, in id order. The page holds at most the
    /// query's limit; it can be shorter and still have a [`next`](Page::next) cursor when a
    /// selective filter had to skip many leads (each call examines a bounded number of stored
    /// leads). A query by owner, by stage, or for merged or erased leads examines only the
    /// leads the store indexes under that value (the owner first, then the stage), so its
    /// pages are full however many other leads the tenant has; the other filters (tag, source,
    /// last update) are checked lead by lead. Lead records carry no personal data; read
    /// contacts through the access-controlled calls. Reads the store directly, so it is current
    /// across processes.
    ///
    /// # Errors
    /// A validation error naming `limit` or `tag`; backend or decoding errors.
    pub async fn find_leads(&self, tenant: &TenantId, query: &LeadQuery) -> Result<Page<Lead>> {
        let limit = query.check()?;
        let budget = limit.saturating_mul(LeadQuery::SCAN_FACTOR);
        let collection = self.leads();
        let index = query.index();
        let mut items = Vec::with_capacity(limit);
        let mut after = query.after.clone();
        let mut scanned = 0usize;
        loop {
            let request = PageRequest {
                limit: (budget - scanned).clamp(1, 500),
                after: after.clone(),
            };
            let page = match &index {
                Some((name, value)) => collection.lookup(tenant, name, value, &request).await?,
                None => collection.list(tenant, &request).await?,
            };
            for (i, lead) in page.items.iter().enumerate() {
                scanned += 1;
                if query.matches(&lead.value) {
                    items.push(lead.value.clone());
                }
                let last_examined = i + 1 == page.items.len() && page.next.is_none();
                if items.len() == limit || scanned >= budget {
                    let next = (!last_examined).then(|| Cursor::after(lead.value.id.to_string()));
                    return Ok(Page { items, next });
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(Page { items, next: None }),
            }
        }
    }
}
