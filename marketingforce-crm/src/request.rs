//! What arrives at the CRM: capture requests from every source, T Cloud inquiries, and their
//! normalisation into identity values and a touch.
//!
//! ```
//! use marketingforce_crm::request::{CaptureRequest, Inquiry};
//! use marketingforce_crm::model::Source;
//!
//! let req = CaptureRequest::new(Source::OfflineQr)
//!     .name("王 芳")
//!     .mobile("+86 139-0000-1234")
//!     .company("上海某某机械有限公司")
//!     .region("上海");
//! let n = req.normalise().unwrap();
//! assert_eq!(n.identity.mobile.unwrap().as_str(), "13900001234");
//!
//! // A T Cloud inquiry is a capture from `t_cloud_inquiry` with its campaign.
//! let inquiry = Inquiry { campaign: "2026-spring-expo".into(), mobile: Some("13900001234".into()), ..Inquiry::default() };
//! let req = CaptureRequest::from(inquiry);
//! assert_eq!(req.source, Source::TCloudInquiry);
//!
//! // No identity at all is refused.
//! assert!(CaptureRequest::new(Source::OwnSite).region("北京").normalise().is_err());
//! // A name alone is too little to match: kept unmatched from the own site, refused from a
//! // dealer (see `Source::requires_identity`).
//! assert!(CaptureRequest::new(Source::OwnSite).name("王芳").normalise().unwrap().unmatched);
//! assert!(CaptureRequest::new(Source::Dealer).name("王芳").normalise().is_err());
//! // New identity fields are validated by name, never quoting the value.
//! let e = CaptureRequest::new(Source::OwnSite).mobile("13900001234")
//!     .id_document("110105194912310021").normalise().unwrap_err();
//! assert_eq!(e.field(), Some("id_document"));
//! ```

use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::identity::{
    clean_address, clean_name, nfkc_cow, parse_dob, parse_postcode, CompanyCode, Email, IdDocument,
    MobileNumber, Phone, WeChatId, WeComId,
};
use crate::model::{hidden, hidden_identity_fields, Domain, Identity, Source};

/// A consent given at capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConsentInput {
    /// Purpose, e.g. `marketing_calls`.
    pub purpose: String,
    /// Channel, e.g. `web_form`.
    pub channel: String,
}

/// One lead as captured from a source, before normalisation. Unknown fields are refused when
/// deserialising (a misspelt `"mobil"` is an error naming it, not a lead without a mobile).
/// `Debug` shows which personal values are present, never the values.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// Where it came from.
    pub source: Source,
    /// Marketing campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// Platform (e.g. `douyin`, `baidu`, `wechat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Public or private domain; defaults from the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    /// Person name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Mainland mobile, as typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// Another phone, as typed (a mainland mobile given here is treated as the mobile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// WeCom external user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wecom_id: Option<String>,
    /// Company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Region (province or city).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Given name, when the name comes in parts (`芳`, `Lachlan`); either order of the two
    /// parts is recognised by matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name (`王`, `Reid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD` (also `YYYY/MM/DD`, `YYYY.MM.DD`, `YYYYMMDD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// ID document number (resident ID, passport, permit): sealed and blind-indexed, never
    /// stored or logged in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_document: Option<String>,
    /// Postcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// Postal address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// WeChat unionid (the same person across the tenant's WeChat apps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_unionid: Option<String>,
    /// WeChat openid (one app's id of the person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_openid: Option<String>,
    /// Company registration code (统一社会信用代码).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_code: Option<String>,
    /// Products asked about.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_interest: Vec<String>,
    /// Consent given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentInput>,
    /// When it was captured (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc_opt",
        deserialize_with = "marketingforce_core::time::deserialize_utc_opt"
    )]
    pub captured_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for CaptureRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("CaptureRequest");
        debug
            .field("source", &self.source)
            .field("campaign", &self.campaign)
            .field("platform", &self.platform)
            .field("domain", &self.domain);
        hidden_identity_fields!(debug, self)
            .field("region", &self.region)
            .field("product_interest", &self.product_interest)
            .field("consent", &self.consent)
            .field("captured_at", &self.captured_at)
            .finish()
    }
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

impl CaptureRequest {
    /// An empty capture from `source`.
    pub fn new(source: Source) -> CaptureRequest {
        CaptureRequest {
            source,
            campaign: None,
            platform: None,
            domain: None,
            name: None,
            mobile: None,
            phone: None,
            email: None,
            wecom_id: None,
            company: None,
            region: None,
            given_name: None,
            family_name: None,
            date_of_birth: None,
            id_document: None,
            postcode: None,
            address: None,
            wechat_unionid: None,
            wechat_openid: None,
            company_code: None,
            product_interest: Vec::new(),
            consent: None,
            captured_at: None,
        }
    }

    /// Set the person name.
    #[must_use]
    pub fn name(mut self, v: impl Into<String>) -> Self {
        self.name = Some(v.into());
        self
    }
    /// Set the mobile.
    #[must_use]
    pub fn mobile(mut self, v: impl Into<String>) -> Self {
        self.mobile = Some(v.into());
        self
    }
    /// Set another phone.
    #[must_use]
    pub fn phone(mut self, v: impl Into<String>) -> Self {
        self.phone = Some(v.into());
        self
    }
    /// Set the email.
    #[must_use]
    pub fn email(mut self, v: impl Into<String>) -> Self {
        self.email = Some(v.into());
        self
    }
    /// Set the WeCom id.
    #[must_use]
    pub fn wecom_id(mut self, v: impl Into<String>) -> Self {
        self.wecom_id = Some(v.into());
        self
    }
    /// Set the company.
    #[must_use]
    pub fn company(mut self, v: impl Into<String>) -> Self {
        self.company = Some(v.into());
        self
    }
    /// Set the region.
    #[must_use]
    pub fn region(mut self, v: impl Into<String>) -> Self {
        self.region = Some(v.into());
        self
    }
    /// Set the given name.
    #[must_use]
    pub fn given_name(mut self, v: impl Into<String>) -> Self {
        self.given_name = Some(v.into());
        self
    }
    /// Set the family name.
    #[must_use]
    pub fn family_name(mut self, v: impl Into<String>) -> Self {
        self.family_name = Some(v.into());
        self
    }
    /// Set the date of birth (`YYYY-MM-DD`).
    #[must_use]
    pub fn date_of_birth(mut self, v: impl Into<String>) -> Self {
        self.date_of_birth = Some(v.into());
        self
    }
    /// Set the ID document number.
    #[must_use]
    pub fn id_document(mut self, v: impl Into<String>) -> Self {
        self.id_document = Some(v.into());
        self
    }
    /// Set the postcode.
    #[must_use]
    pub fn postcode(mut self, v: impl Into<String>) -> Self {
        self.postcode = Some(v.into());
        self
    }
    /// Set the address.
    #[must_use]
    pub fn address(mut self, v: impl Into<String>) -> Self {
        self.address = Some(v.into());
        self
    }
    /// Set the WeChat unionid.
    #[must_use]
    pub fn wechat_unionid(mut self, v: impl Into<String>) -> Self {
        self.wechat_unionid = Some(v.into());
        self
    }
    /// Set the WeChat openid.
    #[must_use]
    pub fn wechat_openid(mut self, v: impl Into<String>) -> Self {
        self.wechat_openid = Some(v.into());
        self
    }
    /// Set the company registration code.
    #[must_use]
    pub fn company_code(mut self, v: impl Into<String>) -> Self {
        self.company_code = Some(v.into());
        self
    }
    /// Add a product of interest.
    #[must_use]
    pub fn product(mut self, v: impl Into<String>) -> Self {
        self.product_interest.push(v.into());
        self
    }
    /// Set the campaign.
    #[must_use]
    pub fn campaign(mut self, v: impl Into<String>) -> Self {
        self.campaign = Some(v.into());
        self
    }
    /// Set the platform.
    #[must_use]
    pub fn platform(mut self, v: impl Into<String>) -> Self {
        self.platform = Some(v.into());
        self
    }
    /// Set the capture time.
    #[must_use]
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.captured_at = Some(at);
        self
    }
    /// Record a consent.
    #[must_use]
    pub fn consent(mut self, purpose: impl Into<String>, channel: impl Into<String>) -> Self {
        self.consent = Some(ConsentInput {
            purpose: purpose.into(),
            channel: channel.into(),
        });
        self
    }

    /// Validate and normalise.
    ///
    /// # Errors
    /// A validation error naming the field (`mobile`, `email`, `id_document`,
    /// `product_interest[1]`, …; the reason, never the value), or [`CrmError::NoIdentity`]
    /// when there is no identity value at all, or too little to match from a source that
    /// [requires an identity](Source::requires_identity). From other sources such a capture
    /// is [`unmatched`](NormalisedCapture::unmatched).
    pub fn normalise(&self) -> Result<NormalisedCapture> {
        let mut identity = Identity {
            name: present(&self.name)
                .map(|s| clean_name(s, "name"))
                .transpose()?,
            mobile: present(&self.mobile).map(MobileNumber::parse).transpose()?,
            phone: None,
            email: present(&self.email).map(Email::parse).transpose()?,
            wecom_id: present(&self.wecom_id).map(WeComId::parse).transpose()?,
            company: present(&self.company)
                .map(|s| clean_name(s, "company"))
                .transpose()?,
            given_name: present(&self.given_name)
                .map(|s| clean_name(s, "given_name"))
                .transpose()?,
            family_name: present(&self.family_name)
                .map(|s| clean_name(s, "family_name"))
                .transpose()?,
            date_of_birth: present(&self.date_of_birth).map(parse_dob).transpose()?,
            id_document: present(&self.id_document)
                .map(IdDocument::parse)
                .transpose()?,
            postcode: present(&self.postcode).map(parse_postcode).transpose()?,
            address: present(&self.address).map(clean_address).transpose()?,
            region: None,
            wechat_unionid: present(&self.wechat_unionid)
                .map(|s| WeChatId::parse_field(s, "wechat_unionid"))
                .transpose()?,
            wechat_openid: present(&self.wechat_openid)
                .map(|s| WeChatId::parse_field(s, "wechat_openid"))
                .transpose()?,
            company_code: present(&self.company_code)
                .map(CompanyCode::parse)
                .transpose()?,
        };
        if let Some(p) = present(&self.phone) {
            let phone = Phone::parse(p)?;
            match phone.as_mobile() {
                Some(m) if identity.mobile.is_none() => identity.mobile = Some(m),
                Some(m) if identity.mobile.as_ref() == Some(&m) => {}
                _ => identity.phone = Some(phone),
            }
        }
        let unmatched = !identity.is_identifying();
        if identity.is_empty() || (unmatched && self.source.requires_identity()) {
            return Err(CrmError::NoIdentity);
        }
        let label = |v: &Option<String>, field: &str| -> Result<Option<String>> {
            present(v).map(|s| short_label(s, field)).transpose()
        };
        let mut products = Vec::with_capacity(self.product_interest.len());
        for (i, p) in self.product_interest.iter().enumerate() {
            let p = label_value(p)
                .map_err(|why| CrmError::validation(format!("product_interest[{i}]"), why))?;
            if !products.contains(&p) {
                products.push(p);
            }
        }
        let consent = match &self.consent {
            Some(c) => Some(ConsentInput {
                purpose: short_label(&c.purpose, "consent.purpose")?,
                channel: short_label(&c.channel, "consent.channel")?,
            }),
            None => None,
        };
        let region = label(&self.region, "region")?;
        identity.region.clone_from(&region);
        Ok(NormalisedCapture {
            source: self.source,
            campaign: label(&self.campaign, "campaign")?,
            platform: label(&self.platform, "platform")?.map(|p| p.to_lowercase()),
            domain: self.domain.unwrap_or(self.source.default_domain()),
            identity,
            unmatched,
            region,
            product_interest: products,
            consent,
            captured_at: self.captured_at,
        })
    }
}

fn short_label(s: &str, field: &str) -> Result<String> {
    label_value(s).map_err(|why| CrmError::validation(field, why))
}

/// A normalised short label, or why it is refused.
fn label_value(s: &str) -> std::result::Result<String, &'static str> {
    let v = nfkc_cow(s.trim());
    if v.is_empty() {
        return Err("must not be blank");
    }
    if v.chars().count() > 100 || v.chars().any(char::is_control) {
        return Err("must be at most 100 characters without control characters");
    }
    Ok(v.into_owned())
}

/// How far ahead of the service clock a client-supplied time may be by default (clocks of
/// browsers, phones and partner servers drift): 5 minutes.
pub const DEFAULT_MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// The earliest client-supplied time accepted: 2000-01-01T00:00:00Z. Anything older is a
/// zeroed or mistyped field, not a real event.
pub fn earliest_client_time() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(946_684_800, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Check a time supplied by a client (`captured_at`, a behaviour event's `at`, an SOP's
/// `trigger_at`) against the service clock `now`: it may be at most `max_skew` ahead of it and
/// not before 2000-01-01 ([`earliest_client_time`]).
///
/// Such times drive state — "most recent" survivorship, recency scores, due dates — so a
/// capture dated 9999-12-31 would otherwise win the most-recent rule forever.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use marketingforce_crm::request::{check_client_time, DEFAULT_MAX_CLOCK_SKEW};
///
/// let now = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
/// let skew = DEFAULT_MAX_CLOCK_SKEW;
/// assert!(check_client_time("captured_at", now + Duration::minutes(4), now, skew).is_ok());
/// let e = check_client_time("captured_at", now + Duration::minutes(6), now, skew).unwrap_err();
/// assert_eq!(e.field(), Some("captured_at"));
/// let old = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap();
/// assert!(check_client_time("captured_at", old, now, skew).is_err());
/// ```
///
/// # Errors
/// A validation error on `field` saying which bound was crossed.
pub fn check_client_time(
    field: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    max_skew: chrono::Duration,
) -> Result<()> {
    let latest = now
        .checked_add_signed(max_skew.abs())
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if at > latest {
        return Err(CrmError::validation(
            field,
            format!(
                "is more than {} seconds ahead of the service clock",
                max_skew.abs().num_seconds()
            ),
        ));
    }
    if at < earliest_client_time() {
        return Err(CrmError::validation(
            field,
            "is before 2000-01-01T00:00:00Z",
        ));
    }
    Ok(())
}

/// A validated, normalised capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalisedCapture {
    /// Source.
    pub source: Source,
    /// Campaign.
    pub campaign: Option<String>,
    /// Platform (lower case).
    pub platform: Option<String>,
    /// Domain.
    pub domain: Domain,
    /// Identity values.
    pub identity: Identity,
    /// Too little identity to match (see [`Source::requires_identity`]): captured as a lead
    /// of its own, marked [`Lead::unmatched`](crate::model::Lead::unmatched).
    pub unmatched: bool,
    /// Region.
    pub region: Option<String>,
    /// Products (distinct).
    pub product_interest: Vec<String>,
    /// Consent.
    pub consent: Option<ConsentInput>,
    /// Capture time, if given.
    pub captured_at: Option<DateTime<Utc>>,
}

/// An inquiry handed over by T Cloud (the content product) to True Client: the capture
/// interface the content crate calls. Dedupe runs on hand-off like on any capture. `Debug`
/// shows which personal values are present, never the values.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Inquiry {
    /// The campaign the content belonged to.
    pub campaign: String,
    /// The published content that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// The channel/platform it was published on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Person name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Mobile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// Email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// WeCom external user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wecom_id: Option<String>,
    /// Company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Products asked about.
    #[serde(default)]
    pub product_interest: Vec<String>,
    /// Consent given on the inquiry form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentInput>,
    /// When it was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc_opt",
        deserialize_with = "marketingforce_core::time::deserialize_utc_opt"
    )]
    pub received_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for Inquiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inquiry")
            .field("campaign", &self.campaign)
            .field("content_id", &self.content_id)
            .field("platform", &self.platform)
            .field("name", &hidden(&self.name))
            .field("mobile", &hidden(&self.mobile))
            .field("email", &hidden(&self.email))
            .field("wecom_id", &hidden(&self.wecom_id))
            .field("company", &hidden(&self.company))
            .field("region", &self.region)
            .field("product_interest", &self.product_interest)
            .field("consent", &self.consent)
            .field("received_at", &self.received_at)
            .finish()
    }
}

impl From<Inquiry> for CaptureRequest {
    fn from(i: Inquiry) -> CaptureRequest {
        CaptureRequest {
            source: Source::TCloudInquiry,
            campaign: Some(i.campaign).filter(|c| !c.trim().is_empty()),
            platform: i.platform,
            domain: None,
            name: i.name,
            mobile: i.mobile,
            phone: None,
            email: i.email,
            wecom_id: i.wecom_id,
            company: i.company,
            region: i.region,
            product_interest: i.product_interest,
            consent: i.consent,
            captured_at: i.received_at,
            // An inquiry carries no other identity fields.
            ..CaptureRequest::new(Source::TCloudInquiry)
        }
    }
}

#[cfg(test)]
mod unknown_field_tests {
    use super::*;

    #[test]
    fn a_misspelt_field_is_refused_by_name() {
        let e = serde_json::from_str::<CaptureRequest>(
            r#"{"source": "own_site", "mobil": "13812345678"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("mobil"), "{e}");
        assert!(!e.contains("13812345678"), "{e}");
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;
    use crate::ids::LeadId;
    use crate::model::{ContactPii, Contribution};

    /// The personal values of the capture below, in every form they may take.
    const PERSONAL: &[&str] = &[
        "张伟",
        "13812345678",
        "68881234",
        "zhang.wei",
        "wmAbCdEf123",
        "伟",
        "1990-05-17",
        "11010519491231002",
        "200120",
        "世纪大道",
        "oUnion1234567890",
        "oOpen12345678901",
        "某某机械",
        "91310000MA1K",
    ];

    #[test]
    fn debug_of_requests_and_identities_shows_no_personal_data() {
        let request = CaptureRequest::new(Source::OwnSite)
            .name("张伟")
            .mobile("138 1234 5678")
            .phone("021-6888 1234")
            .email("Zhang.Wei@example.com")
            .wecom_id("wmAbCdEf123")
            .given_name("伟")
            .family_name("张")
            .date_of_birth("1990-05-17")
            .id_document("11010519491231002X")
            .postcode("200120")
            .address("浦东新区世纪大道100号")
            .wechat_unionid("oUnion1234567890")
            .wechat_openid("oOpen12345678901")
            .company("上海某某机械有限公司")
            .company_code("91310000MA1K00000X")
            .region("上海");
        let normalised = request.normalise().unwrap();
        let identity = normalised.identity.clone();
        let inquiry = Inquiry {
            campaign: "2026-expo".into(),
            name: Some("张伟".into()),
            mobile: Some("13812345678".into()),
            email: Some("zhang.wei@example.com".into()),
            wecom_id: Some("wmAbCdEf123".into()),
            company: Some("上海某某机械有限公司".into()),
            ..Inquiry::default()
        };
        let pii = ContactPii {
            contributions: vec![Contribution {
                origin: LeadId::new(),
                source: Source::OwnSite,
                at: Utc::now(),
                identity: identity.clone(),
            }],
        };
        let golden = crate::survivorship::GoldenIdentity::from_contributions(
            &pii.contributions,
            &crate::survivorship::SurvivorshipConfig::default(),
        );
        assert_eq!(golden.name.as_deref(), Some("张伟"));
        let shown = [
            format!("{golden:?}"),
            format!("{request:?}"),
            format!("{normalised:?}"),
            format!("{identity:?}"),
            format!("{inquiry:?}"),
            format!("{pii:?}"),
            format!("{:?}", (&identity.mobile, &identity.phone, &identity.email)),
            format!("{:?}", (&identity.wecom_id, &identity.wechat_openid)),
        ];
        for text in &shown {
            for value in PERSONAL {
                assert!(!text.contains(value), "{value} shown in {text}");
            }
            assert!(
                text.contains("***") || text.contains("characters"),
                "{text}"
            );
        }
        assert!(shown[1].contains("上海"), "the region stays: {}", shown[1]);
    }
}
