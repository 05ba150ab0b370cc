//! The conversation and material library: phrases and materials by scenario, searchable, sent
//! to a lead with one click (recorded as a behaviour event on the lead).
//!
//! ```
//! use marketingforce_crm::library::{ItemKind, LibraryItem, score};
//! use marketingforce_crm::ids::MaterialId;
//!
//! let item = LibraryItem::new(MaterialId::new(), "报价", ItemKind::Phrase, "价格说明", "我们的标准版每个账号每年1180元");
//! assert!(score(&item, "标准版 价格") > 0);
//! assert_eq!(score(&item, "售后"), 0);
//! ```

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use marketingforce_core::env::Env;
use marketingforce_core::storage::{Collection, Entity, IndexEntry, Store};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::ids::{LeadId, MaterialId, UserId};
use crate::profile::{BehaviourEvent, BehaviourKind};
use crate::service::Crm;

/// Kind of item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ItemKind {
    /// A conversation phrase (话术).
    Phrase,
    /// An article.
    Article,
    /// A poster.
    Poster,
    /// A video.
    Video,
    /// A brochure.
    Brochure,
    /// A link.
    Link,
}

/// A phrase or material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LibraryItem {
    /// Id.
    pub id: MaterialId,
    /// Scenario (e.g. 开场, 报价, 异议处理, 售后).
    pub scenario: String,
    /// Kind.
    pub kind: ItemKind,
    /// Title.
    pub title: String,
    /// Text of a phrase, or the URL of a material.
    pub body: String,
    /// Keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
}

impl LibraryItem {
    /// A new item.
    pub fn new(
        id: MaterialId,
        scenario: impl Into<String>,
        kind: ItemKind,
        title: impl Into<String>,
        body: impl Into<String>,
    ) -> LibraryItem {
        LibraryItem {
            id,
            scenario: scenario.into(),
            kind,
            title: title.into(),
            body: body.into(),
            keywords: Vec::new(),
        }
    }

    /// Check the item.
    ///
    /// # Errors
    /// A validation error naming the field.
    pub fn validate(&self) -> Result<()> {
        for (f, v, max) in [
            ("scenario", &self.scenario, 50),
            ("title", &self.title, 200),
            ("body", &self.body, 10_000),
        ] {
            if v.trim().is_empty() || v.chars().count() > max {
                return Err(CrmError::validation(
                    f,
                    format!("must be 1-{max} characters"),
                ));
            }
        }
        Ok(())
    }
}

impl Entity for LibraryItem {
    const COLLECTION: &'static str = "crm.library";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("scenario", self.scenario.clone())]
    }
}

/// Relevance of `item` to `query`: each query term (whitespace-separated; Chinese terms also
/// by character pairs) found in the title counts 3, in keywords 2, in the body 1.
pub fn score(item: &LibraryItem, query: &str) -> u32 {
    let hay_title = item.title.to_lowercase();
    let hay_body = item.body.to_lowercase();
    let hay_kw: Vec<String> = item.keywords.iter().map(|k| k.to_lowercase()).collect();
    let mut total = 0;
    for term in query.split_whitespace().map(str::to_lowercase) {
        let chars: Vec<char> = term.chars().collect();
        let mut pieces = vec![term.clone()];
        if chars.len() > 2 && !term.is_ascii() {
            pieces.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
        }
        let mut best = 0;
        for p in &pieces {
            let s = 3 * u32::from(hay_title.contains(p.as_str()))
                + 2 * u32::from(hay_kw.iter().any(|k| k.contains(p.as_str())))
                + u32::from(hay_body.contains(p.as_str()));
            best = best.max(if *p == term { s * 2 } else { s });
        }
        total += best;
    }
    total
}

/// The library service over a [`Store`].
#[derive(Debug, Clone)]
pub struct Library {
    store: Arc<dyn Store>,
}

impl Library {
    /// A library on `env` (its store).
    pub fn new(env: &Env) -> Library {
        Library {
            store: env.store().clone(),
        }
    }

    fn items(&self) -> Collection<LibraryItem> {
        Collection::new(self.store.clone())
    }

    /// Add or replace an item.
    ///
    /// # Errors
    /// A validation error; storage errors.
    #[operation("crm.library.save", tenant = tenant)]
    pub async fn save(&self, tenant: &TenantId, item: &LibraryItem) -> Result<()> {
        item.validate()?;
        self.items().upsert(tenant, item).await?;
        Ok(())
    }

    /// Items matching `query`, best first, optionally within one scenario.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("crm.library.search", tenant = tenant)]
    pub async fn search(
        &self,
        tenant: &TenantId,
        query: &str,
        scenario: Option<&str>,
    ) -> Result<Vec<LibraryItem>> {
        let items = match scenario {
            Some(s) => self.items().lookup_all(tenant, "scenario", s).await?,
            None => self.items().list_all(tenant).await?,
        };
        let mut scored: Vec<(u32, LibraryItem)> = items
            .into_iter()
            .map(|v| (score(&v.value, query), v.value))
            .filter(|(s, _)| query.trim().is_empty() || *s > 0)
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        Ok(scored.into_iter().map(|(_, i)| i).collect())
    }

    /// Send an item to a lead with one click: the salesperson must be allowed to see the lead;
    /// the send is recorded as a `material_received` behaviour event (topic = scenario).
    /// Returns the lead's new score.
    ///
    /// # Errors
    /// Not found; [`CrmError::AccessDenied`]; storage errors.
    #[operation("crm.library.send", tenant = tenant, key = idempotency_key)]
    pub async fn send(
        &self,
        crm: &Crm,
        tenant: &TenantId,
        item: &MaterialId,
        lead: &LeadId,
        salesperson: &UserId,
        idempotency_key: &IdempotencyKey,
    ) -> Result<i64> {
        // The send is dated by the service's clock: the request is what the caller gave, so a
        // retry later with the same key replays the first answer (also after the lead moved on).
        let idem = crm.idempotent(
            tenant,
            idempotency_key.as_str(),
            &("library_send", item, lead, salesperson),
        )?;
        if let Some(prev) = crm.replayed::<i64>(tenant, &idem).await? {
            return Ok(prev);
        }
        let item = self.items().require(tenant, &item.to_string()).await?.value;
        let l = crm.lead(tenant, lead).await?;
        crm.authorize(tenant, salesperson, &l).await?;
        crm.record_behaviour_under(
            tenant,
            BehaviourEvent {
                lead: *lead,
                kind: BehaviourKind::MaterialReceived,
                at: crm.clock().now(),
                topic: Some(item.scenario.clone()),
                content: Some(item.id.to_string()),
            },
            &idem,
        )
        .await
    }
}
