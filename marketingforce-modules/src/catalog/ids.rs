//! Identifiers shared by every part of the crate and by the other crates of the SDK:
//! [`ModuleId`] (with the built-in module ids as constants) and [`UsageUnit`].

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ModulesError, Result};

/// The namespace of the platform's own modules and units.
pub const BUILTIN_NAMESPACE: &str = "mf";

/// A namespaced functional-module id: `<namespace>.<name>`, e.g. `mf.t_video` or, for a
/// third-party module, `acme.seo_audit`.
///
/// The namespace is 2–32 characters of `a-z 0-9 _` starting with a letter; the name is 1–64
/// characters of `a-z 0-9 _ - .` starting with a letter. The platform's own modules live in the
/// `mf` namespace; their ids are constants on this type (`ModuleId::T_VIDEO`, …).
///
/// ```
/// use marketingforce_modules::catalog::ModuleId;
///
/// let id: ModuleId = "acme.seo_audit".parse().unwrap();
/// assert_eq!(id.namespace(), "acme");
/// assert_eq!(id.name(), "seo_audit");
/// assert!(!id.is_builtin());
/// assert!(ModuleId::T_VIDEO.is_builtin());
/// assert!("no-namespace".parse::<ModuleId>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(Cow<'static, str>);

macro_rules! builtin_modules {
    ($( $(#[$doc:meta])* $const:ident = $id:literal; )*) => {
        impl ModuleId {
            $( $(#[$doc])* pub const $const: ModuleId = ModuleId(Cow::Borrowed($id)); )*

            /// Every built-in module id that has a constant, in declaration order.
            pub const BUILTIN: &'static [ModuleId] = &[$(ModuleId::$const),*];
        }
    };
}

builtin_modules! {
    /// Official platform builder: PC and mobile sites, mini programs, H5 pages.
    PLATFORM_BUILDER = "mf.platform_builder";
    /// Multi-language sites.
    MULTILINGUAL_SITES = "mf.multilingual_sites";
    /// One-click PC → mobile conversion.
    PC_TO_MOBILE = "mf.pc_to_mobile";
    /// Mini-program and H5 builder.
    MINI_PROGRAM_BUILDER = "mf.mini_program_builder";
    /// T-text: AI article generation (meters articles published).
    T_TEXT = "mf.t_text";
    /// T-image: AI image generation (meters images generated).
    T_IMAGE = "mf.t_image";
    /// T-video: AI video generation (meters videos rendered).
    T_VIDEO = "mf.t_video";
    /// Video dubbing and subtitles.
    VIDEO_DUBBING_SUBTITLES = "mf.video_dubbing_subtitles";
    /// Material library (meters storage).
    MATERIAL_LIBRARY = "mf.material_library";
    /// Smart distribution of content to media platforms (meters publications).
    SMART_DISTRIBUTION = "mf.smart_distribution";
    /// Remarketing.
    REMARKETING = "mf.remarketing";
    /// SEM assistant.
    SEM_ASSISTANT = "mf.sem_assistant";
    /// DSP connector.
    DSP_CONNECTOR = "mf.dsp_connector";
    /// Keyword ranking monitor (meters keywords monitored).
    KEYWORD_RANKING_MONITOR = "mf.keyword_ranking_monitor";
    /// Evaluation report.
    EVALUATION_REPORT = "mf.evaluation_report";
    /// Monitoring alerts.
    MONITORING_ALERTS = "mf.monitoring_alerts";
    /// Visitor engagement measurement.
    VISITOR_ENGAGEMENT = "mf.visitor_engagement";
    /// BI dashboards.
    BI_DASHBOARDS = "mf.bi_dashboards";
    /// Customer data management (CDP; meters leads stored).
    CUSTOMER_DATA_MANAGEMENT = "mf.customer_data_management";
    /// Funnel analytics.
    FUNNEL_ANALYTICS = "mf.funnel_analytics";
    /// Sales workbench: the per-account CRM function (seat-limited).
    SALES_WORKBENCH = "mf.sales_workbench";
    /// Lead management (meters leads stored).
    LEAD_MANAGEMENT = "mf.lead_management";
    /// Leads profiling.
    LEADS_PROFILING = "mf.leads_profiling";
    /// Leads allocation to salespeople (seat-limited).
    LEADS_ALLOCATION = "mf.leads_allocation";
    /// Customer SOP (seat-limited).
    CUSTOMER_SOP = "mf.customer_sop";
    /// Community SOP (seat-limited).
    COMMUNITY_SOP = "mf.community_sop";
    /// Conversation library (seat-limited).
    CONVERSATION_LIBRARY = "mf.conversation_library";
    /// Social CRM.
    SOCIAL_CRM = "mf.social_crm";
    /// Sales pricing (CPQ).
    SALES_PRICING = "mf.sales_pricing";
    /// Sales procedures.
    SALES_PROCEDURES = "mf.sales_procedures";
    /// Membership programmes.
    MEMBERSHIP = "mf.membership";
    /// Member profiling.
    MEMBER_PROFILING = "mf.member_profiling";
    /// Social fission (referral campaigns).
    SOCIAL_FISSION = "mf.social_fission";
    /// Marketing automation.
    MARKETING_AUTOMATION = "mf.marketing_automation";
    /// Live streaming.
    LIVE_STREAMING = "mf.live_streaming";
    /// Private-domain groups.
    PRIVATE_DOMAIN_GROUPS = "mf.private_domain_groups";
    /// AI growth automation.
    AI_GROWTH_AUTOMATION = "mf.ai_growth_automation";
    /// Conversion and promotion (meters publications).
    CONVERSION_PROMOTION = "mf.conversion_promotion";
    /// Storage and administration (meters storage).
    STORAGE_ADMINISTRATION = "mf.storage_administration";
    /// Marketing team management.
    MARKETING_TEAM_MANAGEMENT = "mf.marketing_team_management";
    /// Marketing budgeting.
    MARKETING_BUDGETING = "mf.marketing_budgeting";
    /// E-signature (resold third-party service).
    ESIGN = "mf.esign";
    /// SMS gateway (resold third-party service; meters SMS sent).
    SMS_GATEWAY = "mf.sms_gateway";
}

fn valid_namespace(ns: &str) -> bool {
    (2..=32).contains(&ns.len())
        && ns.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
        && !name.ends_with('.')
}

fn split_namespaced<'a>(s: &'a str, what: &str) -> Result<(&'a str, &'a str)> {
    let (ns, name) = s.split_once('.').ok_or_else(|| {
        ModulesError::validation(
            what,
            format!("{s:?} must be <namespace>.<name>, e.g. \"acme.seo_audit\""),
        )
    })?;
    if !valid_namespace(ns) {
        return Err(ModulesError::validation(
            what,
            format!("namespace {ns:?} of {s:?} must be 2-32 characters of a-z, 0-9, '_' starting with a letter"),
        ));
    }
    if !valid_name(name) {
        return Err(ModulesError::validation(
            what,
            format!("name {name:?} of {s:?} must be 1-64 characters of a-z, 0-9, '_', '-', '.' starting with a letter"),
        ));
    }
    Ok((ns, name))
}

impl ModuleId {
    /// Parse and validate a module id.
    ///
    /// # Errors
    /// A validation error on `module` saying what is wrong.
    pub fn new(id: impl Into<String>) -> Result<ModuleId> {
        let id = id.into();
        split_namespaced(&id, "module")?;
        Ok(ModuleId(Cow::Owned(id)))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The namespace (`mf` for built-in modules, the vendor's for third-party ones).
    pub fn namespace(&self) -> &str {
        self.0.split_once('.').map_or(&*self.0, |(ns, _)| ns)
    }

    /// The name within the namespace.
    pub fn name(&self) -> &str {
        self.0.split_once('.').map_or("", |(_, n)| n)
    }

    /// Whether this id is in the platform's own namespace.
    pub fn is_builtin(&self) -> bool {
        self.namespace() == BUILTIN_NAMESPACE
    }
}

impl fmt::Display for ModuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ModuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleId({})", self.0)
    }
}

impl Borrow<str> for ModuleId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ModuleId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for ModuleId {
    type Err = ModulesError;
    fn from_str(s: &str) -> Result<Self> {
        ModuleId::new(s)
    }
}

impl Serialize for ModuleId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ModuleId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ModuleId::new(s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ModuleId {
    fn schema_name() -> Cow<'static, str> {
        "ModuleId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A namespaced module id <namespace>.<name>; built-in modules use the `mf` namespace.",
            "pattern": r"^[a-z][a-z0-9_]{1,31}\.[a-z][a-z0-9_.-]{0,63}$",
            "examples": ["mf.t_video", "acme.seo_audit"],
        })
    }
}

/// A unit of metered usage.
///
/// The platform's own units are variants; third-party modules declare namespaced custom units
/// (`acme.pages_crawled`). Quantities of every unit are whole numbers ([`Quantity`]); fractional
/// measures use a finer unit (storage in MB).
///
/// Serialised as its snake-case name (`"videos_rendered"`) or the custom unit's text.
///
/// [`Quantity`]: marketingforce_core::money::Quantity
///
/// ```
/// use marketingforce_modules::catalog::UsageUnit;
///
/// assert_eq!(UsageUnit::VideosRendered.as_str(), "videos_rendered");
/// assert_eq!("articles_published".parse::<UsageUnit>().unwrap(), UsageUnit::ArticlesPublished);
/// let custom: UsageUnit = "acme.pages_crawled".parse().unwrap();
/// assert!(custom.is_custom());
/// assert!("pages".parse::<UsageUnit>().is_err()); // not built-in, not namespaced
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum UsageUnit {
    /// Articles published (T-text output that went live).
    ArticlesPublished,
    /// Images generated (T-image).
    ImagesGenerated,
    /// Videos rendered (T-video).
    VideosRendered,
    /// Publications: one piece of content released to one channel (distribution and
    /// conversion/promotion usage).
    Publications,
    /// Leads stored (information volume managed; a level, credited back when leads are deleted).
    LeadsStored,
    /// Storage in megabytes (a level, credited back when files are deleted).
    StorageMb,
    /// Keywords under ranking monitoring.
    KeywordsMonitored,
    /// SMS messages sent.
    SmsSent,
    /// A third-party unit, `<vendor>.<name>`.
    Custom(CustomUnit),
}

/// The name of a third-party usage unit: `<vendor>.<name>` like a [`ModuleId`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct CustomUnit(String);

impl CustomUnit {
    /// The unit's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The vendor namespace.
    pub fn namespace(&self) -> &str {
        self.0.split_once('.').map_or(&*self.0, |(ns, _)| ns)
    }
}

impl UsageUnit {
    /// Every built-in unit.
    pub const BUILTIN: [UsageUnit; 8] = [
        UsageUnit::ArticlesPublished,
        UsageUnit::ImagesGenerated,
        UsageUnit::VideosRendered,
        UsageUnit::Publications,
        UsageUnit::LeadsStored,
        UsageUnit::StorageMb,
        UsageUnit::KeywordsMonitored,
        UsageUnit::SmsSent,
    ];

    /// The unit's name.
    pub fn as_str(&self) -> &str {
        match self {
            UsageUnit::ArticlesPublished => "articles_published",
            UsageUnit::ImagesGenerated => "images_generated",
            UsageUnit::VideosRendered => "videos_rendered",
            UsageUnit::Publications => "publications",
            UsageUnit::LeadsStored => "leads_stored",
            UsageUnit::StorageMb => "storage_mb",
            UsageUnit::KeywordsMonitored => "keywords_monitored",
            UsageUnit::SmsSent => "sms_sent",
            UsageUnit::Custom(c) => c.as_str(),
        }
    }

    /// Whether this is a third-party unit.
    pub fn is_custom(&self) -> bool {
        matches!(self, UsageUnit::Custom(_))
    }

    /// Whether the unit measures a level (stored leads, storage) rather than a flow of events:
    /// levels can be credited back with
    /// [`UsageMeter::credit`](crate::metering::UsageMeter::credit).
    pub fn is_level(&self) -> bool {
        matches!(self, UsageUnit::LeadsStored | UsageUnit::StorageMb)
    }

    /// Parse a unit name.
    ///
    /// # Errors
    /// A validation error on `unit`.
    pub fn parse(s: &str) -> Result<UsageUnit> {
        if let Some(u) = UsageUnit::BUILTIN.iter().find(|u| u.as_str() == s) {
            return Ok(u.clone());
        }
        if s.contains('.') {
            let (ns, _) = split_namespaced(s, "unit")?;
            if ns == BUILTIN_NAMESPACE {
                return Err(ModulesError::validation(
                    "unit",
                    format!("{s:?}: the \"mf\" namespace is reserved for built-in units"),
                ));
            }
            return Ok(UsageUnit::Custom(CustomUnit(s.to_string())));
        }
        Err(ModulesError::validation(
            "unit",
            format!(
                "{s:?} is not a built-in unit ({}) nor a namespaced custom unit like \"acme.pages_crawled\"",
                UsageUnit::BUILTIN.map(|u| u.as_str().to_string()).join(", ")
            ),
        ))
    }
}

impl fmt::Display for UsageUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for UsageUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UsageUnit({})", self.as_str())
    }
}

impl FromStr for UsageUnit {
    type Err = ModulesError;
    fn from_str(s: &str) -> Result<Self> {
        UsageUnit::parse(s)
    }
}

impl Serialize for UsageUnit {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for UsageUnit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        UsageUnit::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for UsageUnit {
    fn schema_name() -> Cow<'static, str> {
        "UsageUnit".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A built-in usage unit, or a namespaced third-party unit <vendor>.<name>.",
            "anyOf": [
                { "enum": UsageUnit::BUILTIN.map(|u| u.as_str().to_string()) },
                { "pattern": r"^[a-z][a-z0-9_]{1,31}\.[a-z][a-z0-9_.-]{0,63}$" }
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_ids_are_valid_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for id in ModuleId::BUILTIN {
            assert!(ModuleId::new(id.as_str()).is_ok(), "{id}");
            assert!(id.is_builtin());
            assert!(seen.insert(id.clone()), "duplicate {id}");
        }
    }

    #[test]
    fn bad_ids_name_the_problem() {
        for bad in [
            "",
            "x",
            "a.b",
            "Mf.t",
            "mf.",
            "mf.T_video",
            "mf.1abc",
            "m f.x",
            "mf.a.",
        ] {
            let e = ModuleId::new(bad).unwrap_err();
            assert_eq!(e.field(), Some("module"), "{bad}: {e}");
        }
        let e = UsageUnit::parse("mf.videos").unwrap_err();
        assert!(e.to_string().contains("reserved"));
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&ModuleId::T_VIDEO).unwrap();
        assert_eq!(json, "\"mf.t_video\"");
        assert_eq!(
            serde_json::from_str::<ModuleId>(&json).unwrap(),
            ModuleId::T_VIDEO
        );
        let u: UsageUnit = serde_json::from_str("\"acme.pages\"").unwrap();
        assert_eq!(serde_json::to_string(&u).unwrap(), "\"acme.pages\"");
        assert!(serde_json::from_str::<UsageUnit>("\"pages\"").is_err());
    }
}
