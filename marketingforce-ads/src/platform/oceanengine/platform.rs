//! [`OceanEnginePlatform`]: the connector as an [`AdPlatform`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use marketingforce_core::adapters::ad_platform::{
    AdPlatform, CampaignRequest, CampaignStatus, ConversionEvent, DailyReport, OpenAccountRequest,
    PlaceAdRequest, PlacedAd, PlatformAccount, PlatformCampaign, RebateStatement,
    RebateStatementRequest, ReportRequest, TopUpReceipt, TopUpRequest,
};
use marketingforce_core::storage::Store;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use marketingforce_core::Result;

use super::auth::{self, Grant, Tokens};
use super::client::{Client, Notice};
use super::codes::OceanEngineError;
use super::config::OceanEngineConfig;
use super::secret::Secret;
use super::transport::{HttpTransport, Transport};
use crate::config::Config;

/// The platform-side key derived from a caller's request id: the first 16 bytes of its
/// SHA-256, in hex (32 characters, like a UUID without dashes). Stable, so a retry sends the
/// same `unique_fk` / `biz_request_no`.
pub fn request_key(request_id: &str) -> String {
    let digest = Sha256::digest(request_id.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The Ocean Engine (巨量引擎) Marketing API as an [`AdPlatform`] for one tenant (see the
/// [module docs](super) for setup, the protocol and the design).
///
/// ```
/// use std::sync::Arc;
/// use marketingforce_ads::platform::oceanengine::{OceanEngineConfig, OceanEnginePlatform, Secret};
/// use marketingforce_core::adapters::ad_platform::AdPlatform;
/// use marketingforce_core::storage::MemoryStore;
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_core::time::SystemClock;
///
/// let config = OceanEngineConfig::new("1690000000000001", Secret::new("app-secret"));
/// let platform = OceanEnginePlatform::new(
///     config, Arc::new(MemoryStore::new()), TenantId::new(), Arc::new(SystemClock),
/// ).unwrap();
/// assert_eq!(platform.platform_code(), "ocean-engine");
/// let link = platform
///     .authorize_url("https://agency.example.com/oauth/oceanengine", "tenant-42")
///     .unwrap();
/// assert!(link.starts_with("https://ad.oceanengine.com/openapi/audit/oauth.html?app_id=1690000000000001"));
/// // No secret in its debug output.
/// assert!(!format!("{platform:?}").contains("app-secret"));
/// ```
#[derive(Debug)]
pub struct OceanEnginePlatform {
    pub(crate) client: Client,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) tenant: TenantId,
    pub(crate) clock: Arc<dyn Clock>,
    /// This instance's name in leases (random).
    pub(crate) holder: String,
}

impl OceanEnginePlatform {
    /// The connector for `tenant`, over the real HTTP transport to `config.base_url`. Tokens,
    /// report revisions and creation records live in `store`.
    ///
    /// # Errors
    /// An invalid configuration (the field named), an HTTP client that cannot be built.
    pub fn new(
        config: OceanEngineConfig,
        store: Arc<dyn Store>,
        tenant: TenantId,
        clock: Arc<dyn Clock>,
    ) -> crate::Result<OceanEnginePlatform> {
        config.validate()?;
        let transport = HttpTransport::new(
            &config.base_url,
            Duration::from_millis(config.timeout_ms),
            config.max_response_bytes,
        )
        .map_err(|e| marketingforce_core::Error::backend(super::codes::BACKEND, false, e))?;
        let tokens = Tokens::new(store.clone(), tenant, clock.clone(), &config);
        Ok(OceanEnginePlatform {
            client: Client::new(config, Arc::new(transport), tokens),
            store,
            tenant,
            clock,
            holder: auth::nonce(),
        })
    }

    /// The same connector over another transport (a recording, a replay, a test double).
    #[must_use]
    pub fn with_transport(mut self, transport: Arc<dyn Transport>) -> OceanEnginePlatform {
        self.client.with_transport(transport);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &OceanEngineConfig {
        &self.client.config
    }

    /// The link a person opens to authorise the app; the platform then redirects to
    /// `redirect_uri` (the URL registered with the app) with `auth_code` and `state`.
    ///
    /// # Errors
    /// A validation error on `redirect_uri`.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> Result<String> {
        let c = &self.client.config;
        auth::authorize_url(&c.authorize_page_url, &c.app_id, redirect_uri, state)
    }

    /// Exchange an authorisation code for the app's tokens and store them for every process.
    ///
    /// # Errors
    /// The platform's refusal (an expired or reused code), storage errors.
    pub async fn exchange_code(&self, auth_code: &Secret) -> Result<Grant> {
        let c = &self.client.config;
        let body = auth::code_body(&c.app_id, &c.secret, auth_code);
        let data = self.client.oauth("oauth2/access_token/", body).await?;
        self.client.tokens.store_grant(&data).await
    }

    /// The stored grant (what it covers and when it expires), without its secrets.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn grant(&self) -> Result<Option<Grant>> {
        self.client.tokens.grant().await
    }

    /// Values the connector met but could not map (kept as `Unknown`), since the last call.
    pub fn take_notices(&self) -> Vec<Notice> {
        self.client.notices.take()
    }

    fn unsupported(operation: &str, why: &str) -> marketingforce_core::Error {
        OceanEngineError::Unsupported {
            operation: operation.to_string(),
            why: why.to_string(),
        }
        .into_core()
    }
}

#[async_trait]
impl AdPlatform for OceanEnginePlatform {
    fn platform_code(&self) -> &str {
        &self.client.config.code
    }

    /// Links an account the agent opened in the agent console for the customer's licence
    /// number (accounts are opened there, with the platform's qualification review).
    async fn open_account(&self, request: &OpenAccountRequest) -> Result<PlatformAccount> {
        self.link_account(request).await
    }

    async fn account(&self, account_id: &str) -> Result<PlatformAccount> {
        self.platform_account(account_id).await
    }

    async fn top_up(&self, request: &TopUpRequest) -> Result<TopUpReceipt> {
        self.transfer_in(request).await
    }

    async fn top_up_status(
        &self,
        account_id: &str,
        request_id: &str,
    ) -> Result<Option<TopUpReceipt>> {
        self.transfer_status(account_id, request_id).await
    }

    async fn create_campaign(&self, request: &CampaignRequest) -> Result<PlatformCampaign> {
        self.new_campaign(request).await
    }

    async fn set_campaign_status(
        &self,
        account_id: &str,
        campaign_id: &str,
        status: CampaignStatus,
    ) -> Result<PlatformCampaign> {
        self.campaign_status(account_id, campaign_id, status).await
    }

    async fn place_ad(&self, request: &PlaceAdRequest) -> Result<PlacedAd> {
        self.new_ad(request).await
    }

    async fn daily_report(&self, request: &ReportRequest) -> Result<DailyReport> {
        self.campaign_day(&request.account_id, request.date).await
    }

    async fn conversions(&self, _request: &ReportRequest) -> Result<Vec<ConversionEvent>> {
        Err(Self::unsupported(
            "conversions by click id",
            "the Marketing API has no order feed; conversions flow from the advertiser to the \
             platform (conversion callbacks), and the report's convert_cnt counts them",
        ))
    }

    async fn rebate_statement(&self, _request: &RebateStatementRequest) -> Result<RebateStatement> {
        Err(Self::unsupported(
            "rebate statements",
            "the agent rebate ledger (2/query/rebate_balance/) gives amounts per settlement \
             period but neither the spend they are computed on nor the rate; reconcile against \
             the platform's signed statement",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_keys_are_stable_and_short() {
        let k = request_key("top_up:0192f0c1e3d47a8b9c0d1e2f3a4b5c6d");
        assert_eq!(k.len(), 32);
        assert_eq!(k, request_key("top_up:0192f0c1e3d47a8b9c0d1e2f3a4b5c6d"));
        assert_ne!(k, request_key("top_up:0192f0c1e3d47a8b9c0d1e2f3a4b5c6e"));
    }
}
