//! The script of the story: every price, rate, date and piece of content, as data.
//!
//! Prices come from the built-in catalog (DOMAIN.md): T Cloud Standard RMB 49,800 a year,
//! add-ons at their list prices, True Client Standard RMB 1,180 per account a year (at least 5).
//! The ad platform pays a 4% standard rebate plus quarterly progressive tiers; customers get 2%
//! (solution) and 3% (distribution) back — a net rebate rate near the 1.4–2.4% the business
//! typically earns.

use chrono::{DateTime, Utc};
use marketingforce::modules::products::BundleId;
use marketingforce_ads::agreement::{
    AgreementTerms, PlatformAgreementTerms, ServiceType, SettlementTerms,
};
use marketingforce_ads::campaign::{Budget, CampaignDraft, KpiTarget, Objective, Schedule};
use marketingforce_ads::party::{
    BusinessLicence, CreditRating, Financials, QualificationDossier, Reputation,
};
use marketingforce_ads::period::PeriodLength;
use marketingforce_ads::rebate::{
    CustomerRebatePolicy, PlatformRebatePolicy, ProgressiveRebate, RebatePayout, StandardRebate,
    Tier, TierBasis, TierSchedule,
};
use marketingforce_core::adapters::ad_platform::{Audience as AdAudience, Pricing, PricingModel};
use marketingforce_core::adapters::generation::{
    Audience, ContactDetails, ImageRequest, Materials, ProductSpec, TextRequest,
};
use marketingforce_core::money::{Currency, Money, Rate};
use marketingforce_modules::catalog::ModuleId;
use marketingforce_modules::channel::{CommissionPlan, PartnerTerms, Region};
use marketingforce_modules::pricing::{QuoteRequest, Term};

use super::cast::{day, shanghai, PARTNER};
use super::error::Result;

/// Money from a literal of the script.
pub(crate) fn cny(amount: &str) -> Result<Money> {
    Ok(Money::cny(amount)?)
}

/// A rate literal of the script (`"4%"`).
pub(crate) fn rate(text: &str) -> Result<Rate> {
    Ok(text.parse::<Rate>()?)
}

/// When the story starts: Monday 2 March 2026, 09:00 in Shanghai.
pub fn start_of_story() -> DateTime<Utc> {
    shanghai(day(3, 2), 9, 0)
}

// ---- Subscriptions -----------------------------------------------------------------------

/// Tenant A's order: T Cloud Standard with lead management, membership and social fission
/// (RMB 49,800 + 5,800 + 9,800 + 7,800 = 73,200), 12 months from 3 March.
pub fn jinggong_quote() -> QuoteRequest {
    let mut q = QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(day(3, 3), 12));
    q.add_ons = vec![
        ModuleId::LEAD_MANAGEMENT,
        ModuleId::MEMBERSHIP,
        ModuleId::SOCIAL_FISSION,
    ];
    q
}

/// Tenant B's order: True Client Standard, 8 accounts × RMB 1,180 = 9,440, 12 months.
pub fn yunfan_quote() -> QuoteRequest {
    let mut q = QuoteRequest::new(BundleId::TRUECLIENT_STANDARD, Term::new(day(3, 3), 12));
    q.accounts = Some(8);
    q
}

/// The channel partner: Jiangsu and Zhejiang, 65% commission, RMB 100,000 prepaid.
pub fn partner_terms() -> Result<PartnerTerms> {
    Ok(PartnerTerms {
        name: PARTNER.into(),
        areas: vec![Region::new("CN-32")?, Region::new("CN-33")?],
        commission: rate("65%")?,
        prepayment: cny("100000")?,
        on: day(3, 2),
    })
}

/// Tenant B's region (Suzhou, Jiangsu): inside the partner's area.
pub fn yunfan_region() -> Result<Region> {
    Ok(Region::new("CN-32-05")?)
}

/// Direct sales commission: 20% of new contract value, 8% of renewals.
pub fn commission_plan() -> Result<CommissionPlan> {
    Ok(CommissionPlan {
        new_rate: rate("20%")?,
        renewal_rate: rate("8%")?,
    })
}

// ---- Content ----------------------------------------------------------------------------

/// The industry key of tenant A's content.
pub const INDUSTRY: &str = "industrial-machinery";
/// Tenant A's account name on every channel.
pub const CHANNEL_ACCOUNT: &str = "jinggong-official";
/// The campaign inquiries are attributed to.
pub const CONTENT_CAMPAIGN: &str = "2026-spring-xk850";
/// How many channels each article goes to (the top of the recommendation).
pub const CHANNELS_PER_ARTICLE: usize = 3;

/// Tenant A's materials: product, specifications, use cases, regions, contact.
pub fn materials() -> Materials {
    Materials {
        product_name: Some("XK-850 立式加工中心".into()),
        product_specs: vec![
            ProductSpec {
                name: "工作台尺寸".into(),
                value: "1000 × 500 mm".into(),
            },
            ProductSpec {
                name: "主轴转速".into(),
                value: "12000 rpm".into(),
            },
            ProductSpec {
                name: "定位精度".into(),
                value: "±0.005 mm".into(),
            },
        ],
        use_cases: vec!["汽车零部件加工".into(), "模具加工".into()],
        regions: vec!["上海".into(), "江苏".into(), "浙江".into()],
        highlights: vec!["长三角 48 小时上门服务".into()],
        contact: Some(ContactDetails {
            company: Some(super::cast::JINGGONG.into()),
            phone: Some("021-5888 6666".into()),
            website: Some("https://www.jinggong.example.cn".into()),
            ..ContactDetails::default()
        }),
        links: vec![],
        notes: None,
    }
}

/// The six articles T-text drafts: (content id, topic, keywords).
pub const ARTICLES: [(&str, &str, &[&str]); 6] = [
    (
        "article-1",
        "立式加工中心选购指南",
        &["立式加工中心", "选购"],
    ),
    (
        "article-2",
        "汽车零部件加工如何提升良率",
        &["汽车零部件", "加工中心"],
    ),
    (
        "article-3",
        "模具行业的高速加工方案",
        &["模具加工", "高速加工"],
    ),
    ("article-4", "数控机床日常保养清单", &["数控机床", "保养"]),
    (
        "article-5",
        "长三角设备更新补贴政策解读",
        &["设备更新", "补贴"],
    ),
    (
        "article-6",
        "XK-850 用户案例：效率提升三成",
        &["XK-850", "用户案例"],
    ),
];

/// The headline the marketer first wrote for article 6, before compliance review: two absolute
/// claims the Advertising Law forbids.
pub const UNLAWFUL_TITLE: &str = "XK-850：全国第一的最好加工中心";

/// The request of article `n` (0-based).
pub fn article_request(n: usize) -> Option<TextRequest> {
    ARTICLES.get(n).map(|(_, topic, keywords)| {
        TextRequest::new(INDUSTRY, *topic)
            .keywords(keywords.iter().copied())
            .materials(materials())
            .audience(Audience::B2b)
            .seed(100 + n as u64)
    })
}

/// The T-image poster of the spring order fair (deterministic: seeded).
pub fn poster_request() -> ImageRequest {
    let mut req = ImageRequest::poster(INDUSTRY, "XK-850 立式加工中心 春季订货会");
    req.subheadline = Some("定位精度 ±0.005 mm · 主轴 12000 rpm".into());
    req.body = vec![
        "汽车零部件 / 模具加工 一机多用".into(),
        "长三角 48 小时上门服务".into(),
        "订货会期间 预约现场试切".into(),
    ];
    req.call_to_action = Some("扫码预约现场演示".into());
    req.contact = Some("021-5888 6666 · 上海精工机械".into());
    req.seed = Some(7);
    req
}

// ---- Ads ----------------------------------------------------------------------------------

/// The simulated ad platform's code.
pub const AD_PLATFORM_CODE: &str = "sim-video";
/// Its display name.
pub const AD_PLATFORM_NAME: &str = "短视频广告平台(模拟)";

/// The platform's rebates: 4% of spend monthly as prepayment credit, plus quarterly marginal
/// tiers on the agency's gross spend (0% to 50k, 1% to 200k, 2% above).
pub fn platform_rebate_policy() -> PlatformRebatePolicy {
    let money = |s: &str| Money::cny(s).unwrap_or(Money::zero(Currency::CNY));
    let pct = |s: &str| s.parse::<Rate>().unwrap_or(Rate::ZERO);
    PlatformRebatePolicy {
        standard: StandardRebate {
            rate: pct("4%"),
            settlement: PeriodLength::Monthly,
            payout: RebatePayout::PrepaymentCredit,
        },
        progressive: Some(ProgressiveRebate {
            period: PeriodLength::Quarterly,
            schedule: TierSchedule {
                basis: TierBasis::Marginal,
                tiers: vec![
                    Tier {
                        from: money("0"),
                        to: Some(money("50000")),
                        rate: pct("0%"),
                    },
                    Tier {
                        from: money("50000"),
                        to: Some(money("200000")),
                        rate: pct("1%"),
                    },
                    Tier {
                        from: money("200000"),
                        to: None,
                        rate: pct("2%"),
                    },
                ],
            },
            payout: RebatePayout::PrepaymentCredit,
        }),
    }
}

/// Our 2026 agreement with the platform: prepaid, CPC and CPM.
pub fn platform_agreement() -> PlatformAgreementTerms {
    PlatformAgreementTerms {
        start: day(1, 1),
        end: day(12, 31),
        currency: Currency::CNY,
        pricing_models: vec![PricingModel::Cpc, PricingModel::Cpm],
        settlement_terms: SettlementTerms::Prepay,
        rebate_policy: platform_rebate_policy(),
    }
}

/// What we prepay the platform.
pub fn platform_prepayment() -> Result<Money> {
    cny("300000")
}

/// An advertiser of the story.
#[derive(Debug, Clone, Copy)]
pub struct Advertiser {
    /// Key prefix of its commands.
    pub key: &'static str,
    /// Name.
    pub name: &'static str,
    /// First 17 characters of its unified social credit code.
    pub licence17: &'static str,
    /// Industry.
    pub industry: &'static str,
    /// Solution (gross basis) or distribution (net basis).
    pub service: ServiceType,
    /// Rebate to the customer.
    pub rebate: &'static str,
    /// Credit terms in days.
    pub credit_days: u32,
    /// Credit limit.
    pub credit_limit: &'static str,
    /// What it prepays us before the campaign (distribution customers fund their top-ups).
    pub prepays: Option<&'static str>,
    /// The top-up of its account.
    pub top_up: &'static str,
}

/// The two advertisers: tenant A's company buys a solution (we plan, produce and commit to a
/// cost per click); an e-commerce brand buys distribution (it picks the placements).
pub const ADVERTISERS: [Advertiser; 2] = [
    Advertiser {
        key: "adv-jinggong",
        name: super::cast::JINGGONG,
        licence17: "91310000MA1FL8XQ3",
        industry: INDUSTRY,
        service: ServiceType::Solution,
        rebate: "2%",
        credit_days: 90,
        credit_limit: "300000",
        prepays: None,
        top_up: "120000",
    },
    Advertiser {
        key: "adv-youpin",
        name: super::cast::DISTRIBUTION_ADVERTISER,
        licence17: "91330100MA2B3C4D5",
        industry: "retail",
        service: ServiceType::Distribution,
        rebate: "3%",
        credit_days: 60,
        credit_limit: "200000",
        prepays: Some("100000"),
        top_up: "100000",
    },
];

/// The framework agreement of an advertiser: one year from 1 March.
pub fn agreement(a: &Advertiser) -> Result<AgreementTerms> {
    Ok(AgreementTerms {
        service_type: a.service,
        start: day(3, 1),
        end: chrono::NaiveDate::from_ymd_opt(2027, 2, 28).unwrap_or(day(12, 31)),
        auto_renew: true,
        credit_terms_days: a.credit_days,
        credit_exception: None,
        credit_limit: cny(a.credit_limit)?,
        customer_rebate: CustomerRebatePolicy::Fixed {
            rate: rate(a.rebate)?,
        },
    })
}

/// The qualification dossier every advertiser presents.
pub fn dossier(name: &str, licence: &str, industry: &str) -> Result<QualificationDossier> {
    Ok(QualificationDossier {
        licence: BusinessLicence {
            number: licence.to_string(),
            registered_name: name.to_string(),
            expires_on: None,
        },
        industry: industry.to_string(),
        permits: vec![],
        reputation: Reputation::default(),
        credit_rating: CreditRating::A,
        financials: Financials {
            net_assets: cny("8000000")?,
            debt_ratio: rate("45%")?,
            loss_making_years: 0,
        },
    })
}

/// The campaign of an advertiser, from 4 March.
pub fn campaign(a: &Advertiser) -> Result<CampaignDraft> {
    let (name, pricing, daily, kpis, audience) = match a.service {
        ServiceType::Solution => (
            "XK-850 搜索引流",
            Pricing::Cpc {
                max_bid: cny("1.20")?,
            },
            "3000",
            vec![KpiTarget::MaxCpc { max: cny("0.87")? }],
            "长三角制造业采购与设备负责人",
        ),
        ServiceType::Distribution => (
            "春季上新 信息流",
            Pricing::Cpm {
                max_bid: cny("30")?,
            },
            "2000",
            vec![],
            "一二线城市 25-40 岁女性",
        ),
    };
    Ok(CampaignDraft {
        name: name.into(),
        objective: Objective::Traffic,
        budget: Budget {
            daily: Some(cny(daily)?),
            total: None,
        },
        schedule: Schedule {
            start: day(3, 4),
            end: None,
            hours: vec![],
        },
        audience: AdAudience {
            description: audience.into(),
            estimated_daily_reach: Some(300_000),
            ..AdAudience::default()
        },
        pricing,
        kpis,
    })
}

/// Staff costs of March allocated to these two customers per service type (campaign planning
/// and creative for the solution, account service for distribution).
pub fn staff_costs() -> Result<[(ServiceType, Money); 2]> {
    Ok([
        (ServiceType::Solution, cny("1200")?),
        (ServiceType::Distribution, cny("300")?),
    ])
}

// ---- Tenant B's own leads -------------------------------------------------------------------

const SURNAMES: [&str; 12] = [
    "张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴", "徐", "孙",
];
const GIVEN: [&str; 12] = [
    "伟", "芳", "娜", "敏", "静", "磊", "军", "洋", "勇", "艳", "杰", "涛",
];
const COMPANIES: [&str; 8] = [
    "苏州华盛精密制造有限公司",
    "无锡恒通机电有限公司",
    "常州博远自动化设备有限公司",
    "上海申联五金有限公司",
    "杭州远航机械有限公司",
    "南京金鼎设备工程有限公司",
    "宁波东海工贸有限公司",
    "合肥皖能电气有限公司",
];
const REGIONS: [&str; 8] = [
    "江苏", "江苏", "江苏", "上海", "浙江", "江苏", "浙江", "安徽",
];

/// A lead tenant B captures itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnLead {
    /// Person name.
    pub name: String,
    /// Mobile.
    pub mobile: String,
    /// Company.
    pub company: &'static str,
    /// Region.
    pub region: &'static str,
    /// WeCom external id, for WeCom contacts.
    pub wecom_id: Option<String>,
}

fn own_lead(n: usize, mobile: String) -> OwnLead {
    OwnLead {
        name: format!("{}{}", SURNAMES[n % 12], GIVEN[(n * 5 + 1) % 12]),
        mobile,
        company: COMPANIES[n % COMPANIES.len()],
        region: REGIONS[n % REGIONS.len()],
        wecom_id: None,
    }
}

/// Twelve inquiries through tenant B's own site form.
pub fn site_leads() -> Vec<OwnLead> {
    (0..12)
        .map(|n| own_lead(n, format!("1391234{:04}", 1000 + n * 37)))
        .collect()
}

/// Five WeCom contacts: two are people who also filled in the site form (same mobile).
pub fn wecom_contacts() -> Vec<OwnLead> {
    let site = site_leads();
    (0..5)
        .map(|n| {
            let mut l = match n {
                0 | 1 => site[n * 3].clone(),
                _ => own_lead(n + 12, format!("1376655{:04}", 2000 + n * 41)),
            };
            l.wecom_id = Some(format!("wmYunfan{n:03}"));
            l
        })
        .collect()
}

/// The expo visitor list tenant B imports (CSV): seven new rows, one visitor who already filled
/// in the site form, and two bad rows (a mobile too short, a row with no identity at all).
pub fn import_csv() -> String {
    let mut rows = vec!["name,mobile,company,region,product,campaign".to_string()];
    for n in 0..7 {
        let l = own_lead(n + 20, format!("1865432{:04}", 3000 + n * 53));
        rows.push(format!(
            "{},{},{},{},工业轴承,2026 苏州工业展",
            l.name, l.mobile, l.company, l.region
        ));
    }
    let dup = &site_leads()[5];
    rows.push(format!(
        "{},{},{},{},气动元件,2026 苏州工业展",
        dup.name, dup.mobile, dup.company, dup.region
    ));
    rows.push("钱多多,1234,某某公司,江苏,工业轴承,2026 苏州工业展".into());
    rows.push(",,,江苏,工业轴承,2026 苏州工业展".into());
    rows.join("\n")
}

/// Rows of [`import_csv`] that must be rejected.
pub const IMPORT_BAD_ROWS: usize = 2;

/// Every piece of personal data the story feeds in by script — the staff's names, and the
/// names, mobiles and WeCom ids of the leads captured through the site form, WeCom, the CSV
/// import and referrals — for tests that check it never leaks into derived data (telemetry,
/// errors, events). Inquiries from the simulated content channels carry generated contacts of
/// their own and are not listed.
pub fn personal_data() -> Vec<String> {
    let cast = crate::scenario::Cast::new(0);
    let mut out: Vec<String> = cast
        .a_staff
        .iter()
        .chain(&cast.b_staff)
        .map(|p| p.name.to_string())
        .collect();
    let mut lead = |l: &OwnLead| {
        out.push(l.name.clone());
        out.push(l.mobile.clone());
        out.extend(l.wecom_id.clone());
    };
    site_leads().iter().for_each(&mut lead);
    wecom_contacts().iter().for_each(&mut lead);
    (0..7)
        .map(|n| own_lead(n + 20, format!("1865432{:04}", 3000 + n * 53)))
        .for_each(|l| lead(&l));
    for n in 0..3 {
        out.push(format!("推荐客户{}", n + 1));
        out.push(format!("1358800{:04}", 4000 + n * 61));
    }
    out.sort();
    out.dedup();
    out
}
