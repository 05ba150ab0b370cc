//! The channel catalogue: media platforms, the formats and audiences they take, their release
//! cost and rate limits, and their typical rates (data, with a schema).

use std::collections::HashMap;

use marketingforce_core::adapters::channel::{ChannelKind, ContentFormat};
use marketingforce_core::adapters::generation::Audience;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ContentError, Result};

/// The built-in catalogue (`data/channels.json`).
pub const BUILTIN_CHANNELS: &str = include_str!("../../data/channels.json");

/// Publishing limits of a channel, per tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Publications per rolling hour.
    pub per_hour: u32,
    /// Publications per rolling 24 hours.
    pub per_day: u32,
}

/// Typical performance of one publication on a channel (priors for recommendation, and the
/// rates of the simulated channel).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaseRates {
    /// Exposures on the first day.
    pub exposures_per_day: f64,
    /// Day-over-day decay of exposures (0–1).
    pub decay: f64,
    /// Views per exposure.
    pub view_rate: f64,
    /// Engagements (likes, shares, comments) per view.
    pub engagement_rate: f64,
    /// Link / contact clicks per view.
    pub click_rate: f64,
    /// Inquiries per view.
    pub inquiry_rate: f64,
}

/// One channel of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelInfo {
    /// Code (matches [`ContentChannel::code`](marketingforce_core::adapters::channel::ContentChannel::code)).
    pub code: String,
    /// Display name.
    pub name: String,
    /// Kind of platform.
    pub kind: ChannelKind,
    /// Formats it accepts.
    pub formats: Vec<ContentFormat>,
    /// Audiences it reaches.
    pub audiences: Vec<Audience>,
    /// Industries it specialises in (empty: general).
    #[serde(default)]
    pub industries: Vec<String>,
    /// Regions it covers (empty: nationwide).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Release-quota units one publication consumes (news portals sell releases in bulk).
    pub release_cost: u64,
    /// Publishing limits.
    pub rate_limit: RateLimit,
    /// Typical rates.
    pub base_rates: BaseRates,
}

/// The channel catalogue.
///
/// ```
/// use marketingforce_content::distribution::ChannelCatalogue;
/// let c = ChannelCatalogue::builtin();
/// assert!(c.get("wecom").is_some());
/// assert!(c.require("nope").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelCatalogue {
    /// Format version (1).
    pub version: u32,
    /// The channels.
    pub channels: Vec<ChannelInfo>,
    #[serde(skip)]
    #[schemars(skip)]
    index: HashMap<String, usize>,
}

impl ChannelCatalogue {
    /// The built-in catalogue.
    ///
    /// # Panics
    /// Never: the built-in data is checked by the test suite.
    pub fn builtin() -> ChannelCatalogue {
        #[allow(clippy::expect_used)]
        ChannelCatalogue::from_json(BUILTIN_CHANNELS).expect("built-in catalogue is valid")
    }

    /// Load and validate a catalogue.
    ///
    /// # Errors
    /// A validation error naming the path (`channels[3].base_rates.view_rate`).
    pub fn from_json(json: &str) -> Result<ChannelCatalogue> {
        let c: ChannelCatalogue = serde_json::from_str(json).map_err(|e| {
            ContentError::validation("channels", format!("not a valid catalogue: {e}"))
        })?;
        ChannelCatalogue::new(c.channels)
    }

    /// A catalogue of `channels`, validated.
    ///
    /// # Errors
    /// A validation error naming the path.
    pub fn new(channels: Vec<ChannelInfo>) -> Result<ChannelCatalogue> {
        let mut index = HashMap::new();
        for (i, c) in channels.iter().enumerate() {
            let p = |f: &str| format!("channels[{i}].{f}");
            if c.code.trim().is_empty() || index.insert(c.code.clone(), i).is_some() {
                return Err(ContentError::validation(
                    p("code"),
                    format!("blank or duplicate code {:?}", c.code),
                ));
            }
            if c.formats.is_empty() {
                return Err(ContentError::validation(p("formats"), "must not be empty"));
            }
            if c.audiences.is_empty() {
                return Err(ContentError::validation(
                    p("audiences"),
                    "must not be empty",
                ));
            }
            if c.rate_limit.per_hour == 0 || c.rate_limit.per_day < c.rate_limit.per_hour {
                return Err(ContentError::validation(
                    p("rate_limit"),
                    "need 0 < per_hour <= per_day",
                ));
            }
            let r = c.base_rates;
            for (name, v) in [
                ("view_rate", r.view_rate),
                ("engagement_rate", r.engagement_rate),
                ("click_rate", r.click_rate),
                ("inquiry_rate", r.inquiry_rate),
                ("decay", r.decay),
            ] {
                if !(0.0..=1.0).contains(&v) {
                    return Err(ContentError::validation(
                        p(&format!("base_rates.{name}")),
                        "must be within 0..1",
                    ));
                }
            }
            if !(r.exposures_per_day >= 0.0 && r.exposures_per_day.is_finite()) {
                return Err(ContentError::validation(
                    p("base_rates.exposures_per_day"),
                    "must be a non-negative number",
                ));
            }
        }
        Ok(ChannelCatalogue {
            version: 1,
            channels,
            index,
        })
    }

    /// This catalogue with one more channel (e.g. a real connector's entry such as
    /// `wechat::catalogue_entry()`), validated like the rest.
    ///
    /// ```
    /// use marketingforce_content::distribution::ChannelCatalogue;
    ///
    /// let mut extra = ChannelCatalogue::builtin().get("social-feed").unwrap().clone();
    /// extra.code = "my-feed".into();
    /// let c = ChannelCatalogue::builtin().with_channel(extra).unwrap();
    /// assert!(c.get("my-feed").is_some());
    /// // The same code twice is refused.
    /// let dup = c.get("my-feed").unwrap().clone();
    /// assert!(c.with_channel(dup).is_err());
    /// ```
    ///
    /// # Errors
    /// A validation error naming the path, e.g. for a code already in the catalogue.
    pub fn with_channel(self, channel: ChannelInfo) -> Result<ChannelCatalogue> {
        let mut channels = self.channels;
        channels.push(channel);
        ChannelCatalogue::new(channels)
    }

    /// The channel with `code`.
    pub fn get(&self, code: &str) -> Option<&ChannelInfo> {
        self.index.get(code).and_then(|&i| self.channels.get(i))
    }

    /// The channel with `code`, or a not-found error.
    ///
    /// # Errors
    /// [`marketingforce_core::Error::NotFound`].
    pub fn require(&self, code: &str) -> Result<&ChannelInfo> {
        self.get(code)
            .ok_or_else(|| marketingforce_core::Error::not_found("channel", code).into())
    }

    /// The JSON Schema of the format.
    pub fn json_schema() -> schemars::Schema {
        schemars::schema_for!(ChannelCatalogue)
    }
}
