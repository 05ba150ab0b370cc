//! Ad accounts and campaigns that already exist on a platform, linked for spend import.
//!
//! [`open_ad_account`](AdOps::open_ad_account) and [`create_campaign`](AdOps::create_campaign)
//! create them on the platform through its adapter. An agency that runs its accounts in the
//! platform's own console and brings spend in from report exports
//! ([`import_reports`](AdOps::import_reports)) links them instead: the same checks (an approved
//! customer under agreement, a platform under agreement, an active account, a valid plan), no
//! adapter and no platform call. Top-ups made in the console are recorded with
//! [`record_top_up`](AdOps::record_top_up).

use chrono::NaiveDate;
use marketingforce_core::storage::{Batch, Entity, Expect};
use marketingforce_core::telemetry::operation;
use marketingforce_core::IdempotencyKey;
use serde::{Deserialize, Serialize};

use super::AdOps;
use marketingforce_core::adapters::ad_platform::{TopUpReceipt, TopUpStatus};

use crate::account::{AdAccount, TopUp, TopUpRequest, TopUpState};
use crate::campaign::{Campaign, CampaignDraft};
use crate::error::{AdsError, Result};
use crate::ids::{AdAccountId, CampaignId, CustomerId, PlatformId};

/// The longest platform id accepted, in bytes.
const MAX_EXTERNAL_ID: usize = 128;

/// The claim of a platform's account or campaign id by one of ours: written with
/// `Expect::Absent` in the batch that links it, so two processes linking the same platform id
/// concurrently cannot both succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ExternalLink {
    /// `account:{platform}:{external id}` or `campaign:{account}:{external id}`.
    key: String,
}

impl Entity for ExternalLink {
    const COLLECTION: &'static str = "ads.external_links";
    fn key(&self) -> String {
        self.key.clone()
    }
}

pub(super) fn check_external_id(id: &str, field: &str) -> Result<()> {
    if id.trim().is_empty() {
        return Err(AdsError::validation(field, "must not be blank"));
    }
    if id.len() > MAX_EXTERNAL_ID {
        return Err(AdsError::validation(
            field,
            format!("at most {MAX_EXTERNAL_ID} bytes"),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(AdsError::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

impl AdOps {
    /// Stage the claim of a platform id in `batch`: the commit fails with a conflict when
    /// another process linked the same platform id first.
    fn claim_external(&self, batch: &mut Batch, key: String) -> Result<()> {
        batch.put_entity(&self.tenant, &ExternalLink { key }, Expect::Absent)?;
        Ok(())
    }

    /// Link the platform's existing ad account `external_id` to `customer` from `since` (the
    /// first day whose spend is ours to settle; today or earlier), so its spend can be
    /// imported. Requires, as opening does, an approved customer, and agreements with the
    /// customer and the platform in force on `since`; no platform adapter is needed.
    ///
    /// # Errors
    /// A blank or over-long `external_id`, `since` in the future, a platform account already
    /// linked (to any of our accounts), an unqualified customer, no agreement in force,
    /// storage errors.
    #[operation("ads.link_ad_account", tenant = self.tenant, key = key)]
    pub async fn link_ad_account(
        &self,
        customer: &CustomerId,
        platform: &PlatformId,
        external_id: &str,
        since: NaiveDate,
        key: &IdempotencyKey,
    ) -> Result<AdAccount> {
        check_external_id(external_id, "external_id")?;
        let (idem, previous) = self
            .idempotent(
                "link_ad_account",
                key.as_str(),
                &(customer, platform, external_id, since),
            )
            .await?;
        if let Some(a) = previous {
            return Ok(a);
        }
        if since > self.today() {
            return Err(AdsError::validation("since", "must not be in the future"));
        }
        self.approved_customer(customer).await?;
        self.platform(platform).await?;
        self.agreement_on(customer, since).await?;
        self.platform_agreement_on(platform, since).await?;
        let external = AdAccount::external_key(platform, external_id);
        if let Some(existing) = self
            .accounts()
            .lookup_all(&self.tenant, "external", &external)
            .await?
            .first()
        {
            return Err(AdsError::validation(
                "external_id",
                format!(
                    "the platform account is already ad account {}",
                    existing.value.id
                ),
            ));
        }
        let account = AdAccount {
            id: AdAccountId::generate(self.ids.as_ref()),
            customer: *customer,
            platform: *platform,
            external_id: external_id.to_string(),
            currency: self.config.currency,
            opened_on: since,
            closed_on: None,
            suspensions: Vec::new(),
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &account, Expect::Absent)?;
        self.claim_external(&mut batch, format!("account:{external}"))?;
        self.commit(&idem, vec![], vec![], batch, account).await
    }

    /// Link the platform's existing campaign `external_id` in `account`, with its plan, so its
    /// spend can be imported. The plan is checked as for a new campaign (the platform must sell
    /// its pricing model; KPIs only for solution services); the account must be active.
    ///
    /// # Errors
    /// A blank or over-long `external_id`, a campaign already linked, an invalid plan naming
    /// the field, a suspended or closed account, no agreement in force, storage errors.
    #[operation("ads.link_campaign", tenant = self.tenant, key = key)]
    pub async fn link_campaign(
        &self,
        account: &AdAccountId,
        external_id: &str,
        draft: CampaignDraft,
        key: &IdempotencyKey,
    ) -> Result<Campaign> {
        check_external_id(external_id, "external_id")?;
        let (idem, previous) = self
            .idempotent(
                "link_campaign",
                key.as_str(),
                &(account, external_id, &draft),
            )
            .await?;
        if let Some(c) = previous {
            return Ok(c);
        }
        let a = self.ad_account(account).await?;
        self.check_plan(&a, &draft).await?;
        let external = Campaign::external_key(&a.id, external_id);
        if let Some(existing) = self
            .campaigns()
            .lookup_all(&self.tenant, "external", &external)
            .await?
            .first()
        {
            return Err(AdsError::validation(
                "external_id",
                format!(
                    "the platform campaign is already campaign {}",
                    existing.value.id
                ),
            ));
        }
        let campaign = Campaign {
            id: CampaignId::generate(self.ids.as_ref()),
            account: a.id,
            customer: a.customer,
            platform: a.platform,
            external_id: external_id.to_string(),
            draft,
            status: marketingforce_core::adapters::ad_platform::CampaignStatus::Active,
            created_at: self.clock.now(),
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &campaign, Expect::Absent)?;
        self.claim_external(&mut batch, format!("campaign:{external}"))?;
        self.commit(&idem, vec![], vec![], batch, campaign).await
    }

    /// Record a top-up already made in the platform's console (it succeeded there under
    /// `platform_ref`): the same checks and ledger postings as [`top_up`](AdOps::top_up) —
    /// account active, customer approved, credit limit or prepayment, platform funds — without
    /// asking the platform. It shares `top_up`'s idempotency scope: a key names one top-up,
    /// however it was made.
    ///
    /// # Errors
    /// As [`top_up`](AdOps::top_up), less the platform failures; a blank or over-long
    /// `platform_ref`.
    #[operation("ads.record_top_up", tenant = self.tenant, key = key)]
    pub async fn record_top_up(
        &self,
        request: TopUpRequest,
        platform_ref: &str,
        key: &IdempotencyKey,
    ) -> Result<TopUp> {
        check_external_id(platform_ref, "platform_ref")?;
        let held = {
            let _money = self.money.lock().await;
            self.hold_top_up(key.as_str(), &request).await?
        };
        if held.state != TopUpState::Pending {
            return Ok(held);
        }
        let account = self.ad_account(&held.account).await?;
        let receipt = TopUpReceipt {
            request_id: held.id.to_string(),
            account_id: account.external_id,
            amount: held.amount,
            status: TopUpStatus::Succeeded,
            platform_ref: platform_ref.to_string(),
        };
        self.resolve_top_up(&held.id, Some(receipt)).await
    }
}
