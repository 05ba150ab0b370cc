//! Form rate limits counted in the store, so they hold across processes.
//!
//! One record per (site, form, client digest, window) counts the submissions admitted in a
//! fixed window; incrementing is a compare-and-set on the record's version, so two processes
//! admitting at once cannot both take the last slot (the loser re-reads and is refused). The
//! record keeps the ids of the submissions it admitted, so the retry of one whose hand-off
//! failed is the same submission, not another one counted.

use chrono::{DateTime, Utc};
use marketingforce_core::storage::{Collection, Entity, Store};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::error::{Result, SitesError};
use crate::model::FormRateLimit;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RateCounter {
    key: String,
    count: u32,
    /// The submissions admitted in the window (records written before this field have none).
    #[serde(default)]
    submissions: Vec<String>,
}

impl Entity for RateCounter {
    const COLLECTION: &'static str = "sites.form_rate";
    fn key(&self) -> String {
        self.key.clone()
    }
}

/// Admit submission `submission` of `form` of `site` from `client` (a keyed digest, never an
/// IP) or refuse it; a submission admitted already in the window is admitted again without
/// counting (its earlier attempt failed after admission). Form ids are unique within a site
/// only, so the site is part of the bucket.
///
/// # Errors
/// [`SitesError::RateLimited`] with the seconds left in the window; storage errors.
pub(crate) async fn admit(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    site: &str,
    form: &str,
    client: &str,
    submission: &str,
    (limit, now): (FormRateLimit, DateTime<Utc>),
) -> Result<()> {
    let window = i64::from(limit.window_secs.max(1));
    let start = now.timestamp().div_euclid(window) * window;
    let key = format!("{site}/{form}:{client}:{start}");
    let counters = Collection::<RateCounter>::new(store.clone());
    for _ in 0..16 {
        let result = match counters.get(tenant, &key).await? {
            None => {
                counters
                    .insert(
                        tenant,
                        &RateCounter {
                            key: key.clone(),
                            count: 1,
                            submissions: vec![submission.to_string()],
                        },
                    )
                    .await
            }
            Some(c) if c.value.submissions.iter().any(|s| s == submission) => return Ok(()),
            Some(c) if c.value.count >= limit.per_client => {
                return Err(SitesError::RateLimited {
                    form: form.to_string(),
                    retry_after_secs: u64::try_from(start + window - now.timestamp()).unwrap_or(1),
                })
            }
            Some(c) => {
                let mut next = c.value;
                next.count += 1;
                next.submissions.push(submission.to_string());
                counters.update(tenant, &next, c.version).await
            }
        };
        match result {
            Ok(_) => return Ok(()),
            Err(marketingforce_core::Error::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(marketingforce_core::Error::backend_message(
        store.backend(),
        true,
        "the rate-limit counter kept changing; retry",
    )
    .into())
}
