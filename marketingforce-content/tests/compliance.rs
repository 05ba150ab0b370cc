//! Compliance checker: planted terms are found under every evasion transform it claims to
//! handle, and a clean corpus of ordinary marketing text raises nothing.

use marketingforce_content::compliance::normalize::normalize_term;
use marketingforce_content::compliance::{
    ComplianceChecker, Decision, ExemptionKind, Lexicon, Severity,
};
use proptest::prelude::*;

/// Ordinary marketing text, Chinese and English, with the ordinals, technical parameters and
/// official designations that must not be flagged.
pub const CLEAN_CORPUS: &[&str] = &[
    "我们专注数控机床研发与制造二十年，产品覆盖汽车零部件、模具和航空航天等行业。",
    "第一步，明确加工需求；第二步，安排技术人员上门勘察；第三步，出具方案和报价。",
    "设备最大功率为15千瓦，最大加工直径为500毫米，主轴转速可达12000转每分钟。",
    "公司是国家级高新技术企业，拥有多项发明专利和实用新型专利。",
    "这款空调达到一级能效，夏季制冷、冬季制热都很省电。",
    "我们将在第一时间响应您的售后需求，工程师两小时内联系您。",
    "系统为每条线索分配唯一标识，方便销售团队跟进和统计。",
    "上季度线上询盘数量同比增长100%，转化周期缩短了一周。",
    "欢迎来电咨询，也可以添加企业微信，获取产品手册和案例资料。",
    "环氧地坪涂料适用于厂房、仓库和停车场，施工周期短，耐磨性好。",
    "培训课程由资深讲师授课，学员可以在线回看，随时复习。",
    "本系统支持多语言站点，一键生成电脑端和手机端页面。",
    "在长三角地区，我们设有三个服务网点，提供上门安装和调试。",
    "这份白皮书介绍了营销自动化的基本流程和常见问题。",
    "产品通过了第三方检测机构的检测，检测报告可以在官网下载。",
    "我们的客户包括制造、教育、零售等多个行业的企业。",
    "春节期间正常发货，订单将按下单顺序依次处理。",
    "会员可以享受专属客服和优先排期服务。",
    "请在表单中留下联系方式，我们的顾问会尽快与您沟通。",
    "支持防暴力破解的登录保护，账号安全更有保障。",
    "第一季度新签客户二十余家，续约率保持稳定。",
    "设备采用永久磁铁同步电机，运行噪音低，维护简单。",
    "测量结果以绝对值表示，误差控制在允许范围内。",
    "本公司最新一代产品将在展会上首次亮相，欢迎莅临参观。",
    "Our CNC machining centers serve automotive and mold makers across the Yangtze River Delta.",
    "Step one: tell us about your parts. Step two: we send a quotation within two days.",
    "The desktop 1 configuration ships with a 27-inch monitor and a wireless keyboard.",
    "We are a trusted partner for hundreds of manufacturers in East China.",
    "Download the product brochure or book a live demo with our engineers.",
    "Model No. 1234 offers a spindle speed of 12,000 rpm and a 24-tool magazine.",
    "Our support team replies within one business day.",
    "Read the case study to learn how a packaging plant cut setup time by a third.",
    "Contact us at sales@example.cn or call 0512-6000 0000.",
    "The stop button is on top of the control panel.",
    "Version 2.1 adds bulk export and scheduled reports.",
    "上海、江苏、浙江三地客户可以预约免费试用。",
    "平台提供数据看板，帮助市场团队跟踪曝光、访问和询盘。",
    "为了保障交付质量，每台设备出厂前都要经过72小时连续运行测试。",
];

fn checker() -> ComplianceChecker {
    ComplianceChecker::new(&[&Lexicon::builtin()], None).unwrap()
}

#[test]
fn clean_corpus_raises_nothing() {
    let c = checker();
    for (i, s) in CLEAN_CORPUS.iter().enumerate() {
        let r = c.scan(s);
        assert!(
            r.findings.is_empty(),
            "sentence {i} {s:?}: {:?}",
            r.findings
        );
        assert_eq!(r.decision, Decision::Approved);
    }
    let all = CLEAN_CORPUS.join("");
    assert!(c.scan(&all).findings.is_empty());
}

#[derive(Debug, Clone, Copy)]
enum Transform {
    Plain,
    FullWidth,
    Spaces,
    Symbols,
    ZeroWidth,
    MixedCase,
    All,
}

fn full_width(c: char) -> char {
    match c {
        ' ' => '\u{3000}',
        '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
        c => c,
    }
}

const SPACES: &[&str] = &[" ", "\u{3000}", "\t", "\u{00A0}", "  "];
const SYMBOLS: &[&str] = &[
    "*", "·", "-", "_", "~", "|", "/", "★", "※", "•", "．", "＊", "♥", "◆",
];
const ZERO_WIDTH: &[&str] = &["\u{200B}", "\u{200C}", "\u{200D}", "\u{FEFF}", "\u{2060}"];

fn apply(term: &str, t: Transform, picks: &[usize]) -> String {
    let chars: Vec<char> = term.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let p = picks[i % picks.len()];
        let c = match t {
            Transform::FullWidth | Transform::All => full_width(c),
            _ => c,
        };
        let c = match t {
            Transform::MixedCase | Transform::All if p & 1 == 0 => c.to_ascii_uppercase(),
            Transform::MixedCase | Transform::All => c.to_ascii_lowercase(),
            _ => c,
        };
        out.push(c);
        let gap = p % 3;
        if i + 1 < chars.len() && gap >= 1 {
            let ins = match t {
                Transform::Spaces => SPACES[p % SPACES.len()],
                Transform::Symbols => SYMBOLS[p % SYMBOLS.len()],
                Transform::ZeroWidth => ZERO_WIDTH[p % ZERO_WIDTH.len()],
                Transform::All => [
                    SPACES[p % SPACES.len()],
                    SYMBOLS[p % SYMBOLS.len()],
                    ZERO_WIDTH[p % ZERO_WIDTH.len()],
                ][p % 3],
                _ => "",
            };
            out.push_str(ins);
        }
    }
    out
}

fn transform() -> impl Strategy<Value = Transform> {
    prop_oneof![
        Just(Transform::Plain),
        Just(Transform::FullWidth),
        Just(Transform::Spaces),
        Just(Transform::Symbols),
        Just(Transform::ZeroWidth),
        Just(Transform::MixedCase),
        Just(Transform::All),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every listed term, planted between two clean sentences under any handled evasion, is found
    /// exactly where it was planted, and nothing else is.
    #[test]
    fn planted_terms_are_found_under_every_evasion(
        term_ix in any::<prop::sample::Index>(),
        at in 0usize..CLEAN_CORPUS.len(),
        t in transform(),
        picks in prop::collection::vec(0usize..1000, 1..8),
    ) {
        let c = checker();
        let terms: Vec<&str> = c.terms().collect();
        let term = terms[term_ix.index(terms.len())];
        let planted = apply(term, t, &picks);
        let mut text = String::new();
        for s in &CLEAN_CORPUS[..at] { text.push_str(s); }
        text.push('。');
        let start = text.len();
        text.push_str(&planted);
        let end = text.len();
        text.push('。');
        for s in &CLEAN_CORPUS[at..] { text.push_str(s); }

        let r = c.scan(&text);
        prop_assert_eq!(r.findings.len(), 1, "{:?} as {:?} in {:?}: {:?}", term, planted, t, r.findings);
        let f = &r.findings[0];
        prop_assert_eq!((f.byte_start, f.byte_end), (start, end));
        prop_assert_eq!(&f.matched, &planted);
        prop_assert_eq!(normalize_term(&f.term), normalize_term(term));
        prop_assert_eq!(f.char_start, text[..start].chars().count());
        prop_assert_eq!(f.char_end, text[..end].chars().count());
        prop_assert_ne!(r.decision, Decision::Approved);
    }
}

#[test]
fn severities_lead_to_decisions_and_replacements_fix_the_text() {
    let c = checker();
    let r = c.scan("这款降血压保健品效果明显。");
    assert_eq!(r.decision, Decision::NeedsHumanReview);
    assert!(r.findings.iter().all(|f| f.severity == Severity::Review));
    assert!(r.findings.iter().any(|f| f.law.contains("第十八条")));
    let text = "我们的服务最 好，价格最便宜，是客户的首选。";
    let r = c.scan(text);
    assert_eq!(r.decision, Decision::Rejected);
    let fixed = c.apply_replacements(text, &r.findings);
    assert_eq!(fixed, "我们的服务优质，价格实惠，是客户的推荐。");
    assert!(c.is_clean(&fixed));
    // Terms without an alternative are left for the author.
    let r = c.scan("全国第一的品牌");
    assert_eq!(r.findings[0].replacement, None);
    assert_eq!(
        c.apply_replacements("全国第一的品牌", &r.findings),
        "全国第一的品牌"
    );
}

#[test]
fn tenant_and_industry_lists_extend_the_base() {
    let base = Lexicon::builtin();
    let tenant = Lexicon::from_json(
        r#"{"version":1,"name":"tenant-acme",
            "terms":[{"term":"秒杀全场","category":"absolute","replacement":"限时优惠"},
                     {"term":"包治百病","category":"medicine","industries":["health"]}],
            "exemptions":[{"kind":"trademark","phrases":["第一坊"],"note":"注册商标"}]}"#,
    )
    .unwrap();
    let c = ComplianceChecker::new(&[&base, &tenant], None).unwrap();
    assert_eq!(c.lexicon_names(), "advertising-law-cn@1+tenant-acme@1");
    let r = c.scan("第一坊新品秒杀全场");
    assert_eq!(r.findings.len(), 1, "{r:?}");
    assert_eq!(&*r.findings[0].term, "秒杀全场");
    assert_eq!(
        r.exempted[0].exemption.as_ref().unwrap().kind,
        ExemptionKind::Trademark
    );
    // Industry-only terms apply to that industry.
    assert!(c.scan("包治百病").findings.is_empty());
    let health = ComplianceChecker::new(&[&base, &tenant], Some("health")).unwrap();
    assert_eq!(health.scan("包治百病").decision, Decision::NeedsHumanReview);
}

#[test]
fn bad_lists_name_the_offending_path() {
    let base = Lexicon::builtin();
    let bad =
        Lexicon::from_json(r#"{"version":1,"name":"t","terms":[{"term":"x1","category":"nope"}]}"#)
            .unwrap();
    let e = ComplianceChecker::new(&[&base, &bad], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("layers[1].terms[0].category"), "{e}");
    let e = Lexicon::from_json(
        r#"{"version":1,"name":"t","terms":[{"term":" * ","category":"absolute"}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("terms[0].term"), "{e}");
    let e = Lexicon::from_json(
        r#"{"version":1,"name":"t","exemptions":[{"kind":"trademark","note":""}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("exemptions[0]"), "{e}");
    let bad = Lexicon::from_json(r#"{"version":1,"name":"t","exemptions":[{"kind":"trademark","terms":["不存在"],"phrases":["x"]}]}"#).unwrap();
    let e = ComplianceChecker::new(&[&base, &bad], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("layers[1].exemptions[0].terms[0]"), "{e}");
    assert!(Lexicon::from_json("{").is_err());
    let schema = serde_json::to_string(&Lexicon::json_schema()).unwrap();
    assert!(schema.contains("exemptions"));
}

#[tokio::test]
async fn referrals_are_decided_by_a_person_and_recorded_per_version() {
    use marketingforce_content::compliance::{
        ContentVersion, HumanDecision, ReviewService, Reviewer,
    };
    use std::sync::Arc;
    let clock = Arc::new(
        marketingforce_core::time::ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap(),
    );
    let store = Arc::new(marketingforce_core::storage::MemoryStore::new());
    let service = ReviewService::new(store, clock, Lexicon::builtin());
    let t = marketingforce_core::tenant::TenantId::new();
    let v = ContentVersion {
        content_id: "c".into(),
        version: 1,
        industry: None,
        title: "保健食品新品".into(),
        body: "增强免疫力。".into(),
    };
    let r = service.review(&t, &v, "k1").await.unwrap();
    assert_eq!(r.decision, Decision::NeedsHumanReview);
    // Replay returns the first record; the key for another content is refused.
    assert_eq!(service.review(&t, &v, "k1").await.unwrap(), r);
    let other = ContentVersion {
        content_id: "d".into(),
        ..v.clone()
    };
    assert!(service.review(&t, &other, "k1").await.is_err());
    let human = HumanDecision {
        decision: Decision::Approved,
        reviewer: "王审核".into(),
        note: "已取得保健食品广告批准文号".into(),
    };
    let decided = service
        .record_human_decision(&t, "c", 1, &human, "h1")
        .await
        .unwrap();
    assert_eq!(decided.decision, Decision::Approved);
    assert_eq!(decided.automatic_decision, Decision::NeedsHumanReview);
    assert!(matches!(decided.reviewer, Reviewer::Human { .. }));
    // An approved version cannot be decided again.
    let again = HumanDecision {
        decision: Decision::Rejected,
        ..human
    };
    assert!(service
        .record_human_decision(&t, "c", 1, &again, "h2")
        .await
        .is_err());
    assert_eq!(
        service
            .decision(&t, "c", 1)
            .await
            .unwrap()
            .unwrap()
            .decision,
        Decision::Approved
    );
    // A tenant list that does not compile is refused with its path.
    let bad =
        Lexicon::from_json(r#"{"version":1,"name":"t","terms":[{"term":"x1","category":"nope"}]}"#)
            .unwrap();
    assert!(service
        .set_tenant_lexicon(&t, bad)
        .await
        .unwrap_err()
        .to_string()
        .contains("layers[1].terms[0].category"));
}
