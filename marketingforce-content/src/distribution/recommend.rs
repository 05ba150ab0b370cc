//! Channel recommendation: rank the catalogue for a user by industry, audience, region, content
//! format and observed performance.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use marketingforce_core::adapters::channel::{ChannelKind, ContentFormat};
use marketingforce_core::adapters::generation::Audience;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::catalogue::{ChannelCatalogue, ChannelInfo};
use crate::error::{ContentError, Result};
use crate::text::TextTemplates;

/// The industry id for what a user typed: the ids of the built-in vocabulary
/// (`industrial-machinery`, `chemicals`, …, as used by the channel catalogue, the text
/// templates, the poster themes and the peer benchmarks) in any case, with `_` or spaces for
/// `-`, or their Chinese or English display names (`机械设备`, `industrial machinery`). Anything
/// else is returned trimmed, lower-cased and hyphenated (a free-text industry).
///
/// ```
/// use marketingforce_content::distribution::industry_id;
/// assert_eq!(industry_id(" Industrial_Machinery "), "industrial-machinery");
/// assert_eq!(industry_id("机械设备"), "industrial-machinery");
/// assert_eq!(industry_id("Business Software"), "software-saas");
/// assert_eq!(industry_id("Restaurant"), "restaurant");
/// ```
pub fn industry_id(raw: &str) -> String {
    static NAMES: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let mut m = BTreeMap::new();
        for i in TextTemplates::builtin().industries {
            m.insert(hyphenate(&i.zh), i.id.clone());
            m.insert(hyphenate(&i.en), i.id.clone());
            m.insert(hyphenate(&i.id), i.id);
        }
        m
    });
    let key = hyphenate(raw);
    names.get(&key).cloned().unwrap_or(key)
}

fn hyphenate(s: &str) -> String {
    s.trim()
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Who is publishing what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecommendationRequest {
    /// The user's industry.
    pub industry: String,
    /// B2B or B2C.
    pub audience: Audience,
    /// Regions the user serves (empty: nationwide).
    #[serde(default)]
    pub regions: Vec<String>,
    /// The content format to place.
    pub format: ContentFormat,
    /// How many channels to return.
    pub top_n: usize,
}

/// What one channel achieved for the user so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObservedPerformance {
    /// Publications made.
    pub publications: u64,
    /// Views received.
    pub views: u64,
    /// Inquiries received.
    pub inquiries: u64,
}

/// Weights of the score components (they need not sum to one).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecommendationWeights {
    /// Audience fit.
    pub audience: f64,
    /// Industry fit.
    pub industry: f64,
    /// Region fit.
    pub region: f64,
    /// Expected inquiries per publication (prior from the catalogue, updated by observations).
    pub performance: f64,
    /// Pseudo-publications the catalogue prior is worth when blending with observations.
    pub prior_strength: f64,
}

impl Default for RecommendationWeights {
    fn default() -> Self {
        RecommendationWeights {
            audience: 0.3,
            industry: 0.25,
            region: 0.15,
            performance: 0.3,
            prior_strength: 10.0,
        }
    }
}

/// A ranked channel with the reasons for its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelScore {
    /// Channel code.
    pub channel: String,
    /// Channel kind.
    pub kind: ChannelKind,
    /// Score (0–1 when the weights sum to one).
    pub score: f64,
    /// Expected inquiries per publication used in the score.
    pub expected_inquiries: f64,
    /// Why, in words.
    pub reasons: Vec<String>,
}

/// Expected inquiries per publication on `c`: the catalogue's prior blended with what the user
/// observed (a Gamma–Poisson style update: (prior × strength + observed) / (strength + n)).
pub fn expected_inquiries(
    c: &ChannelInfo,
    observed: Option<&ObservedPerformance>,
    strength: f64,
) -> f64 {
    let r = c.base_rates;
    // Exposures over the life of a publication: a geometric series of daily exposures.
    let lifetime_exposures = if r.decay < 1.0 {
        r.exposures_per_day / (1.0 - r.decay)
    } else {
        r.exposures_per_day * 30.0
    };
    let prior = lifetime_exposures * r.view_rate * r.inquiry_rate;
    match observed {
        Some(o) if o.publications > 0 => {
            (prior * strength + o.inquiries as f64) / (strength + o.publications as f64)
        }
        _ => prior,
    }
}

/// Rank channels for `req`. Channels that cannot take the format, or do not reach the audience
/// at all, are left out; regional channels outside the user's regions are left out, and so are
/// industry verticals of other industries (a machinery maker is not sent to the chemicals
/// portal).
///
/// The request's industry is read with [`industry_id`], so `Industrial_Machinery` or the
/// display name `机械设备` match the `industrial-machinery` verticals. An industry no channel of
/// the catalogue specialises in (a free-text industry such as `restaurant`) is not an error:
/// it is ranked on the general channels only, none of which carries the `行业垂直渠道` reason.
///
/// ```
/// use marketingforce_content::distribution::{recommend, ChannelCatalogue, RecommendationRequest, RecommendationWeights};
/// use marketingforce_core::adapters::channel::{ChannelKind, ContentFormat};
/// use marketingforce_core::adapters::generation::Audience;
///
/// let catalogue = ChannelCatalogue::builtin();
/// let b2b = RecommendationRequest { industry: "industrial-machinery".into(), audience: Audience::B2b,
///     regions: vec!["江苏".into()], format: ContentFormat::Article, top_n: 3 };
/// let ranked = recommend(&catalogue, &b2b, &Default::default(), &RecommendationWeights::default()).unwrap();
/// assert_eq!(ranked[0].kind, ChannelKind::B2bVertical);
/// let b2c = RecommendationRequest { industry: "consumer-goods".into(), audience: Audience::B2c,
///     regions: vec![], format: ContentFormat::Video, top_n: 2 };
/// let ranked = recommend(&catalogue, &b2c, &Default::default(), &RecommendationWeights::default()).unwrap();
/// assert!(ranked.iter().all(|c| matches!(c.kind, ChannelKind::ShortVideo | ChannelKind::Social)));
/// ```
///
/// # Errors
/// A validation error for a blank industry or `top_n` of 0.
pub fn recommend(
    catalogue: &ChannelCatalogue,
    req: &RecommendationRequest,
    observed: &BTreeMap<String, ObservedPerformance>,
    w: &RecommendationWeights,
) -> Result<Vec<ChannelScore>> {
    if req.industry.trim().is_empty() {
        return Err(ContentError::validation("industry", "must not be blank"));
    }
    if req.top_n == 0 {
        return Err(ContentError::validation("top_n", "must be at least 1"));
    }
    let industry = industry_id(&req.industry);
    let candidates: Vec<(&ChannelInfo, f64)> = catalogue
        .channels
        .iter()
        .filter(|c| c.formats.contains(&req.format) && c.audiences.contains(&req.audience))
        .filter(|c| c.regions.is_empty() || req.regions.iter().any(|r| c.regions.contains(r)))
        .filter(|c| {
            c.industries.is_empty() || c.industries.iter().any(|i| industry_id(i) == industry)
        })
        .map(|c| {
            (
                c,
                expected_inquiries(c, observed.get(&c.code), w.prior_strength),
            )
        })
        .collect();
    let best = candidates.iter().map(|(_, e)| *e).fold(0.0f64, f64::max);
    let mut scored: Vec<ChannelScore> = candidates
        .into_iter()
        .map(|(c, expected)| {
            let mut reasons = Vec::new();
            // Audience: the channel's first audience is its main one.
            let audience = if c.audiences.first() == Some(&req.audience) {
                reasons.push(format!("主要面向{}", audience_name(req.audience)));
                1.0
            } else {
                0.4
            };
            // Verticals of other industries were left out above.
            let industry = if c.industries.is_empty() {
                0.5
            } else {
                reasons.push("行业垂直渠道".to_string());
                1.0
            };
            let region = if c.regions.is_empty() {
                0.6
            } else {
                reasons.push(format!("覆盖{}", c.regions.join("、")));
                1.0
            };
            let performance = if best > 0.0 { expected / best } else { 0.0 };
            if let Some(o) = observed.get(&c.code).filter(|o| o.publications > 0) {
                reasons.push(format!(
                    "已发布{}篇，获得{}条询盘",
                    o.publications, o.inquiries
                ));
            }
            ChannelScore {
                channel: c.code.clone(),
                kind: c.kind,
                score: w.audience * audience
                    + w.industry * industry
                    + w.region * region
                    + w.performance * performance,
                expected_inquiries: expected,
                reasons,
            }
        })
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.channel.cmp(&b.channel))
    });
    scored.truncate(req.top_n);
    Ok(scored)
}

fn audience_name(a: Audience) -> &'static str {
    match a {
        Audience::B2b => "企业客户",
        Audience::B2c => "个人消费者",
    }
}
