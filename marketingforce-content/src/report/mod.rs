//! The evaluation report over the five aspects of DOMAIN.md — official site marketing
//! features, exposure in major channels, product promotion and customer service capability,
//! brand reputation, information provision — with traffic, exposure, engagement rate and lead
//! acquisition cost quantified against peer benchmarks (data), rendered as HTML with SVG charts.

mod charts;
mod html;

use chrono::NaiveDate;
use marketingforce_core::money::{Money, RoundingMode};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ContentError, Result};
pub use html::render_html;

/// The built-in peer benchmarks (`data/peer-benchmarks.json`).
pub const BUILTIN_PEER_BENCHMARKS: &str = include_str!("../../data/peer-benchmarks.json");

/// The five aspects.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    /// Official site marketing features.
    Site,
    /// Exposure in major channels.
    Exposure,
    /// Product promotion and customer service capability.
    PromotionService,
    /// Brand reputation.
    Reputation,
    /// Information provision.
    Information,
}

impl Aspect {
    /// All five, in report order.
    pub const ALL: [Aspect; 5] = [
        Aspect::Site,
        Aspect::Exposure,
        Aspect::PromotionService,
        Aspect::Reputation,
        Aspect::Information,
    ];

    /// Chinese display name.
    pub fn name(self) -> &'static str {
        match self {
            Aspect::Site => "官网营销功能",
            Aspect::Exposure => "主流渠道曝光",
            Aspect::PromotionService => "产品推广与客服能力",
            Aspect::Reputation => "品牌口碑",
            Aspect::Information => "信息提供",
        }
    }
}

/// Peer scores per aspect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AspectScores {
    /// Site.
    pub site: f64,
    /// Exposure.
    pub exposure: f64,
    /// Promotion and service.
    pub promotion_service: f64,
    /// Reputation.
    pub reputation: f64,
    /// Information.
    pub information: f64,
}

impl AspectScores {
    /// The score of `a`.
    pub fn get(&self, a: Aspect) -> f64 {
        match a {
            Aspect::Site => self.site,
            Aspect::Exposure => self.exposure,
            Aspect::PromotionService => self.promotion_service,
            Aspect::Reputation => self.reputation,
            Aspect::Information => self.information,
        }
    }
}

/// Benchmarks of one industry's peers (per 30 days).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PeerBenchmark {
    /// Industry id.
    pub industry: String,
    /// Median site visits + content views.
    pub traffic: u64,
    /// Median exposures.
    pub exposure: u64,
    /// Median engagement rate (engagements / views), a decimal string.
    pub engagement_rate: Decimal,
    /// Median cost per lead.
    pub cost_per_lead: Money,
    /// Median aspect scores.
    pub aspects: AspectScores,
}

/// Peer benchmarks: the data format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PeerBenchmarks {
    /// Format version (1).
    pub version: u32,
    /// Where the figures come from.
    pub source: String,
    /// Per industry.
    pub industries: Vec<PeerBenchmark>,
}

impl PeerBenchmarks {
    /// The built-in benchmarks.
    ///
    /// # Panics
    /// Never: checked by the test suite.
    pub fn builtin() -> PeerBenchmarks {
        #[allow(clippy::expect_used)]
        PeerBenchmarks::from_json(BUILTIN_PEER_BENCHMARKS).expect("built-in benchmarks are valid")
    }

    /// Load and validate.
    ///
    /// # Errors
    /// A validation error naming the path (`industries[2].cost_per_lead`).
    pub fn from_json(json: &str) -> Result<PeerBenchmarks> {
        let b: PeerBenchmarks = serde_json::from_str(json).map_err(|e| {
            ContentError::validation("peer_benchmarks", format!("not valid JSON: {e}"))
        })?;
        for (i, p) in b.industries.iter().enumerate() {
            if p.cost_per_lead.is_negative() {
                return Err(ContentError::validation(
                    format!("industries[{i}].cost_per_lead"),
                    "must not be negative",
                ));
            }
            if p.engagement_rate < Decimal::ZERO || p.engagement_rate > Decimal::ONE {
                return Err(ContentError::validation(
                    format!("industries[{i}].engagement_rate"),
                    "must be within 0..1",
                ));
            }
            for a in Aspect::ALL {
                if !(0.0..=100.0).contains(&p.aspects.get(a)) {
                    return Err(ContentError::validation(
                        format!("industries[{i}].aspects"),
                        "scores are 0..100",
                    ));
                }
            }
        }
        Ok(b)
    }

    /// The benchmark of `industry`.
    pub fn get(&self, industry: &str) -> Option<&PeerBenchmark> {
        self.industries.iter().find(|p| p.industry == industry)
    }
}

/// Official site features.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SiteFeatures {
    /// Mobile site.
    pub mobile_site: bool,
    /// Mini program.
    pub mini_program: bool,
    /// H5 pages.
    pub h5_pages: bool,
    /// More than one language.
    pub multilingual: bool,
    /// HTTPS.
    pub https: bool,
    /// Contact / inquiry forms.
    pub contact_forms: bool,
    /// Online chat.
    pub online_chat: bool,
    /// Median page load, ms.
    pub page_load_ms: u32,
}

/// Exposure on one channel in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelExposure {
    /// Channel code or name.
    pub channel: String,
    /// Publications.
    pub publications: u64,
    /// Exposures.
    pub exposures: u64,
    /// Views.
    pub views: u64,
    /// Engagements.
    pub engagements: u64,
    /// Inquiries.
    pub inquiries: u64,
}

/// Product promotion and customer service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PromotionService {
    /// Products listed online.
    pub products_listed: u32,
    /// Pieces of content published in the period.
    pub content_published: u32,
    /// Average first response to an inquiry, minutes.
    pub avg_response_minutes: u32,
    /// Hours a day inquiries are answered.
    pub service_hours_per_day: u32,
    /// Share of inquiries answered (0–1).
    pub inquiry_response_rate: f64,
}

/// Brand reputation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reputation {
    /// Positive mentions.
    pub positive: u64,
    /// Neutral mentions.
    pub neutral: u64,
    /// Negative mentions.
    pub negative: u64,
    /// Average review rating out of 5, if any.
    pub rating: Option<f64>,
}

/// Information provision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InformationProvision {
    /// Share of product pages with full specifications (0–1).
    pub pages_with_specs: f64,
    /// Share of pages updated in the last 30 days (0–1).
    pub updated_recently: f64,
    /// FAQ entries.
    pub faq_entries: u32,
    /// Published case studies.
    pub case_studies: u32,
}

/// One day of metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DailyMetrics {
    /// Day.
    pub date: NaiveDate,
    /// Exposures.
    pub exposures: u64,
    /// Views.
    pub views: u64,
    /// Inquiries.
    pub inquiries: u64,
}

/// What the report is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvaluationInput {
    /// Company name.
    pub company: String,
    /// Industry id (selects the peer benchmark).
    pub industry: String,
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period.
    pub to: NaiveDate,
    /// Site visits in the period.
    pub site_visits: u64,
    /// Site features.
    pub site: SiteFeatures,
    /// Channel exposure.
    pub channels: Vec<ChannelExposure>,
    /// Promotion and service.
    pub promotion: PromotionService,
    /// Reputation.
    pub reputation: Reputation,
    /// Information provision.
    pub information: InformationProvision,
    /// Marketing spend in the period.
    pub spend: Money,
    /// Leads acquired in the period.
    pub leads: u64,
    /// Daily metrics (for the trend chart).
    #[serde(default)]
    pub daily: Vec<DailyMetrics>,
}

/// One aspect's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AspectResult {
    /// The aspect.
    pub aspect: Aspect,
    /// Score 0–100.
    pub score: f64,
    /// Peers' median score.
    pub peer: f64,
    /// What drove the score.
    pub findings: Vec<String>,
}

/// A quantity against its peer median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Versus<T> {
    /// The company's value.
    pub value: T,
    /// The peer median.
    pub peer: T,
    /// value ÷ peer (None when the peer value is zero or the value is unknown).
    pub ratio: Option<Decimal>,
}

/// The evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvaluationReport {
    /// Company.
    pub company: String,
    /// Industry.
    pub industry: String,
    /// Period.
    pub from: NaiveDate,
    /// Period end.
    pub to: NaiveDate,
    /// The five aspects.
    pub aspects: Vec<AspectResult>,
    /// Average of the five.
    pub overall: f64,
    /// Traffic (site visits + content views), scaled to 30 days for the comparison.
    pub traffic: Versus<u64>,
    /// Exposures, scaled to 30 days.
    pub exposure: Versus<u64>,
    /// Engagement rate.
    pub engagement_rate: Versus<Decimal>,
    /// Lead acquisition cost (None without leads).
    pub cost_per_lead: Versus<Option<Money>>,
    /// Channel figures.
    pub channels: Vec<ChannelExposure>,
    /// Daily figures.
    pub daily: Vec<DailyMetrics>,
    /// What to do next.
    pub recommendations: Vec<String>,
    /// Where the peer figures come from.
    pub benchmark_source: String,
}

fn ratio(a: Decimal, b: Decimal) -> Option<Decimal> {
    if b.is_zero() {
        None
    } else {
        a.checked_div(b).map(|r| r.round_dp(2))
    }
}

fn clamp100(x: f64) -> f64 {
    (x.clamp(0.0, 100.0) * 10.0).round() / 10.0
}

/// The sum of `values`, or a validation error on `field` when it does not fit in a `u64`.
fn total(field: &str, values: impl IntoIterator<Item = u64>) -> Result<u64> {
    values
        .into_iter()
        .try_fold(0u64, u64::checked_add)
        .ok_or_else(|| ContentError::validation(field, "the total does not fit in 64 bits"))
}

fn share(x: f64, field: &str) -> Result<f64> {
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(ContentError::validation(
            field,
            "must be a share within 0..1",
        ))
    }
}

/// Compute the evaluation.
///
/// # Errors
/// Validation errors (period, shares outside 0..1, negative spend, rating outside 0..5), and
/// [`marketingforce_core::Error::NotFound`] when there is no benchmark for the industry.
pub fn evaluate(input: &EvaluationInput, peers: &PeerBenchmarks) -> Result<EvaluationReport> {
    if input.to < input.from {
        return Err(ContentError::validation(
            "to",
            "the period ends before it starts",
        ));
    }
    input.spend.ensure_non_negative("spend")?;
    share(
        input.promotion.inquiry_response_rate,
        "promotion.inquiry_response_rate",
    )?;
    share(
        input.information.pages_with_specs,
        "information.pages_with_specs",
    )?;
    share(
        input.information.updated_recently,
        "information.updated_recently",
    )?;
    if input
        .reputation
        .rating
        .is_some_and(|r| !(0.0..=5.0).contains(&r))
    {
        return Err(ContentError::validation(
            "reputation.rating",
            "must be within 0..5",
        ));
    }
    let peer = peers
        .get(&input.industry)
        .ok_or_else(|| marketingforce_core::Error::not_found("peer benchmark", &input.industry))?;
    if peer.cost_per_lead.currency() != input.spend.currency() {
        return Err(ContentError::validation(
            "spend",
            format!(
                "currency {} differs from the benchmark's {}",
                input.spend.currency().code(),
                peer.cost_per_lead.currency().code()
            ),
        ));
    }
    let days = (input.to - input.from).num_days() + 1;
    let per30 = |x: u64| -> u64 { (x as f64 * 30.0 / days as f64).round() as u64 };
    let views = total("channels[].views", input.channels.iter().map(|c| c.views))?;
    let exposures = total(
        "channels[].exposures",
        input.channels.iter().map(|c| c.exposures),
    )?;
    let engagements = total(
        "channels[].engagements",
        input.channels.iter().map(|c| c.engagements),
    )?;
    let visits = total("site_visits", [input.site_visits, views])?;
    let rep = &input.reputation;
    let reviews = total("reputation", [rep.positive, rep.neutral, rep.negative])?;

    // 1. Site.
    let s = &input.site;
    let mut site = 0.0;
    let mut site_f = Vec::new();
    for (has, pts, yes, no) in [
        (s.mobile_site, 15.0, "有手机站", "缺少手机站"),
        (s.mini_program, 10.0, "有小程序", "缺少小程序"),
        (s.h5_pages, 10.0, "有H5页面", "缺少H5活动页"),
        (s.multilingual, 10.0, "支持多语言", "仅单一语言"),
        (s.https, 10.0, "全站HTTPS", "未启用HTTPS"),
        (s.contact_forms, 15.0, "有询盘表单", "缺少询盘表单"),
        (s.online_chat, 15.0, "有在线客服", "缺少在线客服"),
    ] {
        if has {
            site += pts;
        }
        site_f.push(if has { yes } else { no }.to_string());
    }
    site += match s.page_load_ms {
        0..=1500 => 15.0,
        1501..=3000 => 8.0,
        _ => 0.0,
    };
    site_f.push(format!(
        "页面加载约{:.1}秒",
        f64::from(s.page_load_ms) / 1000.0
    ));

    // 2. Exposure: diminishing returns on exposure relative to peers, plus channel breadth.
    let r = per30(exposures) as f64 / peer.exposure.max(1) as f64;
    let active = input.channels.iter().filter(|c| c.publications > 0).count();
    let exposure_score =
        100.0 * (1.0 - (-0.7 * r).exp()) + 5.0 * (active.saturating_sub(1).min(3)) as f64;
    let exposure_f = vec![
        format!("30天曝光约为同行中位数的{:.0}%", r * 100.0),
        format!("{active}个渠道有发布"),
    ];

    // 3. Promotion and service.
    let p = &input.promotion;
    let promo = 20.0 * (f64::from(p.products_listed) / 20.0).min(1.0)
        + 20.0 * (f64::from(p.content_published) / 30.0).min(1.0)
        + match p.avg_response_minutes {
            0..=5 => 25.0,
            6..=30 => 15.0,
            31..=120 => 5.0,
            _ => 0.0,
        }
        + match p.service_hours_per_day {
            12.. => 15.0,
            8..=11 => 10.0,
            _ => 3.0,
        }
        + 20.0 * p.inquiry_response_rate;
    let promo_f = vec![
        format!(
            "上架产品{}个，发布内容{}篇",
            p.products_listed, p.content_published
        ),
        format!(
            "平均{}分钟首次响应，询盘响应率{:.0}%",
            p.avg_response_minutes,
            p.inquiry_response_rate * 100.0
        ),
    ];

    // 4. Reputation.
    let reviews = reviews.max(1) as f64;
    let net = (rep.positive as f64 - rep.negative as f64) / reviews;
    let mut reputation = 50.0 + 50.0 * net;
    if let Some(rating) = rep.rating {
        reputation = 0.5 * reputation + 0.5 * rating / 5.0 * 100.0;
    }
    let negative_share = rep.negative as f64 / reviews;
    if negative_share > 0.2 {
        reputation -= 10.0;
    }
    let rep_f = vec![format!(
        "正面{}条、中性{}条、负面{}条（负面占{:.0}%）",
        rep.positive,
        rep.neutral,
        rep.negative,
        negative_share * 100.0
    )];

    // 5. Information.
    let inf = &input.information;
    let information = 30.0 * inf.pages_with_specs
        + 30.0 * inf.updated_recently
        + 20.0 * (f64::from(inf.faq_entries) / 20.0).min(1.0)
        + 20.0 * (f64::from(inf.case_studies) / 10.0).min(1.0);
    let inf_f = vec![
        format!(
            "{:.0}%的产品页参数完整，{:.0}%的页面近30天更新",
            inf.pages_with_specs * 100.0,
            inf.updated_recently * 100.0
        ),
        format!("常见问题{}条，案例{}个", inf.faq_entries, inf.case_studies),
    ];

    let scores = [site, exposure_score, promo, reputation, information];
    let findings = [site_f, exposure_f, promo_f, rep_f, inf_f];
    let aspects: Vec<AspectResult> = Aspect::ALL
        .iter()
        .zip(scores)
        .zip(findings)
        .map(|((a, s), f)| AspectResult {
            aspect: *a,
            score: clamp100(s),
            peer: peer.aspects.get(*a),
            findings: f,
        })
        .collect();
    let overall = clamp100(aspects.iter().map(|a| a.score).sum::<f64>() / 5.0);

    let traffic = per30(visits);
    let exposure = per30(exposures);
    let engagement_rate = if views == 0 {
        Decimal::ZERO
    } else {
        (Decimal::from(engagements) / Decimal::from(views)).round_dp(4)
    };
    let cpl = if input.leads == 0 {
        None
    } else {
        Some(
            input
                .spend
                .checked_div(Decimal::from(input.leads))?
                .round(RoundingMode::HalfUp),
        )
    };
    let cpl_ratio = cpl
        .as_ref()
        .and_then(|c| ratio(c.amount(), peer.cost_per_lead.amount()));

    let mut recommendations = Vec::new();
    let mut weakest: Vec<&AspectResult> = aspects.iter().filter(|a| a.score < a.peer).collect();
    weakest.sort_by(|a, b| (a.score - a.peer).total_cmp(&(b.score - b.peer)));
    for a in weakest.iter().take(2) {
        recommendations.push(match a.aspect {
            Aspect::Site => {
                "补齐官网营销功能：手机站、询盘表单和在线客服直接影响线索转化。".to_string()
            }
            Aspect::Exposure => {
                "扩大渠道覆盖：按渠道推荐增加行业垂直站与长尾B2B站的发布量。".to_string()
            }
            Aspect::PromotionService => {
                "提升响应速度：询盘首次响应控制在5分钟内，延长客服在线时段。".to_string()
            }
            Aspect::Reputation => "经营口碑：及时回应负面评价，引导满意客户发布评价。".to_string(),
            Aspect::Information => {
                "完善信息：补全产品参数，定期更新页面，增加常见问题和客户案例。".to_string()
            }
        });
    }
    if cpl_ratio.is_some_and(|r| r > Decimal::ONE) {
        recommendations
            .push("线索成本高于同行：把预算向询盘成本低的渠道倾斜（动态渠道组合）。".into());
    }
    if input.leads == 0 {
        recommendations.push("本期没有获得线索：检查内容中的联系方式与询盘入口。".into());
    }
    if recommendations.is_empty() {
        recommendations.push("各项表现优于同行中位数：保持发布节奏，持续监测异常波动。".into());
    }

    Ok(EvaluationReport {
        company: input.company.clone(),
        industry: input.industry.clone(),
        from: input.from,
        to: input.to,
        aspects,
        overall,
        traffic: Versus {
            value: traffic,
            peer: peer.traffic,
            ratio: ratio(Decimal::from(traffic), Decimal::from(peer.traffic)),
        },
        exposure: Versus {
            value: exposure,
            peer: peer.exposure,
            ratio: ratio(Decimal::from(exposure), Decimal::from(peer.exposure)),
        },
        engagement_rate: Versus {
            value: engagement_rate,
            peer: peer.engagement_rate,
            ratio: ratio(engagement_rate, peer.engagement_rate),
        },
        cost_per_lead: Versus {
            value: cpl,
            peer: Some(peer.cost_per_lead),
            ratio: cpl_ratio,
        },
        channels: input.channels.clone(),
        daily: input.daily.clone(),
        recommendations,
        benchmark_source: peers.source.clone(),
    })
}
