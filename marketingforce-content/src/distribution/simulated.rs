//! A deterministic simulated media platform: real-name verification and suspension, content
//! policy, idempotent publishing, realistic exposure/view/engagement/inquiry curves from the
//! catalogue's rates, and failures injected on demand.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use marketingforce_core::adapters::channel::{
    AccountStatus, ChannelInquiry, ContentChannel, ContentStats, PublishOutcome, PublishReceipt,
    PublishRequest,
};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use marketingforce_core::Error as CoreError;

use super::catalogue::{BaseRates, ChannelInfo};
use crate::rng::SeededRng;

/// A failure to inject into the next publish call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Refuse the content with this code and reason.
    Reject {
        /// Platform code.
        code: String,
        /// Platform reason.
        reason: String,
    },
    /// Fail with a retryable "service unavailable".
    Unavailable,
    /// Fail with a timeout (outcome unknown to the caller; the platform did not publish).
    Timeout,
    /// Suspend the account, then refuse.
    Suspend {
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct Item {
    tenant: TenantId,
    account: String,
    external_id: String,
    published_at: DateTime<Utc>,
    /// Multiplier of the channel's rates for this item (content quality, luck).
    quality: f64,
}

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<(TenantId, String), AccountStatus>,
    items: BTreeMap<String, Item>,
    by_key: HashMap<String, PublishOutcome>,
    faults: VecDeque<Fault>,
    counter: u64,
}

/// A simulated channel built from a catalogue entry.
///
/// ```
/// use std::sync::Arc;
/// use marketingforce_content::distribution::{ChannelCatalogue, SimulatedChannel};
/// use marketingforce_core::adapters::channel::{AccountStatus, ContentChannel, Verification};
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_core::time::ManualClock;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
/// let info = ChannelCatalogue::builtin().get("machine-portal").unwrap().clone();
/// let channel = SimulatedChannel::new(info, 42, clock);
/// let t = TenantId::new();
/// channel.add_account(&t, "acme", AccountStatus { verification: Verification::Verified, suspended: None });
/// assert!(channel.account_status(&t, "acme").await.unwrap().can_publish());
/// assert!(channel.account_status(&t, "ghost").await.is_err());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SimulatedChannel {
    info: Arc<ChannelInfo>,
    seed: u64,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
    banned_phrases: Arc<Vec<String>>,
}

impl SimulatedChannel {
    /// A channel with the rates of `info`, deterministic for `seed`.
    pub fn new(info: ChannelInfo, seed: u64, clock: Arc<dyn Clock>) -> SimulatedChannel {
        SimulatedChannel {
            info: Arc::new(info),
            seed,
            clock,
            state: Arc::new(Mutex::new(State::default())),
            banned_phrases: Arc::new(vec!["加微信".into(), "私下交易".into()]),
        }
    }

    /// Refuse content containing any of `phrases` (the platform's own policy).
    #[must_use]
    pub fn with_policy(mut self, phrases: Vec<String>) -> SimulatedChannel {
        self.banned_phrases = Arc::new(phrases);
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Register (or update) a tenant's account.
    pub fn add_account(&self, tenant: &TenantId, account: &str, status: AccountStatus) {
        self.state()
            .accounts
            .insert((*tenant, account.to_string()), status);
    }

    /// Make the next publish call fail with `fault` (faults queue up in order).
    pub fn inject(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// Number of items published.
    pub fn published_count(&self) -> usize {
        self.state().items.len()
    }

    fn simulate(&self, item: &Item, now: DateTime<Utc>) -> (ContentStats, u64) {
        let r: BaseRates = self.info.base_rates;
        let mut rng = SeededRng::derive(self.seed, &item.external_id);
        let mut s = ContentStats {
            as_of: Some(now),
            ..ContentStats::default()
        };
        let elapsed = now - item.published_at;
        if elapsed < Duration::zero() {
            return (s, 0);
        }
        let days = elapsed.num_days().min(180);
        let partial = (elapsed - Duration::days(days)).num_seconds() as f64 / 86_400.0;
        for d in 0..=days {
            let share = if d == days { partial } else { 1.0 };
            let mean = r.exposures_per_day * item.quality * r.decay.powi(d as i32) * share;
            let exposures = rng.poisson(mean);
            let views = rng.binomial(exposures, r.view_rate);
            s.exposures += exposures;
            s.views += views;
            s.engagements += rng.binomial(views, r.engagement_rate);
            s.clicks += rng.binomial(views, r.click_rate);
            s.inquiries += rng.binomial(views, r.inquiry_rate);
        }
        (s, days as u64)
    }
}

#[async_trait]
impl ContentChannel for SimulatedChannel {
    fn code(&self) -> &str {
        &self.info.code
    }

    async fn account_status(
        &self,
        tenant: &TenantId,
        account: &str,
    ) -> marketingforce_core::Result<AccountStatus> {
        self.state()
            .accounts
            .get(&(*tenant, account.to_string()))
            .cloned()
            .ok_or_else(|| CoreError::not_found(format!("{} account", self.info.code), account))
    }

    async fn publish(&self, req: &PublishRequest) -> marketingforce_core::Result<PublishOutcome> {
        let now = self.clock.now();
        let mut st = self.state();
        if let Some(prev) = st.by_key.get(&req.idempotency_key) {
            return Ok(prev.clone());
        }
        let key = (req.tenant, req.account.clone());
        let status = st.accounts.get(&key).cloned().ok_or_else(|| {
            CoreError::not_found(format!("{} account", self.info.code), &req.account)
        })?;
        let outcome = match st.faults.pop_front() {
            Some(Fault::Unavailable) => {
                return Err(CoreError::backend_message(
                    self.info.code.clone(),
                    true,
                    "503 service unavailable (injected)",
                ))
            }
            Some(Fault::Timeout) => {
                return Err(CoreError::Timeout {
                    operation: format!("publish to {}", self.info.code),
                })
            }
            Some(Fault::Reject { code, reason }) => PublishOutcome::Rejected { code, reason },
            Some(Fault::Suspend { reason }) => {
                if let Some(a) = st.accounts.get_mut(&key) {
                    a.suspended = Some(reason.clone());
                }
                PublishOutcome::Rejected {
                    code: "account_suspended".into(),
                    reason,
                }
            }
            None if !status.can_publish() => PublishOutcome::Rejected {
                code: "account_not_allowed".into(),
                reason: status
                    .suspended
                    .clone()
                    .unwrap_or_else(|| "account not real-name verified".into()),
            },
            None if !req.format_accepted(&self.info) => PublishOutcome::Rejected {
                code: "format".into(),
                reason: format!("{} does not accept {}", self.info.code, req.format),
            },
            None => match self
                .banned_phrases
                .iter()
                .find(|p| req.title.contains(p.as_str()) || req.body_html.contains(p.as_str()))
            {
                Some(p) => PublishOutcome::Rejected {
                    code: "policy".into(),
                    reason: format!("content contains {p:?}, which the platform does not allow"),
                },
                None => {
                    st.counter += 1;
                    let external_id = format!("{}-{:06}", self.info.code, st.counter);
                    let mut rng = SeededRng::derive(self.seed, &external_id);
                    // Lognormal quality around 1: some pieces do much better than others.
                    let quality = (0.5 * rng.normal()).exp();
                    st.items.insert(
                        external_id.clone(),
                        Item {
                            tenant: req.tenant,
                            account: req.account.clone(),
                            external_id: external_id.clone(),
                            published_at: now,
                            quality,
                        },
                    );
                    PublishOutcome::Published(PublishReceipt {
                        url: Some(format!(
                            "https://{}.example/p/{external_id}",
                            self.info.code
                        )),
                        external_id,
                        published_at: now,
                    })
                }
            },
        };
        st.by_key
            .insert(req.idempotency_key.clone(), outcome.clone());
        Ok(outcome)
    }

    async fn stats(
        &self,
        tenant: &TenantId,
        account: &str,
        external_id: &str,
    ) -> marketingforce_core::Result<ContentStats> {
        let item = {
            let st = self.state();
            st.items
                .get(external_id)
                .filter(|i| &i.tenant == tenant && i.account == account)
                .cloned()
                .ok_or_else(|| {
                    CoreError::not_found(format!("{} item", self.info.code), external_id)
                })?
        };
        Ok(self.simulate(&item, self.clock.now()).0)
    }

    async fn inquiries(
        &self,
        tenant: &TenantId,
        account: &str,
        since: Option<DateTime<Utc>>,
    ) -> marketingforce_core::Result<Vec<ChannelInquiry>> {
        let now = self.clock.now();
        let items: Vec<Item> = self
            .state()
            .items
            .values()
            .filter(|i| &i.tenant == tenant && i.account == account)
            .cloned()
            .collect();
        let mut out = Vec::new();
        for item in items {
            let (stats, _) = self.simulate(&item, now);
            let mut rng = SeededRng::derive(self.seed ^ 0x1f, &item.external_id);
            let span = (now - item.published_at).num_seconds().max(1);
            let mut times: Vec<DateTime<Utc>> = (0..stats.inquiries)
                .map(|_| item.published_at + Duration::seconds((rng.unit() * span as f64) as i64))
                .collect();
            times.sort();
            for (n, at) in times.into_iter().enumerate() {
                if since.is_some_and(|s| at <= s) {
                    continue;
                }
                let k = rng.below(10_000);
                out.push(ChannelInquiry {
                    external_id: format!("{}-q{n}", item.external_id),
                    item_external_id: item.external_id.clone(),
                    name: Some(format!("访客{k:04}")),
                    phone: Some(format!("1380000{k:04}")),
                    email: None,
                    company: Some(format!("客户企业{}", k % 97)),
                    region: Some(["上海", "江苏", "浙江", "广东", "山东"][k % 5].into()),
                    message: "请发一份报价和产品资料。".into(),
                    visitor_id: Some(format!("v-{k:04}")),
                    received_at: at,
                });
            }
        }
        out.sort_by(|a, b| {
            a.received_at
                .cmp(&b.received_at)
                .then_with(|| a.external_id.cmp(&b.external_id))
        });
        Ok(out)
    }
}

trait FormatAccepted {
    fn format_accepted(&self, info: &ChannelInfo) -> bool;
}

impl FormatAccepted for PublishRequest {
    fn format_accepted(&self, info: &ChannelInfo) -> bool {
        info.formats.contains(&self.format)
    }
}
