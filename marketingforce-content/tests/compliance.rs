//! Compliance checker: planted terms are found under every evasion transform it claims to
//! handle, a clean corpus of ordinary marketing text raises nothing, the articles of the
//! Advertising Law switch on with the advertiser's industry, the SAMR guideline's lawful uses
//! are recorded on the find, tenant lists cannot silently lower a Reject rule, bad data is
//! refused with its JSON path, huge texts are scanned in bounded memory, and the labelled
//! evaluation corpus meets its precision and recall floors.

use marketingforce_core::env::Env;
use marketingforce_core::IdempotencyKey;
use std::collections::BTreeSet;
use std::io::Read;

use marketingforce_content::compliance::normalize::normalize_term;
use marketingforce_content::compliance::{
    evaluate, regulated_industries, ComplianceChecker, Decision, EvalCorpus, ExemptionKind,
    Finding, Lexicon, Severity,
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
    static CHECKER: std::sync::OnceLock<ComplianceChecker> = std::sync::OnceLock::new();
    CHECKER
        .get_or_init(|| ComplianceChecker::new(&[&Lexicon::builtin()], None).unwrap())
        .clone()
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
    // A health product that needs pre-publication approval: a person reviews it.
    let r = c.scan("这款保健品每日两粒，增强免疫力。");
    assert_eq!(r.decision, Decision::NeedsHumanReview);
    assert!(r.findings.iter().all(|f| f.severity == Severity::Review));
    assert!(r.findings.iter().any(|f| f.article == Some(46)));
    // A disease-treatment claim outside a medical ad is an Art. 17 rejection.
    let r = c.scan("这款降血压保健品效果明显。");
    assert_eq!(r.decision, Decision::Rejected);
    assert!(r
        .findings
        .iter()
        .any(|f| f.article == Some(17) && f.law.contains("第十七条")));
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
                     {"term":"纯天然成分","category":"medicine","industries":["health"]}],
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
    assert!(c.scan("纯天然成分").findings.is_empty());
    let health = ComplianceChecker::new(&[&base, &tenant], Some("health")).unwrap();
    assert_eq!(
        health.scan("纯天然成分").decision,
        Decision::NeedsHumanReview
    );
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
    let service = ReviewService::new(&Env::builder(store).clock(clock).build());
    let t = marketingforce_core::tenant::TenantId::new();
    let v = ContentVersion {
        content_id: "c".into(),
        version: 1,
        industry: None,
        title: "保健食品新品".into(),
        body: "增强免疫力。".into(),
    };
    let r = service
        .review(&t, &v, &IdempotencyKey::from_static("k1"))
        .await
        .unwrap();
    assert_eq!(r.decision, Decision::NeedsHumanReview);
    // Replay returns the first record; the key for another content is refused.
    assert_eq!(
        service
            .review(&t, &v, &IdempotencyKey::from_static("k1"))
            .await
            .unwrap(),
        r
    );
    let other = ContentVersion {
        content_id: "d".into(),
        ..v.clone()
    };
    assert!(service
        .review(&t, &other, &IdempotencyKey::from_static("k1"))
        .await
        .is_err());
    let human = HumanDecision {
        decision: Decision::Approved,
        reviewer: "王审核".into(),
        note: "已取得保健食品广告批准文号".into(),
    };
    let decided = service
        .record_human_decision(&t, "c", 1, &human, &IdempotencyKey::from_static("h1"))
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
        .record_human_decision(&t, "c", 1, &again, &IdempotencyKey::from_static("h2"))
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

// --- coverage by article --------------------------------------------------------------------

/// Industries of the crate's own vocabulary and the regulated ones.
fn all_industries() -> Vec<Option<String>> {
    let mut v: Vec<Option<String>> = vec![None];
    for i in [
        "industrial-machinery",
        "chemicals",
        "software-saas",
        "building-materials",
        "education",
        "consumer-goods",
    ] {
        v.push(Some(i.to_string()));
    }
    v.extend(regulated_industries().into_iter().map(Some));
    v
}

#[test]
fn builtin_lists_cite_their_article_and_compile_for_every_industry() {
    let base = Lexicon::builtin_checked().unwrap();
    assert!(base.term_count() > 900, "{}", base.term_count());
    for c in &base.categories {
        assert!(!c.summary.trim().is_empty(), "{} has no summary", c.id);
        assert!(
            c.article.is_some() || !c.law.contains("《广告法》"),
            "{} cites the Advertising Law without an article",
            c.id
        );
    }
    let articles: BTreeSet<u16> = base.categories.iter().filter_map(|c| c.article).collect();
    for a in [9, 10, 16, 17, 18, 24, 25, 26, 28, 38, 46] {
        assert!(articles.contains(&a), "no category for Art. {a}");
    }
    for industry in all_industries() {
        let c = ComplianceChecker::new(&[&base], industry.as_deref()).unwrap();
        assert!(c.term_count() > 600, "{industry:?}: {}", c.term_count());
    }
}

fn articles(r: &[Finding]) -> Vec<Option<u16>> {
    r.iter().map(|f| f.article).collect()
}

#[test]
fn industry_layers_switch_on_with_the_industry() {
    let base = Lexicon::builtin();
    let for_industry = |i: &str| ComplianceChecker::new(&[&base], Some(i)).unwrap();
    // "安全无副作用": Art. 17 in an ordinary ad, Art. 16 for a hospital, Art. 18 for health food.
    let text = "纯植物配方，安全无副作用。";
    for (industry, article) in [("消费品", 17), ("医院", 16), ("保健食品", 18)] {
        let r = for_industry(industry).scan(text);
        assert_eq!(r.decision, Decision::Rejected, "{industry}");
        assert_eq!(articles(&r.findings), [Some(article)], "{industry}");
    }
    // A hospital may describe its treatments (pre-publication review aside); a machinery ad may not.
    let treat = "本院开展白内障手术治疗。";
    assert!(for_industry("medical").scan(treat).findings.is_empty());
    assert_eq!(
        articles(&checker().scan(treat).findings),
        [Some(17)],
        "{treat}"
    );
    // Travel times and appreciation promises are Art. 26 finds for real estate only.
    let homes = "项目距离地铁站步行10分钟，未来升值空间大。";
    assert_eq!(
        articles(&for_industry("real-estate").scan(homes).findings),
        [Some(26), Some(26)]
    );
    assert!(checker().scan(homes).findings.is_empty());
    // Unambiguous investment promises everywhere; "无风险" only where returns are at stake.
    assert_eq!(
        articles(&checker().scan("加盟奶茶店，稳赚不赔。").findings),
        [Some(25)]
    );
    let trial = "注册即可无风险试用30天。";
    assert!(for_industry("software-saas")
        .scan(trial)
        .findings
        .is_empty());
    assert_eq!(
        articles(
            &for_industry("理财")
                .scan("本产品无风险，年化收益稳定。")
                .findings
        ),
        [Some(25)]
    );
    // Exam-pass guarantees everywhere; pass rates need a person for training providers.
    assert_eq!(
        articles(&checker().scan("专业培训，不过退费！").findings),
        [Some(24)]
    );
    let rate = for_industry("教育培训").scan("往期学员通过率92%。");
    assert_eq!(rate.decision, Decision::NeedsHumanReview);
    // Endorsers: under ten is rejected, others reviewed; ten and over is fine.
    assert_eq!(
        checker().scan("由8岁小代言人倾情演绎。").decision,
        Decision::Rejected
    );
    assert_eq!(
        checker().scan("品牌代言人亲测推荐。").decision,
        Decision::NeedsHumanReview
    );
    let teen = checker().scan("由十九岁代言人演绎。");
    assert!(teen
        .findings
        .iter()
        .all(|f| f.article != Some(38) || f.severity == Severity::Review));
    // Unverifiable statistics and awards go to a person.
    assert_eq!(
        checker().scan("据权威调查，满意度高达98%。").decision,
        Decision::NeedsHumanReview
    );
}

#[test]
fn samr_lawful_uses_are_recorded_on_the_find() {
    let c = checker();
    let cases = [
        ("第一步，填写需求表。", ExemptionKind::TimeSequence),
        (
            "活动最后一天，第一次下单享九折。",
            ExemptionKind::TimeSequence,
        ),
        ("最早可于3月15日发货。", ExemptionKind::TimeSequence),
        ("最大加工尺寸为850mm。", ExemptionKind::ProductParameter),
        (
            "最小间距0.5 mm，最大功率15kW。",
            ExemptionKind::ProductParameter,
        ),
        (
            "这是XK系列中最轻的一款。",
            ExemptionKind::OwnProductComparison,
        ),
        (
            "本店最受欢迎的款式已补货。",
            ExemptionKind::OwnProductComparison,
        ),
        ("我们追求最好的服务。", ExemptionKind::ServiceAttitude),
        ("力争第一，永不止步。", ExemptionKind::ServiceAttitude),
        ("客户第一，诚信经营。", ExemptionKind::ServiceAttitude),
        ("最佳饮用温度为8至10℃。", ExemptionKind::ConsumerTip),
        (
            "公司是国家级高新技术企业。",
            ExemptionKind::OfficialStandard,
        ),
    ];
    for (text, kind) in cases {
        let r = c.scan(text);
        assert_eq!(r.decision, Decision::Approved, "{text}: {:?}", r.findings);
        assert!(
            r.exempted.iter().all(|f| f
                .exemption
                .as_ref()
                .is_some_and(|e| e.kind == kind && !e.note.is_empty())),
            "{text}: {:?}",
            r.exempted
        );
        assert!(!r.exempted.is_empty(), "{text}");
    }
    // The same words as claims are still claims.
    for text in [
        "最大的数控机床品牌。",
        "功率最大，加工最快。",
        "最大功率，远超同类。",
        "我们追求卓越，产品全国第一。",
        "本店是全市最好的。",
        "我们是最好的。",
        "第一名的选择。",
        "国内最早研发五轴机床的企业。",
    ] {
        assert_eq!(c.scan(text).decision, Decision::Rejected, "{text}");
    }
}

// --- tenant lists ---------------------------------------------------------------------------

fn field(e: &marketingforce_content::ContentError) -> String {
    match e {
        marketingforce_content::ContentError::Core(marketingforce_core::Error::Validation {
            field,
            ..
        }) => field.clone(),
        other => panic!("not a validation error: {other:?}"),
    }
}

#[test]
fn a_tenant_list_lowers_a_reject_rule_only_with_a_recorded_reason() {
    let base = Lexicon::builtin();
    let compile = |json: &str| {
        let tenant = Lexicon::from_json(json)?;
        ComplianceChecker::new(&[&base, &tenant], None)
    };
    // Re-filing a Reject term under a milder category.
    let e = compile(
        r#"{"version":1,"name":"t","categories":[{"id":"ok","name":"ok","severity":"warn","law":"house rule","explanation":"-"}],
            "terms":[{"term":"最 好","category":"ok"}]}"#,
    )
    .unwrap_err();
    assert_eq!(field(&e), "layers[1].terms[0].category", "{e}");
    assert!(e.to_string().contains("waiver"), "{e}");
    // Redefining the built-in category with a lower severity.
    let e = compile(
        r#"{"version":1,"name":"t","categories":[{"id":"absolute","name":"x","severity":"review","law":"x","explanation":"x"}]}"#,
    )
    .unwrap_err();
    assert_eq!(field(&e), "layers[1].categories[0]", "{e}");
    // An "exemption" that is the whole term.
    let e = compile(
        r#"{"version":1,"name":"t","exemptions":[{"kind":"trademark","phrases":["全国第一"],"note":"x"}]}"#,
    )
    .unwrap_err();
    assert_eq!(field(&e), "layers[1].exemptions[0].phrases[0]", "{e}");
    // A waiver without a reason is refused when the list is read.
    let e = compile(r#"{"version":1,"name":"t","waivers":[{"term":"最好","reason":"  "}]}"#)
        .unwrap_err();
    assert_eq!(field(&e), "waivers[0].reason", "{e}");
    let e = compile(r#"{"version":1,"name":"t","waivers":[{"term":"没有这个词","reason":"x"}]}"#)
        .unwrap_err();
    assert_eq!(field(&e), "layers[1].waivers[0].term", "{e}");
    // With a reason, the finds are still recorded, as waived, with the reason.
    let c = compile(
        r#"{"version":1,"name":"tenant-acme","waivers":[{"term":"第一","reason":"“第一”是注册商标“第一坊”的字号，见商标注册证第123号"}]}"#,
    )
    .unwrap();
    let r = c.scan("第一坊新品上市");
    assert_eq!(r.decision, Decision::Approved);
    let e = r.exempted[0].exemption.as_ref().unwrap();
    assert_eq!(e.kind, ExemptionKind::TenantWaiver);
    assert!(e.note.contains("商标注册证"));
    assert_eq!(c.waivers()[0].severity, Severity::Reject);
    // Other Reject rules are untouched.
    assert_eq!(c.scan("行业最好").decision, Decision::Rejected);
}

#[tokio::test]
async fn waivers_are_kept_on_the_review_record() {
    use marketingforce_content::compliance::{ContentVersion, ReviewService};
    use std::sync::Arc;
    let clock = Arc::new(
        marketingforce_core::time::ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap(),
    );
    let store = Arc::new(marketingforce_core::storage::MemoryStore::new());
    let service = ReviewService::new(&Env::builder(store).clock(clock).build());
    let t = marketingforce_core::tenant::TenantId::new();
    let bad = Lexicon::from_json(
        r#"{"version":1,"name":"acme","categories":[{"id":"ok","name":"ok","severity":"warn","law":"x","explanation":"x"}],"terms":[{"term":"顶级","category":"ok"}]}"#,
    )
    .unwrap();
    let e = service.set_tenant_lexicon(&t, bad).await.unwrap_err();
    assert_eq!(field(&e), "layers[1].terms[0].category");
    let good = Lexicon::from_json(
        r#"{"version":1,"name":"acme","waivers":[{"term":"顶级","reason":"“顶级”指顶级域名注册服务，法务意见书2026-07"}]}"#,
    )
    .unwrap();
    service.set_tenant_lexicon(&t, good).await.unwrap();
    let v = ContentVersion {
        content_id: "c".into(),
        version: 1,
        industry: Some("企业软件".into()),
        title: "顶级服务".into(),
        body: "注册即送邮箱。".into(),
    };
    let r = service
        .review(&t, &v, &IdempotencyKey::from_static("k"))
        .await
        .unwrap();
    assert_eq!(r.decision, Decision::Approved);
    assert_eq!(r.industry.as_deref(), Some("software-saas"));
    assert_eq!(r.waivers.len(), 1);
    assert!(r.explain().contains("法务意见书"), "{}", r.explain());
    assert!(r.exempted[0]
        .exemption
        .as_ref()
        .unwrap()
        .note
        .contains("法务意见书"));
}

#[test]
fn invalid_lexicon_data_is_refused_with_its_json_path() {
    for (json, path) in [
        (
            r#"{"version":1,"name":"t","categories":[{"id":"x","name":"x","severity":"fatal","law":"x","explanation":"x"}]}"#,
            "categories[0].severity",
        ),
        (
            r#"{"version":1,"name":"t","terms":[{"term":"x"}]}"#,
            "terms[0].category",
        ),
        (
            r#"{"version":1,"name":"t","terms":[{"term":"x","category":"a","colour":"red"}]}"#,
            "terms[0].colour",
        ),
        (
            r#"{"version":1,"name":"t","exemptions":[{"kind":"time_sequence","terms":["第一"],"followed_by":["步"],"within":40}]}"#,
            "exemptions[0].within",
        ),
        (
            r#"{"version":1,"name":"t","exemptions":[{"kind":"tenant_waiver","phrases":["x"]}]}"#,
            "exemptions[0].kind",
        ),
        (
            r#"{"version":1,"name":"t","waivers":[{"term":"x","category":"y","reason":"r"}]}"#,
            "waivers[0]",
        ),
        (
            r#"{"version":1,"name":"t","families":[{"category":"a","prefixes":["x"],"stems":[]}]}"#,
            "families[0]",
        ),
        (r#"{"version":2,"name":"t"}"#, "version"),
    ] {
        let e = Lexicon::from_json(json).unwrap_err();
        assert_eq!(field(&e), path, "{json}: {e}");
    }
    // Cross-list references are checked when lists are combined.
    let base = Lexicon::builtin();
    let t = Lexicon::from_json(
        r#"{"version":1,"name":"t","exemptions":[{"kind":"trademark","categories":["nope"],"phrases":["x"]}]}"#,
    )
    .unwrap();
    let e = ComplianceChecker::new(&[&base, &t], None).unwrap_err();
    assert_eq!(field(&e), "layers[1].exemptions[0].categories[0]");
}

// --- huge texts -----------------------------------------------------------------------------

/// A reader that produces `total` bytes of marketing text with a planted term every `every`
/// sentences, never holding more than one sentence.
struct Generated {
    total: usize,
    every: usize,
    produced: usize,
    sentence: usize,
    pending: Vec<u8>,
    planted: Vec<(usize, &'static str)>,
}

const PLANTS: [&str; 4] = ["最 好", "全国Ｎ Ｏ．１", "稳赚不赔", "安全无副作用"];

impl Generated {
    fn new(total: usize, every: usize) -> Generated {
        Generated {
            total,
            every,
            produced: 0,
            sentence: 0,
            pending: Vec::new(),
            planted: Vec::new(),
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            if self.produced >= self.total {
                return Ok(0);
            }
            let mut s = CLEAN_CORPUS[self.sentence % CLEAN_CORPUS.len()].to_string();
            if self.sentence % self.every == self.every - 1 {
                let term = PLANTS[(self.sentence / self.every) % PLANTS.len()];
                self.planted.push((self.produced + s.len(), term));
                s.push_str(term);
                s.push('。');
            }
            self.sentence += 1;
            self.pending = s.into_bytes();
        }
        // Hand out awkward pieces, splitting characters across reads.
        let n = buf.len().min(self.pending.len()).min(977);
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        self.produced += n;
        Ok(n)
    }
}

#[test]
fn huge_texts_are_scanned_in_bounded_memory() {
    let c = checker();
    let mut reader = Generated::new(50 << 20, 500);
    let mut found: Vec<(usize, usize)> = Vec::new();
    let summary = c
        .scan_reader(&mut reader, |f| {
            if f.exemption.is_none() {
                found.push((f.byte_start, f.byte_end));
            }
        })
        .unwrap();
    assert!(summary.bytes >= 50 << 20);
    assert_eq!(summary.decision, Decision::Rejected);
    let planted: Vec<(usize, usize)> = reader
        .planted
        .iter()
        .map(|&(at, t)| (at, at + t.len()))
        .collect();
    assert!(planted.len() > 1000);
    assert_eq!(found, planted);
    // One chunk plus the overlap and the context kept, whatever the length.
    assert!(
        summary.peak_buffer_bytes <= (1 << 20) + (80 << 10),
        "{}",
        summary.peak_buffer_bytes
    );
}

#[test]
fn streamed_scans_agree_with_whole_text_scans() {
    let c = ComplianceChecker::new(&[&Lexicon::builtin()], Some("real-estate")).unwrap();
    let mut text = String::new();
    let snippets = [
        "第一步，预约看房。",
        "最大加工尺寸为850mm。",
        "距地铁5分钟直达，",
        "追求最好的服务。",
        "全国\u{200B}第\u{3000}一",
        "ＮＯ．１",
        "稳赚不赔！",
        "English copy with number one and world-class service. ",
    ];
    for i in 0..4000 {
        text.push_str(CLEAN_CORPUS[i % CLEAN_CORPUS.len()]);
        text.push_str(snippets[(i * 7) % snippets.len()]);
    }
    let whole = c.scan(&text);
    for chunk in [1024, 1500, 4096, 65536] {
        let mut all = Vec::new();
        let s = c
            .scan_reader_chunked(text.as_bytes(), chunk, |f| all.push(f))
            .unwrap();
        let (counted, exempted): (Vec<Finding>, Vec<Finding>) =
            all.into_iter().partition(|f| f.exemption.is_none());
        assert_eq!(counted, whole.findings, "chunk {chunk}");
        assert_eq!(exempted, whole.exempted, "chunk {chunk}");
        assert_eq!(s.decision, whole.decision);
        assert_eq!(s.chars as usize, text.chars().count());
    }
}

#[test]
fn invalid_utf8_in_a_stream_is_refused_with_its_offset() {
    let mut bytes = "合法文本".repeat(1000).into_bytes();
    bytes.extend_from_slice(&[0xE4, 0x28, 0xA1]);
    let e = checker()
        .scan_reader_chunked(bytes.as_slice(), 1024, |_| {})
        .unwrap_err();
    assert_eq!(field(&e), "text");
    assert!(e.to_string().contains("12000"), "{e}");
}

#[test]
fn an_oversized_stream_chunk_is_refused_naming_it() {
    for chunk in [usize::MAX, usize::MAX / 2, isize::MAX as usize] {
        let e = checker()
            .scan_reader_chunked("最好的机床".as_bytes(), chunk, |_| {})
            .unwrap_err();
        assert_eq!(field(&e), "chunk_bytes", "{e}");
    }
}

// --- generated content ----------------------------------------------------------------------

#[test]
fn offline_articles_pass_review_in_every_template_industry() {
    use marketingforce_content::text::OfflineTextGenerator;
    use marketingforce_core::adapters::generation::{Materials, ProductSpec, TextRequest};
    let base = Lexicon::builtin();
    let generator = OfflineTextGenerator::new();
    for industry in [
        "industrial-machinery",
        "chemicals",
        "software-saas",
        "building-materials",
        "education",
        "consumer-goods",
    ] {
        let c = ComplianceChecker::new(&[&base], Some(industry)).unwrap();
        for seed in 0..30 {
            let req = TextRequest::new(industry, "选购指南")
                .keywords(["解决方案", "选型"])
                .materials(Materials {
                    product_name: Some("XK-850".into()),
                    product_specs: vec![ProductSpec {
                        name: "额定功率".into(),
                        value: "15 kW".into(),
                    }],
                    use_cases: vec!["车间改造".into()],
                    highlights: vec!["交付周期短".into()],
                    regions: vec!["江苏".into()],
                    ..Materials::default()
                })
                .seed(seed);
            let a = generator.generate_article(&req).unwrap();
            let r = c.scan(&format!("{}\n{}", a.title, a.body_markdown));
            assert_eq!(
                r.decision,
                Decision::Approved,
                "{industry} seed {seed}: {:?}",
                r.findings
            );
        }
    }
}

// --- the labelled corpus --------------------------------------------------------------------

#[test]
fn labelled_corpus_meets_its_precision_and_recall_floors() {
    let corpus = EvalCorpus::from_json(include_str!("data/compliance-eval.json")).unwrap();
    assert!(corpus.cases.len() >= 300, "{}", corpus.cases.len());
    let e = evaluate(&[&Lexicon::builtin()], &corpus.cases).unwrap();
    println!("{}", e.table());
    for m in &e.misses {
        println!(
            "miss #{}: {} — expected {:?}, got {:?} {:?} {:?}",
            m.case, m.text, m.expected, m.actual, m.terms, m.exemption_missing
        );
    }
    let overall = e.overall();
    assert!(overall.precision() >= 0.95, "{}", e.table());
    assert!(overall.recall() >= 0.95, "{}", e.table());
    assert!(e.decision_accuracy() >= 0.95, "{}", e.table());
    assert!(e.exemption_accuracy() >= 0.95, "{}", e.table());
    for a in &e.articles {
        if a.true_positives + a.false_negatives >= 5 {
            assert!(a.recall() >= 0.85, "Art. {}: {}", a.article, e.table());
            assert!(a.precision() >= 0.85, "Art. {}: {}", a.article, e.table());
        }
    }
}

#[test]
fn a_bad_corpus_is_refused_with_its_json_path() {
    let e = EvalCorpus::from_json(
        r#"{"version":1,"cases":[{"text":"x","decision":"approved"},{"text":"y","decision":"maybe"}]}"#,
    )
    .unwrap_err();
    assert_eq!(field(&e), "cases[1].decision");
    let e = EvalCorpus::from_json(r#"{"version":1,"cases":[{"text":"x","decision":"rejected"}]}"#)
        .unwrap_err();
    assert_eq!(field(&e), "cases[0].articles");
}

/// Sentences written after the rules, to see how a word list generalises to copy it was not
/// written for. Each set was written before it was first run:
///
/// | set | first run (precision / recall / decisions) | since |
/// |---|---|---|
/// | `holdout` | 1.000 / 0.553 / 61 of 80 | used to improve the rules |
/// | `holdout2` | 0.850 / 0.405 / 40 of 69 | used to improve the rules |
/// | `holdout3` | 0.929 / 0.302 / 40 of 71 | **not tuned against**: its floors are its first run |
///
/// `holdout3` is the honest estimate for unseen copy: precise, but most paraphrased claims
/// ("彻底告别鼻炎", "专治老寒腿") are not in any list. Keep it untuned; write a new set to
/// measure again after improving the rules.
#[test]
fn held_out_corpora_generalise() {
    for (name, json, decisions, recall, precision) in [
        (
            "holdout",
            include_str!("data/compliance-eval-holdout.json"),
            0.95,
            0.95,
            0.95,
        ),
        (
            "holdout2",
            include_str!("data/compliance-eval-holdout2.json"),
            0.95,
            0.95,
            0.95,
        ),
        (
            "holdout3",
            include_str!("data/compliance-eval-holdout3.json"),
            0.56,
            0.30,
            0.92,
        ),
    ] {
        let corpus = EvalCorpus::from_json(json).unwrap();
        let e = evaluate(&[&Lexicon::builtin()], &corpus.cases).unwrap();
        println!("== {name}\n{}", e.table());
        for m in &e.misses {
            println!(
                "miss #{}: {} — expected {:?}, got {:?} {:?} {:?}",
                m.case, m.text, m.expected, m.actual, m.terms, m.exemption_missing
            );
        }
        assert!(e.decision_accuracy() >= decisions, "{name}: {}", e.table());
        assert!(e.overall().recall() >= recall, "{name}: {}", e.table());
        assert!(
            e.overall().precision() >= precision,
            "{name}: {}",
            e.table()
        );
    }
}
