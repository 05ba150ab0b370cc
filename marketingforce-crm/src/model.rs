//! The lead record and its parts: sources, consent, stages, actors, and the personal data kept
//! only inside the encrypted vault.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use marketingforce_core::storage::{Entity, IndexEntry};
use marketingforce_core::tenant::TenantId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crypto::Sealed;
use crate::identity::{CompanyCode, Email, IdDocument, MobileNumber, Phone, WeChatId, WeComId};
use crate::ids::{LeadId, TeamId, UserId};
use crate::profile::{Profile, ScoreState};

/// Where a lead came from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Source {
    /// The tenant's own marketing site (PC, mobile, mini program, H5).
    OwnSite,
    /// An inquiry handed over from T Cloud (content published by the marketing product).
    TCloudInquiry,
    /// A WeCom (企业微信) contact.
    WeCom,
    /// An industry media website.
    IndustryMedia,
    /// Handed down from headquarters.
    Headquarters,
    /// Reported by a dealer.
    Dealer,
    /// An offline QR code (expo, store, poster).
    OfflineQr,
    /// A file import.
    Import,
    /// Brought by a participant of a social-fission campaign.
    Referral,
}

impl Source {
    /// Every source, in declaration order.
    pub const ALL: [Source; 9] = [
        Source::OwnSite,
        Source::TCloudInquiry,
        Source::WeCom,
        Source::IndustryMedia,
        Source::Headquarters,
        Source::Dealer,
        Source::OfflineQr,
        Source::Import,
        Source::Referral,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::OwnSite => "own_site",
            Source::TCloudInquiry => "t_cloud_inquiry",
            Source::WeCom => "we_com",
            Source::IndustryMedia => "industry_media",
            Source::Headquarters => "headquarters",
            Source::Dealer => "dealer",
            Source::OfflineQr => "offline_qr",
            Source::Import => "import",
            Source::Referral => "referral",
        }
    }

    /// Parse the snake_case name.
    ///
    /// # Errors
    /// A validation error on `source`.
    pub fn parse(s: &str) -> crate::Result<Source> {
        Source::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim())
            // The value is not quoted: a CSV row with shifted columns puts a mobile or a name
            // here.
            .ok_or_else(|| {
                crate::CrmError::validation(
                    "source",
                    format!(
                        "is not a known source (known: {})",
                        Source::ALL.map(Source::as_str).join(", ")
                    ),
                )
            })
    }

    /// The traffic domain a capture from this source belongs to unless told otherwise: WeCom
    /// contacts and referrals are private domain (私域), everything else public (公域).
    pub fn default_domain(self) -> Domain {
        match self {
            Source::WeCom | Source::Referral => Domain::Private,
            _ => Domain::Public,
        }
    }

    /// Whether a capture from this source must identify the person (a mobile, phone, email,
    /// WeCom id, ID document number or WeChat id, or a name with a company, date of birth,
    /// postcode or address — see [`Identity::is_identifying`]). Leads handed over by
    /// someone else — T Cloud inquiries, headquarters, dealers and file imports — must: they
    /// are attributed and deduplicated against the tenant's leads. A capture from the
    /// tenant's own touchpoints (site, WeCom, industry media, offline QR codes, referrals)
    /// with some identity value but too little to match is kept and marked
    /// [unmatched](Lead::unmatched) instead of being refused. A capture without any identity
    /// value is refused from every source, and so is every row of a file import
    /// ([`Crm::import_csv`](crate::Crm::import_csv)) with too little, whatever its `source`
    /// column says.
    pub fn requires_identity(self) -> bool {
        matches!(
            self,
            Source::TCloudInquiry | Source::Headquarters | Source::Dealer | Source::Import
        )
    }

    /// Index of the source in [`Source::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Public domain (公域: traffic from platforms the tenant does not own) or private domain
/// (私域: the tenant's own contacts, communities and members).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// 公域.
    Public,
    /// 私域.
    Private,
}

/// A consent the person gave: for what, when, through which channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Consent {
    /// The purpose, e.g. `marketing_calls`, `sms`, `data_processing`.
    pub purpose: String,
    /// When it was given.
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub at: DateTime<Utc>,
    /// The channel it was given through, e.g. `web_form`, `wecom`, `paper`.
    pub channel: String,
    /// Whether it was later withdrawn, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc_opt",
        deserialize_with = "marketingforce_core::time::deserialize_utc_opt"
    )]
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// Who did something: a staff member or the system (with the component's name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A staff member.
    User(UserId),
    /// An automated component (`capture`, `scoring`, `sla`, `recycle`, …).
    System(String),
}

impl Actor {
    /// The system actor `name`.
    pub fn system(name: &str) -> Actor {
        Actor::System(name.to_string())
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(u) => write!(f, "{u}"),
            Actor::System(s) => write!(f, "system:{s}"),
        }
    }
}

/// The lifecycle stage of a lead (see [`crate::lifecycle`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Captured, not yet assigned.
    New,
    /// Assigned to a salesperson or dealer.
    Assigned,
    /// Being followed up.
    Contacting,
    /// A qualified prospect (hot).
    Qualified,
    /// Bought: a customer.
    Converted,
    /// Joined a membership program.
    Member,
    /// Promotes the brand (refers others).
    Promoter,
    /// Not a real prospect (spam, wrong number).
    Invalid,
    /// Lost to a competitor or no longer interested.
    Lost,
    /// Recycled to the public pool (公海), claimable by anyone allowed.
    Pool,
}

impl Stage {
    /// Every stage, in declaration order.
    pub const ALL: [Stage; 10] = [
        Stage::New,
        Stage::Assigned,
        Stage::Contacting,
        Stage::Qualified,
        Stage::Converted,
        Stage::Member,
        Stage::Promoter,
        Stage::Invalid,
        Stage::Lost,
        Stage::Pool,
    ];

    /// The main funnel path, in order.
    pub const FUNNEL: [Stage; 7] = [
        Stage::New,
        Stage::Assigned,
        Stage::Contacting,
        Stage::Qualified,
        Stage::Converted,
        Stage::Member,
        Stage::Promoter,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Assigned => "assigned",
            Stage::Contacting => "contacting",
            Stage::Qualified => "qualified",
            Stage::Converted => "converted",
            Stage::Member => "member",
            Stage::Promoter => "promoter",
            Stage::Invalid => "invalid",
            Stage::Lost => "lost",
            Stage::Pool => "pool",
        }
    }

    /// The bit of this stage in a [`StageSet`].
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// Whether the lead is a customer (converted or beyond).
    pub fn is_customer(self) -> bool {
        matches!(self, Stage::Converted | Stage::Member | Stage::Promoter)
    }

    /// Whether the lead is still open for sales work (assignable, subject to SLAs).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Stage::New | Stage::Assigned | Stage::Contacting | Stage::Qualified
        )
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of stages a lead has ever entered, as bits ([`Stage::bit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct StageSet(pub u16);

impl StageSet {
    /// Whether `stage` is in the set.
    pub fn contains(self, stage: Stage) -> bool {
        self.0 & stage.bit() != 0
    }

    /// Add `stage`.
    pub fn insert(&mut self, stage: Stage) {
        self.0 |= stage.bit();
    }
}

/// One capture of a lead, without personal data: where, when, for what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Touch {
    /// The source.
    pub source: Source,
    /// The marketing campaign, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The platform (e.g. `douyin`, `baidu`, `wechat`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Public or private domain.
    pub domain: Domain,
    /// The region given at this capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Products asked about at this capture.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_interest: Vec<String>,
    /// When it was captured.
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub at: DateTime<Utc>,
    /// The lead this capture originally created or joined (for un-merge).
    pub origin: LeadId,
}

/// Which identity fields a lead has (never the values: those are in the vault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct IdentityPresence {
    /// A person name.
    pub name: bool,
    /// A mainland mobile.
    pub mobile: bool,
    /// Another phone.
    pub phone: bool,
    /// An email.
    pub email: bool,
    /// A WeCom id.
    pub wecom_id: bool,
    /// A company.
    pub company: bool,
    /// A date of birth.
    #[serde(default)]
    pub date_of_birth: bool,
    /// An ID document number.
    #[serde(default)]
    pub id_document: bool,
    /// A postcode.
    #[serde(default)]
    pub postcode: bool,
    /// An address.
    #[serde(default)]
    pub address: bool,
    /// A WeChat unionid or openid.
    #[serde(default)]
    pub wechat: bool,
    /// A company registration code.
    #[serde(default)]
    pub company_code: bool,
}

/// Whether a lead is live, absorbed into another, or erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum LeadStatus {
    /// A live lead.
    Active,
    /// Merged into `into` (kept for lineage and un-merge).
    Merged {
        /// The survivor.
        into: LeadId,
    },
    /// Personal data erased on request; counted in aggregates only.
    Erased {
        /// When.
        #[serde(
            serialize_with = "marketingforce_core::time::serialize_utc",
            deserialize_with = "marketingforce_core::time::deserialize_utc"
        )]
        at: DateTime<Utc>,
    },
}

/// Serde: leave zero counters out of stored records.
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A lead: one prospect or customer after dedupe. Holds no personal data: names, phones,
/// emails, WeCom ids and companies live sealed in its [`VaultRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Lead {
    /// The id.
    pub id: LeadId,
    /// The tenant.
    pub tenant: TenantId,
    /// Live, merged or erased.
    pub status: LeadStatus,
    /// Lifecycle stage.
    pub stage: Stage,
    /// Every stage ever entered (for the funnel).
    pub reached: StageSet,
    /// Which identity fields are present.
    pub identity: IdentityPresence,
    /// The assigned salesperson or dealer account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<UserId>,
    /// The owner's team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    /// Every capture, oldest first (the first one is the lead's source).
    pub touches: Vec<Touch>,
    /// Region after survivorship.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Products of interest (union over captures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_interest: Vec<String>,
    /// Consents given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consents: Vec<Consent>,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    /// Current score.
    #[serde(default)]
    pub score: i64,
    /// Scoring state (per-rule decayed totals).
    #[serde(default)]
    pub scoring: ScoreState,
    /// Behaviour profile.
    #[serde(default, skip_serializing_if = "Profile::is_empty")]
    pub profile: Profile,
    /// When it was created.
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub updated_at: DateTime<Utc>,
    /// When the stage last changed.
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub stage_changed_at: DateTime<Utc>,
    /// When it was last assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc_opt",
        deserialize_with = "marketingforce_core::time::deserialize_utc_opt"
    )]
    pub assigned_at: Option<DateTime<Utc>>,
    /// First follow-up after the current assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc_opt",
        deserialize_with = "marketingforce_core::time::deserialize_utc_opt"
    )]
    pub first_follow_up_at: Option<DateTime<Utc>>,
    /// First follow-up ever (response time of the funnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc_opt",
        deserialize_with = "marketingforce_core::time::deserialize_utc_opt"
    )]
    pub first_response_at: Option<DateTime<Utc>>,
    /// When the SLA escalated the current assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc_opt",
        deserialize_with = "marketingforce_core::time::deserialize_utc_opt"
    )]
    pub escalated_at: Option<DateTime<Utc>>,
    /// When it converted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc_opt",
        deserialize_with = "marketingforce_core::time::deserialize_utc_opt"
    )]
    pub converted_at: Option<DateTime<Utc>>,
    /// Leads absorbed into this one (direct merge lineage).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<LeadId>,
    /// Leads an operator declared to be different people (never auto-merged again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub separated_from: Vec<LeadId>,
    /// Captures that arrived after the lead became a customer (renewal / repeat inquiries).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeat_inquiries: u32,
    /// Who referred this lead (social fission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referred_by: Option<LeadId>,
    /// Captured with too little identity to be matched (see [`Source::requires_identity`]):
    /// dedupe never joins it to, or proposes it as a duplicate of, another lead. An operator
    /// can still [merge](crate::Crm::merge) it by hand.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unmatched: bool,
    /// Why captures and leads were matched into this one by the probabilistic matcher or an
    /// accepted review (per-field contributions, never values): part of the merge lineage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_evidence: Vec<MatchEvidence>,
}

/// Why something was matched into a lead: the rule and, for a probabilistic match, the
/// explanation of its match weight (fields, levels, `m`, `u`, weights — never values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MatchEvidence {
    /// The lead absorbed, or `None` for a capture that joined the lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absorbed: Option<LeadId>,
    /// `fuzzy` (auto-merged above the tenant's high threshold) or `review` (accepted from the
    /// possible-duplicates queue).
    pub rule: String,
    /// When.
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub at: DateTime<Utc>,
    /// The match weight's explanation.
    pub explanation: crate::matching::weights::Explanation,
}

impl Lead {
    /// The source of the first capture.
    pub fn source(&self) -> Option<&Touch> {
        self.touches.first()
    }

    /// Whether the lead is live.
    pub fn is_active(&self) -> bool {
        matches!(self.status, LeadStatus::Active)
    }
}

impl Entity for Lead {
    const COLLECTION: &'static str = "crm.leads";

    fn key(&self) -> String {
        self.id.to_string()
    }

    fn indexes(&self) -> Vec<IndexEntry> {
        let status = match self.status {
            LeadStatus::Active => "active",
            LeadStatus::Merged { .. } => "merged",
            LeadStatus::Erased { .. } => "erased",
        };
        let mut ix = vec![
            IndexEntry::new("status", status),
            IndexEntry::new("stage", self.stage.as_str()),
        ];
        if let Some(o) = &self.owner {
            ix.push(IndexEntry::new("owner", o.to_string()));
        }
        if let Some(t) = &self.team {
            ix.push(IndexEntry::new("team", t.to_string()));
        }
        ix
    }

    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// Normalised identity values of a person (personal data; only ever stored sealed). `Debug`
/// shows which values are present, never the values (the region aside).
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Identity {
    /// Person name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Mainland mobile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<MobileNumber>,
    /// Other phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    /// Email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// WeCom external user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wecom_id: Option<WeComId>,
    /// Company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Given name, when given apart from the family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name, when given apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Date of birth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<chrono::NaiveDate>,
    /// ID document number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_document: Option<IdDocument>,
    /// Postcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// Postal address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Region given with this capture (kept here too so matching can use it after a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// WeChat unionid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_unionid: Option<WeChatId>,
    /// WeChat openid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_openid: Option<WeChatId>,
    /// Company registration code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_code: Option<CompanyCode>,
}

/// `Some("***")` for a present personal value: what a `Debug` shows of it.
pub(crate) fn hidden<T>(v: &Option<T>) -> Option<&'static str> {
    v.as_ref().map(|_| "***")
}

/// The personal fields of an identity (in [`Identity`] and in requests), each shown by
/// [`hidden`] on `$debug` (a `DebugStruct`) from `$of`.
macro_rules! hidden_identity_fields {
    ($debug:expr, $of:expr) => {
        $debug
            .field("name", &$crate::model::hidden(&$of.name))
            .field("mobile", &$crate::model::hidden(&$of.mobile))
            .field("phone", &$crate::model::hidden(&$of.phone))
            .field("email", &$crate::model::hidden(&$of.email))
            .field("wecom_id", &$crate::model::hidden(&$of.wecom_id))
            .field("company", &$crate::model::hidden(&$of.company))
            .field("given_name", &$crate::model::hidden(&$of.given_name))
            .field("family_name", &$crate::model::hidden(&$of.family_name))
            .field("date_of_birth", &$crate::model::hidden(&$of.date_of_birth))
            .field("id_document", &$crate::model::hidden(&$of.id_document))
            .field("postcode", &$crate::model::hidden(&$of.postcode))
            .field("address", &$crate::model::hidden(&$of.address))
            .field(
                "wechat_unionid",
                &$crate::model::hidden(&$of.wechat_unionid),
            )
            .field("wechat_openid", &$crate::model::hidden(&$of.wechat_openid))
            .field("company_code", &$crate::model::hidden(&$of.company_code))
    };
}
pub(crate) use hidden_identity_fields;

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hidden_identity_fields!(f.debug_struct("Identity"), self)
            .field("region", &self.region)
            .finish()
    }
}

impl Identity {
    /// Which fields are present.
    pub fn presence(&self) -> IdentityPresence {
        IdentityPresence {
            name: self.has_name(),
            mobile: self.mobile.is_some(),
            phone: self.phone.is_some(),
            email: self.email.is_some(),
            wecom_id: self.wecom_id.is_some(),
            company: self.company.is_some(),
            date_of_birth: self.date_of_birth.is_some(),
            id_document: self.id_document.is_some(),
            postcode: self.postcode.is_some(),
            address: self.address.is_some(),
            wechat: self.wechat_unionid.is_some() || self.wechat_openid.is_some(),
            company_code: self.company_code.is_some(),
        }
    }

    /// Whether a person name is known (whole, or a given or family name).
    pub fn has_name(&self) -> bool {
        self.name.is_some() || self.given_name.is_some() || self.family_name.is_some()
    }

    /// Whether it identifies anyone well enough to match: a mobile, phone, email, WeCom id,
    /// ID document number or WeChat id, or a name together with a company, date of birth,
    /// postcode or address.
    pub fn is_identifying(&self) -> bool {
        self.mobile.is_some()
            || self.phone.is_some()
            || self.email.is_some()
            || self.wecom_id.is_some()
            || self.id_document.is_some()
            || self.wechat_unionid.is_some()
            || self.wechat_openid.is_some()
            || (self.has_name()
                && (self.company.is_some()
                    || self.date_of_birth.is_some()
                    || self.postcode.is_some()
                    || self.address.is_some()))
    }

    /// Whether it holds any identity value at all (region aside).
    pub fn is_empty(&self) -> bool {
        !self.is_identifying()
            && !self.has_name()
            && self.company.is_none()
            && self.date_of_birth.is_none()
            && self.postcode.is_none()
            && self.address.is_none()
            && self.company_code.is_none()
    }
}

impl IdentityPresence {
    /// Field-wise or.
    pub fn union(self, o: IdentityPresence) -> IdentityPresence {
        IdentityPresence {
            name: self.name || o.name,
            mobile: self.mobile || o.mobile,
            phone: self.phone || o.phone,
            email: self.email || o.email,
            wecom_id: self.wecom_id || o.wecom_id,
            company: self.company || o.company,
            date_of_birth: self.date_of_birth || o.date_of_birth,
            id_document: self.id_document || o.id_document,
            postcode: self.postcode || o.postcode,
            address: self.address || o.address,
            wechat: self.wechat || o.wechat,
            company_code: self.company_code || o.company_code,
        }
    }
}

/// One capture's identity values, with where and when it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Contribution {
    /// The lead this capture created or joined first.
    pub origin: LeadId,
    /// Its source.
    pub source: Source,
    /// When it was captured.
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub at: DateTime<Utc>,
    /// The values.
    #[serde(flatten)]
    pub identity: Identity,
}

impl Contribution {
    /// Whether two contributions carry the same identity values and source (time aside): a
    /// re-import of the same row.
    pub fn same_values(&self, other: &Contribution) -> bool {
        self.source == other.source && self.identity == other.identity
    }
}

/// The plaintext sealed in a [`VaultRecord`]: every capture's identity values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactPii {
    /// Contributions, in capture order.
    pub contributions: Vec<Contribution>,
}

/// The only place personal data is stored: sealed, one record per live lead, with the blind
/// indexes of its phones, emails and WeCom ids as secondary-index entries. Deleting it removes
/// the ciphertext and the blind indexes together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultRecord {
    /// The lead.
    pub lead: LeadId,
    /// The sealed [`ContactPii`] (bound to the lead id).
    pub sealed: Sealed,
    /// Stored blind-index values (`<key id>:<kind><mac>`).
    pub blind: Vec<String>,
}

impl Entity for VaultRecord {
    const COLLECTION: &'static str = "crm.vault";

    fn key(&self) -> String {
        self.lead.to_string()
    }

    fn indexes(&self) -> Vec<IndexEntry> {
        self.blind
            .iter()
            .map(|b| IndexEntry::new("bidx", b.clone()))
            .collect()
    }
}

/// Where a possible duplicate stands in the review queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ReviewStatus {
    /// Waiting for a human.
    Pending,
    /// Judged the same person: merged into `survivor`.
    Accepted {
        /// The lead the two ended up in.
        survivor: LeadId,
    },
    /// Judged two people: never proposed nor auto-merged again.
    Rejected,
    /// Closed without a decision: one of the leads was erased on request (PIPL).
    Withdrawn,
}

impl ReviewStatus {
    /// `pending`, `accepted`, `rejected` or `withdrawn`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Accepted { .. } => "accepted",
            ReviewStatus::Rejected => "rejected",
            ReviewStatus::Withdrawn => "withdrawn",
        }
    }
}

/// A pair of leads whose match weight fell between the tenant's review and auto-merge
/// thresholds: one record per pair (key `<a>:<b>`, `a` the smaller id), in the tenant's store
/// (collection `crm.possible_duplicates`), whatever its status — so a decided pair is never
/// proposed again. Holds no personal data: the explanation names fields and levels only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PossibleDuplicate {
    /// The tenant.
    pub tenant: TenantId,
    /// One lead (the smaller id).
    pub a: LeadId,
    /// The other lead.
    pub b: LeadId,
    /// The match weight of the best-scoring pair of their records when proposed.
    pub match_weight: f64,
    /// Its explanation (per-field contributions).
    pub explanation: crate::matching::weights::Explanation,
    /// Pending, accepted, rejected or withdrawn.
    pub status: ReviewStatus,
    /// When it was proposed.
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub proposed_at: DateTime<Utc>,
    /// When it was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc_opt",
        deserialize_with = "marketingforce_core::time::deserialize_utc_opt"
    )]
    pub decided_at: Option<DateTime<Utc>>,
    /// Who decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Actor>,
}

impl PossibleDuplicate {
    /// The storage key of the pair `(a, b)`, in either order.
    pub fn key_of(a: LeadId, b: LeadId) -> String {
        let (x, y) = crate::dedupe::pair_of(a, b);
        format!("{x}:{y}")
    }
}

impl Entity for PossibleDuplicate {
    const COLLECTION: &'static str = "crm.possible_duplicates";

    fn key(&self) -> String {
        PossibleDuplicate::key_of(self.a, self.b)
    }

    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("status", self.status.as_str())]
    }

    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}
