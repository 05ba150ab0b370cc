//! Campaigns, creatives and placements (through the content review gate), and the ingestion of
//! spend, performance and conversion reports.

use marketingforce_core::IdempotencyKey;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use marketingforce_core::adapters::ad_platform::{
    CampaignRequest, CampaignStatus, ConversionEvent, DailyReport, PlaceAdRequest, ReportRequest,
};
use marketingforce_core::storage::{Batch, Collection, Expect, Versioned};
use marketingforce_core::telemetry::operation;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::AdOps;
use crate::account::AccountStatus;
use crate::agreement::ServiceType;
use crate::campaign::{Campaign, CampaignDraft, DailyPerformance, Metrics};
use crate::error::{AdsError, Result};
use crate::events::SpendRecorded;
use crate::ids::{AdAccountId, CampaignId, CreativeId, CustomerId, PlacementId, PlatformId};
use crate::period::Month;
use crate::report::{
    check_report, fingerprint, AttributedOrder, IngestOutcome, ReportFlag, StoredLine, StoredReport,
};
use crate::review::{gate, Creative, CreativeDraft, Placement};

/// What fetching a day's reports from a platform did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FetchSummary {
    /// The day.
    pub date: NaiveDate,
    /// Accounts whose report was ingested, with the outcome.
    pub ingested: Vec<(AdAccountId, IngestOutcome)>,
    /// Accounts whose report could not be fetched or ingested.
    pub failed: Vec<FetchFailure>,
}

/// A report that could not be fetched or ingested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FetchFailure {
    /// The account.
    pub account: AdAccountId,
    /// What went wrong.
    pub error: String,
    /// Whether a later retry may succeed (timeouts, 429s).
    pub retryable: bool,
}

/// What ingesting conversions did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct AttributionSummary {
    /// Orders attributed for the first time.
    pub attributed: usize,
    /// Orders already attributed (counted once).
    pub duplicates: usize,
    /// Orders whose click belongs to no campaign we know.
    pub unknown_campaign: usize,
}

/// A report flag's kind, without its free text (for events).
fn flag_name(flag: &ReportFlag) -> String {
    match flag {
        ReportFlag::SpendWhileSuspended { .. } => "spend_while_suspended",
        ReportFlag::Refund { .. } => "refund",
        ReportFlag::Partial => "partial",
        ReportFlag::AccountNotOpen => "account_not_open",
    }
    .to_string()
}

impl AdOps {
    pub(crate) fn campaigns(&self) -> Collection<Campaign> {
        Collection::new(self.store.clone())
    }

    fn creatives(&self) -> Collection<Creative> {
        Collection::new(self.store.clone())
    }

    fn placements(&self) -> Collection<Placement> {
        Collection::new(self.store.clone())
    }

    pub(crate) fn reports(&self) -> Collection<StoredReport> {
        Collection::new(self.store.clone())
    }

    fn orders(&self) -> Collection<AttributedOrder> {
        Collection::new(self.store.clone())
    }

    /// Create a campaign in an active account (on the platform, through its adapter).
    ///
    /// # Errors
    /// An invalid draft naming the field (a pricing model the platform does not sell, KPIs
    /// under distribution services, a daily budget above the total…), a suspended or closed
    /// account, a platform failure, storage errors.
    #[operation("ads.create_campaign", tenant = self.tenant, key = key)]
    pub async fn create_campaign(
        &self,
        account: &AdAccountId,
        draft: CampaignDraft,
        key: &IdempotencyKey,
    ) -> Result<Campaign> {
        let key = key.as_str();
        let (idem, previous) = self
            .idempotent("create_campaign", key, &(account, &draft))
            .await?;
        if let Some(c) = previous {
            return Ok(c);
        }
        let a = self.ad_account(account).await?;
        self.check_plan(&a, &draft).await?;
        let adapter = self.adapter(&a.platform)?;
        let created = adapter
            .create_campaign(&CampaignRequest {
                request_id: idem.key().to_string(),
                account_id: a.external_id.clone(),
                name: draft.name.clone(),
                objective: draft.objective.as_str().to_string(),
                pricing: draft.pricing,
                daily_budget: draft.budget.daily,
                total_budget: draft.budget.total,
                start: draft.schedule.start,
                end: draft.schedule.end,
                audience: draft.audience.clone(),
            })
            .await
            .map_err(|source| AdsError::platform(adapter.platform_code(), source))?;
        let campaign = Campaign {
            id: CampaignId::generate(self.ids.as_ref()),
            account: a.id,
            customer: a.customer,
            platform: a.platform,
            external_id: created.campaign_id,
            draft,
            status: created.status,
            created_at: self.clock.now(),
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &campaign, Expect::Absent)?;
        self.commit(&idem, vec![], vec![], batch, campaign).await
    }

    /// Check a campaign plan for `a` today: the account is active, the customer's and the
    /// platform's agreements are in force, the plan validates for the service type (KPIs only
    /// for solution services), and the platform sells its pricing model.
    pub(super) async fn check_plan(
        &self,
        a: &crate::account::AdAccount,
        draft: &CampaignDraft,
    ) -> Result<()> {
        let today = self.today();
        self.ensure_active(a, today)?;
        let agreement = self.agreement_on(&a.customer, today).await?;
        let platform_terms = self.platform_agreement_on(&a.platform, today).await?;
        draft.validate(
            a.currency,
            agreement.terms.service_type == ServiceType::Solution,
        )?;
        if !platform_terms
            .terms
            .pricing_models
            .contains(&draft.pricing.model())
        {
            return Err(AdsError::validation(
                "pricing",
                format!(
                    "the platform does not sell {} inventory",
                    draft.pricing.model()
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn ensure_active(
        &self,
        a: &crate::account::AdAccount,
        date: NaiveDate,
    ) -> Result<()> {
        match a.status_on(date) {
            AccountStatus::Active => Ok(()),
            AccountStatus::Suspended { reason } => Err(AdsError::AccountSuspended {
                account: a.id,
                reason,
            }),
            AccountStatus::Closed => Err(AdsError::AccountClosed { account: a.id }),
        }
    }

    /// A campaign.
    ///
    /// # Errors
    /// Not found, storage errors.
    #[operation("ads.campaign", tenant = self.tenant)]
    pub async fn campaign(&self, id: &CampaignId) -> Result<Campaign> {
        Ok(self
            .campaigns()
            .require(&self.tenant, &id.to_string())
            .await?
            .value)
    }

    /// Pause, resume or end a campaign (on the platform too).
    ///
    /// # Errors
    /// A platform failure, storage errors.
    #[operation("ads.set_campaign_status", tenant = self.tenant, key = key)]
    pub async fn set_campaign_status(
        &self,
        id: &CampaignId,
        status: CampaignStatus,
        key: &IdempotencyKey,
    ) -> Result<Campaign> {
        let key = key.as_str();
        let (idem, previous) = self
            .idempotent("set_campaign_status", key, &(id, status))
            .await?;
        if let Some(c) = previous {
            return Ok(c);
        }
        let Versioned {
            value: mut c,
            version,
        } = self
            .campaigns()
            .require(&self.tenant, &id.to_string())
            .await?;
        let a = self.ad_account(&c.account).await?;
        let adapter = self.adapter(&c.platform)?;
        adapter
            .set_campaign_status(&a.external_id, &c.external_id, status)
            .await
            .map_err(|source| AdsError::platform(adapter.platform_code(), source))?;
        c.status = status;
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &c, Expect::Version(version))?;
        self.commit(&idem, vec![], vec![], batch, c).await
    }

    /// Register a creative of a customer (to be reviewed before it can be placed).
    ///
    /// # Errors
    /// An invalid draft, an unknown customer, storage errors.
    #[operation("ads.register_creative", tenant = self.tenant, key = key)]
    pub async fn register_creative(
        &self,
        customer: &CustomerId,
        draft: CreativeDraft,
        key: &IdempotencyKey,
    ) -> Result<Creative> {
        let key = key.as_str();
        let (idem, previous) = self
            .idempotent("register_creative", key, &(customer, &draft))
            .await?;
        if let Some(c) = previous {
            return Ok(c);
        }
        self.customer(customer).await?;
        let creative = Creative::new(
            CreativeId::generate(self.ids.as_ref()),
            *customer,
            draft,
            self.clock.now(),
        )?;
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &creative, Expect::Absent)?;
        self.commit(&idem, vec![], vec![], batch, creative).await
    }

    /// A creative.
    ///
    /// # Errors
    /// Not found, storage errors.
    #[operation("ads.creative", tenant = self.tenant)]
    pub async fn creative(&self, id: &CreativeId) -> Result<Creative> {
        Ok(self
            .creatives()
            .require(&self.tenant, &id.to_string())
            .await?
            .value)
    }

    /// Place a creative in a campaign. Refused unless the compliance review approved exactly
    /// this content; the placement is recorded with the approval it carried.
    ///
    /// # Errors
    /// [`AdsError::CreativeNotApproved`], a creative of another customer, a suspended account,
    /// a platform failure, storage errors.
    #[operation("ads.place_creative", tenant = self.tenant, key = key)]
    pub async fn place_creative(
        &self,
        campaign: &CampaignId,
        creative: &CreativeId,
        key: &IdempotencyKey,
    ) -> Result<Placement> {
        let key = key.as_str();
        let (idem, previous) = self
            .idempotent("place_creative", key, &(campaign, creative))
            .await?;
        if let Some(p) = previous {
            return Ok(p);
        }
        let c = self.campaign(campaign).await?;
        let cr = self.creative(creative).await?;
        if cr.customer != c.customer {
            return Err(AdsError::validation(
                "creative",
                format!(
                    "creative {} belongs to customer {}, the campaign to {}",
                    cr.id, cr.customer, c.customer
                ),
            ));
        }
        let a = self.ad_account(&c.account).await?;
        self.ensure_active(&a, self.today())?;
        let approval = gate(&cr, self.reviews.approval(&self.tenant, &cr).await?)?;
        let adapter = self.adapter(&c.platform)?;
        let placed = adapter
            .place_ad(&PlaceAdRequest {
                request_id: idem.key().to_string(),
                account_id: a.external_id.clone(),
                campaign_id: c.external_id.clone(),
                creative_id: cr.id.to_string(),
                title: cr.draft.title.clone(),
                body: cr.draft.body.clone(),
                media: cr.draft.media.clone(),
                landing_url: cr.draft.landing_url.clone(),
                approval_ref: approval.review_ref.clone(),
            })
            .await
            .map_err(|source| AdsError::platform(adapter.platform_code(), source))?;
        let placement = Placement {
            id: PlacementId::generate(self.ids.as_ref()),
            campaign: c.id,
            account: a.id,
            creative: cr.id,
            content_digest: cr.digest.clone(),
            approval,
            platform_ad_id: placed.ad_id,
            placed_at: self.clock.now(),
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &placement, Expect::Absent)?;
        self.commit(&idem, vec![], vec![], batch, placement).await
    }

    /// The placements of a campaign.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.placements_of", tenant = self.tenant)]
    pub async fn placements_of(&self, campaign: &CampaignId) -> Result<Vec<Placement>> {
        Ok(self
            .placements()
            .lookup_all(&self.tenant, "campaign", &campaign.to_string())
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// Ingest a platform's daily report: matched to our account and campaigns, counted once
    /// (a duplicate is a no-op; a higher revision restates; a lower one is ignored), refunds and
    /// spend on suspended days flagged.
    ///
    /// # Errors
    /// [`AdsError::UnknownAccount`], [`AdsError::UnknownCampaign`], [`AdsError::ReportCurrency`],
    /// [`AdsError::ConflictingReport`] (same revision, other content), malformed lines naming
    /// the field, storage errors.
    #[operation("ads.ingest_report", tenant = self.tenant)]
    pub async fn ingest_report(
        &self,
        platform: &PlatformId,
        report: &DailyReport,
    ) -> Result<IngestOutcome> {
        check_report(report)?;
        let ext = crate::account::AdAccount::external_key(platform, &report.account_id);
        let account = self
            .accounts()
            .lookup_all(&self.tenant, "external", &ext)
            .await?
            .into_iter()
            .next()
            .map(|v| v.value)
            .ok_or_else(|| AdsError::UnknownAccount {
                platform: *platform,
                external_id: report.account_id.clone(),
                report_id: report.report_id.clone(),
            })?;
        if report.currency != account.currency {
            return Err(AdsError::ReportCurrency {
                account: account.id,
                report_id: report.report_id.clone(),
                expected: account.currency.to_string(),
                found: report.currency.to_string(),
            });
        }
        let print = fingerprint(report)?;
        let key = StoredReport::key_of(&account.id, report.date);
        let existing = self.reports().get(&self.tenant, &key).await?;
        if let Some(v) = &existing {
            if v.value.revision > report.revision {
                return Ok(IngestOutcome::Superseded {
                    stored_revision: v.value.revision,
                });
            }
            if v.value.revision == report.revision {
                return if v.value.fingerprint == print {
                    Ok(IngestOutcome::Duplicate)
                } else {
                    Err(AdsError::ConflictingReport {
                        account: account.id,
                        date: report.date,
                        report_id: report.report_id.clone(),
                        revision: report.revision,
                    })
                };
            }
        }
        let mut lines = Vec::with_capacity(report.lines.len());
        let mut flags = Vec::new();
        for l in &report.lines {
            let ckey = Campaign::external_key(&account.id, &l.campaign_id);
            let campaign = self
                .campaigns()
                .lookup_all(&self.tenant, "external", &ckey)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| AdsError::UnknownCampaign {
                    account: account.id,
                    external_id: l.campaign_id.clone(),
                    report_id: report.report_id.clone(),
                })?
                .value;
            if l.spend.is_negative() {
                flags.push(ReportFlag::Refund {
                    campaign: campaign.id,
                    amount: l.spend.abs(),
                });
            }
            lines.push(StoredLine {
                campaign: campaign.id,
                impressions: l.impressions,
                clicks: l.clicks,
                conversions: l.conversions,
                spend: l.spend,
            });
        }
        let stored = StoredReport {
            account: account.id,
            customer: account.customer,
            platform: *platform,
            date: report.date,
            report_id: report.report_id.clone(),
            revision: report.revision,
            complete: report.complete,
            lines,
            flags: Vec::new(),
            fingerprint: print,
            received_at: self.clock.now(),
        };
        let spend = stored.spend()?;
        if !spend.is_zero() {
            if let Some(s) = account.suspension_on(report.date) {
                flags.push(ReportFlag::SpendWhileSuspended {
                    reason: s.reason.clone(),
                    spend,
                });
            }
            if !account.is_open_on(report.date) {
                flags.push(ReportFlag::AccountNotOpen);
            }
        }
        if !report.complete {
            flags.push(ReportFlag::Partial);
        }
        let stored = StoredReport {
            flags: flags.clone(),
            ..stored
        };
        let expect = existing
            .as_ref()
            .map_or(Expect::Absent, |v| Expect::Version(v.version));
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &stored, expect)?;
        let event = SpendRecorded {
            account: stored.account,
            customer: stored.customer,
            platform: stored.platform,
            date: stored.date,
            revision: stored.revision,
            spend,
            previous_revision: existing.as_ref().map(|v| v.value.revision),
            complete: stored.complete,
            flags: flags.iter().map(flag_name).collect(),
        };
        self.stage(&mut batch, &event).await?;
        self.store.commit(&self.tenant, batch).await?;
        Ok(match existing {
            Some(v) => IngestOutcome::Restated {
                previous_revision: v.value.revision,
                flags,
            },
            None => IngestOutcome::Stored { flags },
        })
    }

    /// Fetch and ingest every open account's report for `date` from a platform; failures are
    /// listed (with whether a retry may help), never dropped.
    ///
    /// # Errors
    /// No adapter, storage errors.
    #[operation("ads.fetch_reports", tenant = self.tenant)]
    pub async fn fetch_reports(
        &self,
        platform: &PlatformId,
        date: NaiveDate,
    ) -> Result<FetchSummary> {
        let adapter = self.adapter(platform)?;
        let accounts = self
            .accounts()
            .lookup_all(&self.tenant, "platform", &platform.to_string())
            .await?;
        let mut summary = FetchSummary {
            date,
            ingested: Vec::new(),
            failed: Vec::new(),
        };
        for a in accounts
            .into_iter()
            .map(|v| v.value)
            .filter(|a| a.is_open_on(date))
        {
            let fetched = adapter
                .daily_report(&ReportRequest {
                    account_id: a.external_id.clone(),
                    date,
                })
                .await;
            let result = match fetched {
                Ok(report) => self.ingest_report(platform, &report).await,
                Err(source) => Err(AdsError::platform(adapter.platform_code(), source)),
            };
            match result {
                Ok(outcome) => summary.ingested.push((a.id, outcome)),
                Err(e) => summary.failed.push(FetchFailure {
                    account: a.id,
                    retryable: e.is_retryable(),
                    error: e.to_string(),
                }),
            }
        }
        Ok(summary)
    }

    /// Record conversions of an account attributed by click id; an order counts once.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.ingest_conversions", tenant = self.tenant)]
    pub async fn ingest_conversions(
        &self,
        account: &AdAccountId,
        events: &[ConversionEvent],
    ) -> Result<AttributionSummary> {
        let a = self.ad_account(account).await?;
        let mut summary = AttributionSummary::default();
        for e in events {
            let ckey = Campaign::external_key(&a.id, &e.campaign_id);
            let Some(campaign) = self
                .campaigns()
                .lookup_all(&self.tenant, "external", &ckey)
                .await?
                .into_iter()
                .next()
            else {
                summary.unknown_campaign += 1;
                continue;
            };
            let order = AttributedOrder {
                platform: a.platform,
                order_id: e.order_id.clone(),
                click_id: e.click_id.clone(),
                campaign: campaign.value.id,
                date: self.config.time_zone.date_of(e.converted_at),
                value: e.order_value,
            };
            let mut batch = Batch::new();
            batch.put_entity(&self.tenant, &order, Expect::Absent)?;
            match self.store.commit(&self.tenant, batch).await {
                Ok(_) => summary.attributed += 1,
                Err(marketingforce_core::Error::Conflict { .. }) => summary.duplicates += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(summary)
    }

    /// A campaign's daily performance over `from..=to` with derived metrics.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.campaign_performance", tenant = self.tenant)]
    pub async fn campaign_performance(
        &self,
        campaign: &CampaignId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyPerformance>> {
        let c = self.campaign(campaign).await?;
        let mut days: BTreeMap<NaiveDate, (u64, u64, u64, marketingforce_core::money::Money)> =
            BTreeMap::new();
        let mut month = Month::of(from);
        while month <= Month::of(to) {
            let reports = self
                .reports()
                .lookup_all(
                    &self.tenant,
                    "account_month",
                    &format!("{}:{month}", c.account),
                )
                .await?;
            for r in reports
                .into_iter()
                .map(|v| v.value)
                .filter(|r| r.date >= from && r.date <= to)
            {
                for l in r.lines.iter().filter(|l| l.campaign == c.id) {
                    let e = days.entry(r.date).or_insert((
                        0,
                        0,
                        0,
                        marketingforce_core::money::Money::zero(l.spend.currency()),
                    ));
                    e.0 += l.impressions;
                    e.1 += l.clicks;
                    e.2 += l.conversions;
                    e.3 = e.3.checked_add(&l.spend)?;
                }
            }
            month = month.next();
        }
        let mut out = Vec::with_capacity(days.len());
        for (date, (imp, clk, conv, spend)) in days {
            let orders = self
                .orders()
                .lookup_all(
                    &self.tenant,
                    "campaign_day",
                    &AttributedOrder::campaign_day(&c.id, date),
                )
                .await?
                .len() as u64;
            out.push(DailyPerformance {
                date,
                metrics: Metrics::compute(imp, clk, conv, spend),
                attributed_orders: orders,
            });
        }
        Ok(out)
    }
}
