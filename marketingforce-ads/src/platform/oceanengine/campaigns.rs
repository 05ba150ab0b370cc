//! Campaigns and ads in both delivery models: create, status (enable / pause / delete).
//!
//! | Trait call | `campaign_ad` (API 2) | `project_promotion` (API v3.0) |
//! |---|---|---|
//! | `create_campaign` | `2/campaign/create/` (idempotent by `unique_fk`) | `v3.0/project/create/` (idempotent through a creation record, below) |
//! | `set_campaign_status` | `2/campaign/update/status/` `opt_status` enable / disable / delete | `v3.0/project/status/update/` ENABLE / DISABLE; ended: `v3.0/project/delete/` |
//! | `place_ad` | not offered (the API 2 plan-and-creative chain is being retired by the platform; use `project_promotion`) | `v3.0/promotion/create/` |
//! | [`set_ad_status`](OceanEnginePlatform::set_ad_status) | `2/ad/update/status/` | `v3.0/promotion/status/update/`; ended: `v3.0/promotion/delete/` |
//!
//! ## Mapping the request
//! - **Objective** → `marketing_purpose` (API 2): `awareness` → `ACKNOWLEDGE`, `traffic` →
//!   `INTENTION`, `conversions` / `leads` / `app_installs` → `CONVERSION`. The 推广目的 is
//!   `landing_type` from the configuration.
//! - **Pricing** → CPC: `PRICING_CPC`, optimised for clicks (`AD_CONVERT_TYPE_CLICK_NUM`); CPM:
//!   `PRICING_CPM`, for impressions (`AD_CONVERT_TYPE_SHOW_OFF_NUM`); the maximum bid becomes
//!   the promotion's `cpa_bid`. CPT is sold through brand contracts, not this API: refused.
//! - **Budget** → `BUDGET_MODE_DAY` or `BUDGET_MODE_TOTAL` (one of them, not both) or
//!   `BUDGET_MODE_INFINITE`; amounts are written as exact decimal yuan.
//! - **Schedule** → `SCHEDULE_START_END` with the dates, or `SCHEDULE_FROM_NOW`.
//! - Required fields your accounts need beyond these (asset ids, targeting packages) come from
//!   `project_defaults` / `promotion_defaults` in the configuration.
//! - **Media** of an ad must be materials already uploaded to the account: `image:<image_id>`
//!   or `video:<video_id>:<cover_image_id>` (upload with the platform's file API first).
//!
//! ## Creating exactly once without an idempotency key (v3.0)
//! Projects and promotions take no client key. A [`Creation`] record in the tenant's store,
//! keyed by the request id, is written *pending* before the call and *done* with the new id
//! after it. A replay of a done creation answers the id; a replay of a pending one (the first
//! attempt's outcome is unknown) first looks for an object of the same name in the account
//! (names are unique per account) and adopts it, and only creates when there is none. Another
//! process creating the same request right now holds the pending record's lease (as long as
//! `refresh_lease_secs`); the replay then answers a retryable timeout. The creation call itself
//! is never re-sent blindly: a lost answer is reported as a timeout (outcome unknown), and the
//! replay recovers it as above. The one risk left: an object created *outside* the SDK with
//! the same name in the account, found after an unknown outcome, would be adopted.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use marketingforce_core::adapters::ad_platform::{
    CampaignRequest, CampaignStatus, PlaceAdRequest, PlacedAd, PlatformCampaign, Pricing,
};
use marketingforce_core::money::Money;
use marketingforce_core::storage::{Collection, Entity, Expect};
use marketingforce_core::{Error, Result};

use super::accounts::check_id;
use super::client::Call;
use super::codes::{ObjectFailure, OceanEngineError};
use super::config::ApiModel;
use super::json::Out;
use super::platform::{request_key, OceanEnginePlatform};
use super::wire;

/// What the connector remembers of a campaign it created (collection
/// `ads.oceanengine.campaigns`): the bid and budget a promotion placed in it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignMemo {
    /// The advertiser.
    pub advertiser_id: String,
    /// The campaign (project) id.
    pub campaign_id: String,
    /// Its price terms.
    pub pricing: Pricing,
}

impl Entity for CampaignMemo {
    const COLLECTION: &'static str = "ads.oceanengine.campaigns";
    fn key(&self) -> String {
        format!("{}:{}", self.advertiser_id, self.campaign_id)
    }
}

/// The state of a creation without a platform-side key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CreationState {
    /// Being created by `holder` until `until`; the outcome may be unknown.
    Pending {
        /// The process creating it.
        holder: String,
        /// Until when the others wait.
        until: DateTime<Utc>,
    },
    /// Created with this platform id.
    Done {
        /// The id.
        id: String,
    },
}

/// A creation record (collection `ads.oceanengine.creations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creation {
    /// `{kind}:{hash of the request id}`.
    pub key: String,
    /// The object's name (unique per account: how a lost outcome is found again).
    pub name: String,
    /// State.
    pub state: CreationState,
}

impl Entity for Creation {
    const COLLECTION: &'static str = "ads.oceanengine.creations";
    fn key(&self) -> String {
        self.key.clone()
    }
}

/// The kind of a v3.0 object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Project,
    Promotion,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Project => "project",
            Kind::Promotion => "promotion",
        }
    }
}

fn objective(s: &str) -> Result<&'static str> {
    match s {
        "awareness" => Ok("ACKNOWLEDGE"),
        "traffic" => Ok("INTENTION"),
        "conversions" | "leads" | "app_installs" => Ok("CONVERSION"),
        other => Err(Error::validation(
            "objective",
            format!("{other:?} has no Ocean Engine marketing purpose (awareness, traffic, conversions, leads, app_installs)"),
        )),
    }
}

fn pricing(p: &Pricing) -> Result<(&'static str, &'static str, Money)> {
    p.validate("pricing")?;
    match p {
        Pricing::Cpc { max_bid } => Ok(("PRICING_CPC", "AD_CONVERT_TYPE_CLICK_NUM", *max_bid)),
        Pricing::Cpm { max_bid } => Ok(("PRICING_CPM", "AD_CONVERT_TYPE_SHOW_OFF_NUM", *max_bid)),
        Pricing::Cpt { .. } => Err(OceanEngineError::Unsupported {
            operation: "a CPT campaign".into(),
            why: "CPT (e.g. splash screens) is bought through brand (GD) contracts, not the auction API".into(),
        }
        .into_core()),
    }
}

fn budget(request: &CampaignRequest) -> Result<(&'static str, Option<Money>)> {
    let check = |m: &Money, field: &str| -> Result<()> {
        m.ensure_minor_units(field)?;
        if !m.is_positive() {
            return Err(Error::validation(field, "must be positive"));
        }
        Ok(())
    };
    match (&request.daily_budget, &request.total_budget) {
        (Some(_), Some(_)) => Err(Error::validation(
            "total_budget",
            "Ocean Engine takes one budget per campaign: a daily or a total budget, not both",
        )),
        (Some(d), None) => check(d, "daily_budget").map(|()| ("BUDGET_MODE_DAY", Some(*d))),
        (None, Some(t)) => check(t, "total_budget").map(|()| ("BUDGET_MODE_TOTAL", Some(*t))),
        (None, None) => Ok(("BUDGET_MODE_INFINITE", None)),
    }
}

fn status_word(status: CampaignStatus) -> (&'static str, &'static str) {
    match status {
        CampaignStatus::Active => ("enable", "ENABLE"),
        CampaignStatus::Paused => ("disable", "DISABLE"),
        CampaignStatus::Ended => ("delete", "DELETE"),
    }
}

/// The materials of a promotion from `media` entries.
fn materials(request: &PlaceAdRequest) -> Result<Out> {
    let mut images = Vec::new();
    let mut videos = Vec::new();
    for (i, m) in request.media.iter().enumerate() {
        let field = format!("media[{i}]");
        let parts: Vec<&str> = m.split(':').collect();
        match parts.as_slice() {
            ["image", id] if !id.is_empty() => images.push(Out::obj([
                ("image_mode", Out::str("CREATIVE_IMAGE_MODE_LARGE")),
                ("images", Out::Arr(vec![Out::obj([("image_id", Out::str(*id))])])),
            ])),
            ["video", id, cover] if !id.is_empty() && !cover.is_empty() => videos.push(Out::obj([
                ("image_mode", Out::str("CREATIVE_IMAGE_MODE_VIDEO_VERTICAL")),
                ("video_id", Out::str(*id)),
                ("video_cover_id", Out::str(*cover)),
            ])),
            _ => {
                return Err(Error::validation(
                    field,
                    "must be an uploaded material: image:<image_id> or video:<video_id>:<cover_image_id> \
                     (upload the file to the account first)",
                ))
            }
        }
    }
    if images.is_empty() && videos.is_empty() {
        return Err(Error::validation(
            "media",
            "a promotion needs at least one image or video",
        ));
    }
    if request.title.trim().is_empty() {
        return Err(Error::validation("title", "must not be blank"));
    }
    if !(request.landing_url.starts_with("https://") || request.landing_url.starts_with("http://"))
    {
        return Err(Error::validation("landing_url", "must be an http(s) URL"));
    }
    let mut m = Out::obj([
        (
            "title_material_list",
            Out::Arr(vec![Out::obj([("title", Out::str(&request.title))])]),
        ),
        (
            "external_url_material_list",
            Out::strs([request.landing_url.as_str()]),
        ),
    ]);
    if !images.is_empty() {
        m = m.with("image_material_list", Out::Arr(images));
    }
    if !videos.is_empty() {
        m = m.with("video_material_list", Out::Arr(videos));
    }
    Ok(m)
}

/// The refusals of a batch status answer that concern `id` (`errors` list).
fn failures(data: &Value, id_field: &str, id: &str) -> Result<Vec<ObjectFailure>> {
    let mut out = Vec::new();
    for (i, e) in wire::rows(data, "errors", "data")?.iter().enumerate() {
        let path = format!("data.errors[{i}]");
        let who = wire::opt_text(e, id_field, &path)?;
        if who.is_empty() || who == id {
            let code = wire::opt_text(e, "error_code", &path)?;
            out.push(ObjectFailure {
                id: if who.is_empty() { id.to_string() } else { who },
                code: code.parse().ok(),
                message: wire::opt_text(e, "error_message", &path)?,
            });
        }
    }
    Ok(out)
}

impl OceanEnginePlatform {
    /// `create_campaign`.
    pub(crate) async fn new_campaign(&self, request: &CampaignRequest) -> Result<PlatformCampaign> {
        check_id(&request.account_id, "account_id")?;
        if request.name.trim().is_empty() {
            return Err(Error::validation("name", "must not be blank"));
        }
        let purpose = objective(&request.objective)?;
        let (price_model, external_action, _bid) = pricing(&request.pricing)?;
        let (budget_mode, budget) = budget(request)?;
        let advertiser = request.account_id.as_str();
        let id = match self.client.config.model {
            ApiModel::CampaignAd => {
                let mut body = Out::obj([
                    ("advertiser_id", Out::id(advertiser)),
                    ("campaign_name", Out::str(&request.name)),
                    ("operation", Out::str("enable")),
                    ("budget_mode", Out::str(budget_mode)),
                    ("landing_type", Out::str(&self.client.config.landing_type)),
                    ("marketing_purpose", Out::str(purpose)),
                    ("unique_fk", Out::str(request_key(&request.request_id))),
                ]);
                if let Some(b) = budget {
                    body = body.with("budget", Out::decimal(b.amount()));
                }
                let call = Call::post("2/campaign/create/", body).for_advertiser(advertiser);
                let data = self.client.call(&call).await?;
                wire::id(
                    wire::field(&data, "campaign_id", "data")?,
                    "data.campaign_id",
                )?
            }
            ApiModel::ProjectPromotion => {
                let (schedule, end) = match request.end {
                    Some(end) => ("SCHEDULE_START_END", Some(end)),
                    None => ("SCHEDULE_FROM_NOW", None),
                };
                let mut delivery = Out::obj([
                    ("schedule_type", Out::str(schedule)),
                    ("start_time", Out::str(request.start.to_string())),
                    ("bid_type", Out::str("CUSTOM")),
                    ("budget_mode", Out::str(budget_mode)),
                    ("pricing", Out::str(price_model)),
                ]);
                if let Some(end) = end {
                    delivery = delivery.with("end_time", Out::str(end.to_string()));
                }
                if let Some(b) = budget {
                    delivery = delivery.with("budget", Out::decimal(b.amount()));
                }
                let body = Out::obj([
                    ("advertiser_id", Out::id(advertiser)),
                    ("operation", Out::str("ENABLE")),
                    ("delivery_mode", Out::str("MANUAL")),
                    ("landing_type", Out::str(&self.client.config.landing_type)),
                    ("marketing_goal", Out::str("VIDEO_AND_IMAGE")),
                    ("ad_type", Out::str("ALL")),
                    ("name", Out::str(&request.name)),
                    (
                        "delivery_range",
                        Out::obj([("inventory_catalog", Out::str("UNIVERSAL_SMART"))]),
                    ),
                    (
                        "optimize_goal",
                        Out::obj([("external_action", Out::str(external_action))]),
                    ),
                    ("delivery_setting", delivery),
                ])
                .with_defaults(&self.client.config.project_defaults);
                self.create_once(
                    Kind::Project,
                    &request.request_id,
                    advertiser,
                    &request.name,
                    None,
                    body,
                )
                .await?
            }
        };
        let memo = CampaignMemo {
            advertiser_id: advertiser.to_string(),
            campaign_id: id.clone(),
            pricing: request.pricing,
        };
        Collection::<CampaignMemo>::new(self.store.clone())
            .upsert(&self.tenant, &memo)
            .await?;
        Ok(PlatformCampaign {
            campaign_id: id,
            account_id: advertiser.to_string(),
            status: CampaignStatus::Active,
        })
    }

    /// `set_campaign_status`.
    pub(crate) async fn campaign_status(
        &self,
        account_id: &str,
        campaign_id: &str,
        status: CampaignStatus,
    ) -> Result<PlatformCampaign> {
        check_id(account_id, "account_id")?;
        check_id(campaign_id, "campaign_id")?;
        let (v2, v3) = status_word(status);
        let (endpoint, data, id_field) = match self.client.config.model {
            ApiModel::CampaignAd => {
                let body = Out::obj([
                    ("advertiser_id", Out::id(account_id)),
                    ("campaign_ids", Out::Arr(vec![Out::id(campaign_id)])),
                    ("opt_status", Out::str(v2)),
                ]);
                let call = Call::post("2/campaign/update/status/", body).for_advertiser(account_id);
                (
                    "2/campaign/update/status/",
                    self.client.call(&call).await?,
                    "campaign_id",
                )
            }
            ApiModel::ProjectPromotion if status == CampaignStatus::Ended => {
                let body = Out::obj([
                    ("advertiser_id", Out::id(account_id)),
                    ("project_ids", Out::Arr(vec![Out::id(campaign_id)])),
                ]);
                let call = Call::post("v3.0/project/delete/", body).for_advertiser(account_id);
                (
                    "v3.0/project/delete/",
                    self.client.call(&call).await?,
                    "project_id",
                )
            }
            ApiModel::ProjectPromotion => {
                let body = Out::obj([
                    ("advertiser_id", Out::id(account_id)),
                    (
                        "data",
                        Out::Arr(vec![Out::obj([
                            ("project_id", Out::id(campaign_id)),
                            ("opt_status", Out::str(v3)),
                        ])]),
                    ),
                ]);
                let call =
                    Call::post("v3.0/project/status/update/", body).for_advertiser(account_id);
                (
                    "v3.0/project/status/update/",
                    self.client.call(&call).await?,
                    "project_id",
                )
            }
        };
        let refused = failures(&data, id_field, campaign_id)?;
        if !refused.is_empty() {
            return Err(OceanEngineError::PartialFailure {
                endpoint: endpoint.into(),
                failures: refused,
            }
            .into_core());
        }
        Ok(PlatformCampaign {
            campaign_id: campaign_id.to_string(),
            account_id: account_id.to_string(),
            status,
        })
    }

    /// Enable, pause or delete an ad (a promotion in `project_promotion`, a plan in
    /// `campaign_ad`).
    ///
    /// # Errors
    /// [`OceanEngineError::PartialFailure`] when the platform refused this ad in its batch
    /// answer, validation errors on the ids, platform errors.
    pub async fn set_ad_status(
        &self,
        account_id: &str,
        ad_id: &str,
        status: CampaignStatus,
    ) -> Result<()> {
        check_id(account_id, "account_id")?;
        check_id(ad_id, "ad_id")?;
        let (v2, v3) = status_word(status);
        let (endpoint, data, id_field) = match self.client.config.model {
            ApiModel::CampaignAd => {
                let body = Out::obj([
                    ("advertiser_id", Out::id(account_id)),
                    ("ad_ids", Out::Arr(vec![Out::id(ad_id)])),
                    ("opt_status", Out::str(v2)),
                ]);
                let call = Call::post("2/ad/update/status/", body).for_advertiser(account_id);
                (
                    "2/ad/update/status/",
                    self.client.call(&call).await?,
                    "ad_id",
                )
            }
            ApiModel::ProjectPromotion if status == CampaignStatus::Ended => {
                let body = Out::obj([
                    ("advertiser_id", Out::id(account_id)),
                    ("promotion_ids", Out::Arr(vec![Out::id(ad_id)])),
                ]);
                let call = Call::post("v3.0/promotion/delete/", body).for_advertiser(account_id);
                (
                    "v3.0/promotion/delete/",
                    self.client.call(&call).await?,
                    "promotion_id",
                )
            }
            ApiModel::ProjectPromotion => {
                let body = Out::obj([
                    ("advertiser_id", Out::id(account_id)),
                    (
                        "data",
                        Out::Arr(vec![Out::obj([
                            ("promotion_id", Out::id(ad_id)),
                            ("opt_status", Out::str(v3)),
                        ])]),
                    ),
                ]);
                let call =
                    Call::post("v3.0/promotion/status/update/", body).for_advertiser(account_id);
                (
                    "v3.0/promotion/status/update/",
                    self.client.call(&call).await?,
                    "promotion_id",
                )
            }
        };
        let refused = failures(&data, id_field, ad_id)?;
        if refused.is_empty() {
            Ok(())
        } else {
            Err(OceanEngineError::PartialFailure {
                endpoint: endpoint.into(),
                failures: refused,
            }
            .into_core())
        }
    }

    /// `place_ad`.
    pub(crate) async fn new_ad(&self, request: &PlaceAdRequest) -> Result<PlacedAd> {
        check_id(&request.account_id, "account_id")?;
        check_id(&request.campaign_id, "campaign_id")?;
        if self.client.config.model == ApiModel::CampaignAd {
            return Err(OceanEngineError::Unsupported {
                operation: "place_ad in the campaign_ad model".into(),
                why: "the API 2 plan-and-creative chain is being retired by the platform; \
                      configure model = project_promotion"
                    .into(),
            }
            .into_core());
        }
        let materials = materials(request)?;
        let memo = Collection::<CampaignMemo>::new(self.store.clone())
            .get(
                &self.tenant,
                &format!("{}:{}", request.account_id, request.campaign_id),
            )
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    "campaign created through this connector (its bid is needed)",
                    &request.campaign_id,
                )
            })?
            .value;
        let (_, _, bid) = pricing(&memo.pricing)?;
        // Promotion names are unique per account: the caller's creative id is.
        let name: String = request.creative_id.chars().take(50).collect();
        if name.trim().is_empty() {
            return Err(Error::validation("creative_id", "must not be blank"));
        }
        let mut body = Out::obj([
            ("advertiser_id", Out::id(&request.account_id)),
            ("project_id", Out::id(&request.campaign_id)),
            ("name", Out::str(&name)),
            ("operation", Out::str("ENABLE")),
            ("promotion_materials", materials),
            ("cpa_bid", Out::decimal(bid.amount())),
        ]);
        if let Some(source) = &self.client.config.promotion_source {
            body = body.with("source", Out::str(source));
        }
        let body = body.with_defaults(&self.client.config.promotion_defaults);
        let id = self
            .create_once(
                Kind::Promotion,
                &request.request_id,
                &request.account_id,
                &name,
                Some(&request.campaign_id),
                body,
            )
            .await?;
        Ok(PlacedAd {
            ad_id: id,
            campaign_id: request.campaign_id.clone(),
        })
    }

    /// Create a v3.0 object at most once per request id (see the module docs).
    async fn create_once(
        &self,
        kind: Kind,
        request_id: &str,
        advertiser: &str,
        name: &str,
        project: Option<&str>,
        body: Out,
    ) -> Result<String> {
        let records = Collection::<Creation>::new(self.store.clone());
        let key = format!("{}:{}", kind.as_str(), request_key(request_id));
        let lease =
            Duration::seconds(i64::try_from(self.client.config.refresh_lease_secs).unwrap_or(60));
        let now = self.clock.now();
        let pending = Creation {
            key: key.clone(),
            name: name.to_string(),
            state: CreationState::Pending {
                holder: self.holder.clone(),
                until: now + lease,
            },
        };
        let current = records.get(&self.tenant, &key).await?;
        let version = match &current {
            Some(v) => match &v.value.state {
                CreationState::Done { id } => return Ok(id.clone()),
                CreationState::Pending { holder, until } if *holder != self.holder && *until > now => {
                    return Err(Error::Timeout {
                        operation: format!(
                            "another process is creating this Ocean Engine {} right now; retry later",
                            kind.as_str()
                        ),
                    })
                }
                CreationState::Pending { .. } => {
                    // The first attempt's outcome is unknown: adopt what it may have created.
                    let found = self.find_named(kind, advertiser, name, project).await?;
                    match found.as_slice() {
                        [id] => {
                            self.finish(&records, &key, name, id).await?;
                            return Ok(id.clone());
                        }
                        [] => records.update(&self.tenant, &pending, v.version).await?,
                        many => {
                            return Err(Error::invalid_state(
                                format!("Ocean Engine {}", kind.as_str()),
                                "pending",
                                "created",
                                format!("{} objects are named {name:?}; resolve by hand", many.len()),
                            ))
                        }
                    }
                }
            },
            None => records.insert(&self.tenant, &pending).await?,
        };
        let (path, id_field) = match kind {
            Kind::Project => ("v3.0/project/create/", "project_id"),
            Kind::Promotion => ("v3.0/promotion/create/", "promotion_id"),
        };
        let call = Call::post(path, body)
            .for_advertiser(advertiser)
            .no_resend();
        match self.client.call(&call).await {
            Ok(data) => {
                let id = wire::id(
                    wire::field(&data, id_field, "data")?,
                    &format!("data.{id_field}"),
                )?;
                self.finish(&records, &key, name, &id).await?;
                Ok(id)
            }
            Err(e) if matches!(e, Error::Timeout { .. }) => Err(e),
            Err(e) => {
                // A definite refusal: nothing was created; let a retry start afresh.
                let _ = records
                    .delete(&self.tenant, &key, Expect::Version(version))
                    .await;
                Err(e)
            }
        }
    }

    async fn finish(
        &self,
        records: &Collection<Creation>,
        key: &str,
        name: &str,
        id: &str,
    ) -> Result<()> {
        let done = Creation {
            key: key.to_string(),
            name: name.to_string(),
            state: CreationState::Done { id: id.to_string() },
        };
        records.upsert(&self.tenant, &done).await.map(|_| ())
    }

    /// The ids of objects named `name` in the account (all pages of the list endpoint).
    async fn find_named(
        &self,
        kind: Kind,
        advertiser: &str,
        name: &str,
        project: Option<&str>,
    ) -> Result<Vec<String>> {
        let (path, id_field, name_field) = match kind {
            Kind::Project => ("v3.0/project/list/", "project_id", "name"),
            Kind::Promotion => ("v3.0/promotion/list/", "promotion_id", "promotion_name"),
        };
        let mut found = Vec::new();
        let mut page = 1u64;
        loop {
            let call = Call::get(path)
                .for_advertiser(advertiser)
                .param("advertiser_id", advertiser)
                .param("page", page.to_string())
                .param("page_size", "100");
            let data = self.client.call(&call).await?;
            for (i, row) in wire::rows(&data, "list", "data")?.iter().enumerate() {
                let p = format!("data.list[{i}]");
                let in_project = match project {
                    Some(pid) => wire::opt_text(row, "project_id", &p)? == pid,
                    None => true,
                };
                if in_project && wire::opt_text(row, name_field, &p)? == name {
                    found.push(wire::id(
                        wire::field(row, id_field, &p)?,
                        &wire::at(&p, id_field),
                    )?);
                }
            }
            let info = wire::page_info(&data, "data")?;
            if info.total_page <= page || page >= u64::from(self.client.config.max_report_pages) {
                return Ok(found);
            }
            page += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_pricing_and_budgets_map_or_name_the_field() {
        assert_eq!(objective("traffic").unwrap(), "INTENTION");
        assert_eq!(
            objective("reach")
                .unwrap_err()
                .to_string()
                .split(':')
                .next(),
            Some("invalid objective")
        );
        let cpc = Pricing::Cpc {
            max_bid: Money::cny("1.20").unwrap(),
        };
        assert_eq!(pricing(&cpc).unwrap().0, "PRICING_CPC");
        let cpt = Pricing::Cpt {
            price: Money::cny("8000").unwrap(),
            period: marketingforce_core::adapters::ad_platform::CptPeriod::Day,
        };
        assert!(OceanEngineError::find(&pricing(&cpt).unwrap_err()).is_some());
    }

    #[test]
    fn media_must_be_uploaded_materials() {
        let mut r = PlaceAdRequest {
            request_id: "r".into(),
            account_id: "1".into(),
            campaign_id: "2".into(),
            creative_id: "cr".into(),
            title: "春季上新".into(),
            body: String::new(),
            media: vec!["image:img-1".into(), "video:v-1:img-2".into()],
            landing_url: "https://shop.example.com/spring".into(),
            approval_ref: "rev-1".into(),
        };
        let json = materials(&r).unwrap().to_json();
        assert!(
            json.contains(r#""images":[{"image_id":"img-1"}]"#),
            "{json}"
        );
        assert!(json.contains(r#""video_cover_id":"img-2""#), "{json}");
        r.media = vec!["https://cdn.example.com/a.jpg".into()];
        assert_eq!(
            materials(&r).unwrap_err().to_string().split(':').next(),
            Some("invalid media[0]")
        );
    }

    #[test]
    fn batch_errors_for_the_object_are_failures() {
        let data: Value = serde_json::from_str(
            r#"{"project_ids":[],"errors":[{"project_id":"7","error_code":"40001","error_message":"预算过低"}]}"#,
        )
        .unwrap();
        let f = failures(&data, "project_id", "7").unwrap();
        assert_eq!(f[0].code, Some(40001));
        assert!(failures(&data, "project_id", "8").unwrap().is_empty());
    }
}
